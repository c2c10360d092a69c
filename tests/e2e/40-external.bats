#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# External snapshots on real Xen: the active layer stays at the configured
# path (xl save/restore and a guest reboot keep post-snapshot data),
# a chain of three with revert/delete of the middle one, and a tree mixing
# internal and external snapshots.

load 'lib/e2e'
load 'lib/snap'

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-40
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show ex1 ex2 mx1 rx1
}

@test "external snapshot of a running guest: later writes survive a reboot and xl save + restore" {
    e2e_start_guest ex1 pv 1 >/dev/null
    base=$(e2e_guest_disk ex1)
    e2e_wait_counter_above ex1 10 >/dev/null
    run -0 xl-snapshot create --external --disk-only -n x1 ex1
    # the active layer stays at the configured path; the snapshot's data
    # is frozen under a new name
    frozen=$(e2e_guest_dir ex1)/xvda.x1.qcow2
    [ -f "$frozen" ]
    ovl=$base
    # libxl's config and xenstore name the configured path
    run -0 active_disk ex1
    assert_output "$base"
    domid=$(e2e_domid ex1)
    run -0 xenstore-read "/local/domain/0/backend/qdisk/$domid/51712/params"
    assert_output "qcow2:$base"
    s=$(e2e_disk_counter "$frozen")
    t=$(e2e_wait_counter_above ex1 $((s + 20)))
    [ "$(e2e_disk_counter "$frozen")" -eq "$s" ]      # frozen
    [ "$(e2e_disk_counter "$ovl")" -gt "$s" ]         # writes go to the active layer
    # reboot of the guest (xl's monitor re-creates it from libxl's config)
    mark=$(log_mark ex1)
    xl reboot ex1
    b=$(boot_counter_after ex1 "$mark")
    e2e_log "snapshot at $s, tick $t before reboot, booted with disk counter $b"
    [ "$b" -ge "$t" ]
    # xl save + xl restore
    t=$(e2e_wait_counter_above ex1 $((b + 10)))
    xl save ex1 "$E2E_WORK/ex1.save"
    e2e_wait_domain_state ex1 gone 30
    mark=$(log_mark ex1)
    xl restore "$E2E_WORK/ex1.save" 3>&-
    first=$(first_tick_after ex1 "$mark")
    [ "$first" -ge "$t" ]
    u=$(e2e_wait_counter_above ex1 $((first + 10)))
    [ "$(e2e_disk_counter "$ovl")" -gt "$t" ]
    [ "$(e2e_disk_counter "$frozen")" -eq "$s" ]
    rm -f "$E2E_WORK/ex1.save"
    # revert to x1 discards all that: the guest boots from the snapshot data
    mark=$(log_mark ex1)
    run -0 xl-snapshot revert --force --running ex1 x1
    run -0 boot_counter_after ex1 "$mark"
    assert_output "$s"
}

@test "a failing disk transaction rolls back: the guest runs on, no record, no memory image" {
    uuid=$(uuid_of ex1)
    printf 'name="bad"\nmemory="yes"\ndisk=["vdev=xvda,format=qcow2,target=/nonexistent/dir/x.qcow2"]\n' > "$E2E_WORK/bad.cfg"
    n=$(e2e_wait_counter_above ex1 5)
    run -1 xl-snapshot create ex1 "$E2E_WORK/bad.cfg"
    assert_output --partial "xl-snapshot: cannot create snapshot 'bad': disk snapshot transaction failed (no disk was changed)"
    e2e_log "$output"
    [ "$(e2e_domain_state ex1)" = running ]
    e2e_wait_counter_above ex1 $((n + 10)) 30 >/dev/null
    [ ! -e "$XL_SNAPSHOT_DIR/$uuid/bad" ]
    run -0 xl-snapshot list --names ex1
    refute_output --partial bad
}

@test "a full state dir during the memory save: clear message, guest runs on, nothing left" {
    small=$E2E_WORK/small-state
    mkdir -p "$small"
    mount -t tmpfs -o size=16m tmpfs "$small"
    n=$(e2e_wait_counter_above ex1 5)
    XL_SNAPSHOT_DIR=$small run -1 xl-snapshot create -n full ex1
    e2e_log "$output"
    assert_output --partial "no space left for the memory image"
    assert_output --partial "the guest was resumed"
    [ "$(e2e_domain_state ex1)" = running ]
    e2e_wait_counter_above ex1 $((n + 10)) 30 >/dev/null
    run -0 find "$small" -name record.json -o -name memory.save
    assert_output ""
    umount "$small"
    xl destroy ex1
}

