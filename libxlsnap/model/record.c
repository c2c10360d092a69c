/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * record.c - the snapshot record: lifecycle and libxl-json form
 */
#include "internal.h"

#include <limits.h>

/* ---- the field tables ---- */

/* The C type of each kind, checked against the struct member. */
#define CTYPE_STR   char *
#define CTYPE_COMP  char *
#define CTYPE_UUID  char *
#define CTYPE_RAW   char *
#define CTYPE_TIME  int64_t
#define CTYPE_STATE xlsnap_state
#define CTYPE_BOOL  bool
#define CTYPE_TYPE  xlsnap_disk *
#define CTYPE_DISKS xlsnap_disk *
#define CTYPE_DKIND xlsnap_disk_kind

#define CHECK_TYPE(S, m, key, kind, fl)                                     \
    _Static_assert(__builtin_types_compatible_p(                            \
                       __typeof__(((S *)0)->m), CTYPE_##kind),              \
                   #S "." #m " is not of kind " #kind);
#define CHECK_REC(m, key, kind, fl) CHECK_TYPE(xlsnap_snapshot, m, key, kind, fl)
#define CHECK_DISK(m, key, kind, fl) CHECK_TYPE(xlsnap_disk, m, key, kind, fl)
XLSNAP__RECORD_FIELDS(CHECK_REC)
XLSNAP__DISK_FIELDS(CHECK_DISK)

#define ENTRY(S, m, key, kind, fl)                                          \
    { key, XLSNAP__FK_##kind, fl, offsetof(S, m) },
#define ENTRY_REC(m, key, kind, fl) ENTRY(xlsnap_snapshot, m, key, kind, fl)
#define ENTRY_DISK(m, key, kind, fl) ENTRY(xlsnap_disk, m, key, kind, fl)

const xlsnap__field xlsnap__record_fields[] = {
    XLSNAP__RECORD_FIELDS(ENTRY_REC)
    { NULL, 0, 0, 0 }
};

const xlsnap__field xlsnap__disk_fields[] = {
    XLSNAP__DISK_FIELDS(ENTRY_DISK)
    { NULL, 0, 0, 0 }
};

static const char *const state_names[] = {
    [XLSNAP_STATE_PREPARING] = "preparing",
    [XLSNAP_STATE_READY] = "ready",
    [XLSNAP_STATE_DELETING] = "deleting",
};

int xlsnap__state_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
        if (!strcmp(s, state_names[i])) return i;
    return -1;
}

const char *xlsnap__disk_kind_name(xlsnap_disk_kind k)
{
    return k == XLSNAP_DISK_EXTERNAL ? "external" :
           k == XLSNAP_DISK_VOLUME ? "volume" : "internal";
}

xlsnap_disk_kind xlsnap__disk_kind_parse(const char *s)
{
    return !strcmp(s, "internal") ? XLSNAP_DISK_INTERNAL :
           !strcmp(s, "external") ? XLSNAP_DISK_EXTERNAL :
           !strcmp(s, "volume") ? XLSNAP_DISK_VOLUME : 0;
}

/* ---- lifecycle ---- */

static void fields_dispose(const xlsnap__field *t, void *base)
{
    for (const xlsnap__field *f = t; f->key; f++) {
        if (xlsnap__field_is_str(f)) {
            free(*XLSNAP__AT(char *, base, f));
        } else if (f->kind == XLSNAP__FK_DISKS) {
            xlsnap_snapshot *s = base;
            for (int i = 0; i < s->num_disks; i++)
                xlsnap_disk_dispose(&s->disks[i]);
            free(s->disks);
        }
    }
}

/* dst is a plain copy of src: give it copies of what src owns.  Out of
 * memory: NOMEM (no message), with what could not be copied NULL (dst
 * shares nothing with src either way: dispose it). */
static int fields_copy(const xlsnap__field *t, void *dst)
{
    int rc = 0;

    for (const xlsnap__field *f = t; f->key; f++) {
        if (xlsnap__field_is_str(f)) {
            char **p = XLSNAP__AT(char *, dst, f);
            if (*p && !(*p = xlsnap__strdup(*p))) rc = XLSNAP_ERROR_NOMEM;
        } else if (f->kind == XLSNAP__FK_DISKS) {
            xlsnap_snapshot *s = dst;
            const xlsnap_disk *from = s->disks;
            int nr = s->num_disks;

            s->disks = NULL;
            s->num_disks = 0;
            if (!nr) continue;
            s->disks = calloc(nr, sizeof(*s->disks));
            if (!s->disks) { rc = XLSNAP_ERROR_NOMEM; continue; }
            s->num_disks = nr;
            for (int i = 0; i < nr; i++) {
                s->disks[i] = from[i];
                if (fields_copy(xlsnap__disk_fields, &s->disks[i]))
                    rc = XLSNAP_ERROR_NOMEM;
            }
        }
    }
    return rc;
}

void xlsnap_disk_init(xlsnap_disk *d)
{
    memset(d, 0, sizeof(*d));
}

void xlsnap_disk_dispose(xlsnap_disk *d)
{
    fields_dispose(xlsnap__disk_fields, d);
    xlsnap_disk_init(d);
}

void xlsnap_snapshot_init(xlsnap_snapshot *s)
{
    memset(s, 0, sizeof(*s));
}

void xlsnap_snapshot_dispose(xlsnap_snapshot *s)
{
    fields_dispose(xlsnap__record_fields, s);
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
    *dst = *src;
    return fields_copy(xlsnap__record_fields, dst);
}

const char *xlsnap_snapshot_type(const xlsnap_snapshot *s)
{
    bool in = false, ex = false, vol = false;

    for (int i = 0; i < s->num_disks; i++) {
        if (s->disks[i].kind == XLSNAP_DISK_INTERNAL) in = true;
        if (s->disks[i].kind == XLSNAP_DISK_EXTERNAL) ex = true;
        if (s->disks[i].kind == XLSNAP_DISK_VOLUME) vol = true;
    }
    if (in + ex + vol > 1) return "mixed";
    if (in) return "internal";
    if (ex) return "external";
    if (vol) return "volume";
    return "none";
}

const char *xlsnap_state_name(xlsnap_state st)
{
    return st == XLSNAP_STATE_READY ? "ready" :
           st == XLSNAP_STATE_DELETING ? "deleting" : "preparing";
}

/* ---- generation ---- */

/*
 * The fields of t in the struct at base, as map entries: 0, a yajl
 * status (> 0), or a negative XLSNAP_ERROR_* with the ctx's message.
 */
static int gen_fields(xlsnap_ctx *ctx, yajl_gen g, const xlsnap__field *t,
                      const void *base)
{
    bool in_dom = false;
    int s = 0;

    for (const xlsnap__field *f = t; f->key && !s; f++) {
        bool dom = f->flags & XLSNAP__F_DOM;

        if (t == xlsnap__disk_fields &&
            !xlsnap__field_applies(f, base))
            continue;
        if (dom != in_dom) {
            if (!dom)
                s = yajl_gen_map_close(g);
            else if (!(s = xlsnap__gen_str(g, "domain")))
                s = yajl_gen_map_open(g);
            if (s) break;
            in_dom = dom;
        }
        switch (f->kind) {
        case XLSNAP__FK_STR:
        case XLSNAP__FK_COMP:
        case XLSNAP__FK_UUID: {
            const char *v = *XLSNAP__AT(char *const, base, f);
            if (v || !(f->flags & XLSNAP__F_OMIT))
                s = xlsnap__gen_kv_str(g, f->key, v);
            break;
        }
        case XLSNAP__FK_TIME:
            s = xlsnap__gen_kv_int(g, f->key,
                                   *XLSNAP__AT(const int64_t, base, f));
            break;
        case XLSNAP__FK_STATE:
            s = xlsnap__gen_kv_str(g, f->key, xlsnap_state_name(
                    *XLSNAP__AT(const xlsnap_state, base, f)));
            break;
        case XLSNAP__FK_BOOL: {
            bool v = *XLSNAP__AT(const bool, base, f);
            if (v || !(f->flags & XLSNAP__F_OMIT))
                s = xlsnap__gen_kv_bool(g, f->key, v);
            break;
        }
        case XLSNAP__FK_TYPE:
            s = xlsnap__gen_kv_str(g, f->key, xlsnap_snapshot_type(base));
            break;
        case XLSNAP__FK_DKIND:
            s = xlsnap__gen_kv_str(g, f->key, xlsnap__disk_kind_name(
                    *XLSNAP__AT(const xlsnap_disk_kind, base, f)));
            break;
        case XLSNAP__FK_DISKS: {
            const xlsnap_snapshot *sn = base;
            if ((s = xlsnap__gen_str(g, f->key)) ||
                (s = yajl_gen_array_open(g)))
                break;
            for (int i = 0; i < sn->num_disks && !s; i++) {
                if ((s = yajl_gen_map_open(g))) break;
                s = gen_fields(ctx, g, xlsnap__disk_fields, &sn->disks[i]);
                if (!s) s = yajl_gen_map_close(g);
            }
            if (!s) s = yajl_gen_array_close(g);
            break;
        }
        case XLSNAP__FK_RAW:
            if ((s = xlsnap__gen_str(g, f->key))) break;
            s = xlsnap__gen_raw(ctx, g, *XLSNAP__AT(char *const, base, f));
            break;
        }
    }
    if (!s && in_dom) s = yajl_gen_map_close(g);
    return s;
}

int xlsnap__snapshot_gen(xlsnap_ctx *ctx, yajl_gen g,
                         const xlsnap_snapshot *sn)
{
    return xlsnap__snapshot_gen_extra(ctx, g, sn, NULL);
}

int xlsnap__snapshot_gen_extra(xlsnap_ctx *ctx, yajl_gen g,
                               const xlsnap_snapshot *sn,
                               int (*extra)(xlsnap_ctx *, yajl_gen,
                                            const xlsnap_snapshot *))
{
    int s;

    if (!(s = yajl_gen_map_open(g)) &&
        !(s = xlsnap__gen_kv_int(g, "version", XLSNAP__RECORD_VERSION)) &&
        !(s = gen_fields(ctx, g, xlsnap__record_fields, sn)) &&
        !(s = extra ? extra(ctx, g, sn) : 0))
        s = yajl_gen_map_close(g);
    if (s <= 0) return s;
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

static int parse_disks(xlsnap_ctx *ctx, yajl_val v, xlsnap_snapshot *s);
static int parse_raw(xlsnap_ctx *ctx, yajl_val v, const char *key,
                     char **out);

/*
 * The fields of t from the JSON object obj into the struct at base;
 * where names obj in messages ("record", "disks[3]").
 */
static int parse_fields(xlsnap_ctx *ctx, yajl_val obj, const char *where,
                        const xlsnap__field *t, void *base)
{
    yajl_val o = obj, v;
    const char *w = where;
    char *tmp = NULL;
    int rc = 0;

    for (const xlsnap__field *f = t; f->key && !rc; f++) {
        bool req = f->flags & XLSNAP__F_REQ;

        if (t == xlsnap__disk_fields && !xlsnap__field_applies(f, base))
            continue;
        if ((f->flags & XLSNAP__F_DOM) && o == obj) {
            o = xlsnap__json_field(obj, "domain");
            w = "domain";
            if (!o || !YAJL_IS_OBJECT(o)) {
                rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                                   "%s: field 'domain' is missing or not "
                                   "an object", where);
                break;
            }
        } else if (!(f->flags & XLSNAP__F_DOM)) {
            o = obj;
            w = where;
        }
        v = xlsnap__json_field(o, f->key);
        switch (f->kind) {
        case XLSNAP__FK_STR:
            rc = xlsnap__json_get_str(ctx, o, w, f->key, req,
                                      XLSNAP__AT(char *, base, f));
            break;
        case XLSNAP__FK_COMP: {
            char **p = XLSNAP__AT(char *, base, f);
            rc = xlsnap__json_get_str(ctx, o, w, f->key, req, p);
            if (!rc && *p && strcmp(*p, XLSNAP__ZSTD))
                rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                                   "%s: unknown %s '%s'", w, f->key, *p);
            break;
        }
        case XLSNAP__FK_UUID: {
            char **p = XLSNAP__AT(char *, base, f);
            rc = xlsnap__json_get_str(ctx, o, w, f->key, req, p);
            if (!rc && *p && !xlsnap__is_uuid(*p))
                rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                                   "%s: %s %s '%s' is not a UUID", where,
                                   w, f->key, *p);
            break;
        }
        case XLSNAP__FK_TIME:
            if (!v || !YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0)
                rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                                   "%s: field '%s' is not a non-negative "
                                   "integer", w, f->key);
            else
                *XLSNAP__AT(int64_t, base, f) = YAJL_GET_INTEGER(v);
            break;
        case XLSNAP__FK_STATE:
        case XLSNAP__FK_DKIND: {
            bool state = f->kind == XLSNAP__FK_STATE;
            int k;
            if ((rc = xlsnap__json_get_str(ctx, o, w, f->key, true, &tmp)))
                break;
            k = state ? xlsnap__state_parse(tmp)
                      : (int)xlsnap__disk_kind_parse(tmp);
            if (state && k >= 0)
                *XLSNAP__AT(xlsnap_state, base, f) = k;
            else if (!state && k > 0)
                *XLSNAP__AT(xlsnap_disk_kind, base, f) = k;
            else if (state)
                rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                                   "%s: unknown state '%s'", w, tmp);
            else
                rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                                   "%s: unknown snapshot kind '%s'", w, tmp);
            free(tmp);
            tmp = NULL;
            break;
        }
        case XLSNAP__FK_BOOL:
            if (!(f->flags & XLSNAP__F_LAX) && v && !YAJL_IS_TRUE(v) &&
                !YAJL_IS_FALSE(v))
                rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                                   "%s: field '%s' is not a boolean", w,
                                   f->key);
            else
                *XLSNAP__AT(bool, base, f) = v && YAJL_IS_TRUE(v);
            break;
        case XLSNAP__FK_TYPE:           /* derived: not read */
            break;
        case XLSNAP__FK_DISKS:
            rc = parse_disks(ctx, v, base);
            break;
        case XLSNAP__FK_RAW:
            rc = parse_raw(ctx, v, f->key, XLSNAP__AT(char *, base, f));
            break;
        }
    }
    return rc;
}

