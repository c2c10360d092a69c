#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Untrusted input (issue 12): bytes a guest wrote to its disks, and
# bundles from elsewhere.  One test per attack, real qemu-img, no
# hypervisor (the real-Xen proof is tests/e2e/80-untrusted-guest.bats).
load helpers

SECRET=DOM0-SECRET-BYTES-xyzzy

# a dom0 file the attacker wants to read
mksecret() {
    SECRETF=$BATS_TEST_TMPDIR/secret
    python3 -c 'import sys; open(sys.argv[1], "w").write(sys.argv[2] * 20000)' "$SECRETF" "$SECRET"
    cp "$SECRETF" "$BATS_TEST_TMPDIR/secret.orig"
}

# evil_raw FILE: a "raw" guest disk whose first bytes are a qcow2 header
# naming the dom0 secret as backing file, as a guest can write them.
evil_raw() {
    qemu-img create -q -f qcow2 -b "$SECRETF" -F raw "$1" 4M
    truncate -s 4M "$1"
    qemu-img info -f raw "$1" >/dev/null
}

# An external snapshot s1 of the stopped domain g1 whose raw disk
# (the snapshot's data) the guest had written that header onto; the
# domain then ran on the overlay.
setup_raw_external() {
    mksecret
    mkdir -p "$BATS_TEST_TMPDIR/img"
    RAWD=$BATS_TEST_TMPDIR/img/g1.img
    OVL=$BATS_TEST_TMPDIR/img/g1.s1.qcow2
    evil_raw "$RAWD"
    qemu-img create -q -f qcow2 -b "$RAWD" -F raw "$OVL"
    mkrecord s1 - 1764000000 true
    python3 - "$STATE/$UUID/s1/record.json" "$RAWD" "$OVL" <<'PY'
import json, sys
p, raw, ovl = sys.argv[1:4]
r = json.load(open(p))
r["memory"] = None
r["type"] = "external"
r["disks"] = [{"vdev": "xvda", "format": "raw", "image": raw,
               "snapshot": "external", "overlay": ovl, "backing": raw}]
r["config"] = {"c_info": {"name": "g1", "uuid": r["domain"]["uuid"]},
               "disks": [{"pdev_path": ovl, "vdev": "xvda", "backend": "qdisk",
                          "format": "qcow2", "readwrite": 1}]}
json.dump(r, open(p, "w"))
PY
    RAWSUM=$(md5sum < "$RAWD")
}

@test "export of a raw disk carrying a guest-written qcow2 header never reads the backing file it names" {
    setup_raw_external
    run -0 xs export g1 s1 "$BATS_TEST_TMPDIR/b"
    qemu-img convert -f qcow2 -O raw "$BATS_TEST_TMPDIR/b/disk-xvda.qcow2" "$BATS_TEST_TMPDIR/out.raw"
    run -1 grep -c "$SECRET" "$BATS_TEST_TMPDIR/out.raw"
    # the export is the raw disk, byte for byte (header included)
    cmp "$BATS_TEST_TMPDIR/out.raw" "$RAWD"
}

@test "delete of that snapshot neither rebases onto the guest-named file nor removes the raw image" {
    setup_raw_external
    run -0 xs delete g1 s1
    [ -f "$RAWD" ]
    [ "$(md5sum < "$RAWD")" = "$RAWSUM" ]
    run -0 qemu-img info -f qcow2 --output=json "$OVL"
    refute_output --partial "$SECRETF"
    assert_output --partial "\"backing-filename\": \"$RAWD\""
    cmp "$SECRETF" "$BATS_TEST_TMPDIR/secret.orig"
}

# ---- bundles ----

# A stopped domain g1 with one qcow2 disk, a snapshot s1, and its full
# bundle $B (a directory); $D: an empty disk dir for the import.
mkbundle() {
    mksecret
    IMG=$BATS_TEST_TMPDIR/img/g1.qcow2
    mkdir -p "$BATS_TEST_TMPDIR/img" "$BATS_TEST_TMPDIR/d"
    D=$BATS_TEST_TMPDIR/d
    B=$BATS_TEST_TMPDIR/b
    qemu-img create -q -f qcow2 "$IMG" 8M
    qemu-io -f qcow2 -c "write -q -P 0x5a 0 1M" "$IMG"
    mkrecord base - 1764000000 true
    python3 - "$STATE/$UUID/base/record.json" "$IMG" <<'PY'
import json, sys
p, img = sys.argv[1:3]
r = json.load(open(p))
r["config"] = {"c_info": {"type": "pv", "name": "g1", "uuid": r["domain"]["uuid"]},
               "b_info": {"max_memkb": 131072, "target_memkb": 131072, "max_vcpus": 1},
               "disks": [{"pdev_path": img, "vdev": "xvda", "backend": "qdisk",
                          "format": "qcow2", "readwrite": 1}]}
r["disks"] = []
r["memory"] = None
json.dump(r, open(p, "w"))
PY
    xs create -n s1 g1 >/dev/null
    xs export ${1:-} g1 s1 "$B" >/dev/null
    # the importing host: nothing of g1 known
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/state2
}

