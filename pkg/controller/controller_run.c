/* controller_run: the controller manager as a running component: informers on pods, replicasets
 * and deployments (pkg/client) feed the work queues; one timer runs due keys and sleeps until the
 * next one is due. Writes go out asynchronously; expectations keep a sync from repeating them. */
#include "controller/controller_job.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RUN_BATCH 64 /* syncs per loop turn */

const client_resource_t CONTROLLER_RES_RS = {"apps", "v1", "replicasets", true};
const client_resource_t CONTROLLER_RES_DEPLOY = {"apps", "v1", "deployments", true};
const client_resource_t CONTROLLER_RES_RC = {"", "v1", "replicationcontrollers", true};

struct ctrl_pending {
    ctrl_pending_t *prev, *next;
    controller_manager_t *m;
    ctrl_done_fn done;
    void *ud;
    void (*free_ud)(void *);
};

uint64_t ctrl_now(const controller_manager_t *m)
{
    return uv_now(m->loop);
}

const cJSON *ctrl_get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

const char *ctrl_str(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(ctrl_get(o, k));
}

int64_t ctrl_int(const cJSON *o, const char *k, int64_t def)
{
    const cJSON *v = ctrl_get(o, k);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : def;
}

char *ctrl_key(const cJSON *obj)
{
    const cJSON *meta = ctrl_get(obj, "metadata");
    const char *ns = ctrl_str(meta, "namespace"), *name = ctrl_str(meta, "name");
    if (!ns || !name)
        return NULL;
    return util_strdup_printf("%s/%s", ns, name);
}

ctrl_pending_t *ctrl_pending_new(controller_manager_t *m, ctrl_done_fn done, void *ud,
                                 void (*free_ud)(void *))
{
    ctrl_pending_t *p = util_xcalloc(1, sizeof(*p));
    *p = (ctrl_pending_t){NULL, m->pending, m, done, ud, free_ud};
    if (m->pending)
        m->pending->prev = p;
    m->pending = p;
    return p;
}

static void pending_unlink(ctrl_pending_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        p->m->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

void ctrl_pending_cb(void *node, client_result_t *res)
{
    ctrl_pending_t *p = node;
    pending_unlink(p);
    if (p->done)
        p->done(p->m, p->ud, res);
    else if (p->free_ud)
        p->free_ud(p->ud);
    controller_manager_t *m = p->m;
    free(p);
    ctrl_kick(m);
}

void ctrl_pending_sent(ctrl_pending_t *p, client_req_t *req)
{
    if (req)
        return;
    client_result_t res = {.error = -EIO};
    ctrl_pending_cb(p, &res);
}

static void log_answer(controller_manager_t *m, void *ud, client_result_t *res)
{
    (void)m;
    if (res->error || res->status >= 300)
        util_log_v(1, "controller: write %s: %d %s", (char *)ud, res->status,
                   res->st.message ? res->st.message : "");
    free(ud);
}

client_req_t *ctrl_patch(controller_manager_t *m, const client_resource_t *r, const char *ns,
                         const char *name, const char *sub, const cJSON *patch)
{
    ctrl_pending_t *p =
        ctrl_pending_new(m, log_answer, util_strdup_printf("%s %s/%s", r->plural, ns, name), free);
    client_req_t *q =
        client_patch(m->client, r, ns, name, sub, CLIENT_PATCH_MERGE, patch, ctrl_pending_cb, p);
    ctrl_pending_sent(p, q);
    return q;
}

void ctrl_event(controller_manager_t *m, const cJSON *obj, const char *kind,
                const char *api_version, const char *type, const char *reason,
                const char *component, const char *fmt, ...)
{
    static const client_resource_t events = {"", "v1", "events", true};
    const cJSON *meta = ctrl_get(obj, "metadata");
    const char *obj_ns = ctrl_str(meta, "namespace"), *name = ctrl_str(meta, "name");
    const char *ns = obj_ns ? obj_ns : "default"; /* cluster-scoped objects: as upstream */
    if (!name)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char ts[32];
    controller_format_time(time(NULL), ts);
    char evname[300];
    snprintf(evname, sizeof(evname), "%.250s.%llx%04x", name, (unsigned long long)time(NULL),
             ++m->event_seq & 0xffff);
    client_event_spec_t s = {.obj = {.kind = kind,
                                     .api_version = api_version,
                                     .ns = obj_ns,
                                     .name = name,
                                     .uid = ctrl_str(meta, "uid"),
                                     .resource_version = ctrl_str(meta, "resourceVersion")},
                             .type = type,
                             .reason = reason,
                             .message = msg,
                             .component = component,
                             .name = evname,
                             .namespace_ = ns,
                             .first_timestamp = ts,
                             .last_timestamp = ts};
    cJSON *ev = client_event_build(&s); /* the shared builder of pkg/client */
    ctrl_pending_t *p =
        ctrl_pending_new(m, log_answer, util_strdup_printf("event %s", evname), free);
    ctrl_pending_sent(p, client_create(m->client, &events, ns, ev, ctrl_pending_cb, p));
    cJSON_Delete(ev);
}

/* ---- the loop ------------------------------------------------------------------------------- */

static bool all_synced(const controller_manager_t *m)
{
    for (int i = 0; i < CTRL_INF_COUNT; i++)
        if (!m->synced[i])
            return false;
    return true;
}

static void run(uv_timer_t *t);

void ctrl_kick(controller_manager_t *m)
{
    if (m->stopped || !all_synced(m) || !ctrl_sets_synced(m))
        return;
    uint64_t now = ctrl_now(m);
    int64_t next = -1;
    controller_queue_t *qs[] = {m->rsq, m->dq, m->rcq, m->jobq, m->cjq};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        int64_t n = controller_queue_next(qs[i], now);
        if (n >= 0 && (next < 0 || n < next))
            next = n;
    }
    int64_t own[] = {ctrl_ep_next(m, now), ctrl_nl_next(m, now), ctrl_sets_next(m, now),
                     ctrl_hpa_next(m, now), ctrl_ipam_next(m, now)};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (own[i] >= 0 && (next < 0 || own[i] < next))
            next = own[i];
    if (next < 0)
        uv_timer_stop(&m->timer);
    else
        uv_timer_start(&m->timer, run, (uint64_t)next, 0);
}

