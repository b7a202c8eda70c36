/* controller_replicaset: upstream's ReplicaSetController. Keeps spec.replicas active pods that
 * match the selector: adopts matching orphans, releases owned pods that stop matching, creates
 * in slow-start batches (1, 2, 4, ...), deletes the least valuable pods first, and writes
 * status through the status subresource. */
#include "controller/controller_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "labels/labels.h"

#define BURST_REPLICAS 500 /* upstream's per-sync limit */

/* ReplicaSets and ReplicationControllers differ in little more than names and the selector. */
typedef struct rs_kind {
    const char *kind, *api_version, *component;
    const client_resource_t *res;
    int inf;
    bool map_selector; /* an RC's spec.selector is a plain label map */
} rs_kind_t;

static const rs_kind_t KIND_RS = {"ReplicaSet",       "apps/v1",   "replicaset-controller",
                                  &CONTROLLER_RES_RS, CTRL_INF_RS, false};
static const rs_kind_t KIND_RC = {"ReplicationController", "v1",        "replication-controller",
                                  &CONTROLLER_RES_RC,      CTRL_INF_RC, true};

static controller_queue_t *queue_of(controller_manager_t *m, const rs_kind_t *k)
{
    return k == &KIND_RC ? m->rcq : m->rsq;
}

static controller_expect_t *expect_of(controller_manager_t *m, const rs_kind_t *k)
{
    return k == &KIND_RC ? m->rc_expect : m->expect;
}

/* The selector of a ReplicaSet (LabelSelector) or RC (a map; absent: the template's labels). */
static int selector_of(const rs_kind_t *k, const cJSON *obj, labels_selector_t **ret,
                       util_error_t *err)
{
    const cJSON *spec = ctrl_get(obj, "spec");
    if (!k->map_selector)
        return labels_selector_from_json(ctrl_get(spec, "selector"), ret, err);
    const cJSON *map = ctrl_get(spec, "selector");
    if (!cJSON_IsObject(map) || !map->child)
        map = ctrl_get(ctrl_get(ctrl_get(spec, "template"), "metadata"), "labels");
    if (!cJSON_IsObject(map)) {
        *ret = NULL;
        return 0;
    }
    cJSON *wrap = cJSON_CreateObject();
    cJSON_AddItemToObject(wrap, "matchLabels", cJSON_Duplicate(map, true));
    int rc = labels_selector_from_json(wrap, ret, err);
    cJSON_Delete(wrap);
    return rc;
}

/* ---- pod events ------------------------------------------------------------------------------ */

typedef struct match_ctx {
    controller_manager_t *m;
    const rs_kind_t *k;
    const cJSON *pod;
    const char *ns;
} match_ctx_t;

static void enqueue_if_matches(void *ud, const cJSON *rs)
{
    match_ctx_t *c = ud;
    const cJSON *meta = ctrl_get(rs, "metadata");
    const char *ns = ctrl_str(meta, "namespace");
    if (!ns || strcmp(ns, c->ns))
        return;
    labels_selector_t *sel = NULL;
    if (selector_of(c->k, rs, &sel, NULL) < 0 || !sel)
        return;
    if (!labels_selector_empty(sel) && labels_selector_matches_object(sel, c->pod)) {
        char *key = ctrl_key(rs);
        if (key)
            controller_queue_add(queue_of(c->m, c->k), key, ctrl_now(c->m));
        free(key);
    }
    labels_selector_free(sel);
}

static char *owner_key(const cJSON *pod, const rs_kind_t **kret)
{
    const cJSON *ref = controller_owner_ref(pod);
    const char *kind = ctrl_str(ref, "kind"), *name = ctrl_str(ref, "name");
    const char *ns = ctrl_str(ctrl_get(pod, "metadata"), "namespace");
    if (!ref || !kind || !name || !ns)
        return NULL;
    if (!strcmp(kind, KIND_RS.kind))
        *kret = &KIND_RS;
    else if (!strcmp(kind, KIND_RC.kind))
        *kret = &KIND_RC;
    else
        return NULL;
    return util_strdup_printf("%s/%s", ns, name);
}

