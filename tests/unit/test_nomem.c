/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests: out of memory (issue 14, "the library never aborts").
 *
 * The library's own allocations (malloc, calloc, realloc, strdup,
 * strndup, vasprintf, yajl_gen_alloc) go through the wrappers below
 * (linked with -Wl,--wrap, see the Makefile): only the library's calls
 * and this file's are redirected, not those inside libc, yajl or libxl.
 * Each operation is run again and again, the Nth allocation failing in
 * run N, until a run needs fewer than N: every run must end with
 * XLSNAP_ERROR_NOMEM and an "out of memory" message, or (a failure the
 * operation may absorb: the list index is best effort) with its normal
 * result -- never a crash, an abort, another error or a wrong result.
 * Under valgrind (by hand: valgrind --leak-check=full
 * build/tests/test_nomem) no failure path leaks.
 */
#include "internal.h"
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tap.h"

/* ---- the allocation wrappers ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t m, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_vasprintf(char **r, const char *fmt, va_list ap);
yajl_gen __real_yajl_gen_alloc(const yajl_alloc_funcs *afs);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t m, size_t n);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_vasprintf(char **r, const char *fmt, va_list ap);
yajl_gen __wrap_yajl_gen_alloc(const yajl_alloc_funcs *afs);

static long fail_at = -1;       /* the allocation that fails, -1: none */
static long nalloc;             /* allocations since armed */
static bool failed;             /* the one failure happened */

static bool fail_now(void)
{
    if (fail_at < 0) return false;
    if (++nalloc != fail_at) return false;
    failed = true;
    errno = ENOMEM;
    return true;
}

void *__wrap_malloc(size_t n)
{
    return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t m, size_t n)
{
    return fail_now() ? NULL : __real_calloc(m, n);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return fail_now() ? NULL : __real_strndup(s, n);
}

int __wrap_vasprintf(char **r, const char *fmt, va_list ap)
{
    return fail_now() ? -1 : __real_vasprintf(r, fmt, ap);
}

yajl_gen __wrap_yajl_gen_alloc(const yajl_alloc_funcs *afs)
{
    return fail_now() ? NULL : __real_yajl_gen_alloc(afs);
}

/* ---- fixtures ---- */

#define UUID  "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
#define UUID2 "6ba7b811-9dad-11d1-80b4-00c04fd430c8"

static char base[256], dir[300];
static int run_no;
static xlsnap_domain dom;       /* UUID, "g1", not running */
static char *record_json;       /* s1's record, as the store writes it */

static int rm_one(const char *p, const struct stat *st, int flag,
                  struct FTW *f)
{
    (void)st; (void)flag; (void)f;
    return remove(p);
}

/* A record (its allocations never fail). */
static void fill(xlsnap_snapshot *s, const char *name, const char *parent,
                 long long t, bool cur, const char *uuid)
{
    long armed = fail_at;

    fail_at = -1;
    xlsnap_snapshot_init(s);
    s->name = strdup(name);
    s->parent = parent ? strdup(parent) : NULL;
    s->creationtime = t;
    s->state = XLSNAP_STATE_READY;
    s->current = cur;
    s->description = strdup("a\tdescription\n");
    s->domstate = strdup("running");
    s->memory = strdup("/nonexistent/memory.save");
    s->memory_compression = strdup("zstd");
    s->domain_name = strdup("g1");
    s->domain_uuid = strdup(uuid);
    s->num_disks = 2;
    s->disks = calloc(2, sizeof(*s->disks));
    s->disks[0].vdev = strdup("xvda");
    s->disks[0].format = strdup("qcow2");
    s->disks[0].image = strdup("/nonexistent/a.qcow2");
    s->disks[0].kind = XLSNAP_DISK_INTERNAL;
    s->disks[0].internal_name = strdup(name);
    s->disks[1].vdev = strdup("xvdb");
    s->disks[1].format = strdup("raw");
    s->disks[1].image = strdup("/nonexistent/b.qcow2");
    s->disks[1].kind = XLSNAP_DISK_EXTERNAL;
    s->disks[1].overlay = strdup("/nonexistent/b.o.qcow2");
    s->disks[1].backing = strdup("/nonexistent/b.qcow2");
    fail_at = armed;
}

static void store(xlsnap_ctx *ctx, const char *name, const char *parent,
                  long long t, bool cur, const char *uuid)
{
    xlsnap_snapshot s;

    fill(&s, name, parent, t, cur, uuid);
    if (xlsnap_record_store(ctx, &s)) {
        printf("Bail out! cannot store %s: %s\n", name,
               xlsnap_last_error(ctx));
        exit(1);
    }
    xlsnap_snapshot_dispose(&s);
}

enum { F_RECORDS = 1, F_INDEX = 2, F_TWIN = 4 };

