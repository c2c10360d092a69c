#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# create / revert on real Xen: memory snapshots (PV and PVH), disk-only
# snapshots of running and stopped guests, revert after xl destroy, two
# disks captured at one instant, xl restore of the memory image.

load 'lib/e2e'
load 'lib/snap'

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-30
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show cr1 cr2 pvh1
}

@test "PV: create with memory, run on, revert: the guest counts on from the snapshot" {
    e2e_start_guest cr1 pv 1 >/dev/null
    e2e_wait_counter_above cr1 10 >/dev/null
    # a permissive umask must not loosen any mode of the store
    run -0 bash -c 'umask 000; exec xl-snapshot create -n m1 -d "memory snapshot" cr1'
    assert_output --partial "Snapshot 'm1' of domain 'cr1' created (internal, with memory)"
    n=$(e2e_guest_counter cr1)
    d=$(snap_disk_counter "$(e2e_guest_disk cr1)" m1)
    e2e_log "at snapshot: console tick ~$n, disk counter in snapshot $d"
    m=$(e2e_wait_counter_above cr1 $((n + 30)) 60)
    run -0 xl-snapshot info cr1 m1
    assert_line "State:        ready"
    assert_line "Current:      yes"
    [ "$(stat -c %a "$XL_SNAPSHOT_DIR/$(uuid_of cr1)/m1/memory.save")" = 600 ]
    [ "$(stat -c %a "$XL_SNAPSHOT_DIR/$(uuid_of cr1)/m1/record.json")" = 600 ]
    for dir in "$XL_SNAPSHOT_DIR" "$XL_SNAPSHOT_DIR/$(uuid_of cr1)" \
               "$XL_SNAPSHOT_DIR/$(uuid_of cr1)/m1"; do
        [ "$(stat -c %a "$dir")" = 700 ]
    done

    run -1 xl-snapshot revert cr1 m1
    assert_output --partial "is running"
    mark=$(log_mark cr1)
    run -0 xl-snapshot revert --force cr1 m1
    e2e_wait_domain_state cr1 running 30
    first=$(rewind_tick cr1 "$mark")
    e2e_log "before revert: tick $m; first tick after revert: $first"
    near "$first" "$d"
    [ "$first" -lt "$m" ]
    # the disk went back too: the guest writes on from the snapshot's value
    now=$(e2e_disk_counter "$(e2e_guest_disk cr1)")
    [ "$now" -lt "$m" ]
    run -0 xl-snapshot current cr1
    assert_output m1
}

@test "PV: xl restore of the memory image works" {
    uuid=$(uuid_of cr1)
    xl destroy cr1
    e2e_wait_domain_state cr1 gone 30
    mark=$(log_mark cr1)
    run -0 xl restore "$XL_SNAPSHOT_DIR/$uuid/m1/memory.save" 3>&-
    first=$(first_tick_after cr1 "$mark")
    d=$(snap_disk_counter "$(e2e_guest_disk cr1)" m1)
    e2e_log "xl restore: first tick $first, snapshot disk counter $d"
    near "$first" "$d"
}

@test "PV: disk-only snapshot of a running guest, revert --running boots from it" {
    e2e_wait_counter_above cr1 5 >/dev/null
    run -0 xl-snapshot create --disk-only -n d1 cr1
    assert_output --partial "disks only, crash-consistent"
    d=$(snap_disk_counter "$(e2e_guest_disk cr1)" d1)
    run -0 xl-snapshot info --json cr1 d1
    run -0 jq -r '"\(.memory) \(.domstate) \(.parent) \(.type)"' <<< "$output"
    assert_output "null running m1 internal"
    e2e_wait_counter_above cr1 $((d + 20)) >/dev/null
    mark=$(log_mark cr1)
    run -0 xl-snapshot revert --force --running cr1 d1
    b=$(boot_counter_after cr1 "$mark")
    e2e_log "snapshot disk counter $d, guest booted with $b"
    [ "$b" -eq "$d" ]
    # the reverted domain is monitored like one xl created: a guest
    # reboot restarts it (on_reboot="restart")
    e2e_wait_counter_above cr1 $((b + 5)) >/dev/null
    mark=$(log_mark cr1)
    xl reboot cr1
    r=$(boot_counter_after cr1 "$mark")
    e2e_log "after xl reboot the guest booted again with disk counter $r"
    [ "$r" -gt "$b" ]
}

@test "stopped guest: disk-only snapshot with qemu-img, revert after xl destroy" {
    xl destroy cr1
    e2e_wait_domain_state cr1 gone 30
    img=$(e2e_guest_disk cr1)
    e2e_write_disk_counter "$img" 7000
    run -0 xl-snapshot create -n off1 cr1
    assert_output --partial "(internal, disks only)"
    run -0 xl-snapshot info --json cr1 off1
    run -0 jq -r '.domstate' <<< "$output"
    assert_output shutoff
    e2e_write_disk_counter "$img" 9000
    # disk-only revert leaves the domain off; --running starts it
    run -0 xl-snapshot revert cr1 off1
    [ "$(e2e_domain_state cr1)" = gone ]
    [ "$(e2e_disk_counter "$img")" = 7000 ]
    e2e_write_disk_counter "$img" 9000
    mark=$(log_mark cr1)
    run -0 xl-snapshot revert --running cr1 off1
    run -0 boot_counter_after cr1 "$mark"
    assert_output 7000
}

