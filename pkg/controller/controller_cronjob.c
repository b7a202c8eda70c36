/* controller_cronjob: upstream's CronJob controller (v2): at each time of the schedule (in
 * spec.timeZone) creates the Job `<cronjob>-<scheduled time in minutes>` from jobTemplate,
 * honouring concurrencyPolicy, startingDeadlineSeconds and suspend; keeps status.active,
 * lastScheduleTime and lastSuccessfulTime, and deletes finished Jobs beyond the history limits.
 * The key is looked at again when the next time is due (the manager's one timer), never polled. */
#include "controller/controller_job.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPONENT     "cronjob-controller"
#define MAX_MISSED    100
#define NEXT_SLACK_MS 100 /* as upstream: look again a little after the time */

const client_resource_t CONTROLLER_RES_CRONJOBS = {"batch", "v1", "cronjobs", true};

/* The controller's memory: CronJobs with a create or status write in flight (not synced until
 * it is answered) and Jobs created but not yet seen by the informer (not "missing"). */
typedef struct created {
    char *uid;
    uint64_t at_ms;
} created_t;

struct ctrl_cronjobs {
    util_strv_t inflight;
    created_t *created;
    size_t ncreated;
};

#define CREATED_GRACE_MS 60000

static ctrl_cronjobs_t *state(controller_manager_t *m)
{
    if (!m->cronjobs)
        m->cronjobs = util_xcalloc(1, sizeof(*m->cronjobs));
    return m->cronjobs;
}

void ctrl_cronjobs_free(ctrl_cronjobs_t *c)
{
    if (!c)
        return;
    util_strv_clear(&c->inflight);
    for (size_t i = 0; i < c->ncreated; i++)
        free(c->created[i].uid);
    free(c->created);
    free(c);
}

static bool is_inflight(controller_manager_t *m, const char *key)
{
    const util_strv_t *v = &state(m)->inflight;
    for (size_t i = 0; i < v->n; i++)
        if (!strcmp(v->v[i], key))
            return true;
    return false;
}

static void inflight_done(controller_manager_t *m, const char *key)
{
    util_strv_t *v = &state(m)->inflight;
    for (size_t i = 0; i < v->n; i++)
        if (!strcmp(v->v[i], key)) {
            free(v->v[i]);
            v->v[i] = v->v[--v->n];
            v->v[v->n] = NULL;
            return;
        }
}

static void created_forget(controller_manager_t *m, const char *uid)
{
    ctrl_cronjobs_t *c = state(m);
    uint64_t now = ctrl_now(m);
    for (size_t i = 0; i < c->ncreated;) {
        if ((uid && !strcmp(c->created[i].uid, uid)) ||
            now > c->created[i].at_ms + CREATED_GRACE_MS) {
            free(c->created[i].uid);
            c->created[i] = c->created[--c->ncreated];
        } else {
            i++;
        }
    }
}

static void created_add(controller_manager_t *m, const char *uid)
{
    ctrl_cronjobs_t *c = state(m);
    created_forget(m, NULL);
    c->created = util_xrealloc(c->created, (c->ncreated + 1) * sizeof(*c->created));
    c->created[c->ncreated++] = (created_t){util_xstrdup(uid), ctrl_now(m)};
}

static bool recently_created(controller_manager_t *m, const char *uid)
{
    ctrl_cronjobs_t *c = state(m);
    for (size_t i = 0; uid && i < c->ncreated; i++)
        if (!strcmp(c->created[i].uid, uid))
            return ctrl_now(m) <= c->created[i].at_ms + CREATED_GRACE_MS;
    return false;
}

static void event(controller_manager_t *m, const cJSON *cj, const char *type, const char *reason,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void event(controller_manager_t *m, const cJSON *cj, const char *type, const char *reason,
                  const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ctrl_event(m, cj, "CronJob", "batch/v1", type, reason, COMPONENT, "%s", msg);
}

/* ---- the jobs of a cronjob --------------------------------------------------------------------
 */

typedef struct cj_jobs {
    const char *ns, *uid;
    const cJSON **v;
    size_t n, cap;
} cj_jobs_t;

static void collect(void *ud, const cJSON *job)
{
    cj_jobs_t *c = ud;
    const char *ns = ctrl_str(ctrl_get(job, "metadata"), "namespace");
    const char *ruid = ctrl_str(controller_owner_ref(job), "uid");
    if (!ns || strcmp(ns, c->ns) || !ruid || strcmp(ruid, c->uid))
        return;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->v = util_xrealloc(c->v, c->cap * sizeof(*c->v));
    }
    c->v[c->n++] = job;
}

