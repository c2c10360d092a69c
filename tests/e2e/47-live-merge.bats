#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Live merge of external snapshots (issue 18): a running, ticking guest
# with an external chain of four; delete a middle one, the oldest and the
# one under the active layer while it ticks.  One guest, booted once
# (plus one reboot that proves the merged chain on disk).

load 'lib/e2e'
load 'lib/snap'

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-47
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show lm1
}

# chain_files IMAGE: the files of IMAGE's backing chain, top first
chain_files() {
    qemu-img info -U -f qcow2 --backing-chain --output=json "$1" | jq -r '.[].filename'
}

# delete_ticking DOMAIN SNAP: delete SNAP while sampling the guest's
# ticks; prints "took T s, longest tick gap G s"
delete_ticking() {
    local dom=$1 snap=$2 out=$E2E_WORK/del.$$ c last now t0 gap=0 pid
    xl-snapshot delete "$dom" "$snap" > "$out" 2>&1 3>&- &
    pid=$!
    t0=$(date +%s.%N)
    last=$t0
    c=$(e2e_guest_counter "$dom")
    while kill -0 $pid 2>/dev/null; do
        now=$(date +%s.%N)
        if [ "$(e2e_guest_counter "$dom")" != "$c" ]; then
            c=$(e2e_guest_counter "$dom")
            last=$now
        fi
        gap=$(awk -v n="$now" -v l="$last" -v g="$gap" 'BEGIN { d = n - l; print (d > g ? d : g) }')
        sleep 0.1
    done
    wait $pid || { cat "$out"; return 1; }
    cat "$out"
    echo "took $(awk -v n="$(date +%s.%N)" -v t="$t0" 'BEGIN { printf "%.1f", n - t }') s, longest tick gap $(printf '%.1f' "$gap") s"
    rm -f "$out"
}

@test "live merge: a middle, the oldest and the one under the active layer go while the guest ticks; the rest revert exactly" {
    t0=$SECONDS
    e2e_start_guest lm1 pv 1 >/dev/null
    base=$(e2e_guest_disk lm1)
    dir=$(e2e_guest_dir lm1)
    e2e_log "# guest booted in $((SECONDS - t0)) s"
    declare -A sum file
    for s in s1 s2 s3 s4; do
        e2e_wait_counter_above lm1 $(( $(e2e_guest_counter lm1) + 6 )) >/dev/null
        run -0 xls create --external --disk-only -n $s lm1
        file[$s]=$(xl-snapshot info --json lm1 $s | jq -r '.disks[0].backing')
        sum[$s]=$(image_sum "${file[$s]}")
        e2e_log "$s: ${file[$s]} sum ${sum[$s]}"
    done
    run -0 chain_files "$base"
    e2e_log "chain before: ${output//$'\n'/ <- }"
    n0=${#lines[@]}
    [ "$n0" = 5 ]
    used0=$(du -sB1 "$dir" | cut -f1)
    e2e_log "# chain of four made at $((SECONDS - t0)) s"

    # a middle one: its layer is folded into s3's (rewritten beside)
    run -0 delete_ticking lm1 s2
    e2e_log "delete s2 (middle): $output"
    [ ! -e "${file[s2]}" ]
    # the oldest: its layer is the original image, kept (as offline)
    run -0 delete_ticking lm1 s1
    e2e_log "delete s1 (oldest): $output"
    # the one under the active layer: block-stream into the active layer
    run -0 delete_ticking lm1 s4
    e2e_log "delete s4 (under the active layer): $output"
    [ ! -e "${file[s4]}" ]
    runs_on lm1

    run -0 xls list --tree lm1
    assert_output "s3 *"
    run -0 chain_files "$base"
    e2e_log "chain after: ${output//$'\n'/ <- }"
    [ "${#lines[@]}" = $((n0 - 2)) ]
    refute_output --partial "${file[s2]}"
    refute_output --partial "${file[s4]}"
    [ "${lines[1]}" = "${file[s3]}" ]
    used1=$(du -sB1 "$dir" | cut -f1)
    e2e_log "# bytes freed in the guest's directory: $((used0 - used1)) ($used0 -> $used1; QEMU frees the rewritten layer's old blocks when it closes them)"
    # the data of the remaining snapshot, read from the files
    [ "$(image_sum "${file[s3]}")" = "${sum[s3]}" ]
    run -0 xls check lm1
    assert_output "No problems found."
    e2e_log "# merges done at $((SECONDS - t0)) s"

    echo "${sum[s3]}" > "$E2E_WORK/lm1.s3.sum"
    e2e_log "# done in $((SECONDS - t0)) s"
}

@test "a delete killed after QEMU's merge job started: check sees the job, --repair finishes the merge" {
    t0=$SECONDS
    base=$(e2e_guest_disk lm1)
    e2e_wait_counter_above lm1 $(( $(e2e_guest_counter lm1) + 4 )) >/dev/null
    run -0 xls create --external --disk-only -n s5 lm1
    f5=$(xl-snapshot info --json lm1 s5 | jq -r '.disks[0].backing')
    before=$(chain_files "$base" | wc -l)
    kill_at merge-started delete lm1 s5
    run -1 xls check lm1
    e2e_log "check: ${output//$'\n'/ | }"
    assert_output --regexp "the live merge of snapshot 's5' \(QEMU job xlsnap-merge-xvda-[0-9a-f]+\) (is still running|completed)"
    run -0 xls check --repair lm1
    e2e_log "repair: ${output//$'\n'/ | }"
    run -0 xls check lm1
    assert_output "No problems found."
    [ ! -e "$f5" ]
    [ "$(chain_files "$base" | wc -l)" = $((before - 1)) ]
    run -0 xls list --names lm1
    refute_output --partial s5
    runs_on lm1
    e2e_log "# done in $((SECONDS - t0)) s"
}

@test "after the merges the guest's data is exact (a reboot reads the merged chain) and the rest revert exactly" {
    t0=$SECONDS
    base=$(e2e_guest_disk lm1)
    f3=$(xl-snapshot info --json lm1 s3 | jq -r '.disks[0].backing')
    t=$(e2e_wait_counter_above lm1 $(( $(e2e_guest_counter lm1) + 3 )))
    mark=$(log_mark lm1)
    xl reboot lm1
    b=$(boot_counter_after lm1 "$mark")
    e2e_log "tick $t before the reboot, booted with disk counter $b"
    [ "$b" -ge "$t" ]
    domid=$(e2e_domid lm1)
    run -0 xenstore-read "/local/domain/0/backend/qdisk/$domid/51712/params"
    assert_output "qcow2:$base"
    e2e_log "# rebooted in $((SECONDS - t0)) s"
    # the remaining snapshot reverts to exactly its data
    run -0 xls revert --force --paused lm1 s3
    got=$(image_sum "$(active_disk lm1)")
    want=$(cat "$E2E_WORK/lm1.s3.sum")
    e2e_log "revert s3: sum $got (snapshot $want)"
    [ "$got" = "$want" ]
    xl destroy lm1
    e2e_log "# done in $((SECONDS - t0)) s"
}
