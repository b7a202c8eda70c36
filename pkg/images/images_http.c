/* images_http: a small blocking HTTP/1.1 client (one connection per request, mbedTLS for
 * https, llhttp for responses) for registry pulls. Run it off the event loop. */
#include "images_http.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <llhttp.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <psa/crypto.h>

#define IO_TIMEOUT_MS  30000
#define MAX_HEADER_LEN 16384
#define SYSTEM_CA      "/etc/ssl/certs/ca-certificates.crt"

void images_http_resp_free(images_http_resp_t *r)
{
    util_buf_free(&r->body);
    free(r->www_authenticate);
    free(r->location);
    free(r->content_type);
    *r = (images_http_resp_t){0};
}

int images_url_parse(const char *url, images_url_t *ret, util_error_t *err)
{
    images_url_t u = {0};
    const char *p;
    if (util_str_has_prefix(url, "https://"))
        u.tls = true, p = url + 8;
    else if (util_str_has_prefix(url, "http://"))
        p = url + 7;
    else
        return util_error_make(err, EINVAL, "unsupported URL `%.200s`", url);
    size_t hl = strcspn(p, "/?");
    if (hl == 0 || hl >= sizeof(u.host))
        return util_error_make(err, EINVAL, "bad host in `%.200s`", url);
    memcpy(u.host, p, hl);
    char *colon = strrchr(u.host, ':');
    if (colon && !strchr(colon, ']')) {
        *colon = '\0';
        snprintf(u.port, sizeof(u.port), "%.7s", colon + 1);
    } else {
        snprintf(u.port, sizeof(u.port), "%s", u.tls ? "443" : "80");
    }
    if (u.host[0] == '[') { /* [v6] */
        memmove(u.host, u.host + 1, strlen(u.host));
        u.host[strcspn(u.host, "]")] = '\0';
    }
    snprintf(u.path, sizeof(u.path), "%s", p[hl] ? p + hl : "/");
    if (p[hl] == '?')
        snprintf(u.path, sizeof(u.path), "/%s", p + hl);
    *ret = u;
    return 0;
}

/* The value of key="value" in a WWW-Authenticate challenge (caller frees), or NULL. */
char *images_http_challenge_param(const char *ch, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = ch; (p = strstr(p, key)); p += kl) {
        if ((p != ch && p[-1] != ' ' && p[-1] != ',') || p[kl] != '=' || p[kl + 1] != '"')
            continue;
        const char *v = p + kl + 2, *end = strchr(v, '"');
        return end ? strndup(v, (size_t)(end - v)) : NULL;
    }
    return NULL;
}

/* ---- the connection ---------------------------------------------------------------------- */

typedef struct conn {
    int fd;
    bool tls;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca, cert;
    mbedtls_pk_context key;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
} conn_t;

static int wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    int r;
    do
        r = poll(&p, 1, IO_TIMEOUT_MS);
    while (r < 0 && errno == EINTR);
    return r > 0 ? 0 : r == 0 ? -ETIMEDOUT : -errno;
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    conn_t *c = ctx;
    if (wait_fd(c->fd, POLLOUT) < 0)
        return MBEDTLS_ERR_SSL_TIMEOUT;
    ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
    return n >= 0 ? (int)n : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    conn_t *c = ctx;
    if (wait_fd(c->fd, POLLIN) < 0)
        return MBEDTLS_ERR_SSL_TIMEOUT;
    ssize_t n = recv(c->fd, buf, len, 0);
    return n >= 0 ? (int)n : MBEDTLS_ERR_NET_RECV_FAILED;
}

static int tls_error(util_error_t *err, int rc, const char *what, const char *host)
{
    char buf[160];
    mbedtls_strerror(rc, buf, sizeof(buf));
    return util_error_make(err, EPROTO, "%s %s: %s", what, host, buf);
}

static int tcp_connect(const images_url_t *u, util_error_t *err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(u->host, u->port, &hints, &res);
    if (g != 0)
        return util_error_make(err, EHOSTUNREACH, "resolve %s: %s", u->host, gai_strerror(g));
    int fd = -1, e = ECONNREFUSED;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd >= 0 ? fd : util_error_make(err, e, "connect to %s:%s", u->host, u->port);
}

