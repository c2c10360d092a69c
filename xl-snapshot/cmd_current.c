/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmd_current.c - xl-snapshot current [--json] <Domain> [<Name>]
 */
#include <stdlib.h>

#include "xl-snapshot.h"

static int show_current(const char *domspec, const xlsnap_domain *dom,
                        bool json)
{
    xlsnap_snapshot *list = NULL;
    const char *cur = NULL;
    int nr = 0, rc = EXIT_FAILURE;

    if (xlsnap_list(g_ctx, dom, &list, &nr)) {
        fail("show the current snapshot of '%s'", domspec);
        goto out;
    }
    for (int i = 0; i < nr; i++)
        if (list[i].current) cur = list[i].name;
    if (json) {
        fputs("{\n    \"name\": ", stdout);
        print_json_string(cur);
        fputs("\n}\n", stdout);
        rc = EXIT_SUCCESS;
    } else if (cur) {
        puts(vis(cur));
        rc = EXIT_SUCCESS;
    } else {
        err("domain '%s' has no current snapshot", domspec);
    }
 out:
    xlsnap_snapshot_list_free(list, nr);
    return rc;
}

int main_current(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    xlsnap_domain dom;
    bool json = false;
    int opt, rc;

    xlsnap_domain_init(&dom);
    while ((opt = cmd_getopt(cmd, argc, argv, "", lo)) != -1) {
        switch (opt) {
        COMMON_OPT_CASES;
        case 'j': json = true; break;
        }
    }
    if ((rc = cmd_args(cmd, argc, 1, 2))) return rc;
    if (json && optind + 1 < argc) {
        err("current: --json only applies when showing");
        return EXIT_USAGE;
    }
    if (optind + 1 < argc) {
        const char *name = argv[optind + 1];
        rc = resolve_domain(argv[optind], &dom) ||
             xlsnap_set_current(g_ctx, &dom, name)
           ? fail("make '%s' current", name) : EXIT_SUCCESS;
    } else if (resolve_domain(argv[optind], &dom)) {
        rc = fail("show the current snapshot of '%s'", argv[optind]);
    } else {
        rc = show_current(argv[optind], &dom, json);
    }
    xlsnap_domain_dispose(&dom);
    return rc;
}
