/* role_server: the control plane role: the apiserver over the embedded store on the main loop;
 * unless disabled, the scheduler and the controller manager on a loop and thread of their own, and
 * the kubelet of this machine on another (docs/architecture.md, "Threads"). */
#include "roles.h"

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apiserver/apiserver.h"
#include "buildinfo.h" /* generated: KUBELING_VERSION, _GIT_COMMIT, _BUILD_DATE */
#include "kubelet/kubelet.h"
#include "controller/controller.h"
#include "scheduler/scheduler.h"
#include "store/store.h"

static bool opt_disable_agent;
static bool opt_disable_scheduler;
static bool opt_disable_controller_manager;
static long opt_port = 6443;
static long opt_tls_threads = 0;
static char *opt_bind_address;
static util_strv_t opt_tls_sans;
static char *opt_service_cidr;
static char *opt_write_kubeconfig;
static char *opt_write_kubeconfig_mode;
static char *opt_node_monitor_grace;
static long opt_terminated_pod_gc_threshold = 12500;
static bool opt_allocate_node_cidrs = true;

/* Raises the soft limit of open files to the hard one, as Go's runtime does for kube-apiserver
 * and k3s at start (every watch is a connection and an fd); returns the soft limit now. */
static rlim_t raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl = want;
    }
    return rl.rlim_cur;
}

#define DEFAULT_KUBECONFIG "/etc/kubeling/kubeling.yaml"

static const util_flag_t server_flags[] = {
    {"disable-agent", 0, UTIL_FLAG_BOOL, &opt_disable_agent, NULL,
     "do not run a kubelet for this machine", 0, 0, NULL},
    {"disable-scheduler", 0, UTIL_FLAG_BOOL, &opt_disable_scheduler, NULL,
     "do not run the scheduler", 0, 0, NULL},
    {"disable-controller-manager", 0, UTIL_FLAG_BOOL, &opt_disable_controller_manager, NULL,
     "do not run the controller manager", 0, 0, NULL},
    {"node-monitor-grace-period", 0, UTIL_FLAG_STRING, &opt_node_monitor_grace, "DURATION",
     "how long a node may go unheard before it is marked Unknown (default 40s)", 0, 0, NULL},
    {"terminated-pod-gc-threshold", 0, UTIL_FLAG_INT, &opt_terminated_pod_gc_threshold, "N",
     "terminated pods kept before pod GC deletes the oldest (0: none deleted; default 12500)", 0,
     1L << 30, NULL},
    {"https-listen-port", 0, UTIL_FLAG_INT, &opt_port, "PORT",
     "HTTPS port of the apiserver (0: any free port)", 0, 65535, NULL},
    {"apiserver-tls-threads", 0, UTIL_FLAG_INT, &opt_tls_threads, "N",
     "threads doing the apiserver's TLS (default 0: on its loop)", 0, 16, NULL},
    {"bind-address", 0, UTIL_FLAG_STRING, &opt_bind_address, "IP",
     "address the apiserver listens on (default 0.0.0.0)", 0, 0, NULL},
    {"tls-san", 0, UTIL_FLAG_STRINGS, &opt_tls_sans, "NAME",
     "extra host name or IP in the serving certificate (repeatable)", 0, 0, NULL},
    {"service-cidr", 0, UTIL_FLAG_STRING, &opt_service_cidr, "CIDR",
     "IPv4 range for service cluster IPs (default 10.43.0.0/16)", 0, 0, NULL},
    {"allocate-node-cidrs", 0, UTIL_FLAG_BOOL, &opt_allocate_node_cidrs, NULL,
     "the controller manager assigns each Node its pod CIDR (default true; false: each kubelet "
     "picks its own)",
     0, 0, NULL},
    {"write-kubeconfig", 'o', UTIL_FLAG_STRING, &opt_write_kubeconfig, "FILE",
     "also write the admin kubeconfig here (default " DEFAULT_KUBECONFIG
     " when root; \"\" for none)",
     0, 0, NULL},
    {"write-kubeconfig-mode", 0, UTIL_FLAG_STRING, &opt_write_kubeconfig_mode, "MODE",
     "octal mode of that file (default 0600)", 0, 0, NULL},
    {0},
};

