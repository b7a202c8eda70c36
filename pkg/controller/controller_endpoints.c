/* controller_endpoints: upstream's endpoints and endpointslice controllers as one running piece:
 * informers on services, endpoints and endpointslices (pods come from the manager), one queue of
 * service keys; a sync writes the Service's Endpoints and its EndpointSlices from the pods its
 * selector matches (controller_endpoints_calc.c). Services without a selector are left alone.
 * A write's answer is remembered until the informer shows it, so a sync never works from a
 * cache older than its own writes. */
#include "controller/controller_internal.h"

#include <stdlib.h>
#include <string.h>

#define MANAGED_BY        "endpointslice-controller.k8s.io"
#define LABEL_SERVICE     "kubernetes.io/service-name"
#define LABEL_MANAGED_BY  "endpointslice.kubernetes.io/managed-by"
#define LABEL_HEADLESS    "service.kubernetes.io/headless"
#define ANN_TRIGGER       "endpoints.kubernetes.io/last-change-trigger-time"
#define ANN_OVER_CAPACITY "endpoints.kubernetes.io/over-capacity"
#define ANN_LEADER        "control-plane.alpha.kubernetes.io/leader"
#define ANN_LAST_APPLIED  "kubectl.kubernetes.io/last-applied-configuration"
#define LABEL_SKIP_MIRROR "endpointslice.kubernetes.io/skip-mirror"
#define MIRRORED_BY       "endpointslicemirroring-controller.k8s.io"
#define TRACK_TTL_MS      10000 /* a write the informer never shows stops holding syncs */
#define STALE_RETRY_MS    50

static const client_resource_t RES_SERVICES = {"", "v1", "services", true};
static const client_resource_t RES_ENDPOINTS = {"", "v1", "endpoints", true};
static const client_resource_t RES_SLICES = {"discovery.k8s.io", "v1", "endpointslices", true};

enum { EP_INF_SVC, EP_INF_EPS, EP_INF_SLICES, EP_INF_COUNT };

typedef struct ep_inf_ctx {
    controller_manager_t *m;
    int kind;
} ep_inf_ctx_t;

struct ctrl_ep {
    client_informer_t *inf[EP_INF_COUNT];
    ep_inf_ctx_t ctx[EP_INF_COUNT];
    bool synced[EP_INF_COUNT];
    controller_queue_t *q; /* "ns/name" of services */
    cJSON *inflight;       /* service key -> writes not yet answered */
    cJSON *track;          /* "ep|slice ns/name" -> {rv or deleted, at} */
};

/* ---- the write tracker ---------------------------------------------------------------------- */

static int64_t rv_num(const cJSON *obj)
{
    const char *rv = ctrl_str(ctrl_get(obj, "metadata"), "resourceVersion");
    return rv ? strtoll(rv, NULL, 10) : -1;
}

static void track(struct ctrl_ep *ep, const char *tkey, int64_t rv, uint64_t now)
{
    cJSON_DeleteItemFromObjectCaseSensitive(ep->track, tkey);
    cJSON *t = cJSON_AddObjectToObject(ep->track, tkey);
    cJSON_AddNumberToObject(t, "rv", (double)rv); /* -1: deleted */
    cJSON_AddNumberToObject(t, "at", (double)now);
}

/* The cache shows our last write of tkey (obj is the cached object or NULL). */
static bool track_seen(struct ctrl_ep *ep, const char *tkey, const cJSON *obj, uint64_t now)
{
    const cJSON *t = ctrl_get(ep->track, tkey);
    if (!t)
        return true;
    int64_t want = ctrl_int(t, "rv", -1);
    bool seen = want < 0 ? obj == NULL : (obj && rv_num(obj) >= want);
    if (seen || now > (uint64_t)ctrl_int(t, "at", 0) + TRACK_TTL_MS) {
        cJSON_DeleteItemFromObjectCaseSensitive(ep->track, tkey);
        return true;
    }
    return false;
}

