/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmd_create.c - xl-snapshot create [options] <Domain> [<ConfigFile>]
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xl-snapshot.h"

enum { OPT_DISK_ONLY = 0x100, OPT_MEMORY, OPT_NO_MEMORY, OPT_INTERNAL,
       OPT_EXTERNAL, OPT_LIVE, OPT_NO_METADATA, OPT_JSON, OPT_COMPRESS,
       OPT_PRE_HOOK, OPT_POST_HOOK, OPT_HALT, OPT_QUIESCE,
       OPT_REUSE_EXTERNAL, OPT_SNAPSHOT_SIZE };

/*
 * Run a hook: /bin/sh -c CMD, the admin's own command (only ever from
 * the command line: a snapshot config file never runs anything), with
 * the domain and snapshot in its environment, stdin from /dev/null and
 * its output on our stderr (stdout may be --json).  Returns its exit
 * status, 128 + N if signal N killed it, or -1 if it could not run.
 */
static int run_hook(const char *phase, const char *cmd,
                    const xlsnap_domain *dom, const char *snap,
                    const char *result)
{
    pid_t pid;
    int st;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(2, 1) < 0) _exit(127);
        setenv("XL_SNAPSHOT_HOOK", phase, 1);
        setenv("XL_SNAPSHOT_DOMAIN", dom->name ? dom->name : "", 1);
        setenv("XL_SNAPSHOT_DOMAIN_UUID", dom->uuid ? dom->uuid : "", 1);
        setenv("XL_SNAPSHOT_NAME", snap, 1);
        if (result) setenv("XL_SNAPSHOT_RESULT", result, 1);
        else unsetenv("XL_SNAPSHOT_RESULT");
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

/* "exit status 3", "killed by signal 9", for messages */
static const char *hook_status(int hs, char *buf, size_t n)
{
    if (hs < 0) snprintf(buf, n, "could not be run");
    else if (hs > 128) snprintf(buf, n, "was killed by signal %d", hs - 128);
    else snprintf(buf, n, "exited with status %d", hs);
    return buf;
}

