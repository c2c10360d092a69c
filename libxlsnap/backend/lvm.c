/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * backend/lvm.c - the "lvm" disk driver: disks on LVM logical volumes.
 *
 *   thin volume   lvcreate -s -n SNAP VG/LV            (no size to guess)
 *   classic LV    lvcreate -s -L SIZE -n SNAP VG/LV    (copy-on-write
 *                 store of the size the caller asks, "SIZE" or "N%" of
 *                 the origin; by default XLSNAP__LVM_COW_PERCENT % of
 *                 the origin, at least XLSNAP__LVM_COW_MIN bytes, at
 *                 most the origin).  Its fill (lvs data_percent) is
 *                 warned about from XLSNAP_FILL_WARN_PERCENT %.
 *
 * SNAP is "<LV>-xs-<snapshot name>" (characters LVM does not allow in a
 * name become '_').  Every LV made here carries the tags "xlsnap",
 * "xlsnap-uuid-<domain uuid>" and "xlsnap-snap-<snapshot name>": remove
 * and revert only ever touch a snapshot LV a record names AND that
 * carries the first two, so an administrator's LV is never removed.
 *
 * Revert of a thin snapshot (domain off): the origin is renamed aside
 * ("<LV>-xs-old<time>", tagged "xlsnap-old" and "xlsnap-old-uuid-<domain
 * uuid>"), a thin snapshot of the snapshot takes the origin's name
 * (active, no activation skip, the origin's own tags), then the old
 * origin is removed: the path the xl config names stays valid and the
 * snapshot stays, for a later revert.  Killed half way, the revert done
 * again (check --repair) first puts a tagged old origin back when the
 * origin's name is free; an old origin left beside a finished revert is
 * removed by check's repair, only if it carries both tags.  A classic snapshot is merged into the
 * origin (lvconvert --merge, the domain being off) and made again of
 * the reverted origin (same name, size and tags); an invalid
 * (overflowed) one is refused.
 *
 * The LVM tools run through xlsnap__spawn (no shell), by env(1) with
 * LVM_SUPPRESS_FD_WARNINGS=1.
 */
#include "backend/disk.h"
#include "bundle/volume.h"

#include <ctype.h>
#include <time.h>

#define XLSNAP__LVM_COW_PERCENT 20
#define XLSNAP__LVM_COW_MIN (64ull << 20)

typedef struct {
    char *name, *vg, *pool, *attr, *origin, *data_percent, *tags;
    char *thin_id;               /* a thin LV's id in its pool, else "" */
    uint64_t size;
} lvinfo;

static void lvinfo_dispose(lvinfo *v)
{
    free(v->thin_id);
    free(v->name);
    free(v->vg);
    free(v->pool);
    free(v->attr);
    free(v->origin);
    free(v->data_percent);
    free(v->tags);
    memset(v, 0, sizeof(*v));
}

/* Run an LVM tool: argv[0] is the tool; *status_r its exit status, the
 * last line of its stderr in *why_r (may be NULL). */
static int lvm_run(xlsnap_ctx *ctx, const char *const *argv, char **out_r,
                   char **why_r, int *status_r)
{
    const char *v[40] = { "env", "LVM_SUPPRESS_FD_WARNINGS=1" };
    char *err = NULL;
    int n = 2, rc;

    for (int i = 0; argv[i] && n < 39; i++) v[n++] = argv[i];
    v[n] = NULL;
    rc = xlsnap__spawn(ctx, v, -1, out_r, &err, status_r);
    if (!rc && why_r) {
        *why_r = xlsnap__last_line(err, "  ");
        if (!*why_r) rc = xlsnap__nomem(ctx);
    }
    free(err);
    return rc;
}

/* Run, and fail with "<tool> failed: <its message>" on a non-zero
 * exit. */
static int lvm_do(xlsnap_ctx *ctx, const char *const *argv)
{
    char *why = NULL;
    int status, rc = lvm_run(ctx, argv, NULL, &why, &status);

    if (!rc && status)
        rc = xlsnap__error(ctx, strstr(why, "Insufficient") ||
                                strstr(why, "insufficient")
                                ? XLSNAP_ERROR_NOSPACE : XLSNAP_ERROR_FAIL,
                           "%s failed: %s", argv[0],
                           *why ? why : "no message");
    free(why);
    return rc;
}

static int str_of(yajl_val o, const char *key, char **out)
{
    yajl_val v = xlsnap__json_field(o, key);
    *out = xlsnap__strdup(v && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : "");
    return *out ? 0 : -1;
}

/*
 * lvs of one LV (a path /dev/VG/LV or VG/LV) into *v.  1: found, 0: no
 * such LV (or no LVM tools: lvs cannot run), <0: error.
 */
static int lvs_one(xlsnap_ctx *ctx, const char *lv, lvinfo *v)
{
    const char *argv[] = { "lvs", "--reportformat", "json", "--units", "b",
                           "--nosuffix", "-o",
                           "lv_name,vg_name,pool_lv,lv_attr,origin,"
                           "data_percent,lv_tags,lv_size,thin_id", lv,
                           NULL };
    char *out = NULL, *size = NULL, err[128];
    yajl_val root = NULL, rep, lvs, o;
    const char *path[] = { "report", NULL };
    int status, rc;

    memset(v, 0, sizeof(*v));
    if ((rc = lvm_run(ctx, argv, &out, NULL, &status))) return rc;
    if (status) { rc = 0; goto out; }
    root = xlsnap__json_parse(out, err, sizeof(err));
    rep = root ? yajl_tree_get(root, path, yajl_t_array) : NULL;
    lvs = rep && YAJL_GET_ARRAY(rep)->len
        ? xlsnap__json_field(YAJL_GET_ARRAY(rep)->values[0], "lv") : NULL;
    if (!lvs || !YAJL_IS_ARRAY(lvs)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "cannot read the output "
                           "of lvs %s", lv);
        goto out;
    }
    if (YAJL_GET_ARRAY(lvs)->len != 1) { rc = 0; goto out; }
    o = YAJL_GET_ARRAY(lvs)->values[0];
    if (str_of(o, "lv_name", &v->name) || str_of(o, "vg_name", &v->vg) ||
        str_of(o, "pool_lv", &v->pool) || str_of(o, "lv_attr", &v->attr) ||
        str_of(o, "origin", &v->origin) ||
        str_of(o, "data_percent", &v->data_percent) ||
        str_of(o, "lv_tags", &v->tags) || str_of(o, "lv_size", &size) ||
        str_of(o, "thin_id", &v->thin_id)) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    v->size = strtoull(size, NULL, 10);
    rc = *v->name && *v->vg && strlen(v->attr) >= 5 ? 1 : 0;
 out:
    if (rc <= 0) lvinfo_dispose(v);
    yajl_tree_free(root);
    free(size);
    free(out);
    return rc;
}

int xlsnap__lvm_is_lv(xlsnap_ctx *ctx, const char *path)
{
    lvinfo v;
    int rc = lvs_one(ctx, path, &v);

    lvinfo_dispose(&v);
    return rc;
}

/* Whether tag is in LVM's comma-separated list tags. */
static bool has_tag(const char *tags, const char *tag)
{
    size_t n = strlen(tag);

    for (const char *p = tags; p && *p; ) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, tag, n)) return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

/* s with every character LVM does not allow in names and tags
 * ([A-Za-z0-9+_.-]) as '_', at most max long; NULL: out of memory. */
static char *sanitize(const char *s, size_t max)
{
    size_t n = strlen(s) < max ? strlen(s) : max;
    char *r = strndup(s, n);

    for (size_t i = 0; r && i < n; i++)
        if (!isalnum((unsigned char)r[i]) && !strchr("+_.-", r[i]))
            r[i] = '_';
    return r;
}

