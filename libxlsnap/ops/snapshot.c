/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * snapshot.c - public entry points: names, domains, list, get, current
 */
#include "internal.h"

#include <unistd.h>

#include <ctype.h>

int xlsnap_name_validate(xlsnap_ctx *ctx, const char *name)
{
    size_t len;
    const unsigned char *p;

    if (!name || !*name)
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                             "snapshot name is empty");
    len = strlen(name);
    if (len > XLSNAP_NAME_MAX)
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                             "snapshot name is %zu bytes long (at most %d)",
                             len, XLSNAP_NAME_MAX);
    if (name[0] == '.')
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                             "snapshot name '%s' starts with '.'", name);
    if (strchr(name, '/'))
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                             "snapshot name '%s' contains '/'", name);
    for (p = (const unsigned char *)name; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                                 "snapshot name contains a control "
                                 "character (byte 0x%02x at offset %zu)",
                                 *p, (size_t)(p - (const unsigned char *)
                                              name));
    }
    /* UTF-8 (strict: no surrogates, no overlong forms), so that names
     * survive JSON; no C1 control either (a terminal may obey one) */
    for (const char *q = name; *q;) {
        long c = xlsnap__utf8_next(&q);
        if (c < 0)
            return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                                 "snapshot name is not valid UTF-8");
        if (c >= 0x80 && c < 0xa0)
            return xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                                 "snapshot name contains a control "
                                 "character (U+%04lX)", c);
    }
    return 0;
}

/* ---- domains ---- */

void xlsnap_domain_init(xlsnap_domain *d)
{
    memset(d, 0, sizeof(*d));
    d->domid = -1;
}

void xlsnap_domain_dispose(xlsnap_domain *d)
{
    free(d->name);
    free(d->uuid);
    free(d->adopted_from);
    xlsnap_domain_init(d);
}

static bool is_domid(const char *s)
{
    if (!*s || strlen(s) > 9) return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return false;
    return true;
}

/*
 * Look the domain up among the running ones, by UUID, domid or name.
 * Returns NOTFOUND (without a message) when it is not running or when
 * there is no hypervisor.
 */
static int resolve_live(xlsnap_ctx *ctx, const char *uuid, const char *spec,
                        xlsnap_domain *d)
{
    libxl_ctx *lctx;
    libxl_dominfo *info = NULL;
    int nb = 0, rc = XLSNAP_ERROR_NOTFOUND;
    char ubuf[40];

    if (!xlsnap__hypervisor_present()) return XLSNAP_ERROR_NOTFOUND;
    if ((rc = xlsnap__libxl(ctx, &lctx))) return rc;
    info = libxl_list_domain(lctx, &nb);
    if (!info)
        return xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR,
                             "cannot list domains");
    rc = XLSNAP_ERROR_NOTFOUND;
    for (int i = 0; i < nb; i++) {
        char *name = libxl_domid_to_name(lctx, info[i].domid);
        bool match;

        snprintf(ubuf, sizeof(ubuf), LIBXL_UUID_FMT,
                 LIBXL_UUID_BYTES(info[i].uuid));
        if (uuid)
            match = !strcmp(ubuf, uuid);
        else if (is_domid(spec))
            match = info[i].domid == (uint32_t)atol(spec);
        else
            match = name && !strcmp(name, spec);
        if (match) {
            d->domid = info[i].domid;
            d->uuid = xlsnap__strdup(ubuf);
            d->name = name;
            rc = d->uuid ? 0 : xlsnap__nomem(ctx);
            break;
        }
        free(name);
    }
    libxl_dominfo_list_free(info, nb);
    return rc;
}

/* The domain name stored in the newest record of domain dir uuid that
 * has one (*name_r NULL when none does). */
