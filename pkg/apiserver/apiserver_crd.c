/* apiserver_crd: the dynamic part of the resource registry: one entry per served version of
 * each established CustomResourceDefinition, kept in step with the store by a watch on the
 * CRD keys (and rebuilt from the store at start). */
#include "apiserver_crd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_object.h"
#include "apiserver_registry.h"

#define CRD_PREFIX "/registry/apiextensions.k8s.io/customresourcedefinitions/"

static const char *const cr_verbs[] = {
    "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch", NULL};

/* The registry: entries (all ever made, reused by identity), the active ones in order, and
 * the group/versions they form. Everything runs on the loop thread. */
static struct {
    apiserver_crd_res_t *all;
    apiserver_crd_res_t **active;
    size_t nactive, cap;
    apiserver_group_t *groups;
    size_t ngroups;
    unsigned generation;
    store_watcher_t *watcher;
    store_t *store;
} reg;

/* ---- lookups --------------------------------------------------------------------------------- */

const apiserver_crd_res_t *apiserver_crd_of(const apiserver_resource_t *r)
{
    /* built-in entries are the static table's; compared as integers (pointers into different
     * objects may not be ordered in C) */
    uintptr_t p = (uintptr_t)r, lo = (uintptr_t)apiserver_resources;
    if (!r || (p >= lo && p < lo + apiserver_nresources * sizeof(*r)))
        return NULL;
    return (const apiserver_crd_res_t *)r;
}

size_t apiserver_crd_count(void)
{
    return reg.nactive;
}

const apiserver_resource_t *apiserver_crd_at(size_t i)
{
    return i < reg.nactive ? &reg.active[i]->res : NULL;
}

const apiserver_resource_t *apiserver_crd_find(const char *group, const char *version,
                                               const char *plural)
{
    for (size_t i = 0; i < reg.nactive; i++) {
        const apiserver_resource_t *r = &reg.active[i]->res;
        if (!strcmp(r->plural, plural) && !strcmp(r->group, group) && !strcmp(r->version, version))
            return r;
    }
    return NULL;
}

size_t apiserver_crd_group_count(void)
{
    return reg.ngroups;
}

const apiserver_group_t *apiserver_crd_group_at(size_t i)
{
    return i < reg.ngroups ? &reg.groups[i] : NULL;
}

unsigned apiserver_crd_generation(void)
{
    return reg.generation;
}

/* ---- version priority (upstream's kube-aware version sort) ------------------------------------
 */

/* GA versions first by major number, then betas, then alphas, then anything else by name. */
static void version_rank(const char *v, long *cls, long *major, long *minor)
{
    char *end = NULL;
    *cls = 0;
    *major = *minor = 0;
    if (v[0] != 'v' || v[1] < '0' || v[1] > '9') {
        *cls = 3;
        return;
    }
    *major = strtol(v + 1, &end, 10);
    if (!*end)
        return;
    if (!strncmp(end, "beta", 4) || !strncmp(end, "alpha", 5)) {
        *cls = end[0] == 'b' ? 1 : 2;
        char *tail = end + (end[0] == 'b' ? 4 : 5), *e2 = NULL;
        *minor = strtol(tail, &e2, 10);
        if (e2 != tail && !*e2)
            return;
    }
    *cls = 3;
}

static int version_cmp(const char *a, const char *b)
{
    long ca, ma, na, cb, mb, nb;
    version_rank(a, &ca, &ma, &na);
    version_rank(b, &cb, &mb, &nb);
    if (ca != cb)
        return ca < cb ? -1 : 1;
    if (ca == 3)
        return strcmp(a, b);
    if (ma != mb)
        return ma > mb ? -1 : 1;
    return na == nb ? 0 : na > nb ? -1 : 1;
}

static int group_cmp(const void *pa, const void *pb)
{
    const apiserver_group_t *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    return c ? c : version_cmp(a->version, b->version);
}

