#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The disk-driver layer on the host (no hypervisor, no device-mapper):
# disks no driver can snapshot are refused with one message naming the
# disk and the ways out, before anything is touched; records without a
# "driver" (every record before the layer) read as qcow2 ones; records of
# the lvm driver read, show and check.  LVM itself runs on real Xen only
# (tests/e2e/55-lvm.bats).
load helpers

# domain_disk PATH BACKEND FORMAT: a stopped domain g1 (record "base",
# current, no disks) whose stored config has one disk xvda
domain_disk() {
    mkrecord base - 1764000000 true
    python3 - "$STATE/$UUID/base/record.json" "$@" <<'PY'
import json, sys
p, path, backend, fmt = sys.argv[1:5]
r = json.load(open(p))
r["config"] = {"c_info": {"name": "g1", "uuid": r["domain"]["uuid"]},
               "disks": [{"pdev_path": path, "vdev": "xvda", "backend": backend,
                          "format": fmt, "readwrite": 1}]}
r["disks"] = []
r["memory"] = None
json.dump(r, open(p, "w"))
PY
}

@test "a raw file on the kernel backend (phy) is refused with the ways out; nothing is touched" {
    D=$BATS_TEST_TMPDIR/img
    mkdir -p "$D"
    head -c 1M /dev/urandom > "$D/disk.img"
    if cp --reflink=always "$D/disk.img" "$BATS_TEST_TMPDIR/probe" 2>/dev/null; then
        skip "this host's file system makes reflink copies"
    fi
    sum=$(md5sum < "$D/disk.img")
    domain_disk "$D/disk.img" phy raw
    run -1 xs create -n s1 g1
    assert_output "xl-snapshot: cannot create snapshot 's1': disk xvda ($D/disk.img, backend phy) cannot be snapshotted: a raw file served by the kernel backend (blkback, through a loop device) is snapshotted as a reflink copy, and its file system makes none (Operation not supported); snapshots work for qcow2 images served by QEMU (convert with qemu-img convert -O qcow2, then format=qcow2, backendtype=qdisk in the config), for disks on LVM logical volumes (thin or classic) and for raw files on a file system with reflink copies (XFS made with reflink=1, btrfs)"
    [ "$(ls -A "$D")" = disk.img ]
    [ "$(md5sum < "$D/disk.img")" = "$sum" ]
    [ ! -e "$STATE/$UUID/s1" ]
    run -0 xs list --name g1
    assert_output base
}

@test "a raw file whose config names no backend (libxl serves it with blkback) is refused alike on a file system without reflink copies" {
    D=$BATS_TEST_TMPDIR/img
    mkdir -p "$D"
    head -c 64K /dev/urandom > "$D/disk.img"
    if cp --reflink=always "$D/disk.img" "$BATS_TEST_TMPDIR/probe" 2>/dev/null; then
        skip "this host's file system makes reflink copies"
    fi
    domain_disk "$D/disk.img" phy raw
    python3 - "$STATE/$UUID/base/record.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
del r["config"]["disks"][0]["backend"]
json.dump(r, open(sys.argv[1], "w"))
PY
    run -1 xs create -n s1 g1
    assert_output --partial "disk xvda ($D/disk.img, backend unknown) cannot be snapshotted: a raw file served by the kernel backend (blkback, through a loop device) is snapshotted as a reflink copy, and its file system makes none"
    [ "$(ls -A "$D")" = disk.img ]
    [ ! -e "$STATE/$UUID/s1" ]
}

@test "a block device that is not an LVM logical volume is refused, naming it" {
    dev=
    for d in /dev/loop7 /dev/loop0 /dev/vda /dev/sda /dev/nvme0n1 /dev/zram0; do
        [ -b "$d" ] && { dev=$d; break; }
    done
    [ -n "$dev" ] || skip "no block device on this host"
    domain_disk "$dev" phy raw
    run -1 xs create -n s1 g1
    assert_output --partial "disk xvda ($dev, backend phy) cannot be snapshotted: it is a block device that is not an LVM logical volume; snapshots work for qcow2 images served by QEMU"
    [ ! -e "$STATE/$UUID/s1" ]
}

@test "records without a driver (older ones) read as qcow2: list, info, --json" {
    mkchain
    run -0 xs info "$UUID" s1
    assert_line "  xvda   qcow2  internal  snapshot 's1' in /img/g1.qcow2"
    assert_line "  xvdb   qcow2  external  data in /img/d.qcow2, overlay /img/d.s1.qcow2"
    run -0 xs info --json "$UUID" s1
    run -0 json_get '[sorted(x.keys()) for x in d["disks"]], d["type"]' <<< "$output"
    assert_output "([['format', 'image', 'internal_name', 'snapshot', 'vdev'], ['backing', 'format', 'image', 'overlay', 'snapshot', 'vdev']], 'mixed')"
    # a write by the tool keeps them without one
    run -0 xs edit --description "new" "$UUID" s1
    grep -q '"new"' "$STATE/$UUID/s1/record.json"
    run -1 grep -c driver "$STATE/$UUID/s1/record.json"
    assert_output 0
}

