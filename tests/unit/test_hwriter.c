/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: the hashed writer (bundle/bundle.c, xlsnap__hwriter): what
 * is put, in pieces of any size, with or without its hashing thread, is
 * the file written, and its SHA-256 is that of the file's bytes; a
 * failing write is an error naming the file. */
#include "internal.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tap.h"

/* The SHA-256 of the file at path, read again */
static int file_sum(const char *path, char hex[65], uint64_t *size_r)
{
    int fd = open(path, O_RDONLY);
    xlsnap_ctx *ctx;
    struct stat st;
    int rc;

    if (fd < 0 || fstat(fd, &st) < 0 ||
        xlsnap_ctx_alloc(&ctx, "/nonexistent", NULL))
        return -1;
    rc = xlsnap__copy_hashed(ctx, fd, -1, st.st_size, path, NULL, hex);
    *size_r = st.st_size;
    xlsnap_ctx_free(ctx);
    close(fd);
    return rc;
}

/* Write total bytes (a pattern) through a writer told total_hint, in
 * pieces of 1, 7, 4096, 65536 and 1 MiB bytes by turns, some put and
 * some made in place (room + commit); then compare. */
static void one(xlsnap_ctx *ctx, const char *path, uint64_t total,
                uint64_t total_hint, const char *what)
{
    static const size_t sizes[] = { 1, 7, 4096, 65536, 1u << 20 };
    xlsnap__hwriter *w = NULL;
    char hex[65] = "", want[65] = "";
    static unsigned char piece[1u << 20];
    uint64_t done = 0, size = 0, fsize = 0;
    int fd, rc = 0, i = 0;

    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    rc = fd < 0 ? -1 : xlsnap__hwriter_alloc(ctx, fd, "t", total_hint, &w);
    while (!rc && done < total) {
        size_t n = sizes[i % 5];
        void *room;
        if (n > total - done) n = total - done;
        for (size_t k = 0; k < n; k++)
            piece[k] = (unsigned char)((done + k) * 31 + (done + k) / 4099);
        if (i % 2) {
            rc = xlsnap__hwriter_put(w, piece, n);
        } else if (!(rc = xlsnap__hwriter_room(w, n, &room))) {
            memcpy(room, piece, n);
            xlsnap__hwriter_commit(w, n);
        }
        done += n;
        i++;
    }
    if (!rc) rc = xlsnap__hwriter_finish(w, &size, hex);
    xlsnap__hwriter_free(w);
    if (fd >= 0) close(fd);
    ok(!rc && size == total && !file_sum(path, want, &fsize) &&
       fsize == total && !strcmp(hex, want), "%s: %llu bytes written, "
       "the checksum is the file's", what, (unsigned long long)total);
    if (strcmp(hex, want)) printf("#   %s against %s\n", hex, want);
}

int main(void)
{
    xlsnap_ctx *ctx;
    char path[256];
    xlsnap__hwriter *w = NULL;
    struct rlimit old, small;
    char hex[65];
    void *room;
    int fd, rc;

    snprintf(path, sizeof(path), "/tmp/xlsnap-hwriter-%d", getpid());
    if (xlsnap_ctx_alloc(&ctx, "/nonexistent", NULL)) return 1;

    one(ctx, path, 0, 0, "nothing");
    one(ctx, path, 5000, 5000, "small, hashed in line");
    one(ctx, path, (20u << 20) + 12345, (20u << 20) + 12345,
        "20 MiB, hashed by the thread");
    one(ctx, path, (3u << 20) + 1, 64u << 20, "a total bigger than written");

    /* more than a piece at once is refused */
    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    rc = xlsnap__hwriter_alloc(ctx, fd, "big.qcow2", 0, &w);
    ok(!rc && xlsnap__hwriter_room(w, (4u << 20) + 1, &room) ==
       XLSNAP_ERROR_INVAL && !room, "room for more than 4 MiB is refused");
    xlsnap__hwriter_free(w);
    close(fd);

    /* a failing write: an error naming the file */
    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    getrlimit(RLIMIT_FSIZE, &old);
    small = old;
    small.rlim_cur = 1u << 20;
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &small);
    w = NULL;
    rc = xlsnap__hwriter_alloc(ctx, fd, "disk-xvda.qcow2", 16u << 20, &w);
    for (int i = 0; !rc && i < 4; i++)
        if (!(rc = xlsnap__hwriter_room(w, 1u << 20, &room))) {
            memset(room, i, 1u << 20);
            xlsnap__hwriter_commit(w, 1u << 20);
        }
    if (!rc) rc = xlsnap__hwriter_finish(w, NULL, hex);
    setrlimit(RLIMIT_FSIZE, &old);
    ok(rc == XLSNAP_ERROR_IO && strstr(xlsnap_last_error(ctx),
                                       "disk-xvda.qcow2: cannot write"),
       "a failing write is an IO error naming the file: %s",
       xlsnap_last_error(ctx));
    xlsnap__hwriter_free(w);
    close(fd);
    unlink(path);
    xlsnap_ctx_free(ctx);
    return tap_done();
}
