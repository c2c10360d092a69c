#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The e2e runner inside dom0 (tests/e2e/lib/dom0-run-tests.sh), on the
# host: a failed file is run once more ONLY when Xen's console proves the
# emulator killed a guest (a triple fault whose guest state holds Xen's own
# CS:RIP), never for a guest's own fault, never for a boot the harness
# already retried, never twice.  The Xen console text in tests/bats/data/
# is from real runs (CI of 2026-12-04: d78 died with Xen's RIP while
# 50-pvh.bats ran; d67 triple-faulted in its own kernel code).  Stand-ins
# for `bats` and `xl` play the file's attempts: this tests the runner only.
load helpers

setup() {
    export DOM0_SHARE=$BATS_TEST_TMPDIR/share DOM0_WORK=$BATS_TEST_TMPDIR/work
    export FAKE=$BATS_TEST_TMPDIR/fake DATA=$REPO/tests/bats/data
    mkdir -p "$DOM0_SHARE/tests" "$DOM0_SHARE/results" "$FAKE/bin"
    echo t1.bats > "$DOM0_SHARE/tests/.order"
    : > "$DOM0_SHARE/tests/t1.bats"
    # bats: attempt N prints $FAKE/tap.N and appends $FAKE/xen.N to Xen's
    # console (and $FAKE/retry.N to the boot retries)
    cat > "$FAKE/bin/bats" <<'B'
#!/bin/bash
n=$(( $(cat "$FAKE/attempts" 2>/dev/null || echo 0) + 1 )); echo $n > "$FAKE/attempts"
[ -f "$FAKE/xen.$n" ] && cat "$FAKE/xen.$n" >> "$FAKE/dmesg"
[ -f "$FAKE/retry.$n" ] && cat "$FAKE/retry.$n" >> "$DOM0_SHARE/results/boot-retries.txt"
cat "$FAKE/tap.$n"
grep -q '^not ok' "$FAKE/tap.$n" && exit 1
exit 0
B
    cat > "$FAKE/bin/xl" <<'X'
#!/bin/bash
case "$1 ${2:-}" in
"dmesg -c") : > "$FAKE/dmesg" ;;
"dmesg "*) cat "$FAKE/dmesg" 2>/dev/null ;;
"list "*) echo "Name ID Mem VCPUs State Time(s)"; echo "Domain-0 0 1024 2 r----- 1.0" ;;
esac
X
    chmod +x "$FAKE/bin/bats" "$FAKE/bin/xl"
    export PATH="$FAKE/bin:$PATH"
    printf '1..2\nok 1 a\nok 2 b\n' > "$FAKE/tap.2"
}

runner() {
    run bash "$REPO/tests/e2e/lib/dom0-run-tests.sh"
    # the TAP stream as the host sees it
    tap=$(sed 's/^@@TAP@@ [0-9]* [0-9]* //' <<< "$output")
}

# stays_failed TAPLINE: the runner ran the file once and reported TAPLINE.
stays_failed() {
    runner
    assert_failure
    [ "$(cat "$FAKE/attempts")" = 1 ]
    grep -qx "$1" <<< "$tap"
    ! grep -q "e2e-rerun" <<< "$tap"
    [ ! -e "$DOM0_SHARE/results/file-reruns.txt" ]
}

@test "the emulator's fingerprint in Xen's console: only a triple fault with Xen's own CS:RIP" {
    . "$REPO/tests/e2e/lib/xen-evidence.sh"
    run e2e_emulator_faults < "$DATA/xen-emulator-fault.txt"
    assert_output "78 e008:[<ffff82d0402044a5>]"
    run e2e_emulator_faults < "$DATA/xen-guest-fault.txt"
    assert_output ""
    run e2e_retried_domids <<< "50-pvh.bats pvx reset while booting (domid 72 -> 73)"
    assert_output 72
}

