#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The lvm disk driver on real Xen: PV guests on LVM logical volumes served
# by blkback (disk=['phy:/dev/VG/LV,xvda,w']), the volume group on a loop
# device over a sparse file in dom0's RAM.  Thin: memory snapshot and
# revert, disk-only snapshots of the running and the stopped guest, delete
# leaves no snapshot volume and the origin intact.  Thick (classic):
# memory snapshot and revert (merged, then made again); an overflowed one
# is reported by check and refused by revert.  A raw file on blkback is
# refused and nothing changes; a qcow2 disk (qdisk) and an LVM disk of
# one guest are captured at one instant.  A thick snapshot of the size
# create --snapshot-size asks; filling up, it is warned about.  A thin
# revert killed half way (XL_SNAPSHOT_FAULT) is finished by check
# --repair, which removes or puts back only the old origin it tagged.

load 'lib/e2e'
load 'lib/snap'

VG=xsvg

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-55
    # no udev in the e2e dom0: libdevmapper makes the nodes itself
    export DM_DISABLE_UDEV=1 LVM_SUPPRESS_FD_WARNINGS=1
    local m t0=$SECONDS
    for m in dm-mod dm-snapshot dm-thin-pool; do modprobe "$m"; done
    mkdir -p "$E2E_WORK"
    truncate -s 400M "$E2E_WORK/lvm-pv.img"
    LOOP=$(losetup -f --show "$E2E_WORK/lvm-pv.img")
    echo "$LOOP" > "$E2E_WORK/lvm-loop"
    pvcreate -q "$LOOP"
    vgcreate -q "$VG" "$LOOP"
    lvcreate -q -L 128M -T "$VG/pool"
    lvcreate -q -V 32M -T "$VG/pool" -n thin1
    lvcreate -q -L 32M -n thick1 "$VG"
    e2e_log "volume group $VG on $LOOP: $((SECONDS - t0)) s"
}

teardown_file() {
    e2e_destroy_all
    vgremove -q -f "$VG" >/dev/null 2>&1 || true
    [ ! -f "$E2E_WORK/lvm-loop" ] || losetup -d "$(cat "$E2E_WORK/lvm-loop")" 2>/dev/null || true
    rm -f "$E2E_WORK/lvm-pv.img"
}

teardown() {
    on_failure_show lt lk lm
    [ -z "${BATS_TEST_COMPLETED:-}" ] || return 0
    lvs -a -o lv_name,lv_attr,origin,lv_tags "$VG" 2>&1 | sed 's/^/# /'
}

# lv_start NAME DISKSPEC: boot a PV guest whose only disk is DISKSPEC.
lv_start() {
    local t0=$SECONDS
    e2e_write_cfg "$1" pv 1
    sed -i "s|^disk = .*|disk = [ '$2' ]|" "$(e2e_guest_cfg "$1")"
    _e2e_boot_once "$1" >/dev/null || { cat "$(e2e_guest_dir "$1")/boot-failure" >&2; return 1; }
    e2e_log "$1 booted on $2 in $((SECONDS - t0)) s"
}

# dev_counter DEV: the guest's counter in sector 1 of a block device.
dev_counter() {
    local v
    v=$(dd if="$1" bs=512 skip=1 count=1 iflag=direct 2>/dev/null | head -c 20 | tr -cd 0-9 | sed 's/^0*//')
    echo "${v:-0}"
}

# dev_write_counter DEV N: write counter N into sector 1 (device not in use).
dev_write_counter() {
    printf '%020d\n' "$2" | dd of="$1" bs=512 seek=1 count=1 conv=sync oflag=direct 2>/dev/null
}

# snap_lv_counter LV: the counter inside a (thin, activation-skipped)
# snapshot volume: activated for the read, deactivated again.
snap_lv_counter() {
    lvchange -q -ay -K "$VG/$1" || return 1
    dev_counter "/dev/$VG/$1"
    lvchange -q -an "$VG/$1"
}

# tagged_lvs: the LVs carrying the tool's tag.
tagged_lvs() { lvs --noheadings -o lv_name @xlsnap 2>/dev/null | tr -d ' ' | sort; }

