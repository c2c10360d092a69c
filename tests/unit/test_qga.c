/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: the guest agent client (backend/qga.c) against scripted
 * replies on a unix socket, for what a real qemu-ga seldom does: stale
 * replies and half lines left by an earlier client before the 0xFF of
 * guest-sync-delimited, hostile bytes in an error, a reply too long,
 * a channel that closes.  (The real agent: tests/e2e/37-quiesce.bats.) */
#include "internal.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "tap.h"

typedef struct {
    int lfd;
    int mode;
    int requests;               /* lines the peer read */
    char last[256];             /* the last of them */
} peer;

enum { GOOD, STALE, HOSTILE, LONG, CLOSE };

static void say(int fd, const char *s, size_t n)
{
    (void)!send(fd, s, n, MSG_NOSIGNAL);   /* the client may be gone */
}
#define SAY(fd, lit) say(fd, lit, sizeof(lit) - 1)

/* one request line (without its leading 0xFF) into buf; false at EOF */
static bool request(int fd, char *buf, size_t n)
{
    size_t i = 0;
    char c;

    while (read(fd, &c, 1) == 1) {
        if ((unsigned char)c == 0xff) continue;
        if (c == '\n') { buf[i] = '\0'; return true; }
        if (i + 1 < n) buf[i++] = c;
    }
    return false;
}

static void *agent(void *arg)
{
    peer *p = arg;
    int fd = accept(p->lfd, NULL, NULL);
    char req[256], out[512];
    long long id;

    if (fd < 0) return NULL;
    if (p->mode == STALE)   /* an earlier client's late replies */
        SAY(fd, "{\"return\": 7}\n\xff{\"return\": 12}\n{\"ret");
    while (request(fd, req, sizeof(req))) {
        const char *idp = strstr(req, "\"id\":");
        p->requests++;
        snprintf(p->last, sizeof(p->last), "%s", req);
        if (idp && sscanf(idp + 5, "%lld", &id) == 1) {
            if (p->mode == CLOSE) break;
            if (p->mode == STALE)   /* noise, a stale sync, then ours */
                SAY(fd, "junk \x01\n\xff{\"return\": 5}\n");
            int n = snprintf(out, sizeof(out), "\xff{\"return\": %lld}\n", id);
            say(fd, out, (size_t)n);
        } else if (strstr(req, "guest-fsfreeze-freeze")) {
            if (p->mode == HOSTILE)
                SAY(fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": "
                    "\"bad\\u001b[31m\\nthing\"}}\n");
            else if (p->mode == LONG)
                for (int i = 0; i < 100; i++)
                    SAY(fd, "{\"return\": 1111111111111111111111111111111"
                        "11111111111111111111111111111111111111111111111");
            else if (p->mode == STALE)   /* not a reply: skipped */
                SAY(fd, "{\"event\": 1}\n[1]\n{\"return\": 2}\n");
            else
                SAY(fd, "{\"return\": 2}\n");
        } else if (strstr(req, "guest-fsfreeze-thaw")) {
            SAY(fd, "{\"return\": 2}\n");
        }
    }
    close(fd);
    return NULL;
}

static int start(peer *p, int mode, const char *path, pthread_t *t)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };

    memset(p, 0, sizeof(*p));
    p->mode = mode;
    unlink(path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    p->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
        listen(p->lfd, 1))
        return -1;
    return pthread_create(t, NULL, agent, p);
}

static void stop(peer *p, pthread_t t, xlsnap__qga *g)
{
    xlsnap__qga_close(g);
    pthread_join(t, NULL);
    close(p->lfd);
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) return false;
    return true;
}

int main(void)
{
    char dir[] = "/tmp/xlsnap-qga-XXXXXX", path[128];
    xlsnap_ctx *ctx;
    xlsnap__qga g;
    pthread_t t;
    peer p;
    int nfs = -1, rc;

    if (!mkdtemp(dir) || xlsnap_ctx_alloc(&ctx, dir, NULL)) return 1;
    snprintf(path, sizeof(path), "%s/qga.sock", dir);
    xlsnap__qga_init(&g);

    ok(start(&p, GOOD, path, &t) == 0, "agent listening");
    ok(xlsnap__qga_open(ctx, path, &g) == 0, "connect and sync: %s",
       xlsnap_last_error(ctx));
    ok(xlsnap__qga_freeze(ctx, &g, &nfs) == 0 && nfs == 2,
       "freeze: 2 file systems");
    ok(g.frozen, "a thaw is due");
    ok(xlsnap__qga_thaw(ctx, &g) == 0 && !g.frozen, "thaw");
    is_str(p.last, "{\"execute\":\"guest-fsfreeze-thaw\"}", "thaw sent last");
    stop(&p, t, &g);

    ok(start(&p, STALE, path, &t) == 0, "agent with stale replies");
    ok(xlsnap__qga_open(ctx, path, &g) == 0,
       "stale replies, noise and another id before ours are skipped: %s",
       xlsnap_last_error(ctx));
    ok(xlsnap__qga_freeze(ctx, &g, &nfs) == 0 && nfs == 2,
       "freeze: what is no reply is skipped: %s", xlsnap_last_error(ctx));
    ok(xlsnap__qga_thaw(ctx, &g) == 0, "thaw");
    stop(&p, t, &g);

    ok(start(&p, HOSTILE, path, &t) == 0, "agent with a hostile error");
    ok(xlsnap__qga_open(ctx, path, &g) == 0, "sync");
    rc = xlsnap__qga_freeze(ctx, &g, &nfs);
    ok(rc == XLSNAP_ERROR_HYPERVISOR, "freeze refused (%d)", rc);
    ok(printable(xlsnap_last_error(ctx)) &&
       strstr(xlsnap_last_error(ctx), "bad?[31m?thing"),
       "the agent's reason without control characters: %s",
       xlsnap_last_error(ctx));
    ok(g.frozen, "a thaw is still due after a refused freeze");
    ok(xlsnap__qga_thaw(ctx, &g) == 0, "thaw after a refused freeze");
    stop(&p, t, &g);

    ok(start(&p, LONG, path, &t) == 0, "agent with an endless reply");
    ok(xlsnap__qga_open(ctx, path, &g) == 0, "sync");
    rc = xlsnap__qga_freeze(ctx, &g, &nfs);
    ok(rc == XLSNAP_ERROR_CORRUPT && strstr(xlsnap_last_error(ctx),
                                            "longer than"),
       "a reply longer than the bound is refused: %s",
       xlsnap_last_error(ctx));
    stop(&p, t, &g);

    ok(start(&p, CLOSE, path, &t) == 0, "agent that hangs up");
    rc = xlsnap__qga_open(ctx, path, &g);
    ok(rc < 0 && strstr(xlsnap_last_error(ctx), "does not answer") &&
       strstr(xlsnap_last_error(ctx), "closed"),
       "a channel closing at the sync: %s", xlsnap_last_error(ctx));
    stop(&p, t, &g);

    rc = xlsnap__qga_open(ctx, path, &g);
    ok(rc < 0 && strstr(xlsnap_last_error(ctx), "cannot connect"),
       "nobody listening: %s", xlsnap_last_error(ctx));
    xlsnap__qga_close(&g);

    xlsnap__warn(ctx, "w %d", 1);
    is_str(xlsnap_last_warning(ctx), "w 1", "a warning on the ctx");
    xlsnap__warn(ctx, NULL);
    ok(xlsnap_last_warning(ctx) == NULL, "cleared");

    unlink(path);
    rmdir(dir);
    xlsnap_ctx_free(ctx);
    return tap_done();
}
