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

/* list --json: "layers", one object per external disk whose layer
 * can be read: its vdev, the layer, its allocation and chain depth (as
 * list -l); no key when there is none. */
int xlsnap__gen_layers(xlsnap_ctx *ctx, yajl_gen g,
                       const xlsnap_snapshot *sn)
{
    xlsnap__errsaved saved;
    bool open = false;
    int s = 0;

    xlsnap__errsave(ctx, &saved);
    for (int k = 0; k < sn->num_disks && !s; k++) {
        const xlsnap_disk *d = &sn->disks[k];
        long long used;
        int depth;
        if (d->kind != XLSNAP_DISK_EXTERNAL || !d->backing || !d->format ||
            access(d->backing, F_OK) < 0 ||
            xlsnap_image_chain(ctx, d->backing, d->format, &used, &depth))
            continue;
        if (!open && ((s = xlsnap__gen_str(g, "layers")) ||
                      (s = yajl_gen_array_open(g))))
            break;
        open = true;
        if (!(s = yajl_gen_map_open(g)) &&
            !(s = xlsnap__gen_kv_str(g, "vdev", d->vdev)) &&
            !(s = xlsnap__gen_kv_str(g, "layer", d->backing)) &&
            !(s = xlsnap__gen_kv_int(g, "allocated", used)) &&
            !(s = xlsnap__gen_kv_int(g, "chain_depth", depth)))
            s = yajl_gen_map_close(g);
    }
    if (!s && open) s = yajl_gen_array_close(g);
    xlsnap__errrestore(ctx, &saved);
    return s;
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

/* The path and format config disk list cd gives disk vdev (copies in
 * *path_r, *fmt_r; both NULL when it has no such disk). */
static int cfgdisk_path(xlsnap_ctx *ctx, const xlsnap__cfgdisk *cd, int ncd,
                        const char *vdev, char **path_r, char **fmt_r)
{
    for (int i = 0; i < ncd; i++) {
        if (!cd[i].vdev || strcmp(cd[i].vdev, vdev) || !cd[i].path ||
            !cd[i].format)
            continue;
        if (!(*path_r = xlsnap__strdup(cd[i].path)) ||
            !(*fmt_r = xlsnap__strdup(cd[i].format))) {
            free(*path_r);
            *path_r = NULL;
            return xlsnap__nomem(ctx);
        }
        break;
    }
    return 0;
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
    rc = cfgdisk_path(ctx, cd, ncd, vdev, path_r, fmt_r);
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
 * delete with XLSNAP_DELETE_MERGE_PARENT (seed 001's MERGE): for each
 * disk of an external qcow2 snapshot S, its layer B (S's data) takes
 * the data of D, the layer directly above B on the domain's current
 * chain (the writes made after S); D goes, and S's record goes.
 *  - D frozen (a later snapshot T's layer, E above it): offline
 *    `qemu-img commit` of D into B and E rebased onto B (header only,
 *    same content); running, QEMU's block-commit (top D, base B).  The
 *    records naming D name B after: T's data is exact, now in B.
 *  - D the active layer (the configured path): offline, qemu-img
 *    commit of D into B and B renamed to the configured path; running,
 *    B's data is pulled up into the active layer (block-stream) rather
 *    than an active commit, so the configured path, xenstore and the
 *    domain's config keep naming the active layer (the same content
 *    either way).
 *  - Refused while another snapshot needs B's current content: one
 *    whose data is B, or is in a layer based on B other than through
 *    D (a branch after a revert).  With XLSNAP_DELETE_FORCE those
 *    snapshots are discarded first (their records and memory images,
 *    and the layers of that branch that no remaining record names).
 *  - Refused when B is not under the current chain and several layers
 *    are based on it (which one to fold is not known), or none is.
 * Crash safety: S (and the discarded ones) are marked "deleting" first;
 * a killed fold leaves D intact and consistent over B (commit writes
 * only data D already shows): check --repair finishes the delete of
 * the records, nothing a remaining snapshot shows is lost.
 */
void xlsnap__discarded_clear(xlsnap_ctx *ctx)
{
    for (int i = 0; i < ctx->ndiscarded; i++) free(ctx->discarded[i]);
    free(ctx->discarded);
    ctx->discarded = NULL;
    ctx->ndiscarded = 0;
}

static int discarded_add(xlsnap_ctx *ctx, char *line)
{
    char **v;

    if (!line) return xlsnap__nomem(ctx);
    v = realloc(ctx->discarded, (ctx->ndiscarded + 1) * sizeof(*v));
    if (!v) { free(line); return xlsnap__nomem(ctx); }
    ctx->discarded = v;
    ctx->discarded[ctx->ndiscarded++] = line;
    return 0;
}

/* *r: image's chain has b, not through d (the layer right above b in
 * it is not d); an image that is b itself counts unless self_ok. */
static int on_other_branch(xlsnap_ctx *ctx, const char *image,
                           const char *fmt, const char *b, const char *d,
                           bool self_ok, bool *r)
{
    xlsnap__merge_chain c;
    int rc;

    *r = false;
    if (!image || !fmt || access(image, F_OK) < 0) return 0;
    if ((rc = xlsnap__merge_chain_read(ctx, image, fmt, &c))) goto out;
    for (int i = 0; i < c.n; i++)
        if (!strcmp(c.path[i], b)) {
            *r = i ? strcmp(c.path[i - 1], d) != 0 : !self_ok;
            break;
        }
 out:
    xlsnap__merge_chain_free(&c);
    return rc;
}

/* The configured path of disk vdev: the running domain's, or the one
 * its latest ready record's config gives. */
static int current_top(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                       const xlsnap_snapshot *l, int nr, const char *vdev,
                       char **path_r, char **fmt_r)
{
    xlsnap__cfgdisk *cd = NULL;
    int ncd = 0, rc = 0;

    *path_r = *fmt_r = NULL;
    if (dom->domid >= 0)
        return xlsnap__active_layer(ctx, dom, vdev, path_r, fmt_r);
    for (int k = nr - 1; k >= 0; k--) {
        if (l[k].state != XLSNAP_STATE_READY || !l[k].config_json) continue;
        if (xlsnap__config_disks(ctx, l[k].config_json, &cd, &ncd)) return 0;
        break;
    }
    rc = cfgdisk_path(ctx, cd, ncd, vdev, path_r, fmt_r);
    xlsnap__cfgdisk_list_free(cd, ncd);
    return rc;
}

typedef struct {
    const xlsnap_disk *disk;
    char *d;          /* the layer above B folded into it */
    int j;            /* B's place in the running chain c, or 0 */
    bool active;      /* d is the configured path */
    xlsnap__merge_chain c;  /* the running chain (j > 0) */
} fold_disk;

/* Which layer folds into disk fd->disk's layer B (S is x). */
static int fold_choose(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                       const xlsnap_snapshot *l, int nr,
                       const xlsnap__strset *known, fold_disk *fd)
{
    const char *b = fd->disk->backing;
    char *top = NULL, *fmt = NULL, *one = NULL;
    xlsnap__merge_chain c;
    int n = 0, rc;

    memset(&c, 0, sizeof(c));
    if ((rc = current_top(ctx, dom, l, nr, fd->disk->vdev, &top, &fmt)))
        goto out;
    if (top && fmt && access(top, F_OK) == 0 &&
        (rc = xlsnap__merge_chain_read(ctx, top, fmt, &c)))
        goto out;
    for (int i = 1; i < c.n; i++)
        if (!strcmp(c.path[i], b)) {
            if (!(fd->d = xlsnap__strdup(c.path[i - 1]))) {
                rc = xlsnap__nomem(ctx);
                goto out;
            }
            fd->active = i == 1;
            if (dom->domid >= 0) {
                fd->j = i;
                fd->c = c;
                memset(&c, 0, sizeof(c));
            }
            goto out;
        }
    /* not under the current state: the one layer based on it */
    if ((rc = xlsnap__dependents(ctx, b, known, &n, &one))) goto out;
    if (n == 1) {
        fd->d = one;
        one = NULL;
        fd->active = top && !strcmp(fd->d, top);
    } else
        rc = n ? xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "%d layers are "
                               "based on its layer %s (disk %s) and the "
                               "domain's current state is on none of them: "
                               "which to fold into it is not known", n, b,
                               fd->disk->vdev)
               : xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "nothing written "
                               "after it is kept: no layer is based on its "
                               "layer %s (disk %s)", b, fd->disk->vdev);
 out:
    xlsnap__merge_chain_free(&c);
    free(top);
    free(fmt);
    free(one);
    return rc;
}


/* Offline (or a layer the running domain does not use): fold D into
 * B with qemu-img; l's records naming the removed file name the kept
 * one after (skip: S's own). */
static int fold_offline(xlsnap_ctx *ctx, const fold_disk *fd,
                        const xlsnap__strset *known,
                        const xlsnap__strset *live, xlsnap_snapshot *l,
                        int nr, int skip)
{
    const char *b = fd->disk->backing, *d = fd->d;
    int64_t used0 = xlsnap__file_used(b) + xlsnap__file_used(d);
    int rc;

    if (xlsnap__set_has(live, d) || xlsnap__set_has(live, b))
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "%s is open by the "
                             "running domain under another chain", d);
    if ((rc = xlsnap__qimg_commit(ctx, d))) return rc;
    xlsnap__fault_point("fold-committed");
    if (fd->active) {
        /* B, now with D's data, becomes the configured path */
        if ((rc = xlsnap__relocate_image(ctx, l, nr, skip, b, d))) return rc;
        if (rename(b, d) < 0)
            return xlsnap__error_errno(ctx, errno, "cannot rename %s to %s",
                                       b, d);
        xlsnap__fsync_dir_of(d);
        xlsnap__freed_add(ctx, used0 - xlsnap__file_used(d));
        return 0;
    }
    /* what is based on D is based on B now: the same content */
    if ((rc = xlsnap__rebase_dependents(ctx, d, known, b)) ||
        (rc = xlsnap__relocate_image(ctx, l, nr, skip, d, b)) ||
        (rc = xlsnap__unlink(ctx, d, true)))
        return rc;
    xlsnap__freed_add(ctx, used0 - xlsnap__file_used(b));
    return 0;
}

/* Running, B and D in the running chain: QEMU folds it (merge_layer). */
static int fold_live(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                     const xlsnap_snapshot *x, fold_disk *fd,
                     const xlsnap__strset *known, xlsnap_snapshot *l, int nr)
{
    const xlsnap__merge_chain *c = &fd->c;
    bool merged = false;
    int n = 0, rc;

    /* a stream needs a base under B: B the image the disk started from,
     * right under the active layer, is not folded live (an active
     * commit would make it the active layer, which the configs do not
     * name) */
    if (fd->active && fd->j + 1 >= c->n)
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "its layer %s is the "
                             "image the disk started from, right under the "
                             "active layer: it is folded only while the "
                             "domain is off", c->path[fd->j]);
    /* a commit removes D: nothing but the image above it may use it */
    if (!fd->active) {
        if ((rc = xlsnap__dependents(ctx, fd->d, known, &n, NULL)))
            return rc;
        if (n > 1)
            return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "%d layers are "
                                 "based on %s, the layer above it: it can "
                                 "only be folded while the domain is off", n,
                                 fd->d);
    }
    rc = merge_layer(ctx, dom, x, fd->disk, c, fd->j, !fd->active, &merged);
    if (merged && !rc)
        rc = fd->active
           ? xlsnap__relocate_image(ctx, l, nr, (int)(x - l), c->path[1],
                                    c->path[0])
           : xlsnap__relocate_image(ctx, l, nr, (int)(x - l),
                                    c->path[fd->j - 1], c->path[fd->j]);
    return rc;
}

