#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# run.sh - random-kill crash-consistency harness (README.md in this dir).
#   tests/crash/run.sh                          short run (10 per operation)
#   CRASH_ITERATIONS=300 tests/crash/run.sh     the long run
#   CRASH_SEED=N CRASH_OPS=import-dir CRASH_ONLY=7 ... replays one failure
# TAP on stdout: one line per operation kind with its counts.
set -euo pipefail
cd "$(dirname "$0")/../.."
export XS=${XL_SNAPSHOT_BIN:-$PWD/build/xl-snapshot}
if [ ! -x "$XS" ]; then
    echo "1..0 # SKIP $XS is not built (make)"; exit 0
fi
for t in qemu-img qemu-io python3; do
    command -v "$t" >/dev/null || { echo "not ok 1 - crash: $t is missing"; exit 1; }
done
exec nice -n "${CRASH_NICE:-19}" python3 tests/crash/crash.py
