/* apiserver_conn: one client connection: TLS over libuv (memory BIO), HTTP/1.1 with llhttp,
 * keep-alive, limits and timeouts. */
#include "apiserver_gzip.h"
#include "apiserver_internal.h"
#include "apiserver_metrics.h"
#include "apiserver_tlsfront.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK         16384
#define MAX_HEADERS        256
#define MAX_WRITE_QUEUE    (32u << 20) /* a client that does not read is dropped */
#define MAX_BUFFERED_INPUT (8u << 20)

static void drive(apiserver_conn_t *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void request_reset(apiserver_request_t *r)
{
    util_buf_free(&r->url);
    free(r->path);
    free(r->query);
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    util_buf_free(&r->body);
    util_buf_free(&r->field);
    util_buf_free(&r->value);
    util_buf_free(&r->resp_headers);
    free(r->token_user.name);
    util_strv_clear(&r->token_user.groups);
    free(r->quota_charge); /* never left: admission hands it to the write at once */
    *r = (apiserver_request_t){0};
}

static void conn_free(apiserver_conn_t *c)
{
    apiserver_t *a = c->srv;
    request_reset(&c->req);
    mbedtls_ssl_free(&c->ssl);
    util_buf_free(&c->in);
    util_buf_free(&c->plain);
    util_buf_free(&c->out_batch);
    free(c->user.name);
    util_strv_clear(&c->user.groups);
    free(c);
    apiserver__unref(a);
}

static void conn_handle_closed(uv_handle_t *h)
{
    apiserver_conn_t *c = h->data;
    if (--c->handles == 0 && c->refs == 0)
        conn_free(c);
}

void apiserver__conn_ref(apiserver_conn_t *c)
{
    c->refs++;
}

void apiserver__conn_unref(apiserver_conn_t *c)
{
    if (--c->refs == 0 && c->handles == 0)
        conn_free(c);
}

void apiserver__conn_close(apiserver_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    apiserver_t *a = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    a->nconns--;
    if (c->counted)
        a->inflight--; /* the answer will never be sent */
    c->counted = c->busy = false;
    if (c->on_close) {
        void (*cb)(apiserver_conn_t *, void *) = c->on_close;
        c->on_close = NULL;
        cb(c, c->on_close_data);
    }
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

static void on_timeout(uv_timer_t *t)
{
    apiserver_conn_t *c = t->data;
    util_log_v(2, "apiserver: %s: timed out (%s)", c->peer,
               !c->handshake_done && !c->no_tls ? "handshake"
               : c->in_message                  ? "request"
                                                : "idle");
    apiserver__conn_close(c);
}

static void arm_timer(apiserver_conn_t *c, uint64_t ms)
{
    if (!c->closing)
        uv_timer_start(&c->timer, on_timeout, ms, 0);
}

/* ---- TLS over libuv ----------------------------------------------------------------------- */

typedef struct write_req {
    uv_write_t req;
    char *owned; /* a batch of records (freed with the request), or NULL: data */
    char data[];
} write_req_t;

static void on_written(uv_write_t *w, int status)
{
    apiserver_conn_t *c = w->data;
    free(((write_req_t *)w)->owned);
    free(w);
    if (status < 0 && status != UV_ECANCELED)
        apiserver__conn_close(c);
    else if (!c->closing && c->tunnel && c->tunnel_drained)
        c->tunnel_drained(c->tunnel_ud);
}

/* Queues ciphertext: the write request takes owned (when not NULL) or a copy of buf. */
static int queue_write(apiserver_conn_t *c, const char *buf, size_t len, char *owned)
{
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + len > MAX_WRITE_QUEUE) {
        free(owned);
        apiserver__conn_close(c);
        return -1;
    }
    write_req_t *w = util_xmalloc(sizeof(*w) + (owned ? 0 : len));
    w->owned = owned;
    if (!owned)
        memcpy(w->data, buf, len);
    w->req.data = c;
    uv_buf_t b = uv_buf_init(owned ? owned : w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
        free(owned);
        free(w);
        apiserver__conn_close(c);
        return -1;
    }
    return 0;
}

/* While a response is written (c->batching), its records gather in out_batch and leave in one
 * write (one allocation and one system call instead of one per 16 KiB record). */
static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    apiserver_conn_t *c = ctx;
    if (c->closing)
        return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    if (c->batching) {
        if (c->out_batch.len + len > MAX_WRITE_QUEUE) {
            apiserver__conn_close(c);
            return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
        }
        util_buf_append(&c->out_batch, buf, len);
        return (int)len;
    }
    return queue_write(c, (const char *)buf, len, NULL) < 0 ? MBEDTLS_ERR_SSL_INTERNAL_ERROR
                                                            : (int)len;
}

