/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: domain configs in libxl-json (backend/domcfg.c): the
 * disks read out of them (libxl's defaults), and the rewrite that
 * points a disk at a new image, changing nothing else. */
#include "internal.h"

#include "tap.h"

#define UUID "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
#define UUID2 "0f0e0d0c-0b0a-4908-8706-050403020100"

/* As libxl_domain_config_to_json writes it (yajl, beautified, four
 * spaces), with the odd disks a real config has: a read-only phy disk
 * without format, a CD-ROM drive with no medium, a raw file. */
static const char config[] =
    "{\n"
    "    \"c_info\": {\n"
    "        \"type\": \"pv\",\n"
    "        \"name\": \"g1\",\n"
    "        \"uuid\": \"" UUID "\",\n"
    "        \"run_hotplug_scripts\": \"True\"\n"
    "    },\n"
    "    \"b_info\": {\n"
    "        \"max_vcpus\": 2,\n"
    "        \"avail_vcpus\": [\n"
    "            0,\n"
    "            1\n"
    "        ],\n"
    "        \"max_memkb\": 131072,\n"
    "        \"target_memkb\": 131072,\n"
    "        \"shadow_memkb\": 18446744073709551615,\n"
    "        \"rtc_timeoffset\": 0.5,\n"
    "        \"type.pv\": {\n"
    "            \"kernel\": \"/boot/vmlinuz\",\n"
    "            \"cmdline\": \"root=/dev/xvda1 \\\"quoted\\\" \xc3\xa9\"\n"
    "        },\n"
    "        \"arch_arm\": {\n"
    "\n"
    "        }\n"
    "    },\n"
    "    \"disks\": [\n"
    "        {\n"
    "            \"pdev_path\": \"/img/g1.qcow2\",\n"
    "            \"vdev\": \"xvda\",\n"
    "            \"backend\": \"qdisk\",\n"
    "            \"format\": \"qcow2\",\n"
    "            \"readwrite\": 1\n"
    "        },\n"
    "        {\n"
    "            \"pdev_path\": \"/dev/vg/data\",\n"
    "            \"vdev\": \"xvdb\",\n"
    "            \"backend\": \"phy\"\n"
    "        },\n"
    "        {\n"
    "            \"vdev\": \"hdc\",\n"
    "            \"format\": \"empty\",\n"
    "            \"is_cdrom\": 1\n"
    "        },\n"
    "        {\n"
    "            \"pdev_path\": \"/img/scratch.raw\",\n"
    "            \"vdev\": \"xvdc\",\n"
    "            \"backend\": \"qdisk\",\n"
    "            \"format\": \"raw\",\n"
    "            \"readwrite\": 1\n"
    "        }\n"
    "    ],\n"
    "    \"nics\": [\n"
    "        {\n"
    "            \"devid\": 0,\n"
    "            \"mac\": \"00:16:3e:00:00:01\",\n"
    "            \"bridge\": \"xenbr0\"\n"
    "        }\n"
    "    ],\n"
    "    \"on_reboot\": \"restart\",\n"
    "    \"on_soft_reset\": \"soft_reset\"\n"
    "}\n";

/* s with the one occurrence of from replaced by to (NULL if from is not
 * there exactly once). */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);

    if (!p || strstr(p + 1, from)) return NULL;
    return xlsnap__sprintf("%.*s%s%s", (int)(p - s), s, to,
                           p + strlen(from));
}

static bool same_str(const char *a, const char *b)
{
    return a && b ? !strcmp(a, b) : a == b;
}

static xlsnap_disk disk(const char *vdev, const char *image,
                        const char *format)
{
    xlsnap_disk d;

    xlsnap_disk_init(&d);
    d.vdev = (char *)vdev;
    d.image = (char *)image;
    d.format = (char *)format;
    return d;
}

