/* main: parses global flags and dispatches to a role from one table (BusyBox style). */
#include "roles.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/kubeling/config.yaml"

static kubeling_globals_t globals;

static const char *const log_formats[] = {"text", "json", NULL};

static const util_flag_t global_flags[] = {
    {"data-dir", 'd', UTIL_FLAG_STRING, &globals.data_dir, "DIR",
     "state directory (default /var/lib/kubeling as root, ~/.kubeling otherwise)", 0, 0, NULL},
    {"v", 'v', UTIL_FLAG_INT, &globals.verbosity, "N", "log verbosity (0-10)", 0, 10, NULL},
    {"log-format", 0, UTIL_FLAG_CHOICE, &globals.log_format, "FORMAT", "log format: text or json",
     0, 0, log_formats},
    {"config", 'c', UTIL_FLAG_STRING, &globals.config, "FILE",
     "config file of flag: value pairs (default " DEFAULT_CONFIG " if present)", 0, 0, NULL},
    {"help", 'h', UTIL_FLAG_BOOL, &globals.help, NULL, "show help", 0, 0, NULL},
    {0},
};

static int run_help(const kubeling_globals_t *g, const util_strv_t *args);

static const kubeling_role_t role_help = {
    "help", "show roles and flags, or one role's flags", "[ROLE]", NULL, run_help, false, NULL,
};

/* The one role table. Order is the order of `kubeling help`. */
/* One role per line keeps additions to the table easy to merge. */
/* clang-format off */
static const kubeling_role_t *const roles[] = {
    &role_server,
    &role_agent,
    &role_images,
    &role_version,
    &role_killall,
    &role_help,
    &role_shim,
};
/* clang-format on */

static const kubeling_role_t *role_find(const char *name)
{
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(roles); i++)
        if (!strcmp(roles[i]->name, name))
            return roles[i];
    return NULL;
}

static void print_role_help(FILE *out, const kubeling_role_t *role)
{
    fprintf(out, "Usage: kubeling %s [flags]%s%s\n\n%s\n", role->name, role->args_help ? " " : "",
            role->args_help ? role->args_help : "", role->summary);
    if (role->flags && role->flags[0].name) {
        fprintf(out, "\nFlags:\n");
        util_flags_print_help(out, role->flags);
    }
    if (role->node_flags) {
        fprintf(out, "\nNode (kubelet) flags:\n");
        util_flags_print_help(out, role->node_flags);
    }
    fprintf(out, "\nGlobal flags:\n");
    util_flags_print_help(out, global_flags);
}

static void print_help(FILE *out)
{
    fprintf(out, "kubeling: a small, all-in-one Kubernetes distribution for edge machines.\n\n"
                 "Usage: kubeling [global flags] ROLE [flags] [args]\n\nRoles:\n");
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(roles); i++)
        if (!roles[i]->hidden)
            fprintf(out, "  %-10s %s\n", roles[i]->name, roles[i]->summary);
    fprintf(out, "\nGlobal flags (also accepted after the role):\n");
    util_flags_print_help(out, global_flags);
    fprintf(out, "\nEvery flag can also be set in the config file as `flag-name: value`; flags on\n"
                 "the command line win. Run `kubeling help ROLE` for a role's own flags.\n");
}

static int run_help(const kubeling_globals_t *g, const util_strv_t *args)
{
    (void)g;
    if (args->n == 0) {
        print_help(stdout);
        return KUBELING_EXIT_OK;
    }
    const kubeling_role_t *role = role_find(args->v[0]);
    if (!role) {
        fprintf(stderr, "kubeling: unknown role \"%s\" (run 'kubeling help')\n", args->v[0]);
        return KUBELING_EXIT_USAGE;
    }
    print_role_help(stdout, role);
    return KUBELING_EXIT_OK;
}

static int usage_error(util_error_t err)
{
    char buf[1024];
    fprintf(stderr, "kubeling: %s\n", util_error_text(err, buf, sizeof(buf)));
    return KUBELING_EXIT_USAGE;
}