/* A fresh state dir: with F_RECORDS, s1 <- s2 <- s3 (current) of
 * domain g1; F_INDEX: its list index written; F_TWIN: a second history
 * named g1. */
static void setup(unsigned flags)
{
    xlsnap_ctx *ctx;

    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    snprintf(dir, sizeof(dir), "%s/run%d", base, run_no++);
    if (!flags) return;
    if (xlsnap_ctx_alloc(&ctx, dir, NULL)) exit(1);
    if (flags & F_RECORDS) {
        store(ctx, "s1", NULL, 100, false, UUID);
        store(ctx, "s2", "s1", 200, false, UUID);
        store(ctx, "s3", "s2", 300, true, UUID);
    }
    if (flags & F_TWIN) store(ctx, "t1", NULL, 150, false, UUID2);
    if (flags & F_INDEX) {
        xlsnap_snapshot *l = NULL;
        int nr = 0;
        if (xlsnap_list_summary(ctx, &dom, &l, &nr) || nr != 3) exit(1);
        xlsnap_snapshot_list_free(l, nr);
    }
    xlsnap_ctx_free(ctx);
}

/* A result that is not what the operation gives without a failure. */
static int wrong(xlsnap_ctx *ctx, const char *what)
{
    return xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "wrong result: %s", what);
}

/* ---- the operations ---- */

typedef int op_fn(xlsnap_ctx *ctx);

static int op_parse(xlsnap_ctx *ctx)
{
    xlsnap_snapshot s;
    int rc = xlsnap_snapshot_from_json(ctx, record_json, &s);

    if (rc) return rc;
    if (!s.name || strcmp(s.name, "s1") || s.num_disks != 2 ||
        !s.disks[1].backing || !s.config_json || !s.description)
        rc = wrong(ctx, "record parsed");
    xlsnap_snapshot_dispose(&s);
    return rc;
}

static int op_write(xlsnap_ctx *ctx)
{
    xlsnap_snapshot s;
    char *json = NULL;
    int rc;

    fill(&s, "s1", NULL, 100, false, UUID);
    s.config_json = __real_strdup("{\"c_info\":{\"name\":\"g1\"},"
                                  "\"disks\":[]}");
    rc = xlsnap_snapshot_to_json(ctx, &s, &json);
    if (!rc && strcmp(json, record_json)) rc = wrong(ctx, "record JSON");
    free(json);
    xlsnap_snapshot_dispose(&s);
    return rc;
}

static int op_store(xlsnap_ctx *ctx)
{
    xlsnap_snapshot s;
    int rc;

    fill(&s, "s4", "s3", 400, true, UUID);
    rc = xlsnap_record_store(ctx, &s);
    xlsnap_snapshot_dispose(&s);
    return rc;
}

static int list_check(xlsnap_ctx *ctx, bool summary, int want,
                      const char *cur)
{
    xlsnap_snapshot *l = NULL;
    int nr = 0, rc, ncur = 0;

    rc = summary ? xlsnap_list_summary(ctx, &dom, &l, &nr)
                 : xlsnap_list(ctx, &dom, &l, &nr);
    if (rc) return rc;
    for (int i = 0; i < nr; i++)
        if (l[i].current) {
            ncur++;
            if (strcmp(l[i].name, cur)) rc = wrong(ctx, "current");
        }
    if (!rc && (nr != want || ncur != 1 || l[0].num_disks != 2 ||
                strcmp(l[0].disks[1].backing, "/nonexistent/b.qcow2")))
        rc = wrong(ctx, "list");
    xlsnap_snapshot_list_free(l, nr);
    return rc;
}

static int op_list(xlsnap_ctx *ctx)
{
    return list_check(ctx, false, 3, "s3");
}

static int op_summary(xlsnap_ctx *ctx)
{
    return list_check(ctx, true, 3, "s3");
}

static int op_resolve_uuid(xlsnap_ctx *ctx)
{
    xlsnap_domain d;
    int rc;

    xlsnap_domain_init(&d);
    rc = xlsnap_domain_resolve(ctx, "6BA7B810-9DAD-11D1-80B4-00C04FD430C8",
                               &d);
    if (!rc && (!d.name || strcmp(d.name, "g1") || strcmp(d.uuid, UUID)))
        rc = wrong(ctx, "domain");
    xlsnap_domain_dispose(&d);
    return rc;
}

static int op_resolve_name(xlsnap_ctx *ctx)
{
    xlsnap_domain d;
    int rc;

    xlsnap_domain_init(&d);
    rc = xlsnap_domain_resolve(ctx, "g1", &d);
    if (!rc && (!d.name || strcmp(d.name, "g1") || strcmp(d.uuid, UUID)))
        rc = wrong(ctx, "domain");
    xlsnap_domain_dispose(&d);
    return rc;
}

