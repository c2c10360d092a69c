#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""report.py CSV...: the benchmark table (medians) and the targets."""
import collections
import statistics
import sys

vals = collections.defaultdict(list)
for path in sys.argv[1:]:
    with open(path) as f:
        next(f)
        for line in f:
            g, m, v, u = line.strip().split(",")
            vals[(g, m)].append(float(v))


def med(g, m):
    v = vals.get((g, m))
    return statistics.median(v) if v else None


def fmt(x, unit="s"):
    if x is None:
        return "-"
    if unit == "s":
        return "%.3f s" % x
    if unit == "ms":
        return "%.1f ms" % (1000 * x)
    return "%.1f MiB" % (x / 2**20)


def ratio(a, b):
    return "-" if a is None or not b else "%.2f x" % (a / b)


print("Guest downtime (largest gap in the guest's 10 ms ticker) and wall time")
print("%-6s %-20s %10s %10s %14s" % ("guest", "operation", "downtime", "wall",
                                     "vs xl save -c"))
ops = ["disk-floor", "disk-floor-xc", "xl-save-c", "create-memory", "create-memory-live", "create-memory-zstd",
       "create-disk-only", "hand-written", "before-disk-only", "before-memory"]
for g in ("pv", "pvh"):
    base = med(g, "xl-save-c.downtime")
    for op in ops:
        d, w = med(g, op + ".downtime"), med(g, op + ".wall")
        if d is None:
            continue
        print("%-6s %-20s %10s %10s %14s" % (g, op, fmt(d), fmt(w), ratio(d, base)))
print()


def compare(title, what, a, b):
    """One line a guest: metric a against metric b, as a ratio."""
    print(title)
    for g in ("pv", "pvh"):
        x, y = med(g, a), med(g, b)
        if x is not None:
            print("  %-4s %s %s, %s %s: %s" % (g, what[0], fmt(x), what[1], fmt(y),
                                            ratio(x, y)))
    print()


ratios = sorted({m for g, m in vals if m.endswith((".ratio", ".ratio-xc"))
                 and g in ("pv", "pvh")})
if ratios:
    print("Downtime ratios (tool / floor, each from runs back to back; median)")
    print("  (-vs-floor: the scripted floor with xl pause/unpause; .ratio-xc:")
    print("  the floor with xc_domain_pause/unpause in the script's process)")
    for g in ("pv", "pvh"):
        for m in ratios:
            v = vals.get((g, m))
            if v:
                print("  %-4s %-38s %6.2f x  (n=%d: %s)" % (
                    g, m, statistics.median(v), len(v),
                    " ".join("%.2f" % x for x in v)))
    for g in ("pv", "pvh"):
        for f, k in (("disk-floor", "script-pause"), ("disk-floor-xc", "script-pause"),
                     ("create-disk-only", "window"), ("before-disk-only", "window")):
            v = vals.get((g, f + "." + k))
            if v:
                print("  %-4s %-16s own pause window: median %s (%s)" % (
                    g, f, fmt(statistics.median(v), "ms"),
                    " ".join("%.0f" % (1000 * x) for x in v)))
        # the same repetitions, in order: window over the xc floor's
        fl = vals.get((g, "disk-floor-xc.script-pause"))
        for t in ("create-disk-only", "before-disk-only"):
            w = vals.get((g, t + ".window"))
            if fl and w and len(w) == len(fl):
                r = [a / b for a, b in zip(w, fl)]
                print("  %-4s %-16s window / xc floor's window: median %.2f x (%s)" % (
                    g, t, statistics.median(r), " ".join("%.2f" % x for x in r)))
    print()
compare("Create total time vs hand-written (xl save -c + QMP internal snapshot)",
        ("create", "hand-written"), "create-memory.wall", "hand-written.wall")
compare("Revert vs xl destroy + xl restore of the same image",
        ("revert", "xl restore"), "revert.wall", "xl-restore.wall")
print("Memory image size, raw vs zstd")
for g, kind in (("pv", "idle"), ("pvh", "idle"), ("pv", "random")):
    r, z = med(g, kind + ".memory.raw"), med(g, kind + ".memory.zstd")
    if r is not None:
        print("  %-4s %-7s raw %s, zstd %s: %s" % (g, kind, fmt(r, "b"), fmt(z, "b"),
                                                ratio(z, r)))
print()
print("list on the host (median; CPU = user + sys of the process)")
for n in (100, 1000, 10000):
    for label in ("list", "list-json"):
        w = med("host", "%s.%d.wall" % (label, n))
        c = med("host", "%s.%d.cpu" % (label, n))
        f = med("host", "%s.%d.cold.wall" % (label, n))
        if w is not None:
            print("  %-10s %6d records: wall %9s, cpu %9s, first (no index) %9s"
                  % (label, n, fmt(w, "ms"), fmt(c, "ms"), fmt(f, "ms")))

print()
labels = sorted({g[len("bundle-"):] for g, _ in vals
                 if g.startswith("bundle-") and g != "bundle-baseline"})
