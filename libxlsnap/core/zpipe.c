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

/* Level 1: the save runs while the guest is suspended; speed first
 * (an idle guest's zero pages compress as well at any level). */
#define ZLEVEL 1
/* read and write in large pieces: every system call is dear in a
 * dom0 (more so under emulation) */
#define IOSIZE (4u << 20)

static void set_err(xlsnap__zpipe *z, int e, const char *what,
                    const char *zerr)
{
    z->err = e ? e : EIO;
    snprintf(z->msg, sizeof(z->msg), "%s: %s", what,
             zerr ? zerr : strerror(z->err));
}

/* The engine (zstd.c) between the pipe and the file, each failure in
 * the words of a memory image. */
static void zpipe_run(xlsnap__zpipe *z)
{
    xlsnap__zstream zs = {
        .compress = z->compress, .level = ZLEVEL, .checksum = true,
        .workers = z->compress ? xlsnap__zstd_workers() : 0,
        .in_buf = z->compress ? IOSIZE : 0, .out_buf = IOSIZE,
        .max_out = UINT64_MAX,
    };
    int in = z->compress ? z->fd : z->file;
    int out = z->compress ? z->file : z->fd;
    char sink[4096];

    switch (xlsnap__zstream_run(&zs, in, out)) {
    case XLSNAP__Z_OK:
        break;
    case XLSNAP__Z_NOMEM:
        set_err(z, ENOMEM, "zstd", NULL);
        break;
    case XLSNAP__Z_READ:
        set_err(z, zs.err, z->compress ? "cannot read the save stream"
                                       : "cannot read the memory image",
                NULL);
        break;
    case XLSNAP__Z_WRITE:
        /* decompress, EPIPE: the reader stopped; its own status says
         * why */
        set_err(z, zs.err, z->compress ? "cannot write the memory image"
                                       : "cannot feed the decompressed "
                                         "image", NULL);
        break;
    case XLSNAP__Z_CODEC:
        set_err(z, EIO, z->compress ? "zstd"
                                    : "corrupt compressed memory image",
                zs.zerr);
        break;
    default: /* XLSNAP__Z_TRUNCATED (TOOBIG: no limit here) */
        z->err = EIO;
        snprintf(z->msg, sizeof(z->msg), "compressed memory image is "
                 "truncated");
        break;
    }
    z->bytes = zs.out_bytes;
    /* compress: after a failure, drain the pipe to its end: libxl must
     * not get EPIPE (SIGPIPE) for an image that fails anyway */
    while (z->compress && z->err && xlsnap__read_some(z->fd, sink,
                                                      sizeof(sink)) > 0) ;
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
    zpipe_run(z);
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
