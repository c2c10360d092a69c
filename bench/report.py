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
    base = {"export-full": "qemu-img convert", "import-dir": "cp",
            "export-zstd": "zstd -3 -T0"}
    for lab in labels:
        g = "bundle-" + lab
        for r, b in base.items():
            w = med(g, r + ".wall")
            if w is not None:
                print("  %-7s %-12s %9s  %-17s %9s  ratio %.2f" % (
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
