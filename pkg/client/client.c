/* client: the client object, request handles and the typed verbs (get, list, create, update,
 * patch, delete, watch); TLS configuration from the kubeconfig. */
#include "client_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/error.h>
#include <psa/crypto.h>

const client_resource_t CLIENT_RES_NODES = {"", "v1", "nodes", false};
const client_resource_t CLIENT_RES_LEASES = {"coordination.k8s.io", "v1", "leases", true};
const client_resource_t CLIENT_RES_PODS = {"", "v1", "pods", true};
const client_resource_t CLIENT_RES_NAMESPACES = {"", "v1", "namespaces", false};

void client_opts_default(client_opts_t *o)
{
    *o = (client_opts_t){
        .user_agent = "kubeling",
        .max_conns = 4,
        .request_timeout_ms = 30 * 1000,
        .max_response_bytes = 64u << 20,
    };
}

/* ---- TLS configuration ---------------------------------------------------------------------- */

static int tls_error(util_error_t *err, int rc, const char *what)
{
    char buf[128];
    mbedtls_strerror(rc, buf, sizeof(buf));
    return util_error_make(err, EPROTO, "client: %s: %s (-0x%04x)", what, buf, (unsigned)-rc);
}

static int tls_setup(client_t *c, util_error_t *err)
{
    const client_config_t *cfg = &c->cfg;
    int rc;
    if (psa_crypto_init() != PSA_SUCCESS)
        return util_error_make(err, EIO, "client: PSA crypto initialisation failed");
    if ((rc = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy,
                                    (const unsigned char *)"kubeling-client", 15)) != 0)
        return tls_error(err, rc, "seeding the random generator");
    if ((rc = mbedtls_ssl_config_defaults(&c->tls, MBEDTLS_SSL_IS_CLIENT,
                                          MBEDTLS_SSL_TRANSPORT_STREAM,
                                          MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
        return tls_error(err, rc, "TLS defaults");
    mbedtls_ssl_conf_rng(&c->tls, mbedtls_ctr_drbg_random, &c->drbg);
    mbedtls_ssl_conf_min_tls_version(&c->tls, MBEDTLS_SSL_VERSION_TLS1_2);
    if (cfg->ca_pem) {
        if ((rc = mbedtls_x509_crt_parse(&c->ca, (const unsigned char *)cfg->ca_pem,
                                         strlen(cfg->ca_pem) + 1)) != 0)
            return tls_error(err, rc, "parsing the cluster CA");
        mbedtls_ssl_conf_ca_chain(&c->tls, &c->ca, NULL);
    }
    mbedtls_ssl_conf_authmode(&c->tls, cfg->insecure ? MBEDTLS_SSL_VERIFY_NONE
                                                     : MBEDTLS_SSL_VERIFY_REQUIRED);
    if (cfg->cert_pem) {
        if ((rc = mbedtls_x509_crt_parse(&c->cert, (const unsigned char *)cfg->cert_pem,
                                         strlen(cfg->cert_pem) + 1)) != 0)
            return tls_error(err, rc, "parsing the client certificate");
        if ((rc = mbedtls_pk_parse_key(&c->key, (const unsigned char *)cfg->key_pem,
                                       strlen(cfg->key_pem) + 1, NULL, 0, mbedtls_ctr_drbg_random,
                                       &c->drbg)) != 0)
            return tls_error(err, rc, "parsing the client key");
        if ((rc = mbedtls_ssl_conf_own_cert(&c->tls, &c->cert, &c->key)) != 0)
            return tls_error(err, rc, "installing the client certificate");
    }
    static const char *alpn[] = {"http/1.1", NULL};
    if ((rc = mbedtls_ssl_conf_alpn_protocols(&c->tls, alpn)) != 0)
        return tls_error(err, rc, "ALPN");
    return 0;
}

/* ---- the client object ---------------------------------------------------------------------- */

static void client_free(client_t *c)
{
    mbedtls_ssl_config_free(&c->tls);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_x509_crt_free(&c->cert);
    mbedtls_pk_free(&c->key);
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
    client_config_free(&c->cfg);
    free(c->user_agent);
    free(c->host_header);
    free(c);
}

void client__release(client_t *c)
{
    if (--c->alive == 0 && c->closing)
        client_free(c);
}

static void copy_config(client_config_t *dst, const client_config_t *src)
{
    *dst = (client_config_t){
        .server = src->server ? util_xstrdup(src->server) : NULL,
        .host = util_xstrdup(src->host ? src->host : ""),
        .port = src->port,
        .ca_pem = src->ca_pem ? util_xstrdup(src->ca_pem) : NULL,
        .cert_pem = src->cert_pem ? util_xstrdup(src->cert_pem) : NULL,
        .key_pem = src->key_pem ? util_xstrdup(src->key_pem) : NULL,
        .token = src->token ? util_xstrdup(src->token) : NULL,
        .insecure = src->insecure,
        .connect = src->connect,
        .connect_ud = src->connect_ud,
    };
}

static void on_defer_closed(uv_handle_t *h)
{
    client__release(h->data);
}

int client_new(const client_opts_t *o, client_t **ret, util_error_t *err)
{
    if (!o->loop || !o->config || !o->config->host || !o->config->port)
        return util_error_make(err, EINVAL, "client: loop and server are required");
    if (!o->config->ca_pem && !o->config->insecure && !o->config->connect)
        return util_error_make(err, EINVAL, "client: no certificate authority for the server");
    client_t *c = util_xcalloc(1, sizeof(*c));
    c->loop = o->loop;
    copy_config(&c->cfg, o->config);
    c->user_agent = util_xstrdup(o->user_agent ? o->user_agent : "kubeling");
    c->host_header = strchr(c->cfg.host, ':')
                         ? util_strdup_printf("[%s]:%d", c->cfg.host, c->cfg.port)
                         : util_strdup_printf("%s:%d", c->cfg.host, c->cfg.port);
    c->max_conns = o->max_conns ? o->max_conns : 4;
    c->timeout_ms = o->request_timeout_ms ? o->request_timeout_ms : 30 * 1000;
    c->max_response = o->max_response_bytes ? o->max_response_bytes : 64u << 20;
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    mbedtls_ssl_config_init(&c->tls);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_x509_crt_init(&c->cert);
    mbedtls_pk_init(&c->key);
    int r = tls_setup(c, err);
    if (r < 0) {
        client_free(c);
        return r;
    }
    uv_timer_init(c->loop, &c->defer_timer);
    c->defer_timer.data = c;
    c->alive = 1;
    *ret = c;
    return 0;
}

void client_close(client_t *c)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    while (c->queue) {
        client_req_t *r = c->queue;
        c->queue = r->next;
        r->next = NULL;
        r->cancelled = true;
        client__req_finish(r, -ECANCELED);
    }
    c->queue_tail = NULL;
    while (c->deferred) {
        client_req_t *r = c->deferred;
        c->deferred = r->next;
        r->next = NULL;
        r->cancelled = true;
        client__req_finish(r, -ECANCELED);
    }
    while (c->conns) {
        if (c->conns->req)
            c->conns->req->cancelled = true;
        client__conn_close(c->conns, -ECANCELED);
    }
    uv_close((uv_handle_t *)&c->defer_timer, on_defer_closed);
}

/* ---- requests ------------------------------------------------------------------------------- */

void client__req_unref(client_req_t *r)
{
    if (--r->refs > 0)
        return;
    free(r->method);
    free(r->path);
    free(r->content_type);
    free(r->body);
    util_buf_free(&r->resp);
    util_buf_free(&r->raw);
    util_buf_free(&r->lines);
    free(r);
}

/* Failures found while the request is being submitted are reported from the loop, so that a
 * callback never runs before the caller has the request's handle. */
static void on_defer(uv_timer_t *t)
{
    client_t *c = t->data;
    while (c->deferred) {
        client_req_t *r = c->deferred;
        c->deferred = r->next;
        r->next = NULL;
        client__req_finish(r, r->deferred_error);
    }
}

static void report(client_req_t *r, int error)
{
    client_result_t res = {.status = error ? 0 : r->status, .error = error};
    if (!error && r->resp.len)
        res.body = cJSON_ParseWithLength(r->resp.data, r->resp.len);
    if (error) {
        char buf[512];
        res.st.code = 0;
        res.st.reason = util_xstrdup("ConnectionError");
        snprintf(buf, sizeof(buf), "%s: %s", r->cl->cfg.server ? r->cl->cfg.server : "server",
                 r->detail[0] ? r->detail : uv_strerror(error));
        res.st.message = util_xstrdup(buf);
    } else if (r->status < 200 || r->status > 299) {
        client_status_decode(r->resp.data, r->resp.len, r->status, &res.st);
    }
    if (r->watch)
        r->on_end(r->ud, &res);
    else
        r->cb(r->ud, &res);
    cJSON_Delete(res.body);
    client_status_free(&res.st);
}

void client__req_finish(client_req_t *r, int error)
{
    if (r->finished)
        return;
    if (r->submitting && !r->cancelled) {
        client_t *c = r->cl;
        r->deferred_error = error;
        r->next = c->deferred;
        c->deferred = r;
        uv_timer_start(&c->defer_timer, on_defer, 0, 0);
        return;
    }
    r->finished = true;
    if (!r->cancelled)
        report(r, error);
    client__req_unref(r);
}

void client_req_cancel(client_req_t *r)
{
    if (!r || r->cancelled || r->finished)
        return;
    r->cancelled = true;
    client_t *c = r->cl;
    for (client_req_t **p = &c->queue, *prev = NULL; *p; prev = *p, p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            if (c->queue_tail == r)
                c->queue_tail = prev;
            r->next = NULL;
            client__req_finish(r, -ECANCELED);
            return;
        }
    }
    if (r->conn)
        client__conn_close(r->conn, -ECANCELED);
    /* a deferred request is finished (silently) by on_defer */
}

