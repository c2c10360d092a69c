/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * json.c - yajl generator helpers (libxl-json style output)
 */
#include "internal.h"

#include <inttypes.h>

yajl_gen xlsnap__gen_alloc(void)
{
    yajl_gen g = yajl_gen_alloc(NULL);

    if (!g) return NULL;        /* out of memory: callers say so */
    yajl_gen_config(g, yajl_gen_beautify, 1);
    yajl_gen_config(g, yajl_gen_indent_string, "    ");
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);
    return g;
}

int xlsnap__gen_str(yajl_gen g, const char *s)
{
    if (!s) return (int)yajl_gen_null(g);
    return yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

int xlsnap__gen_kv_str(yajl_gen g, const char *k, const char *v)
{
    int s = xlsnap__gen_str(g, k);
    return s ? s : xlsnap__gen_str(g, v);
}

int xlsnap__gen_kv_int(yajl_gen g, const char *k, int64_t v)
{
    char buf[32];
    int s = xlsnap__gen_str(g, k);

    if (s) return s;
    snprintf(buf, sizeof(buf), "%" PRId64, v);
    return yajl_gen_number(g, buf, strlen(buf));
}

int xlsnap__gen_kv_bool(yajl_gen g, const char *k, bool v)
{
    int s = xlsnap__gen_str(g, k);
    return s ? s : (int)yajl_gen_bool(g, v);
}

int xlsnap__gen_str_map(yajl_gen g, const char *const *kv)
{
    int s = yajl_gen_map_open(g);

    for (; !s && *kv; kv += 2)
        s = xlsnap__gen_kv_str(g, kv[0], kv[1]);
    return s ? s : (int)yajl_gen_map_close(g);
}

int xlsnap__gen_tree(yajl_gen g, yajl_val v)
{
    int s = yajl_gen_status_ok;
    size_t i;

    if (!v) return yajl_gen_null(g);
    switch (v->type) {
    case yajl_t_string:
        return xlsnap__gen_str(g, v->u.string);
    case yajl_t_number:
        return yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
    case yajl_t_true:
        return yajl_gen_bool(g, 1);
    case yajl_t_false:
        return yajl_gen_bool(g, 0);
    case yajl_t_null:
        return yajl_gen_null(g);
    case yajl_t_object:
        if ((s = yajl_gen_map_open(g))) return s;
        for (i = 0; i < v->u.object.len; i++) {
            if ((s = xlsnap__gen_str(g, v->u.object.keys[i]))) return s;
            if ((s = xlsnap__gen_tree(g, v->u.object.values[i]))) return s;
        }
        return yajl_gen_map_close(g);
    case yajl_t_array:
        if ((s = yajl_gen_array_open(g))) return s;
        for (i = 0; i < v->u.array.len; i++)
            if ((s = xlsnap__gen_tree(g, v->u.array.values[i]))) return s;
        return yajl_gen_array_close(g);
    default:
        return yajl_gen_invalid_string;
    }
}

/* Skip a comment at p (yajl_tree_parse allows them); returns the last
 * character of the comment, or p if there is none. */
static const char *skip_comment(const char *p)
{
    const char *e;

    if (p[0] != '/') return p;
    if (p[1] == '/') {
        e = strchr(p, '\n');
        return e ? e : p + strlen(p) - 1;
    }
    if (p[1] == '*') {
        e = strstr(p + 2, "*/");
        return e ? e + 1 : p + strlen(p) - 1;
    }
    return p;
}

yajl_val xlsnap__json_parse(const char *text, char *err, size_t errlen)
{
    int depth = 0;
    bool in_str = false;
    yajl_val v;

    for (const char *p = text; *p; p++) {
        if (in_str) {
            if (*p == '\\' && p[1]) p++;
            else if (*p == '"') in_str = false;
        } else if (*p == '"') {
            in_str = true;
        } else if (*p == '/') {
            p = skip_comment(p);
        } else if (*p == '[' || *p == '{') {
            if (++depth > XLSNAP__JSON_MAX_DEPTH) {
                snprintf(err, errlen, "nested deeper than %d levels",
                         XLSNAP__JSON_MAX_DEPTH);
                return NULL;
            }
        } else if (*p == ']' || *p == '}') {
            depth--;
        }
    }
    v = yajl_tree_parse(text, err, errlen);
    /* yajl's message spans lines; keep the first */
    if (!v) err[strcspn(err, "\n")] = '\0';
    return v;
}

int xlsnap__gen_raw(xlsnap_ctx *ctx, yajl_gen g, const char *json)
{
    char err[256];
    yajl_val v;
    int s;

    if (!json) return yajl_gen_null(g) ? XLSNAP_ERROR_FAIL : 0;
    /* the same text as the last one (a domain's configs mostly are):
     * its tree, parsed once */
    if (ctx->raw_text && !strcmp(ctx->raw_text, json)) {
        s = xlsnap__gen_tree(g, ctx->raw_tree);
        goto out;
    }
    v = xlsnap__json_parse(json, err, sizeof(err));
    if (!v)
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                             "invalid domain config JSON: %s", err);
    s = xlsnap__gen_tree(g, v);
    free(ctx->raw_text);
    yajl_tree_free(ctx->raw_tree);
    ctx->raw_tree = NULL;
    /* kept for the next one (out of memory: nothing kept) */
    if ((ctx->raw_text = xlsnap__strdup(json))) ctx->raw_tree = v;
    else yajl_tree_free(v);
 out:
    if (s)
        return xlsnap__error(ctx, XLSNAP_ERROR_FAIL,
                             "cannot generate JSON (yajl status %d)", s);
    return 0;
}

/* The one end of a generator (internal.h). */
int xlsnap__gen_end(xlsnap_ctx *ctx, yajl_gen g, int s, char **json_r,
                    int code, const char *fmt, ...)
{
    char msg[XLSNAP__ERRBUF];
    va_list ap;
    int rc = s;

    if (s == yajl_gen_status_ok) {
        rc = xlsnap__gen_finish(ctx, g, json_r);
    } else if (s > 0) {
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        rc = xlsnap__error(ctx, code, "%s", msg);
    }
    yajl_gen_free(g);
    return rc;
}

int xlsnap__gen_finish(xlsnap_ctx *ctx, yajl_gen g, char **json_r)
{
    const unsigned char *buf;
    size_t len;
    char *r;

    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
        return xlsnap__error(ctx, XLSNAP_ERROR_FAIL,
                             "cannot generate JSON");
    r = malloc(len + 1);
    if (!r) return xlsnap__nomem(ctx);
    memcpy(r, buf, len);
    r[len] = '\0';
    *json_r = r;
    return 0;
}

yajl_val xlsnap__json_field(yajl_val obj, const char *key)
{
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (!strcmp(obj->u.object.keys[i], key))
            return obj->u.object.values[i];
    return NULL;
}

/* A string field: required or optional (absent/null -> NULL). */
int xlsnap__json_get_str(xlsnap_ctx *ctx, yajl_val obj, const char *where,
                   const char *key, bool required, char **out)
{
    yajl_val v = xlsnap__json_field(obj, key);

    *out = NULL;
    if (!v || YAJL_IS_NULL(v)) {
        if (!required) return 0;
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                             "%s: field '%s' is missing", where, key);
    }
    if (!YAJL_IS_STRING(v))
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                             "%s: field '%s' is not a string", where, key);
    if (required && !*v->u.string)
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                             "%s: field '%s' is empty", where, key);
    *out = xlsnap__strdup(v->u.string);
    if (!*out) return xlsnap__nomem(ctx);
    return 0;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
