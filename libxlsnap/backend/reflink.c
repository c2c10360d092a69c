/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * backend/reflink.c - the "reflink" disk driver: raw files served by the
 * kernel backend (blkback, through a loop device) on a file system with
 * reflink copies (XFS made with reflink=1, btrfs).
 *
 * The snapshot is a reflink copy (ioctl FICLONE: the file system shares
 * the blocks, copying none) of the disk file, taken while the guest is
 * paused (disk only) or suspended (with memory), as for LVM.  The copy
 * is "<stem>.<snapshot>.img" next to the disk file (its real path),
 * mode 0600, made with O_EXCL, and carries the extended attribute
 * "user.xlsnap" = "<domain uuid>/<snapshot name>": remove, revert and
 * check only ever use a copy a record names AND that carries this
 * domain's mark, so an administrator's file is never removed.
 *
 * Revert (the domain is off): a new reflink copy of the snapshot, with
 * the disk file's owner and mode, made next to the disk file and renamed
 * over it: the path the xl config names stays valid, the swap is atomic
 * (a crash leaves the old or the new file, never a mix), and a loop
 * device that still holds the old file (blkback letting go of a domain
 * just destroyed) only ever sees the old file.  The snapshot's copy
 * stays, for a later revert.
 *
 * Where the file system cannot make reflink copies (ext4, tmpfs: FICLONE
 * fails with EOPNOTSUPP, EXDEV or EINVAL) xlsnap__reflink_probe says so,
 * and the disk is refused before anything is touched.
 */
#include "backend/disk.h"
#include "bundle/volume.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define XLSNAP__REFLINK_MARK "user.xlsnap"
/* on a revert's temporary copy until it is renamed over the disk file:
 * "<domain uuid>" (removed before the rename) */
#define XLSNAP__REFLINK_TEMP_MARK "user.xlsnap.revert"
#define XLSNAP__REFLINK_TEMP ".xs-revert-"

int xlsnap__reflink_probe(const char *path)
{
    char *p = xlsnap__strdup(path);
    int a = -1, b = -1, e = 0;

    if (!p) return ENOMEM;
    /* two unnamed files (O_TMPFILE: nothing left behind) in the disk's
     * directory, the one cloned into the other */
    a = open(dirname(p), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (a < 0) { e = errno; goto out; }
    free(p);
    if (!(p = xlsnap__strdup(path))) { e = ENOMEM; goto out; }
    b = open(dirname(p), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (b < 0) { e = errno; goto out; }
    if (ioctl(b, FICLONE, a) < 0) e = errno;
 out:
    if (a >= 0) close(a);
    if (b >= 0) close(b);
    free(p);
    return e;
}

/* The copy next to the real path of image for snapshot snap:
 * "<dir>/<stem>.<snap>.img"; NULL: out of memory or no such file
 * (errno). */
static char *copy_path(const char *image, const char *snap)
{
    char *real = realpath(image, NULL), *d = NULL, *b = NULL, *r = NULL;
    char *base, *dot;

    if (!real) return NULL;
    d = xlsnap__strdup(real);
    b = xlsnap__strdup(real);
    if (!d || !b) { errno = ENOMEM; goto out; }
    base = basename(b);
    dot = strrchr(base, '.');
    if (dot && dot != base) *dot = '\0';
    r = xlsnap__sprintf("%s/%s.%s.img", dirname(d), base, snap);
    if (!r) errno = ENOMEM;
 out:
    free(real);
    free(d);
    free(b);
    return r;
}

static int reflink_plan(const xlsnap__disk_plan *pl,
                        const xlsnap__cfgdisk *cd, xlsnap_disk *sd)
{
    xlsnap_ctx *ctx = pl->ctx;
    const char *snap = pl->snap;
    struct stat st;
    int rc;

    if ((rc = xlsnap__disk_plan_volume(pl, cd, "reflink"))) return rc;
    if (stat(cd->path, &st) < 0)
        return xlsnap__error_errno(ctx, errno, "disk %s: %s", cd->vdev,
                                   cd->path);
    if (!S_ISREG(st.st_mode))
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "disk %s: %s is not "
                             "a regular file", cd->vdev, cd->path);
    sd->vdev = xlsnap__strdup(cd->vdev);
    sd->format = xlsnap__strdup("raw");
    sd->image = xlsnap__strdup(cd->path);
    sd->kind = XLSNAP_DISK_VOLUME;
    sd->driver = xlsnap__strdup("reflink");
    sd->snapshot_file = copy_path(cd->path, snap);
    if (!sd->snapshot_file && errno != ENOMEM)
        return xlsnap__error_errno(ctx, errno, "disk %s: %s", cd->vdev,
                                   cd->path);
    if (!sd->vdev || !sd->format || !sd->image || !sd->driver ||
        !sd->snapshot_file)
        return xlsnap__nomem(ctx);
    if (access(sd->snapshot_file, F_OK) == 0 || errno != ENOENT)
        return xlsnap__error(ctx, XLSNAP_ERROR_EXISTS, "disk %s: %s already "
                             "exists", cd->vdev, sd->snapshot_file);
    return 0;
}

/* The mark of domain uuid's snapshot snap; NULL: out of memory. */
static char *mark_of(const char *uuid, const char *snap)
{
    return xlsnap__sprintf("%s/%s", uuid ? uuid : "", snap);
}

/*
 * The copy d names, opened (read only, no symlink followed) and proven
 * ours: a regular file with this domain's mark.  1 (*fd_r open), 0 if
 * there is no such file, or an error for a file that is not the tool's.
 */
static int own_copy(xlsnap_ctx *ctx, const xlsnap_disk *d, const char *uuid,
                    int *fd_r)
{
    char buf[512], *want = xlsnap__sprintf("%s/", uuid ? uuid : "");
    struct stat st;
    ssize_t n;
    int fd, rc;

    *fd_r = -1;
    if (!want) return xlsnap__nomem(ctx);
    fd = open(d->snapshot_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
              O_NONBLOCK);
    if (fd < 0) {
        rc = errno == ENOENT ? 0
           : xlsnap__error_errno(ctx, errno, "cannot open %s",
                                 d->snapshot_file);
        goto out;
    }
    n = fgetxattr(fd, XLSNAP__REFLINK_MARK, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || n < 0 ||
        strncmp(buf, want, strlen(want))) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_PERM, "%s is not marked as "
                           "this domain's snapshot copy (extended "
                           "attribute %s); it is left alone",
                           d->snapshot_file, XLSNAP__REFLINK_MARK);
        close(fd);
        goto out;
    }
    *fd_r = fd;
    rc = 1;
 out:
    free(want);
    return rc;
}

