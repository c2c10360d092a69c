#!/usr/bin/env bats
# Crash safety on real Xen: create (memory + internal, and external),
# delete and revert are killed (SIGKILL, XL_SNAPSHOT_FAULT) at every step
# on a running guest; `check` must find what was left (exit 1), `check
# --repair` must complete or roll it back (exit 0), a second `check` is
# clean, the guest runs on with its latest writes, and every ready
# snapshot still reverts to its exact data.  Then concurrency: two
# creates on one guest, a busy lock, two domains at once.

load 'lib/e2e'
load 'lib/snap'

CREATE_STEPS="record-write record-before-rename create-prepared create-memory
create-disks create-live-disks create-resumed create-current-cleared"
DELETE_STEPS="delete-marked delete-data delete-memory delete-reparented"
REVERT_STEPS="revert-intent revert-destroyed revert-disks revert-started
revert-current"

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-60
    export EXP=$E2E_WORK/faults.expect     # "<domain> <snapshot> <kind> <value>"
    : > "$EXP"
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show f1 f2
}

# expect DOMAIN SNAP: remember what a ready snapshot holds (memory
# snapshots: the counter in its disk data; disk-only: a checksum)
expect() {
    local img
    img=$(xl-snapshot info --json "$1" "$2" | jq -r '.disks[0].image')
    if [ "$(xl-snapshot info --json "$1" "$2" | jq -r '.memory')" != null ]; then
        echo "$1 $2 counter $(snap_disk_counter "$img" "$2")" >> "$EXP"
    else
        echo "$1 $2 sum $(snap_sum "$img" "$2")" >> "$EXP"
    fi
}

# kill_at STEP ARGS...: xl-snapshot ARGS with a fault at STEP: it must die of SIGKILL
kill_at() {
    local step=$1
    shift
    XL_SNAPSHOT_FAULT=$step run -137 xls "$@"
}

# runs_on DOMAIN: the guest is running and counting
runs_on() {
    [ "$(e2e_domain_state "$1")" = running ] || { echo "$1 is $(e2e_domain_state "$1")" >&2; return 1; }
    e2e_wait_counter_above "$1" $(( $(e2e_guest_counter "$1") + 5 )) 30 >/dev/null
}

@test "create with memory, internal: killed at every step, check --repair leaves the guest running and only whole snapshots" {
    e2e_start_guest f1 pv 1 >/dev/null
    e2e_wait_counter_above f1 10 >/dev/null
    img=$(e2e_guest_disk f1)
    # (no loop counter: bats' run clobbers a global i)
    for step in $CREATE_STEPS; do
        s=m-$step
        kill_at "$step" create -n $s f1
        check_repairs f1 "$s"
        runs_on f1
        if xl-snapshot info f1 $s >/dev/null 2>&1; then
            run -0 xl-snapshot info --json f1 $s
            run -0 jq -r '"\(.state) \(.current)"' <<< "$output"
            assert_output "ready true"
            expect f1 $s
            e2e_log "$step: $s completed"
        else
            # rolled back: no memory image, no internal snapshot left
            [ ! -e "$XL_SNAPSHOT_DIR/$(uuid_of f1)/$s" ]
            [ -z "$(image_snapshots "$img" | grep -x "$s")" ]
            e2e_log "$step: $s rolled back"
        fi
    done
    # the steps before the disk snapshots roll back, the later ones complete
    run -0 xl-snapshot list --names f1
    assert_output "$(printf 'm-create-disks\nm-create-live-disks\nm-create-resumed\nm-create-current-cleared')"
}

