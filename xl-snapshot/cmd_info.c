/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmd_info.c - xl-snapshot info [--json] <Domain> <Name>
 */
#include <stdlib.h>
#include <string.h>

#include "xl-snapshot.h"

static void print_children(const xlsnap_snapshot *list, int nr,
                           const char *name)
{
    int n = 0;

    printf("%-14s", "Children:");
    for (int i = 0; i < nr; i++) {
        if (!list[i].parent || strcmp(list[i].parent, name)) continue;
        printf("%s%s", n++ ? ", " : "", list[i].name);
    }
    printf("%s\n", n ? "" : "-");
}

int main_info(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    xlsnap_domain dom;
    xlsnap_snapshot s, *list = NULL;
    bool json = false;
    int opt, rc, nr = 0;
    const char *name;
    char t[64], *out = NULL, **w = NULL;
    int nw = 0;

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

    if ((rc = load_snapshot("show", argv[optind], name, &dom, &s)))
        goto out;
    rc = EXIT_FAILURE;
    if (json) {
        if (xlsnap_snapshot_to_json(g_ctx, &s, &out)) {
            fail("show '%s'", name);
            goto out;
        }
        /* a snapshot volume filling up (issue 15): "warnings" */
        if (!xlsnap_snapshot_warnings(g_ctx, &s, &w, &nw) && nw) {
            size_t n = strlen(out);
            while (n && strchr(" \n}", out[n - 1]) && out[n - 1] != '}') n--;
            if (n && out[n - 1] == '}') {
                out[n - 1] = 0;
                fputs(out, stdout);
                fputs(",\"warnings\":[", stdout);
                for (int i = 0; i < nw; i++) {
                    if (i) putchar(',');
                    print_json_string(w[i]);
                }
                fputs("]}\n", stdout);
                free(out);
                rc = EXIT_SUCCESS;
                goto out;
            }
        }
        rc = print_json(out);
        goto out;
    }
    scrub_snapshot(&s);
    xlsnap_snapshot_warnings(g_ctx, &s, &w, &nw);
    format_time(t, sizeof(t), s.creationtime);
    printf("%-14s%s\n", "Name:", s.name);
    printf("%-14s%s (%s)\n", "Domain:", s.domain_name ? s.domain_name : "-",
           s.domain_uuid);
    printf("%-14s%s (%lld)\n", "Created:", t, (long long)s.creationtime);
    printf("%-14s%s\n", "State:", xlsnap_state_name(s.state));
    printf("%-14s%s\n", "Type:", xlsnap_snapshot_type(&s));
    printf("%-14s%s\n", "Domain state:", s.domstate ? s.domstate : "-");
    printf("%-14s%s%s%s%s\n", "Memory:", s.memory ? s.memory : "no",
           s.memory_compression ? " (" : "",
           s.memory_compression ? s.memory_compression : "",
           s.memory_compression ? ")" : "");
    if (s.consistency)          /* quiesce was asked */
        printf("%-14s%s\n", "Consistency:",
               !strcmp(s.consistency, "filesystem")
               ? "filesystem (quiesced: the guest's file systems were frozen)"
               : !strcmp(s.consistency, "crash")
               ? "crash (quiesce asked, but the file systems were not frozen)"
               : s.consistency);
    printf("%-14s%s\n", "Parent:", s.parent ? s.parent : "-");
    printf("%-14s%s\n", "Current:", s.current ? "yes" : "no");
    /* the names and parents only: the list index serves them */
    if (!xlsnap_list_summary(g_ctx, &dom, &list, &nr))
        print_children(list, nr, s.name);
    printf("%-14s%s\n", "Description:", s.description ? s.description : "-");
    printf("%-14s%d\n", "Disks:", s.num_disks);
    for (int i = 0; i < s.num_disks; i++) {
        const xlsnap_disk *d = &s.disks[i];
        if (d->kind == XLSNAP_DISK_INTERNAL)
            printf("  %-6s %-6s internal  snapshot '%s' in %s\n", d->vdev,
                   d->format, d->internal_name, d->image);
        else if (d->kind == XLSNAP_DISK_VOLUME && d->snapshot_file)
            printf("  %-6s %-6s volume    reflink copy %s of %s\n",
                   d->vdev, d->format, d->snapshot_file, d->image);
        else if (d->kind == XLSNAP_DISK_VOLUME)
            printf("  %-6s %-6s volume    %s snapshot volume %s/%s of %s\n",
                   d->vdev, d->format, d->driver ? d->driver : "-",
                   d->volume_group, d->snapshot_volume, d->image);
        else
            printf("  %-6s %-6s external  data in %s, overlay %s\n",
                   d->vdev, d->format, d->backing,
                   d->overlay ? d->overlay : "none");
        if (d->kind != XLSNAP_DISK_INTERNAL && d->reused)
            printf("  %-6s %-6s           overlay made beforehand as %s\n",
                   "", "", d->reused);
    }
    for (int i = 0; i < nw; i++)
        printf("%-14s%s\n", "Warning:", vis(w[i]));
    printf("%-14s%s\n", "Config:", s.config_json ? "stored (see --json)"
                                                 : "none");
    rc = EXIT_SUCCESS;
 out:
    xlsnap_warning_list_free(w, nw);
    xlsnap_snapshot_list_free(list, nr);
    xlsnap_snapshot_dispose(&s);
    xlsnap_domain_dispose(&dom);
    return rc;
}
