/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: the list index (store/index.c) - written, read back,
 * invalidated when a record changes, every state kept, a corrupt or
 * old-form index ignored and rebuilt, never written while the domain's
 * lock is held by another. */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "libxlsnap.h"
#include "tap.h"

#define UUID "6ba7b810-9dad-11d1-80b4-00c04fd430c8"

static char dir[256], idx[512];

static int store(xlsnap_ctx *ctx, const char *name, const char *parent,
                 long long t, bool cur, xlsnap_state st, const char *desc)
{
    xlsnap_snapshot s;
    int rc;

    xlsnap_snapshot_init(&s);
    s.name = strdup(name);
    s.parent = parent ? strdup(parent) : NULL;
    s.creationtime = t;
    s.state = st;
    s.current = cur;
    s.description = desc ? strdup(desc) : NULL;
    s.domstate = strdup("running");
    s.memory = strdup("/m/memory.save");
    s.memory_compression = strdup("zstd");
    s.memory_live = true;
    s.domain_name = strdup("g1");
    s.domain_uuid = strdup(UUID);
    s.num_disks = 2;
    s.disks = calloc(2, sizeof(*s.disks));
    s.disks[0].vdev = strdup("xvda");
    s.disks[0].format = strdup("qcow2");
    s.disks[0].image = strdup("/img/a.qcow2");
    s.disks[0].kind = XLSNAP_DISK_INTERNAL;
    s.disks[0].internal_name = strdup(name);
    s.disks[1].vdev = strdup("xvdb");
    s.disks[1].format = strdup("qcow2");
    s.disks[1].image = strdup("/img/b.qcow2");
    s.disks[1].kind = XLSNAP_DISK_EXTERNAL;
    s.disks[1].overlay = strdup("/img/b.o.qcow2");
    s.disks[1].backing = strdup("/img/b\tx.qcow2");
    s.config_json = strdup("{\"c_info\":{\"name\":\"g1\"}}");
    rc = xlsnap_record_store(ctx, &s);
    xlsnap_snapshot_dispose(&s);
    return rc;
}

static bool same_str(const char *a, const char *b)
{
    return a && b ? !strcmp(a, b) : a == b;
}

/* Every field but config_json equal. */
static bool same(const xlsnap_snapshot *a, const xlsnap_snapshot *b)
{
    if (!same_str(a->name, b->name) ||
        !same_str(a->description, b->description) ||
        a->creationtime != b->creationtime || a->state != b->state ||
        !same_str(a->domstate, b->domstate) ||
        !same_str(a->memory, b->memory) ||
        !same_str(a->memory_compression, b->memory_compression) ||
        a->memory_live != b->memory_live ||
        !same_str(a->parent, b->parent) || a->current != b->current ||
        !same_str(a->domain_name, b->domain_name) ||
        !same_str(a->domain_uuid, b->domain_uuid) ||
        a->num_disks != b->num_disks)
        return false;
    for (int i = 0; i < a->num_disks; i++) {
        const xlsnap_disk *x = &a->disks[i], *y = &b->disks[i];
        if (!same_str(x->vdev, y->vdev) || !same_str(x->format, y->format) ||
            !same_str(x->image, y->image) || x->kind != y->kind ||
            !same_str(x->internal_name, y->internal_name) ||
            !same_str(x->overlay, y->overlay) ||
            !same_str(x->backing, y->backing))
            return false;
    }
    return true;
}

