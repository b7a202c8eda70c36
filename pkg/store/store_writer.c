/* store_writer: the SQLite writer thread: group commit of queued transactions, compaction. */
#include "store_sqlite.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const writer_sql[WS_COUNT_STMTS] = {
    [WS_BEGIN] = "BEGIN IMMEDIATE",
    [WS_COMMIT] = "COMMIT",
    [WS_ROLLBACK] = "ROLLBACK",
    [WS_SAVEPOINT] = "SAVEPOINT req",
    [WS_RELEASE] = "RELEASE req",
    [WS_ROLLBACK_TO] = "ROLLBACK TO req",
    [WS_GET] = "SELECT kv.rev, l.create_rev, l.lease, l.value FROM kv JOIN log l ON l.rev = kv.rev "
               "WHERE kv.key = ?1",
    [WS_INSERT_LOG] = "INSERT INTO log (rev, key, create_rev, prev_rev, lease, deleted, value) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [WS_UPSERT_KV] = "INSERT INTO kv (key, rev, lease) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO "
                     "UPDATE SET rev = excluded.rev, lease = excluded.lease",
    [WS_DELETE_KV] = "DELETE FROM kv WHERE key = ?1",
    [WS_SET_META] = "UPDATE meta SET value = ?2 WHERE name = ?1",
    [WS_LEASE_GET] = "SELECT ttl FROM lease WHERE id = ?1",
    [WS_LEASE_INSERT] = "INSERT INTO lease (id, ttl, expiry_ms) VALUES (?1, ?2, ?3)",
    [WS_LEASE_UPDATE] = "UPDATE lease SET expiry_ms = ?2 WHERE id = ?1",
    [WS_LEASE_DELETE] = "DELETE FROM lease WHERE id = ?1",
    [WS_LEASE_KEYS] = "SELECT key FROM kv WHERE lease = ?1",
    /* Compaction of the revisions in (?1, ?2]: every row there that has a predecessor makes
     * the predecessor unreachable at the compaction revision, and tombstones go themselves.
     * The newest version of each live key at the compaction revision has no successor at or
     * below it, so it stays: later events still find their previous value. */
    [WS_COMPACT_PREV] = "DELETE FROM log WHERE rev IN (SELECT prev_rev FROM log WHERE rev > ?1 "
                        "AND rev <= ?2 AND prev_rev != 0)",
    [WS_COMPACT_TOMBS] = "DELETE FROM log WHERE rev > ?1 AND rev <= ?2 AND deleted = 1",
};

/* ---- statement helpers -------------------------------------------------------------------- */

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int run(store_sqlite_t *q, int which)
{
    return step_done(q->ws[which]);
}

static int set_meta(store_sqlite_t *q, const char *name, int64_t value)
{
    sqlite3_stmt *st = q->ws[WS_SET_META];
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, value);
    return step_done(st);
}

