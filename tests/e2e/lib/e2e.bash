# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
# Helpers for e2e bats tests. They run INSIDE dom0 (Xen 4.17 in QEMU), started by
# tests/e2e/run.sh. Load with:   load 'lib/e2e'
#
# The test guest (tests/e2e/images/guest-init) ticks every ~200 ms: n=n+1, writes n into
# sector 1 of every disk (fsync'd), then prints "tick n" on its console, which
# xenconsoled logs to /var/log/xen/console/guest-NAME.log. At boot it prints
# "boot disk-counter <n>" (the counter found on xvda; counting resumes from it) and
# "guest ready disks=...".
#
# Layout (dom0 RAM tmpfs; gone at poweroff):
#   $E2E_WORK/guests/NAME/NAME.cfg      rendered xl config
#   $E2E_WORK/guests/NAME/xvda.qcow2    disks (xvdb.qcow2 ...)
#
# Env: E2E_WORK (/tmp/e2e), E2E_IMAGES (/share/images), E2E_GUEST_MEM (MiB, 96; 64 is too small for the PV kernel),
#      E2E_GUEST_BOOT_TIMEOUT (s, 120), E2E_BOOT_RETRIES (4), E2E_DISK_SIZE (16M),
#      E2E_GUEST_EXTRA (appended to the guest kernel's command line), E2E_GUEST_CFG
#      (extra xl config lines).
#      The guests boot E2E_IMAGES/guest-vmlinux (uncompressed) when it is
#      there, guest-vmlinuz otherwise: e2e_guest_kernel.

