/*
 * store.c - the on-disk snapshot store
 *
 * Layout (the only code that knows it):
 *   <state_dir>/                      0700
 *   <state_dir>/<domain-uuid>/        0700
 *   <state_dir>/<domain-uuid>/.lock   per-domain flock
 *   <state_dir>/<domain-uuid>/<name>/record.json   0600, libxl-json
 *   <state_dir>/<domain-uuid>/<name>/...           memory image etc.
 * Snapshot names cannot start with '.', so every private file of the
 * store starts with one.  A directory without record.json is the trace
 * of an interrupted create and is not a snapshot.
 */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RECORD_MAX (16u << 20)

int xlsnap__domain_dir(xlsnap_ctx *ctx, const char *uuid, char **dir_r)
{
    if (!xlsnap__is_uuid(uuid))
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                             "'%s' is not a domain UUID", uuid);
    *dir_r = xlsnap__sprintf("%s/%s", ctx->state_dir, uuid);
    return 0;
}

/* mkdir -p for the state dir itself: parents 0755, the dir 0700. */
static int ensure_state_dir(xlsnap_ctx *ctx)
{
    char *p = xlsnap__strdup(ctx->state_dir);
    int rc = 0;

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

int xlsnap__lock_domain(xlsnap_ctx *ctx, const char *uuid, bool create,
                        xlsnap__lock *lock_r)
{
    char *dir = NULL, *path = NULL;
    int fd = -1, rc;
    time_t deadline;

    lock_r->fd = -1;
    /* a writer may follow: summaries kept for a list are stale */
    xlsnap__summary_keep(ctx, NULL, NULL, 0);
    if ((rc = xlsnap__domain_dir(ctx, uuid, &dir))) goto out;
    if (create) {
        if ((rc = ensure_state_dir(ctx))) goto out;
        if ((rc = xlsnap__mkdir_private(ctx, dir))) goto out;
    } else if (access(dir, F_OK) < 0) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND,
                           "domain %s has no snapshots", uuid);
        goto out;
    }
    path = xlsnap__sprintf("%s/%s", dir, XLSNAP__LOCK_FILE);
    fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot open lock file %s",
                                 path);
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
    free(path);
    free(dir);
    return rc;
}

void xlsnap__unlock(xlsnap__lock *lock)
{
    if (lock->fd >= 0) close(lock->fd);   /* drops the flock */
    lock->fd = -1;
}

static int read_record(xlsnap_ctx *ctx, int dirfd, const char *uuid,
                       const char *name, xlsnap_snapshot *snap_r)
{
    char *path = NULL, *data = NULL;
    int rc;

    path = xlsnap__sprintf("%s/%s", name, XLSNAP__RECORD_FILE);
    rc = xlsnap__read_file(ctx, dirfd, path, RECORD_MAX, &data, NULL);
    if (rc) goto out;
    rc = xlsnap_snapshot_from_json(ctx, data, snap_r);
    if (rc) {
        rc = xlsnap__error_prefix(ctx, rc, "%s/%s/%s", ctx->state_dir,
                                  uuid, path);
        goto out;
    }
    if (strcmp(snap_r->name, name) ||
        strcasecmp(snap_r->domain_uuid, uuid)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "%s/%s/%s: record names snapshot '%s' of "
                           "domain %s", ctx->state_dir, uuid, path,
                           snap_r->name, snap_r->domain_uuid);
        xlsnap_snapshot_dispose(snap_r);
        goto out;
    }
 out:
    free(data);
    free(path);
    return rc;
}