static void conn_close(conn_t *c)
{
    if (c->tls) {
        mbedtls_ssl_free(&c->ssl);
        mbedtls_ssl_config_free(&c->conf);
        mbedtls_x509_crt_free(&c->ca);
        mbedtls_x509_crt_free(&c->cert);
        mbedtls_pk_free(&c->key);
        mbedtls_ctr_drbg_free(&c->drbg);
        mbedtls_entropy_free(&c->entropy);
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int tls_start(conn_t *c, const images_url_t *u, const images_http_req_t *req,
                     util_error_t *err)
{
    const char *ca_file = req->ca_file;
    c->tls = true;
    mbedtls_ssl_init(&c->ssl);
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_x509_crt_init(&c->cert);
    mbedtls_pk_init(&c->key);
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    if (psa_crypto_init() != PSA_SUCCESS)
        return util_error_make(err, EIO, "PSA crypto initialisation failed");
    int rc = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
                                   (const unsigned char *)"kubeling-pull", 13);
    if (rc == 0) { /* > 0: some certificates of the bundle were skipped, the rest count */
        rc = mbedtls_x509_crt_parse_file(&c->ca, ca_file ? ca_file : SYSTEM_CA);
        if (rc < 0 && !req->insecure) /* insecure_skip_verify needs no CA */
            return tls_error(err, rc, "loading CA certificates for", u->host);
        rc = 0;
    }
    if (rc == 0)
        rc = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
                                         MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc < 0)
        return tls_error(err, rc, "TLS setup for", u->host);
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    mbedtls_ssl_conf_authmode(&c->conf, req->insecure ? MBEDTLS_SSL_VERIFY_NONE
                                                      : MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
    if (req->cert_file && req->key_file) {
        if ((rc = mbedtls_x509_crt_parse_file(&c->cert, req->cert_file)) < 0)
            return tls_error(err, rc, "loading the client certificate for", u->host);
        if ((rc = mbedtls_pk_parse_keyfile(&c->key, req->key_file, NULL, mbedtls_ctr_drbg_random,
                                           &c->drbg)) < 0)
            return tls_error(err, rc, "loading the client key for", u->host);
        if ((rc = mbedtls_ssl_conf_own_cert(&c->conf, &c->cert, &c->key)) < 0)
            return tls_error(err, rc, "TLS setup for", u->host);
    }
    mbedtls_ssl_conf_min_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_2);
    if ((rc = mbedtls_ssl_setup(&c->ssl, &c->conf)) != 0 ||
        (rc = mbedtls_ssl_set_hostname(&c->ssl, u->host)) != 0)
        return tls_error(err, rc, "TLS setup for", u->host);
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    while ((rc = mbedtls_ssl_handshake(&c->ssl)) != 0)
        if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE)
            return tls_error(err, rc, "TLS handshake with", u->host);
    return 0;
}

static int conn_write(conn_t *c, const char *data, size_t len, util_error_t *err)
{
    while (len > 0) {
        int n = c->tls ? mbedtls_ssl_write(&c->ssl, (const unsigned char *)data, len)
                       : bio_send(c, (const unsigned char *)data, len);
        if (n == MBEDTLS_ERR_SSL_WANT_WRITE || n == MBEDTLS_ERR_SSL_WANT_READ)
            continue;
        if (n <= 0)
            return util_error_make(err, EIO, "sending the request");
        data += n, len -= (size_t)n;
    }
    return 0;
}

/* Bytes read, 0 at the end of the stream, < 0 on error. */
static int conn_read(conn_t *c, char *buf, size_t len)
{
    for (;;) {
        int n = c->tls ? mbedtls_ssl_read(&c->ssl, (unsigned char *)buf, len)
                       : bio_recv(c, (unsigned char *)buf, len);
        if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE ||
            n == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
            continue;
        if (n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
            return 0;
        return n;
    }
}

/* ---- the response ------------------------------------------------------------------------- */

typedef struct parse {
    images_http_resp_t *resp;
    const images_http_req_t *req;
    util_buf_t field, value;
    bool in_value, done, too_big;
    int write_errno;
    size_t header_bytes;
} parse_t;

static void header_done(parse_t *p)
{
    if (!p->field.len)
        return;
    char **dst = NULL;
    if (!strcasecmp(p->field.data, "www-authenticate"))
        dst = &p->resp->www_authenticate;
    else if (!strcasecmp(p->field.data, "location"))
        dst = &p->resp->location;
    else if (!strcasecmp(p->field.data, "content-type"))
        dst = &p->resp->content_type;
    if (dst && !*dst)
        *dst = util_xstrdup(p->value.data ? p->value.data : "");
    util_buf_reset(&p->field);
    util_buf_reset(&p->value);
}

static int on_field(llhttp_t *h, const char *at, size_t len)
{
    parse_t *p = h->data;
    if (p->in_value)
        header_done(p);
    p->in_value = false;
    p->header_bytes += len;
    util_buf_append(&p->field, at, len);
    return p->header_bytes > MAX_HEADER_LEN ? -1 : 0;
}

static int on_value(llhttp_t *h, const char *at, size_t len)
{
    parse_t *p = h->data;
    p->in_value = true;
    p->header_bytes += len;
    util_buf_append(&p->value, at, len);
    return p->header_bytes > MAX_HEADER_LEN ? -1 : 0;
}

static int on_headers_complete(llhttp_t *h)
{
    parse_t *p = h->data;
    header_done(p);
    p->resp->status = llhttp_get_status_code(h);
    return 0;
}

/* Success bodies go to the caller's fd when given; error bodies are kept for the message. */
static int on_body(llhttp_t *h, const char *at, size_t len)
{
    parse_t *p = h->data;
    p->resp->body_len += len;
    if (p->req->body_fd >= 0 && p->resp->status / 100 == 2) {
        if (p->resp->body_len > p->req->max_body) {
            p->too_big = true;
            return -1;
        }
        while (len > 0) {
            ssize_t w = write(p->req->body_fd, at, len);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                p->write_errno = errno;
                return -1;
            }
            at += w, len -= (size_t)w;
        }
        return 0;
    }
    if (p->resp->body.len + len > (p->req->body_fd >= 0 ? 65536 : p->req->max_body)) {
        p->too_big = true;
        return -1;
    }
    util_buf_append(&p->resp->body, at, len);
    return 0;
}

