/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: the one end of a JSON generator (core/json.c,
 * xlsnap__gen_end) and the libxlutil reader (core/xlu.c). */
#include "internal.h"

#include <libxlutil.h>

#include "tap.h"

static void gen_end(xlsnap_ctx *ctx)
{
    yajl_gen g = xlsnap__gen_alloc();
    char *json = NULL, want[80];
    int s, rc;

    /* ok: the text, g freed (valgrind/ASan would say otherwise) */
    s = yajl_gen_map_open(g);
    if (!s) s = xlsnap__gen_kv_str(g, "a", "b");
    if (!s) s = yajl_gen_map_close(g);
    rc = xlsnap__gen_end(ctx, g, s, &json, XLSNAP_ERROR_FAIL, "unused %d", s);
    ok(rc == 0, "a finished generator gives its text");
    is_str(json, "{\n    \"a\": \"b\"\n}\n", "the text as yajl writes it");
    free(json);
    json = NULL;

    /* a yajl status: the caller's message and code, no text */
    g = xlsnap__gen_alloc();
    s = xlsnap__gen_str(g, "\xff");
    ok(s == yajl_gen_invalid_string, "invalid UTF-8 is refused by yajl");
    rc = xlsnap__gen_end(ctx, g, s, &json, XLSNAP_ERROR_INVAL,
                         "cannot generate the thing (yajl status %d)", s);
    ok(rc == XLSNAP_ERROR_INVAL, "a yajl status gives the caller's code");
    ok(json == NULL, "and no text");
    snprintf(want, sizeof(want), "cannot generate the thing (yajl status "
             "%d)", (int)yajl_gen_invalid_string);
    is_str(xlsnap_last_error(ctx), want, "and the caller's message");

    /* a negative rc: already on ctx, passed on as it is */
    g = xlsnap__gen_alloc();
    xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "a step's own error");
    rc = xlsnap__gen_end(ctx, g, XLSNAP_ERROR_CORRUPT, &json,
                         XLSNAP_ERROR_FAIL, "not this one");
    ok(rc == XLSNAP_ERROR_CORRUPT, "a step's error code is kept");
    is_str(xlsnap_last_error(ctx), "a step's own error",
           "and so is its message");
    ok(json == NULL, "no text");
}

static void xlu(xlsnap_ctx *ctx)
{
    xlsnap__xlu x = XLSNAP__XLU_INIT;
    static const char bad[] = "name=\"unterminated\n";
    static const char good[] = "name=\"a\"\n";
    const char *s = NULL;

    ok(xlsnap__xlu_open(ctx, "t.cfg", &x) == 0, "a reader opens");
    is_str(xlsnap__xlu_report(&x, "fallback"), "fallback",
           "nothing reported yet: the fallback");
    ok(xlu_cfg_readdata(x.cfg, good, strlen(good)) == 0 &&
       !xlu_cfg_get_string(x.cfg, "name", &s, 1), "a good file parses");
    is_str(s, "a", "its setting");
    xlsnap__xlu_close(&x);
    ok(x.cfg == NULL && x.report == NULL && x.rbuf == NULL,
       "close leaves the reader empty");
    xlsnap__xlu_close(&x);

    ok(xlsnap__xlu_open(ctx, "t.cfg", &x) == 0, "a second reader opens");
    ok(xlu_cfg_readdata(x.cfg, bad, strlen(bad)) != 0, "a bad file fails");
    s = xlsnap__xlu_report(&x, "fallback");
    ok(!strncmp(s, "t.cfg:1: config parsing error", 29) && !strchr(s, '\n'),
       "the report's first line, naming the file: %s", s);
    xlsnap__xlu_close(&x);
}

int main(void)
{
    xlsnap_ctx *ctx;

    if (xlsnap_ctx_alloc(&ctx, "/nonexistent", NULL)) return 99;
    gen_end(ctx);
    xlu(ctx);
    xlsnap_ctx_free(ctx);
    return tap_done();
}
