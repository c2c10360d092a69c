/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * backend/qmp.c - disk backend for running domains: QEMU's monitor (QMP)
 * on libxl's socket /var/run/xen/qmp-libxl-<domid>, under libxl's own
 * lock userdata-l.<domid>.<uuid>.qmp-socket-lock so that we never race
 * libxl's hotplug or cd-insert.  QMP errors are translated here.
 */
#include "internal.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define QMP_TIMEOUT_MS (120 * 1000)

static const char *run_dir(void)
{
    const char *d = getenv("XL_SNAPSHOT_XEN_RUN_DIR");
    return d && *d ? d : "/var/run/xen";
}

static const char *lib_dir(void)
{
    const char *d = getenv("XL_SNAPSHOT_XEN_LIB_DIR");
    return d && *d ? d : "/var/lib/xen";
}

void xlsnap__qmp_init(xlsnap__qmp *q)
{
    memset(q, 0, sizeof(*q));
    q->fd = q->lockfd = -1;
}

void xlsnap__qmp_close(xlsnap__qmp *q)
{
    if (q->fd >= 0) close(q->fd);
    if (q->lockfd >= 0) close(q->lockfd);   /* drops libxl's lock */
    free(q->buf);
    xlsnap__qmp_init(q);
}

/* Read one complete line (a QMP message) into a malloc'd string. */
static int read_line(xlsnap_ctx *ctx, xlsnap__qmp *q, char **line_r)
{
    for (;;) {
        char *nl = q->buf ? memchr(q->buf, '\n', q->len) : NULL;
        if (nl) {
            size_t n = nl - q->buf;
            *line_r = strndup(q->buf, n);
            if (!*line_r) return xlsnap__nomem(ctx);
            memmove(q->buf, nl + 1, q->len - n - 1);
            q->len -= n + 1;
            return 0;
        }
        if (q->len + 4096 > q->cap) {
            size_t cap = q->cap ? q->cap * 2 : 65536;
            if (cap > (64u << 20))
                return xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR,
                                     "QMP reply too large");
            char *nb = realloc(q->buf, cap);
            if (!nb) return xlsnap__nomem(ctx);
            q->buf = nb;
            q->cap = cap;
        }
        struct pollfd p = { .fd = q->fd, .events = POLLIN };
        int r = poll(&p, 1, QMP_TIMEOUT_MS);
        if (r == 0)
            return xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR,
                                 "QMP: no reply from QEMU within %d s",
                                 QMP_TIMEOUT_MS / 1000);
        if (r < 0 && errno == EINTR) continue;
        ssize_t n = read(q->fd, q->buf + q->len, q->cap - q->len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR,
                                 "QMP: connection to QEMU closed");
        q->len += n;
    }
}

/*
 * Send a command (JSON text), wait for its reply, skipping events.
 * On success *ret_r (may be NULL) gets the parsed reply object; an
 * "error" reply becomes XLSNAP_ERROR_HYPERVISOR with QEMU's desc.
 */
int xlsnap__qmp_exec(xlsnap_ctx *ctx, xlsnap__qmp *q, const char *cmd,
                     yajl_val *ret_r)
{
    size_t len = strlen(cmd);
    char *line = NULL, err[128];
    yajl_val v = NULL;
    int rc;

    if (ret_r) *ret_r = NULL;
    if (xlsnap__write_all(q->fd, cmd, len) < 0 ||
        xlsnap__write_all(q->fd, "\n", 1) < 0) {
        rc = xlsnap__error_errno(ctx, errno, "QMP: cannot send");
        goto out;
    }
    for (;;) {
        const char *ep[] = { "event", NULL }, *rp[] = { "return", NULL },
                   *xp[] = { "error", NULL }, *dp[] = { "desc", NULL };
        yajl_val e;

        free(line);
        line = NULL;
        if ((rc = read_line(ctx, q, &line))) goto out;
        if (v) yajl_tree_free(v);
        v = yajl_tree_parse(line, err, sizeof(err));
        if (!v) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR,
                               "QMP: malformed reply");
            goto out;
        }
        if (yajl_tree_get(v, ep, yajl_t_any)) continue;
        if ((e = yajl_tree_get(v, xp, yajl_t_object))) {
            yajl_val d = yajl_tree_get(e, dp, yajl_t_string);
            rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "QEMU: %s",
                               d ? d->u.string : "unknown error");
            goto out;
        }
        if (yajl_tree_get(v, rp, yajl_t_any)) break;
    }
    if (ret_r) { *ret_r = v; v = NULL; }
    rc = 0;
 out:
    if (v) yajl_tree_free(v);
    free(line);
    return rc;
}

