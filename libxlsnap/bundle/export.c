/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * export.c - write a snapshot as a bundle (see bundle.c for the layout)
 *
 * Only snapshot data is read: an internal snapshot inside its image, or
 * the read-only backing image of an external one.  Neither changes
 * while the domain runs (qcow2 copies on write away from a snapshot's
 * clusters; a backing image is never written), so reading them with
 * qemu-img -U (read-only, shared) does not disturb a running domain:
 * an image the domain writes is opened read-only, for the snapshot's
 * clusters only, and nothing it uses is ever written.
 *   full:  qemu-img convert of that state into a standalone qcow2;
 *   delta: an empty qcow2 on the snapshot's state, rebased (safe mode:
 *          content compared) onto the base snapshot's state, so it holds
 *          just the clusters that differ from the base.
 * A directory bundle is written in place, manifest last; a stream is
 * staged one part at a time in the domain's state dir.  With zstd, the
 * memory image and the disks are stored compressed (".zst", encoding
 * "zstd" in the manifest; checksums are of the stored bytes).
 */
#include "internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

void xlsnap_export_params_init(xlsnap_export_params *p)
{
    memset(p, 0, sizeof(*p));
    p->fd = -1;
}

typedef struct {
    xlsnap_ctx *ctx;
    const char *dir;       /* where parts are made */
    int out;               /* stream fd, or -1: directory bundle */
    bool zstd;             /* compress memory and disks */
    xlsnap__manifest m;
    uint64_t bytes;
} exporter;

/* Add part f to the bundle: the file src, or when src is NULL the file
 * f->path already made in dir.  Directory bundle: src is copied in (or
 * the part is hashed where it is).  Stream: it is sent (and a part made
 * in dir removed). */
static int add_part(exporter *x, xlsnap__bundle_file *f, const char *src)
{
    xlsnap_ctx *ctx = x->ctx;
    char *path = xlsnap__sprintf("%s/%s", x->dir, f->path);
    struct stat st;
    int fd = -1, rc;

    if (src && x->out < 0) {
        rc = xlsnap__copy_file(ctx, src, path, XLSNAP__COPY_PLAIN, &f->size,
                               f->sha256);
        goto out;
    }
    fd = open(src ? src : path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot read %s",
                                 src ? src : path);
        goto out;
    }
    f->size = st.st_size;
    if (x->out >= 0) {
        rc = xlsnap__tar_put(ctx, x->out, f->path, fd, f->size, f->sha256);
        if (!rc && !src) unlink(path);
    } else {
        rc = xlsnap__copy_hashed(ctx, fd, -1, f->size, f->path, NULL,
                                 f->sha256);
    }
 out:
    if (!rc) x->bytes += f->size;
    if (fd >= 0) close(fd);
    free(path);
    return rc;
}

/* With zstd: src (a file, or f->path in dir when src is NULL) becomes
 * f->path + ".zst" in dir; the uncompressed part in dir is removed. */
static int compress_part(exporter *x, const char *src,
                         xlsnap__bundle_file *f)
{
    char *plain = xlsnap__sprintf("%s/%s", x->dir, f->path);
    char *zname = xlsnap__sprintf("%s.zst", f->path);
    char *zpath = xlsnap__sprintf("%s/%s", x->dir, zname);
    struct stat st;
    int rc;

    if (stat(src ? src : plain, &st) < 0) {
        rc = xlsnap__error_errno(x->ctx, errno, "cannot read %s",
                                 src ? src : plain);
        goto out;
    }
    f->plain_size = st.st_size;
    rc = xlsnap__copy_file(x->ctx, src ? src : plain, zpath,
                           XLSNAP__COPY_COMPRESS, NULL, NULL);
    if (rc) goto out;
    if (!src) unlink(plain);
    free(f->path);
    f->path = zname;
    zname = NULL;
    f->encoding = xlsnap__strdup("zstd");
 out:
    free(plain);
    free(zname);
    free(zpath);
    return rc;
}

static int add_data(exporter *x, const char *data, xlsnap__bundle_file *f)
{
    xlsnap__sha256 h;

    if (!f) return xlsnap__nomem(x->ctx);   /* from manifest_add */
    f->size = strlen(data);
    xlsnap__sha256_init(&h);
    xlsnap__sha256_update(&h, data, f->size);
    xlsnap__sha256_final(&h, f->sha256);
    x->bytes += f->size;
    if (x->out >= 0)
        return xlsnap__tar_put_data(x->ctx, x->out, f->path, data, f->size);
    return xlsnap__write_file_atomic(x->ctx, x->dir, f->path, data,
                                     f->size);
}

/* The disk state of a snapshot as a file (+ format): an external
 * snapshot's backing image, or an internal one copied out to tmp. */
