/* apiserver_get_cache: the stored values of keys recently read by a get, so that repeated gets of
 * an unchanged object answer from memory instead of a SQLite read transaction. Kept exact by the
 * list cache's store watch (apiserver_list_cache.c): a write with a newer revision to a key
 * drops its entry, and the watch's pending events are taken before each look-up. */
#ifndef KUBELING_APISERVER_GET_CACHE_H
#define KUBELING_APISERVER_GET_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define GET_CACHE_ENTRIES 2048
#define GET_CACHE_BYTES   (4u * 1024u * 1024u) /* keys and values, all entries */

typedef struct apiserver_get_cache apiserver_get_cache_t;

apiserver_get_cache_t *apiserver_get_cache_new(void);
void apiserver_get_cache_free(apiserver_get_cache_t *gc);
void apiserver_get_cache_clear(apiserver_get_cache_t *gc);
/* The cached value of key (owned by the cache, valid until the next call on it), or NULL. */
const store_kv_t *apiserver_get_cache_find(apiserver_get_cache_t *gc, const char *key,
                                           size_t key_len);
/* Keeps kv (taken: one allocation from the store, freed with free()), the latest value of its
 * key when read; the least recently used entries go when the cache is full. */
void apiserver_get_cache_put(apiserver_get_cache_t *gc, store_kv_t *kv);
/* A write (put or delete) to key at rev: an entry older than rev is stale and goes. */
void apiserver_get_cache_written(apiserver_get_cache_t *gc, const char *key, size_t key_len,
                                 int64_t rev);
size_t apiserver_get_cache_count(const apiserver_get_cache_t *gc);

#endif
