/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * libxlsnap.h - snapshots for Xen domains managed by libxl (xl)
 *
 * This is the only public header of libxlsnap.  It exposes no libxl
 * types: a toolstack can use it without LIBXL_API_VERSION games.
 *
 * Conventions (as in libxl):
 *  - Every function that can fail returns 0 or a negative XLSNAP_ERROR_*
 *    and leaves a human readable message on the context, fetched with
 *    xlsnap_last_error(), and, where the caller can act on it, an advice
 *    code, xlsnap_error_hint().  Messages name no option of any program.
 *    The library never prints, never exits and never aborts.
 *  - Structs have _init() and _dispose(): call _init() before any use
 *    (also for out parameters) and _dispose() exactly once afterwards,
 *    whatever the outcome.  _dispose() is idempotent.
 *  - Handles have _alloc() and _free(); _free(NULL) is a no-op.
 *  - Output parameters come last and end in _r.  Strings returned in
 *    structs are owned by the struct and freed by its _dispose().
 */
#ifndef LIBXLSNAP_H
#define LIBXLSNAP_H

#include <stdbool.h>
#include <stdint.h>
#include <xentoollog.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XLSNAP_VERSION "0.1.0"

/* Error codes: always negative.  0 is success. */
enum {
    XLSNAP_ERROR_FAIL       = -1,  /* unspecified failure */
    XLSNAP_ERROR_INVAL      = -2,  /* invalid argument or input */
    XLSNAP_ERROR_NOTFOUND   = -3,  /* no such domain / snapshot / file */
    XLSNAP_ERROR_EXISTS     = -4,  /* name already taken */
    XLSNAP_ERROR_BUSY       = -5,  /* another operation holds the lock */
    XLSNAP_ERROR_NOTSUP     = -6,  /* not supported for this domain/disk */
    XLSNAP_ERROR_HYPERVISOR = -7,  /* libxl / hypervisor failure */
    XLSNAP_ERROR_CORRUPT    = -8,  /* malformed record or bundle */
    XLSNAP_ERROR_IO         = -9,  /* read/write/fsync failure */
    XLSNAP_ERROR_NOSPACE    = -10, /* ENOSPC / EDQUOT */
    XLSNAP_ERROR_PERM       = -11, /* permission denied, unsafe file */
    XLSNAP_ERROR_NOMEM      = -12,
};

/*
 * Versions.  XLSNAP_VERSION is the header's; xlsnap_version() is the
 * library's that this process runs with (they differ when a program
 * is run against a newer libxlsnap0).  xlsnap_libxl_built_version()
 * is the libxenlight libxlsnap was compiled against (its pkg-config
 * version, e.g. "4.17.0"); xlsnap_libxl_runtime_version() the one
 * loaded in this process, from the file the dynamic linker loaded
 * (e.g. "4.20.0" for libxenlight.so.4.20.0), or NULL when that cannot
 * be told (libxenlight linked statically).  All are static strings.
 */
const char *xlsnap_version(void);
const char *xlsnap_libxl_built_version(void);
const char *xlsnap_libxl_runtime_version(void);

/* Longest snapshot name, in bytes. */
#define XLSNAP_NAME_MAX 255
/* The largest snapshot record (JSON) the store writes or reads, import
 * and redefine accept: 16 MiB. */
#define XLSNAP_RECORD_MAX (16u << 20)

typedef struct xlsnap_ctx xlsnap_ctx;

#define XLSNAP_DEFAULT_STATE_DIR "/var/lib/xen/snapshots"

/*
 * Context.  state_dir NULL means XL_SNAPSHOT_DIR from the environment
 * or else the default /var/lib/xen/snapshots.  lg may be NULL; it is
 * only handed to libxl, which the context creates lazily, the first
 * time an operation needs the hypervisor.
 */
int xlsnap_ctx_alloc(xlsnap_ctx **ctx_r, const char *state_dir,
                     xentoollog_logger *lg);
/* Free the context and the libxl context it made; NULL is a no-op. */
void xlsnap_ctx_free(xlsnap_ctx *ctx);
/* The state directory in use; borrowed from ctx. */
const char *xlsnap_state_dir(const xlsnap_ctx *ctx);

