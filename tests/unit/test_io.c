/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: the core I/O helpers (core/io.c), the error-message guard
 * (core/ctx.c) and the one zstd engine (core/zstd.c) under both of its
 * users: bundle members (xlsnap__zstd) and memory images (zpipe). */
#include "internal.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include "tap.h"

#define BIG (4u << 20)

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) { (void)sig; alarms++; }

/* a signal every 50 us, no SA_RESTART: blocking reads and writes come
 * back short or with EINTR */
static void interrupts(bool on)
{
    struct sigaction sa = { .sa_handler = on_alarm };
    struct itimerval it = { { 0, on ? 50 : 0 }, { 0, on ? 50 : 0 } };

    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    setitimer(ITIMER_REAL, &it, NULL);
}

typedef struct {
    int fd;
    unsigned char *buf;
    size_t len, got;
    size_t piece;
} peer;

/* read the pipe slowly, in small pieces */
static void *slow_reader(void *arg)
{
    peer *p = arg;
    sigset_t s;

    sigfillset(&s);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    for (ssize_t n; p->got < p->len; p->got += n) {
        size_t want = p->len - p->got < p->piece ? p->len - p->got : p->piece;
        if ((n = read(p->fd, p->buf + p->got, want)) <= 0) break;
        if (p->got % (64 << 10) < p->piece) usleep(200);
    }
    return NULL;
}

/* write the pipe slowly, in small pieces, then close it */
static void *slow_writer(void *arg)
{
    peer *p = arg;
    sigset_t s;

    sigfillset(&s);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    for (ssize_t n; p->got < p->len; p->got += n) {
        size_t want = p->len - p->got < p->piece ? p->len - p->got : p->piece;
        if ((n = write(p->fd, p->buf + p->got, want)) <= 0) break;
        if (p->got % (64 << 10) < p->piece) usleep(200);
    }
    close(p->fd);
    return NULL;
}

static void fill(unsigned char *b, size_t n, unsigned seed)
{
    srand(seed);
    for (size_t i = 0; i < n; i++) b[i] = i % 7 ? 0 : rand();
}

static int tmpfile_fd(const char *tag, char path[256])
{
    snprintf(path, 256, "/tmp/xlsnap-io-%d-%s", getpid(), tag);
    unlink(path);
    return open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
}

/* in -> (engine via zpipe, compress) -> file */
static int zpipe_compress(xlsnap_ctx *ctx, int file, const void *d, size_t n)
{
    xlsnap__zpipe z;
    int fd, rc, w;

    if ((rc = xlsnap__zpipe_start(ctx, file, true, &z, &fd))) return rc;
    w = xlsnap__write_all(fd, d, n);
    close(fd);
    rc = xlsnap__zpipe_finish(ctx, &z, true);
    return w ? w : rc;
}

/* file -> (engine via zpipe, decompress) -> buf; *got_r bytes */
static int zpipe_decompress(xlsnap_ctx *ctx, int file, void *buf, size_t n,
                            size_t *got_r)
{
    xlsnap__zpipe z;
    int fd, rc;
    ssize_t got;

    if ((rc = xlsnap__zpipe_start(ctx, file, false, &z, &fd))) return rc;
    got = xlsnap__read_upto(fd, buf, n);
    close(fd);
    rc = xlsnap__zpipe_finish(ctx, &z, true);
    *got_r = got < 0 ? 0 : got;
    return rc;
}

static void test_write_all(void)
{
    unsigned char *src = malloc(BIG), *dst = malloc(BIG);
    peer p = { .buf = dst, .len = BIG, .piece = 1000 };
    pthread_t t;
    int fds[2], w;

    fill(src, BIG, 1);
    if (pipe(fds) < 0) abort();
    fcntl(fds[1], F_SETPIPE_SZ, 4096);
    p.fd = fds[0];
    pthread_create(&t, NULL, slow_reader, &p);
    alarms = 0;
    interrupts(true);
    w = xlsnap__write_all(fds[1], src, BIG);
    interrupts(false);
    close(fds[1]);
    pthread_join(t, NULL);
    close(fds[0]);
    ok(w == 0, "write_all: 4 MiB into a slow pipe, interrupted %d times",
       (int)alarms);
    ok(alarms > 0, "signals did interrupt the write");
    ok(p.got == BIG && !memcmp(src, dst, BIG), "every byte arrives, in "
       "order (%zu bytes)", p.got);

    /* the reader is gone: -EPIPE, not a signal, not a loop */
    signal(SIGPIPE, SIG_IGN);
    if (pipe(fds) < 0) abort();
    close(fds[0]);
    w = xlsnap__write_all(fds[1], src, 100);
    ok(w == -EPIPE, "write_all into a pipe without reader: -EPIPE (%d)", w);
    close(fds[1]);
    ok(xlsnap__write_all(-1, src, 1) == -EBADF, "write_all on a bad fd: "
       "-EBADF");
    ok(xlsnap__write_all(-1, src, 0) == 0, "write_all of nothing: 0");
    free(src);
    free(dst);
}

