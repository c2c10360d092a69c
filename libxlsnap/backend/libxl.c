/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * backend/libxl.c - the hypervisor backend: everything done through libxl
 * (domain state and config, memory save, suspend/resume, pause,
 * destroy, create) and the xenstore/userdata updates that keep a
 * running domain's own config in step with its disks.  libxl error
 * codes are translated here.
 */
#include "internal.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <libxlutil.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xenstore.h>

static int lx_error(xlsnap_ctx *ctx, int lrc, const char *what)
{
    return xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR, "%s: libxl error %s",
                         what, libxl_error_to_string(lrc));
}

/* The Makefile passes pkg-config --modversion xenlight. */
#ifndef XLSNAP_XENLIGHT_BUILD_VERSION
#error "XLSNAP_XENLIGHT_BUILD_VERSION is not defined (see the Makefile)"
#endif

const char *xlsnap_libxl_built_version(void)
{
    return XLSNAP_XENLIGHT_BUILD_VERSION;
}

static char libxl_runtime_version[32];
static pthread_once_t libxl_runtime_once = PTHREAD_ONCE_INIT;

/* "4.20.0" from .../libxenlight.so.4.20.0: digits and dots only. */
static bool take_libxl_version(const char *path)
{
    static const char prefix[] = "libxenlight.so.";
    const char *base = strrchr(path, '/');
    size_t n;

    base = base ? base + 1 : path;
    if (strncmp(base, prefix, sizeof(prefix) - 1)) return false;
    base += sizeof(prefix) - 1;
    n = strlen(base);
    if (!n || n >= sizeof(libxl_runtime_version) ||
        strspn(base, "0123456789.") != n)
        return false;
    memcpy(libxl_runtime_version, base, n + 1);
    return true;
}

/*
 * The object holding libxl_ctx_alloc is the libxenlight the dynamic
 * linker loaded; its real file name (libxenlight.so.4.20.0) says more
 * than the soname it was found by (libxenlight.so.4.20).
 */
static void find_libxl_runtime_version(void)
{
    Dl_info info;
    char *real;

    if (!dladdr((void *)libxl_ctx_alloc, &info) || !info.dli_fname) return;
    real = realpath(info.dli_fname, NULL);
    if (!real || !take_libxl_version(real))
        take_libxl_version(info.dli_fname);
    free(real);
}

const char *xlsnap_libxl_runtime_version(void)
{
    pthread_once(&libxl_runtime_once, find_libxl_runtime_version);
    return libxl_runtime_version[0] ? libxl_runtime_version : NULL;
}

int xlsnap__hv_state(xlsnap_ctx *ctx, int64_t domid, xlsnap__domstate *st_r)
{
    libxl_ctx *lx;
    libxl_dominfo info;
    int rc, lrc;

    if ((rc = xlsnap__libxl(ctx, &lx))) return rc;
    libxl_dominfo_init(&info);
    lrc = libxl_domain_info(lx, &info, domid);
    if (lrc == ERROR_DOMAIN_NOTFOUND || lrc == ERROR_INVAL) {
        *st_r = XLSNAP__DOM_GONE;
    } else if (lrc) {
        rc = lx_error(ctx, lrc, "cannot get domain state");
    } else if (info.dying) {
        *st_r = XLSNAP__DOM_GONE;
    } else if (info.shutdown) {
        *st_r = info.shutdown_reason == LIBXL_SHUTDOWN_REASON_SUSPEND
              ? XLSNAP__DOM_SUSPENDED : XLSNAP__DOM_SHUTDOWN;
    } else {
        *st_r = info.paused ? XLSNAP__DOM_PAUSED : XLSNAP__DOM_RUNNING;
    }
    libxl_dominfo_dispose(&info);
    return rc;
}

