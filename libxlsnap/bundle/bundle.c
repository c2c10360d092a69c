/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * bundle.c - export bundles: the manifest, the tar stream, hashed copies
 *
 * A bundle is a directory, or one tar stream of the same members:
 *   record.json          the snapshot's record
 *   memory.save          its memory image (xl save format), if any
 *   disk-<vdev>.qcow2    per disk: the disk at the snapshot (full), or
 *                        the clusters that differ from the base (delta)
 *   manifest.json        format, version, domain, kind, base, chain and
 *                        size + SHA-256 of every other member; written
 *                        last, so a bundle without it is incomplete
 */
#include "internal.h"

#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

void xlsnap__manifest_init(xlsnap__manifest *m)
{
    memset(m, 0, sizeof(*m));
}

void xlsnap__manifest_dispose(xlsnap__manifest *m)
{
    free(m->kind);
    free(m->snapshot);
    free(m->base);
    free(m->domain_name);
    free(m->domain_uuid);
    for (int i = 0; i < m->num_chain; i++) free(m->chain[i]);
    free(m->chain);
    for (int i = 0; i < m->num_files; i++) {
        free(m->files[i].path);
        free(m->files[i].role);
        free(m->files[i].vdev);
        free(m->files[i].format);
        free(m->files[i].encoding);
    }
    free(m->files);
    xlsnap__manifest_init(m);
}

xlsnap__bundle_file *xlsnap__manifest_add(xlsnap__manifest *m,
                                          const char *path,
                                          const char *role)
{
    char *p = xlsnap__strdup(path), *r = xlsnap__strdup(role);
    xlsnap__bundle_file *f = NULL;

    if (p && r) f = realloc(m->files, (m->num_files + 1) * sizeof(*m->files));
    if (!f) {                   /* out of memory: callers say so */
        free(p);
        free(r);
        return NULL;
    }
    m->files = f;
    f = &m->files[m->num_files++];
    memset(f, 0, sizeof(*f));
    f->path = p;
    f->role = r;
    return f;
}

bool xlsnap__bundle_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (!n || n > 99 || name[0] == '.') return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_.+-", *p))
            return false;
    return true;
}

/* One member of 'files'. */
static int gen_file(yajl_gen g, const xlsnap__bundle_file *f)
{
    int s;

    CHK(yajl_gen_map_open(g));
    CHK(xlsnap__gen_kv_str(g, "path", f->path));
    CHK(xlsnap__gen_kv_str(g, "role", f->role));
    if (f->vdev) CHK(xlsnap__gen_kv_str(g, "vdev", f->vdev));
    if (f->format) CHK(xlsnap__gen_kv_str(g, "format", f->format));
    if (f->encoding) CHK(xlsnap__gen_kv_str(g, "encoding", f->encoding));
    CHK(xlsnap__gen_kv_int(g, "size", (int64_t)f->size));
    if (f->encoding)
        CHK(xlsnap__gen_kv_int(g, "plain-size", (int64_t)f->plain_size));
    if (f->virtual_size)
        CHK(xlsnap__gen_kv_int(g, "virtual-size", (int64_t)f->virtual_size));
    CHK(xlsnap__gen_kv_str(g, "sha256", f->sha256));
    CHK(yajl_gen_map_close(g));
 gen_failed:
    return s;
}

int xlsnap__manifest_to_json(xlsnap_ctx *ctx, const xlsnap__manifest *m,
                             char **json_r)
{
    yajl_gen g = xlsnap__gen_alloc();
    int s;

    if (!g) return xlsnap__nomem(ctx);
    CHK(yajl_gen_map_open(g));
    CHK(xlsnap__gen_kv_str(g, "format", XLSNAP__BUNDLE_FORMAT));
    CHK(xlsnap__gen_kv_int(g, "version", XLSNAP__BUNDLE_VERSION));
    CHK(xlsnap__gen_kv_str(g, "kind", m->kind));
    CHK(xlsnap__gen_kv_str(g, "snapshot", m->snapshot));
    CHK(xlsnap__gen_kv_str(g, "base", m->base));
    CHK(xlsnap__gen_kv_int(g, "created", m->created));
    CHK(xlsnap__gen_str(g, "domain"));
    CHK(yajl_gen_map_open(g));
    CHK(xlsnap__gen_kv_str(g, "name", m->domain_name));
    CHK(xlsnap__gen_kv_str(g, "uuid", m->domain_uuid));
    CHK(yajl_gen_map_close(g));
    CHK(xlsnap__gen_str(g, "chain"));
    CHK(yajl_gen_array_open(g));
    for (int i = 0; i < m->num_chain; i++)
        CHK(xlsnap__gen_str(g, m->chain[i]));
    CHK(yajl_gen_array_close(g));
    CHK(xlsnap__gen_str(g, "files"));
    CHK(yajl_gen_array_open(g));
    for (int i = 0; i < m->num_files; i++)
        CHK(gen_file(g, &m->files[i]));
    CHK(yajl_gen_array_close(g));
    CHK(yajl_gen_map_close(g));
 gen_failed:
    return xlsnap__gen_end(ctx, g, s, json_r, XLSNAP_ERROR_FAIL,
                           "cannot generate the bundle manifest");
}

