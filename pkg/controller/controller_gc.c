/* controller_gc: the garbage collector as a running controller (upstream's GarbageCollector):
 * its requests (answers dropped after a lost lease), its one queue of keys (uids to look at,
 * owners to orphan, housekeeping) run up to 16 at a time, the graph's hooks, and its lifetime.
 * Discovery and informers are in controller_gc_monitor.c, attemptToDelete / attemptToOrphan in
 * controller_gc_delete.c, the housekeeping controllers in controller_gc_house.c. */
#include "controller/controller_gc.h"

#include <stdlib.h>
#include <string.h>

#define GC_INFLIGHT     16    /* keys processed at once (upstream runs 20 workers) */
#define GC_SYNC_WAIT_MS 30000 /* then proceed even if an informer never synced (as upstream) */

/* ---- requests ------------------------------------------------------------------------------ */

/* Every request of the collector carries the epoch it was sent in; answers from before a stop
 * (a lost lease) are dropped. */
typedef struct gc_req {
    struct ctrl_gc *gc;
    unsigned epoch;
    ctrl_gc_done_fn done;
    void *ud;
    void (*free_ud)(void *);
} gc_req_t;

static void req_done(controller_manager_t *m, void *ud, client_result_t *res)
{
    (void)m;
    gc_req_t *r = ud;
    if (r->epoch == r->gc->epoch && r->gc->running)
        r->done(r->gc, r->ud, res);
    else
        r->free_ud(r->ud);
    free(r);
}

static void req_free(void *ud)
{
    gc_req_t *r = ud;
    r->free_ud(r->ud);
    free(r);
}

/* The state of the request (ud) is released by free_ud when the answer is dropped. */
ctrl_pending_t *ctrl_gc_pending(struct ctrl_gc *gc, ctrl_gc_done_fn done, void *ud,
                                void (*free_ud)(void *))
{
    gc_req_t *r = util_xcalloc(1, sizeof(*r));
    *r = (gc_req_t){gc, gc->epoch, done, ud, free_ud};
    return ctrl_pending_new(gc->m, req_done, r, req_free);
}

/* Requests of attempts (attempt_ref_t), orphan steps (orphan_step_t) or plain blocks. */

void ctrl_gc_get(struct ctrl_gc *gc, const client_resource_t *r, const char *ns, const char *name,
                 ctrl_gc_done_fn done, void *ud, void (*free_ud)(void *))
{
    ctrl_pending_t *p = ctrl_gc_pending(gc, done, ud, free_ud);
    ctrl_pending_sent(
        p, client_get(gc->m->client, r, r->namespaced ? ns : NULL, name, ctrl_pending_cb, p));
}

void ctrl_gc_patch(struct ctrl_gc *gc, const client_resource_t *r, const char *ns, const char *name,
                   const cJSON *patch, ctrl_gc_done_fn done, void *ud, void (*free_ud)(void *))
{
    ctrl_pending_t *p = ctrl_gc_pending(gc, done, ud, free_ud);
    ctrl_pending_sent(p, client_patch(gc->m->client, r, r->namespaced ? ns : NULL, name, NULL,
                                      CLIENT_PATCH_MERGE, patch, ctrl_pending_cb, p));
}

void ctrl_gc_patch_status(struct ctrl_gc *gc, const client_resource_t *r, const char *ns,
                          const char *name, const cJSON *patch, ctrl_gc_done_fn done, void *ud,
                          void (*free_ud)(void *))
{
    ctrl_pending_t *p = ctrl_gc_pending(gc, done, ud, free_ud);
    ctrl_pending_sent(p, client_patch(gc->m->client, r, ns, name, "status", CLIENT_PATCH_STRATEGIC,
                                      patch, ctrl_pending_cb, p));
}

void ctrl_gc_create(struct ctrl_gc *gc, const client_resource_t *r, const char *ns,
                    const cJSON *obj, ctrl_gc_done_fn done, void *ud, void (*free_ud)(void *))
{
    ctrl_pending_t *p = ctrl_gc_pending(gc, done, ud, free_ud);
    ctrl_pending_sent(p, client_create(gc->m->client, r, ns, obj, ctrl_pending_cb, p));
}

