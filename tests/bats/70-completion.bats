#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Bash completion (completion/xl-snapshot.bash): commands, options,
# domain and snapshot names, all asked from the binary under test.
load helpers

setup() {
    STATE=$BATS_TEST_TMPDIR/state
    export XL_SNAPSHOT_DIR=$STATE
    # the completion runs "xl-snapshot" from PATH: the binary under test
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    ln -s "$XS" "$BATS_TEST_TMPDIR/bin/xl-snapshot"
    PATH=$BATS_TEST_TMPDIR/bin:$PATH
    # no real xl: a host with Xen must not add its domains here
    printf '#!/bin/sh\nexit 1\n' > "$BATS_TEST_TMPDIR/bin/xl"
    chmod +x "$BATS_TEST_TMPDIR/bin/xl"
    source "$REPO/completion/xl-snapshot.bash"
}

# complete WORD...: COMPREPLY for the command line "xl-snapshot WORD..."
# (the last word is the one being completed), sorted, one per line.
complete_line() {
    COMP_WORDS=(xl-snapshot "$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="${COMP_WORDS[*]}"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _xl_snapshot
    printf '%s\n' "${COMPREPLY[@]}" | sort
}

@test "the script registers a completion for xl-snapshot" {
    run -0 complete -p xl-snapshot
    assert_output --partial "_xl_snapshot"
}

@test "completes every command of 'help --commands'" {
    run -0 complete_line ""
    assert_output "$(xs help --commands | sort)"
    run -0 complete_line "rev"
    assert_output "revert"
}

@test "completes global options, and directories after -S" {
    run -0 complete_line "--q"
    assert_output "--quiet"
    run -0 complete_line "--st"
    assert_output "--state-dir"
    mkdir -p "$BATS_TEST_TMPDIR/sdir"
    cd "$BATS_TEST_TMPDIR"
    run -0 complete_line -S "sd"
    assert_output "sdir"
}

@test "completes each command's options from the command table" {
    for c in $(xs help --commands); do
        run -0 complete_line "$c" "-"
        for o in $(xs help --options "$c" | awk '{ print $1 }'); do
            grep -qxF -- "$o" <<< "$output" ||
                fail "'$c -<TAB>' does not offer $o"
        done
    done
    run -0 complete_line list "--ro"
    assert_output "--roots"
    run -0 complete_line create "--no-me"
    assert_output "$(printf '%s\n' --no-memory --no-metadata)"
}

@test "completes domain names stored in the records" {
    mkrecord s0 - 1764000000 true
    mkrecord a - 1764000000 true ready 11111111-2222-3333-4444-555555555555 web1
    run -0 complete_line info ""
    assert_output "$(printf '%s\n' g1 web1)"
    run -0 complete_line revert --force "w"
    assert_output "web1"
}

@test "completes domain names from xl list when xl is there" {
    cat > "$BATS_TEST_TMPDIR/bin/xl" <<'SH'
#!/bin/sh
[ "$1" = list ] || exit 1
cat <<OUT
Name                                        ID   Mem VCPUs	State	Time(s)
Domain-0                                     0  1024     2     r-----      12.0
running1                                     3    96     1     -b----       0.4
OUT
SH
    mkrecord s0 - 1764000000 true
    run -0 complete_line create ""
    assert_output "$(printf '%s\n' g1 running1)"
}

@test "completes snapshot names of the domain given" {
    mkchain
    run -0 complete_line info g1 ""
    assert_output "$(printf '%s\n' s0 s1 s2)"
    run -0 complete_line delete --children g1 "s"
    assert_output "$(printf '%s\n' s0 s1 s2)"
    run -0 complete_line list g1 --parent ""
    assert_output "$(printf '%s\n' s0 s1 s2)"
}

@test "prune: --match takes a pattern (snapshot names offered), one domain only" {
    mkchain
    run -0 complete_line prune g1 --match ""
    assert_output "$(printf '%s\n' s0 s1 s2)"
    run -0 complete_line prune --match 's*' ""
    assert_output g1
    run -0 complete_line prune --keep-last 2 g1 ""
    assert_output ""
}

@test "the state dir of -S is used for domain and snapshot names" {
    mkchain
    mv "$STATE" "$BATS_TEST_TMPDIR/other"
    run -0 complete_line -S "$BATS_TEST_TMPDIR/other" info g1 ""
    assert_output "$(printf '%s\n' s0 s1 s2)"
}

@test "help completes command names; list --domains takes no domain" {
    mkchain
    run -0 complete_line help "check-"
    assert_output "check-config"
    run -0 complete_line list --domains ""
    assert_output ""
}

@test "the original design's aliases: offered once a word is begun, completed as their command" {
    mkchain
    run -0 complete_line "snap"
    assert_output "$(printf '%s\n' snapshot-create snapshot-delete snapshot-list snapshot-revert)"
    run -0 complete_line "snapshot-l"
    assert_output snapshot-list
    run -0 complete_line snapshot-list "--ro"
    assert_output "--roots"
    run -0 complete_line snapshot-delete ""
    assert_output g1
    run -0 complete_line snapshot-revert g1 ""
    assert_output "$(printf '%s\n' s0 s1 s2)"
    cd "$BATS_TEST_TMPDIR"
    touch snapshot_internal
    run -0 complete_line snapshot-create g1 "snapshot_i"
    assert_output snapshot_internal
}

@test "delete/revert -n NAME DOMAIN: names after -n, no second name after the domain" {
    mkchain
    run -0 complete_line delete -n s1 ""
    assert_output g1
    run -0 complete_line snapshot-delete -n s1 g1 ""
    assert_output ""
    run -0 complete_line revert g1 -n ""
    assert_output "$(printf '%s\n' s0 s1 s2)"
    run -0 complete_line revert g1 ""
    assert_output "$(printf '%s\n' s0 s1 s2)"
    run -0 complete_line create g1 -n ""
    assert_output ""
}

@test "files and directories where a command takes them; zstd after --compress" {
    mkchain
    mkdir -p "$BATS_TEST_TMPDIR/w/bundle.d"
    : > "$BATS_TEST_TMPDIR/w/rec.json"
    cd "$BATS_TEST_TMPDIR/w"
    # import <bundle>: a directory or file, never a domain
    run -0 complete_line import ""
    assert_output "$(printf '%s\n' bundle.d rec.json)"
    run -0 complete_line import --disk-dir ""
    assert_output bundle.d
    run -0 complete_line import --kernel-dir "b"
    assert_output bundle.d
    # export <Domain> <Name> <DIR>
    run -0 complete_line export ""
    assert_output g1
    run -0 complete_line export g1 ""
    assert_output "$(printf '%s\n' s0 s1 s2)"
    run -0 complete_line export g1 s1 ""
    assert_output bundle.d
    # redefine <Domain> <RecordFile>
    run -0 complete_line redefine g1 "r"
    assert_output rec.json
    # --compress takes zstd, in create and export
    run -0 complete_line create --compress ""
    assert_output zstd
    run -0 complete_line export --compress "z"
    assert_output zstd
    run -0 complete_line create --compress zstd ""
    assert_output g1
}

@test "edit: snapshot names after the domain, nothing for the new name or text" {
    mkchain
    run -0 complete_line edit g1 ""
    assert_output "$(printf '%s\n' s0 s1 s2)"
    run -0 complete_line edit --rename new g1 "s"
    assert_output "$(printf '%s\n' s0 s1 s2)"
    run -0 complete_line edit g1 s1 --rename ""
    assert_output ""
    run -0 complete_line edit g1 s1 -d ""
    assert_output ""
    run -0 complete_line edit g1 s1 ""
    assert_output ""
    run -0 complete_line edit g1 s1 --
    assert_output "$(printf '%s\n' --description --help --json --rename)"
    run -0 complete_line create --h
    assert_output "$(printf '%s\n' --halt --help)"
}
