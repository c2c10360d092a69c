#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# trixie-build.sh: the packaging check on Debian 13 (trixie), whose
# libxen-dev is Xen 4.20, from this Debian 12 host.  Not part of
# 'make check' (it needs a trixie chroot: ~5 min and ~600 MB the first
# time); run it by hand, as root, when touching debian/ or the libxl
# calls:
#
#   tests/deb/trixie-build.sh            # or: make trixie-check
#
# The chroot is TRIXIE_ROOT (default /var/tmp/trixie), made by
# debootstrap from the host's Debian mirror (TRIXIE_MIRROR overrides it)
# the first time and reused after.  In it, the build dependencies come
# from debian/control alone (apt-get build-dep), then tests/deb/deb.bats
# runs on a copy of the tree (committed or not): dpkg-buildpackage with
# -Werror against libxl 4.20, lintian -I --pedantic, Depends on
# xen-utils-4.20, units in /usr/lib/systemd/system.  The .debs and logs
# are left in TRIXIE_ROOT/build/src/build/deb.
#
#   tests/deb/trixie-build.sh --e2e OUTDIR [nodebs]
#
# builds, in the same chroot, what the Xen 4.20 e2e run needs (E2E_XEN=4.20
# tests/e2e/run.sh calls it): OUTDIR/xl-snapshot (linked to trixie's
# libxenlight 4.20) and the .debs in OUTDIR/deb (nocheck; not with
# nodebs), no deb.bats;
# the build dependencies are installed again only when debian/control
# changed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
root=${TRIXIE_ROOT:-/var/tmp/trixie}
suite=trixie
e2e_out=
if [ "${1:-}" = --e2e ]; then
    [ -n "${2:-}" ] || { echo "usage: $0 [--e2e OUTDIR]" >&2; exit 2; }
    mkdir -p "$2"
    e2e_out=$(cd "$2" && pwd)
fi

die() { echo "trixie-build: $*" >&2; exit 1; }
log() { echo "trixie-build: $*" >&2; }
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot)"
# one build at a time in a chroot (make check's E2E_XEN_ALSO beside a
# make e2e-4.20 would share its /build/e2e-src)
mkdir -p "$(dirname "$root")"
exec 8>"${root%/}.lock"
flock 8 || die "cannot lock ${root%/}.lock"

# The host's Debian mirror: the URI its sources give for its own suite.
host_mirror() {
    local host_suite
    host_suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
    { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
          awk -v s="$host_suite" '$1 == "deb" && $0 !~ /\[/ && $3 == s { print $2; exit }'
      cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
          awk -v s="$host_suite" 'BEGIN { RS = ""; FS = "\n" }
              { u = ""; ok = 0
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/) { u = $i; sub(/^URIs:[ \t]*/, "", u); sub(/ .*/, "", u) }
                    if ($i ~ /^Suites:/ && (" " $i " ") ~ (" " s " ")) ok = 1
                }
                if (ok && u != "") { print u; exit } }'
    } | head -n 1
}

chr() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

# A build chroot needs no manuals, documentation or translations: dpkg
# leaves them out of every package it installs (debootstrap's second
# stage included: the file is there before it), and man-db
# (debhelper brings it) builds no database of them after each install
# (measured in a cold --e2e run: 182 CPU-s for the chroot, the tool and
# the .debs, beside the VMs of make check with E2E_XEN_ALSO)
mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
printf '%s\n' 'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/doc/*' \
    'path-exclude=/usr/share/info/*' 'path-exclude=/usr/share/locale/*' \
    > "$root/etc/dpkg/dpkg.cfg.d/01-xl-snapshot-nodoc"
if [ ! -x "$root/usr/bin/apt-get" ] || [ ! -f "$root/etc/debian_version" ]; then
    command -v debootstrap >/dev/null || die "no debootstrap (apt-get install debootstrap)"
    mirror=${TRIXIE_MIRROR:-$(host_mirror)}
    [ -n "$mirror" ] || die "no Debian mirror in the host's apt sources: set TRIXIE_MIRROR"
    log "debootstrap $suite into $root from $mirror"
    # Only the base: debootstrap's own resolver misses virtual packages
    # (perl-openssl-abi-3), apt in the chroot brings the rest.
    debootstrap --variant=buildd "$suite" "$root" "$mirror" \
        > "${root%/}.debootstrap.log" 2>&1 ||
        { tail -n 20 "${root%/}.debootstrap.log" >&2; die "debootstrap failed"; }
fi
[ "$(cut -d. -f1 "$root/etc/debian_version")" = 13 ] ||
    [ "$(. "$root/etc/os-release" && echo "$VERSION_CODENAME")" = "$suite" ] ||
    die "$root is not Debian 13"

mountpoint -q "$root/proc" || { mount -t proc proc "$root/proc"; trap 'umount "$root/proc"' EXIT; }

