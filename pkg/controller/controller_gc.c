/* controller_gc: the garbage collector as a running controller (upstream's GarbageCollector):
 * discovery finds every resource that can be listed, watched and deleted (custom resources
 * included, found again when CRDs change); an informer per resource feeds the graph
 * (controller_gc_graph.c); one queue of uids to look at (attemptToDelete) and owners to orphan
 * (attemptToOrphan), each looked at with live GETs before anything is deleted or patched. */
#include "controller/controller_gc.h"

#include <stdlib.h>
#include <string.h>

#define GC_INFLIGHT      16    /* keys processed at once (upstream runs 20 workers) */
#define GC_SYNC_WAIT_MS  30000 /* then proceed even if an informer never synced (as upstream) */
#define GC_REDISCOVER_MS 500

static void gc_kick(struct ctrl_gc *gc);

/* ---- requests ------------------------------------------------------------------------------ */

/* Every request of the collector carries the epoch it was sent in; answers from before a stop
 * (a lost lease) are dropped. */
typedef struct gc_req {
    struct ctrl_gc *gc;
    unsigned epoch;
    ctrl_gc_done_fn done;
    void *ud;
    void (*free_ud)(void *);
} gc_req_t;

static void req_done(controller_manager_t *m, void *ud, client_result_t *res)
{
    (void)m;
    gc_req_t *r = ud;
    if (r->epoch == r->gc->epoch && r->gc->running)
        r->done(r->gc, r->ud, res);
    else
        r->free_ud(r->ud);
    free(r);
}

static void req_free(void *ud)
{
    gc_req_t *r = ud;
    r->free_ud(r->ud);
    free(r);
}

/* The state of the request (ud) is released by free_ud when the answer is dropped. */
static ctrl_pending_t *gc_pending_f(struct ctrl_gc *gc, ctrl_gc_done_fn done, void *ud,
                                    void (*free_ud)(void *))
{
    gc_req_t *r = util_xcalloc(1, sizeof(*r));
    *r = (gc_req_t){gc, gc->epoch, done, ud, free_ud};
    return ctrl_pending_new(gc->m, req_done, r, req_free);
}

static void attempt_ref_free(void *ud);
static void orphan_step_free(void *ud);

/* Requests of attempts (attempt_ref_t), orphan steps (orphan_step_t) or plain blocks. */

void ctrl_gc_get(struct ctrl_gc *gc, const client_resource_t *r, const char *ns, const char *name,
                 ctrl_gc_done_fn done, void *ud, void (*free_ud)(void *))
{
    ctrl_pending_t *p = gc_pending_f(gc, done, ud, free_ud);
    ctrl_pending_sent(
        p, client_get(gc->m->client, r, r->namespaced ? ns : NULL, name, ctrl_pending_cb, p));
}

void ctrl_gc_patch(struct ctrl_gc *gc, const client_resource_t *r, const char *ns, const char *name,
                   const cJSON *patch, ctrl_gc_done_fn done, void *ud, void (*free_ud)(void *))
{
    ctrl_pending_t *p = gc_pending_f(gc, done, ud, free_ud);
    ctrl_pending_sent(p, client_patch(gc->m->client, r, r->namespaced ? ns : NULL, name, NULL,
                                      CLIENT_PATCH_MERGE, patch, ctrl_pending_cb, p));
}

void ctrl_gc_patch_status(struct ctrl_gc *gc, const client_resource_t *r, const char *ns,
                          const char *name, const cJSON *patch, ctrl_gc_done_fn done, void *ud,
                          void (*free_ud)(void *))
{
    ctrl_pending_t *p = gc_pending_f(gc, done, ud, free_ud);
    ctrl_pending_sent(p, client_patch(gc->m->client, r, ns, name, "status", CLIENT_PATCH_STRATEGIC,
                                      patch, ctrl_pending_cb, p));
}

void ctrl_gc_create(struct ctrl_gc *gc, const client_resource_t *r, const char *ns,
                    const cJSON *obj, ctrl_gc_done_fn done, void *ud, void (*free_ud)(void *))
{
    ctrl_pending_t *p = gc_pending_f(gc, done, ud, free_ud);
    ctrl_pending_sent(p, client_create(gc->m->client, r, ns, obj, ctrl_pending_cb, p));
}

void ctrl_gc_update(struct ctrl_gc *gc, const client_resource_t *r, const cJSON *obj,
                    ctrl_gc_done_fn done, void *ud, void (*free_ud)(void *))
{
    ctrl_pending_t *p = gc_pending_f(gc, done, ud, free_ud);
    ctrl_pending_sent(p, client_update(gc->m->client, r, NULL, obj, ctrl_pending_cb, p));
}