static const char *uid_of(const cJSON *o)
{
    return ctrl_str(ctrl_get(o, "metadata"), "uid");
}

static const char *name_of(const cJSON *o)
{
    return ctrl_str(ctrl_get(o, "metadata"), "name");
}

static const char *finished_type(const cJSON *job)
{
    static const char *const types[] = {"Complete", "Failed"};
    for (int i = 0; i < 2; i++) {
        const char *s = ctrl_str(ctrl_condition(job, types[i]), "status");
        if (s && !strcmp(s, "True"))
            return types[i];
    }
    return NULL;
}

static cJSON *job_ref(const cJSON *job)
{
    const cJSON *meta = ctrl_get(job, "metadata");
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "kind", "Job");
    cJSON_AddStringToObject(r, "namespace", ctrl_str(meta, "namespace"));
    cJSON_AddStringToObject(r, "name", ctrl_str(meta, "name"));
    cJSON_AddStringToObject(r, "uid", ctrl_str(meta, "uid"));
    cJSON_AddStringToObject(r, "apiVersion", "batch/v1");
    if (ctrl_str(meta, "resourceVersion"))
        cJSON_AddStringToObject(r, "resourceVersion", ctrl_str(meta, "resourceVersion"));
    return r;
}

/* ---- writes -----------------------------------------------------------------------------------
 */

typedef struct cj_write {
    char *key;
    cJSON *cj;  /* a copy, for events */
    char *name; /* the job */
    int64_t scheduled;
    cJSON *active; /* status.active as the sync left it (a create) */
} cj_write_t;

static void write_free(void *p)
{
    cj_write_t *w = p;
    free(w->key);
    free(w->name);
    cJSON_Delete(w->cj);
    cJSON_Delete(w->active);
    free(w);
}

static cj_write_t *write_new(const char *key, const cJSON *cj, const char *name, int64_t t)
{
    cj_write_t *w = util_xcalloc(1, sizeof(*w));
    w->key = util_xstrdup(key);
    w->cj = cJSON_Duplicate(cj, true);
    w->name = name ? util_xstrdup(name) : NULL;
    w->scheduled = t;
    return w;
}

static bool ok(const client_result_t *res)
{
    return !res->error && res->status >= 200 && res->status < 300;
}

static void status_done(controller_manager_t *m, void *ud, client_result_t *res)
{
    cj_write_t *w = ud;
    inflight_done(m, w->key);
    if (!ok(res)) {
        util_log_v(1, "cronjob %s: status: %d %s", w->key, res->status,
                   res->st.message ? res->st.message : "");
        controller_queue_add_rate_limited(m->cjq, w->key, ctrl_now(m));
    } else {
        controller_queue_forget(m->cjq, w->key);
        controller_queue_add(m->cjq, w->key, ctrl_now(m));
    }
    write_free(w);
}

/* Writes status (active, lastScheduleTime, lastSuccessfulTime) when it changed. */
static void write_status(controller_manager_t *m, const char *key, const cJSON *cj, cJSON *status)
{
    const cJSON *cur = ctrl_get(cj, "status");
    bool same = true;
    for (cJSON *f = status->child; f && same; f = f->next) {
        const cJSON *c = ctrl_get(cur, f->string);
        if (cJSON_IsArray(f) && cJSON_GetArraySize(f) == 0 && !c)
            continue;
        same = cJSON_Compare(f, c, true);
    }
    if (same)
        return;
    cJSON *patch = cJSON_CreateObject();
    const char *rv = ctrl_str(ctrl_get(cj, "metadata"), "resourceVersion");
    if (rv)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(patch, "metadata"), "resourceVersion", rv);
    cJSON_AddItemReferenceToObject(patch, "status", status);
    cj_write_t *w = write_new(key, cj, NULL, 0);
    util_strv_push(&state(m)->inflight, key);
    ctrl_pending_t *p = ctrl_pending_new(m, status_done, w, write_free);
    ctrl_pending_sent(p, client_patch(m->client, &CONTROLLER_RES_CRONJOBS,
                                      ctrl_str(ctrl_get(cj, "metadata"), "namespace"), name_of(cj),
                                      "status", CLIENT_PATCH_MERGE, patch, ctrl_pending_cb, p));
    cJSON_Delete(patch);
}