static void finish(controller_queue_t *q, const char *key, int rc, uint64_t now)
{
    controller_queue_done(q, key, now);
    if (rc < 0) {
        controller_queue_add_rate_limited(q, key, now);
    } else {
        controller_queue_forget(q, key);
        if (rc > 0)
            controller_queue_add_after(q, key, (uint64_t)rc, now);
    }
}

static void run(uv_timer_t *t)
{
    controller_manager_t *m = t->data;
    for (int n = 0; n < RUN_BATCH && !m->stopped; n++) {
        uint64_t now = ctrl_now(m);
        char *key = controller_queue_pop(m->rsq, now);
        if (key) {
            finish(m->rsq, key, ctrl_rs_sync(m, key), ctrl_now(m));
            free(key);
            continue;
        }
        key = controller_queue_pop(m->rcq, now);
        if (key) {
            finish(m->rcq, key, ctrl_rc_sync(m, key), ctrl_now(m));
            free(key);
            continue;
        }
        key = controller_queue_pop(m->jobq, now);
        if (key) {
            finish(m->jobq, key, ctrl_job_sync(m, key), ctrl_now(m));
            free(key);
            continue;
        }
        key = controller_queue_pop(m->cjq, now);
        if (key) {
            finish(m->cjq, key, ctrl_cronjob_sync(m, key), ctrl_now(m));
            free(key);
            continue;
        }
        if (ctrl_ep_run_one(m, now) || ctrl_nl_run_one(m, now) || ctrl_sets_run_one(m, now) ||
            ctrl_hpa_run_one(m, now) || ctrl_ipam_run_one(m, now))
            continue;
        key = controller_queue_pop(m->dq, now);
        if (!key)
            break;
        finish(m->dq, key, ctrl_deploy_sync(m, key), ctrl_now(m));
        free(key);
    }
    ctrl_kick(m);
}

/* ---- informers ------------------------------------------------------------------------------ */

static void enqueue(controller_queue_t *q, controller_manager_t *m, const cJSON *obj)
{
    char *key = ctrl_key(obj);
    if (key)
        controller_queue_add(q, key, ctrl_now(m));
    free(key);
}

static void deliver(void *ud, const cJSON *old, const cJSON *obj, bool deleted)
{
    ctrl_inf_ctx_t *c = ud;
    controller_manager_t *m = c->m;
    switch (c->kind) {
    case CTRL_INF_PODS:
        ctrl_podidx_update(m->podidx, obj, deleted);
        ctrl_rs_on_pod(m, old, obj, deleted);
        ctrl_ep_on_pod(m, old, obj, deleted);
        ctrl_nl_on_pod(m, old, obj, deleted);
        ctrl_sets_on_pod(m, old, obj, deleted);
        ctrl_job_on_pod(m, old, obj, deleted);
        break;
    case CTRL_INF_JOBS:
        ctrl_job_on_job(m, obj, deleted);
        ctrl_cronjob_on_job(m, old, obj, deleted);
        break;
    case CTRL_INF_CRONJOBS:
        enqueue(m->cjq, m, obj);
        break;
    case CTRL_INF_RS:
        enqueue(m->rsq, m, obj);
        if (deleted) {
            char *key = ctrl_key(obj);
            if (key)
                controller_expect_delete(m->expect, key);
            free(key);
        }
        ctrl_deploy_on_rs(m, old, obj, deleted);
        break;
    case CTRL_INF_RC:
        enqueue(m->rcq, m, obj);
        if (deleted) {
            char *key = ctrl_key(obj);
            if (key)
                controller_expect_delete(m->rc_expect, key);
            free(key);
        }
        break;
    default:
        enqueue(m->dq, m, obj);
    }
    ctrl_kick(m);
}

