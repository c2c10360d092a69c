/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmd_import.c - xl-snapshot import [--disk-dir DIR | --volume-group VG]
 *                [--as-domain NAME]
 *                [--kernel-dir DIR] [--json] <DIR | ->
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "xl-snapshot.h"

enum { OPT_DISK_DIR = 0x100, OPT_AS_DOMAIN, OPT_KERNEL_DIR, OPT_JSON,
       OPT_VOLUME_GROUP };

int main_import(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "disk-dir", required_argument, NULL, OPT_DISK_DIR },
        { "as-domain", required_argument, NULL, OPT_AS_DOMAIN },
        { "kernel-dir", required_argument, NULL, OPT_KERNEL_DIR },
        { "json", no_argument, NULL, OPT_JSON },
        { "volume-group", required_argument, NULL, OPT_VOLUME_GROUP },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    xlsnap_import_params p;
    xlsnap_snapshot s;
    bool json = false;
    const char *src;
    char *out = NULL;
    struct stat st;
    int opt, rc;

    xlsnap_import_params_init(&p);
    while ((opt = cmd_getopt(cmd, argc, argv, "", lo)) != -1) {
        switch (opt) {
        COMMON_OPT_CASES;
        case OPT_DISK_DIR: p.disk_dir = optarg; break;
        case OPT_AS_DOMAIN: p.as_domain = optarg; break;
        case OPT_KERNEL_DIR: p.kernel_dir = optarg; break;
        case OPT_JSON: json = true; break;
        case OPT_VOLUME_GROUP: p.volume_group = optarg; break;
        }
    }
    if ((rc = cmd_args(cmd, argc, 1, 1))) return rc;
    src = argv[optind];
    if (p.disk_dir && p.volume_group) {
        err("import: --disk-dir and --volume-group exclude each other");
        return EXIT_USAGE;
    }
    if (p.disk_dir && (stat(p.disk_dir, &st) < 0 || !S_ISDIR(st.st_mode))) {
        err("cannot import '%s': --disk-dir %s is not a directory", src,
            p.disk_dir);
        return EXIT_FAILURE;
    }
    if ((rc = bundle_stream("import", src, STDIN_FILENO, &p.fd, &p.dir)))
        return rc;

    xlsnap_snapshot_init(&s);
    if (xlsnap_import(g_ctx, &p, &s)) {
        rc = fail("import '%s'", src);
        goto out;
    }
    if (json) {
        if (xlsnap_snapshot_to_json(g_ctx, &s, &out)) {
            rc = fail("show snapshot '%s'", s.name);
            goto out;
        }
        rc = print_json(out);
        goto out;
    }
    scrub_snapshot(&s);
    printf("Imported snapshot '%s' of domain '%s' (%s)%s%s%s.\n", s.name,
           s.domain_name ? s.domain_name : s.domain_uuid, s.domain_uuid,
           s.parent ? ", child of '" : "", s.parent ? s.parent : "",
           s.parent ? "'" : "");
    for (int i = 0; i < s.num_disks; i++)
        if (s.disks[i].kind == XLSNAP_DISK_VOLUME)
            printf("  %s: %s (snapshot volume %s/%s)\n", s.disks[i].vdev,
                   s.disks[i].image, s.disks[i].volume_group,
                   s.disks[i].snapshot_volume);
        else
            printf("  %s: %s\n", s.disks[i].vdev, s.disks[i].backing);
    if (s.memory) printf("  memory: %s\n", s.memory);
    rc = EXIT_SUCCESS;
 out:
    xlsnap_snapshot_dispose(&s);
    return rc;
}
