#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Crash safety on real Xen, delete and revert: killed (SIGKILL,
# XL_SNAPSHOT_FAULT) at every step on a running guest; `check` must find
# what was left (exit 1), `check --repair` must finish or roll it back
# (exit 0), a second `check` is clean, and every ready snapshot still
# reverts to its exact data.  Concurrency: two creates on one guest, a
# busy lock, operations on two domains at once.

load 'lib/e2e'
load 'lib/snap'

DELETE_STEPS="delete-marked delete-data delete-memory delete-reparented"
REVERT_STEPS="revert-intent revert-destroyed revert-disks revert-started
revert-current"

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-61
    export EXP=$E2E_WORK/faults-ops.expect
    : > "$EXP"
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show o1 o2
}

@test "delete: killed at every step on the running guest, repair finishes it, other snapshots keep their data" {
    e2e_start_guest o1 pv 1 >/dev/null
    e2e_wait_counter_above o1 10 >/dev/null
    run -0 xls create -n base o1
    expect o1 base
    img=$(e2e_guest_disk o1)
    before=$(xl-snapshot list --names o1)
    for step in $DELETE_STEPS; do
        s=x-$step
        e2e_wait_counter_above o1 $(( $(e2e_guest_counter o1) + 5 )) >/dev/null
        run -0 xls create --disk-only -n $s o1
        kill_at "$step" delete o1 $s
        check_repairs o1 "snapshot '$s' was being deleted"
        run -1 xl-snapshot info o1 $s
        [ -z "$(image_snapshots "$img" | grep -x "$s")" ]
        run -0 xl-snapshot current o1
        assert_output base
        runs_on o1
    done
    run -0 xl-snapshot list --names o1
    assert_output "$before"
}

@test "revert to a memory snapshot: killed at every step, repair completes or rolls back" {
    img=$(e2e_guest_disk o1)
    e2e_wait_counter_above o1 $(( $(e2e_guest_counter o1) + 5 )) >/dev/null
    run -0 xls create -n rv o1
    expect o1 rv
    d=$(snap_disk_counter "$img" rv)
    for step in $REVERT_STEPS; do
        e2e_wait_counter_above o1 $(( $(e2e_guest_counter o1) + 10 )) >/dev/null
        domid=$(e2e_domid o1)
        cur=$(xl-snapshot current o1)
        n=$(e2e_guest_counter o1)
        mark=$(log_mark o1)
        kill_at "$step" revert --force o1 rv
        check_repairs o1 "a revert to 'rv' was interrupted"
        if [ "$step" = revert-intent ]; then
            # rolled back: the same domain runs on, nothing reverted
            [ "$(e2e_domid o1)" = "$domid" ]
            e2e_wait_counter_above o1 "$n" 30 >/dev/null
            run -0 xl-snapshot current o1
            assert_output "$cur"
            e2e_log "$step: rolled back, domain $domid runs on"
            continue
        fi
        run -0 xl-snapshot current o1
        assert_output rv
        if [ "$(e2e_domain_state o1)" = gone ]; then
            # completed with the domain off: its disk is the snapshot's
            [ "$(e2e_disk_counter "$img")" = "$d" ]
            run -0 xls revert o1 rv
            e2e_log "$step: disks put back, domain off; revert started it"
        else
            e2e_log "$step: completed, domain $(e2e_domid o1) runs"
        fi
        first=$(rewind_tick o1 "$mark")
        near "$first" "$d"
        runs_on o1
    done
}

@test "two creates on one guest at once: both snapshots, one the parent of the other; a short lock timeout says busy" {
    e2e_wait_counter_above o1 $(( $(e2e_guest_counter o1) + 5 )) >/dev/null
    xl-snapshot create --disk-only -n c1 o1 > "$E2E_WORK/c1.out" 2>&1 3>&- &
    p1=$!
    xl-snapshot create --disk-only -n c2 o1 > "$E2E_WORK/c2.out" 2>&1 3>&- &
    p2=$!
    wait $p1 || fail "c1: $(cat "$E2E_WORK/c1.out")"
    wait $p2 || fail "c2: $(cat "$E2E_WORK/c2.out")"
    a=$(xl-snapshot parent o1 c1)
    b=$(xl-snapshot parent o1 c2)
    e2e_log "parents: c1 <- $a, c2 <- $b"
    [ "$a" = c2 ] || [ "$b" = c1 ]
    expect o1 c1
    expect o1 c2
    # a memory create holds the lock for seconds: a second one with
    # XL_SNAPSHOT_LOCK_TIMEOUT=0 fails at once, busy
    lock=$XL_SNAPSHOT_DIR/$(uuid_of o1)/.lock
    xl-snapshot create -n c3 o1 > "$E2E_WORK/c3.out" 2>&1 3>&- &
    p3=$!
    deadline=$((SECONDS + 30))
    while flock -n "$lock" true; do
        [ $SECONDS -lt $deadline ] || fail "c3 never took the lock"
        e2e_sleep 0.05
    done
    XL_SNAPSHOT_LOCK_TIMEOUT=0 run -1 xl-snapshot create --disk-only -n c4 o1
    assert_output --partial "xl-snapshot: cannot create snapshot 'c4': domain $(uuid_of o1) is busy: another xl-snapshot operation holds"
    wait $p3 || fail "c3: $(cat "$E2E_WORK/c3.out")"
    run -1 xl-snapshot info o1 c4
    # (dom0's /tmp is small: c3's memory image goes)
    run -0 xls delete o1 c3
}

@test "operations on two domains run in parallel: both hold their lock at once" {
    e2e_start_guest o2 pv 1 >/dev/null
    e2e_wait_counter_above o2 10 >/dev/null
    run -0 xls create --disk-only -n q2 o2
    expect o2 q2
    l1=$XL_SNAPSHOT_DIR/$(uuid_of o1)/.lock
    l2=$XL_SNAPSHOT_DIR/$(uuid_of o2)/.lock
    # two reverts (memory restore; destroy + create) take seconds each
    xl-snapshot revert --force o1 rv > "$E2E_WORK/p1.out" 2>&1 3>&- &
    p1=$!
    xl-snapshot revert --force --running o2 q2 > "$E2E_WORK/p2.out" 2>&1 3>&- &
    p2=$!
    both=0
    while kill -0 $p1 2>/dev/null || kill -0 $p2 2>/dev/null; do
        if ! flock -n "$l1" true && ! flock -n "$l2" true; then both=$((both + 1)); fi
        e2e_sleep 0.05
    done
    wait $p1 || fail "p1: $(cat "$E2E_WORK/p1.out")"
    wait $p2 || fail "p2: $(cat "$E2E_WORK/p2.out")"
    e2e_log "samples with both locks held: $both"
    [ "$both" -gt 0 ]
    e2e_wait_domain_state o1 running 30
    e2e_wait_domain_state o2 running 30
}

@test "every ready snapshot reverts to its exact data" {
    all_revert_exact
}