typedef struct server {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    store_t *store;
    apiserver_t *api;
    /* Each group of components runs on a loop and thread of its own (util_loop_thread_t): the
     * kubelet on one, the scheduler and the controller manager on another. The pointers below are
     * written and read on those threads only (start and stop run there). */
    util_loop_thread_t *kubelet_thread, *control_thread;
    kubelet_t *kubelet;
    scheduler_runner_t *scheduler;
    controller_manager_t *controllers;
    const kubelet_opts_t *kubelet_opts; /* while kubelet_thread starts */
    const client_config_t *control_api; /* while control_thread starts */
    uint64_t node_monitor_grace;
    int signal;
} server_t;

static void on_signal(uv_signal_t *h, int signum)
{
    server_t *s = h->data;
    if (s->signal)
        return;
    s->signal = signum;
    util_log_info("server: %s received, shutting down", strsignal(signum));
    /* the components first, their threads joined, while the apiserver they talk to still is */
    util_loop_thread_stop(s->kubelet_thread);
    s->kubelet_thread = NULL;
    util_loop_thread_stop(s->control_thread);
    s->control_thread = NULL;
    apiserver_stop(s->api);
    s->api = NULL;
    store_close(s->store);
    s->store = NULL;
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
}

static int open_store(server_t *s, const char *data_dir, util_error_t *err)
{
    char dir[4096], path[4096];
    int r = util_path_join(dir, sizeof(dir), data_dir, "server/db");
    if (r == 0)
        r = util_path_join(path, sizeof(path), dir, "state.db");
    if (r < 0)
        return util_error_make(err, -r, "server: data dir path too long");
    if ((r = util_mkdir_p(dir, 0700, err)) < 0)
        return r;
    store_options_t o;
    store_options_default(&o);
    o.path = path;
    o.loop = &s->loop;
    return store_open(&o, &s->store, err);
}

/* The in-process components reach the apiserver over the in-process transport (a socketpair
 * per connection, plain HTTP, see docs/apiserver.md) as the identity their kubeconfig's client
 * certificate carries; the kubeconfig still names the server (Host). */
static void use_inproc(server_t *s, client_config_t *api, const char *user, const char *group)
{
    const char *const groups[] = {group};
    apiserver_inproc_t *id = apiserver_inproc_identity(s->api, user, groups, 1);
    if (!id)
        return; /* loopback TLS then */
    api->connect = apiserver_inproc_connect;
    api->connect_ud = id;
}

/* On the kubelet's thread. */
static int kubelet_thread_start(uv_loop_t *loop, void *ud, util_error_t *err)
{
    server_t *s = ud;
    kubelet_opts_t o = *s->kubelet_opts;
    o.loop = loop;
    return kubelet_start(&o, &s->kubelet, err);
}

static void kubelet_thread_stop(void *ud)
{
    server_t *s = ud;
    kubelet_stop(s->kubelet);
    s->kubelet = NULL;
}

/* The node of this machine, in-process on a loop and thread of its own. It reaches the apiserver
 * in-process as system:node:<name> (group system:nodes), the identity of the certificate from the
 * cluster CA written to <data-dir>/agent/kubelet.kubeconfig (as k3s does). */
