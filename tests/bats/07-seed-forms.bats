#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The forms of xl's original snapshot design (seed 004): the
# snapshot-create/-list/-delete/-revert command names, "-n NAME DOMAIN",
# "snapshot-list -l DOMAIN NAME", and its snapshot config files (no
# memory= means disk-only; disk = [ 'hda=/path,type=qcow2' ]), next to
# today's forms.  Real binary, real qemu-img; no hypervisor.
load helpers

@test "snapshot-create/-list/-delete/-revert are aliases, and help lists them" {
    run -0 xs help
    assert_line --regexp '^  snapshot-create +create$'
    assert_line --regexp '^  snapshot-list +list$'
    assert_line --regexp '^  snapshot-delete +delete$'
    assert_line --regexp '^  snapshot-revert +revert$'
    run -0 xs help snapshot-revert
    assert_line --index 0 --partial "xl-snapshot [-v] [-S DIR] revert "
    assert_output --partial "Alias: snapshot-revert."
    run -0 xs snapshot-list -h
    assert_output --partial "Alias: snapshot-list."
    # the aliases are not commands of their own: 'help --commands' (and
    # the plain completion of a command) stays the command table
    run -0 xs help --commands
    refute_output --partial snapshot-
    run -2 xs snapshot-lst g1
    assert_output "xl-snapshot: 'snapshot-lst' is not an xl-snapshot command; did you mean 'snapshot-list'?"
}

@test "the seed's command lines run on a stopped domain (real qemu-img)" {
    setup_images
    fill "$IMG" 0x11
    # 1) default name  2) -n NAME
    run -0 xs snapshot-create g1
    assert_output --regexp "^Snapshot '[0-9]+' of domain 'g1' created"
    run -0 xs snapshot-create -n domain_snapshot_name g1
    run -0 qemu-img snapshot -l "$IMG"
    assert_output --partial domain_snapshot_name
    fill "$IMG" 0x22
    # list: short, long of one, long of all
    run -0 xs snapshot-list g1
    assert_line --index 0 --regexp '^  NAME +CREATED +STATE +DOMAIN +TYPE +MEMORY +PARENT$'
    assert_line --regexp '^\* domain_snapshot_name +.* ready +shutoff +internal +no +[0-9]+$'
    run -0 xs snapshot-list -l g1 domain_snapshot_name
    assert_equal "${#lines[@]}" 4
    assert_line --index 1 --regexp '^\* domain_snapshot_name '
    assert_line --index 2 "    disk xvda: qcow2 internal snapshot 'domain_snapshot_name' in $IMG"
    run -0 xs snapshot-list -l g1
    assert_line --regexp '^  base '
    assert_line "    disk xvda: qcow2 internal snapshot 'domain_snapshot_name' in $IMG"
    # revert -n, delete -n
    run -0 xs snapshot-revert -n domain_snapshot_name g1
    has "$IMG" 0x11
    run -0 xs snapshot-delete -n domain_snapshot_name g1
    run -0 qemu-img snapshot -l "$IMG"
    refute_output --partial domain_snapshot_name
    run -0 xs list --names g1
    refute_output --partial domain_snapshot_name
}

@test "delete/revert -n NAME DOMAIN next to DOMAIN NAME; the name given twice exits 2" {
    setup_images
    run -0 xs create -n s1 g1
    run -0 xs create -n s2 g1
    run -0 xs create -n s3 g1
    # options may come anywhere
    run -0 xs delete g1 -n s3
    run -0 xs delete --name=s2 g1
    run -0 xs revert --name s1 g1
    run -0 xs list --names g1
    assert_output "$(printf 'base\ns1')"
    run -2 xs delete -n s1 g1 s1
    assert_line --index 0 "xl-snapshot: delete: the snapshot name is given twice (-n NAME and <Name>); give it once"
    run -2 xs snapshot-revert -n s1 g1 s1
    assert_line --index 0 "xl-snapshot: revert: the snapshot name is given twice (-n NAME and <Name>); give it once"
    run -2 xs delete -n s1
    assert_output --partial "delete: missing arguments"
    run -2 xs revert -n s1 g1 s1 extra
    assert_output --partial "revert: too many arguments"
    run -1 xs delete -n nope g1
    assert_output --partial "xl-snapshot: cannot delete 'nope': "
    run -0 xs list --names g1
    assert_output "$(printf 'base\ns1')"
}

