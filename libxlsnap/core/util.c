/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * util.c - small helpers: strings, safe file I/O, UUIDs
 */
#include "internal.h"

#include <ctype.h>
#include <libgen.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <unistd.h>

/* Out of memory: NULL (never an abort: the library never aborts); the
 * caller fails with xlsnap__nomem(ctx). */
char *xlsnap__strdup(const char *s)
{
    if (!s) return NULL;
    return strdup(s);
}

char *xlsnap__sprintf(const char *fmt, ...)
{
    va_list ap;
    char *r = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&r, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;     /* r is undefined then */
    return r;
}

int xlsnap__open_nofollow(xlsnap_ctx *ctx, int dirfd, const char *path,
                          int flags, const char *shown)
{
    int fd = openat(dirfd, path, flags | O_NOFOLLOW | O_CLOEXEC, 0600);
    int e = errno;
    struct stat st;

    if (fd >= 0) return fd;
    /* O_NOFOLLOW: ELOOP, or ENOTDIR with O_DIRECTORY */
    if ((e == ELOOP || e == ENOTDIR) &&
        fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(st.st_mode))
        return xlsnap__error_errno(ctx, ELOOP, "refusing to follow "
                                   "symbolic link %s", shown);
    return xlsnap__error_errno(ctx, e, "cannot open %s", shown);
}

int xlsnap__read_file(xlsnap_ctx *ctx, int dirfd, const char *path,
                      size_t max, char **data_r, size_t *len_r)
{
    return xlsnap__read_file_at(ctx, dirfd, path, path, max, data_r, len_r);
}

int xlsnap__read_file_at(xlsnap_ctx *ctx, int dirfd, const char *file,
                         const char *path, size_t max, char **data_r,
                         size_t *len_r)
{
    int fd = -1, rc;
    char *buf = NULL;
    size_t len = 0, cap = 4096;
    struct stat st;

    /* O_NONBLOCK: a FIFO in its place must not hang us */
    fd = xlsnap__open_nofollow(ctx, dirfd, file, O_RDONLY | O_NONBLOCK,
                               path);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot stat %s", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_PERM,
                           "%s is not a regular file", path);
        goto out;
    }
    if ((size_t)st.st_size > max) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "%s is too large (%lld bytes, limit %zu)", path,
                           (long long)st.st_size, max);
        goto out;
    }
    if ((size_t)st.st_size + 1 > cap) cap = st.st_size + 1;
    buf = malloc(cap);
    if (!buf) { rc = xlsnap__nomem(ctx); goto out; }
    for (;;) {
        ssize_t r;
        if (len + 1 >= cap) {
            if (cap > max) {
                rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                                   "%s is too large", path);
                goto out;
            }
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) { rc = xlsnap__nomem(ctx); goto out; }
            buf = nb;
        }
        r = xlsnap__read_some(fd, buf + len, cap - len - 1);
        if (r < 0) {
            rc = xlsnap__error_errno(ctx, -r, "cannot read %s", path);
            goto out;
        }
        if (r == 0) break;
        len += r;
    }
    buf[len] = '\0';
    *data_r = buf;
    buf = NULL;
    if (len_r) *len_r = len;
    rc = 0;

 out:
    if (fd >= 0) close(fd);
    free(buf);
    return rc;
}

int xlsnap__check_text(xlsnap_ctx *ctx, int rc, const char *path,
                       const char *data, size_t len)
{
    const char *nul = memchr(data, '\0', len);

    if (!nul) return 0;
    return xlsnap__error(ctx, rc, "%s: contains a NUL byte at offset %zu "
                         "(not a text file)", path, (size_t)(nul - data));
}

