#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# export --delta of two internal snapshots of one qcow2 image (bundle/
# delta.c): the delta holds exactly the clusters that differ, found in
# the snapshots' L1/L2 tables, and nothing else; hostile tables are
# refused.  The full export of an internal snapshot by the same writer
# (hashed as written).  Host only: real qemu-img and qemu-io.
load helpers
load images

CS=65536

# qcow2_l1 IMG SNAP: "<l1 offset> <l1 entry 0> <l2 entry 0>" of internal
# snapshot SNAP, read from the file (for the hostile-table tests);
# qcow2_l1 IMG SNAP size: the offset of its recorded disk size
qcow2_l1() {
    python3 - "$@" <<'PY'
import struct, sys
f = open(sys.argv[1], "rb")
h = f.read(72)
nb, so = struct.unpack(">IQ", h[60:72])
off = so
for _ in range(nb):
    off0 = off
    f.seek(off)
    e = f.read(40)
    l1o, l1n, idl, nl = struct.unpack(">QIHH", e[:16])
    xl = struct.unpack(">I", e[36:40])[0]
    f.seek(off + 40 + xl + idl)
    name = f.read(nl).decode()
    off = (off + 40 + xl + idl + nl + 7) & ~7
    if name == sys.argv[2] and len(sys.argv) > 3:
        print(off0 + 40 + 8)    # its disk size, in the extra data
    elif name == sys.argv[2]:
        f.seek(l1o)
        l1e = struct.unpack(">Q", f.read(8))[0]
        f.seek(l1e & 0x00fffffffffffe00)
        l2e = struct.unpack(">Q", f.read(8))[0]
        print(l1o, l1e, l2e)
PY
}

# poke IMG OFFSET VALUE: write a big-endian 64-bit VALUE at OFFSET
poke() {
    python3 -c 'import struct,sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); f.write(struct.pack(">Q", int(sys.argv[3]) & (2**64 - 1)))' "$1" "$2" "$3"
}

# a 64 MiB disk, all data at s1; s2 after 1 MiB (16 clusters) written at
# 8 MiB, 16 scattered 4 KiB writes (16 more clusters), 1 MiB zeroed at
# 32 MiB (16 clusters that read zeros now)
mkdelta() {
    domain_one_disk 64 0x5a
    xs create -n s1 g1
    qemu-io -f qcow2 -c "write -q -P 0x61 8M 1M" "$IMG"
    for i in $(seq 0 15); do
        qemu-io -f qcow2 -c "write -q -P 0x62 $(( 16 * 1048576 + i * 3 * CS + 4096 )) 4k" "$IMG"
    done
    qemu-io -f qcow2 -c "write -q -z 32M 1M" "$IMG"
    xs create -n s2 g1
    qemu-io -f qcow2 -c "write -q -P 0x63 40M 1M" "$IMG"   # after s2: not in it
}

