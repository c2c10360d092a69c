/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * store.c - the on-disk snapshot store
 *
 * Layout (the only code that knows it; every path below is built by a
 * function of this file, declared in internal.h's store block):
 *   <state_dir>/                            0700
 *   <state_dir>/.import.XXXXXX/             staging dir of an import
 *                                           (store_staging_create)
 *   <state_dir>/<domain-uuid>/              0700 (xlsnap__domain_dir)
 *   <state_dir>/<domain-uuid>/.lock         per-domain flock
 *   <state_dir>/<domain-uuid>/.index        list index (index.c)
 *   <state_dir>/<domain-uuid>/.revert       intent of a revert in progress
 *   <state_dir>/<domain-uuid>/..revert.tmp  the intent being written
 *   <state_dir>/<domain-uuid>/.merge        intent of a live merge
 *   <state_dir>/<domain-uuid>/.create       overlays a create of the
 *                                           running domain has QEMU
 *                                           take under temporary names
 *   <state_dir>/<domain-uuid>/.adopted      adoption from another UUID
 *   <state_dir>/<domain-uuid>/.export.XXXXXX/  staging dir of an export
 *                                           to a stream
 *   <state_dir>/<domain-uuid>/<name>/       0700 (store_snapshot_dir)
 *   <state_dir>/<domain-uuid>/<name>/record.json        0600, libxl-json
 *   <state_dir>/<domain-uuid>/<name>/.record.json.tmp   being written
 *   <state_dir>/<domain-uuid>/<name>/memory.save[.zst]  memory image
 *                                           (store_memory_path)
 *   <state_dir>/<domain-uuid>/<name>/.parts.json        the files the
 *                                           snapshot owns, with their
 *                                           sizes and SHA-256 (verify.c;
 *                                           store_parts_path)
 *   <state_dir>/<domain-uuid>/<name>/.restore.fifo      left by versions
 *                                           whose revert used xl restore
 * Snapshot names cannot start with '.', so every private file of the
 * store starts with one.  A directory without record.json is the trace
 * of an interrupted create and is not a snapshot.  A staging dir is
 * flock()ed by the operation that uses it: one nobody holds is the
 * trace of an interrupted export or import.
 */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RECORD_MAX XLSNAP__RECORD_MAX

int xlsnap__domain_dir(xlsnap_ctx *ctx, const char *uuid, char **dir_r)
{
    if (!xlsnap__is_uuid(uuid))
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                             "'%s' is not a domain UUID", uuid);
    *dir_r = xlsnap__sprintf("%s/%s", ctx->state_dir, uuid);
    if (!*dir_r) return xlsnap__nomem(ctx);
    return 0;
}

static int ensure_state_dir(xlsnap_ctx *ctx);

int xlsnap__store_snapshot_dir(xlsnap_ctx *ctx, const char *uuid,
                               const char *name, char **dir_r)
{
    char *dir = NULL;
    int rc;

    *dir_r = NULL;
    if ((rc = xlsnap_name_validate(ctx, name)) ||
        (rc = xlsnap__domain_dir(ctx, uuid, &dir)))
        return rc;
    *dir_r = xlsnap__sprintf("%s/%s", dir, name);
    free(dir);
    if (!*dir_r) return xlsnap__nomem(ctx);
    return 0;
}

/* path_r: <snapshot dir>/file */
static int snapshot_file(xlsnap_ctx *ctx, const char *uuid,
                         const char *name, const char *file, char **path_r)
{
    char *sdir = NULL;
    int rc;

    *path_r = NULL;
    if ((rc = xlsnap__store_snapshot_dir(ctx, uuid, name, &sdir)))
        return rc;
    *path_r = xlsnap__sprintf("%s/%s", sdir, file);
    free(sdir);
    if (!*path_r) return xlsnap__nomem(ctx);
    return 0;
}

int xlsnap__store_memory_path(xlsnap_ctx *ctx, const char *uuid,
                              const char *name, bool compressed,
                              char **path_r)
{
    return snapshot_file(ctx, uuid, name, compressed
                         ? XLSNAP__MEMORY_FILE ".zst" : XLSNAP__MEMORY_FILE,
                         path_r);
}

/* The list of the files the snapshot owns (verify.c). */
int xlsnap__store_parts_path(xlsnap_ctx *ctx, const char *uuid,
                             const char *name, char **path_r)
{
    return snapshot_file(ctx, uuid, name, XLSNAP__PARTS_FILE, path_r);
}

