/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: the scans of check (ops/check_scan.c): parent cycles, each
 * found once, cut at its oldest record (no Xen needed). */
#include "internal.h"

#include <unistd.h>

#include "tap.h"

static xlsnap_ctx *ctx;

/* "name:parent:time" items (parent "-": a root) */
static xlsnap_snapshot *mklist(const char *const *spec, int nr)
{
    xlsnap_snapshot *l = calloc(nr, sizeof(*l));

    for (int i = 0; i < nr; i++) {
        char name[64], parent[64];
        long long t;
        if (sscanf(spec[i], "%63[^:]:%63[^:]:%lld", name, parent, &t) != 3)
            abort();
        xlsnap_snapshot_init(&l[i]);
        l[i].name = strdup(name);
        l[i].parent = strcmp(parent, "-") ? strdup(parent) : NULL;
        l[i].creationtime = t;
        l[i].state = XLSNAP_STATE_READY;
    }
    return l;
}

/* "cut=members; ..." of a scan */
static char *scan(const char *const *spec, int nr)
{
    static char buf[4096];
    xlsnap_snapshot *l = mklist(spec, nr);
    xlsnap__cycle *v = NULL;
    int n = 0;
    size_t at = 0;

    buf[0] = '\0';
    if (xlsnap__scan_cycles(ctx, l, nr, &v, &n)) {
        strcpy(buf, "error");
    } else {
        for (int k = 0; k < n; k++)
            at += snprintf(buf + at, sizeof(buf) - at, "%s%s=%s",
                           k ? "; " : "", l[v[k].cut].name, v[k].members);
    }
    xlsnap__cycle_list_free(v, n);
    xlsnap_snapshot_list_free(l, nr);
    return buf;
}

static void cycles(void)
{
    static const char *const none[] = {
        "r:-:1", "a:r:2", "b:a:3", "o:gone:4", "c:o:5",
    };
    static const char *const mixed[] = {
        "r:-:1", "x:z:30", "y:x:20", "z:y:40", "h:y:5", "h2:h:6",
        "self:self:9", "p:q:7", "q:p:7",
    };

    is_str(scan(none, 0), "", "no records: no cycle");
    is_str(scan(none, 5), "", "a tree and a missing parent: no cycle");
    is_str(scan(mixed, 9), "y=y -> x -> z -> y; self=self -> self; "
           "p=p -> q -> p", "each cycle once, cut at its oldest (same "
           "time: the smaller name); what hangs from one is no cycle");
}

/* one cycle through BIG records, and a chain of BIG: one pass each */
static void big(void)
{
    enum { BIG = 10000 };
    xlsnap_snapshot *l = calloc(BIG, sizeof(*l));
    xlsnap__cycle *v = NULL;
    int n = -1;

    for (int i = 0; i < BIG; i++) {
        xlsnap_snapshot_init(&l[i]);
        l[i].name = xlsnap__sprintf("s%d", i);
        l[i].parent = xlsnap__sprintf("s%d", (i + 1) % BIG);
        l[i].creationtime = BIG - i;
    }
    ok(xlsnap__scan_cycles(ctx, l, BIG, &v, &n) == 0 && n == 1 &&
       v[0].cut == BIG - 1, "a cycle of %d records: found once, cut at "
       "the oldest", BIG);
    xlsnap__cycle_list_free(v, n);
    free(l[BIG - 1].parent);
    l[BIG - 1].parent = NULL;
    ok(xlsnap__scan_cycles(ctx, l, BIG, &v, &n) == 0 && n == 0,
       "a chain of %d records: no cycle", BIG);
    xlsnap__cycle_list_free(v, n);
    xlsnap_snapshot_list_free(l, BIG);
}

int main(void)
{
    char dir[256];

    snprintf(dir, sizeof(dir), "/tmp/xlsnap-unit-scan-%d", getpid());
    if (xlsnap_ctx_alloc(&ctx, dir, NULL)) return 1;
    cycles();
    big();
    xlsnap_ctx_free(ctx);
    return tap_done();
}