static void on_synced(void *ud)
{
    ctrl_inf_ctx_t *c = ud;
    c->m->synced[c->kind] = true;
    if (all_synced(c->m))
        ctrl_job_release_orphans(c->m);
    ctrl_kick(c->m);
}

/* ---- leadership ----------------------------------------------------------------------------- */

static int start_informers(controller_manager_t *m, util_error_t *err)
{
    static const client_informer_handlers_t h = {.on_event = deliver, .on_synced = on_synced};
    const client_resource_t *res[CTRL_INF_COUNT] = {
        &CLIENT_RES_PODS,   &CONTROLLER_RES_RS,   &CONTROLLER_RES_DEPLOY,
        &CONTROLLER_RES_RC, &CONTROLLER_RES_JOBS, &CONTROLLER_RES_CRONJOBS};
    int rc = 0;
    m->podidx = ctrl_podidx_new();
    for (int i = 0; i < CTRL_INF_COUNT && rc == 0; i++) {
        m->ctx[i] = (ctrl_inf_ctx_t){m, i};
        client_informer_opts_t io = {.resource = res[i],
                                     .transform = i == CTRL_INF_PODS ? controller_pod_cache_trim
                                                                     : client_strip_managed_fields};
        rc = client_informer_start(m->client, &io, &h, &m->ctx[i], &m->inf[i], err);
    }
    if (rc == 0)
        rc = ctrl_ep_start(m, err);
    if (rc == 0)
        rc = ctrl_nl_start(m, err);
    if (rc == 0)
        rc = ctrl_sets_start(m, err);
    if (rc == 0)
        rc = ctrl_hpa_start(m, err);
    if (rc == 0)
        rc = ctrl_ipam_start(m, err);
    if (rc == 0)
        ctrl_gc_start(m->gc);
    return rc;
}

static void stop_informers(controller_manager_t *m)
{
    for (int i = 0; i < CTRL_INF_COUNT; i++) {
        if (m->inf[i])
            client_informer_stop(m->inf[i]);
        m->inf[i] = NULL;
        m->synced[i] = false;
    }
    ctrl_podidx_free(m->podidx);
    m->podidx = NULL;
    ctrl_ep_stop(m);
    ctrl_nl_stop(m);
    ctrl_sets_stop(m);
    ctrl_hpa_stop(m);
    ctrl_ipam_stop(m);
    ctrl_gc_stop(m->gc);
    uv_timer_stop(&m->timer);
}

static void lease_try(uv_timer_t *t);

static void lease_again(controller_manager_t *m, uint64_t ms)
{
    if (!m->stopped)
        uv_timer_start(&m->lease_timer, lease_try, ms, 0);
}

static void step_down(controller_manager_t *m, const char *why)
{
    if (!m->leading)
        return;
    util_log_warn("controller-manager: %s; stopped leading", why);
    m->leading = false;
    stop_informers(m);
}

static void lease_failed(controller_manager_t *m, client_result_t *res)
{
    util_log_v(1, "controller-manager: lease: %d %s", res->status,
               res->st.message ? res->st.message : "");
    if (m->leading && ctrl_now(m) > m->renewed_ms + CONTROLLER_LEASE_RENEW_MS)
        step_down(m, "the lease could not be renewed");
    lease_again(m, CONTROLLER_LEASE_RETRY_MS);
}

static void lease_written(controller_manager_t *m, void *ud, client_result_t *res)
{
    (void)ud;
    if (res->error || res->status < 200 || res->status >= 300) {
        lease_failed(m, res);
        return;
    }
    m->renewed_ms = ctrl_now(m);
    if (!m->leading && !m->stopped) {
        util_error_t err = NULL;
        if (start_informers(m, &err) < 0) {
            char buf[256];
            util_log_warn("controller-manager: %s", util_error_text(err, buf, sizeof(buf)));
            util_error_free(&err);
            stop_informers(m);
        } else {
            m->leading = true;
            util_log_info(
                "controller-manager: leading as %s (lease kube-system/"
                "kube-controller-manager); replicaset, replicationcontroller, "
                "deployment, statefulset, daemonset, job, ttl-after-finished, cronjob, hpa, "
                "endpoints, endpointslice, node lifecycle and node-ipam controllers run",
                m->id);
        }
    }
    lease_again(m, CONTROLLER_LEASE_RETRY_MS);
}

