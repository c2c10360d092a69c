/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * config.c - snapshot config files (xl.cfg syntax, read with libxlutil)
 *
 *   name="NAME"               default: creation time in epoch seconds
 *   description="TEXT"
 *   creationtime=N            informative; ignored on create
 *   memory="yes"|"no"|"/abs/path"   not set: "no" (disk-only, as in
 *                                    xl's original design)
 *   type="internal"|"external"
 *   disk=[ 'vdev=xvda,target=null',                       # internal
 *          'vdev=xvdb,format=qcow2,target=/abs/ovl.qcow2', # external
 *          'hdc=/abs/ovl.qcow2,type=qcow2' ]  # external, the original
 *                                             # design's form
 *
 * Every error names file:line.
 */
#include "internal.h"

#include <ctype.h>
#include <fcntl.h>
#include <libxlutil.h>

static const char *const known_keys[] = {
    "name", "description", "creationtime", "memory", "type", "disk",
};

void xlsnap_config_init(xlsnap_config *c)
{
    memset(c, 0, sizeof(*c));
    c->creationtime = -1;
}

void xlsnap_config_dispose(xlsnap_config *c)
{
    free(c->name);
    free(c->description);
    free(c->memory_path);
    for (int i = 0; i < c->num_disks; i++) {
        free(c->disks[i].vdev);
        free(c->disks[i].format);
        free(c->disks[i].target);
    }
    free(c->disks);
    xlsnap_config_init(c);
}

/*
 * Line of the last top-level assignment to key in text (0 if none), and
 * with key NULL the first assignment to a key not in known_keys
 * (*unknown_r set to a malloc'd copy of it).  A key is an identifier at
 * the start of a line followed by '='; list items start with quotes, so
 * they never look like keys.
 */
static int key_line(const char *text, const char *key, char **unknown_r)
{
    int line = 1, found = 0;

    for (const char *p = text; *p; line++) {
        const char *e;
        size_t n;

        while (*p == ' ' || *p == '\t') p++;
        e = p;
        while (isalnum((unsigned char)*e) || *e == '_') e++;
        n = e - p;
        while (*e == ' ' || *e == '\t') e++;
        if (n && !isdigit((unsigned char)*p) && *e == '=') {
            if (key) {
                if (strlen(key) == n && !strncmp(p, key, n)) found = line;
            } else {
                bool known = false;
                for (size_t i = 0; i < ARRAY_SIZE(known_keys); i++)
                    known |= strlen(known_keys[i]) == n &&
                             !strncmp(p, known_keys[i], n);
                if (!known) {
                    *unknown_r = strndup(p, n);
                    return line;
                }
            }
        }
        p = strchr(p, '\n');
        if (!p) break;
        p++;
    }
    return found;
}

static bool has_cntrl(const char *s)
{
    for (; *s; s++)
        if (iscntrl((unsigned char)*s)) return true;
    return false;
}

/* A disk entry of key=value parameters only, none of them target=
 * ('vdev=xvdb', 'vdev=xvdb,format=qcow2'). */
static bool keyed_without_target(const char *spec)
{
    const char *p = spec;

    while (*p) {
        size_t n = strcspn(p, ",");
        const char *eq = memchr(p, '=', n);

        if (!eq || (eq - p == 6 && !strncmp(p, "target", 6)))
            return false;
        p += n;
        if (*p == ',') p++;
    }
    return *spec != '\0';
}

/*
 * The disk form of xl's original snapshot design, "VDEV=PATH" with an
 * optional ",type=qcow2": 'hda=/var/lib/xen/snapshots/U/disk_hda.qcow2,
 * type=qcow2'.  It starts with a virtual device name (hdX, sdX, xvdX,
 * dN[pN]) and '=', which no key of xl's disk syntax does.  Returns 0
 * when spec is not in this form, 1 with *vdev_r, *path_r (malloc'd),
 * *type_r (malloc'd, NULL when not given) and *extra_r (the first other
 * parameter, NULL when none) set, -1 when out of memory.
 */
static int seed_disk_form(const char *spec, char **vdev_r, char **path_r,
                          char **type_r, char **extra_r)
{
    const char *p = spec, *eq, *comma;
    size_t n;

    *vdev_r = *path_r = *type_r = *extra_r = NULL;
    if (!strncmp(p, "xvd", 3)) p += 3;
    else if (!strncmp(p, "hd", 2) || !strncmp(p, "sd", 2)) p += 2;
    else if (*p == 'd' && isdigit((unsigned char)p[1])) p++;
    else return 0;
    n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789");
    if (!n || p[n] != '=') return 0;
    eq = p + n;
    *vdev_r = strndup(spec, eq - spec);
    comma = strchr(eq + 1, ',');
    *path_r = comma ? strndup(eq + 1, comma - eq - 1) : strdup(eq + 1);
    for (const char *o = comma; o; o = strchr(o + 1, ',')) {
        const char *e = strchrnul(o + 1, ',');
        if (!strncmp(o + 1, "type=", 5) && !*type_r) {
            *type_r = strndup(o + 6, e - o - 6);
        } else {
            *extra_r = strndup(o + 1, e - o - 1);
            if (!*extra_r) return -1;
            break;
        }
        if (!*type_r) return -1;
    }
    return *vdev_r && *path_r ? 1 : -1;
}

/* First line of what libxlutil reported, or fallback. */
static const char *report_text(char *buf, const char *fallback)
{
    if (!buf || !*buf) return fallback;
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

static const char *format_name(libxl_disk_format f)
{
    switch (f) {
    case LIBXL_DISK_FORMAT_QCOW2: return "qcow2";
    case LIBXL_DISK_FORMAT_RAW: return "raw";
    case LIBXL_DISK_FORMAT_QCOW: return "qcow";
    case LIBXL_DISK_FORMAT_VHD: return "vhd";
    case LIBXL_DISK_FORMAT_QED: return "qed";
    default: return "unknown";
    }
}

int xlsnap_config_parse_file(xlsnap_ctx *ctx, const char *path,
                             xlsnap_config *cfg_r)
{
    char *text = NULL;
    size_t len;
    int rc;

    rc = xlsnap__read_file(ctx, AT_FDCWD, path, 1 << 20, &text, &len);
    if (!rc) rc = xlsnap__config_parse_data(ctx, path, text, len, cfg_r);
    free(text);
    return rc;
}

int xlsnap__config_parse_data(xlsnap_ctx *ctx, const char *path,
                              const char *text, size_t len,
                              xlsnap_config *cfg_r)
{
    XLU_Config *cfg = NULL;
    XLU_ConfigList *disks = NULL;
    FILE *report = NULL;
    char *rbuf = NULL, *unknown = NULL;
    char *svdev = NULL, *spath = NULL, *stype = NULL, *sextra = NULL;
    char *nulled = NULL;
    size_t rlen = 0;
    const char *s;
    long l;
    int rc, e, seed, ndisks = 0;
    xlsnap_config c;
    libxl_device_disk disk;

    xlsnap_config_init(&c);
    libxl_device_disk_init(&disk);

    if ((rc = xlsnap__check_text(ctx, XLSNAP_ERROR_INVAL, path, text, len)))
        goto out;
    report = open_memstream(&rbuf, &rlen);
    if (!report) { rc = xlsnap__nomem(ctx); goto out; }
    cfg = xlu_cfg_init(report, path);
    if (!cfg) { rc = xlsnap__nomem(ctx); goto out; }
    e = xlu_cfg_readdata(cfg, text, len);
    if (e) {
        fflush(report);
        /* libxlutil says "file:line: config parsing error near ..." */
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "%s",
                           report_text(rbuf, "config parsing error"));
        goto out;
    }

#define BAD(...) do {                                              \
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "%s:%d: " __VA_ARGS__); \
        goto out;                                                       \
    } while (0)
