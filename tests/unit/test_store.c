/* test_store: the datastore's operations, conflicts, watch, leases, compaction and faults. */
#include "unit.h"
#include "fault_vfs.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fixture {
    char *dir;
    char path[600];
    uv_loop_t loop;
    store_options_t opts;
    store_t *s;
} fixture_t;

static fixture_t *fx_new(void)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->dir = unit_tmpdir();
    snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    store_options_default(&f->opts);
    f->opts.path = f->path;
    f->opts.loop = &f->loop;
    f->opts.compact_interval_ms = 0; /* tests compact explicitly */
    return f;
}

static void fx_open(fixture_t *f)
{
    cleanup_error util_error_t err = NULL;
    int r = store_open(&f->opts, &f->s, &err);
    if (r < 0)
        fail_msg("store_open: %s", err->msg);
}

static void fx_close(fixture_t *f)
{
    if (f->s)
        store_close(f->s);
    f->s = NULL;
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

static int setup(void **state)
{
    fault_vfs_clear();
    fixture_t *f = fx_new();
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    fx_close(f);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    unit_rm_rf(f->dir);
    free(f->dir);
    free(f);
    fault_vfs_clear();
    return 0;
}

/* Runs pending loop callbacks. A synchronous write has already signalled the loop's async
 * handle before returning, so one non-blocking pass delivers its events to the hub. */
static void spin(fixture_t *f)
{
    for (int i = 0; i < 3; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
}

static int put(fixture_t *f, store_op_type_t type, const char *key, const char *value,
               int64_t expected, int64_t *ret_rev)
{
    store_op_t op = {.type = type,
                     .key = key,
                     .key_len = strlen(key),
                     .value = value,
                     .value_len = value ? strlen(value) : 0,
                     .expected_rev = expected};
    store_txn_result_t res;
    int r = store_txn_sync(f->s, &op, 1, &res, NULL);
    if (ret_rev)
        *ret_rev = r == 0 ? res.ops[0].rev : 0;
    store_txn_result_free(&res);
    spin(f); /* let the hub see the events */
    return r;
}

static char *get_value(fixture_t *f, const char *key, int64_t rev, int64_t *ret_mod)
{
    store_kv_t *kv = NULL;
    int64_t at = 0;
    int r = store_get(f->s, key, strlen(key), rev, &kv, &at, NULL);
    if (r < 0)
        return NULL;
    char *v = strdup(kv->value);
    if (ret_mod)
        *ret_mod = kv->mod_rev;
    free(kv);
    return v;
}

/* ---- basic operations ----------------------------------------------------------------------- */

static void writes_get_increasing_revisions_and_keep_create_revision(void **state)
{
    fixture_t *f = *state;
    int64_t r1, r2, r3;
    assert_int_equal(put(f, STORE_OP_CREATE, "/registry/pods/a", "v1", 0, &r1), 0);
    assert_int_equal(put(f, STORE_OP_CREATE, "/registry/pods/b", "w1", 0, &r2), 0);
    assert_int_equal(put(f, STORE_OP_UPDATE, "/registry/pods/a", "v2", r1, &r3), 0);
    assert_int_equal(r1, 1);
    assert_int_equal(r2, 2);
    assert_int_equal(r3, 3);
    store_kv_t *kv = NULL;
    int64_t at = 0;
    assert_int_equal(store_get(f->s, "/registry/pods/a", 16, 0, &kv, &at, NULL), 0);
    assert_string_equal(kv->value, "v2");
    assert_int_equal(kv->create_rev, 1);
    assert_int_equal(kv->mod_rev, 3);
    assert_int_equal(at, 3);
    free(kv);
    assert_int_equal(store_current_rev(f->s), 3);
}

static void create_of_existing_key_fails_with_current_state(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(put(f, STORE_OP_CREATE, "/k", "one", 0, NULL), 0);
    store_op_t op = {
        .type = STORE_OP_CREATE, .key = "/k", .key_len = 2, .value = "two", .value_len = 3};
    store_txn_result_t res;
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, NULL), -EEXIST);
    assert_non_null(res.current);
    assert_string_equal(res.current->value, "one");
    assert_int_equal(res.rev, 1); /* nothing was written */
    store_txn_result_free(&res);
}

static void update_with_stale_revision_is_a_conflict(void **state)
{
    fixture_t *f = *state;
    int64_t r1, r2;
    assert_int_equal(put(f, STORE_OP_CREATE, "/k", "one", 0, &r1), 0);
    assert_int_equal(put(f, STORE_OP_UPDATE, "/k", "two", r1, &r2), 0);
    store_op_t op = {.type = STORE_OP_UPDATE,
                     .key = "/k",
                     .key_len = 2,
                     .value = "three",
                     .value_len = 5,
                     .expected_rev = r1};
    store_txn_result_t res;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, &err), STORE_ECONFLICT);
    assert_int_equal(res.current->mod_rev, r2);
    assert_string_equal(res.current->value, "two");
    assert_non_null(strstr(err->msg, "not the expected"));
    store_txn_result_free(&res);
    op.type = STORE_OP_DELETE;
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, NULL), STORE_ECONFLICT);
    store_txn_result_free(&res);
    char *v = get_value(f, "/k", 0, NULL);
    assert_string_equal(v, "two");
    free(v);
}

