/* kubelet_serve_logs: GET /containerLogs/<ns>/<pod>/<container> with upstream's options
 * (follow, tailLines, sinceSeconds, sinceTime, timestamps, previous, limitBytes), streamed
 * chunked from the CRI files the shims write. */
#include "kubelet_server_internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FOLLOW_POLL_MS 250  /* without an inotify watch */
#define STATE_CHECK_MS 1000 /* with one: how often a quiet container's state is checked */

/* The attempts that have a log file, newest two: <dir>/<n>.log. */
static int newest_attempts(const char *dir, long att[2])
{
    att[0] = att[1] = -1;
    cleanup_dir DIR *d = opendir(dir);
    if (!d)
        return -ENOENT;
    struct dirent *e;
    while ((e = readdir(d))) {
        char num[32];
        long a;
        const char *dot = strchr(e->d_name, '.');
        if (!dot || strcmp(dot, ".log") != 0 || (size_t)(dot - e->d_name) >= sizeof(num))
            continue;
        memcpy(num, e->d_name, (size_t)(dot - e->d_name));
        num[dot - e->d_name] = '\0';
        if (util_parse_long(num, 0, 1000000, &a) < 0)
            continue;
        if (a > att[0]) {
            att[1] = att[0];
            att[0] = a;
        } else if (a > att[1]) {
            att[1] = a;
        }
    }
    return att[0] < 0 ? -ENOENT : 0;
}

/* Query options as upstream's PodLogOptions; false after answering 400. */
static bool parse_opts(kconn_t *c, kubelet_log_opts_t *o, bool *follow, bool *previous)
{
    *o = (kubelet_log_opts_t){.tail_lines = -1, .limit_bytes = -1};
    o->timestamps = kserver_query_true(c, "timestamps");
    *follow = kserver_query_true(c, "follow");
    *previous = kserver_query_true(c, "previous");
    cleanup_free char *tail = kserver_query(c, "tailLines");
    cleanup_free char *limit = kserver_query(c, "limitBytes");
    cleanup_free char *since_s = kserver_query(c, "sinceSeconds");
    cleanup_free char *since_t = kserver_query(c, "sinceTime");
    long v;
    if (tail && *tail) {
        if (util_parse_long(tail, 0, LONG_MAX, &v) < 0) {
            kserver_status(c, 400, "BadRequest", "tailLines must be a non-negative integer");
            return false;
        }
        o->tail_lines = v;
    }
    if (limit && *limit) {
        if (util_parse_long(limit, 1, LONG_MAX, &v) < 0) {
            kserver_status(c, 400, "BadRequest", "limitBytes must be a positive integer");
            return false;
        }
        o->limit_bytes = v;
    }
    if (since_s && *since_s) {
        if (util_parse_long(since_s, 1, LONG_MAX, &v) < 0) {
            kserver_status(c, 400, "BadRequest", "sinceSeconds must be a positive integer");
            return false;
        }
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        o->since_ns = ((int64_t)now.tv_sec - v) * 1000000000 + now.tv_nsec;
    } else if (since_t && *since_t &&
               kubelet_parse_rfc3339(since_t, strlen(since_t), &o->since_ns) < 0) {
        kserver_status(c, 400, "BadRequest", "sinceTime must be an RFC3339 time");
        return false;
    }
    return true;
}

static int send_chunk(kconn_t *c, util_buf_t *b)
{
    if (b->len == 0)
        return 0;
    char head[32];
    int n = snprintf(head, sizeof(head), "%zx\r\n", b->len);
    util_buf_append(b, "\r\n", 2);
    if (kserver_send(c, head, (size_t)n) < 0)
        return -EPIPE;
    return kserver_send_buf(c, b);
}

