/* controller_job: upstream's Job controller (batch/v1). Runs pods until `completions` succeed
 * (or, without completions, until one succeeds and the rest end), at most `parallelism` at once;
 * replaces failed pods after an exponential back-off until backoffLimit, honours
 * activeDeadlineSeconds, suspend, Indexed completion and podFailurePolicy, and counts finished
 * pods through the batch.kubernetes.io/job-tracking finalizer and
 * status.uncountedTerminatedPods, as upstream's finalizer-based job tracking. */
#include "controller/controller_job.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOB_BURST 500 /* pods created per sync, as upstream's MaxPodCreateDeletePerSync */
#define COMPONENT "job-controller"

const client_resource_t CONTROLLER_RES_JOBS = {"batch", "v1", "jobs", true};

/* Per-Job memory that is not in the API: the back-off record and writes in flight. */
typedef struct job_state {
    char *uid;
    unsigned failures; /* since the last success */
    int64_t last_failure;
    bool status_inflight;
} job_state_t;

struct ctrl_jobs {
    job_state_t *v;
    size_t n, cap;
};

void ctrl_jobs_free(ctrl_jobs_t *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->n; i++)
        free(j->v[i].uid);
    free(j->v);
    free(j);
}

static job_state_t *state_of(controller_manager_t *m, const char *uid)
{
    if (!m->jobs)
        m->jobs = util_xcalloc(1, sizeof(*m->jobs));
    ctrl_jobs_t *j = m->jobs;
    for (size_t i = 0; i < j->n; i++)
        if (!strcmp(j->v[i].uid, uid))
            return &j->v[i];
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 16;
        j->v = util_xrealloc(j->v, j->cap * sizeof(*j->v));
    }
    j->v[j->n] = (job_state_t){.uid = util_xstrdup(uid)};
    return &j->v[j->n++];
}

static void state_forget(controller_manager_t *m, const char *uid)
{
    ctrl_jobs_t *j = m->jobs;
    for (size_t i = 0; j && uid && i < j->n; i++)
        if (!strcmp(j->v[i].uid, uid)) {
            free(j->v[i].uid);
            j->v[i] = j->v[--j->n];
            return;
        }
}

/* ---- small facts ------------------------------------------------------------------------------
 */

bool ctrl_deleting(const cJSON *obj)
{
    const cJSON *d = ctrl_get(ctrl_get(obj, "metadata"), "deletionTimestamp");
    return d && !cJSON_IsNull(d);
}

static const char *phase(const cJSON *pod)
{
    const char *p = ctrl_str(ctrl_get(pod, "status"), "phase");
    return p ? p : "";
}

static bool has_finalizer(const cJSON *pod)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, ctrl_get(ctrl_get(pod, "metadata"), "finalizers"))
    {
        if (cJSON_IsString(f) && !strcmp(f->valuestring, CTRL_JOB_TRACKING_FINALIZER))
            return true;
    }
    return false;
}

const cJSON *ctrl_condition(const cJSON *obj, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, ctrl_get(ctrl_get(obj, "status"), "conditions"))
    {
        const char *t = ctrl_str(c, "type");
        if (t && !strcmp(t, type))
            return c;
    }
    return NULL;
}

static bool condition_true(const cJSON *obj, const char *type)
{
    const char *s = ctrl_str(ctrl_condition(obj, type), "status");
    return s && !strcmp(s, "True");
}

bool ctrl_job_finished(const cJSON *job)
{
    return condition_true(job, "Complete") || condition_true(job, "Failed");
}

/* A finished pod counted as failed: Failed, or deleted before it succeeded (upstream counts
 * deleted pods as failures: an orphan may never reach a phase). */
static bool pod_failed(const cJSON *pod, bool suspended)
{
    if (!strcmp(phase(pod), "Failed"))
        return true;
    return !suspended && ctrl_deleting(pod) && strcmp(phase(pod), "Succeeded");
}