/* Message of the last failure on ctx; borrowed, valid until next call. */
const char *xlsnap_last_error(const xlsnap_ctx *ctx);
/* The warning left by the last call that succeeded degraded (create
 * with quiesce, when the guest agent could not freeze: the snapshot is
 * crash-consistent), or NULL; borrowed, valid until the next such
 * call. */
const char *xlsnap_last_warning(const xlsnap_ctx *ctx);
/* The disk space, in bytes, the last xlsnap_delete freed by merging
 * external snapshot layers away: the removed layers' allocation less
 * what the layers that took their data grew by (0 when none went; may
 * be negative). */
long long xlsnap_last_freed(const xlsnap_ctx *ctx);
/* What the last delete with XLSNAP_DELETE_MERGE_PARENT discarded (or,
 * refused, would discard): the i-th line, or NULL past the last. */
const char *xlsnap_last_discarded(const xlsnap_ctx *ctx, int i);
/* An image's allocated disk space (bytes) and the depth of its backing
 * chain (1: no backing file), as its headers say (backing files whose
 * format is recorded are followed, qcow2 only): an external snapshot's
 * layer (xlsnap_disk.backing) for list -l. */
int xlsnap_image_chain(xlsnap_ctx *ctx, const char *image,
                       const char *format, long long *used_r, int *depth_r);
/* Generic text for an error code ("not found", ...). */
const char *xlsnap_strerror(int rc);

/*
 * What the caller could do about the last failure on ctx, as a code a
 * program turns into advice in its own terms (the library's messages
 * name no command-line option of any program).  Set together with the
 * message by the failing call, XLSNAP_HINT_NONE when there is no
 * advice; valid until the next call that fails.
 */
typedef enum {
    XLSNAP_HINT_NONE = 0,
    /* create: the domain is not running, so there is no memory to
     * save: create with memory = 0 */
    XLSNAP_HINT_NO_MEMORY,
    /* create: compress was given, but the snapshot has no memory image
     * to compress */
    XLSNAP_HINT_COMPRESS_NEEDS_MEMORY,
    /* create: no_metadata keeps no record, and a memory image without
     * one cannot be reverted: create with memory = 0 */
    XLSNAP_HINT_NO_METADATA_NEEDS_DISK_ONLY,
    /* create: a raw disk takes only an external snapshot: create with
     * type XLSNAP_DISK_EXTERNAL */
    XLSNAP_HINT_EXTERNAL,
    /* create: the domain is off and no configuration is stored: pass
     * its configuration (config_json), or start the domain */
    XLSNAP_HINT_DOMAIN_CONFIG,
    /* the snapshot is incomplete (an operation was interrupted): run
     * xlsnap_check() with repair */
    XLSNAP_HINT_RUN_CHECK_REPAIR,
    /* revert: the domain runs and would lose its state: revert with
     * XLSNAP_REVERT_FORCE (or take a snapshot first) */
    XLSNAP_HINT_FORCE,
    /* a domain name is ambiguous: name the domain by UUID (see
     * xlsnap_set_domain_uuid(), or give the UUID as the domain) */
    XLSNAP_HINT_PICK_UUID,
    /* as XLSNAP_HINT_PICK_UUID, where the running domain's own UUID,
     * which has no history yet, is one of the choices */
    XLSNAP_HINT_PICK_UUID_NEW,
    /* export: the base snapshot lacks a disk: export without a base */
    XLSNAP_HINT_EXPORT_FULL,
    /* import: as_domain must be a domain name, not a UUID */
    XLSNAP_HINT_AS_DOMAIN_NAME,
    /* import: no place is known for an imported disk: give disk_dir */
    XLSNAP_HINT_DISK_DIR,
    /* import: an imported disk's image exists at its place: give
     * another disk_dir */
    XLSNAP_HINT_DISK_DIR_TAKEN,
    /* create: quiesce applies to a disk-only snapshot (a memory image
     * is consistent by itself): create with memory = 0 */
    XLSNAP_HINT_QUIESCE_NEEDS_DISK_ONLY,
} xlsnap_hint;

/* The advice code of the last failure on ctx (XLSNAP_HINT_NONE: none). */
xlsnap_hint xlsnap_error_hint(const xlsnap_ctx *ctx);

