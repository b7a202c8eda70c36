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
#define COMPONENT      "replicaset-controller"

/* ---- pod events ------------------------------------------------------------------------------ */

typedef struct match_ctx {
    controller_manager_t *m;
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
    if (labels_selector_from_json(ctrl_get(ctrl_get(rs, "spec"), "selector"), &sel, NULL) < 0 ||
        !sel)
        return;
    if (!labels_selector_empty(sel) && labels_selector_matches_object(sel, c->pod)) {
        char *key = ctrl_key(rs);
        if (key)
            controller_queue_add(c->m->rsq, key, ctrl_now(c->m));
        free(key);
    }
    labels_selector_free(sel);
}

static char *owner_key(const cJSON *pod)
{
    const cJSON *ref = controller_owner_ref(pod);
    const char *kind = ctrl_str(ref, "kind"), *name = ctrl_str(ref, "name");
    const char *ns = ctrl_str(ctrl_get(pod, "metadata"), "namespace");
    if (!ref || !kind || strcmp(kind, "ReplicaSet") || !name || !ns)
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
    char *key = owner_key(pod);
    if (key) {
        if (deleted || deleting(pod))
            controller_expect_deletion_observed(m->expect, key, uid);
        else if (!old)
            controller_expect_creation_observed(m->expect, key);
        controller_queue_add(m->rsq, key, now);
    } else if (!deleted) {
        const char *ns = ctrl_str(ctrl_get(pod, "metadata"), "namespace");
        if (ns) {
            match_ctx_t c = {m, pod, ns};
            client_informer_foreach(m->inf[CTRL_INF_RS], enqueue_if_matches, &c);
        }
    }
    if (old) { /* the owner changed: the former one looks again */
        char *ok = owner_key(old);
        if (ok && (!key || strcmp(ok, key)))
            controller_queue_add(m->rsq, ok, now);
        free(ok);
    }
    free(key);
}

/* ---- writes ---------------------------------------------------------------------------------- */

typedef struct batch {
    char *key; /* the ReplicaSet */
    cJSON *rs; /* a copy, for events */
    cJSON *pod;
    int remaining, outstanding, size;
    bool failed;
} batch_t;

static void batch_free(void *p)
{
    batch_t *b = p;
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
        controller_expect_creation_observed(m->expect, b->key);
        util_log_warn("replicaset %s: creating a pod: %d %s", b->key, res->status,
                      res->st.message ? res->st.message : "");
        ctrl_event(m, b->rs, "ReplicaSet", "apps/v1", "Warning", "FailedCreate", COMPONENT,
                   "Error creating: %s", res->st.message ? res->st.message : "request failed");
    } else {
        ctrl_event(m, b->rs, "ReplicaSet", "apps/v1", "Normal", "SuccessfulCreate", COMPONENT,
                   "Created pod: %s",
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
        controller_expect_creation_observed(m->expect, b->key);
    if (b->failed)
        controller_queue_add_rate_limited(m->rsq, b->key, ctrl_now(m));
    else
        controller_queue_add(m->rsq, b->key, ctrl_now(m));
    batch_free(b);
}

typedef struct del_ctx {
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
        ctrl_event(m, d->rs, "ReplicaSet", "apps/v1", "Normal", "SuccessfulDelete", COMPONENT,
                   "Deleted pod: %s", d->name);
        if (res->status == 404)
            controller_expect_deletion_observed(m->expect, d->key, d->uid);
    } else {
        controller_expect_deletion_observed(m->expect, d->key, d->uid);
        ctrl_event(m, d->rs, "ReplicaSet", "apps/v1", "Warning", "FailedDelete", COMPONENT,
                   "Error deleting: %s", res->st.message ? res->st.message : "request failed");
        controller_queue_add_rate_limited(m->rsq, d->key, ctrl_now(m));
    }
    del_free(d);
}

/* The pod to create: the template's metadata and spec, owned by rs. */
static cJSON *pod_from_template(const cJSON *rs)
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
    cJSON_AddStringToObject(ref, "apiVersion", "apps/v1");
    cJSON_AddStringToObject(ref, "kind", "ReplicaSet");
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
static void set_owner(controller_manager_t *m, const cJSON *rs, const cJSON *pod, bool adopt)
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
        cJSON *pod_tmp = pod_from_template(rs);
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
    const cJSON *rs;
    const char *ns, *uid;
    labels_selector_t *sel;
    const cJSON **owned;
    size_t n, cap;
    controller_manager_t *m;
    bool rs_deleting;
} collect_t;

static void collect_pod(void *ud, const cJSON *pod)
{
    collect_t *c = ud;
    const cJSON *meta = ctrl_get(pod, "metadata");
    const char *ns = ctrl_str(meta, "namespace");
    if (!ns || strcmp(ns, c->ns))
        return;
    const cJSON *ref = controller_owner_ref(pod);
    bool matches = labels_selector_matches_object(c->sel, pod);
    if (ref) {
        const char *ruid = ctrl_str(ref, "uid");
        if (!ruid || strcmp(ruid, c->uid))
            return;
        if (!matches) {
            if (!deleting(pod))
                set_owner(c->m, c->rs, pod, false);
            return;
        }
    } else {
        if (!matches || c->rs_deleting || deleting(pod) || !controller_pod_active(pod))
            return;
        set_owner(c->m, c->rs, pod, true);
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->owned = util_xrealloc(c->owned, c->cap * sizeof(*c->owned));
    }
    c->owned[c->n++] = pod;
}