@test "thin: memory snapshot of the running guest, revert resumes it from the snapshot" {
    lv_start lt "phy:/dev/$VG/thin1,xvda,w"
    e2e_wait_counter_above lt 10 >/dev/null
    t0=$SECONDS
    run -0 xls create -n m1 lt
    assert_output --partial "Snapshot 'm1' of domain 'lt' created (volume, with memory)"
    e2e_log "create with memory: $((SECONDS - t0)) s"
    run -0 xls info --json lt m1
    run -0 jq -r '.disks[0] | "\(.snapshot) \(.driver) \(.volume_group) \(.volume) \(.snapshot_volume)"' <<< "$output"
    assert_output "volume lvm $VG thin1 thin1-xs-m1"
    run -0 lvs --noheadings -o lv_tags "$VG/thin1-xs-m1"
    assert_output --partial "xlsnap"
    assert_output --partial "xlsnap-uuid-$(uuid_of lt)"
    d=$(snap_lv_counter thin1-xs-m1)
    m=$(e2e_wait_counter_above lt $((d + 30)) 60)
    e2e_log "disk counter in snapshot $d; guest ran on to $m"

    mark=$(log_mark lt)
    t0=$SECONDS
    run -0 xls revert --force lt m1
    e2e_wait_domain_state lt running 30
    first=$(rewind_tick lt "$mark")
    e2e_log "revert: $((SECONDS - t0)) s; first tick after revert $first"
    near "$first" "$d"
    [ "$first" -lt "$m" ]
    # the origin got the snapshot's data, under its own name (the config's path)
    sleep 1
    now=$(dev_counter "/dev/$VG/thin1")
    [ "$now" -lt "$m" ]
    run -0 lvs --noheadings -o lv_name "$VG"
    refute_output --partial "xs-old"
    # the snapshot stays, for another revert
    run -0 lvs "$VG/thin1-xs-m1"
}

@test "thin: disk-only snapshot of the running guest, revert --running boots from exactly its data" {
    [ "$(e2e_domain_state lt)" = running ] || skip "needs the guest of the test before"
    run -0 xls create --disk-only -n d1 lt
    assert_output --partial "disks only"
    d=$(snap_lv_counter thin1-xs-d1)
    e2e_wait_counter_above lt $((d + 20)) >/dev/null
    mark=$(log_mark lt)
    run -0 xls revert --force --running lt d1
    b=$(boot_counter_after lt "$mark")
    e2e_log "snapshot disk counter $d, boot disk-counter $b"
    [ "$b" = "$d" ]
}

@test "thin: disk-only snapshot of the stopped guest, revert puts its data back exactly" {
    [ "$(e2e_domain_state lt)" = running ] || skip "needs the guest of the test before"
    xl destroy lt
    e2e_wait_domain_state lt gone 30
    x=$(dev_counter "/dev/$VG/thin1")
    run -0 xls create -n d2 lt
    assert_output --partial "(volume, disks only)"
    [ "$(snap_lv_counter thin1-xs-d2)" = "$x" ]
    dev_write_counter "/dev/$VG/thin1" 999999
    [ "$(dev_counter "/dev/$VG/thin1")" = 999999 ]
    run -0 xls revert lt d2
    e2e_log "stopped: counter $x; after revert $(dev_counter "/dev/$VG/thin1")"
    [ "$(dev_counter "/dev/$VG/thin1")" = "$x" ]
    [ "$(e2e_domain_state lt)" = gone ]
    run -0 xls check lt
}

@test "thin: delete leaves no snapshot volume and the origin intact" {
    x=$(dev_counter "/dev/$VG/thin1")
    # an administrator's own snapshot of the origin is never touched
    lvcreate -q -s -n admin-snap "$VG/thin1"
    run -0 tagged_lvs
    assert_output "$(printf 'thin1-xs-d1\nthin1-xs-d2\nthin1-xs-m1')"
    for s in m1 d1 d2; do run -0 xls delete lt "$s"; done
    run -0 tagged_lvs
    assert_output ""
    run -0 lvs --noheadings -o lv_name "$VG"
    assert_output --partial "thin1"
    assert_output --partial "admin-snap"
    [ "$(dev_counter "/dev/$VG/thin1")" = "$x" ]
    lvremove -q -f "$VG/admin-snap"
}

