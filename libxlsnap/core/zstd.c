/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * zstd.c - the library's one zstd engine (libzstd, streaming)
 *
 * xlsnap__zstream_run() compresses or decompresses one fd into
 * another (compressing, with libzstd's worker threads when asked:
 * xlsnap__zstd_workers); it never touches a ctx (zpipe.c runs it in a thread) and
 * says where it failed (XLSNAP__Z_*), so each user words its own
 * message.  xlsnap__zstd() is the ctx flavour for bundle members.
 * xlsnap__zenc_*: a compressor fed in pieces by a writer that makes its
 * own input (the hashed writer's compressed parts, bundle.c).
 */
#include "internal.h"

#include <unistd.h>
#include <zstd.h>

int xlsnap__zstd_workers(void)
{
    ZSTD_bounds b = ZSTD_cParam_getBounds(ZSTD_c_nbWorkers);
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (ZSTD_isError(b.error) || b.upperBound < 1 || n < 1) return 0;
    return n < b.upperBound ? (int)n : b.upperBound;
}

int xlsnap__zstream_run(xlsnap__zstream *z, int in, int out)
{
    size_t isz = z->in_buf ? z->in_buf : z->compress ? ZSTD_CStreamInSize()
                                                     : ZSTD_DStreamInSize();
    size_t osz = z->out_buf ? z->out_buf : z->compress ? ZSTD_CStreamOutSize()
                                                       : ZSTD_DStreamOutSize();
    char *ib = malloc(isz), *ob = malloc(osz);
    ZSTD_CCtx *cc = z->compress ? ZSTD_createCCtx() : NULL;
    ZSTD_DCtx *dc = z->compress ? NULL : ZSTD_createDCtx();
    size_t zr = 0;          /* decompress: 0 after a whole frame */
    bool eof = false;
    int stage = XLSNAP__Z_OK;

    z->in_bytes = z->out_bytes = 0;
    z->err = 0;
    z->zerr = NULL;
    if (!ib || !ob || (z->compress ? !cc : !dc)) {
        z->err = ENOMEM;
        stage = XLSNAP__Z_NOMEM;
        goto out;
    }
    if (cc) {
        ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel,
                               z->level ? z->level : 3);
        if (z->checksum) ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
        /* libzstd's own threads compress while this one reads and
         * writes; refused by a build without them: one thread */
        if (z->workers > 0)
            ZSTD_CCtx_setParameter(cc, ZSTD_c_nbWorkers, z->workers);
    }
    while (!eof) {
        ssize_t r = xlsnap__read_some(in, ib, isz);
        ZSTD_inBuffer zin;
        bool full;

        if (r < 0) {
            z->err = -r;
            stage = XLSNAP__Z_READ;
            goto out;
        }
        eof = r == 0;
        if (eof && !z->compress) break;
        z->in_bytes += r;
        zin = (ZSTD_inBuffer){ ib, (size_t)r, 0 };
        do {
            ZSTD_outBuffer zout = { ob, osz, 0 };
            int e;

            zr = cc ? ZSTD_compressStream2(cc, &zout, &zin,
                                           eof ? ZSTD_e_end
                                               : ZSTD_e_continue)
                    : ZSTD_decompressStream(dc, &zout, &zin);
            if (ZSTD_isError(zr)) {
                z->err = EIO;
                z->zerr = ZSTD_getErrorName(zr);
                stage = XLSNAP__Z_CODEC;
                goto out;
            }
            if (zout.pos > z->max_out - z->out_bytes) {
                stage = XLSNAP__Z_TOOBIG;
                goto out;
            }
            if (z->hash && (e = xlsnap__sha256_update(z->hash, ob,
                                                      zout.pos))) {
                z->err = e == XLSNAP_ERROR_NOMEM ? ENOMEM : EIO;
                stage = XLSNAP__Z_HASH;
                goto out;
            }
            if ((e = xlsnap__write_all(out, ob, zout.pos))) {
                z->err = -e;
                stage = XLSNAP__Z_WRITE;
                goto out;
            }
            z->out_bytes += zout.pos;
            /* decompress: a full output buffer may leave data in
             * zstd's own (zr not 0: the frame is not flushed yet) */
            full = zout.pos == zout.size;
            /* compress: at the end, loop until the frame is flushed */
        } while (zin.pos < zin.size || (cc && eof && zr) ||
                 (dc && full && zr));
        if (z->progress) z->progress(z->user, z->in_bytes);
    }
    if (dc && zr) stage = XLSNAP__Z_TRUNCATED;
 out:
    if (stage && !z->err) z->err = EIO;
    ZSTD_freeCCtx(cc);
    ZSTD_freeDCtx(dc);
    free(ib);
    free(ob);
    return stage;
}