static int64_t pod_index(const cJSON *pod)
{
    const char *v =
        ctrl_str(ctrl_get(ctrl_get(pod, "metadata"), "annotations"), CTRL_JOB_INDEX_KEY);
    long n;
    if (!v || util_parse_long(v, 0, 100000000, &n) < 0)
        return -1;
    return n;
}

/* When a pod finished: the latest container finishedAt, else now. */
static int64_t pod_finish_time(const cJSON *pod, int64_t now)
{
    int64_t t = -1;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, ctrl_get(ctrl_get(pod, "status"), "containerStatuses"))
    {
        int64_t f = controller_parse_time(
            ctrl_str(ctrl_get(ctrl_get(cs, "state"), "terminated"), "finishedAt"));
        if (f > t)
            t = f;
    }
    return t >= 0 ? t : now;
}

static bool in_list(const cJSON *arr, const char *s)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (cJSON_IsString(e) && s && !strcmp(e->valuestring, s))
            return true;
    }
    return false;
}

/* ---- status writes ----------------------------------------------------------------------------
 */

typedef struct status_write {
    char *key, *uid;
} status_write_t;

static void status_write_free(void *p)
{
    status_write_t *w = p;
    free(w->key);
    free(w->uid);
    free(w);
}

static void status_done(controller_manager_t *m, void *ud, client_result_t *res)
{
    status_write_t *w = ud;
    job_state_t *s = state_of(m, w->uid);
    s->status_inflight = false;
    if (res->error || res->status < 200 || res->status >= 300) {
        util_log_v(1, "job %s: status: %d %s", w->key, res->status,
                   res->st.message ? res->st.message : "");
        controller_queue_add_rate_limited(m->jobq, w->key, ctrl_now(m));
    } else {
        controller_queue_add(m->jobq, w->key, ctrl_now(m));
    }
    status_write_free(w);
}

/* ---- one sync ---------------------------------------------------------------------------------
 */

typedef struct job_view {
    controller_manager_t *m;
    const cJSON *job;
    const char *ns, *uid, *key;
    const cJSON **pods; /* owned */
    size_t n, cap;
} job_view_t;

static void collect(void *ud, const cJSON *pod)
{
    job_view_t *v = ud;
    const char *ns = ctrl_str(ctrl_get(pod, "metadata"), "namespace");
    const char *ruid = ctrl_str(controller_owner_ref(pod), "uid");
    if (!ns || strcmp(ns, v->ns) || !ruid || strcmp(ruid, v->uid))
        return;
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->pods = util_xrealloc(v->pods, v->cap * sizeof(*v->pods));
    }
    v->pods[v->n++] = pod;
}

/* collect over the pod index: the pods whose controller reference has the Job's UID */
static void collect_indexed(void *ud, const ctrl_pod_facts_t *f)
{
    collect(ud, f->pod);
}

/* What the sync decided, written as one status patch. */
typedef struct job_calc {
    int64_t active, ready, succeeded, failed, completions, parallelism;
    bool indexed, suspended, has_completions;
    int64_t moved_succ, moved_fail; /* left uncountedTerminatedPods in this sync */
    uint8_t *done_idx, *prev_idx;   /* Indexed: completed indexes (now; as in the status) */
    cJSON *unc_succ, *unc_fail;
    const char *fail_reason;
    char fail_msg[512];
    int64_t requeue_ms;
} job_calc_t;

static void requeue(job_calc_t *c, int64_t ms)
{
    if (ms > 0 && (c->requeue_ms == 0 || ms < c->requeue_ms))
        c->requeue_ms = ms;
}

/* Finalizer tracking: finished pods still holding our finalizer are first recorded in
 * uncountedTerminatedPods (Indexed successes in completedIndexes); once the Job's status shows
 * them, the finalizer goes; once it is gone (or the pod is), they move into succeeded/failed. */