static void test_read(xlsnap_ctx *ctx)
{
    unsigned char *src = malloc(BIG), *dst = malloc(BIG + 1);
    peer p = { .buf = src, .len = BIG, .piece = 777 };
    pthread_t t;
    int fds[2], rc;
    ssize_t n;

    fill(src, BIG, 2);
    if (pipe(fds) < 0) abort();
    fcntl(fds[0], F_SETPIPE_SZ, 4096);
    p.fd = fds[1];
    pthread_create(&t, NULL, slow_writer, &p);
    alarms = 0;
    interrupts(true);
    rc = xlsnap__read_full(ctx, fds[0], dst, BIG);
    interrupts(false);
    pthread_join(t, NULL);
    ok(rc == 0 && !memcmp(src, dst, BIG), "read_full: 4 MiB from a slow "
       "pipe in pieces, interrupted %d times", (int)alarms);
    ok(xlsnap__read_upto(fds[0], dst, 10) == 0, "read_upto at the end: 0");
    close(fds[0]);

    /* a stream shorter than asked */
    if (pipe(fds) < 0) abort();
    if (write(fds[1], "abc", 3) != 3) abort();
    close(fds[1]);
    rc = xlsnap__read_full(ctx, fds[0], dst, 10);
    ok(rc == XLSNAP_ERROR_CORRUPT && strstr(xlsnap_last_error(ctx),
                                            "ends early"),
       "read_full of a short stream is CORRUPT: %s",
       xlsnap_last_error(ctx));
    close(fds[0]);

    if (pipe(fds) < 0) abort();
    if (write(fds[1], "abcdef", 6) != 6) abort();
    close(fds[1]);
    n = xlsnap__read_upto(fds[0], dst, 10);
    ok(n == 6 && !memcmp(dst, "abcdef", 6), "read_upto of a short stream: "
       "what there is (%zd)", n);
    close(fds[0]);
    rc = xlsnap__read_full(ctx, -1, dst, 1);
    ok(rc < 0 && rc != XLSNAP_ERROR_CORRUPT &&
       strstr(xlsnap_last_error(ctx), "cannot read"),
       "read_full on a bad fd is a read error: %s", xlsnap_last_error(ctx));
    ok(xlsnap__read_some(-1, dst, 1) == -EBADF, "read_some on a bad fd: "
       "-EBADF");
    free(src);
    free(dst);
}

static void test_tmp_name(void)
{
    char *t = xlsnap__tmp_name("record.json");

    is_str(t, ".record.json.tmp", "the temporary file of record.json");
    ok(xlsnap__is_tmp_name(t), "is recognised");
    free(t);
    t = xlsnap__tmp_name(".revert");
    is_str(t, "..revert.tmp", "the temporary file of an intent");
    ok(xlsnap__is_tmp_name(t), "is recognised");
    free(t);
    ok(xlsnap__is_tmp_name(XLSNAP__TMP_NAME(".index")),
       "XLSNAP__TMP_NAME names the same files");
    ok(!xlsnap__is_tmp_name("record.json") && !xlsnap__is_tmp_name("x.tmp") &&
       !xlsnap__is_tmp_name(".tmp") && !xlsnap__is_tmp_name("..tmp") &&
       !xlsnap__is_tmp_name(".lock") && !xlsnap__is_tmp_name("") &&
       !xlsnap__is_tmp_name("memory.save"),
       "other names are not temporary files");
}

static void test_errsave(xlsnap_ctx *ctx)
{
    xlsnap__errsaved s;

    xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "the first failure");
    xlsnap__errsave(ctx, &s);
    xlsnap__error(ctx, XLSNAP_ERROR_IO, "a cleanup's own failure");
    xlsnap__errrestore(ctx, &s);
    is_str(xlsnap_last_error(ctx), "the first failure",
           "errsave/errrestore keep the message across a cleanup");
}