void ctrl_gc_update(struct ctrl_gc *gc, const client_resource_t *r, const cJSON *obj,
                    ctrl_gc_done_fn done, void *ud, void (*free_ud)(void *))
{
    ctrl_pending_t *p = ctrl_gc_pending(gc, done, ud, free_ud);
    ctrl_pending_sent(p, client_update(gc->m->client, r, NULL, obj, ctrl_pending_cb, p));
}

void ctrl_gc_delete(struct ctrl_gc *gc, const client_resource_t *r, const char *ns,
                    const char *name, const char *uid, const char *rv, const char *policy,
                    int64_t grace, ctrl_gc_done_fn done, void *ud, void (*free_ud)(void *))
{
    util_buf_t path = {0};
    ctrl_pending_t *p = ctrl_gc_pending(gc, done, ud, free_ud);
    if (client_path(&path, r, r->namespaced ? ns : NULL, name, NULL) < 0) {
        util_buf_free(&path);
        ctrl_pending_sent(p, NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "DeleteOptions");
    cJSON_AddStringToObject(o, "apiVersion", "v1");
    if (policy)
        cJSON_AddStringToObject(o, "propagationPolicy", policy);
    if (grace >= 0)
        cJSON_AddNumberToObject(o, "gracePeriodSeconds", (double)grace);
    cJSON *pre = cJSON_AddObjectToObject(o, "preconditions");
    if (uid)
        cJSON_AddStringToObject(pre, "uid", uid);
    if (rv)
        cJSON_AddStringToObject(pre, "resourceVersion", rv);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    ctrl_pending_sent(p, client_request(gc->m->client, "DELETE", path.data, "application/json",
                                        body, strlen(body), ctrl_pending_cb, p));
    cJSON_free(body);
    util_buf_free(&path);
}

bool ctrl_gc_ok(const client_result_t *res)
{
    return !res->error && res->status >= 200 && res->status < 300;
}

/* ---- the queue ------------------------------------------------------------------------------ */

/* Keys run once every informer has listed (or 30 s after the start, as upstream proceeds). */
static bool all_synced(const struct ctrl_gc *gc)
{
    if (!gc->nres)
        return false;
    if (ctrl_now(gc->m) > gc->started_ms + GC_SYNC_WAIT_MS)
        return true;
    for (size_t i = 0; i < gc->nres; i++)
        if (gc->res[i]->inf && !gc->res[i]->synced)
            return false;
    return true;
}

void ctrl_gc_finish(struct ctrl_gc *gc, const char *key, int rc)
{
    uint64_t now = ctrl_now(gc->m);
    controller_queue_done(gc->q, key, now);
    if (rc < 0) {
        controller_queue_add_rate_limited(gc->q, key, now);
    } else {
        controller_queue_forget(gc->q, key);
        if (rc > 0)
            controller_queue_add_after(gc->q, key, (uint64_t)rc, now);
    }
    if (gc->inflight)
        gc->inflight--;
    ctrl_gc_kick(gc);
}

static void run(uv_timer_t *t)
{
    struct ctrl_gc *gc = t->data;
    while (gc->running && gc->inflight < GC_INFLIGHT && all_synced(gc)) {
        char *key = controller_queue_pop(gc->q, ctrl_now(gc->m));
        if (!key)
            break;
        gc->inflight++;
        if (!strncmp(key, "d/", 2))
            ctrl_gc_attempt_delete(gc, key, key + 2);
        else if (!strncmp(key, "o/", 2))
            ctrl_gc_attempt_orphan(gc, key, key + 2);
        else if (!ctrl_gc_house_run(gc, key))
            ctrl_gc_finish(gc, key, 0);
        free(key);
    }
    ctrl_gc_kick(gc);
}

void ctrl_gc_kick(struct ctrl_gc *gc)
{
    if (!gc->running || gc->inflight >= GC_INFLIGHT)
        return;
    int64_t next = controller_queue_next(gc->q, ctrl_now(gc->m));
    if (next < 0)
        uv_timer_stop(&gc->timer);
    else if (!all_synced(gc)) /* look again when the sync wait runs out */
        uv_timer_start(&gc->timer, run, GC_SYNC_WAIT_MS, 0);
    else
        uv_timer_start(&gc->timer, run, (uint64_t)next, 0);
}

static void enqueue(void *ud, const char *prefix, const char *uid)
{
    struct ctrl_gc *gc = ud;
    char *k = util_strdup_printf("%s/%s", prefix, uid);
    controller_queue_add(gc->q, k, ctrl_now(gc->m));
    free(k);
}

static void hook_delete(void *ud, const char *uid)
{
    enqueue(ud, "d", uid);
}

static void hook_orphan(void *ud, const char *uid)
{
    enqueue(ud, "o", uid);
}

/* upstream reportInvalidNamespaceOwnerRef: a Warning event on the dependent. */
static void hook_invalid_namespace(void *ud, const controller_gc_node_t *dep,
                                   const controller_gc_ref_t *ref)
{
    struct ctrl_gc *gc = ud;
    if (!dep->ns[0])
        return;
    cJSON *obj = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(obj, "metadata");
    cJSON_AddStringToObject(meta, "name", dep->name);
    cJSON_AddStringToObject(meta, "namespace", dep->ns);
    cJSON_AddStringToObject(meta, "uid", dep->uid);
    ctrl_event(gc->m, obj, dep->kind, dep->api_version, "Warning", "OwnerRefInvalidNamespace",
               "garbage-collector-controller",
               "ownerRef [%s/%s, namespace: %s, name: %s, uid: %s] does not exist in namespace "
               "\"%s\"",
               ref->api_version, ref->kind, dep->ns, ref->name, ref->uid, dep->ns);
    cJSON_Delete(obj);
}

/* ---- lifetime ------------------------------------------------------------------------------- */

struct ctrl_gc *ctrl_gc_new(controller_manager_t *m, const char *ca_pem)
{
    struct ctrl_gc *gc = util_xcalloc(1, sizeof(*gc));
    gc->m = m;
    gc->ca_pem = ca_pem ? util_xstrdup(ca_pem) : NULL;
    gc->pod_gc_threshold = CONTROLLER_POD_GC_THRESHOLD;
    gc->q = controller_queue_new();
    uv_timer_init(m->loop, &gc->timer);
    uv_timer_init(m->loop, &gc->disc_timer);
    gc->timer.data = gc->disc_timer.data = gc;
    return gc;
}

void ctrl_gc_start(struct ctrl_gc *gc)
{
    if (!gc || gc->running)
        return;
    static const controller_gc_hooks_t hooks = {hook_delete, hook_orphan, hook_invalid_namespace};
    gc->graph = controller_gc_graph_new(&hooks, gc);
    gc->running = true;
    gc->started_ms = ctrl_now(gc->m);
    ctrl_gc_discover(gc);
}

void ctrl_gc_stop(struct ctrl_gc *gc)
{
    if (!gc || !gc->running)
        return;
    gc->running = false;
    gc->epoch++;
    for (size_t i = 0; i < gc->nres; i++)
        ctrl_gc_res_free(gc->res[i]);
    free(gc->res);
    gc->res = NULL;
    gc->nres = 0;
    gc->disc_pending = 0;
    gc->inflight = 0;
    util_strv_clear(&gc->disc);
    util_strv_clear(&gc->missing_nodes);
    controller_gc_graph_free(gc->graph);
    gc->graph = NULL;
    controller_queue_free(gc->q);
    gc->q = controller_queue_new();
    uv_timer_stop(&gc->timer);
    uv_timer_stop(&gc->disc_timer);
}

static void timer_closed(uv_handle_t *h)
{
    struct ctrl_gc *gc = h->data;
    if (++gc->closed < 2)
        return; /* both timers first */
    controller_queue_free(gc->q);
    free(gc->ca_pem);
    free(gc);
}

void ctrl_gc_free(struct ctrl_gc *gc)
{
    if (!gc)
        return;
    ctrl_gc_stop(gc);
    uv_close((uv_handle_t *)&gc->timer, timer_closed);
    uv_close((uv_handle_t *)&gc->disc_timer, timer_closed);
}

void controller_manager_set_pod_gc_threshold(controller_manager_t *m, long threshold)
{
    if (m && m->gc)
        m->gc->pod_gc_threshold = threshold;
}
