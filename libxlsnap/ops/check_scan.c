/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * check_scan.c - scans of check (check.c) over a domain's records
 *
 * Parent cycles: records edited by hand or damaged can name parents so
 * that going up from a snapshot comes back to it (a snapshot that is
 * its own parent included).  No root reaches them: list --tree would
 * leave them out and every walk up must be guarded.  Each cycle is
 * found once (every record is visited once: O(n)) and one record of it
 * is chosen to become a root, predictably: the oldest (the smallest
 * creation time; the same: the smallest name).  The others keep their
 * parents, so the cycle becomes a chain under that record.
 *
 * Stray images (e1): a file next to one of the domain's disk images,
 * named as the tool names the images it makes for a snapshot
 * (xlsnap__image_sibling: external snapshots' frozen layers, imported
 * images), that nothing of the domain names: a snapshot deleted by
 * hand, a record lost, or an admin's own file of that name.  Nothing
 * proves which, so it is only reported.  A file is only lstat'ed (never
 * opened, its backing file never followed); the images the domain's
 * records and configs name are read (qemu-img, never one a running QEMU
 * has open) to see whether one is built on it: then it is still needed,
 * and not a stray.
 */
#include "internal.h"

#include <ctype.h>
#include <dirent.h>
#include <libgen.h>
#include <sys/stat.h>

void xlsnap__cycle_list_free(xlsnap__cycle *v, int n)
{
    for (int k = 0; v && k < n; k++) free(v[k].members);
    free(v);
}

/* Whether l[a] is older than l[b] (the cut rule above). */
static bool older(const xlsnap_snapshot *l, int a, int b)
{
    if (l[a].creationtime != l[b].creationtime)
        return l[a].creationtime < l[b].creationtime;
    return strcmp(l[a].name, l[b].name) < 0;
}

/* "a -> b -> a": the cycle going up from its member 'from'. */
static char *describe(const xlsnap__tree *t, const xlsnap_snapshot *l,
                      int from)
{
    size_t len = 1;
    char *s, *p;
    int j = from;

    do {
        len += strlen(l[j].name) + 4;
        j = xlsnap__tree_parent(t, j);
    } while (j != from);
    len += strlen(l[from].name);
    if (!(s = malloc(len))) return NULL;
    p = s;
    j = from;
    do {
        p += sprintf(p, "%s -> ", l[j].name);
        j = xlsnap__tree_parent(t, j);
    } while (j != from);
    strcpy(p, l[from].name);
    return s;
}

int xlsnap__scan_cycles(xlsnap_ctx *ctx, xlsnap_snapshot *l, int nr,
                        xlsnap__cycle **v_r, int *n_r)
{
    enum { NEW = 0, ON_PATH, DONE };
    unsigned char *mark = calloc(nr ? nr : 1, 1);
    xlsnap__cycle *v = NULL;
    xlsnap__tree t;
    int n = 0, rc;

    *v_r = NULL;
    *n_r = 0;
    xlsnap__tree_init(&t);
    if (!mark) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    if ((rc = xlsnap__tree_build(ctx, &t, l, nr))) goto out;
    for (int i = 0; i < nr; i++) {
        int j = i;
        if (mark[i] != NEW) continue;
        /* up from i until a root, a record seen before, or one of this
         * walk (a cycle) */
        while (j >= 0 && mark[j] == NEW) {
            mark[j] = ON_PATH;
            j = xlsnap__tree_parent(&t, j);
        }
        if (j >= 0 && mark[j] == ON_PATH) {
            int cut = j;
            xlsnap__cycle *nv;
            for (int k = xlsnap__tree_parent(&t, j); k != j;
                 k = xlsnap__tree_parent(&t, k))
                if (older(l, k, cut)) cut = k;
            if (!(nv = realloc(v, (n + 1) * sizeof(*v)))) {
                rc = xlsnap__nomem(ctx);
                goto out;
            }
            v = nv;
            v[n].cut = cut;
            if (!(v[n].members = describe(&t, l, cut))) {
                rc = xlsnap__nomem(ctx);
                goto out;
            }
            n++;
        }
        for (j = i; j >= 0 && mark[j] == ON_PATH;
             j = xlsnap__tree_parent(&t, j))
            mark[j] = DONE;
    }
    *v_r = v;
    *n_r = n;
    v = NULL;
    n = 0;
    rc = 0;
 out:
    xlsnap__cycle_list_free(v, n);
    xlsnap__tree_dispose(&t);
    free(mark);
    return rc;
}

