/* fake_kubelet: a stand-in kubelet API for the streaming e2e tests (pkg/stream on the server
 * side, against the apiserver's proxy and real kubectl).
 *
 *   fake_kubelet --ca-cert CA.crt --ca-key CA.key --port-file F [--port N] [--logs DIR]
 *
 * HTTPS on 127.0.0.1 with a serving certificate it issues itself from the cluster CA (SAN IP
 * 127.0.0.1); only clients with a CA-signed certificate for CN kube-apiserver-kubelet-client
 * are served. One process per connection (fork):
 *   /exec/NS/POD/C?command=..&input=1&output=1&error=1&tty=1  runs the command on the host
 *                                                             (pipes, or a pty for tty)
 *   /attach/NS/POD/C?...   the shared attach process: prints "tick N" every 500 ms and
 *                          answers each stdin line with "echo: LINE"
 *   /portForward/NS/POD    each stream pair connects to 127.0.0.1:<port> on the host
 *   /containerLogs/NS/POD/C?follow=&tailLines=   DIR/NS_POD_C.log, chunked, follow polls
 *   /healthz               ok
 *   /stats/summary         DIR/summary.json as application/json (404 without it)
 * The chosen port is written to the port file once listening. */
#include "stream/stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#include <psa/crypto.h>

#define MAX_HEAD 65536

static struct {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca, chain;
    mbedtls_pk_context ca_key, key;
    mbedtls_ssl_config conf;
    const char *logs;
    int attach_in, attach_out; /* the shared attach process's stdin (write) and output (read) */
} g;

typedef struct conn {
    int fd;
    mbedtls_ssl_context ssl;
    util_buf_t in; /* plaintext read past the request head */
    char method[16];
    char *target;
    util_strv_t hname, hvalue;
} conn_t;

static void die(const char *what, int rc)
{
    fprintf(stderr, "fake_kubelet: %s failed (%d)\n", what, rc);
    exit(1);
}

/* ---- certificates --------------------------------------------------------------------------- */

static void issue_serving_cert(const char *ca_cert, const char *ca_key)
{
    int rc = mbedtls_x509_crt_parse_file(&g.ca, ca_cert);
    if (rc)
        die("reading the CA certificate", rc);
    rc = mbedtls_pk_parse_keyfile(&g.ca_key, ca_key, NULL, mbedtls_ctr_drbg_random, &g.drbg);
    if (rc)
        die("reading the CA key", rc);
    if ((rc = mbedtls_pk_setup(&g.key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) ||
        (rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(g.key),
                                  mbedtls_ctr_drbg_random, &g.drbg)))
        die("generating a key", rc);
    char issuer[512];
    mbedtls_x509_dn_gets(issuer, sizeof(issuer), &g.ca.subject);
    mbedtls_x509write_cert w;
    mbedtls_x509write_crt_init(&w);
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, &g.key);
    mbedtls_x509write_crt_set_issuer_key(&w, &g.ca_key);
    unsigned char serial[8] = {0x42, 1, 2, 3, 4, 5, 6, (unsigned char)getpid()};
    unsigned char ip[4] = {127, 0, 0, 1};
    mbedtls_x509_san_list san = {.node = {.type = MBEDTLS_X509_SAN_IP_ADDRESS}};
    san.node.san.unstructured_name.p = ip;
    san.node.san.unstructured_name.len = 4;
    mbedtls_asn1_sequence eku = {.buf = {.tag = MBEDTLS_ASN1_OID,
                                         .p = (unsigned char *)MBEDTLS_OID_SERVER_AUTH,
                                         .len = MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)}};
    if ((rc = mbedtls_x509write_crt_set_subject_name(&w, "CN=fake-kubelet")) ||
        (rc = mbedtls_x509write_crt_set_issuer_name(&w, issuer)) ||
        (rc = mbedtls_x509write_crt_set_serial_raw(&w, serial, sizeof(serial))) ||
        (rc = mbedtls_x509write_crt_set_validity(&w, "20200101000000", "20991231235959")) ||
        (rc = mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1)) ||
        (rc = mbedtls_x509write_crt_set_ext_key_usage(&w, &eku)) ||
        (rc = mbedtls_x509write_crt_set_subject_alternative_name(&w, &san)))
        die("building the serving certificate", rc);
    unsigned char pem[4096];
    if ((rc = mbedtls_x509write_crt_pem(&w, pem, sizeof(pem), mbedtls_ctr_drbg_random, &g.drbg)))
        die("signing the serving certificate", rc);
    mbedtls_x509write_crt_free(&w);
    if ((rc = mbedtls_x509_crt_parse(&g.chain, pem, strlen((char *)pem) + 1)))
        die("parsing the serving certificate", rc);
}

