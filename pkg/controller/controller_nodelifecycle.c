/* controller_nodelifecycle: upstream's node lifecycle controller and its NoExecuteTaintManager.
 * A node is healthy while its Lease in kube-node-lease (or its Ready condition's heartbeat)
 * changes; after --node-monitor-grace-period without change its conditions go Unknown and its
 * pods are marked not ready. Taints follow the conditions (controller_taints.c), and pods on a
 * node with NoExecute taints they do not tolerate are deleted, at once or after their
 * tolerationSeconds. Every wait is a delayed queue key: no polling. */
#include "controller/controller_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_GRACE_MS 40000
#define LEASE_NS         "kube-node-lease"
#define EVICT_RETRY_MS   10000 /* a deletion not seen by then is sent again */

enum { NL_INF_NODES, NL_INF_LEASES, NL_INF_COUNT };

typedef struct nl_inf_ctx {
    controller_manager_t *m;
    int kind;
} nl_inf_ctx_t;

struct ctrl_nl {
    client_informer_t *inf[NL_INF_COUNT];
    nl_inf_ctx_t ctx[NL_INF_COUNT];
    bool synced[NL_INF_COUNT];
    controller_queue_t *nq; /* node names: health and taints */
    controller_queue_t *pq; /* pod keys: NoExecute evictions */
    cJSON *health;          /* node -> {probe: ms, seen: last heartbeat record} */
    cJSON *evict;           /* pod key -> ms its eviction countdown started */
    cJSON *evicted;         /* pod key -> ms its deletion was sent */
};

static const client_resource_t RES_NODE_STATUS = {"", "v1", "nodes", false};

static uint64_t grace_ms(const controller_manager_t *m)
{
    return m->node_grace_ms ? m->node_grace_ms : DEFAULT_GRACE_MS;
}

/* ---- node health ----------------------------------------------------------------------------- */

/* What changes while the kubelet is alive: its Lease's renewTime and the Ready heartbeat. NULL
 * when the node has neither (a Node object no kubelet ever reported for: not monitored). */
static char *heartbeat(struct ctrl_nl *nl, const cJSON *node, const char *name)
{
    const cJSON *lease = client_informer_get(nl->inf[NL_INF_LEASES], LEASE_NS, name);
    const char *renew = ctrl_str(ctrl_get(lease, "spec"), "renewTime");
    const char *hb = NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, ctrl_get(ctrl_get(node, "status"), "conditions"))
    {
        const char *t = ctrl_str(c, "type");
        if (t && !strcmp(t, "Ready"))
            hb = ctrl_str(c, "lastHeartbeatTime");
    }
    if (!renew && !hb)
        return NULL;
    return util_strdup_printf("%s|%s", renew ? renew : "", hb ? hb : "");
}

typedef struct on_node_ctx {
    controller_manager_t *m;
    const char *node;
    void (*fn)(controller_manager_t *m, const cJSON *pod);
} on_node_ctx_t;

static void pod_on_node(void *ud, const cJSON *pod)
{
    on_node_ctx_t *c = ud;
    const char *n = ctrl_str(ctrl_get(pod, "spec"), "nodeName");
    if (n && !strcmp(n, c->node))
        c->fn(c->m, pod);
}

static void for_pods_on(controller_manager_t *m, const char *node,
                        void (*fn)(controller_manager_t *m, const cJSON *pod))
{
    on_node_ctx_t c = {m, node, fn};
    client_informer_foreach(m->inf[CTRL_INF_PODS], pod_on_node, &c);
}

/* upstream MarkPodsNotReady: the Ready condition of the node's pods turns False. */
static void mark_not_ready(controller_manager_t *m, const cJSON *pod)
{
    const char *ready = NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, ctrl_get(ctrl_get(pod, "status"), "conditions"))
    {
        const char *t = ctrl_str(c, "type");
        if (t && !strcmp(t, "Ready"))
            ready = ctrl_str(c, "status");
    }
    if (!ready || !strcmp(ready, "False") || !controller_pod_active(pod))
        return;
    const cJSON *meta = ctrl_get(pod, "metadata");
    char ts[32];
    controller_format_time(time(NULL), ts);
    cJSON *patch = cJSON_CreateObject();
    cJSON *cond = cJSON_CreateObject();
    cJSON_AddStringToObject(cond, "type", "Ready");
    cJSON_AddStringToObject(cond, "status", "False");
    cJSON_AddStringToObject(cond, "lastTransitionTime", ts);
    cJSON_AddItemToArray(
        cJSON_AddArrayToObject(cJSON_AddObjectToObject(patch, "status"), "conditions"), cond);
    const char *ns = ctrl_str(meta, "namespace"), *name = ctrl_str(meta, "name");
    ctrl_pending_t *p = ctrl_pending_new(m, NULL, NULL, NULL);
    ctrl_pending_sent(p, client_patch(m->client, &CLIENT_RES_PODS, ns, name, "status",
                                      CLIENT_PATCH_STRATEGIC, patch, ctrl_pending_cb, p));
    cJSON_Delete(patch);
    ctrl_event(m, pod, "Pod", "v1", "Warning", "NodeNotReady", "node-controller",
               "Node is not ready");
}