# rehash [PYTHON]: run PYTHON (m: the manifest, r: the record) on the
# bundle, then make every size and checksum match again -- what an
# attacker who writes a bundle does.
rehash() {
    python3 - "$B" "${1:-}" <<'PY'
import json, sys, hashlib, os
b, code = sys.argv[1:3]
mp = os.path.join(b, "manifest.json")
m = json.load(open(mp))
rp = os.path.join(b, "record.json")
r = json.load(open(rp))
exec(code)
json.dump(r, open(rp, "w"))
for f in m["files"]:
    data = open(os.path.join(b, f["path"]), "rb").read()
    f["size"] = len(data)
    f["sha256"] = hashlib.sha256(data).hexdigest()
json.dump(m, open(mp, "w"))
PY
}

# nothing_imported: no record, no image in $D, no staging dir left
# (a domain's lock file may stay)
nothing_imported() {
    run -0 find "$D" "$XL_SNAPSHOT_DIR" -mindepth 1 -not -type d -not -name .lock
    assert_output ""
    run -0 find "$XL_SNAPSHOT_DIR" -name '.import*'
    assert_output ""
}

@test "import refuses a disk whose qcow2 header names a dom0 backing file" {
    mkbundle
    qemu-img create -q -f qcow2 -b "$SECRETF" -F raw "$B/disk-xvda.qcow2" 8M
    rehash
    run -1 xs import --disk-dir "$D" "$B"
    assert_output "xl-snapshot: cannot import '$B': the bundle was refused, nothing was imported: bundle member disk-xvda.qcow2 is refused: it has a backing file (a full bundle's disks stand alone)"
    nothing_imported
}

@test "import refuses a disk whose backing file is a json: name" {
    mkbundle
    qemu-img create -q -f qcow2 -u -F raw \
        -b 'json:{"driver": "raw", "file": {"driver": "file", "filename": "'"$SECRETF"'"}}' \
        "$B/disk-xvda.qcow2" 8M
    rehash
    run -1 xs import --disk-dir "$D" "$B"
    assert_output --partial "bundle member disk-xvda.qcow2 is refused: its backing file is a json: name"
    nothing_imported
}

@test "import refuses a disk with an external data file" {
    mkbundle
    qemu-img create -q -f qcow2 -o data_file="$BATS_TEST_TMPDIR/datafile" "$B/disk-xvda.qcow2" 8M
    rehash
    run -1 xs import --disk-dir "$D" "$B"
    assert_output --partial "bundle member disk-xvda.qcow2 is refused: it has an external data file (data-file)"
    nothing_imported
}

@test "import refuses a disk member that is a VMDK descriptor naming a dom0 file" {
    mkbundle
    cat > "$B/disk-xvda.qcow2" <<EOF2
# Disk DescriptorFile
version=1
CID=fffffffe
parentCID=ffffffff
createType="monolithicFlat"

RW 16384 FLAT "$SECRETF" 0
EOF2
    rehash
    run -1 xs import --disk-dir "$D" "$B"
    assert_output --partial "bundle member disk-xvda.qcow2 is refused: it is not a qcow2 image"
    nothing_imported
}

@test "import refuses a disk whose virtual size is not the one the manifest declares" {
    mkbundle
    qemu-img resize -q -f qcow2 "$B/disk-xvda.qcow2" 16M
    rehash
    run -1 xs import --disk-dir "$D" "$B"
    assert_output --partial "bundle member disk-xvda.qcow2 is refused: its virtual size is not the 8388608 bytes the manifest declares"
    nothing_imported
}

