/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * import.c - recreate a snapshot from a bundle (see bundle.c)
 *
 * A bundle is untrusted input (SECURITY in xl-snapshot(1)):
 *  1. every member is copied into a private staging dir in the state
 *     dir (0700, files 0600), hashed as it is written there -- a stream
 *     as it is unpacked, a directory bundle member by member (regular
 *     files only); nothing is read from the bundle again;
 *  2. every staged member is checked against the manifest (size,
 *     SHA-256); zstd members are decoded, never past their declared
 *     plain-size; each disk is inspected (a self-contained qcow2 image
 *     of the declared virtual size; a delta's only backing is the base
 *     placeholder); the record against the manifest; the delta's base
 *     must exist, no destination may exist -- before anything is placed;
 *  3. intent: a delta's staged disks are pointed at the base snapshot's
 *     images; a 'preparing' record under the target domain, its config
 *     the domain's own here or else the bundle's rebuilt from an
 *     allowlist, and its parts file (verify.c): every file about to be
 *     placed with its size and SHA-256, so that check --repair completes
 *     only data that verifies and delete knows the images are ours;
 *  4. disks are placed in disk_dir or next to the domain's own images
 *     as <stem>.<snapshot>.qcow2; the memory image goes into the state
 *     dir;
 *  5. the record becomes ready.  A failure after 3 removes what was
 *     placed and the record.
 * In the code: read (1, 2: read_bundle), plan (2: plan, under the target
 * domain's store handle), act (3, 4), commit (5); what act created is
 * tracked in the importer, and undone on failure.
 */
#include "internal.h"
#include "bundle/volume.h"

#include <ctype.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>

void xlsnap_import_params_init(xlsnap_import_params *p)
{
    memset(p, 0, sizeof(*p));
    p->fd = -1;
}

typedef struct {
    char name[100];
    uint64_t size;
    char sha256[65];
} member;


/* Unpack the tar stream on fd into dir; the manifest stays in memory. */
static int unpack(xlsnap_ctx *ctx, int fd, const char *dir, member **mem_r,
                  int *nr_r, char **manifest_r, size_t *mlen_r)
{
    member *mem = NULL;
    int nr = 0, rc;

    for (;;) {
        char name[100], *path;
        uint64_t size;
        int out;

        if ((rc = xlsnap__tar_next(ctx, fd, name, &size)) <= 0) break;
        if (!xlsnap__bundle_name_ok(name)) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the bundle has a "
                               "member named '%s', which is not allowed",
                               name);
            break;
        }
        if (!strcmp(name, XLSNAP__MANIFEST_FILE)) {
            if (*manifest_r || size > XLSNAP__MANIFEST_MAX) {
                rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the bundle "
                                   "has a bad manifest");
                break;
            }
            *manifest_r = malloc(size + 1);
            if (!*manifest_r) { rc = xlsnap__nomem(ctx); break; }
            if ((rc = xlsnap__read_full(ctx, fd, *manifest_r, size))) break;
            (*manifest_r)[size] = '\0';
            *mlen_r = size;
        } else {
            if (nr >= 4100) {
                rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the bundle "
                                   "has too many members");
                break;
            }
            member *nm = realloc(mem, (nr + 1) * sizeof(*mem));
            if (!nm) { rc = xlsnap__nomem(ctx); break; }
            mem = nm;
            if (!(path = xlsnap__sprintf("%s/%s", dir, name))) {
                rc = xlsnap__nomem(ctx);
                break;
            }
            out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                       O_CLOEXEC, 0600);
            if (out < 0) {
                rc = errno == EEXIST
                    ? xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the bundle "
                                    "has member %s twice", name)
                    : xlsnap__error_errno(ctx, errno, "cannot create %s",
                                          path);
                free(path);
                break;
            }
            free(path);
            memcpy(mem[nr].name, name, sizeof(name));
            mem[nr].size = size;
            rc = xlsnap__copy_hashed(ctx, fd, out, size, name, NULL,
                                     mem[nr].sha256);
            close(out);
            nr++;
            if (rc) break;
        }
        if ((rc = xlsnap__tar_skip_pad(ctx, fd, size))) break;
    }
    *mem_r = mem;
    *nr_r = nr;
    if (!rc && !*manifest_r)
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the bundle has no "
                           "manifest (incomplete export?)");
    return rc;
}

/*
 * Copy the members the manifest lists from the directory bundle dir
 * into the private staging dir, hashing the bytes as they are written:
 * what is checked is what is placed, whatever happens to dir meanwhile.
 * Only regular files (a FIFO or device must not hang or feed us).
 */
