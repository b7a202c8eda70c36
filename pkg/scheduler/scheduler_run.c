/* scheduler_run: the scheduler as a running component: informers (pkg/client) feed the driver,
 * a zero timer pumps scheduling cycles while pods wait, a second timer wakes it when a back-off
 * ends, bindings go out asynchronously, many at a time over a pool of connections. Nothing runs
 * while nothing is pending. */
#include "scheduler/scheduler.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client.h"

#define PUMP_BATCH   64 /* cycles per loop turn before yielding to other work */
/* Keep-alive connections of the scheduler's client: bindings (and events) in flight at once on
 * the wire; the rest of the SCHEDULER_MAX_BINDINGS wait in the client's queue. The apiserver
 * commits concurrent writes together (one fsync per group). */
#define CLIENT_CONNS 16

static const client_resource_t RES_SERVICES = {"", "v1", "services", true};
static const client_resource_t RES_PVCS = {"", "v1", "persistentvolumeclaims", true};
static const client_resource_t RES_PVS = {"", "v1", "persistentvolumes", false};
static const client_resource_t RES_PCS = {"scheduling.k8s.io", "v1", "priorityclasses", false};
static const client_resource_t RES_PDBS = {"policy", "v1", "poddisruptionbudgets", true};

enum { INF_NODES, INF_PODS, INF_SERVICES, INF_PVCS, INF_PVS, INF_PCS, INF_PDBS, INF_COUNT };

typedef struct informer_ctx {
    struct scheduler_runner *r;
    int kind;
} informer_ctx_t;

/* A binding on its way: which pod it is for (the answer's callback data). */
typedef struct bind_slot {
    struct scheduler_runner *r;
    char *ns, *name, *uid; /* NULL: the slot is free */
} bind_slot_t;

struct scheduler_runner {
    uv_loop_t *loop;
    client_t *client;
    scheduler_t *sched;
    client_informer_t *inf[INF_COUNT];
    informer_ctx_t ctx[INF_COUNT];
    bool synced[INF_COUNT];
    bind_slot_t slots[SCHEDULER_MAX_BINDINGS];
    uv_timer_t pump, wakeup;
    int closing; /* timers still closing */
    bool stopped;
};

static int64_t now_ms(const scheduler_runner_t *r)
{
    return (int64_t)uv_now(r->loop);
}

static bool all_synced(const scheduler_runner_t *r)
{
    for (int i = 0; i < INF_COUNT; i++)
        if (!r->synced[i])
            return false;
    return true;
}

static void pump(uv_timer_t *t);

static void kick(scheduler_runner_t *r)
{
    if (!r->stopped && all_synced(r) && !scheduler_bindings_full(r->sched))
        uv_timer_start(&r->pump, pump, 0, 0);
}

static void wakeup(uv_timer_t *t)
{
    kick(t->data);
}

static void pump(uv_timer_t *t)
{
    scheduler_runner_t *r = t->data;
    int n = 0;
    while (n < PUMP_BATCH && scheduler_run_once(r->sched, now_ms(r), time(NULL)) == 1)
        n++;
    if (n == PUMP_BATCH && !scheduler_bindings_full(r->sched)) {
        uv_timer_start(&r->pump, pump, 0, 0); /* more to do: after other work */
        return;
    }
    int64_t next = scheduler_queue_next_wakeup(scheduler_get_queue(r->sched), now_ms(r));
    if (next >= 0)
        uv_timer_start(&r->wakeup, wakeup, (uint64_t)next + 1, 0);
    else
        uv_timer_stop(&r->wakeup);
}

/* ---- informers ------------------------------------------------------------------------------ */

static void deliver(void *ud, const cJSON *old, const cJSON *obj, bool deleted)
{
    informer_ctx_t *c = ud;
    (void)old;
    scheduler_runner_t *r = c->r;
    switch (c->kind) {
    case INF_NODES:
        scheduler_on_node(r->sched, obj, deleted, now_ms(r));
        break;
    case INF_PODS:
        scheduler_on_pod(r->sched, obj, deleted, now_ms(r));
        break;
    default:
        scheduler_on_object(r->sched, obj, deleted, now_ms(r));
    }
    kick(r);
}

static void on_synced(void *ud)
{
    informer_ctx_t *c = ud;
    c->r->synced[c->kind] = true;
    kick(c->r);
}

/* ---- API calls ------------------------------------------------------------------------------ */

static void slot_clear(bind_slot_t *b)
{
    free(b->ns);
    free(b->name);
    free(b->uid);
    b->ns = b->name = b->uid = NULL;
}

static void bind_answered(void *ud, client_result_t *res)
{
    bind_slot_t *b = ud;
    scheduler_runner_t *r = b->r;
    scheduler_bind_result_t out =
        res->error ? SCHEDULER_BIND_ERROR : scheduler_bind_result(res->status);
    if (out != SCHEDULER_BIND_OK)
        util_log_warn("scheduler: binding %s/%s failed: %d %s%s", b->ns, b->name, res->status,
                      res->st.message ? res->st.message : "",
                      out == SCHEDULER_BIND_GONE ? " (not retried)" : "");
    /* the Status message, or the transport error (the client fills both) */
    scheduler_bind_done(r->sched, b->ns, b->name, b->uid, out, res->st.message, now_ms(r),
                        time(NULL));
    slot_clear(b);
    kick(r);
}

static int post(scheduler_runner_t *r, const char *method, const char *path, const char *ct,
                const cJSON *body, client_cb cb)
{
    char *text = cJSON_PrintUnformatted(body);
    if (!text)
        return -1;
    client_req_t *q = client_request(r->client, method, path, ct, text, strlen(text), cb, r);
    cJSON_free(text);
    return q ? 0 : -1;
}

