/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmdtable.c - the command table (designated initialisers, exact match)
 *
 * 'help', the man page synopsis test and bash completion all read this
 * table; tests/bats/00-cli.bats fails when a command is missing from
 * the man page.
 */
#include <string.h>

#include "xl-snapshot.h"

const struct cmd_spec cmd_table[] = {
    {
        .name = "help", .fn = main_help,
        .summary = "Show help for xl-snapshot or one of its commands",
        .usage = "[--commands] [<Command>]",
        .options = "  --commands      list command names only\n",
    },
    {
        .name = "create", .fn = main_create,
        .summary = "Take a snapshot of a domain (disks, and memory when "
                   "it runs)",
        .usage = "[-n NAME] [-d DESC] [--disk-only|--memory|--no-memory] "
                 "[--internal|--external] [--live] [--compress zstd] "
                 "[--no-metadata] [-N] "
                 "[--pre-hook CMD] [--post-hook CMD] [--quiesce] [--halt] "
                 "[--reuse-external] [--snapshot-size SIZE|N%] [--json] "
                 "<Domain> [<ConfigFile>] | -c <XlConfig> [<ConfigFile>]",
        .options =
            "  -n, --name NAME     snapshot name (default: creation time)\n"
            "  -d, --description DESC\n"
            "                      free text\n"
            "  --memory            also save memory (default when running,\n"
            "                      but a <ConfigFile> without memory= is\n"
            "                      disk-only)\n"
            "  --no-memory, --disk-only\n"
            "                      disks only (crash-consistent if running)\n"
            "  --internal          qcow2 internal snapshots (default)\n"
            "  --external          new qcow2 overlays on the disks\n"
            "  --live              save memory while the guest runs\n"
            "  --compress zstd     compress the memory image (zstd level 1,\n"
            "                      threads on every CPU: speed first, the\n"
            "                      guest is paused while it is saved)\n"
            "  --no-metadata       keep no record (disk-only; see "
            "redefine)\n"
            "  -N, --dry-run       print the record it would write, change "
            "nothing\n"
            "  --pre-hook CMD      run CMD (sh -c) first; if it fails, no "
            "snapshot\n"
            "  --post-hook CMD     run CMD after, also after a failure\n"
            "  --quiesce           freeze the guest's file systems (its\n"
            "                      qemu-guest-agent) during a disk-only\n"
            "                      snapshot\n"
            "  --halt              destroy the domain after the snapshot\n"
            "                      (revert brings it back)\n"
            "  --reuse-external    external: each disk's target in "
            "<ConfigFile> is an\n"
            "                      overlay made beforehand (qemu-img "
            "create -b IMAGE)\n"
            "  --snapshot-size SIZE|N%\n"
            "                      classic LVM volumes: the snapshot "
            "volume's size\n"
            "                      (512M, 2G; N% of the volume; default 20%,\n"
            "                      at least 64M)\n"
            "  --json              print the new record as JSON\n"
            "  -c, --domain-config XLCFG\n"
            "                      the domain of this xl config file (one "
            "not running,\n"
            "                      even without snapshots yet)\n"
            "  <ConfigFile>        snapshot config file, see "
            "xl-snapshot.conf(5)\n",
    },
    {
        .name = "list", .fn = main_list,
        .summary = "List the snapshots of a domain",
        .usage = "[-l|--long] [--tree] [--json|--names] [--topological] "
                 "[--roots|--leaves|--parent NAME [--descendants]|"
                 "--from NAME|--current --descendants] [--no-leaves] "
                 "[--current] [--internal] [--external] [--active] "
                 "[--inactive] [--disk-only] <Domain> [<Name>] | "
                 "-c <XlConfig> | --domains [--json]",
        .options =
            "  -l, --long      also show description and disks\n"
            "  -c, --domain-config XLCFG\n"
            "                  the domain of this xl config file\n"
            "  --tree          draw the snapshot hierarchy\n"
            "  --json          print one JSON document with every field\n"
            "  --names         print snapshot names only, one per line\n"
            "  --roots         only snapshots without a parent\n"
            "  --leaves        only snapshots without children\n"
            "  --parent NAME   only the children of NAME\n"
            "  --from NAME     only the descendants of NAME\n"
            "  --descendants   with --parent NAME: all its descendants;\n"
            "                  with --current: those of the current one\n"
            "  --no-leaves     only snapshots with children\n"
            "  --current       only the current snapshot\n"
            "  --internal      only snapshots with an internal disk\n"
            "  --external      only snapshots with an external disk\n"
            "  --active        only snapshots with memory\n"
            "  --inactive      only snapshots taken while shut off\n"
            "  --disk-only     only disk-only snapshots of a running\n"
            "                  domain\n"
            "  --topological   every snapshot after its parent\n"
            "  --domains       the domains with snapshots in the state "
            "dir\n",
    },
    {
        .name = "info", .fn = main_info,
        .summary = "Show everything recorded about one snapshot",
        .usage = "[--json] <Domain> <Name>",
        .options = "  --json          print the record as JSON\n",
    },
    {
        .name = "revert", .fn = main_revert,
        .summary = "Put a domain back to a snapshot (disks, memory, "
                   "config)",
        .usage = "[--running|--paused] [--force] <Domain> <Name> | "
                 "-n <Name> <Domain> | -c <XlConfig> <Name>",
        .options =
            "  -n, --name NAME the snapshot (xl's original form: "
            "-n NAME <Domain>)\n"
            "  -c, --domain-config XLCFG\n"
            "                  the domain of this xl config file\n"
            "  --running       end with the domain running\n"
            "  --paused        end with the domain paused\n"
            "  -f, --force     destroy the running domain (its state since\n"
            "                  the snapshot is lost)\n",
    },
    {
        .name = "delete", .fn = main_delete,
        .summary = "Delete a snapshot, keeping every other snapshot's data",
        .usage = "[--children|--children-only|--metadata|"
                 "--merge-into-parent [--force]] <Domain> <Name> "
                 "| -n <Name> <Domain>",
        .options =
            "  -n, --name NAME   the snapshot (xl's original form: "
            "-n NAME <Domain>)\n"
            "  --children        also delete all its descendants\n"
            "  --children-only   delete only its descendants\n"
            "  --metadata        delete only the record, keep disk data and\n"
            "                    memory image\n"
            "  --merge-into-parent  external snapshot: fold the writes made\n"
            "                    after it into its layer, which they replace\n"
            "  --force           with --merge-into-parent: discard the\n"
            "                    snapshots that need its layer's content\n",
    },
    {
        .name = "edit", .fn = main_edit,
        .summary = "Change the description or the name of a snapshot",
        .usage = "[-d|--description TEXT] [--rename NEWNAME] [--json] "
                 "<Domain> <Name>",
        .options =
            "  -d, --description TEXT\n"
            "                  the new description (\"\": none)\n"
            "  --rename NEWNAME\n"
            "                  the new name (disks keep their internal\n"
            "                  snapshot names and files)\n"
            "  --json          print the edited record as JSON\n"
            "  (neither -d nor --rename: both in $VISUAL or $EDITOR)\n",
    },
    {
        .name = "current", .fn = main_current,
        .summary = "Show the current snapshot, or make <Name> current "
                   "without reverting",
        .usage = "[--json] <Domain> [<Name>]",
        .options = "  --json          print {\"name\": ...} as JSON\n",
    },
    {
        .name = "parent", .fn = main_parent,
        .summary = "Show the parent of a snapshot",
        .usage = "[--json] <Domain> <Name>",
        .options = "  --json          print {\"name\": ..., \"parent\": ...}\n",
    },
    {
        .name = "check", .fn = main_check,
        .summary = "Find and repair what interrupted operations left "
                   "behind",
        .usage = "[--repair] [--json] [<Domain>]",
        .options =
            "  --repair        complete or roll back interrupted "
            "operations\n"
            "  --json          print the findings as JSON\n"
            "  <Domain>        only this domain (default: all in the "
            "state dir)\n",
    },
    {
        .name = "check-config", .fn = main_check_config,
        .summary = "Parse a snapshot config file and show what it sets",
        .usage = "[--json] <ConfigFile>",
        .options = "  --json          print the parsed settings as JSON\n",
    },
    {
        .name = "export", .fn = main_export,
        .summary = "Write a snapshot as a bundle (directory or stream) "
                   "with checksums",
        .usage = "[--full | --delta --base NAME] [--compress zstd] "
                 "<Domain> <Name> <DIR | ->",
        .options =
            "  --full          every disk as it was at the snapshot "
            "(default)\n"
            "  --delta         only the clusters that differ from --base\n"
            "  --base NAME     the snapshot a delta builds on\n"
            "  --compress zstd store memory and disks compressed (zstd\n"
            "                  level 3, threads on every CPU, like\n"
            "                  zstd -3 -T0; as they are written, or\n"
            "                  in a pass after qemu-img's copy)\n"
            "  DIR             a new directory for the bundle\n"
            "  -               one tar stream on standard output\n",
    },
    {
        .name = "import", .fn = main_import,
        .summary = "Verify a bundle and recreate its snapshot",
        .usage = "[--disk-dir DIR | --volume-group VG] [--as-domain NAME] "
                 "[--kernel-dir DIR] [--json] <DIR | ->",
        .options =
            "  --disk-dir DIR  put the disk images in DIR (default: next "
            "to\n"
            "                  the domain's own images on this host)\n"
            "  --volume-group VG\n"
            "                  put each disk on a new logical volume in\n"
            "                  VG (classic), or VG/POOL (thin in that\n"
            "                  pool), with a snapshot volume to revert to\n"
            "  --as-domain NAME\n"
            "                  import for domain NAME (an existing one, "
            "or a\n"
            "                  new UUID)\n"
            "  --kernel-dir DIR\n"
            "                  keep the bundle's kernel and ramdisk when "
            "they\n"
            "                  are files in DIR (a new domain's config)\n"
            "  --json          print the imported record as JSON\n"
            "  -               read one tar stream from standard input\n",
    },
    {
        .name = "redefine", .fn = main_redefine,
        .summary = "Re-create the record of a snapshot whose data exists",
        .usage = "[--current] <Domain> <RecordFile | ->",
        .options =
            "  --current       make it the current snapshot\n"
            "  <RecordFile>    a record, as 'info --json' prints it\n",
    },
    {
        .name = "prune", .fn = main_prune,
        .summary = "Delete the snapshots a retention policy does not keep",
        .usage = "[--keep-last N] [--keep-daily N] [--keep-weekly N] "
                 "[--match GLOB]... [-N] <Domain>",
        .options =
            "  --keep-last N   keep the N newest snapshots\n"
            "  --keep-daily N  keep the newest of each of the last N days\n"
            "  --keep-weekly N keep the newest of each of the last N "
            "weeks\n"
            "  --match GLOB    prune only snapshots whose name matches GLOB\n"
            "                  (repeatable); the others are kept, uncounted\n"
            "  -N, --dry-run   print what would be deleted\n",
    },
};

