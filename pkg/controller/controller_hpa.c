/* controller_hpa: upstream's horizontal pod autoscaler controller (autoscaling/v2). Each
 * HorizontalPodAutoscaler is synced when it changes and every 15 s while it exists (nothing
 * runs without HPAs): the target's scale subresource gives the current replicas and the pod
 * selector, the built-in metrics API (metrics.k8s.io, served by the apiserver from the
 * kubelets) gives the pods' usage, controller_hpa_calc.c turns them into a replica count
 * (tolerance, missing and unready pods, stabilization windows, scaling policies), the scale
 * subresource is patched when it changes, and the HPA's status and conditions are written with
 * upstream's reasons and events. Resource metrics (Utilization and AverageValue) are served;
 * Pods, Object, External and ContainerResource metrics are reported as unsupported. */
#include "controller/controller_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "labels/labels.h"
#include "quantity/quantity.h"

#define SYNC_PERIOD_MS 15000 /* --horizontal-pod-autoscaler-sync-period */
#define COMPONENT      "horizontal-pod-autoscaler"

const client_resource_t CONTROLLER_RES_HPA = {"autoscaling", "v2", "horizontalpodautoscalers",
                                              true};

typedef struct hpa_state {
    struct hpa_state *next;
    char *key;
    bool busy, orphan; /* orphan: the controller stopped while its sync was in flight */
    controller_hpa_history_t h;
} hpa_state_t;

struct ctrl_hpa {
    client_informer_t *inf;
    bool synced;
    controller_queue_t *q;
    hpa_state_t *states;
};

/* One sync in flight: scale, then metrics, then the writes. */
typedef struct hsync {
    controller_manager_t *m;
    hpa_state_t *st;
    cJSON *hpa;   /* copy */
    cJSON *scale; /* the target's Scale */
    char plural[64], group[64], version[16];
    int64_t current, desired;
    cJSON *conditions; /* [{type,status,reason,message}] in upstream's order */
    cJSON *current_metrics;
    char rescale_reason[200];
    bool rescaled;
} hsync_t;

static hpa_state_t *state_of(struct ctrl_hpa *h, const char *key, bool create)
{
    for (hpa_state_t *s = h->states; s; s = s->next)
        if (!strcmp(s->key, key))
            return s;
    if (!create)
        return NULL;
    hpa_state_t *s = util_xcalloc(1, sizeof(*s));
    s->key = util_xstrdup(key);
    s->next = h->states;
    h->states = s;
    return s;
}

static void state_drop(struct ctrl_hpa *h, const char *key)
{
    for (hpa_state_t **pp = &h->states; *pp; pp = &(*pp)->next) {
        if (!strcmp((*pp)->key, key)) {
            hpa_state_t *s = *pp;
            if (s->busy) /* its sync finishes first; the next one finds no HPA */
                return;
            *pp = s->next;
            free(s->key);
            free(s);
            return;
        }
    }
}

/* ---- conditions and status --------------------------------------------------------------- */

static void set_cond(hsync_t *s, const char *type, bool ok, const char *reason, const char *fmt,
                     ...) __attribute__((format(printf, 5, 6)));
static void set_cond(hsync_t *s, const char *type, bool ok, const char *reason, const char *fmt,
                     ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cJSON *c;
    cJSON_ArrayForEach(c, s->conditions)
    {
        const char *t = ctrl_str(c, "type");
        if (t && !strcmp(t, type))
            break;
    }
    if (!c) {
        c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "type", type);
        cJSON_AddItemToArray(s->conditions, c);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(c, "status");
    cJSON_DeleteItemFromObjectCaseSensitive(c, "reason");
    cJSON_DeleteItemFromObjectCaseSensitive(c, "message");
    cJSON_AddStringToObject(c, "status", ok ? "True" : "False");
    cJSON_AddStringToObject(c, "reason", reason);
    cJSON_AddStringToObject(c, "message", msg);
}