/* two histories named g1: INVAL, the message describing both */
static int op_resolve_ambiguous(xlsnap_ctx *ctx)
{
    xlsnap_domain d;
    int rc;

    xlsnap_domain_init(&d);
    rc = xlsnap_domain_resolve(ctx, "g1", &d);
    if (rc == XLSNAP_ERROR_INVAL &&
        (!strstr(xlsnap_last_error(ctx), UUID " (3 snapshots, newest "
                 "'s3')") ||
         !strstr(xlsnap_last_error(ctx), UUID2 " (1 snapshot, newest "
                 "'t1')")))
        rc = wrong(ctx, "ambiguity message");
    xlsnap_domain_dispose(&d);
    return rc;
}

static int op_pick(xlsnap_ctx *ctx)
{
    xlsnap_domain d;
    int rc;

    xlsnap_domain_init(&d);
    xlsnap_set_domain_uuid(ctx, UUID2);
    rc = xlsnap_domain_resolve(ctx, "g1", &d);
    if (!rc && strcmp(d.uuid, UUID2)) rc = wrong(ctx, "picked domain");
    xlsnap_domain_dispose(&d);
    return rc;
}

static int op_list_domains(xlsnap_ctx *ctx)
{
    xlsnap_domain *l = NULL;
    int nr = 0, rc = xlsnap_list_domains(ctx, &l, &nr);

    if (!rc && (nr != 2 || !l[0].name || !l[1].name))
        rc = wrong(ctx, "domains");
    xlsnap_domain_list_free(l, nr);
    return rc;
}

static xlsnap_snapshot tree_l[64];    /* a binary tree, n0 its root */

static int op_tree(xlsnap_ctx *ctx)
{
    xlsnap__tree t;
    int rc, anc[64];

    xlsnap__tree_init(&t);
    rc = xlsnap__tree_build(ctx, &t, tree_l, 64);
    if (!rc && (xlsnap__tree_find(&t, "n63") != 63 ||
                xlsnap__tree_ancestors(&t, 63, anc) != 6))
        rc = wrong(ctx, "tree");
    xlsnap__tree_dispose(&t);
    return rc;
}

static int op_set_current(xlsnap_ctx *ctx)
{
    int rc = xlsnap_set_current(ctx, &dom, "s1");

    if (rc) return rc;
    fail_at = -1;
    return list_check(ctx, false, 3, "s1");
}

static int op_delete(xlsnap_ctx *ctx)
{
    int rc = xlsnap_delete(ctx, &dom, "s2", 0);

    if (rc) return rc;
    fail_at = -1;
    return list_check(ctx, false, 2, "s3");
}

static char *redefine_json;     /* s4, child of s3: no disk, no memory */

static int op_redefine(xlsnap_ctx *ctx)
{
    const char *json = redefine_json;
    xlsnap_snapshot s;
    int rc;

    xlsnap_snapshot_init(&s);
    rc = xlsnap_redefine(ctx, &dom, json, XLSNAP_REDEFINE_CURRENT, &s);
    if (!rc && (!s.name || strcmp(s.name, "s4") || !s.domain_uuid))
        rc = wrong(ctx, "redefined record");
    xlsnap_snapshot_dispose(&s);
    if (rc) return rc;
    fail_at = -1;
    return list_check(ctx, false, 4, "s4");
}

static int op_check(xlsnap_ctx *ctx)
{
    xlsnap_problem *p = NULL;
    int np = 0, rc = xlsnap_check(ctx, &dom, false, &p, &np);

    /* each snapshot: its memory image and two disks missing */
    if (!rc && np != 9) rc = wrong(ctx, "problems found");
    for (int i = 0; !rc && i < np; i++)
        if (!p[i].message || !p[i].kind || !p[i].snapshot ||
            !p[i].domain_uuid)
            rc = wrong(ctx, "problem");
    xlsnap_problem_list_free(p, np);
    return rc;
}

/* ---- the runner ---- */

static const char *only;        /* argv[1]: run the operations named so */

static void run(const char *what, unsigned flags, op_fn *op, int want)
{
    int nomem = 0, absorbed = 0, bad = 0;
    long n;

    if (only && !strstr(what, only)) return;
    for (n = 1; n < 100000; n++) {
        xlsnap_ctx *ctx;
        int rc;

        setup(flags);
        if (xlsnap_ctx_alloc(&ctx, dir, NULL)) exit(1);
        nalloc = 0;
        failed = false;
        fail_at = n;
        rc = op(ctx);
        fail_at = -1;
        if (!failed) {
            ok(rc == want, "%s: runs through with %ld allocations (rc %d%s%s)",
               what, n - 1, rc, rc ? ": " : "",
               rc ? xlsnap_last_error(ctx) : "");
            xlsnap_ctx_free(ctx);
            break;
        }
        if (rc == XLSNAP_ERROR_NOMEM &&
            strstr(xlsnap_last_error(ctx), "out of memory"))
            nomem++;
        else if (rc == want)
            absorbed++;
        else if (bad++ < 5)
            printf("# %s, allocation %ld failing: rc %d, '%s'\n", what, n,
                   rc, xlsnap_last_error(ctx));
        xlsnap_ctx_free(ctx);
    }
    ok(bad == 0 && nomem > 0, "%s: each failed allocation gives NOMEM with "
       "a message (%d) or the normal result (%d), never another (%d)",
       what, nomem, absorbed, bad);
}

