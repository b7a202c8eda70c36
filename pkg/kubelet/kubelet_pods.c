/* kubelet_pods: runs the pods bound to this node. An informer on pods (field selector
 * spec.nodeName=<node>) feeds one state machine per pod on the loop; blocking work (image
 * import and pull, sandbox and pod network set-up, container create and start, teardown) runs
 * on the libuv thread pool, one job per pod at a time. Container exits arrive as readable
 * shim sockets (runtime_container_watch), never by polling. See docs/kubelet.md#pods. */
#include "kubelet_pods_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void pod_free(kpod_t *p);
static void begin(kpods_t *ps);

/* ---- the thread pool ------------------------------------------------------------------------ */

static void work_done(uv_work_t *req, int status);

static void work_queue(kpods_t *ps, kpod_t *p, work_kind_t kind, size_t ci)
{
    work_t *w = util_xcalloc(1, sizeof(*w));
    w->req.data = w;
    w->ps = ps;
    w->kind = kind;
    w->pod = p;
    w->ci = ci;
    util_snprintf(w->node, sizeof(w->node), "%s", ps->k->name);
    util_snprintf(w->pod_cidr, sizeof(w->pod_cidr), "%s", ps->k->pod_cidr ? ps->k->pod_cidr : "");
    util_snprintf(w->host_ip, sizeof(w->host_ip), "%s",
                  ps->k->host.internal_ip ? ps->k->host.internal_ip : "");
    if (p) {
        p->busy = true;
        w->uid = util_xstrdup(p->uid);
        w->ns = util_xstrdup(p->ns ? p->ns : "");
        w->name = util_xstrdup(p->name ? p->name : "");
        w->obj = p->obj ? cJSON_Duplicate(p->obj, true) : NULL;
        if (kind == W_START) {
            w->cname = util_xstrdup(p->ctrs[ci].name);
            w->cinit = p->ctrs[ci].init;
            util_snprintf(w->old_id, sizeof(w->old_id), "%s", p->ctrs[ci].id);
            util_snprintf(w->new_id, sizeof(w->new_id), "%s_%s_%d", p->uid, p->ctrs[ci].name,
                          p->ctrs[ci].id[0] ? p->ctrs[ci].attempt + 1 : p->ctrs[ci].attempt);
            util_snprintf(w->ip, sizeof(w->ip), "%s", p->ip);
        }
        if (kind == W_START || kind == W_VOLUMES) {
            w->refs = kubelet__config_snapshot(ps, p->obj);
            util_snprintf(w->ip, sizeof(w->ip), "%s", p->ip);
            w->node_cpu_milli = (int64_t)ps->k->host.cpus * 1000;
            w->node_memory = (int64_t)ps->k->host.memory_bytes;
            w->node_storage = (int64_t)ps->k->host.storage_bytes;
        }
    }
    if (kind == W_RECONCILE)
        for (kpod_t *q = ps->pods; q; q = q->next)
            if (!q->gone)
                util_strv_push(&w->live, q->uid);
    ps->works++;
    ps->k->handles++;
    w->queued_ns = kubelet__mono_ns();
    uv_queue_work(ps->k->loop, &w->req, kubelet__pods_work, work_done);
}

static void work_free(work_t *w)
{
    cJSON_Delete(w->obj);
    free(w->uid);
    free(w->ns);
    free(w->name);
    free(w->cname);
    free(w->image_id);
    cJSON_Delete(w->refs);
    util_strv_clear(&w->live);
    free(w);
}

/* ---- pod state ----------------------------------------------------------------------------- */

static void on_timer_closed(uv_handle_t *h)
{
    free(h);
}

static void on_pod_timer(uv_timer_t *t)
{
    kubelet__pod_sync(t->data);
}

static void pod_wake_at(kpod_t *p, uint64_t at)
{
    uint64_t now = uv_now(p->ps->k->loop);
    if (!p->timer) {
        p->timer = util_xcalloc(1, sizeof(*p->timer));
        uv_timer_init(p->ps->k->loop, p->timer);
        p->timer->data = p;
    }
    uint64_t due = uv_timer_get_due_in(p->timer);
    uint64_t in = at > now ? at - now : 0;
    if (uv_is_active((uv_handle_t *)p->timer) && due <= in)
        return;
    uv_timer_start(p->timer, on_pod_timer, in, 0);
}