static int on_complete(llhttp_t *h)
{
    ((parse_t *)h->data)->done = true;
    return HPE_PAUSED;
}

static int read_response(conn_t *c, parse_t *p, util_error_t *err)
{
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_header_field = on_field;
    s.on_header_value = on_value;
    s.on_headers_complete = on_headers_complete;
    s.on_body = on_body;
    s.on_message_complete = on_complete;
    llhttp_t h;
    llhttp_init(&h, HTTP_RESPONSE, &s);
    h.data = p;
    char buf[16384];
    int r = 0;
    while (!p->done) {
        int n = conn_read(c, buf, sizeof(buf));
        llhttp_errno_t e = n > 0 ? llhttp_execute(&h, buf, (size_t)n) : llhttp_finish(&h);
        if (p->too_big)
            r = util_error_make(err, EFBIG, "response body over %llu bytes",
                                (unsigned long long)p->req->max_body);
        else if (p->write_errno)
            r = util_error_make(err, p->write_errno, "writing the response body");
        else if (e != HPE_OK && e != HPE_PAUSED)
            r = util_error_make(err, EPROTO, "bad HTTP response: %s", llhttp_get_error_reason(&h));
        else if (n < 0 && c->tls) { /* e.g. the server's alert refusing our certificate */
            char tls[160];
            mbedtls_strerror(n, tls, sizeof(tls));
            r = util_error_make(err, EPROTO, "reading the response: TLS: %s", tls);
        } else if (n < 0)
            r = util_error_make(err, EIO, "reading the response");
        else if (n == 0 && !p->done)
            r = util_error_make(err, EIO, "connection closed before the response ended");
        if (r < 0)
            break;
    }
    util_buf_free(&p->field);
    util_buf_free(&p->value);
    return r;
}

int images_http_get(const images_http_req_t *req, images_http_resp_t *resp, util_error_t *err)
{
    images_url_t u;
    int r = images_url_parse(req->url, &u, err);
    if (r < 0)
        return r;
    *resp = (images_http_resp_t){0};
    conn_t c = {.fd = -1};
    c.fd = tcp_connect(&u, err);
    if (c.fd < 0)
        return c.fd;
    if (u.tls)
        r = tls_start(&c, &u, req, err);
    util_buf_t q = {0};
    util_buf_printf(&q, "GET %s HTTP/1.1\r\nHost: %s%s%s\r\nUser-Agent: kubeling\r\n", u.path,
                    u.host, strcmp(u.port, u.tls ? "443" : "80") ? ":" : "",
                    strcmp(u.port, u.tls ? "443" : "80") ? u.port : "");
    for (size_t i = 0; req->headers && req->headers[i]; i++)
        util_buf_printf(&q, "%s\r\n", req->headers[i]);
    util_buf_puts(&q, "Connection: close\r\n\r\n");
    if (r == 0)
        r = conn_write(&c, q.data, q.len, err);
    util_buf_free(&q);
    parse_t p = {.resp = resp, .req = req};
    if (r == 0)
        r = read_response(&c, &p, err);
    conn_close(&c);
    if (r < 0) {
        images_http_resp_free(resp);
        return util_error_wrap(err, "GET %s://%s:%s%s", u.tls ? "https" : "http", u.host, u.port,
                               u.path);
    }
    return 0;
}
