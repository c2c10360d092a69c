/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * index.c - the list index: a cache of every record, its domain config
 * kept once per distinct text, so that listing thousands of snapshots
 * (`list --json` too) does not open and parse thousands of JSON files.
 *
 *   <state_dir>/<uuid>/.index     0600, rewritten whole (tmp + rename)
 *
 * It is never trusted blindly: every line carries the inode, size and
 * mtime of the record.json it was made from, and a list uses the index
 * only if the snapshot directories and their record.json files are
 * exactly those (one readdir and one fstatat per record).  Otherwise the
 * records are read as always, so a record written by anyone (the
 * library, a test, an editor) is seen.
 *
 * The index is written only under the domain's lock (taken without
 * waiting: when it is busy the list is served from the records and no
 * index is written), and the stat keys it keeps are taken BEFORE the
 * records are read: a record changed while it is read leaves a key that
 * fails the next check, never an old content under a new key.
 *
 * Line format: fields separated by tabs: the name, the stat key, then
 * every other field of the record table (model/record_fields.h) that is
 * kept in the index, in its order; a string is "~" (NULL) or "=" followed
 * by the text with '\\', tab and newline escaped; numbers, booleans and
 * disk kinds are decimal; the state is a string ("=deleting"), so an
 * index of older versions (which kept it as 0/1) fails to parse and is
 * rebuilt.  The last field is the number of the record's domain config
 * (-1: null): the distinct configs (as record.c keeps them, text) come
 * first, one a line, "*" tab and the string field, so that `list --json`
 * prints every record from the index, each config written once however
 * many snapshots share it (version 1 had no configs: rebuilt).
 */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define INDEX_FILE ".index"
#define INDEX_MAGIC "xl-snapshot-index 2\n"
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

/* The stat key of <name>/record.json, and the number of the record's
 * config in the keyset that holds the key (-1: null). */
struct key {
    long long ino, size, sec, nsec;
    int cfg;
};

/* The keys of an index's lines and its configs (copies: the text of
 * the file is freed once parsed); what xlsnap__store_handle keeps. */
struct keyset {
    struct key *k;
    char **cfg;
    int ncfg;
};

static void keyset_free(struct keyset *ks)
{
    if (!ks) return;
    free(ks->k);
    for (int i = 0; i < ks->ncfg; i++) free(ks->cfg[i]);
    free(ks->cfg);
    free(ks);
}

void xlsnap__index_keys_free(void *keys)
{
    keyset_free(keys);
}

static const char *keyset_cfg(const struct keyset *ks, int i)
{
    int c = ks->k[i].cfg;
    return c >= 0 ? ks->cfg[c] : NULL;
}

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

/* Parsing results: a field or line is good (1), malformed (0: the
 * index is not used), or could not be copied (-1: out of memory). */
enum { P_NOMEM = -1, P_BAD = 0, P_OK = 1 };

/* A string field, unescaped in place (*out points into the line). */
static int get_str_inplace(char **p, char **out)
{
    char *f = field(p), *w;

    if (!f || (*f != '~' && *f != '=')) return P_BAD;
    if (*f == '~') { *out = NULL; return !f[1]; }
    w = ++f;
    for (char *r = f; *r; r++) {
        if (*r != '\\') { *w++ = *r; continue; }
        r++;
        if (*r == '\\') *w++ = '\\';
        else if (*r == 't') *w++ = '\t';
        else if (*r == 'n') *w++ = '\n';
        else return P_BAD;
    }
    *w = '\0';
    *out = f;
    return P_OK;
}

/* A string field, unescaped in place and copied. */
static int get_str(char **p, char **out)
{
    char *f;
    int r = get_str_inplace(p, &f);

    if (r != P_OK || !f) {
        *out = NULL;
        return r;
    }
    *out = xlsnap__strdup(f);
    return *out ? P_OK : P_NOMEM;
}

/* The fields of table t kept in the index, from the line at *p into
 * the struct at base; skip: how many first fields are already read. */
