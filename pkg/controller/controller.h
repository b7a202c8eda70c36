/* controller: the controller manager inside `kubeling server` (ReplicaSet, Deployment, Job,
 * CronJob) and the machinery controllers share: a work queue with per-key deduplication and
 * rate-limited retries, expectations (no double creates while our own writes are in flight), the
 * ranking of pods for deletion, rollout arithmetic and the pod-template-hash. See
 * docs/controllers.md. */
#ifndef KUBELING_CONTROLLER_H
#define KUBELING_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include <cjson/cJSON.h>

#include "util/util.h"

struct client_config;

/* ---- work queue (controller_queue.c) --------------------------------------------------------
 * client-go's rate-limited work queue with an explicit clock (milliseconds): a key is queued at
 * most once; a key being processed that is added again is processed once more after _done. */

#define CONTROLLER_BACKOFF_BASE_MS 5ull
#define CONTROLLER_BACKOFF_MAX_MS  1000000ull /* 1000 s, as client-go's default limiter */

typedef struct controller_queue controller_queue_t;

controller_queue_t *controller_queue_new(void);
void controller_queue_free(controller_queue_t *q);
/* Ready now (an earlier pending time is kept when the key waits for a later one). */
void controller_queue_add(controller_queue_t *q, const char *key, uint64_t now);
/* Ready at now + delay_ms unless already due earlier. */
void controller_queue_add_after(controller_queue_t *q, const char *key, uint64_t delay_ms,
                                uint64_t now);
/* A retry: 5 ms * 2^failures, at most 1000 s; counts a failure for key. */
void controller_queue_add_rate_limited(controller_queue_t *q, const char *key, uint64_t now);
/* Forgets key's failures (after a successful sync). */
void controller_queue_forget(controller_queue_t *q, const char *key);
unsigned controller_queue_failures(const controller_queue_t *q, const char *key);
/* The next due key (malloc'd; the caller calls _done with it), or NULL. */
char *controller_queue_pop(controller_queue_t *q, uint64_t now);
void controller_queue_done(controller_queue_t *q, const char *key, uint64_t now);
/* Milliseconds until the next key is due (0: now), -1 when nothing waits. */
int64_t controller_queue_next(const controller_queue_t *q, uint64_t now);
size_t controller_queue_len(const controller_queue_t *q);

/* ---- expectations (controller_expect.c) -----------------------------------------------------
 * upstream's ControllerExpectations / UIDTrackingControllerExpectations: per controller key the
 * creates still expected to be observed and the pod UIDs whose deletion is expected. A key whose
 * expectations are older than 5 minutes counts as satisfied (a lost watch event heals). */

#define CONTROLLER_EXPECT_TTL_MS (5ull * 60 * 1000)

typedef struct controller_expect controller_expect_t;

controller_expect_t *controller_expect_new(void);
void controller_expect_free(controller_expect_t *e);
void controller_expect_creations(controller_expect_t *e, const char *key, int adds, uint64_t now);
void controller_expect_deletions(controller_expect_t *e, const char *key, const char *const *uids,
                                 size_t n, uint64_t now);
/* upstream RaiseExpectations: adds more creations and (del_uid not NULL) one more deletion to
 * what key already expects. */
void controller_expect_raise(controller_expect_t *e, const char *key, int adds, const char *del_uid,
                             uint64_t now);
/* One create was observed (informer add) or will never happen (failed request). */
void controller_expect_creation_observed(controller_expect_t *e, const char *key);
/* uid's deletion was observed (deletionTimestamp set or object gone) or failed. */
void controller_expect_deletion_observed(controller_expect_t *e, const char *key, const char *uid);
bool controller_expect_satisfied(const controller_expect_t *e, const char *key, uint64_t now);
void controller_expect_delete(controller_expect_t *e, const char *key);

/* ---- pods (controller_pods.c) ---------------------------------------------------------------- */

