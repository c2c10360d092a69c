/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * backend/qga.c - the guest's qemu-guest-agent, for quiescing: freeze
 * the guest's file systems before its disks are snapshotted, thaw them
 * right after.
 *
 * On Xen the agent is reached over a PV channel: an xl config line
 *   channel = [ "name=org.qemu.guest_agent.0,connection=socket,path=P" ]
 * makes libxl give the guest a secondary PV console (Linux: /dev/hvcN,
 * where qemu-ga runs with -m isa-serial -p /dev/hvcN) that QEMU, the
 * domain's device model, connects to a listening unix socket at P
 * (libxl_dm.c: -chardev socket,id=libxl-channelN,path=P,server=on,
 * wait=off; the console's xenstore "output" is chardev:libxl-channelN).
 * The channel is found in libxl's stored configuration of the domain
 * (libxl_retrieve_domain_configuration: dom0's, not writable by the
 * guest).  xl of Xen 4.17 numbers a config's channels from 0
 * (xl_parse.c: ARRAY_EXTEND_INIT, fixed upstream in 2025) and libxl
 * refuses channel 0 ("Primary console has invalid configuration") yet
 * creates the domain: QEMU listens on the socket of the first channel,
 * but the guest has no console behind it.  So there a placeholder
 * channel must come first (man page, --quiesce); any channel with the
 * agent's name and a socket is taken here.
 *
 * The protocol is QMP-like JSON, one reply per line.  Everything the
 * agent sends is the guest's: reads are bounded, each reply must parse
 * as strict JSON of the expected shape, and nothing of it reaches a
 * message except printable ASCII, cut short.  guest-sync-delimited
 * starts every exchange: the agent's reply begins with a 0xFF byte, so
 * whatever an earlier client left on the channel (a late reply, half a
 * line) is skipped, and replies with another id are stale.  A 0xFF
 * sent first resets the agent's JSON parser after half a request.
 */
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define QGA_CHANNEL_NAME "org.qemu.guest_agent.0"
#define QGA_SENTINEL 0xFF
#define QGA_REPLY_MAX 4096             /* a reply we wait for is tiny */
#define QGA_CONNECT_MS 3000
#define QGA_SYNC_MS 5000
#define QGA_FREEZE_MS 60000            /* the guest syncs its file systems */
#define QGA_THAW_MS 20000

void xlsnap__qga_init(xlsnap__qga *g)
{
    memset(g, 0, sizeof(*g));
    g->fd = -1;
}

static void disconnect(xlsnap__qga *g)
{
    if (g->fd >= 0) close(g->fd);
    g->fd = -1;
    g->len = 0;
}

void xlsnap__qga_close(xlsnap__qga *g)
{
    disconnect(g);
    free(g->path);
    xlsnap__qga_init(g);
}

/* Guest text for a message: printable ASCII only, at most n - 1 bytes. */
static const char *guest_text(const char *s, char *out, size_t n)
{
    size_t i = 0;

    for (; s && *s && i + 1 < n; s++)
        out[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    out[i] = '\0';
    return out;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int xlsnap__qga_channel(xlsnap_ctx *ctx, int64_t domid, char **path_r)
{
    libxl_domain_config dc;
    libxl_ctx *lx;
    int rc, lrc;

    *path_r = NULL;
    if ((rc = xlsnap__libxl(ctx, &lx))) return rc;
    /* libxl's stored config of the domain (libxl_device_channel_list
     * reads /libxl/<domid>/device/console/N/name, which Xen 4.17's
     * libxl never writes for a config's first channel: see above) */
    libxl_domain_config_init(&dc);
    lrc = libxl_retrieve_domain_configuration(lx, (uint32_t)domid, &dc, NULL);
    if (lrc) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "cannot retrieve "
                           "the domain configuration (libxl error %d)", lrc);
        goto out;
    }
    rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "the domain has no "
                       "channel named %s with a socket connection",
                       QGA_CHANNEL_NAME);
    for (int i = 0; i < dc.num_channels && !*path_r; i++) {
        const libxl_device_channel *ch = &dc.channels[i];
        if (ch->name && !strcmp(ch->name, QGA_CHANNEL_NAME) &&
            ch->connection == LIBXL_CHANNEL_CONNECTION_SOCKET &&
            ch->u.socket.path && ch->u.socket.path[0] == '/') {
            *path_r = xlsnap__strdup(ch->u.socket.path);
            rc = *path_r ? 0 : xlsnap__nomem(ctx);
        }
    }
 out:
    libxl_domain_config_dispose(&dc);
    return rc;
}

