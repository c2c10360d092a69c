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
 * The unit of change is the image's cluster (64 KiB by default): a
 * write of 4 KiB in the guest costs one whole cluster in the delta.  The
 * delta's own cluster size (4 KiB up to the image's) is picked to make
 * the smallest file (pick_cbits), after a first pass that only counts.
 *
 * Without a base, the same writer makes a full image of the snapshot
 * (every cluster it has, as if compared with an empty snapshot), with
 * no backing file: export's full image of an internal snapshot.
 *
 * The same writer makes the delta of a raw volume from the ranges that
 * differ, found elsewhere (xlsnap__delta_ranges: LVM thin snapshots,
 * whose pool's metadata says which blocks differ, bundle/volume.c):
 * the volume is read in clusters of 64 KiB, only in those ranges, each
 * at its own offset; a range mapped in the base only is zeros.
 *
 * Output layout: header (cluster 0), then the data clusters of each
 * region with changes followed by its L2 table, then the L1 table, the
 * refcount blocks and the refcount table; every cluster used once
 * (refcount 1, the COPIED flag set).  It is made in that order, in one
 * pass (the layout is planned from the first pass's counts, so the
 * header can come first), and hashed as it is written (the hashed
 * writer, bundle.c): the bundle's checksum of it needs no second read.
 * For a compressed bundle (made->zstd) the writer compresses it on its
 * way to the file: the uncompressed image is never written.  A delta
 * is fsync'd at the end (a full image is not, as qemu-img's copies are
 * not); a failure removes it.
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
#define PIECE         (1u << 20)            /* read at once (<= room's most) */
#define RANGE_CBITS   16                    /* a raw source's cluster */

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
            if (!want || strlen(want) != nlen || memcmp(want, name, nlen))
                continue;
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

/* The changes, in guest order, as found by a walker: fn(arg, ...) for
 * each guest cluster (of the source's cluster size) that differs. */
typedef int change_fn(void *arg, uint64_t gclu, int kind, uint64_t host);
typedef int walk_fn(const void *src, change_fn *fn, void *arg);

/* Two internal snapshots' tables, as walk_tables compares them. */
typedef struct {
    xlsnap_ctx *ctx;
    int fd;
    uint64_t fsize;
    unsigned cbits;
    const uint64_t *l1s, *l1b;   /* n entries, nclu guest clusters */
    uint64_t n, nclu;
} tables;

/* Compare the two snapshots' tables and call fn for each guest cluster
 * that differs.  1: a changed cluster is compressed (nothing more
 * done). */
static int walk_tables(const void *src, change_fn *fn, void *arg)
{
    const tables *t = src;
    xlsnap_ctx *ctx = t->ctx;
    size_t cs = (size_t)1 << t->cbits, per = cs / 8;
    unsigned char *ts = malloc(cs), *tb = malloc(cs);
    int rc = 0;

    if (!ts || !tb) { rc = xlsnap__nomem(ctx); goto out; }
    for (uint64_t i = 0; i < t->n && !rc; i++) {
        uint64_t m = t->nclu - i * per < per ? t->nclu - i * per : per;
        if (t->l1s[i] == t->l1b[i]) continue;   /* the same L2 table */
        if ((rc = read_l2(ctx, t->fd, t->l1s[i], ts, cs)) ||
            (rc = read_l2(ctx, t->fd, t->l1b[i], tb, cs)))
            goto out;
        for (uint64_t j = 0; j < m && !rc; j++) {
            uint64_t host;
            int k = xlsnap__delta_entry(xlsnap__be(ts + 8 * j, 8),
                                        xlsnap__be(tb + 8 * j, 8), t->cbits,
                                        t->fsize, &host);
            if (k == XLSNAP__DELTA_SAME) continue;
            if (k == XLSNAP__DELTA_COMPRESSED) { rc = 1; goto out; }
            if (k == XLSNAP__DELTA_BAD) {
                rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "an L2 table "
                                   "names a cluster outside the image "
                                   "(guest cluster %llu of the table)",
                                   (unsigned long long)j);
                goto out;
            }
            rc = fn(arg, i * per + j, k, host);
        }
    }
 out:
    free(ts);
    free(tb);
    return rc;
}