@test "list DOMAIN NAME: that snapshot alone, in every output format" {
    mkchain
    run -0 xs list g1 s1
    assert_equal "${#lines[@]}" 2
    assert_line --index 1 --regexp '^\* s1 '
    run -0 xs list --names g1 s2
    assert_output s2
    run -0 xs list --json g1 s0
    run -0 json_get '[s["name"] for s in d["snapshots"]]' <<< "$output"
    assert_output "['s0']"
    run -0 xs list g1 s0 -l
    assert_line "    description: snapshot s0"
    refute_output --partial "snapshot s1"
    run -1 xs list -l g1 nope
    assert_output "xl-snapshot: cannot list snapshots of 'g1': no snapshot 'nope'"
    run -2 xs list --roots g1 s1
    assert_output --partial "list: a snapshot <Name> excludes --roots, --leaves, --parent and --from"
    run -2 xs list --tree g1 s1
    assert_output --partial "list: --tree draws all snapshots"
    run -2 xs list g1 s1 s2
    assert_output --partial "too many arguments"
}

@test "a config file without memory= is disk-only; --memory still overrides it" {
    f=$BATS_TEST_TMPDIR/snapshot_internal
    # the seed's file, verbatim
    cat > "$f" <<'CFG'
name = "internal_snapshot_after_installation"
description="a snapshot after OS installation. internal snapshot example"
creationtime="1397207580"
type="internal"
CFG
    run -0 xs check-config "$f"
    assert_line "memory:      no"
    run -0 xs check-config --json "$f"
    run -0 json_get 'd["memory"], d["type"], d["creationtime"]' <<< "$output"
    assert_output "('no', 'internal', 1397207580)"
    setup_images
    run -0 xs snapshot-create g1 "$f"
    assert_output "Snapshot 'internal_snapshot_after_installation' of domain 'g1' created (internal, disks only)."
    run -0 xs info --json g1 internal_snapshot_after_installation
    run -0 json_get 'd["memory"], d["type"], d["description"]' <<< "$output"
    assert_output "(None, 'internal', 'a snapshot after OS installation. internal snapshot example')"
    # the command line still wins: --memory asks for memory (which a
    # stopped domain has none of)
    run -1 xs create --memory -n m g1 "$f"
    assert_output --partial "not running: there is no memory to save"
}

@test "the seed's external disk form 'hda=/path,type=qcow2' is an external snapshot there" {
    setup_images
    snapdir=$BATS_TEST_TMPDIR/snaps
    mkdir "$snapdir"
    f=$BATS_TEST_TMPDIR/snapshot_external
    cat > "$f" <<CFG
name = "1397207577"
description="a snapshot after OS installation. external snapshot example"
creationtime="1397207577"
disk=[ 'xvda=$snapdir/disk_xvda.qcow2,type=qcow2', 'xvdb=$snapdir/disk_xvdb.qcow2,type=qcow2']
CFG
    run -0 xs check-config --json "$f"
    run -0 json_get '[(x["vdev"], x["snapshot"], x["format"], x["target"]) for x in d["disks"]]' <<< "$output"
    assert_output "[('xvda', 'external', 'qcow2', '$snapdir/disk_xvda.qcow2'), ('xvdb', 'external', 'qcow2', '$snapdir/disk_xvdb.qcow2')]"
    fill "$IMG" 0x33
    run -0 xs create g1 "$f"
    assert_output "Snapshot '1397207577' of domain 'g1' created (external, disks only)."
    run -0 xs info --json g1 1397207577
    rec=$output
    run -0 json_get '[(x["vdev"], x["snapshot"], x["format"]) for x in d["disks"]]' <<< "$rec"
    assert_output "[('xvda', 'external', 'qcow2'), ('xvdb', 'external', 'qcow2')]"
    run -0 json_get 'd["disks"][0]["backing"]' <<< "$rec"
    assert_output "$snapdir/disk_xvda.qcow2"
    # the snapshot's data is a real qcow2 at the path the file gave
    run -0 qemu-img info -f qcow2 "$snapdir/disk_xvda.qcow2"
    has "$snapdir/disk_xvda.qcow2" 0x33
}

