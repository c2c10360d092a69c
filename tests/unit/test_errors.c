/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: library errors carry an advice code (xlsnap_error_hint)
 * and their messages name no command-line option of the CLI. */
#include <stdbool.h>
#include <unistd.h>
#include "libxlsnap.h"
#include "tap.h"

#define UUID "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
#define UUID2 "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
#define UUID3 "6ba7b812-9dad-11d1-80b4-00c04fd430c8"

/* the library's words: no "--flag", no "xl-snapshot <command>" */
static bool plain(const char *m)
{
    return m && *m && !strstr(m, "--") && !strstr(m, "xl-snapshot ");
}

static int store(xlsnap_ctx *ctx, const char *uuid, const char *dname,
                 const char *name, xlsnap_state state)
{
    xlsnap_snapshot s;
    int rc;

    xlsnap_snapshot_init(&s);
    s.name = strdup(name);
    s.creationtime = 100;
    s.state = state;
    s.domain_name = strdup(dname);
    s.domain_uuid = strdup(uuid);
    rc = xlsnap_record_store(ctx, &s);
    xlsnap_snapshot_dispose(&s);
    return rc;
}

int main(void)
{
    xlsnap_ctx *ctx;
    xlsnap_domain dom, r;
    xlsnap_create_params p;
    xlsnap_snapshot s;
    xlsnap_prune_policy pol = { 0 };
    bool keep[1];
    char dir[256];
    int rc;

    snprintf(dir, sizeof(dir), "/tmp/xlsnap-unit-err-%d/state", getpid());
    if (xlsnap_ctx_alloc(&ctx, dir, NULL)) return 1;
    xlsnap_domain_init(&dom);
    dom.name = strdup("g1");
    dom.uuid = strdup(UUID);

    ok(xlsnap_error_hint(ctx) == XLSNAP_HINT_NONE, "a new ctx has no hint");

    /* create, domain off, nothing stored, no config given */
    xlsnap_create_params_init(&p);
    p.name = "s1";
    p.memory = 0;
    xlsnap_snapshot_init(&s);
    rc = xlsnap_create(ctx, &dom, &p, &s);
    xlsnap_snapshot_dispose(&s);
    ok(rc == XLSNAP_ERROR_NOTFOUND, "create without a config: NOTFOUND");
    ok(xlsnap_error_hint(ctx) == XLSNAP_HINT_DOMAIN_CONFIG,
       "hint: give the domain's config");
    ok(plain(xlsnap_last_error(ctx)), "names no option: %s",
       xlsnap_last_error(ctx));

    /* memory of a domain that is not running */
    p.config_json = "{}";
    p.memory = 1;
    xlsnap_snapshot_init(&s);
    rc = xlsnap_create(ctx, &dom, &p, &s);
    xlsnap_snapshot_dispose(&s);
    ok(rc == XLSNAP_ERROR_NOTSUP, "memory of an off domain: NOTSUP");
    ok(xlsnap_error_hint(ctx) == XLSNAP_HINT_NO_MEMORY, "hint: no memory");
    ok(plain(xlsnap_last_error(ctx)), "names no option: %s",
       xlsnap_last_error(ctx));

    /* compression without a memory image */
    p.memory = 0;
    p.compress = "zstd";
    xlsnap_snapshot_init(&s);
    rc = xlsnap_create(ctx, &dom, &p, &s);
    xlsnap_snapshot_dispose(&s);
    ok(rc == XLSNAP_ERROR_INVAL, "compress without memory: INVAL");
    ok(xlsnap_error_hint(ctx) == XLSNAP_HINT_COMPRESS_NEEDS_MEMORY,
       "hint: compression needs a memory image");
    ok(plain(xlsnap_last_error(ctx)), "names no option: %s",
       xlsnap_last_error(ctx));

    /* revert to an incomplete snapshot */
    ok(store(ctx, UUID, "g1", "half", XLSNAP_STATE_PREPARING) == 0,
       "store a preparing record: %s", xlsnap_last_error(ctx));
    rc = xlsnap_revert(ctx, &dom, "half", 0);
    ok(rc == XLSNAP_ERROR_CORRUPT, "revert to an incomplete one: CORRUPT");
    ok(xlsnap_error_hint(ctx) == XLSNAP_HINT_RUN_CHECK_REPAIR,
       "hint: run check with repair");
    ok(plain(xlsnap_last_error(ctx)), "names no option: %s",
       xlsnap_last_error(ctx));

    /* a later error without advice does not keep the old hint */
    rc = xlsnap_revert(ctx, &dom, "nosuch", 0);
    ok(rc == XLSNAP_ERROR_NOTFOUND, "revert to a missing one: NOTFOUND");
    ok(xlsnap_error_hint(ctx) == XLSNAP_HINT_NONE, "no stale hint");

    /* a name two histories share */
    ok(store(ctx, UUID2, "web", "a", XLSNAP_STATE_READY) == 0 &&
       store(ctx, UUID3, "web", "b", XLSNAP_STATE_READY) == 0,
       "two histories named web: %s", xlsnap_last_error(ctx));
    xlsnap_domain_init(&r);
    rc = xlsnap_domain_resolve(ctx, "web", &r);
    xlsnap_domain_dispose(&r);
    ok(rc == XLSNAP_ERROR_INVAL, "ambiguous name: INVAL");
    ok(xlsnap_error_hint(ctx) == XLSNAP_HINT_PICK_UUID, "hint: pick a UUID");
    ok(plain(xlsnap_last_error(ctx)), "names no option: %s",
       xlsnap_last_error(ctx));

    /* prune without a rule: the API's own words, no advice */
    rc = xlsnap_prune_select(ctx, NULL, 0, &pol, keep);
    ok(rc == XLSNAP_ERROR_INVAL, "prune without a rule: INVAL");
    ok(xlsnap_error_hint(ctx) == XLSNAP_HINT_NONE, "no hint");
    ok(plain(xlsnap_last_error(ctx)), "names no option: %s",
       xlsnap_last_error(ctx));

    xlsnap_domain_dispose(&dom);
    xlsnap_ctx_free(ctx);
    {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf /tmp/xlsnap-unit-err-%d",
                 getpid());
        if (system(cmd)) {}
    }
    return tap_done();
}
