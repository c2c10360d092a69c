#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Hostile input: bad names and domain arguments, symbolic links planted
# in the state directory, damaged records, garbage config files.  Each
# must give a clear message (naming the file and what is wrong) and
# exit 1, never a crash, and never read or write through a link.
load helpers

# refused MSG CMD...: CMD exits 1 with MSG in its message, and with no
# raw control character in it (they are escaped)
refused() {
    local msg=$1
    shift
    run -1 "$@"
    assert_output --partial "$msg"
    [ "${#lines[@]}" -le 1 ] || fail "more than one line: $output"
    ! printf '%s' "$output" | LC_ALL=C grep -q '[[:cntrl:]]' ||
        fail "raw control characters in: $output"
}

@test "hostile snapshot names are refused by every command" {
    mkchain
    long=$(printf 'n%.0s' $(seq 256))
    for name in 'a/b' '../s1' '..' '.' '.hidden' '' $'a\nb' $'a\x1b[2Jb' \
                $'tab\there' $'del\x7f' "$long" $'\xff\xfe'; do
        for cmd in info parent current revert delete; do
            run -1 xs "$cmd" g1 "$name"
            assert_output --regexp "snapshot name (is empty|is 256 bytes|'.*' (starts with '\.'|contains '/')|contains a control character|is not valid UTF-8)"
        done
        run -1 xs create -N -n "$name" g1
    done
    refused "cannot create snapshot 'd': the description is not valid UTF-8" \
        xs create -N -n d -d $'caf\xe9' g1
    # escaped in messages: one line, no terminal escape reaches stderr
    refused "snapshot name contains a control character" xs info g1 $'a\x1b[2Jb'
    assert_output --partial "'a\\x1b[2Jb'"
    refused "snapshot name contains a control character" xs info g1 $'a\nb'
    assert_output --partial "'a\\nb'"
    # nothing was created or changed anywhere
    run -0 bash -c "find '$STATE' -mindepth 2 -maxdepth 2 | sort"
    assert_output "$(printf '%s\n' "$STATE/$UUID/s0" "$STATE/$UUID/s1" "$STATE/$UUID/s2" | sort)"
    run -0 xs current g1
    assert_output s1
}

@test "a snapshot directory with a hostile name is refused, escaped" {
    mkchain
    bad=$'s\x1b]0;owned\x07'
    mv "$STATE/$UUID/s2" "$STATE/$UUID/$bad"
    sed -i "s/\"name\": \"s2\"/\"name\": \"s\\\\u001b]0;owned\\\\u0007\"/" "$STATE/$UUID/$bad/record.json"
    refused "$STATE/$UUID/s\x1b]0;owned\x07: snapshot name contains a control character" xs list g1
    refused "snapshot name contains a control character" xs list --json "$UUID"
}

@test "escape sequences in record strings never reach the terminal" {
    mkchain
    sed -i 's/"description": "snapshot s1"/"description": "a\\u001b[2Jb\\nc"/; s|"image": "/img/g1.qcow2"|"image": "/img/\\u001b]0;x\\u0007"|' "$STATE/$UUID/s1/record.json"
    sed -i 's/"parent": "s1"/"parent": "s1\\u001b[31m"/' "$STATE/$UUID/s2/record.json"
    for args in "info g1 s1" "info g1 s2" "list g1" "list --long g1" "list --tree g1" "parent g1 s2"; do
        # shellcheck disable=SC2086 # args: words of one command line
        run -0 xs $args
        ! printf '%s' "$output" | LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' ||
            fail "xs $args printed a control character: $output"
    done
    run -0 xs info g1 s1
    assert_line "Description:  a?[2Jb?c"
    # JSON keeps them, escaped
    run -0 xs info --json g1 s1
    assert_output --partial '"description": "a\u001B[2Jb\nc"'
}

@test "hostile domain arguments give a clear error and exit 1" {
    mkchain
    long=$(printf 'd%.0s' $(seq 5000))
    for dom in '../..' '/' '.' '..' "$UUID/../$UUID" "../$UUID" '*' \
               $'g1\n' $'\x1b]0;x\x07' "$long" '99999999999' \
               "$(printf '%s' "$UUID" | tr a-f A-F)x"; do
        run -1 xs list "$dom"
        assert_output --partial "no domain '"
        run -1 xs info "$dom" s1
        run -1 xs current "$dom" s1
    done
    refused "no domain given" xs list ''
    refused "no domain 'g1\\n'" xs list $'g1\n'
    # a domain id needs the hypervisor; the message says so
    refused "needs a running hypervisor" xs list 7
    run -0 xs current g1
    assert_output s1
}

