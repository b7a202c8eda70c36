/* controller_internal: what the controller manager's files share (not a public interface). */
#ifndef KUBELING_CONTROLLER_INTERNAL_H
#define KUBELING_CONTROLLER_INTERNAL_H

#include "client/client.h"
#include "controller/controller.h"

extern const client_resource_t CONTROLLER_RES_RS;
extern const client_resource_t CONTROLLER_RES_DEPLOY;
extern const client_resource_t CONTROLLER_RES_RC;

enum {
    CTRL_INF_PODS,
    CTRL_INF_RS,
    CTRL_INF_DEPLOY,
    CTRL_INF_RC,
    CTRL_INF_JOBS,
    CTRL_INF_CRONJOBS,
    CTRL_INF_COUNT
};

typedef struct ctrl_jobs ctrl_jobs_t;         /* the Job controller's per-job memory */
typedef struct ctrl_cronjobs ctrl_cronjobs_t; /* the CronJob controller's */

typedef struct ctrl_pending ctrl_pending_t; /* a write in flight, freed at stop if unanswered */
typedef struct ctrl_podidx ctrl_podidx_t;   /* pods by controller UID (controller_podindex.c) */

typedef struct ctrl_inf_ctx {
    struct controller_manager *m;
    int kind;
} ctrl_inf_ctx_t;

struct controller_manager {
    uv_loop_t *loop;
    client_t *client;
    client_informer_t *inf[CTRL_INF_COUNT];
    ctrl_inf_ctx_t ctx[CTRL_INF_COUNT];
    bool synced[CTRL_INF_COUNT];
    controller_queue_t *rsq, *dq, *rcq;
    controller_expect_t *expect, *rc_expect; /* ReplicaSets and Deployments; RCs */
    controller_queue_t *jobq, *cjq;          /* Jobs (and TTL-after-finished); CronJobs */
    controller_expect_t *job_expect;
    ctrl_jobs_t *jobs;
    ctrl_cronjobs_t *cronjobs;
    ctrl_pending_t *pending;
    ctrl_podidx_t *podidx;            /* the pod informer's pods by controller, while it runs */
    struct ctrl_rs_batch *rs_batches; /* ReplicaSets' create bursts in flight */
    uv_timer_t timer;
    /* leader election */
    char *id;
    bool leading;
    uint64_t renewed_ms;
    controller_lease_obs_t obs;
    uv_timer_t lease_timer;
    int closing;
    bool stopped;
    unsigned event_seq;
    struct ctrl_ep *ep;     /* Endpoints/EndpointSlice controllers, while leading */
    struct ctrl_nl *nl;     /* node lifecycle controller, while leading */
    uint64_t node_grace_ms; /* --node-monitor-grace-period */
    struct ctrl_sets *sets; /* StatefulSets and DaemonSets (controller_sets_run.c) */
    struct ctrl_hpa *hpa;   /* HorizontalPodAutoscalers (controller_hpa.c), while leading */
    struct ctrl_gc *gc;     /* garbage collector and housekeeping (controller_gc.c) */
    struct ctrl_ipam *ipam; /* node IPAM (controller_nodeipam.c), while leading */
    bool ipam_off;          /* --allocate-node-cidrs=false */
    char *ipam_cidr;        /* --cluster-cidr */
    int ipam_mask;          /* --node-cidr-mask-size */
};

uint64_t ctrl_now(const controller_manager_t *m);
void ctrl_kick(controller_manager_t *m);
const cJSON *ctrl_get(const cJSON *o, const char *k);
/* Keeps of object o (may be NULL) only the members named in keep (NULL-terminated). */
void ctrl_keep_only(cJSON *o, const char *const *keep);
const char *ctrl_str(const cJSON *o, const char *k);
int64_t ctrl_int(const cJSON *o, const char *k, int64_t def);
/* "ns/name" of obj, malloc'd. */
char *ctrl_key(const cJSON *obj);
/* A write in flight: issue the request with ctrl_pending_cb and the node from ctrl_pending_new;
 * done(m, ud, res) runs on the answer (res->status 0 when the request could not be sent); when
 * the manager stops first, free_ud(ud) runs instead. */
