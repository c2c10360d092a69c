/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * util.c - messages, option parsing, small shared helpers of the CLI
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xl-snapshot.h"
#include "model/record_fields.h"

/* Messages quote names, paths and domain arguments given by the user
 * or read from files: control characters in them are escaped, so that
 * they can neither split the message nor reach the terminal. */
static int utf8_len(const unsigned char *p, long *c_r);

static void put_escaped(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        long c;
        int n = utf8_len(p, &c);
        if (*p == '\n') {
            fputs("\\n", stderr);
            p++;
        } else if (!n || c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0)) {
            for (int i = 0; i < (n ? n : 1); i++)
                fprintf(stderr, "\\x%02x", *p++);
        } else {
            fwrite(p, 1, n, stderr);
            p += n;
        }
    }
}

static void __attribute__((format(printf, 2, 0)))
vmessage(const char *prefix, const char *fmt, va_list ap, const char *suffix)
{
    char *msg = NULL;

    fflush(stdout);
    progress_break();
    if (vasprintf(&msg, fmt, ap) < 0) msg = NULL;
    fprintf(stderr, "%s: %s", g_progname, prefix);
    put_escaped(msg ? msg : fmt);
    if (suffix) {
        fputs(": ", stderr);
        put_escaped(suffix);
    }
    fputc('\n', stderr);
    free(msg);
}

void err(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vmessage("", fmt, ap, NULL);
    va_end(ap);
}

/* The library's advice codes (xlsnap_error_hint) in the words of this
 * command line: text added to the library's message, or printed
 * instead of it where the message is about an option. */
static const struct {
    xlsnap_hint hint;
    const char *add, *instead;
} advice[] = {
    { XLSNAP_HINT_NO_MEMORY, " (use --no-memory)", NULL },
    { XLSNAP_HINT_COMPRESS_NEEDS_MEMORY, NULL, "--compress applies to the "
      "memory image, and this snapshot has none" },
    { XLSNAP_HINT_NO_METADATA_NEEDS_DISK_ONLY, NULL, "--no-metadata keeps "
      "no record, and a memory image without one cannot be reverted: add "
      "--disk-only" },
    { XLSNAP_HINT_EXTERNAL, "; use --external", NULL },
    { XLSNAP_HINT_DOMAIN_CONFIG, " (give its xl config file with "
      "--domain-config, or start it)", NULL },
    { XLSNAP_HINT_RUN_CHECK_REPAIR, "; run 'xl-snapshot check --repair'",
      NULL },
    { XLSNAP_HINT_FORCE, "; use --force (or take a snapshot first)", NULL },
    { XLSNAP_HINT_PICK_UUID, "; pick one with --uuid UUID (or give the "
      "UUID as the domain)", NULL },
    { XLSNAP_HINT_PICK_UUID_NEW, "; pick one with --uuid UUID (its own "
      "UUID starts a new history)", NULL },
    { XLSNAP_HINT_EXPORT_FULL, "; export with --full", NULL },
    { XLSNAP_HINT_AS_DOMAIN_NAME, NULL, "--as-domain takes a domain name" },
    { XLSNAP_HINT_DISK_DIR, "; give --disk-dir", NULL },
    { XLSNAP_HINT_DISK_DIR_TAKEN, " (use --disk-dir)", NULL },
    { XLSNAP_HINT_QUIESCE_NEEDS_DISK_ONLY, NULL, "--quiesce applies to a "
      "disk-only snapshot (a snapshot with memory is consistent by "
      "itself): add --disk-only" },
};

int fail(const char *fmt, ...)
{
    const char *msg = xlsnap_last_error(g_ctx), *add = "";
    xlsnap_hint hint = xlsnap_error_hint(g_ctx);
    char *full = NULL;
    va_list ap;

    for (size_t i = 0; i < sizeof(advice) / sizeof(advice[0]); i++) {
        if (advice[i].hint != hint) continue;
        if (advice[i].instead) msg = advice[i].instead;
        if (advice[i].add) add = advice[i].add;
    }
    if (*add && asprintf(&full, "%s%s", msg, add) >= 0) msg = full;
    va_start(ap, fmt);
    vmessage("cannot ", fmt, ap, msg);
    va_end(ap);
    free(full);
    return EXIT_FAILURE;
}

int resolve_domain(const char *spec, xlsnap_domain *dom_r)
{
    int rc;

    if (g_domain_config) {
        free(g_domain_config_json);
        g_domain_config_json = NULL;
        rc = xlsnap_domain_from_config(g_ctx, g_domain_config, dom_r,
                                       &g_domain_config_json);
    } else {
        rc = xlsnap_domain_resolve(g_ctx, spec, dom_r);
    }

    if (!rc && dom_r->adopted_from)
        err("domain '%s' has a new UUID %s (xl create without uuid= in "
            "its config): its snapshot history, recorded under UUID %s, "
            "follows it", dom_r->name, dom_r->uuid, dom_r->adopted_from);
    return rc;
}

