#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# export and import of LVM snapshots on real Xen (one PV guest): the
# guest's disk is a thin LV (phy:, blkback) in volume group A; a memory
# snapshot is exported as a bundle (the snapshot volume as a qcow2 image
# of its contents; the thin snapshot, which skips activation, is left
# inactive again) and a later one as a delta (only what differs); the
# bundle is imported onto volume group B, as on another host (the
# original domain and its state gone), and revert there resumes the
# guest from the snapshot's data.  A delta onto a volume group builds
# on its base's thin snapshot volume there (only its clusters written)
# and is refused on a classic one; the same bundles import onto a disk
# directory as qcow2 files.  The delta of two thin snapshots reads only
# the blocks the pool's metadata (thin_delta) says differ: the pool's
# data device is read for about the change, not for both volumes.

load 'lib/e2e'
load 'lib/snap'

VGA=xs57a
VGB=xs57b

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-57a
    export B57=$E2E_WORK/bundles-57
    export DM_DISABLE_UDEV=1 LVM_SUPPRESS_FD_WARNINGS=1
    local m t0=$SECONDS l
    for m in dm-mod dm-snapshot dm-thin-pool; do modprobe "$m"; done
    mkdir -p "$E2E_WORK" "$B57"
    truncate -s 160M "$E2E_WORK/lvm57a.img" "$E2E_WORK/lvm57b.img"
    l=$(losetup -f --show "$E2E_WORK/lvm57a.img"); echo "$l" > "$E2E_WORK/lvm57-loops"
    pvcreate -q "$l"; vgcreate -q "$VGA" "$l"
    l=$(losetup -f --show "$E2E_WORK/lvm57b.img"); echo "$l" >> "$E2E_WORK/lvm57-loops"
    pvcreate -q "$l"; vgcreate -q "$VGB" "$l"
    lvcreate -q -L 64M -T "$VGA/pool"
    lvcreate -q -V 32M -T "$VGA/pool" -n web
    # 16 MiB of data the snapshots share (the first MiB, where the guest
    # keeps its counter, left zero): a delta that compared the volumes
    # would read it twice
    dd if=/dev/urandom of="/dev/$VGA/web" bs=1M seek=1 count=16 conv=fsync status=none
    lvcreate -q -L 48M -T "$VGB/pool"
    e2e_log "volume groups $VGA, $VGB: $((SECONDS - t0)) s"
}

teardown_file() {
    e2e_destroy_all
    vgremove -q -f "$VGA" "$VGB" >/dev/null 2>&1 || true
    local l
    if [ -f "$E2E_WORK/lvm57-loops" ]; then
        while read -r l; do losetup -d "$l" 2>/dev/null || true; done < "$E2E_WORK/lvm57-loops"
    fi
    rm -rf "$E2E_WORK/lvm57a.img" "$E2E_WORK/lvm57b.img" "$B57"
}

teardown() {
    on_failure_show le
    [ -z "${BATS_TEST_COMPLETED:-}" ] || return 0
    lvs -a -o vg_name,lv_name,lv_attr,origin,lv_tags "$VGA" "$VGB" 2>&1 | sed 's/^/# /'
}

# dev_counter DEV: the guest's counter in sector 1 of a block device.
dev_counter() {
    local v
    v=$(dd if="$1" bs=512 skip=1 count=1 iflag=direct 2>/dev/null | head -c 20 | tr -cd 0-9 | sed 's/^0*//')
    echo "${v:-0}"
}

# file_counter FILE: the same in a raw file
file_counter() {
    local v
    v=$(dd if="$1" bs=512 skip=1 count=1 2>/dev/null | head -c 20 | tr -cd 0-9 | sed 's/^0*//')
    echo "${v:-0}"
}

lv_active() { lvs --noheadings -o lv_attr "$1" | tr -d ' ' | cut -c5; }

# tdata_read VG: sectors read so far from the data device of VG's pool
# (the page cache dropped first)
tdata_read() {
    local mm
    sync
    echo 3 > /proc/sys/vm/drop_caches
    mm=$(dmsetup info -c --noheadings -o major,minor "$1-pool_tdata" | tr -d ' ')
    awk '{ print $3 }' "/sys/dev/block/$mm/stat"
}

