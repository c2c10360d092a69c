#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# `make demo`: boots Xen + dom0 in QEMU (software emulation) and runs
# tests/e2e/demo-inside.sh in dom0, showing only its output (and one status line per
# phase). The full serial log is kept; its path is printed.
# Exit status non-zero if the VM or the demo failed.
set -euo pipefail
# shellcheck source=lib/host.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/host.bash"

status() { printf '[demo %s] %s\n' "$(date +%T)" "$*"; }
on_serial() {
    case $1 in
        *"@@DEMO@@ "*) printf '%s\n' "${1#*@@DEMO@@ }" ;;
        *"@@STAGE@@ dom0-ready"*) status "dom0 is up (Xen + Debian dom0), running the demo" ;;
        *"@@STAGE@@ kernel-up"*) status "Xen and the dom0 kernel booted, starting the Xen daemons" ;;
    esac
}

main() {
    local t0=$SECONDS
    RUNDIR=$(e2e_host_rundir)
    e2e_host_prereqs
    status "building images (cached; the first time takes a few minutes; log: $RUNDIR/build.log)"
    if ! e2e_host_build_images 2> "$RUNDIR/build.log"; then
        tail -n 20 "$RUNDIR/build.log"
        status "FAILED: building the images (log: $RUNDIR/build.log)"
        return 1
    fi
    local share=$RUNDIR/share
    e2e_host_make_share "$share" 2>> "$RUNDIR/build.log"
    cp "$E2E_DIR/demo-inside.sh" "$share/tests/"
    cp "$E2E_DIR/lib/dom0-run-demo.sh" "$share/dom0-run"
    [ -x "$share/bin/xl-snapshot" ] || status "note: no xl-snapshot binary (build it first: make), its steps will fail"
    status "booting Xen 4.17 in QEMU (software emulation, ~15 s)"
    e2e_host_boot "$share" "$RUNDIR/serial.log" on_serial
    [ "${E2E_KEEP_SHARE:-0}" = 1 ] || rm -rf "$share"
    if [ "$E2E_VM_FINISHED" != 1 ]; then
        e2e_host_serial_tail "$RUNDIR/serial.log" 40
        status "FAILED: the VM did not finish: $E2E_VM_REASON (serial log: $RUNDIR/serial.log)"
        return 1
    fi
    if [ "$E2E_DOM0_RC" != 0 ]; then
        status "FAILED: the demo exited with status $E2E_DOM0_RC (serial log: $RUNDIR/serial.log)"
        return 1
    fi
    status "done in $((SECONDS - t0)) s (serial log: $RUNDIR/serial.log)"
}

main "$@"