/* Seconds to wait for the per-domain lock before XLSNAP_ERROR_BUSY
 * (default 30; 0 = fail at once). */
void xlsnap_set_lock_timeout(xlsnap_ctx *ctx, int seconds);

/*
 * Progress of long operations (memory save, export, import).  fn gets
 * what is being done ("memory", "xvda", ...), bytes done and bytes in
 * all (0 when unknown); it is called at most a few times a second, and
 * once more with done == total when a part is complete.  The memory
 * save of xlsnap_create() reports from a watcher thread of the library
 * while libxl writes the image (the calling thread is blocked in
 * libxl); calls are serialised, never concurrent, and all have
 * returned when the operation returns.  fn NULL: no reports (the
 * default).
 */
typedef void xlsnap_progress_fn(void *user, const char *what,
                                uint64_t done, uint64_t total);
void xlsnap_set_progress(xlsnap_ctx *ctx, xlsnap_progress_fn *fn,
                         void *user);

/* --- Names ---------------------------------------------------------- */

/*
 * A snapshot name: 1..XLSNAP_NAME_MAX bytes, no '/', no leading '.',
 * no control characters.  Returns 0 or XLSNAP_ERROR_INVAL with a
 * message saying what is wrong.
 */
int xlsnap_name_validate(xlsnap_ctx *ctx, const char *name);

/* --- Domains --------------------------------------------------------- */

typedef struct {
    char *name;        /* may be NULL when only the UUID is known */
    char *uuid;        /* canonical lower-case UUID text */
    int64_t domid;     /* -1: not running on this host */
    char *adopted_from; /* set by xlsnap_domain_resolve when the
                           history recorded under this name with that
                           (older) UUID became this domain's */
} xlsnap_domain;

/* Empty domain (domid -1) / free its strings. */
void xlsnap_domain_init(xlsnap_domain *d);
void xlsnap_domain_dispose(xlsnap_domain *d);

/*
 * Resolve a domain given as UUID, domid or name.  A UUID needs no
 * hypervisor.  A name or domid is looked up among running domains (if
 * a hypervisor is reachable); a name not running is looked up in the
 * domain names stored in the snapshot records, so snapshots of a
 * destroyed domain stay reachable by name.
 */
int xlsnap_domain_resolve(xlsnap_ctx *ctx, const char *spec,
                          xlsnap_domain *dom_r);

/*
 * Identity by name.  xl gives a domain a new UUID at every `xl create`
 * of a config without uuid=.  When the domain running under a name has
 * no history of its own and exactly one history is recorded under that
 * name whose UUID no running domain has, resolve adopts it: the
 * records learn the new UUID (dom_r->adopted_from says so).  Two
 * histories under one name, or the history's UUID still running, are
 * ambiguous: INVAL with a message listing the candidates, unless
 * xlsnap_set_domain_uuid() picked one (a history's UUID, or the
 * running domain's own UUID for a history of its own).  NULL: no pick.
 * Out of memory here makes xlsnap_domain_resolve() fail with
 * XLSNAP_ERROR_NOMEM until the next call.
 */
void xlsnap_set_domain_uuid(xlsnap_ctx *ctx, const char *uuid);

/*
 * The domain an xl config file describes (the admin's own, as given to
 * `xl create`; parsed with libxlutil, nothing in it is run or opened):
 * the running domain of its name, else the history of its uuid= or of
 * its name (as xlsnap_domain_resolve), else a new history with a new
 * UUID.  For a domain that is not running, *config_json_r (free() it)
 * is the libxl-json configuration it would be created with: xl's own
 * (`xl -N create`) when a hypervisor is reachable, else its name, UUID,
 * type and disks; NULL for a running domain.
 */
int xlsnap_domain_from_config(xlsnap_ctx *ctx, const char *path,
                              xlsnap_domain *dom_r, char **config_json_r);

/*
 * Every domain with snapshots in the state dir (no hypervisor needed),
 * sorted by name: the domain name stored in its newest record (NULL
 * when no record can be read) and its UUID; domid is -1.  Free the list
 * with xlsnap_domain_list_free().
 */
int xlsnap_list_domains(xlsnap_ctx *ctx, xlsnap_domain **list_r,
                        int *nr_r);
