#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# create --quiesce on real Xen with a REAL qemu-guest-agent: the guest
# (tests/e2e/images/guest-init with "xlsnap_qga" on its command line and
# guest-qga-initrd appended, uncompressed, to its initramfs) runs Debian's
# qemu-ga on the PV channel /dev/hvc1 that the xl config's
#   channel = [ "name=xlsnap.placeholder,...",
#               "name=org.qemu.guest_agent.0,connection=socket,path=..." ]
# gives it (the placeholder: xl 4.17 makes no console of a first
# channel), and has an ext2 on a RAM disk mounted for it to freeze.  Its
# qemu-ga -v log comes on the guest console as "qga: ..." lines: each
# freeze and thaw is seen there.  The test has no client of its own on
# the channel: the only clients are xl-snapshot's (a new connection for
# each snapshot, so the second one shows the channel serves a next client).
# A guest without the channel gets a crash-consistent snapshot and a
# warning; the quiesced snapshot reverts.

load 'lib/e2e'
load 'lib/snap'

setup_file() {
    export XL_SNAPSHOT_DIR=$E2E_WORK/state-37
    mkdir -p /run/xen
}

teardown_file() {
    e2e_destroy_all
}

teardown() {
    on_failure_show qg1 qg2
}

QGA_SOCK=/run/xen/qga-qg1.sock

# keep_console NAME: the guest's whole console log in the results (why a
# boot failed)
keep_console() {
    cp "$(e2e_guest_log "$1")" "${E2E_SHARE:-/share}/results/37-console-$1.txt" 2>/dev/null || true
}

# qga_diag NAME: what the host knows of the guest's channel (xenstore, the
# device model serving it, the socket), in the results and in the log
qga_diag() {
    local id f=${E2E_SHARE:-/share}/results/37-diag-$1.txt
    id=$(xl domid "$1")
    {
        echo "== config"; tail -n 4 "$(e2e_guest_cfg "$1")"
        echo "== xl create"; cat "$(e2e_guest_dir "$1")/create.log"
        echo "== xl list -l"; xl list -l "$1" | jq -c '.[0].config | {channels, ramdisk: .b_info.ramdisk}' 2>&1
        echo "== frontend"; xenstore-ls -fp "/local/domain/$id/device/console" 2>&1
        echo "== backend"; xenstore-ls -fp "/local/domain/0/backend/console/$id" 2>&1
        echo "== libxl"; xenstore-ls -fp "/libxl/$id/device/console" 2>&1
        echo "== qemu"; ps -eo pid,args | grep -a "[q]emu.*-xen-domid $id "
        echo "== socket"; ls -l "$QGA_SOCK" 2>&1; grep -a "$QGA_SOCK" /proc/net/unix
        echo "== qemu-dm log"; tail -n 20 "/var/log/xen/qemu-dm-$1.log" 2>&1
    } > "$f" 2>&1 || true      # (a missing node is what it shows)
    while IFS= read -r l; do e2e_log "diag: $l"; done < <(fold -w 200 "$f" | head -n 80)
}

# qga_froze_thawed NAME MARK TIMEOUT: the guest's qemu-ga logged, after
# console line MARK, that it froze the file systems and then thawed them
# (its own warnings, on the console through its -v log: guest-init).
# This is the guest's side of a quiesce, seen without a client of our own
# on the channel (QEMU serves one client on it at a time).
qga_froze_thawed() {
    _wait_log "$1" "$2" "$3" "freeze and thaw logged by qemu-ga" '
        NR > m && /^qga: .*disabling logging due to filesystem freeze$/ { f = 1 }
        NR > m && f && /^qga: .*logging re-enabled due to filesystem unfreeze$/ { print "yes"; exit }'
}

# qga_sock_state: the channel socket's entries in /proc/net/unix (state 01:
# QEMU listening; 03: a connection QEMU still holds) and ss's view of them
qga_sock_state() {
    grep -a " $QGA_SOCK\$" /proc/net/unix | awk '{print "state " $6}' | tr '\n' ' '
    ss -xpa 2>/dev/null | grep -a -F "$QGA_SOCK " | tr -s ' ' | cut -c1-160 | tr '\n' '|'
}

