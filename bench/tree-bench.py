#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""tree-bench.py XL_SNAPSHOT [N] [TIMEOUT]: the snapshot tree on the host
(no hypervisor needed), with the real binary, on offline histories made
by gen-records.py:

  - `xl-snapshot delete` of the leaf of an N-long chain (default 10,000),
    on a store whose list index a `list` built (as any store has after
    its first list or delete), and on one without an index (the first
    command after the records appear: every record is read once);
  - `xl-snapshot list --tree` of an N-wide fan (one root, N children).

Wall time is shown with the median CPU time (user + sys) of the
command: on a loaded host the wall time is mostly waiting.

Each is set against what a user would otherwise run over the same
records: `cat` of every record (delete reads them all) and `ls -l` of
the domain directory (list checks its index against that).  A command
running longer than TIMEOUT seconds (default 120) is stopped and shown
as "> TIMEOUT".  Prints one line per measurement; not a test."""
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

xs = os.path.abspath(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 120.0
here = os.path.dirname(os.path.abspath(__file__))
uuid = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


cpu = {}


def timed(args, env, shell=False):
    """Wall seconds of one run (None: stopped at the timeout); its CPU
    seconds (user + sys) go to cpu[the command's first word]."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        subprocess.run(args, env=env, check=True, shell=shell,
                       stdout=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    key = args.split()[0] if shell else " ".join(args[1:3])
    cpu.setdefault(key, []).append(r1.ru_utime - r0.ru_utime +
                                   r1.ru_stime - r0.ru_stime)
    return wall


def show(what, secs, base, base_what, key=None):
    """key: the cpu[] entry whose median CPU time is shown (and reset)."""
    c = cpu.pop(key, None) if key else None
    if secs is None:
        print("%-34s > %.0f s (stopped)" % (what, timeout))
    else:
        print("%-34s %8.3f s  (%5.1f x %s: %.3f s)%s"
              % (what, secs, secs / base, base_what, base,
                 "  cpu %.3f s" % statistics.median(c) if c else ""))
    sys.stdout.flush()


def history(state, fan):
    subprocess.run([sys.executable, os.path.join(here, "gen-records.py"),
                    state, str(n), uuid], check=True)
    if not fan:
        return
    # every snapshot a child of the first, the first one current
    for i in range(n):
        p = os.path.join(state, uuid, "snap%05d" % i, "record.json")
        with open(p) as f:
            text = f.read()
        text = re.sub(r'"parent": "snap\d+"', '"parent": "snap00000"', text)
        text = text.replace('"current": true', '"current": false')
        if i == 0:
            text = text.replace('"current": false', '"current": true')
        with open(p, "w") as f:
            f.write(text)


with tempfile.TemporaryDirectory() as tmp:
    print("%s, %d snapshots" % (xs, n))
    # the chain: delete its leaf (each run on a fresh copy)
    gold = os.path.join(tmp, "chain")
    history(gold, False)
    for indexed in (True, False):
        runs, base = [], []
        for r in range(3):
            state = os.path.join(tmp, "run%d" % r)
            shutil.copytree(gold, state, symlinks=True)
            env = dict(os.environ, XL_SNAPSHOT_DIR=state)
            if indexed:     # the copy's inodes are new: index them
                subprocess.run([xs, "list", "--names", uuid], env=env,
                               check=True, stdout=subprocess.DEVNULL)
            os.sync()   # else delete's fsyncs wait for the copy's writeback
            base.append(timed("cat %s/%s/*/record.json" % (state, uuid), env,
                              shell=True))
            runs.append(timed([xs, "delete", uuid, "snap%05d" % (n - 1)],
                              env))
            if runs[-1] is not None:
                left = subprocess.run([xs, "list", "--names", uuid],
                                      env=env, check=True,
                                      capture_output=True,
                                      text=True).stdout.split()
                assert len(left) == n - 1, "delete removed the wrong records"
            shutil.rmtree(state)
            if runs[-1] is None:
                break
        show("delete (leaf of the chain)" if indexed
             else "delete (leaf), no index yet",
             None if None in runs else statistics.median(runs),
             statistics.median(base), "cat of the records", "delete " + uuid)

    # the fan: list --tree (the first list builds the index)
    state = os.path.join(tmp, "fan")
    history(state, True)
    os.sync()
    env = dict(os.environ, XL_SNAPSHOT_DIR=state)
    cmd = [xs, "list", "--tree", uuid]
    base = [timed("ls -l %s/%s >/dev/null" % (state, uuid), env, shell=True)
            for _ in range(5)]
    first = timed(cmd, env)
    show("list --tree (fan), first", first, statistics.median(base),
         "ls -l", "list --tree")
    warm = [timed(cmd, env) for _ in range(4 if first else 0)] or [None]
    show("list --tree (fan), again", None if None in warm
         else statistics.median(warm), statistics.median(base), "ls -l",
         "list --tree")
