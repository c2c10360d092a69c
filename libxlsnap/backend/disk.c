/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * backend/disk.c - driver selection of the disk-driver layer (disk.h).
 */
#include "backend/disk.h"

#include <ctype.h>
#include <sys/stat.h>

int xlsnap__snapshot_size_parse(const char *s, uint64_t *bytes_r,
                                unsigned *percent_r)
{
    uint64_t v = 0;
    const char *p = s;
    int shift;

    *bytes_r = 0;
    *percent_r = 0;
    if (!s || !isdigit((unsigned char)*p)) return -1;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (!v) return -1;
    if (!strcmp(p, "%")) {
        if (v > 100) return -1;
        *percent_r = (unsigned)v;
        return 0;
    }
    switch (*p) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    case 't': case 'T': shift = 40; break;
    default: return -1;
    }
    if (p[1] || v > (UINT64_MAX >> shift)) return -1;
    *bytes_r = v << shift;
    return 0;
}

int xlsnap_snapshot_size_check(xlsnap_ctx *ctx, const char *size)
{
    uint64_t b;
    unsigned pc;

    if (!xlsnap__snapshot_size_parse(size, &b, &pc)) return 0;
    return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "snapshot size '%s' is "
                         "neither a size (a number with a unit K, M, G or "
                         "T, as 512M) nor a percentage of the origin "
                         "volume (1%% to 100%%, as 20%%)",
                         size ? size : "");
}

void xlsnap_warning_list_free(char **list, int nr)
{
    for (int i = 0; list && i < nr; i++) free(list[i]);
    free(list);
}

