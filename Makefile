# xl-snapshot: plain GNU make.
#   make            build/xl-snapshot, build/libxlsnap.{a,so}
#   make check      install test deps, run unit + bats + sanitizer + e2e
#   make demo       install deps, boot Xen in QEMU, show xl-snapshot at work
#   make bench      performance numbers (host + real Xen in QEMU), bench/
#   make install    DESTDIR/PREFIX honoured

VERSION    := 0.1.0
SOVERSION  := 0
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
DESTDIR    ?=

BUILD      ?= build
ifeq ($(V),1)
Q :=
else
Q := @
MAKEFLAGS += --no-print-directory
endif
XEN_PKGS   := xenlight xlutil xentoollog xenstore yajl libzstd
PKG_CFLAGS := $(shell pkg-config --cflags $(XEN_PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(XEN_PKGS) 2>/dev/null) -pthread

CPPFLAGS   += -DLIBXL_API_VERSION=0x041400 -DHAVE_YAJL_YAJL_VERSION_H \
              -D_GNU_SOURCE -Ilibxlsnap
CFLAGS     ?= -O2 -g
CFLAGS     += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 \
              -Wstrict-prototypes -Wmissing-prototypes -fPIC \
              -fno-strict-aliasing $(PKG_CFLAGS)
ifeq ($(SAN),1)
CFLAGS     += -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=undefined
LDFLAGS    += -fsanitize=address,undefined
endif

LIB_SRCS := $(wildcard libxlsnap/*.c)
CLI_SRCS := $(wildcard xl-snapshot/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

STATIC_LIB := $(BUILD)/libxlsnap.a
SHARED_LIB := $(BUILD)/libxlsnap.so.$(VERSION)

.PHONY: all check demo bench install clean unit deps
all: $(BUILD)/xl-snapshot $(STATIC_LIB) $(SHARED_LIB) $(UNIT_BINS)

$(BUILD)/obj/%.o: %.c libxlsnap/libxlsnap.h libxlsnap/internal.h \
              xl-snapshot/xl-snapshot.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(STATIC_LIB): $(LIB_OBJS)
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(SHARED_LIB): $(LIB_OBJS) libxlsnap/libxlsnap.map
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-soname,libxlsnap.so.$(SOVERSION) \
	    -Wl,--version-script=libxlsnap/libxlsnap.map -Wl,--no-undefined \
	    -o $@ $(LIB_OBJS) $(PKG_LIBS)
	$(Q)ln -sf libxlsnap.so.$(VERSION) $(BUILD)/libxlsnap.so.$(SOVERSION)
	$(Q)ln -sf libxlsnap.so.$(SOVERSION) $(BUILD)/libxlsnap.so

# The CLI links libxlsnap statically: one binary to copy into dom0.
$(BUILD)/xl-snapshot: $(CLI_OBJS) $(STATIC_LIB)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(STATIC_LIB) $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/tap.h $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< \
	    $(STATIC_LIB) $(PKG_LIBS)

unit: $(UNIT_BINS)

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
	$(MAKE) -C man install DESTDIR=$(DESTDIR) MANDIR=$(MANDIR) \
	    VERSION=$(VERSION)

clean:
	rm -rf build build-san