/* FICLONE src into dst: 0, or an error naming what failed. */
static int clone_into(xlsnap_ctx *ctx, int dst, int src, const char *from,
                      const char *to)
{
    if (ioctl(dst, FICLONE, src) == 0) return 0;
    return xlsnap__error_errno(ctx, errno, "cannot make a reflink copy of "
                               "%s as %s", from, to);
}

static int reflink_take(const xlsnap__disk_op *op, const xlsnap_disk *d,
                        const char *snap, const char *size)
{
    xlsnap_ctx *ctx = op->ctx;
    const char *uuid = op->uuid;
    char *mark = mark_of(uuid, snap);
    int src = -1, dst = -1, rc;

    (void)size;                 /* a copy has its file's size */
    if (!mark) return xlsnap__nomem(ctx);
    src = open(d->image, O_RDONLY | O_CLOEXEC);
    if (src < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot open %s", d->image);
        goto out;
    }
    dst = open(d->snapshot_file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
               O_CLOEXEC, 0600);
    if (dst < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot create %s",
                                 d->snapshot_file);
        goto out;
    }
    if (!(rc = clone_into(ctx, dst, src, d->image, d->snapshot_file)) &&
        fsetxattr(dst, XLSNAP__REFLINK_MARK, mark, strlen(mark), 0) < 0)
        rc = xlsnap__error_errno(ctx, errno, "cannot mark %s as the "
                                 "tool's (extended attribute %s)",
                                 d->snapshot_file, XLSNAP__REFLINK_MARK);
    if (!rc && fsync(dst) < 0)
        rc = xlsnap__error_errno(ctx, errno, "cannot sync %s",
                                 d->snapshot_file);
    if (rc) {
        unlink(d->snapshot_file);
        goto out;
    }
    xlsnap__fsync_dir_of(d->snapshot_file);
 out:
    if (src >= 0) close(src);
    if (dst >= 0) close(dst);
    free(mark);
    return rc;
}

static int reflink_remove(const xlsnap__disk_op *op, const xlsnap_disk *d)
{
    xlsnap_ctx *ctx = op->ctx;
    const char *uuid = op->uuid;
    int fd, rc = own_copy(ctx, d, uuid, &fd);

    if (rc <= 0) return rc;
    close(fd);
    if ((rc = xlsnap__unlink(ctx, d->snapshot_file, true))) return rc;
    xlsnap__fsync_dir_of(d->snapshot_file);
    return 0;
}

static int reflink_cancel(const xlsnap__disk_op *op, const xlsnap_disk *d)
{
    return reflink_remove(op, d);
}

