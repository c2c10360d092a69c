#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Proves the e2e harness itself: Xen works, PV and PVH guests boot and count,
# disk counters can be read/written offline and live, save/restore resumes counting.
# One PV guest (pv1, 2 disks) is shared by the tests of this file.

load 'lib/e2e'

setup_file() {
    e2e_create_disks pv1 2
    e2e_write_disk_counter "$(e2e_guest_disk pv1 xvda)" 1000
    local t0=$SECONDS
    PV1_DOMID=$(e2e_start_guest pv1 pv 2)
    export PV1_DOMID
    e2e_log "pv1 (domid $PV1_DOMID) ready in $((SECONDS - t0)) s"
}

teardown_file() {
    e2e_destroy_all
}

@test "xl info: Xen 4.17 with HAP" {
    run xl info
    assert_success
    assert_output --regexp 'xen_version +: 4\.17'
    assert_output --regexp 'virt_caps +:.*hap'
}

@test "offline disk counter roundtrip (qcow2 sector 1)" {
    local img=$E2E_WORK/roundtrip.qcow2
    qemu-img create -q -f qcow2 "$img" 16M
    run e2e_disk_counter "$img"
    assert_success
    assert_output 0
    e2e_write_disk_counter "$img" 4242
    run e2e_disk_counter "$img"
    assert_output 4242
    rm -f "$img"
}

@test "PV guest boots from its disk counter and counts up" {
    run e2e_boot_disk_counter pv1
    assert_output 1000
    grep -aq 'boot disk xvdb 0' "$(e2e_guest_log pv1)"
    run e2e_wait_counter_above pv1 1005 30
    assert_success
}

@test "live disk counters of a running guest follow its ticks (qemu-io -U)" {
    local a b t
    e2e_wait_counter_above pv1 1005 30 >/dev/null
    a=$(e2e_disk_counter "$(e2e_guest_disk pv1 xvda)")
    b=$(e2e_disk_counter "$(e2e_guest_disk pv1 xvdb)")
    t=$(e2e_guest_counter pv1)
    e2e_log "disk xvda=$a xvdb=$b console tick=$t"
    [ "$a" -gt 1005 ]
    [ "$b" -gt 1005 ]
    # The guest writes the disks before printing the tick, and we read the disks first.
    [ "$t" -ge $((a - 1)) ]
    [ $((t - a)) -lt 50 ]
    [ "$t" -ge $((b - 1)) ]
    [ $((t - b)) -lt 50 ]
}

@test "xl save + xl restore: the guest resumes counting where it was" {
    local save=$E2E_WORK/pv1.save before after first
    e2e_wait_counter_above pv1 1005 30 >/dev/null
    run xl save pv1 "$save"
    assert_success
    e2e_wait_domain_state pv1 gone 30
    before=$(e2e_guest_counter pv1)
    sleep 1
    run xl restore "$save" 3>&-
    assert_success
    after=$(e2e_wait_counter_above pv1 "$before" 30)
    # The first tick printed after the restore follows the last one before the save.
    first=$(tr -d '\r' < "$(e2e_guest_log pv1)" | awk -v b="$before" '/^tick [0-9]+$/ && seen {print $2; exit} /^tick [0-9]+$/ && $2==b {seen=1}')
    e2e_log "before save: tick $before; first after restore: ${first:-?}; now $after"
    [ -n "$first" ]
    [ "$first" -le $((before + 2)) ]
    # ...and it still writes its disks.
    local d
    d=$(e2e_disk_counter "$(e2e_guest_disk pv1 xvda)")
    [ "$d" -gt "$before" ]
    rm -f "$save"
}

@test "PVH guest boots (HAP) and counts" {
    local t0=$SECONDS domid
    domid=$(e2e_start_guest pvh1 pvh 1)
    e2e_log "pvh1 (domid $domid) ready in $((SECONDS - t0)) s"
    run e2e_wait_counter_above pvh1 3 30
    assert_success
    xl destroy pvh1
    e2e_wait_domain_state pvh1 gone 30
}
