/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * guest-ticker: the e2e test guest's counter loop (tests/e2e/images/guest-init),
 * without a fork per write.  Every TICK_US microseconds: n = n + 1, write n
 * (20 digits + '\n', zero padded to 512 bytes) into sector 1 of every disk
 * given, flushed (O_DIRECT if the device takes it, then fdatasync), THEN print
 * "tick n" on stdout.  So at any time: last printed tick <= disk counter <=
 * last printed tick + 1, exactly as the busybox loop it replaces (one dd
 * per disk per tick, whose forks cost the emulated CPU 47 ms a tick: 0.72 of
 * it for one ticking guest, measured with tests/e2e/lib/dom0-tick-measure.sh).
 *
 *   guest-ticker START TICK_US DISK...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_DISKS 16

int main(int argc, char **argv)
{
    static char buf[512] __attribute__((aligned(4096)));
    int fds[MAX_DISKS], failed[MAX_DISKS] = { 0 }, nd = 0, i;
    unsigned long long n;
    long tick_us;
    struct timespec ts;

    if (argc < 3) {
        fprintf(stderr, "usage: guest-ticker START TICK_US DISK...\n");
        return 2;
    }
    n = strtoull(argv[1], NULL, 10);
    tick_us = strtol(argv[2], NULL, 10);
    if (tick_us <= 0)
        tick_us = 200000;
    for (i = 3; i < argc && nd < MAX_DISKS; i++) {
        int fd = open(argv[i], O_WRONLY | O_DIRECT);
        if (fd < 0 && errno == EINVAL) {
            printf("guest: O_DIRECT refused on %s, using fsync only\n", argv[i]);
            fd = open(argv[i], O_WRONLY);
        }
        if (fd < 0) {
            printf("guest: cannot open %s: %s\n", argv[i], strerror(errno));
            continue;
        }
        fds[nd++] = fd;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    ts.tv_sec = tick_us / 1000000;
    ts.tv_nsec = (tick_us % 1000000) * 1000;
    for (;;) {
        n++;
        memset(buf, 0, sizeof(buf));
        snprintf(buf, sizeof(buf), "%020llu\n", n);
        for (i = 0; i < nd; i++) {
            if (pwrite(fds[i], buf, sizeof(buf), 512) != (ssize_t)sizeof(buf) &&
                !failed[i]++)
                printf("guest: write of tick %llu failed: %s\n", n, strerror(errno));
            fdatasync(fds[i]);
        }
        printf("tick %llu\n", n);
        nanosleep(&ts, NULL);
    }
}
