/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: backend/lvm.c's reading of thin_delta's output
 * (xlsnap__lvm_thin_delta_parse), as thin-provisioning-tools 0.9.0
 * writes it: the ranges that differ, in bytes (left_only: zeros); any
 * line out of its form, a block size dm-thin does not have, ranges out
 * of order or outside the volume, other thin ids or a cut output are
 * not taken (1, nothing kept); the blocks each device maps by the
 * output, for the check against thin_ls. */
#include "internal.h"
#include "bundle/volume.h"
#include "tap.h"

#define KB 1024ULL
#define SB "<superblock uuid=\"\" time=\"1\" transaction=\"2\" " \
           "data_block_size=\"128\" nr_data_blocks=\"1000\">\n"
#define DIFF "  <diff left=\"1\" right=\"2\">\n"
#define END "  </diff>\n</superblock>\n"

static uint64_t mapped[2];

static int parse(xlsnap_ctx *ctx, const char *out, uint64_t size,
                 xlsnap__delta_range **r, size_t *n)
{
    return xlsnap__lvm_thin_delta_parse(ctx, out, 1, 2, size, r, n, mapped);
}

int main(void)
{
    static const char *const bad[] = {
        SB DIFF "    <same begin=\"0\" length=\"3\"/>\n  </diff>\n",
        SB DIFF "    <same begin=\"0\" length=\"3\"/>\n" END "x\n",
        SB DIFF "    <same begin=\"0\" length=\"3\"/>",
        SB DIFF "    <same begin=\"0\" length=\"3\"/>\n  </diff>\n</super",
        SB "  <diff left=\"1\" right=\"2\"></diff>\n" END,
        SB "  <diff left=\"1\" right=\"2\"></diff><x>\n</superblock>\n",
        SB "  <diff left=\"1\" right=\"3\">\n" END,
        "<superblock uuid=\"\" data_block_size=\"100\">\n" DIFF END,
        "<superblock uuid=\"\" data_block_size=\"0\">\n" DIFF END,
        "<superblock uuid=\"\" data_block_size=\"-128\">\n" DIFF END,
        "<superblock uuid=\"\" time=\"1\">\n" DIFF END,
        SB DIFF "    <different begin=\"10\" length=\"1\"/>\n"
                "    <right_only begin=\"5\" length=\"1\"/>\n" END,
        SB DIFF "    <different begin=\"10\" length=\"2\"/>\n"
                "    <right_only begin=\"11\" length=\"1\"/>\n" END,
        SB DIFF "    <right_only begin=\"511\" length=\"2\"/>\n" END,
        SB DIFF "    <right_only begin=\"18446744073709551615\" "
                "length=\"2\"/>\n" END,
        SB DIFF "    <right_only begin=\"1\" length=\"0\"/>\n" END,
        SB DIFF "    <right_only begin=\" 1\" length=\"1\"/>\n" END,
        SB DIFF "    <moved begin=\"1\" length=\"1\"/>\n" END,
        SB DIFF "    <right_only begin=\"1\" length=\"1\" data_begin=\"4\"/>\n"
            END,
        SB DIFF "    <right_only>\n      <range begin=\"1\" data_begin=\"4\" "
                "length=\"1\"/>\n    </right_only>\n" END,
        "",
    };
    xlsnap__delta_range *r = NULL;
    xlsnap_ctx *ctx = NULL;
    size_t n = 0;
    int rc;

    if (xlsnap_ctx_alloc(&ctx, "/nonexistent", NULL)) return 1;
    /* 512 blocks of 64 KiB: 32 MiB */
    rc = parse(ctx, SB DIFF
               "    <same begin=\"0\" length=\"3\"/>\n"
               "    <different begin=\"3\" length=\"1\"/>\n"
               "    <same begin=\"4\" length=\"10\"/>\n"
               "    <left_only begin=\"14\" length=\"6\"/>\n"
               "    <left_only begin=\"30\" length=\"1\"/>\n"
               "    <right_only begin=\"40\" length=\"5\"/>\n"
               "    <right_only begin=\"511\" length=\"1\"/>\n" END,
               32 << 20, &r, &n);
    ok(!rc && n == 5, "0.9.0's output: five ranges that differ");
    ok(n == 5 && r[0].offset == 3 * 64 * KB && r[0].length == 64 * KB &&
       r[0].kind == XLSNAP__DELTA_DATA, "different: data");
    ok(n == 5 && r[1].offset == 14 * 64 * KB && r[1].length == 6 * 64 * KB &&
       r[1].kind == XLSNAP__DELTA_ZERO, "left_only: zeros");
    ok(n == 5 && r[3].offset == 40 * 64 * KB && r[3].length == 5 * 64 * KB &&
       r[3].kind == XLSNAP__DELTA_DATA, "right_only: data");
    ok(n == 5 && r[4].offset + r[4].length == 32 << 20,
       "the last block ends the volume");
    ok(mapped[0] == 21 && mapped[1] == 20,
       "blocks mapped: 21 in the base, 20 in the snapshot");
    free(r);
    rc = parse(ctx, SB DIFF END, 32 << 20, &r, &n);
    ok(!rc && n == 0, "no change: no ranges");
    free(r);
    /* as 1.x writes it (quick_xml): more attributes, no last newline,
     * an empty diff on one line */
    rc = parse(ctx, "<superblock uuid=\"\" time=\"1\" transaction=\"2\" "
               "version=\"2\" data_block_size=\"128\" "
               "nr_data_blocks=\"1000\">\n"
               "  <diff left=\"1\" right=\"2\">\n"
               "    <right_only begin=\"1\" length=\"1\"/>\n"
               "  </diff>\n</superblock>", 32 << 20, &r, &n);
    ok(!rc && n == 1, "1.x's form: one range");
    free(r);
    rc = parse(ctx, SB "  <diff left=\"1\" right=\"2\"></diff>\n"
               "</superblock>", 32 << 20, &r, &n);
    ok(!rc && n == 0, "an empty diff on one line: no ranges");
    free(r);
    /* 1 MiB blocks, a volume of 2.5 MiB: the last block cut */
    rc = parse(ctx, "<superblock uuid=\"\" time=\"0\" transaction=\"1\" "
               "data_block_size=\"2048\" nr_data_blocks=\"9\" "
               "metadata_snap=\"57\">\n" DIFF
               "    <right_only begin=\"2\" length=\"1\"/>\n" END,
               2560 * KB, &r, &n);
    ok(!rc && n == 1 && r[0].offset == 2048 * KB &&
       r[0].length == 512 * KB, "a block past the volume's end is cut");
    free(r);
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        r = NULL;
        n = 7;
        rc = parse(ctx, bad[i], 32 << 20, &r, &n);
        ok(rc == 1 && !r && !n, "not taken: output %zu", i);
    }
    xlsnap_ctx_free(ctx);
    return tap_done();
}
