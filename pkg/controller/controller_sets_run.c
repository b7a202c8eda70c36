/* controller_sets_run: the StatefulSet and DaemonSet controllers inside the manager: their
 * informers (statefulsets, daemonsets, controllerrevisions, nodes, persistentvolumeclaims; pods
 * come from the manager's), queues, expectations, writes, and the revision history both keep. */
#include "controller/controller_sets.h"

#include <stdlib.h>
#include <string.h>

#include "labels/labels.h"

const client_resource_t CONTROLLER_RES_STS = {"apps", "v1", "statefulsets", true};
const client_resource_t CONTROLLER_RES_DS = {"apps", "v1", "daemonsets", true};
const client_resource_t CONTROLLER_RES_CR = {"apps", "v1", "controllerrevisions", true};
const client_resource_t CONTROLLER_RES_PVC = {"", "v1", "persistentvolumeclaims", true};

static const char *const KIND_NAME[2] = {"StatefulSet", "DaemonSet"};
static const char *const COMPONENT[2] = {"statefulset-controller", "daemonset-controller"};

static ctrl_sets_t *sets_of(controller_manager_t *m)
{
    if (!m->sets) {
        m->sets = util_xcalloc(1, sizeof(*m->sets));
        for (int k = 0; k < 2; k++) {
            m->sets->q[k] = controller_queue_new();
            m->sets->expect[k] = controller_expect_new();
        }
    }
    return m->sets;
}

bool sets_deleting(const cJSON *obj)
{
    const cJSON *d = ctrl_get(ctrl_get(obj, "metadata"), "deletionTimestamp");
    return d && !cJSON_IsNull(d);
}

bool sets_pod_running_ready(const cJSON *pod)
{
    const char *phase = ctrl_str(ctrl_get(pod, "status"), "phase");
    return phase && !strcmp(phase, "Running") && controller_pod_ready(pod) && !sets_deleting(pod);
}

/* ---- events from informers ------------------------------------------------------------------- */

static void enqueue_key(controller_manager_t *m, sets_kind_t k, const char *key)
{
    controller_queue_add(sets_of(m)->q[k], key, ctrl_now(m));
}

static void enqueue_obj(controller_manager_t *m, sets_kind_t k, const cJSON *obj)
{
    char *key = ctrl_key(obj);
    if (key)
        enqueue_key(m, k, key);
    free(key);
}

/* "ns/name" of obj's controlling StatefulSet or DaemonSet. */
static char *owner_key(const cJSON *obj, sets_kind_t *ret)
{
    const cJSON *ref = controller_owner_ref(obj);
    const char *kind = ctrl_str(ref, "kind"), *name = ctrl_str(ref, "name");
    const char *ns = ctrl_str(ctrl_get(obj, "metadata"), "namespace");
    if (!kind || !name || !ns)
        return NULL;
    if (!strcmp(kind, KIND_NAME[SETS_STS]))
        *ret = SETS_STS;
    else if (!strcmp(kind, KIND_NAME[SETS_DS]))
        *ret = SETS_DS;
    else
        return NULL;
    return util_strdup_printf("%s/%s", ns, name);
}

void ctrl_sets_on_pod(controller_manager_t *m, const cJSON *old, const cJSON *pod, bool deleted)
{
    if (!m->sets)
        return;
    sets_kind_t k = SETS_STS;
    char *key = owner_key(pod, &k);
    if (!key)
        return;
    const char *uid = ctrl_str(ctrl_get(pod, "metadata"), "uid");
    if (deleted || sets_deleting(pod))
        controller_expect_deletion_observed(m->sets->expect[k], key, uid);
    else if (!old)
        controller_expect_creation_observed(m->sets->expect[k], key);
    enqueue_key(m, k, key);
    free(key);
}

static void enqueue_all(void *ud, const cJSON *obj)
{
    enqueue_obj(ud, SETS_DS, obj);
}

