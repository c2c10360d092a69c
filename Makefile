# SPDX-License-Identifier: GPL-2.0-only
# xl-snapshot: plain GNU make.
#   make            build/xl-snapshot, build/libxlsnap.{a,so}
#   make check      install test deps, run unit + bats + sanitizer + e2e
#                   (e2e: every file on Xen 4.17, then the core set on Xen
#                   4.20 in the same two VMs; E2E_XEN_ALSO= for 4.17 only)
#   make demo       install deps, boot Xen in QEMU, show xl-snapshot at work
#   make bench      performance numbers (host + real Xen in QEMU), bench/
#   make install    DESTDIR/PREFIX honoured
#   make trixie-check  the Debian packages built and checked in a Debian 13
#                   chroot (Xen 4.20): tests/deb/trixie-build.sh, not in check
#   make e2e-4.20   the core e2e files on Xen 4.20 + a Debian 13 dom0, the
#                   tool built in a Debian 13 chroot (E2E_XEN=4.20
#                   tests/e2e/run.sh $(E2E_FILES_4_20)), alone
#   CLI_LINK=shared the CLI linked against libxlsnap.so.0 (the .deb does)

VERSION    := 0.1.0
SOVERSION  := 0
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
LIBEXECDIR ?= $(PREFIX)/lib/xl-snapshot
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
DESTDIR    ?=