static int reflink_revert_check(const xlsnap__disk_op *op,
                                const xlsnap_disk *d)
{
    xlsnap_ctx *ctx = op->ctx;
    const char *uuid = op->uuid;
    int fd, rc = own_copy(ctx, d, uuid, &fd);

    if (rc == 0)
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "disk %s: the "
                             "snapshot copy %s is gone", d->vdev,
                             d->snapshot_file);
    if (rc < 0) return rc;
    close(fd);
    return 0;
}

static int reflink_revert(const xlsnap__disk_op *op, const xlsnap_disk *d)
{
    xlsnap_ctx *ctx = op->ctx;
    const char *uuid = op->uuid;
    char *real = realpath(d->image, NULL), *tmp = NULL;
    struct stat st = { 0 };
    int src = -1, dst = -1, rc;

    if ((rc = own_copy(ctx, d, uuid, &src)) <= 0) {
        if (!rc)
            rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "the snapshot "
                               "copy %s is gone", d->snapshot_file);
        goto out;
    }
    /* the disk file (its real path), or, gone, a new one at the path */
    if (!real && !(real = xlsnap__strdup(d->image))) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    if (stat(real, &st) < 0) {
        st.st_mode = 0600;
        st.st_uid = geteuid();
        st.st_gid = getegid();
    }
    if (!(tmp = xlsnap__sprintf("%s" XLSNAP__REFLINK_TEMP "%ld", real,
                                (long)getpid()))) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    dst = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
               0600);
    if (dst < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot create %s", tmp);
        goto out;
    }
    /* marked while it is a temporary copy (check --repair removes one a
     * killed revert left), unmarked before it becomes the disk file */
    if (fsetxattr(dst, XLSNAP__REFLINK_TEMP_MARK, uuid ? uuid : "",
                  uuid ? strlen(uuid) : 0, 0) < 0)
        rc = xlsnap__error_errno(ctx, errno, "cannot mark %s as the "
                                 "tool's (extended attribute %s)", tmp,
                                 XLSNAP__REFLINK_TEMP_MARK);
    else if (!(rc = clone_into(ctx, dst, src, d->snapshot_file, tmp)) &&
             (fchown(dst, st.st_uid, st.st_gid) < 0 ||
              fchmod(dst, st.st_mode & 07777) < 0 ||
              fremovexattr(dst, XLSNAP__REFLINK_TEMP_MARK) < 0 ||
              fsync(dst) < 0))
        rc = xlsnap__error_errno(ctx, errno, "cannot complete %s", tmp);
    if (!rc && rename(tmp, real) < 0)
        rc = xlsnap__error_errno(ctx, errno, "cannot rename %s to %s", tmp,
                                 real);
    if (rc) {
        unlink(tmp);
        goto out;
    }
    xlsnap__fsync_dir_of(real);
 out:
    if (rc)
        rc = xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev);
    if (src >= 0) close(src);
    if (dst >= 0) close(dst);
    free(real);
    free(tmp);
    return rc;
}

static char *reflink_describe(const xlsnap_disk *d)
{
    return xlsnap__sprintf("reflink copy %s of %s", d->snapshot_file,
                           d->image);
}

static int reflink_check(const xlsnap__disk_op *op, const xlsnap_disk *d,
                         char **why_r)
{
    xlsnap_ctx *ctx = op->ctx;
    const char *uuid = op->uuid;
    int fd, rc = own_copy(ctx, d, uuid, &fd);

    *why_r = NULL;
    if (rc > 0) {
        close(fd);
        return 0;
    }
    /* not there, or not ours: a finding, not a failure of the check */
    *why_r = rc == 0 ? xlsnap__sprintf("snapshot copy %s is missing",
                                       d->snapshot_file)
                     : xlsnap__strdup(xlsnap_last_error(ctx));
    return *why_r ? 0 : xlsnap__nomem(ctx);
}

/* --- check: what no record names --------------------------------- */

void xlsnap__reflink_orphan_list_free(xlsnap__reflink_orphan *v, int n)
{
    for (int i = 0; v && i < n; i++) free(v[i].path);
    free(v);
}

/* The directory of path (its real path when it exists); NULL: out of
 * memory. */
static char *dir_of(const char *path)
{
    char *real = realpath(path, NULL), *d, *r;

    d = real ? real : xlsnap__strdup(path);
    r = d ? xlsnap__strdup(dirname(d)) : NULL;
    free(d);
    return r;
}

/* Value of extended attribute name of the regular file dir/ent (not
 * followed if a symlink, never a FIFO's open waited on): 1 (*val set),
 * 0 (no such attribute, not a regular file), -1 out of memory. */