static void deliver(void *ud, const cJSON *old, const cJSON *obj, bool deleted)
{
    ctrl_sets_ctx_t *c = ud;
    (void)old;
    controller_manager_t *m = c->m;
    ctrl_sets_t *s = m->sets;
    sets_kind_t k = SETS_STS;
    char *key = NULL;
    switch (c->inf) {
    case SETS_INF_STS:
    case SETS_INF_DS:
        k = c->inf == SETS_INF_STS ? SETS_STS : SETS_DS;
        key = ctrl_key(obj);
        if (key && deleted)
            controller_expect_delete(s->expect[k], key);
        if (key)
            enqueue_key(m, k, key);
        break;
    case SETS_INF_CR:
        key = owner_key(obj, &k);
        if (key)
            enqueue_key(m, k, key);
        break;
    case SETS_INF_NODES: /* a node came, went or changed: every DaemonSet looks again */
        if (s->inf[SETS_INF_DS])
            client_informer_foreach(s->inf[SETS_INF_DS], enqueue_all, m);
        break;
    default: /* claims: their StatefulSet is found through the pods' names; nothing to do */
        break;
    }
    free(key);
    ctrl_kick(m);
}

static void on_synced(void *ud)
{
    ctrl_sets_ctx_t *c = ud;
    c->m->sets->synced[c->inf] = true;
    ctrl_kick(c->m);
}

int ctrl_sets_start(controller_manager_t *m, util_error_t *err)
{
    static const client_informer_handlers_t h = {.on_event = deliver, .on_synced = on_synced};
    const client_resource_t *res[SETS_INF_COUNT] = {&CONTROLLER_RES_STS, &CONTROLLER_RES_DS,
                                                    &CONTROLLER_RES_CR, &CLIENT_RES_NODES,
                                                    &CONTROLLER_RES_PVC};
    ctrl_sets_t *s = sets_of(m);
    int rc = 0;
    for (int i = 0; i < SETS_INF_COUNT && rc == 0; i++) {
        s->ctx[i] = (ctrl_sets_ctx_t){m, i};
        client_informer_opts_t io = {.resource = res[i], .transform = client_strip_managed_fields};
        rc = client_informer_start(m->client, &io, &h, &s->ctx[i], &s->inf[i], err);
    }
    return rc;
}

void ctrl_sets_stop(controller_manager_t *m)
{
    if (!m->sets)
        return;
    for (int i = 0; i < SETS_INF_COUNT; i++) {
        if (m->sets->inf[i])
            client_informer_stop(m->sets->inf[i]);
        m->sets->inf[i] = NULL;
        m->sets->synced[i] = false;
    }
}

void ctrl_sets_free(controller_manager_t *m)
{
    if (!m->sets)
        return;
    for (int k = 0; k < 2; k++) {
        controller_queue_free(m->sets->q[k]);
        controller_expect_free(m->sets->expect[k]);
    }
    for (size_t i = 0; i < m->sets->nbackoff; i++)
        free(m->sets->backoff[i].key);
    free(m->sets->backoff);
    free(m->sets);
    m->sets = NULL;
}

bool ctrl_sets_synced(const controller_manager_t *m)
{
    if (!m->sets)
        return false;
    for (int i = 0; i < SETS_INF_COUNT; i++)
        if (!m->sets->synced[i])
            return false;
    return true;
}

int64_t ctrl_sets_next(controller_manager_t *m, uint64_t now)
{
    int64_t next = -1;
    for (int k = 0; m->sets && k < 2; k++) {
        int64_t n = controller_queue_next(m->sets->q[k], now);
        if (n >= 0 && (next < 0 || n < next))
            next = n;
    }
    return next;
}

bool ctrl_sets_run_one(controller_manager_t *m, uint64_t now)
{
    for (int k = 0; m->sets && k < 2; k++) {
        controller_queue_t *q = m->sets->q[k];
        char *key = controller_queue_pop(q, now);
        if (!key)
            continue;
        int rc = k == SETS_STS ? ctrl_sts_sync(m, key) : ctrl_ds_sync(m, key);
        uint64_t t = ctrl_now(m);
        controller_queue_done(q, key, t);
        /* a sync's writes are answered later: failures are counted (and forgotten) by
         * write_done, so a pod that cannot be created is retried with growing back-off */
        if (rc < 0)
            controller_queue_add_rate_limited(q, key, t);
        else if (rc > 0)
            controller_queue_add_after(q, key, (uint64_t)rc, t);
        free(key);
        return true;
    }
    return false;
}

