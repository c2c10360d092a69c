/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * bundle/volume.h - export and import of the disks of the volume drivers
 * (lvm, reflink): bundle/volume.c, with the pieces it needs from
 * backend/lvm.c and backend/reflink.c.
 */
#ifndef XLSNAP_BUNDLE_VOLUME_H
#define XLSNAP_BUNDLE_VOLUME_H

#include "backend/disk.h"
#include "bundle/delta.h"

/* backend/lvm.c.  The snapshot LV of d (proven ours, not overflowed)
 * active: its device in *dev_r; *activated_r when this call activated
 * it (a thin snapshot skips activation): release deactivates it. */
int xlsnap__lvm_snapshot_open(xlsnap_ctx *ctx, const xlsnap_disk *d,
                              const char *uuid, char **dev_r,
                              bool *activated_r);
void xlsnap__lvm_snapshot_release(xlsnap_ctx *ctx, const xlsnap_disk *d,
                                  bool activated);
/* s as an LVM name (other characters '_'), at most max long. */
char *xlsnap__lvm_name(const char *s, size_t max);
/* An import's target "VG" or "VG/POOL" (a thin pool): checked to exist. */
int xlsnap__lvm_target(xlsnap_ctx *ctx, const char *target, char **vg_r,
                       char **pool_r);
/* 1: VG/LV exists, 0: not, <0 error. */
int xlsnap__lvm_exists(xlsnap_ctx *ctx, const char *vg, const char *lv);
/* An imported volume VG/LV of size bytes (thin in pool, or classic),
 * tagged xlsnap-imported and xlsnap-imported-uuid-<uuid>; remove only
 * removes such a one. */
int xlsnap__lvm_create_imported(xlsnap_ctx *ctx, const char *vg,
                                const char *pool, const char *lv,
                                uint64_t size, const char *uuid);
int xlsnap__lvm_remove_imported(xlsnap_ctx *ctx, const char *vg,
                                const char *lv, const char *uuid);
/* A delta imported onto volume group vg builds on base disk bd: its
 * snapshot LV there, proven ours (domain uuid) and thin (LVM cannot
 * snapshot a classic snapshot): 0, or why not. */
int xlsnap__lvm_delta_base(xlsnap_ctx *ctx, const xlsnap_disk *bd,
                           const char *vg, const char *uuid);
/* The delta's snapshot LV d->snapshot_volume (of d->volume_group), a
 * thin snapshot of bd's (checked again as above), tagged as the
 * driver's (lvm_take) for snapshot snap. */
int xlsnap__lvm_snapshot_of(xlsnap_ctx *ctx, const xlsnap_disk *bd,
                            const xlsnap_disk *d, const char *snap,
                            const char *uuid);

/* The ranges of bytes in which thin snapshot volume d differs from
 * bd's, a thin snapshot of the same volume in the same pool (both
 * proven ours), from thin_delta on a metadata snapshot of the pool
 * (the data is not read): 0 with *r_r (*n_r of them, in order; free
 * it) and d's size in *size_r; 1 when it cannot say (not thin, other
 * pools, an external origin, the pool's metadata snapshot taken, no
 * thin_delta or thin_ls, output not understood, ranges that do not
 * cover every block thin_ls says each maps): compare the contents. */
int xlsnap__lvm_thin_changes(xlsnap_ctx *ctx, const xlsnap_disk *d,
                             const xlsnap_disk *bd, const char *uuid,
                             xlsnap__delta_range **r_r, size_t *n_r,
                             uint64_t *size_r);

/* thin_delta's output (out) for --snap1 left --snap2 right on a volume
 * of size bytes, as the ranges that differ (left_only: zeros, mapped in
 * the base only; different, right_only: the volume's data): 0 with
 * *r_r, *n_r and the blocks the output says left and right map in
 * mapped_r; 1 if it is not wholly in thin_delta's form, with a block
 * size of 64 KiB to 1 GiB and ranges in order inside the volume
 * (nothing kept); <0 error. */
int xlsnap__lvm_thin_delta_parse(xlsnap_ctx *ctx, const char *out,
                                 uint64_t left, uint64_t right,
                                 uint64_t size, xlsnap__delta_range **r_r,
                                 size_t *n_r, uint64_t mapped_r[2]);

/* backend/reflink.c: the copy d names is there and marked ours. */
int xlsnap__reflink_snapshot_ok(xlsnap_ctx *ctx, const xlsnap_disk *d,
                                const char *uuid);

#endif

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