static int inflight(struct ctrl_ep *ep, const char *key)
{
    return (int)ctrl_int(ep->inflight, key, 0);
}

static void inflight_add(struct ctrl_ep *ep, const char *key, int d)
{
    int n = inflight(ep, key) + d;
    cJSON_DeleteItemFromObjectCaseSensitive(ep->inflight, key);
    if (n > 0)
        cJSON_AddNumberToObject(ep->inflight, key, n);
}

/* ---- writes ---------------------------------------------------------------------------------- */

typedef struct ep_write {
    char *svc_key; /* ns/name of the service */
    char *tkey;    /* what the tracker calls the object, NULL for creates of generated names */
    const char *what;
    bool del;
} ep_write_t;

static void write_free(void *ud)
{
    ep_write_t *w = ud;
    free(w->svc_key);
    free(w->tkey);
    free(w);
}

static void write_done(controller_manager_t *m, void *ud, client_result_t *res)
{
    ep_write_t *w = ud;
    struct ctrl_ep *ep = m->ep;
    if (!ep) { /* leadership ended meanwhile */
        write_free(w);
        return;
    }
    inflight_add(ep, w->svc_key, -1);
    uint64_t now = ctrl_now(m);
    bool ok = !res->error && res->status >= 200 && res->status < 300;
    if (ok || (w->del && res->status == 404)) {
        controller_queue_forget(ep->q, w->svc_key);
        char *tkey = w->tkey;
        if (!tkey && res->body) { /* a created slice: its generated name */
            const cJSON *meta = ctrl_get(res->body, "metadata");
            tkey = util_strdup_printf("slice %s/%s", ctrl_str(meta, "namespace"),
                                      ctrl_str(meta, "name"));
        }
        if (tkey)
            track(ep, tkey, w->del ? -1 : rv_num(res->body), now);
        if (tkey != w->tkey)
            free(tkey);
        controller_queue_add(ep->q, w->svc_key, now); /* look again once the cache shows it */
    } else {
        util_log_v(1, "endpoints: %s for %s: %d %s", w->what, w->svc_key, res->status,
                   res->st.message ? res->st.message : "");
        controller_queue_add_rate_limited(ep->q, w->svc_key, now);
    }
    write_free(w);
}

static void write_obj(controller_manager_t *m, const char *svc_key, const char *what,
                      const client_resource_t *r, const char *tkey, const char *ns,
                      const char *del_name, const cJSON *obj, bool create)
{
    ep_write_t *w = util_xcalloc(1, sizeof(*w));
    w->svc_key = util_xstrdup(svc_key);
    w->tkey = tkey ? util_xstrdup(tkey) : NULL;
    w->what = what;
    w->del = del_name != NULL;
    inflight_add(m->ep, svc_key, 1);
    ctrl_pending_t *p = ctrl_pending_new(m, write_done, w, write_free);
    client_req_t *q;
    if (del_name)
        q = client_delete(m->client, r, ns, del_name, ctrl_pending_cb, p);
    else if (create)
        q = client_create(m->client, r, ns, obj, ctrl_pending_cb, p);
    else
        q = client_update(m->client, r, NULL, obj, ctrl_pending_cb, p);
    ctrl_pending_sent(p, q);
}

/* ---- Endpoints ------------------------------------------------------------------------------- */

/* The labels an Endpoints or EndpointSlice gets: the Service's, plus the headless marker. */
static cJSON *labels_for(const cJSON *svc)
{
    const cJSON *l = ctrl_get(ctrl_get(svc, "metadata"), "labels");
    cJSON *out = cJSON_IsObject(l) ? cJSON_Duplicate(l, true) : cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(out, LABEL_HEADLESS);
    if (controller_service_headless(svc))
        cJSON_AddStringToObject(out, LABEL_HEADLESS, "");
    return out;
}

static bool same(const cJSON *a, const cJSON *b)
{
    if (!a || !b)
        return !a == !b;
    return cJSON_Compare(a, b, true);
}

