/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * backend/disk.c - driver selection of the disk-driver layer (disk.h).
 */
#include "backend/disk.h"

#include <sys/stat.h>

/* qcow2: its work is done by the qcow2 code of create, revert and
 * delete (QMP transaction while QEMU runs, qemu-img offline). */
static char *qcow2_describe(const xlsnap_disk *d)
{
    return d->kind == XLSNAP_DISK_INTERNAL
        ? xlsnap__sprintf("qcow2 internal snapshot %s in %s",
                          d->internal_name, d->image)
        : xlsnap__sprintf("qcow2 image %s", d->backing);
}

const xlsnap__disk_driver xlsnap__disk_qcow2 = {
    .name = "qcow2",
    .describe = qcow2_describe,
};

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
