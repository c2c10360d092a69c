/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: the chain of a running disk in QEMU's block graph, and
 * whether its layers are open under their own names for a live merge
 * (backend/qmp.c, issue 18).  The replies are QEMU 7.2's (Debian 12),
 * taken after what an external snapshot of a running domain does: the
 * image /g/lm/xvda.qcow2 (node xvda-qcow2) renamed to
 * /g/lm/xvda.s1.qcow2 under QEMU, a new overlay at the configured path
 * put over it (blockdev-snapshot-sync, mode existing).  QEMU still
 * calls the frozen layer by the configured path, and a live merge
 * waits for the domain's next start. */
#include "internal.h"

#include <sys/socket.h>
#include <unistd.h>

#include "tap.h"

#define TOP "/g/lm/xvda.qcow2"
#define S1 "/g/lm/xvda.s1.qcow2"

static const char query_block[] =
    "{\"return\": [{\"io-status\": \"ok\", \"device\": \"\", \"locked\""
    ": false, \"removable\": false, \"inserted\": {\"iops_rd\": 0, \"de"
    "tect_zeroes\": \"off\", \"image\": {\"backing-image\": {\"virtual-"
    "size\": 1048576, \"filename\": \"/g/lm/xvda.qcow2\", \"cluster-siz"
    "e\": 65536, \"format\": \"qcow2\", \"actual-size\": 200704, \"form"
    "at-specific\": {\"type\": \"qcow2\", \"data\": {\"compat\": \"1.1\""
    ", \"compression-type\": \"zlib\", \"lazy-refcounts\": false, \"ref"
    "count-bits\": 16, \"corrupt\": false, \"extended-l2\": false}}, \""
    "dirty-flag\": false}, \"backing-filename-format\": \"qcow2\", \"vi"
    "rtual-size\": 1048576, \"filename\": \"json:{\\\"backing\\\": {\\\""
    "driver\\\": \\\"qcow2\\\", \\\"file\\\": {\\\"driver\\\": \\\"file"
    "\\\", \\\"filename\\\": \\\"/g/lm/xvda.qcow2\\\"}}, \\\"driver\\\""
    ": \\\"qcow2\\\", \\\"file\\\": {\\\"driver\\\": \\\"file\\\", \\\""
    "filename\\\": \\\"/g/lm/xvda.qcow2\\\"}}\", \"cluster-size\": 6553"
    "6, \"format\": \"qcow2\", \"actual-size\": 200704, \"format-specif"
    "ic\": {\"type\": \"qcow2\", \"data\": {\"compat\": \"1.1\", \"comp"
    "ression-type\": \"zlib\", \"lazy-refcounts\": false, \"refcount-bi"
    "ts\": 16, \"corrupt\": false, \"extended-l2\": false}}, \"full-bac"
    "king-filename\": \"/g/lm/xvda.s1.qcow2\", \"backing-filename\": \""
    "/g/lm/xvda.s1.qcow2\", \"dirty-flag\": false}, \"iops_wr\": 0, \"r"
    "o\": false, \"node-name\": \"xs-xvda-1\", \"backing_file_depth\": "
    "1, \"drv\": \"qcow2\", \"iops\": 0, \"bps_wr\": 0, \"write_thresho"
    "ld\": 0, \"backing_file\": \"/g/lm/xvda.qcow2\", \"encrypted\": fa"
    "lse, \"bps\": 0, \"bps_rd\": 0, \"cache\": {\"no-flush\": false, \""
    "direct\": false, \"writeback\": true}, \"file\": \"json:{\\\"backi"
    "ng\\\": {\\\"driver\\\": \\\"qcow2\\\", \\\"file\\\": {\\\"driver\\\""
    ": \\\"file\\\", \\\"filename\\\": \\\"/g/lm/xvda.qcow2\\\"}}, \\\""
    "driver\\\": \\\"qcow2\\\", \\\"file\\\": {\\\"driver\\\": \\\"file"
    "\\\", \\\"filename\\\": \\\"/g/lm/xvda.qcow2\\\"}}\"}, \"qdev\": \""
    "/machine/peripheral/vd0/virtio-backend\", \"type\": \"unknown\"}]}";
