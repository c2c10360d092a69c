#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Crash safety on real Xen, create: memory + internal, and external
# snapshots are killed (SIGKILL, XL_SNAPSHOT_FAULT) at every step on a
# running guest; `check` must find what was left (exit 1), `check
# --repair` must complete or roll it back (exit 0), a second `check` is
# clean, the guest runs on with its latest writes, and every ready
# snapshot still reverts to its exact data; killed right before its
# memory image is synced, the guest already runs.  (Delete, revert and
# concurrency: 61-faults-ops.bats.)

load 'lib/e2e'
load 'lib/snap'

CREATE_STEPS="record-write record-before-rename create-prepared create-memory
create-disks create-live-disks create-resumed create-current-cleared"

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-60
    export EXP=$E2E_WORK/faults.expect     # "<domain> <snapshot> <kind> <value>"
    : > "$EXP"
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show f1 f2 f3
}


@test "create external: killed at every step, the guest's writes stay in the active layer at the configured path" {
    e2e_start_guest f2 pv 1 >/dev/null
    e2e_wait_counter_above f2 10 >/dev/null
    # (and the three external steps: the new overlay made under its
    # temporary name before the pause, the rename of the active layer to
    # its frozen name, the overlay ready for the disk transaction)
    for step in $CREATE_STEPS create-overlays-made create-layer-renamed create-layer-frozen; do
        s=e-$step
        before=$(active_disk f2)
        kill_at "$step" create --external --disk-only -n $s f2
        check_repairs f2 "$s"
        runs_on f2
        act=$(active_disk f2)
        frozen=${before%.qcow2}.$s.qcow2
        # the configured path always holds the active layer, and no
        # overlay is left under a temporary name
        [ "$act" = "$before" ]
        run ls "$(dirname "$act")"
        refute_output --partial ".xlsnap-new-"
        if xl-snapshot info f2 $s >/dev/null 2>&1; then
            backing=$(xl-snapshot info --json f2 $s | jq -r '.disks[0].backing')
            [ "$backing" = "$frozen" ]
            echo "f2 $s extsum $(image_sum "$backing")" >> "$EXP"
            e2e_log "$step: $s completed, guest on $act"
        else
            [ ! -e "$frozen" ]
            e2e_log "$step: $s rolled back"
        fi
        # the latest writes are in the active image
        c=$(e2e_guest_counter f2)
        d=$(timeout 60 qemu-io -r -U -f qcow2 -c 'read -v 512 20' "$act" | awk '/^[0-9a-f]+:/ {s = s $NF} END {print s}' | tr -cd 0-9 | sed 's/^0*//')
        e2e_log "[$SECONDS s] $step: guest tick $c, disk counter in $act: $d"
        [ "${d:-0}" -ge "$c" ]
    done
    run -0 xl-snapshot list --names f2
    assert_output "$(printf 'e-create-disks\ne-create-live-disks\ne-create-resumed\ne-create-current-cleared')"
    # after every kill and repair QEMU still has each layer's own file
    # open (no overlay was ever at a name QEMU reopened a layer by)
    qemu_has_chain f2
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

@test "every ready snapshot reverts to its exact data" {
    all_revert_exact
}

@test "create with memory killed right before its image is synced: the guest already runs; repair syncs the image and completes the snapshot, which reverts exactly" {
    # room in dom0's /tmp for one more memory image: the snapshots of the
    # tests before were all reverted by now
    local s
    for s in $(xl-snapshot list --names f1 | tac); do
        run -0 xls delete f1 "$s"
    done
    e2e_start_guest f3 pv 1 >/dev/null
    e2e_wait_counter_above f3 10 >/dev/null
    kill_at create-memory-sync create -n m-sync f3
    # the sync is not part of the guest's downtime: at the moment of it
    # the guest runs, and the image is marked unsynced, from this boot
    [ "$(e2e_domain_state f3)" = running ]
    mark=$XL_SNAPSHOT_DIR/$(uuid_of f3)/m-sync/.memory-unsynced
    run -0 cat "$mark"
    assert_output "$(cat /proc/sys/kernel/random/boot_id)"
    check_repairs f3 "snapshot 'm-sync' is incomplete: its create was interrupted after its data was taken"
    [ ! -e "$mark" ]
    runs_on f3
    run -0 xl-snapshot info --json f3 m-sync
    run -0 jq -r '"\(.state) \(.current)"' <<< "$output"
    assert_output "ready true"
    EXP=$E2E_WORK/faults-sync.expect
    : > "$EXP"
    expect f3 m-sync
    all_revert_exact
}
