/* kubelet: node registration and heartbeat: create or adopt the Node, renew its Lease every
 * 10 s, post the node status on change and at least every minute, re-register when the Node
 * is deleted. One timer drives the heartbeat; nothing else wakes up at idle. */
#include "kubelet/kubelet.h"
#include "kubelet_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "labels/labels.h"

#define LEASE_INTERVAL_MS  (10 * 1000)
#define STATUS_INTERVAL_MS (60 * 1000)
#define RETRY_MIN_MS       200
#define RETRY_MAX_MS       (7 * 1000) /* upstream's lease controller: 200 ms doubling to 7 s */
#define TEST_LEASE_ENV     "KUBELING_TEST_LEASE_INTERVAL_MS"
#define TEST_CGROUP_ENV    "KUBELING_TEST_CGROUP_ROOT"

static void tick_schedule(kubelet_t *k, uint64_t ms);

/* ---- time ----------------------------------------------------------------------------------- */

void kubelet__now(char *out, size_t n, bool micro)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    if (micro)
        snprintf(out, n, "%s.%06ldZ", base, ts.tv_nsec / 1000);
    else
        snprintf(out, n, "%sZ", base);
}

/* ---- node status ---------------------------------------------------------------------------- */

static kubelet_node_params_t params(const kubelet_t *k)
{
    return (kubelet_node_params_t){
        .name = k->name,
        .pod_cidr = k->pod_cidr,
        .control_plane = k->control_plane,
        .labels = (const char *const *)k->labels.v,
        .nlabels = k->labels.n,
        .kube_version = k->kube_version,
        .kubelet_port = k->api_port,
        .max_pods = k->max_pods,
        .runtime_version = k->runtime_version,
    };
}

/* The status as posted; *ret_fingerprint is the same without heartbeat times (what "changed"
 * means). */
static cJSON *build_status(kubelet_t *k, char **ret_fingerprint)
{
    char now[40];
    kubelet__now(now, sizeof(now), false);
    kubelet_node_params_t p = params(k);
    kubelet_pressure_t pressure = kubelet_host_pressure(&k->host);
    cJSON *status = kubelet_node_status(&k->host, &p);
    cJSON_AddItemToObject(status, "conditions",
                          kubelet_node_conditions(&pressure, now, NULL, k->conditions));
    *ret_fingerprint = cJSON_PrintUnformatted(status);
    cJSON_DeleteItemFromObjectCaseSensitive(status, "conditions");
    cJSON_AddItemToObject(status, "conditions",
                          kubelet_node_conditions(&pressure, now, now, k->conditions));
    return status;
}

static void remember_conditions(kubelet_t *k, const cJSON *node_or_status, bool is_node)
{
    const cJSON *st =
        is_node ? cJSON_GetObjectItemCaseSensitive(node_or_status, "status") : node_or_status;
    const cJSON *conds = cJSON_GetObjectItemCaseSensitive(st, "conditions");
    if (!cJSON_IsArray(conds))
        return;
    cJSON_Delete(k->conditions);
    k->conditions = cJSON_Duplicate(conds, true);
}

static void remember_uid(kubelet_t *k, const cJSON *node)
{
    const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(node, "metadata"), "uid"));
    if (uid && (!k->node_uid || strcmp(uid, k->node_uid))) {
        free(k->node_uid);
        k->node_uid = util_xstrdup(uid);
    }
}

static void on_status_posted(void *ud, client_result_t *res)
{
    kubelet_t *k = ud;
    k->status_req = NULL;
    if (res->status == 200) {
        remember_conditions(k, res->body, true);
        free(k->fingerprint);
        k->fingerprint = k->pending_fingerprint;
        k->pending_fingerprint = NULL;
        k->last_status_ms = uv_now(k->loop);
        if (!k->announced) {
            k->announced = true;
            util_log_info("kubelet: node %s registered and Ready (pod CIDR %s)", k->name,
                          k->pod_cidr ? k->pod_cidr : "none");
        }
        return;
    }
    free(k->pending_fingerprint);
    k->pending_fingerprint = NULL;
    if (res->status == 404) {
        util_log_warn("kubelet: node %s is gone; registering it again", k->name);
        kubelet__register(k);
    } else {
        util_log_v(1, "kubelet: posting node status: %s", res->st.message);
    }
}

