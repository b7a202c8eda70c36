/* controller_gc_graph: the garbage collector's ownerReferences graph, upstream's GraphBuilder
 * (pkg/controller/garbagecollector/graph_builder.go): nodes by uid, each with its owners (as
 * referenced) and dependents; owners not seen yet are "virtual" nodes the collector verifies
 * with a live GET. Informer events update the graph and tell the collector what to look at. */
#include "controller/controller_gc.h"

#include <stdlib.h>
#include <string.h>

#define NBUCKETS   4096u
#define ABSENT_MAX 4096u /* upstream keeps an LRU of 500 absent owners */

struct controller_gc_graph {
    controller_gc_hooks_t h;
    void *ud;
    controller_gc_node_t *buckets[NBUCKETS];
    size_t count;
    util_strv_t absent; /* "uid/ns" */
};

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *str(const cJSON *o, const char *k)
{
    const char *s = cJSON_GetStringValue(get(o, k));
    return s ? s : "";
}

static unsigned bucket(const char *uid)
{
    uint32_t h = 2166136261u;
    for (; *uid; uid++)
        h = (h ^ (unsigned char)*uid) * 16777619u;
    return h % NBUCKETS;
}

controller_gc_graph_t *controller_gc_graph_new(const controller_gc_hooks_t *h, void *ud)
{
    controller_gc_graph_t *g = util_xcalloc(1, sizeof(*g));
    g->h = *h;
    g->ud = ud;
    return g;
}

static void refs_free(controller_gc_ref_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].api_version);
        free(r[i].kind);
        free(r[i].name);
        free(r[i].uid);
    }
    free(r);
}

static void node_free(controller_gc_node_t *n)
{
    free(n->uid);
    free(n->api_version);
    free(n->kind);
    free(n->ns);
    free(n->name);
    refs_free(n->owners, n->nowners);
    free(n->deps);
    free(n);
}

void controller_gc_graph_free(controller_gc_graph_t *g)
{
    if (!g)
        return;
    for (unsigned i = 0; i < NBUCKETS; i++)
        for (controller_gc_node_t *n = g->buckets[i], *next; n; n = next) {
            next = n->next;
            node_free(n);
        }
    util_strv_clear(&g->absent);
    free(g);
}

controller_gc_node_t *controller_gc_node(const controller_gc_graph_t *g, const char *uid)
{
    if (!uid)
        return NULL;
    for (controller_gc_node_t *n = g->buckets[bucket(uid)]; n; n = n->next)
        if (!strcmp(n->uid, uid))
            return n;
    return NULL;
}

size_t controller_gc_count(const controller_gc_graph_t *g)
{
    return g->count;
}

static void node_insert(controller_gc_graph_t *g, controller_gc_node_t *n)
{
    unsigned b = bucket(n->uid);
    n->next = g->buckets[b];
    g->buckets[b] = n;
    g->count++;
}

static void node_unlink(controller_gc_graph_t *g, controller_gc_node_t *n)
{
    for (controller_gc_node_t **p = &g->buckets[bucket(n->uid)]; *p; p = &(*p)->next)
        if (*p == n) {
            *p = n->next;
            g->count--;
            return;
        }
}

static void dep_add(controller_gc_node_t *owner, controller_gc_node_t *dep)
{
    for (size_t i = 0; i < owner->ndeps; i++)
        if (owner->deps[i] == dep)
            return;
    if (owner->ndeps == owner->capdeps) {
        owner->capdeps = owner->capdeps ? owner->capdeps * 2 : 4;
        owner->deps = util_xrealloc(owner->deps, owner->capdeps * sizeof(*owner->deps));
    }
    owner->deps[owner->ndeps++] = dep;
}

static void dep_remove(controller_gc_node_t *owner, const controller_gc_node_t *dep)
{
    for (size_t i = 0; i < owner->ndeps; i++)
        if (owner->deps[i] == dep) {
            owner->deps[i] = owner->deps[--owner->ndeps];
            return;
        }
}