@test "create external: killed at every step, the guest's writes stay in its live overlay" {
    e2e_start_guest f2 pv 1 >/dev/null
    e2e_wait_counter_above f2 10 >/dev/null
    for step in $CREATE_STEPS; do
        s=e-$step
        before=$(active_disk f2)
        kill_at "$step" create --external --disk-only -n $s f2
        check_repairs f2 "$s"
        runs_on f2
        act=$(active_disk f2)
        ovl=${before%.qcow2}.$s.qcow2
        if xl-snapshot info f2 $s >/dev/null 2>&1; then
            # completed: the domain's config names the overlay QEMU writes
            [ "$act" = "$ovl" ]
            backing=$(xl-snapshot info --json f2 $s | jq -r '.disks[0].backing')
            [ "$backing" = "$before" ]
            echo "f2 $s extsum $(image_sum "$backing")" >> "$EXP"
            e2e_log "$step: $s completed, guest on $act"
        else
            [ "$act" = "$before" ]
            [ ! -e "$ovl" ]
            e2e_log "$step: $s rolled back"
        fi
        # the latest writes are in the active image
        c=$(e2e_guest_counter f2)
        [ "$(e2e_disk_counter "$act")" -ge "$c" ]
    done
    run -0 xl-snapshot list --names f2
    assert_output "$(printf 'e-create-disks\ne-create-live-disks\ne-create-resumed\ne-create-current-cleared')"
}

@test "delete: killed at every step on the running guest, repair finishes it, other snapshots keep their data" {
    img=$(e2e_guest_disk f1)
    before=$(xl-snapshot list --names f1)
    for step in $DELETE_STEPS; do
        s=x-$step
        e2e_wait_counter_above f1 $(( $(e2e_guest_counter f1) + 5 )) >/dev/null
        run -0 xl-snapshot create --disk-only -n $s f1
        kill_at "$step" delete f1 $s
        check_repairs f1 "snapshot '$s' was being deleted"
        run -1 xl-snapshot info f1 $s
        [ -z "$(image_snapshots "$img" | grep -x "$s")" ]
        run -0 xl-snapshot current f1
        assert_output m-create-current-cleared
        runs_on f1
    done
    run -0 xl-snapshot list --names f1
    assert_output "$before"
}

@test "revert to a memory snapshot: killed at every step, repair completes or rolls back" {
    img=$(e2e_guest_disk f1)
    e2e_wait_counter_above f1 $(( $(e2e_guest_counter f1) + 5 )) >/dev/null
    run -0 xl-snapshot create -n rv f1
    expect f1 rv
    d=$(snap_disk_counter "$img" rv)
    for step in $REVERT_STEPS; do
        e2e_wait_counter_above f1 $(( $(e2e_guest_counter f1) + 10 )) >/dev/null
        domid=$(e2e_domid f1)
        n=$(e2e_guest_counter f1)
        mark=$(log_mark f1)
        kill_at "$step" revert --force f1 rv
        check_repairs f1 "a revert to 'rv' was interrupted"
        if [ "$step" = revert-intent ]; then
            # rolled back: the same domain runs on, nothing reverted
            [ "$(e2e_domid f1)" = "$domid" ]
            e2e_wait_counter_above f1 "$n" 30 >/dev/null
            run -0 xl-snapshot current f1
            assert_output m-create-current-cleared
            e2e_log "$step: rolled back, domain $domid runs on"
            continue
        fi
        run -0 xl-snapshot current f1
        assert_output rv
        if [ "$(e2e_domain_state f1)" = gone ]; then
            # completed with the domain off: its disk is the snapshot's
            [ "$(e2e_disk_counter "$img")" = "$d" ]
            run -0 xl-snapshot revert f1 rv
            e2e_log "$step: disks put back, domain off; revert started it"
        else
            e2e_log "$step: completed, domain $(e2e_domid f1) runs"
        fi
        first=$(rewind_tick f1 "$mark")
        near "$first" "$d"
        runs_on f1
    done
}

