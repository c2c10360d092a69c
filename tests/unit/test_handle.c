/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: the store handle's records loaded once (from the list
 * index when it is valid), the index kept fresh by delete and
 * set-current, and the string set of chain.c (no Xen needed). */
#include "internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

#define UUID "6ba7b810-9dad-11d1-80b4-00c04fd430c8"

static char dir[256];

static int store(xlsnap_ctx *ctx, const char *name, const char *parent,
                 long long t, bool cur)
{
    xlsnap_snapshot s;
    int rc;

    xlsnap_snapshot_init(&s);
    s.name = strdup(name);
    s.parent = parent ? strdup(parent) : NULL;
    s.creationtime = t;
    s.state = XLSNAP_STATE_READY;
    s.current = cur;
    s.domain_name = strdup("g1");
    s.domain_uuid = strdup(UUID);
    s.config_json = xlsnap__sprintf("{\"c_info\":{\"name\":\"%s\"}}", name);
    rc = xlsnap_record_store(ctx, &s);
    xlsnap_snapshot_dispose(&s);
    return rc;
}

/* Overwrite the records in place with as many bytes of junk, keeping
 * their inode, size and mtime (the index's key), or put them back: a
 * handle that parses a record it should not fails. */
static char *saved[8];

static void lock_records(const char *const *names, int n, bool lock)
{
    for (int i = 0; i < n; i++) {
        char p[512];
        struct stat st;
        struct timespec ts[2];
        int fd;
        snprintf(p, sizeof(p), "%s/%s/%s/record.json", dir, UUID, names[i]);
        if (stat(p, &st) < 0) continue;         /* deleted */
        ts[0] = st.st_atim;
        ts[1] = st.st_mtim;
        if (lock) {
            free(saved[i]);
            saved[i] = calloc(1, st.st_size + 1);
            fd = open(p, O_RDONLY);
            if (fd < 0 || read(fd, saved[i], st.st_size) != st.st_size)
                printf("# cannot read %s\n", p);
            if (fd >= 0) close(fd);
        }
        fd = open(p, O_WRONLY);
        for (off_t k = 0; fd >= 0 && k < st.st_size; k++)
            if (write(fd, lock ? "#" : saved[i] + k, 1) != 1) break;
        if (fd >= 0) close(fd);
        utimensat(AT_FDCWD, p, ts, 0);
    }
}

static void test_strset(void)
{
    xlsnap__strset s = { 0 };
    char buf[32];
    bool all = true;

    for (int i = 0; i < 20000; i++) {
        snprintf(buf, sizeof(buf), "/img/%d", i);
        xlsnap__set_add_fmt(&s, buf, i % 2 ? "qcow2" : NULL);
        xlsnap__set_add(&s, buf);               /* again: no new entry */
    }
    ok(!s.nomem && s.n == 20000, "20,000 distinct strings, added twice: "
       "%d entries", s.n);
    for (int i = 0; all && i < 20000; i++) {
        snprintf(buf, sizeof(buf), "/img/%d", i);
        all = xlsnap__set_has(&s, buf) && xlsnap__set_index(&s, buf) == i &&
              !strcmp(s.v[i], buf);
    }
    ok(all, "each found, at its insertion position");
    is_str(xlsnap__set_fmt(&s, "/img/7"), "qcow2", "format kept");
    ok(xlsnap__set_fmt(&s, "/img/8") == NULL, "no format: NULL");
    xlsnap__set_add_fmt(&s, "/img/8", "raw");
    is_str(xlsnap__set_fmt(&s, "/img/8"), "raw",
           "a format learnt later is kept");
    ok(!xlsnap__set_has(&s, "/img/20000") && !xlsnap__set_has(&s, NULL) &&
       xlsnap__set_index(&s, "nope") == -1, "absent strings are absent");
    xlsnap__set_free(&s);
    ok(s.n == 0 && !s.v && !s.slot && !xlsnap__set_has(&s, "/img/1"),
       "freed: empty, and usable again");
    xlsnap__set_add(&s, "x");
    ok(s.n == 1 && xlsnap__set_has(&s, "x"), "reused after free");
    xlsnap__set_free(&s);
}

/* check --repair of records left "deleting": children first, in list
 * order, each finished; n_chain deleting records in a chain under a
 * kept root, plus a small tree. */
