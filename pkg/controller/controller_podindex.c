/* controller_podindex: the shared pod informer's pods by controller, like upstream's
 * controllerUIDIndex (pkg/controller: PodControllerUIDIndex): a pod with a controller reference
 * is filed under the controller's UID, a pod without one under its namespace's orphan key
 * ("\x01" + namespace: no UID starts with a control character). A ReplicaSet's sync then reads
 * its own pods and its namespace's orphans instead of every pod of the cluster.
 *
 * Each entry also keeps what the ReplicaSet controller reads of the pod for every sync (active,
 * deleting, ready and since when, the labels), worked out once per pod event instead of once
 * per pod per sync: a ReplicaSet syncs after every few pod events, so over a ramp of n pods the
 * per-sync reading is O(n^2) member lookups in the cJSON trees.
 *
 * The entries point at the informer's objects: the manager updates the index from every pod
 * informer event before the controllers see it, and the informer replaces or frees a cached
 * object only with an event (an unchanged resourceVersion keeps the cached object). The index
 * lives while the informer does (start_informers/stop_informers). */
#include "controller/controller_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct group group_t;

typedef struct entry {
    char *key; /* "ns/name" */
    group_t *g;
    size_t pos; /* in g->e */
    ctrl_pod_facts_t f;
    struct entry *next; /* in the pod map's bucket */
} entry_t;

struct group {
    char *key; /* controller UID, or "\x01" + namespace */
    entry_t **e;
    size_t n, cap;
    group_t *next;
};

struct ctrl_podidx {
    entry_t **pods; /* by pod key */
    size_t npods, podcap;
    group_t **groups; /* by index key */
    size_t ngroups, groupcap;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

ctrl_podidx_t *ctrl_podidx_new(void)
{
    ctrl_podidx_t *x = util_xcalloc(1, sizeof(*x));
    x->podcap = x->groupcap = 64;
    x->pods = util_xcalloc(x->podcap, sizeof(*x->pods));
    x->groups = util_xcalloc(x->groupcap, sizeof(*x->groups));
    return x;
}

void ctrl_podidx_free(ctrl_podidx_t *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->podcap; i++)
        for (entry_t *e = x->pods[i], *next; e; e = next) {
            next = e->next;
            free(e->key);
            free(e);
        }
    for (size_t i = 0; i < x->groupcap; i++)
        for (group_t *g = x->groups[i], *next; g; g = next) {
            next = g->next;
            free(g->e);
            free(g->key);
            free(g);
        }
    free(x->pods);
    free(x->groups);
    free(x);
}

/* ---- facts ----------------------------------------------------------------------------------- */

void ctrl_pod_facts(const cJSON *pod, ctrl_pod_facts_t *f)
{
    const cJSON *meta = ctrl_get(pod, "metadata");
    const cJSON *d = ctrl_get(meta, "deletionTimestamp"), *labels = ctrl_get(meta, "labels");
    const cJSON *ref = controller_owner_ref(pod);
    *f = (ctrl_pod_facts_t){.pod = pod,
                            .ns = ctrl_str(meta, "namespace"),
                            .labels = labels,
                            .controlled = ref != NULL,
                            .controller_uid = ctrl_str(ref, "uid"),
                            .deleting = d && !cJSON_IsNull(d),
                            .active = controller_pod_active(pod),
                            .ready = controller_pod_ready(pod),
                            .ready_time = controller_pod_ready_time(pod)};
}

/* ---- the two maps ---------------------------------------------------------------------------- */

static entry_t **pod_slot(const ctrl_podidx_t *x, const char *key)
{
    entry_t **p = &x->pods[hash(key) & (x->podcap - 1)];
    while (*p && strcmp((*p)->key, key))
        p = &(*p)->next;
    return p;
}

static group_t **group_slot(const ctrl_podidx_t *x, const char *key)
{
    group_t **p = &x->groups[hash(key) & (x->groupcap - 1)];
    while (*p && strcmp((*p)->key, key))
        p = &(*p)->next;
    return p;
}

static void pods_grow(ctrl_podidx_t *x)
{
    size_t n = x->podcap * 2;
    entry_t **b = util_xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < x->podcap; i++)
        for (entry_t *e = x->pods[i], *next; e; e = next) {
            next = e->next;
            entry_t **p = &b[hash(e->key) & (n - 1)];
            e->next = *p;
            *p = e;
        }
    free(x->pods);
    x->pods = b;
    x->podcap = n;
}