static void job_deleted(controller_manager_t *m, void *ud, client_result_t *res)
{
    cj_write_t *w = ud;
    if (ok(res))
        event(m, w->cj, "Normal", "SuccessfulDelete", "Deleted job %s", w->name);
    else if (res->status != 404)
        event(m, w->cj, "Warning", "FailedDelete", "Deleted job %s: %s", w->name,
              res->st.message ? res->st.message : "request failed");
    write_free(w);
}

static void delete_job(controller_manager_t *m, const char *key, const cJSON *cj, const char *ns,
                       const char *name)
{
    util_buf_t path = {0};
    if (!name || client_path(&path, &CONTROLLER_RES_JOBS, ns, name, NULL) < 0) {
        util_buf_free(&path);
        return;
    }
    static const char body[] =
        "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"propagationPolicy\":\"Background\"}";
    cj_write_t *w = write_new(key, cj, name, 0);
    ctrl_pending_t *p = ctrl_pending_new(m, job_deleted, w, write_free);
    ctrl_pending_sent(p, client_request(m->client, "DELETE", path.data, "application/json", body,
                                        sizeof(body) - 1, ctrl_pending_cb, p));
    util_buf_free(&path);
}

/* The Job for the time t: jobTemplate's labels, annotations and spec, the scheduled-timestamp
 * annotation (RFC 3339 in the CronJob's zone), a controller reference. */
static cJSON *job_for(const cJSON *cj, int64_t t, const controller_tz_t *tz, char *name,
                      size_t name_len)
{
    const cJSON *meta = ctrl_get(cj, "metadata");
    const cJSON *jt = ctrl_get(ctrl_get(cj, "spec"), "jobTemplate");
    snprintf(name, name_len, "%.200s-%lld", name_of(cj), (long long)(t / 60));
    cJSON *job = cJSON_CreateObject();
    cJSON_AddStringToObject(job, "apiVersion", "batch/v1");
    cJSON_AddStringToObject(job, "kind", "Job");
    cJSON *jm = cJSON_AddObjectToObject(job, "metadata");
    cJSON_AddStringToObject(jm, "name", name);
    const cJSON *tm = ctrl_get(jt, "metadata");
    if (cJSON_IsObject(ctrl_get(tm, "labels")))
        cJSON_AddItemToObject(jm, "labels", cJSON_Duplicate(ctrl_get(tm, "labels"), true));
    cJSON *ann = cJSON_IsObject(ctrl_get(tm, "annotations"))
                     ? cJSON_Duplicate(ctrl_get(tm, "annotations"), true)
                     : cJSON_CreateObject();
    cJSON_AddItemToObject(jm, "annotations", ann);
    int32_t off = controller_tz_offset(tz, t);
    time_t lt = (time_t)(t + off);
    struct tm tmv;
    gmtime_r(&lt, &tmv);
    char ts[64];
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tmv);
    if (off == 0)
        snprintf(ts + n, sizeof(ts) - n, "Z");
    else
        snprintf(ts + n, sizeof(ts) - n, "%c%02d:%02d", off < 0 ? '-' : '+', abs(off) / 3600,
                 abs(off) % 3600 / 60);
    cJSON_DeleteItemFromObjectCaseSensitive(ann, "batch.kubernetes.io/cronjob-scheduled-timestamp");
    cJSON_AddStringToObject(ann, "batch.kubernetes.io/cronjob-scheduled-timestamp", ts);
    cJSON *ref = cJSON_CreateObject();
    cJSON_AddStringToObject(ref, "apiVersion", "batch/v1");
    cJSON_AddStringToObject(ref, "kind", "CronJob");
    cJSON_AddStringToObject(ref, "name", name_of(cj));
    cJSON_AddStringToObject(ref, "uid", ctrl_str(meta, "uid"));
    cJSON_AddBoolToObject(ref, "controller", true);
    cJSON_AddBoolToObject(ref, "blockOwnerDeletion", true);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(jm, "ownerReferences"), ref);
    cJSON *spec = cJSON_Duplicate(ctrl_get(jt, "spec"), true);
    cJSON_AddItemToObject(job, "spec", spec ? spec : cJSON_CreateObject());
    return job;
}