static void test_check_deleting(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                                int n_chain)
{
    xlsnap_problem *pr = NULL;
    xlsnap_snapshot *l = NULL;
    int npr = 0, nr = 0, del = 0, bad = 0;
    char name[32], parent[32];

    ok(store(ctx, "root", NULL, 10, false) == 0, "root kept");
    for (int i = 0; i < n_chain; i++) {
        xlsnap_snapshot s;
        snprintf(name, sizeof(name), "c%05d", i);
        snprintf(parent, sizeof(parent), i ? "c%05d" : "root", i - 1);
        xlsnap_snapshot_init(&s);
        s.name = strdup(name);
        s.parent = strdup(parent);
        s.creationtime = 1000 + i;
        s.state = XLSNAP_STATE_DELETING;
        s.current = i == n_chain - 1;
        s.domain_uuid = strdup(UUID);
        if (xlsnap__store_write(ctx, &s)) bad++;
        xlsnap_snapshot_dispose(&s);
    }
    ok(!bad, "%d records 'deleting' in a chain", n_chain);
    ok(xlsnap_check(ctx, dom, true, &pr, &npr) == 0, "check --repair: %s",
       xlsnap_last_error(ctx));
    for (int i = 0; i < npr; i++) {
        if (strcmp(pr[i].kind, "interrupted-delete")) continue;
        /* the deepest first: c(n-1), c(n-2), ... */
        snprintf(name, sizeof(name), "c%05d", n_chain - 1 - del);
        if (!pr[i].repaired || strcmp(pr[i].snapshot, name)) bad++;
        del++;
    }
    ok(del == n_chain && !bad, "each finished, leaf first (%d of %d, %d "
       "out of order)", del, n_chain, bad);
    xlsnap_problem_list_free(pr, npr);
    ok(xlsnap_list(ctx, dom, &l, &nr) == 0 && nr == 1 &&
       !strcmp(l[0].name, "root") && l[0].current,
       "only the root is left, current");
    xlsnap_snapshot_list_free(l, nr);
}

