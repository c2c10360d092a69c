/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmd_edit.c - xl-snapshot edit [--description TEXT] [--rename NEWNAME]
 *              [--json] <Domain> <Name>
 *
 * virsh snapshot-edit without the editor: the two things of a record
 * an admin may change, its description and its name.
 */
#include <stdlib.h>
#include <string.h>

#include "xl-snapshot.h"

enum { OPT_RENAME = 0x100, OPT_JSON };

int main_edit(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "description", required_argument, NULL, 'd' },
        { "rename", required_argument, NULL, OPT_RENAME },
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    xlsnap_edit_params p;
    xlsnap_domain dom;
    xlsnap_snapshot s;
    bool json = false;
    int opt, rc;
    const char *domspec, *name;
    char *out = NULL;

    xlsnap_edit_params_init(&p);
    while ((opt = cmd_getopt(cmd, argc, argv, "d:", lo)) != -1) {
        switch (opt) {
        COMMON_OPT_CASES;
        case 'd': p.description = optarg; break;
        case OPT_RENAME: p.new_name = optarg; break;
        case OPT_JSON: json = true; break;
        }
    }
    if ((rc = cmd_args(cmd, argc, 2, 2))) return rc;
    domspec = argv[optind];
    name = argv[optind + 1];
    if (!p.description && !p.new_name) {
        err("edit: nothing to change: give --description TEXT and/or "
            "--rename NEWNAME");
        return EXIT_USAGE;
    }
    /* refused before the domain is looked up: one clear line */
    if (p.new_name && xlsnap_name_validate(g_ctx, p.new_name))
        return fail("rename '%s'", vis(name));

    xlsnap_domain_init(&dom);
    xlsnap_snapshot_init(&s);
    rc = EXIT_FAILURE;
    if (resolve_domain(domspec, &dom) ||
        xlsnap_edit(g_ctx, &dom, name, &p, &s)) {
        fail(p.new_name ? "rename '%s'" : "edit '%s'", vis(name));
        goto out;
    }
    if (json) {
        if (xlsnap_snapshot_to_json(g_ctx, &s, &out)) {
            fail("show snapshot '%s'", vis(s.name));
            goto out;
        }
        rc = print_json(out);
        goto out;
    }
    if (p.new_name && strcmp(p.new_name, name))
        printf("Snapshot '%s' of domain '%s' renamed to '%s'.\n", vis(name),
               vis(dom.name ? dom.name : dom.uuid), vis(s.name));
    if (p.description)
        printf("Description of snapshot '%s' %s.\n", vis(s.name),
               *p.description ? "changed" : "removed");
    rc = EXIT_SUCCESS;
 out:
    xlsnap_snapshot_dispose(&s);
    xlsnap_domain_dispose(&dom);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
