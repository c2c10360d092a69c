/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * export.c - write a snapshot as a bundle (see bundle.c for the layout)
 *
 * Only snapshot data is read, never what a running domain writes, and
 * nothing the domain uses is written.  Each disk's image is made by its disk driver's export (disk.h): the
 * qcow2 driver's in backend/qcow2_export.c (full: a standalone qcow2 of
 * the snapshot's state; delta: only the clusters that differ from the
 * base snapshot's), the volume drivers' in bundle/volume.c.
 * A directory bundle is written in place, manifest last; a stream is
 * staged one part at a time in the domain's state dir.  With zstd, the
 * memory image and the disks are stored compressed (".zst", encoding
 * "zstd" in the manifest; checksums are of the stored bytes): a disk
 * the driver writes itself is compressed as it is written (made.zstd),
 * any other in a pass after (compress_part).
 * In the code: open the domain's store handle and find the snapshots
 * (open_plan), the destination (open_dest), then the manifest's head,
 * the parts (add_contents) and the manifest (add_manifest).
 */
#include "internal.h"
#include "backend/disk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

void xlsnap_export_params_init(xlsnap_export_params *p)
{
    memset(p, 0, sizeof(*p));
    p->fd = -1;
}

/* One export: the domain's store handle (open: its lock, its records),
 * the snapshot (and a delta's base) in them, where the bundle goes. */
typedef struct {
    xlsnap_ctx *ctx;
    xlsnap__store_handle h;
    const xlsnap_snapshot *sn;    /* in h.list */
    const xlsnap_snapshot *base;  /* in h.list; NULL: a full bundle */
    char *dir;             /* where parts are made */
    int stage_fd;          /* the lock of a stream's staging dir, or -1 */
    int out;               /* stream fd, or -1: directory bundle */
    bool zstd;             /* compress memory and disks */
    xlsnap__manifest m;
    uint64_t bytes;
} exporter;

/* Add part f to the bundle: the file src, or when src is NULL the file
 * f->path already made in dir.  Directory bundle: src is copied in and
 * hashed on the way (a part made in dir is hashed where it is, unless
 * f->sha256 is known: compress_part, or the disk driver, hashed it as
 * it wrote it).  Stream: it is sent, hashed on the way unless known
 * (and a part made in dir removed).  Each byte is hashed once. */