static int state_file(exporter *x, const xlsnap_disk *d, const char *tmp,
                      const char **file_r, const char **fmt_r)
{
    int rc;

    if (d->kind == XLSNAP_DISK_EXTERNAL) {
        *file_r = d->backing;
        *fmt_r = d->format;
        return 0;
    }
    rc = xlsnap__qimg_convert(x->ctx, d->image, d->format, d->internal_name,
                              tmp, XLSNAP__QIMG_SHARED);
    *file_r = tmp;
    *fmt_r = "qcow2";
    return rc;
}

static int export_disk(exporter *x, const xlsnap_disk *d,
                       const xlsnap_snapshot *base)
{
    xlsnap_ctx *ctx = x->ctx;
    char *part = xlsnap__sprintf("disk-%s.qcow2", d->vdev);
    char *out = xlsnap__sprintf("%s/%s", x->dir, part);
    char *ts = xlsnap__sprintf("%s/.state-%s.qcow2", x->dir, d->vdev);
    char *tb = xlsnap__sprintf("%s/.base-%s.qcow2", x->dir, d->vdev);
    const char *sf, *sfmt, *bf, *bfmt;
    const xlsnap_disk *bd;
    xlsnap__bundle_file *f;
    int rc;

    if (!xlsnap__bundle_name_ok(part)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "disk name %s cannot "
                           "be exported", d->vdev);
        goto out;
    }
    if (!base) {
        const char *snap = d->kind == XLSNAP_DISK_INTERNAL ? d->internal_name
                                                           : NULL;
        rc = xlsnap__qimg_convert(ctx, d->kind == XLSNAP_DISK_INTERNAL ?
                                  d->image : d->backing, d->format, snap,
                                  out, XLSNAP__QIMG_SHARED);
    } else if (!(bd = xlsnap__snapshot_disk(base, d->vdev))) {
        rc = xlsnap__error_hint(ctx, XLSNAP_ERROR_NOTFOUND,
                                XLSNAP_HINT_EXPORT_FULL, "base snapshot '%s' "
                           "has no disk %s",
                           base->name, d->vdev);
    } else if (!(rc = state_file(x, d, ts, &sf, &sfmt)) &&
               !(rc = state_file(x, bd, tb, &bf, &bfmt)) &&
               !(rc = xlsnap__qimg_create_overlay(ctx, out, sf, sfmt))) {
        /* keep what differs from the base, then name the base in a way
         * that cannot open anything by accident: import points it at
         * the base's image on the new host */
        char *bname = xlsnap__sprintf("xl-snapshot-base:%s", base->name);
        rc = xlsnap__qimg_rebase(ctx, out, "qcow2", bf, bfmt,
                                 XLSNAP__QIMG_SHARED);
        if (!rc)
            rc = xlsnap__qimg_rebase(ctx, out, "qcow2", bname, "qcow2",
                                     XLSNAP__QIMG_UNSAFE);
        free(bname);
    }
    unlink(ts);
    unlink(tb);
    if (rc) {
        unlink(out);
        rc = xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev);
        goto out;
    }
    if (chmod(out, 0600) < 0) {      /* qemu-img created it per umask */
        rc = xlsnap__error_errno(ctx, errno, "cannot chmod %s", out);
        unlink(out);
        goto out;
    }
    f = xlsnap__manifest_add(&x->m, part, "disk");
    if (!f) { rc = xlsnap__nomem(ctx); unlink(out); goto out; }
    f->vdev = xlsnap__strdup(d->vdev);
    f->format = xlsnap__strdup("qcow2");
    if ((rc = xlsnap__qimg_virtual_size(ctx, out, "qcow2",
                                        &f->virtual_size))) {
        unlink(out);
        goto out;
    }
    if (x->zstd && (rc = compress_part(x, NULL, f))) {
        unlink(out);
        goto out;
    }
    rc = add_part(x, f, NULL);
 out:
    free(part);
    free(out);
    free(ts);
    free(tb);
    return rc;
}

static int find(xlsnap_ctx *ctx, xlsnap_snapshot *list, int nr,
                const char *name, xlsnap_snapshot **s_r)
{
    int i = xlsnap__list_find(list, nr, name);

    if (i < 0)
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "no snapshot '%s'",
                             name);
    if (list[i].state != XLSNAP_STATE_READY)
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "snapshot '%s' "
                             "is incomplete (state %s)", name,
                             xlsnap_state_name(list[i].state));
    *s_r = &list[i];
    return 0;
}

