#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Real-Xen end-to-end tests: boots Xen 4.17 + a Debian dom0 in QEMU (software
# emulation) and runs tests/e2e/*.bats (or the given bats files) inside dom0.
#
#   tests/e2e/run.sh [BATS_FILE...]
#   E2E_XEN=4.20 tests/e2e/run.sh [BATS_FILE...]
#
# E2E_XEN=4.20 boots the second generation instead: Xen 4.20 with a Debian
# 13 dom0 (its own cached image set), running xl-snapshot (and its .debs)
# built in a Debian 13 chroot (tests/deb/trixie-build.sh --e2e).
#
# Prints TAP on stdout as the tests run: "ok N e2e/<file>: <test>" / "not ok N ...",
# their "# ..." diagnostics, and a trailing plan "1..N". Progress goes to stderr.
# Exit status 0 only if dom0 finished and every test passed (skips count as passed).
# Any failure to build, boot or finish gives a "not ok N e2e: ..." line and exit 1.
set -euo pipefail
# shellcheck source=lib/host.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/host.bash"
export LC_ALL=C

N_OK=0 N_FAIL=0 N_SKIP=0 LAST_NUM=0 MAX_NUM=0
declare -A SEEN=()

# Print one TAP line and count it.
tap_out() {
    local l=$1 re='^(not ok|ok) ([0-9]+)'
    printf '%s\n' "$l"
    if [[ $l =~ $re ]]; then
        LAST_NUM=${BASH_REMATCH[2]}
        [ "$LAST_NUM" -le "$MAX_NUM" ] || MAX_NUM=$LAST_NUM
        if [ "${BASH_REMATCH[1]}" = "not ok" ]; then
            N_FAIL=$((N_FAIL + 1))
        else
            N_OK=$((N_OK + 1))
            [[ $l != *"# skip"* && $l != *"# SKIP"* ]] || N_SKIP=$((N_SKIP + 1))
        fi
    fi
}