/* Ready condition True. */
bool controller_pod_ready(const cJSON *pod);
/* Ready for at least min_ready_s at now_s (the Ready condition's lastTransitionTime). */
bool controller_pod_available(const cJSON *pod, int64_t min_ready_s, int64_t now_s);
/* Not terminal (Succeeded/Failed) and no deletionTimestamp. */
bool controller_pod_active(const cJSON *pod);
/* The Ready condition's lastTransitionTime in seconds; -1 when absent or malformed. */
int64_t controller_pod_ready_time(const cJSON *pod);
/* Every label of want (a JSON map) is in labels with the same string value. */
bool controller_labels_cover(const cJSON *labels, const cJSON *want);
/* upstream's ActivePods ordering: < 0 when a is less valuable (deleted first): unassigned before
 * assigned, Pending < Unknown < Running, not ready before ready, ready for less time first,
 * more restarts first, newer first. */
int controller_pod_compare(const cJSON *a, const cJSON *b);
/* The controlling ownerReference ({controller: true}) or NULL. */
const cJSON *controller_owner_ref(const cJSON *obj);
/* The shared pod informer's transform (controller_podcache.c): keeps only the fields the
 * controllers read (client_informer_opts_t.transform; ud unused). */
void controller_pod_cache_trim(void *ud, cJSON *pod);
/* Points the member names and string values of obj (recursively) that are in a table of strings
 * Kubernetes objects repeat to one static copy instead of a heap string each (controller caches
 * only: the object must not be written in place afterwards). */
void controller_intern_strings(cJSON *obj);
/* The static copy of s, or NULL when it is not in the table; whether the table is sorted. */
const char *controller_interned(const char *s);
bool controller_interned_sorted(void);
/* RFC 3339 "2006-01-02T15:04:05Z" to seconds; -1 when absent or malformed. */
int64_t controller_parse_time(const char *s);
void controller_format_time(int64_t t, char buf[32]);

typedef struct controller_rs_counts {
    int64_t replicas, fully_labeled, ready, available;
} controller_rs_counts_t;
/* ReplicaSet status counts over active pods. fully_labeled counts pods carrying every label of
 * the template. */
void controller_rs_counts(const cJSON *const *pods, size_t n, const cJSON *template_labels,
                          int64_t min_ready_s, int64_t now_s, controller_rs_counts_t *ret);

/* ---- rollouts (controller_rollout.c) --------------------------------------------------------- */

/* An IntOrString ("25%" or 1) scaled against total; round_up for maxSurge. NULL gives def. */
int controller_scaled_value(const cJSON *v, int64_t total, bool round_up, const char *def,
                            int64_t *ret, util_error_t *err);
/* upstream ResolveFenceposts: surge rounds up, unavailable down; both 0 makes unavailable 1. */
int controller_fenceposts(const cJSON *max_surge, const cJSON *max_unavailable, int64_t replicas,
                          int64_t *surge, int64_t *unavailable, util_error_t *err);
/* The pod-template-hash: FNV-32a over the template's canonical JSON (sorted keys) and the
 * collision count, encoded like upstream's rand.SafeEncodeString of the decimal sum. */
void controller_template_hash(const cJSON *tmpl, int64_t collision_count, char out[16]);
/* How many replicas the new ReplicaSet may have (upstream NewRSNewReplicas for RollingUpdate):
 * total is the sum of all ReplicaSets' spec.replicas. */
int64_t controller_new_rs_replicas(int64_t replicas, int64_t surge, int64_t total,
                                   int64_t new_rs_replicas);
/* How many old replicas may go (upstream reconcileOldReplicaSets' maxScaledDown). */
int64_t controller_max_scaled_down(int64_t replicas, int64_t unavailable, int64_t all_pods,
                                   int64_t new_rs_replicas, int64_t new_rs_available);

/* ---- endpoints (controller_endpoints_calc.c) --------------------------------------------------
 * What the Endpoints and EndpointSlice controllers compute from a Service and the pods its
 * selector matches (upstream's endpoints controller and endpointslice reconciler). */

#define CONTROLLER_EP_MAX_ADDRESSES    1000 /* per Endpoints object; beyond: over-capacity */
#define CONTROLLER_SLICE_MAX_ENDPOINTS 100  /* per EndpointSlice (upstream's default) */

/* Every key=value of a Service's selector map is among obj's labels (an empty or absent
 * selector matches nothing). */
