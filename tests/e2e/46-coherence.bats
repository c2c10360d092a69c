#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Config coherence on real Xen: after external snapshots and reverts the
# active layer stays at the path the admin's config names, so `xl create`
# of the unchanged config boots what the domain last ran on and never
# writes into a snapshot's frozen layer.  Each cycle runs for a PV (co1)
# and a PVH (co2) guest: xl destroy after an external snapshot, xl
# destroy after a revert to one, and a power-off from inside the guest.

load 'lib/e2e'
load 'lib/snap'

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-46
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show co1 co2
}

# recreate NAME: xl create of the guest's unchanged config; prints the
# disk counter it booted with
recreate() {
    local mark
    mark=$(log_mark "$1" 2>/dev/null)   # no console log yet: 0
    xl create "$(e2e_guest_cfg "$1")" > /dev/null 2>&1 3>&- || return 1
    boot_counter_after "$1" "$mark"
}

# coherent NAME TYPE: the external-snapshot / destroy / xl create cycle
coherent() {
    local name=$1 type=$2 img frozen n m booted sum
    e2e_start_guest "$name" "$type" 1 >/dev/null
    img=$(e2e_guest_disk "$name")
    cp "$(e2e_guest_cfg "$name")" "$E2E_WORK/$name.cfg.orig"
    e2e_wait_counter_above "$name" 10 >/dev/null
    run -0 xl-snapshot create --external --disk-only -n x1 "$name"
    frozen=$(xl-snapshot info --json "$name" x1 | jq -r '.disks[0].backing')
    [ "$(xl-snapshot info --json "$name" x1 | jq -r '.disks[0].image')" = "$img" ]
    [ "$frozen" = "$(e2e_guest_dir "$name")/xvda.x1.qcow2" ]
    # libxl's config and xenstore still name the configured path
    run -0 active_disk "$name"
    assert_output "$img"
    run -0 xenstore-read "/local/domain/0/backend/qdisk/$(e2e_domid "$name")/51712/params"
    assert_output "qcow2:$img"
    n=$(e2e_disk_counter "$frozen")
    sum=$(image_sum "$frozen")
    m=$(e2e_wait_counter_above "$name" $((n + 20)))
    [ "$(e2e_disk_counter "$frozen")" = "$n" ]
    xl destroy "$name"
    e2e_wait_domain_state "$name" gone 30
    cmp "$(e2e_guest_cfg "$name")" "$E2E_WORK/$name.cfg.orig"
    booted=$(recreate "$name")
    e2e_log "$type: snapshot at $n, ran to $m, xl create booted $booted"
    [ "$booted" -ge "$m" ]
    e2e_wait_counter_above "$name" $((booted + 10)) >/dev/null
    [ "$(e2e_disk_counter "$frozen")" = "$n" ]
    run -0 xl-snapshot revert --force --paused "$name" x1
    [ "$(image_sum "$img")" = "$sum" ]
    [ "$(image_sum "$frozen")" = "$sum" ]
    xl destroy "$name"
    e2e_wait_domain_state "$name" gone 30
}

@test "PV: external snapshot at N, runs on to M, xl destroy, xl create of the unchanged config boots M; revert gives the snapshot's data" {
    coherent co1 pv
}

# after_revert NAME: revert (running) to the external snapshot x1, run on,
# xl destroy, xl create of the unchanged config boots the reverted
# domain's latest data; x1's frozen layer stays as it was
after_revert() {
    local name=$1 img frozen n m mark booted
    img=$(e2e_guest_disk "$name")
    frozen=$(xl-snapshot info --json "$name" x1 | jq -r '.disks[0].backing')
    n=$(e2e_disk_counter "$frozen")
    mark=$(log_mark "$name")
    run -0 xl-snapshot revert --running "$name" x1
    run -0 boot_counter_after "$name" "$mark"
    assert_output "$n"
    m=$(e2e_wait_counter_above "$name" $((n + 20)))
    xl destroy "$name"
    e2e_wait_domain_state "$name" gone 30
    cmp "$(e2e_guest_cfg "$name")" "$E2E_WORK/$name.cfg.orig"
    booted=$(recreate "$name")
    e2e_log "reverted to $n, ran to $m, xl create booted $booted"
    [ "$booted" -ge "$m" ]
    e2e_wait_counter_above "$name" $((booted + 5)) >/dev/null
    [ "$(e2e_disk_counter "$frozen")" = "$n" ]
    # the old active layers are kept as their own branches
    ls "$(e2e_guest_dir "$name")" | grep -q 'xvda\.before-x1-'
    # (xl create gave the domain a new UUID: its history follows, said on stderr)
    run -0 --separate-stderr xl-snapshot check "$name"
    assert_output "No problems found."
}

# after_shutdown NAME: an external snapshot x2 of the running guest, it
# runs on, powers off from inside (xl shutdown, on_poweroff=destroy),
# xl create of the unchanged config boots the latest data; revert is exact
after_shutdown() {
    local name=$1 img frozen n m sum booted
    img=$(e2e_guest_disk "$name")
    e2e_wait_counter_above "$name" $(( $(e2e_guest_counter "$name") + 5 )) >/dev/null
    run -0 xl-snapshot create --external --disk-only -n x2 "$name"
    frozen=$(xl-snapshot info --json "$name" x2 | jq -r '.disks[0].backing')
    n=$(e2e_disk_counter "$frozen")
    sum=$(image_sum "$frozen")
    m=$(e2e_wait_counter_above "$name" $((n + 20)))
    run timeout 120 xl shutdown -w "$name"
    e2e_log "xl shutdown: $status $output"
    [ "$status" -eq 0 ] || { echo "the guest did not power off on xl shutdown" >&2; false; }
    e2e_wait_domain_state "$name" gone 30
    cmp "$(e2e_guest_cfg "$name")" "$E2E_WORK/$name.cfg.orig"
    booted=$(recreate "$name")
    e2e_log "snapshot at $n, ran to $m, shut down, xl create booted $booted"
    [ "$booted" -ge "$m" ]
    e2e_wait_counter_above "$name" $((booted + 5)) >/dev/null
    [ "$(e2e_disk_counter "$frozen")" = "$n" ]
    run -0 xl-snapshot revert --force --paused "$name" x2
    [ "$(image_sum "$img")" = "$sum" ]
    [ "$(image_sum "$frozen")" = "$sum" ]
    xl destroy "$name"
    e2e_wait_domain_state "$name" gone 30
}

@test "PV: after a revert to an external snapshot, xl create boots the reverted domain's data, the frozen layer stays" {
    after_revert co1
}

@test "PV: xl shutdown from inside the guest (on_poweroff=destroy) instead of xl destroy" {
    after_shutdown co1
}

@test "PVH: external snapshot, xl destroy, xl create of the unchanged config boots the latest data; revert is exact" {
    coherent co2 pvh
}

@test "PVH: after a revert to an external snapshot, xl create boots the reverted domain's data, the frozen layer stays" {
    after_revert co2
}

@test "PVH: xl shutdown from inside the guest (on_poweroff=destroy) instead of xl destroy" {
    after_shutdown co2
}

# this file's helpers without bats' DEBUG trap (lib/e2e.bash)
e2e_untrace_helpers
