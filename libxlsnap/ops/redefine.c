/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * redefine.c - metadata only: re-create a record for existing snapshot
 * data
 */
#include "internal.h"
#include "backend/disk.h"

#include <unistd.h>

static int need_file(xlsnap_ctx *ctx, const char *what, const char *path)
{
    if (path && access(path, R_OK) == 0) return 0;
    if (!path)
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "%s: no file named",
                             what);
    return xlsnap__error_errno(ctx, errno, "%s %s", what, path);
}

/* Every part the record names must exist: the memory image, and each
 * disk's snapshot data, as its driver checks it. */
static int check_parts(xlsnap_ctx *ctx, const xlsnap_snapshot *s)
{
    int rc;

    if (s->memory && (rc = need_file(ctx, "memory image", s->memory)))
        return rc;
    for (int i = 0; i < s->num_disks; i++) {
        const xlsnap_disk *d = &s->disks[i];
        const xlsnap__disk_driver *drv = xlsnap__disk_driver_ops(d);
        xlsnap__disk_op op = XLSNAP__DISK_OP(ctx, s->domain_uuid);
        char *why = NULL;
        if (!drv || !drv->check)
            return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "disk %s: "
                                 "unknown storage driver", d->vdev);
        op.sn = s;
        if ((rc = drv->check(&op, d, &why)))
            return xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev);
        if (why) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "disk %s: %s",
                               d->vdev, why);
            free(why);
            return rc;
        }
    }
    return 0;
}

int xlsnap_redefine(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                    const char *record_json, unsigned flags,
                    xlsnap_snapshot *snap_r)
{
    xlsnap_snapshot sn, *list = NULL;
    xlsnap__store_handle h = XLSNAP__STORE_HANDLE_INIT;
    int nr = 0, rc;

    xlsnap_snapshot_init(&sn);
    if (strlen(record_json) > XLSNAP__RECORD_MAX) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "the record is too "
                           "large (%zu bytes, limit %u)",
                           strlen(record_json), XLSNAP__RECORD_MAX);
        goto out;
    }
    if ((rc = xlsnap_snapshot_from_json(ctx, record_json, &sn)) ||
        (rc = xlsnap_name_validate(ctx, sn.name)))
        goto out;
    if ((rc = check_parts(ctx, &sn))) goto out;
    if ((rc = xlsnap__store_open(ctx, dom->uuid, XLSNAP__STORE_CREATE |
                                 XLSNAP__STORE_SUMMARY, &h)))
        goto out;
    list = h.list;
    nr = h.nr;
    if (xlsnap__list_find(list, nr, sn.name) >= 0) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_EXISTS, "domain already has "
                           "a snapshot '%s'", sn.name);
        goto out;
    }
    if (sn.parent && xlsnap__list_find(list, nr, sn.parent) < 0) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "parent snapshot '%s' "
                           "does not exist (redefine it first)", sn.parent);
        goto out;
    }
    /* no config in the record: the domain's, from its latest snapshot
     * (list is sorted by creation time) */
    for (int i = nr - 1; !sn.config_json && i >= 0; i--) {
        if ((rc = xlsnap__store_handle_load(ctx, &h, i))) goto out;
        if (list[i].config_json &&
            !(sn.config_json = xlsnap__strdup(list[i].config_json))) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
    }
    free(sn.domain_uuid);
    sn.domain_uuid = xlsnap__strdup(dom->uuid);
    if (dom->name) {
        free(sn.domain_name);
        sn.domain_name = xlsnap__strdup(dom->name);
    }
    if (!sn.domain_uuid || (dom->name && !sn.domain_name)) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    sn.state = XLSNAP_STATE_READY;
    sn.current = flags & XLSNAP_REDEFINE_CURRENT;
    /* what set_current writes: the records now current */
    for (int i = 0; sn.current && i < nr; i++)
        if (list[i].current &&
            (rc = xlsnap__store_handle_load(ctx, &h, i)))
            goto out;
    if (sn.current &&
        (rc = xlsnap__set_current(ctx, list, nr, -1, xlsnap__store_write)))
        goto out;
    if ((rc = xlsnap__store_write(ctx, &sn))) goto out;
    *snap_r = sn;
    xlsnap_snapshot_init(&sn);
 out:
    xlsnap__store_close(&h);
    xlsnap_snapshot_dispose(&sn);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
