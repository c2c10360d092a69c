#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Crash safety on real Xen, not at a fault point: `xl-snapshot create`
# of a memory snapshot is killed (SIGKILL) half-way through the memory
# save stream, when the memory image has grown past a few MiB.  `check`
# finds the interrupted create, `check --repair` leaves the guest
# running (or cleanly stopped), never lists the half image as ready,
# and a second `check` finds no problems.  One guest boot.

load 'lib/e2e'
load 'lib/snap'

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-62
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show k1
}

@test "create with memory killed half-way through the save stream: check --repair never makes the half image ready" {
    e2e_start_guest k1 pv 1 >/dev/null
    e2e_wait_counter_above k1 10 >/dev/null
    uuid=$(uuid_of k1)
    mem=$XL_SNAPSHOT_DIR/$uuid/half/memory.save
    out=$E2E_WORK/kill-save.out
    want=$((8 << 20))
    xl-snapshot create -n half k1 > "$out" 2>&1 3>&- &
    pid=$!
    size=0
    deadline=$((SECONDS + 120))
    while :; do
        size=$(stat -c %s "$mem" 2>/dev/null || echo 0)
        [ "$size" -lt "$want" ] || break
        if ! kill -0 $pid 2>/dev/null; then
            cat "$out" >&2
            echo "create ended before the memory image reached $want bytes ($size)" >&2
            return 1
        fi
        [ $SECONDS -lt $deadline ] || { echo "the memory image stayed at $size bytes" >&2; return 1; }
        e2e_sleep 0.02
    done
    kill -KILL $pid
    rc=0
    wait $pid || rc=$?
    [ "$rc" = 137 ]
    e2e_log "[$SECONDS s] create killed with the memory image at $size bytes: $(cat "$out" | tr '\n' ' ')"
    # a save helper the tool left may still be writing: let it end
    for _ in $(seq 1 150); do
        pgrep -x libxl-save-hel >/dev/null 2>&1 || break
        e2e_sleep 0.2
    done
    e2e_log "[$SECONDS s] after the kill: image $(stat -c %s "$mem" 2>/dev/null || echo gone) bytes, k1 $(e2e_domain_state k1)"

    # the interrupted create is found, and repaired
    run -1 xls check k1
    e2e_log "[$SECONDS s] check: ${output//$'\n'/ | }"
    assert_output --partial "snapshot 'half' is incomplete"
    run -0 xls check --repair k1
    e2e_log "[$SECONDS s] repair: ${output//$'\n'/ | }"
    refute_output --partial "completed: 'half' is ready"
    run -0 xls check k1
    assert_output "No problems found."

    # no half image is listed as ready: the snapshot is gone, and so is
    # its memory image
    run -0 xl-snapshot list --names k1
    refute_output --partial half
    [ ! -e "$mem" ]
    [ ! -e "$XL_SNAPSHOT_DIR/$uuid/half" ]

    # the guest runs on (or was stopped cleanly)
    st=$(e2e_domain_state k1)
    e2e_log "[$SECONDS s] k1 is $st"
    case $st in
    running) runs_on k1 ;;
    gone) ;;
    *) echo "k1 is $st" >&2; return 1 ;;
    esac
}
