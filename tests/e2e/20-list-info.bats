#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Foundation on real Xen: list/info of a running domain by name, domid and
# UUID, and after `xl destroy` by UUID and by the stored name.  Records are
# written as the store writes them (create has its own tests), so these
# tests prove domain lookup through libxl independently of create.

load 'lib/e2e'
bats_require_minimum_version 1.5.0

mkrecord() { # NAME PARENT|- TIME CURRENT
    local p=null
    [ "$2" = - ] || p="\"$2\""
    mkdir -p -m 0700 "$XL_SNAPSHOT_DIR/$UUID/$1"
    cat > "$XL_SNAPSHOT_DIR/$UUID/$1/record.json" <<JSON
{ "version": 1, "name": "$1", "description": null, "creationtime": $3,
  "state": "ready", "domstate": "running", "memory": null, "parent": $p,
  "current": $4, "domain": { "name": "li1", "uuid": "$UUID" },
  "disks": [ { "vdev": "xvda", "format": "qcow2", "image": "/x.qcow2",
               "snapshot": "internal", "internal_name": "$1" } ],
  "config": { "c_info": { "name": "li1" } } }
JSON
}

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-20
    LI_DOMID=$(e2e_start_guest li1 pv 1)
    UUID=$(xl list -v li1 | awk 'NR==2 {print $7}')
    export LI_DOMID UUID
    mkrecord a - 1764000000 false
    mkrecord b a 1764000100 true
    mkrecord c b 1764000200 false
}

teardown_file() {
    xl destroy li1 2>/dev/null || true
}

@test "list by domain name of a running domain" {
    run -0 xl-snapshot list li1
    assert_line --index 2 --regexp '^\* b '
    [ "${#lines[@]}" -eq 4 ]
}

@test "list by domid" {
    run -0 xl-snapshot list "$LI_DOMID"
    assert_line --index 3 --regexp '^  c .* b *$'
}

@test "list by UUID" {
    run -0 xl-snapshot list "$UUID"
    assert_output --partial "  a "
}

@test "list --json names the live domid, name and UUID" {
    run -0 xl-snapshot list --json li1
    run -0 jq -r '.domain | "\(.name) \(.uuid) \(.domid)"' <<< "$output"
    assert_output "li1 $UUID $LI_DOMID"
}

@test "info by domid and --tree by name" {
    run -0 xl-snapshot info "$LI_DOMID" b
    assert_line "Domain:       li1 ($UUID)"
    run -0 xl-snapshot list --tree li1
    assert_output "a
\`-- b *
    \`-- c"
}

@test "after xl destroy: list by UUID and by stored name, info by UUID" {
    xl destroy li1
    e2e_wait_domain_state li1 gone 30
    run -0 xl-snapshot list "$UUID"
    assert_line --index 2 --regexp '^\* b '
    run -0 xl-snapshot list li1
    run -0 xl-snapshot info --json "$UUID" c
    run -0 jq -r '.parent' <<< "$output"
    assert_output b
    run -1 xl-snapshot list "$LI_DOMID"
    assert_output --partial "no domain with id $LI_DOMID"
}

# this file's helpers without bats' DEBUG trap (lib/e2e.bash)
e2e_untrace_helpers
