/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: record JSON round trip and malformed records. */
#include <stdbool.h>
#include "libxlsnap.h"
#include "tap.h"

#define UUID "6ba7b810-9dad-11d1-80b4-00c04fd430c8"

static void fill(xlsnap_snapshot *s)
{
    xlsnap_snapshot_init(s);
    s->name = strdup("s1 \"quoted\" \\ back");
    s->description = strdup("before upgrade");
    s->creationtime = 1764053401;
    s->state = XLSNAP_STATE_READY;
    s->domstate = strdup("running");
    s->memory = strdup("/var/lib/xen/snapshots/" UUID "/s1/memory.save");
    s->parent = strdup("s0");
    s->current = true;
    s->domain_name = strdup("g1");
    s->domain_uuid = strdup(UUID);
    s->num_disks = 2;
    s->disks = calloc(2, sizeof(*s->disks));
    s->disks[0].vdev = strdup("xvda");
    s->disks[0].format = strdup("qcow2");
    s->disks[0].image = strdup("/images/g1.qcow2");
    s->disks[0].kind = XLSNAP_DISK_INTERNAL;
    s->disks[0].internal_name = strdup("s1");
    s->disks[1].vdev = strdup("xvdb");
    s->disks[1].format = strdup("raw");
    s->disks[1].image = strdup("/images/data.img");
    s->disks[1].kind = XLSNAP_DISK_EXTERNAL;
    s->disks[1].overlay = strdup("/images/data.s1.qcow2");
    s->disks[1].backing = strdup("/images/data.img");
    s->config_json = strdup("{\"c_info\":{\"name\":\"g1\",\"big\":"
                            "123456789012345678901234567890}}");
}

static int parse(xlsnap_ctx *ctx, const char *json)
{
    xlsnap_snapshot s;
    int rc;
    xlsnap_snapshot_init(&s);
    rc = xlsnap_snapshot_from_json(ctx, json, &s);
    xlsnap_snapshot_dispose(&s);
    return rc;
}

/* prefix (meant to hide the depth) and then 100 '[': too deep */
static bool hidden_depth(xlsnap_ctx *ctx, char *buf, const char *prefix)
{
    size_t n = strlen(prefix);

    memcpy(buf, prefix, n);
    memset(buf + n, '[', 100);
    buf[n + 100] = '\0';
    return parse(ctx, buf) == XLSNAP_ERROR_CORRUPT &&
           strstr(xlsnap_last_error(ctx), "nested deeper");
}

