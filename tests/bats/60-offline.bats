#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# create / revert / delete of a domain that is not running, with the real
# qemu-img on small qcow2 images (no hypervisor needed: the domain config
# comes from the latest record, the disks are changed with qemu-img).
load helpers

@test "create of a stopped domain takes internal snapshots with qemu-img" {
    setup_images
    fill "$IMG" 0x11
    run -0 xs create -n s1 -d "first" g1
    assert_output "Snapshot 's1' of domain 'g1' created (internal, disks only)."
    run -0 qemu-img snapshot -l "$IMG"
    assert_output --partial " s1 "
    run -0 qemu-img snapshot -l "$DATA"
    assert_output --partial " s1 "
    run -0 xs info --json g1 s1
    run -0 json_get 'd["parent"], d["current"], d["state"], d["domstate"], [x["vdev"] for x in d["disks"]]' <<< "$output"
    assert_output "('base', True, 'ready', 'shutoff', ['xvda', 'xvdb'])"
    run -0 xs current g1
    assert_output s1
}

@test "revert of a stopped domain puts the disk data back" {
    setup_images
    fill "$IMG" 0x11
    run -0 xs create -n s1 g1
    fill "$IMG" 0x22
    has "$IMG" 0x22
    run -0 xs revert g1 s1
    has "$IMG" 0x11
    run -0 xs create -n s2 g1
    run -0 xs list --tree g1
    assert_output "base
\`-- s1
    \`-- s2 *"
}

@test "delete removes the internal snapshots and re-parents children" {
    setup_images
    run -0 xs create -n s1 g1
    run -0 xs create -n s2 g1
    run -0 xs delete g1 s1
    run -0 qemu-img snapshot -l "$IMG"
    refute_output --partial " s1 "
    assert_output --partial " s2 "
    run -0 xs parent g1 s2
    assert_output base
    run -0 xs delete --children g1 base
    run -0 xs list --names "$UUID"
    assert_output ""
    run -0 qemu-img snapshot -l "$IMG"
    refute_output --partial " s2 "
}

@test "delete --metadata keeps the disk snapshots" {
    setup_images
    run -0 xs create -n s1 g1
    run -0 xs delete --metadata g1 s1
    run -0 qemu-img snapshot -l "$IMG"
    assert_output --partial " s1 "
}

@test "create -N prints the record and changes nothing" {
    setup_images
    before=$(find "$STATE" -type f | sort; qemu-img snapshot -l "$IMG")
    run -0 xs create -N -n dry g1
    run -0 json_get 'd["name"], d["state"], d["disks"][0]["internal_name"]' <<< "$output"
    assert_output "('dry', 'preparing', 'dry')"
    [ "$before" = "$(find "$STATE" -type f | sort; qemu-img snapshot -l "$IMG")" ]
}

@test "a config file selects disks and names the snapshot; options override it" {
    setup_images
    printf 'name="fromfile"\ndescription="cfg"\nmemory="no"\ndisk=["vdev=xvdb,target=null"]\n' > "$BATS_TEST_TMPDIR/s.cfg"
    run -0 xs create g1 "$BATS_TEST_TMPDIR/s.cfg"
    run -0 xs info --json g1 fromfile
    run -0 json_get '[x["vdev"] for x in d["disks"]], d["description"]' <<< "$output"
    assert_output "(['xvdb'], 'cfg')"
    run -0 xs create -n override g1 "$BATS_TEST_TMPDIR/s.cfg"
    run -0 xs info g1 override
}

@test "errors: duplicate name, bad name, memory of a stopped domain" {
    setup_images
    run -0 xs create -n s1 g1
    run -1 xs create -n s1 g1
    assert_output "xl-snapshot: cannot create snapshot 's1': domain already has a snapshot 's1'"
    run -1 xs create -n 'a/b' g1
    assert_output --partial "contains '/'"
    [ ! -e "$STATE/$UUID/a" ]
    run -1 xs create --memory -n m g1
    assert_output --partial "not running: there is no memory to save"
    run -0 xs list --names g1
    assert_output "$(printf 'base\ns1')"
}

@test "raw disks cannot take internal snapshots; the message names the disk" {
    setup_images '{"pdev_path": "'"$BATS_TEST_TMPDIR"'/raw.img", "vdev": "xvdc", "backend": "qdisk", "format": "raw", "readwrite": 1}'
    qemu-img create -q -f raw "$RAW" 1M
    run -1 xs create --internal -n r g1
    assert_output --partial "disk xvdc ($RAW) is raw and cannot hold an internal snapshot"
}

@test "a failing qemu-img rolls back the disks already done" {
    setup_images
    chmod 0444 "$DATA"
    if [ "$(id -u)" = 0 ]; then
        # root ignores the mode: make the second image unusable instead
        echo garbage > "$DATA"
    fi
    run -1 xs create -n bad g1
    assert_output --partial "cannot create snapshot 'bad': disk xvdb"
    run -0 qemu-img snapshot -l "$IMG"
    refute_output --partial " bad "
    [ ! -e "$STATE/$UUID/bad" ]
    run -0 xs list --names g1
    assert_output base
}

@test "revert refuses an incomplete snapshot" {
    setup_images
    mkrecord half base 1764000500 false preparing
    run -1 xs revert g1 half
    assert_output --partial "is incomplete (state preparing)"
}
