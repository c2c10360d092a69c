/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: bundle/delta.c's comparison of two snapshots' L2 entries
 * (xlsnap__delta_entry): the same host cluster, or zeros in both, is
 * unchanged; anything else is the snapshot's data or zeros; an entry
 * naming a cluster outside the file or unaligned is bad;
 * the COPIED flag (refcount 1) does not count.  The delta of a raw
 * volume from its changed ranges (xlsnap__delta_ranges): a qcow2 image
 * qemu-img finds clean, that on the base reads as the volume, hashed as
 * written; ranges out of order or outside the volume are refused. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
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

/* raw volume and base of 5 clusters and 8 KiB: the volume differs in
 * cluster 1 (data), 3 (zeros in the volume) and the last part cluster */
#define RSIZE (5 * CS + 8192)
static int make_raw(const char *vol, const char *base)
{
    static unsigned char v[RSIZE], b[RSIZE];
    int fv, fb, rc;

    for (uint64_t i = 0; i < RSIZE; i++)
        v[i] = b[i] = (unsigned char)(i * 7 + i / 511);
    for (uint64_t i = CS; i < 2 * CS; i++) v[i] ^= 0x5a;
    memset(v + 3 * CS, 0, CS);
    for (uint64_t i = 5 * CS; i < RSIZE; i++) v[i] = 0xee;
    fv = open(vol, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    fb = open(base, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    rc = fv < 0 || fb < 0 || write(fv, v, RSIZE) != RSIZE ||
         write(fb, b, RSIZE) != RSIZE ? -1 : 0;
    if (fv >= 0) close(fv);
    if (fb >= 0) close(fb);
    return rc;
}

static void ranges(void)
{
    char dir[] = "/tmp/test_delta.XXXXXX", cmd[2048], sum[65] = "";
    char vol[64], base[64], out[64];
    const xlsnap__delta_range r[] = {
        { CS, CS, XLSNAP__DELTA_DATA },
        { 3 * CS, CS, XLSNAP__DELTA_ZERO },
        { 5 * CS, 8192, XLSNAP__DELTA_DATA },
    };
    const xlsnap__delta_range bad[][2] = {
        { { 3 * CS, CS, XLSNAP__DELTA_DATA }, { CS, CS, XLSNAP__DELTA_DATA } },
        { { CS, CS, XLSNAP__DELTA_DATA }, { 5 * CS, CS, XLSNAP__DELTA_DATA } },
        { { CS + 4096, CS, XLSNAP__DELTA_DATA }, { 0, 0, 0 } },
        { { CS, 2 * CS, XLSNAP__DELTA_DATA }, { 2 * CS, CS, 0 } },
    };
    xlsnap__export_made made = { 0 };
    xlsnap_ctx *ctx = NULL;
    FILE *f;
    int rc;

    if (!mkdtemp(dir) || xlsnap_ctx_alloc(&ctx, "/nonexistent", NULL)) {
        ok(0, "a directory and a context");
        return;
    }
    snprintf(vol, sizeof(vol), "%s/vol", dir);
    snprintf(base, sizeof(base), "%s/base", dir);
    snprintf(out, sizeof(out), "%s/d.qcow2", dir);
    ok(!make_raw(vol, base), "raw volume and base");
    rc = xlsnap__delta_ranges(ctx, vol, RSIZE, r, 3, "xl-snapshot-base:m1",
                              out, &made);
    ok(!rc, "delta of three ranges (%s)", xlsnap_last_error(ctx));
    ok(made.virtual_size == RSIZE && made.size > 0 && made.sha256[0],
       "made: size, virtual size, SHA-256");
    snprintf(cmd, sizeof(cmd), "sha256sum < %s", out);
    f = popen(cmd, "r");
    ok(f && fscanf(f, "%64s", sum) == 1 && !strcmp(sum, made.sha256),
       "the SHA-256 is the file's");
    if (f) pclose(f);
    if (system("qemu-img --version >/dev/null 2>&1")) {
        ok(1, "# SKIP no qemu-img");
    } else {
        snprintf(cmd, sizeof(cmd),
                 "qemu-img info -f qcow2 %s | grep -q "
                 "'backing file: xl-snapshot-base:m1' && "
                 "qemu-img rebase -u -f qcow2 -b %s -F raw %s && "
                 "qemu-img check -q -f qcow2 %s && "
                 "qemu-img convert -f qcow2 -O raw %s %s/r && "
                 "cmp %s/r %s", out, base, out, out, out, dir, dir, vol);
        ok(!system(cmd), "qemu-img check clean; on the base it reads as "
           "the volume");
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        unlink(out);
        rc = xlsnap__delta_ranges(ctx, vol, RSIZE, bad[i],
                                  bad[i][1].length ? 2 : 1,
                                  "xl-snapshot-base:m1", out, NULL);
        ok(rc == XLSNAP_ERROR_INVAL && access(out, F_OK),
           "ranges refused (%zu): %s", i, xlsnap_last_error(ctx));
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd)) {}
    xlsnap_ctx_free(ctx);
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
    ranges();
    return tap_done();
}
