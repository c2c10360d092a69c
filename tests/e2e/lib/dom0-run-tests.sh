#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs INSIDE dom0 (copied to /share/dom0-run by run.sh; started by dom0's /init).
# Runs each bats file listed in /share/tests/.order with `bats --tap`, renumbers the
# results into one stream ("ok N e2e/<file>: <test>") and prints every TAP line on the
# console as "@@TAP@@ <seq> <bytes> <line>" (the host checks the length to detect lines
# garbled by interleaved console output) and into /share/results/tap.txt.
#
# While a file runs, its lines are shown as they come (results as
# "# result: [N s] ...", N the seconds that test took, setup included);
# its numbered results are printed when it ends.  A file that failed is run once
# more, from scratch, only if Xen's console proves that the EMULATOR killed a guest
# during it (lib/xen-evidence.sh: a triple fault whose guest state holds Xen's own
# CS:RIP, which no guest, xl or xl-snapshot can cause) and that guest's boot was not
# already retried; the rerun is logged as "# e2e-rerun: ..." with the evidence and
# counted in results/file-reruns.txt.  Without that evidence a failure stays one.
# At most E2E_FILE_RERUNS (2) reruns per run.  Exit status: 0 if every test passed.
#
# DOM0_SHARE (default /share) lets tests/bats/90-e2e-harness.bats run this on the host.
set -u
export LC_ALL=C
SHARE=${DOM0_SHARE:-/share}
export E2E_SHARE=$SHARE E2E_TESTS=$SHARE/tests E2E_IMAGES=$SHARE/images E2E_WORK=${DOM0_WORK:-/tmp/e2e}
export BATS_LIB_PATH=/usr/lib/bats
# shellcheck disable=SC1091
[ -f "$SHARE/env" ] && . "$SHARE/env"
# next to this script in the tree; in dom0 (this script is /share/dom0-run) in tests/lib
# shellcheck source=xen-evidence.sh disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/xen-evidence.sh" 2>/dev/null ||
    . "$SHARE/tests/lib/xen-evidence.sh"
# in dom0: the guest images through their own read-only, cached 9p mount;
# one FIFO that nobody writes, for e2e_sleep in every test (lib/e2e.bash)
if [ -z "${DOM0_SHARE:-}" ]; then
    export E2E_SLEEP_FIFO=/run/e2e-sleep.fifo
    [ -p "$E2E_SLEEP_FIFO" ] || mkfifo -m 0600 "$E2E_SLEEP_FIFO"
    # shellcheck source=e2e.bash disable=SC1091
    . "$SHARE/tests/lib/e2e.bash" && e2e_mount_images
fi
RES=$SHARE/results
mkdir -p "$RES" "$E2E_WORK"
: > "$RES/tap.txt"
SEQ=0 TOTAL=0 FAILED=0 RERUNS=0

emit() {
    local l=$1
    SEQ=$((SEQ + 1))
    printf '%d %d %s\n' "$SEQ" "${#l}" "$l" >> "$RES/tap.txt"
    printf '@@TAP@@ %d %d %s\n' "$SEQ" "${#l}" "$l"
}

cleanup_domains() {
    local d
    for d in $(xl list 2>/dev/null | awk 'NR>1 && $1!="Domain-0" {print $1}'); do
        emit "# cleanup after $1: destroying leftover domain $d"
        xl destroy "$d" >/dev/null 2>&1 || true
    done
}

# E2E_ACCT=1: the kernel's process accounting (acct(2), through perl-base:
# dom0 has no accton) records every process that ends in dom0, with its
# CPU time, into results/acct; tests/e2e/acct-summary.py sums it by command.
# For finding where dom0's CPU goes (it is most of a VM's CPU).
if [ "${E2E_ACCT:-0}" = 1 ]; then
    : > /run/e2e-acct
    perl -e 'my $f = "/run/e2e-acct"; syscall(163, $f) == 0 or die "acct: $!\n"' ||
        emit "# dom0: process accounting did not start"