@test "the seed's disk form is checked like any untrusted input" {
    f=$BATS_TEST_TMPDIR/bad.cfg
    bad() {
        printf 'name="x"\ndisk=[ %s ]\n' "$1" > "$f"
        run -1 xs check-config "$f"
        assert_output "xl-snapshot: $f:2: $2"
    }
    bad "'hda=rel/disk.qcow2,type=qcow2'" "disk entry 1 'hda=rel/disk.qcow2,type=qcow2': the snapshot path 'rel/disk.qcow2' must be an absolute path"
    bad "'hda=/s/disk.vhd,type=vhd'" "disk entry 1 'hda=/s/disk.vhd,type=vhd': type=vhd: an external snapshot is a qcow2 image (type=qcow2)"
    bad "'hda=/s/disk.qcow2,script=/bin/sh'" "disk entry 1 'hda=/s/disk.qcow2,script=/bin/sh': unknown parameter 'script=/bin/sh' (this form takes only type=qcow2; see xl-snapshot.conf(5) for the vdev=,format=,target= form)"
    bad "'hda=/s/a.qcow2,type=qcow2', 'vdev=hda,target=null'" "disk hda is listed twice"
    bad "\"hda=/s/a$(printf '\033')[2J.qcow2\"" "disk entry 1 contains a control character"
}

@test "the man pages document the seed's forms" {
    run -0 grep -c 'B<snapshot-create>, B<snapshot-list>, B<snapshot-delete>' "$REPO/man/xl-snapshot.1.pod"
    run -0 grep -F 'B<-n> I<NAME>, B<--name> I<NAME>' "$REPO/man/xl-snapshot.1.pod"
    run -0 grep -F "hda=/var/lib/xen/snapshots/" "$REPO/man/xl-snapshot.conf.5.pod"
    run -0 grep -F "Without B<memory>" "$REPO/man/xl-snapshot.conf.5.pod"
}

@test "revert -c XLCONFIG -n NAME: the domain of an xl config file, the name as an option" {
    IMG=$BATS_TEST_TMPDIR/web1.qcow2
    CFG=$BATS_TEST_TMPDIR/web1.cfg
    qemu-img create -q -f qcow2 "$IMG" 4M
    printf 'name = "web1"\ntype = "pv"\nkernel = "/boot/vmlinuz"\nmemory = 128\ndisk = [ "format=qcow2, vdev=xvda, access=rw, target=%s" ]\n' "$IMG" > "$CFG"
    fill "$IMG" 0x44
    run -0 xs snapshot-create -c "$CFG" -n s1
    fill "$IMG" 0x55
    run -2 xs snapshot-revert -c "$CFG" -n s1 s1
    assert_line --index 0 "xl-snapshot: revert: the snapshot name is given twice (-n NAME and <Name>); give it once"
    has "$IMG" 0x55
    run -0 xs snapshot-revert -c "$CFG" -n s1
    has "$IMG" 0x44
}

@test "a snapshot path on another file system than the image is refused before anything is touched" {
    setup_images
    other=$(mktemp -d /dev/shm/xs-seed.XXXXXX)
    [ "$(stat -c %d "$other")" != "$(stat -c %d "$IMG")" ] || skip "/dev/shm is on the images' file system"
    fill "$IMG" 0x44
    printf 'name="x1"\ndisk=[ '"'"'xvda=%s/disk_xvda.qcow2,type=qcow2'"'"' ]\n' "$other" > "$BATS_TEST_TMPDIR/ext"
    run -1 xs create g1 "$BATS_TEST_TMPDIR/ext"
    assert_output "xl-snapshot: cannot create snapshot 'x1': disk xvda: the snapshot path $other/disk_xvda.qcow2 is on another file system than the disk image $IMG; the snapshot's data is moved there by rename, so give a path on the image's file system (or none: it then goes next to the image)"
    run -0 ls -A "$other"
    assert_output ""
    rmdir "$other"
    has "$IMG" 0x44
    run -0 qemu-img info -f qcow2 --output=json "$IMG"
    refute_output --partial backing
    run -1 xs info g1 x1
}
