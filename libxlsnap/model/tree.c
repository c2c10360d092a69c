/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * tree.c - the snapshots of a domain as a tree
 *
 * Built once from a list of records (as the store reads them): an
 * index by name (open addressing, so a lookup is O(1)) and parent /
 * children links.  Every walk is O(n) or less, also over the corrupt
 * shapes records can take: a parent that does not exist makes a root,
 * and a parent cycle (records edited by hand) never loops.  The one
 * place that makes a snapshot current is here too.
 */
#include "internal.h"

/* FNV-1a */
static size_t hash_name(const char *s)
{
    uint64_t h = 14695981039346656037ull;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

static int lookup(const xlsnap__tree *t, const char *name)
{
    if (!name || !t->slot) return -1;
    for (size_t k = hash_name(name) & t->mask;; k = (k + 1) & t->mask) {
        int i = t->slot[k] - 1;
        if (i < 0) return -1;
        if (!strcmp(t->l[i].name, name)) return i;
    }
}

/* Append i to p's children. */
static void link_child(xlsnap__tree *t, int p, int i)
{
    t->parent[i] = p;
    t->next[i] = -1;
    t->prev[i] = t->last[p];
    if (t->last[p] >= 0) t->next[t->last[p]] = i;
    else t->child[p] = i;
    t->last[p] = i;
}

static void unlink_child(xlsnap__tree *t, int i)
{
    int p = t->parent[i];

    if (p < 0) return;
    if (t->prev[i] >= 0) t->next[t->prev[i]] = t->next[i];
    else t->child[p] = t->next[i];
    if (t->next[i] >= 0) t->prev[t->next[i]] = t->prev[i];
    else t->last[p] = t->prev[i];
    t->parent[i] = t->prev[i] = t->next[i] = -1;
}

void xlsnap__tree_init(xlsnap__tree *t)
{
    memset(t, 0, sizeof(*t));
}

void xlsnap__tree_dispose(xlsnap__tree *t)
{
    free(t->parent);
    free(t->child);
    free(t->last);
    free(t->next);
    free(t->prev);
    free(t->slot);
    free(t->mark);
    free(t->gone);
    xlsnap__tree_init(t);
}

int xlsnap__tree_build(xlsnap_ctx *ctx, xlsnap__tree *t, xlsnap_snapshot *l,
                       int nr)
{
    size_t n = nr > 0 ? (size_t)nr : 1, nslot = 16;

    xlsnap__tree_dispose(t);
    while (nslot < 2 * n) nslot *= 2;
    t->l = l;
    t->nr = nr;
    t->mask = nslot - 1;
    t->parent = malloc(n * sizeof(*t->parent));
    t->child = malloc(n * sizeof(*t->child));
    t->last = malloc(n * sizeof(*t->last));
    t->next = malloc(n * sizeof(*t->next));
    t->prev = malloc(n * sizeof(*t->prev));
    t->slot = calloc(nslot, sizeof(*t->slot));
    t->mark = calloc(n, sizeof(*t->mark));
    t->gone = calloc(n, sizeof(*t->gone));
    if (!t->parent || !t->child || !t->last || !t->next || !t->prev ||
        !t->slot || !t->mark || !t->gone) {
        xlsnap__tree_dispose(t);
        return xlsnap__error(ctx, XLSNAP_ERROR_NOMEM, "cannot index %d "
                             "snapshots: out of memory", nr);
    }
    for (int i = 0; i < nr; i++) {
        size_t k = hash_name(l[i].name) & t->mask;
        t->parent[i] = t->child[i] = t->last[i] = -1;
        t->next[i] = t->prev[i] = -1;
        /* names are unique in a domain; a duplicate finds the first */
        while (t->slot[k] && strcmp(l[t->slot[k] - 1].name, l[i].name))
            k = (k + 1) & t->mask;
        if (!t->slot[k]) t->slot[k] = i + 1;
    }
    for (int i = 0; i < nr; i++) {
        int p = lookup(t, l[i].parent);
        if (p >= 0) link_child(t, p, i);
    }
    return 0;
}

int xlsnap__tree_find(const xlsnap__tree *t, const char *name)
{
    return lookup(t, name);
}

int xlsnap__tree_parent(const xlsnap__tree *t, int i)
{
    return t->parent[i];
}

int xlsnap__tree_children(const xlsnap__tree *t, int i, int *out)
{
    int n = 0;

    for (int j = t->child[i]; j >= 0; j = t->next[j]) {
        if (out) out[n] = j;
        n++;
    }
    return n;
}

int xlsnap__tree_ancestors(const xlsnap__tree *t, int i, int *out)
{
    int n = 0;

    /* the marks stop a walk around a parent cycle; cleared after */
    t->mark[i] = 1;
    for (int p = t->parent[i]; p >= 0 && !t->mark[p]; p = t->parent[p]) {
        t->mark[p] = 1;
        if (out) out[n] = p;
        n++;
    }
    t->mark[i] = 0;
    for (int p = t->parent[i], k = 0; k < n; p = t->parent[p], k++)
        t->mark[p] = 0;
    return n;
}

bool xlsnap__tree_is_ancestor(const xlsnap__tree *t, int a, int i)
{
    /* at most nr steps: a cycle not through a ends the walk */
    for (int p = t->parent[i], k = 0; p >= 0 && k < t->nr;
         p = t->parent[p], k++)
        if (p == a) return true;
    return false;
}

int xlsnap__tree_descendants(const xlsnap__tree *t, int i, int *out)
{
    int n = 0, head = 0;

    /* breadth first, out doubling as the queue; each node once */
    for (int j = t->child[i]; j >= 0; j = t->next[j]) {
        t->mark[j] = 1;
        out[n++] = j;
    }
    while (head < n) {
        for (int j = t->child[out[head++]]; j >= 0; j = t->next[j]) {
            if (t->mark[j]) continue;
            t->mark[j] = 1;
            out[n++] = j;
        }
    }
    for (int k = 0; k < n; k++) t->mark[out[k]] = 0;
    return n;
}

int xlsnap__tree_leaves(const xlsnap__tree *t, int *out)
{
    int n = 0;

    for (int i = 0; i < t->nr; i++)
        if (t->child[i] < 0 && !t->gone[i]) {
            if (out) out[n] = i;
            n++;
        }
    return n;
}

int xlsnap__tree_topological(const xlsnap__tree *t, int *out)
{
    int n = 0;

    /* pre-order, iterative: out[0..n) is the output so far; the walk
     * goes down to the first child, else to the next sibling of the
     * nearest node that has one */
    for (int r = 0; r < t->nr; r++) {
        int i = r;
        if (t->parent[r] >= 0 || t->gone[r]) continue;
        for (;;) {
            out[n++] = i;
            t->mark[i] = 2;
            if (t->child[i] >= 0) {
                i = t->child[i];
                continue;
            }
            while (i != r && t->next[i] < 0) i = t->parent[i];
            if (i == r) break;
            i = t->next[i];
        }
    }
    /* what no root reaches: parent cycles and what hangs from them */
    for (int i = 0; i < t->nr; i++)
        if (t->mark[i] != 2 && !t->gone[i]) out[n++] = i;
    for (int i = 0; i < t->nr; i++)
        if (t->mark[i] == 2) t->mark[i] = 0;
    return n;
}

int xlsnap__tree_depths(const xlsnap__tree *t, int *depth)
{
    int *path = NULL;
    enum { NEW = 0, ON_PATH = 3, DONE = 4 };

    /* depth[i]: the number of snapshots reached going up from i, i
     * itself not counted: on a cycle of c records c - 1 */
    path = malloc((t->nr ? t->nr : 1) * sizeof(*path));
    if (!path) return XLSNAP_ERROR_NOMEM;
    for (int i = 0; i < t->nr; i++) {
        int top = 0, j = i;
        if (t->mark[i] == DONE) continue;
        while (j >= 0 && t->mark[j] == NEW) {
            t->mark[j] = ON_PATH;
            path[top++] = j;
            j = t->parent[j];
        }
        if (j >= 0 && t->mark[j] == ON_PATH) {
            int c = top;               /* j is on path: a cycle */
            while (path[c - 1] != j) c--;
            c--;
            for (int k = c; k < top; k++) {
                depth[path[k]] = top - c - 1;
                t->mark[path[k]] = DONE;
            }
            top = c;
        }
        while (top > 0) {
            int k = path[--top], p = t->parent[k];
            depth[k] = p < 0 ? 0 : depth[p] + 1;
            t->mark[k] = DONE;
        }
    }
    for (int i = 0; i < t->nr; i++) t->mark[i] = 0;
    free(path);
    return 0;
}

void xlsnap__tree_remove(xlsnap__tree *t, int i)
{
    int p = t->parent[i];

    unlink_child(t, i);
    if (p == i) p = -1;          /* its own parent: children are roots */
    while (t->child[i] >= 0) {
        int c = t->child[i];
        unlink_child(t, c);
        if (p >= 0) link_child(t, p, c);
    }
    t->gone[i] = true;
}

int xlsnap__list_find(const xlsnap_snapshot *l, int nr, const char *name)
{
    for (int i = 0; name && i < nr; i++)
        if (!strcmp(l[i].name, name)) return i;
    return -1;
}

int xlsnap__set_current(xlsnap_ctx *ctx, xlsnap_snapshot *l, int nr,
                        int cur, xlsnap__write_fn *write)
{
    int rc;

    for (int i = 0; i < nr; i++) {
        if (i == cur || !l[i].current) continue;
        l[i].current = false;
        if ((rc = write(ctx, &l[i]))) return rc;
    }
    if (cur < 0 || l[cur].current) return 0;
    l[cur].current = true;
    return write(ctx, &l[cur]);
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
