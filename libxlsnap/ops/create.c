/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * create.c - take a snapshot
 *
 * Order of work (crash safety): the record is written as "preparing"
 * before any data is touched and becomes "ready" (and current) only when
 * every part exists.  Any failure resumes the guest and removes what was
 * made; what cannot be undone leaves the record "preparing" with the
 * reason in the error.
 */
#include "internal.h"
#include "backend/disk.h"

#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

void xlsnap_create_params_init(xlsnap_create_params *p)
{
    memset(p, 0, sizeof(*p));
    p->memory = -1;
}

/* The record of the latest snapshot (for its stored config), or NULL. */
static const xlsnap_snapshot *latest(const xlsnap_snapshot *l, int nr)
{
    return nr ? &l[nr - 1] : NULL;      /* list is sorted by time */
}

static const xlsnap_cfg_disk *wanted(const xlsnap_create_params *p,
                                     const char *vdev)
{
    for (int i = 0; i < p->num_disks; i++)
        if (!strcmp(p->disks[i].vdev, vdev)) return &p->disks[i];
    return NULL;
}

/* The frozen layer moves from the image's path to target by rename: a
 * target on another file system is refused before anything is touched
 * (a directory that does not exist is left to the rename to report). */
static int same_file_system(xlsnap_ctx *ctx, const char *vdev,
                            const char *image, const char *target)
{
    struct stat si, st;
    char *dir = xlsnap__strdup(target);
    int rc = 0;

    if (!dir) return xlsnap__error(ctx, XLSNAP_ERROR_NOMEM, "out of memory");
    if (stat(image, &si) == 0 && stat(dirname(dir), &st) == 0 &&
        si.st_dev != st.st_dev)
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                           "disk %s: the snapshot path %s is on another "
                           "file system than the disk image %s; the "
                           "snapshot's data is moved there by rename, so "
                           "give a path on the image's file system (or "
                           "none: it then goes next to the image)",
                           vdev, target, image);
    free(dir);
    return rc;
}

/* Every disk asked for by vdev is one of the domain's. */
static int check_wanted(xlsnap_ctx *ctx, const xlsnap_create_params *p,
                        const xlsnap__cfgdisk *cd, int ncd)
{
    for (int i = 0; i < p->num_disks; i++) {
        bool found = false;
        for (int j = 0; j < ncd; j++)
            found |= !strcmp(cd[j].vdev, p->disks[i].vdev);
        if (!found)
            return xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND,
                                 "the domain has no disk %s",
                                 p->disks[i].vdev);
    }
    return 0;
}

/* How config disk d is snapshotted (*kind_r), 0 there if it is not
 * (not selected, CD-ROM or read-only by default, empty drive); an
 * error for a disk that cannot be. */
static int disk_kind(xlsnap_ctx *ctx, const xlsnap_create_params *p,
                     const xlsnap__cfgdisk *d, xlsnap_disk_kind *kind_r)
{
    const xlsnap_cfg_disk *w = wanted(p, d->vdev);
    xlsnap_disk_kind kind;
    bool raw;

    *kind_r = 0;
    if (p->num_disks && !w) return 0;
    if (d->cdrom || !d->readwrite) {
        if (w)
            return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP,
                                 "disk %s is %s and cannot be "
                                 "snapshotted", d->vdev,
                                 d->cdrom ? "a CD-ROM" : "read-only");
        return 0;
    }
    if (!d->path || !*d->path) return 0;   /* empty drive */
    raw = d->format && !strcmp(d->format, "raw");
    if (!raw && (!d->format || strcmp(d->format, "qcow2")))
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP,
                             "disk %s (%s) has format %s: only qcow2 and "
                             "raw disks can be snapshotted", d->vdev,
                             d->path, d->format ? d->format : "unknown");
    kind = w && w->kind ? w->kind : p->type;
    if (!kind) kind = raw ? XLSNAP_DISK_EXTERNAL : XLSNAP_DISK_INTERNAL;
    if (raw && kind == XLSNAP_DISK_INTERNAL)
        return xlsnap__error_hint(ctx, XLSNAP_ERROR_NOTSUP,
                                  XLSNAP_HINT_EXTERNAL,
                             "disk %s (%s) is raw and cannot hold an "
                             "internal snapshot",
                             d->vdev, d->path);
    if (raw)
        /* the configured path keeps the active layer, a qcow2 overlay:
         * a config saying format=raw would then boot the overlay's
         * bytes as the disk */
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP,
                             "disk %s (%s) is raw: an external snapshot "
                             "puts a qcow2 overlay at the path the xl "
                             "config names as raw; convert the disk "
                             "(qemu-img convert -O qcow2) and set "
                             "format=qcow2 in the config first",
                             d->vdev, d->path);
    *kind_r = kind;
    return 0;
}

/* Whether s may be printed in a message (no control character). */
static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return false;
    return xlsnap__utf8_valid(s);
}

/* The virtual size of the disk's own qcow2 image (its header). */
static int image_size(xlsnap_ctx *ctx, const char *vdev, const char *image,
                      uint64_t *size_r)
{
    xlsnap__qcow2hdr h;
    const char *why = NULL;
    int fd = open(image, O_RDONLY | O_CLOEXEC), rc;

    if (fd < 0)
        return xlsnap__error_errno(ctx, errno, "disk %s: cannot open %s",
                                   vdev, image);
    rc = xlsnap__qcow2_header(ctx, fd, &h, &why);
    close(fd);
    if (!rc && why)
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "disk %s: %s: %s",
                           vdev, image, why);
    *size_r = h.size;
    xlsnap__qcow2hdr_dispose(&h);
    return rc;
}

/* Why the header h of a pre-created overlay (backing file name
 * resolved as QEMU does: abs, NULL if none) does not fit disk d (image,
 * format, virtual size): NULL if it does.  *m: a message built for it
 * (free()). */
static const char *reuse_misfit(const xlsnap__qcow2hdr *h, const char *abs,
                                const xlsnap__cfgdisk *d, uint64_t size,
                                char **m)
{
    if (h->data_file)
        return "it has an external data file (data-file)";
    if (h->crypt_method)
        return "it is encrypted";
    if (h->incompatible & 2)
        return "it is marked corrupt";
    if (h->incompatible & 1)
        return "it is marked dirty (not closed cleanly; qemu-img check -r "
               "all repairs it)";
    if (h->incompatible & ~0x1fULL)
        return "it has qcow2 features this tool does not know";
    if (h->nb_snapshots)
        return "it has internal snapshots";
    if (!abs)
        return "it has no backing file (it must be made on the disk's "
               "image: qemu-img create -f qcow2 -b IMAGE -F FORMAT)";
    if (strcmp(abs, d->path)) {
        *m = printable(h->backing)
           ? xlsnap__sprintf("its backing file is %s, not the disk's "
                             "image %s", h->backing, d->path)
           : NULL;
        return *m ? *m : "its backing file is not the disk's image";
    }
    if (!h->backing_fmt)
        return "its backing format is not recorded (make it with -F)";
    if (strcmp(h->backing_fmt, d->format)) {
        *m = printable(h->backing_fmt)
           ? xlsnap__sprintf("its backing format is %s, not the disk's %s",
                             h->backing_fmt, d->format)
           : NULL;
        return *m ? *m : "its backing format is not the disk's";
    }
    if (h->size != size) {
        *m = xlsnap__sprintf("its virtual size is %llu bytes, the disk's "
                             "%llu", (unsigned long long)h->size,
                             (unsigned long long)size);
        return *m ? *m : "its virtual size is not the disk's";
    }
    return NULL;
}