static int read_mark(const char *path, const char *name, char *val,
                     size_t n, struct stat *st)
{
    ssize_t got;
    int fd;

    if (lstat(path, st) < 0 || !S_ISREG(st->st_mode)) return 0;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return 0;
    got = fgetxattr(fd, name, val, n - 1);
    close(fd);
    if (got < 0) return 0;
    val[got] = '\0';
    return 1;
}

/* "<base>.xs-revert-<pid>": the pid, or 0 */
static long temp_pid(const char *ent, const char *base)
{
    size_t lb = strlen(base), lt = strlen(XLSNAP__REFLINK_TEMP);
    const char *p;
    long pid = 0;

    if (strncmp(ent, base, lb) || strncmp(ent + lb, XLSNAP__REFLINK_TEMP, lt))
        return 0;
    p = ent + lb + lt;
    if (!isdigit((unsigned char)*p)) return 0;
    for (; isdigit((unsigned char)*p) && pid < 1L << 30; p++)
        pid = pid * 10 + (*p - '0');
    return *p ? 0 : pid;
}

static int add_orphan(xlsnap__reflink_orphan **v, int *n, char *path,
                      bool temp, bool marked)
{
    xlsnap__reflink_orphan *nv = realloc(*v, (*n + 1) * sizeof(**v));

    if (!path || !nv) {
        free(path);
        if (nv) *v = nv;
        return -1;
    }
    *v = nv;
    nv[*n].path = path;
    nv[*n].temp = temp;
    nv[*n].marked = marked;
    (*n)++;
    return 0;
}

static bool same_file(const char *f, const char *path,
                      const struct stat *st)
{
    struct stat fs;

    if (!f) return false;
    if (!strcmp(f, path)) return true;
    return stat(f, &fs) == 0 && fs.st_dev == st->st_dev &&
           fs.st_ino == st->st_ino;
}

/* Whether a record of l names file path (or the file st is) as a
 * snapshot copy, a disk or a disk of its stored config (a copy an admin
 * made a disk of, its mark kept, is a disk). */
static bool named_copy(xlsnap_ctx *ctx, const xlsnap_snapshot *l, int nr,
                       const char *path, const struct stat *st)
{
    for (int k = 0; k < nr; k++) {
        xlsnap__cfgdisk *cd = NULL;
        xlsnap__errsaved saved;
        bool r = false;
        int ncd = 0;
        for (int j = 0; j < l[k].num_disks; j++)
            if (same_file(l[k].disks[j].snapshot_file, path, st) ||
                same_file(l[k].disks[j].image, path, st))
                return true;
        if (!l[k].config_json) continue;
        xlsnap__errsave(ctx, &saved);
        if (xlsnap__config_disks(ctx, l[k].config_json, &cd, &ncd))
            xlsnap__errrestore(ctx, &saved);
        for (int j = 0; !r && j < ncd; j++)
            r = same_file(cd[j].path, path, st);
        xlsnap__cfgdisk_list_free(cd, ncd);
        if (r) return true;
    }
    return false;
}

