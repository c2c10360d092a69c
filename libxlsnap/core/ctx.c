/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * ctx.c - the libxlsnap context, errors, lazy libxl context
 */
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

int xlsnap_ctx_alloc(xlsnap_ctx **ctx_r, const char *state_dir,
                     xentoollog_logger *lg)
{
    xlsnap_ctx *ctx = NULL;
    const char *dir = state_dir;
    int rc;

    *ctx_r = NULL;
    if (!dir || !*dir) dir = getenv("XL_SNAPSHOT_DIR");
    if (!dir || !*dir) dir = XLSNAP_DEFAULT_STATE_DIR;

    ctx = calloc(1, sizeof(*ctx));
    if (!ctx) { rc = XLSNAP_ERROR_NOMEM; goto out; }
    if (dir[0] == '/') {
        ctx->state_dir = strdup(dir);
    } else {
        char *cwd = getcwd(NULL, 0);
        if (!cwd) { rc = xlsnap__errno_rc(errno); goto out; }
        ctx->state_dir = xlsnap__sprintf("%s/%s", cwd, dir);
        free(cwd);
    }
    if (!ctx->state_dir) { rc = XLSNAP_ERROR_NOMEM; goto out; }
    /* strip trailing slashes, keep "/" */
    for (size_t n = strlen(ctx->state_dir);
         n > 1 && ctx->state_dir[n - 1] == '/'; n--)
        ctx->state_dir[n - 1] = '\0';
    ctx->lg = lg;
    ctx->lock_timeout = 30;
    if (getenv("XL_SNAPSHOT_LOCK_TIMEOUT"))
        ctx->lock_timeout = atoi(getenv("XL_SNAPSHOT_LOCK_TIMEOUT"));
    *ctx_r = ctx;
    ctx = NULL;
    rc = 0;

 out:
    xlsnap_ctx_free(ctx);
    return rc;
}

void xlsnap_ctx_free(xlsnap_ctx *ctx)
{
    if (!ctx) return;
    if (ctx->lctx) libxl_ctx_free(ctx->lctx);
    xlsnap__summary_keep(ctx, NULL, NULL, 0);
    xlsnap__index_configs_drop(ctx);
    free(ctx->raw_text);
    yajl_tree_free(ctx->raw_tree);
    free(ctx->state_dir);
    free(ctx->pick_uuid);
    xlsnap__discarded_clear(ctx);
    free(ctx);
}

const char *xlsnap_state_dir(const xlsnap_ctx *ctx)
{
    return ctx->state_dir;
}

void xlsnap_set_lock_timeout(xlsnap_ctx *ctx, int seconds)
{
    ctx->lock_timeout = seconds < 0 ? 0 : seconds;
}

void xlsnap_set_progress(xlsnap_ctx *ctx, xlsnap_progress_fn *fn,
                         void *user)
{
    ctx->progress_fn = fn;
    ctx->progress_user = user;
}

/* Reports may come from a watcher thread (memory save): one at a time. */
static pthread_mutex_t progress_lock = PTHREAD_MUTEX_INITIALIZER;

void xlsnap__progress(xlsnap_ctx *ctx, const char *what, uint64_t done,
                      uint64_t total)
{
    struct timespec now;
    long ms;

    if (!ctx->progress_fn) return;
    pthread_mutex_lock(&progress_lock);
    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (now.tv_sec - ctx->progress_last.tv_sec) * 1000 +
         (now.tv_nsec - ctx->progress_last.tv_nsec) / 1000000;
    if (done == total || ms >= 200) {
        ctx->progress_last = now;
        ctx->progress_fn(ctx->progress_user, what, done, total);
    }
    pthread_mutex_unlock(&progress_lock);
}

const char *xlsnap_version(void)
{
    return XLSNAP_VERSION;
}

const char *xlsnap_last_error(const xlsnap_ctx *ctx)
{
    return ctx->errbuf;
}

const char *xlsnap_last_warning(const xlsnap_ctx *ctx)
{
    return ctx->warnbuf[0] ? ctx->warnbuf : NULL;
}