static void update_and_delete_of_missing_key_are_not_found(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(put(f, STORE_OP_UPDATE, "/nope", "x", 0, NULL), -ENOENT);
    assert_int_equal(put(f, STORE_OP_DELETE, "/nope", NULL, 0, NULL), -ENOENT);
    assert_int_equal(put(f, STORE_OP_PUT, "/nope", "x", 5, NULL), -ENOENT);
    assert_int_equal(put(f, STORE_OP_PUT, "/nope", "x", 0, NULL), 0); /* unconditional: creates */
    store_kv_t *kv = NULL;
    int64_t at = 0;
    assert_int_equal(store_get(f->s, "/missing", 8, 0, &kv, &at, NULL), -ENOENT);
    assert_int_equal(at, 1);
    assert_int_equal(store_get(f->s, "/missing", 8, 0, &kv, NULL, NULL), -ENOENT); /* no rev */
    assert_int_equal(store_get(f->s, "/nope", 5, 0, &kv, NULL, NULL), 0);
    free(kv);
}

static void delete_returns_previous_value(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(put(f, STORE_OP_CREATE, "/d", "gone-soon", 0, NULL), 0);
    store_op_t op = {.type = STORE_OP_DELETE, .key = "/d", .key_len = 2};
    store_txn_result_t res;
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, NULL), 0);
    assert_string_equal(res.ops[0].prev->value, "gone-soon");
    assert_int_equal(res.ops[0].rev, 2);
    store_txn_result_free(&res);
    assert_null(get_value(f, "/d", 0, NULL));
}

static void transaction_applies_all_or_nothing(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(put(f, STORE_OP_CREATE, "/t/existing", "e", 0, NULL), 0);
    store_op_t ops[] = {
        {.type = STORE_OP_CREATE, .key = "/t/new", .key_len = 6, .value = "n", .value_len = 1},
        {.type = STORE_OP_UPDATE,
         .key = "/t/existing",
         .key_len = 11,
         .value = "x",
         .value_len = 1,
         .expected_rev = 99},
    };
    store_txn_result_t res;
    assert_int_equal(store_txn_sync(f->s, ops, 2, &res, NULL), STORE_ECONFLICT);
    assert_int_equal(res.failed_op, 1);
    store_txn_result_free(&res);
    assert_null(get_value(f, "/t/new", 0, NULL));
    ops[1].expected_rev = 1;
    assert_int_equal(store_txn_sync(f->s, ops, 2, &res, NULL), 0);
    /* the refused transaction consumed no revision: numbering stays dense */
    assert_int_equal(res.ops[0].rev, 2);
    assert_int_equal(res.ops[1].rev, 3);
    store_txn_result_free(&res);
}

static void invalid_requests_are_refused_before_queueing(void **state)
{
    fixture_t *f = *state;
    char *big = calloc(1, STORE_MAX_VALUE + 2);
    memset(big, 'x', STORE_MAX_VALUE + 1);
    cleanup_error util_error_t err = NULL;
    store_op_t op = {.type = STORE_OP_CREATE,
                     .key = "/big",
                     .key_len = 4,
                     .value = big,
                     .value_len = STORE_MAX_VALUE + 1};
    store_txn_result_t res;
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, &err), -E2BIG);
    assert_non_null(strstr(err->msg, "exceeds the limit"));
    op.value_len = STORE_MAX_VALUE; /* exactly at the limit is fine */
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, NULL), 0);
    store_txn_result_free(&res);
    op = (store_op_t){.type = STORE_OP_CREATE, .key = big, .key_len = STORE_MAX_KEY + 1};
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, NULL), -E2BIG);
    store_op_t dup[] = {{.type = STORE_OP_PUT, .key = "/a", .key_len = 2},
                        {.type = STORE_OP_DELETE, .key = "/a", .key_len = 2}};
    assert_int_equal(store_txn_sync(f->s, dup, 2, &res, NULL), -EINVAL);
    assert_int_equal(store_txn_sync(f->s, dup, 0, &res, NULL), -EINVAL);
    op = (store_op_t){.type = STORE_OP_CREATE, .key = "", .key_len = 0};
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, NULL), -EINVAL);
    op = (store_op_t){.type = (store_op_type_t)99, .key = "/a", .key_len = 2};
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, NULL), -EINVAL);
    free(big);
    spin(f);
    assert_int_equal(store_current_rev(f->s), 1);
}

/* ---- reads at revisions and ranges ---------------------------------------------------------- */

static void get_at_past_revision_sees_history(void **state)
{
    fixture_t *f = *state;
    int64_t r1, r2, r3;
    put(f, STORE_OP_CREATE, "/h", "one", 0, &r1);
    put(f, STORE_OP_UPDATE, "/h", "two", 0, &r2);
    put(f, STORE_OP_DELETE, "/h", NULL, 0, &r3);
    char *v = get_value(f, "/h", r1, NULL);
    assert_string_equal(v, "one");
    free(v);
    v = get_value(f, "/h", r2, NULL);
    assert_string_equal(v, "two");
    free(v);
    assert_null(get_value(f, "/h", r3, NULL));
    assert_null(get_value(f, "/h", 0, NULL));
    store_kv_t *kv = NULL;
    int64_t at;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(store_get(f->s, "/h", 2, 99, &kv, &at, &err), STORE_EFUTURE);
}

