#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# live-split.sh - INSIDE dom0: where a PVH live checkpoint's downtime goes.
# Boots the bench guest (PVH, 256 MiB, its 10 ms ticker), takes four
# `xl-snapshot -vv create --live` snapshots with every log line stamped
# with dom0's clock, and the guest's largest tick gap around each, into
# /share/results/live.txt; bench/live-split.py splits it.  From the host:
#   E2E_DOM0_RUN=bench/live-split.sh tests/e2e/run.sh bench/live-split.sh \
#       build/bench/bench-init.cpio.gz    (after make bench made that)
# then: bench/live-split.py <run dir>/results/live.txt
set -u
export LC_ALL=C PATH="$PATH:/usr/lib/xen-4.17/bin"
export E2E_WORK=/tmp/e2e XL_SNAPSHOT_DIR=/tmp/e2e/bench-state
# shellcheck disable=SC1091
[ -f /share/env ] && . /share/env
RES=/share/results T=/share/tests CON=/var/log/xen/console
mkdir -p "$RES" "$E2E_WORK"
cat /share/images/guest-initrd "$T/bench-init.cpio.gz" > "$E2E_WORK/bench-initrd"
name=bpvh dir=$E2E_WORK/$name
mkdir -p "$dir"
qemu-img create -q -f qcow2 "$dir/xvda.qcow2" 16M
cat > "$dir/$name.cfg" <<CFG
name = "$name"
type = "pvh"
kernel = "/share/images/guest-vmlinuz"
ramdisk = "$E2E_WORK/bench-initrd"
extra = "console=hvc0 quiet benchfill=0"
memory = 256
vcpus = 1
disk = [ 'format=qcow2,vdev=xvda,access=rw,backendtype=qdisk,target=$dir/xvda.qcow2' ]
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
CFG
out=$RES/live.txt
: > "$out"
xl create "$dir/$name.cfg" >> "$out" 2>&1
for _ in $(seq 1 600); do grep -aq '^t ' "$CON/guest-$name.log" 2>/dev/null && break; sleep 0.5; done
sleep 3
for r in 1 2 3 4; do
    m=$(tr -d '\r' < "$CON/guest-$name.log" | wc -l)
    # shellcheck disable=SC2129 # one file, appended line by line
    echo "=== rep $r start $EPOCHREALTIME" >> "$out"
    xl-snapshot -vv create --live -n "l$r" "$name" 2>&1 |
        while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done >> "$out"
    echo "=== rep $r end $EPOCHREALTIME" >> "$out"
    sleep 1.5
    tr -d '\r' < "$CON/guest-$name.log" | awk -v m="$m" '
        NR >= m && /^t [0-9.]+$/ { if (p != "" && $2 - p > g) { g = $2 - p; at = p } p = $2 }
        END { printf "=== gap %.3f s after guest time %s\n", g, at }' >> "$out"
    for s in $(xl-snapshot list --names "$name" 2>/dev/null | tac); do xl-snapshot delete "$name" "$s" >/dev/null 2>&1; done
done
xl destroy "$name"