static char *vg_lv(const char *vg, const char *lv)
{
    return xlsnap__sprintf("%s/%s", vg, lv);
}

static int lvm_plan(const xlsnap__disk_plan *pl,
                    const xlsnap__cfgdisk *cd, xlsnap_disk *sd)
{
    xlsnap_ctx *ctx = pl->ctx;
    const char *snap = pl->snap;
    lvinfo v;
    char *s = NULL;
    bool thin;
    int rc;

    if ((rc = xlsnap__disk_plan_volume(pl, cd, "lvm"))) return rc;
    if ((rc = lvs_one(ctx, cd->path, &v)) <= 0)
        return rc < 0 ? rc : xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND,
                                           "disk %s: %s is not an LVM "
                                           "logical volume", cd->vdev,
                                           cd->path);
    thin = v.attr[0] == 'V';
    if (!thin && v.attr[0] != '-' && v.attr[0] != 'o') {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "disk %s: %s is an LVM "
                           "logical volume of a kind that cannot be "
                           "snapshotted (attributes %s): only thin volumes "
                           "and plain (linear or striped) volumes can",
                           cd->vdev, cd->path, v.attr);
        goto out;
    }
    if (v.attr[4] != 'a') {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "disk %s: the logical "
                           "volume %s/%s is not active", cd->vdev, v.vg,
                           v.name);
        goto out;
    }
    if (!(s = sanitize(snap, 80))) { rc = xlsnap__nomem(ctx); goto out; }
    sd->vdev = xlsnap__strdup(cd->vdev);
    sd->format = xlsnap__strdup("raw");
    sd->image = xlsnap__strdup(cd->path);
    sd->kind = XLSNAP_DISK_VOLUME;
    sd->driver = xlsnap__strdup("lvm");
    sd->volume_group = xlsnap__strdup(v.vg);
    sd->volume = xlsnap__strdup(v.name);
    sd->snapshot_volume = xlsnap__sprintf("%s-xs-%s", v.name, s);
    if (!sd->vdev || !sd->format || !sd->image || !sd->driver ||
        !sd->volume_group || !sd->volume || !sd->snapshot_volume) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    rc = 0;
 out:
    free(s);
    lvinfo_dispose(&v);
    return rc;
}

static int lvm_take(const xlsnap__disk_op *op, const xlsnap_disk *d,
                    const char *snap, const char *want)
{
    xlsnap_ctx *ctx = op->ctx;
    const char *uuid = op->uuid;
    char *origin = vg_lv(d->volume_group, d->volume), *s = sanitize(snap, 200);
    char *t_uuid = xlsnap__sprintf("xlsnap-uuid-%s", uuid ? uuid : "");
    char *t_snap = s ? xlsnap__sprintf("xlsnap-snap-%s", s) : NULL;
    char *size = NULL;
    lvinfo v;
    int rc;

    memset(&v, 0, sizeof(v));
    if (!origin || !s || !t_uuid || !t_snap) { rc = xlsnap__nomem(ctx); goto out; }
    if ((rc = lvs_one(ctx, origin, &v)) <= 0) {
        if (!rc)
            rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "logical volume "
                               "%s is gone", origin);
        goto out;
    }
    if (v.attr[0] != 'V') {
        uint64_t cow = v.size / 100 * XLSNAP__LVM_COW_PERCENT, bytes = 0;
        unsigned pc = 0;
        if (want && xlsnap__snapshot_size_parse(want, &bytes, &pc)) {
            rc = xlsnap_snapshot_size_check(ctx, want);
            goto out;
        }
        if (cow < XLSNAP__LVM_COW_MIN) cow = XLSNAP__LVM_COW_MIN;
        if (cow > v.size) cow = v.size;
        if (bytes) cow = bytes;
        /* (rounded up to whole extents by LVM) */
        if (pc) cow = v.size / 100 * pc + (v.size % 100 * pc + 99) / 100;
        if (!(size = xlsnap__sprintf("%llub", (unsigned long long)cow))) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
    }
    {
        const char *thin[] = { "lvcreate", "-q", "-s", "-n",
                               d->snapshot_volume, "--addtag", "xlsnap",
                               "--addtag", t_uuid, "--addtag", t_snap,
                               origin, NULL };
        const char *thick[] = { "lvcreate", "-q", "-s", "-L", size, "-n",
                                d->snapshot_volume, "--addtag", "xlsnap",
                                "--addtag", t_uuid, "--addtag", t_snap,
                                origin, NULL };
        rc = lvm_do(ctx, size ? thick : thin);
    }
    if (rc)
        rc = xlsnap__error_prefix(ctx, rc, "cannot snapshot logical volume "
                                  "%s", origin);
 out:
    lvinfo_dispose(&v);
    free(origin);
    free(s);
    free(t_uuid);
    free(t_snap);
    free(size);
    return rc;
}

/*
 * The snapshot LV d names, looked up and proven ours (tags "xlsnap" and
 * this domain's): 1 (*v filled), 0 if there is no such LV, or an error
 * for an LV that is not the tool's.
 */
static int own_snapshot(xlsnap_ctx *ctx, const xlsnap_disk *d,
                        const char *uuid, lvinfo *v)
{
    char *lv = vg_lv(d->volume_group, d->snapshot_volume);
    char *t_uuid = xlsnap__sprintf("xlsnap-uuid-%s", uuid ? uuid : "");
    int rc;

    if (!lv || !t_uuid) { rc = xlsnap__nomem(ctx); goto out; }
    if ((rc = lvs_one(ctx, lv, v)) <= 0) goto out;
    if (!has_tag(v->tags, "xlsnap") || !has_tag(v->tags, t_uuid)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_PERM, "logical volume %s is "
                           "not tagged as this domain's snapshot (xlsnap, "
                           "%s); it is left alone", lv, t_uuid);
        lvinfo_dispose(v);
    }
 out:
    free(lv);
    free(t_uuid);
    return rc;
}

static int lvm_remove(const xlsnap__disk_op *op, const xlsnap_disk *d)
{
    xlsnap_ctx *ctx = op->ctx;
    const char *uuid = op->uuid;
    char *lv = vg_lv(d->volume_group, d->snapshot_volume);
    lvinfo v;
    int rc;

    memset(&v, 0, sizeof(v));
    if (!lv) return xlsnap__nomem(ctx);
    rc = own_snapshot(ctx, d, uuid, &v);
    if (rc > 0) {
        const char *argv[] = { "lvremove", "-q", "-f", lv, NULL };
        rc = lvm_do(ctx, argv);
    }
    lvinfo_dispose(&v);
    free(lv);
    return rc;
}

static int lvm_cancel(const xlsnap__disk_op *op, const xlsnap_disk *d)
{
    return lvm_remove(op, d);
}

static int lvm_revert_check(const xlsnap__disk_op *op, const xlsnap_disk *d)
{
    xlsnap_ctx *ctx = op->ctx;
    const char *uuid = op->uuid;
    lvinfo v;
    int rc = own_snapshot(ctx, d, uuid, &v);

    if (rc == 0)
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "disk %s: the "
                             "snapshot volume %s/%s is gone", d->vdev,
                             d->volume_group, d->snapshot_volume);
    if (rc < 0) return rc;
    if (v.attr[0] != 'V' && (v.attr[4] == 'I' || v.attr[4] == 'S'))
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "disk %s: the snapshot "
                           "volume %s/%s is invalid: its copy-on-write "
                           "store overflowed, so it no longer holds the "
                           "data of the snapshot", d->vdev,
                           d->volume_group, d->snapshot_volume);
    else
        rc = 0;
    lvinfo_dispose(&v);
    return rc;
}