/* Reads a key's live state; *ret NULL when absent. */
static int lookup(store_sqlite_t *q, const store_op_t *op, store_kv_t **ret)
{
    sqlite3_stmt *st = q->ws[WS_GET];
    sqlite3_bind_blob(st, 1, op->key, (int)op->key_len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *ret = NULL;
    if (rc == SQLITE_ROW)
        *ret = store__kv_new(op->key, op->key_len, sqlite3_column_blob(st, 3),
                             (size_t)sqlite3_column_bytes(st, 3), sqlite3_column_int64(st, 1),
                             sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 2));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int insert_log(store_sqlite_t *q, const store_op_t *op, int64_t rev, int64_t create_rev,
                      int64_t prev_rev, bool deleted)
{
    sqlite3_stmt *st = q->ws[WS_INSERT_LOG];
    sqlite3_bind_int64(st, 1, rev);
    sqlite3_bind_blob(st, 2, op->key, (int)op->key_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, create_rev);
    sqlite3_bind_int64(st, 4, prev_rev);
    sqlite3_bind_int64(st, 5, deleted ? 0 : op->lease);
    sqlite3_bind_int64(st, 6, deleted);
    sqlite3_bind_blob(st, 7, deleted ? "" : op->value, deleted ? 0 : (int)op->value_len,
                      SQLITE_STATIC);
    return step_done(st);
}

static int write_kv(store_sqlite_t *q, const store_op_t *op, int64_t rev, bool deleted)
{
    sqlite3_stmt *st = q->ws[deleted ? WS_DELETE_KV : WS_UPSERT_KV];
    sqlite3_bind_blob(st, 1, op->key, (int)op->key_len, SQLITE_STATIC);
    if (!deleted) {
        sqlite3_bind_int64(st, 2, rev);
        sqlite3_bind_int64(st, 3, op->lease);
    }
    return step_done(st);
}

/* ---- applying one transaction ------------------------------------------------------------- */

typedef struct apply_ctx {
    store_t *s;
    store_req_t *req;
    size_t events_cap, changes_cap;
} apply_ctx_t;

static void add_event(apply_ctx_t *c, store_event_t *e)
{
    store_req_t *req = c->req;
    if (req->nevents == c->events_cap)
        req->events = util_xrealloc(req->events, (c->events_cap = c->events_cap ? c->events_cap * 2
                                                                                : 4) *
                                                     sizeof(*req->events));
    req->events[req->nevents++] = e;
}

static void add_lease_change(apply_ctx_t *c, int64_t id, int64_t ttl, int64_t expiry)
{
    store_req_t *req = c->req;
    if (req->nlease_changes == c->changes_cap)
        req->lease_changes =
            util_xrealloc(req->lease_changes,
                          (c->changes_cap = c->changes_cap ? c->changes_cap * 2 : 2) *
                              sizeof(*req->lease_changes));
    req->lease_changes[req->nlease_changes++] = (store_lease_change_t){id, ttl, expiry};
}

/* A condition failed: the request's status, with the key's current state for the caller. */
static int refuse(apply_ctx_t *c, size_t i, int status, store_kv_t *current, const char *why)
{
    store_txn_result_t *res = &c->req->res;
    const store_op_t *op = &c->req->ops[i];
    res->status = status;
    res->failed_op = i;
    res->current = current;
    if (op->key)
        snprintf(res->message, sizeof(res->message), "%s: \"%.*s\"", why,
                 (int)(op->key_len > 100 ? 100 : op->key_len), op->key);
    else
        snprintf(res->message, sizeof(res->message), "%s: lease %lld", why, (long long)op->lease);
    return 1;
}

static int lease_exists(store_sqlite_t *q, int64_t id, int64_t *ret_ttl, bool *ret_found)
{
    sqlite3_stmt *st = q->ws[WS_LEASE_GET];
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    *ret_found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW && ret_ttl)
        *ret_ttl = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Writes one key change at the next revision. Returns an SQLite code. */
static int write_change(apply_ctx_t *c, size_t i, const store_op_t *op, store_kv_t *cur)
{
    store_sqlite_t *q = c->s->sql;
    bool deleted = op->type == STORE_OP_DELETE;
    int64_t rev = ++q->rev;
    int64_t create_rev = cur ? cur->create_rev : rev;
    int rc = insert_log(q, op, rev, create_rev, cur ? cur->mod_rev : 0, deleted);
    if (rc == SQLITE_OK)
        rc = write_kv(q, op, rev, deleted);
    if (rc != SQLITE_OK) {
        free(cur);
        return rc;
    }
    store_kv_t now = {op->key, op->key_len, op->value, op->value_len, create_rev, rev, op->lease};
    add_event(c, store__event_new(deleted ? STORE_EVENT_DELETE : STORE_EVENT_PUT, rev, &now, cur));
    if (i < c->req->res.n) {
        c->req->res.ops[i].rev = rev;
        c->req->res.ops[i].prev = cur;
    } else {
        free(cur);
    }
    return SQLITE_OK;
}

static int apply_key_op(apply_ctx_t *c, size_t i)
{
    store_sqlite_t *q = c->s->sql;
    const store_op_t *op = &c->req->ops[i];
    store_kv_t *cur = NULL;
    int rc = lookup(q, op, &cur);
    if (rc != SQLITE_OK)
        return -rc;
    if (op->type == STORE_OP_CREATE && cur)
        return refuse(c, i, -EEXIST, cur, "key already exists");
    if ((op->type == STORE_OP_UPDATE || op->type == STORE_OP_DELETE ||
         (op->type == STORE_OP_PUT && op->expected_rev)) &&
        !cur)
        return refuse(c, i, -ENOENT, NULL, "key not found");
    if (op->expected_rev && cur && cur->mod_rev != op->expected_rev) {
        char why[96];
        snprintf(why, sizeof(why), "revision %lld is not the expected %lld",
                 (long long)cur->mod_rev, (long long)op->expected_rev);
        return refuse(c, i, STORE_ECONFLICT, cur, why);
    }
    if (op->lease && op->type != STORE_OP_DELETE) {
        bool found;
        if ((rc = lease_exists(q, op->lease, NULL, &found)) != SQLITE_OK) {
            free(cur);
            return -rc;
        }
        if (!found) {
            free(cur);
            return refuse(c, i, -ENOENT, NULL, "lease not found");
        }
    }
    rc = write_change(c, i, op, cur);
    return rc == SQLITE_OK ? 0 : -rc;
}

/* Revoking a lease deletes each key attached to it, each at its own revision. */
static int revoke_lease(apply_ctx_t *c, int64_t id)
{
    store_sqlite_t *q = c->s->sql;
    sqlite3_stmt *st = q->ws[WS_LEASE_KEYS];
    sqlite3_bind_int64(st, 1, id);
    store_kv_t **keys = NULL;
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        keys = util_xrealloc(keys, (n + 1) * sizeof(*keys));
        keys[n++] = store__kv_new(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
                                  NULL, 0, 0, 0, 0);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    for (size_t k = 0; k < n && rc == SQLITE_OK; k++) {
        store_op_t del = {.type = STORE_OP_DELETE, .key = keys[k]->key, .key_len = keys[k]->key_len};
        store_kv_t *cur = NULL;
        rc = lookup(q, &del, &cur);
        if (rc == SQLITE_OK && cur)
            rc = write_change(c, SIZE_MAX, &del, cur);
    }
    for (size_t k = 0; k < n; k++)
        free(keys[k]);
    free(keys);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(q->ws[WS_LEASE_DELETE], 1, id);
        rc = run(q, WS_LEASE_DELETE);
    }
    return rc;
}