const char *const xlsnap__store_snapshot_extras[] = {
    XLSNAP__TMP_NAME(XLSNAP__RECORD_FILE),
    XLSNAP__PARTS_FILE,
    XLSNAP__TMP_NAME(XLSNAP__PARTS_FILE),
    XLSNAP__MEMORY_FILE,
    XLSNAP__MEMORY_FILE ".zst",
    XLSNAP__FIFO_FILE,
    XLSNAP__UNSYNCED_FILE,
    XLSNAP__TMP_NAME(XLSNAP__UNSYNCED_FILE),
    NULL
};

int xlsnap__store_unsynced_mark(xlsnap_ctx *ctx, const char *uuid,
                                const char *name, const char *what)
{
    char *sdir = NULL;
    int rc;

    if (!(rc = xlsnap__store_snapshot_dir(ctx, uuid, name, &sdir)))
        rc = xlsnap__write_file_atomic(ctx, sdir, XLSNAP__UNSYNCED_FILE,
                                       what, strlen(what));
    free(sdir);
    return rc;
}

int xlsnap__store_unsynced_read(xlsnap_ctx *ctx, const char *uuid,
                                const char *name, char **what_r)
{
    char *path = NULL;
    int rc;

    *what_r = NULL;
    if ((rc = snapshot_file(ctx, uuid, name, XLSNAP__UNSYNCED_FILE, &path)))
        return rc;
    rc = xlsnap__read_file(ctx, AT_FDCWD, path, 256, what_r, NULL);
    if (rc == XLSNAP_ERROR_NOTFOUND) rc = 0;
    if (*what_r) (*what_r)[strcspn(*what_r, "\n")] = 0;
    free(path);
    return rc;
}

int xlsnap__store_unsynced_clear(xlsnap_ctx *ctx, const char *uuid,
                                 const char *name)
{
    char *path = NULL;
    int rc;

    if ((rc = snapshot_file(ctx, uuid, name, XLSNAP__UNSYNCED_FILE, &path)))
        return rc;
    if (!(rc = xlsnap__unlink(ctx, path, true)))
        xlsnap__fsync_dir_of(path);
    free(path);
    return rc;
}

int xlsnap__store_intent_tmp_path(xlsnap_ctx *ctx, const char *uuid,
                                  const char *op, char **path_r)
{
    char *dir = NULL, *file = xlsnap__sprintf(".%s", op);
    char *tmp = file ? xlsnap__tmp_name(file) : NULL;
    int rc;

    *path_r = NULL;
    if (!file || !tmp)
        rc = xlsnap__nomem(ctx);
    else if (!(rc = xlsnap__domain_dir(ctx, uuid, &dir)) &&
             !(*path_r = xlsnap__sprintf("%s/%s", dir, tmp)))
        rc = xlsnap__nomem(ctx);
    free(tmp);
    free(file);
    free(dir);
    return rc;
}

/* ---- staging dirs ---- */

#define STAGING_RANDOM "XXXXXX"

static bool staging_kind_ok(const char *kind)
{
    return kind && (!strcmp(kind, "import") || !strcmp(kind, "export"));
}

/* Whether the entry 'name' of a state dir (import) or domain dir
 * (export) is a staging dir's name. */
static bool is_staging_name(const char *name, const char *kind)
{
    size_t kl = strlen(kind);

    return name[0] == '.' && !strncmp(name + 1, kind, kl) &&
           name[1 + kl] == '.' &&
           strlen(name + 2 + kl) == strlen(STAGING_RANDOM);
}

/* The directory staging dirs of 'kind' go in: the state dir (import:
 * its domain is not known yet) or the domain's dir (export). */
static int staging_parent(xlsnap_ctx *ctx, const char *uuid,
                          const char *kind, char **dir_r)
{
    *dir_r = NULL;
    if (!staging_kind_ok(kind) || !strcmp(kind, "import") != !uuid)
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "no staging dir of "
                             "kind '%s'%s", kind ? kind : "(null)",
                             uuid ? " in a domain dir" : "");
    if (uuid) return xlsnap__domain_dir(ctx, uuid, dir_r);
    *dir_r = xlsnap__strdup(ctx->state_dir);
    if (!*dir_r) return xlsnap__nomem(ctx);
    return 0;
}

