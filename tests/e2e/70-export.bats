#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Backups across hosts on real Xen: export full + delta bundles of a chain
# taken from a running guest, move them to "host B" (another state dir and
# disk dir; one through a pipe), wipe the original state and disks, import,
# and revert to each snapshot: same disk data, and the memory snapshot
# resumes.  A corrupted bundle is refused; prune keeps what it is told.

load 'lib/e2e'
load 'lib/snap'

setup_file() {
    export A=$E2E_WORK/state-70a B=$E2E_WORK/state-70b DISKS_B=$E2E_WORK/disks-70b
    export BUNDLES=$E2E_WORK/bundles-70
    export XL_SNAPSHOT_DIR=$A
    mkdir -p "$DISKS_B" "$BUNDLES"
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show bx1 bx2
}

# clusters (64 KiB) in which two images differ, in bytes
changed_bytes() {
    local a=$E2E_WORK/cmp-a.raw b=$E2E_WORK/cmp-b.raw
    qemu-img convert -U -O raw "$1" "$a" && qemu-img convert -U -O raw "$2" "$b" || return 1
    python3 - "$a" "$b" <<'PY'
import sys
a, b = (open(p, "rb") for p in sys.argv[1:3])
n = 0
while True:
    x, y = a.read(65536), b.read(65536)
    if not x and not y: break
    n += x != y
print(n * 65536)
PY
    rm -f "$a" "$b"
}

@test "export a chain from a running guest (full + deltas) without disturbing it" {
    e2e_start_guest bx1 pv 1 >/dev/null
    img=$(e2e_guest_disk bx1)
    e2e_wait_counter_above bx1 8 >/dev/null
    run -0 xl-snapshot create -n c1 bx1                       # memory, internal
    e2e_wait_counter_above bx1 $(( $(e2e_guest_counter bx1) + 8 )) >/dev/null
    run -0 xl-snapshot create --disk-only --external -n c2 bx1
    e2e_wait_counter_above bx1 $(( $(e2e_guest_counter bx1) + 8 )) >/dev/null
    run xl-snapshot create --disk-only -n c3 bx1              # internal, in the overlay
    e2e_log "c3: $output"
    [ "$status" -eq 0 ]
    ovl=$(xl-snapshot info --json bx1 c2 | jq -r '.disks[0].overlay')
    # c2 froze the image (with c1 inside) under a new name
    img=$(xl-snapshot info --json bx1 c2 | jq -r '.disks[0].backing')
    snap_sum "$img" c1 > "$BUNDLES/sum.c1"
    image_sum "$img" > "$BUNDLES/sum.c2"
    snap_sum "$ovl" c3 > "$BUNDLES/sum.c3"
    snap_disk_counter "$img" c1 > "$BUNDLES/counter.c1"
    e2e_log "sums: c1 $(cat "$BUNDLES/sum.c1") c2 $(cat "$BUNDLES/sum.c2") c3 $(cat "$BUNDLES/sum.c3")"

    n=$(e2e_guest_counter bx1)
    run -0 xl-snapshot export bx1 c1 "$BUNDLES/b1"
    e2e_log "$output"
    run -0 xl-snapshot export --delta --base c1 bx1 c2 "$BUNDLES/b2"
    e2e_log "$output"
    # the guest ran on all along
    [ "$(e2e_domain_state bx1)" = running ]
    e2e_wait_counter_above bx1 $((n + 5)) 30 >/dev/null
    # the delta holds what changed since c1, plus qcow2 metadata
    tmp1=$E2E_WORK/c1.qcow2
    qemu-img convert -U -l snapshot.name=c1 -O qcow2 "$img" "$tmp1"
    changed=$(changed_bytes "$tmp1" "$img")
    rm -f "$tmp1"
    part=$BUNDLES/b2/disk-xvda.qcow2
    size=$(stat -c %s "$part")
    run -0 qemu-img info "$part"
    assert_line "backing file: xl-snapshot-base:c1"
    data=$(qemu-img map --output=json "json:{\"driver\": \"qcow2\", \"backing\": null, \"file\": {\"driver\": \"file\", \"filename\": \"$part\"}}" | jq '[.[] | select(.data) | .length] | add // 0')
    meta=$((size - data))
    e2e_log "delta c1->c2: ${changed} bytes changed (64 KiB clusters); delta part ${size} bytes = ${data} data + ${meta} qcow2 metadata; bundle $(du -sb "$BUNDLES/b2" | cut -f1) bytes"
    [ "$data" -le $((changed * 105 / 100)) ]
    [ "$size" -le $((changed * 105 / 100 + 1048576)) ]
}

