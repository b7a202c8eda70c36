/* apiserver_get_cache: a hash of key -> stored value (the store's own store_kv_t, kept as the
 * get read it), with a least-recently-used list bounding entries and bytes. */
#include "apiserver_get_cache.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define BUCKETS 4096 /* a power of two, at least GET_CACHE_ENTRIES */

typedef struct entry {
    store_kv_t *kv;
    uint64_t hash;
    struct entry *next_in_bucket;
    struct entry *newer, *older; /* the LRU list */
} entry_t;

struct apiserver_get_cache {
    entry_t *bucket[BUCKETS];
    entry_t *newest, *oldest;
    size_t n, bytes;
};

static uint64_t hash_key(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
    return h;
}

static size_t entry_bytes(const entry_t *e)
{
    return sizeof(*e) + sizeof(*e->kv) + e->kv->key_len + e->kv->value_len;
}

apiserver_get_cache_t *apiserver_get_cache_new(void)
{
    return util_xcalloc(1, sizeof(apiserver_get_cache_t));
}

static void lru_unlink(apiserver_get_cache_t *gc, entry_t *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        gc->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        gc->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(apiserver_get_cache_t *gc, entry_t *e)
{
    e->older = gc->newest;
    e->newer = NULL;
    if (gc->newest)
        gc->newest->newer = e;
    gc->newest = e;
    if (!gc->oldest)
        gc->oldest = e;
}

static entry_t **slot_of(apiserver_get_cache_t *gc, const char *key, size_t key_len, uint64_t h)
{
    entry_t **p = &gc->bucket[h & (BUCKETS - 1)];
    for (; *p; p = &(*p)->next_in_bucket)
        if ((*p)->hash == h && (*p)->kv->key_len == key_len && !memcmp((*p)->kv->key, key, key_len))
            break;
    return p;
}

static void remove_at(apiserver_get_cache_t *gc, entry_t **p)
{
    entry_t *e = *p;
    *p = e->next_in_bucket;
    lru_unlink(gc, e);
    gc->n--;
    gc->bytes -= entry_bytes(e);
    free(e->kv);
    free(e);
}

static void remove_entry(apiserver_get_cache_t *gc, entry_t *e)
{
    entry_t **p = slot_of(gc, e->kv->key, e->kv->key_len, e->hash);
    if (*p == e)
        remove_at(gc, p);
}

void apiserver_get_cache_clear(apiserver_get_cache_t *gc)
{
    if (!gc)
        return;
    while (gc->oldest)
        remove_entry(gc, gc->oldest);
}

void apiserver_get_cache_free(apiserver_get_cache_t *gc)
{
    apiserver_get_cache_clear(gc);
    free(gc);
}

const store_kv_t *apiserver_get_cache_find(apiserver_get_cache_t *gc, const char *key,
                                           size_t key_len)
{
    if (!gc || gc->n == 0)
        return NULL;
    entry_t *e = *slot_of(gc, key, key_len, hash_key(key, key_len));
    if (!e)
        return NULL;
    lru_unlink(gc, e);
    lru_push(gc, e);
    return e->kv;
}

void apiserver_get_cache_put(apiserver_get_cache_t *gc, store_kv_t *kv)
{
    uint64_t h = hash_key(kv->key, kv->key_len);
    entry_t **p = slot_of(gc, kv->key, kv->key_len, h);
    if (*p) {
        if ((*p)->kv->mod_rev >= kv->mod_rev) { /* already as new */
            free(kv);
            return;
        }
        remove_at(gc, p);
    }
    entry_t *e = util_xcalloc(1, sizeof(*e));
    e->kv = kv;
    e->hash = h;
    size_t need = entry_bytes(e);
    if (need > GET_CACHE_BYTES / 8) { /* a few large objects would push everything else out */
        free(kv);
        free(e);
        return;
    }
    while (gc->oldest && (gc->n >= GET_CACHE_ENTRIES || gc->bytes + need > GET_CACHE_BYTES))
        remove_entry(gc, gc->oldest);
    p = slot_of(gc, kv->key, kv->key_len, h); /* the chain may have changed */
    e->next_in_bucket = *p;
    *p = e;
    lru_push(gc, e);
    gc->n++;
    gc->bytes += need;
}

void apiserver_get_cache_written(apiserver_get_cache_t *gc, const char *key, size_t key_len,
                                 int64_t rev)
{
    if (!gc || gc->n == 0)
        return;
    entry_t **p = slot_of(gc, key, key_len, hash_key(key, key_len));
    if (*p && rev > (*p)->kv->mod_rev)
        remove_at(gc, p);
}

size_t apiserver_get_cache_count(const apiserver_get_cache_t *gc)
{
    return gc ? gc->n : 0;
}
