#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# issue 20: name lookups, list --domains and info's Children go through
# the list index; a stale index is updated record by record (only the
# changed records are read); list --json is streamed with the same bytes
# as before; a corrupt or stale index is never trusted.
load helpers

U2=6ba7b810-9dad-11d1-80b4-00c04fd430c9
U3=6ba7b810-9dad-11d1-80b4-00c04fd430ca

# Three domains: g1 a tree (s0 -> s1 -> {s2, s3}, s1 -> s4 -> s5), g2 a
# chain, g3 (two records, one naming an old domain name).
mkstate() {
    mkrecord s0 - 1764000000 false
    mkrecord s1 s0 1764000100 false
    mkrecord s2 s1 1764000200 false
    mkrecord s3 s1 1764000300 true
    mkrecord s4 s1 1764000400 false
    mkrecord s5 s4 1764000500 false
    mkrecord a0 - 1764000000 false ready "$U2" g2
    mkrecord a1 a0 1764000050 true ready "$U2" g2
    mkrecord b0 - 1764000000 false ready "$U3" old3
    mkrecord b1 b0 1764000070 true ready "$U3" g3
}

# Every read command's output and exit status on that state (paths of
# the state dir written as STATE).
outputs() {
    local c rc
    for c in "list g1" "list --json g1" "list --tree g1" "list -l g2" \
             "list --json --leaves g1" "list --json --from s1 g1" \
             "list --json $U3" "list --domains" "list --domains --json" \
             "info g1 s1" "info g1 s5" "info --json g2 a1" "info g3 b0" \
             "info old3 b1" "list --names g3" "list nosuch"; do
        echo "== $c"
        # shellcheck disable=SC2086
        rc=0
        "$XS" $c 2>&1 || rc=$?
        echo "== exit $rc"
    done | sed "s|$STATE|STATE|g"
}

# Rewrite a record in place with the same length and restore its stat
# key (inode, size, mtime): the index's line stays valid for it, and only
# a reader opening the record sees the change.
spoil_keep_key() {
    local f=$STATE/$1/$2/record.json
    touch -r "$f" "$BATS_TEST_TMPDIR/ref"
    python3 - "$f" <<'PY'
import sys
p = sys.argv[1]
b = open(p, "rb").read()
with open(p, "r+b") as f:          # same inode, same size
    f.write(b"#" * len(b))
PY
    touch -r "$BATS_TEST_TMPDIR/ref" "$f"
}

@test "list, info and --json print exactly what they printed before (golden)" {
    mkstate
    run -0 outputs
    # tests/bats/data/17-golden.txt: made by the binary before issue 20
    diff -u "$BATS_TEST_DIRNAME/data/17-golden.txt" <(echo "$output")
    # and with the index in place (second run), the same again
    [ -f "$STATE/$UUID/.index" ]
    run -0 outputs
    diff -u "$BATS_TEST_DIRNAME/data/17-golden.txt" <(echo "$output")
}

@test "a name lookup reads the index, not the records" {
    mkrecord s0 - 1764000000 true
    run -0 xs list "$UUID"
    [ -f "$STATE/$UUID/.index" ]
    # the only record is unreadable now, its stat key unchanged: a
    # lookup opening records would find no domain 'g1'
    spoil_keep_key "$UUID" s0
    run -0 xs list g1
    assert_line --index 1 --regexp '^\* s0 '
}

@test "list --domains takes the names from the index" {
    mkstate
    run -0 xs list --domains
    assert_output $'g1\ng2\ng3'
    spoil_keep_key "$U2" a0
    spoil_keep_key "$U2" a1
    run -0 xs list --domains
    assert_output $'g1\ng2\ng3'
}

@test "info's Children come from the index" {
    mkstate
    run -0 xs list "$UUID"
    spoil_keep_key "$UUID" s5
    run -0 xs info "$UUID" s1
    assert_line 'Children:     s2, s3, s4'
}

@test "one record changed behind the index's back: only it is read again" {
    mkstate
    run -0 xs list "$UUID"
    spoil_keep_key "$UUID" s0
    # s2 rewritten by someone else (new inode, new description)
    sed 's/"snapshot s2"/"changed behind its back"/' \
        "$STATE/$UUID/s2/record.json" > "$STATE/$UUID/s2/r.tmp"
    mv "$STATE/$UUID/s2/r.tmp" "$STATE/$UUID/s2/record.json"
    # a whole rebuild would read s0 and fail; s2 alone is read
    run -0 xs list -l "$UUID"
    assert_line '    description: changed behind its back'
    # and the index now holds s2's new key: used as it is
    run -0 xs list -l "$UUID"
    assert_line '    description: changed behind its back'
}

