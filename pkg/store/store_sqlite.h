/* store_sqlite: the SQLite backend's private state, shared by its reader and writer files. */
#ifndef KUBELING_STORE_SQLITE_H
#define KUBELING_STORE_SQLITE_H

#include "store_internal.h"

/* Schema (application_id 'kBLG', user_version 1):
 *   meta(name, value)       rev, compact_rev, compacted_through
 *   log(rev PK, key, create_rev, prev_rev, lease, deleted, value)   every change, by revision
 *   kv(key PK, rev, lease)  the live keys, pointing at their newest log row
 *   lease(id PK, ttl, expiry_ms)
 * Values live once, in log; kv is a small index of what is live. */
#define STORE_SQLITE_APP_ID  0x6b424c47
#define STORE_SQLITE_VERSION 1

enum {
    /* reader statements (loop thread) */
    RS_META,
    RS_GET,
    RS_GET_NOW,
    RS_GET_AT,
    RS_RANGE,
    RS_RANGE_AT,
    RS_COUNT,
    RS_COUNT_AT,
    RS_EVENTS,
    RS_BEGIN,
    RS_END,
    RS_COUNT_STMTS
};

enum {
    /* writer statements (writer thread) */
    WS_BEGIN,
    WS_COMMIT,
    WS_ROLLBACK,
    WS_GET,
    WS_INSERT_LOG,
    WS_UPSERT_KV,
    WS_DELETE_KV,
    WS_SET_META,
    WS_LEASE_GET,
    WS_LEASE_INSERT,
    WS_LEASE_UPDATE,
    WS_LEASE_DELETE,
    WS_LEASE_KEYS,
    WS_COMPACT_PREV,
    WS_COMPACT_TOMBS,
    WS_COUNT_STMTS
};

struct store_sqlite {
    sqlite3 *rdb;
    sqlite3_stmt *rs[RS_COUNT_STMTS];

    /* Writer thread and its queue. */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t work_cond, sync_cond;
    store_req_t *head, *tail;
    size_t queued;     /* requests in the queue */
    size_t last_batch; /* requests in the batch committed last */
    bool stopping;

    /* Owned by the writer thread once it runs. */
    sqlite3 *wdb;
    sqlite3_stmt *ws[WS_COUNT_STMTS];
    int64_t rev; /* last committed revision */
    int64_t next_lease;
    int64_t compact_target;    /* history at or below this is logically gone */
    int64_t compacted_through; /* and physically removed up to here */
    uint64_t batches, batched_ops, failures;
};

/* store_sqlite.c */
int store__sqlite_open_conn(const char *path, const char *vfs, bool writer, int cache_kib,
                            sqlite3 **ret, util_error_t *err);
int store__sqlite_prepare(sqlite3 *db, const char *const *sql, sqlite3_stmt **stmts, size_t n,
                          util_error_t *err);
int store__sqlite_errno(int rc);
int store__precreate(const char *path, util_error_t *err); /* 0600, must not exist */

/* store_backup.c */
int store__sqlite_snapshot(store_t *s, const char *path, util_error_t *err);

/* store_writer.c */
int store__writer_start(store_t *s, util_error_t *err);
void store__writer_stop(store_t *s);
void store__writer_submit(store_t *s, store_req_t *req);

#endif
