/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * backend/qcow2_driver.c - the qcow2 driver of the disk-driver layer
 * (disk.h): images served by QEMU (qdisk) or, offline, any qcow2 image;
 * internal snapshots (kind XLSNAP_DISK_INTERNAL) and external ones
 * (XLSNAP_DISK_EXTERNAL).  Through QMP when a running QEMU has the
 * image open (op->live), else qemu-img.
 *
 * Moved here so far: describe, check, revert.  Take and remove are
 * still done by ops/create.c and ops/delete.c.
 */
#include "backend/disk.h"

#include <time.h>
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

/* --- revert --------------------------------------------------------- */

/* <stem>.<pre><name><mid><time>[-n].qcow2 next to image, the first n
 * that is free (NULL: out of memory): a fresh overlay next to the
 * backing image ("", ".rev") or where an old active layer goes
 * ("before-", "-") */
static char *stamped_sibling(const char *image, const char *pre,
                             const char *name, const char *mid)
{
    char *tag0 = xlsnap__sprintf("%s%s%s%lld", pre, name, mid,
                                 (long long)time(NULL));
    char *tag = NULL, *r = NULL;

    for (int n = 0; tag0 && n < 1000; n++) {
        free(tag);
        free(r);
        tag = n ? xlsnap__sprintf("%s-%d", tag0, n) : xlsnap__strdup(tag0);
        r = tag ? xlsnap__image_sibling(image, tag) : NULL;
        if (!r || access(r, F_OK) < 0) break;
    }
    free(tag);
    free(tag0);
    return r;
}

/* The path config cfg gives disk vdev in *path_r, or NULL. */
static int configured_path(xlsnap_ctx *ctx, const char *cfg,
                           const char *vdev, char **path_r)
{
    xlsnap__cfgdisk *cd = NULL;
    int ncd = 0, rc = 0;

    *path_r = NULL;
    if (xlsnap__config_disks(ctx, cfg, &cd, &ncd)) return 0;
    for (int i = 0; i < ncd && !*path_r && !rc; i++)
        if (!strcmp(cd[i].vdev, vdev) && cd[i].path && *cd[i].path &&
            !(*path_r = xlsnap__strdup(cd[i].path)))
            rc = xlsnap__nomem(ctx);
    xlsnap__cfgdisk_list_free(cd, ncd);
    return rc;
}

/* Whether path is safe to move aside: no snapshot keeps data in it as a
 * backing image (an image from before active layers stayed in place). */
static bool movable(const xlsnap_snapshot *l, int nr, const char *path)
{
    for (int i = 0; i < nr; i++)
        for (int k = 0; k < l[i].num_disks; k++)
            if (l[i].disks[k].backing &&
                !strcmp(l[i].disks[k].backing, path))
                return false;
    return true;
}

/*
 * What disk d becomes: an external disk gets a fresh overlay on the
 * snapshot's backing image; an internal snapshot is applied in place,
 * unless other images are built on that image (an external snapshot
 * taken later): then it is copied out to a new image, so nothing under
 * them changes.  Where the configured path can be kept, it gets the
 * snapshot's data and its old active layer stays, renamed, as its own
 * branch.
 */
