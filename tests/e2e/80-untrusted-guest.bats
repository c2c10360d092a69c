#!/usr/bin/env bats
# Issue 12 on real Xen: bytes a guest writes to its own disk are data,
# never a format.  A running guest (raw xvda served by qdisk) writes a
# qcow2 header naming a dom0 file as its backing file onto xvda (the test
# guest's xlsnap_guest_copy hook copies it there from xvdb).  An external
# snapshot of that raw disk is then exported, the domain reverted to it,
# and the snapshot deleted with the domain off: none of these may read or
# change the dom0 file (content, atime, no byte of it in the export), and
# the raw image survives unchanged.

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
    cat > "$G/ug1.cfg" <<CFG
name = "ug1"
type = "pv"
kernel = "$E2E_IMAGES/guest-vmlinuz"
ramdisk = "$E2E_IMAGES/guest-initrd"
extra = "console=hvc0 quiet xlsnap_guest_copy"
memory = $E2E_GUEST_MEM
vcpus = 1
disk = [ 'format=raw,vdev=xvda,access=rw,backendtype=qdisk,target=$G/xvda.img',
         'format=raw,vdev=xvdb,access=rw,backendtype=qdisk,target=$G/payload.img' ]
on_poweroff = "destroy"
on_reboot = "restart"
on_crash = "destroy"
CFG
    rm -f "$(e2e_guest_log ug1)"
    xl create "$G/ug1.cfg" > "$G/create.log" 2>&1 3>&- || { cat "$G/create.log"; false; }
    local deadline=$((SECONDS + E2E_GUEST_BOOT_TIMEOUT))
    until grep -aq 'guest ready' "$(e2e_guest_log ug1)" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || { tail -n 20 "$(e2e_guest_log ug1)"; false; }
        sleep 0.2
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

@test "with the domain off: the raw image and the dom0 file are untouched, check is clean" {
    gone ug1
    [ -f "$G/xvda.img" ]
    md5sum < "$G/xvda.img" > "$E2E_WORK/xvda-80.sum"
    run -1 xls create --disk-only -n s2 ug1
    e2e_log "$output"
    run -0 xls check
    assert_output "No problems found."
    [ "$(md5sum < "$G/xvda.img")" = "$(cat "$E2E_WORK/xvda-80.sum")" ]
    secret_untouched
}
