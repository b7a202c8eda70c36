/* kubelet_lifecycle: upstream's killContainer on the loop (Killing event, the preStop hook
 * whose time is taken from the grace period, SIGTERM with at least 2 s left, SIGKILL when they
 * end), and the thread-pool jobs that run probes and preStop hooks. One timer per container
 * being killed; nothing polls. See docs/kubelet.md#termination. */
#include "kubelet_pods_internal.h"

#include <signal.h>
#include <stdlib.h>

/* ---- jobs on the thread pool -------------------------------------------------------------- */

static void hjob_work(uv_work_t *req)
{
    hjob_t *j = req->data;
    const char *agent = j->kind == HJ_PROBE ? KUBELET_PROBE_AGENT : KUBELET_LIFECYCLE_AGENT;
    kubelet__handler_run(j->ps->rt, j->cid, &j->handler, j->ip, j->timeout_ms, agent, &j->res);
}

static void prestop_done(kctr_t *c, hjob_t *j);

static void hjob_done(uv_work_t *req, int status)
{
    hjob_t *j = req->data;
    kpods_t *ps = j->ps;
    kubelet_t *k = ps->k;
    (void)status;
    ps->works--;
    if (ps->stopping) {
        kubelet__pods_stop(k);
    } else {
        kpod_t *p = kubelet__pod_find(ps, j->uid);
        for (size_t i = 0; p && i < p->n; i++) {
            kctr_t *c = &p->ctrs[i];
            if (strcmp(c->name, j->cname) || strcmp(c->id, j->cid))
                continue;
            if (j->kind == HJ_PROBE)
                kubelet__probe_done(c, j);
            else
                prestop_done(c, j);
            break;
        }
    }
    kubelet_handler_free(&j->handler);
    free(j);
    kubelet__handle_release(k);
}

void kubelet__hjob_queue(kpods_t *ps, kctr_t *c, hjob_t *j)
{
    j->req.data = j;
    j->ps = ps;
    util_snprintf(j->uid, sizeof(j->uid), "%s", c->pod->uid);
    util_snprintf(j->cname, sizeof(j->cname), "%s", c->name);
    util_snprintf(j->cid, sizeof(j->cid), "%s", c->id);
    util_snprintf(j->ip, sizeof(j->ip), "%s", c->pod->ip);
    ps->works++;
    ps->k->handles++;
    uv_queue_work(ps->k->loop, &j->req, hjob_work, hjob_done);
}

/* ---- killContainer -------------------------------------------------------------------------- */

static void on_kill_timer_closed(uv_handle_t *h)
{
    free(h);
}

static void kill_timer_start(kctr_t *c, uint64_t ms, uv_timer_cb cb)
{
    if (!c->kill_timer) {
        c->kill_timer = util_xcalloc(1, sizeof(*c->kill_timer));
        uv_timer_init(c->pod->ps->k->loop, c->kill_timer);
        c->kill_timer->data = c;
    }
    uv_timer_start(c->kill_timer, cb, ms, 0);
}

static void on_sigkill_due(uv_timer_t *t)
{
    kctr_t *c = t->data;
    if (!c->killing || c->state != KUBELET_CS_RUNNING)
        return;
    util_log_info("kubelet: container %s outlived its grace period: SIGKILL", c->id);
    runtime_container_kill(c->pod->ps->rt, c->id, SIGKILL, NULL);
}

/* The preStop hook is over (or its share of the grace period): SIGTERM, SIGKILL later. */
static void send_term(kctr_t *c)
{
    kpods_t *ps = c->pod->ps;
    uint64_t now = uv_now(ps->k->loop);
    uint64_t hook_ms = c->prestop_start ? now - c->prestop_start : 0;
    int64_t left = kubelet_grace_after_prestop(c->kill_grace, hook_ms);
    c->term_sent = true;
    c->kill_gen++;
    util_log_v(1, "kubelet: killing container %s with a %llds grace period", c->id,
               (long long)left);
    runtime_container_kill(ps->rt, c->id, SIGTERM, NULL);
    kill_timer_start(c, (uint64_t)left * 1000, on_sigkill_due);
}

static void on_prestop_due(uv_timer_t *t)
{
    kctr_t *c = t->data;
    if (c->killing && !c->term_sent) {
        util_log_v(1, "kubelet: preStop hook of %s not completed in its grace period", c->id);
        send_term(c);
    }
}

static void prestop_done(kctr_t *c, hjob_t *j)
{
    if (j->res.result != KUBELET_PROBE_SUCCESS) {
        util_log_warn("kubelet: preStop hook of container %s failed: %s", c->id, j->res.output);
        /* upstream leaves the hook's output out of the event: it may hold secrets */
        kubelet__ctr_event(c, "Warning", "FailedPreStopHook", "PreStopHook failed");
    }
    if (j->gen == c->kill_gen && c->killing && !c->term_sent)
        send_term(c);
}

void kubelet__ctr_kill(kctr_t *c, const char *message, int64_t grace)
{
    kpods_t *ps = c->pod->ps;
    if (c->state != KUBELET_CS_RUNNING || !c->id[0])
        return;
    if (grace < 0) { /* the pod is gone from the API: no hook, no grace */
        c->killing = true;
        kubelet__probes_stop(c);
        runtime_container_kill(ps->rt, c->id, SIGKILL, NULL);
        return;
    }
    if (c->killing)
        return;
    c->killing = true;
    c->term_sent = false;
    c->kill_grace = grace;
    c->prestop_start = 0;
    kubelet__probes_killing(c);
    if (message && *message)
        kubelet__ctr_event(c, "Normal", "Killing", "%s", message);
    else
        kubelet__ctr_event(c, "Normal", "Killing", "Stopping container %s", c->name);
    const cJSON *hook = jget(jget(kubelet__ctr_spec(c), "lifecycle"), "preStop");
    kubelet_handler_t h;
    util_error_t err = NULL;
    if (!hook || grace <= 0) {
        send_term(c);
        return;
    }
    if (kubelet_handler_parse(hook, kubelet__ctr_spec(c), &h, &err) < 0) {
        char b[256];
        kubelet__errtext(&err, b, sizeof(b));
        util_log_warn("kubelet: preStop hook of container %s: %s", c->id, b);
        kubelet__ctr_event(c, "Warning", "FailedPreStopHook", "PreStopHook failed");
        send_term(c);
        return;
    }
    hjob_t *j = util_xcalloc(1, sizeof(*j));
    j->kind = HJ_PRESTOP;
    j->handler = h;
    j->gen = c->kill_gen;
    j->timeout_ms = (uint64_t)grace * 1000;
    c->prestop_start = uv_now(ps->k->loop);
    kubelet__hjob_queue(ps, c, j);
    kill_timer_start(c, (uint64_t)grace * 1000, on_prestop_due);
}

void kubelet__ctr_stopped(kctr_t *c)
{
    kubelet__probes_stop(c);
    c->killing = false;
    c->term_sent = false;
    c->prestop_start = 0;
    c->kill_gen++;
    if (c->kill_timer)
        uv_timer_stop(c->kill_timer);
}

void kubelet__ctr_release(kctr_t *c)
{
    kubelet__ctr_stopped(c);
    if (c->kill_timer) {
        uv_close((uv_handle_t *)c->kill_timer, on_kill_timer_closed);
        c->kill_timer = NULL;
    }
}
