/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * savefile.c - xl's save-file header, so that memory images are what
 * `xl save` writes and `xl restore FILE` accepts:
 *
 *   char magic[32] = "Xen saved domain, xl format\n \0 \r"
 *   uint32 byteorder (0x01020304), mandatory_flags, optional_flags,
 *          optional_data_len                       (host byte order)
 *   optional data: uint32 config_len, config JSON (with its NUL)
 *   libxl migration stream v2
 */
#include "internal.h"

#include <unistd.h>

static const char magic[32] = "Xen saved domain, xl format\n \0 \r";

struct hdr {
    char magic[32];
    uint32_t byteorder;
    uint32_t mandatory_flags;
    uint32_t optional_flags;
    uint32_t optional_data_len;
};

#define BYTEORDER 0x01020304u
#define FLAG_JSON (1u << 0)
#define FLAG_STREAMV2 (1u << 1)

static int write_all(xlsnap_ctx *ctx, int fd, const void *p, size_t len)
{
    int e = xlsnap__write_all(fd, p, len);

    return e ? xlsnap__error_errno(ctx, -e,
                                   "cannot write memory image header") : 0;
}

static int read_all(xlsnap_ctx *ctx, int fd, void *p, size_t len)
{
    ssize_t n = xlsnap__read_upto(fd, p, len);

    if (n < 0)
        return xlsnap__error_errno(ctx, -n, "cannot read memory image");
    if ((size_t)n < len)
        return xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                             "memory image is truncated");
    return 0;
}

int xlsnap__savefile_write_header(xlsnap_ctx *ctx, int fd,
                                  const char *config_json)
{
    struct hdr h;
    uint32_t clen = strlen(config_json) + 1;
    int rc;

    memset(&h, 0, sizeof(h));
    memcpy(h.magic, magic, sizeof(h.magic));
    h.byteorder = BYTEORDER;
    h.mandatory_flags = FLAG_STREAMV2 | FLAG_JSON;
    h.optional_data_len = sizeof(clen) + clen;
    if ((rc = write_all(ctx, fd, &h, sizeof(h)))) return rc;
    if ((rc = write_all(ctx, fd, &clen, sizeof(clen)))) return rc;
    return write_all(ctx, fd, config_json, clen);
}

int xlsnap__savefile_read_header(xlsnap_ctx *ctx, int fd, char **config_r)
{
    struct hdr h;
    uint32_t clen;
    char *cfg = NULL;
    int rc;

    if (config_r) *config_r = NULL;
    if ((rc = read_all(ctx, fd, &h, sizeof(h)))) goto out;
    if (memcmp(h.magic, magic, sizeof(magic)) || h.byteorder != BYTEORDER) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "not an xl save file (bad magic or byte order)");
        goto out;
    }
    if (h.mandatory_flags & ~(FLAG_JSON | FLAG_STREAMV2) ||
        !(h.mandatory_flags & FLAG_STREAMV2)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_NOTSUP,
                           "memory image has unsupported flags 0x%x",
                           h.mandatory_flags);
        goto out;
    }
    if (h.optional_data_len < sizeof(clen) ||
        h.optional_data_len > (16u << 20)) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "memory image header has no domain config");
        goto out;
    }
    if ((rc = read_all(ctx, fd, &clen, sizeof(clen)))) goto out;
    if (clen + sizeof(clen) > h.optional_data_len || clen == 0) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_CORRUPT,
                           "memory image header is inconsistent");
        goto out;
    }
    cfg = malloc(clen + 1);
    if (!cfg) { rc = xlsnap__nomem(ctx); goto out; }
    if ((rc = read_all(ctx, fd, cfg, clen))) goto out;
    cfg[clen] = '\0';
    /* skip optional data we do not know (read: fd may be a pipe) */
    for (uint32_t skip = h.optional_data_len - sizeof(clen) - clen; skip;) {
        char sink[512];
        uint32_t n = skip < sizeof(sink) ? skip : sizeof(sink);
        if ((rc = read_all(ctx, fd, sink, n))) goto out;
        skip -= n;
    }
    if (config_r) { *config_r = cfg; cfg = NULL; }
    rc = 0;
 out:
    free(cfg);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