static void set_item(cJSON *o, const char *k, cJSON *v)
{
    if (ctrl_get(o, k))
        cJSON_ReplaceItemInObjectCaseSensitive(o, k, v);
    else
        cJSON_AddItemToObject(o, k, v);
}

static cJSON *object_in(cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsObject(v)) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, k);
        v = cJSON_AddObjectToObject(o, k);
    }
    return v;
}

static void set_trigger(cJSON *meta, const cJSON *svc, const cJSON *const *pods, size_t n,
                        const cJSON *cur)
{
    const char *prev = ctrl_str(ctrl_get(ctrl_get(cur, "metadata"), "annotations"), ANN_TRIGGER);
    int64_t t = controller_endpoints_trigger_time(svc, pods, n, controller_parse_time(prev));
    cJSON *ann = object_in(meta, "annotations");
    cJSON_DeleteItemFromObjectCaseSensitive(ann, ANN_TRIGGER);
    if (t >= 0) {
        char ts[32];
        controller_format_time(t, ts);
        cJSON_AddStringToObject(ann, ANN_TRIGGER, ts);
    }
}

static void sync_endpoints(controller_manager_t *m, const char *key, const cJSON *svc,
                           const cJSON *const *pods, size_t n)
{
    const cJSON *smeta = ctrl_get(svc, "metadata");
    const char *ns = ctrl_str(smeta, "namespace"), *name = ctrl_str(smeta, "name");
    const cJSON *cur = client_informer_get(m->ep->inf[EP_INF_EPS], ns, name);
    bool truncated = false;
    cJSON *subsets = controller_endpoints_subsets(svc, pods, n, &truncated);
    cJSON *labels = labels_for(svc);
    const cJSON *cmeta = ctrl_get(cur, "metadata");
    const cJSON *cur_subsets = ctrl_get(cur, "subsets");
    bool cur_trunc = ctrl_str(ctrl_get(cmeta, "annotations"), ANN_OVER_CAPACITY) != NULL;
    bool empty_same = cJSON_GetArraySize(subsets) == 0 && cJSON_GetArraySize(cur_subsets) == 0;
    if (cur && (empty_same || same(subsets, cur_subsets)) &&
        same(labels, ctrl_get(cmeta, "labels")) && cur_trunc == truncated) {
        cJSON_Delete(subsets);
        cJSON_Delete(labels);
        return;
    }
    cJSON *obj;
    if (cur) {
        obj = cJSON_Duplicate(cur, true);
    } else {
        obj = cJSON_CreateObject();
        cJSON_AddStringToObject(obj, "apiVersion", "v1");
        cJSON_AddStringToObject(obj, "kind", "Endpoints");
        cJSON *meta = cJSON_AddObjectToObject(obj, "metadata");
        cJSON_AddStringToObject(meta, "name", name);
        cJSON_AddStringToObject(meta, "namespace", ns);
    }
    cJSON *meta = object_in(obj, "metadata");
    set_item(meta, "labels", labels);
    set_trigger(meta, svc, pods, n, cur);
    cJSON *ann = object_in(meta, "annotations");
    cJSON_DeleteItemFromObjectCaseSensitive(ann, ANN_OVER_CAPACITY);
    if (truncated)
        cJSON_AddStringToObject(ann, ANN_OVER_CAPACITY, "truncated");
    if (cJSON_GetArraySize(subsets) > 0) {
        set_item(obj, "subsets", subsets);
    } else { /* upstream writes none (omitempty) */
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "subsets");
        cJSON_Delete(subsets);
    }
    char *tkey = util_strdup_printf("ep %s/%s", ns, name);
    write_obj(m, key, cur ? "update endpoints" : "create endpoints", &RES_ENDPOINTS, tkey, ns, NULL,
              obj, !cur);
    free(tkey);
    cJSON_Delete(obj);
}

/* ---- EndpointSlices -------------------------------------------------------------------------- */

typedef struct slices_ctx {
    const char *ns, *name, *by;
    const cJSON **v;
    size_t n, cap;
} slices_ctx_t;