typedef void (*ctrl_done_fn)(controller_manager_t *m, void *ud, client_result_t *res);
ctrl_pending_t *ctrl_pending_new(controller_manager_t *m, ctrl_done_fn done, void *ud,
                                 void (*free_ud)(void *));
void ctrl_pending_cb(void *node, client_result_t *res);
/* Checks what client_* returned: NULL answers the node at once with an error. */
void ctrl_pending_sent(ctrl_pending_t *p, client_req_t *req);
/* A patch whose answer only matters for logging. */
client_req_t *ctrl_patch(controller_manager_t *m, const client_resource_t *r, const char *ns,
                         const char *name, const char *sub, const cJSON *patch);
/* A Normal/Warning event on obj (kind, apiVersion given) from component. */
void ctrl_event(controller_manager_t *m, const cJSON *obj, const char *kind,
                const char *api_version, const char *type, const char *reason,
                const char *component, const char *fmt, ...) __attribute__((format(printf, 8, 9)));

/* ReplicaSet controller (controller_replicaset.c): 0 done, < 0 retry with back-off, > 0 look
 * again after that many ms. */
int ctrl_rs_sync(controller_manager_t *m, const char *key);
/* The same for ReplicationControllers (a map selector, kind v1 ReplicationController). */
int ctrl_rc_sync(controller_manager_t *m, const char *key);
void ctrl_rs_on_pod(controller_manager_t *m, const cJSON *old, const cJSON *pod, bool deleted);

/* The pod index (controller_podindex.c): the pod informer's pods by controller UID (orphans by
 * namespace), each with what the ReplicaSet controller reads of it. Fed every pod informer event
 * before the controllers. */
typedef struct ctrl_pod_facts {
    const cJSON *pod;           /* the informer's object: valid until the next pod event */
    const char *ns;             /* metadata.namespace */
    const cJSON *labels;        /* metadata.labels (NULL: none) */
    bool controlled;            /* has a controller reference */
    const char *controller_uid; /* its uid (NULL: none) */
    bool deleting;              /* deletionTimestamp set */
    bool active;                /* controller_pod_active */
    bool ready;                 /* controller_pod_ready */
    int64_t ready_time;         /* controller_pod_ready_time */
} ctrl_pod_facts_t;
void ctrl_pod_facts(const cJSON *pod, ctrl_pod_facts_t *f);
ctrl_podidx_t *ctrl_podidx_new(void);
void ctrl_podidx_free(ctrl_podidx_t *x);
void ctrl_podidx_update(ctrl_podidx_t *x, const cJSON *pod, bool deleted);
/* Calls fn for the cached pods whose controller reference has UID uid and for the orphans (no
 * controller reference) of namespace ns: a superset of what a controller with that UID in ns may
 * own or adopt. x NULL: every pod of the informer pods. fn must not change the cache. */
void ctrl_podidx_foreach(const ctrl_podidx_t *x, const client_informer_t *pods, const char *ns,
                         const char *uid, void (*fn)(void *ud, const ctrl_pod_facts_t *f),
                         void *ud);
/* Deployment controller (controller_deployment.c). */
int ctrl_deploy_sync(controller_manager_t *m, const char *key);
void ctrl_deploy_on_rs(controller_manager_t *m, const cJSON *old, const cJSON *rs, bool deleted);

/* Controllers with informers and queues of their own (controller_endpoints.c,
 * controller_nodelifecycle.c): started and stopped with leadership, fed pod events, run by the
 * manager's timer (_next: ms until due, -1 idle; _run_one: ran a key). */