void xlsnap_domain_list_free(xlsnap_domain *list, int nr);

/* --- Snapshots ------------------------------------------------------- */

typedef enum {
    XLSNAP_STATE_PREPARING = 0,  /* parts may be missing; not revertable */
    XLSNAP_STATE_READY = 1,
    XLSNAP_STATE_DELETING = 2,   /* a delete began: its data may be gone */
} xlsnap_state;

typedef enum {
    XLSNAP_DISK_INTERNAL = 1,    /* qcow2 internal snapshot */
    XLSNAP_DISK_EXTERNAL = 2,    /* new overlay on top of the old image */
    XLSNAP_DISK_VOLUME = 3,      /* a snapshot volume or copy (driver: "lvm",
                                  * "reflink") */
} xlsnap_disk_kind;

typedef struct {
    char *vdev;           /* "xvda" */
    char *format;         /* format of image: "qcow2", "raw" */
    char *image;          /* image the domain used when snapshotted */
    xlsnap_disk_kind kind;
    char *internal_name;  /* INTERNAL: snapshot name inside image */
    char *overlay;        /* EXTERNAL: overlay created by the snapshot */
    char *backing;        /* EXTERNAL: image holding the snapshot data */
    char *driver;         /* storage driver: NULL = "qcow2", "lvm",
                           * "reflink" */
    char *volume_group;   /* VOLUME (lvm): the LVM volume group */
    char *volume;         /* VOLUME (lvm): the origin LV (the disk) */
    char *snapshot_volume; /* VOLUME (lvm): the snapshot LV holding the data */
    char *snapshot_file;  /* VOLUME (reflink): the reflink copy of image */
    char *reused;         /* EXTERNAL: the overlay was made beforehand at
                             this path (reuse_external); NULL: by us */
} xlsnap_disk;

/* Empty disk entry / free its strings. */
void xlsnap_disk_init(xlsnap_disk *d);
void xlsnap_disk_dispose(xlsnap_disk *d);

typedef struct {
    char *name;
    char *description;       /* NULL: none */
    int64_t creationtime;    /* seconds since the epoch */
    xlsnap_state state;
    char *domstate;          /* domain state when taken: "running",
                                "paused", "shutoff" */
    char *memory;            /* memory image (xl save format) or NULL */
    char *memory_compression; /* NULL: plain `xl restore` image; "zstd":
                                 the image compressed as one zstd stream */
    bool memory_live;        /* memory saved with live pre-copy */
    char *parent;            /* NULL: a root */
    bool current;
    char *domain_name;
    char *domain_uuid;
    int num_disks;
    xlsnap_disk *disks;
    char *config_json;       /* libxl_domain_config as libxl-json text */
    char *consistency;       /* of the disks, when quiesce was asked:
                                "filesystem" (the guest agent froze the
                                guest's file systems) or "crash" (it
                                could not: as after a power cut); NULL
                                otherwise */
} xlsnap_snapshot;

/* Empty snapshot / free its strings and disks; free a list from
 * xlsnap_list() (each entry disposed, then the array). */
void xlsnap_snapshot_init(xlsnap_snapshot *s);
void xlsnap_snapshot_dispose(xlsnap_snapshot *s);
void xlsnap_snapshot_list_free(xlsnap_snapshot *list, int nr);

/* "internal", "external", "volume", "mixed" or "none" (memory only / no
 * disks). */
const char *xlsnap_snapshot_type(const xlsnap_snapshot *s);
/* "preparing" or "ready". */
const char *xlsnap_state_name(xlsnap_state st);

/*
 * All snapshots of a domain, sorted by creation time (then name).
 * A domain without snapshots gives *nr_r = 0 and success.
 */
int xlsnap_list(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                xlsnap_snapshot **list_r, int *nr_r);

/*
 * As xlsnap_list, but every config_json is NULL: read from an index
 * of the records (checked against them, rebuilt when they changed), so
 * that listing thousands of snapshots stays fast.
 */
int xlsnap_list_summary(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                        xlsnap_snapshot **list_r, int *nr_r);

/* One snapshot by name. */
int xlsnap_get(xlsnap_ctx *ctx, const xlsnap_domain *dom,
               const char *name, xlsnap_snapshot *snap_r);