/* Posts the status when it changed or nodeStatusReportFrequency has passed. */
void kubelet__status_sync(kubelet_t *k, bool force)
{
    if (k->status_req || k->reg != KUBELET_REG_DONE)
        return;
    kubelet_host_refresh(&k->host, k->storage_dir);
    char *fingerprint = NULL;
    cJSON *status = build_status(k, &fingerprint);
    bool due = uv_now(k->loop) - k->last_status_ms >= k->status_interval_ms;
    if (!force && !due && k->fingerprint && fingerprint && !strcmp(k->fingerprint, fingerprint)) {
        cJSON_free(fingerprint);
        cJSON_Delete(status);
        return;
    }
    cJSON *patch = cJSON_CreateObject();
    cJSON_AddItemToObject(patch, "status", status);
    k->pending_fingerprint = fingerprint ? util_xstrdup(fingerprint) : NULL;
    cJSON_free(fingerprint);
    k->status_req = client_patch(k->client, &CLIENT_RES_NODES, NULL, k->name, "status",
                                 CLIENT_PATCH_MERGE, patch, on_status_posted, k);
    cJSON_Delete(patch);
    if (!k->status_req) { /* the client is closing; the next tick tries again */
        free(k->pending_fingerprint);
        k->pending_fingerprint = NULL;
    }
}

/* ---- the heartbeat tick --------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    kubelet_t *k = t->data;
    if (k->reg != KUBELET_REG_DONE)
        return;
    kubelet__lease_sync(k);
    kubelet__status_sync(k, false);
}

static void tick_schedule(kubelet_t *k, uint64_t ms)
{
    if (!k->stopping)
        uv_timer_start(&k->tick, on_tick, ms, 0);
}

void kubelet__lease_done(kubelet_t *k, bool ok)
{
    if (ok) {
        if (k->lease_backoff.cur_ms)
            util_log_info("kubelet: lease %s/%s renewed again", KUBELET_LEASE_NS, k->name);
        client_backoff_reset(&k->lease_backoff);
        tick_schedule(k, k->lease_interval_ms);
    } else {
        tick_schedule(k, client_backoff_next(&k->lease_backoff));
    }
}

/* Registration finished (created or adopted): heartbeats start now. */
void kubelet__registered(kubelet_t *k, const cJSON *node)
{
    k->reg = KUBELET_REG_DONE;
    client_backoff_reset(&k->reg_backoff);
    remember_uid(k, node);
    remember_conditions(k, node, true);
    kubelet__lease_sync(k);
    kubelet__status_sync(k, true);
    kubelet__pod_cidr_seen(k, node);
    kubelet__pods_registered(k);
}

/* ---- the node informer: notices deletion ---------------------------------------------------- */

static void on_node_seen(void *ud, const cJSON *obj)
{
    remember_uid(ud, obj);
    kubelet__pod_cidr_seen(ud, obj);
}

static void on_node_updated(void *ud, const cJSON *old, const cJSON *obj)
{
    (void)old;
    remember_uid(ud, obj);
    kubelet__pod_cidr_seen(ud, obj);
}

static void on_node_deleted(void *ud, const cJSON *obj)
{
    kubelet_t *k = ud;
    (void)obj;
    if (k->reg != KUBELET_REG_DONE)
        return;
    util_log_warn("kubelet: node %s was deleted; registering it again", k->name);
    kubelet__register(k);
}

/* ---- start and stop ------------------------------------------------------------------------- */

static bool valid_node_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' ||
              s[i] == '.'))
            return false;
    return true;
}

static int check_labels(const kubelet_opts_t *o, util_error_t *err)
{
    for (size_t i = 0; i < o->nlabels; i++) {
        const char *l = o->labels[i], *eq = strchr(l, '=');
        if (!eq)
            return util_error_make(err, EINVAL, "--node-label `%s`: want key=value", l);
        char *key = util_strdup_printf("%.*s", (int)(eq - l), l);
        bool ok = labels_valid_key(key) && labels_valid_value(eq + 1);
        free(key);
        if (!ok)
            return util_error_make(err, EINVAL, "--node-label `%s`: invalid key or value", l);
    }
    return 0;
}