static bool deleting(const cJSON *obj)
{
    const cJSON *d = ctrl_get(ctrl_get(obj, "metadata"), "deletionTimestamp");
    return d && !cJSON_IsNull(d);
}

void ctrl_rs_on_pod(controller_manager_t *m, const cJSON *old, const cJSON *pod, bool deleted)
{
    uint64_t now = ctrl_now(m);
    const char *uid = ctrl_str(ctrl_get(pod, "metadata"), "uid");
    const rs_kind_t *k = NULL, *ok_kind = NULL;
    char *key = owner_key(pod, &k);
    if (key) {
        if (deleted || deleting(pod))
            controller_expect_deletion_observed(expect_of(m, k), key, uid);
        else if (!old)
            controller_expect_creation_observed(expect_of(m, k), key);
        controller_queue_add(queue_of(m, k), key, now);
    } else if (!deleted) {
        const char *ns = ctrl_str(ctrl_get(pod, "metadata"), "namespace");
        if (ns) {
            match_ctx_t c = {m, &KIND_RS, pod, ns};
            client_informer_foreach(m->inf[CTRL_INF_RS], enqueue_if_matches, &c);
            c.k = &KIND_RC;
            client_informer_foreach(m->inf[CTRL_INF_RC], enqueue_if_matches, &c);
        }
    }
    if (old) { /* the owner changed: the former one looks again */
        char *ok = owner_key(old, &ok_kind);
        if (ok && (!key || strcmp(ok, key) || ok_kind != k))
            controller_queue_add(queue_of(m, ok_kind), ok, now);
        free(ok);
    }
    free(key);
}

/* ---- writes ---------------------------------------------------------------------------------- */

/* A burst of creates in slow-start batches. Upstream's sync blocks in slowStartBatch until the
 * burst is over, so the pod events of the burst fold into one sync after it; here the creates
 * are asynchronous, and a ReplicaSet with a burst in flight is not synced (a sync could not
 * create or delete: its expectations are pending) until the burst's end queues it again,
 * instead of recounting its pods and writing its status after every few pod events. */
typedef struct ctrl_rs_batch {
    controller_manager_t *m;
    struct ctrl_rs_batch *next; /* m->rs_batches */
    const rs_kind_t *k;
    char *key; /* the ReplicaSet */
    cJSON *rs; /* a copy, for events */
    cJSON *pod;
    int remaining, outstanding, size;
    bool failed;
} batch_t;

static bool bursting(const controller_manager_t *m, const rs_kind_t *k, const char *key)
{
    for (const batch_t *b = m->rs_batches; b; b = b->next)
        if (b->k == k && !strcmp(b->key, key))
            return true;
    return false;
}

static void batch_free(void *p)
{
    batch_t *b = p;
    for (batch_t **pp = &b->m->rs_batches; *pp; pp = &(*pp)->next)
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    free(b->key);
    cJSON_Delete(b->rs);
    cJSON_Delete(b->pod);
    free(b);
}

static void create_done(controller_manager_t *m, void *ud, client_result_t *res);

/* The manager stopped with creates in flight: the last one frees the batch. */
static void batch_release(void *p)
{
    batch_t *b = p;
    if (--b->outstanding == 0)
        batch_free(b);
}

static void batch_issue(controller_manager_t *m, batch_t *b)
{
    int n = b->size < b->remaining ? b->size : b->remaining;
    b->remaining -= n;
    b->outstanding += n;
    const char *ns = ctrl_str(ctrl_get(b->rs, "metadata"), "namespace");
    for (int i = 0; i < n; i++) {
        ctrl_pending_t *p = ctrl_pending_new(m, create_done, b, batch_release);
        ctrl_pending_sent(
            p, client_create(m->client, &CLIENT_RES_PODS, ns, b->pod, ctrl_pending_cb, p));
    }
}

