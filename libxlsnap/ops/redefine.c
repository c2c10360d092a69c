/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * redefine.c - metadata only: re-create a record for existing snapshot
 * data, and choose what a retention policy keeps
 */
#include "internal.h"

#include <unistd.h>

static int need_file(xlsnap_ctx *ctx, const char *what, const char *path)
{
    if (path && access(path, R_OK) == 0) return 0;
    if (!path)
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "%s: no file named",
                             what);
    return xlsnap__error_errno(ctx, errno, "%s %s", what, path);
}

/* Every part the record names must exist. */
static int check_parts(xlsnap_ctx *ctx, const xlsnap_snapshot *s)
{
    int rc;

    if (s->memory && (rc = need_file(ctx, "memory image", s->memory)))
        return rc;
    for (int i = 0; i < s->num_disks; i++) {
        const xlsnap_disk *d = &s->disks[i];
        bool has;
        if (d->kind == XLSNAP_DISK_EXTERNAL) {
            if ((rc = need_file(ctx, "backing image", d->backing)))
                return xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev);
            continue;
        }
        if ((rc = need_file(ctx, "image", d->image)) ||
            (rc = xlsnap__qimg_has_snapshot(ctx, d->image, d->format,
                                            d->internal_name,
                                            &has)))
            return xlsnap__error_prefix(ctx, rc, "disk %s", d->vdev);
        if (!has)
            return xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "disk %s: image "
                                 "%s has no internal snapshot '%s'",
                                 d->vdev, d->image, d->internal_name);
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

/* keep the newest of each of the n latest days (or ISO weeks) */
static void keep_periods(const xlsnap_snapshot *list, int nr, int n,
                         bool weekly, bool *keep)
{
    char last[32] = "";
    int seen = 0;

    for (int i = nr - 1; i >= 0 && seen < n; i--) {
        time_t t = list[i].creationtime;
        struct tm tm = { 0 };
        char key[32];
        if (list[i].state != XLSNAP_STATE_READY) continue;
        /* a time no calendar holds (a record from elsewhere) is a
         * period of its own */
        if ((int64_t)t != list[i].creationtime || !localtime_r(&t, &tm))
            snprintf(key, sizeof(key), "@%lld",
                     (long long)list[i].creationtime);
        else if (weekly) strftime(key, sizeof(key), "%G-W%V", &tm);
        else strftime(key, sizeof(key), "%Y-%m-%d", &tm);
        if (!strcmp(key, last)) continue;
        memcpy(last, key, sizeof(last));
        keep[i] = true;
        seen++;
    }
}

int xlsnap_prune_select(xlsnap_ctx *ctx, const xlsnap_snapshot *list,
                        int nr, const xlsnap_prune_policy *pol,
                        bool *keep_r)
{
    int seen = 0;

    if (pol->keep_last < 0 || pol->keep_daily < 0 || pol->keep_weekly < 0)
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "a count to keep is "
                             "negative");
    if (!pol->keep_last && !pol->keep_daily && !pol->keep_weekly)
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "no retention rule: "
                             "set keep_last, keep_daily or "
                             "keep_weekly");
    for (int i = 0; i < nr; i++)
        keep_r[i] = list[i].state != XLSNAP_STATE_READY;
    /* list is sorted oldest first */
    for (int i = nr - 1; i >= 0 && seen < pol->keep_last; i--)
        if (list[i].state == XLSNAP_STATE_READY) {
            keep_r[i] = true;
            seen++;
        }
    keep_periods(list, nr, pol->keep_daily, false, keep_r);
    keep_periods(list, nr, pol->keep_weekly, true, keep_r);
    return 0;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