BUILD      ?= build
ifeq ($(V),1)
Q :=
else
Q := @
MAKEFLAGS += --no-print-directory
endif
XEN_PKGS   := xenlight xlutil xentoollog xenstore yajl libzstd nettle
PKG_CFLAGS := $(shell pkg-config --cflags $(XEN_PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(XEN_PKGS) 2>/dev/null) -pthread

# The libxenlight compiled against, for xlsnap_libxl_built_version().
XENLIGHT_VERSION := $(or $(shell pkg-config --modversion xenlight 2>/dev/null),unknown)

CPPFLAGS   += -DLIBXL_API_VERSION=0x041400 -DHAVE_YAJL_YAJL_VERSION_H \
              -D_GNU_SOURCE -Ilibxlsnap \
              -DXLSNAP_XENLIGHT_BUILD_VERSION='"$(XENLIGHT_VERSION)"'
CFLAGS     ?= -O2 -g
CFLAGS     += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 \
              -Wstrict-prototypes -Wmissing-prototypes -fPIC \
              -fno-strict-aliasing $(PKG_CFLAGS)
ifeq ($(SAN),1)
CFLAGS     += -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=undefined
LDFLAGS    += -fsanitize=address,undefined
endif

# make fuzz: libFuzzer targets tests/fuzz/<target>.c in $(FUZZ_BUILD)/fuzz/,
# the library built by clang with coverage, ASan and UBSan.  Adding a
# target is adding its name here (tests/fuzz/README.md).
FUZZ_TARGETS := fuzz_config fuzz_record fuzz_manifest fuzz_thin_delta
FUZZ_BUILD   := build-fuzz
FUZZ_CC      ?= clang
ifeq ($(FUZZ),1)
CFLAGS     += -fsanitize=fuzzer-no-link,address,undefined \
              -fno-sanitize-recover=undefined -fno-omit-frame-pointer
endif

LIB_SRCS := $(wildcard libxlsnap/*/*.c)
CLI_SRCS := $(wildcard xl-snapshot/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

STATIC_LIB := $(BUILD)/libxlsnap.a
SHARED_LIB := $(BUILD)/libxlsnap.so.$(VERSION)

.PHONY: all check demo bench install clean unit deps fuzz trixie-check e2e-4.20
all: $(BUILD)/xl-snapshot $(STATIC_LIB) $(SHARED_LIB) $(UNIT_BINS)

$(BUILD)/obj/%.o: %.c libxlsnap/libxlsnap.h libxlsnap/internal.h \
              xl-snapshot/xl-snapshot.h \
              libxlsnap/model/record_fields.h libxlsnap/model/fields.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

# every header an object includes (backend/disk.h, bundle/delta.h, ...):
# a changed header rebuilds what uses it
-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d)

$(STATIC_LIB): $(LIB_OBJS)
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(SHARED_LIB): $(LIB_OBJS) libxlsnap/libxlsnap.map
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-soname,libxlsnap.so.$(SOVERSION) \
	    -Wl,--version-script=libxlsnap/libxlsnap.map -Wl,--no-undefined \
	    -o $@ $(LIB_OBJS) $(PKG_LIBS)
	$(Q)ln -sf libxlsnap.so.$(VERSION) $(BUILD)/libxlsnap.so.$(SOVERSION)
	$(Q)ln -sf libxlsnap.so.$(SOVERSION) $(BUILD)/libxlsnap.so

# CLI_LINK=static (the default): the CLI holds its own copy of
# libxlsnap, one binary to copy into dom0.  CLI_LINK=shared (the Debian
# package): it needs libxlsnap.so.0 and only the libraries it calls
# itself; the rest come with libxlsnap.
CLI_LINK   ?= static
CLI_LIBS   := $(shell pkg-config --libs xentoollog 2>/dev/null)
ifeq ($(CLI_LINK),shared)
$(BUILD)/xl-snapshot: $(CLI_OBJS) $(SHARED_LIB)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) -L$(BUILD) -lxlsnap $(CLI_LIBS)
else ifeq ($(CLI_LINK),static)
$(BUILD)/xl-snapshot: $(CLI_OBJS) $(STATIC_LIB)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(STATIC_LIB) $(PKG_LIBS)
else
$(error CLI_LINK must be static or shared, not '$(CLI_LINK)')
endif

$(BUILD)/tests/%: tests/unit/%.c tests/unit/tap.h $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< \
	    $(STATIC_LIB) $(PKG_LIBS)

# test_nomem makes the library's own allocations fail (tests/unit/
# test_nomem.c): its calls, not those inside libc or yajl, are wrapped
NOMEM_WRAP := malloc calloc realloc strdup strndup vasprintf yajl_gen_alloc
$(BUILD)/tests/test_nomem: LDFLAGS += $(NOMEM_WRAP:%=-Wl,--wrap=%)

unit: $(UNIT_BINS)

fuzz:
	$(Q)$(MAKE) BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) FUZZ=1 \
	    $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz/%)

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(STATIC_LIB) $(PKG_LIBS)

deps:
	tests/install-deps.sh

check:
	tests/run-all.sh

demo:
	tests/install-deps.sh
	$(MAKE) all
	tests/e2e/demo.sh

bench:
	bench/run.sh

trixie-check:
	tests/deb/trixie-build.sh

# The e2e files that run on both hypervisors (Xen 4.17 and 4.20).
E2E_FILES_4_20 ?= $(addprefix tests/e2e/,05-deb.bats 20-list-info.bats \
    30-create-revert.bats 40-external.bats 50-pvh.bats 52-hvm.bats \
    70-export.bats)

e2e-4.20:
	E2E_XEN=4.20 tests/e2e/run.sh $(E2E_FILES_4_20)

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR) \
	    $(DESTDIR)$(INCLUDEDIR)
	install -m 0755 $(BUILD)/xl-snapshot $(DESTDIR)$(SBINDIR)/xl-snapshot
	install -m 0644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/libxlsnap.a
	install -m 0755 $(SHARED_LIB) $(DESTDIR)$(LIBDIR)/
	ln -sf libxlsnap.so.$(VERSION) \
	    $(DESTDIR)$(LIBDIR)/libxlsnap.so.$(SOVERSION)
	ln -sf libxlsnap.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libxlsnap.so
	install -m 0644 libxlsnap/libxlsnap.h $(DESTDIR)$(INCLUDEDIR)/
	install -d $(DESTDIR)$(PKGCONFIGDIR)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    libxlsnap/libxlsnap.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/libxlsnap.pc
	$(MAKE) -C man install DESTDIR=$(DESTDIR) MANDIR=$(MANDIR) \
	    VERSION=$(VERSION)
	install -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(LIBEXECDIR) \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/default
	install -m 0644 completion/xl-snapshot.bash \
	    $(DESTDIR)$(BASHCOMPDIR)/xl-snapshot
	install -m 0755 configs/xl-snapshot-nightly $(DESTDIR)$(LIBEXECDIR)/
	for u in service timer; do \
	    sed 's|/usr/lib/xl-snapshot/|$(LIBEXECDIR)/|' \
	        configs/xl-snapshot-nightly.$$u \
	        > $(DESTDIR)$(UNITDIR)/xl-snapshot-nightly.$$u || exit 1; \
	done
	install -m 0644 configs/xl-snapshot-nightly.default \
	    $(DESTDIR)$(SYSCONFDIR)/default/xl-snapshot-nightly

clean:
	rm -rf build build-san $(FUZZ_BUILD)
