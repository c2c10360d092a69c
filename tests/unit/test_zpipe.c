/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: zstd memory images streamed through zpipe (compress into a
 * file, decompress back through a pipe, xl header read from the pipe). */
#include "internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tap.h"

#define SIZE (8u << 20)

static char path[256];

/* Write the xl header + data through a compressing zpipe into path. */
static int compress_to_file(xlsnap_ctx *ctx, const char *cfg,
                            const unsigned char *data, size_t len)
{
    xlsnap__zpipe z;
    int file = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), fd, rc;

    if (file < 0) return -1;
    if ((rc = xlsnap__zpipe_start(ctx, file, true, &z, &fd))) return rc;
    rc = xlsnap__savefile_write_header(ctx, fd, cfg);
    for (size_t off = 0; !rc && off < len; ) {
        ssize_t n = write(fd, data + off, len - off);
        if (n <= 0) rc = -1; else off += n;
    }
    close(fd);
    if (!rc) rc = xlsnap__zpipe_finish(ctx, &z, true);
    else xlsnap__zpipe_finish(ctx, &z, false);
    close(file);
    return rc;
}

int main(void)
{
    xlsnap_ctx *ctx;
    xlsnap__zpipe z;
    unsigned char *data = calloc(1, SIZE), *back = malloc(SIZE + 1);
    unsigned char magic[4];
    char *cfg = NULL;
    struct stat st;
    size_t got = 0;
    int file, fd, rc;

    snprintf(path, sizeof(path), "/tmp/xlsnap-zpipe-%d.zst", getpid());
    if (xlsnap_ctx_alloc(&ctx, "/nonexistent", NULL)) return 1;
    /* mostly zero pages (an idle guest) with some noise */
    srand(1);
    for (size_t i = 0; i < SIZE / 8; i++) data[i] = rand();

    ok(compress_to_file(ctx, "{\"c_info\":{}}", data, SIZE) == 0,
       "compress 8 MiB through the pipe");
    ok(stat(path, &st) == 0 && st.st_size < SIZE / 2,
       "the image is smaller than half the input (%lld bytes)",
       (long long)st.st_size);
    file = open(path, O_RDONLY);
    ok(read(file, magic, 4) == 4 && magic[0] == 0x28 && magic[1] == 0xb5 &&
       magic[2] == 0x2f && magic[3] == 0xfd, "the file is one zstd stream");
    lseek(file, 0, SEEK_SET);

    ok(xlsnap__zpipe_start(ctx, file, false, &z, &fd) == 0,
       "decompressing thread starts");
    rc = xlsnap__savefile_read_header(ctx, fd, &cfg);
    ok(rc == 0, "the xl header is read from the pipe: %s",
       rc ? xlsnap_last_error(ctx) : "ok");
    is_str(cfg, "{\"c_info\":{}}", "the header's config comes back");
    for (ssize_t n; (n = read(fd, back + got, SIZE + 1 - got)) > 0; )
        got += n;
    close(fd);
    ok(xlsnap__zpipe_finish(ctx, &z, true) == 0, "the thread ends cleanly");
    ok(got == SIZE && !memcmp(back, data, SIZE), "the stream comes back "
       "byte for byte (%zu bytes)", got);
    close(file);

    /* a truncated image is an error, not a short stream */
    if (truncate(path, st.st_size / 2) == 0) {
        file = open(path, O_RDONLY);
        xlsnap__zpipe_start(ctx, file, false, &z, &fd);
        while (read(fd, back, SIZE) > 0) ;
        close(fd);
        rc = xlsnap__zpipe_finish(ctx, &z, true);
        ok(rc != 0 && strstr(xlsnap_last_error(ctx), "truncated"),
           "a truncated image is reported: %s", xlsnap_last_error(ctx));
        close(file);
    }
    /* a reader that stops early does not hang the thread */
    file = open(path, O_RDONLY);
    xlsnap__zpipe_start(ctx, file, false, &z, &fd);
    close(fd);
    xlsnap__zpipe_finish(ctx, &z, false);
    ok(1, "a reader closing early ends the thread");
    close(file);

    unlink(path);
    free(cfg);
    free(data);
    free(back);
    xlsnap_ctx_free(ctx);
    return tap_done();
}