@test "a file that failed while the emulator killed a guest is run once more, and says so" {
    printf '1..2\nok 1 a\nnot ok 2 b\n# create failed\n' > "$FAKE/tap.1"
    cp "$DATA/xen-emulator-fault.txt" "$FAKE/xen.1"
    runner
    assert_success
    [ "$(cat "$FAKE/attempts")" = 2 ]
    grep -qx "ok 1 e2e/t1.bats: a" <<< "$tap"
    grep -qx "ok 2 e2e/t1.bats: b" <<< "$tap"
    ! grep -q "^not ok" <<< "$tap"
    grep -q "^# e2e-rerun: e2e/t1.bats failed (1 of 2 tests" <<< "$tap"
    grep -q "^# e2e-rerun:   xen: d78 triple fault with Xen's own CS:RIP e008:\[<ffff82d0402044a5>\]" <<< "$tap"
    grep -q "^# e2e-rerun:   first attempt: not ok 2 b" <<< "$tap"
    grep -q "^# e2e/t1.bats: 2 results, 0 failed" <<< "$tap"
    [ "$(wc -l < "$DOM0_SHARE/results/file-reruns.txt")" = 1 ]
}

@test "a guest's own triple fault does not make a failed file run again" {
    printf '1..2\nok 1 a\nnot ok 2 b\n' > "$FAKE/tap.1"
    cp "$DATA/xen-guest-fault.txt" "$FAKE/xen.1"
    stays_failed "not ok 2 e2e/t1.bats: b"
}

@test "a failure without any fault in Xen's console stays a failure" {
    printf '1..2\nnot ok 1 a\nok 2 b\n' > "$FAKE/tap.1"
    stays_failed "not ok 1 e2e/t1.bats: a"
}

@test "the emulator fault of a boot the harness already retried does not excuse a failure" {
    printf '1..2\nok 1 a\nnot ok 2 b\n' > "$FAKE/tap.1"
    cp "$DATA/xen-emulator-fault.txt" "$FAKE/xen.1"
    echo "t1.bats pvx reset while booting (domid 78 -> 79)" > "$FAKE/retry.1"
    stays_failed "not ok 2 e2e/t1.bats: b"
}

@test "a file is run again at most once: a second failure is reported" {
    printf '1..2\nok 1 a\nnot ok 2 b\n' > "$FAKE/tap.1"
    printf '1..2\nok 1 a\nnot ok 2 b\n' > "$FAKE/tap.2"
    cp "$DATA/xen-emulator-fault.txt" "$FAKE/xen.1"
    cp "$DATA/xen-emulator-fault.txt" "$FAKE/xen.2"
    runner
    assert_failure
    [ "$(cat "$FAKE/attempts")" = 2 ]
    grep -qx "not ok 2 e2e/t1.bats: b" <<< "$tap"
    [ "$(grep -c "^# e2e-rerun: e2e/t1.bats failed" <<< "$tap")" = 1 ]
}

@test "a file that passed is never run again, whatever Xen's console says" {
    printf '1..2\nok 1 a\nok 2 b\n' > "$FAKE/tap.1"
    cp "$DATA/xen-emulator-fault.txt" "$FAKE/xen.1"
    runner
    assert_success
    [ "$(cat "$FAKE/attempts")" = 1 ]
}

@test "a run without any boot retry says nothing about the retry list it has not got" {
    # CI of 2026-12-05 printed "boot-retries.txt: No such file or directory"
    # before every file of a run in which no boot had to be retried
    printf '1..2\nok 1 a\nok 2 b\n' > "$FAKE/tap.1"
    runner
    assert_success
    refute_output --partial "No such file"
    [ ! -e "$DOM0_SHARE/results/boot-retries.txt" ]
}

@test "E2E_BATS_FILTER_TAGS (the second Xen's pass: '!beyond-core'): tagged tests are not run, the others are numbered on" {
    # the real bats this time: the tag filter is bats' own
    rm "$FAKE/bin/bats"
    printf '%s\n' '@test "a" { :; }' '# bats test_tags=beyond-core' '@test "b" { :; }' \
        '@test "c" { :; }' > "$DOM0_SHARE/tests/t1.bats"
    E2E_BATS_FILTER_TAGS='!beyond-core' runner
    assert_success
    run -0 grep -E '^(not )?ok ' <<< "$tap"
    assert_output "$(printf 'ok 1 e2e/t1.bats: a\nok 2 e2e/t1.bats: c')"
    # without it (the first Xen, make e2e-4.20): every test
    E2E_BATS_FILTER_TAGS= runner
    assert_success
    run -0 grep -E '^(not )?ok ' <<< "$tap"
    assert_output "$(printf 'ok 1 e2e/t1.bats: a\nok 2 e2e/t1.bats: b\nok 3 e2e/t1.bats: c')"
}
