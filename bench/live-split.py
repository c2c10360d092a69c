#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""live-split.py LIVE.TXT: bench/live-split.sh's log, per live snapshot:
the guest's largest tick gap and, from dom0's stamped libxl/libxc lines,
the suspend handshake (request on the XenBus control node -> guest has
suspended), libxc's last round (domain suspended -> end of stream), the
tool's own part before the resume (save helper done -> resume called:
the disk transaction and its bookkeeping), the resume, and request ->
resumed in all."""
import re
import sys

KEYS = (("req", "issuing PVH/HVM suspend request"),
        ("susp", "guest has suspended"), ("xcsusp", "Domain now suspended"),
        ("eos", "End of stream"), ("helper", "save-helper: debug: complete"))
reps, cur = [], None
for line in open(sys.argv[1], errors="replace"):
    if line.startswith("=== rep") and "start" in line:
        cur = {}
        reps.append(cur)
        continue
    if line.startswith("=== gap") and cur is not None:
        cur["gap"] = float(line.split()[2])
        continue
    m = re.match(r"(\d+\.\d+) (.*)", line)
    if not m or cur is None:
        continue
    t, s = float(m.group(1)), m.group(2)
    for k, pat in KEYS:
        if pat in s:
            cur.setdefault(k, t)
    if "libxl_domain_resume" in s:
        cur.setdefault("r0" if "create" in s else "r1", t)
    m = re.search(r"Frames iteration (\d+): (\d+)/(\d+)\s+100%", s)
    if m:
        cur["last"] = int(m.group(3))
for i, c in enumerate(reps, 1):
    try:
        print("rep %d: gap %.3f s; handshake %.3f, last round %d pages "
              "%.3f, tool before resume %.3f, resume %.3f, request -> "
              "resumed %.3f" % (i, c["gap"], c["susp"] - c["req"],
                                c.get("last", -1), c["eos"] - c["xcsusp"],
                                c["r0"] - c["helper"], c["r1"] - c["r0"],
                                c["r1"] - c["req"]))
    except KeyError as e:
        print("rep %d: missing %s" % (i, e))
