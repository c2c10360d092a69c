/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmd_check_config.c - xl-snapshot check-config [--json] <ConfigFile>
 */
#include <stdlib.h>

#include "xl-snapshot.h"

int main_check_config(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    xlsnap_config c;
    bool json = false;
    int opt, rc;
    char *out = NULL;

    xlsnap_config_init(&c);
    while ((opt = cmd_getopt(cmd, argc, argv, "", lo)) != -1) {
        switch (opt) {
        COMMON_OPT_CASES;
        case 'j': json = true; break;
        }
    }
    if ((rc = cmd_args(cmd, argc, 1, 1))) return rc;

    rc = EXIT_FAILURE;
    if (xlsnap_config_parse_file(g_ctx, argv[optind], &c)) {
        /* the message already names file:line */
        err("%s", xlsnap_last_error(g_ctx));
        goto out;
    }
    if (json) {
        if (xlsnap_config_to_json(g_ctx, &c, &out)) {
            fail("show '%s'", argv[optind]);
            goto out;
        }
        rc = print_json(out);
        goto out;
    }
    printf("%-13s%s\n", "name:", c.name ? c.name
                                        : "(default: creation time)");
    printf("%-13s%s\n", "description:", c.description ? c.description : "-");
    printf("%-13s%s\n", "memory:",
           c.memory == XLSNAP_MEMORY_YES ? "yes" :
           c.memory == XLSNAP_MEMORY_NO ? "no" :
           c.memory == XLSNAP_MEMORY_PATH ? c.memory_path :
           "(default: yes for a running domain)");
    printf("%-13s%s\n", "type:",
           c.type == XLSNAP_DISK_EXTERNAL ? "external" :
           c.type == XLSNAP_DISK_INTERNAL ? "internal" :
           "(default: internal)");
    printf("%-13s%s\n", "quiesce:", c.quiesce ? "yes" : "no");
    if (c.snapshot_size)
        printf("%-13s%s\n", "snap size:", vis(c.snapshot_size));
    if (c.reuse_external)
        printf("%-13s%s\n", "reuse:", "yes (external targets are "
               "pre-created overlays)");
    if (!c.num_disks)
        printf("%-13s%s\n", "disks:", "(default: every writable disk)");
    for (int i = 0; i < c.num_disks; i++) {
        const xlsnap_cfg_disk *d = &c.disks[i];
        printf("disk %-8s%s%s%s\n", d->vdev,
               d->kind != XLSNAP_DISK_EXTERNAL ? "snapshot type default" :
               c.reuse_external ? "external, reusing overlay "
                                : "external overlay ",
               d->target ? d->target : "",
               d->format ? " (qcow2)" : "");
    }
    if (c.creationtime >= 0)
        printf("note: creationtime=%lld is ignored on create\n",
               (long long)c.creationtime);
    rc = EXIT_SUCCESS;
 out:
    xlsnap_config_dispose(&c);
    return rc;
}
