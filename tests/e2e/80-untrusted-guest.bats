#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# Issue 12 on real Xen: bytes a guest writes to its own disk are data,
# never a format.  A running guest writes a qcow2 header naming a dom0
# file as its backing file onto its raw xvda, served by qdisk (the test
# guest's xlsnap_guest_copy hook copies it there from xvdb).  Its third
# disk, xvdc, is qcow2.
#
# A snapshot of the raw disk itself is refused (the active layer stays at
# the configured path, issue 13, so a raw disk cannot take one): the
# refusal must not probe it.  Snapshots of xvdc alone (a snapshot config
# naming only xvdc, the raw disks left out) are then created, exported,
# reverted to and deleted with the domain running and with it off: none of
# these may read or change the dom0 file (content, atime, no byte of it
# in the export), the raw image survives unchanged, and every revert gives
# xvdc's exact data.

load 'lib/e2e'
load 'lib/snap'

MARK=DOM0-SECRET-80-untrusted

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-80
    export G=$E2E_WORK/guests/ug1 SECRET=$E2E_WORK/secret-80
    mkdir -p "$G"
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show ug1
}

# gone NAME: the domain is destroyed and gone, whatever state it was in
# (xl destroy of a domain that is already going may fail: wait instead)
gone() {
    local i
    for i in 1 2 3; do
        [ "$(e2e_domain_state "$1")" = gone ] && return 0
        xl destroy "$1" >/dev/null 2>&1 3>&- || true
        e2e_wait_domain_state "$1" gone 30 && return 0
    done
    e2e_domain_state "$1"
    return 1
}

# the dom0 file is as it was: never read (its atime was set before its
# mtime, so under relatime any read moves it), never changed (mtime,
# ctime, size).  Checked without reading it.
secret_untouched() {
    local now
    now=$(stat -c '%X %Y %Z %s' "$SECRET")
    [ "$now" = "$(cat "$E2E_WORK/secret-80.times")" ] ||
        { echo "secret: atime mtime ctime size $now, were $(cat "$E2E_WORK/secret-80.times")" >&2; return 1; }
}

@test "a guest writes a qcow2 header naming a dom0 file onto its raw disk" {
    python3 -c 'import sys; open(sys.argv[1], "w").write((sys.argv[2] + "\n") * 20000)' "$SECRET" "$MARK"
    # the payload: a qcow2 v2 header (it fits in sector 0; the guest
    # writes its counter into sector 1) whose backing file is the secret
    qemu-img create -q -f qcow2 -o compat=0.10 -u -b "$SECRET" -F raw "$G/payload.img" 16M
    truncate -s 16M "$G/payload.img"
    truncate -s 16M "$G/xvda.img"
    qemu-img create -q -f qcow2 "$G/xvdc.qcow2" 16M
    cat > "$G/ug1.cfg" <<CFG
name = "ug1"
type = "pv"
kernel = "$(e2e_guest_kernel)"
ramdisk = "$E2E_IMAGES/guest-initrd"
extra = "console=hvc0 quiet xlsnap_guest_copy"
memory = $E2E_GUEST_MEM
vcpus = 1
disk = [ 'format=raw,vdev=xvda,access=rw,backendtype=qdisk,target=$G/xvda.img',
         'format=raw,vdev=xvdb,access=rw,backendtype=qdisk,target=$G/payload.img',
         'format=qcow2,vdev=xvdc,access=rw,backendtype=qdisk,target=$G/xvdc.qcow2' ]
on_poweroff = "destroy"
on_reboot = "restart"
on_crash = "destroy"
CFG
    rm -f "$(e2e_guest_log ug1)"
    xl create "$G/ug1.cfg" > "$G/create.log" 2>&1 3>&- || { cat "$G/create.log"; false; }
    local deadline=$((SECONDS + E2E_GUEST_BOOT_TIMEOUT))
    until grep -aq 'guest ready' "$(e2e_guest_log ug1)" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || { tail -n 20 "$(e2e_guest_log ug1)"; false; }
        e2e_sleep 0.2
    done
    run -0 grep -a 'guest copied xvdb to xvda' "$(e2e_guest_log ug1)"
    e2e_wait_counter_above ug1 10 >/dev/null
    # what a format prober would see in the raw disk now
    run -0 qemu-img info -U -f qcow2 --output=json "$G/xvda.img"
    assert_output --partial "\"backing-filename\": \"$SECRET\""
    touch -a -d '2001-01-01 00:00:00' "$SECRET"
    stat -c '%X %Y %Z %s' "$SECRET" > "$E2E_WORK/secret-80.times"
}

@test "a snapshot of the running guest's raw disk is refused, and nothing reads the dom0 file" {
    # raw disks cannot take snapshots since the active layer stays at the
    # configured path (issue 13): the refusal must not probe the disk
    run -1 xls create --external --disk-only -n s1 ug1
    e2e_log "$output"
    assert_output --partial "raw"
    run -0 xls list --names ug1
    assert_output ""
    secret_untouched
    runs_on ug1
}

