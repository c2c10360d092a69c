/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xlcfg.c - a domain described by the admin's own xl config file
 *
 * For a domain that is not running (and may have no snapshot yet), the
 * xl config file says what it is: its name, uuid= if any, and its disks,
 * parsed with libxlutil as xl parses them.  Nothing in the file is run
 * or opened.  When a hypervisor is reachable, `xl -N create FILE` (xl's
 * dry run, which prints the libxl-json config xl would create) gives the
 * whole configuration, so that a revert can start the domain from it;
 * without one, the configuration holds the name, UUID, type and disks.
 */
#include "internal.h"

#include <libxlutil.h>
#include <unistd.h>

static const char *xl_prog(void)
{
    const char *p = getenv("XL_SNAPSHOT_XL");
    return p && *p ? p : "xl";
}

/* One disk of the minimal config, as libxl-json has it. */
static int gen_disk(yajl_gen g, const libxl_device_disk *d)
{
    const char *fmt = libxl_disk_format_to_string(d->format);
    const char *be = d->backend != LIBXL_DISK_BACKEND_UNKNOWN
                   ? libxl_disk_backend_to_string(d->backend)
                   : d->format == LIBXL_DISK_FORMAT_QCOW2 ? "qdisk" : NULL;
    int s;

    CHK(yajl_gen_map_open(g));
    CHK(xlsnap__gen_kv_str(g, "pdev_path", d->pdev_path));
    CHK(xlsnap__gen_kv_str(g, "vdev", d->vdev));
    if (be) CHK(xlsnap__gen_kv_str(g, "backend", be));
    CHK(xlsnap__gen_kv_str(g, "format", fmt));
    CHK(xlsnap__gen_kv_int(g, "readwrite", d->readwrite));
    CHK(xlsnap__gen_kv_int(g, "is_cdrom", d->is_cdrom));
    CHK(yajl_gen_map_close(g));
 gen_failed:
    return s;
}

/* The libxl-json config of the parsed file: name, uuid, type, disks. */
static int minimal_json(xlsnap_ctx *ctx, XLU_Config *cfg, const char *path,
                        const char *name, const char *type, char **json_r)
{
    XLU_ConfigList *disks = NULL;
    yajl_gen g = xlsnap__gen_alloc();
    int nd = 0, s;

    if (!g) return xlsnap__nomem(ctx);
    CHK(yajl_gen_map_open(g));
    CHK(xlsnap__gen_str(g, "c_info"));
    CHK(yajl_gen_map_open(g));
    CHK(xlsnap__gen_kv_str(g, "type", type));
    CHK(xlsnap__gen_kv_str(g, "name", name));
    CHK(yajl_gen_map_close(g));
    CHK(xlsnap__gen_str(g, "disks"));
    CHK(yajl_gen_array_open(g));
    if (xlu_cfg_get_list(cfg, "disk", &disks, &nd, 1)) nd = 0;
    for (int i = 0; i < nd; i++) {
        const char *spec = xlu_cfg_get_listitem(disks, i);
        libxl_device_disk d;

        libxl_device_disk_init(&d);
        if (!spec || xlu_disk_parse(cfg, 1, &spec, &d))
            s = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "%s: disk entry %d "
                              "is not a valid disk specification", path,
                              i + 1);
        else
            s = gen_disk(g, &d);
        libxl_device_disk_dispose(&d);
        if (s) goto gen_failed;
    }
    CHK(yajl_gen_array_close(g));
    CHK(yajl_gen_map_close(g));
 gen_failed:
    return xlsnap__gen_end(ctx, g, s, json_r, XLSNAP_ERROR_FAIL, "cannot "
                           "build the domain configuration of %s", path);
}

/* xl's own parse (dry run), when a hypervisor is reachable; NULL when
 * there is none (or no memory for it: the file's own parse then). */
static char *xl_dry_run(xlsnap_ctx *ctx, const char *path)
{
    const char *argv[] = { xl_prog(), "-N", "create", path, NULL };
    char *out = NULL, *err = NULL, *r = NULL, *b;
    xlsnap__errsaved saved;
    int status;

    if (!xlsnap__hypervisor_present()) return NULL;
    xlsnap__errsave(ctx, &saved);
    if (!xlsnap__spawn(ctx, argv, -1, &out, &err, &status) && !status &&
        out && (b = strchr(out, '{')))
        r = xlsnap__strdup(b);
    xlsnap__errrestore(ctx, &saved);
    free(out);
    free(err);
    return r;
}

