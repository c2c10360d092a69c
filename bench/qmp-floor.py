#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""qmp-floor.py DOMID UUID NODE NAME: the disk-only downtime floor of the
benchmark: the least a script can do for a consistent disk snapshot of a
running guest.  Everything that can be ready before the pause is: libxl's
QMP lock taken, the socket connected, capabilities negotiated, the
transaction built.  Then `xl pause`, one QMP `transaction`
(blockdev-snapshot-internal-sync of NODE), `xl unpause`.  Prints the
script's own pause window ("pause S": from just before `xl pause` to
`xl unpause` returning).  The snapshot is deleted again after the unpause.
(The lock is held across xl pause/unpause: fine for PV and PVH guests,
whose pause does not talk to QEMU; the bench has no HVM guest.)"""
import fcntl
import json
import socket
import subprocess
import sys
import time

domid, uuid, node, name = sys.argv[1:5]
lock = open("/var/lib/xen/userdata-l.%s.%s.qmp-socket-lock" % (domid, uuid), "a")
fcntl.flock(lock, fcntl.LOCK_EX)
s = socket.socket(socket.AF_UNIX)
s.connect("/var/run/xen/qmp-libxl-%s" % domid)
f = s.makefile("rw")


def cmd(c, **args):
    f.write(json.dumps({"execute": c, "arguments": args}) + "\n")
    f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r:
            return r["return"]
        if "error" in r:
            sys.exit("qmp: %s: %s" % (c, r["error"]["desc"]))


json.loads(f.readline())  # greeting
cmd("qmp_capabilities")
act = [{"type": "blockdev-snapshot-internal-sync",
        "data": {"device": node, "name": name}}]
t0 = time.monotonic()
subprocess.run(["xl", "pause", domid], check=True)
try:
    cmd("transaction", actions=act)
finally:
    subprocess.run(["xl", "unpause", domid], check=True)
print("pause %.3f" % (time.monotonic() - t0))
cmd("blockdev-snapshot-delete-internal-sync", device=node, name=name)