static void test_zstd(xlsnap_ctx *ctx)
{
    unsigned char *src = malloc(BIG), *dst = malloc(BIG + 1);
    char p1[256], p2[256], p3[256], hex[65], hex2[65];
    int plain = tmpfile_fd("plain", p1), zb = tmpfile_fd("zb", p2),
        zm = tmpfile_fd("zm", p3), rc;
    unsigned char h[6];
    uint64_t n = 0;
    size_t got = 0;
    struct stat st;

    fill(src, BIG, 3);
    if (xlsnap__write_all(plain, src, BIG)) abort();
    lseek(plain, 0, SEEK_SET);

    /* bundle member: plain -> zb */
    rc = xlsnap__zstd(ctx, plain, zb, true, "m", BIG, UINT64_MAX, &n, hex);
    ok(rc == 0 && n > 0 && n < BIG / 2, "xlsnap__zstd compresses (%llu "
       "bytes)", (unsigned long long)n);
    /* memory image: src -> zm through the pipe */
    rc = zpipe_compress(ctx, zm, src, BIG);
    ok(rc == 0, "zpipe compresses: %s", rc ? xlsnap_last_error(ctx) : "ok");

    /* both are zstd frames; the memory image's carries a checksum (the
     * frame format xl-snapshot always wrote) and the member's none */
    ok(pread(zm, h, 6, 0) == 6 && !memcmp(h, "\x28\xb5\x2f\xfd", 4) &&
       (h[4] & 0x04), "the memory image is a zstd frame with a checksum");
    ok(pread(zb, h, 6, 0) == 6 && !memcmp(h, "\x28\xb5\x2f\xfd", 4) &&
       !(h[4] & 0x04), "the bundle member is a zstd frame without one");

    /* each user reads what the other wrote */
    lseek(zb, 0, SEEK_SET);
    rc = zpipe_decompress(ctx, zb, dst, BIG + 1, &got);
    ok(rc == 0 && got == BIG && !memcmp(src, dst, BIG), "zpipe "
       "decompresses a bundle member (%zu bytes)", got);
    lseek(zm, 0, SEEK_SET);
    lseek(plain, 0, SEEK_SET);
    if (ftruncate(plain, 0)) abort();
    rc = xlsnap__zstd(ctx, zm, plain, false, "m", 0, BIG, &n, hex2);
    ok(rc == 0 && n == BIG && pread(plain, dst, BIG + 1, 0) == BIG &&
       !memcmp(src, dst, BIG), "xlsnap__zstd decompresses a memory image: "
       "%s", rc ? xlsnap_last_error(ctx) : "ok");
    {
        xlsnap__sha256 s;
        char want[65];
        xlsnap__sha256_init(&s);
        xlsnap__sha256_update(&s, src, BIG);
        xlsnap__sha256_final(&s, want);
        is_str(hex2, want, "and hashes what it wrote");
    }

    /* a bomb: more than max_out is refused */
    lseek(zm, 0, SEEK_SET);
    if (ftruncate(plain, 0)) abort();
    lseek(plain, 0, SEEK_SET);
    rc = xlsnap__zstd(ctx, zm, plain, false, "m", 0, BIG - 1, NULL, NULL);
    ok(rc == XLSNAP_ERROR_CORRUPT && strstr(xlsnap_last_error(ctx),
                                            "more than"),
       "decompressing past max_out is CORRUPT: %s", xlsnap_last_error(ctx));
    ok(fstat(plain, &st) == 0 && st.st_size < (off_t)BIG,
       "and stops before writing past it (%lld bytes)",
       (long long)st.st_size);

    /* truncated, through both users */
    fstat(zm, &st);
    if (ftruncate(zm, st.st_size / 2)) abort();
    lseek(zm, 0, SEEK_SET);
    rc = xlsnap__zstd(ctx, zm, plain, false, "m", 0, UINT64_MAX, NULL,
                      NULL);
    ok(rc == XLSNAP_ERROR_CORRUPT && strstr(xlsnap_last_error(ctx),
                                            "ends early"),
       "a truncated frame (bundle): %s", xlsnap_last_error(ctx));
    lseek(zm, 0, SEEK_SET);
    rc = zpipe_decompress(ctx, zm, dst, BIG + 1, &got);
    ok(rc != 0 && strstr(xlsnap_last_error(ctx), "truncated"),
       "a truncated frame (memory image): %s", xlsnap_last_error(ctx));

    /* garbage */
    lseek(plain, 0, SEEK_SET);
    if (xlsnap__write_all(plain, "not zstd at all", 15)) abort();
    lseek(plain, 0, SEEK_SET);
    rc = xlsnap__zstd(ctx, plain, zb, false, "m", 0, UINT64_MAX, NULL,
                      NULL);
    ok(rc == XLSNAP_ERROR_CORRUPT && strstr(xlsnap_last_error(ctx),
                                            "m: zstd: "),
       "not zstd (bundle): %s", xlsnap_last_error(ctx));
    lseek(plain, 0, SEEK_SET);
    rc = zpipe_decompress(ctx, plain, dst, BIG + 1, &got);
    ok(rc != 0 && strstr(xlsnap_last_error(ctx),
                         "corrupt compressed memory image"),
       "not zstd (memory image): %s", xlsnap_last_error(ctx));

    /* an empty input: one empty frame, back to nothing */
    if (ftruncate(plain, 0) || ftruncate(zb, 0)) abort();
    lseek(plain, 0, SEEK_SET);
    lseek(zb, 0, SEEK_SET);
    rc = xlsnap__zstd(ctx, plain, zb, true, "m", 0, UINT64_MAX, &n, NULL);
    ok(rc == 0 && n > 0, "an empty input compresses to a frame (%llu "
       "bytes)", (unsigned long long)n);
    lseek(zb, 0, SEEK_SET);
    rc = zpipe_decompress(ctx, zb, dst, BIG, &got);
    ok(rc == 0 && got == 0, "which decompresses to nothing");

    close(plain);
    close(zb);
    close(zm);
    unlink(p1);
    unlink(p2);
    unlink(p3);
    free(src);
    free(dst);
}