static int stage_dir(xlsnap_ctx *ctx, const char *dir, const char *stage,
                     const xlsnap__manifest *m, member **mem_r, int *nr_r)
{
    member *mem = calloc(m->num_files + 1, sizeof(*mem));
    int rc = 0;

    if (!mem) return xlsnap__nomem(ctx);
    *mem_r = mem;
    *nr_r = 0;
    for (int k = 0; !rc && k < m->num_files; k++) {
        const xlsnap__bundle_file *f = &m->files[k];
        char *from = xlsnap__sprintf("%s/%s", dir, f->path);
        char *to = xlsnap__sprintf("%s/%s", stage, f->path);
        struct stat st;
        int in = -1, out = -1;

        if (!from || !to)
            rc = xlsnap__nomem(ctx);
        else if ((in = open(from, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
                            O_CLOEXEC)) < 0)
            rc = errno == ENOENT
               ? xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "bundle member %s "
                               "is missing", f->path)
               : errno == ELOOP
               ? xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "bundle member %s "
                               "is a symbolic link", f->path)
               : xlsnap__error_errno(ctx, errno, "cannot read %s", from);
        else if (fstat(in, &st) < 0)
            rc = xlsnap__error_errno(ctx, errno, "cannot read %s", from);
        else if (!S_ISREG(st.st_mode))
            rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "bundle member %s "
                               "is not a regular file", f->path);
        else if ((uint64_t)st.st_size != f->size)
            rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "bundle member %s "
                               "does not match its checksum in the manifest "
                               "(corrupted or changed)", f->path);
        else if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                             O_CLOEXEC, 0600)) < 0)
            rc = xlsnap__error_errno(ctx, errno, "cannot create %s", to);
        else {
            snprintf(mem[*nr_r].name, sizeof(mem[*nr_r].name), "%s",
                     f->path);
            rc = xlsnap__copy_hashed(ctx, in, out, f->size, f->path,
                                     &mem[*nr_r].size, mem[*nr_r].sha256);
            (*nr_r)++;
        }
        if (in >= 0) close(in);
        if (out >= 0) close(out);
        free(from);
        free(to);
    }
    return rc;
}

/* Check every staged member against the manifest. */
static int verify(xlsnap_ctx *ctx, const xlsnap__manifest *m,
                  const member *mem, int nr_mem)
{
    for (int i = 0; i < nr_mem; i++) {
        bool listed = false;
        for (int k = 0; k < m->num_files; k++)
            listed |= !strcmp(m->files[k].path, mem[i].name);
        if (!listed)
            return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the bundle has "
                                 "a member %s its manifest does not list",
                                 mem[i].name);
    }
    for (int k = 0; k < m->num_files; k++) {
        const xlsnap__bundle_file *f = &m->files[k];
        const member *e = NULL;

        for (int i = 0; i < nr_mem; i++)
            if (!strcmp(mem[i].name, f->path)) e = &mem[i];
        if (!e)
            return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "bundle member "
                                 "%s is missing", f->path);
        if (e->size != f->size || strcmp(e->sha256, f->sha256))
            return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "bundle member "
                                 "%s does not match its checksum in the "
                                 "manifest (corrupted or changed)", f->path);
    }
    return 0;
}

static const xlsnap__bundle_file *file_for(const xlsnap__manifest *m,
                                           const char *vdev)
{
    for (int i = 0; i < m->num_files; i++)
        if (m->files[i].vdev && !strcmp(m->files[i].vdev, vdev))
            return &m->files[i];
    return NULL;
}

/* Why the qcow2 header of file refuses it as a disk of a full bundle
 * (base NULL) or of a delta on base: *why_r, NULL if it does not. */
static int check_header(xlsnap_ctx *ctx, const char *file, const char *base,
                        const char **why_r)
{
    xlsnap__qcow2hdr h;
    int rc, fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    *why_r = NULL;
    if (fd < 0)
        return xlsnap__error_errno(ctx, errno, "cannot read %s", file);
    rc = xlsnap__qcow2_header(ctx, fd, &h, why_r);
    close(fd);
    if (rc || *why_r) {
        /* (only the file's name is known to the caller's message) */
    } else if (h.data_file) {
        *why_r = "it has an external data file (data-file)";
    } else if (h.backing && !strncmp(h.backing, "json:", 5)) {
        *why_r = "its backing file is a json: name";
    } else if (!base && h.backing) {
        *why_r = "it has a backing file (a full bundle's disks stand alone)";
    } else if (base && !h.backing) {
        *why_r = "it has no backing file, but a delta's disk builds on the "
                 "base";
    }
    xlsnap__qcow2hdr_dispose(&h);
    return rc;
}

/*
 * A disk member, as staged (plain), must be a qcow2 image that opens
 * nothing but itself: no data file, no backing file in a full bundle,
 * in a delta exactly the placeholder export writes for the base
 * ("xl-snapshot-base:<base>", replaced on import by the base's image),
 * and the virtual size the manifest declares.  The header is read here
 * first, so qemu-img never sees (or opens) a data file or a non-qcow2
 * file; then qemu-img info -f qcow2, which opens no backing file.
 */
static int inspect_disk(xlsnap_ctx *ctx, const char *file,
                        const xlsnap__bundle_file *f, const char *base)
{
    const char *bp[] = { "backing-filename", NULL },
               *fp[] = { "format", NULL },
               *vp[] = { "virtual-size", NULL },
               *dp[] = { "format-specific", "data", "data-file", NULL };
    char *want = base ? xlsnap__sprintf("xl-snapshot-base:%s", base) : NULL;
    const char *why = NULL;
    yajl_val root = NULL, v;
    int rc = 0;

    if (base && !want) return xlsnap__nomem(ctx);
    if ((rc = check_header(ctx, file, base, &why))) goto out;
    if (why) goto refuse;
    if ((rc = xlsnap__qimg_info(ctx, file, "qcow2", &root))) goto out;
    v = yajl_tree_get(root, fp, yajl_t_string);
    if (!v || strcmp(v->u.string, "qcow2")) {
        why = "qemu-img does not read it as qcow2";
        goto refuse;
    }
    if (yajl_tree_get(root, dp, yajl_t_any)) {
        why = "it has an external data file (data-file)";
        goto refuse;
    }
    v = yajl_tree_get(root, bp, yajl_t_string);
    if (v && !strncmp(v->u.string, "json:", 5)) {
        why = "its backing file is a json: name";
        goto refuse;
    }
    if (!base && v) {
        why = "it has a backing file (a full bundle's disks stand alone)";
        goto refuse;
    }
    if (base && (!v || strcmp(v->u.string, want))) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "bundle member %s is "
                           "refused: its backing file is not the base "
                           "snapshot '%s'", f->path, base);
        goto out;
    }
    v = yajl_tree_get(root, vp, yajl_t_number);
    if (!v || !YAJL_IS_INTEGER(v) ||
        (uint64_t)YAJL_GET_INTEGER(v) != f->virtual_size) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "bundle member %s is "
                           "refused: its virtual size is not the %llu "
                           "bytes the manifest declares", f->path,
                           (unsigned long long)f->virtual_size);
        goto out;
    }
    goto out;
 refuse:
    rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "bundle member %s is "
                       "refused: %s", f->path, why);
 out:
    if (root) yajl_tree_free(root);
    free(want);
    return rc;
}

