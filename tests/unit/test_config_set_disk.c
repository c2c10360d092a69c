/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: the one way the library points a disk of a libxl-json
 * domain config at another image (xlsnap__config_set_disk), which needs
 * no libxl context: revert of a domain that is not running, on a host
 * without Xen, and a running domain's stored config both use it. */
#include "internal.h"
#include "tap.h"

static const char cfg[] =
    "{\"c_info\":{\"type\":\"pvh\",\"name\":\"g1\"},"
    "\"b_info\":{\"max_memkb\":98304,\"target_memkb\":98304},"
    "\"disks\":[{\"pdev_path\":\"/images/g1.qcow2\",\"vdev\":\"xvda\","
    "\"backend\":\"qdisk\",\"format\":\"qcow2\",\"readwrite\":1},"
    "{\"pdev_path\":\"/images/data.qcow2\",\"vdev\":\"xvdb\","
    "\"backend\":\"qdisk\",\"format\":\"qcow2\",\"readwrite\":1}],"
    "\"on_reboot\":\"restart\"}";

int main(void)
{
    xlsnap_ctx *ctx;
    xlsnap__cfgdisk *l = NULL;
    char *out = NULL;
    int nr = 0, rc;

    if (xlsnap_ctx_alloc(&ctx, "/nonexistent", NULL)) return 1;

    rc = xlsnap__config_set_disk(ctx, cfg, "xvdb", "/images/data.s1.qcow2",
                                 "qcow2", &out);
    ok(rc == 0 && out, "a disk is pointed at a new image without libxl (%d: %s)",
       rc, rc ? xlsnap_last_error(ctx) : "");
    rc = out ? xlsnap__config_disks(ctx, out, &l, &nr) : -1;
    ok(rc == 0 && nr == 2, "the result still has both disks");
    if (!rc && nr == 2) {
        is_str(l[0].path, "/images/g1.qcow2", "the other disk is untouched");
        is_str(l[1].path, "/images/data.s1.qcow2", "xvdb names the new image");
        is_str(l[1].format, "qcow2", "xvdb's format");
        ok(l[1].readwrite, "xvdb stays read-write");
    }
    ok(out && strstr(out, "98304") && strstr(out, "\"restart\"") &&
       strstr(out, "\"pvh\""), "everything else is kept");
    xlsnap__cfgdisk_list_free(l, nr);
    free(out);
    out = NULL;

    rc = xlsnap__config_set_disk(ctx, cfg, "xvdc", "/images/x.qcow2",
                                 "qcow2", &out);
    ok(rc == XLSNAP_ERROR_NOTFOUND && !out &&
       strstr(xlsnap_last_error(ctx), "no disk xvdc"),
       "a disk the config does not have is refused (%s)",
       xlsnap_last_error(ctx));

    rc = xlsnap__config_set_disk(ctx, "[1,2", "xvda", "/x.qcow2", "qcow2",
                                 &out);
    ok(rc == XLSNAP_ERROR_CORRUPT && !out, "a config that is not JSON is refused");

    xlsnap_ctx_free(ctx);
    return tap_done();
}