void ctrl_gc_delete(struct ctrl_gc *gc, const client_resource_t *r, const char *ns,
                    const char *name, const char *uid, const char *rv, const char *policy,
                    int64_t grace, ctrl_gc_done_fn done, void *ud, void (*free_ud)(void *))
{
    util_buf_t path = {0};
    ctrl_pending_t *p = gc_pending_f(gc, done, ud, free_ud);
    if (client_path(&path, r, r->namespaced ? ns : NULL, name, NULL) < 0) {
        util_buf_free(&path);
        ctrl_pending_sent(p, NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "DeleteOptions");
    cJSON_AddStringToObject(o, "apiVersion", "v1");
    if (policy)
        cJSON_AddStringToObject(o, "propagationPolicy", policy);
    if (grace >= 0)
        cJSON_AddNumberToObject(o, "gracePeriodSeconds", (double)grace);
    cJSON *pre = cJSON_AddObjectToObject(o, "preconditions");
    if (uid)
        cJSON_AddStringToObject(pre, "uid", uid);
    if (rv)
        cJSON_AddStringToObject(pre, "resourceVersion", rv);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    ctrl_pending_sent(p, client_request(gc->m->client, "DELETE", path.data, "application/json",
                                        body, strlen(body), ctrl_pending_cb, p));
    cJSON_free(body);
    util_buf_free(&path);
}

static bool ok_status(const client_result_t *res)
{
    return !res->error && res->status >= 200 && res->status < 300;
}

static const char *meta_str(const cJSON *obj, const char *k)
{
    return ctrl_str(ctrl_get(obj, "metadata"), k);
}

/* ---- resources ------------------------------------------------------------------------------ */

const ctrl_gc_res_t *ctrl_gc_resource(const struct ctrl_gc *gc, const char *group,
                                      const char *plural)
{
    for (size_t i = 0; i < gc->nres; i++)
        if (!strcmp(gc->res[i]->group, group) && !strcmp(gc->res[i]->plural, plural))
            return gc->res[i];
    return NULL;
}

/* The resource of an apiVersion/kind (upstream's REST mapping; any served version). */
static const ctrl_gc_res_t *resource_of_kind(const struct ctrl_gc *gc, const char *api_version,
                                             const char *kind)
{
    const char *slash = strchr(api_version, '/');
    size_t glen = slash ? (size_t)(slash - api_version) : 0;
    for (size_t i = 0; i < gc->nres; i++) {
        const ctrl_gc_res_t *r = gc->res[i];
        if (strlen(r->group) == glen && !strncmp(r->group, api_version, glen) &&
            !strcmp(r->kind, kind))
            return r;
    }
    return NULL;
}

/* ---- attemptToDelete ----------------------------------------------------------------------- */

typedef struct attempt {
    char *key;
    controller_gc_node_t id; /* identity of the item (owned strings) */
    const ctrl_gc_res_t *r;
    cJSON *latest;
    int i;               /* the ownerReference being classified */
    util_strv_t dropped; /* uids of dangling and waiting owners */
    size_t solid, dangling, waiting;
    controller_gc_action_t action;
} attempt_t;

static void attempt_free(attempt_t *a)
{
    free(a->key);
    free(a->id.uid);
    free(a->id.api_version);
    free(a->id.kind);
    free(a->id.ns);
    free(a->id.name);
    cJSON_Delete(a->latest);
    util_strv_clear(&a->dropped);
    free(a);
}

/* Ends an attempt: the key is done. */
static void attempt_end(struct ctrl_gc *gc, attempt_t *a, int rc)
{
    const controller_gc_node_t *n = controller_gc_node(gc->graph, a->id.uid);
    if (rc == 0 && n && n->virt)
        rc = -1; /* looked at again until its informer sees it (upstream issue 56121) */
    ctrl_gc_finish(gc, a->key, rc);
    attempt_free(a);
}

/* The request state handed to gc_* is a pointer to the attempt (freed by req_free on stop). */
typedef struct {
    attempt_t *a;
} attempt_ref_t;

static attempt_ref_t *ref_of(attempt_t *a)
{
    attempt_ref_t *p = util_xcalloc(1, sizeof(*p));
    p->a = a;
    return p;
}

static void attempt_ref_free(void *ud)
{
    attempt_ref_t *p = ud;
    attempt_free(p->a);
    free(p);
}

static attempt_t *take(void *ud)
{
    attempt_ref_t *p = ud;
    attempt_t *a = p->a;
    free(p);
    return a;
}

static void classify_next(struct ctrl_gc *gc, attempt_t *a);
static void act(struct ctrl_gc *gc, attempt_t *a);

static void virtual_delete(struct ctrl_gc *gc, attempt_t *a)
{
    util_log_v(2, "garbage-collector: %s %s/%s (uid %s) does not exist", a->id.kind, a->id.ns,
               a->id.name, a->id.uid);
    controller_gc_virtual_delete(gc->graph, &a->id);
    gc_kick(gc);
}

/* upstream processDeletingDependentsItem: with no blocking dependent left the
 * foregroundDeletion finalizer goes; otherwise the blocking dependents are looked at. */
static void deleting_dependents(struct ctrl_gc *gc, attempt_t *a, controller_gc_node_t *n);

static void item_got(struct ctrl_gc *gc, void *ud, client_result_t *res)
{
    attempt_t *a = take(ud);
    if (res->status == 404 ||
        (ok_status(res) &&
         strcmp(meta_str(res->body, "uid") ? meta_str(res->body, "uid") : "", a->id.uid))) {
        virtual_delete(gc, a);
        attempt_end(gc, a, 0);
        return;
    }
    if (!ok_status(res)) {
        attempt_end(gc, a, -1);
        return;
    }
    a->latest = res->body;
    res->body = NULL;
    controller_gc_node_t *n = controller_gc_node(gc->graph, a->id.uid);
    if (n && n->deleting_dependents) {
        deleting_dependents(gc, a, n);
        return;
    }
    if (cJSON_GetArraySize(ctrl_get(ctrl_get(a->latest, "metadata"), "ownerReferences")) == 0) {
        attempt_end(gc, a, n && n->virt ? -1 : 0); /* a virtual node waits for its informer */
        return;
    }
    classify_next(gc, a);
}

static void owner_got(struct ctrl_gc *gc, void *ud, client_result_t *res)
{
    attempt_t *a = take(ud);
    const cJSON *ref =
        cJSON_GetArrayItem(ctrl_get(ctrl_get(a->latest, "metadata"), "ownerReferences"), a->i);
    const char *uid = ctrl_str(ref, "uid");
    const ctrl_gc_res_t *r =
        resource_of_kind(gc, ctrl_str(ref, "apiVersion"), ctrl_str(ref, "kind"));
    const char *ns = r && r->res.namespaced ? a->id.ns : "";
    const char *got = ok_status(res) ? meta_str(res->body, "uid") : NULL;
    if (res->status == 404 || (ok_status(res) && (!got || strcmp(got, uid)))) {
        controller_gc_absent_add(gc->graph, uid, ns);
        a->dangling++;
        util_strv_push(&a->dropped, uid);
    } else if (!ok_status(res)) {
        attempt_end(gc, a, -1);
        return;
    } else if (ctrl_get(ctrl_get(res->body, "metadata"), "deletionTimestamp") &&
               controller_gc_has_finalizer(res->body, CONTROLLER_GC_FIN_FOREGROUND)) {
        a->waiting++;
        util_strv_push(&a->dropped, uid);
    } else {
        a->solid++;
    }
    a->i++;
    classify_next(gc, a);
}

/* upstream classifyReferences / isDangling, one reference at a time. */
static void classify_next(struct ctrl_gc *gc, attempt_t *a)
{
    const cJSON *refs = ctrl_get(ctrl_get(a->latest, "metadata"), "ownerReferences");
    for (; a->i < cJSON_GetArraySize(refs); a->i++) {
        const cJSON *ref = cJSON_GetArrayItem(refs, a->i);
        const char *uid = ctrl_str(ref, "uid"), *name = ctrl_str(ref, "name");
        if (!uid || !name)
            continue;
        if (controller_gc_absent_has(gc->graph, uid, "") ||
            controller_gc_absent_has(gc->graph, uid, a->id.ns)) {
            a->dangling++;
            util_strv_push(&a->dropped, uid);
            continue;
        }
        const char *av = ctrl_str(ref, "apiVersion"), *kind = ctrl_str(ref, "kind");
        const ctrl_gc_res_t *r = resource_of_kind(gc, av ? av : "", kind ? kind : "");
        if (!r) { /* not (yet) known to discovery: retry, as upstream's restMappingError */
            util_log_v(2, "garbage-collector: %s/%s: owner kind %s %s unknown", a->id.ns,
                       a->id.name, av ? av : "", kind ? kind : "");
            attempt_end(gc, a, -1);
            return;
        }
        if (!a->id.ns[0] && r->res.namespaced) { /* cannot be resolved: not retried */
            attempt_end(gc, a, 0);
            return;
        }
        ctrl_gc_get(gc, &r->res, a->id.ns, name, owner_got, ref_of(a), attempt_ref_free);
        return;
    }
    act(gc, a);
}

static void written(struct ctrl_gc *gc, void *ud, client_result_t *res)
{
    attempt_t *a = take(ud);
    if (res->status == 404) { /* gone meanwhile */
        virtual_delete(gc, a);
        attempt_end(gc, a, 0);
        return;
    }
    if (!ok_status(res))
        util_log_v(1, "garbage-collector: %s %s/%s: %d %s", a->id.kind, a->id.ns, a->id.name,
                   res->status, res->st.message ? res->st.message : "");
    attempt_end(gc, a, ok_status(res) ? 0 : -1);
}

/* A merge patch of ownerReferences without the uids in drop (all of them kept but unblocked
 * when unblock), with the resourceVersion read as precondition. */
static cJSON *refs_patch(const cJSON *latest, const util_strv_t *drop, bool unblock)
{
    cJSON *patch = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(patch, "metadata");
    cJSON_AddStringToObject(meta, "resourceVersion", meta_str(latest, "resourceVersion"));
    cJSON *refs = cJSON_CreateArray();
    const cJSON *ref;
    cJSON_ArrayForEach(ref, ctrl_get(ctrl_get(latest, "metadata"), "ownerReferences"))
    {
        bool dropped = false;
        for (size_t i = 0; drop && i < drop->n; i++)
            dropped |= !strcmp(drop->v[i], ctrl_str(ref, "uid") ? ctrl_str(ref, "uid") : "");
        if (dropped)
            continue;
        cJSON *c = cJSON_Duplicate(ref, true);
        if (unblock) {
            cJSON_DeleteItemFromObjectCaseSensitive(c, "blockOwnerDeletion");
            cJSON_AddFalseToObject(c, "blockOwnerDeletion");
        }
        cJSON_AddItemToArray(refs, c);
    }
    if (cJSON_GetArraySize(refs) == 0) {
        cJSON_Delete(refs);
        cJSON_AddNullToObject(meta, "ownerReferences");
    } else {
        cJSON_AddItemToObject(meta, "ownerReferences", refs);
    }
    return patch;
}

static void delete_item(struct ctrl_gc *gc, attempt_t *a, const char *policy, bool with_rv)
{
    util_log_info("garbage-collector: deleting %s %s%s%s (propagationPolicy %s)", a->id.kind,
                  a->id.ns, a->id.ns[0] ? "/" : "", a->id.name, policy);
    ctrl_gc_delete(gc, &a->r->res, a->id.ns, a->id.name, a->id.uid,
                   with_rv ? meta_str(a->latest, "resourceVersion") : NULL, policy, -1, written,
                   ref_of(a), attempt_ref_free);
}

static void unblocked(struct ctrl_gc *gc, void *ud, client_result_t *res)
{
    attempt_t *a = take(ud);
    if (!ok_status(res)) {
        attempt_end(gc, a, res->status == 404 ? 0 : -1);
        return;
    }
    delete_item(gc, a, "Foreground", false);
}

static void act(struct ctrl_gc *gc, attempt_t *a)
{
    controller_gc_node_t *n = controller_gc_node(gc->graph, a->id.uid);
    a->action = controller_gc_decide(a->solid, a->dangling, a->waiting, n, a->latest);
    switch (a->action) {
    case CONTROLLER_GC_KEEP:
        attempt_end(gc, a, 0);
        return;
    case CONTROLLER_GC_REMOVE_REFS: {
        util_log_info("garbage-collector: %s %s/%s: removing %zu references to absent or "
                      "deleting owners",
                      a->id.kind, a->id.ns, a->id.name, a->dropped.n);
        cJSON *patch = refs_patch(a->latest, &a->dropped, false);
        ctrl_gc_patch(gc, &a->r->res, a->id.ns, a->id.name, patch, written, ref_of(a),
                      attempt_ref_free);
        cJSON_Delete(patch);
        return;
    }
    case CONTROLLER_GC_UNBLOCK_FG: {
        cJSON *patch = refs_patch(a->latest, NULL, true);
        ctrl_gc_patch(gc, &a->r->res, a->id.ns, a->id.name, patch, unblocked, ref_of(a),
                      attempt_ref_free);
        cJSON_Delete(patch);
        return;
    }
    case CONTROLLER_GC_DELETE_FG:
        delete_item(gc, a, "Foreground", true);
        return;
    case CONTROLLER_GC_DELETE_ORPHAN:
        delete_item(gc, a, "Orphan", true);
        return;
    case CONTROLLER_GC_DELETE_BG:
        delete_item(gc, a, "Background", true);
        return;
    }
}

/* A merge patch removing finalizer fin from latest (resourceVersion as precondition). */
static cJSON *finalizer_patch(const cJSON *latest, const char *fin)
{
    cJSON *patch = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(patch, "metadata");
    cJSON_AddStringToObject(meta, "resourceVersion", meta_str(latest, "resourceVersion"));
    cJSON *keep = cJSON_CreateArray();
    const cJSON *f;
    cJSON_ArrayForEach(f, ctrl_get(ctrl_get(latest, "metadata"), "finalizers"))
    {
        if (!cJSON_IsString(f) || strcmp(f->valuestring, fin))
            cJSON_AddItemToArray(keep, cJSON_Duplicate(f, true));
    }
    if (cJSON_GetArraySize(keep) == 0) {
        cJSON_Delete(keep);
        cJSON_AddNullToObject(meta, "finalizers");
    } else {
        cJSON_AddItemToObject(meta, "finalizers", keep);
    }
    return patch;
}

static void deleting_dependents(struct ctrl_gc *gc, attempt_t *a, controller_gc_node_t *n)
{
    controller_gc_node_t **blocking = NULL;
    size_t nb = controller_gc_blocking(n, &blocking);
    if (nb == 0) {
        if (!controller_gc_has_finalizer(a->latest, CONTROLLER_GC_FIN_FOREGROUND)) {
            attempt_end(gc, a, 0);
            return;
        }
        util_log_info("garbage-collector: %s %s/%s: dependents gone, removing the %s finalizer",
                      a->id.kind, a->id.ns, a->id.name, CONTROLLER_GC_FIN_FOREGROUND);
        cJSON *patch = finalizer_patch(a->latest, CONTROLLER_GC_FIN_FOREGROUND);
        ctrl_gc_patch(gc, &a->r->res, a->id.ns, a->id.name, patch, written, ref_of(a),
                      attempt_ref_free);
        cJSON_Delete(patch);
        return;
    }
    for (size_t i = 0; i < nb; i++)
        if (!blocking[i]->deleting_dependents) {
            char *k = util_strdup_printf("d/%s", blocking[i]->uid);
            controller_queue_add(gc->q, k, ctrl_now(gc->m));
            free(k);
        }
    free(blocking);
    attempt_end(gc, a, 0);
}

static void attempt_delete(struct ctrl_gc *gc, const char *key, const char *uid)
{
    controller_gc_node_t *n = controller_gc_node(gc->graph, uid);
    if (!n || (n->being_deleted && !n->deleting_dependents)) {
        ctrl_gc_finish(gc, key, 0); /* being deleted: a one-way trip, its dependents follow */
        return;
    }
    const ctrl_gc_res_t *r = resource_of_kind(gc, n->api_version, n->kind);
    if (!r) {
        ctrl_gc_finish(gc, key, -1);
        return;
    }
    attempt_t *a = util_xcalloc(1, sizeof(*a));
    a->key = util_xstrdup(key);
    a->id = (controller_gc_node_t){.uid = util_xstrdup(n->uid),
                                   .api_version = util_xstrdup(n->api_version),
                                   .kind = util_xstrdup(n->kind),
                                   .ns = util_xstrdup(r->res.namespaced ? n->ns : ""),
                                   .name = util_xstrdup(n->name)};
    a->r = r;
    ctrl_gc_get(gc, &r->res, a->id.ns, a->id.name, item_got, ref_of(a), attempt_ref_free);
}

/* ---- attemptToOrphan ----------------------------------------------------------------------- */

typedef struct orphaning {
    char *key, *owner_uid;
    const ctrl_gc_res_t *owner_res;
    char *owner_ns, *owner_name;
    size_t pending;
    bool failed;
} orphaning_t;

typedef struct orphan_step {
    orphaning_t *o;
    const ctrl_gc_res_t *r;
    char *ns, *name;
    bool owner; /* the step on the owner, after the dependents */
} orphan_step_t;

static void orphaning_free(orphaning_t *o)
{
    free(o->key);
    free(o->owner_uid);
    free(o->owner_ns);
    free(o->owner_name);
    free(o);
}

static void orphan_step_free(void *ud)
{
    orphan_step_t *s = ud;
    if (s->owner || --s->o->pending == 0)
        orphaning_free(s->o);
    free(s->ns);
    free(s->name);
    free(s);
}

static void orphan_owner_done(struct ctrl_gc *gc, void *ud, client_result_t *res)
{
    orphan_step_t *s = ud;
    int rc = ok_status(res) || res->status == 404 ? 0 : -1;
    ctrl_gc_finish(gc, s->o->key, rc);
    orphaning_free(s->o);
    free(s->ns);
    free(s->name);
    free(s);
}

static void orphan_owner_got(struct ctrl_gc *gc, void *ud, client_result_t *res)
{
    orphan_step_t *s = ud;
    if (!ok_status(res) ||
        strcmp(meta_str(res->body, "uid") ? meta_str(res->body, "uid") : "", s->o->owner_uid) ||
        !controller_gc_has_finalizer(res->body, CONTROLLER_GC_FIN_ORPHAN)) {
        orphan_owner_done(gc, s, res->status == 404 ? res : &(client_result_t){.status = 200});
        return;
    }
    util_log_info("garbage-collector: %s/%s: dependents orphaned, removing the orphan finalizer",
                  s->o->owner_ns, s->o->owner_name);
    cJSON *patch = finalizer_patch(res->body, CONTROLLER_GC_FIN_ORPHAN);
    ctrl_gc_patch(gc, &s->r->res, s->ns, s->name, patch, orphan_owner_done, s, orphan_step_free);
    cJSON_Delete(patch);
}

static void orphan_dependents_done(struct ctrl_gc *gc, orphaning_t *o)
{
    if (o->failed) {
        ctrl_gc_finish(gc, o->key, -1);
        orphaning_free(o);
        return;
    }
    orphan_step_t *s = util_xcalloc(1, sizeof(*s));
    *s = (orphan_step_t){o, o->owner_res, util_xstrdup(o->owner_ns), util_xstrdup(o->owner_name),
                         true};
    ctrl_gc_get(gc, &s->r->res, s->ns, s->name, orphan_owner_got, s, orphan_step_free);
}

static void orphan_patched(struct ctrl_gc *gc, void *ud, client_result_t *res)
{
    orphan_step_t *s = ud;
    orphaning_t *o = s->o;
    if (!ok_status(res) && res->status != 404)
        o->failed = true;
    free(s->ns);
    free(s->name);
    free(s);
    if (--o->pending == 0)
        orphan_dependents_done(gc, o);
}

static void orphan_dep_got(struct ctrl_gc *gc, void *ud, client_result_t *res)
{
    orphan_step_t *s = ud;
    if (!ok_status(res)) {
        orphan_patched(gc, s, res);
        return;
    }
    util_strv_t drop = {0};
    util_strv_push(&drop, s->o->owner_uid);
    cJSON *patch = refs_patch(res->body, &drop, false);
    util_strv_clear(&drop);
    ctrl_gc_patch(gc, &s->r->res, s->ns, s->name, patch, orphan_patched, s, orphan_step_free);
    cJSON_Delete(patch);
}

/* upstream attemptToOrphanWorker: every dependent loses its reference to the owner (a GET and
 * a merge patch with resourceVersion each), then the owner loses its orphan finalizer. */
static void attempt_orphan(struct ctrl_gc *gc, const char *key, const char *uid)
{
    controller_gc_node_t *n = controller_gc_node(gc->graph, uid);
    const ctrl_gc_res_t *r = n ? resource_of_kind(gc, n->api_version, n->kind) : NULL;
    if (!n || !r) {
        ctrl_gc_finish(gc, key, n ? -1 : 0);
        return;
    }
    orphaning_t *o = util_xcalloc(1, sizeof(*o));
    *o = (orphaning_t){util_xstrdup(key),
                       util_xstrdup(uid),
                       r,
                       util_xstrdup(n->ns),
                       util_xstrdup(n->name),
                       1,
                       false};
    for (size_t i = 0; i < n->ndeps; i++) {
        const controller_gc_node_t *d = n->deps[i];
        const ctrl_gc_res_t *dr = resource_of_kind(gc, d->api_version, d->kind);
        if (!dr) {
            o->failed = true;
            continue;
        }
        orphan_step_t *s = util_xcalloc(1, sizeof(*s));
        *s = (orphan_step_t){o, dr, util_xstrdup(d->ns), util_xstrdup(d->name), false};
        o->pending++;
        ctrl_gc_get(gc, &dr->res, s->ns, s->name, orphan_dep_got, s, orphan_step_free);
    }
    if (--o->pending == 0)
        orphan_dependents_done(gc, o);
}

/* ---- the queue ------------------------------------------------------------------------------ */

static bool all_synced(const struct ctrl_gc *gc)
{
    if (!gc->nres)
        return false;
    if (ctrl_now(gc->m) > gc->started_ms + GC_SYNC_WAIT_MS)
        return true;
    for (size_t i = 0; i < gc->nres; i++)
        if (gc->res[i]->inf && !gc->res[i]->synced)
            return false;
    return true;
}

void ctrl_gc_finish(struct ctrl_gc *gc, const char *key, int rc)
{
    uint64_t now = ctrl_now(gc->m);
    controller_queue_done(gc->q, key, now);
    if (rc < 0) {
        controller_queue_add_rate_limited(gc->q, key, now);
    } else {
        controller_queue_forget(gc->q, key);
        if (rc > 0)
            controller_queue_add_after(gc->q, key, (uint64_t)rc, now);
    }
    if (gc->inflight)
        gc->inflight--;
    gc_kick(gc);
}

static void run(uv_timer_t *t)
{
    struct ctrl_gc *gc = t->data;
    while (gc->running && gc->inflight < GC_INFLIGHT && all_synced(gc)) {
        char *key = controller_queue_pop(gc->q, ctrl_now(gc->m));
        if (!key)
            break;
        gc->inflight++;
        if (!strncmp(key, "d/", 2))
            attempt_delete(gc, key, key + 2);
        else if (!strncmp(key, "o/", 2))
            attempt_orphan(gc, key, key + 2);
        else if (!ctrl_gc_house_run(gc, key))
            ctrl_gc_finish(gc, key, 0);
        free(key);
    }
    gc_kick(gc);
}

static void gc_kick(struct ctrl_gc *gc)
{
    if (!gc->running || gc->inflight >= GC_INFLIGHT)
        return;
    int64_t next = controller_queue_next(gc->q, ctrl_now(gc->m));
    if (next < 0)
        uv_timer_stop(&gc->timer);
    else if (!all_synced(gc)) /* look again when the sync wait runs out */
        uv_timer_start(&gc->timer, run, GC_SYNC_WAIT_MS, 0);
    else
        uv_timer_start(&gc->timer, run, (uint64_t)next, 0);
}

static void enqueue(void *ud, const char *prefix, const char *uid)
{
    struct ctrl_gc *gc = ud;
    char *k = util_strdup_printf("%s/%s", prefix, uid);
    controller_queue_add(gc->q, k, ctrl_now(gc->m));
    free(k);
}

static void hook_delete(void *ud, const char *uid)
{
    enqueue(ud, "d", uid);
}

static void hook_orphan(void *ud, const char *uid)
{
    enqueue(ud, "o", uid);
}

/* upstream reportInvalidNamespaceOwnerRef: a Warning event on the dependent. */
static void hook_invalid_namespace(void *ud, const controller_gc_node_t *dep,
                                   const controller_gc_ref_t *ref)
{
    struct ctrl_gc *gc = ud;
    if (!dep->ns[0])
        return;
    cJSON *obj = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(obj, "metadata");
    cJSON_AddStringToObject(meta, "name", dep->name);
    cJSON_AddStringToObject(meta, "namespace", dep->ns);
    cJSON_AddStringToObject(meta, "uid", dep->uid);
    ctrl_event(gc->m, obj, dep->kind, dep->api_version, "Warning", "OwnerRefInvalidNamespace",
               "garbage-collector-controller",
               "ownerRef [%s/%s, namespace: %s, name: %s, uid: %s] does not exist in namespace "
               "\"%s\"",
               ref->api_version, ref->kind, dep->ns, ref->name, ref->uid, dep->ns);
    cJSON_Delete(obj);
}

/* ---- informers ------------------------------------------------------------------------------ */

static void rediscover_soon(struct ctrl_gc *gc);

static void deliver(ctrl_gc_res_t *r, const cJSON *old, const cJSON *obj, bool deleted)
{
    struct ctrl_gc *gc = r->gc;
    if (!gc->running)
        return;
    if (deleted)
        controller_gc_forget(gc->graph, obj);
    else
        controller_gc_observe(gc->graph, old, obj);
    ctrl_gc_house_event(gc, r, old, obj, deleted);
    if (r->synced && !strcmp(r->plural, "customresourcedefinitions"))
        rediscover_soon(gc);
    gc_kick(gc);
}

static void on_add(void *ud, const cJSON *obj)
{
    deliver(ud, NULL, obj, false);
}

static void on_update(void *ud, const cJSON *old, const cJSON *obj)
{
    deliver(ud, old, obj, false);
}

static void on_delete(void *ud, const cJSON *obj)
{
    deliver(ud, NULL, obj, true);
}

static void on_synced(void *ud)
{
    ctrl_gc_res_t *r = ud;
    if (!r->synced)
        util_log_v(1, "garbage-collector: %s%s%s synced", r->group, r->group[0] ? "/" : "",
                   r->plural);
    r->synced = true;
    ctrl_gc_house_event(r->gc, r, NULL, NULL, false); /* a (re)list: housekeeping looks again */
    gc_kick(r->gc);
}

static void res_start(struct ctrl_gc *gc, ctrl_gc_res_t *r)
{
    static const client_informer_handlers_t h = {on_add, on_update, on_delete, on_synced};
    client_informer_opts_t io = {.resource = &r->res};
    util_error_t err = NULL;
    if (client_informer_start(gc->m->client, &io, &h, r, &r->inf, &err) < 0) {
        char buf[256];
        util_log_warn("garbage-collector: %s: %s", r->plural,
                      util_error_text(err, buf, sizeof(buf)));
        util_error_free(&err);
        r->inf = NULL;
    }
}

static void res_free(ctrl_gc_res_t *r)
{
    if (!r)
        return;
    client_informer_stop(r->inf);
    free(r->group);
    free(r->version);
    free(r->plural);
    free(r->kind);
    free(r);
}

/* ---- discovery ------------------------------------------------------------------------------ */

/* upstream GetDeletableResources: preferred versions, verbs list, watch and delete; events are
 * ignored (upstream's DefaultIgnoredResources). */
static void take_resource_list(struct ctrl_gc *gc, const char *group, const cJSON *list)
{
    const char *gv = ctrl_str(list, "groupVersion");
    const char *slash = gv ? strchr(gv, '/') : NULL;
    const char *version = slash ? slash + 1 : gv;
    const cJSON *res;
    cJSON_ArrayForEach(res, ctrl_get(list, "resources"))
    {
        const char *name = ctrl_str(res, "name"), *kind = ctrl_str(res, "kind");
        if (!name || !kind || !version || strchr(name, '/') || strchr(name, '|'))
            continue;
        if (!strcmp(name, "events") && (!group[0] || !strcmp(group, "events.k8s.io")))
            continue;
        int verbs = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, ctrl_get(res, "verbs"))
        {
            const char *s = cJSON_GetStringValue(v);
            verbs |= s && !strcmp(s, "list")     ? 1
                     : s && !strcmp(s, "watch")  ? 2
                     : s && !strcmp(s, "delete") ? 4
                                                 : 0;
        }
        if (verbs != 7)
            continue;
        char *d = util_strdup_printf("%s|%s|%s|%s|%d", group, version, name, kind,
                                     cJSON_IsTrue(ctrl_get(res, "namespaced")));
        util_strv_push(&gc->disc, d);
        free(d);
    }
}