/* h's backing file name as QEMU resolves it for an image at file (a
 * relative name: in file's directory); *abs_r NULL if it has none. */
static int resolve_backing(xlsnap_ctx *ctx, const char *file,
                           const xlsnap__qcow2hdr *h, char **abs_r)
{
    char *dir;

    *abs_r = NULL;
    if (!h->backing) return 0;
    if (h->backing[0] == '/') {
        *abs_r = xlsnap__strdup(h->backing);
    } else {
        if (!(dir = xlsnap__strdup(file))) return xlsnap__nomem(ctx);
        *abs_r = xlsnap__sprintf("%s/%s", dirname(dir), h->backing);
        free(dir);
    }
    return *abs_r ? 0 : xlsnap__nomem(ctx);
}

/*
 * The pre-created overlay file for disk d (reuse_external), read
 * without following anything: a regular file (no symbolic link), a
 * qcow2 image on the disk's image (as named in the config, absolute or
 * relative to the overlay's directory) of the disk's size, with no
 * data file, encryption, internal snapshot or data of its own, on the
 * image's file system (it is moved to the image's path by rename).
 * *h: its header (dispose it), whose backing reference undo restores.
 */
static int check_reuse(xlsnap_ctx *ctx, const xlsnap__cfgdisk *d,
                       const char *file, xlsnap__qcow2hdr *h)
{
    struct stat st, si;
    const char *why = NULL;
    char *m = NULL, *abs = NULL;
    uint64_t size = 0;
    bool shows = false;
    int fd, rc = 0;

    memset(h, 0, sizeof(*h));
    fd = open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP) why = "it is a symbolic link";
        else if (errno == ENOENT) why = "it does not exist";
        else
            return xlsnap__error_errno(ctx, errno, "disk %s: cannot open "
                                       "the pre-created overlay %s",
                                       d->vdev, file);
        goto refuse;
    }
    if (fstat(fd, &st) < 0 || stat(d->path, &si) < 0) {
        rc = xlsnap__error_errno(ctx, errno, "disk %s: cannot stat %s or "
                                 "%s", d->vdev, file, d->path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        why = "it is not a regular file";
    } else if (si.st_dev == st.st_dev && si.st_ino == st.st_ino) {
        why = "it is the disk's image itself";
    } else if (si.st_dev != st.st_dev) {
        if (!(m = xlsnap__sprintf("it is on another file system than the "
                                  "disk image %s (it is moved to the "
                                  "image's path by rename)", d->path))) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        why = m;
    }
    if (why || (rc = xlsnap__qcow2_header(ctx, fd, h, &why)) || why ||
        (rc = resolve_backing(ctx, file, h, &abs)) ||
        (rc = image_size(ctx, d->vdev, d->path, &size)) ||
        (why = reuse_misfit(h, abs, d, size, &m)))
        goto refuse;
    if ((rc = xlsnap__qcow2_shows_data(ctx, fd, h, &shows))) {
        rc = xlsnap__error_prefix(ctx, rc, "disk %s: the pre-created "
                                  "overlay %s", d->vdev, file);
        goto out;
    }
    if (shows)
        why = "it has data of its own (the guest would not see the "
              "snapshot's disk through it): an overlay to reuse must be "
              "empty";
 refuse:
    if (!rc && why)
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "disk %s: the "
                           "pre-created overlay %s is refused: %s", d->vdev,
                           file, why);
 out:
    if (fd >= 0) close(fd);
    free(abs);
    free(m);
    return rc;
}

/* Add config disk d to s as a disk of that kind. */
static int add_disk(xlsnap_ctx *ctx, const xlsnap_create_params *p,
                    const xlsnap__cfgdisk *d, xlsnap_disk_kind kind,
                    const char *name, xlsnap_snapshot *s)
{
    const xlsnap_cfg_disk *w = wanted(p, d->vdev);
    xlsnap_disk *sd = &s->disks[s->num_disks++];

    sd->vdev = xlsnap__strdup(d->vdev);
    sd->format = xlsnap__strdup(d->format);
    sd->image = xlsnap__strdup(d->path);
    sd->kind = kind;
    if (!sd->vdev || !sd->format || !sd->image) return xlsnap__nomem(ctx);
    if (kind == XLSNAP_DISK_INTERNAL) {
        sd->internal_name = xlsnap__strdup(name);
        return sd->internal_name ? 0 : xlsnap__nomem(ctx);
    }
    /* the active layer stays at the configured path: the image there is
     * renamed to the frozen layer, and a new overlay on it takes the
     * path (so `xl create` of the admin's own config boots what the
     * domain last ran on) */
    sd->overlay = xlsnap__strdup(d->path);
    /* reusing: the target is the caller's overlay, which takes the
     * path; the frozen layer goes to the default path */
    sd->backing = w && w->target && !p->reuse_external
                ? xlsnap__strdup(w->target)
                : xlsnap__image_sibling(d->path, name);
    if (!sd->overlay || !sd->backing) return xlsnap__nomem(ctx);
    if (access(sd->backing, F_OK) == 0)
        return xlsnap__error(ctx, XLSNAP_ERROR_EXISTS,
                             "disk %s: %s already exists", d->vdev,
                             sd->backing);
    if (p->reuse_external) {
        xlsnap__qcow2hdr h;
        int rc;
        if (!w || !w->target)
            return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "disk %s: no "
                                 "pre-created overlay is named for it (an "
                                 "external snapshot reusing overlays needs "
                                 "one per disk: the disk's target)",
                                 d->vdev);
        rc = check_reuse(ctx, d, w->target, &h);
        xlsnap__qcow2hdr_dispose(&h);
        if (!rc && !(sd->reused = xlsnap__strdup(w->target)))
            rc = xlsnap__nomem(ctx);
        return rc;
    }
    if (w && w->target)
        return same_file_system(ctx, d->vdev, d->path, sd->backing);
    return 0;
}