static void groups_grow(ctrl_podidx_t *x)
{
    size_t n = x->groupcap * 2;
    group_t **b = util_xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < x->groupcap; i++)
        for (group_t *g = x->groups[i], *next; g; g = next) {
            next = g->next;
            group_t **p = &b[hash(g->key) & (n - 1)];
            g->next = *p;
            *p = g;
        }
    free(x->groups);
    x->groups = b;
    x->groupcap = n;
}

static void group_add(ctrl_podidx_t *x, const char *ikey, entry_t *e)
{
    group_t **p = group_slot(x, ikey);
    if (!*p) {
        if (x->ngroups + 1 > x->groupcap) {
            groups_grow(x);
            p = group_slot(x, ikey);
        }
        *p = util_xcalloc(1, sizeof(**p));
        (*p)->key = util_xstrdup(ikey);
        x->ngroups++;
    }
    group_t *g = *p;
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 8;
        g->e = util_xrealloc(g->e, g->cap * sizeof(*g->e));
    }
    e->g = g;
    e->pos = g->n;
    g->e[g->n++] = e;
}

static void group_remove(ctrl_podidx_t *x, entry_t *e)
{
    group_t *g = e->g;
    e->g = NULL;
    g->e[e->pos] = g->e[--g->n];
    g->e[e->pos]->pos = e->pos;
    if (g->n)
        return;
    group_t **p = group_slot(x, g->key);
    *p = g->next;
    x->ngroups--;
    free(g->e);
    free(g->key);
    free(g);
}

static void entry_remove(ctrl_podidx_t *x, entry_t **p)
{
    entry_t *e = *p;
    *p = e->next;
    x->npods--;
    if (e->g)
        group_remove(x, e);
    free(e->key);
    free(e);
}

/* The index key of a pod, malloc'd; NULL when it is filed nowhere (no namespace, or a controller
 * reference without a UID: no controller claims such a pod). */
static char *index_key(const cJSON *pod)
{
    const cJSON *ref = controller_owner_ref(pod);
    if (ref) {
        const char *uid = ctrl_str(ref, "uid");
        return uid && uid[0] ? util_xstrdup(uid) : NULL;
    }
    const char *ns = ctrl_str(ctrl_get(pod, "metadata"), "namespace");
    return ns ? util_strdup_printf("\x01%s", ns) : NULL;
}

void ctrl_podidx_update(ctrl_podidx_t *x, const cJSON *pod, bool deleted)
{
    if (!x)
        return;
    char *pkey = ctrl_key(pod);
    if (!pkey)
        return;
    entry_t **p = pod_slot(x, pkey);
    char *ikey = deleted ? NULL : index_key(pod);
    if (!ikey) {
        if (*p)
            entry_remove(x, p);
        free(pkey);
        return;
    }
    entry_t *e = *p;
    if (!e) {
        if (x->npods + 1 > x->podcap) {
            pods_grow(x);
            p = pod_slot(x, pkey);
        }
        e = util_xcalloc(1, sizeof(*e));
        e->key = pkey;
        pkey = NULL;
        *p = e;
        x->npods++;
        group_add(x, ikey, e);
    } else if (strcmp(e->g->key, ikey)) {
        group_remove(x, e);
        group_add(x, ikey, e);
    }
    ctrl_pod_facts(pod, &e->f);
    free(ikey);
    free(pkey);
}

/* ---- readers --------------------------------------------------------------------------------- */

static void visit(const ctrl_podidx_t *x, const char *ikey,
                  void (*fn)(void *ud, const ctrl_pod_facts_t *f), void *ud)
{
    const group_t *g = *group_slot(x, ikey);
    for (size_t i = 0; g && i < g->n; i++)
        fn(ud, &g->e[i]->f);
}

typedef struct every {
    void (*fn)(void *ud, const ctrl_pod_facts_t *f);
    void *ud;
} every_t;

static void every_pod(void *ud, const cJSON *pod)
{
    every_t *v = ud;
    ctrl_pod_facts_t f;
    ctrl_pod_facts(pod, &f);
    v->fn(v->ud, &f);
}

void ctrl_podidx_foreach(const ctrl_podidx_t *x, const client_informer_t *pods, const char *ns,
                         const char *uid, void (*fn)(void *ud, const ctrl_pod_facts_t *f), void *ud)
{
    if (!x) { /* no index: every cached pod */
        every_t v = {fn, ud};
        client_informer_foreach(pods, every_pod, &v);
        return;
    }
    if (uid && uid[0])
        visit(x, uid, fn, ud);
    if (ns) {
        char *orphans = util_strdup_printf("\x01%s", ns);
        visit(x, orphans, fn, ud);
        free(orphans);
    }
}