int xlsnap__qmp_open(xlsnap_ctx *ctx, int64_t domid, const char *uuid,
                     xlsnap__qmp *q)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char *lock = NULL, *greeting = NULL;
    int rc;

    xlsnap__qmp_init(q);
    lock = xlsnap__sprintf("%s/userdata-l.%u.%s.qmp-socket-lock", lib_dir(),
                           (unsigned)domid, uuid);
    if (!lock) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    q->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (q->lockfd < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot open libxl's QMP lock "
                                 "%s", lock);
        goto out;
    }
    while (flock(q->lockfd, LOCK_EX) < 0) {
        if (errno == EINTR) continue;
        rc = xlsnap__error_errno(ctx, errno, "cannot take %s", lock);
        goto out;
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/qmp-libxl-%u", run_dir(),
             (unsigned)domid);
    q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (q->fd < 0 || connect(q->fd, (struct sockaddr *)&sa, sizeof(sa))) {
        rc = xlsnap__error_errno(ctx, errno, "cannot connect to QEMU's "
                                 "monitor %s (does the domain have a qdisk "
                                 "device model?)", sa.sun_path);
        goto out;
    }
    if ((rc = read_line(ctx, q, &greeting))) goto out;
    if (!strstr(greeting, "\"QMP\"")) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR,
                           "%s: not a QMP greeting", sa.sun_path);
        goto out;
    }
    rc = xlsnap__qmp_exec(ctx, q, "{\"execute\":\"qmp_capabilities\"}",
                          NULL);
 out:
    if (rc) xlsnap__qmp_close(q);
    free(greeting);
    free(lock);
    return rc;
}

/*
 * The image file a QEMU block node name stands for.  QEMU describes a
 * node whose backing node is not what its header names as
 * "json:{...,"file": {"driver": "file", "filename": PATH}}": so it does
 * for the overlay an external snapshot opened at the configured path,
 * whose backing node QEMU still calls by that path (it was renamed
 * under it).  A plain name is returned as it is.  NULL: out of memory.
 */
static char *plain_name(const char *s)
{
    const char *fp[] = { "file", "filename", NULL },
               *tp[] = { "filename", NULL };
    char eb[64], *r = NULL;
    yajl_val v, f;

    if (strncmp(s, "json:", 5)) return xlsnap__strdup(s);
    v = yajl_tree_parse(s + 5, eb, sizeof(eb));
    f = v ? yajl_tree_get(v, fp, yajl_t_string) : NULL;
    if (!f && v) f = yajl_tree_get(v, tp, yajl_t_string);
    r = xlsnap__strdup(f ? f->u.string : s);
    if (v) yajl_tree_free(v);
    return r;
}

