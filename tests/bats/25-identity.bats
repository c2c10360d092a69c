#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Identity and config coherence without a hypervisor: a shut-off domain
# given by its xl config file (-c), external snapshots that keep the
# active layer at the configured path, reverts that put the snapshot's
# data there, interrupted renames repaired by check, and histories that
# share a name (ambiguous; --uuid picks one).  Real qemu-img, real images.
load helpers

U2=11111111-2222-4333-8444-555555555555

# xlcfg NAME: an xl config of a PV domain with two qcow2 disks and a
# CD-ROM, no uuid= (as most configs are)
xlcfg() {
    D=$BATS_TEST_TMPDIR
    IMG=$D/$1.qcow2
    DATA=$D/$1-data.qcow2
    CFG=$D/$1.cfg
    qemu-img create -q -f qcow2 "$IMG" 4M
    qemu-img create -q -f qcow2 "$DATA" 4M
    cat > "$CFG" <<CFG
name = "$1"
type = "pv"
kernel = "/boot/vmlinuz"
memory = 128
disk = [ 'format=qcow2, vdev=xvda, access=rw, target=$IMG',
         '$DATA,qcow2,xvdb,rw',
         'format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/srv/x.iso' ]
CFG
}

backing_of() { qemu-img info -f qcow2 --output=json "$1" | json_get 'd.get("full-backing-filename")'; }

@test "-c: the first snapshot of a shut-off, never-snapshotted domain, then revert to it" {
    xlcfg web1
    fill "$IMG" 0x11
    run -1 xs create -n s1 web1
    assert_output --partial "no domain 'web1'"
    run -0 xs create -c "$CFG" -n s1
    assert_output "Snapshot 's1' of domain 'web1' created (internal, disks only)."
    fill "$IMG" 0x22
    run -0 xs list --names -c "$CFG"
    assert_output s1
    run -0 xs info --json web1 s1
    run -0 json_get 'd["domain"]["name"], d["domstate"], d["config"]["c_info"]["name"], d["config"]["c_info"]["uuid"] == d["domain"]["uuid"], [x["vdev"] for x in d["disks"]]' <<< "$output"
    assert_output "('web1', 'shutoff', 'web1', True, ['xvda', 'xvdb'])"
    run -0 xs revert -c "$CFG" s1
    has "$IMG" 0x11
    # the config's uuid= names the history when there is one
    run -0 xs list --domains --json
    uuid=$(json_get 'd[0]["uuid"]' <<< "$output")
    echo "uuid = \"$uuid\"" >> "$CFG"
    run -0 xs list --names -c "$CFG"
    assert_output s1
}

@test "-c: errors name the file; -c and a domain argument exclude each other" {
    xlcfg web1
    run -1 xs create -c "$BATS_TEST_TMPDIR/none.cfg" -n s1
    assert_output --partial "xl-snapshot: cannot create snapshot 's1': cannot read $BATS_TEST_TMPDIR/none.cfg"
    printf 'memory = 128\n' > "$BATS_TEST_TMPDIR/noname.cfg"
    run -1 xs list -c "$BATS_TEST_TMPDIR/noname.cfg"
    assert_output --partial "no name= setting"
    run -2 xs list -c "$CFG" web1
    run -2 xs revert -c "$CFG" web1 s1
}

