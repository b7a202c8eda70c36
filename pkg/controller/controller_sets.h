/* controller_sets: what the StatefulSet and DaemonSet controllers share inside the manager (not
 * a public interface): their informers, queues and expectations, and the writes they issue. */
#ifndef KUBELING_CONTROLLER_SETS_H
#define KUBELING_CONTROLLER_SETS_H

#include "controller/controller_internal.h"

extern const client_resource_t CONTROLLER_RES_STS;
extern const client_resource_t CONTROLLER_RES_DS;
extern const client_resource_t CONTROLLER_RES_CR;
extern const client_resource_t CONTROLLER_RES_PVC;

enum { SETS_INF_STS, SETS_INF_DS, SETS_INF_CR, SETS_INF_NODES, SETS_INF_PVC, SETS_INF_COUNT };
typedef enum { SETS_STS, SETS_DS } sets_kind_t;

typedef struct ctrl_sets_ctx {
    controller_manager_t *m;
    int inf;
} ctrl_sets_ctx_t;

typedef struct sets_backoff {
    char *key; /* "ns/ds/node" */
    uint64_t delay_ms, until_ms;
} sets_backoff_t;

typedef struct ctrl_sets {
    client_informer_t *inf[SETS_INF_COUNT];
    ctrl_sets_ctx_t ctx[SETS_INF_COUNT];
    bool synced[SETS_INF_COUNT];
    controller_queue_t *q[2];       /* by sets_kind_t */
    controller_expect_t *expect[2]; /* pod creations and deletions in flight */
    sets_backoff_t *backoff;        /* failed daemon pods, per DaemonSet and node */
    size_t nbackoff, capbackoff;
} ctrl_sets_t;

/* upstream's failedPodsBackoff (1 s doubling up to 15 min) for key "ns/ds/node": the ms still
 * to wait (0: not backing off), and the next step (a failed pod is being deleted now). */
#define SETS_BACKOFF_MIN_MS 1000ull
#define SETS_BACKOFF_MAX_MS (15ull * 60 * 1000)
uint64_t sets_backoff_wait(controller_manager_t *m, const char *key, uint64_t now);
void sets_backoff_next(controller_manager_t *m, const char *key, uint64_t now);

/* What a write does when answered: the expectation it settles, the events it records. */
typedef enum { SETS_EXPECT_NONE, SETS_EXPECT_CREATE, SETS_EXPECT_DELETE } sets_expect_t;

typedef struct sets_write_opts {
    sets_kind_t kind;
    const char *key;      /* the set */
    const cJSON *parent;  /* the set, for events */
    sets_expect_t expect; /* creations (count 1) or the deletion of uid */
    const char *uid;
    bool conflict_ok;   /* a create answered 409 AlreadyExists counts as done */
    const char *ok_msg; /* Normal event on success: reason SuccessfulCreate/SuccessfulDelete */
    const char *ok_reason;
    bool ok_append_name;     /* the created object's name follows ok_msg */
    const char *fail_reason; /* Warning event on failure, message fail_msg + ": " + error */
    const char *fail_msg;
} sets_write_opts_t;

/* Creates obj (res in ns), deletes name, or merge-patches it (sub: NULL or "status"). */
void sets_create(controller_manager_t *m, const sets_write_opts_t *o, const client_resource_t *res,
                 const char *ns, const cJSON *obj);
void sets_delete(controller_manager_t *m, const sets_write_opts_t *o, const client_resource_t *res,
                 const char *ns, const char *name);
void sets_patch(controller_manager_t *m, const sets_write_opts_t *o, const client_resource_t *res,
                const char *ns, const char *name, const char *sub, const cJSON *patch);

/* The pods (inf < 0) or revisions (SETS_INF_CR) of set, as upstream's ControllerRefManager
 * claims them: those with its controller reference that its selector matches, plus matching
 * orphans, which are adopted (StatefulSets adopt only pods named `<set>-<ordinal>`); its own
 * that stop matching are released. A malloc'd array of cache pointers, valid until the next
 * informer event. */
const cJSON **sets_owned(controller_manager_t *m, sets_kind_t kind, const cJSON *set, int inf,
                         size_t *ret_n);
bool sets_deleting(const cJSON *obj);
/* Running, Ready condition True and not terminating (upstream isRunningAndReady). */
bool sets_pod_running_ready(const cJSON *pod);

/* The update revision of a set: an existing one whose data equals the set's (its revision
 * renumbered to be the newest when it is not), or NULL after a new one was asked for or a hash
 * collision counted (the sync then waits for the informer). hash: the revision's hash label
 * value; for DaemonSets the template hash (upstream names DaemonSet revisions by it). */
const cJSON *sets_update_revision(controller_manager_t *m, sets_kind_t kind, const char *key,
                                  const cJSON *set, const cJSON **revs, size_t nrevs);
/* Deletes revisions beyond spec.revisionHistoryLimit that no live name refers to. */
void sets_prune_history(controller_manager_t *m, sets_kind_t kind, const char *key,
                        const cJSON *set, const cJSON **revs, size_t nrevs, const char *const *live,
                        size_t nlive);

int ctrl_sts_sync(controller_manager_t *m, const char *key);
int ctrl_ds_sync(controller_manager_t *m, const char *key);

#endif