static void range_paginates_in_key_order_at_one_revision(void **state)
{
    fixture_t *f = *state;
    char key[32], val[32];
    for (int i = 24; i >= 0; i--) { /* written out of order */
        snprintf(key, sizeof(key), "/registry/pods/ns/p%02d", i);
        snprintf(val, sizeof(val), "{\"i\":%d}", i);
        put(f, STORE_OP_CREATE, key, val, 0, NULL);
    }
    put(f, STORE_OP_CREATE, "/registry/pods/nt/other", "{}", 0, NULL);
    put(f, STORE_OP_CREATE, "/registry/pods/ns", "{}", 0, NULL); /* not under the prefix "ns/" */
    const char *prefix = "/registry/pods/ns/";
    char end[64];
    size_t end_len = store_prefix_end(prefix, strlen(prefix), end);
    store_list_t page;
    assert_int_equal(store_range(f->s, prefix, strlen(prefix), end, end_len, 0, 10, &page, NULL),
                     0);
    assert_int_equal(page.n, 10);
    assert_true(page.more);
    assert_int_equal(page.rev, 27);
    assert_string_equal(page.kvs[0]->key, "/registry/pods/ns/p00");
    assert_string_equal(page.kvs[9]->key, "/registry/pods/ns/p09");
    /* the next page starts just after the last key, at the first page's revision, even though
     * the store moved on meanwhile */
    char next[64];
    snprintf(next, sizeof(next), "%s%c", page.kvs[9]->key, '\0');
    int64_t rev = page.rev;
    store_list_free(&page);
    put(f, STORE_OP_DELETE, "/registry/pods/ns/p15", NULL, 0, NULL);
    put(f, STORE_OP_CREATE, "/registry/pods/ns/p10a", "{}", 0, NULL);
    size_t next_len = strlen(next) + 1;
    assert_int_equal(store_range(f->s, next, next_len, end, end_len, rev, 100, &page, NULL), 0);
    assert_int_equal(page.n, 15);
    assert_false(page.more);
    assert_string_equal(page.kvs[0]->key, "/registry/pods/ns/p10");
    assert_string_equal(page.kvs[5]->key, "/registry/pods/ns/p15");
    assert_string_equal(page.kvs[5]->value, "{\"i\":15}");
    assert_int_equal(page.rev, rev);
    store_list_free(&page);
    int64_t count = 0, at = 0;
    assert_int_equal(store_count(f->s, prefix, strlen(prefix), end, end_len, &count, &at, NULL), 0);
    assert_int_equal(count, 25); /* one deleted, one added */
    assert_int_equal(at, 29);
}

/* A range without an end reaches the last key, also keys of 0xff bytes up to the longest key
 * the store takes, at the newest revision and at an older one, and counts alike. */
static void range_without_end_reaches_every_key(void **state)
{
    fixture_t *f = *state;
    char top[STORE_MAX_KEY + 1];
    memset(top, 0xff, STORE_MAX_KEY);
    top[STORE_MAX_KEY] = '\0';
    put(f, STORE_OP_CREATE, "/a", "{}", 0, NULL);
    put(f, STORE_OP_CREATE, "/b", "{}", 0, NULL);
    int64_t r3;
    put(f, STORE_OP_CREATE, top, "{}", 0, &r3);
    put(f, STORE_OP_CREATE, "\xff", "{}", 0, NULL);
    store_list_t l;
    for (int at = 0; at < 2; at++) {
        assert_int_equal(store_range(f->s, "/b", 2, NULL, 0, at ? r3 : 0, 0, &l, NULL), 0);
        assert_int_equal(l.n, at ? 2 : 3);
        assert_string_equal(l.kvs[0]->key, "/b");
        assert_int_equal(l.kvs[at ? 1 : 2]->key_len, STORE_MAX_KEY);
        store_list_free(&l);
    }
    int64_t count = 0, rev = 0;
    assert_int_equal(store_count(f->s, "/b", 2, NULL, 0, &count, &rev, NULL), 0);
    assert_int_equal(count, 3);
}

static void prefix_end_handles_0xff_bytes(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(store_prefix_end("ab", 2, out), 2);
    assert_memory_equal(out, "ac", 2);
    assert_int_equal(store_prefix_end("a\xff\xff", 3, out), 1);
    assert_int_equal(out[0], 'b');
    assert_int_equal(store_prefix_end("\xff", 1, out), 0);
}

/* ---- watch ---------------------------------------------------------------------------------- */

typedef struct recorder {
    int notified;
    size_t n;
    const store_event_t *ev[4096];
    int end_status;
    char reason[200];
} recorder_t;

static void record_cb(store_watcher_t *w, void *ud)
{
    recorder_t *r = ud;
    r->notified++;
    const store_event_t *e;
    cleanup_error util_error_t err = NULL;
    int rc;
    while ((rc = store_watch_next(w, &e, &err)) == 1) {
        if (r->n < UTIL_ARRAY_SIZE(r->ev))
            r->ev[r->n++] = e;
        else
            store_event_unref(e);
    }
    if (rc < 0) {
        r->end_status = rc;
        snprintf(r->reason, sizeof(r->reason), "%s", err->msg);
    }
}

static void recorder_free(recorder_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        store_event_unref(r->ev[i]);
    free(r);
}

static store_watcher_t *watch_prefix(fixture_t *f, const char *prefix, int64_t after, recorder_t *r,
                                     int *ret_status)
{
    static char end[256];
    size_t end_len = store_prefix_end(prefix, strlen(prefix), end);
    store_watch_opts_t o = {.start = prefix,
                            .start_len = strlen(prefix),
                            .end = end,
                            .end_len = end_len,
                            .after_rev = after};
    store_watcher_t *w = NULL;
    int st = store_watch(f->s, &o, record_cb, r, &w, NULL);
    if (ret_status)
        *ret_status = st;
    if (st == 0)
        record_cb(w, r); /* drain what is already there */
    return w;
}

