/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * delta.c - a delta's disk proportional to the change: for two internal
 * snapshots of one qcow2 image, the clusters that differ are found by
 * comparing the two snapshots' L1 and L2 tables, read from the image
 * (qcow2 copies a cluster on write: an L2 entry naming the same host
 * cluster in both snapshots is unchanged; unallocated or zero in both is
 * unchanged), and only those clusters are written, by the small qcow2
 * writer below, into a new qcow2 image whose backing file is the base
 * placeholder ("xl-snapshot-base:<base>", as bundle.c's delta).
 *
 * Only snapshot tables and the data clusters they name are read: qcow2
 * never writes them while the snapshot exists, so this is safe on the
 * image of a running domain (opened read-only; nothing is written to
 * it).  The image may be a hostile guest's: every table entry is
 * bounds-checked (aligned, inside the file, not the header) and a bad
 * one refuses the export (CORRUPT).  Images this does not cover -- a
 * backing or data file, encryption, extended L2, compressed clusters
 * that changed, unknown incompatible features -- are left to the
 * caller's general path (*done_r false).
 *
 * The delta's cluster size is the image's (64 KiB by default): a write
 * of 4 KiB in the guest costs one whole cluster in the delta.
 *
 * Output layout: header (cluster 0), then per L1 entry with changes its
 * data clusters and its L2 table, then the L1 table, the refcount
 * blocks and the refcount table; every cluster used once (refcount 1,
 * the COPIED flag set), header written last, fsync'd.
 */
#include "internal.h"
#include "delta.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define OFF_MASK      0x00fffffffffffe00ULL
#define L2_COMPRESSED (1ULL << 62)
#define L2_COPIED     (1ULL << 63)
#define L2_ZERO       1ULL
#define MAX_L1_BYTES  (32u << 20)           /* as QEMU */
#define MAX_SNAPSHOTS 65536                 /* as QEMU */
#define MAX_SNAP_TABLE (64u << 20)          /* as QEMU */
#define INCOMPAT_DIRTY 1ULL                 /* refcounts may be stale */

static void put_be(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = v & 0xff;
}

/* How the guest cluster of L2 entry se (snapshot) differs from that of
 * be (base), in an image of file size fsize with clusters of 2^cbits:
 * XLSNAP__DELTA_SAME, _DATA (*host_r: the snapshot's data cluster),
 * _ZERO (the snapshot reads zeros there), _COMPRESSED (the snapshot's
 * cluster is compressed and differs), or _BAD (an entry names a cluster
 * outside the file, unaligned, or the header). */
int xlsnap__delta_entry(uint64_t se, uint64_t be, unsigned cbits,
                        uint64_t fsize, uint64_t *host_r)
{
    uint64_t cs = 1ULL << cbits, so, bo;
    bool sz, bz;

    *host_r = 0;
    se &= ~L2_COPIED;
    be &= ~L2_COPIED;
    if ((se & L2_COMPRESSED) || (be & L2_COMPRESSED)) {
        if (se == be) return XLSNAP__DELTA_SAME;
        if (se & L2_COMPRESSED) return XLSNAP__DELTA_COMPRESSED;
        bz = false;              /* base's is compressed: it differs */
        bo = 1;                  /* anything that is not the snapshot's */
    } else {
        bo = be & OFF_MASK;
        bz = (be & L2_ZERO) || !bo;
        if (bo && (bo & (cs - 1) || bo < cs || bo > fsize ||
                   fsize - bo < cs))
            return XLSNAP__DELTA_BAD;
    }
    so = se & OFF_MASK;
    sz = (se & L2_ZERO) || !so;
    if (so && (so & (cs - 1) || so < cs || so > fsize || fsize - so < cs))
        return XLSNAP__DELTA_BAD;
    if (sz) return bz ? XLSNAP__DELTA_SAME : XLSNAP__DELTA_ZERO;
    if (!bz && so == bo) return XLSNAP__DELTA_SAME;
    *host_r = so;
    return XLSNAP__DELTA_DATA;
}

/* An internal snapshot as its table entry gives it. */
typedef struct {
    uint64_t l1_offset;
    uint32_t l1_size;
    uint64_t disk_size;          /* 0: not recorded (the header's) */
    int found;                   /* entries with that name */
} snapinfo;

/* Find snapshots sname and bname in the snapshot table. */
static int read_snapshots(xlsnap_ctx *ctx, int fd, uint64_t fsize,
                          const xlsnap__qcow2hdr *h, const char *sname,
                          const char *bname, snapinfo *s, snapinfo *b)
{
    unsigned char hb[8], e[40], *extra = NULL;
    uint64_t off, end;
    char *name = NULL;
    int rc = 0;

    if (pread(fd, hb, 8, 64) != 8)
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "its header is "
                             "truncated");
    off = xlsnap__be(hb, 8);
    if (h->nb_snapshots > MAX_SNAPSHOTS || off & 7 || off > fsize ||
        (h->nb_snapshots && !off))
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "its snapshot "
                             "table is invalid");
    end = off + MAX_SNAP_TABLE < fsize ? off + MAX_SNAP_TABLE : fsize;
    if (!(name = malloc(65536))) return xlsnap__nomem(ctx);
    for (uint32_t i = 0; i < h->nb_snapshots; i++) {
        uint32_t idlen, nlen, xlen;
        uint64_t dsize = 0;
        if (off + 40 > end || pread(fd, e, 40, off) != 40) goto bad;
        idlen = xlsnap__be(e + 12, 2);
        nlen = xlsnap__be(e + 14, 2);
        xlen = xlsnap__be(e + 36, 4);
        if (xlen > 1024) goto bad;          /* QEMU: 1 KiB at most */
        off += 40;
        if (off + xlen + idlen + nlen > end) goto bad;
        if (xlen >= 16) {
            free(extra);
            if (!(extra = malloc(xlen))) { rc = xlsnap__nomem(ctx); goto out; }
            if (pread(fd, extra, xlen, off) != (ssize_t)xlen) goto bad;
            dsize = xlsnap__be(extra + 8, 8);
        }
        off += xlen + idlen;
        if (pread(fd, name, nlen, off) != (ssize_t)nlen) goto bad;
        off += nlen;
        off = (off + 7) & ~7ULL;
        for (int k = 0; k < 2; k++) {
            const char *want = k ? bname : sname;
            snapinfo *p = k ? b : s;
            if (strlen(want) != nlen || memcmp(want, name, nlen)) continue;
            if (!p->found++) {
                p->l1_offset = xlsnap__be(e, 8);
                p->l1_size = xlsnap__be(e + 8, 4);
                p->disk_size = dsize;
            }
        }
    }
    goto out;
 bad:
    rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "its snapshot table is "
                       "truncated or invalid");
 out:
    free(extra);
    free(name);
    return rc;
}