static int start_kubelet(server_t *s, const char *data_dir, util_error_t *err)
{
    char name[256], dir[4096], path[4096];
    kubelet_resolve_node_name(role_node.node_name, name, sizeof(name));
    if (util_path_join(dir, sizeof(dir), data_dir, "agent") < 0 ||
        util_path_join(path, sizeof(path), dir, "kubelet.kubeconfig") < 0)
        return util_error_make(err, ENAMETOOLONG, "data dir path too long");
    int r = util_mkdir_p(dir, 0700, err);
    if (r == 0)
        r = apiserver_node_kubeconfig(s->api, name, path, err);
    if (r < 0)
        return util_error_wrap(err, "kubelet (set --node-name?)");
    char serving[4096], crt[4200], key[4200], ca[4200];
    kubelet_opts_t o = {
        .serving_cert = crt,
        .serving_key = key,
        .client_ca = ca,
        .data_dir = data_dir,
        .self_pod_cidr = opt_disable_controller_manager || !opt_allocate_node_cidrs,
        .control_plane = true,
        .kube_version = APISERVER_KUBE_GIT_VERSION,
        .runtime_version = KUBELING_VERSION,
    };
    r = role_node_kubelet_opts(&o, err);
    if (r < 0)
        return r;
    o.node_name = name;
    r = apiserver_kubelet_serving_cert(s->api, name, role_node.node_ip, serving, sizeof(serving),
                                       err);
    if (r < 0)
        return util_error_wrap(err, "kubelet serving certificate");
    snprintf(crt, sizeof(crt), "%s.crt", serving);
    snprintf(key, sizeof(key), "%s.key", serving);
    snprintf(ca, sizeof(ca), "%s/server/tls/ca.crt", data_dir);
    char dns[64]; /* k3s: the cluster DNS is the 10th address of the service CIDR */
    if (!o.cluster_dns && opt_service_cidr) {
        if (kubelet_dns_service_ip(opt_service_cidr, 10, dns, sizeof(dns)) < 0)
            return util_error_make(err, EINVAL,
                                   "--service-cidr `%s` has no 10th address for "
                                   "the cluster DNS (set --cluster-dns)",
                                   opt_service_cidr);
        o.cluster_dns = dns;
    }
    client_config_t api = {0};
    r = client_config_load(path, &api, err);
    if (r < 0)
        return r;
    char user[300];
    snprintf(user, sizeof(user), "system:node:%s", name);
    use_inproc(s, &api, user, "system:nodes");
    o.api = &api;
    s->kubelet_opts = &o; /* read by kubelet_thread_start before this returns */
    r = util_loop_thread_start("kubelet", kubelet_thread_start, kubelet_thread_stop, s,
                               &s->kubelet_thread, err);
    s->kubelet_opts = NULL;
    client_config_free(&api);
    return r;
}

/* Components in-process (scheduler, controller manager) reach the apiserver
 * in-process as the admin credential's identity, system:admin (group system:masters); a
 * system:kube-scheduler or system:kube-controller-manager identity comes with RBAC. */
static int load_admin_config(const char *data_dir, client_config_t *api, util_error_t *err)
{
    char path[4096];
    if (util_path_join(path, sizeof(path), data_dir, "server/admin.kubeconfig") < 0)
        return util_error_make(err, ENAMETOOLONG, "data dir path too long");
    return client_config_load(path, api, err);
}

/* On the control thread: the scheduler (unless disabled), then the controller manager (unless
 * disabled). On a failure, what started is stopped here: the thread's loop then drains. */
static int control_thread_start(uv_loop_t *loop, void *ud, util_error_t *err)
{
    server_t *s = ud;
    int r = 0;
    if (!opt_disable_scheduler)
        r = scheduler_runner_start(loop, s->control_api, &s->scheduler, err);
    if (r == 0 && !opt_disable_controller_manager) {
        r = controller_manager_start(loop, s->control_api, &s->controllers, err);
        if (r == 0) {
            controller_manager_set_node_monitor_grace(s->controllers, s->node_monitor_grace);
            controller_manager_set_pod_gc_threshold(s->controllers,
                                                    opt_terminated_pod_gc_threshold);
            r = controller_manager_set_node_ipam(s->controllers, opt_allocate_node_cidrs,
                                                 role_node.cluster_cidr,
                                                 (int)role_node.node_cidr_mask_size, err);
        }
    }
    if (r < 0) {
        controller_manager_stop(s->controllers);
        s->controllers = NULL;
        scheduler_runner_stop(s->scheduler);
        s->scheduler = NULL;
    }
    return r;
}

static void control_thread_stop(void *ud)
{
    server_t *s = ud;
    scheduler_runner_stop(s->scheduler);
    s->scheduler = NULL;
    controller_manager_stop(s->controllers);
    s->controllers = NULL;
}

/* The scheduler and the controller manager share one credential, one in-process identity and
 * one thread. */
static int start_control(server_t *s, const char *data_dir, util_error_t *err)
{
    if (opt_disable_scheduler && opt_disable_controller_manager)
        return 0;
    if (opt_node_monitor_grace &&
        controller_parse_duration_ms(opt_node_monitor_grace, &s->node_monitor_grace) < 0)
        return util_error_make(err, EINVAL, "--node-monitor-grace-period: bad duration \"%s\"",
                               opt_node_monitor_grace);
    client_config_t api = {0};
    int r = load_admin_config(data_dir, &api, err);
    if (r == 0) {
        use_inproc(s, &api, "system:admin", "system:masters");
        s->control_api = &api; /* read by control_thread_start before this returns */
        r = util_loop_thread_start("control", control_thread_start, control_thread_stop, s,
                                   &s->control_thread, err);
        s->control_api = NULL;
    }
    client_config_free(&api);
    return r;
}

