#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# crash.py - the random-kill crash-consistency harness (run it through
# run.sh; README.md says what it proves and how to replay a failure).
#
# For each operation kind, CRASH_ITERATIONS times: restore a stopped
# domain (real qcow2 images, records as the bats suite writes them),
# start the real xl-snapshot, SIGKILL it after a random delay drawn from
# an RNG seeded by (CRASH_SEED, operation, iteration), run
# `check --repair`, then check the invariants:
#   - every snapshot `list --json` shows as ready holds exactly the data
#     written before it was taken (qemu-img convert of its disk images
#     against the fingerprint recorded at set-up; one of them, or all
#     with CRASH_REVERT=all, is also reverted offline and the live disks
#     compared);
#   - no snapshot that existed before, and that the operation does not
#     remove, is lost; the live disks are unchanged;
#   - `check` after the repair finds no problems;
#   - nothing is left in the state dir but records, memory images and
#     the store's own .lock/.index, and no image in a disk dir that no
#     record names;
#   - no process started by the killed tool is still running;
#   - a bundle left by a killed export is refused by import or imports
#     exactly the right data.
# Output: TAP, one line per operation kind with the counts.
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

UUID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
OPS = ["create", "delete", "delete-imported", "export-dir", "export-stream",
       "import-dir", "import-stream"]
MiB = 1 << 20
VSIZE = 16 * MiB
RANDOM_MIB = 12

XS = os.environ["XS"]
SEED = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(1, 1 << 31))
ITER = int(os.environ.get("CRASH_ITERATIONS") or 10)
ONLY = os.environ.get("CRASH_ONLY")          # one iteration number
FORCE_DELAY = os.environ.get("CRASH_DELAY_MS")
REVERT_ALL = os.environ.get("CRASH_REVERT") == "all"
VERBOSE = os.environ.get("CRASH_VERBOSE") == "1"
BUDGET = float(os.environ.get("CRASH_BUDGET") or 0)   # seconds, all ops
KEEP = os.environ.get("CRASH_KEEP") == "1"
ops = (os.environ.get("CRASH_OPS") or " ".join(OPS)).split()
for o in ops:
    if o not in OPS:
        sys.exit("crash.py: unknown operation %r (known: %s)" % (o, " ".join(OPS)))

ROOT = tempfile.mkdtemp(prefix="xl-snapshot-crash.",
                        dir=os.environ.get("CRASH_TMPDIR"))
W = os.path.join(ROOT, "w")           # the iteration's world (fixed path:
TPL = os.path.join(ROOT, "tpl")       # records name absolute paths)
BUNDLES = os.path.join(ROOT, "bundles")
SCRATCH = os.path.join(ROOT, "scratch")
STATE = os.path.join(W, "state")
IMGDIR = os.path.join(W, "img")
ST2 = os.path.join(W, "st2")          # import target state dir
D2_SAME = os.path.join(W, "d2")       # import --disk-dir: same file system
D2 = D2_SAME                          # (placed by link()), or another one
XROOT = None                          # (copied): odd iterations
if os.path.isdir("/dev/shm") and not os.environ.get("CRASH_NO_XFS"):
    XROOT = tempfile.mkdtemp(prefix="xl-snapshot-crash.", dir="/dev/shm")
    if os.stat(XROOT).st_dev == os.stat(ROOT).st_dev:
        os.rmdir(XROOT)
        XROOT = None
OUT = os.path.join(W, "out")          # export destination
STI = os.path.join(W, "sti")          # s2 imported (template): state dir
DI = os.path.join(W, "di")            # and --disk-dir
DISKS = {"xvda": os.path.join(IMGDIR, "g1.qcow2"),
         "xvdb": os.path.join(IMGDIR, "d.qcow2")}


def diag(msg):
    for line in str(msg).splitlines() or [""]:
        print("# " + line, flush=True)


def run(args, state=STATE, check=True, **kw):
    env = dict(os.environ, XL_SNAPSHOT_DIR=state)
    p = subprocess.run(args, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), p.returncode,
                                                 p.stdout.strip()))
    return p