static void tls_setup(void)
{
    int rc = mbedtls_ssl_config_defaults(&g.conf, MBEDTLS_SSL_IS_SERVER,
                                         MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc)
        die("TLS defaults", rc);
    mbedtls_ssl_conf_rng(&g.conf, mbedtls_ctr_drbg_random, &g.drbg);
    mbedtls_ssl_conf_authmode(&g.conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&g.conf, &g.ca, NULL);
    if ((rc = mbedtls_ssl_conf_own_cert(&g.conf, &g.chain, &g.key)))
        die("installing the serving certificate", rc);
}

/* ---- TLS over the socket ------------------------------------------------------------------ */

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    ssize_t n = write(*(int *)ctx, buf, len);
    if (n < 0)
        return errno == EAGAIN ? MBEDTLS_ERR_SSL_WANT_WRITE : MBEDTLS_ERR_NET_SEND_FAILED;
    return (int)n;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    ssize_t n = read(*(int *)ctx, buf, len);
    if (n < 0)
        return errno == EAGAIN ? MBEDTLS_ERR_SSL_WANT_READ : MBEDTLS_ERR_NET_RECV_FAILED;
    return (int)n;
}

static void wait_fd(int fd, short ev)
{
    struct pollfd p = {.fd = fd, .events = ev};
    poll(&p, 1, 1000);
}

static void send_all(conn_t *c, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0) {
        int rc = mbedtls_ssl_write(&c->ssl, p, len);
        if (rc == MBEDTLS_ERR_SSL_WANT_WRITE || rc == MBEDTLS_ERR_SSL_WANT_READ) {
            wait_fd(c->fd, rc == MBEDTLS_ERR_SSL_WANT_WRITE ? POLLOUT : POLLIN);
            continue;
        }
        if (rc < 0)
            exit(0); /* the peer is gone */
        p += rc;
        len -= (size_t)rc;
    }
}

static void send_buf(conn_t *c, util_buf_t *b)
{
    if (b->len)
        send_all(c, b->data, b->len);
    util_buf_reset(b);
}

/* Reads what TLS has: > 0 bytes, 0 when nothing is available now, < 0 at the end. */
static int recv_some(conn_t *c, char *buf, size_t len)
{
    int rc = mbedtls_ssl_read(&c->ssl, (unsigned char *)buf, len);
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
        return 0;
    return rc > 0 ? rc : -1;
}

static void finish(conn_t *c)
{
    mbedtls_ssl_close_notify(&c->ssl);
    shutdown(c->fd, SHUT_WR);
    exit(0);
}

/* ---- HTTP ------------------------------------------------------------------------------------ */

static const char *header(const conn_t *c, const char *name)
{
    for (size_t i = 0; i < c->hname.n; i++)
        if (!strcasecmp(c->hname.v[i], name))
            return c->hvalue.v[i];
    return NULL;
}

static void add_header(conn_t *c, const char *name, const char *value)
{
    for (size_t i = 0; i < c->hname.n; i++)
        if (!strcasecmp(c->hname.v[i], name)) {
            char *j = util_strdup_printf("%s, %s", c->hvalue.v[i], value);
            free(c->hvalue.v[i]);
            c->hvalue.v[i] = j;
            return;
        }
    util_strv_push(&c->hname, name);
    util_strv_push(&c->hvalue, value);
}

static void respond(conn_t *c, int code, const char *reason, const char *body)
{
    util_buf_t b = {0};
    util_buf_printf(&b,
                    "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                    "Connection: close\r\n\r\n%s",
                    code, reason, strlen(body), body);
    send_buf(c, &b);
    util_buf_free(&b);
    finish(c);
}

