/* scheduler_snapshot: nodes with the pods bound to them and their summed requests. */
#include "scheduler/scheduler_internal.h"
#include "quantity/quantity.h"
#include "labels/labels.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON helpers -------------------------------------------------------------------------- */

const cJSON *sched_get(const cJSON *obj, const char *path)
{
    char part[128];
    while (obj && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        if (len >= sizeof(part))
            return NULL;
        memcpy(part, path, len);
        part[len] = '\0';
        obj = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, part) : NULL;
        path += len + (dot ? 1 : 0);
    }
    return obj;
}

const char *sched_str(const cJSON *obj, const char *path)
{
    const cJSON *v = sched_get(obj, path);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *sched_label(const cJSON *labels, const char *key)
{
    const cJSON *v = cJSON_IsObject(labels) ? cJSON_GetObjectItemCaseSensitive(labels, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- requests (upstream k8s.io/component-helpers/resource PodRequests) -------------------- */

/* A quantity from a JSON string (or number); negative and garbage count as 0. */
static int64_t json_quantity(const cJSON *v, int scale)
{
    int64_t r = 0;
    if (cJSON_IsString(v))
        r = quantity_parse_value(v->valuestring, scale, 0);
    else if (cJSON_IsNumber(v) && v->valuedouble > 0)
        r = v->valuedouble >= 9e18 / 1000 ? INT64_MAX
                                          : (int64_t)(v->valuedouble * (scale == 3 ? 1000 : 1));
    return r < 0 ? 0 : r;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static void res_add(scheduler_resources_t *a, const scheduler_resources_t *b)
{
    a->milli_cpu = sat_add(a->milli_cpu, b->milli_cpu);
    a->memory = sat_add(a->memory, b->memory);
    a->ephemeral_storage = sat_add(a->ephemeral_storage, b->ephemeral_storage);
}

static void res_max(scheduler_resources_t *a, const scheduler_resources_t *b)
{
    if (b->milli_cpu > a->milli_cpu)
        a->milli_cpu = b->milli_cpu;
    if (b->memory > a->memory)
        a->memory = b->memory;
    if (b->ephemeral_storage > a->ephemeral_storage)
        a->ephemeral_storage = b->ephemeral_storage;
}

/* One resource of a container: requests[name], else limits[name]; has says whether set. */
static int64_t container_resource(const cJSON *c, const char *name, int scale, bool *has)
{
    const cJSON *req = sched_get(c, "resources.requests");
    const cJSON *v = cJSON_IsObject(req) ? cJSON_GetObjectItemCaseSensitive(req, name) : NULL;
    if (!v) {
        const cJSON *lim = sched_get(c, "resources.limits");
        v = cJSON_IsObject(lim) ? cJSON_GetObjectItemCaseSensitive(lim, name) : NULL;
    }
    *has = v != NULL;
    return v ? json_quantity(v, scale) : 0;
}

static void container_requests(const cJSON *c, bool nonzero, scheduler_resources_t *r)
{
    bool has;
    memset(r, 0, sizeof(*r));
    r->milli_cpu = container_resource(c, "cpu", 3, &has);
    if (nonzero && !has)
        r->milli_cpu = 100; /* upstream DefaultMilliCPURequest */
    r->memory = container_resource(c, "memory", 0, &has);
    if (nonzero && !has)
        r->memory = 200 * 1024 * 1024; /* upstream DefaultMemoryRequest */
    r->ephemeral_storage = container_resource(c, "ephemeral-storage", 0, &has);
}

void scheduler_pod_requests(const cJSON *pod, bool nonzero, scheduler_resources_t *ret)
{
    scheduler_resources_t sum = {0}, init_max = {0}, sidecars = {0}, c;
    const cJSON *it;
    cJSON_ArrayForEach(it, sched_get(pod, "spec.containers"))
    {
        container_requests(it, nonzero, &c);
        res_add(&sum, &c);
    }
    /* Init containers run one at a time before the app containers, except restartable
     * ("sidecar") ones, which keep running and add to everything after them. */
    cJSON_ArrayForEach(it, sched_get(pod, "spec.initContainers"))
    {
        container_requests(it, nonzero, &c);
        const char *policy = sched_str(it, "restartPolicy");
        if (policy && strcmp(policy, "Always") == 0) {
            res_add(&sum, &c);
            res_add(&sidecars, &c);
            c = sidecars;
        } else {
            res_add(&c, &sidecars);
        }
        res_max(&init_max, &c);
    }
    res_max(&sum, &init_max);
    const cJSON *overhead = sched_get(pod, "spec.overhead");
    if (cJSON_IsObject(overhead)) {
        scheduler_resources_t o = {
            .milli_cpu = json_quantity(cJSON_GetObjectItemCaseSensitive(overhead, "cpu"), 3),
            .memory = json_quantity(cJSON_GetObjectItemCaseSensitive(overhead, "memory"), 0),
            .ephemeral_storage =
                json_quantity(cJSON_GetObjectItemCaseSensitive(overhead, "ephemeral-storage"), 0),
        };
        res_add(&sum, &o);
    }
    sum.pods = 1;
    *ret = sum;
}

void scheduler_node_allocatable(const cJSON *node, scheduler_resources_t *ret)
{
    const cJSON *a = sched_get(node, "status.allocatable");
    memset(ret, 0, sizeof(*ret));
    if (!cJSON_IsObject(a))
        return;
    ret->milli_cpu = json_quantity(cJSON_GetObjectItemCaseSensitive(a, "cpu"), 3);
    ret->memory = json_quantity(cJSON_GetObjectItemCaseSensitive(a, "memory"), 0);
    ret->ephemeral_storage =
        json_quantity(cJSON_GetObjectItemCaseSensitive(a, "ephemeral-storage"), 0);
    ret->pods = json_quantity(cJSON_GetObjectItemCaseSensitive(a, "pods"), 0);
}

/* ---- records --------------------------------------------------------------------------------- */

static void pod_free(sched_pod_t *p)
{
    if (!p)
        return;
    free(p->ns);
    free(p->name);
    free(p->node);
    cJSON_Delete(p->obj);
    for (size_t i = 0; i < p->nanti_sel; i++)
        labels_selector_free(p->anti_sel[i]);
    free(p->anti_sel);
    free(p);
}

static void node_free(sched_node_t *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->npods; i++)
        pod_free(n->pods[i]);
    free(n->pods);
    free(n->name);
    cJSON_Delete(n->obj);
    cJSON_Delete(n->taints);
    free(n);
}

scheduler_snapshot_t *scheduler_snapshot_new(void)
{
    scheduler_snapshot_t *s = util_xcalloc(1, sizeof(*s));
    s->objects = cJSON_CreateArray();
    return s;
}

scheduler_snapshot_t *scheduler_snapshot_free(scheduler_snapshot_t *s)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < s->nnodes; i++)
        node_free(s->nodes[i]);
    for (size_t i = 0; i < s->norphans; i++)
        pod_free(s->orphans[i]);
    for (size_t i = 0; i < s->nnominated; i++)
        pod_free(s->nominated[i]);
    free(s->nominated);
    free(s->nodes);
    free(s->orphans);
    free(s->index);
    cJSON_Delete(s->objects);
    free(s);
    return NULL;
}

/* ---- the pod index -----------------------------------------------------------------------------
 */

static sched_pod_t index_tomb; /* a removed entry: lookups go on past it */
#define TOMB (&index_tomb)

size_t sched_key_hash(const char *ns, const char *name)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *p = ns; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ '/') * 1099511628211ull;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (size_t)h;
}