/* Conditions keep their lastTransitionTime while their status stays. */
static cJSON *conditions_with_times(const hsync_t *s)
{
    char now[32];
    controller_format_time(time(NULL), now);
    cJSON *out = cJSON_Duplicate(s->conditions, true);
    cJSON *c;
    cJSON_ArrayForEach(c, out)
    {
        const char *ts = now, *type = ctrl_str(c, "type"), *status = ctrl_str(c, "status");
        const cJSON *old;
        cJSON_ArrayForEach(old, ctrl_get(ctrl_get(s->hpa, "status"), "conditions"))
        {
            const char *ot = ctrl_str(old, "type"), *os = ctrl_str(old, "status");
            if (ot && os && type && status && !strcmp(ot, type) && !strcmp(os, status) &&
                ctrl_str(old, "lastTransitionTime"))
                ts = ctrl_str(old, "lastTransitionTime");
        }
        cJSON_AddStringToObject(c, "lastTransitionTime", ts);
    }
    return out;
}

static void hsync_free(void *p)
{
    hsync_t *s = p;
    if (!s)
        return;
    if (s->st && s->st->orphan) {
        free(s->st->key);
        free(s->st);
    } else if (s->st) {
        s->st->busy = false;
    }
    cJSON_Delete(s->hpa);
    cJSON_Delete(s->scale);
    cJSON_Delete(s->conditions);
    cJSON_Delete(s->current_metrics);
    free(s);
}

/* Writes the status and schedules the next sync. */
static void finish(hsync_t *s)
{
    controller_manager_t *m = s->m;
    const cJSON *meta = ctrl_get(s->hpa, "metadata");
    cJSON *patch = cJSON_CreateObject();
    cJSON *st = cJSON_AddObjectToObject(patch, "status");
    const cJSON *gen = ctrl_get(meta, "generation");
    if (cJSON_IsNumber(gen))
        cJSON_AddNumberToObject(st, "observedGeneration", gen->valuedouble);
    cJSON_AddNumberToObject(st, "currentReplicas", (double)s->current);
    cJSON_AddNumberToObject(st, "desiredReplicas", (double)s->desired);
    cJSON_AddItemToObject(st, "currentMetrics",
                          s->current_metrics ? cJSON_Duplicate(s->current_metrics, true)
                                             : cJSON_CreateNull());
    cJSON_AddItemToObject(st, "conditions", conditions_with_times(s));
    if (s->rescaled) {
        char now[32];
        controller_format_time(time(NULL), now);
        cJSON_AddStringToObject(st, "lastScaleTime", now);
    }
    ctrl_patch(m, &CONTROLLER_RES_HPA, ctrl_str(meta, "namespace"), ctrl_str(meta, "name"),
               "status", patch);
    cJSON_Delete(patch);
    if (m->hpa) {
        controller_queue_add_after(m->hpa->q, s->st->key, SYNC_PERIOD_MS, ctrl_now(m));
        ctrl_kick(m);
    }
    hsync_free(s);
}

/* ---- the target --------------------------------------------------------------------------- */

/* The scale subresource of the target (the kinds with one built in). */
static bool target_of(hsync_t *s)
{
    const cJSON *ref = ctrl_get(ctrl_get(s->hpa, "spec"), "scaleTargetRef");
    const char *kind = ctrl_str(ref, "kind"), *av = ctrl_str(ref, "apiVersion");
    static const struct {
        const char *kind, *group, *plural;
    } kinds[] = {{"Deployment", "apps", "deployments"},
                 {"ReplicaSet", "apps", "replicasets"},
                 {"StatefulSet", "apps", "statefulsets"},
                 {"ReplicationController", "", "replicationcontrollers"}};
    for (size_t i = 0; kind && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kind, kinds[i].kind))
            continue;
        const char *slash = av ? strchr(av, '/') : NULL;
        size_t glen = slash ? (size_t)(slash - av) : 0;
        if ((slash && (glen != strlen(kinds[i].group) || strncmp(av, kinds[i].group, glen))) ||
            (!slash && kinds[i].group[0] && av))
            return false;
        snprintf(s->group, sizeof(s->group), "%s", kinds[i].group);
        snprintf(s->version, sizeof(s->version), "v1");
        snprintf(s->plural, sizeof(s->plural), "%s", kinds[i].plural);
        return true;
    }
    return false;
}

