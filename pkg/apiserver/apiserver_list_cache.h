/* apiserver_list_cache: the rendered items of whole, unfiltered lists per store prefix
 * (resource and namespace), kept until a write touches the prefix, so that repeated lists of an
 * unchanged collection copy text (and gzip it once) instead of reading and rendering it again. */
#ifndef KUBELING_APISERVER_LIST_CACHE_H
#define KUBELING_APISERVER_LIST_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apiserver_gzip.h"
#include "apiserver_internal.h"
#include "store/store.h"

typedef struct apiserver_list_entry {
    char *prefix; /* the store prefix listed, e.g. "/registry/core/pods/default/" */
    size_t prefix_len;
    util_buf_t items; /* the objects as JSON text joined by commas (a list's items) */
    size_t count;
    int64_t rev;              /* the store revision the items were read at */
    apiserver_gzip_part_t gz; /* items compressed, made on first use */
    bool gz_made;
    uint64_t used; /* last use, for eviction */
} apiserver_list_entry_t;

/* The entry for prefix when no write has touched the prefix since it was read, and it is at
 * least at min_rev (a list's resourceVersion, 0 for any); *ret_rev is the revision the answer
 * stands for (the newest revision whose writes the server has seen, at least the entry's). */
apiserver_list_entry_t *apiserver_list_cache_get(apiserver_t *a, const char *prefix,
                                                 int64_t min_rev, int64_t *ret_rev);
/* Keeps the items (taken) of a whole list of prefix read at rev. */
void apiserver_list_cache_put(apiserver_t *a, const char *prefix, util_buf_t *items, size_t count,
                              int64_t rev);
/* The entry's items compressed (made on first use), or NULL if compression failed. */
const apiserver_gzip_part_t *apiserver_list_cache_gzip(apiserver_t *a, apiserver_list_entry_t *e);

/* True when the cache knows that nothing is stored under prefix (a whole list of it, empty, and
 * no write under it since): admission's look-ups of LimitRanges and ResourceQuotas in the
 * namespace of every create, which are mostly empty. Starts the watch, like a get. */
bool apiserver_list_cache_known_empty(apiserver_t *a, const char *prefix);
/* A read of the whole of prefix at rev found nothing: kept as an empty list. */
void apiserver_list_cache_put_empty(apiserver_t *a, const char *prefix, int64_t rev);

/* The latest stored value of key if a get kept it and no write has touched the key since (see
 * apiserver_get_cache.h), else NULL; valid until the next call into the list cache. */
const store_kv_t *apiserver_list_cache_object(apiserver_t *a, const char *key, size_t key_len);
/* Keeps kv (taken), the latest value of its key as a get just read it from the store. */
void apiserver_list_cache_keep_object(apiserver_t *a, store_kv_t *kv);

/* apiserver_stop: the store watch goes; apiserver release: the entries go. */
void apiserver_list_cache_stop(apiserver_t *a);
void apiserver_list_cache_free(apiserver_t *a);

#endif