/* Put the staged file src at dst, which must not exist: a link (the
 * staging dir is ours, 0700), or a copy across file systems. */
static int place(xlsnap_ctx *ctx, const char *src, const char *dst)
{
    if (link(src, dst) == 0) {
        unlink(src);
        return 0;
    }
    return xlsnap__copy_file(ctx, src, dst, XLSNAP__COPY_PLAIN, NULL, NULL);
}

/* A virtual device name: what names a disk member and an image file. */
static bool vdev_ok(const char *v)
{
    size_t n = v ? strlen(v) : 0;

    if (!n || n > 31) return false;
    for (; *v; v++)
        if (!isalnum((unsigned char)*v)) return false;
    return true;
}

/* This host's configuration of the domain: the running domain's, or the
 * one stored with its newest snapshot; NULL if none. */
static int own_config(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                      const xlsnap_snapshot *list, int nr, char **cfg_r)
{
    const xlsnap_snapshot *best = NULL;

    *cfg_r = NULL;
    if (dom->domid >= 0) return xlsnap__hv_config(ctx, dom->domid, cfg_r);
    for (int i = 0; i < nr; i++)
        if (list[i].config_json &&
            (!best || list[i].creationtime >= best->creationtime))
            best = &list[i];
    if (best && !(*cfg_r = xlsnap__strdup(best->config_json)))
        return xlsnap__nomem(ctx);
    return 0;
}

/* *d = a copy of s (NULL stays NULL); false when out of memory. */
static bool dup_to(char **d, const char *s)
{
    *d = xlsnap__strdup(s);
    return *d || !s;
}

/* The domain the snapshot goes to: the bundle's, or as_domain (an
 * existing domain's UUID, else a new one). */
static int target_domain(xlsnap_ctx *ctx, const xlsnap_import_params *p,
                         const xlsnap__manifest *m, xlsnap_domain *d)
{
    int rc;

    if (!p->as_domain) {
        if (m->domain_name && !xlsnap__domain_name_ok(m->domain_name))
            return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the bundle was "
                                 "refused, nothing was imported: its domain "
                                 "name is not a valid name (control "
                                 "characters, '/' or not UTF-8)");
        if (!dup_to(&d->name, m->domain_name) ||
            !(d->uuid = xlsnap__uuid_canon(m->domain_uuid)))
            return xlsnap__nomem(ctx);
        return 0;
    }
    rc = xlsnap_domain_resolve(ctx, p->as_domain, d);
    if (rc != XLSNAP_ERROR_NOTFOUND) return rc;
    if (xlsnap__is_uuid(p->as_domain))
        return xlsnap__error_hint(ctx, XLSNAP_ERROR_INVAL,
                                  XLSNAP_HINT_AS_DOMAIN_NAME, "the domain to "
                                  "import as is a UUID, not a name");
    xlsnap_domain_dispose(d);
    if (!(d->name = xlsnap__strdup(p->as_domain)))
        return xlsnap__nomem(ctx);
    return xlsnap__uuid_generate(ctx, &d->uuid);
}

/*
 * One import, phase by phase: read (the bundle staged and checked),
 * plan (against the target domain's records, under its store handle),
 * act (the record as preparing, the images placed), commit (the record
 * ready).  What act created is tracked here, so that a failure removes
 * exactly that and nothing else.
 */
typedef struct {
    xlsnap_ctx *ctx;
    const xlsnap_import_params *p;
    /* read */
    xlsnap__manifest m;
    member *mem;                  /* the staged members */
    int nr_mem;
    char *stage;                  /* private staging dir, locked by */
    int stage_fd;
    char *mtext;                  /* the manifest as read */
    size_t mlen;
    char **plain;                 /* per manifest file: staged, plain */
    member *decoded;              /* per manifest file: size and SHA-256
                                   * of plain, when decoded ("": not) */
    xlsnap_snapshot rec;          /* the bundle's record */
    /* plan */
    xlsnap_domain dom;
    xlsnap__store_handle h;       /* the target domain's lock + records */
    const xlsnap_snapshot *base;  /* a delta's base, in h.list */
    xlsnap_snapshot sn;           /* the new record */
    char **dst;                   /* per disk of sn: its image file */
    char *vg, *pool;              /* volume_group: the VG (and pool) */
    /* act: what this import created */
    bool wrote;                   /* sn's record */
    int placed;                   /* dst[0 .. placed) */
    bool memory_placed;           /* sn.memory */
    int lv_made;                  /* volume_group: origins of disks
                                   * [0 .. lv_made) created */
    int snap_made;                /* and their snapshot LVs */
} importer;

static void importer_init(importer *im, xlsnap_ctx *ctx,
                          const xlsnap_import_params *p)
{
    memset(im, 0, sizeof(*im));
    im->ctx = ctx;
    im->p = p;
    im->stage_fd = -1;
    im->h = (xlsnap__store_handle)XLSNAP__STORE_HANDLE_INIT;
    xlsnap__manifest_init(&im->m);
    xlsnap_snapshot_init(&im->rec);
    xlsnap_snapshot_init(&im->sn);
    xlsnap_domain_init(&im->dom);
}

