#!/usr/bin/env bats
# configs/xl-snapshot-nightly with a fake xl-snapshot that records its
# argv: full export on the first night, delta against the previous
# nightly afterwards, prune every night; syntax and shellcheck.
load helpers

NIGHTLY=$REPO/configs/xl-snapshot-nightly

setup() {
    FAKE=$BATS_TEST_TMPDIR/bin
    mkdir -p "$FAKE"
    export ARGV_LOG=$BATS_TEST_TMPDIR/argv.log SNAPS=$BATS_TEST_TMPDIR/snaps
    mkdir -p "$SNAPS"
    # xl-snapshot: logs its argv; create/list --names keep a name list
    # per domain; FAIL_DOMAIN makes create fail for that domain
    cat > "$FAKE/xl-snapshot" <<'SH'
#!/bin/bash
echo "$*" >> "$ARGV_LOG"
case $1 in
create)
    dom=${*: -1}; name=
    while [ $# -gt 0 ]; do [ "$1" = -n ] && name=$2; shift; done
    [ "$dom" != "${FAIL_DOMAIN:-}" ] || exit 1
    echo "$name" >> "$SNAPS/$dom" ;;
list) cat "$SNAPS/$3" 2>/dev/null || true ;;
export) [ "${*: -1}" != - ] || echo "stream of $*" ;;
esac
SH
    printf '#!/bin/sh\necho "$FAKE_DATE"\n' > "$FAKE/date"
    chmod +x "$FAKE/xl-snapshot" "$FAKE/date"
    PATH=$FAKE:$PATH
    export XL_SNAPSHOT_NIGHTLY_CONF=$BATS_TEST_TMPDIR/nightly.conf
    DEST=$BATS_TEST_TMPDIR/backup
    cat > "$XL_SNAPSHOT_NIGHTLY_CONF" <<CONF
DOMAINS="web1 db1"
DEST=$DEST
KEEP_LAST=5
CONF
}

night() {
    export FAKE_DATE=$1
    : > "$ARGV_LOG"
    run "$NIGHTLY"
}

@test "nightly script: bash -n and shellcheck are clean" {
    run -0 bash -n "$NIGHTLY"
    run -0 bash -n "$REPO/configs/xl-snapshot-nightly.default"
    command -v shellcheck >/dev/null || skip "shellcheck not installed"
    run -0 shellcheck -s bash "$NIGHTLY"
    run -0 shellcheck -s bash -e SC2034 "$REPO/configs/xl-snapshot-nightly.default"
}

@test "first night: create, full export, prune for every domain" {
    night 20261124
    assert_success
    run cat "$ARGV_LOG"
    assert_output "list --names web1
create -n nightly-20261124 -d nightly backup web1
export --full web1 nightly-20261124 $DEST/web1/nightly-20261124
prune web1 --keep-last 5
list --names db1
create -n nightly-20261124 -d nightly backup db1
export --full db1 nightly-20261124 $DEST/db1/nightly-20261124
prune db1 --keep-last 5"
    [ -d "$DEST/web1" ] && [ -d "$DEST/db1" ]
}

@test "second night: delta against the previous nightly" {
    night 20261124
    echo manual >> "$SNAPS/web1"                  # not a nightly
    night 20261125
    assert_success
    run grep -E '^(export|create|prune) .*web1' "$ARGV_LOG"
    assert_output "create -n nightly-20261125 -d nightly backup web1
export --delta --base nightly-20261124 web1 nightly-20261125 $DEST/web1/nightly-20261125
prune web1 --keep-last 5"
    night 20261127
    run grep '^export .*db1' "$ARGV_LOG"
    assert_output "export --delta --base nightly-20261125 db1 nightly-20261127 $DEST/db1/nightly-20261127"
}

@test "a command as DEST gets the export on stdin; COMPRESS is passed" {
    cat >> "$XL_SNAPSHOT_NIGHTLY_CONF" <<CONF
DEST='|cat > "$BATS_TEST_TMPDIR/\$XL_SNAPSHOT_DOMAIN-\$XL_SNAPSHOT_NAME-base=\$XL_SNAPSHOT_BASE"'
COMPRESS=zstd
CONF
    night 20261124
    night 20261125
    assert_success
    run cat "$BATS_TEST_TMPDIR/web1-nightly-20261125-base=nightly-20261124"
    assert_output "stream of export --delta --base nightly-20261124 --compress zstd web1 nightly-20261125 -"
    run cat "$BATS_TEST_TMPDIR/db1-nightly-20261124-base="
    assert_output "stream of export --full --compress zstd db1 nightly-20261124 -"
}

@test "one failing domain does not stop the others; exit status 1" {
    export FAIL_DOMAIN=web1
    night 20261124
    assert_failure 1
    assert_output --partial "web1: nightly backup FAILED"
    run grep -c '^export' "$ARGV_LOG"
    assert_output 1
    run grep '^export' "$ARGV_LOG"
    assert_output --partial "db1"
}

@test "a re-run the same night does not take the snapshot twice" {
    night 20261124
    assert_success
    run -0 grep -c '^create' "$ARGV_LOG"
    assert_output 2
    night 20261124
    assert_success
    assert_output --partial "web1: snapshot nightly-20261124 exists already"
    run grep -c '^create' "$ARGV_LOG"
    assert_output 0
}

@test "missing DEST or a bad KEEP_LAST is a usage error (2)" {
    echo 'DEST=""' >> "$XL_SNAPSHOT_NIGHTLY_CONF"
    night 20261124
    assert_failure 2
    echo "DEST=$DEST KEEP_LAST=0" >> "$XL_SNAPSHOT_NIGHTLY_CONF"
    night 20261124
    assert_failure 2
}
