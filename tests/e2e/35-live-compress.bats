#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# create --compress zstd and create --live on real Xen: a compressed
# memory image is smaller, private, and reverts with the guest resuming
# at the snapshot; --live pre-copies a PVH guest and falls back, saying
# why, for a PV guest (this Xen has no shadow paging for PV log-dirty).

load 'lib/e2e'
load 'lib/snap'

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-35
}

teardown_file() {
    e2e_destroy_all
}

# rec_uuid DOMAIN SNAPSHOT: the domain UUID stored in a record
rec_uuid() { xl-snapshot info --json "$1" "$2" | jq -r .domain.uuid; }

teardown() {
    on_failure_show lc1 lc2
}

@test "PV: --compress zstd: smaller 0600 image, reverts to the snapshot" {
    e2e_start_guest lc1 pv 1 >/dev/null
    e2e_wait_counter_above lc1 10 >/dev/null
    run -0 xl-snapshot create -n plain lc1
    run -0 xl-snapshot create -n z1 --compress zstd lc1
    assert_output --partial "Snapshot 'z1' of domain 'lc1' created (internal, with memory)"
    dir=$XL_SNAPSHOT_DIR/$(uuid_of lc1)
    img=$dir/z1/memory.save.zst
    [ -f "$img" ]
    [ "$(stat -c %a "$img")" = 600 ]
    # one zstd stream, no uncompressed copy next to it
    [ "$(head -c 4 "$img" | od -An -tx1 | tr -d ' ')" = 28b52ffd ]
    [ ! -e "$dir/z1/memory.save" ]
    raw=$(stat -c %s "$dir/plain/memory.save")
    zst=$(stat -c %s "$img")
    e2e_log "memory image: raw $raw bytes, zstd $zst bytes"
    [ "$zst" -lt $((raw / 2)) ]
    run -0 xl-snapshot info --json lc1 z1
    run -0 jq -r '"\(.memory_compression) \(.memory)"' <<< "$output"
    assert_output "zstd $img"

    revert_rewinds lc1 z1
    d=$(snap_disk_counter "$(e2e_guest_disk lc1)" z1)
    # and again after xl destroy (nothing left of the old domain)
    xl destroy lc1
    e2e_wait_domain_state lc1 gone 30
    mark=$(log_mark lc1)
    run -0 xl-snapshot revert "$(rec_uuid lc1 z1)" z1
    first=$(first_tick_after lc1 "$mark")
    near "$first" "$d"
}

@test "a corrupt zstd image fails the revert with a clear error" {
    dir=$XL_SNAPSHOT_DIR/$(rec_uuid lc1 z1)
    cp "$dir/z1/memory.save.zst" "$E2E_WORK/z1.keep"
    size=$(stat -c %s "$dir/z1/memory.save.zst")
    truncate -s $((size / 2)) "$dir/z1/memory.save.zst"
    run -1 xl-snapshot revert --force lc1 z1
    e2e_log "$output"
    assert_output --partial "cannot revert 'z1': memory image $dir/z1/memory.save.zst: compressed memory image is truncated"
    cp "$E2E_WORK/z1.keep" "$dir/z1/memory.save.zst"
    e2e_destroy_all
}

@test "PV: --live falls back to a suspended save and says why" {
    mark=$(log_mark lc1)
    run -0 xl-snapshot revert --force "$(rec_uuid lc1 plain)" plain
    first_tick_after lc1 "$mark" >/dev/null
    run -0 --separate-stderr xl-snapshot create --live -n l1 lc1
    e2e_log "stderr: $stderr"
    [[ $stderr == *"memory saved without live pre-copy"*"shadow paging"* ]]
    run -0 xl-snapshot info --json lc1 l1
    run -0 jq -r '.memory_live // false' <<< "$output"
    assert_output false
    revert_rewinds lc1 l1
    xl destroy lc1
}

@test "PVH: --live pre-copies while the guest runs, and reverts" {
    e2e_start_guest lc2 pvh 1 >/dev/null
    e2e_wait_counter_above lc2 10 >/dev/null
    run -0 --separate-stderr xl-snapshot create --live -n v1 lc2
    [ -z "$stderr" ]
    run -0 xl-snapshot info --json lc2 v1
    run -0 jq -r '.memory_live' <<< "$output"
    assert_output true
    revert_rewinds lc2 v1
    xl destroy lc2
}

# this file's helpers without bats' DEBUG trap (lib/e2e.bash)
e2e_untrace_helpers