/* Make name the current snapshot (no revert). */
int xlsnap_set_current(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                       const char *name);

/* Store a record (create or replace) under the domain lock. */
int xlsnap_record_store(xlsnap_ctx *ctx, const xlsnap_snapshot *snap);

/* JSON text (libxl-json style) of one snapshot / of a domain's list.
 * *json_r is malloc'd; free() it. */
int xlsnap_snapshot_to_json(xlsnap_ctx *ctx, const xlsnap_snapshot *s,
                            char **json_r);
int xlsnap_list_to_json(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                        const xlsnap_snapshot *list, int nr,
                        char **json_r);
/* A writer of JSON text: 0, or nonzero to stop. */
typedef int (*xlsnap_json_write_fn)(void *arg, const char *buf,
                                    size_t len);
/* The same text as xlsnap_list_to_json, handed to write(arg, buf, len)
 * piece by piece, one snapshot at a time, so that memory does not grow
 * with nr: an element of list without its config takes it from the list
 * index when it is one of the summaries the last xlsnap_list_summary on
 * this ctx gave (or a shallow copy of one), else is read in full from
 * the store when its turn comes (one removed since is left out).  write returns 0, or nonzero to
 * stop (XLSNAP_ERROR_IO). */
int xlsnap_list_json_write(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                           const xlsnap_snapshot *list, int nr,
                           xlsnap_json_write_fn write, void *arg);
/* Parse a record from JSON text (as written by the store). */
int xlsnap_snapshot_from_json(xlsnap_ctx *ctx, const char *json,
                              xlsnap_snapshot *snap_r);

/* --- Snapshot config files (xl.cfg syntax) ---------------------------- */

typedef enum {
    XLSNAP_MEMORY_DEFAULT = 0,   /* not set: decided by the command
                                    (a parsed file without memory= is
                                    XLSNAP_MEMORY_NO: disk-only) */
    XLSNAP_MEMORY_NO,
    XLSNAP_MEMORY_YES,           /* default path in the state dir */
    XLSNAP_MEMORY_PATH,          /* memory_path */
} xlsnap_memory_mode;

typedef struct {
    char *vdev;
    char *format;            /* NULL: keep the disk's format */
    char *target;            /* external: the frozen layer's path (with
                                reuse_external: the pre-created overlay);
                                NULL: default */
    xlsnap_disk_kind kind;   /* 0: the snapshot's default type */
    bool exclude;            /* 'vdev=xvdb,snapshot=no' style: skip */
} xlsnap_cfg_disk;

typedef struct {
    char *name;              /* NULL: default (creation time) */
    char *description;
    int64_t creationtime;    /* parsed but ignored on create; -1 unset */
    xlsnap_memory_mode memory;
    char *memory_path;
    xlsnap_disk_kind type;   /* 0: unset */
    int num_disks;
    xlsnap_cfg_disk *disks;
    bool reuse_external;     /* reuse_external="yes": targets name
                                pre-created overlays */
    bool quiesce;            /* quiesce=1: freeze the guest's file
                                systems (xlsnap_create_params.quiesce) */
    char *snapshot_size;     /* snapshot_size="SIZE"|"N%": classic LVM
                                snapshot volumes' size
                                (xlsnap_create_params.snapshot_size) */
} xlsnap_config;

/* Empty config (nothing set) / free what it holds. */
void xlsnap_config_init(xlsnap_config *c);
void xlsnap_config_dispose(xlsnap_config *c);

/* Parse a snapshot config file.  Errors name "file:line".  A file
 * without memory= gets XLSNAP_MEMORY_NO (disk-only, as in xl's original
 * snapshot design); a disk entry 'VDEV=/abs/path[,type=qcow2]' (that
 * design's form) is an external qcow2 snapshot, as
 * 'vdev=VDEV,format=qcow2,target=/abs/path'. */
int xlsnap_config_parse_file(xlsnap_ctx *ctx, const char *path,
                             xlsnap_config *cfg_r);
/* The settings of a parsed config as JSON text; free() *json_r. */
int xlsnap_config_to_json(xlsnap_ctx *ctx, const xlsnap_config *c,
                          char **json_r);

/* --- Create, revert, delete ------------------------------------------ */