/* The Job was created: it joins status.active and lastScheduleTime moves. The status is
 * written against the CronJob this sync read (its resourceVersion), never a newer cached one:
 * w->active is that sync's view, and pairing it with a newer resourceVersion could drop what a
 * write in between added. A conflict queues the key; the next sync finds the Job recently
 * created and lists it. AlreadyExists (a sync that read an older CronJob, before the status
 * write listing this Job) writes nothing, as upstream: the write that created it did. */
static void job_created(controller_manager_t *m, void *ud, client_result_t *res)
{
    cj_write_t *w = ud;
    inflight_done(m, w->key);
    if (!ok(res)) { /* retried with back-off (a Job of that name that is not ours stays) */
        if (res->status != 409)
            event(m, w->cj, "Warning", "FailedCreate", "Error creating job: %s",
                  res->st.message ? res->st.message : "request failed");
        controller_queue_add_rate_limited(m->cjq, w->key, ctrl_now(m));
        write_free(w);
        return;
    }
    event(m, w->cj, "Normal", "SuccessfulCreate", "Created job %s", w->name);
    const cJSON *cj = w->cj;
    cJSON *status = cJSON_CreateObject();
    cJSON *active = w->active;
    w->active = NULL;
    const char *uid = uid_of(res->body);
    bool present = false;
    const cJSON *a;
    cJSON_ArrayForEach(a, active)
    {
        const char *n = ctrl_str(a, "name");
        present |= n && !strcmp(n, w->name);
    }
    if (uid && !present) {
        cJSON_AddItemToArray(active, job_ref(res->body));
        created_add(m, uid);
    }
    cJSON_AddItemToObject(status, "active", active);
    char ts[32];
    controller_format_time(w->scheduled, ts);
    cJSON_AddStringToObject(status, "lastScheduleTime", ts);
    if (ctrl_str(ctrl_get(cj, "status"), "lastSuccessfulTime"))
        cJSON_AddStringToObject(status, "lastSuccessfulTime",
                                ctrl_str(ctrl_get(cj, "status"), "lastSuccessfulTime"));
    write_status(m, w->key, cj, status);
    cJSON_Delete(status);
    controller_queue_add(m->cjq, w->key, ctrl_now(m));
    write_free(w);
}

static void create_job(controller_manager_t *m, const char *key, const cJSON *cj, int64_t t,
                       const controller_tz_t *tz, const cJSON *active)
{
    char name[300];
    cJSON *job = job_for(cj, t, tz, name, sizeof(name));
    cj_write_t *w = write_new(key, cj, name, t);
    w->active = cJSON_Duplicate(active, true);
    util_strv_push(&state(m)->inflight, key);
    ctrl_pending_t *p = ctrl_pending_new(m, job_created, w, write_free);
    ctrl_pending_sent(p, client_create(m->client, &CONTROLLER_RES_JOBS,
                                       ctrl_str(ctrl_get(cj, "metadata"), "namespace"), job,
                                       ctrl_pending_cb, p));
    cJSON_Delete(job);
}

/* ---- scheduling -------------------------------------------------------------------------------
 */

/* upstream's mostRecentScheduleTime: the latest start in (earliest, now], -1 when none; *missed
 * counts the starts passed. */
int64_t controller_cron_most_recent(const controller_cron_t *c, const controller_tz_t *tz,
                                    int64_t earliest, int64_t now, int64_t *missed)
{
    *missed = 0;
    int64_t t1 = controller_cron_next(c, tz, earliest);
    if (t1 < 0 || t1 > now)
        return -1;
    int64_t last = t1;
    *missed = 1;
    for (int64_t t = controller_cron_next(c, tz, t1); t >= 0 && t <= now;
         t = controller_cron_next(c, tz, t)) {
        last = t;
        ++*missed;
        if (*missed > MAX_MISSED) { /* jump by the schedule's period, as upstream */
            int64_t t2 = controller_cron_next(c, tz, t1);
            int64_t period = t2 - t1 > 0 ? t2 - t1 : 60;
            *missed = (now - t1) / period + 1;
            last = t1 + (*missed - 1) * period;
            for (int64_t u = controller_cron_next(c, tz, last); u >= 0 && u <= now;
                 u = controller_cron_next(c, tz, u))
                last = u;
            break;
        }
    }
    return last;
}

