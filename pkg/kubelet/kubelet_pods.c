/* kubelet_pods: runs the pods bound to this node. An informer on pods (field selector
 * spec.nodeName=<node>) feeds one state machine per pod on the loop; blocking work (image
 * import and pull, sandbox and pod network set-up, container create and start, teardown) runs
 * on the libuv thread pool, one job per pod at a time. Container exits arrive as readable
 * shim sockets (runtime_container_watch), never by polling. See docs/kubelet.md#pods. */
#include "kubelet/kubelet.h"
#include "kubelet_internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "podnet/podnet.h"
#include "runtime/runtime.h"

#define LOG_MAX_SIZE     (10 * 1024 * 1024)
#define LOG_MAX_FILES    5
#define MAX_CTRS         64
#define DEFAULT_GRACE    30
#define BACKOFF_RESET_NS (600ll * 1000000000) /* upstream: 2 x MaxContainerBackOff */

typedef struct kubelet_pods kpods_t;
typedef struct kpod kpod_t;

typedef struct kctr {
    kpod_t *pod;
    char *name, *image, *image_id;
    bool init;
    char id[RUNTIME_ID_MAX + 1]; /* the runtime container of the current attempt, or "" */
    int attempt;                 /* of id; the next one is attempt + 1 */
    kubelet_cstate_t state;
    const char *reason; /* static strings */
    char message[512];
    int64_t started_ns;
    kubelet_term_t term, last;
    char term_cid[RUNTIME_ID_MAX + 16], last_cid[RUNTIME_ID_MAX + 16];
    char term_msg[256], last_msg[256];
    bool has_last;
    int restarts, pull_failures;
    int backoff_n;     /* crash-loop back-off steps; reset after 10 minutes of running */
    uint64_t retry_at; /* loop time before which it is not started again */
    uv_poll_t *poll;   /* watching the shim for the exit */
    int watch_fd;
} kctr_t;

struct kpod {
    kpods_t *ps;
    kpod_t *next;
    char *uid, *ns, *name;
    cJSON *obj; /* the latest from the informer; NULL for an orphan found at start */
    char ip[16];
    bool sandbox, busy, deleting, gone, sigterm_sent, torn_down, delete_sent, adopted;
    bool net_released;
    kctr_t ctrs[MAX_CTRS];
    size_t n;
    char start_time[40];
    char *posted;
    client_req_t *status_req, *delete_req;
    bool status_dirty;
    uv_timer_t *timer;
    uint64_t kill_at;
};

struct kubelet_pods {
    kubelet_t *k;
    runtime_t *rt;
    podnet_t *pn;
    images_store_t *images;
    uv_mutex_t pn_mu, img_mu;
    client_informer_t *informer;
    kpod_t *pods;
    util_strv_t adopted; /* container ids found at start, until the informer has synced */
    bool ready, synced, started, stopping, failed;
    int works;
    char *agent_dir;
};

typedef enum { W_INIT, W_SANDBOX, W_START, W_TEARDOWN, W_RELEASE, W_RECONCILE } work_kind_t;

typedef struct work {
    uv_work_t req;
    kpods_t *ps;
    work_kind_t kind;
    kpod_t *pod;
    size_t ci;
    char *cname; /* W_START: the container */
    bool cinit;
    cJSON *obj; /* copy of the pod */
    char *uid, *ns, *name;
    char old_id[RUNTIME_ID_MAX + 1];
    char new_id[RUNTIME_ID_MAX + 1];
    char ip[16];
    const char *reason; /* on failure: ErrImagePull, CreateContainerError, ... */
    char message[512];
    char *image_id;
    int rc;
    util_strv_t live; /* W_RECONCILE */
    char host_ip[64], node[256];
} work_t;

static void pod_sync(kpod_t *p);
static void pod_free(kpod_t *p);
static void begin(kpods_t *ps);

