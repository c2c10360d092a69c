/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * delete.c - delete snapshots, in any tree shape
 *
 * A snapshot's data is removed only where nothing else needs it:
 *  - internal disk snapshot: qemu-img snapshot -d when no running QEMU
 *    has the image open, else QMP blockdev-snapshot-delete-internal-sync
 *    on the image's node;
 *  - external disk snapshot: its data lives in the backing image B,
 *    which the overlays on top of B still need.  B is merged away only
 *    when that is safe: no remaining record names B, exactly one image D
 *    has B as backing, D is not open by a running QEMU; then
 *    `qemu-img rebase` copies B's data into D and points D at B's own
 *    backing, and B is removed.  While the domain runs and B is in its
 *    chain, merge.c merges B live (issue 18).  Otherwise B stays
 *    (nothing is lost).
 *  - an image the tool made for the snapshot alone (listed in its parts
 *    file, verify.c: an imported image) goes when nothing needs it;
 *  - the memory image goes; children are re-parented to the parent; if
 *    the deleted snapshot was current, its parent becomes current.
 * Descendants are deleted before their ancestors.
 * Crash safety: every snapshot to delete is first marked "deleting";
 * check --repair finishes the delete of such records.
 */
#include "internal.h"
#include "backend/disk.h"

#include <unistd.h>

static int delete_internal_live(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                                const xlsnap_disk *d)
{
    xlsnap__qmp q;
    yajl_gen g = NULL;
    char *node = NULL, *cmd = NULL, *top = NULL, *fmt = NULL;
    bool active;
    int rc;

    /* only in the active layer (the configured path): QEMU's names of
     * the layers are not theirs after an external snapshot of the
     * running domain (qcow2_driver.c), so the disk's node is found by
     * its device */
    if ((rc = xlsnap__active_layer(ctx, dom, d->vdev, &top, &fmt)))
        return rc;
    xlsnap__qmp_init(&q);
    active = top && !strcmp(top, d->image);
    free(top);
    free(fmt);
    if (active && (rc = xlsnap__qmp_open(ctx, dom->domid, dom->uuid, &q)))
        goto out;
    rc = active ? xlsnap__qmp_disk_node(ctx, &q, d->vdev, d->image, &node,
                                        NULL, NULL)
                : XLSNAP_ERROR_NOTFOUND;
    if (rc && rc != XLSNAP_ERROR_NOMEM) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP,
                           "image %s holding internal snapshot '%s' is "
                           "open read-only by the running domain (a backing "
                           "file); delete it while the domain is off",
                           d->image, d->internal_name);
        goto out;
    }
    if (rc) goto out;
    g = yajl_gen_alloc(NULL);
    if (!g) { rc = xlsnap__nomem(ctx); goto out; }
    if (yajl_gen_map_open(g) ||
        xlsnap__gen_kv_str(g, "execute",
                           "blockdev-snapshot-delete-internal-sync") ||
        xlsnap__gen_str(g, "arguments") || yajl_gen_map_open(g) ||
        xlsnap__gen_kv_str(g, "device", node) ||
        xlsnap__gen_kv_str(g, "name", d->internal_name) ||
        yajl_gen_map_close(g) || yajl_gen_map_close(g)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "cannot build QMP "
                           "command");
        goto out;
    }
    if ((rc = xlsnap__gen_finish(ctx, g, &cmd))) goto out;
    rc = xlsnap__qmp_exec(ctx, &q, cmd, NULL);
 out:
    if (g) yajl_gen_free(g);
    xlsnap__qmp_close(&q);
    free(node);
    free(cmd);
    return rc;
}

int xlsnap__refs_add(xlsnap_ctx *ctx, xlsnap__refs *r,
                     const xlsnap_snapshot *x, int delta)
{
    for (int k = 0; k < x->num_disks; k++) {
        const char *img[2] = { x->disks[k].image, x->disks[k].backing };
        for (int m = 0; m < 2; m++) {
            int j, n0 = r->s.n;
            if (!img[m]) continue;
            xlsnap__set_add(&r->s, img[m]);
            if (r->s.nomem) return xlsnap__nomem(ctx);
            if (r->s.n != n0) {
                /* a new entry: count grows with the set's room */
                int *c = realloc(r->count, r->s.cap * sizeof(*c));
                if (!c) return xlsnap__nomem(ctx);
                r->count = c;
                r->count[r->s.n - 1] = 0;
            }
            j = xlsnap__set_index(&r->s, img[m]);
            r->count[j] += delta;
        }
    }
    return 0;
}

