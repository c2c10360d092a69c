/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * backend/disk.h - the disk-driver layer: one interface, one driver per
 * kind of storage, chosen per disk from the domain config (backend,
 * path, format) and from what the path is on the host.
 *
 *   qcow2  images served by QEMU (qdisk) or, offline, any qcow2 image:
 *          internal and external snapshots, every disk of a snapshot
 *          in one QMP transaction, or qemu-img offline
 *          (backend/qcow2_driver.c: plan, take, describe, check,
 *          revert; backend/qcow2_remove.c: remove;
 *          backend/qcow2_cancel.c: taken, complete, cancel).
 *   lvm    a disk on an LVM logical volume (phy:, blkback): thin
 *          volumes get thin snapshots, classic ("thick") volumes
 *          copy-on-write snapshots of a fixed size (backend/lvm.c).
 *   reflink  a raw file served by the kernel backend (blkback, through a
 *          loop device) on a file system with reflink copies (XFS,
 *          btrfs): the snapshot is a reflink copy (backend/reflink.c).
 *
 * Anything else (such a file on a file system without reflink copies, a
 * block device that is not a logical volume) is refused by
 * xlsnap__disk_select with one message naming the disk and the ways out.
 *
 * Every op returns 0 or a negative XLSNAP_ERROR_* with the message on
 * ctx.  take/cancel/revert/remove work on a record's disk (xlsnap_disk of
 * kind XLSNAP_DISK_VOLUME for lvm and reflink).
 */
#ifndef XLSNAP_BACKEND_DISK_H
#define XLSNAP_BACKEND_DISK_H

#include "internal.h"

/*
 * What an op knows of the domain besides the disk: every op gets one.
 * ctx and uuid are always set; the rest is NULL (or false) where the
 * caller does not have it (a record without its domain, redefine,
 * warnings).  Drivers that need only the disk read ctx and uuid.
 */
typedef struct xlsnap__disk_op {
    xlsnap_ctx *ctx;
    const char *uuid;                  /* the domain's */
    const xlsnap_domain *dom;          /* the domain, or NULL */
    const xlsnap_snapshot *sn;         /* the record the disk is in, or NULL */
    bool running;                      /* the domain runs (its QEMU too) */
    const xlsnap__strset *live;        /* images a running QEMU has open */
    const xlsnap__strset *known;       /* images the records name */
    const xlsnap__refs *named;         /* images the records name, counted */
    const xlsnap__part *parts;         /* what the record's create made */
    int nparts;
    const xlsnap_snapshot *list;       /* the domain's records (revert) */
    int nr;
    const struct xlsnap__disk_revert *rv; /* revert: this disk's plan */
    xlsnap__tree *tree;                /* delete: the domain's records
                                        * (those gone marked; a live
                                        * merge rewrites some) */
} xlsnap__disk_op;

/*
 * What the revert of one disk makes, planned (revert_plan) before
 * anything is touched and written to the revert intent, so that check
 * --repair can finish it (revert again) or roll it back (remove fresh).
 * All NULL: the disk is reverted in place (a volume, a qcow2 internal
 * snapshot applied in its image).
 */
typedef struct xlsnap__disk_revert {
    char *fresh;        /* a new image the disk gets (the config names it) */
    char *path;         /* the configured path that gets the snapshot's
                         * data, ... */
    char *moved;        /* ... the old image there renamed to this */
} xlsnap__disk_revert;

/* What create's plan of one disk knows. */
typedef struct xlsnap__disk_plan {
    xlsnap_ctx *ctx;
    const xlsnap_create_params *p;     /* the caller's parameters */
    const xlsnap_cfg_disk *want;       /* what p asks of this disk, or NULL */
    const char *config;                /* the domain's config (libxl JSON) */
    bool running;                      /* the domain runs */
    const char *uuid;                  /* the domain's */
    const char *snap;                  /* the snapshot's name */
} xlsnap__disk_plan;

/* An op context with only ctx and uuid. */
#define XLSNAP__DISK_OP(c, u) ((xlsnap__disk_op){ .ctx = (c), .uuid = (u) })