typedef struct cj_sync {
    controller_manager_t *m;
    const char *key, *ns;
    const cJSON *cj;
    cJSON *active; /* status.active being rebuilt */
    const char *last_success;
    char last_success_buf[32];
} cj_sync_t;

static bool active_has(const cJSON *active, const char *uid)
{
    const cJSON *a;
    cJSON_ArrayForEach(a, active)
    {
        const char *u = ctrl_str(a, "uid");
        if (u && uid && !strcmp(u, uid))
            return true;
    }
    return false;
}

static void active_remove(cJSON *active, const char *uid)
{
    cJSON *a;
    cJSON_ArrayForEach(a, active)
    {
        const char *u = ctrl_str(a, "uid");
        if (u && uid && !strcmp(u, uid)) {
            cJSON_Delete(cJSON_DetachItemViaPointer(active, a));
            return;
        }
    }
}

/* Reconciles status.active with the Jobs that exist (upstream's first half of syncCronJob). */
static void reconcile_active(cj_sync_t *s, const cj_jobs_t *jobs)
{
    for (size_t i = 0; i < jobs->n; i++) {
        const cJSON *j = jobs->v[i];
        const char *type = finished_type(j);
        bool found = active_has(s->active, uid_of(j));
        if (!found && !type && recently_created(s->m, uid_of(j))) {
            /* ours, but the status write that listed it lost a conflict (or this sync reads a
             * cached CronJob older than that write): it is active */
            cJSON_AddItemToArray(s->active, job_ref(j));
        } else if (!found && !type) {
            event(s->m, s->cj, "Warning", "UnexpectedJob",
                  "Saw a job that the controller did not create or forgot: %s", name_of(j));
        } else if (found && type) {
            active_remove(s->active, uid_of(j));
            event(s->m, s->cj, "Normal", "SawCompletedJob", "Saw completed job: %s, status: %s",
                  name_of(j), type);
        }
        const char *ct = ctrl_str(ctrl_get(j, "status"), "completionTime");
        if (type && !strcmp(type, "Complete") && ct &&
            (!s->last_success ||
             controller_parse_time(ct) > controller_parse_time(s->last_success))) {
            util_strlcpy(s->last_success_buf, ct, sizeof(s->last_success_buf));
            s->last_success = s->last_success_buf;
        }
    }
    cJSON *a = s->active ? s->active->child : NULL;
    while (a) { /* references to Jobs that are gone */
        cJSON *next = a->next;
        const char *uid = ctrl_str(a, "uid");
        bool exists = false;
        for (size_t i = 0; i < jobs->n && !exists; i++)
            exists = uid && uid_of(jobs->v[i]) && !strcmp(uid, uid_of(jobs->v[i]));
        if (!exists && !recently_created(s->m, uid)) {
            event(s->m, s->cj, "Normal", "MissingJob", "Active job went missing: %s",
                  ctrl_str(a, "name") ? ctrl_str(a, "name") : "");
            cJSON_Delete(cJSON_DetachItemViaPointer(s->active, a));
        }
        a = next;
    }
}

static int cmp_start(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    int64_t tx = controller_parse_time(ctrl_str(ctrl_get(x, "status"), "startTime"));
    int64_t ty = controller_parse_time(ctrl_str(ctrl_get(y, "status"), "startTime"));
    if (tx != ty) /* no startTime sorts last, as upstream's byJobStartTime */
        return tx < 0 ? 1 : ty < 0 ? -1 : tx < ty ? -1 : 1;
    const char *nx = name_of(x), *ny = name_of(y);
    return strcmp(nx ? nx : "", ny ? ny : "");
}

