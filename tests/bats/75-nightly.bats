#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# configs/xl-snapshot-nightly run as the timer runs it, against the real
# xl-snapshot (build/xl-snapshot, found in PATH) and real qcow2 images of
# stopped domains known from their records (no hypervisor): three nights
# simulated with XL_SNAPSHOT_NIGHTLY_DATE, exports chained as deltas,
# prune keeping exactly KEEP_LAST nightlies and never an admin's
# snapshot, the last night restored on "another host" with import.
# The real-Xen proof of the same job belongs in tests/e2e.
load helpers

NIGHTLY=$REPO/configs/xl-snapshot-nightly
WEB=11111111-2222-3333-4444-555555555555
DB=66666666-7777-8888-9999-aaaaaaaaaaaa

setup() {
    STATE=$BATS_TEST_TMPDIR/state
    export XL_SNAPSHOT_DIR=$STATE
    # the script runs "xl-snapshot" from PATH: the binary under test
    mkdir -p "$BATS_TEST_TMPDIR/bin" "$BATS_TEST_TMPDIR/img"
    ln -s "$XS" "$BATS_TEST_TMPDIR/bin/xl-snapshot"
    PATH=$BATS_TEST_TMPDIR/bin:$PATH
    export XL_SNAPSHOT_NIGHTLY_CONF=$BATS_TEST_TMPDIR/nightly.conf
    DEST=$BATS_TEST_TMPDIR/backup
    mkdomain web1 "$WEB"
    mkdomain db1 "$DB"
    cat > "$XL_SNAPSHOT_NIGHTLY_CONF" <<CONF
DOMAINS="web1 db1"
DEST=$DEST
KEEP_LAST=2
CONF
}

# mkdomain NAME UUID: a stopped domain with one qcow2 disk, known from
# the admin's own snapshot "before-upgrade" (a year older than the
# nightlies) whose stored config names the disk
mkdomain() {
    local img=$BATS_TEST_TMPDIR/img/$1.qcow2
    qemu-img create -q -f qcow2 "$img" 8M
    mkrecord before-upgrade - 1733000000 true ready "$2" "$1"
    python3 - "$STATE/$2/before-upgrade/record.json" "$img" <<'PY'
import json, sys
p, img = sys.argv[1:3]
r = json.load(open(p))
r["config"] = {"c_info": {"name": r["domain"]["name"], "uuid": r["domain"]["uuid"]},
               "disks": [{"pdev_path": img, "vdev": "xvda", "backend": "qdisk",
                          "format": "qcow2", "readwrite": 1}]}
r["disks"] = []
r["memory"] = None
json.dump(r, open(p, "w"))
PY
}

# night YYYYMMDD: the job as the timer runs it, on that date
night() { XL_SNAPSHOT_NIGHTLY_DATE=$1 run "$NIGHTLY"; }
# write DOMAIN MIB PATTERN: the guest writes 1 MiB of PATTERN at MIB
write() { qemu-io -f qcow2 -c "write -q -P $3 ${2}M 1M" "$BATS_TEST_TMPDIR/img/$1.qcow2"; }
# sum FILE: md5 of the guest-visible content of a qcow2 (and its chain)
sum() { qemu-img convert -f qcow2 -O raw "$1" "$BATS_TEST_TMPDIR/sum.raw" && md5sum < "$BATS_TEST_TMPDIR/sum.raw" | cut -d' ' -f1; }
# manifest BUNDLE: kind, snapshot and base of an export
manifest() { json_get '(d["kind"], d["snapshot"], d["base"])' < "$1/manifest.json"; }

# three nights; the guests write between them; web1's disk content at
# each night in SUM1..SUM3
three_nights() {
    write web1 0 0x11; write db1 0 0x11
    SUM1=$(sum "$BATS_TEST_TMPDIR/img/web1.qcow2")
    night 20261201
    assert_success
    write web1 2 0x22; write db1 2 0x22
    SUM2=$(sum "$BATS_TEST_TMPDIR/img/web1.qcow2")
    night 20261202
    assert_success
    write web1 4 0x33
    SUM3=$(sum "$BATS_TEST_TMPDIR/img/web1.qcow2")
    night 20261203
    assert_success
}

@test "nightly script: bash -n and shellcheck are clean" {
    run -0 bash -n "$NIGHTLY"
    run -0 bash -n "$REPO/configs/xl-snapshot-nightly.default"
    command -v shellcheck >/dev/null || skip "shellcheck not installed"
    run -0 shellcheck -s bash "$NIGHTLY"
    run -0 shellcheck -s bash -e SC2034 "$REPO/configs/xl-snapshot-nightly.default"
}