static int stored_name(xlsnap_ctx *ctx, const char *uuid, char **name_r)
{
    xlsnap_snapshot *list = NULL;
    int nr = 0, rc;

    *name_r = NULL;
    /* from the list index when it is valid (every record otherwise) */
    if ((rc = xlsnap__store_list_summary(ctx, uuid, &list, &nr))) return rc;
    for (int i = nr - 1; i >= 0; i--) {
        if (!list[i].domain_name) continue;
        if (!(*name_r = xlsnap__strdup(list[i].domain_name)))
            rc = xlsnap__nomem(ctx);
        break;
    }
    xlsnap_snapshot_list_free(list, nr);
    return rc;
}

/* Append to *m a description of history uuid: its snapshot count,
 * newest snapshot and, if its UUID runs, under which name. */
static int describe(xlsnap_ctx *ctx, char **m, const char *uuid,
                    const char *running_as)
{
    xlsnap_snapshot *list = NULL;
    int nr = 0;
    char *o = *m, *w;

    /* an unreadable history is still described, not one out of memory */
    if (xlsnap__store_list_summary(ctx, uuid, &list, &nr) ==
        XLSNAP_ERROR_NOMEM)
        return xlsnap__nomem(ctx);
    w = xlsnap__sprintf("%s%s%s (%d snapshot%s%s%s%s%s%s)", o ? o : "",
                        o ? ", " : "", uuid, nr, nr == 1 ? "" : "s",
                        nr ? ", newest '" : "",
                        nr ? list[nr - 1].name : "", nr ? "'" : "",
                        running_as ? "; that UUID runs as domain " : "",
                        running_as ? running_as : "");
    xlsnap_snapshot_list_free(list, nr);
    if (!w) return xlsnap__nomem(ctx);
    free(o);
    *m = w;
    return 0;
}

/* *r_r: the name of the running domain with UUID uuid, or NULL; 0 or
 * NOMEM. */
static int running_name(xlsnap_ctx *ctx, const char *uuid, char **r_r)
{
    xlsnap_domain d;
    xlsnap__errsaved saved;
    int rc;

    *r_r = NULL;
    xlsnap__errsave(ctx, &saved);
    xlsnap_domain_init(&d);
    rc = resolve_live(ctx, uuid, NULL, &d);
    if (!rc)
        *r_r = d.name ? xlsnap__strdup(d.name) : xlsnap__strdup("?");
    xlsnap_domain_dispose(&d);
    xlsnap__errrestore(ctx, &saved);
    if ((!rc && !*r_r) || rc == XLSNAP_ERROR_NOMEM)
        return xlsnap__nomem(ctx);
    return 0;
}

/* 1 if domain dir uuid exists, 0 if not, or NOMEM. */
static int has_history(xlsnap_ctx *ctx, const char *uuid)
{
    char *p = NULL;
    int r = 0;

    if (xlsnap__is_uuid(uuid)) {
        if ((r = xlsnap__domain_dir(ctx, uuid, &p)) == 0)
            r = access(p, F_OK) == 0;
        else if (r != XLSNAP_ERROR_NOMEM)
            r = 0;
    }
    free(p);
    return r;
}

static int adopt(xlsnap_ctx *ctx, xlsnap_domain *d, const char *old)
{
    int rc = xlsnap__store_adopt(ctx, old, d->uuid, d->name);

    if (rc)
        return xlsnap__error_prefix(ctx, rc, "cannot move the snapshot "
                                    "history of %s to domain '%s' (UUID "
                                    "%s)", old, d->name, d->uuid);
    if (!(d->adopted_from = xlsnap__strdup(old))) return xlsnap__nomem(ctx);
    return 0;
}

/*
 * The running domain d (found by name or id): the history it owns by
 * its UUID, or the one recorded under its name (see
 * xlsnap_set_domain_uuid in libxlsnap.h).
 */