static void rebuild_groups(void)
{
    free(reg.groups);
    reg.groups = reg.nactive ? util_xcalloc(reg.nactive, sizeof(*reg.groups)) : NULL;
    reg.ngroups = 0;
    for (size_t i = 0; i < reg.nactive; i++) {
        const apiserver_resource_t *r = &reg.active[i]->res;
        bool seen = false;
        for (size_t j = 0; j < reg.ngroups && !seen; j++)
            seen =
                !strcmp(reg.groups[j].name, r->group) && !strcmp(reg.groups[j].version, r->version);
        if (!seen)
            reg.groups[reg.ngroups++] = (apiserver_group_t){r->group, r->version};
    }
    if (reg.ngroups > 1)
        qsort(reg.groups, reg.ngroups, sizeof(*reg.groups), group_cmp);
    reg.generation++;
}

/* ---- entries ------------------------------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *jget(const cJSON *o, const char *name)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
}

static void entry_clear_mutable(apiserver_crd_res_t *e)
{
    for (size_t i = 4; i < e->nstrings; i++) {
        free(e->strings[i]);
        e->strings[i] = NULL;
    }
    e->nstrings = e->nstrings > 4 ? 4 : e->nstrings;
    cJSON_Delete(e->schema);
    cJSON_Delete(e->columns);
    free(e->spec_replicas_path);
    free(e->status_replicas_path);
    free(e->label_selector_path);
    e->schema = e->columns = NULL;
    e->spec_replicas_path = e->status_replicas_path = e->label_selector_path = NULL;
    memset(e->res.short_names, 0, sizeof(e->res.short_names));
    memset(e->res.categories, 0, sizeof(e->res.categories));
    memset(e->res.subresources, 0, sizeof(e->res.subresources));
}

static char *own(apiserver_crd_res_t *e, const char *s)
{
    if (!s || e->nstrings >= UTIL_ARRAY_SIZE(e->strings))
        return NULL;
    return e->strings[e->nstrings++] = strdup(s);
}

static void list_into(apiserver_crd_res_t *e, const cJSON *list, const char **out, size_t cap)
{
    size_t n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, list)
    {
        if (n + 1 >= cap || !cJSON_IsString(v))
            break;
        const char *s = own(e, v->valuestring);
        if (s)
            out[n++] = s;
    }
    out[n] = NULL;
}

/* Finds the entry of this identity (active or retired) or makes one. */
static apiserver_crd_res_t *entry_get(const char *group, const char *version, const char *plural,
                                      const char *kind)
{
    for (apiserver_crd_res_t *e = reg.all; e; e = e->next_all)
        if (!strcmp(e->res.group, group) && !strcmp(e->res.version, version) &&
            !strcmp(e->res.plural, plural) && !strcmp(e->res.kind, kind))
            return e;
    apiserver_crd_res_t *e = util_xcalloc(1, sizeof(*e));
    e->res.group = own(e, group);
    e->res.version = own(e, version);
    e->res.plural = own(e, plural);
    e->res.kind = own(e, kind);
    e->res.name_rule = APISERVER_NAME_SUBDOMAIN;
    memcpy(e->res.verbs, cr_verbs, sizeof(cr_verbs));
    e->next_all = reg.all;
    reg.all = e;
    return e;
}

static void activate(apiserver_crd_res_t *e)
{
    if (e->active)
        return;
    if (reg.nactive == reg.cap) {
        reg.cap = reg.cap ? reg.cap * 2 : 16;
        reg.active = util_xrealloc(reg.active, reg.cap * sizeof(*reg.active));
    }
    reg.active[reg.nactive++] = e;
    e->active = true;
}

static void deactivate_crd(const char *crd_name)
{
    size_t j = 0;
    for (size_t i = 0; i < reg.nactive; i++) {
        apiserver_crd_res_t *e = reg.active[i];
        if (e->crd_name && !strcmp(e->crd_name, crd_name))
            e->active = false;
        else
            reg.active[j++] = e;
    }
    reg.nactive = j;
}