int xlsnap__store_staging_create(xlsnap_ctx *ctx, const char *uuid,
                                 const char *kind, char **dir_r, int *fd_r)
{
    char *parent = NULL, *dir = NULL;
    int fd = -1, rc;
    bool made = false;
    struct stat st;

    *dir_r = NULL;
    *fd_r = -1;
    if ((rc = staging_parent(ctx, uuid, kind, &parent))) goto out;
    if (!uuid && (rc = ensure_state_dir(ctx))) goto out;
    for (;;) {
        dir = xlsnap__sprintf("%s/.%s." STAGING_RANDOM, parent, kind);
        if (!dir) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        if (!mkdtemp(dir)) {
            rc = xlsnap__error_errno(ctx, errno, "cannot create %s", dir);
            goto out;
        }
        made = true;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || flock(fd, LOCK_EX) < 0) {
            rc = xlsnap__error_errno(ctx, errno, "cannot lock %s", dir);
            goto out;
        }
        /* a check may have taken it for a stale one before our lock */
        if (fstat(fd, &st) == 0 && st.st_nlink > 0) break;
        close(fd);
        fd = -1;
        made = false;
        free(dir);
    }
    *dir_r = dir;
    *fd_r = fd;
    dir = NULL;
    fd = -1;
    made = false;
    rc = 0;
 out:
    if (made) rmdir(dir);
    if (fd >= 0) close(fd);
    free(dir);
    free(parent);
    return rc;
}

int xlsnap__store_staging_stale(xlsnap_ctx *ctx, const char *uuid,
                                const char *kind, char ***paths_r,
                                int *nr_r)
{
    char *parent = NULL, **v = NULL;
    DIR *d = NULL;
    struct dirent *de;
    int n = 0, rc;

    *paths_r = NULL;
    *nr_r = 0;
    if ((rc = staging_parent(ctx, uuid, kind, &parent))) goto out;
    if (!(d = opendir(parent))) {
        if (errno != ENOENT)
            rc = xlsnap__error_errno(ctx, errno, "cannot open %s", parent);
        goto out;
    }
    while ((de = readdir(d))) {
        char *p;
        int fd;
        if (!is_staging_name(de->d_name, kind)) continue;
        fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY |
                    O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) continue;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {   /* in use */
            close(fd);
            continue;
        }
        close(fd);
        p = xlsnap__sprintf("%s/%s", parent, de->d_name);
        char **nv = p ? realloc(v, (n + 1) * sizeof(*v)) : NULL;
        if (!nv) { free(p); rc = xlsnap__nomem(ctx); goto out; }
        v = nv;
        v[n++] = p;
    }
    *paths_r = v;
    *nr_r = n;
    v = NULL;
    n = 0;
 out:
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
    if (d) closedir(d);
    free(parent);
    return rc;
}

int xlsnap__store_staging_remove(xlsnap_ctx *ctx, const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return errno == ENOENT ? 0 : xlsnap__error_errno(ctx, errno,
                                                         "cannot open %s",
                                                         path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0)
        rc = xlsnap__error(ctx, XLSNAP_ERROR_BUSY, "%s is in use", path);
    else {
        /* removed under the lock: a creator that locks it after us sees
         * it gone (st_nlink 0) */
        xlsnap__remove_flat_dir(path);
        if (access(path, F_OK) == 0)
            rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "cannot remove %s",
                               path);
    }
    close(fd);
    return rc;
}

/* mkdir -p for the state dir itself: parents 0755, the dir 0700. */
static int ensure_state_dir(xlsnap_ctx *ctx)
{
    char *p = xlsnap__strdup(ctx->state_dir);
    int rc = 0;

    if (!p) return xlsnap__nomem(ctx);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            rc = xlsnap__error_errno(ctx, errno,
                                     "cannot create directory %s", p);
            goto out;
        }
        *s = '/';
    }
    rc = xlsnap__mkdir_private(ctx, p);
 out:
    free(p);
    return rc;
}

/* The domain directory, never through a symbolic link; a missing one
 * gives NOTFOUND. */
static int open_domain_dir(xlsnap_ctx *ctx, const char *uuid, int *dfd_r)
{
    char *dir = NULL;
    int rc;

    *dfd_r = -1;
    if ((rc = xlsnap__domain_dir(ctx, uuid, &dir))) return rc;
    rc = xlsnap__open_nofollow(ctx, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY,
                               dir);
    free(dir);
    if (rc < 0) return rc;
    *dfd_r = rc;
    return 0;
}

