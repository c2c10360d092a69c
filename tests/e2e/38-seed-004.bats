#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# xl's original snapshot design (seed 004, "snapshot" by Bamvor Jian Zhang
# and Chunyan Liu) on real Xen: its command lines and config files run
# verbatim, with xl-snapshot in place of xl and the domain's UUID in place
# of <domain_uuid>, on a running PV guest named your_domain whose disks
# are hda and hdc (the seed's names).  The state is the default
# /var/lib/xen/snapshots/<domain_uuid>/, where the seed's external config
# puts the snapshot's data; the guest's images live on that file system
# (a path on another one is refused: tests/bats/07-seed-forms.bats), a
# tmpfs mounted on /var/lib/xen for this file.

E2E_WORK=/var/lib/xen/e2e-seed
load 'lib/e2e'
load 'lib/snap'

setup_file() {
    unset XL_SNAPSHOT_DIR
    export E2E_VDEVS="hda hdc"
    # dom0's root file system is a small RAM disk: /var/lib/xen gets a
    # tmpfs of its own (as /tmp has), holding the default state dir and
    # the guest's images, one file system as the seed's paths need
    if ! mountpoint -q /var/lib/xen; then
        mkdir -p /var/lib/xen
        mount -t tmpfs -o mode=0755,size=400m tmpfs /var/lib/xen
        touch "$BATS_FILE_TMPDIR/mounted"
    fi
    mkdir -p "$E2E_WORK"
}

teardown_file() {
    e2e_destroy_all
    local u
    for u in $(cat "$E2E_WORK/uuid" 2>/dev/null); do rm -rf "/var/lib/xen/snapshots/$u"; done
    rm -rf "$E2E_WORK"
    # (lazily if a dying xl or QEMU still holds it)
    [ ! -e "$BATS_FILE_TMPDIR/mounted" ] || umount /var/lib/xen || umount -l /var/lib/xen
}

setup() { cd "$E2E_WORK"; }

teardown() {
    on_failure_show your_domain
}

@test "seed 1: the four ways to create a snapshot, on a running guest" {
    e2e_start_guest your_domain pv 2 >/dev/null
    uuid=$(uuid_of your_domain)
    echo "$uuid" > "$E2E_WORK/uuid"
    # 1), a default name (epoch seconds); 2), a given name
    run -0 xl-snapshot snapshot-create your_domain
    assert_output --regexp "^Snapshot '[0-9]{10}' of domain 'your_domain' created \(internal, with memory\)\.$"
    first=$(xl-snapshot list --names your_domain)
    run -0 xl-snapshot snapshot-create -n domain_snapshot_name your_domain
    assert_output "Snapshot 'domain_snapshot_name' of domain 'your_domain' created (internal, with memory)."
    # (dom0 keeps memory images in RAM: one less)
    run -0 xl-snapshot delete your_domain "$first"
    # 3), an internal disk snapshot by config file: no memory
    cat > snapshot_internal <<'CFG'
name = "internal_snapshot_after_installation"
description="a snapshot after OS installation. internal snapshot example"
creationtime="1397207580"
type="internal"
CFG
    run -0 xl-snapshot snapshot-create your_domain snapshot_internal
    assert_output "Snapshot 'internal_snapshot_after_installation' of domain 'your_domain' created (internal, disks only, crash-consistent)."
    # 4), an external snapshot, with memory, into the state directory
    cat > snapshot_external <<'CFG'
name = "1397207577"
description="a snapshot after OS installation. external snapshot example"
creationtime="1397207577"
memory="yes"
disk=[ 'hda=/var/lib/xen/snapshots/<domain_uuid>/disk_hda.qcow2,type=qcow2', 'hdc=/var/lib/xen/snapshots/<domain_uuid>/disk_hdc.qcow2,type=qcow2']
CFG
    sed -i "s/<domain_uuid>/$uuid/g" snapshot_external
    run -0 xl-snapshot snapshot-create your_domain snapshot_external
    assert_output "Snapshot '1397207577' of domain 'your_domain' created (external, with memory)."
    for v in hda hdc; do
        run -0 qemu-img info -U -f qcow2 "/var/lib/xen/snapshots/$uuid/disk_$v.qcow2"
        [ "$(active_disk your_domain $v)" = "$(e2e_guest_disk your_domain $v)" ]
    done
    # the guest ran on through all four
    mark=$(log_mark your_domain)
    first_tick_after your_domain "$mark" 30 >/dev/null
}

@test "seed 2: the three list forms" {
    run -0 xl-snapshot snapshot-list your_domain
    assert_line --index 0 --regexp '^  NAME +CREATED +STATE +DOMAIN +TYPE +MEMORY +PARENT$'
    assert_line --regexp '^  domain_snapshot_name +.* ready +running +internal +yes +-$'
    assert_line --regexp '^  internal_snapshot_after_installation +.* ready +running +internal +no +domain_snapshot_name$'
    assert_line --regexp '^\* 1397207577 +.* ready +running +external +yes +internal_snapshot_after_installation$'
    run -0 xl-snapshot snapshot-list -l your_domain domain_snapshot_name
    assert_line --index 1 --regexp '^  domain_snapshot_name '
    assert_line --regexp "^    disk hda: qcow2 internal snapshot 'domain_snapshot_name' in "
    refute_output --partial 1397207577
    run -0 xl-snapshot snapshot-list -l your_domain
    assert_line --regexp "^    disk hdc: qcow2 internal snapshot 'internal_snapshot_after_installation' in "
    assert_output --partial "description: a snapshot after OS installation. external snapshot example"
}

@test "seed 4 and 3: revert -n (disks and memory) of the stopped domain, then delete -n" {
    uuid=$(cat "$E2E_WORK/uuid")
    xl destroy your_domain
    mark=$(log_mark your_domain)
    run -0 xl-snapshot snapshot-revert -n domain_snapshot_name your_domain
    # the memory image resumes the guest where it was: it ticks on
    first_tick_after your_domain "$mark" 60 >/dev/null
    run -0 xl-snapshot current your_domain
    assert_output domain_snapshot_name
    run -0 xl-snapshot snapshot-delete -n domain_snapshot_name your_domain
    run -0 xl-snapshot list --names your_domain
    refute_output --partial domain_snapshot_name
    for f in /var/lib/xen/snapshots/$uuid/disk_hda.qcow2 "$(active_disk your_domain hda)"; do
        [ "$(image_snapshots "$f" | grep -c '^domain_snapshot_name$')" = 0 ]
    done
    [ ! -e "/var/lib/xen/snapshots/$uuid/domain_snapshot_name" ]
    mark=$(log_mark your_domain)
    first_tick_after your_domain "$mark" 30 >/dev/null
}
