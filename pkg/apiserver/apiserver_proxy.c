/* apiserver_proxy: pods/exec, pods/attach, pods/portforward and pods/log, proxied to the pod's
 * kubelet like upstream's UpgradeAwareHandler: the request goes to the kubelet's HTTPS port
 * (its serving certificate verified against the cluster CA, our kubelet-client certificate
 * presented), and from the kubelet's answer on the bytes are spliced both ways. */
#include "apiserver_registry.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/error.h>

#include "apiserver_object.h"

#define DIAL_TIMEOUT_MS   30000 /* upstream's dial timeout */
#define PAUSE_ABOVE       (1u << 20)
#define MAX_RESPONSE_HEAD (64u << 10)

typedef struct kproxy {
    apiserver_conn_t *c;
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_timer_t timer;
    int handles;
    mbedtls_ssl_context ssl;
    bool ssl_ready, handshake_done, tunneled, closing, head_seen, upgrade, paused;
    util_buf_t in; /* ciphertext from the kubelet */
    size_t in_off;
    util_buf_t request; /* the request head (and body) to send once connected */
    util_buf_t head;    /* the kubelet's response head, until complete */
    char target[80];    /* host:port, for messages */
    char url[512];      /* https://host:port/path, for messages */
} kproxy_t;

/* ---- TLS client configuration --------------------------------------------------------------- */

int apiserver__kubelet_tls_setup(apiserver_t *a, const char *ca_pem, const char *cert_pem,
                                 const char *key_pem, util_error_t *err)
{
    char msg[128];
    a->kubelet_ca_pem = util_xstrdup(ca_pem);
    a->kubelet_cert_pem = util_xstrdup(cert_pem);
    a->kubelet_key_pem = util_xstrdup(key_pem);
    int rc =
        mbedtls_x509_crt_parse(&a->kubelet_ca, (const unsigned char *)ca_pem, strlen(ca_pem) + 1);
    if (rc == 0)
        rc = mbedtls_x509_crt_parse(&a->kubelet_crt, (const unsigned char *)cert_pem,
                                    strlen(cert_pem) + 1);
    if (rc == 0)
        rc = mbedtls_pk_parse_key(&a->kubelet_key, (const unsigned char *)key_pem,
                                  strlen(key_pem) + 1, NULL, 0, mbedtls_ctr_drbg_random, &a->drbg);
    if (rc == 0)
        rc = mbedtls_ssl_config_defaults(&a->kubelet_tls, MBEDTLS_SSL_IS_CLIENT,
                                         MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc == 0) {
        mbedtls_ssl_conf_rng(&a->kubelet_tls, mbedtls_ctr_drbg_random, &a->drbg);
        mbedtls_ssl_conf_min_tls_version(&a->kubelet_tls, MBEDTLS_SSL_VERSION_TLS1_2);
        mbedtls_ssl_conf_authmode(&a->kubelet_tls, MBEDTLS_SSL_VERIFY_REQUIRED);
        mbedtls_ssl_conf_ca_chain(&a->kubelet_tls, &a->kubelet_ca, NULL);
        rc = mbedtls_ssl_conf_own_cert(&a->kubelet_tls, &a->kubelet_crt, &a->kubelet_key);
    }
    if (rc != 0) {
        mbedtls_strerror(rc, msg, sizeof(msg));
        return util_error_make(err, EIO, "apiserver: kubelet client TLS: %s", msg);
    }
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void kp_free(kproxy_t *k)
{
    if (k->ssl_ready)
        mbedtls_ssl_free(&k->ssl);
    util_buf_free(&k->in);
    util_buf_free(&k->request);
    util_buf_free(&k->head);
    free(k);
}

static void kp_handle_closed(uv_handle_t *h)
{
    kproxy_t *k = h->data;
    if (--k->handles == 0)
        kp_free(k);
}

/* Tears the kubelet side down; the client connection is released and, when tunneled, closed. */
static void kp_close(kproxy_t *k)
{
    if (k->closing)
        return;
    k->closing = true;
    apiserver_conn_t *c = k->c;
    k->c = NULL;
    if (c) {
        c->on_close = NULL;
        c->tunnel_data = NULL;
        c->tunnel_drained = NULL;
        if (k->tunneled)
            apiserver__conn_tunnel_end(c);
        apiserver__conn_unref(c);
    }
    uv_close((uv_handle_t *)&k->timer, kp_handle_closed);
    uv_close((uv_handle_t *)&k->tcp, kp_handle_closed);
}

static void on_client_closed(apiserver_conn_t *c, void *data)
{
    (void)c;
    kp_close(data);
}

/* An error before anything reached the client: an upstream-like Status, then close. */
static void kp_fail(kproxy_t *k, const char *fmt, const char *detail)
{
    if (k->c && !k->tunneled && !k->c->closing) {
        k->c->on_close = NULL; /* kp_close below releases it */
        char msg[600];
        snprintf(msg, sizeof(msg), fmt, detail);
        k->c->close_after_response = true;
        apiserver__respond_status(k->c, 500, "InternalError", msg);
    }
    kp_close(k);
}

/* ---- TLS over libuv ------------------------------------------------------------------------- */

static void kp_written(uv_write_t *w, int status)
{
    kproxy_t *k = w->data;
    free(w);
    if (status < 0) {
        if (status != UV_ECANCELED)
            kp_close(k);
        return;
    }
    if (k->c && k->tunneled &&
        uv_stream_get_write_queue_size((uv_stream_t *)&k->tcp) < PAUSE_ABOVE / 2)
        apiserver__conn_read_pause(k->c, false);
}

static int kp_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    kproxy_t *k = ctx;
    if (k->closing)
        return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    uv_write_t *w = util_xmalloc(sizeof(*w) + len);
    memcpy(w + 1, buf, len);
    w->data = k;
    uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)len);
    if (uv_write(w, (uv_stream_t *)&k->tcp, &b, 1, kp_written) < 0) {
        free(w);
        return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    }
    return (int)len;
}

