/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * merge.c - delete of an external snapshot of a running domain: its
 * layer B is merged into the one image D that has it as backing, while
 * the guest runs (issue 18).  The chain, top first, is
 *     C[0] (the active layer, configured path) -> C[1] -> ... ,
 * B = C[j], D = C[j-1], A = C[j+1] (B's own backing).
 *
 *  - QEMU's block-stream pulls B's data into D (the active layer when
 *    j = 1, a frozen layer QEMU reopens for writing while the job runs
 *    otherwise), base A; at its end QEMU writes A as D's backing file.
 *    Every remaining snapshot's data stays exact (D's content is not
 *    changed, only where it comes from), and it writes only what D
 *    does not already have.  The job is started with auto-dismiss off,
 *    so a tool killed while it runs finds its outcome in query-jobs; a
 *    guest destroyed mid-way leaves D with some of B's data and B
 *    still under it: nothing lost.
 *  - Only when QEMU's nodes can be trusted with the job
 *    (xlsnap__qmp_chain_live, which matches QEMU's chain to the
 *    headers' by position: QEMU's file names are not the layers' own
 *    after external snapshots of the running domain, see there).  A
 *    read-only node QEMU calls by another name is kept, with a warning,
 *    until the domain's next start opens every layer by its own name:
 *    a job's reopen of it would open that name (and an older version
 *    of this tool, which made the overlay at the configured path before
 *    QEMU took it, left QEMU 7.2 reading the active layer's file through
 *    such a node).
 *  - B the original image (no backing file): kept, as offline.
 * Crash safety: a "merge" intent (store.c) names the snapshot, the job
 * and the files before anything changes; check sees it and --repair
 * finishes (the merged B goes) or rolls back.
 */
#include "internal.h"

#include <errno.h>
#include <sys/stat.h>
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

int xlsnap_image_chain(xlsnap_ctx *ctx, const char *image,
                       const char *format, long long *used_r, int *depth_r)
{
    xlsnap__merge_chain c;
    struct stat st;
    int rc;

    *used_r = 0;
    *depth_r = 0;
    if (!image || !format)
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "no image");
    /* a record's name: only a regular file is read (never a device
     * or a FIFO a damaged record might name) */
    if (stat(image, &st) < 0)
        return xlsnap__error_errno(ctx, errno, "cannot read %s", image);
    if (!S_ISREG(st.st_mode))
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "%s is not an image "
                             "file", image);
    if (!(rc = xlsnap__merge_chain_read(ctx, image, format, &c))) {
        *used_r = xlsnap__file_used(image);
        *depth_r = c.n;
    }
    xlsnap__merge_chain_free(&c);
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
                        const char *b, const char *child, const char *into)
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
        (into && xlsnap__gen_kv_str(g, "into", into)) ||
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

/*
 * QEMU's block-stream of B = C[j] into D = C[j-1] (the active layer
 * when j = 1, an intermediate stream into a frozen layer otherwise),
 * base A = C[j+1]: D gets the data of B it does not have, and names A
 * as its backing file.
 * With commit (B the bottom of the chain, an original image, and D a
 * frozen layer, j >= 2): QEMU's block-commit of D into B instead, top
 * D, base B: B gets D's data (only D's own clusters are written, not
 * the whole original image), the image above D, E = C[j-2], names B
 * as its backing file, and D goes; B's own content was needed by the
 * deleted snapshot alone (the caller's check), the records naming D
 * name B after (the caller).
 * Only when QEMU's nodes can be trusted with it
 * (xlsnap__qmp_chain_live); otherwise the layers are kept (0).
 */