static void watch_delivers_every_change_in_order_with_previous_values(void **state)
{
    fixture_t *f = *state;
    recorder_t *r = calloc(1, sizeof(*r));
    store_watcher_t *w = watch_prefix(f, "/registry/pods/", 0, r, NULL);
    put(f, STORE_OP_CREATE, "/registry/pods/a", "a1", 0, NULL);
    put(f, STORE_OP_CREATE, "/registry/services/x", "s", 0, NULL); /* outside the prefix */
    put(f, STORE_OP_UPDATE, "/registry/pods/a", "a2", 0, NULL);
    put(f, STORE_OP_DELETE, "/registry/pods/a", NULL, 0, NULL);
    spin(f);
    assert_int_equal(r->n, 3);
    assert_int_equal(r->ev[0]->type, STORE_EVENT_PUT);
    assert_int_equal(r->ev[0]->rev, 1);
    assert_false(r->ev[0]->has_prev);
    assert_int_equal(r->ev[1]->rev, 3);
    assert_string_equal(r->ev[1]->kv.value, "a2");
    assert_true(r->ev[1]->has_prev);
    assert_string_equal(r->ev[1]->prev.value, "a1");
    assert_int_equal(r->ev[1]->prev.mod_rev, 1);
    assert_int_equal(r->ev[2]->type, STORE_EVENT_DELETE);
    assert_int_equal(r->ev[2]->rev, 4);
    assert_string_equal(r->ev[2]->prev.value, "a2");
    assert_true(r->ev[0]->commit_ns > 0);
    store_watch_cancel(w);
    recorder_free(r);
}

static void watch_of_one_key_ignores_its_neighbours(void **state)
{
    fixture_t *f = *state;
    recorder_t *r = calloc(1, sizeof(*r));
    store_watch_opts_t o = {.start = "/k", .start_len = 2};
    store_watcher_t *w = NULL;
    assert_int_equal(store_watch(f->s, &o, record_cb, r, &w, NULL), 0);
    record_cb(w, r);
    put(f, STORE_OP_CREATE, "/k2", "x", 0, NULL);
    put(f, STORE_OP_CREATE, "/k", "y", 0, NULL);
    put(f, STORE_OP_CREATE, "/j", "z", 0, NULL);
    spin(f);
    assert_int_equal(r->n, 1);
    assert_string_equal(r->ev[0]->kv.key, "/k");
    store_watch_cancel(w);
    recorder_free(r);
}

/* Every event after the start revision exactly once, whether it comes from the in-memory
 * ring or, for older history, from the database. */
static void watch_from_past_revision_catches_up_without_gaps(void **state)
{
    fixture_t *f = *state;
    fx_close(f);
    f->opts.history_events = 16; /* most history must come from disk */
    fx_open(f);
    char key[32];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "/w/%d", i % 7);
        store_op_t op = {.type = STORE_OP_PUT,
                         .key = key,
                         .key_len = strlen(key),
                         .value = key,
                         .value_len = strlen(key)};
        store_txn_result_t res;
        assert_int_equal(store_txn_sync(f->s, &op, 1, &res, NULL), 0);
        store_txn_result_free(&res);
    }
    spin(f);
    for (int64_t from = 0; from <= 290; from += 145) {
        recorder_t *r = calloc(1, sizeof(*r));
        store_watcher_t *w = watch_prefix(f, "/w/", from ? from : 0, r, NULL);
        if (from == 0) { /* "from now": nothing old */
            assert_int_equal(r->n, 0);
        } else {
            assert_int_equal(r->n, (size_t)(300 - from));
            for (size_t i = 0; i < r->n; i++) {
                assert_int_equal(r->ev[i]->rev, from + 1 + (int64_t)i);
                if (r->ev[i]->rev > 7) /* every key existed before: updates carry prev */
                    assert_true(r->ev[i]->has_prev);
            }
        }
        store_watch_cancel(w);
        recorder_free(r);
    }
}

static void watch_of_compacted_revision_is_refused_and_laggards_are_cut_off(void **state)
{
    fixture_t *f = *state;
    for (int i = 0; i < 20; i++)
        put(f, STORE_OP_PUT, "/c", "v", 0, NULL);
    recorder_t *lag = calloc(1, sizeof(*lag));
    store_watch_opts_t o = {.start = "/c", .start_len = 2, .after_rev = 2};
    store_watcher_t *lw = NULL;
    assert_int_equal(store_watch(f->s, &o, record_cb, lag, &lw, NULL), 0); /* not drained */
    cleanup_error util_error_t err = NULL;
    assert_int_equal(store_compact(f->s, 10, &err), 0);
    assert_int_equal(lag->end_status, STORE_ECOMPACTED);
    assert_non_null(strstr(lag->reason, "compacted"));
    recorder_t *r = calloc(1, sizeof(*r));
    int st = 0;
    store_watcher_t *w = watch_prefix(f, "/c", 5, r, &st);
    assert_int_equal(st, STORE_ECOMPACTED);
    assert_null(w);
    w = watch_prefix(f, "/c", 10, r, &st); /* exactly at the compaction revision: fine */
    assert_int_equal(st, 0);
    assert_int_equal(r->n, 10);
    assert_int_equal(r->ev[0]->rev, 11);
    assert_true(r->ev[0]->has_prev); /* the value at the compaction revision is kept */
    store_watch_cancel(w);
    store_watch_cancel(lw);
    recorder_free(r);
    recorder_free(lag);
    store_kv_t *kv = NULL;
    int64_t at;
    assert_int_equal(store_get(f->s, "/c", 2, 5, &kv, &at, NULL), STORE_ECOMPACTED);
    assert_int_equal(store_compact(f->s, 8, NULL), STORE_ECOMPACTED);
}