@test "a symlinked domain directory is never followed, for reading or writing" {
    mkchain
    mv "$STATE/$UUID" "$BATS_TEST_TMPDIR/elsewhere"
    ln -s "$BATS_TEST_TMPDIR/elsewhere" "$STATE/$UUID"
    refused "refusing to follow symbolic link $STATE/$UUID" xs list "$UUID"
    refused "refusing to follow symbolic link $STATE/$UUID" xs info "$UUID" s1
    refused "refusing to follow symbolic link $STATE/$UUID" xs current "$UUID" s0
    refused "refusing to follow symbolic link $STATE/$UUID" xs delete --metadata "$UUID" s2
    # by name, the records behind the link are not found at all
    refused "no domain 'g1'" xs list g1
    [ ! -e "$BATS_TEST_TMPDIR/elsewhere/.lock" ]
    grep -q '"current": true' "$BATS_TEST_TMPDIR/elsewhere/s1/record.json"
    [ -e "$BATS_TEST_TMPDIR/elsewhere/s2/record.json" ]
}

@test "a symlinked snapshot directory is refused by list, info and writers" {
    mkchain
    mkdir "$BATS_TEST_TMPDIR/elsewhere"
    mv "$STATE/$UUID/s2" "$BATS_TEST_TMPDIR/elsewhere/s2"
    ln -s "$BATS_TEST_TMPDIR/elsewhere/s2" "$STATE/$UUID/s2"
    refused "refusing to follow symbolic link $STATE/$UUID/s2" xs list "$UUID"
    refused "refusing to follow symbolic link $STATE/$UUID/s2" xs info "$UUID" s2
    refused "refusing to follow symbolic link $STATE/$UUID/s2" xs current "$UUID" s0
    refused "refusing to follow symbolic link $STATE/$UUID/s2" xs delete --metadata "$UUID" s2
    [ -e "$BATS_TEST_TMPDIR/elsewhere/s2/record.json" ]
    grep -q '"current": false' "$BATS_TEST_TMPDIR/elsewhere/s2/record.json"
}

@test "a symlinked record.json is refused by list and info, and not written through" {
    mkchain
    cp "$STATE/$UUID/s2/record.json" "$BATS_TEST_TMPDIR/evil.json"
    rm "$STATE/$UUID/s2/record.json"
    ln -s "$BATS_TEST_TMPDIR/evil.json" "$STATE/$UUID/s2/record.json"
    before=$(cat "$BATS_TEST_TMPDIR/evil.json")
    refused "refusing to follow symbolic link $STATE/$UUID/s2/record.json" xs list "$UUID"
    refused "refusing to follow symbolic link $STATE/$UUID/s2/record.json" xs info "$UUID" s2
    refused "refusing to follow symbolic link $STATE/$UUID/s2/record.json" xs current "$UUID" s2
    [ "$before" = "$(cat "$BATS_TEST_TMPDIR/evil.json")" ]
}

@test "a symlinked .lock is refused and its target not created" {
    mkchain
    ln -s "$BATS_TEST_TMPDIR/planted" "$STATE/$UUID/.lock"
    refused "refusing to follow symbolic link $STATE/$UUID/.lock" xs current g1 s0
    refused "refusing to follow symbolic link $STATE/$UUID/.lock" xs delete --metadata g1 s2
    [ ! -e "$BATS_TEST_TMPDIR/planted" ]
    run -0 xs current g1
    assert_output s1
}

@test "a symlink or FIFO planted as the temporary record is refused, not replaced" {
    mkchain
    echo precious > "$BATS_TEST_TMPDIR/target"
    ln -s "$BATS_TEST_TMPDIR/target" "$STATE/$UUID/s1/.record.json.tmp"
    ln -s "$BATS_TEST_TMPDIR/absent" "$STATE/$UUID/s0/.record.json.tmp"
    refused "$STATE/$UUID/s1/.record.json.tmp is not a regular file" xs current g1 s0
    [ -L "$STATE/$UUID/s1/.record.json.tmp" ]
    [ "$(cat "$BATS_TEST_TMPDIR/target")" = precious ]
    [ ! -e "$BATS_TEST_TMPDIR/absent" ]
    rm "$STATE/$UUID/s1/.record.json.tmp"
    mkfifo "$STATE/$UUID/s1/.record.json.tmp"
    refused "$STATE/$UUID/s1/.record.json.tmp is not a regular file" timeout 20 "$XS" current g1 s2
}

