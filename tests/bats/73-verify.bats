#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# check --repair completes a snapshot only when its data verifies (sizes
# and SHA-256 kept from the bundle's manifest, qemu-img check, the memory
# image's header); delete removes the files the tool made for a snapshot
# (an imported image), never another.  A stopped domain known from its
# records, real qemu-img images (as in 80-export.bats).
load helpers
load images

# bundles: b1 (full, s1), b3 (delta s1 -> s3), m2 (full, s2 with a
# memory image)
mkbundles() {
    mkchain3
    head -c 3000000 /dev/urandom > "$BATS_TEST_TMPDIR/mem.save"
    python3 - "$STATE/$UUID/s2/record.json" "$BATS_TEST_TMPDIR/mem.save" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); r["memory"] = sys.argv[2]
json.dump(r, open(sys.argv[1], "w"))
PY
    xs export g1 s1 "$BATS_TEST_TMPDIR/b1"
    xs export --delta --base s1 g1 s3 "$BATS_TEST_TMPDIR/b3"
    xs export g1 s2 "$BATS_TEST_TMPDIR/m2"
    S1=$(snapsum "$IMG" s1)
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/st
    D=$BATS_TEST_TMPDIR/d
    mkdir -p "$D"
}

# killed_import BUNDLE: an import killed once its files are placed (as a
# kill in the middle of copying them would leave the record)
killed_import() {
    run -137 env XL_SNAPSHOT_FAULT=import-placed "$XS" import --disk-dir "$D" "$1"
}

@test "a killed import whose disk image is truncated is rolled back by check --repair, never made ready" {
    mkbundles
    killed_import "$BATS_TEST_TMPDIR/b1"
    size=$(stat -c %s "$D/g1.s1.qcow2")
    truncate -s $((size / 5)) "$D/g1.s1.qcow2"
    run -1 xs check
    assert_output --partial "snapshot 's1' is incomplete: its create was interrupted, and its data does not verify: disk $D/g1.s1.qcow2 is $((size / 5)) bytes, not the $size recorded (truncated?)"
    run -0 xs check --repair
    refute_output --partial "ready"
    assert_output --partial "rolled back"
    run -0 xs check
    assert_output "No problems found."
    run -0 find "$XL_SNAPSHOT_DIR" -name record.json
    assert_output ""
    [ ! -e "$D/g1.s1.qcow2" ]
    # and the import then succeeds, with the right data
    run -0 xs import --disk-dir "$D" "$BATS_TEST_TMPDIR/b1"
    [ "$(sum "$D/g1.s1.qcow2")" = "$S1" ]
}

@test "a killed import whose disk image has the right size but other bytes is rolled back (SHA-256)" {
    mkbundles
    killed_import "$BATS_TEST_TMPDIR/b1"
    # one byte changed in the middle of the image
    size=$(stat -c %s "$D/g1.s1.qcow2")
    printf 'X' | dd of="$D/g1.s1.qcow2" bs=1 seek=$((size / 2)) conv=notrunc status=none
    run -1 xs check
    assert_output --partial "data does not verify: disk $D/g1.s1.qcow2 does not match its recorded SHA-256"
    run -0 xs check --repair
    refute_output --partial "ready"
    run -0 xs check
    assert_output "No problems found."
    run -0 find "$XL_SNAPSHOT_DIR" -name record.json
    assert_output ""
}

@test "a killed import whose memory image is truncated is rolled back; a whole one is completed" {
    mkbundles
    killed_import "$BATS_TEST_TMPDIR/m2"
    mem=$XL_SNAPSHOT_DIR/$UUID/s2/memory.save
    truncate -s 1000000 "$mem"
    run -1 xs check
    assert_output --partial "data does not verify: memory $mem is 1000000 bytes, not the 3000000 recorded (truncated?)"
    run -0 xs check --repair
    refute_output --partial "ready"
    run -0 find "$XL_SNAPSHOT_DIR" -name record.json
    assert_output ""
    [ ! -e "$mem" ]
    [ ! -e "$D/g1.s2.qcow2" ]
    # killed again, nothing changed: the repair completes it
    killed_import "$BATS_TEST_TMPDIR/m2"
    run -0 xs check --repair
    assert_output --partial "completed: 's2' is ready and current"
    cmp "$BATS_TEST_TMPDIR/mem.save" "$mem"
    run -0 xs check
    assert_output "No problems found."
}

@test "a killed delta import whose image is damaged is rolled back, and its base is left alone" {
    mkbundles
    run -0 xs import --disk-dir "$D" "$BATS_TEST_TMPDIR/b1"
    killed_import "$BATS_TEST_TMPDIR/b3"
    size=$(stat -c %s "$D/g1.s3.qcow2")
    truncate -s $((size - 4096)) "$D/g1.s3.qcow2"
    run -0 xs check --repair
    refute_output --partial "ready"
    run -0 xs check
    assert_output "No problems found."
    run -0 xs list --names g1
    assert_output "s1"
    [ ! -e "$D/g1.s3.qcow2" ]
    [ "$(sum "$D/g1.s1.qcow2")" = "$S1" ]
    # a delta killed after placing, untouched: completed, its data exact
    killed_import "$BATS_TEST_TMPDIR/b3"
    run -0 xs check --repair
    assert_output --partial "completed: 's3' is ready and current"
    [ "$(sum "$D/g1.s3.qcow2")" = "$(snapsum "$IMG" s3)" ]
}