static void patch_node(controller_manager_t *m, const cJSON *node, const char *sub,
                       const char *field, cJSON *value)
{
    const cJSON *meta = ctrl_get(node, "metadata");
    cJSON *patch = cJSON_CreateObject();
    cJSON *pm = cJSON_AddObjectToObject(patch, "metadata");
    if (ctrl_str(meta, "resourceVersion")) /* optimistic: a newer node makes a 409, then a retry */
        cJSON_AddStringToObject(pm, "resourceVersion", ctrl_str(meta, "resourceVersion"));
    cJSON_AddItemToObject(cJSON_AddObjectToObject(patch, sub ? "status" : "spec"), field, value);
    ctrl_patch(m, &RES_NODE_STATUS, NULL, ctrl_str(meta, "name"), sub, patch);
    cJSON_Delete(patch);
}

/* 0 done, > 0 look again after that many ms. */
static int node_sync(controller_manager_t *m, const char *name)
{
    struct ctrl_nl *nl = m->nl;
    const cJSON *node = client_informer_get(nl->inf[NL_INF_NODES], NULL, name);
    if (!node) {
        cJSON_DeleteItemFromObjectCaseSensitive(nl->health, name);
        return 0;
    }
    uint64_t now = ctrl_now(m);
    int rc = 0;
    char *hb = heartbeat(nl, node, name);
    cJSON *h = cJSON_GetObjectItemCaseSensitive(nl->health, name);
    if (hb && (!h || strcmp(ctrl_str(h, "seen"), hb))) {
        cJSON_DeleteItemFromObjectCaseSensitive(nl->health, name);
        h = cJSON_AddObjectToObject(nl->health, name);
        cJSON_AddNumberToObject(h, "probe", (double)now);
        cJSON_AddStringToObject(h, "seen", hb);
    }
    free(hb);
    if (h) {
        uint64_t due = (uint64_t)ctrl_int(h, "probe", 0) + grace_ms(m);
        if (now < due) {
            rc = (int)(due - now);
        } else {
            bool changed = false;
            cJSON *conds = controller_node_conditions_unknown(node, time(NULL), &changed);
            if (changed) {
                util_log_info("node-lifecycle: node %s stopped posting status for %llu ms; "
                              "conditions Unknown",
                              name, (unsigned long long)(now - (due - grace_ms(m))));
                patch_node(m, node, "status", "conditions", conds);
                ctrl_event(m, node, "Node", "v1", "Normal", "NodeNotReady", "node-controller",
                           "Node %s status is now: NodeNotReady", name);
                for_pods_on(m, name, mark_not_ready);
                return 0; /* the node's update brings the key back for its taints */
            }
            cJSON_Delete(conds);
        }
    }
    bool changed = false;
    cJSON *taints = controller_node_taints(node, time(NULL), &changed);
    if (changed)
        patch_node(m, node, NULL, "taints", taints);
    else
        cJSON_Delete(taints);
    return rc;
}

/* ---- NoExecute evictions --------------------------------------------------------------------- */

typedef struct evict_ctx {
    char *ns, *name;
} evict_ctx_t;

static void evict_free(void *ud)
{
    evict_ctx_t *e = ud;
    free(e->ns);
    free(e->name);
    free(e);
}

static void evict_marked(controller_manager_t *m, void *ud, client_result_t *res)
{
    (void)res; /* the pod goes whether or not its condition could be written */
    evict_ctx_t *e = ud;
    ctrl_pending_t *p = ctrl_pending_new(m, NULL, NULL, NULL);
    ctrl_pending_sent(
        p, client_delete(m->client, &CLIENT_RES_PODS, e->ns, e->name, ctrl_pending_cb, p));
    evict_free(e);
}