int xlsnap__hv_config(xlsnap_ctx *ctx, int64_t domid, char **json_r)
{
    libxl_ctx *lx;
    libxl_domain_config dc;
    int rc, lrc;

    *json_r = NULL;
    if ((rc = xlsnap__libxl(ctx, &lx))) return rc;
    libxl_domain_config_init(&dc);
    lrc = libxl_retrieve_domain_configuration(lx, domid, &dc, NULL);
    if (lrc) {
        rc = lx_error(ctx, lrc, "cannot retrieve the domain configuration");
        goto out;
    }
    *json_r = libxl_domain_config_to_json(lx, &dc);
    if (!*json_r)
        rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR,
                           "cannot convert the domain configuration to "
                           "JSON");
 out:
    libxl_domain_config_dispose(&dc);
    return rc;
}

int xlsnap__hv_pause(xlsnap_ctx *ctx, int64_t domid, bool pause)
{
    libxl_ctx *lx;
    int rc, lrc;

    if ((rc = xlsnap__libxl(ctx, &lx))) return rc;
    lrc = pause ? libxl_domain_pause(lx, domid, NULL)
                : libxl_domain_unpause(lx, domid, NULL);
    return lrc ? lx_error(ctx, lrc, pause ? "cannot pause the domain"
                                          : "cannot unpause the domain")
               : 0;
}

int xlsnap__hv_resume(xlsnap_ctx *ctx, int64_t domid)
{
    libxl_ctx *lx;
    int rc, lrc;

    if ((rc = xlsnap__libxl(ctx, &lx))) return rc;
    lrc = libxl_domain_resume(lx, domid, 1, NULL);
    return lrc ? lx_error(ctx, lrc, "cannot resume the domain") : 0;
}

int xlsnap__hv_destroy(xlsnap_ctx *ctx, int64_t domid)
{
    libxl_ctx *lx;
    int rc, lrc;

    if ((rc = xlsnap__libxl(ctx, &lx))) return rc;
    lrc = libxl_domain_destroy(lx, domid, NULL);
    return lrc ? lx_error(ctx, lrc, "cannot destroy the domain") : 0;
}

/*
 * Progress of a memory save: libxl_domain_suspend() blocks while
 * libxl's save helper writes the stream straight into the image, so a
 * watcher thread reports the image's growth (its size past the header)
 * against the guest's memory until the save returns.
 */
struct save_watch {
    xlsnap_ctx *ctx;
    int fd;
    off_t start;
    uint64_t total;
    atomic_bool stop;
};

static void *save_watch_thread(void *arg)
{
    struct save_watch *w = arg;
    const struct timespec tick = { 0, 100 * 1000 * 1000 };
    struct stat sb;

    while (!atomic_load(&w->stop)) {
        if (!fstat(w->fd, &sb) && sb.st_size > w->start) {
            uint64_t done = (uint64_t)(sb.st_size - w->start);
            /* the stream holds more than the pages: stay below total
             * until the save has returned */
            if (done >= w->total) done = w->total - 1;
            xlsnap__progress(w->ctx, "memory", done, w->total);
        }
        nanosleep(&tick, NULL);
    }
    return NULL;
}

/*
 * Whether libxl can save domid live.  Pre-copy needs Xen's log-dirty
 * mode; for a PV guest that is a shadow-paging mode, and a hypervisor
 * built without shadow paging (Debian's 4.17: "xl info" virt_caps has
 * no "shadow") fails the save with "Failed to enable logdirty: 95"
 * (EOPNOTSUPP), after which libxl cannot resume the guest cleanly.
 * HVM and PVH guests track dirty pages with HAP.  So decide before.
 */
static bool can_save_live(libxl_ctx *lx, int64_t domid)
{
    libxl_dominfo info;
    libxl_physinfo phys;
    bool pv, ok;

    libxl_dominfo_init(&info);
    libxl_physinfo_init(&phys);
    pv = !libxl_domain_info(lx, &info, domid) &&
         info.domain_type == LIBXL_DOMAIN_TYPE_PV;
    ok = !pv || (!libxl_get_physinfo(lx, &phys) && phys.cap_shadow);
    libxl_physinfo_dispose(&phys);
    libxl_dominfo_dispose(&info);
    return ok;
}

/*
 * Write the memory image: xl's header with config_json, then libxl's
 * stream.  When this returns 0 the domain is suspended (shut down with
 * reason "suspend") and must be resumed by the caller.  On failure the
 * domain is resumed here if it got suspended.
 */
