/* kubelet_server: the kubelet API on :10250 (HTTPS, client certificates from the cluster CA;
 * only the apiserver's kubelet-client identity is served): the listener, one thread per
 * connection, TLS, the request head, authentication, routing, and the pod lookups the
 * handlers share. See docs/kubelet.md "The kubelet API". */
#include "kubelet_server_internal.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>

#define HEAD_MAX        (64 * 1024)
#define HEADERS_MAX     100
#define HEAD_TIMEOUT_MS 30000
#define CONNS_MAX       256
#define CONN_STACK      (1024 * 1024)
#define APISERVER_CN    "kube-apiserver-kubelet-client"
#define NAME_MAX_LEN    253

/* ---- transport ------------------------------------------------------------------------------ */

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    ssize_t n = send(*(int *)ctx, buf, len, MSG_NOSIGNAL);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? MBEDTLS_ERR_SSL_WANT_WRITE
                                                 : MBEDTLS_ERR_NET_SEND_FAILED;
    return (int)n;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    ssize_t n = recv(*(int *)ctx, buf, len, 0);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? MBEDTLS_ERR_SSL_WANT_READ
                                                 : MBEDTLS_ERR_NET_RECV_FAILED;
    return (int)n;
}

/* Waits for the socket (events) or the stop fd; false when stopping or on timeout. */
static bool wait_sock(kconn_t *c, short events, int timeout_ms)
{
    struct pollfd p[2] = {{.fd = c->fd, .events = events}, {.fd = c->s->stop_fd, .events = POLLIN}};
    int n;
    do {
        n = poll(p, 2, timeout_ms);
    } while (n < 0 && errno == EINTR);
    return n > 0 && !p[1].revents;
}

int kserver_send(kconn_t *c, const void *data, size_t len)
{
    const unsigned char *p = data;
    while (len > 0 && !c->gone) {
        int rc = mbedtls_ssl_write(&c->ssl, p, len);
        if (rc == MBEDTLS_ERR_SSL_WANT_WRITE || rc == MBEDTLS_ERR_SSL_WANT_READ) {
            if (!wait_sock(c, rc == MBEDTLS_ERR_SSL_WANT_WRITE ? POLLOUT : POLLIN, -1))
                c->gone = true;
            continue;
        }
        if (rc < 0) {
            c->gone = true;
            break;
        }
        p += rc;
        len -= (size_t)rc;
    }
    return c->gone ? -EPIPE : 0;
}

int kserver_send_buf(kconn_t *c, util_buf_t *b)
{
    int r = b->len ? kserver_send(c, b->data, b->len) : 0;
    util_buf_reset(b);
    return r;
}

int kserver_recv_some(kconn_t *c, void *buf, size_t len)
{
    if (c->gone)
        return -1;
    int rc = mbedtls_ssl_read(&c->ssl, buf, len);
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE ||
        rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
        return 0;
    if (rc <= 0)
        c->gone = true;
    return rc > 0 ? rc : -1;
}

int kserver_poll(kconn_t *c, struct pollfd *extra, size_t nextra, int timeout_ms)
{
    struct pollfd p[66];
    if (nextra > 64)
        nextra = 64;
    p[0] = (struct pollfd){.fd = c->fd, .events = POLLIN};
    p[1] = (struct pollfd){.fd = c->s->stop_fd, .events = POLLIN};
    for (size_t i = 0; i < nextra; i++)
        p[i + 2] = extra[i];
    if (mbedtls_ssl_get_bytes_avail(&c->ssl) > 0)
        timeout_ms = 0; /* decrypted input is waiting */
    int n;
    do {
        n = poll(p, (nfds_t)(nextra + 2), timeout_ms);
    } while (n < 0 && errno == EINTR);
    for (size_t i = 0; i < nextra; i++)
        extra[i].revents = n > 0 ? p[i + 2].revents : 0;
    if (p[1].revents) {
        c->gone = true;
        return -1;
    }
    return n;
}

