/* controller_gc_delete: the collector's work on one key: attemptToDelete (read the item live,
 * classify its owners with live GETs, then keep it, drop references, or delete it with the
 * right policy; an owner deleting in the foreground loses its finalizer once no blocking
 * dependent is left) and attemptToOrphan (dependents lose their reference, then the owner its
 * orphan finalizer), as upstream's garbagecollector.go. */
#include "controller/controller_gc.h"

#include <stdlib.h>
#include <string.h>

static const char *meta_str(const cJSON *obj, const char *k)
{
    return ctrl_str(ctrl_get(obj, "metadata"), k);
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
    ctrl_gc_kick(gc);
}

/* upstream processDeletingDependentsItem: with no blocking dependent left the
 * foregroundDeletion finalizer goes; otherwise the blocking dependents are looked at. */
static void deleting_dependents(struct ctrl_gc *gc, attempt_t *a, controller_gc_node_t *n);

static void item_got(struct ctrl_gc *gc, void *ud, client_result_t *res)
{
    attempt_t *a = take(ud);
    if (res->status == 404 ||
        (ctrl_gc_ok(res) &&
         strcmp(meta_str(res->body, "uid") ? meta_str(res->body, "uid") : "", a->id.uid))) {
        virtual_delete(gc, a);
        attempt_end(gc, a, 0);
        return;
    }
    if (!ctrl_gc_ok(res)) {
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
        ctrl_gc_resource_of_kind(gc, ctrl_str(ref, "apiVersion"), ctrl_str(ref, "kind"));
    const char *ns = r && r->res.namespaced ? a->id.ns : "";
    const char *got = ctrl_gc_ok(res) ? meta_str(res->body, "uid") : NULL;
    if (res->status == 404 || (ctrl_gc_ok(res) && (!got || strcmp(got, uid)))) {
        controller_gc_absent_add(gc->graph, uid, ns);
        a->dangling++;
        util_strv_push(&a->dropped, uid);
    } else if (!ctrl_gc_ok(res)) {
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
        const ctrl_gc_res_t *r = ctrl_gc_resource_of_kind(gc, av ? av : "", kind ? kind : "");
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
    if (!ctrl_gc_ok(res))
        util_log_v(1, "garbage-collector: %s %s/%s: %d %s", a->id.kind, a->id.ns, a->id.name,
                   res->status, res->st.message ? res->st.message : "");
    attempt_end(gc, a, ctrl_gc_ok(res) ? 0 : -1);
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
    if (!ctrl_gc_ok(res)) {
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

void ctrl_gc_attempt_delete(struct ctrl_gc *gc, const char *key, const char *uid)
{
    controller_gc_node_t *n = controller_gc_node(gc->graph, uid);
    if (!n || (n->being_deleted && !n->deleting_dependents)) {
        ctrl_gc_finish(gc, key, 0); /* being deleted: a one-way trip, its dependents follow */
        return;
    }
    const ctrl_gc_res_t *r = ctrl_gc_resource_of_kind(gc, n->api_version, n->kind);
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
    int rc = ctrl_gc_ok(res) || res->status == 404 ? 0 : -1;
    ctrl_gc_finish(gc, s->o->key, rc);
    orphaning_free(s->o);
    free(s->ns);
    free(s->name);
    free(s);
}

static void orphan_owner_got(struct ctrl_gc *gc, void *ud, client_result_t *res)
{
    orphan_step_t *s = ud;
    if (!ctrl_gc_ok(res) ||
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
    if (!ctrl_gc_ok(res) && res->status != 404)
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
    if (!ctrl_gc_ok(res)) {
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
void ctrl_gc_attempt_orphan(struct ctrl_gc *gc, const char *key, const char *uid)
{
    controller_gc_node_t *n = controller_gc_node(gc->graph, uid);
    const ctrl_gc_res_t *r = n ? ctrl_gc_resource_of_kind(gc, n->api_version, n->kind) : NULL;
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
        const ctrl_gc_res_t *dr = ctrl_gc_resource_of_kind(gc, d->api_version, d->kind);
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
