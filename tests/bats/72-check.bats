#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# check [--repair] on crafted state dirs, and every fault step of create,
# delete and revert of a stopped domain (real qemu-img, no hypervisor).
load helpers

# check_repairs PATTERN: check finds PATTERN (exit 1), --repair exits 0,
# a second check is clean
check_repairs() {
    run -1 xs check g1
    assert_output --partial "$1"
    run -0 xs check --repair g1
    assert_output --partial "repaired: "
    run -0 xs check g1
    assert_output "No problems found."
}

@test "a clean state dir: no problems, exit 0; without a domain: every domain" {
    bare s0 - 1764000000 true
    run -0 xs check g1
    assert_output "No problems found."
    run -0 xs check
    assert_output "No problems found."
    run -0 xs check --json
    run -0 json_get 'd["clean"], d["problems"]' <<< "$output"
    assert_output "(True, [])"
}

@test "a preparing record is an incomplete create; repair rolls it back" {
    bare s0 - 1764000000 true
    bare half s0 1764000100 false preparing
    echo partial > "$STATE/$UUID/half/memory.save"
    python3 - "$STATE/$UUID/half/record.json" "$STATE/$UUID/half/memory.save" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); r["memory"] = sys.argv[2]
json.dump(r, open(sys.argv[1], "w"))
PY
    run -0 xs list g1
    assert_output --partial "snapshot 'half' is incomplete (preparing): an operation was interrupted; run 'xl-snapshot check --repair'"
    run -1 xs check --json g1
    run -0 json_get '[(p["snapshot"], p["problem"], p["repaired"]) for p in d["problems"]]' <<< "$output"
    assert_output "[('half', 'incomplete-create', False)]"
    check_repairs "snapshot 'half' is incomplete: its create was interrupted before all its data was taken"
    [ ! -e "$STATE/$UUID/half" ]
    run -0 xs list --names g1
    assert_output s0
}