/* ---- object fields ------------------------------------------------------------------------ */

static controller_gc_ref_t *refs_of(const cJSON *meta, size_t *ret_n)
{
    const cJSON *refs = get(meta, "ownerReferences");
    size_t n = 0, max = (size_t)cJSON_GetArraySize(refs);
    controller_gc_ref_t *r = max ? util_xcalloc(max, sizeof(*r)) : NULL;
    const cJSON *e;
    cJSON_ArrayForEach(e, refs)
    {
        if (!str(e, "uid")[0])
            continue;
        r[n] = (controller_gc_ref_t){util_xstrdup(str(e, "apiVersion")),
                                     util_xstrdup(str(e, "kind")),
                                     util_xstrdup(str(e, "name")),
                                     util_xstrdup(str(e, "uid")),
                                     cJSON_IsTrue(get(e, "blockOwnerDeletion")),
                                     cJSON_IsTrue(get(e, "controller"))};
        n++;
    }
    *ret_n = n;
    return r;
}

bool controller_gc_has_finalizer(const cJSON *obj, const char *name)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, get(get(obj, "metadata"), "finalizers"))
    {
        if (cJSON_IsString(f) && !strcmp(f->valuestring, name))
            return true;
    }
    return false;
}

static bool being_deleted(const cJSON *obj)
{
    return obj && get(get(obj, "metadata"), "deletionTimestamp") != NULL;
}

static const controller_gc_ref_t *ref_to(const controller_gc_node_t *n, const char *uid)
{
    for (size_t i = 0; i < n->nowners; i++)
        if (!strcmp(n->owners[i].uid, uid))
            return &n->owners[i];
    return NULL;
}

static bool coordinates_match(const controller_gc_ref_t *r, const controller_gc_node_t *owner)
{
    return !strcmp(r->api_version, owner->api_version) && !strcmp(r->kind, owner->kind) &&
           !strcmp(r->name, owner->name);
}

/* ---- graph changes ------------------------------------------------------------------------ */

/* upstream addDependentToOwners: owners not in the graph become virtual nodes to verify; a
 * reference whose coordinates or namespace disagree with the owner seen makes n suspect. */
static void add_to_owners(controller_gc_graph_t *g, controller_gc_node_t *n,
                          const controller_gc_ref_t *refs, size_t nrefs)
{
    bool suspect = false;
    for (size_t i = 0; i < nrefs; i++) {
        controller_gc_node_t *o = controller_gc_node(g, refs[i].uid);
        if (!o) {
            o = util_xcalloc(1, sizeof(*o));
            o->uid = util_xstrdup(refs[i].uid);
            o->api_version = util_xstrdup(refs[i].api_version);
            o->kind = util_xstrdup(refs[i].kind);
            o->name = util_xstrdup(refs[i].name);
            o->ns = util_xstrdup(n->ns);
            o->virt = true;
            node_insert(g, o);
            dep_add(o, n);
            g->h.attempt_delete(g->ud, o->uid);
            continue;
        }
        dep_add(o, n);
        if (o->ns[0] && strcmp(o->ns, n->ns)) {
            suspect = true; /* a namespaced owner in another namespace cannot be ours */
            if (!o->virt && g->h.invalid_namespace)
                g->h.invalid_namespace(g->ud, n, &refs[i]);
        } else if (!coordinates_match(&refs[i], o))
            suspect = true;
        else if (!o->ns[0] && o->virt && strcmp(o->ns, n->ns))
            suspect = true;
    }
    if (suspect)
        g->h.attempt_delete(g->ud, n->uid);
}

static void remove_from_owners(controller_gc_graph_t *g, controller_gc_node_t *n,
                               const controller_gc_ref_t *refs, size_t nrefs)
{
    for (size_t i = 0; i < nrefs; i++) {
        controller_gc_node_t *o = controller_gc_node(g, refs[i].uid);
        if (o)
            dep_remove(o, n);
    }
}

