/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * zpipe.c - zstd-compressed memory images, streamed through a pipe
 *
 * A thread sits between a pipe and a file: compressing, it reads what
 * libxl writes into the pipe and appends zstd frames to the file;
 * decompressing, it reads the file and writes the plain stream into the
 * pipe.  So a memory image is never staged uncompressed on disk, and the
 * code that produces or consumes the xl save stream (libxl, the
 * restore_memory writer) sees an ordinary fd.  The thread never touches
 * the ctx: its error is reported by xlsnap__zpipe_finish().
 */
#include "internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <zstd.h>

/* Level 1: the save runs while the guest is suspended; speed first
 * (an idle guest's zero pages compress as well at any level). */
#define ZLEVEL 1
/* read and write in large pieces: every system call is dear in a
 * dom0 (more so under emulation) */
#define IOSIZE (4u << 20)

static int full_write(int fd, const void *p, size_t len)
{
    const char *c = p;

    while (len) {
        ssize_t n = write(fd, c, len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        c += n;
        len -= n;
    }
    return 0;
}

static ssize_t some_read(int fd, void *p, size_t len)
{
    ssize_t n;

    while ((n = read(fd, p, len)) < 0 && errno == EINTR) ;
    return n < 0 ? -errno : n;
}

static void set_err(xlsnap__zpipe *z, int e, const char *what,
                    const char *zerr)
{
    z->err = e ? e : EIO;
    snprintf(z->msg, sizeof(z->msg), "%s: %s", what,
             zerr ? zerr : strerror(z->err));
}

static void compress_loop(xlsnap__zpipe *z)
{
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    size_t isz = IOSIZE, osz = IOSIZE;
    char *in = malloc(isz), *out = malloc(osz), sink[4096];
    bool end = false;

    if (!cc || !in || !out) { set_err(z, ENOMEM, "zstd", NULL); goto out; }
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, ZLEVEL);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    while (!end) {
        ssize_t n = some_read(z->fd, in, isz);
        ZSTD_inBuffer ib = { in, n > 0 ? (size_t)n : 0, 0 };
        size_t left;
        int e;

        if (n < 0) { set_err(z, -n, "cannot read the save stream", NULL);
                     goto out; }
        end = n == 0;
        do {
            ZSTD_outBuffer ob = { out, osz, 0 };
            left = ZSTD_compressStream2(cc, &ob, &ib,
                                        end ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(left)) {
                set_err(z, EIO, "zstd", ZSTD_getErrorName(left));
                goto out;
            }
            if ((e = full_write(z->file, out, ob.pos))) {
                set_err(z, -e, "cannot write the memory image", NULL);
                goto out;
            }
            z->bytes += ob.pos;
        } while (end ? left != 0 : ib.pos < ib.size);
    }
 out:
    /* after a failure, drain the pipe to its end: libxl must not get
     * EPIPE (SIGPIPE) for an image that fails anyway */
    while (z->err && some_read(z->fd, sink, sizeof(sink)) > 0) ;
    ZSTD_freeCCtx(cc);
    free(in);
    free(out);
}

static void decompress_loop(xlsnap__zpipe *z)
{
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    size_t isz = ZSTD_DStreamInSize(), osz = IOSIZE;
    char *in = malloc(isz), *out = malloc(osz);
    size_t last = 1;     /* 0 when the last frame read was complete */

    if (!dc || !in || !out) { set_err(z, ENOMEM, "zstd", NULL); goto out; }
    for (;;) {
        ssize_t n = some_read(z->file, in, isz);
        ZSTD_inBuffer ib = { in, n > 0 ? (size_t)n : 0, 0 };
        int e;

        if (n < 0) { set_err(z, -n, "cannot read the memory image", NULL);
                     goto out; }
        if (n == 0) break;
        while (ib.pos < ib.size) {
            ZSTD_outBuffer ob = { out, osz, 0 };
            last = ZSTD_decompressStream(dc, &ob, &ib);
            if (ZSTD_isError(last)) {
                set_err(z, EIO, "corrupt compressed memory image",
                        ZSTD_getErrorName(last));
                goto out;
            }
            if ((e = full_write(z->fd, out, ob.pos))) {
                /* EPIPE: the reader stopped; its own status says why */
                set_err(z, -e, "cannot feed the decompressed image", NULL);
                goto out;
            }
            z->bytes += ob.pos;
        }
    }
    if (last != 0) {
        z->err = EIO;
        snprintf(z->msg, sizeof(z->msg), "compressed memory image is "
                 "truncated");
    }
 out:
    ZSTD_freeDCtx(dc);
    free(in);
    free(out);
}

static void *zpipe_main(void *arg)
{
    xlsnap__zpipe *z = arg;
    sigset_t s;

    /* a write into a pipe whose reader left fails with EPIPE here
     * instead of killing the process */
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    if (z->compress) compress_loop(z);
    else decompress_loop(z);
    close(z->fd);
    z->fd = -1;
    return NULL;
}

int xlsnap__zpipe_start(xlsnap_ctx *ctx, int file, bool compress,
                        xlsnap__zpipe *z, int *fd_r)
{
    int p[2], e;

    memset(z, 0, sizeof(*z));
    z->fd = -1;
    z->file = file;
    z->compress = compress;
    if (pipe2(p, O_CLOEXEC) < 0)
        return xlsnap__error_errno(ctx, errno, "cannot create a pipe");
    xlsnap__pipe_grow(p[0]);
    /* compress: we write p[1], the thread reads p[0] */
    z->fd = compress ? p[0] : p[1];
    *fd_r = compress ? p[1] : p[0];
    if ((e = pthread_create(&z->thread, NULL, zpipe_main, z))) {
        close(p[0]);
        close(p[1]);
        z->fd = -1;
        *fd_r = -1;
        return xlsnap__error_errno(ctx, e, "cannot start the zstd thread");
    }
    z->running = true;
    return 0;
}

int xlsnap__zpipe_finish(xlsnap_ctx *ctx, xlsnap__zpipe *z, bool report)
{
    if (!z->running) return 0;
    pthread_join(z->thread, NULL);
    z->running = false;
    if (!z->err || !report) return 0;
    return xlsnap__error(ctx, xlsnap__errno_rc(z->err), "%s", z->msg);
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
