/* test_util_loop_thread: a loop on a thread of its own (pkg/util/util_loop_thread.c): start and
 * stop run on that thread, stop waits for close callbacks and pending work, a failed start
 * drains and reports its error. */
#include "unit.h"
#include "util/util.h"

#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include <uv.h>

typedef struct comp {
    uv_thread_t caller;
    uv_loop_t *loop;
    uv_timer_t timer;
    uv_work_t work;
    bool start_on_other_thread, stop_on_loop_thread, timer_fired, closed, work_done;
    bool fail, queue_work;
    char name[16];
    int ticks;
} comp_t;

static void on_closed(uv_handle_t *h)
{
    comp_t *c = h->data;
    c->closed = true;
}

static void on_tick(uv_timer_t *h)
{
    comp_t *c = h->data;
    c->ticks++;
    __atomic_store_n(&c->timer_fired, true, __ATOMIC_RELEASE);
}

static void slow_work(uv_work_t *w)
{
    (void)w;
    usleep(100 * 1000);
}

static void after_work(uv_work_t *w, int status)
{
    comp_t *c = w->data;
    c->work_done = status == 0;
}

static int comp_start(uv_loop_t *loop, void *ud, util_error_t *err)
{
    comp_t *c = ud;
    uv_thread_t self = uv_thread_self();
    c->start_on_other_thread = !uv_thread_equal(&self, &c->caller);
    c->loop = loop;
    pthread_getname_np(pthread_self(), c->name, sizeof(c->name));
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    if (c->fail) {
        uv_close((uv_handle_t *)&c->timer, on_closed);
        return util_error_make(err, EPERM, "component refuses");
    }
    uv_timer_start(&c->timer, on_tick, 1, 1);
    if (c->queue_work) {
        c->work.data = c;
        uv_queue_work(loop, &c->work, slow_work, after_work);
    }
    return 0;
}

static void comp_stop(void *ud)
{
    comp_t *c = ud;
    c->stop_on_loop_thread = c->loop != NULL && uv_loop_alive(c->loop);
    uv_thread_t self = uv_thread_self();
    c->stop_on_loop_thread = c->stop_on_loop_thread && !uv_thread_equal(&self, &c->caller);
    uv_close((uv_handle_t *)&c->timer, on_closed);
}

static void start_and_stop_run_on_the_thread(void **state)
{
    (void)state;
    comp_t c = {.caller = uv_thread_self()};
    util_loop_thread_t *t = NULL;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(util_loop_thread_start("unit-loop", comp_start, comp_stop, &c, &t, &err), 0);
    assert_non_null(t);
    assert_true(c.start_on_other_thread);
    assert_string_equal(c.name, "unit-loop");
    while (!__atomic_load_n(&c.timer_fired, __ATOMIC_ACQUIRE))
        usleep(1000);
    util_loop_thread_stop(t);
    assert_true(c.stop_on_loop_thread);
    assert_true(c.closed); /* the close callback ran before the join */
}

static void stop_waits_for_pending_work(void **state)
{
    (void)state;
    comp_t c = {.caller = uv_thread_self(), .queue_work = true};
    util_loop_thread_t *t = NULL;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(util_loop_thread_start("unit-work", comp_start, comp_stop, &c, &t, &err), 0);
    util_loop_thread_stop(t); /* at once: the 100 ms work is still running */
    assert_true(c.work_done);
    assert_true(c.closed);
}

static void failed_start_drains_and_reports(void **state)
{
    (void)state;
    comp_t c = {.caller = uv_thread_self(), .fail = true};
    util_loop_thread_t *t = NULL;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(util_loop_thread_start("unit-fail", comp_start, comp_stop, &c, &t, &err),
                     -EPERM);
    assert_null(t);
    assert_non_null(err);
    assert_string_equal(err->msg, "component refuses");
    assert_true(c.closed); /* its loop ran the close callback, then the thread was joined */
    assert_false(c.timer_fired);
}

static void long_name_is_cut_and_null_stop_is_a_no_op(void **state)
{
    (void)state;
    comp_t c = {.caller = uv_thread_self()};
    util_loop_thread_t *t = NULL;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(
        util_loop_thread_start("a-very-long-thread-name", comp_start, comp_stop, &c, &t, &err), 0);
    assert_string_equal(c.name, "a-very-long-thr");
    util_loop_thread_stop(t);
    util_loop_thread_stop(NULL);
}

/* Several loops at once, each with its own timer, stopped in the reverse order. */
static void several_threads_run_side_by_side(void **state)
{
    (void)state;
    comp_t c[4];
    util_loop_thread_t *t[4];
    for (int i = 0; i < 4; i++) {
        c[i] = (comp_t){.caller = uv_thread_self()};
        cleanup_error util_error_t err = NULL;
        assert_int_equal(
            util_loop_thread_start("unit-many", comp_start, comp_stop, &c[i], &t[i], &err), 0);
    }
    for (int i = 0; i < 4; i++)
        while (!__atomic_load_n(&c[i].timer_fired, __ATOMIC_ACQUIRE))
            usleep(1000);
    for (int i = 3; i >= 0; i--) {
        util_loop_thread_stop(t[i]);
        assert_true(c[i].closed);
    }
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(start_and_stop_run_on_the_thread),
        cmocka_unit_test(stop_waits_for_pending_work),
        cmocka_unit_test(failed_start_drains_and_reports),
        cmocka_unit_test(long_name_is_cut_and_null_stop_is_a_no_op),
        cmocka_unit_test(several_threads_run_side_by_side),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