static const cJSON *pod_by_uid(const job_view_t *v, const char *uid)
{
    for (size_t i = 0; i < v->n; i++) {
        const char *u = ctrl_str(ctrl_get(v->pods[i], "metadata"), "uid");
        if (u && !strcmp(u, uid))
            return v->pods[i];
    }
    return NULL;
}

static void track_recorded(job_view_t *v, job_calc_t *c, const cJSON *ust)
{
    static const char *const kinds[] = {"succeeded", "failed"};
    for (int k = 0; k < 2; k++) {
        const cJSON *u;
        cJSON_ArrayForEach(u, ctrl_get(ust, kinds[k]))
        {
            if (!cJSON_IsString(u))
                continue;
            const cJSON *pod = pod_by_uid(v, u->valuestring);
            if (pod && has_finalizer(pod)) {
                cJSON_AddItemToArray(k ? c->unc_fail : c->unc_succ,
                                     cJSON_CreateString(u->valuestring));
                ctrl_job_release_pod(v->m, pod);
            } else if (k == 0) {
                c->moved_succ++;
            } else {
                c->moved_fail++;
            }
        }
    }
}

static bool track_success(job_view_t *v, job_calc_t *c, const cJSON *pod, const char *uid)
{
    if (!c->indexed) {
        cJSON_AddItemToArray(c->unc_succ, cJSON_CreateString(uid));
        return true;
    }
    int64_t idx = pod_index(pod);
    bool valid = idx >= 0 && idx < c->completions;
    if (!valid || (c->prev_idx[idx / 8] & (1u << (idx % 8)))) {
        ctrl_job_release_pod(v->m, pod); /* counted already (or never countable) */
        return false;
    }
    c->done_idx[idx / 8] |= (uint8_t)(1u << (idx % 8));
    return true;
}

static void track(job_view_t *v, job_calc_t *c, job_state_t *st)
{
    const cJSON *ust = ctrl_get(ctrl_get(v->job, "status"), "uncountedTerminatedPods");
    const cJSON *pfp = ctrl_get(ctrl_get(v->job, "spec"), "podFailurePolicy");
    c->unc_succ = cJSON_CreateArray();
    c->unc_fail = cJSON_CreateArray();
    int64_t now = time(NULL), new_fail = 0, last_fail = -1;
    bool new_success = false;
    track_recorded(v, c, ust);
    for (size_t i = 0; i < v->n; i++) {
        const cJSON *pod = v->pods[i];
        const char *uid = ctrl_str(ctrl_get(pod, "metadata"), "uid");
        if (!has_finalizer(pod) || !uid || in_list(ctrl_get(ust, "succeeded"), uid) ||
            in_list(ctrl_get(ust, "failed"), uid))
            continue;
        bool succ = !strcmp(phase(pod), "Succeeded");
        if (succ) {
            new_success |= track_success(v, c, pod, uid);
        } else if (pod_failed(pod, c->suspended)) {
            char msg[512] = "";
            controller_pfp_action_t a = controller_job_pfp_match(pfp, pod, msg, sizeof(msg));
            if (a == CONTROLLER_PFP_IGNORE) {
                ctrl_job_release_pod(v->m, pod); /* not counted, replaced */
                continue;
            }
            if (a == CONTROLLER_PFP_FAIL_JOB && !c->fail_reason) {
                c->fail_reason = "PodFailurePolicy";
                util_strlcpy(c->fail_msg, msg, sizeof(c->fail_msg));
            }
            cJSON_AddItemToArray(c->unc_fail, cJSON_CreateString(uid));
            new_fail++;
            int64_t ft = pod_finish_time(pod, now);
            if (ft > last_fail)
                last_fail = ft;
        } else if (ctrl_deleting(pod)) {
            ctrl_job_release_pod(v->m, pod); /* deleted while suspended: not a failure */
        }
    }
    /* upstream's backoff record: failures since the last success */
    if (new_success)
        st->failures = 0;
    if (new_fail) {
        st->failures += (unsigned)new_fail;
        st->last_failure = last_fail;
    }
}