int main_create(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "name", required_argument, NULL, 'n' },
        { "description", required_argument, NULL, 'd' },
        { "disk-only", no_argument, NULL, OPT_DISK_ONLY },
        { "memory", no_argument, NULL, OPT_MEMORY },
        { "no-memory", no_argument, NULL, OPT_NO_MEMORY },
        { "internal", no_argument, NULL, OPT_INTERNAL },
        { "external", no_argument, NULL, OPT_EXTERNAL },
        { "live", no_argument, NULL, OPT_LIVE },
        { "compress", required_argument, NULL, OPT_COMPRESS },
        { "no-metadata", no_argument, NULL, OPT_NO_METADATA },
        { "dry-run", no_argument, NULL, 'N' },
        { "json", no_argument, NULL, OPT_JSON },
        { "domain-config", required_argument, NULL, 'c' },
        { "pre-hook", required_argument, NULL, OPT_PRE_HOOK },
        { "post-hook", required_argument, NULL, OPT_POST_HOOK },
        { "halt", no_argument, NULL, OPT_HALT },
        { "quiesce", no_argument, NULL, OPT_QUIESCE },
        { "reuse-external", no_argument, NULL, OPT_REUSE_EXTERNAL },
        { "snapshot-size", required_argument, NULL, OPT_SNAPSHOT_SIZE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    xlsnap_create_params p;
    xlsnap_config cfg;
    xlsnap_domain dom;
    xlsnap_snapshot s;
    bool json = false, created = false, post_failed = false, halt = false,
         halted = false;
    int opt, rc, memory = -1, hs;
    xlsnap_disk_kind type = 0;
    const char *domspec, *what, *pre_hook = NULL, *post_hook = NULL;
    char *out = NULL, defname[32], why[64];

    xlsnap_create_params_init(&p);
    xlsnap_config_init(&cfg);
    xlsnap_domain_init(&dom);
    xlsnap_snapshot_init(&s);
    while ((opt = cmd_getopt(cmd, argc, argv, "n:d:Nc:", lo)) != -1) {
        switch (opt) {
        COMMON_OPT_CASES;
        case 'n': p.name = optarg; break;
        case 'd': p.description = optarg; break;
        case OPT_DISK_ONLY: case OPT_NO_MEMORY: memory = 0; break;
        case OPT_MEMORY: memory = 1; break;
        case OPT_INTERNAL: type = XLSNAP_DISK_INTERNAL; break;
        case OPT_EXTERNAL: type = XLSNAP_DISK_EXTERNAL; break;
        case OPT_LIVE: p.live = true; break;
        case OPT_COMPRESS:
            if (strcmp(optarg, "zstd")) {
                err("create: unknown compression '%s' (only zstd)", vis(optarg));
                return EXIT_USAGE;
            }
            p.compress = optarg;
            break;
        case OPT_NO_METADATA: p.no_metadata = true; break;
        case 'N': p.dry_run = true; break;
        case OPT_JSON: json = true; break;
        case 'c': g_domain_config = optarg; break;
        case OPT_PRE_HOOK: pre_hook = optarg; break;
        case OPT_POST_HOOK: post_hook = optarg; break;
        case OPT_HALT: halt = true; break;
        case OPT_QUIESCE: p.quiesce = true; break;
        case OPT_REUSE_EXTERNAL: p.reuse_external = true; break;
        case OPT_SNAPSHOT_SIZE:
            if (xlsnap_snapshot_size_check(g_ctx, optarg)) {
                err("create: --snapshot-size: %s", xlsnap_last_error(g_ctx));
                return EXIT_USAGE;
            }
            p.snapshot_size = optarg;
            break;
        }
    }
    if (halt && p.dry_run) {
        err("create: --halt cannot be combined with --dry-run (a dry run "
            "changes nothing)");
        return EXIT_USAGE;
    }
    if (g_domain_config) {
        /* the domain is the file's; a snapshot config may follow */
        if ((rc = cmd_args(cmd, argc, 0, 1))) return rc;
        domspec = g_domain_config;
        optind--;
    } else {
        if ((rc = cmd_args(cmd, argc, 1, 2))) return rc;
        domspec = argv[optind];
    }

    rc = EXIT_FAILURE;
    what = p.name;
    if (optind + 1 < argc) {
        if (xlsnap_config_parse_file(g_ctx, argv[optind + 1], &cfg)) {
            err("%s", xlsnap_last_error(g_ctx));
            goto out;
        }
        /* the command line overrides the file */
        if (!p.name) p.name = cfg.name;
        if (!p.description) p.description = cfg.description;
        if (memory < 0 && cfg.memory == XLSNAP_MEMORY_NO) memory = 0;
        if (memory < 0 && cfg.memory == XLSNAP_MEMORY_YES) memory = 1;
        if (memory < 0 && cfg.memory == XLSNAP_MEMORY_PATH) {
            memory = 1;
            p.memory_path = cfg.memory_path;
        }
        if (!type) type = cfg.type;
        p.quiesce |= cfg.quiesce;
        if (cfg.reuse_external) p.reuse_external = true;
        if (!p.snapshot_size) p.snapshot_size = cfg.snapshot_size;
        p.disks = cfg.disks;
        p.num_disks = cfg.num_disks;
        what = p.name;
    }
    p.memory = memory;
    p.type = type;

    if (resolve_domain(domspec, &dom)) {
        if (what)
            fail("create snapshot '%s'", what);
        else
            fail("snapshot domain '%s'", domspec);
        goto out;
    }
    if (p.dry_run) pre_hook = post_hook = NULL;
    if ((pre_hook || post_hook) && !p.name) {
        /* the hooks are told the name: the library's default, now */
        snprintf(defname, sizeof(defname), "%lld", (long long)time(NULL));
        p.name = what = defname;
    }
    if (pre_hook && (hs = run_hook("pre", pre_hook, &dom, p.name, NULL))) {
        err("cannot create snapshot '%s': the pre-hook %s; no snapshot "
            "was taken", vis(p.name), hook_status(hs, why, sizeof(why)));
    } else {
        p.config_json = g_domain_config_json;
        created = !xlsnap_create(g_ctx, &dom, &p, &s);
        /* without a name there is no snapshot to name: the domain is
         * what could not be snapshotted */
        if (!created && what)
            fail("create snapshot '%s'", what);
        else if (!created)
            fail("snapshot domain '%s'", dom.name ? dom.name : domspec);
    }
    /* once the pre-hook ran (or there is none), the post-hook runs,
     * told whether the snapshot was taken */
    if (post_hook &&
        (hs = run_hook("post", post_hook, &dom, p.name,
                       created ? "ok" : "failed"))) {
        if (created)
            err("snapshot '%s' was created, but the post-hook %s",
                vis(s.name), hook_status(hs, why, sizeof(why)));
        else
            err("the post-hook %s", hook_status(hs, why, sizeof(why)));
        post_failed = true;     /* the snapshot is still reported */
    }
    if (!created) goto out;
    /* --halt: after the post-hook (which may thaw the guest), the
     * domain is destroyed; a failed snapshot never gets here */
    if (halt && xlsnap_halt(g_ctx, &dom)) {
        fail("halt domain '%s' after snapshot '%s'",
             dom.name ? vis(dom.name) : dom.uuid, vis(s.name));
        post_failed = true;     /* the snapshot is still reported */
    } else if (halt) {
        halted = dom.domid >= 0;
    }
    if (xlsnap_last_warning(g_ctx))
        err("warning: %s", vis(xlsnap_last_warning(g_ctx)));
    if (p.live && s.memory && !s.memory_live && !p.dry_run)
        err("warning: snapshot '%s': memory saved without live pre-copy "
            "(the guest was suspended for the whole save): live pre-copy "
            "tracks dirty pages with Xen's log-dirty mode, which for a PV "
            "guest needs shadow paging, and this hypervisor has none (no "
            "'shadow' in 'xl info' virt_caps)", s.name);
    if (p.dry_run || json) {
        if (xlsnap_snapshot_to_json(g_ctx, &s, &out)) {
            fail("show snapshot '%s'", s.name);
            goto out;
        }
        rc = print_json(out);
        goto out;
    }
    if (p.no_metadata) {
        printf("Snapshot '%s' of domain '%s' taken (%s, disks only); no "
               "record kept:\n", s.name, dom.name ? dom.name : dom.uuid,
               xlsnap_snapshot_type(&s));
        for (int i = 0; i < s.num_disks; i++) {
            const xlsnap_disk *d = &s.disks[i];
            if (d->kind == XLSNAP_DISK_INTERNAL)
                printf("  %s: internal snapshot '%s' in %s\n", d->vdev,
                       d->internal_name, d->image);
            else if (d->kind == XLSNAP_DISK_VOLUME && d->snapshot_file)
                printf("  %s: reflink copy %s of %s\n", d->vdev,
                       d->snapshot_file, d->image);
            else if (d->kind == XLSNAP_DISK_VOLUME)
                printf("  %s: snapshot volume %s/%s of %s\n", d->vdev,
                       d->volume_group, d->snapshot_volume, d->image);
            else
                printf("  %s: data in %s, overlay %s\n", d->vdev,
                       d->backing, d->overlay);
        }
        rc = EXIT_SUCCESS;
        goto out;
    }
    printf("Snapshot '%s' of domain '%s' created (%s%s%s).\n", s.name,
           dom.name ? dom.name : dom.uuid, xlsnap_snapshot_type(&s),
           s.memory ? ", with memory" : ", disks only",
           s.consistency && !strcmp(s.consistency, "filesystem")
               ? ", file systems frozen (quiesced)" :
           s.memory || strcmp(s.domstate, "running") ? ""
                                                     : ", crash-consistent");
    if (halted)
        printf("Domain '%s' halted (destroyed) after the snapshot.\n",
               dom.name ? vis(dom.name) : dom.uuid);
    rc = EXIT_SUCCESS;
 out:
    if (post_failed) rc = EXIT_FAILURE;
    xlsnap_snapshot_dispose(&s);
    xlsnap_domain_dispose(&dom);
    xlsnap_config_dispose(&cfg);
    return rc;
}
