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
static char *opt_node_name;
static char *opt_node_ip;
static char *opt_cluster_cidr;
static bool opt_self_pod_cidr;
static char *opt_private_registry;
static long opt_node_cidr_mask_size = KUBELET_NODE_CIDR_MASK;
static char *opt_cluster_dns;
static char *opt_cluster_domain;
static char *opt_resolv_conf;
static long opt_max_pods = KUBELET_MAX_PODS;
static util_strv_t opt_node_labels;
static long opt_kubelet_port = KUBELET_PORT;
static char *opt_tls_cert, *opt_tls_key, *opt_client_ca, *opt_log_max_size;
static long opt_log_max_files = KUBELET_LOG_MAX_FILES;
static char *opt_pod_manifest_path;

static const util_flag_t agent_flags[] = {
    {"server", 's', UTIL_FLAG_STRING, &opt_server, "URL", "server to join (https://host:6443)", 0,
     0, NULL},
    {"token", 't', UTIL_FLAG_STRING, &opt_token, "TOKEN", "join token", 0, 0, NULL},
    {"kubeconfig", 0, UTIL_FLAG_STRING, &opt_kubeconfig, "FILE",
     "kubeconfig to reach the API server with (until the join protocol lands)", 0, 0, NULL},
    {"node-name", 0, UTIL_FLAG_STRING, &opt_node_name, "NAME",
     "name of the node (default: the host name, lower-cased)", 0, 0, NULL},
    {"node-ip", 0, UTIL_FLAG_STRING, &opt_node_ip, "IP",
     "InternalIP of the node (default: the address of the default-route interface)", 0, 0, NULL},
    {"private-registry", 0, UTIL_FLAG_STRING, &opt_private_registry, "FILE",
     "registries.yaml: mirrors, credentials and TLS per registry (default "
     "/etc/kubeling/registries.yaml)",
     0, 0, NULL},
    {"cluster-cidr", 0, UTIL_FLAG_STRING, &opt_cluster_cidr, "CIDR",
     "IPv4 range for pod IPs, split into per-node ranges (default 10.42.0.0/16)", 0, 0, NULL},
    {"self-assign-pod-cidr", 0, UTIL_FLAG_BOOL, &opt_self_pod_cidr, NULL,
     "pick this node's pod CIDR itself (for a server with --allocate-node-cidrs=false or "
     "--disable-controller-manager); default: wait for the server to assign it",
     0, 0, NULL},
    {"node-cidr-mask-size", 0, UTIL_FLAG_INT, &opt_node_cidr_mask_size, "BITS",
     "prefix length of each node's pod range within --cluster-cidr (default 24)", 16, 30, NULL},
    {"max-pods", 0, UTIL_FLAG_INT, &opt_max_pods, "N",
     "pods this node's kubelet can run: the node's pods capacity (default 110)", 1,
     KUBELET_MAX_PODS_LIMIT, NULL},
    {"node-label", 0, UTIL_FLAG_STRINGS, &opt_node_labels, "KEY=VALUE",
     "extra label of the node (repeatable)", 0, 0, NULL},
    {"kubelet-port", 0, UTIL_FLAG_INT, &opt_kubelet_port, "PORT",
     "HTTPS port of the kubelet API (default 10250; 0: any free port)", 0, 65535, NULL},
    {"kubelet-tls-cert-file", 0, UTIL_FLAG_STRING, &opt_tls_cert, "FILE",
     "serving certificate of the kubelet API, from the cluster CA (none: the API is off)", 0, 0,
     NULL},
    {"kubelet-tls-private-key-file", 0, UTIL_FLAG_STRING, &opt_tls_key, "FILE", "its private key",
     0, 0, NULL},
    {"kubelet-client-ca-file", 0, UTIL_FLAG_STRING, &opt_client_ca, "FILE",
     "CA of the clients the kubelet API accepts (the apiserver's kubelet-client)", 0, 0, NULL},
    {"container-log-max-size", 0, UTIL_FLAG_STRING, &opt_log_max_size, "SIZE",
     "size at which a container log is rotated (default 10Mi)", 0, 0, NULL},
    {"container-log-max-files", 0, UTIL_FLAG_INT, &opt_log_max_files, "N",
     "container log files kept, the current one included (default 5)", 2, 100, NULL},
    {"pod-manifest-path", 0, UTIL_FLAG_STRING, &opt_pod_manifest_path, "DIR",
     "static pod manifests (default <data-dir>/agent/pod-manifests)", 0, 0, NULL},
    {"cluster-dns", 0, UTIL_FLAG_STRING, &opt_cluster_dns, "IP[,IP]",
     "nameservers of ClusterFirst pods (default 10.43.0.10)", 0, 0, NULL},
    {"cluster-domain", 0, UTIL_FLAG_STRING, &opt_cluster_domain, "DOMAIN",
     "cluster domain of pods' DNS search paths (default cluster.local)", 0, 0, NULL},
    {"resolv-conf", 0, UTIL_FLAG_STRING, &opt_resolv_conf, "FILE",
     "host resolver file of dnsPolicy Default pods (default: /etc/resolv.conf, or "
     "/run/systemd/resolve/resolv.conf when the first names only loopback nameservers)",
     0, 0, NULL},
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
    int64_t log_size = 0;
    if (r == 0 && opt_log_max_size && kubelet_parse_bytes(opt_log_max_size, &log_size) < 0)
        r = util_error_make(err, EINVAL, "--container-log-max-size: bad quantity `%s`",
                            opt_log_max_size);
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
        .node_name = opt_node_name,
        .data_dir = dir,
        .node_ip = opt_node_ip,
        .cluster_cidr = opt_cluster_cidr,
        .self_pod_cidr = opt_self_pod_cidr,
        .node_cidr_mask_size = (int)opt_node_cidr_mask_size,
        .max_pods = (int)opt_max_pods,
        .labels = (const char *const *)opt_node_labels.v,
        .nlabels = opt_node_labels.n,
        .kube_version = APISERVER_KUBE_GIT_VERSION,
        .runtime_version = KUBELING_VERSION,
        .port = opt_kubelet_port ? (int)opt_kubelet_port : KUBELET_PORT_ANY,
        .serving_cert = opt_tls_cert,
        .serving_key = opt_tls_key,
        .client_ca = opt_client_ca,
        .log_max_size = log_size,
        .log_max_files = (int)opt_log_max_files,
        .private_registry = opt_private_registry,
        .pod_manifest_path = opt_pod_manifest_path ? opt_pod_manifest_path : manifests,
        .cluster_dns = opt_cluster_dns,
        .cluster_domain = opt_cluster_domain,
        .resolv_conf = opt_resolv_conf,
    };
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
    "agent", "run a node agent that joins a server", NULL, agent_flags, run_agent, false,
};