/* ---- e1 (issue 19): stray images ---------------------------------- */

void xlsnap__stray_list_free(xlsnap__stray *v, int n)
{
    for (int k = 0; v && k < n; k++) {
        free(v[k].path);
        free(v[k].tag);
    }
    free(v);
}

/* Whether s ends in <mark><digits>[-<digits>] (revert's time stamp). */
static bool stamped(const char *s, const char *mark)
{
    size_t ml = strlen(mark);

    for (const char *p = strstr(s, mark); p; p = strstr(p + 1, mark)) {
        const char *q = p + ml;
        if (!isdigit((unsigned char)*q)) continue;
        while (isdigit((unsigned char)*q)) q++;
        if (*q == '-' && isdigit((unsigned char)q[1]))
            for (q++; isdigit((unsigned char)*q); q++)
                ;
        if (!*q) return true;
    }
    return false;
}

/* A layer revert makes (revert.c stamped_sibling): the old active layer
 * "before-<name>-<time>", a fresh overlay "<name>.rev<time>": the
 * domain's own layers, not a snapshot's image. */
static bool revert_layer(const char *tag)
{
    return (!strncmp(tag, "before-", 7) && stamped(tag + 7, "-")) ||
           stamped(tag, ".rev");
}

/* Whether the file name (without ".qcow2") is a revert layer next to
 * any image: <anything>.<revert layer tag>. */
static bool revert_file(const char *name, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (name[i] == '.') {
            char *t = strndup(name + i + 1, len - i - 1);
            bool r = t && revert_layer(t);
            free(t);
            if (r) return true;
        }
    return false;
}

/* The tag of name if it is <stem>.<tag>.qcow2, tag a snapshot name
 * (malloc'd), else NULL (*nomem_r set when out of memory). */
static char *sibling_tag(xlsnap_ctx *ctx, const char *name,
                         const char *stem, bool *nomem_r)
{
    size_t ln = strlen(name), ls = strlen(stem), lt;
    xlsnap__errsaved saved;
    char *tag;
    int bad;

    if (ln <= ls + 1 + 6 || strncmp(name, stem, ls) || name[ls] != '.' ||
        strcmp(name + ln - 6, ".qcow2"))
        return NULL;
    lt = ln - ls - 1 - 6;
    if (!(tag = strndup(name + ls + 1, lt))) {
        *nomem_r = true;
        return NULL;
    }
    xlsnap__errsave(ctx, &saved);
    bad = xlsnap_name_validate(ctx, tag);
    xlsnap__errrestore(ctx, &saved);
    if (bad || revert_file(name, ln - 6)) {
        free(tag);
        return NULL;
    }
    return tag;
}

/* dir and stem of image as xlsnap__image_sibling makes them */
static int split_image(const char *image, char **dir_r, char **stem_r)
{
    char *d = xlsnap__strdup(image), *b = xlsnap__strdup(image), *dot;
    char *base;

    *dir_r = *stem_r = NULL;
    if (d && b) {
        base = basename(b);
        dot = strrchr(base, '.');
        if (dot && dot != base) *dot = '\0';
        *dir_r = xlsnap__strdup(dirname(d));
        *stem_r = xlsnap__strdup(base);
    }
    free(d);
    free(b);
    if (*dir_r && *stem_r) return 0;
    free(*dir_r);
    free(*stem_r);
    *dir_r = *stem_r = NULL;
    return -1;
}