/*
 * Whether size is a valid xlsnap_create_params.snapshot_size: "SIZE" (a
 * positive number with a unit K, M, G or T, powers of 1024) or "N%" (N
 * from 1 to 100, of the origin volume).  0, or INVAL with the reason.
 */
int xlsnap_snapshot_size_check(xlsnap_ctx *ctx, const char *size);

/* A classic LVM snapshot store this full (%) or more is warned about. */
#define XLSNAP_FILL_WARN_PERCENT 80
/*
 * What puts a snapshot's data at risk, though it is sound now: a
 * classic LVM snapshot volume whose copy-on-write store is
 * XLSNAP_FILL_WARN_PERCENT % full or more (it becomes invalid, its data
 * lost, when full).  Asks the storage (lvs).  *list_r: nr_r sentences
 * (free with xlsnap_warning_list_free); none: NULL, 0.
 */
int xlsnap_snapshot_warnings(xlsnap_ctx *ctx, const xlsnap_snapshot *s,
                             char ***list_r, int *nr_r);
void xlsnap_warning_list_free(char **list, int nr);

typedef struct {
    const char *name;          /* NULL: creation time in epoch seconds */
    const char *description;
    int memory;                /* -1: default (yes if running), 0, 1 */
    const char *memory_path;   /* NULL: <state>/<uuid>/<name>/memory.save */
    xlsnap_disk_kind type;     /* 0: internal (external for raw disks) */
    bool live;                 /* save memory with live pre-copy (when
                                  the hypervisor can track the domain's
                                  dirty pages; snap_r->memory_live says
                                  whether it did) */
    const char *compress;      /* NULL, or "zstd": compress the memory
                                  image as it is written */
    bool dry_run;              /* plan only: fill snap_r, change nothing */
    bool no_metadata;          /* take the disk snapshots, keep no record
                                  (disk-only; see xlsnap_redefine) */
    const xlsnap_cfg_disk *disks;  /* NULL: every writable disk */
    int num_disks;
    const char *config_json;   /* a domain that is not running: its
                                  libxl-json config (as from
                                  xlsnap_domain_from_config); NULL: the
                                  one stored with its latest snapshot */
    bool reuse_external;       /* external disks: each disk's target
                                  names an overlay the caller made
                                  (qcow2, backing file the disk's image,
                                  empty); the frozen layer gets the
                                  default path and the overlay takes the
                                  configured path */
    bool quiesce;              /* disk-only snapshot of a running domain:
                                  freeze the guest's file systems through
                                  its qemu-guest-agent (xl channel
                                  org.qemu.guest_agent.0) while the disks
                                  are snapshotted; without an agent that
                                  answers, go on crash-consistent with a
                                  warning (xlsnap_last_warning).  Refused
                                  with memory (INVAL, hint
                                  QUIESCE_NEEDS_DISK_ONLY); nothing to do
                                  for a domain that is not running */
    const char *snapshot_size; /* disks on classic (thick) LVM volumes:
                                  the size of each snapshot volume's
                                  copy-on-write store, "SIZE" (a number
                                  with a unit K, M, G or T, powers of
                                  1024) or "N%" of the origin volume
                                  (xlsnap_snapshot_size_check); NULL: 20%
                                  of the origin, at least 64 MiB, at most
                                  the origin's size */
} xlsnap_create_params;

/* Defaults: no name, memory -1 (yes if running), internal, every
 * writable disk. */
void xlsnap_create_params_init(xlsnap_create_params *p);

/*
 * Take a snapshot.  Running domain: memory (xl save format) and/or
 * disks through QEMU's monitor, all disks in one transaction, while the
 * guest is suspended (or paused, for disk-only); then it resumes.  A
 * domain that is not running: qemu-img on its disks, using the config
 * stored with its latest snapshot.  The snapshot becomes current; its
 * parent is the previous current one.  *snap_r gets the record.
 */
int xlsnap_create(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                  const xlsnap_create_params *p, xlsnap_snapshot *snap_r);

enum {
    XLSNAP_REVERT_RUNNING = 1 << 0,   /* end running */
    XLSNAP_REVERT_PAUSED  = 1 << 1,   /* end paused */
    XLSNAP_REVERT_FORCE   = 1 << 2,   /* discard a running domain's state */
};