/*
 * Decide which disks to snapshot and how.  Every writable disk by
 * default (CD-ROMs and read-only disks skipped); the driver of each
 * from the disk-driver layer (backend/disk.h): qcow2 internal unless
 * asked otherwise, raw only external; LVM volumes by the lvm driver;
 * anything else is refused, naming the disk.
 */
static int plan_disks(xlsnap_ctx *ctx, const xlsnap_create_params *p,
                      const char *config, bool running, const char *uuid,
                      const char *name, xlsnap_snapshot *s)
{
    xlsnap__cfgdisk *cd = NULL;
    int ncd = 0, rc;

    if ((rc = xlsnap__config_disks(ctx, config, &cd, &ncd)) ||
        (rc = check_wanted(ctx, p, cd, ncd)))
        goto out;
    s->disks = calloc(ncd ? ncd : 1, sizeof(*s->disks));
    if (!s->disks) { rc = xlsnap__nomem(ctx); goto out; }
    for (int i = 0; i < ncd; i++) {
        const xlsnap_cfg_disk *w = wanted(p, cd[i].vdev);
        const xlsnap__disk_driver *drv;
        xlsnap_disk_kind kind;
        if ((p->num_disks && !w) || cd[i].cdrom || !cd[i].readwrite ||
            !cd[i].path || !*cd[i].path) {
            /* skipped, or refused by disk_kind with its reason */
            if ((rc = disk_kind(ctx, p, &cd[i], &kind))) goto out;
            continue;
        }
        if ((rc = xlsnap__disk_select(ctx, &cd[i], running, &drv)))
            goto out;
        if (drv->plan) {
            if (w && w->kind) {
                rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "disk %s (%s) "
                                   "is snapshotted by the %s driver: it "
                                   "has no internal or external snapshots",
                                   cd[i].vdev, cd[i].path, drv->name);
                goto out;
            }
            if (w && w->target) {
                rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "disk %s (%s) "
                                   "is snapshotted by the %s driver: the "
                                   "driver names its snapshot (a volume "
                                   "of the same volume group, a copy next "
                                   "to the file), not a target path",
                                   cd[i].vdev, cd[i].path, drv->name);
                goto out;
            }
            /* (counted first: a half-filled entry is freed with s) */
            if ((rc = drv->plan(ctx, &cd[i], uuid, name,
                                &s->disks[s->num_disks++])))
                goto out;
            continue;
        }
        if ((rc = disk_kind(ctx, p, &cd[i], &kind))) goto out;
        if (kind && running &&
            (rc = xlsnap__qmp_check_config(ctx, config)))
            goto out;
        if (kind && (rc = add_disk(ctx, p, &cd[i], kind, name, s)))
            goto out;
    }
 out:
    xlsnap__cfgdisk_list_free(cd, ncd);
    return rc;
}

/* The QMP transaction snapshotting every disk at once (node names
 * looked up on q). */
static int disk_transaction(xlsnap_ctx *ctx, xlsnap__qmp *q,
                            const xlsnap_snapshot *sn, char **cmd_r)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    char *cmd = NULL, *node = NULL, *nn = NULL;
    int s, rc;

    if (!g) return xlsnap__nomem(ctx);
    CHK(yajl_gen_map_open(g));
    CHK(xlsnap__gen_kv_str(g, "execute", "transaction"));
    CHK(xlsnap__gen_str(g, "arguments"));
    CHK(yajl_gen_map_open(g));
    CHK(xlsnap__gen_str(g, "actions"));
    CHK(yajl_gen_array_open(g));
    for (int i = 0; i < sn->num_disks; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        if (d->kind == XLSNAP_DISK_VOLUME) continue;
        free(node);
        node = NULL;
        if ((rc = xlsnap__qmp_node_for_file(ctx, q, d->image, &node)))
            goto out;
        CHK(yajl_gen_map_open(g));
        if (d->kind == XLSNAP_DISK_INTERNAL) {
            CHK(xlsnap__gen_kv_str(g, "type",
                                   "blockdev-snapshot-internal-sync"));
            CHK(xlsnap__gen_str(g, "data"));
            CHK(yajl_gen_map_open(g));
            CHK(xlsnap__gen_kv_str(g, "device", node));
            CHK(xlsnap__gen_kv_str(g, "name", d->internal_name));
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            free(nn);
            nn = xlsnap__sprintf("xs-%s-%lld%06ld", d->vdev,
                                 (long long)ts.tv_sec % 100000000,
                                 ts.tv_nsec / 1000);
            if (!nn) { rc = xlsnap__nomem(ctx); goto out; }
            CHK(xlsnap__gen_kv_str(g, "type", "blockdev-snapshot-sync"));
            CHK(xlsnap__gen_str(g, "data"));
            CHK(yajl_gen_map_open(g));
            CHK(xlsnap__gen_kv_str(g, "node-name", node));
            CHK(xlsnap__gen_kv_str(g, "snapshot-file", d->overlay));
            CHK(xlsnap__gen_kv_str(g, "snapshot-node-name", nn));
            CHK(xlsnap__gen_kv_str(g, "format", "qcow2"));
            /* the overlay exists (freeze_layers): QEMU opens it and
             * puts it over the node, keeping its backing file name */
            CHK(xlsnap__gen_kv_str(g, "mode", "existing"));
        }
        CHK(yajl_gen_map_close(g));
        CHK(yajl_gen_map_close(g));
    }
    CHK(yajl_gen_array_close(g));
    CHK(yajl_gen_map_close(g));
    CHK(yajl_gen_map_close(g));
    if ((rc = xlsnap__gen_finish(ctx, g, &cmd))) goto out;
    *cmd_r = cmd;
    cmd = NULL;
    goto out;
 gen_failed:
    rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "cannot build QMP command");
 out:
    free(node);
    free(nn);
    free(cmd);
    yajl_gen_free(g);
    return rc;
}

/* Whether sn has disks QEMU snapshots (qcow2, not volumes). */
static bool has_qemu_disks(const xlsnap_snapshot *sn)
{
    for (int i = 0; i < sn->num_disks; i++)
        if (sn->disks[i].kind != XLSNAP_DISK_VOLUME) return true;
    return false;
}

/* Volumes i < n taken by their drivers are removed again. */
static void cancel_volumes(const xlsnap__disk_op *dop, int n)
{
    const xlsnap_snapshot *sn = dop->sn;
    xlsnap__errsaved saved;

    xlsnap__errsave(dop->ctx, &saved);
    for (int i = 0; i < n; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        const xlsnap__disk_driver *drv = xlsnap__disk_driver_of(d);
        if (d->kind == XLSNAP_DISK_VOLUME && drv && drv->cancel)
            drv->cancel(dop, d);
    }
    xlsnap__errrestore(dop->ctx, &saved);
}

