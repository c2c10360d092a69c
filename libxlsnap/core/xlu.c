/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xlu.c - reading xl.cfg syntax with libxlutil, its messages kept in
 * memory (the snapshot config files of model/config.c, the admin's
 * domain config files of backend/xlcfg.c)
 */
#include "internal.h"

#include <libxlutil.h>

int xlsnap__xlu_open(xlsnap_ctx *ctx, const char *path, xlsnap__xlu *x)
{
    x->report = open_memstream(&x->rbuf, &x->rlen);
    if (!x->report) return xlsnap__nomem(ctx);
    x->cfg = xlu_cfg_init(x->report, path);
    if (!x->cfg) return xlsnap__nomem(ctx);
    return 0;
}

const char *xlsnap__xlu_report(xlsnap__xlu *x, const char *fallback)
{
    fflush(x->report);
    if (!x->rbuf || !*x->rbuf) return fallback;
    x->rbuf[strcspn(x->rbuf, "\n")] = '\0';
    return x->rbuf;
}

void xlsnap__xlu_close(xlsnap__xlu *x)
{
    if (x->cfg) xlu_cfg_destroy(x->cfg);
    if (x->report) fclose(x->report);
    free(x->rbuf);
    x->cfg = NULL;
    x->report = NULL;
    x->rbuf = NULL;
    x->rlen = 0;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