static void lease_got(controller_manager_t *m, void *ud, client_result_t *res)
{
    (void)ud;
    if (res->status != 404 && (res->error || res->status < 200 || res->status >= 300)) {
        lease_failed(m, res);
        return;
    }
    const cJSON *lease = res->status == 404 ? NULL : res->body;
    if (!controller_lease_may_take(&m->obs, lease, m->id, ctrl_now(m))) {
        step_down(m, "another holder renewed the lease");
        lease_again(m, CONTROLLER_LEASE_RETRY_MS);
        return;
    }
    cJSON *claim = controller_lease_claim(lease, m->id, time(NULL));
    ctrl_pending_t *p = ctrl_pending_new(m, lease_written, NULL, NULL);
    ctrl_pending_sent(
        p, lease ? client_update(m->client, &CLIENT_RES_LEASES, NULL, claim, ctrl_pending_cb, p)
                 : client_create(m->client, &CLIENT_RES_LEASES, "kube-system", claim,
                                 ctrl_pending_cb, p));
    cJSON_Delete(claim);
}

static void lease_try(uv_timer_t *t)
{
    controller_manager_t *m = t->data;
    ctrl_pending_t *p = ctrl_pending_new(m, lease_got, NULL, NULL);
    ctrl_pending_sent(p, client_get(m->client, &CLIENT_RES_LEASES, "kube-system",
                                    "kube-controller-manager", ctrl_pending_cb, p));
}

/* ---- lifetime ------------------------------------------------------------------------------- */

int controller_manager_start(uv_loop_t *loop, const struct client_config *api,
                             controller_manager_t **ret, util_error_t *err)
{
    controller_manager_t *m = util_xcalloc(1, sizeof(*m));
    m->loop = loop;
    client_opts_t co;
    client_opts_default(&co);
    co.loop = loop;
    co.config = api;
    co.user_agent = "kubeling-controller-manager";
    int rc = client_new(&co, &m->client, err);
    if (rc < 0) {
        free(m);
        return rc;
    }
    m->rsq = controller_queue_new();
    m->dq = controller_queue_new();
    m->rcq = controller_queue_new();
    m->expect = controller_expect_new();
    m->rc_expect = controller_expect_new();
    m->gc = ctrl_gc_new(m, api->ca_pem);
    m->jobq = controller_queue_new();
    m->cjq = controller_queue_new();
    m->job_expect = controller_expect_new();
    uv_timer_init(loop, &m->timer);
    uv_timer_init(loop, &m->lease_timer);
    m->timer.data = m->lease_timer.data = m;
    /* the host name, stable across restarts: a restarted server takes its own lease back at
     * once instead of waiting for it to expire (one server per host shares a store) */
    char host[256] = "";
    if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
        snprintf(host, sizeof(host), "kubeling");
    m->id = util_xstrdup(host);
    uv_timer_start(&m->lease_timer, lease_try, 0, 0);
    util_log_info("controller-manager: started; campaigning for the lease as %s", m->id);
    *ret = m;
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    controller_manager_t *m = h->data;
    if (--m->closing > 0)
        return;
    controller_lease_obs_free(&m->obs);
    free(m->id);
    controller_queue_free(m->rsq);
    controller_queue_free(m->dq);
    controller_queue_free(m->rcq);
    controller_expect_free(m->expect);
    controller_expect_free(m->rc_expect);
    ctrl_sets_free(m);
    ctrl_ipam_free(m);
    controller_queue_free(m->jobq);
    controller_queue_free(m->cjq);
    controller_expect_free(m->job_expect);
    ctrl_jobs_free(m->jobs);
    ctrl_cronjobs_free(m->cronjobs);
    free(m);
}

void controller_manager_stop(controller_manager_t *m)
{
    if (!m || m->stopped)
        return;
    m->stopped = true;
    stop_informers(m);
    client_close(m->client); /* cancels writes in flight: their callbacks will not run */
    while (m->pending) {
        ctrl_pending_t *p = m->pending;
        pending_unlink(p);
        if (p->free_ud)
            p->free_ud(p->ud);
        free(p);
    }
    ctrl_gc_free(m->gc);
    m->gc = NULL;
    m->closing = 2;
    uv_close((uv_handle_t *)&m->timer, timer_closed);
    uv_close((uv_handle_t *)&m->lease_timer, timer_closed);
}
