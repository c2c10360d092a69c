# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
# shellcheck disable=SC2034  # E2E_* results are read by the callers
# Host-side helpers shared by tests/e2e/run.sh and tests/e2e/demo.sh:
# build/cached images, the 9p share, and booting Xen + dom0 in QEMU (TCG) while
# streaming the serial log line by line to a handler function.

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO=$(cd "$E2E_DIR/../.." && pwd)
E2E_TIMEOUT=${E2E_TIMEOUT:-3600}

host_log() { printf '[e2e %s] %s\n' "$(date +%T)" "$*" >&2; }

e2e_host_prereqs() {
    local c pkg missing=
    for c in qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils debootstrap:debootstrap \
             cpio:cpio depmod:kmod timeout:coreutils flock:util-linux pgrep:procps; do
        pkg=${c#*:}; c=${c%%:*}
        command -v "$c" >/dev/null 2>&1 || missing="$missing $pkg"
    done
    [ -x /bin/busybox ] || missing="$missing busybox-static"
    if [ -n "$missing" ]; then
        echo "e2e: missing host packages:$missing (apt-get install$missing)" >&2
        return 1
    fi
}

# e2e_host_build_images: sets E2E_IMG (directory with xen, vmlinuz, dom0.cpio, guest.cpio.gz)
e2e_host_build_images() {
    local out
    out=$("$E2E_DIR/build-images.sh") || return 1
    E2E_IMG=$(tail -n 1 <<<"$out")
    [ -f "$E2E_IMG/.complete" ] || { echo "e2e: build-images.sh gave no image dir" >&2; return 1; }
}

# e2e_host_xen_tool DIR [nodebs]: with E2E_XEN=4.20, xl-snapshot (and,
# but with nodebs, its .debs) built in a Debian 13 chroot against
# libxenlight 4.20 (tests/deb/trixie-build.sh --e2e) into DIR, unless an
# earlier call of this run did (E2E_XEN_TOOL_DIR, inherited by the VMs of
# E2E_JOBS); exports XL_SNAPSHOT_BIN and E2E_DEBS for the share.
# Nothing to do for Xen 4.17: the host's own build/xl-snapshot.
e2e_host_xen_tool() {
    local dir=$1 t0=$SECONDS
    [ "${E2E_XEN:-4.17}" != 4.17 ] || return 0
    if [ -z "${E2E_XEN_TOOL_DIR:-}" ]; then
        host_log "building xl-snapshot in a Debian 13 chroot for Xen ${E2E_XEN} (tests/deb/trixie-build.sh --e2e)"
        nice -n "${E2E_PREP_NICE:-19}" "$REPO/tests/deb/trixie-build.sh" --e2e "$dir" ${2:+"$2"} >&2 || return 1
        export E2E_XEN_TOOL_DIR=$dir
        host_log "built for Xen ${E2E_XEN} in $((SECONDS - t0)) s"
    fi
    export XL_SNAPSHOT_BIN=$E2E_XEN_TOOL_DIR/xl-snapshot E2E_DEBS=
    [ ! -d "$E2E_XEN_TOOL_DIR/deb" ] || export E2E_DEBS=$E2E_XEN_TOOL_DIR/deb
}

# e2e_host_also_prepare DIR FILE...: for E2E_XEN_ALSO (a second Xen in
# the same run, tests/e2e/run.sh), that Xen's images (build-images.sh)
# and xl-snapshot built for it (e2e_host_xen_tool into DIR/tool, with its
# .debs if a FILE installs them), both at once and at nice E2E_PREP_NICE
# (19; tests/run-all.sh: 10, below its VMs, above its host suites) (network
# and disk bound: they run beside the first Xen's image build and VMs).
# Logs with timestamps in DIR/images.log and DIR/tool.log; at the end
# DIR/status holds "RC SECONDS" (RC 0: ready; 1 images, 2 tool, 3 both
# failed); DIR/pid is the preparing process (e2e_host_also_wait).
e2e_host_also_prepare() {
    local dir=$1 x=${E2E_XEN_ALSO:-} t0=$SECONDS rc=0 p1 p2 debs
    shift
    mkdir -p "$dir"
    rm -f "$dir/status"
    echo "$BASHPID" > "$dir/pid"
    debs=$(grep -lq 'share/debs' "$@" 2>/dev/null || echo nodebs)
    E2E_XEN=$x nice -n "${E2E_PREP_NICE:-19}" "$E2E_DIR/build-images.sh" > "$dir/images.out" 2> "$dir/images.log" & p1=$!
    ( unset E2E_XEN_TOOL_DIR
      E2E_XEN=$x e2e_host_xen_tool "$dir/tool" ${debs:+"$debs"} 2>&1 |
          while IFS= read -r l; do printf '%s %s\n' "$(date +%T)" "$l"; done > "$dir/tool.log"
      exit "${PIPESTATUS[0]}" ) & p2=$!
    wait "$p1" || rc=1
    wait "$p2" || rc=$((rc | 2))
    echo "$rc $((SECONDS - t0))" > "$dir/status.tmp"
    mv "$dir/status.tmp" "$dir/status"
    return "$rc"
}

# e2e_host_also_wait DIR: wait for e2e_host_also_prepare DIR to end;
# prints its "RC SECONDS" ("9 0" if it died without saying)
e2e_host_also_wait() {
    local dir=$1 pid
    while [ ! -f "$dir/status" ]; do
        pid=$(cat "$dir/pid" 2>/dev/null) || pid=
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && [ ! -f "$dir/status" ]; then
            echo "9 0"; return
        fi
        sleep 5
    done
    cat "$dir/status"
}

# e2e_host_vmlinux VMLINUZ VMLINUX: the ELF kernel inside a bzImage whose
# payload is xz (Debian's), made once next to it (kept with the cached images)
e2e_host_vmlinux() {
    local in=$1 out=$2 off tmp
    [ ! -s "$out" ] || return 0
    off=$(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$in" | head -n 1 | cut -d: -f1)
    [ -n "$off" ] || return 1
    tmp=$out.tmp.$$
    # xz stops at the end of its stream and complains about what follows
    tail -c +"$((off + 1))" "$in" | xz -dcq > "$tmp" 2>/dev/null
    if [ "$(head -c 4 "$tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
        mv "$tmp" "$out"
    else
        rm -f "$tmp"; return 1
    fi
}

# e2e_host_make_share DIR: fill the 9p share with everything dom0 needs (but dom0-run).
e2e_host_make_share() {
    local share=$1 bin=${XL_SNAPSHOT_BIN:-$REPO/build/xl-snapshot}
    mkdir -p "$share"/{bin,tests,images,results}
    cp -r "$E2E_DIR/lib" "$E2E_DIR/guests" "$share/tests/"
    cp "$E2E_IMG/vmlinuz" "$share/images/guest-vmlinuz"
    # the guests boot the uncompressed kernel: libxc's xz decompression of
    # vmlinuz took ~7 s of each ~20 s guest boot under TCG
    if e2e_host_vmlinux "$E2E_IMG/vmlinuz" "$E2E_IMG/vmlinux"; then
        cp "$E2E_IMG/vmlinux" "$share/images/guest-vmlinux"
    else
        host_log "WARNING: cannot uncompress $E2E_IMG/vmlinuz; the guests boot it compressed (slower)"
    fi
    cp "$E2E_IMG/guest.cpio.gz" "$share/images/guest-initrd"
    # qemu-ga for the guest, appended to guest-initrd by 37-quiesce.bats
    cp "$E2E_IMG/guest-qga.cpio.gz" "$share/images/guest-qga-initrd"
    if [ -x "$bin" ]; then
        cp "$bin" "$share/bin/xl-snapshot"
        host_log "using xl-snapshot from $bin"
    else
        host_log "WARNING: no xl-snapshot binary at $bin (set XL_SNAPSHOT_BIN); tests needing it will skip"
    fi
    # the shipped nightly job, run as the timer runs it (72-nightly.bats)
    cp "$REPO/configs/xl-snapshot-nightly" "$share/bin/xl-snapshot-nightly"
    # Environment for dom0: every E2E_* variable of the host (but host-only ones).
    local v
    : > "$share/env"
    while IFS= read -r v; do
        case $v in E2E_TIMEOUT|E2E_IMG|E2E_DIR|E2E_CACHE_DIR|E2E_LOG_DIR|E2E_KEEP_SHARE|E2E_DEBS|E2E_XEN_TOOL_DIR|E2E_VM_INDEX|E2E_FREEZE_*) continue ;; esac
        printf 'export %s=%q\n' "$v" "${!v}" >> "$share/env"
    done < <(compgen -e | grep '^E2E_' || true)
}

# e2e_host_build_debs SHARE: build the Debian packages (tests/deb/build.sh,
# next to the share) and put xl-snapshot + libxlsnap0 into SHARE/debs for
# 05-deb.bats; $E2E_DEBS (set by tests/run-all.sh once its deb stage built
# this tree) saves the second build.  Without dpkg-buildpackage, or if the
# build fails, the share gets no debs and that test fails saying so.
e2e_host_build_debs() {
    local share=$1 out
    out=$(dirname "$share")/deb
    mkdir -p "$share/debs"
    if ! command -v dpkg-buildpackage >/dev/null 2>&1; then
        host_log "WARNING: no dpkg-buildpackage: no .debs for dom0"; return 0
    fi
    if [ "${E2E_XEN:-4.17}" != 4.17 ] && [ -z "${E2E_DEBS:-}" ]; then
        # the host's release builds packages for Xen 4.17 only
        host_log "WARNING: no .debs for Xen ${E2E_XEN}'s dom0 (e2e_host_xen_tool built none)"; return 0
    elif [ -n "${E2E_DEBS:-}" ] && ls "$E2E_DEBS"/xl-snapshot_*.deb >/dev/null 2>&1; then
        # built from this tree by the deb stage of tests/run-all.sh
        cp "$E2E_DEBS"/xl-snapshot_*.deb "$E2E_DEBS"/libxlsnap0_*.deb "$share/debs/"
        host_log "the .debs for dom0 from $E2E_DEBS: $(cd "$share/debs" && echo *.deb)"
    elif "$REPO/tests/deb/build.sh" "$out" >&2; then
        cp "$out"/xl-snapshot_*.deb "$out"/libxlsnap0_*.deb "$share/debs/"
        host_log "built the .debs for dom0: $(cd "$share/debs" && echo *.deb)"
    else
        host_log "WARNING: building the .debs failed (log: $out/build.log)"
    fi
}

# e2e_host_boot SHARE LOG HANDLER
# Boots the VM and calls "HANDLER LINE" for every serial line (CR stripped), as it comes.
# Afterwards sets:
#   E2E_VM_FINISHED=1 if dom0 printed @@END@@, E2E_DOM0_RC (its status),
#   E2E_VM_REASON (why it did not finish), E2E_BOOT_SECS (QEMU start -> dom0 ready),
#   E2E_DOM0_HUNG=1 if dom0 was not ready after E2E_DOM0_BOOT_TIMEOUT (300) seconds
#   (the VM is then stopped: nothing ran, the caller may boot it again),
#   E2E_VM_FROZE=1 if the emulated machine froze (e2e_host_freeze_watch: QEMU
#   used no CPU and wrote nothing for E2E_FREEZE_SECS; it is then killed),
#   E2E_FROZEN_SECS how long it had been still, E2E_FROZEN_LINE its last
#   serial line.
e2e_host_boot() {
    local share=$1 log=$2 handler=$3 qpid line t0 killer='' watchdog freezewatch last
    E2E_VM_FINISHED=0 E2E_DOM0_RC='' E2E_VM_REASON='' E2E_BOOT_SECS='' E2E_DOM0_HUNG=0
    E2E_VM_FROZE=0 E2E_FROZEN_SECS='' E2E_FROZEN_LINE=''
    : > "$log"
    rm -f "$log.ready" "$log.hung" "$log.frozen"
    t0=$(date +%s.%N)
    # E2E_XEN=4.20: dom0 boots its own release's kernel, the guests vmlinuz
    local dom0k=$E2E_IMG/vmlinuz
    [ ! -f "$E2E_IMG/dom0-vmlinuz" ] || dom0k=$E2E_IMG/dom0-vmlinuz
    # No speculative-execution mitigations in Xen and dom0: the VM runs
    # nothing but the tests, in an emulator that does not speculate, and
    # they cost a ticking guest and dom0's side of its writes 24% of the
    # emulated CPU (0.303 -> 0.230 CPU s/s, tests/e2e/lib/dom0-tick-measure.sh).
    # The guests keep theirs (not measured: a run with them off is the one
    # in which a VM froze during a PVH boot, tests/e2e/README.md)
    timeout -k 10 "$E2E_TIMEOUT" qemu-system-x86_64 \
        -accel "${E2E_ACCEL:-tcg}" -cpu "${E2E_CPU:-qemu64,+svm,+npt}" -m 2048 -smp "${E2E_SMP:-2}" \
        -nodefaults -display none -monitor none -no-reboot \
        -serial "file:$log" \
        -kernel "$E2E_IMG/xen" \
        -append "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M loglvl=all guest_loglvl=all conring_size=1M spec-ctrl=no${E2E_XEN_ARGS:+ $E2E_XEN_ARGS}" \
        -initrd "$dom0k console=hvc0 rdinit=/init panic=1 mitigations=off${E2E_DOM0_ARGS:+ $E2E_DOM0_ARGS},$E2E_IMG/dom0.cpio" \
        -virtfs "local,path=$share,mount_tag=share,security_model=none,id=share" \
        -virtfs "local,path=$share/images,mount_tag=images,security_model=none,readonly=on,id=images" \
        </dev/null >"$log.qemu" 2>&1 &
    qpid=$!
    # A dom0 that hangs while booting (seen once in 54 runs: the kernel
    # spinning after "sched_clock: Marking stable", both vCPUs busy) would
    # hold the run for E2E_TIMEOUT: stop it; nothing of the tests ran yet.
    # (its sleep dies with it, and it holds none of the caller's output)
    ( trap 'kill "$s" 2>/dev/null; exit 0' TERM
      sleep "${E2E_DOM0_BOOT_TIMEOUT:-300}" & s=$!
      wait "$s"
      [ -e "$log.ready" ] || { : > "$log.hung"; kill "$qpid" 2>/dev/null; } ) </dev/null >/dev/null 2>&1 &
    watchdog=$!
    e2e_host_freeze_watch "$qpid" "$log" </dev/null >/dev/null 2>&1 &
    freezewatch=$!
    while IFS= read -r line; do
        line=${line//$'\r'/}
        case $line in
            *"@@STAGE@@ dom0-ready"*)
                : > "$log.ready"
                E2E_BOOT_SECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') ;;
            *"@@END@@ "*)
                E2E_VM_FINISHED=1
                E2E_DOM0_RC=${line##*@@END@@ }; E2E_DOM0_RC=${E2E_DOM0_RC%% *}
                # dom0 powers off by itself; make sure QEMU goes away.
                [ -n "$killer" ] || { e2e_host_kill_after 30 "$qpid"; killer=$!; } ;;
            *"@@TAP@@ "*)
                # dom0's test output: it may quote a guest's console, and
                # a guest that panics is a test's business, not the VM's
                ;;
            *"Kernel panic"*|*"(XEN) Panic"*|*"Dom0 crashed"*|*"dom0-init-failed"*)
                if [ -z "$E2E_VM_REASON" ] && [ "$E2E_VM_FINISHED" = 0 ]; then
                    E2E_VM_REASON="crash: $line"
                    # Let the trace reach the log, then stop (a panic normally ends QEMU itself).
                    e2e_host_kill_after 5 "$qpid"; killer=$!
                fi ;;
        esac
        "$handler" "$line"
    done < <(tail -n +1 -F --pid="$qpid" "$log" 2>/dev/null)
    local rc=0
    wait "$qpid" || rc=$?
    [ -z "$killer" ] || kill "$killer" 2>/dev/null || true
    # (gone by itself once dom0 was ready in time; run.sh is set -e)
    kill "$watchdog" "$freezewatch" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
    wait "$freezewatch" 2>/dev/null || true
    if [ -s "$log.frozen" ] && [ "$E2E_VM_FINISHED" = 0 ]; then
        E2E_VM_FROZE=1
        E2E_FROZEN_SECS=$(cat "$log.frozen")
        # (|| true: a VM that printed nothing has no line; run.sh is set -e)
        E2E_FROZEN_LINE=$(grep -a . "$log" | tail -n 1 | tr -d '\r' | tr -c '[:print:]\n' '?' || true)
        E2E_VM_REASON="frozen: QEMU used no CPU and wrote nothing for ${E2E_FROZEN_SECS}s (E2E_FREEZE_SECS); last serial line: $E2E_FROZEN_LINE"
    fi
    if [ -e "$log.hung" ] && [ "$E2E_VM_FINISHED" = 0 ] && [ -z "$E2E_VM_REASON" ]; then
        E2E_DOM0_HUNG=1
        # (a dom0 that hung before its first line has none: not an error
        # under run.sh's set -e, which stopped the run here until 2026-12-07)
        last=$(grep -a . "$log" | tail -n 1 | tr -d '\r' || true)
        E2E_VM_REASON="dom0 not ready after ${E2E_DOM0_BOOT_TIMEOUT:-300}s (E2E_DOM0_BOOT_TIMEOUT); last console line: ${last:-(none)}"
    fi
    rm -f "$log.ready" "$log.hung" "$log.frozen"
    if [ "$E2E_VM_FINISHED" = 0 ] && [ -z "$E2E_VM_REASON" ]; then
        case $rc in
            124|137) E2E_VM_REASON="timeout after ${E2E_TIMEOUT}s (E2E_TIMEOUT)" ;;
            0) E2E_VM_REASON="VM stopped before dom0 finished" ;;
            *) E2E_VM_REASON="QEMU exited with status $rc: $(tail -n 3 "$log.qemu" | tr '\n' ' ')" ;;
        esac
    fi
}

