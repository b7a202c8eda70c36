/* scheduler_filter: the default profile's Filter plugins, in upstream's order and words. */
#include "scheduler/scheduler_internal.h"

#include <stdlib.h>
#include <string.h>

/* Upstream's reasons (pkg/scheduler/framework/plugins/...); they end up in FailedScheduling
 * events, so they are kept byte for byte. */
#define REASON_UNSCHEDULABLE "node(s) were unschedulable"
#define REASON_NODE_NAME     "node(s) didn't match the requested node name"
#define REASON_AFFINITY      "node(s) didn't match Pod's node affinity/selector"
#define REASON_PORTS         "node(s) didn't have free ports for the requested pod ports"
#define REASON_TOO_MANY_PODS "Too many pods"
#define REASON_VOLUME_NODE   "node(s) had volume node affinity conflict"

void sched_status_add(sched_status_t *st, sched_code_t code, const char *reason)
{
    if (code > st->code)
        st->code = code;
    if (st->nreasons < SCHED_MAX_REASONS)
        st->reasons[st->nreasons++] = util_xstrdup(reason);
}

void sched_status_clear(sched_status_t *st)
{
    for (size_t i = 0; i < st->nreasons; i++)
        free(st->reasons[i]);
    memset(st, 0, sizeof(*st));
}

/* ---- taints and tolerations (k8s.io/api/core/v1 Toleration.ToleratesTaint) ------------------ */

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool toleration_tolerates(const cJSON *tol, const cJSON *taint)
{
    const char *effect = sched_str(tol, "effect"), *key = sched_str(tol, "key");
    const char *op = sched_str(tol, "operator");
    if (effect && *effect && !str_eq(effect, sched_str(taint, "effect")))
        return false;
    if (key && *key && !str_eq(key, sched_str(taint, "key")))
        return false;
    if (!op || !*op || strcmp(op, "Equal") == 0)
        return str_eq(sched_str(tol, "value"), sched_str(taint, "value"));
    return strcmp(op, "Exists") == 0;
}

bool sched_tolerates(const cJSON *tolerations, const cJSON *taint)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, tolerations)
    {
        if (toleration_tolerates(t, taint))
            return true;
    }
    return false;
}

/* NodeUnschedulable: spec.unschedulable unless the pod tolerates the unschedulable taint. */
static void filter_unschedulable(const cJSON *pod, const sched_node_t *n, sched_status_t *st)
{
    if (!cJSON_IsTrue(sched_get(n->obj, "spec.unschedulable")))
        return;
    cJSON *taint = cJSON_CreateObject();
    cJSON_AddStringToObject(taint, "key", "node.kubernetes.io/unschedulable");
    cJSON_AddStringToObject(taint, "effect", "NoSchedule");
    bool ok = sched_tolerates(sched_get(pod, "spec.tolerations"), taint);
    cJSON_Delete(taint);
    if (!ok)
        sched_status_add(st, SCHED_UNRESOLVABLE, REASON_UNSCHEDULABLE);
}

static void filter_node_name(const cJSON *pod, const sched_node_t *n, sched_status_t *st)
{
    const char *want = sched_str(pod, "spec.nodeName");
    if (want && *want && strcmp(want, n->name) != 0)
        sched_status_add(st, SCHED_UNRESOLVABLE, REASON_NODE_NAME);
}

/* TaintToleration: the first NoSchedule/NoExecute taint the pod does not tolerate. */
static void filter_taints(const cJSON *pod, const sched_node_t *n, sched_status_t *st)
{
    const cJSON *t, *tols = sched_get(pod, "spec.tolerations");
    cJSON_ArrayForEach(t, n->taints)
    {
        const char *effect = sched_str(t, "effect");
        if (!effect || (strcmp(effect, "NoSchedule") != 0 && strcmp(effect, "NoExecute") != 0))
            continue;
        if (sched_tolerates(tols, t))
            continue;
        const char *key = sched_str(t, "key"), *value = sched_str(t, "value");
        char *reason = util_strdup_printf("node(s) had untolerated taint {%s: %s}", key ? key : "",
                                          value ? value : "");
        sched_status_add(st, SCHED_UNRESOLVABLE, reason);
        free(reason);
        return;
    }
}