@test "the record's image directory does not decide where disks go" {
    mkbundle
    mkdir -p "$BATS_TEST_TMPDIR/victim"
    rehash 'r["disks"][0]["image"] = r["disks"][0]["backing"] = "'"$BATS_TEST_TMPDIR"'/victim/g1.qcow2"'
    # a new domain here, no --disk-dir: there is nowhere it may go
    run -1 xs import "$B"
    assert_output "xl-snapshot: cannot import '$B': disk xvda: domain g1 has no image for it on this host to put the imported one next to; give --disk-dir"
    run -0 find "$BATS_TEST_TMPDIR/victim" -mindepth 1
    assert_output ""
    nothing_imported
    # with --disk-dir, only the file name is taken, and it goes there
    run -0 xs import --disk-dir "$D" "$B"
    [ -f "$D/g1.s1.qcow2" ]
    run -0 find "$BATS_TEST_TMPDIR/victim" -mindepth 1
    assert_output ""
}

@test "an imported config keeps no bootloader, script, phy: disk, device model or passthrough" {
    mkbundle
    rehash '
c = r["config"]
c["b_info"]["type.pv"] = {"bootloader": "/bin/sh", "bootloader_args": ["-c", "touch /tmp/pwned"]}
c["b_info"]["device_model_override"] = "/bin/sh"
c["b_info"]["device_model_args"] = ["-c", "id"]
c["b_info"]["ramdisk"] = "'"$SECRETF"'"
c["b_info"]["cmdline"] = "console=hvc0"
c["nics"] = [{"script": "/tmp/evil.sh", "bridge": "xenbr0"}]
c["disks"].append({"pdev_path": "/dev/sda", "vdev": "xvdz", "backend": "phy", "format": "raw", "readwrite": 1})
c["pcidevs"] = [{"bus": 1}]
c["on_crash"] = "coredump-restart"
c["on_poweroff"] = "destroy"
'
    run -0 xs import --disk-dir "$D" "$B"
    cfg=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["config"], sort_keys=True))' "$XL_SNAPSHOT_DIR/$UUID/s1/record.json")
    for bad in bootloader /bin/sh touch device_model script evil xenbr0 /dev/sda xvdz phy pcidevs coredump "$SECRETF"; do
        [[ $cfg != *"$bad"* ]] || { echo "config keeps $bad: $cfg"; false; }
    done
    run -0 python3 -c 'import json,sys; c = json.load(open(sys.argv[1]))["config"]; print(c["c_info"]["type"], c["b_info"]["max_memkb"], c["b_info"]["cmdline"], c["on_poweroff"], [(d["vdev"], d["pdev_path"], d["format"]) for d in c["disks"]])' "$XL_SNAPSHOT_DIR/$UUID/s1/record.json"
    assert_output "pv 131072 console=hvc0 destroy [('xvda', '$D/g1.s1.qcow2', 'qcow2')]"
}

@test "a kernel and ramdisk are kept only from --kernel-dir; an existing domain's own config wins" {
    mkbundle
    mkdir -p "$BATS_TEST_TMPDIR/boot"
    echo k > "$BATS_TEST_TMPDIR/boot/vmlinuz"
    rehash 'r["config"]["b_info"]["kernel"] = "'"$BATS_TEST_TMPDIR"'/boot/vmlinuz"; r["config"]["b_info"]["ramdisk"] = "'"$BATS_TEST_TMPDIR"'/boot/../secret"'
    run -0 xs import --kernel-dir "$BATS_TEST_TMPDIR/boot" --disk-dir "$D" "$B"
    run -0 python3 -c 'import json,sys; b = json.load(open(sys.argv[1]))["config"]["b_info"]; print(b.get("kernel"), b.get("ramdisk"))' "$XL_SNAPSHOT_DIR/$UUID/s1/record.json"
    assert_output "$BATS_TEST_TMPDIR/boot/vmlinuz None"
    # back on the original host (its own config of g1), a hostile config
    # in the bundle changes nothing: the disk goes next to g1's image
    export XL_SNAPSHOT_DIR=$STATE
    xs delete --metadata g1 s1 >/dev/null
    rm -f "$BATS_TEST_TMPDIR/img/g1.s1.qcow2"
    rehash 'r["config"]["b_info"]["type.pv"] = {"bootloader": "/bin/sh"}'
    run -0 xs import "$B"
    [ -f "$BATS_TEST_TMPDIR/img/g1.s1.qcow2" ]
    run -1 grep -c bootloader "$STATE/$UUID/s1/record.json"
}

