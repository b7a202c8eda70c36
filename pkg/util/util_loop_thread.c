/* util_loop_thread: a libuv loop run by a thread of its own (see util.h). The server runs its
 * kubelet, and its controller manager and scheduler, this way so that they do not share the
 * apiserver's loop, and so one core (docs/architecture.md, "Threads"). */
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define LOOP_THREAD_STACK \
    (8u << 20) /* as the main thread's usual limit; musl's default is 128 KiB */

struct util_loop_thread {
    uv_loop_t loop;
    uv_async_t stop_async;
    uv_thread_t thread;
    uv_sem_t started;
    util_loop_thread_start_fn start;
    util_loop_thread_stop_fn stop;
    void *ud;
    char name[16];
    int result;       /* start's result, read by the starter after `started` */
    util_error_t err; /* start's error, handed to the starter */
};

static void on_stop(uv_async_t *h)
{
    util_loop_thread_t *t = h->data;
    t->stop(t->ud);
    uv_close((uv_handle_t *)&t->stop_async, NULL);
}

/* The thread: a loop, the stop wake-up, the component's start, then the loop until drained. */
static void thread_main(void *arg)
{
    util_loop_thread_t *t = arg;
    pthread_setname_np(pthread_self(), t->name);
    int r = uv_loop_init(&t->loop);
    if (r < 0) {
        t->result = util_error_make(&t->err, -r, "%s: event loop: %s", t->name, uv_strerror(r));
        uv_sem_post(&t->started);
        return;
    }
    r = uv_async_init(&t->loop, &t->stop_async, on_stop);
    if (r < 0)
        r = util_error_make(&t->err, -r, "%s: async handle: %s", t->name, uv_strerror(r));
    else {
        t->stop_async.data = t;
        r = t->start(&t->loop, t->ud, &t->err);
        if (r < 0)
            uv_close((uv_handle_t *)&t->stop_async, NULL);
    }
    t->result = r;
    uv_sem_post(&t->started); /* t stays ours until joined */
    uv_run(&t->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&t->loop) == UV_EBUSY) /* a handle left open (stopped, never closed) */
        util_log_warn("%s: handles still open at exit; their loop is not closed", t->name);
}

int util_loop_thread_start(const char *name, util_loop_thread_start_fn start,
                           util_loop_thread_stop_fn stop, void *ud, util_loop_thread_t **ret,
                           util_error_t *err)
{
    util_loop_thread_t *t = calloc(1, sizeof(*t));
    if (!t)
        return util_error_make(err, ENOMEM, "%s: out of memory", name);
    t->start = start;
    t->stop = stop;
    t->ud = ud;
    snprintf(t->name, sizeof(t->name), "%s", name);
    int r = uv_sem_init(&t->started, 0);
    if (r < 0) {
        free(t);
        return util_error_make(err, -r, "%s: semaphore: %s", name, uv_strerror(r));
    }
    uv_thread_options_t opts = {UV_THREAD_HAS_STACK_SIZE, LOOP_THREAD_STACK};
    r = uv_thread_create_ex(&t->thread, &opts, thread_main, t);
    if (r < 0) {
        uv_sem_destroy(&t->started);
        free(t);
        return util_error_make(err, -r, "%s: thread: %s", name, uv_strerror(r));
    }
    uv_sem_wait(&t->started);
    if (t->result < 0) {
        uv_thread_join(&t->thread);
        r = t->result;
        if (err) {
            util_error_free(err);
            *err = t->err;
        } else
            util_error_free(&t->err);
        uv_sem_destroy(&t->started);
        free(t);
        return r;
    }
    *ret = t;
    return 0;
}

void util_loop_thread_stop(util_loop_thread_t *t)
{
    if (!t)
        return;
    uv_async_send(&t->stop_async);
    uv_thread_join(&t->thread);
    uv_sem_destroy(&t->started);
    free(t);
}
