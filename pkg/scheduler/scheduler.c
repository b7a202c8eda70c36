/* scheduler: the thin driver joining informer events, the queue and the algorithm to the API
 * through callbacks (the API client supplies them). */
#include "scheduler/scheduler_internal.h"

#include <stdlib.h>
#include <string.h>

struct scheduler {
    scheduler_ops_t ops;
    void *ud;
    scheduler_snapshot_t *snap;
    scheduler_queue_t *queue;
    scheduler_algo_t *algo;
    /* a binding the client is still sending (bind returned 1) */
    const cJSON *binding_pod; /* owned by the queue while in flight */
    char binding_node[254];
};

scheduler_t *scheduler_new(const scheduler_ops_t *ops, void *ud, uint64_t seed)
{
    scheduler_t *s = util_xcalloc(1, sizeof(*s));
    s->ops = *ops;
    s->ud = ud;
    s->snap = scheduler_snapshot_new();
    s->queue = scheduler_queue_new();
    s->algo = scheduler_algo_new(seed);
    return s;
}

scheduler_t *scheduler_free(scheduler_t *s)
{
    if (!s)
        return NULL;
    scheduler_snapshot_free(s->snap);
    scheduler_queue_free(s->queue);
    scheduler_algo_free(s->algo);
    free(s);
    return NULL;
}

scheduler_queue_t *scheduler_get_queue(scheduler_t *s)
{
    return s->queue;
}

scheduler_snapshot_t *scheduler_get_snapshot(scheduler_t *s)
{
    return s->snap;
}

void scheduler_on_node(scheduler_t *s, const cJSON *node, bool deleted, int64_t now)
{
    const char *name = sched_str(node, "metadata.name");
    if (!name)
        return;
    if (deleted) {
        scheduler_snapshot_remove_node(s->snap, name);
        return;
    }
    bool known = sched_find_node(s->snap, name) != NULL;
    if (scheduler_snapshot_set_node(s->snap, node, NULL) == 0)
        scheduler_queue_move_all(
            s->queue, known ? SCHEDULER_EVENT_NODE_UPDATE : SCHEDULER_EVENT_NODE_ADD, now);
}

/* Pending pods of ours go to the queue; bound pods to the snapshot (an assumed pod is
 * replaced by its confirmed copy). */
void scheduler_on_pod(scheduler_t *s, const cJSON *pod, bool deleted, int64_t now)
{
    const char *ns = sched_str(pod, "metadata.namespace"), *name = sched_str(pod, "metadata.name");
    if (!name)
        return;
    ns = ns ? ns : "default";
    const char *node = sched_str(pod, "spec.nodeName");
    bool bound = node && *node;
    /* A pending copy of a pod we already assumed on a node is an event from before our
     * binding (upstream skips assumed pods the same way). */
    if (!deleted && !bound && sched_find_pod(s->snap, ns, name))
        return;
    if (deleted || !scheduler_pod_is_ours(pod))
        scheduler_queue_delete(s->queue, ns, name);
    if (deleted) {
        scheduler_snapshot_remove_nominated(s->snap, ns, name);
        scheduler_snapshot_remove_pod(s->snap, ns, name);
        if (bound)
            scheduler_queue_move_all(s->queue, SCHEDULER_EVENT_POD_DELETE, now);
        return;
    }
    if (bound) {
        scheduler_snapshot_set_pod(s->snap, pod, NULL);
        scheduler_queue_move_all(s->queue, SCHEDULER_EVENT_POD_UPDATE, now);
    } else {
        scheduler_snapshot_set_nominated(s->snap, pod);
        if (scheduler_pod_is_ours(pod))
            scheduler_queue_add(s->queue, pod, scheduler_pod_priority(s->snap, pod), now);
    }
}

void scheduler_on_object(scheduler_t *s, const cJSON *obj, bool deleted, int64_t now)
{
    if (deleted)
        scheduler_snapshot_remove_object(
            s->snap, sched_str(obj, "kind") ? sched_str(obj, "kind") : "",
            sched_str(obj, "metadata.namespace"),
            sched_str(obj, "metadata.name") ? sched_str(obj, "metadata.name") : "");
    else if (scheduler_snapshot_set_object(s->snap, obj, NULL) < 0)
        return;
    scheduler_queue_move_all(s->queue, SCHEDULER_EVENT_OTHER, now);
}

static void report_unschedulable(scheduler_t *s, const cJSON *pod, const char *ns, const char *name,
                                 const scheduler_result_t *r, time_t now_wall)
{
    const char *message = r->message;
    cJSON *patch = scheduler_unschedulable_patch_json(pod, message, now_wall);
    if (r->nominated_node)
        cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(patch, "status"),
                                "nominatedNodeName", r->nominated_node);
    cJSON *event = scheduler_event_json(pod, NULL, message, now_wall);
    if (s->ops.patch_status)
        s->ops.patch_status(s->ud, ns, name, patch);
    if (s->ops.emit_event)
        s->ops.emit_event(s->ud, ns, event);
    cJSON_Delete(patch);
    cJSON_Delete(event);
}