static void create_done(controller_manager_t *m, void *ud, client_result_t *res)
{
    batch_t *b = ud;
    b->outstanding--;
    if (res->error || res->status < 200 || res->status >= 300) {
        b->failed = true;
        controller_expect_creation_observed(expect_of(m, b->k), b->key);
        util_log_warn("replicaset %s: creating a pod: %d %s", b->key, res->status,
                      res->st.message ? res->st.message : "");
        ctrl_event(m, b->rs, b->k->kind, b->k->api_version, "Warning", "FailedCreate",
                   b->k->component, "Error creating: %s",
                   res->st.message ? res->st.message : "request failed");
    } else {
        ctrl_event(m, b->rs, b->k->kind, b->k->api_version, "Normal", "SuccessfulCreate",
                   b->k->component, "Created pod: %s",
                   ctrl_str(ctrl_get(res->body, "metadata"), "name")
                       ? ctrl_str(ctrl_get(res->body, "metadata"), "name")
                       : "?");
    }
    if (b->outstanding > 0)
        return;
    if (!b->failed && b->remaining > 0) {
        b->size *= 2;
        batch_issue(m, b);
        return;
    }
    for (; b->remaining > 0; b->remaining--) /* skipped: never observed */
        controller_expect_creation_observed(expect_of(m, b->k), b->key);
    if (b->failed)
        controller_queue_add_rate_limited(queue_of(m, b->k), b->key, ctrl_now(m));
    else
        controller_queue_add(queue_of(m, b->k), b->key, ctrl_now(m));
    batch_free(b);
}

typedef struct del_ctx {
    const rs_kind_t *k;
    char *key, *uid, *name;
    cJSON *rs;
} del_ctx_t;

static void del_free(void *p)
{
    del_ctx_t *d = p;
    free(d->key);
    free(d->uid);
    free(d->name);
    cJSON_Delete(d->rs);
    free(d);
}

static void delete_done(controller_manager_t *m, void *ud, client_result_t *res)
{
    del_ctx_t *d = ud;
    if (res->status == 404 || (!res->error && res->status >= 200 && res->status < 300)) {
        ctrl_event(m, d->rs, d->k->kind, d->k->api_version, "Normal", "SuccessfulDelete",
                   d->k->component, "Deleted pod: %s", d->name);
        if (res->status == 404)
            controller_expect_deletion_observed(expect_of(m, d->k), d->key, d->uid);
    } else {
        controller_expect_deletion_observed(expect_of(m, d->k), d->key, d->uid);
        ctrl_event(m, d->rs, d->k->kind, d->k->api_version, "Warning", "FailedDelete",
                   d->k->component, "Error deleting: %s",
                   res->st.message ? res->st.message : "request failed");
        controller_queue_add_rate_limited(queue_of(m, d->k), d->key, ctrl_now(m));
    }
    del_free(d);
}