static int get_fields(char **p, const xlsnap__field *t, int skip,
                      void *base)
{
    for (const xlsnap__field *f = t + skip; f->key; f++) {
        long long v;
        char *str;
        bool ok = true;
        int r;

        if (f->flags & XLSNAP__F_NOIDX) continue;
        if (xlsnap__field_is_str(f)) {
            char **sp = XLSNAP__AT(char *, base, f);
            if ((r = get_str(p, sp)) != P_OK) return r;
            /* what a record must have, the index must have too */
            if (!*sp && (f->flags & XLSNAP__F_REQ) &&
                (t != xlsnap__disk_fields || xlsnap__field_applies(f, base)))
                return P_BAD;
            continue;
        }
        switch (f->kind) {
        case XLSNAP__FK_TIME:
            ok = get_num(p, &v) && v >= 0;
            if (ok) *XLSNAP__AT(int64_t, base, f) = v;
            break;
        case XLSNAP__FK_STATE:
            if ((r = get_str(p, &str)) != P_OK) return r;
            if (!str) return P_BAD;
            v = xlsnap__state_parse(str);
            free(str);
            ok = v >= 0;
            if (ok) *XLSNAP__AT(xlsnap_state, base, f) = v;
            break;
        case XLSNAP__FK_BOOL:
            ok = get_num(p, &v) && (v == 0 || v == 1);
            if (ok) *XLSNAP__AT(bool, base, f) = v;
            break;
        case XLSNAP__FK_DKIND:
            ok = get_num(p, &v) && (v == XLSNAP_DISK_INTERNAL ||
                                    v == XLSNAP_DISK_EXTERNAL ||
                                    v == XLSNAP_DISK_VOLUME);
            if (ok) *XLSNAP__AT(xlsnap_disk_kind, base, f) = v;
            break;
        case XLSNAP__FK_DISKS: {
            xlsnap_snapshot *s = base;
            if (!get_num(p, &v) || v < 0 || v > 4096) return P_BAD;
            if (v) {
                s->disks = calloc(v, sizeof(*s->disks));
                if (!s->disks) return P_NOMEM;
            }
            for (int i = 0; i < v; i++) {
                s->num_disks = i + 1;
                if ((r = get_fields(p, xlsnap__disk_fields, 0,
                                    &s->disks[i])) != P_OK)
                    return r;
            }
            break;
        }
        default:                        /* not kept: F_NOIDX */
            return P_BAD;
        }
        if (!ok) return P_BAD;
    }
    return P_OK;
}

static void put_fields(sbuf *b, const xlsnap__field *t, int skip,
                       const void *base)
{
    for (const xlsnap__field *f = t + skip; f->key; f++) {
        if (f->flags & XLSNAP__F_NOIDX) continue;
        if (xlsnap__field_is_str(f)) {
            sb_str(b, *XLSNAP__AT(char *const, base, f));
            continue;
        }
        switch (f->kind) {
        case XLSNAP__FK_TIME:
            sb_num(b, *XLSNAP__AT(const int64_t, base, f));
            break;
        case XLSNAP__FK_STATE:
            sb_str(b, xlsnap_state_name(*XLSNAP__AT(const xlsnap_state,
                                                    base, f)));
            break;
        case XLSNAP__FK_BOOL:
            sb_num(b, *XLSNAP__AT(const bool, base, f));
            break;
        case XLSNAP__FK_DKIND:
            sb_num(b, *XLSNAP__AT(const xlsnap_disk_kind, base, f));
            break;
        case XLSNAP__FK_DISKS: {
            const xlsnap_snapshot *s = base;
            sb_num(b, s->num_disks);
            for (int i = 0; i < s->num_disks; i++)
                put_fields(b, xlsnap__disk_fields, 0, &s->disks[i]);
            break;
        }
        default:
            break;
        }
    }
}

/* A line: the name (the first field of the record table), the stat key,
 * the other fields. */
static int parse_line(char *line, const char *uuid, struct key *k,
                      int ncfg, xlsnap_snapshot *s)
{
    char *p = line;
    long long c;
    int r;

    xlsnap_snapshot_init(s);
    if ((r = get_str(&p, &s->name)) != P_OK) return r;
    if (!s->name) return P_BAD;
    if (!get_num(&p, &k->ino) || !get_num(&p, &k->size) ||
        !get_num(&p, &k->sec) || !get_num(&p, &k->nsec))
        return P_BAD;
    if ((r = get_fields(&p, xlsnap__record_fields, 1, s)) != P_OK) return r;
    if (!get_num(&p, &c) || c < -1 || c >= ncfg) return P_BAD;
    k->cfg = c;
    if (!(s->domain_uuid = xlsnap__strdup(uuid))) return P_NOMEM;
    return p == NULL ? P_OK : P_BAD;
}

/* A snapshot directory and the stat key of its record. */
struct entry {
    char *name;
    struct key k;
    int err;                /* of the stat: -ENOENT, an interrupted create */
};

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name,
                  ((const struct entry *)b)->name);
}

static void entries_free(struct entry *e, int n)
{
    for (int i = 0; i < n; i++) free(e[i].name);
    free(e);
}

/* Every directory of the domain dir with the stat key of its record,
 * sorted by name: 0, -1 when the directory cannot be read, or
 * XLSNAP_ERROR_NOMEM (no message). */
static int scan(int dfd, struct entry **e_r, int *n_r)
{
    struct entry *e = NULL;
    int n = 0, cap = 0, dfd2 = -1, rc = -1;
    struct dirent *de;
    DIR *d = NULL;

    if ((dfd2 = dup(dfd)) < 0 || !(d = fdopendir(dfd2))) {
        if (dfd2 >= 0) close(dfd2);
        goto out;
    }
    rewinddir(d);
    while ((errno = 0, de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        /* a symbolic link is an entry whose record is refused (the
         * records are read, and read_record says why) */
        if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN &&
            de->d_type != DT_LNK)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            struct entry *a = realloc(e, cap * sizeof(*e));
            if (!a) { rc = XLSNAP_ERROR_NOMEM; goto out; }
            e = a;
        }
        e[n].name = xlsnap__strdup(de->d_name);
        if (!e[n].name) { rc = XLSNAP_ERROR_NOMEM; goto out; }
        e[n].err = de->d_type == DT_LNK ? -ELOOP
                                        : stat_key(dfd, de->d_name, &e[n].k);
        n++;
    }
    if (errno) goto out;
    if (n) qsort(e, n, sizeof(*e), cmp_entry);
    *e_r = e;
    *n_r = n;
    e = NULL;
    n = 0;
    rc = 0;
 out:
    if (d) closedir(d);
    entries_free(e, n);
    return rc;
}

