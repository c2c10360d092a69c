/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: store, current pointer, atomic writes under SIGKILL. */
#include <stdbool.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "libxlsnap.h"
#include "tap.h"

#define UUID "6ba7b810-9dad-11d1-80b4-00c04fd430c8"

static char dir[256];

static void mk(xlsnap_snapshot *s, const char *name, const char *parent,
               long long t, bool cur)
{
    xlsnap_snapshot_init(s);
    s->name = strdup(name);
    s->parent = parent ? strdup(parent) : NULL;
    s->creationtime = t;
    s->state = XLSNAP_STATE_READY;
    s->current = cur;
    s->domain_name = strdup("g1");
    s->domain_uuid = strdup(UUID);
    s->description = strdup(name);
}

static int store(xlsnap_ctx *ctx, const char *name, const char *parent,
                 long long t, bool cur)
{
    xlsnap_snapshot s;
    int rc;
    mk(&s, name, parent, t, cur);
    rc = xlsnap_record_store(ctx, &s);
    xlsnap_snapshot_dispose(&s);
    return rc;
}

static int mode_of(const char *p)
{
    struct stat st;
    return stat(p, &st) ? -1 : (int)(st.st_mode & 07777);
}

int main(void)
{
    xlsnap_ctx *ctx;
    xlsnap_domain dom;
    xlsnap_snapshot *list = NULL, one;
    int nr = 0, status;
    char path[512], *before = NULL;
    pid_t pid;

    snprintf(dir, sizeof(dir), "/tmp/xlsnap-unit-%d/state", getpid());
    if (xlsnap_ctx_alloc(&ctx, dir, NULL)) return 1;
    umask(0);     /* the modes below must not depend on the umask */

    ok(store(ctx, "s0", NULL, 100, true) == 0, "store s0: %s",
       xlsnap_last_error(ctx));
    ok(store(ctx, "s1", "s0", 200, true) == 0, "store s1");
    ok(store(ctx, "s2", "s1", 150, true) == 0, "store s2");
    ok(mode_of(dir) == 0700, "state dir is 0700");
    snprintf(path, sizeof(path), "%s/%s", dir, UUID);
    ok(mode_of(path) == 0700, "domain dir is 0700");
    snprintf(path, sizeof(path), "%s/%s/s1", dir, UUID);
    ok(mode_of(path) == 0700, "snapshot dir is 0700");
    snprintf(path, sizeof(path), "%s/%s/s1/record.json", dir, UUID);
    ok(mode_of(path) == 0600, "record is 0600");
    snprintf(path, sizeof(path), "%s/%s/.lock", dir, UUID);
    ok(mode_of(path) == 0600, "lock file is 0600");

    xlsnap_domain_init(&dom);
    ok(xlsnap_domain_resolve(ctx, UUID, &dom) == 0, "resolve by UUID");
    is_str(dom.name, "g1", "name from the records");
    ok(dom.domid == -1, "not running");
    xlsnap_domain_dispose(&dom);
    ok(xlsnap_domain_resolve(ctx, "g1", &dom) == 0,
       "resolve by stored name");
    is_str(dom.uuid, UUID, "uuid from name");
    ok(xlsnap_domain_resolve(ctx, "nope", &dom) == XLSNAP_ERROR_NOTFOUND,
       "unknown name");

    ok(xlsnap_list(ctx, &dom, &list, &nr) == 0 && nr == 3, "three records");
    ok(nr == 3 && !strcmp(list[0].name, "s0") && !strcmp(list[1].name, "s2")
       && !strcmp(list[2].name, "s1"), "sorted by creation time");
    ok(nr == 3 && !list[0].current && list[1].current && !list[2].current,
       "only the last stored is current");
    xlsnap_snapshot_list_free(list, nr);

    ok(xlsnap_set_current(ctx, &dom, "s0") == 0, "set current s0");
    xlsnap_snapshot_init(&one);
    ok(xlsnap_get(ctx, &dom, "s0", &one) == 0 && one.current, "s0 current");
    xlsnap_snapshot_dispose(&one);
    ok(xlsnap_get(ctx, &dom, "s2", &one) == 0 && !one.current,
       "s2 no longer current");
    xlsnap_snapshot_dispose(&one);
    ok(xlsnap_set_current(ctx, &dom, "zz") == XLSNAP_ERROR_NOTFOUND,
       "set current to a missing snapshot");
    ok(xlsnap_get(ctx, &dom, "zz", &one) == XLSNAP_ERROR_NOTFOUND,
       "get missing");
    ok(xlsnap_get(ctx, &dom, "../x", &one) == XLSNAP_ERROR_INVAL,
       "get with a bad name");

    /* A writer killed half-way through a record leaves the old one. */
    snprintf(path, sizeof(path), "%s/%s/s1/record.json", dir, UUID);
    {
        FILE *f = fopen(path, "r");
        size_t n;
        before = calloc(1, 65536);
        n = fread(before, 1, 65535, f);
        fclose(f);
        (void)n;
    }
    pid = fork();
    if (pid == 0) {
        setenv("XL_SNAPSHOT_FAULT", "record-write", 1);
        store(ctx, "s1", "s0", 999, true);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
       "writer died of SIGKILL mid-write");
    {
        FILE *f = fopen(path, "r");
        char *after = calloc(1, 65536);
        size_t n = fread(after, 1, 65535, f);
        fclose(f);
        (void)n;
        ok(!strcmp(before, after), "previous record intact");
        free(after);
    }
    ok(xlsnap_list(ctx, &dom, &list, &nr) == 0 && nr == 3,
       "list still shows 3 records, no partial one");
    xlsnap_snapshot_list_free(list, nr);
    ok(store(ctx, "s1", "s0", 200, false) == 0,
       "next write succeeds over the stale temporary file");
    ok(xlsnap_list(ctx, &dom, &list, &nr) == 0 && nr == 3,
       "list after rewrite");
    xlsnap_snapshot_list_free(list, nr);

    /* An interrupted create (directory without record) is no snapshot. */
    snprintf(path, sizeof(path), "%s/%s/half", dir, UUID);
    mkdir(path, 0700);
    ok(xlsnap_list(ctx, &dom, &list, &nr) == 0 && nr == 3,
       "directory without record is ignored");
    xlsnap_snapshot_list_free(list, nr);

    xlsnap_domain_dispose(&dom);
    xlsnap_ctx_free(ctx);
    free(before);
    snprintf(path, sizeof(path), "rm -rf /tmp/xlsnap-unit-%d", getpid());
    if (system(path)) return 1;
    return tap_done();
}