int ctrl_ep_start(controller_manager_t *m, util_error_t *err);
void ctrl_ep_stop(controller_manager_t *m);
void ctrl_ep_on_pod(controller_manager_t *m, const cJSON *old, const cJSON *pod, bool deleted);
int64_t ctrl_ep_next(controller_manager_t *m, uint64_t now);
bool ctrl_ep_run_one(controller_manager_t *m, uint64_t now);
int ctrl_nl_start(controller_manager_t *m, util_error_t *err);
void ctrl_nl_stop(controller_manager_t *m);
void ctrl_nl_on_pod(controller_manager_t *m, const cJSON *old, const cJSON *pod, bool deleted);
int64_t ctrl_nl_next(controller_manager_t *m, uint64_t now);
bool ctrl_nl_run_one(controller_manager_t *m, uint64_t now);
/* node name -> topology.kubernetes.io/zone for the nodes of pods (NULL without nodes). */
cJSON *ctrl_nl_zones(controller_manager_t *m, const cJSON *const *pods, size_t n);
/* StatefulSet and DaemonSet controllers (controller_sets_run.c): their own informers, queues and
 * expectations; the manager starts and stops them with its informers and runs their keys. */
int ctrl_sets_start(controller_manager_t *m, util_error_t *err);
void ctrl_sets_stop(controller_manager_t *m);
void ctrl_sets_free(controller_manager_t *m);
bool ctrl_sets_synced(const controller_manager_t *m);
int64_t ctrl_sets_next(controller_manager_t *m, uint64_t now);
bool ctrl_sets_run_one(controller_manager_t *m, uint64_t now);
void ctrl_sets_on_pod(controller_manager_t *m, const cJSON *old, const cJSON *pod, bool deleted);
/* Garbage collector, pod GC, service accounts and kube-root-ca.crt (controller_gc*.c): made
 * with the manager, running while it leads. */
struct ctrl_gc *ctrl_gc_new(controller_manager_t *m, const char *ca_pem);
void ctrl_gc_start(struct ctrl_gc *gc);
void ctrl_gc_stop(struct ctrl_gc *gc);
void ctrl_gc_free(struct ctrl_gc *gc);
/* Job controller (controller_job.c) and CronJob controller (controller_cronjob.c). */
int ctrl_job_sync(controller_manager_t *m, const char *key);
void ctrl_job_on_pod(controller_manager_t *m, const cJSON *old, const cJSON *pod, bool deleted);
void ctrl_job_on_job(controller_manager_t *m, const cJSON *job, bool deleted);
void ctrl_jobs_free(ctrl_jobs_t *j);
/* Releases the tracking finalizer of pods whose Job is gone (after the caches are synced). */
void ctrl_job_release_orphans(controller_manager_t *m);
void ctrl_cronjobs_free(ctrl_cronjobs_t *c);
int ctrl_cronjob_sync(controller_manager_t *m, const char *key);
void ctrl_cronjob_on_job(controller_manager_t *m, const cJSON *old, const cJSON *job, bool deleted);

/* The HorizontalPodAutoscaler controller (controller_hpa.c): its informer and queue, started and
 * stopped with leadership, run by the manager's timer. */
extern const client_resource_t CONTROLLER_RES_HPA;
int ctrl_hpa_start(controller_manager_t *m, util_error_t *err);
void ctrl_hpa_stop(controller_manager_t *m);
int64_t ctrl_hpa_next(controller_manager_t *m, uint64_t now);
bool ctrl_hpa_run_one(controller_manager_t *m, uint64_t now);

/* The node IPAM controller (controller_nodeipam.c): its informer and queue, started and stopped
 * with leadership (not at all with --allocate-node-cidrs=false); _free at the manager's end. */
int ctrl_ipam_start(controller_manager_t *m, util_error_t *err);
void ctrl_ipam_stop(controller_manager_t *m);
void ctrl_ipam_free(controller_manager_t *m);
int64_t ctrl_ipam_next(controller_manager_t *m, uint64_t now);
bool ctrl_ipam_run_one(controller_manager_t *m, uint64_t now);

#endif
