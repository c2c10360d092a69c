/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * create.c - take a snapshot
 *
 * Order of work (crash safety): the record is written as "preparing"
 * before any data is touched and becomes "ready" (and current) only when
 * every part exists.  Any failure resumes the guest and removes what was
 * made; what cannot be undone leaves the record "preparing" with the
 * reason in the error.  The memory image is synced after the guest runs
 * again, outside its downtime (`xl save -c` does not sync at all); until
 * then the store's unsynced mark says which boot wrote it, so that check
 * completes the snapshot only if the image cannot have been lost.
 */
#include "internal.h"
#include "backend/disk.h"

#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

void xlsnap_create_params_init(xlsnap_create_params *p)
{
    memset(p, 0, sizeof(*p));
    p->memory = -1;
}

/* The record of the latest snapshot (for its stored config), or NULL. */
static const xlsnap_snapshot *latest(const xlsnap_snapshot *l, int nr)
{
    return nr ? &l[nr - 1] : NULL;      /* list is sorted by time */
}

static const xlsnap_cfg_disk *wanted(const xlsnap_create_params *p,
                                     const char *vdev)
{
    for (int i = 0; i < p->num_disks; i++)
        if (!strcmp(p->disks[i].vdev, vdev)) return &p->disks[i];
    return NULL;
}

/* Every disk asked for by vdev is one of the domain's. */
static int check_wanted(xlsnap_ctx *ctx, const xlsnap_create_params *p,
                        const xlsnap__cfgdisk *cd, int ncd)
{
    for (int i = 0; i < p->num_disks; i++) {
        bool found = false;
        for (int j = 0; j < ncd; j++)
            found |= !strcmp(cd[j].vdev, p->disks[i].vdev);
        if (!found)
            return xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND,
                                 "the domain has no disk %s",
                                 p->disks[i].vdev);
    }
    return 0;
}

/* Whether config disk d is left out (*skip_r): not selected, a CD-ROM
 * or read-only disk (by default; asked for: an error), an empty
 * drive. */
static int skipped(xlsnap_ctx *ctx, const xlsnap_create_params *p,
                   const xlsnap__cfgdisk *d, bool *skip_r)
{
    const xlsnap_cfg_disk *w = wanted(p, d->vdev);

    *skip_r = true;
    if (p->num_disks && !w) return 0;
    if (d->cdrom || !d->readwrite) {
        if (w)
            return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP,
                                 "disk %s is %s and cannot be "
                                 "snapshotted", d->vdev,
                                 d->cdrom ? "a CD-ROM" : "read-only");
        return 0;
    }
    *skip_r = !d->path || !*d->path;    /* empty drive */
    return 0;
}

/*
 * Decide which disks to snapshot and how.  Every writable disk by
 * default (CD-ROMs and read-only disks skipped); each planned by its
 * driver from the disk-driver layer (backend/disk.h), which refuses
 * what it cannot snapshot, naming the disk.
 */
static int plan_disks(xlsnap_ctx *ctx, const xlsnap_create_params *p,
                      const char *config, bool running, const char *uuid,
                      const char *name, xlsnap_snapshot *s)
{
    xlsnap__disk_plan pl = { .ctx = ctx, .p = p, .config = config,
                             .running = running, .uuid = uuid,
                             .snap = name };
    xlsnap__cfgdisk *cd = NULL;
    int ncd = 0, rc;

    if ((rc = xlsnap__config_disks(ctx, config, &cd, &ncd)) ||
        (rc = check_wanted(ctx, p, cd, ncd)))
        goto out;
    s->disks = calloc(ncd ? ncd : 1, sizeof(*s->disks));
    if (!s->disks) { rc = xlsnap__nomem(ctx); goto out; }
    for (int i = 0; i < ncd; i++) {
        const xlsnap__disk_driver *drv;
        bool skip;
        if ((rc = skipped(ctx, p, &cd[i], &skip))) goto out;
        if (skip) continue;
        if ((rc = xlsnap__disk_select(ctx, &cd[i], running, &drv)))
            goto out;
        pl.want = wanted(p, cd[i].vdev);
        /* (counted first: a half-filled entry is freed with s) */
        if ((rc = drv->plan(&pl, &cd[i], &s->disks[s->num_disks++])))
            goto out;
    }
 out:
    xlsnap__cfgdisk_list_free(cd, ncd);
    return rc;
}