/* ---- small helpers ------------------------------------------------------------------------- */

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(jget(o, k));
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void errtext(util_error_t *err, char *buf, size_t n)
{
    util_error_text(*err, buf, n);
    util_error_free(err);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Container ids: <pod uid>_<container name>_<attempt>. */
static bool parse_cid(const char *id, char *uid, size_t un, char *name, size_t nn, int *attempt)
{
    const char *a = strchr(id, '_'), *b = strrchr(id, '_');
    if (!a || !b || a == b || (size_t)(a - id) >= un || (size_t)(b - a - 1) >= nn)
        return false;
    snprintf(uid, un, "%.*s", (int)(a - id), id);
    snprintf(name, nn, "%.*s", (int)(b - a - 1), a + 1);
    long v;
    if (util_parse_long(b + 1, 0, 1000000, &v) < 0)
        return false;
    *attempt = (int)v;
    return true;
}

static const char *restart_policy(const kpod_t *p)
{
    const char *rp = jstr(jget(p->obj, "spec"), "restartPolicy");
    return rp && *rp ? rp : "Always";
}

/* ---- the thread pool ------------------------------------------------------------------------ */

static void work_body(uv_work_t *req);
static void work_done(uv_work_t *req, int status);

static void work_queue(kpods_t *ps, kpod_t *p, work_kind_t kind, size_t ci)
{
    work_t *w = util_xcalloc(1, sizeof(*w));
    w->req.data = w;
    w->ps = ps;
    w->kind = kind;
    w->pod = p;
    w->ci = ci;
    util_snprintf(w->node, sizeof(w->node), "%s", ps->k->name);
    util_snprintf(w->host_ip, sizeof(w->host_ip), "%s",
                  ps->k->host.internal_ip ? ps->k->host.internal_ip : "");
    if (p) {
        p->busy = true;
        w->uid = util_xstrdup(p->uid);
        w->ns = util_xstrdup(p->ns ? p->ns : "");
        w->name = util_xstrdup(p->name ? p->name : "");
        w->obj = p->obj ? cJSON_Duplicate(p->obj, true) : NULL;
        if (kind == W_START) {
            w->cname = util_xstrdup(p->ctrs[ci].name);
            w->cinit = p->ctrs[ci].init;
            util_snprintf(w->old_id, sizeof(w->old_id), "%s", p->ctrs[ci].id);
            util_snprintf(w->new_id, sizeof(w->new_id), "%s_%s_%d", p->uid, p->ctrs[ci].name,
                          p->ctrs[ci].id[0] ? p->ctrs[ci].attempt + 1 : p->ctrs[ci].attempt);
            util_snprintf(w->ip, sizeof(w->ip), "%s", p->ip);
        }
    }
    if (kind == W_RECONCILE)
        for (kpod_t *q = ps->pods; q; q = q->next)
            if (!q->gone)
                util_strv_push(&w->live, q->uid);
    ps->works++;
    ps->k->handles++;
    uv_queue_work(ps->k->loop, &w->req, work_body, work_done);
}

static void work_free(work_t *w)
{
    cJSON_Delete(w->obj);
    free(w->uid);
    free(w->ns);
    free(w->name);
    free(w->cname);
    free(w->image_id);
    util_strv_clear(&w->live);
    free(w);
}

/* -- W_INIT: image import, the runtime, adoption, the pod network when it was in use -- */

static void do_init(work_t *w)
{
    kpods_t *ps = w->ps;
    util_error_t err = NULL;
    char b[1024], dir[4096];
    images_limits_t lim;
    images_limits_default(&lim);
    if (images_store_open(ps->k->storage_dir, &lim, &ps->images, &err) < 0) {
        errtext(&err, b, sizeof(b));
        util_log_error("kubelet: image store: %s", b);
    } else {
        util_strv_t failed = {0};
        util_path_join(dir, sizeof(dir), ps->agent_dir, "images");
        int n = images_import_dir(ps->images, dir, &failed, &err);
        if (n < 0) {
            errtext(&err, b, sizeof(b));
            util_log_warn("kubelet: importing %s: %s", dir, b);
        } else if (n > 0) {
            util_log_info("kubelet: imported %d image archive(s) from %s", n, dir);
        }
        for (size_t i = 0; i < failed.n; i++)
            util_log_warn("kubelet: image import failed: %s", failed.v[i]);
        util_strv_clear(&failed);
    }
    runtime_config_t rc = {.state_dir = ps->k->runtime_dir, .cgroup_root = ps->k->cgroup_root};
    if (runtime_open(&rc, &ps->rt, &err) < 0) {
        errtext(&err, b, sizeof(b));
        util_log_error("kubelet: container runtime: %s; pods will not run", b);
        w->rc = -1;
        return;
    }
    if (runtime_container_list(ps->rt, &ps->adopted, &err) < 0) {
        errtext(&err, b, sizeof(b));
        util_log_warn("kubelet: listing containers: %s", b);
    }
    util_strv_t sandboxes = {0};
    runtime_sandbox_list(ps->rt, &sandboxes, NULL);
    util_path_join(dir, sizeof(dir), ps->agent_dir, "podnet");
    struct stat st;
    if (ps->adopted.n || sandboxes.n || stat(dir, &st) == 0) {
        podnet_config_t pc = {.data_dir = ps->k->storage_dir,
                              .cluster_cidr = ps->k->cluster_cidr,
                              .pod_cidr = ps->k->pod_cidr};
        if (podnet_open(&pc, &ps->pn, &err) < 0) {
            errtext(&err, b, sizeof(b));
            util_log_error("kubelet: pod network: %s", b);
        }
    }
    /* Sandboxes without containers belong to pods too: remember them as adopted ids. */
    for (size_t i = 0; i < sandboxes.n; i++) {
        char *id = util_strdup_printf("%s_-_0", sandboxes.v[i]);
        util_strv_push(&ps->adopted, id);
        free(id);
    }
    util_strv_clear(&sandboxes);
    if (ps->adopted.n)
        util_log_info("kubelet: found %zu container(s) and sandbox(es) of an earlier run",
                      ps->adopted.n);
}

static int ensure_podnet(kpods_t *ps, util_error_t *err)
{
    if (ps->pn)
        return 0;
    podnet_config_t pc = {.data_dir = ps->k->storage_dir,
                          .cluster_cidr = ps->k->cluster_cidr,
                          .pod_cidr = ps->k->pod_cidr};
    return podnet_open(&pc, &ps->pn, err);
}

/* -- W_SANDBOX -- */

static int write_file(const char *dir, const char *name, const char *text, util_error_t *err)
{
    char path[4096];
    if (util_path_join(path, sizeof(path), dir, name) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long");
    return util_write_file_atomic(path, text, strlen(text), 0644, err);
}

static void sum_resources(const cJSON *spec, runtime_resources_t *r)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, jget(spec, "containers"))
    {
        const cJSON *res = jget(c, "resources");
        int64_t v;
        if (kubelet_parse_cpu_milli(jstr(jget(res, "requests"), "cpu"), &v) == 0)
            r->cpu_request_milli += v;
        if (kubelet_parse_cpu_milli(jstr(jget(res, "limits"), "cpu"), &v) == 0)
            r->cpu_limit_milli += v;
        if (kubelet_parse_bytes(jstr(jget(res, "limits"), "memory"), &v) == 0)
            r->memory_limit += v;
    }
}

static runtime_qos_t qos_of(const cJSON *spec)
{
    const char *q = kubelet_qos_class(spec);
    return !strcmp(q, "Guaranteed")  ? RUNTIME_QOS_GUARANTEED
           : !strcmp(q, "Burstable") ? RUNTIME_QOS_BURSTABLE
                                     : RUNTIME_QOS_BESTEFFORT;
}

/* hostPort mappings of every container (ports without hostPort need nothing). */
static size_t host_ports(const cJSON *spec, podnet_port_t *out)
{
    size_t n = 0;
    const cJSON *c, *port;
    cJSON_ArrayForEach(c, jget(spec, "containers"))
    {
        cJSON_ArrayForEach(port, jget(c, "ports"))
        {
            const cJSON *hp = jget(port, "hostPort"), *cp = jget(port, "containerPort");
            if (!cJSON_IsNumber(hp) || !cJSON_IsNumber(cp) || hp->valuedouble < 1 ||
                hp->valuedouble > 65535 || cp->valuedouble < 1 || cp->valuedouble > 65535 ||
                n >= PODNET_MAX_PORTS)
                continue;
            const char *proto = jstr(port, "protocol"), *hip = jstr(port, "hostIP");
            struct in_addr a = {0};
            if (hip && *hip && inet_pton(AF_INET, hip, &a) != 1)
                continue;
            out[n++] = (podnet_port_t){
                .host_port = (uint16_t)hp->valuedouble,
                .container_port = (uint16_t)cp->valuedouble,
                .protocol = proto && !strcmp(proto, "UDP") ? IPPROTO_UDP : IPPROTO_TCP,
                .host_ip = ntohl(a.s_addr),
            };
        }
    }
    return n;
}

