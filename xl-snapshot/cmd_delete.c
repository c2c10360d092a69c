/*
 * cmd_delete.c - xl-snapshot delete [--children|--children-only|
 *                --metadata] <Domain> <Name>
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
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    unsigned flags = 0;
    int opt, rc;

    while ((opt = cmd_getopt(cmd, argc, argv, "", lo)) != -1) {
        switch (opt) {
        COMMON_OPT_CASES;
        case OPT_CHILDREN: flags |= XLSNAP_DELETE_CHILDREN; break;
        case OPT_CHILDREN_ONLY: flags |= XLSNAP_DELETE_CHILDREN_ONLY; break;
        case OPT_METADATA: flags |= XLSNAP_DELETE_METADATA; break;
        }
    }
    if ((rc = cmd_args(cmd, argc, 2, 2))) return rc;
    if ((flags & XLSNAP_DELETE_CHILDREN) &&
        (flags & XLSNAP_DELETE_CHILDREN_ONLY)) {
        err("delete: --children and --children-only exclude each other");
        return EXIT_USAGE;
    }
    return snapshot_op("delete", argv[optind], argv[optind + 1], xlsnap_delete,
                       flags);
}