static void read_head(conn_t *c)
{
    char buf[4096];
    for (;;) {
        char *end = c->in.data ? strstr(c->in.data, "\r\n\r\n") : NULL;
        if (end) {
            size_t hl = (size_t)(end - c->in.data) + 4;
            char *head = util_xmalloc(hl + 1);
            memcpy(head, c->in.data, hl);
            head[hl] = '\0';
            memmove(c->in.data, c->in.data + hl, c->in.len - hl);
            c->in.len -= hl;
            char *save = NULL, *line = strtok_r(head, "\r\n", &save);
            char target[8192];
            if (!line || sscanf(line, "%15s %8191s", c->method, target) != 2)
                respond(c, 400, "Bad Request", "bad request line\n");
            c->target = util_xstrdup(target);
            while ((line = strtok_r(NULL, "\r\n", &save))) {
                char *colon = strchr(line, ':');
                if (!colon)
                    continue;
                *colon = '\0';
                char *v = colon + 1;
                while (*v == ' ')
                    v++;
                add_header(c, line, v);
            }
            free(head);
            return;
        }
        if (c->in.len > MAX_HEAD)
            respond(c, 431, "Request Header Fields Too Large", "too large\n");
        int n = recv_some(c, buf, sizeof(buf));
        if (n < 0)
            exit(0);
        if (n == 0)
            wait_fd(c->fd, POLLIN);
        else
            util_buf_append(&c->in, buf, (size_t)n);
    }
}

static int unhex(char ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

static char *url_decode(const char *s, size_t n)
{
    char *o = util_xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n + 1 && unhex(s[i + 1]) >= 0 && unhex(s[i + 2]) >= 0) {
            o[j++] = (char)(unhex(s[i + 1]) * 16 + unhex(s[i + 2]));
            i += 2;
        } else {
            o[j++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    o[j] = '\0';
    return o;
}

/* Every value of a query parameter, decoded. */
static void query_all(const char *target, const char *name, util_strv_t *out)
{
    const char *q = strchr(target, '?');
    size_t nl = strlen(name);
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        const char *e = strchr(p, '&');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
            char *v = url_decode(p + nl + 1, len - nl - 1);
            util_strv_push(out, v);
            free(v);
        }
        p = e ? e + 1 : NULL;
    }
}

static bool query_true(const char *target, const char *name)
{
    util_strv_t v = {0};
    query_all(target, name, &v);
    bool on = false;
    bool r = v.n && util_parse_bool(v.v[0], &on) == 0 && on;
    util_strv_clear(&v);
    return r;
}

static stream_request_t stream_req(const conn_t *c)
{
    return (stream_request_t){.method = c->method,
                              .upgrade = header(c, "upgrade"),
                              .connection = header(c, "connection"),
                              .ws_key = header(c, "sec-websocket-key"),
                              .ws_version = header(c, "sec-websocket-version"),
                              .ws_protocol = header(c, "sec-websocket-protocol"),
                              .stream_protocol = header(c, "x-stream-protocol-version")};
}

/* ---- exec and attach ------------------------------------------------------------------------ */

typedef struct proc {
    pid_t pid;
    int in, out, err; /* -1 when absent or closed */
    bool tty;
} proc_t;

static int open_pty(int *ret_slave)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
        return -1;
    int s = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0)
        return -1;
    *ret_slave = s;
    return m;
}