int xlsnap__reflink_orphans(xlsnap_ctx *ctx, const char *uuid,
                            const xlsnap_snapshot *l, int nr,
                            xlsnap__reflink_orphan **v_r, int *n_r)
{
    xlsnap__strset dirs = { 0 }, bases = { 0 };
    xlsnap__reflink_orphan *v = NULL;
    char *want = xlsnap__sprintf("%s/", uuid ? uuid : "");
    int n = 0, rc = 0;

    *v_r = NULL;
    *n_r = 0;
    if (!want) return xlsnap__nomem(ctx);
    /* the directories of the reflink disks the records name, and the
     * names of their disk files (a revert's temporary copy is
     * "<disk file>.xs-revert-<pid>") */
    for (int k = 0; k < nr; k++)
        for (int j = 0; j < l[k].num_disks; j++) {
            const xlsnap_disk *d = &l[k].disks[j];
            char *a, *b, *real;
            if (!d->driver || strcmp(d->driver, "reflink") || !d->image)
                continue;
            a = dir_of(d->image);
            b = d->snapshot_file ? dir_of(d->snapshot_file) : NULL;
            real = realpath(d->image, NULL);
            xlsnap__set_add(&dirs, a);
            xlsnap__set_add(&dirs, b);
            {
                char *c = xlsnap__strdup(real ? real : d->image);
                if (c) xlsnap__set_add(&bases, basename(c));
                else dirs.nomem = true;
                free(c);
            }
            free(a);
            free(b);
            free(real);
        }
    if (dirs.nomem || bases.nomem) { rc = xlsnap__nomem(ctx); goto out; }
    for (int i = 0; i < dirs.n; i++) {
        DIR *dh = opendir(dirs.v[i]);
        struct dirent *de;
        if (!dh) continue;      /* gone or not ours to read: nothing */
        while ((de = readdir(dh))) {
            char val[512], *path;
            struct stat st;
            long pid = 0;
            int m;
            size_t ln = strlen(de->d_name);
            for (int b = 0; !pid && b < bases.n; b++)
                pid = temp_pid(de->d_name, bases.v[b]);
            if (!pid && (ln < 5 || strcmp(de->d_name + ln - 4, ".img")))
                continue;
            path = xlsnap__sprintf("%s/%s", strcmp(dirs.v[i], "/")
                                   ? dirs.v[i] : "", de->d_name);
            if (!path) { rc = -1; break; }
            if (pid) {
                /* a revert's temporary copy whose process is gone (a
                 * revert runs under the domain's lock, as check does) */
                if (kill((pid_t)pid, 0) == 0 || errno != ESRCH ||
                    lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
                    free(path);
                    continue;
                }
                m = read_mark(path, XLSNAP__REFLINK_TEMP_MARK, val,
                              sizeof(val), &st);
                if (add_orphan(&v, &n, path, true,
                               m > 0 && !strcmp(val, uuid ? uuid : ""))) {
                    rc = -1;
                    break;
                }
                continue;
            }
            /* a copy with this domain's mark "<uuid>/<snap>", named
             * "<stem>.<snap>.img", that no record names */
            m = read_mark(path, XLSNAP__REFLINK_MARK, val, sizeof(val), &st);
            if (m <= 0 || strncmp(val, want, strlen(want)) ||
                ln < strlen(val + strlen(want)) + 6 ||
                strncmp(de->d_name + ln - 4 - strlen(val + strlen(want)),
                        val + strlen(want), strlen(val + strlen(want))) ||
                de->d_name[ln - 5 - strlen(val + strlen(want))] != '.' ||
                named_copy(ctx, l, nr, path, &st)) {
                free(path);
                continue;
            }
            if (add_orphan(&v, &n, path, false, true)) { rc = -1; break; }
        }
        closedir(dh);
        if (rc) { rc = xlsnap__nomem(ctx); goto out; }
    }
    *v_r = v;
    *n_r = n;
    v = NULL;
    n = 0;
 out:
    xlsnap__reflink_orphan_list_free(v, n);
    xlsnap__set_free(&dirs);
    xlsnap__set_free(&bases);
    free(want);
    return rc;
}

int xlsnap__reflink_remove_orphan(xlsnap_ctx *ctx,
                                  const xlsnap__reflink_orphan *o,
                                  const char *uuid)
{
    char val[512], *want = xlsnap__sprintf("%s/", uuid ? uuid : "");
    struct stat st;
    int m, rc;

    if (!want) return xlsnap__nomem(ctx);
    /* its mark read again, just before */
    m = read_mark(o->path, o->temp ? XLSNAP__REFLINK_TEMP_MARK
                                   : XLSNAP__REFLINK_MARK,
                  val, sizeof(val), &st);
    if (m <= 0 || (o->temp ? strcmp(val, uuid ? uuid : "")
                           : strncmp(val, want, strlen(want)))) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_PERM, "%s is not marked as "
                           "this domain's (extended attribute %s); it is "
                           "left alone", o->path, o->temp
                           ? XLSNAP__REFLINK_TEMP_MARK
                           : XLSNAP__REFLINK_MARK);
        goto out;
    }
    if ((rc = xlsnap__unlink(ctx, o->path, true))) goto out;
    xlsnap__fsync_dir_of(o->path);
 out:
    free(want);
    return rc;
}

/* export (bundle/volume.c): the copy d names is there and ours. */
int xlsnap__reflink_snapshot_ok(xlsnap_ctx *ctx, const xlsnap_disk *d,
                                const char *uuid)
{
    int fd, rc = own_copy(ctx, d, uuid, &fd);

    if (rc == 0)
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "the snapshot copy "
                             "%s is gone", d->snapshot_file);
    if (rc < 0) return rc;
    close(fd);
    return 0;
}

const xlsnap__disk_driver xlsnap__disk_reflink = {
    .name = "reflink",
    .plan = reflink_plan,
    .take = reflink_take,
    .cancel = reflink_cancel,
    .revert_check = reflink_revert_check,
    .revert = reflink_revert,
    .remove = reflink_remove,
    .describe = reflink_describe,
    .check = reflink_check,
    .export = xlsnap__volume_export_op,
};

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
