/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * spawn.c - run helper programs (qemu-img, xl) from an argv vector, no
 * shell.  Output is captured in anonymous memory files rather than pipes:
 * a program that daemonises (xl restore) keeps no pipe of ours open.
 *
 * libxl is set to reap only its own children (see ctx.c), so waitpid()
 * on our pid here is safe.
 *
 * A helper dies with us: the child asks for SIGKILL when its parent
 * goes (PR_SET_PDEATHSIG, kept across execve), so a tool killed with
 * SIGKILL leaves no qemu-img writing into a staging dir that check
 * --repair removes.  The child checks getppid() after the prctl: a
 * parent that died before it closes the race.  (A program that
 * daemonises, as xl restore's monitor, forks first: its daemon does not
 * inherit the setting.)
 */
#include "internal.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static char *slurp(int fd)
{
    off_t len = lseek(fd, 0, SEEK_END);
    char *buf;

    if (len < 0) len = 0;
    if (len > (1 << 20)) len = 1 << 20;
    buf = calloc(1, len + 1);
    if (!buf) return NULL;      /* out of memory: the caller says so */
    if (len && pread(fd, buf, len, 0) < 0) buf[0] = '\0';
    return buf;
}

int xlsnap__spawn(xlsnap_ctx *ctx, const char *const argv[], int stdin_fd,
                  char **out_r, char **err_r, int *status_r)
{
    int out = -1, err = -1, status, rc;
    pid_t pid, self = getpid();

    if (out_r) *out_r = NULL;
    if (err_r) *err_r = NULL;
    out = memfd_create("xlsnap-out", MFD_CLOEXEC);
    err = memfd_create("xlsnap-err", MFD_CLOEXEC);
    if (out < 0 || err < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot create output buffer");
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        rc = xlsnap__error_errno(ctx, errno, "cannot fork for %s", argv[0]);
        goto out;
    }
    if (pid == 0) {
        int in;
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != self)
            _exit(127);
        in = stdin_fd >= 0 ? stdin_fd : open("/dev/null", O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
            dup2(err, 2) < 0)
            _exit(127);
        /* nothing else of ours may leak into the child: xl restore
         * leaves a monitor daemon running, which would hold it open */
        close_range(3, ~0U, 0);
        execvp(argv[0], (char *const *)argv);
        dprintf(2, "%s: cannot execute: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            rc = xlsnap__error_errno(ctx, errno, "cannot wait for %s",
                                     argv[0]);
            goto out;
        }
    }
    *status_r = WIFEXITED(status) ? WEXITSTATUS(status)
                                  : 128 + WTERMSIG(status);
    if (out_r) *out_r = slurp(out);
    if (err_r) *err_r = slurp(err);
    if ((out_r && !*out_r) || (err_r && !*err_r)) {
        if (out_r) { free(*out_r); *out_r = NULL; }
        if (err_r) { free(*err_r); *err_r = NULL; }
        rc = xlsnap__nomem(ctx);
        goto out;
    }
    rc = 0;
 out:
    if (out >= 0) close(out);
    if (err >= 0) close(err);
    return rc;
}

/* The last non-empty line of text, without a "prog: " prefix; NULL:
 * out of memory. */
char *xlsnap__last_line(const char *text, const char *prefix)
{
    const char *end, *start;
    size_t plen = prefix ? strlen(prefix) : 0;

    if (!text) return xlsnap__strdup("");
    end = text + strlen(text);
    while (end > text && (end[-1] == '\n' || end[-1] == ' ')) end--;
    start = end;
    while (start > text && start[-1] != '\n') start--;
    if (plen && (size_t)(end - start) >= plen &&
        !strncmp(start, prefix, plen))
        start += plen;
    return strndup(start, end - start);
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