static void spawn(proc_t *p, char **argv, bool in, bool tty)
{
    int pin[2] = {-1, -1}, pout[2], perr[2], slave = -1;
    if (tty) {
        int m = open_pty(&slave);
        if (m < 0)
            die("openpty", errno);
        p->in = p->out = m;
        p->err = -1;
    } else {
        if ((in && pipe2(pin, O_CLOEXEC) < 0) || pipe2(pout, O_CLOEXEC) < 0 ||
            pipe2(perr, O_CLOEXEC) < 0)
            die("pipe", errno);
        p->in = in ? pin[1] : -1;
        p->out = pout[0];
        p->err = perr[0];
    }
    p->tty = tty;
    p->pid = fork();
    if (p->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* the session ends: so does the command */
        signal(SIGPIPE, SIG_DFL);
        if (tty) {
            setsid();
            ioctl(slave, TIOCSCTTY, 0);
            dup2(slave, 0);
            dup2(slave, 1);
            dup2(slave, 2);
        } else {
            int nul = open("/dev/null", O_RDONLY);
            dup2(in ? pin[0] : nul, 0);
            dup2(pout[1], 1);
            dup2(perr[1], 2);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (tty) {
        close(slave);
    } else {
        if (in)
            close(pin[0]);
        close(pout[1]);
        close(perr[1]);
    }
}

/* Handles the session's pending events; false once the client is gone. */
static bool drain_events(conn_t *c, stream_session_t *s, proc_t *p, char **argv, bool in,
                         bool *ready, util_buf_t *out)
{
    stream_event_t ev;
    cleanup_error util_error_t err = NULL;
    int r;
    while ((r = stream_session_next(s, &ev, out, &err)) > 0) {
        if (ev.type == STREAM_EV_READY) { /* start before any stdin event is handled */
            *ready = true;
            if (argv)
                spawn(p, argv, in, p->tty);
        } else if (ev.type == STREAM_EV_DATA && p->in >= 0) {
            /* a blocking write: fine for these tests, a real kubelet must not block here */
            if (write(p->in, ev.data, ev.len) < 0 && errno == EPIPE)
                p->in = -1;
        } else if (ev.type == STREAM_EV_EOF && p->in >= 0) {
            if (p->tty)
                (void)!write(p->in, "\x04", 1);
            else {
                close(p->in);
                p->in = -1;
            }
        } else if (ev.type == STREAM_EV_RESIZE && p->tty) {
            struct winsize ws = {.ws_row = ev.height, .ws_col = ev.width};
            ioctl(p->out, TIOCSWINSZ, &ws);
        } else if (ev.type == STREAM_EV_CLOSED)
            return false;
    }
    send_buf(c, out);
    if (r < 0)
        fprintf(stderr, "fake_kubelet: stream error: %s\n", err->msg);
    return r == 0;
}

/* Feeds what the client sent, one read at a time, handling events in between (a session
 * buffers at most about one frame); false once the client is gone. */
static bool pump_client(conn_t *c, stream_session_t *s, proc_t *p, char **argv, bool in,
                        bool *ready, util_buf_t *out)
{
    char buf[16384];
    for (;;) {
        if (!drain_events(c, s, p, argv, in, ready, out))
            return false;
        int n = recv_some(c, buf, sizeof(buf));
        if (n <= 0)
            return n == 0;
        if (stream_session_feed(s, buf, (size_t)n) < 0)
            return false;
    }
}

/* Output of the process to its channel; false at its end. */
static bool pump_output(conn_t *c, stream_session_t *s, int *fd, int channel, util_buf_t *out)
{
    char buf[16384];
    ssize_t n = read(*fd, buf, sizeof(buf));
    if (n > 0) {
        stream_exec_write(s, channel, buf, (size_t)n, out);
        send_buf(c, out);
        return true;
    }
    if (n < 0 && errno == EINTR)
        return true;
    if (*fd != g.attach_out)
        close(*fd);
    *fd = -1; /* EOF, or EIO from a pty whose last holder exited */
    return false;
}

static void run_session(conn_t *c, stream_session_t *s, proc_t *p, char **argv, bool in)
{
    util_buf_t out = {0};
    bool started = false;
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    if (c->in.len && stream_session_feed(s, c->in.data, c->in.len) < 0)
        finish(c);
    for (;;) {
        if (!pump_client(c, s, p, argv, in, &started, &out)) {
            if (p->pid > 0)
                kill(p->pid, SIGKILL);
            finish(c);
        }
        if (started && p->out < 0 && p->err < 0)
            break;
        struct pollfd fds[3] = {{.fd = c->fd, .events = POLLIN},
                                {.fd = started ? p->out : -1, .events = POLLIN},
                                {.fd = started ? p->err : -1, .events = POLLIN}};
        if (mbedtls_ssl_get_bytes_avail(&c->ssl) == 0 && poll(fds, 3, -1) < 0 && errno != EINTR)
            break;
        if (fds[1].revents)
            pump_output(c, s, &p->out, STREAM_CH_STDOUT, &out);
        if (fds[2].revents)
            pump_output(c, s, &p->err, STREAM_CH_STDERR, &out);
    }
    int status = 0, code = 0;
    if (p->pid > 0 && waitpid(p->pid, &status, 0) == p->pid)
        code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    stream_exec_finish(s, code, NULL, &out);
    send_buf(c, &out);
    util_buf_free(&out);
    finish(c);
}

static void serve_exec(conn_t *c, bool attach)
{
    stream_exec_opts_t o = {.in = query_true(c->target, "input"),
                            .out = query_true(c->target, "output"),
                            .err = query_true(c->target, "error"),
                            .tty = query_true(c->target, "tty")};
    util_strv_t cmd = {0};
    query_all(c->target, "command", &cmd);
    if (!attach && cmd.n == 0)
        respond(c, 400, "Bad Request", "missing command\n");
    util_buf_t resp = {0};
    int status = 0;
    cleanup_error util_error_t err = NULL;
    stream_request_t req = stream_req(c);
    stream_session_t *s = stream_exec_accept(&req, &o, &resp, &status, &err);
    if (!s)
        respond(c, status, "Error", err->msg);
    send_buf(c, &resp);
    proc_t p = {.pid = -1, .in = -1, .out = -1, .err = -1, .tty = o.tty};
    if (attach) { /* the shared process is already running */
        p.in = o.in ? g.attach_in : -1;
        p.out = g.attach_out;
        p.tty = false;
        run_session(c, s, &p, NULL, o.in);
    }
    run_session(c, s, &p, cmd.v, o.in);
}

/* ---- port-forward --------------------------------------------------------------------------- */

#define MAX_FWD 64

typedef struct fwd {
    uint32_t pair;
    int fd;
} fwd_t;

static fwd_t *fwd_find(fwd_t *f, uint32_t pair)
{
    for (int i = 0; i < MAX_FWD; i++)
        if (f[i].fd >= 0 && f[i].pair == pair)
            return &f[i];
    return NULL;
}

static void fwd_open(conn_t *c, stream_session_t *s, fwd_t *f, const stream_event_t *ev,
                     util_buf_t *out)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(ev->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fwd_t *slot = NULL;
    for (int i = 0; i < MAX_FWD && !slot; i++)
        if (f[i].fd < 0)
            slot = &f[i];
    if (fd < 0 || !slot || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "an error occurred forwarding %u -> %u: error forwarding port %u to pod: "
                 "dial tcp4 127.0.0.1:%u: connect: %s",
                 ev->port, ev->port, ev->port, ev->port, strerror(errno));
        if (fd >= 0)
            close(fd);
        stream_portforward_error(s, ev->pair, msg, out);
        send_buf(c, out);
        return;
    }
    slot->fd = fd;
    slot->pair = ev->pair;
}

static void serve_portforward(conn_t *c)
{
    util_buf_t resp = {0}, out = {0};
    int status = 0;
    cleanup_error util_error_t err = NULL;
    stream_request_t req = stream_req(c);
    stream_session_t *s = stream_portforward_accept(&req, &resp, &status, &err);
    if (!s)
        respond(c, status, "Error", err->msg);
    send_buf(c, &resp);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    fwd_t f[MAX_FWD];
    for (int i = 0; i < MAX_FWD; i++)
        f[i].fd = -1;
    if (c->in.len && stream_session_feed(s, c->in.data, c->in.len) < 0)
        finish(c);
    char buf[16384];
    for (;;) {
        int n = 1, r = 0;
        stream_event_t ev;
        while (n > 0) { /* one read at a time, events handled in between */
            while ((r = stream_session_next(s, &ev, &out, &err)) > 0) {
                fwd_t *w = fwd_find(f, ev.pair);
                if (ev.type == STREAM_EV_READY)
                    fwd_open(c, s, f, &ev, &out);
                else if (ev.type == STREAM_EV_DATA && w)
                    (void)!write(w->fd, ev.data, ev.len);
                else if (ev.type == STREAM_EV_EOF && w)
                    shutdown(w->fd, SHUT_WR);
                else if (ev.type == STREAM_EV_RESET && w) {
                    close(w->fd);
                    w->fd = -1;
                } else if (ev.type == STREAM_EV_CLOSED)
                    finish(c);
            }
            send_buf(c, &out);
            if (r < 0) {
                fprintf(stderr, "fake_kubelet: port-forward: %s\n", err->msg);
                finish(c);
            }
            n = recv_some(c, buf, sizeof(buf));
            if (n < 0 || (n > 0 && stream_session_feed(s, buf, (size_t)n) < 0))
                finish(c);
        }
        struct pollfd fds[MAX_FWD + 1];
        fds[0] = (struct pollfd){.fd = c->fd, .events = POLLIN};
        for (int i = 0; i < MAX_FWD; i++)
            fds[i + 1] = (struct pollfd){.fd = f[i].fd, .events = POLLIN};
        if (mbedtls_ssl_get_bytes_avail(&c->ssl) == 0 && poll(fds, MAX_FWD + 1, -1) < 0 &&
            errno != EINTR)
            finish(c);
        for (int i = 0; i < MAX_FWD; i++) {
            if (f[i].fd < 0 || !fds[i + 1].revents)
                continue;
            ssize_t got = read(f[i].fd, buf, sizeof(buf));
            if (got > 0) {
                stream_portforward_write(s, f[i].pair, buf, (size_t)got, &out);
            } else {
                stream_portforward_close(s, f[i].pair, &out);
                close(f[i].fd);
                f[i].fd = -1;
            }
            send_buf(c, &out);
        }
    }
}

/* ---- logs ------------------------------------------------------------------------------------ */

static void send_chunk(conn_t *c, const char *data, size_t len)
{
    util_buf_t b = {0};
    util_buf_printf(&b, "%zx\r\n", len);
    util_buf_append(&b, data, len);
    util_buf_puts(&b, "\r\n");
    send_buf(c, &b);
    util_buf_free(&b);
}

/* The offset where the last n lines of the file start. */
static off_t tail_offset(int fd, long n)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || n < 0)
        return 0;
    char *all = util_xmalloc((size_t)st.st_size + 1);
    ssize_t got = pread(fd, all, (size_t)st.st_size, 0);
    off_t off = 0;
    long lines = 0;
    for (ssize_t i = got - 1; i >= 0; i--) {
        if (all[i] == '\n' && i != got - 1 && ++lines == n) {
            off = i + 1;
            break;
        }
    }
    if (n == 0)
        off = got > 0 ? got : 0;
    free(all);
    return off;
}

