/*
 * fuzz_record.c - libFuzzer target: the record JSON parser (record.c)
 * on arbitrary bytes, as read_record() hands it a record.json.  What
 * parses must survive the round trip the store makes: generate, parse
 * again, generate the same text.
 */
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static xlsnap_ctx *ctx;
    xlsnap_snapshot a, b;
    char *text, *j1 = NULL, *j2 = NULL;

    if (!ctx && xlsnap_ctx_alloc(&ctx, "/nonexistent", NULL)) abort();
    text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = '\0';
    xlsnap_snapshot_init(&a);
    xlsnap_snapshot_init(&b);
    if (!xlsnap_snapshot_from_json(ctx, text, &a)) {
        if (xlsnap_snapshot_to_json(ctx, &a, &j1)) abort();
        if (xlsnap_snapshot_from_json(ctx, j1, &b)) abort();
        if (xlsnap_snapshot_to_json(ctx, &b, &j2)) abort();
        if (strcmp(j1, j2)) abort();
    }
    free(j1);
    free(j2);
    xlsnap_snapshot_dispose(&a);
    xlsnap_snapshot_dispose(&b);
    free(text);
    return 0;
}
