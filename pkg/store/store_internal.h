/* store_internal: types shared by the store's files (not part of the public interface). */
#ifndef KUBELING_STORE_INTERNAL_H
#define KUBELING_STORE_INTERNAL_H

#include "store.h"

#include <pthread.h>
#include <sqlite3.h>

/* ---- backend interface --------------------------------------------------------------------
 * The public functions in store.c validate arguments, own the watch hub and the lease timers,
 * and call a backend through this table. SQLite is the one backend today; an external one
 * (etcd, PostgreSQL) implements the same table, so the apiserver above store.h never changes. */

typedef struct store_req store_req_t;

typedef struct store_backend_ops {
    const char *name;
    int (*open)(store_t *s, util_error_t *err);
    void (*stop)(store_t *s);  /* stops background threads; queued writes fail */
    void (*close)(store_t *s); /* releases everything the backend holds */
    int (*get)(store_t *s, const char *key, size_t key_len, int64_t rev, store_kv_t **ret_kv,
               int64_t *ret_rev, util_error_t *err);
    int (*range)(store_t *s, const char *start, size_t start_len, const char *end, size_t end_len,
                 int64_t rev, size_t limit, bool count_only, store_list_t *ret, int64_t *ret_count,
                 util_error_t *err);
    /* Takes ownership of req; completion comes back through store__complete. */
    void (*submit)(store_t *s, store_req_t *req);
    /* Events with after < rev <= upto, in order, at most max. */
    int (*read_events)(store_t *s, int64_t after, int64_t upto, size_t max,
                       store_event_t ***ret_events, size_t *ret_n, util_error_t *err);
    int (*snapshot)(store_t *s, const char *path, util_error_t *err);
    int (*stats)(store_t *s, store_stats_t *st, util_error_t *err);
} store_backend_ops_t;

extern const store_backend_ops_t store_sqlite_backend;

/* ---- write requests ------------------------------------------------------------------------ */

typedef enum { STORE_REQ_TXN, STORE_REQ_COMPACT } store_req_kind_t;

struct store_req {
    store_req_t *next;
    store_req_kind_t kind;
    store_op_t *ops; /* deep copy; keys and values live in the same allocation */
    size_t nops;
    int64_t compact_rev; /* STORE_REQ_COMPACT */
    store_txn_cb cb;
    void *userdata;
    bool sync, done; /* store_txn_sync waits on the writer's condition variable */
    store_txn_result_t res;
    store_event_t **events; /* produced by a successful txn, in revision order */
    size_t nevents;
    struct store_lease_change *lease_changes; /* grants, keepalives and revokes applied */
    size_t nlease_changes;
};

typedef struct store_lease_change {
    int64_t id;
    int64_t ttl_s;
    int64_t expiry_ms; /* 0 = revoked */
} store_lease_change_t;

/* ---- watch hub (loop thread) --------------------------------------------------------------- */

typedef struct store_hub {
    store_event_t **ring; /* events first_rev .. first_rev + count - 1 */
    size_t cap, head, count;
    size_t bytes;
    int64_t first_rev;
    store_watcher_t *watchers; /* doubly linked */
    size_t nwatchers, nprogress;
    store_watcher_t *iter_next; /* notify pass in progress: survives cancels in callbacks */
    uv_timer_t progress_timer;
} store_hub_t;

struct store_watcher {
    store_t *store;
    store_watcher_t *prev, *next;
    char *start, *end; /* end NULL: single key */
    size_t start_len, end_len;
    int64_t next_rev; /* next revision to look at */
    bool progress_notify, progress_wanted, armed, ended;
    int end_status;
    char end_reason[160];
    store_event_t **pending; /* a page read from disk */
    size_t npending, pending_pos;
    store_watch_cb cb;
    void *userdata;
};

/* ---- leases (loop thread) ------------------------------------------------------------------ */

typedef struct store_lease {
    int64_t id, ttl_s, expiry_ms;
    bool revoking;
} store_lease_t;

/* ---- the store ----------------------------------------------------------------------------- */

typedef struct store_sqlite store_sqlite_t;

struct store {
    store_options_t opts;
    char *path;
    uv_loop_t *loop;
    const store_backend_ops_t *backend;
    store_sqlite_t *sql;

    /* Completed requests handed from the writer thread to the loop. */
    pthread_mutex_t done_mu;
    store_req_t *done_head, *done_tail;
    uv_async_t done_async;

    /* Loop-thread state. */
    int64_t delivered_rev; /* every event up to here is in the hub */
    int64_t compact_rev;
    store_hub_t hub;
    store_lease_t *leases;
    size_t nleases, cap_leases;
    uv_timer_t lease_timer;
    uv_timer_t compact_timer;
    struct {
        int64_t rev;
        uint64_t ms;
    } samples[512]; /* (revision, wall time) samples for age-based retention */
    size_t nsamples;
    int pending_handles;
    bool closing;
};

/* store.c */
void store__handle_closed(uv_handle_t *h); /* close callback of every handle in store_t */
/* Writer thread: hands a list of finished requests (linked by next) to the loop. */
void store__complete(store_t *s, store_req_t *head, store_req_t *tail);
void store__req_free(store_req_t *req);
store_kv_t *store__kv_new(const void *key, size_t key_len, const void *value, size_t value_len,
                          int64_t create_rev, int64_t mod_rev, int64_t lease);
store_event_t *store__event_new(store_event_type_t type, int64_t rev, const store_kv_t *kv,
                                const store_kv_t *prev);
uint64_t store__now_ms(void);
uint64_t store__mono_ns(void);

/* store_watch.c */
void store__hub_init(store_t *s);
void store__hub_publish(store_t *s, store_event_t **events, size_t n);
void store__hub_notify(store_t *s);
void store__hub_compacted(store_t *s);
void store__hub_close(store_t *s);
size_t store__event_size(const store_event_t *e);

/* store_lease.c */
int store__leases_init(store_t *s, const store_lease_t *leases, size_t n);
void store__leases_apply(store_t *s, const store_lease_change_t *changes, size_t n);
void store__leases_close(store_t *s);

/* store_compact.c */
void store__compact_init(store_t *s);
void store__compact_note_commit(store_t *s);
void store__compact_close(store_t *s);

#endif
