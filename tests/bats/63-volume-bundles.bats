#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# export and import of the volume drivers' snapshots on the host: a
# reflink record (a raw copy carrying the tool's mark) exports as a qcow2
# image of its contents, a delta between two copies of one file holds
# only what differs; a copy without the mark is not read.  Import onto a
# volume group: the error paths (no such volume group, a bad name, a
# delta, with a disk directory too) refuse before anything is written;
# a hostile bundle still cannot place a file outside the disk directory.
# LVM itself runs on real Xen only (tests/e2e/57-lvm-export.bats).
load helpers

# mkreflink NAME COPY: record NAME of g1 (stopped), one raw disk
# $D/disk.img whose snapshot is the reflink copy COPY, marked as the
# tool marks it (user.xlsnap = "<uuid>/<name>")
mkreflink() {
    mkrecord "$1" - "$((1764000000 + ${#1}))" true
    python3 - "$STATE/$UUID/$1/record.json" "$2" "$D/disk.img" "$UUID/$1" <<'PY'
import json, os, sys
p, copy, image, mark = sys.argv[1:5]
r = json.load(open(p))
r["memory"] = None
r["type"] = "volume"
r["config"]["disks"] = [{"pdev_path": image, "vdev": "xvda", "backend": "phy",
                         "format": "raw", "readwrite": 1}]
r["disks"] = [{"vdev": "xvda", "format": "raw", "image": image,
               "snapshot": "volume", "driver": "reflink", "snapshot_file": copy}]
json.dump(r, open(p, "w"))
os.setxattr(copy, "user.xlsnap", mark.encode())
PY
}

setup() {
    STATE=$BATS_TEST_TMPDIR/state
    export XL_SNAPSHOT_DIR=$STATE
    D=$BATS_TEST_TMPDIR/img
    mkdir -p "$D"
    head -c 4M /dev/urandom > "$D/disk.img"
    cp "$D/disk.img" "$D/disk.c1.img"
    python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.t", b"1")' "$D/disk.c1.img" 2>/dev/null ||
        skip "no user extended attributes here"
}

@test "export of a reflink snapshot: a standalone qcow2 image of the copy's contents, the bundle verifies" {
    mkreflink c1 "$D/disk.c1.img"
    run -0 xs export g1 c1 "$BATS_TEST_TMPDIR/b1"
    cd "$BATS_TEST_TMPDIR/b1"
    python3 - <<'PY'
import json, hashlib
m = json.load(open("manifest.json"))
for f in m["files"]:
    data = open(f["path"], "rb").read()
    assert hashlib.sha256(data).hexdigest() == f["sha256"], f["path"]
    assert len(data) == f["size"], f["path"]
PY
    run -0 json_get '[(f["path"], f.get("format"), f.get("virtual-size")) for f in d["files"] if f["role"] == "disk"]' < manifest.json
    assert_output "[('disk-xvda.qcow2', 'qcow2', 4194304)]"
    run -0 qemu-img info -f qcow2 --output=json disk-xvda.qcow2
    refute_output --partial backing-filename
    qemu-img convert -f qcow2 -O raw disk-xvda.qcow2 "$BATS_TEST_TMPDIR/out.raw"
    cmp "$BATS_TEST_TMPDIR/out.raw" "$D/disk.c1.img"
}

@test "delta export between two copies of one file holds only the blocks that differ, and imports onto a directory on its base" {
    mkreflink c1 "$D/disk.c1.img"
    cp "$D/disk.c1.img" "$D/disk.c2.img"
    printf 'changed' | dd of="$D/disk.c2.img" bs=1 seek=1048576 conv=notrunc 2>/dev/null
    mkreflink c2 "$D/disk.c2.img"
    run -0 xs export g1 c1 "$BATS_TEST_TMPDIR/b1"
    run -0 xs export --delta --base c1 g1 c2 "$BATS_TEST_TMPDIR/b2"
    assert_output --partial "(delta on 'c1')"
    delta=$(stat -c %s "$BATS_TEST_TMPDIR/b2/disk-xvda.qcow2")
    full=$(stat -c %s "$BATS_TEST_TMPDIR/b1/disk-xvda.qcow2")
    [ "$delta" -lt $((full / 8)) ]
    # (a copy without the placeholder backing, which opens nothing)
    cp "$BATS_TEST_TMPDIR/b2/disk-xvda.qcow2" "$BATS_TEST_TMPDIR/d.qcow2"
    qemu-img rebase -u -f qcow2 -b "" "$BATS_TEST_TMPDIR/d.qcow2"
    run -0 qemu-img map -f qcow2 --output=json "$BATS_TEST_TMPDIR/d.qcow2"
    # one 64 KiB cluster of data in the delta itself (depth 0)
    run -0 python3 -c 'import json,sys; print(sum(e["length"] for e in json.load(sys.stdin) if e["depth"] == 0 and e["data"]))' <<< "$output"
    assert_output 65536
    # onto a directory of another host: a qcow2 chain with the data of c2
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/other
    mkdir -p "$BATS_TEST_TMPDIR/disks"
    run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/disks" "$BATS_TEST_TMPDIR/b1"
    run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/disks" "$BATS_TEST_TMPDIR/b2"
    run -0 xs info --json g1 c2
    f=$(json_get 'd["disks"][0]["backing"]' <<< "$output")
    [ "$(dirname "$f")" = "$BATS_TEST_TMPDIR/disks" ]
    qemu-img convert -f qcow2 -O raw "$f" "$BATS_TEST_TMPDIR/out.raw"
    cmp "$BATS_TEST_TMPDIR/out.raw" "$D/disk.c2.img"
}

