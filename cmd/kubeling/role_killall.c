/* role_killall: `kubeling killall`, like k3s-killall.sh: kills every container and shim,
 * unmounts the pod namespaces and removes the runtime's cgroups and state. */
#include "roles.h"
#include "runtime/runtime.h"

static char *opt_runtime_dir;
static char *opt_cgroup_root;

static const util_flag_t killall_flags[] = {
    {"runtime-dir", 0, UTIL_FLAG_STRING, &opt_runtime_dir, "DIR",
     "runtime state directory (default /run/kubeling/runtime)", 0, 0, NULL},
    {"cgroup-root", 0, UTIL_FLAG_STRING, &opt_cgroup_root, "NAME",
     "cgroup every container lives under (default kubeling)", 0, 0, NULL},
    {0},
};

static int run_killall(const kubeling_globals_t *g, const util_strv_t *args)
{
    (void)g;
    (void)args;
    runtime_config_t cfg = {
        .state_dir = opt_runtime_dir ? opt_runtime_dir : "/run/kubeling/runtime",
        .cgroup_root = opt_cgroup_root ? opt_cgroup_root : "kubeling",
    };
    cleanup_error util_error_t err = NULL;
    if (runtime_cleanup_all(&cfg, &err) < 0) {
        char b[1024];
        util_log_error("killall: %s", util_error_text(err, b, sizeof(b)));
        return KUBELING_EXIT_FAILURE;
    }
    return KUBELING_EXIT_OK;
}

const kubeling_role_t role_killall = {
    "killall",   "kill every container, unmount and remove the runtime's state",
    NULL,        killall_flags,
    run_killall, false,
    NULL,
};
