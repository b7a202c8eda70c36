/* apiserver_priority: PriorityClasses and upstream's Priority admission plugin
 * (plugin/pkg/admission/priority): the built-in system classes exist from the start, a new pod
 * gets spec.priority and spec.preemptionPolicy from its priorityClassName (or from the global
 * default class), and class names, values and the single global default are checked as
 * upstream does. */
#include "apiserver_priority.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_object.h"
#include "apiserver_registry.h"

#define USER_PRIORITY_MAX 1000000000.0 /* upstream's HighestUserDefinablePriority */
#define MAX_CLASSES       10000        /* classes scanned for the global default */

static const struct {
    const char *name;
    double value;
    const char *description;
} system_classes[] = {
    {"system-node-critical", 2000001000,
     "Used for system critical pods that must not be moved from their current node."},
    {"system-cluster-critical", 2000000000,
     "Used for system critical pods that must run in the cluster, but can be moved to another "
     "node if necessary."},
};

static const apiserver_resource_t *pc_resource(void)
{
    return apiserver_resource_find("scheduling.k8s.io", "v1", "priorityclasses");
}

int apiserver_priority_bootstrap(apiserver_t *a, util_error_t *err)
{
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(system_classes); i++) {
        char key[256], uid[37], now[21];
        apiserver_registry_key(pc_resource(), "", system_classes[i].name, key, sizeof(key));
        apiserver_obj_uuid(uid);
        apiserver_obj_now(now);
        char *value = util_strdup_printf(
            "{\"kind\":\"PriorityClass\",\"apiVersion\":\"scheduling.k8s.io/v1\",\"metadata\":{"
            "\"name\":\"%s\",\"uid\":\"%s\",\"creationTimestamp\":\"%s\",\"generation\":1},"
            "\"value\":%.0f,\"description\":\"%s\",\"preemptionPolicy\":"
            "\"PreemptLowerPriority\"}",
            system_classes[i].name, uid, now, system_classes[i].value,
            system_classes[i].description);
        int rc = apiserver_registry_create_missing(a, key, value, err);
        free(value);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void forbidden(apiserver_conn_t *c, const apiserver_resource_t *r, const char *name,
                      const char *why)
{
    char qualified[128], msg[1024];
    apiserver_obj_qualified(r, qualified, sizeof(qualified));
    snprintf(msg, sizeof(msg), "%s \"%s\" is forbidden: %s", qualified, name, why);
    apiserver__respond_status(c, 403, "Forbidden", msg);
}

static cJSON *read_class(apiserver_t *a, const char *name)
{
    char key[512];
    apiserver_registry_key(pc_resource(), "", name, key, sizeof(key));
    store_kv_t *kv = NULL;
    if (store_get(a->opts.store, key, strlen(key), 0, &kv, NULL, NULL) < 0)
        return NULL;
    cJSON *pc = cJSON_ParseWithLength(kv->value, kv->value_len);
    free(kv);
    return pc;
}

/* The class marked globalDefault (the first, in name order), other than except; NULL if none. */
static cJSON *global_default(apiserver_t *a, const char *except)
{
    char prefix[256], end[256];
    apiserver_registry_prefix(pc_resource(), "", prefix, sizeof(prefix));
    size_t elen = store_prefix_end(prefix, strlen(prefix), end);
    store_list_t l = {0};
    cleanup_error util_error_t err = NULL;
    cJSON *found = NULL;
    if (store_range(a->opts.store, prefix, strlen(prefix), end, elen, 0, MAX_CLASSES, &l, &err) < 0)
        return NULL;
    for (size_t i = 0; i < l.n && !found; i++) {
        /* Stored objects are printed by cJSON, which writes a member's name as it is: a class
         * whose text lacks the name is not the default, and is not parsed (every pod create). */
        if (!memmem(l.kvs[i]->value, l.kvs[i]->value_len, "globalDefault", 13))
            continue;
        cJSON *pc = cJSON_ParseWithLength(l.kvs[i]->value, l.kvs[i]->value_len);
        const char *n =
            apiserver_obj_string(cJSON_GetObjectItemCaseSensitive(pc, "metadata"), "name");
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pc, "globalDefault")) &&
            (!except || !n || strcmp(n, except)))
            found = pc;
        else
            cJSON_Delete(pc);
    }
    store_list_free(&l);
    return found;
}