@test "a deleting record: repair finishes the delete, the child moves up" {
    bare s0 - 1764000000 false
    bare s1 s0 1764000100 true deleting
    bare s2 s1 1764000200 false
    run -0 xs list --tree g1
    assert_output --partial "s1 * (deleting)"
    run -1 xs revert g1 s1
    assert_output "xl-snapshot: cannot revert 's1': snapshot 's1' is incomplete (state deleting); run 'xl-snapshot check --repair'"
    check_repairs "snapshot 's1' was being deleted"
    run -0 xs list --tree g1
    assert_output "s0 *
\`-- s2"
}

@test "a missing parent becomes a root; of two current the newest stays" {
    bare s0 - 1764000000 true
    bare s1 gone 1764000100 true
    run -1 xs check g1
    assert_line "g1: snapshot 's1' names parent 'gone', which does not exist"
    assert_line "g1: 2 snapshots are marked current"
    run -0 xs check --repair g1
    assert_line "g1:   repaired: made 's1' a root"
    assert_line "g1:   repaired: kept the newest, 's1', current"
    run -0 xs check g1
    run -0 xs current g1
    assert_output s1
    run -0 xs parent --json g1 s1
    run -0 json_get 'd["parent"]' <<< "$output"
    assert_output None
}

@test "orphans: a snapshot dir without record, a memory image no record names" {
    bare s0 - 1764000000 true
    mkdir -m 0700 "$STATE/$UUID/lost"
    echo x > "$STATE/$UUID/lost/memory.save"
    echo y > "$STATE/$UUID/s0/memory.save"
    echo z > "$STATE/$UUID/s0/.record.json.tmp"
    run -1 xs check g1
    assert_output --partial "$STATE/$UUID/lost has no record"
    assert_output --partial "$STATE/$UUID/s0/memory.save is not part of any snapshot"
    assert_output --partial "$STATE/$UUID/s0/.record.json.tmp is not part of any snapshot"
    run -0 xs check --repair g1
    run -0 xs check g1
    [ ! -e "$STATE/$UUID/lost" ]
    [ ! -e "$STATE/$UUID/s0/memory.save" ]
    [ -e "$STATE/$UUID/s0/record.json" ]
}

@test "a compressed memory image no record names is an orphan too" {
    bare s0 - 1764000000 true
    echo y > "$STATE/$UUID/s0/memory.save.zst"
    check_repairs "$STATE/$UUID/s0/memory.save.zst is not part of any snapshot"
    [ ! -e "$STATE/$UUID/s0/memory.save.zst" ]
    [ -e "$STATE/$UUID/s0/record.json" ]
}

@test "staging dirs of a killed export and a killed import are found and removed, one in use is left alone" {
    setup_images
    run -0 xs create -n s1 g1
    run -0 xs export g1 s1 "$BATS_TEST_TMPDIR/b"
    mkdir "$BATS_TEST_TMPDIR/d"
    run env XL_SNAPSHOT_FAULT=import-verified "$XS" import --disk-dir "$BATS_TEST_TMPDIR/d" --as-domain copy1 "$BATS_TEST_TMPDIR/b"
    [ "$status" -eq 137 ]
    imp=$(find "$STATE" -maxdepth 1 -name '.import.*')
    [ -n "$imp" ] && [ -n "$(ls -A "$imp")" ]
    # an export to a stream killed half-way leaves its staging dir
    exp=$STATE/$UUID/.export.Ab12Cd
    mkdir -m 0700 "$exp"
    echo x > "$exp/disk-xvda.qcow2"
    # a staging dir an operation holds is not touched
    busy=$STATE/$UUID/.export.InUse1
    mkdir -m 0700 "$busy"
    flock "$busy" sleep 60 3>&- &
    holder=$!
    # wait until the lock is really held (under load the holder starts late)
    for _ in $(seq 600); do
        flock -n "$busy" true || break
        sleep 0.1
    done
    run flock -n "$busy" true
    [ "$status" -ne 0 ]
    run -1 xs check g1
    assert_output --partial "g1: $exp is the staging dir of an interrupted export"
    refute_output --partial "$imp"
    refute_output --partial "$busy"
    run -1 xs check
    assert_output --partial "g1: $exp is the staging dir of an interrupted export"
    assert_output --partial "$STATE: $imp is the staging dir of an interrupted import"
    run -1 xs check --json
    run -0 json_get 'sorted((p["domain"]["uuid"] or "none", p["problem"]) for p in d["problems"])' <<< "$output"
    assert_output "[('$UUID', 'orphan'), ('none', 'orphan')]"
    run -0 xs check --repair
    assert_output --partial "repaired: removed $exp"
    assert_output --partial "repaired: removed $imp"
    [ ! -e "$exp" ] && [ ! -e "$imp" ] && [ -d "$busy" ]
    run -0 xs check
    assert_output "No problems found."
    kill "$holder"
    wait "$holder" || true
    # the first import into a new state dir, killed: no domain dir yet
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/st2
    run env XL_SNAPSHOT_FAULT=import-verified "$XS" import --disk-dir "$BATS_TEST_TMPDIR/d" --as-domain copy2 "$BATS_TEST_TMPDIR/b"
    [ "$status" -eq 137 ]
    imp=$(find "$XL_SNAPSHOT_DIR" -maxdepth 1 -name '.import.*')
    [ -n "$imp" ]
    run -1 xs check
    assert_output --partial "$XL_SNAPSHOT_DIR: $imp is the staging dir of an interrupted import"
    run -0 xs check --repair
    run -0 find "$XL_SNAPSHOT_DIR" -mindepth 1
    assert_output ""
}

@test "missing data is reported and cannot be repaired (exit 1)" {
    setup_images
    run -0 xs create -n s1 g1
    qemu-img snapshot -d s1 "$DATA"
    run -1 xs check --repair g1
    assert_output --partial "snapshot 's1' cannot be reverted: image $DATA has no internal snapshot 's1'"
    run -1 xs check g1
}

@test "a malformed revert intent is reported and removed" {
    bare s0 - 1764000000 true
    echo '{"snapshot": "s0", "dom' > "$STATE/$UUID/.revert"
    check_repairs "the revert intent is malformed"
}

# every ready snapshot of g1 reverts to its pattern
all_revert() {
    local s
    for s in "$@"; do
        run -0 xs revert g1 "${s%=*}"
        has "$IMG" "${s#*=}" || fail "revert ${s%=*}: $IMG lost its data"
        has "$DATA" "${s#*=}" || fail "revert ${s%=*}: $DATA lost its data"
    done
}

fillboth() { fill "$IMG" "$1"; fill "$DATA" "$1"; }

@test "create killed at every step: check finds it, repair leaves only whole snapshots" {
    for step in record-write record-before-rename create-prepared \
                create-memory create-disks create-resumed \
                create-current-cleared; do
        rm -rf "$STATE"; setup_images
        fillboth 0x11
        run -0 xs create -n s1 g1
        fillboth 0x22
        XL_SNAPSHOT_FAULT=$step run -137 xs create -n s2 g1
        run -1 xs check g1
        [ -n "$output" ] || fail "$step: nothing found"
        run -0 xs check --repair g1
        echo "# $step: $output" >&3
        run -0 xs check g1
        # s2 exists only whole (completed) or not at all (rolled back)
        if xs info g1 s2 >/dev/null 2>&1; then
            all_revert s1=0x11 s2=0x22
        else
            all_revert s1=0x11
            run -0 qemu-img snapshot -l "$IMG"
            refute_output --partial " s2 "
        fi
    done
}

@test "delete killed at every step: check finds it, repair finishes it, the others keep their data" {
    for step in delete-marked delete-data delete-memory delete-reparented; do
        rm -rf "$STATE"; setup_images
        fillboth 0x11; run -0 xs create -n s1 g1
        fillboth 0x22; run -0 xs create -n s2 g1
        fillboth 0x33; run -0 xs create -n s3 g1
        XL_SNAPSHOT_FAULT=$step run -137 xs delete g1 s2
        check_repairs "snapshot 's2' was being deleted"
        run -1 xs info g1 s2
        run -0 qemu-img snapshot -l "$IMG"
        refute_output --partial " s2 "
        run -0 xs list --tree g1
        assert_output "base
\`-- s1
    \`-- s3 *"
        all_revert s1=0x11 s3=0x33
    done
}

@test "revert killed at every step: check finds it, repair completes it" {
    for step in revert-intent revert-destroyed revert-disks revert-started \
                revert-current; do
        rm -rf "$STATE"; setup_images
        fillboth 0x11; run -0 xs create -n s1 g1
        fillboth 0x22; run -0 xs create -n s2 g1
        fillboth 0x33
        XL_SNAPSHOT_FAULT=$step run -137 xs revert g1 s1
        check_repairs "a revert to 's1' was interrupted"
        # completed: the disks are s1's, s1 is current
        has "$IMG" 0x11 || fail "$step: disk not reverted"
        has "$DATA" 0x11 || fail "$step: disk not reverted"
        run -0 xs current g1
        assert_output s1
        all_revert s2=0x22 s1=0x11
    done
}

@test "a create whose internal snapshots were taken but whose data does not verify: repair rolls it back and removes them (the qcow2 driver's cancel)" {
    setup_images
    run -0 xs create -n s1 g1
    run -0 qemu-img snapshot -l "$IMG"
    assert_output --partial " s1 "
    # as a create killed before its record was made ready, its memory
    # image not an xl save file
    head -c 100 /dev/zero > "$STATE/$UUID/s1/memory.save"
    python3 - "$STATE/$UUID/s1/record.json" "$STATE/$UUID/s1/memory.save" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["state"] = "preparing"
r["memory"] = sys.argv[2]
json.dump(r, open(sys.argv[1], "w"))
PY
    run -1 xs check g1
    assert_output --partial "its data does not verify"
    run -0 xs check --repair g1
    assert_output --partial "rolled back: removed what it had made"
    for img in "$IMG" "$DATA"; do
        run -0 qemu-img snapshot -l "$img"
        refute_output --partial " s1 "
    done
    run -0 xs check g1
    assert_output "No problems found."
}

# taken_unsynced NAME MARK: snapshot NAME of g1 as a create leaves it
# when it stops after its disks were taken and the guest was resumed,
# before its memory image was synced: record "preparing", an xl save
# file as memory image, the unsynced mark holding MARK
taken_unsynced() {
    run -0 xs create -n "$1" g1
    python3 - "$STATE/$UUID/$1/record.json" "$STATE/$UUID/$1/memory.save" <<'PY'
import json, struct, sys
rec, mem = sys.argv[1:3]
r = json.load(open(rec))
r["state"] = "preparing"
r["current"] = False
r["memory"] = mem
json.dump(r, open(rec, "w"))
cfg = json.dumps(r["config"]).encode() + b"\0"
with open(mem, "wb") as f:
    f.write(b"Xen saved domain, xl format\n \0 \r")
    f.write(struct.pack("=IIII", 0x01020304, 3, 0, 4 + len(cfg)))
    f.write(struct.pack("=I", len(cfg)) + cfg + b"\0" * 4096)
PY
    printf '%s\n' "$2" > "$STATE/$UUID/$1/.memory-unsynced"
}

@test "a create stopped after its disks were taken, its memory image not yet synced: in the same boot repair syncs and completes it; after a restart or a failed sync it is rolled back" {
    setup_images
    boot=$(cat /proc/sys/kernel/random/boot_id)
    # the same boot: the page cache holds the image (a killed create)
    taken_unsynced s1 "$boot"
    run -1 xs check g1
    assert_output --partial "snapshot 's1' is incomplete: its create was interrupted after its data was taken"
    run -0 xs check --repair g1
    assert_output --partial "completed: 's1' is ready and current"
    [ ! -e "$STATE/$UUID/s1/.memory-unsynced" ]
    [ -s "$STATE/$UUID/s1/memory.save" ]
    run -0 xs check g1
    assert_output "No problems found."
    # another boot: what reached the disk is unknown
    taken_unsynced s2 00000000-1111-2222-3333-444444444444
    run -1 xs check g1
    assert_output --partial "snapshot 's2' is incomplete: its create was interrupted after its data was taken, but the host restarted before its memory image was synced to disk"
    run -0 xs check --repair g1
    assert_output --partial "rolled back: removed what it had made"
    [ ! -e "$STATE/$UUID/s2" ]
    # its sync failed (pages it dropped may read back as if written)
    taken_unsynced s3 failed
    run -1 xs check g1
    assert_output --partial "but writing its memory image to disk failed"
    run -0 xs check --repair g1
    assert_output --partial "rolled back: removed what it had made"
    [ ! -e "$STATE/$UUID/s3" ]
    for img in "$IMG" "$DATA"; do
        run -0 qemu-img snapshot -l "$img"
        assert_output --partial " s1 "
        refute_output --partial " s2 "
        refute_output --partial " s3 "
    done
    # a mark left next to a ready record is an orphan
    echo "$boot" > "$STATE/$UUID/s1/.memory-unsynced"
    check_repairs "$STATE/$UUID/s1/.memory-unsynced is not part of any snapshot"
    run -0 xs list --names g1
    assert_output "$(printf 'base\ns1')"
}

@test "an interrupted import rolled back by check --repair leaves its image when another snapshot names it" {
    setup_images
    img=$BATS_TEST_TMPDIR/g1.imported.qcow2
    qemu-img create -q -f qcow2 "$img" 4M
    mkrecord keep base 1764000050 false
    mkrecord half keep 1764000100 false preparing
    head -c 100 /dev/zero > "$STATE/$UUID/half/memory.save"
    python3 - "$STATE/$UUID" "$img" <<'PY'
import json, sys
d, img = sys.argv[1:3]
for name, mem in (("keep", None), ("half", d + "/half/memory.save")):
    p = "%s/%s/record.json" % (d, name)
    r = json.load(open(p))
    r["disks"] = [{"vdev": "xvda", "format": "qcow2", "image": img,
                   "snapshot": "external", "backing": img}]
    r["memory"] = mem
    json.dump(r, open(p, "w"))
PY
    run -0 xs check --repair g1
    assert_output --partial "rolled back: removed what it had made"
    [ -e "$img" ]
    run -0 xs list --names g1
    assert_output "$(printf 'base\nkeep')"
}