static void slow_watcher_is_cut_off_with_a_reason(void **state)
{
    fixture_t *f = *state;
    fx_close(f);
    f->opts.watcher_max_lag = 50;
    fx_open(f);
    recorder_t *r = calloc(1, sizeof(*r));
    store_watch_opts_t o = {.start = "/s", .start_len = 2};
    store_watcher_t *w = NULL;
    assert_int_equal(store_watch(f->s, &o, record_cb, r, &w, NULL), 0);
    /* never drained: the consumer is stuck */
    for (int i = 0; i < 60; i++)
        put(f, STORE_OP_PUT, "/s", "v", 0, NULL);
    assert_int_equal(r->end_status, STORE_ESLOW);
    assert_non_null(strstr(r->reason, "behind"));
    const store_event_t *e;
    assert_int_equal(store_watch_next(w, &e, NULL), STORE_ESLOW);
    store_watch_cancel(w);
    recorder_free(r);
}

static void progress_is_delivered_on_request_and_periodically(void **state)
{
    fixture_t *f = *state;
    fx_close(f);
    f->opts.progress_interval_ms = 20;
    fx_open(f);
    put(f, STORE_OP_PUT, "/other", "v", 0, NULL);
    recorder_t *r = calloc(1, sizeof(*r));
    store_watch_opts_t o = {.start = "/p", .start_len = 2};
    store_watcher_t *w = NULL;
    assert_int_equal(store_watch(f->s, &o, record_cb, r, &w, NULL), 0);
    record_cb(w, r);
    store_watch_request_progress(w);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->ev[0]->type, STORE_EVENT_PROGRESS);
    assert_int_equal(r->ev[0]->rev, 1);
    store_watch_cancel(w);
    recorder_free(r);
    r = calloc(1, sizeof(*r));
    o.progress_notify = true;
    assert_int_equal(store_watch(f->s, &o, record_cb, r, &w, NULL), 0);
    record_cb(w, r);
    for (int i = 0; i < 100 && r->n < 2; i++) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_true(r->n >= 2);
    assert_int_equal(r->ev[1]->type, STORE_EVENT_PROGRESS);
    store_watch_cancel(w);
    recorder_free(r);
}

/* ---- async writes and group commit ---------------------------------------------------------- */

typedef struct counter {
    int calls, failures;
    int64_t last_rev;
    bool ordered;
} counter_t;

static void count_cb(store_t *s, store_txn_result_t *res, void *ud)
{
    (void)s;
    counter_t *c = ud;
    c->calls++;
    if (res->status != 0)
        c->failures++;
    else if (res->ops[0].rev <= c->last_rev)
        c->ordered = false;
    else
        c->last_rev = res->ops[0].rev;
}

static void concurrent_writes_share_fsyncs(void **state)
{
    fixture_t *f = *state;
    fx_close(f);
    f->opts.vfs = FAULT_VFS_NAME;
    fault_vfs_config_t slow = {-1, -1, 0, 20}; /* every fsync takes 20 ms */
    fault_vfs_set(&slow);
    fx_open(f);
    counter_t c = {.ordered = true};
    char key[32];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "/g/%d", i);
        store_op_t op = {.type = STORE_OP_CREATE,
                         .key = key,
                         .key_len = strlen(key),
                         .value = "v",
                         .value_len = 1};
        assert_int_equal(store_txn(f->s, &op, 1, count_cb, &c, NULL), 0);
    }
    uint64_t syncs0 = fault_vfs_syncs();
    while (c.calls < 200)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(c.failures, 0);
    assert_true(c.ordered);
    store_stats_t st;
    assert_int_equal(store_stats(f->s, &st, NULL), 0);
    assert_int_equal(st.batched_ops, 200);
    /* 200 durable commits in a handful of fsyncs: while one batch syncs, the rest queue */
    assert_true(st.batches <= 5);
    assert_true(fault_vfs_syncs() - syncs0 <= 10);
    fault_vfs_clear();
}

/* ---- durability, faults, files -------------------------------------------------------------- */

static void reopened_store_keeps_data_and_never_reuses_revisions(void **state)
{
    fixture_t *f = *state;
    int64_t rev;
    put(f, STORE_OP_CREATE, "/p/a", "1", 0, NULL);
    put(f, STORE_OP_CREATE, "/p/b", "2", 0, NULL);
    put(f, STORE_OP_DELETE, "/p/b", NULL, 0, &rev); /* the newest change is a delete */
    assert_int_equal(store_compact(f->s, 3, NULL), 0);
    spin(f);
    fx_close(f);
    fx_open(f);
    assert_int_equal(store_current_rev(f->s), 3);
    assert_int_equal(store_compact_rev(f->s), 3);
    char *v = get_value(f, "/p/a", 0, NULL);
    assert_string_equal(v, "1");
    free(v);
    put(f, STORE_OP_CREATE, "/p/c", "3", 0, &rev);
    assert_int_equal(rev, 4);
}

