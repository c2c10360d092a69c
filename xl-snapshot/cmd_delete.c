/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmd_delete.c - xl-snapshot delete [--children|--children-only|
 *                --metadata] <Domain> <Name> | -n <Name> <Domain>
 */
#include <stdlib.h>

#include "xl-snapshot.h"

enum { OPT_CHILDREN = 0x100, OPT_CHILDREN_ONLY, OPT_METADATA };

int main_delete(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "children", no_argument, NULL, OPT_CHILDREN },
        { "children-only", no_argument, NULL, OPT_CHILDREN_ONLY },
        { "metadata", no_argument, NULL, OPT_METADATA },
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
        case 'n': name = optarg; break;
        }
    }
    if ((rc = name_args(cmd, argc, argv, 1, &name))) return rc;
    if ((flags & XLSNAP_DELETE_CHILDREN) &&
        (flags & XLSNAP_DELETE_CHILDREN_ONLY)) {
        err("delete: --children and --children-only exclude each other");
        return EXIT_USAGE;
    }
    rc = snapshot_op("delete", argv[optind], name, xlsnap_delete, flags);
    if (!rc && xlsnap_last_warning(g_ctx))
        err("warning: %s", vis(xlsnap_last_warning(g_ctx)));
    /* external layers merged away: the disk space that came back */
    if (!rc && xlsnap_last_freed(g_ctx))
        print_freed("", xlsnap_last_freed(g_ctx));
    return rc;
}
