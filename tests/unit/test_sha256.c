/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: SHA-256 (core/sha256.c) against the FIPS 180-4 / NIST
 * vectors, and streaming in odd chunk sizes equal to one shot. */
#include "internal.h"

#include <unistd.h>
#include "tap.h"

static void digest(const void *data, size_t len, char hex[65])
{
    xlsnap__sha256 s;

    xlsnap__sha256_init(&s);
    xlsnap__sha256_update(&s, data, len);
    xlsnap__sha256_final(&s, hex);
}

/* the digest of data fed in pieces of chunk bytes */
static void digest_chunked(const unsigned char *data, size_t len,
                           size_t chunk, char hex[65])
{
    xlsnap__sha256 s;

    xlsnap__sha256_init(&s);
    for (size_t off = 0; off < len; off += chunk)
        xlsnap__sha256_update(&s, data + off,
                              len - off < chunk ? len - off : chunk);
    xlsnap__sha256_final(&s, hex);
}

int main(void)
{
    static const char two_block[] =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const char four_block[] =
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
        "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    static const size_t chunks[] = { 1, 3, 55, 56, 63, 64, 65, 127, 4096 };
    char hex[65], one[65], part[65];
    unsigned char *data;
    xlsnap__sha256 s;
    size_t len;

    digest("abc", 3, hex);
    is_str(hex, "ba7816bf8f01cfea414140de5dae2223"
                "b00361a396177a9cb410ff61f20015ad", "NIST: \"abc\"");
    digest("", 0, hex);
    is_str(hex, "e3b0c44298fc1c149afbf4c8996fb924"
                "27ae41e4649b934ca495991b7852b855", "the empty string");
    ok(strlen(two_block) == 56, "the two-block message is 448 bits");
    digest(two_block, strlen(two_block), hex);
    is_str(hex, "248d6a61d20638b8e5c026930c3e6039"
                "a33ce45964ff2167f6ecedd419db06c1",
           "NIST: the 448-bit message (padding spills into a 2nd block)");
    digest(four_block, strlen(four_block), hex);
    is_str(hex, "cf5b16a778af8380036ce59e7b0492370"
                "b249b11e8f07a51afac45037afee9d1",
           "NIST: the 896-bit message");

    /* one million 'a', fed 1000 at a time as well as at once */
    len = 1000000;
    data = malloc(len);
    if (!data) return 1;
    memset(data, 'a', len);
    digest(data, len, hex);
    is_str(hex, "cdc76e5c9914fb9281a1c7e284d73e67"
                "f1809a48a497200e046d39ccc7112cd0",
           "NIST: one million 'a' in one piece");
    xlsnap__sha256_init(&s);
    for (int i = 0; i < 1000; i++)
        xlsnap__sha256_update(&s, data, 1000);
    xlsnap__sha256_final(&s, hex);
    is_str(hex, "cdc76e5c9914fb9281a1c7e284d73e67"
                "f1809a48a497200e046d39ccc7112cd0",
           "NIST: one million 'a' in 1000-byte pieces");

    /* streaming = one shot, for every length around the block and
     * padding boundaries and chunk sizes that straddle them */
    for (size_t i = 0; i < len; i++) data[i] = (unsigned char)(i * 131 + 7);
    {
        int bad = 0;
        for (size_t n = 0; n <= 200; n++) {
            digest(data, n, one);
            for (size_t c = 0; c < sizeof(chunks) / sizeof(*chunks); c++) {
                digest_chunked(data, n, chunks[c], part);
                if (strcmp(one, part)) {
                    if (!bad++)
                        printf("# length %zu, chunks of %zu: %s != %s\n",
                               n, chunks[c], part, one);
                }
            }
        }
        ok(!bad, "lengths 0..200 in chunks of 1, 3, 55, 56, 63, 64, 65, "
           "127, 4096 equal one shot (%d differ)", bad);
    }
    digest(data, 100003, one);
    for (size_t c = 0; c < sizeof(chunks) / sizeof(*chunks); c++) {
        digest_chunked(data, 100003, chunks[c], part);
        is_str(part, one, "100003 bytes in chunks of %zu equal one shot",
               chunks[c]);
    }
    /* the calls say they worked; the one-shot form; a hash given up
     * (dispose) or disposed of twice is no leak, no crash */
    ok(xlsnap__sha256_init(&s) == 0 &&
       xlsnap__sha256_update(&s, "abc", 3) == 0 &&
       xlsnap__sha256_final(&s, hex) == 0 && !s.live,
       "init, update, final return 0; final disposes of the context");
    ok(xlsnap__sha256_data("abc", 3, part) == 0 && !strcmp(part, hex),
       "xlsnap__sha256_data: one shot");
    ok(xlsnap__sha256_final(&s, hex) == XLSNAP_ERROR_FAIL && !hex[0],
       "final of a finished hash is FAIL with an empty digest");
    xlsnap__sha256_init(&s);
    xlsnap__sha256_update(&s, data, 100);
    xlsnap__sha256_dispose(&s);
    xlsnap__sha256_dispose(&s);
    ok(!s.live, "dispose: a hash given up, twice");
    /* a zero-length update changes nothing */
    xlsnap__sha256_init(&s);
    xlsnap__sha256_update(&s, "ab", 2);
    xlsnap__sha256_update(&s, "", 0);
    xlsnap__sha256_update(&s, "c", 1);
    xlsnap__sha256_final(&s, hex);
    is_str(hex, "ba7816bf8f01cfea414140de5dae2223"
                "b00361a396177a9cb410ff61f20015ad",
           "\"ab\" + \"\" + \"c\" is \"abc\"");
    /* what sha256sum says of the same bytes */
    {
        char cmd[128], line[128] = "";
        FILE *f, *p;
        snprintf(cmd, sizeof(cmd), "/tmp/xlsnap-sha-%d", getpid());
        f = fopen(cmd, "w");
        if (f) { fwrite(data, 1, 100003, f); fclose(f); }
        snprintf(line, sizeof(line), "sha256sum /tmp/xlsnap-sha-%d",
                 getpid());
        p = popen(line, "r");
        line[0] = '\0';
        if (p) {
            if (!fgets(line, sizeof(line), p)) line[0] = '\0';
            pclose(p);
        }
        line[64] = '\0';
        is_str(line, one, "sha256sum agrees on 100003 bytes");
        unlink(cmd);
    }
    free(data);
    return tap_done();
}
