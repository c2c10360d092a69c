/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * prune.c - which snapshots a retention policy keeps (the deleting is
 * xlsnap_delete's, one snapshot at a time, by the caller)
 */
#include "internal.h"

#include <time.h>

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