@test "external chain of three: revert to the middle, write, delete it; all others revert exactly" {
    e2e_start_guest ex2 pv 1 >/dev/null
    declare -A sum
    # a known pattern in the disk's first layer, written through QEMU
    # (8 MiB on: the guest only writes its counter in sector 1)
    run -0 qemu_io ex2 xvda "write -P 0x5a 8M 1M"
    e2e_log "pattern written: $output"
    assert_output --partial "wrote 1048576/1048576 bytes"
    for s in e1 e2 e3; do
        e2e_wait_counter_above ex2 $(( $(e2e_guest_counter ex2) + 10 )) >/dev/null
        run -0 xl-snapshot create --external --disk-only -n $s ex2
        backing=$(xl-snapshot info --json ex2 $s | jq -r '.disks[0].backing')
        sum[$s]=$(image_sum "$backing")
        e2e_log "$s: data in $backing, sum ${sum[$s]}"
        # what the guest reads of the frozen layers is theirs (QEMU 7.2
        # reopened the layer under a new overlay by its file name: were
        # the overlay at that name then, the layer's node read it)
        run -0 qemu_io ex2 xvda "read -P 0x5a 8M 1M"
        e2e_log "$s: read through QEMU: $output"
        assert_output --partial "read 1048576/1048576 bytes"
        refute_output --partial "failed"
    done
    # (flushed by the first snapshot) the pattern is in the first layer
    run -0 timeout 60 qemu-io -r -U -f qcow2 -c "read -P 0x5a 8M 1M" "$(xl-snapshot info --json ex2 e1 | jq -r '.disks[0].backing')"
    e2e_log "the first layer on disk: $output"
    refute_output --partial "failed"
    # QEMU has every layer's own file open
    qemu_has_chain ex2
    # a 4 KiB write into a 64 KiB cluster of the frozen pattern: QEMU
    # copies the rest of the cluster from the layers under it
    run -0 qemu_io ex2 xvda "write -P 0x66 8196k 4k"
    for r in "read -P 0x5a 8M 4k" "read -P 0x66 8196k 4k" "read -P 0x5a 8200k 56k"; do
        run -0 qemu_io ex2 xvda "$r"
        e2e_log "after a 4 KiB write: $r: $output"
        assert_output --partial "bytes at offset"
        refute_output --partial "failed"
    done
    run -0 timeout 60 qemu-io -r -U -f qcow2 -c "read -P 0x5a 8200k 56k" "$(active_disk ex2)"
    e2e_log "the active layer on disk: $output"
    refute_output --partial "failed"
    run -0 xl-snapshot list --tree ex2
    assert_output "e1
\`-- e2
    \`-- e3 *"
    boots=$(e2e_boots ex2)
    run -0 xl-snapshot revert --force --paused ex2 e2
    [ "$(e2e_domain_state ex2)" = paused ]
    [ "$(image_sum "$(active_disk ex2)")" = "${sum[e2]}" ]
    xl unpause ex2
    # (e2 is disk-only: the guest boots anew from e2's counter, below the
    # last one its console shows)
    e2e_wait_new_boot_ticking ex2 "$boots" >/dev/null
    run -0 xl-snapshot delete ex2 e2
    # e2 was current: its parent is now
    run -0 xl-snapshot list --tree ex2
    assert_output "e1 *
\`-- e3"
    for s in e1 e3; do
        run -0 xl-snapshot revert --force --paused ex2 $s
        got=$(image_sum "$(active_disk ex2)")
        e2e_log "revert $s: sum $got (snapshot ${sum[$s]})"
        [ "$got" = "${sum[$s]}" ]
    done
    xl destroy ex2
}

# bats test_tags=beyond-core
@test "mixed internal/external tree: deleting inner nodes keeps every other snapshot's data" {
    e2e_start_guest mx1 pv 1 >/dev/null
    declare -A sum
    step() { e2e_wait_counter_above mx1 $(( $(e2e_guest_counter mx1) + 8 )) >/dev/null; }
    step; run -0 xl-snapshot create --internal --disk-only -n i1 mx1
    sum[i1]=$(snap_sum "$(e2e_guest_disk mx1)" i1)
    step; run -0 xl-snapshot create --external --disk-only -n x1 mx1
    sum[x1]=$(image_sum "$(xl-snapshot info --json mx1 x1 | jq -r '.disks[0].backing')")
    step; run xl-snapshot create --internal --disk-only -n i2 mx1
    e2e_log "i2: $output"
    [ "$status" -eq 0 ]
    i2img=$(xl-snapshot info --json mx1 i2 | jq -r '.disks[0].image')
    sum[i2]=$(snap_sum "$i2img" i2)
    step; run -0 xl-snapshot create --external --disk-only -n x2 mx1
    sum[x2]=$(image_sum "$(xl-snapshot info --json mx1 x2 | jq -r '.disks[0].backing')")
    run -0 xl-snapshot list --tree mx1
    assert_output "i1
\`-- x1
    \`-- i2
        \`-- x2 *"
    # i1 and i2 are in layers QEMU calls by other names (external
    # snapshots of the running guest): check finds them through QEMU
    run -0 xl-snapshot check mx1
    assert_output "No problems found."
    # an inner external node, while the guest runs
    run -0 xl-snapshot delete mx1 x1
    # an inner internal node, with the guest off
    xl destroy mx1
    e2e_wait_domain_state mx1 gone 30
    run -0 xl-snapshot delete mx1 i2
    run -0 xl-snapshot list --tree mx1
    assert_output "i1
\`-- x2 *"
    for s in x2 i1 x2; do
        run -0 xl-snapshot revert --paused mx1 $s
        got=$(image_sum "$(active_disk mx1)")
        e2e_log "revert $s: sum $got (snapshot ${sum[$s]})"
        [ "$got" = "${sum[$s]}" ]
        xl destroy mx1
    done
}

# bats test_tags=beyond-core
@test "reuse-external on a running guest: the admin's overlay takes the disk while it ticks; revert gives the snapshot's counter" {
    e2e_start_guest rx1 pv 1 >/dev/null
    base=$(e2e_guest_disk rx1)
    new=$(e2e_guest_dir rx1)/xvda.new.qcow2
    e2e_wait_counter_above rx1 10 >/dev/null
    # the admin's overlay, with an option of the admin's choosing
    qemu-img create -q -f qcow2 -b "$base" -F qcow2 -o cluster_size=131072 "$new"
    printf 'disk=["vdev=xvda,format=qcow2,target=%s"]\n' "$new" > "$E2E_WORK/reuse.cfg"
    t0=$SECONDS
    run -0 xl-snapshot create --reuse-external -n r1 rx1 "$E2E_WORK/reuse.cfg"
    e2e_log "$output (# create took $((SECONDS - t0))s)"
    frozen=$(e2e_guest_dir rx1)/xvda.r1.qcow2
    [ "$(xl-snapshot info --json rx1 r1 | jq -r '.disks[0].backing')" = "$frozen" ]
    [ ! -e "$new" ]
    # the configured path is the admin's overlay, on the frozen layer
    run -0 qemu-img info -U -f qcow2 --output=json "$base"
    [ "$(echo "$output" | jq -r '."cluster-size"')" = 131072 ]
    [ "$(echo "$output" | jq -r '."backing-filename"')" = "$frozen" ]
    run -0 active_disk rx1
    assert_output "$base"
    # the guest goes on, writing to the admin's overlay; the frozen
    # layer keeps the snapshot's counter
    s=$(e2e_disk_counter "$frozen")
    e2e_wait_counter_above rx1 $((s + 20)) >/dev/null
    [ "$(e2e_disk_counter "$frozen")" -eq "$s" ]
    [ "$(e2e_disk_counter "$base")" -gt "$s" ]
    [ "$(e2e_domain_state rx1)" = running ]
    mark=$(log_mark rx1)
    run -0 xl-snapshot revert --force --running rx1 r1
    run -0 boot_counter_after rx1 "$mark"
    e2e_log "snapshot at $s, booted after revert with $output"
    assert_output "$s"
    xl destroy rx1
}
