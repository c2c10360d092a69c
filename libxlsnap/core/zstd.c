/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * zstd.c - streaming zstd for bundle members (libzstd)
 */
#include "internal.h"

#include <unistd.h>
#include <zstd.h>

static int put(xlsnap_ctx *ctx, int out, const void *buf, size_t n,
               xlsnap__sha256 *h, uint64_t *total, uint64_t max,
               const char *what)
{
    const char *p = buf;

    if (n > max - *total)
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "%s: decompresses "
                             "to more than the %llu bytes the manifest "
                             "declares", what, (unsigned long long)max);
    xlsnap__sha256_update(h, buf, n);
    *total += n;
    while (n) {
        ssize_t w = write(out, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return xlsnap__error_errno(ctx, errno, "cannot write %s",
                                              what);
        p += w;
        n -= w;
    }
    return 0;
}

int xlsnap__zstd(xlsnap_ctx *ctx, int in, int out, bool compress,
                 const char *what, uint64_t in_size, uint64_t max_out,
                 uint64_t *out_r, char hex_r[65])
{
    size_t isz = compress ? ZSTD_CStreamInSize() : ZSTD_DStreamInSize();
    size_t osz = compress ? ZSTD_CStreamOutSize() : ZSTD_DStreamOutSize();
    char *ib = malloc(isz), *ob = malloc(osz);
    ZSTD_CCtx *cc = compress ? ZSTD_createCCtx() : NULL;
    ZSTD_DCtx *dc = compress ? NULL : ZSTD_createDCtx();
    uint64_t done = 0, total = 0;
    xlsnap__sha256 h;
    size_t zr = 0;
    bool eof = false;
    int rc = 0;

    xlsnap__sha256_init(&h);
    if (!ib || !ob || (compress ? !cc : !dc)) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    if (cc) ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 3);
    while (!eof) {
        ssize_t r = read(in, ib, isz);
        ZSTD_inBuffer zin;
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = xlsnap__error_errno(ctx, errno, "cannot read %s", what);
            goto out;
        }
        eof = r == 0;
        if (eof && !compress) break;    /* zr: 0 after a whole frame */
        done += r;
        zin = (ZSTD_inBuffer){ ib, (size_t)r, 0 };
        do {
            ZSTD_outBuffer zout = { ob, osz, 0 };
            zr = compress ? ZSTD_compressStream2(cc, &zout, &zin,
                                                 eof ? ZSTD_e_end
                                                     : ZSTD_e_continue)
                          : ZSTD_decompressStream(dc, &zout, &zin);
            if (ZSTD_isError(zr)) {
                rc = xlsnap__error(ctx, compress ? XLSNAP_ERROR_FAIL
                                                 : XLSNAP_ERROR_CORRUPT,
                                   "%s: zstd: %s", what,
                                   ZSTD_getErrorName(zr));
                goto out;
            }
            if ((rc = put(ctx, out, ob, zout.pos, &h, &total, max_out,
                          what)))
                goto out;
            /* compress: at the end, loop until the frame is flushed */
        } while (zin.pos < zin.size || (compress && eof && zr));
        xlsnap__progress(ctx, what, done, in_size);
    }
    if (!compress && zr) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "%s: the zstd stream "
                           "ends early", what);
        goto out;
    }
    if (out_r) *out_r = total;
    if (hex_r) xlsnap__sha256_final(&h, hex_r);
 out:
    ZSTD_freeCCtx(cc);
    ZSTD_freeDCtx(dc);
    free(ib);
    free(ob);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