def xs(*args, state=STATE, check=True, **kw):
    return run([XS] + list(args), state=state, check=check, **kw)


def qemu_img(*args):
    return run(["qemu-img"] + list(args))


def raw_md5(src, snap=None, fmt="qcow2"):
    """MD5 of the guest-visible content of a qcow2 image (at snapshot
    snap), or None with the reason when qemu-img cannot read it."""
    out = os.path.join(SCRATCH, "c.raw")
    args = ["qemu-img", "convert", "-f", fmt]
    if snap:
        args += ["-l", "snapshot.name=" + snap]
    args += ["-O", "raw", src, out]
    p = run(args, check=False)
    if p.returncode != 0:
        return None, p.stdout.strip()
    h = hashlib.md5()
    with open(out, "rb") as f:
        for b in iter(lambda: f.read(MiB), b""):
            h.update(b)
    os.unlink(out)
    return h.hexdigest(), None


def live_md5s():
    return {v: raw_md5(p)[0] for v, p in DISKS.items()}


def fill(vdev, off_mib, pattern):
    run(["qemu-io", "-f", "qcow2", "-c",
         "write -q -P %s %dM 1M" % (pattern, off_mib), DISKS[vdev]])


# ---- the template: a stopped domain g1 with two disks and the chain
# base -> s1 -> s2 -> s3 (s3 current), distinct data before each
# snapshot; s4's data already written (create takes s4).
def build_template():
    os.makedirs(IMGDIR)
    os.makedirs(SCRATCH, exist_ok=True)
    os.makedirs(BUNDLES)
    # random bytes in xvdb (the last disk: an import that dies while
    # copying it has every file in place): real copying and hashing
    rnd = os.path.join(SCRATCH, "rnd.raw")
    with open(rnd, "wb") as f:
        f.write(random.Random(SEED).randbytes(RANDOM_MIB * MiB))
        f.truncate(VSIZE)
    qemu_img("convert", "-f", "raw", "-O", "qcow2", rnd, DISKS["xvdb"])
    os.unlink(rnd)
    qemu_img("create", "-q", "-f", "qcow2", DISKS["xvda"], str(VSIZE))
    base = os.path.join(STATE, UUID, "base")
    os.makedirs(base, mode=0o700)
    os.chmod(STATE, 0o700)
    os.chmod(os.path.dirname(base), 0o700)
    rec = {"version": 1, "name": "base", "description": "base",
           "creationtime": 1764000000, "state": "ready",
           "type": "internal", "domstate": "shutoff", "memory": None,
           "parent": None, "current": True,
           "domain": {"name": "g1", "uuid": UUID}, "disks": [],
           "config": {"c_info": {"name": "g1", "uuid": UUID},
                      "disks": [{"pdev_path": p, "vdev": v,
                                 "backend": "qdisk", "format": "qcow2",
                                 "readwrite": 1}
                                for v, p in sorted(DISKS.items())]}}
    fd = os.open(os.path.join(base, "record.json"),
                 os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(rec, f)
    expect = {"base": {}}
    for k, name in enumerate(["s1", "s2", "s3", "s4"]):
        fill("xvda", k, "0x%x1" % (k + 1))
        fill("xvdb", RANDOM_MIB + k, "0x%x2" % (k + 1))
        expect[name] = live_md5s()
        if name != "s4":
            xs("create", "-n", name, "g1")
    # the bundles the imports read: s2 as a directory, and as a zstd
    # stream
    xs("export", "g1", "s2", os.path.join(BUNDLES, "b2"))
    with open(os.path.join(BUNDLES, "b2z.tar"), "wb") as f:
        p = subprocess.run([XS, "export", "--compress", "zstd", "g1", "s2",
                            "-"], stdout=f, env=dict(os.environ,
                                                     XL_SNAPSHOT_DIR=STATE))
        if p.returncode:
            raise RuntimeError("export - failed")
    # s2 imported into another state dir: delete-imported deletes it
    os.makedirs(DI)
    xs("import", "--disk-dir", DI, os.path.join(BUNDLES, "b2"), state=STI)
    xs("list", "g1")             # writes the .index, as any user would
    xs("list", "g1", state=STI)
    shutil.copytree(W, TPL, symlinks=True)
    return expect


def restore():
    shutil.rmtree(W, ignore_errors=True)
    if XROOT:
        shutil.rmtree(os.path.join(XROOT, "d2"), ignore_errors=True)
    shutil.copytree(TPL, W, symlinks=True)


# ---- the operations: argv, state dir, stdin file, stdout file
def op_cmd(op):
    if op == "create":
        return [XS, "create", "-n", "s4", "g1"], STATE, None, None
    if op == "delete":
        return [XS, "delete", "g1", "s2"], STATE, None, None
    if op == "delete-imported":
        return [XS, "delete", "g1", "s2"], STI, None, None
    if op == "export-dir":
        return [XS, "export", "g1", "s2", OUT], STATE, None, None
    if op == "export-stream":
        return ([XS, "export", "--compress", "zstd", "g1", "s2", "-"], STATE,
                None, OUT + ".tar")
    if op == "import-dir":
        return ([XS, "import", "--disk-dir", D2, os.path.join(BUNDLES, "b2")],
                ST2, None, None)
    if op == "import-stream":
        return ([XS, "import", "--disk-dir", D2, "-"], ST2,
                os.path.join(BUNDLES, "b2z.tar"), None)
    raise ValueError(op)


def start(op):
    argv, state, fin, fout = op_cmd(op)
    os.makedirs(D2, exist_ok=True)
    stdin = open(fin, "rb") if fin else subprocess.DEVNULL
    stdout = open(fout, "wb") if fout else open(os.path.join(SCRATCH, "op.out"), "wb")
    errf = open(os.path.join(SCRATCH, "op.err"), "wb")
    p = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=errf,
                         env=dict(os.environ, XL_SNAPSHOT_DIR=state))
    for f in (stdin, stdout, errf):
        if f is not subprocess.DEVNULL:
            f.close()
    return p


