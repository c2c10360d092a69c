#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# bench/run.sh - `make bench`: xl-snapshot's performance numbers.
#   host: list / list --json over 100, 1,000, 10,000 records; list,
#   list --json/--tree/--domains, info and name lookups at 10,000
#   snapshots and 1,000 domains x 10 (bench/lookup-bench.py); export,
#   import, SHA-256 and zstd against qemu-img convert, cp, sha256sum /
#   openssl and zstd -T0 (bench/bundle-bench.py, 2 GiB disks);
#   real Xen (tests/e2e/run.sh's VM, with bench/dom0-bench.sh as dom0's
#   entry point): guest downtime seen from inside the guest, create and
#   revert times, memory image sizes.
# Raw numbers: bench/results/<date>-{host,xen}.csv; the table (with the
# targets of docs/performance.md): stdout, and bench/results/<date>.txt.
#   BENCH_SKIP_XEN=1   host part only
#   BENCH_SKIP_HOST=1  real-Xen part only
#   E2E_BENCH_ROWS=floors  in the VM only the downtime floors (by default
#                      they follow the guest rows, E2E_BENCH_FLOOR_REPS
#                      repetitions, 3): create
#                      --disk-only / create / create --live, each paired
#                      with its floor (bench/qmp-floor.py, xl save -c)
#   BENCH_XEN_BEFORE=BIN  in the floors, create and create --disk-only of
#                      another xl-snapshot binary too (a before tree's)
#   BENCH_SKIP_BUNDLE=1  no export/import rows (they need ~12 GiB in
#                      BENCH_TMP, default /var/tmp)
#   BENCH_BEFORE=TREE  also the bundle rows of TREE (another checkout,
#                      `make all` done), pairs interleaved: before/after
#   E2E_BENCH_REPS=N   repetitions in the VM (2), E2E_BENCH_GUEST_MEM (256)
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=$(date -u +%Y%m%d-%H%M)
res=bench/results
mkdir -p "$res" build/bench
make -s all

files=()
if [ "${BENCH_SKIP_HOST:-0}" != 1 ]; then
    echo "# bench: list on the host" >&2
    python3 bench/list-bench.py build/xl-snapshot "$res/$stamp-host.csv"
    files+=("$res/$stamp-host.csv")
    # issue 20's rows: 10,000 snapshots / 1,000 domains x 10, paired with the
    # BENCH_BEFORE tree's binary when given (its own CSV: binary,metric,...)
    echo "# bench: lookups, list, info on the host (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    bins=()
    [ -z "${BENCH_BEFORE:-}" ] || bins+=("before=$BENCH_BEFORE/build/xl-snapshot")
    bins+=("now=build/xl-snapshot")
    python3 bench/lookup-bench.py "$res/$stamp-lookup.csv" "${bins[@]}"
    files+=("$res/$stamp-lookup.csv")
    if [ "${BENCH_SKIP_BUNDLE:-0}" != 1 ]; then
        echo "# bench: export / import / sha256 / zstd on the host (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
        trees=()
        [ -z "${BENCH_BEFORE:-}" ] || trees+=("before=$BENCH_BEFORE")
        trees+=("now=$PWD")
        python3 bench/bundle-bench.py "$res/$stamp-bundle.csv" "${trees[@]}"
        files+=("$res/$stamp-bundle.csv")
    fi
fi
if [ "${BENCH_SKIP_XEN:-0}" != 1 ]; then
    # the bench guest: e2e guest initramfs + an archive with our /init
    tmp=$(mktemp -d)
    install -m 0755 bench/guest-init "$tmp/init"
    (cd "$tmp" && echo init | cpio -o -H newc -R 0:0 --quiet) |
        gzip -9 > build/bench/bench-init.cpio.gz
    rm -rf "$tmp"
    # the tool's own pause window (LD_PRELOAD in dom0; same glibc)
    cc -O2 -Wall -Wextra -Werror -shared -fPIC -o build/bench/pause-trace.so \
        bench/pause-trace.c -ldl
    extra=(build/bench/pause-trace.so)
    if [ -n "${BENCH_XEN_BEFORE:-}" ]; then
        cp "$BENCH_XEN_BEFORE" build/bench/xl-snapshot-before
        extra+=(build/bench/xl-snapshot-before)
    fi
    # (tee -a: a plain `tee /dev/stderr` reopens a stderr redirected to a
    # file with O_TRUNC, and the host part was cut out of that log)
    echo "# bench: real Xen in QEMU (20-40 minutes; load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    out=$(E2E_DOM0_RUN=bench/dom0-bench.sh E2E_TIMEOUT=${E2E_TIMEOUT:-2400} \
          tests/e2e/run.sh bench/dom0-bench.sh bench/qmp-snapshot.py bench/qmp-floor.py \
          build/bench/bench-init.cpio.gz "${extra[@]}" | tee -a /dev/stderr) || true
    rundir=$(sed -n 's/^# e2e: serial log: \(.*\)\/serial.log$/\1/p' <<<"$out" | head -n 1)
    if [ -f "$rundir/results/bench.csv" ]; then
        cp "$rundir/results/bench.csv" "$res/$stamp-xen.csv"
        files+=("$res/$stamp-xen.csv")
    else
        echo "bench: no results from the VM (log: $rundir)" >&2
    fi
fi
{ echo "# make bench $stamp, $(git describe --always --dirty 2>/dev/null), load at the end: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
  python3 bench/report.py "${files[@]}"; } | tee "$res/$stamp.txt"