static int follow_history(xlsnap_ctx *ctx, xlsnap_domain *d)
{
    const char *pick = ctx->pick_uuid;
    char **uuids = NULL, **run = NULL, *m = NULL;
    int nu = 0, nh = 0, nrun = 0, rc, own;

    if (!d->name) return 0;
    /* an adoption a crash interrupted is finished first */
    if ((rc = xlsnap__finish_adopt(ctx, d->uuid, d->name))) return rc;
    if (pick && !strcmp(pick, d->uuid)) return 0;
    if ((own = has_history(ctx, d->uuid)) < 0) return own;
    if (pick) {
        char *r;
        if ((rc = has_history(ctx, pick)) <= 0)
            return rc ? rc : xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND,
                                           "no snapshot history with UUID "
                                           "%s", pick);
        if (own)
            return xlsnap__error(ctx, XLSNAP_ERROR_EXISTS, "domain '%s' "
                                 "(UUID %s) has a snapshot history of its "
                                 "own; the history of %s cannot become "
                                 "its", d->name, d->uuid, pick);
        if ((rc = running_name(ctx, pick, &r))) return rc;
        if (r) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_BUSY, "the history of %s "
                               "belongs to running domain '%s'", pick, r);
            free(r);
            return rc;
        }
        return adopt(ctx, d, pick);
    }
    if (own) return 0;
    if ((rc = xlsnap__store_find_domain(ctx, d->name, &uuids, &nu)))
        return rc;
    run = calloc(nu ? nu : 1, sizeof(*run));
    if (!run) { rc = xlsnap__nomem(ctx); goto out; }
    for (int i = 0; i < nu; i++) {
        if (!strcmp(uuids[i], d->uuid)) continue;
        nh++;
        if ((rc = running_name(ctx, uuids[i], &run[i]))) goto out;
        if (run[i]) nrun++;
    }
    if (nh == 0) { rc = 0; goto out; }
    if (nh == 1 && nrun == 0) {
        for (int i = 0; i < nu; i++)
            if (strcmp(uuids[i], d->uuid)) rc = adopt(ctx, d, uuids[i]);
        goto out;
    }
    for (int i = 0; i < nu; i++)
        if (strcmp(uuids[i], d->uuid) &&
            (rc = describe(ctx, &m, uuids[i], run[i])))
            goto out;
    rc = xlsnap__error_hint(ctx, XLSNAP_ERROR_INVAL,
                            XLSNAP_HINT_PICK_UUID_NEW, "domain name '%s' is "
                       "ambiguous: the running domain (UUID %s) has no "
                       "snapshot history of its own, and %s recorded under "
                       "that name: %s", d->name, d->uuid,
                       nh == 1 ? "one history, of a UUID still running, is"
                               : "several histories are", m);
 out:
    for (int i = 0; i < nu; i++) { free(uuids[i]); if (run) free(run[i]); }
    free(uuids);
    free(run);
    free(m);
    return rc;
}

/* Not running, given by UUID: the UUID alone is enough (uuid is d's
 * now); its name is the one its newest record has. */
static int resolve_stored_uuid(xlsnap_ctx *ctx, char *uuid, xlsnap_domain *d)
{
    xlsnap_snapshot *list = NULL;
    int nr = 0, rc;

    d->uuid = uuid;
    if ((rc = xlsnap__store_list_summary(ctx, d->uuid, &list, &nr)))
        return rc;
    for (int i = nr - 1; i >= 0 && !d->name; i--)
        if (list[i].domain_name &&
            !(d->name = xlsnap__strdup(list[i].domain_name))) {
            xlsnap_snapshot_list_free(list, nr);
            return xlsnap__nomem(ctx);
        }
    /* a list of this domain usually follows */
    xlsnap__summary_keep(ctx, d->uuid, list, nr);
    return 0;
}

/* Which of the nu histories recorded under name spec is meant: the
 * one ctx->pick_uuid names, the only one, or none (an error). */