int xlsnap__hv_save(xlsnap_ctx *ctx, int64_t domid, int fd,
                    const char *config_json, bool live, bool *live_r)
{
    libxl_ctx *lx;
    libxl_dominfo info;
    xlsnap__domstate st;
    struct save_watch w = { .ctx = ctx, .fd = fd };
    pthread_t watcher;
    bool watching = false;
    int rc, lrc;

    *live_r = false;
    if ((rc = xlsnap__libxl(ctx, &lx))) return rc;
    live = live && can_save_live(lx, domid);
    if ((rc = xlsnap__savefile_write_header(ctx, fd, config_json)))
        return rc;
    libxl_dominfo_init(&info);
    if (ctx->progress_fn && !libxl_domain_info(lx, &info, domid) &&
        info.current_memkb) {
        w.total = info.current_memkb * 1024;
        w.start = lseek(fd, 0, SEEK_CUR);
        atomic_init(&w.stop, false);
        watching = w.start >= 0 &&
                   !pthread_create(&watcher, NULL, save_watch_thread, &w);
    }
    libxl_dominfo_dispose(&info);
    lrc = libxl_domain_suspend(lx, domid, fd, live ? LIBXL_SUSPEND_LIVE : 0,
                               NULL);
    if (watching) {
        atomic_store(&w.stop, true);
        pthread_join(watcher, NULL);
        if (!lrc) xlsnap__progress(ctx, "memory", w.total, w.total);
    }
    if (!lrc) {
        *live_r = live;
        return 0;
    }
    rc = lx_error(ctx, lrc, "cannot save the domain's memory");
    /* libxl_domain_suspend may leave the domain suspended; xl resumes */
    if (!xlsnap__hv_state(ctx, domid, &st) && st == XLSNAP__DOM_SUSPENDED)
        libxl_domain_resume(lx, domid, 1, NULL);
    return rc;
}

/*
 * xl's global settings a domain start depends on (/etc/xen/xl.conf):
 * autoballoon ("on"/"1", "off"/"0", or "auto", the default: on unless
 * Xen was given dom0_mem) and the lock file xl creates domains under.
 */
#define XLSNAP__XL_CONF "/etc/xen/xl.conf"
#define XLSNAP__XL_LOCK "/var/lock/xl"

static bool auto_autoballoon(libxl_ctx *lx)
{
    const libxl_version_info *vi = libxl_get_version_info(lx);
    regex_t re;
    bool on;

    if (!vi || !vi->commandline) return true;
    if (regcomp(&re, "(^| )dom0_mem=((|min:|max:)[0-9]+[bBkKmMgG]?,?)+($| )",
                REG_NOSUB | REG_EXTENDED))
        return true;
    on = regexec(&re, vi->commandline, 0, NULL, 0) == REG_NOMATCH;
    regfree(&re);
    return on;
}

/* autoballoon as xl decides it; *lock_r: xl's lock file (malloc'd) */
static bool xl_settings(libxl_ctx *lx, char **lock_r)
{
    FILE *sink = fopen("/dev/null", "w");
    XLU_Config *cfg = sink ? xlu_cfg_init(sink, XLSNAP__XL_CONF) : NULL;
    const char *v;
    int on = -1;

    *lock_r = NULL;
    if (cfg && !xlu_cfg_readfile(cfg, XLSNAP__XL_CONF)) {
        if (!xlu_cfg_get_string(cfg, "autoballoon", &v, 0))
            on = !strcmp(v, "on") || !strcmp(v, "1") ? 1
               : !strcmp(v, "off") || !strcmp(v, "0") ? 0 : -1;
        if (!xlu_cfg_get_string(cfg, "lockfile", &v, 0))
            *lock_r = xlsnap__strdup(v);
    }
    if (cfg) xlu_cfg_destroy(cfg);
    if (sink) fclose(sink);
    if (!*lock_r) *lock_r = xlsnap__strdup(XLSNAP__XL_LOCK);
    return on >= 0 ? on : auto_autoballoon(lx);
}

/* Make room in Xen's free memory for dc by ballooning dom0 down, as
 * xl's freemem() does; 0 when there is room. */
