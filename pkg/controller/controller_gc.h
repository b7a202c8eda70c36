/* controller_gc: what the garbage collector's files share: the dependency graph and decisions
 * (controller_gc_graph.c, pure, unit-tested), the running collector (controller_gc.c,
 * controller_gc_monitor.c, controller_gc_delete.c) and the housekeeping controllers beside it
 * (controller_gc_house.c: pod GC, service accounts, kube-root-ca.crt). Internal to
 * pkg/controller and its tests. */
#ifndef KUBELING_CONTROLLER_GC_H
#define KUBELING_CONTROLLER_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "util/util.h"

#define CONTROLLER_GC_FIN_ORPHAN     "orphan"
#define CONTROLLER_GC_FIN_FOREGROUND "foregroundDeletion"

/* ---- the graph (upstream's GraphBuilder over uidToNode) ----------------------------------- */

typedef struct controller_gc_ref {
    char *api_version, *kind, *name, *uid;
    bool block;      /* blockOwnerDeletion */
    bool controller; /* controller: true */
} controller_gc_ref_t;

typedef struct controller_gc_node {
    char *uid, *api_version, *kind, *ns, *name; /* ns "" when cluster-scoped */
    controller_gc_ref_t *owners;
    size_t nowners;
    struct controller_gc_node **deps; /* dependents: objects naming this one as an owner */
    size_t ndeps, capdeps;
    bool virt;                /* known only from a dependent's ownerReference */
    bool being_deleted;       /* deletionTimestamp set */
    bool deleting_dependents; /* being deleted with the foregroundDeletion finalizer */
    struct controller_gc_node *next;
} controller_gc_node_t;

/* What the graph asks of the collector: look at uid (attemptToDelete) or orphan its dependents
 * (attemptToOrphan). */
typedef struct controller_gc_hooks {
    void (*attempt_delete)(void *ud, const char *uid);
    void (*attempt_orphan)(void *ud, const char *uid);
    /* dep names ref, an owner seen in another namespace (upstream's OwnerRefInvalidNamespace);
     * may be NULL */
    void (*invalid_namespace)(void *ud, const struct controller_gc_node *dep,
                              const controller_gc_ref_t *ref);
} controller_gc_hooks_t;

typedef struct controller_gc_graph controller_gc_graph_t;

controller_gc_graph_t *controller_gc_graph_new(const controller_gc_hooks_t *h, void *ud);
void controller_gc_graph_free(controller_gc_graph_t *g);
/* An object seen by an informer (add: old NULL; update: the previous version). */
void controller_gc_observe(controller_gc_graph_t *g, const cJSON *old, const cJSON *obj);
/* An object gone (informer delete). */
void controller_gc_forget(controller_gc_graph_t *g, const cJSON *obj);
/* The API server says the object of this identity does not exist (a live GET answered 404 or
 * another uid): upstream's virtual delete event. */
void controller_gc_virtual_delete(controller_gc_graph_t *g, const controller_gc_node_t *identity);
controller_gc_node_t *controller_gc_node(const controller_gc_graph_t *g, const char *uid);
size_t controller_gc_count(const controller_gc_graph_t *g);
/* Dependents of n holding an ownerReference to it with blockOwnerDeletion. */
size_t controller_gc_blocking(const controller_gc_node_t *n, controller_gc_node_t ***ret);
/* Owners verified absent (uid, and the namespace for namespaced owners), bounded. */
void controller_gc_absent_add(controller_gc_graph_t *g, const char *uid, const char *ns);
bool controller_gc_absent_has(const controller_gc_graph_t *g, const char *uid, const char *ns);

/* ---- decisions (upstream attemptToDeleteItem) ---------------------------------------------- */

typedef enum {
    CONTROLLER_GC_KEEP,          /* a solid owner and nothing dangling: nothing to do */
    CONTROLLER_GC_REMOVE_REFS,   /* solid owners remain: drop dangling/waiting references */
    CONTROLLER_GC_UNBLOCK_FG,    /* drop blockOwnerDeletion, then delete in the foreground */
    CONTROLLER_GC_DELETE_FG,     /* an owner waits for us and we have dependents */
    CONTROLLER_GC_DELETE_BG,     /* no owner left */
    CONTROLLER_GC_DELETE_ORPHAN, /* no owner left, the object carries the orphan finalizer */
} controller_gc_action_t;

/* solid: owners that exist and are not deleting their dependents; dangling: absent owners;
 * waiting: owners being deleted in the foreground. finalizers: the item's. */
controller_gc_action_t controller_gc_decide(size_t solid, size_t dangling, size_t waiting,
                                            const controller_gc_node_t *item,
                                            const cJSON *finalizers);
bool controller_gc_has_finalizer(const cJSON *obj, const char *name);

/* ---- pod GC (controller_gc_pods.c) ------------------------------------------------------- */

/* Of n terminated pods (Succeeded/Failed), how many go over threshold (upstream
 * gcTerminated: count - threshold, none when threshold <= 0). */
size_t controller_podgc_excess(size_t terminated, long threshold);
/* Orders pods oldest first (creationTimestamp, then name), for the terminated-pod GC. */
int controller_podgc_older(const void *a, const void *b);