def op_err():
    with open(os.path.join(SCRATCH, "op.err"), errors="replace") as f:
        return f.read().strip()


def calibrate(op):
    """Median wall time (s) of three uninterrupted runs; they must
    succeed."""
    ts = []
    for _ in range(3):
        restore()
        t = time.monotonic()
        p = start(op)
        rc = p.wait()
        ts.append(time.monotonic() - t)
        if rc != 0:
            raise RuntimeError("%s without a kill failed (exit %d): %s" %
                               (op, rc, op_err()))
    ts.sort()
    return ts[1]


# ---- invariants
PF_EXITING = 0x4      # /proc/PID/stat flags: in do_exit()


def strays():
    """Processes (other than us) whose command line names our trees and
    that are not dying: no SIGKILL pending (PR_SET_PDEATHSIG or a
    process-group kill would have queued one), not exiting."""
    me = os.getpid()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            if not (ROOT in cmd or (XROOT and XROOT in cmd)):
                continue
            with open("/proc/%s/status" % pid) as f:
                status = dict(l.split(":", 1) for l in f if ":" in l)
            with open("/proc/%s/stat" % pid) as f:
                flags = int(f.read().rsplit(")", 1)[1].split()[6])
        except (OSError, ValueError, IndexError):
            continue
        pending = (int(status.get("SigPnd", "0").strip(), 16) |
                   int(status.get("ShdPnd", "0").strip(), 16))
        if status.get("State", "").strip()[:1] in ("Z", "X") or \
                pending & (1 << (signal.SIGKILL - 1)) or \
                flags & PF_EXITING:
            continue
        found.append((int(pid), cmd.strip()))
    return found