/* Deletes the oldest finished Jobs beyond successfulJobsHistoryLimit/failedJobsHistoryLimit. */
static void cleanup_history(cj_sync_t *s, const cj_jobs_t *jobs)
{
    const cJSON *spec = ctrl_get(s->cj, "spec");
    static const char *const types[] = {"Complete", "Failed"};
    static const char *const limits[] = {"successfulJobsHistoryLimit", "failedJobsHistoryLimit"};
    const cJSON **sel = util_xcalloc(jobs->n + 1, sizeof(*sel));
    for (int k = 0; k < 2; k++) {
        const cJSON *lim = ctrl_get(spec, limits[k]);
        if (!cJSON_IsNumber(lim))
            continue;
        size_t n = 0;
        for (size_t i = 0; i < jobs->n; i++) {
            const char *type = finished_type(jobs->v[i]);
            if (type && !strcmp(type, types[k]) && !ctrl_deleting(jobs->v[i]))
                sel[n++] = jobs->v[i];
        }
        int64_t keep = (int64_t)lim->valuedouble;
        if ((int64_t)n <= keep)
            continue;
        qsort(sel, n, sizeof(*sel), cmp_start);
        for (size_t i = 0; i < n - (size_t)(keep < 0 ? 0 : keep); i++)
            delete_job(s->m, s->key, s->cj, s->ns, name_of(sel[i]));
    }
    free(sel);
}

/* Decides about the most recent start time; returns ms until the next one (0: none). */
static int64_t schedule(cj_sync_t *s, const cj_jobs_t *jobs, int64_t now)
{
    controller_manager_t *m = s->m;
    const cJSON *spec = ctrl_get(s->cj, "spec"), *st = ctrl_get(s->cj, "status");
    const char *tz_name = ctrl_str(spec, "timeZone"), *sched = ctrl_str(spec, "schedule");
    controller_tz_t *tz = NULL;
    util_error_t err = NULL;
    char buf[256];
    if (tz_name && controller_tz_load(tz_name, &tz, &err) < 0) {
        event(m, s->cj, "Warning", "UnknownTimeZone", "invalid timeZone: \"%s\": %s", tz_name,
              util_error_text(err, buf, sizeof(buf)));
        util_error_free(&err);
        return 0;
    }
    controller_cron_t cron;
    if (controller_cron_parse(sched, &cron, buf, sizeof(buf)) < 0) {
        event(m, s->cj, "Warning", "UnparseableSchedule", "unparseable schedule: \"%s\" : %s",
              sched ? sched : "", buf);
        controller_tz_free(tz);
        return 0;
    }
    int64_t earliest = controller_parse_time(ctrl_str(st, "lastScheduleTime"));
    if (earliest < 0)
        earliest =
            controller_parse_time(ctrl_str(ctrl_get(s->cj, "metadata"), "creationTimestamp"));
    const cJSON *sds = ctrl_get(spec, "startingDeadlineSeconds");
    if (cJSON_IsNumber(sds) && now - (int64_t)sds->valuedouble > earliest)
        earliest = now - (int64_t)sds->valuedouble;
    int64_t missed = 0, t = -1;
    if (earliest <= now)
        t = controller_cron_most_recent(&cron, tz, earliest, now, &missed);
    if (missed > MAX_MISSED) {
        char n[32];
        snprintf(n, sizeof(n), "%lld", (long long)missed);
        event(m, s->cj, "Warning", "TooManyMissedTimes",
              "too many missed start times: %s. Set or decrease .spec.startingDeadlineSeconds or "
              "check clock skew",
              n);
    }
    int64_t next = controller_cron_next(&cron, tz, t >= 0 ? t : now);
    while (next >= 0 && next <= now)
        next = controller_cron_next(&cron, tz, next);
    int64_t wait = next < 0 ? 0 : (next - now) * 1000 + NEXT_SLACK_MS;
    if (t < 0 || cJSON_IsTrue(ctrl_get(spec, "suspend"))) {
        controller_tz_free(tz);
        return cJSON_IsTrue(ctrl_get(spec, "suspend")) ? 0 : wait;
    }
    char name[300], when[64];
    snprintf(name, sizeof(name), "%.200s-%lld", name_of(s->cj), (long long)(t / 60));
    bool done = controller_parse_time(ctrl_str(st, "lastScheduleTime")) == t;
    const cJSON *a;
    cJSON_ArrayForEach(a, s->active)
    {
        const char *n = ctrl_str(a, "name");
        done |= n && !strcmp(n, name);
    }
    const char *policy = ctrl_str(spec, "concurrencyPolicy");
    if (cJSON_IsNumber(sds) && t + (int64_t)sds->valuedouble < now) {
        time_t tt = (time_t)t;
        struct tm tmv;
        gmtime_r(&tt, &tmv);
        strftime(when, sizeof(when), "%a, %d %b %Y %H:%M:%S +0000", &tmv);
        event(m, s->cj, "Normal", "MissSchedule", "Missed scheduled time to start a job: %s", when);
    } else if (done) {
        /* already processed */
    } else if (policy && !strcmp(policy, "Forbid") && cJSON_GetArraySize(s->active) > 0) {
        event(m, s->cj, "Normal", "JobAlreadyActive",
              "Not starting job because prior execution is running and concurrency policy is "
              "Forbid");
    } else {
        if (policy && !strcmp(policy, "Replace")) {
            cJSON *r;
            cJSON_ArrayForEach(r, s->active)
            {
                delete_job(m, s->key, s->cj, s->ns, ctrl_str(r, "name"));
            }
            cJSON_Delete(s->active);
            s->active = cJSON_CreateArray();
        }
        create_job(m, s->key, s->cj, t, tz, s->active);
    }
    (void)jobs;
    controller_tz_free(tz);
    return wait;
}

