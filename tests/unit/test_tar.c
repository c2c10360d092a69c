/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests: the bundle's tar writer and reader (bundle/bundle.c):
 * round trip, GNU base-256 sizes, GNU tar reading what we write and we
 * reading what GNU tar writes, and hostile archives refused. */
#include "internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tap.h"

static char dir[256];

static char *path_of(const char *name)
{
    static char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return p;
}

/* the output of a shell command, at most n - 1 bytes */
static char *capture(const char *cmd, char *buf, size_t n)
{
    FILE *p = popen(cmd, "r");
    size_t got = 0;

    buf[0] = '\0';
    if (!p) return buf;
    got = fread(buf, 1, n - 1, p);
    buf[got] = '\0';
    pclose(p);
    return buf;
}

static int write_file(const char *name, const void *data, size_t len)
{
    int fd = open(path_of(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    bool good = fd >= 0 && write(fd, data, len) == (ssize_t)len;
    if (fd >= 0) close(fd);
    return good ? 0 : -1;
}

/* A raw ustar header written by hand (not by the code under test). */
static void raw_header(unsigned char h[512], const char *name,
                       size_t name_len, uint64_t size, char type,
                       const char *prefix)
{
    unsigned sum = 0;

    memset(h, 0, 512);
    memcpy(h, name, name_len);
    memcpy(h + 100, "0000600", 8);
    memcpy(h + 108, "0000000", 8);
    memcpy(h + 116, "0000000", 8);
    snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
    memcpy(h + 136, "00000000000", 12);
    memset(h + 148, ' ', 8);
    h[156] = type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    if (prefix) memcpy(h + 345, prefix, strlen(prefix));
    for (int i = 0; i < 512; i++) sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
}

/* the checksum again, after a change to h */
static void reseal(unsigned char h[512])
{
    unsigned sum = 0;

    memset(h + 148, ' ', 8);
    for (int i = 0; i < 512; i++) sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
}

/* An archive of one member (header h, size bytes of 'x') and the end
 * blocks, as an fd open for reading. */
static int archive_of(const unsigned char h[512], uint64_t size)
{
    static const char zero[1024];
    char data[1024];
    int fd = open(path_of("hostile.tar"), O_RDWR | O_CREAT | O_TRUNC, 0600);
    size_t padded = (size + 511) / 512 * 512;

    memset(data, 0, sizeof(data));
    memset(data, 'x', size);
    if (fd < 0 || write(fd, h, 512) != 512 ||
        write(fd, data, padded) != (ssize_t)padded ||
        write(fd, zero, sizeof(zero)) != (ssize_t)sizeof(zero))
        return -1;
    lseek(fd, 0, SEEK_SET);
    return fd;
}

/* xlsnap_import on a hostile tar stream: CORRUPT, with a message. */
static void import_refuses(xlsnap_ctx *ctx, int fd, const char *what,
                           const char *msg)
{
    xlsnap_import_params p;
    xlsnap_snapshot s;
    int rc;

    xlsnap_import_params_init(&p);
    p.fd = fd;
    p.disk_dir = dir;
    xlsnap_snapshot_init(&s);
    rc = xlsnap_import(ctx, &p, &s);
    ok(rc == XLSNAP_ERROR_CORRUPT && strstr(xlsnap_last_error(ctx), msg),
       "import refuses %s: %d %s", what, rc, xlsnap_last_error(ctx));
    xlsnap_snapshot_dispose(&s);
}

typedef struct { const char *name; size_t len; } memb;

int main(void)
{
    static const memb members[] = {
        { "record.json", 300 }, { "memory.save", 100000 },
        { "empty", 0 }, { "disk-xvda.qcow2", 512 },
        { "disk-xvdb.qcow2", 513 }, { "manifest.json", 511 },
    };
    enum { NM = sizeof(members) / sizeof(*members) };
    xlsnap_ctx *ctx;
    char name[100], hex[65], want[65], buf[4096], cmd[1024];
    unsigned char h[512], *data, *back;
    uint64_t size;
    int fd, in, rc;

    snprintf(dir, sizeof(dir), "/tmp/xlsnap-tar-%d", getpid());
    if (mkdir(dir, 0700) || xlsnap_ctx_alloc(&ctx, path_of("state"), NULL))
        return 1;
    data = malloc(100000);
    back = malloc(100000);
    if (!data || !back) return 1;
    for (int i = 0; i < 100000; i++) data[i] = (unsigned char)(i * 7 + 3);

    /* ---- round trip: write several members, read them back ---- */
    fd = open(path_of("a.tar"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    rc = 0;
    for (int i = 0; i < NM && !rc; i++) {
        if (i == 1) {      /* one member from an fd, hashed on the way */
            xlsnap__sha256 s;
            write_file("mem", data, members[i].len);
            in = open(path_of("mem"), O_RDONLY);
            rc = xlsnap__tar_put(ctx, fd, members[i].name, in,
                                 members[i].len, hex);
            close(in);
            xlsnap__sha256_init(&s);
            xlsnap__sha256_update(&s, data, members[i].len);
            xlsnap__sha256_final(&s, want);
            is_str(hex, want, "tar_put reports the member's SHA-256");
        } else {
            rc = xlsnap__tar_put_data(ctx, fd, members[i].name,
                                      (char *)data, members[i].len);
        }
    }
    if (!rc) rc = xlsnap__tar_end(ctx, fd);
    close(fd);
    ok(rc == 0, "write %d members and the end: %s", NM,
       rc ? xlsnap_last_error(ctx) : "ok");

    fd = open(path_of("a.tar"), O_RDONLY);
    {
        struct stat st;
        size_t total = 1024;
        for (int i = 0; i < NM; i++)
            total += 512 + (members[i].len + 511) / 512 * 512;
        fstat(fd, &st);
        ok((size_t)st.st_size == total, "the archive is headers + padded "
           "data + two zero blocks (%lld bytes, want %zu)",
           (long long)st.st_size, total);
    }
    for (int i = 0; i < NM; i++) {
        rc = xlsnap__tar_next(ctx, fd, name, &size);
        ok(rc == 1 && !strcmp(name, members[i].name) &&
           size == members[i].len, "member %d: %s, %llu bytes", i, name,
           (unsigned long long)size);
        ok(xlsnap__read_full(ctx, fd, back, size) == 0 &&
           !memcmp(back, data, size) &&
           xlsnap__tar_skip_pad(ctx, fd, size) == 0,
           "member %d: its bytes come back, then the padding", i);
    }
    ok(xlsnap__tar_next(ctx, fd, name, &size) == 0,
       "then the end of the archive");
    close(fd);

    /* ---- GNU tar reads what the writer wrote ---- */
    snprintf(cmd, sizeof(cmd), "tar -tvf %s/a.tar > /dev/null 2>&1", dir);
    rc = system(cmd);
    ok(rc == 0, "GNU tar -tvf accepts the archive (no warning)");
    snprintf(cmd, sizeof(cmd), "tar -tvf %s/a.tar 2>&1 | "
             "awk '{print $1, $3, $6}'", dir);
    capture(cmd, buf, sizeof(buf));
    is_str(buf, "-rw------- 300 record.json\n"
                "-rw------- 100000 memory.save\n"
                "-rw------- 0 empty\n"
                "-rw------- 512 disk-xvda.qcow2\n"
                "-rw------- 513 disk-xvdb.qcow2\n"
                "-rw------- 511 manifest.json\n",
           "GNU tar lists the members: mode, size, name");
    mkdir(path_of("x"), 0700);
    snprintf(cmd, sizeof(cmd), "tar -C %s/x -xf %s/a.tar", dir, dir);
    rc = system(cmd);
    {
        char cmpc[1024];
        snprintf(cmpc, sizeof(cmpc), "cmp -s %s/x/memory.save %s/mem",
                 dir, dir);
        ok(rc == 0 && system(cmpc) == 0,
           "GNU tar extracts the member byte for byte");
    }

    /* the writer: a 99-byte name is written whole, a longer one refused */
    {
        char longname[101];
        struct stat st;
        memset(longname, 'L', 100);
        longname[99] = '\0';
        fd = open(path_of("long.tar"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        rc = xlsnap__tar_put_data(ctx, fd, longname, "abc", 3);
        rc = rc ? rc : xlsnap__tar_end(ctx, fd);
        longname[99] = 'L';
        longname[100] = '\0';
        ok(xlsnap__tar_put_data(ctx, fd, longname, "abc", 3) ==
           XLSNAP_ERROR_INVAL && fstat(fd, &st) == 0 && st.st_size == 2048,
           "a 100-byte name is refused, nothing written: %s",
           xlsnap_last_error(ctx));
        close(fd);
        longname[99] = '\0';
        snprintf(cmd, sizeof(cmd), "tar -tf %s/long.tar", dir);
        capture(cmd, buf, sizeof(buf));
        ok(rc == 0 && strlen(buf) == 100 && !strncmp(buf, longname, 99),
           "a 99-byte name: GNU tar lists it whole");
    }

    /* ---- what GNU tar writes (ustar and gnu), the reader reads ---- */
    write_file("one", data, 1234);
    write_file("two.bin", data + 5, 1024);
    write_file("zero", data, 0);
    for (int f = 0; f < 2; f++) {
        const char *format = f ? "gnu" : "ustar";
        snprintf(cmd, sizeof(cmd), "tar -C %s --format=%s -cf %s/g.tar "
                 "one two.bin zero", dir, format, dir);
        rc = system(cmd);
        fd = open(path_of("g.tar"), O_RDONLY);
        ok(rc == 0 && fd >= 0, "GNU tar --format=%s writes an archive",
           format);
        rc = xlsnap__tar_next(ctx, fd, name, &size);
        ok(rc == 1 && !strcmp(name, "one") && size == 1234 &&
           !xlsnap__read_full(ctx, fd, back, size) &&
           !memcmp(back, data, size) && !xlsnap__tar_skip_pad(ctx, fd, size),
           "%s: 'one', 1234 bytes: %s", format,
           rc < 0 ? xlsnap_last_error(ctx) : name);
        rc = xlsnap__tar_next(ctx, fd, name, &size);
        ok(rc == 1 && !strcmp(name, "two.bin") && size == 1024 &&
           !xlsnap__read_full(ctx, fd, back, size) &&
           !memcmp(back, data + 5, size) &&
           !xlsnap__tar_skip_pad(ctx, fd, size),
           "%s: 'two.bin', 1024 bytes", format);
        rc = xlsnap__tar_next(ctx, fd, name, &size);
        ok(rc == 1 && !strcmp(name, "zero") && size == 0 &&
           !xlsnap__tar_skip_pad(ctx, fd, size),
           "%s: 'zero', empty", format);
        ok(xlsnap__tar_next(ctx, fd, name, &size) == 0,
           "%s: the end", format);
        close(fd);
    }

    /* ---- sizes of 8 GiB and more: GNU base-256 ---- */
    fd = open(path_of("big.tar"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    in = open("/dev/null", O_RDONLY);
    /* the header is written, then the (empty) input ends early */
    rc = xlsnap__tar_put(ctx, fd, "big", in, 9ULL << 30, NULL);
    ok(rc == XLSNAP_ERROR_CORRUPT, "a member whose input ends early is "
       "CORRUPT: %s", xlsnap_last_error(ctx));
    close(in);
    close(fd);
    fd = open(path_of("big.tar"), O_RDONLY);
    ok(read(fd, h, 512) == 512 && h[124] == 0x80 && !h[125] && !h[126] &&
       !h[127] && h[128] == 0 && h[131] == 2 && h[132] == 0x40 &&
       !h[133] && !h[134] && !h[135],
       "9 GiB is written in base-256, big-endian");
    lseek(fd, 0, SEEK_SET);
    rc = xlsnap__tar_next(ctx, fd, name, &size);
    ok(rc == 1 && size == 9ULL << 30, "and read back: %llu",
       (unsigned long long)size);
    close(fd);
    /* the largest octal size stays octal; GNU tar agrees on both */
    fd = open(path_of("big.tar"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    in = open("/dev/null", O_RDONLY);
    xlsnap__tar_put(ctx, fd, "oct", in, 077777777776ULL, NULL);
    close(in);
    close(fd);
    fd = open(path_of("big.tar"), O_RDONLY);
    ok(read(fd, h, 512) == 512 && !memcmp(h + 124, "77777777776", 12),
       "8 GiB - 2 is written in octal");
    close(fd);
    snprintf(cmd, sizeof(cmd), "tar -tvf %s/big.tar 2>/dev/null | "
             "awk '{print $3}'", dir);
    is_str(capture(cmd, buf, sizeof(buf)), "8589934590\n",
           "GNU tar reads the octal size");
    /* what GNU tar writes for a sparse 9 GiB file, the reader reads */
    fd = open(path_of("nine"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    rc = fd >= 0 ? ftruncate(fd, 9LL << 30) : -1;
    if (fd >= 0) close(fd);
    snprintf(cmd, sizeof(cmd), "tar -C %s --format=gnu -cf - nine "
             "2>/dev/null | head -c 512 > %s/big.tar", dir, dir);
    if (!rc) rc = system(cmd);
    unlink(path_of("nine"));
    fd = open(path_of("big.tar"), O_RDONLY);
    rc = xlsnap__tar_next(ctx, fd, name, &size);
    ok(rc == 1 && !strcmp(name, "nine") && size == 9ULL << 30,
       "GNU tar's base-256 header of a 9 GiB file reads as 9 GiB: %llu",
       (unsigned long long)size);
    close(fd);

    /* size fields: octal digits (spaces around them), or base-256 of a
     * non-negative size below 2^63; anything else is refused, not read
     * as some other size (a '-1' would be "copy until the end") */
    {
        static const struct {
            const char field[12];
            bool good;
            uint64_t size;
            const char *why;
        } sizes[] = {
            { "00000000012", true, 10, "octal, NUL-terminated" },
            { "0000000012 ", true, 10, "octal, space-terminated" },
            { "       12  ", true, 10, "octal with leading spaces" },
            { "0000000001x", false, 0, "a letter after the digits" },
            { "00000000018", false, 0, "an 8" },
            { "-0000000001", false, 0, "a minus sign" },
            { "+0000000001", false, 0, "a plus sign" },
            { "           ", false, 0, "no digit" },
            { "", false, 0, "an empty field" },
            { "\x80\0\0\0\0\0\0\0\0\0\0\x0a", true, 10,
              "base-256 10" },
            { "\x80\0\0\0\x7f\xff\xff\xff\xff\xff\xff\xff", true,
              INT64_MAX, "base-256 2^63 - 1" },
            { "\x80\0\0\0\x80\0\0\0\0\0\0\0", false, 0,
              "base-256 2^63" },
            { "\x80\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff", false,
              0, "base-256 2^64 - 1 (\"until the end\")" },
            { "\x80\0\0\x01\0\0\0\0\0\0\0\0", false, 0,
              "base-256 2^64 (bits beyond 64)" },
            { "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", false,
              0, "base-256 -1" },
            { "\xc0\0\0\0\0\0\0\0\0\0\0\x0a", false, 0,
              "another high-bit form" },
        };
        for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
            raw_header(h, "record.json", 11, 0, '0', NULL);
            memcpy(h + 124, sizes[i].field, 12);
            reseal(h);
            fd = archive_of(h, 0);
            size = 12345;
            rc = xlsnap__tar_next(ctx, fd, name, &size);
            if (sizes[i].good)
                ok(rc == 1 && size == sizes[i].size, "size field, %s: "
                   "%llu", sizes[i].why, (unsigned long long)size);
            else
                ok(rc == XLSNAP_ERROR_CORRUPT &&
                   strstr(xlsnap_last_error(ctx), "size"),
                   "size field, %s: CORRUPT (%d, %s)", sizes[i].why, rc,
                   rc < 0 ? xlsnap_last_error(ctx) : "");
            close(fd);
        }
    }

    /* ---- hostile and broken archives ---- */
    /* truncated: in a header, in the data, before the end blocks */
    for (int cut = 0; cut < 3; cut++) {
        static const off_t at[] = { 300, 512 + 100, 512 + 512 };
        static const char *what[] = { "in a header", "in a member's data",
                                      "before the end blocks" };
        char small[300];
        memset(small, 'y', sizeof(small));
        fd = open(path_of("cut.tar"), O_RDWR | O_CREAT | O_TRUNC, 0600);
        xlsnap__tar_put_data(ctx, fd, "record.json", small, sizeof(small));
        xlsnap__tar_end(ctx, fd);
        rc = ftruncate(fd, at[cut]);
        lseek(fd, 0, SEEK_SET);
        rc = xlsnap__tar_next(ctx, fd, name, &size);
        if (rc == 1) {
            rc = xlsnap__copy_hashed(ctx, fd, -1, size, name, NULL, hex);
            if (!rc) rc = xlsnap__tar_skip_pad(ctx, fd, size);
            if (!rc) rc = xlsnap__tar_next(ctx, fd, name, &size);
        }
        ok(rc == XLSNAP_ERROR_CORRUPT &&
           strstr(xlsnap_last_error(ctx), "ends early"),
           "an archive cut %s is CORRUPT: %s", what[cut],
           xlsnap_last_error(ctx));
        close(fd);
    }

    /* a bad checksum */
    raw_header(h, "record.json", 11, 10, '0', NULL);
    fd = archive_of(h, 10);
    ok(xlsnap__tar_next(ctx, fd, name, &size) == 1 &&
       !strcmp(name, "record.json") && size == 10,
       "the hand-made header reads");
    close(fd);
    h[0] = 'R';
    fd = archive_of(h, 10);
    rc = xlsnap__tar_next(ctx, fd, name, &size);
    ok(rc == XLSNAP_ERROR_CORRUPT &&
       strstr(xlsnap_last_error(ctx), "bad tar header"),
       "a bad checksum is CORRUPT: %s", xlsnap_last_error(ctx));
    close(fd);
    fd = archive_of(h, 10);
    import_refuses(ctx, fd, "a bad checksum", "bad tar header");
    close(fd);
    /* not a tar at all */
    memset(h, 'z', 512);
    fd = archive_of(h, 0);
    rc = xlsnap__tar_next(ctx, fd, name, &size);
    ok(rc == XLSNAP_ERROR_CORRUPT, "512 bytes of text are CORRUPT: %s",
       xlsnap_last_error(ctx));
    close(fd);

    /* members that are not plain files */
    {
        static const char types[] = "12345L7xgK";
        int refused = 0;
        for (const char *t = types; *t; t++) {
            raw_header(h, "record.json", 11, 0, *t, NULL);
            fd = archive_of(h, 0);
            rc = xlsnap__tar_next(ctx, fd, name, &size);
            if (rc == XLSNAP_ERROR_CORRUPT &&
                strstr(xlsnap_last_error(ctx), "other than plain files"))
                refused++;
            else
                printf("# type '%c': %d\n", *t, rc);
            close(fd);
        }
        ok(refused == (int)strlen(types), "every non-regular type (%s) is "
           "CORRUPT: %s", types, xlsnap_last_error(ctx));
        raw_header(h, "record.json", 11, 0, '\0', NULL);
        fd = archive_of(h, 0);
        ok(xlsnap__tar_next(ctx, fd, name, &size) == 1,
           "type NUL (old tar) is a regular file");
        close(fd);
        raw_header(h, "disk-xvda.qcow2", 15, 0, '2', NULL);
        memcpy(h + 157, "/etc/shadow", 11);
        reseal(h);
        fd = archive_of(h, 0);
        import_refuses(ctx, fd, "a symlink", "other than plain files");
        close(fd);
    }

    /* names: at most 99 bytes, no directory, no '..' */
    memset(buf, 'n', 100);
    raw_header(h, buf, 99, 0, '0', NULL);
    fd = archive_of(h, 0);
    rc = xlsnap__tar_next(ctx, fd, name, &size);
    ok(rc == 1 && strlen(name) == 99, "a 99-byte name reads whole");
    close(fd);
    raw_header(h, buf, 100, 0, '0', NULL);
    fd = archive_of(h, 0);
    rc = xlsnap__tar_next(ctx, fd, name, &size);
    ok(rc == XLSNAP_ERROR_CORRUPT, "a 100-byte name is CORRUPT, not read "
       "as its first 99 bytes: %d %s", rc, rc < 0 ? xlsnap_last_error(ctx)
       : name);
    close(fd);
    raw_header(h, "record.json", 11, 0, '0', "../../etc");
    fd = archive_of(h, 0);
    rc = xlsnap__tar_next(ctx, fd, name, &size);
    ok(rc == XLSNAP_ERROR_CORRUPT, "a name with a ustar prefix "
       "(../../etc/record.json) is CORRUPT, not read as record.json: "
       "%d %s", rc, rc < 0 ? xlsnap_last_error(ctx) : name);
    close(fd);
    {
        static const char *names[] = {
            "../record.json", "a/record.json", "/etc/passwd", "..",
            ".manifest.json", "disk-xvda.qcow2/", "a b",
        };
        for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
            ok(!xlsnap__bundle_name_ok(names[i]), "'%s' is not a bundle "
               "name", names[i]);
            raw_header(h, names[i], strlen(names[i]), 4, '0', NULL);
            fd = archive_of(h, 4);
            import_refuses(ctx, fd, names[i], "not allowed");
            close(fd);
        }
        ok(xlsnap__bundle_name_ok("disk-xvda.qcow2") &&
           xlsnap__bundle_name_ok("a..b+c_d-e"),
           "plain names are bundle names");
    }
    snprintf(cmd, sizeof(cmd), "cd %s && ls -A state; ls -A | grep record",
             dir);
    is_str(capture(cmd, buf, sizeof(buf)), "", "the refused imports left "
           "nothing in the state directory or beside it");

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    rc = system(cmd);
    (void)rc;
    free(data);
    free(back);
    xlsnap_ctx_free(ctx);
    return tap_done();
}