/* copy_hashed: a copy larger than what is hashed in line (the hasher
 * thread), from a file and from a slow pipe, hashes every byte once and
 * in order; without a digest asked for, the kernel copies */
static void test_copy_hashed(xlsnap_ctx *ctx)
{
    size_t len = (20u << 20) + 12345;
    unsigned char *src = malloc(len), *dst = malloc(len + 1);
    char p1[256], p2[256], want[65], hex[65];
    int in = tmpfile_fd("cin", p1), out = tmpfile_fd("cout", p2), pp[2], rc;
    uint64_t n = 0;
    pthread_t th;
    peer w;

    fill(src, len, 7);
    if (xlsnap__write_all(in, src, len)) abort();
    if (xlsnap__sha256_data(src, len, want)) abort();
    lseek(in, 0, SEEK_SET);
    rc = xlsnap__copy_hashed(ctx, in, out, len, "c", &n, hex);
    ok(rc == 0 && n == len && pread(out, dst, len + 1, 0) == (ssize_t)len &&
       !memcmp(src, dst, len), "copy_hashed copies 20 MiB");
    is_str(hex, want, "and its digest is the data's (hasher thread)");

    lseek(in, 0, SEEK_SET);
    if (ftruncate(out, 0) || lseek(out, 0, SEEK_SET)) abort();
    rc = xlsnap__copy_hashed(ctx, in, out, len, "c", &n, NULL);
    ok(rc == 0 && n == len && pread(out, dst, len + 1, 0) == (ssize_t)len &&
       !memcmp(src, dst, len), "without a digest: the same copy (kernel)");

    if (pipe(pp)) abort();
    w = (peer){ .fd = pp[1], .buf = src, .len = len, .piece = 70000 };
    pthread_create(&th, NULL, slow_writer, &w);
    if (ftruncate(out, 0) || lseek(out, 0, SEEK_SET)) abort();
    rc = xlsnap__copy_hashed(ctx, pp[0], out, UINT64_MAX, "c", &n, hex);
    pthread_join(th, NULL);
    close(pp[0]);
    ok(rc == 0 && n == len && pread(out, dst, len + 1, 0) == (ssize_t)len &&
       !memcmp(src, dst, len), "copy_hashed from a slow pipe to its end");
    is_str(hex, want, "and the digest is in order");

    lseek(in, 0, SEEK_SET);
    if (ftruncate(out, 0) || lseek(out, 0, SEEK_SET)) abort();
    rc = xlsnap__copy_hashed(ctx, in, out, len + 1, "c", &n, hex);
    ok(rc == XLSNAP_ERROR_CORRUPT, "a file shorter than said: CORRUPT (%s)",
       rc ? xlsnap_last_error(ctx) : "no error");
    rc = xlsnap__copy_hashed(ctx, in, out, 10, "c", &n, NULL);
    ok(rc == XLSNAP_ERROR_CORRUPT, "without a digest as well");
    ok(xlsnap__zstd_workers() >= 1, "this libzstd compresses with threads "
       "(%d workers)", xlsnap__zstd_workers());
    close(in);
    close(out);
    unlink(p1);
    unlink(p2);
    free(src);
    free(dst);
}

int main(void)
{
    xlsnap_ctx *ctx;

    if (xlsnap_ctx_alloc(&ctx, "/nonexistent", NULL)) return 1;
    test_write_all();
    test_read(ctx);
    test_tmp_name();
    test_errsave(ctx);
    test_zstd(ctx);
    test_copy_hashed(ctx);
    xlsnap_ctx_free(ctx);
    return tap_done();
}