bool controller_selector_map_matches(const cJSON *selector, const cJSON *obj);
bool controller_service_headless(const cJSON *svc);
const char *controller_pod_ip(const cJSON *pod);
/* upstream ShouldPodBeInEndpoints: has an IP, not terminal, not terminating unless asked. */
bool controller_pod_in_endpoints(const cJSON *pod, bool include_terminating);
/* The pod port a Service port targets: a numeric targetPort (absent: port), or the containerPort
 * of that name and protocol in the pod (containers, then sidecar init containers); -1 when it
 * does not resolve on this pod. */
int controller_find_port(const cJSON *pod, const cJSON *svc_port);
/* The Endpoints subsets for svc over pods (those its selector matches): per distinct port set a
 * subset with ready `addresses` and `notReadyAddresses` (publishNotReadyAddresses makes all
 * ready and keeps terminating pods), sorted; capped at CONTROLLER_EP_MAX_ADDRESSES (ready ones
 * first), *truncated then set. */
cJSON *controller_endpoints_subsets(const cJSON *svc, const cJSON *const *pods, size_t n,
                                    bool *truncated);
/* The EndpointSlice content for svc: an array of {key, ports, endpoints} per distinct port set,
 * endpoints with conditions ready/serving/terminating (terminating pods included), sorted;
 * zones (node name -> topology.kubernetes.io/zone, may be NULL) gives endpoints their zone. */
cJSON *controller_slice_groups(const cJSON *svc, const cJSON *const *pods, size_t n,
                               const cJSON *zones);
/* The endpoints.kubernetes.io/last-change-trigger-time (seconds): the earliest change newer
 * than prev (the Service's creation, pods' Ready transitions or creation), else prev. */
int64_t controller_endpoints_trigger_time(const cJSON *svc, const cJSON *const *pods, size_t n,
                                          int64_t prev);

/* The slice groups upstream's endpointslice mirroring controller makes from a selectorless
 * Service's Endpoints: per subset its ports and addresses (ready: true) and notReadyAddresses
 * (ready: false) with hostname, nodeName and targetRef, IPv4 only, at most
 * CONTROLLER_EP_MAX_ADDRESSES per subset. */
cJSON *controller_mirror_groups(const cJSON *endpoints);
/* How the existing slices of a service (slices[0..n)) become the groups of
 * controller_slice_groups: an array of {op: "update"|"create"|"delete", name (not for create),
 * index (into slices, not for create), ports, endpoints}. An endpoint stays in the slice that
 * has it, new ones fill slices with room, then new slices (at most CONTROLLER_SLICE_MAX_ENDPOINTS
 * each); emptied slices are deleted, except that a service without endpoints keeps one
 * placeholder slice (no ports, no endpoints). "update" items may equal the slice as stored. */
cJSON *controller_slice_plan(const cJSON *groups, const cJSON *const *slices, size_t n);

/* ---- taints (controller_taints.c) -------------------------------------------------------------
 * The node lifecycle controller's rules: conditions of a node that stopped reporting, the taints
 * its conditions call for, and when a pod on a NoExecute-tainted node is evicted. */

#define CONTROLLER_TAINT_NOT_READY   "node.kubernetes.io/not-ready"
#define CONTROLLER_TAINT_UNREACHABLE "node.kubernetes.io/unreachable"

/* A toleration tolerates a taint (effect, key, operator Exists/Equal as upstream). */
bool controller_toleration_tolerates(const cJSON *toleration, const cJSON *taint);
/* For a pod on a node with these taints: -1 never evicted (no NoExecute taint it does not
 * tolerate forever), 0 at once (an untolerated NoExecute taint), else the seconds after which
 * it goes (the least tolerationSeconds of the tolerations used). */
int64_t controller_eviction_delay(const cJSON *pod, const cJSON *taints);
/* The node's conditions after it stopped reporting (upstream tryUpdateNodeHealth): Ready,
 * MemoryPressure, DiskPressure and PIDPressure become Unknown (NodeStatusUnknown "Kubelet stopped
 * posting node status."; absent ones NodeStatusNeverUpdated), lastTransitionTime now_s. A new
 * array; *changed tells whether any condition changed. */