static void collect_slice(void *ud, const cJSON *s)
{
    slices_ctx_t *c = ud;
    const cJSON *meta = ctrl_get(s, "metadata");
    const cJSON *l = ctrl_get(meta, "labels");
    const char *ns = ctrl_str(meta, "namespace"), *svc = ctrl_str(l, LABEL_SERVICE);
    const char *by = ctrl_str(l, LABEL_MANAGED_BY);
    if (!ns || strcmp(ns, c->ns) || !svc || strcmp(svc, c->name) || !by || strcmp(by, c->by))
        return;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 8;
        c->v = util_xrealloc(c->v, c->cap * sizeof(*c->v));
    }
    c->v[c->n++] = s;
}

/* Where slices come from: a Service's pods, or (mirroring) a selectorless Service's Endpoints. */
typedef struct slice_src {
    const cJSON *owner;     /* the Service, or the mirrored Endpoints */
    const char *owner_kind; /* "Service" / "Endpoints" */
    const char *by;         /* endpointslice.kubernetes.io/managed-by */
    cJSON *labels;          /* what every slice carries (owned) */
    cJSON *annotations;     /* mirrored annotations (owned), or NULL: the trigger time */
    const cJSON *const *pods;
    size_t npods;
} slice_src_t;

static cJSON *slice_labels(const cJSON *base, const char *service, const char *by)
{
    cJSON *l = cJSON_IsObject(base) ? cJSON_Duplicate(base, true) : cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(l, LABEL_SERVICE);
    cJSON_DeleteItemFromObjectCaseSensitive(l, LABEL_MANAGED_BY);
    cJSON_AddStringToObject(l, LABEL_SERVICE, service);
    cJSON_AddStringToObject(l, LABEL_MANAGED_BY, by);
    return l;
}

static cJSON *new_slice(const slice_src_t *src)
{
    const cJSON *ometa = ctrl_get(src->owner, "metadata");
    const char *name = ctrl_str(ometa, "name");
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "apiVersion", "discovery.k8s.io/v1");
    cJSON_AddStringToObject(obj, "kind", "EndpointSlice");
    cJSON *meta = cJSON_AddObjectToObject(obj, "metadata");
    char gen[80];
    snprintf(gen, sizeof(gen), "%.57s-", name); /* upstream leaves room for the suffix */
    cJSON_AddStringToObject(meta, "generateName", gen);
    cJSON_AddStringToObject(meta, "namespace", ctrl_str(ometa, "namespace"));
    cJSON *ref = cJSON_CreateObject();
    cJSON_AddStringToObject(ref, "apiVersion", "v1");
    cJSON_AddStringToObject(ref, "kind", src->owner_kind);
    cJSON_AddStringToObject(ref, "name", name);
    if (ctrl_str(ometa, "uid"))
        cJSON_AddStringToObject(ref, "uid", ctrl_str(ometa, "uid"));
    cJSON_AddBoolToObject(ref, "controller", true);
    cJSON_AddBoolToObject(ref, "blockOwnerDeletion", true);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(meta, "ownerReferences"), ref);
    cJSON_AddStringToObject(obj, "addressType", "IPv4");
    return obj;
}

static bool same_or_empty(const cJSON *a, const cJSON *b)
{
    return same(a, b) || (cJSON_GetArraySize(a) == 0 && cJSON_GetArraySize(b) == 0);
}