/* Send t: a closed channel is an error, never a SIGPIPE.  (A request
 * is far smaller than the socket's buffer: it never blocks long.) */
static int send_text(xlsnap_ctx *ctx, xlsnap__qga *g, const char *t,
                     size_t n)
{
    while (n) {
        ssize_t w = send(g->fd, t, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd p = { .fd = g->fd, .events = POLLOUT };
            if (poll(&p, 1, QGA_SYNC_MS) == 1) continue;
            errno = ETIMEDOUT;
        }
        if (w < 0)
            return xlsnap__error_errno(ctx, errno, "guest agent: cannot "
                                       "send");
        t += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read more of the agent's bytes into g->buf, until the deadline. */
static int fill(xlsnap_ctx *ctx, xlsnap__qga *g, int64_t deadline,
                const char *what)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        struct pollfd p = { .fd = g->fd, .events = POLLIN };
        ssize_t r;

        if (g->len >= sizeof(g->buf))
            return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "guest agent: "
                                 "reply to %s longer than %d bytes", what,
                                 QGA_REPLY_MAX);
        if (left <= 0)
            return xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "guest "
                                 "agent: no reply to %s", what);
        r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0)
            return xlsnap__error_errno(ctx, errno, "guest agent: poll");
        if (r == 0) continue;
        r = xlsnap__read_some(g->fd, g->buf + g->len, sizeof(g->buf) - g->len);
        if (r < 0)
            return xlsnap__error_errno(ctx, -r, "guest agent: cannot read");
        if (r == 0)
            return xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "guest "
                                 "agent: the channel closed");
        g->len += r;
        return 0;
    }
}

/* Drop the first n bytes of g->buf. */
static void consume(xlsnap__qga *g, size_t n)
{
    memmove(g->buf, g->buf + n, g->len - n);
    g->len -= n;
}

/* The next line (a reply), parsed: strict JSON, an object.  *v_r is
 * NULL for a line that is no such object (skipped by the callers). */
static int next_line(xlsnap_ctx *ctx, xlsnap__qga *g, int64_t deadline,
                     const char *what, yajl_val *v_r)
{
    char *nl, line[QGA_REPLY_MAX + 1], err[64];
    size_t n;
    int rc;

    *v_r = NULL;
    while (!(nl = memchr(g->buf, '\n', g->len)))
        if ((rc = fill(ctx, g, deadline, what))) return rc;
    n = nl - g->buf;
    memcpy(line, g->buf, n);
    line[n] = '\0';
    consume(g, n + 1);
    if (memchr(line, '\0', n) || memchr(line, QGA_SENTINEL, n)) return 0;
    *v_r = xlsnap__json_parse(line, err, sizeof(err));
    if (*v_r && !YAJL_IS_OBJECT(*v_r)) {
        yajl_tree_free(*v_r);
        *v_r = NULL;
    }
    return 0;
}

/* The integer of {"return": N}; false for anything else. */
static bool return_int(yajl_val v, long long *n_r)
{
    const char *rp[] = { "return", NULL };
    yajl_val r = v ? yajl_tree_get(v, rp, yajl_t_number) : NULL;

    if (!r || !YAJL_IS_INTEGER(r) || v->u.object.len != 1) return false;
    *n_r = YAJL_GET_INTEGER(r);
    return true;
}

/*
 * guest-sync-delimited: skip to a 0xFF, read the line after it, until
 * a {"return": id} with our id.  Anything else is stale (an earlier
 * client's) or noise.
 */
static int sync_agent(xlsnap_ctx *ctx, xlsnap__qga *g)
{
    int64_t deadline = now_ms() + QGA_SYNC_MS;
    long long id = (long long)((now_ms() ^ ((int64_t)getpid() << 16)) &
                               0x3fffffff) + 1, got;
    char cmd[128];
    int n, rc;

    n = snprintf(cmd, sizeof(cmd), "\xff{\"execute\":\"guest-sync-"
                 "delimited\",\"arguments\":{\"id\":%lld}}\n", id);
    if ((rc = send_text(ctx, g, cmd, (size_t)n))) return rc;
    for (;;) {
        char *ff;
        yajl_val v;
        while (!(ff = memchr(g->buf, QGA_SENTINEL, g->len))) {
            g->len = 0;                 /* before any 0xFF: stale */
            if ((rc = fill(ctx, g, deadline, "guest-sync-delimited")))
                return rc;
        }
        consume(g, (size_t)(ff - g->buf) + 1);
        if ((rc = next_line(ctx, g, deadline, "guest-sync-delimited", &v)))
            return rc;
        bool ours = return_int(v, &got) && got == id;
        if (v) yajl_tree_free(v);
        if (ours) return 0;
    }
}