static void do_sandbox(work_t *w)
{
    kpods_t *ps = w->ps;
    const cJSON *spec = jget(w->obj, "spec");
    util_error_t err = NULL;
    bool host_net = cJSON_IsTrue(jget(spec, "hostNetwork"));
    const char *hostname = jstr(spec, "hostname");
    if (!hostname || !*hostname)
        hostname = w->name;
    char dir[4096], netns[4096];
    util_snprintf(dir, sizeof(dir), "%s/pods/%s/etc", ps->agent_dir, w->uid);
    if (util_mkdir_p(dir, 0755, &err) < 0)
        goto fail;
    runtime_sandbox_spec_t ss = {.id = w->uid,
                                 .hostname = hostname,
                                 .host_network = host_net,
                                 .host_pid = cJSON_IsTrue(jget(spec, "hostPID")),
                                 .host_ipc = cJSON_IsTrue(jget(spec, "hostIPC")),
                                 .qos = qos_of(spec)};
    sum_resources(spec, &ss.resources);
    if (runtime_sandbox_create(ps->rt, &ss, &err) < 0)
        goto fail;
    if (!host_net) {
        if (runtime_sandbox_netns_path(ps->rt, w->uid, netns, sizeof(netns)) < 0) {
            util_error_make(&err, ENOENT, "sandbox %s has no network namespace", w->uid);
            goto fail;
        }
        podnet_port_t ports[PODNET_MAX_PORTS];
        size_t nports = host_ports(spec, ports);
        podnet_pod_t pp = {.ns = w->ns,
                           .name = w->name,
                           .uid = w->uid,
                           .netns_path = netns,
                           .ports = ports,
                           .nports = nports};
        podnet_result_t res;
        uv_mutex_lock(&ps->pn_mu);
        int r = ensure_podnet(ps, &err);
        if (r == 0)
            r = podnet_setup(ps->pn, &pp, &res, &err);
        uv_mutex_unlock(&ps->pn_mu);
        if (r < 0)
            goto fail;
        util_snprintf(w->ip, sizeof(w->ip), "%s", res.ip);
    } else {
        util_snprintf(w->ip, sizeof(w->ip), "%s", w->host_ip);
    }
    /* /etc/hosts like upstream's managed hosts file; /etc/resolv.conf: the host's for now. */
    char *hosts = util_strdup_printf("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"
                                     "::1\tlocalhost ip6-localhost ip6-loopback\n"
                                     "fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\n"
                                     "fe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
                                     "%s\t%s\n",
                                     w->ip, hostname);
    char *hn = util_strdup_printf("%s\n", hostname);
    char *resolv = NULL;
    if (util_read_file("/etc/resolv.conf", 64 * 1024, &resolv, NULL, NULL) < 0)
        resolv = util_xstrdup("");
    int r = write_file(dir, "hosts", hosts, &err);
    if (r == 0)
        r = write_file(dir, "hostname", hn, &err);
    if (r == 0)
        r = write_file(dir, "resolv.conf", resolv, &err);
    free(hosts);
    free(hn);
    free(resolv);
    if (r < 0)
        goto fail;
    return;
fail:
    w->rc = -1;
    w->reason = "FailedCreatePodSandBox";
    errtext(&err, w->message, sizeof(w->message));
}

/* -- W_START: image, spec, create, start -- */

static const cJSON *find_container(const cJSON *spec, const char *name, bool init)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, jget(spec, init ? "initContainers" : "containers"))
    {
        const char *n = jstr(c, "name");
        if (n && !strcmp(n, name))
            return c;
    }
    return NULL;
}

static int get_image(work_t *w, const char *ref, const char *policy, images_image_t **ret)
{
    kpods_t *ps = w->ps;
    util_error_t err = NULL;
    uv_mutex_lock(&ps->img_mu);
    int r = -ENOENT;
    if (!ps->images)
        util_error_make(&err, ENOENT, "the image store is not open");
    else if (strcmp(policy, "Always"))
        r = images_get(ps->images, ref, ret, &err);
    if (r == -ENOENT && ps->images && strcmp(policy, "Never")) {
        util_error_free(&err);
        r = images_pull(ps->images, ref, NULL, NULL, NULL, NULL, &err);
        if (r == 0)
            r = images_get(ps->images, ref, ret, &err);
    } else if (r == -ENOENT) {
        w->reason = "ErrImageNeverPull";
    }
    uv_mutex_unlock(&ps->img_mu);
    if (r < 0) {
        if (!w->reason)
            w->reason = "ErrImagePull";
        errtext(&err, w->message, sizeof(w->message));
    }
    return r;
}

static void parse_user(const char *user, uid_t *uid, gid_t *gid)
{
    long v;
    if (!user || !*user)
        return;
    char buf[128];
    util_snprintf(buf, sizeof(buf), "%s", user);
    char *colon = strchr(buf, ':');
    if (colon)
        *colon = 0;
    if (util_parse_long(buf, 0, 0x7fffffff, &v) == 0)
        *uid = (uid_t)v;
    if (colon && util_parse_long(colon + 1, 0, 0x7fffffff, &v) == 0)
        *gid = (gid_t)v;
}

static long sc_num(const cJSON *csc, const cJSON *psc, const char *key)
{
    const cJSON *v = jget(csc, key);
    if (!cJSON_IsNumber(v))
        v = jget(psc, key);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

static void strv_from(util_strv_t *out, const cJSON *arr)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (cJSON_IsString(e))
            util_strv_push(out, e->valuestring);
    }
}

