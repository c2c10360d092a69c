#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# dom0-bench.sh - the benchmark, INSIDE dom0 (run by bench/run.sh through
# tests/e2e/run.sh with E2E_DOM0_RUN).  Writes /share/results/bench.csv
# (guest,metric,value,unit) and reports each number as a TAP line
# ("@@TAP@@ <seq> <len> ok N bench: ..."), as dom0-run-tests.sh does.
set -u
export LC_ALL=C PATH="$PATH:/usr/lib/xen-4.17/bin"
export E2E_WORK=/tmp/e2e
# shellcheck disable=SC1091
[ -f /share/env ] && . /share/env
RES=/share/results T=/share/tests
MEM=${E2E_BENCH_GUEST_MEM:-256}
FILL=${E2E_BENCH_FILL:-160}
REPS=${E2E_BENCH_REPS:-2}
export XL_SNAPSHOT_DIR=$E2E_WORK/bench-state
CON=/var/log/xen/console
mkdir -p "$RES" "$E2E_WORK"
: > "$RES/tap.txt"
echo "guest,metric,value,unit" > "$RES/bench.csv"
SEQ=0 N=0 FAILED=0

emit() {
    SEQ=$((SEQ + 1))
    printf '%d %d %s\n' "$SEQ" "${#1}" "$1" >> "$RES/tap.txt"
    printf '@@TAP@@ %d %d %s\n' "$SEQ" "${#1}" "$1"
}
# result GUEST METRIC VALUE UNIT
result() {
    N=$((N + 1))
    echo "$1,$2,$3,$4" >> "$RES/bench.csv"
    emit "ok $N bench: $1 $2 = $3 $4"
}
failed() { N=$((N + 1)); FAILED=$((FAILED + 1)); emit "not ok $N bench: $*"; }
note() { emit "# $*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }

# boot NAME TYPE FILL: start the bench guest; wait for its first ticks
boot() {
    local name=$1 type=$2 fill=$3 dir=$E2E_WORK/$1 i
    mkdir -p "$dir"
    qemu-img create -q -f qcow2 "$dir/xvda.qcow2" 16M
    cat > "$dir/$name.cfg" <<CFG
name = "$name"
type = "$type"
kernel = "/share/images/guest-vmlinuz"
ramdisk = "$E2E_WORK/bench-initrd"
extra = "console=hvc0 quiet benchfill=$fill"
memory = $MEM
vcpus = 1
disk = [ 'format=qcow2,vdev=xvda,access=rw,backendtype=qdisk,target=$dir/xvda.qcow2' ]
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
CFG
    rm -f "$CON/guest-$name.log"
    xl create "$dir/$name.cfg" >/dev/null 2>&1 || { failed "xl create $name"; return 1; }
    for ((i = 0; i < 600; i++)); do
        grep -aq '^t ' "$CON/guest-$name.log" 2>/dev/null && break
        xl domid "$name" >/dev/null 2>&1 || { failed "$name died booting"; return 1; }
        sleep 0.5
    done
    sleep 2
    grep -aq '^t ' "$CON/guest-$name.log" || { failed "$name does not tick"; return 1; }
}

mark() { tr -d '\r' < "$CON/guest-$1.log" | wc -l; }
# gap NAME MARK: the largest gap (s) between ticks from line MARK on
gap() {
    sleep 1.5
    tr -d '\r' < "$CON/guest-$1.log" | awk -v m="$2" '
        NR >= m && /^t [0-9.]+$/ { if (p != "" && $2 - p > g) g = $2 - p; p = $2 }
        END { printf "%.3f", g }'
}

# downtime NAME LABEL CMD...: run CMD, record its wall time and the gap
# (also left in GAP, "" when CMD failed)
downtime() {
    local name=$1 label=$2 m t0 w g
    shift 2
    GAP=
    m=$(mark "$name")
    t0=$(now)
    if ! "$@" > "$E2E_WORK/out" 2>&1 3>&-; then
        failed "$label: $(tail -n 2 "$E2E_WORK/out" | tr '\n' ' ')"
        return 1
    fi
    w=$(since "$t0")
    g=$(gap "$name" "$m")
    [ -s "$E2E_WORK/out" ] && note "$label: $(tr '\n' ' ' < "$E2E_WORK/out")"
    result "$GT" "$label.downtime" "$g" s
    result "$GT" "$label.wall" "$w" s
    GAP=$g
}

clean_snaps() {
    local s
    for s in $(xl-snapshot list --names "$1" 2>/dev/null | tac); do
        xl-snapshot delete "$1" "$s" >/dev/null 2>&1
    done
    rm -f "$E2E_WORK"/*.save
}

bench_guest() {
    local name=$1 r uuid domid t0
    GT=$2
    boot "$name" "$GT" 0 || return
    domid=$(xl domid "$name")
    uuid=$(xl list -v "$name" | awk 'NR==2 {print $7}')
    for ((r = 1; r <= REPS; r++)); do
        downtime "$name" xl-save-c xl save -c "$name" "$E2E_WORK/c.save"
        rm -f "$E2E_WORK/c.save"
        # one memory image at a time: dom0's /tmp is a RAM disk
        downtime "$name" create-memory xl-snapshot create -n m$r "$name"
        [ "$r" = 1 ] && result "$GT" idle.memory.raw \
            "$(stat -c %s "$XL_SNAPSHOT_DIR/$uuid/m1/memory.save")" bytes
        clean_snaps "$name"
        downtime "$name" create-memory-live xl-snapshot create --live -n l$r "$name"
        clean_snaps "$name"
        downtime "$name" create-memory-zstd xl-snapshot create --compress zstd -n z$r "$name"
        [ "$r" = 1 ] && result "$GT" idle.memory.zstd \
            "$(stat -c %s "$XL_SNAPSHOT_DIR/$uuid/z1/memory.save.zst")" bytes
        clean_snaps "$name"
        downtime "$name" create-disk-only xl-snapshot create --disk-only -n d$r "$name"
        clean_snaps "$name"
        # hand-written equivalent of create --memory: xl save -c, then
        # an internal disk snapshot through QMP
        downtime "$name" hand-written bash -c "xl save -c $name $E2E_WORK/h.save && python3 $T/qmp-snapshot.py $domid $uuid xvda-qcow2 h$r"
        rm -f "$E2E_WORK/h.save"
    done
    # revert vs xl restore of the same image
    xl-snapshot create -n rv "$name" >/dev/null 2>&1 3>&-
    for ((r = 1; r <= REPS; r++)); do
        t0=$(now)
        xl-snapshot revert --force "$name" rv >/dev/null 2>&1 3>&- || failed "revert"
        result "$GT" revert.wall "$(since "$t0")" s
        t0=$(now)
        xl destroy "$name" && xl restore "$XL_SNAPSHOT_DIR/$uuid/rv/memory.save" >/dev/null 2>&1 3>&- ||
            failed "xl restore"
        result "$GT" xl-restore.wall "$(since "$t0")" s
        sleep 1
    done
    xl destroy "$name" 2>/dev/null
    clean_snaps "$name"
}

# floors: the tool's downtime against what Xen and QEMU cost by
# themselves, run back to back (the order reverses every repetition):
# `create --disk-only` against bench/qmp-floor.py (one QMP transaction on
# a connection made before the pause, between `xl pause` and `xl unpause`,
# and between xc_domain_pause and xc_domain_unpause from the script's own
# process), `create` and `create --live` against `xl save -c`.  Each
# tool run gives a ratio to the floor of its group (both the guest's
# largest tick gap): <label>.ratio.  With xl-snapshot-before in the share (bench/run.sh
# BENCH_XEN_BEFORE), create and create --disk-only of that binary too.
floor_disk() { downtime "$1" disk-floor python3 "$T/qmp-floor.py" "$2" "$3" xvda-qcow2 "f$4" &&
    result "$GT" disk-floor.script-pause "$(awk '/^pause / {print $2}' "$E2E_WORK/out")" s; }
floor_disk_xc() { downtime "$1" disk-floor-xc python3 "$T/qmp-floor.py" "$2" "$3" xvda-qcow2 "g$4" xc &&
    result "$GT" disk-floor-xc.script-pause "$(awk '/^pause / {print $2}' "$E2E_WORK/out")" s; }
# traced CMD...: CMD with bench/pause-trace.so, which leaves its pause
# window (libxl_domain_pause called to libxl_domain_unpause returned) in
# $E2E_WORK/trace; window LABEL: that as LABEL.window
traced() {
    rm -f "$E2E_WORK/trace"
    LD_PRELOAD=$E2E_WORK/pause-trace.so PAUSE_TRACE=$E2E_WORK/trace "$@"
}
window() {
    local w
    w=$(awk '/^window / {print $2}' "$E2E_WORK/trace" 2>/dev/null | tail -n 1)
    [ -z "$w" ] || result "$GT" "$1.window" "$w" s
}
tool_disk() { downtime "$1" create-disk-only traced xl-snapshot create --disk-only -n "d$4" "$1" &&
    window create-disk-only; clean_snaps "$1"; }
before_disk() { downtime "$1" before-disk-only traced "$E2E_WORK/xl-snapshot-before" create --disk-only -n "e$4" "$1" &&
    window before-disk-only; clean_snaps "$1"; }
floor_mem() { downtime "$1" xl-save-c xl save -c "$1" "$E2E_WORK/c.save"; rm -f "$E2E_WORK/c.save"; }
tool_mem() { downtime "$1" create-memory xl-snapshot create -n "m$4" "$1"; clean_snaps "$1"; }
before_mem() { downtime "$1" before-memory "$E2E_WORK/xl-snapshot-before" create -n "n$4" "$1"; clean_snaps "$1"; }
tool_live() { downtime "$1" create-memory-live xl-snapshot create --live -n "l$4" "$1"; clean_snaps "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.3f", a / b }'; }
# group GUEST DOMID UUID REP FLOOR:LABEL... TOOL:LABEL...: run the floors
# and tools (reversed on even repetitions); each tool's gap over the
# first floor's, each other floor's too, as LABEL.ratio
group() {
    local g=$1 d=$2 u=$3 r=$4 i f="" fl="" fn ratio_
    shift 4
    local steps=("$@") order=()
    if [ $((r % 2)) = 1 ]; then order=("${steps[@]}"); else
        for ((i = ${#steps[@]} - 1; i >= 0; i--)); do order+=("${steps[i]}"); done
    fi
    declare -A gaps=()
    for i in "${order[@]}"; do
        fn=${i%%:*}
        "$fn" "$g" "$d" "$u" "$r"
        gaps[$i]=$GAP
    done
    fl=${steps[0]}
    f=${gaps[$fl]}
    for i in "${steps[@]:1}"; do
        ratio_=$(ratio "${gaps[$i]}" "$f")
        [ -z "$ratio_" ] || result "$GT" "${i#*:}.ratio" "$ratio_" x
        # the tools against the xc floor as well
        [ "${steps[1]%%:*}" = floor_disk_xc ] && [ "$i" != "${steps[1]}" ] || continue
        ratio_=$(ratio "${gaps[$i]}" "${gaps[${steps[1]}]}")
        [ -z "$ratio_" ] || result "$GT" "${i#*:}.ratio-xc" "$ratio_" x
    done
}
bench_floors() {
    local name=$1 r uuid domid before=()
    GT=$2
    boot "$name" "$GT" 0 || return
    for ((r = 1; r <= REPS; r++)); do
        if ! xl domid "$name" >/dev/null 2>&1; then
            note "$name is gone: booting it again"
            boot "$name" "$GT" 0 || return
        fi
        domid=$(xl domid "$name")
        uuid=$(xl list -v "$name" | awk 'NR==2 {print $7}')
        before=()
        [ -x "$E2E_WORK/xl-snapshot-before" ] && before=(before_disk:before-disk-only-vs-floor)
        group "$name" "$domid" "$uuid" "$r" floor_disk:disk-floor \
            floor_disk_xc:xc-floor-vs-floor tool_disk:disk-only-vs-floor "${before[@]}"
        [ -x "$E2E_WORK/xl-snapshot-before" ] && before=(before_mem:before-memory-vs-save-c)
        group "$name" "$domid" "$uuid" "$r" floor_mem:save-c \
            tool_mem:memory-vs-save-c tool_live:live-vs-save-c "${before[@]}"
    done
    xl destroy "$name" 2>/dev/null
    clean_snaps "$name"
}

emit "# bench: dom0 $(awk '/^MemAvailable/ {printf "%d MiB available", $2/1024}' /proc/meminfo), xen free $(xl info free_memory) MiB, guest $MEM MiB, $REPS reps"
# the bench guest: e2e guest initramfs + a second archive with our /init
cat /share/images/guest-initrd "$T/bench-init.cpio.gz" > "$E2E_WORK/bench-initrd"
rm -f "$E2E_WORK/xl-snapshot-before" "$E2E_WORK/pause-trace.so"
[ ! -f "$T/pause-trace.so" ] || install -m 0755 "$T/pause-trace.so" "$E2E_WORK/"
[ ! -f "$T/xl-snapshot-before" ] ||
    install -m 0755 "$T/xl-snapshot-before" "$E2E_WORK/xl-snapshot-before"

if [ "${E2E_BENCH_ROWS:-all}" = floors ]; then
    bench_floors bpv pv
    bench_floors bpvh pvh
    cp /var/log/xen/console/guest-b*.log "$RES/" 2>/dev/null
    [ "$FAILED" = 0 ]
    exit
fi
bench_guest bpv pv
bench_guest bpvh pvh
# and the floors (the same groups as E2E_BENCH_ROWS=floors, with
# E2E_BENCH_FLOOR_REPS repetitions, 3 by default)
REPS=${E2E_BENCH_FLOOR_REPS:-3} bench_floors bpv pv
REPS=${E2E_BENCH_FLOOR_REPS:-3} bench_floors bpvh pvh

# a guest whose memory holds random data: how well does it compress?
GT=pv
if boot brand pv "$FILL"; then
    until grep -aq "guest ready fill=$FILL" "$CON/guest-brand.log"; do sleep 1; done
    xl-snapshot create -n raw brand >/dev/null 2>&1 3>&- || failed "create raw"
    uuid=$(xl list -v brand | awk 'NR==2 {print $7}')
    result pv random.memory.raw "$(stat -c %s "$XL_SNAPSHOT_DIR/$uuid/raw/memory.save")" bytes
    clean_snaps brand
    xl-snapshot create --compress zstd -n z brand >/dev/null 2>&1 3>&- || failed "create zstd"
    result pv random.memory.zstd "$(stat -c %s "$XL_SNAPSHOT_DIR/$uuid/z/memory.save.zst")" bytes
    clean_snaps brand
    xl destroy brand
fi
cp /var/log/xen/console/guest-b*.log "$RES/" 2>/dev/null
[ "$FAILED" = 0 ]