# The tree (committed or not, as tests/deb/build.sh takes it), as a git
# repository of its own: deb.bats checks that the build leaves it clean.
csrc=/build/src
[ -z "$e2e_out" ] || csrc=/build/e2e-src
src=$root$csrc
rm -rf "$src"
mkdir -p "$src"
(cd "$repo" && git ls-files -co --exclude-standard | tar -cf - -T -) | tar -xf - -C "$src"

stamp=$root/.trixie-build-deps
deps_key=$(sha256sum < "$src/debian/control" | cut -c1-16)
if [ -z "$e2e_out" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$deps_key" ]; then
    log "build dependencies from debian/control (apt-get build-dep)"
    chr apt-get update -qq
    echo 'man-db man-db/auto-update boolean false' | chr debconf-set-selections
    # --e2e builds only: no lintian (~70 packages) and no bats, which
    # only the packaging check (deb.bats) runs
    tools="dpkg-dev fakeroot git"
    [ -n "$e2e_out" ] || tools="$tools lintian bats bats-assert bats-support"
    # shellcheck disable=SC2086 # package names
    chr apt-get install -y -qq --no-install-recommends $tools >/dev/null
    chr apt-get build-dep -y -qq "$csrc" >/dev/null
    echo "$deps_key" > "$stamp"
fi
chr git -C "$csrc" init -q
chr git -C "$csrc" add -A
chr git -C "$csrc" -c user.name=trixie-build -c user.email=trixie-build@localhost \
    commit -qm "tree under test"

if [ -n "$e2e_out" ]; then
    log "building xl-snapshot and the .debs for the Xen 4.20 e2e run in $e2e_out"
    rm -rf "$e2e_out/deb" "$e2e_out/xl-snapshot"
    # only the binary dom0 runs, not the unit tests: less CPU beside the VMs
    chr bash -c "cd $csrc && mkdir -p build && make -j2 BUILD=build/e2e build/e2e/xl-snapshot > build/e2e-make.log 2>&1 ||
                 { tail -n 30 build/e2e-make.log; exit 1; }" >&2 || die "make failed"
    cp "$src/build/e2e/xl-snapshot" "$e2e_out/xl-snapshot"
    if [ "${3:-}" != nodebs ]; then
        chr env DEB_BUILD_OPTIONS="nocheck parallel=2" "$csrc/tests/deb/build.sh" /build/e2e-deb >&2 ||
            die "building the .debs failed (log: $root/build/e2e-deb/build.log)"
        mkdir -p "$e2e_out/deb"
        cp "$root"/build/e2e-deb/*.deb "$e2e_out/deb/"
    fi
    log "Debian $(cat "$root/etc/debian_version"), libxenlight $(chr pkg-config --modversion xenlight):" \
        "xl-snapshot $(cd "$e2e_out" && echo xl-snapshot deb/*.deb)"
    exit 0
fi

echo "# Debian $(cat "$root/etc/debian_version"), libxenlight $(chr pkg-config --modversion xenlight)" \
     "(libxen-dev $(chr dpkg-query -W -f='${Version}' libxen-dev))"
rc=0
chr bash -c 'cd /build/src && bats --tap tests/deb' || rc=$?

deb=$src/build/deb
if [ -f "$deb/build.log" ]; then
    echo "# 'warning:' lines in the package build log (compiled with -Werror): $(grep -c 'warning:' "$deb/build.log" || true)"
    grep -n 'warning:' "$deb/build.log" | sed 's/^/#   /' || true
    for p in xl-snapshot libxlsnap0 libxlsnap-dev; do
        f=$(ls "$deb/${p}_"*.deb 2>/dev/null) || continue
        echo "# $p Depends: $(dpkg-deb -f "$f" Depends)"
    done
    echo "# units: $(dpkg-deb -c "$deb"/xl-snapshot_*.deb | awk '$6 ~ /\.(service|timer)$/ { print $6 }' | tr '\n' ' ')"
    echo "# lintian -I --pedantic:"
    chr bash -c 'lintian -I --pedantic /build/src/build/deb/xl-snapshot_*.changes 2>&1' | sed 's/^/#   /'
    # the dependencies resolve in trixie's archive (simulated: nothing installed)
    if out=$(chr bash -c 'apt-get install -s /build/src/build/deb/*.deb 2>&1'); then
        echo "# apt-get install -s of the .debs on Debian 13 resolves, installing:" \
             "$(grep -oE '^Inst (xen-utils-[0-9.]+|qemu-utils|xl-snapshot|libxlsnap0|libxlsnap-dev) ' <<< "$out" |
                awk '{ print $2 }' | tr '\n' ' ')"
    else
        echo "# FAILED: apt-get install -s of the .debs on Debian 13:"
        sed 's/^/#   /' <<< "$out"
        rc=1
    fi
fi
exit "$rc"