static void pod_free(kpod_t *p)
{
    kpods_t *ps = p->ps;
    for (kpod_t **pp = &ps->pods; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    if (p->is_static)
        kubelet__static_pod_freed(p);
    for (size_t i = 0; i < p->n; i++) {
        kubelet__ctr_release(&p->ctrs[i]);
        kubelet__ctr_unwatch(&p->ctrs[i]);
        free(p->ctrs[i].name);
        free(p->ctrs[i].image);
        free(p->ctrs[i].image_id);
        free(p->ctrs[i].term_msg);
        free(p->ctrs[i].last_msg);
    }
    free(p->reject_reason);
    free(p->reject_message);
    if (p->timer)
        uv_close((uv_handle_t *)p->timer, on_timer_closed);
    client_req_cancel(p->status_req);
    client_req_cancel(p->delete_req);
    cJSON_Delete(p->obj);
    free(p->posted);
    free(p->uid);
    free(p->ns);
    free(p->name);
    free(p->file);
    free(p);
}

static kpod_t *pod_find(kpods_t *ps, const char *uid)
{
    for (kpod_t *p = ps->pods; p; p = p->next)
        if (!strcmp(p->uid, uid))
            return p;
    return NULL;
}

kpod_t *kubelet__pod_find(kpods_t *ps, const char *uid)
{
    return pod_find(ps, uid);
}

static void add_ctrs(kpod_t *p, const cJSON *arr, bool init)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, arr)
    {
        const char *name = jstr(c, "name");
        if (!name || p->n >= MAX_CTRS)
            continue;
        kctr_t *k = &p->ctrs[p->n++];
        k->pod = p;
        k->name = util_xstrdup(name);
        k->image = util_xstrdup(jstr(c, "image") ? jstr(c, "image") : "");
        k->init = init;
        k->watch_fd = -1;
        k->state = KUBELET_CS_WAITING;
        k->reason = init ? "PodInitializing" : "ContainerCreating";
        if (!init && p->n > 0)
            for (size_t i = 0; i < p->n; i++)
                if (p->ctrs[i].init) {
                    k->reason = "PodInitializing";
                    break;
                }
    }
}

/* Adopts containers of an earlier run for this pod (the latest attempt of each). */
static void adopt(kpod_t *p)
{
    kpods_t *ps = p->ps;
    for (size_t i = 0; i < ps->adopted.n; i++) {
        char uid[RUNTIME_ID_MAX + 1], name[RUNTIME_ID_MAX + 1];
        int attempt;
        if (!ps->adopted.v[i] ||
            !kubelet__parse_cid(ps->adopted.v[i], uid, sizeof(uid), name, sizeof(name), &attempt) ||
            strcmp(uid, p->uid))
            continue;
        p->sandbox = true;
        for (size_t j = 0; j < p->n; j++) {
            kctr_t *c = &p->ctrs[j];
            if (strcmp(c->name, name) || (c->id[0] && c->attempt >= attempt))
                continue;
            util_snprintf(c->id, sizeof(c->id), "%s", ps->adopted.v[i]);
            c->attempt = attempt;
            c->restarts = attempt;
            c->backoff_n = attempt;
        }
    }
    const char *ip = jstr(jget(p->obj, "status"), "podIP");
    if (p->sandbox && ip)
        util_snprintf(p->ip, sizeof(p->ip), "%s", ip);
    for (size_t j = 0; j < p->n; j++) {
        kctr_t *c = &p->ctrs[j];
        if (!c->id[0])
            continue;
        /* The image ID as posted before. */
        const cJSON *cs;
        cJSON_ArrayForEach(cs, jget(jget(p->obj, "status"),
                                    c->init ? "initContainerStatuses" : "containerStatuses"))
        {
            if (jstr(cs, "name") && !strcmp(jstr(cs, "name"), c->name) && jstr(cs, "imageID"))
                c->image_id = util_xstrdup(jstr(cs, "imageID"));
        }
        kubelet__ctr_watch(c);
        util_log_info("kubelet: adopted container %s (%s)", c->id,
                      c->state == KUBELET_CS_RUNNING ? "running" : "exited");
    }
    const char *st = jstr(jget(p->obj, "status"), "startTime");
    if (st)
        util_snprintf(p->start_time, sizeof(p->start_time), "%s", st);
}