void kserver_finish(kconn_t *c)
{
    if (!c->gone)
        mbedtls_ssl_close_notify(&c->ssl);
    shutdown(c->fd, SHUT_WR);
    c->gone = true;
}

static const char *reason_phrase(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return code >= 500 ? "Internal Server Error" : "Error";
    }
}

void kserver_respond(kconn_t *c, int code, const char *content_type, const char *body)
{
    util_buf_t b = {0};
    util_buf_printf(&b,
                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nX-Content-Type-Options: nosniff\r\n"
                    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                    code, reason_phrase(code), content_type, strlen(body), body);
    kserver_send_buf(c, &b);
    util_buf_free(&b);
    kserver_finish(c);
}

void kserver_status(kconn_t *c, int code, const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    util_buf_t b = {0};
    util_buf_puts(&b, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                      "\"status\":\"Failure\",\"message\":");
    util_buf_json_string(&b, msg, strlen(msg));
    util_buf_printf(&b, ",\"reason\":\"%s\",\"code\":%d}\n", reason, code);
    kserver_respond(c, code, "application/json", b.data);
    util_buf_free(&b);
}

/* ---- the request ---------------------------------------------------------------------------- */

const char *kserver_header(const kconn_t *c, const char *name)
{
    for (size_t i = 0; i < c->hname.n; i++)
        if (!strcasecmp(c->hname.v[i], name))
            return c->hvalue.v[i];
    return NULL;
}

static void add_header(kconn_t *c, const char *name, const char *value)
{
    for (size_t i = 0; i < c->hname.n; i++)
        if (!strcasecmp(c->hname.v[i], name)) { /* repeated: joined, as Go's Header.Get sees */
            char *j = util_strdup_printf("%s, %s", c->hvalue.v[i], value);
            free(c->hvalue.v[i]);
            c->hvalue.v[i] = j;
            return;
        }
    util_strv_push(&c->hname, name);
    util_strv_push(&c->hvalue, value);
}

static int unhex(char ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

static char *url_decode(const char *s, size_t n, bool plus_space)
{
    char *o = util_xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && unhex(s[i + 1]) >= 0 && unhex(s[i + 2]) >= 0) {
            o[j++] = (char)(unhex(s[i + 1]) * 16 + unhex(s[i + 2]));
            i += 2;
        } else {
            o[j++] = plus_space && s[i] == '+' ? ' ' : s[i];
        }
    }
    o[j] = '\0';
    return o;
}

void kserver_query_all(const kconn_t *c, const char *name, util_strv_t *out)
{
    const char *q = strchr(c->target, '?');
    size_t nl = strlen(name);
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        const char *e = strchr(p, '&');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len >= nl && !strncmp(p, name, nl) && (len == nl || p[nl] == '=')) {
            char *v = len == nl ? util_xstrdup("") : url_decode(p + nl + 1, len - nl - 1, true);
            util_strv_push(out, v);
            free(v);
        }
        p = e ? e + 1 : NULL;
    }
}

char *kserver_query(const kconn_t *c, const char *name)
{
    util_strv_t v = {0};
    kserver_query_all(c, name, &v);
    char *r = v.n ? util_xstrdup(v.v[0]) : NULL;
    util_strv_clear(&v);
    return r;
}

bool kserver_query_true(const kconn_t *c, const char *name)
{
    cleanup_free char *v = kserver_query(c, name);
    bool on = false;
    return v && util_parse_bool(v, &on) == 0 && on;
}

stream_request_t kserver_stream_request(const kconn_t *c)
{
    return (stream_request_t){.method = c->method,
                              .upgrade = kserver_header(c, "upgrade"),
                              .connection = kserver_header(c, "connection"),
                              .ws_key = kserver_header(c, "sec-websocket-key"),
                              .ws_version = kserver_header(c, "sec-websocket-version"),
                              .ws_protocol = kserver_header(c, "sec-websocket-protocol"),
                              .stream_protocol = kserver_header(c, "x-stream-protocol-version")};
}

