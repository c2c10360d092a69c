/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: the snapshot tree (model/tree.c), the order of a delete,
 * set-current, and what a retention policy keeps (no Xen needed). */
#include "internal.h"

#include <unistd.h>

#include "tap.h"

#define UUID "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
#define BIG 10000

static xlsnap_ctx *ctx;

/* "name:parent" items (parent "-": a root); '*' after the name: current */
static xlsnap_snapshot *mklist(const char *const *spec, int nr)
{
    xlsnap_snapshot *l = calloc(nr, sizeof(*l));

    for (int i = 0; i < nr; i++) {
        char *x = strdup(spec[i]), *colon = strchr(x, ':');
        size_t n = colon - x;
        xlsnap_snapshot_init(&l[i]);
        l[i].current = x[n - 1] == '*';
        if (l[i].current) n--;
        l[i].name = strndup(x, n);
        l[i].parent = strcmp(colon + 1, "-") ? strdup(colon + 1) : NULL;
        l[i].creationtime = 1764000000 + i;
        l[i].state = XLSNAP_STATE_READY;
        l[i].domain_uuid = strdup(UUID);
        free(x);
    }
    return l;
}

/* "a b c": the names of idx[0..n) */
static char *names(const xlsnap_snapshot *l, const int *idx, int n)
{
    static char buf[4096];
    size_t at = 0;

    buf[0] = '\0';
    for (int k = 0; k < n && at < sizeof(buf) - 64; k++)
        at += snprintf(buf + at, sizeof(buf) - at, "%s%s", k ? " " : "",
                       idx[k] < 0 ? "-" : l[idx[k]].name);
    return buf;
}

static char writes[4096];

static int rec_write(xlsnap_ctx *c, const xlsnap_snapshot *s)
{
    (void)c;
    snprintf(writes + strlen(writes), sizeof(writes) - strlen(writes),
             "%s%s=%d", *writes ? " " : "", s->name, s->current);
    return 0;
}