static int check_opts(const kubelet_opts_t *o, const char *name, util_error_t *err)
{
    if (!o->loop || !o->api || !o->data_dir)
        return util_error_make(err, EINVAL, "kubelet: loop, API server and data dir are required");
    if (!valid_node_name(name))
        return util_error_make(err, EINVAL,
                               "kubelet: node name `%s` is not a lower-case DNS subdomain", name);
    unsigned char addr[16];
    if (o->node_ip && *o->node_ip && inet_pton(AF_INET, o->node_ip, addr) != 1 &&
        inet_pton(AF_INET6, o->node_ip, addr) != 1)
        return util_error_make(err, EINVAL, "kubelet: --node-ip `%s` is not an IP address",
                               o->node_ip);
    if (o->max_pods < 0 || o->max_pods > KUBELET_MAX_PODS_LIMIT)
        return util_error_make(err, EINVAL, "kubelet: --max-pods %d is not within 1..%d",
                               o->max_pods, KUBELET_MAX_PODS_LIMIT);
    int mask = o->node_cidr_mask_size ? o->node_cidr_mask_size : KUBELET_NODE_CIDR_MASK;
    if (mask < 16 || mask > 30)
        return util_error_make(err, EINVAL,
                               "kubelet: --node-cidr-mask-size %d is not within 16..30", mask);
    char cidr[32];
    if (kubelet_pick_pod_cidr_mask(o->cluster_cidr ? o->cluster_cidr : KUBELET_DEFAULT_CIDR, mask,
                                   NULL, NULL, cidr, sizeof(cidr)) < 0)
        return util_error_make(err, EINVAL,
                               "kubelet: --cluster-cidr `%s` is not an IPv4 /8../%d (the "
                               "node CIDR mask size)",
                               o->cluster_cidr ? o->cluster_cidr : KUBELET_DEFAULT_CIDR, mask);
    return check_labels(o, err);
}

static uint64_t lease_interval(const kubelet_opts_t *o)
{
    long env = 0;
    const char *e = getenv(TEST_LEASE_ENV);
    if (o->lease_interval_ms)
        return o->lease_interval_ms;
    if (e && util_parse_long(e, 100, 3600 * 1000, &env) == 0)
        return (uint64_t)env;
    return LEASE_INTERVAL_MS;
}

static int start_client(kubelet_t *k, const kubelet_opts_t *o, util_error_t *err)
{
    client_opts_t co;
    client_opts_default(&co);
    co.loop = o->loop;
    co.config = o->api;
    char ua[128];
    snprintf(ua, sizeof(ua), "kubelet/%s (linux/%s) kubeling",
             o->kube_version ? o->kube_version : "", kubelet_go_arch(NULL));
    co.user_agent = ua;
    /* Every pod posts its status two or three times while it starts and records three or four
     * events; with the client's default 4 keep-alive connections (one request each) those
     * queued for seconds behind each other when hundreds of pods started (bench/deploy).
     * Upstream's kubelet multiplexes up to 100 HTTP/2 streams (kubeAPIBurst 100). */
    co.max_conns = 16;
    int r = client_new(&co, &k->client, err);
    if (r < 0)
        return r;
    char *selector = util_strdup_printf("metadata.name=%s", k->name);
    client_informer_opts_t io = {.resource = &CLIENT_RES_NODES, .field_selector = selector};
    client_informer_handlers_t h = {
        .on_add = on_node_seen, .on_update = on_node_updated, .on_delete = on_node_deleted};
    r = client_informer_start(k->client, &io, &h, k, &k->node_informer, err);
    free(selector);
    return r;
}