static void serve_summary(conn_t *c)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/summary.json", g.logs ? g.logs : ".");
    char *data = NULL;
    size_t len = 0;
    if (util_read_file(path, 1u << 20, &data, &len, NULL) < 0)
        respond(c, 404, "Not Found", "no summary\n");
    util_buf_t b = {0};
    util_buf_printf(&b,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                    "Connection: close\r\n\r\n",
                    len);
    util_buf_append(&b, data, len);
    send_buf(c, &b);
    util_buf_free(&b);
    free(data);
    finish(c);
}

static void serve_logs(conn_t *c, const char *ns, const char *pod, const char *container)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s_%s_%s.log", g.logs ? g.logs : ".", ns, pod, container);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        respond(c, 404, "Not Found", "no such container log\n");
    bool follow = query_true(c->target, "follow");
    util_strv_t tl = {0};
    query_all(c->target, "tailLines", &tl);
    if (tl.n)
        lseek(fd, tail_offset(fd, atol(tl.v[0])), SEEK_SET);
    util_strv_clear(&tl);
    const char *h = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                    "Connection: close\r\n\r\n";
    send_all(c, h, strlen(h));
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    char buf[16384];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            send_chunk(c, buf, (size_t)n);
            continue;
        }
        if (!follow)
            break;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, 200) > 0 && recv_some(c, buf, sizeof(buf)) < 0)
            exit(0); /* the client went away */
    }
    send_all(c, "0\r\n\r\n", 5);
    finish(c);
}