/* upstream processTransitions: deletion starting with the orphan finalizer orphans the
 * dependents; with foregroundDeletion every dependent is looked at, then the owner. */
static bool starts_with(const cJSON *old, const cJSON *obj, const char *fin)
{
    if (!being_deleted(obj) || !controller_gc_has_finalizer(obj, fin))
        return false;
    return !old || !being_deleted(old) || !controller_gc_has_finalizer(old, fin);
}

static void transitions(controller_gc_graph_t *g, const cJSON *old, const cJSON *obj,
                        controller_gc_node_t *n)
{
    if (starts_with(old, obj, CONTROLLER_GC_FIN_ORPHAN)) {
        g->h.attempt_orphan(g->ud, n->uid);
        return;
    }
    if (starts_with(old, obj, CONTROLLER_GC_FIN_FOREGROUND)) {
        n->deleting_dependents = true;
        for (size_t i = 0; i < n->ndeps; i++)
            g->h.attempt_delete(g->ud, n->deps[i]->uid);
        g->h.attempt_delete(g->ud, n->uid);
    }
}

static void set_identity(controller_gc_node_t *n, const cJSON *obj)
{
    const cJSON *meta = get(obj, "metadata");
    free(n->api_version);
    free(n->kind);
    free(n->ns);
    free(n->name);
    n->api_version = util_xstrdup(str(obj, "apiVersion"));
    n->kind = util_xstrdup(str(obj, "kind"));
    n->ns = util_xstrdup(str(meta, "namespace"));
    n->name = util_xstrdup(str(meta, "name"));
}

/* A virtual node observed for real: dependents that named it differently are suspect. */
static void observe_virtual(controller_gc_graph_t *g, controller_gc_node_t *n, const cJSON *obj)
{
    n->virt = false;
    const cJSON *meta = get(obj, "metadata");
    const char *ns = str(meta, "namespace");
    controller_gc_node_t seen = {.api_version = (char *)str(obj, "apiVersion"),
                                 .kind = (char *)str(obj, "kind"),
                                 .name = (char *)str(meta, "name")};
    for (size_t i = 0; i < n->ndeps; i++) {
        const controller_gc_ref_t *r = ref_to(n->deps[i], n->uid);
        bool other_ns = ns[0] && strcmp(ns, n->deps[i]->ns);
        if (other_ns && r && g->h.invalid_namespace)
            g->h.invalid_namespace(g->ud, n->deps[i], r);
        if (other_ns || !r || !coordinates_match(r, &seen))
            g->h.attempt_delete(g->ud, n->deps[i]->uid);
    }
    set_identity(n, obj);
}

/* upstream referencesDiffs + addUnblockedOwnersToDeleteQueue for an update. */
static void update_owners(controller_gc_graph_t *g, controller_gc_node_t *n,
                          controller_gc_ref_t *refs, size_t nrefs)
{
    bool changed = nrefs != n->nowners;
    for (size_t i = 0; i < n->nowners; i++) {
        const controller_gc_ref_t *o = &n->owners[i];
        const controller_gc_ref_t *now = NULL;
        for (size_t j = 0; j < nrefs; j++)
            if (!strcmp(refs[j].uid, o->uid))
                now = &refs[j];
        if (!now ||
            !coordinates_match(now, &(controller_gc_node_t){.api_version = o->api_version,
                                                            .kind = o->kind,
                                                            .name = o->name}) ||
            now->block != o->block || now->controller != o->controller)
            changed = true;
        if (o->block && (!now || !now->block)) { /* an owner waiting for us may proceed */
            controller_gc_node_t *on = controller_gc_node(g, o->uid);
            if (on)
                g->h.attempt_delete(g->ud, on->uid);
        }
    }
    if (!changed) {
        refs_free(refs, nrefs);
        return;
    }
    controller_gc_ref_t *old = n->owners;
    size_t nold = n->nowners;
    remove_from_owners(g, n, old, nold);
    n->owners = refs;
    n->nowners = nrefs;
    /* only owners new to the node are checked (and verified when virtual) */
    controller_gc_ref_t *added = util_xcalloc(nrefs ? nrefs : 1, sizeof(*added));
    size_t nadded = 0;
    for (size_t j = 0; j < nrefs; j++) {
        bool had = false;
        for (size_t i = 0; i < nold; i++)
            had |= !strcmp(old[i].uid, refs[j].uid);
        controller_gc_node_t *o = controller_gc_node(g, refs[j].uid);
        if (had && o)
            dep_add(o, n);
        else
            added[nadded++] = refs[j];
    }
    add_to_owners(g, n, added, nadded);
    free(added); /* shallow copies of n->owners */
    refs_free(old, nold);
}