static void importer_dispose(importer *im)
{
    if (im->stage) xlsnap__remove_flat_dir(im->stage);
    if (im->stage_fd >= 0) close(im->stage_fd);
    xlsnap__store_close(&im->h);
    for (int i = 0; im->dst && i < im->rec.num_disks; i++) free(im->dst[i]);
    free(im->dst);
    free(im->vg);
    free(im->pool);
    for (int k = 0; im->plain && k < im->m.num_files; k++)
        free(im->plain[k]);
    free(im->plain);
    free(im->decoded);
    xlsnap__manifest_dispose(&im->m);
    xlsnap_snapshot_dispose(&im->rec);
    xlsnap_snapshot_dispose(&im->sn);
    xlsnap_domain_dispose(&im->dom);
    free(im->mem);
    free(im->stage);
    free(im->mtext);
}

/* A bundle that fails its checks: nothing was imported. */
static int refuse(xlsnap_ctx *ctx, int rc)
{
    if (rc == XLSNAP_ERROR_CORRUPT || rc == XLSNAP_ERROR_NOTSUP)
        rc = xlsnap__error_prefix(ctx, rc, "%s", "the bundle was refused, "
                                  "nothing was imported");
    return rc;
}

/* ---- read: the bundle staged and checked, nothing placed ---- */

/* Every member into a private staging dir, hashed as it is written
 * there; nothing is read from the bundle again. */
static int stage_bundle(importer *im)
{
    xlsnap_ctx *ctx = im->ctx;
    const xlsnap_import_params *p = im->p;
    int rc;

    if (p->dir) {
        char *path = xlsnap__sprintf("%s/%s", p->dir, XLSNAP__MANIFEST_FILE);
        if (!path) return xlsnap__nomem(ctx);
        rc = xlsnap__read_file(ctx, AT_FDCWD, path, XLSNAP__MANIFEST_MAX,
                               &im->mtext, &im->mlen);
        free(path);
        if (rc == XLSNAP_ERROR_NOTFOUND)
            rc = xlsnap__error(ctx, rc, "%s has no %s: not a bundle, or an "
                               "incomplete one", p->dir,
                               XLSNAP__MANIFEST_FILE);
        if (rc) return rc;
        if ((rc = xlsnap__manifest_parse(ctx, im->mtext, im->mlen, &im->m)))
            return refuse(ctx, rc);
    }
    if ((rc = xlsnap__store_staging_create(ctx, NULL, "import", &im->stage,
                                           &im->stage_fd)))
        return rc;
    if (p->dir)
        rc = stage_dir(ctx, p->dir, im->stage, &im->m, &im->mem,
                       &im->nr_mem);
    else if (!(rc = unpack(ctx, p->fd, im->stage, &im->mem, &im->nr_mem,
                           &im->mtext, &im->mlen)))
        rc = xlsnap__manifest_parse(ctx, im->mtext, im->mlen, &im->m);
    return refuse(ctx, rc);
}

/* Decode: never more than the manifest declares. */
static int decode(importer *im)
{
    xlsnap_ctx *ctx = im->ctx;
    const xlsnap__manifest *m = &im->m;
    int rc;

    im->plain = calloc(m->num_files + 1, sizeof(*im->plain));
    im->decoded = calloc(m->num_files + 1, sizeof(*im->decoded));
    if (!im->plain || !im->decoded) return xlsnap__nomem(ctx);
    for (int k = 0; k < m->num_files; k++) {
        const xlsnap__bundle_file *f = &m->files[k];
        char *z = xlsnap__sprintf("%s/%s", im->stage, f->path);
        if (!z) return xlsnap__nomem(ctx);
        if (!f->encoding) {
            im->plain[k] = z;
            continue;
        }
        if (!(im->plain[k] = xlsnap__sprintf("%s/.plain-%d", im->stage,
                                             k))) {
            free(z);
            return xlsnap__nomem(ctx);
        }
        /* hashed as it is written: what verifies the placed file */
        rc = xlsnap__decompress_file(ctx, z, im->plain[k], f->plain_size,
                                     &im->decoded[k].size,
                                     im->decoded[k].sha256);
        unlink(z);
        free(z);
        if (rc)
            return refuse(ctx, xlsnap__error_prefix(ctx, rc, "bundle member "
                                                    "%s", f->path));
    }
    return 0;
}

/* The bundle's record, checked against its manifest. */
static int read_record(importer *im)
{
    xlsnap_ctx *ctx = im->ctx;
    const xlsnap__manifest *m = &im->m;
    xlsnap_snapshot *rec = &im->rec;
    const char *path = NULL;
    char *rtext = NULL;
    size_t rlen;
    bool has = false;
    int rc;

    for (int k = 0; k < m->num_files; k++)
        if (!strcmp(m->files[k].role, "record")) path = im->plain[k];
    rc = xlsnap__read_file(ctx, AT_FDCWD, path, XLSNAP__RECORD_MAX, &rtext,
                           &rlen);
    if (!rc) rc = xlsnap_snapshot_from_json(ctx, rtext, rec);
    free(rtext);
    if (rc) return refuse(ctx, rc);
    if (strcmp(rec->name, m->snapshot) ||
        strcasecmp(rec->domain_uuid, m->domain_uuid))
        return refuse(ctx, xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the "
                                         "record in the bundle is not the "
                                         "one its manifest names"));
    for (int i = 0; i < rec->num_disks; i++)
        if (!file_for(m, rec->disks[i].vdev))
            return refuse(ctx, xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the "
                                             "bundle has no image for disk "
                                             "%s", rec->disks[i].vdev));
    for (int i = 0; i < m->num_files; i++)
        has |= !strcmp(m->files[i].role, "memory");
    if (rec->memory && !has)
        return refuse(ctx, xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the "
                                         "bundle has no memory image for a "
                                         "snapshot with memory"));
    return 0;
}