static const char graph[] =
    "{\"return\": {\"edges\": [{\"name\": \"file\", \"parent\": 2, \"sh"
    "ared-perm\": [\"write-unchanged\", \"consistent-read\"], \"perm\":"
    " [\"resize\", \"write\", \"consistent-read\"], \"child\": 5}, {\"n"
    "ame\": \"backing\", \"parent\": 2, \"shared-perm\": [\"write-uncha"
    "nged\", \"consistent-read\"], \"perm\": [\"consistent-read\"], \"c"
    "hild\": 4}, {\"name\": \"file\", \"parent\": 4, \"shared-perm\": ["
    "\"write-unchanged\", \"consistent-read\"], \"perm\": [\"consistent"
    "-read\"], \"child\": 3}, {\"name\": \"root\", \"parent\": 1, \"sha"
    "red-perm\": [\"resize\", \"write-unchanged\", \"consistent-read\"]"
    ", \"perm\": [\"write\", \"consistent-read\"], \"child\": 2}], \"no"
    "des\": [{\"name\": \"xs-xvda-1\", \"type\": \"block-driver\", \"id"
    "\": 2}, {\"name\": \"#block128\", \"type\": \"block-driver\", \"id"
    "\": 5}, {\"name\": \"xvda-qcow2\", \"type\": \"block-driver\", \"i"
    "d\": 4}, {\"name\": \"#block038\", \"type\": \"block-driver\", \"i"
    "d\": 3}, {\"name\": \"/machine/peripheral/vd0/virtio-backend\", \""
    "type\": \"block-backend\", \"id\": 1}]}}";