static int64_t count_bits(const uint8_t *b, int64_t n)
{
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        k += (b[i / 8] >> (i % 8)) & 1;
    return k;
}

static cJSON *condition(const char *type, const char *status, const char *reason, const char *msg,
                        const char *now)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "type", type);
    cJSON_AddStringToObject(c, "status", status);
    cJSON_AddStringToObject(c, "lastProbeTime", now);
    cJSON_AddStringToObject(c, "lastTransitionTime", now);
    if (reason)
        cJSON_AddStringToObject(c, "reason", reason);
    if (msg)
        cJSON_AddStringToObject(c, "message", msg);
    return c;
}

/* conditions with type set to status (added when absent unless only_update); true on change. */
static bool set_condition(cJSON *conds, const char *type, const char *status, const char *reason,
                          const char *msg, const char *now, bool only_update)
{
    cJSON *c;
    cJSON_ArrayForEach(c, conds)
    {
        const char *t = ctrl_str(c, "type");
        if (!t || strcmp(t, type))
            continue;
        const char *s = ctrl_str(c, "status");
        if (s && !strcmp(s, status))
            return false;
        cJSON_ReplaceItemViaPointer(conds, c, condition(type, status, reason, msg, now));
        return true;
    }
    if (only_update)
        return false;
    cJSON_AddItemToArray(conds, condition(type, status, reason, msg, now));
    return true;
}

static int cmp_pods(const void *a, const void *b)
{
    return controller_pod_compare(*(const cJSON *const *)a, *(const cJSON *const *)b);
}

/* Creates or deletes pods toward the wanted number of active ones. */
static void manage(job_view_t *v, job_calc_t *c, job_state_t *st, const cJSON **active, size_t nact)
{
    controller_manager_t *m = v->m;
    int64_t want;
    if (c->indexed)
        want = c->parallelism;
    else if (!c->has_completions)
        want = c->succeeded > 0 ? 0 : c->parallelism;
    else
        want = c->completions - c->succeeded < c->parallelism ? c->completions - c->succeeded
                                                              : c->parallelism;
    if (want < 0)
        want = 0;
    if (!c->has_completions && c->succeeded > 0)
        want = (int64_t)nact; /* work queue: once one succeeded no new pods, none deleted */
    if ((int64_t)nact > want) {
        qsort(active, nact, sizeof(*active), cmp_pods);
        ctrl_job_delete_pods(m, v->key, v->job, active, (size_t)((int64_t)nact - want));
        return;
    }
    int64_t n = want - (int64_t)nact;
    if (n <= 0)
        return;
    int64_t wait = controller_job_backoff(st->failures, st->last_failure, time(NULL));
    if (wait > 0) {
        requeue(c, wait * 1000);
        return;
    }
    if (n > JOB_BURST)
        n = JOB_BURST;
    if (!c->indexed) {
        ctrl_job_create_pods(m, v->key, v->job, NULL, (int)n);
        return;
    }
    /* Indexed: the lowest indexes neither completed nor running */
    uint8_t *busy = util_xcalloc((size_t)(c->completions / 8 + 1), 1);
    for (size_t i = 0; i < nact; i++) {
        int64_t idx = pod_index(active[i]);
        if (idx >= 0 && idx < c->completions)
            busy[idx / 8] |= (uint8_t)(1u << (idx % 8));
    }
    int64_t *idx = util_xcalloc((size_t)n, sizeof(*idx));
    int k = 0;
    for (int64_t i = 0; i < c->completions && k < n; i++)
        if (!((busy[i / 8] | c->done_idx[i / 8]) & (1u << (i % 8))))
            idx[k++] = i;
    ctrl_job_create_pods(m, v->key, v->job, idx, k);
    free(idx);
    free(busy);
}

