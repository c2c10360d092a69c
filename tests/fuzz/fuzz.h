/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fuzz.h - shared by the libFuzzer targets (see README.md)
 */
#ifndef XLSNAP_FUZZ_H
#define XLSNAP_FUZZ_H

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One ctx for the whole run; its state dir is never touched. */
static inline xlsnap_ctx *fuzz_ctx(void)
{
    static xlsnap_ctx *ctx;

    if (!ctx && xlsnap_ctx_alloc(&ctx, "/nonexistent", NULL)) abort();
    return ctx;
}

/* The input as a NUL-terminated string, as a file read gives it; free()
 * it. */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);

    if (!text) abort();
    memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

#endif