static void ignore_answer(void *ud, client_result_t *res)
{
    (void)ud;
    if (res->error || res->status >= 300)
        util_log_v(2, "scheduler: status or event write: %d", res->status);
}

static int op_bind(void *ud, const char *ns, const char *name, const cJSON *binding)
{
    scheduler_runner_t *r = ud;
    bind_slot_t *b = NULL;
    for (size_t i = 0; i < SCHEDULER_MAX_BINDINGS && !b; i++)
        if (!r->slots[i].name)
            b = &r->slots[i];
    char *text = cJSON_PrintUnformatted(binding);
    util_buf_t path = {0};
    if (!b || !text || client_path(&path, &CLIENT_RES_PODS, ns, name, "binding") < 0) {
        cJSON_free(text);
        util_buf_free(&path);
        return -1;
    }
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(binding, "metadata"), "uid");
    b->r = r;
    b->ns = util_xstrdup(ns);
    b->name = util_xstrdup(name);
    b->uid = cJSON_IsString(uid) ? util_xstrdup(uid->valuestring) : NULL;
    client_req_t *q = client_request(r->client, "POST", path.data, "application/json", text,
                                     strlen(text), bind_answered, b);
    cJSON_free(text);
    util_buf_free(&path);
    if (!q) {
        slot_clear(b);
        return -1;
    }
    return 1;
}

static int op_patch_status(void *ud, const char *ns, const char *name, const cJSON *patch)
{
    scheduler_runner_t *r = ud;
    util_buf_t path = {0};
    client_path(&path, &CLIENT_RES_PODS, ns, name, "status");
    int rc =
        post(r, "PATCH", path.data, "application/strategic-merge-patch+json", patch, ignore_answer);
    util_buf_free(&path);
    return rc;
}

static int op_emit_event(void *ud, const char *ns, const cJSON *event)
{
    scheduler_runner_t *r = ud;
    static const client_resource_t events = {"", "v1", "events", true};
    util_buf_t path = {0};
    client_path(&path, &events, ns, NULL, NULL);
    int rc = post(r, "POST", path.data, "application/json", event, ignore_answer);
    util_buf_free(&path);
    return rc;
}

static int op_delete_pod(void *ud, const char *ns, const char *name, const char *uid)
{
    scheduler_runner_t *r = ud;
    util_buf_t path = {0};
    client_path(&path, &CLIENT_RES_PODS, ns, name, NULL);
    cJSON *opts = cJSON_CreateObject();
    cJSON_AddStringToObject(opts, "kind", "DeleteOptions");
    cJSON_AddStringToObject(opts, "apiVersion", "v1");
    if (uid)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(opts, "preconditions"), "uid", uid);
    int rc = post(r, "DELETE", path.data, "application/json", opts, ignore_answer);
    cJSON_Delete(opts);
    util_buf_free(&path);
    return rc;
}

/* ---- lifetime ------------------------------------------------------------------------------- */

int scheduler_runner_start(uv_loop_t *loop, const struct client_config *api,
                           scheduler_runner_t **ret, util_error_t *err)
{
    scheduler_runner_t *r = util_xcalloc(1, sizeof(*r));
    r->loop = loop;
    client_opts_t co;
    client_opts_default(&co);
    co.loop = loop;
    co.config = api;
    co.user_agent = "kubeling-scheduler";
    co.max_conns = CLIENT_CONNS;
    int rc = client_new(&co, &r->client, err);
    if (rc < 0) {
        free(r);
        return rc;
    }
    static const scheduler_ops_t ops = {op_bind, op_patch_status, op_emit_event, op_delete_pod};
    r->sched = scheduler_new(&ops, r, (uint64_t)time(NULL));
    scheduler_set_max_bindings(r->sched, SCHEDULER_MAX_BINDINGS);
    uv_timer_init(loop, &r->pump);
    uv_timer_init(loop, &r->wakeup);
    r->pump.data = r->wakeup.data = r;
    static const client_informer_handlers_t h = {.on_event = deliver, .on_synced = on_synced};
    const client_resource_t *res[INF_COUNT] = {&CLIENT_RES_NODES, &CLIENT_RES_PODS, &RES_SERVICES,
                                               &RES_PVCS,         &RES_PVS,         &RES_PCS,
                                               &RES_PDBS};
    for (int i = 0; i < INF_COUNT && rc == 0; i++) {
        r->ctx[i] = (informer_ctx_t){r, i};
        client_informer_opts_t io = {.resource = res[i], .transform = client_strip_managed_fields};
        rc = client_informer_start(r->client, &io, &h, &r->ctx[i], &r->inf[i], err);
    }
    if (rc < 0) {
        scheduler_runner_stop(r);
        return rc;
    }
    util_log_info(
        "scheduler: started (informers on nodes, pods, services, PVCs, PVs, PriorityClasses, "
        "PodDisruptionBudgets)");
    *ret = r;
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    scheduler_runner_t *r = h->data;
    if (--r->closing == 0) {
        for (size_t i = 0; i < SCHEDULER_MAX_BINDINGS; i++)
            slot_clear(&r->slots[i]);
        scheduler_free(r->sched);
        free(r);
    }
}

void scheduler_runner_stop(scheduler_runner_t *r)
{
    if (!r || r->stopped)
        return;
    r->stopped = true;
    for (int i = 0; i < INF_COUNT; i++)
        if (r->inf[i])
            client_informer_stop(r->inf[i]);
    client_close(r->client); /* cancels the bindings in flight: their callbacks will not run */
    r->closing = 2;
    uv_close((uv_handle_t *)&r->pump, timer_closed);
    uv_close((uv_handle_t *)&r->wakeup, timer_closed);
}
