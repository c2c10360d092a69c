/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * revert.c - put a domain back to a snapshot
 *
 *  1. refuse a running domain without XLSNAP_REVERT_FORCE;
 *  2. destroy it (its device model closes the images);
 *  3. disks: internal -> qemu-img snapshot -a (or, when other images
 *     are built on that image, a copy of the snapshot into a new image);
 *     external -> a fresh
 *     overlay on the snapshot's backing image (the old overlay stays, as
 *     its own branch: later snapshots may live in it);
 *  4. memory: the domain is restored from the image through libxl, as
 *     `xl restore` does, with the stored config (disk paths rewritten)
 *     in place of the one in the image's header, which is never
 *     modified; disk-only: the domain stays off unless RUNNING/PAUSED,
 *     then it is created from the stored config, as `xl create` does.
 *     Either way the library's monitor then watches it (reboot,
 *     shutdown handling, as xl's own monitor would);
 *  5. the snapshot becomes current.
 * Crash safety: before step 2 an intent file (store.c) names the
 * snapshot, the domain id being destroyed and the new overlays; it is
 * removed at the end.  check --repair finishes or rolls back a revert
 * that left it behind.
 */
#include "internal.h"
#include "backend/disk.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

/* <stem>.<pre><name><mid><time>[-n].qcow2 next to image, the first n
 * that is free (NULL: out of memory): a fresh overlay next to the
 * backing image ("", ".rev") or where an old active layer goes
 * ("before-", "-") */
static char *stamped_sibling(const char *image, const char *pre,
                             const char *name, const char *mid)
{
    char *tag0 = xlsnap__sprintf("%s%s%s%lld", pre, name, mid,
                                 (long long)time(NULL));
    char *tag = NULL, *r = NULL;

    for (int n = 0; tag0 && n < 1000; n++) {
        free(tag);
        free(r);
        tag = n ? xlsnap__sprintf("%s-%d", tag0, n) : xlsnap__strdup(tag0);
        r = tag ? xlsnap__image_sibling(image, tag) : NULL;
        if (!r || access(r, F_OK) < 0) break;
    }
    free(tag);
    free(tag0);
    return r;
}

/* {"snapshot": name, "domid": N, "fresh": [overlay or null, ...],
 *  "paths": [configured path or null, ...], "moved": [where the old
 *  active layer goes, or null, ...]} */
static int gen_paths(yajl_gen g, const char *key, int n, char *const *v)
{
    if (xlsnap__gen_str(g, key) || yajl_gen_array_open(g)) return -1;
    for (int i = 0; i < n; i++)
        if (xlsnap__gen_str(g, v[i])) return -1;
    return yajl_gen_array_close(g) ? -1 : 0;
}

static int write_intent(xlsnap_ctx *ctx, const xlsnap_snapshot *sn,
                        int64_t domid, char *const *fresh,
                        char *const *paths, char *const *moved)
{
    yajl_gen g = xlsnap__gen_alloc();
    char *json = NULL;
    int rc;

    if (!g) return xlsnap__nomem(ctx);
    if (yajl_gen_map_open(g) ||
        xlsnap__gen_kv_str(g, "snapshot", sn->name) ||
        xlsnap__gen_kv_int(g, "domid", domid) ||
        xlsnap__gen_str(g, "fresh") || yajl_gen_array_open(g)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "cannot build intent");
        goto out;
    }
    for (int i = 0; i < sn->num_disks; i++)
        if (xlsnap__gen_str(g, fresh[i])) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "cannot build "
                               "intent");
            goto out;
        }
    if (yajl_gen_array_close(g) ||
        gen_paths(g, "paths", sn->num_disks, paths) ||
        gen_paths(g, "moved", sn->num_disks, moved) ||
        yajl_gen_map_close(g)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "cannot build intent");
        goto out;
    }
    if ((rc = xlsnap__gen_finish(ctx, g, &json))) goto out;
    rc = xlsnap__intent_write(ctx, sn->domain_uuid, XLSNAP__REVERT_INTENT,
                              json);
 out:
    yajl_gen_free(g);
    free(json);
    return rc;
}