@test "a preparing record whose memory image is not an xl save file is rolled back, not completed" {
    setup_images
    img=$BATS_TEST_TMPDIR/img/g1.half.qcow2
    qemu-img create -q -f qcow2 "$img" 8M
    mkrecord half base 1764000100 false preparing
    head -c 100 /dev/zero > "$STATE/$UUID/half/memory.save"
    python3 - "$STATE/$UUID/half/record.json" "$img" <<'PY'
import json, sys
p, img = sys.argv[1:3]
r = json.load(open(p))
r["disks"] = [{"vdev": "xvda", "format": "qcow2", "image": img,
               "snapshot": "external", "backing": img}]
json.dump(r, open(p, "w"))
PY
    run -1 xs check
    assert_output --partial "snapshot 'half' is incomplete: its create was interrupted, and its data does not verify: memory image $STATE/$UUID/half/memory.save: not an xl save file (bad magic or byte order)"
    run -0 xs check --repair
    assert_output --partial "rolled back"
    run -0 xs list --names g1
    assert_output "base"
    run -0 xs check
    assert_output "No problems found."
}

@test "a killed import whose disk image qemu-img check finds corrupt is rolled back" {
    mkbundles
    killed_import "$BATS_TEST_TMPDIR/b1"
    # the recorded sums say nothing: only qemu-img check can tell
    python3 - "$XL_SNAPSHOT_DIR/$UUID/s1/.parts.json" <<'PY'
import json, sys
try:
    p = json.load(open(sys.argv[1]))
except FileNotFoundError:
    sys.exit(0)         # (a version that keeps no parts file)
for q in p["parts"]:
    q["size"] = None; q["sha256"] = None
json.dump(p, open(sys.argv[1], "w"))
PY
    # the refcount table offset (header bytes 48..55) points far away
    printf '\x00\x00\x00\x7f\x00\x00\x00\x00' | dd of="$D/g1.s1.qcow2" bs=1 seek=48 conv=notrunc status=none
    run -1 xs check
    assert_output --partial "data does not verify: disk xvda: image $D/g1.s1.qcow2: qemu-img check finds it"
    run -0 xs check --repair
    assert_output --partial "rolled back"
    run -0 find "$XL_SNAPSHOT_DIR" -name record.json
    assert_output ""
}

@test "delete of an imported snapshot removes its image, and no file of the admin's" {
    mkbundles
    run -0 xs import --disk-dir "$D" "$BATS_TEST_TMPDIR/b1"
    run -0 xs import --disk-dir "$D" "$BATS_TEST_TMPDIR/b3"
    echo keep > "$D/admin.txt"
    qemu-img create -q -f qcow2 "$D/g1.other.qcow2" 1M
    run -0 ls "$XL_SNAPSHOT_DIR/$UUID/s1" -A
    assert_output ".parts.json
record.json"
    # the delta's image goes with s3, s1's image stays (s1 stays)
    run -0 xs delete g1 s3
    [ ! -e "$D/g1.s3.qcow2" ]
    [ "$(sum "$D/g1.s1.qcow2")" = "$S1" ]
    run -0 xs delete g1 s1
    run -0 ls -A "$D"
    assert_output "admin.txt
g1.other.qcow2"
    run -0 find "$XL_SNAPSHOT_DIR/$UUID" -mindepth 1 -maxdepth 1 -type d
    assert_output ""
    run -0 xs check
    assert_output "No problems found."
}

@test "delete of an imported snapshot with memory removes its image and its memory image" {
    mkbundles
    run -0 xs import --disk-dir "$D" "$BATS_TEST_TMPDIR/m2"
    [ -e "$XL_SNAPSHOT_DIR/$UUID/s2/memory.save" ]
    run -0 xs delete g1 s2
    run -0 ls -A "$D"
    assert_output ""
    [ ! -e "$XL_SNAPSHOT_DIR/$UUID/s2" ]
}