@test "external snapshot of a shut-off domain: the configured path keeps the active layer, the data is frozen under a new name" {
    xlcfg web1
    fill "$IMG" 0x11
    run -0 xs create -c "$CFG" --external -n e1
    assert_output "Snapshot 'e1' of domain 'web1' created (external, disks only)."
    frozen=$BATS_TEST_TMPDIR/web1.e1.qcow2
    [ -f "$frozen" ]
    [ -f "$BATS_TEST_TMPDIR/web1-data.e1.qcow2" ]
    run -0 backing_of "$IMG"
    assert_output "$frozen"
    run -0 xs info --json web1 e1
    run -0 json_get '[(x["image"], x["overlay"], x["backing"]) for x in d["disks"]][0]' <<< "$output"
    assert_output "('$IMG', '$IMG', '$frozen')"
    # what the domain writes from now on goes to the configured path
    fill "$IMG" 0x22
    has "$frozen" 0x11
    has "$IMG" 0x22
    # an internal snapshot taken in the active layer follows it when the
    # next external snapshot freezes that layer
    run -0 xs create -c "$CFG" -n i2
    run -0 xs create -c "$CFG" --external -n e3
    run -0 xs info --json web1 i2
    run -0 json_get 'd["disks"][0]["image"]' <<< "$output"
    assert_output "$BATS_TEST_TMPDIR/web1.e3.qcow2"
    fill "$IMG" 0x33
    run -0 xs check
    assert_output "No problems found."
}

@test "revert to an external snapshot: its data at the configured path, the old active layer kept as its own branch" {
    xlcfg web1
    fill "$IMG" 0x11
    run -0 xs create -c "$CFG" --external -n e1
    fill "$IMG" 0x22
    run -0 xs create -c "$CFG" -n i2
    fill "$IMG" 0x33
    run -0 xs revert web1 e1
    has "$IMG" 0x11
    run -0 backing_of "$IMG"
    assert_output "$BATS_TEST_TMPDIR/web1.e1.qcow2"
    before=$(ls "$BATS_TEST_TMPDIR" | grep '^web1\.before-e1-.*\.qcow2$')
    has "$BATS_TEST_TMPDIR/$before" 0x33
    # i2 lived in the old active layer: its record follows it
    run -0 xs info --json web1 i2
    run -0 json_get 'd["disks"][0]["image"]' <<< "$output"
    assert_output "$BATS_TEST_TMPDIR/$before"
    run -0 xs revert web1 i2
    has "$IMG" 0x22
    run -0 xs check
    assert_output "No problems found."
}

@test "raw disks: an external snapshot is refused (the config would name a qcow2 overlay as raw)" {
    setup_images '{"pdev_path": "'"$BATS_TEST_TMPDIR"'/raw.img", "vdev": "xvdc", "backend": "qdisk", "format": "raw", "readwrite": 1}'
    qemu-img create -q -f raw "$RAW" 1M
    run -1 xs create --external -n e g1
    assert_output --partial "disk xvdc ($RAW) is raw: an external snapshot puts a qcow2 overlay at the path the xl config names as raw"
    [ ! -e "$BATS_TEST_TMPDIR/g1.e.qcow2" ]
    run -0 backing_of "$IMG"
    assert_output None
}

@test "check --repair: a create killed between the rename and the new overlay gives the image its path back" {
    xlcfg web1
    fill "$IMG" 0x11
    XL_SNAPSHOT_FAULT=create-layer-renamed run -137 xs create -c "$CFG" --external -n e1
    [ ! -e "$IMG" ]
    run -1 xs check
    assert_output --partial "incomplete"
    run -0 xs check --repair
    has "$IMG" 0x11
    [ ! -e "$BATS_TEST_TMPDIR/web1.e1.qcow2" ]
    run -0 xs check
    assert_output "No problems found."
    run -0 xs create -c "$CFG" --external -n e1
}

@test "check --repair: a create killed with the new overlay under its temporary name (a running domain's create intent) puts it at the path, then rolls back" {
    xlcfg web1
    fill "$IMG" 0x11
    XL_SNAPSHOT_FAULT=create-layer-frozen run -137 xs create -c "$CFG" --external -n e1
    # as the create of a running domain leaves it: the new overlay under
    # the temporary name QEMU takes it by, the configured path absent,
    # the create intent naming it
    tmp=$BATS_TEST_TMPDIR/web1.xlsnap-new-1764000000000000000-0.qcow2
    mv "$IMG" "$tmp"
    dir=$(ls -d "$XL_SNAPSHOT_DIR"/*-*/)
    printf '{"snapshot": "e1", "domid": 7, "disks": [{"vdev": "xvda", "image": "%s", "backing": "%s", "tmp": "%s"}]}' \
        "$IMG" "$BATS_TEST_TMPDIR/web1.e1.qcow2" "$tmp" > "$dir/.create"
    run -1 xs check
    assert_output --partial "the create of snapshot 'e1' was interrupted while a new overlay had its temporary name $tmp"
    run -0 xs check --repair
    assert_output --partial "moved 1 new overlay to its configured path"
    [ ! -e "$tmp" ]
    [ ! -e "$dir/.create" ]
    # (the domain does not run: QEMU never took it) rolled back
    has "$IMG" 0x11
    [ ! -e "$BATS_TEST_TMPDIR/web1.e1.qcow2" ]
    run -0 xs check
    assert_output "No problems found."
}

