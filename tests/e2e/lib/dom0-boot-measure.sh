#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs INSIDE dom0 as /share/dom0-run (tests/e2e/boot-measure.sh sets E2E_DOM0_RUN).
# Boots E2E_MEASURE_BOOTS (50) guests of type E2E_MEASURE_TYPE (pvh), one after the
# other, each with a fresh disk: xl create, wait for "guest ready" and a few ticks,
# xl destroy. No retry: every failed boot is counted, with its kind and Xen's
# evidence. One TAP line per boot ("ok N boot ..." / "not ok N boot ...: why"), then
#   # boot-measure: type=pvh cpu=... xen-args=... boots=50 failed=F reset=R died=D not-ready=T create=C mean-ready=S s
set -u
# shellcheck source=dom0-measure.bash
. /share/tests/lib/dom0-measure.bash

N=${E2E_MEASURE_BOOTS:-50} TYPE=${E2E_MEASURE_TYPE:-pvh}
failed=0 reset=0 died=0 notready=0 create=0 secs_sum=0 secs_n=0
emit "# boot-measure: $N $TYPE boots, Xen $(xl info xen_version) ($(xl info xen_commandline | tr -s ' '))"
for ((i = 1; i <= N; i++)); do
    name=mb$i
    e2e_create_disks "$name" 1 && e2e_write_cfg "$name" "$TYPE" 1
    t0=$SECONDS
    why=
    if domid=$(_e2e_boot_once "$name"); then
        e2e_wait_counter_above "$name" 3 60 >/dev/null 2>&1 || why="ready but not counting"
    else
        why=$(cat "$(e2e_guest_dir "$name")/boot-failure" 2>/dev/null)
        why=${why#retry:}
        domid=$(e2e_domid "$name" || echo '?')
    fi
    secs=$((SECONDS - t0))
    if [ -z "$why" ]; then
        emit "ok $i boot $TYPE $i: ready in ${secs} s (domid $domid)"
        secs_sum=$((secs_sum + secs)); secs_n=$((secs_n + 1))
    else
        failed=$((failed + 1))
        case $why in
            reset*) reset=$((reset + 1)) ;;
            died*) died=$((died + 1)) ;;
            "not ready"*|"ready but"*) notready=$((notready + 1)) ;;
            *) create=$((create + 1)) ;;
        esac
        emit "not ok $i boot $TYPE $i: $why after ${secs} s"
        while IFS= read -r l; do emit "#   xen: $l"; done < <(
            xl dmesg | grep -aiE 'triple|crash|fault|rip|domain_crash|reset' | tail -n 12)
        while IFS= read -r l; do emit "#   console: $l"; done < <(
            tr -d '\r' < "$(e2e_guest_log "$name")" 2>/dev/null | tail -n 6)
        xl dmesg > "$RES/xl-dmesg-boot-$i.txt" 2>&1
    fi
    xl destroy "$name" >/dev/null 2>&1 || true
    e2e_wait_domain_state "$name" gone 60 >/dev/null 2>&1
    rm -rf "$(e2e_guest_dir "$name")"
done
mean=-
[ "$secs_n" = 0 ] || mean=$((secs_sum / secs_n))
summary="boot-measure: type=$TYPE cpu=${E2E_CPU:-qemu64,+svm,+npt} accel=${E2E_ACCEL:-tcg} xen-args=${E2E_XEN_ARGS:-none} guest-cfg=${E2E_GUEST_CFG:-none} guest-extra=${E2E_GUEST_EXTRA:-none} boots=$N failed=$failed reset=$reset died=$died not-ready=$notready create=$create mean-ready=${mean} s"
emit "1..$N"
emit "# $summary"
echo "$summary" > "$RES/boot-measure.txt"
emit "# e2e/dom0-boot-measure.sh: $N results, $failed failed"
mkdir -p "$RES/xen-logs"
cp -r /var/log/xen/. "$RES/xen-logs/" 2>/dev/null
xl dmesg > "$RES/xen-logs/xl-dmesg.txt" 2>&1
[ "$failed" = 0 ]