/* upstream addConditionAndDeletePod: a DisruptionTarget condition, then the deletion. */
static void evict(controller_manager_t *m, const cJSON *pod)
{
    const cJSON *meta = ctrl_get(pod, "metadata");
    const char *ns = ctrl_str(meta, "namespace"), *name = ctrl_str(meta, "name");
    util_log_info(
        "node-lifecycle: evicting pod %s/%s (a NoExecute taint it does not tolerate, or no longer)",
        ns, name);
    ctrl_event(m, pod, "Pod", "v1", "Normal", "TaintManagerEviction", "taint-eviction-controller",
               "Marking for deletion Pod %s/%s", ns, name);
    char ts[32];
    controller_format_time(time(NULL), ts);
    cJSON *patch = cJSON_CreateObject();
    cJSON *cond = cJSON_CreateObject();
    cJSON_AddStringToObject(cond, "type", "DisruptionTarget");
    cJSON_AddStringToObject(cond, "status", "True");
    cJSON_AddStringToObject(cond, "reason", "DeletionByTaintManager");
    cJSON_AddStringToObject(cond, "message", "Taint manager: deleting due to NoExecute taint");
    cJSON_AddStringToObject(cond, "lastTransitionTime", ts);
    cJSON_AddItemToArray(
        cJSON_AddArrayToObject(cJSON_AddObjectToObject(patch, "status"), "conditions"), cond);
    evict_ctx_t *e = util_xcalloc(1, sizeof(*e));
    e->ns = util_xstrdup(ns);
    e->name = util_xstrdup(name);
    ctrl_pending_t *p = ctrl_pending_new(m, evict_marked, e, evict_free);
    ctrl_pending_sent(p, client_patch(m->client, &CLIENT_RES_PODS, ns, name, "status",
                                      CLIENT_PATCH_STRATEGIC, patch, ctrl_pending_cb, p));
    cJSON_Delete(patch);
}

static int pod_sync(controller_manager_t *m, const char *key)
{
    struct ctrl_nl *nl = m->nl;
    const char *slash = strchr(key, '/');
    if (!slash)
        return 0;
    char ns[256];
    snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
    const cJSON *pod = client_informer_get(m->inf[CTRL_INF_PODS], ns, slash + 1);
    const char *node_name = ctrl_str(ctrl_get(pod, "spec"), "nodeName");
    const cJSON *node =
        node_name ? client_informer_get(nl->inf[NL_INF_NODES], NULL, node_name) : NULL;
    int64_t delay = node && controller_pod_active(pod)
                        ? controller_eviction_delay(pod, ctrl_get(ctrl_get(node, "spec"), "taints"))
                        : -1;
    if (delay < 0) { /* nothing to do, or the taint went: the countdown is cancelled */
        cJSON_DeleteItemFromObjectCaseSensitive(nl->evict, key);
        cJSON_DeleteItemFromObjectCaseSensitive(nl->evicted, key);
        return 0;
    }
    uint64_t now = ctrl_now(m);
    const cJSON *started = ctrl_get(nl->evict, key);
    if (!started)
        started = cJSON_AddNumberToObject(nl->evict, key, (double)now);
    uint64_t due = (uint64_t)started->valuedouble + (uint64_t)delay * 1000;
    if (now < due)
        return (int)(due - now);
    cJSON_DeleteItemFromObjectCaseSensitive(nl->evict, key);
    /* the deletion is in flight: the pod's own updates meanwhile do not send another */
    const cJSON *sent = ctrl_get(nl->evicted, key);
    if (sent && now < (uint64_t)sent->valuedouble + EVICT_RETRY_MS)
        return (int)((uint64_t)sent->valuedouble + EVICT_RETRY_MS - now);
    cJSON_DeleteItemFromObjectCaseSensitive(nl->evicted, key);
    cJSON_AddNumberToObject(nl->evicted, key, (double)now);
    evict(m, pod);
    return 0;
}

/* ---- informers ------------------------------------------------------------------------------- */

static void enqueue_pod(controller_manager_t *m, const cJSON *pod)
{
    char *key = ctrl_key(pod);
    if (key && m->nl)
        controller_queue_add(m->nl->pq, key, ctrl_now(m));
    free(key);
}

static void deliver(void *ud, const cJSON *old, const cJSON *obj, bool deleted)
{
    nl_inf_ctx_t *c = ud;
    (void)old;
    (void)deleted;
    controller_manager_t *m = c->m;
    if (!m->nl)
        return;
    const char *name = ctrl_str(ctrl_get(obj, "metadata"), "name");
    if (!name)
        return;
    if (c->kind == NL_INF_LEASES) {
        const char *ns = ctrl_str(ctrl_get(obj, "metadata"), "namespace");
        if (!ns || strcmp(ns, LEASE_NS))
            return;
    } else {
        for_pods_on(m, name, enqueue_pod); /* taints may have changed */
    }
    controller_queue_add(m->nl->nq, name, ctrl_now(m));
    ctrl_kick(m);
}

static void on_synced(void *ud)
{
    nl_inf_ctx_t *c = ud;
    if (c->m->nl)
        c->m->nl->synced[c->kind] = true;
    ctrl_kick(c->m);
}

