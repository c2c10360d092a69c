/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * backend/qcow2_driver.c - the qcow2 driver of the disk-driver layer
 * (disk.h): images served by QEMU (qdisk) or, offline, any qcow2 image;
 * internal snapshots (kind XLSNAP_DISK_INTERNAL) and external ones
 * (XLSNAP_DISK_EXTERNAL).  Through QMP when a running QEMU has the
 * image open (op->live), else qemu-img.
 *
 * Moved here so far: describe, check.  Take, revert and remove are
 * still done by ops/create.c, ops/revert.c and ops/delete.c.
 */
#include "backend/disk.h"

#include <unistd.h>

static bool exists(const char *path)
{
    return path && access(path, F_OK) == 0;
}

static char *qcow2_describe(const xlsnap_disk *d)
{
    return d->kind == XLSNAP_DISK_INTERNAL
        ? xlsnap__sprintf("qcow2 internal snapshot %s in %s",
                          d->internal_name, d->image)
        : xlsnap__sprintf("qcow2 image %s", d->backing);
}

/* External: the image holding the data (the overlay's backing image)
 * exists.  Internal: the image exists and holds the snapshot (asked of
 * QEMU when it has the image open). */
static int qcow2_check(const xlsnap__disk_op *op, const xlsnap_disk *d,
                       char **why_r)
{
    const xlsnap__strset none = { 0 };
    char *why = NULL;
    bool has = false;
    int rc;

    *why_r = NULL;
    if (d->kind == XLSNAP_DISK_EXTERNAL) {
        if (exists(d->backing)) return 0;
        why = xlsnap__sprintf("image %s holding its data (disk %s) is "
                              "missing", d->backing, d->vdev);
    } else if (!exists(d->image)) {
        why = xlsnap__sprintf("image %s (disk %s) is missing", d->image,
                              d->vdev);
    } else {
        rc = xlsnap__image_has_snapshot(op->ctx, op->dom,
                                        op->live ? op->live : &none,
                                        d->image, d->format,
                                        d->internal_name, &has);
        if (rc) return rc;
        if (has) return 0;
        why = xlsnap__sprintf("image %s has no internal snapshot '%s'",
                              d->image, d->internal_name);
    }
    if (!why) return xlsnap__nomem(op->ctx);
    *why_r = why;
    return 0;
}

const xlsnap__disk_driver xlsnap__disk_qcow2 = {
    .name = "qcow2",
    .describe = qcow2_describe,
    .check = qcow2_check,
};

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