int xlsnap__lock_domain(xlsnap_ctx *ctx, const char *uuid, bool create,
                        xlsnap__lock *lock_r)
{
    char *dir = NULL, *path = NULL;
    int dfd = -1, fd = -1, rc;
    time_t deadline;
    struct stat st;

    lock_r->fd = -1;
    /* a writer may follow: summaries kept for a list are stale */
    xlsnap__summary_keep(ctx, NULL, NULL, 0);
    if ((rc = xlsnap__domain_dir(ctx, uuid, &dir))) goto out;
    if (create) {
        if ((rc = ensure_state_dir(ctx))) goto out;
        if ((rc = xlsnap__mkdir_private(ctx, dir))) goto out;
    }
    if ((rc = open_domain_dir(ctx, uuid, &dfd))) {
        if (rc == XLSNAP_ERROR_NOTFOUND)
            rc = xlsnap__error(ctx, rc, "domain %s has no snapshots", uuid);
        goto out;
    }
    path = xlsnap__sprintf("%s/%s", dir, XLSNAP__LOCK_FILE);
    if (!path) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    fd = xlsnap__open_nofollow(ctx, dfd, XLSNAP__LOCK_FILE,
                               O_RDWR | O_CREAT | O_NONBLOCK, path);
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_PERM,
                           "lock file %s is not a regular file", path);
        goto out;
    }
    deadline = time(NULL) + ctx->lock_timeout;
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EINTR) continue;
        if (errno != EWOULDBLOCK) {
            rc = xlsnap__error_errno(ctx, errno, "cannot lock %s", path);
            goto out;
        }
        if (time(NULL) >= deadline) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_BUSY,
                               "domain %s is busy: another xl-snapshot "
                               "operation holds %s", uuid, path);
            goto out;
        }
        usleep(100 * 1000);
    }
    lock_r->fd = fd;
    fd = -1;
    rc = 0;
 out:
    if (fd >= 0) close(fd);
    if (dfd >= 0) close(dfd);
    free(path);
    free(dir);
    return rc;
}

void xlsnap__unlock(xlsnap__lock *lock)
{
    if (lock->fd >= 0) close(lock->fd);   /* drops the flock */
    lock->fd = -1;
}

#define ADOPT_MARK ".adopted"

/* Whether the domain dir dirfd holds the marker of an adoption from
 * UUID old (the dir was renamed from old; records may still say old). */