@test "three nights: a full export, then deltas each on the night before" {
    three_nights
    # the job's log says what each night's export was (its last night's
    # output is in $output)
    assert_line "xl-snapshot-nightly: web1: nightly-20261203 exported (delta against nightly-20261202)"
    assert_line "xl-snapshot-nightly: db1: nightly-20261203 exported (delta against nightly-20261202)"
    for d in web1 db1; do
        run -0 ls "$DEST/$d"
        assert_output "nightly-20261201
nightly-20261202
nightly-20261203"
        run -0 manifest "$DEST/$d/nightly-20261201"
        assert_output "('full', 'nightly-20261201', None)"
        run -0 manifest "$DEST/$d/nightly-20261202"
        assert_output "('delta', 'nightly-20261202', 'nightly-20261201')"
        run -0 manifest "$DEST/$d/nightly-20261203"
        assert_output "('delta', 'nightly-20261203', 'nightly-20261202')"
    done
    # a delta's disk names its base and holds what changed (1 MiB), not
    # the disk (3 MiB written)
    run -0 qemu-img info --output=json -f qcow2 "$DEST/web1/nightly-20261201/disk-xvda.qcow2"
    run -0 json_get 'd.get("backing-filename")' <<< "$output"
    assert_output None
    run -0 qemu-img info --output=json -f qcow2 "$DEST/web1/nightly-20261203/disk-xvda.qcow2"
    run -0 json_get 'd.get("backing-filename"), d["actual-size"] < 2 * 1048576' <<< "$output"
    assert_output "('xl-snapshot-base:nightly-20261202', True)"
    # the nights' snapshots are disk-only (the default, MEMORY=no)
    run -0 xs info --json web1 nightly-20261203
    run -0 json_get 'd["memory"], d["description"], d["parent"]' <<< "$output"
    assert_output "(None, 'nightly backup', 'nightly-20261202')"
}

@test "prune keeps exactly KEEP_LAST nightlies and never the admin's snapshots" {
    three_nights
    run -0 xs list --names web1
    assert_output "before-upgrade
nightly-20261202
nightly-20261203"
    # the admin snapshots again after the third night: still not counted
    # (in a later second than that night: lists sort by creation time,
    # then name, and "after-upgrade" sorts before "nightly-...")
    local t0=$(date +%s)
    while [ "$(date +%s)" = "$t0" ]; do sleep 0.1; done
    run -0 xs create -n after-upgrade web1
    write web1 6 0x44
    night 20261204
    assert_success
    assert_output --partial "deleted nightly-20261202"
    run -0 xs list --names web1
    assert_output "before-upgrade
nightly-20261203
after-upgrade
nightly-20261204"
    run -0 xs list --names db1
    assert_output "before-upgrade
nightly-20261203
nightly-20261204"
    # the pruned nights' disk snapshots are gone, the kept ones remain
    run -0 qemu-img snapshot -l "$BATS_TEST_TMPDIR/img/web1.qcow2"
    refute_output --partial nightly-20261201
    refute_output --partial nightly-20261202
    assert_output --partial after-upgrade
    assert_output --partial nightly-20261204
}

@test "the last night restores on another host: import the chain of exports" {
    three_nights
    # another host: its own state dir and disk dir, the first host's
    # disks gone
    mv "$BATS_TEST_TMPDIR/img" "$BATS_TEST_TMPDIR/img.host1"
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/state2
    mkdir "$BATS_TEST_TMPDIR/disks2"
    run -1 xs import --disk-dir "$BATS_TEST_TMPDIR/disks2" "$DEST/web1/nightly-20261203"
    assert_output --partial "import the bundle of 'nightly-20261202' first"
    for n in 01 02 03; do
        run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/disks2" "$DEST/web1/nightly-202612$n"
    done
    assert_line "Imported snapshot 'nightly-20261203' of domain 'web1' ($WEB), child of 'nightly-20261202'."
    run -0 xs list --names web1
    assert_output "nightly-20261201
nightly-20261202
nightly-20261203"
    [ "$(sum "$BATS_TEST_TMPDIR/disks2/web1.nightly-20261201.qcow2")" = "$SUM1" ]
    [ "$(sum "$BATS_TEST_TMPDIR/disks2/web1.nightly-20261202.qcow2")" = "$SUM2" ]
    [ "$(sum "$BATS_TEST_TMPDIR/disks2/web1.nightly-20261203.qcow2")" = "$SUM3" ]
    [ "$SUM2" != "$SUM3" ]
}

