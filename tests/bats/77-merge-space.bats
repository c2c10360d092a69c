#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Issue 18 on stopped domains (real qemu-img, no hypervisor): delete and
# prune of external snapshots print the disk space the merges freed
# (measured against du), list -l shows each layer's allocation and
# chain depth, and check --repair of a live commit (the oldest
# snapshot's original image taking the layer above it, merge.c) killed
# before or after it took effect.
load helpers

# mk_external_chain (helpers.bash), and e3's layer under the active one
chain() {
    mk_external_chain
    [ "$(qemu-img info -f qcow2 --output=json "$IMG" | json_get 'd["backing-filename"]')" = "$E3" ]
}

used() { du -sB1 "$D" | cut -f1; }
sum() { qemu-img convert -f qcow2 -O raw "$1" "$BATS_TEST_TMPDIR/sum.raw" && md5sum < "$BATS_TEST_TMPDIR/sum.raw" | cut -d' ' -f1; }

@test "delete of an external snapshot prints the disk space its merge freed, as du measures it" {
    chain
    want=$(sum "$IMG")
    # the oldest first: its layer is the original image, kept on a
    # stopped domain (nothing freed, nothing printed); e2's layer is
    # then named by no other record
    run -0 xs delete g1 e1
    assert_output ""
    [ -e "$E1" ]
    u0=$(used)
    run -0 xs delete g1 e2
    u1=$(used)
    [ ! -e "$E2" ]
    assert_output --regexp "^freed [0-9]+ bytes \([0-9.]+ (bytes|KiB|MiB)\) of disk space$"
    n=$(sed -E 's/^freed ([0-9]+) bytes.*/\1/' <<<"$output")
    [ "$n" -gt 0 ]
    [ "$n" = $((u0 - u1)) ]
    [ "$(sum "$IMG")" = "$want" ]
    # a delete that merges nothing prints nothing
    run -0 xs delete --metadata g1 e3
    assert_output ""
}

@test "prune prints what each merge freed in all" {
    chain
    # the first night's prune: the oldest's layer (the original image)
    # is kept, nothing freed
    run -0 xs prune --keep-last 2 --match 'e*' g1
    assert_output "deleted e1"
    u0=$(used)
    run -0 xs prune --keep-last 1 --match 'e*' g1
    u1=$(used)
    assert_line --index 0 "deleted e2"
    [ ! -e "$E2" ]
    assert_line --regexp "^freed [0-9]+ bytes in all \([0-9.]+ (bytes|KiB|MiB)\) of disk space$"
    n=$(grep '^freed' <<<"$output" | sed -E 's/^freed ([0-9]+) bytes.*/\1/')
    [ "$n" -gt 0 ]
    [ "$n" = $((u0 - u1)) ]
}

@test "list -l shows each external layer's allocation and chain depth" {
    chain
    run -0 xs list -l g1
    for s in e1 e2 e3; do
        f=$D/g1.$s.qcow2
        b=$(( $(stat -c %b "$f") * $(stat -c %B "$f") ))
        case $s in e1) d=1 ;; e2) d=2 ;; e3) d=3 ;; esac
        assert_output --partial "data in $f, overlay"
        assert_output --partial "      layer: $b bytes allocated, chain depth $d"
    done
    # the chain gets shorter as a middle one goes
    run -0 xs delete g1 e1
    run -0 xs delete g1 e2
    run -0 xs list -l g1
    assert_output --partial "      layer: $(( $(stat -c %b "$E3") * 512 )) bytes allocated, chain depth 2"
    # a record naming a FIFO (damaged or hostile): not read, no hang
    mkfifo "$BATS_TEST_TMPDIR/fifo"
    python3 - "$STATE/$UUID/e3/record.json" "$BATS_TEST_TMPDIR/fifo" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); r["disks"][0]["backing"] = sys.argv[2]
json.dump(r, open(sys.argv[1], "w"))
PY
    run -0 timeout 20 "$XS" list -l g1
    assert_output --partial "      layer: $BATS_TEST_TMPDIR/fifo is not an image file"
}

# commit_intent SNAP: the delete of SNAP (the oldest) killed while QEMU
# committed the layer above its image $E2 into it ($E1), $E3 on top
commit_intent() {
    python3 - "$STATE/$UUID/$1/record.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); r["state"] = "deleting"
json.dump(r, open(sys.argv[1], "w"))
PY
    printf '{"snapshot":"%s","domid":7,"job":"xlsnap-merge-xvda-00000000","image":"%s","child":"%s","into":"%s"}' \
        "$1" "$E2" "$E3" "$E1" > "$STATE/$UUID/.merge"
}

@test "a live commit into the oldest snapshot's image that took effect is finished: the layer above goes, its record names the image" {
    chain
    want2=$(sum "$E2")
    want=$(sum "$IMG")
    commit_intent e1
    # what QEMU's block-commit (top E2, base E1) had done
    qemu-img commit -q -d -f qcow2 "$E2"
    qemu-img rebase -q -u -f qcow2 -b "$E1" -F qcow2 "$E3"
    run -1 xs check g1
    assert_output --partial "a live merge of snapshot 'e1' (layer $E2 into $E1) was interrupted"
    run -0 xs check --repair g1
    assert_output --partial "finished: the merged layer $E2 is removed"
    run -0 xs check g1
    assert_output "No problems found."
    [ ! -e "$E2" ]
    run -0 xs list --names g1
    assert_output "base
e2
e3"
    run -0 xs info --json g1 e2
    [ "$(json_get 'd["disks"][0]["backing"]' <<<"$output")" = "$E1" ]
    [ "$(sum "$E1")" = "$want2" ]
    [ "$(sum "$IMG")" = "$want" ]
}

@test "a live commit that had not taken effect: no rollback, the delete goes on and the image stays" {
    chain
    want2=$(sum "$E2")
    want=$(sum "$IMG")
    commit_intent e1
    run -0 xs check --repair g1
    assert_output --partial "the merge had not taken effect: the delete of 'e1' goes on, $E1 stays in the chain"
    run -0 xs check g1
    assert_output "No problems found."
    run -0 xs list --names g1
    assert_output "base
e2
e3"
    [ -e "$E1" ] && [ -e "$E2" ]
    [ "$(sum "$E2")" = "$want2" ]
    [ "$(sum "$IMG")" = "$want" ]
}