@test "thick: memory snapshot of the running guest, revert resumes it from the snapshot (merged, made again)" {
    lv_start lk "phy:/dev/$VG/thick1,xvda,w"
    e2e_wait_counter_above lk 10 >/dev/null
    run -0 xls create -n k1 lk
    assert_output --partial "(volume, with memory)"
    run -0 lvs --noheadings -o lv_attr,origin,lv_size --units m "$VG/thick1-xs-k1"
    e2e_log "thick snapshot: $output"
    assert_output --regexp "^ *s"
    assert_output --partial "thick1"
    d=$(dev_counter "/dev/$VG/thick1-xs-k1")
    m=$(e2e_wait_counter_above lk $((d + 30)) 60)
    mark=$(log_mark lk)
    t0=$SECONDS
    run -0 xls revert --force lk k1
    e2e_wait_domain_state lk running 30
    first=$(rewind_tick lk "$mark")
    e2e_log "disk counter in snapshot $d, ran on to $m; revert $((SECONDS - t0)) s, first tick after $first"
    near "$first" "$d"
    [ "$first" -lt "$m" ]
    # the snapshot is there again, with the data of snapshot time
    run -0 lvs --noheadings -o lv_attr,lv_tags "$VG/thick1-xs-k1"
    assert_output --partial "xlsnap-uuid-$(uuid_of lk)"
    [ "$(dev_counter "/dev/$VG/thick1-xs-k1")" = "$d" ]
    run -0 xls delete lk k1
    run -0 tagged_lvs
    assert_output ""
    run -0 lvs "$VG/thick1"
    xl destroy lk
    e2e_wait_domain_state lk gone 30
}

@test "thick: an overflowed snapshot: check reports it, revert refuses it, the origin keeps its data" {
    lvcreate -q -L 80M -n thick2 "$VG"
    dev_write_counter "/dev/$VG/thick2" 4242
    e2e_write_cfg lo pv 1
    sed -i "s|^disk = .*|disk = [ 'phy:/dev/$VG/thick2,xvda,w' ]|" "$(e2e_guest_cfg lo)"
    # the size asked (default: 64 MiB for an 80 MiB volume)
    run -0 xls create -c "$(e2e_guest_cfg lo)" -n o1 --snapshot-size 40M
    run -0 lvs --noheadings -o lv_size --units m "$VG/thick2-xs-o1"
    e2e_log "snapshot of an 80 MiB volume: $output"
    assert_output --partial "40.00m"
    run -0 xls list -l lo
    refute_output --partial "warning:"
    # filling up: 34 of its 40 MiB written, a warning (not yet invalid)
    dd if=/dev/zero of="/dev/$VG/thick2" bs=1M count=34 oflag=direct 2>/dev/null
    run -0 lvs --noheadings -o data_percent "$VG/thick2-xs-o1"
    e2e_log "after 34 MiB: $output %"
    run -0 xls list -l lo
    assert_output --partial "warning: disk xvda: snapshot volume $VG/thick2-xs-o1 is "
    assert_output --partial "% full (its copy-on-write store of 40 MiB"
    run -0 xls info lo o1
    assert_output --partial "Warning:      disk xvda: snapshot volume $VG/thick2-xs-o1 is "
    run -0 xls info --json lo o1
    run -0 python3 -c 'import json,sys; print(json.load(sys.stdin)["warnings"][0])' <<< "$output"
    assert_output --partial "lvextend"
    run -1 xls check lo
    assert_output --partial "snapshot 'o1': disk xvda: snapshot volume $VG/thick2-xs-o1 is "
    # more writes to the origin than the snapshot's 40 MiB store holds
    dd if=/dev/zero of="/dev/$VG/thick2" bs=1M count=76 oflag=direct 2>/dev/null
    dev_write_counter "/dev/$VG/thick2" 5555
    run -0 lvs --noheadings -o lv_attr "$VG/thick2-xs-o1"
    e2e_log "after the writes: $output"
    run -1 xls check lo
    assert_output --partial "snapshot volume $VG/thick2-xs-o1 is invalid (its copy-on-write store overflowed)"
    run -1 xls revert lo o1
    assert_output --partial "overflowed"
    [ "$(dev_counter "/dev/$VG/thick2")" = 5555 ]
    run -0 xls delete lo o1
    run -0 tagged_lvs
    assert_output ""
    lvremove -q -f "$VG/thick2"
}