static int balloon_for(libxl_ctx *lx, libxl_domain_config *dc)
{
    uint64_t need, avail;

    if (libxl_domain_need_memory(lx, dc, INVALID_DOMID, &need)) return -1;
    for (int tries = 0; tries < 3; tries++) {
        if (libxl_get_free_memory(lx, &avail)) return -1;
        if (avail >= need) return 0;
        if (libxl_set_memory_target(lx, 0, (int64_t)avail - (int64_t)need,
                                    1, 0) ||
            libxl_wait_for_memory_target(lx, 0, 10))
            return -1;
    }
    return -1;
}

/*
 * Create or restore dc as xl does it: under xl's lock, dom0 ballooned
 * down first when autoballoon is on.  Returns a libxl error code.
 */
static int create_locked(libxl_ctx *lx, libxl_domain_config *dc,
                         int restore_fd, uint32_t *domid)
{
    libxl_domain_restore_params params;
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    char *lock = NULL;
    bool balloon = xl_settings(lx, &lock);
    int fd = lock ? open(lock, O_WRONLY | O_CREAT | O_CLOEXEC, 0600) : -1;
    int lrc;

    while (fd >= 0 && fcntl(fd, F_SETLKW, &fl) < 0 && errno == EINTR) ;
    libxl_domain_restore_params_init(&params);
    if (balloon && balloon_for(lx, dc)) {
        lrc = ERROR_NOMEM;
    } else if (restore_fd >= 0) {
        params.checkpointed_stream = LIBXL_CHECKPOINTED_STREAM_NONE;
        params.stream_version = 2;
        lrc = libxl_domain_create_restore(lx, dc, domid, restore_fd, -1,
                                          &params, NULL, NULL);
    } else {
        lrc = libxl_domain_create_new(lx, dc, domid, NULL, NULL);
    }
    libxl_domain_restore_params_dispose(&params);
    if (fd >= 0) close(fd);   /* releases the lock */
    free(lock);
    return lrc;
}

/*
 * Start a domain from a libxl-json config, the two ways xl does
 * (create_domain in xl_vmcontrol.c): restore_fd >= 0 is a memory image
 * read up to just past its xl header (a stream v2, what
 * libxl_domain_suspend writes): libxl_domain_create_restore, as
 * `xl restore`; restore_fd < 0: a fresh boot, libxl_domain_create_new,
 * as `xl create`; both under xl's lock, ballooning dom0 as xl does.
 * Left paused if asked.  The caller then gives the
 * domain its monitor (xlsnap__hv_monitor).
 */
int xlsnap__hv_create(xlsnap_ctx *ctx, const char *config_json,
                      int restore_fd, bool paused, int64_t *domid_r)
{
    libxl_ctx *lx;
    libxl_domain_config dc;
    uint32_t domid = (uint32_t)INVALID_DOMID;
    int rc, lrc;

    if ((rc = xlsnap__libxl(ctx, &lx))) return rc;
    libxl_domain_config_init(&dc);
    lrc = libxl_domain_config_from_json(lx, &dc, config_json);
    if (lrc) {
        rc = lx_error(ctx, lrc, "stored domain configuration is invalid");
        goto out;
    }
    lrc = create_locked(lx, &dc, restore_fd, &domid);
    if (lrc) {
        rc = lx_error(ctx, lrc, restore_fd >= 0 ? "cannot restore the domain"
                                                : "cannot create the domain");
        if (domid != (uint32_t)INVALID_DOMID)
            libxl_domain_destroy(lx, domid, NULL);
        goto out;
    }
    if (!paused && (lrc = libxl_domain_unpause(lx, domid, NULL))) {
        rc = lx_error(ctx, lrc, "cannot unpause the new domain");
        goto out;
    }
    *domid_r = domid;
 out:
    libxl_domain_config_dispose(&dc);
    return rc;
}

/* Where xl's monitor writes a core dump (XEN_DUMP_DIR of Xen's build) */
#define XLSNAP__XEN_DUMP_DIR "/var/lib/xen/dump"

/* Wait for domid's next shutdown: its reason, or -1 when the domain
 * died (destroyed by someone else) or waiting failed. */