@test "a FIFO or directory as record.json is refused without hanging" {
    mkchain
    rm "$STATE/$UUID/s2/record.json"
    mkfifo "$STATE/$UUID/s2/record.json"
    refused "$STATE/$UUID/s2/record.json is not a regular file" timeout 20 "$XS" info "$UUID" s2
    refused "$STATE/$UUID/s2/record.json is not a regular file" timeout 20 "$XS" list "$UUID"
    rm "$STATE/$UUID/s2/record.json"
    mkdir "$STATE/$UUID/s2/record.json"
    refused "$STATE/$UUID/s2/record.json is not a regular file" xs info "$UUID" s2
}

# damaged CONTENT REASON: record s1 holds CONTENT; info and list refuse
# it with a message naming the file and REASON
damaged() {
    printf '%s' "$1" > "$STATE/$UUID/s1/record.json"
    refused "$2" xs info "$UUID" s1
    assert_output --partial "$STATE/$UUID/s1/record.json: "
    refused "$2" xs list "$UUID"
    assert_output --partial "$STATE/$UUID/s1/record.json: "
}

@test "damaged records: malformed, truncated, wrong types, missing fields" {
    mkchain
    good=$(cat "$STATE/$UUID/s1/record.json")
    damaged '' "malformed JSON"
    damaged 'not json' "malformed JSON"
    damaged "${good:0:100}" "malformed JSON: parse error: premature EOF"
    damaged '[]' "record is not a JSON object"
    damaged '"s1"' "record is not a JSON object"
    damaged '{"version": "1"}' "unsupported record version"
    damaged '{"version": 1}' "field 'name' is missing"
    damaged '{"version": 1, "name": ["s1"]}' "field 'name' is not a string"
    damaged "${good/\"domain\": \{/\"domain\": [\{}" "malformed JSON"
    damaged "${good/\"creationtime\": 1764000100/\"creationtime\": \"1764000100\"}" "'creationtime' is not a non-negative integer"
    damaged "${good/\"current\": true/\"current\": 1}" "field 'current' is not a boolean"
    damaged "${good/\"state\": \"ready\"/\"state\": \"done\"}" "unknown state 'done'"
    damaged "${good/\"state\": \"ready\",/}" "field 'state' is missing"
    damaged "${good/\"snapshot\": \"internal\"/\"snapshot\": 7}" "disks[0]: field 'snapshot' is not a string"
    damaged "${good/\"uuid\": \"$UUID\"/\"uuid\": \"../..\"}" "domain uuid '../..' is not a UUID"
    # an array where an object belongs, and the other way round
    for change in 'r["domain"] = [r["domain"]]' 'r["disks"] = {"x": r["disks"]}' \
                  'r["disks"][1] = ["xvdb"]' 'r["config"] = [r["config"]]'; do
        printf '%s' "$good" > "$STATE/$UUID/s1/record.json"
        python3 - "$STATE/$UUID/s1/record.json" "$change" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
exec(sys.argv[2])
json.dump(r, open(sys.argv[1], "w"))
PY
        run -1 xs info "$UUID" s1
        assert_output --regexp "record.json: record: field '(domain|disks|config)' is (missing or )?not an? (object|array)|disks\[1\] is not an object"
    done
}

