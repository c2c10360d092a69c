/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fuzz_manifest.c - libFuzzer target: the export bundle manifest parser
 * (bundle.c) on arbitrary bytes, as import reads manifest.json.  What
 * parses must survive the round trip export makes: generate, parse
 * again, generate the same text.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xlsnap_ctx *ctx = fuzz_ctx();
    xlsnap__manifest a, b;
    char *j1 = NULL, *j2 = NULL;

    if (xlsnap__manifest_parse(ctx, (const char *)data, size, &a)) return 0;
    /* created is regenerated as it was: compare two generations */
    if (xlsnap__manifest_to_json(ctx, &a, &j1)) abort();
    if (xlsnap__manifest_parse(ctx, j1, strlen(j1), &b)) abort();
    if (xlsnap__manifest_to_json(ctx, &b, &j2)) abort();
    if (strcmp(j1, j2)) abort();
    free(j1);
    free(j2);
    xlsnap__manifest_dispose(&a);
    xlsnap__manifest_dispose(&b);
    return 0;
}
