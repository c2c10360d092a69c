#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The licences, as libxenlight and xl have them: the library LGPL-2.1,
# everything else GPL-2.0; every source file says which in an SPDX line,
# the texts are in the tree, and the Debian packages' copyright agrees.
load helpers

# spdx_of FILE: the licence its SPDX-License-Identifier line names
spdx_of() {
    sed -n 's/.*SPDX-License-Identifier: \([A-Za-z0-9.+-]*\).*/\1/p' "$1" | head -n 1
}

expect_licence() {
    local lic=$1 f bad=
    shift
    for f in "$@"; do
        [ "$(spdx_of "$f")" = "$lic" ] || bad="$bad ${f#"$REPO"/}($(spdx_of "$f"))"
    done
    [ -z "$bad" ] || { echo "not $lic:$bad"; return 1; }
}

@test "the library and its example are LGPL-2.1-only, in each file" {
    expect_licence LGPL-2.1-only "$REPO"/libxlsnap/*.[ch] "$REPO"/libxlsnap/*/*.c "$REPO"/libxlsnap/libxlsnap.map \
        "$REPO"/libxlsnap/libxlsnap.pc.in "$REPO"/examples/*.c
}

@test "the CLI, completion, nightly job and tests are GPL-2.0-only, in each file" {
    expect_licence GPL-2.0-only "$REPO"/xl-snapshot/*.[ch] "$REPO"/completion/xl-snapshot.bash \
        "$REPO"/configs/* "$REPO"/Makefile "$REPO"/tests/unit/*.[ch] "$REPO"/tests/fuzz/*.[ch] \
        "$REPO"/tests/bats/helpers/*.c \
        "$REPO"/tests/*/*.bats "$REPO"/tests/e2e/lib/*
}

@test "the licence texts are in the tree, and LICENSE says which applies where" {
    grep -q "GNU GENERAL PUBLIC LICENSE" "$REPO/COPYING"
    grep -q "Version 2, June 1991" "$REPO/COPYING"
    grep -q "GNU LESSER GENERAL PUBLIC LICENSE" "$REPO/COPYING.LGPL"
    grep -q "Version 2.1, February 1999" "$REPO/COPYING.LGPL"
    grep -q "libxlsnap/.*Lesser General Public License" "$REPO/LICENSE"
    grep -q "version 2.1 only (COPYING.LGPL)" "$REPO/LICENSE"
    grep -q "version 2 only (COPYING)" "$REPO/LICENSE"
}

@test "debian/copyright: the library LGPL-2.1, the rest GPL-2, both texts referenced" {
    local c=$REPO/debian/copyright
    run -0 awk '/^Files:/ {f = $0} /^License:/ && f {print f " => " $2; f = ""}' "$c"
    assert_line "Files: * => GPL-2"
    assert_line "Files: libxlsnap/* examples/* => LGPL-2.1"
    grep -q "/usr/share/common-licenses/GPL-2" "$c"
    grep -q "/usr/share/common-licenses/LGPL-2.1" "$c"
    ! grep -qi "unlicensed\|not chosen a licen" "$c"
}