typedef struct xlsnap__disk_driver {
    const char *name;                  /* record's "driver" */
    /* Probe and plan config disk cd (writable, with an image): fill sd
     * (vdev, format, image, kind, the driver's fields) for snapshot
     * pl->snap, or refuse what pl asks that the driver cannot do. */
    int (*plan)(const xlsnap__disk_plan *pl, const xlsnap__cfgdisk *cd,
                xlsnap_disk *sd);
    /* Create takes a snapshot's disks through xlsnap__disks_prepare,
     * _take and _commit (below), in one of two ways.
     * Disk by disk: take one (the guest is paused, suspended or off;
     * size: the caller's xlsnap_create_params.snapshot_size, checked,
     * NULL: the driver's default, for drivers whose snapshots have a
     * size), and cancel a take that succeeded (a later disk failed). */
    int (*take)(const xlsnap__disk_op *op, const xlsnap_disk *sd,
                const char *snap, const char *size);
    /* Cancel a take: create's, that succeeded (a later disk failed; a
     * driver that takes all its disks at once is never cancelled by
     * create), or an interrupted create's, from check --repair (the
     * record still "preparing": whatever of it was done goes, the disk
     * is as before the create; qcow2: op->dom, op->live and the
     * domain's records op->list, op->sn among them). */
    int (*cancel)(const xlsnap__disk_op *op, const xlsnap_disk *sd);
    /* check --repair of an interrupted create: whether its take of
     * this disk is there (*yes_r).  NULL op: check finds no problem. */
    int (*taken)(const xlsnap__disk_op *op, const xlsnap_disk *sd,
                 bool *yes_r);
    /* check --repair of an interrupted create whose takes are all
     * there: what the create left to do of this disk before the record
     * is made ready (qcow2: the running domain's config names the
     * overlay QEMU writes to).  NULL op: nothing. */
    int (*complete)(const xlsnap__disk_op *op, const xlsnap_disk *sd);
    /* Or every disk of op->sn the driver has at one instant, which
     * cannot be cancelled: such a driver takes after every other (one
     * only: qcow2).  prepare runs before the guest stops (*state_r: what
     * take_all and commit get, freed by release); take_all runs with
     * the guest paused, suspended or off, and on failure has changed no
     * disk; commit runs once every driver took, the guest still stopped
     * (NULL ops: nothing to do). */
    int (*prepare)(const xlsnap__disk_op *op, void **state_r);
    /* Right before the guest is paused for a take (disk-only): what the
     * take needs that the pause does not (qcow2: QEMU's monitor), held
     * until take_all or disconnect, which runs before any unpause (NULL
     * ops: nothing to do). */
    int (*connect)(const xlsnap__disk_op *op, void *state);
    void (*disconnect)(void *state);
    int (*take_all)(const xlsnap__disk_op *op, void *state);
    int (*commit)(const xlsnap__disk_op *op, void *state);
    void (*release)(void *state);
    /* Whether revert can be done now (nothing touched yet): 0 or why
     * not. */
    int (*revert_check)(const xlsnap__disk_op *op, const xlsnap_disk *sd);
    /* Plan the revert (after revert_check, nothing touched yet): fill
     * rv and rewrite *cfg, the config the domain gets, for the disk's
     * new image.  NULL op: reverted in place, the config stays. */
    int (*revert_plan)(const xlsnap__disk_op *op, const xlsnap_disk *sd,
                       xlsnap__disk_revert *rv, char **cfg);
    /* The disk gets the snapshot's data (the domain is off) as
     * op->rv plans it (a volume: the path the config names stays
     * valid).  Done again by check --repair after an interrupted
     * revert: it finishes a half-done one. */
    int (*revert)(const xlsnap__disk_op *op, const xlsnap_disk *sd);
    /* Remove the snapshot's data (only what this tool made and tagged;
     * qcow2: where nothing else needs it, as op->tree, live, known,
     * named and parts say).  Done again by check --repair after an
     * interrupted delete. */
    int (*remove)(const xlsnap__disk_op *op, const xlsnap_disk *sd);
    /* A one-line description ("LVM thin snapshot vg/lv-xs-s1 of vg/lv");
     * NULL: out of memory. */
    char *(*describe)(const xlsnap_disk *sd);
    /* The snapshot's data is there and sound: 0 (ok, *why_r NULL) or
     * 0 with *why_r saying what is wrong; <0: could not look. */
    int (*check)(const xlsnap__disk_op *op, const xlsnap_disk *sd,
                 char **why_r);
    /* The snapshot's data is sound but at risk (a copy-on-write store
     * filling up): *why_r says how (a sentence naming the disk), else
     * NULL; <0: could not look.  NULL op: never at risk. */
    int (*warn)(const xlsnap__disk_op *op, const xlsnap_disk *sd,
                char **why_r);
    /* check: an operation of the driver's own on the domain (op->dom)
     * that was interrupted, found by the intent it wrote (qcow2: a create
     * whose new overlay still has its temporary name): *problem_r says
     * what is found (NULL: nothing), *snap_r names the snapshot; with
     * repair it is finished or undone, *done_r saying how.  NULL op: the
     * driver writes no intent. */
    int (*recover)(const xlsnap__disk_op *op, bool repair, char **snap_r,
                   char **problem_r, char **done_r);
    /* An import's data of disk sd is whole (check --repair completes an
     * interrupted import only then): 0 with *why_r NULL, or 0 with
     * *why_r saying what is wrong; <0: could not look.  An image in
     * op->live (a running QEMU has it open) is not read.  NULL op: the
     * parts' checksums say it all. */
    int (*verify)(const xlsnap__disk_op *op, const xlsnap_disk *sd,
                  char **why_r);
    /* Export: the snapshot's data of disk sd as a standalone qcow2 image
     * at out (bd NULL), or a delta: only what differs from base snapshot
     * base's disk bd, on the placeholder backing "xl-snapshot-base:<base>"
     * (import points it at the base's image).  Temporary files go beside
     * out; on failure nothing is left of out.  *made (zeroed by the
     * caller): what the driver learnt of out as it wrote it, if it did. */
    int (*export)(const xlsnap__disk_op *op, const xlsnap_disk *sd,
                  const xlsnap_disk *bd, const char *base, const char *out,
                  xlsnap__export_made *made);
} xlsnap__disk_driver;