static int run_server(const kubeling_globals_t *g, const util_strv_t *args)
{
    cleanup_error util_error_t err = NULL;
    if (args->n > 0) {
        fprintf(stderr, "kubeling server: unexpected argument \"%s\"\n", args->v[0]);
        return KUBELING_EXIT_USAGE;
    }
    unsigned long mode = 0600;
    if (opt_write_kubeconfig_mode) {
        char *end = NULL;
        errno = 0;
        mode = strtoul(opt_write_kubeconfig_mode, &end, 8);
        if (errno || !end || *end || end == opt_write_kubeconfig_mode || mode > 0777) {
            fprintf(stderr,
                    "kubeling server: --write-kubeconfig-mode \"%s\" is not an octal mode\n",
                    opt_write_kubeconfig_mode);
            return KUBELING_EXIT_USAGE;
        }
    }
    const char *kubeconfig_copy = opt_write_kubeconfig;
    if (!kubeconfig_copy && geteuid() == 0)
        kubeconfig_copy = DEFAULT_KUBECONFIG;
    server_t s = {0};
    uv_loop_init(&s.loop);
    int r = util_mkdir_p(g->data_dir, 0700, &err);
    if (r == 0)
        r = open_store(&s, g->data_dir, &err);
    if (r == 0) {
        apiserver_opts_t o;
        apiserver_opts_default(&o);
        /* connections (each an fd; three with the TLS front: the socket and a socketpair) up
         * to the default, leaving room for the store, the kubelet's containers' logs and the
         * in-process clients */
        rlim_t nofile = raise_nofile(), per = opt_tls_threads ? 3 : 1;
        if (nofile < (rlim_t)o.max_connections * per + 1024)
            o.max_connections = nofile > 1024 + 256 * per ? (unsigned)((nofile - 1024) / per) : 256;
        o.loop = &s.loop;
        o.store = s.store;
        o.data_dir = g->data_dir;
        o.port = (int)opt_port;
        o.tls_threads = (unsigned)opt_tls_threads; /* also counted in max_connections above */
        if (opt_bind_address)
            o.bind_address = opt_bind_address;
        o.service_cidr = opt_service_cidr;
        o.tls_sans = (const char *const *)opt_tls_sans.v;
        o.n_tls_sans = opt_tls_sans.n;
        o.write_kubeconfig = kubeconfig_copy;
        o.write_kubeconfig_mode = (unsigned)mode;
        o.build_commit = KUBELING_GIT_COMMIT;
        o.build_date = KUBELING_BUILD_DATE;
        r = apiserver_start(&o, &s.api, &err);
    }
    if (r < 0) {
        char buf[512];
        fprintf(stderr, "kubeling server: %s\n", util_error_text(err, buf, sizeof(buf)));
        if (s.store)
            store_close(s.store);
        uv_run(&s.loop, UV_RUN_DEFAULT);
        uv_loop_close(&s.loop);
        return KUBELING_EXIT_FAILURE;
    }
    uv_signal_init(&s.loop, &s.sigint);
    uv_signal_init(&s.loop, &s.sigterm);
    s.sigint.data = s.sigterm.data = &s;
    uv_signal_start(&s.sigint, on_signal, SIGINT);
    uv_signal_start(&s.sigterm, on_signal, SIGTERM);
    util_log_info("server: kubeling %s ready; admin kubeconfig: %s/server/admin.kubeconfig",
                  KUBELING_VERSION, g->data_dir);
    if (start_control(&s, g->data_dir, &err) < 0 ||
        (!opt_disable_agent && start_kubelet(&s, g->data_dir, &err) < 0)) {
        char buf[512];
        fprintf(stderr, "kubeling server: %s\n", util_error_text(err, buf, sizeof(buf)));
        on_signal(&s.sigterm, SIGTERM);
        uv_run(&s.loop, UV_RUN_DEFAULT);
        uv_loop_close(&s.loop);
        return KUBELING_EXIT_FAILURE;
    }
    uv_run(&s.loop, UV_RUN_DEFAULT);
    uv_loop_close(&s.loop);
    return KUBELING_EXIT_OK;
}

const kubeling_role_t role_server = {
    .name = "server",
    .summary = "run the control plane (and, unless --disable-agent, a node agent)",
    .flags = server_flags,
    .node_flags = role_node_flags,
    .run = run_server,
};
