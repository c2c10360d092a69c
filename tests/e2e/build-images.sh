#!/usr/bin/env bash
# Build (and cache) the images for the real-Xen end-to-end tests:
#   xen           uncompressed Xen 4.17 hypervisor (multiboot image for QEMU)
#   vmlinuz       Debian 12 kernel (dom0 and guests)
#   dom0.cpio     dom0 root filesystem as an initramfs (debootstrap + xen-utils ...)
#   guest.cpio.gz tiny busybox guest initramfs (tick counter on hvc0 + disks)
#
# E2E_XEN=4.20 builds the second generation instead: Xen 4.20 and a Debian 13
# (trixie) dom0, its kernel included (dom0-vmlinuz), all from trixie's packages
# (fetched inside the dom0 chroot); the guests keep the Debian 12 kernel and
# initramfs.  Each generation has its own cache key and keeps its own images.
#
# The images live OUTSIDE the repo in ${XDG_CACHE_HOME:-$HOME/.cache}/xl-snapshot-e2e/<key>/
# (E2E_XEN=4.20: in .../xl-snapshot-e2e/xen-4.20/<key>/)
# and are rebuilt only when the cache key changes (this script, tests/e2e/images/*,
# the package list, the host's libxen-dev version and the Debian kernel version).
#
# Prints the image directory on stdout (last line); progress goes to stderr.
# Env: E2E_CACHE_DIR (override the cache root), E2E_REBUILD=1 (force a rebuild),
#      E2E_DEBIAN_MIRROR / E2E_SECURITY_MIRROR (override the mirrors found in the
#      host's apt sources), E2E_DOM0_COMPRESS=none|gzip|zstd (default none: fastest boot).
set -euo pipefail

# Packages installed into dom0's root filesystem (append here, e.g. libzstd1).
DOM0_PACKAGES="xen-utils-4.17 qemu-system-xen qemu-utils bats bats-support bats-assert bats-file \
libyajl2 libxencall1 libxendevicemodel1 libxenevtchn1 libxenforeignmemory1 libxengnttab1 \
libxenhypfs1 libxenmisc4.17 libxenstore4 libxentoolcore1 libxentoollog1 libnettle8 \
kmod busybox-static procps util-linux jq lvm2 thin-provisioning-tools xfsprogs"

# Kernel modules for dom0 (dependencies are added automatically).
DOM0_MODULES="xenfs xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xen-blkback loop \
virtio_pci 9pnet_virtio 9p dm-mod dm-snapshot dm-thin-pool dm-bufio dm-persistent-data dm-bio-prison xfs"
# Kernel modules for the guest initramfs.
GUEST_MODULES="xen-blkfront"
# Loaded by the guest only with "xlsnap_qga" on its command line (a RAM disk
# with an ext2 on it for qemu-guest-agent to freeze: tests/e2e/37-quiesce.bats);
# in guest-qga.cpio.gz, appended to the guest's initramfs by that test.
GUEST_QGA_MODULES="brd ext4"
# qemu-guest-agent (the real one, Debian's) in the guest, with its libraries.
GUEST_QGA_PKG=qemu-guest-agent

SUITE=bookworm
XEN_VER=${E2E_XEN:-4.17}
case $XEN_VER in
    4.17) ;;
    4.20)
        # Debian 13 (trixie): its xen-utils-4.20 pulls its own libraries
        SUITE=trixie
        DOM0_PACKAGES="xen-utils-4.20 qemu-system-xen qemu-utils bats bats-support bats-assert bats-file \
libyajl2 libxenmisc4.20 libzstd1 \
kmod busybox-static procps util-linux jq lvm2 thin-provisioning-tools xfsprogs" ;;
    *) echo "[build-images] ERROR: E2E_XEN must be 4.17 or 4.20" >&2; exit 1 ;;
esac
XEN_HV_PKG=xen-hypervisor-$XEN_VER-amd64

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${E2E_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xl-snapshot-e2e}
IMG_ROOT=$CACHE_ROOT

