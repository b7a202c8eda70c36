/* kubelet_pods_status: container exits (the shim's watch socket polled by libuv, no timers)
 * and the pod status posted through pods/status when it changed. */
#include "kubelet_pods_internal.h"

#include <stdlib.h>
#include <unistd.h>

/* ---- container exits ----------------------------------------------------------------------- */

static void on_poll_closed(uv_handle_t *h)
{
    free(h);
}

void kubelet__ctr_unwatch(kctr_t *c)
{
    if (!c->poll)
        return;
    uv_poll_stop(c->poll);
    uv_close((uv_handle_t *)c->poll, on_poll_closed);
    c->poll = NULL;
    close(c->watch_fd);
    c->watch_fd = -1;
}

static void set_terminated(kctr_t *c, const runtime_container_state_t *st)
{
    c->state = KUBELET_CS_TERMINATED;
    util_snprintf(c->term_cid, sizeof(c->term_cid), "kubeling://%s", c->id);
    kubelet__set_str(&c->term_msg, st->message);
    if (!st->message[0])
        kubelet__ctr_termination_message(c, st->status == RUNTIME_STATUS_UNKNOWN ? 255
                                                                                 : st->exit_code);
    c->term = (kubelet_term_t){
        .exit_code = st->status == RUNTIME_STATUS_UNKNOWN ? 255 : st->exit_code,
        .signal = st->signal,
        .reason = st->oom_killed                         ? "OOMKilled"
                  : st->status == RUNTIME_STATUS_UNKNOWN ? "Unknown"
                  : st->exit_code == 0                   ? "Completed"
                                                         : "Error",
        .message = c->term_msg,
        .started_ns = st->started_ns,
        .finished_ns = st->finished_ns ? st->finished_ns : kubelet__now_ns(),
        .container_id = c->term_cid,
    };
    c->reason = NULL;
    c->message[0] = 0;
}

static void apply_state(kctr_t *c, const runtime_container_state_t *st)
{
    if (st->status == RUNTIME_STATUS_RUNNING) {
        c->state = KUBELET_CS_RUNNING;
        c->started_ns = st->started_ns ? st->started_ns : kubelet__now_ns();
        c->reason = NULL;
    } else if (st->status == RUNTIME_STATUS_EXITED || st->status == RUNTIME_STATUS_UNKNOWN) {
        set_terminated(c, st);
    }
}

static void on_exit_readable(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    kctr_t *c = h->data;
    kpods_t *ps = c->pod->ps;
    runtime_container_state_t st;
    util_error_t err = NULL;
    int r = runtime_container_watch_read(ps->rt, c->id, c->watch_fd, &st, &err);
    kubelet__ctr_unwatch(c);
    if (r < 0) {
        util_error_free(&err);
        r = runtime_container_state(ps->rt, c->id, &st, &err);
    }
    if (r < 0) {
        char b[512];
        kubelet__errtext(&err, b, sizeof(b));
        util_log_warn("kubelet: container %s: %s", c->id, b);
        memset(&st, 0, sizeof(st));
        st.status = RUNTIME_STATUS_UNKNOWN;
    }
    util_log_v(1, "kubelet: container %s exited with %d", c->id, st.exit_code);
    apply_state(c, &st);
    kubelet__ctr_stopped(c);
    kubelet__pod_sync(c->pod);
}

/* Watches a started (or adopted) container; reads the state when it has already exited. */
void kubelet__ctr_watch(kctr_t *c)
{
    kpods_t *ps = c->pod->ps;
    util_error_t err = NULL;
    runtime_container_state_t st;
    int fd = -1;
    if (runtime_container_state(ps->rt, c->id, &st, &err) < 0) {
        util_error_free(&err);
        memset(&st, 0, sizeof(st));
        st.status = RUNTIME_STATUS_UNKNOWN;
        apply_state(c, &st);
        return;
    }
    apply_state(c, &st);
    if (st.status != RUNTIME_STATUS_RUNNING && st.status != RUNTIME_STATUS_CREATED)
        return;
    if (c->state == KUBELET_CS_RUNNING && c->pod->obj)
        kubelet__probes_start(c);
    if (runtime_container_watch(ps->rt, c->id, &fd, &err) < 0) {
        util_error_free(&err);
        if (runtime_container_state(ps->rt, c->id, &st, NULL) == 0)
            apply_state(c, &st);
        return;
    }
    c->poll = util_xcalloc(1, sizeof(*c->poll));
    c->watch_fd = fd;
    uv_poll_init(ps->k->loop, c->poll, fd);
    c->poll->data = c;
    uv_poll_start(c->poll, UV_READABLE | UV_DISCONNECT, on_exit_readable);
}

