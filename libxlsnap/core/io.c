/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * io.c - the library's one way to write all of a buffer, read all of
 * one, and name its temporary files
 *
 * write_all and read_upto never touch a ctx (the zstd thread uses
 * them); they return -errno.  read_full is the ctx flavour for streams
 * whose early end means a truncated input.
 */
#include "internal.h"

#include <unistd.h>

int xlsnap__write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;

    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -errno;
        if (w == 0) return -(errno = EIO);   /* never loop forever */
        p += w;
        n -= w;
    }
    return 0;
}

ssize_t xlsnap__read_some(int fd, void *buf, size_t n)
{
    ssize_t r;

    while ((r = read(fd, buf, n)) < 0 && errno == EINTR) ;
    return r < 0 ? -errno : r;
}

ssize_t xlsnap__read_upto(int fd, void *buf, size_t n)
{
    char *p = buf;
    size_t got = 0;

    while (got < n) {
        ssize_t r = xlsnap__read_some(fd, p + got, n - got);
        if (r < 0) return r;
        if (r == 0) break;
        got += r;
    }
    return got;
}

/* read exactly n bytes; a short read is CORRUPT (truncated stream) */
int xlsnap__read_full(xlsnap_ctx *ctx, int fd, void *buf, size_t n)
{
    ssize_t r = xlsnap__read_upto(fd, buf, n);

    if (r < 0) return xlsnap__error_errno(ctx, -r, "cannot read");
    if ((size_t)r < n)
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the stream "
                             "ends early (truncated bundle)");
    return 0;
}

char *xlsnap__tmp_name(const char *file)
{
    return xlsnap__sprintf(XLSNAP__TMP_NAME("%s"), file);
}

bool xlsnap__is_tmp_name(const char *name)
{
    size_t n = strlen(name), p = strlen(XLSNAP__TMP_PREFIX),
           s = strlen(XLSNAP__TMP_SUFFIX);

    return n > p + s && !strncmp(name, XLSNAP__TMP_PREFIX, p) &&
           !strcmp(name + n - s, XLSNAP__TMP_SUFFIX);
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