int xlsnap__delete_fold(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                        const char *name, unsigned flags)
{
    xlsnap__store_handle h = XLSNAP__STORE_HANDLE_INIT;
    xlsnap__tree t;
    xlsnap__strset live = { 0 }, known = { 0 }, files = { 0 };
    xlsnap__refs named = { { 0 }, NULL };
    fold_disk *fd = NULL;
    xlsnap_snapshot *l, *x;
    bool *need = NULL;
    int *depth = NULL, nr, target = -1, nd = 0, nneed = 0, rc;
    char *who = NULL;

    xlsnap__tree_init(&t);
    if ((rc = xlsnap__store_open_find(ctx, dom->uuid, name, &h, &target)))
        goto out;
    l = h.list;
    nr = h.nr;
    x = &l[target];
    for (int k = 0; k < x->num_disks; k++) {
        const xlsnap_disk *d = &x->disks[k];
        if (d->kind == XLSNAP_DISK_INTERNAL) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "it is an internal "
                               "snapshot: its data is inside image %s, no "
                               "layer of its own that later writes could "
                               "be folded into", d->image);
            goto out;
        }
        if (d->kind != XLSNAP_DISK_EXTERNAL ||
            (d->driver && strcmp(d->driver, "qcow2")) || !d->backing ||
            !d->format || strcmp(d->format, "qcow2")) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "disk %s is no "
                               "external qcow2 snapshot: only a qcow2 layer "
                               "can take the writes made after it",
                               d->vdev);
            goto out;
        }
        if (access(d->backing, F_OK) < 0) {
            rc = xlsnap__error_errno(ctx, errno, "its layer %s",
                                     d->backing);
            goto out;
        }
    }
    if (!x->num_disks) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "it has no disk "
                           "snapshot to fold into");
        goto out;
    }
    fd = calloc(x->num_disks, sizeof(*fd));
    need = calloc(nr + 1, sizeof(*need));
    depth = malloc((nr + 1) * sizeof(*depth));
    if (!fd || !need || !depth) { rc = xlsnap__nomem(ctx); goto out; }
    if ((rc = xlsnap__tree_build(ctx, &t, l, nr)) ||
        (rc = xlsnap__known_images(ctx, dom, l, nr, &known, &live)))
        goto out;
    for (nd = 0; nd < x->num_disks; nd++) {
        fd[nd].disk = &x->disks[nd];
        if ((rc = fold_choose(ctx, dom, l, nr, &known, &fd[nd]))) {
            nd++;
            goto out;
        }
    }
    /* who needs B's current content: a record whose data is B, or in a
     * layer based on B not through D; the images of such branches */
    for (int i = 0; i < nr; i++) {
        if (i == target) continue;
        for (int m = 0; m < l[i].num_disks && !need[i]; m++) {
            const xlsnap_disk *e = &l[i].disks[m];
            bool internal = e->kind == XLSNAP_DISK_INTERNAL;
            const char *data = internal ? e->image : e->backing;
            if (e->kind == XLSNAP_DISK_VOLUME) continue;
            for (int k = 0; k < nd && !need[i]; k++)
                if ((rc = on_other_branch(ctx, data, e->format,
                                          fd[k].disk->backing, fd[k].d,
                                          internal, &need[i])))
                    goto out;
        }
        if (need[i]) nneed++;
    }
    for (int i = 0; i < known.n; i++) {
        bool other = false;
        for (int k = 0; k < nd && !other; k++)
            if (strcmp(known.v[i], fd[k].disk->backing) &&
                (rc = on_other_branch(ctx, known.v[i], known.fmt[i],
                                      fd[k].disk->backing, fd[k].d, true,
                                      &other)))
                goto out;
        if (other && xlsnap__set_has(&live, known.v[i])) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "%s, based on its "
                               "layer, is open by the running domain",
                               known.v[i]);
            goto out;
        }
        if (other) xlsnap__set_add(&files, known.v[i]);
    }
    if (files.nomem) { rc = xlsnap__nomem(ctx); goto out; }
    /* what is (or would be) discarded, a line each */
    for (int i = 0; i < nr; i++) {
        char *data = NULL;
        if (!need[i]) continue;
        for (int m = 0; m < l[i].num_disks; m++) {
            const xlsnap_disk *e = &l[i].disks[m];
            const char *img = e->kind == XLSNAP_DISK_INTERNAL
                            ? e->image : e->backing;
            char *nd2 = xlsnap__sprintf("%s%s%s%s", data ? data : "",
                                        data ? ", " : "",
                                        e->kind == XLSNAP_DISK_INTERNAL
                                        ? "internal snapshot in " : "",
                                        img ? img : "?");
            free(data);
            if (!(data = nd2)) { rc = xlsnap__nomem(ctx); goto out; }
        }
        if ((rc = discarded_add(ctx, xlsnap__sprintf(
                 "discarded snapshot '%s' (its data: %s%s)", l[i].name,
                 data ? data : "no disk", l[i].memory
                 ? "; its memory image" : ""))))  {
            free(data);
            goto out;
        }
        free(data);
        {
            char *w = xlsnap__sprintf("%s%s'%s'", who ? who : "",
                                      who ? ", " : "", l[i].name);
            free(who);
            if (!(who = w)) { rc = xlsnap__nomem(ctx); goto out; }
        }
    }
    if (nneed && !(flags & XLSNAP_DELETE_FORCE)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_EXISTS, "snapshot%s %s need%s "
                           "the current content of its layer %s, which "
                           "the writes made after it would overwrite",
                           nneed > 1 ? "s" : "", who, nneed > 1 ? "" : "s",
                           fd[0].disk->backing);
        goto out;
    }
    /* intent: S and those discarded are "deleting" before data goes */
    for (int i = 0; i < nr; i++) {
        if (i != target && !need[i]) continue;
        l[i].state = XLSNAP_STATE_DELETING;
        if ((rc = xlsnap__store_write(ctx, &l[i]))) goto out;
    }
    xlsnap__fault_point("fold-marked");
    /* the discarded ones, deepest first: records and memory images */
    if (xlsnap__tree_depths(&t, depth)) { rc = xlsnap__nomem(ctx); goto out; }
    for (int dd = nr; dd >= 0; dd--)
        for (int i = 0; i < nr; i++) {
            if (!need[i] || depth[i] != dd) continue;
            if ((l[i].memory && (rc = xlsnap__unlink(ctx, l[i].memory,
                                                     true))) ||
                (rc = xlsnap__delete_one(ctx, dom, &t, i,
                                         XLSNAP_DELETE_METADATA, &live,
                                         &known, &named)))
                goto out;
        }
    /* the images of those branches that no remaining record names */
    for (int f = 0; f < files.n; f++) {
        bool named_r = false;
        for (int i = 0; i < nr && !named_r; i++) {
            if (i == target || (t.gone && t.gone[i])) continue;
            for (int m = 0; m < l[i].num_disks && !named_r; m++) {
                const xlsnap_disk *e = &l[i].disks[m];
                named_r = (e->image && !strcmp(e->image, files.v[f])) ||
                          (e->overlay && !strcmp(e->overlay, files.v[f])) ||
                          (e->backing && !strcmp(e->backing, files.v[f]));
            }
        }
        if (!named_r && (rc = xlsnap__unlink(ctx, files.v[f], true)))
            goto out;
    }
    xlsnap__fault_point("fold-discarded");
    x = &l[target];
    for (int k = 0; k < nd; k++) {
        rc = fd[k].j > 0
           ? fold_live(ctx, dom, x, &fd[k], &known, l, nr)
           : fold_offline(ctx, &fd[k], &known, &live, l, nr, target);
        if (rc) {
            rc = xlsnap__error_prefix(ctx, rc, "disk %s", fd[k].disk->vdev);
            goto out;
        }
    }
    xlsnap__fault_point("fold-done");
    if ((x->memory && (rc = xlsnap__unlink(ctx, x->memory, true))) ||
        (rc = xlsnap__delete_one(ctx, dom, &t, target,
                                 XLSNAP_DELETE_METADATA, &live, &known,
                                 &named)))
        goto out;
    xlsnap__store_index_refresh(ctx, &h);
 out:
    for (int k = 0; fd && k < nd; k++) {
        free(fd[k].d);
        xlsnap__merge_chain_free(&fd[k].c);
    }
    free(fd);
    free(need);
    free(depth);
    free(who);
    xlsnap__set_free(&live);
    xlsnap__set_free(&known);
    xlsnap__set_free(&files);
    xlsnap__refs_free(&named);
    xlsnap__tree_dispose(&t);
    xlsnap__store_close(&h);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