/* A failed memory save on a full filesystem: say what ran out. */
static int explain_space(xlsnap_ctx *ctx, int rc, int fd, const char *path)
{
    struct statvfs vfs;
    struct stat st;

    if (fstatvfs(fd, &vfs) == 0 && fstat(fd, &st) == 0 &&
        (unsigned long long)vfs.f_bavail * vfs.f_frsize < (4ull << 20))
        return xlsnap__error(ctx, XLSNAP_ERROR_NOSPACE,
                             "no space left for the memory image %s (%lld "
                             "bytes written before the filesystem filled "
                             "up); the guest was resumed", path,
                             (long long)st.st_size);
    return rc;
}

/*
 * The memory image into memfd: libxl's stream as it comes, or (zstd)
 * through a pipe to a thread compressing it into memfd.  On success the
 * guest is suspended; on failure hv_save resumed it.  Not synced here
 * (act_sync_memory).
 */
static int save_memory(xlsnap_ctx *ctx, int64_t domid, int memfd,
                       const xlsnap_create_params *p, xlsnap_snapshot *sn)
{
    xlsnap__zpipe z;
    int fd = memfd, rc, zrc;

    if (p->compress &&
        (rc = xlsnap__zpipe_start(ctx, memfd, true, &z, &fd)))
        return rc;
    rc = xlsnap__hv_save(ctx, domid, fd, sn->config_json, p->live,
                         &sn->memory_live);
    if (p->compress) {
        close(fd);
        zrc = xlsnap__zpipe_finish(ctx, &z, !rc);
        if (!rc && zrc) {
            /* the guest is suspended and the image is incomplete */
            xlsnap__errsaved saved;
            xlsnap__errsave(ctx, &saved);
            xlsnap__hv_resume(ctx, domid);
            xlsnap__errrestore(ctx, &saved);
            rc = zrc;
        }
    }
    return rc;
}

/* Remove what create made in the state dir and the record. */
static void discard(xlsnap_ctx *ctx, const xlsnap_snapshot *sn)
{
    if (sn->memory) unlink(sn->memory);
    xlsnap__store_remove(ctx, sn->domain_uuid, sn->name);
}

/*
 * One create: the plan fills it (against the domain's records, loaded
 * under its lock through the store handle), the act phase marks in it
 * what it did, and xlsnap_create's one exit undoes exactly that.
 */
typedef struct {
    const xlsnap_domain *dom;
    const xlsnap_create_params *p;
    xlsnap__store_handle h;     /* lock (none on a dry run) and records */
    xlsnap_snapshot sn;         /* the record being made */
    xlsnap__domstate st;
    bool running;               /* running or paused: QEMU serves disks */
    xlsnap__disk_takes takes;   /* the disk drivers' (prepared) */
    int memfd;                  /* the memory image, saved, not yet
                                   synced (-1: none) */
    /* done by the act phase, undone on failure: */
    bool recorded;              /* a "preparing" record and no data yet */
    bool suspended;             /* the guest, by the memory save */
    xlsnap__qga qga;            /* quiesce: the guest agent (qga.frozen:
                                   a thaw is due) */
    bool paused;                /* the guest, by us */
} create_op;

static void create_op_init(create_op *op, const xlsnap_domain *dom,
                           const xlsnap_create_params *p)
{
    memset(op, 0, sizeof(*op));
    op->dom = dom;
    op->p = p;
    op->h = (xlsnap__store_handle)XLSNAP__STORE_HANDLE_INIT;
    xlsnap_snapshot_init(&op->sn);
    op->st = XLSNAP__DOM_GONE;
    op->memfd = -1;
    xlsnap__qga_init(&op->qga);
}

static void create_op_dispose(create_op *op)
{
    if (op->memfd >= 0) close(op->memfd);
    xlsnap__disk_takes_dispose(&op->takes);
    xlsnap__store_close(&op->h);
    xlsnap_snapshot_dispose(&op->sn);
    xlsnap__qga_close(&op->qga);
}

