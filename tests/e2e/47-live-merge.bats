#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Live merge of external snapshots (issue 18): a running, ticking guest
# with an external chain of six taken while it runs (QEMU has every
# layer's own file open); delete the one under the active layer
# (streamed into the active layer) and a middle one (QEMU streams its
# layer into the frozen layer above) before a reboot, the oldest (the
# original image: kept, as offline) and the one under the active layer
# after it, while it ticks; then one more killed after QEMU's job
# started (check --repair).  The remaining snapshot reverts exactly, the
# guest's current data is exact.  One guest, two boots.

load 'lib/e2e'
load 'lib/snap'

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-47
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show lm1 lm2
}

@test "live merge: the middle one, the oldest and the one under the active layer go while the guest ticks" {
    t0=$SECONDS
    e2e_start_guest lm1 pv 1 >/dev/null
    base=$(e2e_guest_disk lm1)
    dir=$(e2e_guest_dir lm1)
    e2e_log "# guest booted in $((SECONDS - t0)) s"
    declare -A sum file
    for s in s1 s2 s3 s4 s5; do
        e2e_wait_counter_above lm1 $(( $(e2e_guest_counter lm1) + 2 )) >/dev/null
        run -0 xls create --external --disk-only -n $s lm1
        file[$s]=$(xl-snapshot info --json lm1 $s | jq -r '.disks[0].backing')
        # a frozen layer: QEMU only reads it
        sum[$s]=$(image_sum "${file[$s]}")
        echo "${sum[$s]}" > "$E2E_WORK/lm1.$s.sum"
        e2e_log "$s: ${file[$s]} counter $(e2e_disk_counter "${file[$s]}") sum ${sum[$s]}"
    done
    # QEMU has every layer's own file open (QEMU 7.2 reopens the image
    # under a new overlay read-only by its file name: were the overlay
    # at that name then, that layer's node would read it)
    qemu_has_chain lm1
    # one more while it runs, deleted before the reboot: its layer, under
    # the active one, streams into the active layer (QEMU calls both by
    # temporary names: the nodes are matched by position)
    run -0 xls create --external --disk-only -n s6 lm1
    f6=$(xl-snapshot info --json lm1 s6 | jq -r '.disks[0].backing')
    run -0 delete_ticking lm1 s6
    e2e_log "delete s6 (under the active layer) before the reboot: $output"
    refute_output --partial "not merged"
    [ ! -e "$f6" ]
    # a middle one before the reboot: s3's layer streams into s4's, a
    # frozen layer QEMU opened under a temporary name
    run -0 delete_ticking lm1 s3
    e2e_log "delete s3 (middle) before the reboot: $output"
    refute_output --partial "not merged"
    [ ! -e "${file[s3]}" ]
    qemu_has_chain lm1
    run -0 chain_files "$base"
    e2e_log "chain before the reboot: ${output//$'\n'/ <- }"
    n0=${#lines[@]}
    [ "$n0" = 5 ]
    # a reboot: QEMU opens every layer under its own name
    mark=$(log_mark lm1)
    xl reboot lm1
    b=$(boot_counter_after lm1 "$mark")
    e2e_log "rebooted with disk counter $b"
    used0=$(du -sB1 "$dir" | cut -f1)
    # the oldest: its layer is the original image; QEMU commits the
    # frozen layer on it (s2's) into it, s2's record names it after
    run -0 delete_ticking lm1 s1
    e2e_log "delete s1 (oldest): $output"
    refute_output --partial "not merged"
    [ -e "${file[s1]}" ]
    [ ! -e "${file[s2]}" ]
    [ "$(xl-snapshot info --json lm1 s2 | jq -r '.disks[0].backing')" = "${file[s1]}" ]
    # under the active layer (QEMU opened both by their own names)
    run -0 delete_ticking lm1 s5
    e2e_log "delete s5 (under the active layer): $output"
    [ ! -e "${file[s5]}" ]
    runs_on lm1
    run -0 chain_files "$base"
    e2e_log "chain after: ${output//$'\n'/ <- }"
    [ "${#lines[@]}" = $((n0 - 2)) ]
    assert_output "$base
${file[s4]}
${file[s1]}"
    used1=$(du -sB1 "$dir" | cut -f1)
    e2e_log "# bytes freed in the guest's directory: $((used0 - used1)) ($used0 -> $used1; QEMU frees the merged layers' blocks when it closes them)"
    # the remaining snapshots' data is exact (s2's in s1's old image)
    for s in s2 s4; do
        [ "$(image_sum "$(xl-snapshot info --json lm1 $s | jq -r '.disks[0].backing')")" = "${sum[$s]}" ]
    done
    run -0 xls check lm1
    assert_output "No problems found."
    # delete --merge-into-parent (seed 001's MERGE) while it ticks: two
    # more, s8's layer (frozen, under the active one) folds down into
    # s7's (QEMU's block-commit), s7's record goes, s8's data is in s7's
    # layer, exact; then s8 goes as before, the chain as it was
    t1=$SECONDS
    for s in s7 s8; do
        e2e_wait_counter_above lm1 $(( $(e2e_guest_counter lm1) + 2 )) >/dev/null
        run -0 xls create --external --disk-only -n $s lm1
        file[$s]=$(xl-snapshot info --json lm1 $s | jq -r '.disks[0].backing')
        sum[$s]=$(image_sum "${file[$s]}")
    done
    n1=$(chain_files "$base" | wc -l)
    c0=$(e2e_guest_counter lm1)
    run -0 delete_ticking lm1 s7 --merge-into-parent
    e2e_log "delete --merge-into-parent s7: $output"
    refute_output --partial "not merged"
    [ -e "${file[s7]}" ]
    [ ! -e "${file[s8]}" ]
    [ "$(xl-snapshot info --json lm1 s8 | jq -r '.disks[0].backing')" = "${file[s7]}" ]
    [ "$(image_sum "${file[s7]}")" = "${sum[s8]}" ]
    [ "$(chain_files "$base" | wc -l)" = $((n1 - 1)) ]
    run -0 xl-snapshot list --names lm1
    refute_line s7
    e2e_wait_counter_above lm1 "$c0" >/dev/null
    runs_on lm1
    run -0 xls check lm1
    assert_output "No problems found."
    run -0 delete_ticking lm1 s8
    [ "$(chain_files "$base" | wc -l)" = $((n1 - 2)) ]
    e2e_log "# merge-into-parent case in $((SECONDS - t1)) s"
    e2e_log "# done in $((SECONDS - t0)) s"
}

@test "a delete killed after its intent (rolled back), then after QEMU's merge job started: check sees the job, --repair finishes it; the rest reverts exactly" {
    t0=$SECONDS
    base=$(e2e_guest_disk lm1)
    f4=$(xl-snapshot info --json lm1 s4 | jq -r '.disks[0].backing')
    f2=$(xl-snapshot info --json lm1 s2 | jq -r '.disks[0].backing')
    before=$(chain_files "$base" | wc -l)
    # killed after the intent, before QEMU's job: rolled back, s4 keeps
    # its data
    kill_at merge-intent delete lm1 s4
    run -1 xls check lm1
    assert_output --partial "a live merge of snapshot 's4' (layer $f4 into $base) was interrupted"
    run -0 xls check --repair lm1
    e2e_log "merge-intent repair: ${output//$'\n'/ | }"
    assert_output --partial "rolled back: the merge had not taken effect, 's4' keeps its data"
    run -0 xls check lm1
    assert_output "No problems found."
    [ "$(chain_files "$base" | wc -l)" = "$before" ]
    [ "$(image_sum "$f4")" = "$(cat "$E2E_WORK/lm1.s4.sum")" ]
    e2e_log "# merge-intent kill and rollback: $((SECONDS - t0)) s"
    kill_at merge-started delete lm1 s4
    run -1 xls check lm1
    e2e_log "check: ${output//$'\n'/ | }"
    assert_output --regexp "the live merge of snapshot 's4' \(QEMU job xlsnap-merge-xvda-[0-9a-f]+\) (is still running|completed)"
    run -0 xls check --repair lm1
    e2e_log "repair: ${output//$'\n'/ | }"
    run -0 xls check lm1
    assert_output "No problems found."
    [ ! -e "$f4" ]
    run -0 chain_files "$base"
    [ "${#lines[@]}" = $((before - 1)) ]
    refute_output --partial "$f4"
    run -0 xls list --names lm1
    assert_output "s2"
    runs_on lm1
    # the guest's current data is exact: what it last wrote is in the
    # merged chain once its QEMU has closed it
    xl destroy lm1
    e2e_wait_domain_state lm1 gone 30
    sleep 1                     # the console log's last lines
    t=$(e2e_guest_counter lm1)
    c=$(e2e_disk_counter "$base")
    e2e_log "last tick $t, disk counter $c"
    near "$c" "$t"
    run -0 qemu-img check -f qcow2 "$base"
    run -0 qemu-img info -f qcow2 --backing-chain "$base"
    e2e_log "final chain: $(grep -c '^image:' <<<"$output") images"
    # the remaining snapshot reverts to exactly its data
    run -0 xls revert --paused lm1 s2
    xl destroy lm1
    e2e_wait_domain_state lm1 gone 30
    got=$(image_sum "$base")
    want=$(cat "$E2E_WORK/lm1.s2.sum")
    e2e_log "revert s2: sum $got (snapshot $want)"
    [ "$got" = "$want" ]
    [ "$(image_sum "$f2")" = "$want" ]
    e2e_log "# done in $((SECONDS - t0)) s"
}

@test "seven nights of create --external and prune --keep-last 3 on the running guest (killed at merge-intent and merge-job-done on two): the chain stays at most 4 deep, the kept snapshots are exact and revert exactly, the bytes freed are printed" {
    t0=$SECONDS
    e2e_start_guest lm2 pv 1 >/dev/null
    base=$(e2e_guest_disk lm2)
    dir=$(e2e_guest_dir lm2)
    e2e_log "# guest booted in $((SECONDS - t0)) s"
    declare -A sum
    used0=$(du -sB1 "$dir" | cut -f1)
    for n in 1 2 3 4 5 6 7; do
        e2e_wait_counter_above lm2 $(( $(e2e_guest_counter lm2) + 2 )) >/dev/null
        run -0 xls create --external --disk-only -n night$n lm2
        sum[night$n]=$(image_sum "$(xl-snapshot info --json lm2 night$n | jq -r '.disks[0].backing')")
        case $n in
        5|6)
            # the tool killed in the middle of the nightly prune's live
            # commit (the oldest's image takes the layer above it):
            # before QEMU's job (the delete goes on in the repair) and
            # after it (the repair finishes the bookkeeping)
            step=merge-intent
            [ $n = 6 ] && step=merge-job-done
            kill_at $step prune --keep-last 3 lm2
            run -1 xls check lm2
            assert_output --partial "a live merge of snapshot 'night$((n - 3))'"
            run -0 xls check --repair lm2
            e2e_log "night $n: killed at $step, repair: ${output//$'\n'/ | }"
            run -0 xls check lm2
            assert_output "No problems found."
            ;;
        *)
            run -0 xls prune --keep-last 3 lm2
            e2e_log "night $n: prune: ${output//$'\n'/ | }"
            [ $n -lt 4 ] || assert_output --regexp "deleted night$((n - 3))"
            ;;
        esac
        run -0 chain_files "$base"
        e2e_log "night $n: chain depth ${#lines[@]}: ${output//$'\n'/ <- }"
        [ "${#lines[@]}" -le 4 ]
    done
    runs_on lm2
    qemu_has_chain lm2
    run -0 xls list --names lm2
    assert_output "night5
night6
night7"
    run -0 xls list -l lm2
    e2e_log "list -l: $(grep -E 'layer:' <<<"$output" | tr -s ' ' | tr '\n' '|')"
    assert_output --partial "chain depth 3"
    used1=$(du -sB1 "$dir" | cut -f1)
    e2e_log "# disk usage of the guest's directory after 7 nights: $used1 bytes (before the first: $used0)"
    # the kept snapshots' data is exact (night5's in the original image,
    # committed into night by night)
    for s in night5 night6 night7; do
        [ "$(image_sum "$(xl-snapshot info --json lm2 $s | jq -r '.disks[0].backing')")" = "${sum[$s]}" ]
    done
    # the oldest kept and the newest revert exactly
    xl destroy lm2
    e2e_wait_domain_state lm2 gone 30
    for s in night5 night7; do
        run -0 xls revert --paused lm2 $s
        xl destroy lm2
        e2e_wait_domain_state lm2 gone 30
        got=$(image_sum "$base")
        e2e_log "revert $s: sum $got (snapshot ${sum[$s]})"
        [ "$got" = "${sum[$s]}" ]
    done
    run -0 xls check lm2
    assert_output "No problems found."
    e2e_log "# done in $((SECONDS - t0)) s"
}