static int kp_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    kproxy_t *k = ctx;
    size_t avail = k->in.len - k->in_off;
    if (avail == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    size_t n = avail < len ? avail : len;
    memcpy(buf, k->in.data + k->in_off, n);
    k->in_off += n;
    if (k->in_off == k->in.len)
        k->in.len = k->in_off = 0;
    return (int)n;
}

static void kp_write(kproxy_t *k, const char *data, size_t len)
{
    while (len > 0 && !k->closing) {
        int rc = mbedtls_ssl_write(&k->ssl, (const unsigned char *)data, len);
        if (rc < 0) {
            kp_close(k);
            return;
        }
        data += rc;
        len -= (size_t)rc;
    }
}

static void kp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void kp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void kp_drive(kproxy_t *k);

/* ---- splicing ------------------------------------------------------------------------------- */

static void client_data(void *ud, const char *data, size_t len)
{
    kproxy_t *k = ud;
    kp_write(k, data, len);
    if (!k->closing && k->c && uv_stream_get_write_queue_size((uv_stream_t *)&k->tcp) > PAUSE_ABOVE)
        apiserver__conn_read_pause(k->c, true);
}

static void client_drained(void *ud)
{
    kproxy_t *k = ud;
    if (k->paused && !k->closing && k->c && apiserver__conn_pending(k->c) < PAUSE_ABOVE / 2) {
        k->paused = false;
        uv_read_start((uv_stream_t *)&k->tcp, kp_alloc, kp_read);
        kp_drive(k); /* records mbedTLS already holds */
    }
}

/* The kubelet's response head: the status for the metrics, and `Connection: close` added to
 * plain responses (the client connection ends with the kubelet's). */