/* The path the snapshot's config gives disk vdev in *path_r, or NULL. */
static int configured_path(xlsnap_ctx *ctx, const char *cfg,
                           const char *vdev, char **path_r)
{
    xlsnap__cfgdisk *cd = NULL;
    int ncd = 0, rc = 0;

    *path_r = NULL;
    if (xlsnap__config_disks(ctx, cfg, &cd, &ncd)) return 0;
    for (int i = 0; i < ncd && !*path_r && !rc; i++)
        if (!strcmp(cd[i].vdev, vdev) && cd[i].path && *cd[i].path &&
            !(*path_r = xlsnap__strdup(cd[i].path)))
            rc = xlsnap__nomem(ctx);
    xlsnap__cfgdisk_list_free(cd, ncd);
    return rc;
}

/* Whether path is safe to move aside: no snapshot keeps data in it as a
 * backing image (an image from before active layers stayed in place). */
static bool movable(const xlsnap_snapshot *l, int nr, const char *path)
{
    for (int i = 0; i < nr; i++)
        for (int k = 0; k < l[i].num_disks; k++)
            if (l[i].disks[k].backing &&
                !strcmp(l[i].disks[k].backing, path))
                return false;
    return true;
}

/*
 * Put disk d of a snapshot at the configured path: the image there
 * (the old active layer) is renamed to moved, its own branch, and a
 * fresh overlay on the snapshot's frozen layer (external), or a copy of
 * the internal snapshot, takes the path.  Idempotent, for check
 * --repair: a rename already done is not repeated, and a half-made
 * image at path (nothing ran on it) is made again.
 */
int xlsnap__revert_disk_at(xlsnap_ctx *ctx, const xlsnap_disk *d,
                           const char *path, const char *moved)
{
    int rc;

    if (access(moved, F_OK) < 0 && access(path, F_OK) == 0 &&
        (rc = xlsnap__rename_image(ctx, path, moved)))
        return rc;
    xlsnap__fault_point("revert-layer-moved");
    if (d->kind == XLSNAP_DISK_EXTERNAL && access(path, F_OK) == 0) {
        /* already made (a repair after the domain ran on it) */
        char *b = NULL;
        bool done = !xlsnap__qimg_backing(ctx, path, "qcow2", &b, NULL) &&
                    b &&
                    !strcmp(b, d->backing);
        free(b);
        if (done) return 0;
    }
    if ((rc = xlsnap__unlink(ctx, path, true))) return rc;
    if (d->kind == XLSNAP_DISK_INTERNAL)
        return xlsnap__qimg_convert(ctx, d->image, d->format,
                                    d->internal_name, path, 0);
    return xlsnap__qimg_create_overlay(ctx, path, d->backing, d->format);
}

/*
 * One revert: the plan (what the snapshot is, what each disk becomes,
 * the config the domain gets), then the act (intent, destroy, disks,
 * start), then the commit (the snapshot becomes current).
 */
typedef struct {
    xlsnap__store_handle h;
    xlsnap_snapshot *list, *sn;   /* h's list; sn: the target in it */
    int nr;
    xlsnap__domstate st;          /* of the domain before the revert */
    char *cfg;                    /* the config the domain gets */
    /* per disk of sn: a fresh image to use (fresh), or the configured
     * path that gets the snapshot's data (paths) with where its old
     * active layer goes (moved); all NULL: applied in place */
    char **fresh, **paths, **moved;
    xlsnap__strset known, live;
    bool intent, destroyed;
} revert_plan;

/* What a disk driver's op gets for a disk of the target (running: the
 * domain still runs, before act_stop). */
static xlsnap__disk_op disk_op(xlsnap_ctx *ctx, const revert_plan *p,
                               bool running)
{
    xlsnap__disk_op op = XLSNAP__DISK_OP(ctx, p->sn->domain_uuid);

    op.sn = p->sn;
    op.running = running;
    op.live = &p->live;
    op.known = &p->known;
    return op;
}

static void revert_plan_dispose(revert_plan *p)
{
    for (int i = 0; p->fresh && p->sn && i < p->sn->num_disks; i++)
        free(p->fresh[i]);
    for (int i = 0; p->paths && p->sn && i < p->sn->num_disks; i++)
        free(p->paths[i]);
    for (int i = 0; p->moved && p->sn && i < p->sn->num_disks; i++)
        free(p->moved[i]);
    free(p->fresh);
    free(p->paths);
    free(p->moved);
    xlsnap__set_free(&p->known);
    xlsnap__set_free(&p->live);
    free(p->cfg);
    xlsnap__store_close(&p->h);
}

