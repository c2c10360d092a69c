#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# info and parent.
load helpers

@test "info shows every field" {
    mkchain
    export TZ=UTC
    run -0 xs info g1 s1
    assert_line "Name:         s1"
    assert_line "Domain:       g1 ($UUID)"
    assert_line "Created:      2025-11-24 16:01:40 (1764000100)"
    assert_line "State:        ready"
    assert_line "Type:         mixed"
    assert_line "Memory:       $STATE/$UUID/s1/memory.save"
    assert_line "Parent:       s0"
    assert_line "Current:      yes"
    assert_line "Children:     s2"
    assert_line "Description:  snapshot s1"
    assert_line "Disks:        2"
    assert_line --partial "xvda   qcow2  internal  snapshot 's1' in /img/g1.qcow2"
}

@test "info --json prints the record" {
    mkchain
    run -0 xs info --json "$UUID" s2
    run -0 json_get 'd["name"], d["parent"], d["current"], d["domain"]["name"]' <<< "$output"
    assert_output "('s2', 's1', False, 'g1')"
}

@test "info of a missing snapshot exits 1" {
    mkchain
    run -1 xs info g1 nope
    assert_output "xl-snapshot: cannot show 'nope': no snapshot 'nope'"
}

@test "info with an invalid name exits 1 and touches nothing" {
    mkchain
    before=$(find "$STATE" | sort)
    run -1 xs info g1 a/s0
    assert_output --partial "contains '/'"
    run -1 xs info g1 .hidden
    assert_output --partial "starts with '.'"
    [ "$before" = "$(find "$STATE" | sort)" ]
}

@test "parent prints the parent, and fails on a root" {
    mkchain
    run -0 xs parent g1 s2
    assert_output s1
    run -1 xs parent g1 s0
    assert_output "xl-snapshot: snapshot 's0' has no parent (it is a root)"
    run -0 xs parent --json g1 s0
    run -0 json_get 'd["name"], d["parent"]' <<< "$output"
    assert_output "('s0', None)"
}