/* The slot holding ns/name, or NULL. */
static sched_pod_t **index_find(const scheduler_snapshot_t *s, const char *ns, const char *name)
{
    if (!s->index_cap)
        return NULL;
    size_t mask = s->index_cap - 1;
    for (size_t i = sched_key_hash(ns, name) & mask;; i = (i + 1) & mask) {
        sched_pod_t *p = s->index[i];
        if (!p)
            return NULL;
        if (p != TOMB && strcmp(p->name, name) == 0 && strcmp(p->ns, ns) == 0)
            return &s->index[i];
    }
}

static void index_put(sched_pod_t **slots, size_t cap, sched_pod_t *p)
{
    size_t mask = cap - 1, i = sched_key_hash(p->ns, p->name) & mask;
    while (slots[i] && slots[i] != TOMB)
        i = (i + 1) & mask;
    slots[i] = p;
}

/* Adds p (not indexed yet); the table stays at most half full, tombstones included. */
static void index_add(scheduler_snapshot_t *s, sched_pod_t *p)
{
    if ((s->index_used + 1) * 2 > s->index_cap) {
        size_t live = 0;
        for (size_t i = 0; i < s->index_cap; i++)
            live += s->index[i] && s->index[i] != TOMB;
        size_t cap = 64;
        while ((live + 1) * 4 > cap)
            cap *= 2;
        sched_pod_t **slots = util_xcalloc(cap, sizeof(*slots));
        for (size_t i = 0; i < s->index_cap; i++)
            if (s->index[i] && s->index[i] != TOMB)
                index_put(slots, cap, s->index[i]);
        free(s->index);
        s->index = slots;
        s->index_cap = cap;
        s->index_used = live;
    }
    size_t mask = s->index_cap - 1, i = sched_key_hash(p->ns, p->name) & mask;
    while (s->index[i] && s->index[i] != TOMB)
        i = (i + 1) & mask;
    if (!s->index[i])
        s->index_used++;
    s->index[i] = p;
}