static bool adopted_from(int dirfd, const char *old)
{
    char buf[64];
    int fd = openat(dirfd, ADOPT_MARK, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) return false;
    n = xlsnap__read_upto(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    if (buf[n - 1] == '\n') buf[n - 1] = '\0';
    return !strcasecmp(buf, old);
}

int xlsnap__record_adopt(xlsnap_ctx *ctx, xlsnap_snapshot *s,
                         const char *uuid)
{
    char *old = s->domain_uuid, *pre, *nc = NULL;
    size_t pl;
    int rc;

    pre = xlsnap__sprintf("%s/%s/", ctx->state_dir, old);
    if (!pre) return xlsnap__nomem(ctx);
    pl = strlen(pre);
    if (s->memory && !strncmp(s->memory, pre, pl)) {
        char *m = xlsnap__sprintf("%s/%s/%s", ctx->state_dir, uuid,
                                  s->memory + pl);
        if (!m) {
            free(pre);
            return xlsnap__nomem(ctx);
        }
        free(s->memory);
        s->memory = m;
    }
    free(pre);
    if (s->config_json) {
        rc = xlsnap__config_rewrite(ctx, s->config_json, NULL, uuid, NULL,
                                    0, &nc);
        if (rc) return rc;
        free(s->config_json);
        s->config_json = nc;
    }
    if (!(s->domain_uuid = xlsnap__strdup(uuid))) {
        s->domain_uuid = old;
        return xlsnap__nomem(ctx);
    }
    free(old);
    return 0;
}

int xlsnap__store_adopt(xlsnap_ctx *ctx, const char *old, const char *uuid,
                        const char *name)
{
    xlsnap__lock lock = { -1 };
    xlsnap_snapshot *list = NULL;
    char *from = NULL, *to = NULL;
    int nr = 0, rc, sfd = -1;

    if ((rc = xlsnap__lock_domain(ctx, old, false, &lock))) goto out;
    from = xlsnap__sprintf("%s/%s", ctx->state_dir, old);
    to = xlsnap__sprintf("%s/%s", ctx->state_dir, uuid);
    if (!from || !to) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    /* 1. the marker: records saying old are read as uuid's */
    if ((rc = xlsnap__write_file_atomic(ctx, from, ADOPT_MARK, old,
                                        strlen(old))))
        goto out;
    xlsnap__fault_point("adopt-marked");
    /* 2. the directory */
    if ((rc = xlsnap__rename_image(ctx, from, to))) goto out;
    sfd = open(ctx->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd >= 0) { fsync(sfd); close(sfd); }
    xlsnap__fault_point("adopt-renamed");
    rc = xlsnap__finish_adopt(ctx, uuid, name);
 out:
    xlsnap__unlock(&lock);
    xlsnap_snapshot_list_free(list, nr);
    free(from);
    free(to);
    return rc;
}

int xlsnap__finish_adopt(xlsnap_ctx *ctx, const char *uuid,
                         const char *name)
{
    xlsnap_snapshot *list = NULL;
    char *dir = xlsnap__sprintf("%s/%s", ctx->state_dir, uuid);
    char *mark = dir ? xlsnap__sprintf("%s/%s", dir, ADOPT_MARK) : NULL;
    int nr = 0, rc;

    if (!mark) { rc = xlsnap__nomem(ctx); goto out; }
    if (access(mark, F_OK) < 0) { rc = 0; goto out; }
    /* 3. every record rewritten (read through the marker) */
    if ((rc = xlsnap__store_list(ctx, uuid, &list, &nr))) goto out;
    for (int i = 0; i < nr; i++) {
        if (name && (!list[i].domain_name ||
                     strcmp(list[i].domain_name, name))) {
            free(list[i].domain_name);
            if (!(list[i].domain_name = xlsnap__strdup(name))) {
                rc = xlsnap__nomem(ctx);
                goto out;
            }
        }
        if ((rc = xlsnap__store_write(ctx, &list[i]))) goto out;
    }
    /* 4. done */
    rc = xlsnap__unlink(ctx, mark, false);
 out:
    xlsnap_snapshot_list_free(list, nr);
    free(mark);
    free(dir);
    return rc;
}

/* The record of snapshot 'name' in the domain directory dirfd; neither
 * the snapshot directory nor record.json may be a symbolic link. */
static int read_record(xlsnap_ctx *ctx, int dirfd, const char *uuid,
                       const char *name, xlsnap_snapshot *snap_r)
{
    char *sdir, *path, *data = NULL;
    size_t len;
    int sfd, rc;

    sdir = xlsnap__sprintf("%s/%s/%s", ctx->state_dir, uuid, name);
    path = sdir ? xlsnap__sprintf("%s/%s", sdir, XLSNAP__RECORD_FILE) : NULL;
    if (!path) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    /* a directory put there by hand may have any name */
    if ((rc = xlsnap_name_validate(ctx, name))) {
        rc = xlsnap__error_prefix(ctx, XLSNAP_ERROR_CORRUPT, "%s", sdir);
        goto out;
    }
    sfd = xlsnap__open_nofollow(ctx, dirfd, name, O_RDONLY | O_DIRECTORY,
                                sdir);
    if (sfd < 0) {
        rc = sfd;
        goto out;
    }
    rc = xlsnap__read_file_at(ctx, sfd, XLSNAP__RECORD_FILE, path,
                              RECORD_MAX, &data, &len);
    close(sfd);
    if (rc) goto out;
    if ((rc = xlsnap__check_text(ctx, XLSNAP_ERROR_CORRUPT, path, data,
                                 len)))
        goto out;
    rc = xlsnap_snapshot_from_json(ctx, data, snap_r);
    if (rc) {
        rc = xlsnap__error_prefix(ctx, rc, "%s", path);
        goto out;
    }
    if (!strcmp(snap_r->name, name) &&
        strcasecmp(snap_r->domain_uuid, uuid) &&
        adopted_from(dirfd, snap_r->domain_uuid)) {
        /* the domain dir was adopted by a new UUID and this record is
         * not rewritten yet: it is read as it will be */
        if ((rc = xlsnap__record_adopt(ctx, snap_r, uuid))) {
            xlsnap_snapshot_dispose(snap_r);
            goto out;
        }
    }
    if (strcmp(snap_r->name, name) ||
        strcasecmp(snap_r->domain_uuid, uuid)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "%s: record names snapshot '%s' of domain %s",
                           path, snap_r->name, snap_r->domain_uuid);
        xlsnap_snapshot_dispose(snap_r);
        goto out;
    }
 out:
    free(data);
    free(path);
    free(sdir);
    return rc;
}

int xlsnap__store_read(xlsnap_ctx *ctx, const char *uuid,
                       const char *name, xlsnap_snapshot *snap_r)
{
    int dfd = -1, rc;

    if ((rc = xlsnap_name_validate(ctx, name))) goto out;
    rc = open_domain_dir(ctx, uuid, &dfd);
    if (rc == XLSNAP_ERROR_NOTFOUND) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND,
                           "no snapshot '%s' (domain %s has no "
                           "snapshots)", name, uuid);
        goto out;
    }
    if (rc) goto out;
    rc = read_record(ctx, dfd, uuid, name, snap_r);
    if (rc == XLSNAP_ERROR_NOTFOUND)
        rc = xlsnap__error(ctx, rc, "no snapshot '%s'", name);
 out:
    if (dfd >= 0) close(dfd);
    return rc;
}