void xlsnap__refs_free(xlsnap__refs *r)
{
    xlsnap__set_free(&r->s);
    free(r->count);
    r->count = NULL;
}

/* Whether a record other than x names image (as an image or a
 * backing): named counts x's own names too. */
static bool named_by_others(const xlsnap__refs *named,
                            const xlsnap_snapshot *x, const char *image)
{
    int j = xlsnap__set_index(&named->s, image), self = 0;

    if (j < 0) return false;
    for (int k = 0; k < x->num_disks; k++) {
        const xlsnap_disk *d = &x->disks[k];
        self += d->image && !strcmp(d->image, image);
        self += d->backing && !strcmp(d->backing, image);
    }
    return named->count[j] > self;
}

/* Whether a record other than x has its data in image (its backing). */
static bool backed_by_others(const xlsnap__tree *t,
                             const xlsnap_snapshot *x, const char *image)
{
    const xlsnap_snapshot *l = t->l;

    for (int i = 0; i < t->nr; i++) {
        if (&l[i] == x || (t->gone && t->gone[i])) continue;
        for (int k = 0; k < l[i].num_disks; k++)
            if (l[i].disks[k].backing &&
                !strcmp(l[i].disks[k].backing, image))
                return true;
    }
    return false;
}

/* Merge the external snapshot's backing image away when safe (x: the
 * record of d). */
static int merge_external(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                          xlsnap__tree *t, const xlsnap_snapshot *x,
                          const xlsnap_disk *d,
                          const xlsnap__refs *named,
                          const xlsnap__strset *live,
                          const xlsnap__strset *known)
{
    char *bb = NULL, *bbfmt = NULL, *dep = NULL;
    int64_t used0;
    int ndeps = 0, rc;

    if (!d->backing || access(d->backing, F_OK) < 0)
        return 0;                /* merged by a killed delete */
    /* merge.c, issue 18: a record naming B as the image on its own
     * layer (the one just older) follows to D; one with its data in B
     * keeps B */
    if (xlsnap__set_has(live, d->backing))
        return backed_by_others(t, x, d->backing)
             ? 0 : xlsnap__merge_live(ctx, dom, x, d, known, t->l, t->nr);
    if (named_by_others(named, x, d->backing))
        return 0;                /* needed */
    /* d->backing is opened as the format the record gives it: a raw
     * original image has no backing file, whatever its bytes say */
    if ((rc = xlsnap__qimg_backing(ctx, d->backing, d->format, &bb,
                                   &bbfmt)))
        return rc;
    if (!bb) goto out;          /* an original image: never removed */
    if (!bbfmt) goto out;       /* its backing's format is not recorded */
    if ((rc = xlsnap__dependents(ctx, d->backing, known, &ndeps, &dep)))
        goto out;
    if (ndeps != 1 || xlsnap__set_has(live, dep)) goto out;
    used0 = xlsnap__file_used(d->backing) + xlsnap__file_used(dep);
    if ((rc = xlsnap__qimg_rebase(ctx, dep, "qcow2", bb, bbfmt, 0)))
        goto out;
    if (!(rc = xlsnap__unlink(ctx, d->backing, false)))
        xlsnap__freed_add(ctx, used0 - xlsnap__file_used(dep));
 out:
    free(bb);
    free(bbfmt);
    free(dep);
    return rc;
}

/*
 * d1: an image the tool made for x alone (its parts file lists it: an
 * imported image) goes with x when nothing needs it any more: no other
 * record names it, no running QEMU has it open, no image has it as its
 * backing file (xlsnap__image_needed).  An image the parts file does
 * not list (the admin's) is never removed here.
 */
