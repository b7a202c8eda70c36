/* client_conn: one connection to the API server: TCP (libuv), TLS (mbedTLS over memory BIOs),
 * HTTP/1.1 responses (llhttp), keep-alive reuse, timeouts, the request queue. */
#include "client_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/error.h>

#define READ_CHUNK         16384
#define CONNECT_TIMEOUT_MS (10 * 1000)
#define MAX_WRITE_QUEUE    (16u << 20)

static void conn_drive(client_conn_t *cn);
static void conn_start_request(client_conn_t *cn);

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void conn_free(client_conn_t *cn)
{
    client_t *c = cn->cl;
    mbedtls_ssl_free(&cn->ssl);
    util_buf_free(&cn->in);
    free(cn);
    client__release(c);
}

static void conn_handle_closed(uv_handle_t *h)
{
    client_conn_t *cn = h->data;
    if (--cn->handles == 0)
        conn_free(cn);
}

static void unlink_conn(client_conn_t *cn)
{
    client_t *c = cn->cl;
    if (cn->prev)
        cn->prev->next = cn->next;
    else
        c->conns = cn->next;
    if (cn->next)
        cn->next->prev = cn->prev;
    cn->prev = cn->next = NULL;
    if (!cn->for_watch)
        c->nreq_conns--;
}

/* A request slot freed up: start the next queued request. */
static void queue_kick(client_t *c)
{
    while (c->queue && !c->closing && c->nreq_conns < c->max_conns) {
        client_req_t *r = c->queue;
        c->queue = r->next;
        if (!c->queue)
            c->queue_tail = NULL;
        r->next = NULL;
        client__submit(c, r);
    }
}

/* Closes the connection; its request (if any) is retried once when the connection was reused
 * and nothing of the answer came (the server closed an idle keep-alive connection), otherwise
 * finished with error. */
void client__conn_close(client_conn_t *cn, int error)
{
    if (cn->closing)
        return;
    cn->closing = true;
    client_t *c = cn->cl;
    unlink_conn(cn);
    client_req_t *r = cn->req;
    cn->req = NULL;
    uv_close((uv_handle_t *)&cn->timer, conn_handle_closed);
    uv_close((uv_handle_t *)&cn->tcp, conn_handle_closed);
    if (cn->handles > 2)
        uv_cancel((uv_req_t *)&cn->gai);
    if (r) {
        r->conn = NULL;
        if (cn->detail[0])
            snprintf(r->detail, sizeof(r->detail), "%s", cn->detail);
        if (!r->cancelled && !r->got_bytes && cn->served > 0 && !r->retried && !c->closing) {
            r->retried = true;
            client__submit(c, r);
        } else {
            client__req_finish(r, error ? error : -ECONNRESET);
        }
    }
    queue_kick(c);
}

static void on_timeout(uv_timer_t *t)
{
    client__conn_close(t->data, -ETIMEDOUT);
}

/* ---- TLS over libuv ------------------------------------------------------------------------- */

typedef struct write_req {
    uv_write_t req;
    char data[];
} write_req_t;

static void on_written(uv_write_t *w, int status)
{
    client_conn_t *cn = w->data;
    free(w);
    if (status < 0 && status != UV_ECANCELED)
        client__conn_close(cn, status);
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    client_conn_t *cn = ctx;
    if (cn->closing)
        return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&cn->tcp) > MAX_WRITE_QUEUE) {
        client__conn_close(cn, -ENOBUFS);
        return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    }
    write_req_t *w = util_xmalloc(sizeof(*w) + len);
    memcpy(w->data, buf, len);
    w->req.data = cn;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&cn->tcp, &b, 1, on_written);
    if (rc < 0) {
        free(w);
        client__conn_close(cn, rc);
        return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    }
    return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    client_conn_t *cn = ctx;
    size_t avail = cn->in.len - cn->in_off;
    if (avail == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    size_t n = avail < len ? avail : len;
    memcpy(buf, cn->in.data + cn->in_off, n);
    cn->in_off += n;
    if (cn->in_off == cn->in.len)
        cn->in.len = cn->in_off = 0;
    return (int)n;
}