/* --addtag for every tag of a comma-separated list into argv at *n. */
static void add_tags(const char **argv, int *n, int max, char *tags)
{
    for (char *p = tags, *e; p && *p && *n + 2 < max; p = e) {
        e = strchr(p, ',');
        if (e) *e++ = '\0';
        argv[(*n)++] = "--addtag";
        argv[(*n)++] = p;
    }
}

/* Wait (up to 15 s) until nothing has LV lv open: a domain just
 * destroyed may keep its disk open for a moment (blkback lets go of it
 * after the domain is gone).  0, or BUSY. */
static int wait_closed(xlsnap_ctx *ctx, const char *lv)
{
    for (int i = 0; i < 60; i++) {
        lvinfo v;
        int rc = lvs_one(ctx, lv, &v);
        bool open = rc > 0 && strlen(v.attr) > 5 && v.attr[5] == 'o';
        lvinfo_dispose(&v);
        if (rc < 0) return rc;
        if (!open) return 0;
        nanosleep(&(struct timespec){ .tv_nsec = 250000000 }, NULL);
    }
    return xlsnap__error(ctx, XLSNAP_ERROR_BUSY, "logical volume %s is "
                         "still open", lv);
}

/*
 * A classic snapshot: merged into the origin (inactive users: the domain
 * is off, so the merge runs now, lvconvert waiting for it), then made
 * again, same name, size and tags, of the reverted origin.
 */
static int revert_thick(xlsnap_ctx *ctx, const xlsnap_disk *d,
                        const lvinfo *sv)
{
    char *snap = vg_lv(d->volume_group, d->snapshot_volume);
    char *origin = vg_lv(d->volume_group, d->volume);
    char *size = xlsnap__sprintf("%llub", (unsigned long long)sv->size);
    char *tags = xlsnap__strdup(sv->tags);
    const char *argv[40];
    lvinfo v;
    int n = 0, rc;

    memset(&v, 0, sizeof(v));
    if (!snap || !origin || !size || !tags) { rc = xlsnap__nomem(ctx); goto out; }
    if ((rc = wait_closed(ctx, origin))) goto out;
    {
        const char *merge[] = { "lvconvert", "-q", "-i", "1", "--merge",
                                snap, NULL };
        if ((rc = lvm_do(ctx, merge))) goto out;
    }
    if ((rc = lvs_one(ctx, snap, &v)) < 0) goto out;
    if (rc) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_BUSY, "the merge of %s into %s "
                           "was put off until the origin is next activated "
                           "(it is open)", snap, origin);
        goto out;
    }
    argv[n++] = "lvcreate";
    argv[n++] = "-q";
    argv[n++] = "-s";
    argv[n++] = "-L";
    argv[n++] = size;
    argv[n++] = "-n";
    argv[n++] = d->snapshot_volume;
    add_tags(argv, &n, 36, tags);
    argv[n++] = origin;
    argv[n] = NULL;
    if ((rc = lvm_do(ctx, argv)))
        rc = xlsnap__error_prefix(ctx, rc, "reverted, but the snapshot "
                                  "volume could not be made again");
 out:
    lvinfo_dispose(&v);
    free(snap);
    free(origin);
    free(size);
    free(tags);
    return rc;
}

#define OLD_TAG "xlsnap-old"

static int tagged_aside(xlsnap_ctx *ctx, const char *vg, const char *volume,
                        const char *uuid, char **lv_r);
static int unaside(xlsnap_ctx *ctx, const char *aside_lv, const char *vg,
                   const char *volume, const char *uuid);

/* Tag LV lv (the old origin a revert set aside) as such, for domain
 * uuid. */
static int tag_aside(xlsnap_ctx *ctx, const char *lv, const char *uuid)
{
    char *t = xlsnap__sprintf(OLD_TAG "-uuid-%s", uuid ? uuid : "");
    const char *argv[] = { "lvchange", "-q", "--addtag", OLD_TAG,
                           "--addtag", t, lv, NULL };
    int rc = t ? lvm_do(ctx, argv) : xlsnap__nomem(ctx);

    free(t);
    return rc;
}

static int lvm_revert(const xlsnap__disk_op *op, const xlsnap_disk *d)
{
    xlsnap_ctx *ctx = op->ctx;
    const char *uuid = op->uuid;
    char *origin = vg_lv(d->volume_group, d->volume);
    char *snap = vg_lv(d->volume_group, d->snapshot_volume);
    char *aside = xlsnap__sprintf("%s-xs-old%lld", d->volume,
                                  (long long)time(NULL));
    char *aside_lv = aside ? vg_lv(d->volume_group, aside) : NULL;
    char *back = NULL;
    const char *argv[32];
    lvinfo v;
    int n = 0, rc;

    memset(&v, 0, sizeof(v));
    if (!origin || !snap || !aside || !aside_lv) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    if ((rc = lvm_revert_check(op, d))) goto out;
    if ((rc = own_snapshot(ctx, d, uuid, &v)) < 0) goto out;
    if (rc && v.attr[0] != 'V') {
        rc = revert_thick(ctx, d, &v);
        goto out;
    }
    lvinfo_dispose(&v);
    /* a name no old origin has (one an earlier revert, killed, left in
     * the same second) */
    for (long long t = time(NULL); (rc = lvs_one(ctx, aside_lv, &v)); ) {
        lvinfo_dispose(&v);
        free(aside);
        free(aside_lv);
        aside = xlsnap__sprintf("%s-xs-old%lld", d->volume, ++t);
        aside_lv = aside ? vg_lv(d->volume_group, aside) : NULL;
        if (rc < 0 || !aside_lv) {
            if (rc >= 0) rc = xlsnap__nomem(ctx);
            goto out;
        }
    }
    /* the origin's own tags go to its replacement */
    if ((rc = lvs_one(ctx, origin, &v)) < 0) goto out;
    if (!rc) {
        /* a revert killed after it set the origin aside: put back
         * first (the origin's tags are its own, not a revert's) */
        if ((rc = tagged_aside(ctx, d->volume_group, d->volume, uuid,
                               &back)) ||
            (back && (rc = unaside(ctx, back, d->volume_group, d->volume,
                                   uuid))) ||
            (back && (rc = lvs_one(ctx, origin, &v)) < 0))
            goto out;
    }
    if (rc) {
        const char *ren[] = { "lvrename", "-q", d->volume_group, d->volume,
                              aside, NULL };
        if ((rc = lvm_do(ctx, ren))) goto out;
        if ((rc = tag_aside(ctx, aside_lv, uuid))) {
            xlsnap__errsaved saved;
            xlsnap__errsave(ctx, &saved);
            unaside(ctx, aside_lv, d->volume_group, d->volume, uuid);
            xlsnap__errrestore(ctx, &saved);
            goto out;
        }
        xlsnap__fault_point("lvm-revert-aside");
    }
    argv[n++] = "lvcreate";
    argv[n++] = "-q";
    argv[n++] = "-s";
    argv[n++] = "-n";
    argv[n++] = d->volume;
    argv[n++] = "-ay";
    argv[n++] = "-kn";
    add_tags(argv, &n, 28, v.tags);
    argv[n++] = snap;
    argv[n] = NULL;
    if ((rc = lvm_do(ctx, argv))) {
        if (v.name) {
            xlsnap__errsaved saved;
            xlsnap__errsave(ctx, &saved);
            unaside(ctx, aside_lv, d->volume_group, d->volume, uuid);
            xlsnap__errrestore(ctx, &saved);
        }
        goto out;
    }
    xlsnap__fault_point("lvm-revert-made");
    if (v.name) {
        const char *rm[] = { "lvremove", "-q", "-f", aside_lv, NULL };
        if ((rc = wait_closed(ctx, aside_lv)) || (rc = lvm_do(ctx, rm)))
            rc = xlsnap__error_prefix(ctx, rc, "reverted, but the old "
                                      "volume %s is left", aside_lv);
    }
 out:
    if (rc)
        rc = xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev);
    lvinfo_dispose(&v);
    free(origin);
    free(snap);
    free(aside);
    free(aside_lv);
    free(back);
    return rc;
}