int ctrl_cronjob_sync(controller_manager_t *m, const char *key)
{
    const char *slash = strchr(key, '/');
    if (!slash || is_inflight(m, key))
        return 0; /* the write's answer queues the key again */
    char ns[256];
    snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
    const cJSON *cj = client_informer_get(m->inf[CTRL_INF_CRONJOBS], ns, slash + 1);
    if (!cj || !uid_of(cj))
        return 0;
    const cJSON *st = ctrl_get(cj, "status");
    cj_jobs_t jobs = {.ns = ns, .uid = uid_of(cj)};
    client_informer_foreach(m->inf[CTRL_INF_JOBS], collect, &jobs);
    cj_sync_t s = {.m = m, .key = key, .ns = ns, .cj = cj};
    s.active = cJSON_IsArray(ctrl_get(st, "active")) ? cJSON_Duplicate(ctrl_get(st, "active"), true)
                                                     : cJSON_CreateArray();
    s.last_success = ctrl_str(st, "lastSuccessfulTime");
    reconcile_active(&s, &jobs);
    int64_t wait = 0;
    if (!ctrl_deleting(cj)) {
        cleanup_history(&s, &jobs);
        if (!is_inflight(m, key)) {
            wait = schedule(&s, &jobs, time(NULL));
            if (!is_inflight(m, key)) { /* a create writes status when it is answered */
                cJSON *status = cJSON_CreateObject();
                cJSON_AddItemToObject(status, "active", s.active);
                s.active = NULL;
                if (ctrl_str(st, "lastScheduleTime"))
                    cJSON_AddStringToObject(status, "lastScheduleTime",
                                            ctrl_str(st, "lastScheduleTime"));
                if (s.last_success)
                    cJSON_AddStringToObject(status, "lastSuccessfulTime", s.last_success);
                write_status(m, key, cj, status);
                cJSON_Delete(status);
            }
        }
    }
    cJSON_Delete(s.active);
    free(jobs.v);
    return (int)(wait > 24 * 3600 * 1000 ? 24 * 3600 * 1000 : wait);
}

void ctrl_cronjob_on_job(controller_manager_t *m, const cJSON *old, const cJSON *job, bool deleted)
{
    if (!old && !deleted)
        created_forget(m, ctrl_str(ctrl_get(job, "metadata"), "uid")); /* seen now */
    const cJSON *refs[] = {controller_owner_ref(job), old ? controller_owner_ref(old) : NULL};
    const char *ns = ctrl_str(ctrl_get(job, "metadata"), "namespace");
    for (int i = 0; i < 2; i++) {
        const char *kind = ctrl_str(refs[i], "kind"), *name = ctrl_str(refs[i], "name");
        if (!kind || strcmp(kind, "CronJob") || !name || !ns)
            continue;
        char *key = util_strdup_printf("%s/%s", ns, name);
        controller_queue_add(m->cjq, key, ctrl_now(m));
        free(key);
    }
}
