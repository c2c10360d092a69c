/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fuzz_record.c - libFuzzer target: the record JSON parser (record.c)
 * on arbitrary bytes, as read_record() hands it a record.json.  What
 * parses must survive the round trip the store makes: generate, parse
 * again, generate the same text.  The disks of its domain config are
 * read as create and revert read them (domcfg.c).
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xlsnap_ctx *ctx = fuzz_ctx();
    xlsnap_snapshot a, b;
    xlsnap__cfgdisk *disks = NULL;
    char *text = fuzz_text(data, size), *j1 = NULL, *j2 = NULL;
    int nd = 0;

    xlsnap_snapshot_init(&a);
    xlsnap_snapshot_init(&b);
    if (!xlsnap_snapshot_from_json(ctx, text, &a)) {
        if (xlsnap_snapshot_to_json(ctx, &a, &j1)) abort();
        if (xlsnap_snapshot_from_json(ctx, j1, &b)) abort();
        if (xlsnap_snapshot_to_json(ctx, &b, &j2)) abort();
        if (strcmp(j1, j2)) abort();
        if (!xlsnap__config_disks(ctx, a.config_json, &disks, &nd))
            xlsnap__cfgdisk_list_free(disks, nd);
    }
    free(j1);
    free(j2);
    xlsnap_snapshot_dispose(&a);
    xlsnap_snapshot_dispose(&b);
    free(text);
    return 0;
}
