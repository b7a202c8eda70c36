/* store_sqlite: the SQLite backend: opening and checking the file, reads, snapshots. */
#include "store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const reader_sql[RS_COUNT_STMTS] = {
    [RS_META] = "SELECT value FROM meta WHERE name = 'rev'",
    [RS_GET] = "SELECT l.create_rev, l.rev, l.lease, l.value FROM kv JOIN log l ON l.rev = kv.rev "
               "WHERE kv.key = ?1",
    /* A get at the latest revision in one statement (one implicit read transaction): the
     * revision, and the key's row if it exists (NULLs if not). */
    [RS_GET_NOW] = "SELECT m.value, l.create_rev, l.rev, l.lease, l.value FROM meta m "
                   "LEFT JOIN kv ON kv.key = ?1 LEFT JOIN log l ON l.rev = kv.rev "
                   "WHERE m.name = 'rev'",
    [RS_GET_AT] = "SELECT create_rev, rev, lease, value, deleted FROM log WHERE key = ?1 AND "
                  "rev <= ?2 ORDER BY rev DESC LIMIT 1",
    [RS_RANGE] = "SELECT kv.key, l.create_rev, l.rev, l.lease, l.value FROM kv "
                 "JOIN log l ON l.rev = kv.rev WHERE kv.key >= ?1 AND kv.key < ?2 "
                 "ORDER BY kv.key LIMIT ?3",
    /* The newest row at or below ?3 of every key in range, unless it is a tombstone. */
    [RS_RANGE_AT] = "SELECT l.key, l.create_rev, l.rev, l.lease, l.value FROM log l "
                    "WHERE l.key >= ?1 AND l.key < ?2 AND l.rev <= ?3 AND "
                    "l.deleted = 0 AND NOT EXISTS (SELECT 1 FROM log n WHERE n.key = l.key AND "
                    "n.rev > l.rev AND n.rev <= ?3) ORDER BY l.key LIMIT ?4",
    [RS_COUNT] = "SELECT count(*) FROM kv WHERE key >= ?1 AND key < ?2",
    [RS_COUNT_AT] = "SELECT count(*) FROM log l WHERE l.key >= ?1 AND l.key < ?2 "
                    "AND l.rev <= ?3 AND l.deleted = 0 AND NOT EXISTS (SELECT 1 FROM log n WHERE "
                    "n.key = l.key AND n.rev > l.rev AND n.rev <= ?3)",
    [RS_EVENTS] = "SELECT l.rev, l.key, l.create_rev, l.lease, l.deleted, l.value, p.create_rev, "
                  "p.rev, p.lease, p.value FROM log l LEFT JOIN log p ON p.rev = l.prev_rev AND "
                  "l.prev_rev != 0 WHERE l.rev > ?1 AND l.rev <= ?2 ORDER BY l.rev LIMIT ?3",
    [RS_BEGIN] = "BEGIN",
    [RS_END] = "COMMIT",
};

static const char schema_sql[] =
    "PRAGMA application_id = 1799507015;" /* 0x6b424c47, 'kBLG' */
    "PRAGMA user_version = 1;"
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO meta VALUES ('rev', 0), ('compact_rev', 0), ('compacted_through', 0);"
    "CREATE TABLE log (rev INTEGER PRIMARY KEY, key BLOB NOT NULL, create_rev INTEGER NOT NULL,"
    " prev_rev INTEGER NOT NULL, lease INTEGER NOT NULL, deleted INTEGER NOT NULL,"
    " value BLOB NOT NULL);"
    "CREATE INDEX log_key ON log (key, rev);"
    "CREATE TABLE kv (key BLOB PRIMARY KEY, rev INTEGER NOT NULL, lease INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE INDEX kv_lease ON kv (lease) WHERE lease != 0;"
    "CREATE TABLE lease (id INTEGER PRIMARY KEY, ttl INTEGER NOT NULL,"
    " expiry_ms INTEGER NOT NULL);";