static int admit_class(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *pc,
                       const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(pc, "value");
    bool system = false;
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(system_classes); i++)
        system |= !strcmp(name, system_classes[i].name);
    if (!strncmp(name, "system-", 7) && !system) {
        forbidden(c, t->res, name, "priority class names with 'system-' prefix are reserved");
        return -1;
    }
    if (!cJSON_IsNumber(v)) {
        apiserver_status_invalid(c, t->res, name, "value", "null", "Required value");
        return -1;
    }
    if (!system && v->valuedouble > USER_PRIORITY_MAX) {
        char val[32];
        snprintf(val, sizeof(val), "%.0f", v->valuedouble);
        apiserver_status_invalid(c, t->res, name, "value", val,
                                 "maximum allowed value of a user defined priority is "
                                 "1000000000");
        return -1;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pc, "globalDefault"))) {
        cJSON *other = global_default(c->srv, name);
        if (other) {
            char why[512];
            snprintf(
                why, sizeof(why),
                "PriorityClass %s is already marked as default. Only one default can exist",
                apiserver_obj_string(cJSON_GetObjectItemCaseSensitive(other, "metadata"), "name"));
            cJSON_Delete(other);
            forbidden(c, t->res, name, why);
            return -1;
        }
    }
    if (!cJSON_GetObjectItemCaseSensitive(pc, "preemptionPolicy"))
        cJSON_AddStringToObject(pc, "preemptionPolicy", "PreemptLowerPriority");
    return 0;
}

static int admit_pod(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *pod, const char *name)
{
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
    if (!cJSON_IsObject(spec))
        return 0; /* validation answers that */
    const char *cls = apiserver_obj_string(spec, "priorityClassName");
    cJSON *pc = NULL;
    char why[512];
    if (cls && cls[0]) {
        pc = read_class(c->srv, cls);
        if (!pc) {
            snprintf(why, sizeof(why), "no PriorityClass with name %s was found", cls);
            forbidden(c, t->res, name, why);
            return -1;
        }
    } else {
        pc = global_default(c->srv, NULL);
        const char *dn =
            apiserver_obj_string(cJSON_GetObjectItemCaseSensitive(pc, "metadata"), "name");
        if (dn) {
            cJSON_DeleteItemFromObjectCaseSensitive(spec, "priorityClassName");
            cJSON_AddStringToObject(spec, "priorityClassName", dn);
        }
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(pc, "value");
    double priority = cJSON_IsNumber(v) ? v->valuedouble : 0;
    const char *policy = apiserver_obj_string(pc, "preemptionPolicy");
    if (!pc) /* no class and no global default: upstream's defaults */
        policy = "PreemptLowerPriority";
    const cJSON *have = cJSON_GetObjectItemCaseSensitive(spec, "priority");
    const char *have_policy = apiserver_obj_string(spec, "preemptionPolicy");
    int rc = 0;
    if (have && (!cJSON_IsNumber(have) || have->valuedouble != priority)) {
        snprintf(why, sizeof(why),
                 "the integer value of priority (%.0f) must not be provided in pod spec; priority "
                 "admission controller computed %.0f from the given PriorityClass name",
                 cJSON_IsNumber(have) ? have->valuedouble : 0, priority);
        rc = -1;
    } else if (policy && have_policy && strcmp(policy, have_policy)) {
        snprintf(why, sizeof(why),
                 "the string value of PreemptionPolicy (%s) must not be provided in pod spec; "
                 "priority admission controller computed %s from the given PriorityClass name",
                 have_policy, policy);
        rc = -1;
    }
    if (rc < 0) {
        cJSON_Delete(pc);
        forbidden(c, t->res, name, why);
        return -1;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "priority");
    cJSON_AddNumberToObject(spec, "priority", priority);
    if (policy) {
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "preemptionPolicy");
        cJSON_AddStringToObject(spec, "preemptionPolicy", policy);
    }
    cJSON_Delete(pc);
    return 0;
}

int apiserver_priority_admit(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj,
                             const char *name)
{
    if (apiserver_reg_is(t->res, "pods"))
        return admit_pod(c, t, obj, name);
    if (apiserver_reg_is(t->res, "priorityclasses"))
        return admit_class(c, t, obj, name);
    return 0;
}