# e2e_host_cpu_ticks PID: the CPU time (utime + stime, in clock ticks) of
# process PID and all its threads; fails once it is gone
e2e_host_cpu_ticks() {
    local st f
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    read -ra f <<< "${st##*) }"
    echo $((f[11] + f[12]))
}

# e2e_host_kill_after SECS PID: in the background ($! is it), kill PID
# after SECS unless killed first. Its sleep goes with it: a bare
# `(sleep N; kill PID) &` killed early leaves the sleep behind, which holds
# the caller's output open for N s and then kills whatever has PID by then.
e2e_host_kill_after() {
    ( trap 'kill "$s" 2>/dev/null; exit 0' TERM
      sleep "$1" & s=$!
      wait "$s"
      kill "$2" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
}

# e2e_host_freeze_watch TIMEOUT_PID LOG: the frozen-VM watchdog, beside
# each VM (tests/e2e/README.md, "A VM that froze in the middle of a run").
# A healthy emulated machine always burns CPU under TCG (Xen's and dom0's
# timers alone); one that halted with no timer armed uses none and writes
# nothing, until E2E_TIMEOUT.  Every E2E_FREEZE_POLL (5) s this reads
# QEMU's CPU time (the child of `timeout` TIMEOUT_PID) and LOG's size;
# when neither has moved for E2E_FREEZE_SECS (120) s it writes those
# seconds into LOG.frozen and kills QEMU.  Ends with QEMU.
e2e_host_freeze_watch() {
    local tpid=$1 log=$2 limit=${E2E_FREEZE_SECS:-120} poll=${E2E_FREEZE_POLL:-5}
    local qemu='' cpu size last_cpu='' last_size='' since=$SECONDS sl
    trap 'kill "$sl" 2>/dev/null; exit 0' TERM
    while kill -0 "$tpid" 2>/dev/null; do
        sleep "$poll" & sl=$!
        wait "$sl"
        [ -n "$qemu" ] || qemu=$(pgrep -P "$tpid" | head -n 1) || qemu=
        [ -n "$qemu" ] || continue
        cpu=$(e2e_host_cpu_ticks "$qemu") || break
        size=$(stat -c %s "$log" 2>/dev/null) || size=0
        if [ "$cpu" != "$last_cpu" ] || [ "$size" != "$last_size" ]; then
            last_cpu=$cpu last_size=$size since=$SECONDS
        elif [ $((SECONDS - since)) -ge "$limit" ]; then
            echo "$((SECONDS - since))" > "$log.frozen"
            kill -KILL "$qemu" 2>/dev/null
            break
        fi
    done
}

# e2e_host_serial_tail LOG [N]: the end of the serial log as TAP comments.
e2e_host_serial_tail() {
    local log=$1 n=${2:-60}
    echo "# ---- last $n lines of the serial log ($log) ----"
    tail -n "$n" "$log" | tr -d '\r' | sed 's/^/# | /'
    if [ -s "$log.qemu" ]; then
        echo "# ---- QEMU stderr ----"
        tail -n 10 "$log.qemu" | sed 's/^/# | /'
    fi
}

# e2e_host_rundir: per-run directory for logs (outside the repo), printed by the callers.
e2e_host_rundir() {
    local base=${E2E_LOG_DIR:-${TMPDIR:-/tmp}/xl-snapshot-e2e}
    mkdir -p "$base"
    mktemp -d "$base/run-$(date +%Y%m%d-%H%M%S)-XXXX"
}