/*
 * Revert the domain to a snapshot: destroy it if it runs (needs
 * XLSNAP_REVERT_FORCE), put every disk back, then restore the memory
 * image (snapshots with memory) or leave the domain off (disk-only),
 * unless RUNNING / PAUSED say otherwise.  The snapshot becomes current.
 */
int xlsnap_revert(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                  const char *name, unsigned flags);

enum {
    XLSNAP_DELETE_CHILDREN      = 1 << 0, /* also all descendants */
    XLSNAP_DELETE_CHILDREN_ONLY = 1 << 1, /* only the descendants */
    XLSNAP_DELETE_METADATA      = 1 << 2, /* only the record */
    /* external qcow2 snapshots: the layer above the snapshot's own is
     * folded down into it, then the layer above and the record go;
     * refused (XLSNAP_ERROR_EXISTS, xlsnap_last_discarded says who)
     * while other snapshots need its layer's current content */
    XLSNAP_DELETE_MERGE_PARENT  = 1 << 3,
    XLSNAP_DELETE_FORCE         = 1 << 4, /* MERGE_PARENT: discard them */
};

/* Delete a snapshot: its disk snapshots, memory image and record. */
int xlsnap_delete(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                  const char *name, unsigned flags);

/* --- Export, import, redefine, prune ---------------------------------- */

typedef struct {
    const char *base;   /* NULL: full bundle; else a delta on this one */
    const char *dir;    /* write the bundle into this new directory, or */
    int fd;             /* (dir NULL) one tar stream to this fd */
    const char *compress;   /* NULL or "zstd": memory and disks */
} xlsnap_export_params;

/* Defaults: full, no compression, no destination (fd -1). */
void xlsnap_export_params_init(xlsnap_export_params *p);

/*
 * Export snapshot name as a bundle: manifest (format, domain, chain,
 * size + SHA-256 of every part), the record, the memory image, and per
 * disk a qcow2 holding the disk at the snapshot (full) or only the
 * clusters that differ from the base snapshot (delta).  Reads only
 * snapshot data (internal snapshots, read-only backing images), never a
 * disk a running domain writes.  *bytes_r (may be NULL): bundle size.
 */
int xlsnap_export(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                  const char *name, const xlsnap_export_params *p,
                  uint64_t *bytes_r);

typedef struct {
    const char *dir;        /* read the bundle from this directory, or */
    int fd;                 /* (dir NULL) a tar stream from this fd */
    const char *disk_dir;   /* NULL: next to the images in the record */
    const char *as_domain;  /* NULL: the bundle's domain (name and UUID) */
    const char *kernel_dir; /* NULL: an imported config keeps no kernel
                               or ramdisk; else those under this dir */
    const char *volume_group; /* NULL; else "VG" (classic LVs) or
                               "VG/POOL" (thin LVs in that pool): each
                               disk becomes a new LV there, tagged
                               xlsnap-imported, with a snapshot LV of
                               the lvm driver; full bundles only */
} xlsnap_import_params;

/* Defaults: no source (fd -1), disks next to the recorded images, the
 * bundle's domain. */
void xlsnap_import_params_init(xlsnap_import_params *p);

/*
 * Import a bundle: verify every checksum first (nothing is written for
 * a bundle that does not verify), place the disks (never over an
 * existing file) and the memory image, and record the snapshot, with
 * its parent when that exists here.  Imported disks are recorded as
 * external snapshots: a revert puts a new overlay on them.  A delta
 * needs its base snapshot imported first.  *snap_r gets the record.
 */
int xlsnap_import(xlsnap_ctx *ctx, const xlsnap_import_params *p,
                  xlsnap_snapshot *snap_r);

enum { XLSNAP_REDEFINE_CURRENT = 1 << 0 };

/*
 * Re-create the record of a snapshot whose data exists (replicated or
 * rebuilt hosts): record_json as written by the store or by info
 * --json.  The disks' images, internal snapshots, backing images and
 * the memory image must exist; the parent, if named, must exist.  The
 * record is stored for domain dom, ready; without a "config" it gets
 * the domain configuration of the domain's latest snapshot.
 */
int xlsnap_redefine(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                    const char *record_json, unsigned flags,
                    xlsnap_snapshot *snap_r);

