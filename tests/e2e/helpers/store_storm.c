/* store_storm: drives the datastore for the crash and disk-full e2e tests.
 *
 *   store_storm write  DB ACKLOG SEED   16 concurrent writers until killed; every acknowledged
 *                                       (durable) write is appended to ACKLOG as it completes
 *   store_storm verify DB ACKLOG        every acknowledged write is present, revisions never
 *                                       go back, PRAGMA integrity_check is ok
 *   store_storm fill   DB               writes 64 KiB values until the disk is full; exits 0
 *                                       only if the failure was a clean -ENOSPC
 *   store_storm put    DB KEY           one durable write; prints its revision
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WRITERS  16
#define HOT_KEYS 8

typedef struct storm {
    store_t *s;
    int ack_fd;
    unsigned seed;
    uint64_t next;
    int64_t last_rev;
} storm_t;

static int open_store(const char *db, uv_loop_t *loop, store_t **s)
{
    store_options_t o;
    store_options_default(&o);
    o.path = db;
    o.loop = loop;
    o.verify = false;
    cleanup_error util_error_t err = NULL;
    if (store_open(&o, s, &err) < 0) {
        fprintf(stderr, "store_storm: %s\n", err->msg);
        return -1;
    }
    return 0;
}

static void write_next(storm_t *st);

/* One line per acknowledged write, written with a single write(2) so a kill never leaves a
 * torn line: "C key rev" for creates, "U key rev value" for updates of hot keys. */
static void on_done(store_t *s, store_txn_result_t *res, void *ud)
{
    (void)s;
    char *line = ud;
    storm_t *st = (storm_t *)(uintptr_t) * (uintptr_t *)line;
    char *text = line + sizeof(uintptr_t);
    if (res->status == 0) {
        if (res->ops[0].rev <= st->last_rev) {
            fprintf(stderr, "store_storm: revision went back: %" PRId64 " after %" PRId64 "\n",
                    res->ops[0].rev, st->last_rev);
            exit(3);
        }
        st->last_rev = res->ops[0].rev;
        char out[256];
        int n = snprintf(out, sizeof(out), "%s %" PRId64 "\n", text, res->ops[0].rev);
        if (write(st->ack_fd, out, (size_t)n) != n)
            exit(4);
    } else if (res->status != -ECANCELED) {
        fprintf(stderr, "store_storm: write failed: %s\n", res->message);
        exit(5);
    }
    free(line);
    write_next(st);
}

static void write_next(storm_t *st)
{
    uint64_t n = st->next++;
    bool hot = rand_r(&st->seed) % 4 == 0;
    char key[64], value[1024];
    char *line = util_xmalloc(sizeof(uintptr_t) + 160);
    *(uintptr_t *)line = (uintptr_t)st;
    char *text = line + sizeof(uintptr_t);
    store_op_t op = {.type = hot ? STORE_OP_PUT : STORE_OP_CREATE};
    if (hot) {
        snprintf(key, sizeof(key), "/storm/hot/%u", rand_r(&st->seed) % HOT_KEYS);
        snprintf(value, sizeof(value), "v-%u-%" PRIu64, st->seed, n);
        snprintf(text, 160, "U %.63s %.80s", key, value);
    } else {
        snprintf(key, sizeof(key), "/storm/%u/%" PRIu64, st->seed, n);
        memset(value, 'x', sizeof(value));
        snprintf(value, 64, "%s", key); /* 1 KiB value starting with the key */
        value[strlen(value)] = 'x';
        snprintf(text, 160, "C %.63s", key);
    }
    op.key = key;
    op.key_len = strlen(key);
    op.value = value;
    op.value_len = hot ? strlen(value) : sizeof(value);
    if (store_txn(st->s, &op, 1, on_done, line, NULL) < 0)
        exit(6);
}

static int cmd_write(const char *db, const char *acklog, unsigned seed)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    storm_t st = {.seed = seed};
    st.ack_fd = open(acklog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (st.ack_fd < 0 || open_store(db, &loop, &st.s) < 0)
        return 1;
    for (int i = 0; i < WRITERS; i++)
        write_next(&st);
    return uv_run(&loop, UV_RUN_DEFAULT); /* until killed */
}

static int check_create(store_t *s, const char *key, int64_t rev)
{
    store_kv_t *kv = NULL;
    int64_t at;
    if (store_get(s, key, strlen(key), 0, &kv, &at, NULL) < 0) {
        fprintf(stderr, "lost acknowledged create %s (rev %" PRId64 ")\n", key, rev);
        return -1;
    }
    int r = kv->mod_rev == rev && !strncmp(kv->value, key, strlen(key)) && kv->value_len == 1024
                ? 0
                : -1;
    if (r < 0)
        fprintf(stderr, "create %s: found rev %" PRId64 " size %zu, acked rev %" PRId64 "\n", key,
                kv->mod_rev, kv->value_len, rev);
    free(kv);
    return r;
}