int xlsnap__qmp_blocks(xlsnap_ctx *ctx, xlsnap__qmp *q,
                       xlsnap__qmp_block **b_r, int *n_r)
{
    const char *rp[] = { "return", NULL }, *ip[] = { "inserted", NULL },
               *fp[] = { "file", NULL }, *np[] = { "node-name", NULL },
               *mp[] = { "image", NULL }, *bp[] = { "backing-image", NULL },
               *fn[] = { "filename", NULL };
    yajl_val v = NULL, list;
    xlsnap__qmp_block *b = NULL;
    int n = 0, rc;

    *b_r = NULL;
    *n_r = 0;
    if ((rc = xlsnap__qmp_exec(ctx, q, "{\"execute\":\"query-block\"}", &v)))
        return rc;
    list = yajl_tree_get(v, rp, yajl_t_array);
    for (size_t i = 0; list && i < list->u.array.len; i++) {
        yajl_val ins = yajl_tree_get(list->u.array.values[i], ip,
                                     yajl_t_object);
        yajl_val f = ins ? yajl_tree_get(ins, fp, yajl_t_string) : NULL;
        yajl_val nn = ins ? yajl_tree_get(ins, np, yajl_t_string) : NULL;
        if (!f || !nn) continue;
        /* the top image, then each backing image below it */
        yajl_val img = yajl_tree_get(ins, mp, yajl_t_object);
        for (int depth = 0; depth < 256; depth++) {
            yajl_val name = img ? yajl_tree_get(img, fn, yajl_t_string)
                                : NULL;
            if (depth && !name) break;
            xlsnap__qmp_block *nb = realloc(b, (n + 1) * sizeof(*b));
            if (!nb) {
                xlsnap__qmp_blocks_free(b, n);
                yajl_tree_free(v);
                return xlsnap__nomem(ctx);
            }
            b = nb;
            memset(&b[n], 0, sizeof(b[n]));
            b[n].file = plain_name(depth ? name->u.string : f->u.string);
            b[n].node = depth ? NULL : xlsnap__strdup(nn->u.string);
            if (img) xlsnap__set_add_snapshots(&b[n].snaps, img);
            n++;
            if (!b[n - 1].file || (!depth && !b[n - 1].node)) {
                xlsnap__qmp_blocks_free(b, n);
                yajl_tree_free(v);
                return xlsnap__nomem(ctx);
            }
            if (!img) break;
            img = yajl_tree_get(img, bp, yajl_t_object);
        }
    }
    yajl_tree_free(v);
    for (int i = 0; i < n; i++)
        if (b[i].snaps.nomem) {
            xlsnap__qmp_blocks_free(b, n);
            return xlsnap__nomem(ctx);
        }
    *b_r = b;
    *n_r = n;
    return 0;
}

void xlsnap__qmp_blocks_free(xlsnap__qmp_block *b, int n)
{
    for (int i = 0; i < n; i++) {
        free(b[i].file);
        free(b[i].node);
        xlsnap__set_free(&b[i].snaps);
    }
    free(b);
}

/* Whether QEMU's node name nn is the root node of disk vdev's device:
 * xen-block's own "<vdev>-<format>", or the "xs-<vdev>-<n>" an
 * external snapshot gave the overlay above it. */
bool xlsnap__qmp_vdev_node(const char *nn, const char *vdev)
{
    size_t l = strlen(vdev);

    if (!strncmp(nn, "xs-", 3)) nn += 3;
    return l && !strncmp(nn, vdev, l) && nn[l] == '-';
}

/*
 * The node name QEMU uses for the top of disk vdev, its file name as
 * QEMU calls it (*qfile_r, may be NULL) and its virtual size (size_r
 * may be NULL).  The disk is found by its device (xen-block's root
 * node, see vdev_node), not by file name: after an external snapshot
 * of the running domain QEMU calls the active layer by the temporary
 * name the overlay had when QEMU took it (qcow2_driver.c), and the
 * configured path is the name of the layer that was active when QEMU
 * started.  With no xen-block node for vdev (vdev NULL, an emulated
 * drive alone), the top whose file is 'file'.
 *
 * An HVM guest's disk is opened twice by its QEMU until the guest's PV
 * drivers unplug the emulated one (xen-platform-pci): libxl gives QEMU
 * the image as an IDE drive ("ide0-hd0", an automatic node name) and
 * the xen-block backend opens it again as "<vdev>-<format>", with file
 * locking off; two block trees, each with its own qcow2 caches, on one
 * file.  The unplug removes the IDE drive and its tree.  While both are
 * there the guest may write through either, and a snapshot taken on
 * one would leave the other writing the old image (an internal snapshot
 * through two caches corrupts it), so that is refused.
 */
