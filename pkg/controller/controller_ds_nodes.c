/* controller_ds_nodes: which nodes a DaemonSet's pod belongs on (upstream
 * NodeShouldRunDaemonPod and daemon/util): nodeSelector, required node affinity, taints against
 * the pod's tolerations (with the default ones upstream adds), and the node-name affinity that
 * pins a daemon pod to its node. */
#include "controller/controller.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *str(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(get(o, k));
}

static bool same(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

/* ---- tolerations ------------------------------------------------------------------------------
 */

static bool has_toleration(const cJSON *tols, const char *key, const char *effect)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, tols)
    {
        if (same(str(t, "key"), key) && same(str(t, "operator"), "Exists") &&
            same(str(t, "effect"), effect))
            return true;
    }
    return false;
}

void controller_ds_add_tolerations(cJSON *pod_spec)
{
    static const struct {
        const char *key, *effect;
        bool host_network_only;
    } defaults[] = {
        {"node.kubernetes.io/not-ready", "NoExecute", false},
        {"node.kubernetes.io/unreachable", "NoExecute", false},
        {"node.kubernetes.io/disk-pressure", "NoSchedule", false},
        {"node.kubernetes.io/memory-pressure", "NoSchedule", false},
        {"node.kubernetes.io/pid-pressure", "NoSchedule", false},
        {"node.kubernetes.io/unschedulable", "NoSchedule", false},
        {"node.kubernetes.io/network-unavailable", "NoSchedule", true},
    };
    cJSON *tols = cJSON_GetObjectItemCaseSensitive(pod_spec, "tolerations");
    if (!cJSON_IsArray(tols)) {
        cJSON_DeleteItemFromObjectCaseSensitive(pod_spec, "tolerations");
        tols = cJSON_AddArrayToObject(pod_spec, "tolerations");
    }
    bool host_net = cJSON_IsTrue(get(pod_spec, "hostNetwork"));
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        if ((defaults[i].host_network_only && !host_net) ||
            has_toleration(tols, defaults[i].key, defaults[i].effect))
            continue;
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "key", defaults[i].key);
        cJSON_AddStringToObject(t, "operator", "Exists");
        cJSON_AddStringToObject(t, "effect", defaults[i].effect);
        cJSON_AddItemToArray(tols, t);
    }
}

/* v1 Toleration.ToleratesTaint */
static bool tolerates(const cJSON *tol, const cJSON *taint)
{
    const char *effect = str(tol, "effect");
    if (effect && *effect && !same(effect, str(taint, "effect")))
        return false;
    const char *key = str(tol, "key"), *op = str(tol, "operator");
    if (key && *key && !same(key, str(taint, "key")))
        return false;
    if (op && !strcmp(op, "Exists"))
        return true;
    if ((!key || !*key))
        return false; /* an empty key needs Exists */
    return (!op || !*op || !strcmp(op, "Equal")) && same(str(tol, "value"), str(taint, "value"));
}

static bool tolerated(const cJSON *tols, const cJSON *taint)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, tols)
    {
        if (tolerates(t, taint))
            return true;
    }
    return false;
}

/* ---- node selection -------------------------------------------------------------------------- */

static bool parse_int(const char *s, long long *ret)
{
    if (!s || !*s)
        return false;
    char *end = NULL;
    errno = 0;
    *ret = strtoll(s, &end, 10);
    return !errno && end && !*end;
}

/* One NodeSelectorRequirement against value (NULL: the label is absent). */
static bool requirement(const cJSON *r, const char *value)
{
    const char *op = str(r, "operator");
    const cJSON *vals = get(r, "values"), *v;
    if (!op)
        return false;
    if (!strcmp(op, "Exists"))
        return value != NULL;
    if (!strcmp(op, "DoesNotExist"))
        return value == NULL;
    bool in = false;
    cJSON_ArrayForEach(v, vals)
    {
        if (value && cJSON_IsString(v) && !strcmp(v->valuestring, value))
            in = true;
    }
    if (!strcmp(op, "In"))
        return in;
    if (!strcmp(op, "NotIn"))
        return !in;
    if (!strcmp(op, "Gt") || !strcmp(op, "Lt")) {
        long long a, b;
        if (cJSON_GetArraySize(vals) != 1 || !parse_int(value, &a) ||
            !parse_int(cJSON_GetStringValue(cJSON_GetArrayItem(vals, 0)), &b))
            return false;
        return !strcmp(op, "Gt") ? a > b : a < b;
    }
    return false;
}

