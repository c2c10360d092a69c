/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * edit.c - change a record's description and name (xlsnap_edit)
 *
 * A rename changes only the name users see.  The disks keep their
 * internal snapshot names (the record's internal_name, what qcow2
 * knows) and their image files; the record says where they are, so
 * nothing outside the store moves.  In the store the snapshot's
 * directory is named after the snapshot, so the record moves there:
 *
 *   1. <new>/ is made, the memory image (when the store keeps it) is
 *      linked into it, and <new>/record.json written (tmp + fsync +
 *      rename), not current;
 *   2. every child's record names <new> as its parent;
 *   3. <old>/ is removed (record first, so a crash leaves no half);
 *   4. <new> is marked current if <old> was.
 *
 * A crash after 1 leaves the snapshot under both names (the children
 * naming either); after 3, a current snapshot may be left not current.
 * The same rename again finds <new> holding the same snapshot and
 * completes it.  Never two current, never a snapshot under no name.
 */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

void xlsnap_edit_params_init(xlsnap_edit_params *p)
{
    memset(p, 0, sizeof(*p));
}

int xlsnap__description_validate(xlsnap_ctx *ctx, const char *desc)
{
    if (!xlsnap__utf8_valid(desc))
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                             "the description is not valid UTF-8");
    for (const char *q = desc; *q;) {
        size_t off = q - desc;
        long c = xlsnap__utf8_next(&q);

        if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
            return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                                 "the description contains a control "
                                 "character (U+%04lX at offset %zu)", c,
                                 off);
    }
    return 0;
}

int xlsnap__name_free(xlsnap_ctx *ctx, const xlsnap_snapshot *l, int nr,
                      const char *name)
{
    for (int i = 0; i < nr; i++) {
        if (!strcmp(l[i].name, name))
            return xlsnap__error(ctx, XLSNAP_ERROR_EXISTS,
                                 "domain already has a snapshot '%s'",
                                 name);
        for (int j = 0; j < l[i].num_disks; j++) {
            const xlsnap_disk *d = &l[i].disks[j];
            if (d->kind == XLSNAP_DISK_INTERNAL && d->internal_name &&
                !strcmp(d->internal_name, name))
                return xlsnap__error(ctx, XLSNAP_ERROR_EXISTS,
                                     "the name '%s' is still the internal "
                                     "snapshot of disk %s of snapshot '%s' "
                                     "(renamed from it)", name, d->vdev,
                                     l[i].name);
        }
    }
    return 0;
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* Whether b is a as step 1 of a rename wrote it (an interrupted rename
 * to be completed): the same data, another name. */
static bool same_snapshot(const xlsnap_snapshot *a, const xlsnap_snapshot *b)
{
    if (a->creationtime != b->creationtime || a->num_disks != b->num_disks ||
        !same_str(a->domstate, b->domstate) ||
        !same_str(a->config_json, b->config_json))
        return false;
    for (int i = 0; i < a->num_disks; i++) {
        const xlsnap_disk *x = &a->disks[i], *y = &b->disks[i];
        if (x->kind != y->kind || !same_str(x->vdev, y->vdev) ||
            !same_str(x->image, y->image) ||
            !same_str(x->internal_name, y->internal_name) ||
            !same_str(x->overlay, y->overlay) ||
            !same_str(x->backing, y->backing))
            return false;
    }
    return true;
}

static int sync_dir(xlsnap_ctx *ctx, const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    if (fd < 0 || fsync(fd) < 0)
        rc = xlsnap__error_errno(ctx, errno, "cannot sync %s", dir);
    if (fd >= 0) close(fd);
    return rc;
}

static bool same_file(const char *a, const char *b)
{
    struct stat x, y;

    return lstat(a, &x) == 0 && lstat(b, &y) == 0 && S_ISREG(x.st_mode) &&
           x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* Whether the existing directory dir (of the new name) holds only what
 * an interrupted rename of this snapshot put there: the memory image
 * linked to oldmem (NULL: none moves) and, when resuming, the record. */
static bool leftover_ours(const char *dir, const char *oldmem,
                          const char *newmem, bool resume)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    bool ok = d != NULL;
    const char *mem = newmem ? strrchr(newmem, '/') + 1 : NULL;

    while (ok && (de = readdir(d))) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..")) continue;
        if (resume && (!strcmp(n, XLSNAP__RECORD_FILE) ||
                       !strcmp(n, XLSNAP__TMP_NAME(XLSNAP__RECORD_FILE))))
            continue;
        if (mem && !strcmp(n, mem) && same_file(oldmem, newmem)) continue;
        ok = false;
    }
    if (d) closedir(d);
    return ok;
}

/* Step 1: <to>/ with the memory image and the record of s under its new
 * name (not current); resume: an interrupted rename wrote that record
 * (a directory of the new name without one is taken over only if an
 * interrupted rename of s left it). */