/* Find the snapshot and check that the revert can be done. */
static int plan_target(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                       const char *name, unsigned flags, revert_plan *p)
{
    xlsnap_snapshot *sn;
    int idx, rc;

    if ((rc = xlsnap__store_open_find(ctx, dom->uuid, name, &p->h, &idx)))
        return rc;
    p->list = p->h.list;
    p->nr = p->h.nr;
    sn = p->sn = &p->list[idx];
    if (sn->state != XLSNAP_STATE_READY)
        return xlsnap__error_hint(ctx, XLSNAP_ERROR_CORRUPT,
                                  XLSNAP_HINT_RUN_CHECK_REPAIR,
                                  "snapshot '%s' is incomplete (state %s)",
                                  name, xlsnap_state_name(sn->state));
    if (!sn->config_json)
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                             "snapshot '%s' has no stored domain "
                             "configuration", name);
    if (dom->domid >= 0) {
        if ((rc = xlsnap__hv_state(ctx, dom->domid, &p->st))) return rc;
        if (p->st != XLSNAP__DOM_GONE && !(flags & XLSNAP_REVERT_FORCE))
            return xlsnap__error_hint(ctx, XLSNAP_ERROR_BUSY,
                                      XLSNAP_HINT_FORCE,
                                      "domain '%s' is running: reverting "
                                      "discards its state since snapshot "
                                      "'%s'",
                                      dom->name ? dom->name : dom->uuid,
                                      sn->current ? sn->name : "current");
    }
    if (sn->memory && access(sn->memory, R_OK) < 0)
        return xlsnap__error_errno(ctx, errno, "memory image %s of snapshot "
                                   "'%s'", sn->memory, name);
    return 0;
}

/* cfg with disk vdev at path (format qcow2) */
static int plan_set_disk(xlsnap_ctx *ctx, revert_plan *p, const char *vdev,
                         const char *path)
{
    char *nc = NULL;
    int rc = xlsnap__config_set_disk(ctx, p->cfg, vdev, path, "qcow2", &nc);

    if (rc) return rc;
    free(p->cfg);
    p->cfg = nc;
    return 0;
}

/*
 * What disk i becomes: external disks get a fresh overlay on the
 * snapshot's backing image; an internal snapshot is applied in place,
 * unless other images are built on that image (an external snapshot
 * taken later): then it is copied out to a new image, so nothing under
 * them changes.
 */
static int plan_disk(xlsnap_ctx *ctx, revert_plan *p, int i)
{
    const xlsnap_disk *d = &p->sn->disks[i];
    char *nc = NULL, *path = NULL;
    bool at_path;
    int deps = 0, rc;

    if (d->kind == XLSNAP_DISK_VOLUME) {
        /* the volume keeps its name: the config stays as it is; refused
         * here (nothing touched yet) when its driver cannot revert it */
        const xlsnap__disk_driver *drv = xlsnap__disk_driver_of(d);
        xlsnap__disk_op op = disk_op(ctx, p, p->st != XLSNAP__DOM_GONE);
        if (!drv || !drv->revert)
            return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "disk %s: "
                                 "storage driver '%s' is unknown to this "
                                 "version", d->vdev,
                                 d->driver ? d->driver : "");
        return drv->revert_check ? drv->revert_check(&op, d) : 0;
    }
    if ((rc = configured_path(ctx, p->cfg, d->vdev, &path))) return rc;
    at_path = path && movable(p->list, p->nr, path);
    if (d->kind == XLSNAP_DISK_INTERNAL && path && !strcmp(path, d->image)) {
        /* the snapshot is inside the active layer: applied there,
         * unless images are built on it (a layer from before active
         * layers stayed in place) */
        rc = xlsnap__dependents(ctx, d->image, &p->known, &deps, NULL);
        if (rc || !deps) goto out;
        at_path = false;
    } else if (d->kind == XLSNAP_DISK_INTERNAL && !at_path) {
        rc = xlsnap__dependents(ctx, d->image, &p->known, &deps, NULL);
        if (rc || !deps) goto out;
    } else if (d->kind == XLSNAP_DISK_EXTERNAL && path &&
               !strcmp(path, d->backing)) {
        at_path = false;
    }
    if (at_path) {
        /* the configured path gets the snapshot's data; the old
         * active layer stays, renamed, as its own branch */
        xlsnap_disk one = { .vdev = d->vdev, .image = path,
                            .format = (char *)"qcow2" };
        p->paths[i] = path;
        path = NULL;
        if (!(p->moved[i] = stamped_sibling(p->paths[i], "before-",
                                             p->sn->name, "-"))) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        rc = xlsnap__config_rewrite(ctx, p->cfg, NULL, NULL, &one, 1, &nc);
        if (rc) goto out;
        free(p->cfg);
        p->cfg = nc;
        goto out;
    }
    p->fresh[i] = stamped_sibling(d->kind == XLSNAP_DISK_INTERNAL
                                  ? d->image : d->backing, "",
                                  p->sn->name, ".rev");
    rc = p->fresh[i] ? plan_set_disk(ctx, p, d->vdev, p->fresh[i])
                     : xlsnap__nomem(ctx);
 out:
    free(path);
    return rc;
}

