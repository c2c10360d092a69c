#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Smoke test of the project binary inside a real dom0 (it is put on PATH through
# the 9p share by run.sh; XL_SNAPSHOT_BIN on the host). Skips when the binary is
# missing, unless E2E_REQUIRE_XL_SNAPSHOT=1.

load 'lib/e2e'

setup() {
    if ! command -v xl-snapshot >/dev/null; then
        [ "${E2E_REQUIRE_XL_SNAPSHOT:-0}" != 1 ] || fail "xl-snapshot not on PATH (E2E_REQUIRE_XL_SNAPSHOT=1)"
        skip "xl-snapshot not on PATH (no build/xl-snapshot on the host)"
    fi
}

@test "xl-snapshot --version names dom0's libxenlight" {
    local lib ver
    lib=$(ldd "$(command -v xl-snapshot)" | awk '$1 ~ /^libxenlight\.so/ { print $3 }')
    [ -n "$lib" ] || fail "ldd shows no libxenlight"
    ver=$(basename "$(readlink -f "$lib")")
    ver=${ver#libxenlight.so.}
    run xl-snapshot --version
    assert_success
    e2e_log "$output"
    assert_output --regexp "^xl-snapshot 0\.1\.0 \(libxlsnap 0\.1\.0, libxenlight ${ver//./\\.}; built against libxenlight [0-9.]+\)\$"
}

@test "xl-snapshot help" {
    run xl-snapshot help
    assert_success
}