cJSON *controller_node_conditions_unknown(const cJSON *node, int64_t now_s, bool *changed);
/* The taints the node should carry: its own taints, with the ones the controller manages
 * (not-ready/unreachable NoExecute by Ready; NoSchedule ones by Ready, pressure conditions,
 * NetworkUnavailable and spec.unschedulable) set as its status calls for; existing ones keep
 * their timeAdded. A new array; *changed tells whether it differs. */
cJSON *controller_node_taints(const cJSON *node, int64_t now_s, bool *changed);
/* A Go duration of ms/s/m/h segments ("40s", "1m30s", "500ms") in milliseconds; -EINVAL when
 * malformed. */
int controller_parse_duration_ms(const char *s, uint64_t *ret);

/* ---- leader election (controller_leader.c) ---------------------------------------------------
 * client-go's leaderelection over a coordination.k8s.io Lease (kube-system/
 * kube-controller-manager): whoever holds an unexpired lease leads; expiry is judged by when this
 * process last saw the record change (not by the holder's clock), as client-go does. */

#define CONTROLLER_LEASE_DURATION_S 15
#define CONTROLLER_LEASE_RENEW_MS   10000 /* a leader that cannot renew this long steps down */
#define CONTROLLER_LEASE_RETRY_MS   2000

typedef struct controller_lease_obs {
    char *record; /* holderIdentity and renewTime last seen */
    uint64_t at_ms;
} controller_lease_obs_t;

/* True when id may write the lease (absent, ours, without holder, or not renewed for
 * leaseDurationSeconds of our clock); updates the observation. */
bool controller_lease_may_take(controller_lease_obs_t *o, const cJSON *lease, const char *id,
                               uint64_t now_ms);
/* The Lease to write: lease (NULL: a new one) held by id, renewed at now_s; acquireTime and
 * leaseTransitions change when the holder does. */
cJSON *controller_lease_claim(const cJSON *lease, const char *id, int64_t now_s);
void controller_lease_obs_free(controller_lease_obs_t *o);

/* Canonical JSON (object keys sorted): what the template and revision hashes are taken over. */
void controller_canonical_json(util_buf_t *b, const cJSON *v);

/* ---- controller revisions (controller_history.c) ---------------------------------------------
 * apps/v1 ControllerRevisions as StatefulSets and DaemonSets keep them (upstream
 * pkg/controller/history): the data is the patch {"spec":{"template":T}} with "$patch":"replace"
 * in T, which `kubectl rollout undo` applies as a strategic merge patch. */

#define CONTROLLER_REVISION_HASH_LABEL "controller-revision-hash"

/* The revision data of a StatefulSet or DaemonSet (a new object). */
cJSON *controller_revision_data(const cJSON *set);
/* upstream HashControllerRevision: FNV-32a over the data's canonical JSON and the collision
 * count, encoded like rand.SafeEncodeString. */
void controller_revision_hash(const cJSON *data, int64_t collision_count, char out[16]);
/* Equal data (canonical JSON compared). */
bool controller_revision_data_equal(const cJSON *a, const cJSON *b);
/* A ControllerRevision `<parent>-<hash>` of parent (kind, apiVersion) with data and revision:
 * labels are the template's plus controller-revision-hash, annotations the parent's, and a
 * controller ownerReference. */
cJSON *controller_revision_new(const cJSON *parent, const char *kind, const char *api_version,
                               const char *hash, const cJSON *data, int64_t revision);
int64_t controller_revision_number(const cJSON *rev);
/* Oldest first: by revision, then creationTimestamp, then name (upstream ByRevision). */
void controller_revisions_sort(const cJSON **revs, size_t n);
/* The next revision number: 1 + the highest of revs. */
int64_t controller_revisions_next(const cJSON *const *revs, size_t n);
/* upstream truncateHistory: of the sorted revs, the indices to delete into ret_idx (room for n):
 * the oldest of those not named in live, so that at most limit non-live revisions remain. */
size_t controller_revisions_prune(const cJSON *const *revs, size_t n, const char *const *live,
                                  size_t nlive, int64_t limit, size_t *ret_idx);
/* The pod template a revision holds (its data's spec.template without "$patch"), a new object
 * or NULL. */