static void write_status(job_view_t *v, job_state_t *st, cJSON *status)
{
    const cJSON *cur = ctrl_get(v->job, "status");
    bool same = true;
    for (cJSON *f = status->child; f && same; f = f->next)
        if (!cJSON_Compare(f, ctrl_get(cur, f->string), true))
            same = false;
    if (same)
        return;
    cJSON *patch = cJSON_CreateObject();
    const char *rv = ctrl_str(ctrl_get(v->job, "metadata"), "resourceVersion");
    if (rv) /* a compare-and-swap: a stale cache gets a 409 and a retry */
        cJSON_AddStringToObject(cJSON_AddObjectToObject(patch, "metadata"), "resourceVersion", rv);
    cJSON_AddItemReferenceToObject(patch, "status", status);
    status_write_t *w = util_xcalloc(1, sizeof(*w));
    w->key = util_xstrdup(v->key);
    w->uid = util_xstrdup(v->uid);
    ctrl_pending_t *p = ctrl_pending_new(v->m, status_done, w, status_write_free);
    st->status_inflight = true;
    ctrl_pending_sent(p, client_patch(v->m->client, &CONTROLLER_RES_JOBS, v->ns,
                                      ctrl_str(ctrl_get(v->job, "metadata"), "name"), "status",
                                      CLIENT_PATCH_MERGE, patch, ctrl_pending_cb, p));
    cJSON_Delete(patch);
}

/* Failure checks in upstream's order; sets c->fail_reason. */
static void check_failure(job_view_t *v, job_calc_t *c, const cJSON **active, size_t nact,
                          int64_t start, int64_t now)
{
    const cJSON *spec = ctrl_get(v->job, "spec");
    int64_t limit = ctrl_int(spec, "backoffLimit", 6);
    if (c->fail_reason)
        return;
    if (c->failed > limit) {
        c->fail_reason = "BackoffLimitExceeded";
        util_strlcpy(c->fail_msg, "Job has reached the specified backoff limit",
                     sizeof(c->fail_msg));
        return;
    }
    const char *rp = ctrl_str(ctrl_get(ctrl_get(spec, "template"), "spec"), "restartPolicy");
    if (rp && !strcmp(rp, "OnFailure")) { /* restarts of running pods count as failures */
        int64_t restarts = 0;
        for (size_t i = 0; i < nact; i++) {
            const cJSON *cs;
            cJSON_ArrayForEach(cs, ctrl_get(ctrl_get(active[i], "status"), "containerStatuses"))
            {
                restarts += ctrl_int(cs, "restartCount", 0);
            }
        }
        if (limit == 0 ? restarts > 0 : restarts >= limit) {
            c->fail_reason = "BackoffLimitExceeded";
            util_strlcpy(c->fail_msg, "Job has reached the specified backoff limit",
                         sizeof(c->fail_msg));
            return;
        }
    }
    const cJSON *ads = ctrl_get(spec, "activeDeadlineSeconds");
    if (cJSON_IsNumber(ads) && start >= 0 && !c->suspended) {
        int64_t deadline = start + (int64_t)ads->valuedouble;
        if (now >= deadline) {
            c->fail_reason = "DeadlineExceeded";
            util_strlcpy(c->fail_msg, "Job was active longer than specified deadline",
                         sizeof(c->fail_msg));
        } else {
            requeue(c, (deadline - now) * 1000);
        }
    }
}

static void calc_init(job_calc_t *c, const cJSON *job)
{
    const cJSON *spec = ctrl_get(job, "spec");
    const cJSON *comp = ctrl_get(spec, "completions");
    c->has_completions = cJSON_IsNumber(comp);
    c->completions = c->has_completions ? (int64_t)comp->valuedouble : 0;
    if (c->completions < 0 || c->completions > 100000)
        c->completions = 0;
    c->parallelism = ctrl_int(spec, "parallelism", 1);
    const char *mode = ctrl_str(spec, "completionMode");
    c->indexed = mode && !strcmp(mode, "Indexed") && c->has_completions;
    c->suspended = cJSON_IsTrue(ctrl_get(spec, "suspend"));
    size_t bytes = (size_t)(c->completions / 8 + 1);
    c->done_idx = util_xcalloc(bytes, 1);
    c->prev_idx = util_xcalloc(bytes, 1);
    if (c->indexed)
        controller_job_indexes_parse(ctrl_str(ctrl_get(job, "status"), "completedIndexes"),
                                     c->prev_idx, c->completions);
    memcpy(c->done_idx, c->prev_idx, bytes);
}