static int apply_lease_op(apply_ctx_t *c, size_t i)
{
    store_sqlite_t *q = c->s->sql;
    const store_op_t *op = &c->req->ops[i];
    if (op->type == STORE_OP_LEASE_GRANT) {
        int64_t id = q->next_lease++;
        int64_t expiry = (int64_t)store__now_ms() + op->ttl_s * 1000;
        sqlite3_stmt *st = q->ws[WS_LEASE_INSERT];
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, op->ttl_s);
        sqlite3_bind_int64(st, 3, expiry);
        int rc = step_done(st);
        if (rc != SQLITE_OK)
            return -rc;
        c->req->res.ops[i].lease = id;
        add_lease_change(c, id, op->ttl_s, expiry);
        return 0;
    }
    int64_t ttl = 0;
    bool found;
    int rc = lease_exists(q, op->lease, &ttl, &found);
    if (rc != SQLITE_OK)
        return -rc;
    if (!found)
        return refuse(c, i, -ENOENT, NULL, "lease not found");
    if (op->type == STORE_OP_LEASE_REVOKE) {
        rc = revoke_lease(c, op->lease);
        if (rc == SQLITE_OK)
            add_lease_change(c, op->lease, 0, 0);
        return rc == SQLITE_OK ? 0 : -rc;
    }
    int64_t expiry = (int64_t)store__now_ms() + ttl * 1000;
    sqlite3_stmt *st = q->ws[WS_LEASE_UPDATE];
    sqlite3_bind_int64(st, 1, op->lease);
    sqlite3_bind_int64(st, 2, expiry);
    if ((rc = step_done(st)) != SQLITE_OK)
        return -rc;
    add_lease_change(c, op->lease, ttl, expiry);
    return 0;
}

/* Drops what a failed or refused request produced. */
static void req_reset_output(store_req_t *req)
{
    for (size_t i = 0; i < req->nevents; i++)
        store_event_unref(req->events[i]);
    req->nevents = 0;
    req->nlease_changes = 0;
    for (size_t i = 0; i < req->res.n; i++) {
        free(req->res.ops[i].prev);
        req->res.ops[i] = (store_op_result_t){0};
    }
}

/* Returns 0 applied, 1 refused (status set), or a negative SQLite code. */
static int apply_txn(store_t *s, store_req_t *req)
{
    apply_ctx_t c = {.s = s, .req = req};
    req->res.n = req->nops;
    req->res.ops = util_xcalloc(req->nops, sizeof(*req->res.ops));
    for (size_t i = 0; i < req->nops; i++) {
        int r = req->ops[i].type <= STORE_OP_DELETE ? apply_key_op(&c, i) : apply_lease_op(&c, i);
        if (r != 0)
            return r;
    }
    return 0;
}

/* ---- batches ------------------------------------------------------------------------------ */

static void fail_request(store_req_t *req, int status, const char *msg)
{
    req_reset_output(req);
    free(req->res.current);
    req->res.current = NULL;
    req->res.status = status;
    snprintf(req->res.message, sizeof(req->res.message), "%s", msg);
}