#define LINE(key) path, key_line(text, key, NULL)
/* A string setting; it goes into a JSON record, so it must be UTF-8. */
#define GET_STR(key) do {                                                \
        e = xlu_cfg_get_string(cfg, key, &s, 1);                         \
        if (!e && !xlsnap__utf8_valid(s))                                \
            BAD("'" key "' is not valid UTF-8", LINE(key));              \
    } while (0)

    e = key_line(text, NULL, &unknown);
    if (e) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                           "%s:%d: unknown setting '%s' (known: name, "
                           "description, creationtime, memory, type, disk)",
                           path, e, unknown);
        goto out;
    }

    GET_STR("name");
    if (e == EINVAL) BAD("'name' must be a string", LINE("name"));
    if (!e) {
        if (xlsnap_name_validate(ctx, s)) {
            rc = xlsnap__error_prefix(ctx, XLSNAP_ERROR_INVAL, "%s:%d",
                                      LINE("name"));
            goto out;
        }
        c.name = xlsnap__strdup(s);
    }

    GET_STR("description");
    if (e == EINVAL)
        BAD("'description' must be a string",
            LINE("description"));
    if (!e) c.description = xlsnap__strdup(s);

    e = xlu_cfg_get_long(cfg, "creationtime", &l, 1);
    if (e == EINVAL || (!e && l < 0))
        BAD("'creationtime' must be a non-negative "
            "number of seconds since the epoch", LINE("creationtime"));
    if (!e) c.creationtime = l;

    GET_STR("memory");
    if (e == EINVAL)
        BAD("'memory' must be a string: \"yes\", \"no\" or an "
            "absolute path", LINE("memory"));
    if (e == ESRCH) {
        /* xl's original design: a snapshot config file without memory=
         * takes the disks only */
        c.memory = XLSNAP_MEMORY_NO;
    } else if (!e) {
        if (!strcmp(s, "yes")) {
            c.memory = XLSNAP_MEMORY_YES;
        } else if (!strcmp(s, "no")) {
            c.memory = XLSNAP_MEMORY_NO;
        } else if (s[0] == '/') {
            c.memory = XLSNAP_MEMORY_PATH;
            c.memory_path = xlsnap__strdup(s);
        } else {
            BAD("memory=\"%s\": expected \"yes\", \"no\" or an "
                "absolute path", LINE("memory"), s);
        }
    }

    GET_STR("type");
    if (e == EINVAL)
        BAD("'type' must be a string: \"internal\" or "
            "\"external\"", LINE("type"));
    if (!e) {
        if (!strcmp(s, "internal"))
            c.type = XLSNAP_DISK_INTERNAL;
        else if (!strcmp(s, "external"))
            c.type = XLSNAP_DISK_EXTERNAL;
        else
            BAD("type=\"%s\": expected \"internal\" or "
                "\"external\"", LINE("type"), s);
    }

    e = xlu_cfg_get_list(cfg, "disk", &disks, &ndisks, 1);
    if (e == EINVAL)
        BAD("'disk' must be a list of disk specifications, e.g. "
            "disk=[ 'vdev=xvda,target=null' ]", LINE("disk"));
    if (!e && ndisks > 0) {
        c.disks = calloc(ndisks, sizeof(*c.disks));
        if (!c.disks) { rc = xlsnap__nomem(ctx); goto out; }
    }
    for (int i = 0; !e && i < ndisks; i++) {
        const char *spec = xlu_cfg_get_listitem(disks, i);
        xlsnap_cfg_disk *d = &c.disks[i];
        bool explicit_format;

        if (!spec)
            BAD("disk entry %d is not a string", LINE("disk"),
                i + 1);
        if (!xlsnap__utf8_valid(spec))
            BAD("disk entry %d is not valid UTF-8", LINE("disk"), i + 1);
        if (has_cntrl(spec))
            BAD("disk entry %d contains a control character",
                LINE("disk"), i + 1);
        seed = seed_disk_form(spec, &svdev, &spath, &stype, &sextra);
        if (seed < 0) { rc = xlsnap__nomem(ctx); goto out; }
        if (seed) {
            /* 'hda=/path,type=qcow2': an external snapshot of hda whose
             * data gets /path, as 'vdev=hda,format=qcow2,target=/path' */
            c.num_disks = i + 1;
            d->vdev = svdev;
            svdev = NULL;
            if (sextra)
                BAD("disk entry %d '%s': unknown parameter '%s' (this "
                    "form takes only type=qcow2; see xl-snapshot.conf(5) "
                    "for the vdev=,format=,target= form)", LINE("disk"),
                    i + 1, spec, sextra);
            if (spath[0] != '/')
                BAD("disk entry %d '%s': the snapshot path '%s' must be "
                    "an absolute path", LINE("disk"), i + 1, spec, spath);
            if (stype && strcmp(stype, "qcow2"))
                BAD("disk entry %d '%s': type=%s: an external snapshot "
                    "is a qcow2 image (type=qcow2)", LINE("disk"), i + 1,
                    spec, stype);
            d->kind = XLSNAP_DISK_EXTERNAL;
            d->target = spath;
            spath = NULL;
            d->format = xlsnap__strdup("qcow2");
            free(stype);
            stype = NULL;
            goto dup_check;
        }
        libxl_device_disk_dispose(&disk);
        libxl_device_disk_init(&disk);
        free(nulled);
        nulled = NULL;
        if (keyed_without_target(spec)) {
            /* 'vdev=xvdb' alone: that disk, in the snapshot's type and
             * default place (xl's parser wants a target) */
            if (asprintf(&nulled, "%s,target=null", spec) < 0) {
                nulled = NULL;
                rc = xlsnap__nomem(ctx);
                goto out;
            }
        }
        if (xlu_disk_parse(cfg, 1, nulled ? (const char **)&nulled : &spec,
                           &disk)) {
            fflush(report);
            /* libxlutil: "file: config parsing error in disk ...: why" */
            const char *why = report_text(rbuf, "invalid disk spec");
            const char *colon = strstr(why, "specification: ");
            BAD("disk entry %d '%s': %s", LINE("disk"), i + 1, spec,
                colon ? colon + strlen("specification: ") : why);
        }
        c.num_disks = i + 1;
        d->vdev = xlsnap__strdup(disk.vdev);
        explicit_format = strstr(spec, "format=") != NULL ||
                          strchr(spec, ',') == NULL ||
                          disk.format != LIBXL_DISK_FORMAT_RAW;
        if (!disk.pdev_path || !*disk.pdev_path ||
            !strcmp(disk.pdev_path, "null")) {
            d->kind = 0;             /* the snapshot's type */
        } else {
            if (disk.pdev_path[0] != '/')
                BAD("disk entry %d: target '%s' must be an "
                    "absolute path (or null for an internal snapshot)",
                    LINE("disk"), i + 1, disk.pdev_path);
            d->kind = XLSNAP_DISK_EXTERNAL;
            d->target = xlsnap__strdup(disk.pdev_path);
        }
        if (explicit_format && disk.format != LIBXL_DISK_FORMAT_RAW) {
            if (disk.format != LIBXL_DISK_FORMAT_QCOW2)
                BAD("disk entry %d: format %s cannot hold "
                    "snapshots (use qcow2)", LINE("disk"), i + 1,
                    format_name(disk.format));
            d->format = xlsnap__strdup("qcow2");
        }
 dup_check:
        for (int j = 0; j < i; j++)
            if (!strcmp(c.disks[j].vdev, d->vdev))
                BAD("disk %s is listed twice", LINE("disk"),
                    d->vdev);
    }