static int wait_shutdown(libxl_ctx *lx, uint32_t domid)
{
    libxl_evgen_domain_death *w = NULL;
    libxl_event *ev = NULL;
    int reason = -1;

    if (libxl_evenable_domain_death(lx, domid, 0, &w)) return -1;
    for (;;) {
        if (libxl_event_wait(lx, &ev, LIBXL_EVENTMASK_ALL, NULL, NULL))
            break;
        if (ev->domid == domid &&
            ev->type == LIBXL_EVENT_TYPE_DOMAIN_DEATH) {
            libxl_event_free(lx, ev);
            break;
        }
        if (ev->domid == domid &&
            ev->type == LIBXL_EVENT_TYPE_DOMAIN_SHUTDOWN) {
            reason = ev->u.domain_shutdown.shutdown_reason;
            libxl_event_free(lx, ev);
            break;
        }
        libxl_event_free(lx, ev);
    }
    libxl_evdisable_domain_death(lx, w);
    return reason;
}

/* The action for a shutdown, as xl's handle_domain_death chooses it. */
static libxl_action_on_shutdown shutdown_action(const libxl_domain_config *dc,
                                                int reason)
{
    switch (reason) {
    case LIBXL_SHUTDOWN_REASON_POWEROFF: return dc->on_poweroff;
    case LIBXL_SHUTDOWN_REASON_REBOOT: return dc->on_reboot;
    case LIBXL_SHUTDOWN_REASON_CRASH: return dc->on_crash;
    case LIBXL_SHUTDOWN_REASON_WATCHDOG: return dc->on_watchdog;
    case LIBXL_SHUTDOWN_REASON_SOFT_RESET: return dc->on_soft_reset;
    default: return LIBXL_ACTION_ON_SHUTDOWN_DESTROY;
    }
}

/* coredump-destroy / coredump-restart: the core first, as xl does */
static libxl_action_on_shutdown dump_core(libxl_ctx *lx, uint32_t domid,
                                          const libxl_domain_config *dc,
                                          libxl_action_on_shutdown act)
{
    char *core;

    if (act != LIBXL_ACTION_ON_SHUTDOWN_COREDUMP_DESTROY &&
        act != LIBXL_ACTION_ON_SHUTDOWN_COREDUMP_RESTART)
        return act;
    core = xlsnap__sprintf(XLSNAP__XEN_DUMP_DIR "/%s",
                           dc->c_info.name ? dc->c_info.name : "domain");
    if (core && libxl_domain_core_dump(lx, domid, core, NULL))
        fprintf(stderr, "core dump of domain %u to %s failed\n", domid,
                core);
    free(core);
    return act == LIBXL_ACTION_ON_SHUTDOWN_COREDUMP_DESTROY
           ? LIBXL_ACTION_ON_SHUTDOWN_DESTROY
           : LIBXL_ACTION_ON_SHUTDOWN_RESTART;
}

/* restart-rename: the shut-down domain stays, renamed with the time and
 * a new UUID, as xl's preserve_domain does; 0 when it did */
static int preserve(libxl_ctx *lx, uint32_t domid, libxl_domain_config *dc)
{
    char suffix[24];
    time_t now = time(NULL);
    struct tm tm;
    libxl_uuid uuid;

    if (now == (time_t)-1 || !gmtime_r(&now, &tm) ||
        !strftime(suffix, sizeof(suffix), "-%Y%m%dT%H%MZ", &tm))
        return -1;
    libxl_uuid_generate(&uuid);
    return libxl_domain_preserve(lx, domid, &dc->c_info, suffix, uuid);
}

/*
 * Act on one shutdown of domid as dc says: destroy, preserve, restart
 * (re-create from dc), soft reset (in place), or keep it (preserve).
 * Returns the domain to watch next, or INVALID_DOMID when done.
 */