# dom0's TAP text of the current VM.  Its numbered results (dom0 prints
# a file's results when the file ends, then "# e2e/<file>: N results")
# wait in PENDING until that line: a VM that freezes before it leaves
# them out (drop_pending), and its file runs again on a fresh VM, whose
# numbers start again at 1: they go on from NUM_OFFSET.
NUM_OFFSET=0
PENDING=()
on_tap_text() {
    local l=$1 re='^(not ok|ok) ([0-9]+)(.*)$' p
    if [[ $l =~ $re ]]; then
        PENDING+=("${BASH_REMATCH[1]} $((BASH_REMATCH[2] + NUM_OFFSET))${BASH_REMATCH[3]}")
        return
    fi
    if [[ $l =~ ^#\ e2e/[^:]*:\ [0-9]+\ results ]]; then
        for p in "${PENDING[@]}"; do tap_out "$p"; done
        PENDING=()
    fi
    tap_out "$l"
}

flush_pending() {
    local p
    for p in "${PENDING[@]}"; do tap_out "$p"; done
    PENDING=()
}

# drop_pending TAP: after a freeze, the results still pending of the files
# that did not complete in TAP (dom0's tap.txt) are shown as comments, not
# counted: those files run again
drop_pending() {
    local p f re='^(not ok|ok) [0-9]+ e2e/([^:]*): '
    for p in "${PENDING[@]}"; do
        f=
        [[ $p =~ $re ]] && f=${BASH_REMATCH[2]}
        if [ -n "$f" ] && grep -q " # e2e/$f: [0-9]* results" "$1" 2>/dev/null; then
            tap_out "$p"
        else
            echo "# e2e watchdog: not counted (its file runs again): $p"
        fi
    done
    PENDING=()
}

# Serial line handler: "@@TAP@@ <seq> <len> <text>" -> text (if not garbled by interleaving).
on_serial() {
    local l=$1 rest seq len text
    case $l in *"@@TAP@@ "*) ;; *"@@STAGE@@ "*) host_log "dom0: ${l##*@@STAGE@@ }"; return ;; *) return ;; esac
    rest=${l##*@@TAP@@ }
    seq=${rest%% *}; rest=${rest#* }
    len=${rest%% *}; text=${rest#* }
    [[ $seq =~ ^[0-9]+$ && $len =~ ^[0-9]+$ ]] || return 0
    [ "${#text}" = "$len" ] || return 0       # garbled on the serial line: recovered from the share later
    [ -z "${SEEN[$seq]:-}" ] || return 0
    SEEN[$seq]=1
    on_tap_text "$text"
}

fail_line() { tap_out "not ok $((LAST_NUM + 1)) e2e: $*"; }

N_RETRY=0 N_RERUN=0 N_FROZE=0 T_BOOT='' T_VM='' RUNDIR=''
finish() {
    [ $((N_OK + N_FAIL)) -gt 0 ] || fail_line "no test ran"
    echo "1..$((N_OK + N_FAIL))"
    echo "# e2e: Xen+dom0 boot ${T_BOOT:-?} s, VM ${T_VM:-?} s; guest boot retries: $N_RETRY, file reruns: $N_RERUN, frozen VMs: $N_FROZE (e2e-retry, e2e-rerun, e2e watchdog lines above)"
    echo "# e2e: $N_OK passed, $N_FAIL failed, $N_SKIP skipped (log: $RUNDIR/serial.log)"
    [ "$N_FAIL" = 0 ]
}

# vm_froze SHARE T0: the VM booted at T0 (SECONDS) froze (e2e_host_boot's
# watchdog killed it: E2E_VM_FROZE).  Says so on one "# e2e watchdog:"
# line, keeps its serial log (serial-froze-K.log, also in results/) and
# dom0's TAP (results/tap-froze-K.txt), and prepares a fresh VM for the
# files that had not completed, the frozen one from its start: returns 0
# to boot it, with what is left of E2E_TIMEOUT since T0 (the VM's whole
# budget stays E2E_TIMEOUT), at most E2E_FREEZE_REBOOTS (2) times and
# only while E2E_FREEZE_MIN_LEFT (300) s are left; else 1.
vm_froze() {
    local share=$1 t0=$2 tap=$1/results/tap.txt f cur n left k where
    local -a rest=()
    N_FROZE=$((N_FROZE + 1)); k=$N_FROZE
    while IFS= read -r f; do
        [ -z "$f" ] || grep -q " # e2e/$f: [0-9]* results" "$tap" 2>/dev/null || rest+=("$f")
    done < "$share/tests/.order"
    cur=${rest[0]:-}
    # the test that was running: one after the results it had shown
    n=$(awk '/ # e2e\/[^:]*: [0-9]+ results/ || / # e2e-rerun: .* running it once more/ {n = 0}
             / # result: / {n++} END {print n + 1}' "$tap" 2>/dev/null) || n=1
    if [ -z "$E2E_BOOT_SECS" ]; then where="while dom0 booted"
    elif [ -z "$cur" ]; then where="after its last file"
    else where="during $cur test $n"
    fi
    echo "# e2e watchdog: VM ${E2E_VM_INDEX:-1} froze $where (QEMU used no CPU for ${E2E_FROZEN_SECS}s; last serial line: $E2E_FROZEN_LINE)"
    host_log "VM ${E2E_VM_INDEX:-1} froze $where; QEMU killed (its serial log: results/serial-froze-$k.log)"
    drop_pending "$tap"
    cp "$RUNDIR/serial.log" "$share/results/serial-froze-$k.log"
    if [ -z "$cur" ]; then
        # every file had reported: nothing to run again
        E2E_VM_FINISHED=1 E2E_DOM0_RC=0
        return 1
    fi
    left=$((E2E_TIMEOUT_ALL - (SECONDS - t0)))
    if [ "$k" -gt "${E2E_FREEZE_REBOOTS:-2}" ] || [ "$left" -lt "${E2E_FREEZE_MIN_LEFT:-300}" ]; then
        echo "# e2e watchdog: not booting VM ${E2E_VM_INDEX:-1} again ($k freezes, E2E_FREEZE_REBOOTS=${E2E_FREEZE_REBOOTS:-2}; ${left} s left of E2E_TIMEOUT=${E2E_TIMEOUT_ALL}s)"
        return 1
    fi
    echo "# e2e watchdog: booting a fresh VM ${E2E_VM_INDEX:-1} for the files that had not completed, ${left} s left of E2E_TIMEOUT:$(printf ' %s' "${rest[@]}")"
    mv "$RUNDIR/serial.log" "$RUNDIR/serial-froze-$k.log"
    [ ! -f "$RUNDIR/serial.log.qemu" ] || mv "$RUNDIR/serial.log.qemu" "$RUNDIR/serial-froze-$k.log.qemu"
    [ ! -f "$tap" ] || mv "$tap" "$share/results/tap-froze-$k.txt"
    printf '%s\n' "${rest[@]}" > "$share/tests/.order"
    # the fresh dom0 numbers from 1 again; its sequence numbers too
    NUM_OFFSET=$MAX_NUM
    SEEN=()
    E2E_TIMEOUT=$left
    return 0
}

# Seconds each file took on one of the two one-vCPU VMs of a clean-clone
# make check (ci26, 2026-12-07, main 184f36e, beside the host suites):
# only used to balance the files between parallel VMs (E2E_JOBS).
declare -A FILE_SECS=(
    [00-harness.bats]=102 [05-deb.bats]=44 [10-smoke-xl-snapshot.bats]=12
    [20-list-info.bats]=51 [30-create-revert.bats]=243 [35-live-compress.bats]=120
    [36-progress-hooks.bats]=45 [37-quiesce.bats]=96 [38-seed-004.bats]=58
    [40-external.bats]=262 [45-identity.bats]=249 [46-coherence.bats]=227 [47-live-merge.bats]=297
    [50-pvh.bats]=145 [52-hvm.bats]=163 [55-lvm.bats]=296 [56-reflink.bats]=91
    [57-lvm-export.bats]=160 [60-faults.bats]=457 [61-faults-ops.bats]=338
    [62-kill-save.bats]=30 [70-export.bats]=129 [71-import-faults.bats]=120
    [72-nightly.bats]=106 [80-untrusted-guest.bats]=85
    # on Xen 4.20 (E2E_XEN_ALSO), without the beyond-core tests, same run
    [also:05-deb.bats]=53 [also:20-list-info.bats]=58 [also:30-create-revert.bats]=156
    [also:40-external.bats]=192 [also:52-hvm.bats]=209 [also:70-export.bats]=101
)

# shard_plan JOBS FILE...: which VM (0..JOBS-1) runs each file, one
# "VM SECS FILE" line per file in the files' order: longest first
# (FILE_SECS) onto the least loaded VM.
shard_plan() {
    local jobs=$1 i f w best b
    shift
    local -a load=()
    local -A vm=() secs=()
    for ((i = 0; i < jobs; i++)); do load[i]=0; done
    while IFS=' ' read -r w f; do
        best=0
        for ((i = 1; i < jobs; i++)); do [ "${load[i]}" -ge "${load[best]}" ] || best=$i; done
        load[best]=$((load[best] + w))
        vm[$f]=$best secs[$f]=$w
    done < <(for f in "$@"; do
                 b=$(basename "${f#also:}")
                 case $f in also:*) b="also:$b" ;; esac
                 echo "${FILE_SECS[$b]:-${FILE_SECS[${b#also:}]:-120}} $f"
             done | sort -rn -k1,1 -s)
    for f in "$@"; do echo "${vm[$f]} ${secs[$f]} $f"; done
}

# E2E_XEN_ALSO=4.20: the files of E2E_FILES_ALSO (default: the core set
# below) run a second time, on that Xen, in the same pool of E2E_JOBS VMs:
# its images and xl-snapshot built for it are prepared in the background
# from the start (e2e_host_also_prepare; tests/run-all.sh starts that
# even earlier, E2E_ALSO_DIR), each VM runs its share of the first Xen's
# files, then boots the second Xen for its share of these.  Their TAP
# lines read "e2e-4.20/<file>: ...".
# the issue's core set: create/revert/delete with memory, external, list
# after destroy, export/import, HVM, and the Debian 13 packages; in these
# files, the tests tagged beyond-core (`# bats test_tags=beyond-core`: PVH,
# two disks, a mixed tree, reuse-external, an internal delta) run on the
# first Xen only (E2E_ALSO_FILTER_TAGS, default '!beyond-core'; empty: all)
E2E_FILES_ALSO_DEFAULT="05-deb.bats 20-list-info.bats 30-create-revert.bats 40-external.bats 52-hvm.bats 70-export.bats"
also_files() {
    local f
    for f in ${E2E_FILES_ALSO:-$E2E_FILES_ALSO_DEFAULT}; do
        case $f in */*) echo "$f" ;; *) echo "$E2E_DIR/$f" ;; esac
    done
}

# with_also FILE...: the files, then (with E2E_XEN_ALSO) "also:FILE" for
# each of also_files, one a line
with_also() {
    local f
    for f in "$@"; do echo "$f"; done
    [ -z "${E2E_XEN_ALSO:-}" ] || also_files | sed 's/^/also:/'
}

# sharded JOBS FILE...: JOBS VMs at once, each running its share of the
# files (shard_plan). Their TAP is printed after all have finished,
# numbered on. A file given as "also:FILE" runs on Xen $E2E_XEN_ALSO,
# after that VM's other files.
sharded() {
    local jobs=$1 t_start=$SECONDS i f v out rc=0 n=0 l re='^(not ok|ok) [0-9]+(.*)$' x=${E2E_XEN_ALSO:-}
    shift
    local -a list=() also=() pids=() plain=() afiles=()
    for f in "$@"; do
        case $f in also:*) afiles+=("${f#also:}") ;; *) plain+=("$f") ;; esac
    done
    while IFS=' ' read -r v _ f; do
        case $f in
        also:*) also[v]="${also[v]:-} ${f#also:}" ;;
        *) list[v]="${list[v]:-} $f" ;;
        esac
    done < <(shard_plan "$jobs" "$@")
    if [ ${#afiles[@]} -gt 0 ] && [ -z "${E2E_ALSO_DIR:-}" ]; then
        # nobody prepares Xen $x yet (tests/run-all.sh does): from now,
        # beside the first Xen's image build
        export E2E_ALSO_DIR
        E2E_ALSO_DIR=$(e2e_host_rundir)/xen-$x
        host_log "Xen $x: building its images and xl-snapshot for it in the background (logs: $E2E_ALSO_DIR)"
        e2e_host_also_prepare "$E2E_ALSO_DIR" "${afiles[@]}" &
    fi
    host_log "$jobs VMs in parallel (E2E_JOBS): building images and packages once"
    if ! e2e_host_build_images >/dev/null; then
        fail_line "building the images failed"; wait; finish; return
    fi
    if [ "${E2E_XEN:-4.17}" != 4.17 ]; then
        RUNDIR=$(e2e_host_rundir)
        if ! e2e_host_xen_tool "$RUNDIR/xen-${E2E_XEN}-tool" "$(grep -lq 'share/debs' "${plain[@]}" 2>/dev/null || echo nodebs)"; then
            fail_line "building xl-snapshot for Xen ${E2E_XEN} failed"; wait; finish; return
        fi
    elif [ -z "${E2E_DEBS:-}" ] && grep -lq 'share/debs' "${plain[@]}" 2>/dev/null &&
       command -v dpkg-buildpackage >/dev/null 2>&1; then
        RUNDIR=$(e2e_host_rundir)
        "$REPO/tests/deb/build.sh" "$RUNDIR/deb" >&2 && export E2E_DEBS=$RUNDIR/deb
    fi
    out=$(mktemp -d)
    for ((i = 0; i < jobs; i++)); do
        [ -n "${list[i]:-}${also[i]:-}" ] || continue
        (
          if [ -n "${list[i]:-}" ]; then
              # (a failed file must not end this subshell under set -e: its
              # VM's TAP would then never be printed)
              vrc=0
              # shellcheck disable=SC2086 # a list of file names
              E2E_VM_INDEX=$((i + 1)) E2E_XEN_ALSO='' E2E_JOBS=1 "$E2E_DIR/run.sh" ${list[i]} > "$out/$i.tap" \
                  2> >(sed -u "s/^/[vm$((i + 1))] /" >&2) || vrc=$?
              echo "$vrc" > "$out/$i.rc"
          fi
          [ -n "${also[i]:-}" ] || exit 0
          local t_wait=$SECONDS st secs vrc=0
          read -r st secs < <(e2e_host_also_wait "$E2E_ALSO_DIR")
          host_log "[vm$((i + 1))] Xen $x: prepared in $secs s (waited $((SECONDS - t_wait)) s for it)"
          if [ "$st" = 0 ]; then
              # shellcheck disable=SC2086 # a list of file names
              E2E_VM_INDEX=$((i + 1)) E2E_XEN=$x E2E_XEN_TOOL_DIR=$E2E_ALSO_DIR/tool E2E_XEN_ALSO='' E2E_JOBS=1 \
                  E2E_BATS_FILTER_TAGS=${E2E_ALSO_FILTER_TAGS-!beyond-core} \
                  "$E2E_DIR/run.sh" ${also[i]} > "$out/$i-also.tap" \
                  2> >(sed -u "s/^/[vm$((i + 1)) xen-$x] /" >&2) || vrc=$?
              echo "$vrc" > "$out/$i-also.rc"
          else
              echo "not ok 1 e2e: preparing Xen $x failed (status $st; logs: $E2E_ALSO_DIR/images.log, tool.log)" > "$out/$i-also.tap"
              echo 1 > "$out/$i-also.rc"
          fi
        ) &
        pids+=($!)
        host_log "vm$((i + 1)):${list[i]//$E2E_DIR\//}${also[i]:+ then on Xen $x:${also[i]//$E2E_DIR\//}}"
    done
    wait "${pids[@]}" || true
    wait || true  # the preparation of Xen $x, if it was never needed
    local t suf
    for ((i = 0; i < jobs; i++)); do
        for t in "" -also; do
            [ -f "$out/$i$t.tap" ] || continue
            suf=
            [ -z "$t" ] || suf=-$x
            if [ -z "$t" ]; then
                echo "# ---- e2e vm$((i + 1)) of $jobs:${list[i]//$E2E_DIR\//}"
            else
                echo "# ---- e2e vm$((i + 1)) of $jobs, then Xen $x:${also[i]//$E2E_DIR\//}"
            fi
            while IFS= read -r l; do
                if [[ $l =~ $re ]]; then
                    l=${BASH_REMATCH[2]}
                    [ -z "$suf" ] || l=${l/# e2e/ e2e$suf}
                    n=$((n + 1)); tap_out "${BASH_REMATCH[1]} $n$l"
                elif ! [[ $l =~ ^1\.\.[0-9]+$ ]]; then
                    printf '%s\n' "$l"
                fi
            done < "$out/$i$t.tap"
            [ "$(cat "$out/$i$t.rc" 2>/dev/null)" = 0 ] || rc=1
        done
    done
    rm -rf "$out"
    echo "1..$n"
    echo "# e2e: $jobs VMs in parallel, $((SECONDS - t_start)) s in all; $N_OK passed, $N_FAIL failed"
    [ "$rc" = 0 ] && [ "$N_FAIL" = 0 ] && [ "$n" -gt 0 ]
}

main() {
    local t_start=$SECONDS f
    if [ -n "${E2E_XEN_ALSO:-}" ] || { [ "${E2E_JOBS:-1}" -gt 1 ] && [ $# -ne 1 ]; }; then
        [ $# != 0 ] || set -- "$E2E_DIR"/*.bats
        local -a all=()
        if [ "${E2E_XEN_ALSO:-}" = "${E2E_XEN:-4.17}" ]; then
            fail_line "E2E_XEN_ALSO is the Xen of the run (${E2E_XEN:-4.17})"; finish; return
        fi
        mapfile -t all < <(with_also "$@")
        for f in "${all[@]}"; do
            [ -f "${f#also:}" ] || { fail_line "no such bats file: ${f#also:}"; finish; return; }
        done
        sharded "${E2E_JOBS:-1}" "${all[@]}"
        return
    fi
    RUNDIR=$(e2e_host_rundir)
    host_log "logs: $RUNDIR (serial log: $RUNDIR/serial.log)"
    echo "# e2e: serial log: $RUNDIR/serial.log"

    local files=("$@")
    [ ${#files[@]} != 0 ] || files=("$E2E_DIR"/*.bats)
    for f in "${files[@]}"; do
        [ -f "$f" ] || { fail_line "no such bats file: $f"; finish; return; }
    done
    if ! e2e_host_prereqs; then fail_line "host prerequisites missing (see stderr)"; finish; return; fi
    host_log "building images (cached after the first run)"
    local t0=$SECONDS
    if ! e2e_host_build_images 2> >(tee "$RUNDIR/build.log" >&2); then
        fail_line "building the images failed (log: $RUNDIR/build.log)"; finish; return
    fi
    host_log "images ready in $((SECONDS - t0)) s: $E2E_IMG"
    if ! e2e_host_xen_tool "$RUNDIR/xen-${E2E_XEN:-}-tool" \
            "$(grep -lq 'share/debs' "${files[@]}" 2>/dev/null || echo nodebs)" \
            2> >(tee -a "$RUNDIR/build.log" >&2); then
        fail_line "building xl-snapshot for Xen ${E2E_XEN:-} failed (log: $RUNDIR/build.log)"; finish; return
    fi

    local share=$RUNDIR/share
    e2e_host_make_share "$share"
    # the .debs only for the files that install them (05-deb.bats): a
    # package build costs a minute of both cores
    if grep -lq 'share/debs' "${files[@]}" 2>/dev/null; then
        e2e_host_build_debs "$share"
    fi
    : > "$share/tests/.order"
    for f in "${files[@]}"; do
        cp "$f" "$share/tests/"
        basename "$f" >> "$share/tests/.order"
    done
    # E2E_DOM0_RUN: another dom0 entry point (bench/run.sh's benchmark)
    cp "${E2E_DOM0_RUN:-$E2E_DIR/lib/dom0-run-tests.sh}" "$share/dom0-run"

    E2E_TIMEOUT_ALL=$E2E_TIMEOUT
    host_log "booting Xen + dom0 in QEMU (TCG, timeout ${E2E_TIMEOUT}s)"
    t0=$SECONDS
    local hung_retried=0 seq len text
    while :; do
        e2e_host_boot "$share" "$RUNDIR/serial.log" on_serial
        if [ "$E2E_DOM0_HUNG" = 1 ] && [ "$hung_retried" = 0 ]; then
            # the emulator's, not the tests': no test had started; boot once more
            hung_retried=1
            echo "# e2e-retry: $E2E_VM_REASON; booting the VM once more (first log: $RUNDIR/serial-hung.log)"
            N_RETRY=$((N_RETRY + 1))
            mv "$RUNDIR/serial.log" "$RUNDIR/serial-hung.log"
            host_log "dom0 hung while booting; booting the VM once more"
            continue
        fi
        # Recover TAP lines that were garbled on the serial console from the share's copy.
        if [ -f "$share/results/tap.txt" ]; then
            while IFS=' ' read -r seq len text; do
                [ -z "${SEEN[$seq]:-}" ] || continue
                SEEN[$seq]=1
                on_tap_text "$text"
            done < "$share/results/tap.txt"
        fi
        if [ "$E2E_VM_FROZE" = 1 ] && vm_froze "$share" "$t0"; then continue; fi
        break
    done
    flush_pending
    host_log "VM ran $((SECONDS - t0)) s (dom0 ready after ${E2E_BOOT_SECS:-?} s)"
    # every file must have reported (a test that reads stdin once ate
    # the runner's list of files: the rest never ran, silently)
    if [ "$E2E_VM_FINISHED" = 1 ]; then
        local f
        while IFS= read -r f; do
            grep -q " # e2e/$f: [0-9]* results" "$share/results/tap.txt" \
                2>/dev/null || fail_line "e2e/$f did not run"
        done < "$share/tests/.order"
    fi
    if [ "$E2E_VM_FINISHED" != 1 ]; then
        e2e_host_serial_tail "$RUNDIR/serial.log" 80
        fail_line "VM did not finish: $E2E_VM_REASON"
    elif [ "$E2E_DOM0_RC" != 0 ] && [ "$N_FAIL" = 0 ]; then
        fail_line "dom0 test runner exited with status $E2E_DOM0_RC"
    fi
    cp -r "$share/results" "$RUNDIR/" 2>/dev/null || true
    T_BOOT=${E2E_BOOT_SECS:-} T_VM=$((SECONDS - t0))
    if [ -s "$share/results/boot-retries.txt" ]; then
        N_RETRY=$((N_RETRY + $(wc -l < "$share/results/boot-retries.txt")))
        echo "# e2e: guest boots retried (emulator-side boot failures, never assertions):"
        sed 's/^/#   /' "$share/results/boot-retries.txt"
    fi
    if [ -s "$share/results/file-reruns.txt" ]; then
        N_RERUN=$(wc -l < "$share/results/file-reruns.txt")
        echo "# e2e: files run again because Xen's console proved the emulator killed a guest:"
        sed 's/^/#   /' "$share/results/file-reruns.txt"
    fi
    # each file's time, slowest first (the suite must stay under 60 min)
    # (and those that completed on a VM that froze later)
    { cat "$share/results/tap.txt" "$share"/results/tap-froze-*.txt 2>/dev/null || true; } |
        sed -n 's/^[0-9]* [0-9]* # \(e2e\/[^:]*\): [0-9]* results, [0-9]* failed, \([0-9]*\) s$/\2 \1/p' |
        sort -rn | head -n 40 |
        awk 'NR == 1 {print "# e2e: time per file (s):"} {printf "#   %5d  %s\n", $1, $2}'
    [ "${E2E_KEEP_SHARE:-0}" = 1 ] || rm -rf "$share"
    host_log "total $((SECONDS - t_start)) s"
    finish
}

# E2E_SHARD_PLAN=JOBS: print the plan only (tests/bats/90-e2e-harness.bats)
# (with E2E_XEN_ALSO, its files follow as "also:FILE")
if [ -n "${E2E_SHARD_PLAN:-}" ]; then
    mapfile -t files < <(with_also "$@")
    shard_plan "$E2E_SHARD_PLAN" "${files[@]}"; exit
fi
# E2E_ALSO_PREPARE=DIR (with E2E_XEN_ALSO): only prepare that Xen's images
# and xl-snapshot into DIR (tests/run-all.sh, from its start; it then
# passes E2E_ALSO_DIR=DIR to the run)
if [ -n "${E2E_ALSO_PREPARE:-}" ]; then
    [ -n "${E2E_XEN_ALSO:-}" ] || { echo "E2E_ALSO_PREPARE needs E2E_XEN_ALSO" >&2; exit 2; }
    mapfile -t also < <(also_files)
    e2e_host_also_prepare "$E2E_ALSO_PREPARE" "${also[@]}"
    exit
fi
main "$@"
