#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Issue 18, seed 001's MERGE on stopped domains (real qemu-img, no
# hypervisor): delete --merge-into-parent folds the layer above an
# external snapshot's own layer down into it; refused while another
# snapshot needs that layer's current content, --force discards them.
load helpers


sum() { qemu-img convert -f qcow2 -O raw "$1" "$BATS_TEST_TMPDIR/sum.raw" && md5sum < "$BATS_TEST_TMPDIR/sum.raw" | cut -d' ' -f1; }
backing() { qemu-img info -f qcow2 --output=json "$1" | json_get 'd.get("backing-filename") or ""'; }
data_of() { xs info --json g1 "$1" | json_get 'd["disks"][0]["backing"]'; }
depth() { qemu-img info -f qcow2 --backing-chain --output=json "$IMG" | json_get 'len(d)'; }
# the whole state: every file's checksum and the records
state() { (cd "$D" && for f in *; do echo "$f $(md5sum < "$f")"; done; xs list --names g1; for s in $(xs list --names g1); do xs info --json g1 "$s" | json_get 'str(d["disks"])'; done); }

@test "delete --merge-into-parent of a middle snapshot folds the layer above into its layer: remaining data exact, chain shorter" {
    mk_external_chain
    w1=$(sum "$E1"); w3=$(sum "$E3"); want=$(sum "$IMG")
    d0=$(depth)
    run -0 xs delete --merge-into-parent g1 e2
    assert_output --regexp "^freed [0-9]+ bytes \([0-9.]+ (bytes|KiB|MiB)\) of disk space$"
    # e3's layer went into e2's: its file stays, e3's goes
    [ -e "$E2" ]
    [ ! -e "$E3" ]
    [ "$(backing "$IMG")" = "$E2" ]
    [ "$(depth)" = $((d0 - 1)) ]
    run -0 xs list --names g1
    assert_output "base
e1
e3"
    [ "$(data_of e3)" = "$E2" ]
    [ "$(xs info --json g1 e3 | json_get 'd["parent"]')" = e1 ]
    # every remaining snapshot's data and the current data are exact
    [ "$(sum "$E2")" = "$w3" ]
    [ "$(sum "$E1")" = "$w1" ]
    [ "$(sum "$IMG")" = "$want" ]
    run -0 xs check g1
    assert_output "No problems found."
}

@test "delete --merge-into-parent of the newest snapshot: the active layer's writes fold into its layer, which takes the configured path" {
    mk_external_chain
    w2=$(sum "$E2"); want=$(sum "$IMG")
    d0=$(depth)
    run -0 xs delete --merge-into-parent g1 e3
    [ ! -e "$E3" ]
    [ -e "$IMG" ]
    [ "$(backing "$IMG")" = "$E2" ]
    [ "$(depth)" = $((d0 - 1)) ]
    [ "$(sum "$IMG")" = "$want" ]
    [ "$(sum "$E2")" = "$w2" ]
    run -0 xs list --names g1
    assert_output "base
e1
e2"
    # e2's record names the active layer as the one above its layer
    [ "$(xs info --json g1 e2 | json_get 'd["disks"][0]["image"]')" = "$IMG" ]
    [ "$(xs info --json g1 e2 | json_get 'd["current"]')" = True ]
    run -0 xs check g1
    assert_output "No problems found."
    # revert to what is left: exact
    run -0 xs revert g1 e2
    [ "$(sum "$IMG")" = "$w2" ]
}

# after a revert to e2 and a new snapshot f1: e2's layer has two layers
# on it, e3's (a branch) and f1's (the current state)
branch() {
    mk_external_chain
    run -0 xs revert g1 e2
    qemu-io -f qcow2 -c "write -q -P 0x55 2M 1M" "$IMG"
    run -0 xs create --external --disk-only -n f1 g1
    qemu-io -f qcow2 -c "write -q -P 0x66 3M 512k" "$IMG"
    F1=$D/g1.f1.qcow2
}

@test "delete --merge-into-parent is refused while another snapshot needs the layer's content: nothing changes" {
    branch
    before=$(state)
    run -1 xs delete --merge-into-parent g1 e2
    assert_output "xl-snapshot: cannot delete 'e2': snapshot 'e3' needs the current content of its layer $E2, which the writes made after it would overwrite (--force discards it)"
    [ "$(state)" = "$before" ]
    run -0 xs check g1
    assert_output "No problems found."
}

@test "delete --merge-into-parent --force discards the snapshots that need the layer, one line each, and folds" {
    branch
    wf=$(sum "$F1"); want=$(sum "$IMG"); w1=$(sum "$E1")
    run -0 xs delete --merge-into-parent --force g1 e2
    assert_line --index 0 "discarded snapshot 'e3' (its data: $E3)"
    assert_line --index 1 --regexp "^freed [0-9]+ bytes"
    [ "${#lines[@]}" = 2 ]
    run -0 xs list --names g1
    assert_output "base
e1
f1"
    # e3's branch is gone, f1's layer went into e2's
    [ ! -e "$E3" ]
    [ ! -e "$F1" ]
    [ -e "$E2" ]
    [ "$(ls "$D" | grep -c before)" = 0 ]
    [ "$(data_of f1)" = "$E2" ]
    [ "$(sum "$E2")" = "$wf" ]
    [ "$(sum "$E1")" = "$w1" ]
    [ "$(sum "$IMG")" = "$want" ]
    run -0 xs check g1
    assert_output "No problems found."
    run -0 xs revert g1 f1
    [ "$(sum "$IMG")" = "$wf" ]
}

@test "delete --merge-into-parent: internal snapshots are refused, usage errors exit 2" {
    D=$BATS_TEST_TMPDIR/img
    domain_one_disk 4 0x11 "$D/g1.qcow2"
    run -0 xs create --disk-only -n i1 g1
    [ "$(xs info --json g1 i1 | json_get 'd["type"]')" = internal ]
    run -1 xs delete --merge-into-parent g1 i1
    assert_output --partial "xl-snapshot: cannot delete 'i1': it is an internal snapshot: its data is inside image $IMG"
    run -0 xs list --names g1
    assert_output "base
i1"
    for o in --children --children-only --metadata; do
        run -2 xs delete --merge-into-parent $o g1 i1
        assert_output "xl-snapshot: delete: --merge-into-parent excludes --children, --children-only and --metadata"
    done
    run -2 xs delete --force g1 i1
    assert_output "xl-snapshot: delete: --force goes only with --merge-into-parent"
    run -0 xs delete --help
    assert_output --partial "--merge-into-parent"
    run -0 xs list --names g1
    assert_output "base
i1"
}

@test "list --json gives each external disk's layer, its allocation and chain depth, as list -l" {
    mk_external_chain
    run -0 xs list --json g1
    for s in e1 e2 e3; do
        f=$D/g1.$s.qcow2
        b=$(( $(stat -c %b "$f") * $(stat -c %B "$f") ))
        case $s in e1) d=1 ;; e2) d=2 ;; e3) d=3 ;; esac
        [ "$(json_get "[x['layers'] for x in d['snapshots'] if x['name'] == '$s'][0]" <<<"$output")" = "[{'vdev': 'xvda', 'layer': '$f', 'allocated': $b, 'chain_depth': $d}]" ]
        xs list -l g1 | grep -qF "      layer: $b bytes allocated, chain depth $d"
    done
    # no layer: no key
    [ "$(json_get "'layers' in [x for x in d['snapshots'] if x['name'] == 'base'][0]" <<<"$output")" = False ]
    # the records themselves do not hold it
    run -0 xs info --json g1 e2
    [ "$(json_get "'layers' in d" <<<"$output")" = False ]
}