static const char named[] =
    "{\"return\": [{\"iops_rd\": 0, \"detect_zeroes\": \"off\", \"image"
    "\": {\"backing-filename-format\": \"qcow2\", \"virtual-size\": 104"
    "8576, \"filename\": \"json:{\\\"backing\\\": {\\\"driver\\\": \\\""
    "qcow2\\\", \\\"file\\\": {\\\"driver\\\": \\\"file\\\", \\\"filena"
    "me\\\": \\\"/g/lm/xvda.qcow2\\\"}}, \\\"driver\\\": \\\"qcow2\\\","
    " \\\"file\\\": {\\\"driver\\\": \\\"file\\\", \\\"filename\\\": \\\""
    "/g/lm/xvda.qcow2\\\"}}\", \"cluster-size\": 65536, \"format\": \"q"
    "cow2\", \"actual-size\": 200704, \"format-specific\": {\"type\": \""
    "qcow2\", \"data\": {\"compat\": \"1.1\", \"compression-type\": \"z"
    "lib\", \"lazy-refcounts\": false, \"refcount-bits\": 16, \"corrupt"
    "\": false, \"extended-l2\": false}}, \"full-backing-filename\": \""
    "/g/lm/xvda.s1.qcow2\", \"backing-filename\": \"/g/lm/xvda.s1.qcow2"
    "\", \"dirty-flag\": false}, \"iops_wr\": 0, \"ro\": false, \"node-"
    "name\": \"xs-xvda-1\", \"backing_file_depth\": 0, \"drv\": \"qcow2"
    "\", \"iops\": 0, \"bps_wr\": 0, \"write_threshold\": 0, \"backing_"
    "file\": \"/g/lm/xvda.qcow2\", \"encrypted\": false, \"bps\": 0, \""
    "bps_rd\": 0, \"cache\": {\"no-flush\": false, \"direct\": false, \""
    "writeback\": true}, \"file\": \"json:{\\\"backing\\\": {\\\"driver"
    "\\\": \\\"qcow2\\\", \\\"file\\\": {\\\"driver\\\": \\\"file\\\", "
    "\\\"filename\\\": \\\"/g/lm/xvda.qcow2\\\"}}, \\\"driver\\\": \\\""
    "qcow2\\\", \\\"file\\\": {\\\"driver\\\": \\\"file\\\", \\\"filena"
    "me\\\": \\\"/g/lm/xvda.qcow2\\\"}}\"}, {\"iops_rd\": 0, \"detect_z"
    "eroes\": \"off\", \"image\": {\"virtual-size\": 197120, \"filename"
    "\": \"/g/lm/xvda.qcow2\", \"format\": \"file\", \"actual-size\": 2"
    "00704, \"dirty-flag\": false}, \"iops_wr\": 0, \"ro\": false, \"no"
    "de-name\": \"#block128\", \"backing_file_depth\": 0, \"drv\": \"fi"
    "le\", \"iops\": 0, \"bps_wr\": 0, \"write_threshold\": 0, \"encryp"
    "ted\": false, \"bps\": 0, \"bps_rd\": 0, \"cache\": {\"no-flush\":"
    " false, \"direct\": false, \"writeback\": true}, \"file\": \"/g/lm"
    "/xvda.qcow2\"}, {\"iops_rd\": 0, \"detect_zeroes\": \"off\", \"ima"
    "ge\": {\"virtual-size\": 1048576, \"filename\": \"/g/lm/xvda.qcow2"
    "\", \"cluster-size\": 65536, \"format\": \"qcow2\", \"actual-size\""
    ": 200704, \"format-specific\": {\"type\": \"qcow2\", \"data\": {\""
    "compat\": \"1.1\", \"compression-type\": \"zlib\", \"lazy-refcount"
    "s\": false, \"refcount-bits\": 16, \"corrupt\": false, \"extended-"
    "l2\": false}}, \"dirty-flag\": false}, \"iops_wr\": 0, \"ro\": tru"
    "e, \"node-name\": \"xvda-qcow2\", \"backing_file_depth\": 0, \"drv"
    "\": \"qcow2\", \"iops\": 0, \"bps_wr\": 0, \"write_threshold\": 0,"
    " \"encrypted\": false, \"bps\": 0, \"bps_rd\": 0, \"cache\": {\"no"
    "-flush\": false, \"direct\": false, \"writeback\": true}, \"file\""
    ": \"/g/lm/xvda.qcow2\"}, {\"iops_rd\": 0, \"detect_zeroes\": \"off"
    "\", \"image\": {\"virtual-size\": 197120, \"filename\": \"/g/lm/xv"
    "da.qcow2\", \"format\": \"file\", \"actual-size\": 200704, \"dirty"
    "-flag\": false}, \"iops_wr\": 0, \"ro\": true, \"node-name\": \"#b"
    "lock038\", \"backing_file_depth\": 0, \"drv\": \"file\", \"iops\":"
    " 0, \"bps_wr\": 0, \"write_threshold\": 0, \"encrypted\": false, \""
    "bps\": 0, \"bps_rd\": 0, \"cache\": {\"no-flush\": false, \"direct"
    "\": false, \"writeback\": true}, \"file\": \"/g/lm/xvda.qcow2\"}]}";

/* what the tool sent QEMU, read back from the other end */
static char *sent(int fd)
{
    static char buf[65536];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);

    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

/* QEMU's answers waiting on a socket before the questions are sent */
static void answers(int fd, const char *const *r)
{
    for (; *r; r++)
        if (xlsnap__write_all(fd, *r, strlen(*r)) < 0 ||
            xlsnap__write_all(fd, "\n", 1) < 0)
            abort();
}