static int parse_disks(xlsnap_ctx *ctx, yajl_val v, xlsnap_snapshot *s)
{
    char where[64];
    int rc;

    if (!v || YAJL_IS_NULL(v)) return 0;
    if (!YAJL_IS_ARRAY(v))
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                             "record: field 'disks' is not an array");
    if (v->u.array.len > 4096)
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                             "record: too many disks");
    if (v->u.array.len) {
        s->disks = calloc(v->u.array.len, sizeof(*s->disks));
        if (!s->disks) return xlsnap__nomem(ctx);
    }
    for (size_t i = 0; i < v->u.array.len; i++) {
        yajl_val d = v->u.array.values[i];
        s->num_disks = i + 1;
        snprintf(where, sizeof(where), "disks[%zu]", i);
        if (!YAJL_IS_OBJECT(d))
            return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                                 "%s is not an object", where);
        rc = parse_fields(ctx, d, where, xlsnap__disk_fields, &s->disks[i]);
        if (rc) return rc;
    }
    return 0;
}

/* A JSON object field kept as compact text. */
static int parse_raw(xlsnap_ctx *ctx, yajl_val v, const char *key,
                     char **out)
{
    yajl_gen g;
    int rc;

    if (!v || YAJL_IS_NULL(v)) return 0;
    if (!YAJL_IS_OBJECT(v))
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                             "record: field '%s' is not an object", key);
    g = yajl_gen_alloc(NULL);
    if (!g) return xlsnap__nomem(ctx);
    if (xlsnap__gen_tree(g, v))
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "record: cannot re-encode '%s'", key);
    else
        rc = xlsnap__gen_finish(ctx, g, out);
    yajl_gen_free(g);
    return rc;
}

int xlsnap_snapshot_from_json(xlsnap_ctx *ctx, const char *json,
                              xlsnap_snapshot *snap_r)
{
    char err[256];
    yajl_val root = NULL, v;
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
    if ((rc = parse_fields(ctx, root, "record", xlsnap__record_fields, &s)))
        goto out;
    *snap_r = s;
    xlsnap_snapshot_init(&s);
    rc = 0;

 out:
    if (root) yajl_tree_free(root);
    xlsnap_snapshot_dispose(&s);
    return rc;
}

/* *s from -> to: 1 if changed, 0 if not, NOMEM (*s left as it is). */
static int move_str(char **s, const char *from, const char *to)
{
    char *n;

    if (!*s || strcmp(*s, from)) return 0;
    if (!(n = xlsnap__strdup(to))) return XLSNAP_ERROR_NOMEM;
    free(*s);
    *s = n;
    return 1;
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
            char **p[] = { &d->image, &d->overlay, &d->backing };
            for (size_t j = 0; j < ARRAY_SIZE(p); j++) {
                if ((rc = move_str(p[j], from, to)) < 0)
                    return xlsnap__nomem(ctx);
                changed |= rc;
            }
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