/*
 * The lines of the index of uuid as they are (in name order), not yet
 * checked against the records: 0 with the list and its keyset (stat
 * keys and configs), 1 when there is no usable index,
 * XLSNAP_ERROR_NOMEM (no message).
 */
static int index_parse(xlsnap_ctx *ctx, int dfd, const char *uuid,
                       xlsnap_snapshot **list_r, int *nr_r,
                       struct keyset **ks_r)
{
    char *data = NULL, *p;
    size_t len;
    xlsnap_snapshot *list = NULL;
    struct keyset *ks = NULL;
    int nr = 0, cap = 0, ccap = 0, rc = 1, r;
    char saved[XLSNAP__ERRBUF];

    memcpy(saved, ctx->errbuf, sizeof(saved));
    if ((r = xlsnap__read_file(ctx, dfd, INDEX_FILE, INDEX_MAX, &data,
                               &len))) {
        if (r == XLSNAP_ERROR_NOMEM) rc = r;
        goto out;
    }
    if (len < sizeof(INDEX_MAGIC) - 1 || data[len - 1] != '\n' ||
        memcmp(data, INDEX_MAGIC, sizeof(INDEX_MAGIC) - 1))
        goto out;
    if (!(ks = calloc(1, sizeof(*ks)))) { rc = XLSNAP_ERROR_NOMEM; goto out; }
    p = data + sizeof(INDEX_MAGIC) - 1;
    /* the configs, first */
    while (p < data + len && p[0] == '*' && p[1] == '\t') {
        char *nl = memchr(p, '\n', data + len - p), *q = p + 2, *c;
        *nl = '\0';
        if (get_str_inplace(&q, &c) != P_OK || !c || q) goto out;
        if (ks->ncfg == ccap) {
            ccap = ccap ? ccap * 2 : 8;
            void *a = realloc(ks->cfg, ccap * sizeof(*ks->cfg));
            if (!a) { rc = XLSNAP_ERROR_NOMEM; goto out; }
            ks->cfg = a;
        }
        if (!(ks->cfg[ks->ncfg] = xlsnap__strdup(c))) {
            rc = XLSNAP_ERROR_NOMEM;
            goto out;
        }
        ks->ncfg++;
        p = nl + 1;
    }
    for (; p < data + len; ) {
        char *nl = memchr(p, '\n', data + len - p);
        if (nr == cap) {
            cap = cap ? cap * 2 : 256;
            void *a = realloc(list, cap * sizeof(*list));
            void *b = realloc(ks->k, cap * sizeof(*ks->k));
            if (a) list = a;
            if (b) ks->k = b;
            if (!a || !b) { rc = XLSNAP_ERROR_NOMEM; goto out; }
        }
        *nl = '\0';
        if ((r = parse_line(p, uuid, &ks->k[nr], ks->ncfg, &list[nr])) !=
            P_OK) {
            xlsnap_snapshot_dispose(&list[nr]);
            if (r == P_NOMEM) rc = XLSNAP_ERROR_NOMEM;
            goto out;
        }
        /* strictly in name order, each name once (the merge with the
         * directory relies on it) */
        if (nr && strcmp(list[nr - 1].name, list[nr].name) >= 0) {
            xlsnap_snapshot_dispose(&list[nr]);
            goto out;
        }
        nr++;
        p = nl + 1;
    }
    *list_r = list;
    *nr_r = nr;
    *ks_r = ks;
    ks = NULL;
    list = NULL;
    nr = 0;
    rc = 0;
 out:
    xlsnap_snapshot_list_free(list, nr);
    keyset_free(ks);
    free(data);
    memcpy(ctx->errbuf, saved, sizeof(saved));
    return rc;
}

static bool key_eq(const struct key *a, const struct key *b)
{
    return a->ino == b->ino && a->size == b->size && a->sec == b->sec &&
           a->nsec == b->nsec;
}

/* Whether the parsed index (list, keys: nr lines in name order) is
 * exactly the directories e (ne, in name order) holding a record. */
static bool index_matches(const xlsnap_snapshot *list,
                          const struct key *keys, int nr,
                          const struct entry *e, int ne)
{
    int j = 0;

    for (int i = 0; i < ne; i++) {
        if (e[i].err == -ENOENT) continue;          /* interrupted create */
        if (e[i].err || j >= nr || strcmp(list[j].name, e[i].name) ||
            !key_eq(&e[i].k, &keys[j]))
            return false;
        j++;
    }
    return j == nr;
}

/*
 * The summaries from the index of uuid, if it is exactly what is on
 * disk: 0 with the list (sorted by name), 1 when it is not usable,
 * XLSNAP_ERROR_NOMEM when it could not be read for want of memory.
 */
