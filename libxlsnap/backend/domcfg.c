/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * domcfg.c - read the disks out of a domain config in libxl-json,
 * without a libxl context (so it works on hosts without Xen).
 * libxl omits fields that have their default value: a missing
 * "readwrite" is 0, a missing "is_cdrom" is 0.
 */
#include "internal.h"

#include <sys/stat.h>

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

/* *to: a copy of string member k of o, NULL when there is none;
 * false when out of memory. */
static bool str_field(yajl_val o, const char *k, char **to)
{
    const char *p[] = { k, NULL };
    yajl_val v = yajl_tree_get(o, p, yajl_t_string);

    *to = v ? xlsnap__strdup(v->u.string) : NULL;
    return !v || *to;
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
        if (!l) { rc = xlsnap__nomem(ctx); goto out; }
        for (size_t i = 0; i < disks->u.array.len; i++) {
            yajl_val d = disks->u.array.values[i];
            xlsnap__cfgdisk *c = &l[nr];
            if (!YAJL_IS_OBJECT(d)) continue;
            nr++;                   /* (freed with l from here on) */
            if (!str_field(d, "vdev", &c->vdev) ||
                !str_field(d, "pdev_path", &c->path) ||
                !str_field(d, "format", &c->format) ||
                !str_field(d, "backend", &c->backend)) {
                rc = xlsnap__nomem(ctx);
                goto out;
            }
            c->readwrite = int_field(d, "readwrite") != 0;
            c->cdrom = int_field(d, "is_cdrom") != 0;
            if (!c->vdev) {
                rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                                   "domain configuration has a disk "
                                   "without vdev");
                goto out;
            }
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

/* Set a string member of a yajl object (val NULL: null), adding it if
 * missing. */
static int set_member(yajl_val o, const char *key, const char *val)
{
    yajl_val v = xlsnap__json_field(o, key), nv;
    char *copy = xlsnap__strdup(val), *kcopy;
    const char **keys;
    yajl_val *vals;

    if (val && !copy) return XLSNAP_ERROR_NOMEM;
    if (v && YAJL_IS_STRING(v)) {
        free(v->u.string);
        v->u.string = copy;
        return 0;
    }
    if (v) {
        free(copy);
        return XLSNAP_ERROR_CORRUPT;
    }
    nv = calloc(1, sizeof(*nv));
    kcopy = xlsnap__strdup(key);
    keys = realloc(o->u.object.keys, (o->u.object.len + 1) * sizeof(*keys));
    if (keys) o->u.object.keys = keys;
    vals = realloc(o->u.object.values,
                   (o->u.object.len + 1) * sizeof(*vals));
    if (vals) o->u.object.values = vals;
    if (!nv || !kcopy || !keys || !vals) {
        free(nv);
        free(kcopy);
        free(copy);
        return XLSNAP_ERROR_NOMEM;
    }
    nv->type = yajl_t_string;
    nv->u.string = copy;
    keys[o->u.object.len] = kcopy;
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
    yajl_gen g;
    char err[128];
    int rc = 0;

    *json_r = NULL;
    root = json ? xlsnap__json_parse(json, err, sizeof(err)) : NULL;
    if (!root || !YAJL_IS_OBJECT(root)) {
        yajl_tree_free(root);
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                             "domain configuration is not a JSON object");
    }
    ci = yajl_tree_get(root, cp, yajl_t_object);
    if (ci && name) rc = set_member(ci, "name", name);
    if (ci && uuid && !rc) rc = set_member(ci, "uuid", uuid);
    dl = yajl_tree_get(root, dp, yajl_t_array);
    for (size_t i = 0; !rc && dl && i < dl->u.array.len; i++) {
        yajl_val d = dl->u.array.values[i], v, b;
        if (!YAJL_IS_OBJECT(d)) continue;
        v = xlsnap__json_field(d, "vdev");
        for (int k = 0; !rc && v && YAJL_IS_STRING(v) && k < nr_disks; k++) {
            if (strcmp(disks[k].vdev, v->u.string)) continue;
            rc = set_member(d, "pdev_path", disks[k].image);
            if (!rc) rc = set_member(d, "format", disks[k].format);
            /* a volume (an imported LV) is served by blkback, a qcow2
             * image (one imported from a volume) by QEMU */
            b = xlsnap__json_field(d, "backend");
            if (!rc && disks[k].kind == XLSNAP_DISK_VOLUME)
                rc = set_member(d, "backend", "phy");
            else if (!rc && disks[k].format &&
                     !strcmp(disks[k].format, "qcow2") && b &&
                     YAJL_IS_STRING(b) && !strcmp(b->u.string, "phy"))
                rc = set_member(d, "backend", "qdisk");
        }
    }
    if (rc) {
        rc = xlsnap__error(ctx, rc, "cannot rewrite the domain "
                           "configuration");
        goto out;
    }
    g = xlsnap__gen_alloc();
    if (!g) { rc = xlsnap__nomem(ctx); goto out; }
    rc = xlsnap__gen_end(ctx, g, xlsnap__gen_tree(g, root), json_r,
                         XLSNAP_ERROR_FAIL, "cannot re-encode the domain "
                         "configuration");
 out:
    yajl_tree_free(root);
    return rc;
}