/* ---- status -------------------------------------------------------------------------------- */

static void on_status_posted(void *ud, client_result_t *res)
{
    kpod_t *p = ud;
    p->status_req = NULL;
    util_log_v(2, "kubelet: pod %s/%s: status %d after %.1f ms since the pod was seen", p->ns,
               p->name, res->status, (double)(kubelet__mono_ns() - p->seen_ns) / 1e6);
    if (res->status == 200 && p->is_static) { /* the mirror's: keep the file's pod */
        cJSON *st = cJSON_DetachItemFromObjectCaseSensitive(res->body, "status");
        if (st) {
            cJSON_DeleteItemFromObjectCaseSensitive(p->obj, "status");
            cJSON_AddItemToObject(p->obj, "status", st);
        }
    } else if (res->status == 200) {
        if (res->body) {
            cJSON_Delete(p->obj);
            p->obj = res->body;
            res->body = NULL;
        }
    } else {
        util_log_v(1, "kubelet: pod %s/%s status: %s", p->ns, p->name, res->st.message);
        free(p->posted);
        p->posted = NULL;
    }
    if (p->status_dirty) {
        p->status_dirty = false;
        kubelet__pod_sync(p);
    }
}

void kubelet__pod_post_status(kpod_t *p)
{
    if (!p->obj || p->gone || p->delete_sent)
        return;
    if (p->is_static && !kubelet__static_mirror_ready(p))
        return; /* posted once its mirror pod is there */
    if (p->status_req) {
        p->status_dirty = true;
        return;
    }
    /* The sync right after the sandbox that queued a container's start: like upstream, whose
     * status is generated at the top of the sync that creates the sandbox and starts the
     * containers, the pod IP is posted with the start's outcome (every job's end syncs and
     * posts), not in a PATCH of its own: one status write per pod fewer, and one watch event
     * fewer for every controller that follows pods. */
    if (p->sandbox_synced && p->busy)
        return;
    kubelet_ctr_status_t cs[MAX_CTRS];
    for (size_t i = 0; i < p->n; i++) {
        kctr_t *c = &p->ctrs[i];
        char *cid = c->id[0] && c->state != KUBELET_CS_WAITING
                        ? util_strdup_printf("kubeling://%s", c->id)
                        : NULL;
        cs[i] = (kubelet_ctr_status_t){
            .name = c->name,
            .image = c->image,
            .image_id = c->image_id,
            .container_id = cid,
            .init = c->init,
            .state = c->state,
            .reason = c->reason,
            .message = c->message,
            .started_ns = c->started_ns,
            .term = c->term,
            .has_last = c->has_last,
            .last = c->last,
            .restart_count = c->restarts,
            .not_ready = c->not_ready,
            .not_started = c->not_started,
        };
    }
    char now[40];
    kubelet__now(now, sizeof(now), false);
    const cJSON *spec = jget(p->obj, "spec");
    kubelet_pod_view_t v = {
        .ctrs = cs,
        .n = p->n,
        .restart_policy = kubelet__restart_policy(p),
        .pod_ip = p->ip,
        .host_ip = p->ps->k->host.internal_ip,
        .start_time = p->start_time[0] ? p->start_time : NULL,
        .qos_class = kubelet_qos_class(spec),
        .now = now,
        .prev_conditions = jget(jget(p->obj, "status"), "conditions"),
    };
    cJSON *st = kubelet_pod_status(&v);
    kubelet__pod_admit_status(p, st);
    for (size_t i = 0; i < p->n; i++)
        free((char *)cs[i].container_id);
    char *text = cJSON_PrintUnformatted(st);
    if (p->posted && text && !strcmp(p->posted, text)) {
        cJSON_free(text);
        cJSON_Delete(st);
        return;
    }
    free(p->posted);
    p->posted = text ? util_xstrdup(text) : NULL;
    cJSON_free(text);
    cJSON *patch = cJSON_CreateObject();
    cJSON_AddItemToObject(patch, "status", st);
    p->status_req = client_patch(p->ps->k->client, &CLIENT_RES_PODS, p->ns, p->name, "status",
                                 CLIENT_PATCH_MERGE, patch, on_status_posted, p);
    cJSON_Delete(patch);
}