static int remove_owned(xlsnap_ctx *ctx, const xlsnap_snapshot *x,
                        const xlsnap_disk *d, const xlsnap__part *parts,
                        int nparts, const xlsnap__refs *named,
                        const xlsnap__strset *live,
                        const xlsnap__strset *known)
{
    bool needed;
    int rc;

    if (!d->backing || !xlsnap__parts_has(parts, nparts, d->backing) ||
        named_by_others(named, x, d->backing) ||
        xlsnap__set_has(live, d->backing) || access(d->backing, F_OK) < 0)
        return 0;
    if ((rc = xlsnap__image_needed(ctx, d->backing, x, known, &needed)))
        return rc;
    return needed ? 0 : xlsnap__unlink(ctx, d->backing, true);
}

/* Remove an internal disk snapshot, if it is still there. */
int xlsnap__delete_internal(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                            const xlsnap_disk *d, const xlsnap__strset *live)
{
    bool has;
    int rc;

    if (access(d->image, F_OK) < 0) return 0;
    rc = xlsnap__image_has_snapshot(ctx, dom, live, d->image, d->format,
                                    d->internal_name, &has);
    if (rc || !has) return rc;
    return xlsnap__set_has(live, d->image)
         ? delete_internal_live(ctx, dom, d)
         : xlsnap__qimg_snapshot(ctx, 'd', d->internal_name, d->image,
                                 d->format);
}

/* What a disk driver's remove gets for a disk of record x. */
static xlsnap__disk_op delete_op(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                                 const xlsnap_snapshot *x,
                                 const xlsnap__strset *live,
                                 const xlsnap__strset *known,
                                 const xlsnap__refs *named,
                                 const xlsnap__part *parts, int nparts)
{
    xlsnap__disk_op op = XLSNAP__DISK_OP(ctx, x->domain_uuid);

    op.dom = dom;
    op.sn = x;
    op.running = dom && dom->domid >= 0;
    op.live = live;
    op.known = known;
    op.named = named;
    op.parts = parts;
    op.nparts = nparts;
    return op;
}

/*
 * Finish deleting l[i] (state DELETING, or any state with
 * XLSNAP_DELETE_METADATA): its data where nothing else needs it, its
 * memory image, then children re-parented, "current" moved up, and the
 * record removed.  Every step can be repeated after a crash (check
 * --repair calls this for records left "deleting").  Records in state
 * DELETING are not rewritten: they go too.
 */
int xlsnap__delete_one(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                       xlsnap__tree *t, int i, unsigned flags,
                       const xlsnap__strset *live,
                       const xlsnap__strset *known,
                       const xlsnap__refs *named)
{
    xlsnap_snapshot *l = t->l, *x = &l[i];
    xlsnap__part *parts = NULL;
    int rc = 0, p = xlsnap__tree_parent(t, i), nparts = 0;

    /* a damaged parts file: no image counts as ours (none goes) */
    if (!(flags & XLSNAP_DELETE_METADATA) &&
        (rc = xlsnap__parts_read(ctx, dom->uuid, x->name, &parts,
                                 &nparts)) &&
        rc != XLSNAP_ERROR_CORRUPT)
        goto out;
    rc = 0;
    for (int k = 0; !(flags & XLSNAP_DELETE_METADATA) && k < x->num_disks;
         k++) {
        const xlsnap_disk *d = &x->disks[k];
        const xlsnap__disk_driver *drv = xlsnap__disk_driver_of(d);
        xlsnap__disk_op op = delete_op(ctx, dom, x, live, known, named,
                                       parts, nparts);
        if (d->kind == XLSNAP_DISK_VOLUME)
            /* only the snapshot volume the record names, if tagged ours */
            rc = drv && drv->remove
               ? drv->remove(&op, d)
               : xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "storage driver "
                               "'%s' is unknown to this version",
                               d->driver ? d->driver : "");
        else
            rc = d->kind == XLSNAP_DISK_INTERNAL
               ? xlsnap__delete_internal(ctx, dom, d, live)
               : merge_external(ctx, dom, t, x, d, named, live, known);
        if (!rc && d->kind == XLSNAP_DISK_EXTERNAL)
            rc = remove_owned(ctx, x, d, parts, nparts, named, live, known);
        if (rc) {
            rc = xlsnap__error_prefix(ctx, rc, "snapshot '%s', disk %s",
                                      x->name, d->vdev);
            goto out;
        }
    }
    xlsnap__fault_point("delete-data");
    if (x->memory && !(flags & XLSNAP_DELETE_METADATA) &&
        (rc = xlsnap__unlink(ctx, x->memory, true)))
        goto out;
    xlsnap__fault_point("delete-memory");
    /* re-parent children and move "current" up */
    for (int j = t->child[i]; j >= 0; j = t->next[j]) {
        char *np = xlsnap__strdup(x->parent);
        if (j == i) { free(np); continue; } /* a record its own parent */
        if (x->parent && !np) { rc = xlsnap__nomem(ctx); goto out; }
        free(l[j].parent);
        l[j].parent = np;
        if (l[j].state != XLSNAP_STATE_DELETING &&
            (rc = xlsnap__store_write(ctx, &l[j])))
            goto out;
    }
    if (x->current && p >= 0) {
        l[p].current = true;
        if (l[p].state != XLSNAP_STATE_DELETING &&
            (rc = xlsnap__store_write(ctx, &l[p])))
            goto out;
    }
    xlsnap__fault_point("delete-reparented");
    rc = xlsnap__store_remove(ctx, dom->uuid, x->name);
    if (!rc) xlsnap__tree_remove(t, i);
 out:
    xlsnap__parts_free(parts, nparts);
    return rc;
}