cJSON *controller_revision_template(const cJSON *rev);

/* ---- StatefulSet identity (controller_sts_identity.c) ---------------------------------------- */

#define CONTROLLER_STS_POD_NAME_LABEL  "statefulset.kubernetes.io/pod-name"
#define CONTROLLER_STS_POD_INDEX_LABEL "apps.kubernetes.io/pod-index"

/* The ordinal of pod when it is named `<set>-<ordinal>` (a decimal without sign), else false. */
bool controller_sts_ordinal(const char *set, const char *pod, int64_t *ret);
/* `<claim>-<set>-<ordinal>`. */
char *controller_sts_claim_name(const char *claim, const char *set, int64_t ordinal);
/* The pod of ordinal: template tmpl (the revision's), name `<set>-<ordinal>`, hostname and
 * subdomain, the identity and revision labels, claims from volumeClaimTemplates, a controller
 * ownerReference to set. */
cJSON *controller_sts_pod(const cJSON *set, const cJSON *tmpl, const char *revision,
                          int64_t ordinal);
/* The PVC for claim template ct of ordinal (labels: the set's matchLabels). */
cJSON *controller_sts_claim(const cJSON *set, const cJSON *ct, int64_t ordinal);

/* ---- DaemonSet nodes (controller_ds_nodes.c) ------------------------------------------------- */

typedef struct controller_ds_fit {
    bool should_run;      /* a daemon pod should be created here */
    bool should_continue; /* an existing daemon pod may stay (NoSchedule taints do not evict) */
} controller_ds_fit_t;

/* Adds upstream's default DaemonSet tolerations (not-ready and unreachable NoExecute; disk-,
 * memory-, pid-pressure and unschedulable NoSchedule; network-unavailable with hostNetwork). */
void controller_ds_add_tolerations(cJSON *pod_spec);
/* upstream NodeShouldRunDaemonPod for a daemon pod spec (default tolerations included by the
 * caller): spec.nodeName, nodeSelector, required node affinity, taints against tolerations. */
void controller_ds_node_fit(const cJSON *node, const cJSON *pod_spec, controller_ds_fit_t *ret);
/* Pins the pod to node the upstream way: required node affinity replaced by one term matching
 * the field metadata.name, so the default scheduler binds it. */
void controller_ds_pin(cJSON *pod_spec, const char *node);
/* The node a daemon pod is for: spec.nodeName, else the metadata.name of its pinning affinity. */
const char *controller_ds_target_node(const cJSON *pod);
/* ---- cron schedules and time zones (controller_cron.c, controller_tz.c) --------------------
 * robfig/cron's ParseStandard as upstream's CronJob uses it: minute hour day-of-month month
 * day-of-week, "*", "?", ranges, steps, lists, JAN..DEC and SUN..SAT, and the @yearly,
 * @annually, @monthly, @weekly, @daily, @midnight, @hourly descriptors. A CRON_TZ=/TZ= prefix
 * parses (validation rejects it). */

typedef struct controller_cron {
    uint64_t bits[5]; /* minute, hour, day of month, month, day of week */
    bool dom_star, dow_star;
} controller_cron_t;

/* 0, or -1 with robfig's message in errbuf. */
int controller_cron_parse(const char *spec, controller_cron_t *ret, char *errbuf, size_t n);

/* A time zone from the system zoneinfo ($ZONEINFO or /usr/share/zoneinfo); NULL means UTC. */
typedef struct controller_tz controller_tz_t;
/* name NULL or "UTC" gives *ret NULL (UTC). Errors say "unknown time zone <name>". */
int controller_tz_load(const char *name, controller_tz_t **ret, util_error_t *err);
/* A TZif (v2+) image; exposed for tests. */
int controller_tz_parse(const unsigned char *data, size_t n, controller_tz_t **ret);
void controller_tz_free(controller_tz_t *tz);
/* Seconds east of UTC at Unix time t. */
int32_t controller_tz_offset(const controller_tz_t *tz, int64_t t);
/* The first start strictly after `after` (Unix seconds), -1 when none within five years. */
int64_t controller_cron_next(const controller_cron_t *c, const controller_tz_t *tz, int64_t after);