int xlsnap__qmp_disk_node(xlsnap_ctx *ctx, xlsnap__qmp *q, const char *vdev,
                          const char *file, char **node_r, char **qfile_r,
                          uint64_t *size_r)
{
    const char *rp[] = { "return", NULL }, *ip[] = { "inserted", NULL },
               *fp[] = { "file", NULL }, *np[] = { "node-name", NULL },
               *vp[] = { "image", "virtual-size", NULL };
    yajl_val v = NULL, list;
    char **files = NULL, *qf = NULL;
    int n = 0, pick = -1, found = 0, rc;

    *node_r = NULL;
    if (qfile_r) *qfile_r = NULL;
    if (size_r) *size_r = 0;
    if ((rc = xlsnap__qmp_exec(ctx, q, "{\"execute\":\"query-block\"}", &v)))
        return rc;
    list = yajl_tree_get(v, rp, yajl_t_array);
    n = list ? (int)list->u.array.len : 0;
    if (n && !(files = calloc(n, sizeof(*files)))) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    /* each device's top file, as QEMU calls it */
    for (int i = 0; i < n; i++) {
        yajl_val ins = yajl_tree_get(list->u.array.values[i], ip,
                                     yajl_t_object);
        yajl_val f = ins ? yajl_tree_get(ins, fp, yajl_t_string) : NULL;
        yajl_val nn = ins ? yajl_tree_get(ins, np, yajl_t_string) : NULL;
        if (!f || !nn) continue;
        if (!(files[i] = plain_name(f->u.string))) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        if (pick < 0 && vdev && xlsnap__qmp_vdev_node(nn->u.string, vdev)) pick = i;
    }
    for (int i = 0; pick < 0 && file && i < n; i++)
        if (files[i] && !strcmp(files[i], file)) pick = i;
    if (pick < 0) {
        rc = vdev ? xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "QEMU has "
                                  "no block device for disk %s", vdev)
                  : xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "QEMU has "
                                  "no block node with image %s open",
                                  file);
        goto out;
    }
    for (int i = 0; i < n; i++)
        found += files[i] && !strcmp(files[i], files[pick]);
    if (found > 1) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP,
                           "QEMU has image %s open %d times (an HVM "
                           "guest's emulated disk beside its PV disk: "
                           "the guest has not unplugged the emulated "
                           "one); a snapshot of one would leave the "
                           "other writing the old image, so it is "
                           "refused until the guest's PV drivers have "
                           "unplugged the emulated disk", files[pick],
                           found);
        goto out;
    }
    {
        yajl_val ins = yajl_tree_get(list->u.array.values[pick], ip,
                                     yajl_t_object);
        yajl_val nn = yajl_tree_get(ins, np, yajl_t_string);
        yajl_val sz = yajl_tree_get(ins, vp, yajl_t_number);
        if (size_r && (!sz || !YAJL_IS_INTEGER(sz) ||
                       YAJL_GET_INTEGER(sz) <= 0)) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "QEMU reports "
                               "no size for image %s", files[pick]);
            goto out;
        }
        if (size_r) *size_r = YAJL_GET_INTEGER(sz);
        if (!(*node_r = xlsnap__strdup(nn->u.string)) ||
            (qfile_r && !(qf = xlsnap__strdup(files[pick])))) {
            free(*node_r);
            *node_r = NULL;
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        if (qfile_r) *qfile_r = qf;
    }
 out:
    for (int i = 0; files && i < n; i++) free(files[i]);
    free(files);
    yajl_tree_free(v);
    return rc;
}

int xlsnap__qmp_virtual_size(xlsnap_ctx *ctx, xlsnap__qmp *q,
                             const char *vdev, const char *file,
                             uint64_t *size_r)
{
    char *node = NULL;
    int rc = xlsnap__qmp_disk_node(ctx, q, vdev, file, &node, NULL, size_r);

    free(node);
    return rc;
}

int xlsnap__qmp_node_for_file(xlsnap_ctx *ctx, xlsnap__qmp *q,
                              const char *file, char **node_r)
{
    return xlsnap__qmp_disk_node(ctx, q, NULL, file, node_r, NULL, NULL);
}

/*
 * A running domain's disks can be snapshotted through QMP only when its
 * device model is a QEMU in dom0: a stub domain's (qemu-xen in a
 * stubdomain: b_info.device_model_stubdomain) has no monitor here.
 */
int xlsnap__qmp_check_config(xlsnap_ctx *ctx, const char *config_json)
{
    const char *sp[] = { "b_info", "device_model_stubdomain", NULL };
    char eb[64];
    yajl_val v = yajl_tree_parse(config_json, eb, sizeof(eb));
    yajl_val s = v ? yajl_tree_get(v, sp, yajl_t_any) : NULL;
    bool stub = s && (YAJL_IS_TRUE(s) ||
                      (YAJL_IS_STRING(s) && !strcmp(s->u.string, "True")));

    if (v) yajl_tree_free(v);
    if (stub)
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP,
                             "the domain's device model runs in a stub "
                             "domain (device_model_stubdomain_override=1): "
                             "its disks are served by a QEMU with no "
                             "monitor in dom0, so they cannot be "
                             "snapshotted while it runs (an offline "
                             "snapshot after shutdown can)");
    return 0;
}

