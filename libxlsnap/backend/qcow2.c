/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * qcow2.c - read a qcow2 image's header ourselves, without qemu-img:
 * for files not yet trusted (a data file or a backing file they name is
 * never opened), and for what qemu-img info does not say (whether any
 * cluster of the image itself shows through to the guest).
 *
 * Layout: QEMU's docs/interop/qcow2.txt.  Numbers are big-endian
 * (xlsnap__be).
 */
#include "internal.h"

#include <unistd.h>

#define QCOW2_EXT_BACKING_FORMAT 0xe2792acaU
#define QCOW2_EXT_DATA_FILE      0x44415441U
#define QCOW2_INCOMPAT_DATA_FILE (1ULL << 2)
#define QCOW2_INCOMPAT_EXT_L2    (1ULL << 4)
#define QCOW2_OFFSET_MASK        0x00fffffffffffe00ULL
#define QCOW2_COMPRESSED         (1ULL << 62)
#define QCOW2_MAX_L1             (32u << 20)    /* bytes, as QEMU */

void xlsnap__qcow2hdr_dispose(xlsnap__qcow2hdr *h)
{
    free(h->backing);
    free(h->backing_fmt);
    memset(h, 0, sizeof(*h));
}

/* The header extensions (in the first cluster) that concern us. */
static int read_extensions(xlsnap_ctx *ctx, int fd, xlsnap__qcow2hdr *h,
                           const char **why_r)
{
    uint64_t off = h->version == 2 ? 72 : h->header_length;
    uint64_t end = 1ULL << h->cluster_bits;
    unsigned char e[8];
    char fmt[33];

    while (off + 8 <= end) {
        uint32_t type, len;
        if (pread(fd, e, 8, off) != 8) break;
        type = xlsnap__be(e, 4);
        len = xlsnap__be(e + 4, 4);
        if (!type) return 0;
        off += 8;
        if (len > end - off) {
            *why_r = "its header extensions are truncated";
            return 0;
        }
        if (type == QCOW2_EXT_DATA_FILE) h->data_file = true;
        if (type == QCOW2_EXT_BACKING_FORMAT && !h->backing_fmt) {
            if (len >= sizeof(fmt) || pread(fd, fmt, len, off) != len) {
                *why_r = "its backing format is unreadable";
                return 0;
            }
            fmt[len] = '\0';
            if (!(h->backing_fmt = xlsnap__strdup(fmt)))
                return xlsnap__nomem(ctx);
        }
        off += (len + 7ULL) & ~7ULL;
    }
    return 0;
}

int xlsnap__qcow2_header(xlsnap_ctx *ctx, int fd, xlsnap__qcow2hdr *h,
                         const char **why_r)
{
    unsigned char b[104] = { 0 };
    char name[1024];
    ssize_t n;
    uint64_t boff;
    uint32_t blen;

    memset(h, 0, sizeof(*h));
    *why_r = NULL;
    if ((n = pread(fd, b, sizeof(b), 0)) < 0)
        return xlsnap__error_errno(ctx, errno, "cannot read the qcow2 "
                                   "header");
    h->version = xlsnap__be(b + 4, 4);
    if (n < 72 || memcmp(b, "QFI\xfb", 4)) {
        *why_r = "it is not a qcow2 image";
        return 0;
    }
    if (h->version != 2 && h->version != 3) {
        *why_r = "it is not a qcow2 image of version 2 or 3";
        return 0;
    }
    boff = xlsnap__be(b + 8, 8);
    blen = xlsnap__be(b + 16, 4);
    h->cluster_bits = xlsnap__be(b + 20, 4);
    h->size = xlsnap__be(b + 24, 8);
    h->crypt_method = xlsnap__be(b + 32, 4);
    h->l1_size = xlsnap__be(b + 36, 4);
    h->l1_offset = xlsnap__be(b + 40, 8);
    h->nb_snapshots = xlsnap__be(b + 60, 4);
    h->header_length = 72;
    if (h->version == 3) {
        if (n < 104) {
            *why_r = "its qcow2 version 3 header is truncated";
            return 0;
        }
        h->incompatible = xlsnap__be(b + 72, 8);
        h->header_length = xlsnap__be(b + 100, 4);
    }
    if (h->cluster_bits < 9 || h->cluster_bits > 21 ||
        h->header_length < (h->version == 2 ? 72u : 104u) ||
        h->header_length > (1u << h->cluster_bits)) {
        *why_r = "its qcow2 header is invalid";
        return 0;
    }
    if (h->incompatible & QCOW2_INCOMPAT_DATA_FILE) h->data_file = true;
    if (boff) {
        if (blen == 0 || blen >= sizeof(name) ||
            boff + blen > (1ULL << h->cluster_bits) ||
            pread(fd, name, blen, boff) != (ssize_t)blen) {
            *why_r = "its backing file name is unreadable";
            return 0;
        }
        name[blen] = '\0';
        if (memchr(name, '\0', blen)) {
            *why_r = "its backing file name contains a NUL byte";
            return 0;
        }
        if (!(h->backing = xlsnap__strdup(name))) return xlsnap__nomem(ctx);
    }
    return read_extensions(ctx, fd, h, why_r);
}

/* Whether L2 table entry e (and, extended, its subcluster bitmap bm)
 * makes the guest read something other than the backing file. */
static bool l2_shows(uint64_t e, uint64_t bm, bool ext)
{
    /* extended: only subclusters marked allocated or zero show (a
     * preallocated cluster may have none: extended_l2 with
     * preallocation=metadata); a compressed cluster is all data */
    if (ext) return (e & QCOW2_COMPRESSED) || bm != 0;
    return e != 0;          /* data, compressed or the zero flag */
}

int xlsnap__qcow2_shows_data(xlsnap_ctx *ctx, int fd,
                             const xlsnap__qcow2hdr *h, bool *shows_r)
{
    size_t cs = (size_t)1 << h->cluster_bits;
    bool ext = h->incompatible & QCOW2_INCOMPAT_EXT_L2;
    size_t es = ext ? 16 : 8;
    unsigned char l1[4096], *l2 = NULL;
    uint64_t done = 0;
    int rc = 0;

    *shows_r = false;
    if ((uint64_t)h->l1_size * 8 > QCOW2_MAX_L1)
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "its L1 table is "
                             "too big (%u entries)", h->l1_size);
    if (!(l2 = malloc(cs))) return xlsnap__nomem(ctx);
    while (done < h->l1_size && !*shows_r) {
        size_t k = h->l1_size - done > sizeof(l1) / 8
                 ? sizeof(l1) / 8 : h->l1_size - done;
        if (pread(fd, l1, k * 8, h->l1_offset + done * 8) !=
            (ssize_t)(k * 8)) {
            rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "its L1 table is "
                               "unreadable");
            goto out;
        }
        for (size_t i = 0; i < k && !*shows_r; i++) {
            uint64_t off = xlsnap__be(l1 + 8 * i, 8) & QCOW2_OFFSET_MASK;
            if (!off) continue;
            if (pread(fd, l2, cs, off) != (ssize_t)cs) {
                rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT, "an L2 table "
                                   "is unreadable");
                goto out;
            }
            for (size_t j = 0; j + es <= cs && !*shows_r; j += es)
                *shows_r = l2_shows(xlsnap__be(l2 + j, 8),
                                    ext ? xlsnap__be(l2 + j + 8, 8) : 0,
                                    ext);
        }
        done += k;
    }
 out:
    free(l2);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
