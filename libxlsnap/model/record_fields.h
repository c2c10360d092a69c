/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * record_fields.h - the snapshot record, written down once.
 *
 * Every field of xlsnap_snapshot and xlsnap_disk is one line below, in
 * the order of record.json.  record.c (dispose, copy, JSON write and
 * read), index.c (the list index) and the CLI's scrub of outside
 * strings all walk these lists: adding a field is adding a line.
 *
 *   X(member, "json key", KIND, FLAGS)
 *
 * Kinds (each knows its C type; record.c checks it at compile time):
 *   STR    char *: a JSON string or null
 *   COMP   char *: memory compression, NULL or "zstd"
 *   UUID   char *: a domain UUID, checked on read
 *   TIME   int64_t: a non-negative integer
 *   STATE  xlsnap_state: "preparing", "ready", "deleting"
 *   BOOL   bool
 *   TYPE   written only, derived from the disks (member: disks)
 *   DISKS  the disks array (xlsnap_disk, XLSNAP__DISK_FIELDS below),
 *          num_disks long
 *   RAW    char *: a JSON object kept as text (the domain config)
 *   DKIND  xlsnap_disk_kind: "internal", "external", "volume" (disks only)
 *
 * Flags (or'ed, 0 for none):
 *   XLSNAP__F_REQ    reading: missing, null or "" is an error
 *   XLSNAP__F_OMIT   writing: left out when NULL / false
 *   XLSNAP__F_LAX    reading a BOOL: anything but true is false
 *   XLSNAP__F_DOM    inside the "domain" object (fields kept together)
 *   XLSNAP__F_NOIDX  not kept in the list index
 *   XLSNAP__F_INT    disks: only for internal snapshots
 *   XLSNAP__F_EXT    disks: only for external snapshots
 *   XLSNAP__F_FILE   disks: only for snapshot volumes of the driver
 *                    "reflink" (a file copy)
 *   XLSNAP__F_VOL    disks: only for snapshot volumes (LVM: every driver
 *                    but "reflink"); a record
 *                    without "driver" is a qcow2 one (older records)
 *
 * This header needs only libxlsnap.h; the flag macros are defined by
 * whoever reads them (see record.c), so a walker that ignores them (the
 * CLI's scrub) needs nothing else.
 */
#ifndef XLSNAP_RECORD_FIELDS_H
#define XLSNAP_RECORD_FIELDS_H

#define XLSNAP__RECORD_FIELDS(X)                                            \
    X(name,               "name",               STR,   XLSNAP__F_REQ)      \
    X(description,        "description",        STR,   0)                  \
    X(creationtime,       "creationtime",       TIME,  XLSNAP__F_REQ)      \
    X(state,              "state",              STATE, XLSNAP__F_REQ)      \
    X(disks,              "type",               TYPE,  XLSNAP__F_NOIDX)    \
    X(domstate,           "domstate",           STR,   0)                  \
    X(memory,             "memory",             STR,   0)                  \
    X(memory_compression, "memory_compression", COMP,  XLSNAP__F_OMIT)     \
    X(memory_live,        "memory_live",        BOOL,                      \
      XLSNAP__F_OMIT | XLSNAP__F_LAX)                                       \
    X(consistency,        "consistency",        STR,   XLSNAP__F_OMIT)     \
    X(parent,             "parent",             STR,   0)                  \
    X(current,            "current",            BOOL,  0)                  \
    X(domain_name,        "name",               STR,   XLSNAP__F_DOM)      \
    X(domain_uuid,        "uuid",               UUID,                      \
      XLSNAP__F_DOM | XLSNAP__F_REQ | XLSNAP__F_NOIDX)                      \
    X(disks,              "disks",              DISKS, 0)                  \
    X(config_json,        "config",             RAW,   XLSNAP__F_NOIDX)

#define XLSNAP__DISK_FIELDS(X)                                              \
    X(vdev,               "vdev",               STR,   XLSNAP__F_REQ)      \
    X(format,             "format",             STR,   XLSNAP__F_REQ)      \
    X(image,              "image",              STR,   XLSNAP__F_REQ)      \
    X(kind,               "snapshot",           DKIND, XLSNAP__F_REQ)      \
    X(internal_name,      "internal_name",      STR,                       \
      XLSNAP__F_REQ | XLSNAP__F_INT)                                        \
    X(overlay,            "overlay",            STR,   XLSNAP__F_EXT)      \
    X(backing,            "backing",            STR,                       \
      XLSNAP__F_REQ | XLSNAP__F_EXT)                                        \
    X(driver,             "driver",             STR,   XLSNAP__F_OMIT)     \
    X(volume_group,       "volume_group",       STR,                       \
      XLSNAP__F_REQ | XLSNAP__F_VOL)                                        \
    X(volume,             "volume",             STR,                       \
      XLSNAP__F_REQ | XLSNAP__F_VOL)                                        \
    X(snapshot_volume,    "snapshot_volume",    STR,                       \
      XLSNAP__F_REQ | XLSNAP__F_VOL)                                        \
    X(reused,             "reused_from",        STR,                       \
      XLSNAP__F_EXT | XLSNAP__F_OMIT)                                       \
    X(snapshot_file,      "snapshot_file",      STR,                       \
      XLSNAP__F_REQ | XLSNAP__F_FILE)

#endif

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