/* Splits the head into method, target and headers; false when malformed. */
static bool parse_head(kconn_t *c, char *head)
{
    char *save = NULL, *line = strtok_r(head, "\r\n", &save);
    char *sp1 = line ? strchr(line, ' ') : NULL;
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp2 || (size_t)(sp1 - line) >= sizeof(c->method) || sp2 == sp1 + 1 ||
        strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
        return false;
    memcpy(c->method, line, (size_t)(sp1 - line));
    c->method[sp1 - line] = '\0';
    c->target = util_strdup_printf("%.*s", (int)(sp2 - sp1 - 1), sp1 + 1);
    if (c->target[0] != '/')
        return false;
    const char *q = strchr(c->target, '?');
    c->path = url_decode(c->target, q ? (size_t)(q - c->target) : strlen(c->target), false);
    while ((line = strtok_r(NULL, "\r\n", &save))) {
        char *colon = strchr(line, ':');
        if (!colon || colon == line || c->hname.n >= HEADERS_MAX)
            return false;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            v[--vl] = '\0';
        add_header(c, line, v);
    }
    return true;
}

/* Reads up to the end of the head; 0, or an HTTP code to answer (-1: the peer left). */
static int read_head(kconn_t *c)
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
            c->in.data[c->in.len] = '\0';
            bool ok = parse_head(c, head);
            free(head);
            return ok ? 0 : 400;
        }
        if (c->in.len > HEAD_MAX)
            return 431;
        int n = kserver_recv_some(c, buf, sizeof(buf));
        if (n < 0)
            return -1;
        if (n == 0 && mbedtls_ssl_get_bytes_avail(&c->ssl) == 0 &&
            !wait_sock(c, POLLIN, HEAD_TIMEOUT_MS))
            return -1;
        if (n > 0) {
            if (memchr(buf, '\0', (size_t)n))
                return 400;
            util_buf_append(&c->in, buf, (size_t)n);
        }
    }
}

/* ---- authentication ---------------------------------------------------------------------------
 * Upstream's kubelet authenticates client certificates against --client-ca-file and asks the
 * apiserver (SubjectAccessReview) whether the user may use nodes/proxy, nodes/log, nodes/stats.
 * Until RBAC exists here, only the apiserver's own kubelet-client identity is authorized. */

/* 0 when allowed; else the code (401 unauthenticated, 403 not authorized), user filled. */
static int authenticate(kconn_t *c, char *user, size_t n)
{
    const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&c->ssl);
    util_snprintf(user, n, "system:anonymous");
    if (!peer || mbedtls_ssl_get_verify_result(&c->ssl) != 0)
        return 401;
    for (const mbedtls_x509_name *nm = &peer->subject; nm; nm = nm->next)
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &nm->oid) == 0) {
            util_snprintf(user, n, "%.*s", (int)nm->val.len, nm->val.p);
            return strcmp(user, APISERVER_CN) == 0 ? 0 : 403;
        }
    return 403;
}

/* ---- routing -------------------------------------------------------------------------------- */

/* Names in paths are DNS labels/subdomains: nothing that could walk a directory. */
static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_LEN || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '.'))
            return false;
    return true;
}

/* Splits /a/b/c/d into at most 4 segments; the count, or -1 when there are more. */
static int split_path(const char *path, char seg[4][NAME_MAX_LEN + 2])
{
    int n = 0;
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (n == 4 || len > NAME_MAX_LEN)
            return -1;
        memcpy(seg[n], p, len);
        seg[n++][len] = '\0';
        p += len;
    }
    return n;
}

static const char *subresource(const char *kind)
{
    return !strcmp(kind, "containerLogs") ? "log" : !strcmp(kind, "stats") ? "stats" : "proxy";
}