int xlsnap__store_write(xlsnap_ctx *ctx, const xlsnap_snapshot *snap)
{
    char *dir = NULL, *sdir = NULL, *json = NULL;
    int rc;

    if ((rc = xlsnap_name_validate(ctx, snap->name))) goto out;
    if ((rc = xlsnap__domain_dir(ctx, snap->domain_uuid, &dir))) goto out;
    if ((rc = ensure_state_dir(ctx))) goto out;
    if ((rc = xlsnap__mkdir_private(ctx, dir))) goto out;
    sdir = xlsnap__sprintf("%s/%s", dir, snap->name);
    if (!sdir) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    if ((rc = xlsnap__mkdir_private(ctx, sdir))) goto out;
    if ((rc = xlsnap_snapshot_to_json(ctx, snap, &json))) goto out;
    if (strlen(json) > RECORD_MAX) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "the record of '%s' "
                           "would be %zu bytes (limit %u)", snap->name,
                           strlen(json), RECORD_MAX);
        goto out;
    }
    rc = xlsnap__write_file_atomic(ctx, sdir, XLSNAP__RECORD_FILE, json,
                                   strlen(json));
 out:
    free(json);
    free(sdir);
    free(dir);
    return rc;
}

/* opendir() of the domain directory, through open_domain_dir(). */
static int opendir_domain(xlsnap_ctx *ctx, const char *uuid, DIR **d_r)
{
    int dfd, rc;

    if ((rc = open_domain_dir(ctx, uuid, &dfd))) return rc;
    *d_r = fdopendir(dfd);
    if (!*d_r) {
        rc = xlsnap__error_errno(ctx, errno, "cannot read %s/%s",
                                 ctx->state_dir, uuid);
        close(dfd);
    }
    return rc;
}

/* Remove a snapshot's record, then its directory with the files the
 * store and create put there (memory image, temporary files).  A
 * missing record is not an error (a repeated removal). */
int xlsnap__store_remove(xlsnap_ctx *ctx, const char *uuid,
                         const char *name)
{
    char *dir = NULL;
    int dfd = -1, rc;

    if ((rc = xlsnap_name_validate(ctx, name))) goto out;
    if ((rc = xlsnap__domain_dir(ctx, uuid, &dir))) goto out;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot open %s", dir);
        goto out;
    }
    /* the record first: without it the rest is no snapshot */
    for (int i = -1; i < 0 || xlsnap__store_snapshot_extras[i]; i++) {
        char *p = xlsnap__sprintf("%s/%s", name, i < 0
                                  ? XLSNAP__RECORD_FILE
                                  : xlsnap__store_snapshot_extras[i]);
        if (!p) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        int r = unlinkat(dfd, p, 0);
        if (r < 0 && errno != ENOENT) {
            rc = xlsnap__error_errno(ctx, errno, "cannot remove %s/%s",
                                     dir, p);
            free(p);
            goto out;
        }
        free(p);
        if (i < 0 && fsync(dfd) < 0) {
            rc = xlsnap__error_errno(ctx, errno, "cannot sync %s", dir);
            goto out;
        }
    }
    if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
        rc = xlsnap__error_errno(ctx, errno, "cannot remove %s/%s", dir,
                                 name);
        goto out;
    }
    rc = 0;
 out:
    if (dfd >= 0) close(dfd);
    free(dir);
    return rc;
}

/* The intent file of an operation in progress on a domain ("revert"):
 * written before the operation touches anything, removed after. */
int xlsnap__intent_write(xlsnap_ctx *ctx, const char *uuid, const char *op,
                         const char *json)
{
    char *dir = NULL, *file = xlsnap__sprintf(".%s", op);
    int rc;

    if (!file)
        rc = xlsnap__nomem(ctx);
    else if (!(rc = xlsnap__domain_dir(ctx, uuid, &dir)))
        rc = xlsnap__write_file_atomic(ctx, dir, file, json, strlen(json));
    free(file);
    free(dir);
    return rc;
}

/* The intent file of op in the domain's directory in *path_r. */
static int intent_path(xlsnap_ctx *ctx, const char *uuid, const char *op,
                       char **path_r)
{
    char *dir = NULL;
    int rc = xlsnap__domain_dir(ctx, uuid, &dir);

    if (!rc && !(*path_r = xlsnap__sprintf("%s/.%s", dir, op)))
        rc = xlsnap__nomem(ctx);
    free(dir);
    return rc;
}

/* *json_r NULL (and success) when there is no such intent. */
int xlsnap__intent_read(xlsnap_ctx *ctx, const char *uuid, const char *op,
                        char **json_r)
{
    char *path = NULL;
    int rc;

    *json_r = NULL;
    if ((rc = intent_path(ctx, uuid, op, &path))) return rc;
    rc = xlsnap__read_file(ctx, AT_FDCWD, path, RECORD_MAX, json_r, NULL);
    if (rc == XLSNAP_ERROR_NOTFOUND) rc = 0;
    free(path);
    return rc;
}