long long xlsnap_last_freed(const xlsnap_ctx *ctx)
{
    return ctx->freed;
}

const char *xlsnap_last_discarded(const xlsnap_ctx *ctx, int i)
{
    return i >= 0 && i < ctx->ndiscarded ? ctx->discarded[i] : NULL;
}

void xlsnap__warn(xlsnap_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    ctx->warnbuf[0] = '\0';
    if (!fmt) return;
    va_start(ap, fmt);
    vsnprintf(ctx->warnbuf, sizeof(ctx->warnbuf), fmt, ap);
    va_end(ap);
}

const char *xlsnap_strerror(int rc)
{
    switch (rc) {
    case 0: return "success";
    case XLSNAP_ERROR_INVAL: return "invalid argument";
    case XLSNAP_ERROR_NOTFOUND: return "not found";
    case XLSNAP_ERROR_EXISTS: return "already exists";
    case XLSNAP_ERROR_BUSY: return "busy";
    case XLSNAP_ERROR_NOTSUP: return "not supported";
    case XLSNAP_ERROR_HYPERVISOR: return "hypervisor error";
    case XLSNAP_ERROR_CORRUPT: return "corrupt data";
    case XLSNAP_ERROR_IO: return "input/output error";
    case XLSNAP_ERROR_NOSPACE: return "no space left";
    case XLSNAP_ERROR_PERM: return "permission denied";
    case XLSNAP_ERROR_NOMEM: return "out of memory";
    default: return "failure";
    }
}

int xlsnap__errno_rc(int e)
{
    switch (e) {
    case 0: return XLSNAP_ERROR_FAIL;
    case ENOENT: case ENOTDIR: case ESRCH: return XLSNAP_ERROR_NOTFOUND;
    case EEXIST: case ENOTEMPTY: return XLSNAP_ERROR_EXISTS;
    case EBUSY: case EWOULDBLOCK: return XLSNAP_ERROR_BUSY;
    case ENOSPC: case EDQUOT: return XLSNAP_ERROR_NOSPACE;
    case EACCES: case EPERM: case ELOOP: case EROFS:
        return XLSNAP_ERROR_PERM;
    case ENOMEM: return XLSNAP_ERROR_NOMEM;
    case EINVAL: case ENAMETOOLONG: return XLSNAP_ERROR_INVAL;
    case ENOTSUP: return XLSNAP_ERROR_NOTSUP;
    default: return XLSNAP_ERROR_IO;
    }
}

static void __attribute__((format(printf, 3, 0)))
verror(xlsnap_ctx *ctx, const char *suffix, const char *fmt, va_list ap)
{
    int n = vsnprintf(ctx->errbuf, sizeof(ctx->errbuf), fmt, ap);
    if (suffix && n >= 0 && (size_t)n < sizeof(ctx->errbuf))
        snprintf(ctx->errbuf + n, sizeof(ctx->errbuf) - n, ": %s", suffix);
}