static void do_start(work_t *w)
{
    kpods_t *ps = w->ps;
    const cJSON *spec = jget(w->obj, "spec");
    const cJSON *c = find_container(spec, w->cname, w->cinit);
    util_error_t err = NULL;
    images_image_t *img = NULL;
    util_strv_t argv = {0}, env = {0}, lowers = {0}, add = {0}, drop = {0};
    char upper[4096], workd[4096], logdir[4096], logp[4096], etc[4096];
    char hosts[4200], hostname[4200], resolv[4200];
    if (w->old_id[0]) {
        runtime_container_delete(ps->rt, w->old_id, NULL);
        util_snprintf(upper, sizeof(upper), "%s/containers/%s", ps->agent_dir, w->old_id);
        rm_rf(upper);
    }
    const char *ref = jstr(c, "image"), *policy = jstr(c, "imagePullPolicy");
    if (!c || !ref) {
        w->reason = "CreateContainerConfigError";
        util_snprintf(w->message, sizeof(w->message), "container has no image");
        goto out;
    }
    if (!policy)
        policy = strstr(ref, ":latest") || !strchr(strrchr(ref, '/') ? strrchr(ref, '/') : ref, ':')
                     ? "Always"
                     : "IfNotPresent";
    /* An image present locally is used even with Always: pulls are best-effort offline. */
    if (get_image(w, ref, !strcmp(policy, "Always") ? "IfNotPresent" : policy, &img) < 0)
        goto out;
    w->image_id = util_xstrdup(img->id);
    kubelet_env_ctx_t ec = {.pod_name = w->name,
                            .pod_namespace = w->ns,
                            .pod_uid = w->uid,
                            .node_name = w->node,
                            .pod_ip = w->ip,
                            .host_ip = w->host_ip,
                            .service_account = jstr(spec, "serviceAccountName")};
    if (kubelet_container_env(c, &img->config, &ec, &env, &err) < 0) {
        w->reason = "CreateContainerConfigError";
        errtext(&err, w->message, sizeof(w->message));
        goto out;
    }
    if (kubelet_container_argv(c, &img->config, &env, &argv) < 0) {
        w->reason = "CreateContainerConfigError";
        util_snprintf(w->message, sizeof(w->message), "no command specified");
        goto out;
    }
    for (size_t i = img->layers.n; i-- > 0;) {
        char lp[4096];
        if (images_layer_path(ps->images, img->layers.v[i], lp, sizeof(lp), &err) < 0) {
            w->reason = "CreateContainerError";
            errtext(&err, w->message, sizeof(w->message));
            goto out;
        }
        util_strv_push(&lowers, lp);
    }
    util_snprintf(upper, sizeof(upper), "%s/containers/%s/upper", ps->agent_dir, w->new_id);
    util_snprintf(workd, sizeof(workd), "%s/containers/%s/work", ps->agent_dir, w->new_id);
    util_snprintf(logdir, sizeof(logdir), "%s/logs/pods/%s_%s_%s/%s", ps->agent_dir, w->ns, w->name,
                  w->uid, w->cname);
    util_snprintf(logp, sizeof(logp), "%s/%s.log", logdir, strrchr(w->new_id, '_') + 1);
    util_snprintf(etc, sizeof(etc), "%s/pods/%s/etc", ps->agent_dir, w->uid);
    util_snprintf(hosts, sizeof(hosts), "%s/hosts", etc);
    util_snprintf(hostname, sizeof(hostname), "%s/hostname", etc);
    util_snprintf(resolv, sizeof(resolv), "%s/resolv.conf", etc);
    if (util_mkdir_p(upper, 0755, &err) < 0 || util_mkdir_p(workd, 0700, &err) < 0 ||
        util_mkdir_p(logdir, 0755, &err) < 0) {
        w->reason = "CreateContainerError";
        errtext(&err, w->message, sizeof(w->message));
        goto out;
    }
    const cJSON *csc = jget(c, "securityContext"), *psc = jget(spec, "securityContext");
    uid_t uid = 0;
    gid_t gid = 0;
    parse_user(img->config.user, &uid, &gid);
    long v = sc_num(csc, psc, "runAsUser");
    if (v >= 0)
        uid = (uid_t)v;
    v = sc_num(csc, psc, "runAsGroup");
    if (v >= 0)
        gid = (gid_t)v;
    const cJSON *nonroot = jget(csc, "runAsNonRoot");
    if (!nonroot)
        nonroot = jget(psc, "runAsNonRoot");
    if (cJSON_IsTrue(nonroot) && uid == 0) {
        w->reason = "CreateContainerConfigError";
        util_snprintf(w->message, sizeof(w->message),
                      "container has runAsNonRoot and image will run as root");
        goto out;
    }
    strv_from(&add, jget(jget(csc, "capabilities"), "add"));
    strv_from(&drop, jget(jget(csc, "capabilities"), "drop"));
    const char *wd = jstr(c, "workingDir");
    if (!wd || !*wd)
        wd = img->config.working_dir;
    bool host_net = cJSON_IsTrue(jget(spec, "hostNetwork"));
    static const char *const no_env[] = {NULL};
    runtime_mount_t mounts[3] = {
        {hosts, "/etc/hosts", false},
        {resolv, "/etc/resolv.conf", false},
        {hostname, "/etc/hostname", false},
    };
    const cJSON *res = jget(c, "resources");
    runtime_container_spec_t s = {
        .id = w->new_id,
        .sandbox_id = w->uid,
        .lowerdirs = (const char *const *)lowers.v,
        .nlowerdirs = lowers.n,
        .upperdir = upper,
        .workdir = workd,
        .args = (const char *const *)argv.v,
        .env = env.v ? (const char *const *)env.v : no_env,
        .cwd = wd && *wd ? wd : "/",
        .uid = uid,
        .gid = gid,
        .cap_add = (const char *const *)add.v,
        .cap_drop = (const char *const *)drop.v,
        .privileged = cJSON_IsTrue(jget(csc, "privileged")),
        .no_new_privs = cJSON_IsFalse(jget(csc, "allowPrivilegeEscalation")),
        .readonly_rootfs = cJSON_IsTrue(jget(csc, "readOnlyRootFilesystem")),
        .mounts = mounts,
        .nmounts = host_net ? 2 : 3,
        .log_path = logp,
        .log_max_size = LOG_MAX_SIZE,
        .log_max_files = LOG_MAX_FILES,
    };
    int64_t q;
    if (kubelet_parse_cpu_milli(jstr(jget(res, "requests"), "cpu"), &q) == 0)
        s.resources.cpu_request_milli = q;
    if (kubelet_parse_cpu_milli(jstr(jget(res, "limits"), "cpu"), &q) == 0)
        s.resources.cpu_limit_milli = q;
    if (kubelet_parse_bytes(jstr(jget(res, "limits"), "memory"), &q) == 0)
        s.resources.memory_limit = q;
    if (runtime_container_create(ps->rt, &s, &err) < 0) {
        w->reason = "CreateContainerError";
        errtext(&err, w->message, sizeof(w->message));
        goto out;
    }
    if (runtime_container_start(ps->rt, w->new_id, &err) < 0) {
        w->reason = "RunContainerError";
        errtext(&err, w->message, sizeof(w->message));
        /* the container exists and has exited (126/127): its state says so */
        w->rc = 1;
        goto out_keep;
    }
out:
    if (w->reason)
        w->rc = -1;
out_keep:
    images_image_free(img);
    util_strv_clear(&argv);
    util_strv_clear(&env);
    util_strv_clear(&lowers);
    util_strv_clear(&add);
    util_strv_clear(&drop);
}

/* -- W_TEARDOWN: every container of the pod, the sandbox, its network and files -- */

static void do_teardown(work_t *w)
{
    kpods_t *ps = w->ps;
    util_strv_t ids = {0};
    util_error_t err = NULL;
    char b[1024], path[4096];
    runtime_container_list(ps->rt, &ids, NULL);
    size_t ul = strlen(w->uid);
    for (size_t i = 0; i < ids.n; i++) {
        if (strncmp(ids.v[i], w->uid, ul) || ids.v[i][ul] != '_')
            continue;
        if (runtime_container_delete(ps->rt, ids.v[i], &err) < 0) {
            errtext(&err, b, sizeof(b));
            util_log_warn("kubelet: deleting container %s: %s", ids.v[i], b);
        }
        util_snprintf(path, sizeof(path), "%s/containers/%s", ps->agent_dir, ids.v[i]);
        rm_rf(path);
    }
    util_strv_clear(&ids);
    uv_mutex_lock(&ps->pn_mu);
    if (ps->pn && podnet_teardown(ps->pn, w->uid, &err) < 0) {
        errtext(&err, b, sizeof(b));
        util_log_warn("kubelet: pod network of %s: %s", w->uid, b);
    }
    uv_mutex_unlock(&ps->pn_mu);
    if (runtime_sandbox_remove(ps->rt, w->uid, &err) < 0) {
        errtext(&err, b, sizeof(b));
        util_log_warn("kubelet: sandbox %s: %s", w->uid, b);
        w->rc = -1;
    }
    util_snprintf(path, sizeof(path), "%s/pods/%s", ps->agent_dir, w->uid);
    rm_rf(path);
}

static void do_release(work_t *w)
{
    util_error_t err = NULL;
    uv_mutex_lock(&w->ps->pn_mu);
    if (w->ps->pn && podnet_teardown(w->ps->pn, w->uid, &err) < 0) {
        char b[512];
        errtext(&err, b, sizeof(b));
        util_log_warn("kubelet: pod network of %s: %s", w->uid, b);
    }
    uv_mutex_unlock(&w->ps->pn_mu);
}

static void do_reconcile(work_t *w)
{
    kpods_t *ps = w->ps;
    util_error_t err = NULL;
    size_t freed = 0;
    uv_mutex_lock(&ps->pn_mu);
    if (ps->pn &&
        podnet_reconcile(ps->pn, (const char *const *)w->live.v, w->live.n, &freed, &err) < 0) {
        char b[512];
        errtext(&err, b, sizeof(b));
        util_log_warn("kubelet: pod network reconcile: %s", b);
    }
    uv_mutex_unlock(&ps->pn_mu);
    if (freed)
        util_log_info("kubelet: freed pod network state of %zu pod(s) that are gone", freed);
}