/* quiesce asked with memory: refused (plan_name, plan_quiesce) */
static int refuse_quiesce(xlsnap_ctx *ctx)
{
    return xlsnap__error_hint(ctx, XLSNAP_ERROR_INVAL,
                              XLSNAP_HINT_QUIESCE_NEEDS_DISK_ONLY,
                              "quiescing applies to a disk-only snapshot: "
                              "a snapshot with memory is consistent by "
                              "itself");
}

/* Plan 1: the name, and what the parameters alone must satisfy. */
static int plan_name(xlsnap_ctx *ctx, create_op *op)
{
    const xlsnap_create_params *p = op->p;
    int rc;

    op->sn.name = p->name ? xlsnap__strdup(p->name)
                          : xlsnap__sprintf("%lld", (long long)time(NULL));
    if (!op->sn.name) return xlsnap__nomem(ctx);
    if ((rc = xlsnap_name_validate(ctx, op->sn.name))) return rc;
    if (p->description && !xlsnap__utf8_valid(p->description))
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                             "the description is not valid UTF-8");
    if (p->quiesce && p->memory == 1) return refuse_quiesce(ctx);
    if (p->compress && strcmp(p->compress, XLSNAP__ZSTD))
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "unknown compression "
                             "'%s' (only zstd)", p->compress);
    return 0;
}

/* Plan 2: the domain's records, under its lock (a dry run takes none
 * and makes no directory): the name is free; the current snapshot is
 * the parent. */
static int plan_tree(xlsnap_ctx *ctx, create_op *op)
{
    const xlsnap_snapshot *l;
    int rc;

    rc = op->p->dry_run
        ? xlsnap__store_list(ctx, op->dom->uuid, &op->h.list, &op->h.nr)
        : xlsnap__store_open(ctx, op->dom->uuid, XLSNAP__STORE_CREATE,
                             &op->h);
    if (rc) return rc;
    l = op->h.list;
    if (xlsnap__list_find(l, op->h.nr, op->sn.name) >= 0)
        return xlsnap__error(ctx, XLSNAP_ERROR_EXISTS,
                             "domain already has a snapshot '%s'",
                             op->sn.name);
    /* a renamed snapshot keeps its internal snapshots' names (edit.c) */
    if ((rc = xlsnap__name_free(ctx, l, op->h.nr, op->sn.name))) return rc;
    for (int i = 0; i < op->h.nr; i++) {
        if (!l[i].current) continue;
        free(op->sn.parent);
        if (!(op->sn.parent = xlsnap__strdup(l[i].name)))
            return xlsnap__nomem(ctx);
    }
    return 0;
}

/* Plan 3: whether the domain runs, and its config: the running
 * domain's, the caller's, or the one stored with the latest snapshot. */
static int plan_domain(xlsnap_ctx *ctx, create_op *op)
{
    const xlsnap_domain *dom = op->dom;
    const xlsnap_snapshot *l;
    const char *cfg;
    int rc;

    if (dom->domid >= 0) {
        if ((rc = xlsnap__hv_state(ctx, dom->domid, &op->st))) return rc;
        op->running = op->st == XLSNAP__DOM_RUNNING ||
                      op->st == XLSNAP__DOM_PAUSED;
        if (!op->running && op->st != XLSNAP__DOM_GONE)
            return xlsnap__error(ctx, XLSNAP_ERROR_BUSY,
                                 "domain %s is shutting down or suspended; "
                                 "try again when it runs or is destroyed",
                                 dom->name ? dom->name : dom->uuid);
    }
    if (op->running)
        return xlsnap__hv_config(ctx, dom->domid, &op->sn.config_json);
    cfg = op->p->config_json;
    if (!cfg) {
        l = latest(op->h.list, op->h.nr);
        if (!l || !l->config_json)
            return xlsnap__error_hint(ctx, XLSNAP_ERROR_NOTFOUND,
                                      XLSNAP_HINT_DOMAIN_CONFIG,
                                 "domain is not running and no "
                                 "configuration is stored for it");
        cfg = l->config_json;
    }
    op->sn.config_json = xlsnap__strdup(cfg);
    return op->sn.config_json ? 0 : xlsnap__nomem(ctx);
}