static int index_read(xlsnap_ctx *ctx, int dfd, const char *uuid,
                      xlsnap_snapshot **list_r, int *nr_r,
                      struct keyset **keys_r)
{
    xlsnap_snapshot *list = NULL;
    struct keyset *keys = NULL;
    struct entry *e = NULL;
    int nr = 0, ne = 0, rc, r;

    if ((rc = index_parse(ctx, dfd, uuid, &list, &nr, &keys))) goto out;
    /* the directories holding a record.json must be exactly these */
    if ((r = scan(dfd, &e, &ne))) {
        rc = r == XLSNAP_ERROR_NOMEM ? r : 1;
        goto out;
    }
    if (!index_matches(list, keys->k, nr, e, ne)) {
        rc = 1;
        goto out;
    }
    *list_r = list;
    *nr_r = nr;
    if (keys_r) {
        *keys_r = keys;
        keys = NULL;
    }
    list = NULL;
    nr = 0;
    rc = 0;
 out:
    entries_free(e, ne);
    xlsnap_snapshot_list_free(list, nr);
    keyset_free(keys);
    return rc == XLSNAP_ERROR_NOMEM ? xlsnap__nomem(ctx) : rc;
}

/* The distinct configs of an index being written, numbered in the
 * order first seen (open addressing on a string hash). */
struct cfgnum {
    const char **v;
    int n;
    int *slot;          /* number + 1, 0 empty */
    size_t mask;
    const char *last;   /* the last config numbered (lines share them) */
    int lastn;
};

