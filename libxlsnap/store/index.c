/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * index.c - the list index: a cache of every record but its domain
 * config, so that listing thousands of snapshots does not open and parse
 * thousands of JSON files.
 *
 *   <state_dir>/<uuid>/.index     0600, rewritten whole (tmp + rename)
 *
 * It is never trusted blindly: every line carries the inode, size and
 * mtime of the record.json it was made from, and a list uses the index
 * only if the snapshot directories and their record.json files are
 * exactly those (one readdir and one fstatat per record).  Otherwise the
 * records are read as always and the index is written again, so a
 * record written by anyone (the library, a test, an editor) is seen; a
 * racing writer at worst leaves an index that fails the next check.
 *
 * Line format: fields separated by tabs; a string is "~" (NULL) or "="
 * followed by the text with '\\', tab and newline escaped.
 */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define INDEX_FILE ".index"
#define INDEX_MAGIC "xl-snapshot-index 1\n"
#define INDEX_MAX (256u << 20)

typedef struct {
    char *buf;
    size_t len, cap;
    bool nomem;         /* an add failed: the buffer is not written */
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap) cap *= 2;
        char *nb = b->nomem ? NULL : realloc(b->buf, cap);
        if (!nb) { b->nomem = true; return; }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, "\t", 1);
    if (!s) { sb_add(b, "~", 1); return; }
    sb_add(b, "=", 1);
    for (const char *p = s; *p; p++) {
        const char *e = *p == '\\' ? "\\\\" : *p == '\t' ? "\\t"
                      : *p == '\n' ? "\\n" : NULL;
        if (e) sb_add(b, e, 2);
        else sb_add(b, p, 1);
    }
}

static void sb_num(sbuf *b, long long v)
{
    char t[32];
    sb_add(b, t, snprintf(t, sizeof(t), "\t%lld", v));
}

/* The stat key of <name>/record.json. */
struct key {
    long long ino, size, sec, nsec;
};

static int stat_key(int dfd, const char *name, struct key *k)
{
    char p[XLSNAP_NAME_MAX + sizeof(XLSNAP__RECORD_FILE) + 2];
    struct stat st;

    snprintf(p, sizeof(p), "%s/%s", name, XLSNAP__RECORD_FILE);
    if (fstatat(dfd, p, &st, AT_SYMLINK_NOFOLLOW) < 0) return -errno;
    if (!S_ISREG(st.st_mode)) return -EINVAL;
    k->ino = st.st_ino;
    k->size = st.st_size;
    k->sec = st.st_mtim.tv_sec;
    k->nsec = st.st_mtim.tv_nsec;
    return 0;
}

/* ---- parsing ---- */

/* Next field of the line at *p (tab separated, ends at '\n'). */
static char *field(char **p)
{
    char *s = *p, *e;

    if (!s) return NULL;
    e = s + strcspn(s, "\t\n");
    if (*e == '\t') { *e = '\0'; *p = e + 1; }
    else { *e = '\0'; *p = NULL; }
    return s;
}

static bool get_num(char **p, long long *v)
{
    char *f = field(p), *end;

    if (!f || !*f) return false;
    errno = 0;
    *v = strtoll(f, &end, 10);
    return !*end && !errno;
}

/* A string field, unescaped in place and copied. */
static bool get_str(char **p, char **out)
{
    char *f = field(p), *w;

    if (!f || (*f != '~' && *f != '=')) return false;
    if (*f == '~') { *out = NULL; return !f[1]; }
    w = ++f;
    for (char *r = f; *r; r++) {
        if (*r != '\\') { *w++ = *r; continue; }
        r++;
        if (*r == '\\') *w++ = '\\';
        else if (*r == 't') *w++ = '\t';
        else if (*r == 'n') *w++ = '\n';
        else return false;
    }
    *w = '\0';
    *out = xlsnap__strdup(f);
    return true;
}

