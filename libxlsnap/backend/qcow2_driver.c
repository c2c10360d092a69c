/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * backend/qcow2_driver.c - the qcow2 driver of the disk-driver layer
 * (disk.h): images served by QEMU (qdisk) or, offline, any qcow2 image;
 * internal snapshots (kind XLSNAP_DISK_INTERNAL) and external ones
 * (XLSNAP_DISK_EXTERNAL).  Through QMP when a running QEMU has the
 * image open (op->live), else qemu-img.
 *
 * Here: plan and take (create), describe, check, revert, whether an
 * image holds an internal snapshot; remove in qcow2_remove.c; taken,
 * complete and cancel (check --repair of an interrupted create) in
 * qcow2_cancel.c.
 */
#include "backend/disk.h"

#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool exists(const char *path)
{
    return path && access(path, F_OK) == 0;
}

static char *qcow2_describe(const xlsnap_disk *d)
{
    return d->kind == XLSNAP_DISK_INTERNAL
        ? xlsnap__sprintf("qcow2 internal snapshot %s in %s",
                          d->internal_name, d->image)
        : xlsnap__sprintf("qcow2 image %s", d->backing);
}

/* --- internal snapshots --------------------------------------------- */

/*
 * The internal snapshots QEMU has for image, a layer of the running
 * domain's disk: QEMU's layers are matched with the headers' chain from
 * each disk's configured path by position (QEMU's file names are not
 * the layers' own after external snapshots of the running domain:
 * qcow2_driver.c); a layer no disk's chain has is looked up by QEMU's
 * file name.  *has_r: whether one is called name.
 */
static int qemu_has_snapshot(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                             const char *image, const char *name,
                             bool *has_r)
{
    xlsnap__qmp q;
    xlsnap__qmp_block *b = NULL;
    xlsnap__cfgdisk *cd = NULL;
    char *cfg = NULL;
    bool placed = false;
    int n = 0, ncd = 0, rc;

    xlsnap__qmp_init(&q);
    if ((rc = xlsnap__hv_config(ctx, dom->domid, &cfg)) ||
        (rc = xlsnap__config_disks(ctx, cfg, &cd, &ncd)) ||
        (rc = xlsnap__qmp_open(ctx, dom->domid, dom->uuid, &q)) ||
        (rc = xlsnap__qmp_blocks(ctx, &q, &b, &n)))
        goto out;
    for (int i = 0; i < ncd && !placed; i++) {
        xlsnap__merge_chain c;
        int r = -1;
        if (!cd[i].vdev || !cd[i].path || !cd[i].format) continue;
        for (int j = 0; j < n && r < 0; j++)
            if (b[j].node && xlsnap__qmp_vdev_node(b[j].node, cd[i].vdev))
                r = j;
        if (r < 0) continue;
        if ((rc = xlsnap__merge_chain_read(ctx, cd[i].path, cd[i].format,
                                           &c)))
            goto out;
        for (int k = 0; k < c.n && r + k < n; k++) {
            if (k && b[r + k].node) break;      /* the next disk's */
            if (strcmp(c.path[k], image)) continue;
            *has_r = xlsnap__set_has(&b[r + k].snaps, name);
            placed = true;
            break;
        }
        xlsnap__merge_chain_free(&c);
    }
    for (int i = 0; !placed && i < n; i++)
        if (!strcmp(b[i].file, image))
            *has_r |= xlsnap__set_has(&b[i].snaps, name);
 out:
    xlsnap__qmp_close(&q);
    xlsnap__qmp_blocks_free(b, n);
    xlsnap__cfgdisk_list_free(cd, ncd);
    free(cfg);
    return rc;
}

int xlsnap__qcow2_has_snapshot(const xlsnap__disk_op *op, const char *image,
                               const char *fmt, const char *name,
                               bool *has_r)
{
    xlsnap__strset snaps = { 0 };
    int rc;

    *has_r = false;
    if (op->live && xlsnap__set_has(op->live, image))
        return qemu_has_snapshot(op->ctx, op->dom, image, name, has_r);
    rc = xlsnap__qimg_snapshots(op->ctx, image, fmt, &snaps);
    *has_r = xlsnap__set_has(&snaps, name);
    xlsnap__set_free(&snaps);
    return rc;
}

/* External: the image holding the data (the overlay's backing image)
 * exists.  Internal: the image exists and holds the snapshot (asked of
 * QEMU when it has the image open). */
static int qcow2_check(const xlsnap__disk_op *op, const xlsnap_disk *d,
                       char **why_r)
{
    char *why = NULL;
    bool has = false;
    int rc;

    *why_r = NULL;
    if (d->kind == XLSNAP_DISK_EXTERNAL) {
        if (exists(d->backing)) return 0;
        why = xlsnap__sprintf("image %s holding its data (disk %s) is "
                              "missing", d->backing, d->vdev);
    } else if (!exists(d->image)) {
        why = xlsnap__sprintf("image %s (disk %s) is missing", d->image,
                              d->vdev);
    } else {
        rc = xlsnap__qcow2_has_snapshot(op, d->image, d->format,
                                        d->internal_name, &has);
        if (rc) return rc;
        if (has) return 0;
        why = xlsnap__sprintf("image %s has no internal snapshot '%s'",
                              d->image, d->internal_name);
    }
    if (!why) return xlsnap__nomem(op->ctx);
    *why_r = why;
    return 0;
}