static void route(kconn_t *c)
{
    char seg[4][NAME_MAX_LEN + 2];
    int n = split_path(c->path, seg);
    bool get = !strcmp(c->method, "GET"), post = !strcmp(c->method, "POST");
    if (n == 1 && !strcmp(seg[0], "healthz"))
        return kserver_respond(c, 200, "text/plain; charset=utf-8", "ok");
    if (n == 2 && !strcmp(seg[0], "stats") && !strcmp(seg[1], "summary") && get)
        return kubelet__serve_stats(c);
    for (int i = 1; i < n; i++)
        if (!name_ok(seg[i]))
            return kserver_respond(c, 400, "text/plain", "invalid name in path\n");
    if (n == 4 && !strcmp(seg[0], "containerLogs") && get)
        return kubelet__serve_logs(c, seg[1], seg[2], seg[3]);
    if (n == 4 && (get || post) && (!strcmp(seg[0], "exec") || !strcmp(seg[0], "attach")))
        return kubelet__serve_exec(c, seg[1], seg[2], seg[3], seg[0][0] == 'a');
    if (n == 3 && (get || post) && !strcmp(seg[0], "portForward"))
        return kubelet__serve_portforward(c, seg[1], seg[2]);
    kserver_respond(c, 404, "text/plain; charset=utf-8", "404 page not found\n");
}

/* ---- connections ----------------------------------------------------------------------------- */

static int tls_setup(kconn_t *c)
{
    kserver_t *s = c->s;
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_x509_crt_init(&c->chain);
    mbedtls_pk_init(&c->key);
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_ssl_init(&c->ssl);
    int rc;
    if ((rc = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy, NULL, 0)) ||
        (rc = mbedtls_x509_crt_parse(&c->ca, (const unsigned char *)s->ca_pem,
                                     strlen(s->ca_pem) + 1)) ||
        (rc = mbedtls_x509_crt_parse(&c->chain, (const unsigned char *)s->cert_pem,
                                     strlen(s->cert_pem) + 1)) ||
        (rc = mbedtls_pk_parse_key(&c->key, (const unsigned char *)s->key_pem,
                                   strlen(s->key_pem) + 1, NULL, 0, mbedtls_ctr_drbg_random,
                                   &c->drbg)) ||
        (rc =
             mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_SERVER,
                                         MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT)))
        return rc;
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    /* TLS 1.2: 1.3 runs through PSA, whose key store is process-wide and not thread-safe in
     * our mbedTLS build (MBEDTLS_THREADING_C is off); 1.2 keeps every context here private. */
    mbedtls_ssl_conf_max_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_min_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
    if ((rc = mbedtls_ssl_conf_own_cert(&c->conf, &c->chain, &c->key)) ||
        (rc = mbedtls_ssl_setup(&c->ssl, &c->conf)))
        return rc;
    mbedtls_ssl_set_bio(&c->ssl, &c->fd, bio_send, bio_recv, NULL);
    return 0;
}

static bool handshake(kconn_t *c)
{
    int rc;
    while ((rc = mbedtls_ssl_handshake(&c->ssl)) != 0) {
        if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE) {
            util_log_v(2, "kubelet api: TLS handshake failed: -0x%04x", (unsigned)-rc);
            return false;
        }
        if (!wait_sock(c, rc == MBEDTLS_ERR_SSL_WANT_READ ? POLLIN : POLLOUT, HEAD_TIMEOUT_MS))
            return false;
    }
    return true;
}

static void serve(kconn_t *c)
{
    if (tls_setup(c) != 0 || !handshake(c))
        return;
    int code = read_head(c);
    if (code < 0)
        return;
    if (code > 0)
        return kserver_respond(c, code, "text/plain", "bad request\n");
    char user[256], seg[4][NAME_MAX_LEN + 2] = {{0}};
    code = authenticate(c, user, sizeof(user));
    util_log_v(2, "kubelet api: %s %s (%s)", c->method, c->target, user);
    if (code == 401)
        return kserver_respond(c, 401, "text/plain; charset=utf-8", "Unauthorized");
    if (code == 403) {
        split_path(c->path, seg);
        char body[600];
        util_snprintf(body, sizeof(body),
                      "Forbidden (user=%s, verb=%s, resource=nodes, subresource=%s)", user,
                      strcmp(c->method, "GET") ? "create" : "get", subresource(seg[0]));
        return kserver_respond(c, 403, "text/plain; charset=utf-8", body);
    }
    route(c);
}

