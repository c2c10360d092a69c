/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmd_export.c - xl-snapshot export [--full | --delta --base NAME]
 *                [--compress zstd] <Domain> <Name> <DIR | ->
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xl-snapshot.h"

enum { OPT_FULL = 0x100, OPT_DELTA, OPT_BASE, OPT_COMPRESS };

int main_export(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "full", no_argument, NULL, OPT_FULL },
        { "delta", no_argument, NULL, OPT_DELTA },
        { "base", required_argument, NULL, OPT_BASE },
        { "compress", required_argument, NULL, OPT_COMPRESS },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    xlsnap_export_params p;
    xlsnap_domain dom;
    bool full = false, delta = false;
    const char *name, *dest;
    uint64_t bytes = 0;
    int opt, rc;

    xlsnap_export_params_init(&p);
    while ((opt = cmd_getopt(cmd, argc, argv, "", lo)) != -1) {
        switch (opt) {
        COMMON_OPT_CASES;
        case OPT_FULL: full = true; break;
        case OPT_DELTA: delta = true; break;
        case OPT_BASE: p.base = optarg; break;
        case OPT_COMPRESS:
            if (strcmp(optarg, "zstd")) {
                err("export: unknown compression '%s' (only zstd)", vis(optarg));
                return EXIT_USAGE;
            }
            p.compress = optarg;
            break;
        }
    }
    if ((rc = cmd_args(cmd, argc, 3, 3))) return rc;
    if (full && (delta || p.base)) {
        err("export: --full and --delta/--base exclude each other");
        return EXIT_USAGE;
    }
    if (delta != !!p.base) {
        err("export: --delta needs --base NAME (and --base needs --delta)");
        return EXIT_USAGE;
    }
    name = argv[optind + 1];
    dest = argv[optind + 2];
    if ((rc = bundle_stream("export", dest, STDOUT_FILENO, &p.fd, &p.dir)))
        return rc;

    xlsnap_domain_init(&dom);
    if (resolve_domain(argv[optind], &dom) ||
        xlsnap_export(g_ctx, &dom, name, &p, &bytes)) {
        rc = fail("export '%s'", name);
        goto out;
    }
    if (p.dir)
        printf("Exported snapshot '%s' of domain '%s' (%s%s%s%s) to %s: "
               "%llu bytes.\n", vis(name), vis(dom.name ? dom.name : dom.uuid),
               p.base ? "delta on '" : "full", p.base ? vis(p.base) : "",
               p.base ? "'" : "", p.compress ? ", zstd" : "", vis(p.dir),
               (unsigned long long)bytes);
    rc = EXIT_SUCCESS;
 out:
    xlsnap_domain_dispose(&dom);
    return rc;
}
