#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The command line itself: help, version, usage errors, exit codes.
load helpers

@test "--version prints the version and exits 0" {
    run -0 xs --version
    assert_output --regexp '^xl-snapshot [0-9]+\.[0-9]+\.[0-9]+ '
}

# The libxenlight file the dynamic linker picks for the binary, as
# ldd says (.../libxenlight.so.4.17 -> libxenlight.so.4.17.0).
loaded_libxl() {
    ldd "$XS" | awk '$1 ~ /^libxenlight\.so/ { print $3 }'
}

@test "--version names the libxenlight it runs with and the one it was built against" {
    local built lib ver
    built=$(pkg-config --modversion xenlight)
    lib=$(loaded_libxl)
    [ -n "$lib" ] || fail "ldd shows no libxenlight for $XS"
    ver=$(basename "$(readlink -f "$lib")")
    ver=${ver#libxenlight.so.}
    run -0 xs --version
    assert_output "xl-snapshot 0.1.0 (libxlsnap 0.1.0, libxenlight $ver; built against libxenlight $built)"
}

@test "--version's libxenlight is the file loaded at run time, not a built-in string" {
    local lib dir=$BATS_TEST_TMPDIR/lib soname
    lib=$(loaded_libxl)
    [ -n "$lib" ] || fail "ldd shows no libxenlight for $XS"
    soname=$(basename "$lib")
    mkdir "$dir"
    # the same library as another (made-up) release of it
    cp "$(readlink -f "$lib")" "$dir/libxenlight.so.9.99.7"
    ln -s libxenlight.so.9.99.7 "$dir/$soname"
    LD_LIBRARY_PATH=$dir run -0 xs --version
    assert_output --regexp "\(libxlsnap [0-9.]+, libxenlight 9\.99\.7; built against libxenlight $(pkg-config --modversion xenlight)\)\$"
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

@test "a mistyped command gets 'did you mean', a far one the pointer to help" {
    run -2 xs crate web1
    assert_output "xl-snapshot: 'crate' is not an xl-snapshot command; did you mean 'create'?"
    run -2 xs exprot web1 s1 /tmp/b
    assert_output "xl-snapshot: 'exprot' is not an xl-snapshot command; did you mean 'export'?"
    run -2 xs lst
    assert_output "xl-snapshot: 'lst' is not an xl-snapshot command; did you mean 'list'?"
    run -2 xs del web1 s1
    assert_output "xl-snapshot: 'del' is not an xl-snapshot command; did you mean 'delete'?"
    run -2 xs help revrt
    assert_output "xl-snapshot: 'revrt' is not an xl-snapshot command; did you mean 'revert'?"
    run -2 xs frobnicate
    assert_output "xl-snapshot: 'frobnicate' is not an xl-snapshot command; see 'xl-snapshot help'"
}

@test "create of an unknown domain names the domain, not a snapshot" {
    run -1 xs create web1
    assert_output "xl-snapshot: cannot snapshot domain 'web1': no domain 'web1' (not running here, and no snapshots recorded under that name in $STATE)"
    run -1 xs create -n s1 web1
    assert_output --partial "xl-snapshot: cannot create snapshot 's1': no domain 'web1'"
    # a failure after the domain is found: still no snapshot 'g1'
    setup_images
    rm "$DATA"
    run -1 xs create g1
    assert_output --regexp "^xl-snapshot: cannot snapshot domain 'g1': "
    refute_output --partial "snapshot 'g1'"
}

@test "prune with a count of 0 says that 0 keeps nothing" {
    mkchain
    run -2 xs prune --keep-last 0 g1
    assert_output "xl-snapshot: prune: --keep-last 0 keeps no snapshot: give a count of at least 1 (to delete snapshots, use 'delete')"
    run -2 xs prune g1 --keep-daily 0
    assert_output --partial "prune: --keep-daily 0 keeps no snapshot"
    run -2 xs prune g1
    assert_output --partial "prune: give --keep-last, --keep-daily or --keep-weekly"
    run -0 xs list --names g1
    assert_output "s0
s1
s2"
}