static int copy_record(xlsnap_ctx *ctx, const xlsnap_snapshot *s,
                       const char *to, bool resume)
{
    xlsnap_snapshot n;
    char *dir = NULL, *ddir = NULL, *oldmem = NULL, *newmem = NULL;
    bool z = s->memory_compression != NULL, moves = false;
    int rc;

    xlsnap_snapshot_init(&n);
    if ((rc = xlsnap__store_snapshot_dir(ctx, s->domain_uuid, to, &dir)) ||
        (rc = xlsnap__domain_dir(ctx, s->domain_uuid, &ddir)))
        goto out;
    if (!dir || !ddir) { rc = xlsnap__nomem(ctx); goto out; }
    /* the memory image the store keeps moves with the record; one the
     * snapshot config put elsewhere stays where it is */
    if (s->memory) {
        if ((rc = xlsnap__store_memory_path(ctx, s->domain_uuid, s->name, z,
                                            &oldmem)) ||
            (rc = xlsnap__store_memory_path(ctx, s->domain_uuid, to, z,
                                            &newmem)))
            goto out;
        if (!oldmem || !newmem) { rc = xlsnap__nomem(ctx); goto out; }
        moves = !strcmp(s->memory, oldmem);
    }
    if (mkdir(dir, 0700) < 0) {
        if (errno != EEXIST) {
            rc = xlsnap__error_errno(ctx, errno, "cannot create directory "
                                     "%s", dir);
            goto out;
        }
        if (!leftover_ours(dir, oldmem, moves ? newmem : NULL, resume)) {
            rc = xlsnap__error_hint(ctx, XLSNAP_ERROR_EXISTS,
                                    XLSNAP_HINT_RUN_CHECK_REPAIR,
                                    "%s exists without a record of this "
                                    "snapshot (left by an interrupted "
                                    "operation)", dir);
            goto out;
        }
    } else if ((rc = sync_dir(ctx, ddir))) {
        goto out;
    }
    if ((rc = xlsnap__snapshot_copy(&n, s))) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    free(n.name);
    n.name = xlsnap__strdup(to);
    if (!n.name) { rc = xlsnap__nomem(ctx); goto out; }
    n.current = false;
    if (moves) {
        if (link(oldmem, newmem) < 0 &&
            !(errno == EEXIST && same_file(oldmem, newmem))) {
            rc = xlsnap__error_errno(ctx, errno, "cannot link %s to %s",
                                     oldmem, newmem);
            goto out;
        }
        free(n.memory);
        n.memory = newmem;
        newmem = NULL;
        if ((rc = sync_dir(ctx, dir))) goto out;
    }
    xlsnap__fault_point("edit-linked");
    rc = xlsnap__store_write(ctx, &n);
 out:
    xlsnap_snapshot_dispose(&n);
    free(newmem);
    free(oldmem);
    free(ddir);
    free(dir);
    return rc;
}

/* Steps 1-4 with the store handle open; s is in h's list. */
static int rename_locked(xlsnap_ctx *ctx, xlsnap__store_handle *h,
                         const xlsnap_snapshot *s, const char *to)
{
    xlsnap_snapshot *l = h->list, n;
    int nr = h->nr, dup = xlsnap__list_find(l, nr, to), rc;

    xlsnap_snapshot_init(&n);
    if (dup >= 0 && !same_snapshot(s, &l[dup])) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_EXISTS,
                           "domain already has a snapshot '%s'", to);
        goto out;
    }
    /* 1. the record under its new name (dup: an interrupted rename
     *    wrote it; it is written again, the memory linked if missing) */
    if ((rc = copy_record(ctx, s, to, dup >= 0))) goto out;
    xlsnap__fault_point("edit-copied");
    /* 2. the children */
    for (int i = 0; i < nr; i++) {
        char *p;
        if (&l[i] == s || !l[i].parent || strcmp(l[i].parent, s->name))
            continue;
        if (!(p = xlsnap__strdup(to))) { rc = xlsnap__nomem(ctx); goto out; }
        free(l[i].parent);
        l[i].parent = p;
        if ((rc = xlsnap__store_write(ctx, &l[i]))) goto out;
    }
    xlsnap__fault_point("edit-children");
    /* 3. the old name */
    if ((rc = xlsnap__store_remove(ctx, s->domain_uuid, s->name))) goto out;
    xlsnap__fault_point("edit-removed");
    /* 4. current again */
    if (s->current) {
        if ((rc = xlsnap__store_read(ctx, s->domain_uuid, to, &n)))
            goto out;
        n.current = true;
        rc = xlsnap__store_write(ctx, &n);
    }
 out:
    xlsnap_snapshot_dispose(&n);
    return rc;
}

int xlsnap_edit(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                const char *name, const xlsnap_edit_params *p,
                xlsnap_snapshot *snap_r)
{
    xlsnap__store_handle h = XLSNAP__STORE_HANDLE_INIT;
    xlsnap_snapshot *s;
    int rc, idx;

    if (snap_r) xlsnap_snapshot_init(snap_r);
    if ((rc = xlsnap_name_validate(ctx, name))) goto out;
    if (!p->description && !p->new_name) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "nothing to change");
        goto out;
    }
    if (p->new_name && (rc = xlsnap_name_validate(ctx, p->new_name)))
        goto out;
    if (p->description &&
        (rc = xlsnap__description_validate(ctx, p->description)))
        goto out;
    if ((rc = xlsnap__store_open_find(ctx, dom->uuid, name, &h, &idx)))
        goto out;
    s = &h.list[idx];
    if (s->state != XLSNAP_STATE_READY) {
        rc = xlsnap__error_hint(ctx, XLSNAP_ERROR_BUSY,
                                XLSNAP_HINT_RUN_CHECK_REPAIR,
                                "snapshot '%s' is %s, not ready", name,
                                xlsnap_state_name(s->state));
        goto out;
    }
    if (p->description) {
        char *d = *p->description ? xlsnap__strdup(p->description) : NULL;
        if (*p->description && !d) { rc = xlsnap__nomem(ctx); goto out; }
        free(s->description);
        s->description = d;
        /* a rename writes the record under its new name with it */
        if ((!p->new_name || !strcmp(p->new_name, name)) &&
            (rc = xlsnap__store_write(ctx, s)))
            goto out;
    }
    if (p->new_name && strcmp(p->new_name, name)) {
        if ((rc = rename_locked(ctx, &h, s, p->new_name))) goto out;
        name = p->new_name;
    }
    if (snap_r) rc = xlsnap__store_read(ctx, dom->uuid, name, snap_r);
 out:
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
