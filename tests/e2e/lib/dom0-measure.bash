# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
# The common start of the measurement runners that replace dom0's test
# runner (E2E_DOM0_RUN: dom0-boot-measure.sh, dom0-tick-measure.sh): the
# e2e environment and library, the images mounted, and emit LINE, which
# sends one TAP line to the host (serial console and the share's tap.txt).
export LC_ALL=C E2E_SHARE=/share E2E_TESTS=/share/tests E2E_IMAGES=/share/images E2E_WORK=/tmp/e2e
export BATS_LIB_PATH=/usr/lib/bats
# shellcheck disable=SC1091
[ -f /share/env ] && . /share/env
# shellcheck source=e2e.bash
. /share/tests/lib/e2e.bash
e2e_mount_images
RES=/share/results
mkdir -p "$RES" "$E2E_WORK"
: > "$RES/tap.txt"
SEQ=0
emit() {
    local l=$1
    SEQ=$((SEQ + 1))
    printf '%d %d %s\n' "$SEQ" "${#l}" "$l" >> "$RES/tap.txt"
    printf '@@TAP@@ %d %d %s\n' "$SEQ" "${#l}" "$l"
}
