/* kubelet_pods_internal: the pod machinery's state, shared by kubelet_pods.c (the state
 * machine, informer, deletion), kubelet_pods_work.c (thread-pool jobs) and
 * kubelet_pods_status.c (container exits and status posts). Not part of the interface. */
#ifndef KUBELING_KUBELET_PODS_INTERNAL_H
#define KUBELING_KUBELET_PODS_INTERNAL_H

#include "kubelet/kubelet.h"
#include "kubelet_internal.h"

#include <stdlib.h>
#include <string.h>

#include "podnet/podnet.h"
#include "runtime/runtime.h"

#define LOG_MAX_SIZE     (10 * 1024 * 1024)
#define LOG_MAX_FILES    5
#define MAX_CTRS         64
#define BACKOFF_RESET_NS (600ll * 1000000000) /* upstream: 2 x MaxContainerBackOff */

typedef struct kubelet_pods kpods_t;
typedef struct kpod kpod_t;
typedef struct kprobe kprobe_t;
typedef struct kstatic kstatic_t;

typedef struct kctr {
    kpod_t *pod;
    char *name, *image, *image_id;
    bool init;
    char id[RUNTIME_ID_MAX + 1]; /* the runtime container of the current attempt, or "" */
    int attempt;                 /* of id; the next one is attempt + 1 */
    kubelet_cstate_t state;
    const char *reason; /* static strings */
    char message[512];
    int64_t started_ns;
    kubelet_term_t term, last;
    char term_cid[RUNTIME_ID_MAX + 16], last_cid[RUNTIME_ID_MAX + 16];
    char *term_msg, *last_msg; /* owned; the termination message is up to 4096 bytes */
    bool has_last;
    int restarts, pull_failures;
    int backoff_n;     /* crash-loop back-off steps; reset after 10 minutes of running */
    uint64_t retry_at; /* loop time before which it is not started again */
    uv_poll_t *poll;   /* watching the shim for the exit */
    int watch_fd;
    /* probes (kubelet_probe.c): liveness, readiness, startup of the running attempt */
    kprobe_t *probes[3];
    bool not_ready, not_started;
    /* killContainer (kubelet_lifecycle.c) */
    bool killing, term_sent;
    int64_t kill_grace;     /* seconds, before the preStop hook's share */
    uint64_t prestop_start; /* loop time the preStop hook began, 0 when none */
    unsigned kill_gen;      /* tells a late preStop answer from the current kill */
    uv_timer_t *kill_timer; /* preStop deadline, then SIGKILL */
} kctr_t;

struct kpod {
    kpods_t *ps;
    kpod_t *next;
    char *uid, *ns, *name;
    cJSON *obj; /* the latest from the informer; NULL for an orphan found at start */
    char ip[16];
    bool sandbox, busy, deleting, gone, torn_down, delete_sent, adopted;
    bool net_released;
    bool vol_dirty; /* config objects or labels changed: rewrite the volumes (W_VOLUMES) */
    kctr_t ctrs[MAX_CTRS];
    size_t n;
    char start_time[40];
    char *posted;
    client_req_t *status_req, *delete_req;
    bool status_dirty;
    bool sandbox_synced; /* the sync right after the sandbox: a job it queues posts the status */
    uv_timer_t *timer;
    bool is_static; /* from a manifest file (kubelet_static.c); its API object is a mirror */
    bool net_wait;  /* waits for the pod CIDR (kubelet_pods_offline.c), logged */
    bool admitted;  /* counted against --max-pods (kubelet_admit.c) */
    char *reject_reason, *reject_message; /* rejected at admission: never runs */
    char *file;
    uint64_t seen_ns; /* monotonic: first seen by the informer (timings logged at -v 2) */
};

struct kubelet_pods {
    kubelet_t *k;
    runtime_t *rt;
    podnet_t *pn;
    images_store_t *images;
    uv_mutex_t img_mu;
    /* the pod network: shared by setups and teardowns of different pods (podnet orders them
     * with its own file locks), exclusive to open it and to reconcile */
    uv_rwlock_t pn_mu;
    client_informer_t *informer;
    kpod_t *pods;
    util_strv_t adopted; /* container ids found at start, until the informer has synced */
    bool ready, synced, started, stopping, failed;
    int works;
    char *agent_dir;
    client_recorder_t *recorder; /* kubelet_events.c */
    time_t started_at;           /* pod directories older than this may be orphans */
    struct kubelet_config *cfg;  /* configmap/secret/pvc/pv informers (kubelet_config.c) */
    kstatic_t *st;               /* static pods (kubelet_static.c) */
};