@test "check: a tagged snapshot volume no record names is removed by --repair (only it); an old origin a revert left is reported" {
    local t0=$SECONDS
    lvcreate -q -V 16M -T "$VG/pool" -n thin3
    e2e_write_cfg lr pv 1
    sed -i "s|^disk = .*|disk = [ 'phy:/dev/$VG/thin3,xvda,w' ]|" "$(e2e_guest_cfg lr)"
    run -0 xls create -c "$(e2e_guest_cfg lr)" -n r1
    u=$(lvs --noheadings -o lv_tags "$VG/thin3-xs-r1" | grep -o 'xlsnap-uuid-[0-9a-f-]*')
    # as the tool makes one (a create killed before its record), and an
    # admin's: one of the two tags only, and none
    lvcreate -q -s -n thin3-xs-ghost --addtag xlsnap --addtag "$u" --addtag xlsnap-snap-ghost "$VG/thin3"
    lvcreate -q -s -n admin1 --addtag "$u" "$VG/thin3"
    lvcreate -q -s -n admin2 "$VG/thin3"
    # the old origin a thin revert killed before its last step leaves
    lvcreate -q -V 16M -T "$VG/pool" -n thin3-xs-old1764000000
    run -1 xls check lr
    assert_output --partial "logical volume $VG/thin3-xs-ghost is tagged as a snapshot volume of lr, but no snapshot names it"
    assert_output --partial "logical volume $VG/thin3-xs-old1764000000 is left from an interrupted revert of lr"
    refute_output --partial admin
    refute_output --partial "thin3-xs-r1"
    run -1 xls check --repair lr
    assert_output --partial "removed logical volume $VG/thin3-xs-ghost"
    assert_output --partial "left in place"
    run -0 lvs --noheadings -o lv_name "$VG"
    refute_output --partial "thin3-xs-ghost"
    assert_output --partial "admin1"
    assert_output --partial "admin2"
    assert_output --partial "thin3-xs-r1"
    assert_output --partial "thin3-xs-old1764000000"
    lvremove -q -f "$VG/thin3-xs-old1764000000" "$VG/admin1" "$VG/admin2"
    run -0 xls check lr
    run -0 xls delete lr r1
    run -0 tagged_lvs
    assert_output ""
    lvremove -q -f "$VG/thin3"
    e2e_log "orphans: $((SECONDS - t0)) s"
}

# old_lvs: the old origins of thin4 a revert set aside, with their tags.
old_lvs() { lvs --noheadings -o lv_name,lv_tags "$VG" 2>/dev/null | grep 'thin4-xs-old' | tr -s ' ' | sed 's/^ //; s/ $//'; }

