#!/usr/bin/env bats
# Untrusted input (issue 12): bytes a guest wrote to its disks, and
# bundles from elsewhere.  One test per attack, real qemu-img, no
# hypervisor (the real-Xen proof is tests/e2e/80-untrusted-guest.bats).
load helpers

SECRET=DOM0-SECRET-BYTES-xyzzy

# a dom0 file the attacker wants to read
mksecret() {
    SECRETF=$BATS_TEST_TMPDIR/secret
    python3 -c 'import sys; open(sys.argv[1], "w").write(sys.argv[2] * 20000)' "$SECRETF" "$SECRET"
    cp "$SECRETF" "$BATS_TEST_TMPDIR/secret.orig"
}

# evil_raw FILE: a "raw" guest disk whose first bytes are a qcow2 header
# naming the dom0 secret as backing file, as a guest can write them.
evil_raw() {
    qemu-img create -q -f qcow2 -b "$SECRETF" -F raw "$1" 4M
    truncate -s 4M "$1"
    qemu-img info -f raw "$1" >/dev/null
}

# An external snapshot s1 of the stopped domain g1 whose raw disk
# (the snapshot's data) the guest had written that header onto; the
# domain then ran on the overlay.
setup_raw_external() {
    mksecret
    mkdir -p "$BATS_TEST_TMPDIR/img"
    RAWD=$BATS_TEST_TMPDIR/img/g1.img
    OVL=$BATS_TEST_TMPDIR/img/g1.s1.qcow2
    evil_raw "$RAWD"
    qemu-img create -q -f qcow2 -b "$RAWD" -F raw "$OVL"
    mkrecord s1 - 1764000000 true
    python3 - "$STATE/$UUID/s1/record.json" "$RAWD" "$OVL" <<'PY'
import json, sys
p, raw, ovl = sys.argv[1:4]
r = json.load(open(p))
r["memory"] = None
r["type"] = "external"
r["disks"] = [{"vdev": "xvda", "format": "raw", "image": raw,
               "snapshot": "external", "overlay": ovl, "backing": raw}]
r["config"] = {"c_info": {"name": "g1", "uuid": r["domain"]["uuid"]},
               "disks": [{"pdev_path": ovl, "vdev": "xvda", "backend": "qdisk",
                          "format": "qcow2", "readwrite": 1}]}
json.dump(r, open(p, "w"))
PY
    RAWSUM=$(md5sum < "$RAWD")
}

@test "export of a raw disk carrying a guest-written qcow2 header never reads the backing file it names" {
    setup_raw_external
    run -0 xs export g1 s1 "$BATS_TEST_TMPDIR/b"
    qemu-img convert -f qcow2 -O raw "$BATS_TEST_TMPDIR/b/disk-xvda.qcow2" "$BATS_TEST_TMPDIR/out.raw"
    run -1 grep -c "$SECRET" "$BATS_TEST_TMPDIR/out.raw"
    # the export is the raw disk, byte for byte (header included)
    cmp "$BATS_TEST_TMPDIR/out.raw" "$RAWD"
}

@test "delete of that snapshot neither rebases onto the guest-named file nor removes the raw image" {
    setup_raw_external
    run -0 xs delete g1 s1
    [ -f "$RAWD" ]
    [ "$(md5sum < "$RAWD")" = "$RAWSUM" ]
    run -0 qemu-img info -f qcow2 --output=json "$OVL"
    refute_output --partial "$SECRETF"
    assert_output --partial "\"backing-filename\": \"$RAWD\""
    cmp "$SECRETF" "$BATS_TEST_TMPDIR/secret.orig"
}