int xlsnap__store_read(xlsnap_ctx *ctx, const char *uuid,
                       const char *name, xlsnap_snapshot *snap_r)
{
    char *dir = NULL;
    int dfd = -1, rc;

    if ((rc = xlsnap__domain_dir(ctx, uuid, &dir))) goto out;
    if ((rc = xlsnap_name_validate(ctx, name))) goto out;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 && errno == ENOENT) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND,
                           "no snapshot '%s' (domain %s has no "
                           "snapshots)", name, uuid);
        goto out;
    }
    if (dfd < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot open %s", dir);
        goto out;
    }
    rc = read_record(ctx, dfd, uuid, name, snap_r);
    if (rc == XLSNAP_ERROR_NOTFOUND)
        rc = xlsnap__error(ctx, rc, "no snapshot '%s'", name);
 out:
    if (dfd >= 0) close(dfd);
    free(dir);
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
    if ((rc = xlsnap__mkdir_private(ctx, sdir))) goto out;
    if ((rc = xlsnap_snapshot_to_json(ctx, snap, &json))) goto out;
    rc = xlsnap__write_file_atomic(ctx, sdir, XLSNAP__RECORD_FILE, json,
                                   strlen(json));
 out:
    free(json);
    free(sdir);
    free(dir);
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
    char *dir = NULL;
    DIR *d = NULL;
    struct dirent *de;
    xlsnap_snapshot *list = NULL;
    int nr = 0, cap = 0, rc;

    *list_r = NULL;
    *nr_r = 0;
    if ((rc = xlsnap__domain_dir(ctx, uuid, &dir))) goto out;
    d = opendir(dir);
    if (!d && errno == ENOENT) { rc = 0; goto out; }
    if (!d) {
        rc = xlsnap__error_errno(ctx, errno, "cannot open %s", dir);
        goto out;
    }
    while ((errno = 0, de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) continue;
        if (nr == cap) {
            cap = cap ? cap * 2 : 16;
            xlsnap_snapshot *nl = realloc(list, cap * sizeof(*list));
            if (!nl) { rc = XLSNAP_ERROR_NOMEM; goto out; }
            list = nl;
        }
        xlsnap_snapshot_init(&list[nr]);
        rc = read_record(ctx, dirfd(d), uuid, de->d_name, &list[nr]);
        if (rc == XLSNAP_ERROR_NOTFOUND) continue;  /* interrupted */
        if (rc) goto out;
        nr++;
    }
    if (errno) {
        rc = xlsnap__error_errno(ctx, errno, "cannot read %s", dir);
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
    free(dir);
    return rc;
}

int xlsnap__lock_and_find(xlsnap_ctx *ctx, const char *uuid,
                          const char *name, xlsnap__lock *lock_r,
                          xlsnap_snapshot **list_r, int *nr_r, int *idx_r)
{
    int rc;

    *idx_r = -1;
    if ((rc = xlsnap_name_validate(ctx, name))) return rc;
    rc = xlsnap__lock_domain(ctx, uuid, false, lock_r);
    if (!rc) rc = xlsnap__store_list(ctx, uuid, list_r, nr_r);
    for (int i = 0; !rc && i < *nr_r; i++)
        if (!strcmp((*list_r)[i].name, name)) *idx_r = i;
    if (rc == XLSNAP_ERROR_NOTFOUND || (!rc && *idx_r < 0))
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "no snapshot '%s'",
                           name);
    return rc;
}

/* Whether any readable record of domain dir 'uuid' names the domain
 * 'name'.  Unreadable records are skipped here: one bad file must not
 * hide a domain (list and info report it). */
static bool domain_has_name(xlsnap_ctx *ctx, const char *uuid,
                            const char *name)
{
    char *dir = xlsnap__sprintf("%s/%s", ctx->state_dir, uuid);
    char saved[XLSNAP__ERRBUF];
    DIR *d = opendir(dir);
    struct dirent *de;
    bool found = false;

    memcpy(saved, ctx->errbuf, sizeof(saved));
    while (d && !found && (de = readdir(d))) {
        xlsnap_snapshot s;
        if (de->d_name[0] == '.') continue;
        xlsnap_snapshot_init(&s);
        if (!read_record(ctx, dirfd(d), uuid, de->d_name, &s))
            found = s.domain_name && !strcmp(s.domain_name, name);
        xlsnap_snapshot_dispose(&s);
    }
    if (d) closedir(d);
    free(dir);
    memcpy(ctx->errbuf, saved, sizeof(saved));
    return found;
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
        if (!domain_has_name(ctx, de->d_name, name)) continue;
        char **nu = realloc(uuids, (nr + 1) * sizeof(*uuids));
        if (!nu) { rc = XLSNAP_ERROR_NOMEM; goto out; }
        uuids = nu;
        uuids[nr++] = xlsnap__strdup(de->d_name);
    }
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