typedef enum {
    W_INIT,
    W_SANDBOX,
    W_START,
    W_TEARDOWN,
    W_RELEASE,
    W_RECONCILE,
    W_VOLUMES
} work_kind_t;

typedef struct work {
    uv_work_t req;
    kpods_t *ps;
    work_kind_t kind;
    kpod_t *pod;
    size_t ci;
    char *cname; /* W_START: the container */
    bool cinit;
    cJSON *obj; /* copy of the pod */
    char *uid, *ns, *name;
    char old_id[RUNTIME_ID_MAX + 1];
    char new_id[RUNTIME_ID_MAX + 1];
    char ip[16];
    const char *reason; /* on failure: ErrImagePull, CreateContainerError, ... */
    char message[512];
    char *image_id;
    cJSON *refs; /* W_START, W_VOLUMES: the config objects the pod uses */
    int64_t node_cpu_milli, node_memory, node_storage;
    int rc;
    util_strv_t live; /* W_RECONCILE */
    char host_ip[64], node[256];
    char pod_cidr[48]; /* the pod network's, "" while none is known (W_INIT, W_SANDBOX) */
    /* W_START: events to write once back on the loop, and a failed postStart hook */
    struct {
        const char *type, *reason;
        char message[1024]; /* upstream's events are cut at 1 KiB */
        bool node;          /* W_SANDBOX: about the node (MissingClusterDNS) */
    } ev[6];
    int nev;
    bool poststart_failed;
    uint64_t queued_ns, begun_ns, ended_ns; /* monotonic, for the -v 2 timings */
} work_t;

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t kubelet__mono_ns(void);

/* One run of a probe or a preStop hook on the thread pool (kubelet_lifecycle.c). It names its
 * container by pod uid, container name and id, so the pod may go away meanwhile. */
typedef enum { HJ_PROBE, HJ_PRESTOP } hjob_kind_t;

typedef struct krun_result {
    kubelet_probe_result_t result;
    int exit_code; /* exec: the command's; httpGet: the status code */
    bool timed_out;
    char output[1024]; /* exec: stdout and stderr; otherwise the error or answer */
} krun_result_t;

typedef struct hjob {
    uv_work_t req;
    kpods_t *ps;
    hjob_kind_t kind;
    kubelet_probe_type_t ptype;
    unsigned gen;
    char uid[RUNTIME_ID_MAX + 1], cname[256], cid[RUNTIME_ID_MAX + 1], ip[16];
    kubelet_handler_t handler; /* owned */
    uint64_t timeout_ms;
    krun_result_t res;
} hjob_t;

static inline const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static inline const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(jget(o, k));
}

/* Replaces an owned string with a copy of src (NULL stays NULL). */
static inline void kubelet__set_str(char **dst, const char *src)
{
    free(*dst);
    *dst = src ? util_xstrdup(src) : NULL;
}

static inline const char *kubelet__restart_policy(const kpod_t *p)
{
    const char *rp = jstr(jget(p->obj, "spec"), "restartPolicy");
    return rp && *rp ? rp : "Always";
}

/* kubelet_pull.c: pulls ref with the pod's pull secrets and registries.yaml (img_mu held). */
int kubelet__pull(work_t *w, const char *ref, util_error_t *err);

/* kubelet_pods.c */
void kubelet__pod_sync(kpod_t *p);
kpod_t *kubelet__pod_find(kpods_t *ps, const char *uid);
/* The container's spec in the pod (NULL for orphans). */
const cJSON *kubelet__ctr_spec(const kctr_t *c);

/* kubelet_events.c: events about a pod or one of its containers (fieldPath
 * spec.containers{name} / spec.initContainers{name}), through the correlating recorder. */