/* Hands a finished request back: async ones through the loop; a sync one wakes its caller,
 * and what it produced (events, lease changes) still goes to the loop for the watch hub. */
static void finish(store_t *s, store_req_t *req)
{
    store_sqlite_t *q = s->sql;
    if (!req->sync) {
        store__complete(s, req);
        return;
    }
    if (req->nevents || req->nlease_changes) {
        store_req_t *pub = util_xcalloc(1, sizeof(*pub));
        pub->kind = STORE_REQ_TXN;
        pub->events = req->events;
        pub->nevents = req->nevents;
        pub->lease_changes = req->lease_changes;
        pub->nlease_changes = req->nlease_changes;
        pub->res.rev = req->res.rev;
        req->events = NULL;
        req->nevents = 0;
        req->lease_changes = NULL;
        req->nlease_changes = 0;
        store__complete(s, pub);
    }
    pthread_mutex_lock(&q->mu);
    req->done = true;
    pthread_cond_broadcast(&q->sync_cond);
    pthread_mutex_unlock(&q->mu);
}

static void fail_batch(store_t *s, store_req_t *batch, int rc, int64_t start_rev,
                       int64_t start_lease, int64_t start_compact)
{
    store_sqlite_t *q = s->sql;
    char msg[160];
    snprintf(msg, sizeof(msg), "datastore commit failed: %s", sqlite3_errmsg(q->wdb));
    if (!sqlite3_get_autocommit(q->wdb))
        run(q, WS_ROLLBACK);
    q->rev = start_rev;
    q->next_lease = start_lease;
    q->compact_target = start_compact;
    pthread_mutex_lock(&q->mu);
    q->failures++;
    pthread_mutex_unlock(&q->mu);
    int status = -store__sqlite_errno(rc);
    for (store_req_t *req = batch, *next; req; req = next) {
        next = req->next;
        fail_request(req, status ? status : -EIO, msg);
        req->res.rev = q->rev;
        finish(s, req);
    }
}

static int apply_one(store_t *s, store_req_t *req)
{
    store_sqlite_t *q = s->sql;
    if (req->kind == STORE_REQ_COMPACT) {
        if (req->compact_rev > q->compact_target)
            q->compact_target = req->compact_rev;
        return set_meta(q, "compact_rev", q->compact_target);
    }
    int rc = run(q, WS_SAVEPOINT);
    if (rc != SQLITE_OK)
        return rc;
    int64_t rev0 = q->rev, lease0 = q->next_lease;
    int r = apply_txn(s, req);
    if (r < 0)
        return -r;
    if (r > 0) { /* a condition failed: undo this request only */
        req_reset_output(req);
        q->rev = rev0;
        q->next_lease = lease0;
        rc = run(q, WS_ROLLBACK_TO);
        if (rc != SQLITE_OK)
            return rc;
    }
    return run(q, WS_RELEASE);
}

/* One transaction, one fsync, for every request in the batch. */
static void run_batch(store_t *s, store_req_t *batch)
{
    store_sqlite_t *q = s->sql;
    int64_t start_rev = q->rev, start_lease = q->next_lease, start_compact = q->compact_target;
    int rc = run(q, WS_BEGIN);
    size_t nops = 0;
    for (store_req_t *req = batch; req && rc == SQLITE_OK; req = req->next) {
        rc = apply_one(s, req);
        nops += req->nops;
    }
    if (rc == SQLITE_OK && q->rev != start_rev)
        rc = set_meta(q, "rev", q->rev);
    if (rc == SQLITE_OK)
        rc = run(q, WS_COMMIT);
    if (rc != SQLITE_OK) {
        fail_batch(s, batch, rc, start_rev, start_lease, start_compact);
        return;
    }
    uint64_t now = store__mono_ns();
    pthread_mutex_lock(&q->mu);
    q->batches++;
    q->batched_ops += nops;
    pthread_mutex_unlock(&q->mu);
    for (store_req_t *req = batch, *next; req; req = next) {
        next = req->next;
        for (size_t i = 0; i < req->nevents; i++)
            req->events[i]->commit_ns = now;
        req->res.rev = req->res.status == 0 && req->nevents
                           ? req->events[req->nevents - 1]->rev
                           : q->rev;
        finish(s, req);
    }
}

