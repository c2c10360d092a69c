/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * merge.c - delete of an external snapshot of a running domain: its
 * layer B is merged into the one image D that has it as backing, while
 * the guest runs (issue 18).  The chain, top first, is
 *     C[0] (the active layer, configured path) -> C[1] -> ... ,
 * B = C[j], D = C[j-1], A = C[j+1] (B's own backing).
 *
 *  - B directly under the active layer (j = 1): QEMU's block-stream
 *    pulls B's data into the active layer, base A; at the end QEMU
 *    writes A as the active layer's backing file (the path given
 *    explicitly: QEMU calls every frozen layer by the configured path
 *    it was opened at).  The job is started with auto-dismiss off, so a
 *    tool killed while it runs finds its outcome in query-jobs.
 *  - B deeper (j > 1): D is a frozen layer that QEMU only reads, and
 *    QEMU cannot be made to write it safely (a reopen read-write opens a
 *    frozen node by its stale file name: the configured path, i.e. the
 *    active layer).  So D is rewritten beside: a copy of D is rebased
 *    onto A (qemu-img copies B's data into it), then renamed over D.
 *    QEMU keeps reading its open (identical) D and B until its next
 *    start; the files on disk are merged at once (their blocks are
 *    freed when QEMU closes them).
 *  - B the original image (no backing file): kept, as offline.
 * Crash safety: a "merge" intent (store.c) names the snapshot, the job
 * and the files before anything changes; check sees it and --repair
 * finishes (the merged B goes) or rolls back (a half-made copy goes).
 */
#include "internal.h"

#include <fcntl.h>
#include <unistd.h>

void xlsnap__merge_chain_free(xlsnap__merge_chain *c)
{
    xlsnap__qmp_strv_free(c->path, c->n);
    xlsnap__qmp_strv_free(c->fmt, c->n);
    memset(c, 0, sizeof(*c));
}

/* The chain below image (format fmt), as the headers say. */
int xlsnap__merge_chain_read(xlsnap_ctx *ctx, const char *image,
                             const char *fmt, xlsnap__merge_chain *c)
{
    char *img = xlsnap__strdup(image), *f = xlsnap__strdup(fmt);
    int rc = 0;

    memset(c, 0, sizeof(*c));
    c->path = calloc(256, sizeof(char *));
    c->fmt = calloc(256, sizeof(char *));
    if (!img || !f || !c->path || !c->fmt) {
        free(img);
        free(f);
        return xlsnap__nomem(ctx);
    }
    while (img && c->n < 256) {
        char *b = NULL, *bf = NULL;
        c->path[c->n] = img;
        c->fmt[c->n++] = f;
        if (!f || strcmp(f, "qcow2")) break;
        if ((rc = xlsnap__qimg_backing(ctx, img, f, &b, &bf))) break;
        img = b;
        f = bf;
        if (b && !bf) {
            free(b);
            break;              /* its format not recorded: not followed */
        }
    }
    return rc;
}

/* A QEMU job id for the merge of snapshot name's disk vdev. */
static char *job_id(const char *uuid, const char *name, const char *vdev)
{
    uint32_t h = 2166136261u;
    const char *s[] = { uuid, "/", name };
    char v[16] = "";

    for (int k = 0; k < 3; k++)
        for (const char *p = s[k]; p && *p; p++) {
            h ^= (unsigned char)*p;
            h *= 16777619u;
        }
    for (int i = 0; vdev[i] && i < 15; i++)
        v[i] = (vdev[i] >= 'a' && vdev[i] <= 'z') ||
               (vdev[i] >= '0' && vdev[i] <= '9') ? vdev[i] : '_';
    return xlsnap__sprintf("xlsnap-merge-%s-%08x", v, h);
}

static int write_intent(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                        const xlsnap_snapshot *x, const char *job,
                        const char *b, const char *child, const char *tmp)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    char *json = NULL;
    int rc;

    if (!g) return xlsnap__nomem(ctx);
    if (yajl_gen_map_open(g) ||
        xlsnap__gen_kv_str(g, "snapshot", x->name) ||
        xlsnap__gen_kv_int(g, "domid", dom->domid) ||
        (job && xlsnap__gen_kv_str(g, "job", job)) ||
        xlsnap__gen_kv_str(g, "image", b) ||
        xlsnap__gen_kv_str(g, "child", child) ||
        (tmp && xlsnap__gen_kv_str(g, "tmp", tmp)) ||
        yajl_gen_map_close(g)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "cannot build intent");
        goto out;
    }
    if ((rc = xlsnap__gen_finish(ctx, g, &json))) goto out;
    rc = xlsnap__intent_write(ctx, dom->uuid, XLSNAP__MERGE_INTENT, json);
 out:
    yajl_gen_free(g);
    free(json);
    return rc;
}

/* rename over 'to', then fsync its directory */
static int rename_over(xlsnap_ctx *ctx, const char *from, const char *to)
{
    char *dir = xlsnap__strdup(to), *sl;
    int fd, rc = 0;

    if (!dir) return xlsnap__nomem(ctx);
    if (rename(from, to) < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot rename %s to %s", from,
                                 to);
        goto out;
    }
    sl = strrchr(dir, '/');
    if (sl) *(sl == dir ? sl + 1 : sl) = '\0';
    fd = open(sl ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
 out:
    free(dir);
    return rc;
}