extern const xlsnap__disk_driver xlsnap__disk_qcow2;
extern const xlsnap__disk_driver xlsnap__disk_lvm;
extern const xlsnap__disk_driver xlsnap__disk_reflink;

/* Driver i (0 <= i < XLSNAP__DISK_NDRIVERS) of every driver. */
const xlsnap__disk_driver *xlsnap__disk_driver_at(int i);

/* backend/qcow2_export.c: the qcow2 driver's export. */
int xlsnap__qcow2_export(const xlsnap__disk_op *op, const xlsnap_disk *d,
                         const xlsnap_disk *bd, const char *base,
                         const char *out, xlsnap__export_made *made);
/* bundle/volume.c: the volume drivers' (lvm, reflink) export. */
int xlsnap__volume_export_op(const xlsnap__disk_op *op, const xlsnap_disk *d,
                             const xlsnap_disk *bd, const char *base,
                             const char *out, xlsnap__export_made *made);

/* backend/qcow2_remove.c: the qcow2 driver's remove. */
int xlsnap__qcow2_remove(const xlsnap__disk_op *op, const xlsnap_disk *d);
/* backend/qcow2_cancel.c: the qcow2 driver's taken, complete and
 * cancel. */
int xlsnap__qcow2_taken(const xlsnap__disk_op *op, const xlsnap_disk *d,
                        bool *yes_r);
int xlsnap__qcow2_complete(const xlsnap__disk_op *op, const xlsnap_disk *d);
int xlsnap__qcow2_cancel(const xlsnap__disk_op *op, const xlsnap_disk *d);
/* backend/qcow2_driver.c, for the qcow2 driver's own files: whether
 * image (format fmt) holds internal snapshot name, through QMP when a
 * running QEMU has it open (in op->live, asked of op->dom's QEMU), else
 * qemu-img. */
int xlsnap__qcow2_has_snapshot(const xlsnap__disk_op *op, const char *image,
                               const char *fmt, const char *name,
                               bool *has_r);

/* The driver of a record's disk (no "driver" field: qcow2); NULL for a
 * driver this version does not know. */
const xlsnap__disk_driver *xlsnap__disk_driver_of(const xlsnap_disk *d);

/* The driver whose ops check and revert a record's disk: the qcow2
 * driver for an image (internal, external) whatever the record's
 * "driver" says, a volume's own (NULL: unknown to this version). */
const xlsnap__disk_driver *xlsnap__disk_driver_ops(const xlsnap_disk *d);

/* create: the drivers' take of one snapshot's disks (zeroed to start). */
#define XLSNAP__DISK_NDRIVERS 3
typedef struct {
    bool prepared[XLSNAP__DISK_NDRIVERS];
    void *state[XLSNAP__DISK_NDRIVERS];
} xlsnap__disk_takes;
void xlsnap__disk_takes_dispose(xlsnap__disk_takes *t);
/* Before the guest stops: every driver with disks in op->sn prepares
 * (done once; _take does it if not done yet). */
int xlsnap__disks_prepare(const xlsnap__disk_op *op, xlsnap__disk_takes *t);
/* Right before the guest is paused (after _prepare): the drivers'
 * connect; _take disconnects them, success or not, and so must the
 * caller before it unpauses the guest without a take. */