/* One small step of physical compaction, run only when no request is waiting. */
static void compact_step(store_t *s)
{
    store_sqlite_t *q = s->sql;
    int64_t lo = q->compacted_through;
    int64_t hi = lo + (int64_t)(s->opts.compact_batch_rows ? s->opts.compact_batch_rows : 1000);
    if (hi > q->compact_target)
        hi = q->compact_target;
    int rc = run(q, WS_BEGIN);
    for (int which = WS_COMPACT_PREV; rc == SQLITE_OK && which <= WS_COMPACT_TOMBS; which++) {
        sqlite3_bind_int64(q->ws[which], 1, lo);
        sqlite3_bind_int64(q->ws[which], 2, hi);
        rc = run(q, which);
    }
    if (rc == SQLITE_OK)
        rc = set_meta(q, "compacted_through", hi);
    if (rc == SQLITE_OK)
        rc = run(q, WS_COMMIT);
    if (rc != SQLITE_OK) {
        if (!sqlite3_get_autocommit(q->wdb))
            run(q, WS_ROLLBACK);
        return; /* retried on the next idle moment */
    }
    pthread_mutex_lock(&q->mu);
    q->compacted_through = hi;
    pthread_mutex_unlock(&q->mu);
    if (hi == q->compact_target) /* give free pages back to the file system, a bit at a time */
        sqlite3_exec(q->wdb, "PRAGMA incremental_vacuum(2048)", NULL, NULL, NULL);
}

/* ---- the thread --------------------------------------------------------------------------- */

/* Takes requests from the queue head up to the batch limit (always at least one). */
static store_req_t *take_batch(store_t *s)
{
    store_sqlite_t *q = s->sql;
    size_t limit = s->opts.max_batch_ops ? s->opts.max_batch_ops : 1024, ops = 0;
    store_req_t *head = q->head, *last = NULL, *req = q->head;
    while (req && (ops == 0 || ops + req->nops <= limit)) {
        ops += req->nops ? req->nops : 1;
        last = req;
        req = req->next;
    }
    if (!last)
        return NULL;
    q->head = last->next;
    if (!q->head)
        q->tail = NULL;
    last->next = NULL;
    return head;
}

/* Stopping drains the queue: whatever was accepted before store_close is committed (or fails
 * on its own merits); only requests submitted after the stop began are canceled. */
static void *writer_main(void *arg)
{
    store_t *s = arg;
    store_sqlite_t *q = s->sql;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->head && !q->stopping && q->compacted_through >= q->compact_target)
            pthread_cond_wait(&q->work_cond, &q->mu);
        store_req_t *batch = take_batch(s);
        bool stopping = q->stopping;
        pthread_mutex_unlock(&q->mu);
        if (batch)
            run_batch(s, batch);
        else if (stopping)
            break;
        else
            compact_step(s);
    }
    return NULL;
}

int store__writer_start(store_t *s, util_error_t *err)
{
    store_sqlite_t *q = s->sql;
    int r = store__sqlite_prepare(q->wdb, writer_sql, q->ws, WS_COUNT_STMTS, err);
    if (r < 0)
        return r;
    /* Bound the WAL file: after each checkpoint it is truncated back to this size, so a
     * burst does not leave a large WAL behind on a small disk. */
    sqlite3_exec(q->wdb, "PRAGMA journal_size_limit = 8388608", NULL, NULL, NULL);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work_cond, NULL);
    pthread_cond_init(&q->sync_cond, NULL);
    int e = pthread_create(&q->thread, NULL, writer_main, s);
    if (e != 0) {
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->work_cond);
        pthread_cond_destroy(&q->sync_cond);
        return util_error_make(err, e, "datastore: starting the writer thread");
    }
    q->thread_started = true;
    return 0;
}

void store__writer_stop(store_t *s)
{
    store_sqlite_t *q = s->sql;
    if (!q->thread_started)
        return;
    pthread_mutex_lock(&q->mu);
    q->stopping = true;
    pthread_cond_signal(&q->work_cond);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    q->thread_started = false;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->work_cond);
    pthread_cond_destroy(&q->sync_cond);
}

void store__writer_submit(store_t *s, store_req_t *req)
{
    store_sqlite_t *q = s->sql;
    bool sync = req->sync;
    pthread_mutex_lock(&q->mu);
    if (q->stopping) {
        pthread_mutex_unlock(&q->mu);
        fail_request(req, -ECANCELED, "datastore is shutting down");
        finish(s, req);
        return;
    }
    req->next = NULL;
    if (q->tail)
        q->tail->next = req;
    else
        q->head = req;
    q->tail = req;
    pthread_cond_signal(&q->work_cond);
    while (sync && !req->done)
        pthread_cond_wait(&q->sync_cond, &q->mu);
    pthread_mutex_unlock(&q->mu);
}
