#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""bundle-bench.py OUT.csv LABEL=TREE [LABEL=TREE...]: export / import /
SHA-256 / zstd on the host (no hypervisor), each against its baseline
run right after it (a pair), for every TREE (a source tree with `make
all` done: TREE/build/xl-snapshot, TREE/build/libxlsnap.a).  Several
trees (before/after a change) are measured in the same run, pairs of
each tree interleaved, so that the load of the machine weighs on all.

  export-full   `export` of a 2 GiB incompressible disk (internal
                snapshot) to a directory, hash included, vs
                `qemu-img convert -U -l snapshot.name=s1 -O qcow2`;
                export-full-sha: the same tool runs vs what a user would
                script for a checksummed copy (that convert, then
                `sha256sum` of it)
  import-dir    `import` of that bundle from a directory vs `cp` of the
                disk (same file system: the staging dir and disk dir are
                beside it); import-dir-sha: vs `sha256sum` of the disk,
                then `cp` (a checked copy)
  import-stream `import -` of that bundle as one tar stream (what
                `export ... -` writes) on standard input vs `tar -xf` of
                the same stream into a directory
  sha256        the library's SHA-256 over a cached 2 GiB file vs
                `openssl dgst -sha256` (the ratio) and `sha256sum`
  export-zstd   `export --compress zstd` of a 2 GiB disk, half zeros
                (stored), half random, vs `zstd -3 -T0` of qemu-img's
                plain qcow2 of it (zeros left out: 1 GiB); and the same
                tool runs against two more baselines:
                export-zstd-same, `zstd -3 -T0` of the tool's own
                uncompressed export (the bytes it compresses: 2 GiB,
                the stored zeros kept), and export-zstd-script, what a
                user would script: `qemu-img convert`, `zstd -3 -T0`,
                `sha256sum` of the result
  delta-1m      `export --delta` of 1 MiB written (16 clusters) in the
                2 GiB disk between two internal snapshots, vs the full
                `export` of the same snapshot (ratio full/delta: the
                target is >= 5) and `qemu-img convert` of it
  delta-scatter `export --delta` of 256 scattered 4 KiB writes (256
                clusters): its disk part's bytes vs the changed
                clusters' (delta-scatter.bytes / .changed)

Environment: BENCH_REPS (3) pairs per row, BENCH_TMP (/var/tmp) where the
images go (about 6x the disk), BENCH_MIB (2048) the disk size
(a multiple of 64), BENCH_ROWS (all) the rows to run, comma-separated
among export-full, import-dir, import-stream, export-zstd, sha256,
delta.
Rows: guest "bundle-LABEL", metrics <row>.wall, <row>.base (median
seconds), <row>.ratio (median of the pairs' baseline/tool: >= 1 is as
fast as the baseline), sha256.rate in B/s and sha256.ratio (tool rate /
openssl rate)."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

out = sys.argv[1]
trees = [a.split("=", 1) for a in sys.argv[2:]]
reps = int(os.environ.get("BENCH_REPS", "3"))
mib = int(os.environ.get("BENCH_MIB", "2048")) // 64 * 64
uuid = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
here = os.path.dirname(os.path.abspath(__file__))
rowset = set(os.environ.get("BENCH_ROWS", "export-full,import-dir,"
                            "import-stream,export-zstd,sha256,delta"
                            ).split(","))


def run(args, env=None, **kw):
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, **kw)


def timed(args, env=None, before=None, stdin=None):
    if before:
        before()
    # the run before may have left gigabytes of dirty pages: written out
    # now, not while this one runs (neither side of a pair fsyncs its
    # output; the second paid the first's write-back)
    os.sync()
    t0 = time.perf_counter()
    if stdin:
        with open(stdin, "rb") as f:
            run(args, env, stdin=f)
    else:
        run(args, env)
    return time.perf_counter() - t0


def log(*a):
    print("#", *a, file=sys.stderr, flush=True)


def domain(state, name, img):
    """A stopped domain with one disk img and a snapshot s1 of it."""
    d = os.path.join(state, uuid, "base")
    os.makedirs(d, mode=0o700)
    rec = {"version": 1, "name": "base", "creationtime": 1764000000,
           "state": "ready", "type": "internal", "domstate": "shutoff",
           "memory": None, "parent": None, "current": True,
           "domain": {"name": name, "uuid": uuid}, "disks": [],
           "config": {"c_info": {"name": name, "uuid": uuid},
                      "disks": [{"pdev_path": img, "vdev": "xvda",
                                 "backend": "qdisk", "format": "qcow2",
                                 "readwrite": 1}]}}
    with open(os.path.join(d, "record.json"), "w") as f:
        json.dump(rec, f)
    os.chmod(os.path.join(d, "record.json"), 0o600)


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    if os.path.exists(path):
        os.unlink(path)