@test "a guest with the agent channel: create --quiesce --disk-only freezes and thaws its file systems, records 'filesystem'; the guest ticks on" {
    local t0=$SECONDS
    # the guest's initramfs with qemu-ga appended (build-images.sh), and
    # room to unpack it (in an xl config the last ramdisk= wins).  Both
    # UNcompressed: Xen 4.17's domain builder gunzips a gzip ramdisk of
    # a PV guest itself, in one inflate() that stops at the end of the
    # first gzip member (tools/libs/guest/xg_dom_core.c,
    # xc_dom_build_module -> xc_dom_do_gunzip), so an appended second
    # .gz never reached the guest.
    zcat "$E2E_IMAGES/guest-initrd" "$E2E_IMAGES/guest-qga-initrd" > "$E2E_WORK/guest-qga-initrd"
    # Two channels: xl 4.17 gives the Nth channel devid N-1 (xl_parse.c
    # ARRAY_EXTEND_INIT instead of _NODEVID, fixed upstream in 2025), and
    # libxl refuses devid 0 for a channel ("Primary console has invalid
    # configuration"), silently: the first channel never gets its
    # device/console/N.  So a placeholder first, the agent's second
    # (devid 1: /local/domain/<id>/device/console/1, the guest's hvc1).
    # (its boot unpacks qemu-ga and loads brd and ext4: a longer limit)
    E2E_GUEST_EXTRA=xlsnap_qga E2E_GUEST_MEM=160 E2E_GUEST_BOOT_TIMEOUT=300 \
    E2E_GUEST_CFG="ramdisk = \"$E2E_WORK/guest-qga-initrd\"
channel = [ \"name=xlsnap.placeholder,connection=socket,path=$QGA_SOCK.0\", \"name=org.qemu.guest_agent.0,connection=socket,path=$QGA_SOCK\" ]" \
        e2e_start_guest qg1 pv 1 >/dev/null || { keep_console qg1; false; }
    e2e_log "qg1 booted in $((SECONDS - t0)) s"
    _wait_log qg1 0 60 qemu-ga '/^guest: (qemu-ga started on \/dev\/hvc1|no xen-console device)/ {print "yes"; exit}' ||
        { keep_console qg1; false; }
    e2e_log "$(tr -d '\r' < "$(e2e_guest_log qg1)" | grep -a -e '^guest: ' -e '^qga: ' | head -n 30 | cut -c1-200 | tr '\n' '|')"
    qga_diag qg1
    # the channel reached the guest (xenbus console-1, its hvc1) and
    # qemu-ga runs on it
    # (the console log has CRLF line ends: _complete_log strips them)
    _complete_log qg1 | grep -aq '^guest: qemu-ga started on /dev/hvc1$' || { keep_console qg1; false; }
    # the guest has something to freeze
    _complete_log qg1 | grep -aq '^guest: ext2 on /dev/ram0 mounted on /mnt/frz$' || { keep_console qg1; false; }
    # a quiesced snapshot: xl-snapshot's own client on the channel
    local mark
    mark=$(log_mark qg1)
    t0=$SECONDS
    run --separate-stderr xl-snapshot create --quiesce --disk-only -n q0 qg1
    e2e_log "create --quiesce in $((SECONDS - t0)) s: status $status: $output / stderr: $stderr"
    [ "$status" = 0 ] && [ -z "$stderr" ] || { keep_console qg1; false; }
    assert_output "Snapshot 'q0' of domain 'qg1' created (internal, disks only, file systems frozen (quiesced))."
    run -0 xls info --json qg1 q0
    [ "$(jq -r .consistency <<< "$output")" = filesystem ]
    # the guest's side: its qemu-ga froze, then thawed
    qga_froze_thawed qg1 "$mark" 30 >/dev/null || { keep_console qg1; false; }
    e2e_log "qga after q0: $(_complete_log qg1 | tail -n +$((mark + 1)) | grep -a '^qga: ' | cut -c1-120 | tr '\n' '|')"
    # xl-snapshot let go of the channel: QEMU listens on it again, with no
    # connection of ours left
    e2e_log "channel socket after the create: $(qga_sock_state)"
    # a memory snapshot is consistent by itself: --quiesce is refused
    run -1 xls create --quiesce -n qm qg1
    assert_output "xl-snapshot: cannot create snapshot 'qm': --quiesce applies to a disk-only snapshot (a snapshot with memory is consistent by itself): add --disk-only"
    # a second quiesced snapshot of the same guest (a new connection on the
    # channel, after the first one closed); the hooks see the order:
    # pre-hook, freeze, snapshot, thaw, post-hook.  Each hook writes how
    # many freezes and thaws the guest's agent has logged since MARK (the
    # post-hook waits a little for the thaw's line: the console lags).
    mark=$(log_mark qg1)
    cat > "$BATS_TEST_TMPDIR/h" <<H
#!/bin/bash
n() { tr -d '\r' < "$(e2e_guest_log qg1)" | tail -n +$((mark + 1)) | grep -ac "^qga: .*\$1\\$"; }
if [ "\$XL_SNAPSHOT_HOOK" = post ]; then
    for i in \$(seq 50); do [ "\$(n 'logging re-enabled due to filesystem unfreeze')" -ge 1 ] && break; sleep 0.1; done
fi
echo "\$XL_SNAPSHOT_HOOK \$(n 'disabling logging due to filesystem freeze') \$(n 'logging re-enabled due to filesystem unfreeze')" >> $BATS_TEST_TMPDIR/hooks
H
    chmod +x "$BATS_TEST_TMPDIR/h"
    t0=$SECONDS
    run --separate-stderr xl-snapshot create --quiesce --disk-only -n q1 --pre-hook "$BATS_TEST_TMPDIR/h" --post-hook "$BATS_TEST_TMPDIR/h" qg1
    e2e_log "second quiesced snapshot in $((SECONDS - t0)) s: status $status: $output / stderr: $stderr"
    e2e_log "channel socket after it: $(qga_sock_state)"
    [ "$status" = 0 ] && [ -z "$stderr" ] || { keep_console qg1; false; }
    assert_output "Snapshot 'q1' of domain 'qg1' created (internal, disks only, file systems frozen (quiesced))."
    run -0 cat "$BATS_TEST_TMPDIR/hooks"
    assert_line --index 0 'pre 0 0'
    assert_line --index 1 'post 1 1'
    run -0 xls info --json qg1 q1
    run -0 jq -r '"\(.consistency) \(.memory) \(.domstate)"' <<< "$output"
    assert_output "filesystem null running"
    run -0 xls info qg1 q1
    assert_line --regexp '^Consistency: +filesystem \(quiesced'
    qga_froze_thawed qg1 "$mark" 30 >/dev/null
    # the guest runs on: ticks continue after the snapshot
    t1=$(first_tick_after qg1 "$(log_mark qg1)" 30)
    t2=$(first_tick_after qg1 "$(log_mark qg1)" 30)
    [ "$t2" -gt "$t1" ]
    xl list qg1 | awk 'NR == 2 { print $5 }' | grep -qv p
}

@test "a paused guest cannot answer: --quiesce goes on crash-consistent with a warning" {
    xl pause qg1
    run -0 --separate-stderr xl-snapshot create --quiesce --disk-only -n qp qg1
    xl unpause qg1
    assert_output "Snapshot 'qp' of domain 'qg1' created (internal, disks only)."
    [ "$stderr" = "xl-snapshot: warning: snapshot 'qp' is only crash-consistent: the guest's file systems were not frozen: the domain is paused, so its guest agent cannot answer" ]
    run -0 xls info --json qg1 qp
    [ "$(jq -r .consistency <<< "$output")" = crash ]
}

@test "the quiesced snapshot reverts: the guest boots from its disk, with its agent" {
    xls info qg1 q1 >/dev/null 2>&1 || skip "no quiesced snapshot q1: the first test did not take it (see there)"
    d=$(snap_disk_counter "$(e2e_guest_disk qg1)" q1)
    mark=$(log_mark qg1)
    run -0 xls revert --force --running qg1 q1
    # (the guest unpacks qemu-ga and loads brd and ext4: generous limits
    # for a loaded CI host)
    b=$(boot_counter_after qg1 "$mark" 240)
    e2e_log "snapshot q1 disk counter $d, guest booted with $b"
    [ "$b" -eq "$d" ]
    _wait_log qg1 "$mark" 120 qemu-ga 'NR > m && /^guest: qemu-ga started on \/dev\/hvc1$/ {print "yes"; exit}'
    # the reverted guest (a new device model, a new channel) is quiesced
    # again: its agent froze and thawed
    mark=$(log_mark qg1)
    run -0 --separate-stderr xl-snapshot create --quiesce --disk-only -n q2 qg1
    assert_output "Snapshot 'q2' of domain 'qg1' created (internal, disks only, file systems frozen (quiesced))."
    [ -z "$stderr" ]
    qga_froze_thawed qg1 "$mark" 30 >/dev/null
}

@test "a guest without the channel: --quiesce takes the snapshot crash-consistent, with a warning; the guest ticks on" {
    local t0=$SECONDS
    xl destroy qg1 2>/dev/null || true     # (done with it: a lighter host)
    e2e_start_guest qg2 pv 1 >/dev/null || { keep_console qg2; false; }
    e2e_log "qg2 booted in $((SECONDS - t0)) s"
    mark=$(log_mark qg2)
    run -0 --separate-stderr xl-snapshot create --quiesce --disk-only -n c1 qg2
    assert_output "Snapshot 'c1' of domain 'qg2' created (internal, disks only, crash-consistent)."
    [ "$stderr" = "xl-snapshot: warning: snapshot 'c1' is only crash-consistent: the guest's file systems were not frozen: the domain has no channel named org.qemu.guest_agent.0 with a socket connection" ] ||
        fail "stderr: $stderr"
    run -0 xls info --json qg2 c1
    [ "$(jq -r .consistency <<< "$output")" = crash ]
    run -0 xls info qg2 c1
    assert_line --regexp '^Consistency: +crash \(quiesce asked'
    # without --quiesce no consistency is recorded (as before)
    run -0 xls create --disk-only -n plain qg2
    run -0 xls info --json qg2 plain
    [ "$(jq -r 'has("consistency")' <<< "$output")" = false ]
    t1=$(first_tick_after qg2 "$mark" 30)
    t2=$(first_tick_after qg2 "$(log_mark qg2)" 30)
    [ "$t2" -gt "$t1" ]
}

# this file's helpers without bats' DEBUG trap (lib/e2e.bash)
e2e_untrace_helpers
