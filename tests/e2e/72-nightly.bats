#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The shipped nightly job (configs/xl-snapshot-nightly, copied into dom0
# as /share/bin/xl-snapshot-nightly) run as its timer runs it, on a real
# running guest, with the freshly built xl-snapshot: three nights
# simulated with XL_SNAPSHOT_NIGHTLY_DATE, KEEP_LAST=2.  Each night is a
# disk-only snapshot of the running guest (the job's default: the guest
# never stops), exported in full the first night and as a delta against
# the night before after that; prune removes only the job's own
# snapshots (the admin's "before-upgrade" stays).  Then the last night
# is restored on "another host" (another state dir and disk dir) from
# the three bundles, after the original domain, its state and its disks
# are gone: the guest boots with the disk data of the last night.

load 'lib/e2e'
load 'lib/snap'

setup_file() {
    export A=$E2E_WORK/state-72a B=$E2E_WORK/state-72b DISKS_B=$E2E_WORK/disks-72b
    export DEST=$E2E_WORK/backup-72 CONF=$E2E_WORK/nightly-72.conf
    export XL_SNAPSHOT_DIR=$A
    mkdir -p "$DISKS_B" "$DEST"
    cat > "$CONF" <<CONF
DOMAINS="nb1"
DEST=$DEST
KEEP_LAST=2
CONF
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show nb1
}

# night YYYYMMDD: the job, as xl-snapshot-nightly.service runs it
night() {
    XL_SNAPSHOT_NIGHTLY_CONF=$CONF XL_SNAPSHOT_NIGHTLY_DATE=$1 \
        run "$E2E_SHARE/bin/xl-snapshot-nightly"
    e2e_log "night $1 (status $status): $(echo "$output" | tr '\n' ' ')"
}

# manifest BUNDLE: "kind snapshot base" of an export
manifest() { jq -r '"\(.kind) \(.snapshot) \(.base)"' "$1/manifest.json"; }

@test "three nights of the shipped nightly job on a running guest: delta chain, KEEP_LAST, the admin's snapshot kept" {
    [ -x "$E2E_SHARE/bin/xl-snapshot-nightly" ]
    # 4 MiB of data on the disk before the guest boots (it writes only
    # its counter): a full export carries them, a delta must not
    e2e_create_disks nb1 1
    img=$(e2e_guest_disk nb1)
    qemu-io -f qcow2 -c "write -q -P 0x5a 1M 4M" "$img"
    e2e_start_guest nb1 pv 1 >/dev/null
    e2e_wait_counter_above nb1 8 >/dev/null
    run -0 xl-snapshot create --disk-only -n before-upgrade -d "the admin's own" nb1

    for d in 20261201 20261202 20261203; do
        e2e_wait_counter_above nb1 $(( $(e2e_guest_counter nb1) + 8 )) >/dev/null
        before=$(e2e_guest_counter nb1)
        night "$d"
        [ "$status" -eq 0 ]
        case $d in
        20261201) assert_line "xl-snapshot-nightly: nb1: nightly-$d exported (full)" ;;
        *) assert_line "xl-snapshot-nightly: nb1: nightly-$d exported (delta against nightly-$prev)" ;;
        esac
        prev=$d
        # the guest ran on through the job: no memory snapshot, no pause left
        [ "$(e2e_domain_state nb1)" = running ]
        e2e_wait_counter_above nb1 $((before + 5)) 30 >/dev/null
        # the night's data, as the snapshot holds it (internal, in the image)
        snap_sum "$img" "nightly-$d" > "$DEST/sum.$d"
        snap_disk_counter "$img" "nightly-$d" > "$DEST/counter.$d"
        c=$(cat "$DEST/counter.$d")
        e2e_log "nightly-$d: disk counter $c (guest at $before when the job started)"
        [ "$c" -ge "$before" ]
        run -0 xl-snapshot info --json nb1 "nightly-$d"
        [ "$(echo "$output" | jq -r .memory)" = null ]
    done

    run -0 manifest "$DEST/nb1/nightly-20261201"
    assert_output "full nightly-20261201 null"
    run -0 manifest "$DEST/nb1/nightly-20261202"
    assert_output "delta nightly-20261202 nightly-20261201"
    run -0 manifest "$DEST/nb1/nightly-20261203"
    assert_output "delta nightly-20261203 nightly-20261202"
    # KEEP_LAST=2 of the job's own; the admin's snapshot is not the job's
    run -0 xl-snapshot list --names nb1
    assert_output "before-upgrade
nightly-20261202
nightly-20261203"
    run -0 image_snapshots "$img"
    refute_output --partial nightly-20261201
    # the delta of night 3 holds night 3's changes (the counter's
    # cluster), not the disk's 4 MiB again
    full=$(du -sb "$DEST/nb1/nightly-20261201" | cut -f1)
    delta=$(du -sb "$DEST/nb1/nightly-20261203" | cut -f1)
    e2e_log "bundles: full $full bytes, delta $delta bytes"
    [ "$full" -gt $((4 << 20)) ]
    [ "$delta" -lt $((1 << 20)) ]
    # a second run of the same night takes and exports nothing again
    before=$(xl-snapshot list --names nb1 | wc -l)
    night 20261203
    [ "$status" -eq 0 ]
    assert_output --partial "exists already"
    assert_output --partial "was exported already"
    [ "$(xl-snapshot list --names nb1 | wc -l)" -eq "$before" ]
}

@test "the last night restored on another host from the three bundles" {
    export XL_SNAPSHOT_DIR=$B
    for d in 20261201 20261202 20261203; do
        run xl-snapshot import --kernel-dir "$E2E_IMAGES" --disk-dir "$DISKS_B" "$DEST/nb1/nightly-$d"
        e2e_log "import nightly-$d: $output"
        [ "$status" -eq 0 ]
    done
    run -0 xl-snapshot list --tree nb1
    assert_output "nightly-20261201
\`-- nightly-20261202
    \`-- nightly-20261203"

    # host A is gone: its domain, its state and its disks
    xl destroy nb1
    e2e_wait_domain_state nb1 gone 30
    rm -rf "$A" "$(e2e_guest_dir nb1)"/*.qcow2

    mark=$(log_mark nb1)
    run xl-snapshot revert --paused nb1 nightly-20261203
    e2e_log "revert: $output"
    [ "$status" -eq 0 ]
    [ "$(e2e_domain_state nb1)" = paused ]
    disk=$(active_disk nb1)
    e2e_log "restored disk $disk"
    [[ $disk == "$DISKS_B"/* ]]
    [ "$(image_sum "$disk")" = "$(cat "$DEST/sum.20261203")" ]
    xl unpause nb1
    # the guest boots from the last night's disk and counts on from there
    got=$(boot_counter_after nb1 "$mark")
    e2e_log "booted at disk counter $got; night 3's counter $(cat "$DEST/counter.20261203")"
    [ "$got" = "$(cat "$DEST/counter.20261203")" ]
    e2e_wait_counter_above nb1 $((got + 5)) 60 >/dev/null
    # the older nights revert there too
    run xl-snapshot revert --force --paused nb1 nightly-20261201
    [ "$status" -eq 0 ] || { e2e_log "revert nightly-20261201: $output"; false; }
    [ "$(image_sum "$(active_disk nb1)")" = "$(cat "$DEST/sum.20261201")" ]
    xl destroy nb1
}

# this file's helpers without bats' DEBUG trap (lib/e2e.bash)
e2e_untrace_helpers
