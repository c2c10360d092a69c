#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The man pages cover what the code has: every command of the dispatch
# table (xl-snapshot/cmdtable.c) with every option of its option text,
# the global options, the environment variables the code reads, every
# key of the snapshot config file; man -l renders both pages cleanly.
load helpers

PAGE1=$REPO/man/xl-snapshot.1.pod
PAGE5=$REPO/man/xl-snapshot.conf.5.pod

# The command names of the dispatch table, read from its source.
table_commands() {
    sed -n 's/^ *\.name = "\([a-z-]*\)".*/\1/p' "$REPO/xl-snapshot/cmdtable.c"
}

# man_section CMD: the text of the =item of CMD in xl-snapshot(1), up to
# the =item of the next command or the next =head1.
man_section() {
    awk -v cmd="$1" -v cmds=" $(table_commands | tr '\n' ' ') " '
        /^=head1/ { on = 0 }
        /^=item B<[a-z-]+>/ {
            c = $2; sub(/^B</, "", c); sub(/>.*/, "", c)
            if (index(cmds, " " c " ")) on = (c == cmd)
        }
        on' "$PAGE1"
}

@test "the command table parses (test self-check)" {
    run -0 table_commands
    [ "${#lines[@]}" -ge 9 ]
    assert_line create
    assert_line check-config
}

@test "every command of the dispatch table is in help, help --commands and the man page" {
    run -0 xs help
    local out=$output
    for c in $(table_commands); do
        grep -qE "^  $c +[A-Z]" <<< "$out" || fail "'$c' is missing from 'xl-snapshot help'"
        xs help --commands | grep -qx "$c" || fail "'$c' is missing from 'help --commands'"
        grep -q "^=item B<$c>" "$PAGE1" || fail "'$c' is missing from xl-snapshot(1)"
    done
}

@test "every option of every command is in the command's part of the man page" {
    for c in $(table_commands); do
        local sect
        sect=$(man_section "$c")
        [ -n "$sect" ] || fail "no section for '$c' in xl-snapshot(1)"
        run -0 xs help --options "$c"
        assert_line -- "--help"
        for o in $(awk '{ print $1 }' <<< "$output"); do
            case $o in -h|--help) continue ;; esac
            grep -qF "B<$o>" <<< "$sect" ||
                fail "option $o of '$c' is missing from its part of xl-snapshot(1)"
        done
    done
}

@test "every global option is under GLOBAL OPTIONS" {
    local sect
    sect=$(awk '/^=head1 /{ on = ($0 == "=head1 GLOBAL OPTIONS") } on' "$PAGE1")
    run -0 xs help --options
    assert_line -- "--state-dir DIR"
    for o in $(awk '{ print $1 }' <<< "$output"); do
        grep -qF "B<$o>" <<< "$sect" || fail "global option $o is missing from xl-snapshot(1)"
    done
}

@test "xl-snapshot(1) has the sections an admin looks for" {
    for h in NAME SYNOPSIS DESCRIPTION "GLOBAL OPTIONS" COMMANDS FILES \
             ENVIRONMENT "EXIT STATUS" EXAMPLES "SEE ALSO"; do
        grep -qx "=head1 $h" "$PAGE1" || fail "no $h section"
    done
    run -0 awk '/^=head1 /{ on = ($0 == "=head1 SEE ALSO") } on' "$PAGE1"
    assert_output --partial "L<xl(1)>"
    assert_output --partial "L<xl.cfg(5)>"
    assert_output --partial "L<xl-snapshot.conf(5)>"
    run -0 awk '/^=head1 /{ on = ($0 == "=head1 EXIT STATUS") } on' "$PAGE1"
    assert_output --regexp "exits 0 on success, 1 when .*, and 2 on"
}

@test "every environment variable the code reads is under ENVIRONMENT" {
    local sect vars
    sect=$(awk '/^=head1 /{ on = ($0 == "=head1 ENVIRONMENT") } on' "$PAGE1")
    vars=$(grep -rhoE 'getenv\("[A-Z_]+"\)' "$REPO/libxlsnap" "$REPO/xl-snapshot" |
           sed 's/getenv("\(.*\)")/\1/' | sort -u)
    [ -n "$vars" ]
    for v in $vars; do
        grep -qE "^=item .*B<$v>" <<< "$sect" || fail "$v is missing from ENVIRONMENT"
    done
}

@test "every key of the snapshot config file is in xl-snapshot.conf(5)" {
    local keys
    keys=$(grep -oE 'xlu_cfg_get_[a-z]+\(cfg, "[a-z_]+"' "$REPO/libxlsnap/model/config.c" |
           sed 's/.*"\(.*\)"/\1/' | sort -u)
    [ -n "$keys" ]
    for k in $keys; do
        grep -q "^=item B<$k=" "$PAGE5" || fail "config key $k is missing from xl-snapshot.conf(5)"
    done
    for h in NAME SYNOPSIS DESCRIPTION SETTINGS EXAMPLES "SEE ALSO"; do
        grep -qx "=head1 $h" "$PAGE5" || fail "no $h section in xl-snapshot.conf(5)"
    done
}

@test "man -l renders both pages without warnings" {
    command -v man >/dev/null || skip "man-db not installed"
    run -0 make -C "$REPO/man" BUILD="$BATS_TEST_TMPDIR/man"
    for p in xl-snapshot.1 xl-snapshot.conf.5; do
        run -0 env MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -E UTF-8 -l \
            "$BATS_TEST_TMPDIR/man/$p"
        assert_output --partial "NAME"
        assert_output --partial "SEE ALSO"
        run -0 bash -c "MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -E UTF-8 -l '$BATS_TEST_TMPDIR/man/$p' 2>&1 >/dev/null"
        assert_output ""
    done
    run -0 env MANWIDTH=80 man -l "$BATS_TEST_TMPDIR/man/xl-snapshot.1"
    assert_output --partial "EXIT STATUS"
    assert_output --partial "--domains"
}