/* Every volume through its driver (the guest is paused, suspended or
 * off); on failure the ones taken are removed again. */
static int take_volumes(const xlsnap__disk_op *dop, const char *size)
{
    xlsnap_ctx *ctx = dop->ctx;
    const xlsnap_snapshot *sn = dop->sn;

    for (int i = 0; i < sn->num_disks; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        const xlsnap__disk_driver *drv = xlsnap__disk_driver_of(d);
        int rc;
        if (d->kind != XLSNAP_DISK_VOLUME) continue;
        rc = drv && drv->take
           ? drv->take(dop, d, sn->name, size)
           : xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "no driver");
        if (rc) {
            cancel_volumes(dop, i);
            return xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev);
        }
    }
    return 0;
}

/* Open QEMU's monitor of the domain and build the transaction. */
static int open_transaction(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                            const xlsnap_snapshot *sn, xlsnap__qmp *q,
                            char **cmd_r)
{
    int rc = xlsnap__qmp_open(ctx, dom->domid, dom->uuid, q);

    if (!rc) rc = disk_transaction(ctx, q, sn, cmd_r);
    if (rc) xlsnap__qmp_close(q);
    return rc;
}

/* rename without replacing an existing file */
static int rename_noreplace(xlsnap_ctx *ctx, const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno == EINVAL || errno == ENOSYS) {
        if (access(to, F_OK) == 0)
            return xlsnap__error(ctx, XLSNAP_ERROR_EXISTS, "cannot rename "
                                 "%s to %s: it exists", from, to);
        if (rename(from, to) == 0) return 0;
    }
    return xlsnap__error_errno(ctx, errno, "cannot rename %s to %s", from,
                               to);
}

int xlsnap__rename_image(xlsnap_ctx *ctx, const char *from, const char *to)
{
    char *d = xlsnap__strdup(to);
    int fd, rc;

    if (!d) return xlsnap__nomem(ctx);
    if ((rc = rename_noreplace(ctx, from, to))) { free(d); return rc; }
    fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) { fsync(fd); close(fd); }
    free(d);
    return 0;
}

/*
 * A pre-created overlay an external disk reuses: the caller's file,
 * its backing reference as found (undo writes it back) and how far
 * freeze_layers got with it.
 */
typedef struct {
    const char *file;           /* NULL: not reused */
    xlsnap__qcow2hdr h;
    enum { REUSE_NONE, REUSE_RENAMED, REUSE_REBASED, REUSE_MOVED } done;
} reuse_layer;

/* Put external disks i < n back: the new overlay goes (a reused one
 * back to the caller's path with its own backing reference), the frozen
 * layer gets its path again. */
static void thaw_layers(xlsnap_ctx *ctx, const xlsnap_snapshot *sn, int n,
                        reuse_layer *rl)
{
    xlsnap__errsaved saved;

    xlsnap__errsave(ctx, &saved);
    for (int i = 0; i < n; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        reuse_layer *r = rl ? &rl[i] : NULL;
        if (r && r->file) {
            /* never removed: the caller's file goes back as it was */
            if (r->done >= REUSE_MOVED &&
                rename_noreplace(ctx, d->overlay, r->file))
                continue;
            if (r->done >= REUSE_REBASED &&
                xlsnap__qimg_rebase(ctx, r->file, "qcow2", r->h.backing,
                                    r->h.backing_fmt, XLSNAP__QIMG_UNSAFE))
                continue;
            if (r->done >= REUSE_RENAMED)
                rename_noreplace(ctx, d->backing, d->overlay);
            r->done = REUSE_NONE;
            continue;
        }
        if (d->kind != XLSNAP_DISK_EXTERNAL || access(d->backing, F_OK))
            continue;
        unlink(d->overlay);
        rename_noreplace(ctx, d->backing, d->overlay);
    }
    xlsnap__errrestore(ctx, &saved);
}

/* A reused overlay, checked again (it is the caller's and may have
 * changed since the plan), into disk d's place: the image is renamed
 * to the frozen layer, the overlay's backing reference is pointed at
 * it (header only) and the overlay takes the image's path. */
static int freeze_reused(xlsnap_ctx *ctx, xlsnap__qmp *q,
                         const xlsnap_disk *d, reuse_layer *r)
{
    xlsnap__cfgdisk cd = { 0 };
    uint64_t size = 0;
    int rc;

    cd.vdev = d->vdev;
    cd.path = d->image;
    cd.format = d->format;
    xlsnap__qcow2hdr_dispose(&r->h);
    if ((rc = check_reuse(ctx, &cd, r->file, &r->h))) return rc;
    if (q && (rc = xlsnap__qmp_virtual_size(ctx, q, d->image, &size)))
        return rc;
    if (q && size != r->h.size)
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "disk %s: the "
                             "pre-created overlay %s is refused: its "
                             "virtual size is %llu bytes, the disk's %llu",
                             d->vdev, r->file,
                             (unsigned long long)r->h.size,
                             (unsigned long long)size);
    if ((rc = xlsnap__rename_image(ctx, d->image, d->backing))) goto out;
    r->done = REUSE_RENAMED;
    xlsnap__fault_point("create-layer-renamed");
    if ((rc = xlsnap__qimg_rebase(ctx, r->file, "qcow2", d->backing,
                                  d->format, XLSNAP__QIMG_UNSAFE)))
        goto out;
    r->done = REUSE_REBASED;
    xlsnap__fault_point("create-reuse-rebased");
    if ((rc = xlsnap__rename_image(ctx, r->file, d->overlay))) goto out;
    r->done = REUSE_MOVED;
 out:
    return rc ? xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev) : 0;
}

/*
 * External disks: the image at the configured path is renamed to the
 * frozen layer (d->backing) and a new overlay on it is made at the path
 * (d->overlay == d->image), or a reused one (rl[i].file) moved there.
 * q: the running domain's monitor, which gives the size (QEMU keeps the
 * renamed image open: its fd follows the file), NULL offline.  On
 * failure what was done is undone.
 */
static int freeze_layers(xlsnap_ctx *ctx, xlsnap__qmp *q,
                         const xlsnap_snapshot *sn, reuse_layer *rl)
{
    int i, bad = 0, rc = 0;

    for (i = 0; i < sn->num_disks; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        uint64_t size = 0;
        if (d->kind != XLSNAP_DISK_EXTERNAL) continue;
        bad = i;
        if (rl && rl[i].file) {
            if ((rc = freeze_reused(ctx, q, d, &rl[i]))) { i++; break; }
            xlsnap__fault_point("create-layer-frozen");
            continue;
        }
        if (q && (rc = xlsnap__qmp_virtual_size(ctx, q, d->image, &size)))
            break;
        if ((rc = xlsnap__rename_image(ctx, d->image, d->backing))) break;
        xlsnap__fault_point("create-layer-renamed");
        rc = q ? xlsnap__qimg_create_overlay_sized(ctx, d->overlay,
                                                   d->backing, d->format,
                                                   size)
               : xlsnap__qimg_create_overlay(ctx, d->overlay, d->backing,
                                             d->format);
        if (rc) { i++; break; }
        xlsnap__fault_point("create-layer-frozen");
    }
    if (rc) {
        if (!(rl && rl[bad].file))
            rc = xlsnap__error_prefix(ctx, rc, "disk %s",
                                      sn->disks[bad].vdev);
        thaw_layers(ctx, sn, i, rl);
    }
    return rc;
}

