#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# create --quiesce and the config key quiesce=1 without a hypervisor:
# options, the refusal with memory, a stopped domain (nothing to
# freeze), the record's "consistency" shown by info, the nightly job's
# QUIESCE, help, man pages and completion.  The guest agent itself, on
# real Xen: tests/e2e/37-quiesce.bats (and tests/unit/test_qga.c).
load helpers

@test "create --quiesce of a stopped domain: nothing to freeze, the snapshot is taken, no consistency recorded, no warning" {
    setup_images
    run -0 --separate-stderr xs create g1 --quiesce -n q1
    assert_output "Snapshot 'q1' of domain 'g1' created (internal, disks only)."
    [ -z "$stderr" ] || fail "stderr: $stderr"
    run -0 xs info --json g1 q1
    run -0 json_get '"consistency" in d, d["domstate"]' <<< "$output"
    assert_output "(False, 'shutoff')"
    run -0 xs info g1 q1
    refute_output --partial "Consistency:"
    run -0 xs create --quiesce -N -n q2 g1
    run -0 json_get '"consistency" in d' <<< "$output"
    assert_output False
}

@test "--quiesce with a memory snapshot is refused: it applies to disk-only snapshots" {
    setup_images
    run -1 xs create --quiesce --memory -n qm g1
    assert_output "xl-snapshot: cannot create snapshot 'qm': --quiesce applies to a disk-only snapshot (a snapshot with memory is consistent by itself): add --disk-only"
    run -1 xs info g1 qm
    # the same from a config file
    f=$BATS_TEST_TMPDIR/q.cfg
    printf 'name="qm"\nmemory="yes"\nquiesce=1\n' > "$f"
    run -1 xs create g1 "$f"
    assert_output --partial "--quiesce applies to a disk-only snapshot"
    # --disk-only or memory="no" with it is fine
    run -0 xs create --quiesce --disk-only -n qd g1
    printf 'name="qf"\nquiesce=1\n' > "$f"
    run -0 xs create g1 "$f"
    assert_output "Snapshot 'qf' of domain 'g1' created (internal, disks only)."
}

@test "the config key quiesce: 0 or 1, shown by check-config" {
    f=$BATS_TEST_TMPDIR/q.cfg
    printf 'name="n1"\nquiesce=1\n' > "$f"
    run -0 xs check-config "$f"
    assert_line "quiesce:     yes"
    run -0 xs check-config --json "$f"
    run -0 json_get 'd["quiesce"]' <<< "$output"
    assert_output True
    printf 'name="n1"\n' > "$f"
    run -0 xs check-config --json "$f"
    run -0 json_get 'd["quiesce"]' <<< "$output"
    assert_output False
    printf 'name="n1"\n\nquiesce=2\n' > "$f"
    run -1 xs check-config "$f"
    assert_output "xl-snapshot: $f:3: 'quiesce' must be 0 or 1"
    printf 'name="n1"\nquiesce="yes"\n' > "$f"
    run -1 xs check-config "$f"
    assert_output "xl-snapshot: $f:2: 'quiesce' must be 0 or 1"
}

# consistency REC VALUE: set the record's "consistency"
consistency() {
    python3 - "$STATE/$UUID/$1/record.json" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["consistency"] = sys.argv[2]
json.dump(r, open(sys.argv[1], "w"))
PY
}

@test "info and info --json show the record's consistency; a hostile one is shown without control characters" {
    mkchain
    consistency s1 filesystem
    consistency s2 crash
    run -0 xs info g1 s1
    assert_line "Consistency:  filesystem (quiesced: the guest's file systems were frozen)"
    run -0 xs info g1 s2
    assert_line "Consistency:  crash (quiesce asked, but the file systems were not frozen)"
    run -0 xs info g1 s0
    refute_output --partial "Consistency:"
    run -0 xs info --json g1 s1
    run -0 json_get 'd["consistency"]' <<< "$output"
    assert_output filesystem
    run -0 xs info --json g1 s0
    run -0 json_get '"consistency" in d' <<< "$output"
    assert_output False
    run -0 xs list --json g1
    run -0 json_get '[s.get("consistency") for s in d["snapshots"]]' <<< "$output"
    assert_output "[None, 'filesystem', 'crash']"
    consistency s2 $'crash\e[2J\n'
    run -0 xs info g1 s2
    assert_line --regexp '^Consistency: +crash\?\[2J\?$'
}

