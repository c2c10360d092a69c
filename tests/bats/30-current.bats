#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# current: show and set.
load helpers

@test "current shows the current snapshot" {
    mkchain
    run -0 xs current g1
    assert_output s1
    run -0 xs current --json g1
    run -0 json_get 'd["name"]' <<< "$output"
    assert_output s1
}

@test "current NAME moves the marker, in the records" {
    mkchain
    run -0 xs current g1 s2
    assert_output ""
    run -0 xs current g1
    assert_output s2
    grep -q '"current": true' "$STATE/$UUID/s2/record.json"
    grep -q '"current": false' "$STATE/$UUID/s1/record.json"
    run -0 xs list g1
    assert_line --index 3 --regexp '^\* s2 '
}

@test "current with no current snapshot exits 1" {
    mkrecord s0 - 100 false
    run -1 xs current g1
    assert_output "xl-snapshot: domain 'g1' has no current snapshot"
    run -0 xs current --json g1
    run -0 json_get 'd["name"]' <<< "$output"
    assert_output None
}

@test "current with a missing or invalid name changes nothing" {
    mkchain
    before=$(cat "$STATE"/$UUID/*/record.json | md5sum)
    run -1 xs current g1 nope
    assert_output "xl-snapshot: cannot make 'nope' current: no snapshot 'nope'"
    run -1 xs current g1 'a/b'
    assert_output --partial "contains '/'"
    run -1 xs current g1 "$(printf 'a\nb')"
    assert_output --partial "control character"
    [ "$before" = "$(cat "$STATE"/$UUID/*/record.json | md5sum)" ]
    [ ! -e "$STATE/$UUID/a" ]
}

@test "a name longer than 255 bytes exits 1" {
    mkchain
    run -1 xs current g1 "$(printf 'x%.0s' $(seq 256))"
    assert_output --partial "256 bytes long (at most 255)"
}