@test "check --repair: a running domain's create killed before the pause, its new overlay made under the temporary name and never taken, removes it; the image stays" {
    xlcfg web1
    fill "$IMG" 0x11
    XL_SNAPSHOT_FAULT=create-prepared run -137 xs create -c "$CFG" --external -n e1
    # as a running domain's create leaves it when killed between the
    # overlay made before the guest stopped and the pause: the image
    # still at its path, the frozen layer's name free, the overlay
    # (empty, naming it as backing) under its temporary name
    tmp=$BATS_TEST_TMPDIR/web1.xlsnap-new-1764000000000000000-0.qcow2
    frozen=$BATS_TEST_TMPDIR/web1.e1.qcow2
    qemu-img create -q -u -f qcow2 -b "$frozen" -F qcow2 "$tmp" 64M
    dir=$(ls -d "$XL_SNAPSHOT_DIR"/*-*/)
    printf '{"snapshot": "e1", "domid": 7, "disks": [{"vdev": "xvda", "image": "%s", "backing": "%s", "tmp": "%s"}]}' \
        "$IMG" "$frozen" "$tmp" > "$dir/.create"
    run -1 xs check
    assert_output --partial "temporary name $tmp"
    [ -e "$tmp" ]
    run -0 xs check --repair
    assert_output --partial "removed 1 new overlay QEMU never took"
    [ ! -e "$tmp" ] && [ ! -e "$dir/.create" ] && [ ! -e "$frozen" ]
    has "$IMG" 0x11
    run -0 xs check
    assert_output "No problems found."
}

@test "check --repair: an overlay under a temporary name that holds data is never removed" {
    xlcfg web1
    fill "$IMG" 0x11
    XL_SNAPSHOT_FAULT=create-prepared run -137 xs create -c "$CFG" --external -n e1
    tmp=$BATS_TEST_TMPDIR/web1.xlsnap-new-1764000000000000000-0.qcow2
    frozen=$BATS_TEST_TMPDIR/web1.e1.qcow2
    # data written, then the backing reference set (header only)
    qemu-img create -q -f qcow2 "$tmp" 64M
    qemu-io -f qcow2 -c 'write -P 0x5a 0 64k' "$tmp" >/dev/null
    qemu-img rebase -q -u -f qcow2 -b "$frozen" -F qcow2 "$tmp"
    dir=$(ls -d "$XL_SNAPSHOT_DIR"/*-*/)
    printf '{"snapshot": "e1", "domid": 7, "disks": [{"vdev": "xvda", "image": "%s", "backing": "%s", "tmp": "%s"}]}' \
        "$IMG" "$frozen" "$tmp" > "$dir/.create"
    run -1 xs check --repair
    assert_output --partial "is left under its temporary name: its configured path exists"
    [ -e "$tmp" ]
    has "$IMG" 0x11
}

