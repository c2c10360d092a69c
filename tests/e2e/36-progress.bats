#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Progress of create's memory save: a line rewritten with \r on a
# terminal's stderr (script(1) gives the command a TTY), nothing when
# stderr is not a TTY, nothing with -q.

load 'lib/e2e'
load 'lib/snap'

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-36
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show pg1
}

@test "create with memory on a TTY shows the progress of the memory save" {
    e2e_start_guest pg1 pv 1 >/dev/null
    run -0 script -qec "xl-snapshot create -n tty1 pg1" /dev/null </dev/null
    e2e_log "$(printf '%s' "$output" | tr '\r' '|' | tail -c 400)"
    # rewritten lines: \r, what, MiB done / total, percent, rate
    assert_output --regexp $'\rmemory: +[0-9.]+ MiB / [0-9.]+ MiB +[0-9]+%  [0-9.]+ MiB/s'
    # the last report is the whole memory, and that line is ended
    assert_output --regexp $'100%[^\r\n]*\r?\n'
    assert_output --partial "Snapshot 'tty1' of domain 'pg1' created"
    xl list pg1 | grep -q pg1
}

@test "create without a TTY prints no progress" {
    run -0 xl-snapshot create -n notty1 pg1 2> "$BATS_TEST_TMPDIR/err"
    assert_output --partial "Snapshot 'notty1' of domain 'pg1' created"
    [ ! -s "$BATS_TEST_TMPDIR/err" ] ||
        fail "stderr not empty: $(cat -A "$BATS_TEST_TMPDIR/err")"
}

@test "create -q on a TTY prints no progress" {
    run -0 script -qec "xl-snapshot -q create -n quiet1 pg1" /dev/null </dev/null
    refute_output --partial "MiB"
    refute_output --partial $'\r'memory
    assert_output --partial "Snapshot 'quiet1' of domain 'pg1' created"
}
