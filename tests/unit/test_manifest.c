/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: the bundle manifest (bundle/bundle.c): written and parsed
 * back the same, and hostile manifests refused with a message. */
#include "internal.h"

#include "tap.h"

#define UUID "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
#define SUM_A "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SUM_E "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void sample(xlsnap__manifest *m, bool delta)
{
    xlsnap__bundle_file *f;

    xlsnap__manifest_init(m);
    m->kind = strdup(delta ? "delta" : "full");
    m->snapshot = strdup("s2");
    m->base = delta ? strdup("s1") : NULL;
    m->domain_name = strdup("g1");
    m->domain_uuid = strdup(UUID);
    m->created = 1700000000;
    m->num_chain = 2;
    m->chain = calloc(2, sizeof(*m->chain));
    m->chain[0] = strdup("s1");
    m->chain[1] = strdup("s2");
    f = xlsnap__manifest_add(m, "record.json", "record");
    f->size = 321;
    memcpy(f->sha256, SUM_A, 65);
    f = xlsnap__manifest_add(m, "memory.save", "memory");
    f->encoding = strdup("zstd");
    f->size = 1000;
    f->plain_size = 1ULL << 33;
    memcpy(f->sha256, SUM_E, 65);
    f = xlsnap__manifest_add(m, "disk-xvda.qcow2", "disk");
    f->vdev = strdup("xvda");
    f->format = strdup("qcow2");
    f->size = 10ULL << 30;
    f->virtual_size = 20ULL << 30;
    memcpy(f->sha256, SUM_A, 65);
}

static bool same_str(const char *a, const char *b)
{
    return a && b ? !strcmp(a, b) : a == b;
}

static bool same(const xlsnap__manifest *a, const xlsnap__manifest *b)
{
    if (!same_str(a->kind, b->kind) || !same_str(a->snapshot, b->snapshot) ||
        !same_str(a->base, b->base) ||
        !same_str(a->domain_name, b->domain_name) ||
        !same_str(a->domain_uuid, b->domain_uuid) ||
        a->created != b->created || a->num_chain != b->num_chain ||
        a->num_files != b->num_files)
        return false;
    for (int i = 0; i < a->num_chain; i++)
        if (!same_str(a->chain[i], b->chain[i])) return false;
    for (int i = 0; i < a->num_files; i++) {
        const xlsnap__bundle_file *x = &a->files[i], *y = &b->files[i];
        uint64_t plain = x->encoding ? x->plain_size : x->size;
        if (!same_str(x->path, y->path) || !same_str(x->role, y->role) ||
            !same_str(x->vdev, y->vdev) || !same_str(x->format, y->format) ||
            !same_str(x->encoding, y->encoding) || x->size != y->size ||
            plain != y->plain_size || x->virtual_size != y->virtual_size ||
            strcmp(x->sha256, y->sha256))
            return false;
    }
    return true;
}

/* Parse text; 0 or the error code, with the message in *msg_r. */
static int parse(xlsnap_ctx *ctx, const char *text, const char **msg_r)
{
    xlsnap__manifest m;
    int rc = xlsnap__manifest_parse(ctx, text, strlen(text), &m);

    *msg_r = rc ? xlsnap_last_error(ctx) : "";
    if (!rc) xlsnap__manifest_dispose(&m);
    return rc;
}

/* The manifest of sample() as JSON with 'from' replaced by 'to'. */
static char *edited(xlsnap_ctx *ctx, const char *from, const char *to)
{
    xlsnap__manifest m;
    char *json = NULL, *p, *out;

    sample(&m, false);
    if (xlsnap__manifest_to_json(ctx, &m, &json)) abort();
    xlsnap__manifest_dispose(&m);
    p = strstr(json, from);
    if (!p) {
        printf("# '%s' is not in the manifest\n", from);
        return json;
    }
    out = xlsnap__sprintf("%.*s%s%s", (int)(p - json), json, to,
                          p + strlen(from));
    free(json);
    return out;
}