int main(void)
{
    xlsnap_ctx *ctx;
    xlsnap__cfgdisk *l = NULL;
    xlsnap_disk d[2];
    char *out = NULL, *want = NULL, *w2;
    int nr = -1, rc;

    if (xlsnap_ctx_alloc(&ctx, "/nonexistent", NULL)) return 1;

    /* ---- the disks of a config ---- */
    rc = xlsnap__config_disks(ctx, config, &l, &nr);
    ok(rc == 0 && nr == 4, "four disks read: %d", nr);
    if (!rc && nr == 4) {
        ok(same_str(l[0].vdev, "xvda") &&
           same_str(l[0].path, "/img/g1.qcow2") &&
           same_str(l[0].format, "qcow2") &&
           same_str(l[0].backend, "qdisk") && l[0].readwrite &&
           !l[0].cdrom, "xvda: a read-write qcow2 on qdisk");
        ok(same_str(l[1].vdev, "xvdb") &&
           same_str(l[1].path, "/dev/vg/data") && !l[1].format &&
           same_str(l[1].backend, "phy") && !l[1].readwrite &&
           !l[1].cdrom, "xvdb: phy, no format; no readwrite means 0");
        ok(same_str(l[2].vdev, "hdc") && !l[2].path &&
           same_str(l[2].format, "empty") && !l[2].backend &&
           l[2].cdrom && !l[2].readwrite,
           "hdc: an empty CD-ROM drive, no target");
        ok(same_str(l[3].vdev, "xvdc") && same_str(l[3].format, "raw") &&
           l[3].readwrite && !l[3].cdrom, "xvdc: a raw file");
    }
    xlsnap__cfgdisk_list_free(l, nr);

    rc = xlsnap__config_disks(ctx, "{\"c_info\": {}}", &l, &nr);
    ok(rc == 0 && nr == 0 && !l, "no 'disks': no disks");
    rc = xlsnap__config_disks(ctx, "{\"disks\": []}", &l, &nr);
    ok(rc == 0 && nr == 0 && !l, "'disks': [] is no disks");
    rc = xlsnap__config_disks(ctx, "{\"disks\": [\"x\", 3, {\"vdev\": "
                              "\"xvda\", \"readwrite\": 7, \"is_cdrom\": "
                              "0}]}", &l, &nr);
    ok(rc == 0 && nr == 1 && same_str(l[0].vdev, "xvda") &&
       l[0].readwrite && !l[0].cdrom && !l[0].path,
       "members that are not objects are skipped; readwrite 7 is true");
    xlsnap__cfgdisk_list_free(l, nr);
    rc = xlsnap__config_disks(ctx, "{\"disks\": [{\"vdev\": \"xvda\", "
                              "\"readwrite\": \"1\", \"pdev_path\": 5}]}",
                              &l, &nr);
    ok(rc == 0 && nr == 1 && !l[0].readwrite && !l[0].path,
       "fields of the wrong type read as their defaults");
    xlsnap__cfgdisk_list_free(l, nr);
    rc = xlsnap__config_disks(ctx, "{\"disks\": [{\"vdev\": \"xvda\"}, "
                              "{\"pdev_path\": \"/x\"}]}", &l, &nr);
    ok(rc == XLSNAP_ERROR_CORRUPT && !l && nr == 0 &&
       strstr(xlsnap_last_error(ctx), "without vdev"),
       "a disk without vdev is CORRUPT: %s", xlsnap_last_error(ctx));
    rc = xlsnap__config_disks(ctx, "{\"disks\": [", &l, &nr);
    ok(rc == XLSNAP_ERROR_CORRUPT && !l, "not JSON: %s",
       xlsnap_last_error(ctx));
    rc = xlsnap__config_disks(ctx, NULL, &l, &nr);
    ok(rc == XLSNAP_ERROR_NOTFOUND && !l, "no config: %s",
       xlsnap_last_error(ctx));

    /* ---- rewrites ---- */
    rc = xlsnap__config_rewrite(ctx, config, NULL, NULL, NULL, 0, &out);
    is_str(out, config, "rewriting nothing gives libxl's text back byte "
           "for byte (numbers as written, escapes, UTF-8, empty objects)");
    free(out);
    rc = xlsnap__config_rewrite(ctx, "{\"a\": \"\\u00e9\\/\"}", NULL, NULL,
                                NULL, 0, &out);
    is_str(out, "{\n    \"a\": \"\xc3\xa9/\"\n}\n", "an escaped character "
           "comes back as the same character, unescaped");
    free(out);

    d[0] = disk("xvda", "/img/g1@s1.qcow2", "qcow2");
    rc = xlsnap__config_rewrite(ctx, config, NULL, NULL, d, 1, &out);
    want = replace(config, "\"/img/g1.qcow2\"", "\"/img/g1@s1.qcow2\"");
    ok(rc == 0, "point xvda at a new image");
    is_str(out, want, "only xvda's pdev_path changes, byte for byte");
    free(out);
    free(want);

    /* the disk read back from the rewrite is the new one */
    d[0] = disk("xvdc", "/img/scratch-s1.qcow2", "qcow2");
    rc = xlsnap__config_rewrite(ctx, config, NULL, NULL, d, 1, &out);
    w2 = replace(config, "\"/img/scratch.raw\"",
                 "\"/img/scratch-s1.qcow2\"");
    want = w2 ? replace(w2, "\"format\": \"raw\"", "\"format\": \"qcow2\"")
              : NULL;
    is_str(out, want, "xvdc: raw file -> qcow2 image: its path and format "
           "change, nothing else");
    free(w2);
    free(want);
    rc = xlsnap__config_disks(ctx, out, &l, &nr);
    ok(rc == 0 && nr == 4 && same_str(l[3].path, "/img/scratch-s1.qcow2") &&
       same_str(l[3].format, "qcow2") && l[3].readwrite &&
       same_str(l[0].path, "/img/g1.qcow2") &&
       same_str(l[1].path, "/dev/vg/data") && !l[2].path,
       "read back: xvdc is the new image, the others as they were");
    xlsnap__cfgdisk_list_free(l, nr);
    free(out);

    /* two disks, a new name and uuid */
    d[0] = disk("xvda", "/img/a.qcow2", "qcow2");
    d[1] = disk("xvdc", "/img/c.qcow2", "qcow2");
    rc = xlsnap__config_rewrite(ctx, config, "g2", UUID2, d, 2, &out);
    {
        char *a = replace(config, "\"/img/g1.qcow2\"", "\"/img/a.qcow2\""),
             *b = a ? replace(a, "\"/img/scratch.raw\"",
                              "\"/img/c.qcow2\"") : NULL,
             *c = b ? replace(b, "\"format\": \"raw\"",
                              "\"format\": \"qcow2\"") : NULL,
             *e = c ? replace(c, "\"name\": \"g1\"", "\"name\": \"g2\"")
                    : NULL;
        want = e ? replace(e, UUID, UUID2) : NULL;
        is_str(out, want, "two disks, name and uuid: those change, "
               "nothing else");
        free(a);
        free(b);
        free(c);
        free(e);
        free(want);
        free(out);
    }

    /* a phy disk without format given a qcow2 image (an LVM snapshot
     * imported into a directory): the format is added to its object,
     * and blkback cannot serve qcow2, so QEMU does (qdisk) */
    d[0] = disk("xvdb", "/img/data.qcow2", "qcow2");
    rc = xlsnap__config_rewrite(ctx, config, NULL, NULL, d, 1, &out);
    want = replace(config, "            \"pdev_path\": \"/dev/vg/data\",\n"
                   "            \"vdev\": \"xvdb\",\n"
                   "            \"backend\": \"phy\"\n",
                   "            \"pdev_path\": \"/img/data.qcow2\",\n"
                   "            \"vdev\": \"xvdb\",\n"
                   "            \"backend\": \"qdisk\",\n"
                   "            \"format\": \"qcow2\"\n");
    is_str(out, want, "a phy disk given a qcow2 image gets its format, at "
           "the end of its object, and the qdisk backend");
    free(out);
    free(want);

    /* the empty CD-ROM drive: a target is added (as today) */
    d[0] = disk("hdc", "/iso/x.iso", "raw");
    rc = xlsnap__config_rewrite(ctx, config, NULL, NULL, d, 1, &out);
    rc = rc ? rc : xlsnap__config_disks(ctx, out, &l, &nr);
    ok(rc == 0 && nr == 4 && same_str(l[2].path, "/iso/x.iso") &&
       same_str(l[2].format, "raw") && l[2].cdrom,
       "a CD-ROM drive with no target gets the one named");
    xlsnap__cfgdisk_list_free(l, nr);
    free(out);

    /* a vdev the config does not have: nothing changes */
    d[0] = disk("xvdz", "/img/z.qcow2", "qcow2");
    rc = xlsnap__config_rewrite(ctx, config, NULL, NULL, d, 1, &out);
    is_str(out, config, "a disk not in the config changes nothing");
    free(out);

    /* configs the rewrite refuses or passes through */
    rc = xlsnap__config_rewrite(ctx, "{\"c_info\": {\"name\": 3}}", "g2",
                                NULL, NULL, 0, &out);
    ok(rc == XLSNAP_ERROR_CORRUPT && !out &&
       strstr(xlsnap_last_error(ctx), "cannot rewrite"),
       "a name that is not a string: CORRUPT: %s", xlsnap_last_error(ctx));
    d[0] = disk("xvda", "/img/a.qcow2", "qcow2");
    rc = xlsnap__config_rewrite(ctx, "{\"disks\": [{\"vdev\": \"xvda\", "
                                "\"pdev_path\": [\"/x\"]}]}", NULL, NULL,
                                d, 1, &out);
    ok(rc == XLSNAP_ERROR_CORRUPT && !out, "a pdev_path that is not a "
       "string: CORRUPT: %s", xlsnap_last_error(ctx));
    rc = xlsnap__config_rewrite(ctx, "[1]", NULL, NULL, NULL, 0, &out);
    ok(rc == XLSNAP_ERROR_CORRUPT && !out, "not an object: %s",
       xlsnap_last_error(ctx));
    rc = xlsnap__config_rewrite(ctx, "{\"disks\": [{\"vdev\": ", NULL,
                                NULL, NULL, 0, &out);
    ok(rc == XLSNAP_ERROR_CORRUPT && !out, "not JSON: %s",
       xlsnap_last_error(ctx));
    rc = xlsnap__config_rewrite(ctx, "{\"disks\": [3, {\"pdev_path\": "
                                "\"/p\"}, {\"vdev\": 4}, {\"vdev\": "
                                "\"xvda\"}]}", "n", UUID, d, 1, &out);
    rc = rc ? rc : xlsnap__config_disks(ctx, out, &l, &nr);
    ok(rc == XLSNAP_ERROR_CORRUPT,
       "odd disks (not objects, no vdev) are passed over by the rewrite, "
       "then refused when read: %s", xlsnap_last_error(ctx));
    ok(out && strstr(out, "\"/img/a.qcow2\"") && !strstr(out, "c_info"),
       "and xvda is rewritten; no c_info is invented for name/uuid");
    free(out);

    xlsnap_ctx_free(ctx);
    return tap_done();
}