/* the compressor fed in pieces: a ZSTD_CCtx set up as zstream_run's */
struct xlsnap__zenc {
    ZSTD_CCtx *cc;
};

xlsnap__zenc *xlsnap__zenc_alloc(void)
{
    xlsnap__zenc *z = calloc(1, sizeof(*z));
    int workers = xlsnap__zstd_workers();

    if (!z || !(z->cc = ZSTD_createCCtx())) {
        free(z);
        return NULL;
    }
    ZSTD_CCtx_setParameter(z->cc, ZSTD_c_compressionLevel,
                           XLSNAP__ZSTD_LEVEL);
    if (workers > 0)
        ZSTD_CCtx_setParameter(z->cc, ZSTD_c_nbWorkers, workers);
    return z;
}

int xlsnap__zenc_feed(xlsnap__zenc *z, const void *in, size_t n, bool end,
                      xlsnap__zenc_out *o, const char **zerr_r)
{
    ZSTD_inBuffer zin = { in, n, 0 };
    size_t zr;
    int rc;

    *zerr_r = NULL;
    do {
        ZSTD_outBuffer zout = { o->buf, o->size, 0 };

        /* with workers, this waits for one when it cannot take more
         * input (no spinning) and hands back what is compressed */
        zr = ZSTD_compressStream2(z->cc, &zout, &zin,
                                  end ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(zr)) {
            *zerr_r = ZSTD_getErrorName(zr);
            return XLSNAP__Z_CODEC;
        }
        if (zout.pos && (rc = o->emit(o, zout.pos))) return rc;
    } while (zin.pos < zin.size || (end && zr));
    return 0;
}

void xlsnap__zenc_free(xlsnap__zenc *z)
{
    if (!z) return;
    ZSTD_freeCCtx(z->cc);
    free(z);
}

typedef struct {
    xlsnap_ctx *ctx;
    const char *what;
    uint64_t in_size;
} progress_arg;

static void progress(void *user, uint64_t done)
{
    progress_arg *a = user;

    xlsnap__progress(a->ctx, a->what, done, a->in_size);
}

int xlsnap__zstd(xlsnap_ctx *ctx, int in, int out, bool compress,
                 const char *what, uint64_t in_size, uint64_t max_out,
                 uint64_t *out_r, char hex_r[65])
{
    progress_arg pa = { ctx, what, in_size };
    xlsnap__sha256 h = { 0 };
    xlsnap__zstream z = {
        .compress = compress, .level = XLSNAP__ZSTD_LEVEL,
        .workers = compress ? xlsnap__zstd_workers() : 0,
        .max_out = max_out,
        .progress = progress, .user = &pa, .hash = hex_r ? &h : NULL,
    };
    int rc, stage;

    if (hex_r && (rc = xlsnap__sha256_init(&h)))
        return xlsnap__sha256_error(ctx, rc);
    stage = xlsnap__zstream_run(&z, in, out);
    if (!stage && hex_r && (rc = xlsnap__sha256_final(&h, hex_r)))
        stage = XLSNAP__Z_HASH;
    xlsnap__sha256_dispose(&h);
    switch (stage) {
    case XLSNAP__Z_OK:
        break;
    case XLSNAP__Z_NOMEM:
        return xlsnap__nomem(ctx);
    case XLSNAP__Z_HASH:
        return xlsnap__sha256_error(ctx, z.err == ENOMEM ? XLSNAP_ERROR_NOMEM
                                                         : XLSNAP_ERROR_FAIL);
    case XLSNAP__Z_READ:
        return xlsnap__error_errno(ctx, z.err, "cannot read %s", what);
    case XLSNAP__Z_WRITE:
        return xlsnap__error_errno(ctx, z.err, "cannot write %s", what);
    case XLSNAP__Z_CODEC:
        return xlsnap__error(ctx, compress ? XLSNAP_ERROR_FAIL
                                           : XLSNAP_ERROR_CORRUPT,
                             "%s: zstd: %s", what, z.zerr);
    case XLSNAP__Z_TOOBIG:
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "%s: decompresses "
                             "to more than the %llu bytes the manifest "
                             "declares", what, (unsigned long long)max_out);
    default: /* XLSNAP__Z_TRUNCATED */
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "%s: the zstd "
                             "stream ends early", what);
    }
    if (out_r) *out_r = z.out_bytes;
    return 0;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
