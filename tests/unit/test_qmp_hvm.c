/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: which QEMU block node a running domain's disk is written
 * through (backend/qmp.c), for an HVM guest's disk that QEMU has open
 * twice (emulated IDE drive and xen-block) until the guest unplugs the
 * emulated one; and the refusal of stub-domain device models.  The
 * query-block replies have the shape QEMU 7.2 (Debian 12's
 * qemu-system-xen) gives for libxl's "-drive file=...,if=ide,index=0"
 * and for xen-block's "<vdev>-<format>" node. */
#include "internal.h"

#include <sys/socket.h>
#include <unistd.h>

#include "tap.h"

#define IMG "/g/hv/xvda.qcow2"

/* the IDE drive libxl gives QEMU for an HVM guest's disk */
#define IDE "{\"device\":\"ide0-hd0\",\"qdev\":\"/machine/unattached/" \
    "device[23]\",\"locked\":false,\"removable\":false,\"inserted\":{" \
    "\"node-name\":\"#block147\",\"file\":\"" IMG "\",\"ro\":false," \
    "\"drv\":\"qcow2\",\"image\":{\"filename\":\"" IMG "\"," \
    "\"format\":\"qcow2\",\"virtual-size\":16777216}},\"type\":\"unknown\"}"
/* the xen-block device's drive (no device name) */
#define PV "{\"device\":\"\",\"qdev\":\"/machine/peripheral-anon/device[0]\"," \
    "\"locked\":false,\"removable\":false,\"inserted\":{" \
    "\"node-name\":\"xvda-qcow2\",\"file\":\"" IMG "\",\"ro\":false," \
    "\"drv\":\"qcow2\",\"image\":{\"filename\":\"" IMG "\"," \
    "\"format\":\"qcow2\",\"virtual-size\":16777216}},\"type\":\"unknown\"}"

/* the xen-block device after an external snapshot: the overlay taken
 * under its temporary name */
#define TMPIMG "/g/hv/xvda.xlsnap-new-17.qcow2"
#define PVTMP "{\"device\":\"\",\"qdev\":\"/machine/peripheral-anon/" \
    "device[0]\",\"locked\":false,\"removable\":false,\"inserted\":{" \
    "\"node-name\":\"xs-xvda-17\",\"file\":\"" TMPIMG "\",\"ro\":false," \
    "\"drv\":\"qcow2\",\"image\":{\"filename\":\"" TMPIMG "\"," \
    "\"format\":\"qcow2\",\"virtual-size\":16777216}},\"type\":\"unknown\"}"

/* node_for_file with QEMU's query-block reply 'list' (a JSON array) */
static int lookup(xlsnap_ctx *ctx, const char *list, char **node_r)
{
    xlsnap__qmp q;
    int sv[2], rc;
    char *reply = xlsnap__sprintf("{\"return\": %s}\n", list);

    xlsnap__qmp_init(&q);
    if (!reply || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) abort();
    /* QEMU's answer is waiting before the question is sent */
    if (xlsnap__write_all(sv[1], reply, strlen(reply)) < 0) abort();
    q.fd = sv[0];
    rc = xlsnap__qmp_node_for_file(ctx, &q, IMG, node_r);
    xlsnap__qmp_close(&q);
    close(sv[1]);
    free(reply);
    return rc;
}

int main(void)
{
    xlsnap_ctx *ctx;
    char dir[] = "/tmp/xlsnap-qmp-hvm-XXXXXX", *node = NULL;
    int rc;

    if (!mkdtemp(dir) || xlsnap_ctx_alloc(&ctx, dir, NULL)) return 1;

    rc = lookup(ctx, "[" PV "]", &node);
    ok(rc == 0, "PV (or HVM after the unplug): found");
    is_str(node, "xvda-qcow2", "the xen-block node");
    free(node);
    node = NULL;

    rc = lookup(ctx, "[" IDE "," PV "]", &node);
    ok(rc == XLSNAP_ERROR_NOTSUP, "HVM before the unplug: refused (%d)", rc);
    ok(node == NULL, "no node");
    ok(strstr(xlsnap_last_error(ctx), "open 2 times") &&
       strstr(xlsnap_last_error(ctx), "unplug"),
       "says why: %s", xlsnap_last_error(ctx));

    rc = lookup(ctx, "[" IDE "]", &node);
    ok(rc == 0, "only the emulated drive (no PV backend): found");
    is_str(node, "#block147", "the IDE drive's node");
    free(node);
    node = NULL;

    /* after an external snapshot of the running domain QEMU calls the
     * active layer by the overlay's temporary name: found by the device
     * (the root node our snapshot named "xs-<vdev>-<n>"), not the file */
    {
        xlsnap__qmp q;
        int sv[2];
        char *qf = NULL;
        uint64_t size = 0;
        const char *r = "{\"return\": [" PVTMP "]}\n";
        xlsnap__qmp_init(&q);
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) abort();
        if (xlsnap__write_all(sv[1], r, strlen(r)) < 0) abort();
        q.fd = sv[0];
        rc = xlsnap__qmp_disk_node(ctx, &q, "xvda", IMG, &node, &qf, &size);
        ok(rc == 0, "by the device: found (%s)",
           rc ? xlsnap_last_error(ctx) : "ok");
        is_str(node, "xs-xvda-17", "the overlay's node");
        is_str(qf, TMPIMG, "QEMU's name of its file");
        ok(size == 16777216, "its size");
        free(node);
        free(qf);
        node = NULL;
        xlsnap__qmp_close(&q);
        close(sv[1]);
    }

    rc = lookup(ctx, "[]", &node);
    ok(rc == XLSNAP_ERROR_HYPERVISOR, "not open: HYPERVISOR");

    ok(xlsnap__qmp_check_config(ctx, "{\"b_info\": {\"device_model_"
                                "stubdomain\": \"False\"}}") == 0,
       "device model in dom0: accepted");
    ok(xlsnap__qmp_check_config(ctx, "{\"c_info\": {\"type\": \"pv\"}}")
       == 0, "PV config (no device model key): accepted");
    rc = xlsnap__qmp_check_config(ctx, "{\"b_info\": {\"device_model_"
                                  "stubdomain\": \"True\"}}");
    ok(rc == XLSNAP_ERROR_NOTSUP, "stub domain: NOTSUP");
    ok(strstr(xlsnap_last_error(ctx), "device_model_stubdomain_override"),
       "names the option: %s", xlsnap_last_error(ctx));

    xlsnap_ctx_free(ctx);
    rmdir(dir);
    return tap_done();
}