/* Plan 4: the record's own fields, "preparing". */
static int plan_record(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap_snapshot *sn = &op->sn;
    const xlsnap_domain *dom = op->dom;

    sn->description = xlsnap__strdup(op->p->description);
    sn->creationtime = time(NULL);
    sn->state = XLSNAP_STATE_PREPARING;
    sn->domstate = xlsnap__strdup(!op->running ? "shutoff" :
                                  op->st == XLSNAP__DOM_PAUSED ? "paused"
                                                               : "running");
    sn->domain_name = xlsnap__strdup(dom->name);
    sn->domain_uuid = xlsnap__strdup(dom->uuid);
    if ((op->p->description && !sn->description) || !sn->domstate ||
        (dom->name && !sn->domain_name) || (dom->uuid && !sn->domain_uuid))
        return xlsnap__nomem(ctx);
    return 0;
}

/* Plan 5: the memory image, if any: saved by default when running. */
static int plan_memory(xlsnap_ctx *ctx, create_op *op)
{
    const xlsnap_create_params *p = op->p;
    xlsnap_snapshot *sn = &op->sn;
    int rc;

    if (p->memory == 1 || (p->memory < 0 && op->running)) {
        if (!op->running)
            return xlsnap__error_hint(ctx, XLSNAP_ERROR_NOTSUP,
                                      XLSNAP_HINT_NO_MEMORY,
                                 "the domain is not running: there is no "
                                 "memory to save");
        if (p->memory_path) {
            if (!(sn->memory = xlsnap__strdup(p->memory_path)))
                return xlsnap__nomem(ctx);
        } else if ((rc = xlsnap__store_memory_path(ctx, op->dom->uuid,
                                                   sn->name,
                                                   p->compress != NULL,
                                                   &sn->memory))) {
            return rc;
        }
        sn->memory_compression = xlsnap__strdup(p->compress);
        if (p->compress && !sn->memory_compression)
            return xlsnap__nomem(ctx);
    }
    if (p->compress && !sn->memory)
        return xlsnap__error_hint(ctx, XLSNAP_ERROR_INVAL,
                                  XLSNAP_HINT_COMPRESS_NEEDS_MEMORY,
                                  "compression applies to the memory "
                                  "image, and this snapshot has none");
    return 0;
}

/* Plan 6: quiesce.  Only for a disk-only snapshot (as libvirt: a
 * memory image is consistent by itself); a domain that is not running
 * has no file system in use: nothing to freeze, no field.  A running
 * one plans "filesystem", made "crash" if the freeze cannot be done. */
static int plan_quiesce(xlsnap_ctx *ctx, create_op *op)
{
    if (!op->p->quiesce) return 0;
    if (op->sn.memory) return refuse_quiesce(ctx);
    if (!op->running || !op->sn.num_disks) return 0;
    op->sn.consistency = xlsnap__strdup("filesystem");
    return op->sn.consistency ? 0 : xlsnap__nomem(ctx);
}

/* The plan: every check made and every path chosen before anything is
 * touched. */
static int create_plan(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap_snapshot *sn = &op->sn;
    int rc;

    if (op->p->snapshot_size &&
        (rc = xlsnap_snapshot_size_check(ctx, op->p->snapshot_size)))
        return rc;
    if ((rc = plan_name(ctx, op)) || (rc = plan_tree(ctx, op)) ||
        (rc = plan_domain(ctx, op)) || (rc = plan_record(ctx, op)) ||
        (rc = plan_memory(ctx, op)) ||
        (rc = plan_disks(ctx, op->p, sn->config_json, op->running,
                         op->dom->uuid, sn->name, sn)) ||
        (rc = plan_quiesce(ctx, op)))
        return rc;
    if (!sn->num_disks && !sn->memory)
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                             "nothing to snapshot: no writable disk "
                             "selected and no memory");
    if (op->p->reuse_external) {
        bool reused = false;
        for (int i = 0; i < sn->num_disks; i++)
            reused |= sn->disks[i].reused != NULL;
        if (!reused)
            return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "no external "
                                 "disk snapshot to reuse an overlay for");
    }
    if (op->p->no_metadata && sn->memory)
        return xlsnap__error_hint(ctx, XLSNAP_ERROR_INVAL,
                                  XLSNAP_HINT_NO_METADATA_NEEDS_DISK_ONLY,
                                  "a snapshot without a record keeps no "
                                  "memory image: one without a record "
                                  "cannot be reverted");
    return 0;
}