@test "damaged records: huge numbers, deep nesting, NUL bytes, invalid UTF-8" {
    mkchain
    good=$(cat "$STATE/$UUID/s1/record.json")
    damaged "${good/\"creationtime\": 1764000100/\"creationtime\": 1e400}" "'creationtime' is not a non-negative integer"
    damaged "${good/\"creationtime\": 1764000100/\"creationtime\": 18446744073709551616}" "'creationtime' is not a non-negative integer"
    damaged "${good/\"creationtime\": 1764000100/\"creationtime\": -1}" "'creationtime' is not a non-negative integer"
    damaged "${good/\"version\": 1/\"version\": 1e400}" "unsupported record version"
    # config numbers are kept verbatim, however large
    printf '%s' "${good/131072/1e400}" > "$STATE/$UUID/s1/record.json"
    run -0 xs info --json "$UUID" s1
    assert_output --partial 1e400
    # 100000 '[' alone, and closed again (a 200 kB, then a 8 MB file)
    python3 -c 'import sys; sys.stdout.write("[" * 100000)' > "$STATE/$UUID/s1/record.json"
    refused "$STATE/$UUID/s1/record.json: malformed JSON: nested deeper than 64 levels" xs info "$UUID" s1
    python3 -c 'import sys; n = 4000000; sys.stdout.write(sys.argv[1].replace("131072", "[" * n + "]" * n))' "$good" > "$STATE/$UUID/s1/record.json"
    refused "$STATE/$UUID/s1/record.json: malformed JSON: nested deeper than 64 levels" xs info "$UUID" s1
    refused "nested deeper than 64 levels" xs list "$UUID"
    # NUL bytes
    { printf '%s' "${good:0:40}"; printf '\0'; printf '%s' "${good:40}"; } > "$STATE/$UUID/s1/record.json"
    refused "$STATE/$UUID/s1/record.json: contains a NUL byte at offset 40" xs info "$UUID" s1
    # invalid UTF-8 in a string
    printf '%s' "${good/snapshot s1/snapshot $'\xff\xfe'}" > "$STATE/$UUID/s1/record.json"
    refused "$STATE/$UUID/s1/record.json: malformed JSON: lexical error: invalid bytes in UTF8 string" xs info "$UUID" s1
    # larger than the 16 MiB limit
    head -c $((17 << 20)) /dev/zero > "$STATE/$UUID/s1/record.json"
    refused "$STATE/$UUID/s1/record.json is too large" xs info "$UUID" s1
}

@test "garbage config files: binary, NUL bytes, huge lines, unknown keys, bad disks" {
    f=$BATS_TEST_TMPDIR/bad.cfg
    printf '\x7fELF\x02\x01\x01\x00\x00\x00' > "$f"
    refused "$f: contains a NUL byte at offset 7" xs check-config "$f"
    printf '\x01\x02\xff\xfe garbage ]]] [[[ "\n' > "$f"
    refused "$f:1: config parsing error" xs check-config "$f"
    python3 -c 'import sys; sys.stdout.write("name=\"" + "a" * 900000 + "\"\n")' > "$f"
    refused "$f:1: snapshot name is 900000 bytes long" xs check-config "$f"
    python3 -c 'import sys; sys.stdout.write("# " + "x" * 2000000 + "\n")' > "$f"
    refused "$f is too large" xs check-config "$f"
    python3 -c 'import sys; n = 400000; sys.stdout.write("disk=" + "[" * n + "]" * n + "\n")' > "$f"
    refused "$f:1: config parsing error" xs check-config "$f"
    printf 'name="ok"\nfrobnicate=1\n' > "$f"
    refused "$f:2: unknown setting 'frobnicate'" xs check-config "$f"
    printf 'description="caf\xe9"\n' > "$f"
    refused "$f:1: 'description' is not valid UTF-8" xs check-config "$f"
    printf 'memory="/srv/\xff.save"\n' > "$f"
    refused "$f:1: 'memory' is not valid UTF-8" xs check-config "$f"
    printf 'disk=["vdev=xvda,target=/x/\xc0"]\n' > "$f"
    refused "$f:1: disk entry 1 is not valid UTF-8" xs check-config "$f"
    printf 'name="n"\ndisk=["vdev=xvda,bogus=1"]\n' > "$f"
    refused "$f:2: disk entry 1 'vdev=xvda,bogus=1'" xs check-config "$f"
    printf 'disk=["vdev=xvda,target=relative.qcow2"]\n' > "$f"
    refused "$f:1: disk entry 1: target 'relative.qcow2' must be an absolute path" xs check-config "$f"
    printf 'disk=["vdev=xvda,format=vhd,target=/a.vhd"]\n' > "$f"
    refused "$f:1: disk entry 1: format vhd cannot hold snapshots" xs check-config "$f"
    printf 'disk=["vdev=xvda,target=null","vdev=xvda,target=null"]\n' > "$f"
    refused "$f:1: disk xvda is listed twice" xs check-config "$f"
    printf 'disk="vdev=xvda"\n' > "$f"
    refused "$f:1: 'disk' must be a list" xs check-config "$f"
    printf 'creationtime="soon"\n' > "$f"
    refused "$f:1: 'creationtime' must be a non-negative number" xs check-config "$f"
    mkfifo "$BATS_TEST_TMPDIR/fifo.cfg"
    refused "$BATS_TEST_TMPDIR/fifo.cfg is not a regular file" timeout 20 "$XS" check-config "$BATS_TEST_TMPDIR/fifo.cfg"
}
