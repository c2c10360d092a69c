/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * verify.c - the files a snapshot owns, and whether its data verifies
 *
 * A snapshot's parts file (<snapshot dir>/.parts.json, the store's
 * xlsnap__store_parts_path) lists the files the tool made for it that
 * no other record field says it owns -- an imported disk image, an
 * imported memory image -- each with its size and SHA-256 when they are
 * known (an import takes them from the bundle's manifest, or hashes
 * what it decoded or rebased):
 *
 *   { "version": 1, "parts": [ { "path": "/abs/file", "role": "disk",
 *     "size": 123, "sha256": "hex" }, ... ] }
 *
 * ("size" and "sha256" are null when not known.)  It is written after
 * the "preparing" record and before any listed file is placed, so a
 * killed import always leaves it next to what it placed.
 *
 * check --repair completes a "preparing" record only when
 * xlsnap__verify_snapshot() says its data verifies:
 *  - every part: a regular file of the recorded size and SHA-256;
 *  - every disk, as its disk driver's verify says (qcow2: an imported
 *    image, an external disk without overlay, that no running QEMU has
 *    open: `qemu-img check -f qcow2` finds no corruption);
 *  - the memory image, when no part records it: at least xl's save-file
 *    header (savefile.c) reads back whole (a zstd image: not checked
 *    here).
 * delete removes the files the parts file lists (xlsnap__parts_has),
 * never another file.
 */
#include "internal.h"
#include "backend/disk.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define PARTS_MAX (1 << 20)

void xlsnap__parts_free(xlsnap__part *p, int n)
{
    if (!p) return;
    for (int i = 0; i < n; i++) {
        free(p[i].path);
        free(p[i].role);
    }
    free(p);
}

bool xlsnap__parts_has(const xlsnap__part *p, int n, const char *path)
{
    for (int i = 0; path && i < n; i++)
        if (!strcmp(p[i].path, path)) return true;
    return false;
}

int xlsnap__parts_write(xlsnap_ctx *ctx, const char *uuid, const char *name,
                        const xlsnap__part *p, int n)
{
    yajl_gen g = xlsnap__gen_alloc();
    char *json = NULL, *sdir = NULL;
    int s = yajl_gen_status_ok, rc;

    if (!g) return xlsnap__nomem(ctx);
    CHK(yajl_gen_map_open(g));
    CHK(xlsnap__gen_kv_int(g, "version", 1));
    CHK(xlsnap__gen_str(g, "parts"));
    CHK(yajl_gen_array_open(g));
    for (int i = 0; i < n; i++) {
        CHK(yajl_gen_map_open(g));
        CHK(xlsnap__gen_kv_str(g, "path", p[i].path));
        CHK(xlsnap__gen_kv_str(g, "role", p[i].role));
        if (p[i].size == UINT64_MAX) {
            CHK(xlsnap__gen_str(g, "size"));
            CHK(yajl_gen_null(g));
        } else {
            CHK(xlsnap__gen_kv_int(g, "size", (int64_t)p[i].size));
        }
        CHK(xlsnap__gen_kv_str(g, "sha256",
                               p[i].sha256[0] ? p[i].sha256 : NULL));
        CHK(yajl_gen_map_close(g));
    }
    CHK(yajl_gen_array_close(g));
    CHK(yajl_gen_map_close(g));
 gen_failed:
    if ((rc = xlsnap__gen_end(ctx, g, s, &json, XLSNAP_ERROR_FAIL,
                              "cannot write the parts of '%s'", name)))
        return rc;
    if (!(rc = xlsnap__store_snapshot_dir(ctx, uuid, name, &sdir)))
        rc = xlsnap__write_file_atomic(ctx, sdir, XLSNAP__PARTS_FILE, json,
                                       strlen(json));
    free(sdir);
    free(json);
    return rc;
}

static bool hex64(const char *s)
{
    if (strlen(s) != 64) return false;
    for (; *s; s++)
        if (!strchr("0123456789abcdef", *s)) return false;
    return true;
}

