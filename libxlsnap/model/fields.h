/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * fields.h - the record's field tables (record_fields.h) as data, for
 * the library's walkers: record.c (dispose, copy, JSON) and index.c.
 * Included by internal.h.
 */
#ifndef XLSNAP_MODEL_FIELDS_H
#define XLSNAP_MODEL_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "libxlsnap.h"
#include "model/record_fields.h"

#define XLSNAP__F_REQ   (1u << 0)
#define XLSNAP__F_OMIT  (1u << 1)
#define XLSNAP__F_LAX   (1u << 2)
#define XLSNAP__F_DOM   (1u << 3)
#define XLSNAP__F_NOIDX (1u << 4)
#define XLSNAP__F_INT   (1u << 5)
#define XLSNAP__F_EXT   (1u << 6)
#define XLSNAP__F_VOL   (1u << 7)
#define XLSNAP__F_FILE  (1u << 8)

typedef enum {
    XLSNAP__FK_STR,
    XLSNAP__FK_COMP,
    XLSNAP__FK_UUID,
    XLSNAP__FK_TIME,
    XLSNAP__FK_STATE,
    XLSNAP__FK_BOOL,
    XLSNAP__FK_TYPE,
    XLSNAP__FK_DISKS,
    XLSNAP__FK_RAW,
    XLSNAP__FK_DKIND,
} xlsnap__field_kind;

typedef struct {
    const char *key;            /* JSON key */
    xlsnap__field_kind kind;
    unsigned flags;             /* XLSNAP__F_* */
    size_t off;                 /* of the member in its struct */
} xlsnap__field;

/* The tables, in record.json order; each ends with a NULL key. */
extern const xlsnap__field xlsnap__record_fields[];
extern const xlsnap__field xlsnap__disk_fields[];

/* The member of f in the struct at base. */
#define XLSNAP__AT(type, base, f) ((type *)((char *)(base) + (f)->off))

/* Strings: a NULL-able, '\0'-ended text owned by the struct. */
static inline bool xlsnap__field_is_str(const xlsnap__field *f)
{
    return f->kind == XLSNAP__FK_STR || f->kind == XLSNAP__FK_COMP ||
           f->kind == XLSNAP__FK_UUID || f->kind == XLSNAP__FK_RAW;
}

/* Whether a field of disk d is there at all (F_INT / F_EXT). */
static inline bool xlsnap__field_applies(const xlsnap__field *f,
                                         const xlsnap_disk *d)
{
    bool copy = d->driver && !strcmp(d->driver, "reflink");

    if (f->flags & XLSNAP__F_INT) return d->kind == XLSNAP_DISK_INTERNAL;
    if (f->flags & XLSNAP__F_EXT) return d->kind == XLSNAP_DISK_EXTERNAL;
    if (f->flags & XLSNAP__F_VOL)
        return d->kind == XLSNAP_DISK_VOLUME && !copy;
    if (f->flags & XLSNAP__F_FILE)
        return d->kind == XLSNAP_DISK_VOLUME && copy;
    return true;
}

/* Name of a disk kind / the disk kind of a name (0: unknown). */
const char *xlsnap__disk_kind_name(xlsnap_disk_kind k);
xlsnap_disk_kind xlsnap__disk_kind_parse(const char *s);
/* The state of a name; -1: unknown. */
int xlsnap__state_parse(const char *s);

#endif

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