static uint32_t on_shutdown(libxl_ctx *lx, uint32_t domid,
                            libxl_domain_config *dc, int reason)
{
    libxl_action_on_shutdown act = shutdown_action(dc, reason);
    uint32_t newid = (uint32_t)INVALID_DOMID;

    if (act == LIBXL_ACTION_ON_SHUTDOWN_PRESERVE)
        return (uint32_t)INVALID_DOMID;
    fprintf(stderr, "domain %u shut down (reason %d), %s\n", domid,
            reason, libxl_action_on_shutdown_to_string(act));
    act = dump_core(lx, domid, dc, act);
    if (act == LIBXL_ACTION_ON_SHUTDOWN_SOFT_RESET) {
        if (libxl_domain_soft_reset(lx, dc, domid, NULL, NULL) ||
            libxl_domain_unpause(lx, domid, NULL))
            return (uint32_t)INVALID_DOMID;
        return domid;
    }
    if (act == LIBXL_ACTION_ON_SHUTDOWN_RESTART_RENAME) {
        if (preserve(lx, domid, dc)) return (uint32_t)INVALID_DOMID;
        act = LIBXL_ACTION_ON_SHUTDOWN_RESTART;
    } else {
        libxl_domain_destroy(lx, domid, NULL);
    }
    if (act != LIBXL_ACTION_ON_SHUTDOWN_RESTART)
        return (uint32_t)INVALID_DOMID;
    /* xl waits as long before it re-creates a domain */
    sleep(2);
    if (create_locked(lx, dc, -1, &newid) ||
        libxl_domain_unpause(lx, newid, NULL)) {
        fprintf(stderr, "cannot restart domain %u: creating it again "
                "failed\n", domid);
        return (uint32_t)INVALID_DOMID;
    }
    fprintf(stderr, "domain %u restarted as domain %u\n", domid, newid);
    return newid;
}

/*
 * The monitor loop of a domain we created or restored, or whose xl
 * monitor left when it suspended (runs in a daemon): what xl's own
 * daemon does for the domains it creates.  On shutdown it acts as the
 * domain's on_poweroff / on_reboot / on_crash / on_watchdog /
 * on_soft_reset say; a restart re-creates the domain from the config
 * libxl has for it at that moment (so disks changed by later snapshots
 * are kept).  A suspend (xl save, a memory snapshot) is not ours to act
 * on: the monitor leaves.
 */
static void monitor_loop(libxl_ctx *lx, uint32_t domid, const char *json)
{
    while (domid != (uint32_t)INVALID_DOMID) {
        libxl_domain_config dc;
        int reason = wait_shutdown(lx, domid);

        if (reason < 0 || reason == LIBXL_SHUTDOWN_REASON_SUSPEND) return;
        libxl_domain_config_init(&dc);
        if (libxl_retrieve_domain_configuration(lx, domid, &dc, NULL)) {
            libxl_domain_config_dispose(&dc);
            libxl_domain_config_init(&dc);
            if (libxl_domain_config_from_json(lx, &dc, json)) {
                libxl_domain_config_dispose(&dc);
                return;
            }
        }
        domid = on_shutdown(lx, domid, &dc, reason);
        libxl_domain_config_dispose(&dc);
    }
}

/* Start a daemon that watches domid as xl's monitor would. */
int xlsnap__hv_monitor(xlsnap_ctx *ctx, int64_t domid, const char *name,
                       const char *config_json)
{
    pid_t pid;
    int st;

    /* the daemon's libxl must not inherit ours (its SIGCHLD handler and
     * owner list: a restart aborted in the daemon, see the function) */
    xlsnap__libxl_release(ctx);
    pid = fork();

    if (pid < 0)
        return xlsnap__error_errno(ctx, errno, "cannot start the domain's "
                                   "monitor");
    if (pid > 0) {
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) ;
        return 0;
    }
    /* child: detach, then the grandchild is the daemon */
    if (setsid() < 0 || fork() != 0) _exit(0);
    {
        char *log = xlsnap__sprintf("/var/log/xen/xl-snapshot-%s.log",
                                    name ? name : "domain");
        int in = open("/dev/null", O_RDONLY);
        int out = log ? open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                             0644) : -1;
        xentoollog_logger_stdiostream *lg;
        libxl_ctx *lx = NULL;

        if (out < 0) out = open("/dev/null", O_WRONLY);
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        close_range(3, ~0U, 0);
        signal(SIGHUP, SIG_IGN);
        lg = xtl_createlogger_stdiostream(stderr, XTL_ERROR, 0);
        if (libxl_ctx_alloc(&lx, LIBXL_VERSION, 0, (xentoollog_logger *)lg))
            _exit(1);
        fprintf(stderr, "xl-snapshot: monitoring domain %u\n",
                (unsigned)domid);
        monitor_loop(lx, domid, config_json);
        libxl_ctx_free(lx);
        _exit(0);
    }
}