/* Ranges of a raw source, as walk_ranges gives them: each cluster of
 * 2^cbits bytes of a range, the host offset the guest's. */
typedef struct {
    unsigned cbits;
    const xlsnap__delta_range *r;
    size_t n;
} rangeset;

static int walk_ranges(const void *src, change_fn *fn, void *arg)
{
    const rangeset *rs = src;
    int rc = 0;

    for (size_t i = 0; i < rs->n && !rc; i++) {
        uint64_t g = rs->r[i].offset >> rs->cbits;
        uint64_t end = (rs->r[i].offset + rs->r[i].length +
                        (1ULL << rs->cbits) - 1) >> rs->cbits;
        for (; g < end && !rc; g++)
            rc = fn(arg, g, rs->r[i].kind, g << rs->cbits);
    }
    return rc;
}

/*
 * The delta's cluster size: the one of 4 KiB (or the image's, if
 * smaller) up to the image's that makes the smallest file.  The data is
 * the same whatever it is (each changed cluster of the image, whole);
 * the metadata is not: a header, the L1 table, one L2 table per region
 * of the guest with a change (a region is cs * cs / 8 bytes), the
 * refcounts -- five 64 KiB clusters around 1 MiB of changes at 64 KiB,
 * about 28 KiB at 4 KiB; many scattered changes favour the larger.
 */
#define MIN_CBITS 12
typedef struct {
    unsigned scbits;             /* the image's */
    uint64_t scs, ndata;
    uint64_t regions[22], last[22];   /* per candidate cbits */
} counter;

static int count_change(void *arg, uint64_t gclu, int kind, uint64_t host)
{
    counter *c = arg;
    uint64_t g = gclu * c->scs;

    (void)host;
    if (kind == XLSNAP__DELTA_DATA) c->ndata++;
    for (unsigned cb = c->scbits; cb >= MIN_CBITS || cb == c->scbits; cb--) {
        uint64_t r = (g >> (2 * cb - 3)) + 1;   /* 0: none yet */
        if (r != c->last[cb]) {
            c->last[cb] = r;
            c->regions[cb]++;
        }
        if (cb == 0) break;
    }
    return 0;
}

/* clusters of size 2^cb holding the refcounts of used clusters and of
 * themselves: *rb blocks, *rt table */
static void refcount_clusters(uint64_t used, unsigned cb, uint64_t *rb_r,
                              uint64_t *rt_r)
{
    uint64_t cs = 1ULL << cb, per = cs / 2, rb = 0, rt = 0;

    for (;;) {
        uint64_t total = used + rb + rt;
        uint64_t nrb = (total + per - 1) / per;
        uint64_t nrt = (nrb * 8 + cs - 1) / cs;
        if (nrb == rb && nrt == rt) break;
        rb = nrb;
        rt = nrt;
    }
    *rb_r = rb;
    *rt_r = rt;
}

static unsigned pick_cbits(const counter *c, uint64_t size, size_t blen)
{
    unsigned best = c->scbits;
    uint64_t best_bytes = UINT64_MAX;

    for (unsigned cb = c->scbits; cb >= MIN_CBITS || cb == c->scbits; cb--) {
        uint64_t cs = 1ULL << cb, region = 1ULL << (2 * cb - 3);
        uint64_t l1n = (size + region - 1) / region;
        uint64_t l1c = (l1n * 8 + cs - 1) / cs, rb, rt, used, bytes;
        if (l1n * 8 <= MAX_L1_BYTES && 128 + blen <= cs) {
            used = 1 + l1c + c->regions[cb] + c->ndata * (c->scs / cs);
            refcount_clusters(used, cb, &rb, &rt);
            bytes = (used + rb + rt) * cs;
            if (bytes < best_bytes) {
                best_bytes = bytes;
                best = cb;
            }
        }
        if (cb == 0) break;
    }
    return best;
}

