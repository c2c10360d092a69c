#!/usr/bin/env bats
# The command line itself: help, version, usage errors, exit codes.
load helpers

@test "--version prints the version and exits 0" {
    run -0 xs --version
    assert_output --regexp '^xl-snapshot [0-9]+\.[0-9]+\.[0-9]+ '
}

@test "help lists every command of the table" {
    run -0 xs help
    assert_output --partial "Usage: xl-snapshot"
    for c in $(xs help --commands); do
        assert_output --regexp "  $c +[A-Z]"
    done
}

@test "help and --help work without a hypervisor or state dir" {
    XL_SNAPSHOT_DIR=/nonexistent/dir run -0 xs --help
    run -0 xs -S /nonexistent help list
    assert_output --partial "Usage: xl-snapshot [-v] [-S DIR] list"
}

@test "every command has -h and it exits 0" {
    for c in $(xs help --commands); do
        run -0 xs "$c" -h
        assert_output --partial "xl-snapshot [-v] [-S DIR] $c "
    done
}

@test "every command of the table is documented in the man page" {
    for c in $(xs help --commands); do
        grep -q "^=item B<$c>" "$REPO/man/xl-snapshot.1.pod" ||
            fail "command '$c' is missing from man/xl-snapshot.1.pod"
    done
}

@test "no command exits 2 with usage" {
    run -2 xs
    assert_output --partial "Usage: xl-snapshot"
}

@test "unknown command exits 2 with a clear message" {
    run -2 xs frobnicate
    assert_output --partial "xl-snapshot: 'frobnicate' is not an xl-snapshot command"
}

@test "unknown option exits 2" {
    run -2 xs list --bogus g1
    assert_output --partial "unknown option '--bogus'"
    run -2 xs -Q list g1
}

@test "missing and extra arguments exit 2" {
    run -2 xs list
    assert_output --partial "missing arguments"
    run -2 xs info g1
    run -2 xs info g1 s1 extra
    assert_output --partial "too many arguments"
    run -2 xs list --parent
    assert_output --partial "needs an argument"
}

@test "conflicting list filters exit 2" {
    run -2 xs list --roots --leaves g1
    run -2 xs list --tree --roots g1
    run -2 xs list --json --names g1
}