/* upstream's mostRecentScheduleTime: the latest start in (earliest, now] or -1; *missed counts
 * the starts in that span (computed by the schedule's period beyond 100, as upstream). */
int64_t controller_cron_most_recent(const controller_cron_t *c, const controller_tz_t *tz,
                                    int64_t earliest, int64_t now, int64_t *missed);

/* ---- jobs (controller_jobcalc.c) --------------------------------------------------------------
 * The arithmetic of upstream's Job controller, without I/O. */

#define CONTROLLER_JOB_BACKOFF_BASE_S 10  /* DefaultJobPodFailureBackOff */
#define CONTROLLER_JOB_BACKOFF_MAX_S  360 /* MaxJobPodFailureBackOff */

/* Seconds to wait before creating pods again after `failures` consecutive failures (since the
 * last success), the last at last_failure_s: 10 s * 2^(failures-1) capped at 6 min, minus the time
 * already passed; 0 when pods may be created now. */
int64_t controller_job_backoff(unsigned failures, int64_t last_failure_s, int64_t now_s);
/* completedIndexes ("1,3-5,7") <-> a bitmap of n indexes (bits set for completed). Parsing
 * ignores indexes >= n and malformed parts; formatting gives "" for none. */
void controller_job_indexes_parse(const char *s, uint8_t *bits, int64_t n);
char *controller_job_indexes_format(const uint8_t *bits, int64_t n);

typedef enum {
    CONTROLLER_PFP_NONE, /* no rule matched: counts as a failure */
    CONTROLLER_PFP_FAIL_JOB,
    CONTROLLER_PFP_IGNORE,
    CONTROLLER_PFP_COUNT,
    CONTROLLER_PFP_FAIL_INDEX,
} controller_pfp_action_t;
/* The first podFailurePolicy rule matching a failed pod (its exit codes or conditions), with
 * upstream's message for FailJob in msg. */
controller_pfp_action_t controller_job_pfp_match(const cJSON *policy, const cJSON *pod, char *msg,
                                                 size_t msg_len);

/* ---- HorizontalPodAutoscaler arithmetic (controller_hpa_calc.c) ------------------------------
 * upstream's replica calculator and behavior rules over explicit times (seconds). */

#define CONTROLLER_HPA_TOLERANCE 0.1 /* --horizontal-pod-autoscaler-tolerance */
#define CONTROLLER_HPA_HISTORY   64  /* recommendations and scale events kept per HPA */

typedef enum {
    CONTROLLER_HPA_READY,   /* its sample counts */
    CONTROLLER_HPA_UNREADY, /* Pending, or (cpu) not ready long enough */
    CONTROLLER_HPA_MISSING, /* no sample */
    CONTROLLER_HPA_IGNORED, /* being deleted or Failed */
} controller_hpa_group_t;

/* upstream groupPods for one pod: cpu samples of pods still initializing (5 minutes) count only
 * when the pod is ready and was ready for a whole sample window before the sample. */
controller_hpa_group_t controller_hpa_group_pod(const cJSON *pod, bool cpu, bool has_metric,
                                                int64_t metric_time_s, int64_t window_s,
                                                int64_t now_s);

typedef struct controller_hpa_pod {
    const char *name, *resource, *container; /* for the "missing request" message */
    controller_hpa_group_t group;
    int64_t usage;    /* milli-units (cores or bytes) */
    bool has_request; /* every container requests the resource */
    int64_t request;  /* milli-units, summed over the containers */
} controller_hpa_pod_t;

typedef struct controller_hpa_result {
    int64_t replicas;
    int64_t utilization; /* percent of requests (utilization targets) */
    int64_t average;     /* milli-units per counted pod */
} controller_hpa_result_t;

/* Replicas for one resource metric: target_util > 0 is a Utilization target (percent of
 * requests), else target_avg an AverageValue (milli-units). Errors carry upstream's texts. */
int controller_hpa_replicas(const controller_hpa_pod_t *pods, size_t n, int64_t current,
                            int64_t target_util, int64_t target_avg, double tolerance,
                            controller_hpa_result_t *ret, util_error_t *err);

