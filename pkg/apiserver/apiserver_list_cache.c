/* apiserver_list_cache: rendered list items per store prefix, dropped by a store watch over
 * /registry/ when a write with a newer revision touches the prefix.
 *
 * Consistency: an entry read at revision R holds every write to its prefix up to R. The watch
 * sees every committed write in revision order; one with a revision above R under the prefix
 * drops the entry (writes at or below R are already in it). Before an entry is used, the
 * watcher's pending events are taken, so the entry is exact up to the newest revision the
 * store has delivered, which covers every write that any client has been answered for (the
 * store publishes a commit's events before the writer's callback answers). */
#include "apiserver_list_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_get_cache.h"
#include "store/store.h"

#define LIST_CACHE_ENTRIES   32
#define LIST_CACHE_BYTES     (16u * 1024u * 1024u) /* items and compressed items, all entries */
#define LIST_CACHE_ENTRY_MAX (4u * 1024u * 1024u)  /* larger lists are not kept */

struct apiserver_list_cache {
    store_watcher_t *watcher;
    apiserver_list_entry_t *v[LIST_CACHE_ENTRIES];
    size_t n;
    size_t bytes;
    uint64_t tick;
    apiserver_get_cache_t *gets; /* objects read by gets, kept exact by the same watch */
};

static struct apiserver_list_cache *state(apiserver_t *a)
{
    if (!a->list_cache)
        a->list_cache = util_xcalloc(1, sizeof(*a->list_cache));
    return a->list_cache;
}

static size_t entry_bytes(const apiserver_list_entry_t *e)
{
    return e->items.cap + e->gz.deflated.cap + e->prefix_len;
}

static void drop(struct apiserver_list_cache *lc, size_t i)
{
    apiserver_list_entry_t *e = lc->v[i];
    lc->bytes -= entry_bytes(e);
    util_buf_free(&e->items);
    apiserver_gzip_part_free(&e->gz);
    free(e->prefix);
    free(e);
    lc->v[i] = lc->v[--lc->n];
}

static void drop_all(struct apiserver_list_cache *lc)
{
    while (lc->n)
        drop(lc, lc->n - 1);
    apiserver_get_cache_clear(lc->gets);
}

/* A write at rev to key: entries of a prefix of key read before rev are stale. */
static void invalidate(struct apiserver_list_cache *lc, const store_kv_t *kv, int64_t rev)
{
    for (size_t i = lc->n; i-- > 0;) {
        const apiserver_list_entry_t *e = lc->v[i];
        if (rev > e->rev && kv->key_len >= e->prefix_len &&
            !memcmp(kv->key, e->prefix, e->prefix_len))
            drop(lc, i);
    }
}

static int watch_start(apiserver_t *a);

/* Takes every event available (the store's edge-triggered callback, and before each use). */
static void take_events(store_watcher_t *w, void *ud)
{
    apiserver_t *a = ud;
    struct apiserver_list_cache *lc = state(a);
    for (;;) {
        const store_event_t *ev = NULL;
        int r = store_watch_next(w, &ev, NULL);
        if (r == 0)
            break;
        if (r < 0) { /* cut off: nothing kept can be trusted; watch again from now */
            store_watch_cancel(w);
            lc->watcher = NULL;
            drop_all(lc);
            break;
        }
        if (ev->type != STORE_EVENT_PROGRESS) {
            invalidate(lc, &ev->kv, ev->rev);
            apiserver_get_cache_written(lc->gets, ev->kv.key, ev->kv.key_len, ev->rev);
        }
        store_event_unref(ev);
    }
}

static int watch_start(apiserver_t *a)
{
    struct apiserver_list_cache *lc = state(a);
    if (lc->watcher)
        return 0;
    if (a->stopping || !a->opts.store)
        return -ECANCELED;
    static const char start[] = "/registry/", end[] = "/registry0";
    store_watch_opts_t o = {
        .start = start, .start_len = strlen(start), .end = end, .end_len = strlen(end)};
    if (store_watch(a->opts.store, &o, take_events, a, &lc->watcher, NULL) < 0) {
        lc->watcher = NULL;
        return -EIO;
    }
    drop_all(lc); /* nothing read before this watch began can be checked */
    return 0;
}

