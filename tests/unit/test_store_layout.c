/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: the store owns every path of the state dir layout (names
 * validated by the store itself), staging dirs and their locks, and the
 * per-operation store handle. */
#include "internal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tap.h"

#define UUID "6ba7b810-9dad-11d1-80b4-00c04fd430c8"

static char dir[256];

static int store(xlsnap_ctx *ctx, const char *name, bool cur)
{
    xlsnap_snapshot s;
    int rc;

    xlsnap_snapshot_init(&s);
    s.name = strdup(name);
    s.creationtime = 100;
    s.state = XLSNAP_STATE_READY;
    s.current = cur;
    s.domain_name = strdup("g1");
    s.domain_uuid = strdup(UUID);
    rc = xlsnap_record_store(ctx, &s);
    xlsnap_snapshot_dispose(&s);
    return rc;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return !lstat(p, &st) && S_ISDIR(st.st_mode);
}

static void paths(xlsnap_ctx *ctx)
{
    static const char *const bad[] = { "a/b", "..", "../x", ".hidden",
                                       "x/../../etc", "" };
    char want[512], *p = NULL;

    snprintf(want, sizeof(want), "%s/%s/s1", dir, UUID);
    ok(!xlsnap__store_snapshot_dir(ctx, UUID, "s1", &p), "snapshot dir");
    is_str(p, want, "snapshot dir path");
    free(p);
    snprintf(want, sizeof(want), "%s/%s/s1/memory.save", dir, UUID);
    ok(!xlsnap__store_memory_path(ctx, UUID, "s1", false, &p), "memory");
    is_str(p, want, "memory image path");
    free(p);
    snprintf(want, sizeof(want), "%s/%s/s1/memory.save.zst", dir, UUID);
    ok(!xlsnap__store_memory_path(ctx, UUID, "s1", true, &p), "memory zst");
    is_str(p, want, "compressed memory image path");
    free(p);
    snprintf(want, sizeof(want), "%s/%s/..revert.tmp", dir, UUID);
    ok(!xlsnap__store_intent_tmp_path(ctx, UUID, XLSNAP__REVERT_INTENT, &p),
       "intent tmp");
    is_str(p, want, "half-written revert intent path");
    free(p);

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        p = (char *)"untouched";
        ok(xlsnap__store_snapshot_dir(ctx, UUID, bad[i], &p) ==
           XLSNAP_ERROR_INVAL && !p, "snapshot name '%s' refused", bad[i]);
        ok(xlsnap__store_memory_path(ctx, UUID, bad[i], false, &p) ==
           XLSNAP_ERROR_INVAL && !p, "memory path of '%s' refused", bad[i]);
    }
    ok(xlsnap__store_snapshot_dir(ctx, "../" UUID, "s1", &p) ==
       XLSNAP_ERROR_INVAL && !p, "a domain UUID with '/' refused");
    ok(xlsnap__store_snapshot_dir(ctx, "..", "s1", &p) ==
       XLSNAP_ERROR_INVAL && !p, "domain '..' refused");

    /* the files store_remove removes are the ones check knows */
    {
        bool zst = false, tmp = false, fifo = false, mem = false;
        for (int i = 0; xlsnap__store_snapshot_extras[i]; i++) {
            const char *f = xlsnap__store_snapshot_extras[i];
            zst |= !strcmp(f, "memory.save.zst");
            mem |= !strcmp(f, "memory.save");
            fifo |= !strcmp(f, ".restore.fifo");
            tmp |= !strcmp(f, ".record.json.tmp");
        }
        ok(zst && mem && fifo && tmp, "snapshot dir extras: memory image "
           "(plain, zstd), FIFO, record tmp");
    }
}

