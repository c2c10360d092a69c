#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""qmp-snapshot.py DOMID UUID NODE NAME: the hand-written disk snapshot
of the benchmark's baseline: blockdev-snapshot-internal-sync on libxl's
QMP socket, under libxl's QMP lock (what a careful admin would script)."""
import fcntl
import json
import socket
import sys

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
cmd("blockdev-snapshot-internal-sync", device=node, name=name)
