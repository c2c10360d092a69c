#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Files in the tool's naming scheme that no record owns (issue 19):
# <stem>.<snapshot name>.qcow2 next to a disk image <stem>.<ext> of the
# domain, as external snapshots and imports name their images.  check
# reports them; --repair keeps them (nothing proves the tool made them)
# and says why.  A stopped domain known from its records, real qemu-img.
load helpers

# domain: g1 (stopped, known from its record "base") with one qcow2 disk
# $D/xvda.qcow2
domain() {
    D=$BATS_TEST_TMPDIR/img
    domain_one_disk 4 "" "$D/xvda.qcow2"
}

# the finding for the stray image $D/xvda.$1.qcow2
stray_line() {
    echo "g1: $D/xvda.$1.qcow2 is named like an image made for a snapshot '$1' of g1, but no snapshot owns it (if it is not yours, remove it)"
}

@test "an image named like a snapshot's that no record owns: check reports it, --repair keeps it and says why" {
    domain
    qemu-img create -q -f qcow2 "$D/xvda.gone.qcow2" 1M
    run -1 xs check g1
    assert_output "$(stray_line gone)
1 problem found; 'xl-snapshot check --repair' completes or rolls back interrupted operations."
    # without a domain: every domain's
    run -1 xs check
    assert_line "$(stray_line gone)"
    run -1 xs check --json g1
    run -0 json_get 'd["clean"], [(p["snapshot"], p["problem"], p["repaired"]) for p in d["problems"]]' <<< "$output"
    assert_output "(False, [(None, 'orphan', False)])"
    # --repair: left, and why
    run -1 xs check --repair g1
    assert_output "$(stray_line gone)
g1:   left in place: nothing proves that this tool made it rather than an admin (a file of that name may be someone's data)
1 problem found, 0 repaired."
    [ -f "$D/xvda.gone.qcow2" ]
    run -1 xs check --repair --json g1
    run -0 json_get '[(p["problem"], p["repaired"], p["repair"].startswith("left in place")) for p in d["problems"]]' <<< "$output"
    assert_output "[('orphan', False, True)]"
    [ -f "$D/xvda.gone.qcow2" ]
    # the admin removes it: clean
    rm "$D/xvda.gone.qcow2"
    run -0 xs check g1
    assert_output "No problems found."
}

@test "images the records own are not reported: an external snapshot's, an imported one's" {
    domain
    fill "$IMG" 0x11
    run -0 xs create --external -n e1 g1
    [ -f "$D/xvda.e1.qcow2" ]
    fill "$IMG" 0x22
    run -0 xs create -n s2 g1
    run -0 xs export g1 s2 "$BATS_TEST_TMPDIR/b2"
    run -0 xs delete g1 s2
    # imported next to the domain's disk
    run -0 xs import "$BATS_TEST_TMPDIR/b2"
    [ -f "$D/xvda.s2.qcow2" ]
    run -0 xs check g1
    assert_output "No problems found."
    # a stray one among them is the only one reported
    qemu-img create -q -f qcow2 "$D/xvda.gone.qcow2" 1M
    run -1 xs check g1
    assert_output "$(stray_line gone)
1 problem found; 'xl-snapshot check --repair' completes or rolls back interrupted operations."
    # once the import's record is gone (by hand), its image is a stray
    rm -r "$STATE/$UUID/s2"
    run -1 xs check g1
    assert_line "$(stray_line gone)"
    assert_line "$(stray_line s2)"
}

@test "imported into a --disk-dir: owned there, a stray there is reported" {
    domain
    run -0 xs create -n s1 g1
    run -0 xs export g1 s1 "$BATS_TEST_TMPDIR/b1"
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/st2
    STATE=$XL_SNAPSHOT_DIR
    mkdir "$BATS_TEST_TMPDIR/d2"
    run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/d2" "$BATS_TEST_TMPDIR/b1"
    [ -f "$BATS_TEST_TMPDIR/d2/xvda.s1.qcow2" ]
    run -0 xs check
    assert_output "No problems found."
    qemu-img create -q -f qcow2 "$BATS_TEST_TMPDIR/d2/xvda.s1.s0.qcow2" 1M
    run -1 xs check
    assert_line "g1: $BATS_TEST_TMPDIR/d2/xvda.s1.s0.qcow2 is named like an image made for a snapshot 's0' of g1, but no snapshot owns it (if it is not yours, remove it)"
}

@test "files of other shapes are not reported, nor an image the domain is built on, nor revert's old active layer" {
    domain
    qemu-img create -q -f qcow2 "$D/xvda.gone.qcow2" 1M
    echo notes > "$D/notes.txt"
    cp "$IMG" "$D/xvda.qcow2.bak"
    cp "$IMG" "$D/other.gone.qcow2"
    cp "$IMG" "$D/.xvda.hidden.qcow2"
    cp "$IMG" "$D/xvda..qcow2"
    mkdir "$D/xvda.adir.qcow2"
    ln -s "$D/xvda.gone.qcow2" "$D/xvda.link.qcow2"
    # an external snapshot whose record went with delete --metadata: the
    # domain's disk is built on its image, which is still needed
    fill "$IMG" 0x11
    run -0 xs create --external -n e1 g1
    run -0 xs delete --metadata g1 e1
    [ -f "$D/xvda.e1.qcow2" ]
    run -1 grep -rl "xvda.e1.qcow2" "$STATE"
    # revert's old active layer, kept as its own branch
    fill "$IMG" 0x22
    run -0 xs create --external -n e2 g1
    fill "$IMG" 0x33
    run -0 xs revert g1 e2
    run -0 ls "$D"
    assert_output --regexp "xvda\.before-e2-[0-9]+\.qcow2"
    # the shapes of revert's layers (the domain's, not a snapshot's),
    # also when no record names them
    cp "$IMG" "$D/xvda.before-e1-1764000000.qcow2"
    cp "$IMG" "$D/xvda.before-e1-1764000000-2.qcow2"
    cp "$IMG" "$D/xvda.e1.rev1764000000.qcow2"
    cp "$IMG" "$D/xvda.e2.e2.rev1764000000-3.qcow2"
    run -1 xs check g1
    assert_output "$(stray_line gone)
1 problem found; 'xl-snapshot check --repair' completes or rolls back interrupted operations."
    # nothing was opened or changed
    [ "$(cat "$D/notes.txt")" = notes ]
    [ -L "$D/xvda.link.qcow2" ]
    [ -d "$D/xvda.adir.qcow2" ]
}
