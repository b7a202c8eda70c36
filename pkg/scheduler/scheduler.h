/* scheduler: kube-scheduler's algorithm (filters, scores, queue) over cJSON Pods and Nodes. */
#ifndef KUBELING_SCHEDULER_H
#define KUBELING_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "util/util.h"

/* The pure core works on API objects as the apiserver serves them (JSON). It never does I/O:
 * a driver feeds it informer events (nodes, pods, services, PVCs, PVs, PriorityClasses),
 * pops pods from the queue, and carries out what the core returns (POST pods/binding, PATCH
 * pods/status, create Events). Semantics are upstream's default profile; deviations are in
 * docs/scheduler.md. Times are milliseconds on any monotonic clock the driver chooses. */

/* ------------------------------------------------------------------------------------------ */
/* Resources. */

typedef struct scheduler_resources {
    int64_t milli_cpu;
    int64_t memory;            /* bytes */
    int64_t ephemeral_storage; /* bytes */
    int64_t pods;
} scheduler_resources_t;

/* Upstream's PodRequests: max(sum of app containers + sidecars, each init container) +
 * overhead; a container with limits and no requests requests its limits. Negative or
 * unparsable quantities count as 0. When nonzero is set, containers without a cpu/memory
 * request count 100m / 200Mi (upstream's scoring defaults). pods is always 1. */
void scheduler_pod_requests(const cJSON *pod, bool nonzero, scheduler_resources_t *ret);
/* node.status.allocatable (cpu, memory, ephemeral-storage, pods). */
void scheduler_node_allocatable(const cJSON *node, scheduler_resources_t *ret);

/* ------------------------------------------------------------------------------------------ */
/* Cluster snapshot: nodes, the pods bound to them, and the objects filters consult. Objects
 * are copied in (the caller keeps its own). Updating an object with the same key replaces it. */

typedef struct scheduler_snapshot scheduler_snapshot_t;

scheduler_snapshot_t *scheduler_snapshot_new(void);
scheduler_snapshot_t *scheduler_snapshot_free(scheduler_snapshot_t *s);
int scheduler_snapshot_set_node(scheduler_snapshot_t *s, const cJSON *node, util_error_t *err);
void scheduler_snapshot_remove_node(scheduler_snapshot_t *s, const char *name);
/* A pod with spec.nodeName counts against that node (kept aside while the node is unknown);
 * a pod without one is ignored here (it belongs in the queue). Succeeded/Failed pods free
 * their resources and are dropped, as upstream's cache does. */
int scheduler_snapshot_set_pod(scheduler_snapshot_t *s, const cJSON *pod, util_error_t *err);
void scheduler_snapshot_remove_pod(scheduler_snapshot_t *s, const char *ns, const char *name);
/* Upstream's "assume": count pod on node_name before the binding is confirmed by a watch. */
int scheduler_snapshot_assume(scheduler_snapshot_t *s, const cJSON *pod, const char *node_name,
                              util_error_t *err);
/* Upstream's "forget" after a failed binding: drops pod's record only while it is still the
 * assumption on node_name (not a copy a watch confirmed meanwhile, not a pod of another uid),
 * and puts back its status.nominatedNodeName. True if an assumption was dropped. */
bool scheduler_snapshot_forget(scheduler_snapshot_t *s, const cJSON *pod, const char *node_name);
/* True while ns/name is counted as assumed (bound by us, not yet confirmed by a watch). */
bool scheduler_snapshot_is_assumed(const scheduler_snapshot_t *s, const char *ns, const char *name);
/* Pending pods nominated to a node by preemption (status.nominatedNodeName): _set records or
 * (for a pod without a nomination, bound or terminating) forgets it. */
void scheduler_snapshot_set_nominated(scheduler_snapshot_t *s, const cJSON *pod);
void scheduler_snapshot_remove_nominated(scheduler_snapshot_t *s, const char *ns, const char *name);
/* Services (default spreading), PersistentVolumeClaims and PersistentVolumes (volume node
 * affinity), PriorityClasses (queue priority when spec.priority is absent),
 * PodDisruptionBudgets (preemption victims). Keyed by kind,
 * namespace and name. */
int scheduler_snapshot_set_object(scheduler_snapshot_t *s, const cJSON *obj, util_error_t *err);
void scheduler_snapshot_remove_object(scheduler_snapshot_t *s, const char *kind, const char *ns,
                                      const char *name);