/* Fills an entry's mutable parts from a CRD and one of its versions. */
static void entry_fill(apiserver_crd_res_t *e, const char *crd_name, const cJSON *spec,
                       const cJSON *ver)
{
    entry_clear_mutable(e);
    free(e->crd_name);
    e->crd_name = strdup(crd_name);
    const cJSON *names = jget(spec, "names");
    e->res.namespaced = !jstr(spec, "scope") || !strcmp(jstr(spec, "scope"), "Namespaced");
    const char *singular = jstr(names, "singular");
    char lower[256];
    if (!singular || !singular[0]) {
        util_strlcpy(lower, e->res.kind, sizeof(lower));
        for (char *p = lower; *p; p++)
            *p = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
        singular = lower;
    }
    e->res.singular = own(e, singular);
    list_into(e, jget(names, "shortNames"), e->res.short_names,
              UTIL_ARRAY_SIZE(e->res.short_names));
    list_into(e, jget(names, "categories"), e->res.categories, UTIL_ARRAY_SIZE(e->res.categories));
    const cJSON *subs = jget(ver, "subresources");
    size_t ns = 0;
    if (cJSON_IsObject(jget(subs, "scale"))) {
        const cJSON *sc = jget(subs, "scale");
        e->res.subresources[ns++] = "scale";
        e->spec_replicas_path =
            jstr(sc, "specReplicasPath") ? strdup(jstr(sc, "specReplicasPath")) : NULL;
        e->status_replicas_path =
            jstr(sc, "statusReplicasPath") ? strdup(jstr(sc, "statusReplicasPath")) : NULL;
        e->label_selector_path =
            jstr(sc, "labelSelectorPath") ? strdup(jstr(sc, "labelSelectorPath")) : NULL;
    }
    if (cJSON_IsObject(jget(subs, "status")))
        e->res.subresources[ns++] = "status";
    const cJSON *schema = jget(jget(ver, "schema"), "openAPIV3Schema");
    e->schema = cJSON_IsObject(schema) ? cJSON_Duplicate(schema, true) : NULL;
    const cJSON *cols = jget(ver, "additionalPrinterColumns");
    e->columns = cJSON_IsArray(cols) ? cJSON_Duplicate(cols, true) : NULL;
}

/* Names a stored CRD may be served under (validation refuses others on write; this guards
 * the store's keys against a CRD written around it): no '/', no built-in group. */
static bool usable_names(const char *group, const char *plural, const char *version,
                         const char *kind)
{
    if (!group[0] || !plural[0] || !version[0] || !kind[0] || strchr(group, '/') ||
        strchr(plural, '/') || strchr(version, '/') || strlen(group) > 253 || strlen(plural) > 63 ||
        strlen(version) > 63 || strlen(kind) > 63)
        return false;
    for (size_t i = 0; i < apiserver_ngroups; i++)
        if (!strcmp(apiserver_groups[i].name, group))
            return false;
    return true;
}

/* Established, also while terminating: the objects stay readable and deletable until the
 * cleanup has removed them (creates are refused: the entries' terminating flag). */
static bool established(const cJSON *crd)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, jget(jget(crd, "status"), "conditions"))
    {
        const char *type = jstr(c, "type"), *status = jstr(c, "status");
        if (type && status && !strcmp(type, "Established"))
            return !strcmp(status, "True");
    }
    return false;
}

void apiserver_crd_sync(const char *name, const char *value, size_t len)
{
    deactivate_crd(name);
    cJSON *crd = value ? cJSON_ParseWithLength(value, len) : NULL;
    const cJSON *meta = jget(crd, "metadata");
    bool terminating = jget(meta, "deletionTimestamp") != NULL;
    if (terminating && reg.store) { /* deleted with the cleanup finalizer: remove the objects */
        const cJSON *f;
        cJSON_ArrayForEach(f, jget(meta, "finalizers"))
        {
            if (cJSON_IsString(f) && !strcmp(f->valuestring, APISERVER_CRD_FINALIZER))
                apiserver_crd_cleanup_start(reg.store, name, value, len, true);
        }
    }
    if (crd && established(crd)) {
        const cJSON *spec = jget(crd, "spec");
        const char *group = jstr(spec, "group");
        const char *plural = jstr(jget(spec, "names"), "plural");
        const char *kind = jstr(jget(spec, "names"), "kind");
        const cJSON *ver;
        cJSON_ArrayForEach(ver, jget(spec, "versions"))
        {
            const char *vname = jstr(ver, "name");
            if (!group || !plural || !kind || !vname || !cJSON_IsTrue(jget(ver, "served")) ||
                !usable_names(group, plural, vname, kind))
                continue;
            if (apiserver_crd_find(group, vname, plural))
                continue; /* another CRD holds these names */
            apiserver_crd_res_t *e = entry_get(group, vname, plural, kind);
            entry_fill(e, name, spec, ver);
            e->terminating = terminating;
            activate(e);
        }
    }
    cJSON_Delete(crd);
    rebuild_groups();
}

