/*
 * chain.c - what depends on what among disk images: backing files read
 * with `qemu-img info -U` (read-only, safe on images in use), the images
 * a running domain has open, and a small string set.
 */
#include "internal.h"

#include <unistd.h>

void xlsnap__set_add(xlsnap__strset *s, const char *x)
{
    if (!x) return;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], x)) return;
    s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
    if (!s->v) abort();
    s->v[s->n++] = xlsnap__strdup(x);
}

bool xlsnap__set_has(const xlsnap__strset *s, const char *x)
{
    for (int i = 0; x && i < s->n; i++)
        if (!strcmp(s->v[i], x)) return true;
    return false;
}

void xlsnap__set_free(xlsnap__strset *s)
{
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* The backing file of image (NULL if none), read with qemu-img -U. */
int xlsnap__backing_of(xlsnap_ctx *ctx, const char *image, char **b_r)
{
    const char *qi = getenv("XL_SNAPSHOT_QEMU_IMG");
    const char *argv[] = { qi && *qi ? qi : "qemu-img", "info", "-U",
                           "--output=json", image, NULL };
    const char *fp[] = { "full-backing-filename", NULL },
               *bp[] = { "backing-filename", NULL };
    char *out = NULL, *err = NULL, eb[128];
    yajl_val root = NULL, v;
    int status, rc;

    *b_r = NULL;
    if ((rc = xlsnap__spawn(ctx, argv, -1, &out, &err, &status))) goto out;
    if (status) {
        char *why = xlsnap__last_line(err, "qemu-img: ");
        rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "qemu-img info %s: %s",
                           image, why);
        free(why);
        goto out;
    }
    root = yajl_tree_parse(out, eb, sizeof(eb));
    v = root ? yajl_tree_get(root, fp, yajl_t_string) : NULL;
    if (!v && root) v = yajl_tree_get(root, bp, yajl_t_string);
    if (v) *b_r = xlsnap__strdup(v->u.string);
    rc = 0;
 out:
    if (root) yajl_tree_free(root);
    free(out);
    free(err);
    return rc;
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
        char *img = xlsnap__strdup(cd[i].path);
        for (int depth = 0; img && depth < 256; depth++) {
            char *b = NULL;
            xlsnap__set_add(live, img);
            if (access(img, F_OK) < 0 || xlsnap__backing_of(ctx, img, &b)) {
                free(img);
                img = NULL;
                break;
            }
            free(img);
            img = b;
        }
        free(img);
    }
 out:
    xlsnap__cfgdisk_list_free(cd, ncd);
    free(cfg);
    return rc;
}


/*
 * Whether any image in known (other than image itself) has image as
 * its backing file: such an image must not change under them.
 */
int xlsnap__has_dependents(xlsnap_ctx *ctx, const char *image,
                           const xlsnap__strset *known, bool *has_r)
{
    *has_r = false;
    for (int i = 0; i < known->n && !*has_r; i++) {
        char *b = NULL;
        int rc;
        if (!strcmp(known->v[i], image) || access(known->v[i], F_OK) < 0)
            continue;
        if ((rc = xlsnap__backing_of(ctx, known->v[i], &b))) return rc;
        *has_r = b && !strcmp(b, image);
        free(b);
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
            xlsnap__set_add(known, l[i].disks[k].image);
            xlsnap__set_add(known, l[i].disks[k].overlay);
            xlsnap__set_add(known, l[i].disks[k].backing);
        }
    for (int i = 0; i < live->n; i++) xlsnap__set_add(known, live->v[i]);
    return 0;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