void controller_gc_observe(controller_gc_graph_t *g, const cJSON *old, const cJSON *obj)
{
    const cJSON *meta = get(obj, "metadata");
    const char *uid = str(meta, "uid");
    if (!uid[0])
        return;
    controller_gc_node_t *n = controller_gc_node(g, uid);
    size_t nrefs = 0;
    controller_gc_ref_t *refs = refs_of(meta, &nrefs);
    if (!n) {
        n = util_xcalloc(1, sizeof(*n));
        n->uid = util_xstrdup(uid);
        set_identity(n, obj);
        n->owners = refs;
        n->nowners = nrefs;
        n->being_deleted = being_deleted(obj);
        n->deleting_dependents =
            n->being_deleted && controller_gc_has_finalizer(obj, CONTROLLER_GC_FIN_FOREGROUND);
        node_insert(g, n);
        add_to_owners(g, n, n->owners, n->nowners);
        transitions(g, old, obj, n);
        return;
    }
    if (n->virt)
        observe_virtual(g, n, obj);
    else if (strcmp(n->api_version, str(obj, "apiVersion")) || strcmp(n->kind, str(obj, "kind")))
        set_identity(n, obj);
    update_owners(g, n, refs, nrefs);
    if (being_deleted(obj))
        n->being_deleted = true;
    transitions(g, old, obj, n);
}

/* Removes n: its dependents are looked at (their owner is gone), and owners deleting their
 * dependents may now finish. */
static void remove_node(controller_gc_graph_t *g, controller_gc_node_t *n)
{
    node_unlink(g, n);
    remove_from_owners(g, n, n->owners, n->nowners);
    if (n->ndeps)
        controller_gc_absent_add(g, n->uid, n->ns);
    for (size_t i = 0; i < n->ndeps; i++)
        g->h.attempt_delete(g->ud, n->deps[i]->uid);
    for (size_t i = 0; i < n->nowners; i++) {
        controller_gc_node_t *o = controller_gc_node(g, n->owners[i].uid);
        if (o && o->deleting_dependents)
            g->h.attempt_delete(g->ud, o->uid);
    }
    node_free(n);
}

void controller_gc_forget(controller_gc_graph_t *g, const cJSON *obj)
{
    controller_gc_node_t *n = controller_gc_node(g, str(get(obj, "metadata"), "uid"));
    if (n)
        remove_node(g, n);
}

static bool same_identity(const controller_gc_node_t *a, const controller_gc_node_t *b)
{
    return !strcmp(a->api_version, b->api_version) && !strcmp(a->kind, b->kind) &&
           !strcmp(a->name, b->name) && !strcmp(a->ns, b->ns);
}

/* upstream's virtual delete event: a node seen under other coordinates than the ones verified
 * absent stays; the dependents that named the absent coordinates are looked at again. */