int xlsnap__parts_read(xlsnap_ctx *ctx, const char *uuid, const char *name,
                       xlsnap__part **p_r, int *n_r)
{
    char *path = NULL, *text = NULL, eb[128];
    size_t len;
    yajl_val root = NULL, arr;
    xlsnap__part *p = NULL;
    int n = 0, rc;

    *p_r = NULL;
    *n_r = 0;
    if ((rc = xlsnap__store_parts_path(ctx, uuid, name, &path))) goto out;
    rc = xlsnap__read_file(ctx, AT_FDCWD, path, PARTS_MAX, &text, &len);
    if (rc == XLSNAP_ERROR_NOTFOUND) { rc = 0; goto out; }
    if (rc) goto out;
    root = xlsnap__json_parse(text, eb, sizeof(eb));
    arr = root ? xlsnap__json_field(root, "parts") : NULL;
    if (!arr || !YAJL_IS_ARRAY(arr)) goto corrupt;
    p = calloc(arr->u.array.len + 1, sizeof(*p));
    if (!p) { rc = xlsnap__nomem(ctx); goto out; }
    for (size_t i = 0; i < arr->u.array.len; i++) {
        yajl_val e = arr->u.array.values[i], v;
        xlsnap__part *q = &p[n];
        if (!YAJL_IS_OBJECT(e)) goto corrupt;
        v = xlsnap__json_field(e, "path");
        if (!v || !YAJL_IS_STRING(v) || v->u.string[0] != '/')
            goto corrupt;
        if (!(q->path = xlsnap__strdup(v->u.string))) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        n++;
        v = xlsnap__json_field(e, "role");
        if (!v || !YAJL_IS_STRING(v) ||
            (strcmp(v->u.string, "disk") && strcmp(v->u.string, "memory")))
            goto corrupt;
        if (!(q->role = xlsnap__strdup(v->u.string))) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        v = xlsnap__json_field(e, "size");
        q->size = UINT64_MAX;
        if (v && YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) >= 0)
            q->size = (uint64_t)YAJL_GET_INTEGER(v);
        else if (v && !YAJL_IS_NULL(v))
            goto corrupt;
        v = xlsnap__json_field(e, "sha256");
        if (v && YAJL_IS_STRING(v) && hex64(v->u.string))
            memcpy(q->sha256, v->u.string, 65);
        else if (v && !YAJL_IS_NULL(v))
            goto corrupt;
    }
    *p_r = p;
    *n_r = n;
    p = NULL;
    n = 0;
    goto out;
 corrupt:
    rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "%s is not a valid list "
                       "of parts", path);
 out:
    xlsnap__parts_free(p, n);
    if (root) yajl_tree_free(root);
    free(text);
    free(path);
    return rc;
}

/* Whether part q is what it was: *why_r NULL, or why not. */
static int verify_part(xlsnap_ctx *ctx, const xlsnap__part *q, char **why_r)
{
    struct stat st;
    char hex[65];
    uint64_t got = 0;
    bool bad = true;
    int fd, rc = 0;

    *why_r = NULL;
    fd = open(q->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        *why_r = xlsnap__sprintf("%s %s cannot be read (%s)", q->role,
                                 q->path, strerror(errno));
    else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        *why_r = xlsnap__sprintf("%s %s is not a regular file", q->role,
                                 q->path);
    else if (q->size != UINT64_MAX && (uint64_t)st.st_size != q->size)
        *why_r = xlsnap__sprintf("%s %s is %llu bytes, not the %llu "
                                 "recorded (truncated?)", q->role, q->path,
                                 (unsigned long long)st.st_size,
                                 (unsigned long long)q->size);
    else if (!q->sha256[0])
        bad = false;
    else if ((rc = xlsnap__copy_hashed(ctx, fd, -1, UINT64_MAX, q->path,
                                       &got, hex)))
        bad = false;
    else if (strcmp(hex, q->sha256))
        *why_r = xlsnap__sprintf("%s %s does not match its recorded "
                                 "SHA-256", q->role, q->path);
    else
        bad = false;
    if (fd >= 0) close(fd);
    if (!rc && bad && !*why_r) rc = xlsnap__nomem(ctx);
    return rc;
}

/* The save-file header of an uncompressed memory image reads back. */
static int verify_memory_header(xlsnap_ctx *ctx, const char *path,
                                char **why_r)
{
    xlsnap__errsaved saved;
    int fd, rc;

    *why_r = NULL;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        *why_r = xlsnap__sprintf("memory image %s cannot be read (%s)", path,
                                 strerror(errno));
        return *why_r ? 0 : xlsnap__nomem(ctx);
    }
    xlsnap__errsave(ctx, &saved);
    rc = xlsnap__savefile_read_header(ctx, fd, NULL);
    close(fd);
    if (rc == XLSNAP_ERROR_NOMEM) return rc;
    if (rc) {
        *why_r = xlsnap__sprintf("memory image %s: %s", path, ctx->errbuf);
        xlsnap__errrestore(ctx, &saved);
        return *why_r ? 0 : xlsnap__nomem(ctx);
    }
    return 0;
}