def reap_strays(fails):
    """Report processes that outlived the killed tool, then kill them:
    they are ours."""
    left = strays()
    # A child forked just before the kill may not have run since: it has
    # no PR_SET_PDEATHSIG yet, and exits at its first instruction (the
    # getppid() check after the prctl). On a loaded host that takes a
    # while; a real orphan (an exec'd helper without the death signal)
    # is still there seconds later.
    deadline = time.time() + 3
    while left and time.time() < deadline:
        time.sleep(0.05)
        left = strays()
    for pid, cmd in left:
        fails.append("process %d outlived the killed tool (no SIGKILL "
                     "pending): %s" % (pid, cmd))
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for _ in range(200):
        if not strays():
            return
        time.sleep(0.01)


def list_json(state):
    p = xs("list", "--json", "g1", state=state, check=False)
    if p.returncode != 0:
        if "no snapshot" in p.stdout or "unknown domain" in p.stdout.lower():
            return []
        raise RuntimeError("list --json: exit %d: %s" % (p.returncode, p.stdout))
    return json.loads(p.stdout)["snapshots"]


def snapshot_md5s(rec):
    """{vdev: (md5 or None, error)} of a record's disks at the snapshot."""
    got = {}
    for d in rec.get("disks") or []:
        if d.get("snapshot") == "internal":
            got[d["vdev"]] = raw_md5(d["image"], d["internal_name"])
        else:
            got[d["vdev"]] = raw_md5(d.get("backing") or d["image"])
    return got


def verify_ready(recs, expect, where):
    """Ready records whose data is not exactly what was written before
    the snapshot: a list of explanations."""
    wrong = []
    for r in recs:
        if r["state"] != "ready":
            continue
        name = r["name"]
        if name not in expect:
            wrong.append("%s: ready snapshot '%s' was never taken" % (where, name))
            continue
        got = snapshot_md5s(r)
        if sorted(got) != sorted(expect[name]):
            wrong.append("%s: ready snapshot '%s' has disks %s, expected %s" %
                         (where, name, sorted(got), sorted(expect[name])))
            continue
        for v, (md5, err) in sorted(got.items()):
            if md5 != expect[name][v]:
                wrong.append("%s: ready snapshot '%s' disk %s: %s" %
                             (where, name, v, err or "content differs from "
                              "what was written before the snapshot"))
    return wrong


def revert_check(recs, expect, rng):
    """Revert ready snapshots of g1 offline (one chosen by the RNG, or
    all) and compare the live disks."""
    wrong = []
    cands = [r["name"] for r in recs if r["state"] == "ready" and
             r.get("disks") and r["name"] in expect]
    if not cands:
        return wrong
    if not REVERT_ALL:
        cands = [rng.choice(cands)]
    for name in cands:
        p = xs("revert", "g1", name, check=False)
        if p.returncode != 0:
            wrong.append("revert to ready snapshot '%s' failed: %s" %
                         (name, p.stdout.strip()))
            continue
        got = live_md5s()
        for v in sorted(expect[name]):
            if got.get(v) != expect[name][v]:
                wrong.append("revert to ready snapshot '%s': disk %s does not "
                             "hold the snapshot's data" % (name, v))
    return wrong


ALLOWED_DOM = {".lock", ".index", ".adopted"}
ALLOWED_SNAP = {"record.json", "memory.save", "memory.save.zst", ".parts.json"}


def leftovers(state):
    """Anything in a state dir that is not a record, a memory image or
    the store's own .lock/.index."""
    bad = []
    if not os.path.isdir(state):
        return bad
    for e in sorted(os.listdir(state)):
        p = os.path.join(state, e)
        if e != UUID or not os.path.isdir(p):
            bad.append(p)
            continue
        for s in sorted(os.listdir(p)):
            q = os.path.join(p, s)
            if s in ALLOWED_DOM and os.path.isfile(q):
                continue
            if s.startswith(".") or not os.path.isdir(q):
                bad.append(q)
                continue
            files = sorted(os.listdir(q))
            if "record.json" not in files:
                bad.append(q + "/ (no record.json)")
            bad += [os.path.join(q, f) for f in files if f not in ALLOWED_SNAP]
    return bad


