/* role_server: the control plane role (apiserver, scheduler, controllers, local agent). */
#include "roles.h"

static bool opt_disable_agent;

static const util_flag_t server_flags[] = {
    {"disable-agent", 0, UTIL_FLAG_BOOL, &opt_disable_agent, NULL,
     "do not run a kubelet for this machine", 0, 0, NULL},
    {0},
};

static int run_server(const kubeling_globals_t *g, const util_strv_t *args)
{
    (void)g;
    (void)args;
    fprintf(stderr, "kubeling server: not built yet (the apiserver and datastore roles land in "
                    "issues 3 and 4)\n");
    return KUBELING_EXIT_FAILURE;
}

const kubeling_role_t role_server = {
    "server",   "run the control plane (and, unless --disable-agent, a node agent)",
    NULL,       server_flags,
    run_server, false,
};
