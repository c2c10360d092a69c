#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Measures the guest boot failure rate on real Xen in QEMU (issue: PVH guests
# sometimes triple-fault while booting under TCG with nested SVM).
#
#   tests/e2e/boot-measure.sh [N]        N boots (default 50) of one guest type
#
# Settings come from the environment, as for run.sh:
#   E2E_MEASURE_TYPE  pvh (default) or pv
#   E2E_CPU           QEMU -cpu model (qemu64,+svm,+npt)
#   E2E_ACCEL         QEMU -accel (tcg; e.g. tcg,thread=single)
#   E2E_XEN_ARGS      extra Xen command line options (e.g. hap_1gb=0)
#   E2E_GUEST_EXTRA   extra guest kernel options (appended to the config's extra=)
# Prints run.sh's TAP (one line per boot) and ends with the summary line
#   boot-measure: type=pvh cpu=... boots=50 failed=F reset=R died=D not-ready=T create=C mean-ready=S s
# Boots are never retried here; tests/e2e/README.md keeps the results.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export E2E_MEASURE_BOOTS=${1:-50}
export E2E_TIMEOUT=${E2E_TIMEOUT:-$((600 + E2E_MEASURE_BOOTS * 90))}
out=$(E2E_DOM0_RUN=$here/lib/dom0-boot-measure.sh "$here/run.sh" "$here/lib/dom0-boot-measure.sh" | tee /dev/stderr)
rc=$?
summary=$(sed -n 's/^# \(boot-measure: type=.*\)$/\1/p' <<<"$out" | tail -n 1)
echo "${summary:-boot-measure: no summary (the VM did not finish; see the log above)}"
[ -n "$summary" ] || exit 1
exit $rc