static void work_body(uv_work_t *req)
{
    work_t *w = req->data;
    switch (w->kind) {
    case W_INIT:
        do_init(w);
        break;
    case W_SANDBOX:
        do_sandbox(w);
        break;
    case W_START:
        do_start(w);
        break;
    case W_TEARDOWN:
        do_teardown(w);
        break;
    case W_RELEASE:
        do_release(w);
        break;
    case W_RECONCILE:
        do_reconcile(w);
        break;
    }
}

/* ---- container exits ----------------------------------------------------------------------- */

static void on_poll_closed(uv_handle_t *h)
{
    free(h);
}

static void unwatch(kctr_t *c)
{
    if (!c->poll)
        return;
    uv_poll_stop(c->poll);
    uv_close((uv_handle_t *)c->poll, on_poll_closed);
    c->poll = NULL;
    close(c->watch_fd);
    c->watch_fd = -1;
}

static void set_terminated(kctr_t *c, const runtime_container_state_t *st)
{
    c->state = KUBELET_CS_TERMINATED;
    util_snprintf(c->term_cid, sizeof(c->term_cid), "kubeling://%s", c->id);
    util_snprintf(c->term_msg, sizeof(c->term_msg), "%s", st->message);
    c->term = (kubelet_term_t){
        .exit_code = st->status == RUNTIME_STATUS_UNKNOWN ? 255 : st->exit_code,
        .signal = st->signal,
        .reason = st->oom_killed                         ? "OOMKilled"
                  : st->status == RUNTIME_STATUS_UNKNOWN ? "Unknown"
                  : st->exit_code == 0                   ? "Completed"
                                                         : "Error",
        .message = c->term_msg,
        .started_ns = st->started_ns,
        .finished_ns = st->finished_ns ? st->finished_ns : now_ns(),
        .container_id = c->term_cid,
    };
    c->reason = NULL;
    c->message[0] = 0;
}

static void apply_state(kctr_t *c, const runtime_container_state_t *st)
{
    if (st->status == RUNTIME_STATUS_RUNNING) {
        c->state = KUBELET_CS_RUNNING;
        c->started_ns = st->started_ns ? st->started_ns : now_ns();
        c->reason = NULL;
    } else if (st->status == RUNTIME_STATUS_EXITED || st->status == RUNTIME_STATUS_UNKNOWN) {
        set_terminated(c, st);
    }
}

static void on_exit_readable(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    kctr_t *c = h->data;
    kpods_t *ps = c->pod->ps;
    runtime_container_state_t st;
    util_error_t err = NULL;
    int r = runtime_container_watch_read(ps->rt, c->id, c->watch_fd, &st, &err);
    unwatch(c);
    if (r < 0) {
        util_error_free(&err);
        r = runtime_container_state(ps->rt, c->id, &st, &err);
    }
    if (r < 0) {
        char b[512];
        errtext(&err, b, sizeof(b));
        util_log_warn("kubelet: container %s: %s", c->id, b);
        memset(&st, 0, sizeof(st));
        st.status = RUNTIME_STATUS_UNKNOWN;
    }
    util_log_v(1, "kubelet: container %s exited with %d", c->id, st.exit_code);
    apply_state(c, &st);
    pod_sync(c->pod);
}

/* Watches a started (or adopted) container; reads the state when it has already exited. */
static void watch(kctr_t *c)
{
    kpods_t *ps = c->pod->ps;
    util_error_t err = NULL;
    runtime_container_state_t st;
    int fd = -1;
    if (runtime_container_state(ps->rt, c->id, &st, &err) < 0) {
        util_error_free(&err);
        memset(&st, 0, sizeof(st));
        st.status = RUNTIME_STATUS_UNKNOWN;
        apply_state(c, &st);
        return;
    }
    apply_state(c, &st);
    if (st.status != RUNTIME_STATUS_RUNNING && st.status != RUNTIME_STATUS_CREATED)
        return;
    if (runtime_container_watch(ps->rt, c->id, &fd, &err) < 0) {
        util_error_free(&err);
        if (runtime_container_state(ps->rt, c->id, &st, NULL) == 0)
            apply_state(c, &st);
        return;
    }
    c->poll = util_xcalloc(1, sizeof(*c->poll));
    c->watch_fd = fd;
    uv_poll_init(ps->k->loop, c->poll, fd);
    c->poll->data = c;
    uv_poll_start(c->poll, UV_READABLE | UV_DISCONNECT, on_exit_readable);
}

/* ---- pod state ----------------------------------------------------------------------------- */

static void on_timer_closed(uv_handle_t *h)
{
    free(h);
}

static void on_pod_timer(uv_timer_t *t)
{
    pod_sync(t->data);
}

static void pod_wake_at(kpod_t *p, uint64_t at)
{
    uint64_t now = uv_now(p->ps->k->loop);
    if (!p->timer) {
        p->timer = util_xcalloc(1, sizeof(*p->timer));
        uv_timer_init(p->ps->k->loop, p->timer);
        p->timer->data = p;
    }
    uint64_t due = uv_timer_get_due_in(p->timer);
    uint64_t in = at > now ? at - now : 0;
    if (uv_is_active((uv_handle_t *)p->timer) && due <= in)
        return;
    uv_timer_start(p->timer, on_pod_timer, in, 0);
}

static void pod_free(kpod_t *p)
{
    kpods_t *ps = p->ps;
    for (kpod_t **pp = &ps->pods; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    for (size_t i = 0; i < p->n; i++) {
        unwatch(&p->ctrs[i]);
        free(p->ctrs[i].name);
        free(p->ctrs[i].image);
        free(p->ctrs[i].image_id);
    }
    if (p->timer)
        uv_close((uv_handle_t *)p->timer, on_timer_closed);
    client_req_cancel(p->status_req);
    client_req_cancel(p->delete_req);
    cJSON_Delete(p->obj);
    free(p->posted);
    free(p->uid);
    free(p->ns);
    free(p->name);
    free(p);
}

static kpod_t *pod_find(kpods_t *ps, const char *uid)
{
    for (kpod_t *p = ps->pods; p; p = p->next)
        if (!strcmp(p->uid, uid))
            return p;
    return NULL;
}

static void add_ctrs(kpod_t *p, const cJSON *arr, bool init)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, arr)
    {
        const char *name = jstr(c, "name");
        if (!name || p->n >= MAX_CTRS)
            continue;
        kctr_t *k = &p->ctrs[p->n++];
        k->pod = p;
        k->name = util_xstrdup(name);
        k->image = util_xstrdup(jstr(c, "image") ? jstr(c, "image") : "");
        k->init = init;
        k->watch_fd = -1;
        k->state = KUBELET_CS_WAITING;
        k->reason = init ? "PodInitializing" : "ContainerCreating";
        if (!init && p->n > 0)
            for (size_t i = 0; i < p->n; i++)
                if (p->ctrs[i].init) {
                    k->reason = "PodInitializing";
                    break;
                }
    }
}

