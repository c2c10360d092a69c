#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# create --pre-hook / --post-hook, on the host: a stopped domain known
# from its records, the real binary and real qemu-img (the running-guest
# proof is tests/e2e/36-progress-hooks.bats).
load helpers

# hook NAME: a hook script that logs its phase and environment, and
# whether the snapshot exists in the image at that moment
hook() {
    cat > "$BATS_TEST_TMPDIR/$1" <<H
#!/bin/sh
echo "\$XL_SNAPSHOT_HOOK dom=\$XL_SNAPSHOT_DOMAIN uuid=\$XL_SNAPSHOT_DOMAIN_UUID snap=\$XL_SNAPSHOT_NAME result=\${XL_SNAPSHOT_RESULT-unset} in-image=\$(qemu-img snapshot -l '$IMG' | grep -c " \$XL_SNAPSHOT_NAME ")" >> "$BATS_TEST_TMPDIR/log"
echo "hook output"
exit \${HOOK_EXIT:-0}
H
    chmod +x "$BATS_TEST_TMPDIR/$1"
}

@test "create runs the pre-hook before the snapshot and the post-hook after it, with the documented environment" {
    setup_images
    hook h
    run -0 xs create -n s1 --pre-hook "$BATS_TEST_TMPDIR/h" --post-hook "$BATS_TEST_TMPDIR/h" g1
    assert_line "Snapshot 's1' of domain 'g1' created (internal, disks only)."
    run -0 cat "$BATS_TEST_TMPDIR/log"
    assert_output "pre dom=g1 uuid=$UUID snap=s1 result=unset in-image=0
post dom=g1 uuid=$UUID snap=s1 result=ok in-image=1"
}

@test "a hook's output goes to stderr: --json stays parseable; -N runs no hook" {
    setup_images
    hook h
    run -0 --separate-stderr xs create -n s1 --json --pre-hook "$BATS_TEST_TMPDIR/h" g1
    run -0 json_get 'd["name"]' <<< "$output"
    assert_output s1
    run -0 xs create -n s2 -N --pre-hook "$BATS_TEST_TMPDIR/h" --post-hook "$BATS_TEST_TMPDIR/h" g1
    [ "$(wc -l < "$BATS_TEST_TMPDIR/log")" = 1 ]
}

@test "a failing pre-hook takes no snapshot, says so, and the post-hook still runs" {
    setup_images
    hook h
    run -1 env HOOK_EXIT=3 "$XS" create -n s1 --pre-hook "$BATS_TEST_TMPDIR/h" --post-hook 'echo "post $XL_SNAPSHOT_RESULT" >> '"$BATS_TEST_TMPDIR/log" g1
    assert_line "xl-snapshot: cannot create snapshot 's1': the pre-hook exited with status 3; no snapshot was taken"
    run -0 tail -n 1 "$BATS_TEST_TMPDIR/log"
    assert_output "post failed"
    run -0 qemu-img snapshot -l "$IMG"
    refute_output --partial " s1 "
    run -1 xs info g1 s1
    run -0 xs current g1
    assert_output base
}

@test "a failed snapshot still runs the post-hook, told so; a failing post-hook is an error" {
    setup_images
    hook h
    run -0 xs create -n s1 g1
    run -1 xs create -n s1 --post-hook "$BATS_TEST_TMPDIR/h" g1
    assert_line --partial "xl-snapshot: cannot create snapshot 's1': "
    run -0 cat "$BATS_TEST_TMPDIR/log"
    assert_output "post dom=g1 uuid=$UUID snap=s1 result=failed in-image=1"
    # the snapshot is taken, but the admin must hear that the thaw failed
    run -1 env HOOK_EXIT=4 "$XS" create -n s2 --post-hook "$BATS_TEST_TMPDIR/h" g1
    assert_line "xl-snapshot: snapshot 's2' was created, but the post-hook exited with status 4"
    assert_line "Snapshot 's2' of domain 'g1' created (internal, disks only)."
    run -0 xs current g1
    assert_output s2
}

@test "without -n the hooks are told the name the snapshot gets" {
    setup_images
    hook h
    run -0 xs create --pre-hook "$BATS_TEST_TMPDIR/h" --post-hook "$BATS_TEST_TMPDIR/h" g1
    name=$(xs current g1)
    [[ $name =~ ^[0-9]{10}$ ]]
    run -0 cut -d' ' -f4 "$BATS_TEST_TMPDIR/log"
    assert_output "snap=$name
snap=$name"
}

@test "a snapshot config file cannot name a hook: it never makes xl-snapshot run a command" {
    setup_images
    printf 'name = "s1"\npre_hook = "touch %s/pwned"\n' "$BATS_TEST_TMPDIR" > "$BATS_TEST_TMPDIR/s.cfg"
    run -1 xs create g1 "$BATS_TEST_TMPDIR/s.cfg"
    assert_output --partial "unknown setting 'pre_hook'"
    [ ! -e "$BATS_TEST_TMPDIR/pwned" ]
}