int store__sqlite_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_FULL:
        return ENOSPC;
    case SQLITE_NOMEM:
        return ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return EBUSY;
    case SQLITE_READONLY:
        return EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return EACCES;
    case SQLITE_TOOBIG:
        return E2BIG;
    case SQLITE_CONSTRAINT:
        return EEXIST;
    default:
        return EIO;
    }
}

static int sql_error(sqlite3 *db, int rc, const char *path, const char *what, util_error_t *err)
{
    return util_error_make(err, store__sqlite_errno(rc), "datastore %s: %s: %s", path, what,
                           db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static int exec(sqlite3 *db, const char *sql, const char *path, util_error_t *err)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sql_error(db, rc, path, sql, err);
}

int store__sqlite_prepare(sqlite3 *db, const char *const *sql, sqlite3_stmt **stmts, size_t n,
                          util_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        int rc = sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &stmts[i], NULL);
        if (rc != SQLITE_OK)
            return util_error_make(err, EIO, "datastore: preparing \"%s\": %s", sql[i],
                                   sqlite3_errmsg(db));
    }
    return 0;
}

/* synchronous=FULL makes every COMMIT fsync the WAL: an acknowledged write survives power
 * loss (kine's NORMAL does not). The cost is amortized by group commit in the writer. */
int store__sqlite_open_conn(const char *path, const char *vfs, bool writer, int cache_kib,
                            sqlite3 **ret, util_error_t *err)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
                (writer ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &db, flags, vfs);
    if (rc != SQLITE_OK) {
        int r = sql_error(db, rc, path, "open", err);
        sqlite3_close(db);
        return r;
    }
    char pragmas[256];
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA cache_size = -%d; PRAGMA busy_timeout = 10000; PRAGMA temp_store = MEMORY;"
             "PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF;",
             cache_kib > 0 ? cache_kib : 2048);
    int r = exec(db, pragmas, path, err);
    if (r < 0) {
        sqlite3_close(db);
        return r;
    }
    *ret = db;
    return 0;
}

/* Reads a file's first bytes to tell "not SQLite at all" from other failures, so the message
 * says what is wrong instead of SQLite's generic "file is not a database". */
static int check_header(const char *path, bool *ret_exists, util_error_t *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        *ret_exists = false;
        return 0;
    }
    if (fd < 0)
        return util_error_make(err, errno, "datastore %s: open", path);
    *ret_exists = true;
    char hdr[16];
    ssize_t n = read(fd, hdr, sizeof(hdr));
    if (n == 0)
        return 0; /* empty file: treated as new */
    if (n != (ssize_t)sizeof(hdr) || memcmp(hdr, "SQLite format 3", 16) != 0)
        return util_error_make(err, 0,
                               "datastore %s is not a kubeling database: it is not an SQLite "
                               "file (refusing to start; move it away or restore a snapshot)",
                               path);
    return 0;
}