static kpod_t *pod_new(kpods_t *ps, const char *uid, const cJSON *obj)
{
    kpod_t *p = util_xcalloc(1, sizeof(*p));
    p->ps = ps;
    p->uid = util_xstrdup(uid);
    p->seen_ns = kubelet__mono_ns();
    if (obj) {
        const cJSON *meta = jget(obj, "metadata");
        p->ns = util_xstrdup(jstr(meta, "namespace") ? jstr(meta, "namespace") : "default");
        p->name = util_xstrdup(jstr(meta, "name") ? jstr(meta, "name") : "");
        p->obj = cJSON_Duplicate(obj, true);
        add_ctrs(p, jget(jget(obj, "spec"), "initContainers"), true);
        add_ctrs(p, jget(jget(obj, "spec"), "containers"), false);
    } else {
        p->gone = true;
    }
    p->next = ps->pods;
    ps->pods = p;
    return p;
}

kpod_t *kubelet__pod_new(kpods_t *ps, const char *uid, const cJSON *obj)
{
    kpod_t *p = pod_new(ps, uid, obj);
    p->adopted = ps->started; /* nothing of an earlier run is left to adopt */
    return p;
}

/* ---- deletion ------------------------------------------------------------------------------ */

static void on_deleted(void *ud, client_result_t *res)
{
    kpod_t *p = ud;
    p->delete_req = NULL;
    if (res->status == 200 || res->status == 404 || res->status == 409) {
        util_log_info("kubelet: pod %s/%s deleted", p->ns, p->name);
        pod_free(p);
        return;
    }
    util_log_warn("kubelet: deleting pod %s/%s: %s", p->ns, p->name, res->st.message);
    p->delete_sent = false;
    pod_wake_at(p, uv_now(p->ps->k->loop) + 1000);
}

static void delete_api_object(kpod_t *p)
{
    util_buf_t path = {0};
    client_path(&path, &CLIENT_RES_PODS, p->ns, p->name, NULL);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "DeleteOptions");
    cJSON_AddStringToObject(o, "apiVersion", "v1");
    cJSON_AddNumberToObject(o, "gracePeriodSeconds", 0);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "preconditions"), "uid", p->uid);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    p->delete_sent = true;
    p->delete_req = client_request(p->ps->k->client, "DELETE", path.data, "application/json", body,
                                   strlen(body), on_deleted, p);
    cJSON_free(body);
    util_buf_free(&path);
}

const cJSON *kubelet__ctr_spec(const kctr_t *c)
{
    const cJSON *e;
    cJSON_ArrayForEach(e,
                       jget(jget(c->pod->obj, "spec"), c->init ? "initContainers" : "containers"))
    {
        const char *n = jstr(e, "name");
        if (n && !strcmp(n, c->name))
            return e;
    }
    return NULL;
}

/* upstream's killPod: every running container through killContainer (kubelet_lifecycle.c)
 * with the pod's grace period; a pod gone from the API is killed at once. */
static bool kill_running(kpod_t *p)
{
    bool any = false;
    for (size_t i = 0; i < p->n; i++) {
        kctr_t *c = &p->ctrs[i];
        if (c->state != KUBELET_CS_RUNNING || !c->poll)
            continue;
        any = true;
        if (p->gone)
            kubelet__ctr_kill(c, NULL, -1);
        else
            kubelet__ctr_kill(c, NULL, kubelet_kill_grace(p->obj, NULL));
    }
    return any;
}

/* ---- the state machine --------------------------------------------------------------------- */

static bool should_restart(const kpod_t *p, const kctr_t *c)
{
    const char *rp = kubelet__restart_policy(p);
    if (!strcmp(rp, "Never"))
        return false;
    if (!strcmp(rp, "OnFailure") || c->init)
        return c->term.exit_code != 0;
    return true;
}