/* ---- NodePorts ------------------------------------------------------------------------------ */

typedef struct host_port {
    const char *ip, *proto;
    int port;
} host_port_t;

static void port_of(const cJSON *p, host_port_t *ret)
{
    const cJSON *hp = cJSON_GetObjectItemCaseSensitive(p, "hostPort");
    ret->port = cJSON_IsNumber(hp) ? hp->valueint : 0;
    ret->ip = sched_str(p, "hostIP");
    ret->proto = sched_str(p, "protocol");
    if (!ret->ip || !*ret->ip)
        ret->ip = "0.0.0.0";
    if (!ret->proto || !*ret->proto)
        ret->proto = "TCP";
}

static bool ports_conflict(const host_port_t *a, const host_port_t *b)
{
    if (a->port != b->port || strcmp(a->proto, b->proto) != 0)
        return false;
    return strcmp(a->ip, "0.0.0.0") == 0 || strcmp(b->ip, "0.0.0.0") == 0 ||
           strcmp(a->ip, b->ip) == 0;
}

/* True if pod p uses a host port conflicting with want. */
static bool pod_uses_port(const cJSON *p, const host_port_t *want)
{
    const cJSON *c, *port;
    cJSON_ArrayForEach(c, sched_get(p, "spec.containers"))
    {
        cJSON_ArrayForEach(port, cJSON_GetObjectItemCaseSensitive(c, "ports"))
        {
            host_port_t hp;
            port_of(port, &hp);
            if (hp.port > 0 && ports_conflict(&hp, want))
                return true;
        }
    }
    return false;
}

static void filter_ports(const cJSON *pod, const sched_node_t *n, sched_status_t *st)
{
    const cJSON *c, *port;
    cJSON_ArrayForEach(c, sched_get(pod, "spec.containers"))
    {
        cJSON_ArrayForEach(port, cJSON_GetObjectItemCaseSensitive(c, "ports"))
        {
            host_port_t want;
            port_of(port, &want);
            if (want.port <= 0)
                continue;
            for (size_t i = 0; i < n->npods; i++) {
                if (pod_uses_port(n->pods[i]->obj, &want)) {
                    sched_status_add(st, SCHED_UNSCHEDULABLE, REASON_PORTS);
                    return;
                }
            }
        }
    }
}

/* ---- NodeResourcesFit ----------------------------------------------------------------------- */

/* One resource: fails with "Insufficient <name>"; unresolvable when even an empty node could
 * not hold the request (upstream marks those so preemption is not attempted). */
static void fit_one(const char *name, int64_t want, int64_t used, int64_t alloc, sched_status_t *st)
{
    if (want == 0 || want <= alloc - used)
        return;
    char *reason = util_strdup_printf("Insufficient %s", name);
    sched_status_add(st, want > alloc ? SCHED_UNRESOLVABLE : SCHED_UNSCHEDULABLE, reason);
    free(reason);
}

static void filter_resources(const cJSON *pod, const sched_node_t *n, sched_status_t *st)
{
    scheduler_resources_t req;
    scheduler_pod_requests(pod, false, &req);
    if (n->requested.pods + 1 > n->alloc.pods)
        sched_status_add(st, n->alloc.pods < 1 ? SCHED_UNRESOLVABLE : SCHED_UNSCHEDULABLE,
                         REASON_TOO_MANY_PODS);
    fit_one("cpu", req.milli_cpu, n->requested.milli_cpu, n->alloc.milli_cpu, st);
    fit_one("memory", req.memory, n->requested.memory, n->alloc.memory, st);
    fit_one("ephemeral-storage", req.ephemeral_storage, n->requested.ephemeral_storage,
            n->alloc.ephemeral_storage, st);
}

/* ---- volumes -------------------------------------------------------------------------------- */

/* The PersistentVolumeClaim a volume refers to, from the snapshot (NULL if unknown). */
static const cJSON *pvc_of(const scheduler_snapshot_t *s, const cJSON *pod, const cJSON *vol)
{
    const char *claim = sched_str(vol, "persistentVolumeClaim.claimName");
    return claim ? sched_find_object(s, "PersistentVolumeClaim",
                                     sched_str(pod, "metadata.namespace"), claim)
                 : NULL;
}

