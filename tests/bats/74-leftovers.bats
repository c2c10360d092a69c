#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Nothing is left behind by a killed export or import (issue 19): helper
# processes die with the tool, staging dirs are found by check and
# removed by check --repair unless their operation still runs; parent
# cycles are reported and repaired, list --tree hides no snapshot.
# A stopped domain known from its records, real qemu-img.
load helpers

# big_domain MiB: g1 (domain_one_disk) with MiB of data and its internal
# snapshot s1: an export of s1 runs qemu-img convert long enough to be
# killed in it
big_domain() {
    domain_one_disk "$1" 0x5a
    xs create -n s1 g1
}

# import_stream BYTES: a bundle of s1 as a tar stream; an `import -` of
# it into a new state dir ($STATE) whose feeder stops after BYTES and
# waits (FEED, XPID)
import_stream() {
    xs export g1 s1 "$BATS_TEST_TMPDIR/b"
    tar -C "$BATS_TEST_TMPDIR/b" -cf "$BATS_TEST_TMPDIR/b.tar" .
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/st2
    STATE=$XL_SNAPSHOT_DIR
    mkdir "$BATS_TEST_TMPDIR/d"
    mkfifo "$BATS_TEST_TMPDIR/f"
    ( head -c "$1" "$BATS_TEST_TMPDIR/b.tar"; exec sleep 60 ) > "$BATS_TEST_TMPDIR/f" 2>/dev/null 3>&- &
    FEED=$!
    "$XS" import --disk-dir "$BATS_TEST_TMPDIR/d" - < "$BATS_TEST_TMPDIR/f" 3>&- &
    XPID=$!
}

# wait_for CMD...: up to 60 s for CMD to succeed
wait_for() {
    local n=0
    until "$@"; do
        (( ++n < 1200 )) || return 1
        sleep 0.05
    done
}

# wait_for_s SECONDS CMD...: up to SECONDS for CMD to succeed
wait_for_s() {
    local n=0 max=$(( $1 * 20 ))
    shift
    until "$@"; do
        (( ++n < max )) || return 1
        sleep 0.05
    done
}

size_of() { du -sb "$1" | cut -f1; }

teardown() {
    [ -n "${FEED:-}" ] && kill "$FEED" 2>/dev/null
    [ -n "${XPID:-}" ] && kill -9 "$XPID" 2>/dev/null
    [ -n "${CPID:-}" ] && kill -9 "$CPID" 2>/dev/null
    true
}

@test "kill -9 of export - while qemu-img converts: no qemu-img keeps writing; check finds the staging dir, --repair removes it" {
    # a compressed cluster in the snapshot: its export is qemu-img's
    # convert (an internal snapshot without one is written by the tool
    # itself, no helper: bundle/delta.c)
    domain_one_disk 256 0x5a
    qemu-io -f qcow2 -c "discard -q 0 64k" -c "write -q -c -P 0x5b 0 64k" "$IMG"
    xs create -n s1 g1
    # the real qemu-img, its convert rate-limited (-r 8M: 256 MiB take
    # ~30 s), so that it is surely still converting when the tool dies,
    # however fast or loaded the host (an unlimited convert had finished
    # between being seen and being stopped)
    local real slow=$BATS_TEST_TMPDIR/slow-qemu-img
    real=$(command -v qemu-img)
    printf '#!/bin/sh\nif [ "$1" = convert ]; then shift; exec %s convert -r 8M "$@"; fi\nexec %s "$@"\n' \
        "$real" "$real" > "$slow"
    chmod +x "$slow"
    XL_SNAPSHOT_QEMU_IMG=$slow "$XS" export g1 s1 - > /dev/null 3>&- &
    XPID=$!
    # the child once it is the real qemu-img (not the wrapper before its exec)
    convert_pid() { pgrep -P "$XPID" -f "^$real convert -r 8M"; }
    wait_for convert_pid
    CPID=$(convert_pid)
    # held still while the tool dies
    kill -STOP "$CPID"
    kill -9 "$XPID"
    wait "$XPID" || true
    stage=$(echo "$STATE/$UUID"/.export.??????)
    [ -d "$stage" ]
    # the convert died with the tool: nothing runs (stopped or not)
    no_helper() { ! pgrep -f -- "$STATE/" >/dev/null; }
    wait_for_s 10 no_helper || { pgrep -af -- "$STATE/"; false; }
    s0=$(size_of "$stage")
    kill -CONT "$CPID" 2>/dev/null || true
    sleep 1
    run -1 pgrep -af -- "$STATE/"
    CPID=
    [ "$(size_of "$stage")" = "$s0" ]
    run -1 xs check
    assert_line "g1: $stage is the staging dir of an interrupted export"
    run -0 xs check --repair
    assert_line "g1:   repaired: removed $stage"
    [ ! -e "$stage" ]
    run -0 xs check
    assert_output "No problems found."
}