/* --- revert --------------------------------------------------------- */

/* <stem>.<pre><name><mid><time>[-n].qcow2 next to image, the first n
 * that is free (NULL: out of memory): a fresh overlay next to the
 * backing image ("", ".rev") or where an old active layer goes
 * ("before-", "-") */
static char *stamped_sibling(const char *image, const char *pre,
                             const char *name, const char *mid)
{
    char *tag0 = xlsnap__sprintf("%s%s%s%lld", pre, name, mid,
                                 (long long)time(NULL));
    char *tag = NULL, *r = NULL;

    for (int n = 0; tag0 && n < 1000; n++) {
        free(tag);
        free(r);
        tag = n ? xlsnap__sprintf("%s-%d", tag0, n) : xlsnap__strdup(tag0);
        r = tag ? xlsnap__image_sibling(image, tag) : NULL;
        if (!r || access(r, F_OK) < 0) break;
    }
    free(tag);
    free(tag0);
    return r;
}

/* The path config cfg gives disk vdev in *path_r, or NULL. */
static int configured_path(xlsnap_ctx *ctx, const char *cfg,
                           const char *vdev, char **path_r)
{
    xlsnap__cfgdisk *cd = NULL;
    int ncd = 0, rc = 0;

    *path_r = NULL;
    if (xlsnap__config_disks(ctx, cfg, &cd, &ncd)) return 0;
    for (int i = 0; i < ncd && !*path_r && !rc; i++)
        if (!strcmp(cd[i].vdev, vdev) && cd[i].path && *cd[i].path &&
            !(*path_r = xlsnap__strdup(cd[i].path)))
            rc = xlsnap__nomem(ctx);
    xlsnap__cfgdisk_list_free(cd, ncd);
    return rc;
}

/* Whether path is safe to move aside: no snapshot keeps data in it as a
 * backing image (an image from before active layers stayed in place). */
static bool movable(const xlsnap_snapshot *l, int nr, const char *path)
{
    for (int i = 0; i < nr; i++)
        for (int k = 0; k < l[i].num_disks; k++)
            if (l[i].disks[k].backing &&
                !strcmp(l[i].disks[k].backing, path))
                return false;
    return true;
}

/*
 * What disk d becomes: an external disk gets a fresh overlay on the
 * snapshot's backing image; an internal snapshot is applied in place,
 * unless other images are built on that image (an external snapshot
 * taken later): then it is copied out to a new image, so nothing under
 * them changes.  Where the configured path can be kept, it gets the
 * snapshot's data and its old active layer stays, renamed, as its own
 * branch.
 */
static int qcow2_revert_plan(const xlsnap__disk_op *op,
                             const xlsnap_disk *d, xlsnap__disk_revert *rv,
                             char **cfg)
{
    xlsnap_ctx *ctx = op->ctx;
    const xlsnap__strset none = { 0 };
    const xlsnap__strset *known = op->known ? op->known : &none;
    char *nc = NULL, *path = NULL;
    bool at_path;
    int deps = 0, rc;

    if ((rc = configured_path(ctx, *cfg, d->vdev, &path))) return rc;
    at_path = path && movable(op->list, op->nr, path);
    if (d->kind == XLSNAP_DISK_INTERNAL && path && !strcmp(path, d->image)) {
        /* the snapshot is inside the active layer: applied there,
         * unless images are built on it (a layer from before active
         * layers stayed in place) */
        rc = xlsnap__dependents(ctx, d->image, known, &deps, NULL);
        if (rc || !deps) goto out;
        at_path = false;
    } else if (d->kind == XLSNAP_DISK_INTERNAL && !at_path) {
        rc = xlsnap__dependents(ctx, d->image, known, &deps, NULL);
        if (rc || !deps) goto out;
    } else if (d->kind == XLSNAP_DISK_EXTERNAL && path &&
               !strcmp(path, d->backing)) {
        at_path = false;
    }
    if (at_path) {
        /* the configured path gets the snapshot's data; the old
         * active layer stays, renamed, as its own branch */
        xlsnap_disk one = { .vdev = d->vdev, .image = path,
                            .format = (char *)"qcow2" };
        rv->path = path;
        path = NULL;
        if (!(rv->moved = stamped_sibling(rv->path, "before-",
                                          op->sn->name, "-"))) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        rc = xlsnap__config_rewrite(ctx, *cfg, NULL, NULL, &one, 1, &nc);
    } else {
        rv->fresh = stamped_sibling(d->kind == XLSNAP_DISK_INTERNAL
                                    ? d->image : d->backing, "",
                                    op->sn->name, ".rev");
        rc = rv->fresh ? xlsnap__config_set_disk(ctx, *cfg, d->vdev,
                                                 rv->fresh, "qcow2", &nc)
                       : xlsnap__nomem(ctx);
    }
    if (rc) goto out;
    free(*cfg);
    *cfg = nc;
 out:
    free(path);
    return rc;
}

/*
 * Put disk d of a snapshot at the configured path: the image there
 * (the old active layer) is renamed to moved, its own branch, and a
 * fresh overlay on the snapshot's frozen layer (external), or a copy of
 * the internal snapshot, takes the path.  Idempotent, for check
 * --repair: a rename already done is not repeated, and a half-made
 * image at path (nothing ran on it) is made again.
 */
