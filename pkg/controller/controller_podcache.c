/* controller_podcache: what the controller manager's shared pod informer keeps of a pod (its
 * client-go SetTransform). A full pod is ~15 KiB as a cJSON tree; the controllers read a small
 * part of it, listed here with who reads it (docs/controllers.md, "The pod cache"):
 *
 *   metadata      everything but managedFields and the annotations other than the Job's
 *                 completion index (the only pod annotation a controller reads): labels,
 *                 ownerReferences, finalizers, deletionTimestamp, uid, creationTimestamp
 *   spec          nodeName (ranking, DaemonSet, endpoints, node lifecycle), tolerations (taint
 *                 eviction, of pods on a node only), hostname and subdomain (endpoints),
 * affinity.nodeAffinity (DaemonSet's target node), containers[] {name, ports, resources.requests}
 *                 (named target ports; HPA requests), initContainers[] the same plus
 *                 restartPolicy (sidecar ports)
 *   status        phase, conditions, podIP, startTime (HPA), containerStatuses[] and
 *                 initContainerStatuses[] {name, restartCount, state.terminated {exitCode,
 *                 finishedAt}} (ranking, Job backoff and pod failure policy)
 *
 * Nothing else is read: no controller writes a cached pod back (pods are patched), and new pods
 * are built from the owners' templates, never from a cached pod.
 *
 * What is kept is then made smaller in memory: member names and values that Kubernetes objects
 * repeat ("metadata", "name", well-known label keys, "Pending", "TCP") point to one static copy
 * instead of a heap string each; the garbage collector's trimmed caches do the same. */
#include "controller/controller.h"
#include "controller/controller_internal.h"

#include <stdlib.h>
#include <string.h>

