/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * list-snapshots.c - libxlsnap for other toolstacks: list the snapshots
 * of a domain (name, parent, state, type), using only libxlsnap.h.
 *
 *   cc list-snapshots.c $(pkg-config --cflags --libs libxlsnap)
 *   ./a.out [-S STATE_DIR] DOMAIN
 */
#include <stdio.h>
#include <string.h>

#include <libxlsnap.h>

int main(int argc, char **argv)
{
    const char *state_dir = NULL;
    xlsnap_ctx *ctx = NULL;
    xlsnap_domain dom;
    xlsnap_snapshot *list = NULL;
    int nr = 0, rc = 1;

    if (argc == 4 && !strcmp(argv[1], "-S")) {
        state_dir = argv[2];
        argv += 2;
        argc -= 2;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: list-snapshots [-S STATE_DIR] DOMAIN\n");
        return 2;
    }
    xlsnap_domain_init(&dom);
    if (xlsnap_ctx_alloc(&ctx, state_dir, NULL)) {
        fprintf(stderr, "list-snapshots: cannot set up libxlsnap\n");
        goto out;
    }
    if (xlsnap_domain_resolve(ctx, argv[1], &dom) ||
        xlsnap_list(ctx, &dom, &list, &nr)) {
        fprintf(stderr, "list-snapshots: %s\n", xlsnap_last_error(ctx));
        goto out;
    }
    printf("domain %s %s\n", dom.name ? dom.name : "-", dom.uuid);
    for (int i = 0; i < nr; i++)
        printf("%s%s parent=%s state=%s type=%s\n", list[i].name,
               list[i].current ? " (current)" : "",
               list[i].parent ? list[i].parent : "-",
               xlsnap_state_name(list[i].state),
               xlsnap_snapshot_type(&list[i]));
    rc = 0;
 out:
    xlsnap_snapshot_list_free(list, nr);
    xlsnap_domain_dispose(&dom);
    xlsnap_ctx_free(ctx);
    return rc;
}