log() { printf '[build-images %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '[build-images] ERROR: %s\n' "$*" >&2; exit 1; }

need_cmd() { # need_cmd CMD PACKAGE
    command -v "$1" >/dev/null 2>&1 || die "missing '$1': install the Debian package '$2' (apt-get install $2)"
}

check_prereqs() {
    [ "$(id -u)" = 0 ] || die "must run as root (debootstrap/chroot need it)"
    need_cmd debootstrap debootstrap
    need_cmd cpio cpio
    need_cmd depmod kmod
    need_cmd modprobe kmod
    need_cmd dpkg-deb dpkg
    need_cmd apt-get apt
    need_cmd sha256sum coreutils
    need_cmd readelf binutils
    [ -x /bin/busybox ] || die "missing /bin/busybox: install the Debian package 'busybox-static'"
    dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' \
        || die "/bin/busybox must be static: install the Debian package 'busybox-static'"
    dpkg-query -W -f='${Version}' libxen-dev >/dev/null 2>&1 \
        || die "missing libxen-dev on the host (its version pins dom0's Xen): apt-get install libxen-dev"
}

# Debian mirrors from the host's apt sources (one-line and deb822 formats).
host_debian_uris() { # prints "URI SUITE" lines
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1=="deb" { i=2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } print $i, $(i+1) }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'BEGIN{RS=""; FS="\n"}
             { uris=""; suites=""; types="";
               for (i=1;i<=NF;i++) {
                 if ($i ~ /^Types:/)  { types=$i;  sub(/^Types:[ \t]*/,"",types) }
                 if ($i ~ /^URIs:/)   { uris=$i;   sub(/^URIs:[ \t]*/,"",uris) }
                 if ($i ~ /^Suites:/) { suites=$i; sub(/^Suites:[ \t]*/,"",suites) }
               }
               if (types !~ /(^| )deb( |$)/) next
               nu=split(uris,U," "); ns=split(suites,S," ");
               for (a=1;a<=nu;a++) for (b=1;b<=ns;b++) print U[a], S[b] }' "$f"
    done
}

find_mirrors() {
    local uris
    uris=$(host_debian_uris)
    MIRROR=${E2E_DEBIAN_MIRROR:-$(awk -v s="$SUITE" '$2==s {print $1; exit}' <<<"$uris")}
    SECURITY=${E2E_SECURITY_MIRROR:-$(awk -v s="$SUITE-security" '$2==s || $2==s"/updates" {print $1; exit}' <<<"$uris")}
    if [ "$SUITE" != bookworm ]; then
        # another release than the host's: the same mirrors, by their URIs
        [ -n "$MIRROR" ] || MIRROR=$(awk '$2 !~ /-(security|updates|backports)$|\/updates$/ {print $1; exit}' <<<"$uris")
        [ -n "$SECURITY" ] || SECURITY=$(awk '$2 ~ /-security$|\/updates$/ {print $1; exit}' <<<"$uris")
    fi
    [ -n "$MIRROR" ] || die "no '$SUITE' Debian mirror in the host's apt sources; set E2E_DEBIAN_MIRROR"
    MIRROR=${MIRROR%/}
    SECURITY=${SECURITY%/}
}

chroot_sources() {
    echo "deb $MIRROR $SUITE main"
    echo "deb $MIRROR $SUITE-updates main"
    [ -z "$SECURITY" ] || echo "deb $SECURITY $SUITE-security main"
}

kernel_version() {
    apt-cache depends linux-image-amd64 2>/dev/null \
        | awk '/Depends: linux-image-[0-9]/ {sub(/^linux-image-/,"",$2); print $2; exit}'
}