# delta_sum DIR: the MD5 of what m1's full image and DIR's delta make,
# the delta checked clean by qemu-img
delta_sum() {
    qemu-img convert -f qcow2 -O raw "$B57/m1/disk-xvda.qcow2" "$B57/r.raw"
    cp "$1/disk-xvda.qcow2" "$B57/d.qcow2"
    qemu-img rebase -u -f qcow2 -b "$B57/r.raw" -F raw "$B57/d.qcow2"
    qemu-img check -q -f qcow2 "$B57/d.qcow2"
    qemu-img commit -q -f qcow2 "$B57/d.qcow2"
    md5sum < "$B57/r.raw"
    rm -f "$B57/r.raw" "$B57/d.qcow2"
}

@test "export of a thin snapshot (with memory) and of a delta; the snapshot volume is left inactive" {
    local t0=$SECONDS
    e2e_write_cfg le pv 1
    sed -i "s|^disk = .*|disk = [ 'phy:/dev/$VGA/web,xvda,w' ]|" "$(e2e_guest_cfg le)"
    if ! _e2e_boot_once le >/dev/null; then
        cat "$(e2e_guest_dir le)/boot-failure" "$(e2e_guest_dir le)/create.log" >&2
        xl dmesg | tail -n 20 >&2
        ls -l "/dev/$VGA/" /dev/mapper/ >&2
        return 1
    fi
    e2e_log "le booted in $((SECONDS - t0)) s"
    e2e_wait_counter_above le 10 >/dev/null
    run -0 xls create -n m1 le
    assert_output --partial "(volume, with memory)"
    lvchange -q -ay -K "$VGA/web-xs-m1"
    d=$(dev_counter "/dev/$VGA/web-xs-m1")
    sum=$(md5sum < "/dev/$VGA/web-xs-m1")
    lvchange -q -an "$VGA/web-xs-m1"
    echo "$d" > "$B57/counter.m1"
    [ "$(lv_active "$VGA/web-xs-m1")" != a ]

    t0=$SECONDS
    run -0 xls export le m1 "$B57/m1"
    e2e_log "export of m1 (32 MiB thin volume): $((SECONDS - t0)) s"
    [ "$(lv_active "$VGA/web-xs-m1")" != a ]
    run -0 jq -r '.files[] | select(.role == "disk") | "\(.vdev) \(.format) \(.["virtual-size"])"' "$B57/m1/manifest.json"
    assert_output "xvda qcow2 33554432"
    qemu-img convert -f qcow2 -O raw "$B57/m1/disk-xvda.qcow2" "$B57/m1.raw"
    [ "$(md5sum < "$B57/m1.raw")" = "$sum" ]
    [ "$(file_counter "$B57/m1.raw")" = "$d" ]
    rm -f "$B57/m1.raw"

    e2e_wait_counter_above le $((d + 20)) >/dev/null
    run -0 xls create --disk-only -n m2 le
    lvchange -q -ay -K "$VGA/web-xs-m2"
    dev_counter "/dev/$VGA/web-xs-m2" > "$B57/counter.m2"
    md5sum < "/dev/$VGA/web-xs-m2" > "$B57/sum.m2"
    lvchange -q -an "$VGA/web-xs-m2"
    r0=$(tdata_read "$VGA")
    t0=$SECONDS
    run -0 xls export --delta --base m1 le m2 "$B57/m2"
    r1=$(tdata_read "$VGA")
    e2e_log "delta export m2 on m1 (thin_delta on the pool's metadata): $((SECONDS - t0)) s, $((r1 - r0)) sectors read from $VGA/pool's data"
    # the pool's metadata snapshot given back (status: held root '-')
    run -0 dmsetup status "$VGA-pool-tpool"
    [ "$(awk '{ print $7 }' <<< "$output")" = - ]
    [ "$(lv_active "$VGA/web-xs-m2")" != a ]
    [ "$(lv_active "$VGA/web-xs-m1")" != a ]
    # the data clusters each image holds itself (a copy of the delta
    # without its placeholder backing, which opens nothing); the file
    # sizes say little for a nearly empty volume (qcow2's own metadata)
    cp "$B57/m2/disk-xvda.qcow2" "$B57/d.qcow2"
    qemu-img rebase -u -f qcow2 -b "" "$B57/d.qcow2"
    full=$(qemu-img map -f qcow2 --output=json "$B57/m1/disk-xvda.qcow2" | jq '[.[] | select(.data and .depth == 0) | .length] | add')
    delta=$(qemu-img map -f qcow2 --output=json "$B57/d.qcow2" | jq '[.[] | select(.data and .depth == 0) | .length] // [] | add // 0')
    rm -f "$B57/d.qcow2"
    e2e_log "data in the disk image: full $full bytes, delta $delta bytes"
    # the guest rewrites its counter (sector 1): one or two clusters
    [ "$delta" -le 131072 ]
    run -0 qemu-img info -f qcow2 --output=json "$B57/m2/disk-xvda.qcow2"
    assert_output --partial '"backing-filename": "xl-snapshot-base:m1"'
    # read: about the change (the guest's writes to shared blocks copy a
    # block or two meanwhile), not the 2 x 16 MiB the volumes share
    [ $(( (r1 - r0) * 512 )) -lt $(( 4 * delta + (1 << 20) )) ]
    # the full image and the delta make m2, to the byte
    [ "$(delta_sum "$B57/m2")" = "$(cat "$B57/sum.m2")" ]
    # the pool's metadata snapshot held by another program: the volumes'
    # contents compared instead, the same m2
    dmsetup message "$VGA-pool-tpool" 0 reserve_metadata_snap
    r0=$(tdata_read "$VGA")
    run xls export --delta --base m1 le m2 "$B57/m2-cmp"
    r1=$(tdata_read "$VGA")
    dmsetup message "$VGA-pool-tpool" 0 release_metadata_snap
    [ "$status" -eq 0 ]
    e2e_log "the same delta with the pool's metadata snapshot held: $((r1 - r0)) sectors read"
    [ "$(delta_sum "$B57/m2-cmp")" = "$(cat "$B57/sum.m2")" ]
    rm -rf "$B57/m2-cmp"
}

