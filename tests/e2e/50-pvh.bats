#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The same behaviours on a PVH guest (HAP): external snapshot whose later
# writes survive xl save + restore, disk-only snapshots of the running and
# the stopped guest, revert to each; live merge (issue 18) of external
# snapshots while it ticks.  (Memory snapshots of PVH are in
# 30-create-revert.bats.)

load 'lib/e2e'
load 'lib/snap'

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-50
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show pvx
}

@test "PVH: external snapshot: writes after it survive xl save + restore; revert boots from it" {
    e2e_start_guest pvx pvh 1 >/dev/null
    base=$(e2e_guest_disk pvx)
    e2e_wait_counter_above pvx 10 >/dev/null
    run -0 xl-snapshot create --external --disk-only -n x1 pvx
    frozen=$(e2e_guest_dir pvx)/xvda.x1.qcow2
    ovl=$base
    run -0 active_disk pvx
    assert_output "$base"
    s=$(e2e_disk_counter "$frozen")
    t=$(e2e_wait_counter_above pvx $((s + 20)))
    xl save pvx "$E2E_WORK/pvx.save"
    e2e_wait_domain_state pvx gone 30
    mark=$(log_mark pvx)
    xl restore "$E2E_WORK/pvx.save" 3>&-
    rm -f "$E2E_WORK/pvx.save"
    first=$(first_tick_after pvx "$mark")
    [ "$first" -ge "$t" ]
    e2e_wait_counter_above pvx $((first + 10)) >/dev/null
    [ "$(e2e_disk_counter "$ovl")" -gt "$t" ]
    [ "$(e2e_disk_counter "$frozen")" -eq "$s" ]
    mark=$(log_mark pvx)
    run xl-snapshot revert --force --running pvx x1
    e2e_log "revert: $status $output"
    [ "$status" -eq 0 ]
    run -0 boot_counter_after pvx "$mark"
    assert_output "$s"
}

# (delete_ticking fails when the guest stops ticking for 5 s during a
# merge; a revert to a kept snapshot would boot the guest again: the image sums
# show its data exact; 47-live-merge reverts PV guests after merges)
@test "PVH: live merge: a middle external snapshot and the one under the active layer deleted while the guest ticks; the chain shortened, the rest exact" {
    t0=$SECONDS
    base=$(active_disk pvx)
    for s in y1 y2 y3; do
        e2e_wait_counter_above pvx $(( $(e2e_guest_counter pvx) + 2 )) >/dev/null
        run -0 xl-snapshot create --external --disk-only -n $s pvx
    done
    x1=$(xl-snapshot info --json pvx x1 | jq -r '.disks[0].backing')
    y1=$(xl-snapshot info --json pvx y1 | jq -r '.disks[0].backing')
    y2=$(xl-snapshot info --json pvx y2 | jq -r '.disks[0].backing')
    y3=$(xl-snapshot info --json pvx y3 | jq -r '.disks[0].backing')
    sx1=$(image_sum "$x1")
    sy1=$(image_sum "$y1")
    run -0 chain_files "$base"
    n0=${#lines[@]}
    e2e_log "chain before: ${output//$'\n'/ <- } ($((SECONDS - t0)) s)"
    # a middle one: its layer and the frozen one above it become one
    run -0 delete_ticking pvx y2
    e2e_log "delete y2 (middle): $output"
    refute_output --partial "not merged"
    [ ! -e "$y2" ]
    # the one under the active layer: streamed into the active layer
    run -0 delete_ticking pvx y3
    e2e_log "delete y3 (under the active layer): $output"
    refute_output --partial "not merged"
    [ ! -e "$y3" ]
    runs_on pvx
    run -0 chain_files "$base"
    e2e_log "chain after: ${output//$'\n'/ <- }"
    [ "${#lines[@]}" = $((n0 - 2)) ]
    qemu_has_chain pvx
    # the remaining snapshots' layers hold exactly their data
    [ "$(image_sum "$(xl-snapshot info --json pvx x1 | jq -r '.disks[0].backing')")" = "$sx1" ]
    y1=$(xl-snapshot info --json pvx y1 | jq -r '.disks[0].backing')
    [ "$(image_sum "$y1")" = "$sy1" ]
    run -0 xl-snapshot check pvx
    assert_output "No problems found."
    e2e_log "# done in $((SECONDS - t0)) s"
}

@test "PVH: disk-only snapshots of the running and the stopped guest; revert to each" {
    e2e_wait_counter_above pvx $(( $(e2e_guest_counter pvx) + 10 )) >/dev/null
    run -0 xl-snapshot create --disk-only -n run1 pvx
    img=$(active_disk pvx)
    xl destroy pvx
    e2e_wait_domain_state pvx gone 30
    d=$(snap_disk_counter "$img" run1)
    e2e_write_disk_counter "$img" 8000
    run -0 xl-snapshot create -n off1 pvx
    e2e_write_disk_counter "$img" 9000
    mark=$(log_mark pvx)
    run -0 xl-snapshot revert --running pvx run1
    run -0 boot_counter_after pvx "$mark"
    assert_output "$d"
    mark=$(log_mark pvx)
    run -0 xl-snapshot revert --force --running pvx off1
    run -0 boot_counter_after pvx "$mark"
    assert_output 8000
}