size_t scheduler_snapshot_node_count(const scheduler_snapshot_t *s);
/* What the snapshot counts as requested on a node (sum of its pods); false if unknown. */
bool scheduler_snapshot_node_requested(const scheduler_snapshot_t *s, const char *node,
                                       scheduler_resources_t *ret);

/* ------------------------------------------------------------------------------------------ */
/* One scheduling attempt. */

typedef struct scheduler_result {
    bool scheduled;
    char *node;    /* the chosen node (when scheduled) */
    char *message; /* upstream's FitError text (when not scheduled) */
    size_t feasible_nodes;
    /* Preemption (when not scheduled): the node the pod is nominated to and the pods to delete
     * there (copies, most important first); NULL when preemption found nothing. */
    char *nominated_node;
    cJSON *victims;
} scheduler_result_t;

typedef struct scheduler_algo scheduler_algo_t;

/* seed makes tie-breaking reproducible (tests, benchmarks). */
scheduler_algo_t *scheduler_algo_new(uint64_t seed);
scheduler_algo_t *scheduler_algo_free(scheduler_algo_t *a);
/* Runs filters and scores for pod against the snapshot, with the pods nominated to nodes
 * counted there (those of the pod's priority or higher), then preemption when no node fits
 * (the snapshot is changed during that what-if and restored). Never fails for bad input: a pod
 * that cannot be placed gets scheduled = false and the message kubectl describe would show. */
void scheduler_schedule(scheduler_algo_t *a, scheduler_snapshot_t *s, const cJSON *pod,
                        scheduler_result_t *ret);
void scheduler_result_free(scheduler_result_t *r);

/* Per-plugin access for tests and for explaining decisions: the filter reason(s) for node
 * (NULL when the node passes; caller frees), and a plugin's normalized score 0..100 among
 * the given candidate nodes. */
char *scheduler_filter_node(const scheduler_snapshot_t *s, const cJSON *pod, const char *node);

typedef enum {
    SCHEDULER_SCORE_LEAST_ALLOCATED,
    SCHEDULER_SCORE_BALANCED_ALLOCATION,
    SCHEDULER_SCORE_IMAGE_LOCALITY,
    SCHEDULER_SCORE_NODE_AFFINITY,
    SCHEDULER_SCORE_INTER_POD_AFFINITY,
    SCHEDULER_SCORE_TAINT_TOLERATION,
    SCHEDULER_SCORE_TOPOLOGY_SPREAD,
    SCHEDULER_SCORE_COUNT,
} scheduler_score_plugin_t;

/* Upstream's default weights (TaintToleration 3, NodeAffinity 2, PodTopologySpread 2,
 * InterPodAffinity 2, the others 1). */
int scheduler_score_weight(scheduler_score_plugin_t p);
/* Scores of plugin p for each of the n nodes (all must exist in s). */
void scheduler_score_nodes(const scheduler_snapshot_t *s, const cJSON *pod,
                           scheduler_score_plugin_t p, const char *const *nodes, size_t n,
                           int64_t *ret_scores);

/* ------------------------------------------------------------------------------------------ */
/* Pods and the API objects a driver writes. */

/* True for a pending pod this scheduler owns: no spec.nodeName, schedulerName empty,
 * "default-scheduler" or "kubeling", not terminating, not finished. */
bool scheduler_pod_is_ours(const cJSON *pod);
/* spec.priority, else the value of spec.priorityClassName's PriorityClass in s, else the
 * globalDefault PriorityClass, else 0. */
int32_t scheduler_pod_priority(const scheduler_snapshot_t *s, const cJSON *pod);
/* The Binding to POST to /api/v1/namespaces/<ns>/pods/<name>/binding. */
cJSON *scheduler_binding_json(const cJSON *pod, const char *node);
/* The strategic-merge patch for pods/<name>/status setting PodScheduled=False, reason
 * Unschedulable, with message. lastTransitionTime is now unless the pod already had
 * PodScheduled=False. now_wall is seconds since the epoch. */
cJSON *scheduler_unschedulable_patch_json(const cJSON *pod, const char *message, time_t now_wall);
/* The same with reason SchedulerError (a failed binding), also clearing a nominatedNodeName. */
cJSON *scheduler_bind_error_patch_json(const cJSON *pod, const char *message, time_t now_wall);
/* The FailedScheduling message of a failed binding: `running Bind plugin "DefaultBinder": ` and
 * the API's error (NULL: a generic one), at most 1,024 bytes; free() it. */