/* ---- writes ---------------------------------------------------------------------------------- */

typedef struct sets_write {
    sets_kind_t kind;
    char *key, *uid, *ok_msg, *ok_reason, *fail_reason, *fail_msg, *what;
    cJSON *parent;
    sets_expect_t expect;
    bool conflict_ok, is_delete, append_name;
} sets_write_t;

static void write_free(void *p)
{
    sets_write_t *w = p;
    free(w->key);
    free(w->uid);
    free(w->ok_msg);
    free(w->ok_reason);
    free(w->fail_reason);
    free(w->fail_msg);
    free(w->what);
    cJSON_Delete(w->parent);
    free(w);
}

static char *dup_or_null(const char *s)
{
    return s ? util_xstrdup(s) : NULL;
}

static void write_done(controller_manager_t *m, void *ud, client_result_t *res)
{
    sets_write_t *w = ud;
    ctrl_sets_t *s = sets_of(m);
    bool ok = !res->error && res->status >= 200 && res->status < 300;
    bool gone = w->is_delete && res->status == 404;
    bool exists = w->conflict_ok && res->status == 409;
    if (ok && w->expect != SETS_EXPECT_NONE)
        controller_queue_forget(s->q[w->kind], w->key);
    if (ok && w->ok_msg) {
        const char *name = ctrl_str(ctrl_get(res->body, "metadata"), "name");
        ctrl_event(m, w->parent, KIND_NAME[w->kind], "apps/v1", "Normal", w->ok_reason,
                   COMPONENT[w->kind], "%s%s", w->ok_msg, w->append_name && name ? name : "");
    }
    if (!ok && !gone && !exists) {
        const char *why = res->st.message ? res->st.message : "request failed";
        util_log_warn("%s %s: %s: %d %s", COMPONENT[w->kind], w->key, w->what, res->status, why);
        if (w->fail_msg)
            ctrl_event(m, w->parent, KIND_NAME[w->kind], "apps/v1", "Warning", w->fail_reason,
                       COMPONENT[w->kind], "%s error: %s", w->fail_msg, why);
        controller_queue_add_rate_limited(s->q[w->kind], w->key, ctrl_now(m));
    }
    if (w->expect == SETS_EXPECT_CREATE && !ok)
        controller_expect_creation_observed(s->expect[w->kind], w->key);
    if (w->expect == SETS_EXPECT_DELETE && !ok)
        controller_expect_deletion_observed(s->expect[w->kind], w->key, w->uid);
    write_free(w);
}

static sets_write_t *write_new(controller_manager_t *m, const sets_write_opts_t *o,
                               const char *what)
{
    sets_write_t *w = util_xcalloc(1, sizeof(*w));
    w->kind = o->kind;
    w->key = util_xstrdup(o->key);
    w->uid = dup_or_null(o->uid);
    w->ok_msg = dup_or_null(o->ok_msg);
    w->ok_reason = dup_or_null(o->ok_reason);
    w->fail_reason = dup_or_null(o->fail_reason);
    w->fail_msg = dup_or_null(o->fail_msg);
    w->what = util_xstrdup(what);
    w->parent = o->parent ? cJSON_Duplicate(o->parent, true) : NULL;
    w->expect = o->expect;
    w->conflict_ok = o->conflict_ok;
    w->append_name = o->ok_append_name;
    ctrl_sets_t *s = sets_of(m);
    uint64_t now = ctrl_now(m);
    /* one sync may issue several: each raises what is expected */
    if (o->expect == SETS_EXPECT_CREATE)
        controller_expect_raise(s->expect[o->kind], o->key, 1, NULL, now);
    else if (o->expect == SETS_EXPECT_DELETE && o->uid)
        controller_expect_raise(s->expect[o->kind], o->key, 0, o->uid, now);
    return w;
}

