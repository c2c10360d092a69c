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
 *  4. memory: `xl restore` fed through a FIFO with the stored config
 *     (disk paths rewritten) in a new header followed by the image's
 *     stream, so the domain gets xl's usual monitor (reboot, shutdown
 *     handling) and the image itself is never modified;
 *     disk-only: the domain stays off unless RUNNING/PAUSED, then it is
 *     created from the stored config;
 *  5. the snapshot becomes current.
 * Crash safety: before step 2 an intent file (store.c) names the
 * snapshot, the domain id being destroyed and the new overlays; it is
 * removed at the end.  check --repair finishes or rolls back a revert
 * that left it behind.
 */
#include "internal.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *xl_prog(void)
{
    const char *p = getenv("XL_SNAPSHOT_XL");
    return p && *p ? p : "xl";
}

/* <stem>.<tag0>[-n].qcow2 next to image, the first n that is free */
static char *unused_sibling(const char *image, const char *tag0)
{
    char *tag = NULL, *r = NULL;

    for (int n = 0; n < 1000; n++) {
        free(tag);
        free(r);
        tag = n ? xlsnap__sprintf("%s-%d", tag0, n) : xlsnap__strdup(tag0);
        r = xlsnap__image_sibling(image, tag);
        if (access(r, F_OK) < 0) break;
    }
    free(tag);
    return r;
}

/* A new overlay path next to backing: <stem>.<name>.rev<time>[-n].qcow2 */
static char *fresh_overlay(const char *backing, const char *name)
{
    char *tag0 = xlsnap__sprintf("%s.rev%lld", name, (long long)time(NULL));
    char *r = unused_sibling(backing, tag0);

    free(tag0);
    return r;
}

static int copy_fd(xlsnap_ctx *ctx, int in, int out)
{
    static char buf[1 << 20];

    for (;;) {
        ssize_t n = xlsnap__read_some(in, buf, sizeof(buf));
        int e;
        if (n < 0)
            return xlsnap__error_errno(ctx, -n, "cannot read memory "
                                       "image");
        if (n == 0) return 0;
        if ((e = xlsnap__write_all(out, buf, n)))
            return xlsnap__error_errno(ctx, -e, "cannot feed xl "
                                       "restore");
    }
}

/*
 * Restore the memory image with config_json in place of the config in
 * its header: a child writes header + stream into a FIFO that
 * `xl restore` reads.  A compressed image is decompressed on the way by
 * a thread (nothing uncompressed is written to disk).
 */