sched_node_t *sched_find_node(const scheduler_snapshot_t *s, const char *name)
{
    for (size_t i = 0; name && i < s->nnodes; i++)
        if (strcmp(s->nodes[i]->name, name) == 0)
            return s->nodes[i];
    return NULL;
}

size_t scheduler_snapshot_node_count(const scheduler_snapshot_t *s)
{
    return s->nnodes;
}

bool scheduler_snapshot_node_requested(const scheduler_snapshot_t *s, const char *node,
                                       scheduler_resources_t *ret)
{
    const sched_node_t *n = sched_find_node(s, node);
    if (n)
        *ret = n->requested;
    return n != NULL;
}

void sched_node_attach(sched_node_t *n, sched_pod_t *p)
{
    if (n->npods == n->cap) {
        n->cap = n->cap ? n->cap * 2 : 8;
        n->pods = util_xrealloc(n->pods, n->cap * sizeof(*n->pods));
    }
    n->pods[n->npods++] = p;
    p->on = n;
    res_add(&n->requested, &p->req);
    res_add(&n->nonzero_requested, &p->nonzero);
    n->requested.pods++;
    n->nonzero_requested.pods++;
    n->nanti += p->has_anti;
    n->naffinity += p->has_affinity;
}

static void orphan_push(scheduler_snapshot_t *s, sched_pod_t *p)
{
    if (s->norphans == s->orphans_cap) {
        s->orphans_cap = s->orphans_cap ? s->orphans_cap * 2 : 8;
        s->orphans = util_xrealloc(s->orphans, s->orphans_cap * sizeof(*s->orphans));
    }
    s->orphans[s->norphans++] = p;
    p->on = NULL;
}

/* Recomputes a node's sums from its pods (after a removal). */
void sched_node_resum(sched_node_t *n)
{
    memset(&n->requested, 0, sizeof(n->requested));
    memset(&n->nonzero_requested, 0, sizeof(n->nonzero_requested));
    n->nanti = n->naffinity = 0;
    size_t np = n->npods;
    n->npods = 0;
    for (size_t i = 0; i < np; i++)
        sched_node_attach(n, n->pods[i]);
}

/* Upstream's kubelet registers nodes with node.kubernetes.io/not-ready:NoSchedule and the node
 * lifecycle controller keeps the not-ready/unreachable taints in step with the Ready
 * condition (TaintNodesByCondition). Until our node controller does that, infer the taint
 * here so a NotReady node is filtered with upstream's message. */