/* The pod to create: the template's metadata and spec, owned by rs. */
static cJSON *pod_from_template(const rs_kind_t *k, const cJSON *rs)
{
    const cJSON *meta = ctrl_get(rs, "metadata");
    const cJSON *tmpl = ctrl_get(ctrl_get(rs, "spec"), "template");
    cJSON *pod = cJSON_CreateObject();
    cJSON_AddStringToObject(pod, "apiVersion", "v1");
    cJSON_AddStringToObject(pod, "kind", "Pod");
    cJSON *pm = cJSON_AddObjectToObject(pod, "metadata");
    char gen[300];
    snprintf(gen, sizeof(gen), "%.250s-", ctrl_str(meta, "name"));
    cJSON_AddStringToObject(pm, "generateName", gen);
    const cJSON *tm = ctrl_get(tmpl, "metadata");
    if (cJSON_IsObject(ctrl_get(tm, "labels")))
        cJSON_AddItemToObject(pm, "labels", cJSON_Duplicate(ctrl_get(tm, "labels"), true));
    if (cJSON_IsObject(ctrl_get(tm, "annotations")))
        cJSON_AddItemToObject(pm, "annotations",
                              cJSON_Duplicate(ctrl_get(tm, "annotations"), true));
    cJSON *refs = cJSON_AddArrayToObject(pm, "ownerReferences");
    cJSON *ref = cJSON_CreateObject();
    cJSON_AddStringToObject(ref, "apiVersion", k->api_version);
    cJSON_AddStringToObject(ref, "kind", k->kind);
    cJSON_AddStringToObject(ref, "name", ctrl_str(meta, "name"));
    cJSON_AddStringToObject(ref, "uid", ctrl_str(meta, "uid"));
    cJSON_AddBoolToObject(ref, "controller", true);
    cJSON_AddBoolToObject(ref, "blockOwnerDeletion", true);
    cJSON_AddItemToArray(refs, ref);
    cJSON *spec = cJSON_Duplicate(ctrl_get(tmpl, "spec"), true);
    cJSON_AddItemToObject(pod, "spec", spec ? spec : cJSON_CreateObject());
    return pod;
}

/* Adopt (add our controller reference) or release (drop it) a pod with a merge patch. */
static void set_owner(controller_manager_t *m, const rs_kind_t *k, const cJSON *rs,
                      const cJSON *pod, bool adopt)
{
    const cJSON *pmeta = ctrl_get(pod, "metadata");
    const char *uid = ctrl_str(ctrl_get(rs, "metadata"), "uid");
    cJSON *patch = cJSON_CreateObject();
    cJSON *pm = cJSON_AddObjectToObject(patch, "metadata");
    cJSON *refs = cJSON_AddArrayToObject(pm, "ownerReferences");
    const cJSON *r;
    cJSON_ArrayForEach(r, ctrl_get(pmeta, "ownerReferences"))
    {
        const char *ruid = ctrl_str(r, "uid");
        if (!adopt && ruid && uid && !strcmp(ruid, uid))
            continue;
        cJSON_AddItemToArray(refs, cJSON_Duplicate(r, true));
    }
    if (adopt) {
        cJSON *pod_tmp = pod_from_template(k, rs);
        cJSON *ref = cJSON_DetachItemFromArray(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pod_tmp, "metadata"),
                                             "ownerReferences"),
            0);
        cJSON_AddItemToArray(refs, ref);
        cJSON_Delete(pod_tmp);
    }
    if (cJSON_GetArraySize(refs) == 0) /* none left: the field goes, as upstream's patch does */
        cJSON_ReplaceItemInObjectCaseSensitive(pm, "ownerReferences", cJSON_CreateNull());
    cJSON_AddStringToObject(pm, "uid", ctrl_str(pmeta, "uid")); /* a precondition */
    ctrl_patch(m, &CLIENT_RES_PODS, ctrl_str(pmeta, "namespace"), ctrl_str(pmeta, "name"), NULL,
               patch);
    cJSON_Delete(patch);
}

/* ---- sync ------------------------------------------------------------------------------------ */

typedef struct collect {
    const rs_kind_t *k;
    const cJSON *rs;
    const char *ns, *uid;
    labels_selector_t *sel;
    ctrl_pod_facts_t *owned;
    size_t n, cap;
    controller_manager_t *m;
    bool rs_deleting;
} collect_t;

/* Called for the pods the index files under the ReplicaSet's UID and its namespace's orphans;
 * decides from the pod's facts (controller_podindex.c), as upstream's ClaimPods does. */