static void conn_free(kconn_t *c)
{
    mbedtls_ssl_free(&c->ssl);
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_pk_free(&c->key);
    mbedtls_x509_crt_free(&c->chain);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
    util_buf_free(&c->in);
    util_strv_clear(&c->hname);
    util_strv_clear(&c->hvalue);
    free(c->target);
    free(c->path);
    close(c->fd);
    free(c);
}

static void *conn_main(void *arg)
{
    kconn_t *c = arg;
    kserver_t *s = c->s;
    serve(c);
    conn_free(c);
    pthread_mutex_lock(&s->mu);
    s->conns--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void accept_one(kserver_t *s)
{
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    pthread_mutex_lock(&s->mu);
    bool full = s->conns >= CONNS_MAX;
    if (!full)
        s->conns++;
    pthread_mutex_unlock(&s->mu);
    if (full) {
        close(fd);
        return;
    }
    kconn_t *c = util_xcalloc(1, sizeof(*c));
    c->s = s;
    c->fd = fd;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, CONN_STACK); /* not 8 MiB of address space each */
    pthread_t t;
    if (pthread_create(&t, &attr, conn_main, c) != 0) { /* dropped, like a full server */
        free(c);
        close(fd);
        pthread_mutex_lock(&s->mu);
        s->conns--;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_attr_destroy(&attr);
}

static void *listener_main(void *arg)
{
    kserver_t *s = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = s->listen_fd, .events = POLLIN},
                              {.fd = s->stop_fd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (p[0].revents)
            accept_one(s);
    }
    return NULL;
}

/* ---- start and stop ------------------------------------------------------------------------- */

static int listen_on(kserver_t *s, const char *addr, int port, util_error_t *err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return util_error_make(err, EINVAL, "kubelet api: bad bind address %s", addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    socklen_t sl = sizeof(sa);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return util_error_make(err, e, "kubelet api: listen on %s:%d", addr, port);
    }
    s->listen_fd = fd;
    s->port = ntohs(sa.sin_port);
    return 0;
}

static kserver_t *server_free(kserver_t *s)
{
    if (!s)
        return NULL;
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->stop_fd >= 0)
        close(s->stop_fd);
    runtime_close(s->rt);
    free(s->cert_pem);
    if (s->key_pem) {
        explicit_bzero(s->key_pem, strlen(s->key_pem));
        free(s->key_pem);
    }
    free(s->ca_pem);
    free(s->node_name);
    free(s->storage_dir);
    free(s->logs_dir);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
    return NULL;
}

static int load_pems(kserver_t *s, const kubelet_opts_t *o, util_error_t *err)
{
    if (!o->serving_key || !o->client_ca)
        return util_error_make(err, EINVAL, "kubelet api: a serving key and client CA are needed");
    int r = util_read_file(o->serving_cert, 1 << 20, &s->cert_pem, NULL, err);
    if (r == 0)
        r = util_read_file(o->serving_key, 1 << 20, &s->key_pem, NULL, err);
    if (r == 0)
        r = util_read_file(o->client_ca, 1 << 20, &s->ca_pem, NULL, err);
    return r;
}

