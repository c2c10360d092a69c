/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * backend/qemuimg.c - disk backend for images no QEMU has open: qemu-img.
 *
 * Never called on an image a running domain uses (Xen's qdisk opens
 * images with locking off, so qemu-img would not be stopped); the
 * orchestration checks that first and uses backend/qmp.c instead.
 * qemu-img failures are translated here: exit status + its last
 * "qemu-img: ..." line become an XLSNAP_ERROR_* and a ctx message.
 */
#include "internal.h"

static const char *qemu_img(void)
{
    const char *p = getenv("XL_SNAPSHOT_QEMU_IMG");
    return p && *p ? p : "qemu-img";
}

static int run(xlsnap_ctx *ctx, const char *const argv[], char **out_r)
{
    char *out = NULL, *err = NULL, *why = NULL;
    int status, rc;

    rc = xlsnap__spawn(ctx, argv, -1, &out, &err, &status);
    if (rc) goto out;
    if (status) {
        why = xlsnap__last_line(err, "qemu-img: ");
        if (why && !*why) { free(why); why = xlsnap__last_line(out, NULL); }
        if (!why) { rc = xlsnap__nomem(ctx); goto out; }
        rc = strstr(why, "No space left") ? XLSNAP_ERROR_NOSPACE :
             strstr(why, "No such file") ? XLSNAP_ERROR_NOTFOUND :
             strstr(why, "Permission denied") ? XLSNAP_ERROR_PERM :
             XLSNAP_ERROR_FAIL;
        rc = xlsnap__error(ctx, rc, "qemu-img %s failed: %s", argv[1],
                           *why ? why : "no message");
        goto out;
    }
    if (out_r) { *out_r = out; out = NULL; }
    rc = 0;
 out:
    free(out);
    free(err);
    free(why);
    return rc;
}

/*
 * The one way to name an image to qemu-img: with its format.  Only the
 * formats this tool creates or records are accepted; qemu-img never
 * probes (a guest that writes a qcow2 header onto its raw disk must not
 * make us follow a backing file it chose).
 */
static int fmt_ok(xlsnap_ctx *ctx, const char *image, const char *fmt)
{
    if (fmt && (!strcmp(fmt, "qcow2") || !strcmp(fmt, "raw"))) return 0;
    return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "image %s: format '%s' "
                         "is not supported (qcow2 or raw)", image,
                         fmt ? fmt : "(none)");
}

/* qemu-img snapshot has no -f: the image is named with --image-opts,
 * driver given, commas in the path doubled (QEMU's option escaping). */
static char *image_opts(const char *image, const char *fmt)
{
    size_t n = strlen(image);
    char *o = malloc(2 * n + 64), *p;

    if (!o) return NULL;        /* out of memory: the caller says so */
    p = o + sprintf(o, "driver=%s,file.driver=file,file.filename=", fmt);
    for (const char *s = image; *s; s++) {
        if (*s == ',') *p++ = ',';
        *p++ = *s;
    }
    *p = '\0';
    return o;
}

int xlsnap__qimg_snapshot(xlsnap_ctx *ctx, char op, const char *name,
                          const char *image, const char *fmt)
{
    char flag[3] = { '-', op, '\0' }, *opts;
    const char *argv[9];
    int rc;

    if ((rc = fmt_ok(ctx, image, fmt))) return rc;
    if (strcmp(fmt, "qcow2"))
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "image %s: a %s "
                             "image has no internal snapshots", image, fmt);
    if (!(opts = image_opts(image, fmt))) return xlsnap__nomem(ctx);
    argv[0] = qemu_img();
    argv[1] = "snapshot";
    argv[2] = "-q";
    argv[3] = "--image-opts";
    argv[4] = flag;
    argv[5] = name;
    argv[6] = opts;
    argv[7] = NULL;
    rc = run(ctx, argv, NULL);
    free(opts);
    return rc;
}

int xlsnap__qimg_create_overlay(xlsnap_ctx *ctx, const char *overlay,
                                const char *backing, const char *fmt)
{
    const char *argv[] = { qemu_img(), "create", "-q", "-f", "qcow2",
                           "-b", backing, "-F", fmt, overlay, NULL };
    int rc;

    if ((rc = fmt_ok(ctx, backing, fmt))) return rc;
    return run(ctx, argv, NULL);
}

/* An overlay on backing of a known size, without opening backing
 * (-u): for a backing image a running QEMU holds. */