int main(void)
{
    xlsnap_ctx *ctx;
    xlsnap_snapshot a, b;
    char *j1 = NULL, *j2 = NULL;

    if (xlsnap_ctx_alloc(&ctx, "/nonexistent", NULL)) return 1;
    fill(&a);
    ok(!strcmp(xlsnap_snapshot_type(&a), "mixed"), "type mixed");
    ok(xlsnap_snapshot_to_json(ctx, &a, &j1) == 0, "to_json");
    ok(j1 && strstr(j1, "\"current\": true"), "current field written");
    ok(j1 && strstr(j1, "\"type\": \"mixed\""), "type field written");
    ok(j1 && strstr(j1, "123456789012345678901234567890"),
       "config numbers kept verbatim");
    xlsnap_snapshot_init(&b);
    ok(xlsnap_snapshot_from_json(ctx, j1, &b) == 0, "from_json: %s",
       xlsnap_last_error(ctx));
    is_str(b.name, a.name, "name round trip");
    is_str(b.description, a.description, "description");
    ok(b.creationtime == a.creationtime, "creationtime");
    ok(b.state == XLSNAP_STATE_READY && b.current, "state and current");
    is_str(b.parent, "s0", "parent");
    is_str(b.domain_uuid, UUID, "domain uuid");
    ok(b.num_disks == 2, "two disks");
    is_str(b.disks[0].internal_name, "s1", "internal name");
    is_str(b.disks[1].overlay, "/images/data.s1.qcow2", "overlay");
    is_str(b.disks[1].backing, "/images/data.img", "backing");
    ok(xlsnap_snapshot_to_json(ctx, &b, &j2) == 0 && !strcmp(j1, j2),
       "second round trip is identical");
    xlsnap_snapshot_dispose(&b);
    xlsnap_snapshot_dispose(&b);        /* idempotent */

    /* a delete in progress round-trips as "deleting" */
    a.state = XLSNAP_STATE_DELETING;
    free(j1);
    j1 = NULL;
    ok(xlsnap_snapshot_to_json(ctx, &a, &j1) == 0 && j1 &&
       strstr(j1, "\"state\": \"deleting\""), "deleting written");
    xlsnap_snapshot_init(&b);
    ok(j1 && xlsnap_snapshot_from_json(ctx, j1, &b) == 0 &&
       b.state == XLSNAP_STATE_DELETING, "deleting read back");
    xlsnap_snapshot_dispose(&b);

    ok(parse(ctx, "") == XLSNAP_ERROR_CORRUPT, "empty text");
    ok(parse(ctx, "{\"version\": 1, \"name\": ") == XLSNAP_ERROR_CORRUPT,
       "truncated JSON");
    ok(parse(ctx, "[]") == XLSNAP_ERROR_CORRUPT, "array, not object");
    ok(parse(ctx, "{\"version\": 2}") == XLSNAP_ERROR_CORRUPT,
       "unknown version");
    ok(parse(ctx, "{\"version\": 1, \"name\": 5}") == XLSNAP_ERROR_CORRUPT
       && strstr(xlsnap_last_error(ctx), "'name' is not a string"),
       "wrong type: %s", xlsnap_last_error(ctx));
    ok(parse(ctx, "{\"version\":1,\"name\":\"a\",\"creationtime\":"
                  "99999999999999999999999}") == XLSNAP_ERROR_CORRUPT,
       "huge number");
    ok(parse(ctx, "{\"version\":1,\"name\":\"a\",\"creationtime\":1,"
                  "\"state\":\"ready\",\"domain\":{\"uuid\":\"x\"}}")
       == XLSNAP_ERROR_CORRUPT, "bad domain uuid");
    ok(parse(ctx, "{\"version\":1,\"name\":\"a\",\"creationtime\":1,"
                  "\"state\":\"ready\",\"domain\":{\"uuid\":\"" UUID "\"},"
                  "\"disks\":[{\"vdev\":\"xvda\"}]}")
       == XLSNAP_ERROR_CORRUPT, "disk without fields");
    ok(parse(ctx, "{\"version\":1,\"name\":\"a\",\"creationtime\":1,"
                  "\"state\":\"ready\",\"domain\":{\"uuid\":\"" UUID "\"}}")
       == 0, "minimal record parses");

    {
        /* Deep nesting: yajl's tree code recurses once a level, and
         * megabytes of '[' overflowed the stack (SIGSEGV).  Also when
         * comments full of ']' try to hide the depth. */
        static const char head[] = "{\"version\":1,\"name\":\"a\","
            "\"creationtime\":1,\"state\":\"ready\",\"domain\":"
            "{\"uuid\":\"" UUID "\"},\"config\":{\"a\":";
        size_t n = 4000000, hl = strlen(head);
        char *deep = malloc(hl + 2 * n + 3), *p = deep;
        memcpy(p, head, hl);
        p += hl;
        memset(p, '[', n);
        p += n;
        memset(p, ']', n);
        p += n;
        strcpy(p, "}}");
        ok(parse(ctx, deep) == XLSNAP_ERROR_CORRUPT &&
           strstr(xlsnap_last_error(ctx), "nested deeper than 64 levels"),
           "4000000 levels of nesting: %s", xlsnap_last_error(ctx));
        ok(hidden_depth(ctx, deep, "/* ]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                        "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                        "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]] */"),
           "depth hidden by a comment: %s", xlsnap_last_error(ctx));
        ok(hidden_depth(ctx, deep, "\"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                        "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                        "]]]]]]]]]]]]]]]]]]]]]]]]]]]\""),
           "depth hidden by a string: %s", xlsnap_last_error(ctx));
        free(deep);
    }
    ok(parse(ctx, "{\"version\":1,\"name\":\"a\",\"creationtime\":1,"
                  "\"state\":\"ready\",\"domain\":{\"uuid\":\"" UUID "\"},"
                  "\"config\":{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]"
                  "]]]]]]]]]]]]]]]]]]]]}}") == 0,
       "32 levels of nesting are fine: %s", xlsnap_last_error(ctx));

    free(j1);
    free(j2);
    xlsnap_snapshot_dispose(&a);
    xlsnap_ctx_free(ctx);
    return tap_done();
}
