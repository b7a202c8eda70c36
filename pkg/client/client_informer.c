/* client_informer: list then watch with a local cache keyed by namespace/name (client-go's
 * reflector + store): re-lists on 410 Gone, resumes from the last resourceVersion (bookmarks
 * included), retries with back-off when the server goes away. */
#include "client_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LIST_PAGE "500"

typedef struct entry {
    char *key; /* "ns/name" or "name" */
    cJSON *obj;
    unsigned gen; /* the list generation that last saw it */
    struct entry *next;
} entry_t;

struct client_informer {
    client_t *cl;
    client_resource_t res;
    char *ns, *label_selector, *field_selector;
    client_informer_handlers_t h;
    void *ud;
    void (*transform)(void *ud, cJSON *obj);
    entry_t **buckets;
    size_t nbuckets, count;
    unsigned gen;
    char *rv;                 /* resume point */
    char *kind, *api_version; /* set on list items, which lack them */
    client_req_t *req;        /* the list or watch in flight */
    uv_timer_t retry;
    client_backoff_t backoff;
    cJSON *pages; /* items of the list being read, across pages */
    bool synced, stopped, events_seen;
};

static void list_start(client_informer_t *inf, const char *cont);
static void watch_start(client_informer_t *inf);

/* ---- the cache ------------------------------------------------------------------------------ */

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static char *key_of(const cJSON *obj)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "namespace"));
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "name"));
    if (!name || !*name)
        return NULL;
    return ns && *ns ? util_strdup_printf("%s/%s", ns, name) : util_xstrdup(name);
}

static const char *rv_of(const cJSON *obj)
{
    const char *rv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion"));
    return rv ? rv : "";
}

static entry_t **slot(const client_informer_t *inf, const char *key)
{
    entry_t **p = &inf->buckets[hash(key) & (inf->nbuckets - 1)];
    while (*p && strcmp((*p)->key, key))
        p = &(*p)->next;
    return p;
}

static void grow(client_informer_t *inf)
{
    size_t n = inf->nbuckets ? inf->nbuckets * 2 : 64;
    entry_t **old = inf->buckets;
    size_t oldn = inf->nbuckets;
    inf->buckets = util_xcalloc(n, sizeof(*inf->buckets));
    inf->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        for (entry_t *e = old[i], *next; e; e = next) {
            next = e->next;
            entry_t **b = &inf->buckets[hash(e->key) & (n - 1)];
            e->next = *b;
            *b = e;
        }
    }
    free(old);
}

/* Stores obj (taken): add or update callbacks; an unchanged resourceVersion is no change. */
static void cache_put(client_informer_t *inf, cJSON *obj)
{
    if (inf->transform)
        inf->transform(inf->ud, obj);
    char *key = key_of(obj);
    if (!key) {
        cJSON_Delete(obj);
        return;
    }
    if (inf->count + 1 > inf->nbuckets)
        grow(inf);
    entry_t **p = slot(inf, key);
    if (*p) {
        entry_t *e = *p;
        free(key);
        e->gen = inf->gen;
        cJSON *old = e->obj;
        if (!strcmp(rv_of(old), rv_of(obj)) && rv_of(obj)[0]) {
            /* unchanged (a relist): the cached object stays, so what the handlers were given
             * (and may have indexed) remains valid until the next event for this key */
            cJSON_Delete(obj);
            return;
        }
        e->obj = obj;
        if (inf->h.on_update)
            inf->h.on_update(inf->ud, old, obj);
        else if (inf->h.on_event)
            inf->h.on_event(inf->ud, old, obj, false);
        cJSON_Delete(old);
        return;
    }
    entry_t *e = util_xcalloc(1, sizeof(*e));
    e->key = key;
    e->obj = obj;
    e->gen = inf->gen;
    *p = e;
    inf->count++;
    if (inf->h.on_add)
        inf->h.on_add(inf->ud, obj);
    else if (inf->h.on_event)
        inf->h.on_event(inf->ud, NULL, obj, false);
}

static void entry_remove(client_informer_t *inf, entry_t **p, bool notify)
{
    entry_t *e = *p;
    *p = e->next;
    inf->count--;
    if (notify && inf->h.on_delete)
        inf->h.on_delete(inf->ud, e->obj);
    else if (notify && inf->h.on_event)
        inf->h.on_event(inf->ud, NULL, e->obj, true);
    cJSON_Delete(e->obj);
    free(e->key);
    free(e);
}

