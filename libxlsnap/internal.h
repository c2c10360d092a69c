/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * internal.h - private to libxlsnap.  Always included first by the
 * library's .c files: it fixes the libxl API version in one place.
 */
#ifndef XLSNAP_INTERNAL_H
#define XLSNAP_INTERNAL_H

#ifndef LIBXL_API_VERSION
#define LIBXL_API_VERSION 0x041400
#endif

#include <nettle/sha2.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include <libxl.h>
#include <libxl_utils.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "libxlsnap.h"
/* model/fields.h: the record as one field table (record_fields.h) */
#include "model/fields.h"

#define XLSNAP__ERRBUF 1024
#define XLSNAP__RECORD_VERSION 1
#define XLSNAP__RECORD_FILE "record.json"
#define XLSNAP__LOCK_FILE ".lock"
#define XLSNAP__MEMORY_FILE "memory.save"
#define XLSNAP__FIFO_FILE ".restore.fifo"
#define XLSNAP__PARTS_FILE ".parts.json"       /* d1: verify.c */
#define XLSNAP__UNSYNCED_FILE ".memory-unsynced" /* create.c, check.c */
#define XLSNAP__UNSYNCED_FAILED "failed"  /* its text once the sync failed */
#define XLSNAP__REVERT_INTENT "revert"
#define XLSNAP__MERGE_INTENT "merge"
#define XLSNAP__CREATE_INTENT "create"