@test "a delta of two internal snapshots holds exactly the changed clusters and imports to the snapshot's data" {
    mkdelta
    run -0 xs export g1 s1 "$BATS_TEST_TMPDIR/b1"
    run -0 xs export --delta --base s1 g1 s2 "$BATS_TEST_TMPDIR/b2"
    assert_output --partial "(delta on 's1')"
    d=$BATS_TEST_TMPDIR/b2/disk-xvda.qcow2
    size=$(stat -c %s "$d")
    # 48 changed clusters (32 of data, 16 zero flags in L2 entries);
    # metadata (header, L1 and L2 tables, refcounts) in 4 KiB clusters,
    # the smallest file for changes this close together
    echo "# delta $size bytes for $(( 32 * CS )) bytes of changed data" >&3
    [ "$size" -le $(( 32 * CS * 105 / 100 )) ]
    run -0 qemu-img info --output=json -f qcow2 "$d"
    run -0 json_get '(d["backing-filename"], d["backing-filename-format"], d["virtual-size"], d["cluster-size"])' <<< "$output"
    assert_output "('xl-snapshot-base:s1', 'qcow2', 67108864, 4096)"
    # pointed at the base, as import does: clean, the snapshot's data,
    # and its own clusters exactly those that changed
    cp "$d" "$BATS_TEST_TMPDIR/d.qcow2"
    qemu-img rebase -u -f qcow2 -b "$BATS_TEST_TMPDIR/b1/disk-xvda.qcow2" -F qcow2 "$BATS_TEST_TMPDIR/d.qcow2"
    run -0 qemu-img check -f qcow2 "$BATS_TEST_TMPDIR/d.qcow2"
    assert_output --partial "No errors were found on the image."
    qemu-img convert -f qcow2 -l snapshot.name=s2 -O raw "$IMG" "$BATS_TEST_TMPDIR/s2.raw"
    run -0 qemu-img compare -f qcow2 -F raw "$BATS_TEST_TMPDIR/d.qcow2" "$BATS_TEST_TMPDIR/s2.raw"
    run -0 qemu-img map --output=json -f qcow2 "$BATS_TEST_TMPDIR/d.qcow2"
    run -0 python3 -c '
import json, sys
cs = 65536
own = set()
for e in json.loads(sys.argv[1]):
    if e["depth"] == 0:
        own.update(range(e["start"] // cs, (e["start"] + e["length"]) // cs))
want = set(range(128, 144)) | {(16 * 2**20 + i * 3 * cs + 4096) // cs for i in range(16)} | set(range(512, 528))
print(sorted(own - want), sorted(want - own))' "$output"
    assert_output "[] []"
    # import on a new host: the snapshot's data exactly
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/state2
    mkdir "$BATS_TEST_TMPDIR/disks2"
    run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/disks2" "$BATS_TEST_TMPDIR/b1"
    run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/disks2" "$BATS_TEST_TMPDIR/b2"
    assert_line "Imported snapshot 's2' of domain 'g1' ($UUID), child of 's1'."
    run -0 qemu-img compare -f qcow2 -F raw "$BATS_TEST_TMPDIR/disks2/g1.s2.qcow2" "$BATS_TEST_TMPDIR/s2.raw"
}

@test "a delta between snapshots with nothing changed holds no cluster; the other way round holds what the base had" {
    mkdelta
    xs create -n s3 g1
    xs create -n s4 g1
    run -0 xs export --delta --base s3 g1 s4 "$BATS_TEST_TMPDIR/b4"
    size=$(stat -c %s "$BATS_TEST_TMPDIR/b4/disk-xvda.qcow2")
    [ "$size" -le $(( 5 * CS )) ]
    # s1 on the base s2: the clusters s2 changed, back to s1's data
    run -0 xs export g1 s2 "$BATS_TEST_TMPDIR/b2"
    run -0 xs export --delta --base s2 g1 s1 "$BATS_TEST_TMPDIR/b1"
    cp "$BATS_TEST_TMPDIR/b1/disk-xvda.qcow2" "$BATS_TEST_TMPDIR/d.qcow2"
    qemu-img rebase -u -f qcow2 -b "$BATS_TEST_TMPDIR/b2/disk-xvda.qcow2" -F qcow2 "$BATS_TEST_TMPDIR/d.qcow2"
    qemu-img convert -f qcow2 -l snapshot.name=s1 -O raw "$IMG" "$BATS_TEST_TMPDIR/s1.raw"
    run -0 qemu-img compare -f qcow2 -F raw "$BATS_TEST_TMPDIR/d.qcow2" "$BATS_TEST_TMPDIR/s1.raw"
    run -0 qemu-img check -f qcow2 "$BATS_TEST_TMPDIR/d.qcow2"
}

@test "a snapshot's L2 entry outside the image, unaligned, or zero with a bad offset is refused, and nothing is written" {
    mkdelta
    read -r l1o l1e l2e < <(qcow2_l1 "$IMG" s2)
    l2=$(( l1e & 0x00fffffffffffe00 ))
    cp "$IMG" "$BATS_TEST_TMPDIR/orig.qcow2"
    big=$(( (1 << 40) | (1 << 63) ))
    for bad in $big $(( l2e + 512 )) $(( (1 << 40) | 1 )); do
        cp "$BATS_TEST_TMPDIR/orig.qcow2" "$IMG"
        poke "$IMG" "$l2" "$bad"
        before=$(md5sum < "$IMG")
        run -1 xs export --delta --base s1 g1 s2 "$BATS_TEST_TMPDIR/bx"
        assert_output "xl-snapshot: cannot export 's2': disk xvda: image $IMG: an L2 table names a cluster outside the image (guest cluster 0 of the table)"
        [ ! -e "$BATS_TEST_TMPDIR/bx" ]
        [ "$(md5sum < "$IMG")" = "$before" ]
    done
}

@test "a snapshot's L1 entry or L1 table outside the image is refused" {
    mkdelta
    read -r l1o l1e l2e < <(qcow2_l1 "$IMG" s2)
    cp "$IMG" "$BATS_TEST_TMPDIR/orig.qcow2"
    poke "$IMG" "$l1o" $(( (1 << 40) | (1 << 63) ))
    run -1 xs export --delta --base s1 g1 s2 "$BATS_TEST_TMPDIR/bx"
    assert_output "xl-snapshot: cannot export 's2': disk xvda: image $IMG: a snapshot's L1 table names an L2 table outside the image (entry 0)"
    cp "$BATS_TEST_TMPDIR/orig.qcow2" "$IMG"
    poke "$IMG" "$l1o" $(( (l1e & 0x00fffffffffffe00) + 4096 ))
    run -1 xs export --delta --base s1 g1 s2 "$BATS_TEST_TMPDIR/bx"
    assert_output --partial "a snapshot's L1 table names an L2 table outside the image"
    [ ! -e "$BATS_TEST_TMPDIR/bx" ]
}

@test "a changed cluster that is compressed leaves the delta to the general path (copies compared): still the snapshot's data" {
    mkdelta
    qemu-io -f qcow2 -c "discard -q 48M 64k" -c "write -q -c -P 0x64 48M 64k" "$IMG"
    xs create -n s3 g1
    run -0 xs export g1 s2 "$BATS_TEST_TMPDIR/b2"
    run -0 xs export --delta --base s2 g1 s3 "$BATS_TEST_TMPDIR/b3"
    cp "$BATS_TEST_TMPDIR/b3/disk-xvda.qcow2" "$BATS_TEST_TMPDIR/d.qcow2"
    qemu-img rebase -u -f qcow2 -b "$BATS_TEST_TMPDIR/b2/disk-xvda.qcow2" -F qcow2 "$BATS_TEST_TMPDIR/d.qcow2"
    qemu-img convert -f qcow2 -l snapshot.name=s3 -O raw "$IMG" "$BATS_TEST_TMPDIR/s3.raw"
    run -0 qemu-img compare -f qcow2 -F raw "$BATS_TEST_TMPDIR/d.qcow2" "$BATS_TEST_TMPDIR/s3.raw"
}

@test "scattered changes make a delta of the image's cluster size: still within 1.05x the changed clusters" {
    domain_one_disk 1024
    xs create -n s1 g1
    args=()
    for i in $(seq 0 255); do args+=(-c "write -q -P 0x71 $(( i * 4 * 1048576 + 8192 )) 4k"); done
    qemu-io -f qcow2 "${args[@]}" "$IMG"
    xs create -n s2 g1
    run -0 xs export g1 s1 "$BATS_TEST_TMPDIR/b1"
    run -0 xs export --delta --base s1 g1 s2 "$BATS_TEST_TMPDIR/b2"
    d=$BATS_TEST_TMPDIR/b2/disk-xvda.qcow2
    size=$(stat -c %s "$d")
    echo "# delta $size bytes for $(( 256 * CS )) bytes of changed clusters" >&3
    [ "$size" -le $(( 256 * CS * 105 / 100 )) ]
    run -0 qemu-img info --output=json -f qcow2 "$d"
    run -0 json_get 'd["cluster-size"]' <<< "$output"
    assert_output 65536
    cp "$d" "$BATS_TEST_TMPDIR/d.qcow2"
    qemu-img rebase -u -f qcow2 -b "$BATS_TEST_TMPDIR/b1/disk-xvda.qcow2" -F qcow2 "$BATS_TEST_TMPDIR/d.qcow2"
    run -0 qemu-img check -f qcow2 "$BATS_TEST_TMPDIR/d.qcow2"
    qemu-img convert -f qcow2 -l snapshot.name=s2 -O qcow2 "$IMG" "$BATS_TEST_TMPDIR/s2.qcow2"
    run -0 qemu-img compare -f qcow2 -F qcow2 "$BATS_TEST_TMPDIR/d.qcow2" "$BATS_TEST_TMPDIR/s2.qcow2"
}

@test "a snapshot whose recorded disk size is absurd is refused" {
    mkdelta
    off=$(qcow2_l1 "$IMG" s2 size)
    poke "$IMG" "$off" $(( 1 << 60 ))
    run -1 xs export --delta --base s1 g1 s2 "$BATS_TEST_TMPDIR/bx"
    assert_output "xl-snapshot: cannot export 's2': disk xvda: image $IMG: its virtual size is too big"
    [ ! -e "$BATS_TEST_TMPDIR/bx" ]
}

# made_by_tables IMG: "True" when IMG was made by delta.c's writer, in
# file order (its refcount table ends the file; qemu-img puts it at
# cluster 1), "False" otherwise
made_by_tables() {
    python3 -c '
import os, struct, sys
f = open(sys.argv[1], "rb")
h = f.read(72)
cb = struct.unpack(">I", h[20:24])[0]
rt, rc = struct.unpack(">QI", h[48:60])
print(rt + rc * (1 << cb) == os.path.getsize(sys.argv[1]))' "$1"
}

@test "a full export of an internal snapshot is made from the image's tables in one pass and hashed as written: the snapshot's data, no backing file, clean, the manifest's checksum is the file's, in a directory and in a stream" {
    mkdelta
    run -0 xs export g1 s2 "$BATS_TEST_TMPDIR/b2"
    d=$BATS_TEST_TMPDIR/b2/disk-xvda.qcow2
    run -0 made_by_tables "$d"
    assert_output True
    [ "$(stat -c %a "$d")" = 600 ]
    run -0 qemu-img info --output=json -f qcow2 "$d"
    run -0 json_get '(d.get("backing-filename"), d["virtual-size"], d["cluster-size"])' <<< "$output"
    assert_output "(None, 67108864, 65536)"
    run -0 qemu-img check -f qcow2 "$d"
    assert_output --partial "No errors were found on the image."
    qemu-img convert -f qcow2 -l snapshot.name=s2 -O raw "$IMG" "$BATS_TEST_TMPDIR/s2.raw"
    run -0 qemu-img compare -f qcow2 -F raw "$d" "$BATS_TEST_TMPDIR/s2.raw"
    # no bigger than qemu-img's copy of the same state
    qemu-img convert -f qcow2 -l snapshot.name=s2 -O qcow2 "$IMG" "$BATS_TEST_TMPDIR/s2.qcow2"
    [ "$(stat -c %s "$d")" -le $(( $(stat -c %s "$BATS_TEST_TMPDIR/s2.qcow2") * 105 / 100 )) ]
    # the manifest's size and checksum are the file's
    run -0 json_get '[(f["size"], f["sha256"], f["virtual-size"]) for f in d["files"] if f["path"] == "disk-xvda.qcow2"][0]' \
        < "$BATS_TEST_TMPDIR/b2/manifest.json"
    assert_output "($(stat -c %s "$d"), '$(sha256sum < "$d" | cut -d' ' -f1)', 67108864)"
    # the same bytes through a stream
    xs export g1 s2 - > "$BATS_TEST_TMPDIR/b2.tar"
    [ "$(tar -xOf "$BATS_TEST_TMPDIR/b2.tar" disk-xvda.qcow2 | sha256sum)" = "$(sha256sum < "$d")" ]
    # and both import to the snapshot's data
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/state2
    mkdir "$BATS_TEST_TMPDIR/disks2"
    run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/disks2" - < "$BATS_TEST_TMPDIR/b2.tar"
    run -0 qemu-img compare -f qcow2 -F raw "$BATS_TEST_TMPDIR/disks2/g1.s2.qcow2" "$BATS_TEST_TMPDIR/s2.raw"
}

@test "a full export of a snapshot with a compressed cluster is qemu-img's copy; an L2 entry outside the image refuses it, and nothing is written" {
    mkdelta
    qemu-io -f qcow2 -c "discard -q 48M 64k" -c "write -q -c -P 0x64 48M 64k" "$IMG"
    xs create -n s3 g1
    run -0 xs export g1 s3 "$BATS_TEST_TMPDIR/b3"
    d=$BATS_TEST_TMPDIR/b3/disk-xvda.qcow2
    run -0 made_by_tables "$d"
    assert_output False
    qemu-img convert -f qcow2 -l snapshot.name=s3 -O raw "$IMG" "$BATS_TEST_TMPDIR/s3.raw"
    run -0 qemu-img compare -f qcow2 -F raw "$d" "$BATS_TEST_TMPDIR/s3.raw"
    run -0 json_get '[f["sha256"] for f in d["files"] if f["path"] == "disk-xvda.qcow2"][0]' \
        < "$BATS_TEST_TMPDIR/b3/manifest.json"
    assert_output "$(sha256sum < "$d" | cut -d' ' -f1)"
    # hostile tables: refused as for a delta
    read -r l1o l1e l2e < <(qcow2_l1 "$IMG" s2)
    poke "$IMG" $(( l1e & 0x00fffffffffffe00 )) $(( (1 << 40) | (1 << 63) ))
    before=$(md5sum < "$IMG")
    run -1 xs export g1 s2 "$BATS_TEST_TMPDIR/bx"
    assert_output "xl-snapshot: cannot export 's2': disk xvda: image $IMG: an L2 table names a cluster outside the image (guest cluster 0 of the table)"
    [ ! -e "$BATS_TEST_TMPDIR/bx" ]
    [ "$(md5sum < "$IMG")" = "$before" ]
}

@test "a full export of an image with 2 MiB clusters (more than one piece of the writer) is the snapshot's data" {
    domain_one_disk 16
    qemu-img create -q -f qcow2 -o cluster_size=2M "$IMG" 16M
    qemu-io -f qcow2 -c "write -q -P 0x35 0 5M" -c "write -q -P 0x36 9M 3M" "$IMG"
    xs create -n s1 g1
    qemu-io -f qcow2 -c "write -q -P 0x37 0 16M" "$IMG"
    run -0 xs export g1 s1 "$BATS_TEST_TMPDIR/b1"
    d=$BATS_TEST_TMPDIR/b1/disk-xvda.qcow2
    run -0 made_by_tables "$d"
    assert_output True
    run -0 qemu-img check -f qcow2 "$d"
    qemu-img convert -f qcow2 -l snapshot.name=s1 -O raw "$IMG" "$BATS_TEST_TMPDIR/s1.raw"
    run -0 qemu-img compare -f qcow2 -F raw "$d" "$BATS_TEST_TMPDIR/s1.raw"
}

@test "export --compress zstd of an internal snapshot compresses the image as it is written: the uncompressed image never exists, the member is the writer's image compressed, its checksum the stored bytes'; a compressed delta too" {
    mkdelta
    run -0 xs export g1 s2 "$BATS_TEST_TMPDIR/plain"
    # a file may not grow past 8 MiB: the 64 MiB image could not be
    # written (then compressed) as a file, only compressed on its way
    run -0 bash -c "trap '' XFSZ; ulimit -f 8192; exec '$XS' export --compress zstd g1 s2 '$BATS_TEST_TMPDIR/z'"
    assert_output --partial "(full, zstd)"
    z=$BATS_TEST_TMPDIR/z/disk-xvda.qcow2.zst
    [ ! -e "$BATS_TEST_TMPDIR/z/disk-xvda.qcow2" ]
    [ "$(stat -c %a "$z")" = 600 ]
    [ "$(zstd -dc < "$z" | sha256sum)" = "$(sha256sum < "$BATS_TEST_TMPDIR/plain/disk-xvda.qcow2")" ]
    run -0 json_get '[(f["size"], f["sha256"], f["encoding"], f["plain-size"], f["virtual-size"]) for f in d["files"] if f["path"] == "disk-xvda.qcow2.zst"][0]' \
        < "$BATS_TEST_TMPDIR/z/manifest.json"
    assert_output "($(stat -c %s "$z"), '$(sha256sum < "$z" | cut -d' ' -f1)', 'zstd', $(stat -c %s "$BATS_TEST_TMPDIR/plain/disk-xvda.qcow2"), 67108864)"
    # a delta, compressed the same way; both import to the snapshots
    run -0 bash -c "trap '' XFSZ; ulimit -f 8192; exec '$XS' export --compress zstd --delta --base s1 g1 s2 '$BATS_TEST_TMPDIR/zd'"
    run -0 xs export --compress zstd g1 s1 "$BATS_TEST_TMPDIR/z1"
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/state2
    mkdir "$BATS_TEST_TMPDIR/disks2"
    run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/disks2" "$BATS_TEST_TMPDIR/z1"
    run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/disks2" "$BATS_TEST_TMPDIR/zd"
    qemu-img convert -f qcow2 -l snapshot.name=s2 -O raw "$IMG" "$BATS_TEST_TMPDIR/s2.raw"
    run -0 qemu-img compare -f qcow2 -F raw "$BATS_TEST_TMPDIR/disks2/g1.s2.qcow2" "$BATS_TEST_TMPDIR/s2.raw"
}