void apiserver_crd_reset(void)
{
    for (apiserver_crd_res_t *e = reg.all, *next; e; e = next) {
        next = e->next_all;
        entry_clear_mutable(e);
        for (size_t i = 0; i < e->nstrings; i++)
            free(e->strings[i]);
        free(e->crd_name);
        free(e);
    }
    free(reg.active);
    free(reg.groups);
    reg.all = NULL;
    reg.active = NULL;
    reg.groups = NULL;
    reg.nactive = reg.cap = reg.ngroups = 0;
    reg.store = NULL;
    reg.generation++;
}

/* ---- watch ----------------------------------------------------------------------------------- */

static void name_of_key(const char *key, size_t len, char *out, size_t n)
{
    size_t plen = strlen(CRD_PREFIX);
    size_t nl = len > plen ? len - plen : 0;
    snprintf(out, n, "%.*s", (int)nl, key + (len > plen ? plen : len));
}

static int load_all(store_t *s, int64_t *ret_rev, util_error_t *err)
{
    char end[256];
    size_t end_len = store_prefix_end(CRD_PREFIX, strlen(CRD_PREFIX), end);
    store_list_t l = {0};
    int r = store_range(s, CRD_PREFIX, strlen(CRD_PREFIX), end, end_len, 0, 0, &l, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < l.n; i++) {
        char name[300];
        name_of_key(l.kvs[i]->key, l.kvs[i]->key_len, name, sizeof(name));
        apiserver_crd_sync(name, l.kvs[i]->value, l.kvs[i]->value_len);
    }
    *ret_rev = l.rev;
    store_list_free(&l);
    return 0;
}

static int watch_from(apiserver_t *a, int64_t rev, util_error_t *err);

static void recheck_group(store_t *s, const char *value, size_t len)
{
    cJSON *crd = cJSON_ParseWithLength(value, len);
    const char *group = jstr(jget(crd, "spec"), "group");
    if (group)
        apiserver_crd_recheck_names(s, group);
    cJSON_Delete(crd);
}

static void on_crd_event(store_watcher_t *w, void *ud)
{
    apiserver_t *a = ud;
    for (;;) {
        const store_event_t *ev = NULL;
        cleanup_error util_error_t err = NULL;
        int r = store_watch_next(w, &ev, &err);
        if (r == 0)
            return;
        if (r < 0) { /* fell behind or compacted: rebuild from the store */
            store_watch_cancel(w);
            reg.watcher = NULL;
            int64_t rev = 0;
            cleanup_error util_error_t err2 = NULL;
            if (r != -ECANCELED && load_all(a->opts.store, &rev, &err2) == 0)
                watch_from(a, rev, &err2);
            return;
        }
        char name[300];
        name_of_key(ev->kv.key, ev->kv.key_len, name, sizeof(name));
        if (ev->type == STORE_EVENT_PUT) {
            apiserver_crd_sync(name, ev->kv.value, ev->kv.value_len);
        } else if (ev->type == STORE_EVENT_DELETE) {
            apiserver_crd_sync(name, NULL, 0);
            if (ev->has_prev && ev->prev.value) { /* deleted without the cleanup finalizer */
                apiserver_crd_cleanup_start(a->opts.store, name, ev->prev.value, ev->prev.value_len,
                                            false);
                recheck_group(a->opts.store, ev->prev.value, ev->prev.value_len);
            }
        }
        store_event_unref(ev);
    }
}

static int watch_from(apiserver_t *a, int64_t rev, util_error_t *err)
{
    char end[256];
    size_t end_len = store_prefix_end(CRD_PREFIX, strlen(CRD_PREFIX), end);
    store_watch_opts_t o = {.start = CRD_PREFIX,
                            .start_len = strlen(CRD_PREFIX),
                            .end = end,
                            .end_len = end_len,
                            .after_rev = rev};
    int r = store_watch(a->opts.store, &o, on_crd_event, a, &reg.watcher, err);
    if (r < 0) {
        reg.watcher = NULL;
        return r;
    }
    on_crd_event(reg.watcher, a); /* edge-triggered: take what is already there */
    return 0;
}

