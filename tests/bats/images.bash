# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-only
# images.bash: a stopped domain g1 with one qcow2 disk and a chain of
# internal snapshots of it, for the export/import and verification files
# (load helpers first).

# setup_images: g1 with one empty 8 MiB disk (domain_one_disk)
setup_images() { domain_one_disk 8; }

# fill IMG OFFSET PATTERN: 1 MiB of PATTERN at OFFSET (MiB)
fill() { qemu-io -f qcow2 -c "write -q -P $3 ${2}M 1M" "$1"; }
# sum FILE: md5 of the guest-visible content of a qcow2 chain
sum() { qemu-img convert -f qcow2 -O raw "$1" "$BATS_TEST_TMPDIR/sum.raw" && md5sum < "$BATS_TEST_TMPDIR/sum.raw" | cut -d' ' -f1; }
snapsum() { qemu-img convert -f qcow2 -l "snapshot.name=$2" -O raw "$1" "$BATS_TEST_TMPDIR/sum.raw" && md5sum < "$BATS_TEST_TMPDIR/sum.raw" | cut -d' ' -f1; }

# mkchain3: setup_images, then s1, s2, s3, each after 1 MiB of its own
# pattern (0x11 at 0, 0x22 at 2M, 0x33 at 4M), then 0x44 at 6M live
mkchain3() {
    setup_images
    fill "$IMG" 0 0x11
    xs create -n s1 g1
    fill "$IMG" 2 0x22
    xs create -n s2 g1
    fill "$IMG" 4 0x33
    xs create -n s3 g1
    fill "$IMG" 6 0x44
}