int xlsnap__qimg_create_overlay_sized(xlsnap_ctx *ctx, const char *overlay,
                                      const char *backing, const char *fmt,
                                      uint64_t size)
{
    char sz[32];
    const char *argv[] = { qemu_img(), "create", "-q", "-u", "-f", "qcow2",
                           "-b", backing, "-F", fmt, overlay, sz, NULL };
    int rc;

    if ((rc = fmt_ok(ctx, backing, fmt))) return rc;
    snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
    return run(ctx, argv, NULL);
}

/* A standalone qcow2 copy of image (format fmt), or of its internal
 * snapshot name (NULL: the image itself).  XLSNAP__QIMG_SHARED: read
 * with -U (force-share), for reading data no writer changes -- an
 * internal snapshot or a read-only backing file -- of an image a
 * running QEMU holds. */
int xlsnap__qimg_convert(xlsnap_ctx *ctx, const char *image, const char *fmt,
                         const char *name, const char *out, unsigned flags)
{
    char *l = name ? xlsnap__sprintf("snapshot.name=%s", name) : NULL;
    const char *argv[14];
    int n = 0, rc;

    if (name && !l) { rc = xlsnap__nomem(ctx); goto out; }
    if ((rc = fmt_ok(ctx, image, fmt))) goto out;
    argv[n++] = qemu_img();
    argv[n++] = "convert";
    argv[n++] = "-q";
    if (flags & XLSNAP__QIMG_SHARED) argv[n++] = "-U";
    argv[n++] = "-f";
    argv[n++] = fmt;
    if (l) { argv[n++] = "-l"; argv[n++] = l; }
    argv[n++] = "-O";
    argv[n++] = "qcow2";
    argv[n++] = image;
    argv[n++] = out;
    argv[n] = NULL;
    rc = run(ctx, argv, NULL);
 out:
    free(l);
    return rc;
}

/* The contents of image (format fmt) written over the existing block
 * device or file dev as raw (-n: dev is not created). */
int xlsnap__qimg_write_raw(xlsnap_ctx *ctx, const char *image,
                           const char *fmt, const char *dev)
{
    const char *argv[] = { qemu_img(), "convert", "-q", "-n", "-f", fmt,
                           "-O", "raw", image, dev, NULL };
    int rc;

    if ((rc = fmt_ok(ctx, image, fmt))) return rc;
    return run(ctx, argv, NULL);
}

/* The clusters image (qcow2) holds itself written into its backing file
 * (qemu-img commit; -d: image is left as it was). */
int xlsnap__qimg_commit(xlsnap_ctx *ctx, const char *image)
{
    const char *argv[] = { qemu_img(), "commit", "-q", "-d", "-f", "qcow2",
                           image, NULL };

    return run(ctx, argv, NULL);
}

/* Make image's (format fmt) backing file newbase (format newfmt):
 * copying what differs (offline), or with XLSNAP__QIMG_UNSAFE only
 * rewriting the header. */
int xlsnap__qimg_rebase(xlsnap_ctx *ctx, const char *image, const char *fmt,
                        const char *newbase, const char *newfmt,
                        unsigned flags)
{
    const char *argv[14];
    int n = 0, rc;

    if ((rc = fmt_ok(ctx, image, fmt)) ||
        (rc = fmt_ok(ctx, newbase, newfmt)))
        return rc;
    argv[n++] = qemu_img();
    argv[n++] = "rebase";
    argv[n++] = "-q";
    if (flags & XLSNAP__QIMG_SHARED) argv[n++] = "-U";
    if (flags & XLSNAP__QIMG_UNSAFE) argv[n++] = "-u";
    argv[n++] = "-f";
    argv[n++] = fmt;
    argv[n++] = "-b";
    argv[n++] = newbase;
    argv[n++] = "-F";
    argv[n++] = newfmt;
    argv[n++] = image;
    argv[n] = NULL;
    return run(ctx, argv, NULL);
}

/* qemu-img check (d1, verify.c): exit 0 is a clean image, 3 one with
 * leaked clusters only (harmless: space, not data); 2 is corruption, 1
 * a check that could not finish (a truncated image): both refuse it. */
int xlsnap__qimg_check(xlsnap_ctx *ctx, const char *image, const char *fmt,
                       char **why_r)
{
    const char *argv[] = { qemu_img(), "check", "-U", "-f", fmt, image,
                           NULL };
    char *out = NULL, *err = NULL, *line = NULL;
    int status, rc;

    *why_r = NULL;
    if ((rc = fmt_ok(ctx, image, fmt))) return rc;
    if ((rc = xlsnap__spawn(ctx, argv, -1, &out, &err, &status))) goto out;
    if (status == 0 || status == 3) goto out;
    line = xlsnap__last_line(err, "qemu-img: ");
    if (line && !*line) {
        free(line);
        line = xlsnap__last_line(out, NULL);
    }
    if (!line) { rc = xlsnap__nomem(ctx); goto out; }
    *why_r = xlsnap__sprintf("qemu-img check finds it %s%s%s",
                             status == 2 ? "corrupt" : "unreadable",
                             *line ? ": " : "", line);
    if (!*why_r) rc = xlsnap__nomem(ctx);
 out:
    free(out);
    free(err);
    free(line);
    return rc;
}