/* The one way to point a disk of a domain config at another image
 * (revert's fresh overlays, a running domain's stored config after an
 * external snapshot): the disk must be there. */
int xlsnap__config_set_disk(xlsnap_ctx *ctx, const char *json,
                            const char *vdev, const char *path,
                            const char *format, char **json_r)
{
    xlsnap__cfgdisk *l = NULL;
    int nr = 0, rc, found = 0;

    *json_r = NULL;
    if ((rc = xlsnap__config_disks(ctx, json, &l, &nr))) return rc;
    for (int i = 0; i < nr; i++)
        found |= l[i].vdev && !strcmp(l[i].vdev, vdev);
    xlsnap__cfgdisk_list_free(l, nr);
    if (!found)
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND,
                             "domain configuration has no disk %s", vdev);
    xlsnap_disk one = { .vdev = (char *)vdev, .image = (char *)path,
                        .format = (char *)format };
    return xlsnap__config_rewrite(ctx, json, NULL, NULL, &one, 1, json_r);
}

/*
 * The configuration an imported snapshot gets when this host has none
 * for its domain: rebuilt from the bundle's, keeping only what a domain
 * needs to run and nothing that runs or opens something in dom0 (see
 * SECURITY in xl-snapshot(1)):
 *   c_info.type (pv, pvh, hvm); name and uuid are the importer's;
 *   b_info.max_vcpus, avail_vcpus, max_memkb, target_memkb (integers);
 *   b_info.kernel, ramdisk: only a regular file under one of dirs;
 *   b_info.cmdline (the guest kernel's command line);
 *   on_poweroff, on_reboot, on_crash: destroy, restart, preserve or
 *   restart_rename (libxl-json spelling);
 *   disks: exactly the snapshot's disks (qdisk, qcow2, read-write).
 * Everything else -- bootloader, scripts, NICs, phy: and other disks,
 * device model settings, PCI/USB passthrough, firmware paths -- goes.
 */
static bool under_dirs(const char *file, const char *const *dirs)
{
    char *real = realpath(file, NULL);
    struct stat st;
    bool ok = false;

    if (!real || stat(real, &st) < 0 || !S_ISREG(st.st_mode)) goto out;
    for (int i = 0; dirs[i] && !ok; i++) {
        char *d = realpath(dirs[i], NULL);
        size_t n = d ? strlen(d) : 0;
        ok = d && !strncmp(real, d, n) &&
             (real[n] == '/' || (n == 1 && d[0] == '/'));
        free(d);
    }
 out:
    free(real);
    return ok;
}

static yajl_val field(yajl_val o, const char *k, yajl_type t)
{
    const char *p[] = { k, NULL };
    return o && YAJL_IS_OBJECT(o) ? yajl_tree_get(o, p, t) : NULL;
}

static bool one_of(const char *s, const char *const *set)
{
    for (int i = 0; s && set[i]; i++)
        if (!strcmp(s, set[i])) return true;
    return false;
}

static int gen_c_info(yajl_gen g, const char *type, const char *name,
                      const char *uuid)
{
    int s;

    CHK(xlsnap__gen_str(g, "c_info"));
    CHK(yajl_gen_map_open(g));
    if (type) CHK(xlsnap__gen_kv_str(g, "type", type));
    if (name) CHK(xlsnap__gen_kv_str(g, "name", name));
    if (uuid) CHK(xlsnap__gen_kv_str(g, "uuid", uuid));
    CHK(yajl_gen_map_close(g));
 gen_failed:
    return s;
}

/* A list of vcpu numbers that libxl takes. */
static bool vcpu_list(yajl_val v)
{
    bool ok = v && v->u.array.len <= 4096;

    for (size_t i = 0; ok && i < v->u.array.len; i++) {
        yajl_val c = v->u.array.values[i];
        ok = YAJL_IS_INTEGER(c) && YAJL_GET_INTEGER(c) >= 0 &&
             YAJL_GET_INTEGER(c) < 4096;
    }
    return ok;
}