@test "revert to a memory snapshot after xl destroy" {
    xl destroy cr1
    e2e_wait_domain_state cr1 gone 30
    uuid=$(jq -r .domain.uuid < <(xl-snapshot info --json cr1 m1))
    mark=$(log_mark cr1)
    run -0 xl-snapshot revert "$uuid" m1
    first=$(first_tick_after cr1 "$mark")
    d=$(snap_disk_counter "$(e2e_guest_disk cr1)" m1)
    near "$first" "$d"
    run -0 xl-snapshot list --tree cr1
    e2e_log "$output"
    # the restored domain is watched as xl watches its domains: a guest
    # reboot restarts it (on_reboot), a power-off destroys it (on_poweroff)
    mark=$(log_mark cr1)
    xl reboot cr1
    r=$(boot_counter_after cr1 "$mark")
    e2e_log "after xl reboot the restored guest booted with disk counter $r"
    run timeout 120 xl shutdown -w cr1
    e2e_log "xl shutdown: $status $output"
    [ "$status" -eq 0 ] || { echo "the guest did not power off on xl shutdown" >&2; false; }
    e2e_wait_domain_state cr1 gone 30
}

# bats test_tags=beyond-core
@test "two disks are captured at the same instant" {
    e2e_start_guest cr2 pv 2 >/dev/null
    e2e_wait_counter_above cr2 10 >/dev/null
    for i in 1 2 3; do
        run -0 xl-snapshot create --disk-only -n t$i cr2
        sleep 0.3
    done
    # read the snapshots with the guest gone (no image in use)
    xl destroy cr2
    e2e_wait_domain_state cr2 gone 30
    for i in 1 2 3; do
        a=$(snap_disk_counter "$(e2e_guest_disk cr2 xvda)" t$i)
        b=$(snap_disk_counter "$(e2e_guest_disk cr2 xvdb)" t$i)
        e2e_log "t$i: xvda $a xvdb $b"
        # one loop step writes xvda then xvdb: an instant sees b = a or a - 1
        [ "$b" -le "$a" ]
        [ "$b" -ge $((a - 1)) ]
    done
}

# bats test_tags=beyond-core
@test "PVH: create with memory and revert" {
    e2e_start_guest pvh1 pvh 1 >/dev/null
    e2e_wait_counter_above pvh1 10 >/dev/null
    run -0 xl-snapshot create -n h1 pvh1
    d=$(snap_disk_counter "$(e2e_guest_disk pvh1)" h1)
    m=$(e2e_wait_counter_above pvh1 $((d + 30)))
    mark=$(log_mark pvh1)
    run -0 xl-snapshot revert --force pvh1 h1
    first=$(rewind_tick pvh1 "$mark")
    e2e_log "PVH: snapshot $d, before revert $m, first after revert $first"
    near "$first" "$d"
    [ "$first" -lt "$m" ]
    # the restored domain is watched: a power-off destroys it (on_poweroff)
    run timeout 120 xl shutdown -w pvh1
    e2e_log "xl shutdown: $status $output"
    [ "$status" -eq 0 ] || { echo "the guest did not power off on xl shutdown" >&2; false; }
    e2e_wait_domain_state pvh1 gone 30
}

# bats test_tags=beyond-core
@test "create --halt: the domain is destroyed after the snapshot, revert brings it back" {
    # pvh1 (destroyed above) comes back from its memory snapshot h1: a
    # restore, no boot
    [ "$(e2e_domain_state pvh1)" = gone ] || xl destroy pvh1
    e2e_wait_domain_state pvh1 gone 30
    mark=$(log_mark pvh1)
    run -0 xl-snapshot revert pvh1 h1
    e2e_wait_domain_state pvh1 running 30
    first_tick_after pvh1 "$mark" >/dev/null
    run -0 xl-snapshot create --halt -n halt1 pvh1
    assert_line "Snapshot 'halt1' of domain 'pvh1' created (internal, with memory)."
    assert_line "Domain 'pvh1' halted (destroyed) after the snapshot."
    e2e_wait_domain_state pvh1 gone 10
    run -0 xl-snapshot info --json pvh1 halt1
    run -0 jq -r '"\(.state) \(.domstate) \(.current) \(.parent) \(.memory != null)"' <<< "$output"
    assert_output "ready running true h1 true"
    d=$(snap_disk_counter "$(e2e_guest_disk pvh1)" halt1)
    mark=$(log_mark pvh1)
    run -0 xl-snapshot revert pvh1 halt1
    e2e_wait_domain_state pvh1 running 30
    first=$(first_tick_after pvh1 "$mark")
    e2e_log "create --halt: snapshot disk counter $d, first tick after revert $first"
    near "$first" "$d"
    # a snapshot that fails halts nothing
    run -1 xl-snapshot create --halt -n halt1 pvh1
    assert_output --partial "domain already has a snapshot 'halt1'"
    [ "$(e2e_domain_state pvh1)" = running ]
    # disk-only: destroyed as well (the disks since the snapshot are as
    # after a power cut; the snapshot is crash-consistent, as always)
    run -0 xl-snapshot create --halt --disk-only -n halt2 pvh1
    assert_line "Domain 'pvh1' halted (destroyed) after the snapshot."
    e2e_wait_domain_state pvh1 gone 10
    run -0 xl-snapshot info --json pvh1 halt2
    run -0 jq -r '"\(.state) \(.domstate) \(.memory) \(.parent)"' <<< "$output"
    assert_output "ready running null halt1"
}