void sets_create(controller_manager_t *m, const sets_write_opts_t *o, const client_resource_t *res,
                 const char *ns, const cJSON *obj)
{
    sets_write_t *w = write_new(m, o, res->plural);
    ctrl_pending_t *p = ctrl_pending_new(m, write_done, w, write_free);
    ctrl_pending_sent(p, client_create(m->client, res, ns, obj, ctrl_pending_cb, p));
}

void sets_delete(controller_manager_t *m, const sets_write_opts_t *o, const client_resource_t *res,
                 const char *ns, const char *name)
{
    sets_write_t *w = write_new(m, o, res->plural);
    w->is_delete = true;
    ctrl_pending_t *p = ctrl_pending_new(m, write_done, w, write_free);
    ctrl_pending_sent(p, client_delete(m->client, res, ns, name, ctrl_pending_cb, p));
}

void sets_patch(controller_manager_t *m, const sets_write_opts_t *o, const client_resource_t *res,
                const char *ns, const char *name, const char *sub, const cJSON *patch)
{
    sets_write_t *w = write_new(m, o, res->plural);
    ctrl_pending_t *p = ctrl_pending_new(m, write_done, w, write_free);
    ctrl_pending_sent(p, client_patch(m->client, res, ns, name, sub, CLIENT_PATCH_MERGE, patch,
                                      ctrl_pending_cb, p));
}

/* ---- failed daemon pods' back-off --------------------------------------------------------------
 */

static sets_backoff_t *backoff_find(ctrl_sets_t *s, const char *key)
{
    for (size_t i = 0; i < s->nbackoff; i++)
        if (!strcmp(s->backoff[i].key, key))
            return &s->backoff[i];
    return NULL;
}

uint64_t sets_backoff_wait(controller_manager_t *m, const char *key, uint64_t now)
{
    sets_backoff_t *b = backoff_find(sets_of(m), key);
    return b && now < b->until_ms ? b->until_ms - now : 0;
}

void sets_backoff_next(controller_manager_t *m, const char *key, uint64_t now)
{
    ctrl_sets_t *s = sets_of(m);
    /* entries idle for twice the longest delay are forgotten (upstream's GC) */
    for (size_t i = 0; i < s->nbackoff;) {
        if (now > s->backoff[i].until_ms + 2 * SETS_BACKOFF_MAX_MS) {
            free(s->backoff[i].key);
            s->backoff[i] = s->backoff[--s->nbackoff];
        } else {
            i++;
        }
    }
    sets_backoff_t *b = backoff_find(s, key);
    if (!b) {
        if (s->nbackoff == s->capbackoff) {
            s->capbackoff = s->capbackoff ? s->capbackoff * 2 : 8;
            s->backoff = util_xrealloc(s->backoff, s->capbackoff * sizeof(*s->backoff));
        }
        b = &s->backoff[s->nbackoff++];
        *b = (sets_backoff_t){util_xstrdup(key), 0, 0};
    }
    /* a pod failing again long after the last one starts over, as flowcontrol.Backoff */
    if (b->delay_ms == 0 || now > b->until_ms + 2 * SETS_BACKOFF_MAX_MS)
        b->delay_ms = SETS_BACKOFF_MIN_MS;
    else if ((b->delay_ms *= 2) > SETS_BACKOFF_MAX_MS)
        b->delay_ms = SETS_BACKOFF_MAX_MS;
    b->until_ms = now + b->delay_ms;
}

/* ---- owned objects and history -------------------------------------------------------------- */

typedef struct owned_ctx {
    controller_manager_t *m;
    sets_kind_t kind;
    const cJSON *set;
    const char *ns, *uid, *name;
    labels_selector_t *sel;
    bool pods, set_deleting;
    const cJSON **out;
    size_t n, cap;
} owned_ctx_t;

/* Adopt (add the set's controller reference) or release (drop it) obj with a merge patch that
 * carries obj's UID as a precondition, as upstream's ControllerRefManager. */
