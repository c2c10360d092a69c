/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: bundle/delta.c's comparison of two snapshots' L2 entries
 * (xlsnap__delta_entry): the same host cluster, or zeros in both, is
 * unchanged; anything else is the snapshot's data or zeros; an entry
 * naming a cluster outside the file or unaligned is bad;
 * the COPIED flag (refcount 1) does not count. */
#include <stdbool.h>
#include <stdint.h>
#include "libxlsnap.h"
#include "bundle/delta.h"
#include "tap.h"

#define CB 16                           /* 64 KiB clusters */
#define CS (1ULL << CB)
#define FS (100 * CS)                   /* a file of 100 clusters */
#define COPIED (1ULL << 63)
#define COMP (1ULL << 62)

static int cmp(uint64_t s, uint64_t b, uint64_t *host)
{
    return xlsnap__delta_entry(s, b, CB, FS, host);
}

int main(void)
{
    uint64_t h;

    ok(cmp(0, 0, &h) == XLSNAP__DELTA_SAME, "unallocated in both: same");
    ok(cmp(1, 0, &h) == XLSNAP__DELTA_SAME, "zero and unallocated: same");
    ok(cmp(0, 5 * CS | 1, &h) == XLSNAP__DELTA_SAME,
       "unallocated and preallocated zero: same");
    ok(cmp(5 * CS, 5 * CS | COPIED, &h) == XLSNAP__DELTA_SAME,
       "one host cluster, COPIED in one only: same");
    ok(cmp(5 * CS | COPIED, 6 * CS, &h) == XLSNAP__DELTA_DATA && h == 5 * CS,
       "another host cluster: the snapshot's data, at its offset");
    ok(cmp(7 * CS, 0, &h) == XLSNAP__DELTA_DATA && h == 7 * CS,
       "data where the base had none: data");
    ok(cmp(7 * CS, 3 * CS | 1, &h) == XLSNAP__DELTA_DATA && h == 7 * CS,
       "data where the base read zeros: data");
    ok(cmp(0, 7 * CS, &h) == XLSNAP__DELTA_ZERO, "unallocated now: zeros");
    ok(cmp(7 * CS | 1, 7 * CS, &h) == XLSNAP__DELTA_ZERO,
       "zero flag on the same cluster: zeros");
    ok(cmp(COMP | 1234, COMP | 1234 | COPIED, &h) == XLSNAP__DELTA_SAME,
       "one compressed descriptor: same");
    ok(cmp(COMP | 1234, COMP | 4321, &h) == XLSNAP__DELTA_COMPRESSED,
       "another compressed cluster: compressed");
    ok(cmp(COMP | 1234, 0, &h) == XLSNAP__DELTA_COMPRESSED,
       "compressed where the base had none: compressed");
    ok(cmp(5 * CS, COMP | 1234, &h) == XLSNAP__DELTA_DATA && h == 5 * CS,
       "data where the base was compressed: data");
    ok(cmp(0, COMP | 1234, &h) == XLSNAP__DELTA_ZERO,
       "unallocated where the base was compressed: zeros");
    ok(cmp(5 * CS + 512, 0, &h) == XLSNAP__DELTA_BAD, "unaligned: bad");
    ok(cmp(0, 5 * CS + 512, &h) == XLSNAP__DELTA_BAD,
       "unaligned in the base: bad");
    ok(cmp(100 * CS, 0, &h) == XLSNAP__DELTA_BAD, "past the end: bad");
    ok(cmp(99 * CS, 0, &h) == XLSNAP__DELTA_DATA, "the last cluster: data");
    ok(cmp((1ULL << 55) | COPIED, 0, &h) == XLSNAP__DELTA_BAD,
       "far past the end: bad");
    ok(cmp((1ULL << 40) | 1, 0, &h) == XLSNAP__DELTA_BAD,
       "zero flag with an offset outside the file: bad");
    ok(xlsnap__delta_entry(CS, 0, CB, CS / 2, &h) == XLSNAP__DELTA_BAD,
       "a file shorter than the cluster: bad");
    ok(xlsnap__delta_entry(3 * 512, 0, 9, FS, &h) == XLSNAP__DELTA_DATA,
       "512-byte clusters: any multiple of 512 is aligned");
    return tap_done();
}