int main(void)
{
    xlsnap_ctx *ctx;
    xlsnap__qmp q;
    xlsnap__qmp_layer *l = NULL;
    char dir[] = "/tmp/xlsnap-qmp-chain-XXXXXX", **nodes = NULL, *out;
    char *path[] = { TOP, S1 };
    int sv[2], n = 0, rc;

    if (!mkdtemp(dir) || xlsnap_ctx_alloc(&ctx, dir, NULL)) return 1;

    /* the chain, from the graph */
    xlsnap__qmp_init(&q);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) abort();
    answers(sv[1], (const char *[]){ graph, named, NULL });
    q.fd = sv[0];
    rc = xlsnap__qmp_chain(ctx, &q, "xs-xvda-1", &l, &n);
    ok(rc == 0, "chain read (%s)", rc ? xlsnap_last_error(ctx) : "ok");
    ok(n == 2, "two layers (%d)", n);
    if (n == 2) {
        is_str(l[0].node, "xs-xvda-1", "top: the overlay's node");
        is_str(l[0].file, TOP, "its file (from QEMU's json: name)");
        is_str(l[0].file_node, "#block128", "its file node");
        ok(!l[0].ro, "read-write");
        is_str(l[1].node, "xvda-qcow2", "below: xen-block's node");
        is_str(l[1].file, TOP, "still called by the configured path");
        ok(l[1].ro, "read-only");
    }
    xlsnap__qmp_chain_free(l, n);
    xlsnap__qmp_close(&q);
    close(sv[1]);

    /* a frozen layer QEMU still calls by the configured path: no nodes
     * (the merge waits), nothing sent but the queries */
    xlsnap__qmp_init(&q);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) abort();
    answers(sv[1], (const char *[]){ query_block, graph, named, NULL });
    q.fd = sv[0];
    rc = xlsnap__qmp_chain_live(ctx, &q, "xvda", TOP, path, 2, &nodes);
    ok(rc == 0 && !nodes, "renamed under QEMU: no nodes (%s)",
       rc ? xlsnap_last_error(ctx) : "ok");
    out = sent(sv[1]);
    ok(!strstr(out, "blockdev-add") && !strstr(out, "blockdev-reopen"),
       "no node added or reopened (QEMU 7.2 aborts on that in an "
       "iothread)");
    xlsnap__qmp_close(&q);
    close(sv[1]);

    /* the frozen layer under another name but read-write (QEMU's
     * read-only reopen of it by that name failed: a create of this
     * version, qcow2_driver.c): it reads its own fd, no job reopens it,
     * the nodes by position */
    {
        char *rw = strdup(named), *p;
        if (!rw) abort();
        while ((p = strstr(rw, "\"ro\": true")))
            memcpy(p, "\"ro\":false", 10);
        xlsnap__qmp_init(&q);
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) abort();
        answers(sv[1], (const char *[]){ query_block, graph, rw, NULL });
        q.fd = sv[0];
        nodes = NULL;
        rc = xlsnap__qmp_chain_live(ctx, &q, "xvda", TOP, path, 2, &nodes);
        ok(rc == 0 && nodes, "read-write under another name: nodes (%s)",
           rc ? xlsnap_last_error(ctx) : "ok");
        ok(nodes && !strcmp(nodes[0], "xs-xvda-1") &&
           !strcmp(nodes[1], "xvda-qcow2"), "the nodes by position");
        xlsnap__qmp_strv_free(nodes, nodes ? 2 : 0);
        xlsnap__qmp_close(&q);
        close(sv[1]);
        free(rw);
    }

    /* every layer under its own name: the nodes QEMU has */
    path[1] = TOP;              /* (as if QEMU had opened it there) */
    xlsnap__qmp_init(&q);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) abort();
    answers(sv[1], (const char *[]){ query_block, graph, named, NULL });
    q.fd = sv[0];
    nodes = NULL;
    rc = xlsnap__qmp_chain_live(ctx, &q, "xvda", TOP, path, 2, &nodes);
    ok(rc == 0 && nodes, "own names: nodes");
    ok(nodes && !strcmp(nodes[0], "xs-xvda-1") &&
       !strcmp(nodes[1], "xvda-qcow2"), "the nodes QEMU has");
    xlsnap__qmp_strv_free(nodes, nodes ? 2 : 0);
    xlsnap__qmp_close(&q);
    close(sv[1]);

    /* a chain of another length than the headers': refused */
    xlsnap__qmp_init(&q);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) abort();
    answers(sv[1], (const char *[]){ query_block, graph, named, NULL });
    q.fd = sv[0];
    nodes = NULL;
    rc = xlsnap__qmp_chain_live(ctx, &q, "xvda", TOP, path, 1, &nodes);
    ok(rc == XLSNAP_ERROR_HYPERVISOR && !nodes, "other length: refused");
    xlsnap__qmp_close(&q);
    close(sv[1]);

    xlsnap_ctx_free(ctx);
    rmdir(dir);
    return tap_done();
}