/* The writer's state: the output is made in one pass, in file order
 * (next: its size so far), through the hashed writer (hw). */
typedef struct {
    xlsnap_ctx *ctx;
    int in, out;
    uint64_t in_size;            /* the source's bytes (zeros beyond) */
    xlsnap__hwriter *hw;
    uint64_t scs;                /* the source's cluster size */
    unsigned cbits;              /* the output's */
    uint64_t cs, next;
    unsigned char *buf;          /* the header */
    unsigned char *l2;           /* the L2 table being filled */
    uint64_t region;             /* its L1 index + 1; 0: none */
    unsigned char *l1;           /* whole clusters */
    uint64_t l1n, l1c;
} writer;

/* n bytes at the end of the output */
static int put(writer *w, const void *p, size_t n)
{
    int rc = xlsnap__hwriter_put(w->hw, p, n);

    if (!rc) w->next += n;
    return rc;
}

/* the L2 table being filled, after the data it names */
static int flush_l2(writer *w)
{
    uint64_t at = w->next;
    int rc;

    if (!w->region) return 0;
    if ((rc = put(w, w->l2, w->cs))) return rc;
    put_be(w->l1 + 8 * (w->region - 1), at | L2_COPIED, 8);
    w->region = 0;
    memset(w->l2, 0, w->cs);
    return 0;
}

/* One changed guest cluster of the image: its data copied (as
 * scs / cs clusters of the delta, one after the other) or zeros. */
static int write_change(void *arg, uint64_t gclu, int kind, uint64_t host)
{
    writer *w = arg;
    uint64_t g = gclu * w->scs, r = (g >> (2 * w->cbits - 3)) + 1;
    uint64_t e = (g >> w->cbits) & (w->cs / 8 - 1), n = w->scs / w->cs;
    void *room;
    int rc;

    if (r != w->region && (rc = flush_l2(w))) return rc;
    w->region = r;
    if (kind == XLSNAP__DELTA_ZERO) {
        for (uint64_t k = 0; k < n; k++)
            put_be(w->l2 + 8 * (e + k), L2_ZERO, 8);
        return 0;
    }
    /* read into the writer's buffer, in pieces of at most 1 MiB (a
     * cluster may be 2 MiB) */
    for (uint64_t o = 0, k, have; o < w->scs; o += k) {
        k = w->scs - o < PIECE ? w->scs - o : PIECE;
        have = host + o >= w->in_size ? 0 : w->in_size - host - o;
        have = have < k ? have : k;        /* a raw source's last cluster */
        if ((rc = xlsnap__hwriter_room(w->hw, k, &room))) return rc;
        if (have && pread(w->in, room, have, host + o) != (ssize_t)have)
            return xlsnap__error(w->ctx, XLSNAP_ERROR_CORRUPT, "a data "
                                 "cluster is unreadable");
        memset((char *)room + have, 0, k - have);
        xlsnap__hwriter_commit(w->hw, k);
    }
    for (uint64_t k = 0; k < n; k++)
        put_be(w->l2 + 8 * (e + k), (w->next + k * w->cs) | L2_COPIED, 8);
    w->next += w->scs;
    return 0;
}

/* The refcount blocks (16-bit: every cluster so far, and these, at 1)
 * and the refcount table after them; *rt_r / *rtc_r: its offset and
 * clusters. */
static int put_refcounts(writer *w, uint64_t *rt_r, uint32_t *rtc_r)
{
    uint64_t used = w->next / w->cs, per = w->cs / 2, rb, rt, total;
    unsigned char *t = NULL;
    int rc = 0;

    refcount_clusters(used, w->cbits, &rb, &rt);
    total = used + rb + rt;
    if (!(t = calloc(rt, w->cs))) return xlsnap__nomem(w->ctx);
    for (uint64_t i = 0; i < rb && !rc; i++) {
        memset(w->l2, 0, w->cs);
        for (uint64_t c = i * per; c < total && c < (i + 1) * per; c++)
            put_be(w->l2 + 2 * (c - i * per), 1, 2);
        put_be(t + 8 * i, w->next, 8);
        rc = put(w, w->l2, w->cs);
    }
    *rt_r = w->next;
    *rtc_r = rt;
    if (!rc) rc = put(w, t, rt * w->cs);
    free(t);
    return rc;
}