typedef struct controller_hpa_rec {
    int64_t at_s, replicas;
} controller_hpa_rec_t;
typedef struct controller_hpa_event {
    int64_t at_s, change; /* replicas added (up) or removed (down) */
} controller_hpa_event_t;
/* What the controller remembers per HPA between syncs. */
typedef struct controller_hpa_history {
    controller_hpa_rec_t recs[CONTROLLER_HPA_HISTORY];
    controller_hpa_event_t up[CONTROLLER_HPA_HISTORY], down[CONTROLLER_HPA_HISTORY];
    size_t nrecs, nup, ndown;
} controller_hpa_history_t;

typedef struct controller_hpa_verdict {
    const char *able_reason, *able_message;   /* AbleToScale (True) */
    const char *limit_reason, *limit_message; /* ScalingLimited */
    bool limited;
} controller_hpa_verdict_t;

/* normalizeDesiredReplicasWithBehaviors: stabilization windows (scale-down 300 s by default)
 * over the recorded recommendations (desired is recorded), then the scaling policies' rate
 * limits (default up: max(100%, 4 pods) per 15 s; down: 100% per 15 s) and min/max. */
int64_t controller_hpa_normalize(const cJSON *behavior, int64_t min, int64_t max, int64_t current,
                                 int64_t desired, controller_hpa_history_t *h, int64_t now,
                                 controller_hpa_verdict_t *ret);
/* Records a rescale from -> to for the rate limits. */
void controller_hpa_record_scale(controller_hpa_history_t *h, const cJSON *behavior, int64_t from,
                                 int64_t to, int64_t now);

/* ---- node IPAM (controller_cidrset.c) ---------------------------------------------------------
 * upstream's nodeipam RangeAllocator arithmetic: --cluster-cidr cut into subnets of
 * --node-cidr-mask-size, the lowest free one handed out. */

#define CONTROLLER_NODE_CIDR_MASK 24 /* --node-cidr-mask-size's default (IPv4) */
#define CONTROLLER_CIDR_LEN       19 /* "255.255.255.255/32" and its NUL */

typedef struct controller_cidr_set controller_cidr_set_t;

/* node_mask between the cluster prefix and 30, at most 2^16 subnets. */
int controller_cidr_set_new(const char *cluster_cidr, int node_mask, controller_cidr_set_t **ret,
                            util_error_t *err);
void controller_cidr_set_free(controller_cidr_set_t *s);
/* Marks (releases) every subnet cidr overlaps: -EINVAL malformed, -ERANGE outside the range. */
int controller_cidr_set_occupy(controller_cidr_set_t *s, const char *cidr);
int controller_cidr_set_release(controller_cidr_set_t *s, const char *cidr);
/* The lowest free subnet, now taken, into out (room for CONTROLLER_CIDR_LEN); -ENOSPC when
 * full. */
int controller_cidr_set_allocate(controller_cidr_set_t *s, char *out, size_t n);
uint32_t controller_cidr_set_free_count(const controller_cidr_set_t *s);

/* ---- the running controller manager (controller_run.c) --------------------------------------- */

typedef struct controller_manager controller_manager_t;

/* Campaigns for the Lease; while leading runs informers on pods, replicasets and deployments over
 * api and the controllers on loop. */
int controller_manager_start(uv_loop_t *loop, const struct client_config *api,
                             controller_manager_t **ret, util_error_t *err);
void controller_manager_stop(controller_manager_t *m);
/* --node-monitor-grace-period: how long a node may go without renewing its Lease (or Ready
 * heartbeat) before the node lifecycle controller marks it Unknown (default 40 s). */
void controller_manager_set_node_monitor_grace(controller_manager_t *m, uint64_t ms);
/* --allocate-node-cidrs, --cluster-cidr (NULL: 10.42.0.0/16), --node-cidr-mask-size (0: 24):
 * the node IPAM controller; checked here, before it runs. */
int controller_manager_set_node_ipam(controller_manager_t *m, bool allocate,
                                     const char *cluster_cidr, int node_mask, util_error_t *err);
/* --terminated-pod-gc-threshold: terminated pods kept before the oldest go (<= 0: all kept). */
void controller_manager_set_pod_gc_threshold(controller_manager_t *m, long threshold);

#endif