static int head_complete(kproxy_t *k, util_buf_t *out)
{
    char *end = strstr(k->head.data, "\r\n\r\n");
    if (!end)
        return k->head.len > MAX_RESPONSE_HEAD ? -1 : 0;
    int status = 0;
    if (sscanf(k->head.data, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    size_t hl = (size_t)(end - k->head.data) + 2;
    util_buf_append(out, k->head.data, hl);
    if (status != 101)
        util_buf_puts(out, "Connection: close\r\n");
    util_buf_append(out, k->head.data + hl, k->head.len - hl);
    k->head_seen = true;
    k->tunneled = true;
    apiserver__conn_tunnel(k->c, status, client_data, client_drained, k);
    return 1;
}

static void kubelet_plaintext(kproxy_t *k, const char *data, size_t len)
{
    if (!k->c)
        return;
    if (k->head_seen) {
        apiserver__conn_tunnel_write(k->c, data, len);
        return;
    }
    util_buf_append(&k->head, data, len);
    util_buf_t out = {0};
    int r = head_complete(k, &out);
    if (r < 0)
        kp_fail(k, "error reading the kubelet's answer: %s", "malformed response");
    else if (r > 0 && k->c)
        apiserver__conn_tunnel_write(k->c, out.data, out.len);
    util_buf_free(&out);
}

static void kp_drive(kproxy_t *k)
{
    if (!k->handshake_done) {
        int rc = mbedtls_ssl_handshake(&k->ssl);
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
            return;
        if (rc != 0) {
            char msg[160];
            mbedtls_strerror(rc, msg, sizeof(msg));
            kp_fail(k, "error dialing backend: tls: %s", msg);
            return;
        }
        k->handshake_done = true;
        uv_timer_stop(&k->timer);
        kp_write(k, k->request.data, k->request.len);
        util_buf_free(&k->request);
    }
    unsigned char buf[16384];
    while (!k->closing && !k->paused) {
        int rc = mbedtls_ssl_read(&k->ssl, buf, sizeof(buf));
        if (rc > 0) {
            kubelet_plaintext(k, (const char *)buf, (size_t)rc);
            if (k->c && k->tunneled && apiserver__conn_pending(k->c) > PAUSE_ABOVE) {
                k->paused = true;
                uv_read_stop((uv_stream_t *)&k->tcp);
            }
            continue;
        }
        if (rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
            continue; /* TLS 1.3 tickets (Go kubelets send them); more may be buffered */
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
            return;
        if (!k->head_seen)
            kp_fail(k, "error reading the kubelet's answer: %s", "connection closed");
        else
            kp_close(k); /* the kubelet finished: so does the client connection */
        return;
    }
}

static void kp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    kproxy_t *k = h->data;
    (void)suggested;
    util_buf_reserve(&k->in, 16384);
    buf->base = k->in.data + k->in.len;
    buf->len = 16384;
}

static void kp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    kproxy_t *k = s->data;
    (void)buf;
    if (n < 0) {
        if (!k->head_seen)
            kp_fail(k, "error reading the kubelet's answer: %s", uv_strerror((int)n));
        else
            kp_close(k);
        return;
    }
    k->in.len += (size_t)n;
    kp_drive(k);
}

static void kp_connected(uv_connect_t *req, int status)
{
    kproxy_t *k = req->data;
    if (k->closing)
        return;
    if (status < 0) {
        char detail[200];
        snprintf(detail, sizeof(detail), "dial tcp %s: connect: %s", k->target,
                 status == UV_ECONNREFUSED ? "connection refused" : uv_strerror(status));
        if (k->upgrade) {
            kp_fail(k, "error dialing backend: %s", detail);
        } else { /* upstream's plain proxy reports the Go client error */
            char msg[800];
            snprintf(msg, sizeof(msg), "Get \"%s\": %s", k->url, detail);
            kp_fail(k, "%s", msg);
        }
        return;
    }
    uv_read_start((uv_stream_t *)&k->tcp, kp_alloc, kp_read);
    kp_drive(k);
}

static void kp_timeout(uv_timer_t *t)
{
    kproxy_t *k = t->data;
    char detail[120];
    snprintf(detail, sizeof(detail), "dial tcp %s: i/o timeout", k->target);
    kp_fail(k, "error dialing backend: %s", detail);
}

/* ---- the request ---------------------------------------------------------------------------- */

static bool hop_by_hop(const char *name, bool upgrade)
{
    static const char *const drop[] = {"host",
                                       "authorization",
                                       "content-length",
                                       "transfer-encoding",
                                       "proxy-connection",
                                       "keep-alive",
                                       "te",
                                       "trailer",
                                       "x-forwarded-for"};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(drop); i++)
        if (!strcmp(name, drop[i]))
            return true;
    if (!upgrade && (!strcmp(name, "connection") || !strcmp(name, "upgrade")))
        return true;
    return util_str_has_prefix(name, "impersonate-");
}

/* The kubelet's query: exec/attach flags renamed as upstream's streamParams do (stdin ->
 * input, stdout -> output, stderr -> error), container moved into the path. */
static void kubelet_query(const char *q, bool rename, util_buf_t *b)
{
    static const char *const from[] = {"stdin", "stdout", "stderr"};
    static const char *const to[] = {"input", "output", "error"};
    bool first = true;
    for (const char *p = q; p && *p;) {
        const char *e = strchr(p, '&');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nl = eq ? (size_t)(eq - p) : len;
        bool skip = nl == 9 && !strncmp(p, "container", 9);
        const char *name = NULL;
        for (size_t i = 0; rename && i < 3; i++)
            if (nl == strlen(from[i]) && !strncmp(p, from[i], nl))
                name = to[i];
        if (name) {
            char v[8] = "";
            if (eq)
                snprintf(v, sizeof(v), "%.*s", (int)(len - nl - 1 < 7 ? len - nl - 1 : 7), eq + 1);
            bool on = false;
            skip = util_parse_bool(v, &on) < 0 || !on;
            if (!skip)
                util_buf_printf(b, "%s%s=1", first ? "?" : "&", name);
        } else if (!skip && len) {
            util_buf_printf(b, "%s%.*s", first ? "?" : "&", (int)len, p);
        }
        if (!skip && len)
            first = false;
        p = e ? e + 1 : NULL;
    }
}

