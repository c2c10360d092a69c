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

#include <fcntl.h>
#include <libgen.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define XLSNAP__REFLINK_MARK "user.xlsnap"

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

static int reflink_plan(xlsnap_ctx *ctx, const xlsnap__cfgdisk *cd,
                        const char *uuid, const char *snap, xlsnap_disk *sd)
{
    struct stat st;

    (void)uuid;
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

/* fsync of the directory of path (best effort: the data is synced). */
static void sync_dir_of(const char *path)
{
    char *p = xlsnap__strdup(path);
    int fd = p ? open(dirname(p), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(p);
}

/* FICLONE src into dst: 0, or an error naming what failed. */
static int clone_into(xlsnap_ctx *ctx, int dst, int src, const char *from,
                      const char *to)
{
    if (ioctl(dst, FICLONE, src) == 0) return 0;
    return xlsnap__error_errno(ctx, errno, "cannot make a reflink copy of "
                               "%s as %s", from, to);
}

static int reflink_take(xlsnap_ctx *ctx, const xlsnap_disk *d,
                        const char *uuid, const char *snap)
{
    char *mark = mark_of(uuid, snap);
    int src = -1, dst = -1, rc;

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
    sync_dir_of(d->snapshot_file);
 out:
    if (src >= 0) close(src);
    if (dst >= 0) close(dst);
    free(mark);
    return rc;
}

static int reflink_remove(xlsnap_ctx *ctx, const xlsnap_disk *d,
                          const char *uuid)
{
    int fd, rc = own_copy(ctx, d, uuid, &fd);

    if (rc <= 0) return rc;
    close(fd);
    if ((rc = xlsnap__unlink(ctx, d->snapshot_file, true))) return rc;
    sync_dir_of(d->snapshot_file);
    return 0;
}

static int reflink_cancel(xlsnap_ctx *ctx, const xlsnap_disk *d,
                          const char *uuid)
{
    return reflink_remove(ctx, d, uuid);
}

static int reflink_revert_check(xlsnap_ctx *ctx, const xlsnap_disk *d,
                                const char *uuid)
{
    int fd, rc = own_copy(ctx, d, uuid, &fd);

    if (rc == 0)
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "disk %s: the "
                             "snapshot copy %s is gone", d->vdev,
                             d->snapshot_file);
    if (rc < 0) return rc;
    close(fd);
    return 0;
}

static int reflink_revert(xlsnap_ctx *ctx, const xlsnap_disk *d,
                          const char *uuid)
{
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
    if (!(tmp = xlsnap__sprintf("%s.xs-revert-%ld", real, (long)getpid()))) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    dst = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
               0600);
    if (dst < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot create %s", tmp);
        goto out;
    }
    if (!(rc = clone_into(ctx, dst, src, d->snapshot_file, tmp)) &&
        (fchown(dst, st.st_uid, st.st_gid) < 0 ||
         fchmod(dst, st.st_mode & 07777) < 0 || fsync(dst) < 0))
        rc = xlsnap__error_errno(ctx, errno, "cannot complete %s", tmp);
    if (!rc && rename(tmp, real) < 0)
        rc = xlsnap__error_errno(ctx, errno, "cannot rename %s to %s", tmp,
                                 real);
    if (rc) {
        unlink(tmp);
        goto out;
    }
    sync_dir_of(real);
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

static int reflink_check(xlsnap_ctx *ctx, const xlsnap_disk *d,
                         const char *uuid, char **why_r)
{
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
};

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
