#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The reflink disk driver on real Xen: a PV guest on a raw file served by
# blkback through a loop device (disk=['/path/disk.img,raw,xvda,w']), the
# file on an XFS file system made with reflink=1 on a loop device over a
# sparse file in dom0's RAM.  A memory snapshot of the running guest and
# its revert (the file's data of snapshot time, the counter resumed from
# about there); disk-only snapshots of the running and of the stopped
# guest revert exactly; delete removes the copies and leaves the disk.
# (A raw file on a file system without reflink copies is refused:
# tests/e2e/55-lvm.bats, tests/bats/62-storage-drivers.bats.)

load 'lib/e2e'
load 'lib/snap'

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-56
    local t0=$SECONDS
    modprobe xfs
    mkdir -p "$E2E_WORK/xfs"
    truncate -s 320M "$E2E_WORK/xfs.img"
    LOOP=$(losetup -f --show "$E2E_WORK/xfs.img")
    echo "$LOOP" > "$E2E_WORK/xfs-loop"
    mkfs.xfs -q -f -m reflink=1 "$LOOP"
    mount -t xfs "$LOOP" "$E2E_WORK/xfs"
    truncate -s 16M "$E2E_WORK/xfs/disk.img"
    e2e_log "XFS (reflink=1) on $LOOP: $((SECONDS - t0)) s"
}

teardown_file() {
    e2e_destroy_all
    umount "$E2E_WORK/xfs" 2>/dev/null || true
    [ ! -f "$E2E_WORK/xfs-loop" ] || losetup -d "$(cat "$E2E_WORK/xfs-loop")" 2>/dev/null || true
    rm -f "$E2E_WORK/xfs.img"
}

teardown() {
    on_failure_show rf
    [ -z "${BATS_TEST_COMPLETED:-}" ] || return 0
    ls -l "$E2E_WORK/xfs" 2>&1 | sed 's/^/# /'
}

# file_counter FILE: the guest's counter in sector 1 of FILE.
file_counter() {
    local v
    v=$(dd if="$1" bs=512 skip=1 count=1 2>/dev/null | head -c 20 | tr -cd 0-9 | sed 's/^0*//')
    echo "${v:-0}"
}

# copies: the files next to the disk, but the disk.
copies() { ls -A "$E2E_WORK/xfs" | grep -v '^disk\.img$' || true; }

@test "memory snapshot of the running guest: a reflink copy; revert gives the file's data of snapshot time and resumes there" {
    local t0=$SECONDS disk=$E2E_WORK/xfs/disk.img
    e2e_write_cfg rf pv 1
    sed -i "s|^disk = .*|disk = [ '$disk,raw,xvda,w' ]|" "$(e2e_guest_cfg rf)"
    _e2e_boot_once rf >/dev/null || { cat "$(e2e_guest_dir rf)/boot-failure" >&2; return 1; }
    e2e_log "rf booted on $disk in $((SECONDS - t0)) s"
    e2e_wait_counter_above rf 10 >/dev/null
    t0=$SECONDS
    run -0 xls create -n m1 rf
    assert_output --partial "Snapshot 'm1' of domain 'rf' created (volume, with memory)"
    e2e_log "create with memory: $((SECONDS - t0)) s"
    run -0 xls info --json rf m1
    run -0 jq -r '.disks[0] | "\(.snapshot) \(.driver) \(.image) \(.snapshot_file)"' <<< "$output"
    assert_output "volume reflink $disk $E2E_WORK/xfs/disk.m1.img"
    run -0 stat -c %a "$E2E_WORK/xfs/disk.m1.img"
    assert_output 600
    sum=$(md5sum < "$E2E_WORK/xfs/disk.m1.img")
    d=$(file_counter "$E2E_WORK/xfs/disk.m1.img")
    m=$(e2e_wait_counter_above rf $((d + 30)) 60)
    e2e_log "disk counter in the copy $d; guest ran on to $m"
    [ "$(md5sum < "$disk")" != "$sum" ]

    mark=$(log_mark rf)
    t0=$SECONDS
    run -0 xls revert --force --paused rf m1
    e2e_wait_domain_state rf paused 30
    e2e_log "revert: $((SECONDS - t0)) s"
    # restored paused: the disk holds exactly the data of snapshot time
    [ "$(md5sum < "$disk")" = "$sum" ]
    run -0 stat -c %a "$disk"
    assert_output 644
    xl unpause rf
    first=$(rewind_tick rf "$mark")
    e2e_log "first tick after revert $first"
    near "$first" "$d"
    [ "$first" -lt "$m" ]
    # the copy stays, for another revert
    [ "$(md5sum < "$E2E_WORK/xfs/disk.m1.img")" = "$sum" ]
}

@test "disk-only snapshot of the running guest: revert --running boots from exactly its data" {
    [ "$(e2e_domain_state rf)" = running ] || skip "needs the guest of the test before"
    run -0 xls create --disk-only -n d1 rf
    assert_output --partial "(volume, disks only, crash-consistent)"
    d=$(file_counter "$E2E_WORK/xfs/disk.d1.img")
    e2e_wait_counter_above rf $((d + 20)) >/dev/null
    mark=$(log_mark rf)
    run -0 xls revert --force --running rf d1
    b=$(boot_counter_after rf "$mark")
    e2e_log "snapshot disk counter $d, boot disk-counter $b"
    [ "$b" = "$d" ]
}

@test "disk-only snapshot of the stopped guest, revert puts its data back exactly; delete removes the copies and leaves the disk" {
    [ "$(e2e_domain_state rf)" = running ] || skip "needs the guest of the test before"
    local disk=$E2E_WORK/xfs/disk.img
    xl destroy rf
    e2e_wait_domain_state rf gone 30
    x=$(file_counter "$disk")
    run -0 xls create -n d2 rf
    assert_output --partial "(volume, disks only)"
    [ "$(file_counter "$E2E_WORK/xfs/disk.d2.img")" = "$x" ]
    printf '%020d\n' 999999 | dd of="$disk" bs=512 seek=1 count=1 conv=sync,notrunc 2>/dev/null
    run -0 xls revert rf d2
    e2e_log "stopped: counter $x; after revert $(file_counter "$disk")"
    [ "$(file_counter "$disk")" = "$x" ]
    [ "$(e2e_domain_state rf)" = gone ]
    run -0 xls check rf
    run -0 copies
    assert_output "$(printf 'disk.d1.img\ndisk.d2.img\ndisk.m1.img')"
    sum=$(md5sum < "$disk")
    for s in m1 d1 d2; do run -0 xls delete rf "$s"; done
    run -0 copies
    assert_output ""
    [ "$(md5sum < "$disk")" = "$sum" ]
}

# this file's helpers without bats' DEBUG trap (lib/e2e.bash)
e2e_untrace_helpers
