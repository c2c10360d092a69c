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

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