/* Offline: qemu-img on each disk; undo the ones done on failure. */
static int offline_disks(xlsnap_ctx *ctx, const xlsnap_snapshot *sn)
{
    int i, rc = 0;

    for (i = 0; i < sn->num_disks; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        if (d->kind != XLSNAP_DISK_INTERNAL) continue;
        rc = xlsnap__qimg_snapshot(ctx, 'c', d->internal_name, d->image,
                                   d->format);
        if (rc) {
            rc = xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev);
            break;
        }
    }
    if (rc) {
        xlsnap__errsaved saved;
        xlsnap__errsave(ctx, &saved);
        while (--i >= 0)
            if (sn->disks[i].kind == XLSNAP_DISK_INTERNAL)
                xlsnap__qimg_snapshot(ctx, 'd', sn->disks[i].internal_name,
                                      sn->disks[i].image, sn->disks[i].format);
        xlsnap__errrestore(ctx, &saved);
    }
    return rc;
}

/* A failed memory save on a full filesystem: say what ran out. */
static int explain_space(xlsnap_ctx *ctx, int rc, int fd, const char *path)
{
    struct statvfs vfs;
    struct stat st;

    if (fstatvfs(fd, &vfs) == 0 && fstat(fd, &st) == 0 &&
        (unsigned long long)vfs.f_bavail * vfs.f_frsize < (4ull << 20))
        return xlsnap__error(ctx, XLSNAP_ERROR_NOSPACE,
                             "no space left for the memory image %s (%lld "
                             "bytes written before the filesystem filled "
                             "up); the guest was resumed", path,
                             (long long)st.st_size);
    return rc;
}

/*
 * The memory image into memfd: libxl's stream as it comes, or (zstd)
 * through a pipe to a thread compressing it into memfd.  On success the
 * guest is suspended; on failure hv_save resumed it.
 */
static int save_memory(xlsnap_ctx *ctx, int64_t domid, int memfd,
                       const xlsnap_create_params *p, xlsnap_snapshot *sn)
{
    xlsnap__zpipe z;
    int fd = memfd, rc, zrc;

    if (p->compress &&
        (rc = xlsnap__zpipe_start(ctx, memfd, true, &z, &fd)))
        return rc;
    rc = xlsnap__hv_save(ctx, domid, fd, sn->config_json, p->live,
                         &sn->memory_live);
    if (p->compress) {
        close(fd);
        zrc = xlsnap__zpipe_finish(ctx, &z, !rc);
        if (!rc && zrc) {
            /* the guest is suspended and the image is incomplete */
            xlsnap__errsaved saved;
            xlsnap__errsave(ctx, &saved);
            xlsnap__hv_resume(ctx, domid);
            xlsnap__errrestore(ctx, &saved);
            rc = zrc;
        }
    }
    if (!rc && fsync(memfd) < 0)
        rc = xlsnap__error_errno(ctx, errno, "cannot write memory image "
                                 "%s", sn->memory);
    return rc;
}

/* Remove what create made in the state dir and the record. */
static void discard(xlsnap_ctx *ctx, const xlsnap_snapshot *sn)
{
    if (sn->memory) unlink(sn->memory);
    xlsnap__store_remove(ctx, sn->domain_uuid, sn->name);
}

/*
 * One create: the plan fills it (against the domain's records, loaded
 * under its lock through the store handle), the act phase marks in it
 * what it did, and xlsnap_create's one exit undoes exactly that.
 */
typedef struct {
    const xlsnap_domain *dom;
    const xlsnap_create_params *p;
    xlsnap__store_handle h;     /* lock (none on a dry run) and records */
    xlsnap_snapshot sn;         /* the record being made */
    xlsnap__domstate st;
    bool running;               /* running or paused: QEMU serves disks */
    char *tcmd;                 /* the disk transaction, once built */
    reuse_layer *reuse;         /* per disk of sn (reuse_external) */
    int nreuse;                 /* entries of reuse (sn moves out on
                                   success: its num_disks is gone then) */
    /* done by the act phase, undone on failure: */
    bool recorded;              /* a "preparing" record and no data yet */
    bool suspended;             /* the guest, by the memory save */
    xlsnap__qga qga;            /* quiesce: the guest agent (qga.frozen:
                                   a thaw is due) */
    bool paused;                /* the guest, by us */
    xlsnap__qmp q;              /* disk-only: the monitor, opened before
                                   the pause, closed before the unpause */
} create_op;

static void create_op_init(create_op *op, const xlsnap_domain *dom,
                           const xlsnap_create_params *p)
{
    memset(op, 0, sizeof(*op));
    op->dom = dom;
    op->p = p;
    op->h = (xlsnap__store_handle)XLSNAP__STORE_HANDLE_INIT;
    xlsnap_snapshot_init(&op->sn);
    op->st = XLSNAP__DOM_GONE;
    xlsnap__qga_init(&op->qga);
    xlsnap__qmp_init(&op->q);
}

static void create_op_dispose(create_op *op)
{
    free(op->tcmd);
    op->tcmd = NULL;
    for (int i = 0; op->reuse && i < op->nreuse; i++)
        xlsnap__qcow2hdr_dispose(&op->reuse[i].h);
    free(op->reuse);
    op->reuse = NULL;
    xlsnap__store_close(&op->h);
    xlsnap_snapshot_dispose(&op->sn);
    xlsnap__qga_close(&op->qga);
    xlsnap__qmp_close(&op->q);
}

/* quiesce asked with memory: refused (plan_name, plan_quiesce) */
static int refuse_quiesce(xlsnap_ctx *ctx)
{
    return xlsnap__error_hint(ctx, XLSNAP_ERROR_INVAL,
                              XLSNAP_HINT_QUIESCE_NEEDS_DISK_ONLY,
                              "quiescing applies to a disk-only snapshot: "
                              "a snapshot with memory is consistent by "
                              "itself");
}