/* What the disk drivers get: the domain and the record being made. */
static xlsnap__disk_op disk_op(xlsnap_ctx *ctx, const create_op *op)
{
    xlsnap__disk_op dop = XLSNAP__DISK_OP(ctx, op->sn.domain_uuid);

    dop.dom = op->dom;
    dop.sn = &op->sn;
    dop.running = op->running;
    return dop;
}

/* Act 1: intent, a "preparing" record before any data is touched.
 * Then the disk drivers prepare their take while the guest still runs
 * (for a disk-only snapshot, the qcow2 driver's transaction is ready
 * before the pause, which then lasts little more than it). */
static int act_record(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap__disk_op dop = disk_op(ctx, op);
    char boot[XLSNAP__BOOT_ID_MAX];
    int rc;

    if ((rc = xlsnap__store_write(ctx, &op->sn))) return rc;
    op->recorded = true;
    /* (an unreadable boot id marks "": check then never trusts the
     * image's sync, as after a restart) */
    if (op->sn.memory) {
        xlsnap__boot_id(boot);
        if ((rc = xlsnap__store_unsynced_mark(ctx, op->sn.domain_uuid,
                                              op->sn.name, boot)))
            return rc;
    }
    xlsnap__fault_point("create-prepared");
    return xlsnap__disks_prepare(&dop, &op->takes);
}

/* Act 1b: quiesce, while the guest still runs (before the pause): its
 * agent freezes its file systems.  An agent that cannot be reached or
 * does not freeze costs the snapshot nothing: it goes on
 * crash-consistent, with a warning and the record saying so. */
static int act_freeze(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap__errsaved saved;
    char *path = NULL;
    int nfs = 0, rc;

    if (!op->sn.consistency) return 0;
    xlsnap__errsave(ctx, &saved);
    if (op->st == XLSNAP__DOM_PAUSED)
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "the domain is paused, "
                           "so its guest agent cannot answer");
    else if (!(rc = xlsnap__qga_channel(ctx, op->dom->domid, &path)) &&
             !(rc = xlsnap__qga_open(ctx, path, &op->qga)))
        rc = xlsnap__qga_freeze(ctx, &op->qga, &nfs);
    free(path);
    if (rc) {
        xlsnap__warn(ctx, "snapshot '%s' is only crash-consistent: the "
                     "guest's file systems were not frozen: %s",
                     op->sn.name, xlsnap_last_error(ctx));
        xlsnap__qga_thaw(ctx, &op->qga);  /* a late freeze must not stay */
        xlsnap__qga_close(&op->qga);
        free(op->sn.consistency);
        op->sn.consistency = xlsnap__strdup("crash");
    }
    xlsnap__errrestore(ctx, &saved);
    xlsnap__fault_point("create-frozen");
    return op->sn.consistency ? 0 : xlsnap__nomem(ctx);
}

/* Act 6: thaw what act_freeze froze, once the guest runs again (also
 * on the way out of a failure, create_undo).  A thaw that fails leaves
 * the snapshot as taken, with a warning: the guest's file systems may
 * still be frozen. */
static void act_thaw(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap__errsaved saved;

    if (!op->qga.frozen) return;
    xlsnap__errsave(ctx, &saved);
    if (xlsnap__qga_thaw(ctx, &op->qga))
        xlsnap__warn(ctx, "the guest's file systems may still be frozen: "
                     "%s; thaw them in the guest (fsfreeze -u MOUNTPOINT)",
                     xlsnap_last_error(ctx));
    xlsnap__qga_close(&op->qga);
    xlsnap__errrestore(ctx, &saved);
}

