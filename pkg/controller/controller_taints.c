/* controller_taints: the node lifecycle controller's rules (upstream's nodelifecycle controller
 * and its NoExecuteTaintManager): conditions of a node that stopped reporting, the taints its
 * conditions call for (TaintBasedEvictions and TaintNodesByCondition), and when a pod on a
 * NoExecute-tainted node is evicted. Pure functions, tested in tests/unit. */
#include "controller/controller.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(jget(o, k));
}

static bool streq(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

bool controller_toleration_tolerates(const cJSON *tol, const cJSON *taint)
{
    const char *te = jstr(tol, "effect"), *e = jstr(taint, "effect");
    if (te && *te && !streq(te, e))
        return false;
    const char *tk = jstr(tol, "key"), *k = jstr(taint, "key");
    const char *op = jstr(tol, "operator");
    bool exists = streq(op, "Exists");
    if ((!tk || !*tk)) /* an empty key with Exists matches every taint */
        return exists;
    if (!streq(tk, k))
        return false;
    if (exists)
        return true;
    if (op && *op && !streq(op, "Equal"))
        return false;
    const char *tv = jstr(tol, "value"), *v = jstr(taint, "value");
    return streq(tv ? tv : "", v ? v : "");
}

int64_t controller_eviction_delay(const cJSON *pod, const cJSON *taints)
{
    const cJSON *tols = jget(jget(pod, "spec"), "tolerations");
    int64_t min = -1;
    const cJSON *taint;
    cJSON_ArrayForEach(taint, taints)
    {
        if (!streq(jstr(taint, "effect"), "NoExecute"))
            continue;
        bool tolerated = false;
        const cJSON *tol;
        cJSON_ArrayForEach(tol, tols)
        {
            if (!controller_toleration_tolerates(tol, taint))
                continue;
            tolerated = true;
            const cJSON *secs = jget(tol, "tolerationSeconds");
            if (!cJSON_IsNumber(secs))
                continue; /* tolerated forever */
            int64_t s = secs->valuedouble < 0 ? 0 : (int64_t)secs->valuedouble;
            if (min < 0 || s < min)
                min = s;
        }
        if (!tolerated)
            return 0;
    }
    return min;
}

/* ---- conditions ------------------------------------------------------------------------------ */

static cJSON *find_condition(cJSON *conds, const char *type)
{
    cJSON *c;
    cJSON_ArrayForEach(c, conds)
    {
        if (streq(jstr(c, "type"), type))
            return c;
    }
    return NULL;
}

static void set_str(cJSON *o, const char *k, const char *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(o, k);
    cJSON_AddStringToObject(o, k, v);
}

cJSON *controller_node_conditions_unknown(const cJSON *node, int64_t now_s, bool *changed)
{
    static const char *const types[] = {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"};
    cJSON *conds = cJSON_Duplicate(jget(jget(node, "status"), "conditions"), true);
    if (!cJSON_IsArray(conds)) {
        cJSON_Delete(conds);
        conds = cJSON_CreateArray();
    }
    char now[32];
    controller_format_time(now_s, now);
    const char *created = jstr(jget(node, "metadata"), "creationTimestamp");
    *changed = false;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        cJSON *c = find_condition(conds, types[i]);
        if (!c) {
            c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "type", types[i]);
            cJSON_AddStringToObject(c, "status", "Unknown");
            cJSON_AddStringToObject(c, "reason", "NodeStatusNeverUpdated");
            cJSON_AddStringToObject(c, "message", "Kubelet never posted node status.");
            cJSON_AddStringToObject(c, "lastHeartbeatTime", created ? created : now);
            cJSON_AddStringToObject(c, "lastTransitionTime", now);
            cJSON_AddItemToArray(conds, c);
            *changed = true;
            continue;
        }
        if (streq(jstr(c, "status"), "Unknown"))
            continue;
        set_str(c, "status", "Unknown");
        set_str(c, "reason", "NodeStatusUnknown");
        set_str(c, "message", "Kubelet stopped posting node status.");
        set_str(c, "lastTransitionTime", now);
        *changed = true;
    }
    return conds;
}

/* ---- taints ---------------------------------------------------------------------------------- */

typedef struct managed_taint {
    const char *key, *effect;
} managed_taint_t;

