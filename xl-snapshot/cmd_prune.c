/*
 * cmd_prune.c - xl-snapshot prune <Domain> --keep-last N
 *               [--keep-daily N] [--keep-weekly N] [-N]
 */
#include <stdlib.h>
#include <string.h>

#include "xl-snapshot.h"

enum { OPT_LAST = 0x100, OPT_DAILY, OPT_WEEKLY };

static int count(const char *s, int *n_r)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (!*s || *end || v < 0 || v > 1000000) {
        err("prune: '%s' is not a count", s);
        return EXIT_USAGE;
    }
    *n_r = v;
    return 0;
}

int main_prune(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "keep-last", required_argument, NULL, OPT_LAST },
        { "keep-daily", required_argument, NULL, OPT_DAILY },
        { "keep-weekly", required_argument, NULL, OPT_WEEKLY },
        { "dry-run", no_argument, NULL, 'N' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    xlsnap_prune_policy pol = { 0, 0, 0 };
    xlsnap_snapshot *list = NULL;
    xlsnap_domain dom;
    bool dry = false, *keep = NULL;
    int opt, rc, nr = 0, gone = 0;

    while ((opt = cmd_getopt(cmd, argc, argv, "N", lo)) != -1) {
        switch (opt) {
        COMMON_OPT_CASES;
        case OPT_LAST: if ((rc = count(optarg, &pol.keep_last))) return rc;
                       break;
        case OPT_DAILY: if ((rc = count(optarg, &pol.keep_daily))) return rc;
                        break;
        case OPT_WEEKLY:
            if ((rc = count(optarg, &pol.keep_weekly))) return rc;
            break;
        case 'N': dry = true; break;
        }
    }
    if ((rc = cmd_args(cmd, argc, 1, 1))) return rc;
    if (!pol.keep_last && !pol.keep_daily && !pol.keep_weekly) {
        err("prune: give --keep-last, --keep-daily or --keep-weekly");
        return EXIT_USAGE;
    }
    xlsnap_domain_init(&dom);
    rc = EXIT_FAILURE;
    if (resolve_domain(argv[optind], &dom) ||
        xlsnap_list(g_ctx, &dom, &list, &nr)) {
        fail("prune '%s'", argv[optind]);
        goto out;
    }
    keep = calloc(nr + 1, sizeof(*keep));
    if (!keep || xlsnap_prune_select(g_ctx, list, nr, &pol, keep)) {
        fail("prune '%s'", argv[optind]);
        goto out;
    }
    rc = EXIT_SUCCESS;
    /* newest first, so a deleted snapshot's children are gone or kept
     * before it is re-parented away */
    for (int i = nr - 1; i >= 0; i--) {
        if (keep[i]) {
            if (g_verbose) printf("keep %s\n", vis(list[i].name));
            continue;
        }
        gone++;
        if (dry) {
            printf("would delete %s\n", vis(list[i].name));
        } else if (xlsnap_delete(g_ctx, &dom, list[i].name, 0)) {
            fail("delete '%s'", list[i].name);
            rc = EXIT_FAILURE;
        } else {
            printf("deleted %s\n", vis(list[i].name));
        }
    }
    if (!gone) printf("nothing to prune: %d snapshot%s kept\n", nr,
                      nr == 1 ? "" : "s");
 out:
    free(keep);
    xlsnap_snapshot_list_free(list, nr);
    xlsnap_domain_dispose(&dom);
    return rc;
}
