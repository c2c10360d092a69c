/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: xl's save-file header (backend/savefile.c): what is
 * written is what `xl save` writes (tools/xl/xl_saverestore.c,
 * save_domain_core_writeconfig), and what is read is checked. */
#include "internal.h"

#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>
#include "tap.h"

#define CFG "{\n    \"c_info\": {\n        \"name\": \"g1\"\n    }\n}\n"
#define MAGIC "Xen saved domain, xl format\n \0 \r"

static char path[256];

/* What xl save writes before the migration stream, built by hand:
 * magic, byteorder, mandatory (STREAMv2 | JSON), optional flags,
 * optional data length, then the optional data: the config's length
 * (with its NUL) and the config with its NUL.  Host byte order. */
static size_t xl_header(unsigned char *b, const char *cfg)
{
    uint32_t clen = strlen(cfg) + 1,
             words[4] = { 0x01020304u, 2u | 1u, 0, 4 + clen };

    memcpy(b, MAGIC, 32);
    memcpy(b + 32, words, 16);
    memcpy(b + 48, &clen, 4);
    memcpy(b + 52, cfg, clen);
    return 52 + clen;
}

static void put_u32(unsigned char *b, size_t at, uint32_t v)
{
    memcpy(b + at, &v, 4);
}

/* Write n bytes of b (and a tail) into path; read the header back. */
static int read_back(xlsnap_ctx *ctx, const unsigned char *b, size_t n,
                     const char *tail, char **cfg_r)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), rc;

    if (fd < 0 || write(fd, b, n) != (ssize_t)n ||
        write(fd, tail, strlen(tail)) != (ssize_t)strlen(tail))
        return -100;
    lseek(fd, 0, SEEK_SET);
    rc = xlsnap__savefile_read_header(ctx, fd, cfg_r);
    close(fd);
    return rc;
}