static cJSON *node_taints(const cJSON *node)
{
    const cJSON *spec_taints = sched_get(node, "spec.taints");
    cJSON *taints =
        cJSON_IsArray(spec_taints) ? cJSON_Duplicate(spec_taints, true) : cJSON_CreateArray();
    const char *ready = NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, sched_get(node, "status.conditions"))
    {
        const char *type = sched_str(c, "type");
        if (type && strcmp(type, "Ready") == 0)
            ready = sched_str(c, "status");
    }
    if (ready && strcmp(ready, "True") == 0)
        return taints;
    const char *key = ready && strcmp(ready, "Unknown") == 0 ? "node.kubernetes.io/unreachable"
                                                             : "node.kubernetes.io/not-ready";
    cJSON_ArrayForEach(c, taints)
    {
        const char *k = sched_str(c, "key");
        if (k && (strcmp(k, "node.kubernetes.io/not-ready") == 0 ||
                  strcmp(k, "node.kubernetes.io/unreachable") == 0))
            return taints;
    }
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "key", key);
    cJSON_AddStringToObject(t, "effect", "NoSchedule");
    cJSON_AddItemToArray(taints, t);
    return taints;
}

int scheduler_snapshot_set_node(scheduler_snapshot_t *s, const cJSON *node, util_error_t *err)
{
    const char *name = sched_str(node, "metadata.name");
    if (!name || !*name)
        return util_error_make(err, EINVAL, "node without metadata.name");
    sched_node_t *n = sched_find_node(s, name);
    if (!n) {
        n = util_xcalloc(1, sizeof(*n));
        n->name = util_xstrdup(name);
        if (s->nnodes == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 16;
            s->nodes = util_xrealloc(s->nodes, s->cap * sizeof(*s->nodes));
        }
        s->nodes[s->nnodes++] = n;
    }
    cJSON_Delete(n->obj);
    cJSON_Delete(n->taints);
    n->obj = cJSON_Duplicate(node, true);
    n->labels = sched_get(n->obj, "metadata.labels");
    n->taints = node_taints(n->obj);
    scheduler_node_allocatable(n->obj, &n->alloc);
    /* Pods that arrived before their node. */
    for (size_t i = 0; i < s->norphans;) {
        if (strcmp(s->orphans[i]->node, name) == 0) {
            sched_node_attach(n, s->orphans[i]);
            s->orphans[i] = s->orphans[--s->norphans];
        } else {
            i++;
        }
    }
    return 0;
}

void scheduler_snapshot_remove_node(scheduler_snapshot_t *s, const char *name)
{
    for (size_t i = 0; i < s->nnodes; i++) {
        sched_node_t *n = s->nodes[i];
        if (strcmp(n->name, name) != 0)
            continue;
        for (size_t j = 0; j < n->npods; j++)
            orphan_push(s, n->pods[j]);
        n->npods = 0;
        node_free(n);
        memmove(&s->nodes[i], &s->nodes[i + 1], (s->nnodes - i - 1) * sizeof(*s->nodes));
        s->nnodes--;
        return;
    }
}

const sched_pod_t *sched_find_pod(const scheduler_snapshot_t *s, const char *ns, const char *name)
{
    sched_pod_t **slot = index_find(s, ns, name);
    return slot ? *slot : NULL;
}

/* Removes the pod ns/name wherever it is; true if found. */
static bool pod_remove(scheduler_snapshot_t *s, const char *ns, const char *name)
{
    sched_pod_t **slot = index_find(s, ns, name);
    if (!slot)
        return false;
    sched_pod_t *p = *slot;
    *slot = TOMB;
    sched_node_t *n = p->on;
    if (n) {
        for (size_t j = 0; j < n->npods; j++) {
            if (n->pods[j] == p) {
                n->pods[j] = n->pods[--n->npods];
                sched_node_resum(n);
                break;
            }
        }
    } else {
        for (size_t i = 0; i < s->norphans; i++) {
            if (s->orphans[i] == p) {
                s->orphans[i] = s->orphans[--s->norphans];
                break;
            }
        }
    }
    pod_free(p);
    return true;
}