/* Starts c now, or schedules its restart after the back-off. Returns true when work began. */
static bool start_or_wait(kpod_t *p, size_t i)
{
    kctr_t *c = &p->ctrs[i];
    uint64_t now = uv_now(p->ps->k->loop);
    if (c->state == KUBELET_CS_TERMINATED) {
        if (!should_restart(p, c))
            return false;
        if (c->term.finished_ns - c->term.started_ns >= BACKOFF_RESET_NS)
            c->backoff_n = 0;
        if (!c->retry_at)
            c->retry_at = now + kubelet_crash_backoff_ms(c->backoff_n);
        c->last = c->term;
        util_snprintf(c->last_cid, sizeof(c->last_cid), "%s", c->term_cid);
        kubelet__set_str(&c->last_msg, c->term_msg);
        c->last.container_id = c->last_cid;
        c->last.message = c->last_msg;
        c->has_last = true;
        c->state = KUBELET_CS_WAITING;
        c->reason = "CrashLoopBackOff";
        util_snprintf(c->message, sizeof(c->message),
                      "back-off %llus restarting failed container=%s pod=%s_%s(%s)",
                      (unsigned long long)(kubelet_crash_backoff_ms(c->backoff_n) / 1000), c->name,
                      p->name, p->ns, p->uid);
        if (c->retry_at > now)
            kubelet__ctr_event(c, "Warning", "BackOff",
                               "Back-off restarting failed container %s in pod %s_%s(%s)", c->name,
                               p->name, p->ns, p->uid);
    }
    if (c->retry_at > now) {
        pod_wake_at(p, c->retry_at);
        return false;
    }
    work_queue(p->ps, p, W_START, i);
    return true;
}

static bool pod_finished(const kpod_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        const kctr_t *c = &p->ctrs[i];
        if (c->state != KUBELET_CS_TERMINATED)
            return false;
        if (should_restart(p, c))
            return false;
    }
    return p->n > 0;
}

