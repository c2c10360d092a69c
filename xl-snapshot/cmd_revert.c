/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmd_revert.c - xl-snapshot revert [--running|--paused] [--force]
 *                <Domain> <Name> | -n <Name> <Domain>
 */
#include <stdlib.h>

#include "xl-snapshot.h"

enum { OPT_RUNNING = 0x100, OPT_PAUSED, OPT_FORCE };

int main_revert(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "running", no_argument, NULL, OPT_RUNNING },
        { "paused", no_argument, NULL, OPT_PAUSED },
        { "force", no_argument, NULL, OPT_FORCE },
        { "domain-config", required_argument, NULL, 'c' },
        { "name", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    unsigned flags = 0;
    const char *name = NULL;
    int opt, rc;

    while ((opt = cmd_getopt(cmd, argc, argv, "fc:n:", lo)) != -1) {
        switch (opt) {
        COMMON_OPT_CASES;
        case OPT_RUNNING: flags |= XLSNAP_REVERT_RUNNING; break;
        case OPT_PAUSED: flags |= XLSNAP_REVERT_PAUSED; break;
        case 'f': case OPT_FORCE: flags |= XLSNAP_REVERT_FORCE; break;
        case 'c': g_domain_config = optarg; break;
        case 'n': name = optarg; break;
        }
    }
    if (g_domain_config) {
        if ((rc = name_args(cmd, argc, argv, 0, &name))) return rc;
        return snapshot_op("revert", g_domain_config, name, xlsnap_revert,
                           flags);
    }
    if ((rc = name_args(cmd, argc, argv, 1, &name))) return rc;
    if ((flags & XLSNAP_REVERT_RUNNING) && (flags & XLSNAP_REVERT_PAUSED)) {
        err("revert: --running and --paused exclude each other");
        return EXIT_USAGE;
    }
    return snapshot_op("revert", argv[optind], name, xlsnap_revert, flags);
}
