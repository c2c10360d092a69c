/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: snapshot name validation. */
#include <stdbool.h>
#include "libxlsnap.h"
#include "tap.h"

int main(void)
{
    xlsnap_ctx *ctx;
    char longname[XLSNAP_NAME_MAX + 2];

    if (xlsnap_ctx_alloc(&ctx, "/nonexistent", NULL)) return 1;
    ok(xlsnap_name_validate(ctx, "nightly-2026-11-25") == 0, "plain name");
    ok(xlsnap_name_validate(ctx, "before upgrade (v2)") == 0,
       "spaces and parentheses");
    ok(xlsnap_name_validate(ctx, "caf\xc3\xa9") == 0, "UTF-8 name");
    ok(xlsnap_name_validate(ctx, "a..b") == 0, "'..' inside a name");
    ok(xlsnap_name_validate(ctx, "") == XLSNAP_ERROR_INVAL, "empty");
    ok(xlsnap_name_validate(ctx, NULL) == XLSNAP_ERROR_INVAL, "NULL");
    ok(xlsnap_name_validate(ctx, "a/b") == XLSNAP_ERROR_INVAL, "slash");
    ok(strstr(xlsnap_last_error(ctx), "'/'") != NULL,
       "message names the slash: %s", xlsnap_last_error(ctx));
    ok(xlsnap_name_validate(ctx, "..") == XLSNAP_ERROR_INVAL, "'..'");
    ok(xlsnap_name_validate(ctx, ".hidden") == XLSNAP_ERROR_INVAL,
       "leading dot");
    ok(xlsnap_name_validate(ctx, "a\nb") == XLSNAP_ERROR_INVAL, "newline");
    ok(xlsnap_name_validate(ctx, "a\tb") == XLSNAP_ERROR_INVAL, "tab");
    ok(xlsnap_name_validate(ctx, "a\x7f") == XLSNAP_ERROR_INVAL, "DEL");
    ok(xlsnap_name_validate(ctx, "bad\xff") == XLSNAP_ERROR_INVAL,
       "invalid UTF-8");
    ok(xlsnap_name_validate(ctx, "a\xed\xa0\x80") == XLSNAP_ERROR_INVAL,
       "UTF-8-encoded surrogate U+D800");
    ok(xlsnap_name_validate(ctx, "a\xc0\xaf") == XLSNAP_ERROR_INVAL,
       "overlong '/' (2 bytes)");
    ok(xlsnap_name_validate(ctx, "a\xe0\x80\xaf") == XLSNAP_ERROR_INVAL,
       "overlong '/' (3 bytes)");
    ok(xlsnap_name_validate(ctx, "a\xf4\x90\x80\x80") == XLSNAP_ERROR_INVAL,
       "above U+10FFFF");
    ok(xlsnap_name_validate(ctx, "a\xc2\x9b" "2J") == XLSNAP_ERROR_INVAL,
       "C1 control (CSI)");
    ok(xlsnap_name_validate(ctx, "\xf0\x9f\x98\x80 " "\xe2\x82\xac") == 0,
       "4- and 3-byte characters");
    memset(longname, 'x', sizeof(longname));
    longname[XLSNAP_NAME_MAX] = '\0';
    ok(xlsnap_name_validate(ctx, longname) == 0, "255 bytes is allowed");
    longname[XLSNAP_NAME_MAX] = 'x';
    longname[XLSNAP_NAME_MAX + 1] = '\0';
    ok(xlsnap_name_validate(ctx, longname) == XLSNAP_ERROR_INVAL,
       "256 bytes is refused");
    xlsnap_ctx_free(ctx);
    return tap_done();
}
