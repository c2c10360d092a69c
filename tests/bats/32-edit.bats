#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# edit: a snapshot's description and name (virsh snapshot-edit), with
# the real qemu-img on small qcow2 images of a stopped domain; and the
# host side of create --halt (options; a domain that is not running).
load helpers

# base -> s1 -> s2, s1 -> s3 (current), all with real internal snapshots
tree3() {
    setup_images
    fill "$IMG" 0x11
    run -0 xs create -n s1 -d "first" g1
    fill "$IMG" 0x22
    run -0 xs create -n s2 g1
    run -0 xs revert g1 s1
    fill "$IMG" 0x33
    run -0 xs create -n s3 g1
}

# snapshot of the store and the images, to show nothing changed
state_of() {
    find "$STATE" -path '*/.lock' -prune -o -path '*/.index' -prune -o \
        -type f -print0 | sort -z | xargs -0 sha256sum
    qemu-img snapshot -l "$IMG" | awk 'NR > 2 { print $2 }'
}

@test "edit --rename: list, info, parent, current and the children follow; the old name is gone" {
    tree3
    run -0 xs edit g1 s1 --rename golden
    assert_output "Snapshot 's1' of domain 'g1' renamed to 'golden'."
    run -0 xs list --tree g1
    assert_output "base
\`-- golden
    |-- s2
    \`-- s3 *"
    run -0 xs parent g1 s2
    assert_output golden
    run -0 xs parent g1 s3
    assert_output golden
    run -0 xs info --json g1 golden
    run -0 json_get 'd["name"], d["description"], d["parent"], [x["internal_name"] for x in d["disks"]]' <<< "$output"
    # the disks keep the internal snapshot qcow2 knows
    assert_output "('golden', 'first', 'base', ['s1', 's1'])"
    run -1 xs info g1 s1
    assert_output "xl-snapshot: cannot show 's1': no snapshot 's1'"
    [ ! -e "$STATE/$UUID/s1" ]
    # qcow2 still holds "s1", nothing called "golden"
    run -0 qemu-img snapshot -l "$IMG"
    assert_output --partial " s1 "
    refute_output --partial "golden"
    # the list index agrees (a second list is served from it)
    run -0 xs list --names g1
    assert_output "base
golden
s2
s3"
    # check finds nothing wrong with the renamed snapshot
    run -0 xs check --json g1
    run -0 json_get 'd["clean"], len(d["problems"])' <<< "$output"
    assert_output "(True, 0)"
    # the current snapshot follows its own rename
    run -0 xs edit g1 s3 --rename now
    run -0 xs current g1
    assert_output now
    run -0 xs list --json g1
    # (sorted by name: s2 and s3 may have been taken in one second)
    run -0 json_get 'sorted((s["name"], s["current"]) for s in d["snapshots"])' <<< "$output"
    assert_output "[('base', False), ('golden', False), ('now', True), ('s2', False)]"
}

@test "edit --rename: revert and delete by the new name use the old internal snapshot" {
    tree3
    run -0 xs edit g1 s1 --rename golden
    fill "$IMG" 0x44
    run -0 xs revert g1 golden
    has "$IMG" 0x11
    run -0 xs current g1
    assert_output golden
    run -0 xs edit g1 s2 --rename two
    run -0 xs revert g1 two
    has "$IMG" 0x22
    run -0 xs delete g1 two
    run -0 qemu-img snapshot -l "$IMG"
    refute_output --partial " s2 "
    assert_output --partial " s1 "
    run -0 xs delete --children g1 golden
    run -0 qemu-img snapshot -l "$IMG"
    refute_output --partial " s1 "
    refute_output --partial " s3 "
    run -0 xs list --names g1
    assert_output base
}

@test "edit --rename: a snapshot with memory keeps its memory image" {
    mkchain
    echo memory > "$STATE/$UUID/s1/memory.save"
    run -0 xs edit g1 s1 --rename m1
    run -0 xs info --json g1 m1
    run -0 json_get 'd["memory"], d["current"], d["parent"]' <<< "$output"
    assert_output "('$STATE/$UUID/m1/memory.save', True, 's0')"
    [ "$(cat "$STATE/$UUID/m1/memory.save")" = memory ]
    [ "$(stat -c %a "$STATE/$UUID/m1")" = 700 ]
    [ "$(stat -c %a "$STATE/$UUID/m1/record.json")" = 600 ]
    run -0 xs parent g1 s2
    assert_output m1
}

@test "edit --rename: export and import after a rename" {
    tree3
    run -0 xs edit g1 s1 --rename golden
    run -0 xs export g1 golden "$BATS_TEST_TMPDIR/b"
    run -0 json_get 'd["snapshot"], [f["role"] for f in d["files"]]' < "$BATS_TEST_TMPDIR/b/manifest.json"
    assert_output --partial "('golden', "
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/st2
    mkdir "$BATS_TEST_TMPDIR/d"
    run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/d" --as-domain copy1 "$BATS_TEST_TMPDIR/b"
    run -0 xs list --names copy1
    assert_output golden
}

@test "edit --rename: invalid and taken names are refused with one line, nothing changed" {
    tree3
    before=$(state_of)
    run -1 xs edit g1 s1 --rename s2
    assert_output "xl-snapshot: cannot rename 's1': domain already has a snapshot 's2'"
    run -1 xs edit g1 s1 --rename a/b
    assert_output "xl-snapshot: cannot rename 's1': snapshot name 'a/b' contains '/'"
    run -1 xs edit g1 s1 --rename .hidden
    assert_output "xl-snapshot: cannot rename 's1': snapshot name '.hidden' starts with '.'"
    run -1 xs edit g1 s1 --rename ""
    assert_output "xl-snapshot: cannot rename 's1': snapshot name is empty"
    run -1 xs edit g1 s1 --rename "$(printf 'a\033b')"
    assert_output --partial "xl-snapshot: cannot rename 's1': snapshot name contains a control character"
    [ "${#lines[@]}" = 1 ]
    run -1 xs edit g1 nosuch --rename x
    assert_output "xl-snapshot: cannot rename 'nosuch': no snapshot 'nosuch'"
    run -1 xs edit g1 s1 -d "$(printf 'bad\033[2Jtext')"
    assert_output "xl-snapshot: cannot edit 's1': the description contains a control character (U+001B at offset 3)"
    run -1 xs edit g1 s1 -d "$(printf 'bad\xfftext')"
    assert_output "xl-snapshot: cannot edit 's1': the description is not valid UTF-8"
    EDITOR=true VISUAL= run -0 xs edit g1 s1
    assert_output "Snapshot 's1' not changed."
    run -2 xs edit g1
    [ "$before" = "$(state_of)" ]
}

@test "edit: a renamed snapshot's internal name is not reused by a new snapshot" {
    tree3
    run -0 xs edit g1 s1 --rename golden
    before=$(state_of)
    run -1 xs create -n s1 g1
    assert_output --partial "the name 's1' is still the internal snapshot of disk xvda of snapshot 'golden'"
    [ "$before" = "$(state_of)" ]
    # another user name is free, and so is renaming back
    run -0 xs edit g1 golden --rename s1
    run -0 xs list --names g1
    assert_output "base
s1
s2
s3"
}

@test "edit --description changes only the description; \"\" removes it; --json prints the record" {
    tree3
    run -0 xs edit -d "before the upgrade" g1 s2
    assert_output "Description of snapshot 's2' changed."
    run -0 xs info --json g1 s2
    run -0 json_get 'd["description"], d["parent"], d["current"]' <<< "$output"
    assert_output "('before the upgrade', 's1', False)"
    run -0 xs edit --json --description "" g1 s2
    run -0 json_get 'd["name"], d["description"]' <<< "$output"
    assert_output "('s2', None)"
    run -0 xs edit --json --rename two --description "both" g1 s2
    run -0 json_get 'd["name"], d["description"], d["parent"]' <<< "$output"
    assert_output "('two', 'both', 's1')"
    run -0 xs info --json g1 two
    run -0 json_get 'd["description"]' <<< "$output"
    assert_output both
}

@test "edit --rename completes an interrupted rename (the snapshot under both names)" {
    mkchain
    echo memory > "$STATE/$UUID/s1/memory.save"
    # as a crash after step 1 leaves it: the new record, not current
    mkdir -m 0700 "$STATE/$UUID/m1"
    ln "$STATE/$UUID/s1/memory.save" "$STATE/$UUID/m1/memory.save"
    sed -e 's/"name": "s1"/"name": "m1"/' -e 's/"current": true/"current": false/' \
        -e "s|/s1/memory.save|/m1/memory.save|" \
        "$STATE/$UUID/s1/record.json" > "$STATE/$UUID/m1/record.json"
    run -0 xs list --names g1
    assert_output "s0
m1
s1
s2"
    # a different snapshot under that name is refused
    run -1 xs edit g1 s0 --rename m1
    assert_output "xl-snapshot: cannot rename 's0': domain already has a snapshot 'm1'"
    run -0 xs edit g1 s1 --rename m1
    run -0 xs list --names g1
    assert_output "s0
m1
s2"
    run -0 xs current g1
    assert_output m1
    run -0 xs parent g1 s2
    assert_output m1
}

@test "create --halt: a domain that is not running is left as it is; --halt -N is refused" {
    setup_images
    run -0 xs create --halt -n off1 g1
    assert_output "Snapshot 'off1' of domain 'g1' created (internal, disks only)."
    run -0 xs info --json g1 off1
    run -0 json_get 'd["state"], d["domstate"]' <<< "$output"
    assert_output "('ready', 'shutoff')"
    before=$(state_of)
    run -2 xs create --halt -N g1
    assert_output --partial "create: --halt cannot be combined with --dry-run"
    [ "$before" = "$(state_of)" ]
}

@test "create --halt: a failed snapshot halts nothing" {
    setup_images
    run -0 xs create -n s1 g1
    run -1 xs create --halt -n s1 g1
    assert_output "xl-snapshot: cannot create snapshot 's1': domain already has a snapshot 's1'"
}

@test "edit --rename killed at each step: the store stays readable, the same rename completes it" {
    for step in edit-linked edit-copied edit-children edit-removed; do
        rm -rf "$STATE"
        mkchain
        echo memory > "$STATE/$UUID/s1/memory.save"
        XL_SNAPSHOT_FAULT=$step run -137 xs edit g1 s1 --rename m1
        run -0 xs list --names g1
        echo "$step: $output" | tr '\n' ' '
        # the snapshot is there under one name or both, never none
        [[ $output == *s1* || $output == *m1* ]]
        # never two current
        run -0 xs list --json g1
        run -0 json_get 'sum(1 for s in d["snapshots"] if s["current"]) <= 1' <<< "$output"
        assert_output True
        if xs info g1 s1 >/dev/null 2>&1; then
            run -0 xs edit g1 s1 --rename m1
        fi
        run -0 xs list --names g1
        assert_output "s0
m1
s2"
        run -0 xs parent g1 s2
        assert_output m1
        [ "$(cat "$STATE/$UUID/m1/memory.save")" = memory ]
        [ ! -e "$STATE/$UUID/s1" ]
        # only a kill after the old name went can leave no current one
        run xs current g1
        [ "$output" = m1 ] || [ "$step" = edit-removed ]
    done
}

@test "edit --rename: a directory of the new name left by something else is not taken over" {
    mkchain
    echo memory > "$STATE/$UUID/s1/memory.save"
    mkdir -m 0700 "$STATE/$UUID/m1"
    echo other > "$STATE/$UUID/m1/memory.save"
    run -1 xs edit g1 s1 --rename m1
    assert_output --partial "m1 exists without a record of this snapshot"
    [ "$(cat "$STATE/$UUID/m1/memory.save")" = other ]
    run -0 xs current g1
    assert_output s1
}

# ed_script BODY: an "editor" that runs BODY (sh) on the file ($1)
ed_script() {
    printf '#!/bin/sh\n%s\n' "$1" > "$BATS_TEST_TMPDIR/ed"
    chmod +x "$BATS_TEST_TMPDIR/ed"
    export VISUAL= EDITOR="$BATS_TEST_TMPDIR/ed"
}

@test "edit without options: name and description in \$EDITOR, as a snapshot config file" {
    tree3
    # what the editor is given
    ed_script 'cp "$1" '"$BATS_TEST_TMPDIR/seen"
    run -0 xs edit g1 s1
    assert_output "Snapshot 's1' not changed."
    run -0 grep -v '^#' "$BATS_TEST_TMPDIR/seen"
    assert_output 'name = "s1"
description = "first"'
    # rename and describe, quotes and backslashes kept
    ed_script 'sed -i -e "s/^name = .*/name = \"golden\"/" -e "s/^description = .*/description = \"the \\\\\"gold\\\\\" one \\\\\\\\ x\"/" "$1"'
    run -0 xs edit g1 s1
    assert_line "Snapshot 's1' of domain 'g1' renamed to 'golden'."
    assert_line "Description of snapshot 'golden' changed."
    run -0 xs info --json g1 golden
    run -0 json_get 'd["description"], d["disks"][0]["internal_name"]' <<< "$output"
    assert_output "('the \"gold\" one \\\\ x', 's1')"
    run -0 xs parent g1 s3
    assert_output golden
    # anything but the name and the description is refused
    before=$(state_of)
    ed_script 'echo "memory = \"yes\"" >> "$1"'
    run -1 xs edit g1 golden
    assert_output "xl-snapshot: cannot edit 'golden': only the name and the description can be edited; nothing changed"
    ed_script 'echo "name = " > "$1"'
    run -1 xs edit g1 golden
    assert_output --partial "nothing changed"
    ed_script 'exit 1'
    run -1 xs edit g1 golden
    assert_output "xl-snapshot: cannot edit 'golden': the editor failed; nothing changed"
    ed_script 'sed -i "s/^name = .*/name = \"s2\"/" "$1"'
    run -1 xs edit g1 golden
    assert_output "xl-snapshot: cannot rename 'golden': domain already has a snapshot 's2'"
    [ "$before" = "$(state_of)" ]
}

@test "edit: the file given to the editor is in \$TMPDIR (else /tmp), and removed afterwards" {
    tree3
    mkdir "$BATS_TEST_TMPDIR/tmp"
    ed_script 'echo "$1" > '"$BATS_TEST_TMPDIR/path"
    TMPDIR=$BATS_TEST_TMPDIR/tmp run -0 xs edit g1 s1
    assert_output "Snapshot 's1' not changed."
    run -0 cat "$BATS_TEST_TMPDIR/path"
    assert_output --regexp "^$BATS_TEST_TMPDIR/tmp/xl-snapshot-edit\.[A-Za-z0-9]{6}\.cfg\$"
    run -0 find "$BATS_TEST_TMPDIR/tmp" -mindepth 1
    assert_output ''
    # a relative TMPDIR is not used: /tmp
    TMPDIR=tmp run -0 xs edit g1 s1
    run -0 cat "$BATS_TEST_TMPDIR/path"
    assert_output --regexp '^/tmp/xl-snapshot-edit\.[A-Za-z0-9]{6}\.cfg$'
    [ ! -e "$(cat "$BATS_TEST_TMPDIR/path")" ]
}