/* Adopts containers of an earlier run for this pod (the latest attempt of each). */
static void adopt(kpod_t *p)
{
    kpods_t *ps = p->ps;
    for (size_t i = 0; i < ps->adopted.n; i++) {
        char uid[RUNTIME_ID_MAX + 1], name[RUNTIME_ID_MAX + 1];
        int attempt;
        if (!ps->adopted.v[i] ||
            !parse_cid(ps->adopted.v[i], uid, sizeof(uid), name, sizeof(name), &attempt) ||
            strcmp(uid, p->uid))
            continue;
        p->sandbox = true;
        for (size_t j = 0; j < p->n; j++) {
            kctr_t *c = &p->ctrs[j];
            if (strcmp(c->name, name) || (c->id[0] && c->attempt >= attempt))
                continue;
            util_snprintf(c->id, sizeof(c->id), "%s", ps->adopted.v[i]);
            c->attempt = attempt;
            c->restarts = attempt;
            c->backoff_n = attempt;
        }
    }
    const char *ip = jstr(jget(p->obj, "status"), "podIP");
    if (p->sandbox && ip)
        util_snprintf(p->ip, sizeof(p->ip), "%s", ip);
    for (size_t j = 0; j < p->n; j++) {
        kctr_t *c = &p->ctrs[j];
        if (!c->id[0])
            continue;
        /* The image ID as posted before. */
        const cJSON *cs;
        cJSON_ArrayForEach(cs, jget(jget(p->obj, "status"),
                                    c->init ? "initContainerStatuses" : "containerStatuses"))
        {
            if (jstr(cs, "name") && !strcmp(jstr(cs, "name"), c->name) && jstr(cs, "imageID"))
                c->image_id = util_xstrdup(jstr(cs, "imageID"));
        }
        watch(c);
        util_log_info("kubelet: adopted container %s (%s)", c->id,
                      c->state == KUBELET_CS_RUNNING ? "running" : "exited");
    }
    const char *st = jstr(jget(p->obj, "status"), "startTime");
    if (st)
        util_snprintf(p->start_time, sizeof(p->start_time), "%s", st);
}

static kpod_t *pod_new(kpods_t *ps, const char *uid, const cJSON *obj)
{
    kpod_t *p = util_xcalloc(1, sizeof(*p));
    p->ps = ps;
    p->uid = util_xstrdup(uid);
    if (obj) {
        const cJSON *meta = jget(obj, "metadata");
        p->ns = util_xstrdup(jstr(meta, "namespace") ? jstr(meta, "namespace") : "default");
        p->name = util_xstrdup(jstr(meta, "name") ? jstr(meta, "name") : "");
        p->obj = cJSON_Duplicate(obj, true);
        add_ctrs(p, jget(jget(obj, "spec"), "initContainers"), true);
        add_ctrs(p, jget(jget(obj, "spec"), "containers"), false);
    } else {
        p->gone = true;
    }
    p->next = ps->pods;
    ps->pods = p;
    return p;
}

/* ---- status -------------------------------------------------------------------------------- */

static void on_status_posted(void *ud, client_result_t *res)
{
    kpod_t *p = ud;
    p->status_req = NULL;
    if (res->status == 200) {
        if (res->body) {
            cJSON_Delete(p->obj);
            p->obj = res->body;
            res->body = NULL;
        }
    } else {
        util_log_v(1, "kubelet: pod %s/%s status: %s", p->ns, p->name, res->st.message);
        free(p->posted);
        p->posted = NULL;
    }
    if (p->status_dirty) {
        p->status_dirty = false;
        pod_sync(p);
    }
}

static void post_status(kpod_t *p)
{
    if (!p->obj || p->gone || p->delete_sent)
        return;
    if (p->status_req) {
        p->status_dirty = true;
        return;
    }
    kubelet_ctr_status_t cs[MAX_CTRS];
    for (size_t i = 0; i < p->n; i++) {
        kctr_t *c = &p->ctrs[i];
        char *cid = c->id[0] && c->state != KUBELET_CS_WAITING
                        ? util_strdup_printf("kubeling://%s", c->id)
                        : NULL;
        cs[i] = (kubelet_ctr_status_t){
            .name = c->name,
            .image = c->image,
            .image_id = c->image_id,
            .container_id = cid,
            .init = c->init,
            .state = c->state,
            .reason = c->reason,
            .message = c->message,
            .started_ns = c->started_ns,
            .term = c->term,
            .has_last = c->has_last,
            .last = c->last,
            .restart_count = c->restarts,
        };
    }
    char now[40];
    kubelet__now(now, sizeof(now), false);
    const cJSON *spec = jget(p->obj, "spec");
    kubelet_pod_view_t v = {
        .ctrs = cs,
        .n = p->n,
        .restart_policy = restart_policy(p),
        .pod_ip = p->ip,
        .host_ip = p->ps->k->host.internal_ip,
        .start_time = p->start_time[0] ? p->start_time : NULL,
        .qos_class = kubelet_qos_class(spec),
        .now = now,
        .prev_conditions = jget(jget(p->obj, "status"), "conditions"),
    };
    cJSON *st = kubelet_pod_status(&v);
    for (size_t i = 0; i < p->n; i++)
        free((char *)cs[i].container_id);
    char *text = cJSON_PrintUnformatted(st);
    if (p->posted && text && !strcmp(p->posted, text)) {
        cJSON_free(text);
        cJSON_Delete(st);
        return;
    }
    free(p->posted);
    p->posted = text ? util_xstrdup(text) : NULL;
    cJSON_free(text);
    cJSON *patch = cJSON_CreateObject();
    cJSON_AddItemToObject(patch, "status", st);
    p->status_req = client_patch(p->ps->k->client, &CLIENT_RES_PODS, p->ns, p->name, "status",
                                 CLIENT_PATCH_MERGE, patch, on_status_posted, p);
    cJSON_Delete(patch);
}

/* ---- deletion ------------------------------------------------------------------------------ */

static void on_deleted(void *ud, client_result_t *res)
{
    kpod_t *p = ud;
    p->delete_req = NULL;
    if (res->status == 200 || res->status == 404 || res->status == 409) {
        util_log_info("kubelet: pod %s/%s deleted", p->ns, p->name);
        pod_free(p);
        return;
    }
    util_log_warn("kubelet: deleting pod %s/%s: %s", p->ns, p->name, res->st.message);
    p->delete_sent = false;
    pod_wake_at(p, uv_now(p->ps->k->loop) + 1000);
}

static void delete_api_object(kpod_t *p)
{
    util_buf_t path = {0};
    client_path(&path, &CLIENT_RES_PODS, p->ns, p->name, NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "DeleteOptions");
    cJSON_AddStringToObject(o, "apiVersion", "v1");
    cJSON_AddNumberToObject(o, "gracePeriodSeconds", 0);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "preconditions"), "uid", p->uid);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    p->delete_sent = true;
    p->delete_req = client_request(p->ps->k->client, "DELETE", path.data, "application/json", body,
                                   strlen(body), on_deleted, p);
    cJSON_free(body);
    util_buf_free(&path);
}

static int64_t grace_seconds(const kpod_t *p)
{
    const cJSON *g = jget(jget(p->obj, "metadata"), "deletionGracePeriodSeconds");
    if (!cJSON_IsNumber(g))
        g = jget(jget(p->obj, "spec"), "terminationGracePeriodSeconds");
    return cJSON_IsNumber(g) ? (int64_t)g->valuedouble : DEFAULT_GRACE;
}