typedef struct {
    int keep_last;      /* the N newest; 0: rule not used */
    int keep_daily;     /* the newest of each of the N latest days */
    int keep_weekly;    /* the newest of each of the N latest ISO weeks */
} xlsnap_prune_policy;

/*
 * Which snapshots a retention policy keeps: keep_r[i] for list[i]
 * (list as from xlsnap_list).  Days and weeks are local time.  Records
 * that are not ready are always kept.  INVAL if no rule is set.
 */
int xlsnap_prune_select(xlsnap_ctx *ctx, const xlsnap_snapshot *list,
                        int nr, const xlsnap_prune_policy *pol,
                        bool *keep_r);

/* --- Edit and halt (xl-snapshot edit, create --halt) ----------------- */

typedef struct {
    const char *description;   /* NULL: unchanged; "": none */
    const char *new_name;      /* NULL: unchanged */
} xlsnap_edit_params;

/* Defaults: change nothing. */
void xlsnap_edit_params_init(xlsnap_edit_params *p);

/*
 * Change what the record of a ready snapshot says: its description
 * (valid UTF-8, no control characters) and its name (as
 * xlsnap_name_validate; EXISTS if the domain has a snapshot of that
 * name).  A rename changes only the name users see: the disks keep
 * their internal snapshot names and image files, and the record keeps
 * them; the memory image moves with the record; children name the new
 * parent; a current snapshot stays current.  Interrupted (a crash), a
 * rename leaves the snapshot under both names at worst, never under
 * none: the same rename again completes it.  *snap_r (may be NULL):
 * the record as stored.
 */
int xlsnap_edit(xlsnap_ctx *ctx, const xlsnap_domain *dom,
                const char *name, const xlsnap_edit_params *p,
                xlsnap_snapshot *snap_r);

/*
 * Stop a domain at once, as `xl destroy` does (nothing in the guest
 * runs, it is not asked to shut down): what a snapshot with memory
 * captured is kept in that snapshot.  A domain that is not running
 * (domid -1, or gone): nothing to do, success.
 */
int xlsnap_halt(xlsnap_ctx *ctx, const xlsnap_domain *dom);

/* --- Check and repair ------------------------------------------------ */

/* One finding of xlsnap_check. */
typedef struct {
    char *domain_uuid;       /* NULL: not about one domain (the
                                staging dir of an import) */
    char *domain_name;       /* NULL: unknown */
    char *snapshot;          /* NULL: not about one snapshot */
    char *kind;              /* "incomplete-create", "interrupted-delete",
                                "interrupted-revert", "missing-data",
                                "orphan", "broken-parent", "parent-cycle",
                                "multiple-current", "unreadable",
                                "frozen-layer-configured" */
    char *message;           /* one line */
    bool repaired;
    char *repair;            /* what repair did, or why it failed */
} xlsnap_problem;

/* Init / dispose one finding; free a list of nr of them. */
void xlsnap_problem_init(xlsnap_problem *p);
void xlsnap_problem_dispose(xlsnap_problem *p);
void xlsnap_problem_list_free(xlsnap_problem *list, int nr);

/*
 * Find what interrupted operations left (incomplete creates, deletes
 * and reverts, files no snapshot uses, staging dirs of killed exports
 * and imports) and records that are broken (missing data, dangling
 * parents, several current).  dom NULL: every domain in the state dir,
 * and the state dir itself.  repair: complete or roll back each
 * operation so that every remaining snapshot can be reverted and no
 * data of a ready snapshot is lost (missing data cannot be repaired;
 * nor an image next to the domain's disks named as the library names a
 * snapshot's image that nothing owns: kind "orphan", never removed,
 * repair says why).
 * Success even when problems are found; *list_r lists them.
 */
int xlsnap_check(xlsnap_ctx *ctx, const xlsnap_domain *dom, bool repair,
                 xlsnap_problem **list_r, int *nr_r);
/* {"clean": bool, "problems": [...]}; clean: none left unrepaired. */
int xlsnap_problems_to_json(xlsnap_ctx *ctx, const xlsnap_problem *list,
                            int nr, char **json_r);

#ifdef __cplusplus
}
#endif

#endif /* LIBXLSNAP_H */