/* names from the root down to s */
static int chain(xlsnap_ctx *ctx, xlsnap__manifest *m, xlsnap_snapshot *list,
                 int nr, const xlsnap_snapshot *s)
{
    xlsnap__tree t;
    int *up = malloc((nr + 1) * sizeof(*up)), n, rc;

    xlsnap__tree_init(&t);
    m->chain = calloc(nr + 1, sizeof(*m->chain));
    if (!up || !m->chain) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    if ((rc = xlsnap__tree_build(ctx, &t, list, nr))) goto out;
    n = xlsnap__tree_ancestors(&t, (int)(s - list), up);
    while (n > 0)
        m->chain[m->num_chain++] = xlsnap__strdup(list[up[--n]].name);
    m->chain[m->num_chain++] = xlsnap__strdup(s->name);
 out:
    xlsnap__tree_dispose(&t);
    free(up);
    return rc;
}

int xlsnap_export(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                  const char *name, const xlsnap_export_params *p,
                  uint64_t *bytes_r)
{
    xlsnap_snapshot *list = NULL, *sn = NULL, *base = NULL;
    xlsnap__store_handle h = XLSNAP__STORE_HANDLE_INIT;
    exporter x = { .ctx = ctx, .out = -1 };
    char *json = NULL, *dir = NULL;
    int nr = 0, idx, rc, stage_fd = -1;

    xlsnap__manifest_init(&x.m);
    if (!p->dir && p->fd < 0)
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "no destination");
    if ((rc = xlsnap__store_open_find(ctx, dom->uuid, name, &h, &idx)))
        goto out;
    list = h.list;
    nr = h.nr;
    if ((rc = find(ctx, list, nr, name, &sn)))
        goto out;
    if (p->base && (rc = find(ctx, list, nr, p->base, &base))) {
        rc = xlsnap__error_prefix(ctx, rc, "base");
        goto out;
    }
    if (base == sn) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "a snapshot cannot be "
                           "the base of its own delta");
        goto out;
    }
    if (p->dir) {
        if (mkdir(p->dir, 0700) < 0) {
            rc = xlsnap__error_errno(ctx, errno, "cannot create bundle "
                                     "directory %s%s", p->dir,
                                     errno == EEXIST ? " (give a new one)"
                                                     : "");
            goto out;
        }
        dir = xlsnap__strdup(p->dir);
    } else {
        if ((rc = xlsnap__store_staging_create(ctx, dom->uuid, "export",
                                               &dir, &stage_fd)))
            goto out;
        x.out = p->fd;
    }
    x.dir = dir;
    x.zstd = p->compress && !strcmp(p->compress, "zstd");
    if (p->compress && !x.zstd) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "unknown compression "
                           "'%s' (zstd is supported)", p->compress);
        goto out;
    }

    x.m.kind = xlsnap__strdup(base ? "delta" : "full");
    x.m.snapshot = xlsnap__strdup(sn->name);
    x.m.base = xlsnap__strdup(base ? base->name : NULL);
    x.m.domain_name = xlsnap__strdup(sn->domain_name);
    x.m.domain_uuid = xlsnap__strdup(sn->domain_uuid);
    x.m.created = time(NULL);
    if ((rc = chain(ctx, &x.m, list, nr, sn))) goto out;

    if ((rc = xlsnap_snapshot_to_json(ctx, sn, &json)) ||
        (rc = add_data(&x, json, xlsnap__manifest_add(&x.m, "record.json",
                                                      "record"))))
        goto out;
    if (sn->memory) {
        xlsnap__bundle_file *f = xlsnap__manifest_add(&x.m, "memory.save",
                                                      "memory");
        if (!f) { rc = xlsnap__nomem(ctx); goto out; }
        rc = x.zstd ? compress_part(&x, sn->memory, f) : 0;
        if (!rc) rc = add_part(&x, f, x.zstd ? NULL : sn->memory);
        if (rc) goto out;
    }
    for (int i = 0; i < sn->num_disks; i++)
        if ((rc = export_disk(&x, &sn->disks[i], base))) goto out;

    free(json);
    if ((rc = xlsnap__manifest_to_json(ctx, &x.m, &json))) goto out;
    if (x.out >= 0) {
        rc = xlsnap__tar_put_data(ctx, x.out, XLSNAP__MANIFEST_FILE, json,
                                  strlen(json));
        if (!rc) rc = xlsnap__tar_end(ctx, x.out);
    } else {
        rc = xlsnap__write_file_atomic(ctx, dir, XLSNAP__MANIFEST_FILE,
                                       json, strlen(json));
    }
    x.bytes += strlen(json);
    if (!rc && bytes_r) *bytes_r = x.bytes;
 out:
    /* a stream's staging dir always goes; a directory bundle only if
     * it is incomplete */
    if (dir && (x.out >= 0 || rc)) xlsnap__remove_flat_dir(dir);
    if (stage_fd >= 0) close(stage_fd);
    xlsnap__store_close(&h);
    xlsnap__manifest_dispose(&x.m);
    free(json);
    free(dir);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