int xlsnap__intent_clear(xlsnap_ctx *ctx, const char *uuid, const char *op)
{
    char *path = NULL;
    int rc;

    if ((rc = intent_path(ctx, uuid, op, &path))) return rc;
    rc = xlsnap__unlink(ctx, path, true);
    free(path);
    return rc;
}

int xlsnap__cmp_snap(const void *a, const void *b)
{
    const xlsnap_snapshot *x = a, *y = b;

    if (x->creationtime != y->creationtime)
        return x->creationtime < y->creationtime ? -1 : 1;
    return strcmp(x->name, y->name);
}

int xlsnap__store_list(xlsnap_ctx *ctx, const char *uuid,
                       xlsnap_snapshot **list_r, int *nr_r)
{
    DIR *d = NULL;
    struct dirent *de;
    xlsnap_snapshot *list = NULL;
    int nr = 0, cap = 0, rc;

    *list_r = NULL;
    *nr_r = 0;
    if ((rc = opendir_domain(ctx, uuid, &d))) {
        if (rc == XLSNAP_ERROR_NOTFOUND) rc = 0;
        goto out;
    }
    while ((errno = 0, de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        /* a symbolic link is refused by read_record(), loudly */
        if (de->d_type != DT_DIR && de->d_type != DT_LNK &&
            de->d_type != DT_UNKNOWN)
            continue;
        if (nr == cap) {
            cap = cap ? cap * 2 : 16;
            xlsnap_snapshot *nl = realloc(list, cap * sizeof(*list));
            if (!nl) { rc = xlsnap__nomem(ctx); goto out; }
            list = nl;
        }
        xlsnap_snapshot_init(&list[nr]);
        rc = read_record(ctx, dirfd(d), uuid, de->d_name, &list[nr]);
        if (rc == XLSNAP_ERROR_NOTFOUND) continue;  /* interrupted */
        if (rc) goto out;
        nr++;
    }
    if (errno) {
        rc = xlsnap__error_errno(ctx, errno, "cannot read %s/%s",
                                 ctx->state_dir, uuid);
        goto out;
    }
    if (nr) qsort(list, nr, sizeof(*list), xlsnap__cmp_snap);
    *list_r = list;
    *nr_r = nr;
    list = NULL;
    nr = 0;
    rc = 0;
 out:
    xlsnap_snapshot_list_free(list, nr);
    if (d) closedir(d);
    return rc;
}

int xlsnap__store_open(xlsnap_ctx *ctx, const char *uuid, unsigned flags,
                       xlsnap__store_handle *h)
{
    int rc;

    h->lock.fd = -1;
    h->list = NULL;
    h->nr = 0;
    h->summary = false;
    h->loaded = NULL;
    h->uuid = NULL;
    h->keys = NULL;
    rc = xlsnap__lock_domain(ctx, uuid, flags & XLSNAP__STORE_CREATE,
                             &h->lock);
    if (!rc && !(h->uuid = xlsnap__strdup(uuid))) rc = xlsnap__nomem(ctx);
    if (!rc && !(flags & XLSNAP__STORE_LOCK_ONLY))
        rc = xlsnap__store_load_locked(ctx, uuid,
                                       flags & XLSNAP__STORE_SUMMARY,
                                       &h->list, &h->nr, &h->summary,
                                       &h->keys);
    if (!rc && h->summary &&
        !(h->loaded = calloc(h->nr + 1, sizeof(*h->loaded))))
        rc = xlsnap__nomem(ctx);
    if (rc) xlsnap__store_close(h);
    return rc;
}

int xlsnap__store_open_find(xlsnap_ctx *ctx, const char *uuid,
                            const char *name, xlsnap__store_handle *h,
                            int *idx_r)
{
    return xlsnap__store_open_find_flags(ctx, uuid, name, 0, h, idx_r);
}

int xlsnap__store_open_find_flags(xlsnap_ctx *ctx, const char *uuid,
                                  const char *name, unsigned flags,
                                  xlsnap__store_handle *h, int *idx_r)
{
    int rc;

    *idx_r = -1;
    if ((rc = xlsnap_name_validate(ctx, name))) return rc;
    rc = xlsnap__store_open(ctx, uuid, flags, h);
    if (!rc) *idx_r = xlsnap__list_find(h->list, h->nr, name);
    if (rc == XLSNAP_ERROR_NOTFOUND || (!rc && *idx_r < 0))
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "no snapshot '%s'",
                           name);
    return rc;
}