char *scheduler_bind_error_message(const char *error);
/* core/v1 Events from "default-scheduler": Warning FailedScheduling with message, or Normal
 * Scheduled "Successfully assigned <ns>/<name> to <node>". */
cJSON *scheduler_event_json(const cJSON *pod, const char *node, const char *message,
                            time_t now_wall);
/* Preemption: the Normal "Preempted" event on a victim ("Preempted by pod <uid> on node
 * <node>"), the status patch marking a victim DisruptionTarget=True reason
 * PreemptionByScheduler before it is deleted, and the status patch setting (node) or clearing
 * (NULL) a pod's nominatedNodeName. */
cJSON *scheduler_preempted_event_json(const cJSON *victim, const cJSON *preemptor, const char *node,
                                      time_t now_wall);
cJSON *scheduler_disruption_patch_json(const cJSON *preemptor, time_t now_wall);
cJSON *scheduler_nomination_patch_json(const char *node);

/* ------------------------------------------------------------------------------------------ */
/* Scheduling queue (upstream's PriorityQueue): activeQ ordered by priority then by the time
 * the pod entered the queue, backoffQ (1 s doubling to 10 s per attempt), and unschedulable
 * pods waiting for a cluster event (or 5 minutes). Keyed by namespace/name; pods are copied. */

typedef struct scheduler_queue scheduler_queue_t;

typedef enum {
    SCHEDULER_EVENT_NODE_ADD,
    SCHEDULER_EVENT_NODE_UPDATE,
    SCHEDULER_EVENT_POD_DELETE,
    SCHEDULER_EVENT_POD_UPDATE, /* an assigned pod changed (labels, etc.) */
    SCHEDULER_EVENT_OTHER,      /* services, PVs, PVCs */
} scheduler_event_t;

typedef enum {
    SCHEDULER_ATTEMPT_SCHEDULED,     /* bound: forget the pod */
    SCHEDULER_ATTEMPT_UNSCHEDULABLE, /* wait for a cluster event (and back off) */
    SCHEDULER_ATTEMPT_ERROR,         /* e.g. binding failed: back off and retry */
    SCHEDULER_ATTEMPT_GONE,          /* deleted or bound elsewhere meanwhile: forget the pod */
} scheduler_attempt_t;

#define SCHEDULER_BACKOFF_INITIAL_MS        1000
#define SCHEDULER_BACKOFF_MAX_MS            10000
#define SCHEDULER_UNSCHEDULABLE_MAX_WAIT_MS (5 * 60 * 1000)

scheduler_queue_t *scheduler_queue_new(void);
scheduler_queue_t *scheduler_queue_free(scheduler_queue_t *q);
/* Adds a pending pod, or updates it: an update of a pod parked as unschedulable moves it back
 * (to backoffQ while its back-off runs). priority as scheduler_pod_priority. */
void scheduler_queue_add(scheduler_queue_t *q, const cJSON *pod, int32_t priority, int64_t now);
void scheduler_queue_delete(scheduler_queue_t *q, const char *ns, const char *name);
/* The next pod to try (owned by the queue until scheduler_queue_done), or NULL. Moves pods
 * whose back-off expired (and unschedulable pods parked too long) to activeQ first. */
const cJSON *scheduler_queue_pop(scheduler_queue_t *q, int64_t now);
/* Reports the outcome of the attempt on the popped pod. */
void scheduler_queue_done(scheduler_queue_t *q, const cJSON *pod, scheduler_attempt_t outcome,
                          int64_t now);
/* A cluster event: unschedulable pods go back to activeQ (or backoffQ while backing off). */
void scheduler_queue_move_all(scheduler_queue_t *q, scheduler_event_t ev, int64_t now);
/* Milliseconds until the queue has something new to pop without an event (-1: never). */
int64_t scheduler_queue_next_wakeup(const scheduler_queue_t *q, int64_t now);
/* Counts for metrics and tests. */
void scheduler_queue_counts(const scheduler_queue_t *q, size_t *active, size_t *backoff,
                            size_t *unschedulable);

/* ------------------------------------------------------------------------------------------ */
/* The thin driver: glues snapshot, queue and algorithm to an API client through callbacks. */