/* The kubelet path for the subresource; container already validated. */
static void kubelet_path(const apiserver_target_t *t, const char *container, const char *query,
                         util_buf_t *b)
{
    if (!strcmp(t->sub, "portforward")) {
        util_buf_printf(b, "/portForward/%s/%s", t->ns, t->name);
        kubelet_query(query, false, b);
        return;
    }
    const char *kind = !strcmp(t->sub, "log") ? "containerLogs" : t->sub;
    util_buf_printf(b, "/%s/%s/%s/%s", kind, t->ns, t->name, container);
    kubelet_query(query, strcmp(t->sub, "log") != 0, b);
}

static void build_request(kproxy_t *k, const apiserver_conn_t *c, const char *path)
{
    const apiserver_request_t *r = &c->req;
    util_buf_printf(&k->request, "%s %s HTTP/1.1\r\nHost: %s\r\n", r->method, path, k->target);
    for (size_t i = 0; i < r->nheaders; i++)
        if (!hop_by_hop(r->headers[i].name, k->upgrade))
            util_buf_printf(&k->request, "%s: %s\r\n", r->headers[i].name, r->headers[i].value);
    if (!k->upgrade)
        util_buf_puts(&k->request, "Connection: close\r\n");
    util_buf_printf(&k->request, "X-Forwarded-For: %s\r\n", c->peer);
    if (r->body.len)
        util_buf_printf(&k->request, "Content-Length: %zu\r\n", r->body.len);
    util_buf_puts(&k->request, "\r\n");
    util_buf_append(&k->request, r->body.data, r->body.len);
}

/* ---- pod and node ------------------------------------------------------------------------- */

/* The container the request names (or the pod's only one); answers 400 and returns NULL. */
static const char *pick_container(apiserver_conn_t *c, const cJSON *pod, const char *name,
                                  char *buf, size_t n)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
    const char *lists[] = {"containers", "initContainers", "ephemeralContainers"};
    util_buf_t all = {0};
    int count = 0;
    bool found = false;
    for (size_t l = 0; l < 3; l++) {
        const cJSON *ct;
        cJSON_ArrayForEach(ct, cJSON_GetObjectItemCaseSensitive(spec, lists[l]))
        {
            const char *cn = apiserver_obj_string(ct, "name");
            if (!cn)
                continue;
            if (l == 0) {
                util_buf_printf(&all, "%s%s", count ? " " : "", cn);
                if (!count)
                    util_strlcpy(buf, cn, n);
                count++;
            }
            if (name[0] && !strcmp(cn, name))
                found = true;
        }
    }
    char msg[1024];
    const char *pn =
        apiserver_obj_string(cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "name");
    if (name[0] && !found) {
        snprintf(msg, sizeof(msg), "container %s is not valid for pod %s", name, pn ? pn : "");
    } else if (!name[0] && count != 1) {
        snprintf(msg, sizeof(msg),
                 "a container name must be specified for pod %s, choose one of: [%s]", pn ? pn : "",
                 all.data ? all.data : "");
    } else {
        util_buf_free(&all);
        if (name[0])
            util_strlcpy(buf, name, n);
        return buf;
    }
    util_buf_free(&all);
    apiserver_status_bad_request(c, msg);
    return NULL;
}

/* The node's kubelet address (InternalIP, else ExternalIP) and port; answers on failure. */
static int node_endpoint(apiserver_conn_t *c, const char *node, char *ip, size_t n, int *port)
{
    apiserver_target_t nt = {.res = apiserver_resource_find("", "v1", "nodes")};
    util_strlcpy(nt.name, node, sizeof(nt.name));
    store_kv_t *kv = nt.res ? apiserver_reg_read_current(c, &nt) : NULL;
    if (!kv)
        return -1;
    cJSON *obj = cJSON_ParseWithLength(kv->value, kv->value_len);
    free(kv);
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(obj, "status");
    static const char *const prefer[] = {"InternalIP", "ExternalIP"};
    ip[0] = '\0';
    for (size_t p = 0; p < 2 && !ip[0]; p++) {
        const cJSON *a;
        cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(status, "addresses"))
        {
            const char *type = apiserver_obj_string(a, "type");
            const char *addr = apiserver_obj_string(a, "address");
            if (type && addr && !strcmp(type, prefer[p]) && !ip[0])
                util_strlcpy(ip, addr, n);
        }
    }
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(status, "daemonEndpoints"), "kubeletEndpoint"),
        "Port");
    *port = cJSON_IsNumber(ep) && ep->valuedouble >= 1 && ep->valuedouble <= 65535
                ? (int)ep->valuedouble
                : 10250;
    cJSON_Delete(obj);
    if (!ip[0]) {
        apiserver__respond_status(c, 500, "InternalError",
                                  "no preferred addresses found; known addresses: []");
        return -1;
    }
    return 0;
}