void print_usage(FILE *f, const struct cmd_spec *cmd)
{
    fprintf(f, "Usage: xl-snapshot [-v] [-S DIR] %s %s\n", cmd->name,
            cmd->usage);
}

const char global_options[] =
    "  -S, --state-dir DIR  snapshot state directory (default "
    "$XL_SNAPSHOT_DIR or\n"
    "                       " XLSNAP_DEFAULT_STATE_DIR ")\n"
    "  -v, --verbose        more libxl detail on stderr (twice: debug)\n"
    "  -q, --quiet          no progress display\n"
    "  --uuid UUID          the snapshot history of UUID, where a domain "
    "name is\n"
    "                       ambiguous (anywhere on the command line)\n"
    "  -h, --help           this help\n"
    "  --version            print the version\n";

void print_help(FILE *f)
{
    fprintf(f,
            "Usage: xl-snapshot [-v] [-q] [-S DIR] <command> [args]\n"
            "       xl-snapshot --version | help [<command>]\n"
            "\n"
            "Snapshots of Xen domains (create, list, revert, delete) for "
            "the xl toolstack.\n"
            "\n"
            "Global options:\n%s"
            "\n"
            "Commands:\n", global_options);
    for (int i = 0; i < cmd_table_len; i++) {
        if (cmd_table[i].flags & CMD_HIDDEN) continue;
        fprintf(f, "  %-14s %s\n", cmd_table[i].name, cmd_table[i].summary);
    }
    fprintf(f, "\nAliases (the command names of xl's original snapshot "
            "design):\n");
    for (int i = 0; i < cmd_aliases_len; i++)
        fprintf(f, "  %-16s %s\n", cmd_aliases[i].alias, cmd_aliases[i].name);
    fprintf(f, "\nSee 'xl-snapshot help <command>' and "
            "xl-snapshot(1).\n");
}

void print_cmd_help(FILE *f, const struct cmd_spec *cmd)
{
    print_usage(f, cmd);
    fprintf(f, "\n%s.\n", cmd->summary);
    for (int i = 0; i < cmd_aliases_len; i++)
        if (!strcmp(cmd_aliases[i].name, cmd->name))
            fprintf(f, "Alias: %s.\n", cmd_aliases[i].alias);
    if (cmd->options && *cmd->options)
        fprintf(f, "\nOptions:\n%s", cmd->options);
    fprintf(f, "  -h, --help      this help\n");
}

