/* kubelet_probe_run: runs one probe or lifecycle handler, blocking, on libuv's thread pool:
 * exec inside the container (runtime_exec), an HTTP GET or a TCP connect from the host into
 * the pod's address, or a sleep. Results and messages follow upstream's probers
 * (pkg/probe/exec, pkg/probe/http, pkg/probe/tcp). */
#include "kubelet_pods_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HTTP_BODY_MAX (10 * 1024) /* upstream reads at most 10 KiB of a probe's answer */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int left_ms(uint64_t deadline)
{
    if (!deadline)
        return -1;
    uint64_t now = mono_ms();
    return now >= deadline ? 0 : (int)(deadline - now);
}

/* ---- exec ----------------------------------------------------------------------------------- */

static void join_argv(const util_strv_t *v, char *out, size_t n)
{
    util_buf_t b = {0};
    for (size_t i = 0; i < v->n; i++)
        util_buf_printf(&b, "%s%s", i ? " " : "", v->v[i]);
    util_snprintf(out, n, "%s", b.len ? b.data : "");
    util_buf_free(&b);
}

static void run_exec(runtime_t *rt, const char *cid, const kubelet_handler_t *h, uint64_t deadline,
                     krun_result_t *res)
{
    pid_t pid;
    int in = -1, fds[2] = {-1, -1};
    util_error_t err = NULL;
    if (runtime_exec(rt, cid, (const char *const *)h->command.v, &pid, &in, &fds[0], &fds[1],
                     &err) < 0) {
        kubelet__errtext(&err, res->output, sizeof(res->output));
        res->result = KUBELET_PROBE_UNKNOWN;
        return;
    }
    close(in);
    size_t len = 0;
    char *out = res->output;
    size_t cap = sizeof(res->output) - 1;
    while (fds[0] >= 0 || fds[1] >= 0) {
        struct pollfd p[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
        int t = left_ms(deadline);
        if (t == 0 || poll(p, 2, t) == 0) {
            res->timed_out = true;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[4096];
            ssize_t r = read(fds[i], buf, sizeof(buf));
            if (r <= 0) {
                if (r < 0 && errno == EINTR)
                    continue;
                close(fds[i]);
                fds[i] = -1;
                continue;
            }
            size_t take = (size_t)r < cap - len ? (size_t)r : cap - len;
            memcpy(out + len, buf, take);
            len += take;
        }
    }
    out[len] = 0;
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (res->timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (res->timed_out) {
        char cmd[512];
        join_argv(&h->command, cmd, sizeof(cmd));
        util_snprintf(res->output, sizeof(res->output), "command \"%s\" timed out", cmd);
        res->result = KUBELET_PROBE_FAILURE;
        return;
    }
    res->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    res->result = res->exit_code == 0 ? KUBELET_PROBE_SUCCESS : KUBELET_PROBE_FAILURE;
}

/* ---- TCP and HTTP ---------------------------------------------------------------------------- */

/* Connects within the deadline; the error text like Go's net.Dial ("dial tcp A:P: connect:
 * connection refused", "... i/o timeout"). */
static int dial(const char *host, int port, uint64_t deadline, char *errtext, size_t n)
{
    char portstr[8], hp[300];
    util_snprintf(portstr, sizeof(portstr), "%d", port);
    util_snprintf(hp, sizeof(hp), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai = NULL;
    int g = getaddrinfo(host, portstr, &hints, &ai);
    if (g != 0) {
        util_snprintf(errtext, n, "dial tcp: lookup %s: %s", host, gai_strerror(g));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        util_snprintf(errtext, n, "dial tcp %s: socket: %s", hp, strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (r < 0 && errno == EINPROGRESS) {
        struct pollfd p = {fd, POLLOUT, 0};
        int t = left_ms(deadline);
        if (t == 0 || poll(&p, 1, t) <= 0) {
            util_snprintf(errtext, n, "dial tcp %s: i/o timeout", hp);
            close(fd);
            return -1;
        }
        int e = 0;
        socklen_t el = sizeof(e);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
        errno = e;
        r = e ? -1 : 0;
    }
    if (r < 0) {
        util_snprintf(errtext, n, "dial tcp %s: connect: %s", hp,
                      errno == ECONNREFUSED ? "connection refused" : strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void run_tcp(const char *host, int port, uint64_t deadline, krun_result_t *res)
{
    int fd = dial(host, port, deadline, res->output, sizeof(res->output));
    if (fd < 0) {
        res->result = KUBELET_PROBE_FAILURE;
        return;
    }
    close(fd);
    res->result = KUBELET_PROBE_SUCCESS;
}

static bool send_all(int fd, const char *p, size_t n, uint64_t deadline)
{
    while (n > 0) {
        struct pollfd pf = {fd, POLLOUT, 0};
        int t = left_ms(deadline);
        if (t == 0 || poll(&pf, 1, t) <= 0)
            return false;
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads the answer until the connection closes, the body limit or the deadline. */
static ssize_t recv_answer(int fd, char *buf, size_t cap, uint64_t deadline, bool *timed_out)
{
    size_t len = 0;
    while (len < cap) {
        struct pollfd pf = {fd, POLLIN, 0};
        int t = left_ms(deadline);
        if (t == 0 || poll(&pf, 1, t) <= 0) {
            *timed_out = len == 0 || !memmem(buf, len, "\r\n\r\n", 4);
            break;
        }
        ssize_t r = recv(fd, buf + len, cap - len, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = 0;
    return (ssize_t)len;
}

static void run_http(const kubelet_handler_t *h, const char *host, uint64_t deadline,
                     const char *agent, krun_result_t *res)
{
    char url[1400], errtext[512];
    util_snprintf(url, sizeof(url), strchr(host, ':') ? "http://[%s]:%d%s" : "http://%s:%d%s", host,
                  h->port, h->path);
    int fd = dial(host, h->port, deadline, errtext, sizeof(errtext));
    if (fd < 0) {
        util_snprintf(res->output, sizeof(res->output), "Get \"%s\": %s", url, errtext);
        res->result = KUBELET_PROBE_FAILURE;
        return;
    }
    util_buf_t req = {0};
    bool host_set = false;
    for (size_t i = 0; i < h->headers.n; i++)
        host_set |= !strncasecmp(h->headers.v[i], "Host:", 5);
    util_buf_printf(&req, "GET %s HTTP/1.1\r\n", h->path);
    if (!host_set)
        util_buf_printf(&req, strchr(host, ':') ? "Host: [%s]:%d\r\n" : "Host: %s:%d\r\n", host,
                        h->port);
    util_buf_printf(&req, "User-Agent: %s\r\nAccept: */*\r\n", agent);
    for (size_t i = 0; i < h->headers.n; i++)
        util_buf_printf(&req, "%s\r\n", h->headers.v[i]);
    util_buf_printf(&req, "Connection: close\r\n\r\n");
    char *ans = util_xcalloc(1, HTTP_BODY_MAX + 4096 + 1);
    bool timed_out = false;
    ssize_t n = send_all(fd, req.data, req.len, deadline)
                    ? recv_answer(fd, ans, HTTP_BODY_MAX + 4096, deadline, &timed_out)
                    : -1;
    close(fd);
    util_buf_free(&req);
    int code = 0;
    if (n > 12 && !strncmp(ans, "HTTP/1.", 7))
        code = atoi(ans + 9);
    if (timed_out || n < 0) {
        util_snprintf(res->output, sizeof(res->output),
                      "Get \"%s\": context deadline exceeded (Client.Timeout exceeded while "
                      "awaiting headers)",
                      url);
        res->result = KUBELET_PROBE_FAILURE;
    } else if (code < 100) { /* Go's client: EOF for a closed connection, else malformed */
        util_snprintf(res->output, sizeof(res->output), "Get \"%s\": %s", url,
                      n == 0 ? "EOF"
                             : "net/http: HTTP/1.x transport connection broken: malformed HTTP "
                               "response");
        res->result = KUBELET_PROBE_FAILURE;
    } else if (code >= 200 && code < 400) {
        const char *body = strstr(ans, "\r\n\r\n");
        util_snprintf(res->output, sizeof(res->output), "%s", body ? body + 4 : "");
        res->result = KUBELET_PROBE_SUCCESS;
    } else {
        util_snprintf(res->output, sizeof(res->output), "HTTP probe failed with statuscode: %d",
                      code);
        res->result = KUBELET_PROBE_FAILURE;
    }
    res->exit_code = code;
    free(ans);
}

void kubelet__handler_run(runtime_t *rt, const char *cid, const kubelet_handler_t *h,
                          const char *pod_ip, uint64_t timeout_ms, const char *agent,
                          krun_result_t *res)
{
    memset(res, 0, sizeof(*res));
    uint64_t deadline = timeout_ms ? mono_ms() + timeout_ms : 0;
    const char *host = h->host[0] ? h->host : pod_ip;
    switch (h->kind) {
    case KUBELET_HANDLER_EXEC:
        run_exec(rt, cid, h, deadline, res);
        return;
    case KUBELET_HANDLER_HTTP:
    case KUBELET_HANDLER_TCP:
        if (!host || !*host) {
            util_snprintf(res->output, sizeof(res->output), "the pod has no IP address");
            res->result = KUBELET_PROBE_UNKNOWN;
        } else if (h->kind == KUBELET_HANDLER_HTTP) {
            run_http(h, host, deadline ? deadline : mono_ms() + 600 * 1000, agent, res);
        } else {
            run_tcp(host, h->port, deadline ? deadline : mono_ms() + 600 * 1000, res);
        }
        return;
    case KUBELET_HANDLER_SLEEP: {
        uint64_t until = mono_ms() + (uint64_t)h->sleep_seconds * 1000;
        if (deadline && deadline < until)
            until = deadline;
        for (int t; (t = left_ms(until)) > 0;)
            poll(NULL, 0, t);
        res->result = KUBELET_PROBE_SUCCESS;
        return;
    }
    default:
        util_snprintf(res->output, sizeof(res->output), "%s is not supported",
                      h->what[0] ? h->what : "this handler");
        res->result = KUBELET_PROBE_UNKNOWN;
        return;
    }
}
