#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# libxlsnap for other toolstacks: exported symbols, documented header,
# and examples/list-snapshots.c built against the INSTALLED library
# through its pkg-config file.
load ../bats/helpers

HDR=$REPO/libxlsnap/libxlsnap.h

# Functions declared in the public header.
header_functions() {
    grep -v '^typedef' "$HDR" | grep -oE '\bxlsnap_[a-z0-9_]+\(' |
        tr -d '(' | sort -u
}

@test "the shared library exports exactly the functions of libxlsnap.h" {
    run -0 nm -D --defined-only "$REPO/build/libxlsnap.so.0"
    local exported
    exported=$(awk '$3 != "" && $3 !~ /^LIBXLSNAP_/ { sub(/@.*/, "", $3); print $3 }' <<< "$output" | sort -u)
    [ -n "$exported" ]
    if grep -n 'xlsnap__' <<< "$exported"; then
        fail "internal xlsnap__ symbols are exported"
    fi
    local extra
    extra=$(comm -23 <(echo "$exported") <(header_functions))
    [ -z "$extra" ] || fail "exported but not declared in libxlsnap.h: $extra"
    local missing
    missing=$(comm -13 <(echo "$exported") <(header_functions))
    [ -z "$missing" ] || fail "declared in libxlsnap.h but not exported: $missing"
}

@test "every function of libxlsnap.h has a comment above its declaration" {
    # a declaration (or a group of them) must follow a comment line
    run -0 awk '
        /^[a-z].*xlsnap_[a-z0-9_]+\(/ {
            if (prev !~ /\*\/$/ && !grouped) { print FILENAME ":" NR ": " $0; bad = 1 }
            grouped = 1; next
        }
        /^ / && grouped { next }            # continuation lines
        { grouped = 0 }
        NF { prev = $0 }
        END { exit bad }' "$HDR"
}

@test "examples/list-snapshots.c builds against the installed library (pkg-config)" {
    local root=$BATS_TEST_TMPDIR/root
    run -0 make -C "$REPO" install DESTDIR="$root" PREFIX=/usr
    [ -f "$root/usr/lib/pkgconfig/libxlsnap.pc" ]
    [ -f "$root/usr/include/libxlsnap.h" ]
    export PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_PATH=$root/usr/lib/pkgconfig
    run -0 pkg-config --modversion libxlsnap
    assert_output "$(sed -n 's/^VERSION *:= *//p' "$REPO/Makefile")"
    run -0 pkg-config --cflags --libs libxlsnap
    assert_output --partial "-I$root/usr/include"
    assert_output --partial "-L$root/usr/lib -lxlsnap"
    # only the installed tree: the source dirs are not on the path
    cp "$REPO/examples/list-snapshots.c" "$BATS_TEST_TMPDIR/"
    cd "$BATS_TEST_TMPDIR"
    # shellcheck disable=SC2046
    run -0 cc -Wall -Wextra -Werror -o list-snapshots list-snapshots.c \
        $(pkg-config --cflags --libs libxlsnap)
    export LD_LIBRARY_PATH=$root/usr/lib
    run -0 ldd ./list-snapshots
    assert_output --regexp "libxlsnap\.so\.0 => $root/usr/lib/libxlsnap\.so\.0"

    mkchain
    run -0 ./list-snapshots -S "$STATE" g1
    assert_output "domain g1 $UUID
s0 parent=- state=ready type=mixed
s1 (current) parent=s0 state=ready type=mixed
s2 parent=s1 state=ready type=mixed"
    run -1 ./list-snapshots -S "$STATE" nosuchdomain
    assert_output --partial "no domain 'nosuchdomain'"
}

@test "make install installs completion, man pages, units and the nightly script" {
    local root=$BATS_TEST_TMPDIR/root2
    run -0 make -C "$REPO" install DESTDIR="$root" PREFIX=/usr
    for f in usr/sbin/xl-snapshot usr/share/bash-completion/completions/xl-snapshot \
             usr/share/man/man1/xl-snapshot.1 usr/share/man/man5/xl-snapshot.conf.5 \
             usr/lib/xl-snapshot/xl-snapshot-nightly etc/default/xl-snapshot-nightly \
             usr/lib/systemd/system/xl-snapshot-nightly.service \
             usr/lib/systemd/system/xl-snapshot-nightly.timer \
             usr/lib/libxlsnap.so.0 usr/lib/pkgconfig/libxlsnap.pc; do
        [ -e "$root/$f" ] || fail "make install did not install /$f"
    done
    run -0 grep '^ExecStart=' "$root/usr/lib/systemd/system/xl-snapshot-nightly.service"
    assert_output "ExecStart=/usr/lib/xl-snapshot/xl-snapshot-nightly"
    run -0 make -C "$REPO" install DESTDIR="$root" PREFIX=/opt/xs
    run -0 grep '^ExecStart=' "$root/opt/xs/lib/systemd/system/xl-snapshot-nightly.service"
    assert_output "ExecStart=/opt/xs/lib/xl-snapshot/xl-snapshot-nightly"
}

@test "systemd units pass systemd-analyze verify (when available)" {
    command -v systemd-analyze >/dev/null || skip "no systemd-analyze"
    cd "$REPO/configs"
    # the script is not installed on the host: only that may be said
    run systemd-analyze verify --man=no xl-snapshot-nightly.timer \
        xl-snapshot-nightly.service
    run grep -v 'xl-snapshot-nightly is not executable' <<< "$output"
    assert_output ""
}