const int cmd_table_len = sizeof(cmd_table) / sizeof(cmd_table[0]);

/* The command names of the original xl design (xl snapshot-create,
 * ...; seed 004): scripts written for it run unchanged. */
const struct cmd_alias cmd_aliases[] = {
    { "snapshot-create", "create" },
    { "snapshot-list", "list" },
    { "snapshot-delete", "delete" },
    { "snapshot-revert", "revert" },
};

const int cmd_aliases_len = sizeof(cmd_aliases) / sizeof(cmd_aliases[0]);

const struct cmd_spec *cmd_lookup(const char *name)
{
    for (int i = 0; i < cmd_aliases_len; i++)
        if (!strcmp(cmd_aliases[i].alias, name)) {
            name = cmd_aliases[i].name;
            break;
        }
    for (int i = 0; i < cmd_table_len; i++)
        if (!strcmp(cmd_table[i].name, name))
            return &cmd_table[i];
    return NULL;
}

/* edits: optimal string alignment distance (insert, delete, replace,
 * swap two neighbours), capped: names longer than 32 are "far" */
static int edits(const char *a, const char *b)
{
    int la = strlen(a), lb = strlen(b);
    int d[33][33];

    if (la > 32 || lb > 32) return 99;
    for (int i = 0; i <= la; i++) d[i][0] = i;
    for (int j = 0; j <= lb; j++) d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

            if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

void cmd_unknown(const char *name)
{
    int best = strlen(name) >= 6 ? 2 : 1, n = 0;
    const char *sugg[4];

    /* the listed commands (then the aliases) nearest to name, within 1
     * edit (2 for long names); a name that starts one is as near as a
     * typo */
    for (int i = 0; i < cmd_table_len + cmd_aliases_len; i++) {
        const char *c = i < cmd_table_len ? cmd_table[i].name
                                          : cmd_aliases[i - cmd_table_len].alias;
        int e;

        if (i < cmd_table_len && (cmd_table[i].flags & CMD_HIDDEN))
            continue;
        e = strlen(name) >= 2 && !strncmp(c, name, strlen(name))
            ? 1 : edits(name, c);
        if (e > best) continue;
        if (e < best) n = 0;
        best = e;
        if (n < 4) sugg[n++] = c;
    }
    if (n == 1)
        err("'%s' is not an xl-snapshot command; did you mean '%s'?",
            name, sugg[0]);
    else if (n == 2)
        err("'%s' is not an xl-snapshot command; did you mean '%s' or "
            "'%s'?", name, sugg[0], sugg[1]);
    else if (n >= 3)
        err("'%s' is not an xl-snapshot command; did you mean '%s', '%s' "
            "or '%s'?", name, sugg[0], sugg[1], sugg[2]);
    else
        err("'%s' is not an xl-snapshot command; see 'xl-snapshot help'",
            name);
}