static char *lvm_describe(const xlsnap_disk *d)
{
    return xlsnap__sprintf("LVM snapshot %s/%s of %s/%s", d->volume_group,
                           d->snapshot_volume, d->volume_group, d->volume);
}

static int lvm_check(const xlsnap__disk_op *op, const xlsnap_disk *d,
                     char **why_r)
{
    xlsnap_ctx *ctx = op->ctx;
    const char *uuid = op->uuid;
    lvinfo v;
    int rc = own_snapshot(ctx, d, uuid, &v);

    *why_r = NULL;
    if (rc < 0) {
        /* an LV of that name that is not ours: a finding, not a
         * failure of the check */
        *why_r = xlsnap__strdup(xlsnap_last_error(ctx));
        return *why_r ? 0 : xlsnap__nomem(ctx);
    }
    if (rc == 0)
        *why_r = xlsnap__sprintf("snapshot volume %s/%s is missing",
                                 d->volume_group, d->snapshot_volume);
    else if (v.attr[0] != 'V' && (v.attr[4] == 'I' || v.attr[4] == 'S'))
        *why_r = xlsnap__sprintf("snapshot volume %s/%s is invalid (its "
                                 "copy-on-write store overflowed)",
                                 d->volume_group, d->snapshot_volume);
    else
        rc = 0;
    lvinfo_dispose(&v);
    if (rc == 0 && !*why_r) return 0;
    return *why_r ? 0 : xlsnap__nomem(ctx);
}

/* A classic snapshot's copy-on-write store filling up. */
static int lvm_warn(const xlsnap__disk_op *op, const xlsnap_disk *d,
                    char **why_r)
{
    xlsnap_ctx *ctx = op->ctx;
    const char *uuid = op->uuid;
    lvinfo v;
    int rc = own_snapshot(ctx, d, uuid, &v);
    double pc;

    *why_r = NULL;
    if (rc <= 0)
        /* missing, not ours or not to be looked at: check's business
         * (lvm_check), not a warning */
        return rc == XLSNAP_ERROR_NOMEM ? rc : 0;
    rc = 0;
    if (v.attr[0] != 'V' && v.attr[4] != 'I' && v.attr[4] != 'S' &&
        v.data_percent && *v.data_percent &&
        (pc = strtod(v.data_percent, NULL)) >= XLSNAP_FILL_WARN_PERCENT &&
        !(*why_r = xlsnap__sprintf("disk %s: snapshot volume %s/%s is "
                                   "%.0f%% full (its copy-on-write store "
                                   "of %llu MiB; when full, the snapshot "
                                   "becomes invalid and its data is lost: "
                                   "lvextend -L +SIZE %s/%s)", d->vdev,
                                   d->volume_group, d->snapshot_volume, pc,
                                   (unsigned long long)(v.size >> 20),
                                   d->volume_group, d->snapshot_volume)))
        rc = xlsnap__nomem(ctx);
    lvinfo_dispose(&v);
    return rc;
}