static size_t str_hash(const char *s)
{
    size_t h = 1469598103934665603ull;

    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

/* The number of config c (-1 for NULL), added if new; -2 out of memory.
 * The table has room for every line's config (made so). */
static int cfg_number(struct cfgnum *t, const char *c)
{
    size_t i;

    if (!c) return -1;
    if (c == t->last) return t->lastn;
    t->last = c;
    for (i = str_hash(c) & t->mask; t->slot[i]; i = (i + 1) & t->mask) {
        const char *o = t->v[t->slot[i] - 1];
        if (o == c || !strcmp(o, c)) return t->lastn = t->slot[i] - 1;
    }
    t->v[t->n] = c;
    t->slot[i] = ++t->n;
    return t->lastn = t->n - 1;
}

/*
 * Best effort: an index that cannot be written only costs speed.  list
 * is sorted by name, cfg[i] the config text of list[i] (NULL: null); e
 * (sorted by name) holds the stat keys taken before the records were
 * read: a record without one is left out, which makes the next check
 * fail and rebuild.
 */
static void index_write(int dfd, const xlsnap_snapshot *list,
                        const char *const *cfg, int nr,
                        const struct entry *e, int ne)
{
    sbuf b = { 0 }, h = { 0 };
    struct cfgnum t = { 0 };
    size_t slots = 16;
    int fd;

    while (slots < 2 * (size_t)nr + 2) slots *= 2;
    t.v = malloc((nr + 1) * sizeof(*t.v));
    t.slot = calloc(slots, sizeof(*t.slot));
    t.mask = slots - 1;
    if (!t.v || !t.slot) goto out;
    sb_add(&h, INDEX_MAGIC, sizeof(INDEX_MAGIC) - 1);
    for (int i = 0; i < nr; i++) {
        const xlsnap_snapshot *s = &list[i];
        struct entry want = { .name = s->name };
        const struct entry *k;
        size_t start = b.len;
        int c, oldn = t.n;

        k = ne ? bsearch(&want, e, ne, sizeof(*e), cmp_entry) : NULL;
        if (!k || k->err) continue;
        c = cfg_number(&t, cfg[i]);
        if (t.n > oldn) {               /* a new config: its line */
            sb_add(&h, "*", 1);
            sb_str(&h, cfg[i]);
            sb_add(&h, "\n", 1);
        }
        sb_str(&b, s->name);
        sb_num(&b, k->k.ino);
        sb_num(&b, k->k.size);
        sb_num(&b, k->k.sec);
        sb_num(&b, k->k.nsec);
        put_fields(&b, xlsnap__record_fields, 1, s);
        sb_num(&b, c);
        if (b.nomem) goto out;  /* best effort: no index */
        /* the first field has no tab before it */
        memmove(b.buf + start, b.buf + start + 1, b.len - start - 1);
        b.buf[b.len - 1] = '\n';
    }
    if (b.nomem || h.nomem) goto out;
    unlinkat(dfd, XLSNAP__TMP_NAME(INDEX_FILE), 0);
    fd = openat(dfd, XLSNAP__TMP_NAME(INDEX_FILE), O_WRONLY | O_CREAT |
                O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) goto out;
    if (xlsnap__write_all(fd, h.buf, h.len) ||
        (b.len && xlsnap__write_all(fd, b.buf, b.len))) {
        close(fd);
        goto fail;
    }
    if (close(fd) == 0 &&
        renameat(dfd, XLSNAP__TMP_NAME(INDEX_FILE), dfd, INDEX_FILE) == 0)
        goto out;
 fail:
    unlinkat(dfd, XLSNAP__TMP_NAME(INDEX_FILE), 0);
 out:
    free(t.v);
    free(t.slot);
    free(h.buf);
    free(b.buf);
}

/* A record with the stat key it was read under. */
struct keyed {
    xlsnap_snapshot s;
    struct key k;
};

static int cmp_keyed(const void *a, const void *b)
{
    return xlsnap__cmp_snap(&((const struct keyed *)a)->s,
                            &((const struct keyed *)b)->s);
}

/* Sort list (and keys with it) by xlsnap__cmp_snap: 0, or -1 when out of
 * memory (nothing moved). */
static int sort_keyed(xlsnap_snapshot *list, struct key *keys, int nr)
{
    struct keyed *v = nr ? malloc(nr * sizeof(*v)) : NULL;

    if (nr && !v) return -1;
    for (int i = 0; i < nr; i++) {
        v[i].s = list[i];
        v[i].k = keys[i];
    }
    if (nr) qsort(v, nr, sizeof(*v), cmp_keyed);
    for (int i = 0; i < nr; i++) {
        list[i] = v[i].s;
        keys[i] = v[i].k;
    }
    free(v);
    return 0;
}

int xlsnap__store_load_locked(xlsnap_ctx *ctx, const char *uuid,
                              bool summary_ok, xlsnap_snapshot **list_r,
                              int *nr_r, bool *summary_r, void **keys_r)
{
    char *dir = NULL;
    int dfd = -1, rc;
    struct keyset *keys = NULL;

    *list_r = NULL;
    *nr_r = 0;
    *summary_r = false;
    *keys_r = NULL;
    if ((rc = xlsnap__domain_dir(ctx, uuid, &dir))) goto out;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0 && errno == ENOENT) { rc = 0; goto out; }
    if (dfd < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot open %s", dir);
        goto out;
    }
    if (summary_ok &&
        faccessat(dfd, XLSNAP__ADOPT_MARK, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
        index_read(ctx, dfd, uuid, list_r, nr_r, &keys) == 0) {
        if (sort_keyed(*list_r, keys->k, *nr_r) == 0) {
            *keys_r = keys;
            keys = NULL;
        } else if (*nr_r) {
            qsort(*list_r, *nr_r, sizeof(**list_r), xlsnap__cmp_snap);
        }
        *summary_r = true;
        goto out;
    }
    /* every record read (the index is rewritten by a list, or by
     * xlsnap__store_index_refresh after the operation) */
    rc = xlsnap__store_list(ctx, uuid, list_r, nr_r);
 out:
    keyset_free(keys);
    if (dfd >= 0) close(dfd);
    free(dir);
    return rc;
}

/* A record and its config, for sorting by name together. */
struct withcfg {
    xlsnap_snapshot s;
    const char *cfg;
};

static int cmp_withcfg(const void *a, const void *b)
{
    return strcmp(((const struct withcfg *)a)->s.name,
                  ((const struct withcfg *)b)->s.name);
}

void xlsnap__store_index_refresh(xlsnap_ctx *ctx, xlsnap__store_handle *h)
{
    const struct keyset *ks = h->keys;
    char *dir = NULL;
    int dfd = -1, ne = 0;
    struct entry *e = NULL;
    struct withcfg *w = NULL;
    xlsnap_snapshot *v = NULL;
    const char **cfg = NULL;
    int nv = 0;

    if (xlsnap__domain_dir(ctx, h->uuid, &dir) || !dir) goto out;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0 ||
        faccessat(dfd, XLSNAP__ADOPT_MARK, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        goto out;
    /* shallow copies, in name order (the records stay the handle's),
     * each with its config: the record's own when it was read whole,
     * else the index's it was summarised from */
    if (h->nr && (!(w = malloc(h->nr * sizeof(*w))) ||
                  !(v = malloc(h->nr * sizeof(*v))) ||
                  !(cfg = malloc(h->nr * sizeof(*cfg)))))
        goto out;
    if (!ks || !h->loaded) {
        /* no keys kept: every record's, taken now */
        for (int i = 0; i < h->nr; i++) {
            w[i].s = h->list[i];
            w[i].cfg = h->list[i].config_json;
        }
        nv = h->nr;
        if (scan(dfd, &e, &ne)) goto out;
    } else {
        /* the keys checked at open, but for the records read whole
         * (every record written was): those are taken again, and one
         * gone since (removed) is left out */
        if (h->nr && !(e = calloc(h->nr, sizeof(*e)))) goto out;
        for (int i = 0; i < h->nr; i++) {
            struct key k = ks->k[i];
            if (h->loaded[i] &&
                stat_key(dfd, h->list[i].name, &k) < 0)
                continue;
            if (!(e[ne].name = xlsnap__strdup(h->list[i].name))) goto out;
            e[ne].k = k;
            e[ne].err = 0;
            ne++;
            w[nv].s = h->list[i];
            w[nv].cfg = h->loaded[i] ? h->list[i].config_json
                                     : keyset_cfg(ks, i);
            nv++;
        }
        if (ne) qsort(e, ne, sizeof(*e), cmp_entry);
    }
    if (nv) qsort(w, nv, sizeof(*w), cmp_withcfg);
    for (int i = 0; i < nv; i++) {
        v[i] = w[i].s;
        cfg[i] = w[i].cfg;
    }
    index_write(dfd, v, cfg, nv, e, ne);
 out:
    free(w);
    free(v);
    free(cfg);
    entries_free(e, ne);
    if (dfd >= 0) close(dfd);
    free(dir);
}

/* The domain's lock if it is free now: never waits, leaves no message. */
static bool try_lock(xlsnap_ctx *ctx, const char *uuid, xlsnap__lock *lock)
{
    char saved[XLSNAP__ERRBUF];
    int timeout = ctx->lock_timeout, rc;

    memcpy(saved, ctx->errbuf, sizeof(saved));
    ctx->lock_timeout = 0;
    rc = xlsnap__lock_domain(ctx, uuid, false, lock);
    ctx->lock_timeout = timeout;
    memcpy(ctx->errbuf, saved, sizeof(saved));
    return rc == 0;
}

/*
 * The configs of the summaries a list_summary handed out, for
 * xlsnap_list_json_write: found by the address of a summary's name, so
 * only those very summaries (or shallow copies of them) get them, never
 * a list read at another time.  The distinct texts are copied once.
 */
struct cfgref {
    const char *name;
    const char *cfg;
};

struct xlsnap__cfgmap {
    char *uuid;
    const xlsnap_snapshot *list;    /* the list it was made for */
    struct cfgref *v;               /* sorted by the address of name, */
    int n;
    bool sorted;                    /* ... when first looked up */
    char **txt;                     /* the distinct configs, */
    int ntxt;
    struct keyset *ks;              /* ... or the index's */
};

static void cfgmap_free(struct xlsnap__cfgmap *m)
{
    if (!m) return;
    for (int i = 0; i < m->ntxt; i++) free(m->txt[i]);
    free(m->txt);
    free(m->v);
    free(m->uuid);
    keyset_free(m->ks);
    free(m);
}

static int cmp_cfgref(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const struct cfgref *)a)->name;
    uintptr_t y = (uintptr_t)((const struct cfgref *)b)->name;

    return x < y ? -1 : x > y;
}