/* upstream's killContainer: SIGTERM now, SIGKILL when the grace period ends. */
static bool kill_running(kpod_t *p)
{
    kpods_t *ps = p->ps;
    bool any = false;
    uint64_t now = uv_now(ps->k->loop);
    if (!p->sigterm_sent) {
        int64_t g = p->gone ? 0 : grace_seconds(p);
        p->kill_at = now + (uint64_t)(g > 0 ? g : 0) * 1000;
        p->sigterm_sent = true;
    }
    bool hard = now >= p->kill_at;
    for (size_t i = 0; i < p->n; i++) {
        kctr_t *c = &p->ctrs[i];
        if (c->state != KUBELET_CS_RUNNING || !c->poll)
            continue;
        any = true;
        runtime_container_kill(ps->rt, c->id, hard ? SIGKILL : SIGTERM, NULL);
    }
    if (any && !hard)
        pod_wake_at(p, p->kill_at);
    return any;
}

/* ---- the state machine --------------------------------------------------------------------- */

static bool should_restart(const kpod_t *p, const kctr_t *c)
{
    const char *rp = restart_policy(p);
    if (!strcmp(rp, "Never"))
        return false;
    if (!strcmp(rp, "OnFailure") || c->init)
        return c->term.exit_code != 0;
    return true;
}

/* Starts c now, or schedules its restart after the back-off. Returns true when work began. */
static bool start_or_wait(kpod_t *p, size_t i)
{
    kctr_t *c = &p->ctrs[i];
    uint64_t now = uv_now(p->ps->k->loop);
    if (c->state == KUBELET_CS_TERMINATED) {
        if (!should_restart(p, c))
            return false;
        if (c->term.finished_ns - c->term.started_ns >= BACKOFF_RESET_NS)
            c->backoff_n = 0;
        if (!c->retry_at)
            c->retry_at = now + kubelet_crash_backoff_ms(c->backoff_n);
        c->last = c->term;
        util_snprintf(c->last_cid, sizeof(c->last_cid), "%s", c->term_cid);
        util_snprintf(c->last_msg, sizeof(c->last_msg), "%s", c->term_msg);
        c->last.container_id = c->last_cid;
        c->last.message = c->last_msg;
        c->has_last = true;
        c->state = KUBELET_CS_WAITING;
        c->reason = "CrashLoopBackOff";
        util_snprintf(c->message, sizeof(c->message),
                      "back-off %llus restarting failed container=%s pod=%s_%s(%s)",
                      (unsigned long long)(kubelet_crash_backoff_ms(c->backoff_n) / 1000), c->name,
                      p->name, p->ns, p->uid);
    }
    if (c->retry_at > now) {
        pod_wake_at(p, c->retry_at);
        return false;
    }
    work_queue(p->ps, p, W_START, i);
    return true;
}

static bool pod_finished(const kpod_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        const kctr_t *c = &p->ctrs[i];
        if (c->state != KUBELET_CS_TERMINATED)
            return false;
        if (should_restart(p, c))
            return false;
    }
    return p->n > 0;
}