typedef struct {
    xlsnap_ctx *ctx;
    xlsnap__strset roots;       /* disk images named (with formats) */
    xlsnap__strset owned;       /* every file named */
    xlsnap__strset nonlive;     /* roots no running QEMU has open */
    dev_t *dev;
    ino_t *ino;
    int nid;
    xlsnap__stray *v;
    int n;
} stray_scan;

static void add_config(stray_scan *s, const char *cfg)
{
    xlsnap__cfgdisk *cd = NULL;
    xlsnap__errsaved saved;
    int ncd = 0;

    if (!cfg) return;
    xlsnap__errsave(s->ctx, &saved);
    if (xlsnap__config_disks(s->ctx, cfg, &cd, &ncd)) {
        /* a config without disks names nothing */
        xlsnap__errrestore(s->ctx, &saved);
        return;
    }
    for (int j = 0; j < ncd; j++)
        if (cd[j].path && cd[j].path[0] == '/' && !cd[j].cdrom)
            xlsnap__set_add_fmt(&s->roots, cd[j].path, cd[j].format);
    xlsnap__cfgdisk_list_free(cd, ncd);
}

static void add_record(stray_scan *s, const xlsnap_domain *dom,
                       const xlsnap_snapshot *sn)
{
    xlsnap__errsaved saved;
    xlsnap__part *p = NULL;
    int np = 0;

    for (int k = 0; k < sn->num_disks; k++) {
        const xlsnap_disk *d = &sn->disks[k];
        if (d->kind == XLSNAP_DISK_VOLUME) continue;    /* no image */
        xlsnap__set_add_fmt(&s->roots, d->image, d->format);
        xlsnap__set_add_fmt(&s->roots, d->overlay, "qcow2");
        xlsnap__set_add_fmt(&s->roots, d->backing, d->format);
    }
    add_config(s, sn->config_json);
    xlsnap__set_add(&s->owned, sn->memory);
    /* the files the tool made for it (a damaged parts file: its
     * record's disks and memory still say) */
    xlsnap__errsave(s->ctx, &saved);
    if (!xlsnap__parts_read(s->ctx, dom->uuid, sn->name, &p, &np))
        for (int i = 0; i < np; i++)
            xlsnap__set_add(&s->owned, p[i].path);
    xlsnap__errrestore(s->ctx, &saved);
    xlsnap__parts_free(p, np);
}

/* Whether the file st is a file owned names. */
static bool owned_file(stray_scan *s, const char *path, const struct stat *st)
{
    if (xlsnap__set_has(&s->owned, path)) return true;
    for (int i = 0; i < s->nid; i++)
        if (s->dev[i] == st->st_dev && s->ino[i] == st->st_ino) return true;
    return false;
}

/* Whether an image the domain uses is built on path: still needed. */
static bool needed(stray_scan *s, const char *path)
{
    xlsnap__errsaved saved;
    int n = 0, rc;

    xlsnap__errsave(s->ctx, &saved);
    rc = xlsnap__dependents(s->ctx, path, &s->nonlive, &n, NULL);
    xlsnap__errrestore(s->ctx, &saved);
    /* an image that cannot be read may be built on it: kept */
    return rc || n > 0;
}

/* The strays of dir among the stems of roots in it. */
static int scan_dir(stray_scan *s, const char *dir, char **stems, int ns)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    bool nomem = false;

    if (!d) return 0;           /* gone or not ours to read: nothing */
    while (!nomem && (de = readdir(d))) {
        struct stat st;
        char *path, *tag = NULL;
        if (de->d_name[0] == '.') continue;
        for (int k = 0; !tag && !nomem && k < ns; k++)
            tag = sibling_tag(s->ctx, de->d_name, stems[k], &nomem);
        if (!tag) continue;
        path = xlsnap__sprintf("%s/%s", strcmp(dir, "/") ? dir : "",
                               de->d_name);
        if (!path) {
            free(tag);
            nomem = true;
            break;
        }
        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
            owned_file(s, path, &st) || needed(s, path)) {
            free(path);
            free(tag);
            continue;
        }
        xlsnap__stray *nv = realloc(s->v, (s->n + 1) * sizeof(*s->v));
        if (!nv) {
            free(path);
            free(tag);
            nomem = true;
            break;
        }
        s->v = nv;
        s->v[s->n].path = path;
        s->v[s->n].tag = tag;
        s->n++;
    }
    closedir(d);
    return nomem ? xlsnap__nomem(s->ctx) : 0;
}