static int restore_memory(xlsnap_ctx *ctx, const char *fifo_path,
                          const xlsnap_snapshot *sn, const char *config_json,
                          bool paused)
{
    char *fifo = NULL, *out = NULL, *err = NULL, *why = NULL;
    const char *image = sn->memory;
    int memfd = -1, srcfd = -1, status, wst, rc, zrc;
    pid_t writer = -1;
    xlsnap__zpipe z = { .running = false };

    memfd = open(image, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (memfd < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot open memory image %s",
                                 image);
        goto out;
    }
    srcfd = memfd;
    if (sn->memory_compression &&
        (rc = xlsnap__zpipe_start(ctx, memfd, false, &z, &srcfd)))
        goto out;
    if ((rc = xlsnap__savefile_read_header(ctx, srcfd, NULL))) {
        rc = xlsnap__error_prefix(ctx, rc, "%s", image);
        goto out;
    }
    fifo = xlsnap__strdup(fifo_path);
    unlink(fifo);
    if (mkfifo(fifo, 0600) < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot create %s", fifo);
        goto out;
    }
    writer = fork();
    if (writer < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot fork");
        goto out;
    }
    if (writer == 0) {
        int fd;
        /* the thread's end of the pipe stays with the thread */
        if (z.running) close(z.fd);
        fd = open(fifo, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) xlsnap__pipe_grow(fd);
        signal(SIGPIPE, SIG_IGN);
        if (fd < 0 || xlsnap__savefile_write_header(ctx, fd, config_json) ||
            copy_fd(ctx, srcfd, fd))
            _exit(1);
        _exit(close(fd) ? 1 : 0);
    }
    {
        /* xl daemonises a monitor for the domain, as for any restore */
        const char *argv[] = { xl_prog(), "restore", fifo, NULL, NULL };
        if (paused) argv[2] = "-p", argv[3] = fifo;
        rc = xlsnap__spawn(ctx, argv, -1, &out, &err, &status);
    }
    if (rc) goto out;
    if (status) {
        why = xlsnap__last_line(err, NULL);
        rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR,
                           "xl restore failed: %s", why);
    }
 out:
    if (writer > 0) {
        if (rc) kill(writer, SIGKILL);
        /* unblock a writer still waiting for a reader */
        if (rc && fifo) {
            int fd = open(fifo, O_RDONLY | O_NONBLOCK);
            if (fd >= 0) close(fd);
        }
        while (waitpid(writer, &wst, 0) < 0 && errno == EINTR) ;
        if (!rc && !(WIFEXITED(wst) && WEXITSTATUS(wst) == 0))
            rc = xlsnap__error(ctx, XLSNAP_ERROR_IO, "could not feed the "
                               "memory image to xl restore");
    }
    if (fifo) unlink(fifo);
    /* closing the reading end stops a thread the reader left */
    if (srcfd >= 0 && srcfd != memfd) close(srcfd);
    zrc = xlsnap__zpipe_finish(ctx, &z, !rc);
    if (!rc) rc = zrc;
    else if (z.err && z.err != EPIPE)
        /* a damaged image is why xl restore failed: say that */
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "memory image %s: %s",
                           image, z.msg);
    if (memfd >= 0) close(memfd);
    free(fifo);
    free(out);
    free(err);
    free(why);
    return rc;
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