static void event(hsync_t *s, const char *type, const char *reason, const char *msg)
{
    ctrl_event(s->m, s->hpa, "HorizontalPodAutoscaler", "autoscaling/v2", type, reason, COMPONENT,
               "%s", msg);
}

/* ---- metrics -------------------------------------------------------------------------------- */

typedef struct podm {
    const cJSON *pod;
    bool has;
    int64_t cpu, mem; /* milli */
} podm_t;

typedef struct collect {
    const char *ns;
    labels_selector_t *sel;
    podm_t *p;
    size_t n, cap;
} collect_t;

static void collect_pod(void *ud, const cJSON *pod)
{
    collect_t *c = ud;
    const cJSON *meta = ctrl_get(pod, "metadata");
    const char *ns = ctrl_str(meta, "namespace");
    if (!ns || strcmp(ns, c->ns) || !labels_selector_matches(c->sel, ctrl_get(meta, "labels")))
        return;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->p = util_xrealloc(c->p, c->cap * sizeof(*c->p));
    }
    c->p[c->n++] = (podm_t){pod, false, 0, 0};
}

static int64_t window_seconds(const char *w)
{
    if (!w)
        return 0;
    double v = strtod(w, NULL);
    if (strstr(w, "ms"))
        v /= 1000;
    else if (strchr(w, 'm'))
        v *= 60;
    return (int64_t)(v + 0.999);
}

/* Canonical DecimalSI text of a milli-value ("250m", "2", "1500k"). */
static void milli_quantity(int64_t milli, char *out, size_t n)
{
    if (milli % 1000) {
        snprintf(out, n, "%lldm", (long long)milli);
        return;
    }
    int64_t v = milli / 1000;
    static const char *const suffix[] = {"", "k", "M", "G", "T", "P", "E"};
    size_t i = 0;
    while (v && v % 1000 == 0 && i < 6) {
        v /= 1000;
        i++;
    }
    snprintf(out, n, "%lld%s", (long long)v, v ? suffix[i] : "");
}

