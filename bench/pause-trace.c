/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pause-trace.so - the pause window as the tool itself sees it, for the
 * real-Xen bench (bench/dom0-bench.sh, LD_PRELOAD): libxl_domain_pause
 * and libxl_domain_unpause are wrapped, and "window S" (from the call of
 * libxl_domain_pause to the return of libxl_domain_unpause, CLOCK_MONOTONIC)
 * is appended to the file $PAUSE_TRACE.  Measured the same way as
 * bench/qmp-floor.py's own window; the guest's tick gap cannot resolve
 * less than ~0.1 s under TCG.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct libxl__ctx libxl_ctx;
typedef struct libxl_asyncop_how libxl_asyncop_how;
typedef int (*pause_fn)(libxl_ctx *, uint32_t, const libxl_asyncop_how *);

static double t_pause = -1;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int libxl_domain_pause(libxl_ctx *ctx, uint32_t domid,
                       const libxl_asyncop_how *how);
int libxl_domain_pause(libxl_ctx *ctx, uint32_t domid,
                       const libxl_asyncop_how *how)
{
    pause_fn real = (pause_fn)dlsym(RTLD_NEXT, "libxl_domain_pause");
    t_pause = now();
    return real(ctx, domid, how);
}

int libxl_domain_unpause(libxl_ctx *ctx, uint32_t domid,
                         const libxl_asyncop_how *how);
int libxl_domain_unpause(libxl_ctx *ctx, uint32_t domid,
                         const libxl_asyncop_how *how)
{
    pause_fn real = (pause_fn)dlsym(RTLD_NEXT, "libxl_domain_unpause");
    int r = real(ctx, domid, how);
    const char *path = getenv("PAUSE_TRACE");
    FILE *f;

    if (t_pause >= 0 && path && (f = fopen(path, "a"))) {
        fprintf(f, "window %.6f\n", now() - t_pause);
        fclose(f);
    }
    return r;
}