/* upstream's prepareCandidate: each victim is marked DisruptionTarget, deleted and told why;
 * lower-priority pods nominated to the same node lose their nomination (they may not fit any
 * more). */
static void preempt(scheduler_t *s, const cJSON *pod, const scheduler_result_t *r, time_t now_wall)
{
    const cJSON *v;
    cJSON *disruption = scheduler_disruption_patch_json(pod, now_wall);
    cJSON_ArrayForEach(v, r->victims)
    {
        const char *vns = sched_str(v, "metadata.namespace"),
                   *vname = sched_str(v, "metadata.name");
        if (!vname)
            continue;
        vns = vns ? vns : "default";
        if (s->ops.patch_status)
            s->ops.patch_status(s->ud, vns, vname, disruption);
        if (s->ops.delete_pod)
            s->ops.delete_pod(s->ud, vns, vname, sched_str(v, "metadata.uid"));
        cJSON *event = scheduler_preempted_event_json(v, pod, r->nominated_node, now_wall);
        if (s->ops.emit_event)
            s->ops.emit_event(s->ud, vns, event);
        cJSON_Delete(event);
    }
    cJSON_Delete(disruption);
    int32_t prio = scheduler_pod_priority(s->snap, pod);
    cJSON *clear = scheduler_nomination_patch_json(NULL);
    for (size_t i = 0; i < s->snap->nnominated; i++) {
        const sched_pod_t *p = s->snap->nominated[i];
        if (strcmp(p->node, r->nominated_node) == 0 &&
            scheduler_pod_priority(s->snap, p->obj) < prio && s->ops.patch_status)
            s->ops.patch_status(s->ud, p->ns, p->name, clear);
    }
    cJSON_Delete(clear);
}

int scheduler_run_once(scheduler_t *s, int64_t now, time_t now_wall)
{
    if (s->binding_pod)
        return 0;
    const cJSON *pod = scheduler_queue_pop(s->queue, now);
    if (!pod)
        return 0;
    const char *ns = sched_str(pod, "metadata.namespace"), *name = sched_str(pod, "metadata.name");
    ns = ns ? ns : "default";
    scheduler_result_t r;
    scheduler_schedule(s->algo, s->snap, pod, &r);
    if (!r.scheduled) {
        if (r.nominated_node)
            preempt(s, pod, &r, now_wall);
        report_unschedulable(s, pod, ns, name, &r, now_wall);
        scheduler_queue_done(s->queue, pod, SCHEDULER_ATTEMPT_UNSCHEDULABLE, now);
        scheduler_result_free(&r);
        return 1;
    }
    /* Assume first so the next cycle sees the node as used, as upstream's cache does; a
     * failed binding forgets the assumption and retries with back-off. */
    scheduler_snapshot_assume(s->snap, pod, r.node, NULL);
    cJSON *binding = scheduler_binding_json(pod, r.node);
    int rc = s->ops.bind ? s->ops.bind(s->ud, ns, name, binding) : -1;
    cJSON_Delete(binding);
    if (rc > 0) { /* asynchronous: scheduler_bind_done finishes the attempt */
        s->binding_pod = pod;
        util_strlcpy(s->binding_node, r.node, sizeof(s->binding_node));
    } else if (rc < 0) {
        scheduler_snapshot_remove_pod(s->snap, ns, name);
        scheduler_queue_done(s->queue, pod, SCHEDULER_ATTEMPT_ERROR, now);
    } else {
        cJSON *event = scheduler_event_json(pod, r.node, NULL, now_wall);
        if (s->ops.emit_event)
            s->ops.emit_event(s->ud, ns, event);
        cJSON_Delete(event);
        scheduler_queue_done(s->queue, pod, SCHEDULER_ATTEMPT_SCHEDULED, now);
    }
    scheduler_result_free(&r);
    return 1;
}

bool scheduler_binding(const scheduler_t *s)
{
    return s->binding_pod != NULL;
}

void scheduler_bind_done(scheduler_t *s, bool ok, int64_t now, time_t now_wall)
{
    const cJSON *pod = s->binding_pod;
    if (!pod)
        return;
    s->binding_pod = NULL;
    const char *ns = sched_str(pod, "metadata.namespace"), *name = sched_str(pod, "metadata.name");
    ns = ns ? ns : "default";
    if (!ok) { /* forget the assumption; retry after the back-off */
        scheduler_snapshot_remove_pod(s->snap, ns, name ? name : "");
        scheduler_queue_done(s->queue, pod, SCHEDULER_ATTEMPT_ERROR, now);
        return;
    }
    cJSON *event = scheduler_event_json(pod, s->binding_node, NULL, now_wall);
    if (s->ops.emit_event)
        s->ops.emit_event(s->ud, ns, event);
    cJSON_Delete(event);
    scheduler_queue_done(s->queue, pod, SCHEDULER_ATTEMPT_SCHEDULED, now);
}