static void strv_free(char **v, int n)
{
    for (int i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

/*
 * Every LV of selection sel (a VG name, "@tag"), as "VG/LV" in *names_r
 * with its tags in *tags_r (n in *n_r).  No LVM tools, or lvs fails (no
 * such VG): none.
 */
static int lvs_names(xlsnap_ctx *ctx, const char *sel, char ***names_r,
                     char ***tags_r, int *n_r)
{
    const char *argv[] = { "lvs", "--reportformat", "json", "-o",
                           "lv_name,vg_name,lv_tags", sel, NULL };
    const char *path[] = { "report", NULL };
    char *out = NULL, err[128], **names = NULL, **tags = NULL;
    yajl_val root = NULL, rep, lvs;
    int status, n = 0, rc;

    *names_r = *tags_r = NULL;
    *n_r = 0;
    if ((rc = lvm_run(ctx, argv, &out, NULL, &status))) return rc;
    if (status) goto out;
    root = xlsnap__json_parse(out, err, sizeof(err));
    rep = root ? yajl_tree_get(root, path, yajl_t_array) : NULL;
    lvs = rep && YAJL_GET_ARRAY(rep)->len
        ? xlsnap__json_field(YAJL_GET_ARRAY(rep)->values[0], "lv") : NULL;
    if (!lvs || !YAJL_IS_ARRAY(lvs)) goto out;
    names = calloc(YAJL_GET_ARRAY(lvs)->len + 1, sizeof(*names));
    tags = calloc(YAJL_GET_ARRAY(lvs)->len + 1, sizeof(*tags));
    if (!names || !tags) { rc = xlsnap__nomem(ctx); goto out; }
    for (size_t i = 0; i < YAJL_GET_ARRAY(lvs)->len; i++) {
        yajl_val o = YAJL_GET_ARRAY(lvs)->values[i];
        char *lv = NULL, *vg = NULL;
        if (str_of(o, "lv_name", &lv) || str_of(o, "vg_name", &vg) ||
            str_of(o, "lv_tags", &tags[n]) ||
            !(names[n] = vg_lv(vg, lv))) {
            free(lv);
            free(vg);
            free(tags[n]);
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        free(lv);
        free(vg);
        n++;
    }
 out:
    if (rc) {
        strv_free(names, n);
        strv_free(tags, n);
    } else {
        *names_r = names;
        *tags_r = tags;
        *n_r = n;
    }
    yajl_tree_free(root);
    free(out);
    return rc;
}

/* Whether a record of l names VG/LV name as a snapshot volume. */
static bool named(const xlsnap_snapshot *l, int nr, const char *name)
{
    for (int k = 0; k < nr; k++)
        for (int j = 0; j < l[k].num_disks; j++) {
            const xlsnap_disk *d = &l[k].disks[j];
            size_t n;
            if (d->kind != XLSNAP_DISK_VOLUME || !d->driver ||
                strcmp(d->driver, "lvm") || !d->volume_group ||
                !d->snapshot_volume)
                continue;
            n = strlen(d->volume_group);
            if (!strncmp(name, d->volume_group, n) && name[n] == '/' &&
                !strcmp(name + n + 1, d->snapshot_volume))
                return true;
        }
    return false;
}

/* Whether lv is "<volume>-xs-old<digits>". */
static bool old_of(const char *lv, const char *volume)
{
    size_t n = strlen(volume);

    if (strncmp(lv, volume, n) || strncmp(lv + n, "-xs-old", 7)) return false;
    lv += n + 7;
    if (!*lv) return false;
    for (; *lv; lv++)
        if (!isdigit((unsigned char)*lv)) return false;
    return true;
}

/* Whether "<volume>-xs-old<digits>" a is newer than b (NULL: a is). */
static bool newer(const char *a, const char *b)
{
    return !b || strlen(a) > strlen(b) ||
           (strlen(a) == strlen(b) && strcmp(a, b) > 0);
}

/* The newest "<volume>-xs-old<digits>" of VG vg that a revert of domain
 * uuid set aside (tagged OLD_TAG and OLD_TAG-uuid-<uuid>), as "VG/LV"
 * in *lv_r; NULL: none. */
static int tagged_aside(xlsnap_ctx *ctx, const char *vg, const char *volume,
                        const char *uuid, char **lv_r)
{
    char *t = xlsnap__sprintf(OLD_TAG "-uuid-%s", uuid ? uuid : "");
    char **names = NULL, **tags = NULL;
    const char *best = NULL;
    int nn = 0, rc;

    *lv_r = NULL;
    if (!t) return xlsnap__nomem(ctx);
    if ((rc = lvs_names(ctx, vg, &names, &tags, &nn))) goto out;
    for (int i = 0; i < nn; i++)
        if (old_of(strchr(names[i], '/') + 1, volume) &&
            has_tag(tags[i], OLD_TAG) && has_tag(tags[i], t) &&
            newer(names[i], best))
            best = names[i];
    if (best && !(*lv_r = xlsnap__strdup(best))) rc = xlsnap__nomem(ctx);
 out:
    strv_free(names, nn);
    strv_free(tags, nn);
    free(t);
    return rc;
}

/* Put old origin aside_lv ("VG/LV", its tags checked) back under the
 * origin's name volume (free) and take the revert's tags off. */
static int unaside(xlsnap_ctx *ctx, const char *aside_lv, const char *vg,
                   const char *volume, const char *uuid)
{
    char *t = xlsnap__sprintf(OLD_TAG "-uuid-%s", uuid ? uuid : "");
    char *origin = vg_lv(vg, volume);
    const char *ren[] = { "lvrename", "-q", vg, strchr(aside_lv, '/') + 1,
                          volume, NULL };
    const char *del[] = { "lvchange", "-q", "--deltag", OLD_TAG,
                          "--deltag", t, origin, NULL };
    int rc;

    if (!t || !origin) rc = xlsnap__nomem(ctx);
    else if (!(rc = lvm_do(ctx, ren))) rc = lvm_do(ctx, del);
    free(t);
    free(origin);
    return rc;
}

int xlsnap__lvm_orphans(xlsnap_ctx *ctx, const char *uuid,
                        const xlsnap_snapshot *l, int nr,
                        xlsnap__lvm_orphan **v_r, int *n_r)
{
    char *sel = xlsnap__sprintf("@xlsnap-uuid-%s", uuid ? uuid : "");
    char *t_uuid = sel ? xlsnap__strdup(sel + 1) : NULL;
    char *t_old = xlsnap__sprintf(OLD_TAG "-uuid-%s", uuid ? uuid : "");
    char **names = NULL, **tags = NULL;
    xlsnap__lvm_orphan *v = NULL;
    int n = 0, nn = 0, rc = 0;
    xlsnap__strset vgs = { 0 };

    *v_r = NULL;
    *n_r = 0;
    if (!sel || !t_uuid || !t_old) { rc = xlsnap__nomem(ctx); goto out; }
#define ADD(path, is_old, is_tagged)                                        \
    do {                                                                    \
        xlsnap__lvm_orphan *p_ = realloc(v, (n + 1) * sizeof(*v));          \
        if (!p_) { rc = xlsnap__nomem(ctx); goto out; }                     \
        v = p_;                                                             \
        v[n].old = (is_old);                                                \
        v[n].tagged = (is_tagged);                                          \
        if (!(v[n].volume = xlsnap__strdup(path))) {                        \
            rc = xlsnap__nomem(ctx);                                        \
            goto out;                                                       \
        }                                                                   \
        n++;                                                                \
    } while (0)
    /* snapshot volumes of this domain (both tags) no record names */
    if ((rc = lvs_names(ctx, sel, &names, &tags, &nn))) goto out;
    for (int i = 0; i < nn; i++)
        if (has_tag(tags[i], "xlsnap") && has_tag(tags[i], t_uuid) &&
            !named(l, nr, names[i]))
            ADD(names[i], false, true);
    strv_free(names, nn);
    strv_free(tags, nn);
    names = tags = NULL;
    nn = 0;
    /* the old origins an interrupted thin revert left ("-xs-old") */
    for (int k = 0; k < nr; k++)
        for (int j = 0; j < l[k].num_disks; j++) {
            const xlsnap_disk *d = &l[k].disks[j];
            if (d->kind != XLSNAP_DISK_VOLUME || !d->driver ||
                strcmp(d->driver, "lvm") || !d->volume_group ||
                !d->volume || xlsnap__set_has(&vgs, d->volume_group))
                continue;
            xlsnap__set_add(&vgs, d->volume_group);
            if (vgs.nomem) { rc = xlsnap__nomem(ctx); goto out; }
            if ((rc = lvs_names(ctx, d->volume_group, &names, &tags, &nn)))
                goto out;
            for (int i = 0; i < nn; i++) {
                const char *lv = strchr(names[i], '/') + 1;
                bool old = false;
                for (int k2 = 0; k2 < nr && !old; k2++)
                    for (int j2 = 0; j2 < l[k2].num_disks && !old; j2++) {
                        const xlsnap_disk *e = &l[k2].disks[j2];
                        old = e->kind == XLSNAP_DISK_VOLUME && e->volume &&
                              e->volume_group &&
                              !strcmp(e->volume_group, d->volume_group) &&
                              old_of(lv, e->volume);
                    }
                if (old)
                    ADD(names[i], true, has_tag(tags[i], OLD_TAG) &&
                                        has_tag(tags[i], t_old));
            }
            strv_free(names, nn);
            strv_free(tags, nn);
            names = tags = NULL;
            nn = 0;
        }
#undef ADD
 out:
    strv_free(names, nn);
    strv_free(tags, nn);
    xlsnap__set_free(&vgs);
    if (rc) {
        xlsnap__lvm_orphan_list_free(v, n);
    } else {
        *v_r = v;
        *n_r = n;
    }
    free(sel);
    free(t_uuid);
    free(t_old);
    return rc;
}

void xlsnap__lvm_orphan_list_free(xlsnap__lvm_orphan *v, int n)
{
    for (int i = 0; v && i < n; i++) free(v[i].volume);
    free(v);
}

/* lvremove volume if it carries both tags kind and kind-uuid-<uuid>;
 * gone already: 0; else PERM with "logical volume <volume> is not
 * tagged <why>; it is left alone". */
static int remove_tagged(xlsnap_ctx *ctx, const char *volume,
                         const char *kind, const char *uuid,
                         const char *why)
{
    char *t_uuid = xlsnap__sprintf("%s-uuid-%s", kind, uuid ? uuid : "");
    lvinfo v;
    int rc;

    memset(&v, 0, sizeof(v));
    if (!t_uuid) return xlsnap__nomem(ctx);
    if ((rc = lvs_one(ctx, volume, &v)) <= 0) goto out;   /* gone: done */
    if (!has_tag(v.tags, kind) || !has_tag(v.tags, t_uuid)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_PERM, "logical volume %s is "
                           "not tagged %s; it is left alone", volume,
                           why);
        goto out;
    }
    {
        const char *argv[] = { "lvremove", "-q", "-f", volume, NULL };
        rc = lvm_do(ctx, argv);
    }
 out:
    lvinfo_dispose(&v);
    free(t_uuid);
    return rc;
}

int xlsnap__lvm_remove_orphan(xlsnap_ctx *ctx, const char *volume,
                              const char *uuid)
{
    char *why = xlsnap__sprintf("as this domain's snapshot (xlsnap, "
                                "xlsnap-uuid-%s)", uuid ? uuid : "");
    int rc = why ? remove_tagged(ctx, volume, "xlsnap", uuid, why)
                 : xlsnap__nomem(ctx);

    free(why);
    return rc;
}

int xlsnap__lvm_repair_old(xlsnap_ctx *ctx, const char *volume,
                           const char *uuid, bool *back_r)
{
    const char *slash = strchr(volume, '/'), *m = NULL;
    char *vg = NULL, *lv = NULL, *origin = NULL, *t = NULL, *why = NULL;
    lvinfo v;
    int rc;

    *back_r = false;
    memset(&v, 0, sizeof(v));
    for (const char *p = slash; p && (p = strstr(p, "-xs-old")); p++) m = p;
    if (!slash || !m)
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "%s is not the name "
                             "of an old origin", volume);
    vg = strndup(volume, (size_t)(slash - volume));
    lv = strndup(slash + 1, (size_t)(m - slash - 1));
    origin = vg && lv ? vg_lv(vg, lv) : NULL;
    t = xlsnap__sprintf(OLD_TAG "-uuid-%s", uuid ? uuid : "");
    why = t ? xlsnap__sprintf("as set aside by a revert of this domain ("
                              OLD_TAG ", %s)", t) : NULL;
    if (!origin || !why) { rc = xlsnap__nomem(ctx); goto out; }
    if ((rc = lvs_one(ctx, origin, &v)) < 0) goto out;
    if (rc) {
        /* the revert made the new origin: the old one goes */
        rc = remove_tagged(ctx, volume, OLD_TAG, uuid, why);
        goto out;
    }
    /* killed before it made the new origin: the old one comes back */
    if ((rc = lvs_one(ctx, volume, &v)) < 0) goto out;
    if (!rc || !has_tag(v.tags, OLD_TAG) || !has_tag(v.tags, t)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_PERM, "logical volume %s is "
                           "not tagged %s; it is left alone", volume, why);
        goto out;
    }
    if (!(rc = unaside(ctx, volume, vg, lv, uuid))) *back_r = true;
 out:
    lvinfo_dispose(&v);
    free(vg);
    free(lv);
    free(origin);
    free(t);
    free(why);
    return rc;
}