/* Computes the desired replicas; true when it finished the sync itself (no metric usable). */
static bool metrics_answered(controller_manager_t *m, hsync_t *s, client_result_t *res)
{
    const cJSON *spec = ctrl_get(s->hpa, "spec");
    const char *ns = ctrl_str(ctrl_get(s->hpa, "metadata"), "namespace");
    const char *seltext = ctrl_str(ctrl_get(s->scale, "status"), "selector");
    collect_t c = {.ns = ns};
    labels_selector_parse(seltext ? seltext : "", &c.sel, NULL);
    if (c.sel)
        client_informer_foreach(m->inf[CTRL_INF_PODS], collect_pod, &c);
    int64_t now = time(NULL), mtime = now, window = 0;
    bool metrics_ok = res->status == 200;
    const cJSON *item, *items = metrics_ok ? ctrl_get(res->body, "items") : NULL;
    cJSON_ArrayForEach(item, items)
    {
        const char *name = ctrl_str(ctrl_get(item, "metadata"), "name");
        for (size_t i = 0; name && i < c.n; i++) {
            if (strcmp(name, ctrl_str(ctrl_get(c.p[i].pod, "metadata"), "name")))
                continue;
            c.p[i].has = true;
            const cJSON *ctr;
            cJSON_ArrayForEach(ctr, ctrl_get(item, "containers"))
            {
                const cJSON *u = ctrl_get(ctr, "usage");
                c.p[i].cpu += quantity_parse_value(ctrl_str(u, "cpu"), 3, 0);
                c.p[i].mem += quantity_parse_value(ctrl_str(u, "memory"), 3, 0);
            }
            int64_t t = controller_parse_time(ctrl_str(item, "timestamp"));
            if (t > 0)
                mtime = t;
            window = window_seconds(ctrl_str(item, "window"));
        }
    }
    int64_t max_replicas = ctrl_int(spec, "maxReplicas", 1);
    int64_t min_replicas = ctrl_int(spec, "minReplicas", 1);
    int64_t proposal = -1;
    char reason_metric[128] = "";
    char errmsg[600] = "", errreason[64] = "";
    s->current_metrics = cJSON_CreateArray();
    const cJSON *metric;
    cJSON_ArrayForEach(metric, ctrl_get(spec, "metrics"))
    {
        const char *type = ctrl_str(metric, "type");
        const cJSON *rm = ctrl_get(metric, "resource");
        const char *rname = ctrl_str(rm, "name");
        if (!type || strcmp(type, "Resource") || !rname ||
            (strcmp(rname, "cpu") && strcmp(rname, "memory"))) {
            snprintf(errreason, sizeof(errreason), "FailedGetExternalMetric");
            snprintf(errmsg, sizeof(errmsg),
                     "the HPA was unable to compute the replica count: %s metrics are not "
                     "supported by kubeling",
                     type ? type : "unknown");
            continue;
        }
        bool cpu = !strcmp(rname, "cpu");
        const cJSON *target = ctrl_get(rm, "target");
        const char *ttype = ctrl_str(target, "type");
        int64_t util = 0, avg = 0;
        if (ttype && !strcmp(ttype, "Utilization"))
            util = ctrl_int(target, "averageUtilization", 0);
        else
            avg = quantity_parse_value(ctrl_str(target, "averageValue"), 3, 0);
        controller_hpa_pod_t *pods = util_xcalloc(c.n ? c.n : 1, sizeof(*pods));
        for (size_t i = 0; i < c.n; i++) {
            const cJSON *pod = c.p[i].pod;
            pods[i].name = ctrl_str(ctrl_get(pod, "metadata"), "name");
            pods[i].resource = rname;
            pods[i].group =
                controller_hpa_group_pod(pod, cpu, metrics_ok && c.p[i].has, mtime, window, now);
            pods[i].usage = cpu ? c.p[i].cpu : c.p[i].mem;
            pods[i].has_request = true;
            const cJSON *ctr;
            cJSON_ArrayForEach(ctr, ctrl_get(ctrl_get(pod, "spec"), "containers"))
            {
                const char *q = ctrl_str(ctrl_get(ctrl_get(ctr, "resources"), "requests"), rname);
                if (!q && pods[i].has_request) {
                    pods[i].has_request = false;
                    pods[i].container = ctrl_str(ctr, "name");
                }
                pods[i].request += quantity_parse_value(q, 3, 0);
            }
        }
        controller_hpa_result_t r;
        util_error_t err = NULL;
        int rc = controller_hpa_replicas(pods, c.n, s->current, util, avg, CONTROLLER_HPA_TOLERANCE,
                                         &r, &err);
        free(pods);
        if (rc < 0 || !metrics_ok) {
            snprintf(errreason, sizeof(errreason), "FailedGetResourceMetric");
            snprintf(errmsg, sizeof(errmsg),
                     "the HPA was unable to compute the replica count: failed to get %s "
                     "utilization: %s",
                     rname,
                     !metrics_ok ? (res->st.message ? res->st.message
                                                    : "unable to get metrics for resource")
                                 : err->msg);
            util_error_free(&err);
            continue;
        }
        cJSON *cm = cJSON_CreateObject();
        cJSON_AddStringToObject(cm, "type", "Resource");
        cJSON *res_st = cJSON_AddObjectToObject(cm, "resource");
        cJSON_AddStringToObject(res_st, "name", rname);
        cJSON *cur = cJSON_AddObjectToObject(res_st, "current");
        char q[48];
        milli_quantity(r.average, q, sizeof(q));
        if (util > 0)
            cJSON_AddNumberToObject(cur, "averageUtilization", (double)r.utilization);
        cJSON_AddStringToObject(cur, "averageValue", q);
        cJSON_AddItemToArray(s->current_metrics, cm);
        if (r.replicas > proposal) {
            proposal = r.replicas;
            snprintf(reason_metric, sizeof(reason_metric), "%s resource%s", rname,
                     util > 0 ? " utilization (percentage of request)" : "");
        }
    }
    free(c.p);
    labels_selector_free(c.sel);
    if (proposal < 0) {
        if (!errmsg[0])
            snprintf(errmsg, sizeof(errmsg),
                     "the HPA was unable to compute the replica count: "
                     "no metrics to compute");
        set_cond(s, "ScalingActive", false, errreason[0] ? errreason : "FailedGetResourceMetric",
                 "%s", errmsg);
        event(s, "Warning", errreason[0] ? errreason : "FailedGetResourceMetric", errmsg);
        s->desired = s->current;
        if (cJSON_GetArraySize(s->current_metrics) == 0) {
            cJSON_Delete(s->current_metrics);
            s->current_metrics = NULL;
        }
        finish(s);
        return true;
    }
    set_cond(s, "ScalingActive", true, "ValidMetricFound",
             "the HPA was able to successfully calculate a replica count from %s", reason_metric);
    controller_hpa_verdict_t v;
    s->desired = controller_hpa_normalize(ctrl_get(spec, "behavior"), min_replicas, max_replicas,
                                          s->current, proposal, &s->st->h, now, &v);
    set_cond(s, "AbleToScale", true, v.able_reason, "%s", v.able_message);
    set_cond(s, "ScalingLimited", v.limited, v.limit_reason, "%s", v.limit_message);
    if (s->desired < s->current)
        snprintf(s->rescale_reason, sizeof(s->rescale_reason), "All metrics below target");
    else
        snprintf(s->rescale_reason, sizeof(s->rescale_reason), "%s above target", reason_metric);
    return false;
}

