/* store_backup: online snapshots (VACUUM INTO) and offline restore of the SQLite datastore. */
#include "store_sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int sync_path(const char *path, int flags, util_error_t *err)
{
    cleanup_close int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        return util_error_make(err, errno, "sync `%s`", path);
    return 0;
}

static int sync_parent(const char *path, util_error_t *err)
{
    char dir[4096];
    if (util_strlcpy(dir, path, sizeof(dir)) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long");
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    return sync_path(dir, O_RDONLY | O_DIRECTORY, err);
}

/* VACUUM INTO runs inside one read transaction of its own connection: the copy is consistent
 * and writers keep going meanwhile (WAL). The file is created 0600 first: it holds secrets. */
int store__sqlite_snapshot(store_t *s, const char *path, util_error_t *err)
{
    int r = store__precreate(path, err);
    if (r < 0)
        return r;
    sqlite3 *db = NULL;
    r = store__sqlite_open_conn(s->path, s->opts.vfs, false, 1024, &db, err);
    if (r == 0) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &st, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
            rc = sqlite3_step(st);
        }
        if (rc != SQLITE_DONE)
            r = util_error_make(err, store__sqlite_errno(rc), "datastore snapshot to %s: %s", path,
                                sqlite3_errmsg(db));
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    if (r == 0)
        r = sync_path(path, O_RDONLY, err);
    if (r == 0)
        r = sync_parent(path, err);
    if (r < 0)
        unlink(path);
    return r;
}

/* A snapshot must be ours and intact before it replaces anything. */
static int check_snapshot(const char *path, util_error_t *err)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_stmt *st = NULL;
    int r = 0;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "SELECT (SELECT application_id FROM pragma_application_id), "
                                "(SELECT integrity_check FROM pragma_integrity_check LIMIT 1)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *check = (const char *)sqlite3_column_text(st, 1);
        if (sqlite3_column_int64(st, 0) != STORE_SQLITE_APP_ID)
            r = util_error_make(err, 0, "snapshot %s is not a kubeling datastore", path);
        else if (!check || strcmp(check, "ok"))
            r = util_error_make(err, 0, "snapshot %s is corrupt: %s", path, check ? check : "?");
    } else {
        r = util_error_make(err, 0, "snapshot %s cannot be read: %s", path,
                            db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return r;
}

static int copy_file(const char *from, const char *to, util_error_t *err)
{
    cleanup_close int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return util_error_make(err, errno, "open `%s`", from);
    cleanup_close int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0)
        return util_error_make(err, errno, "create `%s`", to);
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return util_error_make(err, errno, "read `%s`", from);
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return util_error_make(err, errno, "write `%s`", to);
            off += w;
        }
    }
    if (fsync(out) < 0)
        return util_error_make(err, errno, "sync `%s`", to);
    return 0;
}

/* Folds the current database's WAL into it, so that no stale WAL is ever replayed onto the
 * restored file, and keeps the old file beside it as <db>.pre-restore. */
static int retire_current(const char *db_path, util_error_t *err)
{
    if (access(db_path, F_OK) < 0)
        return 0;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_close(db); /* the last connection removes the WAL file */
    char side[4096];
    if (util_snprintf(side, sizeof(side), "%s.pre-restore", db_path) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long");
    unlink(side);
    if (link(db_path, side) < 0)
        return util_error_make(err, errno, "keeping `%s` as `%s`", db_path, side);
    if (rc != SQLITE_OK) { /* unreadable: its WAL cannot be folded in; drop it */
        char wal[4096];
        snprintf(wal, sizeof(wal), "%s-wal", db_path);
        unlink(wal);
    }
    char shm[4096];
    snprintf(shm, sizeof(shm), "%s-shm", db_path);
    unlink(shm);
    return 0;
}

int store_snapshot_restore(const char *snapshot, const char *db_path, util_error_t *err)
{
    int r = check_snapshot(snapshot, err);
    if (r < 0)
        return r;
    char tmp[4096];
    if (util_snprintf(tmp, sizeof(tmp), "%s.restore-tmp", db_path) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long");
    unlink(tmp);
    r = copy_file(snapshot, tmp, err);
    if (r == 0)
        r = retire_current(db_path, err);
    if (r == 0 && rename(tmp, db_path) < 0)
        r = util_error_make(err, errno, "install `%s`", db_path);
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    return sync_parent(db_path, err);
}