def unowned_images(dirpath, recs, keep=()):
    """Files in a disk dir that no record names (and that are not the
    domain's own images)."""
    named = set(keep)
    for r in recs:
        for d in r.get("disks") or []:
            for k in ("image", "backing", "overlay"):
                if d.get(k):
                    named.add(d[k])
    if not os.path.isdir(dirpath):
        return []
    return [os.path.join(dirpath, f) for f in sorted(os.listdir(dirpath))
            if os.path.join(dirpath, f) not in named]


def stray_internal(recs):
    """Internal snapshots in the domain's images that no record names."""
    bad = []
    for v, img in sorted(DISKS.items()):
        p = run(["qemu-img", "info", "-U", "--output=json", "-f", "qcow2",
                 img], check=False)
        if p.returncode != 0:
            bad.append("%s: qemu-img info failed: %s" % (img, p.stdout.strip()))
            continue
        have = {x["name"] for x in json.loads(p.stdout).get("snapshots", [])}
        named = {d.get("internal_name") for r in recs
                 for d in r.get("disks") or []
                 if d.get("snapshot") == "internal" and d.get("image") == img}
        bad += ["%s holds internal snapshot '%s' that no record names" %
                (img, n) for n in sorted(have - named)]
    return bad


def check_clean(state, fails):
    p = xs("check", state=state, check=False)
    if p.returncode != 0 or "No problems found." not in p.stdout:
        fails.append("check after check --repair (%s): exit %d: %s" %
                     (os.path.basename(state), p.returncode,
                      p.stdout.strip().replace("\n", " | ")))


def import_partial(kind, expect, fails, wrong):
    """A bundle a killed export left: import refuses it, or imports
    exactly s2. Returns True when it was imported."""
    st3 = os.path.join(W, "st3")
    d3 = os.path.join(W, "d3")
    os.makedirs(d3)
    if kind == "export-dir":
        if not os.path.isdir(OUT):
            return None
        p = xs("import", "--disk-dir", d3, OUT, state=st3, check=False)
    else:
        with open(OUT + ".tar", "rb") as f:
            p = xs("import", "--disk-dir", d3, "-", state=st3, check=False,
                   stdin=f)
    if p.returncode != 0:
        if leftovers(st3) or os.listdir(d3):
            fails.append("a refused import of the partial bundle left: %s" %
                         (leftovers(st3) + os.listdir(d3)))
        return False
    recs = list_json(st3)
    wrong += ["bundle left by the killed export: " + w
              for w in verify_ready(recs, expect, "imported")]
    return True


class Stats:
    def __init__(self):
        self.iters = self.inside = self.after = 0
        self.wrong = self.fails = 0
        self.notes = {}
        self.failures = []

    def note(self, k):
        self.notes[k] = self.notes.get(k, 0) + 1


ANCHOR_TEXT = {"none": "", "image": " after d.s2.qcow2 appeared in "
               "--disk-dir", "child": " after its first child process "
               "started"}