static int sync_job(job_view_t *v, job_state_t *st)
{
    controller_manager_t *m = v->m;
    const cJSON *job = v->job, *cur = ctrl_get(job, "status");
    job_calc_t c = {0};
    calc_init(&c, job);
    track(v, &c, st);
    int64_t now = time(NULL);
    char now_s[32];
    controller_format_time(now, now_s);
    const cJSON **active = util_xcalloc(v->n + 1, sizeof(*active));
    size_t nact = 0;
    for (size_t i = 0; i < v->n; i++)
        if (controller_pod_active(v->pods[i])) {
            active[nact++] = v->pods[i];
            c.ready += controller_pod_ready(v->pods[i]);
        }
    /* counted (what status.succeeded/failed say) and, for decisions, uncounted ones too */
    int64_t counted_succ = ctrl_int(cur, "succeeded", 0) + c.moved_succ;
    int64_t counted_fail = ctrl_int(cur, "failed", 0) + c.moved_fail;
    if (c.indexed)
        counted_succ = count_bits(c.done_idx, c.completions);
    c.succeeded = counted_succ + cJSON_GetArraySize(c.unc_succ);
    c.failed = counted_fail + cJSON_GetArraySize(c.unc_fail);
    cJSON *status = cJSON_CreateObject();
    cJSON *conds = cJSON_IsArray(ctrl_get(cur, "conditions"))
                       ? cJSON_Duplicate(ctrl_get(cur, "conditions"), true)
                       : cJSON_CreateArray();
    const char *start_s = ctrl_str(cur, "startTime");
    char start_buf[32] = "";
    if (start_s)
        util_strlcpy(start_buf, start_s, sizeof(start_buf));
    /* suspend and resume */
    if (c.suspended) {
        if (set_condition(conds, "Suspended", "True", "JobSuspended", "Job suspended", now_s,
                          false))
            ctrl_event(m, job, "Job", "batch/v1", "Normal", "Suspended", COMPONENT,
                       "Job suspended");
    } else if (set_condition(conds, "Suspended", "False", "JobResumed", "Job resumed", now_s,
                             true)) {
        ctrl_event(m, job, "Job", "batch/v1", "Normal", "Resumed", COMPONENT, "Job resumed");
        util_strlcpy(start_buf, now_s, sizeof(start_buf)); /* the deadline counts afresh */
    }
    if (!start_buf[0] && !c.suspended)
        util_strlcpy(start_buf, now_s, sizeof(start_buf));
    bool satisfied = controller_expect_satisfied(m->job_expect, v->key, ctrl_now(m));
    /* a failure decided earlier (FailureTarget) stands while the last pods are counted */
    const cJSON *target = ctrl_condition(job, "FailureTarget");
    if (!c.fail_reason && target && ctrl_str(target, "reason")) {
        c.fail_reason = ctrl_str(target, "reason");
        util_strlcpy(c.fail_msg, ctrl_str(target, "message") ? ctrl_str(target, "message") : "",
                     sizeof(c.fail_msg));
    }
    check_failure(v, &c, active, nact, controller_parse_time(start_buf[0] ? start_buf : NULL), now);
    bool complete = false;
    if (!c.fail_reason) {
        if (c.indexed || c.has_completions)
            complete = c.succeeded >= c.completions;
        else
            complete = c.succeeded > 0 && nact == 0;
    }
    /* upstream adds Complete/Failed only once every finished pod is counted */
    bool flushed = cJSON_GetArraySize(c.unc_succ) == 0 && cJSON_GetArraySize(c.unc_fail) == 0;
    const char *completion_time = ctrl_str(cur, "completionTime");
    if (c.fail_reason || c.suspended) {
        ctrl_job_delete_pods(m, v->key, job, active, nact);
        c.active = 0;
        c.ready = 0;
        if (c.fail_reason)
            set_condition(conds, "FailureTarget", "True", c.fail_reason, c.fail_msg, now_s, false);
        if (c.fail_reason && flushed) {
            set_condition(conds, "Failed", "True", c.fail_reason, c.fail_msg, now_s, false);
            ctrl_event(m, job, "Job", "batch/v1", "Warning", c.fail_reason, COMPONENT, "%s",
                       c.fail_msg);
        }
    } else if (complete) {
        ctrl_job_delete_pods(m, v->key, job, active, nact);
        c.active = 0;
        c.ready = 0;
        if (flushed) {
            set_condition(conds, "Complete", "True", "CompletionsReached",
                          "Reached expected number of succeeded pods", now_s, false);
            completion_time = now_s;
            ctrl_event(m, job, "Job", "batch/v1", "Normal", "Completed", COMPONENT,
                       "Job completed");
        }
    } else {
        c.active = (int64_t)nact;
        if (satisfied)
            manage(v, &c, st, active, nact);
    }
    if (start_buf[0])
        cJSON_AddStringToObject(status, "startTime", start_buf);
    if (completion_time)
        cJSON_AddStringToObject(status, "completionTime", completion_time);
    cJSON_AddNumberToObject(status, "active", (double)c.active);
    cJSON_AddNumberToObject(status, "succeeded", (double)counted_succ);
    cJSON_AddNumberToObject(status, "failed", (double)counted_fail);
    cJSON_AddNumberToObject(status, "ready", (double)c.ready);
    if (c.indexed) {
        char *ci = controller_job_indexes_format(c.done_idx, c.completions);
        cJSON_AddStringToObject(status, "completedIndexes", ci);
        free(ci);
    }
    cJSON *unc = cJSON_AddObjectToObject(status, "uncountedTerminatedPods");
    cJSON_AddItemToObject(unc, "succeeded", c.unc_succ);
    cJSON_AddItemToObject(unc, "failed", c.unc_fail);
    if (conds->child)
        cJSON_AddItemToObject(status, "conditions", conds);
    else
        cJSON_Delete(conds);
    write_status(v, st, status);
    cJSON_Delete(status);
    free(active);
    free(c.done_idx);
    free(c.prev_idx);
    return (int)c.requeue_ms;
}