static int pick_history(xlsnap_ctx *ctx, const char *spec, char **uuids,
                        int nu, int *k_r)
{
    char *m = NULL;
    int rc;

    *k_r = 0;
    if (nu == 0)
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "no domain '%s' "
                             "(not running here, and no snapshots recorded "
                             "under that name in %s)", spec, ctx->state_dir);
    if (nu == 1) return 0;
    if (ctx->pick_uuid) {
        *k_r = -1;
        for (int i = 0; i < nu; i++)
            if (!strcmp(uuids[i], ctx->pick_uuid)) *k_r = i;
        if (*k_r >= 0) return 0;
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND, "no snapshot "
                             "history of a domain '%s' has UUID %s", spec,
                             ctx->pick_uuid);
    }
    for (int i = 0; i < nu; i++)
        if ((rc = describe(ctx, &m, uuids[i], NULL))) {
            free(m);
            return rc;
        }
    rc = xlsnap__error_hint(ctx, XLSNAP_ERROR_INVAL, XLSNAP_HINT_PICK_UUID,
                            "domain name '%s' is ambiguous: snapshots exist "
                            "for %d domains of that name: %s", spec, nu, m);
    free(m);
    return rc;
}

/* Not running, given by name (or id): its recorded history. */
static int resolve_stored_name(xlsnap_ctx *ctx, const char *spec,
                               xlsnap_domain *d)
{
    char **uuids = NULL;
    int nu = 0, k, rc;

    if (is_domid(spec))
        return xlsnap__hypervisor_present()
            ? xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND,
                            "no domain with id %s", spec)
            : xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR,
                            "domain id %s needs a running hypervisor "
                            "(give the domain's name or UUID)", spec);
    if ((rc = xlsnap__store_find_domain(ctx, spec, &uuids, &nu))) return rc;
    if (!(rc = pick_history(ctx, spec, uuids, nu, &k))) {
        d->uuid = uuids[k];
        uuids[k] = NULL;
        if (!(d->name = xlsnap__strdup(spec))) rc = xlsnap__nomem(ctx);
    }
    for (int i = 0; i < nu; i++) free(uuids[i]);
    free(uuids);
    return rc;
}

int xlsnap_domain_resolve(xlsnap_ctx *ctx, const char *spec,
                          xlsnap_domain *dom_r)
{
    xlsnap_domain d;
    char *uuid = NULL;
    int rc;

    xlsnap_domain_init(&d);
    if (!spec || !*spec) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "no domain given");
        goto out;
    }
    uuid = xlsnap__uuid_canon(spec);
    if ((!uuid && xlsnap__is_uuid(spec)) || ctx->pick_nomem) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    rc = resolve_live(ctx, uuid, spec, &d);
    if (!rc && !uuid) {
        rc = follow_history(ctx, &d);
    } else if (rc == XLSNAP_ERROR_NOTFOUND || rc == XLSNAP_ERROR_HYPERVISOR) {
        /* no hypervisor (or no access to it): stored records still work */
        if (uuid) {
            rc = resolve_stored_uuid(ctx, uuid, &d);
            uuid = NULL;
        } else {
            rc = resolve_stored_name(ctx, spec, &d);
        }
    }
    if (rc) goto out;
    *dom_r = d;
    xlsnap_domain_init(&d);
 out:
    free(uuid);
    xlsnap_domain_dispose(&d);
    return rc;
}

static int cmp_domain(const void *a, const void *b)
{
    const xlsnap_domain *x = a, *y = b;

    return strcmp(x->name ? x->name : x->uuid, y->name ? y->name : y->uuid);
}

int xlsnap_list_domains(xlsnap_ctx *ctx, xlsnap_domain **list_r,
                        int *nr_r)
{
    xlsnap_domain *list = NULL;
    char **uuids = NULL;
    int nu = 0, rc;

    *list_r = NULL;
    *nr_r = 0;
    if ((rc = xlsnap__store_find_domain(ctx, NULL, &uuids, &nu))) return rc;
    list = calloc(nu ? nu : 1, sizeof(*list));
    if (!list) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    for (int i = 0; i < nu; i++) {
        xlsnap_domain_init(&list[i]);
        list[i].uuid = uuids[i];
        uuids[i] = NULL;
        /* a domain whose records cannot be read is still listed */
        if (stored_name(ctx, list[i].uuid, &list[i].name) ==
            XLSNAP_ERROR_NOMEM) {
            xlsnap_domain_list_free(list, nu);
            rc = xlsnap__nomem(ctx);
            goto out;
        }
    }
    qsort(list, nu, sizeof(*list), cmp_domain);
    *list_r = list;
    *nr_r = nu;
    rc = 0;
 out:
    for (int i = 0; i < nu; i++) free(uuids[i]);
    free(uuids);
    return rc;
}