static void staging(xlsnap_ctx *ctx)
{
    char *imp = NULL, *exp = NULL, *p = NULL, **v = NULL, want[512];
    int ifd = -1, efd = -1, n = -1;

    ok(!xlsnap__store_staging_create(ctx, NULL, "import", &imp, &ifd) &&
       ifd >= 0, "import staging dir: %s", xlsnap_last_error(ctx));
    snprintf(want, sizeof(want), "%s/.import.", dir);
    ok(imp && !strncmp(imp, want, strlen(want)) &&
       strlen(imp) == strlen(want) + 6 && is_dir(imp),
       "import staging in the state dir: %s", imp);
    ok(!xlsnap__store_staging_create(ctx, UUID, "export", &exp, &efd) &&
       efd >= 0, "export staging dir");
    snprintf(want, sizeof(want), "%s/%s/.export.", dir, UUID);
    ok(exp && !strncmp(exp, want, strlen(want)) && is_dir(exp),
       "export staging in the domain dir: %s", exp);
    ok(xlsnap__store_staging_create(ctx, UUID, "import", &p, &n) ==
       XLSNAP_ERROR_INVAL && !p, "an import staging dir is not a domain's");
    ok(xlsnap__store_staging_create(ctx, NULL, "export", &p, &n) ==
       XLSNAP_ERROR_INVAL && !p, "an export staging dir is a domain's");
    ok(xlsnap__store_staging_create(ctx, NULL, "../x", &p, &n) ==
       XLSNAP_ERROR_INVAL && !p, "unknown staging kind refused");

    /* held: not stale, not removable */
    ok(!xlsnap__store_staging_stale(ctx, NULL, "import", &v, &n) && n == 0,
       "an import in progress is not stale");
    free(v);
    ok(!xlsnap__store_staging_stale(ctx, UUID, "export", &v, &n) && n == 0,
       "an export in progress is not stale");
    free(v);
    ok(xlsnap__store_staging_remove(ctx, imp) == XLSNAP_ERROR_BUSY &&
       is_dir(imp), "a held staging dir is not removed");

    /* the operation died: its lock is gone */
    close(ifd);
    close(efd);
    ok(!xlsnap__store_staging_stale(ctx, NULL, "import", &v, &n) && n == 1 &&
       !strcmp(v[0], imp), "a killed import's staging dir is stale");
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
    ok(!xlsnap__store_staging_stale(ctx, UUID, "export", &v, &n) && n == 1 &&
       !strcmp(v[0], exp), "a killed export's staging dir is stale");
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
    snprintf(want, sizeof(want), "%s/x", imp);
    close(open(want, O_WRONLY | O_CREAT, 0600));
    ok(!xlsnap__store_staging_remove(ctx, imp) && !is_dir(imp),
       "a stale staging dir is removed with its files");
    ok(!xlsnap__store_staging_remove(ctx, exp) && !is_dir(exp),
       "and the export's");
    ok(!xlsnap__store_staging_remove(ctx, exp), "removing it again is fine");
    free(imp);
    free(exp);
}

static void handle(xlsnap_ctx *ctx)
{
    xlsnap__store_handle h = XLSNAP__STORE_HANDLE_INIT, h2 =
        XLSNAP__STORE_HANDLE_INIT;
    const char *other = "00000000-0000-4000-8000-000000000001";
    int idx = -5;

    xlsnap__store_close(&h);
    ok(h.lock.fd == -1 && !h.list, "closing an unopened handle is safe");
    ok(xlsnap__store_open(ctx, other, 0, &h) == XLSNAP_ERROR_NOTFOUND &&
       h.lock.fd < 0, "a domain without a directory: NOTFOUND");
    ok(xlsnap__store_open_find(ctx, other, "s1", &h, &idx) ==
       XLSNAP_ERROR_NOTFOUND && idx == -1, "find in it: NOTFOUND");
    is_str(xlsnap_last_error(ctx), "no snapshot 's1'", "message");
    ok(xlsnap__store_open_find(ctx, UUID, "../s1", &h, &idx) ==
       XLSNAP_ERROR_INVAL && h.lock.fd < 0, "find with a bad name: INVAL");

    ok(!xlsnap__store_open_find(ctx, UUID, "s1", &h, &idx) && h.nr == 2 &&
       idx >= 0 && !strcmp(h.list[idx].name, "s1"),
       "open + find loads the records once: %s", xlsnap_last_error(ctx));
    xlsnap_set_lock_timeout(ctx, 0);
    ok(xlsnap__store_open(ctx, UUID, XLSNAP__STORE_LOCK_ONLY, &h2) ==
       XLSNAP_ERROR_BUSY, "a second handle waits for the first: BUSY");
    ok(xlsnap_set_current(ctx, &(xlsnap_domain){ .uuid = (char *)UUID },
                          "s0") == XLSNAP_ERROR_BUSY,
       "set-current waits for the handle too");
    xlsnap__store_close(&h);
    ok(h.lock.fd == -1 && !h.list && !h.nr, "closed");
    xlsnap__store_close(&h);
    ok(!xlsnap__store_open(ctx, UUID, XLSNAP__STORE_LOCK_ONLY, &h2) &&
       !h2.list && !h2.nr, "lock only: no records loaded");
    xlsnap__store_close(&h2);

    ok(!xlsnap__store_open(ctx, other, XLSNAP__STORE_CREATE, &h) &&
       h.nr == 0, "CREATE makes the domain dir");
    xlsnap__store_close(&h);
}

int main(void)
{
    xlsnap_ctx *ctx;
    char cmd[300];

    snprintf(dir, sizeof(dir), "/tmp/xlsnap-unit-layout-%d/state",
             getpid());
    if (xlsnap_ctx_alloc(&ctx, dir, NULL)) return 1;
    ok(store(ctx, "s0", false) == 0 && store(ctx, "s1", true) == 0,
       "two records: %s", xlsnap_last_error(ctx));
    paths(ctx);
    staging(ctx);
    handle(ctx);
    xlsnap_ctx_free(ctx);
    snprintf(cmd, sizeof(cmd), "rm -rf /tmp/xlsnap-unit-layout-%d",
             getpid());
    if (system(cmd)) return 1;
    return tap_done();
}