/* ---- connections ------------------------------------------------------------------------------
 */

static bool client_allowed(conn_t *c)
{
    const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&c->ssl);
    if (!peer || mbedtls_ssl_get_verify_result(&c->ssl) != 0)
        return false;
    for (const mbedtls_x509_name *n = &peer->subject; n; n = n->next)
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0)
            return n->val.len == 29 && !memcmp(n->val.p, "kube-apiserver-kubelet-client", 29);
    return false;
}

static void serve(int fd)
{
    conn_t c = {.fd = fd};
    mbedtls_ssl_init(&c.ssl);
    if (mbedtls_ssl_setup(&c.ssl, &g.conf) != 0)
        exit(1);
    mbedtls_ssl_set_bio(&c.ssl, &c.fd, bio_send, bio_recv, NULL);
    int rc;
    while ((rc = mbedtls_ssl_handshake(&c.ssl)) != 0) {
        if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE) {
            fprintf(stderr, "fake_kubelet: handshake failed: -0x%04x\n", (unsigned)-rc);
            exit(0);
        }
    }
    read_head(&c);
    if (!client_allowed(&c))
        respond(&c, 403, "Forbidden", "Forbidden (user=unknown)\n");
    char kind[32] = "", ns[256] = "", pod[256] = "", ctr[256] = "";
    char *path = util_xstrdup(c.target);
    char *q = strchr(path, '?');
    if (q)
        *q = '\0';
    sscanf(path, "/%31[^/]/%255[^/]/%255[^/]/%255[^/]", kind, ns, pod, ctr);
    fprintf(stderr, "fake_kubelet: %s %s\n", c.method, c.target);
    if (!strcmp(path, "/healthz"))
        respond(&c, 200, "OK", "ok");
    if (!strcmp(path, "/stats/summary"))
        serve_summary(&c);
    if (!strcmp(kind, "exec") && ctr[0])
        serve_exec(&c, false);
    if (!strcmp(kind, "attach") && ctr[0])
        serve_exec(&c, true);
    if (!strcmp(kind, "portForward") && pod[0])
        serve_portforward(&c);
    if (!strcmp(kind, "containerLogs") && ctr[0])
        serve_logs(&c, ns, pod, ctr);
    respond(&c, 404, "Not Found", "404 page not found\n");
}