static void set_owner(owned_ctx_t *c, const cJSON *obj, bool adopt)
{
    const cJSON *meta = ctrl_get(obj, "metadata");
    cJSON *patch = cJSON_CreateObject();
    cJSON *pm = cJSON_AddObjectToObject(patch, "metadata");
    cJSON *refs = cJSON_AddArrayToObject(pm, "ownerReferences");
    const cJSON *r;
    cJSON_ArrayForEach(r, ctrl_get(meta, "ownerReferences"))
    {
        const char *u = ctrl_str(r, "uid");
        if (!adopt && u && !strcmp(u, c->uid))
            continue;
        cJSON_AddItemToArray(refs, cJSON_Duplicate(r, true));
    }
    if (adopt) {
        cJSON *ref = cJSON_CreateObject();
        cJSON_AddStringToObject(ref, "apiVersion", "apps/v1");
        cJSON_AddStringToObject(ref, "kind", KIND_NAME[c->kind]);
        cJSON_AddStringToObject(ref, "name", c->name);
        cJSON_AddStringToObject(ref, "uid", c->uid);
        cJSON_AddBoolToObject(ref, "controller", true);
        cJSON_AddBoolToObject(ref, "blockOwnerDeletion", true);
        cJSON_AddItemToArray(refs, ref);
    }
    if (cJSON_GetArraySize(refs) == 0)
        cJSON_ReplaceItemInObjectCaseSensitive(pm, "ownerReferences", cJSON_CreateNull());
    cJSON_AddStringToObject(pm, "uid", ctrl_str(meta, "uid"));
    sets_write_opts_t o = {.kind = c->kind, .key = NULL};
    char *key = ctrl_key(c->set);
    o.key = key ? key : "";
    sets_patch(c->m, &o, c->pods ? &CLIENT_RES_PODS : &CONTROLLER_RES_CR, c->ns,
               ctrl_str(meta, "name"), NULL, patch);
    free(key);
    cJSON_Delete(patch);
}

static void collect_owned(void *ud, const cJSON *obj)
{
    owned_ctx_t *c = ud;
    const cJSON *meta = ctrl_get(obj, "metadata");
    const char *ns = ctrl_str(meta, "namespace");
    if (!ns || strcmp(ns, c->ns))
        return;
    const cJSON *ref = controller_owner_ref(obj);
    bool matches = c->sel && labels_selector_matches_object(c->sel, obj);
    if (ref) {
        const char *ruid = ctrl_str(ref, "uid");
        if (!ruid || strcmp(ruid, c->uid))
            return;
        if (!matches && c->sel) { /* ours, but no longer selected: let go */
            if (!sets_deleting(obj) && !c->set_deleting)
                set_owner(c, obj, false);
            return;
        }
    } else {
        int64_t ord;
        /* orphans that match are adopted; StatefulSets only take pods named like theirs */
        if (!matches || c->set_deleting || sets_deleting(obj) ||
            (c->pods && c->kind == SETS_STS &&
             !controller_sts_ordinal(c->name, ctrl_str(meta, "name"), &ord)))
            return;
        set_owner(c, obj, true);
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->out = util_xrealloc(c->out, c->cap * sizeof(*c->out));
    }
    c->out[c->n++] = obj;
}

const cJSON **sets_owned(controller_manager_t *m, sets_kind_t kind, const cJSON *set, int inf,
                         size_t *ret_n)
{
    const cJSON *meta = ctrl_get(set, "metadata");
    owned_ctx_t c = {.m = m,
                     .kind = kind,
                     .set = set,
                     .ns = ctrl_str(meta, "namespace"),
                     .uid = ctrl_str(meta, "uid"),
                     .name = ctrl_str(meta, "name"),
                     .pods = inf < 0,
                     .set_deleting = sets_deleting(set)};
    *ret_n = 0;
    if (!c.ns || !c.uid || !c.name)
        return NULL;
    util_error_t err = NULL;
    if (labels_selector_from_json(ctrl_get(ctrl_get(set, "spec"), "selector"), &c.sel, &err) < 0 ||
        (c.sel && labels_selector_empty(c.sel))) {
        /* validation keeps these out; adopt nothing, keep what is ours */
        util_error_freep(&err);
        c.sel = labels_selector_free(c.sel);
    }
    client_informer_t *i = c.pods ? m->inf[CTRL_INF_PODS] : m->sets->inf[inf];
    if (i)
        client_informer_foreach(i, collect_owned, &c);
    labels_selector_free(c.sel);
    *ret_n = c.n;
    return c.out;
}

