/* kubelet_serve_exec: /exec, /attach and /portForward: pkg/stream sessions (SPDY/3.1,
 * WebSocket v4/v5, the port-forward tunnel) joined to a process in the container
 * (runtime_exec, runtime_exec_tty), to the container's output (attach), or to TCP connections
 * made inside the pod's network namespace (port-forward). */
#include "kubelet_server_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define STDIN_QUEUE_MAX (1u << 20) /* client reads pause while the process lags behind */
#define IO_CHUNK        16384
#define FWD_MAX         64

/* ---- the container of a request ---------------------------------------------------------- */

/* Finds the running container; answers and returns false when there is none. */
static bool find_running(kconn_t *c, const char *ns, const char *pod, const char *ctr, char *uid,
                         size_t un, char *id, size_t idn)
{
    runtime_container_state_t st;
    cleanup_error util_error_t err = NULL;
    if (kserver_pod_uid(c->s, ns, pod, uid, un) < 0) {
        kserver_status(c, 404, "NotFound", "pod \"%s/%s\" not found", ns, pod);
        return false;
    }
    if (kserver_container_id(c->s, uid, ctr, 0, id, idn, NULL) < 0 ||
        runtime_container_state(c->s->rt, id, &st, &err) < 0 ||
        st.status != RUNTIME_STATUS_RUNNING) {
        kserver_status(c, 400, "BadRequest", "container %s is not running in pod %s/%s", ctr, ns,
                       pod);
        return false;
    }
    return true;
}

/* ---- exec --------------------------------------------------------------------------------- */

typedef struct proc {
    pid_t pid;
    int in, out, err; /* -1 when absent or closed; with a tty in == out (the master) */
    bool tty, started, in_eof;
    util_buf_t inq; /* stdin not yet written */
} proc_t;

static void proc_close_in(proc_t *p)
{
    if (p->in < 0)
        return;
    if (p->tty)
        (void)!write(p->in, "\x04", 1); /* EOF for the terminal's reader */
    else
        close(p->in);
    p->in = -1;
}

static int proc_spawn(kconn_t *c, proc_t *p, const char *id, util_strv_t *cmd, bool in,
                      util_error_t *err)
{
    int r;
    if (p->tty) {
        int m = -1;
        r = runtime_exec_tty(c->s->rt, id, (const char *const *)cmd->v, &p->pid, &m, err);
        p->in = p->out = m;
    } else {
        r = runtime_exec(c->s->rt, id, (const char *const *)cmd->v, &p->pid, &p->in, &p->out,
                         &p->err, err);
        if (r == 0 && !in) {
            close(p->in);
            p->in = -1;
        }
    }
    if (r == 0 && p->in >= 0)
        fcntl(p->in, F_SETFL, fcntl(p->in, F_GETFL) | O_NONBLOCK);
    p->started = r == 0;
    return r;
}

/* Writes queued stdin without blocking. */
static void proc_flush_in(proc_t *p)
{
    while (p->in >= 0 && p->inq.len > 0) {
        ssize_t n = write(p->in, p->inq.data, p->inq.len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            util_buf_reset(&p->inq); /* EPIPE: the process closed its stdin */
            if (!p->tty) {
                close(p->in);
                p->in = -1;
            }
            return;
        }
        memmove(p->inq.data, p->inq.data + n, p->inq.len - (size_t)n);
        p->inq.len -= (size_t)n;
    }
    if (p->in_eof && p->inq.len == 0)
        proc_close_in(p);
}

typedef struct exec_req {
    const char *id;
    util_strv_t *cmd;
    bool in;
    char error[512]; /* set when the command could not be started */
} exec_req_t;

