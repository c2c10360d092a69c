/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: snapshot config files. */
#include <stdbool.h>
#include <unistd.h>
#include "libxlsnap.h"
#include "tap.h"

static char path[256];

static int parse(xlsnap_ctx *ctx, const char *text, xlsnap_config *c)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    xlsnap_config_init(c);
    return xlsnap_config_parse_file(ctx, path, c);
}

static bool msg_has(xlsnap_ctx *ctx, const char *s)
{
    return strstr(xlsnap_last_error(ctx), s) != NULL;
}

int main(void)
{
    xlsnap_ctx *ctx;
    xlsnap_config c;
    char where[300];

    snprintf(path, sizeof(path), "/tmp/xlsnap-cfg-%d.cfg", getpid());
    if (xlsnap_ctx_alloc(&ctx, "/nonexistent", NULL)) return 1;

    ok(parse(ctx,
             "# a snapshot\n"
             "name = \"before-upgrade\"\n"
             "description = \"kernel 6.1 -> 6.6\"\n"
             "creationtime = 1764053401\n"
             "memory = \"yes\"\n"
             "type = \"internal\"\n"
             "disk = [ 'vdev=xvda,target=null',\n"
             "         'vdev=xvdb,format=qcow2,target=/img/b.s1.qcow2' ]\n",
             &c) == 0, "full config parses: %s", xlsnap_last_error(ctx));
    is_str(c.name, "before-upgrade", "name");
    is_str(c.description, "kernel 6.1 -> 6.6", "description");
    ok(c.creationtime == 1764053401, "creationtime");
    ok(c.memory == XLSNAP_MEMORY_YES, "memory yes");
    ok(c.type == XLSNAP_DISK_INTERNAL, "type internal");
    ok(c.num_disks == 2, "two disks");
    is_str(c.disks[0].vdev, "xvda", "disk 0 vdev");
    ok(c.disks[0].kind == 0 && !c.disks[0].target, "disk 0 internal");
    ok(c.disks[1].kind == XLSNAP_DISK_EXTERNAL, "disk 1 external");
    is_str(c.disks[1].target, "/img/b.s1.qcow2", "disk 1 target");
    is_str(c.disks[1].format, "qcow2", "disk 1 format");
    xlsnap_config_dispose(&c);

    ok(parse(ctx, "memory=\"/srv/mem.save\"\n", &c) == 0 &&
       c.memory == XLSNAP_MEMORY_PATH, "memory path");
    is_str(c.memory_path, "/srv/mem.save", "memory path value");
    xlsnap_config_dispose(&c);
    ok(parse(ctx, "", &c) == 0 && !c.name &&
       c.memory == XLSNAP_MEMORY_NO,
       "empty config: all defaults, disk-only (no memory= set)");
    xlsnap_config_dispose(&c);
    ok(parse(ctx, "disk=['hda=/s/disk_hda.qcow2,type=qcow2', 'xvdb=/s/b']\n",
             &c) == 0 && c.num_disks == 2 &&
       c.disks[0].kind == XLSNAP_DISK_EXTERNAL &&
       !strcmp(c.disks[0].vdev, "hda") &&
       !strcmp(c.disks[0].target, "/s/disk_hda.qcow2") &&
       !strcmp(c.disks[0].format, "qcow2") &&
       !strcmp(c.disks[1].vdev, "xvdb") && !strcmp(c.disks[1].target, "/s/b"),
       "the original design's disk form VDEV=PATH,type=qcow2: %s",
       xlsnap_last_error(ctx));
    xlsnap_config_dispose(&c);

    snprintf(where, sizeof(where), "%s:3:", path);
    ok(parse(ctx, "name=\"a\"\n\nmemory=\"maybe\"\n", &c)
       == XLSNAP_ERROR_INVAL && msg_has(ctx, where),
       "bad memory value names file:line: %s", xlsnap_last_error(ctx));
    snprintf(where, sizeof(where), "%s:2:", path);
    ok(parse(ctx, "name=\"a\"\ntype=\"snap\"\n", &c) == XLSNAP_ERROR_INVAL
       && msg_has(ctx, where), "bad type: %s", xlsnap_last_error(ctx));
    ok(parse(ctx, "name=\"a\"\nname = = 3\n", &c) == XLSNAP_ERROR_INVAL
       && msg_has(ctx, where), "syntax error: %s", xlsnap_last_error(ctx));
    ok(parse(ctx, "\nnmae=\"a\"\n", &c) == XLSNAP_ERROR_INVAL
       && msg_has(ctx, where) && msg_has(ctx, "'nmae'"),
       "unknown key: %s", xlsnap_last_error(ctx));
    ok(parse(ctx, "description=\"x\"\nname=\"a/b\"\n", &c)
       == XLSNAP_ERROR_INVAL && msg_has(ctx, where) && msg_has(ctx, "'/'"),
       "bad name: %s", xlsnap_last_error(ctx));
    snprintf(where, sizeof(where), "%s:1:", path);
    ok(parse(ctx, "disk=['vdev=xvda,bogus=1']\n", &c) == XLSNAP_ERROR_INVAL
       && msg_has(ctx, where) && msg_has(ctx, "disk entry 1"),
       "bad disk spec: %s", xlsnap_last_error(ctx));
    ok(parse(ctx, "disk=['vdev=xvda,target=rel/x.qcow2']\n", &c)
       == XLSNAP_ERROR_INVAL && msg_has(ctx, "absolute"),
       "relative overlay: %s", xlsnap_last_error(ctx));
    ok(parse(ctx, "disk=['vdev=xvda,format=vhd,target=/x']\n", &c)
       == XLSNAP_ERROR_INVAL && msg_has(ctx, "vhd"),
       "vhd overlay: %s", xlsnap_last_error(ctx));
    ok(parse(ctx, "disk=['vdev=xvda,target=null','vdev=xvda,target=null']\n",
             &c) == XLSNAP_ERROR_INVAL && msg_has(ctx, "twice"),
       "duplicate disk: %s", xlsnap_last_error(ctx));
    ok(parse(ctx, "creationtime=\"yesterday\"\n", &c) == XLSNAP_ERROR_INVAL,
       "creationtime not a number: %s", xlsnap_last_error(ctx));
    ok(parse(ctx, "name=[1]\n", &c) == XLSNAP_ERROR_INVAL,
       "name is a list: %s", xlsnap_last_error(ctx));
    ok(parse(ctx, "\x01\x02garbage\xff\n", &c) == XLSNAP_ERROR_INVAL,
       "binary garbage: %s", xlsnap_last_error(ctx));
    /* fuzz_config found these: accepted, then no JSON could be made of
     * them (check-config --json, the record of a create) */
    snprintf(where, sizeof(where), "%s:2: 'description' is not valid UTF-8",
             path);
    ok(parse(ctx, "name=\"n\"\ndescription = \"befor\xe5 it\"\n", &c)
       == XLSNAP_ERROR_INVAL && msg_has(ctx, where),
       "description not UTF-8: %s", xlsnap_last_error(ctx));
    ok(parse(ctx, "memory=\"/m\xff.save\"\n", &c) == XLSNAP_ERROR_INVAL &&
       msg_has(ctx, "'memory' is not valid UTF-8"),
       "memory path not UTF-8: %s", xlsnap_last_error(ctx));
    ok(parse(ctx, "disk=['vdev=xvda,target=/o\xc0.qcow2']\n", &c)
       == XLSNAP_ERROR_INVAL && msg_has(ctx, "disk entry 1 is not valid"),
       "disk target not UTF-8: %s", xlsnap_last_error(ctx));
    ok(parse(ctx, "description=\"caf\xc3\xa9 \xe2\x82\xac\"\n", &c) == 0 &&
       !strcmp(c.description, "caf\xc3\xa9 \xe2\x82\xac"),
       "UTF-8 description: %s", xlsnap_last_error(ctx));
    xlsnap_config_dispose(&c);
    {
        /* a NUL byte: not a text file (parse() would stop at it) */
        FILE *f = fopen(path, "w");
        fwrite("name=\"a\"\n\0x", 1, 11, f);
        fclose(f);
        snprintf(where, sizeof(where), "%s: contains a NUL byte at offset "
                 "9", path);
        ok(xlsnap_config_parse_file(ctx, path, &c) == XLSNAP_ERROR_INVAL &&
           msg_has(ctx, where), "NUL byte: %s", xlsnap_last_error(ctx));
    }

    unlink(path);
    ok(xlsnap_config_parse_file(ctx, path, &c) == XLSNAP_ERROR_NOTFOUND,
       "missing file: %s", xlsnap_last_error(ctx));

    xlsnap_ctx_free(ctx);
    return tap_done();
}
