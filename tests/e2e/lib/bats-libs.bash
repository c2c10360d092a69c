# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
# bats-libs.bash - xlsnap_load_bats_lib NAME: what bats_load_library NAME
# does, but the files of the library's src/ are sourced here.  Its
# load.bash finds each of them with a $(dirname ...): ~20 processes a test
# for bats-support, -assert and -file, as bats sources a test file (and its
# loads) once per test.  They only define functions, so their order does
# not matter.  Used by the e2e helpers (lib/e2e.bash, in dom0) and the host
# suite's (tests/bats/helpers.bash).
xlsnap_load_bats_lib() {
    local d f
    for d in ${BATS_LIB_PATH//:/ }; do
        if [ ! -f "$d/$1/load.bash" ] || [ ! -d "$d/$1/src" ]; then continue; fi
        for f in "$d/$1"/src/*.bash; do
            # shellcheck disable=SC1090
            source "$f" || return 1
        done
        return 0
    done
    bats_load_library "$1"
}