/* Handles the session's events; false once the client ended it. */
static bool exec_events(kconn_t *c, stream_session_t *s, proc_t *p, exec_req_t *x, util_buf_t *out)
{
    stream_event_t ev;
    cleanup_error util_error_t err = NULL;
    int r;
    while ((r = stream_session_next(s, &ev, out, &err)) > 0) {
        if (ev.type == STREAM_EV_READY && !p->started && !x->error[0]) {
            cleanup_error util_error_t serr = NULL;
            if (proc_spawn(c, p, x->id, x->cmd, x->in, &serr) < 0)
                util_snprintf(x->error, sizeof(x->error), "%s", serr ? serr->msg : "exec failed");
        } else if (ev.type == STREAM_EV_DATA && p->in >= 0 && !p->in_eof) {
            util_buf_append(&p->inq, ev.data, ev.len);
        } else if (ev.type == STREAM_EV_EOF) {
            p->in_eof = true;
        } else if (ev.type == STREAM_EV_RESIZE && p->tty && p->out >= 0) {
            struct winsize ws = {.ws_row = ev.height, .ws_col = ev.width};
            ioctl(p->out, TIOCSWINSZ, &ws);
        } else if (ev.type == STREAM_EV_CLOSED) {
            return false;
        }
    }
    if (r < 0)
        util_log_v(1, "kubelet api: stream: %s", err->msg);
    proc_flush_in(p);
    return r == 0 && kserver_send_buf(c, out) == 0;
}

/* Feeds what the client sent, one read at a time with events handled in between. */
static bool exec_pump_client(kconn_t *c, stream_session_t *s, proc_t *p, exec_req_t *x,
                             util_buf_t *out)
{
    char buf[IO_CHUNK];
    for (;;) {
        if (!exec_events(c, s, p, x, out))
            return false;
        if (p->inq.len >= STDIN_QUEUE_MAX)
            return true;
        int n = kserver_recv_some(c, buf, sizeof(buf));
        if (n <= 0)
            return n == 0;
        if (stream_session_feed(s, buf, (size_t)n) < 0)
            return false;
    }
}

/* Output of the process to its channel; closes the fd at its end (EOF, or EIO from a pty
 * whose last holder exited). */