/* Act 2: the memory image (the guest is suspended when it is saved) or
 * a pause. */
static int act_stop(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap_snapshot *sn = &op->sn;
    int memfd, rc;

    if (sn->memory) {
        memfd = open(sn->memory, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
                     O_CLOEXEC, 0600);
        if (memfd < 0)
            return xlsnap__error_errno(ctx, errno, "cannot create memory "
                                       "image %s", sn->memory);
        rc = save_memory(ctx, op->dom->domid, memfd, op->p, sn);
        if (rc) {
            rc = explain_space(ctx, rc, memfd, sn->memory);
            close(memfd);
            return rc;               /* hv_save resumed the guest */
        }
        op->memfd = memfd;
        op->suspended = true;
    } else if (op->running && op->st == XLSNAP__DOM_RUNNING) {
        xlsnap__disk_op dop = disk_op(ctx, op);
        if ((rc = xlsnap__disks_connect(&dop, &op->takes))) return rc;
        if ((rc = xlsnap__hv_pause(ctx, op->dom->domid, true))) {
            xlsnap__disks_disconnect(&op->takes);
            return rc;
        }
        op->paused = true;
    }
    xlsnap__fault_point("create-memory");
    return 0;
}

/* Act 3: every disk at the same instant, through its driver; on
 * failure no disk was changed. */
static int act_disks(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap__disk_op dop = disk_op(ctx, op);

    return xlsnap__disks_take(&dop, op->p->snapshot_size, &op->takes);
}

/* Act 4: the drivers finish their take while the guest is still
 * stopped (a running domain that now writes to new qcow2 overlays gets
 * its own config, libxl's stored config and xenstore, saying so). */
static int act_live_disks(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap__disk_op dop = disk_op(ctx, op);
    int rc;

    if ((rc = xlsnap__disks_commit(&dop, &op->takes))) return rc;
    xlsnap__fault_point("create-live-disks");
    return 0;
}

/* Act 5: let the guest run again.  xl's monitor of the domain leaves
 * when the domain suspends (as after `xl save -c`); ours takes over, so
 * a later reboot or crash is still handled.  A paused domain stays
 * paused (as `xl save -c -p` does it). */
static int act_resume(xlsnap_ctx *ctx, create_op *op)
{
    int64_t domid = op->dom->domid;
    int rc;

    if (op->suspended && op->st == XLSNAP__DOM_PAUSED &&
        (rc = xlsnap__hv_pause(ctx, domid, true)))
        return rc;
    if (op->suspended) {
        op->suspended = false;
        if ((rc = xlsnap__hv_resume(ctx, domid))) return rc;
        /* (a monitor that cannot start costs no data: not an error) */
        xlsnap__hv_monitor(ctx, domid, op->dom->name, op->sn.config_json);
    }
    if (op->paused) {
        op->paused = false;
        if ((rc = xlsnap__hv_pause(ctx, domid, false))) return rc;
    }
    xlsnap__fault_point("create-resumed");
    return 0;
}

/* Act 7: the memory image reaches the disk, now that the guest runs
 * again, and the unsynced mark goes.  The disks are taken: a failure
 * leaves the record "preparing", its mark saying "failed" (a later
 * sync may succeed on pages the failed one dropped), and check then
 * rolls the snapshot back. */
static int act_sync_memory(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap_snapshot *sn = &op->sn;
    int fd = op->memfd, rc = 0;

    if (fd < 0) return 0;
    op->memfd = -1;
    xlsnap__fault_point("create-memory-sync");
    if (fsync(fd) < 0) {
        int e = errno;
        if (e == ENOSPC || e == EDQUOT)
            rc = xlsnap__error(ctx, XLSNAP_ERROR_NOSPACE, "no space left "
                               "for the memory image %s", sn->memory);
        else
            rc = xlsnap__error_errno(ctx, e, "cannot write memory image "
                                     "%s", sn->memory);
        xlsnap__errsaved saved;
        xlsnap__errsave(ctx, &saved);
        xlsnap__store_unsynced_mark(ctx, sn->domain_uuid, sn->name,
                                    XLSNAP__UNSYNCED_FAILED);
        xlsnap__errrestore(ctx, &saved);
    }
    close(fd);
    if (rc)
        return xlsnap__error_prefix(ctx, rc, "snapshot '%s' was taken and "
                                    "the guest runs again, but its memory "
                                    "image is not on disk; the snapshot is "
                                    "left preparing", sn->name);
    if ((rc = xlsnap__store_unsynced_clear(ctx, sn->domain_uuid, sn->name)))
        rc = xlsnap__error_prefix(ctx, rc, "snapshot '%s' was taken and "
                                  "the guest runs again, but it is left "
                                  "preparing", sn->name);
    return rc;
}