static int merge_layer(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                       const xlsnap_snapshot *x, const xlsnap_disk *d,
                       const xlsnap__merge_chain *c, int j, bool commit,
                       bool *merged_r)
{
    xlsnap__qmp q;
    xlsnap__qmp_job jb = { 0 };
    char **nodes = NULL, *id = NULL, *bb = NULL, *what = NULL;
    /* gone: the layer removed; kept: the one that takes its data;
     * above: the image whose header changes; base: what it names after */
    const char *gone = commit ? c->path[j - 1] : c->path[j],
               *kept = commit ? c->path[j] : c->path[j - 1],
               *above = commit ? c->path[j - 2] : c->path[j - 1],
               *above_fmt = commit ? c->fmt[j - 2] : c->fmt[j - 1],
               *base = commit ? c->path[j] : c->path[j + 1];
    int64_t used0;
    int rc;

    xlsnap__qmp_init(&q);
    if ((rc = xlsnap__qmp_open(ctx, dom->domid, dom->uuid, &q))) goto out;
    if ((rc = xlsnap__qmp_chain_live(ctx, &q, d->vdev, c->path[0], c->path,
                                     c->n, &nodes)))
        goto out;
    if (!nodes) {
        /* kept: a job on it would read (or reopen) the wrong file */
        xlsnap__warn(ctx, "snapshot '%s': its image %s stays in the chain "
                     "of disk %s, not merged: the running QEMU has a "
                     "layer of its chain open read-only under another "
                     "file name (an external snapshot taken by an older "
                     "version while the domain ran)",
                     x->name, c->path[j], d->vdev);
        goto out;
    }
    id = job_id(dom->uuid, x->name, d->vdev);
    what = xlsnap__sprintf("merging %s", d->vdev);
    if (!id || !what) { rc = xlsnap__nomem(ctx); goto out; }
    used0 = xlsnap__file_used(gone) + xlsnap__file_used(kept);
    if ((rc = write_intent(ctx, dom, x, id, gone, above,
                           commit ? kept : NULL)))
        goto out;
    xlsnap__fault_point("merge-intent");
    jb.id = id;
    jb.commit = commit;
    jb.device = commit ? nodes[0] : nodes[j - 1];
    jb.top = commit ? nodes[j - 1] : NULL;
    jb.base = commit ? nodes[j] : nodes[j + 1];
    jb.backing_file = base;
    if ((rc = xlsnap__qmp_job_start(ctx, &q, &jb))) goto fail;
    xlsnap__fault_point("merge-started");
    if ((rc = xlsnap__qmp_job_wait(ctx, &q, id, what))) goto fail;
    xlsnap__fault_point("merge-job-done");
    /* the image above names the base now: the merged layer is needed
     * by nothing */
    if ((rc = xlsnap__qimg_backing(ctx, above, above_fmt, &bb, NULL)))
        goto out;
    if (!bb || strcmp(bb, base)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "after the merge "
                           "%s names %s as its backing file, not %s",
                           above, bb ? bb : "nothing", base);
        goto out;
    }
    *merged_r = true;
    if ((rc = xlsnap__unlink(ctx, gone, true))) goto out;
    xlsnap__freed_add(ctx, used0 - xlsnap__file_used(kept));
    rc = xlsnap__intent_clear(ctx, dom->uuid, XLSNAP__MERGE_INTENT);
    goto out;
 fail:
    /* nothing changed that a snapshot needs: the intent goes (a
     * commit that failed half-way changed only B, the deleted
     * snapshot's own content: the delete goes on, B stays) */
    {
        xlsnap__errsaved saved;
        xlsnap__errsave(ctx, &saved);
        xlsnap__intent_clear(ctx, dom->uuid, XLSNAP__MERGE_INTENT);
        xlsnap__errrestore(ctx, &saved);
    }
 out:
    xlsnap__qmp_close(&q);
    xlsnap__qmp_strv_free(nodes, nodes ? c->n : 0);
    free(id);
    free(bb);
    free(what);
    return rc;
}

/* The image and format the running domain's disk vdev has at its
 * configured path (its active layer); NULL when it has no such disk. */
int xlsnap__active_layer(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                         const char *vdev, char **path_r, char **fmt_r)
{
    xlsnap__cfgdisk *cd = NULL;
    char *cfg = NULL;
    int ncd = 0, rc;

    *path_r = *fmt_r = NULL;
    if ((rc = xlsnap__hv_config(ctx, dom->domid, &cfg)) ||
        (rc = xlsnap__config_disks(ctx, cfg, &cd, &ncd)))
        goto out;
    for (int i = 0; i < ncd; i++) {
        if (!cd[i].vdev || strcmp(cd[i].vdev, vdev) || !cd[i].path ||
            !cd[i].format)
            continue;
        if (!(*path_r = xlsnap__strdup(cd[i].path)) ||
            !(*fmt_r = xlsnap__strdup(cd[i].format))) {
            free(*path_r);
            *path_r = NULL;
            rc = xlsnap__nomem(ctx);
        }
        break;
    }
 out:
    xlsnap__cfgdisk_list_free(cd, ncd);
    free(cfg);
    return rc;
}