/*
 * The snapshots a delete of l[target] removes, in the order it removes
 * them: children before their parents (the deepest first, snapshots of
 * one depth in list order).  Descendants are only removed with
 * XLSNAP_DELETE_CHILDREN or _CHILDREN_ONLY.  order_r has room for nr.
 */
int xlsnap__delete_order(xlsnap_ctx *ctx, const xlsnap__tree *t,
                         int target, unsigned flags, int *order_r,
                         int *n_r)
{
    int nr = t->nr, n = 0, *depth = NULL, *count = NULL, *sel = NULL;
    int rc = 0;

    *n_r = 0;
    depth = malloc((nr + 1) * sizeof(*depth));
    count = calloc(nr + 1, sizeof(*count));
    sel = malloc((nr + 1) * sizeof(*sel));
    if (!depth || !count || !sel || xlsnap__tree_depths(t, depth)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOMEM, "cannot order the "
                           "delete: out of memory");
        goto out;
    }
    if (flags & (XLSNAP_DELETE_CHILDREN | XLSNAP_DELETE_CHILDREN_ONLY))
        n = xlsnap__tree_descendants(t, target, sel);
    /* the target, unless only its descendants go (or a parent cycle
     * made it its own descendant: then it is in sel already) */
    if (!(flags & XLSNAP_DELETE_CHILDREN_ONLY)) {
        bool in = false;
        for (int k = 0; k < n && !in; k++) in = sel[k] == target;
        if (!in) sel[n++] = target;
    }
    /* counting sort: depth descending, then list order (sel[] now
     * marks who goes: sel[i] = 1) */
    for (int k = 0; k < n; k++) count[depth[sel[k]]]++;
    for (int d = nr - 1, at = 0; d >= 0; d--) {
        int c = count[d];
        count[d] = at;
        at += c;
    }
    for (int k = 0; k < n; k++) order_r[k] = sel[k];
    for (int i = 0; i < nr; i++) sel[i] = 0;
    for (int k = 0; k < n; k++) sel[order_r[k]] = 1;
    for (int i = 0; i < nr; i++)
        if (sel[i]) order_r[count[depth[i]]++] = i;
    *n_r = n;
 out:
    free(depth);
    free(count);
    free(sel);
    return rc;
}

/* The records xlsnap__delete_one(i) may write, read whole: i's
 * children (re-parented) and its parent (made current). */
