/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * record.c - the snapshot record: lifecycle and libxl-json form
 */
#include "internal.h"

#include <limits.h>

void xlsnap_disk_init(xlsnap_disk *d)
{
    memset(d, 0, sizeof(*d));
}

void xlsnap_disk_dispose(xlsnap_disk *d)
{
    free(d->vdev);
    free(d->format);
    free(d->image);
    free(d->internal_name);
    free(d->overlay);
    free(d->backing);
    xlsnap_disk_init(d);
}

void xlsnap_snapshot_init(xlsnap_snapshot *s)
{
    memset(s, 0, sizeof(*s));
}

void xlsnap_snapshot_dispose(xlsnap_snapshot *s)
{
    free(s->name);
    free(s->description);
    free(s->domstate);
    free(s->memory);
    free(s->memory_compression);
    free(s->parent);
    free(s->domain_name);
    free(s->domain_uuid);
    for (int i = 0; i < s->num_disks; i++)
        xlsnap_disk_dispose(&s->disks[i]);
    free(s->disks);
    free(s->config_json);
    xlsnap_snapshot_init(s);
}

void xlsnap_snapshot_list_free(xlsnap_snapshot *list, int nr)
{
    if (!list) return;
    for (int i = 0; i < nr; i++)
        xlsnap_snapshot_dispose(&list[i]);
    free(list);
}

int xlsnap__snapshot_copy(xlsnap_snapshot *dst, const xlsnap_snapshot *src)
{
    xlsnap_snapshot_init(dst);
    dst->name = xlsnap__strdup(src->name);
    dst->description = xlsnap__strdup(src->description);
    dst->creationtime = src->creationtime;
    dst->state = src->state;
    dst->domstate = xlsnap__strdup(src->domstate);
    dst->memory = xlsnap__strdup(src->memory);
    dst->memory_compression = xlsnap__strdup(src->memory_compression);
    dst->memory_live = src->memory_live;
    dst->parent = xlsnap__strdup(src->parent);
    dst->current = src->current;
    dst->domain_name = xlsnap__strdup(src->domain_name);
    dst->domain_uuid = xlsnap__strdup(src->domain_uuid);
    dst->config_json = xlsnap__strdup(src->config_json);
    if (src->num_disks) {
        dst->disks = calloc(src->num_disks, sizeof(*dst->disks));
        if (!dst->disks) return XLSNAP_ERROR_NOMEM;
        dst->num_disks = src->num_disks;
        for (int i = 0; i < src->num_disks; i++) {
            const xlsnap_disk *a = &src->disks[i];
            xlsnap_disk *b = &dst->disks[i];
            b->vdev = xlsnap__strdup(a->vdev);
            b->format = xlsnap__strdup(a->format);
            b->image = xlsnap__strdup(a->image);
            b->kind = a->kind;
            b->internal_name = xlsnap__strdup(a->internal_name);
            b->overlay = xlsnap__strdup(a->overlay);
            b->backing = xlsnap__strdup(a->backing);
        }
    }
    return 0;
}

const char *xlsnap_snapshot_type(const xlsnap_snapshot *s)
{
    bool in = false, ex = false;

    for (int i = 0; i < s->num_disks; i++) {
        if (s->disks[i].kind == XLSNAP_DISK_INTERNAL) in = true;
        if (s->disks[i].kind == XLSNAP_DISK_EXTERNAL) ex = true;
    }
    if (in && ex) return "mixed";
    if (in) return "internal";
    if (ex) return "external";
    return "none";
}

const char *xlsnap_state_name(xlsnap_state st)
{
    return st == XLSNAP_STATE_READY ? "ready" :
           st == XLSNAP_STATE_DELETING ? "deleting" : "preparing";
}

static const char *disk_kind_name(xlsnap_disk_kind k)
{
    return k == XLSNAP_DISK_EXTERNAL ? "external" : "internal";
}

/* ---- generation ---- */