/* ---- entry points -----------------------------------------------------------------------------
 */

typedef struct release_ctx {
    controller_manager_t *m;
    const char *ns, *uid;
} release_ctx_t;

static void release_owned(void *ud, const cJSON *pod)
{
    release_ctx_t *r = ud;
    const char *ns = ctrl_str(ctrl_get(pod, "metadata"), "namespace");
    const char *ruid = ctrl_str(controller_owner_ref(pod), "uid");
    if (ns && ruid && !strcmp(ns, r->ns) && !strcmp(ruid, r->uid) && has_finalizer(pod))
        ctrl_job_release_pod(r->m, pod);
}

static void release_owned_indexed(void *ud, const ctrl_pod_facts_t *f)
{
    release_owned(ud, f->pod);
}

int ctrl_job_sync(controller_manager_t *m, const char *key)
{
    const char *slash = strchr(key, '/');
    if (!slash)
        return 0;
    char ns[256];
    snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
    const cJSON *job = client_informer_get(m->inf[CTRL_INF_JOBS], ns, slash + 1);
    if (!job) {
        controller_expect_delete(m->job_expect, key);
        return 0;
    }
    const char *uid = ctrl_str(ctrl_get(job, "metadata"), "uid");
    if (!uid)
        return 0;
    job_state_t *st = state_of(m, uid);
    if (st->status_inflight)
        return 0; /* its answer queues the key again */
    if (ctrl_deleting(job) || ctrl_job_finished(job)) {
        /* nothing more starts; pods are no longer tracked */
        release_ctx_t r = {m, ns, uid};
        ctrl_podidx_foreach(m->podidx, m->inf[CTRL_INF_PODS], NULL, uid, release_owned_indexed, &r);
        return ctrl_deleting(job) ? 0 : ctrl_job_ttl(m, job);
    }
    job_view_t v = {.m = m, .job = job, .ns = ns, .uid = uid, .key = key};
    ctrl_podidx_foreach(m->podidx, m->inf[CTRL_INF_PODS], NULL, uid, collect_indexed, &v);
    int rc = sync_job(&v, st);
    free(v.pods);
    return rc;
}