/* Read and verify everything before anything is written. */
static int read_bundle(importer *im)
{
    int rc;

    if ((rc = stage_bundle(im))) return rc;
    if ((rc = verify(im->ctx, &im->m, im->mem, im->nr_mem)))
        return refuse(im->ctx, rc);
    xlsnap__fault_point("import-verified");
    if ((rc = decode(im)) || (rc = read_record(im))) return rc;
    for (int k = 0; k < im->m.num_files; k++)
        if (!strcmp(im->m.files[k].role, "disk") &&
            (rc = inspect_disk(im->ctx, im->plain[k], &im->m.files[k],
                               im->m.base)))
            return refuse(im->ctx, rc);
    return 0;
}

/* ---- plan: against the target domain's records, under its lock ---- */

static const char *dom_shown(const xlsnap_domain *dom)
{
    return dom->name ? dom->name : dom->uuid;
}

/* The name is free; a delta's base is there and ready. */
static int plan_names(importer *im)
{
    xlsnap_ctx *ctx = im->ctx;
    const char *b = im->m.base;
    int bi;

    if (xlsnap__list_find(im->h.list, im->h.nr, im->rec.name) >= 0)
        return xlsnap__error(ctx, XLSNAP_ERROR_EXISTS, "domain %s already "
                             "has a snapshot '%s'", dom_shown(&im->dom),
                             im->rec.name);
    if (b && (bi = xlsnap__list_find(im->h.list, im->h.nr, b)) >= 0)
        im->base = &im->h.list[bi];
    if (b && (!im->base || im->base->state != XLSNAP_STATE_READY))
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "this is a delta "
                             "bundle on snapshot '%s', which domain %s does "
                             "not have%s: import the bundle of '%s' first", b,
                             dom_shown(&im->dom), im->base ? " ready" : "",
                             b);
    return 0;
}

/* The new record, preparing, under the target domain: its parent if
 * this host has it, else a delta's base. */
static int plan_record(importer *im)
{
    xlsnap_ctx *ctx = im->ctx;
    const xlsnap_snapshot *rec = &im->rec;
    xlsnap_snapshot *sn = &im->sn;
    int rc;

    sn->creationtime = rec->creationtime;
    sn->state = XLSNAP_STATE_PREPARING;
    if (!dup_to(&sn->name, rec->name) ||
        !dup_to(&sn->description, rec->description) ||
        !dup_to(&sn->domstate, rec->domstate) ||
        !dup_to(&sn->domain_name, im->dom.name) ||
        !dup_to(&sn->domain_uuid, im->dom.uuid))
        return xlsnap__nomem(ctx);
    if (xlsnap__list_find(im->h.list, im->h.nr, rec->parent) >= 0 &&
        !dup_to(&sn->parent, rec->parent))
        return xlsnap__nomem(ctx);
    if (!sn->parent && !dup_to(&sn->parent, im->m.base))
        return xlsnap__nomem(ctx);
    if (rec->memory &&
        (rc = xlsnap__store_memory_path(ctx, im->dom.uuid, sn->name, false,
                                        &sn->memory)))
        return rc;
    sn->num_disks = rec->num_disks;
    sn->disks = calloc(rec->num_disks + 1, sizeof(*sn->disks));
    im->dst = calloc(rec->num_disks + 1, sizeof(*im->dst));
    if (!sn->disks || !im->dst) return xlsnap__nomem(ctx);
    return 0;
}

/* Where disk i's image goes: in disk_dir (named as in the bundle, if
 * that is a plain name), or next to the domain's own image on this
 * host (mine); it must not exist. */
static int plan_disk_file(importer *im, int i, const char *mine)
{
    xlsnap_ctx *ctx = im->ctx;
    const xlsnap_disk *rd = &im->rec.disks[i];
    const char *dir = im->p->disk_dir;
    char *b;

    if (dir) {
        char *t = xlsnap__strdup(rd->image), *bn;
        if (rd->image && !t) return xlsnap__nomem(ctx);
        bn = basename(t);
        b = xlsnap__sprintf("%s/%s", dir,
                            xlsnap__bundle_name_ok(bn) ? bn : rd->vdev);
        free(t);
    } else if (mine) {
        b = xlsnap__strdup(mine);
    } else {
        return xlsnap__error_hint(ctx, XLSNAP_ERROR_INVAL,
                                  XLSNAP_HINT_DISK_DIR, "disk %s: domain %s "
                                  "has no image for it on this host to put "
                                  "the imported one next to",
                                  rd->vdev, dom_shown(&im->dom));
    }
    if (!b) return xlsnap__nomem(ctx);
    im->dst[i] = xlsnap__image_sibling(b, im->sn.name);
    free(b);
    if (!im->dst[i]) return xlsnap__nomem(ctx);
    if (access(im->dst[i], F_OK) == 0 || errno != ENOENT)
        return xlsnap__error_hint(ctx, XLSNAP_ERROR_EXISTS,
                                  XLSNAP_HINT_DISK_DIR_TAKEN, "disk %s: %s "
                                  "already exists; nothing was imported",
                                  rd->vdev, im->dst[i]);
    return 0;
}

static bool is_blockdev(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISBLK(st.st_mode);
}

