/* SPDX-License-Identifier: GPL-2.0-only */
/* tap.h - a tiny TAP producer for the C unit tests */
#ifndef TAP_H
#define TAP_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

/* cond is evaluated exactly once */
#define ok(cond, ...) do {                                              \
        int ok_ = !!(cond);                                             \
        tap_n++;                                                        \
        if (!ok_) tap_failed++;                                         \
        printf("%sok %d - ", ok_ ? "" : "not ", tap_n);                 \
        printf(__VA_ARGS__);                                            \
        printf("\n");                                                   \
        if (!ok_)                                                       \
            printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
        fflush(stdout);                                                 \
    } while (0)

#define is_str(a, b, ...) do {                                          \
        const char *a_ = (a), *b_ = (b);                                \
        bool eq_ = (a_ && b_) ? !strcmp(a_, b_) : a_ == b_;             \
        ok(eq_, __VA_ARGS__);                                           \
        if (!eq_) printf("#   got '%s', expected '%s'\n",              \
                         a_ ? a_ : "(null)", b_ ? b_ : "(null)");       \
    } while (0)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}
#endif