void kubelet__pod_sync(kpod_t *p)
{
    kpods_t *ps = p->ps;
    if (p->busy || ps->stopping || p->delete_sent)
        return;
    if (!ps->started) { /* before the first list: static pods only, from their files */
        if (!p->is_static || !ps->ready)
            return;
        if (!p->adopted) {
            adopt(p);
            p->adopted = true;
        }
    }
    if (p->is_static && !kubelet__static_may_run(p))
        return;
    if (p->deleting || p->gone) {
        if (kill_running(p))
            return;
        if (!p->torn_down) {
            work_queue(ps, p, W_TEARDOWN, 0);
            return;
        }
        if (p->gone || p->is_static) /* a static pod's mirror is kubelet_static.c's */
            pod_free(p);
        else
            delete_api_object(p);
        return;
    }
    /* A pod that finished before a restart whose containers are gone is not run again. */
    const char *phase = jstr(jget(p->obj, "status"), "phase");
    bool any_id = false;
    for (size_t i = 0; i < p->n; i++)
        any_id |= p->ctrs[i].id[0] != 0;
    if (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")) && !any_id)
        return;
    if (!kubelet__pod_admit(p))
        return;
    if (!p->start_time[0])
        kubelet__now(p->start_time, sizeof(p->start_time), false);
    if (!p->sandbox) {
        kubelet__pod_post_status(p);
        if (kubelet__pod_network_wait(p))
            return; /* kubelet__pods_network_ready syncs it again */
        work_queue(ps, p, W_SANDBOX, 0);
        return;
    }
    if (p->vol_dirty) { /* a config object or the labels changed: rewrite the volumes */
        p->vol_dirty = false;
        if (any_id) {
            work_queue(ps, p, W_VOLUMES, 0);
            return;
        }
    }
    bool inits_done = true;
    for (size_t i = 0; i < p->n && inits_done; i++) {
        kctr_t *c = &p->ctrs[i];
        if (!c->init || (c->state == KUBELET_CS_TERMINATED && c->term.exit_code == 0))
            continue;
        inits_done = false;
        if (c->state == KUBELET_CS_RUNNING)
            break;
        if (start_or_wait(p, i))
            return;
    }
    if (inits_done)
        for (size_t i = 0; i < p->n; i++) {
            kctr_t *c = &p->ctrs[i];
            if (c->init || c->state == KUBELET_CS_RUNNING)
                continue;
            if (c->state == KUBELET_CS_WAITING && c->reason &&
                !strcmp(c->reason, "PodInitializing"))
                c->reason = "ContainerCreating";
            if (c->state == KUBELET_CS_WAITING && c->id[0] && !c->retry_at)
                continue; /* created, not yet known running */
            if (start_or_wait(p, i))
                break;
        }
    kubelet__pod_post_status(p);
    /* A finished pod keeps its containers (and logs) until it is deleted, but its address goes
     * back to the pool at once, as upstream kills the sandbox of a terminated pod. */
    if (!p->net_released && p->ip[0] && !cJSON_IsTrue(jget(jget(p->obj, "spec"), "hostNetwork")) &&
        pod_finished(p)) {
        p->net_released = true;
        work_queue(ps, p, W_RELEASE, 0);
    }
}

static void work_done(uv_work_t *req, int status)
{
    work_t *w = req->data;
    kpods_t *ps = w->ps;
    kubelet_t *k = ps->k;
    (void)status;
    ps->works--;
    if (ps->stopping) {
        work_free(w);
        kubelet__pods_stop(k);
        kubelet__handle_release(k);
        return;
    }
    kpod_t *p = w->pod;
    if (p)
        p->busy = false;
    if (p && util_log_verbosity() >= 2) {
        static const char *const names[] = {"init",    "sandbox",   "start",  "teardown",
                                            "release", "reconcile", "volumes"};
        uint64_t now = kubelet__mono_ns();
        util_log_v(2,
                   "kubelet: pod %s/%s: %s job queued %.1f ms, ran %.1f ms, back on the loop "
                   "after %.1f ms (%.1f ms since the pod was seen)",
                   p->ns, p->name, names[w->kind], (double)(w->begun_ns - w->queued_ns) / 1e6,
                   (double)(w->ended_ns - w->begun_ns) / 1e6, (double)(now - w->ended_ns) / 1e6,
                   (double)(now - p->seen_ns) / 1e6);
    }
    switch (w->kind) {
    case W_INIT:
        if (w->rc < 0) {
            ps->failed = true;
            break;
        }
        ps->ready = true;
        begin(ps);
        kubelet__pods_static_early(ps);
        break;
    case W_SANDBOX:
        kubelet__work_pod_events(w, p);
        if (w->rc < 0) {
            util_log_warn("kubelet: pod %s/%s: %s", p->ns, p->name, w->message);
            for (size_t i = 0; i < p->n; i++)
                if (p->ctrs[i].state == KUBELET_CS_WAITING) {
                    p->ctrs[i].reason = "ContainerCreating";
                    util_snprintf(p->ctrs[i].message, sizeof(p->ctrs[i].message), "%s", w->message);
                }
            kubelet__pod_post_status(p);
            pod_wake_at(p, uv_now(k->loop) + 5000);
            break;
        }
        p->sandbox = true;
        util_snprintf(p->ip, sizeof(p->ip), "%s", w->ip);
        p->sandbox_synced = true;
        kubelet__pod_sync(p);
        p->sandbox_synced = false;
        break;
    case W_START: {
        kctr_t *c = &p->ctrs[w->ci];
        free(c->image_id);
        c->image_id = w->image_id;
        w->image_id = NULL;
        c->retry_at = 0;
        kubelet__work_events(w, c);
        if (w->rc < 0) {
            /* nothing was started: the reason waits, the next try after a back-off */
            c->state = KUBELET_CS_WAITING;
            bool pull = !strcmp(w->reason, "ErrImagePull");
            c->reason = pull && c->pull_failures > 0 ? "ImagePullBackOff" : w->reason;
            if (c->reason != w->reason)
                kubelet__ctr_event(c, "Normal", "BackOff", "Back-off pulling image \"%s\"",
                                   c->image);
            if (!strcmp(w->reason, "ContainerCreating")) /* a volume could not be set up */
                kubelet__pod_event(p, "Warning", "FailedMount", "%s", w->message);
            else
                kubelet__ctr_event(c, "Warning", "Failed", "Error: %s",
                                   pull || !strcmp(w->reason, "ErrImageNeverPull") ? c->reason
                                                                                   : w->message);
            util_snprintf(c->message, sizeof(c->message), "%s", w->message);
            util_log_warn("kubelet: pod %s/%s container %s: %s: %s", p->ns, p->name, c->name,
                          w->reason, w->message);
            int att;
            char u0[RUNTIME_ID_MAX + 1], n0[RUNTIME_ID_MAX + 1];
            if (kubelet__parse_cid(w->new_id, u0, sizeof(u0), n0, sizeof(n0), &att))
                c->attempt = att;
            c->id[0] = 0; /* the old one was deleted, the new one never made */
            c->pull_failures++;
            c->retry_at = uv_now(k->loop) + kubelet_crash_backoff_ms(c->pull_failures);
            pod_wake_at(p, c->retry_at);
            kubelet__pod_post_status(p);
            break;
        }
        if (w->old_id[0]) {
            c->restarts++;
            c->backoff_n++;
        }
        c->pull_failures = 0;
        int attempt;
        char u[RUNTIME_ID_MAX + 1], n[RUNTIME_ID_MAX + 1];
        kubelet__parse_cid(w->new_id, u, sizeof(u), n, sizeof(n), &attempt);
        c->attempt = attempt;
        util_snprintf(c->id, sizeof(c->id), "%s", w->new_id);
        c->state = KUBELET_CS_WAITING;
        c->reason = NULL;
        kubelet__ctr_watch(c);
        if (c->state == KUBELET_CS_TERMINATED && w->rc == 1) {
            kubelet__set_str(&c->term_msg, w->message);
            c->term.message = c->term_msg;
        }
        if (w->poststart_failed && c->state == KUBELET_CS_RUNNING)
            kubelet__ctr_kill(c, "FailedPostStartHook", kubelet_kill_grace(p->obj, NULL));
        kubelet__pod_sync(p);
        break;
    }
    case W_TEARDOWN:
        p->torn_down = true;
        for (size_t i = 0; i < p->n; i++)
            kubelet__ctr_unwatch(&p->ctrs[i]);
        kubelet__pod_sync(p);
        break;
    case W_VOLUMES:
        if (w->rc < 0)
            kubelet__pod_event(p, "Warning", "FailedMount", "%s", w->message);
        kubelet__pod_sync(p);
        break;
    case W_RELEASE:
        kubelet__pod_sync(p);
        break;
    case W_RECONCILE:
        break;
    }
    work_free(w);
    kubelet__handle_release(k);
}

/* ---- the informer -------------------------------------------------------------------------- */

static void on_pod(void *ud, const cJSON *obj)
{
    kpods_t *ps = ud;
    const cJSON *meta = jget(obj, "metadata");
    const char *uid = jstr(meta, "uid");
    if (kubelet_mirror_hash(obj)) { /* a mirror pod: its static pod runs from its file */
        kubelet__static_mirror_event(ps, obj);
        return;
    }
    if (!uid || !*uid || strlen(uid) > RUNTIME_ID_MAX || strchr(uid, '_') || strchr(uid, '/'))
        return;
    kpod_t *p = pod_find(ps, uid);
    if (!p) {
        p = pod_new(ps, uid, obj);
        if (ps->started)
            p->adopted = true; /* nothing of an earlier run is left to adopt */
    } else if (p->obj) {
        cJSON_Delete(p->obj);
        p->obj = cJSON_Duplicate(obj, true);
    }
    if (jget(meta, "deletionTimestamp") && !p->deleting) {
        p->deleting = true;
        util_log_info("kubelet: killing pod %s/%s (grace period %llds)", p->ns, p->name,
                      (long long)kubelet_kill_grace(p->obj, NULL));
    }
    kubelet__pod_sync(p);
}

static void on_pod_updated(void *ud, const cJSON *old, const cJSON *obj)
{
    kpods_t *ps = ud;
    const char *uid = jstr(jget(obj, "metadata"), "uid");
    kpod_t *p = uid && !kubelet_mirror_hash(obj) ? pod_find(ps, uid) : NULL;
    if (p && kubelet__pod_meta_changed(old, obj))
        p->vol_dirty = true;
    on_pod(ud, obj);
}

static void on_pod_deleted(void *ud, const cJSON *obj)
{
    kpods_t *ps = ud;
    if (kubelet_mirror_hash(obj)) {
        kubelet__static_mirror_event(ps, obj);
        return;
    }
    kpod_t *p = kubelet__pod_find(
        ps, jstr(jget(obj, "metadata"), "uid") ? jstr(jget(obj, "metadata"), "uid") : "");
    if (!p)
        return;
    if (p->delete_sent && !p->delete_req) /* our own delete: done */
        return;
    p->gone = true;
    client_req_cancel(p->status_req);
    p->status_req = NULL;
    if (p->torn_down && !p->busy) {
        if (!p->delete_req)
            pod_free(p);
        return;
    }
    kubelet__pod_sync(p);
}

/* Once the runtime is open and the first list is in: adopt containers of an earlier run, and
 * remove what the runtime holds for pods the API no longer has; then run everything. */
static void begin(kpods_t *ps)
{
    if (!ps->ready || !ps->synced || ps->started)
        return;
    for (kpod_t *q = ps->pods; q; q = q->next)
        if (!q->adopted && q->obj) {
            adopt(q);
            q->adopted = true;
        }
    for (size_t i = 0; i < ps->adopted.n; i++) {
        char uid[RUNTIME_ID_MAX + 1], name[RUNTIME_ID_MAX + 1];
        int attempt;
        if (!kubelet__parse_cid(ps->adopted.v[i], uid, sizeof(uid), name, sizeof(name), &attempt) ||
            pod_find(ps, uid))
            continue;
        util_log_info("kubelet: pod %s is gone from the API; removing its containers", uid);
        pod_new(ps, uid, NULL);
    }
    util_strv_clear(&ps->adopted);
    ps->started = true;
    util_log_info("kubelet: running the pods of node %s", ps->k->name);
    for (kpod_t *q = ps->pods, *next; q; q = next) {
        next = q->next;
        kubelet__pod_sync(q);
    }
    work_queue(ps, NULL, W_RECONCILE, 0);
}

/* The pod CIDR became known after the first list (kubelet_pods_offline.c): the pod network an
 * earlier run used is reconciled now, as begin() could not. */
void kubelet__pods_reconcile(kpods_t *ps)
{
    if (ps->started && !ps->stopping)
        work_queue(ps, NULL, W_RECONCILE, 0);
}

static void on_pods_synced(void *ud)
{
    kpods_t *ps = ud;
    ps->synced = true;
    begin(ps);
    kubelet__static_synced(ps);
}

/* ---- start and stop ------------------------------------------------------------------------ */

void kubelet__pods_start(kubelet_t *k)
{
    if (k->pods || k->stopping)
        return;
    kpods_t *ps = util_xcalloc(1, sizeof(*ps));
    ps->k = k;
    k->pods = ps;
    ps->agent_dir = util_strdup_printf("%s/agent", k->storage_dir);
    ps->started_at = time(NULL);
    uv_rwlock_init(&ps->pn_mu);
    uv_mutex_init(&ps->img_mu);
    if (geteuid() != 0) {
        util_log_warn("kubelet: not running as root: pods bound to %s will not run", k->name);
        ps->failed = true;
        return;
    }
    kubelet__events_start(ps);
    work_queue(ps, NULL, W_INIT, 0);
    kubelet__static_start(ps, k->manifest_dir);
    char *selector = util_strdup_printf("spec.nodeName=%s", k->name);
    client_informer_opts_t io = {.resource = &CLIENT_RES_PODS, .field_selector = selector};
    client_informer_handlers_t h = {.on_add = on_pod,
                                    .on_update = on_pod_updated,
                                    .on_delete = on_pod_deleted,
                                    .on_synced = on_pods_synced};
    util_error_t err = NULL;
    if (client_informer_start(k->client, &io, &h, ps, &ps->informer, &err) < 0) {
        char b[512];
        kubelet__errtext(&err, b, sizeof(b));
        util_log_error("kubelet: pod informer: %s", b);
    }
    free(selector);
    kubelet__config_start(ps);
}

/* Stops watching; pods keep running. Called again by each finishing job while stopping: the
 * state is freed once no job is in flight. */
void kubelet__pods_stop(kubelet_t *k)
{
    kpods_t *ps = k->pods;
    if (!ps)
        return;
    if (!ps->stopping) {
        ps->stopping = true;
        kubelet__static_stop(ps);
        client_informer_stop(ps->informer);
        ps->informer = NULL;
        kubelet__config_stop(ps);
        while (ps->pods)
            pod_free(ps->pods);
        kubelet__events_stop(ps); /* its requests go before the client closes */
    }
    if (ps->works > 0)
        return;
    k->pods = NULL;
    podnet_close(ps->pn);
    images_store_close(ps->images);
    runtime_close(ps->rt);
    uv_rwlock_destroy(&ps->pn_mu);
    uv_mutex_destroy(&ps->img_mu);
    util_strv_clear(&ps->adopted);
    free(ps->agent_dir);
    free(ps);
}
