/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * revert.c - put a domain back to a snapshot
 *
 *  1. refuse a running domain without XLSNAP_REVERT_FORCE;
 *  2. destroy it (its device model closes the images);
 *  3. disks: each through its driver (backend/disk.h), planned before
 *     step 2: qcow2 internal -> qemu-img snapshot -a (or, when other
 *     images are built on that image, a copy of the snapshot into a new
 *     image); external -> a fresh overlay on the snapshot's backing
 *     image (the old overlay stays, as its own branch: later snapshots
 *     may live in it); volumes -> their driver's revert;
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

/* {"snapshot": name, "domid": N, "fresh": [overlay or null, ...],
 *  "paths": [configured path or null, ...], "moved": [where the old
 *  active layer goes, or null, ...]} */
enum { FRESH, PATH, MOVED };

static int gen_paths(yajl_gen g, const char *key, int n,
                     const xlsnap__disk_revert *rv, int which)
{
    if (xlsnap__gen_str(g, key) || yajl_gen_array_open(g)) return -1;
    for (int i = 0; i < n; i++)
        if (xlsnap__gen_str(g, which == FRESH ? rv[i].fresh :
                               which == PATH ? rv[i].path : rv[i].moved))
            return -1;
    return yajl_gen_array_close(g) ? -1 : 0;
}

static int write_intent(xlsnap_ctx *ctx, const xlsnap_snapshot *sn,
                        int64_t domid, const xlsnap__disk_revert *rv)
{
    yajl_gen g = xlsnap__gen_alloc();
    char *json = NULL;
    int n = sn->num_disks, rc;

    if (!g) return xlsnap__nomem(ctx);
    if (yajl_gen_map_open(g) ||
        xlsnap__gen_kv_str(g, "snapshot", sn->name) ||
        xlsnap__gen_kv_int(g, "domid", domid) ||
        gen_paths(g, "fresh", n, rv, FRESH) ||
        gen_paths(g, "paths", n, rv, PATH) ||
        gen_paths(g, "moved", n, rv, MOVED) ||
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
    xlsnap__disk_revert *rv;      /* per disk of sn: its driver's plan */
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
    op.list = p->list;
    op.nr = p->nr;
    op.running = running;
    op.live = &p->live;
    op.known = &p->known;
    return op;
}

static void revert_plan_dispose(revert_plan *p)
{
    for (int i = 0; p->rv && p->sn && i < p->sn->num_disks; i++) {
        free(p->rv[i].fresh);
        free(p->rv[i].path);
        free(p->rv[i].moved);
    }
    free(p->rv);
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

/*
 * What disk i becomes, as its driver plans it; refused here (nothing
 * touched yet) when its driver cannot revert it.  A qcow2 image
 * (internal, external) whatever its record's "driver".
 */
static int plan_disk(xlsnap_ctx *ctx, revert_plan *p, int i)
{
    const xlsnap_disk *d = &p->sn->disks[i];
    const xlsnap__disk_driver *drv = xlsnap__disk_driver_ops(d);
    xlsnap__disk_op op = disk_op(ctx, p, p->st != XLSNAP__DOM_GONE);
    int rc;

    if (!drv || !drv->revert)
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "disk %s: storage "
                             "driver '%s' is unknown to this version",
                             d->vdev, d->driver ? d->driver : "");
    if (drv->revert_check && (rc = drv->revert_check(&op, d))) return rc;
    return drv->revert_plan ? drv->revert_plan(&op, d, &p->rv[i], &p->cfg)
                            : 0;
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
    p->rv = calloc(n, sizeof(*p->rv));
    if (!p->cfg || !p->rv)
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
                      p->rv);
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

/* Every disk as planned, through its driver. */
static int act_disks(xlsnap_ctx *ctx, revert_plan *p)
{
    const xlsnap_snapshot *sn = p->sn;
    int rc = 0;

    for (int i = 0; i < sn->num_disks; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        const xlsnap__disk_driver *drv = xlsnap__disk_driver_ops(d);
        xlsnap__disk_op op = disk_op(ctx, p, false);
        op.rv = &p->rv[i];
        if ((rc = drv->revert(&op, d)))
            return rc;             /* (the driver names the disk) */
    }
    xlsnap__fault_point("revert-disks");
    /* records naming an old image moved aside follow it to its new name */
    for (int i = 0; i < sn->num_disks; i++)
        if (p->rv[i].path && p->rv[i].moved &&
            (rc = xlsnap__relocate_image(ctx, p->list, p->nr, -1,
                                         p->rv[i].path, p->rv[i].moved)))
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
