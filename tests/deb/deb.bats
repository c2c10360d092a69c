#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Debian packaging (debian/): dpkg-buildpackage -us -uc -b in a copy of
# the tree under build/deb (the worktree is never touched), lintian
# clean, and the packages hold what they should.  Runs on the release
# it builds for: Debian 12 (Xen 4.17) here and in CI, Debian 13 (Xen
# 4.20) through tests/deb/trixie-build.sh.
load ../bats/helpers

setup_file() {
    local repo=$BATS_TEST_DIRNAME/../..
    export DEB_DIR=$repo/build/deb
    export STATUS_BEFORE_FILE=$BATS_FILE_TMPDIR/status
    git -C "$repo" status --porcelain > "$STATUS_BEFORE_FILE"
    local t0=$SECONDS rc=0
    "$BATS_TEST_DIRNAME/build.sh" "$DEB_DIR" 2>/dev/null || rc=$?
    echo "$rc $((SECONDS - t0))" > "$DEB_DIR/build.status"
}

deb() { echo "${2:-$DEB_DIR}/$1_0.1.0_$(dpkg --print-architecture).deb"; }

# 4.17 / 4.20: the Xen whose libxenlight the packages are built against
xen_majmin() { pkg-config --modversion xenlight | cut -d. -f1,2; }

# systemd's unit dir on this release, without the leading /
unitdir() { pkg-config --variable=systemdsystemunitdir systemd | sed 's|^/||'; }

@test "dpkg-buildpackage -us -uc -b builds xl-snapshot, libxlsnap0, libxlsnap-dev" {
    read -r rc secs < "$DEB_DIR/build.status"
    [ "$rc" = 0 ] || { tail -n 40 "$DEB_DIR/build.log"; fail "dpkg-buildpackage failed"; }
    echo "# built in ${secs}s" >&3
    for p in xl-snapshot libxlsnap0 libxlsnap-dev; do
        [ -f "$(deb $p)" ] || fail "no $(deb $p)"
        echo "# $p: $(stat -c %s "$(deb $p)") bytes" >&3
    done
}

@test "the unit tests ran in the package build" {
    run -0 grep -c '^ok ' "$DEB_DIR/build.log"
    [ "$output" -gt 0 ]
    run grep '^not ok ' "$DEB_DIR/build.log"
    assert_output ""
}

@test "every C file was compiled with -Werror and Debian's hardening flags, warning-free" {
    # debian/rules builds with V=1: the compiler command lines are logged
    local n
    n=$(grep -cE '^[a-z0-9_-]*(cc|gcc) .* -c -o build/obj/.*\.o ' "$DEB_DIR/build.log" || true)
    [ "$n" -eq "$(ls "$REPO"/libxlsnap/*/*.c "$REPO"/xl-snapshot/*.c | wc -l)" ] ||
        fail "$n compiler lines for objects in the build log (no V=1?)"
    run grep -E '^[a-z0-9_-]*(cc|gcc) .* -c -o build/obj/' "$DEB_DIR/build.log"
    for flag in '-Werror ' '-Wall ' '-Wextra ' '-fstack-protector-strong ' -D_FORTIFY_SOURCE=; do
        [ "$(grep -cF -- " $flag" <<< "$output")" -eq "$n" ] ||
            fail "not every object was compiled with $flag"
    done
    run grep -E '(^|: )warning:' "$DEB_DIR/build.log"
    assert_output ""
}