static void run_ctx_alloc(void)
{
    int nomem = 0, bad = 0;
    long n;

    if (only && !strstr("ctx_alloc", only)) return;
    for (n = 1; n < 1000; n++) {
        xlsnap_ctx *ctx = NULL;
        int rc;

        nalloc = 0;
        failed = false;
        fail_at = n;
        rc = xlsnap_ctx_alloc(&ctx, "relative/dir", NULL);
        fail_at = -1;
        if (!failed) {
            ok(rc == 0 && ctx, "ctx_alloc: runs through with %ld "
               "allocations", n - 1);
            xlsnap_ctx_free(ctx);
            break;
        }
        if (rc == XLSNAP_ERROR_NOMEM && !ctx) nomem++;
        else bad++;
        xlsnap_ctx_free(ctx);
    }
    ok(bad == 0 && nomem > 0, "ctx_alloc: each failed allocation gives "
       "NOMEM and no ctx (%d, %d other)", nomem, bad);
}

int main(int argc, char **argv)
{
    xlsnap_ctx *ctx;
    xlsnap_snapshot s;
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                    : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

    only = argc > 1 ? argv[1] : NULL;
    snprintf(base, sizeof(base), "%s/test_nomem.XXXXXX", tmp);
    if (!mkdtemp(base)) { perror("mkdtemp"); return 1; }
    snprintf(dir, sizeof(dir), "%s/none", base);
    unsetenv("XL_SNAPSHOT_FAULT");
    xlsnap_domain_init(&dom);
    dom.uuid = strdup(UUID);
    dom.name = strdup("g1");

    /* the record JSON op_parse reads and op_write must give */
    if (xlsnap_ctx_alloc(&ctx, base, NULL)) return 1;
    fill(&s, "s1", NULL, 100, false, UUID);
    s.config_json = strdup("{\"c_info\":{\"name\":\"g1\"},\"disks\":[]}");
    if (xlsnap_snapshot_to_json(ctx, &s, &record_json)) return 1;
    xlsnap_snapshot_dispose(&s);
    fill(&s, "s4", "s3", 400, false, UUID);
    for (int i = 0; i < s.num_disks; i++) xlsnap_disk_dispose(&s.disks[i]);
    free(s.disks);
    s.disks = NULL;
    s.num_disks = 0;
    free(s.memory);
    s.memory = NULL;
    if (xlsnap_snapshot_to_json(ctx, &s, &redefine_json)) return 1;
    xlsnap_snapshot_dispose(&s);
    xlsnap_ctx_free(ctx);

    for (int i = 0; i < 64; i++) {
        char n[16], p[16];
        snprintf(n, sizeof(n), "n%d", i);
        snprintf(p, sizeof(p), "n%d", (i - 1) / 2);
        fill(&tree_l[i], n, i ? p : NULL, i, i == 63, UUID);
    }

    run_ctx_alloc();
    run("record parse", 0, op_parse, 0);
    run("record write", 0, op_write, 0);
    run("record store", F_RECORDS, op_store, 0);
    run("list (records read)", F_RECORDS, op_list, 0);
    run("list summary (index built)", F_RECORDS, op_summary, 0);
    run("list summary (index read)", F_RECORDS | F_INDEX, op_summary, 0);
    run("tree build", 0, op_tree, 0);
    run("resolve by UUID", F_RECORDS, op_resolve_uuid, 0);
    run("resolve by name", F_RECORDS, op_resolve_name, 0);
    run("resolve an ambiguous name", F_RECORDS | F_TWIN,
        op_resolve_ambiguous, XLSNAP_ERROR_INVAL);
    run("resolve with a picked UUID", F_RECORDS | F_TWIN, op_pick, 0);
    run("list domains", F_RECORDS | F_TWIN, op_list_domains, 0);
    run("set current", F_RECORDS, op_set_current, 0);
    run("delete", F_RECORDS, op_delete, 0);
    run("redefine", F_RECORDS, op_redefine, 0);
    run("check", F_RECORDS, op_check, 0);

    setup(0);
    nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    xlsnap_domain_dispose(&dom);
    for (int i = 0; i < 64; i++) xlsnap_snapshot_dispose(&tree_l[i]);
    free(record_json);
    free(redefine_json);
    return tap_done();
}
