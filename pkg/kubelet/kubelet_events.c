/* kubelet_events: the kubelet's events about pods and their containers (Pulling, Pulled,
 * Created, Started, Killing, BackOff, Unhealthy, Failed, ...), written through the shared
 * correlating recorder of pkg/client (repeats become a count, a token bucket per pod stops
 * floods). source.component "kubelet", source.host the node, like upstream. */
#include "kubelet_pods_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

static void node_event(kpods_t *ps, const char *reason, const char *message)
{
    if (!ps->recorder)
        return;
    client_event_ref_t ref = {.kind = "Node", .name = ps->k->name, .uid = ps->k->name};
    client_recorder_eventf(ps->recorder, &ref, "Warning", reason, "%s", message);
}

/* upstream's CheckLimitsForResolvConf, once at start (a small file, read on the loop) */
static void check_resolv_conf(kpods_t *ps)
{
    const kubelet_dns_conf_t *c = &ps->k->dns;
    if (!*c->resolv_conf)
        return;
    char *text = NULL, *msg = NULL;
    int r = util_read_file(c->resolv_conf, 1024 * 1024, &text, NULL, NULL);
    if (r < 0 && !(c->resolv_auto && r == -ENOENT))
        msg = util_strdup_printf("open %s: %s", c->resolv_conf, strerror(-r));
    else
        msg = kubelet_dns_check_host_limits(c, text);
    if (msg) {
        util_log_warn("kubelet: %s", msg);
        node_event(ps, "CheckLimitsForResolvConf", msg);
    }
    free(msg);
    free(text);
}

void kubelet__events_start(kpods_t *ps)
{
    if (!ps->recorder)
        ps->recorder = client_recorder_new(ps->k->client, "kubelet", ps->k->name);
    check_resolv_conf(ps);
}

void kubelet__events_stop(kpods_t *ps)
{
    client_recorder_free(ps->recorder);
    ps->recorder = NULL;
}

static void emit(kpod_t *p, const char *field_path, const char *type, const char *reason,
                 const char *msg)
{
    if (!p->obj || !p->ps->recorder)
        return;
    const cJSON *meta = jget(p->obj, "metadata");
    client_event_ref_t ref = {.kind = "Pod",
                              .api_version = "v1",
                              .ns = p->ns,
                              .name = p->name,
                              .uid = p->uid,
                              .resource_version = jstr(meta, "resourceVersion"),
                              .field_path = field_path};
    client_recorder_eventf(p->ps->recorder, &ref, type, reason, "%s", msg);
}

void kubelet__pod_event(kpod_t *p, const char *type, const char *reason, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    emit(p, NULL, type, reason, msg);
}

void kubelet__ctr_event(kctr_t *c, const char *type, const char *reason, const char *fmt, ...)
{
    char msg[1024], path[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    util_snprintf(path, sizeof(path), "spec.%s{%.250s}", c->init ? "initContainers" : "containers",
                  c->name);
    emit(c->pod, path, type, reason, msg);
}

void kubelet__work_event(work_t *w, const char *type, const char *reason, const char *fmt, ...)
{
    if (w->nev >= (int)(sizeof(w->ev) / sizeof(w->ev[0])))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->ev[w->nev].message, sizeof(w->ev[w->nev].message), fmt, ap);
    va_end(ap);
    w->ev[w->nev].type = type;
    w->ev[w->nev].reason = reason;
    w->nev++;
}

void kubelet__work_events(work_t *w, kctr_t *c)
{
    for (int i = 0; i < w->nev; i++)
        if (!strcmp(w->ev[i].reason, "FailedToRetrieveImagePullSecret")) /* about the pod */
            kubelet__pod_event(c->pod, w->ev[i].type, w->ev[i].reason, "%s", w->ev[i].message);
        else
            kubelet__ctr_event(c, w->ev[i].type, w->ev[i].reason, "%s", w->ev[i].message);
    w->nev = 0;
}

void kubelet__work_pod_events(work_t *w, kpod_t *p)
{
    for (int i = 0; i < w->nev; i++) {
        if (!w->ev[i].node) {
            kubelet__pod_event(p, w->ev[i].type, w->ev[i].reason, "%s", w->ev[i].message);
            continue;
        }
        node_event(p->ps, w->ev[i].reason, w->ev[i].message); /* Warnings only */
    }
    w->nev = 0;
}