int xlsnap__verify_snapshot(xlsnap_ctx *ctx, const xlsnap_snapshot *sn,
                            const xlsnap__strset *live, char **why_r)
{
    xlsnap__part *p = NULL;
    int n = 0, rc;

    *why_r = NULL;
    if ((rc = xlsnap__parts_read(ctx, sn->domain_uuid, sn->name, &p, &n)))
        goto out;
    for (int i = 0; !*why_r && i < n; i++) {
        /* the memory image is where the record says (an adopted
         * history moved it with the domain directory) */
        if (!strcmp(p[i].role, "memory") && sn->memory &&
            strcmp(p[i].path, sn->memory)) {
            char *m = xlsnap__strdup(sn->memory);
            if (!m) { rc = xlsnap__nomem(ctx); goto out; }
            free(p[i].path);
            p[i].path = m;
        }
        if ((rc = verify_part(ctx, &p[i], why_r))) goto out;
    }
    for (int k = 0; !*why_r && k < sn->num_disks; k++) {
        const xlsnap_disk *d = &sn->disks[k];
        const xlsnap__disk_driver *drv = xlsnap__disk_driver_ops(d);
        xlsnap__disk_op op = XLSNAP__DISK_OP(ctx, sn->domain_uuid);
        op.live = live;
        op.sn = sn;
        if (drv && drv->verify && (rc = drv->verify(&op, d, why_r)))
            goto out;
    }
    if (!*why_r && sn->memory && !sn->memory_compression &&
        !xlsnap__parts_has(p, n, sn->memory))
        rc = verify_memory_header(ctx, sn->memory, why_r);
 out:
    if (rc) {
        free(*why_r);
        *why_r = NULL;
    }
    xlsnap__parts_free(p, n);
    return rc;
}

/* Whether the file name in dir (no symbolic link followed) is a qcow2
 * image whose header names image as its backing file (out of memory:
 * yes, so the image is kept). */
static bool backs_onto(xlsnap_ctx *ctx, int dfd, const char *dir,
                       const char *name, const char *image)
{
    xlsnap__qcow2hdr h = { 0 };
    xlsnap__errsaved saved;
    const char *why = NULL;
    char *abs = NULL;
    struct stat st;
    bool yes = false;
    int rc, fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
                        O_CLOEXEC);

    if (fd < 0) return false;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) goto out;
    xlsnap__errsave(ctx, &saved);
    rc = xlsnap__qcow2_header(ctx, fd, &h, &why);
    xlsnap__errrestore(ctx, &saved);
    if (rc == XLSNAP_ERROR_NOMEM) { yes = true; goto out; }
    if (rc || why || !h.backing) goto out;
    if (h.backing[0] == '/') {
        yes = !strcmp(h.backing, image);
    } else if ((abs = xlsnap__sprintf("%s/%s", dir, h.backing))) {
        yes = !strcmp(abs, image);
    } else {
        yes = true;             /* out of memory: keep the image */
    }
 out:
    xlsnap__qcow2hdr_dispose(&h);
    free(abs);
    close(fd);
    return yes;
}

int xlsnap__image_needed(xlsnap_ctx *ctx, const char *image,
                         const xlsnap_snapshot *x,
                         const xlsnap__strset *known, bool *needed_r)
{
    xlsnap__strset set = { 0 };
    xlsnap__cfgdisk *cd = NULL;
    char *dir = xlsnap__strdup(image), *slash;
    DIR *d = NULL;
    struct dirent *de;
    int ncd = 0, n = 0, rc;

    *needed_r = true;
    if (!dir) return xlsnap__nomem(ctx);
    /* the images the records name, and the disks x's config names */
    for (int i = 0; i < known->n; i++)
        xlsnap__set_add_fmt(&set, known->v[i], known->fmt[i]);
    if (x->config_json &&
        (rc = xlsnap__config_disks(ctx, x->config_json, &cd, &ncd)))
        goto out;
    for (int i = 0; i < ncd; i++)
        if (cd[i].path && cd[i].path[0] == '/')
            xlsnap__set_add_fmt(&set, cd[i].path, cd[i].format);
    if (set.nomem) { rc = xlsnap__nomem(ctx); goto out; }
    if ((rc = xlsnap__dependents(ctx, image, &set, &n, NULL))) goto out;
    if (n) goto out;
    /* and every qcow2 image next to it */
    slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = '\0';
    else if (slash) *slash = '\0';
    if (!(d = opendir(dir))) {
        rc = xlsnap__error_errno(ctx, errno, "cannot read %s", dir);
        goto out;
    }
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
            backs_onto(ctx, dirfd(d), dir, de->d_name, image))
            goto out;
    *needed_r = false;
    rc = 0;
 out:
    if (d) closedir(d);
    xlsnap__cfgdisk_list_free(cd, ncd);
    xlsnap__set_free(&set);
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
