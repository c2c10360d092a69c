/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * bundle/volume.c - export of the disks of the volume drivers (lvm,
 * reflink) as qcow2 images of their contents.
 *
 * The snapshot's data is a raw source: the snapshot LV (a thin one,
 * which skips activation, is activated for the read and deactivated
 * again; nothing this export activated stays active) or the reflink
 * copy.  Only a volume proven the tool's (tags, mark) is read.
 *   full:  qemu-img convert -f raw -O qcow2 of the source;
 *   delta of two thin snapshots in one pool: the blocks that differ, as
 *          thin_delta finds them in a metadata snapshot of the pool
 *          (backend/lvm.c), and only those read from the snapshot's
 *          volume into the qcow2 delta.c writes (the base's volume is not
 *          read; a block mapped in the base only is zeros);
 *   delta otherwise, or when the pool cannot say (lvm.c's reasons): an
 *          empty qcow2 on the snapshot's source, rebased (safe mode:
 *          content compared) onto the base's source, so it holds only
 *          the clusters that differ; both volumes are read in full.
 * Every delta's backing name is the placeholder "xl-snapshot-base:<base>"
 * (export.c).
 */
#include "bundle/volume.h"

#include <unistd.h>

typedef struct {
    char *path;
    bool activated;
    const xlsnap_disk *d;
} source;

static bool is_lvm(const xlsnap_disk *d)
{
    return d->kind == XLSNAP_DISK_VOLUME && d->driver &&
           !strcmp(d->driver, "lvm") && d->volume_group &&
           d->snapshot_volume;
}

static bool is_reflink(const xlsnap_disk *d)
{
    return d->kind == XLSNAP_DISK_VOLUME && d->driver &&
           !strcmp(d->driver, "reflink") && d->snapshot_file;
}

static int source_open(xlsnap_ctx *ctx, const xlsnap_disk *d,
                       const char *uuid, source *s)
{
    int rc;

    s->d = d;
    if (is_lvm(d))
        return xlsnap__lvm_snapshot_open(ctx, d, uuid, &s->path,
                                         &s->activated);
    if (!is_reflink(d))
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "its snapshot is of "
                             "a kind this version cannot export (driver "
                             "%s)", d->driver ? d->driver : "none");
    if ((rc = xlsnap__reflink_snapshot_ok(ctx, d, uuid))) return rc;
    if (!(s->path = xlsnap__strdup(d->snapshot_file)))
        return xlsnap__nomem(ctx);
    return 0;
}

static void source_close(xlsnap_ctx *ctx, source *s)
{
    if (s->d && is_lvm(s->d))
        xlsnap__lvm_snapshot_release(ctx, s->d, s->activated);
    free(s->path);
    memset(s, 0, sizeof(*s));
}

/* Whether d and bd are snapshots of the same volume. */
static bool same_volume(const xlsnap_disk *d, const xlsnap_disk *bd)
{
    if (is_lvm(d))
        return is_lvm(bd) && d->volume && bd->volume &&
               !strcmp(d->volume_group, bd->volume_group) &&
               !strcmp(d->volume, bd->volume);
    return is_reflink(d) && is_reflink(bd) && d->image && bd->image &&
           !strcmp(d->image, bd->image);
}

int xlsnap__volume_export_op(const xlsnap__disk_op *op, const xlsnap_disk *d,
                             const xlsnap_disk *bd, const char *base,
                             const char *out, xlsnap__export_made *made)
{
    xlsnap_ctx *ctx = op->ctx;
    const char *uuid = op->uuid;
    source s = { 0 }, b = { 0 };
    xlsnap__delta_range *r = NULL;
    char *bname = NULL;
    uint64_t size;
    size_t n;
    int rc;

    if (bd && !same_volume(d, bd))
        return xlsnap__error_hint(ctx, XLSNAP_ERROR_NOTSUP,
                                  XLSNAP_HINT_EXPORT_FULL, "a delta of a "
                                  "volume needs a base snapshot of the "
                                  "same volume");
    if ((rc = source_open(ctx, d, uuid, &s))) goto out;
    if (!bd) {
        rc = xlsnap__qimg_convert(ctx, s.path, "raw", NULL, out,
                                  XLSNAP__QIMG_SHARED);
        goto out;
    }
    if (!(bname = xlsnap__sprintf("xl-snapshot-base:%s", base))) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    /* thin snapshots in one pool: the blocks that differ, from the
     * pool's metadata */
    rc = is_lvm(d) ? xlsnap__lvm_thin_changes(ctx, d, bd, uuid, &r, &n,
                                              &size) : 1;
    if (rc <= 0) {
        if (!rc)
            rc = xlsnap__delta_ranges(ctx, s.path, size, r, n, bname, out,
                                      made);
        goto out;
    }
    /* qemu-img writes it: the caller reads made's values from it */
    if (!(rc = source_open(ctx, bd, uuid, &b)) &&
        !(rc = xlsnap__qimg_create_overlay(ctx, out, s.path, "raw")) &&
        !(rc = xlsnap__qimg_rebase(ctx, out, "qcow2", b.path, "raw",
                                   XLSNAP__QIMG_SHARED)))
        rc = xlsnap__qimg_rebase(ctx, out, "qcow2", bname, "qcow2",
                                 XLSNAP__QIMG_UNSAFE);
 out:
    source_close(ctx, &b);
    source_close(ctx, &s);
    free(bname);
    free(r);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