void kubelet__events_start(kpods_t *ps);
void kubelet__events_stop(kpods_t *ps);
void kubelet__pod_event(kpod_t *p, const char *type, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void kubelet__ctr_event(kctr_t *c, const char *type, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* From a thread-pool job: kept in w and written by kubelet__work_events on the loop. */
void kubelet__work_event(work_t *w, const char *type, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void kubelet__work_events(work_t *w, kctr_t *c);
/* W_SANDBOX's: about the pod, or the node when ev.node. */
void kubelet__work_pod_events(work_t *w, kpod_t *p);

/* kubelet_dns_files.c: the pod's /etc/hosts and /etc/resolv.conf contents (W_SANDBOX, w->ip
 * set); DNS warnings are queued as work events. */
int kubelet__pod_etc_files(work_t *w, const char *hostname, char **ret_hosts, char **ret_resolv,
                           util_error_t *err);

/* kubelet_lifecycle.c: upstream's killContainer (Killing event, preStop hook within the grace
 * period, SIGTERM with at least 2 s left, SIGKILL). grace < 0: SIGKILL at once, no hook. */
void kubelet__ctr_kill(kctr_t *c, const char *message, int64_t grace);
/* The container exited: its kill is over (timers stop). */
void kubelet__ctr_stopped(kctr_t *c);
/* The pod goes away: timers and probes are closed. */
void kubelet__ctr_release(kctr_t *c);
void kubelet__hjob_queue(kpods_t *ps, kctr_t *c, hjob_t *j);

/* kubelet_probe.c */
void kubelet__probes_start(kctr_t *c);
void kubelet__probes_stop(kctr_t *c);
void kubelet__probes_killing(kctr_t *c);
void kubelet__probe_done(kctr_t *c, hjob_t *j);

/* kubelet_probe_run.c: blocking, for the thread pool. timeout_ms 0: none. */
void kubelet__handler_run(runtime_t *rt, const char *cid, const kubelet_handler_t *h,
                          const char *pod_ip, uint64_t timeout_ms, const char *agent,
                          krun_result_t *res);
#define KUBELET_PROBE_AGENT     "kube-probe/1.31"
#define KUBELET_LIFECYCLE_AGENT "kube-lifecycle/1.31"

/* kubelet_pods_work.c: the thread-pool side (uv_work_cb) and helpers */
void kubelet__pods_work(uv_work_t *req);
int64_t kubelet__now_ns(void);
void kubelet__errtext(util_error_t *err, char *buf, size_t n);
void kubelet__rm_rf(const char *path);
/* Container ids: <pod uid>_<container name>_<attempt>. */
bool kubelet__parse_cid(const char *id, char *uid, size_t un, char *name, size_t nn, int *attempt);

/* kubelet_config.c: informers on configmaps, secrets, persistentvolumeclaims and
 * persistentvolumes; pods that use a changed object are woken (volumes rewritten, containers
 * waiting for it retried). */
void kubelet__config_start(kpods_t *ps);
void kubelet__config_stop(kpods_t *ps);
/* {"configmaps":{name:obj},"secrets":{..},"pvcs":{..},"pvs":{..}} of what the pod refers to. */
cJSON *kubelet__config_snapshot(kpods_t *ps, const cJSON *pod);
/* Reads the exited container's termination message into c->term_msg (kubelet_volumes.c). */
void kubelet__ctr_termination_message(kctr_t *c, int exit_code);
/* The key of a projected serviceAccountToken source in a snapshot's "tokens": caller frees. */
char *kubelet__token_key(const cJSON *source);
/* W_VOLUMES and the volume part of W_START (kubelet_volumes.c). */
void kubelet__volumes_work(work_t *w);
/* A pod's labels or annotations changed: downward API volumes must be rewritten. */
bool kubelet__pod_meta_changed(const cJSON *old, const cJSON *obj);

/* kubelet_pods.c: a pod of the machinery for uid (obj copied). */
kpod_t *kubelet__pod_new(kpods_t *ps, const char *uid, const cJSON *obj);

/* kubelet_static.c: static pods from manifest files and their mirror pods. */
int kubelet__static_start(kpods_t *ps, const char *dir);
void kubelet__static_stop(kpods_t *ps);
void kubelet__static_mirror_event(kpods_t *ps, const cJSON *obj); /* a mirror pod came/went */
/* kubelet_admit.c: admits p against --max-pods once (false: rejected, status and event sent);
 * a rejected pod's status gets phase Failed, reason and message. */
bool kubelet__pod_admit(kpod_t *p);
void kubelet__pod_admit_status(const kpod_t *p, cJSON *status);
void kubelet__static_synced(kpods_t *ps);
bool kubelet__static_mirror_ready(kpod_t *p); /* its status may be posted */
bool kubelet__static_may_run(kpod_t *p);
void kubelet__static_pod_freed(kpod_t *p);

/* kubelet_pods_offline.c: running without the API. Static pods start once the runtime is open,
 * before the first pod list (early); a pod on the pod network waits while no pod CIDR is known
 * (true: it waits, logged once), hostNetwork pods never do. */
void kubelet__pods_static_early(kpods_t *ps);
void kubelet__pods_reconcile(kpods_t *ps); /* kubelet_pods.c: podnet_reconcile once started */
bool kubelet__pod_network_wait(kpod_t *p);

/* kubelet_pods_status.c */
void kubelet__ctr_watch(kctr_t *c);
void kubelet__ctr_unwatch(kctr_t *c);
void kubelet__pod_post_status(kpod_t *p);

#endif
