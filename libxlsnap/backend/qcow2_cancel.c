/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * backend/qcow2_cancel.c - the qcow2 driver's taken, complete and cancel
 * (disk.h): check --repair of a create that was interrupted (its record
 * still "preparing").  taken: whether the create's take of the disk
 * happened (the internal snapshot is in its image, the overlay is there
 * and backed by the frozen layer, and QEMU took it); complete: the
 * running domain's config names the overlay QEMU writes to; cancel: what
 * the create made goes, and the disk is as before the create.
 *
 * qcow2 takes every disk in one QMP transaction that cannot be cancelled,
 * so create itself never cancels a qcow2 disk (disk.c): only check
 * --repair does, with the domain, the images its QEMU has open
 * (op->live) and all its records (op->list, op->sn among them).
 */
#include "backend/disk.h"

#include <errno.h>
#include <unistd.h>

static bool exists(const char *path)
{
    return path && access(path, F_OK) == 0;
}

/* Remove an image we made, unless a running QEMU uses it. */
static int remove_image(const xlsnap__disk_op *op, const char *img)
{
    if (!exists(img) || xlsnap__set_has(op->live, img)) return 0;
    return xlsnap__unlink(op->ctx, img, false);
}

/* Images in the chain of image, as its qcow2 headers say. */
static int header_depth(xlsnap_ctx *ctx, const char *image, int *n_r)
{
    char *img = xlsnap__strdup(image), *fmt = xlsnap__strdup("qcow2");
    char *b = NULL, *bf = NULL;
    int rc = 0;

    *n_r = 0;
    if (!img || !fmt) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    while (img && *n_r < 256) {
        (*n_r)++;
        /* only a qcow2 header (as its overlay recorded it) names a
         * backing file: a raw or unrecorded format ends the chain */
        if (!fmt || strcmp(fmt, "qcow2")) break;
        if ((rc = xlsnap__qimg_backing(ctx, img, fmt, &b, &bf))) break;
        free(img);
        free(fmt);
        img = b;
        fmt = bf;
        b = bf = NULL;
    }
 out:
    free(img);
    free(fmt);
    return rc;
}

/*
 * A running domain whose external create made the new overlay at the
 * configured path: whether QEMU took it (the disk transaction ran).
 * QEMU's file names do not tell (it calls the layers by the names they
 * had when it opened them: qcow2_driver.c); the depth does: QEMU's
 * chain for the disk (its device, vdev) is one image shorter than the
 * headers' until the transaction ran.
 */
static int qemu_switched(const xlsnap__disk_op *op, const char *vdev,
                         const char *image, bool *yes_r)
{
    const xlsnap_domain *dom = op->dom;
    xlsnap__domstate st;
    xlsnap__qmp q;
    xlsnap__qmp_layer *l = NULL;
    char *node = NULL;
    int nl = 0, hdepth, rc;

    *yes_r = true;
    if (dom->domid < 0) return 0;
    if ((rc = xlsnap__hv_state(op->ctx, dom->domid, &st))) return rc;
    if (st == XLSNAP__DOM_GONE) return 0;    /* the domain is not running */
    xlsnap__qmp_init(&q);
    if ((rc = xlsnap__qmp_open(op->ctx, dom->domid, dom->uuid, &q)))
        return rc;
    rc = xlsnap__qmp_disk_node(op->ctx, &q, vdev, image, &node, NULL, NULL);
    if (rc == XLSNAP_ERROR_HYPERVISOR) {
        rc = 0;                                 /* not QEMU's disk */
        goto out;
    }
    if (rc || (rc = xlsnap__qmp_chain(op->ctx, &q, node, &l, &nl))) goto out;
    if ((rc = header_depth(op->ctx, image, &hdepth))) goto out;
    *yes_r = nl >= hdepth;
 out:
    xlsnap__qmp_close(&q);
    xlsnap__qmp_chain_free(l, nl);
    free(node);
    return rc;
}

/* What taken and cancel need: the domain and the images its QEMU has
 * open. */
static int need_domain(const xlsnap__disk_op *op)
{
    if (op->dom && op->live) return 0;
    return xlsnap__error(op->ctx, XLSNAP_ERROR_INVAL, "the repair of an "
                         "interrupted create of a qcow2 disk needs the "
                         "domain and the images its QEMU has open");
}

