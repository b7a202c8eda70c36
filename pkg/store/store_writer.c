/* store_writer: the SQLite writer thread: group commit of queued transactions, compaction. */
#include "store_sqlite.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const writer_sql[WS_COUNT_STMTS] = {
    [WS_BEGIN] = "BEGIN IMMEDIATE",
    [WS_COMMIT] = "COMMIT",
    [WS_ROLLBACK] = "ROLLBACK",
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
        req->events =
            util_xrealloc(req->events, (c->events_cap = c->events_cap ? c->events_cap * 2 : 4) *
                                           sizeof(*req->events));
    req->events[req->nevents++] = e;
}

static void add_lease_change(apply_ctx_t *c, int64_t id, int64_t ttl, int64_t expiry)
{
    store_req_t *req = c->req;
    if (req->nlease_changes == c->changes_cap)
        req->lease_changes = util_xrealloc(
            req->lease_changes, (c->changes_cap = c->changes_cap ? c->changes_cap * 2 : 2) *
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

/* Checks one key op against the state before the transaction. Keys within a transaction are
 * distinct (store.c refuses duplicates), so no op's condition depends on another op's write:
 * every condition is checked before anything is written, and a refused transaction leaves
 * nothing to undo. On success *ret_cur holds the key's current state (or NULL). */
static int check_key_op(apply_ctx_t *c, size_t i, store_kv_t **ret_cur)
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
    *ret_cur = cur;
    return 0;
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
        store_op_t del = {
            .type = STORE_OP_DELETE, .key = keys[k]->key, .key_len = keys[k]->key_len};
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

static int check_lease_op(apply_ctx_t *c, size_t i, int64_t *ret_ttl)
{
    const store_op_t *op = &c->req->ops[i];
    if (op->type == STORE_OP_LEASE_GRANT)
        return 0;
    bool found;
    int rc = lease_exists(c->s->sql, op->lease, ret_ttl, &found);
    if (rc != SQLITE_OK)
        return -rc;
    return found ? 0 : refuse(c, i, -ENOENT, NULL, "lease not found");
}

static int apply_lease_op(apply_ctx_t *c, size_t i, int64_t ttl)
{
    store_sqlite_t *q = c->s->sql;
    const store_op_t *op = &c->req->ops[i];
    int rc;
    if (op->type == STORE_OP_LEASE_GRANT) {
        int64_t id = q->next_lease++;
        int64_t expiry = (int64_t)store__now_ms() + op->ttl_s * 1000;
        sqlite3_stmt *st = q->ws[WS_LEASE_INSERT];
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, op->ttl_s);
        sqlite3_bind_int64(st, 3, expiry);
        if ((rc = step_done(st)) != SQLITE_OK)
            return rc;
        c->req->res.ops[i].lease = id;
        add_lease_change(c, id, op->ttl_s, expiry);
        return SQLITE_OK;
    }
    if (op->type == STORE_OP_LEASE_REVOKE) {
        rc = revoke_lease(c, op->lease);
        if (rc == SQLITE_OK)
            add_lease_change(c, op->lease, 0, 0);
        return rc;
    }
    int64_t expiry = (int64_t)store__now_ms() + ttl * 1000;
    sqlite3_stmt *st = q->ws[WS_LEASE_UPDATE];
    sqlite3_bind_int64(st, 1, op->lease);
    sqlite3_bind_int64(st, 2, expiry);
    if ((rc = step_done(st)) == SQLITE_OK)
        add_lease_change(c, op->lease, ttl, expiry);
    return rc;
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

/* Returns 0 applied, 1 refused (status set, nothing written), or a negative SQLite code (the
 * whole batch then rolls back). */
static int apply_txn(store_t *s, store_req_t *req)
{
    apply_ctx_t c = {.s = s, .req = req};
    size_t n = req->nops;
    req->res.n = n;
    req->res.ops = util_xcalloc(n, sizeof(*req->res.ops));
    store_kv_t **cur = util_xcalloc(n, sizeof(*cur));
    int64_t *ttl = util_xcalloc(n, sizeof(*ttl));
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++)
        r = req->ops[i].type <= STORE_OP_DELETE ? check_key_op(&c, i, &cur[i])
                                                : check_lease_op(&c, i, &ttl[i]);
    for (size_t i = 0; i < n && r == 0; i++) {
        int rc = req->ops[i].type <= STORE_OP_DELETE ? write_change(&c, i, &req->ops[i], cur[i])
                                                     : apply_lease_op(&c, i, ttl[i]);
        cur[i] = NULL; /* write_change took it */
        r = rc == SQLITE_OK ? 0 : -rc;
    }
    for (size_t i = 0; i < n; i++)
        free(cur[i]);
    free(cur);
    free(ttl);
    return r;
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

/* Moves what a sync request produced (events, lease changes) into a request of its own for
 * the loop: the caller gets the result directly, the watch hub still gets the events. */
static store_req_t *publication_of(store_req_t *req)
{
    if (!req->nevents && !req->nlease_changes)
        return NULL;
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
    return pub;
}

/* Hands finished requests back: one hand-over to the loop (one wake-up) for the whole list,
 * then the callers of sync requests are woken; the loop already has their events by then. */
static void finish_all(store_t *s, store_req_t *list)
{
    store_sqlite_t *q = s->sql;
    store_req_t *head = NULL, *tail = NULL, *syncs = NULL;
    for (store_req_t *req = list, *next; req; req = next) {
        next = req->next;
        store_req_t *out = req->sync ? publication_of(req) : req;
        if (req->sync) {
            req->next = syncs;
            syncs = req;
        }
        if (!out)
            continue;
        out->next = NULL;
        if (tail)
            tail->next = out;
        else
            head = out;
        tail = out;
    }
    if (head)
        store__complete(s, head, tail);
    if (!syncs)
        return;
    pthread_mutex_lock(&q->mu);
    for (store_req_t *req = syncs; req; req = req->next)
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
    for (store_req_t *req = batch; req; req = req->next) {
        fail_request(req, status ? status : -EIO, msg);
        req->res.rev = q->rev;
    }
    finish_all(s, batch);
}

static int apply_one(store_t *s, store_req_t *req)
{
    store_sqlite_t *q = s->sql;
    if (req->kind == STORE_REQ_COMPACT) {
        if (req->compact_rev > q->compact_target)
            q->compact_target = req->compact_rev;
        return set_meta(q, "compact_rev", q->compact_target);
    }
    int r = apply_txn(s, req);
    return r < 0 ? -r : SQLITE_OK; /* refused (r > 0): its status is set, nothing to undo */
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
    for (store_req_t *req = batch; req; req = req->next) {
        for (size_t i = 0; i < req->nevents; i++)
            req->events[i]->commit_ns = now;
        req->res.rev =
            req->res.status == 0 && req->nevents ? req->events[req->nevents - 1]->rev : q->rev;
    }
    finish_all(s, batch);
}

/* One small step of physical compaction: run when no request is waiting, and between batches
 * under load (COMPACT_EVERY_BATCHES). */
#define COMPACT_EVERY_BATCHES 8
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
    size_t limit = s->opts.max_batch_ops ? s->opts.max_batch_ops : 1024, ops = 0, n = 0;
    store_req_t *head = q->head, *last = NULL, *req = q->head;
    while (req && (ops == 0 || ops + req->nops <= limit)) {
        ops += req->nops ? req->nops : 1;
        n++;
        last = req;
        req = req->next;
    }
    if (!last)
        return NULL;
    q->head = last->next;
    if (!q->head)
        q->tail = NULL;
    last->next = NULL;
    q->queued -= n;
    q->last_batch = n;
    return head;
}

/* Adaptive group commit. The writers of the batch just committed usually come back with their
 * next request within microseconds; taking the queue at once would split concurrent writers
 * into two half-size batches that alternate, each paying a full fsync. So when fewer requests
 * wait than were just committed, wait a little (at most GROUP_COMMIT_WAIT_US) for them. A
 * single sequential writer (last batch of one) never waits. Called with q->mu held. */
#define GROUP_COMMIT_WAIT_US 250

static void wait_for_stragglers(store_sqlite_t *q)
{
    if (q->last_batch < 2 || q->queued >= q->last_batch || q->stopping)
        return;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += GROUP_COMMIT_WAIT_US * 1000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (q->queued < q->last_batch && !q->stopping)
        if (pthread_cond_timedwait(&q->work_cond, &q->mu, &until) == ETIMEDOUT)
            break;
}

/* Stopping drains the queue: whatever was accepted before store_close is committed (or fails
 * on its own merits); only requests submitted after the stop began are canceled. */
static void *writer_main(void *arg)
{
    store_t *s = arg;
    store_sqlite_t *q = s->sql;
    unsigned since_compact = 0;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->head && !q->stopping && q->compacted_through >= q->compact_target)
            pthread_cond_wait(&q->work_cond, &q->mu);
        wait_for_stragglers(q);
        store_req_t *batch = take_batch(s);
        bool stopping = q->stopping;
        pthread_mutex_unlock(&q->mu);
        if (batch) {
            run_batch(s, batch);
            /* Under steady load the queue is never empty: give compaction one small step
             * every few batches so history cannot pile up behind the writers. */
            if (++since_compact >= COMPACT_EVERY_BATCHES &&
                q->compacted_through < q->compact_target) {
                compact_step(s);
                since_compact = 0;
            }
        } else if (stopping) {
            break;
        } else {
            compact_step(s);
            since_compact = 0;
        }
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
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&q->work_cond, &attr);
    pthread_condattr_destroy(&attr);
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
        req->next = NULL;
        finish_all(s, req);
        return;
    }
    req->next = NULL;
    if (q->tail)
        q->tail->next = req;
    else
        q->head = req;
    q->tail = req;
    q->queued++;
    pthread_cond_signal(&q->work_cond);
    while (sync && !req->done)
        pthread_cond_wait(&q->sync_cond, &q->mu);
    pthread_mutex_unlock(&q->mu);
}
