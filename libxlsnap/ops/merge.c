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
 *    tool killed while it runs finds its outcome in query-jobs.  Only
 *    when QEMU opened B under its own name: a layer frozen since QEMU
 *    started is known to it by the configured path, and the job's
 *    reopen of B for writing would open the active layer by that name
 *    (QEMU 7.2: refused on the write lock when the top's node locks, a
 *    silent mix-up when it does not); such a B is kept until then.
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
    char *qname = NULL;
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
    /* QEMU calls B by the path it opened it at: a layer frozen since
     * QEMU started (renamed under it) by the configured path.  The job
     * reopens B for writing by that name, which would open the active
     * layer (QEMU 7.2 seen failing on its write lock, and a node with
     * locking off would not fail): then B is kept until QEMU has opened
     * it under its own name (the domain's next start). */
    if ((rc = xlsnap__qmp_layer_file(ctx, &q, c->path[0], 1, &qname)))
        goto out;
    if (strcmp(qname, c->path[1])) goto out;
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
    free(qname);
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
    {
        int fd = open(tmp, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0) {
            rc = xlsnap__error_errno(ctx, errno, "cannot sync %s", tmp);
            if (fd >= 0) close(fd);
            goto fail;
        }
        close(fd);
    }
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
 * A merge intent left by a killed delete (check): *problem_r says what
 * is found (NULL: no intent).  With repair, it is finished: a job still
 * running is followed to its end; a merge that took effect (the child's
 * header no longer names the layer) loses the merged layer and a
 * half-made copy; one that did not is rolled back (*rollback_r: the
 * snapshot keeps its data, its record goes back to ready); the intent
 * goes.  *done_r says what the repair did.
 */
int xlsnap__merge_recover(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                          bool repair, char **snap_r, char **problem_r,
                          char **done_r, bool *rollback_r)
{
    const char *sp[] = { "snapshot", NULL }, *dp[] = { "domid", NULL },
               *jp[] = { "job", NULL }, *ip[] = { "image", NULL },
               *cp[] = { "child", NULL }, *tp[] = { "tmp", NULL };
    yajl_val root = NULL, sn, di, jo, im, ch, tm;
    xlsnap__qmp q;
    xlsnap__qmp_jobstate st = XLSNAP__JOB_NONE;
    xlsnap__domstate ds = XLSNAP__DOM_GONE;
    char *json = NULL, *err = NULL, *bb = NULL, eb[128];
    const char *state = NULL;
    bool merged;
    int rc;

    *snap_r = *problem_r = *done_r = NULL;
    *rollback_r = false;
    xlsnap__qmp_init(&q);
    rc = xlsnap__intent_read(ctx, dom->uuid, XLSNAP__MERGE_INTENT, &json);
    if (rc || !json) goto out;
    root = yajl_tree_parse(json, eb, sizeof(eb));
    sn = root ? yajl_tree_get(root, sp, yajl_t_string) : NULL;
    di = root ? yajl_tree_get(root, dp, yajl_t_number) : NULL;
    jo = root ? yajl_tree_get(root, jp, yajl_t_string) : NULL;
    im = root ? yajl_tree_get(root, ip, yajl_t_string) : NULL;
    ch = root ? yajl_tree_get(root, cp, yajl_t_string) : NULL;
    tm = root ? yajl_tree_get(root, tp, yajl_t_string) : NULL;
    if (!sn || !di || !im || !ch) {
        *problem_r = xlsnap__strdup("the live merge intent is malformed "
                                    "(killed while it was written)");
        if (repair && !(rc = xlsnap__intent_clear(ctx, dom->uuid,
                                                  XLSNAP__MERGE_INTENT)))
            *done_r = xlsnap__strdup("removed it (nothing had been "
                                     "changed)");
        goto nomem;
    }
    if (!(*snap_r = xlsnap__strdup(sn->u.string))) goto nomem;
    if (dom->domid >= 0 && dom->domid == YAJL_GET_INTEGER(di) &&
        (rc = xlsnap__hv_state(ctx, dom->domid, &ds)))
        goto out;
    if (jo && ds != XLSNAP__DOM_GONE) {
        if ((rc = xlsnap__qmp_open(ctx, dom->domid, dom->uuid, &q)) ||
            (rc = xlsnap__qmp_job_query(ctx, &q, jo->u.string, &st, NULL,
                                        NULL, &err)))
            goto out;
    }
    state = st == XLSNAP__JOB_RUNNING || st == XLSNAP__JOB_READY
          ? "is still running"
          : st == XLSNAP__JOB_DONE ? "completed"
          : st == XLSNAP__JOB_FAILED ? "failed" : NULL;
    if (state)
        *problem_r = xlsnap__sprintf("the live merge of snapshot '%s' "
                                     "(QEMU job %s) %s%s%s; the delete was "
                                     "interrupted", sn->u.string,
                                     jo->u.string, state, err ? ": " : "",
                                     err ? err : "");
    else
        *problem_r = xlsnap__sprintf("a live merge of snapshot '%s' "
                                     "(layer %s into %s) was interrupted",
                                     sn->u.string, im->u.string,
                                     ch->u.string);
    if (!*problem_r) goto nomem;
    if (!repair) goto out;
    if (st == XLSNAP__JOB_RUNNING || st == XLSNAP__JOB_READY) {
        /* its end, as the delete would have waited for it */
        if ((rc = xlsnap__qmp_job_wait(ctx, &q, jo->u.string, "merging")))
            goto out;
    } else if (st == XLSNAP__JOB_DONE || st == XLSNAP__JOB_FAILED) {
        if ((rc = xlsnap__qmp_job_dismiss(ctx, &q, jo->u.string))) goto out;
    }
    /* took effect: the child's header no longer names the layer */
    if (access(ch->u.string, F_OK) < 0) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "%s is missing",
                           ch->u.string);
        goto out;
    }
    if ((rc = xlsnap__qimg_backing(ctx, ch->u.string, "qcow2", &bb, NULL)))
        goto out;
    merged = !bb || strcmp(bb, im->u.string);
    if (tm && (rc = xlsnap__unlink(ctx, tm->u.string, true))) goto out;
    if (merged && (rc = xlsnap__unlink(ctx, im->u.string, true))) goto out;
    if ((rc = xlsnap__intent_clear(ctx, dom->uuid, XLSNAP__MERGE_INTENT)))
        goto out;
    *rollback_r = !merged;
    *done_r = merged
            ? xlsnap__sprintf("finished: the merged layer %s is removed",
                              im->u.string)
            : xlsnap__sprintf("rolled back: the merge had not taken effect, "
                              "'%s' keeps its data", sn->u.string);
    if (!*done_r) goto nomem;
    goto out;
 nomem:
    if (!rc && (!*problem_r || (repair && !*done_r)))
        rc = xlsnap__nomem(ctx);
 out:
    xlsnap__qmp_close(&q);
    if (root) yajl_tree_free(root);
    free(json);
    free(err);
    free(bb);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
