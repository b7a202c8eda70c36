/* store: the cluster's revisioned, watchable key-value store (etcd v3 semantics on SQLite). */
#ifndef KUBELING_STORE_H
#define KUBELING_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "util/util.h"

/* Threading: every function here is called on the thread running the store's uv loop (the
 * "loop thread"), except store_txn_sync and store_snapshot_save, which may be called from any
 * thread. Writes become durable on a private writer thread (group commit); their callbacks,
 * and every watch notification, run on the loop thread. */

typedef struct store store_t;
typedef struct store_watcher store_watcher_t;

/* Results beyond plain negative errnos. Plain ones used: -EEXIST (create of an existing key),
 * -ENOENT (no such key or lease), -E2BIG (key or value over the limit), -ENOSPC (disk full),
 * -EIO (I/O error), -EINVAL (bad arguments), -ECANCELED (store closing). */
enum {
    STORE_ECONFLICT = -4001,  /* the key's mod revision is not the expected one */
    STORE_ECOMPACTED = -4002, /* the revision asked for has been compacted away */
    STORE_EFUTURE = -4003,    /* the revision asked for is newer than the store's */
    STORE_ESLOW = -4004,      /* a watcher fell too far behind and was cut off */
};

#define STORE_MAX_KEY   4096u
#define STORE_MAX_VALUE (1536u * 1024u) /* etcd's default request size limit */
#define STORE_MAX_OPS   128u            /* operations in one transaction */

/* One key's state. Returned objects own their memory (one allocation): free with free(). */
typedef struct store_kv {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
    int64_t create_rev; /* revision that created this incarnation of the key */
    int64_t mod_rev;    /* revision of the last change (metadata.resourceVersion) */
    int64_t lease;      /* 0 when the key does not expire */
} store_kv_t;

typedef struct store_list {
    store_kv_t **kvs; /* each owned */
    size_t n;
    bool more;   /* the range had more keys than the limit */
    int64_t rev; /* the revision the read was served at */
} store_list_t;

void store_list_free(store_list_t *l);

/* ---- opening ------------------------------------------------------------------------------ */

typedef struct store_options {
    const char *path; /* SQLite database file; its directory must exist */
    uv_loop_t *loop;
    const char *vfs; /* SQLite VFS name (tests inject faults); NULL = default */
    int cache_kib;   /* SQLite page cache per connection */
    /* History: compaction keeps at least retain_revs_min revisions and at most
     * retain_revs_max, and within those bounds everything younger than retain_age_ms. */
    int64_t retain_revs_min;
    int64_t retain_revs_max;
    uint64_t retain_age_ms;
    uint64_t compact_interval_ms; /* 0 disables automatic compaction */
    size_t compact_batch_rows;    /* rows deleted per compaction transaction */
    size_t history_events;        /* in-memory recent events for watch catch-up */
    size_t history_bytes;
    int64_t watcher_max_lag; /* revisions a watcher may lag before it is cut off */
    uint64_t progress_interval_ms;
    size_t max_batch_ops; /* operations committed per fsync at most */
    bool verify;          /* PRAGMA quick_check at open */
} store_options_t;

void store_options_default(store_options_t *o);

/* Opens or creates the database. A corrupt or foreign file is refused with a message naming
 * the file and the problem; it is never reset. */
int store_open(const store_options_t *opts, store_t **ret, util_error_t *err);
/* Fails queued writes with -ECANCELED after the writer drains what it has started, cancels
 * watchers, stops the writer thread, closes handles. The memory is released once the loop
 * has run the handles' close callbacks (run the loop until it returns). */
void store_close(store_t *s);

int64_t store_current_rev(store_t *s);
int64_t store_compact_rev(store_t *s);

/* ---- reads (loop thread, served from the read connection's snapshot) --------------------- */

/* rev 0 = latest. -ENOENT if absent at that revision; *ret_rev = revision served at
 * (ret_rev may be NULL). */
int store_get(store_t *s, const char *key, size_t key_len, int64_t rev, store_kv_t **ret_kv,
              int64_t *ret_rev, util_error_t *err);
/* Keys in [start, end) in key order, at most limit (0 = no limit), at rev (0 = latest). */
int store_range(store_t *s, const char *start, size_t start_len, const char *end, size_t end_len,
                int64_t rev, size_t limit, store_list_t *ret, util_error_t *err);
int store_count(store_t *s, const char *start, size_t start_len, const char *end, size_t end_len,
                int64_t *ret_count, int64_t *ret_rev, util_error_t *err);
/* The exclusive end of the range of keys that start with prefix (etcd's prefix range end).
 * Writes at most len bytes; returns the length, or 0 when every key >= prefix matches. */
size_t store_prefix_end(const char *prefix, size_t len, char *out);

/* ---- writes ------------------------------------------------------------------------------- */

typedef enum {
    STORE_OP_CREATE,          /* fails with -EEXIST if the key exists */
    STORE_OP_UPDATE,          /* fails with -ENOENT if absent, STORE_ECONFLICT on mod rev */
    STORE_OP_PUT,             /* create or update, unconditional unless expected_rev */
    STORE_OP_DELETE,          /* fails with -ENOENT if absent, STORE_ECONFLICT on mod rev */
    STORE_OP_LEASE_GRANT,     /* ttl_s; the new lease id is in the result */
    STORE_OP_LEASE_REVOKE,    /* lease; deletes every key attached to it; alone in its txn */
    STORE_OP_LEASE_KEEPALIVE, /* lease; expiry moves to now + ttl */
} store_op_type_t;