# no_secret DIR: no byte of the dom0 file in any file of an export
no_secret() {
    run grep -rlaF "$MARK" "$1"
    [ "$status" -eq 1 ] || { echo "the dom0 file's bytes are in: $output" >&2; return 1; }
}

# xvdc_counter: the counter in the running (or stopped) domain's xvdc
xvdc_counter() { e2e_disk_counter "$G/xvdc.qcow2"; }

@test "running: a snapshot of the qcow2 disk alone is created, exported and reverted to; the dom0 file is never read" {
    printf '%s\n' 'name = "c1"' 'type = "internal"' \
        "disk = [ 'vdev=xvdc,target=null' ]" > "$G/only-xvdc.cfg"
    e2e_wait_counter_above ug1 $(( $(e2e_guest_counter ug1) + 5 )) >/dev/null
    run -0 xls create --disk-only ug1 "$G/only-xvdc.cfg"
    run -0 xls info --json ug1 c1
    [ "$(jq -r '[.disks[].vdev] | join(",")' <<<"$output")" = xvdc ]
    c1=$(snap_disk_counter "$G/xvdc.qcow2" c1)
    sum=$(snap_sum "$G/xvdc.qcow2" c1)
    e2e_log "c1: xvdc counter $c1"
    run -0 xls export ug1 c1 "$E2E_WORK/bundle-80-c1"
    no_secret "$E2E_WORK/bundle-80-c1"
    # the bundle holds xvdc only, with the snapshot's data
    run -0 ls "$E2E_WORK/bundle-80-c1"
    refute_output --partial xvda
    [ "$(image_sum "$E2E_WORK/bundle-80-c1/disk-xvdc.qcow2")" = "$sum" ]
    e2e_wait_counter_above ug1 $((c1 + 20)) >/dev/null
    mark=$(log_mark ug1)
    run -0 xls revert --force --running ug1 c1
    run -0 boot_counter_after ug1 "$mark"
    # the guest printed what it found on each disk before writing to it
    booted=$(tail -n +$((mark + 1)) "$(e2e_guest_log ug1)" | tr -d '\r' |
             sed -n 's/^boot disk xvdc \([0-9]*\)$/\1/p' | head -n 1)
    e2e_log "reverted to c1 (xvdc $c1): booted with xvdc $booted"
    [ "$booted" = "$c1" ]
    [ "$(snap_sum "$G/xvdc.qcow2" c1)" = "$sum" ]
    secret_untouched
    runs_on ug1
    run -0 xls check
    assert_output "No problems found."
    secret_untouched
}

@test "off: an external snapshot of the qcow2 disk alone, exported, reverted, deleted; raw image and dom0 file untouched" {
    gone ug1
    [ -f "$G/xvda.img" ]
    md5sum < "$G/xvda.img" > "$E2E_WORK/xvda-80.sum"
    run -1 xls create --disk-only -n s2 ug1
    e2e_log "$output"
    run -0 xls delete ug1 c1
    printf '%s\n' 'name = "x1"' 'type = "external"' \
        "disk = [ 'vdev=xvdc,target=null' ]" > "$G/only-xvdc-ext.cfg"
    e2e_write_disk_counter "$G/xvdc.qcow2" 4242
    # no history left and the domain off: its xl config file names it
    run -0 xls create -c "$G/ug1.cfg" "$G/only-xvdc-ext.cfg"
    run -0 xls info --json ug1 x1
    [ "$(jq -r '[.disks[].vdev] | join(",")' <<<"$output")" = xvdc ]
    frozen=$(jq -r '.disks[0].backing' <<<"$output")
    [ "$(jq -r '.disks[0].image' <<<"$output")" = "$G/xvdc.qcow2" ]
    e2e_write_disk_counter "$G/xvdc.qcow2" 4343
    run -0 xls export ug1 x1 "$E2E_WORK/bundle-80-x1"
    no_secret "$E2E_WORK/bundle-80-x1"
    run -0 xls revert --force ug1 x1
    [ "$(e2e_disk_counter "$G/xvdc.qcow2")" = 4242 ]
    [ "$(e2e_disk_counter "$frozen")" = 4242 ]
    run -0 xls delete ug1 x1
    [ "$(e2e_disk_counter "$G/xvdc.qcow2")" = 4242 ]
    run -0 xls list --names -c "$G/ug1.cfg"
    assert_output ""
    run -0 xls check
    assert_output "No problems found."
    # the raw image, the guest's qcow2 header in it, byte for byte
    [ "$(md5sum < "$G/xvda.img")" = "$(cat "$E2E_WORK/xvda-80.sum")" ]
    [ -f "$G/payload.img" ]
    secret_untouched
}

# this file's helpers without bats' DEBUG trap (lib/e2e.bash)
e2e_untrace_helpers