apiserver_list_entry_t *apiserver_list_cache_get(apiserver_t *a, const char *prefix,
                                                 int64_t min_rev, int64_t *ret_rev)
{
    struct apiserver_list_cache *lc = state(a);
    store_watcher_t *w = watch_start(a) < 0 ? NULL : lc->watcher;
    if (!w)
        return NULL;
    take_events(w, a); /* may end the watch (cut off): then nothing is kept */
    if (lc->n == 0)
        return NULL;
    int64_t seen = store_current_rev(a->opts.store);
    for (size_t i = 0; i < lc->n; i++) {
        apiserver_list_entry_t *e = lc->v[i];
        if (strcmp(e->prefix, prefix))
            continue;
        int64_t rev = e->rev > seen ? e->rev : seen;
        if (rev < min_rev)
            return NULL;
        e->used = ++lc->tick;
        *ret_rev = rev;
        return e;
    }
    return NULL;
}

bool apiserver_list_cache_known_empty(apiserver_t *a, const char *prefix)
{
    int64_t rev = 0;
    const apiserver_list_entry_t *e = apiserver_list_cache_get(a, prefix, 0, &rev);
    return e && e->count == 0;
}

void apiserver_list_cache_put_empty(apiserver_t *a, const char *prefix, int64_t rev)
{
    util_buf_t none = {0};
    apiserver_list_cache_put(a, prefix, &none, 0, rev);
}

const store_kv_t *apiserver_list_cache_object(apiserver_t *a, const char *key, size_t key_len)
{
    struct apiserver_list_cache *lc = state(a);
    store_watcher_t *w = watch_start(a) < 0 ? NULL : lc->watcher;
    if (!w)
        return NULL;
    take_events(w, a); /* may end the watch (cut off): then nothing is kept */
    return lc->watcher ? apiserver_get_cache_find(lc->gets, key, key_len) : NULL;
}

void apiserver_list_cache_keep_object(apiserver_t *a, store_kv_t *kv)
{
    struct apiserver_list_cache *lc = state(a);
    static const char watched[] = "/registry/";
    /* only while the watch runs, and only keys it covers: it is what drops stale entries */
    if (!lc->watcher || kv->key_len < sizeof(watched) - 1 ||
        memcmp(kv->key, watched, sizeof(watched) - 1)) {
        free(kv);
        return;
    }
    if (!lc->gets)
        lc->gets = apiserver_get_cache_new();
    apiserver_get_cache_put(lc->gets, kv);
}

static void evict_for(struct apiserver_list_cache *lc, size_t need)
{
    while (lc->n && (lc->n == LIST_CACHE_ENTRIES || lc->bytes + need > LIST_CACHE_BYTES)) {
        size_t oldest = 0;
        for (size_t i = 1; i < lc->n; i++)
            if (lc->v[i]->used < lc->v[oldest]->used)
                oldest = i;
        drop(lc, oldest);
    }
}

void apiserver_list_cache_put(apiserver_t *a, const char *prefix, util_buf_t *items, size_t count,
                              int64_t rev)
{
    struct apiserver_list_cache *lc = state(a);
    /* only while the watch runs: it is what tells when the entry goes stale */
    if (!lc->watcher || items->cap > LIST_CACHE_ENTRY_MAX) {
        util_buf_free(items);
        return;
    }
    for (size_t i = 0; i < lc->n; i++)
        if (!strcmp(lc->v[i]->prefix, prefix)) {
            if (lc->v[i]->rev >= rev) { /* already as new */
                util_buf_free(items);
                return;
            }
            drop(lc, i);
            break;
        }
    apiserver_list_entry_t *e = util_xcalloc(1, sizeof(*e));
    e->prefix = util_xstrdup(prefix);
    e->prefix_len = strlen(prefix);
    e->items = *items;
    *items = (util_buf_t){0};
    e->count = count;
    e->rev = rev;
    e->used = ++lc->tick;
    evict_for(lc, entry_bytes(e));
    lc->v[lc->n++] = e;
    lc->bytes += entry_bytes(e);
}

const apiserver_gzip_part_t *apiserver_list_cache_gzip(apiserver_t *a, apiserver_list_entry_t *e)
{
    struct apiserver_list_cache *lc = state(a);
    if (!e->gz_made) {
        if (apiserver_gzip_part_make(e->items.data, e->items.len, &e->gz) < 0)
            return NULL;
        e->gz_made = true;
        lc->bytes += e->gz.deflated.cap;
    }
    return &e->gz;
}

void apiserver_list_cache_stop(apiserver_t *a)
{
    struct apiserver_list_cache *lc = a->list_cache;
    if (lc && lc->watcher) {
        store_watch_cancel(lc->watcher);
        lc->watcher = NULL;
    }
}

void apiserver_list_cache_free(apiserver_t *a)
{
    struct apiserver_list_cache *lc = a->list_cache;
    if (!lc)
        return;
    apiserver_list_cache_stop(a);
    drop_all(lc);
    apiserver_get_cache_free(lc->gets);
    free(lc);
    a->list_cache = NULL;
}
