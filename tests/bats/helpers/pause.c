/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pause.c - an LD_PRELOAD shim for host tests that must interleave two
 * xl-snapshot processes at an exact point (tests/bats/16-index.bats).
 * It only controls timing: every call is passed on unchanged.
 *
 * XLSNAP_TEST_PAUSE=DIR: pause once, after the records are read and
 *   before the list index is made: at the first stat of a record.json,
 *   or open of the index's temporary file (..index.tmp), that follows an
 *   open of a record.json.  (The code before the fix took the index's
 *   stat keys there, after reading; the fixed code takes them before
 *   reading, under the lock, and pauses at the temporary file.)  The
 *   pause creates DIR/paused and waits until DIR/release exists (at
 *   most 20 s, then goes on).
 * XLSNAP_TEST_BUSY=FILE: create FILE when a flock() without waiting
 *   finds the lock held by another (the process is about to wait or be
 *   refused).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool records_read, paused;

/* Whether the last component of path is name, or ends with it when
 * name starts with a '.' (the index's temporary file is "..index.tmp"). */
static bool is_name(const char *path, const char *name)
{
    const char *b;
    size_t n = strlen(name), l;

    if (!path) return false;
    b = strrchr(path, '/');
    b = b ? b + 1 : path;
    l = strlen(b);
    if (name[0] == '.') return l >= n && !strcmp(b + l - n, name);
    return !strcmp(b, name);
}

static void touch(const char *path)
{
    static int (*real_open)(const char *, int, ...);
    int fd;

    if (!real_open) real_open = (int (*)(const char *, int, ...))
                        dlsym(RTLD_NEXT, "open");
    fd = real_open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
}

static void maybe_pause(const char *path, bool index_tmp)
{
    const char *dir = getenv("XLSNAP_TEST_PAUSE");
    char p[4096];
    int saved = errno;

    if (!dir || paused || !records_read) return;
    if (index_tmp ? !is_name(path, ".index.tmp")
                  : !is_name(path, "record.json"))
        return;
    paused = true;
    snprintf(p, sizeof(p), "%s/paused", dir);
    touch(p);
    snprintf(p, sizeof(p), "%s/release", dir);
    for (int i = 0; i < 2000 && access(p, F_OK) < 0; i++) {
        struct timespec t = { 0, 10 * 1000 * 1000 };
        nanosleep(&t, NULL);
    }
    errno = saved;
}

static void opened(const char *path, int flags)
{
    if ((flags & O_ACCMODE) == O_RDONLY && is_name(path, "record.json"))
        records_read = true;
    if (flags & O_CREAT) maybe_pause(path, true);
}

/* real: the next definition of fn (libc's) */
#define REAL(fn) \
    static __typeof__(fn) *real; \
    if (!real) real = (__typeof__(fn) *)dlsym(RTLD_NEXT, #fn)

#define OPEN_ARGS(flags, mode) \
    mode_t mode = 0; \
    if ((flags) & (O_CREAT | __O_TMPFILE)) { \
        va_list ap; \
        va_start(ap, flags); \
        mode = va_arg(ap, mode_t); \
        va_end(ap); \
    }

int open(const char *path, int flags, ...)
{
    OPEN_ARGS(flags, mode);
    REAL(open);
    opened(path, flags);
    return real(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
    OPEN_ARGS(flags, mode);
    REAL(open64);
    opened(path, flags);
    return real(path, flags, mode);
}

int openat(int dfd, const char *path, int flags, ...)
{
    OPEN_ARGS(flags, mode);
    REAL(openat);
    opened(path, flags);
    return real(dfd, path, flags, mode);
}

int openat64(int dfd, const char *path, int flags, ...)
{
    OPEN_ARGS(flags, mode);
    REAL(openat64);
    opened(path, flags);
    return real(dfd, path, flags, mode);
}

int fstatat(int dfd, const char *path, struct stat *st, int flags)
{
    REAL(fstatat);
    maybe_pause(path, false);
    return real(dfd, path, st, flags);
}

int fstatat64(int dfd, const char *path, struct stat64 *st, int flags)
{
    REAL(fstatat64);
    maybe_pause(path, false);
    return real(dfd, path, st, flags);
}

int stat(const char *path, struct stat *st)
{
    REAL(stat);
    maybe_pause(path, false);
    return real(path, st);
}

int lstat(const char *path, struct stat *st)
{
    REAL(lstat);
    maybe_pause(path, false);
    return real(path, st);
}

int flock(int fd, int op)
{
    const char *busy = getenv("XLSNAP_TEST_BUSY");
    int r;

    REAL(flock);
    r = real(fd, op);
    if (r < 0 && errno == EWOULDBLOCK && (op & LOCK_NB) && busy) {
        int saved = errno;
        touch(busy);
        errno = saved;
    }
    return r;
}
