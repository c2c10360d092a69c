/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * sha256.c - SHA-256 for bundle checksums: GNU nettle's sha256 (its fat
 * build picks SHA-NI code where the CPU has it), streaming (init /
 * update / final).  nettle is LGPL-3.0+ or GPL-2.0+, so both this
 * LGPL-2.1 library and the GPL-2.0 CLI may link it (OpenSSL 3's
 * Apache-2.0 is not GPL-2.0-compatible); measured as fast as libcrypto's
 * EVP on this CPU.  The context lives in the caller's struct: nothing
 * is allocated and nothing can fail, but the calls keep returning 0 /
 * XLSNAP_ERROR_* so that another implementation could.  No ctx here
 * (zstd.c calls it from a thread): xlsnap__sha256_error words a message.
 */
#include "internal.h"

void xlsnap__sha256_dispose(xlsnap__sha256 *s)
{
    s->live = false;
}

int xlsnap__sha256_init(xlsnap__sha256 *s)
{
    sha256_init(&s->c);
    s->live = true;
    return 0;
}

int xlsnap__sha256_update(xlsnap__sha256 *s, const void *data, size_t n)
{
    if (!s->live) return XLSNAP_ERROR_FAIL;
    if (n) sha256_update(&s->c, n, data);
    return 0;
}

/* hex_r: 65 bytes, lower-case hex digest; s is disposed of */
int xlsnap__sha256_final(xlsnap__sha256 *s, char hex_r[65])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t d[SHA256_DIGEST_SIZE];

    hex_r[0] = '\0';
    if (!s->live) return XLSNAP_ERROR_FAIL;
    sha256_digest(&s->c, sizeof(d), d);
    for (unsigned i = 0; i < sizeof(d); i++) {
        hex_r[2 * i] = digits[d[i] >> 4];
        hex_r[2 * i + 1] = digits[d[i] & 15];
    }
    hex_r[64] = '\0';
    xlsnap__sha256_dispose(s);
    return 0;
}

int xlsnap__sha256_data(const void *data, size_t n, char hex_r[65])
{
    xlsnap__sha256 s;
    int rc;

    if ((rc = xlsnap__sha256_init(&s))) return rc;
    if ((rc = xlsnap__sha256_update(&s, data, n))) {
        xlsnap__sha256_dispose(&s);
        return rc;
    }
    return xlsnap__sha256_final(&s, hex_r);
}

int xlsnap__sha256_error(xlsnap_ctx *ctx, int rc)
{
    if (rc == XLSNAP_ERROR_NOMEM) return xlsnap__nomem(ctx);
    return xlsnap__error(ctx, XLSNAP_ERROR_FAIL, "cannot compute a SHA-256 "
                         "checksum (the hash was not started)");
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