static const managed_taint_t MANAGED[] = {
    {CONTROLLER_TAINT_NOT_READY, "NoExecute"},
    {CONTROLLER_TAINT_UNREACHABLE, "NoExecute"},
    {CONTROLLER_TAINT_NOT_READY, "NoSchedule"},
    {CONTROLLER_TAINT_UNREACHABLE, "NoSchedule"},
    {"node.kubernetes.io/memory-pressure", "NoSchedule"},
    {"node.kubernetes.io/disk-pressure", "NoSchedule"},
    {"node.kubernetes.io/pid-pressure", "NoSchedule"},
    {"node.kubernetes.io/network-unavailable", "NoSchedule"},
    {"node.kubernetes.io/unschedulable", "NoSchedule"},
};
#define N_MANAGED (sizeof(MANAGED) / sizeof(MANAGED[0]))

static const char *condition_status(const cJSON *node, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, jget(jget(node, "status"), "conditions"))
    {
        if (streq(jstr(c, "type"), type))
            return jstr(c, "status");
    }
    return NULL;
}

/* Which managed taints the node's status calls for (upstream doNoExecuteTaintingPass and
 * doNoScheduleTaintingPass). */
static void wanted_taints(const cJSON *node, bool want[N_MANAGED])
{
    const char *ready = condition_status(node, "Ready");
    bool not_ready = streq(ready, "False"), unknown = streq(ready, "Unknown");
    want[0] = want[2] = not_ready;
    want[1] = want[3] = unknown;
    want[4] = streq(condition_status(node, "MemoryPressure"), "True");
    want[5] = streq(condition_status(node, "DiskPressure"), "True");
    want[6] = streq(condition_status(node, "PIDPressure"), "True");
    want[7] = streq(condition_status(node, "NetworkUnavailable"), "True");
    want[8] = cJSON_IsTrue(jget(jget(node, "spec"), "unschedulable"));
}

static int managed_index(const cJSON *taint)
{
    const char *k = jstr(taint, "key"), *e = jstr(taint, "effect");
    for (size_t i = 0; i < N_MANAGED; i++)
        if (streq(k, MANAGED[i].key) && streq(e, MANAGED[i].effect))
            return (int)i;
    return -1;
}

cJSON *controller_node_taints(const cJSON *node, int64_t now_s, bool *changed)
{
    bool want[N_MANAGED], have[N_MANAGED] = {false};
    wanted_taints(node, want);
    cJSON *out = cJSON_CreateArray();
    *changed = false;
    const cJSON *t;
    cJSON_ArrayForEach(t, jget(jget(node, "spec"), "taints"))
    {
        int i = managed_index(t);
        if (i >= 0 && (!want[i] || have[i])) {
            *changed = true; /* no longer called for (or a duplicate) */
            continue;
        }
        if (i >= 0)
            have[i] = true;
        cJSON_AddItemToArray(out, cJSON_Duplicate(t, true));
    }
    char now[32];
    controller_format_time(now_s, now);
    for (size_t i = 0; i < N_MANAGED; i++) {
        if (!want[i] || have[i])
            continue;
        cJSON *n = cJSON_CreateObject();
        cJSON_AddStringToObject(n, "key", MANAGED[i].key);
        cJSON_AddStringToObject(n, "effect", MANAGED[i].effect);
        if (!strcmp(MANAGED[i].effect, "NoExecute"))
            cJSON_AddStringToObject(n, "timeAdded", now);
        cJSON_AddItemToArray(out, n);
        *changed = true;
    }
    return out;
}

/* ---- flags ----------------------------------------------------------------------------------- */

int controller_parse_duration_ms(const char *s, uint64_t *ret)
{
    /* Go's time.ParseDuration subset: one or more <number><unit>, units ms, s, m, h */
    if (!s || !*s)
        return -EINVAL;
    double total = 0;
    const char *p = s;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || v < 0)
            return -EINVAL;
        double mul;
        if (!strncmp(end, "ms", 2)) {
            mul = 1;
            end += 2;
        } else if (*end == 's') {
            mul = 1000;
            end++;
        } else if (*end == 'm') {
            mul = 60000;
            end++;
        } else if (*end == 'h') {
            mul = 3600000;
            end++;
        } else {
            return -EINVAL;
        }
        total += v * mul;
        p = end;
    }
    if (total > 365.0 * 24 * 3600000)
        return -ERANGE;
    *ret = (uint64_t)total;
    return 0;
}