static void apply_item(controller_manager_t *m, const char *key, const slice_src_t *src,
                       const cJSON *it, const cJSON *cur)
{
    const char *op = ctrl_str(it, "op");
    const char *ns = ctrl_str(ctrl_get(src->owner, "metadata"), "namespace");
    const char *name = ctrl_str(it, "name");
    char *tkey = name ? util_strdup_printf("slice %s/%s", ns, name) : NULL;
    if (!strcmp(op, "delete")) {
        write_obj(m, key, "delete endpointslice", &RES_SLICES, tkey, ns, name, NULL, false);
        free(tkey);
        return;
    }
    const cJSON *ports = ctrl_get(it, "ports");
    const cJSON *eps = ctrl_get(it, "endpoints");
    const cJSON *cmeta = ctrl_get(cur, "metadata");
    bool ann_same =
        !src->annotations || same_or_empty(src->annotations, ctrl_get(cmeta, "annotations"));
    if (cur && same_or_empty(ports, ctrl_get(cur, "ports")) &&
        same_or_empty(eps, ctrl_get(cur, "endpoints")) &&
        same(src->labels, ctrl_get(cmeta, "labels")) && ann_same) {
        free(tkey);
        return;
    }
    cJSON *obj = cur ? cJSON_Duplicate(cur, true) : new_slice(src);
    cJSON *meta = object_in(obj, "metadata");
    set_item(meta, "labels", cJSON_Duplicate(src->labels, true));
    if (src->annotations)
        set_item(meta, "annotations", cJSON_Duplicate(src->annotations, true));
    else
        set_trigger(meta, src->owner, src->pods, src->npods, cur);
    set_item(obj, "ports", ports ? cJSON_Duplicate(ports, true) : cJSON_CreateArray());
    set_item(obj, "endpoints", eps ? cJSON_Duplicate(eps, true) : cJSON_CreateArray());
    write_obj(m, key, cur ? "update endpointslice" : "create endpointslice", &RES_SLICES, tkey, ns,
              NULL, obj, !cur);
    cJSON_Delete(obj);
    free(tkey);
}

/* Brings have (the source's slices) to groups; no groups and no placeholder: all deleted. */
static void sync_slices(controller_manager_t *m, const char *key, const slice_src_t *src,
                        const cJSON *groups, bool placeholder, slices_ctx_t *have)
{
    cJSON *plan = controller_slice_plan(groups, have->v, have->n);
    const cJSON *it;
    cJSON_ArrayForEach(it, plan)
    {
        const cJSON *idx = ctrl_get(it, "index");
        const cJSON *cur = idx ? have->v[(size_t)idx->valuedouble] : NULL;
        if (!placeholder && !cJSON_GetArraySize(groups)) {
            if (cur) {
                cJSON *del = cJSON_Duplicate(it, true);
                cJSON_ReplaceItemInObjectCaseSensitive(del, "op", cJSON_CreateString("delete"));
                apply_item(m, key, src, del, cur);
                cJSON_Delete(del);
            }
            continue;
        }
        apply_item(m, key, src, it, cur);
    }
    cJSON_Delete(plan);
}

/* Deletes the slices of have. */
static void delete_slices(controller_manager_t *m, const char *key, const char *ns,
                          slices_ctx_t *have)
{
    for (size_t i = 0; i < have->n; i++) {
        const char *sn = ctrl_str(ctrl_get(have->v[i], "metadata"), "name");
        char *tkey = util_strdup_printf("slice %s/%s", ns, sn);
        write_obj(m, key, "delete endpointslice", &RES_SLICES, tkey, ns, sn, NULL, false);
        free(tkey);
    }
}

/* upstream's endpointslice mirroring controller: a selectorless Service's Endpoints (unless
 * labelled endpointslice.kubernetes.io/skip-mirror=true or a leader-election record) are
 * copied into slices managed by endpointslicemirroring-controller.k8s.io. */
