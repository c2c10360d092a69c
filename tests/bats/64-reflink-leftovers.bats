#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# check finds what the reflink driver left (issue 15), on the host: the
# files are made here with the driver's marks (extended attributes on
# this file system; reflink copies themselves need XFS or btrfs: the
# real ones on real Xen, tests/e2e/55-lvm.bats).  A snapshot copy marked
# as this domain's that no record names, and a revert's temporary copy
# of a process that is gone and that carries the domain's mark, are
# removed by --repair; an unmarked temporary copy is only reported;
# everything else (an admin's file, another domain's copy, a live
# process's temporary copy, a file a record names) is never reported.
load helpers

# mark FILE NAME VALUE: extended attribute NAME of FILE
mark() {
    python3 -c 'import os, sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())' "$@"
}

# copyrec NAME IMAGE COPY: a record of g1 whose disk is a reflink copy
copyrec() {
    mkrecord "$1" - 1764000000 true
    python3 - "$STATE/$UUID/$1/record.json" "$2" "$3" <<'PY'
import json, sys
p, image, copy = sys.argv[1:4]
r = json.load(open(p))
r["memory"] = None
r["disks"] = [{"vdev": "xvda", "format": "raw", "image": image,
               "snapshot": "volume", "driver": "reflink", "snapshot_file": copy}]
json.dump(r, open(p, "w"))
PY
}

@test "check: a marked snapshot copy no record names and a marked revert temp of a gone process are removed by --repair; nothing else is touched" {
    D=$BATS_TEST_TMPDIR/img
    mkdir -p "$D"
    echo disk > "$D/disk.img"
    echo c1 > "$D/disk.c1.img"
    mark "$D/disk.c1.img" user.xlsnap "$UUID/c1"
    copyrec c1 "$D/disk.img" "$D/disk.c1.img"
    run -0 xs check g1
    # leftovers of the tool's
    echo ghost > "$D/disk.ghost.img"
    mark "$D/disk.ghost.img" user.xlsnap "$UUID/ghost"
    echo tmp > "$D/disk.img.xs-revert-999999999"
    mark "$D/disk.img.xs-revert-999999999" user.xlsnap.revert "$UUID"
    # an older version's temporary copy (no mark): reported only
    echo old > "$D/disk.img.xs-revert-999999998"
    # never reported: an admin's file, another domain's copy, a mark
    # that does not match the name, a temp of a live process, a
    # temporary copy of another file, a symbolic link
    echo admin > "$D/disk.admin.img"
    echo other > "$D/disk.other.img"
    mark "$D/disk.other.img" user.xlsnap "00000000-0000-0000-0000-00000000abcd/other"
    echo mis > "$D/disk.mis.img"
    mark "$D/disk.mis.img" user.xlsnap "$UUID/zzz"
    echo live > "$D/disk.img.xs-revert-$$"
    mark "$D/disk.img.xs-revert-$$" user.xlsnap.revert "$UUID"
    echo x > "$D/notes.img.xs-revert-999999999"
    mark "$D/notes.img.xs-revert-999999999" user.xlsnap.revert "$UUID"
    ln -s "$D/disk.ghost.img" "$D/disk.link.img"
    run -1 xs check g1
    assert_output --partial "$D/disk.ghost.img is marked as a snapshot copy of g1, but no snapshot names it"
    assert_output --partial "$D/disk.img.xs-revert-999999999 is the temporary copy of a revert of g1 that was interrupted"
    assert_output --partial "$D/disk.img.xs-revert-999999998 is the temporary copy of a revert of g1 that was interrupted"
    for f in admin other mis link c1 "img.xs-revert-$$" notes; do
        refute_output --partial "disk.$f"
    done
    refute_output --partial notes.img
    [ "${#lines[@]}" -eq 4 ] || fail "$output"
    run -1 xs check --repair g1
    assert_output --partial "removed $D/disk.ghost.img"
    assert_output --partial "removed $D/disk.img.xs-revert-999999999"
    assert_output --partial "left in place: it carries no mark of this tool"
    [ ! -e "$D/disk.ghost.img" ]
    [ ! -e "$D/disk.img.xs-revert-999999999" ]
    for f in disk.img disk.c1.img disk.admin.img disk.other.img disk.mis.img \
             "disk.img.xs-revert-$$" disk.img.xs-revert-999999998 \
             notes.img.xs-revert-999999999 disk.link.img; do
        [ -e "$D/$f" ] || [ -L "$D/$f" ] || fail "$f is gone"
    done
    rm "$D/disk.img.xs-revert-999999998"
    run -0 xs check g1
}

@test "check: a marked file that a record names as its disk is never reported" {
    D=$BATS_TEST_TMPDIR/img
    mkdir -p "$D"
    echo disk > "$D/disk.img"
    copyrec c1 "$D/disk.img" "$D/disk.c1.img"
    echo c1 > "$D/disk.c1.img"
    mark "$D/disk.c1.img" user.xlsnap "$UUID/c1"
    # a copy an admin made the disk of the domain (its mark kept)
    mark "$D/disk.img" user.xlsnap "$UUID/disk"
    run -0 xs check g1
    refute_output --partial "disk.img"
}
