/* scheduler: the thin driver joining informer events, the queue and the algorithm to the API
 * through callbacks (the API client supplies them). */
#include "scheduler/scheduler_internal.h"

#include <stdlib.h>
#include <string.h>

/* A binding the client is still sending (bind returned 1). */
typedef struct binding {
    const cJSON *pod; /* owned by the queue while in flight */
    char *node;
} binding_t;

struct scheduler {
    scheduler_ops_t ops;
    void *ud;
    scheduler_snapshot_t *snap;
    scheduler_queue_t *queue;
    scheduler_algo_t *algo;
    binding_t *bindings; /* in flight, in no particular order */
    size_t nbindings, max_bindings;
};

scheduler_t *scheduler_new(const scheduler_ops_t *ops, void *ud, uint64_t seed)
{
    scheduler_t *s = util_xcalloc(1, sizeof(*s));
    s->ops = *ops;
    s->ud = ud;
    s->snap = scheduler_snapshot_new();
    s->queue = scheduler_queue_new();
    s->algo = scheduler_algo_new(seed);
    scheduler_set_max_bindings(s, SCHEDULER_MAX_BINDINGS);
    return s;
}

scheduler_t *scheduler_free(scheduler_t *s)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < s->nbindings; i++)
        free(s->bindings[i].node);
    free(s->bindings);
    scheduler_snapshot_free(s->snap);
    scheduler_queue_free(s->queue);
    scheduler_algo_free(s->algo);
    free(s);
    return NULL;
}

void scheduler_set_max_bindings(scheduler_t *s, size_t max)
{
    if (max < 1)
        max = 1;
    if (max > SCHEDULER_MAX_BINDINGS * 8)
        max = SCHEDULER_MAX_BINDINGS * 8;
    if (max < s->nbindings) /* the ones in flight still finish */
        max = s->nbindings;
    s->bindings = util_xrealloc(s->bindings, max * sizeof(*s->bindings));
    s->max_bindings = max;
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

/* upstream's handleBindingCycleError: the assumption is forgotten (by the caller) and the
 * failure reported as a scheduling error: a FailedScheduling event and PodScheduled=False
 * reason SchedulerError with the binding's error. */
static void report_bind_error(scheduler_t *s, const cJSON *pod, const char *ns, const char *name,
                              const char *error, time_t now_wall)
{
    char *msg = scheduler_bind_error_message(error);
    cJSON *patch = scheduler_bind_error_patch_json(pod, msg, now_wall);
    cJSON *event = scheduler_event_json(pod, NULL, msg, now_wall);
    if (s->ops.patch_status)
        s->ops.patch_status(s->ud, ns, name, patch);
    if (s->ops.emit_event)
        s->ops.emit_event(s->ud, ns, event);
    cJSON_Delete(patch);
    cJSON_Delete(event);
    free(msg);
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
    if (s->nbindings >= s->max_bindings)
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
    /* Assume first so the next cycles see the node as used, as upstream's cache does, also
     * while the binding is on its way; a failed binding forgets the assumption. */
    scheduler_snapshot_assume(s->snap, pod, r.node, NULL);
    cJSON *binding = scheduler_binding_json(pod, r.node);
    int rc = s->ops.bind ? s->ops.bind(s->ud, ns, name, binding) : -1;
    cJSON_Delete(binding);
    if (rc > 0) { /* asynchronous: scheduler_bind_done finishes the attempt */
        s->bindings[s->nbindings++] = (binding_t){pod, r.node};
        r.node = NULL;
    } else if (rc < 0) {
        if (scheduler_snapshot_forget(s->snap, pod, r.node))
            report_bind_error(s, pod, ns, name, "the binding request could not be sent", now_wall);
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

size_t scheduler_bindings_in_flight(const scheduler_t *s)
{
    return s->nbindings;
}

bool scheduler_bindings_full(const scheduler_t *s)
{
    return s->nbindings >= s->max_bindings;
}

scheduler_bind_result_t scheduler_bind_result(int http_status)
{
    if (http_status >= 200 && http_status < 300)
        return SCHEDULER_BIND_OK;
    if (http_status == 404 || http_status == 409)
        return SCHEDULER_BIND_GONE;
    return SCHEDULER_BIND_ERROR;
}

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

void scheduler_bind_done(scheduler_t *s, const char *ns, const char *name, const char *uid,
                         scheduler_bind_result_t res, const char *error, int64_t now,
                         time_t now_wall)
{
    ns = ns ? ns : "default";
    size_t i = 0;
    for (; i < s->nbindings; i++) {
        const cJSON *p = s->bindings[i].pod;
        const char *pns = sched_str(p, "metadata.namespace");
        if (same(pns ? pns : "default", ns) && same(sched_str(p, "metadata.name"), name) &&
            (!uid || same(sched_str(p, "metadata.uid"), uid)))
            break;
    }
    if (i == s->nbindings || !name)
        return;
    binding_t b = s->bindings[i];
    s->bindings[i] = s->bindings[--s->nbindings];
    if (res != SCHEDULER_BIND_OK) {
        /* Forget the assumption (unless a watch already brought the pod's real binding); an
         * error retries after the back-off, a pod deleted or bound elsewhere is not retried:
         * the watch brings its deletion or its node. */
        if (scheduler_snapshot_forget(s->snap, b.pod, b.node) && res == SCHEDULER_BIND_ERROR)
            report_bind_error(s, b.pod, ns, name, error, now_wall);
        scheduler_queue_done(
            s->queue, b.pod,
            res == SCHEDULER_BIND_GONE ? SCHEDULER_ATTEMPT_GONE : SCHEDULER_ATTEMPT_ERROR, now);
        free(b.node);
        return;
    }
    cJSON *event = scheduler_event_json(b.pod, b.node, NULL, now_wall);
    if (s->ops.emit_event)
        s->ops.emit_event(s->ud, ns, event);
    cJSON_Delete(event);
    scheduler_queue_done(s->queue, b.pod, SCHEDULER_ATTEMPT_SCHEDULED, now);
    free(b.node);
}