@test "a command as DEST gets each export on stdin; COMPRESS is passed" {
    mkdir "$BATS_TEST_TMPDIR/pipe"
    cat >> "$XL_SNAPSHOT_NIGHTLY_CONF" <<CONF
DOMAINS=web1
DEST='|cat > "$BATS_TEST_TMPDIR/pipe/\$XL_SNAPSHOT_DOMAIN-\$XL_SNAPSHOT_NAME-base=\$XL_SNAPSHOT_BASE.tar"'
COMPRESS=zstd
MEMORY=yes
CONF
    write web1 0 0x11
    night 20261201
    assert_success
    write web1 2 0x22
    SUM2=$(sum "$BATS_TEST_TMPDIR/img/web1.qcow2")
    night 20261202
    assert_success
    run -0 ls "$BATS_TEST_TMPDIR/pipe"
    assert_output "web1-nightly-20261201-base=.tar
web1-nightly-20261202-base=nightly-20261201.tar"
    run -0 tar -tf "$BATS_TEST_TMPDIR/pipe/web1-nightly-20261202-base=nightly-20261201.tar"
    assert_line "disk-xvda.qcow2.zst"
    # the streams import, in order, elsewhere
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/state2
    mkdir "$BATS_TEST_TMPDIR/disks2"
    for f in "web1-nightly-20261201-base=" "web1-nightly-20261202-base=nightly-20261201"; do
        run -0 bash -c "'$XS' import --disk-dir '$BATS_TEST_TMPDIR/disks2' - < '$BATS_TEST_TMPDIR/pipe/$f.tar'"
    done
    [ "$(sum "$BATS_TEST_TMPDIR/disks2/web1.nightly-20261202.qcow2")" = "$SUM2" ]
}

@test "one failing domain does not stop the others; exit status 1" {
    sed -i 's/^DOMAINS=.*/DOMAINS="nosuch web1 db1"/' "$XL_SNAPSHOT_NIGHTLY_CONF"
    night 20261201
    assert_failure 1
    assert_line "xl-snapshot-nightly: nosuch: nightly backup FAILED"
    run -0 ls "$DEST"
    assert_output "db1
web1"
    run -0 xs list --names db1
    assert_output "before-upgrade
nightly-20261201"
}

@test "PRE_HOOK and POST_HOOK wrap each domain's snapshot; a failing pre-hook skips that domain" {
    cat >> "$XL_SNAPSHOT_NIGHTLY_CONF" <<CONF
PRE_HOOK='echo "pre \$XL_SNAPSHOT_DOMAIN \$XL_SNAPSHOT_NAME" >> $BATS_TEST_TMPDIR/hooks; [ "\$XL_SNAPSHOT_DOMAIN" != db1 ]'
POST_HOOK='echo "post \$XL_SNAPSHOT_DOMAIN \$XL_SNAPSHOT_RESULT" >> $BATS_TEST_TMPDIR/hooks'
CONF
    night 20261201
    assert_failure 1
    assert_line "xl-snapshot-nightly: db1: nightly backup FAILED"
    run -0 cat "$BATS_TEST_TMPDIR/hooks"
    assert_output "pre web1 nightly-20261201
post web1 ok
pre db1 nightly-20261201
post db1 failed"
    run -0 xs list --names web1
    assert_output "before-upgrade
nightly-20261201"
    run -0 xs list --names db1
    assert_output "before-upgrade"
    [ ! -e "$DEST/db1" ]
}

@test "a re-run the same night takes no second snapshot and keeps the export" {
    night 20261201
    assert_success
    before=$(find "$DEST" -type f -printf '%p %s %T@\n' | sort)
    night 20261201
    assert_success
    assert_line "xl-snapshot-nightly: web1: snapshot nightly-20261201 exists already, not taken again"
    assert_line "xl-snapshot-nightly: web1: nightly-20261201 was exported already"
    [ "$before" = "$(find "$DEST" -type f -printf '%p %s %T@\n' | sort)" ]
    run -0 xs list --names web1
    assert_output "before-upgrade
nightly-20261201"
}

@test "missing DEST, a bad KEEP_LAST, MEMORY or date are usage errors (2)" {
    cp "$XL_SNAPSHOT_NIGHTLY_CONF" "$BATS_TEST_TMPDIR/good.conf"
    echo 'DEST=""' >> "$XL_SNAPSHOT_NIGHTLY_CONF"
    night 20261201
    assert_failure 2
    cp "$BATS_TEST_TMPDIR/good.conf" "$XL_SNAPSHOT_NIGHTLY_CONF"
    echo "KEEP_LAST=0" >> "$XL_SNAPSHOT_NIGHTLY_CONF"
    night 20261201
    assert_failure 2
    cp "$BATS_TEST_TMPDIR/good.conf" "$XL_SNAPSHOT_NIGHTLY_CONF"
    echo "MEMORY=sometimes" >> "$XL_SNAPSHOT_NIGHTLY_CONF"
    night 20261201
    assert_failure 2
    assert_output "xl-snapshot-nightly: MEMORY must be yes or no, not 'sometimes'"
    cp "$BATS_TEST_TMPDIR/good.conf" "$XL_SNAPSHOT_NIGHTLY_CONF"
    night 2026-12-01
    assert_failure 2
    assert_output "xl-snapshot-nightly: XL_SNAPSHOT_NIGHTLY_DATE must be YYYYMMDD, not '2026-12-01'"
    # nothing was taken
    run -0 xs list --names web1
    assert_output before-upgrade
}