/* The map of the index's lines list (nr, in the order of ks's keys),
 * taking ks, made the ctx's current one (out of memory: none, the
 * records are read instead). */
static void cfgmap_set_index(xlsnap_ctx *ctx, const char *uuid,
                             const xlsnap_snapshot *list,
                             struct keyset *ks, int nr)
{
    struct xlsnap__cfgmap *m = calloc(1, sizeof(*m));

    cfgmap_free(ctx->cfg_cur);
    ctx->cfg_cur = NULL;
    if (!m || !(m->uuid = xlsnap__strdup(uuid)) ||
        !(m->v = malloc((nr + 1) * sizeof(*m->v)))) {
        cfgmap_free(m);
        keyset_free(ks);
        return;
    }
    m->ks = ks;
    m->list = list;
    for (int i = 0; i < nr; i++) {
        m->v[i].name = list[i].name;
        m->v[i].cfg = keyset_cfg(ks, i);
    }
    m->n = nr;
    ctx->cfg_cur = m;
}

/* The map of list (nr, cfg[i] the config of list[i]: copied, each
 * distinct text once) made the ctx's current one; out of memory: none
 * (the records are read instead). */
static void cfgmap_set(xlsnap_ctx *ctx, const char *uuid,
                       const xlsnap_snapshot *list, const char *const *cfg,
                       int nr)
{
    struct xlsnap__cfgmap *m = calloc(1, sizeof(*m));
    struct cfgnum t = { 0 };
    size_t slots = 16;

    cfgmap_free(ctx->cfg_cur);
    ctx->cfg_cur = NULL;
    if (!m) return;
    while (slots < 2 * (size_t)nr + 2) slots *= 2;
    m->uuid = xlsnap__strdup(uuid);
    m->list = list;
    m->v = malloc((nr + 1) * sizeof(*m->v));
    m->txt = calloc(nr + 1, sizeof(*m->txt));
    t.v = malloc((nr + 1) * sizeof(*t.v));
    t.slot = calloc(slots, sizeof(*t.slot));
    t.mask = slots - 1;
    if (!m->uuid || !m->v || !m->txt || !t.v || !t.slot) goto out;
    for (int i = 0; i < nr; i++) {
        int oldn = t.n, c = cfg_number(&t, cfg[i]);
        if (t.n > oldn) {
            if (!(m->txt[m->ntxt] = xlsnap__strdup(cfg[i]))) goto out;
            m->ntxt++;
        }
        m->v[i].name = list[i].name;
        m->v[i].cfg = c >= 0 ? m->txt[c] : NULL;
    }
    m->n = nr;
    ctx->cfg_cur = m;
    m = NULL;
 out:
    cfgmap_free(m);
    free(t.v);
    free(t.slot);
}

