/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cmd_list.c - xl-snapshot list
 */
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "xl-snapshot.h"

enum { OPT_TREE = 0x100, OPT_JSON, OPT_ROOTS, OPT_LEAVES, OPT_PARENT,
       OPT_FROM, OPT_NAMES, OPT_DOMAINS, OPT_NO_LEAVES, OPT_CURRENT,
       OPT_DESCENDANTS, OPT_INTERNAL, OPT_EXTERNAL, OPT_ACTIVE,
       OPT_INACTIVE, OPT_DISK_ONLY, OPT_TOPOLOGICAL };

struct view {
    xlsnap_snapshot *s;
    int nr;
    int *parent;        /* index of parent, -1 for roots / dangling */
    int *nkids;         /* number of children */
    int *kid, *sib;     /* first child, next sibling (creation order) */
    int *byname;        /* indexes sorted by name, for find() */
    int *order;         /* the order of output: creation, or topological */
    bool *show;
};

static const struct view *sort_view;

static int cmp_byname(const void *a, const void *b)
{
    return strcmp(sort_view->s[*(const int *)a].name,
                  sort_view->s[*(const int *)b].name);
}

/* Index of snapshot name, or -1: a binary search (thousands of
 * snapshots are listed in a few milliseconds). */
static int find(const struct view *v, const char *name)
{
    int lo = 0, hi = v->nr - 1;

    while (name && lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(name, v->s[v->byname[mid]].name);
        if (!c) return v->byname[mid];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return -1;
}

/* show[i] := i is below anchor (reached going down from it; anchor
 * itself only on a corrupt parent cycle): breadth first, each once. */
static void mark_descendants(const struct view *v, int anchor, bool *show)
{
    int *queue = calloc(v->nr ? v->nr : 1, sizeof(*queue));
    int n = 0, head = 0;

    if (!queue) abort();
    for (int j = v->kid[anchor]; j >= 0; j = v->sib[j]) {
        show[j] = true;
        queue[n++] = j;
    }
    while (head < n)
        for (int j = v->kid[queue[head++]]; j >= 0; j = v->sib[j])
            if (!show[j]) {
                show[j] = true;
                queue[n++] = j;
            }
    free(queue);
}

static bool has_children(const struct view *v, int i)
{
    return v->nkids[i] > 0;
}

/* v->order: every snapshot after its parent (roots and their subtrees
 * in creation order, children in creation order); snapshots caught in a
 * corrupt parent cycle come last. */
static void order_topological(struct view *v)
{
    bool *done = calloc(v->nr ? v->nr : 1, sizeof(*done));
    int *stack = calloc(v->nr ? v->nr : 1, sizeof(*stack));
    int n = 0;

    if (!done || !stack) abort();
    for (int r = 0; r < v->nr; r++) {
        int top = 0;
        if (v->parent[r] >= 0 || done[r]) continue;
        stack[top++] = r;
        while (top) {
            int i = stack[--top];
            done[i] = true;
            v->order[n++] = i;
            /* children pushed newest first: the oldest comes out next */
            int from = top;
            for (int j = v->kid[i]; j >= 0; j = v->sib[j])
                if (!done[j] && top < v->nr) stack[top++] = j;
            for (int a = from, b = top - 1; a < b; a++, b--) {
                int x = stack[a];
                stack[a] = stack[b];
                stack[b] = x;
            }
        }
    }
    for (int i = 0; i < v->nr; i++)
        if (!done[i]) v->order[n++] = i;
    free(done);
    free(stack);
}

/* Is snapshot s of the type a --internal / --external filter asks for
 * (a mixed one is both), and of the kind --active / --inactive /
 * --disk-only ask for (with memory; taken while shut off; neither)? */
static bool kind_matches(const xlsnap_snapshot *s, bool internal,
                         bool external)
{
    const char *t = xlsnap_snapshot_type(s);
    bool in = !strcmp(t, "internal") || !strcmp(t, "mixed");
    bool ex = !strcmp(t, "external") || !strcmp(t, "mixed");

    return (!internal && !external) || (internal && in) ||
           (external && ex);
}

static bool state_matches(const xlsnap_snapshot *s, bool active,
                          bool inactive, bool disk_only)
{
    bool mem = s->memory != NULL;
    bool off = s->domstate && !strcmp(s->domstate, "shutoff");

    return (!active && !inactive && !disk_only) || (active && mem) ||
           (inactive && off) || (disk_only && !mem && !off);
}

static int width(const struct view *v, int min, const char *(*get)(
                     const xlsnap_snapshot *))
{
    int w = min;
    for (int i = 0; i < v->nr; i++) {
        if (!v->show[i]) continue;
        const char *x = get(&v->s[i]);
        int n = x ? (int)strlen(x) : 1;
        if (n > w) w = n;
    }
    return w;
}

static const char *get_name(const xlsnap_snapshot *s) { return s->name; }

static void print_long(const xlsnap_snapshot *s)
{
    if (s->description)
        printf("    description: %s\n", s->description);
    if (s->memory)
        printf("    memory: %s\n", s->memory);
    for (int i = 0; i < s->num_disks; i++) {
        const xlsnap_disk *d = &s->disks[i];
        if (d->kind == XLSNAP_DISK_INTERNAL)
            printf("    disk %s: %s internal snapshot '%s' in %s\n",
                   d->vdev, d->format, d->internal_name, d->image);
        else if (d->kind == XLSNAP_DISK_VOLUME && d->snapshot_file)
            printf("    disk %s: reflink copy %s of %s\n", d->vdev,
                   d->snapshot_file, d->image);
        else if (d->kind == XLSNAP_DISK_VOLUME)
            printf("    disk %s: %s snapshot volume %s/%s of %s\n",
                   d->vdev, d->driver ? d->driver : "-", d->volume_group,
                   d->snapshot_volume, d->image);
        else {
            long long used;
            int depth;
            printf("    disk %s: %s external, data in %s, overlay %s\n",
                   d->vdev, d->format, d->backing,
                   d->overlay ? d->overlay : "none");
            /* issue 18: what the layer holds and how deep the chain
             * under the running disk is (a layer that is not there
             * gets no line: check says what is missing) */
            if (!d->backing || (access(d->backing, F_OK) < 0 &&
                                errno == ENOENT))
                ;
            else if (!xlsnap_image_chain(g_ctx, d->backing, d->format,
                                         &used, &depth))
                printf("      layer: %lld bytes allocated, chain depth %d"
                       "\n", used, depth);
            else
                printf("      layer: %s\n",
                       vis(xlsnap_last_error(g_ctx)));
        }
    }
    {
        /* a snapshot volume filling up (issue 15) */
        char **w = NULL;
        int nw = 0;
        if (!xlsnap_snapshot_warnings(g_ctx, s, &w, &nw))
            for (int i = 0; i < nw; i++)
                printf("    warning: %s\n", vis(w[i]));
        xlsnap_warning_list_free(w, nw);
    }
}

static void print_table(const struct view *v, bool lng)
{
    int wn = width(v, 4, get_name);
    char t[64];

    /* DOMAIN: the domain's state when the snapshot was taken (the
     * short form of xl's original design lists it) */
    printf("  %-*s  %-19s  %-9s  %-7s  %-8s  %-6s  %s\n", wn, "NAME",
           "CREATED", "STATE", "DOMAIN", "TYPE", "MEMORY", "PARENT");
    for (int k = 0; k < v->nr; k++) {
        int i = v->order[k];
        const xlsnap_snapshot *s = &v->s[i];
        if (!v->show[i]) continue;
        format_time(t, sizeof(t), s->creationtime);
        printf("%c %-*s  %-19s  %-9s  %-7s  %-8s  %-6s  %s\n",
               s->current ? '*' : ' ', wn, s->name, t,
               xlsnap_state_name(s->state),
               s->domstate && *s->domstate ? s->domstate : "-",
               xlsnap_snapshot_type(s), s->memory ? "yes" : "no",
               s->parent ? s->parent : "-");
        if (lng) print_long(s);
    }
    for (int i = 0; i < v->nr; i++) {
        if (!v->show[i] || v->s[i].state == XLSNAP_STATE_READY) continue;
        err("snapshot '%s' is incomplete (%s): an operation was "
            "interrupted; run 'xl-snapshot check --repair'", v->s[i].name,
            xlsnap_state_name(v->s[i].state));
    }
}

/* list --domains [--json]: the domains with records in the state dir */
static int list_domains(bool json)
{
    xlsnap_domain *d;
    int nr;

    if (xlsnap_list_domains(g_ctx, &d, &nr))
        return fail("list the domains in %s", xlsnap_state_dir(g_ctx));
    if (json) fputs("[", stdout);
    for (int i = 0; i < nr; i++) {
        if (json) {
            fputs(i ? ",\n  { \"name\": " : "\n  { \"name\": ", stdout);
            print_json_string(d[i].name);
            fputs(", \"uuid\": ", stdout);
            print_json_string(d[i].uuid);
            fputs(" }", stdout);
        } else {
            puts(vis(d[i].name ? d[i].name : d[i].uuid));
        }
    }
    if (json) puts(nr ? "\n]" : "]");
    xlsnap_domain_list_free(d, nr);
    return EXIT_SUCCESS;
}

/* For --tree: no snapshot is left out.  A record whose parent does not
 * exist is drawn as a root (it is one already); a parent cycle (records
 * edited by hand or damaged) is cut at its oldest record (the smallest
 * creation time, then name: the one 'check --repair' makes a root),
 * drawn as a root with the rest of the cycle under it.  Each is said on
 * stderr. */
static void show_broken_links(struct view *v)
{
    enum { NEW = 0, ON_PATH, DONE };
    unsigned char *mark = calloc(v->nr ? v->nr : 1, 1);

    if (!mark) abort();
    for (int i = 0; i < v->nr; i++)
        if (v->s[i].parent && v->parent[i] < 0)
            err("warning: snapshot '%s' names parent '%s', which does not "
                "exist: shown as a root ('xl-snapshot check --repair' "
                "makes it one)", v->s[i].name, vis(v->s[i].parent));
    for (int i = 0; i < v->nr; i++) {
        int j = i;
        if (mark[i] != NEW) continue;
        while (j >= 0 && mark[j] == NEW) {
            mark[j] = ON_PATH;
            j = v->parent[j];
        }
        if (j >= 0 && mark[j] == ON_PATH) {
            int cut = j, p;
            for (int k = v->parent[j]; k != j; k = v->parent[k])
                if (v->s[k].creationtime < v->s[cut].creationtime ||
                    (v->s[k].creationtime == v->s[cut].creationtime &&
                     strcmp(v->s[k].name, v->s[cut].name) < 0))
                    cut = k;
            err("warning: snapshot '%s' is its own ancestor (a parent "
                "cycle): shown as a root ('xl-snapshot check --repair' "
                "makes it one)", v->s[cut].name);
            for (j = i; j >= 0 && mark[j] == ON_PATH; j = v->parent[j])
                mark[j] = DONE;
            /* cut: out of its parent's children */
            p = v->parent[cut];
            if (v->kid[p] == cut) {
                v->kid[p] = v->sib[cut];
            } else {
                int k = v->kid[p];
                while (v->sib[k] != cut) k = v->sib[k];
                v->sib[k] = v->sib[cut];
            }
            v->sib[cut] = -1;
            v->nkids[p]--;
            v->parent[cut] = -1;
        }
        for (j = i; j >= 0 && mark[j] == ON_PATH; j = v->parent[j])
            mark[j] = DONE;
    }
    free(mark);
}

static void print_node(const struct view *v, int i, char *prefix,
                       size_t plen, bool last, bool root, int depth)
{
    const xlsnap_snapshot *s = &v->s[i];
    int nkids = v->nkids[i], k = 0;

    printf("%s%s%s%s%s%s%s\n", prefix, root ? "" : last ? "`-- " : "|-- ",
           s->name, s->current ? " *" : "",
           s->state == XLSNAP_STATE_READY ? "" : " (",
           s->state == XLSNAP_STATE_READY ? "" : xlsnap_state_name(s->state),
           s->state == XLSNAP_STATE_READY ? "" : ")");
    if (depth >= v->nr) return;               /* corrupt cycle guard */
    size_t n = strlen(prefix);
    if (!root && n + 5 < plen) strcat(prefix, last ? "    " : "|   ");
    for (int j = v->kid[i]; j >= 0; j = v->sib[j])
        print_node(v, j, prefix, plen, ++k == nkids, false, depth + 1);
    prefix[n] = '\0';
}

static int write_stdout(void *arg, const char *buf, size_t len)
{
    (void)arg;
    return fwrite(buf, 1, len, stdout) != len;
}

int main_list(const struct cmd_spec *cmd, int argc, char **argv)
{
    static const struct option lo[] = {
        { "long", no_argument, NULL, 'l' },
        { "tree", no_argument, NULL, OPT_TREE },
        { "json", no_argument, NULL, OPT_JSON },
        { "names", no_argument, NULL, OPT_NAMES },
        { "domains", no_argument, NULL, OPT_DOMAINS },
        { "roots", no_argument, NULL, OPT_ROOTS },
        { "leaves", no_argument, NULL, OPT_LEAVES },
        { "parent", required_argument, NULL, OPT_PARENT },
        { "from", required_argument, NULL, OPT_FROM },
        { "no-leaves", no_argument, NULL, OPT_NO_LEAVES },
        { "current", no_argument, NULL, OPT_CURRENT },
        { "descendants", no_argument, NULL, OPT_DESCENDANTS },
        { "internal", no_argument, NULL, OPT_INTERNAL },
        { "external", no_argument, NULL, OPT_EXTERNAL },
        { "active", no_argument, NULL, OPT_ACTIVE },
        { "inactive", no_argument, NULL, OPT_INACTIVE },
        { "disk-only", no_argument, NULL, OPT_DISK_ONLY },
        { "topological", no_argument, NULL, OPT_TOPOLOGICAL },
        { "domain-config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bool lng = false, tree = false, json = false, roots = false,
         leaves = false, names = false, domains = false, no_leaves = false,
         current = false, descendants = false, internal = false,
         external = false, active = false, inactive = false,
         disk_only = false, topological = false, narrows;
    const char *parent = NULL, *from = NULL, *one = NULL, *anchor_name;
    xlsnap_domain dom;
    struct view v = { 0 };
    int opt, rc, nfilters, anchor = -1;

    xlsnap_domain_init(&dom);
    while ((opt = cmd_getopt(cmd, argc, argv, "lc:", lo)) != -1) {
        switch (opt) {
        COMMON_OPT_CASES;
        case 'l': lng = true; break;
        case OPT_TREE: tree = true; break;
        case OPT_JSON: json = true; break;
        case OPT_NAMES: names = true; break;
        case OPT_DOMAINS: domains = true; break;
        case OPT_ROOTS: roots = true; break;
        case OPT_LEAVES: leaves = true; break;
        case OPT_PARENT: parent = optarg; break;
        case OPT_FROM: from = optarg; break;
        case OPT_NO_LEAVES: no_leaves = true; break;
        case OPT_CURRENT: current = true; break;
        case OPT_DESCENDANTS: descendants = true; break;
        case OPT_INTERNAL: internal = true; break;
        case OPT_EXTERNAL: external = true; break;
        case OPT_ACTIVE: active = true; break;
        case OPT_INACTIVE: inactive = true; break;
        case OPT_DISK_ONLY: disk_only = true; break;
        case OPT_TOPOLOGICAL: topological = true; break;
        case 'c': g_domain_config = optarg; break;
        }
    }
    /* the filters that narrow a part of the tree (--tree cannot draw
     * what they leave out) */
    narrows = no_leaves || (current && !descendants) || internal ||
              external || active || inactive || disk_only;
    if (domains) {
        if (lng || tree || names || roots || leaves || parent || from ||
            narrows || current || descendants || topological) {
            err("list: --domains combines only with --json");
            return EXIT_USAGE;
        }
        if ((rc = cmd_args(cmd, argc, 0, 0))) return rc;
        return list_domains(json);
    }
    if (g_domain_config) {
        if ((rc = cmd_args(cmd, argc, 0, 0))) return rc;
        argv[--optind] = (char *)g_domain_config;
    } else if ((rc = cmd_args(cmd, argc, 1, 2))) {
        return rc;
    } else if (optind + 1 < argc) {
        /* list [-l] <Domain> <Name>: that snapshot alone (the form of
         * xl's original design, "snapshot-list -l DOMAIN NAME") */
        one = argv[optind + 1];
    }
    if (descendants) {
        /* --parent NAME --descendants is --from NAME (virsh's --from
         * lists children only; ours, as --parent, too) */
        if (!!parent + current != 1 || from || one) {
            err("list: --descendants goes with one of --parent NAME or "
                "--current");
            return EXIT_USAGE;
        }
        if (parent) {
            from = parent;
            parent = NULL;
        }
    }
    if (leaves && no_leaves) {
        err("list: --leaves and --no-leaves exclude each other");
        return EXIT_USAGE;
    }
    if (tree && narrows) {
        err("list: --tree combines only with --from");
        return EXIT_USAGE;
    }
    nfilters = roots + leaves + !!parent + !!from + !!one +
               (current && descendants);
    if (nfilters > 1) {
        err(one ? "list: a snapshot <Name> excludes --roots, --leaves, "
                  "--parent and --from"
                : "list: --roots, --leaves, --parent, --from and "
                  "--current --descendants exclude each other");
        return EXIT_USAGE;
    }
    if (tree && one) {
        err("list: --tree draws all snapshots; 'list --tree --from %s' "
            "draws those under it", vis(one));
        return EXIT_USAGE;
    }
    if (tree && (roots || leaves || parent)) {
        err("list: --tree combines only with --from");
        return EXIT_USAGE;
    }
    if (json + names + tree + lng > 1 && !(tree && lng)) {
        err("list: choose one output format (--json, --names, --tree, "
            "--long)");
        return EXIT_USAGE;
    }

    /* the summaries (from the list index); --json takes their domain
     * configs from the index too (kept on the ctx) */
    if (resolve_domain(argv[optind], &dom) ||
        xlsnap_list_summary(g_ctx, &dom, &v.s, &v.nr)) {
        rc = fail("list snapshots of '%s'", argv[optind]);
        goto out;
    }
    v.parent = calloc(v.nr ? v.nr : 1, sizeof(*v.parent));
    v.nkids = calloc(v.nr ? v.nr : 1, sizeof(*v.nkids));
    v.byname = calloc(v.nr ? v.nr : 1, sizeof(*v.byname));
    v.show = calloc(v.nr ? v.nr : 1, sizeof(*v.show));
    v.order = calloc(v.nr ? v.nr : 1, sizeof(*v.order));
    v.kid = calloc(v.nr ? v.nr : 1, sizeof(*v.kid));
    v.sib = calloc(v.nr ? v.nr : 1, sizeof(*v.sib));
    if (!v.parent || !v.nkids || !v.byname || !v.show || !v.order ||
        !v.kid || !v.sib)
        abort();
    for (int i = 0; i < v.nr; i++) v.byname[i] = v.order[i] = i;
    sort_view = &v;
    qsort(v.byname, v.nr, sizeof(*v.byname), cmp_byname);
    for (int i = 0; i < v.nr; i++) {
        v.parent[i] = find(&v, v.s[i].parent);
        if (v.parent[i] >= 0) v.nkids[v.parent[i]]++;
        v.kid[i] = -1;
    }
    for (int i = v.nr - 1; i >= 0; i--) {   /* prepended: oldest first */
        int p = v.parent[i];
        if (p < 0) continue;
        v.sib[i] = v.kid[p];
        v.kid[p] = i;
    }
    if (topological) order_topological(&v);
    for (int i = 0; !json && i < v.nr; i++) scrub_snapshot(&v.s[i]);
    if (current && descendants) {
        /* the current snapshot is the anchor, as --from's NAME */
        for (int i = 0; i < v.nr && anchor < 0; i++)
            if (v.s[i].current) anchor = i;
        if (anchor < 0) {
            err("cannot list snapshots of '%s': it has no current "
                "snapshot", vis(argv[optind]));
            rc = EXIT_FAILURE;
            goto out;
        }
        from = v.s[anchor].name;
    }
    anchor_name = parent ? parent : from ? from : one;   /* one at most */
    if (anchor_name && anchor < 0) {
        anchor = find(&v, anchor_name);
        if (anchor < 0) {
            err("cannot list snapshots of '%s': no snapshot '%s'",
                vis(argv[optind]), vis(anchor_name));
            rc = EXIT_FAILURE;
            goto out;
        }
    }
    if (from) mark_descendants(&v, anchor, v.show);
    for (int i = 0; i < v.nr; i++) {
        bool show = true;
        if (roots) show = v.parent[i] < 0;
        if (leaves) show = !has_children(&v, i);
        if (parent) show = v.parent[i] == anchor;
        if (from) show = v.show[i];
        if (one) show = i == anchor;
        if (no_leaves && !has_children(&v, i)) show = false;
        if (current && !descendants && !v.s[i].current) show = false;
        if (!kind_matches(&v.s[i], internal, external)) show = false;
        if (!state_matches(&v.s[i], active, inactive, disk_only))
            show = false;
        v.show[i] = show;
    }

    rc = EXIT_SUCCESS;
    if (json) {
        xlsnap_snapshot *sel = calloc(v.nr ? v.nr : 1, sizeof(*sel));
        int n = 0;
        if (!sel) abort();
        for (int k = 0; k < v.nr; k++)
            if (v.show[v.order[k]])
                sel[n++] = v.s[v.order[k]];  /* shallow: not freed */
        /* streamed: written as it is generated, one snapshot at a time */
        if (xlsnap_list_json_write(g_ctx, &dom, sel, n, write_stdout, NULL))
            rc = fail("list snapshots of '%s'", argv[optind]);
        free(sel);
    } else if (names) {
        for (int k = 0; k < v.nr; k++)
            if (v.show[v.order[k]]) puts(v.s[v.order[k]].name);
    } else if (tree) {
        char prefix[512] = "";
        show_broken_links(&v);
        if (from) {
            print_node(&v, anchor, prefix, sizeof(prefix), true, true, 0);
        } else {
            for (int i = 0; i < v.nr; i++)
                if (v.parent[i] < 0)
                    print_node(&v, i, prefix, sizeof(prefix), true, true,
                               0);
        }
    } else {
        print_table(&v, lng);
    }

 out:
    free(v.parent);
    free(v.nkids);
    free(v.byname);
    free(v.show);
    free(v.order);
    free(v.kid);
    free(v.sib);
    xlsnap_snapshot_list_free(v.s, v.nr);
    xlsnap_domain_dispose(&dom);
    return rc;
}
