/* SPDX-License-Identifier: LGPL-2.1-only */
/* delta.h - bundle/delta.c: a delta's disk from two internal snapshots'
 * L1/L2 tables, or from the ranges that differ in a raw volume (only
 * the clusters that differ). */
#ifndef XLSNAP_DELTA_H
#define XLSNAP_DELTA_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

enum {
    XLSNAP__DELTA_SAME,         /* the guest reads the same in both */
    XLSNAP__DELTA_DATA,         /* the snapshot's data cluster differs */
    XLSNAP__DELTA_ZERO,         /* the snapshot reads zeros, the base not */
    XLSNAP__DELTA_COMPRESSED,   /* the snapshot's compressed cluster differs */
    XLSNAP__DELTA_BAD,          /* an entry names a cluster it may not */
};

/* How L2 entry se (snapshot) compares with be (base) in an image of
 * fsize bytes, clusters of 2^cbits; *host_r the snapshot's data cluster
 * for XLSNAP__DELTA_DATA. */
int xlsnap__delta_entry(uint64_t se, uint64_t be, unsigned cbits,
                        uint64_t fsize, uint64_t *host_r);

/* The delta of internal snapshot snap on base (both in the qcow2 image,
 * which has no backing or data file) written to out (created): a qcow2
 * image, backing file name backing (format qcow2, never opened), with
 * only the clusters that differ.  base and backing NULL: a standalone
 * image of snap (every cluster it has).  0 with *done_r false: this
 * image is not one this covers (out not created); made (may be NULL):
 * the output's size, virtual size and SHA-256 (hashed as written); with
 * made->zstd the output is compressed as it is written (made->compressed,
 * plain_size the image's size). */
int xlsnap__delta_internal(xlsnap_ctx *ctx, const char *image,
                           const char *snap, const char *base,
                           const char *backing, const char *out,
                           bool *done_r, xlsnap__export_made *made);

/* A change of a raw volume: length bytes at offset that read as the
 * volume's (XLSNAP__DELTA_DATA) or as zeros (XLSNAP__DELTA_ZERO). */
typedef struct {
    uint64_t offset, length;
    int kind;
} xlsnap__delta_range;

/* The delta of raw volume raw (a block device or file, size bytes of
 * it) on a base it differs from only in the n ranges r (in order, not
 * overlapping, whole clusters of 64 KiB or to size): written to out
 * (created) as delta_internal writes it, backing file name backing,
 * reading only the DATA ranges of raw; made (may be NULL) as there.
 * Ranges that are not so: INVAL, nothing read. */
int xlsnap__delta_ranges(xlsnap_ctx *ctx, const char *raw, uint64_t size,
                         const xlsnap__delta_range *r, size_t n,
                         const char *backing, const char *out,
                         xlsnap__export_made *made);

#endif