bool xlsnap__index_config(xlsnap_ctx *ctx, const char *uuid,
                          const xlsnap_snapshot *s, const char **cfg_r)
{
    struct xlsnap__cfgmap *m = ctx->cfg_cur;
    struct cfgref want = { .name = s->name }, *r;

    if (!m || !m->n || strcmp(m->uuid, uuid)) return false;
    if (!m->sorted) {
        qsort(m->v, m->n, sizeof(*m->v), cmp_cfgref);
        m->sorted = true;
    }
    r = bsearch(&want, m->v, m->n, sizeof(*m->v), cmp_cfgref);
    if (!r) return false;
    *cfg_r = r->cfg;
    return true;
}

void xlsnap__index_configs_drop(xlsnap_ctx *ctx)
{
    cfgmap_free(ctx->cfg_cur);
    cfgmap_free(ctx->cfg_kept);
    ctx->cfg_cur = ctx->cfg_kept = NULL;
}

void xlsnap__summary_keep(xlsnap_ctx *ctx, const char *uuid,
                          xlsnap_snapshot *list, int nr)
{
    xlsnap_snapshot_list_free(ctx->sum_list, ctx->sum_nr);
    free(ctx->sum_uuid);
    cfgmap_free(ctx->cfg_kept);
    ctx->cfg_kept = NULL;
    ctx->sum_uuid = uuid ? xlsnap__strdup(uuid) : NULL;
    if (uuid && !ctx->sum_uuid) {       /* out of memory: keep nothing */
        xlsnap_snapshot_list_free(list, nr);
        list = NULL;
        nr = 0;
    }
    /* the configs of that list go with it */
    if (list && ctx->cfg_cur && ctx->cfg_cur->list == list) {
        ctx->cfg_kept = ctx->cfg_cur;
        ctx->cfg_cur = NULL;
    }
    ctx->sum_list = list;
    ctx->sum_nr = nr;
    clock_gettime(CLOCK_MONOTONIC, &ctx->sum_time);
}

/*
 * The summaries of the records e (ne, in name order, their keys taken
 * before anything is read) after the index old (nold lines, name order,
 * okeys their keys and configs): the line of a record whose key is
 * unchanged, the record itself read for a new or changed one, so one
 * record changed costs one read, not all of them.  0 with the list in
 * name order (a record read keeps its config_json), cfg_r[i] the config
 * of list[i] (allocated), and *nread_r the records read; 1 when the
 * records must be read as always (one cannot be read: xlsnap__store_list
 * says why); XLSNAP_ERROR_NOMEM.  The lines used are moved out of old.
 */
static int index_update(xlsnap_ctx *ctx, const char *uuid,
                        xlsnap_snapshot *old, const struct keyset *okeys,
                        int nold, const struct entry *e, int ne,
                        xlsnap_snapshot **list_r, const char ***cfg_r,
                        int *nr_r, int *nread_r)
{
    xlsnap_snapshot *list = ne ? calloc(ne, sizeof(*list)) : NULL;
    const char **cfg = calloc(ne + 1, sizeof(*cfg));
    xlsnap__errsaved saved;
    int nr = 0, j = 0, rc = 1, r;

    *nread_r = 0;
    if ((ne && !list) || !cfg) {
        free(list);
        free(cfg);
        return xlsnap__nomem(ctx);
    }
    xlsnap__errsave(ctx, &saved);
    for (int i = 0; i < ne; i++) {
        if (e[i].err == -ENOENT) continue;          /* interrupted create */
        if (e[i].err) goto out;
        while (j < nold && strcmp(old[j].name, e[i].name) < 0) j++;
        if (j < nold && !strcmp(old[j].name, e[i].name) &&
            key_eq(&okeys->k[j], &e[i].k)) {
            cfg[nr] = keyset_cfg(okeys, j);
            list[nr++] = old[j];                    /* moved */
            xlsnap_snapshot_init(&old[j]);
            j++;
            continue;
        }
        xlsnap_snapshot_init(&list[nr]);
        r = xlsnap__store_read(ctx, uuid, e[i].name, &list[nr]);
        if (r) {
            xlsnap_snapshot_dispose(&list[nr]);
            if (r == XLSNAP_ERROR_NOTFOUND) continue;   /* gone since */
            if (r == XLSNAP_ERROR_NOMEM) rc = xlsnap__nomem(ctx);
            goto out;
        }
        cfg[nr] = list[nr].config_json;
        nr++;
        (*nread_r)++;
    }
    *list_r = list;
    *cfg_r = cfg;
    *nr_r = nr;
    list = NULL;
    cfg = NULL;
    nr = 0;
    rc = 0;
 out:
    xlsnap_snapshot_list_free(list, nr);
    free(cfg);
    if (rc == 1) xlsnap__errrestore(ctx, &saved);
    return rc;
}

/* The config_json of every record of list dropped (summaries). */
static void drop_configs(xlsnap_snapshot *list, int nr)
{
    for (int i = 0; i < nr; i++) {
        free(list[i].config_json);
        list[i].config_json = NULL;
    }
}

/* As xlsnap__store_list_summary; may_write: a stale index may be
 * rewritten (a lookup only reads: it leaves the state as it is).  The
 * configs of the summaries are kept on the ctx (cfgmap_set). */