int xlsnap__snapshot_gen(xlsnap_ctx *ctx, yajl_gen g,
                         const xlsnap_snapshot *sn)
{
    int s, rc;

    CHK(yajl_gen_map_open(g));
    CHK(xlsnap__gen_kv_int(g, "version", XLSNAP__RECORD_VERSION));
    CHK(xlsnap__gen_kv_str(g, "name", sn->name));
    CHK(xlsnap__gen_kv_str(g, "description", sn->description));
    CHK(xlsnap__gen_kv_int(g, "creationtime", sn->creationtime));
    CHK(xlsnap__gen_kv_str(g, "state", xlsnap_state_name(sn->state)));
    CHK(xlsnap__gen_kv_str(g, "type", xlsnap_snapshot_type(sn)));
    CHK(xlsnap__gen_kv_str(g, "domstate", sn->domstate));
    CHK(xlsnap__gen_kv_str(g, "memory", sn->memory));
    /* only when set: records without them stay as they were */
    if (sn->memory_compression)
        CHK(xlsnap__gen_kv_str(g, "memory_compression",
                               sn->memory_compression));
    if (sn->memory_live)
        CHK(xlsnap__gen_kv_bool(g, "memory_live", true));
    CHK(xlsnap__gen_kv_str(g, "parent", sn->parent));
    CHK(xlsnap__gen_kv_bool(g, "current", sn->current));
    CHK(xlsnap__gen_str(g, "domain"));
    CHK(yajl_gen_map_open(g));
    CHK(xlsnap__gen_kv_str(g, "name", sn->domain_name));
    CHK(xlsnap__gen_kv_str(g, "uuid", sn->domain_uuid));
    CHK(yajl_gen_map_close(g));
    CHK(xlsnap__gen_str(g, "disks"));
    CHK(yajl_gen_array_open(g));
    for (int i = 0; i < sn->num_disks; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        CHK(yajl_gen_map_open(g));
        CHK(xlsnap__gen_kv_str(g, "vdev", d->vdev));
        CHK(xlsnap__gen_kv_str(g, "format", d->format));
        CHK(xlsnap__gen_kv_str(g, "image", d->image));
        CHK(xlsnap__gen_kv_str(g, "snapshot", disk_kind_name(d->kind)));
        if (d->kind == XLSNAP_DISK_INTERNAL) {
            CHK(xlsnap__gen_kv_str(g, "internal_name", d->internal_name));
        } else {
            CHK(xlsnap__gen_kv_str(g, "overlay", d->overlay));
            CHK(xlsnap__gen_kv_str(g, "backing", d->backing));
        }
        CHK(yajl_gen_map_close(g));
    }
    CHK(yajl_gen_array_close(g));
    CHK(xlsnap__gen_str(g, "config"));
    rc = xlsnap__gen_raw(ctx, g, sn->config_json);
    if (rc) return rc;
    CHK(yajl_gen_map_close(g));
    return 0;

 gen_failed:
    if (s == yajl_gen_invalid_string)
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                             "snapshot '%s' has a field that is not valid "
                             "UTF-8", sn->name ? sn->name : "");
    return xlsnap__error(ctx, XLSNAP_ERROR_FAIL,
                         "cannot generate JSON (yajl status %d)", s);
}

int xlsnap_snapshot_to_json(xlsnap_ctx *ctx, const xlsnap_snapshot *s,
                            char **json_r)
{
    yajl_gen g = xlsnap__gen_alloc();
    int rc;

    if (!g) return xlsnap__nomem(ctx);
    rc = xlsnap__snapshot_gen(ctx, g, s);
    if (rc) goto out;
    rc = xlsnap__gen_finish(ctx, g, json_r);
 out:
    yajl_gen_free(g);
    return rc;
}

/* ---- parsing ---- */

static int parse_disk(xlsnap_ctx *ctx, yajl_val v, int idx, xlsnap_disk *d)
{
    char where[64], *kind = NULL;
    int rc;

    snprintf(where, sizeof(where), "disks[%d]", idx);
    if (!YAJL_IS_OBJECT(v))
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                             "%s is not an object", where);
    if ((rc = xlsnap__json_get_str(ctx, v, where, "vdev", true, &d->vdev))) goto out;
    if ((rc = xlsnap__json_get_str(ctx, v, where, "format", true, &d->format))) goto out;
    if ((rc = xlsnap__json_get_str(ctx, v, where, "image", true, &d->image))) goto out;
    if ((rc = xlsnap__json_get_str(ctx, v, where, "snapshot", true, &kind))) goto out;
    if (!strcmp(kind, "internal")) {
        d->kind = XLSNAP_DISK_INTERNAL;
        rc = xlsnap__json_get_str(ctx, v, where, "internal_name", true,
                     &d->internal_name);
    } else if (!strcmp(kind, "external")) {
        d->kind = XLSNAP_DISK_EXTERNAL;
        rc = xlsnap__json_get_str(ctx, v, where, "overlay", false, &d->overlay);
        if (!rc) rc = xlsnap__json_get_str(ctx, v, where, "backing", true, &d->backing);
    } else {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "%s: unknown snapshot kind '%s'", where, kind);
    }
 out:
    free(kind);
    return rc;
}