int kubelet__server_start(kubelet_t *k, const kubelet_opts_t *o, util_error_t *err)
{
    kserver_t *s = util_xcalloc(1, sizeof(*s));
    s->listen_fd = s->stop_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->node_name = util_xstrdup(k->name);
    s->storage_dir = util_xstrdup(k->storage_dir);
    s->logs_dir = util_strdup_printf("%s/agent/logs/pods", k->storage_dir);
    s->log_max_files = k->log_max_files;
    s->log_max_size = k->log_max_size;
    runtime_config_t rc = {.state_dir = k->runtime_dir, .cgroup_root = k->cgroup_root};
    int port = o->port == KUBELET_PORT_ANY ? 0 : o->port ? o->port : KUBELET_PORT;
    int r = load_pems(s, o, err);
    if (r == 0)
        r = runtime_open(&rc, &s->rt, err);
    if (r == 0 && (s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        r = util_error_make(err, errno, "eventfd");
    if (r == 0)
        r = listen_on(s, o->bind_address ? o->bind_address : "0.0.0.0", port, err);
    if (r == 0 && (r = -pthread_create(&s->listener, NULL, listener_main, s)) < 0)
        util_error_make(err, -r, "kubelet api: thread");
    if (r == -EADDRINUSE) { /* another kubelet here: the node runs, without its API */
        char buf[300];
        util_log_error("kubelet: the kubelet API is not served: %s",
                       util_error_text(err ? *err : NULL, buf, sizeof(buf)));
        util_error_free(err);
        server_free(s);
        return 0;
    }
    if (r < 0) {
        server_free(s);
        return r;
    }
    k->server = s;
    k->api_port = s->port;
    util_log_info("kubelet: serving the kubelet API on %s:%d",
                  o->bind_address ? o->bind_address : "0.0.0.0", s->port);
    return 0;
}

void kubelet__server_stop(kubelet_t *k)
{
    kserver_t *s = k->server;
    if (!s)
        return;
    k->server = NULL;
    uint64_t one = 1;
    if (write(s->stop_fd, &one, sizeof(one)) != sizeof(one))
        util_log_warn("kubelet api: cannot signal the stop");
    pthread_join(s->listener, NULL);
    pthread_mutex_lock(&s->mu); /* sessions see the stop fd and end (their processes killed) */
    while (s->conns > 0)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    server_free(s);
}

/* ---- lookups -------------------------------------------------------------------------------- */

static bool sandbox_exists(kserver_t *s, const char *uid)
{
    char path[PATH_MAX];
    struct stat st;
    return runtime_sandbox_netns_path(s->rt, uid, path, sizeof(path)) == 0 ||
           (util_snprintf(path, sizeof(path), "%s/agent/pods/%s", s->storage_dir, uid) == 0 &&
            stat(path, &st) == 0);
}

int kserver_pod_uid(kserver_t *s, const char *ns, const char *name, char *uid, size_t n)
{
    cleanup_dir DIR *d = opendir(s->logs_dir);
    if (!d)
        return -ENOENT;
    char prefix[600], best[300] = "";
    util_snprintf(prefix, sizeof(prefix), "%s_%s_", ns, name);
    time_t best_mtime = 0;
    bool best_live = false;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!util_str_has_prefix(e->d_name, prefix) || strlen(e->d_name + strlen(prefix)) >= 200)
            continue;
        const char *u = e->d_name + strlen(prefix);
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            continue;
        bool live = sandbox_exists(s, u);
        if (!best[0] || (live && !best_live) || (live == best_live && st.st_mtime > best_mtime)) {
            util_snprintf(best, sizeof(best), "%s", u);
            best_mtime = st.st_mtime;
            best_live = live;
        }
    }
    if (!best[0])
        return -ENOENT;
    return util_snprintf(uid, n, "%s", best);
}

int kserver_container_id(kserver_t *s, const char *uid, const char *name, int back, char *id,
                         size_t n, int *ret_attempt)
{
    util_strv_t ids = {0};
    cleanup_error util_error_t err = NULL;
    if (runtime_container_list(s->rt, &ids, &err) < 0)
        return -ENOENT;
    char prefix[600];
    util_snprintf(prefix, sizeof(prefix), "%s_%s_", uid, name);
    long att[2] = {-1, -1}; /* the newest two attempts */
    for (size_t i = 0; i < ids.n; i++) {
        long a;
        if (!util_str_has_prefix(ids.v[i], prefix) ||
            util_parse_long(ids.v[i] + strlen(prefix), 0, 1000000, &a) < 0)
            continue;
        if (a > att[0]) {
            att[1] = att[0];
            att[0] = a;
        } else if (a > att[1]) {
            att[1] = a;
        }
    }
    util_strv_clear(&ids);
    long a = att[back ? 1 : 0];
    if (a < 0)
        return -ENOENT;
    if (ret_attempt)
        *ret_attempt = (int)a;
    return util_snprintf(id, n, "%s%ld", prefix, a);
}