/* Where the writer will put the L1 table and the refcount table, and
 * the output's size, for the changes counted by pass 1 (c): the header
 * comes first, so that the output is made in file order. */
static void plan(const counter *c, writer *w, uint64_t *l1off_r,
                 uint64_t *rtoff_r, uint32_t *rtc_r, uint64_t *size_r)
{
    uint64_t data = c->ndata * (w->scs / w->cs), rb, rt;
    uint64_t used = 1 + data + c->regions[w->cbits] + w->l1c;

    refcount_clusters(used, w->cbits, &rb, &rt);
    *l1off_r = (used - w->l1c) * w->cs;
    *rtoff_r = (used + rb) * w->cs;
    *rtc_r = rt;
    *size_r = (used + rb + rt) * w->cs;
}

/* Cluster 0: a version 3 header; with a backing file, the backing
 * format extension and its name. */
static int put_header(writer *w, uint64_t size, uint64_t l1off,
                      uint64_t rt, uint32_t rtc, const char *backing)
{
    size_t blen = backing ? strlen(backing) : 0;
    unsigned char *h = w->buf;

    memset(h, 0, w->cs);
    memcpy(h, "QFI\xfb", 4);
    put_be(h + 4, 3, 4);
    put_be(h + 20, w->cbits, 4);
    put_be(h + 24, size, 8);
    put_be(h + 36, w->l1n, 4);
    put_be(h + 40, l1off, 8);
    put_be(h + 48, rt, 8);
    put_be(h + 56, rtc, 4);
    put_be(h + 96, 4, 4);                  /* refcount order: 16 bits */
    put_be(h + 100, 104, 4);               /* header length */
    if (blen) {                            /* (end marker: zeros) */
        put_be(h + 8, 128, 8);             /* backing file offset */
        put_be(h + 16, blen, 4);
        put_be(h + 104, 0xe2792acaU, 4);   /* backing format */
        put_be(h + 108, 5, 4);
        memcpy(h + 112, "qcow2", 5);
        memcpy(h + 128, backing, blen);
    }
    return put(w, h, w->cs);
}

/* made emptied for a new export, the caller's zstd kept */
static void made_reset(xlsnap__export_made *made)
{
    bool zstd;

    if (!made) return;
    zstd = made->zstd;
    memset(made, 0, sizeof(*made));
    made->zstd = zstd;
}

/* The image of the changes walk finds in src (clusters of 2^scbits
 * bytes, read from in, of in_size bytes; the guest's size bytes),
 * written to out (created), on backing (NULL: none): a delta (the
 * smallest file, fsync'd) or a full image (the source's cluster size).  0:
 * made (made filled, may be NULL); 1: walk met a change it cannot give
 * (nothing made); errors about the source prefixed "image <name>". */