static void sync_mirror(controller_manager_t *m, const char *key, const cJSON *svc,
                        slices_ctx_t *mirrored)
{
    const cJSON *smeta = ctrl_get(svc, "metadata");
    const char *ns = ctrl_str(smeta, "namespace"), *name = ctrl_str(smeta, "name");
    const cJSON *eps = client_informer_get(m->ep->inf[EP_INF_EPS], ns, name);
    const cJSON *emeta = ctrl_get(eps, "metadata");
    const char *skip = ctrl_str(ctrl_get(emeta, "labels"), LABEL_SKIP_MIRROR);
    const cJSON *ann = ctrl_get(emeta, "annotations");
    if (!eps || (skip && !strcmp(skip, "true")) || ctrl_get(ann, ANN_LEADER)) {
        delete_slices(m, key, ns, mirrored);
        return;
    }
    cJSON *annotations = cJSON_IsObject(ann) ? cJSON_Duplicate(ann, true) : cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(annotations, ANN_TRIGGER);
    cJSON_DeleteItemFromObjectCaseSensitive(annotations, ANN_LAST_APPLIED);
    slice_src_t src = {eps,
                       "Endpoints",
                       MIRRORED_BY,
                       slice_labels(ctrl_get(emeta, "labels"), name, MIRRORED_BY),
                       annotations,
                       NULL,
                       0};
    cJSON *groups = controller_mirror_groups(eps);
    sync_slices(m, key, &src, groups, false, mirrored);
    cJSON_Delete(groups);
    cJSON_Delete(src.labels);
    cJSON_Delete(src.annotations);
}

/* ---- sync ------------------------------------------------------------------------------------ */

typedef struct pods_ctx {
    const cJSON *selector;
    const char *ns;
    const cJSON **v;
    size_t n, cap;
} pods_ctx_t;

static void collect_pod(void *ud, const cJSON *pod)
{
    pods_ctx_t *c = ud;
    const char *ns = ctrl_str(ctrl_get(pod, "metadata"), "namespace");
    if (!ns || strcmp(ns, c->ns) || !controller_selector_map_matches(c->selector, pod))
        return;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->v = util_xrealloc(c->v, c->cap * sizeof(*c->v));
    }
    c->v[c->n++] = pod;
}

/* Deletes what the controller wrote for a Service that is gone. */
static void sync_gone(controller_manager_t *m, const char *key, const char *ns, const char *name,
                      slices_ctx_t *have, slices_ctx_t *mirrored)
{
    const cJSON *cur = client_informer_get(m->ep->inf[EP_INF_EPS], ns, name);
    char *tkey = util_strdup_printf("ep %s/%s", ns, name);
    if (cur)
        write_obj(m, key, "delete endpoints", &RES_ENDPOINTS, tkey, ns, name, NULL, false);
    free(tkey);
    delete_slices(m, key, ns, have);
    delete_slices(m, key, ns, mirrored);
}

/* The cache shows our writes of this Service's objects. */
static bool cache_fresh(struct ctrl_ep *ep, const char *ns, const char *name, slices_ctx_t *a,
                        slices_ctx_t *b, uint64_t now)
{
    char *tkey = util_strdup_printf("ep %s/%s", ns, name);
    bool fresh = track_seen(ep, tkey, client_informer_get(ep->inf[EP_INF_EPS], ns, name), now);
    free(tkey);
    slices_ctx_t *sets[] = {a, b};
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < sets[k]->n; i++) {
            tkey = util_strdup_printf("slice %s/%s", ns,
                                      ctrl_str(ctrl_get(sets[k]->v[i], "metadata"), "name"));
            fresh = track_seen(ep, tkey, sets[k]->v[i], now) && fresh;
            free(tkey);
        }
    }
    /* slices we created or deleted that the cache does not show yet */
    const cJSON *t;
    size_t plen = strlen(ns) + 7;
    char *prefix = util_strdup_printf("slice %s/", ns);
    cJSON_ArrayForEach(t, ep->track)
    {
        if (strncmp(t->string, prefix, plen) || now > (uint64_t)ctrl_int(t, "at", 0) + TRACK_TTL_MS)
            continue;
        bool cached = client_informer_get(ep->inf[EP_INF_SLICES], ns, t->string + plen) != NULL;
        if (cached != (ctrl_int(t, "rv", -1) >= 0))
            fresh = false;
    }
    free(prefix);
    return fresh;
}