static client_req_t *submit(client_t *c, const char *method, const char *path,
                            const char *content_type, const char *body, size_t len)
{
    client_req_t *r = util_xcalloc(1, sizeof(*r));
    r->cl = c;
    r->refs = 1;
    r->method = util_xstrdup(method);
    r->path = util_xstrdup(path);
    if (body) {
        r->content_type = util_xstrdup(content_type ? content_type : "application/json");
        r->body = util_xmalloc(len + 1);
        memcpy(r->body, body, len);
        r->body[len] = '\0';
        r->body_len = len;
    }
    return r;
}

static client_req_t *start(client_t *c, client_req_t *r)
{
    r->submitting = true;
    client__submit(c, r);
    r->submitting = false;
    return r;
}

client_req_t *client_request(client_t *c, const char *method, const char *path,
                             const char *content_type, const char *body, size_t len, client_cb cb,
                             void *ud)
{
    if (!c || c->closing || !path || path[0] != '/')
        return NULL;
    client_req_t *r = submit(c, method, path, content_type, body, len);
    r->cb = cb;
    r->ud = ud;
    return start(c, r);
}

client_req_t *client_watch(client_t *c, const char *path, client_event_cb on_event,
                           client_watch_end_cb on_end, void *ud)
{
    if (!c || c->closing || !path || path[0] != '/')
        return NULL;
    client_req_t *r = submit(c, "GET", path, NULL, NULL, 0);
    r->watch = true;
    r->on_event = on_event;
    r->on_end = on_end;
    r->ud = ud;
    return start(c, r);
}