tmp = tempfile.mkdtemp(prefix="xlsnap-bench-",
                       dir=os.environ.get("BENCH_TMP", "/var/tmp"))
rows = []
try:
    size = mib << 20
    xs0 = os.path.join(trees[-1][1], "build", "xl-snapshot")
    # the disks: random (incompressible), and half zeros / half random
    rnd = os.path.join(tmp, "rand.raw")
    log("making %d MiB of random data" % mib)
    with open(rnd, "wb") as f:
        for _ in range(size >> 26):
            f.write(os.urandom(64 << 20))
    half = os.path.join(tmp, "half.raw")
    zstd = "export-zstd" in rowset
    if zstd:
        with open(half, "wb") as f:
            f.truncate(size)
        run(["dd", "if=" + rnd, "of=" + half, "bs=1M",
             "count=%d" % (size >> 21), "conv=notrunc", "status=none"])
    imgs = {}
    for label, raw, sparse in (("rand", rnd, []), ("half", half, ["-S", "0"])
                               )[:2 if zstd else 1]:
        state = os.path.join(tmp, "state-" + label)
        img = os.path.join(tmp, label + ".qcow2")
        run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2"] + sparse +
            [raw, img])
        domain(state, "g" + label, img)
        run([xs0, "create", "-n", "s1", "g" + label],
            env=dict(os.environ, XL_SNAPSHOT_DIR=state))
        imgs[label] = (state, img)
    plain_half = os.path.join(tmp, "half-plain.qcow2")
    tool_half = os.path.join(tmp, "half-tool")
    if zstd:
        run(["qemu-img", "convert", "-U", "-f", "qcow2", "-l",
         "snapshot.name=s1", "-O", "qcow2", imgs["half"][1], plain_half])
        run([xs0, "export", "ghalf", "s1", tool_half],
            env=dict(os.environ, XL_SNAPSHOT_DIR=imgs["half"][0]))
    # the bundle import reads: the newest tree's export
    bundle = os.path.join(tmp, "bundle")
    if "import-dir" in rowset:
        run([xs0, "export", "grand", "s1", bundle],
            env=dict(os.environ, XL_SNAPSHOT_DIR=imgs["rand"][0]))
    tarball = os.path.join(tmp, "bundle.tar")
    if "import-stream" in rowset:
        with open(tarball, "wb") as f:
            subprocess.run([xs0, "export", "grand", "s1", "-"], check=True,
                           stdout=f, env=dict(os.environ,
                                              XL_SNAPSHOT_DIR=imgs["rand"][0]))

    # the deltas: s2 = s1 + 1 MiB at 1 GiB; s3 = s2 + 256 writes of
    # 4 KiB, each in its own 64 KiB cluster (spread over the disk)
    env = dict(os.environ, XL_SNAPSHOT_DIR=imgs["rand"][0])
    run(["qemu-io", "-f", "qcow2", "-c", "write -q -P 0x61 %d 1M" % (
        size // 2), imgs["rand"][1]])
    run([xs0, "create", "-n", "s2", "grand"], env=env)
    step = size // 256 // 65536 * 65536
    run(["qemu-io", "-f", "qcow2"] + sum(
        (["-c", "write -q -P 0x62 %d 4k" % (i * step + 12288)]
         for i in range(256)), []) + [imgs["rand"][1]])
    run([xs0, "create", "-n", "s3", "grand"], env=env)
    changed = {"delta-1m": 16 * 65536, "delta-scatter": 256 * 65536}
    dbytes = {(lab, r): [] for lab, _ in trees for r in changed}
    res = {(lab, r): ([], []) for lab, _ in trees
           for r in ("export-full", "export-full-sha", "import-dir",
                     "import-dir-sha", "import-stream",
                     "export-zstd", "export-zstd-same",
                     "export-zstd-script", "delta-1m", "delta-scatter")}
    dfull = {lab: [] for lab, _ in trees}
    sha = {lab: [] for lab, _ in trees}
    sha_ratio = {lab: [] for lab, _ in trees}
    sha_base = {"sha256sum": [], "openssl": []}
    o1, o2 = os.path.join(tmp, "o1"), os.path.join(tmp, "o2")
    for rep in range(reps):
        for lab, tree in trees:
            xs = os.path.join(tree, "build", "xl-snapshot")
            log("pair %d/%d: %s" % (rep + 1, reps, lab))
            # export full vs qemu-img convert
            if "export-full" in rowset:
                env = dict(os.environ, XL_SNAPSHOT_DIR=imgs["rand"][0])
                a = timed([xs, "export", "grand", "s1", o1], env,
                          lambda: fresh(o1))
                b = timed(["qemu-img", "convert", "-U", "-f", "qcow2", "-l",
                           "snapshot.name=s1", "-O", "qcow2", imgs["rand"][1],
                           o2], None, lambda: fresh(o2))
                res[(lab, "export-full")][0].append(a)
                res[(lab, "export-full")][1].append(b)
                fresh(o2)
                # what a user would script for a checksummed copy
                b = timed(["sh", "-c", 'qemu-img convert -U -f qcow2 -l '
                           'snapshot.name=s1 -O qcow2 "$1" "$2" && '
                           'sha256sum "$2" > /dev/null', "-",
                           imgs["rand"][1], o2], None, lambda: fresh(o2))
                res[(lab, "export-full-sha")][0].append(a)
                res[(lab, "export-full-sha")][1].append(b)
                fresh(o1), fresh(o2)
            # import from a directory vs cp of the disk
            if "import-dir" in rowset:
                st2, dd = os.path.join(tmp, "st2"), os.path.join(tmp, "disks")

                def clean():
                    fresh(st2), fresh(dd), fresh(o2)
                    os.makedirs(dd)
                env = dict(os.environ, XL_SNAPSHOT_DIR=st2)
                a = timed([xs, "import", "--disk-dir", dd, bundle], env, clean)
                b = timed(["cp", os.path.join(bundle, "disk-xvda.qcow2"), o2],
                          None, clean)
                res[(lab, "import-dir")][0].append(a)
                res[(lab, "import-dir")][1].append(b)
                # the user's checked copy: the checksum, then cp
                b = timed(["sh", "-c", 'sha256sum "$1" > /dev/null && '
                           'cp "$1" "$2"', "-",
                           os.path.join(bundle, "disk-xvda.qcow2"), o2],
                          None, clean)
                res[(lab, "import-dir-sha")][0].append(a)
                res[(lab, "import-dir-sha")][1].append(b)
                clean()
            # import of the tar stream on stdin vs tar -xf of it
            if "import-stream" in rowset:
                st2, dd = os.path.join(tmp, "st2"), os.path.join(tmp, "disks")

                def clean():
                    fresh(st2), fresh(dd), fresh(o2)
                    os.makedirs(dd)
                    os.makedirs(o2)
                env = dict(os.environ, XL_SNAPSHOT_DIR=st2)
                a = timed([xs, "import", "--disk-dir", dd, "-"], env, clean,
                          stdin=tarball)
                b = timed(["tar", "-xf", "-", "-C", o2], None, clean,
                          stdin=tarball)
                res[(lab, "import-stream")][0].append(a)
                res[(lab, "import-stream")][1].append(b)
                clean()
            # export --compress zstd vs zstd -3 -T0 of the same bytes
            if "export-zstd" in rowset:
                env = dict(os.environ, XL_SNAPSHOT_DIR=imgs["half"][0])
                a = timed([xs, "export", "--compress", "zstd", "ghalf", "s1",
                           o1], env, lambda: fresh(o1))
                b = timed(["zstd", "-3", "-T0", "-q", "-f", plain_half, "-o", o2],
                          None, lambda: fresh(o2))
                res[(lab, "export-zstd")][0].append(a)
                res[(lab, "export-zstd")][1].append(b)
                fresh(o2)
                b = timed(["zstd", "-3", "-T0", "-q", "-f",
                           os.path.join(tool_half, "disk-xvda.qcow2"), "-o",
                           o2], None, lambda: fresh(o2))
                res[(lab, "export-zstd-same")][0].append(a)
                res[(lab, "export-zstd-same")][1].append(b)
                fresh(o2)
                b = timed(["sh", "-c", 'qemu-img convert -U -f qcow2 -l '
                           'snapshot.name=s1 -O qcow2 "$1" "$2.qcow2" && '
                           'zstd -3 -T0 -q -f "$2.qcow2" -o "$2" && '
                           'sha256sum "$2" > /dev/null', "-",
                           imgs["half"][1], o2],
                          None, lambda: (fresh(o2), fresh(o2 + ".qcow2")))
                res[(lab, "export-zstd-script")][0].append(a)
                res[(lab, "export-zstd-script")][1].append(b)
                fresh(o1), fresh(o2), fresh(o2 + ".qcow2")
            # delta export vs full export of the same snapshot (and
            # qemu-img convert of it); the delta's disk bytes
            if "delta" in rowset:
                env = dict(os.environ, XL_SNAPSHOT_DIR=imgs["rand"][0])
                for r, sn, bs in (("delta-1m", "s2", "s1"),
                                  ("delta-scatter", "s3", "s2")):
                    a = timed([xs, "export", "--delta", "--base", bs, "grand",
                               sn, o1], env, lambda: fresh(o1))
                    dbytes[(lab, r)].append(os.path.getsize(
                        os.path.join(o1, "disk-xvda.qcow2")))
                    fresh(o1)
                    b = timed(["qemu-img", "convert", "-U", "-f", "qcow2", "-l",
                               "snapshot.name=" + sn, "-O", "qcow2",
                               imgs["rand"][1], o2], None, lambda: fresh(o2))
                    res[(lab, r)][0].append(a)
                    res[(lab, r)][1].append(b)
                    fresh(o2)
                    if r == "delta-1m":
                        dfull[lab].append(timed([xs, "export", "grand", sn, o1],
                                                env, lambda: fresh(o1)) / a)
                        fresh(o1)
            # SHA-256 of the cached random file
            if "sha256" in rowset:
                prog = os.path.join(tmp, "sha-" + lab)
                if not os.path.exists(prog):
                    inc = os.path.join(tree, "libxlsnap")
                    cflags = subprocess.run(
                        ["pkg-config", "--cflags", "--libs", "xenlight", "xlutil",
                         "xentoollog", "xenstore", "yajl", "libzstd",
                         "nettle"], check=True, capture_output=True,
                        text=True).stdout.split()
                    run(["cc", "-O2", "-D_GNU_SOURCE", "-I" + inc,
                         os.path.join(here, "sha256-bench.c"), "-o", prog,
                         os.path.join(tree, "build", "libxlsnap.a")] + cflags +
                        ["-pthread"])
                p = subprocess.run([prog, rnd], check=True, capture_output=True,
                                   text=True).stdout.split()
                sha[lab].append(size / float(p[1]))
                want = p[0]
                # the baselines right after: openssl's ratio per pair
                for name, cmd in (("openssl", ["openssl", "dgst", "-sha256", rnd]),
                                  ("sha256sum", ["sha256sum", rnd])):
                    t0 = time.perf_counter()
                    got = subprocess.run(cmd, check=True, capture_output=True,
                                         text=True).stdout
                    sha_base[name].append(size / (time.perf_counter() - t0))
                    assert want in got, (name, got, want)
                sha_ratio[lab].append(sha[lab][-1] / sha_base["openssl"][-1])
    for lab, _ in trees:
        g = "bundle-" + lab
        for r in ("export-full", "export-full-sha", "import-dir",
                  "import-dir-sha", "import-stream", "export-zstd",
                  "export-zstd-same", "export-zstd-script", "delta-1m",
                  "delta-scatter"):
            a, b = res[(lab, r)]
            if not a:
                continue
            rows.append((g, r + ".wall", "%.4f" % statistics.median(a), "s"))
            rows.append((g, r + ".base", "%.4f" % statistics.median(b), "s"))
            rows.append((g, r + ".ratio", "%.3f" % statistics.median(
                [y / x for x, y in zip(a, b)]), "x"))
            log("%-8s %-12s tool %s  baseline %s" % (
                lab, r, " ".join("%.2f" % x for x in a),
                " ".join("%.2f" % y for y in b)))
        if dfull[lab]:
            rows.append((g, "delta-1m.full-ratio", "%.3f" % statistics.median(
                dfull[lab]), "x"))
            log("%-8s delta-1m: full export / delta %s" % (
                lab, " ".join("%.1f" % x for x in dfull[lab])))
        for r, c in changed.items() if dfull[lab] else ():
            rows.append((g, r + ".bytes", "%d" % statistics.median(
                dbytes[(lab, r)]), "B"))
            rows.append((g, r + ".changed", "%d" % c, "B"))
            log("%-8s %s bytes %d for %d changed (%.3fx)" % (
                lab, r, statistics.median(dbytes[(lab, r)]), c,
                statistics.median(dbytes[(lab, r)]) / c))
        if not sha[lab]:
            continue
        rows.append((g, "sha256.rate", "%.0f" % statistics.median(sha[lab]),
                     "B/s"))
        rows.append((g, "sha256.ratio", "%.3f" % statistics.median(
            sha_ratio[lab]), "x"))
        log("%-8s sha256 %s MB/s" % (lab, " ".join("%.0f" % (x / 1e6)
                                                    for x in sha[lab])))
    for name, v in sha_base.items() if "sha256" in rowset else ():
        rows.append(("bundle-baseline", name + ".rate",
                     "%.0f" % statistics.median(v), "B/s"))
        log("%s %s MB/s" % (name, " ".join("%.0f" % (x / 1e6) for x in v)))
    if zstd:
        rows.append(("bundle-baseline", "export-zstd.bytes",
                     "%d" % os.path.getsize(plain_half), "B"))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
with open(out, "w") as f:
    f.write("guest,metric,value,unit\n")
    for r in rows:
        f.write(",".join(r) + "\n")