static char *job_owner_key(const cJSON *pod)
{
    const cJSON *ref = controller_owner_ref(pod);
    const char *kind = ctrl_str(ref, "kind"), *name = ctrl_str(ref, "name");
    const char *ns = ctrl_str(ctrl_get(pod, "metadata"), "namespace");
    if (!ref || !kind || strcmp(kind, "Job") || !name || !ns)
        return NULL;
    return util_strdup_printf("%s/%s", ns, name);
}

/* A pod holding our finalizer whose controlling Job (by UID) is not in the cache. */
static bool orphaned(controller_manager_t *m, const cJSON *pod, const char *key)
{
    const char *slash = strchr(key, '/');
    char ns[256];
    snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
    const cJSON *owner = client_informer_get(m->inf[CTRL_INF_JOBS], ns, slash + 1);
    const char *ouid = ctrl_str(ctrl_get(owner, "metadata"), "uid");
    const char *ruid = ctrl_str(controller_owner_ref(pod), "uid");
    return has_finalizer(pod) && (!owner || !ouid || !ruid || strcmp(ouid, ruid));
}

static void release_orphan(void *ud, const cJSON *pod)
{
    controller_manager_t *m = ud;
    char *key = job_owner_key(pod);
    if (key && orphaned(m, pod, key))
        ctrl_job_release_pod(m, pod);
    free(key);
}

void ctrl_job_release_orphans(controller_manager_t *m)
{
    client_informer_foreach(m->inf[CTRL_INF_PODS], release_orphan, m);
}

void ctrl_job_on_pod(controller_manager_t *m, const cJSON *old, const cJSON *pod, bool deleted)
{
    char *key = job_owner_key(pod);
    if (key) {
        const char *uid = ctrl_str(ctrl_get(pod, "metadata"), "uid");
        if (deleted || ctrl_deleting(pod))
            controller_expect_deletion_observed(m->job_expect, key, uid);
        else if (!old)
            controller_expect_creation_observed(m->job_expect, key);
        controller_queue_add(m->jobq, key, ctrl_now(m));
        /* an orphan still holding our finalizer (its Job is gone): let it go */
        if (!deleted && client_informer_synced(m->inf[CTRL_INF_JOBS]) && orphaned(m, pod, key))
            ctrl_job_release_pod(m, pod);
    }
    free(key);
}

void ctrl_job_on_job(controller_manager_t *m, const cJSON *job, bool deleted)
{
    char *key = ctrl_key(job);
    if (!key)
        return;
    controller_queue_add(m->jobq, key, ctrl_now(m));
    if (deleted) {
        controller_expect_delete(m->job_expect, key);
        const char *uid = ctrl_str(ctrl_get(job, "metadata"), "uid");
        const char *ns = ctrl_str(ctrl_get(job, "metadata"), "namespace");
        if (uid && ns) {
            release_ctx_t r = {m, ns, uid};
            client_informer_foreach(m->inf[CTRL_INF_PODS], release_owned, &r);
        }
        state_forget(m, uid);
    }
    free(key);
}