@test "a copy without the tool's mark is not exported; nothing is left" {
    mkreflink c1 "$D/disk.c1.img"
    python3 -c 'import os,sys; os.removexattr(sys.argv[1], "user.xlsnap")' "$D/disk.c1.img"
    run -1 xs export g1 c1 "$BATS_TEST_TMPDIR/b1"
    assert_output --partial "$D/disk.c1.img is not marked as this domain's snapshot copy"
    [ ! -e "$BATS_TEST_TMPDIR/b1" ]
}

@test "import onto a volume group: no such group, a bad name, a delta without its base, a disk directory too: refused, nothing imported" {
    mkreflink c1 "$D/disk.c1.img"
    cp "$D/disk.c1.img" "$D/disk.c2.img"
    mkreflink c2 "$D/disk.c2.img"
    run -0 xs export g1 c1 "$BATS_TEST_TMPDIR/b1"
    run -0 xs export --delta --base c1 g1 c2 "$BATS_TEST_TMPDIR/b2"
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/other
    run -1 xs import --volume-group xsnovg63 "$BATS_TEST_TMPDIR/b1"
    assert_output --partial "xl-snapshot: cannot import '$BATS_TEST_TMPDIR/b1': there is no volume group xsnovg63 (vgs: "
    for vg in ../etc -vg vg/po/ol 'vg x' vg/; do
        run -1 xs import --volume-group "$vg" "$BATS_TEST_TMPDIR/b1"
        assert_output --partial "'$vg' is not a volume group name (VG, or VG/POOL for a thin pool)"
    done
    # a delta builds on its base on the volume group: here there is none
    run -1 xs import --volume-group xsnovg63 "$BATS_TEST_TMPDIR/b2"
    assert_output --partial "this is a delta bundle on snapshot 'c1', which domain g1 does not have: import the bundle of 'c1' first"
    mkdir -p "$BATS_TEST_TMPDIR/disks"
    run -2 xs import --volume-group xsnovg63 --disk-dir "$BATS_TEST_TMPDIR/disks" "$BATS_TEST_TMPDIR/b1"
    assert_output --partial "--disk-dir and --volume-group exclude each other"
    [ ! -e "$XL_SNAPSHOT_DIR/$UUID/c1" ]
    [ -z "$(ls -A "$BATS_TEST_TMPDIR/disks")" ]
}

@test "a hostile bundle's volume fields place nothing outside the disk directory" {
    mkreflink c1 "$D/disk.c1.img"
    run -0 xs export g1 c1 "$BATS_TEST_TMPDIR/b1"
    # the record's paths and volume fields rewritten, the manifest's
    # checksums made to match (a bundle crafted by whoever sent it)
    python3 - "$BATS_TEST_TMPDIR/b1" <<'PY'
import hashlib, json, os, sys
b = sys.argv[1]
r = json.load(open(os.path.join(b, "record.json")))
r["disks"][0].update({"image": "/dev/../../../tmp/evil\n", "driver": "lvm",
                      "volume_group": "../../etc", "volume": "../passwd",
                      "snapshot_volume": "../../x"})
del r["disks"][0]["snapshot_file"]
data = json.dumps(r).encode()
open(os.path.join(b, "record.json"), "wb").write(data)
m = json.load(open(os.path.join(b, "manifest.json")))
for f in m["files"]:
    if f["path"] == "record.json":
        f["size"] = len(data)
        f["sha256"] = hashlib.sha256(data).hexdigest()
json.dump(m, open(os.path.join(b, "manifest.json"), "w"))
PY
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/other
    mkdir -p "$BATS_TEST_TMPDIR/disks"
    run -0 xs import --as-domain g9 --disk-dir "$BATS_TEST_TMPDIR/disks" "$BATS_TEST_TMPDIR/b1"
    run -0 xs info --json g9 c1
    run -0 json_get 'd["disks"][0]["snapshot"], d["disks"][0]["backing"].rsplit("/", 1)[0], d["disks"][0].get("driver")' <<< "$output"
    assert_output "('external', '$BATS_TEST_TMPDIR/disks', None)"
    [ ! -e /tmp/evil ] && [ "$(ls "$BATS_TEST_TMPDIR/disks" | wc -l)" = 1 ]
    # onto a volume group, the LV's name comes from "../passwd" in LVM's
    # characters only; here there is no such group, and nothing is made
    run -1 xs import --as-domain g8 --volume-group xsnovg63 "$BATS_TEST_TMPDIR/b1"
    assert_output --partial "there is no volume group xsnovg63"
}

@test "completion: import --volume-group offers the volume groups vgs lists" {
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    ln -s "$XS" "$BATS_TEST_TMPDIR/bin/xl-snapshot"
    # the LVM tool the completion asks (this host has none)
    printf '#!/bin/sh\n[ "$*" = "--noheadings -o vg_name" ] && printf "  vg0\\n  xsvg\\n"\n' > "$BATS_TEST_TMPDIR/bin/vgs"
    printf '#!/bin/sh\nexit 1\n' > "$BATS_TEST_TMPDIR/bin/xl"
    chmod +x "$BATS_TEST_TMPDIR/bin/vgs" "$BATS_TEST_TMPDIR/bin/xl"
    PATH=$BATS_TEST_TMPDIR/bin:$PATH
    source "$REPO/completion/xl-snapshot.bash"
    COMP_WORDS=(xl-snapshot import --volume-group x)
    COMP_CWORD=3
    COMP_LINE="${COMP_WORDS[*]}"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _xl_snapshot
    [ "${COMPREPLY[*]}" = xsvg ]
    COMP_WORDS=(xl-snapshot import --volume-group "")
    COMP_LINE="${COMP_WORDS[*]}"
    COMPREPLY=()
    _xl_snapshot
    [ "${COMPREPLY[*]}" = "vg0 xsvg" ]
}
