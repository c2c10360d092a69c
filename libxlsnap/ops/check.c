/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * check.c - find and repair what interrupted operations left behind
 *
 * Per domain, under its lock:
 *  1. the state dir: snapshot directories without a record (a create
 *     killed before its first record), stale temporary files and memory
 *     images no record names, staging dirs of killed exports (and,
 *     checking every domain, of killed imports);
 *  2. a revert intent: rolled back when the domain was never destroyed,
 *     else completed (disks put back, the snapshot made current);
 *  3. records "deleting": the delete is finished (delete.c);
 *  4. records "preparing": completed when every disk part exists (the
 *     memory image was finished before the disks were taken; one not
 *     yet synced is synced first, unless the host restarted since, or
 *     its sync failed: rolled back) and the data verifies (verify.c:
 *     sizes and SHA-256 the parts file records, qemu-img check of
 *     imported images, the memory image's header), else rolled back;
 *     a guest left suspended or paused runs again, and an overlay a
 *     running QEMU writes to is never removed;
 *  5. ready records: memory image, images, internal snapshots (QMP for
 *     images a running QEMU has open, qemu-img otherwise) and external
 *     backing images must exist (cannot be repaired: reported); a
 *     classic LVM snapshot volume filling up is reported;
 *  6. parent cycles (the oldest record of each is made a root, see
 *     check_scan.c), parents that do not exist (made roots) and more
 *     than one current snapshot (the newest stays current);
 *  7. files next to the domain's images named as the tool names a
 *     snapshot's image that nothing names (check_scan.c): reported,
 *     never removed (cannot be repaired safely: an admin's file may
 *     have that name);
 *  8. LVM volumes tagged as this domain's snapshot volumes that no
 *     record names: removed (tags checked again first); the old origin
 *     an interrupted thin revert left: removed beside the new origin,
 *     else put back, when the revert tagged it (backend/lvm.c).
 *  9. reflink copies marked as this domain's that no record names, and
 *     temporary copies of interrupted reverts: removed when marked
 *     (backend/reflink.c).
 */
#include "internal.h"
#include "backend/disk.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

void xlsnap_problem_init(xlsnap_problem *p)
{
    memset(p, 0, sizeof(*p));
}

void xlsnap_problem_dispose(xlsnap_problem *p)
{
    free(p->domain_uuid);
    free(p->domain_name);
    free(p->snapshot);
    free(p->kind);
    free(p->message);
    free(p->repair);
    xlsnap_problem_init(p);
}

void xlsnap_problem_list_free(xlsnap_problem *list, int nr)
{
    if (!list) return;
    for (int i = 0; i < nr; i++) xlsnap_problem_dispose(&list[i]);
    free(list);
}

typedef struct {
    xlsnap_ctx *ctx;
    const xlsnap_domain *dom;
    bool repair;
    xlsnap_problem *v;
    int n;
    xlsnap__strset live, known;
    bool nomem;         /* a finding could not be recorded */
} checker;

/* What a disk driver's op gets for a disk of record sn. */
static xlsnap__disk_op disk_op(const checker *c, const xlsnap_snapshot *sn)
{
    xlsnap__disk_op op = XLSNAP__DISK_OP(c->ctx, sn->domain_uuid);

    op.dom = c->dom;
    op.sn = sn;
    op.running = c->dom->domid >= 0;
    op.live = &c->live;
    op.known = &c->known;
    return op;
}

/* Record a problem; returns its index (for fixed()). */
static int found(checker *c, const char *snap, const char *kind,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int found(checker *c, const char *snap, const char *kind,
                 const char *fmt, ...)
{
    xlsnap_problem *p;
    va_list ap;

    p = realloc(c->v, (c->n + 1) * sizeof(*c->v));
    if (!p) { c->nomem = true; return -1; }
    c->v = p;
    p = &c->v[c->n];
    xlsnap_problem_init(p);
    p->domain_uuid = xlsnap__strdup(c->dom->uuid);
    p->domain_name = xlsnap__strdup(c->dom->name);
    p->snapshot = xlsnap__strdup(snap);
    p->kind = xlsnap__strdup(kind);
    if (!p->domain_uuid != !c->dom->uuid || !p->domain_name != !c->dom->name ||
        !p->snapshot != !snap || !p->kind != !kind)
        c->nomem = true;
    va_start(ap, fmt);
    if (vasprintf(&p->message, fmt, ap) < 0) {
        p->message = NULL;
        c->nomem = true;
    }
    va_end(ap);
    return c->n++;
}

static void fixed(checker *c, int i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fixed(checker *c, int i, const char *fmt, ...)
{
    va_list ap;

    if (i < 0) return;          /* found() ran out of memory */
    va_start(ap, fmt);
    if (vasprintf(&c->v[i].repair, fmt, ap) < 0) {
        c->v[i].repair = NULL;
        c->nomem = true;
    }
    va_end(ap);
    c->v[i].repaired = true;
}

/* A repair step failed: say why on the problem. */
static void not_fixed(checker *c, int i)
{
    if (i < 0) return;          /* found() ran out of memory */
    c->v[i].repair = xlsnap__sprintf("repair failed: %s", c->ctx->errbuf);
    if (!c->v[i].repair) c->nomem = true;
}

/* A record repair removed: out of the list. */
static void drop(xlsnap_snapshot *l, int *nr, int k)
{
    xlsnap_snapshot_dispose(&l[k]);
    memmove(&l[k], &l[k + 1], (*nr - k - 1) * sizeof(*l));
    (*nr)--;
}

static bool exists(const char *path)
{
    return path && access(path, F_OK) == 0;
}

/* Remove an image we made, unless a running QEMU or a record uses it. */
static int remove_image(checker *c, const char *img)
{
    if (!exists(img) || xlsnap__set_has(&c->live, img)) return 0;
    return xlsnap__unlink(c->ctx, img, false);
}

/* Make l[cur] the only current snapshot (cur < 0: none). */
static int make_current(checker *c, xlsnap_snapshot *l, int nr, int cur)
{
    return xlsnap__set_current(c->ctx, l, nr, cur, xlsnap__store_write);
}

/* --- 1. the state dir ----------------------------------------------- */

/* Staging dirs of kind (export: in the domain dir of uuid; import, uuid
 * NULL: in the state dir) that no operation holds. */
static int check_staging(checker *c, const char *uuid, const char *kind)
{
    char **v = NULL;
    int n = 0, rc;

    rc = xlsnap__store_staging_stale(c->ctx, uuid, kind, &v, &n);
    for (int k = 0; k < n; k++) {
        int i = found(c, NULL, "orphan", "%s is the staging dir of an "
                      "interrupted %s", v[k], kind);
        if (c->repair) {
            if (!xlsnap__store_staging_remove(c->ctx, v[k]))
                fixed(c, i, "removed %s", v[k]);
            else
                not_fixed(c, i);
        }
        free(v[k]);
    }
    free(v);
    return rc;
}

static void check_files(checker *c, const char *sub,
                        const xlsnap_snapshot *sn)
{
    const char *const *stale = xlsnap__store_snapshot_extras;
    const char *memory = sn->memory;

    for (size_t k = 0; stale[k]; k++) {
        char *p;
        /* d1: the parts file belongs to the record next to it; the
         * unsynced mark to a record still preparing (check_preparing) */
        if (!strcmp(stale[k], XLSNAP__PARTS_FILE)) continue;
        if (!strcmp(stale[k], XLSNAP__UNSYNCED_FILE) &&
            sn->state == XLSNAP_STATE_PREPARING)
            continue;
        p = xlsnap__sprintf("%s/%s", sub, stale[k]);
        if (!p) {
            c->nomem = true;
            continue;
        }
        if (exists(p) && !(memory && !strcmp(memory, p))) {
            int i = found(c, NULL, "orphan", "%s is not part of any "
                          "snapshot (left by an interrupted operation)", p);
            if (c->repair) {
                if (unlink(p) == 0) fixed(c, i, "removed %s", p);
                else not_fixed(c, i);
            }
        }
        free(p);
    }
}

static int check_dir(checker *c, xlsnap_snapshot *l, int nr)
{
    char *dir = NULL, *tmp = NULL;
    DIR *d = NULL;
    struct dirent *de;
    xlsnap__tree t;
    int rc;

    xlsnap__tree_init(&t);
    if ((rc = xlsnap__tree_build(c->ctx, &t, l, nr)) ||
        (rc = xlsnap__domain_dir(c->ctx, c->dom->uuid, &dir)) ||
        (rc = xlsnap__store_intent_tmp_path(c->ctx, c->dom->uuid,
                                            XLSNAP__REVERT_INTENT, &tmp)) ||
        (rc = check_staging(c, c->dom->uuid, "export")))
        goto out;
    if (!(d = opendir(dir))) {
        rc = xlsnap__error_errno(c->ctx, errno, "cannot open %s", dir);
        goto out;
    }
    if (exists(tmp)) {
        int i = found(c, NULL, "orphan", "%s is a half-written intent (an "
                      "operation was killed before it began)", tmp);
        if (c->repair && unlink(tmp) == 0) fixed(c, i, "removed %s", tmp);
    }
    while ((de = readdir(d))) {
        char *sub;
        int k;
        if (de->d_name[0] == '.') continue;
        sub = xlsnap__sprintf("%s/%s", dir, de->d_name);
        if (!sub) {
            rc = xlsnap__nomem(c->ctx);
            goto out;
        }
        k = xlsnap__tree_find(&t, de->d_name);
        if (k < 0) {
            int i = found(c, de->d_name, "orphan", "%s has no record (a "
                          "create was killed before its record was "
                          "written)", sub);
            if (c->repair) {
                if (!xlsnap__store_remove(c->ctx, c->dom->uuid, de->d_name))
                    fixed(c, i, "removed %s", sub);
                else
                    not_fixed(c, i);
            }
        } else {
            check_files(c, sub, &l[k]);
        }
        free(sub);
    }
 out:
    xlsnap__tree_dispose(&t);
    if (d) closedir(d);
    free(tmp);
    free(dir);
    return rc;
}

/* --- 2. revert intent ----------------------------------------------- */

/* The revert intent: the snapshot, the domain id it ran under, and per
 * disk the fresh image made, the configured path and the name its old
 * active layer moved to (the last two: when the revert kept the path). */
typedef struct {
    yajl_val root, name, domid, fresh, paths, moved;
} revert_intent;

static yajl_val nth(yajl_val a, int j)
{
    return a && (size_t)j < a->u.array.len ? a->u.array.values[j] : NULL;
}

static int clear_revert_intent(checker *c)
{
    return xlsnap__intent_clear(c->ctx, c->dom->uuid, XLSNAP__REVERT_INTENT);
}

static void revert_malformed(checker *c)
{
    int i = found(c, NULL, "interrupted-revert", "the revert intent is "
                  "malformed (killed while it was written)");

    if (c->repair && !clear_revert_intent(c))
        fixed(c, i, "removed it (nothing had been changed)");
}

/* Killed before the domain was destroyed: nothing changed but the fresh
 * images made. */
static void revert_not_begun(checker *c, const revert_intent *ri)
{
    const char *name = ri->name->u.string;
    int i = found(c, name, "interrupted-revert", "a revert to '%s' was "
                  "interrupted before the domain was destroyed", name);
    int rc = 0;

    if (!c->repair) return;
    for (size_t j = 0; j < ri->fresh->u.array.len; j++) {
        yajl_val f = ri->fresh->u.array.values[j];
        if (YAJL_IS_STRING(f) && (rc = remove_image(c, f->u.string)))
            break;
    }
    if (!rc) rc = clear_revert_intent(c);
    if (rc) not_fixed(c, i);
    else fixed(c, i, "rolled back: the domain runs on unchanged");
}

static void revert_target_gone(checker *c, const char *name)
{
    int i = found(c, name, "interrupted-revert", "a revert to '%s' was "
                  "interrupted, and that snapshot is gone", name);

    if (c->repair && !clear_revert_intent(c))
        fixed(c, i, "removed the intent");
}

/* The reverted domain runs: only "current" may be missing. */
static void revert_restarted(checker *c, xlsnap_snapshot *l, int nr, int k)
{
    const char *name = l[k].name;
    int i = found(c, name, "interrupted-revert", "a revert to '%s' was "
                  "interrupted after the domain was restarted", name);
    int rc;

    if (!c->repair) return;
    rc = make_current(c, l, nr, k);
    if (!rc) rc = clear_revert_intent(c);
    if (rc) not_fixed(c, i);
    else fixed(c, i, "completed: '%s' is current", name);
}

/* Disk j of the snapshot reverted to, put back after the domain went:
 * its driver's revert again, as the intent planned it (it finishes a
 * half-done one), but a fresh image goes (the domain stays off). */
static int revert_disk_back(checker *c, const revert_intent *ri,
                            xlsnap_snapshot *l, int nr, int k, int j)
{
    const xlsnap_disk *d = &l[k].disks[j];
    const xlsnap__disk_driver *drv = xlsnap__disk_driver_ops(d);
    yajl_val f = nth(ri->fresh, j), pa = nth(ri->paths, j),
             mv = nth(ri->moved, j);
    xlsnap__disk_revert rv = { 0 };
    xlsnap__disk_op op = disk_op(c, &l[k]);
    int rc;

    if (pa && mv && YAJL_IS_STRING(pa) && YAJL_IS_STRING(mv)) {
        rv.path = pa->u.string;
        rv.moved = mv->u.string;
    } else if (f && YAJL_IS_STRING(f)) {
        return remove_image(c, f->u.string);
    }
    if (!drv || !drv->revert) return 0;
    op.rv = &rv;
    if ((rc = drv->revert(&op, d))) return rc;
    /* records naming the old image follow it to its new name */
    return rv.path ? xlsnap__relocate_image(c->ctx, l, nr, -1, rv.path,
                                            rv.moved)
                   : 0;
}

/* The domain is gone: put every disk back, leave it off. */
static void revert_finish(checker *c, const revert_intent *ri,
                          xlsnap_snapshot *l, int nr, int k)
{
    const char *name = l[k].name;
    int i = found(c, name, "interrupted-revert", "a revert to '%s' was "
                  "interrupted after the domain was destroyed; the domain "
                  "is off and its disks may be half reverted", name);
    int rc = 0;

    if (!c->repair) return;
    for (int j = 0; !rc && j < l[k].num_disks; j++)
        rc = revert_disk_back(c, ri, l, nr, k, j);
    if (!rc) rc = make_current(c, l, nr, k);
    if (!rc) rc = clear_revert_intent(c);
    if (rc) not_fixed(c, i);
    else fixed(c, i, "completed: disks put back, '%s' is current; the "
               "domain stays off (a revert starts it)", name);
}

static int check_revert(checker *c, xlsnap_snapshot *l, int nr)
{
    const char *sp[] = { "snapshot", NULL }, *dp[] = { "domid", NULL },
               *fp[] = { "fresh", NULL }, *pp[] = { "paths", NULL },
               *mp[] = { "moved", NULL };
    revert_intent ri = { 0 };
    char *json = NULL, eb[128];
    xlsnap__domstate st = XLSNAP__DOM_GONE;
    int rc, k;

    rc = xlsnap__intent_read(c->ctx, c->dom->uuid, XLSNAP__REVERT_INTENT,
                             &json);
    if (rc || !json) goto out;
    if ((ri.root = yajl_tree_parse(json, eb, sizeof(eb)))) {
        ri.name = yajl_tree_get(ri.root, sp, yajl_t_string);
        ri.domid = yajl_tree_get(ri.root, dp, yajl_t_number);
        ri.fresh = yajl_tree_get(ri.root, fp, yajl_t_array);
        ri.paths = yajl_tree_get(ri.root, pp, yajl_t_array);
        ri.moved = yajl_tree_get(ri.root, mp, yajl_t_array);
    }
    if (!ri.name || !ri.domid || !ri.fresh) {
        revert_malformed(c);
        goto out;
    }
    k = xlsnap__list_find(l, nr, ri.name->u.string);
    if (c->dom->domid >= 0 &&
        (rc = xlsnap__hv_state(c->ctx, c->dom->domid, &st)))
        goto out;
    if (st != XLSNAP__DOM_GONE && c->dom->domid == YAJL_GET_INTEGER(ri.domid))
        revert_not_begun(c, &ri);
    else if (k < 0 || l[k].state != XLSNAP_STATE_READY)
        revert_target_gone(c, ri.name->u.string);
    else if (st != XLSNAP__DOM_GONE)
        revert_restarted(c, l, nr, k);
    else
        revert_finish(c, &ri, l, nr, k);
 out:
    if (ri.root) yajl_tree_free(ri.root);
    free(json);
    return rc;
}

/* --- 2b. live merge intent (issue 18, merge.c) ------------------------ */

static int check_merge(checker *c, xlsnap_snapshot *l, int nr)
{
    char *snap = NULL, *problem = NULL, *done = NULL, *im = NULL,
         *ch = NULL;
    bool back = false;
    int i, k, rc;

    rc = xlsnap__merge_recover(c->ctx, c->dom, c->repair, &snap, &problem,
                               &done, &back, &im, &ch);
    if (rc == XLSNAP_ERROR_NOMEM) goto out;
    if (!problem) {
        if (rc) found(c, NULL, "interrupted-merge", "%s", c->ctx->errbuf);
        rc = 0;
        goto out;
    }
    i = found(c, snap, "interrupted-merge", "%s", problem);
    if (!c->repair) goto out;
    if (rc) {
        not_fixed(c, i);
        rc = 0;
        goto out;
    }
    k = snap ? xlsnap__list_find(l, nr, snap) : -1;
    if (back && k >= 0 && l[k].state == XLSNAP_STATE_DELETING) {
        l[k].state = XLSNAP_STATE_READY;
        if (xlsnap__store_write(c->ctx, &l[k])) {
            not_fixed(c, i);
            goto out;
        }
    }
    /* a record naming the merged layer as the image on its own layer
     * names the one the merge went into */
    if (im && ch && xlsnap__relocate_image(c->ctx, l, nr, k, im, ch)) {
        not_fixed(c, i);
        goto out;
    }
    if (done) fixed(c, i, "%s", done);
 out:
    free(snap);
    free(problem);
    free(done);
    free(im);
    free(ch);
    return rc;
}

/* An operation of a disk driver's own that was interrupted (qcow2: a
 * create killed while a new overlay had its temporary name), before the
 * preparing record is looked at (its overlay is then at its path). */
static int check_driver_intents(checker *c)
{
    xlsnap__disk_op op = XLSNAP__DISK_OP(c->ctx, c->dom->uuid);
    int rc = 0;

    op.dom = c->dom;
    for (int d = 0; !rc && d < XLSNAP__DISK_NDRIVERS; d++) {
        const xlsnap__disk_driver *drv = xlsnap__disk_driver_at(d);
        char *snap = NULL, *problem = NULL, *done = NULL;
        int i;

        if (!drv->recover) continue;
        rc = drv->recover(&op, c->repair, &snap, &problem, &done);
        if (rc == XLSNAP_ERROR_NOMEM) goto next;
        if (!problem) {
            if (rc) found(c, NULL, "incomplete-create", "%s",
                          c->ctx->errbuf);
            rc = 0;
            goto next;
        }
        i = found(c, snap, "incomplete-create", "%s", problem);
        if (c->repair) {
            if (rc) not_fixed(c, i);
            else if (done) fixed(c, i, "%s", done);
        }
        rc = 0;
 next:
        free(snap);
        free(problem);
        free(done);
    }
    return rc;
}

/* --- 3. deleting ---------------------------------------------------- */

/* A min-heap of record indexes: the list order of the records ready to
 * be finished. */
typedef struct {
    int *v;
    int n;
} minheap;

static void heap_push(minheap *h, int x)
{
    int k = h->n++;

    while (k > 0 && h->v[(k - 1) / 2] > x) {
        h->v[k] = h->v[(k - 1) / 2];
        k = (k - 1) / 2;
    }
    h->v[k] = x;
}

static int heap_pop(minheap *h)
{
    int top = h->v[0], x = h->v[--h->n], k = 0;

    for (;;) {
        int c = 2 * k + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h->v[c + 1] < h->v[c]) c++;
        if (h->v[c] >= x) break;
        h->v[k] = h->v[c];
        k = c;
    }
    if (h->n) h->v[k] = x;
    return top;
}

/*
 * Records "deleting" are finished children first, as delete does: each
 * time, the first one in list order that has no child "deleting" left
 * (a parent cycle: the first one left).  The tree is built once and
 * each record is seen once: a record's "deleting" children are counted,
 * and a parent whose count drops to 0 becomes ready; O(n log n).
 */
static int check_deleting(checker *c, xlsnap_snapshot *l, int *nr)
{
    int n = *nr, *block = calloc(n + 1, sizeof(*block));
    bool *seen = calloc(n + 1, sizeof(*seen));
    bool *gone = calloc(n + 1, sizeof(*gone));
    minheap ready = { malloc((n + 1) * sizeof(int)), 0 };
    xlsnap__refs named = { { 0 }, NULL };
    xlsnap__tree t;
    int k, rc = 0, any = 0;

    xlsnap__tree_init(&t);
    if (!block || !seen || !gone || !ready.v) {
        rc = xlsnap__nomem(c->ctx);
        goto out;
    }
    if ((rc = xlsnap__tree_build(c->ctx, &t, l, n))) goto out;
    for (int i = 0; c->repair && i < n; i++)
        if ((rc = xlsnap__refs_add(c->ctx, &named, &l[i], 1))) goto out;
    for (int i = 0; i < n; i++) {
        int p = xlsnap__tree_parent(&t, i);
        if (l[i].state == XLSNAP_STATE_DELETING && p >= 0) block[p]++;
    }
    for (int i = 0; i < n; i++)
        if (l[i].state == XLSNAP_STATE_DELETING && !block[i])
            heap_push(&ready, i);
    for (;;) {
        int i, p, up;
        if (ready.n) {
            k = heap_pop(&ready);
        } else {
            /* a parent cycle: any one (the first) */
            while (any < n && (l[any].state != XLSNAP_STATE_DELETING ||
                               seen[any]))
                any++;
            if (any == n) break;
            k = any;
        }
        if (seen[k]) continue;
        seen[k] = true;
        /* k no longer holds its parent back */
        p = xlsnap__tree_parent(&t, k);
        if (p >= 0 && p != k && --block[p] == 0 &&
            l[p].state == XLSNAP_STATE_DELETING && !seen[p])
            heap_push(&ready, p);
        /* k's children "deleting" (only in a cycle) move up to p */
        up = 0;
        for (int j = t.child[k]; j >= 0; j = t.next[j])
            up += j != k && l[j].state == XLSNAP_STATE_DELETING && !seen[j];
        i = found(c, l[k].name, "interrupted-delete", "snapshot '%s' "
                  "was being deleted when the delete was interrupted",
                  l[k].name);
        if (!c->repair) continue;
        if (xlsnap__delete_one(c->ctx, c->dom, &t, k, 0, &c->live,
                               &c->known, &named)) {
            not_fixed(c, i);
            continue;
        }
        fixed(c, i, "finished the delete (the other snapshots keep their "
              "data)");
        gone[k] = true;
        if (p >= 0 && p != k) block[p] += up;
        if ((rc = xlsnap__refs_add(c->ctx, &named, &l[k], -1))) goto out;
    }
    /* the records finished leave the list, in one pass */
    k = 0;
    for (int i = 0; i < n; i++) {
        if (gone[i]) { xlsnap_snapshot_dispose(&l[i]); continue; }
        if (k != i) l[k] = l[i];
        k++;
    }
    *nr = k;
 out:
    xlsnap__tree_dispose(&t);
    xlsnap__refs_free(&named);
    free(ready.v);
    free(block);
    free(seen);
    free(gone);
    return rc;
}

/* --- 4. preparing --------------------------------------------------- */

/* Whether every disk part of create sn exists (each disk's driver
 * says whether its take happened). */
static int parts_exist(checker *c, const xlsnap_snapshot *sn, bool *all_r)
{
    int rc = 0;

    *all_r = sn->num_disks > 0;
    for (int k = 0; *all_r && k < sn->num_disks; k++) {
        const xlsnap_disk *d = &sn->disks[k];
        const xlsnap__disk_driver *drv = xlsnap__disk_driver_ops(d);
        xlsnap__disk_op op = disk_op(c, sn);
        char *b = NULL;
        if (drv && drv->taken) {
            if ((rc = drv->taken(&op, d, all_r))) break;
            continue;
        }
        if (!drv || !drv->check) { *all_r = false; break; }
        if ((rc = drv->check(&op, d, &b))) break;
        *all_r = !b;
        free(b);
    }
    /* an import places the memory image last */
    if (!rc && *all_r && sn->memory && !exists(sn->memory)) *all_r = false;
    return rc;
}

/* Whether the memory image of create sn may have been lost (*why_r: a
 * static reason) or can be trusted: the unsynced mark create leaves
 * until the image is synced names the boot that wrote it.  In that same
 * boot the page cache holds all of it (the create was killed, or failed
 * after the take), and sync_memory makes it durable; after a restart,
 * or once its sync failed, what reached the disk is unknown. */
static int memory_lost(checker *c, const xlsnap_snapshot *sn,
                       const char **why_r)
{
    char boot[XLSNAP__BOOT_ID_MAX], *mark = NULL;
    int rc;

    *why_r = NULL;
    if (!sn->memory) return 0;
    if ((rc = xlsnap__store_unsynced_read(c->ctx, sn->domain_uuid, sn->name,
                                          &mark)) || !mark)
        return rc;
    if (!strcmp(mark, XLSNAP__UNSYNCED_FAILED))
        *why_r = "writing its memory image to disk failed";
    else if (xlsnap__boot_id(boot) || strcmp(mark, boot))
        *why_r = "the host restarted before its memory image was synced "
                 "to disk";
    free(mark);
    return 0;
}

/* The memory image of create sn (still in this boot's page cache, see
 * memory_lost) made durable, and the unsynced mark removed. */
static int sync_memory(checker *c, const xlsnap_snapshot *sn)
{
    int fd, rc = 0;

    if (!sn->memory) return 0;
    fd = xlsnap__open_nofollow(c->ctx, AT_FDCWD, sn->memory, O_RDONLY,
                               sn->memory);
    if (fd < 0) return fd;
    if (fsync(fd) < 0)
        rc = xlsnap__error_errno(c->ctx, errno, "cannot sync %s",
                                 sn->memory);
    close(fd);
    if (!rc)
        rc = xlsnap__store_unsynced_clear(c->ctx, sn->domain_uuid, sn->name);
    return rc;
}

/* A guest create left suspended (memory saved) or paused runs again. */
static int wake(checker *c, const xlsnap_snapshot *sn, const char **what_r)
{
    xlsnap__domstate st;
    bool was_paused = sn->domstate && !strcmp(sn->domstate, "paused");
    int rc;

    *what_r = "";
    if (c->dom->domid < 0) return 0;
    if ((rc = xlsnap__hv_state(c->ctx, c->dom->domid, &st))) return rc;
    if (st == XLSNAP__DOM_SUSPENDED) {
        *what_r = "; the guest was left suspended";
        if (!c->repair) return 0;
        if (was_paused &&
            (rc = xlsnap__hv_pause(c->ctx, c->dom->domid, true)))
            return rc;
        if ((rc = xlsnap__hv_resume(c->ctx, c->dom->domid))) return rc;
        /* xl's monitor left at the suspend: ours takes over */
        xlsnap__hv_monitor(c->ctx, c->dom->domid, c->dom->name,
                           sn->config_json);
    } else if (st == XLSNAP__DOM_PAUSED && !was_paused && !sn->memory) {
        *what_r = "; the guest was left paused";
        if (c->repair) return xlsnap__hv_pause(c->ctx, c->dom->domid, false);
    }
    return 0;
}

static int complete_create(checker *c, xlsnap_snapshot *l, int nr, int k)
{
    xlsnap_snapshot *sn = &l[k];
    int rc;

    if ((rc = sync_memory(c, sn))) return rc;
    for (int j = 0; j < sn->num_disks; j++) {
        /* what the create left to do of the disk (qcow2: the domain's
         * config names the overlay QEMU writes to) */
        const xlsnap_disk *d = &sn->disks[j];
        const xlsnap__disk_driver *drv = xlsnap__disk_driver_ops(d);
        xlsnap__disk_op op = disk_op(c, sn);
        if (drv && drv->complete && (rc = drv->complete(&op, d))) return rc;
    }
    sn->state = XLSNAP_STATE_READY;
    if ((rc = xlsnap__store_write(c->ctx, sn))) return rc;
    return make_current(c, l, nr, k);
}

static int rollback_create(checker *c, xlsnap_snapshot *l, int nr, int k)
{
    xlsnap_snapshot *sn = &l[k];
    xlsnap__disk_op op = disk_op(c, sn);
    int rc;

    op.list = l;
    op.nr = nr;
    for (int j = 0; j < sn->num_disks; j++) {
        /* what the create made of the disk goes (a volume: only what
         * it tagged) */
        const xlsnap_disk *d = &sn->disks[j];
        const xlsnap__disk_driver *drv = xlsnap__disk_driver_ops(d);
        if (drv && drv->cancel && (rc = drv->cancel(&op, d))) return rc;
    }
    if (sn->memory && (rc = xlsnap__unlink(c->ctx, sn->memory, true)))
        return rc;
    return xlsnap__store_remove(c->ctx, c->dom->uuid, sn->name);
}

static int check_preparing(checker *c, xlsnap_snapshot *l, int *nr)
{
    for (int k = 0; k < *nr; k++) {
        xlsnap_snapshot *sn = &l[k];
        const char *woke = "", *lost = NULL;
        char *bad = NULL;
        bool all;
        int i, rc;

        if (sn->state != XLSNAP_STATE_PREPARING) continue;
        if ((rc = parts_exist(c, sn, &all))) return rc;
        if (all && (rc = memory_lost(c, sn, &lost))) return rc;
        if (lost) all = false;
        /* d1: complete only data that verifies (verify.c) */
        if (all && (rc = xlsnap__verify_snapshot(c->ctx, sn, &c->live,
                                                 &bad)))
            return rc;
        if (bad) all = false;
        if ((rc = wake(c, sn, &woke))) { free(bad); return rc; }
        if (lost)
            i = found(c, sn->name, "incomplete-create", "snapshot '%s' is "
                      "incomplete: its create was interrupted after its "
                      "data was taken, but %s%s", sn->name, lost, woke);
        else if (bad)
            i = found(c, sn->name, "incomplete-create", "snapshot '%s' is "
                      "incomplete: its create was interrupted, and its "
                      "data does not verify: %s%s", sn->name, bad, woke);
        else
            i = found(c, sn->name, "incomplete-create", "snapshot '%s' is "
                      "incomplete: its create was interrupted %s%s",
                      sn->name, all ? "after its data was taken"
                                    : "before all its data was taken",
                      woke);
        free(bad);
        bad = NULL;
        if (!c->repair) continue;
        rc = all ? complete_create(c, l, *nr, k)
                 : rollback_create(c, l, *nr, k);
        if (rc) {
            not_fixed(c, i);
            continue;
        }
        if (all) {
            fixed(c, i, "completed: '%s' is ready and current%s", sn->name,
                  *woke ? ", the guest runs again" : "");
        } else {
            fixed(c, i, "rolled back: removed what it had made%s",
                  *woke ? ", the guest runs again" : "");
            drop(l, nr, k--);
        }
    }
    return 0;
}

/* --- 5. ready records ----------------------------------------------- */

/* m: what is missing (malloc'd, freed here; NULL: out of memory) */
static void lost(checker *c, const xlsnap_snapshot *sn, char *m)
{
    if (!m) {
        c->nomem = true;
        return;
    }
    found(c, sn->name, "missing-data", "snapshot '%s' cannot be reverted: "
          "%s", sn->name, m);
    free(m);
}

static int check_data(checker *c, const xlsnap_snapshot *sn)
{
    int rc;

    if (sn->memory && !exists(sn->memory))
        lost(c, sn, xlsnap__sprintf("memory image %s is missing",
                                    sn->memory));
    for (int k = 0; k < sn->num_disks; k++) {
        const xlsnap_disk *d = &sn->disks[k];
        /* a qcow2 image (internal, external) whatever its "driver" */
        const xlsnap__disk_driver *drv = xlsnap__disk_driver_ops(d);
        xlsnap__disk_op op = disk_op(c, sn);
        char *why = NULL;
        if (!drv || !drv->check)
            why = xlsnap__sprintf("disk %s has the storage driver "
                                  "'%s', unknown to this version",
                                  d->vdev, d->driver ? d->driver : "");
        else if ((rc = drv->check(&op, d, &why)))
            return rc;
        if (why) lost(c, sn, why);
        else if (drv && drv->warn) {
            /* sound, but a copy-on-write store filling up */
            if ((rc = drv->warn(&op, d, &why)))
                return rc;
            if (why) {
                int i = found(c, sn->name, "filling-up", "snapshot "
                              "'%s': %s", sn->name, why);
                if (c->repair && i >= 0 &&
                    !(c->v[i].repair = xlsnap__sprintf("left as it is: "
                                                       "extend the volume "
                                                       "(lvextend)")))
                    c->nomem = true;
            }
            free(why);
        }
    }
    return 0;
}

/* --- 6. tree -------------------------------------------------------- */

/* ---- d2 (issue 19): scans in check_scan.c; begin ---------------- */

/* Parent cycles: each reported; repair makes its oldest record a root
 * (the others keep their parents: a chain under it). */
static int check_cycles(checker *c, xlsnap_snapshot *l, int nr)
{
    xlsnap__cycle *v = NULL;
    int n = 0, rc;

    if ((rc = xlsnap__scan_cycles(c->ctx, l, nr, &v, &n))) return rc;
    for (int k = 0; k < n; k++) {
        xlsnap_snapshot *s = &l[v[k].cut];
        int i = found(c, s->name, "parent-cycle", "snapshots %s form a "
                      "parent cycle", v[k].members);
        if (!c->repair) continue;
        free(s->parent);
        s->parent = NULL;
        if (xlsnap__store_write(c->ctx, s)) not_fixed(c, i);
        else fixed(c, i, "made '%s', the oldest of the cycle, a root",
                   s->name);
    }
    xlsnap__cycle_list_free(v, n);
    return 0;
}

/* ---- d2 (issue 19): end ------------------------------------------- */

/* ---- e1 (issue 19): stray images, check_scan.c; begin ------------ */

/* Files named as the tool names a snapshot's image that nothing of the
 * domain names: reported, never removed (an admin's file may have that
 * name; nothing proves the tool made it). */
static int check_strays(checker *c, const xlsnap_snapshot *l, int nr)
{
    const char *who = c->dom->name ? c->dom->name : c->dom->uuid;
    xlsnap__stray *v = NULL;
    int n = 0, rc;

    if ((rc = xlsnap__scan_strays(c->ctx, c->dom, l, nr, &c->live, &v, &n)))
        return rc;
    for (int k = 0; k < n; k++) {
        int i = found(c, NULL, "orphan", "%s is named like an image made "
                      "for a snapshot '%s' of %s, but no snapshot owns it "
                      "(if it is not yours, remove it)", v[k].path,
                      v[k].tag, who);
        if (!c->repair || i < 0) continue;
        c->v[i].repair = xlsnap__sprintf("left in place: nothing proves "
                                         "that this tool made it rather "
                                         "than an admin (a file of that "
                                         "name may be someone's data)");
        if (!c->v[i].repair) c->nomem = true;
    }
    xlsnap__stray_list_free(v, n);
    return 0;
}

/* ---- e1 (issue 19): end ------------------------------------------- */

/* LVs of the tool's no record names (issue 15): a snapshot volume tagged
 * as this domain's (xlsnap, xlsnap-uuid-<uuid>) is removed by repair;
 * the old origin an interrupted thin revert left ("-xs-old<time>") is
 * repaired once no revert is interrupted when the revert tagged it
 * (xlsnap-old, xlsnap-old-uuid-<uuid>): removed beside the new origin,
 * else put back; untagged (an older version's), only reported. */
static int check_volumes(checker *c, const xlsnap_snapshot *l, int nr)
{
    const char *who = c->dom->name ? c->dom->name : c->dom->uuid;
    xlsnap__lvm_orphan *v = NULL;
    char *intent = NULL;
    bool pending;
    int n = 0, rc;

    if ((rc = xlsnap__lvm_orphans(c->ctx, c->dom->uuid, l, nr, &v, &n)))
        return rc;
    /* an old origin is repaired only once no revert is interrupted */
    if ((rc = xlsnap__intent_read(c->ctx, c->dom->uuid,
                                  XLSNAP__REVERT_INTENT, &intent))) {
        xlsnap__lvm_orphan_list_free(v, n);
        return rc;
    }
    pending = intent != NULL;
    free(intent);
    for (int k = 0; k < n; k++) {
        int i;
        if (v[k].old) {
            bool back = false;
            i = found(c, NULL, "orphan", "logical volume %s is left from "
                      "an interrupted revert of %s (the disk's data before "
                      "that revert); remove it (lvremove) if you do not "
                      "need it", v[k].volume, who);
            if (!c->repair || i < 0) continue;
            if (v[k].tagged && !pending) {
                if (xlsnap__lvm_repair_old(c->ctx, v[k].volume,
                                           c->dom->uuid, &back))
                    not_fixed(c, i);
                else if (back)
                    fixed(c, i, "put back as the disk's volume: the revert "
                          "was killed before it made the new one");
                else
                    fixed(c, i, "removed logical volume %s: the revert it "
                          "is left from had made the new one",
                          v[k].volume);
                continue;
            }
            c->v[i].repair = xlsnap__sprintf("left in place: it holds "
                                             "the disk's data of before "
                                             "the revert%s", pending
                                             ? ", and that revert is still "
                                               "interrupted" : "");
            if (!c->v[i].repair) c->nomem = true;
            continue;
        }
        i = found(c, NULL, "orphan", "logical volume %s is tagged as a "
                  "snapshot volume of %s, but no snapshot names it",
                  v[k].volume, who);
        if (!c->repair) continue;
        if (xlsnap__lvm_remove_orphan(c->ctx, v[k].volume, c->dom->uuid))
            not_fixed(c, i);
        else
            fixed(c, i, "removed logical volume %s", v[k].volume);
    }
    xlsnap__lvm_orphan_list_free(v, n);
    return 0;
}

/* Files of the reflink driver no record names (issue 15): a snapshot
 * copy with this domain's mark, and a temporary copy of a revert whose
 * process is gone; repair removes them when marked as this domain's
 * (the mark read again first); an unmarked temporary copy (made before
 * temporary copies were marked) is only reported. */
static int check_copies(checker *c, const xlsnap_snapshot *l, int nr)
{
    const char *who = c->dom->name ? c->dom->name : c->dom->uuid;
    xlsnap__reflink_orphan *v = NULL;
    int n = 0, rc;

    if ((rc = xlsnap__reflink_orphans(c->ctx, c->dom->uuid, l, nr, &v, &n)))
        return rc;
    for (int k = 0; k < n; k++) {
        int i;
        if (v[k].temp)
            i = found(c, NULL, "orphan", "%s is the temporary copy of a "
                      "revert of %s that was interrupted", v[k].path, who);
        else
            i = found(c, NULL, "orphan", "%s is marked as a snapshot copy "
                      "of %s, but no snapshot names it", v[k].path, who);
        if (!c->repair || i < 0) continue;
        if (!v[k].marked) {
            c->v[i].repair = xlsnap__sprintf("left in place: it carries "
                                             "no mark of this tool "
                                             "(remove it if it is not "
                                             "yours)");
            if (!c->v[i].repair) c->nomem = true;
        } else if (xlsnap__reflink_remove_orphan(c->ctx, &v[k],
                                                 c->dom->uuid)) {
            not_fixed(c, i);
        } else {
            fixed(c, i, "removed %s", v[k].path);
        }
    }
    xlsnap__reflink_orphan_list_free(v, n);
    return 0;
}

static int check_tree(checker *c, xlsnap_snapshot *l, int nr)
{
    xlsnap__tree t;
    int ncur = 0, newest = -1, i, rc;

    xlsnap__tree_init(&t);
    if ((rc = xlsnap__tree_build(c->ctx, &t, l, nr))) return rc;
    for (int k = 0; k < nr; k++) {
        if (l[k].parent && xlsnap__tree_parent(&t, k) < 0) {
            i = found(c, l[k].name, "broken-parent", "snapshot '%s' names "
                      "parent '%s', which does not exist", l[k].name,
                      l[k].parent);
            if (!c->repair) continue;
            free(l[k].parent);
            l[k].parent = NULL;
            if (xlsnap__store_write(c->ctx, &l[k])) not_fixed(c, i);
            else fixed(c, i, "made '%s' a root", l[k].name);
        }
    }
    xlsnap__tree_dispose(&t);
    for (int k = 0; k < nr; k++)
        if (l[k].current) { ncur++; newest = k; }
    if (ncur < 2) return 0;
    i = found(c, NULL, "multiple-current", "%d snapshots are marked "
              "current", ncur);
    if (!c->repair) return 0;
    if ((rc = make_current(c, l, nr, newest))) not_fixed(c, i);
    else fixed(c, i, "kept the newest, '%s', current", l[newest].name);
    return 0;
}

/* --- 7. the configured images ---------------------------------------- */

/*
 * The images the domain's configuration names (libxl's, when it runs;
 * else the one stored with its newest snapshot) must be active layers:
 * an image that holds a snapshot's frozen data would be written by the
 * next `xl create` (histories from before active layers stayed at the
 * configured path, or a config edited by hand).
 */
static int check_configured(checker *c, const xlsnap_snapshot *l, int nr)
{
    xlsnap__cfgdisk *cd = NULL;
    char *cfg = NULL;
    int ncd = 0, rc = 0;
    xlsnap__domstate st = XLSNAP__DOM_GONE;

    if (c->dom->domid >= 0 &&
        (rc = xlsnap__hv_state(c->ctx, c->dom->domid, &st)))
        return rc;
    if (st != XLSNAP__DOM_GONE) {
        if ((rc = xlsnap__hv_config(c->ctx, c->dom->domid, &cfg))) return rc;
    } else {
        for (int k = nr - 1; k >= 0 && !cfg; k--)
            if (l[k].state == XLSNAP_STATE_READY && l[k].config_json &&
                !(cfg = xlsnap__strdup(l[k].config_json)))
                return xlsnap__nomem(c->ctx);
    }
    if (!cfg) return 0;
    if ((rc = xlsnap__config_disks(c->ctx, cfg, &cd, &ncd))) {
        if (rc != XLSNAP_ERROR_NOMEM) rc = 0;   /* no disks to check */
        goto out;
    }
    for (int j = 0; j < ncd; j++) {
        bool hit = false;
        if (!cd[j].path || !cd[j].readwrite || cd[j].cdrom) continue;
        for (int k = 0; k < nr && !hit; k++)
            for (int m = 0; m < l[k].num_disks && !hit; m++) {
                const xlsnap_disk *d = &l[k].disks[m];
                /* (an imported snapshot has no overlay: its stored
                 * config names its image, to revert on) */
                if (l[k].state != XLSNAP_STATE_READY ||
                    d->kind != XLSNAP_DISK_EXTERNAL || !d->backing ||
                    !d->overlay || strcmp(d->backing, cd[j].path))
                    continue;
                hit = true;
                found(c, l[k].name, "frozen-layer-configured", "the "
                      "domain's configuration names %s as disk %s, but "
                      "that image holds the frozen data of snapshot '%s': "
                      "starting the domain from it writes into the "
                      "snapshot (revert to a snapshot, which puts the "
                      "active layer at the configured path)", cd[j].path,
                      cd[j].vdev, l[k].name);
            }
    }
 out:
    xlsnap__cfgdisk_list_free(cd, ncd);
    free(cfg);
    return rc;
}

/* --- one domain ----------------------------------------------------- */

static int check_domain(checker *c)
{
    xlsnap__lock lock = { -1 };
    xlsnap_snapshot *l = NULL;
    int nr = 0, rc;

    rc = xlsnap__lock_domain(c->ctx, c->dom->uuid, false, &lock);
    if (rc == XLSNAP_ERROR_NOTFOUND) rc = 0;     /* no snapshots at all */
    if (rc || lock.fd < 0) goto out;
    if ((rc = xlsnap__store_list(c->ctx, c->dom->uuid, &l, &nr))) {
        if (rc == XLSNAP_ERROR_NOMEM) goto out;     /* not the records' */
        found(c, NULL, "unreadable", "%s", c->ctx->errbuf);
        rc = 0;
        goto out;
    }
    if ((rc = xlsnap__known_images(c->ctx, c->dom, l, nr, &c->known,
                                   &c->live)))
        goto out;
    if ((rc = xlsnap__qemu_images(c->ctx, c->dom, &c->live, &c->known)))
        goto out;
    if ((rc = check_dir(c, l, nr))) goto out;
    if ((rc = check_revert(c, l, nr))) goto out;
    if ((rc = check_merge(c, l, nr))) goto out;
    if ((rc = check_deleting(c, l, &nr))) goto out;
    if ((rc = check_driver_intents(c))) goto out;
    if ((rc = check_preparing(c, l, &nr))) goto out;
    for (int k = 0; k < nr; k++)
        if (l[k].state == XLSNAP_STATE_READY &&
            (rc = check_data(c, &l[k])))
            goto out;
    if ((rc = check_configured(c, l, nr))) goto out;
    if ((rc = check_cycles(c, l, nr))) goto out;      /* d2, issue 19 */
    if ((rc = check_tree(c, l, nr))) goto out;
    if ((rc = check_strays(c, l, nr))) goto out;     /* e1, issue 19 */
    if ((rc = check_volumes(c, l, nr))) goto out;    /* issue 15 */
    rc = check_copies(c, l, nr);
 out:
    xlsnap__set_free(&c->live);
    xlsnap__set_free(&c->known);
    xlsnap__unlock(&lock);
    xlsnap_snapshot_list_free(l, nr);
    return rc;
}

int xlsnap_check(xlsnap_ctx *ctx, const xlsnap_domain *dom, bool repair,
                 xlsnap_problem **list_r, int *nr_r)
{
    checker c = { .ctx = ctx, .repair = repair };
    char **uuids = NULL;
    int nu = 0, rc = 0;

    *list_r = NULL;
    *nr_r = 0;
    if (dom) {
        c.dom = dom;
        rc = check_domain(&c);
        goto out;
    }
    if ((rc = xlsnap__store_find_domain(ctx, NULL, &uuids, &nu))) goto out;
    for (int k = 0; !rc && k < nu; k++) {
        xlsnap_domain one;
        xlsnap_domain_init(&one);
        rc = xlsnap_domain_resolve(ctx, uuids[k], &one);
        if (!rc) {
            c.dom = &one;
            rc = check_domain(&c);
        }
        xlsnap_domain_dispose(&one);
    }
    if (!rc) {
        /* imports: not of a domain yet */
        xlsnap_domain none;
        xlsnap_domain_init(&none);
        c.dom = &none;
        rc = check_staging(&c, NULL, "import");
    }
 out:
    for (int k = 0; k < nu; k++) free(uuids[k]);
    free(uuids);
    if (!rc && c.nomem) rc = xlsnap__nomem(ctx);
    if (rc) {
        xlsnap_problem_list_free(c.v, c.n);
        return rc;
    }
    *list_r = c.v;
    *nr_r = c.n;
    return 0;
}

static int gen_problem(yajl_gen g, const xlsnap_problem *p)
{
    const char *const domain[] = {
        "name", p->domain_name, "uuid", p->domain_uuid, NULL
    };
    int s;

    CHK(yajl_gen_map_open(g));
    CHK(xlsnap__gen_str(g, "domain"));
    CHK(xlsnap__gen_str_map(g, domain));
    CHK(xlsnap__gen_kv_str(g, "snapshot", p->snapshot));
    CHK(xlsnap__gen_kv_str(g, "problem", p->kind));
    CHK(xlsnap__gen_kv_str(g, "message", p->message));
    CHK(xlsnap__gen_kv_bool(g, "repaired", p->repaired));
    CHK(xlsnap__gen_kv_str(g, "repair", p->repair));
    CHK(yajl_gen_map_close(g));
 gen_failed:
    return s;
}

int xlsnap_problems_to_json(xlsnap_ctx *ctx, const xlsnap_problem *list,
                            int nr, char **json_r)
{
    yajl_gen g = xlsnap__gen_alloc();
    bool clean = true;
    int s;

    if (!g) return xlsnap__nomem(ctx);
    for (int i = 0; i < nr; i++) clean &= list[i].repaired;
    CHK(yajl_gen_map_open(g));
    CHK(xlsnap__gen_kv_bool(g, "clean", clean));
    CHK(xlsnap__gen_str(g, "problems"));
    CHK(yajl_gen_array_open(g));
    for (int i = 0; i < nr; i++)
        CHK(gen_problem(g, &list[i]));
    CHK(yajl_gen_array_close(g));
    CHK(yajl_gen_map_close(g));
 gen_failed:
    return xlsnap__gen_end(ctx, g, s, json_r, XLSNAP_ERROR_FAIL,
                           "cannot generate JSON (yajl status %d)", s);
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