E2E_WORK=${E2E_WORK:-/tmp/e2e}
E2E_IMAGES=${E2E_IMAGES:-/share/images}
E2E_GUEST_MEM=${E2E_GUEST_MEM:-96}
E2E_GUEST_BOOT_TIMEOUT=${E2E_GUEST_BOOT_TIMEOUT:-120}
E2E_DISK_SIZE=${E2E_DISK_SIZE:-16M}
E2E_CONSOLE_DIR=${E2E_CONSOLE_DIR:-/var/log/xen/console}
# This file is loaded again for every test (bats sources a test file once
# per test), and every process dom0 starts costs its one emulated CPU
# 40-100 ms (tests/e2e/README.md, "Where dom0's CPU goes"): loading it
# starts none.
_e2e_here=${BASH_SOURCE[0]%/*}
[[ ${BASH_SOURCE[0]} == */* ]] || _e2e_here=.
[[ $_e2e_here == /* ]] || _e2e_here=$PWD/$_e2e_here
E2E_TEMPLATES=${E2E_TEMPLATES:-${_e2e_here%/lib}/guests}
export BATS_LIB_PATH=${BATS_LIB_PATH:-/usr/lib/bats}
[[ :$PATH: == *:/usr/lib/xen-4.17/bin:* ]] || export PATH="$PATH:/usr/lib/xen-4.17/bin:/usr/lib/xen-4.20/bin"

# bats runs every command of a test under a DEBUG trap (bats_debug_trap,
# which records a stack trace for its failure report), inherited by every
# function the test calls (bats sets -T).  It makes each simple command
# ~0.5 ms on the host and 5-10 ms in dom0 under TCG: a loop of 20,000
# additions took 10.5 s instead of 0.08 s, and _wait_log, reading a console
# log line by line, ~70 ms a line.  So the functions of these libraries
# (and of bats-support, -assert and -file) run without it: each is
# called through a wrapper that clears -T for the call (_e2e_untraced;
# functrace decides at a function's entry whether it inherits the trap).
# bats still reports a failure at the test's line that called the helper:
# these files are in its debug exclude paths, as its own libraries are.

# _e2e_untraced FUNCTION ARGS...: FUNCTION ARGS without bats' DEBUG trap.
_e2e_untraced() {
    local -
    set +T
    "$@"
}

# _e2e_fn_list FILE: the names of the functions defined now, one a line,
# into FILE (a redirection and no process: $(compgen) would be a fork).
_e2e_fn_list() { compgen -A function > "$1"; }

# e2e_untrace FUNCTION...: from now on each FUNCTION runs through
# _e2e_untraced (its body moves to _e2e_u_FUNCTION).  Only under bats;
# no process: declare -f goes through a file, read back with $(<...).
e2e_untrace() {
    declare -F bats_debug_trap >/dev/null || return 0
    local f def tmp=$_E2E_FNS.def
    for f in "$@"; do
        declare -f "$f" > "$tmp" || return 1
        def=$(<"$tmp")
        # "NAME () {...}" becomes "_e2e_u_NAME () {...}"
        eval "_e2e_u_$def" || return 1
        eval "$f() { _e2e_untraced _e2e_u_$f \"\$@\"; }"
    done
}

# _e2e_untrace_since FILE: e2e_untrace every function defined since
# _e2e_fn_list FILE (but the machinery above).
_e2e_untrace_since() {
    local -A before=()
    local -a now=() names=()
    local f
    declare -F bats_debug_trap >/dev/null || return 0
    mapfile -t now < "$1"
    for f in "${now[@]}"; do before[$f]=1; done
    _e2e_fn_list "$1"
    mapfile -t now < "$1"
    for f in "${now[@]}"; do
        case $f in
        _e2e_untraced|e2e_untrace|_e2e_fn_list|_e2e_untrace_since|_e2e_u_*) continue ;;
        # a test file's tests, setup and teardown stay traced: bats
        # reports the line of their failing command
        test_*|setup|teardown|setup_file|teardown_file|bats_*) continue ;;
        esac
        [ -n "${before[$f]:-}" ] || names+=("$f")
    done
    e2e_untrace "${names[@]}"
}

# e2e_untrace_helpers: the last line of a test file with helpers of its
# own: they run without bats' DEBUG trap too (its tests, setup and
# teardown keep it).
e2e_untrace_helpers() { _e2e_untraced _e2e_untrace_since "$_E2E_FNS" 2>/dev/null || true; }

_E2E_FNS=${BATS_TEST_TMPDIR:-${BATS_RUN_TMPDIR:-${TMPDIR:-/tmp}}}/.e2e-fns.$BASHPID
_e2e_fn_list "$_E2E_FNS" 2>/dev/null || true

# shellcheck source=bats-libs.bash disable=SC1091
. "$_e2e_here/bats-libs.bash"
if declare -F bats_load_library >/dev/null; then
    xlsnap_load_bats_lib bats-support
    xlsnap_load_bats_lib bats-assert
    xlsnap_load_bats_lib bats-file
fi

# e2e_sleep SECS: sleep without starting a process: read -t on a FIFO that
# nobody writes (made when this file is loaded; subshells share it).
# /bin/sleep is a fork and an exec, ~0.1 s of dom0's one emulated CPU, so
# a poll loop with a "sleep 0.2" in it kept that CPU half busy waiting.
# dom0's runner makes one FIFO for all (E2E_SLEEP_FIFO): opening it
# starts no process, making one takes a mkfifo and an rm.
_e2e_sleep_open() {
    local f
    if [ -p "${E2E_SLEEP_FIFO:-}" ]; then
        exec {_E2E_SLEEP_FD}<>"$E2E_SLEEP_FIFO"
        return
    fi
    f=${TMPDIR:-/tmp}/e2e-sleep.$$.$RANDOM$RANDOM
    mkfifo -m 0600 "$f" 2>/dev/null || return 1
    exec {_E2E_SLEEP_FD}<>"$f"
    rm -f "$f"
}
e2e_sleep() {
    [ -n "${_E2E_SLEEP_FD:-}" ] || _e2e_sleep_open || { sleep "$1"; return 0; }
    read -r -t "$1" -u "$_E2E_SLEEP_FD" _ || true
}
_E2E_SLEEP_FD=''
_e2e_sleep_open || true

# e2e_alive PID: PID still runs (not gone, not a zombie).  `kill -0` alone
# also succeeds on a child that has exited and that this shell has not
# reaped yet, and a poll loop built only of builtins (kill -0, e2e_sleep)
# gives bash no fork or wait at which to reap it: ci21's 55-lvm test 3
# "hung" in `xls revert` for the whole 300 s, yet the revert had done all
# its work and the process was gone the moment the diagnostics forked.
e2e_alive() {
    local st
    kill -0 "$1" 2>/dev/null || return 1
    { read -r st < "/proc/$1/stat"; } 2>/dev/null || return 1
    st=${st##*) }
    [ "${st%% *}" != Z ]
}

# e2e_log MSG...: a "# MSG" diagnostic line that shows in the TAP output (fd 3).
e2e_log() {
    if { true >&3; } 2>/dev/null; then echo "# $*" >&3; else echo "# $*" >&2; fi
}

e2e_guest_dir() { echo "$E2E_WORK/guests/$1"; }
# e2e_guest_disk NAME [VDEV]: path of the guest's qcow2 disk (default xvda).
e2e_guest_disk() { echo "$E2E_WORK/guests/$1/${2:-xvda}.qcow2"; }
e2e_guest_log() { echo "$E2E_CONSOLE_DIR/guest-$1.log"; }
e2e_guest_cfg() { echo "$E2E_WORK/guests/$1/$1.cfg"; }

# _e2e_vdev I: the vdev of disk I: xvda, xvdb, ... or the Ith of E2E_VDEVS ("hda hdc")
_e2e_vdev() {
    local letters=abcdefghij v
    if [ -n "${E2E_VDEVS:-}" ]; then read -r -a v <<< "$E2E_VDEVS"; echo "${v[$1]}"; return; fi
    echo "xvd${letters:$1:1}"
}

# e2e_create_disks NAME NDISKS: create the guest's qcow2 disks that do not exist yet.
e2e_create_disks() {
    local name=$1 n=${2:-1} i img
    mkdir -p "$(e2e_guest_dir "$name")"
    for ((i = 0; i < n; i++)); do
        img=$(e2e_guest_disk "$name" "$(_e2e_vdev "$i")")
        [ -f "$img" ] || qemu-img create -q -f qcow2 "$img" "$E2E_DISK_SIZE" || return 1
    done
}

# e2e_write_cfg NAME [pv|pvh|hvm] [NDISKS]: render tests/e2e/guests/<type>.cfg.in.
# HVM boots guest-vmlinuz (QEMU's direct kernel boot loads a bzImage).
e2e_write_cfg() {
    local name=$1 type=${2:-pv} n=${3:-1} i disks='' vdev kernel
    kernel=$(e2e_guest_kernel)
    [ "$type" != hvm ] || kernel=$E2E_IMAGES/guest-vmlinuz
    for ((i = 0; i < n; i++)); do
        vdev=$(_e2e_vdev "$i")
        disks+="${disks:+, }'format=qcow2,vdev=$vdev,access=rw,backendtype=qdisk,target=$(e2e_guest_disk "$name" "$vdev")'"
    done
    mkdir -p "$(e2e_guest_dir "$name")"
    sed -e "s|@NAME@|$name|g" -e "s|@KERNEL@|$kernel|g" \
        -e "s|@RAMDISK@|$E2E_IMAGES/guest-initrd|g" -e "s|@MEMORY@|$E2E_GUEST_MEM|g" \
        -e "s|@DISKS@|$disks|g" -e "s|@EXTRA@|${E2E_GUEST_EXTRA:+ $E2E_GUEST_EXTRA}|g" \
        "$E2E_TEMPLATES/$type.cfg.in" > "$(e2e_guest_cfg "$name")"
    # E2E_GUEST_CFG: extra xl config lines (e.g. tsc_mode="native"), for measurements
    [ -z "${E2E_GUEST_CFG:-}" ] || printf '%s\n' "$E2E_GUEST_CFG" >> "$(e2e_guest_cfg "$name")"
}

# The images (read-only) through their own 9p export with the page cache
# on: libxc maps the guest kernel, and without a cache every page of it
# was a 9p round trip (~4 s of each guest boot).
e2e_mount_images() {
    mkdir -p /images &&
        mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro images /images 2>/dev/null &&
        export E2E_IMAGES=/images
}

# e2e_guest_kernel: the guest kernel to boot
e2e_guest_kernel() {
    if [ -f "$E2E_IMAGES/guest-vmlinux" ]; then
        echo "$E2E_IMAGES/guest-vmlinux"
    else
        echo "$E2E_IMAGES/guest-vmlinuz"
    fi
}

# e2e_domid NAME: the domain id, or nothing (status 1) if there is no such domain.
e2e_domid() { xl domid "$1" 2>/dev/null; }

# e2e_start_guest NAME [pv|pvh|hvm] [NDISKS]: create disks (if missing) and config, xl create,
# wait for the guest's own "guest ready" console line. Prints the domid.
#
# Only the BOOT is retried, never a test's assertion: a boot that fails in a way that
# is the emulator's and not the tool's (the guest resets before it is ready -- PVH
# triple faults under nested SVM in TCG --, dies before it is ready, is not ready in
# E2E_GUEST_BOOT_TIMEOUT, or xl create times out starting the device model) is
# destroyed and started again, at most E2E_BOOT_RETRIES times (4). Each retry is
# logged as a "# e2e-retry: ..." line with the Xen evidence (xl dmesg's last lines
# for the domain, the guest console's last lines) and counted in
# $E2E_SHARE/results/boot-retries.txt, which run.sh totals in its summary.
# The guest writes its disks only after "guest ready", so a failed attempt leaves
# them as they were.
e2e_start_guest() {
    local name=$1 type=${2:-pv} n=${3:-1} try=0 reason domid
    if e2e_domid "$name" >/dev/null; then
        echo "e2e_start_guest: domain $name already exists" >&2; return 1
    fi
    e2e_create_disks "$name" "$n" || return 1
    e2e_write_cfg "$name" "$type" "$n"
    while :; do
        if domid=$(_e2e_boot_once "$name"); then
            echo "$domid"; return 0
        fi
        reason=$(cat "$(e2e_guest_dir "$name")/boot-failure" 2>/dev/null)
        case $reason in
            retry:*) ;;
            *) echo "e2e_start_guest: $name: ${reason:-boot failed}" >&2; return 1 ;;
        esac
        try=$((try + 1))
        _e2e_boot_evidence "$name" "$try" "${reason#retry:}"
        xl destroy "$name" >/dev/null 2>&1 3>&- || true
        e2e_wait_domain_state "$name" gone 60 || return 1
        if [ "$try" -gt "${E2E_BOOT_RETRIES:-4}" ]; then
            echo "e2e_start_guest: $name: boot failed $try times (E2E_BOOT_RETRIES=${E2E_BOOT_RETRIES:-4}); last: ${reason#retry:}" >&2
            return 1
        fi
    done
}

# _e2e_boot_once NAME: one xl create + wait for "guest ready". Prints the domid.
# On failure writes "retry:<why>" (an emulator-side boot failure) or "<why>" (anything
# else) into the guest dir's boot-failure file.
_e2e_boot_once() {
    local name=$1 dir log domid cur deadline t0=$SECONDS
    dir=$(e2e_guest_dir "$name")
    log=$(e2e_guest_log "$name")
    rm -f "$log" "$dir/boot-failure"
    # 3>&-: xl leaves a monitor daemon; it must not hold bats' fd 3
    if ! xl create "$(e2e_guest_cfg "$name")" > "$dir/create.log" 2>&1 3>&-; then
        if grep -q 'device model did not start\|timed out' "$dir/create.log"; then
            echo "retry:xl create timed out: $(grep -m1 'did not start\|timed out' "$dir/create.log")" > "$dir/boot-failure"
        else
            echo "xl create failed: $(tail -n 3 "$dir/create.log" | tr '\n' ' ')" > "$dir/boot-failure"
        fi
        return 1
    fi
    if ! domid=$(e2e_domid "$name"); then
        echo "retry:$name vanished right after xl create" > "$dir/boot-failure"; return 1
    fi
    deadline=$((SECONDS + E2E_GUEST_BOOT_TIMEOUT))
    # Each poll reads the console's new lines in bash (_e2e_follow_*: no
    # process); xl (~0.5 s of dom0's one emulated CPU a call, taken from
    # the booting guest) runs every 10th poll and once the guest is ready.
    local polls=0 ready=0
    _E2E_FOLLOW_FD=''
    while :; do
        [ -n "$_E2E_FOLLOW_FD" ] || _e2e_follow_open "$log" || true
        if [ -n "$_E2E_FOLLOW_FD" ] && _e2e_follow_grep 'guest ready'; then
            ready=1
        elif ((++polls % 10)) && [ $SECONDS -lt $deadline ]; then
            e2e_sleep 0.2; continue
        fi
        if ! cur=$(e2e_domid "$name"); then
            # libxl restarts a guest that reset (destroy, then create): allow a gap.
            local gap=$((SECONDS + 15))
            while ! cur=$(e2e_domid "$name") && [ $SECONDS -lt $gap ]; do e2e_sleep 0.2; done
            if [ -z "$cur" ]; then
                _e2e_follow_close
                echo "retry:died while booting (domid $domid)" > "$dir/boot-failure"; return 1
            fi
        fi
        if [ "$cur" != "$domid" ]; then
            _e2e_follow_close
            echo "retry:reset while booting (domid $domid -> $cur)" > "$dir/boot-failure"; return 1
        fi
        [ "$ready" = 0 ] || break
        if [ $SECONDS -ge $deadline ]; then
            _e2e_follow_close
            echo "retry:not ready after ${E2E_GUEST_BOOT_TIMEOUT}s" > "$dir/boot-failure"; return 1
        fi
        e2e_sleep 0.2
    done
    _e2e_follow_close
    echo "$((SECONDS - t0))" > "$dir/boot-secs"
    echo "$domid"
}

# _e2e_boot_evidence NAME TRY WHY: log a boot retry with what Xen and the guest said.
_e2e_boot_evidence() {
    local name=$1 try=$2 why=$3 res=${E2E_SHARE:-/share}/results l
    e2e_log "e2e-retry: guest $name boot attempt $try failed: $why"
    while IFS= read -r l; do e2e_log "e2e-retry:   xen: $l"; done < <(
        xl dmesg 2>/dev/null | grep -aiE 'triple|crash|fault|d[0-9]+v[0-9]+ (rip|rax|cr[0-4])|domain_crash' | tail -n 8)
    while IFS= read -r l; do e2e_log "e2e-retry:   console: $l"; done < <(
        tr -d '\r' < "$(e2e_guest_log "$name")" 2>/dev/null | tail -n 4)
    mkdir -p "$res" 2>/dev/null && printf '%s %s %s\n' "${BATS_TEST_FILENAME##*/}" "$name" "$why" >> "$res/boot-retries.txt"
    # keep Xen's full evidence of every retry
    xl dmesg > "$res/xl-dmesg-retry-$(date +%s)-$name.txt" 2>/dev/null || true
}

