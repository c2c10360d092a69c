# SPDX-License-Identifier: GPL-2.0-only
# snap.bash - helpers for the xl-snapshot e2e tests (inside dom0).
# Load after lib/e2e:   load 'lib/snap'
bats_require_minimum_version 1.5.0
_e2e_fn_list "$_E2E_FNS" 2>/dev/null || true

# log_mark NAME: how many complete lines the guest's console log has
# (read in bash: no process).
log_mark() {
    local -a lines=()
    { mapfile lines < "$(e2e_guest_log "$1")"; } 2>/dev/null
    local n=${#lines[@]}
    [ "$n" = 0 ] || [[ ${lines[n - 1]} == *$'\n' ]] || n=$((n - 1))
    echo "$n"
}

# _complete_log NAME: the console log without CRs and without a last line
# that the guest is still writing.
_complete_log() {
    local data
    data=$(tr -d '\r' < "$(e2e_guest_log "$1")" 2>/dev/null; printf x)
    data=${data%x}
    [[ $data == *$'\n' ]] || data=${data%$'\n'*}$'\n'
    printf '%s' "$data"
}

# _wait_log NAME MARK TIMEOUT WHAT KIND: follow the guest's console log
# from its first line until a line after line MARK is what KIND looks
# for, and print its number; WHAT names it on timeout.  KIND: tick (the
# first "tick N"), rewind (the first "tick N" lower than the tick before
# it, which may be at or before MARK), boot (the first "boot
# disk-counter N").  Lines are read in bash (_e2e_follow_*), without a
# process per look.  Any other KIND is an awk program, given m = MARK,
# run on the whole log (_complete_log) at each look until it prints.
_wait_log() {
    local name=$1 mark=$2 deadline=$((SECONDS + $3)) what=$4 kind=$5 n=0 prev='' l v
    case $kind in
    tick|rewind|boot) ;;
    *)
        while :; do
            v=$(_complete_log "$name" | awk -v m="$mark" "$kind")
            [ -z "$v" ] || { echo "$v"; return 0; }
            [ $SECONDS -lt $deadline ] || { echo "$name: no $what after line $mark" >&2; return 1; }
            e2e_sleep 0.2
        done ;;
    esac
    _e2e_follow_open "$(e2e_guest_log "$name")" || true
    while :; do
        if [ -z "$_E2E_FOLLOW_FD" ]; then
            _e2e_follow_open "$(e2e_guest_log "$name")" || true
        fi
        while [ -n "$_E2E_FOLLOW_FD" ] && _e2e_follow_next; do
            n=$((n + 1))
            l=$_E2E_FOLLOW_LINE
            case $kind in
            tick|rewind) [[ $l =~ ^tick\ ([0-9]+)$ ]] || continue ;;
            boot) [[ $l =~ ^boot\ disk-counter\ ([0-9]+)$ ]] || continue ;;
            esac
            v=$((10#${BASH_REMATCH[1]}))
            if [ "$n" -gt "$mark" ] && { [ "$kind" != rewind ] || { [ -n "$prev" ] && [ "$v" -lt "$prev" ]; }; }; then
                _e2e_follow_close
                echo "$v"
                return 0
            fi
            prev=$v
        done
        if [ $SECONDS -ge $deadline ]; then
            _e2e_follow_close
            echo "$name: no $what after line $mark" >&2
            return 1
        fi
        e2e_sleep 0.2
    done
}

# first_tick_after NAME MARK [TIMEOUT]: the first "tick N" printed after line MARK.
first_tick_after() {
    _wait_log "$1" "$2" "${3:-60}" tick tick
}

# rewind_tick NAME MARK [TIMEOUT]: after a revert of a running guest, the
# first tick printed after line MARK that is lower than the tick before it
# (the old guest may print a few more ticks before it is destroyed).
rewind_tick() {
    _wait_log "$1" "$2" "${3:-60}" rewind rewind
}

# boot_counter_after NAME MARK [TIMEOUT]: the "boot disk-counter N" printed after MARK.
boot_counter_after() {
    _wait_log "$1" "$2" "${3:-90}" boot boot
}

# near A B [SLACK]: A is within SLACK (3) of B; says so when not.
near() {
    local d=$(( $1 - $2 ))
    [ ${d#-} -le "${3:-3}" ] || { echo "$1 is not within ${3:-3} of $2" >&2; return 1; }
}

# on_failure_show GUEST...: in teardown, after a failed test: what the
# last `run` said, the tail of the guests' consoles and of the monitor
# log of domains xl-snapshot started, Xen's fault lines, the domain list.
on_failure_show() {
    [ -z "${BATS_TEST_COMPLETED:-}" ] || return 0
    local g
    echo "# last run: status ${status:-?}, output:"
    printf '%s\n' "${output:-}" | tail -n 8 | sed 's/^/#   /'
    for g in "$@"; do
        if [ -f "$(e2e_guest_log "$g")" ]; then
            echo "# console $g:"
            tail -n 5 "$(e2e_guest_log "$g")"
        fi
        if [ -f "/var/log/xen/xl-snapshot-$g.log" ]; then
            echo "# xl-snapshot's monitor of $g:"
            tail -n 5 "/var/log/xen/xl-snapshot-$g.log"
        fi
    done
    xl dmesg 2>/dev/null | grep -aE 'Triple fault|RIP:|domain_crash' | tail -n 6
    xl list
}

# snap_disk_counter IMAGE SNAPNAME: the counter inside an internal snapshot.
snap_disk_counter() {
    local tmp=$E2E_WORK/snapread.$$.qcow2
    qemu-img convert -U -l "snapshot.name=$2" -O qcow2 "$1" "$tmp" || return 1
    e2e_disk_counter "$tmp"
    rm -f "$tmp"
}

# image_sum IMAGE: checksum of the guest-visible content of an image chain.
image_sum() {
    local tmp=$E2E_WORK/sum.$$.raw
    qemu-img convert -U -O raw "$1" "$tmp" || return 1
    md5sum < "$tmp" | cut -d' ' -f1
    rm -f "$tmp"
}

# active_disk NAME [VDEV]: the image the domain's config names now.
active_disk() {
    xls create -N --no-memory "$1" 2>/dev/null |
        jq -r --arg v "${2:-xvda}" '.disks[] | select(.vdev == $v) | .image'
}

# uuid_of NAME
uuid_of() { xl list -v "$1" | awk 'NR==2 {print $7}'; }

# snap_sum IMAGE SNAPNAME: checksum of the data of an internal snapshot.
snap_sum() {
    local tmp=$E2E_WORK/snapsum.$$.qcow2 s
    qemu-img convert -U -l "snapshot.name=$2" -O qcow2 "$1" "$tmp" || return 1
    s=$(image_sum "$tmp")
    rm -f "$tmp"
    echo "$s"
}

# image_snapshots IMAGE: the internal snapshot names of IMAGE, one a line.
image_snapshots() {
    qemu-img info -U --output=json "$1" | jq -r '.snapshots[]?.name'
}

# xls ARGS...: xl-snapshot ARGS with a watchdog: its output goes through
# a file (a daemon it leaves cannot hold a pipe open), and after
# ${XLS_TIMEOUT:-300} s a hung process is shown (wchan, kernel stack,
# open files, xl/qemu processes) and killed: a hang becomes a failure.
xls() {
    local out=$E2E_WORK/xls.$BASHPID.out pid rc
    local deadline=$((SECONDS + ${XLS_TIMEOUT:-300})) hung=0
    xl-snapshot "$@" > "$out" 2> "$out.err" 3>&- &
    pid=$!
    while e2e_alive $pid; do
        if [ $SECONDS -ge $deadline ]; then
            {
                echo "xl-snapshot $* hangs: wchan $(cat /proc/$pid/wchan 2>/dev/null), stat $(cat /proc/$pid/stat 2>/dev/null)"
                cat /proc/$pid/stack 2>/dev/null
                ls -l /proc/$pid/fd 2>/dev/null
                # its children (lvm, qemu-img, ...) and every xl and qemu
                ps -eo pid,ppid,stat,etimes,wchan:32,args |
                    awk -v p=$pid 'NR == 1 || $2 == p || /xl|qemu/' | grep -v -e grep -e awk
            } 2>&1 | while IFS= read -r l; do e2e_log "$l"; done
            kill -9 $pid
            hung=1
        fi
        e2e_sleep 0.1
    done
    wait $pid
    rc=$?
    [ $hung = 0 ] || rc=124
    # its output as it was, read in bash (one process for the two files)
    local text=''
    IFS= read -r -d '' text < "$out"
    printf '%s' "$text"
    text=''
    IFS= read -r -d '' text < "$out.err"
    printf '%s' "$text" >&2
    rm -f "$out" "$out.err"
    return $rc
}

# check_repairs DOMAIN PATTERN: `check` finds PATTERN (exit 1), `check
# --repair` exits 0, a second `check` is clean.
check_repairs() {
    run -1 xls check "$1"
    e2e_log "[$SECONDS s] check: ${output//$'\n'/ | }"
    assert_output --partial "$2"
    run -0 xls check --repair "$1"
    e2e_log "[$SECONDS s] repair: ${output//$'\n'/ | }"
    run -0 xls check "$1"
    assert_output "No problems found."
}

# expect DOMAIN SNAP: remember in $EXP what a ready snapshot holds
# (memory snapshots: the counter in its disk data; disk-only: a checksum)
expect() {
    local img
    img=$(xl-snapshot info --json "$1" "$2" | jq -r '.disks[0].image')
    if [ "$(xl-snapshot info --json "$1" "$2" | jq -r '.memory')" != null ]; then
        echo "$1 $2 counter $(snap_disk_counter "$img" "$2")" >> "$EXP"
    else
        echo "$1 $2 sum $(snap_sum "$img" "$2")" >> "$EXP"
    fi
}

# kill_at STEP ARGS...: xl-snapshot ARGS with a fault at STEP: it must die of SIGKILL
kill_at() {
    local step=$1
    shift
    XL_SNAPSHOT_FAULT=$step run -137 xls "$@"
}

# runs_on DOMAIN: the guest is running and counting
runs_on() {
    [ "$(e2e_domain_state "$1")" = running ] || { echo "$1 is $(e2e_domain_state "$1")" >&2; return 1; }
    e2e_wait_counter_above "$1" $(( $(e2e_guest_counter "$1") + 5 )) 30 >/dev/null
}

# all_revert_exact: with `check` clean before and after, revert every
# snapshot listed in $EXP (by expect, or "DOMAIN SNAP extsum SUM" for
# external ones) and compare its data
all_revert_exact() {
    local dom snap kind val mark first img got
    run -0 xls check
    assert_output "No problems found."
    while read -r dom snap kind val; do
        xl destroy "$dom" 2>/dev/null || true
        e2e_wait_domain_state "$dom" gone 30
        case $kind in
        counter)
            mark=$(log_mark "$dom")
            run -0 xls revert "$dom" "$snap"
            first=$(first_tick_after "$dom" "$mark")
            e2e_log "$dom $snap: snapshot counter $val, first tick $first"
            near "$first" "$val"
            img=$(xl-snapshot info --json "$dom" "$snap" | jq -r '.disks[0].image')
            [ "$(snap_disk_counter "$img" "$snap")" = "$val" ]
            ;;
        sum|extsum)
            run -0 xls revert --paused "$dom" "$snap"
            got=$(image_sum "$(active_disk "$dom")")
            e2e_log "$dom $snap: sum $got (snapshot $val)"
            [ "$got" = "$val" ]
            ;;
        esac
    done < "$EXP"
    run -0 xls check
    assert_output "No problems found."
}

# revert_rewinds NAME SNAP: a running guest, its disk counter in SNAP
# taken, counts on past it; revert --force NAME SNAP must bring it back:
# its first tick after the revert is near the snapshot's counter.
revert_rewinds() {
    local name=$1 snap=$2 d m mark first
    d=$(snap_disk_counter "$(e2e_guest_disk "$name")" "$snap") || return 1
    m=$(e2e_wait_counter_above "$name" $((d + 30)) 60) || return 1
    mark=$(log_mark "$name")
    xl-snapshot revert --force "$name" "$snap" || return 1
    first=$(rewind_tick "$name" "$mark") || return 1
    e2e_log "$name/$snap: snapshot $d, before revert $m, first tick after revert $first"
    near "$first" "$d" && [ "$first" -lt "$m" ]
}

# qemu_io DOMAIN VDEV 'QEMU-IO COMMAND': run a qemu-io command inside the
# domain's QEMU (HMP "qemu-io -d" through libxl's QMP socket, under
# libxl's lock) on disk VDEV's xen-block device: what the guest reads
# and writes.  Prints the monitor's answer and what the command printed
# on QEMU's stdout (its qemu-dm log): "Pattern verification failed" on a
# bad read.
qemu_io() {
    local domid uuid log n
    domid=$(e2e_domid "$1") || return 1
    uuid=$(uuid_of "$1")
    log=/var/log/xen/qemu-dm-$1.log
    n=$(wc -l < "$log")
    python3 - "$domid" "$uuid" "$2" "$3" <<'PY' || return 1
import fcntl, json, socket, sys
domid, uuid, vdev, cmd = sys.argv[1:]
lock = open('/var/lib/xen/userdata-l.%s.%s.qmp-socket-lock' % (domid, uuid), 'a')
fcntl.flock(lock, fcntl.LOCK_EX)
s = socket.socket(socket.AF_UNIX)
s.connect('/var/run/xen/qmp-libxl-%s' % domid)
f = s.makefile('rw')
f.readline()
def x(c, **a):
    f.write(json.dumps({'execute': c, 'arguments': a}) + '\n'); f.flush()
    while True:
        r = json.loads(f.readline())
        if 'event' not in r: return r
x('qmp_capabilities')
dev = None
for b in x('query-block')['return']:
    n = b.get('inserted', {}).get('node-name', '')
    if n.startswith(vdev + '-') or n.startswith('xs-' + vdev + '-'): dev = b['qdev']
if not dev: sys.exit('no device for ' + vdev)
r = x('human-monitor-command', **{'command-line': 'qemu-io -d %s "%s"' % (dev, cmd)})
print(r.get('return', r.get('error')).strip())
PY
    sleep 0.2
    tail -n +$((n + 1)) "$log" | tr '\n' ' '
}

# qemu_has_chain DOMAIN: every file of the backing chain of the domain's
# active disk has its inode open in the domain's QEMU (an external
# snapshot must not leave a layer's node reading another file); logs
# what QEMU has open.
qemu_has_chain() {
    local img qpid f ino inodes missing=""
    img=$(active_disk "$1")
    qpid=$(xenstore-read "/local/domain/$(e2e_domid "$1")/image/device-model-pid") || return 1
    inodes=$(for f in /proc/"$qpid"/fd/*; do stat -L -c %i "$f" 2>/dev/null; done | sort -u)
    while read -r f; do
        ino=$(stat -c %i "$f") || return 1
        grep -qx "$ino" <<< "$inodes" || missing="$missing $f"
    done < <(qemu-img info -U -f qcow2 --backing-chain --output=json "$img" | jq -r '.[].filename')
    e2e_log "QEMU ($qpid) has open: $(for f in /proc/"$qpid"/fd/*; do readlink "$f"; done 2>/dev/null | grep -F "$(dirname "$img")/" | sed "s|$(dirname "$img")/||" | sort | tr '\n' ' ')${missing:+; NOT open:$missing}"
    [ -z "$missing" ]
}

# chain_files IMAGE: the files of IMAGE's backing chain, top first
chain_files() {
    qemu-img info -U -f qcow2 --backing-chain --output=json "$1" | jq -r '.[].filename'
}

# delete_ticking DOMAIN SNAP [OPTION...]: delete SNAP (with OPTIONs)
# while watching the guest's console, where its ticker writes a line a
# tenth of a second; prints "took T s, longest tick gap G s" and fails
# when G > DELETE_TICK_MAX_GAP_MS (5000): G is the longest time
# the console log did not grow (sampled with stat, one process a sample:
# the guest's own counter, parsed from the whole log, took a second a
# sample under TCG and hid every gap)
delete_ticking() {
    local dom=$1 snap=$2 out=$E2E_WORK/del.$$ log size sz pid n=0
    local t0 now last gap=0
    shift 2
    log=$(e2e_guest_log "$dom")
    xl-snapshot delete "$dom" "$snap" "$@" > "$out" 2>&1 3>&- &
    pid=$!
    # times in microseconds, bash arithmetic: one process (stat) a sample
    t0=${EPOCHREALTIME/./}
    last=$t0
    size=$(stat -c %s "$log")
    while kill -0 $pid 2>/dev/null; do
        e2e_sleep 0.1
        now=${EPOCHREALTIME/./}
        sz=$(stat -c %s "$log")
        n=$((n + 1))
        if [ "$sz" != "$size" ]; then
            size=$sz
            last=$now
        fi
        [ $((now - last)) -le "$gap" ] || gap=$((now - last))
    done
    now=${EPOCHREALTIME/./}
    wait $pid || { cat "$out"; return 1; }
    cat "$out"
    # (the guest ticks every 0.2 s, a sample every 0.1 s: a gap of 0.2 s is
    # a guest that never stopped)
    printf 'took %d.%d s, longest tick gap %d.%d s (a sample every %d.%02d s)\n' \
        $(((now - t0) / 1000000)) $(((now - t0) / 100000 % 10)) \
        $((gap / 1000000)) $((gap / 100000 % 10)) \
        $(((now - t0) / (n + 1) / 1000000)) $(((now - t0) / (n + 1) / 10000 % 100))
    rm -f "$out"
    # the guest runs on throughout: a pause for the job would show
    if [ $((gap / 1000)) -gt "${DELETE_TICK_MAX_GAP_MS:-5000}" ]; then
        echo "the guest did not tick for more than ${DELETE_TICK_MAX_GAP_MS:-5000} ms"
        return 1
    fi
}

# these helpers without bats' DEBUG trap (lib/e2e.bash, _e2e_untraced)
_e2e_untraced _e2e_untrace_since "$_E2E_FNS" 2>/dev/null || true