@test "kill -9 of import - mid-stream: check finds the staging dir, --repair removes it" {
    big_domain 64
    # half the bundle, then the writer waits
    import_stream 40M
    stage_big() { local s; s=$(echo "$STATE"/.import.??????); [ -d "$s" ] && [ "$(size_of "$s")" -gt 20000000 ]; }
    wait_for stage_big
    kill -9 "$XPID"
    wait "$XPID" || true
    kill "$FEED" 2>/dev/null || true    # or gone: its reader went
    stage=$(echo "$STATE"/.import.??????)
    # its helpers die with it (a killed process may take a moment to go
    # on a loaded host)
    no_helper() { ! pgrep -f -- "$STATE/" >/dev/null; }
    wait_for_s 10 no_helper || { pgrep -af -- "$STATE/"; false; }
    run -1 xs check
    assert_line --regexp "^.*: $stage is the staging dir of an interrupted import$"
    run -0 xs check --repair
    assert_line --regexp "^.*:   repaired: removed $stage$"
    [ ! -e "$stage" ]
    run -0 xs check
    assert_output "No problems found."
    run -0 find "$STATE" "$BATS_TEST_TMPDIR/d" -mindepth 1
    assert_output ""
}

@test "a staging dir whose operation still runs is neither reported nor removed" {
    big_domain 16
    # a live import - waiting for the rest of its stream
    import_stream 4M
    stage_some() { local s; s=$(echo "$STATE"/.import.??????); [ -d "$s" ] && [ "$(size_of "$s")" -gt 2000000 ]; }
    wait_for stage_some
    stage=$(echo "$STATE"/.import.??????)
    run -0 xs check
    assert_output "No problems found."
    run -0 xs check --repair
    assert_output "No problems found."
    [ -d "$stage" ]
    kill -0 "$XPID"
    kill -9 "$XPID"
    wait "$XPID" || true
    kill "$FEED" 2>/dev/null || true
    FEED=
    # and one locked by a process of the test (as an owner would)
    mkdir -m 0700 "$STATE/.import.AbC123"
    exec {lk}< "$STATE/.import.AbC123"
    flock -n "$lk"
    run -0 xs check --repair
    assert_line --regexp "repaired: removed $stage$"
    refute_output --partial ".import.AbC123"
    [ -d "$STATE/.import.AbC123" ]
    # released: a leftover like any other
    exec {lk}<&-
    run -1 xs check
    assert_line --regexp ": $STATE/.import.AbC123 is the staging dir of an interrupted import$"
    run -0 xs check --repair
    [ ! -e "$STATE/.import.AbC123" ]
}

@test "check reports parent cycles; --repair makes the oldest of each a root" {
    bare r - 1764000000 true
    bare a c 1764000100 false
    bare b a 1764000200 false
    bare c b 1764000300 false
    bare d b 1764000400 false
    bare self self 1764000500 false
    run -1 xs check g1
    assert_line "g1: snapshots a -> c -> b -> a form a parent cycle"
    assert_line "g1: snapshots self -> self form a parent cycle"
    run -1 xs check --json g1
    run -0 json_get 'sorted((p["problem"], p["snapshot"]) for p in d["problems"])' <<< "$output"
    assert_output "[('parent-cycle', 'a'), ('parent-cycle', 'self')]"
    run -0 xs check --repair g1
    assert_line "g1:   repaired: made 'a', the oldest of the cycle, a root"
    assert_line "g1:   repaired: made 'self', the oldest of the cycle, a root"
    run -0 xs check g1
    assert_output "No problems found."
    run -0 xs list --tree g1
    assert_output "r *
a
\`-- b
    |-- c
    \`-- d
self"
}

@test "list --tree shows every snapshot: a cycle and a missing parent as roots, with a warning" {
    bare r - 1764000000 true
    bare x r 1764000050 false
    bare a c 1764000100 false
    bare b a 1764000200 false
    bare c b 1764000300 false
    bare self self 1764000500 false
    bare orph gone 1764000600 false
    bare e orph 1764000700 false
    run -0 --separate-stderr xs list --tree g1
    assert_output "r *
\`-- x
a
\`-- b
    \`-- c
self
orph
\`-- e"
    [[ "$stderr" == *"snapshot 'a' is its own ancestor (a parent cycle): shown as a root"* ]]
    [[ "$stderr" == *"snapshot 'self' is its own ancestor (a parent cycle): shown as a root"* ]]
    [[ "$stderr" == *"snapshot 'orph' names parent 'gone', which does not exist: shown as a root"* ]]
    # every record, once: as many lines as list --names
    n=$(xs list --names g1 | wc -l)
    [ "$n" -eq 8 ]
    [ "${#lines[@]}" -eq 8 ]
    # --from inside a cycle ends
    run -0 --separate-stderr xs list --tree --from b g1
    assert_output "b
\`-- c"
}

@test "import - and import DIR create a state dir whose parent does not exist (0700)" {
    big_domain 4
    xs export g1 s1 "$BATS_TEST_TMPDIR/b"
    tar -C "$BATS_TEST_TMPDIR/b" -cf "$BATS_TEST_TMPDIR/b.tar" .
    mkdir "$BATS_TEST_TMPDIR/d1" "$BATS_TEST_TMPDIR/d2"
    XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/new1/deeper/state run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/d1" - < "$BATS_TEST_TMPDIR/b.tar"
    assert_line --partial "Imported snapshot 's1' of domain 'g1'"
    run -0 stat -c %a "$BATS_TEST_TMPDIR/new1/deeper/state"
    assert_output 700
    XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/new2/deeper/state run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/d2" "$BATS_TEST_TMPDIR/b"
    run -0 stat -c %a "$BATS_TEST_TMPDIR/new2/deeper/state"
    assert_output 700
}