static void discovery_apply(struct ctrl_gc *gc);

static void disc_answer(struct ctrl_gc *gc, void *ud, client_result_t *res)
{
    const char *group = ud;
    if (ok_status(res))
        take_resource_list(gc, group, res->body);
    else
        gc->disc_failed = true;
    free(ud);
    if (--gc->disc_pending == 0)
        discovery_apply(gc);
}

static void disc_get(struct ctrl_gc *gc, const char *path, const char *group)
{
    gc->disc_pending++;
    ctrl_pending_t *p = gc_pending_f(gc, disc_answer, util_xstrdup(group), free);
    ctrl_pending_sent(
        p, client_request(gc->m->client, "GET", path, NULL, NULL, 0, ctrl_pending_cb, p));
}

static void disc_groups(struct ctrl_gc *gc, void *ud, client_result_t *res)
{
    free(ud);
    if (ok_status(res)) {
        const cJSON *g;
        cJSON_ArrayForEach(g, ctrl_get(res->body, "groups"))
        {
            const char *name = ctrl_str(g, "name");
            const char *gv = ctrl_str(ctrl_get(g, "preferredVersion"), "groupVersion");
            if (!name || !gv || strlen(gv) > 200)
                continue;
            char path[256];
            snprintf(path, sizeof(path), "/apis/%s", gv);
            disc_get(gc, path, name);
        }
    } else {
        gc->disc_failed = true;
    }
    if (--gc->disc_pending == 0)
        discovery_apply(gc);
}