static int qcow2_revert_plan(const xlsnap__disk_op *op,
                             const xlsnap_disk *d, xlsnap__disk_revert *rv,
                             char **cfg)
{
    xlsnap_ctx *ctx = op->ctx;
    const xlsnap__strset none = { 0 };
    const xlsnap__strset *known = op->known ? op->known : &none;
    char *nc = NULL, *path = NULL;
    bool at_path;
    int deps = 0, rc;

    if ((rc = configured_path(ctx, *cfg, d->vdev, &path))) return rc;
    at_path = path && movable(op->list, op->nr, path);
    if (d->kind == XLSNAP_DISK_INTERNAL && path && !strcmp(path, d->image)) {
        /* the snapshot is inside the active layer: applied there,
         * unless images are built on it (a layer from before active
         * layers stayed in place) */
        rc = xlsnap__dependents(ctx, d->image, known, &deps, NULL);
        if (rc || !deps) goto out;
        at_path = false;
    } else if (d->kind == XLSNAP_DISK_INTERNAL && !at_path) {
        rc = xlsnap__dependents(ctx, d->image, known, &deps, NULL);
        if (rc || !deps) goto out;
    } else if (d->kind == XLSNAP_DISK_EXTERNAL && path &&
               !strcmp(path, d->backing)) {
        at_path = false;
    }
    if (at_path) {
        /* the configured path gets the snapshot's data; the old
         * active layer stays, renamed, as its own branch */
        xlsnap_disk one = { .vdev = d->vdev, .image = path,
                            .format = (char *)"qcow2" };
        rv->path = path;
        path = NULL;
        if (!(rv->moved = stamped_sibling(rv->path, "before-",
                                          op->sn->name, "-"))) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        rc = xlsnap__config_rewrite(ctx, *cfg, NULL, NULL, &one, 1, &nc);
    } else {
        rv->fresh = stamped_sibling(d->kind == XLSNAP_DISK_INTERNAL
                                    ? d->image : d->backing, "",
                                    op->sn->name, ".rev");
        rc = rv->fresh ? xlsnap__config_set_disk(ctx, *cfg, d->vdev,
                                                 rv->fresh, "qcow2", &nc)
                       : xlsnap__nomem(ctx);
    }
    if (rc) goto out;
    free(*cfg);
    *cfg = nc;
 out:
    free(path);
    return rc;
}

/*
 * Put disk d of a snapshot at the configured path: the image there
 * (the old active layer) is renamed to moved, its own branch, and a
 * fresh overlay on the snapshot's frozen layer (external), or a copy of
 * the internal snapshot, takes the path.  Idempotent, for check
 * --repair: a rename already done is not repeated, and a half-made
 * image at path (nothing ran on it) is made again.
 */
static int revert_at(xlsnap_ctx *ctx, const xlsnap_disk *d,
                     const char *path, const char *moved)
{
    int rc;

    if (access(moved, F_OK) < 0 && access(path, F_OK) == 0 &&
        (rc = xlsnap__rename_image(ctx, path, moved)))
        return rc;
    xlsnap__fault_point("revert-layer-moved");
    if (d->kind == XLSNAP_DISK_EXTERNAL && access(path, F_OK) == 0) {
        /* already made (a repair after the domain ran on it) */
        char *b = NULL;
        bool done = !xlsnap__qimg_backing(ctx, path, "qcow2", &b, NULL) &&
                    b &&
                    !strcmp(b, d->backing);
        free(b);
        if (done) return 0;
    }
    if ((rc = xlsnap__unlink(ctx, path, true))) return rc;
    if (d->kind == XLSNAP_DISK_INTERNAL)
        return xlsnap__qimg_convert(ctx, d->image, d->format,
                                    d->internal_name, path, 0);
    return xlsnap__qimg_create_overlay(ctx, path, d->backing, d->format);
}

/* The domain is off (its QEMU gone): qemu-img does it all, as planned. */
static int qcow2_revert(const xlsnap__disk_op *op, const xlsnap_disk *d)
{
    const xlsnap__disk_revert none = { 0 }, *rv = op->rv ? op->rv : &none;
    int rc = 0;

    if (rv->path && rv->moved)
        rc = revert_at(op->ctx, d, rv->path, rv->moved);
    else if (rv->fresh && d->kind == XLSNAP_DISK_INTERNAL)
        rc = xlsnap__qimg_convert(op->ctx, d->image, d->format,
                                  d->internal_name, rv->fresh, 0);
    else if (rv->fresh)
        rc = xlsnap__qimg_create_overlay(op->ctx, rv->fresh, d->backing,
                                         d->format);
    else if (d->kind == XLSNAP_DISK_INTERNAL)
        rc = xlsnap__qimg_snapshot(op->ctx, 'a', d->internal_name, d->image,
                                   d->format);
    return rc ? xlsnap__error_prefix(op->ctx, rc, "disk %s", d->vdev) : 0;
}

const xlsnap__disk_driver xlsnap__disk_qcow2 = {
    .name = "qcow2",
    .describe = qcow2_describe,
    .check = qcow2_check,
    .revert_plan = qcow2_revert_plan,
    .revert = qcow2_revert,
};

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