@test "import on another host (one bundle through a pipe), wipe the original, revert to each snapshot" {
    export XL_SNAPSHOT_DIR=$B
    run -0 xl-snapshot import --kernel-dir "$E2E_IMAGES" --disk-dir "$DISKS_B" "$BUNDLES/b1"
    e2e_log "$output"
    run -0 xl-snapshot import --kernel-dir "$E2E_IMAGES" --disk-dir "$DISKS_B" "$BUNDLES/b2"
    # export | import through a pipe, straight from host A's state
    run -0 bash -c "XL_SNAPSHOT_DIR=$A xl-snapshot export --delta --base c2 bx1 c3 - | xl-snapshot import --kernel-dir '$E2E_IMAGES' --disk-dir '$DISKS_B' -"
    e2e_log "$output"
    assert_line --partial "Imported snapshot 'c3' of domain 'bx1'"
    rm -rf "$BUNDLES/b1"          # room in dom0's /tmp

    # wipe host A: the domain, its state dir and its disks
    xl destroy bx1
    e2e_wait_domain_state bx1 gone 30
    rm -rf "$A" "$(e2e_guest_dir bx1)"/*.qcow2

    run -0 xl-snapshot list --tree bx1
    assert_output "c1
\`-- c2
    \`-- c3"
    # the memory snapshot: disks as at c1, and the guest resumes there
    mark=$(log_mark bx1)
    run -0 xl-snapshot revert --paused bx1 c1
    [ "$(e2e_domain_state bx1)" = paused ]
    [ "$(image_sum "$(active_disk bx1)")" = "$(cat "$BUNDLES/sum.c1")" ]
    xl unpause bx1
    first=$(first_tick_after bx1 "$mark")
    e2e_log "c1 imported: first tick $first, snapshot disk counter $(cat "$BUNDLES/counter.c1")"
    near "$first" "$(cat "$BUNDLES/counter.c1")"
    for s in c2 c3; do
        run xl-snapshot revert --force --paused bx1 "$s"
        [ "$status" -eq 0 ] || { e2e_log "revert $s: $output"; false; }
        got=$(image_sum "$(active_disk bx1)")
        e2e_log "revert $s on host B: sum $got (original $(cat "$BUNDLES/sum.$s"))"
        [ "$got" = "$(cat "$BUNDLES/sum.$s")" ]
    done
    xl destroy bx1
    e2e_wait_domain_state bx1 gone 30
}

@test "a bundle with one flipped byte is refused and nothing is written" {
    cp -a "$BUNDLES/b2" "$BUNDLES/bad"
    part=$BUNDLES/bad/disk-xvda.qcow2
    python3 - "$part" <<'PY'
import sys
p = sys.argv[1]
with open(p, "r+b") as f:
    f.seek(70000)
    b = f.read(1)
    f.seek(70000)
    f.write(bytes([b[0] ^ 0x20]))
PY
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-70c
    mkdir -p "$E2E_WORK/disks-70c"
    run -1 xl-snapshot import --disk-dir "$E2E_WORK/disks-70c" "$BUNDLES/bad"
    e2e_log "$output"
    assert_output --partial "nothing was imported: bundle member disk-xvda.qcow2 does not match its checksum"
    run -0 find "$E2E_WORK/disks-70c" -mindepth 1
    assert_output ""
    [ -z "$(find "$XL_SNAPSHOT_DIR" -name record.json 2>/dev/null)" ]
    rm -rf "$BUNDLES/bad"
}

@test "prune keeps exactly the ones asked for, and the kept ones still revert" {
    export XL_SNAPSHOT_DIR=$B
    run -0 xl-snapshot prune -N --keep-last 2 bx1
    assert_output "would delete c1"
    run -0 xl-snapshot prune --keep-last 2 bx1
    assert_output "deleted c1"
    run -0 xl-snapshot list --names bx1
    assert_output "c2
c3"
    for s in c2 c3; do
        run xl-snapshot revert --force --paused bx1 "$s"
        [ "$status" -eq 0 ] || { e2e_log "revert $s: $output"; false; }
        [ "$(image_sum "$(active_disk bx1)")" = "$(cat "$BUNDLES/sum.$s")" ]
    done
    xl destroy bx1
}

# bats test_tags=beyond-core
@test "delta of two internal snapshots of a running guest's image: only the changed clusters, from the image's tables; imported, exact" {
    # bundle/delta.c compares the two snapshots' L1/L2 tables in the image
    # the running QEMU has open (read-only, no qemu-img on it)
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-70d
    local out=$E2E_WORK/bundles-70d c=$E2E_WORK/disks-70d
    mkdir -p "$out" "$c"
    e2e_start_guest bx2 pv 1 >/dev/null
    img=$(e2e_guest_disk bx2)
    e2e_wait_counter_above bx2 8 >/dev/null
    run -0 xl-snapshot create --disk-only -n d1 bx2
    e2e_wait_counter_above bx2 $(( $(e2e_guest_counter bx2) + 8 )) >/dev/null
    run -0 xl-snapshot create --disk-only -n d2 bx2
    sum=$(snap_sum "$img" d2)
    a=$E2E_WORK/d1.qcow2 b=$E2E_WORK/d2.qcow2
    qemu-img convert -U -l snapshot.name=d1 -O qcow2 "$img" "$a"
    qemu-img convert -U -l snapshot.name=d2 -O qcow2 "$img" "$b"
    changed=$(changed_bytes "$a" "$b")
    rm -f "$a" "$b"
    n=$(e2e_guest_counter bx2)
    run -0 xl-snapshot export bx2 d1 "$out/f1"
    run -0 xl-snapshot export --delta --base d1 bx2 d2 "$out/f2"
    e2e_log "$output"
    [ "$(e2e_domain_state bx2)" = running ]
    e2e_wait_counter_above bx2 $((n + 5)) 30 >/dev/null
    part=$out/f2/disk-xvda.qcow2
    run -0 qemu-img info -f qcow2 "$part"
    assert_line "backing file: xl-snapshot-base:d1"
    # written by delta.c, not by qemu-img (which always puts its
    # feature-name table, extension 0x6803f857, into a header it writes)
    run -0 python3 -c 'import sys; h = open(sys.argv[1], "rb").read(4096); print(b"\x68\x03\xf8\x57" in h)' "$part"
    assert_output False
    data=$(qemu-img map --output=json "json:{\"driver\": \"qcow2\", \"backing\": null, \"file\": {\"driver\": \"file\", \"filename\": \"$part\"}}" | jq '[.[] | select(.data) | .length] | add // 0')
    e2e_log "delta d1->d2 of the running guest: ${changed} bytes changed (64 KiB clusters), delta data ${data} bytes, part $(stat -c %s "$part") bytes"
    [ "$data" -le $((changed * 105 / 100)) ]
    # host C: both bundles; reverted to, the delta's snapshot is exactly d2
    xl destroy bx2
    e2e_wait_domain_state bx2 gone 30
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-70e
    run -0 xl-snapshot import --kernel-dir "$E2E_IMAGES" --disk-dir "$c" "$out/f1"
    run -0 xl-snapshot import --kernel-dir "$E2E_IMAGES" --disk-dir "$c" "$out/f2"
    run -0 xl-snapshot revert --paused bx2 d2
    got=$(image_sum "$(active_disk bx2)")
    e2e_log "d2 imported on host C: sum $got (original $sum)"
    [ "$got" = "$sum" ]
    xl destroy bx2
    rm -rf "$out" "$c"
}

# this file's helpers without bats' DEBUG trap (lib/e2e.bash)
e2e_untrace_helpers
