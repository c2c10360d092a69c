/*
 * domcfg.c - read the disks out of a domain config in libxl-json,
 * without a libxl context (so it works on hosts without Xen).
 * libxl omits fields that have their default value: a missing
 * "readwrite" is 0, a missing "is_cdrom" is 0.
 */
#include "internal.h"

void xlsnap__cfgdisk_list_free(xlsnap__cfgdisk *l, int nr)
{
    for (int i = 0; l && i < nr; i++) {
        free(l[i].vdev);
        free(l[i].path);
        free(l[i].format);
        free(l[i].backend);
    }
    free(l);
}

static char *str_field(yajl_val o, const char *k)
{
    const char *p[] = { k, NULL };
    yajl_val v = yajl_tree_get(o, p, yajl_t_string);
    return v ? xlsnap__strdup(v->u.string) : NULL;
}

static long long int_field(yajl_val o, const char *k)
{
    const char *p[] = { k, NULL };
    yajl_val v = yajl_tree_get(o, p, yajl_t_number);
    return v && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : 0;
}

int xlsnap__config_disks(xlsnap_ctx *ctx, const char *json,
                         xlsnap__cfgdisk **disks_r, int *nr_r)
{
    const char *dp[] = { "disks", NULL };
    char err[128];
    yajl_val root, disks;
    xlsnap__cfgdisk *l = NULL;
    int nr = 0, rc;

    *disks_r = NULL;
    *nr_r = 0;
    if (!json)
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND,
                             "no domain configuration");
    root = xlsnap__json_parse(json, err, sizeof(err));
    if (!root)
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                             "domain configuration is not valid JSON");
    disks = yajl_tree_get(root, dp, yajl_t_array);
    if (disks && disks->u.array.len) {
        l = calloc(disks->u.array.len, sizeof(*l));
        if (!l) { rc = XLSNAP_ERROR_NOMEM; goto out; }
        for (size_t i = 0; i < disks->u.array.len; i++) {
            yajl_val d = disks->u.array.values[i];
            if (!YAJL_IS_OBJECT(d)) continue;
            l[nr].vdev = str_field(d, "vdev");
            l[nr].path = str_field(d, "pdev_path");
            l[nr].format = str_field(d, "format");
            l[nr].backend = str_field(d, "backend");
            l[nr].readwrite = int_field(d, "readwrite") != 0;
            l[nr].cdrom = int_field(d, "is_cdrom") != 0;
            if (!l[nr].vdev) {
                nr++;
                rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                                   "domain configuration has a disk "
                                   "without vdev");
                goto out;
            }
            nr++;
        }
    }
    *disks_r = l;
    *nr_r = nr;
    l = NULL;
    nr = 0;
    rc = 0;
 out:
    xlsnap__cfgdisk_list_free(l, nr);
    yajl_tree_free(root);
    return rc;
}

/* Set a string member of a yajl object, adding it if missing. */
static int set_member(yajl_val o, const char *key, const char *val)
{
    yajl_val v = xlsnap__json_field(o, key), nv;
    const char **keys;
    yajl_val *vals;

    if (v && YAJL_IS_STRING(v)) {
        char *c = xlsnap__strdup(val);
        free(v->u.string);
        v->u.string = c;
        return 0;
    }
    if (v) return XLSNAP_ERROR_CORRUPT;
    nv = calloc(1, sizeof(*nv));
    keys = realloc(o->u.object.keys, (o->u.object.len + 1) * sizeof(*keys));
    if (keys) o->u.object.keys = keys;
    vals = realloc(o->u.object.values,
                   (o->u.object.len + 1) * sizeof(*vals));
    if (vals) o->u.object.values = vals;
    if (!nv || !keys || !vals) { free(nv); return XLSNAP_ERROR_NOMEM; }
    nv->type = yajl_t_string;
    nv->u.string = xlsnap__strdup(val);
    keys[o->u.object.len] = xlsnap__strdup(key);
    vals[o->u.object.len++] = nv;
    return 0;
}

int xlsnap__config_rewrite(xlsnap_ctx *ctx, const char *json,
                           const char *name, const char *uuid,
                           const xlsnap_disk *disks, int nr_disks,
                           char **json_r)
{
    const char *cp[] = { "c_info", NULL }, *dp[] = { "disks", NULL };
    yajl_val root, ci, dl;
    yajl_gen g = NULL;
    char err[128];
    int rc = 0;

    *json_r = NULL;
    root = yajl_tree_parse(json, err, sizeof(err));
    if (!root || !YAJL_IS_OBJECT(root))
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                             "domain configuration is not a JSON object");
    ci = yajl_tree_get(root, cp, yajl_t_object);
    if (ci && name) rc = set_member(ci, "name", name);
    if (ci && uuid && !rc) rc = set_member(ci, "uuid", uuid);
    dl = yajl_tree_get(root, dp, yajl_t_array);
    for (size_t i = 0; !rc && dl && i < dl->u.array.len; i++) {
        yajl_val d = dl->u.array.values[i], v;
        if (!YAJL_IS_OBJECT(d)) continue;
        v = xlsnap__json_field(d, "vdev");
        for (int k = 0; !rc && v && YAJL_IS_STRING(v) && k < nr_disks; k++) {
            if (strcmp(disks[k].vdev, v->u.string)) continue;
            rc = set_member(d, "pdev_path", disks[k].image);
            if (!rc) rc = set_member(d, "format", disks[k].format);
        }
    }
    if (rc) {
        rc = xlsnap__error(ctx, rc, "cannot rewrite the domain "
                           "configuration");
        goto out;
    }
    g = xlsnap__gen_alloc();
    if (xlsnap__gen_tree(g, root)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "cannot re-encode the "
                           "domain configuration");
        goto out;
    }
    rc = xlsnap__gen_finish(ctx, g, json_r);
 out:
    if (g) yajl_gen_free(g);
    yajl_tree_free(root);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