static int add_part(exporter *x, xlsnap__bundle_file *f, const char *src)
{
    xlsnap_ctx *ctx = x->ctx;
    char *path = xlsnap__sprintf("%s/%s", x->dir, f->path);
    bool known = !src && f->sha256[0];
    struct stat st;
    int fd = -1, rc = 0;

    if (!path) return xlsnap__nomem(ctx);
    if (src && x->out < 0) {
        rc = xlsnap__copy_file(ctx, src, path, XLSNAP__COPY_PLAIN, &f->size,
                               f->sha256);
        goto out;
    }
    if (known && x->out < 0) goto out;
    fd = open(src ? src : path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot read %s",
                                 src ? src : path);
        goto out;
    }
    if (known && (uint64_t)st.st_size != f->size) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "%s changed while it "
                           "was exported", path);
        goto out;
    }
    f->size = st.st_size;
    if (x->out >= 0) {
        rc = xlsnap__tar_put(ctx, x->out, f->path, fd, f->size,
                             known ? NULL : f->sha256);
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
 * f->path + ".zst" in dir, its size and SHA-256 in f taken as it is
 * written; the uncompressed part in dir is removed. */
static int compress_part(exporter *x, const char *src,
                         xlsnap__bundle_file *f)
{
    char *plain = xlsnap__sprintf("%s/%s", x->dir, f->path);
    char *zname = xlsnap__sprintf("%s.zst", f->path);
    char *zpath = xlsnap__sprintf("%s/%s", x->dir, zname);
    struct stat st;
    int rc;

    if (!plain || !zname || !zpath) {
        rc = xlsnap__nomem(x->ctx);
        goto out;
    }
    if (stat(src ? src : plain, &st) < 0) {
        rc = xlsnap__error_errno(x->ctx, errno, "cannot read %s",
                                 src ? src : plain);
        goto out;
    }
    f->plain_size = st.st_size;
    rc = xlsnap__copy_file(x->ctx, src ? src : plain, zpath,
                           XLSNAP__COPY_COMPRESS, &f->size, f->sha256);
    if (rc) goto out;
    if (!src) unlink(plain);
    free(f->path);
    f->path = zname;
    zname = NULL;
    if (!(f->encoding = xlsnap__strdup("zstd"))) rc = xlsnap__nomem(x->ctx);
 out:
    free(plain);
    free(zname);
    free(zpath);
    return rc;
}

/* The driver compressed part f (f->path in dir) as it wrote it: it
 * becomes f->path + ".zst", with what the driver learnt of it. */
static int compressed_part(exporter *x, xlsnap__bundle_file *f,
                           const xlsnap__export_made *made)
{
    char *plain = xlsnap__sprintf("%s/%s", x->dir, f->path);
    char *zname = xlsnap__sprintf("%s.zst", f->path);
    char *zpath = xlsnap__sprintf("%s/%s", x->dir, zname);
    int rc = 0;

    if (!plain || !zname || !zpath || !(f->encoding =
                                          xlsnap__strdup("zstd"))) {
        rc = xlsnap__nomem(x->ctx);
        goto out;
    }
    if (rename(plain, zpath) < 0) {
        rc = xlsnap__error_errno(x->ctx, errno, "cannot rename %s", plain);
        goto out;
    }
    f->plain_size = made->plain_size;
    f->size = made->size;
    memcpy(f->sha256, made->sha256, sizeof(f->sha256));
    free(f->path);
    f->path = zname;
    zname = NULL;
 out:
    free(plain);
    free(zname);
    free(zpath);
    return rc;
}

static int add_data(exporter *x, const char *data, xlsnap__bundle_file *f)
{
    int rc;

    if (!f) return xlsnap__nomem(x->ctx);   /* from manifest_add */
    f->size = strlen(data);
    if ((rc = xlsnap__sha256_data(data, f->size, f->sha256)))
        return xlsnap__sha256_error(x->ctx, rc);
    x->bytes += f->size;
    if (x->out >= 0)
        return xlsnap__tar_put_data(x->ctx, x->out, f->path, data, f->size);
    return xlsnap__write_file_atomic(x->ctx, x->dir, f->path, data,
                                     f->size);
}

/* The image of disk d at out: the snapshot's state standalone, or a
 * delta on base; *made: what the driver learnt of it as it wrote it. */
static int make_image(exporter *x, const xlsnap_disk *d,
                      const xlsnap_snapshot *base, const char *out,
                      xlsnap__export_made *made)
{
    xlsnap_ctx *ctx = x->ctx;
    const xlsnap__disk_driver *drv = xlsnap__disk_driver_ops(d);
    xlsnap__disk_op op = XLSNAP__DISK_OP(ctx, x->sn->domain_uuid);
    const xlsnap_disk *bd = NULL;
    int rc;

    if (base && !(bd = xlsnap__snapshot_disk(base, d->vdev)))
        rc = xlsnap__error_hint(ctx, XLSNAP_ERROR_NOTFOUND,
                                XLSNAP_HINT_EXPORT_FULL, "base snapshot '%s' "
                                "has no disk %s", base->name, d->vdev);
    else if (!drv || !drv->export)
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "its storage driver "
                           "'%s' cannot export", d->driver ? d->driver : "");
    else
        rc = drv->export(&op, d, bd, base ? base->name : NULL, out, made);
    if (rc) {
        unlink(out);
        rc = xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev);
    }
    return rc;
}