static void bump_collisions(controller_manager_t *m, sets_kind_t kind, const char *key,
                            const cJSON *set)
{
    const cJSON *meta = ctrl_get(set, "metadata");
    int64_t cc = ctrl_int(ctrl_get(set, "status"), "collisionCount", 0);
    cJSON *patch = cJSON_CreateObject();
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(patch, "status"), "collisionCount",
                            (double)(cc + 1));
    sets_write_opts_t o = {.kind = kind, .key = key};
    sets_patch(m, &o, kind == SETS_STS ? &CONTROLLER_RES_STS : &CONTROLLER_RES_DS,
               ctrl_str(meta, "namespace"), ctrl_str(meta, "name"), "status", patch);
    cJSON_Delete(patch);
}

const cJSON *sets_update_revision(controller_manager_t *m, sets_kind_t kind, const char *key,
                                  const cJSON *set, const cJSON **revs, size_t nrevs)
{
    const cJSON *meta = ctrl_get(set, "metadata");
    const char *ns = ctrl_str(meta, "namespace");
    int64_t cc = ctrl_int(ctrl_get(set, "status"), "collisionCount", 0);
    cJSON *data = controller_revision_data(set);
    const cJSON *equal = NULL;
    for (size_t i = 0; i < nrevs; i++) /* sorted: the last equal one is the newest */
        if (controller_revision_data_equal(ctrl_get(revs[i], "data"), data))
            equal = revs[i];
    int64_t next = controller_revisions_next(revs, nrevs);
    sets_write_opts_t o = {.kind = kind, .key = key};
    if (equal) {
        /* upstream: an earlier revision rolled back to becomes the newest */
        if (nrevs && equal != revs[nrevs - 1]) {
            cJSON *patch = cJSON_CreateObject();
            cJSON_AddNumberToObject(patch, "revision", (double)next);
            sets_patch(m, &o, &CONTROLLER_RES_CR, ns, ctrl_str(ctrl_get(equal, "metadata"), "name"),
                       NULL, patch);
            cJSON_Delete(patch);
        }
        cJSON_Delete(data);
        return equal;
    }
    char hash[16];
    if (kind == SETS_DS)
        controller_template_hash(ctrl_get(ctrl_get(set, "spec"), "template"), cc, hash);
    else
        controller_revision_hash(data, cc, hash);
    cJSON *cr = controller_revision_new(set, KIND_NAME[kind], "apps/v1", hash, data, next);
    const cJSON *clash = client_informer_get(m->sets->inf[SETS_INF_CR], ns,
                                             ctrl_str(ctrl_get(cr, "metadata"), "name"));
    if (clash) /* same name, other data: a hash collision; the next hash differs */
        bump_collisions(m, kind, key, set);
    else
        sets_create(m, &o, &CONTROLLER_RES_CR, ns, cr);
    cJSON_Delete(cr);
    cJSON_Delete(data);
    return NULL;
}

void sets_prune_history(controller_manager_t *m, sets_kind_t kind, const char *key,
                        const cJSON *set, const cJSON **revs, size_t nrevs, const char *const *live,
                        size_t nlive)
{
    if (nrevs == 0)
        return;
    int64_t limit = ctrl_int(ctrl_get(set, "spec"), "revisionHistoryLimit", 10);
    size_t *idx = util_xcalloc(nrevs, sizeof(*idx));
    size_t n = controller_revisions_prune(revs, nrevs, live, nlive, limit, idx);
    sets_write_opts_t o = {.kind = kind, .key = key};
    for (size_t i = 0; i < n; i++) {
        const cJSON *meta = ctrl_get(revs[idx[i]], "metadata");
        sets_delete(m, &o, &CONTROLLER_RES_CR, ctrl_str(meta, "namespace"), ctrl_str(meta, "name"));
    }
    free(idx);
}