@test "two creates on one guest at once: both snapshots, one the parent of the other; a short lock timeout says busy" {
    e2e_wait_counter_above f1 $(( $(e2e_guest_counter f1) + 5 )) >/dev/null
    xl-snapshot create --disk-only -n c1 f1 > "$E2E_WORK/c1.out" 2>&1 &
    p1=$!
    xl-snapshot create --disk-only -n c2 f1 > "$E2E_WORK/c2.out" 2>&1 &
    p2=$!
    wait $p1 || fail "c1: $(cat "$E2E_WORK/c1.out")"
    wait $p2 || fail "c2: $(cat "$E2E_WORK/c2.out")"
    a=$(xl-snapshot parent f1 c1)
    b=$(xl-snapshot parent f1 c2)
    e2e_log "parents: c1 <- $a, c2 <- $b"
    [ "$a" = c2 ] || [ "$b" = c1 ]
    expect f1 c1
    expect f1 c2
    # a memory create holds the lock for seconds: a second one with
    # XL_SNAPSHOT_LOCK_TIMEOUT=0 fails at once, busy
    lock=$XL_SNAPSHOT_DIR/$(uuid_of f1)/.lock
    xl-snapshot create -n c3 f1 > "$E2E_WORK/c3.out" 2>&1 &
    p3=$!
    deadline=$((SECONDS + 30))
    while flock -n "$lock" true; do
        [ $SECONDS -lt $deadline ] || fail "c3 never took the lock"
        sleep 0.05
    done
    XL_SNAPSHOT_LOCK_TIMEOUT=0 run -1 xl-snapshot create --disk-only -n c4 f1
    assert_output --partial "xl-snapshot: cannot create snapshot 'c4': domain $(uuid_of f1) is busy: another xl-snapshot operation holds"
    wait $p3 || fail "c3: $(cat "$E2E_WORK/c3.out")"
    expect f1 c3
    run -1 xl-snapshot info f1 c4
}

@test "operations on two domains run in parallel: both hold their lock at once" {
    l1=$XL_SNAPSHOT_DIR/$(uuid_of f1)/.lock
    l2=$XL_SNAPSHOT_DIR/$(uuid_of f2)/.lock
    xl-snapshot create -n p1 f1 > "$E2E_WORK/p1.out" 2>&1 &
    p1=$!
    xl-snapshot create -n p2 f2 > "$E2E_WORK/p2.out" 2>&1 &
    p2=$!
    both=0
    while kill -0 $p1 2>/dev/null || kill -0 $p2 2>/dev/null; do
        if ! flock -n "$l1" true && ! flock -n "$l2" true; then both=$((both + 1)); fi
        sleep 0.05
    done
    wait $p1 || fail "p1: $(cat "$E2E_WORK/p1.out")"
    wait $p2 || fail "p2: $(cat "$E2E_WORK/p2.out")"
    e2e_log "samples with both locks held: $both"
    [ "$both" -gt 0 ]
    expect f1 p1
    expect f2 p2
}

@test "every ready snapshot reverts to its exact data" {
    run -0 xl-snapshot check
    assert_output "No problems found."
    while read -r dom snap kind val; do
        xl destroy "$dom" 2>/dev/null || true
        e2e_wait_domain_state "$dom" gone 30
        case $kind in
        counter)
            mark=$(log_mark "$dom")
            run -0 xl-snapshot revert "$dom" "$snap"
            first=$(first_tick_after "$dom" "$mark")
            e2e_log "$dom $snap: snapshot counter $val, first tick $first"
            near "$first" "$val"
            img=$(xl-snapshot info --json "$dom" "$snap" | jq -r '.disks[0].image')
            [ "$(snap_disk_counter "$img" "$snap")" = "$val" ]
            ;;
        sum|extsum)
            run -0 xl-snapshot revert --paused "$dom" "$snap"
            got=$(image_sum "$(active_disk "$dom")")
            e2e_log "$dom $snap: sum $got (snapshot $val)"
            [ "$got" = "$val" ]
            ;;
        esac
    done < "$EXP"
    run -0 xl-snapshot check
    assert_output "No problems found."
}