/* The L1 table of snapshot p, whole, n entries (those beyond the
 * snapshot's own are zero: unallocated). */
static int read_l1(xlsnap_ctx *ctx, int fd, uint64_t fsize, unsigned cbits,
                   const snapinfo *p, uint64_t n, uint64_t **l1_r)
{
    uint64_t have = p->l1_size < n ? p->l1_size : n, cs = 1ULL << cbits;
    unsigned char *raw = NULL;
    uint64_t *l1 = calloc(n ? n : 1, 8);
    int rc = 0;

    *l1_r = NULL;
    if (!l1) return xlsnap__nomem(ctx);
    if ((uint64_t)p->l1_size * 8 > MAX_L1_BYTES ||
        (p->l1_size && (p->l1_offset & (cs - 1) || p->l1_offset < cs ||
                        p->l1_offset > fsize ||
                        fsize - p->l1_offset < (uint64_t)p->l1_size * 8))) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "a snapshot's L1 "
                           "table is outside the image");
        goto out;
    }
    if (have && !(raw = malloc(have * 8))) { rc = xlsnap__nomem(ctx); goto out; }
    if (have && pread(fd, raw, have * 8, p->l1_offset) != (ssize_t)(have * 8)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "a snapshot's L1 "
                           "table is unreadable");
        goto out;
    }
    for (uint64_t i = 0; i < have; i++) {
        uint64_t o = xlsnap__be(raw + 8 * i, 8) & OFF_MASK;
        if (o && (o & (cs - 1) || o < cs || o > fsize || fsize - o < cs)) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "a snapshot's L1 "
                               "table names an L2 table outside the image "
                               "(entry %llu)", (unsigned long long)i);
            goto out;
        }
        l1[i] = o;
    }
    *l1_r = l1;
    l1 = NULL;
 out:
    free(raw);
    free(l1);
    return rc;
}

static int read_l2(xlsnap_ctx *ctx, int fd, uint64_t off, unsigned char *t,
                   size_t cs)
{
    if (!off) {
        memset(t, 0, cs);
        return 0;
    }
    if (pread(fd, t, cs, off) != (ssize_t)cs)
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "an L2 table is "
                             "unreadable");
    return 0;
}

/* The writer's state: out is written from cluster 1 on (next). */
typedef struct {
    xlsnap_ctx *ctx;
    int in, out;
    uint64_t cs, next;
    unsigned char *buf;          /* a cluster */
} writer;

static int put(writer *w, const void *p, size_t n, uint64_t off)
{
    if (pwrite(w->out, p, n, off) != (ssize_t)n)
        return xlsnap__error_errno(w->ctx, errno ? errno : EIO, "cannot "
                                   "write the delta");
    return 0;
}

