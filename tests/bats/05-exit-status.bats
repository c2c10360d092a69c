#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Exit status 0 / 1 / 2 (xl-snapshot(1) EXIT STATUS) for every command of
# the table, and the global -q/--quiet option.
load helpers

# fail_args CMD: arguments with which CMD must fail (exit 1) on a state
# dir holding the chain s0 -> s1 -> s2 of g1 and no hypervisor.
fail_args() {
    case $1 in
    help) return 1 ;;                   # help cannot fail but by usage
    create|list) echo nosuchdomain ;;
    info|revert|delete|parent) echo g1 nosuchsnap ;;
    current) echo g1 nosuchsnap ;;
    edit) echo --rename x g1 nosuchsnap ;;
    check-config) echo /nonexistent/snap.cfg ;;
    export) echo g1 nosuchsnap "$BATS_TEST_TMPDIR/bundle" ;;
    import) echo "$BATS_TEST_TMPDIR/nosuchbundle" ;;
    redefine) echo g1 /nonexistent/record.json ;;
    prune) echo --keep-last 1 nosuchdomain ;;
    check) echo nosuchdomain ;;
    *) echo "no failure case for '$1' in ${BATS_TEST_FILENAME##*/}: add one" >&2
       return 2 ;;
    esac
}

@test "every command: -h exits 0, an unknown option 2, a failure 1" {
    mkchain
    for c in $(xs help --commands); do
        run -0 xs "$c" -h
        run -0 xs help "$c"
        run -2 xs "$c" --no-such-option
        assert_output --partial "$c: unknown option '--no-such-option'"
        assert_output --partial "Usage: xl-snapshot"
        local rc=0 args
        args=$(fail_args "$c") || rc=$?
        [ "$rc" != 2 ] || fail "$(fail_args "$c" 2>&1)"
        [ "$rc" = 0 ] || continue
        # shellcheck disable=SC2086
        run -1 xs "$c" $args
        assert_output --regexp "^xl-snapshot: (cannot|.*:)"
        refute_output --partial "Usage:"
    done
}

@test "exit 1 for 'current' without one and for 'parent' of a root" {
    mkrecord s0 - 1764000000 false
    run -1 xs current g1
    run -1 xs parent g1 s0
    run -0 xs current g1 s0
    run -0 xs current g1
    assert_output s0
}

@test "exit 2 for usage errors of the global options" {
    run -2 xs -S
    assert_output --partial "needs a directory"
    run -2 xs -S "" list g1
    run -2 xs --no-such-global list g1
    run -2 xs help no-such-command
}

@test "-q and --quiet are global options; read commands print the same" {
    mkchain
    local plain
    plain=$(xs list g1)
    run -0 xs -q list g1
    assert_output "$plain"
    run -0 xs --quiet -v list g1
    assert_output "$plain"
    run -2 xs list -q g1                 # global, not a list option
}

@test "on a TTY a read command writes no progress or control characters" {
    command -v script >/dev/null || skip "no script(1)"
    mkchain
    run -0 script -qec "$XS list g1" /dev/null
    # the TTY turns \n into \r\n; nothing else may add a \r or escape
    local out=${output//$'\r\n'/$'\n'}
    out=${out%$'\r'}
    [[ $out != *$'\r'* && $out != *$'\e'* ]] || fail "control characters: $(cat -A <<< "$output")"
    assert_output --partial "s2"
    run -0 script -qec "$XS list --domains" /dev/null
    assert_output --partial g1
}
