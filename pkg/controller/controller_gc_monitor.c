/* controller_gc_monitor: what the garbage collector watches: discovery (upstream's
 * GetDeletableResources: preferred versions, verbs list/watch/delete, events ignored) run at the
 * start and again when CRDs change, an informer per resource feeding the graph and the
 * housekeeping controllers, and the mapping of apiVersion/kind to resources. */
#include "controller/controller_gc.h"

#include <stdlib.h>
#include <string.h>

#define GC_REDISCOVER_MS 500

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
const ctrl_gc_res_t *ctrl_gc_resource_of_kind(const struct ctrl_gc *gc, const char *api_version,
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

/* ---- informers ------------------------------------------------------------------------------ */

static void rediscover_soon(struct ctrl_gc *gc);

static void deliver(void *ud, const cJSON *old, const cJSON *obj, bool deleted)
{
    ctrl_gc_res_t *r = ud;
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
    ctrl_gc_kick(gc);
}

static void on_synced(void *ud)
{
    ctrl_gc_res_t *r = ud;
    if (!r->synced)
        util_log_v(1, "garbage-collector: %s%s%s synced", r->group, r->group[0] ? "/" : "",
                   r->plural);
    r->synced = true;
    ctrl_gc_house_event(r->gc, r, NULL, NULL, false); /* a (re)list: housekeeping looks again */
    ctrl_gc_kick(r->gc);
}

/* Keeps of obj's member key (NULL: of obj) only the members named in keep (NULL-terminated). */
static void keep_only(cJSON *obj, const char *key, const char *const *keep)
{
    ctrl_keep_only(key ? cJSON_GetObjectItemCaseSensitive(obj, key) : obj, keep);
}

/* What the graph and the housekeeping controllers read (upstream's garbage collector watches
 * metadata only): metadata without managedFields, labels and annotations everywhere; of pods
 * spec.nodeName and status.phase, of nodes spec.taints and status.conditions; namespaces,
 * configmaps and serviceaccounts whole (the namespace, root CA and service account controllers read
 * them). With 10,000 pods this is most of the manager's memory (docs/benchmarks.md). */
static void trim(void *ud, cJSON *obj)
{
    const ctrl_gc_res_t *r = ud;
    static const char *const top[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
    static const char *const pod_spec[] = {"nodeName", NULL}, *const pod_status[] = {"phase", NULL};
    static const char *const node_spec[] = {"taints", NULL};
    static const char *const node_status[] = {"conditions", NULL};
    client_strip_managed_fields(NULL, obj);
    if (r->group[0] == '\0' &&
        (!strcmp(r->plural, "namespaces") || !strcmp(r->plural, "configmaps") ||
         !strcmp(r->plural, "serviceaccounts")))
        return;
    keep_only(obj, NULL, top);
    /* nothing here reads labels or annotations but of the objects kept whole above */
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "labels");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "annotations");
    controller_intern_strings(obj); /* shared strings (controller_podcache.c) */
    if (r->group[0] == '\0' && !strcmp(r->plural, "pods")) {
        keep_only(obj, "spec", pod_spec);
        keep_only(obj, "status", pod_status);
    } else if (r->group[0] == '\0' && !strcmp(r->plural, "nodes")) {
        keep_only(obj, "spec", node_spec);
        keep_only(obj, "status", node_status);
    } else {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "spec");
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
    }
}

static void res_start(struct ctrl_gc *gc, ctrl_gc_res_t *r)
{
    static const client_informer_handlers_t h = {.on_event = deliver, .on_synced = on_synced};
    client_informer_opts_t io = {.resource = &r->res, .transform = trim};
    util_error_t err = NULL;
    if (client_informer_start(gc->m->client, &io, &h, r, &r->inf, &err) < 0) {
        char buf[256];
        util_log_warn("garbage-collector: %s: %s", r->plural,
                      util_error_text(err, buf, sizeof(buf)));
        util_error_free(&err);
        r->inf = NULL;
    }
}

void ctrl_gc_res_free(ctrl_gc_res_t *r)
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
    if (ctrl_gc_ok(res))
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
    ctrl_pending_t *p = ctrl_gc_pending(gc, disc_answer, util_xstrdup(group), free);
    ctrl_pending_sent(
        p, client_request(gc->m->client, "GET", path, NULL, NULL, 0, ctrl_pending_cb, p));
}

static void disc_groups(struct ctrl_gc *gc, void *ud, client_result_t *res)
{
    free(ud);
    if (ctrl_gc_ok(res)) {
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

void ctrl_gc_discover(struct ctrl_gc *gc)
{
    if (gc->disc_pending) { /* one at a time; look again when it ends */
        gc->disc_again = true;
        return;
    }
    util_strv_clear(&gc->disc);
    gc->disc_failed = false;
    gc->disc_pending = 1;
    disc_get(gc, "/api/v1", "");
    ctrl_pending_t *p = ctrl_gc_pending(gc, disc_groups, NULL, free);
    ctrl_pending_sent(
        p, client_request(gc->m->client, "GET", "/apis", NULL, NULL, 0, ctrl_pending_cb, p));
}

static void disc_timer_fired(uv_timer_t *t)
{
    struct ctrl_gc *gc = t->data;
    if (gc->running)
        ctrl_gc_discover(gc);
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
        ctrl_gc_res_free(gc->res[i]);
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
    ctrl_gc_kick(gc);
}