/* qemu-img info of image (format fmt), parsed (-U: read-only, shared,
 * so safe on images in use; what it reports of an image in use may be
 * stale).  qemu-img info does not open backing files. */
int xlsnap__qimg_info(xlsnap_ctx *ctx, const char *image, const char *fmt,
                      yajl_val *root_r)
{
    const char *argv[] = { qemu_img(), "info", "-U", "-f", fmt,
                           "--output=json", image, NULL };
    char *out = NULL, eb[128];
    int rc;

    *root_r = NULL;
    if ((rc = fmt_ok(ctx, image, fmt))) return rc;
    if ((rc = run(ctx, argv, &out))) goto out;
    *root_r = yajl_tree_parse(out, eb, sizeof(eb));
    if (!*root_r)
        rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL,
                           "cannot parse qemu-img info of %s", image);
 out:
    free(out);
    return rc;
}

/* Whether image holds an internal snapshot called name. */
int xlsnap__qimg_has_snapshot(xlsnap_ctx *ctx, const char *image,
                              const char *fmt, const char *name,
                              bool *has_r)
{
    const char *sp[] = { "snapshots", NULL };
    yajl_val root, v;
    int rc;

    *has_r = false;
    if ((rc = xlsnap__qimg_info(ctx, image, fmt, &root))) return rc;
    v = yajl_tree_get(root, sp, yajl_t_array);
    for (size_t i = 0; v && i < v->u.array.len; i++) {
        yajl_val t = xlsnap__json_field(v->u.array.values[i], "name");
        if (t && YAJL_IS_STRING(t) && !strcmp(t->u.string, name))
            *has_r = true;
    }
    yajl_tree_free(root);
    return 0;
}

/* The backing file of image (format fmt), NULL if none (a raw image
 * never has one), and the backing's format as its header records it
 * (NULL if it records none: then nothing may open the backing). */
int xlsnap__qimg_backing(xlsnap_ctx *ctx, const char *image,
                         const char *fmt, char **b_r, char **bfmt_r)
{
    const char *fp[] = { "full-backing-filename", NULL },
               *bp[] = { "backing-filename", NULL },
               *ffp[] = { "backing-filename-format", NULL };
    yajl_val root = NULL, v;
    int rc;

    *b_r = NULL;
    if (bfmt_r) *bfmt_r = NULL;
    if ((rc = xlsnap__qimg_info(ctx, image, fmt, &root))) return rc;
    v = yajl_tree_get(root, fp, yajl_t_string);
    if (!v) v = yajl_tree_get(root, bp, yajl_t_string);
    if (v && !(*b_r = xlsnap__strdup(v->u.string))) goto nomem;
    v = yajl_tree_get(root, ffp, yajl_t_string);
    if (v && *b_r && bfmt_r && !(*bfmt_r = xlsnap__strdup(v->u.string)))
        goto nomem;
    yajl_tree_free(root);
    return 0;

 nomem:
    free(*b_r);
    *b_r = NULL;
    yajl_tree_free(root);
    return xlsnap__nomem(ctx);
}

/* The virtual size of image (format fmt). */
int xlsnap__qimg_virtual_size(xlsnap_ctx *ctx, const char *image,
                              const char *fmt, uint64_t *size_r)
{
    const char *vp[] = { "virtual-size", NULL };
    yajl_val root = NULL, v;
    int rc;

    *size_r = 0;
    if ((rc = xlsnap__qimg_info(ctx, image, fmt, &root))) return rc;
    v = yajl_tree_get(root, vp, yajl_t_number);
    if (v && YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) > 0)
        *size_r = YAJL_GET_INTEGER(v);
    else
        rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "qemu-img info of %s "
                           "gives no virtual size", image);
    yajl_tree_free(root);
    return rc;
}

/* Add the names of image's internal snapshots to snaps. */
int xlsnap__qimg_snapshots(xlsnap_ctx *ctx, const char *image,
                           const char *fmt, xlsnap__strset *snaps)
{
    yajl_val root = NULL;
    int rc;

    if ((rc = xlsnap__qimg_info(ctx, image, fmt, &root))) return rc;
    xlsnap__set_add_snapshots(snaps, root);
    yajl_tree_free(root);
    return snaps->nomem ? xlsnap__nomem(ctx) : 0;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