static int64_t query_int(sqlite3 *db, const char *sql, int *rc)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    *rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (*rc == SQLITE_OK) {
        *rc = sqlite3_step(st);
        if (*rc == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
            *rc = SQLITE_OK;
        } else if (*rc == SQLITE_DONE) {
            *rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return v;
}

/* Creates the schema in an empty file, or proves an existing file is ours and readable. */
static int check_schema(store_t *s, sqlite3 *db, util_error_t *err)
{
    int rc;
    int64_t app = query_int(db, "PRAGMA application_id", &rc);
    if (rc != SQLITE_OK)
        return sql_error(db, rc, s->path, "reading the header", err);
    int64_t tables = query_int(db, "SELECT count(*) FROM sqlite_master", &rc);
    if (rc != SQLITE_OK)
        return sql_error(db, rc, s->path, "reading the schema", err);
    if (app == 0 && tables == 0) {
        int r =
            exec(db, "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL;", s->path, err);
        if (r == 0)
            r = exec(db, "BEGIN", s->path, err);
        if (r == 0 && (r = exec(db, schema_sql, s->path, err)) < 0)
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return r < 0 ? r : exec(db, "COMMIT", s->path, err);
    }
    if (app != STORE_SQLITE_APP_ID)
        return util_error_make(err, 0,
                               "datastore %s is not a kubeling database: SQLite file with "
                               "application_id 0x%08llx and %lld tables (refusing to start)",
                               s->path, (unsigned long long)app, (long long)tables);
    int64_t version = query_int(db, "PRAGMA user_version", &rc);
    if (rc == SQLITE_OK && version > STORE_SQLITE_VERSION)
        return util_error_make(err, 0,
                               "datastore %s has schema version %lld, newer than this build's %d",
                               s->path, (long long)version, STORE_SQLITE_VERSION);
    return exec(db, "PRAGMA journal_mode = WAL;", s->path, err);
}

static int verify(store_t *s, sqlite3 *db, util_error_t *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *res = (const char *)sqlite3_column_text(st, 0);
        if (res && strcmp(res, "ok") != 0) {
            int r = util_error_make(err, 0,
                                    "datastore %s is corrupt: %s (refusing to start; "
                                    "restore a snapshot)",
                                    s->path, res);
            sqlite3_finalize(st);
            return r;
        }
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : sql_error(db, rc, s->path, "integrity check", err);
}

static int load_state(store_t *s, sqlite3 *db, util_error_t *err)
{
    store_sqlite_t *q = s->sql;
    int rc;
    q->rev = query_int(db, "SELECT value FROM meta WHERE name = 'rev'", &rc);
    if (rc == SQLITE_OK)
        q->compact_target = query_int(db, "SELECT value FROM meta WHERE name = 'compact_rev'", &rc);
    if (rc == SQLITE_OK)
        q->compacted_through =
            query_int(db, "SELECT value FROM meta WHERE name = 'compacted_through'", &rc);
    if (rc == SQLITE_OK)
        q->next_lease = query_int(db, "SELECT coalesce(max(id), 0) + 1 FROM lease", &rc);
    if (rc != SQLITE_OK)
        return sql_error(db, rc, s->path, "loading state (is the schema damaged?)", err);
    s->delivered_rev = q->rev;
    s->compact_rev = q->compact_target;
    s->hub.first_rev = q->rev + 1;

    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(db, "SELECT id, ttl, expiry_ms FROM lease", -1, &st, NULL);
    size_t n = 0, cap = 0;
    store_lease_t *leases = NULL;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap)
            leases = util_xrealloc(leases, (cap = cap ? cap * 2 : 16) * sizeof(*leases));
        leases[n++] = (store_lease_t){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                                      sqlite3_column_int64(st, 2), false};
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    int r = rc == SQLITE_DONE ? store__leases_init(s, leases, n)
                              : sql_error(db, rc, s->path, "loading leases", err);
    free(leases);
    return r;
}

/* The database holds secrets: create it 0600 so SQLite's WAL and SHM files inherit that. */
int store__precreate(const char *path, util_error_t *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return util_error_make(err, errno, "datastore %s: create", path);
    close(fd);
    return 0;
}

static int sqlite_open(store_t *s, util_error_t *err)
{
    store_sqlite_t *q = util_xcalloc(1, sizeof(*q));
    s->sql = q;
    bool exists = false;
    int r = check_header(s->path, &exists, err);
    if (r == 0 && !exists)
        r = store__precreate(s->path, err);
    if (r == 0)
        r = store__sqlite_open_conn(s->path, s->opts.vfs, true, s->opts.cache_kib, &q->wdb, err);
    if (r == 0)
        r = check_schema(s, q->wdb, err);
    if (r == 0 && s->opts.verify && exists)
        r = verify(s, q->wdb, err);
    if (r == 0)
        r = load_state(s, q->wdb, err);
    if (r == 0)
        r = store__sqlite_open_conn(s->path, s->opts.vfs, false, s->opts.cache_kib, &q->rdb, err);
    if (r == 0)
        r = store__sqlite_prepare(q->rdb, reader_sql, q->rs, RS_COUNT_STMTS, err);
    if (r == 0)
        r = store__writer_start(s, err);
    return r;
}

