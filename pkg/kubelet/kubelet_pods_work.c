/* kubelet_pods_work: the blocking jobs of the pod machinery, run on libuv's thread pool: image
 * import and runtime start-up, sandbox and pod network, container create and start, teardown,
 * address release, pod network reconcile. They touch only their work_t copy of the pod (and
 * the runtime, which is read-only once open; the pod network and image store under their
 * locks). */
#include "kubelet_pods_internal.h"
#include "kubelet_volumes.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t kubelet__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t kubelet__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void kubelet__errtext(util_error_t *err, char *buf, size_t n)
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

void kubelet__rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

bool kubelet__parse_cid(const char *id, char *uid, size_t un, char *name, size_t nn, int *attempt)
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

/* -- W_INIT: image import, the runtime, adoption, the pod network when it was in use -- */

static void do_init(work_t *w)
{
    kpods_t *ps = w->ps;
    util_error_t err = NULL;
    char b[1024], dir[4096];
    images_limits_t lim;
    images_limits_default(&lim);
    if (images_store_open(ps->k->storage_dir, &lim, &ps->images, &err) < 0) {
        kubelet__errtext(&err, b, sizeof(b));
        util_log_error("kubelet: image store: %s", b);
    } else {
        util_strv_t failed = {0};
        util_path_join(dir, sizeof(dir), ps->agent_dir, "images");
        int n = images_import_dir(ps->images, dir, &failed, &err);
        if (n < 0) {
            kubelet__errtext(&err, b, sizeof(b));
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
        kubelet__errtext(&err, b, sizeof(b));
        util_log_error("kubelet: container runtime: %s; pods will not run", b);
        w->rc = -1;
        return;
    }
    if (runtime_container_list(ps->rt, &ps->adopted, &err) < 0) {
        kubelet__errtext(&err, b, sizeof(b));
        util_log_warn("kubelet: listing containers: %s", b);
    }
    util_strv_t sandboxes = {0};
    runtime_sandbox_list(ps->rt, &sandboxes, NULL);
    util_path_join(dir, sizeof(dir), ps->agent_dir, "podnet");
    struct stat st;
    if (w->pod_cidr[0] && (ps->adopted.n || sandboxes.n || stat(dir, &st) == 0)) {
        podnet_config_t pc = {.data_dir = ps->k->storage_dir,
                              .cluster_cidr = ps->k->cluster_cidr,
                              .pod_cidr = w->pod_cidr};
        if (podnet_open(&pc, &ps->pn, &err) < 0) {
            kubelet__errtext(&err, b, sizeof(b));
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

static int ensure_podnet(kpods_t *ps, const work_t *w, util_error_t *err)
{
    if (ps->pn)
        return 0;
    if (!w->pod_cidr[0]) /* the pod machinery waits for one (kubelet_pods_offline.c) */
        return util_error_make(err, EAGAIN, "the node has no pod CIDR yet");
    podnet_config_t pc = {.data_dir = ps->k->storage_dir,
                          .cluster_cidr = ps->k->cluster_cidr,
                          .pod_cidr = w->pod_cidr};
    return podnet_open(&pc, &ps->pn, err);
}

/* The pod network an earlier run used but W_INIT did not open (no pod CIDR was known then:
 * none saved, kubelet_pods_offline.c): opened once one is, before a pod is detached from it,
 * so that no address leaks. */
static void podnet_open_late(work_t *w)
{
    kpods_t *ps = w->ps;
    char dir[4096], b[512];
    struct stat st;
    if (!w->pod_cidr[0])
        return;
    uv_rwlock_rdlock(&ps->pn_mu);
    bool open = ps->pn != NULL;
    uv_rwlock_rdunlock(&ps->pn_mu);
    util_path_join(dir, sizeof(dir), ps->agent_dir, "podnet");
    if (open || stat(dir, &st) < 0)
        return;
    util_error_t err = NULL;
    uv_rwlock_wrlock(&ps->pn_mu);
    if (ensure_podnet(ps, w, &err) < 0) {
        kubelet__errtext(&err, b, sizeof(b));
        util_log_error("kubelet: pod network: %s", b);
    }
    uv_rwlock_wrunlock(&ps->pn_mu);
}

/* -- W_SANDBOX -- */

/* The pod's /etc files: replaced atomically (a temp file renamed over) but not synced. They are
 * rewritten whenever the sandbox is made, and a sandbox does not outlive a reboot (its
 * namespaces and the runtime state under /run are gone), so durability buys nothing here; the
 * three fsyncs and three directory syncs cost 30-60 ms of every pod start on a loaded disk. */
static int write_file(const char *dir, const char *name, const char *text, util_error_t *err)
{
    char path[4096], tmp[4200];
    if (util_path_join(path, sizeof(path), dir, name) < 0 ||
        util_snprintf(tmp, sizeof(tmp), "%s.tmp", path) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return util_error_make(err, errno, "create `%s`", tmp);
    size_t len = strlen(text), off = 0;
    int r = fchmod(fd, 0644) < 0 ? -errno : 0;
    while (r == 0 && off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            r = n < 0 ? -errno : -EIO;
        else
            off += (size_t)n;
    }
    close(fd);
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return util_error_make(err, -r, "write `%s`", path);
    }
    return 0;
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

/* -v 3: how long each step of a pod's sandbox and container start took (docs/benchmarks.md). */
static void step(const work_t *w, uint64_t *t, const char *what)
{
    if (util_log_verbosity() < 3)
        return;
    uint64_t now = kubelet__mono_ns();
    util_log_v(3, "kubelet: pod %s/%s: %s %.1f ms", w->ns, w->name, what, (double)(now - *t) / 1e6);
    *t = now;
}

static void do_sandbox(work_t *w)
{
    uint64_t t0 = kubelet__mono_ns();
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
    step(w, &t0, "mkdir");
    if (runtime_sandbox_create(ps->rt, &ss, &err) < 0)
        goto fail;
    step(w, &t0, "sandbox_create");
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
        int r = 0;
        uv_rwlock_rdlock(&ps->pn_mu);
        if (!ps->pn) { /* opened once, by the first pod that needs it */
            uv_rwlock_rdunlock(&ps->pn_mu);
            uv_rwlock_wrlock(&ps->pn_mu);
            r = ensure_podnet(ps, w, &err);
            uv_rwlock_wrunlock(&ps->pn_mu);
            uv_rwlock_rdlock(&ps->pn_mu);
        }
        step(w, &t0, "pn_lock");
        if (r == 0)
            r = podnet_setup(ps->pn, &pp, &res, &err);
        uv_rwlock_rdunlock(&ps->pn_mu);
        step(w, &t0, "podnet_setup");
        if (r < 0)
            goto fail;
        util_snprintf(w->ip, sizeof(w->ip), "%s", res.ip);
    } else {
        util_snprintf(w->ip, sizeof(w->ip), "%s", w->host_ip);
    }
    /* /etc/hosts and /etc/resolv.conf as upstream's kubelet (kubelet_dns.c) */
    char *hosts = NULL, *resolv = NULL;
    if (kubelet__pod_etc_files(w, hostname, &hosts, &resolv, &err) < 0)
        goto fail;
    char *hn = util_strdup_printf("%s\n", hostname);
    int r = write_file(dir, "hosts", hosts, &err);
    if (r == 0)
        r = write_file(dir, "hostname", hn, &err);
    if (r == 0)
        r = write_file(dir, "resolv.conf", resolv, &err);
    free(hosts);
    free(hn);
    free(resolv);
    step(w, &t0, "etc files");
    if (r < 0)
        goto fail;
    return;
fail:
    w->rc = -1;
    w->reason = "FailedCreatePodSandBox";
    kubelet__errtext(&err, w->message, sizeof(w->message));
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

/* Go's time.Duration text for event messages: "512ms", "1.5s". */
static void go_duration(uint64_t ms, char *out, size_t n)
{
    if (ms < 1000) {
        util_snprintf(out, n, "%llums", (unsigned long long)ms);
        return;
    }
    util_snprintf(out, n, "%llu.%03llu", (unsigned long long)(ms / 1000),
                  (unsigned long long)(ms % 1000));
    char *e = out + strlen(out);
    while (e[-1] == '0')
        *--e = 0;
    if (e[-1] == '.')
        *--e = 0;
    util_snprintf(e, n - (size_t)(e - out), "s");
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int get_image(work_t *w, const char *ref, const char *policy, images_image_t **ret)
{
    kpods_t *ps = w->ps;
    util_error_t err = NULL;
    uint64_t t0 = mono_ms();
    uv_mutex_lock(&ps->img_mu);
    uint64_t t1 = mono_ms();
    int r = -ENOENT;
    bool pulled = false;
    if (!ps->images)
        util_error_make(&err, ENOENT, "the image store is not open");
    else if (strcmp(policy, "Always"))
        r = images_get(ps->images, ref, ret, &err);
    if (r == -ENOENT && ps->images && kubelet_image_should_pull(policy, false)) {
        util_error_free(&err);
        kubelet__work_event(w, "Normal", "Pulling", "Pulling image \"%s\"", ref);
        pulled = true;
        r = kubelet__pull(w, ref, &err);
        if (r == 0)
            r = images_get(ps->images, ref, ret, &err);
    } else if (r == -ENOENT) {
        w->reason = "ErrImageNeverPull";
    }
    uv_mutex_unlock(&ps->img_mu);
    if (r < 0) {
        if (!w->reason)
            w->reason = "ErrImagePull";
        kubelet__errtext(&err, w->message, sizeof(w->message));
        if (!strcmp(w->reason, "ErrImageNeverPull"))
            kubelet__work_event(w, "Warning", "ErrImageNeverPull",
                                "Container image \"%s\" is not present with pull policy of Never",
                                ref);
        else
            kubelet__work_event(w, "Warning", "Failed", "Failed to pull image \"%s\": %s", ref,
                                w->message);
    } else if (pulled) {
        char took[32], waited[32];
        uint64_t t2 = mono_ms();
        go_duration(t2 - t1, took, sizeof(took));
        go_duration(t2 - t0, waited, sizeof(waited));
        kubelet__work_event(w, "Normal", "Pulled",
                            "Successfully pulled image \"%s\" in %s (%s including waiting). "
                            "Image size: %llu bytes.",
                            ref, took, waited, (unsigned long long)(*ret)->size);
    } else {
        kubelet__work_event(w, "Normal", "Pulled",
                            "Container image \"%s\" already present on machine", ref);
    }
    return r;
}

/* upstream's handlerRunner for postStart: the message names the hook, container and pod. */
static void run_poststart(work_t *w, const cJSON *c)
{
    const cJSON *hook = jget(jget(c, "lifecycle"), "postStart");
    if (!hook)
        return;
    kubelet_handler_t h = {0};
    krun_result_t res = {0};
    util_error_t err = NULL;
    char cmd[512] = "";
    if (kubelet_handler_parse(hook, c, &h, &err) < 0) {
        kubelet__errtext(&err, res.output, sizeof(res.output));
        res.result = KUBELET_PROBE_UNKNOWN;
    } else {
        /* upstream gives postStart no timeout; ours ends after 5 minutes */
        kubelet__handler_run(w->ps->rt, w->new_id, &h, w->ip, 300 * 1000, KUBELET_LIFECYCLE_AGENT,
                             &res);
        for (size_t i = 0; i < h.command.n; i++)
            util_snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "%s%s", i ? " " : "",
                          h.command.v[i]);
    }
    bool exec = h.kind == KUBELET_HANDLER_EXEC;
    if (res.result == KUBELET_PROBE_SUCCESS ||
        (h.kind == KUBELET_HANDLER_HTTP && res.exit_code >= 100)) /* any answer will do */
        goto out;
    w->poststart_failed = true;
    if (exec)
        util_log_warn("kubelet: Exec lifecycle hook ([%s]) for Container \"%s\" in Pod "
                      "\"%s_%s(%s)\" failed - error: command '%s' exited with %d: , message: "
                      "\"%s\"",
                      cmd, w->cname, w->name, w->ns, w->uid, cmd, res.exit_code, res.output);
    else
        util_log_warn("kubelet: lifecycle hook for Container \"%s\" in Pod \"%s_%s(%s)\" "
                      "failed - error: %s",
                      w->cname, w->name, w->ns, w->uid, res.output);
    /* upstream leaves the hook's output out of the event: it may hold secrets */
    kubelet__work_event(w, "Warning", "FailedPostStartHook", "PostStartHook failed");
out:
    kubelet_handler_free(&h);
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
    uint64_t t0 = kubelet__mono_ns();
    kpods_t *ps = w->ps;
    const cJSON *spec = jget(w->obj, "spec");
    const cJSON *c = find_container(spec, w->cname, w->cinit);
    util_error_t err = NULL;
    images_image_t *img = NULL;
    util_strv_t argv = {0}, env = {0}, lowers = {0}, add = {0}, drop = {0};
    kvol_mounts_t vmounts = {0};
    runtime_mount_t *mounts = NULL;
    char upper[4096], workd[4096], logdir[4096], logp[4096], etc[4096];
    char hosts[4200], hostname[4200], resolv[4200];
    if (w->old_id[0]) {
        runtime_container_delete(ps->rt, w->old_id, NULL);
        util_snprintf(upper, sizeof(upper), "%s/containers/%s", ps->agent_dir, w->old_id);
        kubelet__rm_rf(upper);
    }
    const char *ref = jstr(c, "image"), *policy = jstr(c, "imagePullPolicy");
    if (!c || !ref) {
        w->reason = "CreateContainerConfigError";
        util_snprintf(w->message, sizeof(w->message), "container has no image");
        goto out;
    }
    /* Always asks the registry on every start, as upstream (nothing is fetched when the local
     * image came from the manifest the tag names now) */
    if (get_image(w, ref, kubelet_image_pull_policy(ref, policy), &img) < 0)
        goto out;
    step(w, &t0, "get_image");
    w->image_id = util_xstrdup(img->id);
    int attempt = 0;
    char u0[RUNTIME_ID_MAX + 1], n0[RUNTIME_ID_MAX + 1];
    kubelet__parse_cid(w->new_id, u0, sizeof(u0), n0, sizeof(n0), &attempt);
    kvol_ctx_t vx = {.agent_dir = ps->agent_dir,
                     .pod = w->obj,
                     .refs = w->refs,
                     .pod_ip = w->ip,
                     .host_ip = w->host_ip,
                     .node_cpu_milli = w->node_cpu_milli,
                     .node_memory = w->node_memory,
                     .node_storage = w->node_storage,
                     .attempt = attempt};
    if (kubelet__volumes_setup(&vx, &err) < 0) { /* upstream: FailedMount, pod waits */
        w->reason = "ContainerCreating";
        kubelet__errtext(&err, w->message, sizeof(w->message));
        goto out;
    }
    step(w, &t0, "volumes_setup");
    kubelet_env_ctx_t ec = {.pod_name = w->name,
                            .pod_namespace = w->ns,
                            .pod_uid = w->uid,
                            .node_name = w->node,
                            .pod_ip = w->ip,
                            .host_ip = w->host_ip,
                            .service_account = jstr(spec, "serviceAccountName"),
                            .pod = w->obj,
                            .configmaps = jget(w->refs, "configmaps"),
                            .secrets = jget(w->refs, "secrets"),
                            .node_cpu_milli = w->node_cpu_milli,
                            .node_memory = w->node_memory,
                            .node_storage = w->node_storage};
    if (kubelet_container_env(c, &img->config, &ec, &env, &err) < 0) {
        w->reason = "CreateContainerConfigError";
        kubelet__errtext(&err, w->message, sizeof(w->message));
        goto out;
    }
    if (kubelet_container_argv(c, &img->config, &env, &argv) < 0) {
        w->reason = "CreateContainerConfigError";
        util_snprintf(w->message, sizeof(w->message), "no command specified");
        goto out;
    }
    if (kubelet__volumes_mounts(&vx, c, &env, &vmounts, &err) < 0) {
        w->reason = "CreateContainerConfigError";
        kubelet__errtext(&err, w->message, sizeof(w->message));
        goto out;
    }
    for (size_t i = img->layers.n; i-- > 0;) {
        char lp[4096];
        if (images_layer_path(ps->images, img->layers.v[i], lp, sizeof(lp), &err) < 0) {
            w->reason = "CreateContainerError";
            kubelet__errtext(&err, w->message, sizeof(w->message));
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
        kubelet__errtext(&err, w->message, sizeof(w->message));
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
    gid_t groups[64]; /* supplementalGroups and fsGroup (kubelet_fsgroup.c) */
    size_t ngroups = kubelet_pod_groups(spec, groups, UTIL_ARRAY_SIZE(groups));
    strv_from(&add, jget(jget(csc, "capabilities"), "add"));
    strv_from(&drop, jget(jget(csc, "capabilities"), "drop"));
    const char *wd = jstr(c, "workingDir");
    if (!wd || !*wd)
        wd = img->config.working_dir;
    bool host_net = cJSON_IsTrue(jget(spec, "hostNetwork"));
    static const char *const no_env[] = {NULL};
    /* /etc files first, then the volumes (a volume may mount over them, as upstream) */
    size_t nmounts = 0;
    mounts = util_xcalloc(3 + vmounts.n, sizeof(*mounts));
    mounts[nmounts++] = (runtime_mount_t){hosts, "/etc/hosts", false};
    mounts[nmounts++] = (runtime_mount_t){resolv, "/etc/resolv.conf", false};
    if (!host_net)
        mounts[nmounts++] = (runtime_mount_t){hostname, "/etc/hostname", false};
    for (size_t i = 0; i < vmounts.n; i++)
        mounts[nmounts++] = vmounts.v[i];
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
        .groups = groups,
        .ngroups = ngroups,
        .merge_image_groups = true, /* containerd's (supplementalGroupsPolicy Merge) */
        .cap_add = (const char *const *)add.v,
        .cap_drop = (const char *const *)drop.v,
        .privileged = cJSON_IsTrue(jget(csc, "privileged")),
        .no_new_privs = cJSON_IsFalse(jget(csc, "allowPrivilegeEscalation")),
        .readonly_rootfs = cJSON_IsTrue(jget(csc, "readOnlyRootFilesystem")),
        .stdin_open = cJSON_IsTrue(jget(c, "stdin")), /* for attach (kubelet_serve_exec.c) */
        .stdin_once = cJSON_IsTrue(jget(c, "stdinOnce")),
        .tty = cJSON_IsTrue(jget(c, "tty")),
        .mounts = mounts,
        .nmounts = nmounts,
        .log_path = logp,
        .log_max_size = ps->k->log_max_size,
        .log_max_files = ps->k->log_max_files,
    };
    int64_t q;
    if (kubelet_parse_cpu_milli(jstr(jget(res, "requests"), "cpu"), &q) == 0)
        s.resources.cpu_request_milli = q;
    if (kubelet_parse_cpu_milli(jstr(jget(res, "limits"), "cpu"), &q) == 0)
        s.resources.cpu_limit_milli = q;
    if (kubelet_parse_bytes(jstr(jget(res, "limits"), "memory"), &q) == 0)
        s.resources.memory_limit = q;
    step(w, &t0, "prep");
    if (runtime_container_create(ps->rt, &s, &err) < 0) {
        w->reason = "CreateContainerError";
        kubelet__errtext(&err, w->message, sizeof(w->message));
        goto out;
    }
    step(w, &t0, "create");
    kubelet__work_event(w, "Normal", "Created", "Created container: %s", w->cname);
    if (runtime_container_start(ps->rt, w->new_id, &err) < 0) {
        w->reason = "RunContainerError";
        kubelet__errtext(&err, w->message, sizeof(w->message));
        kubelet__work_event(w, "Warning", "Failed", "Error: %s", w->message);
        /* the container exists and has exited (126/127): its state says so */
        w->rc = 1;
        goto out_keep;
    }
    step(w, &t0, "start");
    kubelet__work_event(w, "Normal", "Started", "Started container %s", w->cname);
    run_poststart(w, c);
out:
    if (w->reason)
        w->rc = -1;
out_keep:
    images_image_free(img);
    free(mounts);
    kubelet__volumes_mounts_free(&vmounts);
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
            kubelet__errtext(&err, b, sizeof(b));
            util_log_warn("kubelet: deleting container %s: %s", ids.v[i], b);
        }
        util_snprintf(path, sizeof(path), "%s/containers/%s", ps->agent_dir, ids.v[i]);
        kubelet__rm_rf(path);
    }
    util_strv_clear(&ids);
    podnet_open_late(w);
    uv_rwlock_rdlock(&ps->pn_mu);
    if (ps->pn && podnet_teardown(ps->pn, w->uid, &err) < 0) {
        kubelet__errtext(&err, b, sizeof(b));
        util_log_warn("kubelet: pod network of %s: %s", w->uid, b);
    }
    uv_rwlock_rdunlock(&ps->pn_mu);
    if (runtime_sandbox_remove(ps->rt, w->uid, &err) < 0) {
        kubelet__errtext(&err, b, sizeof(b));
        util_log_warn("kubelet: sandbox %s: %s", w->uid, b);
        w->rc = -1;
    }
    util_snprintf(path, sizeof(path), "%s/pods/%s", ps->agent_dir, w->uid);
    if (kubelet__volumes_teardown(ps->agent_dir, w->uid) == 0) /* never rm across a mount */
        kubelet__rm_rf(path);
    else
        w->rc = -1;
}

static void do_release(work_t *w)
{
    util_error_t err = NULL;
    podnet_open_late(w);
    uv_rwlock_rdlock(&w->ps->pn_mu);
    if (w->ps->pn && podnet_teardown(w->ps->pn, w->uid, &err) < 0) {
        char b[512];
        kubelet__errtext(&err, b, sizeof(b));
        util_log_warn("kubelet: pod network of %s: %s", w->uid, b);
    }
    uv_rwlock_rdunlock(&w->ps->pn_mu);
}

static void do_reconcile(work_t *w)
{
    kpods_t *ps = w->ps;
    util_error_t err = NULL;
    size_t freed = 0;
    podnet_open_late(w);
    uv_rwlock_wrlock(&ps->pn_mu);
    if (ps->pn &&
        podnet_reconcile(ps->pn, (const char *const *)w->live.v, w->live.n, &freed, &err) < 0) {
        char b[512];
        kubelet__errtext(&err, b, sizeof(b));
        util_log_warn("kubelet: pod network reconcile: %s", b);
    }
    uv_rwlock_wrunlock(&ps->pn_mu);
    if (freed)
        util_log_info("kubelet: freed pod network state of %zu pod(s) that are gone", freed);
    kubelet__volumes_orphans(ps->agent_dir, &w->live, ps->started_at);
}

void kubelet__pods_work(uv_work_t *req)
{
    work_t *w = req->data;
    w->begun_ns = kubelet__mono_ns();
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
    case W_VOLUMES:
        kubelet__volumes_work(w);
        break;
    }
    w->ended_ns = kubelet__mono_ns();
}