static void collect_pod(void *ud, const ctrl_pod_facts_t *f)
{
    collect_t *c = ud;
    if (!f->ns || strcmp(f->ns, c->ns))
        return;
    bool matches = labels_selector_matches(c->sel, f->labels);
    if (f->controlled) {
        if (!f->controller_uid || strcmp(f->controller_uid, c->uid))
            return;
        if (!matches) {
            if (!f->deleting)
                set_owner(c->m, c->k, c->rs, f->pod, false);
            return;
        }
    } else {
        if (!matches || c->rs_deleting || f->deleting || !f->active)
            return;
        set_owner(c->m, c->k, c->rs, f->pod, true);
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->owned = util_xrealloc(c->owned, c->cap * sizeof(*c->owned));
    }
    c->owned[c->n++] = *f;
}

static int cmp_pods(const void *a, const void *b)
{
    return controller_pod_compare(*(const cJSON *const *)a, *(const cJSON *const *)b);
}

/* controller_rs_counts over the pods' facts. */
static void rs_counts(const ctrl_pod_facts_t *pods, size_t n, const cJSON *template_labels,
                      int64_t min_ready_s, int64_t now_s, controller_rs_counts_t *ret)
{
    *ret = (controller_rs_counts_t){0};
    for (size_t i = 0; i < n; i++) {
        const ctrl_pod_facts_t *f = &pods[i];
        if (!f->active)
            continue;
        ret->replicas++;
        if (controller_labels_cover(f->labels, template_labels))
            ret->fully_labeled++;
        if (!f->ready)
            continue;
        ret->ready++;
        if (min_ready_s <= 0 || (f->ready_time >= 0 && f->ready_time + min_ready_s <= now_s))
            ret->available++;
    }
}

static void update_status(controller_manager_t *m, const rs_kind_t *k, const cJSON *rs,
                          const ctrl_pod_facts_t *pods, size_t n, int64_t *requeue_ms)
{
    const cJSON *spec = ctrl_get(rs, "spec"), *st = ctrl_get(rs, "status");
    int64_t min_ready = ctrl_int(spec, "minReadySeconds", 0), now = time(NULL);
    controller_rs_counts_t c;
    rs_counts(pods, n, ctrl_get(ctrl_get(ctrl_get(spec, "template"), "metadata"), "labels"),
              min_ready, now, &c);
    int64_t gen = ctrl_int(ctrl_get(rs, "metadata"), "generation", 0);
    if (min_ready > 0 && c.available < c.ready)
        *requeue_ms = min_ready * 1000;
    if (ctrl_int(st, "replicas", 0) == c.replicas &&
        ctrl_int(st, "fullyLabeledReplicas", 0) == c.fully_labeled &&
        ctrl_int(st, "readyReplicas", 0) == c.ready &&
        ctrl_int(st, "availableReplicas", 0) == c.available &&
        ctrl_int(st, "observedGeneration", -1) == gen)
        return;
    cJSON *patch = cJSON_CreateObject();
    cJSON *s = cJSON_AddObjectToObject(patch, "status");
    cJSON_AddNumberToObject(s, "replicas", (double)c.replicas);
    cJSON_AddNumberToObject(s, "fullyLabeledReplicas", (double)c.fully_labeled);
    cJSON_AddNumberToObject(s, "readyReplicas", (double)c.ready);
    cJSON_AddNumberToObject(s, "availableReplicas", (double)c.available);
    cJSON_AddNumberToObject(s, "observedGeneration", (double)gen);
    const cJSON *meta = ctrl_get(rs, "metadata");
    ctrl_patch(m, k->res, ctrl_str(meta, "namespace"), ctrl_str(meta, "name"), "status", patch);
    cJSON_Delete(patch);
}