int cmd_getopt(const struct cmd_spec *cmd, int argc, char **argv,
               const char *shortopts, const struct option *longopts)
{
    static const struct option help_only[] = {
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    char so[64];
    int opt;

    /* no "+": GNU getopt permutes, so options may follow the
     * positional arguments ("list web1 --json") */
    snprintf(so, sizeof(so), ":h%s", shortopts);
    opterr = 0;
    opt = getopt_long(argc, argv, so, longopts ? longopts : help_only,
                      NULL);
    switch (opt) {
    case 'h':
        print_cmd_help(stdout, cmd);
        return OPT_EXIT_OK;
    case '?':
        if (optopt)
            err("%s: unknown option '-%c'", cmd->name, optopt);
        else
            err("%s: unknown option '%s'", cmd->name, argv[optind - 1]);
        print_usage(stderr, cmd);
        return OPT_EXIT_USAGE;
    case ':':
        err("%s: option '%s' needs an argument", cmd->name,
            argv[optind - 1]);
        print_usage(stderr, cmd);
        return OPT_EXIT_USAGE;
    default:
        return opt;
    }
}

int cmd_args(const struct cmd_spec *cmd, int argc, int min, int max)
{
    int n = argc - optind;

    if (n >= min && (max < 0 || n <= max)) return 0;
    err("%s: %s arguments", cmd->name, n < min ? "missing" : "too many");
    print_usage(stderr, cmd);
    return EXIT_USAGE;
}

int name_args(const struct cmd_spec *cmd, int argc, char **argv,
              int ndomain, const char **name_r)
{
    int rc;

    if (!*name_r) {
        if ((rc = cmd_args(cmd, argc, ndomain + 1, ndomain + 1))) return rc;
        *name_r = argv[optind + ndomain];
        return 0;
    }
    if (argc - optind == ndomain + 1) {
        err("%s: the snapshot name is given twice (-n NAME and <Name>); "
            "give it once", cmd->name);
        print_usage(stderr, cmd);
        return EXIT_USAGE;
    }
    return cmd_args(cmd, argc, ndomain, ndomain);
}

void format_time(char *buf, size_t len, long long t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!localtime_r(&tt, &tm) ||
        !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(buf, len, "%lld", t);
}

int print_json(char *json)
{
    fputs(json, stdout);
    if (json[0] && json[strlen(json) - 1] != '\n') fputc('\n', stdout);
    free(json);
    return EXIT_SUCCESS;
}

void print_json_string(const char *s)
{
    if (!s) {
        fputs("null", stdout);
        return;
    }
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, <= U+10FFFF), 0 if it is not one; *c_r: the
 * code point. */
static int utf8_len(const unsigned char *p, long *c_r)
{
    static const long min[] = { 0, 0x80, 0x800, 0x10000 };
    int n = (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 :
            (*p & 0xf8) == 0xf0 ? 3 : -1;
    long c;

    if (*p < 0x80) { *c_r = *p; return 1; }
    if (n < 0) return 0;
    c = *p & (0x3f >> n);
    for (int i = 1; i <= n; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        c = c << 6 | (p[i] & 0x3f);
    }
    if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *c_r = c;
    return n + 1;
}

/* In place: every control character (C0, DEL, C1) and every byte that
 * is not part of well-formed UTF-8 becomes '?'. */
void scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;

    while (p && *p) {
        long c;
        int n = utf8_len(p, &c);
        if (!n) { *p++ = '?'; continue; }
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
            memset(p, '?', n);
        p += n;
    }
}

/* A scrubbed copy of s for printing (NULL stays NULL); valid until 16
 * more calls. */
const char *vis(const char *s)
{
    static char *ring[16];
    static int next;
    char **slot = &ring[next++ % 16];

    if (!s) return NULL;
    free(*slot);
    *slot = strdup(s);
    if (!*slot) return "?";
    scrub(*slot);
    return *slot;
}

/* Every text field of the record (record_fields.h): strings scrubbed,
 * other kinds left alone; the domain config is printed only as JSON. */
#define SCRUB_STR(p)   scrub(p)
#define SCRUB_COMP(p)  scrub(p)
#define SCRUB_UUID(p)  scrub(p)
#define SCRUB_RAW(p)   ((void)0)
#define SCRUB_TIME(p)  ((void)0)
#define SCRUB_STATE(p) ((void)0)
#define SCRUB_BOOL(p)  ((void)0)
#define SCRUB_TYPE(p)  ((void)0)
#define SCRUB_DISKS(p) ((void)0)
#define SCRUB_DKIND(p) ((void)0)
#define SCRUB_REC(m, key, kind, fl) SCRUB_##kind(s->m);
#define SCRUB_DISK(m, key, kind, fl) SCRUB_##kind(d->m);

void scrub_snapshot(xlsnap_snapshot *s)
{
    XLSNAP__RECORD_FIELDS(SCRUB_REC)
    for (int i = 0; i < s->num_disks; i++) {
        xlsnap_disk *d = &s->disks[i];
        XLSNAP__DISK_FIELDS(SCRUB_DISK)
    }
}

int load_snapshot(const char *what, const char *domspec, const char *name,
                  xlsnap_domain *dom, xlsnap_snapshot *s)
{
    if (resolve_domain(domspec, dom) ||
        xlsnap_get(g_ctx, dom, name, s))
        return fail("%s '%s'", what, name);
    return EXIT_SUCCESS;
}

void print_freed(const char *what, long long n)
{
    double v = n < 0 ? -(double)n : (double)n;
    const char *u = "bytes";

    if (v >= 1024.0 * 1024 * 1024) { v /= 1024.0 * 1024 * 1024; u = "GiB"; }
    else if (v >= 1024.0 * 1024) { v /= 1024.0 * 1024; u = "MiB"; }
    else if (v >= 1024.0) { v /= 1024.0; u = "KiB"; }
    if (n >= 0)
        printf("freed %lld bytes%s (%.1f %s) of disk space\n", n, what, v,
               u);
    else
        printf("used %lld more bytes%s (%.1f %s) of disk space\n", -n,
               what, v, u);
}

int snapshot_op(const char *verb, const char *domspec, const char *name,
                int (*op)(xlsnap_ctx *, const xlsnap_domain *, const char *,
                          unsigned),
                unsigned flags)
{
    xlsnap_domain dom;
    int rc = EXIT_SUCCESS;

    xlsnap_domain_init(&dom);
    if (resolve_domain(domspec, &dom) ||
        op(g_ctx, &dom, name, flags))
        rc = fail("%s '%s'", verb, name);
    xlsnap_domain_dispose(&dom);
    return rc;
}

int bundle_stream(const char *cmd, const char *arg, int fd, int *fd_r,
                  const char **dir_r)
{
    *fd_r = -1;
    *dir_r = NULL;
    if (strcmp(arg, "-")) {
        *dir_r = arg;
        return 0;
    }
    if (isatty(fd)) {
        err("%s: will not %s a bundle %s a terminal; redirect standard "
            "%s or give a directory", cmd, fd ? "write" : "read",
            fd ? "to" : "from", fd ? "output" : "input");
        return EXIT_USAGE;
    }
    *fd_r = fd;
    return 0;
}