# mkvolume NAME: record NAME of g1 with one disk on LVM (driver lvm)
mkvolume() {
    mkrecord "$1" - 1764000000 true
    python3 - "$STATE/$UUID/$1/record.json" "$1" <<'PY'
import json, sys
p, name = sys.argv[1:3]
r = json.load(open(p))
r["memory"] = None
r["disks"] = [{"vdev": "xvda", "format": "raw", "image": "/dev/vg0/web",
               "snapshot": "volume", "driver": "lvm", "volume_group": "vg0",
               "volume": "web", "snapshot_volume": "web-xs-" + name}]
json.dump(r, open(p, "w"))
PY
}

@test "an lvm record: info and list show the volume, check reports it missing, a volume record without its group is corrupt" {
    mkvolume v1
    run -0 xs info "$UUID" v1
    assert_line "Type:         volume"
    assert_line "  xvda   raw    volume    lvm snapshot volume vg0/web-xs-v1 of /dev/vg0/web"
    run -0 xs list --long "$UUID"
    assert_line "    disk xvda: lvm snapshot volume vg0/web-xs-v1 of /dev/vg0/web"
    run -0 xs info --json "$UUID" v1
    run -0 json_get 'd["disks"][0]["driver"], d["disks"][0]["snapshot_volume"], d["type"]' <<< "$output"
    assert_output "('lvm', 'web-xs-v1', 'volume')"
    # no LVM on this host: the snapshot volume is not there
    run -1 xs check "$UUID"
    assert_output --partial "snapshot 'v1' cannot be reverted: snapshot volume vg0/web-xs-v1 is missing"
    python3 - "$STATE/$UUID/v1/record.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
del r["disks"][0]["volume_group"]
json.dump(r, open(sys.argv[1], "w"))
PY
    run -1 xs info "$UUID" v1
    assert_output --partial "volume_group"
}

# mkcopy NAME FILE: record NAME of g1 with one raw disk whose snapshot is
# the reflink copy FILE (driver reflink)
mkcopy() {
    mkrecord "$1" - 1764000000 true
    python3 - "$STATE/$UUID/$1/record.json" "$2" <<'PY'
import json, sys
p, copy = sys.argv[1:3]
r = json.load(open(p))
r["memory"] = None
r["disks"] = [{"vdev": "xvda", "format": "raw", "image": "/srv/disk.img",
               "snapshot": "volume", "driver": "reflink", "snapshot_file": copy}]
json.dump(r, open(p, "w"))
PY
}

@test "a reflink record: info and list show the copy; a file without the tool's mark is neither checked as sound nor deleted" {
    D=$BATS_TEST_TMPDIR/img
    mkdir -p "$D"
    mkcopy c1 "$D/disk.c1.img"
    run -0 xs info "$UUID" c1
    assert_line "Type:         volume"
    assert_line "  xvda   raw    volume    reflink copy $D/disk.c1.img of /srv/disk.img"
    run -0 xs list --long "$UUID"
    assert_line "    disk xvda: reflink copy $D/disk.c1.img of /srv/disk.img"
    run -0 xs info --json "$UUID" c1
    run -0 json_get 'd["disks"][0]["driver"], d["disks"][0]["snapshot_file"], "volume_group" in d["disks"][0]' <<< "$output"
    assert_output "('reflink', '$D/disk.c1.img', False)"
    run -1 xs check "$UUID"
    assert_output --partial "snapshot 'c1' cannot be reverted: snapshot copy $D/disk.c1.img is missing"
    # an administrator's file of that name (no mark): left alone
    echo admin > "$D/disk.c1.img"
    run -1 xs check "$UUID"
    assert_output --partial "$D/disk.c1.img is not marked as this domain's snapshot copy"
    run -1 xs revert "$UUID" c1
    assert_output --partial "it is left alone"
    [ "$(cat "$D/disk.c1.img")" = admin ]
    run -1 xs delete "$UUID" c1
    assert_output --partial "is not marked as this domain's snapshot copy (extended attribute user.xlsnap); it is left alone"
    [ "$(cat "$D/disk.c1.img")" = admin ]
    # a reflink record without its copy's path is corrupt
    python3 - "$STATE/$UUID/c1/record.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
del r["disks"][0]["snapshot_file"]
json.dump(r, open(sys.argv[1], "w"))
PY
    run -1 xs info "$UUID" c1
    assert_output --partial "snapshot_file"
}