fi

emit "# dom0: $(awk '/^MemAvailable/ {printf "%d MiB available", $2/1024}' /proc/meminfo), /tmp: $(df -m /tmp | awk 'NR==2 {print $4 " MiB free"}')"
emit "# dom0: Xen $(xl info xen_version 2>/dev/null) $(xl info virt_caps 2>/dev/null | tr '\n' ' ')kernel $(uname -r), xl-snapshot: $(command -v xl-snapshot || echo none)"

cd "$E2E_TESTS" || exit 1
re='^(not ok|ok) ([0-9]+) ?(.*)$'

# run_attempt FILE: one bats run of FILE.  Lines are shown as they come;
# the results are kept in RESULTS[n] ("ok"/"not ok" + text) for the caller.
# Sets planned, seen, maxn, fails, rc.
run_attempt() {
    local line n t_last=$SECONDS
    RESULTS=() planned=0 seen=0 maxn=0 fails=0
    while IFS= read -r line; do
        if [[ $line =~ ^1\.\.([0-9]+)$ ]]; then
            planned=${BASH_REMATCH[1]}
        elif [[ $line =~ $re ]]; then
            n=${BASH_REMATCH[2]}
            seen=$((seen + 1)); [ "$n" -gt "$maxn" ] && maxn=$n
            [ "${BASH_REMATCH[1]}" = "not ok" ] && fails=$((fails + 1))
            RESULTS[n]="${BASH_REMATCH[1]}|${BASH_REMATCH[3]}"
            emit "# result: [$((SECONDS - t_last)) s] $line"
            t_last=$SECONDS
        elif [[ $line == \#* ]]; then
            emit "$line"
        else
            emit "# $line"
        fi
    done < <(timeout -k 10 "${E2E_FILE_TIMEOUT:-900}" bats --tap \
                 ${E2E_BATS_FILTER_TAGS:+--filter-tags "$E2E_BATS_FILTER_TAGS"} "$1" 2>&1 </dev/null)
    wait $! 2>/dev/null; rc=$?
}

# emulator_evidence RETRIES_BEFORE: the emulator faults in Xen's console
# since the attempt began ("<domid> <rip>" lines), but those of boots the
# harness already retried (their lines in boot-retries.txt after line
# RETRIES_BEFORE).
emulator_evidence() {
    local skip
    skip=$(tail -n +"$(($1 + 1))" "$RES/boot-retries.txt" 2>/dev/null | e2e_retried_domids | tr '\n' ' ')
    xl dmesg 2>/dev/null | e2e_emulator_faults | while read -r dom rip; do
        case " $skip " in *" $dom "*) continue ;; esac
        echo "d$dom triple fault with Xen's own CS:RIP $rip in its guest state"
    done | sort -u
}

# cpu_split "CPU-LINE-BEFORE" "CPU-LINE-AFTER": where dom0's vCPU time went
# between two reads of /proc/stat's first line (in 1/100 s): dom0's own
# user and system time, idle, and steal (its vCPU waiting while Xen ran
# the guests).  No process: it runs once per file, in the file's time.
cpu_split() {
    local -a a b d=()
    read -r -a a <<< "$1"
    read -r -a b <<< "$2"
    local i
    for i in 0 1 2 3 4 5 6 7; do d[i]=$((${b[i]:-0} - ${a[i]:-0})); done
    printf 'dom0 user %d.%02d s, sys %d.%02d s, idle %d.%02d s, steal %d.%02d s' \
        $(((d[0] + d[1]) / 100)) $(((d[0] + d[1]) % 100)) \
        $(((d[2] + d[5] + d[6]) / 100)) $(((d[2] + d[5] + d[6]) % 100)) \
        $(((d[3] + d[4]) / 100)) $(((d[3] + d[4]) % 100)) \
        $((d[7] / 100)) $((d[7] % 100))
}

while IFS= read -r file; do
    [ -n "$file" ] || continue
    name="e2e/$file"
    base=$TOTAL
    t0=$(date +%s)
    read -r _ cpu0 < /proc/stat
    attempt=1
    while :; do
        # this attempt's Xen messages only (all of them also went to the
        # serial console, which the host keeps)
        xl dmesg -c >/dev/null 2>&1
        retries_before=0
        [ ! -f "$RES/boot-retries.txt" ] || retries_before=$(wc -l < "$RES/boot-retries.txt")
        run_attempt "$file"
        [ "$fails" != 0 ] || [ "$rc" != 0 ] || break
        if [ "$attempt" != 1 ] || [ "$RERUNS" -ge "${E2E_FILE_RERUNS:-2}" ]; then break; fi
        ev=$(emulator_evidence "$retries_before")
        [ -n "$ev" ] || break
        RERUNS=$((RERUNS + 1)) attempt=2
        emit "# e2e-rerun: $name failed ($fails of $planned tests, bats status $rc) after the emulator killed a guest; running it once more from scratch"
        while IFS= read -r l; do emit "# e2e-rerun:   xen: $l"; done <<< "$ev"
        for n in "${!RESULTS[@]}"; do
            [ "${RESULTS[n]%%|*}" = "not ok" ] && emit "# e2e-rerun:   first attempt: not ok $n ${RESULTS[n]#*|}"
        done
        printf '%s (%s)\n' "$name" "$(tr '\n' ';' <<< "$ev")" >> "$RES/file-reruns.txt"
        xl dmesg > "$RES/xl-dmesg-rerun-$file.txt" 2>/dev/null || true
        cleanup_domains "$name (first attempt)"
        rm -rf "${E2E_WORK:?}"/*
    done
    for n in "${!RESULTS[@]}"; do
        emit "${RESULTS[n]%%|*} $((base + n)) $name: ${RESULTS[n]#*|}"
    done
    TOTAL=$((base + maxn))
    while [ "$maxn" -lt "$planned" ]; do
        maxn=$((maxn + 1)); TOTAL=$((base + maxn)); fails=$((fails + 1))
        emit "not ok $TOTAL $name: test $maxn of $planned did not report (bats status $rc)"
    done
    if [ "$rc" != 0 ] && [ "$fails" = 0 ]; then
        TOTAL=$((TOTAL + 1)); fails=1
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            emit "not ok $TOTAL $name: timed out after ${E2E_FILE_TIMEOUT:-900}s (E2E_FILE_TIMEOUT)"
        else
            emit "not ok $TOTAL $name: bats exited with status $rc"
        fi
    fi
    FAILED=$((FAILED + fails))
    read -r _ cpu1 < /proc/stat
    emit "# $name: $((seen)) results, $fails failed, $(($(date +%s) - t0)) s ($(cpu_split "$cpu0" "$cpu1"))"
    cleanup_domains "$name"
    # each file starts from an empty work dir: memory images of earlier
    # files would otherwise fill dom0's /tmp (a RAM disk)
    rm -rf "${E2E_WORK:?}"/*
    emit "# after $name: /tmp: $(df -m /tmp | awk 'NR==2 {print $4 " MiB free"}')"
done < "$E2E_TESTS/.order"

# Keep Xen's and the guests' logs for debugging (run.sh copies results/ next to the serial log).
mkdir -p "$RES/xen-logs"
if [ "${E2E_ACCT:-0}" = 1 ]; then
    perl -e 'syscall(163, 0)'
    cp /run/e2e-acct "$RES/acct" 2>/dev/null
fi
cp -r /var/log/xen/. "$RES/xen-logs/" 2>/dev/null
xl dmesg > "$RES/xen-logs/xl-dmesg.txt" 2>&1

[ "$FAILED" = 0 ]