@test "check --repair: a thin revert killed half way is finished; the old origin it tagged is put back or removed, an untagged one never" {
    local t0=$SECONDS cfg
    lvcreate -q -V 16M -T "$VG/pool" -n thin4 --addtag admin-own
    e2e_write_cfg lq pv 1
    cfg=$(e2e_guest_cfg lq)
    sed -i "s|^disk = .*|disk = [ 'phy:/dev/$VG/thin4,xvda,w' ]|" "$cfg"
    dev_write_counter "/dev/$VG/thin4" 111
    run -0 xls create -c "$cfg" -n k1
    # killed once the origin is set aside: the config's volume is gone,
    # the old one tagged as the revert's
    dev_write_counter "/dev/$VG/thin4" 222
    XL_SNAPSHOT_FAULT=lvm-revert-aside run -137 xls revert lq k1
    run -0 old_lvs
    assert_output --regexp "^thin4-xs-old[0-9]+ [^ ]+$"
    for t in admin-own xlsnap-old xlsnap-old-uuid-; do assert_output --partial "$t"; done
    run lvs "$VG/thin4"
    [ "$status" -ne 0 ]
    run -1 xls check lq
    assert_output --partial "a revert to 'k1' was interrupted"
    run -0 xls check --repair lq
    run -0 old_lvs
    assert_output ""
    run -0 lvs --noheadings -o lv_tags "$VG/thin4"
    assert_output --regexp "^ *admin-own$"
    [ "$(dev_counter "/dev/$VG/thin4")" = 111 ]
    run -0 xls check lq
    # killed once the new origin is made: the old one goes at the repair;
    # an admin's volume named as an old origin, without both tags, stays
    dev_write_counter "/dev/$VG/thin4" 333
    XL_SNAPSHOT_FAULT=lvm-revert-made run -137 xls revert lq k1
    run -0 old_lvs
    assert_output --regexp "^thin4-xs-old[0-9]+ [^ ]*xlsnap-old-uuid-"
    lvcreate -q -V 16M -T "$VG/pool" -n thin4-xs-old1 --addtag xlsnap-old
    run -1 xls check --repair lq
    assert_output --regexp "removed logical volume $VG/thin4-xs-old[0-9]+: the revert it is left from had made the new one"
    assert_output --partial "logical volume $VG/thin4-xs-old1 is left from an interrupted revert"
    assert_output --partial "left in place"
    run -0 old_lvs
    assert_output --regexp "^thin4-xs-old1 xlsnap-old *$"
    [ "$(dev_counter "/dev/$VG/thin4")" = 111 ]
    run -0 lvs --noheadings -o lv_tags "$VG/thin4"
    assert_output --regexp "^ *admin-own$"
    lvremove -q -f "$VG/thin4-xs-old1"
    run -0 xls check lq
    run -0 xls delete lq k1
    lvremove -q -f "$VG/thin4"
    e2e_log "killed thin reverts repaired: $((SECONDS - t0)) s"
}

@test "a raw file on blkback is refused with the ways out, and nothing changes" {
    mkdir -p "$E2E_WORK/raw"
    truncate -s 16M "$E2E_WORK/raw/disk.img"
    lvcreate -q -V 32M -T "$VG/pool" -n thin2
    e2e_create_disks lm 1
    lv_start lm "format=qcow2,vdev=xvda,access=rw,backendtype=qdisk,target=$(e2e_guest_disk lm)', 'phy:/dev/$VG/thin2,xvdb,w', 'format=raw,vdev=xvdc,access=rw,backendtype=phy,target=$E2E_WORK/raw/disk.img"
    e2e_wait_counter_above lm 5 >/dev/null
    before=$(ls -A "$E2E_WORK/raw" "$(e2e_guest_dir lm)")
    run -1 xls create -n r1 lm
    assert_output --partial "disk xvdc ($E2E_WORK/raw/disk.img, backend phy) cannot be snapshotted"
    assert_output --partial "served by QEMU"
    assert_output --partial "LVM logical volumes"
    [ "$(ls -A "$E2E_WORK/raw" "$(e2e_guest_dir lm)")" = "$before" ]
    run xls list lm
    refute_output --partial r1
    [ -z "$(image_snapshots "$(e2e_guest_disk lm)")" ]
    [ "$(e2e_domain_state lm)" = running ]
    run -0 tagged_lvs
    assert_output ""
}

@test "a qcow2 disk and an LVM disk are captured at one instant" {
    [ "$(e2e_domain_state lm)" = running ] || skip "needs the guest of the test before"
    printf "disk = [ 'vdev=xvda', 'vdev=xvdb' ]\n" > "$E2E_WORK/two.conf"
    run -0 xls create --disk-only -n x1 lm "$E2E_WORK/two.conf"
    assert_output --partial "(mixed, disks only"
    a=$(snap_disk_counter "$(e2e_guest_disk lm)" x1)
    b=$(snap_lv_counter thin2-xs-x1)
    e2e_log "x1: xvda (qcow2) $a, xvdb (LVM) $b"
    # one loop step writes xvda then xvdb: an instant sees b = a or a - 1
    [ "$b" = "$a" ] || [ "$b" = $((a - 1)) ]
    run -0 xls delete lm x1
    run -0 tagged_lvs
    assert_output ""
    [ -z "$(image_snapshots "$(e2e_guest_disk lm)")" ]
    xl destroy lm
}

# this file's helpers without bats' DEBUG trap (lib/e2e.bash)
e2e_untrace_helpers