struct xlsnap_ctx {
    char *state_dir;
    xentoollog_logger *lg;
    libxl_ctx *lctx;          /* lazily created, see xlsnap__libxl() */
    bool lctx_failed;
    int lock_timeout;         /* seconds */
    xlsnap_progress_fn *progress_fn;
    void *progress_user;
    struct timespec progress_last; /* rate limit, CLOCK_MONOTONIC */
    /* summaries read by domain_resolve, taken by the next summary list
     * of the same domain in this call sequence (index.c) */
    char *sum_uuid;
    xlsnap_snapshot *sum_list;
    int sum_nr;
    struct timespec sum_time;      /* kept for a second at most */
    /* the last stored config generated and its parsed tree (json.c):
     * the configs of one domain's snapshots are mostly the same text,
     * parsed once per command, not once per snapshot */
    char *raw_text;
    yajl_val raw_tree;
    /* the configs of the summaries last listed, and of sum_list (index.c) */
    struct xlsnap__cfgmap *cfg_cur, *cfg_kept;
    char *pick_uuid;               /* xlsnap_set_domain_uuid */
    bool pick_nomem;               /* ... which ran out of memory */
    char errbuf[XLSNAP__ERRBUF];
    /* advice code of errbuf (ctx.c): valid while errbuf still holds
     * hint_msg, the message set with it (a saved and restored errbuf
     * does not inherit the hint of the error in between) */
    xlsnap_hint hint;
    char hint_msg[XLSNAP__ERRBUF];
    /* what the last call that went on degraded says (xlsnap__warn) */
    char warnbuf[XLSNAP__ERRBUF];
    /* the disk space the last delete freed (xlsnap_last_freed) */
    int64_t freed;
    /* the snapshots the last delete discarded, or would (merge.c) */
    char **discarded;
    int ndiscarded;
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
/* Error state (a3): as xlsnap__error, with an advice code for the
 * caller (xlsnap_error_hint); other messages have none, except that
 * xlsnap__error_prefix keeps the hint of the message it prefixes. */
int xlsnap__error_hint(xlsnap_ctx *ctx, int rc, xlsnap_hint hint,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Leave a warning on ctx (xlsnap_last_warning): the call goes on,
 * degraded.  printf-style; clear it with fmt NULL. */
void xlsnap__warn(xlsnap_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "out of memory" on ctx; returns XLSNAP_ERROR_NOMEM. */
int xlsnap__nomem(xlsnap_ctx *ctx);
/* The libxl ctx; created on first use.  Fails with HYPERVISOR when no
 * hypervisor is reachable (no /proc/xen/privcmd or /dev/xen/privcmd). */
int xlsnap__libxl(xlsnap_ctx *ctx, libxl_ctx **lctx_r);
void xlsnap__libxl_release(xlsnap_ctx *ctx);
bool xlsnap__hypervisor_present(void);
/* Fault injection for crash-safety tests: if XL_SNAPSHOT_FAULT names
 * this step, the process kills itself with SIGKILL. */
void xlsnap__fault_point(const char *step);
/* Report progress through the ctx's callback, if any: at most every
 * 200 ms, except that done == total is always reported. */
void xlsnap__progress(xlsnap_ctx *ctx, const char *what, uint64_t done,
                      uint64_t total);

/* io.c (core): the one write-all, read-full and temporary-file name.
 * write_all, read_some and read_upto need no ctx (threads use them) and
 * return -errno on failure, with errno set. */
int xlsnap__write_all(int fd, const void *buf, size_t n);
/* One read(), retried on EINTR: bytes read, 0 at the end, or -errno. */
ssize_t xlsnap__read_some(int fd, void *buf, size_t n);
/* Read up to n bytes: fewer only at the end of the stream; or -errno. */
ssize_t xlsnap__read_upto(int fd, void *buf, size_t n);
/* Read exactly n bytes; the stream ending early is CORRUPT. */
int xlsnap__read_full(xlsnap_ctx *ctx, int fd, void *buf, size_t n);
/* The temporary file written before 'file' is renamed into place
 * (".<file>.tmp", xlsnap__write_file_atomic); and whether a directory
 * entry is one (a leftover of a killed writer). */
#define XLSNAP__TMP_PREFIX "."
#define XLSNAP__TMP_SUFFIX ".tmp"
#define XLSNAP__TMP_NAME(lit) XLSNAP__TMP_PREFIX lit XLSNAP__TMP_SUFFIX
char *xlsnap__tmp_name(const char *file);
bool xlsnap__is_tmp_name(const char *name);
/* ctx.c (core): keep the ctx message across a cleanup that may
 * overwrite it (xlsnap__errsave before, xlsnap__errrestore after). */
typedef struct { char msg[XLSNAP__ERRBUF]; } xlsnap__errsaved;
void xlsnap__errsave(const xlsnap_ctx *ctx, xlsnap__errsaved *s);
void xlsnap__errrestore(xlsnap_ctx *ctx, const xlsnap__errsaved *s);
/* json.c (core): generating JSON, the one CHK: run a yajl_gen call or
 * an xlsnap__gen_* helper; a status other than yajl_gen_status_ok is
 * kept in the caller's 'int s' and jumps to its gen_failed label. */
#define CHK(x) \
    do { if ((s = (x)) != yajl_gen_status_ok) goto gen_failed; } while (0)

/* util.c */
/* Out of memory is NULL, never an abort (b5, issue 14: the library
 * never aborts): check the result and fail with xlsnap__nomem(ctx).
 * So do xlsnap__tmp_name, xlsnap__image_sibling, xlsnap__uuid_canon
 * (NULL also for a string that is no UUID) and xlsnap__last_line. */
char *xlsnap__strdup(const char *s);            /* NULL -> NULL */
char *xlsnap__sprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* openat(dirfd, path, flags | O_NOFOLLOW | O_CLOEXEC, 0600): the fd, or
 * a negative XLSNAP_ERROR_* whose message names 'shown' (a symbolic
 * link: PERM "refusing to follow symbolic link"). */
int xlsnap__open_nofollow(xlsnap_ctx *ctx, int dirfd, const char *path,
                          int flags, const char *shown);
/* The whole of a regular file (no symlink followed), NUL-terminated. */
int xlsnap__read_file(xlsnap_ctx *ctx, int dirfd, const char *path,
                      size_t max, char **data_r, size_t *len_r);
/* The same for 'file' in dirfd, with 'path' as its name in messages. */
int xlsnap__read_file_at(xlsnap_ctx *ctx, int dirfd, const char *file,
                         const char *path, size_t max, char **data_r,
                         size_t *len_r);
/* rc with "<path>: contains a NUL byte at offset N" if data has one. */
int xlsnap__check_text(xlsnap_ctx *ctx, int rc, const char *path,
                       const char *data, size_t len);
/* tmp + fsync + rename + fsync(dir), mode 0600, no symlinks followed. */
int xlsnap__write_file_atomic(xlsnap_ctx *ctx, const char *dir,
                              const char *file, const char *data,
                              size_t len);
int xlsnap__mkdir_private(xlsnap_ctx *ctx, const char *path);
/* unlink(path): 0, or "cannot remove <path>: <strerror>" on ctx and its
 * negative XLSNAP_ERROR_*; a path already gone is 0 when missing_ok. */
int xlsnap__unlink(xlsnap_ctx *ctx, const char *path, bool missing_ok);
/* fsync of the directory holding path (a rename or unlink in it made
 * durable); best effort: nothing to report if it cannot be opened. */
void xlsnap__fsync_dir_of(const char *path);
/* This boot's id (the kernel's random boot_id, 36 characters): 0, or
 * -1 when it cannot be read (buf is then ""). */
#define XLSNAP__BOOT_ID_MAX 40
int xlsnap__boot_id(char buf[XLSNAP__BOOT_ID_MAX]);
/* The bytes a file has allocated (st_blocks; 0 if it is not there). */
int64_t xlsnap__file_used(const char *path);
/* Count n bytes freed (a merge: the removed layer's allocation less
 * what the layer that took its data grew by) for xlsnap_last_freed. */
void xlsnap__freed_add(xlsnap_ctx *ctx, int64_t n);
/* Remove the files of a flat directory (staging), then the directory. */
void xlsnap__remove_flat_dir(const char *dir);
/* "<dir of image>/<image name without extension>.<tag>.qcow2" */
char *xlsnap__image_sibling(const char *image, const char *tag);
/* The n-byte big-endian number at p (qcow2 headers, tar size fields). */
uint64_t xlsnap__be(const unsigned char *p, int n);
bool xlsnap__is_uuid(const char *s);
/* The UTF-8 yajl accepts (lead and continuation bytes). */
bool xlsnap__utf8_valid(const char *s);
long xlsnap__utf8_next(const char **pp);
bool xlsnap__domain_name_ok(const char *s);
/* A larger pipe buffer (fewer context switches), best effort. */
void xlsnap__pipe_grow(int fd);
/* Lower-cased canonical copy of a UUID string, or NULL if invalid. */
char *xlsnap__uuid_canon(const char *s);
/* A new random (version 4) UUID, canonical text. */
int xlsnap__uuid_generate(xlsnap_ctx *ctx, char **uuid_r);

/* json.c: yajl helpers shared by record.c and config.c */
yajl_gen xlsnap__gen_alloc(void);
int xlsnap__gen_str(yajl_gen g, const char *s);   /* NULL -> null */
int xlsnap__gen_kv_str(yajl_gen g, const char *k, const char *v);
int xlsnap__gen_kv_int(yajl_gen g, const char *k, int64_t v);
int xlsnap__gen_kv_bool(yajl_gen g, const char *k, bool v);
/* {k0: v0, k1: v1, ...} from kv = { k0, v0, k1, v1, ..., NULL }: a map
 * of strings (a NULL value: null). */
int xlsnap__gen_str_map(yajl_gen g, const char *const *kv);
int xlsnap__gen_tree(yajl_gen g, yajl_val v);
int xlsnap__gen_finish(xlsnap_ctx *ctx, yajl_gen g, char **json_r);
/* b6: the end of a generator, where its gen_failed label falls through
 * to: s is the status of its last step (CHK's): yajl_gen_status_ok gives
 * the text in *json_r; another yajl status the error code with message
 * fmt (which may print s); a negative XLSNAP_ERROR_*, already on ctx, is
 * returned as it is.  g is freed in every case. */
int xlsnap__gen_end(xlsnap_ctx *ctx, yajl_gen g, int s, char **json_r,
                    int code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* xlu.c (core, b6): an xl.cfg-syntax parse with libxlutil (the config
 * in cfg), whose messages go to memory; xlsnap__xlu_report flushes them
 * and gives their first line, or fallback when there is none. */
typedef struct {
    struct XLU_Config *cfg;
    FILE *report;
    char *rbuf;
    size_t rlen;
} xlsnap__xlu;
#define XLSNAP__XLU_INIT { NULL, NULL, NULL, 0 }
int xlsnap__xlu_open(xlsnap_ctx *ctx, const char *path, xlsnap__xlu *x);
const char *xlsnap__xlu_report(xlsnap__xlu *x, const char *fallback);
void xlsnap__xlu_close(xlsnap__xlu *x);

/* yajl_tree_parse for text read from a file: first refuses nesting
 * deeper than XLSNAP__JSON_MAX_DEPTH, as yajl's tree code recurses once
 * a level (megabytes of '[' overflow the stack) and its generator stops
 * at 128 anyway.  On failure err holds a one-line reason. */
#define XLSNAP__JSON_MAX_DEPTH 64
yajl_val xlsnap__json_parse(const char *text, char *err, size_t errlen);
/* Append the JSON text 'json' as a value (parsed, then regenerated). */
int xlsnap__gen_raw(xlsnap_ctx *ctx, yajl_gen g, const char *json);

/* Member key of a JSON object, or NULL. */
yajl_val xlsnap__json_field(yajl_val obj, const char *key);
/* A string member: required or optional (absent/null -> NULL); errors
 * say "<where>: field '<key>' ...". */
int xlsnap__json_get_str(xlsnap_ctx *ctx, yajl_val obj, const char *where,
                         const char *key, bool required, char **out);

/* record.c */
int xlsnap__snapshot_gen(xlsnap_ctx *ctx, yajl_gen g,
                         const xlsnap_snapshot *s);
/* The same, with extra(g, s) adding fields before the map closes. */
int xlsnap__snapshot_gen_extra(xlsnap_ctx *ctx, yajl_gen g,
                               const xlsnap_snapshot *s,
                               int (*extra)(xlsnap_ctx *, yajl_gen,
                                            const xlsnap_snapshot *));
/* merge.c: list --json's "layers" (what list -l shows of each external
 * disk's layer); a yajl status */
int xlsnap__gen_layers(xlsnap_ctx *ctx, yajl_gen g,
                       const xlsnap_snapshot *s);
/* 0, or NOMEM without a message; dst is to be disposed either way. */
int xlsnap__snapshot_copy(xlsnap_snapshot *dst, const xlsnap_snapshot *src);
/* The image file 'from' was renamed to 'to': every record of l naming
 * it (image, overlay, backing) is changed and stored.  skip: index of a
 * record left alone (-1: none). */
int xlsnap__relocate_image(xlsnap_ctx *ctx, xlsnap_snapshot *l, int nr,
                           int skip, const char *from, const char *to);
/* The disk of s with that vdev, or NULL. */
const xlsnap_disk *xlsnap__snapshot_disk(const xlsnap_snapshot *s,
                                         const char *vdev);

/* model/tree.c (issue 14, the tree module): a domain's snapshots as a
 * tree, built once from a list of records (borrowed: it must outlive
 * the tree, and the records' name and parent must not change except
 * through xlsnap__tree_remove).  Node i is l[i].  A parent not in the
 * list makes a root; a parent cycle (records edited by hand) never
 * makes a walk loop.  Every function is O(n) or less; out arrays have
 * room for nr entries. */
typedef struct {
    xlsnap_snapshot *l;
    int nr;
    int *parent;             /* -1: a root */
    int *child, *last;       /* first and last child, -1: none */
    int *next, *prev;        /* siblings: children in list order */
    int *slot;               /* the name index: i + 1, 0: empty */
    size_t mask;
    unsigned char *mark;     /* scratch of the walks, all 0 between */
    bool *gone;              /* removed by xlsnap__tree_remove */
} xlsnap__tree;
void xlsnap__tree_init(xlsnap__tree *t);
void xlsnap__tree_dispose(xlsnap__tree *t);
int xlsnap__tree_build(xlsnap_ctx *ctx, xlsnap__tree *t, xlsnap_snapshot *l,
                       int nr);
/* Index of the snapshot named name, -1: none (also for NULL). */
int xlsnap__tree_find(const xlsnap__tree *t, const char *name);
int xlsnap__tree_parent(const xlsnap__tree *t, int i);
/* Children of i in list order; the count (out may be NULL). */
int xlsnap__tree_children(const xlsnap__tree *t, int i, int *out);
/* Going up from i, nearest first, each once (i itself not); the count
 * (out may be NULL). */
int xlsnap__tree_ancestors(const xlsnap__tree *t, int i, int *out);
/* Whether a is reached going up from i (a != i, unless on a cycle). */
bool xlsnap__tree_is_ancestor(const xlsnap__tree *t, int a, int i);
/* Every snapshot reached going down from i, breadth first (i itself
 * only when on a cycle); the count. */
int xlsnap__tree_descendants(const xlsnap__tree *t, int i, int *out);
/* Snapshots without children; the count (out may be NULL). */
int xlsnap__tree_leaves(const xlsnap__tree *t, int *out);
/* Every snapshot after its parent: each root (list order) followed by
 * its subtree in pre-order, children in list order; what no root
 * reaches (cycles) last, in list order.  The count. */
int xlsnap__tree_topological(const xlsnap__tree *t, int *out);
/* depth[i]: how many snapshots are reached going up from i (a root: 0;
 * on a parent cycle of c snapshots: c - 1).  0 or NOMEM (no message). */
int xlsnap__tree_depths(const xlsnap__tree *t, int *depth);
/* i's record is going: its children become its parent's (roots if it
 * has none) and i leaves the tree (still found by name). */
void xlsnap__tree_remove(xlsnap__tree *t, int i);
/* One lookup in a list without a tree: the index of name, or -1. */
int xlsnap__list_find(const xlsnap_snapshot *l, int nr, const char *name);
/* Make l[cur] the only current snapshot (cur < 0: none current): every
 * other record marked current is cleared and written first, then l[cur]
 * is marked and written (if it was not), so that a crash in between
 * leaves no current snapshot, never two.  write: xlsnap__store_write. */
typedef int xlsnap__write_fn(xlsnap_ctx *ctx, const xlsnap_snapshot *s);
int xlsnap__set_current(xlsnap_ctx *ctx, xlsnap_snapshot *l, int nr,
                        int cur, xlsnap__write_fn *write);

/* sha256.c: nettle's SHA-256.  Each returns 0 or FAIL (a hash not
 * started) without a message (no ctx: threads use it);
 * xlsnap__sha256_error words one.  final disposes of s; dispose is for
 * a hash given up (safe on a zeroed or finished one). */
typedef struct {
    struct sha256_ctx c;
    bool live;                  /* init'ed and not yet final'ed */
} xlsnap__sha256;
int xlsnap__sha256_init(xlsnap__sha256 *s);
int xlsnap__sha256_update(xlsnap__sha256 *s, const void *data, size_t n);
int xlsnap__sha256_final(xlsnap__sha256 *s, char hex_r[65]);
void xlsnap__sha256_dispose(xlsnap__sha256 *s);
/* one shot */
int xlsnap__sha256_data(const void *data, size_t n, char hex_r[65]);
/* rc from the above, with its message on ctx */
int xlsnap__sha256_error(xlsnap_ctx *ctx, int rc);

/* bundle.c: the export bundle -- manifest, tar stream, hashed copies */
#define XLSNAP__BUNDLE_FORMAT "xl-snapshot-bundle"
#define XLSNAP__BUNDLE_VERSION 1
#define XLSNAP__MANIFEST_FILE "manifest.json"
#define XLSNAP__MANIFEST_MAX (1 << 20)
/* The one size limit of a snapshot record: written, read, imported,
 * redefined. */
#define XLSNAP__RECORD_MAX XLSNAP_RECORD_MAX
typedef struct {
    char *path;              /* plain file name inside the bundle */
    char *role;              /* "record", "memory" or "disk" */
    char *vdev;              /* disk */
    char *format;            /* disk: always "qcow2" */
    char *encoding;          /* NULL: stored as is; "zstd" */
    uint64_t size;           /* stored bytes (what sha256 is of) */
    uint64_t plain_size;     /* encoded: bytes after decoding, at most */
    uint64_t virtual_size;   /* disk: the qcow2 image's virtual size */
    char sha256[65];
} xlsnap__bundle_file;
typedef struct {
    int version;
    char *kind;              /* "full" or "delta" */
    char *snapshot;
    char *base;              /* delta: the snapshot the disks build on */
    char *domain_name;
    char *domain_uuid;
    int64_t created;
    int num_chain;           /* ancestors, root first, then snapshot */
    char **chain;
    int num_files;
    xlsnap__bundle_file *files;
} xlsnap__manifest;
void xlsnap__manifest_init(xlsnap__manifest *m);
void xlsnap__manifest_dispose(xlsnap__manifest *m);
xlsnap__bundle_file *xlsnap__manifest_add(xlsnap__manifest *m,
                                          const char *path,
                                          const char *role);
int xlsnap__manifest_to_json(xlsnap_ctx *ctx, const xlsnap__manifest *m,
                             char **json_r);
/* Parse and validate (names, paths, roles, digests); CORRUPT with a
 * message naming the problem otherwise. */
int xlsnap__manifest_parse(xlsnap_ctx *ctx, const char *json, size_t len,
                           xlsnap__manifest *m);
/* A bundle member name: [A-Za-z0-9_.+-], no leading '.', <= 99 bytes. */
bool xlsnap__bundle_name_ok(const char *name);
/* Copy in to out (out < 0: only read), hashing what is read into hex_r,
 * reporting progress as 'what'; size: bytes to copy, or UINT64_MAX for
 * "until EOF".  hex_r NULL: nothing is hashed, and two files are copied
 * by the kernel (copy_file_range) where it can. */
int xlsnap__copy_hashed(xlsnap_ctx *ctx, int in, int out, uint64_t size,
                        const char *what, uint64_t *copied_r,
                        char hex_r[65]);
/* What an export knows of the image it made, from making it: its size,
 * virtual size and SHA-256 (sha256[0] 0: not known; the caller reads
 * the image for them).  zstd, set by the caller: compress the image as
 * it is written where the driver can; compressed says it did (the file
 * is then one zstd frame: size and sha256 are its, plain_size the
 * image's). */
typedef struct {
    bool zstd;
    bool compressed;
    uint64_t size, virtual_size, plain_size;
    char sha256[65];
} xlsnap__export_made;

/* A file written in one pass from its first byte to its last, hashed
 * as it is written (a thread hashes a piece while the next is made):
 * alloc on fd (written from its current offset; 'what' names it in
 * errors and progress; total: the bytes to come, for progress; zstd:
 * what is made is compressed on its way to fd, one zstd frame, and
 * the file is the compressed one); room gives a place for the next n
 * bytes (n <= 4 MiB), commit says they are made there; put appends n
 * bytes; finish writes what is left: *size_r and hex_r the file's size
 * and SHA-256.  Not fsynced. */
typedef struct xlsnap__hwriter xlsnap__hwriter;
int xlsnap__hwriter_alloc(xlsnap_ctx *ctx, int fd, const char *what,
                          uint64_t total, bool zstd, xlsnap__hwriter **w_r);
int xlsnap__hwriter_room(xlsnap__hwriter *w, size_t n, void **p_r);
void xlsnap__hwriter_commit(xlsnap__hwriter *w, size_t n);
int xlsnap__hwriter_put(xlsnap__hwriter *w, const void *p, size_t n);
int xlsnap__hwriter_finish(xlsnap__hwriter *w, uint64_t *size_r,
                           char hex_r[65]);
void xlsnap__hwriter_free(xlsnap__hwriter *w);
/* Copy src into the new file dst (0600, never over an existing file,
 * fsynced): as it is or (de)compressed with zstd.  *size_r, hex_r (may
 * be NULL): size and SHA-256 of what was written.  A failure removes
 * dst. */
enum { XLSNAP__COPY_PLAIN, XLSNAP__COPY_COMPRESS, XLSNAP__COPY_DECOMPRESS };
int xlsnap__copy_file(xlsnap_ctx *ctx, const char *src, const char *dst,
                      int how, uint64_t *size_r, char hex_r[65]);
/* Decompress src into the new file dst (as above), writing at most max
 * bytes: more is CORRUPT ("more than the manifest declares"); *size_r,
 * hex_r (may be NULL): size and SHA-256 of what was written. */
int xlsnap__decompress_file(xlsnap_ctx *ctx, const char *src,
                            const char *dst, uint64_t max, uint64_t *size_r,
                            char hex_r[65]);
/* ustar stream (GNU base-256 sizes above 8 GiB); tar_put's hex_r NULL:
 * the member is sent without being hashed */
int xlsnap__tar_put(xlsnap_ctx *ctx, int out, const char *name, int in,
                    uint64_t size, char hex_r[65]);
int xlsnap__tar_put_data(xlsnap_ctx *ctx, int out, const char *name,
                         const char *data, size_t len);
int xlsnap__tar_end(xlsnap_ctx *ctx, int out);
/* Next member header: 1 with name/size, 0 at the end of the archive. */
int xlsnap__tar_next(xlsnap_ctx *ctx, int in, char name_r[100],
                     uint64_t *size_r);
/* Skip the padding after a member of size bytes. */
int xlsnap__tar_skip_pad(xlsnap_ctx *ctx, int in, uint64_t size);

/* zstd.c: compress (or decompress) in to out; *out_r and hex_r: size
 * and SHA-256 of what was written (either may be NULL); in_size (0 if
 * unknown) is only for progress reports.  Writing more than max_out
 * bytes (UINT64_MAX: no limit) is CORRUPT: a zstd bomb stops there. */
int xlsnap__zstd(xlsnap_ctx *ctx, int in, int out, bool compress,
                 const char *what, uint64_t in_size, uint64_t max_out,
                 uint64_t *out_r, char hex_r[65]);
/* The engine under it and under zpipe.c: the one place that calls
 * libzstd.  Reads in to its end, writes out; needs no ctx (threads run
 * it).  Returns XLSNAP__Z_OK or where it failed: err is an errno value
 * (EIO for CODEC, TRUNCATED), zerr zstd's name for a CODEC error.
 * TOOBIG: writing more than max_out bytes (UINT64_MAX: no limit) was
 * refused, nothing of that piece was written (a zstd bomb stops). */
enum { XLSNAP__Z_OK, XLSNAP__Z_NOMEM, XLSNAP__Z_READ, XLSNAP__Z_WRITE,
       XLSNAP__Z_CODEC, XLSNAP__Z_TRUNCATED, XLSNAP__Z_TOOBIG,
       XLSNAP__Z_HASH };        /* HASH: hash's update failed, err its rc */
typedef struct {
    bool compress;
    int level;                  /* compress: 0 is 3 */
    bool checksum;              /* compress: a checksum in the frame */
    int workers;                /* compress: libzstd's worker threads
                                 * (0: none, the caller's thread) */
    size_t in_buf, out_buf;     /* piece sizes; 0: zstd's advice */
    uint64_t max_out;           /* UINT64_MAX: no limit */
    xlsnap__sha256 *hash;       /* of what is written, or NULL */
    void (*progress)(void *user, uint64_t in_bytes); /* after each read */
    void *user;
    /* results */
    uint64_t in_bytes, out_bytes;
    int err;
    const char *zerr;
} xlsnap__zstream;
int xlsnap__zstream_run(xlsnap__zstream *z, int in, int out);
/* Worker threads for compressing: the online CPUs, when this libzstd
 * is built with multithreading (ZSTD_c_nbWorkers has room), else 0. */
int xlsnap__zstd_workers(void);
/* The level export (and xlsnap__zstd) compresses at. */
#define XLSNAP__ZSTD_LEVEL 3
/* A compressor fed in pieces, for a writer that makes its input itself
 * (the hashed writer): level XLSNAP__ZSTD_LEVEL, libzstd's worker
 * threads (xlsnap__zstd_workers), one frame.  feed compresses n bytes
 * at in (end: the last piece, the frame is closed); the output is made
 * in o->buf (o->size bytes), and each time it holds some, o->emit(o,
 * len) takes them and may point o->buf elsewhere.  0, emit's failure
 * (< 0), or XLSNAP__Z_CODEC with *zerr_r zstd's name for it. */
typedef struct xlsnap__zenc xlsnap__zenc;
typedef struct xlsnap__zenc_out {
    char *buf;
    size_t size;
    int (*emit)(struct xlsnap__zenc_out *o, size_t len);
} xlsnap__zenc_out;
xlsnap__zenc *xlsnap__zenc_alloc(void);         /* NULL: no memory */
int xlsnap__zenc_feed(xlsnap__zenc *z, const void *in, size_t n, bool end,
                      xlsnap__zenc_out *o, const char **zerr_r);
void xlsnap__zenc_free(xlsnap__zenc *z);

/* config.c: parse a snapshot config from memory; text[len] must be
 * '\0'.  path names it in messages. */
int xlsnap__config_parse_data(xlsnap_ctx *ctx, const char *path,
                              const char *text, size_t len,
                              xlsnap_config *cfg_r);

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
/* Sort order of lists: creation time, then name. */
int xlsnap__cmp_snap(const void *a, const void *b);
/* index.c: as store_list, without config_json, from the list index when
 * it matches the records on disk (else read them and rewrite it). */
int xlsnap__store_list_summary(xlsnap_ctx *ctx, const char *uuid,
                               xlsnap_snapshot **list_r, int *nr_r);
/* index.c: 1 when a record of domain dir uuid names domain name, 0 when
 * none does (through the list index); another negative XLSNAP_ERROR_*
 * when a record cannot be read. */
int xlsnap__index_has_name(xlsnap_ctx *ctx, const char *uuid,
                           const char *name);
/* index.c: the config of summary s of domain dir uuid when s is one of
 * the summaries the last summary list handed out (or a shallow copy):
 * true with *cfg_r (NULL: the record's config is null), false when the
 * record must be read for it. */
bool xlsnap__index_config(xlsnap_ctx *ctx, const char *uuid,
                          const xlsnap_snapshot *s, const char **cfg_r);
/* index.c: free what xlsnap__index_config uses (xlsnap_ctx_free). */
void xlsnap__index_configs_drop(xlsnap_ctx *ctx);
/* index.c: free xlsnap__store_handle's keys. */
void xlsnap__index_keys_free(void *keys);
/* Keep a summary list on the ctx for the next summary list of uuid
 * (takes list); NULL uuid: drop what is kept. */
void xlsnap__summary_keep(xlsnap_ctx *ctx, const char *uuid,
                          xlsnap_snapshot *list, int nr);
int xlsnap__store_remove(xlsnap_ctx *ctx, const char *uuid,
                         const char *name);
int xlsnap__intent_write(xlsnap_ctx *ctx, const char *uuid, const char *op,
                         const char *json);
int xlsnap__intent_read(xlsnap_ctx *ctx, const char *uuid, const char *op,
                        char **json_r);
int xlsnap__intent_clear(xlsnap_ctx *ctx, const char *uuid, const char *op);
/* The history (domain dir) of UUID old becomes uuid's: a marker, the
 * directory renamed, every record rewritten (domain UUID, memory path,
 * config UUID, name), the marker removed.  A crash leaves the marker:
 * records are then read as rewritten, and xlsnap__finish_adopt (called
 * by domain_resolve) completes the rewrite. */
int xlsnap__store_adopt(xlsnap_ctx *ctx, const char *old, const char *uuid,
                        const char *name);
int xlsnap__finish_adopt(xlsnap_ctx *ctx, const char *uuid,
                         const char *name);
/* A record of UUID old as it is under uuid (memory path, config). */
int xlsnap__record_adopt(xlsnap_ctx *ctx, xlsnap_snapshot *s,
                         const char *uuid);
/* UUIDs of domains with a record whose domain name is name (NULL:
 * every domain directory of the state dir). */
int xlsnap__store_find_domain(xlsnap_ctx *ctx, const char *name,
                              char ***uuids_r, int *nr_r);

/* store.c: paths of the state dir layout (see the comment at the top of
 * store.c).  Every path under ctx->state_dir is built here; a UUID or a
 * snapshot name that is not valid (a '/', "..") is refused (INVAL). */
int xlsnap__store_snapshot_dir(xlsnap_ctx *ctx, const char *uuid,
                               const char *name, char **dir_r);
/* The memory image the store keeps for snapshot name (".zst" if
 * compressed). */
int xlsnap__store_memory_path(xlsnap_ctx *ctx, const char *uuid,
                              const char *name, bool compressed,
                              char **path_r);
/* The files besides record.json that the store and the operations put
 * in a snapshot dir (NULL-terminated): each is stale unless the record
 * names it. */
extern const char *const xlsnap__store_snapshot_extras[];
/* The list of the files snapshot name owns (verify.c). */
int xlsnap__store_parts_path(xlsnap_ctx *ctx, const char *uuid,
                             const char *name, char **path_r);
/* The memory image of a snapshot being created is written while the
 * guest is stopped and synced once it runs again; until then the
 * snapshot dir holds a mark naming the boot it was written in
 * (xlsnap__boot_id), or "failed" once its sync failed.  _mark writes
 * it (durably), _read gives its text (NULL: no mark), _clear removes
 * it (durably; no mark is not an error). */
int xlsnap__store_unsynced_mark(xlsnap_ctx *ctx, const char *uuid,
                                const char *name, const char *what);
int xlsnap__store_unsynced_read(xlsnap_ctx *ctx, const char *uuid,
                                const char *name, char **what_r);
int xlsnap__store_unsynced_clear(xlsnap_ctx *ctx, const char *uuid,
                                 const char *name);
/* The half-written intent file of operation op (killed while writing). */
int xlsnap__store_intent_tmp_path(xlsnap_ctx *ctx, const char *uuid,
                                  const char *op, char **path_r);
/* A new private staging dir of kind "import" (uuid NULL: in the state
 * dir) or "export" (in the domain dir of uuid), locked through *fd_r
 * for as long as it is open: remove the dir, then close the fd. */
int xlsnap__store_staging_create(xlsnap_ctx *ctx, const char *uuid,
                                 const char *kind, char **dir_r, int *fd_r);
/* The staging dirs of kind (uuid as above) that no operation holds:
 * left by an interrupted export or import. */
int xlsnap__store_staging_stale(xlsnap_ctx *ctx, const char *uuid,
                                const char *kind, char ***paths_r,
                                int *nr_r);
/* Remove a stale staging dir (BUSY if an operation holds it). */
int xlsnap__store_staging_remove(xlsnap_ctx *ctx, const char *path);

/* store.c: one handle per operation: the domain's lock, and its records
 * loaded once under it (sorted by xlsnap__cmp_snap). */
typedef struct {
    xlsnap__lock lock;
    xlsnap_snapshot *list;
    int nr;
    /* XLSNAP__STORE_SUMMARY: list came from the list index (config_json
     * NULL) unless loaded[i]; see xlsnap__store_handle_load */
    bool summary;
    bool *loaded;
    char *uuid;
    void *keys;     /* index.c: the stat key of each summarised record */
} xlsnap__store_handle;
#define XLSNAP__STORE_HANDLE_INIT \
    { { -1 }, NULL, 0, false, NULL, NULL, NULL }
#define XLSNAP__STORE_CREATE    1u  /* make the state and domain dirs */
#define XLSNAP__STORE_LOCK_ONLY 2u  /* lock, load no records */
/* Records may come from the list index when it is valid: every field but
 * config_json, read from one file instead of one per record.  Before
 * a record of such a handle is written or its config used, load it with
 * xlsnap__store_handle_load (a record written without it loses its
 * config). */
#define XLSNAP__STORE_SUMMARY   4u
/* The marker of an adoption in progress (store.c); while it is there the
 * index is not used (records are read as rewritten). */
#define XLSNAP__ADOPT_MARK ".adopted"
/* A domain without a directory (and no CREATE) gives NOTFOUND. */
int xlsnap__store_open(xlsnap_ctx *ctx, const char *uuid, unsigned flags,
                       xlsnap__store_handle *h);
/* Open a domain that has snapshots and find 'name' in its records
 * (*idx_r; NOTFOUND "no snapshot" otherwise). */
int xlsnap__store_open_find(xlsnap_ctx *ctx, const char *uuid,
                            const char *name, xlsnap__store_handle *h,
                            int *idx_r);
/* As xlsnap__store_open_find, with xlsnap__store_open's flags. */
int xlsnap__store_open_find_flags(xlsnap_ctx *ctx, const char *uuid,
                                  const char *name, unsigned flags,
                                  xlsnap__store_handle *h, int *idx_r);
/* Unlock and free the records; safe on an initialised or closed one. */
void xlsnap__store_close(xlsnap__store_handle *h);
/* Make h->list[i] a whole record (its config_json read from disk) if
 * it came from the index; 0 at once otherwise. */
int xlsnap__store_handle_load(xlsnap_ctx *ctx, xlsnap__store_handle *h,
                              int i);
/* xlsnap__store_handle_load, then xlsnap__store_write of h->list[i]. */
int xlsnap__store_handle_write(xlsnap_ctx *ctx, xlsnap__store_handle *h,
                               int i);
/* index.c: with the domain's lock held, the records of uuid sorted by
 * xlsnap__cmp_snap: from a valid index when summary_ok (*summary_r
 * true, config_json NULL, *keys_r their stat keys), else read whole. */
int xlsnap__store_load_locked(xlsnap_ctx *ctx, const char *uuid,
                              bool summary_ok, xlsnap_snapshot **list_r,
                              int *nr_r, bool *summary_r, void **keys_r);
/* index.c: with h's lock held, when h's records are exactly what is on
 * disk (every record written was loaded first; records removed since
 * open are left out): rewrite the index from them (best effort, so
 * that the next operation reads one file, not every record). */
void xlsnap__store_index_refresh(xlsnap_ctx *ctx, xlsnap__store_handle *h);

/* A set of strings (chain.c): v in insertion order, found by hash (an
 * add or lookup is O(1)).  Zero-initialised is empty. */
typedef struct xlsnap__strset {
    char **v;
    char **fmt;     /* per entry: the image format when known, or NULL */
    int n;
    bool nomem;     /* an add ran out of memory: who built it says so */
    int *slot;      /* open addressing: index in v + 1, 0 empty */
    size_t mask;    /* slots - 1 (a power of two, at least 2 n) */
    int cap;        /* room in v and fmt */
} xlsnap__strset;

/* create.c: rename an image, never over an existing file, and fsync
 * the directory */
int xlsnap__rename_image(xlsnap_ctx *ctx, const char *from, const char *to);

/* backend/qcow2_remove.c (the qcow2 driver's remove) */
/* delete.c */
/* The images (image and backing of each disk) the records name, each
 * with how many times: built once per operation, O(1) a lookup. */
typedef struct {
    xlsnap__strset s;
    int *count;             /* per entry of s */
} xlsnap__refs;
/* Add (delta 1) or take away (-1) the images of record x. */
int xlsnap__refs_add(xlsnap_ctx *ctx, xlsnap__refs *r,
                     const xlsnap_snapshot *x, int delta);
void xlsnap__refs_free(xlsnap__refs *r);
/* t: the tree of the domain's records (t->l), updated (i removed).
 * named: the images of the records that may still need data (those of
 * l[i] among them; the caller takes l[i]'s away once it is gone, if
 * it wants). */
/* merge.c: an external layer of a running domain merged live (issue
 * 18); the chain below an image as the headers say (formats followed). */
typedef struct {
    char **path, **fmt;
    int n;
} xlsnap__merge_chain;
int xlsnap__merge_chain_read(xlsnap_ctx *ctx, const char *image,
                             const char *fmt, xlsnap__merge_chain *c);
void xlsnap__merge_chain_free(xlsnap__merge_chain *c);
/* delete with XLSNAP_DELETE_MERGE_PARENT (merge.c) */
int xlsnap__delete_fold(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                        const char *name, unsigned flags);
void xlsnap__discarded_clear(xlsnap_ctx *ctx);
int xlsnap__merge_live(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                       const xlsnap_snapshot *x, const xlsnap_disk *d,
                       const struct xlsnap__strset *known,
                       xlsnap_snapshot *l, int nr);
int xlsnap__merge_recover(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                          bool repair, char **snap_r, char **problem_r,
                          char **done_r, bool *rollback_r,
                          char **image_r, char **child_r);
int xlsnap__delete_one(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                       xlsnap__tree *t, int i, unsigned flags,
                       const xlsnap__strset *live,
                       const xlsnap__strset *known,
                       const xlsnap__refs *named);
/* The snapshots a delete of target removes, in order (children first):
 * *n_r of them in order_r (room for t->nr). */
int xlsnap__delete_order(xlsnap_ctx *ctx, const xlsnap__tree *t,
                         int target, unsigned flags, int *order_r,
                         int *n_r);

/* spawn.c: fork/exec an argv vector, no shell; capture output */
int xlsnap__spawn(xlsnap_ctx *ctx, const char *const argv[], int stdin_fd,
                  char **out_r, char **err_r, int *status_r);
char *xlsnap__last_line(const char *text, const char *prefix);

/* backend/qemuimg.c: images no running QEMU has open.  Every function takes
 * the format of each image it names ("qcow2" or "raw", anything else is
 * refused): qemu-img never probes a format. */
int xlsnap__qimg_snapshot(xlsnap_ctx *ctx, char op, const char *name,
                          const char *image, const char *fmt); /* c a d */
int xlsnap__qimg_create_overlay(xlsnap_ctx *ctx, const char *overlay,
                                const char *backing, const char *fmt);
int xlsnap__qimg_create_overlay_sized(xlsnap_ctx *ctx, const char *overlay,
                                      const char *backing, const char *fmt,
                                      uint64_t size);
enum { XLSNAP__QIMG_SHARED = 1, XLSNAP__QIMG_UNSAFE = 2 };
int xlsnap__qimg_convert(xlsnap_ctx *ctx, const char *image, const char *fmt,
                         const char *name, const char *out, unsigned flags);
int xlsnap__qimg_write_raw(xlsnap_ctx *ctx, const char *image,
                           const char *fmt, const char *dev);
int xlsnap__qimg_info(xlsnap_ctx *ctx, const char *image, const char *fmt,
                      yajl_val *root_r);
int xlsnap__qimg_has_snapshot(xlsnap_ctx *ctx, const char *image,
                              const char *fmt, const char *name,
                              bool *has_r);
int xlsnap__qimg_backing(xlsnap_ctx *ctx, const char *image,
                         const char *fmt, char **b_r, char **bfmt_r);
int xlsnap__qimg_snapshots(xlsnap_ctx *ctx, const char *image,
                           const char *fmt, xlsnap__strset *snaps);
int xlsnap__qimg_virtual_size(xlsnap_ctx *ctx, const char *image,
                              const char *fmt, uint64_t *size_r);
int xlsnap__qimg_rebase(xlsnap_ctx *ctx, const char *image, const char *fmt,
                        const char *newbase, const char *newfmt,
                        unsigned flags);
/* qemu-img commit -d of qcow2 image into its backing file (one this tool
 * set: never an untrusted header's). */
int xlsnap__qimg_commit(xlsnap_ctx *ctx, const char *image);

/* backend/qcow2.c: a qcow2 header read without qemu-img (untrusted
 * files: no backing or data file is opened) */
typedef struct {
    uint32_t version;        /* 2 or 3 */
    uint32_t cluster_bits;
    uint64_t size;           /* virtual size */
    uint32_t crypt_method;   /* 0: not encrypted */
    uint32_t l1_size;
    uint64_t l1_offset;
    uint32_t nb_snapshots;   /* internal snapshots */
    uint64_t incompatible;   /* feature bits (version 3) */
    uint32_t header_length;
    bool data_file;          /* an external data file (bit or extension) */
    char *backing;           /* backing file name as stored; NULL: none */
    char *backing_fmt;       /* backing format extension; NULL: none */
} xlsnap__qcow2hdr;

/* Read the header of the image open on fd into *h: 0 with *why_r NULL,
 * 0 with *why_r saying why it is not a readable qcow2 image (version 2
 * or 3), or a negative error.  Dispose *h in every case. */
int xlsnap__qcow2_header(xlsnap_ctx *ctx, int fd, xlsnap__qcow2hdr *h,
                         const char **why_r);
void xlsnap__qcow2hdr_dispose(xlsnap__qcow2hdr *h);
/* *shows_r: whether any cluster of the image itself (data, compressed,
 * zero) shows through to the guest, i.e. not every read goes to the
 * backing file (walks the L1 and L2 tables; CORRUPT if unreadable). */
int xlsnap__qcow2_shows_data(xlsnap_ctx *ctx, int fd,
                             const xlsnap__qcow2hdr *h, bool *shows_r);

/* backend/qmp.c: QEMU's monitor of a running domain */
typedef struct {
    int fd, lockfd;
    char *buf;
    size_t len, cap;
} xlsnap__qmp;
void xlsnap__qmp_init(xlsnap__qmp *q);
int xlsnap__qmp_open(xlsnap_ctx *ctx, int64_t domid, const char *uuid,
                     xlsnap__qmp *q);
void xlsnap__qmp_close(xlsnap__qmp *q);
int xlsnap__qmp_exec(xlsnap_ctx *ctx, xlsnap__qmp *q, const char *cmd,
                     yajl_val *ret_r);
int xlsnap__qmp_node_for_file(xlsnap_ctx *ctx, xlsnap__qmp *q,
                              const char *file, char **node_r);
/* merge.c: the image and format the running domain's disk vdev has at
 * its configured path (its active layer); NULL when it has none. */
int xlsnap__active_layer(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                         const char *vdev, char **path_r, char **fmt_r);
/* qcow2_driver.c: a create of the running domain killed while a new
 * overlay had its temporary name (check): found and, with repair, each
 * moved to its configured path; *snap_r the snapshot, *problem_r NULL
 * when there is nothing to say. */
int xlsnap__qcow2_create_recover(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                                 bool repair, char **snap_r,
                                 char **problem_r, char **done_r);
/* Whether QEMU's node name nn is the top of disk vdev's device
 * (xen-block's "<vdev>-<format>" or our snapshots' "xs-<vdev>-<n>"). */
bool xlsnap__qmp_vdev_node(const char *nn, const char *vdev);
/* The top node of disk vdev (its xen-block device; without one, the
 * top whose file is file), QEMU's name of its file (qfile_r) and its
 * virtual size (size_r); either may be NULL. */
int xlsnap__qmp_disk_node(xlsnap_ctx *ctx, xlsnap__qmp *q, const char *vdev,
                          const char *file, char **node_r, char **qfile_r,
                          uint64_t *size_r);
/* NOTSUP for a domain config (libxl-json) whose device model has no
 * QMP socket in dom0 (stub domain). */
int xlsnap__qmp_check_config(xlsnap_ctx *ctx, const char *config_json);
/* Virtual size of disk vdev (top image file). */
int xlsnap__qmp_virtual_size(xlsnap_ctx *ctx, xlsnap__qmp *q,
                             const char *vdev, const char *file,
                             uint64_t *size_r);
/* Every image QEMU has open: each disk's top image (with its node
 * name) and the backing images below it (node NULL), each with the
 * names of its internal snapshots. */
typedef struct {
    char *file, *node;
    struct xlsnap__strset snaps;
} xlsnap__qmp_block;
int xlsnap__qmp_blocks(xlsnap_ctx *ctx, xlsnap__qmp *q,
                       xlsnap__qmp_block **b_r, int *n_r);
void xlsnap__qmp_blocks_free(xlsnap__qmp_block *b, int n);
/* Block jobs (issue 18): the node names of the chain of the disk whose
 * active image is file, top first; a job started with auto-dismiss off,
 * its state, followed to its end (an active commit completed when
 * ready; dismissed at the end). */
void xlsnap__qmp_strv_free(char **v, int n);
typedef struct {
    char *node, *file_node, *file, *drv;
    bool ro, direct, no_flush;
} xlsnap__qmp_layer;
int xlsnap__qmp_chain(xlsnap_ctx *ctx, xlsnap__qmp *q, const char *top,
                      xlsnap__qmp_layer **l_r, int *n_r);
void xlsnap__qmp_chain_free(xlsnap__qmp_layer *l, int n);
int xlsnap__qmp_chain_live(xlsnap_ctx *ctx, xlsnap__qmp *q,
                           const char *vdev, const char *file,
                           char *const *path, int n, char ***nodes_r);
typedef struct {
    const char *id;
    bool commit;                /* block-commit, else block-stream */
    const char *device, *top, *base, *backing_file;
} xlsnap__qmp_job;
typedef enum {
    XLSNAP__JOB_NONE, XLSNAP__JOB_RUNNING, XLSNAP__JOB_READY,
    XLSNAP__JOB_DONE, XLSNAP__JOB_FAILED
} xlsnap__qmp_jobstate;
int xlsnap__qmp_job_start(xlsnap_ctx *ctx, xlsnap__qmp *q,
                          const xlsnap__qmp_job *j);
int xlsnap__qmp_job_query(xlsnap_ctx *ctx, xlsnap__qmp *q, const char *id,
                          xlsnap__qmp_jobstate *st_r, uint64_t *done_r,
                          uint64_t *total_r, char **err_r);
int xlsnap__qmp_job_wait(xlsnap_ctx *ctx, xlsnap__qmp *q, const char *id,
                         const char *what);
int xlsnap__qmp_job_dismiss(xlsnap_ctx *ctx, xlsnap__qmp *q,
                            const char *id);

/* backend/qga.c: the guest's qemu-guest-agent over a PV channel */
typedef struct {
    int fd;
    char *path;              /* the channel's socket */
    bool frozen;             /* a freeze was asked: a thaw is due */
    size_t len;
    char buf[4096];          /* the agent's bytes not yet consumed */
} xlsnap__qga;
void xlsnap__qga_init(xlsnap__qga *g);
void xlsnap__qga_close(xlsnap__qga *g);
/* The socket path of the domain's channel org.qemu.guest_agent.0
 * (connection=socket); NOTFOUND if it has none. */
int xlsnap__qga_channel(xlsnap_ctx *ctx, int64_t domid, char **path_r);
/* Connect to the agent at path and sync (guest-sync-delimited). */
int xlsnap__qga_open(xlsnap_ctx *ctx, const char *path, xlsnap__qga *g);
/* guest-fsfreeze-freeze: *nfs_r file systems frozen.  Whatever it
 * returns, xlsnap__qga_thaw is due. */
int xlsnap__qga_freeze(xlsnap_ctx *ctx, xlsnap__qga *g, int *nfs_r);
/* guest-fsfreeze-thaw if a freeze was asked (reconnects once). */
int xlsnap__qga_thaw(xlsnap_ctx *ctx, xlsnap__qga *g);

/* savefile.c */
int xlsnap__savefile_write_header(xlsnap_ctx *ctx, int fd,
                                  const char *config_json);
int xlsnap__savefile_read_header(xlsnap_ctx *ctx, int fd, char **config_r);

/* zpipe.c: a thread compressing (zstd) what is written into *fd_r into
 * file, or decompressing file into what is read from *fd_r.  The caller
 * closes *fd_r (compress: the end of the stream), then _finish joins the
 * thread and reports its error.  A child forked meanwhile must close
 * z->fd, the thread's end of the pipe. */
#define XLSNAP__ZSTD "zstd"
typedef struct {
    pthread_t thread;
    bool running, compress;
    int fd, file, err;
    uint64_t bytes;          /* bytes written by the thread */
    char msg[256];
} xlsnap__zpipe;
int xlsnap__zpipe_start(xlsnap_ctx *ctx, int file, bool compress,
                        xlsnap__zpipe *z, int *fd_r);
/* report false: join only (an earlier error is already on the ctx) */
int xlsnap__zpipe_finish(xlsnap_ctx *ctx, xlsnap__zpipe *z, bool report);

/* domcfg.c */
typedef struct {
    char *vdev, *path, *format, *backend;
    bool readwrite, cdrom;
} xlsnap__cfgdisk;
/* A copy of the libxl-json config with c_info name / uuid (if not NULL)
 * and, for each disk of disks (by vdev), pdev_path := image and
 * format := format; no libxl context needed. */
int xlsnap__config_rewrite(xlsnap_ctx *ctx, const char *json,
                           const char *name, const char *uuid,
                           const xlsnap_disk *disks, int nr_disks,
                           char **json_r);
int xlsnap__config_disks(xlsnap_ctx *ctx, const char *json,
                         xlsnap__cfgdisk **disks_r, int *nr_r);
/* A copy of the config with disk vdev at path (format); NOTFOUND if the
 * config has no such disk.  The only way the library edits a disk. */
int xlsnap__config_set_disk(xlsnap_ctx *ctx, const char *json,
                            const char *vdev, const char *path,
                            const char *format, char **json_r);
void xlsnap__cfgdisk_list_free(xlsnap__cfgdisk *l, int nr);
/* A configuration for an imported snapshot whose domain has none here,
 * rebuilt from the bundle's json (may be NULL) from an allowlist; the
 * kernel and ramdisk are kept only when they are regular files under
 * one of dirs (NULL-terminated). */
int xlsnap__config_sanitize(xlsnap_ctx *ctx, const char *json,
                            const char *name, const char *uuid,
                            const xlsnap_disk *disks, int nr_disks,
                            const char *const *dirs, char **json_r);

/* backend/libxl.c: the hypervisor */
typedef enum {
    XLSNAP__DOM_GONE, XLSNAP__DOM_RUNNING, XLSNAP__DOM_PAUSED,
    XLSNAP__DOM_SUSPENDED, XLSNAP__DOM_SHUTDOWN,
} xlsnap__domstate;
int xlsnap__hv_state(xlsnap_ctx *ctx, int64_t domid, xlsnap__domstate *st_r);
int xlsnap__hv_config(xlsnap_ctx *ctx, int64_t domid, char **json_r);
int xlsnap__hv_pause(xlsnap_ctx *ctx, int64_t domid, bool pause);
int xlsnap__hv_resume(xlsnap_ctx *ctx, int64_t domid);
int xlsnap__hv_destroy(xlsnap_ctx *ctx, int64_t domid);
/* live: pre-copy while the guest runs, when the hypervisor can track
 * the domain's dirty pages; *live_r says whether it was used. */
int xlsnap__hv_save(xlsnap_ctx *ctx, int64_t domid, int fd,
                    const char *config_json, bool live, bool *live_r);
/* restore_fd >= 0: restore from it (past the xl header), else boot */
int xlsnap__hv_create(xlsnap_ctx *ctx, const char *config_json,
                      int restore_fd, bool paused, int64_t *domid_r);
int xlsnap__hv_monitor(xlsnap_ctx *ctx, int64_t domid, const char *name,
                       const char *config_json);
int xlsnap__hv_set_live_disk(xlsnap_ctx *ctx, int64_t domid,
                             const char *vdev, const char *path,
                             const char *fmt);

/* chain.c */
void xlsnap__set_add(xlsnap__strset *s, const char *x);
void xlsnap__set_add_fmt(xlsnap__strset *s, const char *x, const char *fmt);
const char *xlsnap__set_fmt(const xlsnap__strset *s, const char *x);
bool xlsnap__set_has(const xlsnap__strset *s, const char *x);
/* The position of x in s->v, or -1. */
int xlsnap__set_index(const xlsnap__strset *s, const char *x);
void xlsnap__set_free(xlsnap__strset *s);
void xlsnap__set_add_snapshots(xlsnap__strset *s, yajl_val info);
int xlsnap__live_images(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                        xlsnap__strset *live);
int xlsnap__dependents(xlsnap_ctx *ctx, const char *image,
                       const xlsnap__strset *known, int *n_r, char **one_r);
/* Every image in known based on image is based on base after (header
 * only: base holds the same content). */
int xlsnap__rebase_dependents(xlsnap_ctx *ctx, const char *image,
                              const xlsnap__strset *known, const char *base);
int xlsnap__known_images(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                         const xlsnap_snapshot *l, int nr,
                         xlsnap__strset *known, xlsnap__strset *live);
/* Images a running QEMU has open, as it says (QMP), into live and
 * known. */
int xlsnap__qemu_images(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                        xlsnap__strset *live, xlsnap__strset *known);

/* ops/edit.c */
/* A description to store: valid UTF-8 without control characters
 * (INVAL naming the first one). */
int xlsnap__description_validate(xlsnap_ctx *ctx, const char *desc);
/* Whether a new snapshot may be called name among the records l: no
 * record has that name, and no disk of a record holds an internal
 * snapshot of that name (a renamed snapshot keeps its old one): EXISTS
 * with a message otherwise. */
int xlsnap__name_free(xlsnap_ctx *ctx, const xlsnap_snapshot *l, int nr,
                      const char *name);

/* ops/check_scan.c (issue 19, d2): scans of check over a domain's
 * records.  A parent cycle: cut is the record that repair makes a root
 * (the oldest of the cycle; same creation time: the smallest name),
 * members "a -> b -> a" going up from it. */
typedef struct {
    int cut;
    char *members;
} xlsnap__cycle;
int xlsnap__scan_cycles(xlsnap_ctx *ctx, xlsnap_snapshot *l, int nr,
                        xlsnap__cycle **v_r, int *n_r);
void xlsnap__cycle_list_free(xlsnap__cycle *v, int n);

/* ops/check_scan.c (issue 19, e1): files next to the domain's disk
 * images named as this tool names the images it makes for a snapshot
 * (xlsnap__image_sibling: <dir>/<stem>.<tag>.qcow2 next to
 * <dir>/<stem>.<ext>, tag a valid snapshot name) that no record of
 * the domain (disks, memory, parts file), no stored config, no image
 * the running domain has open (live) and no image of those as its
 * backing file names.  Only lstat'ed: never opened.  Revert's own
 * layers ("before-<name>-<time>", "<name>.rev<time>": the domain's
 * active layers, kept as branches) are not in that scheme. */
typedef struct {
    char *path;
    char *tag;
} xlsnap__stray;
int xlsnap__scan_strays(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                        const xlsnap_snapshot *l, int nr,
                        const xlsnap__strset *live,
                        xlsnap__stray **v_r, int *n_r);
void xlsnap__stray_list_free(xlsnap__stray *v, int n);


/* ---- d1: ops/verify.c: the files a snapshot owns, and what verifies
 * them ----
 * A record's parts file (store_parts_path) lists the files the tool
 * made for the snapshot (imported disk images, the memory image) with
 * their size and SHA-256 when known.  It is written with the record,
 * before any of those files is placed; `check --repair` completes a
 * record only when they verify, and delete removes exactly them. */
typedef struct {
    char *path;
    char *role;              /* "disk" or "memory" */
    uint64_t size;           /* UINT64_MAX: not known */
    char sha256[65];         /* "": not known */
} xlsnap__part;
int xlsnap__parts_write(xlsnap_ctx *ctx, const char *uuid, const char *name,
                        const xlsnap__part *p, int n);
/* No parts file: 0, *p_r NULL, *n_r 0. */
int xlsnap__parts_read(xlsnap_ctx *ctx, const char *uuid, const char *name,
                       xlsnap__part **p_r, int *n_r);
void xlsnap__parts_free(xlsnap__part *p, int n);
/* Whether the data of sn (whose files all exist) verifies: *why_r NULL
 * if it does, else why not (malloc'd); live: images a running QEMU has
 * open (not checked with qemu-img). */
int xlsnap__verify_snapshot(xlsnap_ctx *ctx, const xlsnap_snapshot *sn,
                            const xlsnap__strset *live, char **why_r);
/* Whether path is a file sn's parts file lists (the tool made it). */
bool xlsnap__parts_has(const xlsnap__part *p, int n, const char *path);
/* Whether image is still needed as a backing file: of an image the
 * records name (known), of a disk x's config names, or of any qcow2
 * image in its directory. */
int xlsnap__image_needed(xlsnap_ctx *ctx, const char *image,
                         const xlsnap_snapshot *x,
                         const xlsnap__strset *known, bool *needed_r);
/* backend/qemuimg.c: qemu-img check -f fmt: *why_r NULL when it finds
 * no corruption (leaked clusters are harmless), else its verdict. */
int xlsnap__qimg_check(xlsnap_ctx *ctx, const char *image, const char *fmt,
                       char **why_r);

#endif /* XLSNAP_INTERNAL_H */

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
