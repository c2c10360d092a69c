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
 *   reuse_external="yes"|"no"  external targets name pre-created
 *                              overlays (default "no")
 *   disk=[ 'vdev=xvda,target=null',                       # internal
 *          'vdev=xvdb,format=qcow2,target=/abs/ovl.qcow2', # external
 *          'hdc=/abs/ovl.qcow2,type=qcow2' ]  # external, the original
 *                                             # design's form
 *   quiesce=0|1               freeze the guest's file systems (agent)
 *   snapshot_size="SIZE"|"N%" classic LVM snapshot volumes' size
 *
 * Every error names file:line.
 */
#include "internal.h"

#include <ctype.h>
#include <fcntl.h>
#include <libxlutil.h>

static const char *const known_keys[] = {
    "name", "description", "creationtime", "memory", "type", "disk",
    "quiesce", "reuse_external", "snapshot_size",
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
    free(c->snapshot_size);
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

/* ---- parsing: one config file ---- */

typedef struct {
    xlsnap_ctx *ctx;
    const char *path, *text;
    xlsnap__xlu x;
} parser;

/* INVAL "file:line: why", line the last assignment to key. */
static int bad(const parser *p, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(const parser *p, const char *key, const char *fmt, ...)
{
    char why[XLSNAP__ERRBUF];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return xlsnap__error(p->ctx, XLSNAP_ERROR_INVAL, "%s:%d: %s", p->path,
                         key_line(p->text, key, NULL), why);
}

/* *to = a copy of s, or out of memory. */
static int copy(const parser *p, char **to, const char *s)
{
    *to = xlsnap__strdup(s);
    return *to ? 0 : xlsnap__nomem(p->ctx);
}

/* Every setting is a known one. */
static int check_keys(const parser *p)
{
    char *unknown = NULL;
    int line = key_line(p->text, NULL, &unknown), rc;

    if (!line) return 0;
    if (!unknown) return xlsnap__nomem(p->ctx);
    rc = xlsnap__error(p->ctx, XLSNAP_ERROR_INVAL,
                       "%s:%d: unknown setting '%s' (known: name, "
                       "description, creationtime, memory, type, disk, "
                       "quiesce)",
                       p->path, line, unknown);
    free(unknown);
    return rc;
}

/* A string setting s, as xlu_cfg_get_string gave it (e); it goes into
 * a JSON record, so it must be UTF-8.  0 when it is set, 1 when it is
 * not, or an error ('wrong': what a value that is not a string is
 * told). */
static int str_setting(const parser *p, const char *key, const char *wrong,
                       int e, const char *s)
{
    if (!e && !xlsnap__utf8_valid(s))
        return bad(p, key, "'%s' is not valid UTF-8", key);
    if (e == EINVAL) return bad(p, key, "%s", wrong);
    return e ? 1 : 0;
}

static int parse_name(const parser *p, XLU_Config *cfg, xlsnap_config *c)
{
    const char *s = NULL;
    int e = xlu_cfg_get_string(cfg, "name", &s, 1);
    int rc = str_setting(p, "name", "'name' must be a string", e, s);

    if (rc) return rc < 0 ? rc : 0;
    if (xlsnap_name_validate(p->ctx, s))
        return xlsnap__error_prefix(p->ctx, XLSNAP_ERROR_INVAL, "%s:%d",
                                    p->path, key_line(p->text, "name", NULL));
    return copy(p, &c->name, s);
}

static int parse_description(const parser *p, XLU_Config *cfg,
                             xlsnap_config *c)
{
    const char *s = NULL;
    int e = xlu_cfg_get_string(cfg, "description", &s, 1);
    int rc = str_setting(p, "description", "'description' must be a "
                         "string", e, s);

    if (rc) return rc < 0 ? rc : 0;
    return copy(p, &c->description, s);
}

static int parse_creationtime(const parser *p, XLU_Config *cfg,
                              xlsnap_config *c)
{
    long l;
    int e = xlu_cfg_get_long(cfg, "creationtime", &l, 1);

    if (e == EINVAL || (!e && l < 0))
        return bad(p, "creationtime", "'creationtime' must be a "
                   "non-negative number of seconds since the epoch");
    if (!e) c->creationtime = l;
    return 0;
}

static int parse_quiesce(const parser *p, XLU_Config *cfg, xlsnap_config *c)
{
    long l;
    int e = xlu_cfg_get_long(cfg, "quiesce", &l, 1);

    if (e == EINVAL || (!e && l != 0 && l != 1))
        return bad(p, "quiesce", "'quiesce' must be 0 or 1");
    c->quiesce = !e && l == 1;
    return 0;
}

static int parse_snapshot_size(const parser *p, XLU_Config *cfg,
                               xlsnap_config *c)
{
    const char *s = NULL;
    int e = xlu_cfg_get_string(cfg, "snapshot_size", &s, 1);
    int rc = str_setting(p, "snapshot_size", "'snapshot_size' must be a "
                         "string: a size (\"512M\") or a percentage of the "
                         "origin volume (\"20%\")", e, s);

    if (rc) return rc < 0 ? rc : 0;
    if (xlsnap_snapshot_size_check(p->ctx, s))
        return bad(p, "snapshot_size", "%s", xlsnap_last_error(p->ctx));
    return copy(p, &c->snapshot_size, s);
}

static int parse_memory(const parser *p, XLU_Config *cfg, xlsnap_config *c)
{
    const char *s = NULL;
    int e = xlu_cfg_get_string(cfg, "memory", &s, 1);
    int rc = str_setting(p, "memory", "'memory' must be a string: \"yes\", "
                         "\"no\" or an absolute path", e, s);

    if (rc < 0) return rc;
    if (rc || !strcmp(s, "no")) {
        /* not set: xl's original design, where a snapshot config file
         * without memory= takes the disks only */
        c->memory = XLSNAP_MEMORY_NO;
    } else if (!strcmp(s, "yes")) {
        c->memory = XLSNAP_MEMORY_YES;
    } else if (s[0] == '/') {
        c->memory = XLSNAP_MEMORY_PATH;
        return copy(p, &c->memory_path, s);
    } else {
        return bad(p, "memory", "memory=\"%s\": expected \"yes\", \"no\" "
                   "or an absolute path", s);
    }
    return 0;
}

static int parse_type(const parser *p, XLU_Config *cfg, xlsnap_config *c)
{
    const char *s = NULL;
    int e = xlu_cfg_get_string(cfg, "type", &s, 1);
    int rc = str_setting(p, "type", "'type' must be a string: \"internal\" "
                         "or \"external\"", e, s);

    if (rc) return rc < 0 ? rc : 0;
    if (!(c->type = xlsnap__disk_kind_parse(s)))
        return bad(p, "type", "type=\"%s\": expected \"internal\" or "
                   "\"external\"", s);
    return 0;
}

static int parse_reuse_external(const parser *p, XLU_Config *cfg,
                                xlsnap_config *c)
{
    const char *s = NULL;
    int e = xlu_cfg_get_string(cfg, "reuse_external", &s, 1);
    int rc = str_setting(p, "reuse_external", "'reuse_external' must be "
                         "\"yes\" or \"no\"", e, s);

    if (rc) return rc < 0 ? rc : 0;
    if (!strcmp(s, "yes") || !strcmp(s, "1"))
        c->reuse_external = true;
    else if (strcmp(s, "no") && strcmp(s, "0"))
        return bad(p, "reuse_external", "reuse_external=\"%s\": expected "
                   "\"yes\" or \"no\"", s);
    return 0;
}

/* Disk entry i in the original design's form ('hda=/path,type=qcow2':
 * an external snapshot of hda whose data gets /path, as
 * 'vdev=hda,format=qcow2,target=/path'); 1 when it is not in it. */
static int seed_disk(const parser *p, int i, const char *spec,
                     xlsnap_cfg_disk *d)
{
    char *vdev, *path, *type, *extra;
    int rc, seed = seed_disk_form(spec, &vdev, &path, &type, &extra);

    if (seed <= 0)
        rc = seed < 0 ? xlsnap__nomem(p->ctx) : 1;
    else if (extra)
        rc = bad(p, "disk", "disk entry %d '%s': unknown parameter '%s' "
                 "(this form takes only type=qcow2; see "
                 "xl-snapshot.conf(5) for the vdev=,format=,target= form)",
                 i + 1, spec, extra);
    else if (path[0] != '/')
        rc = bad(p, "disk", "disk entry %d '%s': the snapshot path '%s' "
                 "must be an absolute path", i + 1, spec, path);
    else if (type && strcmp(type, "qcow2"))
        rc = bad(p, "disk", "disk entry %d '%s': type=%s: an external "
                 "snapshot is a qcow2 image (type=qcow2)", i + 1, spec,
                 type);
    else
        rc = copy(p, &d->format, "qcow2");
    if (!rc) {
        d->kind = XLSNAP_DISK_EXTERNAL;
        d->vdev = vdev;
        d->target = path;
        vdev = path = NULL;
    }
    free(vdev);
    free(path);
    free(type);
    free(extra);
    return rc;
}

/* Disk entry i in xl's disk syntax, target= optional. */
static int xl_disk(parser *p, int i, const char *spec, xlsnap_cfg_disk *d)
{
    libxl_device_disk disk;
    char *nulled = NULL;
    bool explicit_format;
    int rc;

    libxl_device_disk_init(&disk);
    /* 'vdev=xvdb' alone: that disk, in the snapshot's type and default
     * place (xl's parser wants a target) */
    if (keyed_without_target(spec) &&
        asprintf(&nulled, "%s,target=null", spec) < 0) {
        nulled = NULL;
        rc = xlsnap__nomem(p->ctx);
        goto out;
    }
    if (xlu_disk_parse(p->x.cfg, 1, nulled ? (const char **)&nulled : &spec,
                       &disk)) {
        /* libxlutil: "file: config parsing error in disk ...: why" */
        const char *why = xlsnap__xlu_report(&p->x, "invalid disk spec");
        const char *colon = strstr(why, "specification: ");
        rc = bad(p, "disk", "disk entry %d '%s': %s", i + 1, spec,
                 colon ? colon + strlen("specification: ") : why);
        goto out;
    }
    if ((rc = copy(p, &d->vdev, disk.vdev))) goto out;
    explicit_format = strstr(spec, "format=") != NULL ||
                      strchr(spec, ',') == NULL ||
                      disk.format != LIBXL_DISK_FORMAT_RAW;
    if (!disk.pdev_path || !*disk.pdev_path ||
        !strcmp(disk.pdev_path, "null")) {
        d->kind = 0;                 /* the snapshot's type */
    } else if (disk.pdev_path[0] != '/') {
        rc = bad(p, "disk", "disk entry %d: target '%s' must be an absolute "
                 "path (or null for an internal snapshot)", i + 1,
                 disk.pdev_path);
        goto out;
    } else {
        d->kind = XLSNAP_DISK_EXTERNAL;
        if ((rc = copy(p, &d->target, disk.pdev_path))) goto out;
    }
    if (explicit_format && disk.format != LIBXL_DISK_FORMAT_RAW) {
        if (disk.format != LIBXL_DISK_FORMAT_QCOW2)
            rc = bad(p, "disk", "disk entry %d: format %s cannot hold "
                     "snapshots (use qcow2)", i + 1,
                     format_name(disk.format));
        else
            rc = copy(p, &d->format, "qcow2");
    }
 out:
    libxl_device_disk_dispose(&disk);
    free(nulled);
    return rc;
}

static int parse_disks(parser *p, XLU_Config *cfg, xlsnap_config *c)
{
    XLU_ConfigList *disks = NULL;
    int ndisks = 0, rc;
    int e = xlu_cfg_get_list(cfg, "disk", &disks, &ndisks, 1);

    if (e == EINVAL)
        return bad(p, "disk", "'disk' must be a list of disk "
                   "specifications, e.g. disk=[ 'vdev=xvda,target=null' ]");
    if (e || ndisks <= 0) return 0;
    c->disks = calloc(ndisks, sizeof(*c->disks));
    if (!c->disks) return xlsnap__nomem(p->ctx);
    for (int i = 0; i < ndisks; i++) {
        const char *spec = xlu_cfg_get_listitem(disks, i);
        xlsnap_cfg_disk *d = &c->disks[i];

        if (!spec)
            return bad(p, "disk", "disk entry %d is not a string", i + 1);
        if (!xlsnap__utf8_valid(spec))
            return bad(p, "disk", "disk entry %d is not valid UTF-8", i + 1);
        if (has_cntrl(spec))
            return bad(p, "disk", "disk entry %d contains a control "
                       "character", i + 1);
        c->num_disks = i + 1;        /* (disposed with c from here on) */
        rc = seed_disk(p, i, spec, d);
        if (rc == 1) rc = xl_disk(p, i, spec, d);
        if (rc) return rc;
        for (int j = 0; j < i; j++)
            if (!strcmp(c->disks[j].vdev, d->vdev))
                return bad(p, "disk", "disk %s is listed twice", d->vdev);
    }
    return 0;
}

int xlsnap__config_parse_data(xlsnap_ctx *ctx, const char *path,
                              const char *text, size_t len,
                              xlsnap_config *cfg_r)
{
    parser p = { .ctx = ctx, .path = path, .text = text,
                 .x = XLSNAP__XLU_INIT };
    xlsnap_config c;
    int rc;

    xlsnap_config_init(&c);
    if ((rc = xlsnap__check_text(ctx, XLSNAP_ERROR_INVAL, path, text, len)) ||
        (rc = xlsnap__xlu_open(ctx, path, &p.x)))
        goto out;
    if (xlu_cfg_readdata(p.x.cfg, text, len)) {
        /* libxlutil says "file:line: config parsing error near ..." */
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "%s",
                           xlsnap__xlu_report(&p.x, "config parsing error"));
        goto out;
    }
    /* (every setting read as xlu_cfg_get_*(cfg, "key"...): the man page
     * test finds them so) */
    if ((rc = check_keys(&p)) ||
        (rc = parse_name(&p, p.x.cfg, &c)) ||
        (rc = parse_description(&p, p.x.cfg, &c)) ||
        (rc = parse_creationtime(&p, p.x.cfg, &c)) ||
        (rc = parse_memory(&p, p.x.cfg, &c)) ||
        (rc = parse_type(&p, p.x.cfg, &c)) ||
        (rc = parse_reuse_external(&p, p.x.cfg, &c)) ||
        (rc = parse_disks(&p, p.x.cfg, &c)) ||
        (rc = parse_quiesce(&p, p.x.cfg, &c)) ||
        (rc = parse_snapshot_size(&p, p.x.cfg, &c)))
        goto out;
    *cfg_r = c;
    xlsnap_config_init(&c);
 out:
    xlsnap__xlu_close(&p.x);
    xlsnap_config_dispose(&c);
    return rc;
}

static int gen_disk(yajl_gen g, const xlsnap_cfg_disk *d)
{
    const char *const kv[] = {
        "vdev", d->vdev,
        "snapshot", d->kind == XLSNAP_DISK_EXTERNAL ? "external" : NULL,
        "format", d->format,
        "target", d->target,
        NULL
    };

    return xlsnap__gen_str_map(g, kv);
}

int xlsnap_config_to_json(xlsnap_ctx *ctx, const xlsnap_config *c,
                          char **json_r)
{
    yajl_gen g = xlsnap__gen_alloc();
    int s;
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
    CHK(xlsnap__gen_str(g, "reuse_external"));
    CHK(yajl_gen_bool(g, c->reuse_external));
    CHK(xlsnap__gen_str(g, "disks"));
    CHK(yajl_gen_array_open(g));
    for (int i = 0; i < c->num_disks; i++)
        CHK(gen_disk(g, &c->disks[i]));
    CHK(yajl_gen_array_close(g));
    CHK(xlsnap__gen_kv_bool(g, "quiesce", c->quiesce));
    CHK(xlsnap__gen_kv_str(g, "snapshot_size", c->snapshot_size));
    CHK(yajl_gen_map_close(g));
 gen_failed:
    return xlsnap__gen_end(ctx, g, s, json_r, XLSNAP_ERROR_INVAL,
                           "cannot generate JSON (yajl status %d; a string "
                           "is not valid UTF-8?)", s);
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
