#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# issue 5 (performance) on the host: the list index (a cache that is
# checked against the records, never trusted blindly) and the create
# options --compress / --live.  No timings are asserted here: see
# bench/ and docs/performance.md.
load helpers

@test "list keeps a private index of the records" {
    mkchain
    run -0 xs list "$UUID"
    [ -f "$STATE/$UUID/.index" ]
    [ "$(stat -c %a "$STATE/$UUID/.index")" = 600 ]
    head -n 1 "$STATE/$UUID/.index" | grep -qx 'xl-snapshot-index 2'
    [ "$(grep -c '^=s[0-9]' "$STATE/$UUID/.index")" = 3 ]
    # a second list gives the same from the index
    before=$output
    run -0 xs list "$UUID"
    [ "$output" = "$before" ]
}

@test "the index follows records changed, added and removed behind its back" {
    mkchain
    run -0 xs list g1
    # s1 -> not current, s2 -> current, rewritten in place (same size
    # class: the check does not depend on the size changing)
    mkrecord s1 s0 1764000100 false
    mkrecord s2 s1 1764000200 true
    mkrecord s3 s2 1764000300 false
    run -0 xs list g1
    assert_line --index 2 --regexp '^  s1 '
    assert_line --index 3 --regexp '^\* s2 '
    assert_line --index 4 --regexp '^  s3 .* s2 *$'
    rm -r "$STATE/$UUID/s0"
    run -0 xs list --names g1
    assert_output "$(printf 's1\ns2\ns3')"
    # an interrupted create (directory without record) is no snapshot
    mkdir "$STATE/$UUID/half"
    run -0 xs list --names g1
    assert_output "$(printf 's1\ns2\ns3')"
}

@test "a damaged or foreign index is ignored and rewritten" {
    mkchain
    run -0 xs list "$UUID"
    good=$output
    printf 'xl-snapshot-index 2\n=s0\tgarbage\n' > "$STATE/$UUID/.index"
    run -0 xs list "$UUID"
    [ "$output" = "$good" ]
    # an index naming a snapshot with another record's stat key
    sed -i 's/^=s0\t/=zz\t/' "$STATE/$UUID/.index"
    run -0 xs list "$UUID"
    [ "$output" = "$good" ]
    head -c 100 /dev/urandom > "$STATE/$UUID/.index"
    run -0 xs list --tree "$UUID"
    assert_output "$(printf 's0\n`-- s1 *\n    `-- s2')"
}

@test "the index keeps every field list shows, with tabs and newlines" {
    mkchain
    python3 - "$STATE/$UUID/s1/record.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["description"] = "tab\there\nnew line \\ back"
r["memory_compression"] = "zstd"
json.dump(r, open(sys.argv[1], "w"))
PY
    run -0 xs list -l "$UUID"
    first=$output
    run -0 xs list -l "$UUID"
    [ "$output" = "$first" ]
    assert_output --partial "disk xvdb: qcow2 external, data in /img/d.qcow2, overlay /img/d.s1.qcow2"
    run -0 xs info --json "$UUID" s1
    run -0 json_get 'd["description"], d["memory_compression"]' <<< "$output"
    assert_output "('tab\there\nnew line \\\\ back', 'zstd')"
}

@test "a corrupt record still fails list, index or not" {
    mkchain
    run -0 xs list "$UUID"
    echo '{' > "$STATE/$UUID/s1/record.json"
    run -1 xs list "$UUID"
    assert_output --partial "s1/record.json"
}

@test "list of 2,000 records is right (sorted, parents, current)" {
    python3 "$REPO/bench/gen-records.py" "$STATE" 2000 "$UUID"
    run -0 xs list "$UUID"
    [ "${#lines[@]}" -eq 2001 ]
    assert_line --index 1 --regexp '^  snap00000 .* - *$'
    assert_line --index 2000 --regexp '^\* snap01999 .* snap01998 *$'
    run -0 xs list --leaves --names "$UUID"
    assert_output snap01999
    run -0 xs list --json "$UUID"
    run -0 json_get 'len(d["snapshots"]), d["snapshots"][5]["config"]["b_info"]["max_memkb"]' <<< "$output"
    assert_output "(2000, 262144)"
}

@test "create and export --compress take only zstd, with one message" {
    run -2 xs create --compress lz4 g1
    assert_output --partial "create: unknown compression 'lz4' (only zstd)"
    xs help create | grep -q -- '--compress zstd'
    run -2 xs export --compress lz4 g1 s1 "$BATS_TEST_TMPDIR/out"
    assert_output --partial "export: unknown compression 'lz4' (only zstd)"
    run -2 xs export --compress $'z\033[2J' g1 s1 "$BATS_TEST_TMPDIR/out"
    [[ $output != *$'\033'* ]]
}

@test "create --compress zstd needs a memory image" {
    mkrecord base - 1764000000 true
    run -1 xs create -N --compress zstd --disk-only "$UUID"
    assert_output --partial "--compress applies to the memory image"
}