int apiserver_crd_start(apiserver_t *a, util_error_t *err)
{
    int64_t rev = 0;
    reg.store = a->opts.store;
    int r = load_all(a->opts.store, &rev, err);
    return r < 0 ? r : watch_from(a, rev, err);
}

void apiserver_crd_stop(apiserver_t *a)
{
    (void)a;
    if (reg.watcher)
        store_watch_cancel(reg.watcher);
    reg.watcher = NULL;
}

/* ---- custom resource behaviour --------------------------------------------------------------- */

bool apiserver_crd_rewrites(const apiserver_resource_t *r)
{
    const apiserver_crd_res_t *e = apiserver_crd_of(r);
    if (!e || !e->crd_name)
        return false;
    for (size_t i = 0; i < reg.nactive; i++)
        if (reg.active[i] != e && reg.active[i]->crd_name &&
            !strcmp(reg.active[i]->crd_name, e->crd_name))
            return true;
    return false;
}

void apiserver_crd_set_api_version(const apiserver_resource_t *r, cJSON *obj)
{
    if (!apiserver_crd_of(r) || !cJSON_IsObject(obj))
        return;
    char *av = util_strdup_printf("%s/%s", r->group, r->version);
    cJSON *cur = cJSON_GetObjectItemCaseSensitive(obj, "apiVersion");
    if (cur)
        cJSON_ReplaceItemInObjectCaseSensitive(obj, "apiVersion", cJSON_CreateString(av));
    else
        cJSON_AddStringToObject(obj, "apiVersion", av);
    free(av);
}

void apiserver_crd_normalize(const apiserver_resource_t *r, cJSON *obj)
{
    const apiserver_crd_res_t *e = apiserver_crd_of(r);
    if (!e)
        return;
    apiserver_crd_set_api_version(r, obj); /* written through this version's endpoint */
    if (!e->schema)
        return;
    apiserver_crd_schema_prune(e->schema, obj, NULL);
    apiserver_crd_schema_default(e->schema, obj);
}

/* One step of a simple path: ".name" or "[index]"; returns the rest or NULL when malformed. */
static const char *path_step(const char *p, char *name, size_t n, long *index)
{
    *index = -1;
    if (*p == '.') {
        p++;
        size_t len = strcspn(p, ".[");
        if (!len || len >= n)
            return NULL;
        memcpy(name, p, len);
        name[len] = '\0';
        return p + len;
    }
    if (*p == '[') {
        char *end = NULL;
        *index = strtol(p + 1, &end, 10);
        if (!end || *end != ']' || *index < 0)
            return NULL;
        name[0] = '\0';
        return end + 1;
    }
    return NULL;
}

const cJSON *apiserver_crd_json_path(const cJSON *obj, const char *path)
{
    const cJSON *v = obj;
    const char *p = path;
    if (!p)
        return NULL;
    while (*p && v) {
        char name[256];
        long idx;
        p = path_step(p, name, sizeof(name), &idx);
        if (!p)
            return NULL;
        v = idx >= 0 ? (cJSON_IsArray(v) ? cJSON_GetArrayItem(v, (int)idx) : NULL) : jget(v, name);
    }
    return v;
}

int apiserver_crd_json_path_set_int(cJSON *obj, const char *path, double val)
{
    cJSON *v = obj;
    const char *p = path;
    while (p && *p) {
        char name[256];
        long idx;
        p = path_step(p, name, sizeof(name), &idx);
        if (!p || idx >= 0 || !cJSON_IsObject(v))
            return -EINVAL;
        if (!*p) {
            cJSON_DeleteItemFromObjectCaseSensitive(v, name);
            cJSON_AddNumberToObject(v, name, val);
            return 0;
        }
        cJSON *next = cJSON_GetObjectItemCaseSensitive(v, name);
        if (!next)
            next = cJSON_AddObjectToObject(v, name);
        v = next;
    }
    return -EINVAL;
}
