/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * backend/qcow2_export.c - the qcow2 driver's export (disk.h): the
 * snapshot's data of one disk as a qcow2 image for a bundle.
 *
 * Only snapshot data is read: an internal snapshot inside its image, or
 * the read-only backing image of an external one.  Neither changes
 * while the domain runs (qcow2 copies on write away from a snapshot's
 * clusters; a backing image is never written), so qemu-img reads them
 * with -U (read-only, shared): an image the domain writes is opened
 * read-only, for the snapshot's clusters only.
 *   full:  an internal snapshot of an image bundle/delta.c covers:
 *          its clusters, read from the image's tables and written in
 *          one pass, hashed as they are written; else qemu-img convert
 *          of that state into a standalone qcow2;
 *   delta: just the clusters that differ from the base snapshot's
 *          state: for two internal snapshots of one image, found in its
 *          L1/L2 tables and written by bundle/delta.c; else an empty
 *          qcow2 on the snapshot's state, rebased (safe mode: content
 *          compared) onto the base snapshot's state, then pointed at the
 *          placeholder "xl-snapshot-base:<base>".
 */
#include "backend/disk.h"
#include "bundle/delta.h"

#include <unistd.h>

/* The disk state of a snapshot as a file (+ format): an external
 * snapshot's backing image, or an internal one copied out to tmp. */
static int state_file(xlsnap_ctx *ctx, const xlsnap_disk *d,
                      const char *tmp, const char **file_r,
                      const char **fmt_r)
{
    int rc;

    if (d->kind == XLSNAP_DISK_EXTERNAL) {
        *file_r = d->backing;
        *fmt_r = d->format;
        return 0;
    }
    rc = xlsnap__qimg_convert(ctx, d->image, d->format, d->internal_name,
                              tmp, XLSNAP__QIMG_SHARED);
    *file_r = tmp;
    *fmt_r = "qcow2";
    return rc;
}

/* A delta's disk at out: an empty qcow2 on the snapshot's state,
 * rebased (content compared) onto the base's state, so that it keeps
 * what differs from the base; then the base named in a way that cannot
 * open anything by accident: import points it at the base's image on
 * the new host.  The copies of internal states go beside out. */
/* bundle/delta.c's writer for an internal snapshot of a qcow2 image
 * (on internal snapshot bd's, or whole without bd): 0 with *done_r
 * false when it does not cover the image; *made filled when done. */
static int from_tables(xlsnap_ctx *ctx, const xlsnap_disk *d,
                       const xlsnap_disk *bd, const char *bname,
                       const char *out, bool *done_r,
                       xlsnap__export_made *made)
{
    *done_r = false;
    if (d->kind != XLSNAP_DISK_INTERNAL || !d->format ||
        strcmp(d->format, "qcow2") ||
        (bd && (bd->kind != XLSNAP_DISK_INTERNAL ||
                strcmp(d->image, bd->image))))
        return 0;
    return xlsnap__delta_internal(ctx, d->image, d->internal_name,
                                  bd ? bd->internal_name : NULL, bname, out,
                                  done_r, made);
}

static int make_delta(xlsnap_ctx *ctx, const xlsnap_disk *d,
                      const xlsnap_disk *bd, const char *base,
                      const char *out, xlsnap__export_made *made)
{
    const char *slash = strrchr(out, '/');
    int dirlen = slash ? (int)(slash - out) : 1;
    const char *dir = slash ? out : ".";
    char *ts = xlsnap__sprintf("%.*s/.state-%s.qcow2", dirlen, dir, d->vdev);
    char *tb = xlsnap__sprintf("%.*s/.base-%s.qcow2", dirlen, dir, d->vdev);
    char *bname = xlsnap__sprintf("xl-snapshot-base:%s", base);
    const char *sf, *sfmt, *bf, *bfmt;
    int rc;

    if (!ts || !tb || !bname) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    /* two internal snapshots of one image: only what differs, found in
     * its tables (delta.c); else, or for an image delta.c leaves to
     * this path, the copies and the compare below */
    {
        bool done;
        if ((rc = from_tables(ctx, d, bd, bname, out, &done, made)) || done)
            goto out;
    }
    if (!(rc = state_file(ctx, d, ts, &sf, &sfmt)) &&
             !(rc = state_file(ctx, bd, tb, &bf, &bfmt)) &&
             !(rc = xlsnap__qimg_create_overlay(ctx, out, sf, sfmt)) &&
             !(rc = xlsnap__qimg_rebase(ctx, out, "qcow2", bf, bfmt,
                                        XLSNAP__QIMG_SHARED)))
        rc = xlsnap__qimg_rebase(ctx, out, "qcow2", bname, "qcow2",
                                 XLSNAP__QIMG_UNSAFE);
 out:
    if (ts) unlink(ts);
    if (tb) unlink(tb);
    free(ts);
    free(tb);
    free(bname);
    return rc;
}

int xlsnap__qcow2_export(const xlsnap__disk_op *op, const xlsnap_disk *d,
                         const xlsnap_disk *bd, const char *base,
                         const char *out, xlsnap__export_made *made)
{
    bool done;
    int rc;

    if (bd)
        return make_delta(op->ctx, d, bd, base, out, made);
    if ((rc = from_tables(op->ctx, d, NULL, NULL, out, &done, made)) || done)
        return rc;
    return xlsnap__qimg_convert(op->ctx, d->kind == XLSNAP_DISK_INTERNAL ?
                                d->image : d->backing, d->format,
                                d->kind == XLSNAP_DISK_INTERNAL ?
                                d->internal_name : NULL,
                                out, XLSNAP__QIMG_SHARED);
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