static int write_image(xlsnap_ctx *ctx, int in, uint64_t in_size,
                       unsigned scbits, uint64_t size, walk_fn *walk,
                       const void *src, bool delta, const char *backing,
                       const char *out, const char *name,
                       xlsnap__export_made *made)
{
    writer w = { .ctx = ctx, .in = in, .in_size = in_size, .out = -1 };
    counter c = { 0 };
    uint64_t rt = 0, l1off, prt, total, written;
    uint32_t rtc = 0, prtc;
    size_t blen = backing ? strlen(backing) : 0;
    char hex[65];
    int rc;

    w.scs = 1ULL << scbits;
    /* pass 1: what changed, to size the output's clusters and place
     * its tables */
    c.scbits = scbits;
    c.scs = w.scs;
    rc = walk(src, count_change, &c);
    if (rc == 1) goto out;               /* the general path copies it */
    if (rc) goto prefix;
    /* a delta: the smallest file; a full image keeps the source's
     * cluster size (it becomes a disk on import) */
    w.cbits = delta ? pick_cbits(&c, size, blen) : scbits;
    w.cs = 1ULL << w.cbits;
    w.l1n = (size + (1ULL << (2 * w.cbits - 3)) - 1) >> (2 * w.cbits - 3);
    w.l1c = (w.l1n * 8 + w.cs - 1) / w.cs;
    plan(&c, &w, &l1off, &prt, &prtc, &total);
    w.buf = malloc(w.cs);
    w.l2 = calloc(1, w.cs);
    w.l1 = calloc(w.l1c ? w.l1c : 1, w.cs);
    if (!w.buf || !w.l2 || !w.l1) { rc = xlsnap__nomem(ctx); goto out; }
    w.out = open(out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 0600);
    if (w.out < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot create %s", out);
        goto out;
    }
    /* named as the bundle's part in progress and errors */
    if ((rc = xlsnap__hwriter_alloc(ctx, w.out, strrchr(out, '/') ?
                                    strrchr(out, '/') + 1 : out, total,
                                    made && made->zstd, &w.hw)))
        goto out;
    /* pass 2: made in file order: the header, the data clusters of
     * each region with changes followed by its L2 table, the L1 table,
     * the refcounts (the layout planned after pass 1) */
    if ((rc = put_header(&w, size, l1off, prt, prtc, backing))) goto out;
    rc = walk(src, write_change, &w);
    if (!rc && !(rc = flush_l2(&w)) && w.next != l1off)
        rc = 1;
    if (rc == 1)                          /* the tables changed under us */
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "its tables changed "
                           "while they were read");
    if (rc) goto prefix;
    if ((w.l1c && (rc = put(&w, w.l1, w.l1c * w.cs))) ||
        (rc = put_refcounts(&w, &rt, &rtc)))
        goto out;
    if (rt != prt || rtc != prtc || w.next != total) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "the image written is "
                           "not the one planned (%llu bytes, not %llu)",
                           (unsigned long long)w.next,
                           (unsigned long long)total);
        goto prefix;
    }
    if ((rc = xlsnap__hwriter_finish(w.hw, &written,
                                     made ? made->sha256 : hex)))
        goto out;
    /* a delta is synced; a full image is left to the page cache, as
     * qemu-img's full copies are (2 GiB of write-back: 2.3 s against
     * 1.5 s in bench/bundle-bench.py's export-full) */
    if (delta && fsync(w.out) < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot write %s", out);
        goto out;
    }
    if (made) {
        made->size = written;
        made->virtual_size = size;
        made->compressed = made->zstd;
        made->plain_size = total;
    }
    goto out;
 prefix:
    rc = xlsnap__error_prefix(ctx, rc, "image %s", name);
 out:
    xlsnap__hwriter_free(w.hw);
    if (w.out >= 0) {
        close(w.out);
        if (rc) unlink(out);
    }
    free(w.buf);
    free(w.l2);
    free(w.l1);
    return rc;
}

