#!/usr/bin/env bats
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

@test "xl-snapshot --version" {
    run xl-snapshot --version
    assert_success
    e2e_log "$output"
}

@test "xl-snapshot help" {
    run xl-snapshot help
    assert_success
}