void xlsnap_domain_list_free(xlsnap_domain *list, int nr)
{
    for (int i = 0; i < nr; i++) xlsnap_domain_dispose(&list[i]);
    free(list);
}

/* ---- snapshots ---- */

int xlsnap_list(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                xlsnap_snapshot **list_r, int *nr_r)
{
    return xlsnap__store_list(ctx, dom->uuid, list_r, nr_r);
}

int xlsnap_list_summary(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                        xlsnap_snapshot **list_r, int *nr_r)
{
    return xlsnap__store_list_summary(ctx, dom->uuid, list_r, nr_r);
}

int xlsnap_get(xlsnap_ctx *ctx, const xlsnap_domain *dom,
               const char *name, xlsnap_snapshot *snap_r)
{
    return xlsnap__store_read(ctx, dom->uuid, name, snap_r);
}

/* With the store handle open: make 'name' current (NULL: none), updating
 * every record whose flag changes.  The old current is cleared first, so
 * a crash in between leaves no current snapshot, never two. */
static int set_current_locked(xlsnap_ctx *ctx, xlsnap__store_handle *h,
                              const char *name)
{
    xlsnap_snapshot *list = h->list;
    int nr = h->nr, rc, target = -1;

    target = xlsnap__list_find(list, nr, name);
    if (name && target < 0) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTFOUND,
                           "no snapshot '%s'", name);
        goto out;
    }
    /* what set_current writes: the current ones and the target */
    for (int i = 0; i < nr; i++)
        if ((list[i].current || i == target) &&
            (rc = xlsnap__store_handle_load(ctx, h, i)))
            goto out;
    rc = xlsnap__set_current(ctx, list, nr, target, xlsnap__store_write);
 out:
    return rc;
}

int xlsnap_set_current(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                       const char *name)
{
    xlsnap__store_handle h = XLSNAP__STORE_HANDLE_INIT;
    int rc;

    if ((rc = xlsnap_name_validate(ctx, name))) goto out;
    if ((rc = xlsnap__store_open(ctx, dom->uuid, XLSNAP__STORE_SUMMARY,
                                 &h))) {
        if (rc == XLSNAP_ERROR_NOTFOUND)
            rc = xlsnap__error(ctx, rc, "no snapshot '%s'", name);
        goto out;
    }
    rc = set_current_locked(ctx, &h, name);
    /* the loaded records are what is on disk now */
    if (!rc) xlsnap__store_index_refresh(ctx, &h);
 out:
    xlsnap__store_close(&h);
    return rc;
}

int xlsnap_record_store(xlsnap_ctx *ctx, const xlsnap_snapshot *snap)
{
    xlsnap__store_handle h = XLSNAP__STORE_HANDLE_INIT;
    int rc;

    if (!snap->domain_uuid || !xlsnap__is_uuid(snap->domain_uuid)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_INVAL,
                           "record has no valid domain UUID");
        goto out;
    }
    if ((rc = xlsnap_name_validate(ctx, snap->name))) goto out;
    if ((rc = xlsnap__store_open(ctx, snap->domain_uuid,
                                 XLSNAP__STORE_CREATE |
                                 (snap->current ? XLSNAP__STORE_SUMMARY
                                                : XLSNAP__STORE_LOCK_ONLY),
                                 &h)))
        goto out;
    if (snap->current && (rc = set_current_locked(ctx, &h, NULL)))
        goto out;
    rc = xlsnap__store_write(ctx, snap);
 out:
    xlsnap__store_close(&h);
    return rc;
}