/* The name, uuid= (NULL when not set) and type the file gives. */
static int read_identity(xlsnap_ctx *ctx, XLU_Config *cfg, const char *path,
                         char **name_r, char **uuid_r, char **type_r)
{
    const char *s = NULL, *b = NULL;

    if (xlu_cfg_get_string(cfg, "name", &s, 1) || !s || !*s)
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "%s: no name= "
                             "setting: not an xl domain config", path);
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '/' || *p == 0x7f)
            return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "%s: the domain "
                                 "name is not valid", path);
    if (!(*name_r = xlsnap__strdup(s))) return xlsnap__nomem(ctx);
    s = NULL;
    if (!xlu_cfg_get_string(cfg, "uuid", &s, 1) && s) {
        if (!xlsnap__is_uuid(s))
            return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "%s: uuid= is "
                                 "not a UUID", path);
        if (!(*uuid_r = xlsnap__uuid_canon(s))) return xlsnap__nomem(ctx);
    }
    s = NULL;
    if (xlu_cfg_get_string(cfg, "type", &s, 1) || !s)
        s = !xlu_cfg_get_string(cfg, "builder", &b, 1) && b &&
            !strcmp(b, "hvm") ? "hvm" : "pv";
    if (strcmp(s, "pv") && strcmp(s, "pvh") && strcmp(s, "hvm"))
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "%s: unknown type "
                             "'%s'", path, s);
    if (!(*type_r = xlsnap__strdup(s))) return xlsnap__nomem(ctx);
    return 0;
}

/* Who it is: running, a history by uuid= or by name, or new. */
static int identify(xlsnap_ctx *ctx, const char *name, const char *uuid,
                    xlsnap_domain *d)
{
    int rc = xlsnap_domain_resolve(ctx, uuid ? uuid : name, d);

    if (rc == XLSNAP_ERROR_NOTFOUND && !uuid) {
        xlsnap_domain_dispose(d);
        rc = xlsnap__uuid_generate(ctx, &d->uuid);
    }
    if (rc) return rc;
    if (!d->name || strcmp(d->name, name)) {
        free(d->name);
        if (!(d->name = xlsnap__strdup(name))) return xlsnap__nomem(ctx);
    }
    return 0;
}

/* The configuration the domain would be created with, as the domain
 * name and uuid: xl's own parse, else the file's. */
static int creation_config(xlsnap_ctx *ctx, XLU_Config *cfg,
                           const char *path, const char *type,
                           const xlsnap_domain *d, char **json_r)
{
    char *json = xl_dry_run(ctx, path);
    int rc;

    if (json &&
        !xlsnap__config_rewrite(ctx, json, d->name, d->uuid, NULL, 0,
                                json_r)) {
        free(json);
        return 0;
    }
    /* not the JSON expected of xl: the file's own parse */
    free(json);
    json = NULL;
    if ((rc = minimal_json(ctx, cfg, path, d->name, type, &json))) return rc;
    rc = xlsnap__config_rewrite(ctx, json, d->name, d->uuid, NULL, 0, json_r);
    free(json);
    return rc;
}

int xlsnap_domain_from_config(xlsnap_ctx *ctx, const char *path,
                              xlsnap_domain *dom_r, char **config_json_r)
{
    xlsnap__xlu x = XLSNAP__XLU_INIT;
    char *name = NULL, *uuid = NULL, *type = NULL;
    xlsnap_domain d;
    int rc;

    xlsnap_domain_init(&d);
    *config_json_r = NULL;
    if ((rc = xlsnap__xlu_open(ctx, path, &x))) goto out;
    if (xlu_cfg_readfile(x.cfg, path)) {
        if (access(path, R_OK) < 0)
            rc = xlsnap__error_errno(ctx, errno, "cannot read %s", path);
        else
            rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "%s: %s", path,
                               xlsnap__xlu_report(&x, "config parsing "
                                                  "error"));
        goto out;
    }
    if ((rc = read_identity(ctx, x.cfg, path, &name, &uuid, &type)) ||
        (rc = identify(ctx, name, uuid, &d)) ||
        (d.domid < 0 &&
         (rc = creation_config(ctx, x.cfg, path, type, &d, config_json_r))))
        goto out;
    *dom_r = d;
    xlsnap_domain_init(&d);
 out:
    xlsnap__xlu_close(&x);
    free(name);
    free(uuid);
    free(type);
    xlsnap_domain_dispose(&d);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
