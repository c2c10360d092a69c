#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs INSIDE dom0 as /share/dom0-run (E2E_DOM0_RUN): what a ticking test
# guest costs the emulated CPU. Xen's CPU seconds (xl list) of dom0 and of
# the guests over E2E_MEASURE_SECS (40) windows: no guest; one PV guest with
# two disks ticking every 200 ms (the tests' guest); one ticking every 100 ms
# (the tests' guest until 2026-12-06). E2E_MEASURE_TICKS: other periods (us).
set -u
# shellcheck source=dom0-measure.bash
. /share/tests/lib/dom0-measure.bash
W=${E2E_MEASURE_SECS:-40}
cpu_all() { xl list | awk 'NR > 1 {s += $NF} END {printf "%.1f", s}'; }
window() { # window LABEL: CPU seconds per second over W seconds
    local a b
    a=$(cpu_all); sleep "$W"; b=$(cpu_all)
    emit "# tick-measure: $1: $(awk -v a="$a" -v b="$b" -v w="$W" 'BEGIN {printf "%.3f", (b - a) / w}') CPU s/s (all domains)"
}
n=0
window "no guest"
for us in ${E2E_MEASURE_TICKS:-200000 100000}; do
    name=tm$us
    if E2E_GUEST_EXTRA="xlsnap_tick_us=$us" e2e_start_guest "$name" pv 2 >/dev/null 2>&1; then
        window "one PV guest, 2 disks, tick every $us us"
        n=$((n + 1)); emit "ok $n measured tick $us"
    else
        n=$((n + 1)); emit "not ok $n guest $name did not boot"
    fi
    xl destroy "$name" >/dev/null 2>&1
    e2e_wait_domain_state "$name" gone 60 >/dev/null 2>&1
done
emit "1..$n"
emit "# e2e/dom0-tick-measure.sh: $n results, 0 failed"