/* 0 done, > 0 look again after that many ms. */
static int ep_sync(controller_manager_t *m, const char *key)
{
    struct ctrl_ep *ep = m->ep;
    if (inflight(ep, key) > 0)
        return 0; /* the answers queue the key again */
    const char *slash = strchr(key, '/');
    if (!slash)
        return 0;
    char *ns = util_xstrdup(key);
    ns[slash - key] = 0;
    const char *name = slash + 1;
    uint64_t now = ctrl_now(m);
    slices_ctx_t have = {ns, name, MANAGED_BY, NULL, 0, 0};
    slices_ctx_t mirrored = {ns, name, MIRRORED_BY, NULL, 0, 0};
    client_informer_foreach(ep->inf[EP_INF_SLICES], collect_slice, &have);
    client_informer_foreach(ep->inf[EP_INF_SLICES], collect_slice, &mirrored);
    int rc = 0;
    if (!cache_fresh(ep, ns, name, &have, &mirrored, now)) {
        rc = STALE_RETRY_MS;
        goto out;
    }
    const cJSON *svc = client_informer_get(ep->inf[EP_INF_SVC], ns, name);
    if (!svc) {
        sync_gone(m, key, ns, name, &have, &mirrored);
        goto out;
    }
    const cJSON *spec = ctrl_get(svc, "spec");
    const cJSON *selector = ctrl_get(spec, "selector");
    const char *type = ctrl_str(spec, "type");
    if (type && !strcmp(type, "ExternalName"))
        goto out;
    /* no selector: the user keeps the Endpoints, mirrored into slices */
    if (!cJSON_IsObject(selector) || !selector->child) {
        sync_mirror(m, key, svc, &mirrored);
        goto out;
    }
    delete_slices(m, key, ns, &mirrored);
    pods_ctx_t pc = {selector, ns, NULL, 0, 0};
    client_informer_foreach(m->inf[CTRL_INF_PODS], collect_pod, &pc);
    sync_endpoints(m, key, svc, pc.v, pc.n);
    cJSON *base = labels_for(svc);
    slice_src_t src = {svc,  "Service", MANAGED_BY, slice_labels(base, name, MANAGED_BY),
                       NULL, pc.v,      pc.n};
    cJSON_Delete(base);
    cJSON *zones = ctrl_nl_zones(m, pc.v, pc.n);
    cJSON *groups = controller_slice_groups(svc, pc.v, pc.n, zones);
    cJSON_Delete(zones);
    sync_slices(m, key, &src, groups, true, &have);
    cJSON_Delete(groups);
    cJSON_Delete(src.labels);
    free(pc.v);
out:
    free(have.v);
    free(mirrored.v);
    free(ns);
    return rc;
}

/* ---- informers ------------------------------------------------------------------------------- */

static void enqueue_key(controller_manager_t *m, const char *ns, const char *name)
{
    if (!m->ep || !ns || !name)
        return;
    char *key = util_strdup_printf("%s/%s", ns, name);
    controller_queue_add(m->ep->q, key, ctrl_now(m));
    free(key);
}

static void deliver(void *ud, const cJSON *old, const cJSON *obj, bool deleted)
{
    ep_inf_ctx_t *c = ud;
    (void)old;
    (void)deleted;
    controller_manager_t *m = c->m;
    const cJSON *meta = ctrl_get(obj, "metadata");
    const char *ns = ctrl_str(meta, "namespace");
    if (c->kind == EP_INF_SLICES) {
        const cJSON *l = ctrl_get(meta, "labels");
        const char *by = ctrl_str(l, LABEL_MANAGED_BY);
        if (by && (!strcmp(by, MANAGED_BY) || !strcmp(by, MIRRORED_BY)))
            enqueue_key(m, ns, ctrl_str(l, LABEL_SERVICE));
    } else if (c->kind == EP_INF_SVC || !m->ep ||
               client_informer_get(m->ep->inf[EP_INF_SVC], ns, ctrl_str(meta, "name"))) {
        /* Endpoints matter while their Service exists (upstream leaves others alone, except
         * for a check of leftovers at start, not done here) */
        enqueue_key(m, ns, ctrl_str(meta, "name"));
    }
    ctrl_kick(m);
}