int main(void)
{
    static const struct {
        const char *from, *to, *why, *msg;
    } hostile[] = {
        { "\"sha256\": \"ba78", "\"sha256\": \"a78", "a digest of 63 digits",
          "64 lower-case hex" },
        { "f20015ad\"", "f20015ad0\"", "a digest of 65 digits",
          "64 lower-case hex" },
        { "\"sha256\": \"ba78", "\"sha256\": \"BA78",
          "an upper-case digest", "64 lower-case hex" },
        { "\"sha256\": \"ba78", "\"sha256\": \"zz78", "a digest not hex",
          "64 lower-case hex" },
        { "\"role\": \"memory\"", "\"role\": \"kernel\"", "an unknown role",
          "unknown role 'kernel'" },
        { "\"path\": \"memory.save\"", "\"path\": \"x/memory.save\"",
          "a path with '/'", "not allowed" },
        { "\"path\": \"memory.save\"", "\"path\": \"../memory.save\"",
          "a path with '..'", "not allowed" },
        { "\"path\": \"memory.save\"", "\"path\": \"/etc/shadow\"",
          "an absolute path", "not allowed" },
        { "\"path\": \"memory.save\"", "\"path\": \"..\"", "the path '..'",
          "not allowed" },
        { "\"path\": \"memory.save\"", "\"path\": \"manifest.json\"",
          "the manifest listing itself", "not allowed" },
        { "\"path\": \"memory.save\"", "\"path\": \"record.json\"",
          "a path listed twice", "listed twice" },
        { "\"role\": \"disk\"", "\"role\": \"record\"", "two records",
          "one record" },
        { "\"role\": \"disk\"", "\"role\": \"memory\"",
          "two memory images", "at most one memory" },
        { "\"role\": \"record\"", "\"role\": \"memory\"",
          "no record", "one record" },
        { "\"format\": \"qcow2\"", "\"format\": \"raw\"", "a raw disk",
          "not qcow2" },
        { "\"vdev\": \"xvda\",", "", "a disk without vdev", "vdev" },
        { "\"virtual-size\": 21474836480", "\"virtual-size\": 0",
          "a disk of virtual size 0", "virtual-size" },
        { "\"plain-size\": 8589934592,", "",
          "a compressed member without plain-size", "plain-size" },
        { "\"encoding\": \"zstd\"", "\"encoding\": \"gzip\"",
          "an unknown encoding", "unknown encoding" },
        { "\"size\": 321", "\"size\": -1", "a negative size",
          "non-negative" },
        { "\"size\": 321", "\"size\": \"321\"", "a size as a string",
          "non-negative" },
        { "\"format\": \"xl-snapshot-bundle\"", "\"format\": \"tar\"",
          "another format", "not an xl-snapshot bundle" },
        { "\"version\": 1", "\"version\": 2", "version 2", "version 2" },
        { "\"kind\": \"full\"", "\"kind\": \"delta\"",
          "a delta without base", "needs a 'base'" },
        { "\"kind\": \"full\"", "\"kind\": \"both\"", "an unknown kind",
          "'kind'" },
        { "\"snapshot\": \"s2\"", "\"snapshot\": \"../s2\"",
          "a snapshot name with '/'", "snapshot" },
        { "\"uuid\": \"" UUID "\"", "\"uuid\": \"not-a-uuid\"",
          "a bad domain uuid", "not a UUID" },
        { "\"s1\",", "\"a/b\",", "a chain with '/'", "'chain'" },
        { "\"created\": 1700000000", "\"created\": \"now\"",
          "a created time not an integer", "'created'" },
        { "\"files\": [", "\"files\": 3, \"x\": [", "files not an array",
          "'files'" },
    };
    xlsnap_ctx *ctx;
    xlsnap__manifest m, back;
    char *json = NULL, *again = NULL, *text;
    const char *msg;
    int rc;

    if (xlsnap_ctx_alloc(&ctx, "/nonexistent", NULL)) return 1;

    /* ---- round trip ---- */
    for (int delta = 0; delta < 2; delta++) {
        sample(&m, delta);
        rc = xlsnap__manifest_to_json(ctx, &m, &json);
        ok(rc == 0, "%s manifest to JSON", delta ? "a delta" : "a full");
        rc = xlsnap__manifest_parse(ctx, json, strlen(json), &back);
        ok(rc == 0, "and parsed back: %s", rc ? xlsnap_last_error(ctx) :
           "ok");
        ok(!rc && same(&m, &back), "every field comes back");
        ok(!rc && back.version == XLSNAP__BUNDLE_VERSION &&
           back.files[0].plain_size == 321 &&
           back.files[2].plain_size == 10ULL << 30,
           "version set; plain-size of an uncompressed member is its size");
        rc = rc ? rc : xlsnap__manifest_to_json(ctx, &back, &again);
        is_str(again, json, "written again, byte for byte the same");
        if (!rc) xlsnap__manifest_dispose(&back);
        xlsnap__manifest_dispose(&m);
        free(json);
        free(again);
        json = again = NULL;
    }
    sample(&m, false);
    free(m.domain_name);
    m.domain_name = NULL;
    xlsnap__manifest_to_json(ctx, &m, &json);
    rc = xlsnap__manifest_parse(ctx, json, strlen(json), &back);
    ok(rc == 0 && !back.domain_name, "a domain without a name is fine");
    if (!rc) xlsnap__manifest_dispose(&back);
    xlsnap__manifest_dispose(&m);
    free(json);

    /* ---- hostile manifests ---- */
    for (size_t i = 0; i < sizeof(hostile) / sizeof(*hostile); i++) {
        text = edited(ctx, hostile[i].from, hostile[i].to);
        rc = parse(ctx, text, &msg);
        ok(rc < 0 && strstr(msg, hostile[i].msg),
           "refused: %s (%d, %s)", hostile[i].why, rc, msg);
        ok(rc == (strstr(hostile[i].why, "version")
                  ? XLSNAP_ERROR_NOTSUP : XLSNAP_ERROR_CORRUPT),
           "  as %s", strstr(hostile[i].why, "version") ? "NOTSUP" :
           "CORRUPT");
        free(text);
    }
    {
        static const char *const junk[] = {
            "", "[]", "null", "{", "\"manifest\"", "{\"format\": 1}",
        };
        for (size_t i = 0; i < sizeof(junk) / sizeof(*junk); i++) {
            rc = parse(ctx, junk[i], &msg);
            ok(rc == XLSNAP_ERROR_CORRUPT && *msg,
               "refused: '%s' (%s)", junk[i], msg);
        }
    }
    /* a NUL inside, and a size above the limit */
    text = edited(ctx, "\"s1\"", "\"s1\"");
    {
        xlsnap__manifest x;
        size_t len = strlen(text);
        text[10] = '\0';
        rc = xlsnap__manifest_parse(ctx, text, len, &x);
        ok(rc == XLSNAP_ERROR_CORRUPT, "refused: a NUL in the text (%s)",
           xlsnap_last_error(ctx));
        char *big = malloc(XLSNAP__MANIFEST_MAX + 1);
        text[10] = ' ';
        memset(big, ' ', XLSNAP__MANIFEST_MAX + 1);
        memcpy(big, text, len);
        rc = xlsnap__manifest_parse(ctx, big, XLSNAP__MANIFEST_MAX + 1, &x);
        free(big);
        ok(rc == XLSNAP_ERROR_CORRUPT, "refused: more than %d bytes (%s)",
           XLSNAP__MANIFEST_MAX, xlsnap_last_error(ctx));
    }
    free(text);

    xlsnap_ctx_free(ctx);
    return tap_done();
}