/* Bindings a driver keeps in flight at most by default (upstream binds each pod in a goroutine
 * of its own; a bound keeps memory and the apiserver's queue finite). */
#define SCHEDULER_MAX_BINDINGS 128

/* What became of an asynchronous binding. */
typedef enum {
    SCHEDULER_BIND_OK,    /* 2xx: bound (Scheduled event) */
    SCHEDULER_BIND_ERROR, /* transport failure or other answer: forget, back off, retry */
    SCHEDULER_BIND_GONE,  /* 404 (pod deleted) or 409 (already bound): forget, do not retry */
} scheduler_bind_result_t;

/* The outcome of an HTTP answer to POST pods/<name>/binding (status 0: no answer). */
scheduler_bind_result_t scheduler_bind_result(int http_status);

typedef struct scheduler_ops {
    /* POST binding; 0 on success, < 0 on failure, 1 when sent asynchronously: the caller then
     * reports the answer with scheduler_bind_done while other pods are scheduled (up to the
     * driver's bound on bindings in flight). */
    int (*bind)(void *ud, const char *ns, const char *name, const cJSON *binding);
    /* PATCH (strategic merge) pods/<name>/status. */
    int (*patch_status)(void *ud, const char *ns, const char *name, const cJSON *patch);
    /* POST an Event in ns. */
    int (*emit_event)(void *ud, const char *ns, const cJSON *event);
    /* DELETE a preemption victim (uid as a precondition). */
    int (*delete_pod)(void *ud, const char *ns, const char *name, const char *uid);
} scheduler_ops_t;

typedef struct scheduler scheduler_t;

scheduler_t *scheduler_new(const scheduler_ops_t *ops, void *ud, uint64_t seed);
scheduler_t *scheduler_free(scheduler_t *s);
/* Informer callbacks: obj is the new object (for deletes, the last known one). */
void scheduler_on_node(scheduler_t *s, const cJSON *node, bool deleted, int64_t now);
void scheduler_on_pod(scheduler_t *s, const cJSON *pod, bool deleted, int64_t now);
void scheduler_on_object(scheduler_t *s, const cJSON *obj, bool deleted, int64_t now);
/* Bindings in flight at most (1..SCHEDULER_MAX_BINDINGS * 8; default SCHEDULER_MAX_BINDINGS). */
void scheduler_set_max_bindings(scheduler_t *s, size_t max);
/* Schedules at most one pod; returns 1 if a pod was tried, 0 if the queue had none (or as many
 * bindings as allowed are in flight). */
int scheduler_run_once(scheduler_t *s, int64_t now, time_t now_wall);
/* Asynchronous bindings in flight, and whether that is the most allowed (scheduler_run_once
 * then waits for an answer). */
size_t scheduler_bindings_in_flight(const scheduler_t *s);
bool scheduler_bindings_full(const scheduler_t *s);
/* The answer to the binding of pod ns/name (uid as in the Binding; NULL matches any) in
 * flight: OK binds (Scheduled event); ERROR forgets the assumption, records a FailedScheduling
 * event with error (the API's message or the transport error; NULL: a generic one) and sets
 * PodScheduled=False reason SchedulerError (as upstream's handleBindingCycleError, unless a watch
 * already brought the pod's binding or deletion), then retries after the back-off; GONE forgets
 * it and drops the pod from the queue (the watch brings its deletion or its binding). An answer
 * for no binding in flight is ignored. */
void scheduler_bind_done(scheduler_t *s, const char *ns, const char *name, const char *uid,
                         scheduler_bind_result_t res, const char *error, int64_t now,
                         time_t now_wall);
scheduler_queue_t *scheduler_get_queue(scheduler_t *s);

/* ---- running it (scheduler_run.c) --------------------------------------------------------- */

struct client_config;
typedef struct scheduler_runner scheduler_runner_t;
/* Informers on nodes, pods, services, PVCs, PVs and PriorityClasses through an API client made from
 * api (copied), scheduling on loop; bindings, PodScheduled=False patches and events go to the API.
 */
int scheduler_runner_start(uv_loop_t *loop, const struct client_config *api,
                           scheduler_runner_t **ret, util_error_t *err);
/* Stops informers and timers; memory goes once the loop has run the close callbacks. */
void scheduler_runner_stop(scheduler_runner_t *r);
scheduler_snapshot_t *scheduler_get_snapshot(scheduler_t *s);

#endif