static void cache_delete(client_informer_t *inf, const cJSON *obj)
{
    char *key = key_of(obj);
    if (!key || !inf->nbuckets) {
        free(key);
        return;
    }
    entry_t **p = slot(inf, key);
    free(key);
    if (*p)
        entry_remove(inf, p, true);
}

/* After a full list: whatever the list did not mention is gone. */
static void cache_sweep(client_informer_t *inf)
{
    for (size_t i = 0; i < inf->nbuckets; i++) {
        entry_t **p = &inf->buckets[i];
        while (*p) {
            if ((*p)->gen != inf->gen)
                entry_remove(inf, p, true);
            else
                p = &(*p)->next;
        }
    }
}

const cJSON *client_informer_get(const client_informer_t *inf, const char *ns, const char *name)
{
    if (!inf || !name || !inf->nbuckets)
        return NULL;
    char *key = ns && *ns ? util_strdup_printf("%s/%s", ns, name) : util_xstrdup(name);
    entry_t **p = slot(inf, key);
    free(key);
    return *p ? (*p)->obj : NULL;
}

void client_informer_foreach(const client_informer_t *inf, void (*fn)(void *ud, const cJSON *obj),
                             void *ud)
{
    if (!inf)
        return;
    for (size_t i = 0; i < inf->nbuckets; i++)
        for (const entry_t *e = inf->buckets[i]; e; e = e->next)
            fn(ud, e->obj);
}

size_t client_informer_count(const client_informer_t *inf)
{
    return inf ? inf->count : 0;
}

bool client_informer_synced(const client_informer_t *inf)
{
    return inf && inf->synced;
}

/* ---- list and watch ------------------------------------------------------------------------- */

static void set_rv(client_informer_t *inf, const char *rv)
{
    if (!rv || !*rv)
        return;
    free(inf->rv);
    inf->rv = util_xstrdup(rv);
}

static void on_retry(uv_timer_t *t)
{
    client_informer_t *inf = t->data;
    if (inf->rv)
        watch_start(inf);
    else
        list_start(inf, NULL);
}

static void retry_later(client_informer_t *inf, bool relist, bool at_once)
{
    if (relist) {
        free(inf->rv);
        inf->rv = NULL;
    }
    uint64_t ms = at_once ? 0 : client_backoff_next(&inf->backoff);
    uv_timer_start(&inf->retry, on_retry, ms, 0);
}

static void selectors(const client_informer_t *inf, util_buf_t *p)
{
    client_query_add(p, "labelSelector", inf->label_selector);
    client_query_add(p, "fieldSelector", inf->field_selector);
}

static void list_done(client_informer_t *inf, const char *rv)
{
    inf->gen++;
    cJSON *item;
    while ((item = cJSON_DetachItemFromArray(inf->pages, 0)) != NULL) {
        if (inf->kind && !cJSON_GetObjectItemCaseSensitive(item, "kind")) {
            cJSON_AddStringToObject(item, "kind", inf->kind);
            cJSON_AddStringToObject(item, "apiVersion", inf->api_version);
        }
        cache_put(inf, item);
        if (inf->stopped)
            return;
    }
    cache_sweep(inf);
    set_rv(inf, rv);
    inf->synced = true;
    if (inf->h.on_synced)
        inf->h.on_synced(inf->ud);
    if (!inf->stopped)
        watch_start(inf);
}

static void on_list(void *ud, client_result_t *res)
{
    client_informer_t *inf = ud;
    inf->req = NULL;
    if (res->error || res->status != 200 || !cJSON_IsObject(res->body)) {
        cJSON_Delete(inf->pages);
        inf->pages = NULL;
        retry_later(inf, true, false);
        return;
    }
    if (!inf->kind) {
        const char *kind =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(res->body, "kind"));
        const char *av =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(res->body, "apiVersion"));
        if (kind && av && util_str_has_suffix(kind, "List")) {
            inf->kind = util_strdup_printf("%.*s", (int)(strlen(kind) - 4), kind);
            inf->api_version = util_xstrdup(av);
        }
    }
    cJSON *items = cJSON_DetachItemFromObjectCaseSensitive(res->body, "items");
    cJSON *item;
    while (cJSON_IsArray(items) && (item = cJSON_DetachItemFromArray(items, 0)) != NULL)
        cJSON_AddItemToArray(inf->pages, item);
    cJSON_Delete(items);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(res->body, "metadata");
    const char *cont = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "continue"));
    if (cont && *cont) {
        list_start(inf, cont);
        return;
    }
    client_backoff_reset(&inf->backoff);
    const char *rv =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion"));
    list_done(inf, rv);
    cJSON_Delete(inf->pages);
    inf->pages = NULL;
}