/* Plan 1: the name, and what the parameters alone must satisfy. */
static int plan_name(xlsnap_ctx *ctx, create_op *op)
{
    const xlsnap_create_params *p = op->p;
    int rc;

    op->sn.name = p->name ? xlsnap__strdup(p->name)
                          : xlsnap__sprintf("%lld", (long long)time(NULL));
    if (!op->sn.name) return xlsnap__nomem(ctx);
    if ((rc = xlsnap_name_validate(ctx, op->sn.name))) return rc;
    if (p->description && !xlsnap__utf8_valid(p->description))
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                             "the description is not valid UTF-8");
    if (p->quiesce && p->memory == 1) return refuse_quiesce(ctx);
    if (p->compress && strcmp(p->compress, XLSNAP__ZSTD))
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "unknown compression "
                             "'%s' (only zstd)", p->compress);
    return 0;
}

/* Plan 2: the domain's records, under its lock (a dry run takes none
 * and makes no directory): the name is free; the current snapshot is
 * the parent. */
static int plan_tree(xlsnap_ctx *ctx, create_op *op)
{
    const xlsnap_snapshot *l;
    int rc;

    rc = op->p->dry_run
        ? xlsnap__store_list(ctx, op->dom->uuid, &op->h.list, &op->h.nr)
        : xlsnap__store_open(ctx, op->dom->uuid, XLSNAP__STORE_CREATE,
                             &op->h);
    if (rc) return rc;
    l = op->h.list;
    if (xlsnap__list_find(l, op->h.nr, op->sn.name) >= 0)
        return xlsnap__error(ctx, XLSNAP_ERROR_EXISTS,
                             "domain already has a snapshot '%s'",
                             op->sn.name);
    /* a renamed snapshot keeps its internal snapshots' names (edit.c) */
    if ((rc = xlsnap__name_free(ctx, l, op->h.nr, op->sn.name))) return rc;
    for (int i = 0; i < op->h.nr; i++) {
        if (!l[i].current) continue;
        free(op->sn.parent);
        if (!(op->sn.parent = xlsnap__strdup(l[i].name)))
            return xlsnap__nomem(ctx);
    }
    return 0;
}

/* Plan 3: whether the domain runs, and its config: the running
 * domain's, the caller's, or the one stored with the latest snapshot. */
static int plan_domain(xlsnap_ctx *ctx, create_op *op)
{
    const xlsnap_domain *dom = op->dom;
    const xlsnap_snapshot *l;
    const char *cfg;
    int rc;

    if (dom->domid >= 0) {
        if ((rc = xlsnap__hv_state(ctx, dom->domid, &op->st))) return rc;
        op->running = op->st == XLSNAP__DOM_RUNNING ||
                      op->st == XLSNAP__DOM_PAUSED;
        if (!op->running && op->st != XLSNAP__DOM_GONE)
            return xlsnap__error(ctx, XLSNAP_ERROR_BUSY,
                                 "domain %s is shutting down or suspended; "
                                 "try again when it runs or is destroyed",
                                 dom->name ? dom->name : dom->uuid);
    }
    if (op->running)
        return xlsnap__hv_config(ctx, dom->domid, &op->sn.config_json);
    cfg = op->p->config_json;
    if (!cfg) {
        l = latest(op->h.list, op->h.nr);
        if (!l || !l->config_json)
            return xlsnap__error_hint(ctx, XLSNAP_ERROR_NOTFOUND,
                                      XLSNAP_HINT_DOMAIN_CONFIG,
                                 "domain is not running and no "
                                 "configuration is stored for it");
        cfg = l->config_json;
    }
    op->sn.config_json = xlsnap__strdup(cfg);
    return op->sn.config_json ? 0 : xlsnap__nomem(ctx);
}

/* Plan 4: the record's own fields, "preparing". */
static int plan_record(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap_snapshot *sn = &op->sn;
    const xlsnap_domain *dom = op->dom;

    sn->description = xlsnap__strdup(op->p->description);
    sn->creationtime = time(NULL);
    sn->state = XLSNAP_STATE_PREPARING;
    sn->domstate = xlsnap__strdup(!op->running ? "shutoff" :
                                  op->st == XLSNAP__DOM_PAUSED ? "paused"
                                                               : "running");
    sn->domain_name = xlsnap__strdup(dom->name);
    sn->domain_uuid = xlsnap__strdup(dom->uuid);
    if ((op->p->description && !sn->description) || !sn->domstate ||
        (dom->name && !sn->domain_name) || (dom->uuid && !sn->domain_uuid))
        return xlsnap__nomem(ctx);
    return 0;
}

/* Plan 5: the memory image, if any: saved by default when running. */
static int plan_memory(xlsnap_ctx *ctx, create_op *op)
{
    const xlsnap_create_params *p = op->p;
    xlsnap_snapshot *sn = &op->sn;
    int rc;

    if (p->memory == 1 || (p->memory < 0 && op->running)) {
        if (!op->running)
            return xlsnap__error_hint(ctx, XLSNAP_ERROR_NOTSUP,
                                      XLSNAP_HINT_NO_MEMORY,
                                 "the domain is not running: there is no "
                                 "memory to save");
        if (p->memory_path) {
            if (!(sn->memory = xlsnap__strdup(p->memory_path)))
                return xlsnap__nomem(ctx);
        } else if ((rc = xlsnap__store_memory_path(ctx, op->dom->uuid,
                                                   sn->name,
                                                   p->compress != NULL,
                                                   &sn->memory))) {
            return rc;
        }
        sn->memory_compression = xlsnap__strdup(p->compress);
        if (p->compress && !sn->memory_compression)
            return xlsnap__nomem(ctx);
    }
    if (p->compress && !sn->memory)
        return xlsnap__error_hint(ctx, XLSNAP_ERROR_INVAL,
                                  XLSNAP_HINT_COMPRESS_NEEDS_MEMORY,
                                  "compression applies to the memory "
                                  "image, and this snapshot has none");
    return 0;
}

/* Plan 6: quiesce.  Only for a disk-only snapshot (as libvirt: a
 * memory image is consistent by itself); a domain that is not running
 * has no file system in use: nothing to freeze, no field.  A running
 * one plans "filesystem", made "crash" if the freeze cannot be done. */
static int plan_quiesce(xlsnap_ctx *ctx, create_op *op)
{
    if (!op->p->quiesce) return 0;
    if (op->sn.memory) return refuse_quiesce(ctx);
    if (!op->running || !op->sn.num_disks) return 0;
    op->sn.consistency = xlsnap__strdup("filesystem");
    return op->sn.consistency ? 0 : xlsnap__nomem(ctx);
}

/* The plan: every check made and every path chosen before anything is
 * touched. */
