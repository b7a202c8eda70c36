/* role_agent: the node role (kubelet, container runtime, proxy, dns) joining a server. */
#include "roles.h"

static char *opt_server;
static char *opt_token;

static const util_flag_t agent_flags[] = {
    {"server", 's', UTIL_FLAG_STRING, &opt_server, "URL", "server to join (https://host:6443)", 0,
     0, NULL},
    {"token", 't', UTIL_FLAG_STRING, &opt_token, "TOKEN", "join token", 0, 0, NULL},
    {0},
};

static int run_agent(const kubeling_globals_t *g, const util_strv_t *args)
{
    (void)g;
    (void)args;
    fprintf(stderr, "kubeling agent: not built yet (the kubelet lands in issue 5)\n");
    return KUBELING_EXIT_FAILURE;
}

const kubeling_role_t role_agent = {
    "agent", "run a node agent that joins a server", NULL, agent_flags, run_agent, false,
};