static void exec_pump_output(kconn_t *c, stream_session_t *s, int *fd, int channel, util_buf_t *out)
{
    char buf[IO_CHUNK];
    ssize_t n = read(*fd, buf, sizeof(buf));
    if (n > 0) {
        stream_exec_write(s, channel, buf, (size_t)n, out);
        kserver_send_buf(c, out);
        return;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    close(*fd);
    *fd = -1;
}

/* Waits for the exit; a process that closed its output but runs on is killed once the server
 * stops, so that stopping never waits for it. */
static int proc_reap(kconn_t *c, proc_t *p)
{
    int status = 0;
    pid_t r;
    if (p->pid <= 0)
        return 0;
    int wait_ms = 1; /* the exit usually follows the output's end at once */
    while ((r = waitpid(p->pid, &status, WNOHANG)) == 0 || (r < 0 && errno == EINTR)) {
        struct pollfd stop = {.fd = c->s->stop_fd, .events = POLLIN};
        if (poll(&stop, 1, wait_ms) > 0)
            kill(p->pid, SIGKILL);
        wait_ms = wait_ms < 100 ? wait_ms * 2 : 100;
    }
    if (r < 0)
        return 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void exec_session(kconn_t *c, stream_session_t *s, exec_req_t *x, bool tty)
{
    proc_t p = {.pid = -1, .in = -1, .out = -1, .err = -1, .tty = tty};
    util_buf_t out = {0};
    bool ok = !c->in.len || stream_session_feed(s, c->in.data, c->in.len) == 0;
    while (ok && !x->error[0]) {
        if (!exec_pump_client(c, s, &p, x, &out)) {
            ok = false;
            break;
        }
        if (p.started && p.out < 0 && p.err < 0)
            break;
        struct pollfd fds[3] = {
            {.fd = p.started ? p.out : -1, .events = POLLIN},
            {.fd = p.started ? p.err : -1, .events = POLLIN},
            {.fd = p.inq.len && !p.tty ? p.in : -1, .events = POLLOUT},
        };
        if (kserver_poll(c, fds, 3, p.inq.len && p.tty ? 50 : -1) < 0) {
            ok = false;
            break;
        }
        if (fds[0].revents)
            exec_pump_output(c, s, &p.out, STREAM_CH_STDOUT, &out);
        if (fds[1].revents && p.err >= 0)
            exec_pump_output(c, s, &p.err, STREAM_CH_STDERR, &out);
        proc_flush_in(&p);
    }
    if (!ok && p.pid > 0)
        kill(p.pid, SIGKILL); /* the client left: the joining child goes, its pipes close */
    int fds[3] = {p.tty ? -1 : p.in, p.out, p.err};
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    int code = proc_reap(c, &p);
    if (ok) {
        stream_exec_finish(s, code, x->error[0] ? x->error : NULL, &out);
        kserver_send_buf(c, &out);
    }
    util_buf_free(&out);
    util_buf_free(&p.inq);
    kserver_finish(c);
}

/* ---- attach ------------------------------------------------------------------------------ */

/* The container's stdin during an attach: a copy of the shim's pipe or pty master
 * (runtime_container_stdin), written without blocking. */
typedef struct attach_in {
    int fd;              /* -1 without stdin (input is dropped) */
    bool tty, once, eof; /* eof: the client closed its stdin */
    bool write;          /* the client sends stdin and the container takes it */
    util_buf_t q;
} attach_in_t;

static void attach_in_open(kconn_t *c, const char *id, const stream_exec_opts_t *o, attach_in_t *in)
{
    cleanup_error util_error_t err = NULL;
    if (!(o->in || o->tty) ||
        runtime_container_stdin(c->s->rt, id, &in->fd, &in->tty, &in->once, &err) < 0)
        return;
    fcntl(in->fd, F_SETFL, fcntl(in->fd, F_GETFL) | O_NONBLOCK);
    in->write = o->in;
}

static void attach_in_flush(attach_in_t *in)
{
    while (in->fd >= 0 && in->write && in->q.len > 0) {
        ssize_t n = write(in->fd, in->q.data, in->q.len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n < 0) { /* EPIPE: the container closed its stdin */
            util_buf_reset(&in->q);
            in->write = false;
            return;
        }
        memmove(in->q.data, in->q.data + n, in->q.len - (size_t)n);
        in->q.len -= (size_t)n;
    }
}

/* The end of the attach's stdin (the client closed it, or left): stdinOnce closes the
 * container's, as upstream's runtimes do when the first attach detaches. */
static void attach_in_close(kconn_t *c, const char *id, attach_in_t *in)
{
    if (in->fd < 0)
        return;
    if (in->write && in->once) {
        cleanup_error util_error_t err = NULL;
        attach_in_flush(in);
        runtime_container_close_stdin(c->s->rt, id, &err);
    }
    close(in->fd);
    in->fd = -1;
    util_buf_free(&in->q);
}

/* The session's events: stdin, its end, resizes; false once the session is over. */
static bool attach_events(kconn_t *c, stream_session_t *s, attach_in_t *in, bool *ready,
                          util_buf_t *out)
{
    stream_event_t ev;
    cleanup_error util_error_t err = NULL;
    int n;
    while ((n = stream_session_next(s, &ev, out, &err)) > 0) {
        if (ev.type == STREAM_EV_READY) {
            *ready = true;
        } else if (ev.type == STREAM_EV_DATA && in->fd >= 0 && in->write && !in->eof &&
                   in->q.len < STDIN_QUEUE_MAX) {
            util_buf_append(&in->q, ev.data, ev.len);
        } else if (ev.type == STREAM_EV_EOF) {
            in->eof = true;
        } else if (ev.type == STREAM_EV_RESIZE && in->tty && in->fd >= 0) {
            struct winsize ws = {.ws_row = ev.height, .ws_col = ev.width};
            ioctl(in->fd, TIOCSWINSZ, &ws);
        } else if (ev.type == STREAM_EV_CLOSED) {
            return false;
        }
    }
    return n == 0 && kserver_send_buf(c, out) == 0;
}

/* What the container wrote since the last call, from its log, on its channel. */
static void attach_log_send(kconn_t *c, stream_session_t *s, kubelet_log_reader_t **r,
                            util_buf_t *data, util_buf_t *out, bool ready)
{
    for (int i = 0; ready && i < 2; i++)
        while (kubelet_log_reader_next(r[i], data, 0) == 1) {
            stream_exec_write(s, i ? STREAM_CH_STDERR : STREAM_CH_STDOUT, data->data, data->len,
                              out);
            util_buf_reset(data);
            kserver_send_buf(c, out);
        }
}

/* attach streams what the container writes from now on, from its log (a terminal's output is
 * its stdout), on the stdout and stderr channels, and feeds the client's input to the
 * container's stdin when it has one (else drops it). It ends when the container exits. */
static void attach_session(kconn_t *c, stream_session_t *s, const stream_exec_opts_t *o,
                           const char *ns, const char *pod, const char *uid, const char *ctr,
                           const char *id)
{
    char path[PATH_MAX];
    runtime_container_state_t st;
    kubelet_log_reader_t *r[2] = {NULL, NULL};
    util_buf_t out = {0}, data = {0};
    attach_in_t in = {.fd = -1};
    bool ok = !c->in.len || stream_session_feed(s, c->in.data, c->in.len) == 0;
    ok = ok && util_snprintf(path, sizeof(path), "%s/%s_%s_%s/%s/%s.log", c->s->logs_dir, ns, pod,
                             uid, ctr, strrchr(id, '_') + 1) == 0;
    for (int i = 0; ok && i < 2; i++) {
        kubelet_log_opts_t lo = {.tail_lines = 0, .limit_bytes = -1, .stream = i + 1};
        cleanup_error util_error_t err = NULL;
        ok = kubelet_log_reader_open(path, c->s->log_max_files, &lo, &r[i], &err) == 0;
    }
    if (ok) {
        kubelet_log_reader_watch_fd(r[0]); /* before the first read: nothing is missed */
        attach_in_open(c, id, o, &in);
    }
    bool ready = false;
    while (ok && attach_events(c, s, &in, &ready, &out)) {
        attach_in_flush(&in);
        if (in.eof && in.q.len == 0 && in.fd >= 0 && !in.tty)
            attach_in_close(c, id, &in);
        attach_log_send(c, s, r, &data, &out, ready);
        cleanup_error util_error_t serr = NULL;
        if (ready && (runtime_container_state(c->s->rt, id, &st, &serr) < 0 ||
                      st.status != RUNTIME_STATUS_RUNNING)) {
            /* the exit can come between reading the log and asking: wait until the shim has
             * logged everything (at most its drain time), then send the rest */
            runtime_container_wait(c->s->rt, id, &st, NULL);
            attach_log_send(c, s, r, &data, &out, ready);
            stream_exec_finish(s, 0, NULL, &out);
            kserver_send_buf(c, &out);
            break;
        }
        char buf[IO_CHUNK];
        /* the container's output arrives through the log's inotify watch (both streams share
         * one directory); the timeout only checks a quiet container's state */
        struct pollfd pf[2] = {{.fd = in.q.len ? in.fd : -1, .events = POLLOUT},
                               {.fd = kubelet_log_reader_watch_fd(r[0]), .events = POLLIN}};
        int pr = kserver_poll(c, pf, 2, pf[1].fd >= 0 ? 1000 : 200);
        if (pr < 0)
            break;
        if (pf[1].revents)
            kubelet_log_reader_watch_drain(r[0]);
        /* the count includes the connection */
        bool readable = pr - (pf[0].revents != 0) - (pf[1].revents != 0) > 0;
        if (readable || mbedtls_ssl_get_bytes_avail(&c->ssl) > 0) {
            int got = kserver_recv_some(c, buf, sizeof(buf));
            if (got < 0 || (got > 0 && stream_session_feed(s, buf, (size_t)got) < 0))
                break;
        }
    }
    attach_in_close(c, id, &in);
    for (int i = 0; i < 2; i++)
        kubelet_log_reader_free(r[i]);
    util_buf_free(&out);
    util_buf_free(&data);
    kserver_finish(c);
}

void kubelet__serve_exec(kconn_t *c, const char *ns, const char *pod, const char *ctr, bool attach)
{
    stream_exec_opts_t o = {.in = kserver_query_true(c, "input"),
                            .out = kserver_query_true(c, "output"),
                            .err = kserver_query_true(c, "error"),
                            .tty = kserver_query_true(c, "tty")};
    util_strv_t cmd = {0};
    kserver_query_all(c, "command", &cmd);
    char uid[256], id[RUNTIME_ID_MAX + 1];
    if (!attach && cmd.n == 0) {
        util_strv_clear(&cmd);
        return kserver_status(c, 400, "BadRequest", "you must specify at least 1 command");
    }
    if (!find_running(c, ns, pod, ctr, uid, sizeof(uid), id, sizeof(id))) {
        util_strv_clear(&cmd);
        return;
    }
    util_buf_t resp = {0};
    int status = 0;
    cleanup_error util_error_t err = NULL;
    stream_request_t req = kserver_stream_request(c);
    stream_session_t *s = stream_exec_accept(&req, &o, &resp, &status, &err);
    if (!s) {
        util_strv_clear(&cmd);
        return kserver_respond(c, status, "text/plain; charset=utf-8", err->msg);
    }
    if (kserver_send_buf(c, &resp) == 0) {
        if (attach) {
            attach_session(c, s, &o, ns, pod, uid, ctr, id);
        } else {
            exec_req_t x = {.id = id, .cmd = &cmd, .in = o.in};
            exec_session(c, s, &x, o.tty);
        }
    }
    util_buf_free(&resp);
    util_strv_clear(&cmd);
    stream_session_free(s);
}

/* ---- port-forward ------------------------------------------------------------------------- */

typedef struct fwd {
    uint32_t pair;
    int fd;
} fwd_t;

/* A TCP socket made in the pod's network namespace (setns of this thread, and back). */
static int pod_socket(int pod_ns, int own_ns)
{
    if (pod_ns >= 0 && setns(pod_ns, CLONE_NEWNET) < 0)
        return -errno;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int e = errno;
    if (pod_ns >= 0 && setns(own_ns, CLONE_NEWNET) < 0) {
        /* a thread left in the pod's namespace would make the next sockets there: give up */
        util_log_error("kubelet api: cannot return to the host network namespace: %s",
                       strerror(errno));
        abort();
    }
    return fd < 0 ? -e : fd;
}

static void fwd_open(kconn_t *c, stream_session_t *s, fwd_t *f, const stream_event_t *ev,
                     int pod_ns, int own_ns, util_buf_t *out)
{
    fwd_t *slot = NULL;
    for (int i = 0; i < FWD_MAX && !slot; i++)
        if (f[i].fd < 0)
            slot = &f[i];
    int fd = slot ? pod_socket(pod_ns, own_ns) : -EMFILE;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(ev->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int e = fd < 0 ? -fd : 0;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        e = errno;
        close(fd);
    }
    if (e) {
        char msg[300], text[128];
        util_snprintf(text, sizeof(text), "%s", strerror(e));
        text[0] = (char)tolower((unsigned char)text[0]); /* Go's errno texts are lower case */
        util_snprintf(msg, sizeof(msg),
                      "an error occurred forwarding %u -> %u: error forwarding port %u to pod: "
                      "dial tcp4 127.0.0.1:%u: connect: %s",
                      ev->port, ev->port, ev->port, ev->port, text);
        stream_portforward_error(s, ev->pair, msg, out);
        kserver_send_buf(c, out);
        return;
    }
    slot->fd = fd;
    slot->pair = ev->pair;
}

static fwd_t *fwd_find(fwd_t *f, uint32_t pair)
{
    for (int i = 0; i < FWD_MAX; i++)
        if (f[i].fd >= 0 && f[i].pair == pair)
            return &f[i];
    return NULL;
}

/* Handles pending events and input; false once the session is over. */
static bool fwd_client(kconn_t *c, stream_session_t *s, fwd_t *f, int pod_ns, int own_ns,
                       util_buf_t *out)
{
    char buf[IO_CHUNK];
    for (;;) {
        stream_event_t ev;
        cleanup_error util_error_t err = NULL;
        int r;
        while ((r = stream_session_next(s, &ev, out, &err)) > 0) {
            fwd_t *w = fwd_find(f, ev.pair);
            if (ev.type == STREAM_EV_READY)
                fwd_open(c, s, f, &ev, pod_ns, own_ns, out);
            else if (ev.type == STREAM_EV_DATA && w &&
                     send(w->fd, ev.data, ev.len, MSG_NOSIGNAL) < 0)
                shutdown(w->fd, SHUT_RDWR);
            else if (ev.type == STREAM_EV_EOF && w)
                shutdown(w->fd, SHUT_WR);
            else if (ev.type == STREAM_EV_RESET && w) {
                close(w->fd);
                w->fd = -1;
            } else if (ev.type == STREAM_EV_CLOSED)
                return false;
        }
        if (r < 0 || kserver_send_buf(c, out) < 0)
            return false;
        int n = kserver_recv_some(c, buf, sizeof(buf));
        if (n <= 0)
            return n == 0;
        if (stream_session_feed(s, buf, (size_t)n) < 0)
            return false;
    }
}

static void fwd_session(kconn_t *c, stream_session_t *s, int pod_ns, int own_ns)
{
    fwd_t f[FWD_MAX];
    for (int i = 0; i < FWD_MAX; i++)
        f[i].fd = -1;
    util_buf_t out = {0};
    char buf[IO_CHUNK];
    bool ok = !c->in.len || stream_session_feed(s, c->in.data, c->in.len) == 0;
    while (ok && fwd_client(c, s, f, pod_ns, own_ns, &out)) {
        struct pollfd fds[FWD_MAX];
        for (int i = 0; i < FWD_MAX; i++)
            fds[i] = (struct pollfd){.fd = f[i].fd, .events = POLLIN};
        if (kserver_poll(c, fds, FWD_MAX, -1) < 0)
            break;
        for (int i = 0; i < FWD_MAX; i++) {
            if (f[i].fd < 0 || !fds[i].revents)
                continue;
            ssize_t got = recv(f[i].fd, buf, sizeof(buf), 0);
            if (got > 0) {
                stream_portforward_write(s, f[i].pair, buf, (size_t)got, &out);
            } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
                stream_portforward_close(s, f[i].pair, &out);
                close(f[i].fd);
                f[i].fd = -1;
            }
            kserver_send_buf(c, &out);
        }
    }
    for (int i = 0; i < FWD_MAX; i++)
        if (f[i].fd >= 0)
            close(f[i].fd);
    util_buf_free(&out);
    kserver_finish(c);
}

void kubelet__serve_portforward(kconn_t *c, const char *ns, const char *pod)
{
    char uid[256], nspath[PATH_MAX];
    if (kserver_pod_uid(c->s, ns, pod, uid, sizeof(uid)) < 0)
        return kserver_status(c, 404, "NotFound", "pod \"%s/%s\" not found", ns, pod);
    int pod_ns = -1, own_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int r = runtime_sandbox_netns_path(c->s->rt, uid, nspath, sizeof(nspath));
    if (r == 0 && (pod_ns = open(nspath, O_RDONLY | O_CLOEXEC)) < 0)
        r = -errno;
    if ((r < 0 && r != -ENOENT) || own_ns < 0) { /* -ENOENT: hostNetwork, the host's own */
        if (own_ns >= 0)
            close(own_ns);
        return kserver_status(c, 500, "InternalError", "pod %s/%s has no network namespace", ns,
                              pod);
    }
    util_buf_t resp = {0};
    int status = 0;
    cleanup_error util_error_t err = NULL;
    stream_request_t req = kserver_stream_request(c);
    stream_session_t *s = stream_portforward_accept(&req, &resp, &status, &err);
    if (!s) {
        kserver_respond(c, status, "text/plain; charset=utf-8", err->msg);
    } else {
        if (kserver_send_buf(c, &resp) == 0)
            fwd_session(c, s, pod_ns, own_ns);
        stream_session_free(s);
    }
    util_buf_free(&resp);
    if (pod_ns >= 0)
        close(pod_ns);
    close(own_ns);
}