void ctrl_nl_on_pod(controller_manager_t *m, const cJSON *old, const cJSON *pod, bool deleted)
{
    (void)old;
    if (!m->nl)
        return;
    if (deleted) {
        char *key = ctrl_key(pod);
        if (key)
            cJSON_DeleteItemFromObjectCaseSensitive(m->nl->evict, key);
        if (key)
            cJSON_DeleteItemFromObjectCaseSensitive(m->nl->evicted, key);
        free(key);
        return;
    }
    if (ctrl_str(ctrl_get(pod, "spec"), "nodeName"))
        enqueue_pod(m, pod);
}

/* ---- lifetime -------------------------------------------------------------------------------- */

int ctrl_nl_start(controller_manager_t *m, util_error_t *err)
{
    static const client_informer_handlers_t h = {.on_event = deliver, .on_synced = on_synced};
    struct ctrl_nl *nl = util_xcalloc(1, sizeof(*nl));
    nl->nq = controller_queue_new();
    nl->pq = controller_queue_new();
    nl->health = cJSON_CreateObject();
    nl->evict = cJSON_CreateObject();
    nl->evicted = cJSON_CreateObject();
    m->nl = nl;
    nl->ctx[NL_INF_NODES] = (nl_inf_ctx_t){m, NL_INF_NODES};
    nl->ctx[NL_INF_LEASES] = (nl_inf_ctx_t){m, NL_INF_LEASES};
    client_informer_opts_t io = {.resource = &CLIENT_RES_NODES,
                                 .transform = client_strip_managed_fields};
    if (client_informer_start(m->client, &io, &h, &nl->ctx[NL_INF_NODES], &nl->inf[NL_INF_NODES],
                              err) < 0)
        return -1;
    io = (client_informer_opts_t){.resource = &CLIENT_RES_LEASES, .ns = LEASE_NS};
    return client_informer_start(m->client, &io, &h, &nl->ctx[NL_INF_LEASES],
                                 &nl->inf[NL_INF_LEASES], err);
}

void ctrl_nl_stop(controller_manager_t *m)
{
    struct ctrl_nl *nl = m->nl;
    if (!nl)
        return;
    for (int i = 0; i < NL_INF_COUNT; i++)
        if (nl->inf[i])
            client_informer_stop(nl->inf[i]);
    controller_queue_free(nl->nq);
    controller_queue_free(nl->pq);
    cJSON_Delete(nl->health);
    cJSON_Delete(nl->evict);
    cJSON_Delete(nl->evicted);
    free(nl);
    m->nl = NULL;
}

static bool nl_synced(const struct ctrl_nl *nl)
{
    return nl->synced[NL_INF_NODES] && nl->synced[NL_INF_LEASES];
}

int64_t ctrl_nl_next(controller_manager_t *m, uint64_t now)
{
    if (!m->nl || !nl_synced(m->nl))
        return -1;
    int64_t a = controller_queue_next(m->nl->nq, now), b = controller_queue_next(m->nl->pq, now);
    return a < 0 ? b : (b < 0 || a < b ? a : b);
}

static bool run_queue(controller_manager_t *m, controller_queue_t *q, uint64_t now,
                      int (*sync)(controller_manager_t *, const char *))
{
    char *key = controller_queue_pop(q, now);
    if (!key)
        return false;
    int rc = sync(m, key);
    now = ctrl_now(m);
    controller_queue_done(q, key, now);
    if (rc > 0)
        controller_queue_add_after(q, key, (uint64_t)rc, now);
    free(key);
    return true;
}

bool ctrl_nl_run_one(controller_manager_t *m, uint64_t now)
{
    struct ctrl_nl *nl = m->nl;
    if (!nl || !nl_synced(nl))
        return false;
    return run_queue(m, nl->nq, now, node_sync) || run_queue(m, nl->pq, now, pod_sync);
}

cJSON *ctrl_nl_zones(controller_manager_t *m, const cJSON *const *pods, size_t n)
{
    if (!m->nl)
        return NULL;
    cJSON *zones = cJSON_CreateObject();
    for (size_t i = 0; i < n; i++) {
        const char *name = ctrl_str(ctrl_get(pods[i], "spec"), "nodeName");
        if (!name || ctrl_get(zones, name))
            continue;
        const cJSON *node = client_informer_get(m->nl->inf[NL_INF_NODES], NULL, name);
        const char *zone =
            ctrl_str(ctrl_get(ctrl_get(node, "metadata"), "labels"), "topology.kubernetes.io/zone");
        if (zone)
            cJSON_AddStringToObject(zones, name, zone);
    }
    return zones;
}

void controller_manager_set_node_monitor_grace(controller_manager_t *m, uint64_t ms)
{
    if (m)
        m->node_grace_ms = ms;
}
