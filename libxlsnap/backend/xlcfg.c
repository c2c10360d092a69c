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

static const char *first_line(char *buf, const char *fallback)
{
    if (!buf || !*buf) return fallback;
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

/* The libxl-json config of the parsed file: name, uuid, type, disks. */
static int minimal_json(xlsnap_ctx *ctx, XLU_Config *cfg, const char *path,
                        const char *name, const char *type, char **json_r)
{
    XLU_ConfigList *disks = NULL;
    yajl_gen g = xlsnap__gen_alloc();
    int nd = 0, rc, s;

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
        const char *fmt, *be;

        libxl_device_disk_init(&d);
        if (!spec || xlu_disk_parse(cfg, 1, &spec, &d)) {
            libxl_device_disk_dispose(&d);
            rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "%s: disk entry %d "
                               "is not a valid disk specification", path,
                               i + 1);
            goto out;
        }
        fmt = libxl_disk_format_to_string(d.format);
        be = d.backend != LIBXL_DISK_BACKEND_UNKNOWN
           ? libxl_disk_backend_to_string(d.backend)
           : d.format == LIBXL_DISK_FORMAT_QCOW2 ? "qdisk" : NULL;
        CHK(yajl_gen_map_open(g));
        CHK(xlsnap__gen_kv_str(g, "pdev_path", d.pdev_path));
        CHK(xlsnap__gen_kv_str(g, "vdev", d.vdev));
        if (be) CHK(xlsnap__gen_kv_str(g, "backend", be));
        CHK(xlsnap__gen_kv_str(g, "format", fmt));
        CHK(xlsnap__gen_kv_int(g, "readwrite", d.readwrite));
        CHK(xlsnap__gen_kv_int(g, "is_cdrom", d.is_cdrom));
        CHK(yajl_gen_map_close(g));
        libxl_device_disk_dispose(&d);
    }
    CHK(yajl_gen_array_close(g));
    CHK(yajl_gen_map_close(g));
    rc = xlsnap__gen_finish(ctx, g, json_r);
    goto out;
 gen_failed:
    rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "cannot build the domain "
                       "configuration of %s", path);
 out:
    yajl_gen_free(g);
    return rc;
}

/* xl's own parse (dry run), when a hypervisor is reachable. */
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

int xlsnap_domain_from_config(xlsnap_ctx *ctx, const char *path,
                              xlsnap_domain *dom_r, char **config_json_r)
{
    XLU_Config *cfg = NULL;
    FILE *report = NULL;
    char *rbuf = NULL, *name = NULL, *uuid = NULL, *type = NULL;
    char *json = NULL, *nj = NULL;
    size_t rlen = 0;
    xlsnap_domain d;
    int rc;

    xlsnap_domain_init(&d);
    *config_json_r = NULL;
    report = open_memstream(&rbuf, &rlen);
    if (!report) return xlsnap__nomem(ctx);
    cfg = xlu_cfg_init(report, path);
    if (!cfg) { rc = xlsnap__nomem(ctx); goto out; }
    if (xlu_cfg_readfile(cfg, path)) {
        fflush(report);
        rc = access(path, R_OK) < 0
           ? xlsnap__error_errno(ctx, errno, "cannot read %s", path)
           : xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "%s: %s", path,
                           first_line(rbuf, "config parsing error"));
        goto out;
    }
    {
        const char *s = NULL;
        if (xlu_cfg_get_string(cfg, "name", &s, 1) || !s || !*s) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "%s: no name= "
                               "setting: not an xl domain config", path);
            goto out;
        }
        name = xlsnap__strdup(s);
        for (const char *p = name; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == '/' || *p == 0x7f) {
                rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "%s: the "
                                   "domain name is not valid", path);
                goto out;
            }
        s = NULL;
        if (!xlu_cfg_get_string(cfg, "uuid", &s, 1) && s) {
            if (!(uuid = xlsnap__uuid_canon(s))) {
                rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "%s: uuid= is "
                                   "not a UUID", path);
                goto out;
            }
        }
        s = NULL;
        if (!xlu_cfg_get_string(cfg, "type", &s, 1) && s)
            type = xlsnap__strdup(s);
        else if (!xlu_cfg_get_string(cfg, "builder", &s, 1) && s &&
                 !strcmp(s, "hvm"))
            type = xlsnap__strdup("hvm");
        else
            type = xlsnap__strdup("pv");
        if (strcmp(type, "pv") && strcmp(type, "pvh") &&
            strcmp(type, "hvm")) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "%s: unknown "
                               "type '%s'", path, type);
            goto out;
        }
    }

    /* who it is: running, a history by uuid= or by name, or new */
    rc = xlsnap_domain_resolve(ctx, uuid ? uuid : name, &d);
    if (rc == XLSNAP_ERROR_NOTFOUND && !uuid) {
        xlsnap_domain_dispose(&d);
        if ((rc = xlsnap__uuid_generate(ctx, &d.uuid))) goto out;
    }
    if (rc) goto out;
    if (!d.name || strcmp(d.name, name)) {
        free(d.name);
        d.name = xlsnap__strdup(name);
    }
    if (d.domid < 0) {
        /* the configuration the domain would be created with */
        json = xl_dry_run(ctx, path);
        if (json &&
            xlsnap__config_rewrite(ctx, json, name, d.uuid, NULL, 0, &nj)) {
            /* not the JSON expected of xl: the file's own parse */
            free(json);
            json = NULL;
        }
        if (!json) {
            if ((rc = minimal_json(ctx, cfg, path, name, type, &json)))
                goto out;
            rc = xlsnap__config_rewrite(ctx, json, name, d.uuid, NULL, 0,
                                        &nj);
            if (rc) goto out;
        }
        *config_json_r = nj;
        nj = NULL;
    }
    *dom_r = d;
    xlsnap_domain_init(&d);
    rc = 0;
 out:
    if (cfg) xlu_cfg_destroy(cfg);
    if (report) fclose(report);
    free(rbuf);
    free(name);
    free(uuid);
    free(type);
    free(json);
    free(nj);
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