static int sync_kind(controller_manager_t *m, const rs_kind_t *k, const char *key)
{
    const char *slash = strchr(key, '/');
    if (!slash || bursting(m, k, key))
        return 0; /* a burst in flight: its end queues the key */
    char ns[256];
    snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
    const cJSON *rs = client_informer_get(m->inf[k->inf], ns, slash + 1);
    if (!rs) {
        controller_expect_delete(expect_of(m, k), key);
        return 0;
    }
    const cJSON *meta = ctrl_get(rs, "metadata"), *spec = ctrl_get(rs, "spec");
    collect_t c = {.k = k,
                   .rs = rs,
                   .ns = ns,
                   .uid = ctrl_str(meta, "uid"),
                   .m = m,
                   .rs_deleting = deleting(rs)};
    util_error_t err = NULL;
    if (!c.uid || selector_of(k, rs, &c.sel, &err) < 0 || !c.sel || labels_selector_empty(c.sel)) {
        util_error_freep(&err);
        labels_selector_free(c.sel);
        return 0; /* invalid: the apiserver's validation keeps these out */
    }
    uint64_t now = ctrl_now(m);
    bool satisfied = controller_expect_satisfied(expect_of(m, k), key, now);
    ctrl_podidx_foreach(m->podidx, m->inf[CTRL_INF_PODS], ns, c.uid, collect_pod, &c);
    /* active pods only count */
    size_t nact = 0;
    for (size_t i = 0; i < c.n; i++)
        if (c.owned[i].active)
            c.owned[nact++] = c.owned[i];
    int64_t want = ctrl_int(spec, "replicas", 1), diff = (int64_t)nact - want;
    if (satisfied && !c.rs_deleting && diff < 0) {
        int n = (int)(-diff > BURST_REPLICAS ? BURST_REPLICAS : -diff);
        controller_expect_creations(expect_of(m, k), key, n, now);
        batch_t *b = util_xcalloc(1, sizeof(*b));
        *b = (batch_t){.m = m,
                       .next = m->rs_batches,
                       .k = k,
                       .key = util_xstrdup(key),
                       .rs = cJSON_Duplicate(rs, true),
                       .pod = pod_from_template(k, rs),
                       .remaining = n,
                       .size = 1};
        m->rs_batches = b;
        util_log_v(1, "replicaset %s: too few replicas: need %lld, creating %d", key,
                   (long long)want, n);
        batch_issue(m, b);
    } else if (satisfied && !c.rs_deleting && diff > 0) {
        int n = (int)(diff > BURST_REPLICAS ? BURST_REPLICAS : diff);
        const cJSON **ranked = util_xcalloc(nact, sizeof(*ranked));
        for (size_t i = 0; i < nact; i++)
            ranked[i] = c.owned[i].pod;
        qsort(ranked, nact, sizeof(*ranked), cmp_pods);
        const char **uids = util_xcalloc((size_t)n, sizeof(*uids));
        for (int i = 0; i < n; i++)
            uids[i] = ctrl_str(ctrl_get(ranked[i], "metadata"), "uid");
        controller_expect_deletions(expect_of(m, k), key, uids, (size_t)n, now);
        free(uids);
        for (int i = 0; i < n; i++) {
            const cJSON *pm = ctrl_get(ranked[i], "metadata");
            del_ctx_t *d = util_xcalloc(1, sizeof(*d));
            d->k = k;
            d->key = util_xstrdup(key);
            d->uid = util_xstrdup(ctrl_str(pm, "uid") ? ctrl_str(pm, "uid") : "");
            d->name = util_xstrdup(ctrl_str(pm, "name") ? ctrl_str(pm, "name") : "");
            d->rs = cJSON_Duplicate(rs, true);
            ctrl_pending_t *p = ctrl_pending_new(m, delete_done, d, del_free);
            ctrl_pending_sent(
                p, client_delete(m->client, &CLIENT_RES_PODS, ns, d->name, ctrl_pending_cb, p));
        }
        free(ranked);
    }
    int64_t requeue = 0;
    update_status(m, k, rs, c.owned, nact, &requeue);
    free(c.owned);
    labels_selector_free(c.sel);
    return (int)(requeue > 0 ? requeue : 0);
}

int ctrl_rs_sync(controller_manager_t *m, const char *key)
{
    return sync_kind(m, &KIND_RS, key);
}

int ctrl_rc_sync(controller_manager_t *m, const char *key)
{
    return sync_kind(m, &KIND_RC, key);
}