@test "lintian -I --pedantic reports nothing (overrides justified in debian/)" {
    run lintian -I --pedantic "$DEB_DIR"/xl-snapshot_0.1.0_*.changes
    echo "$output"
    run grep -E '^[EWIPXCO]: ' <<< "$output"
    assert_output ""
    # every override says why
    for f in "$REPO"/debian/*lintian-overrides; do
        [ -e "$f" ] || continue
        run awk '/^#/ { c = 1; next } /^[a-z]/ && !c { print FILENAME ": " $0 } /^$/ { c = 0 }' "$f"
        assert_output ""
    done
}

@test "xl-snapshot holds the tool, man pages, completion and nightly units" {
    run -0 dpkg-deb -c "$(deb xl-snapshot)"
    for f in ./usr/sbin/xl-snapshot ./usr/share/man/man1/xl-snapshot.1.gz \
             ./usr/share/man/man5/xl-snapshot.conf.5.gz \
             ./usr/share/bash-completion/completions/xl-snapshot \
             ./usr/lib/xl-snapshot/xl-snapshot-nightly \
             "./$(unitdir)/xl-snapshot-nightly.service" \
             "./$(unitdir)/xl-snapshot-nightly.timer" \
             ./etc/default/xl-snapshot-nightly; do
        assert_output --partial " $f"
    done
    run -0 bash -c "dpkg-deb --ctrl-tarfile '$(deb xl-snapshot)' | tar -xOf - ./conffiles"
    assert_output "/etc/default/xl-snapshot-nightly"
}

@test "the nightly units are in systemd's unit dir of the release (/usr/lib/systemd/system from Debian 13)" {
    local want=usr/lib/systemd/system
    [ "$(. /etc/os-release && echo "$VERSION_ID")" != 12 ] || want=lib/systemd/system
    [ "$(unitdir)" = "$want" ] || fail "pkg-config says $(unitdir), expected $want"
    run -0 dpkg-deb -c "$(deb xl-snapshot)"
    assert_output --regexp " \./$want/xl-snapshot-nightly\.timer"
    # nothing under the other one
    run bash -c "dpkg-deb -c '$(deb xl-snapshot)' | awk '{ print \$6 }' |
                    grep /systemd/system/ | grep -v '^\./$want/'"
    assert_output ""
}

@test "xl-snapshot depends on xen-utils of the Xen it was built against (4.17 on Debian 12, 4.20 on 13)" {
    local v
    v=$(xen_majmin)
    case $(. /etc/os-release && echo "$VERSION_ID") in
    12) [ "$v" = 4.17 ] || fail "Debian 12 has Xen 4.17, pkg-config says $v" ;;
    13) [ "$v" = 4.20 ] || fail "Debian 13 has Xen 4.20, pkg-config says $v" ;;
    esac
    run -0 dpkg-deb -f "$(deb xl-snapshot)" Depends
    echo "$output"
    assert_output --regexp "(^|, )xen-utils-${v//./\\.}(,|$)"
    run -0 grep -oE 'xen-utils-[0-9.]+' <<< "$output"
    assert_output "xen-utils-$v"                     # and no other
    run -0 dpkg-deb -f "$(deb xl-snapshot)" Depends
    assert_output --partial "qemu-utils"
    run -0 dpkg-deb -f "$(deb libxlsnap0)" Depends
    assert_output --partial "libxenmisc$v"           # from ${shlibs:Depends}
}

@test "xl-snapshot suggests the LVM tools its lvm driver runs (lvm2, thin-provisioning-tools)" {
    run -0 dpkg-deb -f "$(deb xl-snapshot)" Suggests
    assert_output "lvm2, thin-provisioning-tools"
}

@test "xl-snapshot is linked against libxlsnap.so.0, not a static copy" {
    local x=$BATS_TEST_TMPDIR/x
    run -0 dpkg-deb -x "$(deb xl-snapshot)" "$x"
    run -0 readelf -d "$x/usr/sbin/xl-snapshot"
    assert_output --partial "Shared library: [libxlsnap.so.0]"
    # no libxlsnap code of its own (the library's functions are not in it)
    run -0 nm -D --defined-only "$x/usr/sbin/xl-snapshot"
    refute_output --partial "xlsnap_"
    run -0 dpkg-deb -f "$(deb xl-snapshot)" Depends
    assert_output --regexp "(^|, )libxlsnap0 \(>= 0\.1\.0\)"
}

@test "libxlsnap0 holds the shared library, its shlibs and symbols; -dev the rest" {
    run -0 dpkg-deb -c "$(deb libxlsnap0)"
    assert_output --regexp "/libxlsnap\.so\.0\.1\.0"
    assert_output --regexp "/libxlsnap\.so\.0 -> libxlsnap\.so\.0\.1\.0"
    run -0 bash -c "dpkg-deb --ctrl-tarfile '$(deb libxlsnap0)' | tar -xOf - ./shlibs"
    assert_output --partial "libxlsnap 0 libxlsnap0"
    run -0 bash -c "dpkg-deb --ctrl-tarfile '$(deb libxlsnap0)' | tar -xOf - ./symbols"
    assert_line --index 0 "libxlsnap.so.0 libxlsnap0 #MINVER#"
    assert_line --index 1 "* Build-Depends-Package: libxlsnap-dev"
    run -0 dpkg-deb -c "$(deb libxlsnap-dev)"
    for f in ./usr/include/libxlsnap.h /libxlsnap.a /pkgconfig/libxlsnap.pc \
             "/libxlsnap.so -> libxlsnap.so.0" examples/list-snapshots.c; do
        assert_output --partial "$f"
    done
}

@test "debian/libxlsnap0.symbols lists exactly the functions of libxlsnap.h" {
    local sym=$REPO/debian/libxlsnap0.symbols listed declared
    [ -f "$sym" ] || fail "no $sym (tests/deb/update-symbols.sh makes it)"
    listed=$(awk '$1 ~ /@LIBXLSNAP_0$/ && $1 !~ /^LIBXLSNAP_/ { sub(/@.*/, "", $1); print $1 }' "$sym" | LC_ALL=C sort)
    declared=$(grep -v '^typedef' "$REPO/libxlsnap/libxlsnap.h" |
               grep -oE '\bxlsnap_[a-z0-9_]+\(' | tr -d '(' | LC_ALL=C sort -u)
    [ "$listed" = "$declared" ] || fail "debian/libxlsnap0.symbols and libxlsnap.h differ:
$(diff <(echo "$listed") <(echo "$declared") | grep '^[<>]')
(< only in the symbols file, > only in the header).  A new public function:
run tests/deb/update-symbols.sh (it keeps the versions of the listed ones
and gives new ones the Makefile's VERSION) and commit the file."
    # the package's symbols file is that one (dpkg-gensymbols kept it)
    run -0 bash -c "dpkg-deb --ctrl-tarfile '$(deb libxlsnap0)' | tar -xOf - ./symbols"
    assert_output "$(grep -v '^\* ' "$sym" | sed '1a * Build-Depends-Package: libxlsnap-dev')"
}

@test "libxlsnap-dev brings libzstd-dev, which libxlsnap.pc requires for static links" {
    run -0 dpkg-deb -f "$(deb libxlsnap-dev)" Depends
    assert_output --regexp "(^|, )libzstd-dev(,|$)"
    run -0 bash -c "dpkg-deb --fsys-tarfile '$(deb libxlsnap-dev)' | tar -xOf - --wildcards '*/pkgconfig/libxlsnap.pc'"
    assert_output --regexp $'\nRequires.private: .*\\blibzstd\\b'
    run -0 grep -E '^Build-Depends:' -A12 "$REPO/debian/control"
    assert_output --partial "libzstd-dev"
}

@test "libxlsnap-dev brings nettle-dev, which libxlsnap.pc requires for static links (nettle: SHA-256)" {
    run -0 dpkg-deb -f "$(deb libxlsnap-dev)" Depends
    assert_output --regexp "(^|, )nettle-dev(,|$)"
    run -0 bash -c "dpkg-deb --fsys-tarfile '$(deb libxlsnap-dev)' | tar -xOf - --wildcards '*/pkgconfig/libxlsnap.pc'"
    assert_output --regexp $'\nRequires.private: .*\\bnettle\\b'
    run -0 grep -E '^Build-Depends:' -A12 "$REPO/debian/control"
    assert_output --partial "nettle-dev"
}

@test "DEB_BUILD_OPTIONS=nocheck builds the packages without running the unit tests" {
    local out=$BATS_TEST_TMPDIR/nocheck
    DEB_BUILD_OPTIONS=nocheck run "$BATS_TEST_DIRNAME/build.sh" "$out"
    [ "$status" = 0 ] || { echo "$output"; fail "nocheck build failed"; }
    for p in xl-snapshot libxlsnap0 libxlsnap-dev; do
        [ -f "$(deb $p "$out")" ] || fail "no $(deb $p "$out")"
    done
    run grep -c '^ok ' "$out/build.log"
    assert_output 0
}

@test "the package build left the worktree untouched" {
    run -0 git -C "$REPO" status --porcelain
    assert_output "$(cat "$STATUS_BEFORE_FILE")"
}