int main(void)
{
    static const char *const names[] = { "s0", "s1", "s2", "s3" };
    xlsnap_ctx *ctx;
    xlsnap_domain dom;
    xlsnap_snapshot *l = NULL;
    xlsnap__store_handle h = XLSNAP__STORE_HANDLE_INIT;
    int nr = 0, idx = -1;
    char p[512];
    bool none;

    test_strset();

    snprintf(dir, sizeof(dir), "/tmp/xlsnap-unit-handle-%d/state",
             getpid());
    if (xlsnap_ctx_alloc(&ctx, dir, NULL)) return 1;
    xlsnap_domain_init(&dom);
    dom.uuid = strdup(UUID);
    ok(store(ctx, "s0", NULL, 100, false) == 0 &&
       store(ctx, "s1", "s0", 200, false) == 0 &&
       store(ctx, "s2", "s1", 300, false) == 0 &&
       store(ctx, "s3", "s2", 400, true) == 0, "four records: %s",
       xlsnap_last_error(ctx));

    /* no index yet: the handle reads every record, whole */
    ok(xlsnap__store_open(ctx, UUID, XLSNAP__STORE_SUMMARY, &h) == 0 &&
       h.nr == 4 && !h.summary, "no index: records read whole");
    ok(h.list[0].config_json != NULL, "with their config");
    xlsnap__store_close(&h);

    ok(xlsnap_list_summary(ctx, &dom, &l, &nr) == 0 && nr == 4,
       "a list builds the index");
    xlsnap_snapshot_list_free(l, nr);

    /* the index is valid: summaries, no record opened */
    lock_records(names, 4, true);
    ok(xlsnap__store_open(ctx, UUID, 0, &h) == XLSNAP_ERROR_CORRUPT,
       "records made junk (same key): a whole read fails");
    xlsnap__store_close(&h);
    ok(xlsnap__store_open(ctx, UUID, XLSNAP__STORE_SUMMARY, &h) == 0 &&
       h.nr == 4 && h.summary, "valid index: summaries, no record "
       "parsed (%s)", xlsnap_last_error(ctx));
    none = true;
    for (int i = 0; i < h.nr; i++) none &= !h.list[i].config_json;
    ok(none, "no config in a summary");
    is_str(h.list[3].name, "s3", "sorted by creation time");
    ok(h.list[3].current && h.list[2].parent &&
       !strcmp(h.list[2].parent, "s1"), "parents and current from the "
       "index");
    xlsnap__store_close(&h);
    lock_records(names, 4, false);

    /* a record loaded is whole; written, it keeps its config */
    ok(xlsnap__store_open(ctx, UUID, XLSNAP__STORE_SUMMARY, &h) == 0 &&
       h.summary, "summaries again");
    ok(xlsnap__store_handle_load(ctx, &h, 1) == 0 &&
       h.list[1].config_json &&
       strstr(h.list[1].config_json, "\"s1\""), "load: s1's config");
    ok(xlsnap__store_handle_load(ctx, &h, 1) == 0, "load twice: no-op");
    free(h.list[2].description);
    h.list[2].description = strdup("edited");
    ok(xlsnap__store_handle_write(ctx, &h, 2) == 0, "write s2");
    xlsnap__store_close(&h);
    {
        xlsnap_snapshot s;
        xlsnap_snapshot_init(&s);
        ok(xlsnap_get(ctx, &dom, "s2", &s) == 0 && s.config_json &&
           strstr(s.config_json, "\"s2\"") && s.description &&
           !strcmp(s.description, "edited"),
           "s2 on disk: edited, config kept");
        xlsnap_snapshot_dispose(&s);
    }

    /* a full handle is not a summary one */
    ok(xlsnap__store_open(ctx, UUID, 0, &h) == 0 && !h.summary &&
       h.list[0].config_json, "without SUMMARY: whole records");
    xlsnap__store_close(&h);

    /* set-current and delete leave a valid index behind */
    ok(xlsnap_set_current(ctx, &dom, "s1") == 0, "set-current s1");
    lock_records(names, 4, true);
    ok(xlsnap__store_open(ctx, UUID, XLSNAP__STORE_SUMMARY, &h) == 0 &&
       h.summary && h.list[1].current && !h.list[3].current,
       "after set-current: the index is valid and says s1 is current");
    xlsnap__store_close(&h);
    lock_records(names, 4, false);

    ok(xlsnap_delete(ctx, &dom, "s2", XLSNAP_DELETE_METADATA) == 0,
       "delete s2: %s", xlsnap_last_error(ctx));
    lock_records(names, 4, true);
    ok(xlsnap__store_open_find_flags(ctx, UUID, "s3", XLSNAP__STORE_SUMMARY,
                                     &h, &idx) == 0 && h.summary &&
       h.nr == 3 && idx == 2, "after delete: the index is valid, 3 left");
    ok(idx >= 0 && h.list[idx].parent && !strcmp(h.list[idx].parent, "s1"),
       "s3 re-parented to s1 in the index");
    xlsnap__store_close(&h);
    lock_records(names, 4, false);
    ok(xlsnap__store_open_find_flags(ctx, UUID, "s2", XLSNAP__STORE_SUMMARY,
                                     &h, &idx) == XLSNAP_ERROR_NOTFOUND,
       "s2 gone");
    xlsnap__store_close(&h);

    /* an edit by anyone else makes the index invalid: records read */
    snprintf(p, sizeof(p), "%s/%s/s0/record.json", dir, UUID);
    {
        int fd = open(p, O_WRONLY | O_APPEND);
        ok(fd >= 0 && write(fd, "\n", 1) == 1, "s0 edited by hand");
        if (fd >= 0) close(fd);
    }
    ok(xlsnap__store_open(ctx, UUID, XLSNAP__STORE_SUMMARY, &h) == 0 &&
       !h.summary && h.nr == 3, "stale index: records read whole");
    xlsnap__store_close(&h);

    /* a domain of its own for check */
    free(dom.uuid);
    dom.uuid = strdup(UUID);
    snprintf(p, sizeof(p), "rm -rf %s/%s", dir, UUID);
    if (system(p)) return 1;
    test_check_deleting(ctx, &dom, 200);

    for (int i = 0; i < 8; i++) free(saved[i]);
    xlsnap_domain_dispose(&dom);
    xlsnap_ctx_free(ctx);
    snprintf(p, sizeof(p), "rm -rf /tmp/xlsnap-unit-handle-%d", getpid());
    if (system(p)) return 1;
    return tap_done();
}