/* The act: the data, through the backends.  Once the disks are taken a
 * failure keeps the "preparing" record (and the memory image) for
 * check --repair instead of leaving unrecorded disk snapshots behind. */
static int create_act(xlsnap_ctx *ctx, create_op *op)
{
    int rc;

    if ((rc = act_record(ctx, op)) || (rc = act_freeze(ctx, op)) ||
        (rc = act_stop(ctx, op)) || (rc = act_disks(ctx, op)))
        return rc;
    op->recorded = false;
    xlsnap__fault_point("create-disks");
    if ((rc = act_live_disks(ctx, op)) || (rc = act_resume(ctx, op)))
        return rc;
    act_thaw(ctx, op);
    return act_sync_memory(ctx, op);
}

/* The commit, through the handle: ready and current (old current
 * cleared first); with no_metadata, the record goes instead (the data
 * stays). */
static int create_commit(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap_snapshot *sn = &op->sn;
    int rc = 0;

    if (op->p->no_metadata) {
        discard(ctx, sn);
        sn->state = XLSNAP_STATE_READY;
        return 0;
    }
    /* records naming an image now frozen under a new name (a disk
     * with a backing image: its image moved there) follow it */
    for (int i = 0; i < sn->num_disks && !rc; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        if (!d->backing) continue;
        rc = xlsnap__relocate_image(ctx, op->h.list, op->h.nr, -1, d->image,
                                    d->backing);
    }
    if (rc || (rc = xlsnap__set_current(ctx, op->h.list, op->h.nr, -1,
                                        xlsnap__store_write)))
        goto out;
    xlsnap__fault_point("create-current-cleared");
    sn->state = XLSNAP_STATE_READY;
    sn->current = true;
    rc = xlsnap__store_write(ctx, sn);
 out:
    if (rc)
        rc = xlsnap__error_prefix(ctx, rc, "snapshot '%s' was taken but its "
                                  "record could not be completed", sn->name);
    return rc;
}

/* Undo what the act phase did and did not hand on: the guest runs as
 * before, and a record without data goes (with its memory image). */
static void create_undo(xlsnap_ctx *ctx, create_op *op)
{
    xlsnap__errsaved saved;

    if (!op->suspended && !op->paused && !op->recorded && !op->qga.frozen)
        return;
    xlsnap__errsave(ctx, &saved);
    xlsnap__disks_disconnect(&op->takes);   /* before any unpause */
    if (op->suspended) xlsnap__hv_resume(ctx, op->dom->domid);
    if (op->paused) xlsnap__hv_pause(ctx, op->dom->domid, false);
    act_thaw(ctx, op);                  /* once the guest runs */
    if (op->recorded) discard(ctx, &op->sn);
    xlsnap__errrestore(ctx, &saved);
}

int xlsnap_create(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                  const xlsnap_create_params *p, xlsnap_snapshot *snap_r)
{
    create_op op;
    int rc;

    create_op_init(&op, dom, p);
    xlsnap__warn(ctx, NULL);
    if ((rc = create_plan(ctx, &op)) || p->dry_run) goto out;
    if ((rc = create_act(ctx, &op))) goto out;
    rc = create_commit(ctx, &op);
 out:
    if (rc) {
        create_undo(ctx, &op);
    } else {
        *snap_r = op.sn;
        xlsnap_snapshot_init(&op.sn);
    }
    create_op_dispose(&op);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
