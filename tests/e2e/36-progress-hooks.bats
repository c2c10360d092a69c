#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Progress of create's memory save: a line rewritten with \r on a
# terminal's stderr (script(1) gives the command a TTY), nothing when
# stderr is not a TTY, nothing with -q.  Then create's --pre-hook and
# --post-hook around snapshots of the same running guest.

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

# hook_script FILE: a hook that logs its phase, environment, the domain's
# xl state flags and whether the snapshot exists yet
hook_script() {
    cat > "$1" <<'H'
#!/bin/sh
st=$(xl list "$XL_SNAPSHOT_DOMAIN" | awk 'NR == 2 { print $5 }')
if xl-snapshot info "$XL_SNAPSHOT_DOMAIN" "$XL_SNAPSHOT_NAME" >/dev/null 2>&1; then ex=yes; else ex=no; fi
echo "$XL_SNAPSHOT_HOOK $XL_SNAPSHOT_DOMAIN $XL_SNAPSHOT_DOMAIN_UUID $XL_SNAPSHOT_NAME ${XL_SNAPSHOT_RESULT-unset} state=$st exists=$ex" >> "$HOOK_LOG"
H
    chmod +x "$1"
}

@test "hooks run around a snapshot of a running guest, which runs during both; they see the documented environment" {
    export HOOK_LOG=$BATS_TEST_TMPDIR/hooks
    hook_script "$BATS_TEST_TMPDIR/h"
    uuid=$(uuid_of pg1)
    run -0 xl-snapshot create -n hk1 --pre-hook "$BATS_TEST_TMPDIR/h" --post-hook "$BATS_TEST_TMPDIR/h" pg1
    assert_output --partial "Snapshot 'hk1' of domain 'pg1' created (internal, with memory)"
    run -0 cat "$HOOK_LOG"
    e2e_log "$output"
    assert_line --index 0 --regexp "^pre pg1 $uuid hk1 unset state=[^p ]+ exists=no$"
    assert_line --index 1 --regexp "^post pg1 $uuid hk1 ok state=[^p ]+ exists=yes$"
    [ "${#lines[@]}" = 2 ]
}

@test "a failing pre-hook leaves no snapshot and the guest running; the post-hook runs, told so" {
    export HOOK_LOG=$BATS_TEST_TMPDIR/hooks
    hook_script "$BATS_TEST_TMPDIR/h"
    run -1 xl-snapshot create -n hk2 --pre-hook 'exit 5' --post-hook "$BATS_TEST_TMPDIR/h" pg1
    assert_output "xl-snapshot: cannot create snapshot 'hk2': the pre-hook exited with status 5; no snapshot was taken"
    run -0 cat "$HOOK_LOG"
    assert_output --regexp "^post pg1 [0-9a-f-]{36} hk2 failed state=[^p ]+ exists=no$"
    run -1 xl-snapshot info pg1 hk2
    [ -z "$(find "$XL_SNAPSHOT_DIR" -path '*hk2*')" ]
    [ "$(image_snapshots "$(active_disk pg1 xvda)" | grep -c hk2)" = 0 ]
    # the guest was never paused: it ticks on
    mark=$(log_mark pg1)
    first_tick_after pg1 "$mark" 30 >/dev/null
    # a snapshot that fails (the name is taken) also runs the post-hook
    : > "$HOOK_LOG"
    run -1 xl-snapshot create -n hk1 --post-hook "$BATS_TEST_TMPDIR/h" pg1
    run -0 cat "$HOOK_LOG"
    assert_output --regexp "^post pg1 [0-9a-f-]{36} hk1 failed state=[^p ]+ exists=yes$"
}

# this file's helpers without bats' DEBUG trap (lib/e2e.bash)
e2e_untrace_helpers
