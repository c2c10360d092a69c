#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The `make demo` script, run INSIDE dom0 by tests/e2e/demo.sh (its output is shown to
# the user). Each step prints "== step: ..." and every command is echoed with "$ ".
set -u
# shellcheck source=lib/e2e.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_mount_images || true

GUEST=demo
export XL_SNAPSHOT_DIR=/var/lib/xen/snapshots
# dom0's root file system is its initramfs, in RAM and nearly full of
# dom0's own packages: the snapshots (a memory image is as big as the
# guest) get a RAM file system of their own, as /tmp has (0700, as the
# tool makes its state dir)
mkdir -p "$XL_SNAPSHOT_DIR"
mountpoint -q "$XL_SNAPSHOT_DIR" ||
    mount -t tmpfs -o mode=0700,size=384m tmpfs "$XL_SNAPSHOT_DIR"
FAILED=0
step() { echo; echo "== step: $*"; }
# show CMD...: echo the command, run it, report a failure (and remember it).
show() {
    local q
    q=$(printf '%q ' "$@")
    echo "\$ ${q% }"
    "$@" 2>&1
    local rc=$?
    [ $rc = 0 ] || { echo "(exit status $rc)"; FAILED=1; }
    return 0
}
counter() { echo "guest '$GUEST': console counter $(e2e_guest_counter "$GUEST"), disk counter (xvda) $(e2e_disk_counter "$(e2e_guest_disk "$GUEST")")"; }
log_lines() { tr -d '\r' < "$(e2e_guest_log "$GUEST")" | wc -l; }
# first tick after line $1 that is lower than the one before it: the
# restored guest (the old one ticks on until it is destroyed)
rewound() {
    local t i
    for i in $(seq 50); do
        t=$(tr -d '\r' < "$(e2e_guest_log "$GUEST")" | awk -v m="$1" '
            /^tick [0-9]+$/ { if (NR > m && prev != "" && $2 + 0 < prev + 0) { print $2; exit } prev = $2 }')
        [ -z "$t" ] || break
        sleep 0.2
    done
    echo "${t:-none}"
}

step "start a small PV guest '$GUEST' (96 MiB, 1 vCPU, one qcow2 disk served by QEMU's qdisk)"
echo "(the guest counts every ~200 ms, printing 'tick N' on its console and writing N to its disk)"
echo "\$ xl create $(e2e_guest_cfg "$GUEST")"
if ! domid=$(e2e_start_guest "$GUEST" pv 1); then
    echo "the guest did not start"; exit 1
fi
echo "guest ready, domid $domid"
show xl list
e2e_wait_counter_above "$GUEST" 20 30 >/dev/null
counter

step "take a snapshot with memory: the guest is suspended, its memory saved (xl save format), its disk snapshotted, then it resumes"
show xl-snapshot create -n before-change -d "demo: before the change" "$GUEST"
at=$(e2e_guest_counter "$GUEST")
echo "snapshot taken at counter ~$at"

step "a disk-only snapshot a moment later (crash-consistent, the guest is paused only for the disk transaction)"
e2e_wait_counter_above "$GUEST" $((at + 10)) 30 >/dev/null
show xl-snapshot create --disk-only -n disk-only "$GUEST"

step "the snapshot tree, the table and one record"
show xl-snapshot list --tree "$GUEST"
show xl-snapshot list "$GUEST"
show xl-snapshot info "$GUEST" before-change

step "change the guest: let it run on"
e2e_wait_counter_above "$GUEST" $((at + 60)) 60 >/dev/null
counter

step "revert to 'before-change' (the running guest is discarded: --force)"
mark=$(log_lines)
show xl-snapshot revert --force "$GUEST" before-change
echo "the guest counts on from the snapshot: first tick after the revert $(rewound "$mark") (snapshot taken at ~$at)"
sleep 1
counter
show xl list "$GUEST"
show xl-snapshot list --tree "$GUEST"

step "delete the disk-only snapshot"
show xl-snapshot delete "$GUEST" disk-only
show xl-snapshot list --tree "$GUEST"

step "the memory image is an ordinary xl save file (mode 0600): plain 'xl restore' works on it"
uuid=$(xl list -v "$GUEST" | awk 'NR==2 {print $7}')
show ls -l "$XL_SNAPSHOT_DIR/$uuid/before-change/"
show xl destroy "$GUEST"
mark=$(log_lines)
show xl restore "$XL_SNAPSHOT_DIR/$uuid/before-change/memory.save"
sleep 1
first=$(tr -d '\r' < "$(e2e_guest_log "$GUEST")" | awk -v m="$mark" 'NR > m && /^tick [0-9]+$/ {print $2; exit}')
echo "restored guest's first tick: ${first:-none} (snapshot taken at ~$at)"

step "snapshots outlive the domain: destroy it, list and revert by UUID"
show xl destroy "$GUEST"
show xl-snapshot list "$uuid"
show xl-snapshot revert "$uuid" before-change
show xl list "$GUEST"

step "clean up"
show xl destroy "$GUEST"
echo
[ $FAILED = 0 ] && echo "== demo finished" || echo "== demo finished with errors"
exit $FAILED