/* ---- export and import (bundle/volume.c) ---- */

int xlsnap__lvm_snapshot_open(xlsnap_ctx *ctx, const xlsnap_disk *d,
                              const char *uuid, char **dev_r,
                              bool *activated_r)
{
    char *lv = vg_lv(d->volume_group, d->snapshot_volume);
    lvinfo v;
    int rc;

    *dev_r = NULL;
    *activated_r = false;
    memset(&v, 0, sizeof(v));
    if (!lv) return xlsnap__nomem(ctx);
    if ((rc = own_snapshot(ctx, d, uuid, &v)) <= 0) {
        if (!rc)
            rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "the snapshot "
                               "volume %s is gone", lv);
        goto out;
    }
    if (v.attr[0] != 'V' && (v.attr[4] == 'I' || v.attr[4] == 'S')) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the snapshot volume "
                           "%s is invalid (its copy-on-write store "
                           "overflowed)", lv);
        goto out;
    }
    if (v.attr[4] != 'a') {
        /* a thin snapshot carries the activation skip flag (-K) */
        const char *argv[] = { "lvchange", "-q", "-ay", "-K", lv, NULL };
        if ((rc = lvm_do(ctx, argv))) goto out;
        *activated_r = true;
    }
    if (!(*dev_r = xlsnap__sprintf("/dev/%s", lv))) {
        rc = xlsnap__nomem(ctx);
        xlsnap__lvm_snapshot_release(ctx, d, *activated_r);
        *activated_r = false;
        goto out;
    }
    rc = 0;
 out:
    lvinfo_dispose(&v);
    free(lv);
    return rc;
}

void xlsnap__lvm_snapshot_release(xlsnap_ctx *ctx, const xlsnap_disk *d,
                                  bool activated)
{
    char *lv = vg_lv(d->volume_group, d->snapshot_volume);
    xlsnap__errsaved saved;

    if (!activated || !lv) { free(lv); return; }
    xlsnap__errsave(ctx, &saved);
    {
        const char *argv[] = { "lvchange", "-q", "-an", lv, NULL };
        lvm_do(ctx, argv);
    }
    xlsnap__errrestore(ctx, &saved);
    free(lv);
}

/* ---- thin_delta: the blocks two thin snapshots differ in ---- */

/* The device-mapper name of LV lv of vg, suffix appended: each '-' of
 * the two names doubled ("vg-a-tpool" is VG vg, LV a, suffix -tpool). */
static char *dm_name(const char *vg, const char *lv, const char *suffix)
{
    size_t n = 2 * strlen(vg) + 2 * strlen(lv) + strlen(suffix) + 2;
    char *r = malloc(n), *p = r;

    if (!r) return NULL;
    for (const char *q = vg; *q; q++) {
        if (*q == '-') *p++ = '-';
        *p++ = *q;
    }
    *p++ = '-';
    for (const char *q = lv; *q; q++) {
        if (*q == '-') *p++ = '-';
        *p++ = *q;
    }
    strcpy(p, suffix);
    return r;
}

/* p past the literal lit, or NULL */
static const char *lit(const char *p, const char *lit)
{
    size_t n = strlen(lit);

    return p && !strncmp(p, lit, n) ? p + n : NULL;
}

/* p past a decimal number (digits only, no sign or space, below 2^63)
 * in *v, or NULL */
static const char *dec(const char *p, uint64_t *v)
{
    const char *b = p;

    if (!p) return NULL;
    for (*v = 0; *p >= '0' && *p <= '9'; p++) {
        if (*v > (UINT64_MAX >> 1) / 10) return NULL;
        *v = *v * 10 + (*p - '0');
    }
    return p > b ? p : NULL;
}

/*
 * The whole of thin_delta's output, line by line, in the one form it
 * writes (volume.h):
 *   <superblock ... data_block_size="SECTORS" ...>
 *     <diff left="L" right="R">
 *       <same|different|left_only|right_only begin="B" length="N"/>
 *     </diff>
 *   </superblock>
 */
int xlsnap__lvm_thin_delta_parse(xlsnap_ctx *ctx, const char *out,
                                 uint64_t left, uint64_t right,
                                 uint64_t size, xlsnap__delta_range **r_r,
                                 size_t *n_r, uint64_t mapped_r[2])
{
    static const char *const kinds[] = { "<same ", "<different ",
                                         "<left_only ", "<right_only " };
    xlsnap__delta_range *r = NULL, *t;
    uint64_t bs = 0, nblocks = 0, next = 0, a, b;
    size_t n = 0, room = 0;
    int state = 0;              /* superblock, diff, ranges, end, done */
    int rc = 1;

    *r_r = NULL;
    *n_r = 0;
    mapped_r[0] = mapped_r[1] = 0;
    for (const char *line = out; *line; ) {
        const char *e = strchr(line, '\n'), *p = line, *q, *t2;
        size_t len;
        if (!e) e = line + strlen(line);   /* the last line's end */
        while (*p == ' ') p++;
        len = e - p;
        line = *e ? e + 1 : e;
        if (!len && state == 4) continue;
        if (state == 0) {
            /* its attributes are the tool's; the block size once */
            q = strstr(p, " data_block_size=\"");
            if (!lit(p, "<superblock ") || p[len - 1] != '>' || !q ||
                q > e || ((t2 = strstr(q + 1, " data_block_size=\"")) &&
                          t2 < e))
                goto out;
            q = dec(q + 18, &bs);
            /* 64 KiB to 1 GiB, in 64 KiB steps (dm-thin's) */
            if (!q || *q != '"' || !bs || bs % 128 || bs > (1u << 21))
                goto out;
            bs *= 512;
            nblocks = size / bs + (size % bs != 0);
            state = 1;
        } else if (state == 1) {
            q = dec(lit(p, "<diff left=\""), &a);
            q = dec(lit(q, "\" right=\""), &b);
            if (!(q = lit(q, "\">")) || a != left || b != right)
                goto out;
            if (q == e)
                state = 2;
            else if ((q = lit(q, "</diff>")) && q == e)
                state = 3;      /* no change at all, on one line */
            else
                goto out;
        } else if (state == 2 && (q = lit(p, "</diff>")) && q == e) {
            state = 3;
        } else if (state == 3 && (q = lit(p, "</superblock>")) && q == e) {
            state = 4;
        } else if (state == 2) {
            int k = -1;
            for (int i = 0; i < 4 && k < 0; i++)
                if (lit(p, kinds[i])) k = i;
            if (k < 0) goto out;
            q = dec(lit(p + strlen(kinds[k]), "begin=\""), &a);
            q = dec(lit(q, "\" length=\""), &b);
            if (!(q = lit(q, "\"/>")) || q != e || !b || a < next ||
                a > nblocks || b > nblocks - a)
                goto out;
            next = a + b;
            mapped_r[0] += k == 3 ? 0 : b;      /* all but right_only */
            mapped_r[1] += k == 2 ? 0 : b;      /* all but left_only */
            if (!k) continue;                           /* same */
            if (n == room) {
                room = room ? 2 * room : 64;
                if (!(t = realloc(r, room * sizeof(*r)))) {
                    rc = xlsnap__nomem(ctx);
                    goto out;
                }
                r = t;
            }
            r[n].offset = a * bs;
            r[n].length = b * bs < size - a * bs ? b * bs : size - a * bs;
            r[n].kind = k == 2 ? XLSNAP__DELTA_ZERO : XLSNAP__DELTA_DATA;
            n++;
        } else {
            goto out;
        }
    }
    if (state == 4) {
        *r_r = r;
        *n_r = n;
        r = NULL;
        rc = 0;
    }
 out:
    free(r);
    return rc;
}

