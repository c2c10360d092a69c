#!/usr/bin/env bats
# Debian packaging (debian/): dpkg-buildpackage -us -uc -b in a copy of
# the tree under build/deb (the worktree is never touched), lintian
# clean, and the packages hold what they should.
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

deb() { echo "$DEB_DIR/$1_0.1.0_$(dpkg --print-architecture).deb"; }

@test "dpkg-buildpackage -us -uc -b builds xl-snapshot, libxlsnap0, libxlsnap-dev" {
    read -r rc secs < "$DEB_DIR/build.status"
    [ "$rc" = 0 ] || { tail -n 40 "$DEB_DIR/build.log"; fail "dpkg-buildpackage failed"; }
    echo "# built in ${secs}s" >&3
    for p in xl-snapshot libxlsnap0 libxlsnap-dev; do
        [ -f "$(deb $p)" ] || fail "no $(deb $p)"
        echo "# $p: $(stat -c %s "$(deb $p)") bytes" >&3
    done
}

@test "lintian prints no error or warning" {
    run lintian "$DEB_DIR"/xl-snapshot_0.1.0_*.changes
    echo "$output"
    run grep -E '^(E|W): ' <<< "$output"
    assert_output ""
}

@test "xl-snapshot holds the tool, man pages, completion and nightly units" {
    run -0 dpkg-deb -c "$(deb xl-snapshot)"
    for f in ./usr/sbin/xl-snapshot ./usr/share/man/man1/xl-snapshot.1.gz \
             ./usr/share/man/man5/xl-snapshot.conf.5.gz \
             ./usr/share/bash-completion/completions/xl-snapshot \
             ./usr/lib/xl-snapshot/xl-snapshot-nightly \
             ./lib/systemd/system/xl-snapshot-nightly.service \
             ./lib/systemd/system/xl-snapshot-nightly.timer \
             ./etc/default/xl-snapshot-nightly; do
        assert_output --partial " $f"
    done
    run -0 dpkg-deb -f "$(deb xl-snapshot)" Depends
    assert_output --partial "xen-utils-4.17"
    assert_output --partial "qemu-utils"
    assert_output --partial "libxenmisc4.17"     # from ${shlibs:Depends}
    run -0 dpkg-deb --ctrl-tarfile "$(deb xl-snapshot)"
    run -0 bash -c "dpkg-deb --ctrl-tarfile '$(deb xl-snapshot)' | tar -xOf - ./conffiles"
    assert_output "/etc/default/xl-snapshot-nightly"
}

@test "libxlsnap0 holds the shared library and its shlibs; -dev the rest" {
    run -0 dpkg-deb -c "$(deb libxlsnap0)"
    assert_output --regexp "/libxlsnap\.so\.0\.1\.0"
    assert_output --regexp "/libxlsnap\.so\.0 -> libxlsnap\.so\.0\.1\.0"
    run -0 bash -c "dpkg-deb --ctrl-tarfile '$(deb libxlsnap0)' | tar -xOf - ./shlibs"
    assert_output --partial "libxlsnap 0 libxlsnap0"
    run -0 dpkg-deb -c "$(deb libxlsnap-dev)"
    for f in ./usr/include/libxlsnap.h /libxlsnap.a /pkgconfig/libxlsnap.pc \
             "/libxlsnap.so -> libxlsnap.so.0" examples/list-snapshots.c; do
        assert_output --partial "$f"
    done
}

@test "the package build left the worktree untouched" {
    run -0 git -C "$REPO" status --porcelain
    assert_output "$(cat "$STATUS_BEFORE_FILE")"
}