/* ---- typed verbs ---------------------------------------------------------------------------- */

static client_req_t *send_json(client_t *c, const char *method, util_buf_t *path,
                               const char *content_type, const cJSON *obj, client_cb cb, void *ud)
{
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    client_req_t *r = NULL;
    if (!obj || text)
        r = client_request(c, method, path->data, content_type, text, text ? strlen(text) : 0, cb,
                           ud);
    cJSON_free(text);
    util_buf_free(path);
    return r;
}

client_req_t *client_get(client_t *c, const client_resource_t *r, const char *ns, const char *name,
                         client_cb cb, void *ud)
{
    util_buf_t p = {0};
    if (!name || client_path(&p, r, ns, name, NULL) < 0) {
        util_buf_free(&p);
        return NULL;
    }
    return send_json(c, "GET", &p, NULL, NULL, cb, ud);
}

client_req_t *client_list(client_t *c, const client_resource_t *r, const char *ns,
                          const char *query, client_cb cb, void *ud)
{
    util_buf_t p = {0};
    if (client_path(&p, r, ns, NULL, NULL) < 0) {
        util_buf_free(&p);
        return NULL;
    }
    if (query && *query)
        util_buf_printf(&p, "?%s", query);
    return send_json(c, "GET", &p, NULL, NULL, cb, ud);
}

static const char *meta_str(const cJSON *obj, const char *key)
{
    return cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), key));
}

client_req_t *client_create(client_t *c, const client_resource_t *r, const char *ns,
                            const cJSON *obj, client_cb cb, void *ud)
{
    util_buf_t p = {0};
    if (!obj || client_path(&p, r, ns ? ns : meta_str(obj, "namespace"), NULL, NULL) < 0) {
        util_buf_free(&p);
        return NULL;
    }
    return send_json(c, "POST", &p, "application/json", obj, cb, ud);
}

client_req_t *client_update(client_t *c, const client_resource_t *r, const char *sub,
                            const cJSON *obj, client_cb cb, void *ud)
{
    util_buf_t p = {0};
    const char *name = obj ? meta_str(obj, "name") : NULL;
    if (!name || client_path(&p, r, meta_str(obj, "namespace"), name, sub) < 0) {
        util_buf_free(&p);
        return NULL;
    }
    return send_json(c, "PUT", &p, "application/json", obj, cb, ud);
}

client_req_t *client_patch(client_t *c, const client_resource_t *r, const char *ns,
                           const char *name, const char *sub, client_patch_t type,
                           const cJSON *patch, client_cb cb, void *ud)
{
    static const char *const types[] = {
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
        "application/apply-patch+yaml",
    };
    util_buf_t p = {0};
    if (!name || !patch || (unsigned)type >= UTIL_ARRAY_SIZE(types) ||
        client_path(&p, r, ns, name, sub) < 0) {
        util_buf_free(&p);
        return NULL;
    }
    if (type == CLIENT_PATCH_APPLY) {
        char manager[128];
        snprintf(manager, sizeof(manager), "%.*s", (int)strcspn(c->user_agent, "/ "),
                 c->user_agent);
        client_query_add(&p, "fieldManager", manager);
        client_query_add(&p, "force", "true");
    }
    return send_json(c, "PATCH", &p, types[type], patch, cb, ud);
}

client_req_t *client_delete(client_t *c, const client_resource_t *r, const char *ns,
                            const char *name, client_cb cb, void *ud)
{
    util_buf_t p = {0};
    if (!name || client_path(&p, r, ns, name, NULL) < 0) {
        util_buf_free(&p);
        return NULL;
    }
    return send_json(c, "DELETE", &p, NULL, NULL, cb, ud);
}
