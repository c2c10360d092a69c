/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmd_redefine.c - xl-snapshot redefine [--current] <Domain> <RecordFile>
 */
#include <stdlib.h>
#include <string.h>

#include "xl-snapshot.h"

enum { OPT_CURRENT = 0x100 };

int main_redefine(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "current", no_argument, NULL, OPT_CURRENT },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    xlsnap_domain dom;
    xlsnap_snapshot s;
    unsigned flags = 0;
    const char *file;
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    int opt, rc;

    while ((opt = cmd_getopt(cmd, argc, argv, "", lo)) != -1) {
        switch (opt) {
        COMMON_OPT_CASES;
        case OPT_CURRENT: flags |= XLSNAP_REDEFINE_CURRENT; break;
        }
    }
    if ((rc = cmd_args(cmd, argc, 2, 2))) return rc;
    file = argv[optind + 1];
    xlsnap_domain_init(&dom);
    xlsnap_snapshot_init(&s);
    rc = EXIT_FAILURE;
    f = strcmp(file, "-") ? fopen(file, "re") : stdin;
    if (!f) {
        err("cannot redefine from '%s': %m", file);
        goto out;
    }
    {
        char buf[65536];
        size_t n;
        /* one byte past the limit is enough for the library to refuse */
        while (len <= XLSNAP_RECORD_MAX &&
               (n = fread(buf, 1, sizeof(buf), f)) > 0) {
            char *t = realloc(text, len + n + 1);
            if (!t) break;
            text = t;
            memcpy(text + len, buf, n);
            len += n;
            text[len] = '\0';
        }
    }
    if (f != stdin) fclose(f);
    if (!text || strlen(text) != len) {
        err("cannot redefine from '%s': not a JSON record", file);
        goto out;
    }
    if (resolve_domain(argv[optind], &dom) ||
        xlsnap_redefine(g_ctx, &dom, text, flags, &s)) {
        rc = fail("redefine from '%s'", file);
        goto out;
    }
    printf("Snapshot '%s' of domain '%s' redefined (%s%s).\n", s.name,
           dom.name ? dom.name : dom.uuid, xlsnap_snapshot_type(&s),
           s.current ? ", current" : "");
    rc = EXIT_SUCCESS;
 out:
    free(text);
    xlsnap_snapshot_dispose(&s);
    xlsnap_domain_dispose(&dom);
    return rc;
}