int xlsnap__qcow2_taken(const xlsnap__disk_op *op, const xlsnap_disk *d,
                        bool *yes_r)
{
    char *b = NULL;
    int rc;

    *yes_r = false;
    if ((rc = need_domain(op))) return rc;
    if (d->kind == XLSNAP_DISK_INTERNAL) {
        if (!exists(d->image)) return 0;
        return xlsnap__qcow2_has_snapshot(op, d->image, d->format,
                                          d->internal_name, yes_r);
    }
    if (!d->overlay) {
        /* imported: the data is the backing image itself */
        *yes_r = exists(d->backing);
        return 0;
    }
    if (!exists(d->overlay)) return 0;
    if ((rc = xlsnap__qimg_backing(op->ctx, d->overlay, "qcow2", &b, NULL)))
        return rc;
    *yes_r = b && !strcmp(b, d->backing);
    free(b);
    if (*yes_r && d->image && !strcmp(d->overlay, d->image))
        return qemu_switched(op, d->vdev, d->image, yes_r);
    return 0;
}

int xlsnap__qcow2_complete(const xlsnap__disk_op *op, const xlsnap_disk *d)
{
    int rc;

    if ((rc = need_domain(op))) return rc;
    if (d->kind != XLSNAP_DISK_EXTERNAL || !d->overlay ||
        !xlsnap__set_has(op->live, d->overlay))
        return 0;
    /* QEMU writes to the overlay: the domain's config must say so */
    return xlsnap__hv_set_live_disk(op->ctx, op->dom->domid, d->vdev,
                                    d->overlay, "qcow2");
}

/* An overlay made beforehand (create reuse_external) whose backing
 * reference create pointed at the frozen layer: back at the image. */
static int give_back(const xlsnap__disk_op *op, const xlsnap_disk *d)
{
    char *b = NULL;
    int rc = xlsnap__qimg_backing(op->ctx, d->reused, "qcow2", &b, NULL);

    if (!rc && b && !strcmp(b, d->backing))
        rc = xlsnap__qimg_rebase(op->ctx, d->reused, "qcow2", d->image,
                                 d->format, XLSNAP__QIMG_UNSAFE);
    free(b);
    return rc;
}

/* The active layer stays at its path: a new overlay there that QEMU
 * never took goes (taken checked that), and the image gets its path
 * back (QEMU's open file follows). */
static int cancel_in_place(const xlsnap__disk_op *op, const xlsnap_disk *d)
{
    char *b = NULL;
    bool used = false;
    int rc;

    if (exists(d->image) && xlsnap__set_has(op->live, d->image) &&
        (rc = qemu_switched(op, d->vdev, d->image, &used)))
        return rc;
    if (!used && exists(d->backing) && exists(d->image)) {
        if ((rc = xlsnap__qimg_backing(op->ctx, d->image, "qcow2", &b,
                                       NULL)))
            return rc;
        /* an overlay made beforehand goes back to its path */
        if (b && !strcmp(b, d->backing) && d->reused &&
            (rc = xlsnap__rename_image(op->ctx, d->image, d->reused))) {
            free(b);
            return rc;
        }
        if (b && !strcmp(b, d->backing) && !d->reused &&
            unlink(d->image) < 0) {
            free(b);
            return xlsnap__error_errno(op->ctx, errno, "cannot remove %s",
                                       d->image);
        }
        free(b);
    }
    if (exists(d->backing) && !exists(d->image) &&
        (rc = xlsnap__rename_image(op->ctx, d->backing, d->image)))
        return rc;
    if (d->reused && exists(d->reused) && (rc = give_back(op, d)))
        return rc;
    return 0;
}

int xlsnap__qcow2_cancel(const xlsnap__disk_op *op, const xlsnap_disk *d)
{
    /* what the create made: the overlay (an import: the image) */
    const char *made = d->overlay ? d->overlay : d->backing;
    bool other = false;
    int rc;

    if ((rc = need_domain(op))) return rc;
    if (d->kind == XLSNAP_DISK_INTERNAL) return xlsnap__qcow2_remove(op, d);
    if (d->overlay && d->image && !strcmp(d->overlay, d->image))
        return cancel_in_place(op, d);
    for (int i = 0; i < op->nr; i++)
        for (int m = 0; &op->list[i] != op->sn && m < op->list[i].num_disks;
             m++)
            other |= (op->list[i].disks[m].image &&
                      !strcmp(op->list[i].disks[m].image, made)) ||
                     (op->list[i].disks[m].backing &&
                      !strcmp(op->list[i].disks[m].backing, made));
    if (d->overlay && xlsnap__set_has(op->live, d->overlay))
        /* the guest writes there: it stays its disk */
        return xlsnap__hv_set_live_disk(op->ctx, op->dom->domid, d->vdev,
                                        d->overlay, "qcow2");
    if (!other) return remove_image(op, made);
    return 0;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