int xlsnap_snapshot_from_json(xlsnap_ctx *ctx, const char *json,
                              xlsnap_snapshot *snap_r)
{
    char err[256], *state = NULL;
    yajl_val root = NULL, v, dom;
    yajl_gen g = NULL;
    xlsnap_snapshot s;
    int rc;

    xlsnap_snapshot_init(&s);
    root = xlsnap__json_parse(json, err, sizeof(err));
    if (!root) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "malformed JSON: %s", err);
        goto out;
    }
    if (!YAJL_IS_OBJECT(root)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "record is not a JSON object");
        goto out;
    }
    v = xlsnap__json_field(root, "version");
    if (!v || !YAJL_IS_INTEGER(v) ||
        YAJL_GET_INTEGER(v) != XLSNAP__RECORD_VERSION) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "unsupported record version (expected %d)",
                           XLSNAP__RECORD_VERSION);
        goto out;
    }
    if ((rc = xlsnap__json_get_str(ctx, root, "record", "name", true, &s.name)))
        goto out;
    if ((rc = xlsnap__json_get_str(ctx, root, "record", "description", false,
                      &s.description)))
        goto out;
    v = xlsnap__json_field(root, "creationtime");
    if (!v || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "record: field 'creationtime' is not a "
                           "non-negative integer");
        goto out;
    }
    s.creationtime = YAJL_GET_INTEGER(v);
    if ((rc = xlsnap__json_get_str(ctx, root, "record", "state", true, &state)))
        goto out;
    if (!strcmp(state, "ready")) {
        s.state = XLSNAP_STATE_READY;
    } else if (!strcmp(state, "preparing")) {
        s.state = XLSNAP_STATE_PREPARING;
    } else if (!strcmp(state, "deleting")) {
        s.state = XLSNAP_STATE_DELETING;
    } else {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "record: unknown state '%s'", state);
        goto out;
    }
    if ((rc = xlsnap__json_get_str(ctx, root, "record", "domstate", false, &s.domstate)))
        goto out;
    if ((rc = xlsnap__json_get_str(ctx, root, "record", "memory", false, &s.memory)))
        goto out;
    if ((rc = xlsnap__json_get_str(ctx, root, "record", "memory_compression",
                      false, &s.memory_compression)))
        goto out;
    if (s.memory_compression && strcmp(s.memory_compression, XLSNAP__ZSTD)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "record: unknown memory_compression '%s'",
                           s.memory_compression);
        goto out;
    }
    v = xlsnap__json_field(root, "memory_live");
    s.memory_live = v && YAJL_IS_TRUE(v);
    if ((rc = xlsnap__json_get_str(ctx, root, "record", "parent", false, &s.parent)))
        goto out;
    v = xlsnap__json_field(root, "current");
    if (v && !YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "record: field 'current' is not a boolean");
        goto out;
    }
    s.current = v && YAJL_IS_TRUE(v);
    dom = xlsnap__json_field(root, "domain");
    if (!dom || !YAJL_IS_OBJECT(dom)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "record: field 'domain' is missing or not an "
                           "object");
        goto out;
    }
    if ((rc = xlsnap__json_get_str(ctx, dom, "domain", "name", false, &s.domain_name)))
        goto out;
    if ((rc = xlsnap__json_get_str(ctx, dom, "domain", "uuid", true, &s.domain_uuid)))
        goto out;
    if (!xlsnap__is_uuid(s.domain_uuid)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "record: domain uuid '%s' is not a UUID",
                           s.domain_uuid);
        goto out;
    }
    v = xlsnap__json_field(root, "disks");
    if (v && !YAJL_IS_NULL(v)) {
        if (!YAJL_IS_ARRAY(v)) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                               "record: field 'disks' is not an array");
            goto out;
        }
        if (v->u.array.len > 4096) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                               "record: too many disks");
            goto out;
        }
        if (v->u.array.len) {
            s.disks = calloc(v->u.array.len, sizeof(*s.disks));
            if (!s.disks) { rc = xlsnap__nomem(ctx); goto out; }
        }
        for (size_t i = 0; i < v->u.array.len; i++) {
            s.num_disks = i + 1;
            rc = parse_disk(ctx, v->u.array.values[i], i, &s.disks[i]);
            if (rc) goto out;
        }
    }
    v = xlsnap__json_field(root, "config");
    if (v && !YAJL_IS_NULL(v)) {
        if (!YAJL_IS_OBJECT(v)) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                               "record: field 'config' is not an object");
            goto out;
        }
        g = yajl_gen_alloc(NULL);
        if (!g) { rc = xlsnap__nomem(ctx); goto out; }
        if (xlsnap__gen_tree(g, v)) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                               "record: cannot re-encode 'config'");
            goto out;
        }
        if ((rc = xlsnap__gen_finish(ctx, g, &s.config_json))) goto out;
    }
    *snap_r = s;
    xlsnap_snapshot_init(&s);
    rc = 0;

 out:
    if (g) yajl_gen_free(g);
    if (root) yajl_tree_free(root);
    free(state);
    xlsnap_snapshot_dispose(&s);
    return rc;
}

static bool move_str(char **s, const char *from, const char *to)
{
    if (!*s || strcmp(*s, from)) return false;
    free(*s);
    *s = xlsnap__strdup(to);
    return true;
}

int xlsnap__relocate_image(xlsnap_ctx *ctx, xlsnap_snapshot *l, int nr,
                           int skip, const char *from, const char *to)
{
    int rc;

    for (int i = 0; i < nr; i++) {
        bool changed = false;
        if (i == skip) continue;
        for (int k = 0; k < l[i].num_disks; k++) {
            xlsnap_disk *d = &l[i].disks[k];
            changed |= move_str(&d->image, from, to);
            changed |= move_str(&d->overlay, from, to);
            changed |= move_str(&d->backing, from, to);
        }
        if (changed && (rc = xlsnap__store_write(ctx, &l[i]))) return rc;
    }
    return 0;
}

const xlsnap_disk *xlsnap__snapshot_disk(const xlsnap_snapshot *s,
                                         const char *vdev)
{
    for (int i = 0; i < s->num_disks; i++)
        if (!strcmp(s->disks[i].vdev, vdev)) return &s->disks[i];
    return NULL;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