/*
 * Disk i onto the volume group (import_params.volume_group): a new LV
 * named after the bundle's volume (or image file, or vdev) in LVM's
 * characters, of the manifest's virtual size, and its snapshot LV
 * "<LV>-xs-<snapshot>", neither of which may exist; the record's disk
 * is the lvm driver's.  A delta makes no LV: it builds on its base's
 * disk there (a thin snapshot volume of that volume group), its own
 * snapshot LV a thin snapshot of the base's, of the same origin.
 */
static int plan_disk_volume(importer *im, int i)
{
    xlsnap_ctx *ctx = im->ctx;
    const xlsnap_disk *rd = &im->rec.disks[i];
    xlsnap_disk *d = &im->sn.disks[i];
    const xlsnap__bundle_file *f = file_for(&im->m, rd->vdev);
    char *t = NULL, *lv = NULL, *sl = NULL, *s = NULL;
    const char *from = rd->vdev;
    int rc;

    if (im->base) {
        const xlsnap_disk *bd = xlsnap__snapshot_disk(im->base, rd->vdev);
        if (!bd)
            return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "base snapshot "
                                 "'%s' has no disk %s to build the delta "
                                 "on", im->m.base, rd->vdev);
        if ((rc = xlsnap__lvm_delta_base(ctx, bd, im->vg, im->dom.uuid)))
            return rc;
        from = bd->volume;
    } else if (rd->kind == XLSNAP_DISK_VOLUME && rd->volume && *rd->volume) {
        from = rd->volume;
    } else if (rd->image) {
        char *dot;
        if (!(t = xlsnap__strdup(rd->image))) return xlsnap__nomem(ctx);
        from = basename(t);
        if ((dot = strrchr(from, '.')) && dot != from) *dot = '\0';
        if (!*from) from = rd->vdev;
    }
    if (!(lv = xlsnap__lvm_name(from, 60)) ||
        !(s = xlsnap__lvm_name(im->sn.name, 80))) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    if (lv[0] == '-' || lv[0] == '.' || lv[0] == '_') lv[0] = 'x';
    if (im->base) {
        /* the base's origin, as it is named */
        free(lv);
        if (!(lv = xlsnap__strdup(from))) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
    }
    if (!(sl = xlsnap__sprintf("%s-xs-%s", lv, s))) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    for (int k = 0; k < i; k++)
        if (!strcmp(im->sn.disks[k].volume, lv)) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_EXISTS, "disks %s and %s "
                               "would both be logical volume %s/%s",
                               im->sn.disks[k].vdev, rd->vdev, im->vg, lv);
            goto out;
        }
    {
        const char *taken = NULL;

        /* a delta's origin is its base's */
        if (!im->base && (rc = xlsnap__lvm_exists(ctx, im->vg, lv)) > 0)
            taken = lv;
        else if (!rc && (rc = xlsnap__lvm_exists(ctx, im->vg, sl)) > 0)
            taken = sl;
        if (taken) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_EXISTS, "disk %s: logical "
                               "volume %s/%s already exists; nothing was "
                               "imported", rd->vdev, im->vg, taken);
            goto out;
        }
    }
    if (rc < 0) goto out;
    if (!f || !f->virtual_size) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the bundle was "
                           "refused, nothing was imported: disk %s has no "
                           "size", rd->vdev);
        goto out;
    }
    d->kind = XLSNAP_DISK_VOLUME;
    if (!(d->vdev = xlsnap__strdup(rd->vdev)) ||
        !(d->format = xlsnap__strdup("raw")) ||
        !(d->image = xlsnap__sprintf("/dev/%s/%s", im->vg, lv)) ||
        !(d->driver = xlsnap__strdup("lvm")) ||
        !(d->volume_group = xlsnap__strdup(im->vg))) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    d->volume = lv;
    d->snapshot_volume = sl;
    lv = sl = NULL;
    rc = 0;
 out:
    free(t);
    free(lv);
    free(sl);
    free(s);
    return rc;
}

/* Disk i of the new record: an external qcow2 image at dst[i]; a
 * delta's needs the base's image file to build on. */
static int plan_disk(importer *im, int i, const xlsnap__cfgdisk *cd,
                     int ncd)
{
    xlsnap_ctx *ctx = im->ctx;
    const xlsnap_disk *rd = &im->rec.disks[i];
    xlsnap_disk *d = &im->sn.disks[i];
    const xlsnap_disk *bd;
    const char *mine = NULL;
    int rc;

    if (!vdev_ok(rd->vdev))
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the bundle was "
                             "refused, nothing was imported: disk name "
                             "'%s' is not a virtual device name", rd->vdev);
    if (im->vg) return plan_disk_volume(im, i);
    for (int k = 0; k < ncd; k++)
        if (!strcmp(cd[k].vdev, rd->vdev) && cd[k].path &&
            cd[k].path[0] == '/')
            mine = cd[k].path;
    if (!im->p->disk_dir && mine && is_blockdev(mine))
        return xlsnap__error_hint(ctx, XLSNAP_ERROR_INVAL,
                                  XLSNAP_HINT_DISK_DIR, "disk %s: domain %s "
                                  "has the block device %s for it on this "
                                  "host, no directory to put the imported "
                                  "image in (import onto a disk directory "
                                  "or a volume group)", rd->vdev,
                                  dom_shown(&im->dom), mine);
    if ((rc = plan_disk_file(im, i, mine))) return rc;
    d->kind = XLSNAP_DISK_EXTERNAL;
    if (!(d->vdev = xlsnap__strdup(rd->vdev)) ||
        !(d->format = xlsnap__strdup("qcow2")) ||
        !(d->image = xlsnap__strdup(im->dst[i])) ||
        !(d->backing = xlsnap__strdup(im->dst[i])))
        return xlsnap__nomem(ctx);
    if (im->base && (!(bd = xlsnap__snapshot_disk(im->base, rd->vdev)) ||
                     bd->kind != XLSNAP_DISK_EXTERNAL))
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "base snapshot '%s' "
                             "has no image file for disk %s to build the "
                             "delta on", im->m.base, rd->vdev);
    return 0;
}