typedef struct store_op {
    store_op_type_t type;
    const char *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t expected_rev; /* UPDATE, PUT, DELETE: required mod rev; 0 = any */
    int64_t lease;        /* lease to attach (CREATE, UPDATE, PUT) or to act on */
    int64_t ttl_s;        /* LEASE_GRANT */
} store_op_t;

typedef struct store_op_result {
    int64_t rev;      /* revision this op's write got (0 for lease ops and failures) */
    store_kv_t *prev; /* the key's state before (updates and deletes), owned */
    int64_t lease;    /* LEASE_GRANT: the new id */
} store_op_result_t;

typedef struct store_txn_result {
    int status;          /* 0, or why the whole transaction did not apply */
    size_t failed_op;    /* the op whose condition failed */
    store_kv_t *current; /* STORE_ECONFLICT / -EEXIST: the key's current state, owned */
    int64_t rev;         /* the store's revision after the transaction */
    size_t n;
    store_op_result_t *ops; /* n entries */
    char message[160];      /* human-readable reason when status != 0 */
} store_txn_result_t;

typedef void (*store_txn_cb)(store_t *s, store_txn_result_t *res, void *userdata);

/* Queues a transaction: every op applies, or none. The callback runs on the loop thread once
 * the outcome is durable; the result is freed after it returns (steal owned pointers by
 * setting them to NULL). Validation errors are returned directly and the callback is not
 * called. */
int store_txn(store_t *s, const store_op_t *ops, size_t n, store_txn_cb cb, void *userdata,
              util_error_t *err);
/* The same, blocking the calling thread until durable. Fills *res (free with
 * store_txn_result_free). Returns res->status. */
int store_txn_sync(store_t *s, const store_op_t *ops, size_t n, store_txn_result_t *res,
                   util_error_t *err);
void store_txn_result_free(store_txn_result_t *res);

/* Marks history at or below rev as compacted and removes it in the background. */
int store_compact(store_t *s, int64_t rev, util_error_t *err);

/* ---- watch -------------------------------------------------------------------------------- */

typedef enum { STORE_EVENT_PUT, STORE_EVENT_DELETE, STORE_EVENT_PROGRESS } store_event_type_t;

typedef struct store_event {
    store_event_type_t type;
    int64_t rev;
    store_kv_t kv;   /* PUT: the new state; DELETE: key, mod_rev = rev, no value */
    store_kv_t prev; /* valid when has_prev (updates and deletes) */
    bool has_prev;
    uint64_t commit_ns; /* CLOCK_MONOTONIC when the write became durable (0 from disk) */
    int refs;           /* private */
} store_event_t;

const store_event_t *store_event_ref(const store_event_t *e);
void store_event_unref(const store_event_t *e);

/* Called on the loop thread when the watcher has something to take (edge-triggered: after a
 * call, keep taking until store_watch_next returns 0 or an error). */
typedef void (*store_watch_cb)(store_watcher_t *w, void *userdata);

typedef struct store_watch_opts {
    const char *start; /* key, or start of the range */
    size_t start_len;
    const char *end; /* exclusive range end; NULL = the single key `start` */
    size_t end_len;
    int64_t after_rev;    /* deliver events with rev > after_rev; 0 = from now */
    bool progress_notify; /* periodic PROGRESS events */
} store_watch_opts_t;

int store_watch(store_t *s, const store_watch_opts_t *o, store_watch_cb cb, void *userdata,
                store_watcher_t **ret, util_error_t *err);
/* 1 and an event (unref it when done), 0 when nothing is available yet, or < 0 when the
 * watcher ended (STORE_ECOMPACTED, STORE_ESLOW, -ECANCELED) with the reason in *err. */
int store_watch_next(store_watcher_t *w, const store_event_t **ret_ev, util_error_t *err);
/* Asks for one PROGRESS event carrying the revision up to which this watcher is complete. */
void store_watch_request_progress(store_watcher_t *w);
/* Stops and frees the watcher; its callback is never called again. */
void store_watch_cancel(store_watcher_t *w);

/* ---- backup ------------------------------------------------------------------------------- */

/* Writes an online, consistent copy of the database to path (must not exist), synced. */
int store_snapshot_save(store_t *s, const char *path, util_error_t *err);
/* Offline: verifies snapshot and installs it as db_path (which must not be open). */
int store_snapshot_restore(const char *snapshot, const char *db_path, util_error_t *err);

/* ---- introspection ------------------------------------------------------------------------ */

typedef struct store_stats {
    int64_t rev, compact_rev, compacted_through;
    int64_t keys;
    uint64_t batches, batched_ops, commit_failures;
    size_t watchers, history_events, history_bytes;
    int64_t db_bytes, wal_bytes;
} store_stats_t;

int store_stats(store_t *s, store_stats_t *ret, util_error_t *err);

#endif