static void disk_full_fails_the_batch_and_the_store_recovers(void **state)
{
    fixture_t *f = *state;
    fx_close(f);
    f->opts.vfs = FAULT_VFS_NAME;
    fault_vfs_clear();
    fx_open(f);
    put(f, STORE_OP_CREATE, "/f/before", "ok", 0, NULL);
    fault_vfs_config_t full = {
        .fail_writes_after = 0, .fail_syncs_after = -1, .error_code = SQLITE_FULL};
    fault_vfs_set(&full);
    cleanup_error util_error_t err = NULL;
    store_op_t op = {
        .type = STORE_OP_CREATE, .key = "/f/during", .key_len = 9, .value = "x", .value_len = 1};
    store_txn_result_t res;
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, &err), -ENOSPC);
    store_txn_result_free(&res);
    fault_vfs_config_t ioerr = {
        .fail_writes_after = -1, .fail_syncs_after = 0, .error_code = SQLITE_IOERR_FSYNC};
    fault_vfs_set(&ioerr);
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, &err), -EIO);
    store_txn_result_free(&res);
    fault_vfs_clear(); /* space is back */
    int64_t rev = 0;
    assert_int_equal(put(f, STORE_OP_CREATE, "/f/after", "ok", 0, &rev), 0);
    assert_int_equal(rev, 2); /* failed batches consumed no revision */
    assert_null(get_value(f, "/f/during", 0, NULL));
    char *v = get_value(f, "/f/before", 0, NULL);
    assert_string_equal(v, "ok");
    free(v);
    fx_close(f);
    f->opts.verify = true;
    fx_open(f); /* quick_check passes */
    v = get_value(f, "/f/after", 0, NULL);
    assert_string_equal(v, "ok");
    free(v);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

static void expect_open_refused(fixture_t *f, const char *want)
{
    store_t *s = NULL;
    cleanup_error util_error_t err = NULL;
    assert_true(store_open(&f->opts, &s, &err) < 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    if (!strstr(err->msg, want) || !strstr(err->msg, f->path))
        fail_msg("error \"%s\" lacks \"%s\" or the path", err->msg, want);
}

static void corrupt_or_foreign_files_are_refused_and_left_alone(void **state)
{
    fixture_t *f = *state;
    fx_close(f);
    unlink(f->path);
    write_file(f->path, "this is not a database at all", 29);
    expect_open_refused(f, "not an SQLite file");
    char buf[64] = {0};
    FILE *fp = fopen(f->path, "rb");
    assert_int_equal(fread(buf, 1, sizeof(buf), fp), 29); /* never reset */
    fclose(fp);
    unlink(f->path);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE foreign_t (x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    expect_open_refused(f, "application_id");
    unlink(f->path);
    /* a real kubeling database with a damaged page */
    fx_open(f);
    char key[32], val[512];
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "/x/%d", i);
        put(f, STORE_OP_CREATE, key, val, 0, NULL);
    }
    fx_close(f);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK); /* fold the WAL into the file */
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_close(db);
    int fd = open(f->path, O_WRONLY);
    char junk[4096];
    memset(junk, 0x5a, sizeof(junk));
    assert_int_equal(pwrite(fd, junk, sizeof(junk), 4096 * 3 + 100), (ssize_t)sizeof(junk));
    close(fd);
    f->opts.verify = true;
    expect_open_refused(f, "corrupt");
}

static void database_and_snapshot_are_private_files(void **state)
{
    fixture_t *f = *state;
    put(f, STORE_OP_CREATE, "/registry/secrets/s", "token", 0, NULL);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char wal[700];
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* SQLite's own descriptors are close-on-exec too */
    char link[64], target[700];
    for (int fd = 3; fd < 256; fd++) {
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strstr(target, f->dir))
            assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    }
}

static void snapshot_restores_to_an_equal_store(void **state)
{
    fixture_t *f = *state;
    char key[32];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "/snap/%02d", i);
        put(f, STORE_OP_CREATE, key, key, 0, NULL);
    }
    char snap[700];
    snprintf(snap, sizeof(snap), "%s/backup.db", f->dir);
    cleanup_error util_error_t err = NULL;
    assert_int_equal(store_snapshot_save(f->s, snap, &err), 0);
    assert_int_equal(store_snapshot_save(f->s, snap, &err), -EEXIST); /* never overwritten */
    struct stat st;
    assert_int_equal(stat(snap, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    put(f, STORE_OP_DELETE, "/snap/00", NULL, 0, NULL); /* after the snapshot */
    fx_close(f);
    assert_int_equal(store_snapshot_restore(snap, f->path, &err), 0);
    fx_open(f);
    assert_int_equal(store_current_rev(f->s), 50);
    char *v = get_value(f, "/snap/00", 0, NULL);
    assert_string_equal(v, "/snap/00");
    free(v);
    fx_close(f);
    write_file(snap, "garbage", 7);
    assert_true(store_snapshot_restore(snap, f->path, &err) < 0);
    fx_open(f); /* the failed restore left the store as it was */
    v = get_value(f, "/snap/49", 0, NULL);
    assert_string_equal(v, "/snap/49");
    free(v);
}

/* ---- compaction ----------------------------------------------------------------------------- */

static int64_t count_rows(fixture_t *f, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void compaction_removes_old_history_and_keeps_what_watchers_need(void **state)
{
    fixture_t *f = *state;
    fx_close(f);
    f->opts.compact_batch_rows = 37; /* many small batches */
    fx_open(f);
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "/cmp/%d", i % 10);
        put(f, STORE_OP_PUT, key, key, 0, NULL);
    }
    put(f, STORE_OP_DELETE, "/cmp/0", NULL, 0, NULL); /* rev 1001 */
    assert_int_equal(count_rows(f, "SELECT count(*) FROM log"), 1001);
    assert_int_equal(store_compact(f->s, 995, NULL), 0);
    store_stats_t st = {0};
    for (int i = 0; i < 2000 && st.compacted_through < 995; i++) {
        usleep(1000);
        store_stats(f->s, &st, NULL);
    }
    assert_int_equal(st.compacted_through, 995);
    /* kept: the newest version of each key at 995 (10 rows) plus revisions 996..1001 (6) */
    assert_int_equal(count_rows(f, "SELECT count(*) FROM log"), 16);
    recorder_t *r = calloc(1, sizeof(*r));
    store_watcher_t *w = watch_prefix(f, "/cmp/", 995, r, NULL);
    assert_int_equal(r->n, 6);
    for (size_t i = 0; i < r->n; i++)
        assert_true(r->ev[i]->has_prev);
    assert_int_equal(r->ev[5]->type, STORE_EVENT_DELETE);
    store_watch_cancel(w);
    recorder_free(r);
    store_list_t l;
    assert_int_equal(store_range(f->s, "/cmp/", 5, "/cmp0", 5, 995, 0, &l, NULL), 0);
    assert_int_equal(l.n, 10); /* the state at the compaction revision is still readable */
    store_list_free(&l);
}