/* The new record's disks and config: this host's config of the domain,
 * if it has one, wins, and its disks say where the images go without
 * disk_dir; else the bundle's, rebuilt from an allowlist. */
static int plan_disks_config(importer *im)
{
    xlsnap_ctx *ctx = im->ctx;
    xlsnap_snapshot *sn = &im->sn;
    xlsnap__cfgdisk *cd = NULL;
    char *own = NULL;
    int ncd = 0, rc;

    if ((rc = own_config(ctx, &im->dom, im->h.list, im->h.nr, &own)) ||
        (own && (rc = xlsnap__config_disks(ctx, own, &cd, &ncd))))
        goto out;
    for (int i = 0; i < sn->num_disks; i++)
        if ((rc = plan_disk(im, i, cd, ncd))) goto out;
    if (sn->memory && access(sn->memory, F_OK) == 0) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_EXISTS, "%s already exists",
                           sn->memory);
        goto out;
    }
    if (own) {
        rc = xlsnap__config_rewrite(ctx, own, NULL, NULL, sn->disks,
                                    sn->num_disks, &sn->config_json);
    } else {
        const char *dirs[] = { im->p->kernel_dir, NULL };
        rc = xlsnap__config_sanitize(ctx, im->rec.config_json, im->dom.name,
                                     im->dom.uuid, sn->disks, sn->num_disks,
                                     dirs, &sn->config_json);
    }
 out:
    free(own);
    xlsnap__cfgdisk_list_free(cd, ncd);
    return rc;
}

/* Open the target domain's store handle and plan the new record. */
static int plan(importer *im)
{
    int rc;

    if ((rc = target_domain(im->ctx, im->p, &im->m, &im->dom)) ||
        (rc = xlsnap__store_open(im->ctx, im->dom.uuid,
                                 XLSNAP__STORE_CREATE, &im->h)) ||
        (rc = plan_names(im)))
        return rc;
    if (im->p->volume_group &&
        (rc = xlsnap__lvm_target(im->ctx, im->p->volume_group, &im->vg,
                                 &im->pool)))
        return rc;
    if ((rc = plan_record(im))) return rc;
    return plan_disks_config(im);
}

/* ---- act, commit, undo ---- */

/*
 * What verifies manifest file k once placed (d1, verify.c): the
 * manifest's size and SHA-256 when the staged plain file is the member
 * as it was checked, those decode took of what it wrote, else (rebased:
 * qemu-img rewrote the header) those of the plain file, hashed here.
 */
static int part_of(importer *im, int k, bool rebased, xlsnap__part *q)
{
    const xlsnap__bundle_file *f = &im->m.files[k];
    int fd, rc;

    if (!f->encoding && !rebased) {
        q->size = f->size;
        memcpy(q->sha256, f->sha256, sizeof(q->sha256));
        return 0;
    }
    if (!rebased && im->decoded[k].sha256[0]) {
        q->size = im->decoded[k].size;
        memcpy(q->sha256, im->decoded[k].sha256, sizeof(q->sha256));
        return 0;
    }
    fd = open(im->plain[k], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return xlsnap__error_errno(im->ctx, errno, "cannot read %s",
                                   im->plain[k]);
    rc = xlsnap__copy_hashed(im->ctx, fd, -1, UINT64_MAX, f->path, &q->size,
                             q->sha256);
    close(fd);
    return rc;
}

/* A delta's disk i onto the volume group: its snapshot LV a thin
 * snapshot of the base's, made writable for the moment, the staged
 * delta pointed at it (the placeholder backing replaced) and committed
 * into it: only the clusters the delta holds are written. */
static int write_delta_volume(importer *im, int i,
                              const xlsnap__bundle_file *f)
{
    xlsnap_ctx *ctx = im->ctx;
    const xlsnap_disk *d = &im->sn.disks[i];
    const xlsnap_disk *bd = xlsnap__snapshot_disk(im->base, d->vdev);
    const char *plain = im->plain[f - im->m.files];
    char *dev = NULL;
    bool activated = false;
    int rc;

    if ((rc = xlsnap__lvm_snapshot_of(ctx, bd, d, im->sn.name,
                                      im->dom.uuid)))
        goto out;
    im->snap_made = i + 1;
    if ((rc = xlsnap__lvm_snapshot_open(ctx, d, im->dom.uuid, &dev,
                                        &activated)) ||
        (rc = xlsnap__qimg_rebase(ctx, plain, "qcow2", dev, "raw",
                                  XLSNAP__QIMG_UNSAFE)))
        goto out;
    rc = xlsnap__qimg_commit(ctx, plain);
 out:
    if (dev) xlsnap__lvm_snapshot_release(ctx, d, activated);
    free(dev);
    return rc ? xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev) : 0;
}

/* Disk i onto the volume group: its LV made (tagged as imported), the
 * staged image written into it (qemu-img convert -f qcow2 -O raw -n),
 * then its snapshot LV taken by the lvm driver (its tags).  A delta:
 * write_delta_volume. */