/* --- block jobs (issue 18: live merge of external layers) ----------- */

void xlsnap__qmp_strv_free(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/*
 * The layers of the chain under block node top, top first, as QEMU's
 * block graph has them (x-debug-query-block-graph: the edges named
 * "backing" from node to node; a node's "file" edge gives its protocol
 * node), with each layer's file name (a "json:{...}" name reduced to
 * the file), driver, read-only flag and cache mode
 * (query-named-block-nodes).  The graph, not file names, tells the
 * layers apart: after an external snapshot renamed the image under a
 * running QEMU, the frozen layer's node still carries the configured
 * path, the active layer's name too.
 */
int xlsnap__qmp_chain(xlsnap_ctx *ctx, xlsnap__qmp *q, const char *top,
                      xlsnap__qmp_layer **l_r, int *n_r)
{
    const char *rp[] = { "return", NULL },
               *np[] = { "return", "nodes", NULL },
               *ep[] = { "return", "edges", NULL }, *ip[] = { "id", NULL },
               *nm[] = { "name", NULL }, *pp[] = { "parent", NULL },
               *cp[] = { "child", NULL }, *nn[] = { "node-name", NULL },
               *fp[] = { "file", NULL }, *dp[] = { "drv", NULL },
               *op[] = { "ro", NULL }, *cd[] = { "cache", "direct", NULL },
               *cf[] = { "cache", "no-flush", NULL };
    yajl_val vg = NULL, vn = NULL, nodes, edges, list;
    xlsnap__qmp_layer *l = NULL;
    long long id = -1;
    int n = 0, rc;

    *l_r = NULL;
    *n_r = 0;
    if ((rc = xlsnap__qmp_exec(ctx, q, "{\"execute\":\"x-debug-query-block-"
                               "graph\"}", &vg)) ||
        (rc = xlsnap__qmp_exec(ctx, q, "{\"execute\":\"query-named-block-"
                               "nodes\",\"arguments\":{\"flat\":true}}",
                               &vn)))
        goto out;
    nodes = yajl_tree_get(vg, np, yajl_t_array);
    edges = yajl_tree_get(vg, ep, yajl_t_array);
    list = yajl_tree_get(vn, rp, yajl_t_array);
    if (!nodes || !edges || !list) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "QEMU's block "
                           "graph is not as expected");
        goto out;
    }
    for (size_t i = 0; i < nodes->u.array.len; i++) {
        yajl_val e = nodes->u.array.values[i];
        yajl_val x = yajl_tree_get(e, ip, yajl_t_number);
        yajl_val m = yajl_tree_get(e, nm, yajl_t_string);
        if (x && m && !strcmp(m->u.string, top)) id = YAJL_GET_INTEGER(x);
    }
    while (id >= 0 && n < 256) {
        const char *name = NULL, *fname = NULL;
        long long next = -1, fid = -1;
        xlsnap__qmp_layer *nl;
        for (size_t i = 0; i < nodes->u.array.len; i++) {
            yajl_val e = nodes->u.array.values[i];
            yajl_val x = yajl_tree_get(e, ip, yajl_t_number);
            yajl_val m = yajl_tree_get(e, nm, yajl_t_string);
            if (x && m && YAJL_GET_INTEGER(x) == id) name = m->u.string;
        }
        for (size_t i = 0; i < edges->u.array.len; i++) {
            yajl_val e = edges->u.array.values[i];
            yajl_val pa = yajl_tree_get(e, pp, yajl_t_number);
            yajl_val ch = yajl_tree_get(e, cp, yajl_t_number);
            yajl_val m = yajl_tree_get(e, nm, yajl_t_string);
            if (!pa || !ch || !m || YAJL_GET_INTEGER(pa) != id) continue;
            if (!strcmp(m->u.string, "backing"))
                next = YAJL_GET_INTEGER(ch);
            else if (!strcmp(m->u.string, "file"))
                fid = YAJL_GET_INTEGER(ch);
        }
        for (size_t i = 0; fid >= 0 && i < nodes->u.array.len; i++) {
            yajl_val e = nodes->u.array.values[i];
            yajl_val x = yajl_tree_get(e, ip, yajl_t_number);
            yajl_val m = yajl_tree_get(e, nm, yajl_t_string);
            if (x && m && YAJL_GET_INTEGER(x) == fid) fname = m->u.string;
        }
        if (!name) break;
        if (!(nl = realloc(l, (n + 1) * sizeof(*l)))) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        l = nl;
        memset(&l[n], 0, sizeof(l[n]));
        n++;
        if (!(l[n - 1].node = xlsnap__strdup(name)) ||
            (fname && !(l[n - 1].file_node = xlsnap__strdup(fname)))) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        for (size_t i = 0; i < list->u.array.len; i++) {
            yajl_val e = list->u.array.values[i];
            yajl_val x = yajl_tree_get(e, nn, yajl_t_string);
            yajl_val f = yajl_tree_get(e, fp, yajl_t_string);
            yajl_val d = yajl_tree_get(e, dp, yajl_t_string);
            yajl_val ro = yajl_tree_get(e, op, yajl_t_any);
            yajl_val di = yajl_tree_get(e, cd, yajl_t_any);
            yajl_val nf = yajl_tree_get(e, cf, yajl_t_any);
            if (!x || strcmp(x->u.string, name) || !f || !d) continue;
            l[n - 1].ro = ro && YAJL_IS_TRUE(ro);
            l[n - 1].direct = di && YAJL_IS_TRUE(di);
            l[n - 1].no_flush = nf && YAJL_IS_TRUE(nf);
            if (!(l[n - 1].file = plain_name(f->u.string)) ||
                !(l[n - 1].drv = xlsnap__strdup(d->u.string))) {
                rc = xlsnap__nomem(ctx);
                goto out;
            }
            break;
        }
        if (!l[n - 1].file || !l[n - 1].file_node) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "QEMU's block "
                               "node %s has no image file", name);
            goto out;
        }
        id = next;
    }
    if (!n) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "QEMU has no block "
                           "node %s", top);
        goto out;
    }
    *l_r = l;
    *n_r = n;
    l = NULL;
    n = 0;
 out:
    xlsnap__qmp_chain_free(l, n);
    if (vg) yajl_tree_free(vg);
    if (vn) yajl_tree_free(vn);
    return rc;
}