int xlsnap__write_file_atomic(xlsnap_ctx *ctx, const char *dir,
                              const char *file, const char *data,
                              size_t len)
{
    int dfd, fd = -1, rc;
    char *tmp = xlsnap__tmp_name(file);
    struct stat st;

    if (!tmp) return xlsnap__nomem(ctx);
    if ((dfd = xlsnap__open_nofollow(ctx, AT_FDCWD, dir,
                                     O_RDONLY | O_DIRECTORY, dir)) < 0) {
        rc = dfd;
        goto out;
    }
    /* A stale temporary file is what a killed writer leaves: the
     * caller holds the domain lock, so nobody else is writing it.
     * Anything else in its place was planted: leave it alone. */
    if (fstatat(dfd, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        !S_ISREG(st.st_mode)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_PERM, "%s/%s is not a "
                           "regular file (a symbolic link?); refusing to "
                           "replace it", dir, tmp);
        goto out;
    }
    if (unlinkat(dfd, tmp, 0) < 0 && errno != ENOENT) {
        rc = xlsnap__error_errno(ctx, errno, "cannot remove %s/%s",
                                 dir, tmp);
        goto out;
    }
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot create %s/%s",
                                 dir, tmp);
        goto out;
    }
    if (len > 1 && getenv("XL_SNAPSHOT_FAULT")) {
        /* crash-safety tests: die with half a record written */
        if (xlsnap__write_all(fd, data, len / 2) < 0) goto write_failed;
        xlsnap__fault_point("record-write");
        if (xlsnap__write_all(fd, data + len / 2, len - len / 2) < 0)
            goto write_failed;
    } else if (xlsnap__write_all(fd, data, len) < 0) {
        goto write_failed;
    }
    if (fsync(fd) < 0) goto write_failed;
    if (close(fd) < 0) { fd = -1; goto write_failed; }
    fd = -1;
    xlsnap__fault_point("record-before-rename");
    if (renameat(dfd, tmp, dfd, file) < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot rename %s/%s",
                                 dir, tmp);
        unlinkat(dfd, tmp, 0);      /* no temporary file left behind */
        goto out;
    }
    if (fsync(dfd) < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot sync directory %s",
                                 dir);
        goto out;
    }
    rc = 0;
    goto out;

 write_failed:
    rc = xlsnap__error_errno(ctx, errno, "cannot write %s/%s", dir, file);
    unlinkat(dfd, tmp, 0);
 out:
    if (fd >= 0) close(fd);
    if (dfd >= 0) close(dfd);
    free(tmp);
    return rc;
}

int xlsnap__mkdir_private(xlsnap_ctx *ctx, const char *path)
{
    struct stat st;

    if (mkdir(path, 0700) == 0) return 0;
    if (errno != EEXIST)
        return xlsnap__error_errno(ctx, errno, "cannot create directory %s",
                                   path);
    if (lstat(path, &st) < 0)
        return xlsnap__error_errno(ctx, errno, "cannot stat %s", path);
    if (S_ISLNK(st.st_mode))
        return xlsnap__error_errno(ctx, ELOOP, "refusing to follow "
                                   "symbolic link %s", path);
    if (!S_ISDIR(st.st_mode))
        return xlsnap__error(ctx, XLSNAP_ERROR_PERM,
                             "%s exists and is not a directory", path);
    return 0;
}

int xlsnap__unlink(xlsnap_ctx *ctx, const char *path, bool missing_ok)
{
    if (unlink(path) < 0 && !(missing_ok && errno == ENOENT))
        return xlsnap__error_errno(ctx, errno, "cannot remove %s", path);
    return 0;
}

int xlsnap__boot_id(char buf[XLSNAP__BOOT_ID_MAX])
{
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : xlsnap__read_upto(fd, buf,
                                                XLSNAP__BOOT_ID_MAX - 1);

    if (fd >= 0) close(fd);
    if (n < 36) {
        buf[0] = 0;
        return -1;
    }
    buf[36] = 0;
    return 0;
}

int64_t xlsnap__file_used(const char *path)
{
    struct stat st;

    return stat(path, &st) < 0 ? 0 : (int64_t)st.st_blocks * 512;
}

void xlsnap__fsync_dir_of(const char *path)
{
    char *d = xlsnap__strdup(path);
    int fd = d ? open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(d);
}

void xlsnap__freed_add(xlsnap_ctx *ctx, int64_t n)
{
    ctx->freed += n;
}

