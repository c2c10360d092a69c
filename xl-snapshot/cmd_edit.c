/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmd_edit.c - xl-snapshot edit [--description TEXT] [--rename NEWNAME]
 *              [--json] <Domain> <Name>
 *
 * virsh snapshot-edit: the two things of a record an admin may change,
 * its description and its name, from options or (without them) in an
 * editor.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xl-snapshot.h"

enum { OPT_RENAME = 0x100, OPT_JSON };

/* s as an xl.cfg string literal (s has no control characters: the
 * library refuses them in names and descriptions) */
static void put_cfg_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputs("\"\n", f);
}

/* $VISUAL, $EDITOR or vi on path (through sh, as git and virsh do, so
 * that EDITOR may hold options); 0 if it exited 0 */
static int run_editor(const char *path)
{
    const char *ed = getenv("VISUAL");
    pid_t pid;
    int st;

    if (!ed || !*ed) ed = getenv("EDITOR");
    if (!ed || !*ed) ed = "vi";
    fflush(stdout);
    fflush(stderr);
    if ((pid = fork()) < 0) return -1;
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", "exec $XL_SNAPSHOT_EDITOR \"$1\"", "sh",
              path, (char *)NULL);
        _exit(127);
    }
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : -1;
}

/*
 * Without --description and --rename: the name and description in an
 * editor, as a snapshot config file (xl-snapshot.conf(5)), as virsh
 * snapshot-edit opens the snapshot's XML.  *changed_r: whether the
 * admin changed anything; p gets what.
 */
static int edit_interactive(const xlsnap_domain *dom, const char *name,
                            xlsnap_edit_params *p, char **keep_name,
                            char **keep_desc, bool *changed_r)
{
    char path[PATH_MAX];
    const char *tmp = getenv("TMPDIR");
    xlsnap_snapshot s;
    xlsnap_config cfg;
    const char *ed = getenv("VISUAL");
    FILE *f = NULL;
    int fd = -1, rc = EXIT_FAILURE;
    bool made = false;

    *changed_r = false;
    xlsnap_snapshot_init(&s);
    xlsnap_config_init(&cfg);
    if (!ed || !*ed) ed = getenv("EDITOR");
    /* in $TMPDIR, as mktemp(1) and sudoedit do; an unset, relative or
     * too long one means /tmp */
    if (!tmp || tmp[0] != '/' ||
        snprintf(path, sizeof(path), "%s/xl-snapshot-edit.XXXXXX.cfg",
                 tmp) >= (int)sizeof(path))
        snprintf(path, sizeof(path), "/tmp/xl-snapshot-edit.XXXXXX.cfg");
    if (xlsnap_get(g_ctx, dom, name, &s)) {
        fail("edit '%s'", vis(name));
        goto out;
    }
    if ((fd = mkstemps(path, 4)) < 0 || !(f = fdopen(fd, "w"))) {
        err("cannot edit '%s': cannot create a temporary file: %s",
            vis(name), strerror(errno));
        if (fd >= 0) { close(fd); unlink(path); }
        fd = -1;
        goto out;
    }
    fd = -1;
    made = true;
    fprintf(f, "# Snapshot '%s' of domain '%s'.  Change the name and the\n"
               "# description (xl-snapshot.conf(5) syntax), save and quit;\n"
               "# nothing else of a snapshot can be edited.\n",
            vis(name), vis(dom->name ? dom->name : dom->uuid));
    fputs("name = ", f);
    put_cfg_string(f, s.name);
    fputs("description = ", f);
    put_cfg_string(f, s.description ? s.description : "");
    if (fclose(f)) {
        f = NULL;
        err("cannot edit '%s': cannot write %s", vis(name), path);
        goto out;
    }
    f = NULL;
    setenv("XL_SNAPSHOT_EDITOR", ed && *ed ? ed : "vi", 1);
    if (run_editor(path)) {
        err("cannot edit '%s': the editor failed; nothing changed",
            vis(name));
        goto out;
    }
    if (xlsnap_config_parse_file(g_ctx, path, &cfg)) {
        err("cannot edit '%s': %s; nothing changed", vis(name),
            xlsnap_last_error(g_ctx));
        goto out;
    }
    if (cfg.creationtime != -1 || cfg.memory == XLSNAP_MEMORY_YES ||
        cfg.memory == XLSNAP_MEMORY_PATH || cfg.type || cfg.num_disks) {
        err("cannot edit '%s': only the name and the description can be "
            "edited; nothing changed", vis(name));
        goto out;
    }
    if (!cfg.name) {
        err("cannot edit '%s': the name is missing; nothing changed",
            vis(name));
        goto out;
    }
    if (strcmp(cfg.name, s.name)) {
        *keep_name = cfg.name;
        cfg.name = NULL;
        p->new_name = *keep_name;
    }
    if (strcmp(cfg.description ? cfg.description : "",
               s.description ? s.description : "")) {
        *keep_desc = cfg.description ? cfg.description : strdup("");
        cfg.description = NULL;
        if (!*keep_desc) { err("out of memory"); goto out; }
        p->description = *keep_desc;
    }
    *changed_r = p->new_name || p->description;
    rc = EXIT_SUCCESS;
 out:
    if (f) fclose(f);
    if (made) unlink(path);
    xlsnap_config_dispose(&cfg);
    xlsnap_snapshot_dispose(&s);
    return rc;
}