/* j = 1: block-stream of B into the active layer C[0], base C[2]. */
static int stream_active(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                         const xlsnap_snapshot *x, const xlsnap_disk *d,
                         const xlsnap__merge_chain *c)
{
    xlsnap__qmp q;
    xlsnap__qmp_job j = { 0 };
    char **nodes = NULL, *id = NULL, *bb = NULL, *what = NULL;
    int nn = 0, rc;

    xlsnap__qmp_init(&q);
    if ((rc = xlsnap__qmp_open(ctx, dom->domid, dom->uuid, &q))) goto out;
    if ((rc = xlsnap__qmp_chain_nodes(ctx, &q, c->path[0], &nodes, &nn)))
        goto out;
    if (nn < 3) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "QEMU's chain of "
                           "%s has %d layers, the images' headers more",
                           c->path[0], nn);
        goto out;
    }
    id = job_id(dom->uuid, x->name, d->vdev);
    what = xlsnap__sprintf("merging %s", d->vdev);
    if (!id || !what) { rc = xlsnap__nomem(ctx); goto out; }
    if ((rc = write_intent(ctx, dom, x, id, c->path[1], c->path[0], NULL)))
        goto out;
    xlsnap__fault_point("merge-intent");
    j.id = id;
    j.device = nodes[0];
    j.base = nodes[2];
    j.backing_file = c->path[2];
    if ((rc = xlsnap__qmp_job_start(ctx, &q, &j))) goto fail;
    xlsnap__fault_point("merge-started");
    if ((rc = xlsnap__qmp_job_wait(ctx, &q, id, what))) goto fail;
    xlsnap__fault_point("merge-job-done");
    /* the active layer's header names A now: B is needed by nothing */
    if ((rc = xlsnap__qimg_backing(ctx, c->path[0], c->fmt[0], &bb, NULL)))
        goto out;
    if (!bb || strcmp(bb, c->path[2])) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "after the merge "
                           "%s names %s as its backing file, not %s",
                           c->path[0], bb ? bb : "nothing", c->path[2]);
        goto out;
    }
    if ((rc = xlsnap__unlink(ctx, c->path[1], true))) goto out;
    rc = xlsnap__intent_clear(ctx, dom->uuid, XLSNAP__MERGE_INTENT);
    goto out;
 fail:
    /* nothing changed that a snapshot needs: the intent goes */
    {
        xlsnap__errsaved saved;
        xlsnap__errsave(ctx, &saved);
        xlsnap__intent_clear(ctx, dom->uuid, XLSNAP__MERGE_INTENT);
        xlsnap__errrestore(ctx, &saved);
    }
 out:
    xlsnap__qmp_close(&q);
    xlsnap__qmp_strv_free(nodes, nn);
    free(id);
    free(bb);
    free(what);
    return rc;
}

/* j > 1: D = C[j-1] rewritten beside onto A = C[j+1], renamed over D. */
static int rewrite_child(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                         const xlsnap_snapshot *x,
                         const xlsnap__merge_chain *c, int j)
{
    const char *dd = c->path[j - 1], *b = c->path[j], *a = c->path[j + 1];
    const char *sl = strrchr(dd, '/');
    char *tmp = sl ? xlsnap__sprintf("%.*s/" XLSNAP__TMP_NAME("%s"),
                                     (int)(sl - dd), dd, sl + 1)
                   : xlsnap__tmp_name(dd);
    int rc;

    if (!tmp) return xlsnap__nomem(ctx);
    if ((rc = write_intent(ctx, dom, x, NULL, b, dd, tmp))) goto out;
    xlsnap__fault_point("merge-intent");
    unlink(tmp);                        /* a leftover of a killed merge */
    if ((rc = xlsnap__copy_file(ctx, dd, tmp, XLSNAP__COPY_PLAIN, NULL,
                                NULL)) ||
        (rc = xlsnap__qimg_rebase(ctx, tmp, "qcow2", a, c->fmt[j + 1], 0)))
        goto fail;
    xlsnap__fault_point("merge-copied");
    if ((rc = rename_over(ctx, tmp, dd))) goto fail;
    xlsnap__fault_point("merge-renamed");
    if ((rc = xlsnap__unlink(ctx, b, true))) goto out;
    rc = xlsnap__intent_clear(ctx, dom->uuid, XLSNAP__MERGE_INTENT);
    goto out;
 fail:
    {
        xlsnap__errsaved saved;
        xlsnap__errsave(ctx, &saved);
        unlink(tmp);
        xlsnap__intent_clear(ctx, dom->uuid, XLSNAP__MERGE_INTENT);
        xlsnap__errrestore(ctx, &saved);
    }
 out:
    free(tmp);
    return rc;
}

int xlsnap__merge_live(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                       const xlsnap_snapshot *x, const xlsnap_disk *d,
                       const xlsnap__strset *known)
{
    xlsnap__merge_chain c;
    char *dep = NULL;
    int j, ndeps = 0, rc;

    if (dom->domid < 0 || !d->image || !d->format) return 0;
    if ((rc = xlsnap__merge_chain_read(ctx, d->image, d->format, &c)))
        goto out;
    for (j = 1; j < c.n && strcmp(c.path[j], d->backing); j++)
        ;
    /* not in the running chain, or the original image: kept */
    if (j >= c.n || j + 1 >= c.n || !c.fmt[j] || strcmp(c.fmt[j], "qcow2"))
        goto out;
    /* the child is the only image on B */
    if ((rc = xlsnap__dependents(ctx, d->backing, known, &ndeps, &dep)))
        goto out;
    if (ndeps != 1 || strcmp(dep, c.path[j - 1])) goto out;
    rc = j == 1 ? stream_active(ctx, dom, x, d, &c)
                : rewrite_child(ctx, dom, x, &c, j);
 out:
    free(dep);
    xlsnap__merge_chain_free(&c);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
