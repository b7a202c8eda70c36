/* role_agent: the node role (kubelet; later the container runtime, proxy and dns) joining a
 * server. Until the join protocol lands, the agent takes a kubeconfig. */
#include "roles.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "apiserver/apiserver.h" /* APISERVER_KUBE_GIT_VERSION: the version nodes report */
#include "buildinfo.h"
#include "kubelet/kubelet.h"

static char *opt_server;
static char *opt_token;
static char *opt_kubeconfig;
static bool opt_self_pod_cidr;
static char *opt_tls_cert, *opt_tls_key, *opt_client_ca;

static const util_flag_t agent_flags[] = {
    {"server", 's', UTIL_FLAG_STRING, &opt_server, "URL", "server to join (https://host:6443)", 0,
     0, NULL},
    {"token", 't', UTIL_FLAG_STRING, &opt_token, "TOKEN", "join token", 0, 0, NULL},
    {"kubeconfig", 0, UTIL_FLAG_STRING, &opt_kubeconfig, "FILE",
     "kubeconfig to reach the API server with (until the join protocol lands)", 0, 0, NULL},
    {"self-assign-pod-cidr", 0, UTIL_FLAG_BOOL, &opt_self_pod_cidr, NULL,
     "pick this node's pod CIDR itself (for a server with --allocate-node-cidrs=false or "
     "--disable-controller-manager); default: wait for the server to assign it",
     0, 0, NULL},
    {"kubelet-tls-cert-file", 0, UTIL_FLAG_STRING, &opt_tls_cert, "FILE",
     "serving certificate of the kubelet API, from the cluster CA (none: the API is off)", 0, 0,
     NULL},
    {"kubelet-tls-private-key-file", 0, UTIL_FLAG_STRING, &opt_tls_key, "FILE", "its private key",
     0, 0, NULL},
    {"kubelet-client-ca-file", 0, UTIL_FLAG_STRING, &opt_client_ca, "FILE",
     "CA of the clients the kubelet API accepts (the apiserver's kubelet-client)", 0, 0, NULL},
    {0},
};

typedef struct agent {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    kubelet_t *kubelet;
} agent_t;

static void on_signal(uv_signal_t *h, int signum)
{
    agent_t *a = h->data;
    util_log_info("agent: %s received, shutting down", strsignal(signum));
    kubelet_stop(a->kubelet);
    a->kubelet = NULL;
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
}

static int start(agent_t *a, const char *data_dir, util_error_t *err)
{
    char dir[4096];
    if (util_path_join(dir, sizeof(dir), data_dir, "agent") < 0)
        return util_error_make(err, ENAMETOOLONG, "data dir path too long");
    int r = util_mkdir_p(dir, 0700, err);
    if (r == 0 && opt_tls_cert && (!opt_tls_key || !opt_client_ca))
        r = util_error_make(err, EINVAL,
                            "--kubelet-tls-cert-file needs --kubelet-tls-private-key-file and "
                            "--kubelet-client-ca-file");
    if (r == 0 && !opt_tls_cert)
        util_log_warn("agent: no --kubelet-tls-cert-file: the kubelet API (logs, exec) is off");
    char manifests[4200]; /* k3s's <data-dir>/agent/pod-manifests (the kubelet's dir is agent/) */
    if (r == 0 && util_path_join(manifests, sizeof(manifests), dir, "pod-manifests") < 0)
        r = util_error_make(err, ENAMETOOLONG, "data dir path too long");
    client_config_t api = {0};
    if (r == 0)
        r = client_config_load(opt_kubeconfig, &api, err);
    if (r < 0)
        return r;
    kubelet_opts_t o = {
        .loop = &a->loop,
        .api = &api,
        .data_dir = dir,
        .self_pod_cidr = opt_self_pod_cidr,
        .kube_version = APISERVER_KUBE_GIT_VERSION,
        .runtime_version = KUBELING_VERSION,
        .serving_cert = opt_tls_cert,
        .serving_key = opt_tls_key,
        .client_ca = opt_client_ca,
    };
    r = role_node_kubelet_opts(&o, err);
    if (r < 0) {
        client_config_free(&api);
        return r;
    }
    if (!o.pod_manifest_path)
        o.pod_manifest_path = manifests;
    r = kubelet_start(&o, &a->kubelet, err);
    client_config_free(&api);
    return r;
}

static int run_agent(const kubeling_globals_t *g, const util_strv_t *args)
{
    (void)args;
    if (!opt_kubeconfig && (opt_server || opt_token)) {
        fprintf(stderr, "kubeling agent: joining with --server/--token is not built yet (a later "
                        "issue); pass --kubeconfig FILE (e.g. the server's "
                        "<data-dir>/server/admin.kubeconfig)\n");
        return KUBELING_EXIT_FAILURE;
    }
    if (!opt_kubeconfig) {
        fprintf(stderr, "kubeling agent: --kubeconfig FILE is required\n");
        return KUBELING_EXIT_USAGE;
    }
    cleanup_error util_error_t err = NULL;
    agent_t a = {0};
    uv_loop_init(&a.loop);
    if (start(&a, g->data_dir, &err) < 0) {
        char buf[512];
        fprintf(stderr, "kubeling agent: %s\n", util_error_text(err, buf, sizeof(buf)));
        uv_run(&a.loop, UV_RUN_DEFAULT);
        uv_loop_close(&a.loop);
        return KUBELING_EXIT_FAILURE;
    }
    uv_signal_init(&a.loop, &a.sigint);
    uv_signal_init(&a.loop, &a.sigterm);
    a.sigint.data = a.sigterm.data = &a;
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    util_log_info("agent: kubeling %s running node %s", KUBELING_VERSION,
                  kubelet_node_name(a.kubelet));
    uv_run(&a.loop, UV_RUN_DEFAULT);
    uv_loop_close(&a.loop);
    return KUBELING_EXIT_OK;
}

const kubeling_role_t role_agent = {
    "agent",         "run a node agent that joins a server", NULL, agent_flags, run_agent, false,
    role_node_flags,
};