static int bad(xlsnap_ctx *ctx, const char *what)
{
    return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "manifest: %s", what);
}

static int get_name(xlsnap_ctx *ctx, yajl_val o, const char *where,
                    const char *key, bool required, char **out)
{
    int rc = xlsnap__json_get_str(ctx, o, where, key, required, out);

    if (rc || !*out) return rc;
    if ((rc = xlsnap_name_validate(ctx, *out)))
        return xlsnap__error_prefix(ctx, XLSNAP_ERROR_CORRUPT,
                                    "%s: field '%s'", where, key);
    return 0;
}

static bool is_hex64(const char *s)
{
    if (strlen(s) != 64) return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s) && !(*s >= 'a' && *s <= 'f'))
            return false;
    return true;
}

/* Size member k of a file entry: a non-negative integer (a positive
 * one with positive set), else -1. */
static long long size_field(yajl_val v, const char *k, bool positive)
{
    yajl_val sz = xlsnap__json_field(v, k);

    if (!sz || !YAJL_IS_INTEGER(sz) ||
        YAJL_GET_INTEGER(sz) < (positive ? 1 : 0))
        return -1;
    return YAJL_GET_INTEGER(sz);
}

/* What every file entry has: an allowed and new member name, a role, a
 * SHA-256 and a size (*size_r). */
static int check_file(xlsnap_ctx *ctx, yajl_val v, const xlsnap__manifest *m,
                      const char *path, const char *role, const char *sum,
                      long long *size_r)
{
    if (!xlsnap__bundle_name_ok(path) || !strcmp(path, XLSNAP__MANIFEST_FILE))
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "manifest: file "
                             "name '%s' is not allowed in a bundle", path);
    if (strcmp(role, "record") && strcmp(role, "memory") &&
        strcmp(role, "disk"))
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "manifest: %s: "
                             "unknown role '%s'", path, role);
    if (!is_hex64(sum))
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "manifest: %s: "
                             "sha256 is not 64 lower-case hex digits", path);
    if ((*size_r = size_field(v, "size", false)) < 0)
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "manifest: %s: size "
                             "is not a non-negative integer", path);
    for (int i = 0; i < m->num_files; i++)
        if (!strcmp(m->files[i].path, path))
            return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "manifest: %s "
                                 "is listed twice", path);
    return 0;
}

/* A compressed member's encoding and what decoding may write: declared
 * by every bundle this version writes (an older one: export again). */
static int parse_encoding(xlsnap_ctx *ctx, yajl_val v, xlsnap__bundle_file *f)
{
    long long plain;
    int rc;

    if ((rc = xlsnap__json_get_str(ctx, v, "manifest: files[]", "encoding",
                                   false, &f->encoding)))
        return rc;
    if (!f->encoding) {
        f->plain_size = f->size;
        return 0;
    }
    if (strcmp(f->encoding, "zstd") || !strcmp(f->role, "record"))
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "manifest: %s: "
                             "unknown encoding '%s'", f->path, f->encoding);
    if ((plain = size_field(v, "plain-size", false)) < 0)
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "manifest: %s: no "
                             "'plain-size' for a compressed member (made by "
                             "an older xl-snapshot? export it again)",
                             f->path);
    f->plain_size = plain;
    return 0;
}

/* A disk's vdev, format (qcow2) and virtual size (as plain-size). */
static int parse_disk(xlsnap_ctx *ctx, yajl_val v, xlsnap__bundle_file *f)
{
    long long vsize;
    int rc;

    if ((rc = xlsnap__json_get_str(ctx, v, "manifest: disk", "vdev", true,
                                   &f->vdev)) ||
        (rc = xlsnap__json_get_str(ctx, v, "manifest: disk", "format", true,
                                   &f->format)))
        return rc;
    if (strcmp(f->format, "qcow2"))
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "manifest: %s: "
                             "format '%s' is not qcow2", f->path, f->format);
    if ((vsize = size_field(v, "virtual-size", true)) < 0)
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "manifest: %s: no "
                             "'virtual-size' for a disk (made by an older "
                             "xl-snapshot? export it again)", f->path);
    f->virtual_size = vsize;
    return 0;
}