int xlsnap__disks_connect(const xlsnap__disk_op *op, xlsnap__disk_takes *t);
void xlsnap__disks_disconnect(xlsnap__disk_takes *t);
/* Every disk of op->sn through its driver (the guest is paused,
 * suspended or off); on failure no disk was changed. */
int xlsnap__disks_take(const xlsnap__disk_op *op, const char *size,
                       xlsnap__disk_takes *t);
/* After the take, the guest still stopped: the drivers' commit. */
int xlsnap__disks_commit(const xlsnap__disk_op *op, xlsnap__disk_takes *t);

/* A volume driver's plan (name: the driver's) refuses what it has no
 * notion of: an internal or external kind, a target path. */
int xlsnap__disk_plan_volume(const xlsnap__disk_plan *pl,
                             const xlsnap__cfgdisk *cd, const char *name);

/* The driver for config disk cd of a domain (running: its backend is
 * live), or a refusal naming the disk and what would work. */
int xlsnap__disk_select(xlsnap_ctx *ctx, const xlsnap__cfgdisk *cd,
                        bool running, const xlsnap__disk_driver **drv_r);

/* backend/lvm.c: whether path is an LVM logical volume (1), not one
 * (0: not a block device LVM knows, or no LVM tools), <0 on error. */
int xlsnap__lvm_is_lv(xlsnap_ctx *ctx, const char *path);

/* backend/lvm.c, check: an LV of this tool's that no record names. */
typedef struct {
    char *volume;       /* "VG/LV" */
    bool old;           /* the old origin an interrupted thin revert left
                         * ("<LV>-xs-old<time>", the origin's own tags):
                         * reported, repaired when tagged; else a
                         * snapshot volume tagged xlsnap and
                         * xlsnap-uuid-<uuid> */
    bool tagged;        /* an old origin this version's revert set aside
                         * (tagged xlsnap-old, xlsnap-old-uuid-<uuid>);
                         * a snapshot volume: always */
} xlsnap__lvm_orphan;

/* The orphans of domain uuid whose records are l (nr). */
int xlsnap__lvm_orphans(xlsnap_ctx *ctx, const char *uuid,
                        const xlsnap_snapshot *l, int nr,
                        xlsnap__lvm_orphan **v_r, int *n_r);
void xlsnap__lvm_orphan_list_free(xlsnap__lvm_orphan *v, int n);
/* lvremove of orphan volume ("VG/LV") after its tags are checked again
 * (xlsnap and this domain's); gone already: 0. */
int xlsnap__lvm_remove_orphan(xlsnap_ctx *ctx, const char *volume,
                              const char *uuid);

/* Repair old origin volume ("VG/<LV>-xs-old<time>", tagged as set
 * aside by a revert of domain uuid, checked again): the origin is there
 * (the revert made it): removed; its name is free (the revert was
 * killed before): put back under it, the revert's tags taken off
 * (*back_r). */
int xlsnap__lvm_repair_old(xlsnap_ctx *ctx, const char *volume,
                           const char *uuid, bool *back_r);

/* backend/reflink.c, check: a file of the driver's that no record
 * names, in the directories of the domain's reflink disks. */
typedef struct {
    char *path;
    bool temp;          /* a revert's temporary copy
                         * "<disk file>.xs-revert-<pid>" of a process
                         * that is gone; else a snapshot copy
                         * "<stem>.<snap>.img" marked user.xlsnap =
                         * "<uuid>/<snap>" */
    bool marked;        /* carries this domain's mark (a copy always; a
                         * temporary copy when made by this version:
                         * user.xlsnap.revert = "<uuid>") */
} xlsnap__reflink_orphan;

int xlsnap__reflink_orphans(xlsnap_ctx *ctx, const char *uuid,
                            const xlsnap_snapshot *l, int nr,
                            xlsnap__reflink_orphan **v_r, int *n_r);
void xlsnap__reflink_orphan_list_free(xlsnap__reflink_orphan *v, int n);
/* Remove orphan o after its mark is read again; not marked: PERM. */
int xlsnap__reflink_remove_orphan(xlsnap_ctx *ctx,
                                  const xlsnap__reflink_orphan *o,
                                  const char *uuid);

/* A snapshot size (xlsnap_snapshot_size_check): 0 with *bytes_r or
 * *percent_r set (the other 0), or -1. */
int xlsnap__snapshot_size_parse(const char *s, uint64_t *bytes_r,
                                unsigned *percent_r);

/* backend/reflink.c: whether the file system of the directory of path
 * makes reflink copies: 0, or the errno of the failed attempt
 * (EOPNOTSUPP, EXDEV, EINVAL, ...). */
int xlsnap__reflink_probe(const char *path);

#endif

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
