/*
 * cmd_help.c - xl-snapshot help [--commands] [<Command>]
 */
#include <stdlib.h>

#include "xl-snapshot.h"

int main_help(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "commands", no_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bool names = false;
    int opt;

    while ((opt = cmd_getopt(cmd, argc, argv, "", lo)) != -1) {
        switch (opt) {
        COMMON_OPT_CASES;
        case 'c': names = true; break;
        }
    }
    if ((opt = cmd_args(cmd, argc, 0, 1))) return opt;
    if (names) {
        for (int i = 0; i < cmd_table_len; i++)
            if (!(cmd_table[i].flags & CMD_HIDDEN))
                puts(cmd_table[i].name);
        return EXIT_SUCCESS;
    }
    if (optind < argc) {
        const struct cmd_spec *c = cmd_lookup(argv[optind]);
        if (!c) {
            err("'%s' is not an xl-snapshot command", argv[optind]);
            return EXIT_USAGE;
        }
        print_cmd_help(stdout, c);
        return EXIT_SUCCESS;
    }
    print_help(stdout);
    return EXIT_SUCCESS;
}