static void discover(struct ctrl_gc *gc)
{
    if (gc->disc_pending) { /* one at a time; look again when it ends */
        gc->disc_again = true;
        return;
    }
    util_strv_clear(&gc->disc);
    gc->disc_failed = false;
    gc->disc_pending = 1;
    disc_get(gc, "/api/v1", "");
    ctrl_pending_t *p = gc_pending_f(gc, disc_groups, NULL, free);
    ctrl_pending_sent(
        p, client_request(gc->m->client, "GET", "/apis", NULL, NULL, 0, ctrl_pending_cb, p));
}

static void disc_timer_fired(uv_timer_t *t)
{
    struct ctrl_gc *gc = t->data;
    if (gc->running)
        discover(gc);
}

static void rediscover_soon(struct ctrl_gc *gc)
{
    uv_timer_start(&gc->disc_timer, disc_timer_fired, GC_REDISCOVER_MS, 0);
}

/* Informers start for new resources; resources gone from discovery lose theirs (only after a
 * discovery that fully succeeded). */
static void discovery_apply(struct ctrl_gc *gc)
{
    for (size_t i = 0; i < gc->nres; i++)
        gc->res[i]->seen = false;
    size_t added = 0;
    for (size_t k = 0; k < gc->disc.n; k++) {
        char *f[5] = {0}, *d = util_xstrdup(gc->disc.v[k]), *p = d;
        for (int j = 0; j < 5 && p; j++) { /* group|version|plural|kind|namespaced */
            f[j] = p;
            p = strchr(p, '|');
            if (p)
                *p++ = '\0';
        }
        if (!f[4]) {
            free(d);
            continue;
        }
        ctrl_gc_res_t *r = (ctrl_gc_res_t *)ctrl_gc_resource(gc, f[0], f[2]);
        if (!r) {
            r = util_xcalloc(1, sizeof(*r));
            r->group = util_xstrdup(f[0]);
            r->version = util_xstrdup(f[1]);
            r->plural = util_xstrdup(f[2]);
            r->kind = util_xstrdup(f[3]);
            r->res = (client_resource_t){r->group, r->version, r->plural, !strcmp(f[4], "1")};
            r->gc = gc;
            gc->res = util_xrealloc(gc->res, (gc->nres + 1) * sizeof(*gc->res));
            gc->res[gc->nres++] = r;
            res_start(gc, r);
            added++;
        }
        r->seen = true;
        free(d);
    }
    size_t removed = 0;
    for (size_t i = 0; i < gc->nres && !gc->disc_failed;) {
        if (gc->res[i]->seen) {
            i++;
            continue;
        }
        res_free(gc->res[i]);
        gc->res[i] = gc->res[--gc->nres];
        removed++;
    }
    if (added || removed)
        util_log_info("garbage-collector: monitoring %zu resources (%zu new, %zu gone)", gc->nres,
                      added, removed);
    if (gc->disc_failed || gc->disc_again) {
        gc->disc_again = false;
        uv_timer_start(&gc->disc_timer, disc_timer_fired, gc->disc_failed ? 2000 : 0, 0);
    }
    gc_kick(gc);
}