/* Send cmd (after a sync) and wait for its reply: *n_r gets its
 * {"return": N}; an {"error": ...} is the agent's message. */
static int command(xlsnap_ctx *ctx, xlsnap__qga *g, const char *name,
                   int timeout_ms, long long *n_r)
{
    const char *ep[] = { "error", NULL }, *dp[] = { "desc", NULL };
    int64_t deadline;
    char cmd[96], why[128];
    int n, rc;

    if ((rc = sync_agent(ctx, g))) return rc;
    n = snprintf(cmd, sizeof(cmd), "{\"execute\":\"%s\"}\n", name);
    if ((rc = send_text(ctx, g, cmd, (size_t)n))) return rc;
    deadline = now_ms() + timeout_ms;
    for (;;) {
        yajl_val v, e, d;
        if ((rc = next_line(ctx, g, deadline, name, &v))) return rc;
        if (!v) continue;
        if (return_int(v, n_r)) {
            yajl_tree_free(v);
            return 0;
        }
        if ((e = yajl_tree_get(v, ep, yajl_t_object))) {
            d = yajl_tree_get(e, dp, yajl_t_string);
            rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "guest agent: "
                               "%s failed: %s", name,
                               guest_text(d ? d->u.string : "no reason",
                                          why, sizeof(why)));
            yajl_tree_free(v);
            return rc;
        }
        yajl_tree_free(v);             /* not a reply to this: skip */
    }
}

/* Connect to g->path (a unix socket QEMU listens on). */
static int connect_agent(xlsnap_ctx *ctx, xlsnap__qga *g)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct pollfd p;
    int e = 0;
    socklen_t el = sizeof(e);

    disconnect(g);
    if (strlen(g->path) >= sizeof(sa.sun_path))
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "guest agent socket "
                             "path too long: %s", g->path);
    strcpy(sa.sun_path, g->path);
    g->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (g->fd < 0)
        return xlsnap__error_errno(ctx, errno, "guest agent: socket");
    if (connect(g->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) return 0;
    if (errno != EINPROGRESS && errno != EAGAIN) {
        e = errno;
        disconnect(g);
        return xlsnap__error_errno(ctx, e, "cannot connect to the guest "
                                   "agent's channel %s", g->path);
    }
    p = (struct pollfd){ .fd = g->fd, .events = POLLOUT };
    if (poll(&p, 1, QGA_CONNECT_MS) != 1 ||
        getsockopt(g->fd, SOL_SOCKET, SO_ERROR, &e, &el) || e) {
        disconnect(g);
        return xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "cannot connect "
                             "to the guest agent's channel %s: %s", g->path,
                             e ? strerror(e) : "timed out (another client "
                             "may hold it)");
    }
    return 0;
}

int xlsnap__qga_open(xlsnap_ctx *ctx, const char *path, xlsnap__qga *g)
{
    int rc;

    xlsnap__qga_close(g);
    if (!(g->path = xlsnap__strdup(path))) return xlsnap__nomem(ctx);
    if ((rc = connect_agent(ctx, g))) return rc;
    if ((rc = sync_agent(ctx, g))) {
        disconnect(g);
        return xlsnap__error_prefix(ctx, rc, "the guest agent on %s does "
                                    "not answer", g->path);
    }
    return 0;
}

int xlsnap__qga_freeze(xlsnap_ctx *ctx, xlsnap__qga *g, int *nfs_r)
{
    long long n = 0;
    int rc;

    *nfs_r = 0;
    /* from here on a thaw is due, whatever the answer: the guest may
     * freeze after we stop waiting */
    g->frozen = true;
    rc = command(ctx, g, "guest-fsfreeze-freeze", QGA_FREEZE_MS, &n);
    if (!rc && (n < 0 || n > 1000000))
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "guest agent: "
                           "malformed reply to guest-fsfreeze-freeze");
    if (!rc) *nfs_r = (int)n;
    return rc;
}

int xlsnap__qga_thaw(xlsnap_ctx *ctx, xlsnap__qga *g)
{
    long long n = 0;
    int rc;

    if (!g->frozen || !g->path) return 0;
    /* the channel may have broken with the freeze: one new connection */
    rc = g->fd >= 0 ? command(ctx, g, "guest-fsfreeze-thaw", QGA_THAW_MS, &n)
                    : -1;
    if (rc && !(rc = connect_agent(ctx, g)))
        rc = command(ctx, g, "guest-fsfreeze-thaw", QGA_THAW_MS, &n);
    if (!rc) g->frozen = false;
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
