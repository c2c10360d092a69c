#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The CLI under valgrind memcheck (make check's valgrind suite): no
# invalid access, no use of uninitialised memory, no definite or indirect
# leak, on the read commands, check-config and create -N, and on the
# error paths of damaged or hostile input.
load ../bats/helpers

setup_file() {
    command -v valgrind >/dev/null || skip "valgrind is not installed"
}

# vg ARGS...: xl-snapshot ARGS under memcheck; any error exits 99
vg() {
    valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --error-exitcode=99 --track-origins=yes \
        --suppressions="$BATS_TEST_DIRNAME/libxlutil.supp" "$XS" "$@"
}

@test "valgrind: list, list --json, list --tree, info, info --json, current, parent" {
    mkchain
    for args in "list g1" "list --json g1" "list --tree g1" "list $UUID" \
                "list --names --leaves g1" "info g1 s1" "info --json g1 s2" \
                "current g1" "parent g1 s2"; do
        # shellcheck disable=SC2086 # args: words of one command line
        run -0 vg $args
        refute_output --partial "=="
    done
}

@test "valgrind: check-config, check-config --json" {
    run -0 vg check-config "$REPO/configs/snapshot-example.cfg"
    refute_output --partial "=="
    run -0 vg check-config --json "$REPO/configs/snapshot-example.cfg"
    refute_output --partial "=="
}

@test "valgrind: create -N of a stopped domain (dry run), and a real create" {
    setup_images
    run -0 vg create -N -n dry g1
    refute_output --partial "=="
    run -0 vg create -n s1 -d "under valgrind" g1
    refute_output --partial "=="
    run -0 vg current g1 base
    run -0 vg delete g1 s1
    refute_output --partial "=="
}

@test "valgrind: error paths of damaged records and hostile arguments" {
    mkchain
    run -1 vg info g1 'a/b'
    run -1 vg info g1 $'a\nb'
    run -1 vg list nosuchdomain
    run -1 vg info g1 nosuch
    printf '{"version": 1, "name": ' > "$STATE/$UUID/s1/record.json"
    run -1 vg list "$UUID"
    assert_output --partial "malformed JSON"
    refute_output --partial "=="
    python3 -c 'import sys; sys.stdout.write("[" * 100000)' > "$STATE/$UUID/s1/record.json"
    run -1 vg info "$UUID" s1
    refute_output --partial "=="
    printf '{"version":1,"name":"s1","creationtime":1,"state":"ready","domain":{"uuid":"%s"},"disks":[{"vdev":"xvda"}]}' "$UUID" > "$STATE/$UUID/s1/record.json"
    run -1 vg info "$UUID" s1
    assert_output --partial "field 'format' is missing"
    refute_output --partial "=="
    rm "$STATE/$UUID/s1/record.json"
    ln -s "$STATE/$UUID/s0/record.json" "$STATE/$UUID/s1/record.json"
    run -1 vg info "$UUID" s1
    refute_output --partial "=="
}

@test "valgrind: error paths of bad config files" {
    f=$BATS_TEST_TMPDIR/bad.cfg
    for text in 'name="n1"\nmemory="perhaps"\n' 'disk=["vdev=xvda,bogus=1"]\n' \
                'nmae="x"\n' 'name=".."\n' 'disk=[ "vdev=xvda,target=null"\n' \
                'disk=["a", "b" ..x]\n' 'description="caf\xe9"\n' \
                'disk=["vdev=xvda,target=null","vdev=xvda,target=null"]\n'; do
        # shellcheck disable=SC2059 # the texts are printf formats
        printf "$text" > "$f"
        run -1 vg check-config "$f"
        refute_output --partial "=="
    done
}

@test "valgrind: export (full, delta, zstd, stream), import, redefine, prune" {
    setup_images
    run -0 vg create -n s1 g1
    run -0 vg create -n s2 g1
    run -0 vg export g1 s1 "$BATS_TEST_TMPDIR/b1"
    refute_output --partial "=="
    run -0 vg export --compress zstd --delta --base s1 g1 s2 "$BATS_TEST_TMPDIR/b2"
    refute_output --partial "=="
    mkdir "$BATS_TEST_TMPDIR/d"
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/st2
    run -0 vg import --disk-dir "$BATS_TEST_TMPDIR/d" "$BATS_TEST_TMPDIR/b1"
    refute_output --partial "=="
    run -0 vg import --json --disk-dir "$BATS_TEST_TMPDIR/d" "$BATS_TEST_TMPDIR/b2"
    refute_output --partial "=="
    run -1 vg import --disk-dir "$BATS_TEST_TMPDIR/d" "$BATS_TEST_TMPDIR/b2"
    refute_output --partial "=="
    XL_SNAPSHOT_DIR=$STATE xs export g1 s2 - > "$BATS_TEST_TMPDIR/s2.tar"
    run -0 vg import --as-domain g2 --disk-dir "$BATS_TEST_TMPDIR" - < "$BATS_TEST_TMPDIR/s2.tar"
    refute_output --partial "=="
    export XL_SNAPSHOT_DIR=$STATE
    xs info --json g1 s2 > "$BATS_TEST_TMPDIR/s2.json"
    run -1 vg redefine g1 "$BATS_TEST_TMPDIR/s2.json"
    assert_output --partial "already has a snapshot 's2'"
    refute_output --partial "=="
    run -0 vg prune --keep-last 1 g1
    refute_output --partial "=="
}

@test "valgrind: prune --keep-daily with a creationtime no calendar holds (no uninitialised struct tm)" {
    mkrecord s1 - 1764000000 false
    mkrecord s2 s1 67767976233316800 false
    mkrecord s3 s2 1764000100 true
    run -0 vg prune --keep-daily 1 --dry-run g1
    refute_output --partial "=="
}

@test "valgrind: export and import of a 24 MiB disk (copies hashed by the hasher thread), directory and stream" {
    domain_one_disk 24 0x5a
    run -0 vg create -n s1 g1
    run -0 vg export g1 s1 "$BATS_TEST_TMPDIR/b1"
    refute_output --partial "=="
    mkdir "$BATS_TEST_TMPDIR/d" "$BATS_TEST_TMPDIR/e"
    XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/st2 run -0 vg import --disk-dir "$BATS_TEST_TMPDIR/d" "$BATS_TEST_TMPDIR/b1"
    refute_output --partial "=="
    xs export g1 s1 - > "$BATS_TEST_TMPDIR/s1.tar"
    XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/st3 run -0 vg import --disk-dir "$BATS_TEST_TMPDIR/e" - < "$BATS_TEST_TMPDIR/s1.tar"
    refute_output --partial "=="
    cmp "$BATS_TEST_TMPDIR/b1/disk-xvda.qcow2" "$BATS_TEST_TMPDIR/d/g1.s1.qcow2"
    cmp "$BATS_TEST_TMPDIR/b1/disk-xvda.qcow2" "$BATS_TEST_TMPDIR/e/g1.s1.qcow2"
}