static int path_cmp(const void *a, const void *b)
{
    return strcmp(((const xlsnap__stray *)a)->path,
                  ((const xlsnap__stray *)b)->path);
}

int xlsnap__scan_strays(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                        const xlsnap_snapshot *l, int nr,
                        const xlsnap__strset *live,
                        xlsnap__stray **v_r, int *n_r)
{
    stray_scan s = { .ctx = ctx };
    xlsnap__strset dirs = { 0 };
    char **dir = NULL, **stem = NULL;
    int nroots = 0, rc = 0;

    *v_r = NULL;
    *n_r = 0;
    for (int k = 0; k < nr; k++) add_record(&s, dom, &l[k]);
    for (int i = 0; live && i < live->n; i++)
        xlsnap__set_add_fmt(&s.roots, live->v[i], live->fmt[i]);
    for (int i = 0; i < s.roots.n; i++) {
        xlsnap__set_add(&s.owned, s.roots.v[i]);
        if (!live || !xlsnap__set_has(live, s.roots.v[i]))
            xlsnap__set_add_fmt(&s.nonlive, s.roots.v[i], s.roots.fmt[i]);
    }
    if (s.roots.nomem || s.owned.nomem || s.nonlive.nomem) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    nroots = s.roots.n;
    dir = calloc(nroots + 1, sizeof(*dir));
    stem = calloc(nroots + 1, sizeof(*stem));
    s.dev = calloc(s.owned.n + 1, sizeof(*s.dev));
    s.ino = calloc(s.owned.n + 1, sizeof(*s.ino));
    if (!dir || !stem || !s.dev || !s.ino) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    for (int i = 0; i < s.owned.n; i++) {
        struct stat st;
        if (stat(s.owned.v[i], &st) < 0) continue;
        s.dev[s.nid] = st.st_dev;
        s.ino[s.nid++] = st.st_ino;
    }
    for (int i = 0; i < nroots; i++) {
        if (s.roots.v[i][0] != '/') continue;
        if (split_image(s.roots.v[i], &dir[i], &stem[i])) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        xlsnap__set_add(&dirs, dir[i]);
    }
    if (dirs.nomem) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    /* each directory read once, against the stems of its images */
    for (int j = 0; !rc && j < dirs.n; j++) {
        char **st = calloc(nroots + 1, sizeof(*st));
        int ns = 0;
        if (!st) {
            rc = xlsnap__nomem(ctx);
            break;
        }
        for (int i = 0; i < nroots; i++)
            if (dir[i] && !strcmp(dir[i], dirs.v[j])) st[ns++] = stem[i];
        rc = scan_dir(&s, dirs.v[j], st, ns);
        free(st);
    }
    if (rc) goto out;
    if (s.n) qsort(s.v, s.n, sizeof(*s.v), path_cmp);
    *v_r = s.v;
    *n_r = s.n;
    s.v = NULL;
    s.n = 0;
 out:
    for (int i = 0; i < nroots; i++) {
        if (dir) free(dir[i]);
        if (stem) free(stem[i]);
    }
    free(dir);
    free(stem);
    free(s.dev);
    free(s.ino);
    xlsnap__stray_list_free(s.v, s.n);
    xlsnap__set_free(&s.roots);
    xlsnap__set_free(&s.owned);
    xlsnap__set_free(&s.nonlive);
    xlsnap__set_free(&dirs);
    return rc;
}

/* ---- e1: end ------------------------------------------------------ */

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
