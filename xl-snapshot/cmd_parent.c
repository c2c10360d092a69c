/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmd_parent.c - xl-snapshot parent [--json] <Domain> <Name>
 */
#include <stdlib.h>

#include "xl-snapshot.h"

int main_parent(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    xlsnap_domain dom;
    xlsnap_snapshot s;
    bool json = false;
    int opt, rc;
    const char *name;

    xlsnap_domain_init(&dom);
    xlsnap_snapshot_init(&s);
    while ((opt = cmd_getopt(cmd, argc, argv, "", lo)) != -1) {
        switch (opt) {
        COMMON_OPT_CASES;
        case 'j': json = true; break;
        }
    }
    if ((rc = cmd_args(cmd, argc, 2, 2))) return rc;
    name = argv[optind + 1];

    if ((rc = load_snapshot("show the parent of", argv[optind], name, &dom,
                            &s)))
        goto out;
    rc = EXIT_FAILURE;
    if (json) {
        fputs("{\n    \"name\": ", stdout);
        print_json_string(s.name);
        fputs(",\n    \"parent\": ", stdout);
        print_json_string(s.parent);
        fputs("\n}\n", stdout);
        rc = EXIT_SUCCESS;
        goto out;
    }
    scrub_snapshot(&s);
    if (!s.parent) {
        err("snapshot '%s' has no parent (it is a root)", name);
        goto out;
    }
    puts(s.parent);
    rc = EXIT_SUCCESS;
 out:
    xlsnap_snapshot_dispose(&s);
    xlsnap_domain_dispose(&dom);
    return rc;
}
