#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""qmp-floor.py DOMID UUID NODE NAME [xc]: the disk-only downtime floor of the
benchmark: the least a script can do for a consistent disk snapshot of a
running guest.  Everything that can be ready before the pause is: libxl's
QMP lock taken, the socket connected, capabilities negotiated, the
transaction built.  Then `xl pause`, one QMP `transaction`
(blockdev-snapshot-internal-sync of NODE), `xl unpause`.  Prints the
script's own pause window ("pause S": from just before `xl pause` to
`xl unpause` returning).  The snapshot is deleted again after the unpause.
With "xc" the pause and unpause are libxenctrl's hypercalls made from this
process (xc_domain_pause / xc_domain_unpause, through ctypes): no xl
process starts inside the pause, the hard floor of a PV or PVH guest.
(The lock is held across xl pause/unpause: fine for PV and PVH guests,
whose pause does not talk to QEMU; the bench has no HVM guest.)"""
import fcntl
import json
import socket
import subprocess
import sys
import time

domid, uuid, node, name = sys.argv[1:5]
xc = len(sys.argv) > 5 and sys.argv[5] == "xc"
if xc:
    import ctypes
    lib = ctypes.CDLL("libxenctrl.so.4.17")
    lib.xc_interface_open.restype = ctypes.c_void_p
    h = ctypes.c_void_p(lib.xc_interface_open(None, None, 0))
    if not h:
        sys.exit("xc_interface_open failed")

    def pause():
        if lib.xc_domain_pause(h, int(domid)):
            sys.exit("xc_domain_pause failed")

    def unpause():
        if lib.xc_domain_unpause(h, int(domid)):
            sys.exit("xc_domain_unpause failed")
else:
    def pause():
        subprocess.run(["xl", "pause", domid], check=True)

    def unpause():
        subprocess.run(["xl", "unpause", domid], check=True)
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
pause()
try:
    cmd("transaction", actions=act)
finally:
    unpause()
print("pause %.3f" % (time.monotonic() - t0))
cmd("blockdev-snapshot-delete-internal-sync", device=node, name=name)