int kubelet_start(const kubelet_opts_t *o, kubelet_t **ret, util_error_t *err)
{
    kubelet_t *k = util_xcalloc(1, sizeof(*k));
    kubelet_host_read(&k->host, NULL, o->node_ip);
    k->name = util_xstrdup(o->node_name && *o->node_name ? o->node_name : k->host.hostname);
    int r = check_opts(o, k->name, err);
    if (r < 0) {
        kubelet_host_free(&k->host);
        free(k->name);
        free(k);
        return r;
    }
    const char *rpath = o->private_registry ? o->private_registry : KUBELET_REGISTRIES;
    if ((r = kubelet_dns_conf_init(&k->dns, o->cluster_dns, o->cluster_domain, o->resolv_conf,
                                   err)) < 0 ||
        (r = images_registries_load(rpath, true, &k->registries, err)) < 0) {
        kubelet_dns_conf_free(&k->dns);
        kubelet_host_free(&k->host);
        free(k->name);
        free(k);
        return r;
    }
    if (k->registries)
        util_log_info("kubelet: registry mirrors and configs from %s", rpath);
    util_log_info("kubelet: pod DNS: cluster DNS %s, domain %s, host resolver file %s%s",
                  k->dns.cluster_dns.n ? k->dns.cluster_dns.v[0] : "(none)", k->dns.cluster_domain,
                  *k->dns.resolv_conf ? k->dns.resolv_conf : "(none)",
                  k->dns.resolv_auto ? " without its loopback nameservers" : "");
    k->loop = o->loop;
    k->storage_dir = util_xstrdup(o->data_dir);
    k->manifest_dir = o->pod_manifest_path && *o->pod_manifest_path
                          ? util_xstrdup(o->pod_manifest_path)
                          : util_strdup_printf("%s/agent/pod-manifests", o->data_dir);
    util_error_t mkerr = NULL; /* there from the start, for whoever drops manifests in */
    if (util_mkdir_p(k->manifest_dir, 0755, &mkerr) < 0)
        util_error_free(&mkerr); /* logged when the static pods start */
    k->cluster_cidr = util_xstrdup(o->cluster_cidr ? o->cluster_cidr : KUBELET_DEFAULT_CIDR);
    k->kube_version = util_xstrdup(o->kube_version ? o->kube_version : "");
    k->runtime_version = util_xstrdup(o->runtime_version ? o->runtime_version : "");
    k->control_plane = o->control_plane;
    k->self_pod_cidr = o->self_pod_cidr;
    k->max_pods = o->max_pods ? o->max_pods : KUBELET_MAX_PODS;
    k->node_cidr_mask = o->node_cidr_mask_size ? o->node_cidr_mask_size : KUBELET_NODE_CIDR_MASK;
    k->runtime_dir = util_xstrdup(o->runtime_dir ? o->runtime_dir : KUBELET_RUNTIME_DIR);
    const char *cg = getenv(TEST_CGROUP_ENV);
    k->cgroup_root = util_xstrdup(o->cgroup_root ? o->cgroup_root : cg && *cg ? cg : "kubeling");
    for (size_t i = 0; i < o->nlabels; i++)
        util_strv_push(&k->labels, o->labels[i]);
    k->lease_interval_ms = lease_interval(o);
    k->status_interval_ms = o->status_interval_ms ? o->status_interval_ms : STATUS_INTERVAL_MS;
    k->log_max_size = o->log_max_size > 0 ? o->log_max_size : KUBELET_LOG_MAX_SIZE;
    k->log_max_files = o->log_max_files > 0 ? o->log_max_files : KUBELET_LOG_MAX_FILES;
    kubelet_host_refresh(&k->host, k->storage_dir);
    client_backoff_init(&k->reg_backoff, RETRY_MIN_MS, RETRY_MAX_MS);
    client_backoff_init(&k->lease_backoff, RETRY_MIN_MS, RETRY_MAX_MS);
    uv_timer_init(k->loop, &k->tick);
    uv_timer_init(k->loop, &k->reg_timer);
    k->tick.data = k->reg_timer.data = k;
    k->handles = 2;
    k->api_port = o->port > 0 ? o->port : KUBELET_PORT;
    r = o->serving_cert ? kubelet__server_start(k, o, err) : 0;
    if (r == 0)
        r = start_client(k, o, err);
    if (r < 0) {
        kubelet_stop(k);
        return r;
    }
    /* The pods start now, not once the API answers: static pods (and hostNetwork ones) run
     * while the apiserver is unreachable, the pod network on the pod CIDR of the last run. */
    kubelet__pod_cidr_load(k);
    kubelet__pods_start(k);
    kubelet__register(k);
    *ret = k;
    return 0;
}

const char *kubelet_node_name(const kubelet_t *k)
{
    return k->name;
}

static void kubelet_free(kubelet_t *k)
{
    kubelet_host_free(&k->host);
    kubelet_dns_conf_free(&k->dns);
    cJSON_Delete(k->conditions);
    cJSON_Delete(k->lease);
    free(k->fingerprint);
    free(k->pending_fingerprint);
    free(k->name);
    free(k->node_uid);
    free(k->pod_cidr);
    free(k->saved_pod_cidr);
    free(k->storage_dir);
    free(k->manifest_dir);
    free(k->cluster_cidr);
    free(k->kube_version);
    free(k->runtime_version);
    free(k->runtime_dir);
    free(k->cgroup_root);
    images_registries_free(k->registries);
    util_strv_clear(&k->labels);
    free(k);
}

void kubelet__handle_release(kubelet_t *k)
{
    if (--k->handles == 0)
        kubelet_free(k);
}

static void on_handle_closed(uv_handle_t *h)
{
    kubelet__handle_release(h->data);
}

void kubelet_stop(kubelet_t *k)
{
    if (!k || k->stopping)
        return;
    k->stopping = true;
    kubelet__server_stop(k);
    kubelet__pods_stop(k);
    client_informer_stop(k->node_informer);
    k->node_informer = NULL;
    client_req_cancel(k->reg_req);
    client_req_cancel(k->lease_req);
    client_req_cancel(k->status_req);
    k->reg_req = k->lease_req = k->status_req = NULL;
    client_close(k->client);
    k->client = NULL;
    uv_close((uv_handle_t *)&k->tick, on_handle_closed);
    uv_close((uv_handle_t *)&k->reg_timer, on_handle_closed);
}