@test "check --repair: a create killed after the disk transaction, the new overlays still under their temporary names, puts them at their paths and completes" {
    xlcfg web1
    fill "$IMG" 0x11
    XL_SNAPSHOT_FAULT=create-disks run -137 xs create -c "$CFG" --external -n e1
    # as a running domain's create leaves them after QEMU took them
    t1=$BATS_TEST_TMPDIR/web1.xlsnap-new-1764000000000000000-0.qcow2
    t2=$BATS_TEST_TMPDIR/web1-data.xlsnap-new-1764000000000000001-0.qcow2
    mv "$IMG" "$t1"
    mv "$DATA" "$t2"
    dir=$(ls -d "$XL_SNAPSHOT_DIR"/*-*/)
    printf '{"snapshot": "e1", "domid": 7, "disks": [{"vdev": "xvda", "image": "%s", "backing": "%s", "tmp": "%s"}, {"vdev": "xvdb", "image": "%s", "backing": "%s", "tmp": "%s"}]}' \
        "$IMG" "$BATS_TEST_TMPDIR/web1.e1.qcow2" "$t1" "$DATA" "$BATS_TEST_TMPDIR/web1-data.e1.qcow2" "$t2" > "$dir/.create"
    run -1 xs check
    assert_output --partial "temporary name $t1"
    run -0 xs check --repair
    assert_output --partial "moved 2 new overlays to their configured path"
    assert_output --partial "completed: 'e1' is ready and current"
    [ ! -e "$t1" ] && [ ! -e "$t2" ] && [ ! -e "$dir/.create" ]
    run -0 backing_of "$IMG"
    assert_output "$BATS_TEST_TMPDIR/web1.e1.qcow2"
    has "$IMG" 0x11
    run -0 xs check
    assert_output "No problems found."
}

@test "check --repair: a revert killed after the old active layer moved puts the snapshot's data at the path" {
    xlcfg web1
    fill "$IMG" 0x11
    run -0 xs create -c "$CFG" --external -n e1
    fill "$IMG" 0x22
    XL_SNAPSHOT_FAULT=revert-layer-moved run -137 xs revert web1 e1
    [ ! -e "$IMG" ]
    run -1 xs check
    assert_output --partial "interrupted"
    run -0 xs check --repair
    has "$IMG" 0x11
    before=$(ls "$BATS_TEST_TMPDIR" | grep '^web1\.before-e1-.*\.qcow2$')
    has "$BATS_TEST_TMPDIR/$before" 0x22
    run -0 xs check
    assert_output "No problems found."
}

@test "check reports a configuration that names a snapshot's frozen layer" {
    xlcfg web1
    run -0 xs create -c "$CFG" --external -n e1
    # a history from before: the stored config names the frozen image
    rec=$(ls "$STATE"/*/e1/record.json)
    python3 - "$rec" "$BATS_TEST_TMPDIR/web1.e1.qcow2" <<'PY'
import json, sys
p, frozen = sys.argv[1:3]
r = json.load(open(p))
for d in r["config"]["disks"]:
    if d["vdev"] == "xvda": d["pdev_path"] = frozen
json.dump(r, open(p, "w"))
PY
    run -1 xs check
    assert_output --partial "names $BATS_TEST_TMPDIR/web1.e1.qcow2 as disk xvda, but that image holds the frozen data of snapshot 'e1'"
}

@test "two histories under one name: refused, listing both; --uuid picks one" {
    mkrecord a1 - 1764000000 true ready "$UUID" web1
    mkrecord b1 - 1764000500 false ready "$U2" web1
    mkrecord b2 b1 1764000600 true ready "$U2" web1
    run -1 xs list web1
    assert_output "xl-snapshot: cannot list snapshots of 'web1': domain name 'web1' is ambiguous: snapshots exist for 2 domains of that name: $U2 (2 snapshots, newest 'b2'), $UUID (1 snapshot, newest 'a1'); pick one with --uuid UUID (or give the UUID as the domain)"
    run -0 xs --uuid "$U2" list --names web1
    assert_output "$(printf 'b1\nb2')"
    run -0 xs info web1 a1 --uuid "$UUID"
    run -0 xs delete --uuid="$U2" web1 b2
    run -1 xs --uuid 22222222-2222-4333-8444-555555555555 list web1
    assert_output --partial "no snapshot history of a domain 'web1' has UUID 22222222-2222-4333-8444-555555555555"
    run -2 xs --uuid nonsense list web1
    run -2 xs list web1 --uuid
}
