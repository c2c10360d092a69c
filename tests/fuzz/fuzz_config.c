/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fuzz_config.c - libFuzzer target: the snapshot config parser
 * (config.c, libxlutil underneath) on arbitrary bytes.  Whatever parses
 * must also turn into JSON (check-config --json) without failing.
 */
#include "fuzz.h"

const char *__lsan_default_suppressions(void);

/*
 * Xen 4.17's libxlutil leaks the values of a list its parser was
 * building when it meets a syntax error inside it (xlu__cfg_yyparse's
 * error path has no destructor for them; see tests/fuzz/README.md).
 * Only those parser-internal allocations are suppressed: a config we
 * fail to destroy still shows as a leak from xlu_cfg_init.
 */
const char *__lsan_default_suppressions(void)
{
    return "leak:xlu__cfg_string_mk\n"
           "leak:xlu__cfgl_dequote\n"
           "leak:xlu__cfg_list_mk\n"
           "leak:xlu__cfg_list_append\n";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xlsnap_ctx *ctx = fuzz_ctx();
    xlsnap_config c;
    char *text = fuzz_text(data, size), *json = NULL;

    xlsnap_config_init(&c);
    if (!xlsnap__config_parse_data(ctx, "fuzz.cfg", text, size, &c)) {
        if (xlsnap_config_to_json(ctx, &c, &json)) abort();
        free(json);
    }
    xlsnap_config_dispose(&c);
    free(text);
    return 0;
}
