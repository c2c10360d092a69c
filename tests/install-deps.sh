#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# install-deps.sh - install the Debian 12 packages xl-snapshot needs to
# build, test and run its real-Xen e2e suite.  Idempotent: installs only
# what is missing.  Needs root (or sudo) and Debian's package mirrors.
set -euo pipefail

PKGS=(
    # build
    gcc make pkg-config libxen-dev libyajl-dev libzstd-dev nettle-dev perl
    # host tests
    bats bats-support bats-assert bats-file qemu-utils python3
    # bats --jobs: the host suites run two files at a time
    parallel
    # issue 7: man -l, nightly script lint, Debian package build + lint
    # (systemd: its systemd.pc gives debian/rules the unit dir)
    man-db shellcheck debhelper lintian systemd
    # fuzzing (libFuzzer: clang's runtime, llvm-symbolizer), memcheck
    clang libclang-rt-14-dev llvm valgrind
    # e2e: Xen 4.17 booted in QEMU (software emulation)
    qemu-system-x86 debootstrap cpio kmod busybox-static zstd
    # make bench: the baselines (openssl dgst, zstd -T0, sha256sum)
    openssl
)

missing=()
for p in "${PKGS[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
