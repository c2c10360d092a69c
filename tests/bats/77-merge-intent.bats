#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The live merge intent (issue 18) left by a delete killed while it
# merged: check reports it, --repair finishes a merge that took effect
# or rolls back one that did not (real qemu-img, no hypervisor).
load helpers

# a stopped domain with an external chain e1 <- e2 (active: $IMG)
chain() {
    D=$BATS_TEST_TMPDIR/img
    domain_one_disk 4 0x11 "$D/g1.qcow2"
    run -0 xs create --external --disk-only -n e1 g1
    qemu-io -f qcow2 -c "write -q -P 0x22 0 64k" "$IMG"
    run -0 xs create --external --disk-only -n e2 g1
    qemu-io -f qcow2 -c "write -q -P 0x33 64k 64k" "$IMG"
    E2=$D/g1.e2.qcow2
    E1=$D/g1.e1.qcow2
    [ "$(qemu-img info -f qcow2 --output=json "$IMG" | json_get 'd["backing-filename"]')" = "$E2" ]
    SUM2=$(qemu-img convert -O raw "$E2" /dev/stdout | md5sum)
}

# intent SNAP: the delete of SNAP killed while merging its layer $E2
# into $IMG (the record is "deleting")
intent() {
    python3 - "$STATE/$UUID/$1/record.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); r["state"] = "deleting"
json.dump(r, open(sys.argv[1], "w"))
PY
    printf '{"snapshot":"%s","domid":7,"job":"xlsnap-merge-xvda-00000000","image":"%s","child":"%s"}' \
        "$1" "$E2" "$IMG" > "$STATE/$UUID/.merge"
}

@test "a live merge that had not taken effect is rolled back: the snapshot keeps its data" {
    chain
    intent e2
    run -1 xs check g1
    assert_output --partial "a live merge of snapshot 'e2' (layer $E2 into $IMG) was interrupted"
    run -0 xs check --repair g1
    assert_output --partial "rolled back: the merge had not taken effect, 'e2' keeps its data"
    run -0 xs check g1
    assert_output "No problems found."
    [ ! -e "$STATE/$UUID/.merge" ]
    run -0 xs list --names g1
    assert_output --partial e2
    [ "$(qemu-img convert -O raw "$E2" /dev/stdout | md5sum)" = "$SUM2" ]
}

@test "a live merge that took effect is finished: the merged layer goes, the record too" {
    chain
    want=$(qemu-img convert -O raw "$IMG" /dev/stdout | md5sum)
    intent e2
    # what QEMU's block-stream had done before the tool died
    qemu-img rebase -q -f qcow2 -b "$E1" -F qcow2 "$IMG"
    run -1 xs check g1
    assert_output --partial "interrupted"
    run -0 xs check --repair g1
    assert_output --partial "finished: the merged layer $E2 is removed"
    run -0 xs check g1
    assert_output "No problems found."
    [ ! -e "$E2" ]
    [ -e "$E1" ]
    run -0 xs list --names g1
    refute_output --partial e2
    [ "$(qemu-img convert -O raw "$IMG" /dev/stdout | md5sum)" = "$want" ]
}

@test "a malformed live merge intent is reported and removed" {
    chain
    echo '{"snapshot": "e2", "dom' > "$STATE/$UUID/.merge"
    run -1 xs check g1
    assert_output --partial "the live merge intent is malformed"
    run -0 xs check --repair g1
    run -0 xs check g1
    assert_output "No problems found."
}