static void tls_write_all(client_conn_t *cn, const char *data, size_t len)
{
    if (cn->inproc) { /* plain: straight to the socket */
        if (len > 0 && !cn->closing)
            bio_send(cn, (const unsigned char *)data, len);
        return;
    }
    while (len > 0 && !cn->closing) {
        int rc = mbedtls_ssl_write(&cn->ssl, (const unsigned char *)data, len);
        if (rc < 0) {
            client__conn_close(cn, -EPROTO);
            return;
        }
        data += rc;
        len -= (size_t)rc;
    }
}

/* ---- HTTP responses ------------------------------------------------------------------------- */

static int on_headers_complete(llhttp_t *p)
{
    client_conn_t *cn = p->data;
    client_req_t *r = cn->req;
    r->status = p->status_code;
    if (r->watch && r->status == 200)
        uv_timer_stop(&cn->timer); /* a watch may stay quiet for as long as nothing changes */
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    client_conn_t *cn = p->data;
    client_req_t *r = cn->req;
    util_buf_t *b = r->watch && r->status == 200 ? &r->raw : &r->resp;
    if (b->len + len > cn->cl->max_response)
        return HPE_USER;
    util_buf_append(b, at, len);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    client_conn_t *cn = p->data;
    cn->message_done = true;
    return HPE_PAUSED;
}

/* ---- watch lines ---------------------------------------------------------------------------- */

static void on_watch_line(void *ud, const char *line, size_t len)
{
    client_req_t *r = ud;
    if (r->cancelled || r->finished)
        return;
    cJSON *ev = cJSON_ParseWithLength(line, len);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "type"));
    cJSON *obj = cJSON_DetachItemFromObjectCaseSensitive(ev, "object");
    if (type && cJSON_IsObject(obj))
        r->on_event(r->ud, type, &obj);
    cJSON_Delete(obj);
    cJSON_Delete(ev);
}

/* Delivers the complete lines received so far; false when the stream must be dropped. */
static bool deliver_lines(client_req_t *r)
{
    if (!r->raw.len)
        return true;
    r->refs++;
    int rc = client_split_lines(&r->lines, r->raw.data, r->raw.len, r->cl->max_response,
                                on_watch_line, r);
    util_buf_reset(&r->raw);
    client__req_unref(r);
    return rc == 0;
}

/* ---- the engine ----------------------------------------------------------------------------- */

/* The answer is complete: the connection goes back to the pool (or closes), then the caller
 * hears about it. */
static void response_done(client_conn_t *cn)
{
    client_req_t *r = cn->req;
    bool keep = llhttp_should_keep_alive(&cn->parser) && !cn->for_watch && !cn->cl->closing;
    cn->req = NULL;
    r->conn = NULL;
    cn->served++;
    uv_timer_stop(&cn->timer);
    if (!keep) {
        client__conn_close(cn, 0);
    } else if (cn->cl->queue) {
        client_req_t *next = cn->cl->queue;
        cn->cl->queue = next->next;
        if (!cn->cl->queue)
            cn->cl->queue_tail = NULL;
        next->next = NULL;
        cn->req = next;
        next->conn = cn;
        conn_start_request(cn);
    }
    client__req_finish(r, 0);
}

/* Parses plaintext of the current answer. */
static void conn_feed(client_conn_t *cn, const char *data, size_t len)
{
    client_req_t *r = cn->req;
    if (!r) { /* bytes nobody asked for */
        client__conn_close(cn, -EPROTO);
        return;
    }
    r->got_bytes = true;
    llhttp_errno_t e = llhttp_execute(&cn->parser, data, len);
    if (e != HPE_OK && e != HPE_PAUSED) {
        client__conn_close(cn, e == HPE_USER ? -EMSGSIZE : -EPROTO);
        return;
    }
    if (r->watch && !deliver_lines(r)) {
        client__conn_close(cn, -EMSGSIZE);
        return;
    }
    if (cn->closing || cn->req != r)
        return;
    if (cn->message_done)
        response_done(cn);
}

static void conn_eof(client_conn_t *cn)
{
    /* An answer delimited by the end of the connection completes here. */
    if (cn->req && cn->req->got_bytes && llhttp_finish(&cn->parser) == HPE_OK && cn->message_done) {
        response_done(cn);
        if (!cn->closing)
            client__conn_close(cn, 0);
        return;
    }
    client__conn_close(cn, -ECONNRESET);
}