cache_key() {
    {
        sha256sum "$HERE/build-images.sh" "$HERE"/images/* | awk '{print $1}'
        echo "pkgs=$DOM0_PACKAGES"
        echo "mods=$DOM0_MODULES / $GUEST_MODULES / $GUEST_QGA_MODULES $GUEST_QGA_PKG"
        echo "libxen-dev=$(dpkg-query -W -f='${Version}' libxen-dev)"
        echo "kernel=$KVER"
        echo "compress=${E2E_DOM0_COMPRESS:-none}"
        [ "$XEN_VER" = 4.17 ] || echo "xen=$XEN_VER"
    } | sha256sum | cut -c1-16
}

apt_download() { # apt_download DIR PKG...
    local dir=$1; shift
    (cd "$dir" && apt-get -q -o APT::Sandbox::User=root download "$@" >&2)
}

# copy_modules KROOT KVER DESTROOT MOD...: copy modules (+deps) from an extracted kernel tree.
copy_modules() {
    local kroot=$1 kver=$2 dest=$3 m p; shift 3
    for m in "$@"; do
        modprobe -d "$kroot" -S "$kver" --show-depends "$m" \
            | awk '$1=="insmod" {print $2}' \
            | while read -r p; do
                p=${p#"$kroot"}
                mkdir -p "$dest/$(dirname "$p")"
                cp "$kroot/$p" "$dest/$p"
            done
    done
    cp "$kroot/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$dest/lib/modules/$kver/" 2>/dev/null || true
    depmod -b "$dest" "$kver"
}

build_kernel_and_xen() { # in $WORK
    local dl=$WORK/dl
    mkdir -p "$dl" "$WORK/kernel" "$WORK/xenpkg"
    if [ "$XEN_VER" != 4.17 ]; then
        # Xen 4.20 is not in the host's release: build_dom0 fetches it
        log "downloading linux-image-$KVER (the guests' kernel)"
        apt_download "$dl" "linux-image-$KVER"
    else
        log "downloading $XEN_HV_PKG and linux-image-$KVER"
        apt_download "$dl" "$XEN_HV_PKG" "linux-image-$KVER"
        unpack_xen "$dl"
    fi
    dpkg-deb -x "$dl"/linux-image-"$KVER"_*.deb "$WORK/kernel"
    cp "$WORK/kernel/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
    depmod -b "$WORK/kernel" "$KVER"
    # dom0's kernel and modules: the same but with E2E_XEN=4.20 (build_dom0)
    DOM0_KROOT=$WORK/kernel DOM0_KVER=$KVER
}

unpack_xen() { # unpack_xen DIR: the hypervisor from DIR/$XEN_HV_PKG_*.deb
    dpkg-deb -x "$1"/"$XEN_HV_PKG"_*.deb "$WORK/xenpkg"
    zcat "$WORK"/xenpkg/boot/xen-"$XEN_VER"-amd64.gz > "$OUT/xen"
    dpkg-deb -f "$1"/"$XEN_HV_PKG"_*.deb Version > "$OUT/xen.version"
}

# dom0_kernel_and_xen ROOT: with E2E_XEN=4.20, the hypervisor and dom0's
# kernel from the release of the dom0 chroot ROOT (its apt, before the
# lists are stripped); dom0-vmlinuz boots dom0, vmlinuz stays the guests'.
dom0_kernel_and_xen() {
    local r=$1 dl=$1/tmp/e2e-dl kpkg
    kpkg=$(chroot "$r" apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    [ -n "$kpkg" ] || die "no linux-image-amd64 in the $SUITE chroot"
    DOM0_KVER=${kpkg#linux-image-}
    log "downloading $XEN_HV_PKG and $kpkg ($SUITE)"
    mkdir -p "$dl"
    chroot "$r" sh -ec "cd /tmp/e2e-dl && apt-get -q -o APT::Sandbox::User=root download $XEN_HV_PKG $kpkg" >&2 ||
        die "apt-get download in the $SUITE chroot failed"
    unpack_xen "$dl"
    DOM0_KROOT=$WORK/dom0-kernel
    mkdir -p "$DOM0_KROOT"
    dpkg-deb -x "$dl/$kpkg"_*.deb "$DOM0_KROOT"
    # modprobe -d/depmod -b look in lib/modules: trixie's may be in usr/lib
    [ -e "$DOM0_KROOT/lib" ] || ln -s usr/lib "$DOM0_KROOT/lib"
    cp "$DOM0_KROOT/boot/vmlinuz-$DOM0_KVER" "$OUT/dom0-vmlinuz"
    depmod -b "$DOM0_KROOT" "$DOM0_KVER"
    rm -rf "$dl"
}

build_guest() {
    local g=$WORK/guest
    log "building guest initramfs"
    mkdir -p "$g"/{bin,sbin,dev,proc,sys,lib/modules}
    cp /bin/busybox "$g/bin/busybox"
    cp "$HERE/images/guest-init" "$g/init"
    # its tick loop (static: the guest has no libc)
    gcc -static -O2 -Wall -Wextra -Werror -o "$g/bin/guest-ticker" "$HERE/images/guest-ticker.c" ||
        die "cannot build the guest's ticker (gcc -static: libc6-dev)"
    strip "$g/bin/guest-ticker"
    chmod 755 "$g/init"
    for p in reboot poweroff; do
        printf '#!/bin/busybox sh\nsync\nexec /bin/busybox %s -f\n' "$p" > "$g/sbin/$p"
        chmod 755 "$g/sbin/$p"
    done
    # Flat copies for busybox insmod (no modprobe needed), in dependency order.
    local m p
    for m in $GUEST_MODULES; do
        modprobe -d "$WORK/kernel" -S "$KVER" --show-depends "$m" | awk '$1=="insmod" {print $2}' \
            | while read -r p; do
                cp "$p" "$g/lib/modules/"
                basename "$p" >> "$g/lib/modules/load-order"
            done
    done
    mkdir -p "$g/run" "$g/var/run" "$g/mnt/frz"
    (cd "$g" && find . | sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 > "$OUT/guest.cpio.gz"
    build_guest_qga
}

# build_guest_qga: guest-qga.cpio.gz, an initramfs to append to the
# guest's (the kernel unpacks both): qemu-ga, its libraries and the
# modules for an ext2 on a RAM disk.  Separate, so that every other
# guest boots the small initramfs in its 96 MiB as before.
build_guest_qga() {
    local g=$WORK/guest-qga m p
    mkdir -p "$g/lib/modules"
    for m in $GUEST_QGA_MODULES; do
        modprobe -d "$WORK/kernel" -S "$KVER" --show-depends "$m" | awk '$1=="insmod" {print $2}' \
            | while read -r p; do
                cp "$p" "$g/lib/modules/"
                basename "$p" >> "$g/lib/modules/qga-load-order"
            done
    done
    guest_add_qga "$g"
    (cd "$g" && find . | sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 > "$OUT/guest-qga.cpio.gz"
}

# guest_add_qga ROOT: Debian's qemu-ga binary and the shared libraries it needs
# (from its dependencies' packages, then from the host: same Debian release).
guest_add_qga() {
    local g=$1 q=$WORK/qga dep deps lib todo f
    mkdir -p "$q/debs" "$q/root"
    deps=$(apt-cache depends "$GUEST_QGA_PKG" | awk '$1=="Depends:" && $2 ~ /^lib/ {print $2}' | sort -u)
    log "adding $GUEST_QGA_PKG to the guest (with ${deps//$'\n'/ })"
    # shellcheck disable=SC2086
    apt_download "$q/debs" "$GUEST_QGA_PKG" $deps
    for f in "$q"/debs/*.deb; do dpkg-deb -x "$f" "$q/root"; done
    mkdir -p "$g/usr/sbin" "$g/lib/x86_64-linux-gnu" "$g/lib64"
    cp "$q/root/usr/sbin/qemu-ga" "$g/usr/sbin/qemu-ga"
    cp -L /lib64/ld-linux-x86-64.so.2 "$g/lib64/"
    todo=$(readelf -d "$g/usr/sbin/qemu-ga" | awk '/NEEDED/ {gsub(/[][]/,"",$5); print $5}')
    while [ -n "$todo" ]; do
        # shellcheck disable=SC2086
        set -- $todo; lib=$1; shift; todo=$*
        [ -e "$g/lib/x86_64-linux-gnu/$lib" ] && continue
        f=''
        for dep in "$q/root/lib/x86_64-linux-gnu" "$q/root/usr/lib/x86_64-linux-gnu" /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu; do
            [ -e "$dep/$lib" ] && { f=$dep/$lib; break; }
        done
        [ -n "$f" ] || die "qemu-ga needs $lib: found in neither its packages nor the host"
        cp -L "$f" "$g/lib/x86_64-linux-gnu/$lib"
        todo="$todo $(readelf -d "$f" | awk '/NEEDED/ {gsub(/[][]/,"",$5); print $5}')"
    done
    echo "$GUEST_QGA_PKG $(dpkg-deb -f "$q"/debs/"$GUEST_QGA_PKG"_*.deb Version)" > "$OUT/guest-qga.version"
}

build_dom0() {
    local r=$WORK/dom0
    log "debootstrap --variant=minbase $SUITE from $MIRROR (the slow part)"
    mkdir -p "$IMG_ROOT/debs"
    debootstrap --variant=minbase --cache-dir="$IMG_ROOT/debs" "$SUITE" "$r" "$MIRROR" \
        > "$WORK/debootstrap.log" 2>&1 || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log: $WORK/debootstrap.log)"; }
    log "installing dom0 packages from the host's sources (updates/security, to match libxen-dev)"
    chroot_sources > "$r/etc/apt/sources.list"
    rm -f "$r"/etc/apt/sources.list.d/*
    printf '#!/bin/sh\nexit 101\n' > "$r/usr/sbin/policy-rc.d"
    chmod 755 "$r/usr/sbin/policy-rc.d"
    mount -t proc proc "$r/proc"
    MOUNTED=$r/proc
    # shellcheck disable=SC2086
    if ! chroot "$r" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 sh -ec "
            apt-get -q update
            apt-get -q -y dist-upgrade
            apt-get -q -y --no-install-recommends install $DOM0_PACKAGES
            apt-get clean" > "$WORK/apt.log" 2>&1; then
        tail -n 40 "$WORK/apt.log" >&2
        die "apt-get in the dom0 chroot failed (log: $WORK/apt.log)"
    fi
    [ "$XEN_VER" = 4.17 ] || dom0_kernel_and_xen "$r"
    umount "$r/proc"; MOUNTED=
    local want have
    # shellcheck disable=SC2016
    have=$(chroot "$r" dpkg-query -W -f='${Version}' "xen-utils-$XEN_VER")
    if [ "$XEN_VER" = 4.17 ]; then
        want=$(dpkg-query -W -f='${Version}' libxen-dev)
        [ "$want" = "$have" ] || log "WARNING: dom0 xen-utils-4.17 $have != host libxen-dev $want"
    fi
    echo "$have" > "$OUT/xen-utils.version"
    # shellcheck disable=SC2016
    chroot "$r" dpkg-query -W -f='${Package} ${Version}\n' > "$OUT/dom0-packages.txt"

    log "stripping docs/locales/apt lists, adding modules and /init"
    rm -f "$r/usr/sbin/policy-rc.d"
    rm -rf "$r"/usr/share/{doc,man,info,locale,lintian,linda,bug} "$r"/var/lib/apt/lists/* \
        "$r"/var/cache/apt/* "$r"/var/cache/debconf/*-old "$r"/var/log/* "$r"/usr/share/common-licenses
    mkdir -p "$r"/usr/share/locale "$r"/var/log/xen/console "$r"/var/lib/xen "$r"/share "$r"/etc/xen
    # shellcheck disable=SC2086
    copy_modules "$DOM0_KROOT" "$DOM0_KVER" "$r" $DOM0_MODULES
    # (the xen-4.17 of its PATH is the release's own)
    sed "s|/usr/lib/xen-4\.17/|/usr/lib/xen-$XEN_VER/|g" "$HERE/images/dom0-init" > "$r/init"
    chmod 755 "$r/init"
    echo "dom0" > "$r/etc/hostname"
    echo "$DOM0_KVER" > "$r/etc/e2e-kernel-version"

    log "packing dom0 initramfs (compression: ${E2E_DOM0_COMPRESS:-none})"
    local packer
    case ${E2E_DOM0_COMPRESS:-none} in
        none) packer=(cat) ;;
        gzip) packer=(gzip -1) ;;
        zstd) need_cmd zstd zstd; packer=(zstd -q -T0 -3) ;;
        *) die "E2E_DOM0_COMPRESS must be none, gzip or zstd" ;;
    esac
    (cd "$r" && find . | sort | cpio -o -H newc --quiet -R 0:0) | "${packer[@]}" > "$OUT/dom0.cpio"
    du -sh "$r" | awk '{print "dom0 rootfs: " $1}' >&2
}

cleanup() {
    local rc=$?
    [ -z "${MOUNTED:-}" ] || umount "$MOUNTED" 2>/dev/null || true
    if [ -n "${WORK:-}" ]; then
        # An interrupted debootstrap can leave proc/sys mounted in the chroot: unmount first.
        local m
        awk -v w="$WORK/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done
        rm -rf --one-file-system "$WORK"
    fi
    [ -z "${OUT:-}" ] || [ $rc = 0 ] || rm -rf "$OUT"
    return $rc
}

main() {
    check_prereqs
    mkdir -p "$CACHE_ROOT"
    # Xen 4.20's images apart, with their own lock: a 4.20 build never
    # holds up a 4.17 run, nor drops its images
    [ "$XEN_VER" = 4.17 ] || IMG_ROOT=$CACHE_ROOT/xen-$XEN_VER
    mkdir -p "$IMG_ROOT"
    exec 9>"$IMG_ROOT/.lock"
    flock 9 || die "cannot lock $IMG_ROOT/.lock"

    KVER=$(kernel_version)
    [ -n "$KVER" ] || die "cannot find the Debian kernel version (apt-cache depends linux-image-amd64); run apt-get update"
    local key dir
    key=$(cache_key)
    dir=$IMG_ROOT/$key
    if [ -f "$dir/.complete" ] && [ "${E2E_REBUILD:-0}" != 1 ]; then
        log "images cached in $dir"
        echo "$dir"
        return 0
    fi
    find_mirrors
    local t0=$SECONDS
    log "building images (Xen $XEN_VER, $SUITE dom0, key $key, kernel $KVER, libxen-dev $(dpkg-query -W -f='${Version}' libxen-dev)) into $dir"
    rm -rf "$dir"
    WORK=$(mktemp -d "$IMG_ROOT/work.XXXXXX")
    OUT=$dir.tmp
    rm -rf "$OUT"; mkdir -p "$OUT"
    trap cleanup EXIT
    build_kernel_and_xen
    build_guest
    build_dom0
    echo "$KVER" > "$OUT/kernel.version"
    echo "$key" > "$OUT/key"
    ls -la "$OUT" >&2
    touch "$OUT/.complete"
    mv "$OUT" "$dir"; OUT=
    # Drop images of older keys (keep the debs cache and the other Xen's).
    local old
    for old in "$IMG_ROOT"/*/; do
        old=${old%/}
        case $old in "$dir"|"$IMG_ROOT/debs"|"$CACHE_ROOT"/xen-*) ;; *) rm -rf "$old" ;; esac
    done
    log "images built in $((SECONDS - t0)) s"
    echo "$dir"
}

main "$@"