static int load_written(xlsnap_ctx *ctx, xlsnap__store_handle *h,
                        const xlsnap__tree *t, int i)
{
    int rc = 0, p = xlsnap__tree_parent(t, i);

    for (int j = t->child[i]; !rc && j >= 0; j = t->next[j])
        rc = xlsnap__store_handle_load(ctx, h, j);
    if (!rc && h->list[i].current && p >= 0)
        rc = xlsnap__store_handle_load(ctx, h, p);
    return rc;
}

int xlsnap_delete(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                  const char *name, unsigned flags)
{
    xlsnap_snapshot *l = NULL;
    xlsnap__store_handle h = XLSNAP__STORE_HANDLE_INIT;
    xlsnap__tree t;
    int *order = NULL;
    bool *del = NULL;
    xlsnap__strset live = { 0 }, known = { 0 };
    xlsnap__refs named = { { 0 }, NULL };
    int nr = 0, n = 0, target = -1, rc;

    xlsnap__tree_init(&t);
    xlsnap__warn(ctx, NULL);
    ctx->freed = 0;
    if ((flags & XLSNAP_DELETE_CHILDREN) &&
        (flags & XLSNAP_DELETE_CHILDREN_ONLY)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "XLSNAP_DELETE_CHILDREN "
                           "and XLSNAP_DELETE_CHILDREN_ONLY exclude each "
                           "other");
        goto out;
    }
    /* records from the list index when it is valid: only those written
     * below are read whole (xlsnap__store_handle_load) */
    if ((rc = xlsnap__store_open_find_flags(ctx, dom->uuid, name,
                                            XLSNAP__STORE_SUMMARY, &h,
                                            &target)))
        goto out;
    l = h.list;
    nr = h.nr;
    order = malloc((nr + 1) * sizeof(*order));
    del = calloc(nr + 1, sizeof(*del));
    if (!order || !del) { rc = xlsnap__nomem(ctx); goto out; }
    if ((rc = xlsnap__tree_build(ctx, &t, l, nr)) ||
        (rc = xlsnap__delete_order(ctx, &t, target, flags, order, &n)))
        goto out;
    if (!(flags & XLSNAP_DELETE_METADATA)) {
        if ((rc = xlsnap__known_images(ctx, dom, l, nr, &known, &live)))
            goto out;
        /* images still named by other snapshots (also those deleted
         * earlier or later in this call: safe) */
        for (int i = 0; i < nr; i++)
            if ((rc = xlsnap__refs_add(ctx, &named, &l[i], 1))) goto out;
        /* a live merge (merge.c) rewrites the records naming the merged
         * layer: each read whole first (a summary from the list index
         * has no config, and would be written without it) */
        for (int i = 0; dom->domid >= 0 && i < nr; i++)
            if ((rc = xlsnap__store_handle_load(ctx, &h, i))) goto out;
    }

    /* intent: every snapshot to delete is marked "deleting" before any
     * data goes (a record-only delete changes no data: no mark) */
    for (int k = 0; k < n; k++) del[order[k]] = true;
    for (int i = 0; i < nr; i++) {
        if (!del[i]) continue;
        if ((rc = xlsnap__store_handle_load(ctx, &h, i))) goto out;
        l[i].state = XLSNAP_STATE_DELETING;
        if (!(flags & XLSNAP_DELETE_METADATA) &&
            (rc = xlsnap__store_write(ctx, &l[i])))
            goto out;
    }
    xlsnap__fault_point("delete-marked");

    /* deepest first, so children go before their parents */
    for (int k = 0; k < n; k++) {
        if ((rc = load_written(ctx, &h, &t, order[k]))) goto out;
        rc = xlsnap__delete_one(ctx, dom, &t, order[k], flags, &live,
                                &known, &named);
        if (rc) goto out;
    }
    /* the loaded records are what is on disk now: the next operation
     * reads the index, not every record */
    xlsnap__store_index_refresh(ctx, &h);
    rc = 0;
 out:
    xlsnap__set_free(&live);
    xlsnap__set_free(&known);
    xlsnap__refs_free(&named);
    free(order);
    free(del);
    xlsnap__tree_dispose(&t);
    xlsnap__store_close(&h);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