static int fail_write(xlsnap_ctx *c, const xlsnap_snapshot *s)
{
    return xlsnap__error(c, XLSNAP_ERROR_IO, "cannot write %s", s->name);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *order_of(xlsnap__tree *t, const char *name, unsigned flags)
{
    int *o = malloc((t->nr + 1) * sizeof(*o)), n = -1;
    char *r;

    if (xlsnap__delete_order(ctx, t, xlsnap__tree_find(t, name), flags, o,
                             &n))
        n = 0;
    r = names(t->l, o, n);
    free(o);
    return r;
}

static void small_tree(void)
{
    static const char *const spec[] = {
        "a:-", "b:a", "c:a", "d:b", "e:-", "f:missing", "g*:d",
    };
    int nr = ARRAY_SIZE(spec), out[16], n, depth[16];
    xlsnap_snapshot *l = mklist(spec, nr);
    xlsnap__tree t;

    xlsnap__tree_init(&t);
    ok(xlsnap__tree_build(ctx, &t, l, nr) == 0, "a tree of %d", nr);
    ok(xlsnap__tree_find(&t, "a") == 0 && xlsnap__tree_find(&t, "g") == 6 &&
       xlsnap__tree_find(&t, "missing") < 0 &&
       xlsnap__tree_find(&t, NULL) < 0 && xlsnap__tree_find(&t, "") < 0,
       "find by name");
    ok(xlsnap__tree_parent(&t, 1) == 0 && xlsnap__tree_parent(&t, 0) < 0 &&
       xlsnap__tree_parent(&t, 5) < 0, "parent; a missing parent is a root");
    n = xlsnap__tree_children(&t, 0, out);
    is_str(names(l, out, n), "b c", "children in list order");
    ok(xlsnap__tree_children(&t, 2, NULL) == 0, "c has no children");
    n = xlsnap__tree_ancestors(&t, 6, out);
    is_str(names(l, out, n), "d b a", "ancestors, nearest first");
    ok(xlsnap__tree_ancestors(&t, 0, out) == 0, "a root has no ancestors");
    n = xlsnap__tree_descendants(&t, 0, out);
    is_str(names(l, out, n), "b c d g", "descendants, breadth first");
    ok(xlsnap__tree_is_ancestor(&t, 0, 6) &&
       !xlsnap__tree_is_ancestor(&t, 6, 0) &&
       !xlsnap__tree_is_ancestor(&t, 0, 0) &&
       !xlsnap__tree_is_ancestor(&t, 2, 6), "is-ancestor");
    n = xlsnap__tree_leaves(&t, out);
    is_str(names(l, out, n), "c e f g", "leaves");
    n = xlsnap__tree_topological(&t, out);
    is_str(names(l, out, n), "a b d g c e f", "topological order");
    ok(xlsnap__tree_depths(&t, depth) == 0 && depth[0] == 0 &&
       depth[3] == 2 && depth[6] == 3 && depth[5] == 0, "depths");

    /* the order of a delete */
    is_str(order_of(&t, "b", 0), "b", "delete b: b alone");
    is_str(order_of(&t, "a", XLSNAP_DELETE_CHILDREN), "g d b c a",
           "delete a --children: deepest first, then list order");
    is_str(order_of(&t, "a", XLSNAP_DELETE_CHILDREN_ONLY), "g d b c",
           "delete a --children-only: a stays");
    is_str(order_of(&t, "g", XLSNAP_DELETE_CHILDREN), "g",
           "delete of a leaf with --children: the leaf");

    /* set-current: the others cleared (and written) first */
    l[2].current = true;                    /* c and g current */
    writes[0] = '\0';
    ok(xlsnap__set_current(ctx, l, nr, 4, rec_write) == 0 &&
       !l[2].current && !l[6].current && l[4].current, "set-current e");
    is_str(writes, "c=0 g=0 e=1", "the old ones cleared first, then e");
    writes[0] = '\0';
    ok(xlsnap__set_current(ctx, l, nr, 4, rec_write) == 0 && !*writes,
       "set-current of the current one writes nothing");
    ok(xlsnap__set_current(ctx, l, nr, -1, rec_write) == 0 &&
       !l[4].current, "set-current -1: none current");
    is_str(writes, "e=0", "only e was written");
    l[1].current = true;
    ok(xlsnap__set_current(ctx, l, nr, 3, fail_write) ==
       XLSNAP_ERROR_IO && !l[3].current, "a failed write stops it "
       "before the new one is current");
    ok(xlsnap__list_find(l, nr, "f") == 5 && xlsnap__list_find(l, nr, "x")
       < 0 && xlsnap__list_find(l, nr, NULL) < 0, "list-find");

    /* removing b: its child d goes to a */
    xlsnap__tree_remove(&t, 1);
    n = xlsnap__tree_children(&t, 0, out);
    is_str(names(l, out, n), "c d", "b removed: d is a's child");
    ok(xlsnap__tree_parent(&t, 3) == 0, "d's parent is a");
    n = xlsnap__tree_topological(&t, out);
    is_str(names(l, out, n), "a c d g e f", "b left the tree");
    xlsnap__tree_remove(&t, 0);
    n = xlsnap__tree_topological(&t, out);
    is_str(names(l, out, n), "c d g e f", "a removed: c and d are roots");
    xlsnap__tree_dispose(&t);
    xlsnap__tree_dispose(&t);
    xlsnap_snapshot_list_free(l, nr);
}

/* records edited by hand can make a parent cycle: no walk loops */
static void cycles(void)
{
    static const char *const spec[] = {
        "x:y", "y:x", "z:x", "w:w", "r:-",
    };
    int nr = ARRAY_SIZE(spec), out[16], n, depth[16];
    xlsnap_snapshot *l = mklist(spec, nr);
    xlsnap__tree t;

    xlsnap__tree_init(&t);
    ok(xlsnap__tree_build(ctx, &t, l, nr) == 0, "a tree with cycles");
    n = xlsnap__tree_ancestors(&t, 2, out);
    is_str(names(l, out, n), "x y", "ancestors stop at the cycle");
    n = xlsnap__tree_ancestors(&t, 0, out);
    is_str(names(l, out, n), "y", "ancestors of a cycle member");
    n = xlsnap__tree_descendants(&t, 0, out);
    is_str(names(l, out, n), "y z x", "descendants: x is its own");
    ok(xlsnap__tree_is_ancestor(&t, 0, 0) &&
       !xlsnap__tree_is_ancestor(&t, 2, 0) &&
       !xlsnap__tree_is_ancestor(&t, 4, 3), "is-ancestor on cycles");
    n = xlsnap__tree_topological(&t, out);
    is_str(names(l, out, n), "r x y z w", "cycles come last");
    ok(xlsnap__tree_depths(&t, depth) == 0 && depth[0] == 1 &&
       depth[1] == 1 && depth[2] == 2 && depth[3] == 0 && depth[4] == 0,
       "depths: a cycle of c is c - 1");
    is_str(order_of(&t, "x", XLSNAP_DELETE_CHILDREN), "z x y",
           "delete x --children: what hangs first, then the cycle");
    is_str(order_of(&t, "x", XLSNAP_DELETE_CHILDREN_ONLY), "z x y",
           "--children-only: x is its own descendant (as before)");
    xlsnap__tree_remove(&t, 3);     /* w, its own parent */
    n = xlsnap__tree_leaves(&t, out);
    is_str(names(l, out, n), "z r", "a record its own parent removed");
    xlsnap__tree_dispose(&t);
    xlsnap_snapshot_list_free(l, nr);
}

static xlsnap_snapshot *mkbig(bool fan)
{
    xlsnap_snapshot *l = calloc(BIG + 1, sizeof(*l));
    char b[32];

    for (int i = 0; i <= BIG; i++) {
        xlsnap_snapshot_init(&l[i]);
        snprintf(b, sizeof(b), "snap%05d", i);
        l[i].name = strdup(b);
        if (i) {
            snprintf(b, sizeof(b), "snap%05d", fan ? 0 : i - 1);
            l[i].parent = strdup(b);
        }
        l[i].state = XLSNAP_STATE_READY;
    }
    l[fan ? 0 : BIG].current = true;
    return l;
}

static void big(bool fan)
{
    const char *what = fan ? "fan" : "chain";
    int nr = BIG + 1, *out = malloc(nr * sizeof(*out)), n;
    int *depth = malloc(nr * sizeof(*depth));
    xlsnap_snapshot *l = mkbig(fan);
    xlsnap__tree t;
    bool good = true;
    double t0 = now();
    clock_t c0 = clock();

    xlsnap__tree_init(&t);
    ok(xlsnap__tree_build(ctx, &t, l, nr) == 0, "%s of %d", what, nr);
    for (int i = 0; i < nr; i++)
        good &= xlsnap__tree_find(&t, l[i].name) == i &&
                xlsnap__tree_parent(&t, i) == (i ? fan ? 0 : i - 1 : -1);
    ok(good, "%s: every name found, every parent right", what);
    /* a walk from every node of the chain would be O(n^2): one each */
    n = xlsnap__tree_ancestors(&t, BIG, out);
    ok(n == (fan ? 1 : BIG) && out[0] == (fan ? 0 : BIG - 1) &&
       out[n - 1] == 0, "%s: ancestors of the last", what);
    n = xlsnap__tree_descendants(&t, 0, out);
    good = n == BIG;
    for (int k = 0; good && k < n; k++) good = out[k] == k + 1;
    ok(good, "%s: descendants of the root", what);
    n = xlsnap__tree_children(&t, 0, out);
    ok(n == (fan ? BIG : 1) && out[n - 1] == (fan ? BIG : 1),
       "%s: children of the root", what);
    n = xlsnap__tree_topological(&t, out);
    good = n == nr;
    for (int k = 0; good && k < n; k++) good = out[k] == k;
    ok(good, "%s: topological order", what);
    ok(xlsnap__tree_leaves(&t, NULL) == (fan ? BIG : 1), "%s: leaves",
       what);
    ok(xlsnap__tree_is_ancestor(&t, 0, BIG) &&
       !xlsnap__tree_is_ancestor(&t, BIG, 0), "%s: is-ancestor", what);
    ok(xlsnap__tree_depths(&t, depth) == 0 &&
       depth[BIG] == (fan ? 1 : BIG), "%s: depths", what);

    /* the order of deletes */
    n = -1;
    ok(!xlsnap__delete_order(ctx, &t, BIG, 0, out, &n) && n == 1 &&
       out[0] == BIG, "%s: delete of the last: itself", what);
    ok(!xlsnap__delete_order(ctx, &t, 0, XLSNAP_DELETE_CHILDREN, out, &n) &&
       n == nr, "%s: delete of the root --children: all", what);
    good = true;
    for (int k = 0; fan && k < BIG; k++) good &= out[k] == k + 1;
    for (int k = 0; !fan && k < nr; k++) good &= out[k] == BIG - k;
    ok(good && out[BIG] == 0, "%s: children first, the root last", what);
    ok(!xlsnap__delete_order(ctx, &t, 0, XLSNAP_DELETE_CHILDREN_ONLY, out,
                             &n) && n == BIG, "%s: --children-only", what);
    writes[0] = '\0';
    ok(xlsnap__set_current(ctx, l, nr, 1, rec_write) == 0 &&
       l[1].current && !l[fan ? 0 : BIG].current, "%s: set-current", what);

    /* the delete of a chain: each record leaves the tree, as delete does */
    for (int k = 0; k < BIG; k++) xlsnap__tree_remove(&t, BIG - k);
    ok(xlsnap__tree_leaves(&t, NULL) == 1 && t.child[0] < 0,
       "%s: all but the root removed", what);
    xlsnap__tree_dispose(&t);
    /* O(n^2) would be 10^8 steps per walk here: far above this bound */
    ok(now() - t0 < 2.0, "%s: all of that in %.3f s (%.3f s CPU)", what,
       now() - t0, (double)(clock() - c0) / CLOCKS_PER_SEC);
    xlsnap_snapshot_list_free(l, nr);
    free(out);
    free(depth);
}

/* xlsnap_delete on a store (records without disks: no Xen, no images) */
static void store_delete(void)
{
    xlsnap_domain dom;
    xlsnap_snapshot *l = NULL;
    int nr = 0;
    static const char *const spec[] = {
        "s0:-", "s1:s0", "s2:s1", "s3*:s2", "t1:s1",
    };
    xlsnap_snapshot *mk = mklist(spec, ARRAY_SIZE(spec));
    bool good = true;

    xlsnap_domain_init(&dom);
    dom.uuid = strdup(UUID);
    for (size_t i = 0; i < ARRAY_SIZE(spec); i++)
        good &= xlsnap_record_store(ctx, &mk[i]) == 0;
    ok(good, "stored %zu records: %s", ARRAY_SIZE(spec),
       xlsnap_last_error(ctx));
    ok(xlsnap_delete(ctx, &dom, "s3", 0) == 0, "delete the current leaf");
    ok(xlsnap_list(ctx, &dom, &l, &nr) == 0 && nr == 4 && l[2].current,
       "its parent s2 is current");
    xlsnap_snapshot_list_free(l, nr);
    ok(xlsnap_delete(ctx, &dom, "s1", 0) == 0, "delete s1 (two children)");
    ok(xlsnap_list(ctx, &dom, &l, &nr) == 0 && nr == 3 &&
       !strcmp(l[1].parent, "s0") && !strcmp(l[2].parent, "s0"),
       "s2 and t1 are s0's now");
    xlsnap_snapshot_list_free(l, nr);
    ok(xlsnap_delete(ctx, &dom, "s0", XLSNAP_DELETE_CHILDREN_ONLY) == 0,
       "delete s0 --children-only");
    ok(xlsnap_list(ctx, &dom, &l, &nr) == 0 && nr == 1 &&
       !strcmp(l[0].name, "s0") && l[0].current,
       "s0 alone, current again");
    xlsnap_snapshot_list_free(l, nr);
    ok(xlsnap_delete(ctx, &dom, "nope", 0) == XLSNAP_ERROR_NOTFOUND,
       "no such snapshot");
    xlsnap_snapshot_list_free(mk, ARRAY_SIZE(spec));
    xlsnap_domain_dispose(&dom);
}

static void prune(void)
{
    static const char *const spec[] = {
        "d1a:-", "d1b:-", "d2a:-", "d3a:-", "d3b:-", "d3c:-",
    };
    int nr = ARRAY_SIZE(spec);
    xlsnap_snapshot *l = mklist(spec, nr);
    xlsnap_prune_policy pol = { 0 };
    bool keep[8];
    char got[16];
    /* days 1, 2, 3 (UTC) and the times within them */
    const int64_t day = 86400, t0 = 1764028800; /* 2025-11-25 00:00 UTC */
    const int64_t at[] = { t0 + 10, t0 + 20, t0 + day + 5, t0 + 2 * day + 1,
                           t0 + 2 * day + 2, t0 + 2 * day + 3 };

    setenv("TZ", "UTC", 1);
    tzset();
    for (int i = 0; i < nr; i++) l[i].creationtime = at[i];
#define KEPT() (({ for (int i_ = 0; i_ < nr; i_++)                     \
                       got[i_] = keep[i_] ? 'k' : '.';                  \
                   got[nr] = '\0'; }), got)
    ok(xlsnap_prune_select(ctx, l, nr, &pol, keep) == XLSNAP_ERROR_INVAL,
       "prune: no rule is INVAL");
    pol.keep_last = -1;
    ok(xlsnap_prune_select(ctx, l, nr, &pol, keep) == XLSNAP_ERROR_INVAL,
       "prune: a negative count is INVAL");
    pol.keep_last = 2;
    ok(xlsnap_prune_select(ctx, l, nr, &pol, keep) == 0, "keep-last 2");
    is_str(KEPT(), "....kk", "keep-last 2: the two newest");
    pol.keep_last = 0;
    pol.keep_daily = 2;
    ok(xlsnap_prune_select(ctx, l, nr, &pol, keep) == 0, "keep-daily 2");
    is_str(KEPT(), "..k..k", "keep-daily 2: the newest of the 2 last days");
    pol.keep_daily = 0;
    pol.keep_weekly = 1;
    ok(xlsnap_prune_select(ctx, l, nr, &pol, keep) == 0, "keep-weekly 1");
    is_str(KEPT(), ".....k", "keep-weekly 1: the newest of the week");
    l[0].state = XLSNAP_STATE_PREPARING;
    l[5].state = XLSNAP_STATE_DELETING;
    pol.keep_weekly = 0;
    pol.keep_last = 1;
    ok(xlsnap_prune_select(ctx, l, nr, &pol, keep) == 0, "not ready");
    is_str(KEPT(), "k...kk", "records not ready are kept, and not counted");
    xlsnap_snapshot_list_free(l, nr);
}

int main(void)
{
    char dir[256];

    snprintf(dir, sizeof(dir), "/tmp/xlsnap-unit-tree-%d", getpid());
    if (xlsnap_ctx_alloc(&ctx, dir, NULL)) return 1;
    small_tree();
    cycles();
    big(false);
    big(true);
    store_delete();
    prune();
    xlsnap_ctx_free(ctx);
    {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd)) {}
    }
    return tap_done();
}
