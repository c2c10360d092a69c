/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmd_check.c - xl-snapshot check [--repair] [--json] [<Domain>]
 */
#include <stdlib.h>
#include <string.h>

#include "xl-snapshot.h"

enum { OPT_REPAIR = 0x100, OPT_JSON };

static void print_problem(const xlsnap_problem *p)
{
    const char *who = vis(p->domain_name ? p->domain_name
                          : p->domain_uuid ? p->domain_uuid
                          : xlsnap_state_dir(g_ctx));

    /* the library's findings name no command: advice is ours */
    printf("%s: %s%s\n", who, vis(p->message),
           p->kind && !strcmp(p->kind, "missing-data")
           ? " (restore it, or remove the record with 'xl-snapshot delete "
             "--metadata')" : "");
    if (p->repair)
        printf("%s:   %s%s\n", who, p->repaired ? "repaired: " : "",
               vis(p->repair));
}

int main_check(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "repair", no_argument, NULL, OPT_REPAIR },
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bool repair = false, json = false;
    xlsnap_domain dom;
    xlsnap_problem *list = NULL;
    char *out = NULL;
    int opt, rc, nr = 0, left = 0;
    const char *what;

    xlsnap_domain_init(&dom);
    while ((opt = cmd_getopt(cmd, argc, argv, "", lo)) != -1) {
        switch (opt) {
        COMMON_OPT_CASES;
        case OPT_REPAIR: repair = true; break;
        case OPT_JSON: json = true; break;
        }
    }
    if ((rc = cmd_args(cmd, argc, 0, 1))) return rc;
    what = optind < argc ? argv[optind] : xlsnap_state_dir(g_ctx);
    if ((optind < argc &&
         resolve_domain(argv[optind], &dom)) ||
        xlsnap_check(g_ctx, optind < argc ? &dom : NULL, repair, &list,
                     &nr)) {
        rc = fail("check '%s'", what);
        goto out;
    }
    for (int i = 0; i < nr; i++) left += !list[i].repaired;
    if (json) {
        if (xlsnap_problems_to_json(g_ctx, list, nr, &out)) {
            rc = fail("check '%s'", what);
            goto out;
        }
        print_json(out);
    } else {
        for (int i = 0; i < nr; i++) print_problem(&list[i]);
        if (!nr)
            printf("No problems found.\n");
        else if (repair)
            printf("%d problem%s found, %d repaired.\n", nr,
                   nr == 1 ? "" : "s", nr - left);
        else
            printf("%d problem%s found; 'xl-snapshot check --repair' "
                   "completes or rolls back interrupted operations.\n",
                   nr, nr == 1 ? "" : "s");
    }
    rc = left ? EXIT_FAILURE : EXIT_SUCCESS;
 out:
    xlsnap_problem_list_free(list, nr);
    xlsnap_domain_dispose(&dom);
    return rc;
}