static char *slurp(const char *p)
{
    FILE *f = fopen(p, "r");
    char *b;
    size_t n;

    if (!f) return NULL;
    b = calloc(1, 1 << 20);
    n = fread(b, 1, (1 << 20) - 1, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

static void spit(const char *p, const char *s)
{
    FILE *f = fopen(p, "w");
    fputs(s, f);
    fclose(f);
}

/* Replace the first from in the index by to. */
static bool edit_index(const char *from, const char *to)
{
    char *s = slurp(idx), *at, *n;
    bool found;

    if (!s) return false;
    at = strstr(s, from);
    found = at != NULL;
    if (found) {
        n = calloc(1, strlen(s) + strlen(to) + 1);
        memcpy(n, s, at - s);
        strcat(n, to);
        strcat(n, at + strlen(from));
        spit(idx, n);
        free(n);
    }
    free(s);
    return found;
}

static xlsnap_snapshot *summary(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                                int *nr)
{
    xlsnap_snapshot *l = NULL;

    *nr = -1;
    if (xlsnap_list_summary(ctx, dom, &l, nr)) {
        printf("# list_summary: %s\n", xlsnap_last_error(ctx));
        *nr = -1;
    }
    return l;
}

static const xlsnap_snapshot *find(const xlsnap_snapshot *l, int nr,
                                   const char *name)
{
    for (int i = 0; i < nr; i++)
        if (!strcmp(l[i].name, name)) return &l[i];
    return NULL;
}

/* xlsnap_list_json_write's sink: appended to a growing buffer */
struct sink {
    char *buf;
    size_t len;
    int calls, fail_at;
};

static int sink_write(void *arg, const char *b, size_t n)
{
    struct sink *k = arg;
    char *nb;

    if (++k->calls == k->fail_at) return 1;
    if (!(nb = realloc(k->buf, k->len + n + 1))) return 1;
    k->buf = nb;
    memcpy(k->buf + k->len, b, n);
    k->len += n;
    k->buf[k->len] = '\0';
    return 0;
}

int main(void)
{
    xlsnap_ctx *ctx;
    xlsnap_domain dom;
    xlsnap_snapshot *full = NULL, *l = NULL;
    const xlsnap_snapshot *s;
    int nfull = 0, nr = 0, fd;
    bool all;
    char *text, lock[512];
    struct stat st;

    snprintf(dir, sizeof(dir), "/tmp/xlsnap-unit-index-%d/state", getpid());
    snprintf(idx, sizeof(idx), "%s/%s/.index", dir, UUID);
    snprintf(lock, sizeof(lock), "%s/%s/.lock", dir, UUID);
    if (xlsnap_ctx_alloc(&ctx, dir, NULL)) return 1;
    xlsnap_domain_init(&dom);
    dom.uuid = strdup(UUID);

    ok(store(ctx, "s0", NULL, 100, false, XLSNAP_STATE_READY,
             "tab\there\nnew line \\ back") == 0 &&
       store(ctx, "s1", "s0", 200, true, XLSNAP_STATE_DELETING, NULL) == 0 &&
       store(ctx, "s2", "s1", 300, false, XLSNAP_STATE_PREPARING, "two")
       == 0, "three records stored: %s", xlsnap_last_error(ctx));

    /* write, read back */
    ok(access(idx, F_OK) != 0, "no index before the first list");
    l = summary(ctx, &dom, &nr);
    ok(nr == 3, "summary of three records");
    ok(stat(idx, &st) == 0 && (st.st_mode & 0777) == 0600,
       "the first list wrote the index, 0600");
    text = slurp(idx);
    ok(text && !strncmp(text, "xl-snapshot-index 2\n", 20), "magic line");
    free(text);
    ok(xlsnap_list(ctx, &dom, &full, &nfull) == 0 && nfull == 3,
       "full list");
    xlsnap_snapshot_list_free(l, nr);
    l = summary(ctx, &dom, &nr);
    all = nr == 3;
    for (int i = 0; all && i < nr; i++)
        all = same(&l[i], &full[i]) && !l[i].config_json;
    ok(all, "read back from the index: every field as the records say");
    xlsnap_snapshot_list_free(l, nr);

    /* it is the index that is read: an edit of it (not of a record)
     * shows */
    ok(edit_index("=two\t", "=TWO\t"), "description edited in the index");
    l = summary(ctx, &dom, &nr);
    s = find(l, nr, "s2");
    is_str(s ? s->description : NULL, "TWO", "list served from the index");
    xlsnap_snapshot_list_free(l, nr);

    /* the deleting and preparing states kept, list after list */
    for (int round = 0; round < 3; round++) {
        l = summary(ctx, &dom, &nr);
        s = find(l, nr, "s1");
        ok(s && s->state == XLSNAP_STATE_DELETING,
           "round %d: deleting stays deleting", round);
        s = find(l, nr, "s2");
        ok(s && s->state == XLSNAP_STATE_PREPARING,
           "round %d: preparing stays preparing", round);
        s = find(l, nr, "s0");
        ok(s && s->state == XLSNAP_STATE_READY,
           "round %d: ready stays ready", round);
        xlsnap_snapshot_list_free(l, nr);
    }

    /* invalidation: a record written again is seen */
    ok(store(ctx, "s2", "s1", 300, false, XLSNAP_STATE_READY, "three") == 0,
       "s2 rewritten");
    l = summary(ctx, &dom, &nr);
    s = find(l, nr, "s2");
    ok(s && same_str(s->description, "three") &&
       s->state == XLSNAP_STATE_READY, "the changed record is read again");
    xlsnap_snapshot_list_free(l, nr);
    text = slurp(idx);
    ok(text && strstr(text, "=three\t") && !strstr(text, "=TWO\t"),
       "and the index rewritten");
    free(text);

    /* a record removed behind its back */
    {
        char p[600];
        snprintf(p, sizeof(p), "%s/%s/s2/record.json", dir, UUID);
        unlink(p);
    }
    l = summary(ctx, &dom, &nr);
    ok(nr == 2 && !find(l, nr, "s2"), "a removed record is gone");
    xlsnap_snapshot_list_free(l, nr);
    ok(store(ctx, "s2", "s1", 300, false, XLSNAP_STATE_PREPARING, "two")
       == 0, "s2 back");

    /* a corrupt index is ignored and rebuilt */
    static const char *const bad[] = {
        "", "garbage", "xl-snapshot-index 2\n=s0\tgarbage\n",
        "xl-snapshot-index 2\n=s0", "xl-snapshot-index 3\n",
        "xl-snapshot-index 2\n*\t=bad \\q escape\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        spit(idx, bad[i]);
        l = summary(ctx, &dom, &nr);
        s = find(l, nr, "s1");
        ok(nr == 3 && s && s->state == XLSNAP_STATE_DELETING,
           "corrupt index %zu ignored", i);
        xlsnap_snapshot_list_free(l, nr);
        text = slurp(idx);
        ok(text && !strncmp(text, "xl-snapshot-index 2\n", 20) &&
           strstr(text, "=deleting\t"), "and rebuilt");
        free(text);
    }

    /* the form of older versions (state 0/1) is not taken */
    ok(edit_index("\t=deleting\t", "\t0\t"), "index in the old form");
    l = summary(ctx, &dom, &nr);
    s = find(l, nr, "s1");
    ok(nr == 3 && s && s->state == XLSNAP_STATE_DELETING,
       "old-form index ignored: still deleting");
    xlsnap_snapshot_list_free(l, nr);

    /* never written while another holds the domain's lock */
    fd = open(lock, O_RDWR);
    ok(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0, "lock held by another");
    unlink(idx);
    l = summary(ctx, &dom, &nr);
    ok(nr == 3, "list while locked: from the records");
    xlsnap_snapshot_list_free(l, nr);
    ok(access(idx, F_OK) != 0, "no index written under another's lock");
    if (fd >= 0) close(fd);
    l = summary(ctx, &dom, &nr);
    xlsnap_snapshot_list_free(l, nr);
    ok(access(idx, F_OK) == 0, "lock released: the index is written");

    /* list --json streamed: the summaries, each record read in its
     * turn, give the same text as the whole list generated at once */
    {
        struct sink k = { 0 };
        char *whole = NULL;
        xlsnap_snapshot_list_free(full, nfull);
        ok(xlsnap_list(ctx, &dom, &full, &nfull) == 0 && nfull == 3 &&
           xlsnap_list_to_json(ctx, &dom, full, nfull, &whole) == 0,
           "the whole list as one text");
        l = summary(ctx, &dom, &nr);
        ok(xlsnap_list_json_write(ctx, &dom, l, nr, sink_write, &k) == 0,
           "streamed: %s", xlsnap_last_error(ctx));
        {
            size_t wl = whole ? strlen(whole) : 0;
            bool nl = wl && whole[wl - 1] == '\n';
            ok(k.buf && whole && k.len == wl + !nl &&
               !strncmp(k.buf, whole, wl) && k.buf[k.len - 1] == '\n',
               "the same bytes (ending with a newline, as printed)");
        }
        ok(k.calls >= nr + 1, "written in %d pieces (one per snapshot at "
           "least)", k.calls);
        free(k.buf);
        k = (struct sink){ .fail_at = 2 };
        ok(xlsnap_list_json_write(ctx, &dom, l, nr, sink_write, &k) ==
           XLSNAP_ERROR_IO, "a failing write stops it: IO");
        ok(k.calls == 2, "nothing written after the failure");
        free(k.buf);
        free(whole);
        xlsnap_snapshot_list_free(l, nr);
    }

    xlsnap_snapshot_list_free(full, nfull);
    xlsnap_domain_dispose(&dom);
    xlsnap_ctx_free(ctx);
    {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf /tmp/xlsnap-unit-index-%d",
                 getpid());
        if (system(cmd)) {}
    }
    return tap_done();
}