int xlsnap__store_handle_load(xlsnap_ctx *ctx, xlsnap__store_handle *h,
                              int i)
{
    xlsnap_snapshot s;
    int dfd = -1, rc;

    if (!h->summary || i < 0 || i >= h->nr || h->loaded[i]) return 0;
    xlsnap_snapshot_init(&s);
    if ((rc = open_domain_dir(ctx, h->uuid, &dfd))) goto out;
    /* under the lock the index was checked against: the record is the
     * one summarised, only its config is new */
    if ((rc = read_record(ctx, dfd, h->uuid, h->list[i].name, &s))) goto out;
    free(h->list[i].config_json);
    h->list[i].config_json = s.config_json;
    s.config_json = NULL;
    h->loaded[i] = true;
 out:
    xlsnap_snapshot_dispose(&s);
    if (dfd >= 0) close(dfd);
    return rc;
}

int xlsnap__store_handle_write(xlsnap_ctx *ctx, xlsnap__store_handle *h,
                               int i)
{
    int rc = xlsnap__store_handle_load(ctx, h, i);

    return rc ? rc : xlsnap__store_write(ctx, &h->list[i]);
}

void xlsnap__store_close(xlsnap__store_handle *h)
{
    xlsnap_snapshot_list_free(h->list, h->nr);
    h->list = NULL;
    h->nr = 0;
    h->summary = false;
    free(h->loaded);
    h->loaded = NULL;
    free(h->uuid);
    h->uuid = NULL;
    xlsnap__index_keys_free(h->keys);
    h->keys = NULL;
    xlsnap__unlock(&h->lock);
}

/* Whether any readable record of domain dir 'uuid' names the domain
 * 'name' (1, else 0).  Unreadable records are skipped here: one bad file
 * must not hide a domain (list and info report it); out of memory is
 * no answer (NOMEM). */
static int domain_has_name(xlsnap_ctx *ctx, const char *uuid,
                           const char *name)
{
    xlsnap__errsaved saved;
    DIR *d = NULL;
    struct dirent *de;
    int found = 0, rc = 0;

    xlsnap__errsave(ctx, &saved);
    /* the list index first: no record opened when it is valid */
    if ((rc = xlsnap__index_has_name(ctx, uuid, name)) >= 0 ||
        rc == XLSNAP_ERROR_NOMEM) {
        xlsnap__errrestore(ctx, &saved);
        return rc == XLSNAP_ERROR_NOMEM ? xlsnap__nomem(ctx) : rc;
    }
    rc = 0;
    if (opendir_domain(ctx, uuid, &d) == XLSNAP_ERROR_NOMEM)
        rc = XLSNAP_ERROR_NOMEM;
    while (d && !found && !rc && (de = readdir(d))) {
        xlsnap_snapshot s;
        if (de->d_name[0] == '.') continue;
        xlsnap_snapshot_init(&s);
        rc = read_record(ctx, dirfd(d), uuid, de->d_name, &s);
        if (!rc)
            found = s.domain_name && !strcmp(s.domain_name, name);
        if (rc != XLSNAP_ERROR_NOMEM) rc = 0;
        xlsnap_snapshot_dispose(&s);
    }
    if (d) closedir(d);
    xlsnap__errrestore(ctx, &saved);
    return rc ? xlsnap__nomem(ctx) : found;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int xlsnap__store_find_domain(xlsnap_ctx *ctx, const char *name,
                              char ***uuids_r, int *nr_r)
{
    DIR *d = NULL;
    struct dirent *de;
    char **uuids = NULL;
    int nr = 0, rc;

    *uuids_r = NULL;
    *nr_r = 0;
    d = opendir(ctx->state_dir);
    if (!d && errno == ENOENT) return 0;
    if (!d)
        return xlsnap__error_errno(ctx, errno, "cannot open %s",
                                   ctx->state_dir);
    while ((de = readdir(d))) {
        if (!xlsnap__is_uuid(de->d_name)) continue;
        if (name && (rc = domain_has_name(ctx, de->d_name, name)) <= 0) {
            if (rc < 0) goto out;
            continue;
        }
        char **nu = realloc(uuids, (nr + 1) * sizeof(*uuids));
        if (!nu) { rc = xlsnap__nomem(ctx); goto out; }
        uuids = nu;
        if (!(uuids[nr] = xlsnap__strdup(de->d_name))) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        nr++;
    }
    if (nr > 1) qsort(uuids, nr, sizeof(*uuids), cmp_str);
    *uuids_r = uuids;
    *nr_r = nr;
    uuids = NULL;
    nr = 0;
    rc = 0;
 out:
    for (int i = 0; i < nr; i++) free(uuids[i]);
    free(uuids);
    closedir(d);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
