/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fuzz_thin_delta.c - libFuzzer target: the reading of thin_delta's
 * output (backend/lvm.c, xlsnap__lvm_thin_delta_parse), as export
 * --delta of two LVM thin snapshots reads it.  The first 8 bytes give
 * the volume's size (a multiple of 512 bytes up to 1 TiB), the rest is
 * the output (thin ids 1 and 2).  What is taken must be what the delta
 * writer may read: ranges of DATA or ZERO, not empty, in order, not
 * overlapping, starting on a 64 KiB boundary, inside the volume; the
 * mapped counts at least the ranges' blocks.
 */
#include "fuzz.h"
#include "bundle/volume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xlsnap_ctx *ctx = fuzz_ctx();
    xlsnap__delta_range *r = NULL;
    uint64_t vsize = 0, next = 0, mapped[2];
    size_t n = 0;
    char *text;
    int rc;

    if (size < 8) return 0;
    for (int i = 0; i < 8; i++) vsize = vsize << 8 | data[i];
    vsize = (vsize % (1ULL << 31) + 1) * 512;      /* up to 1 TiB */
    text = fuzz_text(data + 8, size - 8);
    rc = xlsnap__lvm_thin_delta_parse(ctx, text, 1, 2, vsize, &r, &n,
                                      mapped);
    if (rc < 0 || rc > 1) abort();
    if (rc == 1 && (r || n)) abort();
    for (size_t i = 0; !rc && i < n; i++) {
        if ((r[i].kind != XLSNAP__DELTA_DATA &&
             r[i].kind != XLSNAP__DELTA_ZERO) || !r[i].length ||
            r[i].offset % 65536 || r[i].offset < next ||
            r[i].offset > vsize || r[i].length > vsize - r[i].offset)
            abort();
        next = r[i].offset + r[i].length;
    }
    free(r);
    free(text);
    return 0;
}