static int revert_at(xlsnap_ctx *ctx, const xlsnap_disk *d,
                     const char *path, const char *moved)
{
    int rc;

    if (access(moved, F_OK) < 0 && access(path, F_OK) == 0 &&
        (rc = xlsnap__rename_image(ctx, path, moved)))
        return rc;
    xlsnap__fault_point("revert-layer-moved");
    if (d->kind == XLSNAP_DISK_EXTERNAL && access(path, F_OK) == 0) {
        /* already made (a repair after the domain ran on it) */
        char *b = NULL;
        bool done = !xlsnap__qimg_backing(ctx, path, "qcow2", &b, NULL) &&
                    b &&
                    !strcmp(b, d->backing);
        free(b);
        if (done) return 0;
    }
    if ((rc = xlsnap__unlink(ctx, path, true))) return rc;
    if (d->kind == XLSNAP_DISK_INTERNAL)
        return xlsnap__qimg_convert(ctx, d->image, d->format,
                                    d->internal_name, path, 0);
    return xlsnap__qimg_create_overlay(ctx, path, d->backing, d->format);
}

/* The domain is off (its QEMU gone): qemu-img does it all, as planned. */
static int qcow2_revert(const xlsnap__disk_op *op, const xlsnap_disk *d)
{
    const xlsnap__disk_revert none = { 0 }, *rv = op->rv ? op->rv : &none;
    int rc = 0;

    if (rv->path && rv->moved)
        rc = revert_at(op->ctx, d, rv->path, rv->moved);
    else if (rv->fresh && d->kind == XLSNAP_DISK_INTERNAL)
        rc = xlsnap__qimg_convert(op->ctx, d->image, d->format,
                                  d->internal_name, rv->fresh, 0);
    else if (rv->fresh)
        rc = xlsnap__qimg_create_overlay(op->ctx, rv->fresh, d->backing,
                                         d->format);
    else if (d->kind == XLSNAP_DISK_INTERNAL)
        rc = xlsnap__qimg_snapshot(op->ctx, 'a', d->internal_name, d->image,
                                   d->format);
    return rc ? xlsnap__error_prefix(op->ctx, rc, "disk %s", d->vdev) : 0;
}

/* --- take (create) -------------------------------------------------- */

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

/* The QMP transaction snapshotting every disk at once (node names
 * looked up on q); an external disk's overlay is taken at tmp[i] (see
 * freeze_layers). */
static int disk_transaction(xlsnap_ctx *ctx, xlsnap__qmp *q,
                            const xlsnap_snapshot *sn, char *const *tmp,
                            char **cmd_r)
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
        if ((rc = xlsnap__qmp_disk_node(ctx, q, d->vdev, d->image, &node,
                                        NULL, NULL)))
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
            CHK(xlsnap__gen_kv_str(g, "snapshot-file", tmp[i]));
            CHK(xlsnap__gen_kv_str(g, "snapshot-node-name", nn));
            CHK(xlsnap__gen_kv_str(g, "format", "qcow2"));
            /* the overlay exists (freeze_layers): QEMU opens it and
             * puts it over the node, keeping its backing file name;
             * the configured path does not exist meanwhile */
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