static int parse_file(xlsnap_ctx *ctx, yajl_val v, xlsnap__manifest *m)
{
    char *path = NULL, *role = NULL, *sum = NULL;
    xlsnap__bundle_file *f;
    long long size = 0;
    int rc;

    if (!YAJL_IS_OBJECT(v)) return bad(ctx, "a member of 'files' is not "
                                       "an object");
    if ((rc = xlsnap__json_get_str(ctx, v, "manifest: files[]", "path", true,
                                   &path)) ||
        (rc = xlsnap__json_get_str(ctx, v, "manifest: files[]", "role", true,
                                   &role)) ||
        (rc = xlsnap__json_get_str(ctx, v, "manifest: files[]", "sha256",
                                   true, &sum)) ||
        (rc = check_file(ctx, v, m, path, role, sum, &size)))
        goto out;
    f = xlsnap__manifest_add(m, path, role);
    if (!f) { rc = xlsnap__nomem(ctx); goto out; }
    f->size = size;
    memcpy(f->sha256, sum, 65);
    if ((rc = parse_encoding(ctx, v, f))) goto out;
    if (!strcmp(role, "disk")) rc = parse_disk(ctx, v, f);
 out:
    free(path);
    free(role);
    free(sum);
    return rc;
}

/* format, version, kind, snapshot, base, created */
static int parse_head(xlsnap_ctx *ctx, yajl_val root, xlsnap__manifest *m)
{
    char *fmt = NULL;
    yajl_val v;
    int rc;

    rc = xlsnap__json_get_str(ctx, root, "manifest", "format", true, &fmt);
    if (!rc && strcmp(fmt, XLSNAP__BUNDLE_FORMAT))
        rc = bad(ctx, "not an xl-snapshot bundle");
    free(fmt);
    if (rc) return rc;
    v = xlsnap__json_field(root, "version");
    if (!v || !YAJL_IS_INTEGER(v))
        return bad(ctx, "field 'version' is not an integer");
    if (YAJL_GET_INTEGER(v) != XLSNAP__BUNDLE_VERSION)
        return xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP, "bundle format "
                             "version %lld is not supported (this tool "
                             "reads %d)", (long long)YAJL_GET_INTEGER(v),
                             XLSNAP__BUNDLE_VERSION);
    m->version = XLSNAP__BUNDLE_VERSION;
    if ((rc = xlsnap__json_get_str(ctx, root, "manifest", "kind", true,
                                   &m->kind)) ||
        (rc = get_name(ctx, root, "manifest", "snapshot", true,
                       &m->snapshot)) ||
        (rc = get_name(ctx, root, "manifest", "base", false, &m->base)))
        return rc;
    if (strcmp(m->kind, "full") && strcmp(m->kind, "delta"))
        return bad(ctx, "field 'kind' is neither 'full' nor 'delta'");
    if (!strcmp(m->kind, "delta") != !!m->base)
        return bad(ctx, "a delta bundle needs a 'base', a full one has none");
    v = xlsnap__json_field(root, "created");
    if (!v || !YAJL_IS_INTEGER(v))
        return bad(ctx, "field 'created' is not an integer");
    m->created = YAJL_GET_INTEGER(v);
    return 0;
}

static int parse_domain(xlsnap_ctx *ctx, yajl_val root, xlsnap__manifest *m)
{
    yajl_val dom = xlsnap__json_field(root, "domain");
    int rc;

    if (!dom || !YAJL_IS_OBJECT(dom))
        return bad(ctx, "field 'domain' is not an object");
    if ((rc = xlsnap__json_get_str(ctx, dom, "manifest: domain", "name",
                                   false, &m->domain_name)) ||
        (rc = xlsnap__json_get_str(ctx, dom, "manifest: domain", "uuid",
                                   true, &m->domain_uuid)))
        return rc;
    if (!xlsnap__is_uuid(m->domain_uuid))
        return bad(ctx, "the domain uuid is not a UUID");
    return 0;
}