/* Names the reason: an untrusted or mismatched server certificate, or the TLS error. */
static void handshake_failed(client_conn_t *cn, int rc)
{
    uint32_t flags = mbedtls_ssl_get_verify_result(&cn->ssl);
    char info[160] = "";
    if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags && flags != (uint32_t)-1) {
        mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
        info[strcspn(info, "\n")] = '\0';
        snprintf(cn->detail, sizeof(cn->detail), "TLS: server certificate rejected: %s", info);
    } else {
        mbedtls_strerror(rc, info, sizeof(info));
        snprintf(cn->detail, sizeof(cn->detail), "TLS handshake failed: %s", info);
    }
    client__conn_close(cn, -EPROTO);
}

static void conn_drive(client_conn_t *cn)
{
    if (cn->inproc) { /* what was read is the plaintext; one answer at a time is in flight */
        size_t len = cn->in.len;
        cn->in.len = cn->in_off = 0;
        if (len > 0 && !cn->closing)
            conn_feed(cn, cn->in.data, len);
        return;
    }
    if (!cn->handshake_done) {
        int rc = mbedtls_ssl_handshake(&cn->ssl);
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
            return;
        if (rc != 0) {
            handshake_failed(cn, rc);
            return;
        }
        cn->handshake_done = true;
        if (cn->req)
            conn_start_request(cn);
    }
    unsigned char buf[READ_CHUNK];
    while (!cn->closing) {
        int rc = mbedtls_ssl_read(&cn->ssl, buf, sizeof(buf));
        if (rc > 0) {
            conn_feed(cn, (const char *)buf, (size_t)rc);
            continue;
        }
        if (rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
            continue;
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
            return;
        if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
            conn_eof(cn);
        else
            client__conn_close(cn, -EPROTO);
        return;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    client_conn_t *cn = h->data;
    (void)suggested;
    util_buf_reserve(&cn->in, READ_CHUNK);
    buf->base = cn->in.data + cn->in.len;
    buf->len = READ_CHUNK;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    client_conn_t *cn = s->data;
    (void)buf;
    if (n == UV_EOF) {
        conn_drive(cn); /* what mbedTLS still holds, then the end */
        if (!cn->closing)
            conn_eof(cn);
        return;
    }
    if (n < 0) {
        client__conn_close(cn, (int)n);
        return;
    }
    cn->in.len += (size_t)n;
    conn_drive(cn);
}

/* Writes the request head and body. */
static void conn_start_request(client_conn_t *cn)
{
    client_req_t *r = cn->req;
    client_t *c = cn->cl;
    llhttp_init(&cn->parser, HTTP_RESPONSE, &cn->settings);
    cn->parser.data = cn;
    cn->message_done = false;
    util_buf_t b = {0};
    util_buf_printf(&b,
                    "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: application/json\r\n",
                    r->method, r->path, c->host_header, c->user_agent);
    if (c->cfg.token)
        util_buf_printf(&b, "Authorization: Bearer %s\r\n", c->cfg.token);
    if (r->body)
        util_buf_printf(&b, "Content-Type: %s\r\nContent-Length: %zu\r\n", r->content_type,
                        r->body_len);
    util_buf_puts(&b, "\r\n");
    if (r->body)
        util_buf_append(&b, r->body, r->body_len);
    uv_timer_start(&cn->timer, on_timeout, c->timeout_ms, 0);
    tls_write_all(cn, b.data, b.len);
    util_buf_free(&b);
}

static void on_connect(uv_connect_t *req, int status)
{
    client_conn_t *cn = req->data;
    if (cn->closing)
        return;
    if (status < 0) {
        client__conn_close(cn, status);
        return;
    }
    uv_tcp_nodelay(&cn->tcp, 1);
    uv_tcp_keepalive(&cn->tcp, 1, 30); /* a dead peer of a quiet watch is noticed by the kernel */
    uv_read_start((uv_stream_t *)&cn->tcp, on_alloc, on_read);
    conn_drive(cn);
}

static void connect_to(client_conn_t *cn, const struct sockaddr *addr)
{
    cn->connect.data = cn;
    int rc = uv_tcp_connect(&cn->connect, &cn->tcp, addr, on_connect);
    if (rc < 0)
        client__conn_close(cn, rc);
}

static void on_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
    client_conn_t *cn = gai->data;
    cn->handles--;
    if (cn->closing) {
        uv_freeaddrinfo(res);
        if (cn->handles == 0)
            conn_free(cn);
        return;
    }
    if (status < 0 || !res)
        client__conn_close(cn, status < 0 ? status : -EHOSTUNREACH);
    else
        connect_to(cn, res->ai_addr);
    uv_freeaddrinfo(res);
}

static void conn_resolve(client_conn_t *cn)
{
    client_t *c = cn->cl;
    struct sockaddr_storage addr;
    if (uv_ip4_addr(c->cfg.host, c->cfg.port, (struct sockaddr_in *)&addr) == 0 ||
        uv_ip6_addr(c->cfg.host, c->cfg.port, (struct sockaddr_in6 *)&addr) == 0) {
        connect_to(cn, (struct sockaddr *)&addr);
        return;
    }
    char port[8];
    snprintf(port, sizeof(port), "%d", c->cfg.port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    cn->gai.data = cn;
    cn->handles++;
    int rc = uv_getaddrinfo(c->loop, &cn->gai, on_resolved, c->cfg.host, port, &hints);
    if (rc < 0) {
        cn->handles--;
        client__conn_close(cn, rc);
    }
}

/* The caller's transport (client_config_t.connect): a connected socket carrying plain HTTP, so
 * the request goes out at once. */
static void conn_open_inproc(client_conn_t *cn)
{
    client_t *c = cn->cl;
    cn->inproc = true;
    uv_pipe_init(c->loop, &cn->pipe, 0);
    cn->pipe.data = cn->timer.data = cn;
    int fd = -1;
    int rc = c->cfg.connect(c->cfg.connect_ud, &fd);
    if (rc == 0 && (rc = uv_pipe_open(&cn->pipe, fd)) < 0)
        close(fd);
    if (rc < 0) {
        client__conn_close(cn, rc);
        return;
    }
    cn->handshake_done = true; /* nothing to negotiate: reusable as soon as it is idle */
    uv_read_start((uv_stream_t *)&cn->pipe, on_alloc, on_read);
    if (cn->req)
        conn_start_request(cn);
}

/* A new connection carrying r. */
static void conn_open(client_t *c, client_req_t *r)
{
    client_conn_t *cn = util_xcalloc(1, sizeof(*cn));
    cn->cl = c;
    cn->for_watch = r->watch;
    cn->req = r;
    r->conn = cn;
    c->alive++;
    if (!cn->for_watch)
        c->nreq_conns++;
    cn->next = c->conns;
    if (c->conns)
        c->conns->prev = cn;
    c->conns = cn;
    uv_timer_init(c->loop, &cn->timer);
    cn->handles = 2;
    mbedtls_ssl_init(&cn->ssl);
    llhttp_settings_init(&cn->settings);
    cn->settings.on_headers_complete = on_headers_complete;
    cn->settings.on_body = on_body;
    cn->settings.on_message_complete = on_message_complete;
    if (c->cfg.connect) {
        conn_open_inproc(cn);
        return;
    }
    uv_tcp_init(c->loop, &cn->tcp);
    cn->tcp.data = cn->timer.data = cn;
    if (mbedtls_ssl_setup(&cn->ssl, &c->tls) != 0 ||
        mbedtls_ssl_set_hostname(&cn->ssl, c->cfg.host) != 0) {
        client__conn_close(cn, -ENOMEM);
        return;
    }
    mbedtls_ssl_set_bio(&cn->ssl, cn, bio_send, bio_recv, NULL);
    uv_timer_start(&cn->timer, on_timeout, CONNECT_TIMEOUT_MS, 0);
    conn_resolve(cn);
}

void client__submit(client_t *c, client_req_t *r)
{
    if (r->watch) {
        conn_open(c, r);
        return;
    }
    for (client_conn_t *cn = c->conns; cn; cn = cn->next) {
        if (!cn->for_watch && !cn->req && cn->handshake_done && !cn->closing) {
            cn->req = r;
            r->conn = cn;
            conn_start_request(cn);
            return;
        }
    }
    if (c->nreq_conns < c->max_conns) {
        conn_open(c, r);
        return;
    }
    if (c->queue_tail)
        c->queue_tail->next = r;
    else
        c->queue = r;
    c->queue_tail = r;
}
