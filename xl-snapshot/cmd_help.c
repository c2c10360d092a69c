/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmd_help.c - xl-snapshot help [--commands] [<Command>]
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "xl-snapshot.h"

static bool is_arg_word(const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isupper((unsigned char)w[i])) return false;
    return n > 0;
}

/*
 * The options of an option text ("  -n, --name NAME     text\n"), one
 * per line with their argument: "-n NAME", "--name NAME".  A line that
 * starts with an option gives its options up to the first word that is
 * neither an option nor its argument (upper case, or any word one space
 * after the option).  For shell completion
 * and the man page test: the table stays the one source.
 */
static void print_option_names(const char *text)
{
    for (const char *l = text; *l; ) {
        const char *end = strchrnul(l, '\n'), *p = l, *arg = "";
        const char *opt[8];
        int optlen[8], nopt = 0, arglen = 0;

        while (p < end && nopt < 8) {
            const char *gap = p;
            size_t n;
            while (p < end && (*p == ' ' || *p == ',')) p++;
            n = strcspn(p, " ,\n");
            if (n && *p == '-') {
                opt[nopt] = p;
                optlen[nopt++] = (int)n;
            } else if (nopt && (is_arg_word(p, n) || p - gap == 1)) {
                /* NAME, or a literal value one space after the option
                 * ("--compress zstd"); the text begins two spaces on */
                arg = p;
                arglen = (int)n;
                break;
            } else {
                break;
            }
            p += n;
        }
        for (int i = 0; i < nopt; i++)
            printf("%.*s%s%.*s\n", optlen[i], opt[i], arglen ? " " : "",
                   arglen, arg);
        l = *end ? end + 1 : end;
    }
}

int main_help(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "commands", no_argument, NULL, 'c' },
        { "options", no_argument, NULL, 'o' },   /* undocumented */
        { "aliases", no_argument, NULL, 'a' },   /* undocumented */
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bool names = false, options = false, aliases = false;
    int opt;

    while ((opt = cmd_getopt(cmd, argc, argv, "", lo)) != -1) {
        switch (opt) {
        COMMON_OPT_CASES;
        case 'c': names = true; break;
        case 'o': options = true; break;
        case 'a': aliases = true; break;
        }
    }
    if ((opt = cmd_args(cmd, argc, 0, 1))) return opt;
    if (options) {
        /* 'help --options [<command>]': for shell completion */
        const struct cmd_spec *c = NULL;
        if (optind < argc && !(c = cmd_lookup(argv[optind]))) {
            cmd_unknown(argv[optind]);
            return EXIT_USAGE;
        }
        print_option_names(c ? c->options : global_options);
        if (c) puts("-h\n--help");
        return EXIT_SUCCESS;
    }
    if (aliases) {
        /* 'help --aliases': "alias command" lines, for shell completion */
        for (int i = 0; i < cmd_aliases_len; i++)
            printf("%s %s\n", cmd_aliases[i].alias, cmd_aliases[i].name);
        return EXIT_SUCCESS;
    }
    if (names) {
        for (int i = 0; i < cmd_table_len; i++)
            if (!(cmd_table[i].flags & CMD_HIDDEN))
                puts(cmd_table[i].name);
        return EXIT_SUCCESS;
    }
    if (optind < argc) {
        const struct cmd_spec *c = cmd_lookup(argv[optind]);
        if (!c) {
            cmd_unknown(argv[optind]);
            return EXIT_USAGE;
        }
        print_cmd_help(stdout, c);
        return EXIT_SUCCESS;
    }
    print_help(stdout);
    return EXIT_SUCCESS;
}