static int parse_chain(xlsnap_ctx *ctx, yajl_val root, xlsnap__manifest *m)
{
    yajl_val v = xlsnap__json_field(root, "chain");

    if (!v || YAJL_IS_NULL(v)) return 0;
    if (!YAJL_IS_ARRAY(v) || v->u.array.len > 100000)
        return bad(ctx, "field 'chain' is not an array of names");
    m->chain = calloc(v->u.array.len + 1, sizeof(*m->chain));
    if (!m->chain) return xlsnap__nomem(ctx);
    for (size_t i = 0; i < v->u.array.len; i++) {
        yajl_val c = v->u.array.values[i];
        if (!YAJL_IS_STRING(c) || xlsnap_name_validate(ctx, c->u.string))
            return bad(ctx, "field 'chain' is not an array of names");
        if (!(m->chain[m->num_chain] = xlsnap__strdup(c->u.string)))
            return xlsnap__nomem(ctx);
        m->num_chain++;
    }
    return 0;
}

/* The members: one record, at most one memory image, disks once each. */
static int parse_files(xlsnap_ctx *ctx, yajl_val root, xlsnap__manifest *m)
{
    yajl_val v = xlsnap__json_field(root, "files");
    int records = 0, memories = 0, rc;

    if (!v || !YAJL_IS_ARRAY(v) || v->u.array.len > 4098)
        return bad(ctx, "field 'files' is not an array");
    for (size_t i = 0; i < v->u.array.len; i++)
        if ((rc = parse_file(ctx, v->u.array.values[i], m))) return rc;
    for (int i = 0; i < m->num_files; i++) {
        records += !strcmp(m->files[i].role, "record");
        memories += !strcmp(m->files[i].role, "memory");
        for (int k = 0; k < i; k++)
            if (m->files[i].vdev && m->files[k].vdev &&
                !strcmp(m->files[i].vdev, m->files[k].vdev))
                return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "manifest: "
                                     "disk %s is listed twice",
                                     m->files[i].vdev);
    }
    if (records != 1 || memories > 1)
        return bad(ctx, "a bundle has one record and at most one memory "
                   "image");
    return 0;
}

int xlsnap__manifest_parse(xlsnap_ctx *ctx, const char *json, size_t len,
                           xlsnap__manifest *m)
{
    char eb[256], *text = NULL;
    yajl_val root = NULL;
    int rc;

    xlsnap__manifest_init(m);
    if (len > XLSNAP__MANIFEST_MAX || memchr(json, '\0', len))
        return bad(ctx, "too large or not text");
    text = strndup(json, len);
    if (!text) return xlsnap__nomem(ctx);
    root = xlsnap__json_parse(text, eb, sizeof(eb));
    if (!root || !YAJL_IS_OBJECT(root))
        rc = bad(ctx, "not a JSON object");
    else if (!(rc = parse_head(ctx, root, m)) &&
             !(rc = parse_domain(ctx, root, m)) &&
             !(rc = parse_chain(ctx, root, m)))
        rc = parse_files(ctx, root, m);
    if (rc) xlsnap__manifest_dispose(m);
    if (root) yajl_tree_free(root);
    free(text);
    return rc;
}

static int write_all(xlsnap_ctx *ctx, int fd, const void *buf, size_t n)
{
    int e = xlsnap__write_all(fd, buf, n);

    return e ? xlsnap__error_errno(ctx, -e, "cannot write") : 0;
}

/* Read and write in large pieces; the kernel copies in larger ones. */
#define COPY_BUF (1u << 20)
#define COPY_KERNEL_CHUNK (64u << 20)

/* Without a hash to take: copy_file_range, the kernel copying (no pass
 * through user space; a shared extent where the file system can).
 * 1 when done, 0 when these fds cannot (a pipe, an old kernel) and
 * nothing was copied, or an error. */
static int copy_kernel(xlsnap_ctx *ctx, int in, int out, uint64_t size,
                       const char *what, uint64_t *copied_r)
{
    uint64_t done = 0;

    while (done < size) {
        size_t want = size - done < COPY_KERNEL_CHUNK ? size - done
                                                      : COPY_KERNEL_CHUNK;
        ssize_t r = copy_file_range(in, NULL, out, NULL, want, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && !done &&
            (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
             errno == EOPNOTSUPP || errno == EBADF))
            return 0;
        if (r < 0)
            return xlsnap__error_errno(ctx, errno, "cannot copy %s", what);
        if (r == 0) {
            if (size == UINT64_MAX) break;
            return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "%s ends early "
                                 "(truncated bundle)", what);
        }
        done += r;
        xlsnap__progress(ctx, what, done, size == UINT64_MAX ? 0 : size);
        xlsnap__fault_point("copy-plain-piece"); /* tests: a kill mid-copy */
    }
    if (copied_r) *copied_r = done;
    return 1;
}