@test "a member swapped after it was hashed is not what gets imported" {
    mkbundle
    want=$(qemu-img convert -f qcow2 -O raw "$B/disk-xvda.qcow2" /dev/stdout | md5sum)
    qemu-img create -q -f qcow2 "$BATS_TEST_TMPDIR/other.qcow2" 8M
    qemu-io -f qcow2 -c "write -q -P 0x66 0 1M" "$BATS_TEST_TMPDIR/other.qcow2"
    XL_SNAPSHOT_FAULT=import-verified:stop "$XS" import --disk-dir "$D" "$B" > "$BATS_TEST_TMPDIR/out" 2>&1 &
    pid=$!
    for i in $(seq 600); do
        [ "$(ps -o stat= -p $pid | cut -c1)" = T ] && break
        sleep 0.1
    done
    [ "$(ps -o stat= -p $pid | cut -c1)" = T ] || { cat "$BATS_TEST_TMPDIR/out"; echo "import did not stop after verifying"; false; }
    cp "$BATS_TEST_TMPDIR/other.qcow2" "$B/disk-xvda.qcow2"
    kill -CONT $pid
    wait $pid
    got=$(qemu-img convert -f qcow2 -O raw "$D/g1.s1.qcow2" /dev/stdout | md5sum)
    [ "$got" = "$want" ]
}

@test "a zstd bomb: decompression stops at the size the manifest declares" {
    mkbundle "--compress zstd"
    # 64 MiB of zeros in a few KiB, declared as the 1 MiB it replaced
    head -c 64M /dev/zero | zstd -q -19 -o "$B/disk-xvda.qcow2.zst.new"
    mv "$B/disk-xvda.qcow2.zst.new" "$B/disk-xvda.qcow2.zst"
    rehash 'for f in m["files"]: f["plain-size"] = 1048576 if f["role"] == "disk" else f.get("plain-size")'
    run -1 xs import --disk-dir "$D" "$B"
    assert_output --partial "decompresses to more than the 1048576 bytes the manifest declares"
    nothing_imported
}

@test "a record larger than the store reads is refused by import and redefine" {
    mkbundle
    rehash 'r["description"] = "x" * (17 << 20)'
    run -1 xs import --disk-dir "$D" "$B"
    assert_output --partial "too large"
    nothing_imported
    run -1 xs redefine "$UUID" "$B/record.json"
    assert_output --partial "too large"
    run -0 xs list --domains
    assert_output ""
}

@test "a domain name with terminal escapes is refused by import and never printed raw" {
    mkbundle
    esc=$'evil\e]0;owned\a\e[2J'
    rehash 'm["domain"]["name"] = r["domain"]["name"] = r["config"]["c_info"]["name"] = "'"$esc"'"'
    run -1 xs import --disk-dir "$D" "$B"
    assert_output --partial "its domain name is not a valid name"
    [[ $output != *$'\e'* ]]
    nothing_imported
    # a record that already holds one (an older import): escaped on stdout
    export XL_SNAPSHOT_DIR=$STATE
    mkrecord e1 - 1764000000 false ready 11111111-2222-3333-4444-555555555555
    python3 - "$STATE/11111111-2222-3333-4444-555555555555/e1/record.json" "$esc" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["domain"]["name"] = sys.argv[2]
r["description"] = sys.argv[2]
json.dump(r, open(sys.argv[1], "w"))
PY
    run -0 xs list --domains
    [[ $output != *$'\e'* ]] && [[ $output != *$'\a'* ]]
    assert_output --partial "evil?]0;owned??[2J"
    run -0 xs list 11111111-2222-3333-4444-555555555555
    [[ $output != *$'\e'* ]]
    run -0 xs info 11111111-2222-3333-4444-555555555555 e1
    [[ $output != *$'\e'* ]]
}

@test "a FIFO as a bundle member is refused, not read forever" {
    mkbundle
    rm "$B/disk-xvda.qcow2"
    mkfifo "$B/disk-xvda.qcow2"
    run -1 timeout 30 "$XS" import --disk-dir "$D" "$B"
    assert_output --partial "bundle member disk-xvda.qcow2 is not a regular file"
    nothing_imported
}

@test "snapshot names: UTF-8-encoded surrogates, overlong forms and C1 controls are refused" {
    setup_images
    for n in $'a\xed\xa0\x80' $'a\xc0\xaf' $'a\xe0\x80\xaf' $'a\xc2\x9b2J'; do
        run xs create -N -n "$n" g1
        [ "$status" -eq 1 ] || { echo "$n: exit $status: $output"; false; }
        assert_output --regexp "snapshot name (is not valid UTF-8|contains a control character)"
    done
}

@test "prune --keep-daily with a creationtime no calendar holds" {
    mkrecord s1 - 1764000000 false
    mkrecord s2 s1 67767976233316800 false
    mkrecord s3 s2 1764000100 true
    run -0 bash -c "'$XS' prune --keep-daily 1 --dry-run g1 | sort"
    assert_output "would delete s1
would delete s3"
}