static cJSON *member(cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* Keeps of object o only the members named in keep (NULL-terminated); o may be NULL. The GC's
 * cache trimming (controller_gc_monitor.c) uses it too. */
void ctrl_keep_only(cJSON *o, const char *const *keep)
{
    if (!cJSON_IsObject(o))
        return;
    for (cJSON *c = o->child, *next; c; c = next) {
        next = c->next;
        bool kept = false;
        for (const char *const *k = keep; *k && !kept; k++)
            kept = c->string && !strcmp(c->string, *k);
        if (!kept)
            cJSON_Delete(cJSON_DetachItemViaPointer(o, c));
    }
}

/* ---- shared strings ---------------------------------------------------------------------------
 */

/* Member names and string values Kubernetes objects repeat (field names, well-known label keys,
 * phases, condition types, toleration keys); sorted by strcmp for bsearch (the unit test checks
 * the order). */
static const char *const INTERNED[] = {"Always",
                                       "Completed",
                                       "ContainersReady",
                                       "DaemonSet",
                                       "DisruptionTarget",
                                       "Equal",
                                       "Error",
                                       "Exists",
                                       "Failed",
                                       "False",
                                       "Initialized",
                                       "Job",
                                       "Never",
                                       "NoExecute",
                                       "NoSchedule",
                                       "OnFailure",
                                       "Pending",
                                       "Pod",
                                       "PodCompleted",
                                       "PodReadyToStartContainers",
                                       "PodScheduled",
                                       "PreferNoSchedule",
                                       "Ready",
                                       "ReplicaSet",
                                       "ReplicationController",
                                       "Running",
                                       "SCTP",
                                       "StatefulSet",
                                       "Succeeded",
                                       "TCP",
                                       "True",
                                       "UDP",
                                       "Unknown",
                                       "affinity",
                                       "annotations",
                                       "apiVersion",
                                       "app",
                                       "apps.kubernetes.io/pod-index",
                                       "apps/v1",
                                       "batch.kubernetes.io/controller-uid",
                                       "batch.kubernetes.io/job-completion-index",
                                       "batch.kubernetes.io/job-name",
                                       "batch/v1",
                                       "blockOwnerDeletion",
                                       "conditions",
                                       "containerPort",
                                       "containerStatuses",
                                       "containers",
                                       "controller",
                                       "controller-revision-hash",
                                       "controller-uid",
                                       "cpu",
                                       "creationTimestamp",
                                       "default",
                                       "deletionGracePeriodSeconds",
                                       "deletionTimestamp",
                                       "effect",
                                       "exitCode",
                                       "finalizers",
                                       "finishedAt",
                                       "generateName",
                                       "generation",
                                       "hostname",
                                       "initContainerStatuses",
                                       "initContainers",
                                       "job-name",
                                       "key",
                                       "kind",
                                       "kube-system",
                                       "labels",
                                       "lastProbeTime",
                                       "lastTransitionTime",
                                       "memory",
                                       "message",
                                       "metadata",
                                       "name",
                                       "namespace",
                                       "node.kubernetes.io/not-ready",
                                       "node.kubernetes.io/unreachable",
                                       "nodeAffinity",
                                       "nodeName",
                                       "operator",
                                       "ownerReferences",
                                       "phase",
                                       "pod-template-generation",
                                       "pod-template-hash",
                                       "podIP",
                                       "ports",
                                       "protocol",
                                       "reason",
                                       "requests",
                                       "resourceVersion",
                                       "resources",
                                       "restartCount",
                                       "restartPolicy",
                                       "spec",
                                       "startTime",
                                       "state",
                                       "statefulset.kubernetes.io/pod-name",
                                       "status",
                                       "subdomain",
                                       "terminated",
                                       "tolerationSeconds",
                                       "tolerations",
                                       "type",
                                       "uid",
                                       "v1",
                                       "value"};

#define NINTERNED (sizeof(INTERNED) / sizeof(INTERNED[0]))

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

const char *controller_interned(const char *s)
{
    const char *const *hit = bsearch(s, INTERNED, NINTERNED, sizeof(INTERNED[0]), cmp_name);
    return hit ? *hit : NULL;
}

bool controller_interned_sorted(void)
{
    for (size_t i = 1; i < NINTERNED; i++)
        if (strcmp(INTERNED[i - 1], INTERNED[i]) >= 0)
            return false;
    return true;
}

/* A member name in the table points to the static copy (cJSON_StringIsConst: cJSON_Delete does
 * not free it, cJSON_Duplicate keeps the pointer); a string value too, as cJSON's own string
 * references (cJSON_IsReference on a string: not freed, copied by cJSON_Duplicate). Cached
 * objects are never written in place, so neither is ever written. */
void controller_intern_strings(cJSON *obj)
{
    for (cJSON *c = obj ? obj->child : NULL; c; c = c->next) {
        const char *shared;
        if (c->string && !(c->type & cJSON_StringIsConst) &&
            (shared = controller_interned(c->string))) {
            cJSON_free(c->string);
            c->string = (char *)shared;
            c->type |= cJSON_StringIsConst;
        }
        if (cJSON_IsString(c) && !(c->type & cJSON_IsReference) &&
            (shared = controller_interned(c->valuestring))) {
            cJSON_free(c->valuestring);
            c->valuestring = (char *)shared;
            c->type |= cJSON_IsReference;
        }
        if (c->child)
            controller_intern_strings(c);
    }
}

/* ---- the pod cache ----------------------------------------------------------------------------
 */

/* Applies ctrl_keep_only(item, keep) to every element of the array o's member k. */
static void keep_in_items(cJSON *o, const char *k, const char *const *keep, void (*more)(cJSON *))
{
    cJSON *item;
    cJSON_ArrayForEach(item, member(o, k))
    {
        ctrl_keep_only(item, keep);
        if (more)
            more(item);
    }
}

static void trim_container(cJSON *c)
{
    static const char *const resources[] = {"requests", NULL};
    ctrl_keep_only(member(c, "resources"), resources);
}

static void trim_container_status(cJSON *cs)
{
    static const char *const state[] = {"terminated", NULL};
    static const char *const terminated[] = {"exitCode", "finishedAt", NULL};
    cJSON *st = member(cs, "state");
    ctrl_keep_only(st, state);
    ctrl_keep_only(member(st, "terminated"), terminated);
}

void controller_pod_cache_trim(void *ud, cJSON *pod)
{
    (void)ud;
    static const char *const top[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
    static const char *const spec[] = {"nodeName", "tolerations", "hostname",       "subdomain",
                                       "affinity", "containers",  "initContainers", NULL};
    static const char *const affinity[] = {"nodeAffinity", NULL};
    static const char *const container[] = {"name", "ports", "resources", NULL};
    static const char *const init_container[] = {"name", "ports", "resources", "restartPolicy",
                                                 NULL};
    static const char *const status[] = {"phase",     "conditions",        "podIP",
                                         "startTime", "containerStatuses", "initContainerStatuses",
                                         NULL};
    static const char *const container_status[] = {"name", "restartCount", "state", NULL};
    if (!cJSON_IsObject(pod))
        return;
    ctrl_keep_only(pod, top);
    cJSON *meta = member(pod, "metadata");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "managedFields");
    static const char *const annotations[] = {"batch.kubernetes.io/job-completion-index", NULL};
    cJSON *ann = member(meta, "annotations");
    ctrl_keep_only(ann, annotations);
    if (cJSON_IsObject(ann) && !ann->child)
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "annotations");
    cJSON *sp = member(pod, "spec");
    ctrl_keep_only(sp, spec);
    ctrl_keep_only(member(sp, "affinity"), affinity);
    keep_in_items(sp, "containers", container, trim_container);
    keep_in_items(sp, "initContainers", init_container, trim_container);
    /* Tolerations matter only for taint eviction from the pod's node; a pending pod's come back
     * with the update that binds it (spec.nodeName is set once, with the whole pod). */
    const char *node = cJSON_GetStringValue(member(sp, "nodeName"));
    if (!node || !*node)
        cJSON_DeleteItemFromObjectCaseSensitive(sp, "tolerations");
    cJSON *st = member(pod, "status");
    ctrl_keep_only(st, status);
    keep_in_items(st, "containerStatuses", container_status, trim_container_status);
    keep_in_items(st, "initContainerStatuses", container_status, trim_container_status);
    controller_intern_strings(pod);
}