@test "delete keeps an imported image another image is built on" {
    mkbundles
    run -0 xs import --disk-dir "$D" "$BATS_TEST_TMPDIR/b1"
    run -0 xs import --disk-dir "$D" "$BATS_TEST_TMPDIR/m2"
    # an overlay on s1's image elsewhere (as a revert makes), named by
    # the config kept with the record
    mkdir -p "$BATS_TEST_TMPDIR/img2"
    qemu-img create -q -f qcow2 -b "$D/g1.s1.qcow2" -F qcow2 "$BATS_TEST_TMPDIR/img2/top.qcow2"
    python3 - "$XL_SNAPSHOT_DIR/$UUID/s1/record.json" "$BATS_TEST_TMPDIR/img2/top.qcow2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cfg = r["config"] if isinstance(r["config"], dict) else json.loads(r["config"])
cfg["disks"][0]["pdev_path"] = sys.argv[2]
r["config"] = cfg
json.dump(r, open(sys.argv[1], "w"))
PY
    # an admin's overlay on s2's image next to it, named nowhere
    qemu-img create -q -f qcow2 -b "$D/g1.s2.qcow2" -F qcow2 "$D/mine.qcow2"
    run -0 xs delete g1 s1
    run -0 xs delete g1 s2
    run -0 ls -A "$D"
    assert_output "g1.s1.qcow2
g1.s2.qcow2
mine.qcow2"
    [ "$(sum "$BATS_TEST_TMPDIR/img2/top.qcow2")" = "$S1" ]
    qemu-img check -q -f qcow2 "$D/mine.qcow2"
}

teardown() {
    [ -z "${SHM:-}" ] || rm -rf "$SHM"
}

@test "import killed (SIGKILL) in the middle of copying a large disk image into place: check --repair rolls it back" {
    [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] || skip "no tmpfs at /dev/shm"
    IMG=$BATS_TEST_TMPDIR/img/g1.qcow2
    setup_images
    qemu-img create -q -f qcow2 "$IMG" 320M
    fill "$IMG" 0 0x11
    qemu-io -f qcow2 -c "write -q -P 0x5a 1M 255M" "$IMG"
    xs create -n s1 g1
    xs export g1 s1 "$BATS_TEST_TMPDIR/b1"
    S1=$(snapsum "$IMG" s1)
    # the state dir (and so the staging dir) on tmpfs, the disk dir on
    # another file system: the image is copied into place, not linked
    SHM=$(mktemp -d /dev/shm/xlsnap-73.XXXXXX)
    export XL_SNAPSHOT_DIR=$SHM/st
    D=$BATS_TEST_TMPDIR/d
    mkdir -p "$D"
    # the copy into place is held (SIGSTOP) after its first piece, then
    # SIGKILLed
    # there: polling its size raced with a kernel copy of 64 MiB pieces
    XL_SNAPSHOT_FAULT=copy-plain-piece:stop "$XS" import --disk-dir "$D" "$BATS_TEST_TMPDIR/b1" > "$BATS_TEST_TMPDIR/imp.out" 2>&1 &
    pid=$!
    for _ in $(seq 1200); do
        [ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" != T ] || break
        sleep 0.05
    done
    [ "$(awk '{print $3}' /proc/$pid/stat)" = T ]
    kill -KILL $pid 2>/dev/null || true
    rc=0
    wait $pid || rc=$?
    cat "$BATS_TEST_TMPDIR/imp.out"
    # killed half-way through the copy of a 256 MiB image
    [ "$rc" = 137 ]
    size=$(stat -c %s "$D/g1.s1.qcow2")
    echo "killed with $size bytes of the image copied"
    [ "$size" -lt $((200 << 20)) ]
    run -1 xs check g1
    assert_output --partial "its data does not verify: disk $D/g1.s1.qcow2 is $size bytes, not the "
    run -0 xs check --repair
    refute_output --partial "ready"
    assert_output --partial "rolled back"
    run -0 xs check
    assert_output "No problems found."
    [ ! -e "$D/g1.s1.qcow2" ]
    run -0 find "$XL_SNAPSHOT_DIR" -name record.json
    assert_output ""
    # the import then succeeds, with the right data
    run -0 xs import --disk-dir "$D" "$BATS_TEST_TMPDIR/b1"
    [ "$(sum "$D/g1.s1.qcow2")" = "$S1" ]
}

@test "a delete of an imported snapshot killed after marking it: check --repair finishes it, image included" {
    mkbundles
    run -0 xs import --disk-dir "$D" "$BATS_TEST_TMPDIR/b1"
    echo keep > "$D/admin.txt"
    run -137 env XL_SNAPSHOT_FAULT=delete-marked "$XS" delete g1 s1
    [ -e "$D/g1.s1.qcow2" ]
    run -0 xs check --repair
    run -0 xs check
    assert_output "No problems found."
    run -0 ls -A "$D"
    assert_output "admin.txt"
}

@test "a damaged parts file does not stop a delete, and then no image counts as the snapshot's" {
    mkbundles
    run -0 xs import --disk-dir "$D" "$BATS_TEST_TMPDIR/b1"
    echo '{"parts": [' > "$XL_SNAPSHOT_DIR/$UUID/s1/.parts.json"
    run -0 xs delete g1 s1
    [ -e "$D/g1.s1.qcow2" ]
    [ ! -e "$XL_SNAPSHOT_DIR/$UUID/s1" ]
}