/* The plan of every disk and the config the domain gets. */
static int plan_disks(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                      revert_plan *p)
{
    int n = p->sn->num_disks ? p->sn->num_disks : 1, rc;

    if ((rc = xlsnap__known_images(ctx, dom, p->list, p->nr, &p->known,
                                   &p->live)))
        return rc;
    p->cfg = xlsnap__strdup(p->sn->config_json);
    p->fresh = calloc(n, sizeof(*p->fresh));
    p->paths = calloc(n, sizeof(*p->paths));
    p->moved = calloc(n, sizeof(*p->moved));
    if (!p->cfg || !p->fresh || !p->paths || !p->moved)
        return xlsnap__nomem(ctx);
    for (int i = 0; i < p->sn->num_disks; i++)
        if ((rc = plan_disk(ctx, p, i))) return rc;
    return 0;
}

/* Intent, then destroy: from here on the old running state is gone. */
static int act_stop(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                    revert_plan *p)
{
    int rc;

    rc = write_intent(ctx, p->sn,
                      p->st != XLSNAP__DOM_GONE ? dom->domid : -1,
                      p->fresh, p->paths, p->moved);
    if (rc) return rc;
    p->intent = true;
    xlsnap__fault_point("revert-intent");
    if (p->st != XLSNAP__DOM_GONE &&
        (rc = xlsnap__hv_destroy(ctx, dom->domid)))
        return rc;
    p->destroyed = true;
    xlsnap__fault_point("revert-destroyed");
    return 0;
}

/* Every disk as planned, through the image backend. */
static int act_disks(xlsnap_ctx *ctx, revert_plan *p)
{
    const xlsnap_snapshot *sn = p->sn;
    int rc = 0;

    for (int i = 0; i < sn->num_disks; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        const xlsnap__disk_driver *drv = xlsnap__disk_driver_of(d);
        if (d->kind == XLSNAP_DISK_VOLUME) {
            xlsnap__disk_op op = disk_op(ctx, p, false);
            rc = drv->revert(&op, d);
            if (rc) return rc;     /* (the driver names the disk) */
            continue;
        }
        if (p->paths[i])
            rc = xlsnap__revert_disk_at(ctx, d, p->paths[i], p->moved[i]);
        else if (d->kind == XLSNAP_DISK_INTERNAL && !p->fresh[i])
            rc = xlsnap__qimg_snapshot(ctx, 'a', d->internal_name, d->image,
                                       d->format);
        else if (d->kind == XLSNAP_DISK_INTERNAL)
            rc = xlsnap__qimg_convert(ctx, d->image, d->format,
                                      d->internal_name, p->fresh[i], 0);
        else
            rc = xlsnap__qimg_create_overlay(ctx, p->fresh[i], d->backing,
                                             d->format);
        if (rc) return xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev);
    }
    xlsnap__fault_point("revert-disks");
    /* records naming the old active layer follow it to its new name */
    for (int i = 0; i < sn->num_disks; i++)
        if (p->paths[i] &&
            (rc = xlsnap__relocate_image(ctx, p->list, p->nr, -1,
                                         p->paths[i], p->moved[i])))
            return rc;
    return 0;
}

