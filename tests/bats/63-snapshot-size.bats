#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The size of classic (thick) LVM snapshot volumes on the host (no
# device-mapper): create --snapshot-size and the config key snapshot_size
# are parsed and refused before anything is touched; qcow2 disks ignore
# them.  The size used and the warning of a store filling up, on real
# Xen: tests/e2e/55-lvm.bats.
load helpers

@test "create --snapshot-size: a size with a unit or a percentage; anything else is a usage error that touches nothing" {
    setup_images
    for bad in foo 12 0M 0% 101% 5X 1.5G -1M 20%% "" 99999999999999999999T; do
        run -2 xs create --snapshot-size "$bad" -n s1 g1
        assert_output "xl-snapshot: create: --snapshot-size: snapshot size '$bad' is neither a size (a number with a unit K, M, G or T, as 512M) nor a percentage of the origin volume (1% to 100%, as 20%)"
    done
    run -1 xs info g1 s1
    # qcow2 disks have no size to choose: the snapshot is taken as ever
    for good in 512M 2g 64k 1T 1% 100% 25%; do
        run -0 xs create -N --snapshot-size "$good" -n s1 g1
    done
    run -0 xs create g1 -n s1 --snapshot-size 25%
    assert_output "Snapshot 's1' of domain 'g1' created (internal, disks only)."
}

@test "the config key snapshot_size: parsed, shown by check-config, refused with file:line, the option wins" {
    setup_images
    f=$BATS_TEST_TMPDIR/s.cfg
    printf 'name="n1"\nsnapshot_size="25%%"\n' > "$f"
    run -0 xs check-config "$f"
    assert_line "snap size:   25%"
    run -0 xs check-config --json "$f"
    run -0 json_get 'd["snapshot_size"]' <<< "$output"
    assert_output "25%"
    printf 'name="n1"\n' > "$f"
    run -0 xs check-config --json "$f"
    run -0 json_get 'd["snapshot_size"]' <<< "$output"
    assert_output None
    run -0 xs check-config "$f"
    refute_output --partial "snap size"
    printf 'name="n1"\n\nsnapshot_size="big"\n' > "$f"
    run -1 xs check-config "$f"
    assert_output "xl-snapshot: $f:3: snapshot size 'big' is neither a size (a number with a unit K, M, G or T, as 512M) nor a percentage of the origin volume (1% to 100%, as 20%)"
    run -1 xs create g1 "$f"
    assert_output --partial "$f:3: snapshot size 'big' is neither"
    run -1 xs info g1 n1
    printf 'name="n1"\nsnapshot_size=20\n' > "$f"
    run -1 xs check-config "$f"
    assert_output --partial "snapshot size '20' is neither"
    # a good one in the file, a good one on the command line
    printf 'name="n1"\nsnapshot_size="1G"\n' > "$f"
    run -0 xs create g1 "$f" --snapshot-size 10%
}

@test "--snapshot-size in help, completion and the man pages" {
    run -0 xs help create
    assert_output --partial "--snapshot-size SIZE|N%"
    run -0 xs help --options create
    assert_output --partial "--snapshot-size"
    run -0 grep -c 'snapshot-size' "$BATS_TEST_DIRNAME/../../man/xl-snapshot.1.pod"
    run -0 grep -c 'snapshot_size=' "$BATS_TEST_DIRNAME/../../man/xl-snapshot.conf.5.pod"
}