int xlsnap__error(xlsnap_ctx *ctx, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(ctx, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

int xlsnap__error_hint(xlsnap_ctx *ctx, int rc, xlsnap_hint hint,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(ctx, NULL, fmt, ap);
    va_end(ap);
    ctx->hint = hint;
    memcpy(ctx->hint_msg, ctx->errbuf, sizeof(ctx->hint_msg));
    return rc;
}

int xlsnap__nomem(xlsnap_ctx *ctx)
{
    return xlsnap__error(ctx, XLSNAP_ERROR_NOMEM, "out of memory");
}

xlsnap_hint xlsnap_error_hint(const xlsnap_ctx *ctx)
{
    return strcmp(ctx->errbuf, ctx->hint_msg) ? XLSNAP_HINT_NONE
                                               : ctx->hint;
}

int xlsnap__error_errno(xlsnap_ctx *ctx, int e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(ctx, strerror(e), fmt, ap);
    va_end(ap);
    return xlsnap__errno_rc(e);
}

int xlsnap__error_prefix(xlsnap_ctx *ctx, int rc, const char *fmt, ...)
{
    char old[XLSNAP__ERRBUF];
    bool hinted = !strcmp(ctx->errbuf, ctx->hint_msg);
    va_list ap;

    memcpy(old, ctx->errbuf, sizeof(old));
    va_start(ap, fmt);
    verror(ctx, old[0] ? old : NULL, fmt, ap);
    va_end(ap);
    if (hinted)
        memcpy(ctx->hint_msg, ctx->errbuf, sizeof(ctx->hint_msg));
    return rc;
}

void xlsnap__errsave(const xlsnap_ctx *ctx, xlsnap__errsaved *s)
{
    memcpy(s->msg, ctx->errbuf, sizeof(s->msg));
}

void xlsnap__errrestore(xlsnap_ctx *ctx, const xlsnap__errsaved *s)
{
    memcpy(ctx->errbuf, s->msg, sizeof(ctx->errbuf));
}

bool xlsnap__hypervisor_present(void)
{
    return access("/dev/xen/privcmd", R_OK | W_OK) == 0 ||
           access("/proc/xen/privcmd", R_OK | W_OK) == 0;
}

int xlsnap__libxl(xlsnap_ctx *ctx, libxl_ctx **lctx_r)
{
    int rc;

    if (!ctx->lctx && !ctx->lctx_failed) {
        if (!xlsnap__hypervisor_present()) {
            ctx->lctx_failed = true;
        } else {
            /* we run qemu-img and xl ourselves: libxl must reap only
             * its own children */
            static const libxl_childproc_hooks hooks = {
                .chldowner = libxl_sigchld_owner_libxl_always_selective_reap,
            };
            rc = libxl_ctx_alloc(&ctx->lctx, LIBXL_VERSION, 0, ctx->lg);
            if (rc) {
                ctx->lctx = NULL;
                ctx->lctx_failed = true;
            } else {
                libxl_childproc_setmode(ctx->lctx, &hooks, NULL);
            }
        }
    }
    if (!ctx->lctx)
        return xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR,
                             "cannot reach the hypervisor (not running in "
                             "a Xen dom0 with xenfs mounted?)");
    *lctx_r = ctx->lctx;
    return 0;
}

/*
 * Free the libxl ctx (the next xlsnap__libxl makes a new one).  Before a
 * fork whose child uses libxl: our ctx owns SIGCHLD for good
 * (libxl_sigchld_owner_libxl_always_selective_reap), so libxl's handler
 * and its process-wide list of owners (each with its self-pipe) would be
 * inherited, and the child's first SIGCHLD would write to the pipe of a
 * ctx it does not have: libxl aborts on EBADF (or writes into whatever
 * file now has that number).  Freeing it removes it from the list and,
 * with no owner left, puts SIGCHLD's handler back.
 */
void xlsnap__libxl_release(xlsnap_ctx *ctx)
{
    if (ctx->lctx) libxl_ctx_free(ctx->lctx);
    ctx->lctx = NULL;
}

/* XL_SNAPSHOT_FAULT=STEP: die (SIGKILL) at STEP; STEP:stop: stop
 * (SIGSTOP) there, for a test to change something and SIGCONT us. */
void xlsnap__fault_point(const char *step)
{
    const char *f = getenv("XL_SNAPSHOT_FAULT");
    size_t n = strlen(step);

    if (!f || strncmp(f, step, n)) return;
    if (!f[n]) {
        fflush(NULL);
        kill(getpid(), SIGKILL);
    } else if (!strcmp(f + n, ":stop")) {
        fflush(NULL);
        kill(getpid(), SIGSTOP);
    }
}

void xlsnap_set_domain_uuid(xlsnap_ctx *ctx, const char *uuid)
{
    free(ctx->pick_uuid);
    ctx->pick_uuid = uuid ? xlsnap__uuid_canon(uuid) : NULL;
    /* out of memory: the next domain_resolve says so */
    ctx->pick_nomem = uuid && !ctx->pick_uuid && xlsnap__is_uuid(uuid);
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
