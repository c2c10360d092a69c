/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xl-snapshot.h - the command line tool: command table and helpers
 *
 * Every main_<verb>() returns a process exit status: 0 success,
 * 1 failure, 2 usage error.
 */
#ifndef XL_SNAPSHOT_H
#define XL_SNAPSHOT_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "libxlsnap.h"

#define EXIT_USAGE 2

struct cmd_spec;
typedef int cmd_fn(const struct cmd_spec *cmd, int argc, char **argv);

enum {
    CMD_HIDDEN   = 1 << 0,   /* not listed by 'help' */
};

struct cmd_spec {
    const char *name;
    cmd_fn *fn;
    unsigned flags;
    const char *summary;     /* one line, no final period */
    const char *usage;       /* after "xl-snapshot <name> " */
    const char *options;     /* option lines for 'help <name>' */
};

extern const struct cmd_spec cmd_table[];
extern const int cmd_table_len;

/* Other names of commands: cmd_lookup() accepts them, 'help' lists
 * them (the command runs, and names itself, as cmd_spec.name). */
struct cmd_alias {
    const char *alias;
    const char *name;
};
extern const struct cmd_alias cmd_aliases[];
extern const int cmd_aliases_len;
const struct cmd_spec *cmd_lookup(const char *name);
/* "'name' is not an xl-snapshot command", with the nearest commands
 * as "did you mean" when some are near. */
void cmd_unknown(const char *name);

/* Global state set up by main(). */
extern xlsnap_ctx *g_ctx;
extern int g_verbose;
extern const char *g_progname;
extern bool g_quiet;
/* -c/--domain-config: the domain is the one of this xl config file;
 * resolve_domain() then fills g_domain_config_json (not running) */
extern const char *g_domain_config;
extern char *g_domain_config_json;                 /* -q: no progress display */

/* The global options' help lines (help, 'help --options'). */
extern const char global_options[];

/* progress.c: the progress line on stderr (a TTY), see main(). */
void progress_print(void *user, const char *what, uint64_t done,
                    uint64_t total);
/* End a progress line still shown (before a message or on exit). */
void progress_break(void);

/* Messages: "xl-snapshot: " + text, on stderr. */
void err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "xl-snapshot: cannot <what>: <ctx message>", returns EXIT_FAILURE. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* xlsnap_domain_resolve, saying once on stderr when the domain's
 * snapshot history followed it to a new UUID. */
int resolve_domain(const char *spec, xlsnap_domain *dom_r);

void print_usage(FILE *f, const struct cmd_spec *cmd);
void print_help(FILE *f);
void print_cmd_help(FILE *f, const struct cmd_spec *cmd);

/*
 * Option parsing shared by all commands: -h/--help prints the command's
 * help and returns OPT_EXIT_OK; an unknown option or missing argument
 * prints usage and returns OPT_EXIT_USAGE.  Put COMMON_OPT_CASES in the
 * switch.  cmd_args() then checks the number of positional arguments.
 */
#define OPT_EXIT_OK    0x10000
#define OPT_EXIT_USAGE 0x10001
#define COMMON_OPT_CASES                        \
    case OPT_EXIT_OK: return EXIT_SUCCESS;      \
    case OPT_EXIT_USAGE: return EXIT_USAGE
int cmd_getopt(const struct cmd_spec *cmd, int argc, char **argv,
               const char *shortopts, const struct option *longopts);
/* 0 if min <= positional args <= max (max < 0: unlimited), else prints
 * usage and returns EXIT_USAGE. */
int cmd_args(const struct cmd_spec *cmd, int argc, int min, int max);
/* The positional arguments of "<Domain>... <Name>" (ndomain before the
 * name) or, with *name_r already set by -n NAME (the form of xl's
 * original design), of "<Domain>..." alone: *name_r is the snapshot
 * name.  A name given both ways, or a wrong count, prints usage and
 * returns EXIT_USAGE. */
int name_args(const struct cmd_spec *cmd, int argc, char **argv,
              int ndomain, const char **name_r);

/* Resolve domspec and read snapshot name; on failure print
 * "cannot <what> '<name>': ..." and return EXIT_FAILURE. */
/* For human output: control characters in the strings a record holds
 * (an escape sequence in a description) become '?'.  JSON output needs
 * none of this: it escapes them. */
void scrub_snapshot(xlsnap_snapshot *s);
/* The same for one string, in place; vis(): a scrubbed copy to print. */
void scrub(char *s);
const char *vis(const char *s);
int load_snapshot(const char *what, const char *domspec, const char *name,
                  xlsnap_domain *dom, xlsnap_snapshot *s);

/* Resolve domspec and run op (xlsnap_revert, xlsnap_delete) on name;
 * on failure print "cannot <verb> '<name>': ...".  Exit status. */
/* "freed N bytes<what> (H) of disk space" (a delete's
 * xlsnap_last_freed; negative: "used N more bytes"). */
void print_freed(const char *what, long long n);
int snapshot_op(const char *verb, const char *domspec, const char *name,
                int (*op)(xlsnap_ctx *, const xlsnap_domain *, const char *,
                          unsigned),
                unsigned flags);

/* A bundle argument of export/import: "-" is the stream on fd (refused
 * on a terminal: EXIT_USAGE), anything else a directory. */
int bundle_stream(const char *cmd, const char *arg, int fd, int *fd_r,
                  const char **dir_r);

/* "2026-11-25 06:50:01" in local time. */
void format_time(char *buf, size_t len, long long t);

/* A JSON string literal for s (NULL: null) on stdout. */
void print_json_string(const char *s);

/* Print JSON text and a newline; returns an exit status. */
int print_json(char *json);

int main_help(const struct cmd_spec *, int, char **);
int main_create(const struct cmd_spec *, int, char **);
int main_revert(const struct cmd_spec *, int, char **);
int main_delete(const struct cmd_spec *, int, char **);
int main_list(const struct cmd_spec *, int, char **);
int main_info(const struct cmd_spec *, int, char **);
int main_current(const struct cmd_spec *, int, char **);
int main_parent(const struct cmd_spec *, int, char **);
int main_check_config(const struct cmd_spec *, int, char **);
int main_export(const struct cmd_spec *, int, char **);
int main_import(const struct cmd_spec *, int, char **);
int main_redefine(const struct cmd_spec *, int, char **);
int main_prune(const struct cmd_spec *, int, char **);
int main_check(const struct cmd_spec *, int, char **);
int main_edit(const struct cmd_spec *, int, char **);

#endif /* XL_SNAPSHOT_H */