def iteration(op, i, window, expect, st):
    global D2
    D2 = os.path.join(XROOT, "d2") if XROOT and i % 2 else D2_SAME
    os.makedirs(D2, exist_ok=True)
    rng = random.Random("%d:%s:%d" % (SEED, op, i))
    frac = rng.random() * 1.25
    # Some kills are anchored on an event, then land at a random instant
    # within 5 % of the window after it:
    #  image: imports with a copy across file systems, half of them: the
    #         last disk's image appears in --disk-dir (the placement is a
    #         small part of the whole run);
    #  child: 30 % of the others: the tool has started a child process
    #         (qemu-img, zstd), which must die with it.
    r1, r2 = rng.random(), rng.random()
    if op.startswith("import") and D2 != D2_SAME and r1 < 0.5:
        anchor = "image"
    elif r2 < 0.3:
        anchor = "child"
    else:
        anchor = "none"
    if os.environ.get("CRASH_ANCHOR") in ("image", "child", "none"):
        anchor = os.environ["CRASH_ANCHOR"]
    if anchor != "none":
        frac = rng.random() * 0.05
    delay = float(FORCE_DELAY) / 1000 if FORCE_DELAY else frac * window
    restore()
    before = xs("list", "--json", "g1").stdout
    before_recs = json.loads(before)["snapshots"]
    live_before = expect["s4"]        # what the template's disks hold
    p = start(op)
    if anchor == "image":
        last = os.path.join(D2, "d.s2.qcow2")
        while p.poll() is None and not os.path.exists(last):
            time.sleep(0.0005)
    elif anchor == "child":
        kids = "/proc/%d/task/%d/children" % (p.pid, p.pid)
        while p.poll() is None:
            try:
                with open(kids) as f:
                    if f.read().strip():
                        break
            except OSError:
                break
            time.sleep(0.0005)
    time.sleep(delay)
    p.send_signal(signal.SIGKILL)
    rc = p.wait()
    inside = rc == -signal.SIGKILL
    fails, wrong = [], []
    if inside:
        st.inside += 1
    else:
        st.after += 1
        if rc != 0:
            fails.append("%s failed on its own (exit %d): %s" % (op, rc, op_err()))
    reap_strays(fails)

    # the repair, then the invariants
    states = [STATE] + ([ST2] if op.startswith("import") else []) + \
        ([STI] if op == "delete-imported" else [])
    for s in states:
        r = xs("check", "--repair", state=s, check=False)
        if r.returncode != 0:
            fails.append("check --repair (%s): exit %d: %s" %
                         (os.path.basename(s), r.returncode, r.stdout.strip()))
        if VERBOSE:
            diag("check --repair %s: %s" % (os.path.basename(s), r.stdout.strip()))
        check_clean(s, fails)
        bad = leftovers(s)
        if bad:
            fails.append("left in the state dir after check --repair: %s" %
                         " ".join(bad))
    recs = list_json(STATE)
    names = {r["name"]: r for r in recs}
    wrong += verify_ready(recs, expect, "g1")
    gone = [r["name"] for r in before_recs if r["name"] not in names and
            not (op == "delete" and r["name"] == "s2")]
    if gone:
        fails.append("snapshots lost: %s" % " ".join(gone))
    notready = [r["name"] + "(" + r["state"] + ")" for r in recs
                if r["state"] != "ready"]
    if notready:
        st.note("not ready after repair: " + " ".join(notready))
    if live_md5s() != live_before:
        fails.append("the live disks changed")
    odd = unowned_images(IMGDIR, recs, DISKS.values())
    if odd:
        fails.append("files in the image dir no record names: %s" % " ".join(odd))

    if op in ("create", "delete"):
        fails += stray_internal(recs)

    # what the operation should have done when it finished
    if op == "create":
        if "s4" in names:
            st.note("create: s4 kept")
        elif not inside:
            fails.append("create finished but s4 is not listed")
    elif op == "delete":
        if "s2" in names:
            st.note("delete: s2 kept")
            if not inside:
                fails.append("delete finished but s2 is still listed")
        elif names.get("s3", {}).get("parent") != "s1":
            fails.append("s2 is gone but s3's parent is %r, not 's1'" %
                         names.get("s3", {}).get("parent"))
    elif op == "delete-imported":
        recsi = list_json(STI)
        wrong += verify_ready(recsi, expect, "imported")
        odd = unowned_images(DI, recsi)
        if odd:
            fails.append("files in the import's --disk-dir that no record "
                         "names: %s" % " ".join(odd))
        if any(r["name"] == "s2" for r in recsi):
            st.note("delete-imported: s2 kept")
            if not inside:
                fails.append("delete finished but s2 is still listed")
    elif op.startswith("export"):
        imported = import_partial(op, expect, fails, wrong)
        if imported is None:
            st.note("export: no bundle dir")
        else:
            st.note("export: bundle %s" % ("imports" if imported else
                                           "refused by import"))
        if not inside and not imported:
            fails.append("export finished but its bundle does not import")
    else:
        recs2 = list_json(ST2)
        wrong += verify_ready(recs2, expect, "imported")
        odd = unowned_images(D2, recs2)
        if odd:
            fails.append("files in --disk-dir that no record names: %s" %
                         " ".join(odd))
        n2 = {r["name"]: r for r in recs2}
        if "s2" in n2:
            st.note("import: s2 %s" % n2["s2"]["state"])
        elif not inside:
            fails.append("import finished but s2 is not listed")
        if set(n2) - {"s2"}:
            fails.append("import created snapshots %s" % sorted(set(n2) - {"s2"}))
    if not wrong:
        wrong += revert_check(recs, expect, rng)

    st.iters += 1
    if VERBOSE:
        diag("%s %d: %s at %.1f ms%s%s" %
             (op, i, "inside" if inside else "after (exit %d)" % rc,
              delay * 1000, ANCHOR_TEXT[anchor],
              ", disk dir " + D2 if op.startswith("import") else ""))
    if wrong or fails:
        st.wrong += len(wrong)
        st.fails += len(fails)
        head = ("seed %d %s iteration %d: killed %s at %.1f ms%s (window "
                "%.1f ms)%s" % (SEED, op, i, "inside the operation" if inside
                                else "after it finished (exit %d)" % rc,
                                delay * 1000, ANCHOR_TEXT[anchor],
                                window * 1000,
                                ", --disk-dir on another file system"
                                if op.startswith("import") and D2 != D2_SAME
                                else ""))
        st.failures.append([head] +
                           ["READY-BUT-WRONG " + w for w in wrong] +
                           ["INVARIANT " + f for f in fails] +
                           ["replay: CRASH_SEED=%d CRASH_OPS=%s CRASH_ONLY=%d "
                            "CRASH_DELAY_MS=%.1f CRASH_ANCHOR=%s CRASH_KEEP=1 "
                            "tests/crash/run.sh" %
                            (SEED, op, i, delay * 1000, anchor)])
        for line in st.failures[-1]:
            diag(line)
        return False
    return True