void scheduler_snapshot_remove_pod(scheduler_snapshot_t *s, const char *ns, const char *name)
{
    pod_remove(s, ns, name);
}

/* A pod record for node_name (the pod is copied; its anti-affinity parsed once). */
static sched_pod_t *pod_record(const cJSON *pod, const char *ns, const char *name,
                               const char *node_name)
{
    sched_pod_t *p = util_xcalloc(1, sizeof(*p));
    p->ns = util_xstrdup(ns);
    p->name = util_xstrdup(name);
    p->node = util_xstrdup(node_name);
    p->obj = cJSON_Duplicate(pod, true);
    scheduler_pod_requests(pod, false, &p->req);
    scheduler_pod_requests(pod, true, &p->nonzero);
    p->anti_terms = sched_get(
        p->obj, "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution");
    p->has_anti = cJSON_GetArraySize(p->anti_terms) > 0;
    p->has_affinity = sched_get(p->obj, "spec.affinity") != NULL;
    if (p->has_anti) {
        /* Parsed once: every cycle checks existing pods' anti-affinity against the new pod. */
        const cJSON *t;
        p->anti_sel = util_xcalloc((size_t)cJSON_GetArraySize(p->anti_terms), sizeof(*p->anti_sel));
        cJSON_ArrayForEach(t, p->anti_terms)
        {
            const cJSON *sel = cJSON_GetObjectItemCaseSensitive(t, "labelSelector");
            util_error_t e = NULL;
            labels_selector_t *ls = NULL;
            if (!cJSON_IsObject(sel) || labels_selector_from_json(sel, &ls, &e) < 0)
                util_error_free(&e);
            p->anti_sel[p->nanti_sel++] = ls;
        }
    }
    return p;
}

static int pod_place(scheduler_snapshot_t *s, const cJSON *pod, const char *node_name, bool assumed,
                     util_error_t *err)
{
    const char *name = sched_str(pod, "metadata.name");
    const char *ns = sched_str(pod, "metadata.namespace");
    if (!name || !node_name || !*node_name)
        return util_error_make(err, EINVAL, "pod without metadata.name or node");
    if (!ns)
        ns = "default";
    pod_remove(s, ns, name);
    scheduler_snapshot_remove_nominated(s, ns, name);
    sched_pod_t *p = pod_record(pod, ns, name, node_name);
    p->assumed = assumed;
    index_add(s, p);
    sched_node_t *n = sched_find_node(s, node_name);
    if (n)
        sched_node_attach(n, p);
    else
        orphan_push(s, p);
    return 0;
}

int scheduler_snapshot_assume(scheduler_snapshot_t *s, const cJSON *pod, const char *node_name,
                              util_error_t *err)
{
    return pod_place(s, pod, node_name, true, err);
}

bool scheduler_snapshot_is_assumed(const scheduler_snapshot_t *s, const char *ns, const char *name)
{
    const sched_pod_t *p = sched_find_pod(s, ns ? ns : "default", name);
    return p && p->assumed;
}

bool scheduler_snapshot_forget(scheduler_snapshot_t *s, const cJSON *pod, const char *node_name)
{
    const char *name = sched_str(pod, "metadata.name");
    const char *ns = sched_str(pod, "metadata.namespace");
    if (!name || !node_name)
        return false;
    ns = ns ? ns : "default";
    const sched_pod_t *p = sched_find_pod(s, ns, name);
    const char *uid = sched_str(pod, "metadata.uid"),
               *puid = p ? sched_str(p->obj, "metadata.uid") : NULL;
    if (!p || !p->assumed || strcmp(p->node, node_name) != 0 ||
        ((uid || puid) && (!uid || !puid || strcmp(uid, puid) != 0)))
        return false;
    pod_remove(s, ns, name);
    /* assuming took the pod's nomination away; it waits for its node again */
    scheduler_snapshot_set_nominated(s, pod);
    return true;
}

