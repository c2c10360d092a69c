/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * chain.c - what depends on what among disk images: backing files read
 * with `qemu-img info -U` (read-only, safe on images in use), the images
 * a running domain has open, and a small string set.
 */
#include "internal.h"

#include <unistd.h>

void xlsnap__set_add(xlsnap__strset *s, const char *x)
{
    xlsnap__set_add_fmt(s, x, NULL);
}

/* FNV-1a */
static size_t hash_str(const char *x)
{
    uint64_t h = 14695981039346656037ull;

    for (; *x; x++) {
        h ^= (unsigned char)*x;
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

/* The slot holding x, or the empty slot where it would go. */
static size_t find_slot(const xlsnap__strset *s, const char *x)
{
    size_t k = hash_str(x) & s->mask;

    while (s->slot[k] && strcmp(s->v[s->slot[k] - 1], x))
        k = (k + 1) & s->mask;
    return k;
}

/* The index of x in s->v, or -1. */
static int set_find(const xlsnap__strset *s, const char *x)
{
    if (!x || !s->slot) return -1;
    return s->slot[find_slot(s, x)] - 1;
}

/* Room for one more entry (slots at most half full): false when out of
 * memory. */
static bool set_grow(xlsnap__strset *s)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 8;
        char **v = realloc(s->v, cap * sizeof(*s->v));
        if (v) s->v = v;
        char **f = v ? realloc(s->fmt, cap * sizeof(*s->fmt)) : NULL;
        if (f) s->fmt = f;
        if (!v || !f) return false;
        s->cap = cap;
    }
    if (!s->slot || (size_t)(s->n + 1) * 2 > s->mask + 1) {
        size_t nslot = s->slot ? (s->mask + 1) * 2 : 16;
        int *slot = calloc(nslot, sizeof(*slot));
        if (!slot) return false;
        free(s->slot);
        s->slot = slot;
        s->mask = nslot - 1;
        for (int i = 0; i < s->n; i++)
            s->slot[find_slot(s, s->v[i])] = i + 1;
    }
    return true;
}

/* Add x, remembering its image format fmt (if not known yet). */
void xlsnap__set_add_fmt(xlsnap__strset *s, const char *x, const char *fmt)
{
    int i;
    char *cx, *cf = NULL;

    if (!x) return;
    if ((i = set_find(s, x)) >= 0) {
        if (!s->fmt[i] && fmt && !(s->fmt[i] = xlsnap__strdup(fmt)))
            s->nomem = true;
        return;
    }
    if (!set_grow(s) || !(cx = xlsnap__strdup(x))) { s->nomem = true; return; }
    if (fmt && !(cf = xlsnap__strdup(fmt))) {
        free(cx);
        s->nomem = true;
        return;
    }
    s->fmt[s->n] = cf;
    s->v[s->n] = cx;
    s->slot[find_slot(s, x)] = ++s->n;
}

/* The format recorded for x, NULL if unknown. */
const char *xlsnap__set_fmt(const xlsnap__strset *s, const char *x)
{
    int i = set_find(s, x);

    return i < 0 ? NULL : s->fmt[i];
}

int xlsnap__set_index(const xlsnap__strset *s, const char *x)
{
    return set_find(s, x);
}

bool xlsnap__set_has(const xlsnap__strset *s, const char *x)
{
    return set_find(s, x) >= 0;
}

void xlsnap__set_free(xlsnap__strset *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->v[i]);
        free(s->fmt[i]);
    }
    free(s->v);
    free(s->fmt);
    free(s->slot);
    memset(s, 0, sizeof(*s));
}

/* Add the internal snapshot names of an image description (qemu-img
 * info, or QMP's ImageInfo: both have "snapshots": [{"name": ...}]). */
void xlsnap__set_add_snapshots(xlsnap__strset *s, yajl_val info)
{
    const char *sp[] = { "snapshots", NULL }, *np[] = { "name", NULL };
    yajl_val l = yajl_tree_get(info, sp, yajl_t_array);

    for (size_t i = 0; l && i < l->u.array.len; i++) {
        yajl_val n = yajl_tree_get(l->u.array.values[i], np, yajl_t_string);
        if (n) xlsnap__set_add(s, n->u.string);
    }
}

/* Images the running domain has open: each disk and its backing chain. */
int xlsnap__live_images(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                       xlsnap__strset *live)
{
    xlsnap__domstate st;
    xlsnap__cfgdisk *cd = NULL;
    char *cfg = NULL;
    int ncd = 0, rc;

    if (dom->domid < 0) return 0;
    if ((rc = xlsnap__hv_state(ctx, dom->domid, &st))) return rc;
    if (st == XLSNAP__DOM_GONE) return 0;
    if ((rc = xlsnap__hv_config(ctx, dom->domid, &cfg))) return rc;
    if ((rc = xlsnap__config_disks(ctx, cfg, &cd, &ncd))) goto out;
    for (int i = 0; i < ncd; i++) {
        /* the chain as the headers we wrote record it, each level
         * opened with the format its child names (never probed) */
        char *img = xlsnap__strdup(cd[i].path);
        char *fmt = xlsnap__strdup(cd[i].format);
        if ((cd[i].path && !img) || (cd[i].format && !fmt))
            live->nomem = true;
        for (int depth = 0; img && depth < 256; depth++) {
            char *b = NULL, *bf = NULL;
            int brc = 0;
            xlsnap__set_add_fmt(live, img, fmt);
            if (!fmt || strcmp(fmt, "qcow2") || access(img, F_OK) < 0 ||
                (brc = xlsnap__qimg_backing(ctx, img, fmt, &b, &bf))) {
                /* best effort, but a chain cut short by out of memory
                 * is no answer */
                if (brc == XLSNAP_ERROR_NOMEM) live->nomem = true;
                free(img);
                img = NULL;
                break;
            }
            free(img);
            free(fmt);
            img = b;
            fmt = bf;
        }
        free(img);
        free(fmt);
    }
    if (live->nomem) rc = xlsnap__nomem(ctx);
 out:
    xlsnap__cfgdisk_list_free(cd, ncd);
    free(cfg);
    return rc;
}