static bool term_matches(const cJSON *term, const cJSON *node)
{
    const cJSON *exprs = get(term, "matchExpressions"), *fields = get(term, "matchFields"), *r;
    if (cJSON_GetArraySize(exprs) == 0 && cJSON_GetArraySize(fields) == 0)
        return false;
    const cJSON *labels = get(get(node, "metadata"), "labels");
    cJSON_ArrayForEach(r, exprs)
    {
        if (!requirement(r, str(labels, str(r, "key") ? str(r, "key") : "")))
            return false;
    }
    cJSON_ArrayForEach(r, fields)
    {
        if (!same(str(r, "key"), "metadata.name") ||
            !requirement(r, str(get(node, "metadata"), "name")))
            return false;
    }
    return true;
}

static bool selects(const cJSON *spec, const cJSON *node)
{
    const cJSON *labels = get(get(node, "metadata"), "labels"), *kv;
    cJSON_ArrayForEach(kv, get(spec, "nodeSelector"))
    {
        if (!cJSON_IsString(kv) || !same(str(labels, kv->string), kv->valuestring))
            return false;
    }
    const cJSON *req = get(get(get(spec, "affinity"), "nodeAffinity"),
                           "requiredDuringSchedulingIgnoredDuringExecution");
    if (!req || cJSON_IsNull(req))
        return true;
    const cJSON *term;
    cJSON_ArrayForEach(term, get(req, "nodeSelectorTerms"))
    {
        if (term_matches(term, node))
            return true;
    }
    return false;
}

void controller_ds_node_fit(const cJSON *node, const cJSON *pod_spec, controller_ds_fit_t *ret)
{
    *ret = (controller_ds_fit_t){false, false};
    const char *want = str(pod_spec, "nodeName");
    if (want && *want && !same(want, str(get(node, "metadata"), "name")))
        return;
    if (!selects(pod_spec, node))
        return;
    bool run = true;
    const cJSON *taint, *tols = get(pod_spec, "tolerations");
    cJSON_ArrayForEach(taint, get(get(node, "spec"), "taints"))
    {
        const char *effect = str(taint, "effect");
        if (!effect || !strcmp(effect, "PreferNoSchedule") || tolerated(tols, taint))
            continue;
        if (!strcmp(effect, "NoExecute"))
            return;
        run = false; /* NoSchedule: no new pod, an existing one stays */
    }
    ret->should_run = run;
    ret->should_continue = true;
}

void controller_ds_pin(cJSON *pod_spec, const char *node)
{
    cJSON *aff = cJSON_GetObjectItemCaseSensitive(pod_spec, "affinity");
    if (!cJSON_IsObject(aff)) {
        cJSON_DeleteItemFromObjectCaseSensitive(pod_spec, "affinity");
        aff = cJSON_AddObjectToObject(pod_spec, "affinity");
    }
    cJSON *na = cJSON_GetObjectItemCaseSensitive(aff, "nodeAffinity");
    if (!cJSON_IsObject(na)) {
        cJSON_DeleteItemFromObjectCaseSensitive(aff, "nodeAffinity");
        na = cJSON_AddObjectToObject(aff, "nodeAffinity");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(na, "requiredDuringSchedulingIgnoredDuringExecution");
    cJSON *req = cJSON_AddObjectToObject(na, "requiredDuringSchedulingIgnoredDuringExecution");
    cJSON *term = cJSON_CreateObject();
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "key", "metadata.name");
    cJSON_AddStringToObject(r, "operator", "In");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "values"), cJSON_CreateString(node));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(term, "matchFields"), r);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(req, "nodeSelectorTerms"), term);
}

const char *controller_ds_target_node(const cJSON *pod)
{
    const cJSON *spec = get(pod, "spec");
    const char *n = str(spec, "nodeName");
    if (n && *n)
        return n;
    const cJSON *terms = get(get(get(get(spec, "affinity"), "nodeAffinity"),
                                 "requiredDuringSchedulingIgnoredDuringExecution"),
                             "nodeSelectorTerms"),
                *term;
    cJSON_ArrayForEach(term, terms)
    {
        const cJSON *r;
        cJSON_ArrayForEach(r, get(term, "matchFields"))
        {
            const cJSON *vals = get(r, "values");
            if (same(str(r, "key"), "metadata.name") && same(str(r, "operator"), "In") &&
                cJSON_GetArraySize(vals) == 1)
                return cJSON_GetStringValue(cJSON_GetArrayItem(vals, 0));
        }
    }
    return NULL;
}