static void sqlite_stop(store_t *s)
{
    if (s->sql)
        store__writer_stop(s);
}

static void sqlite_close(store_t *s)
{
    store_sqlite_t *q = s->sql;
    if (!q)
        return;
    store__writer_stop(s); /* no-op when already stopped; covers a failed open */
    for (size_t i = 0; i < RS_COUNT_STMTS; i++)
        sqlite3_finalize(q->rs[i]);
    for (size_t i = 0; i < WS_COUNT_STMTS; i++)
        sqlite3_finalize(q->ws[i]);
    sqlite3_close(q->rdb);
    sqlite3_close(q->wdb);
    free(q);
    s->sql = NULL;
}

/* ---- reads -------------------------------------------------------------------------------- */

/* A read transaction pins one snapshot; its revision is the one the read was served at. */
static int read_begin(store_t *s, int64_t *ret_rev, util_error_t *err)
{
    store_sqlite_t *q = s->sql;
    int rc = sqlite3_step(q->rs[RS_BEGIN]);
    sqlite3_reset(q->rs[RS_BEGIN]);
    if (rc != SQLITE_DONE)
        return sql_error(q->rdb, rc, s->path, "begin read", err);
    rc = sqlite3_step(q->rs[RS_META]);
    *ret_rev = sqlite3_column_int64(q->rs[RS_META], 0);
    sqlite3_reset(q->rs[RS_META]);
    if (rc != SQLITE_ROW) {
        sqlite3_step(q->rs[RS_END]);
        sqlite3_reset(q->rs[RS_END]);
        return sql_error(q->rdb, rc, s->path, "read revision", err);
    }
    return 0;
}

static void read_end(store_t *s)
{
    sqlite3_step(s->sql->rs[RS_END]);
    sqlite3_reset(s->sql->rs[RS_END]);
}

static int check_read_rev(store_t *s, int64_t rev, int64_t cur, util_error_t *err)
{
    if (rev > cur) {
        util_error_make(err, 0, "revision %lld is newer than the store's %lld", (long long)rev,
                        (long long)cur);
        return STORE_EFUTURE;
    }
    if (rev > 0 && rev < s->compact_rev) {
        util_error_make(err, 0, "revision %lld has been compacted (oldest is %lld)", (long long)rev,
                        (long long)s->compact_rev);
        return STORE_ECOMPACTED;
    }
    return 0;
}

static store_kv_t *kv_from_row(sqlite3_stmt *st, int col, const void *key, size_t key_len)
{
    return store__kv_new(key, key_len, sqlite3_column_blob(st, col + 3),
                         (size_t)sqlite3_column_bytes(st, col + 3), sqlite3_column_int64(st, col),
                         sqlite3_column_int64(st, col + 1), sqlite3_column_int64(st, col + 2));
}

/* The latest value of key without BEGIN, a revision query and COMMIT around it (every get and
 * every namespace look-up of a create): the same snapshot, a quarter of the statements. */
static int sqlite_get_now(store_t *s, const char *key, size_t key_len, store_kv_t **ret_kv,
                          int64_t *ret_rev, util_error_t *err)
{
    store_sqlite_t *q = s->sql;
    sqlite3_stmt *st = q->rs[RS_GET_NOW];
    sqlite3_bind_blob(st, 1, key, (int)key_len, SQLITE_STATIC);
    int r, rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *ret_rev = sqlite3_column_int64(st, 0);
        if (sqlite3_column_type(st, 2) != SQLITE_NULL)
            *ret_kv = kv_from_row(st, 1, key, key_len);
        r = *ret_kv ? 0 : util_error_make(err, ENOENT, "key \"%.*s\" not found", (int)key_len, key);
    } else {
        r = sql_error(q->rdb, rc, s->path, rc == SQLITE_DONE ? "read revision" : "get", err);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return r;
}