static int list_summary(xlsnap_ctx *ctx, const char *uuid,
                        xlsnap_snapshot **list_r, int *nr_r, bool may_write)
{
    char *dir = NULL;
    int dfd = -1, ne = 0, nold = 0, nread = 0, rc;
    struct timespec now;
    xlsnap__lock lock = { -1 };
    struct entry *e = NULL;
    xlsnap_snapshot *old = NULL;
    struct keyset *okeys = NULL;
    const char **cfg = NULL;
    bool locked;

    *list_r = NULL;
    *nr_r = 0;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (ctx->sum_uuid && !strcmp(ctx->sum_uuid, uuid) &&
        now.tv_sec - ctx->sum_time.tv_sec <= 1) {
        /* just read (domain_resolve, then list): take it, and its
         * configs */
        *list_r = ctx->sum_list;
        *nr_r = ctx->sum_nr;
        cfgmap_free(ctx->cfg_cur);
        ctx->cfg_cur = ctx->cfg_kept;
        ctx->cfg_kept = NULL;
        ctx->sum_list = NULL;
        xlsnap__summary_keep(ctx, NULL, NULL, 0);
        return 0;
    }
    cfgmap_free(ctx->cfg_cur);
    ctx->cfg_cur = NULL;
    if ((rc = xlsnap__domain_dir(ctx, uuid, &dir))) goto out;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 && errno == ENOENT) { rc = 0; goto out; }
    if (dfd < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot open %s", dir);
        goto out;
    }
    /* the index as it is, and the records as they are (their keys taken
     * before any is read) */
    if ((rc = index_parse(ctx, dfd, uuid, &old, &nold, &okeys)) < 0) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    if ((rc = scan(dfd, &e, &ne))) {
        if (rc == XLSNAP_ERROR_NOMEM) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        goto read_all;
    }
    if (okeys && index_matches(old, okeys->k, nold, e, ne)) {
        cfgmap_set_index(ctx, uuid, old, okeys, nold);
        okeys = NULL;
        *list_r = old;
        *nr_r = nold;
        old = NULL;
        nold = 0;
        if (*nr_r)
            qsort(*list_r, *nr_r, sizeof(**list_r), xlsnap__cmp_snap);
        rc = 0;
        goto out;
    }
    if (!okeys && !(okeys = calloc(1, sizeof(*okeys)))) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    /* stale: the lines still true are kept, the rest is read; rewritten
     * only under the lock, never waited for (the keys were taken before
     * the lock: a record changed since fails the next check) */
    locked = may_write && try_lock(ctx, uuid, &lock);
    if ((rc = index_update(ctx, uuid, old, okeys, nold, e, ne, list_r,
                           &cfg, nr_r, &nread)) < 0)
        goto out;
    if (rc == 0) {
        if (locked) index_write(dfd, *list_r, cfg, *nr_r, e, ne);
        cfgmap_set(ctx, uuid, *list_r, cfg, *nr_r);
        drop_configs(*list_r, *nr_r);
        if (*nr_r)
            qsort(*list_r, *nr_r, sizeof(**list_r), xlsnap__cmp_snap);
        goto out;
    }
 read_all:
    /* a record that cannot be read: every record read, as always, and
     * its error said */
    if ((rc = xlsnap__store_list(ctx, uuid, list_r, nr_r))) goto out;
    if (*nr_r && (cfg = malloc(*nr_r * sizeof(*cfg)))) {
        for (int i = 0; i < *nr_r; i++) cfg[i] = (*list_r)[i].config_json;
        cfgmap_set(ctx, uuid, *list_r, cfg, *nr_r);
    }
    drop_configs(*list_r, *nr_r);
 out:
    xlsnap__unlock(&lock);
    xlsnap_snapshot_list_free(old, nold);
    keyset_free(okeys);
    free(cfg);
    entries_free(e, ne);
    if (dfd >= 0) close(dfd);
    free(dir);
    return rc;
}

int xlsnap__store_list_summary(xlsnap_ctx *ctx, const char *uuid,
                               xlsnap_snapshot **list_r, int *nr_r)
{
    return list_summary(ctx, uuid, list_r, nr_r, true);
}

/* 1 when a record of domain dir uuid names the domain name, 0 when none
 * does (from the list index, read as list reads it, never written: a
 * lookup leaves the state dir as it is); another negative
 * XLSNAP_ERROR_* when a record cannot be read (the caller reads them
 * one by one). */
int xlsnap__index_has_name(xlsnap_ctx *ctx, const char *uuid,
                           const char *name)
{
    xlsnap_snapshot *list = NULL;
    int nr = 0, rc;

    if ((rc = list_summary(ctx, uuid, &list, &nr, false))) return rc;
    for (int i = 0; i < nr && !rc; i++)
        rc = list[i].domain_name && !strcmp(list[i].domain_name, name);
    /* found: the list of this domain that usually follows takes it */
    if (rc) xlsnap__summary_keep(ctx, uuid, list, nr);
    else xlsnap_snapshot_list_free(list, nr);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