int xlsnap__merge_live(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                       const xlsnap_snapshot *x, const xlsnap_disk *d,
                       const xlsnap__strset *known, xlsnap_snapshot *l,
                       int nr)
{
    xlsnap__merge_chain c;
    char *dep = NULL, *top = NULL, *fmt = NULL, *bb = NULL;
    bool merged = false, commit;
    int j, ndeps = 0, rc;

    memset(&c, 0, sizeof(c));
    if (dom->domid < 0 || !d->vdev) return 0;
    /* the chain from the running disk's active layer (the record's
     * image is the one above its layer, which later snapshots renamed) */
    if ((rc = xlsnap__active_layer(ctx, dom, d->vdev, &top, &fmt)))
        goto out;
    if (!top || !fmt) goto out;
    if ((rc = xlsnap__merge_chain_read(ctx, top, fmt, &c))) goto out;
    for (j = 1; j < c.n && strcmp(c.path[j], d->backing); j++)
        ;
    if (j >= c.n || !c.fmt[j]) goto out;   /* not in the running chain */
    /* the original image (the bottom, any format) is committed into
     * when the layer on it is frozen (j >= 2): it is the deleted
     * snapshot's alone; under the active layer it is kept (an active
     * commit would make it the active layer, which the configs do not
     * name) */
    commit = j + 1 >= c.n;
    if (commit ? j < 2 : strcmp(c.fmt[j], "qcow2")) goto out;
    if (commit) {
        /* a qcow2 bottom whose backing's format is not recorded (the
         * chain stops there) is no original image */
        if (strcmp(c.fmt[j], "qcow2") && strcmp(c.fmt[j], "raw")) goto out;
        if (!strcmp(c.fmt[j], "qcow2") &&
            (rc = xlsnap__qimg_backing(ctx, c.path[j], "qcow2", &bb, NULL)))
            goto out;
        if (bb) goto out;
    }
    /* the child is the only image on B */
    if ((rc = xlsnap__dependents(ctx, d->backing, known, &ndeps, &dep)))
        goto out;
    if (ndeps != 1 || strcmp(dep, c.path[j - 1])) goto out;
    rc = merge_layer(ctx, dom, x, d, &c, j, commit, &merged);
    /* a record naming the removed layer names the one that took its
     * data now (stream: B's records follow to D; commit: D's to B) */
    if (merged && !rc)
        rc = commit
           ? xlsnap__relocate_image(ctx, l, nr, (int)(x - l), c.path[j - 1],
                                    c.path[j])
           : xlsnap__relocate_image(ctx, l, nr, (int)(x - l), c.path[j],
                                    c.path[j - 1]);
 out:
    free(dep);
    free(bb);
    free(top);
    free(fmt);
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
                          char **done_r, bool *rollback_r,
                          char **image_r, char **child_r)
{
    const char *sp[] = { "snapshot", NULL }, *dp[] = { "domid", NULL },
               *jp[] = { "job", NULL }, *ip[] = { "image", NULL },
               *cp[] = { "child", NULL }, *tp[] = { "into", NULL };
    yajl_val root = NULL, sn, di, jo, im, ch, in;
    xlsnap__qmp q;
    xlsnap__qmp_jobstate st = XLSNAP__JOB_NONE;
    xlsnap__domstate ds = XLSNAP__DOM_GONE;
    char *json = NULL, *err = NULL, *bb = NULL, eb[128];
    const char *state = NULL;
    bool merged;
    int rc;

    *snap_r = *problem_r = *done_r = *image_r = *child_r = NULL;
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
    /* a commit (merge_layer): the image the layer went into */
    in = root ? yajl_tree_get(root, tp, yajl_t_string) : NULL;
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
                                     in ? in->u.string : ch->u.string);
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
    if (merged && (rc = xlsnap__unlink(ctx, im->u.string, true))) goto out;
    if ((rc = xlsnap__intent_clear(ctx, dom->uuid, XLSNAP__MERGE_INTENT)))
        goto out;
    /* a commit that did not take effect may have written some of the
     * layer above into the deleted snapshot's own image: no rollback,
     * the delete goes on (the deleting record) and the image stays */
    *rollback_r = !merged && !in;
    if (merged && (!(*image_r = xlsnap__strdup(im->u.string)) ||
                   !(*child_r = xlsnap__strdup(in ? in->u.string
                                                  : ch->u.string))))
        goto nomem;
    *done_r = merged
            ? xlsnap__sprintf("finished: the merged layer %s is removed",
                              im->u.string)
            : in
            ? xlsnap__sprintf("the merge had not taken effect: the delete "
                              "of '%s' goes on, %s stays in the chain",
                              sn->u.string, in->u.string)
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