static int sqlite_get(store_t *s, const char *key, size_t key_len, int64_t rev, store_kv_t **ret_kv,
                      int64_t *ret_rev, util_error_t *err)
{
    if (rev == 0)
        return sqlite_get_now(s, key, key_len, ret_kv, ret_rev, err);
    store_sqlite_t *q = s->sql;
    int64_t cur;
    int r = read_begin(s, &cur, err);
    if (r < 0)
        return r;
    if ((r = check_read_rev(s, rev, cur, err)) < 0) {
        read_end(s);
        return r;
    }
    bool latest = rev == 0 || rev == cur;
    sqlite3_stmt *st = q->rs[latest ? RS_GET : RS_GET_AT];
    sqlite3_bind_blob(st, 1, key, (int)key_len, SQLITE_STATIC);
    if (!latest)
        sqlite3_bind_int64(st, 2, rev);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && (latest || sqlite3_column_int64(st, 4) == 0)) {
        *ret_kv = kv_from_row(st, 0, key, key_len);
        r = 0;
    } else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        r = util_error_make(err, ENOENT, "key \"%.*s\" not found", (int)key_len, key);
    } else {
        r = sql_error(q->rdb, rc, s->path, "get", err);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    read_end(s);
    *ret_rev = latest ? cur : rev;
    return r;
}

/* A range without an end is bound to a key above every key (keys are blobs of at most
 * STORE_MAX_KEY bytes, so STORE_MAX_KEY + 1 bytes of 0xff sort after all of them): with a
 * plain `key < ?2` SQLite bounds its index search on both sides; `?2 IS NULL OR key < ?2`
 * made it scan from the start key to the end of the table (every create's LimitRange lookup
 * read all the keys after /registry/limitranges/<ns>/). */
static unsigned char above_all[STORE_MAX_KEY + 1];
static pthread_once_t above_all_once = PTHREAD_ONCE_INIT;

static void above_all_fill(void)
{
    memset(above_all, 0xff, sizeof(above_all));
}

static void bind_range(sqlite3_stmt *st, const char *start, size_t start_len, const char *end,
                       size_t end_len)
{
    pthread_once(&above_all_once, above_all_fill);
    sqlite3_bind_blob(st, 1, start, (int)start_len, SQLITE_STATIC);
    if (end && end_len)
        sqlite3_bind_blob(st, 2, end, (int)end_len, SQLITE_STATIC);
    else
        sqlite3_bind_blob(st, 2, above_all, (int)sizeof(above_all), SQLITE_STATIC);
}