void scheduler_snapshot_remove_nominated(scheduler_snapshot_t *s, const char *ns, const char *name)
{
    for (size_t i = 0; i < s->nnominated; i++) {
        sched_pod_t *p = s->nominated[i];
        if (strcmp(p->ns, ns ? ns : "default") == 0 && strcmp(p->name, name) == 0) {
            pod_free(p);
            s->nominated[i] = s->nominated[--s->nnominated];
            return;
        }
    }
}

void scheduler_snapshot_set_nominated(scheduler_snapshot_t *s, const cJSON *pod)
{
    const char *name = sched_str(pod, "metadata.name");
    const char *ns = sched_str(pod, "metadata.namespace");
    if (!name)
        return;
    ns = ns ? ns : "default";
    scheduler_snapshot_remove_nominated(s, ns, name);
    const char *node = sched_str(pod, "spec.nodeName");
    const char *nom = sched_str(pod, "status.nominatedNodeName");
    if ((node && *node) || !nom || !*nom || sched_get(pod, "metadata.deletionTimestamp"))
        return;
    if (s->nnominated == s->nominated_cap) {
        s->nominated_cap = s->nominated_cap ? s->nominated_cap * 2 : 8;
        s->nominated = util_xrealloc(s->nominated, s->nominated_cap * sizeof(*s->nominated));
    }
    s->nominated[s->nnominated++] = pod_record(pod, ns, name, nom);
}

int scheduler_snapshot_set_pod(scheduler_snapshot_t *s, const cJSON *pod, util_error_t *err)
{
    const char *name = sched_str(pod, "metadata.name");
    const char *ns = sched_str(pod, "metadata.namespace");
    if (!name || !*name)
        return util_error_make(err, EINVAL, "pod without metadata.name");
    const char *node = sched_str(pod, "spec.nodeName");
    const char *phase = sched_str(pod, "status.phase");
    bool finished = phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
    if (!node || !*node || finished) {
        pod_remove(s, ns ? ns : "default", name);
        return 0;
    }
    return pod_place(s, pod, node, false, err);
}

/* ---- other objects --------------------------------------------------------------------------- */

static bool object_is(const cJSON *o, const char *kind, const char *ns, const char *name)
{
    const char *k = sched_str(o, "kind"), *n = sched_str(o, "metadata.name");
    const char *x = sched_str(o, "metadata.namespace");
    return k && n && strcmp(k, kind) == 0 && strcmp(n, name) == 0 &&
           strcmp(x ? x : "", ns ? ns : "") == 0;
}

const cJSON *sched_find_object(const scheduler_snapshot_t *s, const char *kind, const char *ns,
                               const char *name)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, s->objects)
    {
        if (object_is(o, kind, ns, name))
            return o;
    }
    return NULL;
}

void scheduler_snapshot_remove_object(scheduler_snapshot_t *s, const char *kind, const char *ns,
                                      const char *name)
{
    int i = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, s->objects)
    {
        if (object_is(o, kind, ns, name)) {
            cJSON_DeleteItemFromArray(s->objects, i);
            return;
        }
        i++;
    }
}

int scheduler_snapshot_set_object(scheduler_snapshot_t *s, const cJSON *obj, util_error_t *err)
{
    static const char *const kinds[] = {"Service", "PersistentVolumeClaim", "PersistentVolume",
                                        "PriorityClass", "PodDisruptionBudget"};
    const char *kind = sched_str(obj, "kind"), *name = sched_str(obj, "metadata.name");
    bool known = false;
    for (size_t i = 0; kind && i < UTIL_ARRAY_SIZE(kinds); i++)
        known |= strcmp(kind, kinds[i]) == 0;
    if (!known || !name)
        return util_error_make(err, EINVAL, "unsupported object for the scheduler: %s",
                               kind ? kind : "(no kind)");
    scheduler_snapshot_remove_object(s, kind, sched_str(obj, "metadata.namespace"), name);
    cJSON_AddItemToArray(s->objects, cJSON_Duplicate(obj, true));
    return 0;
}
