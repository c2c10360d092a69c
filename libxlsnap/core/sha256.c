/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * sha256.c - SHA-256 for bundle checksums: libcrypto's EVP interface
 * (OpenSSL 3: SHA-NI / AVX2 code where the CPU has it), streaming
 * (init / update / final).  No ctx here (zstd.c calls it from a
 * thread): each call returns 0, XLSNAP_ERROR_NOMEM (the context could
 * not be allocated) or XLSNAP_ERROR_FAIL (libcrypto refused); the
 * caller words the message (xlsnap__sha256_error).
 */
#include "internal.h"

#include <openssl/evp.h>

void xlsnap__sha256_dispose(xlsnap__sha256 *s)
{
    EVP_MD_CTX_free(s->md);
    s->md = NULL;
}

int xlsnap__sha256_init(xlsnap__sha256 *s)
{
    s->md = EVP_MD_CTX_new();
    if (!s->md) return XLSNAP_ERROR_NOMEM;
    if (EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
        xlsnap__sha256_dispose(s);
        return XLSNAP_ERROR_FAIL;
    }
    return 0;
}

int xlsnap__sha256_update(xlsnap__sha256 *s, const void *data, size_t n)
{
    if (!s->md) return XLSNAP_ERROR_FAIL;
    if (!n) return 0;
    return EVP_DigestUpdate(s->md, data, n) == 1 ? 0 : XLSNAP_ERROR_FAIL;
}

/* hex_r: 65 bytes, lower-case hex digest; s is disposed of */
int xlsnap__sha256_final(xlsnap__sha256 *s, char hex_r[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int rc = XLSNAP_ERROR_FAIL;

    hex_r[0] = '\0';
    if (s->md && EVP_DigestFinal_ex(s->md, d, &n) == 1 && n == 32) {
        for (unsigned i = 0; i < 32; i++) {
            hex_r[2 * i] = digits[d[i] >> 4];
            hex_r[2 * i + 1] = digits[d[i] & 15];
        }
        hex_r[64] = '\0';
        rc = 0;
    }
    xlsnap__sha256_dispose(s);
    return rc;
}

int xlsnap__sha256_data(const void *data, size_t n, char hex_r[65])
{
    xlsnap__sha256 s = { 0 };
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
                         "checksum (libcrypto failed)");
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