@test "--quiesce is in create's help, usage and bash completion" {
    run -0 xs help create
    assert_output --partial "[--quiesce]"
    assert_line --regexp '^  --quiesce +freeze the guest'"'"'s file systems'
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    ln -s "$XS" "$BATS_TEST_TMPDIR/bin/xl-snapshot"
    printf '#!/bin/sh\nexit 1\n' > "$BATS_TEST_TMPDIR/bin/xl"
    chmod +x "$BATS_TEST_TMPDIR/bin/xl"
    run -0 env PATH="$BATS_TEST_TMPDIR/bin:$PATH" bash -c '
        source "$1/completion/xl-snapshot.bash"
        COMP_WORDS=(xl-snapshot create --qu); COMP_CWORD=2
        COMP_LINE="xl-snapshot create --qu"; COMP_POINT=${#COMP_LINE}
        _xl_snapshot; printf "%s\n" "${COMPREPLY[@]}"' _ "$REPO"
    assert_output "--quiesce"
}

@test "the man pages document --quiesce, the agent channel, the fallback and the key quiesce" {
    run -0 grep -c 'B<--quiesce>' "$REPO/man/xl-snapshot.1.pod"
    run -0 grep -F 'channel = [ "name=org.qemu.guest_agent.0,connection=socket,path=' "$REPO/man/xl-snapshot.1.pod"
    run -0 grep -F 'qemu-ga -m isa-serial -p /dev/hvc1' "$REPO/man/xl-snapshot.1.pod"
    run -0 grep -F 'is only crash-consistent' "$REPO/man/xl-snapshot.1.pod"
    run -0 grep -F 'B<consistency>' "$REPO/man/xl-snapshot.1.pod"
    run -0 grep -F 'B<QUIESCE=yes>' "$REPO/man/xl-snapshot.1.pod"
    run -0 grep -F 'B<quiesce=0|1>' "$REPO/man/xl-snapshot.conf.5.pod"
}

# the nightly job against the real binary and a stopped domain
nightly_setup() {
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    ln -s "$XS" "$BATS_TEST_TMPDIR/bin/xl-snapshot"
    PATH=$BATS_TEST_TMPDIR/bin:$PATH
    export XL_SNAPSHOT_NIGHTLY_CONF=$BATS_TEST_TMPDIR/nightly.conf
    domain_one_disk 4
    printf 'DOMAINS="g1"\nDEST=%s\nKEEP_LAST=2\n' "$BATS_TEST_TMPDIR/backup" > "$XL_SNAPSHOT_NIGHTLY_CONF"
}

@test "the nightly job's QUIESCE: yes adds create --quiesce (with MEMORY=no only); wrong settings exit 2" {
    nightly_setup
    echo 'QUIESCE=yes' >> "$XL_SNAPSHOT_NIGHTLY_CONF"
    XL_SNAPSHOT_NIGHTLY_DATE=20261201 run -0 "$REPO/configs/xl-snapshot-nightly"
    run -0 xs list --names g1
    assert_line nightly-20261201
    # create is given --quiesce: with --memory added it refuses
    echo 'CREATE_OPTS="--memory"' >> "$XL_SNAPSHOT_NIGHTLY_CONF"
    XL_SNAPSHOT_NIGHTLY_DATE=20261202 run -1 "$REPO/configs/xl-snapshot-nightly"
    assert_line "xl-snapshot: cannot create snapshot 'nightly-20261202': --quiesce applies to a disk-only snapshot (a snapshot with memory is consistent by itself): add --disk-only"
    echo 'CREATE_OPTS=""' >> "$XL_SNAPSHOT_NIGHTLY_CONF"
    echo 'MEMORY=yes' >> "$XL_SNAPSHOT_NIGHTLY_CONF"
    XL_SNAPSHOT_NIGHTLY_DATE=20261202 run -2 "$REPO/configs/xl-snapshot-nightly"
    assert_output "xl-snapshot-nightly: QUIESCE=yes needs MEMORY=no (a snapshot with memory is consistent by itself)"
    echo 'QUIESCE=maybe' >> "$XL_SNAPSHOT_NIGHTLY_CONF"
    XL_SNAPSHOT_NIGHTLY_DATE=20261202 run -2 "$REPO/configs/xl-snapshot-nightly"
    assert_output "xl-snapshot-nightly: QUIESCE must be yes or no, not 'maybe'"
    run -0 grep -x 'QUIESCE=no' "$REPO/configs/xl-snapshot-nightly.default"
}