/*
 * After an external snapshot of a running domain, make the domain's own
 * config name the new overlay: libxl's stored config (userdata
 * "libxl-json", what save/restore/reboot/migrate use, under libxl's
 * domain-userdata-lock) and the qdisk backend's xenstore "params".
 * Without this, `xl save` + `xl restore` reopens the old image and drops
 * every write made since the snapshot.  (libxl serialises the stored
 * config with its own lock inside retrieve/store; our domain lock keeps
 * other xl-snapshot operations out.)
 */
int xlsnap__hv_set_live_disk(xlsnap_ctx *ctx, int64_t domid,
                             const char *vdev, const char *path,
                             const char *fmt)
{
    libxl_ctx *lx;
    uint8_t *data = NULL;
    int len = 0, rc, lrc;
    char *json = NULL, *text = NULL, *bdir = NULL, **ents = NULL;
    struct xs_handle *xs = NULL;
    unsigned n = 0;
    bool done = false;

    /* libxl_userdata_retrieve/_store take libxl's domain-userdata-lock
     * themselves (taking it here too would deadlock on flock) */
    if ((rc = xlsnap__libxl(ctx, &lx))) return rc;
    lrc = libxl_userdata_retrieve(lx, domid, "libxl-json", &data, &len);
    if (lrc || !data || !len) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR,
                           "cannot read libxl's stored configuration of "
                           "domain %u", (unsigned)domid);
        goto out;
    }
    /* libxl stores it with its NUL; do not rely on that */
    text = strndup((const char *)data, (size_t)len);
    if (!text) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    rc = xlsnap__config_set_disk(ctx, text, vdev, path, fmt, &json);
    if (rc) goto out;
    lrc = libxl_userdata_store(lx, domid, "libxl-json",
                               (const uint8_t *)json, strlen(json) + 1);
    if (lrc) {
        rc = lx_error(ctx, lrc, "cannot store the domain configuration");
        goto out;
    }

    xs = xs_open(0);
    if (!xs) {
        rc = xlsnap__error_errno(ctx, errno, "cannot open xenstore");
        goto out;
    }
    bdir = xlsnap__sprintf("/local/domain/0/backend/qdisk/%u",
                           (unsigned)domid);
    if (!bdir) {
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    ents = xs_directory(xs, XBT_NULL, bdir, &n);
    for (unsigned i = 0; ents && i < n && !done; i++) {
        char *p = xlsnap__sprintf("%s/%s/dev", bdir, ents[i]);
        unsigned l;
        char *dev = p ? xs_read(xs, XBT_NULL, p, &l) : NULL;
        if (!p) {
            rc = xlsnap__nomem(ctx);
            goto out;
        }
        free(p);
        if (dev && !strcmp(dev, vdev)) {
            char *params = xlsnap__sprintf("%s:%s", fmt, path);
            p = xlsnap__sprintf("%s/%s/params", bdir, ents[i]);
            if (!params || !p) {
                free(p);
                free(params);
                free(dev);
                rc = xlsnap__nomem(ctx);
                goto out;
            }
            done = xs_write(xs, XBT_NULL, p, params, strlen(params));
            free(p);
            free(params);
            if (!done) {
                free(dev);
                rc = xlsnap__error_errno(ctx, errno, "cannot update "
                                         "xenstore params of %s", vdev);
                goto out;
            }
        }
        free(dev);
    }
    if (!done) {
        rc = xlsnap__error(ctx, XLSNAP_ERROR_HYPERVISOR,
                           "no qdisk backend for %s in xenstore", vdev);
        goto out;
    }
    rc = 0;
 out:
    free(ents);
    free(bdir);
    if (xs) xs_close(xs);
    free(json);
    free(text);
    free(data);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
