/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * delete.c - delete snapshots, in any tree shape
 *
 * A snapshot's data is removed by its disk's driver (backend/disk.h:
 * remove), only where nothing else needs it (qcow2: internal snapshots,
 * external ones' backing images, imported images: qcow2_remove.c; LVM
 * snapshot volumes, reflink copies: only those tagged the tool's);
 *  - the memory image goes; children are re-parented to the parent; if
 *    the deleted snapshot was current, its parent becomes current.
 * Descendants are deleted before their ancestors.
 * Crash safety: every snapshot to delete is first marked "deleting";
 * check --repair finishes the delete of such records.
 */
#include "internal.h"
#include "backend/disk.h"

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

/* What a disk driver's remove gets for a disk of record x. */
static xlsnap__disk_op delete_op(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                                 xlsnap__tree *t, const xlsnap_snapshot *x,
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
    op.tree = t;
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
        const xlsnap__disk_driver *drv = xlsnap__disk_driver_ops(d);
        xlsnap__disk_op op = delete_op(ctx, dom, t, x, live, known, named,
                                       parts, nparts);
        /* the driver removes only what it made and nothing else needs */
        rc = drv && drv->remove
           ? drv->remove(&op, d)
           : xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "storage driver "
                           "'%s' is unknown to this version",
                           d->driver ? d->driver : "");
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
    xlsnap__discarded_clear(ctx);
    if ((flags & XLSNAP_DELETE_MERGE_PARENT) &&
        (flags & (XLSNAP_DELETE_CHILDREN | XLSNAP_DELETE_CHILDREN_ONLY |
                  XLSNAP_DELETE_METADATA))) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "XLSNAP_DELETE_MERGE_"
                           "PARENT excludes XLSNAP_DELETE_CHILDREN, "
                           "_CHILDREN_ONLY and _METADATA");
        goto out;
    }
    if ((flags & XLSNAP_DELETE_FORCE) &&
        !(flags & XLSNAP_DELETE_MERGE_PARENT)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "XLSNAP_DELETE_FORCE "
                           "goes only with XLSNAP_DELETE_MERGE_PARENT");
        goto out;
    }
    if (flags & XLSNAP_DELETE_MERGE_PARENT) {
        /* seed 001's MERGE: merge.c */
        rc = xlsnap__delete_fold(ctx, dom, name, flags);
        goto out;
    }
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
