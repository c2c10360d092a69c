#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""list-bench.py XL_SNAPSHOT OUT.csv [RUNS]: wall and CPU time of `list`
and `list --json` over 100 / 1,000 / 10,000 generated records (on the
host: no hypervisor needed).  The first list after the records appear
builds the index ("cold"); the median of RUNS later ones is reported."""
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

xs, out = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 7
here = os.path.dirname(os.path.abspath(__file__))
uuid = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


def timed(args, env):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu


rows = []
with tempfile.TemporaryDirectory() as tmp:
    for n in (100, 1000, 10000):
        state = os.path.join(tmp, "s%d" % n)
        subprocess.run([sys.executable, os.path.join(here, "gen-records.py"),
                        state, str(n), uuid], check=True)
        env = dict(os.environ, XL_SNAPSHOT_DIR=state)
        for label, extra in (("list", []), ("list-json", ["--json"])):
            cmd = [xs, "list"] + extra + [uuid]
            cold = timed(cmd, env)
            w, c = zip(*(timed(cmd, env) for _ in range(runs)))
            rows.append(("host", "%s.%d.cold.wall" % (label, n), "%.4f" % cold[0], "s"))
            rows.append(("host", "%s.%d.wall" % (label, n), "%.4f" % statistics.median(w), "s"))
            rows.append(("host", "%s.%d.cpu" % (label, n), "%.4f" % statistics.median(c), "s"))
            print("%-10s %6d records: median wall %7.1f ms, cpu %7.1f ms (first %7.1f ms)"
                  % (label, n, 1000 * statistics.median(w),
                     1000 * statistics.median(c), 1000 * cold[0]), file=sys.stderr)
with open(out, "w") as f:
    f.write("guest,metric,value,unit\n")
    for r in rows:
        f.write(",".join(r) + "\n")
