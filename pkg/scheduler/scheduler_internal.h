/* scheduler_internal: the snapshot's node and pod records shared by filters and scores. */
#ifndef KUBELING_SCHEDULER_INTERNAL_H
#define KUBELING_SCHEDULER_INTERNAL_H

#include "scheduler/scheduler.h"

struct sched_node;

typedef struct sched_pod {
    char *ns, *name, *node;
    struct sched_node *on; /* the node record it is attached to; NULL while an orphan */
    cJSON *obj;
    scheduler_resources_t req, nonzero;
    bool has_anti;                     /* has required pod anti-affinity */
    const cJSON *anti_terms;           /* its required anti-affinity terms (inside obj) */
    struct labels_selector **anti_sel; /* their selectors, parsed once */
    size_t nanti_sel;
    bool assumed;      /* counted from our binding, not yet confirmed by a watch */
    bool has_affinity; /* has spec.affinity (inter-pod scoring looks at such pods only) */
} sched_pod_t;

typedef struct sched_node {
    char *name;
    cJSON *obj;
    const cJSON *labels; /* metadata.labels inside obj, may be NULL */
    cJSON *taints;       /* spec.taints plus the not-ready taint we infer, owned array */
    scheduler_resources_t alloc, requested, nonzero_requested;
    sched_pod_t **pods;
    size_t npods, cap;
    size_t nanti;     /* pods with required anti-affinity */
    size_t naffinity; /* pods with spec.affinity */
} sched_node_t;

struct scheduler_snapshot {
    sched_node_t **nodes;
    size_t nnodes, cap;
    sched_pod_t **orphans; /* bound to nodes we do not know (yet) */
    size_t norphans, orphans_cap;
    cJSON *objects;          /* owned array: Services, PVCs, PVs, PriorityClasses, PDBs */
    sched_pod_t **nominated; /* pending pods with status.nominatedNodeName (node = that node) */
    size_t nnominated, nominated_cap;
    /* Open-addressing index of the bound and assumed pods (on nodes and orphans) by
     * namespace/name: every watch event and binding looks a pod up. */
    sched_pod_t **index;
    size_t index_cap, index_used; /* used: live entries and tombstones */
};

/* Filter status codes, as upstream's framework.Code. */
typedef enum {
    SCHED_OK = 0,
    SCHED_UNSCHEDULABLE,
    SCHED_UNRESOLVABLE, /* UnschedulableAndUnresolvable: preemption cannot help */
} sched_code_t;

#define SCHED_MAX_REASONS 4

typedef struct sched_status {
    sched_code_t code;
    size_t nreasons;
    char *reasons[SCHED_MAX_REASONS]; /* owned */
} sched_status_t;

void sched_status_add(sched_status_t *st, sched_code_t code, const char *reason);
void sched_status_clear(sched_status_t *st);

/* Adds p to n's pods and sums; _resum recomputes n's sums from its pods. */
void sched_node_attach(sched_node_t *n, sched_pod_t *p);
void sched_node_resum(sched_node_t *n);

sched_node_t *sched_find_node(const scheduler_snapshot_t *s, const char *name);
/* FNV-1a of "ns/name", for the pod indexes of the snapshot and the queue. */
size_t sched_key_hash(const char *ns, const char *name);
/* The snapshot's record of pod ns/name (bound or assumed), or NULL. */
const sched_pod_t *sched_find_pod(const scheduler_snapshot_t *s, const char *ns, const char *name);
const cJSON *sched_find_object(const scheduler_snapshot_t *s, const char *kind, const char *ns,
                               const char *name);
const char *sched_str(const cJSON *obj, const char *path); /* "a.b.c" string or NULL */
const cJSON *sched_get(const cJSON *obj, const char *path);
const char *sched_label(const cJSON *labels, const char *key);

/* What the inter-pod affinity and topology spread filters precompute once per pod
 * (scheduler_affinity.c), like upstream's PreFilter state. */
typedef struct sched_cycle sched_cycle_t;
sched_cycle_t *sched_cycle_new(const scheduler_snapshot_t *s, const cJSON *pod);
sched_cycle_t *sched_cycle_free(sched_cycle_t *cy);

/* Filters (scheduler_filter.c). A failing status fills st. */
void sched_prefilter(const scheduler_snapshot_t *s, const cJSON *pod, sched_status_t *st);
void sched_filter(const scheduler_snapshot_t *s, const sched_cycle_t *cy, const cJSON *pod,
                  const sched_node_t *n, sched_status_t *st);
/* Tolerations (scheduler_filter.c). */
bool sched_tolerates(const cJSON *tolerations, const cJSON *taint);
/* nodeSelector + required node affinity (scheduler_affinity.c). */
bool sched_node_matches_pod_affinity(const cJSON *pod, const sched_node_t *n);
bool sched_node_selector_term_matches(const cJSON *term, const sched_node_t *n);
/* Inter-pod affinity terms (scheduler_affinity.c). */
bool sched_term_matches_pod(const cJSON *term, const char *term_ns, const sched_pod_t *p);
bool sched_term_matches_obj(const cJSON *term, const char *term_ns, const cJSON *pod);
void sched_filter_inter_pod(const sched_cycle_t *cy, const cJSON *pod, const sched_node_t *n,
                            sched_status_t *st);
void sched_filter_topology_spread(const sched_cycle_t *cy, const sched_node_t *n,
                                  sched_status_t *st);

/* Scores of plugin p for candidate nodes (scheduler_score.c); req: the pod's non-zero
 * requests. */
void sched_score(const scheduler_snapshot_t *s, const cJSON *pod, scheduler_score_plugin_t p,
                 const scheduler_resources_t *req, sched_node_t *const *nodes, size_t n,
                 int64_t *ret);

/* Nominated pods (scheduler_preempt.c): those of pod's priority or higher, other than pod, are
 * put on their nominated nodes while pod is filtered (upstream's
 * RunFilterPluginsWithNominatedPods); _remove takes them off again and frees the array. */
size_t sched_nominated_add(scheduler_snapshot_t *s, const cJSON *pod, sched_pod_t ***ret);
void sched_nominated_remove(scheduler_snapshot_t *s, sched_pod_t **added, size_t n);

/* Preemption (scheduler_preempt.c) after every node failed with statuses st: fills
 * ret->nominated_node and ret->victims when deleting victims makes pod fit, else counts each
 * node's preemption verdict with add(hist, reason); *ret_msg is set instead when pod may not
 * preempt (upstream's "not eligible ..." texts). The snapshot is the same afterwards. */
typedef void (*sched_hist_fn)(void *hist, const char *reason);
void sched_preempt(scheduler_snapshot_t *s, const cJSON *pod, const sched_status_t *st,
                   sched_hist_fn add, void *hist, scheduler_result_t *ret, const char **ret_msg);

#endif