/* The path the snapshot's config gives disk vdev, or NULL. */
static char *configured_path(xlsnap_ctx *ctx, const char *cfg,
                             const char *vdev)
{
    xlsnap__cfgdisk *cd = NULL;
    char *r = NULL;
    int ncd = 0;

    if (xlsnap__config_disks(ctx, cfg, &cd, &ncd)) return NULL;
    for (int i = 0; i < ncd && !r; i++)
        if (!strcmp(cd[i].vdev, vdev) && cd[i].path && *cd[i].path)
            r = xlsnap__strdup(cd[i].path);
    xlsnap__cfgdisk_list_free(cd, ncd);
    return r;
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

/* "<stem>.before-<snapshot>-<time>[-n].qcow2" next to path */
static char *before_name(const char *path, const char *name)
{
    char *tag0 = xlsnap__sprintf("before-%s-%lld", name, (long long)time(NULL));
    char *r = unused_sibling(path, tag0);

    free(tag0);
    return r;
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
    if (unlink(path) < 0 && errno != ENOENT)
        return xlsnap__error_errno(ctx, errno, "cannot remove %s", path);
    if (d->kind == XLSNAP_DISK_INTERNAL)
        return xlsnap__qimg_convert(ctx, d->image, d->format,
                                    d->internal_name, path, 0);
    return xlsnap__qimg_create_overlay(ctx, path, d->backing, d->format);
}

int xlsnap_revert(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                  const char *name, unsigned flags)
{
    char **paths = NULL, **moved = NULL;
    xlsnap_snapshot *list = NULL, *sn = NULL;
    xlsnap__store_handle h = XLSNAP__STORE_HANDLE_INIT;
    xlsnap__domstate st = XLSNAP__DOM_GONE;
    char *cfg = NULL, *fifo = NULL, **fresh = NULL;
    xlsnap__strset known = { 0 }, live = { 0 };
    int nr = 0, idx, rc;
    bool paused, start, intent = false, destroyed = false;

    if ((flags & XLSNAP_REVERT_RUNNING) && (flags & XLSNAP_REVERT_PAUSED))
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                             "choose running or paused, not both");
    if ((rc = xlsnap__store_open_find(ctx, dom->uuid, name, &h, &idx)))
        goto out;
    list = h.list;
    nr = h.nr;
    sn = &list[idx];
    if (sn->state != XLSNAP_STATE_READY) {
        rc = xlsnap__error_hint(ctx, XLSNAP_ERROR_CORRUPT,
                                XLSNAP_HINT_RUN_CHECK_REPAIR,
                           "snapshot '%s' is incomplete (state %s)", name,
                           xlsnap_state_name(sn->state));
        goto out;
    }
    if (!sn->config_json) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "snapshot '%s' has no stored domain "
                           "configuration", name);
        goto out;
    }
    if (dom->domid >= 0) {
        if ((rc = xlsnap__hv_state(ctx, dom->domid, &st))) goto out;
        if (st != XLSNAP__DOM_GONE && !(flags & XLSNAP_REVERT_FORCE)) {
            rc = xlsnap__error_hint(ctx, XLSNAP_ERROR_BUSY, XLSNAP_HINT_FORCE,
                               "domain '%s' is running: reverting discards "
                               "its state since snapshot '%s'",
                               dom->name ? dom->name : dom->uuid,
                               sn->current ? sn->name : "current");
            goto out;
        }
    }
    if (sn->memory && access(sn->memory, R_OK) < 0) {
        rc = xlsnap__error_errno(ctx, errno, "memory image %s of snapshot "
                                 "'%s'", sn->memory, name);
        goto out;
    }

    /* The config the domain gets: external disks get a fresh overlay on
     * the snapshot's backing image; an internal snapshot is applied in
     * place, unless other images are built on that image (an external
     * snapshot taken later): then it is copied out to a new image, so
     * nothing under them changes. */
    if ((rc = xlsnap__known_images(ctx, dom, list, nr, &known, &live)))
        goto out;
    cfg = xlsnap__strdup(sn->config_json);
    fresh = calloc(sn->num_disks ? sn->num_disks : 1, sizeof(*fresh));
    paths = calloc(sn->num_disks ? sn->num_disks : 1, sizeof(*paths));
    moved = calloc(sn->num_disks ? sn->num_disks : 1, sizeof(*moved));
    if (!fresh || !paths || !moved) { rc = xlsnap__nomem(ctx); goto out; }
    for (int i = 0; i < sn->num_disks; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        char *nc = NULL, *p = configured_path(ctx, cfg, d->vdev);
        bool at_path = p && movable(list, nr, p);
        int deps = 0;
        if (d->kind == XLSNAP_DISK_INTERNAL && p &&
            !strcmp(p, d->image)) {
            /* the snapshot is inside the active layer: applied there,
             * unless images are built on it (a layer from before
             * active layers stayed in place) */
            rc = xlsnap__dependents(ctx, d->image, &known, &deps, NULL);
            if (rc) { free(p); goto out; }
            if (!deps) { free(p); continue; }
            at_path = false;
        } else if (d->kind == XLSNAP_DISK_INTERNAL && !at_path) {
            rc = xlsnap__dependents(ctx, d->image, &known, &deps, NULL);
            if (rc) { free(p); goto out; }
            if (!deps) { free(p); continue; }
        } else if (d->kind == XLSNAP_DISK_EXTERNAL && p &&
                   !strcmp(p, d->backing)) {
            at_path = false;
        }
        if (at_path) {
            /* the configured path gets the snapshot's data; the old
             * active layer stays, renamed, as its own branch */
            paths[i] = p;
            moved[i] = before_name(p, sn->name);
            xlsnap_disk one = { .vdev = d->vdev, .image = p,
                                .format = (char *)"qcow2" };
            rc = xlsnap__config_rewrite(ctx, cfg, NULL, NULL, &one, 1, &nc);
            if (rc) goto out;
            free(cfg);
            cfg = nc;
            continue;
        }
        free(p);
        fresh[i] = fresh_overlay(d->kind == XLSNAP_DISK_INTERNAL ? d->image
                                                                 : d->backing,
                                 sn->name);
        rc = xlsnap__config_set_disk(ctx, cfg, d->vdev, fresh[i], "qcow2",
                                     &nc);
        if (rc) goto out;
        free(cfg);
        cfg = nc;
    }

    /* intent, then destroy: from here on the old running state is gone */
    rc = write_intent(ctx, sn, st != XLSNAP__DOM_GONE ? dom->domid : -1,
                      fresh, paths, moved);
    if (rc) goto out;
    intent = true;
    xlsnap__fault_point("revert-intent");
    if (st != XLSNAP__DOM_GONE && (rc = xlsnap__hv_destroy(ctx, dom->domid)))
        goto out;
    destroyed = true;
    xlsnap__fault_point("revert-destroyed");

    for (int i = 0; i < sn->num_disks; i++) {
        const xlsnap_disk *d = &sn->disks[i];
        if (paths[i])
            rc = xlsnap__revert_disk_at(ctx, d, paths[i], moved[i]);
        else if (d->kind == XLSNAP_DISK_INTERNAL && !fresh[i])
            rc = xlsnap__qimg_snapshot(ctx, 'a', d->internal_name, d->image,
                                       d->format);
        else if (d->kind == XLSNAP_DISK_INTERNAL)
            rc = xlsnap__qimg_convert(ctx, d->image, d->format,
                                      d->internal_name, fresh[i], 0);
        else
            rc = xlsnap__qimg_create_overlay(ctx, fresh[i], d->backing,
                                             d->format);
        if (rc) {
            rc = xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev);
            goto out;
        }
    }
    xlsnap__fault_point("revert-disks");
    /* records naming the old active layer follow it to its new name */
    for (int i = 0; i < sn->num_disks; i++)
        if (paths[i] &&
            (rc = xlsnap__relocate_image(ctx, list, nr, -1, paths[i],
                                         moved[i])))
            goto out;

    paused = flags & XLSNAP_REVERT_PAUSED ||
             (!(flags & XLSNAP_REVERT_RUNNING) && sn->domstate &&
              !strcmp(sn->domstate, "paused"));
    start = sn->memory || (flags & (XLSNAP_REVERT_RUNNING |
                                    XLSNAP_REVERT_PAUSED));
    if (sn->memory) {
        rc = xlsnap__store_fifo_path(ctx, dom->uuid, sn->name, &fifo);
        if (!rc) rc = restore_memory(ctx, fifo, sn, cfg, paused);
    } else if (start) {
        /* created here, watched by our own monitor (xl restore brings
         * xl's; disk-only snapshots have no stream to restore) */
        int64_t domid;
        rc = xlsnap__hv_create(ctx, cfg, paused, &domid);
        if (!rc)
            rc = xlsnap__hv_monitor(ctx, domid, dom->name, cfg);
    }
    if (rc) goto out;
    xlsnap__fault_point("revert-started");

    /* current := sn (old current cleared first) */
    if ((rc = xlsnap__set_current(ctx, list, nr, (int)(sn - list),
                                  xlsnap__store_write)))
        goto out;
    xlsnap__fault_point("revert-current");
    rc = xlsnap__intent_clear(ctx, dom->uuid, XLSNAP__REVERT_INTENT);
    intent = false;
 out:
    /* nothing was changed yet: the intent goes (a revert that failed
     * later keeps it for check --repair) */
    if (intent && !destroyed)
        xlsnap__intent_clear(ctx, dom->uuid, XLSNAP__REVERT_INTENT);
    for (int i = 0; fresh && sn && i < sn->num_disks; i++) free(fresh[i]);
    for (int i = 0; paths && sn && i < sn->num_disks; i++) free(paths[i]);
    for (int i = 0; moved && sn && i < sn->num_disks; i++) free(moved[i]);
    free(fresh);
    free(paths);
    free(moved);
    xlsnap__set_free(&known);
    xlsnap__set_free(&live);
    free(fifo);
    free(cfg);
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