static int gen_b_info(yajl_gen g, yajl_val bi, const char *type,
                      const char *const *dirs)
{
    static const char *const ints[] = { "max_vcpus", "max_memkb",
                                        "target_memkb", NULL },
        *const files[] = { "kernel", "ramdisk", NULL };
    yajl_val pv = field(bi, "type.pv", yajl_t_object), v;
    char tkey[16];
    int s;

    CHK(xlsnap__gen_str(g, "b_info"));
    CHK(yajl_gen_map_open(g));
    for (int i = 0; ints[i]; i++) {
        v = field(bi, ints[i], yajl_t_number);
        if (v && YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) > 0)
            CHK(xlsnap__gen_kv_int(g, ints[i], YAJL_GET_INTEGER(v)));
    }
    v = field(bi, "avail_vcpus", yajl_t_array);
    if (vcpu_list(v)) {
        CHK(xlsnap__gen_str(g, "avail_vcpus"));
        CHK(xlsnap__gen_tree(g, v));
    }
    if (type) CHK(xlsnap__gen_kv_str(g, "type", type));
    for (int i = 0; files[i]; i++) {
        v = field(bi, files[i], yajl_t_string);
        if (!v) v = field(pv, files[i], yajl_t_string);
        if (v && v->u.string[0] == '/' && under_dirs(v->u.string, dirs))
            CHK(xlsnap__gen_kv_str(g, files[i], v->u.string));
    }
    v = field(bi, "cmdline", yajl_t_string);
    if (!v) v = field(pv, "cmdline", yajl_t_string);
    if (v) CHK(xlsnap__gen_kv_str(g, "cmdline", v->u.string));
    if (type) {
        snprintf(tkey, sizeof(tkey), "type.%s", type);   /* pv, pvh, hvm */
        CHK(xlsnap__gen_str(g, tkey));
        CHK(yajl_gen_map_open(g));
        CHK(yajl_gen_map_close(g));
    }
    CHK(yajl_gen_map_close(g));
 gen_failed:
    return s;
}

static int gen_disks(yajl_gen g, const xlsnap_disk *disks, int nr_disks)
{
    int s;

    CHK(xlsnap__gen_str(g, "disks"));
    CHK(yajl_gen_array_open(g));
    for (int i = 0; i < nr_disks; i++) {
        CHK(yajl_gen_map_open(g));
        CHK(xlsnap__gen_kv_str(g, "pdev_path", disks[i].image));
        CHK(xlsnap__gen_kv_str(g, "vdev", disks[i].vdev));
        CHK(xlsnap__gen_kv_str(g, "backend",
                               disks[i].kind == XLSNAP_DISK_VOLUME ? "phy"
                                                                   : "qdisk"));
        CHK(xlsnap__gen_kv_str(g, "format", disks[i].format));
        CHK(xlsnap__gen_kv_int(g, "readwrite", 1));
        CHK(yajl_gen_map_close(g));
    }
    CHK(yajl_gen_array_close(g));
 gen_failed:
    return s;
}

static int gen_events(yajl_gen g, yajl_val root)
{
    static const char *const actions[] = { "destroy", "restart",
                                           "preserve", "restart_rename",
                                           NULL },
        *const evs[] = { "on_poweroff", "on_reboot", "on_crash", NULL };
    int s = yajl_gen_status_ok;

    for (int i = 0; evs[i]; i++) {
        yajl_val v = field(root, evs[i], yajl_t_string);
        if (v && one_of(v->u.string, actions))
            CHK(xlsnap__gen_kv_str(g, evs[i], v->u.string));
    }
 gen_failed:
    return s;
}

int xlsnap__config_sanitize(xlsnap_ctx *ctx, const char *json,
                            const char *name, const char *uuid,
                            const xlsnap_disk *disks, int nr_disks,
                            const char *const *dirs, char **json_r)
{
    static const char *const types[] = { "pv", "pvh", "hvm", NULL };
    yajl_val root = NULL, v;
    yajl_gen g = xlsnap__gen_alloc();
    const char *type = NULL;
    char err[128];
    int rc, s;

    if (!g) return xlsnap__nomem(ctx);
    *json_r = NULL;
    if (json) root = yajl_tree_parse(json, err, sizeof(err));
    v = field(field(root, "c_info", yajl_t_object), "type", yajl_t_string);
    if (v && one_of(v->u.string, types)) type = v->u.string;
    CHK(yajl_gen_map_open(g));
    CHK(gen_c_info(g, type, name, uuid));
    CHK(gen_b_info(g, field(root, "b_info", yajl_t_object), type, dirs));
    CHK(gen_disks(g, disks, nr_disks));
    CHK(gen_events(g, root));
    CHK(yajl_gen_map_close(g));
 gen_failed:
    rc = xlsnap__gen_end(ctx, g, s, json_r, XLSNAP_ERROR_FAIL, "cannot "
                         "generate the domain configuration");
    if (root) yajl_tree_free(root);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
