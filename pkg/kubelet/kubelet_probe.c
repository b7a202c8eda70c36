/* kubelet_probe: liveness, readiness and startup probes of running containers, like
 * upstream's prober workers (pkg/kubelet/prober/worker.go): one repeating libuv timer per
 * probe (periodSeconds, first after initialDelaySeconds), each run a thread-pool job; the
 * startup probe gates the others; readiness sets the container's `ready`; a liveness or
 * startup failure kills the container (restarted per restartPolicy) and holds the probe until
 * the next attempt. An Unhealthy event for every failed run (correlated into a count). */
#include "kubelet_pods_internal.h"

#include <stdlib.h>

struct kprobe {
    kctr_t *c;
    kubelet_probe_type_t type;
    kubelet_probe_spec_t spec;
    kubelet_probe_state_t st;
    uv_timer_t timer;
    bool inflight, on_hold;
};

static const char *const probe_keys[3] = {"livenessProbe", "readinessProbe", "startupProbe"};

static void on_probe_closed(uv_handle_t *h)
{
    kprobe_t *kp = h->data;
    kubelet_handler_free(&kp->spec.handler);
    free(kp);
}

static void probes_close(kctr_t *c, bool keep_readiness)
{
    for (int i = 0; i < 3; i++) {
        kprobe_t *kp = c->probes[i];
        if (!kp || (keep_readiness && i == KUBELET_READINESS))
            continue;
        c->probes[i] = NULL;
        uv_timer_stop(&kp->timer);
        uv_close((uv_handle_t *)&kp->timer, on_probe_closed);
    }
}

void kubelet__probes_stop(kctr_t *c)
{
    probes_close(c, false);
}

/* A container being killed keeps its readiness probe (a terminating endpoint may still serve)
 * while liveness and startup stop, as upstream's worker does for a pod being deleted. */
void kubelet__probes_killing(kctr_t *c)
{
    probes_close(c, true);
}

static void probe_run(kprobe_t *kp)
{
    kctr_t *c = kp->c;
    hjob_t *j = util_xcalloc(1, sizeof(*j));
    j->kind = HJ_PROBE;
    j->ptype = kp->type;
    j->timeout_ms = (uint64_t)kp->spec.timeout * 1000;
    /* the job owns a copy of the handler: the probe may be closed while it runs */
    j->handler = kp->spec.handler;
    j->handler.command = (util_strv_t){0};
    j->handler.headers = (util_strv_t){0};
    for (size_t i = 0; i < kp->spec.handler.command.n; i++)
        util_strv_push(&j->handler.command, kp->spec.handler.command.v[i]);
    for (size_t i = 0; i < kp->spec.handler.headers.n; i++)
        util_strv_push(&j->handler.headers, kp->spec.handler.headers.v[i]);
    kp->inflight = true;
    kubelet__hjob_queue(c->pod->ps, c, j);
}

static void on_probe_tick(uv_timer_t *t)
{
    kprobe_t *kp = t->data;
    kctr_t *c = kp->c;
    if (kp->inflight || kp->on_hold || c->state != KUBELET_CS_RUNNING)
        return;
    if (kp->type == KUBELET_STARTUP && !c->not_started)
        return; /* started: the startup probe has done its work */
    if (kp->type != KUBELET_STARTUP && c->not_started)
        return; /* other probes wait for the startup probe */
    probe_run(kp);
}

void kubelet__probes_start(kctr_t *c)
{
    kpods_t *ps = c->pod->ps;
    const cJSON *spec = kubelet__ctr_spec(c);
    kubelet__probes_stop(c);
    c->not_ready = c->not_started = false;
    if (!spec || c->init || c->state != KUBELET_CS_RUNNING)
        return;
    int64_t ran_ms = (kubelet__now_ns() - c->started_ns) / 1000000;
    for (int i = 0; i < 3; i++) {
        const cJSON *o = jget(spec, probe_keys[i]);
        if (!o)
            continue;
        kprobe_t *kp = util_xcalloc(1, sizeof(*kp));
        util_error_t err = NULL;
        if (kubelet_probe_parse(o, spec, &kp->spec, &err) < 0) {
            char b[256];
            kubelet__errtext(&err, b, sizeof(b));
            util_log_warn("kubelet: %s of container %s: %s", probe_keys[i], c->id, b);
            free(kp);
            continue;
        }
        kp->c = c;
        kp->type = (kubelet_probe_type_t)i;
        kp->st = kubelet_probe_initial(kp->type);
        uv_timer_init(ps->k->loop, &kp->timer);
        kp->timer.data = kp;
        c->probes[i] = kp;
        if (kp->type == KUBELET_READINESS)
            c->not_ready = true;
        if (kp->type == KUBELET_STARTUP)
            c->not_started = true;
        int64_t delay = (int64_t)kp->spec.initial_delay * 1000 - ran_ms;
        uv_timer_start(&kp->timer, on_probe_tick, delay > 0 ? (uint64_t)delay : 0,
                       (uint64_t)kp->spec.period * 1000);
    }
}

static void probe_failed_kill(kctr_t *c, kprobe_t *kp)
{
    kpod_t *p = c->pod;
    bool restart = strcmp(kubelet__restart_policy(p), "Never") != 0;
    char msg[512];
    util_snprintf(msg, sizeof(msg), "Container %s failed %s probe%s", c->name,
                  kp->type == KUBELET_LIVENESS ? "liveness" : "startup",
                  restart ? ", will be restarted" : "");
    kp->on_hold = true;
    kp->st.run = 0;
    kubelet__ctr_kill(c, msg, kubelet_kill_grace(p->obj, &kp->spec));
}

void kubelet__probe_done(kctr_t *c, hjob_t *j)
{
    kprobe_t *kp = c->probes[j->ptype];
    if (!kp)
        return;
    kp->inflight = false;
    if (kp->on_hold)
        return;
    const char *name = kubelet_probe_type_name(kp->type);
    if (j->res.result == KUBELET_PROBE_FAILURE)
        kubelet__ctr_event(c, "Warning", "Unhealthy", "%s probe failed: %s", name, j->res.output);
    else if (j->res.result == KUBELET_PROBE_UNKNOWN)
        kubelet__ctr_event(c, "Warning", "Unhealthy", "%s probe errored: %s", name, j->res.output);
    if (!kubelet_probe_observe(&kp->st, &kp->spec, j->res.result))
        return;
    bool ok = kp->st.result == KUBELET_PROBE_SUCCESS;
    switch (kp->type) {
    case KUBELET_READINESS:
        if (c->not_ready == ok) {
            c->not_ready = !ok;
            kubelet__pod_post_status(c->pod);
        }
        break;
    case KUBELET_STARTUP:
        if (!ok) {
            probe_failed_kill(c, kp);
            break;
        }
        c->not_started = false;
        uv_timer_stop(&kp->timer);
        if (c->probes[KUBELET_READINESS]) /* upstream triggers readiness at once */
            on_probe_tick(&c->probes[KUBELET_READINESS]->timer);
        kubelet__pod_post_status(c->pod);
        break;
    case KUBELET_LIVENESS:
        if (!ok)
            probe_failed_kill(c, kp);
        break;
    }
}