static void on_synced(void *ud)
{
    ep_inf_ctx_t *c = ud;
    if (c->m->ep)
        c->m->ep->synced[c->kind] = true;
    ctrl_kick(c->m);
}

typedef struct pod_match {
    controller_manager_t *m;
    const cJSON *pod, *old;
    const char *ns;
} pod_match_t;

static void enqueue_if_selects(void *ud, const cJSON *svc)
{
    pod_match_t *c = ud;
    const cJSON *meta = ctrl_get(svc, "metadata");
    const char *ns = ctrl_str(meta, "namespace");
    if (!ns || strcmp(ns, c->ns))
        return;
    const cJSON *sel = ctrl_get(ctrl_get(svc, "spec"), "selector");
    if (controller_selector_map_matches(sel, c->pod) ||
        (c->old && controller_selector_map_matches(sel, c->old)))
        enqueue_key(c->m, ns, ctrl_str(meta, "name"));
}

void ctrl_ep_on_pod(controller_manager_t *m, const cJSON *old, const cJSON *pod, bool deleted)
{
    (void)deleted;
    if (!m->ep || !m->ep->synced[EP_INF_SVC])
        return; /* the first sync of every service follows the services' list */
    pod_match_t c = {m, pod, old, ctrl_str(ctrl_get(pod, "metadata"), "namespace")};
    if (c.ns)
        client_informer_foreach(m->ep->inf[EP_INF_SVC], enqueue_if_selects, &c);
}

/* ---- lifetime -------------------------------------------------------------------------------- */

int ctrl_ep_start(controller_manager_t *m, util_error_t *err)
{
    static const client_informer_handlers_t h = {.on_event = deliver, .on_synced = on_synced};
    static const client_resource_t *const res[EP_INF_COUNT] = {&RES_SERVICES, &RES_ENDPOINTS,
                                                               &RES_SLICES};
    struct ctrl_ep *ep = util_xcalloc(1, sizeof(*ep));
    ep->q = controller_queue_new();
    ep->inflight = cJSON_CreateObject();
    ep->track = cJSON_CreateObject();
    m->ep = ep;
    for (int i = 0; i < EP_INF_COUNT; i++) {
        ep->ctx[i] = (ep_inf_ctx_t){m, i};
        client_informer_opts_t io = {.resource = res[i], .transform = client_strip_managed_fields};
        if (client_informer_start(m->client, &io, &h, &ep->ctx[i], &ep->inf[i], err) < 0)
            return -1;
    }
    return 0;
}

void ctrl_ep_stop(controller_manager_t *m)
{
    struct ctrl_ep *ep = m->ep;
    if (!ep)
        return;
    for (int i = 0; i < EP_INF_COUNT; i++)
        if (ep->inf[i])
            client_informer_stop(ep->inf[i]);
    controller_queue_free(ep->q);
    cJSON_Delete(ep->inflight);
    cJSON_Delete(ep->track);
    free(ep);
    m->ep = NULL;
}

static bool ep_synced(const struct ctrl_ep *ep)
{
    for (int i = 0; i < EP_INF_COUNT; i++)
        if (!ep->synced[i])
            return false;
    return true;
}

int64_t ctrl_ep_next(controller_manager_t *m, uint64_t now)
{
    if (!m->ep || !ep_synced(m->ep))
        return -1;
    return controller_queue_next(m->ep->q, now);
}

bool ctrl_ep_run_one(controller_manager_t *m, uint64_t now)
{
    struct ctrl_ep *ep = m->ep;
    if (!ep || !ep_synced(ep))
        return false;
    char *key = controller_queue_pop(ep->q, now);
    if (!key)
        return false;
    int rc = ep_sync(m, key);
    now = ctrl_now(m);
    controller_queue_done(ep->q, key, now); /* failures are forgotten by successful writes */
    if (rc > 0)
        controller_queue_add_after(ep->q, key, (uint64_t)rc, now);
    free(key);
    return true;
}