static void batch_begin(apiserver_conn_t *c)
{
    c->batching = true;
}

static void batch_end(apiserver_conn_t *c)
{
    c->batching = false;
    size_t len = c->out_batch.len;
    if (len == 0)
        return;
    char *data = util_buf_steal(&c->out_batch);
    if (c->closing)
        free(data);
    else
        queue_write(c, data, len, data);
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    apiserver_conn_t *c = ctx;
    size_t avail = c->in.len - c->in_off;
    if (avail == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    size_t n = avail < len ? avail : len;
    memcpy(buf, c->in.data + c->in_off, n);
    c->in_off += n;
    if (c->in_off == c->in.len) {
        c->in.len = 0;
        c->in_off = 0;
    }
    return (int)n;
}

static void tls_write_all(apiserver_conn_t *c, const char *data, size_t len)
{
    if (c->no_tls) { /* plain: straight to the socket (or the response's batch) */
        if (len > 0 && !c->closing)
            bio_send(c, (const unsigned char *)data, len);
        return;
    }
    while (len > 0 && !c->closing) {
        int rc = mbedtls_ssl_write(&c->ssl, (const unsigned char *)data, len);
        if (rc < 0) {
            apiserver__conn_close(c);
            return;
        }
        data += rc;
        len -= (size_t)rc;
    }
}

/* The client certificate, verified against the cluster CA during the handshake. */
static void authenticate(apiserver_conn_t *c)
{
    apiserver__tls_identity(&c->ssl, &c->user.name, &c->user.groups);
}

/* ---- HTTP parsing ------------------------------------------------------------------------- */

static apiserver_conn_t *conn_of(llhttp_t *p)
{
    return p->data;
}

static int limit_headers(apiserver_conn_t *c, size_t more)
{
    c->req.header_bytes += more;
    if (c->req.header_bytes > c->srv->opts.max_header_bytes) {
        c->req.early_status = 431;
        return HPE_USER;
    }
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    apiserver_conn_t *c = conn_of(p);
    request_reset(&c->req);
    c->in_message = true;
    arm_timer(c, c->srv->opts.header_timeout_ms);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    apiserver_conn_t *c = conn_of(p);
    if (limit_headers(c, len))
        return HPE_USER;
    util_buf_append(&c->req.url, at, len);
    return 0;
}

static void finish_header(apiserver_request_t *r)
{
    if (!r->in_value)
        return;
    r->headers = util_xrealloc(r->headers, (r->nheaders + 1) * sizeof(*r->headers));
    for (size_t i = 0; i < r->field.len; i++)
        r->field.data[i] = (char)tolower((unsigned char)r->field.data[i]);
    r->headers[r->nheaders].name = util_buf_steal(&r->field);
    r->headers[r->nheaders].value = util_buf_steal(&r->value);
    r->nheaders++;
    r->in_value = false;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    apiserver_conn_t *c = conn_of(p);
    if (limit_headers(c, len))
        return HPE_USER;
    finish_header(&c->req);
    if (c->req.nheaders >= MAX_HEADERS) {
        c->req.early_status = 431;
        return HPE_USER;
    }
    util_buf_append(&c->req.field, at, len);
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    apiserver_conn_t *c = conn_of(p);
    if (limit_headers(c, len))
        return HPE_USER;
    c->req.in_value = true;
    util_buf_append(&c->req.value, at, len);
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    apiserver_conn_t *c = conn_of(p);
    finish_header(&c->req);
    if (p->content_length > c->srv->opts.max_body_bytes &&
        !(p->flags & F_CHUNKED)) { /* chunked bodies are counted as they arrive */
        c->req.early_status = 413;
        return HPE_USER;
    }
    arm_timer(c, c->srv->opts.body_timeout_ms);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    apiserver_conn_t *c = conn_of(p);
    if (c->req.body.len + len > c->srv->opts.max_body_bytes) {
        c->req.early_status = 413;
        return HPE_USER;
    }
    util_buf_append(&c->req.body, at, len);
    return 0;
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (char)tolower((unsigned char)ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Splits the URL into a percent-decoded path and the raw query. */
static int split_url(apiserver_request_t *r)
{
    const char *u = r->url.data ? r->url.data : "";
    if (u[0] != '/')
        return -1; /* absolute-form and authority-form targets are not served */
    const char *q = strchr(u, '?');
    size_t plen = q ? (size_t)(q - u) : strlen(u);
    r->query = util_xstrdup(q ? q + 1 : "");
    r->path = util_xmalloc(plen + 1);
    size_t j = 0;
    for (size_t i = 0; i < plen; i++) {
        if (u[i] == '%') {
            int hi = i + 2 < plen ? hex_value(u[i + 1]) : -1;
            int lo = i + 2 < plen ? hex_value(u[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1; /* truncated or invalid escape, or an encoded NUL */
            r->path[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            r->path[j++] = u[i];
        }
    }
    r->path[j] = '\0';
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    apiserver_conn_t *c = conn_of(p);
    c->req.method = llhttp_method_name((llhttp_method_t)p->method);
    c->req_ready = true;
    c->in_message = false;
    return HPE_PAUSED; /* handled outside the parser, one request at a time */
}

const char *apiserver__header(const apiserver_request_t *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (!strcmp(r->headers[i].name, name))
            return r->headers[i].value;
    return NULL;
}

/* ---- responses ---------------------------------------------------------------------------- */

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
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
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 413:
        return "Request Entity Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

static void parse_plaintext(apiserver_conn_t *c);
static void record(apiserver_conn_t *c, int status);

/* The request is answered: count it out and go on with any pipelined request. */
static void request_done(apiserver_conn_t *c)
{
    if (c->counted)
        c->srv->inflight--;
    c->counted = c->busy = false;
    if (c->closing)
        return;
    if (c->close_after_response) {
        if (!c->no_tls)
            mbedtls_ssl_close_notify(&c->ssl);
        apiserver__conn_close(c);
        return;
    }
    arm_timer(c, c->srv->opts.idle_timeout_ms);
    if (!c->dispatching) { /* answered from a callback: go on with what was pipelined */
        parse_plaintext(c);
        if (!c->busy && !c->closing)
            drive(c);
    }
}

static void write_head(apiserver_conn_t *c, util_buf_t *b, int status, const char *content_type,
                       const char *length_header, const char *extra_headers, bool gzipped)
{
    if (!llhttp_should_keep_alive(&c->parser))
        c->close_after_response = true;
    util_buf_printf(b,
                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%s%s"
                    "Cache-Control: no-cache, private\r\nX-Content-Type-Options: nosniff\r\n%s%s%s"
                    "\r\n",
                    status, reason_phrase(status), content_type, length_header,
                    gzipped ? "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n" : "",
                    extra_headers ? extra_headers : "",
                    c->req.resp_headers.data ? c->req.resp_headers.data : "",
                    c->close_after_response ? "Connection: close\r\n" : "");
}

bool apiserver__gzip_wanted(const apiserver_conn_t *c)
{
    const char *ae = apiserver__header(&c->req, "accept-encoding");
    return ae && apiserver_gzip_accepted(ae);
}

void apiserver__respond_parts(apiserver_conn_t *c, int status, const char *content_type,
                              const apiserver_part_t *parts, size_t n, const char *extra_headers,
                              bool gzipped)
{
    if (c->closing || c->streaming)
        return;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += parts[i].len;
    util_buf_t b = {0};
    char length[48];
    snprintf(length, sizeof(length), "Content-Length: %zu\r\n", len);
    write_head(c, &b, status, content_type, length, extra_headers, gzipped);
    bool body = len && strcmp(c->req.method ? c->req.method : "", "HEAD");
    record(c, status);
    batch_begin(c);
    if (body && len <= 16384) { /* small: head and body in one record */
        for (size_t i = 0; i < n; i++)
            util_buf_append(&b, parts[i].data, parts[i].len);
        body = false;
    }
    tls_write_all(c, b.data, b.len);
    for (size_t i = 0; body && i < n; i++)
        tls_write_all(c, parts[i].data, parts[i].len);
    batch_end(c);
    util_buf_free(&b);
    request_done(c);
}

void apiserver__respond(apiserver_conn_t *c, int status, const char *content_type, const char *body,
                        size_t len, const char *extra_headers)
{
    if (len > APISERVER_GZIP_MIN_BYTES && apiserver__gzip_wanted(c)) {
        util_buf_t z = {0};
        if (apiserver_gzip_compress(&z, body, len) == 0) {
            apiserver_part_t p = {z.data, z.len};
            apiserver__respond_parts(c, status, content_type, &p, 1, extra_headers, true);
            util_buf_free(&z);
            return;
        }
        util_buf_free(&z);
    }
    apiserver_part_t p = {body, len};
    apiserver__respond_parts(c, status, content_type, &p, 1, extra_headers, false);
}

void apiserver__stream_begin(apiserver_conn_t *c, int status, const char *content_type)
{
    if (c->closing || c->streaming)
        return;
    util_buf_t b = {0};
    write_head(c, &b, status, content_type, "Transfer-Encoding: chunked\r\n", NULL, false);
    record(c, status);
    tls_write_all(c, b.data, b.len);
    util_buf_free(&b);
    c->streaming = true;
    uv_timer_stop(&c->timer); /* a watch may stay quiet for minutes */
    if (c->counted)           /* long-running requests do not count against max_inflight */
        c->srv->inflight--;
    c->counted = false;
}

void apiserver__stream_write(apiserver_conn_t *c, const char *data, size_t len)
{
    if (c->closing || !c->streaming || len == 0)
        return;
    util_buf_t b = {0};
    util_buf_printf(&b, "%zx\r\n", len);
    util_buf_append(&b, data, len);
    util_buf_puts(&b, "\r\n");
    batch_begin(c); /* a chunk over one record leaves in one write */
    tls_write_all(c, b.data, b.len);
    batch_end(c);
    util_buf_free(&b);
}

void apiserver__stream_end(apiserver_conn_t *c)
{
    if (c->closing || !c->streaming)
        return;
    tls_write_all(c, "0\r\n\r\n", 5);
    c->streaming = false;
    request_done(c);
}

/* ---- tunnels ------------------------------------------------------------------------------ */

void apiserver__conn_tunnel(apiserver_conn_t *c, int status,
                            void (*on_data)(void *ud, const char *data, size_t len),
                            void (*on_drained)(void *ud), void *ud)
{
    if (c->closing)
        return;
    record(c, status);
    c->tunnel = true;
    c->tunnel_data = on_data;
    c->tunnel_drained = on_drained;
    c->tunnel_ud = ud;
    uv_timer_stop(&c->timer); /* an exec session may stay quiet for hours */
    if (c->counted)
        c->srv->inflight--;
    c->counted = false;
    parse_plaintext(c); /* bytes the client sent right after its request */
}

void apiserver__conn_tunnel_write(apiserver_conn_t *c, const char *data, size_t len)
{
    if (!c->closing && len)
        tls_write_all(c, data, len);
}

size_t apiserver__conn_pending(apiserver_conn_t *c)
{
    return c->closing ? 0 : uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
}

void apiserver__conn_read_pause(apiserver_conn_t *c, bool pause)
{
    if (c->closing || c->tunnel_paused == pause)
        return;
    c->tunnel_paused = pause;
    if (pause) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    drive(c); /* records mbedTLS already holds */
}

static void tunnel_shut(uv_shutdown_t *req, int status)
{
    apiserver_conn_t *c = req->data;
    (void)status;
    apiserver__conn_close(c);
}

/* Closing at once would drop what is still queued (a final exit Status, the end of a log):
 * the socket is shut down after the queue drains, bounded by the idle timeout. */
void apiserver__conn_tunnel_end(apiserver_conn_t *c)
{
    if (c->closing || c->tunnel_draining)
        return;
    c->tunnel_draining = true;
    c->tunnel_data = NULL;
    c->tunnel_drained = NULL;
    if (!c->no_tls)
        mbedtls_ssl_close_notify(&c->ssl);
    arm_timer(c, c->srv->opts.idle_timeout_ms);
    c->tunnel_shutdown.data = c;
    if (uv_shutdown(&c->tunnel_shutdown, (uv_stream_t *)&c->tcp, tunnel_shut) < 0)
        apiserver__conn_close(c);
}

/* ---- the engine --------------------------------------------------------------------------- */

static uint64_t mono_ns(void)
{
    return uv_hrtime();
}

/* Counts the answered request in the metrics (once). */
static void record(apiserver_conn_t *c, int status)
{
    apiserver_request_t *r = &c->req;
    if (!r->start_ns)
        return;
    const char *verb = r->verb;
    if (!verb) { /* non-resource paths: the method */
        static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"};
        verb = "OTHER";
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
            if (r->method && !strcmp(r->method, methods[i]))
                verb = methods[i];
    }
    apiserver_metrics_request(c->srv->metrics, verb, r->resource, r->subresource, status,
                              (double)(mono_ns() - r->start_ns) / 1e9);
    r->start_ns = 0;
}

static void handle_request(apiserver_conn_t *c)
{
    c->req_ready = false;
    c->req.start_ns = mono_ns();
    if (split_url(&c->req) < 0) {
        c->close_after_response = true;
        apiserver__respond_status(c, 400, "BadRequest", "malformed request target");
        return;
    }
    apiserver_t *a = c->srv;
    if (a->inflight >= a->opts.max_inflight) {
        apiserver__respond_status_ex(c, 429, "TooManyRequests",
                                     "Too many requests, please try again later.",
                                     "{\"retryAfterSeconds\":1}", "Retry-After: 1\r\n");
        return;
    }
    a->inflight++;
    c->counted = c->busy = true;
    c->dispatching = true;
    apiserver__dispatch(c); /* answers now, or later from a callback */
    c->dispatching = false;
}

/* Feeds parsed plaintext to llhttp and answers each complete request in order. */
static void parse_plaintext(apiserver_conn_t *c)
{
    if (c->tunnel) { /* c stays allocated during the callback: it is freed from uv_close */
        size_t off = c->plain_off, n = c->plain.len - off;
        c->plain_off = c->plain.len;
        if (n && c->tunnel_data && !c->closing)
            c->tunnel_data(c->tunnel_ud, c->plain.data + off, n);
        c->plain.len = 0;
        c->plain_off = 0;
        return;
    }
    while (!c->closing && !c->busy && c->plain_off < c->plain.len) {
        const char *start = c->plain.data + c->plain_off;
        llhttp_errno_t e = llhttp_execute(&c->parser, start, c->plain.len - c->plain_off);
        if (e == HPE_OK) {
            c->plain_off = c->plain.len;
        } else if (e == HPE_PAUSED) {
            c->plain_off += (size_t)(llhttp_get_error_pos(&c->parser) - start);
            llhttp_resume(&c->parser);
            if (c->req_ready)
                handle_request(c);
        } else {
            int status = c->req.early_status ? c->req.early_status : 400;
            c->close_after_response = true;
            if (status == 413)
                apiserver__respond_status(c, 413, "RequestEntityTooLarge",
                                          "the request body is too large");
            else if (status == 431)
                apiserver__respond_status(c, 431, "BadRequest", "request headers are too large");
            else
                apiserver__respond_status(c, 400, "BadRequest",
                                          llhttp_get_error_reason(&c->parser));
            return;
        }
    }
    if (c->plain_off == c->plain.len) {
        c->plain.len = 0;
        c->plain_off = 0;
    }
}

/* The in-process transport: what was read is the plaintext. */
static void drive_plain(apiserver_conn_t *c)
{
    while (!c->closing && !c->tunnel_paused && c->in_off < c->in.len &&
           c->plain.len - c->plain_off < MAX_BUFFERED_INPUT) {
        size_t n = c->in.len - c->in_off;
        if (n > READ_CHUNK)
            n = READ_CHUNK;
        util_buf_append(&c->plain, c->in.data + c->in_off, n);
        c->in_off += n;
        if (c->in_off == c->in.len)
            c->in.len = c->in_off = 0;
        parse_plaintext(c);
    }
}

static void drive(apiserver_conn_t *c)
{
    if (c->no_tls) {
        drive_plain(c);
        return;
    }
    if (!c->handshake_done) {
        int rc = mbedtls_ssl_handshake(&c->ssl);
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
            return;
        if (rc != 0) {
            util_log_v(2, "apiserver: %s: TLS handshake failed (-0x%04x)", c->peer, (unsigned)-rc);
            apiserver__conn_close(c);
            return;
        }
        c->handshake_done = true;
        authenticate(c);
        arm_timer(c, c->srv->opts.idle_timeout_ms);
    }
    unsigned char buf[READ_CHUNK];
    while (!c->closing && !c->tunnel_paused && c->plain.len - c->plain_off < MAX_BUFFERED_INPUT) {
        int rc = mbedtls_ssl_read(&c->ssl, buf, sizeof(buf));
        if (rc > 0) {
            util_buf_append(&c->plain, buf, (size_t)rc);
            parse_plaintext(c);
            continue;
        }
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE ||
            rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
            return;
        /* 0 or close_notify: the client is done; anything else is a protocol error */
        apiserver__conn_close(c);
        return;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    apiserver_conn_t *c = h->data;
    (void)suggested;
    util_buf_reserve(&c->in, READ_CHUNK);
    buf->base = c->in.data + c->in.len;
    buf->len = READ_CHUNK;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    apiserver_conn_t *c = s->data;
    (void)buf;
    if (n < 0) {
        apiserver__conn_close(c);
        return;
    }
    c->in.len += (size_t)n;
    if (c->in.len > MAX_BUFFERED_INPUT) { /* pipelining far ahead of a busy request */
        apiserver__conn_close(c);
        return;
    }
    drive(c);
}

/* A connection object in the server's list, its handle not yet initialised. */
static apiserver_conn_t *conn_new(apiserver_t *a)
{
    apiserver_conn_t *c = util_xcalloc(1, sizeof(*c));
    c->srv = a;
    uv_timer_init(a->opts.loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    a->pending_closes++;
    c->next = a->conns;
    if (a->conns)
        a->conns->prev = c;
    a->conns = c;
    a->nconns++;
    return c;
}

/* The HTTP parser, then reading. */
static void conn_serve(apiserver_conn_t *c, uint64_t timeout_ms)
{
    llhttp_settings_init(&c->settings);
    c->settings.on_message_begin = on_message_begin;
    c->settings.on_url = on_url;
    c->settings.on_header_field = on_header_field;
    c->settings.on_header_value = on_header_value;
    c->settings.on_headers_complete = on_headers_complete;
    c->settings.on_body = on_body;
    c->settings.on_message_complete = on_message_complete;
    llhttp_init(&c->parser, HTTP_REQUEST, &c->settings);
    c->parser.data = c;
    arm_timer(c, timeout_ms);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

void apiserver__on_connection(uv_stream_t *listener, int status)
{
    apiserver_t *a = listener->data;
    if (status < 0 || a->stopping)
        return;
    apiserver_conn_t *c = conn_new(a);
    uv_tcp_init(listener->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0 || a->nconns > a->opts.max_connections) {
        apiserver__conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage peer;
    int len = sizeof(peer);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&peer, &len) == 0) {
        char ip[48] = "?";
        if (peer.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&peer, ip, sizeof(ip));
        else
            uv_ip4_name((struct sockaddr_in *)&peer, ip, sizeof(ip));
        snprintf(c->peer, sizeof(c->peer), "%s", ip);
    }
    mbedtls_ssl_init(&c->ssl);
    if (mbedtls_ssl_setup(&c->ssl, &a->tls) != 0) {
        apiserver__conn_close(c);
        return;
    }
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    conn_serve(c, a->opts.handshake_timeout_ms);
}

void apiserver__conn_adopt(apiserver_t *a, int fd, const char *user, const util_strv_t *groups,
                           const char *peer, bool inproc)
{
    apiserver_conn_t *c = conn_new(a);
    c->no_tls = true;
    c->inproc = inproc;
    mbedtls_ssl_init(&c->ssl);                      /* never set up: freed harmlessly */
    snprintf(c->peer, sizeof(c->peer), "%s", peer); /* X-Forwarded-For */
    uv_pipe_init(a->opts.loop, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_pipe_open(&c->pipe, fd) < 0) {
        close(fd);
        apiserver__conn_close(c);
        return;
    }
    if (a->nconns > a->opts.max_connections) {
        apiserver__conn_close(c);
        return;
    }
    c->user.name = user ? util_xstrdup(user) : NULL; /* NULL: anonymous (TLS front) */
    for (size_t i = 0; user && i < groups->n; i++)
        util_strv_push(&c->user.groups, groups->v[i]);
    conn_serve(c, a->opts.idle_timeout_ms);
}