@test "lookups after records change behind the index's back" {
    mkstate
    run -0 xs list g2
    # g2's records now name the domain g9 (rewritten, new keys)
    for n in a0 a1; do
        f=$STATE/$U2/$n/record.json
        sed 's/"g2"/"g9"/' "$f" > "$f.tmp" && mv "$f.tmp" "$f"
    done
    run -1 xs list g2
    assert_output --partial "no domain 'g2'"
    run -0 xs list g9
    assert_line --index 2 --regexp '^\* a1 '
    run -0 xs list --domains
    assert_output $'g1\ng3\ng9'
    # a snapshot added and one removed behind its back
    mkrecord a2 a1 1764000900 false ready "$U2" g9
    rm -r "$STATE/$U2/a0"
    run -0 xs list --names g9
    assert_output $'a1\na2'
    run -0 xs info g9 a1
    assert_line 'Children:     a2'
}

@test "a corrupt index is rebuilt, never trusted" {
    mkstate
    run -0 xs list "$UUID"
    good=$output
    for bad in 'garbage' "$(head -c 100 "$STATE/$UUID/.index")" ''; do
        printf '%s\n' "$bad" > "$STATE/$UUID/.index"
        run -0 xs list "$UUID"
        [ "$output" = "$good" ]
    done
    # lines out of name order (each one valid): not used
    run -0 xs list "$UUID"
    { head -n 1 "$STATE/$UUID/.index"; tail -n +2 "$STATE/$UUID/.index" | sort -r; } \
        > "$STATE/$UUID/.i" && mv "$STATE/$UUID/.i" "$STATE/$UUID/.index"
    spoil_keep_key "$UUID" s0
    run -1 xs list "$UUID"
    assert_output --partial "$STATE/$UUID/s0/record.json"
}

@test "a stale index naming a removed snapshot does not bring it back" {
    mkstate
    run -0 xs list "$UUID"
    cp "$STATE/$UUID/.index" "$BATS_TEST_TMPDIR/old-index"
    rm -r "$STATE/$UUID/s5"
    run -0 xs list "$UUID"
    cp "$BATS_TEST_TMPDIR/old-index" "$STATE/$UUID/.index"
    run -0 xs list --names "$UUID"
    assert_output $'s0\ns1\ns2\ns3\ns4'
    run -0 xs info "$UUID" s4
    assert_line 'Children:     -'
}

@test "a snapshot directory that is a symbolic link fails list, index or not" {
    mkstate
    run -0 xs list "$UUID"
    [ -f "$STATE/$UUID/.index" ]
    mkdir -p "$BATS_TEST_TMPDIR/elsewhere"
    cp -a "$STATE/$UUID/s5" "$BATS_TEST_TMPDIR/elsewhere/s6"
    ln -s "$BATS_TEST_TMPDIR/elsewhere/s6" "$STATE/$UUID/s6"
    # the index does not hide it: the records are read and it is refused
    run -1 xs list "$UUID"
    assert_output --partial "s6"
}

@test "list --json prints from the index: no record opened, each config kept once" {
    python3 "$REPO/bench/gen-records.py" "$STATE" 300 "$UUID"
    run -0 xs list --json "$UUID"
    want=$output
    # 300 snapshots, one config: one config line in the index
    [ "$(grep -c '^\*	' "$STATE/$UUID/.index")" -eq 1 ]
    # a record near the end unreadable behind an unchanged stat key: the
    # index answers for it (before: the record was read, and failed)
    spoil_keep_key "$UUID" snap00250
    run -0 xs list --json "$UUID"
    [ "$output" = "$want" ]
}

@test "list --json: a config changed behind the index's back is printed new" {
    mkstate
    run -0 xs list --json "$UUID"
    python3 - "$STATE/$UUID/s2/record.json" <<'PY'
import json, sys
p = sys.argv[1]
r = json.load(open(p))
r["config"]["b_info"]["max_memkb"] = 262144
open(p, "w").write(json.dumps(r, indent=4))
PY
    run -0 xs list --json "$UUID"
    [ "$(json_get '[s["config"]["b_info"]["max_memkb"] for s in d["snapshots"]]' <<<"$output")" = "[131072, 131072, 262144, 131072, 131072, 131072]" ]
    # two configs now, each once in the index
    [ "$(grep -c '^\*	' "$STATE/$UUID/.index")" -eq 2 ]
}

@test "an index line naming a config it does not have is not trusted" {
    mkstate
    run -0 xs list --json "$UUID"
    want=$output
    # the last field of each line is its config's number: 7 does not exist
    sed -i 's/\t0$/\t7/' "$STATE/$UUID/.index"
    grep -q '	7$' "$STATE/$UUID/.index"
    run -0 xs list --json "$UUID"
    [ "$output" = "$want" ]
    ! grep -q '	7$' "$STATE/$UUID/.index"
}

@test "an operation's index refresh keeps every config (those it did not read)" {
    mkstate
    run -0 xs list --json "$UUID"
    want=${output/\"snapshot s4\"/\"changed\"}
    # edit reads s4 whole and rewrites the index from its handle: the
    # other lines' configs come from the index it was opened with
    run -0 xs edit g1 s4 --description changed
    [ "$(grep -c '^\*	' "$STATE/$UUID/.index")" -eq 1 ]
    spoil_keep_key "$UUID" s0
    run -0 xs list --json "$UUID"
    [ "$output" = "$want" ]
}
