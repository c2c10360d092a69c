/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmd_prune.c - xl-snapshot prune [--keep-last N] [--keep-daily N]
 *               [--keep-weekly N] [--match GLOB]... [-N] <Domain>
 *
 * With --match, the rules see only the snapshots whose names match one
 * of the globs: the others are neither counted nor deleted (a nightly
 * job prunes its own snapshots, never an admin's "before-upgrade").
 */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "xl-snapshot.h"

enum { OPT_LAST = 0x100, OPT_DAILY, OPT_WEEKLY, OPT_MATCH };

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

/* matches NAME: whether a --match glob takes it (all, without one) */
static bool matches(const char *name, char **globs, int nr_globs)
{
    if (!nr_globs) return true;
    for (int i = 0; i < nr_globs; i++)
        if (!fnmatch(globs[i], name, 0)) return true;
    return false;
}

int main_prune(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "keep-last", required_argument, NULL, OPT_LAST },
        { "keep-daily", required_argument, NULL, OPT_DAILY },
        { "keep-weekly", required_argument, NULL, OPT_WEEKLY },
        { "match", required_argument, NULL, OPT_MATCH },
        { "dry-run", no_argument, NULL, 'N' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    xlsnap_prune_policy pol = { 0, 0, 0 };
    xlsnap_snapshot *list = NULL, *sel = NULL;
    xlsnap_domain dom;
    bool dry = false, *keep = NULL, *sel_keep = NULL;
    char **globs = calloc(argc, sizeof(*globs));
    const char *zero = NULL;    /* a rule given with a count of 0 */
    int opt, rc, nr = 0, nr_sel = 0, nr_globs = 0, gone = 0;
    long long freed = 0;

    if (!globs) {
        err("cannot prune: out of memory");
        return EXIT_FAILURE;
    }

    while ((opt = cmd_getopt(cmd, argc, argv, "N", lo)) != -1) {
        rc = 0;
        switch (opt) {
        /* COMMON_OPT_CASES, but freeing globs */
        case OPT_EXIT_OK: rc = EXIT_SUCCESS; goto out_globs;
        case OPT_EXIT_USAGE: rc = EXIT_USAGE; goto out_globs;
        case OPT_LAST:
            rc = count(optarg, &pol.keep_last);
            if (!rc && !pol.keep_last) zero = "--keep-last";
            break;
        case OPT_DAILY:
            rc = count(optarg, &pol.keep_daily);
            if (!rc && !pol.keep_daily) zero = "--keep-daily";
            break;
        case OPT_WEEKLY:
            rc = count(optarg, &pol.keep_weekly);
            if (!rc && !pol.keep_weekly) zero = "--keep-weekly";
            break;
        case OPT_MATCH: globs[nr_globs++] = optarg; break;
        case 'N': dry = true; break;
        }
        if (rc) goto out_globs;
    }
    if ((rc = cmd_args(cmd, argc, 1, 1))) goto out_globs;
    if (!pol.keep_last && !pol.keep_daily && !pol.keep_weekly) {
        if (zero)
            err("prune: %s 0 keeps no snapshot: give a count of at least "
                "1 (to delete snapshots, use 'delete')", zero);
        else
            err("prune: give --keep-last, --keep-daily or --keep-weekly");
        rc = EXIT_USAGE;
        goto out_globs;
    }
    xlsnap_domain_init(&dom);
    rc = EXIT_FAILURE;
    if (resolve_domain(argv[optind], &dom) ||
        xlsnap_list_summary(g_ctx, &dom, &list, &nr)) {
        fail("prune '%s'", argv[optind]);
        goto out;
    }
    /* the rules see the matching snapshots only (shallow copies, in
     * the list's order: oldest first); the others are all kept */
    keep = calloc(nr + 1, sizeof(*keep));
    sel = calloc(nr + 1, sizeof(*sel));
    sel_keep = calloc(nr + 1, sizeof(*sel_keep));
    if (!keep || !sel || !sel_keep) {
        err("cannot prune '%s': out of memory", argv[optind]);
        goto out;
    }
    for (int i = 0; i < nr; i++)
        if (matches(list[i].name, globs, nr_globs))
            sel[nr_sel++] = list[i];
    if (xlsnap_prune_select(g_ctx, sel, nr_sel, &pol, sel_keep)) {
        fail("prune '%s'", argv[optind]);
        goto out;
    }
    for (int i = 0, j = 0; i < nr; i++)
        keep[i] = matches(list[i].name, globs, nr_globs) ? sel_keep[j++]
                                                         : true;
    rc = EXIT_SUCCESS;
    /* newest first, so a deleted snapshot's children are gone or kept
     * before it is re-parented away */
    for (int i = nr - 1; i >= 0; i--) {
        if (keep[i]) {
            if (g_verbose)
                printf("keep %s%s\n", vis(list[i].name),
                       matches(list[i].name, globs, nr_globs) ? ""
                       : " (does not match)");
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
            freed += xlsnap_last_freed(g_ctx);
            if (xlsnap_last_warning(g_ctx))
                err("warning: %s", vis(xlsnap_last_warning(g_ctx)));
        }
    }
    if (freed)
        print_freed(" in all", freed);
    if (!gone && !nr_globs)
        printf("nothing to prune: %d snapshot%s kept\n", nr,
               nr == 1 ? "" : "s");
    else if (!gone)
        printf("nothing to prune: %d matching snapshot%s kept\n", nr_sel,
               nr_sel == 1 ? "" : "s");
 out:
    free(sel_keep);
    free(sel);          /* shallow copies: list owns their strings */
    free(keep);
    xlsnap_snapshot_list_free(list, nr);
    xlsnap_domain_dispose(&dom);
 out_globs:
    free(globs);
    return rc;
}
