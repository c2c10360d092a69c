/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * check_scan.c - scans of check (check.c) over a domain's records
 *
 * Parent cycles: records edited by hand or damaged can name parents so
 * that going up from a snapshot comes back to it (a snapshot that is
 * its own parent included).  No root reaches them: list --tree would
 * leave them out and every walk up must be guarded.  Each cycle is
 * found once (every record is visited once: O(n)) and one record of it
 * is chosen to become a root, predictably: the oldest (the smallest
 * creation time; the same: the smallest name).  The others keep their
 * parents, so the cycle becomes a chain under that record.
 */
#include "internal.h"

void xlsnap__cycle_list_free(xlsnap__cycle *v, int n)
{
    for (int k = 0; v && k < n; k++) free(v[k].members);
    free(v);
}

/* Whether l[a] is older than l[b] (the cut rule above). */
static bool older(const xlsnap_snapshot *l, int a, int b)
{
    if (l[a].creationtime != l[b].creationtime)
        return l[a].creationtime < l[b].creationtime;
    return strcmp(l[a].name, l[b].name) < 0;
}

/* "a -> b -> a": the cycle going up from its member 'from'. */
static char *describe(const xlsnap__tree *t, const xlsnap_snapshot *l,
                      int from)
{
    size_t len = 1;
    char *s, *p;
    int j = from;

    do {
        len += strlen(l[j].name) + 4;
        j = xlsnap__tree_parent(t, j);
    } while (j != from);
    len += strlen(l[from].name);
    if (!(s = malloc(len))) return NULL;
    p = s;
    j = from;
    do {
        p += sprintf(p, "%s -> ", l[j].name);
        j = xlsnap__tree_parent(t, j);
    } while (j != from);
    strcpy(p, l[from].name);
    return s;
}

int xlsnap__scan_cycles(xlsnap_ctx *ctx, xlsnap_snapshot *l, int nr,
                        xlsnap__cycle **v_r, int *n_r)
{
    enum { NEW = 0, ON_PATH, DONE };
    unsigned char *mark = calloc(nr ? nr : 1, 1);
    xlsnap__cycle *v = NULL;
    xlsnap__tree t;
    int n = 0, rc;

    *v_r = NULL;
    *n_r = 0;
    xlsnap__tree_init(&t);
    if (!mark) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    if ((rc = xlsnap__tree_build(ctx, &t, l, nr))) goto out;
    for (int i = 0; i < nr; i++) {
        int j = i;
        if (mark[i] != NEW) continue;
        /* up from i until a root, a record seen before, or one of this
         * walk (a cycle) */
        while (j >= 0 && mark[j] == NEW) {
            mark[j] = ON_PATH;
            j = xlsnap__tree_parent(&t, j);
        }
        if (j >= 0 && mark[j] == ON_PATH) {
            int cut = j;
            xlsnap__cycle *nv;
            for (int k = xlsnap__tree_parent(&t, j); k != j;
                 k = xlsnap__tree_parent(&t, k))
                if (older(l, k, cut)) cut = k;
            if (!(nv = realloc(v, (n + 1) * sizeof(*v)))) {
                rc = xlsnap__nomem(ctx);
                goto out;
            }
            v = nv;
            v[n].cut = cut;
            if (!(v[n].members = describe(&t, l, cut))) {
                rc = xlsnap__nomem(ctx);
                goto out;
            }
            n++;
        }
        for (j = i; j >= 0 && mark[j] == ON_PATH;
             j = xlsnap__tree_parent(&t, j))
            mark[j] = DONE;
    }
    *v_r = v;
    *n_r = n;
    v = NULL;
    n = 0;
    rc = 0;
 out:
    xlsnap__cycle_list_free(v, n);
    xlsnap__tree_dispose(&t);
    free(mark);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
