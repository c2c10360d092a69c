/*
 * internal.h - private to libxlsnap.  Always included first by the
 * library's .c files: it fixes the libxl API version in one place.
 */
#ifndef XLSNAP_INTERNAL_H
#define XLSNAP_INTERNAL_H

#ifndef LIBXL_API_VERSION
#define LIBXL_API_VERSION 0x041400
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxl.h>
#include <libxl_utils.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "libxlsnap.h"

#define XLSNAP__ERRBUF 1024
#define XLSNAP__RECORD_VERSION 1
#define XLSNAP__RECORD_FILE "record.json"
#define XLSNAP__LOCK_FILE ".lock"

struct xlsnap_ctx {
    char *state_dir;
    xentoollog_logger *lg;
    libxl_ctx *lctx;          /* lazily created, see xlsnap__libxl() */
    bool lctx_failed;
    int lock_timeout;         /* seconds */
    char errbuf[XLSNAP__ERRBUF];
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ctx.c */
/* Set the ctx message and return rc (negative).  printf-style. */
int xlsnap__error(xlsnap_ctx *ctx, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As xlsnap__error, appending ": strerror(e)", rc from errno e. */
int xlsnap__error_errno(xlsnap_ctx *ctx, int e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Map an errno value to XLSNAP_ERROR_*. */
int xlsnap__errno_rc(int e);
/* Prefix the ctx message with "what: " (keeps the code). */
int xlsnap__error_prefix(xlsnap_ctx *ctx, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The libxl ctx; created on first use.  Fails with HYPERVISOR when no
 * hypervisor is reachable (no /proc/xen/privcmd or /dev/xen/privcmd). */
int xlsnap__libxl(xlsnap_ctx *ctx, libxl_ctx **lctx_r);
bool xlsnap__hypervisor_present(void);
/* Fault injection for crash-safety tests: if XL_SNAPSHOT_FAULT names
 * this step, the process kills itself with SIGKILL. */
void xlsnap__fault_point(const char *step);

/* util.c */
char *xlsnap__strdup(const char *s);            /* NULL -> NULL */
char *xlsnap__sprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
int xlsnap__read_file(xlsnap_ctx *ctx, int dirfd, const char *path,
                      size_t max, char **data_r, size_t *len_r);
/* tmp + fsync + rename + fsync(dir), mode 0600, no symlinks followed. */
int xlsnap__write_file_atomic(xlsnap_ctx *ctx, const char *dir,
                              const char *file, const char *data,
                              size_t len);
int xlsnap__mkdir_private(xlsnap_ctx *ctx, const char *path);
bool xlsnap__is_uuid(const char *s);
/* Lower-cased canonical copy of a UUID string, or NULL if invalid. */
char *xlsnap__uuid_canon(const char *s);

/* json.c: yajl helpers shared by record.c and config.c */
yajl_gen xlsnap__gen_alloc(void);
int xlsnap__gen_str(yajl_gen g, const char *s);   /* NULL -> null */
int xlsnap__gen_kv_str(yajl_gen g, const char *k, const char *v);
int xlsnap__gen_kv_int(yajl_gen g, const char *k, int64_t v);
int xlsnap__gen_kv_bool(yajl_gen g, const char *k, bool v);
int xlsnap__gen_tree(yajl_gen g, yajl_val v);
int xlsnap__gen_finish(xlsnap_ctx *ctx, yajl_gen g, char **json_r);
/* Append the JSON text 'json' as a value (parsed, then regenerated). */
int xlsnap__gen_raw(xlsnap_ctx *ctx, yajl_gen g, const char *json);

/* record.c */
int xlsnap__snapshot_gen(xlsnap_ctx *ctx, yajl_gen g,
                         const xlsnap_snapshot *s);
int xlsnap__snapshot_copy(xlsnap_snapshot *dst, const xlsnap_snapshot *src);

/* store.c: the only code that knows the state dir layout */
typedef struct {
    int fd;
} xlsnap__lock;
int xlsnap__domain_dir(xlsnap_ctx *ctx, const char *uuid, char **dir_r);
/* create: make the state and domain dirs if missing; otherwise a
 * domain without a directory gives NOTFOUND. */
int xlsnap__lock_domain(xlsnap_ctx *ctx, const char *uuid, bool create,
                        xlsnap__lock *lock_r);
void xlsnap__unlock(xlsnap__lock *lock);
int xlsnap__store_read(xlsnap_ctx *ctx, const char *uuid,
                       const char *name, xlsnap_snapshot *snap_r);
int xlsnap__store_write(xlsnap_ctx *ctx, const xlsnap_snapshot *snap);
int xlsnap__store_list(xlsnap_ctx *ctx, const char *uuid,
                       xlsnap_snapshot **list_r, int *nr_r);
/* UUIDs of domains with a record whose domain name is name. */
int xlsnap__store_find_domain(xlsnap_ctx *ctx, const char *name,
                              char ***uuids_r, int *nr_r);

#endif /* XLSNAP_INTERNAL_H */

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