static void list_start(client_informer_t *inf, const char *cont)
{
    if (!cont) {
        cJSON_Delete(inf->pages);
        inf->pages = cJSON_CreateArray();
    }
    util_buf_t q = {0};
    util_buf_puts(&q, "?limit=" LIST_PAGE);
    selectors(inf, &q);
    client_query_add(&q, "continue", cont);
    inf->req = client_list(inf->cl, &inf->res, inf->ns, q.data + 1, on_list, inf);
    util_buf_free(&q);
    if (!inf->req)
        retry_later(inf, true, false);
}

static void on_event(void *ud, const char *type, cJSON **obj)
{
    client_informer_t *inf = ud;
    if (inf->stopped)
        return;
    if (!strcmp(type, "ERROR")) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(*obj, "code");
        bool gone = cJSON_IsNumber(code) && code->valuedouble == 410;
        client_req_cancel(inf->req);
        inf->req = NULL;
        retry_later(inf, gone, gone);
        return;
    }
    inf->events_seen = true;
    set_rv(inf, rv_of(*obj));
    if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED")) {
        cache_put(inf, *obj);
        *obj = NULL;
    } else if (!strcmp(type, "DELETED")) {
        cache_delete(inf, *obj);
    }
}

static void on_watch_end(void *ud, client_result_t *res)
{
    client_informer_t *inf = ud;
    inf->req = NULL;
    if (res->status == 410) {
        retry_later(inf, true, true);
    } else if (res->status == 200 && inf->events_seen) {
        client_backoff_reset(&inf->backoff);
        retry_later(inf, false, true);
    } else {
        retry_later(inf, false, false);
    }
}

static void watch_start(client_informer_t *inf)
{
    util_buf_t p = {0};
    if (client_path(&p, &inf->res, inf->ns, NULL, NULL) < 0) {
        util_buf_free(&p);
        return;
    }
    client_query_add(&p, "watch", "1");
    client_query_add(&p, "resourceVersion", inf->rv);
    client_query_add(&p, "allowWatchBookmarks", "true");
    selectors(inf, &p);
    inf->events_seen = false;
    inf->req = client_watch(inf->cl, p.data, on_event, on_watch_end, inf);
    util_buf_free(&p);
    if (!inf->req)
        retry_later(inf, false, false);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

int client_informer_start(client_t *c, const client_informer_opts_t *o,
                          const client_informer_handlers_t *h, void *ud, client_informer_t **ret,
                          util_error_t *err)
{
    if (!c || !o || !o->resource)
        return util_error_make(err, EINVAL, "informer: client and resource are required");
    client_informer_t *inf = util_xcalloc(1, sizeof(*inf));
    inf->cl = c;
    inf->res = *o->resource;
    inf->ns = o->ns && *o->ns ? util_xstrdup(o->ns) : NULL;
    inf->label_selector = o->label_selector ? util_xstrdup(o->label_selector) : NULL;
    inf->field_selector = o->field_selector ? util_xstrdup(o->field_selector) : NULL;
    inf->h = *h;
    inf->ud = ud;
    inf->transform = o->transform;
    client_backoff_init(&inf->backoff, o->backoff_min_ms ? o->backoff_min_ms : 200,
                        o->backoff_max_ms ? o->backoff_max_ms : 10 * 1000);
    uv_timer_init(c->loop, &inf->retry);
    inf->retry.data = inf;
    grow(inf);
    list_start(inf, NULL);
    *ret = inf;
    return 0;
}

static void informer_free(uv_handle_t *h)
{
    client_informer_t *inf = h->data;
    for (size_t i = 0; i < inf->nbuckets; i++)
        while (inf->buckets[i])
            entry_remove(inf, &inf->buckets[i], false);
    free(inf->buckets);
    cJSON_Delete(inf->pages);
    free(inf->rv);
    free(inf->kind);
    free(inf->api_version);
    free(inf->ns);
    free(inf->label_selector);
    free(inf->field_selector);
    free(inf);
}

void client_informer_stop(client_informer_t *inf)
{
    if (!inf || inf->stopped)
        return;
    inf->stopped = true;
    client_req_cancel(inf->req);
    inf->req = NULL;
    uv_close((uv_handle_t *)&inf->retry, informer_free);
}

void client_strip_managed_fields(void *ud, cJSON *obj)
{
    (void)ud;
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
                                            "managedFields");
}
