#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Identity by name on real Xen: a config without uuid= gets a new UUID at
# every `xl create`, and the snapshot history follows the name; two
# domains that used one name are ambiguous (--uuid picks); a shut-off,
# never-snapshotted domain is snapshotted from its xl config file.  Each
# case runs for a PV (id1, id3) and a PVH (id4, id5) guest.

load 'lib/e2e'
load 'lib/snap'

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-45
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show id1 id2 id3 id4 id5
}

# recreate NAME: xl create of the guest's unchanged config; prints the
# disk counter it booted with
recreate() {
    local mark
    mark=$(log_mark "$1" 2>/dev/null)   # no console log yet: 0
    xl create "$(e2e_guest_cfg "$1")" > /dev/null 2>&1 3>&- || return 1
    boot_counter_after "$1" "$mark"
}

# follows_name NAME TYPE: a config without uuid=; after xl destroy + xl
# create the domain has a new UUID and its history follows the name
follows_name() {
    local name=$1 type=$2 u1 u2 a1 mark
    e2e_start_guest "$name" "$type" 1 >/dev/null
    ! grep -q '^uuid' "$(e2e_guest_cfg "$name")"
    u1=$(uuid_of "$name")
    e2e_wait_counter_above "$name" 10 >/dev/null
    run -0 xl-snapshot create --disk-only -n a1 "$name"
    a1=$(snap_disk_counter "$(e2e_guest_disk "$name")" a1)
    xl destroy "$name"
    e2e_wait_domain_state "$name" gone 30
    recreate "$name" >/dev/null
    u2=$(uuid_of "$name")
    e2e_log "$type: UUID $u1 -> $u2"
    [ "$u1" != "$u2" ]
    run -0 --separate-stderr xl-snapshot list --names "$name"
    assert_output "a1"
    e2e_log "stderr: $stderr"
    [[ $stderr == *"new UUID $u2"*"$u1"* ]]
    [ -d "$XL_SNAPSHOT_DIR/$u2" ]
    [ ! -e "$XL_SNAPSHOT_DIR/$u1" ]
    # said once
    run -0 --separate-stderr xl-snapshot list --names "$name"
    [ -z "$stderr" ]
    e2e_wait_counter_above "$name" $(( $(e2e_guest_counter "$name") + 10 )) >/dev/null
    run -0 xl-snapshot create --disk-only -n a2 "$name"
    run -0 xl-snapshot list --tree "$name"
    assert_output "a1
\`-- a2 *"
    run -0 xl-snapshot info --json "$name" a2
    [ "$(jq -r .domain.uuid <<<"$output")" = "$u2" ]
    mark=$(log_mark "$name")
    run -0 xl-snapshot revert --force --running "$name" a1
    run -0 boot_counter_after "$name" "$mark"
    assert_output "$a1"
    [ "$(uuid_of "$name")" = "$u2" ]
    run -0 xl-snapshot delete "$name" a2
    run -0 xl-snapshot create --disk-only -n a3 "$name"
    run -0 xl-snapshot list --tree "$name"
    assert_output "a1
\`-- a3 *"
    run -0 xl-snapshot check
    assert_output "No problems found."
}

@test "config without uuid=: after xl destroy + xl create, list/revert/create/delete by name continue the tree" {
    follows_name id1 pv
}

# ambiguous NAME TYPE UUID: the history of NAME (recorded by follows_name)
# and another domain of that name with its own uuid= (UUID): refused as
# ambiguous, --uuid picks one
ambiguous() {
    local name=$1 type=$2 u2 u3 other mark
    xl destroy "$name" 2>/dev/null || true
    e2e_wait_domain_state "$name" gone 30
    u2=$(ls "$XL_SNAPSHOT_DIR")
    # another domain, own disk and own uuid=, under the same name
    other=$E2E_WORK/guests/$name-other
    mkdir -p "$other"
    qemu-img create -q -f qcow2 "$other/xvda.qcow2" 16M
    u3=$3
    sed -e "s|$(e2e_guest_dir "$name")/xvda.qcow2|$other/xvda.qcow2|" "$(e2e_guest_cfg "$name")" > "$other/$name.cfg"
    echo "uuid = \"$u3\"" >> "$other/$name.cfg"
    mark=$(log_mark "$name")
    xl create "$other/$name.cfg" >/dev/null 2>&1 3>&-
    boot_counter_after "$name" "$mark" >/dev/null
    # running with its own UUID, no history: one candidate, not running -> but
    # it is a different domain: the admin says so with its own UUID
    run -0 xl-snapshot --uuid "$u3" create --disk-only -n b1 "$name"
    xl destroy "$name"
    e2e_wait_domain_state "$name" gone 30
    run -1 xl-snapshot list "$name"
    e2e_log "$output"
    assert_output --partial "is ambiguous"
    assert_output --partial "$u2 (2 snapshots, newest 'a3')"
    assert_output --partial "$u3 (1 snapshot, newest 'b1')"
    assert_output --partial "--uuid UUID"
    run -0 xl-snapshot list --names "$name" --uuid "$u2"
    assert_output "$(printf 'a1\na3')"
    run -0 xl-snapshot --uuid "$u3" list --names "$name"
    assert_output "b1"
    # a third domain of that name, running, no history of its own
    e2e_start_guest "$name" "$type" 1 >/dev/null 2>&1 || recreate "$name" >/dev/null
    run -1 xl-snapshot create --disk-only -n c1 "$name"
    e2e_log "$output"
    assert_output --partial "ambiguous: the running domain (UUID $(uuid_of "$name")) has no snapshot history of its own"
    run -0 xl-snapshot --uuid "$u2" create --disk-only -n a4 "$name"
    run -0 xl-snapshot list --tree "$name"
    assert_output "a1
\`-- a3
    \`-- a4 *"
    xl destroy "$name"
}

# first_from_config NAME TYPE: the first snapshot of a never-snapshotted,
# shut-off domain from its xl config file, then revert to it
first_from_config() {
    local name=$1 type=$2 cfg img frozen mark
    e2e_create_disks "$name" 1
    e2e_write_cfg "$name" "$type" 1
    cfg=$(e2e_guest_cfg "$name")
    img=$(e2e_guest_disk "$name")
    e2e_write_disk_counter "$img" 500
    run -1 xl-snapshot create -n first "$name"
    run -0 xl-snapshot create -c "$cfg" -n first
    e2e_log "$output"
    e2e_write_disk_counter "$img" 900
    run -0 xl-snapshot list --names -c "$cfg"
    assert_output first
    run -0 xl-snapshot revert -c "$cfg" first
    [ "$(e2e_disk_counter "$img")" = 500 ]
    # external, the domain still off: the configured path keeps the active layer
    run -0 xl-snapshot create -c "$cfg" --external -n fx
    frozen=$(xl-snapshot info --json "$name" fx | jq -r '.disks[0].backing')
    [ "$(xl-snapshot info --json "$name" fx | jq -r '.disks[0].image')" = "$img" ]
    e2e_write_disk_counter "$img" 777
    [ "$(e2e_disk_counter "$frozen")" = 500 ]
    run -0 recreate "$name"
    assert_output 777
    e2e_wait_counter_above "$name" 790 >/dev/null
    xl destroy "$name"
    e2e_wait_domain_state "$name" gone 30
    [ "$(e2e_disk_counter "$frozen")" = 500 ]
    mark=$(log_mark "$name")
    run -0 xl-snapshot revert --running -c "$cfg" fx
    run -0 boot_counter_after "$name" "$mark"
    assert_output 500
    xl destroy "$name"
}

@test "two domains that used the same name: refused as ambiguous, --uuid picks one" {
    ambiguous id1 pv 5e8c1a52-0c8e-4d8e-9a44-3c1f00000045
}

@test "first snapshot of a never-snapshotted, shut-off domain from its config file, then revert to it" {
    first_from_config id3 pv
}

@test "PVH: config without uuid=: the history follows the name through xl destroy + xl create" {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-45-pvh
    follows_name id4 pvh
    xl destroy id4
}

@test "PVH: two domains that used the same name: refused as ambiguous, --uuid picks one" {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-45-pvh
    ambiguous id4 pvh 5e8c1a52-0c8e-4d8e-9a44-3c1f00000046
}

@test "PVH: first snapshot of a never-snapshotted, shut-off domain from its config file, then revert to it" {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-45-pvh
    first_from_config id5 pvh
}

# this file's helpers without bats' DEBUG trap (lib/e2e.bash)
e2e_untrace_helpers