/* VolumeBinding's PreFilter: every claim must exist and be bound. (WaitForFirstConsumer
 * binding is not implemented: an unbound claim is treated as an immediate one.) */
void sched_prefilter(const scheduler_snapshot_t *s, const cJSON *pod, sched_status_t *st)
{
    const cJSON *vol;
    cJSON_ArrayForEach(vol, sched_get(pod, "spec.volumes"))
    {
        const char *claim = sched_str(vol, "persistentVolumeClaim.claimName");
        if (!claim)
            continue;
        const cJSON *pvc = pvc_of(s, pod, vol);
        if (!pvc) {
            char *reason = util_strdup_printf("persistentvolumeclaim \"%s\" not found", claim);
            sched_status_add(st, SCHED_UNRESOLVABLE, reason);
            free(reason);
            return;
        }
        const char *pv = sched_str(pvc, "spec.volumeName");
        if (!pv || !*pv) {
            sched_status_add(st, SCHED_UNRESOLVABLE,
                             "pod has unbound immediate PersistentVolumeClaims");
            return;
        }
    }
}

/* VolumeBinding's Filter for bound claims: the PV's spec.nodeAffinity.required. */
static void filter_volume_affinity(const scheduler_snapshot_t *s, const cJSON *pod,
                                   const sched_node_t *n, sched_status_t *st)
{
    const cJSON *vol;
    cJSON_ArrayForEach(vol, sched_get(pod, "spec.volumes"))
    {
        const cJSON *pvc = pvc_of(s, pod, vol);
        const char *pvname = pvc ? sched_str(pvc, "spec.volumeName") : NULL;
        const cJSON *pv = pvname ? sched_find_object(s, "PersistentVolume", NULL, pvname) : NULL;
        const cJSON *terms = sched_get(pv, "spec.nodeAffinity.required.nodeSelectorTerms");
        if (!terms)
            continue;
        bool any = false;
        const cJSON *term;
        cJSON_ArrayForEach(term, terms)
        {
            any |= sched_node_selector_term_matches(term, n);
        }
        if (!any) {
            sched_status_add(st, SCHED_UNRESOLVABLE, REASON_VOLUME_NODE);
            return;
        }
    }
}

/* Runs the filters in upstream's default order, stopping at the first failing plugin (its
 * status may carry several reasons, e.g. "Insufficient cpu" and "Insufficient memory"). */
void sched_filter(const scheduler_snapshot_t *s, const sched_cycle_t *cy, const cJSON *pod,
                  const sched_node_t *n, sched_status_t *st)
{
    filter_unschedulable(pod, n, st);
    if (!st->code)
        filter_node_name(pod, n, st);
    if (!st->code)
        filter_taints(pod, n, st);
    if (!st->code && !sched_node_matches_pod_affinity(pod, n))
        sched_status_add(st, SCHED_UNRESOLVABLE, REASON_AFFINITY);
    if (!st->code)
        filter_ports(pod, n, st);
    if (!st->code)
        filter_resources(pod, n, st);
    if (!st->code)
        filter_volume_affinity(s, pod, n, st);
    if (!st->code)
        sched_filter_topology_spread(cy, n, st);
    if (!st->code)
        sched_filter_inter_pod(cy, pod, n, st);
}

char *scheduler_filter_node(const scheduler_snapshot_t *s, const cJSON *pod, const char *node)
{
    const sched_node_t *n = sched_find_node(s, node);
    if (!n)
        return util_xstrdup("node not found");
    sched_status_t st = {0};
    sched_prefilter(s, pod, &st);
    if (!st.code) {
        sched_cycle_t *cy = sched_cycle_new(s, pod);
        sched_filter(s, cy, pod, n, &st);
        sched_cycle_free(cy);
    }
    if (!st.code)
        return NULL;
    util_buf_t b = {0};
    for (size_t i = 0; i < st.nreasons; i++)
        util_buf_printf(&b, "%s%s", i ? ", " : "", st.reasons[i]);
    sched_status_clear(&st);
    return util_buf_steal(&b);
}