/* '{"domain": {name, uuid, domid}, "snapshots": [' of list --json */
static int gen_list_head(yajl_gen g, const xlsnap_domain *dom)
{
    int s;

    CHK(yajl_gen_map_open(g));
    CHK(xlsnap__gen_str(g, "domain"));
    CHK(yajl_gen_map_open(g));
    CHK(xlsnap__gen_kv_str(g, "name", dom->name));
    CHK(xlsnap__gen_kv_str(g, "uuid", dom->uuid));
    CHK(xlsnap__gen_str(g, "domid"));
    CHK(dom->domid < 0 ? yajl_gen_null(g) : yajl_gen_integer(g, dom->domid));
    CHK(yajl_gen_map_close(g));
    CHK(xlsnap__gen_str(g, "snapshots"));
    CHK(yajl_gen_array_open(g));
    return yajl_gen_status_ok;
 gen_failed:
    return s;
}

int xlsnap_list_to_json(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                        const xlsnap_snapshot *list, int nr,
                        char **json_r)
{
    yajl_gen g = xlsnap__gen_alloc();
    int s;

    if (!g) return xlsnap__nomem(ctx);
    CHK(gen_list_head(g, dom));
    /* (a record's own error: negative, on ctx already) */
    for (int i = 0; i < nr; i++)
        CHK(xlsnap__snapshot_gen(ctx, g, &list[i]));
    CHK(yajl_gen_array_close(g));
    CHK(yajl_gen_map_close(g));
 gen_failed:
    return xlsnap__gen_end(ctx, g, s, json_r, XLSNAP_ERROR_FAIL,
                           "cannot generate JSON (yajl status %d)", s);
}

/* The bytes generated so far handed to write, the buffer emptied. */
static int json_flush(xlsnap_ctx *ctx, yajl_gen g, xlsnap_json_write_fn write,
                      void *arg, char *last)
{
    const unsigned char *buf;
    size_t len;

    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
        return xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "cannot generate JSON");
    if (len && write(arg, (const char *)buf, len))
        return xlsnap__error(ctx, XLSNAP_ERROR_IO, "cannot write the JSON "
                             "text");
    if (len) *last = buf[len - 1];
    yajl_gen_clear(g);
    return 0;
}

int xlsnap_list_json_write(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                           const xlsnap_snapshot *list, int nr,
                           xlsnap_json_write_fn write, void *arg)
{
    yajl_gen g = xlsnap__gen_alloc();
    xlsnap_snapshot full, withcfg;
    const char *cfg;
    char last = 0;
    int s = 0, rc;

    xlsnap_snapshot_init(&full);
    if (!g) return xlsnap__nomem(ctx);
    CHK(gen_list_head(g, dom));
    for (int i = 0; i < nr; i++) {
        const xlsnap_snapshot *one = &list[i];
        /* a summary (no config) of the last xlsnap_list_summary: its
         * config from the index it was summarised from; another: the
         * record itself, read now, one at a time (one removed meanwhile
         * is left out) */
        if (!one->config_json &&
            xlsnap__index_config(ctx, dom->uuid, one, &cfg)) {
            withcfg = *one;
            withcfg.config_json = (char *)cfg;
            one = &withcfg;
        } else if (!one->config_json) {
            rc = xlsnap__store_read(ctx, dom->uuid, one->name, &full);
            if (rc == XLSNAP_ERROR_NOTFOUND) continue;
            if (rc) goto out;
            one = &full;
        }
        /* (a record's own error: negative, on ctx already) */
        CHK(xlsnap__snapshot_gen_extra(ctx, g, one, xlsnap__gen_layers));
        xlsnap_snapshot_dispose(&full);
        if ((rc = json_flush(ctx, g, write, arg, &last))) goto out;
    }
    CHK(yajl_gen_array_close(g));
    CHK(yajl_gen_map_close(g));
    if ((rc = json_flush(ctx, g, write, arg, &last))) goto out;
    /* as the whole text is printed: ending with a newline */
    if (last != '\n' && write(arg, "\n", 1))
        rc = xlsnap__error(ctx, XLSNAP_ERROR_IO, "cannot write the JSON "
                           "text");
    goto out;
 gen_failed:
    rc = s < 0 ? s : xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "cannot generate "
                                   "JSON (yajl status %d)", s);
 out:
    xlsnap_snapshot_dispose(&full);
    yajl_gen_free(g);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
