/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * main.c - global options, context set-up, dispatch
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/close_range.h>
#include <xentoollog.h>

#include "xl-snapshot.h"

xlsnap_ctx *g_ctx;
int g_verbose;
bool g_quiet;
const char *g_domain_config;
char *g_domain_config_json;
const char *g_progname = "xl-snapshot";

static void print_version(void)
{
    const char *rt = xlsnap_libxl_runtime_version();

    printf("xl-snapshot %s (libxlsnap %s, libxenlight %s; "
           "built against libxenlight %s)\n", XLSNAP_VERSION,
           xlsnap_version(), rt ? rt : "unknown",
           xlsnap_libxl_built_version());
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { "state-dir", required_argument, NULL, 'S' },
        { "verbose", no_argument, NULL, 'v' },
        { "quiet", no_argument, NULL, 'q' },
        { NULL, 0, NULL, 0 },
    };
    xentoollog_logger_stdiostream *lg = NULL;
    const struct cmd_spec *cmd;
    const char *state_dir = NULL, *pick = NULL;
    int opt, rc;

    /* Descriptors we inherited must not reach the long-lived processes
     * our operations start (xl's monitor, QEMU device models). */
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);

    /* --uuid UUID may stand anywhere (before a "--"): it picks a
     * domain's snapshot history where its name is ambiguous */
    for (int i = 1; i < argc; i++) {
        int n = 0;
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--uuid")) {
            if (i + 1 >= argc) {
                err("option '--uuid' needs a UUID");
                return EXIT_USAGE;
            }
            pick = argv[i + 1];
            n = 2;
        } else if (!strncmp(argv[i], "--uuid=", 7)) {
            pick = argv[i] + 7;
            n = 1;
        }
        if (!n) continue;
        memmove(&argv[i], &argv[i + n], (argc - i - n + 1) * sizeof(*argv));
        argc -= n;
        i--;
    }

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+hvqS:", opts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            print_help(stdout);
            return EXIT_SUCCESS;
        case 'V':
            print_version();
            return EXIT_SUCCESS;
        case 'S':
            state_dir = optarg;
            break;
        case 'v':
            g_verbose++;
            break;
        case 'q':
            g_quiet = true;
            break;
        default:
            if (optopt)
                err("option '-%c' %s", optopt, optopt == 'S'
                    ? "needs a directory" : "is not a global option");
            else
                err("unknown global option '%s'", argv[optind - 1]);
            print_help(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        print_help(stderr);
        return EXIT_USAGE;
    }
    cmd = cmd_lookup(argv[optind]);
    if (!cmd) {
        cmd_unknown(argv[optind]);
        return EXIT_USAGE;
    }
    if (state_dir && !*state_dir) {
        err("-S needs a directory");
        return EXIT_USAGE;
    }

    lg = xtl_createlogger_stdiostream(stderr,
                                      g_verbose > 1 ? XTL_DEBUG :
                                      g_verbose ? XTL_DETAIL : XTL_ERROR,
                                      0);
    rc = xlsnap_ctx_alloc(&g_ctx, state_dir, (xentoollog_logger *)lg);
    if (rc) {
        err("cannot set up: %s", xlsnap_strerror(rc));
        rc = EXIT_FAILURE;
        goto out;
    }

    if (pick) {
        if (strlen(pick) != 36 ||
            strspn(pick, "0123456789abcdefABCDEF-") != 36) {
            err("'%s' is not a UUID (--uuid)", pick);
            rc = EXIT_USAGE;
            goto out;
        }
        xlsnap_set_domain_uuid(g_ctx, pick);
    }

    /* a progress line only for a person watching a terminal */
    if (!g_quiet && isatty(STDERR_FILENO))
        xlsnap_set_progress(g_ctx, progress_print, NULL);

    argc -= optind;
    argv += optind;
    optind = 0;          /* reset getopt for the command (GNU) */
    rc = cmd->fn(cmd, argc, argv);
    progress_break();

 out:
    xlsnap_ctx_free(g_ctx);
    free(g_domain_config_json);
    if (lg) xtl_logger_destroy((xentoollog_logger *)lg);
    fflush(stdout);
    if (ferror(stdout)) {
        err("cannot write output");
        rc = EXIT_FAILURE;
    }
    return rc;
}
