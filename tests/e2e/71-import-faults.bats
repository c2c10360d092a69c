#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# import killed at every step (XL_SNAPSHOT_FAULT), then check --repair:
# the state is clean again, the import can be finished, and every ready
# snapshot reverts on real Xen with its exact disk data.

load 'lib/e2e'
load 'lib/snap'

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-71a W=$E2E_WORK/w71
    mkdir -p "$W"
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show fx1
}

@test "bundles of a running guest: a full one and a delta on it" {
    e2e_start_guest fx1 pv 1 >/dev/null
    img=$(e2e_guest_disk fx1)
    e2e_wait_counter_above fx1 5 >/dev/null
    run -0 xl-snapshot create --disk-only -n f1 fx1
    e2e_wait_counter_above fx1 $(( $(e2e_guest_counter fx1) + 5 )) >/dev/null
    run -0 xl-snapshot create --disk-only -n f2 fx1
    snap_sum "$img" f1 > "$W/sum.f1"
    snap_sum "$img" f2 > "$W/sum.f2"
    run -0 xl-snapshot export fx1 f1 "$W/b1"
    run -0 xl-snapshot export --delta --base f1 fx1 f2 "$W/b2"
    xl destroy fx1
    e2e_wait_domain_state fx1 gone 30
}

@test "import killed at each step, check --repair, then every ready snapshot reverts exactly" {
    for step in import-verified import-prepared import-placed record-write record-before-rename; do
        export XL_SNAPSHOT_DIR=$W/state-$step
        mkdir -p "$W/disks-$step"
        run -0 xl-snapshot import --kernel-dir "$E2E_IMAGES" --disk-dir "$W/disks-$step" "$W/b1"
        run env XL_SNAPSHOT_FAULT=$step xl-snapshot import --kernel-dir "$E2E_IMAGES" --disk-dir "$W/disks-$step" "$W/b2"
        e2e_log "$step: import exit $status"
        [ "$status" -eq 137 ]
        run xl-snapshot check
        e2e_log "$step: check exit $status: $output"
        run xl-snapshot check --repair
        e2e_log "$step: check --repair exit $status: $output"
        [ "$status" -eq 0 ]
        run -0 xl-snapshot check
        # finish the import if the repair rolled it back
        if ! xl-snapshot info fx1 f2 >/dev/null 2>&1; then
            run -0 xl-snapshot import --kernel-dir "$E2E_IMAGES" --disk-dir "$W/disks-$step" "$W/b2"
        fi
        run -0 xl-snapshot list --names fx1
        assert_output "f1
f2"
        for s in f1 f2; do
            run xl-snapshot revert --force --paused fx1 "$s"
            [ "$status" -eq 0 ] || { e2e_log "revert $s: $output"; false; }
            got=$(image_sum "$(active_disk fx1)")
            [ "$got" = "$(cat "$W/sum.$s")" ] || { e2e_log "$step: $s sum $got, want $(cat "$W/sum.$s")"; false; }
        done
        xl destroy fx1
        e2e_wait_domain_state fx1 gone 30
        rm -rf "$XL_SNAPSHOT_DIR" "$W/disks-$step"
    done
}
