/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmd_delete.c - xl-snapshot delete [--children|--children-only|
 *                --metadata|--merge-into-parent [--force]] <Domain> <Name>
 *                | -n <Name> <Domain>
 */
#include <stdio.h>
#include <stdlib.h>

#include "xl-snapshot.h"

enum { OPT_CHILDREN = 0x100, OPT_CHILDREN_ONLY, OPT_METADATA, OPT_MERGE,
       OPT_FORCE };

/* --merge-into-parent: one line per snapshot discarded; refused, the
 * snapshots that need the layer and the option that discards them */
static int delete_merge(const char *domspec, const char *name,
                        unsigned flags)
{
    xlsnap_domain dom;
    const char *line;
    int rc = EXIT_SUCCESS;

    xlsnap_domain_init(&dom);
    if (resolve_domain(domspec, &dom)) {
        rc = fail("delete '%s'", name);
        goto out;
    }
    if (xlsnap_delete(g_ctx, &dom, name, flags)) {
        if (!(flags & XLSNAP_DELETE_FORCE) && xlsnap_last_discarded(g_ctx, 0))
            err("cannot delete '%s': %s (--force discards %s)", vis(name),
                vis(xlsnap_last_error(g_ctx)),
                xlsnap_last_discarded(g_ctx, 1) ? "them" : "it");
        else
            fail("delete '%s'", name);
        rc = EXIT_FAILURE;
        goto out;
    }
    for (int i = 0; (line = xlsnap_last_discarded(g_ctx, i)); i++)
        printf("%s\n", vis(line));
    if (xlsnap_last_warning(g_ctx))
        err("warning: %s", vis(xlsnap_last_warning(g_ctx)));
    if (xlsnap_last_freed(g_ctx))
        print_freed("", xlsnap_last_freed(g_ctx));
 out:
    xlsnap_domain_dispose(&dom);
    return rc;
}

int main_delete(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "children", no_argument, NULL, OPT_CHILDREN },
        { "children-only", no_argument, NULL, OPT_CHILDREN_ONLY },
        { "metadata", no_argument, NULL, OPT_METADATA },
        { "merge-into-parent", no_argument, NULL, OPT_MERGE },
        { "force", no_argument, NULL, OPT_FORCE },
        { "name", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    unsigned flags = 0;
    const char *name = NULL;
    int opt, rc;

    while ((opt = cmd_getopt(cmd, argc, argv, "n:", lo)) != -1) {
        switch (opt) {
        COMMON_OPT_CASES;
        case OPT_CHILDREN: flags |= XLSNAP_DELETE_CHILDREN; break;
        case OPT_CHILDREN_ONLY: flags |= XLSNAP_DELETE_CHILDREN_ONLY; break;
        case OPT_METADATA: flags |= XLSNAP_DELETE_METADATA; break;
        case OPT_MERGE: flags |= XLSNAP_DELETE_MERGE_PARENT; break;
        case OPT_FORCE: flags |= XLSNAP_DELETE_FORCE; break;
        case 'n': name = optarg; break;
        }
    }
    if ((rc = name_args(cmd, argc, argv, 1, &name))) return rc;
    if ((flags & XLSNAP_DELETE_CHILDREN) &&
        (flags & XLSNAP_DELETE_CHILDREN_ONLY)) {
        err("delete: --children and --children-only exclude each other");
        return EXIT_USAGE;
    }
    if ((flags & XLSNAP_DELETE_MERGE_PARENT) &&
        (flags & (XLSNAP_DELETE_CHILDREN | XLSNAP_DELETE_CHILDREN_ONLY |
                  XLSNAP_DELETE_METADATA))) {
        err("delete: --merge-into-parent excludes --children, "
            "--children-only and --metadata");
        return EXIT_USAGE;
    }
    if ((flags & XLSNAP_DELETE_FORCE) &&
        !(flags & XLSNAP_DELETE_MERGE_PARENT)) {
        err("delete: --force goes only with --merge-into-parent");
        return EXIT_USAGE;
    }
    if (flags & XLSNAP_DELETE_MERGE_PARENT)
        return delete_merge(argv[optind], name, flags);
    rc = snapshot_op("delete", argv[optind], name, xlsnap_delete, flags);
    if (!rc && xlsnap_last_warning(g_ctx))
        err("warning: %s", vis(xlsnap_last_warning(g_ctx)));
    /* external layers merged away: the disk space that came back */
    if (!rc && xlsnap_last_freed(g_ctx))
        print_freed("", xlsnap_last_freed(g_ctx));
    return rc;
}