/* ---- lifetime ------------------------------------------------------------------------------- */

struct ctrl_gc *ctrl_gc_new(controller_manager_t *m, const char *ca_pem)
{
    struct ctrl_gc *gc = util_xcalloc(1, sizeof(*gc));
    gc->m = m;
    gc->ca_pem = ca_pem ? util_xstrdup(ca_pem) : NULL;
    gc->pod_gc_threshold = CONTROLLER_POD_GC_THRESHOLD;
    gc->q = controller_queue_new();
    uv_timer_init(m->loop, &gc->timer);
    uv_timer_init(m->loop, &gc->disc_timer);
    gc->timer.data = gc->disc_timer.data = gc;
    return gc;
}

void ctrl_gc_start(struct ctrl_gc *gc)
{
    if (!gc || gc->running)
        return;
    static const controller_gc_hooks_t hooks = {hook_delete, hook_orphan, hook_invalid_namespace};
    gc->graph = controller_gc_graph_new(&hooks, gc);
    gc->running = true;
    gc->started_ms = ctrl_now(gc->m);
    discover(gc);
}

void ctrl_gc_stop(struct ctrl_gc *gc)
{
    if (!gc || !gc->running)
        return;
    gc->running = false;
    gc->epoch++;
    for (size_t i = 0; i < gc->nres; i++)
        res_free(gc->res[i]);
    free(gc->res);
    gc->res = NULL;
    gc->nres = 0;
    gc->disc_pending = 0;
    gc->inflight = 0;
    util_strv_clear(&gc->disc);
    util_strv_clear(&gc->missing_nodes);
    controller_gc_graph_free(gc->graph);
    gc->graph = NULL;
    controller_queue_free(gc->q);
    gc->q = controller_queue_new();
    uv_timer_stop(&gc->timer);
    uv_timer_stop(&gc->disc_timer);
}

static void timer_closed(uv_handle_t *h)
{
    struct ctrl_gc *gc = h->data;
    if (++gc->closed < 2)
        return; /* both timers first */
    controller_queue_free(gc->q);
    free(gc->ca_pem);
    free(gc);
}

void ctrl_gc_free(struct ctrl_gc *gc)
{
    if (!gc)
        return;
    ctrl_gc_stop(gc);
    uv_close((uv_handle_t *)&gc->timer, timer_closed);
    uv_close((uv_handle_t *)&gc->disc_timer, timer_closed);
}

void controller_manager_set_pod_gc_threshold(controller_manager_t *m, long threshold)
{
    if (m && m->gc)
        m->gc->pod_gc_threshold = threshold;
}