static int kp_dial(kproxy_t *k, apiserver_conn_t *c, const char *ip, int port)
{
    struct sockaddr_storage sa;
    if (uv_ip4_addr(ip, port, (struct sockaddr_in *)&sa) != 0 &&
        uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&sa) != 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "error dialing backend: address %s is not an IP", ip);
        apiserver__respond_status(c, 500, "InternalError", msg);
        return -1;
    }
    uv_loop_t *loop = c->srv->opts.loop;
    uv_tcp_init(loop, &k->tcp);
    uv_timer_init(loop, &k->timer);
    k->tcp.data = k->timer.data = k->connect.data = k;
    k->handles = 2;
    k->c = c;
    apiserver__conn_ref(c);
    c->on_close = on_client_closed;
    c->on_close_data = k;
    mbedtls_ssl_init(&k->ssl);
    k->ssl_ready = true;
    if (mbedtls_ssl_setup(&k->ssl, &c->srv->kubelet_tls) != 0 ||
        mbedtls_ssl_set_hostname(&k->ssl, ip) != 0)
        return 1; /* the caller answers through kp_fail */
    mbedtls_ssl_set_bio(&k->ssl, k, kp_bio_send, kp_bio_recv, NULL);
    uv_timer_start(&k->timer, kp_timeout, DIAL_TIMEOUT_MS, 0);
    int rc = uv_tcp_connect(&k->connect, &k->tcp, (struct sockaddr *)&sa, kp_connected);
    if (rc < 0)
        return 1;
    return 0;
}

void apiserver__kubelet_proxy(apiserver_conn_t *c, const apiserver_target_t *t)
{
    const char *m = c->req.method;
    bool is_log = !strcmp(t->sub, "log");
    if (is_log ? strcmp(m, "GET") : strcmp(m, "GET") && strcmp(m, "POST")) {
        apiserver__respond_status(c, 405, "MethodNotAllowed",
                                  "the server does not allow this method on the requested "
                                  "resource");
        return;
    }
    apiserver_target_t pt = *t;
    pt.sub[0] = '\0';
    store_kv_t *kv = apiserver_reg_read_current(c, &pt);
    if (!kv)
        return;
    cJSON *pod = cJSON_ParseWithLength(kv->value, kv->value_len);
    free(kv);
    const char *node =
        apiserver_obj_string(cJSON_GetObjectItemCaseSensitive(pod, "spec"), "nodeName");
    char want[254] = "", container[254] = "", ip[64];
    int port = 10250;
    apiserver_query_get(c->req.query, "container", want, sizeof(want));
    bool ok = true;
    if (!node || !node[0]) {
        char msg[400];
        snprintf(msg, sizeof(msg), "pod %s does not have a host assigned", t->name);
        apiserver_status_bad_request(c, msg);
        ok = false;
    }
    if (ok && strcmp(t->sub, "portforward"))
        ok = pick_container(c, pod, want, container, sizeof(container)) != NULL;
    if (ok)
        ok = node_endpoint(c, node, ip, sizeof(ip), &port) == 0;
    cJSON_Delete(pod);
    if (!ok)
        return;
    kproxy_t *k = util_xcalloc(1, sizeof(*k));
    const char *up = apiserver__header(&c->req, "upgrade");
    k->upgrade = up && up[0];
    if (strchr(ip, ':'))
        snprintf(k->target, sizeof(k->target), "[%s]:%d", ip, port);
    else
        snprintf(k->target, sizeof(k->target), "%s:%d", ip, port);
    util_buf_t path = {0};
    kubelet_path(t, container, c->req.query, &path);
    snprintf(k->url, sizeof(k->url), "https://%s%.400s", k->target, path.data);
    build_request(k, c, path.data);
    util_buf_free(&path);
    int r = kp_dial(k, c, ip, port);
    if (r < 0) {
        kp_free(k);
    } else if (r > 0) {
        kp_fail(k, "error dialing backend: %s", "cannot start the TLS client");
    }
    /* else: kp_connected goes on */
}