static int write_volume(importer *im, int i, const xlsnap__bundle_file *f)
{
    xlsnap_ctx *ctx = im->ctx;
    const xlsnap_disk *d = &im->sn.disks[i];
    xlsnap__disk_op op = XLSNAP__DISK_OP(ctx, im->dom.uuid);
    int rc;

    if (im->base) return write_delta_volume(im, i, f);

    if ((rc = xlsnap__lvm_create_imported(ctx, im->vg, im->pool, d->volume,
                                          f->virtual_size, im->dom.uuid)))
        return rc;
    im->lv_made = i + 1;
    if ((rc = xlsnap__qimg_write_raw(ctx, im->plain[f - im->m.files],
                                     "qcow2", d->image)))
        return xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev);
    if ((rc = xlsnap__disk_lvm.take(&op, d, im->sn.name, NULL)))
        return xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev);
    im->snap_made = i + 1;
    return 0;
}

/* A delta's disks are pointed at the base's images in the staging dir,
 * so that what is hashed is what is placed; then the record as
 * preparing (the intent) and the list of its parts, then the images in
 * place. */
static int act(importer *im)
{
    xlsnap_ctx *ctx = im->ctx;
    const xlsnap__manifest *m = &im->m;
    xlsnap_snapshot *sn = &im->sn;
    xlsnap__part *parts = calloc(sn->num_disks + 2, sizeof(*parts));
    int np = 0, rc;

    if (!parts) return xlsnap__nomem(ctx);
    for (int i = 0; i < sn->num_disks; i++) {
        const xlsnap__bundle_file *f = file_for(m, sn->disks[i].vdev);
        const xlsnap_disk *bd;
        int k = f - m->files;
        if (im->vg) continue;         /* a volume: no file to list */
        if (im->base) {
            bd = xlsnap__snapshot_disk(im->base, sn->disks[i].vdev);
            if ((rc = xlsnap__qimg_rebase(ctx, im->plain[k], "qcow2",
                                          bd->backing, bd->format,
                                          XLSNAP__QIMG_UNSAFE)))
                goto out;
        }
        parts[np].path = im->dst[i];
        parts[np].role = (char *)"disk";
        if ((rc = part_of(im, k, im->base != NULL, &parts[np]))) goto out;
        np++;
    }
    for (int k = 0; sn->memory && k < m->num_files; k++) {
        if (strcmp(m->files[k].role, "memory")) continue;
        parts[np].path = sn->memory;
        parts[np].role = (char *)"memory";
        if ((rc = part_of(im, k, false, &parts[np]))) goto out;
        np++;
        break;
    }
    if ((rc = xlsnap__store_write(ctx, sn))) goto out;
    im->wrote = true;
    if ((rc = xlsnap__parts_write(ctx, sn->domain_uuid, sn->name, parts,
                                  np)))
        goto out;
    xlsnap__fault_point("import-prepared");
    for (int i = 0; i < sn->num_disks; i++) {
        const xlsnap__bundle_file *f = file_for(m, sn->disks[i].vdev);
        if (im->vg) {
            if ((rc = write_volume(im, i, f))) goto out;
            continue;
        }
        if ((rc = place(ctx, im->plain[f - m->files], im->dst[i])))
            goto out;
        im->placed = i + 1;
    }
    for (int i = 0; sn->memory && i < m->num_files; i++) {
        if (strcmp(m->files[i].role, "memory")) continue;
        if ((rc = place(ctx, im->plain[i], sn->memory))) goto out;
        im->memory_placed = true;
    }
    xlsnap__fault_point("import-placed");
    rc = 0;
 out:
    free(parts);
    return rc;
}

/* The record becomes ready; it is the caller's. */
static int commit(importer *im, xlsnap_snapshot *snap_r)
{
    int rc;

    im->sn.state = XLSNAP_STATE_READY;
    if ((rc = xlsnap__store_write(im->ctx, &im->sn))) return rc;
    *snap_r = im->sn;
    xlsnap_snapshot_init(&im->sn);
    return 0;
}

/* Remove what this import created, keeping the error that stopped it. */
static void undo(importer *im)
{
    xlsnap__disk_op op = XLSNAP__DISK_OP(im->ctx, im->dom.uuid);
    xlsnap__errsaved saved;

    xlsnap__errsave(im->ctx, &saved);
    for (int i = 0; i < im->placed; i++) unlink(im->dst[i]);
    for (int i = 0; i < im->snap_made; i++)
        xlsnap__disk_lvm.remove(&op, &im->sn.disks[i]);
    for (int i = 0; i < im->lv_made; i++)
        xlsnap__lvm_remove_imported(im->ctx, im->vg,
                                    im->sn.disks[i].volume, im->dom.uuid);
    if (im->memory_placed) unlink(im->sn.memory);
    if (im->wrote) xlsnap__store_remove(im->ctx, im->dom.uuid, im->sn.name);
    xlsnap__errrestore(im->ctx, &saved);
}

int xlsnap_import(xlsnap_ctx *ctx, const xlsnap_import_params *p,
                  xlsnap_snapshot *snap_r)
{
    importer im;
    struct stat st;
    int rc;

    importer_init(&im, ctx, p);
    if (p->disk_dir && p->volume_group) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "the disks go to a "
                           "directory or to a volume group, not both");
        goto out;
    }
    if (p->disk_dir &&
        (stat(p->disk_dir, &st) < 0 || !S_ISDIR(st.st_mode))) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "disk directory %s "
                           "is not a directory", p->disk_dir);
        goto out;
    }
    if ((rc = read_bundle(&im)) || (rc = plan(&im)) || (rc = act(&im)))
        goto out;
    rc = commit(&im, snap_r);
 out:
    if (rc) undo(&im);
    importer_dispose(&im);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