void controller_gc_virtual_delete(controller_gc_graph_t *g, const controller_gc_node_t *id)
{
    controller_gc_node_t *n = controller_gc_node(g, id->uid);
    if (!n)
        return;
    size_t mismatched = 0;
    for (size_t i = 0; i < n->ndeps; i++) {
        const controller_gc_ref_t *r = ref_to(n->deps[i], n->uid);
        if ((id->ns[0] && strcmp(id->ns, n->deps[i]->ns)) || !r || !coordinates_match(r, id))
            mismatched++;
    }
    if ((!n->virt && !same_identity(n, id)) || (n->virt && mismatched)) {
        controller_gc_absent_add(g, id->uid, id->ns);
        for (size_t i = 0; i < n->ndeps; i++) {
            const controller_gc_ref_t *r = ref_to(n->deps[i], n->uid);
            if (r && coordinates_match(r, id) && (!id->ns[0] || !strcmp(id->ns, n->deps[i]->ns)))
                g->h.attempt_delete(g->ud, n->deps[i]->uid);
        }
        if (n->virt && same_identity(n, id)) { /* try the other coordinates next */
            for (size_t i = 0; i < n->ndeps; i++) {
                const controller_gc_ref_t *r = ref_to(n->deps[i], n->uid);
                if (r && !coordinates_match(r, id)) {
                    free(n->api_version);
                    free(n->kind);
                    free(n->name);
                    n->api_version = util_xstrdup(r->api_version);
                    n->kind = util_xstrdup(r->kind);
                    n->name = util_xstrdup(r->name);
                    free(n->ns);
                    n->ns = util_xstrdup(n->deps[i]->ns);
                    g->h.attempt_delete(g->ud, n->uid);
                    break;
                }
            }
        }
        return;
    }
    remove_node(g, n);
}

size_t controller_gc_blocking(const controller_gc_node_t *n, controller_gc_node_t ***ret)
{
    size_t k = 0;
    *ret = NULL;
    for (size_t i = 0; i < n->ndeps; i++) {
        const controller_gc_ref_t *r = ref_to(n->deps[i], n->uid);
        if (r && r->block) {
            if (!k)
                *ret = util_xcalloc(n->ndeps, sizeof(**ret));
            (*ret)[k++] = n->deps[i];
        }
    }
    return k;
}

/* ---- absent owners ------------------------------------------------------------------------ */

void controller_gc_absent_add(controller_gc_graph_t *g, const char *uid, const char *ns)
{
    if (controller_gc_absent_has(g, uid, ns))
        return;
    if (g->absent.n >= ABSENT_MAX)
        util_strv_clear(&g->absent); /* forgetting only costs a GET */
    char *k = util_strdup_printf("%s/%s", uid, ns ? ns : "");
    util_strv_push(&g->absent, k);
    free(k);
}

bool controller_gc_absent_has(const controller_gc_graph_t *g, const char *uid, const char *ns)
{
    size_t ul = strlen(uid);
    for (size_t i = 0; i < g->absent.n; i++) {
        const char *k = g->absent.v[i];
        if (!strncmp(k, uid, ul) && k[ul] == '/' && !strcmp(k + ul + 1, ns ? ns : ""))
            return true;
    }
    return false;
}

/* ---- decisions ---------------------------------------------------------------------------- */

controller_gc_action_t controller_gc_decide(size_t solid, size_t dangling, size_t waiting,
                                            const controller_gc_node_t *item,
                                            const cJSON *finalizers_obj)
{
    if (solid)
        return dangling || waiting ? CONTROLLER_GC_REMOVE_REFS : CONTROLLER_GC_KEEP;
    if (waiting && item && item->ndeps) {
        for (size_t i = 0; i < item->ndeps; i++)
            if (item->deps[i]->deleting_dependents)
                return CONTROLLER_GC_UNBLOCK_FG; /* a possible cycle: do not block */
        return CONTROLLER_GC_DELETE_FG;
    }
    if (controller_gc_has_finalizer(finalizers_obj, CONTROLLER_GC_FIN_ORPHAN))
        return CONTROLLER_GC_DELETE_ORPHAN;
    if (controller_gc_has_finalizer(finalizers_obj, CONTROLLER_GC_FIN_FOREGROUND))
        return CONTROLLER_GC_DELETE_FG;
    return CONTROLLER_GC_DELETE_BG;
}