static int cmp_pods(const void *a, const void *b)
{
    return controller_pod_compare(*(const cJSON *const *)a, *(const cJSON *const *)b);
}

static void update_status(controller_manager_t *m, const cJSON *rs, const cJSON *const *pods,
                          size_t n, int64_t *requeue_ms)
{
    const cJSON *spec = ctrl_get(rs, "spec"), *st = ctrl_get(rs, "status");
    int64_t min_ready = ctrl_int(spec, "minReadySeconds", 0), now = time(NULL);
    controller_rs_counts_t c;
    controller_rs_counts(pods, n,
                         ctrl_get(ctrl_get(ctrl_get(spec, "template"), "metadata"), "labels"),
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
    ctrl_patch(m, &CONTROLLER_RES_RS, ctrl_str(meta, "namespace"), ctrl_str(meta, "name"), "status",
               patch);
    cJSON_Delete(patch);
}

int ctrl_rs_sync(controller_manager_t *m, const char *key)
{
    const char *slash = strchr(key, '/');
    if (!slash)
        return 0;
    char ns[256];
    snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
    const cJSON *rs = client_informer_get(m->inf[CTRL_INF_RS], ns, slash + 1);
    if (!rs) {
        controller_expect_delete(m->expect, key);
        return 0;
    }
    const cJSON *meta = ctrl_get(rs, "metadata"), *spec = ctrl_get(rs, "spec");
    collect_t c = {
        .rs = rs, .ns = ns, .uid = ctrl_str(meta, "uid"), .m = m, .rs_deleting = deleting(rs)};
    util_error_t err = NULL;
    if (!c.uid || labels_selector_from_json(ctrl_get(spec, "selector"), &c.sel, &err) < 0 ||
        !c.sel || labels_selector_empty(c.sel)) {
        util_error_freep(&err);
        labels_selector_free(c.sel);
        return 0; /* invalid: the apiserver's validation keeps these out */
    }
    uint64_t now = ctrl_now(m);
    bool satisfied = controller_expect_satisfied(m->expect, key, now);
    client_informer_foreach(m->inf[CTRL_INF_PODS], collect_pod, &c);
    /* active pods only count */
    size_t k = 0;
    for (size_t i = 0; i < c.n; i++)
        if (controller_pod_active(c.owned[i]))
            c.owned[k++] = c.owned[i];
    int64_t want = ctrl_int(spec, "replicas", 1), diff = (int64_t)k - want;
    if (satisfied && !c.rs_deleting && diff < 0) {
        int n = (int)(-diff > BURST_REPLICAS ? BURST_REPLICAS : -diff);
        controller_expect_creations(m->expect, key, n, now);
        batch_t *b = util_xcalloc(1, sizeof(*b));
        *b = (batch_t){
            util_xstrdup(key), cJSON_Duplicate(rs, true), pod_from_template(rs), n, 0, 1, false};
        util_log_v(1, "replicaset %s: too few replicas: need %lld, creating %d", key,
                   (long long)want, n);
        batch_issue(m, b);
    } else if (satisfied && !c.rs_deleting && diff > 0) {
        int n = (int)(diff > BURST_REPLICAS ? BURST_REPLICAS : diff);
        qsort(c.owned, k, sizeof(*c.owned), cmp_pods);
        const char **uids = util_xcalloc((size_t)n, sizeof(*uids));
        for (int i = 0; i < n; i++)
            uids[i] = ctrl_str(ctrl_get(c.owned[i], "metadata"), "uid");
        controller_expect_deletions(m->expect, key, uids, (size_t)n, now);
        free(uids);
        for (int i = 0; i < n; i++) {
            const cJSON *pm = ctrl_get(c.owned[i], "metadata");
            del_ctx_t *d = util_xcalloc(1, sizeof(*d));
            d->key = util_xstrdup(key);
            d->uid = util_xstrdup(ctrl_str(pm, "uid") ? ctrl_str(pm, "uid") : "");
            d->name = util_xstrdup(ctrl_str(pm, "name") ? ctrl_str(pm, "name") : "");
            d->rs = cJSON_Duplicate(rs, true);
            ctrl_pending_t *p = ctrl_pending_new(m, delete_done, d, del_free);
            ctrl_pending_sent(
                p, client_delete(m->client, &CLIENT_RES_PODS, ns, d->name, ctrl_pending_cb, p));
        }
    }
    int64_t requeue = 0;
    update_status(m, rs, c.owned, k, &requeue);
    free(c.owned);
    labels_selector_free(c.sel);
    return (int)(requeue > 0 ? requeue : 0);
}