static int collect_rows(store_t *s, sqlite3_stmt *st, size_t limit, store_list_t *ret,
                        util_error_t *err)
{
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (limit && ret->n == limit) {
            ret->more = true;
            break;
        }
        if (ret->n == cap)
            ret->kvs = util_xrealloc(ret->kvs, (cap = cap ? cap * 2 : 16) * sizeof(*ret->kvs));
        ret->kvs[ret->n++] =
            kv_from_row(st, 1, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sql_error(s->sql->rdb, rc, s->path, "range", err);
    return 0;
}

static int sqlite_range(store_t *s, const char *start, size_t start_len, const char *end,
                        size_t end_len, int64_t rev, size_t limit, bool count_only,
                        store_list_t *ret, int64_t *ret_count, util_error_t *err)
{
    store_sqlite_t *q = s->sql;
    int64_t cur;
    int r = read_begin(s, &cur, err);
    if (r < 0)
        return r;
    if ((r = check_read_rev(s, rev, cur, err)) < 0) {
        read_end(s);
        return r;
    }
    bool latest = rev == 0 || rev == cur;
    int which = count_only ? (latest ? RS_COUNT : RS_COUNT_AT) : (latest ? RS_RANGE : RS_RANGE_AT);
    sqlite3_stmt *st = q->rs[which];
    bind_range(st, start, start_len, end, end_len);
    if (!latest)
        sqlite3_bind_int64(st, 3, rev);
    if (!count_only)
        sqlite3_bind_int64(st, latest ? 3 : 4, limit ? (int64_t)limit + 1 : -1);
    if (count_only) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *ret_count = sqlite3_column_int64(st, 0);
        else
            r = sql_error(q->rdb, rc, s->path, "count", err);
    } else {
        r = collect_rows(s, st, limit, ret, err);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    read_end(s);
    ret->rev = latest ? cur : rev;
    if (r < 0)
        store_list_free(ret);
    return r;
}

static store_event_t *event_from_row(sqlite3_stmt *st)
{
    store_kv_t kv = {
        .key = sqlite3_column_blob(st, 1),
        .key_len = (size_t)sqlite3_column_bytes(st, 1),
        .create_rev = sqlite3_column_int64(st, 2),
        .lease = sqlite3_column_int64(st, 3),
        .value = sqlite3_column_blob(st, 5),
        .value_len = (size_t)sqlite3_column_bytes(st, 5),
    };
    bool deleted = sqlite3_column_int64(st, 4) != 0;
    store_kv_t prev = {
        .create_rev = sqlite3_column_int64(st, 6),
        .mod_rev = sqlite3_column_int64(st, 7),
        .lease = sqlite3_column_int64(st, 8),
        .value = sqlite3_column_blob(st, 9),
        .value_len = (size_t)sqlite3_column_bytes(st, 9),
    };
    bool has_prev = sqlite3_column_type(st, 7) != SQLITE_NULL;
    return store__event_new(deleted ? STORE_EVENT_DELETE : STORE_EVENT_PUT,
                            sqlite3_column_int64(st, 0), &kv, has_prev ? &prev : NULL);
}

static int sqlite_read_events(store_t *s, int64_t after, int64_t upto, size_t max,
                              store_event_t ***ret_events, size_t *ret_n, util_error_t *err)
{
    store_sqlite_t *q = s->sql;
    int64_t cur;
    int r = read_begin(s, &cur, err);
    if (r < 0)
        return r;
    sqlite3_stmt *st = q->rs[RS_EVENTS];
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, upto);
    sqlite3_bind_int64(st, 3, (int64_t)max);
    store_event_t **evs = util_xcalloc(max, sizeof(*evs));
    size_t n = 0;
    int rc;
    while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
        evs[n++] = event_from_row(st);
    if (n < max && rc != SQLITE_DONE) {
        r = sql_error(q->rdb, rc, s->path, "reading history", err);
        while (n > 0)
            store_event_unref(evs[--n]);
        free(evs);
        evs = NULL;
    }
    sqlite3_reset(st);
    read_end(s);
    *ret_events = evs;
    *ret_n = n;
    return r;
}

/* ---- stats ------------------------------------------------------------------------------ */

static int sqlite_stats(store_t *s, store_stats_t *st, util_error_t *err)
{
    store_sqlite_t *q = s->sql;
    int rc;
    st->keys = query_int(q->rdb, "SELECT count(*) FROM kv", &rc);
    if (rc == SQLITE_OK)
        st->db_bytes = query_int(q->rdb,
                                 "SELECT page_count * page_size FROM pragma_page_count, "
                                 "pragma_page_size",
                                 &rc);
    if (rc != SQLITE_OK)
        return sql_error(q->rdb, rc, s->path, "stats", err);
    char wal[4096];
    struct stat sb;
    if (util_snprintf(wal, sizeof(wal), "%s-wal", s->path) == 0 && stat(wal, &sb) == 0)
        st->wal_bytes = sb.st_size;
    pthread_mutex_lock(&q->mu);
    st->batches = q->batches;
    st->batched_ops = q->batched_ops;
    st->commit_failures = q->failures;
    st->compacted_through = q->compacted_through;
    pthread_mutex_unlock(&q->mu);
    return 0;
}

static void sqlite_submit(store_t *s, store_req_t *req)
{
    store__writer_submit(s, req);
}

const store_backend_ops_t store_sqlite_backend = {
    .name = "sqlite",
    .open = sqlite_open,
    .stop = sqlite_stop,
    .close = sqlite_close,
    .get = sqlite_get,
    .range = sqlite_range,
    .submit = sqlite_submit,
    .read_events = sqlite_read_events,
    .snapshot = store__sqlite_snapshot,
    .stats = sqlite_stats,
};