static int export_disk(exporter *x, const xlsnap_disk *d,
                       const xlsnap_snapshot *base)
{
    xlsnap_ctx *ctx = x->ctx;
    char *part = xlsnap__sprintf("disk-%s.qcow2", d->vdev);
    char *out = xlsnap__sprintf("%s/%s", x->dir, part);
    xlsnap__export_made made = { 0 };
    xlsnap__bundle_file *f;
    int rc;

    if (!part || !out) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    if (!xlsnap__bundle_name_ok(part)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "disk name %s cannot "
                           "be exported", d->vdev);
        goto out;
    }
    made.zstd = x->zstd;
    if ((rc = make_image(x, d, base, out, &made))) goto out;
    if (chmod(out, 0600) < 0) {      /* qemu-img created it per umask */
        rc = xlsnap__error_errno(ctx, errno, "cannot chmod %s", out);
        unlink(out);
        goto out;
    }
    f = xlsnap__manifest_add(&x->m, part, "disk");
    if (!f) { rc = xlsnap__nomem(ctx); unlink(out); goto out; }
    f->vdev = xlsnap__strdup(d->vdev);
    f->format = xlsnap__strdup("qcow2");
    if (!f->vdev || !f->format) {
        rc = xlsnap__nomem(ctx);
        unlink(out);
        goto out;
    }
    if (made.sha256[0]) {               /* hashed as it was written */
        f->virtual_size = made.virtual_size;
    } else if ((rc = xlsnap__qimg_virtual_size(ctx, out, "qcow2",
                                               &f->virtual_size))) {
        unlink(out);
        goto out;
    }
    if (made.compressed) {
        rc = compressed_part(x, f, &made);
    } else if (x->zstd) {
        rc = compress_part(x, NULL, f);
    } else if (made.sha256[0]) {
        f->size = made.size;
        memcpy(f->sha256, made.sha256, sizeof(f->sha256));
    }
    if (rc) {
        unlink(out);
        goto out;
    }
    rc = add_part(x, f, NULL);
 out:
    free(part);
    free(out);
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
        if (!(m->chain[m->num_chain++] = xlsnap__strdup(list[up[--n]].name)))
            rc = xlsnap__nomem(ctx);
    if (!(m->chain[m->num_chain++] = xlsnap__strdup(s->name)))
        rc = xlsnap__nomem(ctx);
 out:
    xlsnap__tree_dispose(&t);
    free(up);
    return rc;
}

/* Open the domain's store handle and find the snapshot and base. */
static int open_plan(exporter *x, const xlsnap_domain *dom,
                     const char *name, const char *base)
{
    xlsnap_ctx *ctx = x->ctx;
    xlsnap_snapshot *sn = NULL, *b = NULL;
    int idx, rc;

    if ((rc = xlsnap__store_open_find(ctx, dom->uuid, name, &x->h, &idx)) ||
        (rc = find(ctx, x->h.list, x->h.nr, name, &sn)))
        return rc;
    if (base && (rc = find(ctx, x->h.list, x->h.nr, base, &b)))
        return xlsnap__error_prefix(ctx, rc, "base");
    if (b == sn)
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "a snapshot cannot be "
                             "the base of its own delta");
    x->sn = sn;
    x->base = b;
    return 0;
}

/* Where the bundle goes: a new directory, or a stream staged in the
 * domain's state dir; and how it is compressed. */
static int open_dest(exporter *x, const xlsnap_domain *dom,
                     const xlsnap_export_params *p)
{
    xlsnap_ctx *ctx = x->ctx;
    int rc;

    if (p->dir) {
        if (mkdir(p->dir, 0700) < 0)
            return xlsnap__error_errno(ctx, errno, "cannot create bundle "
                                       "directory %s%s", p->dir,
                                       errno == EEXIST ? " (give a new one)"
                                                       : "");
        if (!(x->dir = xlsnap__strdup(p->dir))) {
            rmdir(p->dir);
            return xlsnap__nomem(ctx);
        }
    } else {
        if ((rc = xlsnap__store_staging_create(ctx, dom->uuid, "export",
                                               &x->dir, &x->stage_fd)))
            return rc;
        x->out = p->fd;
    }
    x->zstd = p->compress && !strcmp(p->compress, "zstd");
    if (p->compress && !x->zstd)
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "unknown compression "
                             "'%s' (zstd is supported)", p->compress);
    return 0;
}