int xlsnap_snapshot_warnings(xlsnap_ctx *ctx, const xlsnap_snapshot *s,
                             char ***list_r, int *nr_r)
{
    xlsnap__disk_op op = XLSNAP__DISK_OP(ctx, s->domain_uuid);
    char **v = NULL;
    int n = 0, rc = 0;

    *list_r = NULL;
    *nr_r = 0;
    op.sn = s;
    for (int k = 0; k < s->num_disks; k++) {
        const xlsnap_disk *d = &s->disks[k];
        const xlsnap__disk_driver *drv = xlsnap__disk_driver_of(d);
        char *why = NULL, **nv;
        if (d->kind != XLSNAP_DISK_VOLUME || !drv || !drv->warn) continue;
        if ((rc = drv->warn(&op, d, &why))) goto out;
        if (!why) continue;
        if (!(nv = realloc(v, (n + 1) * sizeof(*v)))) {
            free(why);
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        v = nv;
        v[n++] = why;
    }
    *list_r = v;
    *nr_r = n;
    v = NULL;
    n = 0;
 out:
    xlsnap_warning_list_free(v, n);
    return rc;
}

const xlsnap__disk_driver *xlsnap__disk_driver_of(const xlsnap_disk *d)
{
    if (!d->driver || !strcmp(d->driver, "qcow2"))
        return d->kind == XLSNAP_DISK_VOLUME ? NULL : &xlsnap__disk_qcow2;
    if (!strcmp(d->driver, "lvm") && d->kind == XLSNAP_DISK_VOLUME)
        return &xlsnap__disk_lvm;
    if (!strcmp(d->driver, "reflink") && d->kind == XLSNAP_DISK_VOLUME &&
        d->snapshot_file)
        return &xlsnap__disk_reflink;
    return NULL;
}

const xlsnap__disk_driver *xlsnap__disk_driver_ops(const xlsnap_disk *d)
{
    return d->kind == XLSNAP_DISK_VOLUME ? xlsnap__disk_driver_of(d)
                                         : &xlsnap__disk_qcow2;
}

int xlsnap__disk_plan_volume(const xlsnap__disk_plan *pl,
                             const xlsnap__cfgdisk *cd, const char *name)
{
    if (pl->want && pl->want->kind)
        return xlsnap__error(pl->ctx, XLSNAP_ERROR_NOTSUP, "disk %s (%s) is "
                             "snapshotted by the %s driver: it has no "
                             "internal or external snapshots", cd->vdev,
                             cd->path, name);
    if (pl->want && pl->want->target)
        return xlsnap__error(pl->ctx, XLSNAP_ERROR_NOTSUP, "disk %s (%s) is "
                             "snapshotted by the %s driver: the driver "
                             "names its snapshot (a volume of the same "
                             "volume group, a copy next to the file), not "
                             "a target path", cd->vdev, cd->path, name);
    return 0;
}

/* --- create's take --------------------------------------------------- */

/* Every driver, in the order they take (the one taking all its disks
 * at once last: it cannot be cancelled). */
static const xlsnap__disk_driver *const drivers[XLSNAP__DISK_NDRIVERS] = {
    &xlsnap__disk_lvm, &xlsnap__disk_reflink, &xlsnap__disk_qcow2,
};

const xlsnap__disk_driver *xlsnap__disk_driver_at(int i)
{
    return i >= 0 && i < XLSNAP__DISK_NDRIVERS ? drivers[i] : NULL;
}

/* Whether drv takes some disk of sn. */
static bool takes_some(const xlsnap__disk_driver *drv,
                       const xlsnap_snapshot *sn)
{
    for (int i = 0; i < sn->num_disks; i++)
        if (xlsnap__disk_driver_ops(&sn->disks[i]) == drv) return true;
    return false;
}

void xlsnap__disk_takes_dispose(xlsnap__disk_takes *t)
{
    for (int j = 0; j < XLSNAP__DISK_NDRIVERS; j++) {
        if (t->state[j] && drivers[j]->release)
            drivers[j]->release(t->state[j]);
        t->state[j] = NULL;
        t->prepared[j] = false;
    }
}

int xlsnap__disks_prepare(const xlsnap__disk_op *op, xlsnap__disk_takes *t)
{
    int rc;

    for (int j = 0; j < XLSNAP__DISK_NDRIVERS; j++) {
        const xlsnap__disk_driver *drv = drivers[j];
        if (t->prepared[j] || !drv->prepare || !takes_some(drv, op->sn))
            continue;
        if ((rc = drv->prepare(op, &t->state[j]))) return rc;
        t->prepared[j] = true;
    }
    return 0;
}

int xlsnap__disks_connect(const xlsnap__disk_op *op, xlsnap__disk_takes *t)
{
    int rc;

    for (int j = 0; j < XLSNAP__DISK_NDRIVERS; j++) {
        const xlsnap__disk_driver *drv = drivers[j];
        if (!t->prepared[j] || !drv->connect) continue;
        if ((rc = drv->connect(op, t->state[j]))) {
            xlsnap__disks_disconnect(t);
            return rc;
        }
    }
    return 0;
}

void xlsnap__disks_disconnect(xlsnap__disk_takes *t)
{
    for (int j = 0; j < XLSNAP__DISK_NDRIVERS; j++)
        if (t->prepared[j] && drivers[j]->disconnect)
            drivers[j]->disconnect(t->state[j]);
}

/* The disks i < n taken one by one are removed again. */
static void cancel_disks(const xlsnap__disk_op *op, int n)
{
    xlsnap__errsaved saved;

    xlsnap__errsave(op->ctx, &saved);
    for (int i = 0; i < n; i++) {
        const xlsnap_disk *d = &op->sn->disks[i];
        const xlsnap__disk_driver *drv = xlsnap__disk_driver_ops(d);
        if (drv && !drv->take_all && drv->cancel) drv->cancel(op, d);
    }
    xlsnap__errrestore(op->ctx, &saved);
}

static int disks_take(const xlsnap__disk_op *op, const char *size,
                      xlsnap__disk_takes *t);

int xlsnap__disks_take(const xlsnap__disk_op *op, const char *size,
                       xlsnap__disk_takes *t)
{
    int rc = disks_take(op, size, t);

    xlsnap__disks_disconnect(t);
    return rc;
}

static int disks_take(const xlsnap__disk_op *op, const char *size,
                      xlsnap__disk_takes *t)
{
    xlsnap_ctx *ctx = op->ctx;
    const xlsnap_snapshot *sn = op->sn;
    int rc;

    if (!sn->num_disks) return 0;
    if ((rc = xlsnap__disks_prepare(op, t))) return rc;
    for (int i = 0; i < sn->num_disks; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        const xlsnap__disk_driver *drv = xlsnap__disk_driver_ops(d);
        if (drv && drv->take_all) continue;
        rc = drv && drv->take
           ? drv->take(op, d, sn->name, size)
           : xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "no driver");
        if (rc) {
            cancel_disks(op, i);
            return xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev);
        }
    }
    for (int j = 0; j < XLSNAP__DISK_NDRIVERS; j++) {
        const xlsnap__disk_driver *drv = drivers[j];
        if (!drv->take_all || !takes_some(drv, sn)) continue;
        if ((rc = drv->take_all(op, t->state[j]))) {
            cancel_disks(op, sn->num_disks);
            return rc;
        }
    }
    return 0;
}