#undef GET_STR
#undef BAD
#undef LINE

    *cfg_r = c;
    xlsnap_config_init(&c);
    rc = 0;
 out:
    libxl_device_disk_dispose(&disk);
    if (cfg) xlu_cfg_destroy(cfg);
    if (report) fclose(report);
    free(rbuf);
    free(unknown);
    free(nulled);
    free(svdev);
    free(spath);
    free(stype);
    free(sextra);
    xlsnap_config_dispose(&c);
    return rc;
}

int xlsnap_config_to_json(xlsnap_ctx *ctx, const xlsnap_config *c,
                          char **json_r)
{
    yajl_gen g = xlsnap__gen_alloc();
    int s, rc;
    static const char *const mem[] = { NULL, "no", "yes", NULL };

    if (!g) return xlsnap__nomem(ctx);
    CHK(yajl_gen_map_open(g));
    CHK(xlsnap__gen_kv_str(g, "name", c->name));
    CHK(xlsnap__gen_kv_str(g, "description", c->description));
    CHK(xlsnap__gen_str(g, "creationtime"));
    CHK(c->creationtime < 0 ? yajl_gen_null(g)
                            : yajl_gen_integer(g, c->creationtime));
    CHK(xlsnap__gen_kv_str(g, "memory",
                           c->memory == XLSNAP_MEMORY_PATH
                           ? c->memory_path : mem[c->memory]));
    CHK(xlsnap__gen_kv_str(g, "type",
                           c->type == XLSNAP_DISK_INTERNAL ? "internal" :
                           c->type == XLSNAP_DISK_EXTERNAL ? "external" :
                           NULL));
    CHK(xlsnap__gen_str(g, "disks"));
    CHK(yajl_gen_array_open(g));
    for (int i = 0; i < c->num_disks; i++) {
        const xlsnap_cfg_disk *d = &c->disks[i];
        CHK(yajl_gen_map_open(g));
        CHK(xlsnap__gen_kv_str(g, "vdev", d->vdev));
        CHK(xlsnap__gen_kv_str(g, "snapshot",
                               d->kind == XLSNAP_DISK_EXTERNAL ? "external"
                               : NULL));
        CHK(xlsnap__gen_kv_str(g, "format", d->format));
        CHK(xlsnap__gen_kv_str(g, "target", d->target));
        CHK(yajl_gen_map_close(g));
    }
    CHK(yajl_gen_array_close(g));
    CHK(yajl_gen_map_close(g));
    rc = xlsnap__gen_finish(ctx, g, json_r);
    goto out;
 gen_failed:
    rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                       "cannot generate JSON (yajl status %d; a string is "
                       "not valid UTF-8?)", s);
 out:
    yajl_gen_free(g);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