@test "import onto another volume group (the original gone), revert there: the guest resumes from the snapshot's data" {
    [ -d "$B57/m1" ] || skip "needs the export of the test before"
    d=$(cat "$B57/counter.m1")
    xl destroy le
    e2e_wait_domain_state le gone 30
    # host A wiped: its state and its snapshot volumes (same dom0 here:
    # check would rightly call them this domain's orphans)
    rm -rf "$XL_SNAPSHOT_DIR"
    lvremove -q -f "$VGA/web-xs-m1" "$VGA/web-xs-m2"
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-57b
    # a delta builds on its base, which this host does not have yet
    run -1 xls import --volume-group "$VGB" "$B57/m2"
    assert_output --partial "which domain le does not have: import the bundle of 'm1' first"
    run -1 xls import --volume-group nosuchvg57 "$B57/m1"
    assert_output --partial "there is no volume group nosuchvg57"
    t0=$SECONDS
    run -0 xls import --kernel-dir "$E2E_IMAGES" --volume-group "$VGB" "$B57/m1"
    e2e_log "import onto $VGB: $((SECONDS - t0)) s: $output"
    assert_output --partial "xvda: /dev/$VGB/web (snapshot volume $VGB/web-xs-m1)"
    run -0 lvs --noheadings -o lv_tags "$VGB/web"
    assert_output --partial "xlsnap-imported"
    run -0 lvs --noheadings -o lv_tags "$VGB/web-xs-m1"
    assert_output --partial "xlsnap-uuid-"
    [ "$(dev_counter "/dev/$VGB/web")" = "$d" ]
    # the delta on it: LVM cannot snapshot a classic snapshot; nothing made
    run -1 xls import --volume-group "$VGB" "$B57/m2"
    assert_output --partial "is a classic (thick) LVM snapshot, and LVM cannot snapshot a classic snapshot"
    assert_output --partial "; export with --full"
    run -0 lvs --noheadings -o lv_name "$VGB"
    refute_output --partial "web-xs-m2"
    run -0 xls list le
    refute_output --partial "m2"
    # a second import under another name: the volume is taken
    run -1 xls import --as-domain le-copy --volume-group "$VGB" "$B57/m1"
    assert_output --partial "logical volume $VGB/web already exists; nothing was imported"
    run -0 xls check le

    mark=$(log_mark le)
    t0=$SECONDS
    run -0 xls revert le m1
    e2e_wait_domain_state le running 30
    first=$(first_tick_after le "$mark")
    e2e_log "revert on $VGB: $((SECONDS - t0)) s; first tick $first, snapshot disk counter $d"
    near "$first" "$d"
    run -0 xl block-list le
    e2e_log "$output"
    run -0 xls delete le m1
    run -0 lvs --noheadings -o lv_name "$VGB"
    refute_output --partial "web-xs-m1"
    assert_output --partial "web"
    xl destroy le
    e2e_wait_domain_state le gone 30
}