/*
 * Restore the memory image with cfg in place of the config in its
 * header: libxl reads the stream straight from the image (never
 * modified), or from a thread decompressing it on the way (nothing
 * uncompressed is written to disk).
 */
static int restore_memory(xlsnap_ctx *ctx, const xlsnap_snapshot *sn,
                          const char *cfg, bool paused, int64_t *domid_r)
{
    const char *image = sn->memory;
    int memfd, srcfd, rc, zrc;
    xlsnap__zpipe z = { .running = false };

    memfd = open(image, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (memfd < 0)
        return xlsnap__error_errno(ctx, errno, "cannot open memory image %s",
                                   image);
    srcfd = memfd;
    if (sn->memory_compression &&
        (rc = xlsnap__zpipe_start(ctx, memfd, false, &z, &srcfd)))
        goto out;
    if ((rc = xlsnap__savefile_read_header(ctx, srcfd, NULL))) {
        rc = xlsnap__error_prefix(ctx, rc, "%s", image);
        goto out;
    }
    rc = xlsnap__hv_create(ctx, cfg, srcfd, paused, domid_r);
 out:
    /* closing the reading end stops a thread the reader left */
    if (srcfd != memfd) close(srcfd);
    zrc = xlsnap__zpipe_finish(ctx, &z, !rc);
    if (!rc) rc = zrc;
    else if (z.err && z.err != EPIPE)
        /* a damaged image is why the restore failed: say that */
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "memory image %s: %s",
                           image, z.msg);
    close(memfd);
    return rc;
}

/*
 * Start the domain: from the memory image (as `xl restore` does), or,
 * for a disk-only snapshot when asked, booted from the config (as
 * `xl create` does); either way through libxl, then watched by the
 * library's monitor, the one create and check give a domain too.
 */
static int act_start(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                     revert_plan *p, unsigned flags)
{
    const xlsnap_snapshot *sn = p->sn;
    bool paused, start;
    int64_t domid;
    int rc;

    paused = flags & XLSNAP_REVERT_PAUSED ||
             (!(flags & XLSNAP_REVERT_RUNNING) && sn->domstate &&
              !strcmp(sn->domstate, "paused"));
    start = sn->memory || (flags & (XLSNAP_REVERT_RUNNING |
                                    XLSNAP_REVERT_PAUSED));
    if (!start) return 0;
    rc = sn->memory ? restore_memory(ctx, sn, p->cfg, paused, &domid)
                    : xlsnap__hv_create(ctx, p->cfg, -1, paused, &domid);
    if (!rc) rc = xlsnap__hv_monitor(ctx, domid, dom->name, p->cfg);
    return rc;
}

/* current := sn (old current cleared first); the intent goes */
static int commit(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                  revert_plan *p)
{
    int rc;

    if ((rc = xlsnap__set_current(ctx, p->list, p->nr, (int)(p->sn - p->list),
                                  xlsnap__store_write)))
        return rc;
    xlsnap__fault_point("revert-current");
    rc = xlsnap__intent_clear(ctx, dom->uuid, XLSNAP__REVERT_INTENT);
    p->intent = false;
    return rc;
}

int xlsnap_revert(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                  const char *name, unsigned flags)
{
    revert_plan p = { .h = XLSNAP__STORE_HANDLE_INIT,
                      .st = XLSNAP__DOM_GONE };
    int rc;

    if ((flags & XLSNAP_REVERT_RUNNING) && (flags & XLSNAP_REVERT_PAUSED))
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                             "choose running or paused, not both");
    if ((rc = plan_target(ctx, dom, name, flags, &p)) ||
        (rc = plan_disks(ctx, dom, &p)) ||
        (rc = act_stop(ctx, dom, &p)) ||
        (rc = act_disks(ctx, &p)) ||
        (rc = act_start(ctx, dom, &p, flags)))
        goto out;
    xlsnap__fault_point("revert-started");
    rc = commit(ctx, dom, &p);
 out:
    /* nothing was changed yet: the intent goes (a revert that failed
     * later keeps it for check --repair) */
    if (p.intent && !p.destroyed)
        xlsnap__intent_clear(ctx, dom->uuid, XLSNAP__REVERT_INTENT);
    revert_plan_dispose(&p);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