def cpu(c0):
    c = os.times()
    return sum(c[k] - c0[k] for k in range(4))


def main():
    print("# crash harness: seed %d (CRASH_SEED=%d replays it), %d iterations "
          "per operation, %s" % (SEED, SEED, ITER, XS), flush=True)
    print("1..%d" % len(ops), flush=True)
    t0 = time.monotonic()
    expect = build_template()
    n = 0
    ok_all = True
    for op in ops:
        n += 1
        st = Stats()
        window, t = 0.0, time.monotonic()
        c0 = os.times()
        try:
            window = calibrate(op)
            rng_iters = [int(ONLY)] if ONLY else range(1, ITER + 1)
            for i in rng_iters:
                # this operation's share of what is left of the budget
                # (the template counts); at least one iteration each
                share = (BUDGET - (t - t0)) / (len(ops) - n + 1)
                if BUDGET and st.iters and time.monotonic() - t > share:
                    st.note("stopped by CRASH_BUDGET after %d iterations" %
                            st.iters)
                    break
                iteration(op, i, window, expect, st)
        except Exception as e:       # a harness error is a failure too
            st.fails += 1
            diag("seed %d %s: harness error: %r" % (SEED, op, e))
        desc = ("crash %s: %d iterations, %d kills inside the operation, %d "
                "after it finished, %d ready-but-wrong, %d other invariant "
                "failures (seed %d, window %.0f ms, %.1f s, %.1f s CPU)" %
                (op, st.iters, st.inside, st.after, st.wrong, st.fails, SEED,
                 window * 1000, time.monotonic() - t, cpu(c0)))
        good = st.wrong == 0 and st.fails == 0
        ok_all &= good
        print("%s %d - %s" % ("ok" if good else "not ok", n, desc), flush=True)
        for k, v in sorted(st.notes.items()):
            diag("  %s: %d" % (k, v))
    diag("total %.1f s; work dir %s%s" % (time.monotonic() - t0, ROOT,
                                          " (kept)" if KEEP else ""))
    return 0 if ok_all else 1


def cleanup():
    if not KEEP:
        shutil.rmtree(ROOT, ignore_errors=True)
        if XROOT:
            shutil.rmtree(XROOT, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        sys.exit(main())
    finally:
        cleanup()