void xlsnap__qmp_chain_free(xlsnap__qmp_layer *l, int n)
{
    for (int i = 0; i < n; i++) {
        free(l[i].node);
        free(l[i].file_node);
        free(l[i].file);
        free(l[i].drv);
    }
    free(l);
}

/*
 * The node names of the chain of disk vdev (active image file), top
 * first, matched by position with path[k], layer k of the n layers the
 * images' headers give; *nodes_r NULL (and 0) when a layer's node
 * cannot be trusted with a block job.
 *
 * QEMU's file names do not say which layer a node is: an external
 * snapshot of the running domain has QEMU take the new overlay under a
 * temporary name (qcow2_driver.c), renamed to the configured path
 * after, so QEMU calls the active layer and each layer frozen since it
 * started by such a name (a file that no longer exists), and the layer
 * that was active when it started by the configured path (the active
 * layer's file now).  Each node reads its own layer through the file
 * descriptor it has: QEMU's read-only reopen of a frozen layer (by its
 * name) failed, so the node stays open read-write and a job needs no
 * reopen of it.  A node is trusted when QEMU calls it by its own path,
 * or when it is open read-write (no reopen: its fd is its layer).  A
 * read-only node under another name is not: a job's reopen of it would
 * open that name, and a QEMU of an older version of this tool (which
 * made the overlay at the configured path before QEMU took it) reads
 * the active layer's file through it already.  QEMU 7.2 cannot be made
 * to open such a node again under its own name while xen-block runs it
 * in an iothread (blockdev-reopen and blockdev-add abort QEMU:
 * "qemu_mutex_unlock_impl: Operation not permitted", seen on real
 * Xen); QEMU opens every layer under its own name at the domain's next
 * start.
 */
