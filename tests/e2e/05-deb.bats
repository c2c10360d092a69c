#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The Debian packages (built on the host by run.sh, in /share/debs)
# install with dpkg -i in the real dom0, and the installed
# /usr/sbin/xl-snapshot works on a real running guest.  The other e2e
# files keep using the freshly built /share/bin/xl-snapshot (first on
# PATH).

load 'lib/e2e'
bats_require_minimum_version 1.5.0

INSTALLED=/usr/sbin/xl-snapshot

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-05
}

teardown_file() {
    e2e_destroy_all
}

@test "dpkg -i installs xl-snapshot and libxlsnap0 (dependencies all in dom0)" {
    ls /share/debs/xl-snapshot_*.deb /share/debs/libxlsnap0_*.deb ||
        fail "no .debs in /share/debs (see run.sh's log: building them failed?)"
    run dpkg -i /share/debs/xl-snapshot_*.deb /share/debs/libxlsnap0_*.deb
    echo "$output"
    assert_success
    run -0 dpkg-query -W -f='${Package} ${Version} ${db:Status-Status}\n' \
        xl-snapshot libxlsnap0
    assert_line "xl-snapshot 0.1.0 installed"
    assert_line "libxlsnap0 0.1.0 installed"
    [ -x "$INSTALLED" ]
    [ -f /usr/share/bash-completion/completions/xl-snapshot ]
    # systemd's unit dir of dom0's release: /lib on Debian 12, /usr/lib after
    local unitdir=/usr/lib/systemd/system
    [ "$(. /etc/os-release && echo "$VERSION_ID")" != 12 ] || unitdir=/lib/systemd/system
    run -0 dpkg -L xl-snapshot
    assert_line "$unitdir/xl-snapshot-nightly.timer"
    assert_line "$unitdir/xl-snapshot-nightly.service"
    [ -f "$unitdir/xl-snapshot-nightly.timer" ]
}

@test "installed xl-snapshot uses the installed libxlsnap.so.0 (no static copy)" {
    run -0 ldd "$INSTALLED"
    e2e_log "$output"
    assert_output --regexp "libxlsnap\.so\.0 => (/usr)?/lib/[a-z0-9_-]+/libxlsnap\.so\.0 "
    # the file loaded is libxlsnap0's (ldd may name it by the /lib alias)
    local loaded packaged
    loaded=$(ldd "$INSTALLED" | awk '$1 == "libxlsnap.so.0" { print $3 }')
    packaged=$(dpkg -L libxlsnap0 | grep '/libxlsnap\.so\.0\.[0-9.]*$')
    [ -n "$packaged" ] || fail "libxlsnap0 holds no libxlsnap.so.0.*"
    [ "$(readlink -f "$loaded")" = "$(readlink -f "$packaged")" ] ||
        fail "loaded $loaded, libxlsnap0 has $packaged"
}

@test "installed xl-snapshot --version names dom0's libxenlight" {
    local lib ver
    lib=$(ldd "$INSTALLED" | awk '$1 ~ /^libxenlight\.so/ { print $3 }')
    [ -n "$lib" ] || fail "ldd shows no libxenlight"
    ver=$(basename "$(readlink -f "$lib")")
    ver=${ver#libxenlight.so.}
    run -0 "$INSTALLED" --version
    e2e_log "$output"
    assert_output --regexp "^xl-snapshot 0\.1\.0 \(libxlsnap 0\.1\.0, libxenlight ${ver//./\\.}; built against libxenlight [0-9.]+\)\$"
}

@test "the other e2e tests still run the freshly built binary" {
    [ "$(command -v xl-snapshot)" = /share/bin/xl-snapshot ]
}

@test "installed xl-snapshot snapshots and lists a real running guest" {
    e2e_start_guest deb1 pv 1 >/dev/null
    run -0 "$INSTALLED" create --disk-only -n installed1 deb1
    assert_output --partial "Snapshot 'installed1' of domain 'deb1' created"
    run -0 "$INSTALLED" list deb1
    assert_line --index 0 --regexp '^  NAME +CREATED +STATE +DOMAIN +TYPE +MEMORY +PARENT$'
    assert_line --index 1 --regexp '^\* installed1 .* ready +running +internal +no +-'
    run -0 "$INSTALLED" list --domains
    assert_output "deb1"
    [ "$(xl list deb1 | awk 'NR==2 {print $5}')" != "" ]
}