int main_edit(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "description", required_argument, NULL, 'd' },
        { "rename", required_argument, NULL, OPT_RENAME },
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    xlsnap_edit_params p;
    xlsnap_domain dom;
    xlsnap_snapshot s;
    bool json = false, interactive, changed;
    int opt, rc;
    const char *domspec, *name;
    char *out = NULL, *keep_name = NULL, *keep_desc = NULL;

    xlsnap_edit_params_init(&p);
    while ((opt = cmd_getopt(cmd, argc, argv, "d:", lo)) != -1) {
        switch (opt) {
        COMMON_OPT_CASES;
        case 'd': p.description = optarg; break;
        case OPT_RENAME: p.new_name = optarg; break;
        case OPT_JSON: json = true; break;
        }
    }
    if ((rc = cmd_args(cmd, argc, 2, 2))) return rc;
    domspec = argv[optind];
    name = argv[optind + 1];
    interactive = !p.description && !p.new_name;
    /* refused before the domain is looked up: one clear line */
    if (p.new_name && xlsnap_name_validate(g_ctx, p.new_name))
        return fail("rename '%s'", vis(name));

    xlsnap_domain_init(&dom);
    xlsnap_snapshot_init(&s);
    rc = EXIT_FAILURE;
    if (resolve_domain(domspec, &dom)) {
        fail(p.new_name ? "rename '%s'" : "edit '%s'", vis(name));
        goto out;
    }
    if (interactive) {
        if (edit_interactive(&dom, name, &p, &keep_name, &keep_desc,
                             &changed))
            goto out;
        if (!changed) {
            if (!json) {
                printf("Snapshot '%s' not changed.\n", vis(name));
                rc = EXIT_SUCCESS;
                goto out;
            }
            p.description = NULL;
        }
    }
    if ((!interactive || changed) &&
        xlsnap_edit(g_ctx, &dom, name, &p, &s)) {
        fail(p.new_name ? "rename '%s'" : "edit '%s'", vis(name));
        goto out;
    }
    if (json) {
        if (interactive && !changed && xlsnap_get(g_ctx, &dom, name, &s)) {
            fail("show snapshot '%s'", vis(name));
            goto out;
        }
        if (xlsnap_snapshot_to_json(g_ctx, &s, &out)) {
            fail("show snapshot '%s'", vis(s.name));
            goto out;
        }
        rc = print_json(out);
        goto out;
    }
    if (p.new_name && strcmp(p.new_name, name))
        printf("Snapshot '%s' of domain '%s' renamed to '%s'.\n", vis(name),
               vis(dom.name ? dom.name : dom.uuid), vis(s.name));
    if (p.description)
        printf("Description of snapshot '%s' %s.\n", vis(s.name),
               *p.description ? "changed" : "removed");
    rc = EXIT_SUCCESS;
 out:
    free(keep_name);
    free(keep_desc);
    xlsnap_snapshot_dispose(&s);
    xlsnap_domain_dispose(&dom);
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