int xlsnap__qmp_chain_live(xlsnap_ctx *ctx, xlsnap__qmp *q,
                           const char *vdev, const char *file,
                           char *const *path, int n, char ***nodes_r)
{
    xlsnap__qmp_layer *l = NULL;
    char *top = NULL, **names = NULL;
    int nl = 0, k, rc;

    *nodes_r = NULL;
    if ((rc = xlsnap__qmp_disk_node(ctx, q, vdev, file, &top, NULL,
                                    NULL)) ||
        (rc = xlsnap__qmp_chain(ctx, q, top, &l, &nl)))
        goto out;
    if (nl != n) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "QEMU's chain of "
                           "%s has %d layers, the images' headers %d", file,
                           nl, n);
        goto out;
    }
    for (k = 0; k < n; k++)
        if (l[k].ro && strcmp(l[k].file, path[k])) goto out;
    if (n < 1) goto out;
    if (!(names = calloc((size_t)n, sizeof(*names)))) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    for (k = 0; k < n; k++)
        if (!(names[k] = xlsnap__strdup(l[k].node))) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
    *nodes_r = names;
    names = NULL;
 out:
    xlsnap__qmp_strv_free(names, names ? n : 0);
    xlsnap__qmp_chain_free(l, nl);
    free(top);
    return rc;
}

/* Start a block job (QEMU keeps it until job-dismiss: a tool killed
 * while it runs finds its outcome later). */
int xlsnap__qmp_job_start(xlsnap_ctx *ctx, xlsnap__qmp *q,
                          const xlsnap__qmp_job *j)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    char *cmd = NULL;
    int rc;

    if (!g) return xlsnap__nomem(ctx);
    if (yajl_gen_map_open(g) ||
        xlsnap__gen_kv_str(g, "execute", j->commit ? "block-commit"
                                                   : "block-stream") ||
        xlsnap__gen_str(g, "arguments") || yajl_gen_map_open(g) ||
        xlsnap__gen_kv_str(g, "job-id", j->id) ||
        xlsnap__gen_kv_str(g, "device", j->device) ||
        (j->top && xlsnap__gen_kv_str(g, "top-node", j->top)) ||
        (j->base && xlsnap__gen_kv_str(g, "base-node", j->base)) ||
        (j->backing_file &&
         xlsnap__gen_kv_str(g, "backing-file", j->backing_file)) ||
        xlsnap__gen_kv_bool(g, "auto-dismiss", false) ||
        yajl_gen_map_close(g) || yajl_gen_map_close(g)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "cannot build QMP "
                           "command");
        goto out;
    }
    if ((rc = xlsnap__gen_finish(ctx, g, &cmd))) goto out;
    rc = xlsnap__qmp_exec(ctx, q, cmd, NULL);
    if (rc) rc = xlsnap__error_prefix(ctx, rc, "cannot start the %s job",
                                      j->commit ? "block-commit"
                                                : "block-stream");
 out:
    yajl_gen_free(g);
    free(cmd);
    return rc;
}

/* A command naming one job id: {"execute": cmd, "arguments": {"id": id}}. */
static int job_cmd(xlsnap_ctx *ctx, xlsnap__qmp *q, const char *cmd,
                   const char *id)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    char *c = NULL;
    int rc;

    if (!g) return xlsnap__nomem(ctx);
    if (yajl_gen_map_open(g) || xlsnap__gen_kv_str(g, "execute", cmd) ||
        xlsnap__gen_str(g, "arguments") || yajl_gen_map_open(g) ||
        xlsnap__gen_kv_str(g, "id", id) || yajl_gen_map_close(g) ||
        yajl_gen_map_close(g)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "cannot build QMP "
                           "command");
        goto out;
    }
    if ((rc = xlsnap__gen_finish(ctx, g, &c))) goto out;
    rc = xlsnap__qmp_exec(ctx, q, c, NULL);
 out:
    yajl_gen_free(g);
    free(c);
    return rc;
}

int xlsnap__qmp_job_dismiss(xlsnap_ctx *ctx, xlsnap__qmp *q, const char *id)
{
    return job_cmd(ctx, q, "job-dismiss", id);
}

/* The state of job id (query-jobs): NONE when QEMU has no such job;
 * *err_r (may be NULL) QEMU's error of a concluded job that failed. */