/* Physical compaction must not wait for an idle moment: writers that never pause would
 * otherwise let history (and the file) grow without bound. */
static void compaction_progresses_while_writers_never_pause(void **state)
{
    fixture_t *f = *state;
    fx_close(f);
    f->opts.compact_batch_rows = 50;
    f->opts.max_batch_ops = 4; /* 400 queued writes make 100 batches */
    fx_open(f);
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "/busy/%d", i % 10);
        put(f, STORE_OP_PUT, key, "v", 0, NULL);
    }
    /* 400 writes, the compaction request, 400 more: all queued before the writer can drain. */
    counter_t c = {.ordered = true};
    store_op_t op = {
        .type = STORE_OP_PUT, .key = "/busy/0", .key_len = 7, .value = "w", .value_len = 1};
    for (int i = 0; i < 400; i++)
        assert_int_equal(store_txn(f->s, &op, 1, count_cb, &c, NULL), 0);
    assert_int_equal(store_compact(f->s, 990, NULL), 0);
    for (int i = 0; i < 400; i++)
        assert_int_equal(store_txn(f->s, &op, 1, count_cb, &c, NULL), 0);
    while (c.calls < 600)
        uv_run(&f->loop, UV_RUN_ONCE);
    store_stats_t st;
    assert_int_equal(store_stats(f->s, &st, NULL), 0);
    assert_true(st.compacted_through > 0); /* compacted while 200 writes were still queued */
    while (c.calls < 800)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(c.failures, 0);
    assert_true(c.ordered);
    for (int i = 0; i < 2000 && st.compacted_through < 990; i++) {
        usleep(1000);
        store_stats(f->s, &st, NULL);
    }
    assert_int_equal(st.compacted_through, 990);
}

static void automatic_compaction_follows_the_retention_window(void **state)
{
    fixture_t *f = *state;
    fx_close(f);
    f->opts.compact_interval_ms = 10;
    f->opts.retain_revs_min = 100;
    f->opts.retain_revs_max = 200;
    f->opts.retain_age_ms = 60 * 60 * 1000; /* age alone would keep everything */
    fx_open(f);
    for (int i = 0; i < 500; i++)
        put(f, STORE_OP_PUT, "/auto", "v", 0, NULL);
    for (int i = 0; i < 200 && store_compact_rev(f->s) < 300; i++)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(store_compact_rev(f->s), 300); /* at most 200 revisions retained */
}

static void overflowing_history_is_compacted_before_the_interval(void **state)
{
    fixture_t *f = *state;
    fx_close(f);
    f->opts.compact_interval_ms = 60 * 60 * 1000; /* the timer alone would wait an hour */
    f->opts.retain_revs_min = 100;
    f->opts.retain_revs_max = 200;
    f->opts.retain_age_ms = 0;
    fx_open(f);
    for (int i = 0; i < 500; i++)
        put(f, STORE_OP_PUT, "/burst", "v", 0, NULL);
    for (int i = 0; i < 200 && store_compact_rev(f->s) < 100; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    /* past 2 x retain_revs_max the compaction runs at once, keeping retain_revs_min */
    assert_true(store_compact_rev(f->s) >= 100);
    assert_true(store_current_rev(f->s) - store_compact_rev(f->s) <= 2 * 200);
}

/* ---- leases --------------------------------------------------------------------------------- */

static int64_t grant(fixture_t *f, int64_t ttl)
{
    store_op_t op = {.type = STORE_OP_LEASE_GRANT, .ttl_s = ttl};
    store_txn_result_t res;
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, NULL), 0);
    int64_t id = res.ops[0].lease;
    store_txn_result_free(&res);
    spin(f);
    return id;
}

