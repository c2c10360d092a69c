#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# build.sh OUTDIR: build the Debian packages from a copy of the tree's
# files (committed or not; build outputs and ignored files left out) in
# OUTDIR/src, so the worktree is never touched.  The .debs, .changes
# and the build log end up in OUTDIR.  Used by tests/deb/deb.bats and
# the e2e harness (tests/e2e/run.sh installs them in dom0).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$1
rm -rf "$out"
mkdir -p "$out/src"
(cd "$repo" && git ls-files -co --exclude-standard | tar -cf - -T -) |
    tar -xf - -C "$out/src"
cd "$out/src"
dpkg-buildpackage -us -uc -b > "$out/build.log" 2>&1 ||
    { tail -n 40 "$out/build.log" >&2; exit 1; }