/* ---- scaling -------------------------------------------------------------------------------- */

static void scaled(controller_manager_t *m, void *ud, client_result_t *res)
{
    hsync_t *s = ud;
    if (!m->hpa) { /* stopped leading meanwhile */
        hsync_free(s);
        return;
    }
    char msg[600];
    if (res->status >= 200 && res->status < 300) {
        s->rescaled = true;
        controller_hpa_record_scale(&s->st->h, ctrl_get(ctrl_get(s->hpa, "spec"), "behavior"),
                                    s->current, s->desired, time(NULL));
        set_cond(s, "AbleToScale", true, "SucceededRescale",
                 "the HPA controller was able to update the target scale to %lld",
                 (long long)s->desired);
        snprintf(msg, sizeof(msg), "New size: %lld; reason: %s", (long long)s->desired,
                 s->rescale_reason);
        event(s, "Normal", "SuccessfulRescale", msg);
    } else {
        snprintf(msg, sizeof(msg), "failed to rescale %s: %s", s->plural,
                 res->st.message ? res->st.message : "error");
        set_cond(s, "AbleToScale", false, "FailedUpdateScale",
                 "the HPA controller was unable to update the target scale: %s",
                 res->st.message ? res->st.message : "error");
        event(s, "Warning", "FailedRescale", msg);
        s->desired = s->current;
    }
    finish(s);
}

/* PATCH the target's scale to s->desired; scaled() goes on. */
static void rescale(controller_manager_t *m, hsync_t *s)
{
    const cJSON *meta = ctrl_get(s->hpa, "metadata");
    const cJSON *ref = ctrl_get(ctrl_get(s->hpa, "spec"), "scaleTargetRef");
    client_resource_t r = {s->group, s->version, s->plural, true};
    cJSON *patch = cJSON_CreateObject();
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(patch, "spec"), "replicas", (double)s->desired);
    ctrl_pending_t *p = ctrl_pending_new(m, scaled, s, hsync_free);
    ctrl_pending_sent(p, client_patch(m->client, &r, ctrl_str(meta, "namespace"),
                                      ctrl_str(ref, "name"), "scale", CLIENT_PATCH_MERGE, patch,
                                      ctrl_pending_cb, p));
    cJSON_Delete(patch);
}

static void after_metrics(controller_manager_t *m, void *ud, client_result_t *res)
{
    hsync_t *s = ud;
    if (!m->hpa) {
        hsync_free(s);
        return;
    }
    if (metrics_answered(m, s, res))
        return;
    if (s->desired == s->current)
        finish(s);
    else
        rescale(m, s);
}