int main(void)
{
    unsigned char want[512], got[512], bad[512];
    xlsnap_ctx *ctx;
    char *cfg = NULL, rest[16];
    size_t n, m;
    int fd, p[2], rc, cuts;

    snprintf(path, sizeof(path), "/tmp/xlsnap-savefile-%d", getpid());
    if (xlsnap_ctx_alloc(&ctx, "/nonexistent", NULL)) return 1;

    /* ---- the header written is xl's ---- */
    n = xl_header(want, CFG);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    rc = xlsnap__savefile_write_header(ctx, fd, CFG);
    ok(rc == 0, "write the header");
    m = pread(fd, got, sizeof(got), 0);
    close(fd);
    ok(m == n && !memcmp(got, want, n), "it is byte for byte what xl save "
       "writes (%zu bytes, want %zu)", m, n);
    ok(!memcmp(got, "Xen saved domain, xl format\n \0 \r", 32),
       "magic: \"Xen saved domain, xl format\\n \\0 \\r\"");
    {
        uint32_t w[5];
        memcpy(w, got + 32, sizeof(w));
        ok(w[0] == 0x01020304u, "byte order 0x01020304 in host order");
        ok(w[1] == 3, "mandatory flags: STREAMv2 | JSON (%#x)", w[1]);
        ok(w[2] == 0, "no optional flags");
        ok(w[3] == 4 + strlen(CFG) + 1, "optional data: the length word "
           "and the config with its NUL (%u)", w[3]);
        ok(w[4] == strlen(CFG) + 1, "config length counts the NUL (%u)",
           w[4]);
        ok(got[n - 1] == '\0', "the config ends with its NUL");
    }

    /* ---- read back: from a file, then from a pipe ---- */
    rc = read_back(ctx, want, n, "STREAM", &cfg);
    ok(rc == 0, "read xl's header: %s", rc ? xlsnap_last_error(ctx) : "ok");
    is_str(cfg, CFG, "the config comes back");
    free(cfg);
    cfg = NULL;
    if (pipe(p) == 0) {
        ssize_t w = write(p[1], want, n);
        w += write(p[1], "STREAM", 6);
        close(p[1]);
        rc = xlsnap__savefile_read_header(ctx, p[0], &cfg);
        memset(rest, 0, sizeof(rest));
        ok(w == (ssize_t)n + 6 && rc == 0 && cfg && !strcmp(cfg, CFG) &&
           read(p[0], rest, sizeof(rest)) == 6 && !strcmp(rest, "STREAM"),
           "from a pipe: the config, and the stream right after it");
        close(p[0]);
        free(cfg);
        cfg = NULL;
    }
    rc = read_back(ctx, want, n, "", NULL);
    ok(rc == 0, "config_r NULL: read and dropped");

    /* optional data beyond the config (a later xl) is skipped */
    memcpy(bad, want, n);
    memset(bad + n, 'o', 100);
    put_u32(bad, 44, 4 + strlen(CFG) + 1 + 100);
    if (pipe(p) == 0) {
        ssize_t w = write(p[1], bad, n + 100);
        w += write(p[1], "STREAM", 6);
        close(p[1]);
        rc = xlsnap__savefile_read_header(ctx, p[0], &cfg);
        memset(rest, 0, sizeof(rest));
        ok(w == (ssize_t)n + 106 && rc == 0 && cfg && !strcmp(cfg, CFG) &&
           read(p[0], rest, sizeof(rest)) == 6 && !strcmp(rest, "STREAM"),
           "unknown optional data after the config is skipped");
        close(p[0]);
        free(cfg);
        cfg = NULL;
    }

    /* ---- refused ---- */
    memcpy(bad, want, n);
    bad[5] ^= 0x20;
    rc = read_back(ctx, bad, n, "", &cfg);
    ok(rc == XLSNAP_ERROR_CORRUPT && !cfg &&
       strstr(xlsnap_last_error(ctx), "not an xl save file"),
       "a wrong magic: %s", xlsnap_last_error(ctx));
    memcpy(bad, want, n);
    bad[31] = '\n';
    rc = read_back(ctx, bad, n, "", &cfg);
    ok(rc == XLSNAP_ERROR_CORRUPT, "a wrong last magic byte: %s",
       xlsnap_last_error(ctx));
    memcpy(bad, want, n);
    put_u32(bad, 32, 0x04030201u);
    rc = read_back(ctx, bad, n, "", &cfg);
    ok(rc == XLSNAP_ERROR_CORRUPT && !cfg, "the other byte order: %s",
       xlsnap_last_error(ctx));
    memcpy(bad, want, n);
    put_u32(bad, 36, 3u | 4u);
    rc = read_back(ctx, bad, n, "", &cfg);
    ok(rc == XLSNAP_ERROR_NOTSUP && !cfg, "an unknown mandatory flag: %s",
       xlsnap_last_error(ctx));
    put_u32(bad, 36, 1u);
    rc = read_back(ctx, bad, n, "", &cfg);
    ok(rc == XLSNAP_ERROR_NOTSUP && !cfg, "a legacy (v1) stream: %s",
       xlsnap_last_error(ctx));

    cuts = 0;
    for (size_t cut = 0; cut < n; cut++) {
        rc = read_back(ctx, want, cut, "", &cfg);
        if (rc == XLSNAP_ERROR_CORRUPT && !cfg &&
            strstr(xlsnap_last_error(ctx), "truncated"))
            cuts++;
        else
            printf("# cut at %zu: %d %s\n", cut, rc, xlsnap_last_error(ctx));
        free(cfg);
        cfg = NULL;
    }
    ok(cuts == (int)n, "a header cut at any of its %zu bytes is CORRUPT "
       "(truncated)", n);
    memcpy(bad, want, n);
    put_u32(bad, 44, 4 + strlen(CFG) + 1 + 100);
    rc = read_back(ctx, bad, n + 50, "", &cfg);
    ok(rc == XLSNAP_ERROR_CORRUPT && !cfg, "optional data cut short: %s",
       xlsnap_last_error(ctx));

    {
        static const struct {
            uint32_t optlen, clen;
            const char *why;
        } absurd[] = {
            { 0, 0, "no optional data" },
            { 3, 0, "optional data shorter than the length word" },
            { (16u << 20) + 1, 10, "optional data above 16 MiB" },
            { 0xffffffffu, 10, "optional data of 4 GiB" },
            { 4 + sizeof(CFG), 0, "a config of length 0" },
            { 4 + sizeof(CFG), sizeof(CFG) + 1,
              "a config longer than the optional data" },
            { 4 + sizeof(CFG), 0xffffffffu, "a config of 4 GiB" },
            { 4 + sizeof(CFG), 0xfffffffcu, "a config of 4 GiB - 4" },
            { 16u << 20, 0xfffffffdu, "a config of 4 GiB - 3, 16 MiB data" },
        };
        for (size_t i = 0; i < sizeof(absurd) / sizeof(*absurd); i++) {
            memcpy(bad, want, n);
            put_u32(bad, 44, absurd[i].optlen);
            put_u32(bad, 48, absurd[i].clen);
            rc = read_back(ctx, bad, n, "", &cfg);
            ok(rc == XLSNAP_ERROR_CORRUPT && !cfg,
               "refused: %s (%s)", absurd[i].why, xlsnap_last_error(ctx));
            free(cfg);
            cfg = NULL;
        }
    }

    fd = open(path, O_RDONLY);
    rc = xlsnap__savefile_write_header(ctx, fd, CFG);
    ok(rc < 0 && strstr(xlsnap_last_error(ctx), "cannot write"),
       "a write error is reported: %s", xlsnap_last_error(ctx));
    close(fd);

    unlink(path);
    xlsnap_ctx_free(ctx);
    return tap_done();
}
