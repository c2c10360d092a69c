/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sha256-bench.c FILE: libxlsnap's SHA-256 (core/sha256.c) over FILE,
 * read in 1 MiB pieces as xlsnap__copy_hashed does; prints the digest
 * and the seconds it took.  Built by bench/bundle-bench.py against a
 * tree's build/libxlsnap.a (the digest is compared with sha256sum's).
 * The return values are not looked at: older trees' calls had none.
 */
#include "internal.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    static char buf[1 << 20];
    struct timespec t0, t1;
    xlsnap__sha256 s;
    char hex[65];
    ssize_t r;
    int fd;

    if (argc != 2 || (fd = open(argv[1], O_RDONLY)) < 0) return 2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    xlsnap__sha256_init(&s);
    while ((r = read(fd, buf, sizeof(buf))) > 0)
        xlsnap__sha256_update(&s, buf, r);
    xlsnap__sha256_final(&s, hex);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%s %.6f\n", hex, (t1.tv_sec - t0.tv_sec) +
           (t1.tv_nsec - t0.tv_nsec) / 1e9);
    close(fd);
    return r < 0;
}
