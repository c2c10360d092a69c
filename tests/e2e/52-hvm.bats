#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# HVM (hvmloader + SeaBIOS + qemu-xen, direct kernel boot, HAP) with one
# qcow2 disk on qdisk, which QEMU also offers the guest as an emulated IDE
# disk until the guest's xen-platform-pci unplug: disk-only and external
# snapshots of the running guest revert exactly (checksums); a memory
# snapshot at counter N: the guest runs on, revert resumes it from about N
# with the disk data of snapshot time.  One HVM boot for the whole file
# (slow under TCG); its time is printed.

load 'lib/e2e'
load 'lib/snap'

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-52
    # one HVM boot is minutes under TCG: one retry at most
    export E2E_GUEST_MEM=128 E2E_GUEST_BOOT_TIMEOUT=${E2E_HVM_BOOT_TIMEOUT:-300} E2E_BOOT_RETRIES=1
    export EXP=$BATS_FILE_TMPDIR/expected
    # the boot's evidence: the kernel's messages also on the emulated serial
    # port, into a file (a console before hvc0 is up)
    export E2E_GUEST_EXTRA="console=ttyS0"
}

# hvm_cfg NAME: the guest's serial port goes to serial.log in its dir
hvm_cfg() {
    E2E_GUEST_CFG="serial = \"file:$(e2e_guest_dir "$1")/serial.log\""
    export E2E_GUEST_CFG
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show hv1
    [ -n "${BATS_TEST_COMPLETED:-}" ] || tail -n 15 "$(e2e_guest_dir hv1)/serial.log" 2>/dev/null | sed 's/^/# serial hv1: /'
}

# qemu_blocks NAME: QEMU's block devices of domain NAME ("info block"), logged
qemu_blocks() {
    local l
    xl qemu-monitor-command "$1" "info block" 2>&1 | tr -d '\r' |
        while IFS= read -r l; do e2e_log "  qemu: $l"; echo "$l"; done
}

@test "HVM: the guest boots (direct kernel boot) and writes its disk through the PV path" {
    local t0=$SECONDS
    hvm_cfg hv1
    mkdir -p "$(e2e_guest_dir hv1)"
    e2e_start_guest hv1 hvm 1 >/dev/null
    e2e_log "HVM boot: $((SECONDS - t0)) s (xl create to guest ready: $(cat "$(e2e_guest_dir hv1)/boot-secs") s)"
    tr -d '\r' < "$(e2e_guest_log hv1)" | grep -a 'guest ready' | head -n 1 | while IFS= read -r l; do e2e_log "$l"; done
    e2e_wait_counter_above hv1 10 >/dev/null
    e2e_log "QEMU's block devices of the running HVM guest:"
    run -0 qemu_blocks hv1
    assert_output --partial "$(e2e_guest_disk hv1)"
    [ "$(e2e_disk_counter "$(e2e_guest_disk hv1)")" -gt 10 ]
}

@test "HVM: before the guest has unplugged its emulated disk, a snapshot is refused" {
    # created paused: QEMU serves the disk both as IDE and as xen-block
    hvm_cfg hv2
    e2e_create_disks hv2 1
    e2e_write_cfg hv2 hvm 1
    run -0 xl create -p "$(e2e_guest_cfg hv2)" 3>&-
    e2e_log "QEMU's block devices of an HVM guest that has not run yet:"
    run -0 qemu_blocks hv2
    run xls create --disk-only -n p1 hv2
    e2e_log "create: $status $output"
    [ "$status" -eq 1 ]
    assert_output --partial "open 2 times"
    assert_output --partial "unplug"
    run -0 image_snapshots "$(e2e_guest_disk hv2)"
    assert_output ""
    run -0 xls check
    assert_output "No problems found."
    xl destroy hv2
    e2e_wait_domain_state hv2 gone 30
}

@test "HVM: disk-only and external snapshots of the running guest" {
    e2e_wait_counter_above hv1 $(( $(e2e_guest_counter hv1) + 5 )) >/dev/null
    base=$(e2e_guest_disk hv1)
    run -0 xls create --disk-only -n d1 hv1
    echo "hv1 d1 sum $(snap_sum "$base" d1)" >> "$EXP"
    e2e_wait_counter_above hv1 $(( $(e2e_guest_counter hv1) + 10 )) >/dev/null
    run -0 xls create --external --disk-only -n x1 hv1
    frozen=$(e2e_guest_dir hv1)/xvda.x1.qcow2
    echo "hv1 x1 extsum $(image_sum "$frozen")" >> "$EXP"
    s=$(e2e_disk_counter "$frozen")
    # the guest writes on, into the overlay, not into the frozen layer
    t=$(e2e_wait_counter_above hv1 $((s + 10)))
    sleep 1
    [ "$(e2e_disk_counter "$(active_disk hv1)")" -ge "$t" ]
    [ "$(e2e_disk_counter "$frozen")" -eq "$s" ]
    runs_on hv1
}

@test "HVM: memory snapshot at counter N, the guest runs on, revert resumes it from about N" {
    run -0 xls create -n m1 hv1
    assert_output --partial "(internal, with memory)"
    img=$(active_disk hv1)
    d=$(snap_disk_counter "$img" m1)
    echo "hv1 m1 counter $d" >> "$EXP"
    runs_on hv1
    m=$(e2e_wait_counter_above hv1 $((d + 30)))
    mark=$(log_mark hv1)
    run -0 xls revert --force hv1 m1
    first=$(rewind_tick hv1 "$mark")
    e2e_log "HVM: snapshot $d, before revert $m, first tick after revert $first"
    near "$first" "$d"
    [ "$first" -lt "$m" ]
    # the disk holds the data of snapshot time, and the guest writes on from it
    n=$(e2e_wait_counter_above hv1 $((first + 5)))
    sleep 1
    c=$(e2e_disk_counter "$(active_disk hv1)")
    [ "$c" -ge "$first" ] && [ "$c" -lt "$m" ]
    e2e_log "QEMU's block devices after the revert (a restore: no unplug by the guest):"
    qemu_blocks hv1 >/dev/null
}

@test "HVM: every snapshot reverts exactly (checksums, counter)" {
    all_revert_exact
    runs_on hv1
}

@test "HVM: a snapshot of the restored guest" {
    e2e_log "QEMU's block devices of the restored guest:"
    qemu_blocks hv1 >/dev/null
    run xls create --disk-only -n after1 hv1
    e2e_log "create after the restore: $status $output"
    [ "$status" -eq 0 ]
    runs_on hv1
}

# this file's helpers without bats' DEBUG trap (lib/e2e.bash)
e2e_untrace_helpers
