/* scheduler_api: which pods are ours, their priority, and the objects the driver writes. */
#include "scheduler/scheduler_internal.h"

#include "client/client.h"

#include <stdlib.h>
#include <string.h>

bool scheduler_pod_is_ours(const cJSON *pod)
{
    const char *node = sched_str(pod, "spec.nodeName");
    const char *name = sched_str(pod, "spec.schedulerName");
    const char *phase = sched_str(pod, "status.phase");
    if (!sched_str(pod, "metadata.name") || (node && *node))
        return false;
    if (sched_get(pod, "metadata.deletionTimestamp"))
        return false;
    if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
        return false;
    return !name || !*name || strcmp(name, "default-scheduler") == 0 ||
           strcmp(name, "kubeling") == 0;
}

static int32_t clamp_priority(double v)
{
    if (v > 2000001000.0) /* upstream's highest (system-node-critical) */
        return 2000001000;
    if (v < -2147483648.0)
        return INT32_MIN;
    return (int32_t)v;
}

int32_t scheduler_pod_priority(const scheduler_snapshot_t *s, const cJSON *pod)
{
    const cJSON *p = sched_get(pod, "spec.priority");
    if (cJSON_IsNumber(p))
        return clamp_priority(p->valuedouble);
    const char *cls = sched_str(pod, "spec.priorityClassName");
    const cJSON *o, *objects = s ? s->objects : NULL;
    cJSON_ArrayForEach(o, objects)
    {
        const char *kind = sched_str(o, "kind"), *name = sched_str(o, "metadata.name");
        if (!kind || strcmp(kind, "PriorityClass") != 0 || !name)
            continue;
        bool hit = cls && *cls ? strcmp(name, cls) == 0
                               : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "globalDefault"));
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "value");
        if (hit && cJSON_IsNumber(v))
            return clamp_priority(v->valuedouble);
    }
    return 0;
}

static void add_meta(cJSON *obj, const cJSON *pod)
{
    cJSON *meta = cJSON_AddObjectToObject(obj, "metadata");
    const char *ns = sched_str(pod, "metadata.namespace"), *uid = sched_str(pod, "metadata.uid");
    cJSON_AddStringToObject(meta, "name", sched_str(pod, "metadata.name"));
    cJSON_AddStringToObject(meta, "namespace", ns ? ns : "default");
    if (uid)
        cJSON_AddStringToObject(meta, "uid", uid);
}

/* As upstream's DefaultBinder: name, namespace and uid of the pod, target Node by name. */
cJSON *scheduler_binding_json(const cJSON *pod, const char *node)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "apiVersion", "v1");
    cJSON_AddStringToObject(b, "kind", "Binding");
    add_meta(b, pod);
    cJSON *target = cJSON_AddObjectToObject(b, "target");
    cJSON_AddStringToObject(target, "kind", "Node");
    cJSON_AddStringToObject(target, "name", node);
    return b;
}