/* The manifest's head: what the bundle holds, whose, its chain. */
static int manifest_head(exporter *x)
{
    xlsnap__manifest *m = &x->m;
    const xlsnap_snapshot *sn = x->sn;

    m->created = time(NULL);
    if (!(m->kind = xlsnap__strdup(x->base ? "delta" : "full")) ||
        !(m->snapshot = xlsnap__strdup(sn->name)) ||
        (x->base && !(m->base = xlsnap__strdup(x->base->name))) ||
        (sn->domain_name &&
         !(m->domain_name = xlsnap__strdup(sn->domain_name))) ||
        !(m->domain_uuid = xlsnap__strdup(sn->domain_uuid)))
        return xlsnap__nomem(x->ctx);
    return chain(x->ctx, m, x->h.list, x->h.nr, sn);
}

/* The record, the memory image, the disks. */
static int add_contents(exporter *x)
{
    xlsnap_ctx *ctx = x->ctx;
    const xlsnap_snapshot *sn = x->sn;
    char *json = NULL;
    int rc;

    if (!(rc = xlsnap_snapshot_to_json(ctx, sn, &json)))
        rc = add_data(x, json, xlsnap__manifest_add(&x->m, "record.json",
                                                    "record"));
    free(json);
    if (rc) return rc;
    if (sn->memory) {
        xlsnap__bundle_file *f = xlsnap__manifest_add(&x->m, "memory.save",
                                                      "memory");
        if (!f) return xlsnap__nomem(ctx);
        rc = x->zstd ? compress_part(x, sn->memory, f) : 0;
        if (!rc) rc = add_part(x, f, x->zstd ? NULL : sn->memory);
        if (rc) return rc;
    }
    for (int i = 0; i < sn->num_disks; i++)
        if ((rc = export_disk(x, &sn->disks[i], x->base))) return rc;
    return 0;
}

/* The manifest, last: a bundle without one is incomplete. */
static int add_manifest(exporter *x)
{
    xlsnap_ctx *ctx = x->ctx;
    char *json = NULL;
    int rc;

    if ((rc = xlsnap__manifest_to_json(ctx, &x->m, &json))) return rc;
    if (x->out >= 0) {
        rc = xlsnap__tar_put_data(ctx, x->out, XLSNAP__MANIFEST_FILE, json,
                                  strlen(json));
        if (!rc) rc = xlsnap__tar_end(ctx, x->out);
    } else {
        rc = xlsnap__write_file_atomic(ctx, x->dir, XLSNAP__MANIFEST_FILE,
                                       json, strlen(json));
    }
    x->bytes += strlen(json);
    free(json);
    return rc;
}

int xlsnap_export(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                  const char *name, const xlsnap_export_params *p,
                  uint64_t *bytes_r)
{
    exporter x = { .ctx = ctx, .h = XLSNAP__STORE_HANDLE_INIT,
                   .stage_fd = -1, .out = -1 };
    int rc;

    xlsnap__manifest_init(&x.m);
    if (!p->dir && p->fd < 0)
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "no destination");
    if ((rc = open_plan(&x, dom, name, p->base)) ||
        (rc = open_dest(&x, dom, p)) || (rc = manifest_head(&x)) ||
        (rc = add_contents(&x)) || (rc = add_manifest(&x)))
        goto out;
    if (bytes_r) *bytes_r = x.bytes;
 out:
    /* a stream's staging dir always goes; a directory bundle only if
     * it is incomplete */
    if (x.dir && (x.out >= 0 || rc)) xlsnap__remove_flat_dir(x.dir);
    if (x.stage_fd >= 0) close(x.stage_fd);
    xlsnap__store_close(&x.h);
    xlsnap__manifest_dispose(&x.m);
    free(x.dir);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