static void scale_answered(controller_manager_t *m, void *ud, client_result_t *res)
{
    hsync_t *s = ud;
    if (!m->hpa) {
        hsync_free(s);
        return;
    }
    const cJSON *spec = ctrl_get(s->hpa, "spec");
    const char *ns = ctrl_str(ctrl_get(s->hpa, "metadata"), "namespace");
    if (res->status != 200) {
        char msg[600];
        snprintf(msg, sizeof(msg), "%s", res->st.message ? res->st.message : "error");
        set_cond(s, "AbleToScale", false, "FailedGetScale",
                 "the HPA controller was unable to get the target's current scale: %s", msg);
        event(s, "Warning", "FailedGetScale", msg);
        s->current = ctrl_int(ctrl_get(s->hpa, "status"), "currentReplicas", 0);
        s->desired = ctrl_int(ctrl_get(s->hpa, "status"), "desiredReplicas", 0);
        finish(s);
        return;
    }
    s->scale = res->body;
    res->body = NULL;
    s->current = ctrl_int(ctrl_get(s->scale, "spec"), "replicas", 0);
    int64_t min = ctrl_int(spec, "minReplicas", 1), max = ctrl_int(spec, "maxReplicas", 1);
    set_cond(s, "AbleToScale", true, "SucceededGetScale",
             "the HPA controller was able to get the target's current scale");
    const char *sel = ctrl_str(ctrl_get(s->scale, "status"), "selector");
    if (s->current == 0 && min != 0) {
        s->desired = 0;
        set_cond(s, "ScalingActive", false, "ScalingDisabled",
                 "scaling is disabled since the replica count of the target is zero");
        finish(s);
        return;
    }
    if (s->current > max || s->current < min) {
        s->desired = s->current > max ? max : min;
        snprintf(s->rescale_reason, sizeof(s->rescale_reason), "%s",
                 s->current > max ? "Current number of replicas above Spec.MaxReplicas"
                                  : "Current number of replicas below Spec.MinReplicas");
        set_cond(s, "ScalingLimited", true, s->current > max ? "TooManyReplicas" : "TooFewReplicas",
                 "%s",
                 s->current > max
                     ? "the desired replica count is more than the maximum replica count"
                     : "the desired replica count is less than the minimum replica count");
        rescale(m, s);
        return;
    }
    if (!sel || !*sel) {
        set_cond(s, "ScalingActive", false, "InvalidSelector",
                 "the HPA target's scale is missing a selector");
        event(s, "Warning", "SelectorRequired", "selector is required");
        s->desired = s->current;
        finish(s);
        return;
    }
    util_buf_t path = {0};
    static const client_resource_t pm = {"metrics.k8s.io", "v1beta1", "pods", true};
    client_path(&path, &pm, ns, NULL, NULL);
    client_query_add(&path, "labelSelector", sel);
    ctrl_pending_t *p = ctrl_pending_new(m, after_metrics, s, hsync_free);
    ctrl_pending_sent(
        p, client_request(m->client, "GET", path.data, NULL, NULL, 0, ctrl_pending_cb, p));
    util_buf_free(&path);
}

/* ---- the queue ------------------------------------------------------------------------------ */

