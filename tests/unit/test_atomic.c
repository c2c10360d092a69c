/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: xlsnap__write_file_atomic (core/util.c), the library's one
 * tmp + fsync + rename writer: it never leaves its temporary file. */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tap.h"

static char dir[256];

/* Entries of dir other than . and .. whose name starts with '.' and
 * ends with 'name' */
static int dot_files(const char *name)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    while (d && (de = readdir(d))) {
        size_t l = strlen(de->d_name), k = strlen(name);
        if (de->d_name[0] == '.' && strcmp(de->d_name, ".") &&
            strcmp(de->d_name, "..") && l >= k &&
            !strcmp(de->d_name + l - k, name))
            n++;
    }
    if (d) closedir(d);
    return n;
}

static char *slurp(const char *name)
{
    char p[512], *buf = calloc(1, 1 << 16);
    int fd;

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    fd = open(p, O_RDONLY);
    if (fd < 0 || read(fd, buf, (1 << 16) - 1) < 0) {
        free(buf);
        buf = NULL;
    }
    if (fd >= 0) close(fd);
    return buf;
}

int main(void)
{
    xlsnap_ctx *ctx;
    char p[512], *got;
    struct stat st;
    struct rlimit old, small;
    static char big[1 << 16];
    int rc;

    snprintf(dir, sizeof(dir), "/tmp/xlsnap-atomic-%d", getpid());
    if (mkdir(dir, 0700) < 0) return 1;
    if (xlsnap_ctx_alloc(&ctx, "/nonexistent", NULL)) return 1;

    rc = xlsnap__write_file_atomic(ctx, dir, "f.json", "{}\n", 3);
    got = slurp("f.json");
    ok(rc == 0 && got && !strcmp(got, "{}\n"), "the file is written");
    free(got);
    snprintf(p, sizeof(p), "%s/f.json", dir);
    ok(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600");
    ok(dot_files("") == 0, "no temporary file is left after a success");

    rc = xlsnap__write_file_atomic(ctx, dir, "f.json", "{\"a\":1}\n", 8);
    got = slurp("f.json");
    ok(rc == 0 && got && !strcmp(got, "{\"a\":1}\n"), "a rewrite replaces "
       "the file whole");
    free(got);

    /* the rename fails: a non-empty directory stands in the file's place */
    snprintf(p, sizeof(p), "%s/d.json", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/d.json/x", dir);
    close(open(p, O_WRONLY | O_CREAT, 0600));
    rc = xlsnap__write_file_atomic(ctx, dir, "d.json", "{}\n", 3);
    ok(rc < 0 && strstr(xlsnap_last_error(ctx), "cannot rename"),
       "a failing rename is an error: %s", xlsnap_last_error(ctx));
    ok(dot_files("d.json.tmp") == 0, "a failing rename leaves no temporary "
       "file");
    unlink(p);
    snprintf(p, sizeof(p), "%s/d.json", dir);
    rmdir(p);

    /* the write fails (file size limit: EFBIG) */
    memset(big, 'x', sizeof(big));
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    small = old;
    small.rlim_cur = 4096;
    setrlimit(RLIMIT_FSIZE, &small);
    rc = xlsnap__write_file_atomic(ctx, dir, "f.json", big, sizeof(big));
    setrlimit(RLIMIT_FSIZE, &old);
    ok(rc == XLSNAP_ERROR_IO && strstr(xlsnap_last_error(ctx),
                                       "cannot write"),
       "a failing write is an IO error: %s", xlsnap_last_error(ctx));
    ok(dot_files("f.json.tmp") == 0, "a failing write leaves no temporary "
       "file");
    got = slurp("f.json");
    ok(got && !strcmp(got, "{\"a\":1}\n"), "the old file is untouched");
    free(got);

    /* a symbolic link planted as the temporary file is refused, kept */
    snprintf(p, sizeof(p), "%s/.g.json.tmp", dir);
    ok(symlink("/nonexistent", p) == 0, "a link where the temporary file "
       "goes");
    rc = xlsnap__write_file_atomic(ctx, dir, "g.json", "{}\n", 3);
    ok(rc == XLSNAP_ERROR_PERM && lstat(p, &st) == 0 && S_ISLNK(st.st_mode),
       "is refused and left alone: %s", xlsnap_last_error(ctx));
    unlink(p);

    snprintf(p, sizeof(p), "%s/f.json", dir);
    unlink(p);
    rmdir(dir);
    xlsnap_ctx_free(ctx);
    return tap_done();
}
