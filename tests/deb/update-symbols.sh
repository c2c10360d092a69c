#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# update-symbols.sh: rewrite debian/libxlsnap0.symbols from the public
# header, libxlsnap/libxlsnap.h.  Functions already listed keep their
# version (the first release that had them); new ones get the
# Makefile's VERSION; functions gone from the header are dropped (that
# is an ABI break: bump the soname instead).  tests/deb/deb.bats checks
# that the file lists exactly the header's functions.
set -euo pipefail
export LC_ALL=C
repo=$(cd "$(dirname "$0")/../.." && pwd)
sym=$repo/debian/libxlsnap0.symbols
hdr=$repo/libxlsnap/libxlsnap.h
version=$(sed -n 's/^VERSION *:= *//p' "$repo/Makefile")

# the same list as tests/lib/library.bats's header_functions
functions=$(grep -v '^typedef' "$hdr" | grep -oE '\bxlsnap_[a-z0-9_]+\(' |
            tr -d '(' | sort -u)
old_version() {
    [ -f "$sym" ] || return 0
    awk -v s="$1@LIBXLSNAP_0" '$1 == s { print $2 }' "$sym"
}
{
    echo "libxlsnap.so.0 libxlsnap0 #MINVER#"
    echo "* Build-Depends-Package: libxlsnap-dev"
    v=$(old_version LIBXLSNAP_0)
    echo " LIBXLSNAP_0@LIBXLSNAP_0 ${v:-$version}"
    for f in $functions; do
        v=$(old_version "$f")
        echo " $f@LIBXLSNAP_0 ${v:-$version}"
    done
} > "$sym.tmp"
mv "$sym.tmp" "$sym"
