/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: the hashed writer (bundle/bundle.c, xlsnap__hwriter): what
 * is put, in pieces of any size, with or without its hashing thread, is
 * the file written, and its SHA-256 is that of the file's bytes; with
 * zstd the file is one zstd frame that decompresses to what was put,
 * its SHA-256 the compressed file's; a failing write is an error naming
 * the file. */
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
 * some made in place (room + commit); then compare.  zstd: the file
 * decompresses to those bytes. */
static void one(xlsnap_ctx *ctx, const char *path, uint64_t total,
                uint64_t total_hint, bool zstd, const char *what)
{
    static const size_t sizes[] = { 1, 7, 4096, 65536, 1u << 20 };
    xlsnap__hwriter *w = NULL;
    xlsnap__sha256 plain;
    char hex[65] = "", want[65] = "", phex[65] = "", dhex[65] = "";
    char dpath[300];
    static unsigned char piece[1u << 20];
    uint64_t done = 0, size = 0, fsize = 0, dsize = 0;
    int fd, rc = 0, i = 0;
    bool same;

    snprintf(dpath, sizeof(dpath), "%s.plain", path);
    unlink(path);
    unlink(dpath);
    xlsnap__sha256_init(&plain);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    rc = fd < 0 ? -1 : xlsnap__hwriter_alloc(ctx, fd, "t", total_hint, zstd,
                                             &w);
    while (!rc && done < total) {
        size_t n = sizes[i % 5];
        void *room;
        if (n > total - done) n = total - done;
        /* (zstd: runs of one byte too, that compress) */
        for (size_t k = 0; k < n; k++)
            piece[k] = zstd && (done + k) % (3u << 20) < (1u << 20) ? 7 :
                (unsigned char)((done + k) * 31 + (done + k) / 4099);
        xlsnap__sha256_update(&plain, piece, n);
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
    xlsnap__sha256_final(&plain, phex);
    xlsnap__sha256_dispose(&plain);
    same = !rc && !file_sum(path, want, &fsize) && fsize == size &&
           !strcmp(hex, want);
    if (!zstd) {
        ok(same && size == total, "%s: %llu bytes written, the checksum "
           "is the file's", what, (unsigned long long)total);
    } else {
        rc = xlsnap__decompress_file(ctx, path, dpath, total, &dsize, dhex);
        ok(same && !rc && dsize == total && !strcmp(dhex, phex) &&
           (total < (8u << 20) || size < total), "%s: %llu bytes in %llu "
           "of zstd, the checksum is the file's, it decompresses to what "
           "was put", what, (unsigned long long)total,
           (unsigned long long)size);
        unlink(dpath);
    }
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

    one(ctx, path, 0, 0, false, "nothing");
    one(ctx, path, 5000, 5000, false, "small, hashed in line");
    one(ctx, path, (20u << 20) + 12345, (20u << 20) + 12345, false,
        "20 MiB, hashed by the thread");
    one(ctx, path, (3u << 20) + 1, 64u << 20, false,
        "a total bigger than written");
    one(ctx, path, 0, 0, true, "zstd, nothing");
    one(ctx, path, 5000, 5000, true, "zstd, small, hashed in line");
    one(ctx, path, (20u << 20) + 12345, (20u << 20) + 12345, true,
        "zstd, 20 MiB, hashed by the thread");

    /* more than a piece at once is refused */
    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    rc = xlsnap__hwriter_alloc(ctx, fd, "big.qcow2", 0, false, &w);
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
    rc = xlsnap__hwriter_alloc(ctx, fd, "disk-xvda.qcow2", 16u << 20, false, &w);
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
