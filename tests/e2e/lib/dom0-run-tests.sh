#!/bin/bash
# Runs INSIDE dom0 (copied to /share/dom0-run by run.sh; started by dom0's /init).
# Runs each bats file listed in /share/tests/.order with `bats --tap`, renumbers the
# results into one stream ("ok N e2e/<file>: <test>") and prints every TAP line on the
# console as "@@TAP@@ <seq> <bytes> <line>" (the host checks the length to detect lines
# garbled by interleaved console output) and into /share/results/tap.txt.
# Exit status: 0 if every test passed.
set -u
export LC_ALL=C
export E2E_SHARE=/share E2E_TESTS=/share/tests E2E_IMAGES=/share/images E2E_WORK=/tmp/e2e
export BATS_LIB_PATH=/usr/lib/bats
# shellcheck disable=SC1091
[ -f /share/env ] && . /share/env
RES=/share/results
mkdir -p "$RES" "$E2E_WORK"
: > "$RES/tap.txt"
SEQ=0 TOTAL=0 FAILED=0

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

emit "# dom0: $(awk '/^MemAvailable/ {printf "%d MiB available", $2/1024}' /proc/meminfo), /tmp: $(df -m /tmp | awk 'NR==2 {print $4 " MiB free"}')"
emit "# dom0: Xen $(xl info xen_version 2>/dev/null) $(xl info virt_caps 2>/dev/null | tr '\n' ' ')kernel $(uname -r), xl-snapshot: $(command -v xl-snapshot || echo none)"

cd "$E2E_TESTS" || exit 1
re='^(not ok|ok) ([0-9]+) ?(.*)$'
while IFS= read -r file; do
    [ -n "$file" ] || continue
    name="e2e/$file"
    base=$TOTAL planned=0 seen=0 maxn=0 fails=0
    t0=$(date +%s)
    while IFS= read -r line; do
        if [[ $line =~ ^1\.\.([0-9]+)$ ]]; then
            planned=${BASH_REMATCH[1]}
        elif [[ $line =~ $re ]]; then
            n=${BASH_REMATCH[2]}
            seen=$((seen + 1)); [ "$n" -gt "$maxn" ] && maxn=$n
            [ "${BASH_REMATCH[1]}" = "not ok" ] && fails=$((fails + 1))
            emit "${BASH_REMATCH[1]} $((base + n)) $name: ${BASH_REMATCH[3]}"
        elif [[ $line == \#* ]]; then
            emit "$line"
        else
            emit "# $line"
        fi
    done < <(timeout -k 10 "${E2E_FILE_TIMEOUT:-900}" bats --tap "$file" 2>&1 </dev/null)
    wait $! 2>/dev/null; rc=$?
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
    emit "# $name: $((seen)) results, $fails failed, $(($(date +%s) - t0)) s"
    cleanup_domains "$name"
    # each file starts from an empty work dir: memory images of earlier
    # files would otherwise fill dom0's /tmp (a RAM disk)
    rm -rf "${E2E_WORK:?}"/*
    emit "# after $name: /tmp: $(df -m /tmp | awk 'NR==2 {print $4 " MiB free"}')"
done < "$E2E_TESTS/.order"

# Keep Xen's and the guests' logs for debugging (run.sh copies results/ next to the serial log).
mkdir -p "$RES/xen-logs"
cp -r /var/log/xen/. "$RES/xen-logs/" 2>/dev/null
xl dmesg > "$RES/xen-logs/xl-dmesg.txt" 2>&1

[ "$FAILED" = 0 ]