static bool parse_line(char *line, const char *uuid, struct key *k,
                       xlsnap_snapshot *s)
{
    char *p = line;
    long long st, cur, live, nd, kind, t;

    xlsnap_snapshot_init(s);
    if (!get_str(&p, &s->name) || !s->name) return false;
    if (!get_num(&p, &k->ino) || !get_num(&p, &k->size) ||
        !get_num(&p, &k->sec) || !get_num(&p, &k->nsec) ||
        !get_num(&p, &t) || !get_num(&p, &st) ||
        !get_num(&p, &cur) || !get_num(&p, &live))
        return false;
    s->creationtime = t;
    s->state = st ? XLSNAP_STATE_READY : XLSNAP_STATE_PREPARING;
    s->current = cur;
    s->memory_live = live;
    if (!get_str(&p, &s->description) || !get_str(&p, &s->domstate) ||
        !get_str(&p, &s->memory) || !get_str(&p, &s->memory_compression) ||
        !get_str(&p, &s->parent) || !get_str(&p, &s->domain_name) ||
        !get_num(&p, &nd) || nd < 0 || nd > 4096)
        return false;
    s->domain_uuid = xlsnap__strdup(uuid);
    if (nd) {
        s->disks = calloc(nd, sizeof(*s->disks));
        if (!s->disks) return false;
    }
    for (int i = 0; i < nd; i++) {
        xlsnap_disk *d = &s->disks[i];
        s->num_disks = i + 1;
        if (!get_str(&p, &d->vdev) || !get_str(&p, &d->format) ||
            !get_str(&p, &d->image) || !get_num(&p, &kind) ||
            !get_str(&p, &d->internal_name) || !get_str(&p, &d->overlay) ||
            !get_str(&p, &d->backing))
            return false;
        d->kind = kind;
    }
    return p == NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_snap_name(const void *a, const void *b)
{
    return strcmp(((const xlsnap_snapshot *)a)->name,
                  ((const xlsnap_snapshot *)b)->name);
}

/*
 * The summaries from the index of uuid, if it is exactly what is on
 * disk: 0 with the list (sorted by name), 1 when it is not usable.
 */
static int index_read(xlsnap_ctx *ctx, int dfd, const char *uuid,
                      xlsnap_snapshot **list_r, int *nr_r)
{
    char *data = NULL, *p, **names = NULL;
    size_t len;
    xlsnap_snapshot *list = NULL;
    struct key *keys = NULL;
    int nr = 0, cap = 0, nn = 0, ncap = 0, j = 0, rc = 1;
    xlsnap__errsaved saved;
    DIR *d = NULL;
    struct dirent *de;
    int dfd2;

    xlsnap__errsave(ctx, &saved);
    if (xlsnap__read_file(ctx, dfd, INDEX_FILE, INDEX_MAX, &data, &len))
        goto out;
    if (len < sizeof(INDEX_MAGIC) - 1 || data[len - 1] != '\n' ||
        memcmp(data, INDEX_MAGIC, sizeof(INDEX_MAGIC) - 1))
        goto out;
    for (p = data + sizeof(INDEX_MAGIC) - 1; p < data + len; ) {
        char *nl = memchr(p, '\n', data + len - p);
        if (nr == cap) {
            cap = cap ? cap * 2 : 256;
            void *a = realloc(list, cap * sizeof(*list));
            void *b = realloc(keys, cap * sizeof(*keys));
            if (a) list = a;
            if (b) keys = b;
            if (!a || !b) goto out;
        }
        *nl = '\0';
        if (!parse_line(p, uuid, &keys[nr], &list[nr])) {
            xlsnap_snapshot_dispose(&list[nr]);
            goto out;
        }
        nr++;
        p = nl + 1;
    }
    /* the directories holding a record.json must be exactly these */
    if ((dfd2 = dup(dfd)) < 0 || !(d = fdopendir(dfd2))) {
        if (dfd2 >= 0) close(dfd2);
        goto out;
    }
    while ((errno = 0, de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) continue;
        if (nn == ncap) {
            ncap = ncap ? ncap * 2 : 256;
            char **a = realloc(names, ncap * sizeof(*names));
            if (!a) goto out;
            names = a;
        }
        names[nn++] = xlsnap__strdup(de->d_name);
    }
    if (errno) goto out;
    if (nn) qsort(names, nn, sizeof(*names), cmp_str);
    for (int i = 0; i < nn; i++) {
        struct key k;
        int e = stat_key(dfd, names[i], &k);
        if (e == -ENOENT) continue;          /* interrupted create */
        if (e || j >= nr || strcmp(list[j].name, names[i]) ||
            k.ino != keys[j].ino || k.size != keys[j].size ||
            k.sec != keys[j].sec || k.nsec != keys[j].nsec)
            goto out;
        j++;
    }
    if (j != nr) goto out;
    *list_r = list;
    *nr_r = nr;
    list = NULL;
    nr = 0;
    rc = 0;
 out:
    if (d) closedir(d);
    for (int i = 0; i < nn; i++) free(names[i]);
    free(names);
    xlsnap_snapshot_list_free(list, nr);
    free(keys);
    free(data);
    xlsnap__errrestore(ctx, &saved);
    return rc;
}

/* Best effort: an index that cannot be written only costs speed. */
static void index_write(int dfd, const xlsnap_snapshot *list, int nr)
{
    sbuf b = { 0 };
    int fd;

    sb_add(&b, INDEX_MAGIC, sizeof(INDEX_MAGIC) - 1);
    for (int i = 0; i < nr; i++) {
        const xlsnap_snapshot *s = &list[i];
        struct key k;
        size_t start = b.len;

        if (stat_key(dfd, s->name, &k)) continue;
        sb_str(&b, s->name);
        sb_num(&b, k.ino);
        sb_num(&b, k.size);
        sb_num(&b, k.sec);
        sb_num(&b, k.nsec);
        sb_num(&b, s->creationtime);
        sb_num(&b, s->state == XLSNAP_STATE_READY);
        sb_num(&b, s->current);
        sb_num(&b, s->memory_live);
        sb_str(&b, s->description);
        sb_str(&b, s->domstate);
        sb_str(&b, s->memory);
        sb_str(&b, s->memory_compression);
        sb_str(&b, s->parent);
        sb_str(&b, s->domain_name);
        sb_num(&b, s->num_disks);
        for (int j = 0; j < s->num_disks; j++) {
            const xlsnap_disk *d = &s->disks[j];
            sb_str(&b, d->vdev);
            sb_str(&b, d->format);
            sb_str(&b, d->image);
            sb_num(&b, d->kind);
            sb_str(&b, d->internal_name);
            sb_str(&b, d->overlay);
            sb_str(&b, d->backing);
        }
        if (b.nomem) goto out;  /* best effort: no index */
        /* the first field has no tab before it */
        memmove(b.buf + start, b.buf + start + 1, b.len - start - 1);
        b.buf[b.len - 1] = '\n';
    }
    unlinkat(dfd, XLSNAP__TMP_NAME(INDEX_FILE), 0);
    fd = openat(dfd, XLSNAP__TMP_NAME(INDEX_FILE), O_WRONLY | O_CREAT | O_EXCL |
                O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) goto out;
    if (xlsnap__write_all(fd, b.buf, b.len)) { close(fd); goto fail; }
    if (close(fd) == 0 &&
        renameat(dfd, XLSNAP__TMP_NAME(INDEX_FILE), dfd, INDEX_FILE) == 0)
        goto out;
 fail:
    unlinkat(dfd, XLSNAP__TMP_NAME(INDEX_FILE), 0);
 out:
    free(b.buf);
}

void xlsnap__summary_keep(xlsnap_ctx *ctx, const char *uuid,
                          xlsnap_snapshot *list, int nr)
{
    xlsnap_snapshot_list_free(ctx->sum_list, ctx->sum_nr);
    free(ctx->sum_uuid);
    ctx->sum_uuid = uuid ? xlsnap__strdup(uuid) : NULL;
    ctx->sum_list = list;
    ctx->sum_nr = nr;
    clock_gettime(CLOCK_MONOTONIC, &ctx->sum_time);
}

int xlsnap__store_list_summary(xlsnap_ctx *ctx, const char *uuid,
                               xlsnap_snapshot **list_r, int *nr_r)
{
    char *dir = NULL;
    int dfd = -1, rc;
    struct timespec now;

    *list_r = NULL;
    *nr_r = 0;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (ctx->sum_uuid && !strcmp(ctx->sum_uuid, uuid) &&
        now.tv_sec - ctx->sum_time.tv_sec <= 1) {
        /* just read (domain_resolve, then list): take it */
        *list_r = ctx->sum_list;
        *nr_r = ctx->sum_nr;
        ctx->sum_list = NULL;
        xlsnap__summary_keep(ctx, NULL, NULL, 0);
        return 0;
    }
    if ((rc = xlsnap__domain_dir(ctx, uuid, &dir))) goto out;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 && errno == ENOENT) { rc = 0; goto out; }
    if (dfd < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot open %s", dir);
        goto out;
    }
    if (index_read(ctx, dfd, uuid, list_r, nr_r) == 0) {
        if (*nr_r)
            qsort(*list_r, *nr_r, sizeof(**list_r), xlsnap__cmp_snap);
        goto out;
    }
    if ((rc = xlsnap__store_list(ctx, uuid, list_r, nr_r))) goto out;
    for (int i = 0; i < *nr_r; i++) {
        free((*list_r)[i].config_json);
        (*list_r)[i].config_json = NULL;
    }
    /* the index is in name order, as the check walks the directory */
    if (*nr_r) qsort(*list_r, *nr_r, sizeof(**list_r), cmp_snap_name);
    index_write(dfd, *list_r, *nr_r);
    if (*nr_r) qsort(*list_r, *nr_r, sizeof(**list_r), xlsnap__cmp_snap);
 out:
    if (dfd >= 0) close(dfd);
    free(dir);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