static int hpa_sync(controller_manager_t *m, const char *key)
{
    struct ctrl_hpa *h = m->hpa;
    const char *slash = strchr(key, '/');
    char ns[254];
    snprintf(ns, sizeof(ns), "%.*s", slash ? (int)(slash - key) : 0, key);
    const cJSON *hpa = client_informer_get(h->inf, ns, slash ? slash + 1 : key);
    if (!hpa || ctrl_get(ctrl_get(hpa, "metadata"), "deletionTimestamp")) {
        state_drop(h, key);
        return 0;
    }
    hpa_state_t *st = state_of(h, key, true);
    if (st->busy) /* the sync in flight schedules the next one */
        return 0;
    hsync_t *s = util_xcalloc(1, sizeof(*s));
    s->m = m;
    s->st = st;
    s->hpa = cJSON_Duplicate(hpa, true);
    s->conditions = cJSON_CreateArray();
    st->busy = true;
    if (!target_of(s)) {
        const cJSON *ref = ctrl_get(ctrl_get(hpa, "spec"), "scaleTargetRef");
        char msg[400];
        snprintf(msg, sizeof(msg),
                 "the HPA controller was unable to get the target's current "
                 "scale: no scale subresource known for %s %s",
                 ctrl_str(ref, "apiVersion") ? ctrl_str(ref, "apiVersion") : "",
                 ctrl_str(ref, "kind") ? ctrl_str(ref, "kind") : "");
        set_cond(s, "AbleToScale", false, "FailedGetScale", "%s", msg);
        event(s, "Warning", "FailedGetScale", msg);
        finish(s);
        return 0;
    }
    const cJSON *ref = ctrl_get(ctrl_get(hpa, "spec"), "scaleTargetRef");
    client_resource_t r = {s->group, s->version, s->plural, true};
    ctrl_pending_t *p = ctrl_pending_new(m, scale_answered, s, hsync_free);
    const char *target = ctrl_str(ref, "name");
    util_buf_t path = {0};
    if (client_path(&path, &r, ns, target && *target ? target : "-", "scale") < 0) {
        util_buf_free(&path);
        ctrl_pending_sent(p, NULL);
        return 0;
    }
    ctrl_pending_sent(
        p, client_request(m->client, "GET", path.data, NULL, NULL, 0, ctrl_pending_cb, p));
    util_buf_free(&path);
    return 0;
}

static void on_hpa(void *ud, const cJSON *obj)
{
    controller_manager_t *m = ud;
    char *key = ctrl_key(obj);
    if (key && m->hpa)
        controller_queue_add(m->hpa->q, key, ctrl_now(m));
    free(key);
    ctrl_kick(m);
}

static void on_hpa_update(void *ud, const cJSON *old, const cJSON *obj)
{
    /* our own status writes come back as updates: only a spec change syncs at once */
    if (old && cJSON_Compare(ctrl_get(old, "spec"), ctrl_get(obj, "spec"), true) &&
        !ctrl_get(ctrl_get(obj, "metadata"), "deletionTimestamp"))
        return;
    on_hpa(ud, obj);
}

static void on_hpa_synced(void *ud)
{
    controller_manager_t *m = ud;
    if (m->hpa)
        m->hpa->synced = true;
    ctrl_kick(m);
}

int ctrl_hpa_start(controller_manager_t *m, util_error_t *err)
{
    static const client_informer_handlers_t hh = {.on_add = on_hpa,
                                                  .on_update = on_hpa_update,
                                                  .on_delete = on_hpa,
                                                  .on_synced = on_hpa_synced};
    struct ctrl_hpa *h = util_xcalloc(1, sizeof(*h));
    h->q = controller_queue_new();
    m->hpa = h;
    client_informer_opts_t io = {.resource = &CONTROLLER_RES_HPA,
                                 .transform = client_strip_managed_fields};
    return client_informer_start(m->client, &io, &hh, m, &h->inf, err);
}

void ctrl_hpa_stop(controller_manager_t *m)
{
    struct ctrl_hpa *h = m->hpa;
    if (!h)
        return;
    m->hpa = NULL; /* syncs still in flight are cancelled by the manager (their free_ud) */
    if (h->inf)
        client_informer_stop(h->inf);
    controller_queue_free(h->q);
    while (h->states) {
        hpa_state_t *s = h->states;
        h->states = s->next;
        if (s->busy) { /* its sync frees it */
            s->orphan = true;
            continue;
        }
        free(s->key);
        free(s);
    }
    free(h);
}

int64_t ctrl_hpa_next(controller_manager_t *m, uint64_t now)
{
    if (!m->hpa || !m->hpa->synced)
        return -1;
    return controller_queue_next(m->hpa->q, now);
}

bool ctrl_hpa_run_one(controller_manager_t *m, uint64_t now)
{
    struct ctrl_hpa *h = m->hpa;
    if (!h || !h->synced)
        return false;
    char *key = controller_queue_pop(h->q, now);
    if (!key)
        return false;
    hpa_sync(m, key);
    controller_queue_done(h->q, key, ctrl_now(m));
    free(key);
    return true;
}
