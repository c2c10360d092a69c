#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""lookup-bench.py OUT.csv NAME=XL_SNAPSHOT... [RUNS]: issue 20's list,
info and lookup rows on the host (no hypervisor), for one or more
binaries (e.g. before=/tmp/xl-snapshot.old now=build/xl-snapshot) run on
the SAME generated state, pairs interleaved (before, now, before, now...),
medians reported, with the load average at the start and the end.

States (bench/gen-records.py, records as the store writes them):
  one:  10,000 snapshots of one domain (a chain, the last current)
  many: 1,000 domains x 10 snapshots, each domain its own name

Rows (wall and CPU time of the process, peak RSS; medians):
  list / list --json / list --tree / info (text) / name lookup, 10,000;
  list after one record changed behind the index's back (10,000);
  list by name, info by name, list --domains (1,000 x 10);
  list --json peak RSS at 1,000 and 10,000 (independent of the count?).
BENCH_CASES=list-json,info,... runs only those rows.
Every binary first lists each state once, so the index is built (the
"first list" cost is list-bench.py's).  Each binary has its own copy of
the states (hard links to the same records, `cp -al`): binaries whose
index formats differ would otherwise rebuild each other's index on
every run."""
import os
import runpy
import statistics
import subprocess
import sys
import tempfile
import time

out = sys.argv[1]
bins = [a.split("=", 1) for a in sys.argv[2:] if "=" in a]
rest = [a for a in sys.argv[2:] if "=" not in a]
runs = int(rest[0]) if rest else 7
here = os.path.dirname(os.path.abspath(__file__))
U1 = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


def gen(state, n, uuid, name):
    argv = sys.argv
    sys.argv = ["gen-records.py", state, str(n), uuid, name]
    try:
        runpy.run_path(os.path.join(here, "gen-records.py"))
    finally:
        sys.argv = argv


def run(args, env):
    """wall seconds, CPU seconds (user + sys), peak RSS in KiB of one run"""
    t0 = time.perf_counter()
    p = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("lookup-bench: %s failed" % " ".join(args))
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


rows = []
print("# lookup-bench: load at start %s" % load(), file=sys.stderr)
with tempfile.TemporaryDirectory() as tmp:
    one = os.path.join(tmp, "one")
    many = os.path.join(tmp, "many")
    small = os.path.join(tmp, "small")
    gen(one, 10000, U1, "guest1")
    gen(small, 1000, U1, "guest1")
    for d in range(1000):
        gen(many, 10, "6ba7b810-9dad-11d1-80b4-%012x" % d, "dom%04d" % d)
    # per binary: its own directories, the same record files
    envs_of = {}
    for k, (name, _) in enumerate(bins):
        d = {}
        for st in (one, many, small):
            t = st if k == 0 else "%s.%d" % (st, k)
            if k:
                subprocess.run(["cp", "-al", st, t], check=True)
            d[st] = dict(os.environ, XL_SNAPSHOT_DIR=t)
        envs_of[name] = d
    env1, envm, envs = one, many, small     # keys of envs_of[name]
    rec = os.path.join(one, U1, "snap05000", "record.json")
    touch = {"n": 0}

    def change_one():
        # a record rewritten behind the index's back: new mtime
        touch["n"] += 1
        st = os.stat(rec)
        os.utime(rec, ns=(st.st_atime_ns, st.st_mtime_ns + 1000 * touch["n"]))

    cases = [
        ("list.10000", env1, ["list", U1], None),
        ("list-json.10000", env1, ["list", "--json", U1], None),
        ("list-json.1000", envs, ["list", "--json", U1], None),
        ("list-tree.10000", env1, ["list", "--tree", U1], None),
        ("info.10000", env1, ["info", U1, "snap05000"], None),
        ("list-byname.10000", env1, ["list", "guest1"], None),
        ("list-after-change.10000", env1, ["list", U1], change_one),
        ("list-byname.1000x10", envm, ["list", "dom0500"], None),
        ("info-byname.1000x10", envm, ["info", "dom0500", "snap00005"], None),
        ("list-domains.1000x10", envm, ["list", "--domains"], None),
    ]
    for name, path in bins:             # the indexes built
        e = envs_of[name]
        for env in (env1, envm, envs):
            run([path, "list", "--domains"], e[env])
        run([path, "list", U1], e[env1])
        run([path, "list", U1], e[envs])
    only = os.environ.get("BENCH_CASES")      # e.g. "list-json,info"
    if only:
        cases = [c for c in cases
                 if c[0].split(".")[0] in only.split(",")]
    for label, env, args, before in cases:
        res = {name: ([], [], []) for name, _ in bins}
        for _ in range(runs):
            for name, path in bins:     # paired: one of each in turn
                if before:
                    before()
                for k, x in enumerate(run([path] + args,
                                          envs_of[name][env])):
                    res[name][k].append(x)
        for name, _ in bins:
            w, c, m = (statistics.median(x) for x in res[name])
            rows.append((name, label + ".wall", "%.4f" % w, "s"))
            rows.append((name, label + ".cpu", "%.4f" % c, "s"))
            rows.append((name, label + ".maxrss", "%d" % m, "KiB"))
            print("%-6s %-26s median wall %8.1f ms  cpu %7.1f ms  peak RSS "
                  "%6.1f MiB" % (name, label, 1000 * w, 1000 * c, m / 1024),
                  file=sys.stderr)
print("# lookup-bench: load at end %s" % load(), file=sys.stderr)
with open(out, "w") as f:
    f.write("binary,metric,value,unit\n")
    for r in rows:
        f.write(",".join(r) + "\n")