static void rfc3339(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* PodScheduled=False with reason and message; the transition time stays when it was False. */
static cJSON *not_scheduled_patch(const cJSON *pod, const char *reason, const char *message,
                                  time_t now_wall)
{
    char ts[32];
    rfc3339(now_wall, ts, sizeof(ts));
    const char *transition = ts;
    const cJSON *c;
    cJSON_ArrayForEach(c, sched_get(pod, "status.conditions"))
    {
        const char *type = sched_str(c, "type"), *status = sched_str(c, "status");
        const char *last = sched_str(c, "lastTransitionTime");
        if (type && status && last && strcmp(type, "PodScheduled") == 0 &&
            strcmp(status, "False") == 0)
            transition = last;
    }
    cJSON *patch = cJSON_CreateObject();
    cJSON *conds = cJSON_AddArrayToObject(cJSON_AddObjectToObject(patch, "status"), "conditions");
    cJSON *cond = cJSON_CreateObject();
    cJSON_AddStringToObject(cond, "type", "PodScheduled");
    cJSON_AddStringToObject(cond, "status", "False");
    cJSON_AddNullToObject(cond, "lastProbeTime");
    cJSON_AddStringToObject(cond, "lastTransitionTime", transition);
    cJSON_AddStringToObject(cond, "reason", reason);
    cJSON_AddStringToObject(cond, "message", message);
    cJSON_AddItemToArray(conds, cond);
    return patch;
}

cJSON *scheduler_unschedulable_patch_json(const cJSON *pod, const char *message, time_t now_wall)
{
    return not_scheduled_patch(pod, "Unschedulable", message, now_wall);
}

cJSON *scheduler_bind_error_patch_json(const cJSON *pod, const char *message, time_t now_wall)
{
    cJSON *patch = not_scheduled_patch(pod, "SchedulerError", message, now_wall);
    const char *nominated = sched_str(pod, "status.nominatedNodeName");
    if (nominated && *nominated) /* upstream's clearNominatedNode */
        cJSON_AddNullToObject(cJSON_GetObjectItemCaseSensitive(patch, "status"),
                              "nominatedNodeName");
    return patch;
}

/* upstream's RunBindPlugins wraps the DefaultBinder's API error this way; the message is cut
 * to the Event note limit (1 KiB) as upstream's truncateMessage does. */
char *scheduler_bind_error_message(const char *error)
{
    char *msg = util_strdup_printf("running Bind plugin \"DefaultBinder\": %s",
                                   error && *error ? error : "the binding failed");
    if (strlen(msg) > 1024)
        strcpy(msg + 1024 - 4, " ...");
    return msg;
}

/* A core/v1 Event from default-scheduler about pod. */
static cJSON *event_json(const cJSON *pod, const char *type, const char *reason, const char *action,
                         const char *message, time_t now_wall)
{
    char ts[32];
    const char *ns = sched_str(pod, "metadata.namespace"), *name = sched_str(pod, "metadata.name");
    ns = ns ? ns : "default";
    rfc3339(now_wall, ts, sizeof(ts));
    /* the shared builder (pkg/client) names it <pod>.<hex nanoseconds>, as upstream */
    client_event_spec_t s = {
        .obj = {.kind = "Pod",
                .api_version = "v1",
                .ns = ns,
                .name = name ? name : "",
                .uid = sched_str(pod, "metadata.uid"),
                .resource_version = sched_str(pod, "metadata.resourceVersion")},
        .type = type,
        .reason = reason,
        .message = message ? message : "",
        .component = "default-scheduler",
        .reporting_instance = "default-scheduler",
        .action = action,
        .first_timestamp = ts,
        .last_timestamp = ts};
    cJSON *e = client_event_build(&s);
    return e;
}

cJSON *scheduler_event_json(const cJSON *pod, const char *node, const char *message,
                            time_t now_wall)
{
    if (!node)
        return event_json(pod, "Warning", "FailedScheduling", "Scheduling", message, now_wall);
    const char *ns = sched_str(pod, "metadata.namespace"), *name = sched_str(pod, "metadata.name");
    char *msg = util_strdup_printf("Successfully assigned %s/%s to %s", ns ? ns : "default",
                                   name ? name : "", node);
    cJSON *e = event_json(pod, "Normal", "Scheduled", "Binding", msg, now_wall);
    free(msg);
    return e;
}

cJSON *scheduler_preempted_event_json(const cJSON *victim, const cJSON *preemptor, const char *node,
                                      time_t now_wall)
{
    const char *uid = sched_str(preemptor, "metadata.uid");
    char *msg = util_strdup_printf("Preempted by pod %s on node %s", uid ? uid : "", node);
    cJSON *e = event_json(victim, "Normal", "Preempted", "Preempting", msg, now_wall);
    free(msg);
    return e;
}

cJSON *scheduler_disruption_patch_json(const cJSON *preemptor, time_t now_wall)
{
    char ts[32];
    rfc3339(now_wall, ts, sizeof(ts));
    const char *sched = sched_str(preemptor, "spec.schedulerName");
    char *msg = util_strdup_printf("%s: preempting to accommodate a higher priority pod",
                                   sched && *sched ? sched : "default-scheduler");
    cJSON *patch = cJSON_CreateObject();
    cJSON *conds = cJSON_AddArrayToObject(cJSON_AddObjectToObject(patch, "status"), "conditions");
    cJSON *cond = cJSON_CreateObject();
    cJSON_AddStringToObject(cond, "type", "DisruptionTarget");
    cJSON_AddStringToObject(cond, "status", "True");
    cJSON_AddNullToObject(cond, "lastProbeTime");
    cJSON_AddStringToObject(cond, "lastTransitionTime", ts);
    cJSON_AddStringToObject(cond, "reason", "PreemptionByScheduler");
    cJSON_AddStringToObject(cond, "message", msg);
    cJSON_AddItemToArray(conds, cond);
    free(msg);
    return patch;
}

cJSON *scheduler_nomination_patch_json(const char *node)
{
    cJSON *patch = cJSON_CreateObject();
    cJSON *status = cJSON_AddObjectToObject(patch, "status");
    if (node)
        cJSON_AddStringToObject(status, "nominatedNodeName", node);
    else
        cJSON_AddNullToObject(status, "nominatedNodeName");
    return patch;
}