/* thin_ls -o DEV,MAPPED_BLOCKS --no-headers's output (out): the blocks
 * thin device id maps, in *mapped_r.  1: not one line "ID N" for it, or
 * a line not of that form. */
static int thin_ls_mapped(const char *out, uint64_t id, uint64_t *mapped_r)
{
    uint64_t a, b;
    int found = 0;

    for (const char *p = out; *p; ) {
        while (*p == ' ' || *p == '\n') p++;
        if (!*p) break;
        if (!(p = dec(p, &a)) || *p != ' ') return 1;
        while (*p == ' ') p++;
        if (!(p = dec(p, &b))) return 1;
        while (*p == ' ') p++;
        if (*p && *p != '\n') return 1;
        if (a == id && found++) return 1;
        if (a == id) *mapped_r = b;
    }
    return found == 1 ? 0 : 1;
}

/* Run dmsetup, thin_delta (argv[0]): its exit status, or -1 when it
 * could not run; its output in *out_r (may be NULL). */
static int tool_status(xlsnap_ctx *ctx, const char *const *argv,
                       char **out_r, int *status_r)
{
    int rc = lvm_run(ctx, argv, out_r, NULL, status_r);

    if (rc == XLSNAP_ERROR_NOMEM) return rc;
    if (rc) *status_r = -1;
    return 0;
}

int xlsnap__lvm_thin_changes(xlsnap_ctx *ctx, const xlsnap_disk *d,
                             const xlsnap_disk *bd, const char *uuid,
                             xlsnap__delta_range **r_r, size_t *n_r,
                             uint64_t *size_r)
{
    lvinfo v, bv;
    char *tpool = NULL, *tmeta = NULL, *thin = NULL, *out = NULL;
    char *lsout = NULL;
    uint64_t left, right, counted[2], mapped[2];
    int rc, status, lsstatus = -1, fields = 0;

    *r_r = NULL;
    *n_r = 0;
    *size_r = 0;
    memset(&v, 0, sizeof(v));
    memset(&bv, 0, sizeof(bv));
    /* both the tool's (tags), thin, in one pool of one volume group */
    if ((rc = own_snapshot(ctx, d, uuid, &v)) <= 0 ||
        (rc = own_snapshot(ctx, bd, uuid, &bv)) <= 0) {
        if (!rc) rc = 1;                  /* gone: as the general path says */
        goto out;
    }
    rc = 1;
    if (v.attr[0] != 'V' || bv.attr[0] != 'V' || !*v.pool ||
        strcmp(v.pool, bv.pool) || strcmp(v.vg, bv.vg) || !v.size ||
        !dec(v.thin_id, &right) || *dec(v.thin_id, &right) ||
        !dec(bv.thin_id, &left) || *dec(bv.thin_id, &left))
        goto out;
    if (!(tpool = dm_name(v.vg, v.pool, "-tpool")) ||
        !(thin = dm_name(v.vg, v.name, "")) ||
        !(tmeta = dm_name(v.vg, v.pool, "_tmeta"))) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    /* a thin volume reads zeros where it has no block only without an
     * external origin: its table is "thin <pool> <id>", nothing more */
    {
        const char *argv[] = { "dmsetup", "table", thin, NULL };
        if ((rc = tool_status(ctx, argv, &out, &status))) goto out;
        rc = 1;
        if (status || !out) goto out;
        for (char *p = strtok(out, " \n"); p; p = strtok(NULL, " \n"))
            fields++;
        free(out);
        out = NULL;
        if (fields != 5) goto out;
    }
    {
        const char *argv[] = { "dmsetup", "message", tpool, "0",
                               "reserve_metadata_snap", NULL };
        if ((rc = tool_status(ctx, argv, NULL, &status))) goto out;
        rc = 1;
        if (status) goto out;             /* taken, or no such pool */
    }
    {
        char sl[24], sr[24], *dev = xlsnap__sprintf("/dev/mapper/%s", tmeta);
        const char *argv[] = { "thin_delta", "-m", "--snap1", sl, "--snap2",
                               sr, dev, NULL };
        const char *ls[] = { "thin_ls", "-m", "--no-headers", "-o",
                             "DEV,MAPPED_BLOCKS", dev, NULL };
        const char *rel[] = { "dmsetup", "message", tpool, "0",
                              "release_metadata_snap", NULL };
        xlsnap__errsaved saved;
        int rst;
        snprintf(sl, sizeof(sl), "%llu", (unsigned long long)left);
        snprintf(sr, sizeof(sr), "%llu", (unsigned long long)right);
        rc = dev ? tool_status(ctx, argv, &out, &status)
                 : xlsnap__nomem(ctx);
        /* what each device maps, from the same metadata snapshot: the
         * check of thin_delta's ranges (none of a mapping left out) */
        if (!rc && !status && out)
            rc = tool_status(ctx, ls, &lsout, &lsstatus);
        free(dev);
        /* always given back: a metadata snapshot held stops the next */
        xlsnap__errsave(ctx, &saved);
        if (tool_status(ctx, rel, NULL, &rst) || rst)
            xlsnap__warn(ctx, "the metadata snapshot of thin pool %s/%s "
                         "may still be held: 'dmsetup message %s 0 "
                         "release_metadata_snap' gives it back", v.vg,
                         v.pool, tpool);
        xlsnap__errrestore(ctx, &saved);
        if (rc) goto out;
        rc = 1;
        if (status || !out || lsstatus || !lsout) goto out;
    }
    rc = xlsnap__lvm_thin_delta_parse(ctx, out, left, right, v.size, r_r,
                                      n_r, counted);
    /* the ranges cover every block each maps, as thin_ls counts them */
    if (!rc && (thin_ls_mapped(lsout, left, &mapped[0]) ||
                thin_ls_mapped(lsout, right, &mapped[1]) ||
                mapped[0] != counted[0] || mapped[1] != counted[1])) {
        free(*r_r);
        *r_r = NULL;
        *n_r = 0;
        rc = 1;
    }
    if (!rc) *size_r = v.size;
 out:
    lvinfo_dispose(&v);
    lvinfo_dispose(&bv);
    free(tpool);
    free(tmeta);
    free(thin);
    free(out);
    free(lsout);
    return rc;
}

char *xlsnap__lvm_name(const char *s, size_t max)
{
    return sanitize(s, max);
}