/*
 * The hasher: a thread that hashes the pieces copy_hashed reads while
 * copy_hashed writes them and reads the next (two buffers), so that a
 * copy takes about as long as the slower of copying and hashing, not
 * both.  Pieces are hashed in the order given.  No ctx in the thread.
 */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    xlsnap__sha256 *h;
    char *buf[2];
    size_t len[2];
    bool busy[2];           /* given to the thread, not hashed yet */
    int next;               /* the piece it is to take, -1: none */
    bool stop;
    int rc;                 /* the first update's failure */
} hasher;

static void *hasher_main(void *arg)
{
    hasher *t = arg;

    pthread_mutex_lock(&t->mu);
    for (;;) {
        int i;
        while (t->next < 0 && !t->stop) pthread_cond_wait(&t->cv, &t->mu);
        if (t->next < 0) break;
        i = t->next;
        t->next = -1;
        pthread_cond_broadcast(&t->cv);
        pthread_mutex_unlock(&t->mu);
        int rc = xlsnap__sha256_update(t->h, t->buf[i], t->len[i]);
        pthread_mutex_lock(&t->mu);
        if (rc && !t->rc) t->rc = rc;
        t->busy[i] = false;
        pthread_cond_broadcast(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* Wait until buffer i is free again (hashed). */
static void hasher_wait(hasher *t, int i)
{
    pthread_mutex_lock(&t->mu);
    while (t->busy[i]) pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

/* Give the thread buf[i] (len bytes) to hash, after the one before. */
static void hasher_give(hasher *t, int i, size_t len)
{
    pthread_mutex_lock(&t->mu);
    while (t->next >= 0) pthread_cond_wait(&t->cv, &t->mu);
    t->len[i] = len;
    t->busy[i] = true;
    t->next = i;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* Everything given is hashed; the thread ends.  Its failure, or 0. */
static int hasher_end(hasher *t, pthread_t th)
{
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(th, NULL);
    return t->rc;
}

/* Pieces of a copy with more than this to hash go through the hasher
 * thread; smaller ones (records, manifests) are hashed in line. */
#define HASH_THREAD_MIN (8u << 20)

int xlsnap__copy_hashed(xlsnap_ctx *ctx, int in, int out, uint64_t size,
                        const char *what, uint64_t *copied_r,
                        char hex_r[65])
{
    xlsnap__sha256 h = { 0 };
    hasher t = { .mu = PTHREAD_MUTEX_INITIALIZER,
                 .cv = PTHREAD_COND_INITIALIZER, .h = &h, .next = -1 };
    pthread_t th;
    bool threaded = false;
    uint64_t done = 0;
    char *bufs = NULL;
    int rc = 0, cur = 0;

    if (!hex_r && out >= 0 &&
        (rc = copy_kernel(ctx, in, out, size, what, copied_r)))
        return rc < 0 ? rc : 0;
    if (!(bufs = malloc(2 * (size_t)COPY_BUF))) return xlsnap__nomem(ctx);
    t.buf[0] = bufs;
    t.buf[1] = bufs + COPY_BUF;
    if (hex_r && (rc = xlsnap__sha256_init(&h))) {
        rc = xlsnap__sha256_error(ctx, rc);
        goto out;
    }
    /* no thread (none could be started): hashed in line */
    if (hex_r && out >= 0 && size > HASH_THREAD_MIN)
        threaded = !pthread_create(&th, NULL, hasher_main, &t);
    while (done < size) {
        size_t want = size - done < COPY_BUF ? size - done : COPY_BUF;
        char *buf = t.buf[cur];
        ssize_t r;

        if (threaded) hasher_wait(&t, cur);
        r = xlsnap__read_some(in, buf, want);
        if (r < 0) {
            rc = xlsnap__error_errno(ctx, -r, "cannot read %s", what);
            goto out;
        }
        if (r == 0) {
            if (size == UINT64_MAX) break;
            rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "%s ends early "
                               "(truncated bundle)", what);
            goto out;
        }
        if (threaded) {
            hasher_give(&t, cur, r);
        } else if (hex_r && (rc = xlsnap__sha256_update(&h, buf, r))) {
            rc = xlsnap__sha256_error(ctx, rc);
            goto out;
        }
        if (out >= 0 && (rc = write_all(ctx, out, buf, r))) {
            rc = xlsnap__error_prefix(ctx, rc, "%s", what);
            goto out;
        }
        done += r;
        cur ^= threaded;
        xlsnap__progress(ctx, what, done, size == UINT64_MAX ? 0 : size);
        if (!hex_r)             /* tests: a kill mid-copy (placing) */
            xlsnap__fault_point("copy-plain-piece");
    }
    if (threaded) {
        threaded = false;
        if ((rc = hasher_end(&t, th))) {
            rc = xlsnap__sha256_error(ctx, rc);
            goto out;
        }
    }
    if (copied_r) *copied_r = done;
    if (hex_r && (rc = xlsnap__sha256_final(&h, hex_r)))
        rc = xlsnap__sha256_error(ctx, rc);
 out:
    if (threaded) hasher_end(&t, th);
    xlsnap__sha256_dispose(&h);
    free(bufs);
    return rc;
}

/*
 * The hashed writer: a file made from its first byte to its last in one
 * pass (bundle/delta.c's qcow2 images), each piece hashed by the hasher
 * thread while it is written and the next one is made, so that the
 * file's SHA-256 is known when it is, without reading it again.
 * Compressed (a bundle's zstd part), the pieces are made in a buffer of
 * their own and fed to the compressor, whose output is what is hashed
 * and written: the uncompressed file never exists.
 */
/* its pieces: larger than a copy's, fewer hand-overs to the hasher */
#define HW_BUF (4u << 20)

struct xlsnap__hwriter {
    xlsnap_ctx *ctx;
    int fd;
    char *what;
    uint64_t total, made, written;
    xlsnap__sha256 h;
    hasher t;
    pthread_t th;
    bool threaded;
    char *bufs;
    int cur;
    size_t fill;            /* bytes made in the piece (in()) */
    xlsnap__zenc *z;        /* compressing: the piece is zin */
    char *zin;
    xlsnap__zenc_out zo;    /* the compressor's output: t.buf[cur] */
};

int xlsnap__hwriter_alloc(xlsnap_ctx *ctx, int fd, const char *what,
                          uint64_t total, bool zstd, xlsnap__hwriter **w_r)
{
    xlsnap__hwriter *w = calloc(1, sizeof(*w));
    int rc;

    *w_r = NULL;
    if (!w) return xlsnap__nomem(ctx);
    w->ctx = ctx;
    w->fd = fd;
    w->total = total;
    w->t.next = -1;
    w->t.h = &w->h;
    pthread_mutex_init(&w->t.mu, NULL);
    pthread_cond_init(&w->t.cv, NULL);
    if (!(w->what = xlsnap__strdup(what)) ||
        !(w->bufs = malloc(2 * (size_t)HW_BUF)) ||
        (zstd && (!(w->zin = malloc(HW_BUF)) ||
                  !(w->z = xlsnap__zenc_alloc())))) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    w->t.buf[0] = w->bufs;
    w->t.buf[1] = w->bufs + HW_BUF;
    if ((rc = xlsnap__sha256_init(&w->h))) {
        rc = xlsnap__sha256_error(ctx, rc);
        goto out;
    }
    /* no thread (none could be started): hashed in line */
    if (total > HASH_THREAD_MIN)
        w->threaded = !pthread_create(&w->th, NULL, hasher_main, &w->t);
    *w_r = w;
    w = NULL;
 out:
    xlsnap__hwriter_free(w);
    return rc;
}

/* where the piece is made */
static char *in(xlsnap__hwriter *w)
{
    return w->z ? w->zin : w->t.buf[w->cur];
}

/* len bytes of the file in t.buf[cur]: given to the hasher, written,
 * and the other buffer taken once it is hashed. */
static int hwriter_emit(xlsnap__hwriter *w, size_t len)
{
    char *buf = w->t.buf[w->cur];
    int rc;

    if (w->threaded) {
        hasher_give(&w->t, w->cur, len);
    } else if ((rc = xlsnap__sha256_update(&w->h, buf, len))) {
        return xlsnap__sha256_error(w->ctx, rc);
    }
    if ((rc = write_all(w->ctx, w->fd, buf, len)))
        return xlsnap__error_prefix(w->ctx, rc, "%s", w->what);
    w->written += len;
    if (w->threaded) {
        w->cur ^= 1;
        hasher_wait(&w->t, w->cur);
    }
    return 0;
}

/* the compressor's output, o in the writer */
static int zo_emit(xlsnap__zenc_out *o, size_t len)
{
    xlsnap__hwriter *w = (void *)((char *)o -
                                  offsetof(xlsnap__hwriter, zo));
    int rc = hwriter_emit(w, len);

    o->buf = w->t.buf[w->cur];
    return rc;
}

/* The piece made so far, compressed or as it is; end: the last one
 * (the compressed frame is closed). */
static int hwriter_flush(xlsnap__hwriter *w, bool end)
{
    const char *zerr;
    int rc;

    if (!w->z) {
        if (w->fill && (rc = hwriter_emit(w, w->fill))) return rc;
    } else if (w->fill || end) {
        w->zo = (xlsnap__zenc_out){ w->t.buf[w->cur], HW_BUF, zo_emit };
        rc = xlsnap__zenc_feed(w->z, w->zin, w->fill, end, &w->zo, &zerr);
        if (rc > 0)
            return xlsnap__error(w->ctx, XLSNAP_ERROR_FAIL, "%s: zstd: %s",
                                 w->what, zerr);
        if (rc) return rc;
    }
    w->made += w->fill;
    w->fill = 0;
    xlsnap__progress(w->ctx, w->what, w->made, w->total);
    return 0;
}

int xlsnap__hwriter_room(xlsnap__hwriter *w, size_t n, void **p_r)
{
    int rc;

    *p_r = NULL;
    if (n > HW_BUF)
        return xlsnap__error(w->ctx, XLSNAP_ERROR_INVAL, "%s: a piece of "
                             "%zu bytes is too big", w->what, n);
    if (w->fill + n > HW_BUF && (rc = hwriter_flush(w, false))) return rc;
    *p_r = in(w) + w->fill;
    return 0;
}

void xlsnap__hwriter_commit(xlsnap__hwriter *w, size_t n)
{
    w->fill += n;
}

int xlsnap__hwriter_put(xlsnap__hwriter *w, const void *p, size_t n)
{
    const char *c = p;
    int rc;

    while (n) {
        size_t k;
        if (w->fill == HW_BUF && (rc = hwriter_flush(w, false))) return rc;
        k = HW_BUF - w->fill < n ? HW_BUF - w->fill : n;
        memcpy(in(w) + w->fill, c, k);
        w->fill += k;
        c += k;
        n -= k;
    }
    return 0;
}

int xlsnap__hwriter_finish(xlsnap__hwriter *w, uint64_t *size_r,
                           char hex_r[65])
{
    int rc;

    if ((rc = hwriter_flush(w, true))) return rc;
    if (w->threaded) {
        w->threaded = false;
        if ((rc = hasher_end(&w->t, w->th)))
            return xlsnap__sha256_error(w->ctx, rc);
    }
    if ((rc = xlsnap__sha256_final(&w->h, hex_r)))
        return xlsnap__sha256_error(w->ctx, rc);
    if (size_r) *size_r = w->written;
    return 0;
}

void xlsnap__hwriter_free(xlsnap__hwriter *w)
{
    if (!w) return;
    if (w->threaded) hasher_end(&w->t, w->th);
    xlsnap__sha256_dispose(&w->h);
    pthread_cond_destroy(&w->t.cv);
    pthread_mutex_destroy(&w->t.mu);
    xlsnap__zenc_free(w->z);
    free(w->zin);
    free(w->bufs);
    free(w->what);
    free(w);
}

static int copy_file(xlsnap_ctx *ctx, const char *src, const char *dst,
                     int how, uint64_t max, uint64_t *size_r, char hex_r[65])
{
    struct stat st;
    int in, out = -1, rc;

    in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0 || fstat(in, &st) < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot read %s", src);
        goto out;
    }
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
               0600);
    if (out < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot create %s", dst);
        goto out;
    }
    if (how == XLSNAP__COPY_PLAIN)
        rc = xlsnap__copy_hashed(ctx, in, out, st.st_size, dst, size_r,
                                 hex_r);
    else
        rc = xlsnap__zstd(ctx, in, out, how == XLSNAP__COPY_COMPRESS, dst,
                          st.st_size, max, size_r, hex_r);
    if (!rc && fsync(out) < 0)
        rc = xlsnap__error_errno(ctx, errno, "cannot write %s", dst);
    if (rc) unlink(dst);
 out:
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    return rc;
}

int xlsnap__copy_file(xlsnap_ctx *ctx, const char *src, const char *dst,
                      int how, uint64_t *size_r, char hex_r[65])
{
    return copy_file(ctx, src, dst, how, UINT64_MAX, size_r, hex_r);
}

int xlsnap__decompress_file(xlsnap_ctx *ctx, const char *src,
                            const char *dst, uint64_t max, uint64_t *size_r,
                            char hex_r[65])
{
    return copy_file(ctx, src, dst, XLSNAP__COPY_DECOMPRESS, max, size_r,
                     hex_r);
}

/* ---- tar (ustar) ---- */

static void octal(char *field, size_t len, uint64_t v)
{
    snprintf(field, len, "%0*llo", (int)len - 1, (unsigned long long)v);
}

static int put_header(xlsnap_ctx *ctx, int out, const char *name,
                      uint64_t size)
{
    char h[512] = { 0 };
    unsigned sum = 0;

    if (strlen(name) > 99)
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "member name %s is "
                             "too long", name);
    memcpy(h, name, strlen(name));
    octal(h + 100, 8, 0600);
    octal(h + 108, 8, 0);
    octal(h + 116, 8, 0);
    if (size < 077777777777ULL) {
        octal(h + 124, 12, size);
    } else {                         /* GNU base-256 */
        h[124] = (char)0x80;
        for (int i = 0; i < 8; i++)
            h[135 - i] = (char)(size >> (8 * i));
    }
    octal(h + 136, 12, (uint64_t)time(NULL));
    memset(h + 148, ' ', 8);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    for (int i = 0; i < 512; i++) sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    return write_all(ctx, out, h, 512);
}

static int put_pad(xlsnap_ctx *ctx, int out, uint64_t size)
{
    static const char zero[512];
    size_t pad = (512 - size % 512) % 512;

    return pad ? write_all(ctx, out, zero, pad) : 0;
}

int xlsnap__tar_put(xlsnap_ctx *ctx, int out, const char *name, int in,
                    uint64_t size, char hex_r[65])
{
    uint64_t done;
    int rc;

    if ((rc = put_header(ctx, out, name, size))) return rc;
    if ((rc = xlsnap__copy_hashed(ctx, in, out, size, name, &done, hex_r)))
        return rc;
    return put_pad(ctx, out, size);
}

int xlsnap__tar_put_data(xlsnap_ctx *ctx, int out, const char *name,
                         const char *data, size_t len)
{
    int rc;

    if ((rc = put_header(ctx, out, name, len)) ||
        (rc = write_all(ctx, out, data, len)))
        return rc;
    return put_pad(ctx, out, len);
}

int xlsnap__tar_end(xlsnap_ctx *ctx, int out)
{
    static const char zero[1024];

    return write_all(ctx, out, zero, sizeof(zero));
}

/* A bundle packed by hand, `tar -cf - -C DIR .`, names its members
 * "./NAME" and starts with the directory "./" itself: that one directory
 * is skipped and the "./" taken off; any other directory, a name in a
 * ustar prefix, a link or a special file is refused. */
int xlsnap__tar_next(xlsnap_ctx *ctx, int in, char name_r[100],
                     uint64_t *size_r)
{
    unsigned char h[512];
    unsigned sum, want;
    uint64_t size;
    char *end, name[100];
    int rc, zero;

 next:
    sum = 0;
    size = 0;
    zero = 1;
    if ((rc = xlsnap__read_full(ctx, in, h, sizeof(h)))) return rc;
    for (int i = 0; i < 512; i++) zero &= !h[i];
    if (zero) return 0;
    for (int i = 0; i < 512; i++)
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
    h[155] = 0;
    want = strtoul((char *)h + 148, &end, 8);
    if (want != sum || memcmp(h + 257, "ustar", 5))
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the stream is not "
                             "an xl-snapshot bundle (bad tar header)");
    memcpy(name, h, 99);
    name[99] = '\0';
    if (h[156] == '5' && (!strcmp(name, "./") || !strcmp(name, ".")))
        goto next;
    if (h[156] != '0' && h[156] != '\0')
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the bundle holds "
                             "something other than plain files");
    /* a name filling the field (no NUL: 100 bytes or more) or under a
     * ustar prefix (a directory) is not a bundle member's name */
    if (h[99] || h[345])
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the bundle has a "
                             "member whose name is longer than 99 bytes or "
                             "in a directory");
    /* octal digits with spaces around them, or GNU base-256 of a size
     * below 2^63; nothing else is read as some size (UINT64_MAX would
     * mean "until the end" to xlsnap__copy_hashed) */
    if (h[124] == 0x80 && !h[125] && !h[126] && !h[127] && h[128] < 0x80) {
        size = xlsnap__be(h + 128, 8);
    } else {
        int i = 124, digits = 0;
        while (i < 136 && h[i] == ' ') i++;
        for (; i < 136 && h[i] >= '0' && h[i] <= '7'; i++, digits++)
            size = size << 3 | (h[i] - '0');
        while (i < 136 && (h[i] == ' ' || h[i] == '\0')) i++;
        if (!digits || i < 136)
            return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "the bundle "
                                 "has a member with a bad size field");
    }
    snprintf(name_r, 100, "%s", name + (strncmp(name, "./", 2) ? 0 : 2));
    *size_r = size;
    return 1;
}

int xlsnap__tar_skip_pad(xlsnap_ctx *ctx, int in, uint64_t size)
{
    char pad[512];
    size_t n = (512 - size % 512) % 512;

    return n ? xlsnap__read_full(ctx, in, pad, n) : 0;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