static int create_plan(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap_snapshot *sn = &op->sn;
    int rc;

    if (op->p->snapshot_size &&
        (rc = xlsnap_snapshot_size_check(ctx, op->p->snapshot_size)))
        return rc;
    if ((rc = plan_name(ctx, op)) || (rc = plan_tree(ctx, op)) ||
        (rc = plan_domain(ctx, op)) || (rc = plan_record(ctx, op)) ||
        (rc = plan_memory(ctx, op)) ||
        (rc = plan_disks(ctx, op->p, sn->config_json, op->running,
                         op->dom->uuid, sn->name, sn)) ||
        (rc = plan_quiesce(ctx, op)))
        return rc;
    if (!sn->num_disks && !sn->memory)
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                             "nothing to snapshot: no writable disk "
                             "selected and no memory");
    if (op->p->reuse_external) {
        bool ext = false;
        for (int i = 0; i < sn->num_disks; i++)
            ext |= sn->disks[i].kind == XLSNAP_DISK_EXTERNAL;
        if (!ext)
            return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "no external "
                                 "disk snapshot to reuse an overlay for");
    }
    if (op->p->no_metadata && sn->memory)
        return xlsnap__error_hint(ctx, XLSNAP_ERROR_INVAL,
                                  XLSNAP_HINT_NO_METADATA_NEEDS_DISK_ONLY,
                                  "a snapshot without a record keeps no "
                                  "memory image: one without a record "
                                  "cannot be reverted");
    return 0;
}

/* With reuse_external, which pre-created overlay each external disk
 * takes (its target, checked by the plan). */
static int reuse_plan(xlsnap_ctx *ctx, create_op *op)
{
    if (!op->p->reuse_external || op->reuse) return 0;
    op->reuse = calloc(op->sn.num_disks ? op->sn.num_disks : 1,
                       sizeof(*op->reuse));
    if (!op->reuse) return xlsnap__nomem(ctx);
    op->nreuse = op->sn.num_disks;
    for (int i = 0; i < op->sn.num_disks; i++) {
        const xlsnap_cfg_disk *w = wanted(op->p, op->sn.disks[i].vdev);
        if (op->sn.disks[i].kind == XLSNAP_DISK_EXTERNAL && w)
            op->reuse[i].file = w->target;
    }
    return 0;
}

/* Act 1: intent, a "preparing" record before any data is touched.
 * The disk transaction (node names asked of QEMU) is built while the
 * guest still runs, before the pause or the memory save.  The monitor
 * is closed meanwhile: libxl's save (HVM) and unpause need it, under
 * the same lock. */
static int act_record(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap__qmp q;
    int rc;

    if ((rc = xlsnap__store_write(ctx, &op->sn))) return rc;
    op->recorded = true;
    xlsnap__fault_point("create-prepared");
    if (has_qemu_disks(&op->sn) && op->running) {
        xlsnap__qmp_init(&q);
        if ((rc = open_transaction(ctx, op->dom, &op->sn, &q, &op->tcmd)))
            return rc;
        xlsnap__qmp_close(&q);
    }
    return 0;
}

/* Act 1b: quiesce, while the guest still runs (before the pause): its
 * agent freezes its file systems.  An agent that cannot be reached or
 * does not freeze costs the snapshot nothing: it goes on
 * crash-consistent, with a warning and the record saying so. */
static int act_freeze(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap__errsaved saved;
    char *path = NULL;
    int nfs = 0, rc;

    if (!op->sn.consistency) return 0;
    xlsnap__errsave(ctx, &saved);
    if (op->st == XLSNAP__DOM_PAUSED)
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "the domain is paused, "
                           "so its guest agent cannot answer");
    else if (!(rc = xlsnap__qga_channel(ctx, op->dom->domid, &path)) &&
             !(rc = xlsnap__qga_open(ctx, path, &op->qga)))
        rc = xlsnap__qga_freeze(ctx, &op->qga, &nfs);
    free(path);
    if (rc) {
        xlsnap__warn(ctx, "snapshot '%s' is only crash-consistent: the "
                     "guest's file systems were not frozen: %s",
                     op->sn.name, xlsnap_last_error(ctx));
        xlsnap__qga_thaw(ctx, &op->qga);  /* a late freeze must not stay */
        xlsnap__qga_close(&op->qga);
        free(op->sn.consistency);
        op->sn.consistency = xlsnap__strdup("crash");
    }
    xlsnap__errrestore(ctx, &saved);
    xlsnap__fault_point("create-frozen");
    return op->sn.consistency ? 0 : xlsnap__nomem(ctx);
}

/* Act 6: thaw what act_freeze froze, once the guest runs again (also
 * on the way out of a failure, create_undo).  A thaw that fails leaves
 * the snapshot as taken, with a warning: the guest's file systems may
 * still be frozen. */
static void act_thaw(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap__errsaved saved;

    if (!op->qga.frozen) return;
    xlsnap__errsave(ctx, &saved);
    if (xlsnap__qga_thaw(ctx, &op->qga))
        xlsnap__warn(ctx, "the guest's file systems may still be frozen: "
                     "%s; thaw them in the guest (fsfreeze -u MOUNTPOINT)",
                     xlsnap_last_error(ctx));
    xlsnap__qga_close(&op->qga);
    xlsnap__errrestore(ctx, &saved);
}

/* Act 2: the memory image (the guest is suspended when it is saved) or
 * a pause. */
static int act_stop(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap_snapshot *sn = &op->sn;
    int memfd, rc;

    if (sn->memory) {
        memfd = open(sn->memory, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                     O_CLOEXEC, 0600);
        if (memfd < 0)
            return xlsnap__error_errno(ctx, errno, "cannot create memory "
                                       "image %s", sn->memory);
        rc = save_memory(ctx, op->dom->domid, memfd, op->p, sn);
        if (rc) rc = explain_space(ctx, rc, memfd, sn->memory);
        close(memfd);
        if (rc) return rc;           /* hv_save resumed the guest */
        op->suspended = true;
    } else if (op->running && op->st == XLSNAP__DOM_RUNNING) {
        /* the monitor connected before the pause: libxl's pause is a
         * hypercall alone (its unpause may need QEMU: act_disks closes
         * it first) */
        if (op->tcmd &&
            (rc = xlsnap__qmp_open(ctx, op->dom->domid, op->dom->uuid,
                                   &op->q)))
            return rc;
        if ((rc = xlsnap__hv_pause(ctx, op->dom->domid, true))) return rc;
        op->paused = true;
    }
    xlsnap__fault_point("create-memory");
    return 0;
}

/* Act 3: every disk at the same instant (volumes through their
 * driver, then a QMP transaction, or qemu-img offline); on failure no
 * disk was changed. */