if labels:
    print("Bundles on the host (median s; ratio: median of the pairs'")
    print("baseline/tool, 1.0 = as fast as the baseline run right after it)")
    base = {"export-full": "qemu-img convert",
            "export-full-sha": "convert+sha256sum", "import-dir": "cp",
            "import-dir-sha": "sha256sum+cp",
            "import-stream": "tar -xf", "export-zstd": "zstd -3 -T0",
            "export-zstd-same": "zstd of its bytes",
            "export-zstd-script": "convert+zstd+sha",
            "delta-1m": "qemu-img convert", "delta-scatter": "qemu-img convert"}
    for lab in labels:
        g = "bundle-" + lab
        for r, b in base.items():
            w = med(g, r + ".wall")
            if w is not None:
                print("  %-7s %-18s %9s  %-17s %9s  ratio %.2f" % (
                    lab, r, fmt(w), b, fmt(med(g, r + ".base")),
                    med(g, r + ".ratio")))
        s = med(g, "sha256.rate")
        if s is not None:
            print("  %-7s %-12s %6.0f MB/s  openssl dgst: ratio %.2f" % (
                lab, "sha256", s / 1e6, med(g, "sha256.ratio")))
    for n in ("sha256sum", "openssl"):
        s = med("bundle-baseline", n + ".rate")
        if s is not None:
            print("  %-7s %-12s %6.0f MB/s" % ("", n, s / 1e6))

# issue 20's lookup rows (bench/lookup-bench.py: guest column = binary)
lk = sorted({m.rsplit(".", 1)[0] for g, m in vals if g == "now"
             and m.endswith(".cpu")})
if lk:
    print()
    print("Lookups on the host (median of the runs; CPU = user + sys)")
    for b in ("before", "now"):
        for m in lk:
            c, w, r = (med(b, m + "." + k) for k in ("cpu", "wall", "maxrss"))
            if c is not None:
                print("  %-7s %-26s cpu %8s  wall %8s  peak RSS %6.1f MiB" % (
                    b, m, fmt(c, "ms"), fmt(w, "ms"), (r or 0) / 1024))

# the targets of issue 20, each from the medians above: (what, value,
# met?) -- a row the run did not measure is left out
print()
print("Targets (issue 20)")


def target(what, v, ok, unit="x"):
    if v is None:
        return
    print("  %-58s %9s  %s" % (what, ("%.2f x" % v) if unit == "x" else
                                 fmt(v, unit), "" if ok is None else
                                 "met" if ok(v) else "NOT met"))


b = "bundle-now"
target("export full >= 0.8x qemu-img convert", med(b, "export-full.ratio"),
       lambda v: v >= 0.8)
target("import (directory) >= 0.8x cp", med(b, "import-dir.ratio"),
       lambda v: v >= 0.8)
target("  export full vs qemu-img convert + sha256sum (hash in both)",
       med(b, "export-full-sha.ratio"), lambda v: v >= 0.8)
target("  import (directory) vs sha256sum + cp (hash in both)",
       med(b, "import-dir-sha.ratio"), lambda v: v >= 0.8)
target("import (tar stream) vs tar -xf (no target)", med(b, "import-stream.ratio"),
       None)
fr = med(b, "delta-1m.full-ratio")
target("delta export, 1 MiB changed: <= 0.2x a full export",
       1 / fr if fr else None, lambda v: v <= 0.2)
db, dc = med(b, "delta-1m.bytes"), med(b, "delta-1m.changed")
target("delta bytes <= 1.05x the changed clusters (1 MiB)",
       db / dc if db and dc else None, lambda v: v <= 1.05)
target("export --compress zstd >= 0.8x zstd -3 -T0", med(b, "export-zstd.ratio"),
       lambda v: v >= 0.8)
target("  the same, zstd of the bytes the tool compresses (no target)",
       med(b, "export-zstd-same.ratio"), None)
target("  the same, qemu-img convert + zstd + sha256sum (no target)",
       med(b, "export-zstd-script.ratio"), None)
for m in lk:
    if m.startswith(("list", "info")):
        target("%s <= 50 ms (CPU)" % m, med("now", m + ".cpu"),
               lambda v: v <= 0.050, "ms")
r1, r10 = med("now", "list-json.1000.maxrss"), med("now", "list-json.10000.maxrss")
target("list --json peak RSS, 10,000 / 1,000 snapshots (independent)",
       r10 / r1 if r1 and r10 else None, lambda v: v <= 1.2)
for g in ("pv", "pvh"):
    fl = vals.get((g, "disk-floor-xc.script-pause"))
    w = vals.get((g, "create-disk-only.window"))
    if fl and w and len(fl) == len(w):
        target("%s disk-only pause <= 1.2x the floor (own windows)" % g,
               statistics.median([a / b_ for a, b_ in zip(w, fl)]),
               lambda v: v <= 1.2)
    target("%s disk-only gap / scripted floor's gap (xl pause/unpause)" % g,
           med(g, "disk-only-vs-floor.ratio"), lambda v: v <= 1.2)
    target("%s memory checkpoint downtime <= 1.05x xl save -c" % g,
           med(g, "memory-vs-save-c.ratio"), lambda v: v <= 1.05)
target("pvh live checkpoint downtime <= 0.1x xl save -c",
       med("pvh", "live-vs-save-c.ratio"), lambda v: v <= 0.1)
