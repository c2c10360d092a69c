/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * progress.c - the progress line on a terminal's stderr
 *
 * main() installs progress_print() as libxlsnap's progress callback
 * only when stderr is a TTY and -q was not given.  One line per part
 * ("memory", a disk), rewritten with \r:
 *   memory:  45.0 MiB / 96.0 MiB  46%  12.3 MiB/s  ETA 0:04
 * and finished with a newline when the part is complete.
 */
#include <string.h>
#include <time.h>

#include "xl-snapshot.h"

static struct {
    char what[64];
    struct timespec start;
    uint64_t first;          /* bytes done at the first report */
    bool open;               /* a line without its newline is shown */
} pr;

static double seconds_since(const struct timespec *t)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t->tv_sec) + (now.tv_nsec - t->tv_nsec) / 1e9;
}

static double mib(uint64_t n) { return n / (1024.0 * 1024.0); }

void progress_print(void *user, const char *what, uint64_t done,
                    uint64_t total)
{
    double secs, rate;
    char eta[32] = "";

    (void)user;
    if (!pr.open || strcmp(pr.what, what)) {
        progress_break();
        snprintf(pr.what, sizeof(pr.what), "%s", what);
        clock_gettime(CLOCK_MONOTONIC, &pr.start);
        pr.first = done;
    }
    secs = seconds_since(&pr.start);
    /* the clock starts at the first report: the rate is of what came
     * after it */
    rate = secs >= 0.05 ? (done - pr.first) / secs : 0;
    if (total && done < total && rate > 0) {
        long left = (long)((total - done) / rate);
        snprintf(eta, sizeof(eta), "  ETA %ld:%02ld", left / 60, left % 60);
    }
    fprintf(stderr, "\r%s: %6.1f MiB", pr.what, mib(done));
    if (total)
        fprintf(stderr, " / %.1f MiB  %3d%%", mib(total),
                (int)(done * 100 / total));
    if (rate > 0) fprintf(stderr, "  %.1f MiB/s%s", mib((uint64_t)rate), eta);
    fputs("\033[K", stderr);
    pr.open = true;
    if (total && done >= total) progress_break();
    fflush(stderr);
}

void progress_break(void)
{
    if (!pr.open) return;
    fputc('\n', stderr);
    pr.open = false;
}