int xlsnap__disks_commit(const xlsnap__disk_op *op, xlsnap__disk_takes *t)
{
    int rc;

    for (int j = 0; j < XLSNAP__DISK_NDRIVERS; j++) {
        const xlsnap__disk_driver *drv = drivers[j];
        if (!drv->commit || !takes_some(drv, op->sn)) continue;
        if ((rc = drv->commit(op, t->state[j]))) return rc;
    }
    return 0;
}

/* The one refusal for a disk no driver can snapshot. */
static int refuse(xlsnap_ctx *ctx, const xlsnap__cfgdisk *cd,
                  const char *what)
{
    return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP,
                         "disk %s (%s, backend %s) cannot be snapshotted: "
                         "%s; snapshots work for qcow2 images served by "
                         "QEMU (convert with qemu-img convert -O qcow2, "
                         "then format=qcow2, backendtype=qdisk in the "
                         "config), for disks on LVM logical volumes "
                         "(thin or classic) and for raw files on a file "
                         "system with reflink copies (XFS made with "
                         "reflink=1, btrfs)", cd->vdev, cd->path,
                         cd->backend ? cd->backend : "unknown", what);
}

int xlsnap__disk_select(xlsnap_ctx *ctx, const xlsnap__cfgdisk *cd,
                        bool running, const xlsnap__disk_driver **drv_r)
{
    bool qdisk = cd->backend && !strcmp(cd->backend, "qdisk");
    /* libxl's stored config of a domain started with
     * disk=['/path/disk.img,raw,xvda,w'] names no backend: libxl serves
     * such a raw file with blkback (phy) */
    bool phy = !cd->backend || !strcmp(cd->backend, "phy") ||
               !strcmp(cd->backend, "unknown");
    struct stat st;
    int rc;

    *drv_r = &xlsnap__disk_qcow2;
    if (qdisk) return 0;
    if (cd->path && stat(cd->path, &st) == 0 && S_ISBLK(st.st_mode)) {
        if ((rc = xlsnap__lvm_is_lv(ctx, cd->path)) < 0) return rc;
        if (rc) { *drv_r = &xlsnap__disk_lvm; return 0; }
        return refuse(ctx, cd, "it is a block device that is not an LVM "
                      "logical volume");
    }
    if (phy && cd->format && !strcmp(cd->format, "raw") && cd->path) {
        int e = xlsnap__reflink_probe(cd->path);
        char why[256];
        if (!e) { *drv_r = &xlsnap__disk_reflink; return 0; }
        snprintf(why, sizeof(why), "a raw file served by the kernel "
                 "backend (blkback, through a loop device) is snapshotted "
                 "as a reflink copy, and its file system makes none (%s)",
                 strerror(e));
        return refuse(ctx, cd, why);
    }
    if (running && !qdisk)
        return refuse(ctx, cd, "a file served by the kernel backend "
                      "(blkback, through a loop device) has no snapshot "
                      "driver");
    return 0;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