static void pod_sync(kpod_t *p)
{
    kpods_t *ps = p->ps;
    if (p->busy || ps->stopping || p->delete_sent || !ps->started)
        return;
    if (p->deleting || p->gone) {
        if (kill_running(p))
            return;
        if (!p->torn_down) {
            work_queue(ps, p, W_TEARDOWN, 0);
            return;
        }
        if (p->gone)
            pod_free(p);
        else
            delete_api_object(p);
        return;
    }
    /* A pod that finished before a restart whose containers are gone is not run again. */
    const char *phase = jstr(jget(p->obj, "status"), "phase");
    bool any_id = false;
    for (size_t i = 0; i < p->n; i++)
        any_id |= p->ctrs[i].id[0] != 0;
    if (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")) && !any_id)
        return;
    if (!p->start_time[0])
        kubelet__now(p->start_time, sizeof(p->start_time), false);
    if (!p->sandbox) {
        post_status(p);
        work_queue(ps, p, W_SANDBOX, 0);
        return;
    }
    bool inits_done = true;
    for (size_t i = 0; i < p->n && inits_done; i++) {
        kctr_t *c = &p->ctrs[i];
        if (!c->init || (c->state == KUBELET_CS_TERMINATED && c->term.exit_code == 0))
            continue;
        inits_done = false;
        if (c->state == KUBELET_CS_RUNNING)
            break;
        if (start_or_wait(p, i))
            return;
    }
    if (inits_done)
        for (size_t i = 0; i < p->n; i++) {
            kctr_t *c = &p->ctrs[i];
            if (c->init || c->state == KUBELET_CS_RUNNING)
                continue;
            if (c->state == KUBELET_CS_WAITING && c->reason &&
                !strcmp(c->reason, "PodInitializing"))
                c->reason = "ContainerCreating";
            if (c->state == KUBELET_CS_WAITING && c->id[0] && !c->retry_at)
                continue; /* created, not yet known running */
            if (start_or_wait(p, i))
                break;
        }
    post_status(p);
    /* A finished pod keeps its containers (and logs) until it is deleted, but its address goes
     * back to the pool at once, as upstream kills the sandbox of a terminated pod. */
    if (!p->net_released && p->ip[0] && !cJSON_IsTrue(jget(jget(p->obj, "spec"), "hostNetwork")) &&
        pod_finished(p)) {
        p->net_released = true;
        work_queue(ps, p, W_RELEASE, 0);
    }
}

static void work_done(uv_work_t *req, int status)
{
    work_t *w = req->data;
    kpods_t *ps = w->ps;
    kubelet_t *k = ps->k;
    (void)status;
    ps->works--;
    if (ps->stopping) {
        work_free(w);
        kubelet__pods_stop(k);
        kubelet__handle_release(k);
        return;
    }
    kpod_t *p = w->pod;
    if (p)
        p->busy = false;
    switch (w->kind) {
    case W_INIT:
        if (w->rc < 0) {
            ps->failed = true;
            break;
        }
        ps->ready = true;
        begin(ps);
        break;
    case W_SANDBOX:
        if (w->rc < 0) {
            util_log_warn("kubelet: pod %s/%s: %s", p->ns, p->name, w->message);
            for (size_t i = 0; i < p->n; i++)
                if (p->ctrs[i].state == KUBELET_CS_WAITING) {
                    p->ctrs[i].reason = "ContainerCreating";
                    util_snprintf(p->ctrs[i].message, sizeof(p->ctrs[i].message), "%s", w->message);
                }
            post_status(p);
            pod_wake_at(p, uv_now(k->loop) + 5000);
            break;
        }
        p->sandbox = true;
        util_snprintf(p->ip, sizeof(p->ip), "%s", w->ip);
        pod_sync(p);
        break;
    case W_START: {
        kctr_t *c = &p->ctrs[w->ci];
        free(c->image_id);
        c->image_id = w->image_id;
        w->image_id = NULL;
        c->retry_at = 0;
        if (w->rc < 0) {
            /* nothing was started: the reason waits, the next try after a back-off */
            c->state = KUBELET_CS_WAITING;
            bool pull = !strcmp(w->reason, "ErrImagePull");
            c->reason = pull && c->pull_failures > 0 ? "ImagePullBackOff" : w->reason;
            util_snprintf(c->message, sizeof(c->message), "%s", w->message);
            util_log_warn("kubelet: pod %s/%s container %s: %s: %s", p->ns, p->name, c->name,
                          w->reason, w->message);
            int att;
            char u0[RUNTIME_ID_MAX + 1], n0[RUNTIME_ID_MAX + 1];
            if (parse_cid(w->new_id, u0, sizeof(u0), n0, sizeof(n0), &att))
                c->attempt = att;
            c->id[0] = 0; /* the old one was deleted, the new one never made */
            c->pull_failures++;
            c->retry_at = uv_now(k->loop) + kubelet_crash_backoff_ms(c->pull_failures);
            pod_wake_at(p, c->retry_at);
            post_status(p);
            break;
        }
        if (w->old_id[0]) {
            c->restarts++;
            c->backoff_n++;
        }
        c->pull_failures = 0;
        int attempt;
        char u[RUNTIME_ID_MAX + 1], n[RUNTIME_ID_MAX + 1];
        parse_cid(w->new_id, u, sizeof(u), n, sizeof(n), &attempt);
        c->attempt = attempt;
        util_snprintf(c->id, sizeof(c->id), "%s", w->new_id);
        c->state = KUBELET_CS_WAITING;
        c->reason = NULL;
        watch(c);
        if (c->state == KUBELET_CS_TERMINATED && w->rc == 1)
            util_snprintf(c->term_msg, sizeof(c->term_msg), "%s", w->message);
        pod_sync(p);
        break;
    }
    case W_TEARDOWN:
        p->torn_down = true;
        for (size_t i = 0; i < p->n; i++)
            unwatch(&p->ctrs[i]);
        pod_sync(p);
        break;
    case W_RELEASE:
        pod_sync(p);
        break;
    case W_RECONCILE:
        break;
    }
    work_free(w);
    kubelet__handle_release(k);
}

/* ---- the informer -------------------------------------------------------------------------- */

static void on_pod(void *ud, const cJSON *obj)
{
    kpods_t *ps = ud;
    const cJSON *meta = jget(obj, "metadata");
    const char *uid = jstr(meta, "uid");
    if (!uid || !*uid || strlen(uid) > RUNTIME_ID_MAX || strchr(uid, '_') || strchr(uid, '/'))
        return;
    kpod_t *p = pod_find(ps, uid);
    if (!p) {
        p = pod_new(ps, uid, obj);
        if (ps->started)
            p->adopted = true; /* nothing of an earlier run is left to adopt */
    } else if (p->obj) {
        cJSON_Delete(p->obj);
        p->obj = cJSON_Duplicate(obj, true);
    }
    if (jget(meta, "deletionTimestamp") && !p->deleting) {
        p->deleting = true;
        util_log_info("kubelet: killing pod %s/%s (grace period %llds)", p->ns, p->name,
                      (long long)grace_seconds(p));
    }
    pod_sync(p);
}

static void on_pod_updated(void *ud, const cJSON *old, const cJSON *obj)
{
    (void)old;
    on_pod(ud, obj);
}

static void on_pod_deleted(void *ud, const cJSON *obj)
{
    kpods_t *ps = ud;
    kpod_t *p =
        pod_find(ps, jstr(jget(obj, "metadata"), "uid") ? jstr(jget(obj, "metadata"), "uid") : "");
    if (!p)
        return;
    if (p->delete_sent && !p->delete_req) /* our own delete: done */
        return;
    p->gone = true;
    client_req_cancel(p->status_req);
    p->status_req = NULL;
    if (p->torn_down && !p->busy) {
        if (!p->delete_req)
            pod_free(p);
        return;
    }
    pod_sync(p);
}

/* Once the runtime is open and the first list is in: adopt containers of an earlier run, and
 * remove what the runtime holds for pods the API no longer has; then run everything. */
static void begin(kpods_t *ps)
{
    if (!ps->ready || !ps->synced || ps->started)
        return;
    for (kpod_t *q = ps->pods; q; q = q->next)
        if (!q->adopted && q->obj) {
            adopt(q);
            q->adopted = true;
        }
    for (size_t i = 0; i < ps->adopted.n; i++) {
        char uid[RUNTIME_ID_MAX + 1], name[RUNTIME_ID_MAX + 1];
        int attempt;
        if (!parse_cid(ps->adopted.v[i], uid, sizeof(uid), name, sizeof(name), &attempt) ||
            pod_find(ps, uid))
            continue;
        util_log_info("kubelet: pod %s is gone from the API; removing its containers", uid);
        pod_new(ps, uid, NULL);
    }
    util_strv_clear(&ps->adopted);
    ps->started = true;
    util_log_info("kubelet: running the pods of node %s", ps->k->name);
    for (kpod_t *q = ps->pods, *next; q; q = next) {
        next = q->next;
        pod_sync(q);
    }
    work_queue(ps, NULL, W_RECONCILE, 0);
}

static void on_pods_synced(void *ud)
{
    kpods_t *ps = ud;
    ps->synced = true;
    begin(ps);
}

/* ---- start and stop ------------------------------------------------------------------------ */

void kubelet__pods_start(kubelet_t *k)
{
    if (k->pods || k->stopping)
        return;
    kpods_t *ps = util_xcalloc(1, sizeof(*ps));
    ps->k = k;
    k->pods = ps;
    ps->agent_dir = util_strdup_printf("%s/agent", k->storage_dir);
    uv_mutex_init(&ps->pn_mu);
    uv_mutex_init(&ps->img_mu);
    if (geteuid() != 0) {
        util_log_warn("kubelet: not running as root: pods bound to %s will not run", k->name);
        ps->failed = true;
        return;
    }
    work_queue(ps, NULL, W_INIT, 0);
    char *selector = util_strdup_printf("spec.nodeName=%s", k->name);
    client_informer_opts_t io = {.resource = &CLIENT_RES_PODS, .field_selector = selector};
    client_informer_handlers_t h = {.on_add = on_pod,
                                    .on_update = on_pod_updated,
                                    .on_delete = on_pod_deleted,
                                    .on_synced = on_pods_synced};
    util_error_t err = NULL;
    if (client_informer_start(k->client, &io, &h, ps, &ps->informer, &err) < 0) {
        char b[512];
        errtext(&err, b, sizeof(b));
        util_log_error("kubelet: pod informer: %s", b);
    }
    free(selector);
}

/* Stops watching; pods keep running. Called again by each finishing job while stopping: the
 * state is freed once no job is in flight. */
void kubelet__pods_stop(kubelet_t *k)
{
    kpods_t *ps = k->pods;
    if (!ps)
        return;
    if (!ps->stopping) {
        ps->stopping = true;
        client_informer_stop(ps->informer);
        ps->informer = NULL;
        while (ps->pods)
            pod_free(ps->pods);
    }
    if (ps->works > 0)
        return;
    k->pods = NULL;
    podnet_close(ps->pn);
    images_store_close(ps->images);
    runtime_close(ps->rt);
    uv_mutex_destroy(&ps->pn_mu);
    uv_mutex_destroy(&ps->img_mu);
    util_strv_clear(&ps->adopted);
    free(ps->agent_dir);
    free(ps);
}