int xlsnap__qmp_job_query(xlsnap_ctx *ctx, xlsnap__qmp *q, const char *id,
                          xlsnap__qmp_jobstate *st_r, uint64_t *done_r,
                          uint64_t *total_r, char **err_r)
{
    const char *rp[] = { "return", NULL }, *ip[] = { "id", NULL },
               *sp[] = { "status", NULL }, *ep[] = { "error", NULL },
               *cp[] = { "current-progress", NULL },
               *tp[] = { "total-progress", NULL };
    yajl_val v = NULL, list;
    int rc;

    *st_r = XLSNAP__JOB_NONE;
    if (done_r) *done_r = 0;
    if (total_r) *total_r = 0;
    if (err_r) *err_r = NULL;
    if ((rc = xlsnap__qmp_exec(ctx, q, "{\"execute\":\"query-jobs\"}", &v)))
        return rc;
    list = yajl_tree_get(v, rp, yajl_t_array);
    for (size_t i = 0; list && i < list->u.array.len; i++) {
        yajl_val e = list->u.array.values[i];
        yajl_val jid = yajl_tree_get(e, ip, yajl_t_string);
        yajl_val s = yajl_tree_get(e, sp, yajl_t_string);
        yajl_val err = yajl_tree_get(e, ep, yajl_t_string);
        yajl_val c = yajl_tree_get(e, cp, yajl_t_number);
        yajl_val t = yajl_tree_get(e, tp, yajl_t_number);
        if (!jid || !s || strcmp(jid->u.string, id)) continue;
        if (!strcmp(s->u.string, "concluded") ||
            !strcmp(s->u.string, "null"))
            *st_r = err ? XLSNAP__JOB_FAILED : XLSNAP__JOB_DONE;
        else if (!strcmp(s->u.string, "ready"))
            *st_r = XLSNAP__JOB_READY;
        else if (!strcmp(s->u.string, "aborting"))
            *st_r = XLSNAP__JOB_FAILED;
        else
            *st_r = XLSNAP__JOB_RUNNING;
        if (done_r && c && YAJL_IS_INTEGER(c) && YAJL_GET_INTEGER(c) > 0)
            *done_r = YAJL_GET_INTEGER(c);
        if (total_r && t && YAJL_IS_INTEGER(t) && YAJL_GET_INTEGER(t) > 0)
            *total_r = YAJL_GET_INTEGER(t);
        if (err_r && err && !(*err_r = xlsnap__strdup(err->u.string))) {
            yajl_tree_free(v);
            return xlsnap__nomem(ctx);
        }
        break;
    }
    yajl_tree_free(v);
    return 0;
}

/*
 * Follow job id to its end (progress as 'what'); a commit of the active
 * layer is completed (pivot) when it is ready.  The concluded job is
 * dismissed.  A failed job: HYPERVISOR with QEMU's error.
 */
int xlsnap__qmp_job_wait(xlsnap_ctx *ctx, xlsnap__qmp *q, const char *id,
                         const char *what)
{
    bool completing = false;
    int rc;

    for (;;) {
        xlsnap__qmp_jobstate st;
        uint64_t done, total;
        char *err = NULL;
        if ((rc = xlsnap__qmp_job_query(ctx, q, id, &st, &done, &total,
                                        &err)))
            return rc;
        if (total) xlsnap__progress(ctx, what, done, total);
        switch (st) {
        case XLSNAP__JOB_NONE:
            return xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "QEMU has no "
                                 "job %s (dismissed by someone else?)", id);
        case XLSNAP__JOB_FAILED:
            rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "QEMU's job %s "
                               "failed: %s", id, err ? err : "no reason");
            free(err);
            xlsnap__qmp_job_dismiss(ctx, q, id);
            return rc;
        case XLSNAP__JOB_DONE:
            free(err);
            return xlsnap__qmp_job_dismiss(ctx, q, id);
        case XLSNAP__JOB_READY:
            if (!completing) {
                if ((rc = job_cmd(ctx, q, "job-complete", id))) return rc;
                completing = true;
            }
            break;
        case XLSNAP__JOB_RUNNING:
            break;
        }
        free(err);
        usleep(100 * 1000);
    }
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
