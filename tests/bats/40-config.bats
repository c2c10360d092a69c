#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# check-config: snapshot config files in xl.cfg syntax.
load helpers

@test "a full config file parses" {
    run -0 xs check-config "$REPO/configs/snapshot-example.cfg"
    assert_line --partial "name:        before-upgrade"
    assert_line --partial "memory:      yes"
    run -0 xs check-config --json "$REPO/configs/snapshot-example.cfg"
    run -0 json_get 'd["name"], d["type"], len(d["disks"])' <<< "$output"
    assert_output "('before-upgrade', 'internal', 2)"
}

@test "a bad line reports file:line and exits 1" {
    f=$BATS_TEST_TMPDIR/bad.cfg
    printf 'name="n1"\ndescription="d"\nmemory="perhaps"\n' > "$f"
    run -1 xs check-config "$f"
    assert_output "xl-snapshot: $f:3: memory=\"perhaps\": expected \"yes\", \"no\" or an absolute path"
}

@test "a syntax error reports file:line and exits 1" {
    f=$BATS_TEST_TMPDIR/syntax.cfg
    printf 'name="n1"\n\n\ndisk=[ "vdev=xvda,target=null"\n' > "$f"
    run -1 xs check-config "$f"
    assert_output --regexp "^xl-snapshot: $f:[45]: config parsing error"
}

@test "a bad snapshot name in a config file exits 1" {
    f=$BATS_TEST_TMPDIR/name.cfg
    printf '# x\nname=".."\n' > "$f"
    run -1 xs check-config "$f"
    assert_output "xl-snapshot: $f:2: snapshot name '..' starts with '.'"
}

@test "a missing config file exits 1" {
    run -1 xs check-config /nonexistent.cfg
    assert_output --partial "cannot open /nonexistent.cfg: No such file or directory"
}

@test "a disk entry that names only the disk ('vdev=xvdb') takes it in the snapshot's type" {
    f=$BATS_TEST_TMPDIR/only.cfg
    printf '%s\n' 'type = "external"' "disk = [ 'vdev=xvdb', 'vdev=xvdc,format=qcow2' ]" > "$f"
    run -0 xs check-config --json "$f"
    run -0 json_get '[(x["vdev"], x.get("target")) for x in d["disks"]], d["type"]' <<< "$output"
    assert_output "([('xvdb', None), ('xvdc', None)], 'external')"
    printf '%s\n' "disk = [ 'vdev=xvdb,format=vmdk' ]" > "$f"
    run -1 xs check-config "$f"
    assert_output --partial "disk entry 1 'vdev=xvdb,format=vmdk'"
}
