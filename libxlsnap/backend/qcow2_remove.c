/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * backend/qcow2_remove.c - the qcow2 driver's remove (disk.h): a
 * snapshot's data goes only where nothing else needs it.
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
 *    file, verify.c: an imported image) goes when nothing needs it.
 * Every step can be repeated after a crash (check --repair finishes a
 * delete through the same op).
 */
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

/* Remove an internal disk snapshot, if it is still there (QMP when a
 * running QEMU has the image open, op->live). */
static int delete_internal(const xlsnap__disk_op *op, const xlsnap_disk *d)
{
    bool has;
    int rc;

    if (access(d->image, F_OK) < 0) return 0;
    rc = xlsnap__qcow2_has_snapshot(op, d->image, d->format,
                                    d->internal_name, &has);
    if (rc || !has) return rc;
    return op->live && xlsnap__set_has(op->live, d->image)
         ? delete_internal_live(op->ctx, op->dom, d)
         : xlsnap__qimg_snapshot(op->ctx, 'd', d->internal_name, d->image,
                                 d->format);
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

/* Whether a record other than op->sn (of op->tree, those not gone) has
 * its data in image (its backing). */
static bool backed_by_others(const xlsnap__disk_op *op, const char *image)
{
    const xlsnap__tree *t = op->tree;
    const xlsnap_snapshot *l = t->l;

    for (int i = 0; i < t->nr; i++) {
        if (&l[i] == op->sn || (t->gone && t->gone[i])) continue;
        for (int k = 0; k < l[i].num_disks; k++)
            if (l[i].disks[k].backing &&
                !strcmp(l[i].disks[k].backing, image))
                return true;
    }
    return false;
}

/* Merge the external snapshot's backing image away when safe. */
static int merge_external(const xlsnap__disk_op *op, const xlsnap_disk *d)
{
    xlsnap_ctx *ctx = op->ctx;
    char *bb = NULL, *bbfmt = NULL, *dep = NULL;
    int64_t used0;
    int ndeps = 0, rc;

    if (!d->backing || access(d->backing, F_OK) < 0)
        return 0;                /* merged by a killed delete */
    /* merge.c, issue 18: a record naming B as the image on its own
     * layer (the one just older) follows to D; one with its data in B
     * keeps B */
    if (xlsnap__set_has(op->live, d->backing))
        return backed_by_others(op, d->backing)
             ? 0 : xlsnap__merge_live(ctx, op->dom, op->sn, d, op->known,
                                      op->tree->l, op->tree->nr);
    if (named_by_others(op->named, op->sn, d->backing))
        return 0;                /* needed */
    /* d->backing is opened as the format the record gives it: a raw
     * original image has no backing file, whatever its bytes say */
    if ((rc = xlsnap__qimg_backing(ctx, d->backing, d->format, &bb,
                                   &bbfmt)))
        return rc;
    if (!bb) goto out;          /* an original image: never removed */
    if (!bbfmt) goto out;       /* its backing's format is not recorded */
    if ((rc = xlsnap__dependents(ctx, d->backing, op->known, &ndeps, &dep)))
        goto out;
    if (ndeps != 1 || xlsnap__set_has(op->live, dep)) goto out;
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
 * d1: an image the tool made for the record alone (its parts file lists
 * it: an imported image) goes with it when nothing needs it any more:
 * no other record names it, no running QEMU has it open, no image has
 * it as its backing file (xlsnap__image_needed).  An image the parts
 * file does not list (the admin's) is never removed here.
 */
static int remove_owned(const xlsnap__disk_op *op, const xlsnap_disk *d)
{
    bool needed;
    int rc;

    if (!d->backing || !xlsnap__parts_has(op->parts, op->nparts, d->backing) ||
        named_by_others(op->named, op->sn, d->backing) ||
        xlsnap__set_has(op->live, d->backing) ||
        access(d->backing, F_OK) < 0)
        return 0;
    if ((rc = xlsnap__image_needed(op->ctx, d->backing, op->sn, op->known,
                                   &needed)))
        return rc;
    return needed ? 0 : xlsnap__unlink(op->ctx, d->backing, true);
}

int xlsnap__qcow2_remove(const xlsnap__disk_op *op, const xlsnap_disk *d)
{
    int rc;

    if (d->kind == XLSNAP_DISK_INTERNAL) return delete_internal(op, d);
    /* what else needs the data is only known with every record */
    if (!op->dom || !op->tree || !op->live || !op->known || !op->named)
        return xlsnap__error(op->ctx, XLSNAP_ERROR_INVAL, "the removal of "
                             "an external snapshot's image needs the "
                             "domain and all its records");
    if ((rc = merge_external(op, d))) return rc;
    return remove_owned(op, d);
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