void xlsnap__remove_flat_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    while (d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            unlinkat(dirfd(d), de->d_name, 0);
    if (d) closedir(d);
    rmdir(dir);
}

/* The next code point of UTF-8 text at *pp (advanced past it), or -1
 * if it is not well-formed: no overlong forms, no surrogates, nothing
 * above U+10FFFF (RFC 3629). */
long xlsnap__utf8_next(const char **pp)
{
    const unsigned char *p = (const unsigned char *)*pp;
    static const long min[] = { 0, 0x80, 0x800, 0x10000 };
    long c;
    int n;

    if (*p < 0x80) { n = 0; c = *p; }
    else if ((*p & 0xe0) == 0xc0) { n = 1; c = *p & 0x1f; }
    else if ((*p & 0xf0) == 0xe0) { n = 2; c = *p & 0x0f; }
    else if ((*p & 0xf8) == 0xf0) { n = 3; c = *p & 0x07; }
    else return -1;
    p++;
    for (int i = 0; i < n; i++, p++) {
        if ((*p & 0xc0) != 0x80) return -1;
        c = c << 6 | (*p & 0x3f);
    }
    if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return -1;
    *pp = (const char *)p;
    return c;
}

bool xlsnap__utf8_valid(const char *s)
{
    while (*s)
        if (xlsnap__utf8_next(&s) < 0) return false;
    return true;
}

/* A domain name from outside (a bundle): 1..255 bytes of UTF-8, no
 * control character (C0, DEL, C1), no '/', not starting with '.'. */
bool xlsnap__domain_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (!n || n > 255 || s[0] == '.') return false;
    while (*s) {
        long c = xlsnap__utf8_next(&s);
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == '/')
            return false;
    }
    return true;
}

bool xlsnap__is_uuid(const char *s)
{
    static const int dash[] = { 8, 13, 18, 23 };
    size_t i, d = 0;

    if (strlen(s) != 36) return false;
    for (i = 0; i < 36; i++) {
        if (d < ARRAY_SIZE(dash) && (int)i == dash[d]) {
            if (s[i] != '-') return false;
            d++;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

char *xlsnap__uuid_canon(const char *s)
{
    char *r;

    if (!xlsnap__is_uuid(s)) return NULL;
    r = xlsnap__strdup(s);
    if (!r) return NULL;
    for (char *p = r; *p; p++) *p = tolower((unsigned char)*p);
    return r;
}

int xlsnap__uuid_generate(xlsnap_ctx *ctx, char **uuid_r)
{
    unsigned char b[16];

    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return xlsnap__error_errno(ctx, errno, "cannot get random bytes");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    *uuid_r = xlsnap__sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                              "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
                              b[3], b[4], b[5], b[6], b[7], b[8], b[9],
                              b[10], b[11], b[12], b[13], b[14], b[15]);
    if (!*uuid_r) return xlsnap__nomem(ctx);
    return 0;
}

/*
 * Make a pipe's buffer large (16 MiB, as root; else the 1 MiB any user
 * may ask for): a 64 KiB pipe between libxl's save helper and a reader
 * costs a context switch every 64 KiB, which under nested emulation
 * dominated the time of a compressed save (best effort).
 */
void xlsnap__pipe_grow(int fd)
{
    if (fcntl(fd, F_SETPIPE_SZ, 16 << 20) < 0)
        fcntl(fd, F_SETPIPE_SZ, 1 << 20);
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */

uint64_t xlsnap__be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

char *xlsnap__image_sibling(const char *image, const char *tag)
{
    char *d = xlsnap__strdup(image), *b = xlsnap__strdup(image);
    char *base, *dot, *r = NULL;

    if (!d || !b) goto out;     /* out of memory: NULL */
    base = basename(b);
    dot = strrchr(base, '.');
    if (dot && dot != base) *dot = '\0';
    r = xlsnap__sprintf("%s/%s.%s.qcow2", dirname(d), base, tag);
 out:
    free(d);
    free(b);
    return r;
}