@test "the same bundles import onto a disk directory as qcow2 images (full, then the delta on it)" {
    [ -d "$B57/m2" ] || skip "needs the export of the first test"
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-57c
    mkdir -p "$B57/disks"
    run -0 xls import --kernel-dir "$E2E_IMAGES" --disk-dir "$B57/disks" "$B57/m1"
    run -0 xls import --kernel-dir "$E2E_IMAGES" --disk-dir "$B57/disks" "$B57/m2"
    e2e_log "$output"
    run -0 xls info --json le m2
    f=$(jq -r '.disks[0].backing' <<< "$output")
    qemu-img convert -f qcow2 -O raw "$f" "$B57/m2.raw"
    c=$(file_counter "$B57/m2.raw")
    e2e_log "m2 imported onto a directory: counter $c (m1 had $(cat "$B57/counter.m1"))"
    [ "$c" -gt "$(cat "$B57/counter.m1")" ]
    rm -f "$B57/m2.raw"
    run -0 xls check le
}

@test "import onto a thin pool: a thin volume and its thin snapshot, with the tool's tags; a delta on it; delete leaves the volume" {
    [ -d "$B57/m1" ] || skip "needs the export of the first test"
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-57d
    # the classic volume the import before made (its domain is gone)
    lvremove -q -f "$VGB/web" 2>/dev/null || true
    t0=$SECONDS
    run -0 xls import --as-domain lthin --volume-group "$VGB/pool" "$B57/m1"
    e2e_log "import onto $VGB/pool: $((SECONDS - t0)) s"
    run -0 lvs --noheadings -o lv_attr,pool_lv,lv_tags "$VGB/web"
    assert_output --regexp "^ *V.*pool.*xlsnap-imported"
    run -0 lvs --noheadings -o lv_attr,origin,lv_tags "$VGB/web-xs-m1"
    assert_output --regexp "^ *V.*web.*xlsnap-uuid-"
    [ "$(dev_counter "/dev/$VGB/web")" = "$(cat "$B57/counter.m1")" ]
    run -0 xls check lthin

    # the delta m2 on m1 there: a thin snapshot of m1's snapshot volume,
    # only the delta's clusters written into the pool
    used0=$(lvs --noheadings -o data_percent "$VGB/pool" | tr -d ' ')
    t0=$SECONDS
    run -0 xls import --as-domain lthin --volume-group "$VGB/pool" "$B57/m2"
    e2e_log "delta import of m2 onto $VGB/pool: $((SECONDS - t0)) s: $output"
    used1=$(lvs --noheadings -o data_percent "$VGB/pool" | tr -d ' ')
    e2e_log "pool $VGB/pool data: ${used0}% before, ${used1}% after (48 MiB pool, 32 MiB volume)"
    # a full write of the volume would be 66% of the pool: under 2%
    awk -v a="$used0" -v b="$used1" 'BEGIN { exit !(b - a < 2) }'
    run -0 lvs --noheadings -o lv_attr,origin,lv_tags "$VGB/web-xs-m2"
    assert_output --regexp "^ *V.*web-xs-m1.*xlsnap-uuid-"
    [ "$(lv_active "$VGB/web-xs-m2")" != a ]
    lvchange -q -ay -K "$VGB/web-xs-m2"
    c=$(dev_counter "/dev/$VGB/web-xs-m2")
    sum=$(md5sum < "/dev/$VGB/web-xs-m2")
    lvchange -q -an "$VGB/web-xs-m2"
    e2e_log "m2 on $VGB: counter $c (exported $(cat "$B57/counter.m2"), m1 $(cat "$B57/counter.m1"))"
    [ "$c" = "$(cat "$B57/counter.m2")" ]
    [ "$sum" = "$(cat "$B57/sum.m2")" ]
    # the whole volume is what the base and the delta make
    qemu-img convert -f qcow2 -O raw "$B57/m1/disk-xvda.qcow2" "$B57/m2.raw"
    cp "$B57/m2/disk-xvda.qcow2" "$B57/d.qcow2"
    qemu-img rebase -u -f qcow2 -b "$B57/m2.raw" -F raw "$B57/d.qcow2"
    qemu-img commit -q -f qcow2 "$B57/d.qcow2"
    [ "$(md5sum < "$B57/m2.raw")" = "$sum" ]
    rm -f "$B57/m2.raw" "$B57/d.qcow2"
    run -0 xls info --json lthin m2
    [ "$(jq -r .parent <<< "$output")" = m1 ]
    run -0 xls check lthin
    run -0 xls delete lthin m2
    run -0 xls delete lthin m1
    run -0 lvs --noheadings -o lv_name "$VGB"
    refute_output --partial "web-xs-m1"
    refute_output --partial "web-xs-m2"
    assert_output --partial "web"
}

# this file's helpers without bats' DEBUG trap (lib/e2e.bash)
e2e_untrace_helpers