static int act_disks(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap_snapshot *sn = &op->sn;
    xlsnap__disk_op dop = XLSNAP__DISK_OP(ctx, sn->domain_uuid);
    xlsnap__qmp q;
    int rc;

    dop.dom = op->dom;
    dop.sn = sn;
    dop.running = op->running;
    if (!sn->num_disks) return 0;
    if ((rc = reuse_plan(ctx, op))) return rc;
    if ((rc = take_volumes(&dop, op->p->snapshot_size))) return rc;
    if (!has_qemu_disks(sn)) return 0;
    if (!op->running) {
        if ((rc = freeze_layers(ctx, NULL, sn, op->reuse))) {
            cancel_volumes(&dop, sn->num_disks);
            return rc;
        }
        if ((rc = offline_disks(ctx, sn))) {
            thaw_layers(ctx, sn, sn->num_disks, op->reuse);
            cancel_volumes(&dop, sn->num_disks);
        }
        return rc;
    }
    q = op->q;                  /* connected before the pause, if it was */
    xlsnap__qmp_init(&op->q);
    rc = q.fd >= 0 ? 0
       : op->tcmd ? xlsnap__qmp_open(ctx, op->dom->domid, op->dom->uuid, &q)
                  : open_transaction(ctx, op->dom, sn, &q, &op->tcmd);
    if (rc) {
        cancel_volumes(&dop, sn->num_disks);
        return rc;
    }
    rc = freeze_layers(ctx, &q, sn, op->reuse);
    if (!rc) {
        rc = xlsnap__qmp_exec(ctx, &q, op->tcmd, NULL);
        if (rc) thaw_layers(ctx, sn, sn->num_disks, op->reuse);
    }
    xlsnap__qmp_close(&q);
    if (rc) cancel_volumes(&dop, sn->num_disks);
    if (rc)
        rc = xlsnap__error_prefix(ctx, rc, "disk snapshot transaction "
                                  "failed (no disk was changed)");
    return rc;
}

/* Act 4: the running domain now writes to the overlays: its own config
 * (libxl's stored config and xenstore) must say so. */
static int act_live_disks(xlsnap_ctx *ctx, create_op *op)
{
    int rc;

    for (int i = 0; i < op->sn.num_disks; i++) {
        const xlsnap_disk *d = &op->sn.disks[i];
        if (d->kind != XLSNAP_DISK_EXTERNAL || !op->running) continue;
        rc = xlsnap__hv_set_live_disk(ctx, op->dom->domid, d->vdev,
                                      d->overlay, "qcow2");
        if (rc)
            return xlsnap__error_prefix(ctx, rc, "snapshot taken, but the "
                                        "domain config still names %s "
                                        "(record left 'preparing')",
                                        d->image);
    }
    xlsnap__fault_point("create-live-disks");
    return 0;
}

/* Act 5: let the guest run again.  xl's monitor of the domain leaves
 * when the domain suspends (as after `xl save -c`); ours takes over, so
 * a later reboot or crash is still handled.  A paused domain stays
 * paused (as `xl save -c -p` does it). */
static int act_resume(xlsnap_ctx *ctx, create_op *op)
{
    int64_t domid = op->dom->domid;
    int rc;

    if (op->suspended && op->st == XLSNAP__DOM_PAUSED &&
        (rc = xlsnap__hv_pause(ctx, domid, true)))
        return rc;
    if (op->suspended) {
        op->suspended = false;
        if ((rc = xlsnap__hv_resume(ctx, domid))) return rc;
        /* (a monitor that cannot start costs no data: not an error) */
        xlsnap__hv_monitor(ctx, domid, op->dom->name, op->sn.config_json);
    }
    if (op->paused) {
        op->paused = false;
        if ((rc = xlsnap__hv_pause(ctx, domid, false))) return rc;
    }
    xlsnap__fault_point("create-resumed");
    return 0;
}

/* The act: the data, through the backends.  Once the disks are taken a
 * failure keeps the "preparing" record (and the memory image) for
 * check --repair instead of leaving unrecorded disk snapshots behind. */
static int create_act(xlsnap_ctx *ctx, create_op *op)
{
    int rc;

    if ((rc = act_record(ctx, op)) || (rc = act_freeze(ctx, op)) ||
        (rc = act_stop(ctx, op)) || (rc = act_disks(ctx, op)))
        return rc;
    op->recorded = false;
    xlsnap__fault_point("create-disks");
    if ((rc = act_live_disks(ctx, op)) || (rc = act_resume(ctx, op)))
        return rc;
    act_thaw(ctx, op);
    return 0;
}

/* The commit, through the handle: ready and current (old current
 * cleared first); with no_metadata, the record goes instead (the data
 * stays). */
static int create_commit(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap_snapshot *sn = &op->sn;
    int rc = 0;

    if (op->p->no_metadata) {
        discard(ctx, sn);
        sn->state = XLSNAP_STATE_READY;
        return 0;
    }
    /* records naming an image now frozen under a new name follow it */
    for (int i = 0; i < sn->num_disks && !rc; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        if (d->kind != XLSNAP_DISK_EXTERNAL) continue;
        rc = xlsnap__relocate_image(ctx, op->h.list, op->h.nr, -1, d->image,
                                    d->backing);
    }
    if (rc || (rc = xlsnap__set_current(ctx, op->h.list, op->h.nr, -1,
                                        xlsnap__store_write)))
        goto out;
    xlsnap__fault_point("create-current-cleared");
    sn->state = XLSNAP_STATE_READY;
    sn->current = true;
    rc = xlsnap__store_write(ctx, sn);
 out:
    if (rc)
        rc = xlsnap__error_prefix(ctx, rc, "snapshot '%s' was taken but its "
                                  "record could not be completed", sn->name);
    return rc;
}

/* Undo what the act phase did and did not hand on: the guest runs as
 * before, and a record without data goes (with its memory image). */
static void create_undo(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap__errsaved saved;

    if (!op->suspended && !op->paused && !op->recorded && !op->qga.frozen)
        return;
    xlsnap__errsave(ctx, &saved);
    xlsnap__qmp_close(&op->q);          /* before libxl's unpause */
    if (op->suspended) xlsnap__hv_resume(ctx, op->dom->domid);
    if (op->paused) xlsnap__hv_pause(ctx, op->dom->domid, false);
    act_thaw(ctx, op);                  /* once the guest runs */
    if (op->recorded) discard(ctx, &op->sn);
    xlsnap__errrestore(ctx, &saved);
}

int xlsnap_create(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                  const xlsnap_create_params *p, xlsnap_snapshot *snap_r)
{
    create_op op;
    int rc;

    create_op_init(&op, dom, p);
    xlsnap__warn(ctx, NULL);
    if ((rc = create_plan(ctx, &op)) || p->dry_run) goto out;
    if ((rc = create_act(ctx, &op))) goto out;
    rc = create_commit(ctx, &op);
 out:
    if (rc) {
        create_undo(ctx, &op);
    } else {
        *snap_r = op.sn;
        xlsnap_snapshot_init(&op.sn);
    }
    create_op_dispose(&op);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