/* The refcount blocks (16-bit: every cluster so far, and these, at 1)
 * and the refcount table after them; *rt_r / *rtc_r: its offset and
 * clusters. */
static int put_refcounts(writer *w, uint64_t *rt_r, uint32_t *rtc_r)
{
    uint64_t used = w->next / w->cs, per = w->cs / 2, rb = 0, rt = 0, total;
    unsigned char *t = NULL;
    int rc = 0;

    for (;;) {
        total = used + rb + rt;
        uint64_t nrb = (total + per - 1) / per;
        uint64_t nrt = (nrb * 8 + w->cs - 1) / w->cs;
        if (nrb == rb && nrt == rt) break;
        rb = nrb;
        rt = nrt;
    }
    if (!(t = calloc(rt, w->cs))) return xlsnap__nomem(w->ctx);
    for (uint64_t i = 0; i < rb && !rc; i++) {
        memset(w->buf, 0, w->cs);
        for (uint64_t c = i * per; c < total && c < (i + 1) * per; c++)
            put_be(w->buf + 2 * (c - i * per), 1, 2);
        put_be(t + 8 * i, w->next, 8);
        rc = put(w, w->buf, w->cs, w->next);
        w->next += w->cs;
    }
    *rt_r = w->next;
    *rtc_r = rt;
    if (!rc) rc = put(w, t, rt * w->cs, w->next);
    w->next += rt * w->cs;
    free(t);
    return rc;
}

/* Cluster 0: a version 3 header, the backing format extension, the
 * backing file name. */
static int put_header(writer *w, unsigned cbits, uint64_t size,
                      uint32_t l1n, uint64_t l1off, uint64_t rt,
                      uint32_t rtc, const char *backing)
{
    size_t blen = strlen(backing);
    unsigned char *h = w->buf;

    memset(h, 0, w->cs);
    memcpy(h, "QFI\xfb", 4);
    put_be(h + 4, 3, 4);
    put_be(h + 8, 128, 8);                 /* backing file offset */
    put_be(h + 16, blen, 4);
    put_be(h + 20, cbits, 4);
    put_be(h + 24, size, 8);
    put_be(h + 36, l1n, 4);
    put_be(h + 40, l1off, 8);
    put_be(h + 48, rt, 8);
    put_be(h + 56, rtc, 4);
    put_be(h + 96, 4, 4);                  /* refcount order: 16 bits */
    put_be(h + 100, 104, 4);               /* header length */
    put_be(h + 104, 0xe2792acaU, 4);       /* backing format */
    put_be(h + 108, 5, 4);
    memcpy(h + 112, "qcow2", 5);
    memcpy(h + 128, backing, blen);        /* (end marker at 120: zeros) */
    return put(w, h, w->cs, 0);
}

/* The changes under one L1 entry (guest clusters from g0, n of them):
 * data clusters copied from in to out, an L2 table written after them;
 * *l2_r its offset, 0 if nothing changed.  *compressed_r set if a
 * changed cluster is compressed (nothing more is done then). */
static int put_changes(writer *w, const unsigned char *ts,
                       const unsigned char *tb, uint64_t n, uint64_t fsize,
                       unsigned cbits, uint64_t *l2_r, bool *compressed_r,
                       uint64_t *changed_r)
{
    unsigned char *t = calloc(1, w->cs);
    bool any = false;
    int rc = 0;

    *l2_r = 0;
    if (!t) return xlsnap__nomem(w->ctx);
    for (uint64_t j = 0; j < n && !rc; j++) {
        uint64_t host;
        switch (xlsnap__delta_entry(xlsnap__be(ts + 8 * j, 8),
                                    xlsnap__be(tb + 8 * j, 8), cbits,
                                    fsize, &host)) {
        case XLSNAP__DELTA_SAME:
            continue;
        case XLSNAP__DELTA_ZERO:
            put_be(t + 8 * j, L2_ZERO, 8);
            break;
        case XLSNAP__DELTA_DATA:
            if (pread(w->in, w->buf, w->cs, host) != (ssize_t)w->cs) {
                rc = xlsnap__error(w->ctx, XLSNAP_ERROR_CORRUPT, "a data "
                                   "cluster is unreadable");
                break;
            }
            put_be(t + 8 * j, w->next | L2_COPIED, 8);
            rc = put(w, w->buf, w->cs, w->next);
            w->next += w->cs;
            break;
        case XLSNAP__DELTA_COMPRESSED:
            *compressed_r = true;
            goto out;
        default:
            rc = xlsnap__error(w->ctx, XLSNAP_ERROR_CORRUPT, "an L2 table "
                               "names a cluster outside the image (guest "
                               "cluster %llu of the table)",
                               (unsigned long long)j);
            goto out;
        }
        any = true;
        (*changed_r)++;
    }
    if (!rc && any) {
        *l2_r = w->next;
        rc = put(w, t, w->cs, w->next);
        w->next += w->cs;
    }
 out:
    free(t);
    return rc;
}