/* ---- the running collector and housekeeping --------------------------------------------- */

#include "controller/controller_internal.h"

#define CONTROLLER_POD_GC_THRESHOLD 12500 /* --terminated-pod-gc-threshold default */

typedef struct ctrl_gc_res { /* a monitored resource (from discovery) */
    char *group, *version, *plural, *kind;
    client_resource_t res;
    client_informer_t *inf;
    bool synced, seen;
    struct ctrl_gc *gc;
} ctrl_gc_res_t;

struct ctrl_gc {
    controller_manager_t *m;
    controller_gc_graph_t *graph;
    ctrl_gc_res_t **res;
    size_t nres;
    controller_queue_t *q; /* "d/UID", "o/UID", "sa/NS", "ca/NS", "pgc" */
    uv_timer_t timer, disc_timer;
    unsigned inflight, epoch, disc_pending, closed;
    bool running, disc_failed, disc_again;
    uint64_t started_ms;
    char *ca_pem;
    long pod_gc_threshold;
    util_strv_t disc; /* "group|version|plural|kind|namespaced" found by the discovery under way */
    util_strv_t
        missing_nodes; /* pod GC: "node since-ms" for nodes of pods missing from the cache */
};

/* controller_gc_monitor.c: discovery, informers, resources */
const ctrl_gc_res_t *ctrl_gc_resource(const struct ctrl_gc *gc, const char *group,
                                      const char *plural);
/* The resource of an apiVersion/kind (upstream's REST mapping; any served version). */
const ctrl_gc_res_t *ctrl_gc_resource_of_kind(const struct ctrl_gc *gc, const char *api_version,
                                              const char *kind);
/* Runs discovery (one at a time; again after the one under way when asked meanwhile). */
void ctrl_gc_discover(struct ctrl_gc *gc);
void ctrl_gc_res_free(ctrl_gc_res_t *r);

/* controller_gc_delete.c: the processing of "d/UID" and "o/UID" keys (ends in ctrl_gc_finish) */
void ctrl_gc_attempt_delete(struct ctrl_gc *gc, const char *key, const char *uid);
void ctrl_gc_attempt_orphan(struct ctrl_gc *gc, const char *key, const char *uid);

/* controller_gc.c */
/* Runs due keys now or arms the timer for the next one. */
void ctrl_gc_kick(struct ctrl_gc *gc);
bool ctrl_gc_ok(const client_result_t *res); /* a 2xx answer */
/* A request whose answer runs done(gc, ud, res), or free_ud(ud) when dropped. */
typedef void (*ctrl_gc_done_fn)(struct ctrl_gc *gc, void *ud, client_result_t *res);
ctrl_pending_t *ctrl_gc_pending(struct ctrl_gc *gc, ctrl_gc_done_fn done, void *ud,
                                void (*free_ud)(void *));
/* Ends the processing of key: rc < 0 retries with back-off, > 0 looks again after rc ms. */
void ctrl_gc_finish(struct ctrl_gc *gc, const char *key, int rc);
/* Requests of the collector: done(gc, ud, res) runs on the answer unless the collector stopped
 * meanwhile (a lost lease), then free_ud(ud) runs instead. */
void ctrl_gc_get(struct ctrl_gc *gc, const client_resource_t *r, const char *ns, const char *name,
                 ctrl_gc_done_fn done, void *ud, void (*free_ud)(void *));
void ctrl_gc_patch(struct ctrl_gc *gc, const client_resource_t *r, const char *ns, const char *name,
                   const cJSON *patch, ctrl_gc_done_fn done, void *ud, void (*free_ud)(void *));
/* A DELETE with DeleteOptions: uid/rv preconditions (NULL: none), policy (NULL: none), grace
 * (< 0: none). */
void ctrl_gc_delete(struct ctrl_gc *gc, const client_resource_t *r, const char *ns,
                    const char *name, const char *uid, const char *rv, const char *policy,
                    int64_t grace, ctrl_gc_done_fn done, void *ud, void (*free_ud)(void *));
/* A strategic merge patch of the status subresource. */
void ctrl_gc_patch_status(struct ctrl_gc *gc, const client_resource_t *r, const char *ns,
                          const char *name, const cJSON *patch, ctrl_gc_done_fn done, void *ud,
                          void (*free_ud)(void *));
/* A create (POST) of obj in ns. */
void ctrl_gc_create(struct ctrl_gc *gc, const client_resource_t *r, const char *ns,
                    const cJSON *obj, ctrl_gc_done_fn done, void *ud, void (*free_ud)(void *));
/* A PUT of obj. */
void ctrl_gc_update(struct ctrl_gc *gc, const client_resource_t *r, const cJSON *obj,
                    ctrl_gc_done_fn done, void *ud, void (*free_ud)(void *));

/* controller_gc_house.c: informer events and keys of pod GC, service accounts, root CA */
void ctrl_gc_house_event(struct ctrl_gc *gc, const ctrl_gc_res_t *r, const cJSON *old,
                         const cJSON *obj, bool deleted);
/* Runs a housekeeping key ("sa/NS", "ca/NS", "pgc"); false when key is not one. */
bool ctrl_gc_house_run(struct ctrl_gc *gc, const char *key);

#endif