/* Following: is the container of this attempt still the newest and running? */
static bool still_running(kconn_t *c, const char *uid, const char *ctr, long attempt)
{
    char id[RUNTIME_ID_MAX + 1];
    int a = -1;
    runtime_container_state_t st;
    cleanup_error util_error_t err = NULL;
    return kserver_container_id(c->s, uid, ctr, 0, id, sizeof(id), &a) == 0 && a == attempt &&
           runtime_container_state(c->s->rt, id, &st, &err) == 0 &&
           st.status == RUNTIME_STATUS_RUNNING;
}

/* Waits for more log (the reader's inotify watch; a timeout when there is none, and at most
 * STATE_CHECK_MS so that an exit without output is noticed): true when the client went away
 * or the server stops. */
static bool client_gone(kconn_t *c, kubelet_log_reader_t *r)
{
    struct pollfd w = {.fd = kubelet_log_reader_watch_fd(r), .events = POLLIN};
    int n = kserver_poll(c, &w, 1, w.fd >= 0 ? STATE_CHECK_MS : FOLLOW_POLL_MS);
    if (n < 0)
        return true;
    if (w.revents)
        kubelet_log_reader_watch_drain(r);
    char buf[512];
    bool conn = n - (w.revents != 0) > 0; /* the count includes the connection */
    return conn && kserver_recv_some(c, buf, sizeof(buf)) < 0;
}

static void stream_log(kconn_t *c, kubelet_log_reader_t *r, bool follow, const char *uid,
                       const char *ctr, long attempt)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                               "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    if (kserver_send(c, head, sizeof(head) - 1) < 0)
        return;
    util_buf_t out = {0};
    if (follow) /* watch before the first read: nothing written in between is missed */
        kubelet_log_reader_watch_fd(r);
    for (;;) {
        int got = kubelet_log_reader_next(r, &out, 0);
        if (send_chunk(c, &out) < 0 || got < 0 || got == 2)
            break;
        if (got == 1)
            continue;
        if (!follow || client_gone(c, r))
            break;
        if (!still_running(c, uid, ctr, attempt)) { /* what it wrote before it exited, then end */
            while (kubelet_log_reader_next(r, &out, 0) == 1 && send_chunk(c, &out) == 0)
                ;
            send_chunk(c, &out);
            break;
        }
    }
    util_buf_free(&out);
    if (!c->gone)
        kserver_send(c, "0\r\n\r\n", 5);
    kserver_finish(c);
}

void kubelet__serve_logs(kconn_t *c, const char *ns, const char *pod, const char *ctr)
{
    kubelet_log_opts_t o;
    bool follow, previous;
    if (!parse_opts(c, &o, &follow, &previous))
        return;
    char uid[256], dir[PATH_MAX], path[PATH_MAX + 32];
    if (kserver_pod_uid(c->s, ns, pod, uid, sizeof(uid)) < 0)
        return kserver_status(c, 404, "NotFound", "pod \"%s/%s\" not found", ns, pod);
    long att[2];
    if (util_snprintf(dir, sizeof(dir), "%s/%s_%s_%s/%s", c->s->logs_dir, ns, pod, uid, ctr) < 0 ||
        newest_attempts(dir, att) < 0)
        return kserver_status(c, 400, "BadRequest",
                              "container \"%s\" in pod \"%s\" is waiting to start: "
                              "ContainerCreating",
                              ctr, pod);
    long attempt = previous ? att[1] : att[0];
    if (attempt < 0)
        return kserver_status(c, 400, "BadRequest",
                              "previous terminated container \"%s\" in pod \"%s\" not found", ctr,
                              pod);
    util_snprintf(path, sizeof(path), "%s/%ld.log", dir, attempt);
    kubelet_log_reader_t *r = NULL;
    cleanup_error util_error_t err = NULL;
    if (kubelet_log_reader_open(path, c->s->log_max_files, &o, &r, &err) < 0)
        return kserver_status(c, 500, "InternalError", "reading the log of %s: %s", ctr, err->msg);
    stream_log(c, r, follow && !previous, uid, ctr, attempt);
    kubelet_log_reader_free(r);
}