/* Open QEMU's monitor of the domain and build the transaction. */
static int open_transaction(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                            const xlsnap_snapshot *sn, char *const *tmp,
                            xlsnap__qmp *q, char **cmd_r)
{
    int rc = xlsnap__qmp_open(ctx, dom->domid, dom->uuid, q);

    if (!rc) rc = disk_transaction(ctx, q, sn, tmp, cmd_r);
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
    int rc;

    if ((rc = rename_noreplace(ctx, from, to))) return rc;
    xlsnap__fsync_dir_of(to);
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

/* Where disk i's new overlay is made: tmp[i] for a running domain,
 * else the configured path (d->overlay). */
static const char *made_at(const xlsnap_snapshot *sn, char *const *tmp,
                           int i)
{
    return tmp && tmp[i] ? tmp[i] : sn->disks[i].overlay;
}

/* Put external disks i < n back: the new overlay goes (a reused one
 * back to the caller's path with its own backing reference), the frozen
 * layer gets its path again. */
static void thaw_layers(xlsnap_ctx *ctx, const xlsnap_snapshot *sn, int n,
                        reuse_layer *rl, char *const *tmp)
{
    xlsnap__errsaved saved;

    xlsnap__errsave(ctx, &saved);
    for (int i = 0; i < n; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        const char *at = made_at(sn, tmp, i);
        reuse_layer *r = rl ? &rl[i] : NULL;
        if (r && r->file) {
            /* never removed: the caller's file goes back as it was */
            if (r->done >= REUSE_MOVED &&
                rename_noreplace(ctx, at, r->file))
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
        unlink(at);
        rename_noreplace(ctx, d->backing, d->overlay);
    }
    xlsnap__errrestore(ctx, &saved);
}

/* A reused overlay, checked again (it is the caller's and may have
 * changed since the plan), into disk d's place: the image is renamed
 * to the frozen layer, the overlay's backing reference is pointed at
 * it (header only) and the overlay is moved to at (the image's path,
 * or the temporary name QEMU takes it under). */
static int freeze_reused(xlsnap_ctx *ctx, xlsnap__qmp *q,
                         const xlsnap_disk *d, reuse_layer *r,
                         const char *at)
{
    xlsnap__cfgdisk cd = { 0 };
    uint64_t size = 0;
    int rc;

    cd.vdev = d->vdev;
    cd.path = d->image;
    cd.format = d->format;
    xlsnap__qcow2hdr_dispose(&r->h);
    if ((rc = check_reuse(ctx, &cd, r->file, &r->h))) return rc;
    if (q && (rc = xlsnap__qmp_virtual_size(ctx, q, d->vdev, d->image,
                                            &size)))
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
    if ((rc = xlsnap__rename_image(ctx, r->file, at))) goto out;
    r->done = REUSE_MOVED;
 out:
    return rc ? xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev) : 0;
}

/*
 * External disks: the image at the configured path is renamed to the
 * frozen layer (d->backing) and a new overlay on it is made (or a
 * reused one, rl[i].file, moved) at made_at(): the configured path
 * offline; for a running domain, a temporary name tmp[i] that QEMU
 * takes the overlay under, renamed to the configured path once QEMU
 * runs on it (qcow2_commit).
 *
 * Why not the configured path while QEMU runs: QEMU 7.2's
 * blockdev-snapshot-sync then reopens the node under the new overlay
 * (the renamed image) read-only by the file name it has for it, which
 * is the configured path; were the new overlay there, that node would
 * read the overlay's file from then on (its own is closed): wrong data
 * for the guest, copied into the active layer on its next partial
 * write of a cluster.  With the configured path absent the reopen
 * fails (QEMU ignores it) and the node keeps its own file descriptor.
 * A temporary name is never used twice (QEMU's name for the node it
 * reopens at the next snapshot is the previous temporary name).  What
 * QEMU has open then: every layer, through the descriptor it opened it
 * with; it calls the active layer and the layers frozen since it
 * started by their temporary names (files that no longer exist), and
 * the layer that was active when it started by the configured path; a
 * restart of the domain opens every layer by its own name.
 *
 * q: the running domain's monitor, which gives the size (QEMU keeps the
 * renamed image open: its fd follows the file), NULL offline.  On
 * failure what was done is undone.
 */
static int freeze_layers(xlsnap_ctx *ctx, xlsnap__qmp *q,
                         const xlsnap_snapshot *sn, reuse_layer *rl,
                         char *const *tmp, const bool *premade)
{
    int i, bad = 0, rc = 0;

    for (i = 0; i < sn->num_disks; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        const char *at = made_at(sn, tmp, i);
        uint64_t size = 0;
        if (d->kind != XLSNAP_DISK_EXTERNAL) continue;
        bad = i;
        if (rl && rl[i].file) {
            if ((rc = freeze_reused(ctx, q, d, &rl[i], at))) { i++; break; }
            xlsnap__fault_point("create-layer-frozen");
            continue;
        }
        if (premade && premade[i]) {
            /* made before the guest stopped (qcow2_prepare) */
            if ((rc = xlsnap__rename_image(ctx, d->image, d->backing)))
                break;
            xlsnap__fault_point("create-layer-renamed");
            xlsnap__fault_point("create-layer-frozen");
            continue;
        }
        if (q && (rc = xlsnap__qmp_virtual_size(ctx, q, d->vdev, d->image,
                                                &size)))
            break;
        if ((rc = xlsnap__rename_image(ctx, d->image, d->backing))) break;
        xlsnap__fault_point("create-layer-renamed");
        rc = q ? xlsnap__qimg_create_overlay_sized(ctx, at, d->backing,
                                                   d->format, size)
               : xlsnap__qimg_create_overlay(ctx, at, d->backing,
                                             d->format);
        if (rc) { i++; break; }
        xlsnap__fault_point("create-layer-frozen");
    }
    if (rc) {
        if (!(rl && rl[bad].file))
            rc = xlsnap__error_prefix(ctx, rc, "disk %s",
                                      sn->disks[bad].vdev);
        thaw_layers(ctx, sn, i, rl, tmp);
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

/* How config disk d (writable, with an image, w: the caller's choice
 * for it or NULL) is snapshotted: internal unless asked otherwise; an
 * error for a disk that cannot be. */
static int disk_kind(xlsnap_ctx *ctx, const xlsnap_create_params *p,
                     const xlsnap_cfg_disk *w, const xlsnap__cfgdisk *d,
                     xlsnap_disk_kind *kind_r)
{
    xlsnap_disk_kind kind;
    bool raw;

    *kind_r = 0;
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

/* Fill sd, the record's disk, for config disk d as a disk of that
 * kind (w: the caller's choice for it, or NULL). */
static int add_disk(xlsnap_ctx *ctx, const xlsnap_create_params *p,
                    const xlsnap_cfg_disk *w, const xlsnap__cfgdisk *d,
                    xlsnap_disk_kind kind, const char *name,
                    xlsnap_disk *sd)
{

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

/* Plan disk d: internal unless asked otherwise (raw only external, and
 * refused: the configured path would name a qcow2 overlay as raw). */
static int qcow2_plan(const xlsnap__disk_plan *pl, const xlsnap__cfgdisk *d,
                      xlsnap_disk *sd)
{
    xlsnap_disk_kind kind;
    int rc;

    if ((rc = disk_kind(pl->ctx, pl->p, pl->want, d, &kind))) return rc;
    if (pl->running && (rc = xlsnap__qmp_check_config(pl->ctx, pl->config)))
        return rc;
    return add_disk(pl->ctx, pl->p, pl->want, d, kind, pl->snap, sd);
}

/* The take's state: the transaction once built, the pre-created
 * overlays reused (per disk of the record, or NULL) and, for a running
 * domain, the temporary name of each external disk's new overlay. */
typedef struct {
    char *tcmd;
    reuse_layer *reuse;
    int nreuse;         /* entries of reuse (the record may move out on
                           success: its num_disks is gone then) */
    char **tmp;         /* NULL offline; tmp[i] NULL: not external */
    bool *premade;      /* per tmp: the new overlay is made there */
    int ntmp;
    bool intent;        /* the create intent is written */
    bool taken;         /* QEMU took the overlays (take_all succeeded) */
    xlsnap__qmp q;      /* connected before the pause (qcow2_connect) */
    bool connected;
    xlsnap_ctx *ctx;    /* for release's cleanup */
    const xlsnap_domain *dom;
} qcow2_take_state;

static void clear_create_intent(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                                qcow2_take_state *t);

/* The overlays made before the guest stopped that QEMU did not take go,
 * then the create intent that names them. */
static void drop_premade(qcow2_take_state *t)
{
    for (int i = 0; t->premade && i < t->ntmp; i++) {
        if (!t->premade[i]) continue;
        unlink(t->tmp[i]);              /* ENOENT: thaw_layers did it */
        t->premade[i] = false;
    }
    clear_create_intent(t->ctx, t->dom, t);
}

static void qcow2_disconnect(void *state)
{
    qcow2_take_state *t = state;

    if (t && t->connected) {
        xlsnap__qmp_close(&t->q);
        t->connected = false;
    }
}

static void qcow2_release(void *state)
{
    qcow2_take_state *t = state;

    if (!t) return;
    qcow2_disconnect(t);
    if (!t->taken) {
        xlsnap__errsaved saved;
        xlsnap__errsave(t->ctx, &saved);
        drop_premade(t);
        xlsnap__errrestore(t->ctx, &saved);
    }
    free(t->premade);
    free(t->tcmd);
    for (int i = 0; t->reuse && i < t->nreuse; i++)
        xlsnap__qcow2hdr_dispose(&t->reuse[i].h);
    free(t->reuse);
    for (int i = 0; t->tmp && i < t->ntmp; i++) free(t->tmp[i]);
    free(t->tmp);
    free(t);
}

/* A name next to image that QEMU has never had open: the time in
 * nanoseconds, the first that is free. */
static char *temporary_name(const char *image)
{
    struct timespec ts;
    char *tag, *r = NULL;

    for (int n = 0; n < 100; n++) {
        clock_gettime(CLOCK_REALTIME, &ts);
        tag = xlsnap__sprintf("xlsnap-new-%lld%09ld-%d", (long long)ts.tv_sec,
                              ts.tv_nsec, n);
        free(r);
        r = tag ? xlsnap__image_sibling(image, tag) : NULL;
        free(tag);
        if (!r || access(r, F_OK) < 0) break;
    }
    return r;
}

/* The create intent: which temporary name each external disk's new
 * overlay has (check --repair moves one QEMU took, or one left beside
 * an absent configured path, to the configured path). */
static int write_create_intent(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                               const xlsnap_snapshot *sn, char *const *tmp)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    char *json = NULL;
    int s, rc;

    if (!g) return xlsnap__nomem(ctx);
    CHK(yajl_gen_map_open(g));
    CHK(xlsnap__gen_kv_str(g, "snapshot", sn->name));
    CHK(xlsnap__gen_kv_int(g, "domid", dom->domid));
    CHK(xlsnap__gen_str(g, "disks"));
    CHK(yajl_gen_array_open(g));
    for (int i = 0; i < sn->num_disks; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        if (!tmp[i]) continue;
        CHK(yajl_gen_map_open(g));
        CHK(xlsnap__gen_kv_str(g, "vdev", d->vdev));
        CHK(xlsnap__gen_kv_str(g, "image", d->overlay));
        CHK(xlsnap__gen_kv_str(g, "backing", d->backing));
        CHK(xlsnap__gen_kv_str(g, "tmp", tmp[i]));
        CHK(yajl_gen_map_close(g));
    }
    CHK(yajl_gen_array_close(g));
    CHK(yajl_gen_map_close(g));
    if ((rc = xlsnap__gen_finish(ctx, g, &json))) goto out;
    rc = xlsnap__intent_write(ctx, dom->uuid, XLSNAP__CREATE_INTENT, json);
    goto out;
 gen_failed:
    rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "cannot build intent");
 out:
    yajl_gen_free(g);
    free(json);
    return rc;
}

/* The intent goes (errors kept: a stale intent only makes check look). */
static void clear_create_intent(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                                qcow2_take_state *t)
{
    xlsnap__errsaved saved;

    if (!t->intent) return;
    xlsnap__errsave(ctx, &saved);
    if (!xlsnap__intent_clear(ctx, dom->uuid, XLSNAP__CREATE_INTENT))
        t->intent = false;
    xlsnap__errrestore(ctx, &saved);
}

/*
 * Before the guest stops: which pre-created overlay each external disk
 * takes (the plan checked it) and, for a running domain, the
 * transaction (node names asked of QEMU) and each new overlay, made
 * under its temporary name (freeze_layers) with the size QEMU gives
 * (the create intent names it first), so the pause, or the suspension
 * after a memory save, lasts little more than renames and the
 * transaction.  The monitor is closed meanwhile: libxl's save (HVM) and
 * unpause may need it, under the same lock (a disk-only take connects
 * again right before the pause: qcow2_connect).
 */
static int qcow2_prepare(const xlsnap__disk_op *op, void **state_r)
{
    xlsnap_ctx *ctx = op->ctx;
    const xlsnap_snapshot *sn = op->sn;
    qcow2_take_state *t = calloc(1, sizeof(*t));
    bool reused = false;
    xlsnap__qmp q;
    int rc = 0;

    *state_r = NULL;
    if (!t) return xlsnap__nomem(ctx);
    t->ctx = ctx;
    t->dom = op->dom;
    for (int i = 0; i < sn->num_disks; i++)
        reused |= sn->disks[i].reused != NULL;
    if (reused) {
        t->reuse = calloc(sn->num_disks, sizeof(*t->reuse));
        if (!t->reuse) { rc = xlsnap__nomem(ctx); goto out; }
        t->nreuse = sn->num_disks;
        for (int i = 0; i < sn->num_disks; i++)
            if (sn->disks[i].kind == XLSNAP_DISK_EXTERNAL)
                t->reuse[i].file = sn->disks[i].reused;
    }
    if (op->running) {
        bool make = false;
        int n = sn->num_disks ? sn->num_disks : 1;
        t->tmp = calloc(n, sizeof(*t->tmp));
        t->premade = calloc(n, sizeof(*t->premade));
        if (!t->tmp || !t->premade) { rc = xlsnap__nomem(ctx); goto out; }
        t->ntmp = sn->num_disks;
        for (int i = 0; i < sn->num_disks; i++) {
            if (sn->disks[i].kind != XLSNAP_DISK_EXTERNAL) continue;
            if (!(t->tmp[i] = temporary_name(sn->disks[i].overlay))) {
                rc = xlsnap__nomem(ctx);
                goto out;
            }
            make |= !(t->reuse && t->reuse[i].file);
        }
        if (make) {
            if ((rc = write_create_intent(ctx, op->dom, sn, t->tmp)))
                goto out;
            t->intent = true;
        }
        xlsnap__qmp_init(&q);
        if ((rc = open_transaction(ctx, op->dom, sn, t->tmp, &q, &t->tcmd)))
            goto out;
        for (int i = 0; i < sn->num_disks && !rc; i++) {
            const xlsnap_disk *d = &sn->disks[i];
            uint64_t size = 0;
            if (!t->tmp[i] || (t->reuse && t->reuse[i].file)) continue;
            if (!(rc = xlsnap__qmp_virtual_size(ctx, &q, d->vdev, d->image,
                                                &size)) &&
                !(rc = xlsnap__qimg_create_overlay_sized(ctx, t->tmp[i],
                                                         d->backing,
                                                         d->format, size)))
                t->premade[i] = true;
            else
                rc = xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev);
        }
        xlsnap__qmp_close(&q);
        if (!rc && make) xlsnap__fault_point("create-overlays-made");
    }
 out:
    if (rc) qcow2_release(t);
    else *state_r = t;
    return rc;
}

/* Right before the pause of a disk-only take of a running domain: the
 * monitor is connected (libxl's lock taken, greeting read), so the
 * pause covers little more than the transaction.  Safe: libxl's pause
 * is xc_domain_pause alone; its unpause of an HVM guest needs QEMU's
 * monitor, so take_all closes it before the unpause, and the caller
 * disconnects before the unpause of a failed create. */
static int qcow2_connect(const xlsnap__disk_op *op, void *state)
{
    qcow2_take_state *t = state;
    int rc;

    if (!op->running || op->sn->memory || !t || t->connected) return 0;
    xlsnap__qmp_init(&t->q);
    if ((rc = xlsnap__qmp_open(op->ctx, op->dom->domid, op->dom->uuid,
                               &t->q)))
        return rc;
    t->connected = true;
    return 0;
}

/* Every qcow2 disk of the record at once: a QMP transaction, or
 * qemu-img offline; on failure no disk was changed. */
static int qcow2_take_all(const xlsnap__disk_op *op, void *state)
{
    xlsnap_ctx *ctx = op->ctx;
    const xlsnap_snapshot *sn = op->sn;
    qcow2_take_state *t = state;
    bool external = false;
    xlsnap__qmp q;
    int rc;

    if (!op->running) {
        if ((rc = freeze_layers(ctx, NULL, sn, t->reuse, NULL, NULL)))
            return rc;
        if ((rc = offline_disks(ctx, sn)))
            thaw_layers(ctx, sn, sn->num_disks, t->reuse, NULL);
        return rc;
    }
    for (int i = 0; i < t->ntmp; i++) external |= t->tmp[i] != NULL;
    if (external && !t->intent) {
        if ((rc = write_create_intent(ctx, op->dom, sn, t->tmp))) return rc;
        t->intent = true;
    }
    if (t->connected) {
        q = t->q;                       /* ours now: closed below */
        t->connected = false;
        rc = 0;
    } else {
        xlsnap__qmp_init(&q);
        rc = t->tcmd ? xlsnap__qmp_open(ctx, op->dom->domid, op->dom->uuid,
                                        &q)
                     : open_transaction(ctx, op->dom, sn, t->tmp, &q,
                                        &t->tcmd);
    }
    if (rc) goto out;
    rc = freeze_layers(ctx, &q, sn, t->reuse, t->tmp, t->premade);
    if (!rc) {
        rc = xlsnap__qmp_exec(ctx, &q, t->tcmd, NULL);
        if (rc) thaw_layers(ctx, sn, sn->num_disks, t->reuse, t->tmp);
    }
    xlsnap__qmp_close(&q);
    if (rc)
        rc = xlsnap__error_prefix(ctx, rc, "disk snapshot transaction "
                                  "failed (no disk was changed)");
 out:
    if (rc) drop_premade(t);
    else t->taken = true;
    return rc;
}

/* The running domain now writes to the new overlays: each goes from
 * its temporary name to the configured path (QEMU's fd follows), and
 * the domain's own config (libxl's stored config and xenstore) must
 * say so. */
static int qcow2_commit(const xlsnap__disk_op *op, void *state)
{
    const xlsnap_snapshot *sn = op->sn;
    qcow2_take_state *t = state;
    int rc;

    for (int i = 0; i < sn->num_disks && op->running; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        if (d->kind != XLSNAP_DISK_EXTERNAL) continue;
        if (t && t->tmp && i < t->ntmp && t->tmp[i] &&
            (rc = xlsnap__rename_image(op->ctx, t->tmp[i], d->overlay)))
            return xlsnap__error_prefix(op->ctx, rc, "snapshot taken, but "
                                        "disk %s's new overlay keeps its "
                                        "temporary name (record left "
                                        "'preparing')", d->vdev);
        rc = xlsnap__hv_set_live_disk(op->ctx, op->dom->domid, d->vdev,
                                      d->overlay, "qcow2");
        if (rc)
            return xlsnap__error_prefix(op->ctx, rc, "snapshot taken, but "
                                        "the domain config still names %s "
                                        "(record left 'preparing')",
                                        d->image);
    }
    if (t) clear_create_intent(op->ctx, op->dom, t);
    return 0;
}

/* Whether tmp is an overlay a create made before the guest stopped and
 * QEMU never took: an empty qcow2 image naming backing, which does not
 * exist (the image was not frozen under it yet, so no transaction ran). */
static bool unused_premade(xlsnap_ctx *ctx, const char *tmp,
                           const char *backing)
{
    xlsnap__qcow2hdr h = { 0 };
    const char *why = NULL;
    bool shows = true, r = false;
    xlsnap__errsaved saved;
    int fd;

    if (!backing || exists(backing)) return false;
    fd = open(tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return false;
    xlsnap__errsave(ctx, &saved);
    if (!xlsnap__qcow2_header(ctx, fd, &h, &why) && !why && h.backing &&
        !strcmp(h.backing, backing) && !h.data_file &&
        !xlsnap__qcow2_shows_data(ctx, fd, &h, &shows))
        r = !shows;
    xlsnap__errrestore(ctx, &saved);
    xlsnap__qcow2hdr_dispose(&h);
    close(fd);
    return r;
}

/*
 * A create of the running domain killed while a new overlay had its
 * temporary name (the create intent, qcow2_take_all): *problem_r says
 * what is found (NULL: nothing).  With repair, each overlay still
 * under its temporary name goes to the configured path when that is
 * free (QEMU took it, or the transaction never ran: the create is then
 * completed or rolled back from there, as one killed after the rename),
 * and the intent goes.
 */
int xlsnap__qcow2_create_recover(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                                 bool repair, char **snap_r,
                                 char **problem_r, char **done_r)
{
    const char *sp[] = { "snapshot", NULL }, *dp[] = { "disks", NULL },
               *vp[] = { "vdev", NULL }, *ip[] = { "image", NULL },
               *tp[] = { "tmp", NULL }, *bp[] = { "backing", NULL };
    yajl_val root = NULL, sn, ds;
    char *json = NULL, eb[128];
    const char *left = NULL, *stuck = NULL;
    int rc, moved = 0, dropped = 0;

    *snap_r = *problem_r = *done_r = NULL;
    rc = xlsnap__intent_read(ctx, dom->uuid, XLSNAP__CREATE_INTENT, &json);
    if (rc || !json) goto out;
    root = yajl_tree_parse(json, eb, sizeof(eb));
    sn = root ? yajl_tree_get(root, sp, yajl_t_string) : NULL;
    ds = root ? yajl_tree_get(root, dp, yajl_t_array) : NULL;
    if (!sn || !ds) {
        *problem_r = xlsnap__strdup("the create intent is malformed "
                                    "(killed while it was written)");
        if (!*problem_r) { rc = xlsnap__nomem(ctx); goto out; }
        if (repair && !(rc = xlsnap__intent_clear(ctx, dom->uuid,
                                                  XLSNAP__CREATE_INTENT)) &&
            !(*done_r = xlsnap__strdup("removed it (no overlay had been "
                                       "made)")))
            rc = xlsnap__nomem(ctx);
        goto out;
    }
    if (!(*snap_r = xlsnap__strdup(sn->u.string))) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    for (size_t i = 0; i < ds->u.array.len; i++) {
        yajl_val e = ds->u.array.values[i];
        yajl_val v = yajl_tree_get(e, vp, yajl_t_string);
        yajl_val im = yajl_tree_get(e, ip, yajl_t_string);
        yajl_val tm = yajl_tree_get(e, tp, yajl_t_string);
        yajl_val bk = yajl_tree_get(e, bp, yajl_t_string);
        if (!v || !im || !tm || !exists(tm->u.string)) continue;
        if (!left) left = tm->u.string;
        if (exists(im->u.string) && bk &&
            unused_premade(ctx, tm->u.string, bk->u.string)) {
            /* made before the guest stopped, never taken: it goes */
            if (repair && unlink(tm->u.string) < 0 && errno != ENOENT) {
                rc = xlsnap__error_errno(ctx, errno, "cannot remove %s",
                                         tm->u.string);
                goto out;
            }
            dropped++;
            continue;
        }
        if (exists(im->u.string)) {
            /* not from this create's steps: left as it is */
            stuck = tm->u.string;
            continue;
        }
        if (repair && (rc = xlsnap__rename_image(ctx, tm->u.string,
                                                 im->u.string)))
            goto out;
        moved++;
    }
    if (!left) {
        /* the overlays were not made yet or are in place: the intent
         * only goes */
        if (repair)
            rc = xlsnap__intent_clear(ctx, dom->uuid,
                                      XLSNAP__CREATE_INTENT);
        goto out;
    }
    *problem_r = xlsnap__sprintf("the create of snapshot '%s' was "
                                 "interrupted while a new overlay had its "
                                 "temporary name %s", sn->u.string, left);
    if (!*problem_r) { rc = xlsnap__nomem(ctx); goto out; }
    if (!repair) goto out;
    if (stuck) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_EXISTS, "%s is left under its "
                           "temporary name: its configured path exists",
                           stuck);
        goto out;
    }
    if ((rc = xlsnap__intent_clear(ctx, dom->uuid, XLSNAP__CREATE_INTENT)))
        goto out;
    if (!moved)
        *done_r = xlsnap__sprintf("removed %d new overlay%s QEMU never "
                                  "took", dropped, dropped == 1 ? "" : "s");
    else if (!dropped)
        *done_r = xlsnap__sprintf("moved %d new overlay%s to %s configured "
                                  "path", moved, moved == 1 ? "" : "s",
                                  moved == 1 ? "its" : "their");
    else
        *done_r = xlsnap__sprintf("moved %d new overlay%s to %s configured "
                                  "path, removed %d QEMU never took", moved,
                                  moved == 1 ? "" : "s",
                                  moved == 1 ? "its" : "their", dropped);
    if (!*done_r) rc = xlsnap__nomem(ctx);
 out:
    if (root) yajl_tree_free(root);
    free(json);
    return rc;
}

/* An imported image (an external disk without overlay: the data is
 * the backing image itself) that no running QEMU has open: qemu-img
 * check finds no corruption. */
static int qcow2_verify(const xlsnap__disk_op *op, const xlsnap_disk *d,
                        char **why_r)
{
    char *w;
    int rc;

    *why_r = NULL;
    if (d->kind != XLSNAP_DISK_EXTERNAL || d->overlay || !d->backing ||
        !d->format || strcmp(d->format, "qcow2") ||
        xlsnap__set_has(op->live, d->backing))
        return 0;
    if ((rc = xlsnap__qimg_check(op->ctx, d->backing, "qcow2", why_r)) ||
        !*why_r)
        return rc;
    w = xlsnap__sprintf("disk %s: image %s: %s", d->vdev, d->backing,
                        *why_r);
    free(*why_r);
    *why_r = w;
    return w ? 0 : xlsnap__nomem(op->ctx);
}

static int qcow2_recover(const xlsnap__disk_op *op, bool repair,
                         char **snap_r, char **problem_r, char **done_r)
{
    return xlsnap__qcow2_create_recover(op->ctx, op->dom, repair, snap_r,
                                        problem_r, done_r);
}

const xlsnap__disk_driver xlsnap__disk_qcow2 = {
    .name = "qcow2",
    .plan = qcow2_plan,
    .prepare = qcow2_prepare,
    .connect = qcow2_connect,
    .disconnect = qcow2_disconnect,
    .take_all = qcow2_take_all,
    .commit = qcow2_commit,
    .release = qcow2_release,
    .describe = qcow2_describe,
    .check = qcow2_check,
    .revert_plan = qcow2_revert_plan,
    .revert = qcow2_revert,
    .remove = xlsnap__qcow2_remove,
    .taken = xlsnap__qcow2_taken,
    .complete = xlsnap__qcow2_complete,
    .cancel = xlsnap__qcow2_cancel,
    .recover = qcow2_recover,
    .verify = qcow2_verify,
    .export = xlsnap__qcow2_export,
};

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