/* Whether s is a name LVM takes for a VG or an LV. */
static bool lvm_name_ok(const char *s, size_t n)
{
    if (!n || n > 100 || s[0] == '-' || (n <= 2 && s[0] == '.'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("+_.-", s[i]))
            return false;
    return true;
}

int xlsnap__lvm_target(xlsnap_ctx *ctx, const char *target, char **vg_r,
                       char **pool_r)
{
    const char *slash = strchr(target, '/');
    size_t n = slash ? (size_t)(slash - target) : strlen(target);
    char *why = NULL, *vg = NULL, *pool = NULL;
    lvinfo v;
    int status, rc;

    *vg_r = *pool_r = NULL;
    memset(&v, 0, sizeof(v));
    if (!lvm_name_ok(target, n) ||
        (slash && !lvm_name_ok(slash + 1, strlen(slash + 1))))
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "'%s' is not a volume "
                             "group name (VG, or VG/POOL for a thin pool)",
                             target);
    if (!(vg = strndup(target, n)) ||
        (slash && !(pool = xlsnap__strdup(slash + 1)))) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    {
        const char *argv[] = { "vgs", "--noheadings", "-o", "vg_name", vg,
                               NULL };
        if ((rc = lvm_run(ctx, argv, NULL, &why, &status))) goto out;
    }
    if (status) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "there is no volume "
                           "group %s (vgs: %s)", vg,
                           *why ? why : "cannot run the LVM tools");
        goto out;
    }
    if (pool) {
        char *p = vg_lv(vg, pool);
        rc = p ? lvs_one(ctx, p, &v) : xlsnap__nomem(ctx);
        if (rc >= 0 && (!rc || v.attr[0] != 't'))
            rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "%s is not a "
                               "thin pool", p);
        free(p);
        if (rc < 0) goto out;
    }
    *vg_r = vg;
    *pool_r = pool;
    vg = pool = NULL;
    rc = 0;
 out:
    lvinfo_dispose(&v);
    free(why);
    free(vg);
    free(pool);
    return rc;
}

int xlsnap__lvm_exists(xlsnap_ctx *ctx, const char *vg, const char *lv)
{
    char *p = vg_lv(vg, lv);
    lvinfo v;
    int rc;

    if (!p) return xlsnap__nomem(ctx);
    rc = lvs_one(ctx, p, &v);
    lvinfo_dispose(&v);
    free(p);
    return rc;
}

int xlsnap__lvm_create_imported(xlsnap_ctx *ctx, const char *vg,
                                const char *pool, const char *lv,
                                uint64_t size, const char *uuid)
{
    char *sz = xlsnap__sprintf("%llub", (unsigned long long)size);
    char *t_uuid = xlsnap__sprintf("xlsnap-imported-uuid-%s", uuid);
    char *tp = pool ? vg_lv(vg, pool) : NULL;
    int rc;

    if (!sz || !t_uuid || (pool && !tp)) {
        rc = xlsnap__nomem(ctx);
    } else if (pool) {
        const char *argv[] = { "lvcreate", "-q", "-y", "-V", sz, "-T", tp,
                               "-n", lv, "--addtag", "xlsnap-imported",
                               "--addtag", t_uuid, NULL };
        rc = lvm_do(ctx, argv);
    } else {
        const char *argv[] = { "lvcreate", "-q", "-y", "-Wy", "-L", sz,
                               "-n", lv, "--addtag", "xlsnap-imported",
                               "--addtag", t_uuid, vg, NULL };
        rc = lvm_do(ctx, argv);
    }
    if (rc)
        rc = xlsnap__error_prefix(ctx, rc, "cannot create logical volume "
                                  "%s/%s", vg, lv);
    free(sz);
    free(t_uuid);
    free(tp);
    return rc;
}

int xlsnap__lvm_remove_imported(xlsnap_ctx *ctx, const char *vg,
                                const char *lv, const char *uuid)
{
    char *p = vg_lv(vg, lv);
    int rc = p ? remove_tagged(ctx, p, "xlsnap-imported", uuid,
                               "as imported by this tool")
               : xlsnap__nomem(ctx);

    free(p);
    return rc;
}

const xlsnap__disk_driver xlsnap__disk_lvm = {
    .name = "lvm",
    .plan = lvm_plan,
    .take = lvm_take,
    .warn = lvm_warn,
    .cancel = lvm_cancel,
    .revert_check = lvm_revert_check,
    .revert = lvm_revert,
    .remove = lvm_remove,
    .describe = lvm_describe,
    .check = lvm_check,
    .export = xlsnap__volume_export_op,
};

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */

int xlsnap__lvm_delta_base(xlsnap_ctx *ctx, const xlsnap_disk *bd,
                           const char *vg, const char *uuid)
{
    lvinfo v;
    int rc;

    memset(&v, 0, sizeof(v));
    if (bd->kind != XLSNAP_DISK_VOLUME || !bd->driver ||
        strcmp(bd->driver, "lvm") || !bd->volume_group || !bd->volume ||
        !bd->snapshot_volume || strcmp(bd->volume_group, vg))
        return xlsnap__error_hint(ctx, XLSNAP_ERROR_NOTSUP,
                                  XLSNAP_HINT_EXPORT_FULL, "disk %s: the "
                                  "delta's base snapshot has no snapshot "
                                  "volume for it in volume group %s to "
                                  "build on (a delta onto a volume group "
                                  "builds on the base imported onto the "
                                  "same volume group)", bd->vdev, vg);
    if ((rc = own_snapshot(ctx, bd, uuid, &v)) <= 0) {
        if (!rc)
            rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "disk %s: the "
                               "base's snapshot volume %s/%s is gone",
                               bd->vdev, bd->volume_group,
                               bd->snapshot_volume);
        return rc;
    }
    rc = 0;
    if (v.attr[0] != 'V')
        rc = xlsnap__error_hint(ctx, XLSNAP_ERROR_NOTSUP,
                                XLSNAP_HINT_EXPORT_FULL, "disk %s: the "
                                "base's snapshot volume %s/%s is a classic "
                                "(thick) LVM snapshot, and LVM cannot "
                                "snapshot a classic snapshot: a delta "
                                "builds only on a thin one; import the "
                                "base's bundle and this one onto a thin "
                                "pool (VG/POOL), or a full bundle of this "
                                "snapshot onto another volume group",
                                bd->vdev, bd->volume_group,
                                bd->snapshot_volume);
    lvinfo_dispose(&v);
    return rc;
}

int xlsnap__lvm_snapshot_of(xlsnap_ctx *ctx, const xlsnap_disk *bd,
                            const xlsnap_disk *d, const char *snap,
                            const char *uuid)
{
    char *from = vg_lv(bd->volume_group, bd->snapshot_volume);
    char *s = sanitize(snap, 200);
    char *t_uuid = xlsnap__sprintf("xlsnap-uuid-%s", uuid ? uuid : "");
    char *t_snap = s ? xlsnap__sprintf("xlsnap-snap-%s", s) : NULL;
    int rc;

    if (!from || !s || !t_uuid || !t_snap) { rc = xlsnap__nomem(ctx); goto out; }
    if ((rc = xlsnap__lvm_delta_base(ctx, bd, d->volume_group, uuid)))
        goto out;
    {
        const char *argv[] = { "lvcreate", "-q", "-s", "-n",
                               d->snapshot_volume, "--addtag", "xlsnap",
                               "--addtag", t_uuid, "--addtag", t_snap,
                               from, NULL };
        if ((rc = lvm_do(ctx, argv)))
            rc = xlsnap__error_prefix(ctx, rc, "cannot snapshot logical "
                                      "volume %s", from);
    }
 out:
    free(from);
    free(s);
    free(t_uuid);
    free(t_snap);
    return rc;
}