/* Whether known image i (other than image itself) has image as its
 * backing file (*yes_r).  Only a qcow2 image has a backing file; one
 * whose format is not known is not opened (a raw disk may carry
 * anything). */
static int backed_by(xlsnap_ctx *ctx, const xlsnap__strset *known, int i,
                     const char *image, bool *yes_r)
{
    char *b = NULL;
    int rc;

    *yes_r = false;
    if (!strcmp(known->v[i], image) || !known->fmt[i] ||
        strcmp(known->fmt[i], "qcow2") || access(known->v[i], F_OK) < 0)
        return 0;
    if ((rc = xlsnap__qimg_backing(ctx, known->v[i], "qcow2", &b, NULL)))
        return rc;
    *yes_r = b && !strcmp(b, image);
    free(b);
    return 0;
}

/*
 * The images in known (other than image itself) that have image as
 * their backing file: *n_r of them, the last one in *one_r (may be
 * NULL).  Such images must not change under them.
 */
int xlsnap__dependents(xlsnap_ctx *ctx, const char *image,
                       const xlsnap__strset *known, int *n_r, char **one_r)
{
    *n_r = 0;
    if (one_r) *one_r = NULL;
    for (int i = 0; i < known->n; i++) {
        bool yes;
        int rc;
        if ((rc = backed_by(ctx, known, i, image, &yes))) return rc;
        if (!yes) continue;
        (*n_r)++;
        if (one_r) {
            free(*one_r);
            if (!(*one_r = xlsnap__strdup(known->v[i])))
                return xlsnap__nomem(ctx);
        }
    }
    return 0;
}

/* Every image in known based on image is based on base (qcow2) after:
 * its header rewritten only (base holds the same content). */
int xlsnap__rebase_dependents(xlsnap_ctx *ctx, const char *image,
                              const xlsnap__strset *known, const char *base)
{
    for (int i = 0; i < known->n; i++) {
        bool yes;
        int rc;
        if ((rc = backed_by(ctx, known, i, image, &yes)) ||
            (yes && (rc = xlsnap__qimg_rebase(ctx, known->v[i], "qcow2",
                                              base, "qcow2",
                                              XLSNAP__QIMG_UNSAFE))))
            return rc;
    }
    return 0;
}

/* Every image named by the records, and the running domain's chain. */
int xlsnap__known_images(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                         const xlsnap_snapshot *l, int nr,
                         xlsnap__strset *known, xlsnap__strset *live)
{
    int rc;

    if ((rc = xlsnap__live_images(ctx, dom, live))) return rc;
    for (int i = 0; i < nr; i++)
        for (int k = 0; k < l[i].num_disks; k++) {
            const xlsnap_disk *d = &l[i].disks[k];
            if (d->kind == XLSNAP_DISK_VOLUME) continue;  /* no image */
            xlsnap__set_add_fmt(known, d->image, d->format);
            xlsnap__set_add_fmt(known, d->overlay, "qcow2");
            xlsnap__set_add_fmt(known, d->backing, d->format);
        }
    for (int i = 0; i < live->n; i++)
        xlsnap__set_add_fmt(known, live->v[i], live->fmt[i]);
    return known->nomem ? xlsnap__nomem(ctx) : 0;
}

/* Images a running QEMU has open, as QEMU itself says (the domain's
 * config may lag behind after an interrupted external create): added
 * to live and known. */
int xlsnap__qemu_images(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                        xlsnap__strset *live, xlsnap__strset *known)
{
    xlsnap__domstate st;
    xlsnap__qmp q;
    xlsnap__qmp_block *b = NULL;
    int n = 0, rc;

    if (dom->domid < 0) return 0;
    if ((rc = xlsnap__hv_state(ctx, dom->domid, &st))) return rc;
    if (st == XLSNAP__DOM_GONE) return 0;
    xlsnap__qmp_init(&q);
    if ((rc = xlsnap__qmp_open(ctx, dom->domid, dom->uuid, &q))) return rc;
    rc = xlsnap__qmp_blocks(ctx, &q, &b, &n);
    xlsnap__qmp_close(&q);
    for (int i = 0; i < n; i++) {
        xlsnap__set_add(live, b[i].file);
        xlsnap__set_add(known, b[i].file);
    }
    xlsnap__qmp_blocks_free(b, n);
    if (!rc && (live->nomem || known->nomem)) rc = xlsnap__nomem(ctx);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
