#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Crash safety, permissions and hostile state directories.
load helpers

@test "a writer killed mid-write leaves the previous record intact" {
    mkchain
    before=$(cat "$STATE/$UUID/s2/record.json")
    XL_SNAPSHOT_FAULT=record-write run -137 xs current g1 s2
    # s1 was cleared first (never two current), s2 is untouched
    [ "$before" = "$(cat "$STATE/$UUID/s2/record.json")" ]
    run -0 xs list --json g1
    run -0 json_get 'len(d["snapshots"])' <<< "$output"
    assert_output 3
    # the next operation completes normally
    run -0 xs current g1 s2
    run -0 xs current g1
    assert_output s2
}

@test "a writer killed before rename leaves no partial record" {
    mkchain
    XL_SNAPSHOT_FAULT=record-before-rename run -137 xs current g1 s0
    run -0 xs list --names g1
    assert_output "$(printf 's0\ns1\ns2')"
    for f in "$STATE"/$UUID/*/record.json; do
        python3 -m json.tool "$f" > /dev/null
    done
}

@test "records are 0600 and directories 0700 after a write" {
    mkchain
    run -0 xs current g1 s0
    [ "$(stat -c %a "$STATE/$UUID/s0/record.json")" = 600 ]
    [ "$(stat -c %a "$STATE/$UUID/s1/record.json")" = 600 ]
    [ "$(stat -c %a "$STATE/$UUID")" = 700 ]
    [ "$(stat -c %a "$STATE/$UUID/.lock")" = 600 ]
}

@test "a permissive umask changes no mode: records 0600, lock 0600" {
    mkchain
    chmod 0644 "$STATE/$UUID/s0/record.json" "$STATE/$UUID/s1/record.json"
    umask 000
    run -0 xs current g1 s0
    [ "$(stat -c %a "$STATE/$UUID/s0/record.json")" = 600 ]
    [ "$(stat -c %a "$STATE/$UUID/s1/record.json")" = 600 ]
    [ "$(stat -c %a "$STATE/$UUID/.lock")" = 600 ]
}

@test "a symlinked record is refused" {
    mkchain
    echo '{}' > "$BATS_TEST_TMPDIR/evil.json"
    rm "$STATE/$UUID/s2/record.json"
    ln -s "$BATS_TEST_TMPDIR/evil.json" "$STATE/$UUID/s2/record.json"
    run -1 xs info g1 s2
    assert_output --partial "Too many levels of symbolic links"
}

@test "a malformed record gives a clear error naming the file" {
    mkchain
    echo '{"version": 1, "name": ' > "$STATE/$UUID/s1/record.json"
    run -1 xs list "$UUID"
    assert_output --partial "$STATE/$UUID/s1/record.json: malformed JSON"
    printf '{"version":1,"name":"s1","creationtime":"x"}' > "$STATE/$UUID/s1/record.json"
    run -1 xs info "$UUID" s1
    assert_output --partial "'creationtime' is not a non-negative integer"
}

@test "a record whose name does not match its directory is refused" {
    mkchain
    sed -i 's/"name": "s1"/"name": "other"/' "$STATE/$UUID/s1/record.json"
    run -1 xs info "$UUID" s1
    assert_output --partial "record names snapshot 'other'"
}

@test "the lock serialises: a held lock makes the writer wait, then fail busy" {
    mkchain
    exec 9> "$STATE/$UUID/.lock"
    flock 9
    XL_SNAPSHOT_LOCK_TIMEOUT=1 run -1 xs current g1 s0
    assert_output --partial "busy"
    exec 9>&-
    run -0 xs current g1 s0
}
