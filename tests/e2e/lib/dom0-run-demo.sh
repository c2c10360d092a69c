#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs INSIDE dom0 (copied to /share/dom0-run by demo.sh; started by dom0's /init).
# Runs /share/tests/demo-inside.sh and prefixes each output line with "@@DEMO@@ " so the
# host can show only these lines. Exit status: demo-inside.sh's.
set -u
export LC_ALL=C
export E2E_SHARE=/share E2E_TESTS=/share/tests E2E_IMAGES=/share/images E2E_WORK=/tmp/e2e
# shellcheck disable=SC1091
[ -f /share/env ] && . /share/env
mkdir -p "$E2E_WORK"
bash "$E2E_TESTS/demo-inside.sh" 2>&1 | while IFS= read -r l; do printf '@@DEMO@@ %s\n' "$l"; done
exit "${PIPESTATUS[0]}"
