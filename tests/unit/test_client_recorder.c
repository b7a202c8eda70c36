/* test_client_recorder: the event recorder's tables past their 1,024 records: the oldest spam
 * bucket and the oldest correlated event are forgotten first (a forgotten object starts with a
 * full bucket again), recent ones are still found. Nothing listens: the writes fail, which is
 * fine here (under ASan this also checks the lists and hash chains stay consistent). */
#include "unit.h"
#include "client/client.h"

#include <stdio.h>

static void with_recorder(void (*fn)(client_recorder_t *r))
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    client_config_t cfg = {
        .server = "https://127.0.0.1:1", .host = "127.0.0.1", .port = 1, .insecure = true};
    client_opts_t co;
    client_opts_default(&co);
    co.loop = &loop;
    co.config = &cfg;
    client_t *cl = NULL;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(client_new(&co, &cl, &err), 0);
    client_recorder_t *r = client_recorder_new(cl, "kubelet", "node1");
    fn(r);
    client_recorder_free(r);
    client_close(cl);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void emit(client_recorder_t *r, int obj, const char *msg)
{
    char name[32];
    snprintf(name, sizeof(name), "pod-%d", obj);
    client_event_ref_t ref = {.kind = "Pod", .api_version = "v1", .ns = "d", .name = name};
    client_recorder_eventf(r, &ref, "Normal", "Started", "%s", msg);
}

static uint64_t dropped(const client_recorder_t *r)
{
    uint64_t w, d;
    client_recorder_counts(r, &w, &d);
    return d;
}

static void forgets_oldest(client_recorder_t *r)
{
    for (int i = 0; i < 25; i++) /* pod-0's bucket is empty now */
        emit(r, 0, "again");
    emit(r, 0, "again");
    assert_int_equal(dropped(r), 1);
    for (int i = 1; i <= 1023; i++) /* 1,024 buckets: pod-0's is still the oldest one kept */
        emit(r, i, "Started container c");
    emit(r, 0, "again");
    assert_int_equal(dropped(r), 2);
    for (int i = 1024; i < 3000; i++) /* pod-0's bucket and events are forgotten */
        emit(r, i, "Started container c");
    assert_int_equal(dropped(r), 2);
    emit(r, 0, "again"); /* a full bucket again */
    assert_int_equal(dropped(r), 2);
    for (int i = 2990; i < 3000; i++) /* recent ones are found: their buckets have 24 left */
        for (int j = 0; j < 24; j++)
            emit(r, i, "Started container c");
    assert_int_equal(dropped(r), 2);
    emit(r, 2999, "Started container c");
    assert_int_equal(dropped(r), 3);
}

static void test_forgets_oldest(void **state)
{
    (void)state;
    with_recorder(forgets_oldest);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forgets_oldest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