int xlsnap__delta_internal(xlsnap_ctx *ctx, const char *image,
                           const char *snap, const char *base,
                           const char *backing, const char *out,
                           bool *done_r, xlsnap__export_made *made)
{
    xlsnap__qcow2hdr h = { 0 };
    const char *why = NULL;
    snapinfo s = { 0 }, b = { 0 };
    uint64_t *l1s = NULL, *l1b = NULL, fsize, size, nclu, l1n, per, scs;
    size_t blen = backing ? strlen(backing) : 0;
    struct stat st;
    tables t;
    int in, rc;

    *done_r = false;
    made_reset(made);
    in = open(image, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0 || fstat(in, &st) < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot read %s", image);
        goto out;
    }
    fsize = st.st_size;
    if ((rc = xlsnap__qcow2_header(ctx, in, &h, &why))) goto out;
    if (why) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "image %s: %s", image,
                           why);
        goto out;
    }
    /* what the general path handles: nothing read further here */
    if (h.backing || h.data_file || h.crypt_method ||
        (h.incompatible & ~INCOMPAT_DIRTY) || blen > 1023 ||
        128 + blen > (1ULL << h.cluster_bits))
        goto out;
    scs = 1ULL << h.cluster_bits;
    if ((rc = read_snapshots(ctx, in, fsize, &h, snap, base, &s, &b)))
        goto prefix;
    /* missing or ambiguous; no base: the whole snapshot, as on an
     * empty one */
    if (s.found != 1 || (base && b.found != 1))
        goto out;
    size = s.disk_size ? s.disk_size : h.size;
    per = scs / 8;
    nclu = (size + scs - 1) / scs;
    l1n = (nclu + per - 1) / per;
    if (size > (1ULL << 56) || l1n * 8 > MAX_L1_BYTES) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "its virtual size is "
                           "too big");
        goto prefix;
    }
    if ((rc = read_l1(ctx, in, fsize, h.cluster_bits, &s, l1n, &l1s)) ||
        (rc = read_l1(ctx, in, fsize, h.cluster_bits, &b, l1n, &l1b)))
        goto prefix;
    t = (tables){ .ctx = ctx, .fd = in, .fsize = fsize,
                  .cbits = h.cluster_bits, .l1s = l1s, .l1b = l1b,
                  .n = l1n, .nclu = nclu };
    rc = write_image(ctx, in, fsize, h.cluster_bits, size, walk_tables, &t,
                     base != NULL, backing, out, image, made);
    if (rc == 1) rc = 0;                 /* the general path copies it */
    else if (!rc) *done_r = true;
    goto out;
 prefix:
    rc = xlsnap__error_prefix(ctx, rc, "image %s", image);
 out:
    if (in >= 0) close(in);
    xlsnap__qcow2hdr_dispose(&h);
    free(l1s);
    free(l1b);
    return rc;
}

int xlsnap__delta_ranges(xlsnap_ctx *ctx, const char *raw, uint64_t size,
                         const xlsnap__delta_range *r, size_t n,
                         const char *backing, const char *out,
                         xlsnap__export_made *made)
{
    rangeset rs = { .cbits = RANGE_CBITS, .r = r, .n = n };
    uint64_t have, end = 0, cs = 1ULL << RANGE_CBITS;
    int in, rc;

    made_reset(made);
    if (!backing || strlen(backing) > 1023 || size > (1ULL << 56))
        return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "a delta of %s "
                             "needs a backing name of at most 1023 bytes "
                             "and a size of at most 2^56 bytes", raw);
    /* the ranges in guest order, whole clusters (or to the end) */
    for (size_t i = 0; i < n; i++) {
        if ((r[i].kind != XLSNAP__DELTA_DATA &&
             r[i].kind != XLSNAP__DELTA_ZERO) || !r[i].length ||
            r[i].offset & (cs - 1) || r[i].offset < end ||
            r[i].offset > size || size - r[i].offset < r[i].length ||
            (r[i].length & (cs - 1) && r[i].offset + r[i].length != size))
            return xlsnap__error(ctx, XLSNAP_ERROR_INVAL, "a delta of %s: "
                                 "change %zu (%llu bytes at %llu) is not "
                                 "in order, whole clusters of the volume",
                                 raw, i, (unsigned long long)r[i].length,
                                 (unsigned long long)r[i].offset);
        end = r[i].offset + r[i].length;
    }
    /* a block device: its size from its end */
    in = open(raw, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return xlsnap__error_errno(ctx, errno, "cannot read %s", raw);
    have = lseek(in, 0, SEEK_END);
    if (have == (uint64_t)-1 || have < size) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "%s is smaller (%llu "
                           "bytes) than the volume's %llu bytes", raw,
                           (unsigned long long)have,
                           (unsigned long long)size);
        goto out;
    }
    rc = write_image(ctx, in, size, RANGE_CBITS, size, walk_ranges, &rs,
                     true, backing, out, raw, made);
 out:
    close(in);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