int xlsnap__delta_internal(xlsnap_ctx *ctx, const char *image,
                           const char *snap, const char *base,
                           const char *backing, const char *out,
                           bool *done_r, uint64_t *changed_r)
{
    xlsnap__qcow2hdr h = { 0 };
    const char *why = NULL;
    snapinfo s = { 0 }, b = { 0 };
    uint64_t *l1s = NULL, *l1b = NULL, fsize, size, nclu, l1n, per, changed = 0;
    unsigned char *ts = NULL, *tb = NULL, *l1raw = NULL;
    writer w = { .ctx = ctx, .in = -1, .out = -1 };
    bool compressed = false;
    struct stat st;
    uint64_t rt = 0;
    uint32_t rtc = 0;
    int rc;

    *done_r = false;
    if (changed_r) *changed_r = 0;
    w.in = open(image, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (w.in < 0 || fstat(w.in, &st) < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot read %s", image);
        goto out;
    }
    fsize = st.st_size;
    if ((rc = xlsnap__qcow2_header(ctx, w.in, &h, &why))) goto out;
    if (why) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "image %s: %s", image,
                           why);
        goto out;
    }
    /* what the general path handles: nothing read further here */
    if (h.backing || h.data_file || h.crypt_method ||
        (h.incompatible & ~INCOMPAT_DIRTY) || strlen(backing) > 1023 ||
        128 + strlen(backing) > (1ULL << h.cluster_bits))
        goto out;
    w.cs = 1ULL << h.cluster_bits;
    if ((rc = read_snapshots(ctx, w.in, fsize, &h, snap, base, &s, &b)))
        goto prefix;
    if (s.found != 1 || b.found != 1)    /* missing or ambiguous */
        goto out;
    size = s.disk_size ? s.disk_size : h.size;
    per = w.cs / 8;
    nclu = (size + w.cs - 1) / w.cs;
    l1n = (nclu + per - 1) / per;
    if (l1n * 8 > MAX_L1_BYTES) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "its virtual size is "
                           "too big");
        goto prefix;
    }
    if ((rc = read_l1(ctx, w.in, fsize, h.cluster_bits, &s, l1n, &l1s)) ||
        (rc = read_l1(ctx, w.in, fsize, h.cluster_bits, &b, l1n, &l1b)))
        goto prefix;
    ts = malloc(w.cs);
    tb = malloc(w.cs);
    w.buf = malloc(w.cs);
    l1raw = calloc(l1n ? l1n : 1, 8);
    if (!ts || !tb || !w.buf || !l1raw) { rc = xlsnap__nomem(ctx); goto out; }
    w.out = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 0600);
    if (w.out < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot create %s", out);
        goto out;
    }
    w.next = w.cs;
    for (uint64_t i = 0; i < l1n && !compressed; i++) {
        uint64_t n = nclu - i * per < per ? nclu - i * per : per, l2;
        if (l1s[i] == l1b[i]) continue;   /* the same L2 table: unchanged */
        if ((rc = read_l2(ctx, w.in, l1s[i], ts, w.cs)) ||
            (rc = read_l2(ctx, w.in, l1b[i], tb, w.cs)) ||
            (rc = put_changes(&w, ts, tb, n, fsize, h.cluster_bits, &l2,
                              &compressed, &changed)))
            goto prefix;
        if (l2) put_be(l1raw + 8 * i, l2 | L2_COPIED, 8);
    }
    if (compressed) {                     /* the general path copies it */
        unlink(out);
        goto out;
    }
    /* the L1 table, the refcounts, the header, on disk */
    {
        uint64_t l1off = w.next, l1c = (l1n * 8 + w.cs - 1) / w.cs;
        if (l1n && (rc = put(&w, l1raw, l1n * 8, l1off))) goto out;
        w.next += l1c * w.cs;
        if ((rc = put_refcounts(&w, &rt, &rtc)) ||
            (rc = put_header(&w, h.cluster_bits, size, l1n, l1off, rt, rtc,
                             backing)))
            goto out;
        if (ftruncate(w.out, w.next) < 0 || fsync(w.out) < 0) {
            rc = xlsnap__error_errno(ctx, errno, "cannot write %s", out);
            goto out;
        }
    }
    *done_r = true;
    if (changed_r) *changed_r = changed;
    goto out;
 prefix:
    rc = xlsnap__error_prefix(ctx, rc, "image %s", image);
 out:
    if (w.out >= 0) {
        close(w.out);
        if (rc) unlink(out);
    }
    if (w.in >= 0) close(w.in);
    xlsnap__qcow2hdr_dispose(&h);
    free(l1s);
    free(l1b);
    free(ts);
    free(tb);
    free(w.buf);
    free(l1raw);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