static void leased_keys_expire_with_a_delete_event(void **state)
{
    fixture_t *f = *state;
    int64_t id = grant(f, 1);
    assert_true(id > 0);
    store_op_t op = {.type = STORE_OP_CREATE,
                     .key = "/ev/e1",
                     .key_len = 6,
                     .value = "event",
                     .value_len = 5,
                     .lease = id};
    store_txn_result_t res;
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, NULL), 0);
    store_txn_result_free(&res);
    op.key = "/ev/e2";
    op.lease = 12345; /* unknown lease */
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, NULL), -ENOENT);
    store_txn_result_free(&res);
    spin(f);
    recorder_t *r = calloc(1, sizeof(*r));
    store_watcher_t *w = watch_prefix(f, "/ev/", 0, r, NULL);
    uint64_t t0 = uv_now(&f->loop);
    while (r->n == 0 && uv_now(&f->loop) - t0 < 5000)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->ev[0]->type, STORE_EVENT_DELETE);
    assert_string_equal(r->ev[0]->prev.value, "event");
    assert_null(get_value(f, "/ev/e1", 0, NULL));
    op = (store_op_t){.type = STORE_OP_LEASE_KEEPALIVE, .lease = id};
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, NULL), -ENOENT); /* lease is gone */
    store_txn_result_free(&res);
    store_watch_cancel(w);
    recorder_free(r);
}

static void leases_survive_restart_and_revoke_deletes_their_keys(void **state)
{
    fixture_t *f = *state;
    int64_t id = grant(f, 3600);
    for (int i = 0; i < 3; i++) {
        char key[16];
        snprintf(key, sizeof(key), "/l/%d", i);
        store_op_t op = {.type = STORE_OP_CREATE,
                         .key = key,
                         .key_len = strlen(key),
                         .value = "v",
                         .value_len = 1,
                         .lease = id};
        store_txn_result_t res;
        assert_int_equal(store_txn_sync(f->s, &op, 1, &res, NULL), 0);
        store_txn_result_free(&res);
    }
    put(f, STORE_OP_CREATE, "/l/unleased", "v", 0, NULL);
    fx_close(f);
    fx_open(f);
    assert_true(grant(f, 10) > id); /* ids are not reused */
    store_txn_result_t res;
    store_op_t mixed[2] = {{.type = STORE_OP_LEASE_REVOKE, .lease = id},
                           {.type = STORE_OP_PUT, .key = "/l/0", .key_len = 4}};
    assert_int_equal(store_txn_sync(f->s, mixed, 2, &res, NULL), -EINVAL); /* revoke is alone */
    store_txn_result_free(&res);
    store_op_t op = {.type = STORE_OP_LEASE_REVOKE, .lease = id};
    assert_int_equal(store_txn_sync(f->s, &op, 1, &res, NULL), 0);
    store_txn_result_free(&res);
    int64_t n = 0, at;
    assert_int_equal(store_count(f->s, "/l/", 3, "/l0", 3, &n, &at, NULL), 0);
    assert_int_equal(n, 1);
    assert_int_equal(at, 7); /* three deletes, one revision each */
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void close_completes_queued_writes_and_ends_watchers(void **state)
{
    fixture_t *f = *state;
    recorder_t *r = calloc(1, sizeof(*r));
    store_watcher_t *w = watch_prefix(f, "/z", 0, r, NULL);
    counter_t c = {.ordered = true};
    for (int i = 0; i < 20; i++) {
        char key[16];
        snprintf(key, sizeof(key), "/z/%d", i);
        store_op_t op = {.type = STORE_OP_CREATE, .key = key, .key_len = strlen(key)};
        assert_int_equal(store_txn(f->s, &op, 1, count_cb, &c, NULL), 0);
    }
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(c.calls, 20); /* committed or canceled, each exactly once */
    assert_int_equal(r->end_status, -ECANCELED);
    const store_event_t *e;
    assert_int_equal(store_watch_next(w, &e, NULL), -ECANCELED);
    store_watch_cancel(w);
    recorder_free(r);
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(writes_get_increasing_revisions_and_keep_create_revision),
        T(create_of_existing_key_fails_with_current_state),
        T(update_with_stale_revision_is_a_conflict),
        T(update_and_delete_of_missing_key_are_not_found),
        T(delete_returns_previous_value),
        T(transaction_applies_all_or_nothing),
        T(invalid_requests_are_refused_before_queueing),
        T(get_at_past_revision_sees_history),
        T(range_paginates_in_key_order_at_one_revision),
        T(range_without_end_reaches_every_key),
        cmocka_unit_test(prefix_end_handles_0xff_bytes),
        T(watch_delivers_every_change_in_order_with_previous_values),
        T(watch_of_one_key_ignores_its_neighbours),
        T(watch_from_past_revision_catches_up_without_gaps),
        T(watch_of_compacted_revision_is_refused_and_laggards_are_cut_off),
        T(slow_watcher_is_cut_off_with_a_reason),
        T(progress_is_delivered_on_request_and_periodically),
        T(concurrent_writes_share_fsyncs),
        T(reopened_store_keeps_data_and_never_reuses_revisions),
        T(disk_full_fails_the_batch_and_the_store_recovers),
        T(corrupt_or_foreign_files_are_refused_and_left_alone),
        T(database_and_snapshot_are_private_files),
        T(snapshot_restores_to_an_equal_store),
        T(compaction_removes_old_history_and_keeps_what_watchers_need),
        T(compaction_progresses_while_writers_never_pause),
        T(automatic_compaction_follows_the_retention_window),
        T(overflowing_history_is_compacted_before_the_interval),
        T(leased_keys_expire_with_a_delete_event),
        T(leases_survive_restart_and_revoke_deletes_their_keys),
        T(close_completes_queued_writes_and_ends_watchers),
#undef T
    };
    unit_filter_from_env();
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