static int check_update(store_t *s, const char *key, const char *value, int64_t rev)
{
    store_kv_t *kv = NULL;
    int64_t at;
    int r = store_get(s, key, strlen(key), 0, &kv, &at, NULL);
    if (r < 0 || kv->mod_rev < rev || (kv->mod_rev == rev && strcmp(kv->value, value))) {
        fprintf(stderr, "lost acknowledged update of %s at rev %" PRId64 "\n", key, rev);
        free(kv);
        return -1;
    }
    free(kv);
    return 0;
}

static int integrity(const char *db)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    int ok = 0;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            ok = !strcmp((const char *)sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return ok ? 0 : -1;
}

static int cmd_verify(const char *db, const char *acklog)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    store_t *s;
    if (open_store(db, &loop, &s) < 0)
        return 1;
    FILE *f = fopen(acklog, "re");
    if (!f)
        return 1;
    char line[512], kind[4], key[128], value[128];
    int64_t rev, max_rev = 0;
    long n = 0, bad = 0;
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == 'C' && sscanf(line, "%3s %127s %" SCNd64, kind, key, &rev) == 3)
            bad += check_create(s, key, rev) < 0;
        else if (line[0] == 'U' &&
                 sscanf(line, "%3s %127s %127s %" SCNd64, kind, key, value, &rev) == 4)
            bad += check_update(s, key, value, rev) < 0;
        else
            bad++; /* a torn or garbage line would be a test bug */
        if (rev > max_rev)
            max_rev = rev;
        n++;
    }
    fclose(f);
    int64_t cur = store_current_rev(s);
    store_op_t op = {
        .type = STORE_OP_PUT, .key = "/storm/probe", .key_len = 12, .value = "p", .value_len = 1};
    store_txn_result_t res;
    int r = store_txn_sync(s, &op, 1, &res, NULL);
    int64_t probe = r == 0 ? res.ops[0].rev : 0;
    store_txn_result_free(&res);
    store_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (cur < max_rev || probe <= max_rev) {
        fprintf(stderr,
                "revision reuse: store at %" PRId64 ", next write got %" PRId64
                ", acknowledged up to %" PRId64 "\n",
                cur, probe, max_rev);
        bad++;
    }
    if (integrity(db) < 0) {
        fprintf(stderr, "integrity_check failed\n");
        bad++;
    }
    printf("verified %ld acknowledged writes, max rev %" PRId64 ", store rev %" PRId64
           ", problems %ld\n",
           n, max_rev, cur, bad);
    return bad ? 2 : 0;
}

static int cmd_fill(const char *db)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    store_t *s;
    if (open_store(db, &loop, &s) < 0)
        return 1;
    static char value[64 * 1024];
    memset(value, 'f', sizeof(value));
    int status = 0;
    long n;
    for (n = 0; n < 100000 && status == 0; n++) {
        char key[64];
        snprintf(key, sizeof(key), "/fill/%ld", n);
        store_op_t op = {.type = STORE_OP_CREATE,
                         .key = key,
                         .key_len = strlen(key),
                         .value = value,
                         .value_len = sizeof(value)};
        store_txn_result_t res;
        status = store_txn_sync(s, &op, 1, &res, NULL);
        store_txn_result_free(&res);
    }
    store_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    printf("filled %ld values, then status %d\n", n - 1, status);
    return status == -ENOSPC ? 0 : 1;
}

static int cmd_put(const char *db, const char *key)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    store_t *s;
    if (open_store(db, &loop, &s) < 0)
        return 1;
    store_op_t op = {.type = STORE_OP_PUT,
                     .key = key,
                     .key_len = strlen(key),
                     .value = key,
                     .value_len = strlen(key)};
    store_txn_result_t res;
    cleanup_error util_error_t err = NULL;
    int r = store_txn_sync(s, &op, 1, &res, &err);
    if (r == 0)
        printf("%" PRId64 "\n", res.ops[0].rev);
    else
        fprintf(stderr, "put: %s\n", err->msg);
    store_txn_result_free(&res);
    store_close(s);
    uv_run(&loop, UV_RUN_DEFAULT);
    return r == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "write"))
        return cmd_write(argv[2], argv[3], (unsigned)strtoul(argv[4], NULL, 10));
    if (argc == 4 && !strcmp(argv[1], "verify"))
        return cmd_verify(argv[2], argv[3]);
    if (argc == 3 && !strcmp(argv[1], "fill"))
        return cmd_fill(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "put"))
        return cmd_put(argv[2], argv[3]);
    fprintf(stderr, "usage: store_storm write DB ACKLOG SEED | verify DB ACKLOG | fill DB | "
                    "put DB KEY\n");
    return 2;
}