# Following a console log from bash, without a process per look: dom0 has
# one emulated CPU, shared with the guests, and each process costs it
# 0.1-0.5 s (tail, awk, grep, xl; measured in dom0 under TCG with two
# other VMs on the host), so a 0.2 s poll that started three of them kept
# it busy the whole wait (a PV guest: ready after ~19 s of its own CPU
# and dom0's, 25-30 s with e2e_start_guest's old poll).
# _e2e_follow_open FILE [end]: open FILE on _E2E_FOLLOW_FD (status 1 if
# it does not exist yet); "end": skip what it holds now (one cat).
_e2e_follow_open() {
    _E2E_FOLLOW_FD='' _E2E_FOLLOW_PART='' _E2E_FOLLOW_LINE=''
    [ -e "$1" ] || return 1
    exec {_E2E_FOLLOW_FD}<"$1" || { _E2E_FOLLOW_FD=''; return 1; }
    # the fd's offset is shared with cat's copy of it
    [ "${2:-}" != end ] || cat <&"$_E2E_FOLLOW_FD" >/dev/null
}
_e2e_follow_close() {
    [ -z "${_E2E_FOLLOW_FD:-}" ] || exec {_E2E_FOLLOW_FD}<&-
    _E2E_FOLLOW_FD=''
}
# _e2e_follow_next: the next complete line (CRs removed) in
# _E2E_FOLLOW_LINE; status 1 if none has been written yet (a line being
# written is kept for the next call: read consumes what it saw)
_e2e_follow_next() {
    local l
    if IFS= read -r -u "$_E2E_FOLLOW_FD" l; then
        _E2E_FOLLOW_LINE=$_E2E_FOLLOW_PART$l _E2E_FOLLOW_PART=''
        _E2E_FOLLOW_LINE=${_E2E_FOLLOW_LINE//$'\r'/}
        return 0
    fi
    _E2E_FOLLOW_PART+=$l
    return 1
}
# _e2e_follow_grep TEXT: a new line containing TEXT? (reads every new line)
_e2e_follow_grep() {
    local found=1
    while _e2e_follow_next; do
        [[ $_E2E_FOLLOW_LINE != *"$1"* ]] || found=0
    done
    return $found
}

# _e2e_complete_lines FILE: the last 16 KiB of FILE without CRs and without a partial
# last line (the console log is written while we read it).
_e2e_complete_lines() {
    local data
    data=$(tail -c 16384 "$1" 2>/dev/null; printf x)
    data=${data%x}
    data=${data//$'\r'/}
    [[ $data == *$'\n' ]] || data=${data%$'\n'*}$'\n'
    printf '%s' "$data"
}

# e2e_guest_counter NAME: the latest "tick N" on the guest's console (0 if none yet).
e2e_guest_counter() {
    _e2e_complete_lines "$(e2e_guest_log "$1")" | awk '/^tick [0-9]+$/ {n=$2} END {print n+0}'
}

# e2e_boot_disk_counter NAME: the counter the guest found on xvda at its last boot.
e2e_boot_disk_counter() {
    tr -d '\r' < "$(e2e_guest_log "$1")" | awk '/^boot disk-counter [0-9]+$/ {n=$3} END {print n}'
}

# e2e_wait_counter_above NAME N [TIMEOUT=60]: wait until the guest's tick > N; prints it.
# The log is followed from its end (_e2e_follow_open, then one look at
# its last lines): no process per poll.
e2e_wait_counter_above() {
    local name=$1 min=$2 timeout=${3:-60} c deadline t
    deadline=$((SECONDS + timeout))
    _e2e_follow_open "$(e2e_guest_log "$name")" end || true
    c=$(e2e_guest_counter "$name")
    while :; do
        [ "$c" -le "$min" ] || { _e2e_follow_close; echo "$c"; return 0; }
        if [ $SECONDS -ge $deadline ]; then
            _e2e_follow_close
            echo "e2e_wait_counter_above: $name still at tick $c (want > $min) after ${timeout}s" >&2
            return 1
        fi
        e2e_sleep 0.2
        if [ -z "$_E2E_FOLLOW_FD" ]; then
            # no log yet when the wait began
            _e2e_follow_open "$(e2e_guest_log "$name")" || true
            continue
        fi
        # the latest tick among the new lines
        while _e2e_follow_next; do
            t=${_E2E_FOLLOW_LINE#tick }
            [[ $_E2E_FOLLOW_LINE == "tick $t" && $t =~ ^[0-9]+$ ]] && c=$((10#$t))
        done
    done
}

# e2e_boots NAME: how many times the guest has booted on its console log.
e2e_boots() {
    tr -d '\r' < "$(e2e_guest_log "$1")" 2>/dev/null | grep -c '^boot disk-counter [0-9]*$'
}

# e2e_wait_new_boot_ticking NAME BOOTS [N=10] [TIMEOUT=120]: after a
# revert that started the guest anew (BOOTS: e2e_boots before), wait
# until the new boot has ticked N times past the counter it found on its
# disk (the console log still ends with the old boot's ticks until the
# new one prints: e2e_guest_counter alone would read those); prints it.
e2e_wait_new_boot_ticking() {
    local name=$1 boots=$2 n=${3:-10} timeout=${4:-120} deadline seen=0 c=0
    local log=$E2E_CONSOLE_DIR/guest-$name.log
    deadline=$((SECONDS + timeout))
    # the log read in bash from its first line (_e2e_follow_*: no process a look)
    _e2e_follow_open "$log" || true
    while :; do
        [ -n "$_E2E_FOLLOW_FD" ] || _e2e_follow_open "$log" || true
        while [ -n "$_E2E_FOLLOW_FD" ] && _e2e_follow_next; do
            [[ $_E2E_FOLLOW_LINE =~ ^boot\ disk-counter\ ([0-9]+)$ ]] || continue
            seen=$((seen + 1)) c=$((10#${BASH_REMATCH[1]}))
        done
        [ "$seen" -le "$boots" ] || break
        if [ $SECONDS -ge $deadline ]; then
            _e2e_follow_close
            echo "e2e_wait_new_boot_ticking: $name did not boot again in ${timeout}s" >&2
            return 1
        fi
        e2e_sleep 0.2
    done
    _e2e_follow_close
    e2e_wait_counter_above "$name" $((c + n)) \
        $(( deadline - SECONDS > 30 ? deadline - SECONDS : 30 ))
}

# e2e_disk_counter IMAGE: the counter in sector 1 of a qcow2 image (0 if none).
# Safe while a guest runs (opens read-only with force-share, -U).
e2e_disk_counter() {
    local out v
    out=$(qemu-io -r -U -f qcow2 -c 'read -v 512 20' "$1") || return 1
    v=$(awk '/^[0-9a-f]+:/ {s = s $NF} END {print s}' <<<"$out" | tr -cd 0-9 | sed 's/^0*//')
    echo "${v:-0}"
}

# e2e_write_disk_counter IMAGE N: write counter N into sector 1 (image not in use).
e2e_write_disk_counter() {
    local img=$1 n=$2 pat
    pat=$(mktemp)
    printf '%020d\n' "$n" | dd of="$pat" bs=512 count=1 conv=sync 2>/dev/null
    qemu-io -f qcow2 -c "write -q -s $pat 512 512" "$img"
    local rc=$?
    rm -f "$pat"
    return $rc
}

# e2e_domain_state NAME: running | paused | shutdown | crashed | dying | gone
e2e_domain_state() {
    local s
    s=$(xl list "$1" 2>/dev/null | awk 'NR==2 {print $5}')
    case $s in
        '') echo gone ;;
        *p*) echo paused ;;
        *s*) echo shutdown ;;
        *c*) echo crashed ;;
        *d*) echo dying ;;
        *) echo running ;;   # r, b or ------ (runnable)
    esac
}

# e2e_wait_domain_state NAME running|gone|paused|shutdown [TIMEOUT=60]
e2e_wait_domain_state() {
    local name=$1 want=$2 timeout=${3:-60} s deadline
    deadline=$((SECONDS + timeout))
    while :; do
        s=$(e2e_domain_state "$name")
        [ "$s" != "$want" ] || return 0
        if [ $SECONDS -ge $deadline ]; then
            echo "e2e_wait_domain_state: $name is $s, not $want, after ${timeout}s" >&2
            return 1
        fi
        # (xl list: ~0.2 s of dom0's CPU a look)
        e2e_sleep 0.5
    done
}

# e2e_destroy_all: destroy every domain but dom0.
e2e_destroy_all() {
    local d
    for d in $(xl list 2>/dev/null | awk 'NR>1 && $1!="Domain-0" {print $1}'); do
        xl destroy "$d" >/dev/null 2>&1 || true
    done
}

# the helpers above (and the bats libraries loaded here) without bats'
# DEBUG trap (see _e2e_untraced); the loop that wraps them, too.  This
# directory once in bats' debug exclude paths: the trap walks that list
# for every traced command.
_e2e_untraced _e2e_untrace_since "$_E2E_FNS" 2>/dev/null || true
! declare -F bats_add_debug_exclude_path >/dev/null ||
    bats_add_debug_exclude_path "$_e2e_here/"