/* The shared attach target: ticks, and echoes what it reads. */
static void start_attach_process(void)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
        die("pipe", errno);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the server */
        close(in[1]);
        close(out[0]);
        fcntl(out[1], F_SETFL, O_NONBLOCK); /* ticks nobody reads are dropped */
        char line[4096];
        size_t have = 0;
        for (unsigned tick = 0;; tick++) {
            struct pollfd p = {.fd = in[0], .events = POLLIN};
            if (poll(&p, 1, 500) > 0) {
                ssize_t n = read(in[0], line + have, sizeof(line) - 1 - have);
                if (n > 0)
                    have += (size_t)n;
                char *nl;
                while ((nl = memchr(line, '\n', have))) {
                    dprintf(out[1], "echo: %.*s\n", (int)(nl - line), line);
                    have -= (size_t)(nl + 1 - line);
                    memmove(line, nl + 1, have);
                }
                if (have == sizeof(line) - 1)
                    have = 0;
                continue;
            }
            dprintf(out[1], "tick %u\n", tick);
        }
    }
    close(in[0]);
    close(out[1]);
    g.attach_in = in[1];
    g.attach_out = out[0];
}

int main(int argc, char **argv)
{
    const char *ca_cert = NULL, *ca_key = NULL, *port_file = NULL;
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--ca-cert"))
            ca_cert = argv[i + 1];
        else if (!strcmp(argv[i], "--ca-key"))
            ca_key = argv[i + 1];
        else if (!strcmp(argv[i], "--port-file"))
            port_file = argv[i + 1];
        else if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--logs"))
            g.logs = argv[i + 1];
    }
    if (!ca_cert || !ca_key || !port_file) {
        fprintf(stderr, "usage: fake_kubelet --ca-cert F --ca-key F --port-file F [--port N] "
                        "[--logs DIR]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    psa_crypto_init();
    mbedtls_entropy_init(&g.entropy);
    mbedtls_ctr_drbg_init(&g.drbg);
    mbedtls_x509_crt_init(&g.ca);
    mbedtls_x509_crt_init(&g.chain);
    mbedtls_pk_init(&g.ca_key);
    mbedtls_pk_init(&g.key);
    mbedtls_ssl_config_init(&g.conf);
    if (mbedtls_ctr_drbg_seed(&g.drbg, mbedtls_entropy_func, &g.entropy, NULL, 0))
        die("seeding", 0);
    issue_serving_cert(ca_cert, ca_key);
    tls_setup();
    start_attach_process();
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 64) < 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) < 0)
        die("listen", errno);
    char pbuf[16];
    snprintf(pbuf, sizeof(pbuf), "%u\n", ntohs(sa.sin_port));
    cleanup_error util_error_t err = NULL;
    if (util_write_file_atomic(port_file, pbuf, strlen(pbuf), 0644, &err) < 0)
        die("writing the port file", 0);
    struct sigaction chld = {.sa_handler = SIG_DFL, .sa_flags = SA_NOCLDWAIT};
    sigaction(SIGCHLD, &chld, NULL);
    for (;;) {
        int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            struct sigaction dfl = {.sa_handler = SIG_DFL};
            sigaction(SIGCHLD, &dfl, NULL); /* exec sessions reap their own children */
            close(ls);
            serve(fd);
            exit(0);
        }
        close(fd);
    }
}