/* Loads --config, or the default file when it exists. Flags already given win. */
static int load_config(util_flagset_t *fs, util_error_t *err)
{
    const char *path = globals.config;
    if (!path) {
        if (access(DEFAULT_CONFIG, F_OK) < 0)
            return 0;
        path = DEFAULT_CONFIG;
    }
    return util_config_load(fs, path, err);
}

static void default_data_dir(void)
{
    if (globals.data_dir)
        return;
    const char *home = getenv("HOME");
    if (geteuid() == 0 || !home || !*home)
        globals.data_dir = util_xstrdup("/var/lib/kubeling");
    else
        globals.data_dir = util_strdup_printf("%s/.kubeling", home);
}

/* Parses flags (those before the role name, then those after it) and the config file into
 * one flag set, so that every command-line flag wins over the file; then runs the role. */
static int dispatch(const kubeling_role_t *role, int npre, char **pre, int argc, char **argv)
{
    cleanup_error util_error_t err = NULL;
    util_flagset_t fs;
    util_flags_free_targets(global_flags);
    globals = (kubeling_globals_t){0};
    util_flagset_init(&fs, global_flags, role->flags);
    if (role->node_flags)
        util_flagset_add(&fs, role->node_flags);
    int rc = KUBELING_EXIT_USAGE;
    if (util_flagset_parse(&fs, npre, pre, false, NULL, &err) < 0 ||
        util_flagset_parse(&fs, argc, argv, false, NULL, &err) < 0 || load_config(&fs, &err) < 0) {
        rc = usage_error(err);
    } else if (globals.help) {
        print_role_help(stdout, role);
        rc = KUBELING_EXIT_OK;
    } else if (fs.args.n > 0 && !role->args_help) {
        fprintf(stderr, "kubeling %s: unexpected argument \"%s\"\n", role->name, fs.args.v[0]);
    } else {
        util_log_setup((int)globals.verbosity,
                       globals.log_format && !strcmp(globals.log_format, "json") ? UTIL_LOG_JSON
                                                                                 : UTIL_LOG_TEXT,
                       STDERR_FILENO);
        default_data_dir();
        rc = role->run(&globals, &fs.args);
    }
    util_flagset_free(&fs);
    util_flags_free_targets(role->flags);
    if (role->node_flags)
        util_flags_free_targets(role->node_flags);
    util_flags_free_targets(global_flags);
    return rc;
}

int main(int argc, char **argv)
{
    /* libuv writes to sockets with write(2): a peer that went away must be an EPIPE for the
     * connection, not a SIGPIPE for the whole process. */
    signal(SIGPIPE, SIG_IGN);
    const char *self = argc > 0 ? strrchr(argv[0], '/') : NULL;
    self = self ? self + 1 : (argc > 0 ? argv[0] : "kubeling");
    const kubeling_role_t *role = role_find(self); /* invoked through a role-named link */
    if (role)
        return dispatch(role, 0, NULL, argc - 1, argv + 1);

    cleanup_error util_error_t err = NULL;
    util_flagset_t fs;
    util_flagset_init(&fs, global_flags, NULL);
    int next = 0;
    int r = util_flagset_parse(&fs, argc - 1, argv + 1, true, &next, &err);
    util_flagset_free(&fs);
    if (r < 0)
        return usage_error(err);
    next++; /* index into argv */
    if (next >= argc) {
        if (globals.help) {
            print_help(stdout);
            return KUBELING_EXIT_OK;
        }
        print_help(stderr);
        return KUBELING_EXIT_USAGE;
    }
    role = role_find(argv[next]);
    if (!role) {
        fprintf(stderr, "kubeling: unknown role \"%s\" (run 'kubeling help' to list roles)\n",
                argv[next]);
        return KUBELING_EXIT_USAGE;
    }
    return dispatch(role, next - 1, argv + 1, argc - next - 1, argv + next + 1);
}
