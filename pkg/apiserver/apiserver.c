/* apiserver: start-up (PKI, TLS configuration, listener) and shutdown. */
#include "apiserver_quota.h"
#include "apiserver_internal.h"
#include "apiserver_crd.h"
#include "apiserver_list_cache.h"
#include "apiserver_metrics.h"
#include "apiserver_namespace.h"
#include "apiserver_pki.h"
#include "apiserver_priority.h"
#include "apiserver_token.h"
#include "apiserver_openapi.h"
#include "apiserver_registry.h"
#include "apiserver_services.h"
#include "apiserver_tlsfront.h"

#include <errno.h>
#include <psa/crypto.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/error.h>

void apiserver_opts_default(apiserver_opts_t *o)
{
    *o = (apiserver_opts_t){
        .bind_address = "0.0.0.0",
        .port = 6443,
        .max_inflight = 400,
        .max_body_bytes = 3u << 20,
        .max_header_bytes = 1u << 20,
        .max_connections = 4096,
        .handshake_timeout_ms = 10 * 1000,
        .header_timeout_ms = 10 * 1000,
        .body_timeout_ms = 60 * 1000,
        .idle_timeout_ms = 90 * 1000,
        .tls_threads = 0,
    };
}

static int tls_error(util_error_t *err, int rc, const char *what)
{
    char buf[128];
    mbedtls_strerror(rc, buf, sizeof(buf));
    return util_error_make(err, EPROTO, "apiserver: %s: %s (-0x%04x)", what, buf, (unsigned)-rc);
}

/* AEAD suites only: TLS 1.3's three, and ECDHE-ECDSA with GCM or ChaCha20 for TLS 1.2. */
static const int aead_suites[] = {
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

static const char *alpn[] = {"http/1.1", NULL};

static int tls_setup(apiserver_t *a, const apiserver_pki_t *pki, util_error_t *err)
{
    int rc;
    if (psa_crypto_init() != PSA_SUCCESS)
        return util_error_make(err, EIO, "apiserver: PSA crypto initialisation failed");
    if ((rc = mbedtls_ctr_drbg_seed(&a->drbg, mbedtls_entropy_func, &a->entropy,
                                    (const unsigned char *)"kubeling-apiserver", 18)) != 0)
        return tls_error(err, rc, "seeding the random generator");
    if ((rc =
             mbedtls_x509_crt_parse(&a->serving_chain, (const unsigned char *)pki->serving_cert_pem,
                                    strlen(pki->serving_cert_pem) + 1)) != 0)
        return tls_error(err, rc, "parsing the serving certificate");
    if ((rc = mbedtls_pk_parse_key(&a->serving_key, (const unsigned char *)pki->serving_key_pem,
                                   strlen(pki->serving_key_pem) + 1, NULL, 0,
                                   mbedtls_ctr_drbg_random, &a->drbg)) != 0)
        return tls_error(err, rc, "parsing the serving key");
    if ((rc = mbedtls_x509_crt_parse(&a->client_ca, (const unsigned char *)pki->ca_cert_pem,
                                     strlen(pki->ca_cert_pem) + 1)) != 0)
        return tls_error(err, rc, "parsing the cluster CA");
    if ((rc = mbedtls_ssl_config_defaults(&a->tls, MBEDTLS_SSL_IS_SERVER,
                                          MBEDTLS_SSL_TRANSPORT_STREAM,
                                          MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
        return tls_error(err, rc, "TLS defaults");
    mbedtls_ssl_conf_rng(&a->tls, mbedtls_ctr_drbg_random, &a->drbg);
    mbedtls_ssl_conf_min_tls_version(&a->tls, MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_max_tls_version(&a->tls, MBEDTLS_SSL_VERSION_TLS1_3);
    mbedtls_ssl_conf_ciphersuites(&a->tls, aead_suites);
    /* Client certificates are optional: anonymous requests reach the few public paths. */
    mbedtls_ssl_conf_authmode(&a->tls, MBEDTLS_SSL_VERIFY_OPTIONAL);
    mbedtls_ssl_conf_ca_chain(&a->tls, &a->client_ca, NULL);
    if ((rc = mbedtls_ssl_conf_own_cert(&a->tls, &a->serving_chain, &a->serving_key)) != 0)
        return tls_error(err, rc, "installing the serving certificate");
    if ((rc = mbedtls_ssl_conf_alpn_protocols(&a->tls, alpn)) != 0)
        return tls_error(err, rc, "ALPN");
    return apiserver__kubelet_tls_setup(a, pki->ca_cert_pem, pki->kubelet_client_cert_pem,
                                        pki->kubelet_client_key_pem, err);
}

static int listen_on(apiserver_t *a, util_error_t *err)
{
    struct sockaddr_storage addr;
    const char *host = a->opts.bind_address ? a->opts.bind_address : "0.0.0.0";
    if (uv_ip4_addr(host, a->opts.port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(host, a->opts.port, (struct sockaddr_in6 *)&addr) != 0)
        return util_error_make(err, EINVAL, "apiserver: bind address %s is not an IP address",
                               host);
    int rc = uv_tcp_init(a->opts.loop, &a->listener);
    if (rc < 0)
        return util_error_make(err, -rc, "apiserver: creating the listener");
    a->listener.data = a;
    a->pending_closes++;
    /* with a TLS front, its threads listen (on duplicates of this socket) */
    if ((rc = uv_tcp_bind(&a->listener, (struct sockaddr *)&addr, 0)) < 0 ||
        (!a->opts.tls_threads &&
         (rc = uv_listen((uv_stream_t *)&a->listener, 511, apiserver__on_connection)) < 0))
        return util_error_make(err, -rc, "apiserver: listening on %s:%d", host, a->opts.port);
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    if ((rc = uv_tcp_getsockname(&a->listener, (struct sockaddr *)&bound, &len)) < 0)
        return util_error_make(err, -rc, "apiserver: getsockname");
    a->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    return 0;
}

static void release(apiserver_t *a)
{
    mbedtls_ssl_config_free(&a->tls);
    mbedtls_x509_crt_free(&a->serving_chain);
    mbedtls_x509_crt_free(&a->client_ca);
    mbedtls_pk_free(&a->serving_key);
    mbedtls_ssl_config_free(&a->kubelet_tls);
    mbedtls_x509_crt_free(&a->kubelet_ca);
    mbedtls_x509_crt_free(&a->kubelet_crt);
    mbedtls_pk_free(&a->kubelet_key);
    free(a->kubelet_ca_pem);
    free(a->kubelet_cert_pem);
    if (a->kubelet_key_pem)
        mbedtls_platform_zeroize(a->kubelet_key_pem, strlen(a->kubelet_key_pem));
    free(a->kubelet_key_pem);
    mbedtls_ctr_drbg_free(&a->drbg);
    mbedtls_entropy_free(&a->entropy);
    apiserver_metrics_free(a->metrics);
    apiserver_watch_cache_free(a);
    apiserver_services_free(a);
    apiserver_openapi_free(a->openapi);
    apiserver_tokens_free(a);
    apiserver_crd_reset();
    apiserver_quota_free(a);
    apiserver_list_cache_free(a);
    apiserver__inproc_free(a);
    free(a);
}

static void front_handoff(void *ud, int fd, const char *user, const util_strv_t *groups,
                          const char *peer)
{
    apiserver__inproc_hand(ud, fd, user, groups, peer);
}

/* TLS on threads of their own, handing plaintext to the loop (apiserver_tlsfront.c). */
static int front_start(apiserver_t *a, util_error_t *err)
{
    if (!a->opts.tls_threads)
        return 0;
    if (apiserver__inproc_init(a) < 0)
        return util_error_make(err, ENOMEM, "apiserver: in-process transport");
    uv_os_fd_t fd;
    int rc = uv_fileno((uv_handle_t *)&a->listener, &fd);
    if (rc < 0)
        return util_error_make(err, -rc, "apiserver: listener");
    apiserver_front_opts_t fo = {
        .tls = &a->tls,
        .threads = a->opts.tls_threads,
        .max_connections = a->opts.max_connections,
        .handshake_timeout_ms = a->opts.handshake_timeout_ms,
        .stall_timeout_ms = a->opts.idle_timeout_ms,
        .listen_fd = fd,
        .handoff = front_handoff,
        .ud = a,
    };
    return apiserver_front_start(&fo, &a->front, err);
}

void apiserver__unref(apiserver_t *a)
{
    if (--a->pending_closes == 0 && a->stopping)
        release(a);
}

static void listener_closed(uv_handle_t *h)
{
    apiserver__unref(h->data);
}

int apiserver_start(const apiserver_opts_t *o, apiserver_t **ret, util_error_t *err)
{
    apiserver_t *a = util_xcalloc(1, sizeof(*a));
    a->opts = *o;
    a->metrics = apiserver_metrics_new();
    mbedtls_entropy_init(&a->entropy);
    mbedtls_ctr_drbg_init(&a->drbg);
    mbedtls_ssl_config_init(&a->tls);
    mbedtls_x509_crt_init(&a->serving_chain);
    mbedtls_x509_crt_init(&a->client_ca);
    mbedtls_pk_init(&a->serving_key);
    mbedtls_ssl_config_init(&a->kubelet_tls);
    mbedtls_x509_crt_init(&a->kubelet_ca);
    mbedtls_x509_crt_init(&a->kubelet_crt);
    mbedtls_pk_init(&a->kubelet_key);
    int r = listen_on(a, err);
    if (r == 0) {
        char url[96];
        snprintf(url, sizeof(url), "https://127.0.0.1:%d", a->port);
        apiserver_pki_opts_t po = {.data_dir = o->data_dir,
                                   .tls_sans = o->tls_sans,
                                   .n_tls_sans = o->n_tls_sans,
                                   .kubeconfig_server = url,
                                   .write_kubeconfig = o->write_kubeconfig,
                                   .write_kubeconfig_mode = o->write_kubeconfig_mode};
        apiserver_pki_t pki = {0};
        r = apiserver_pki_ensure(&po, &pki, err);
        if (r == 0)
            r = tls_setup(a, &pki, err);
        if (r == 0)
            r = apiserver_tokens_init(a, pki.service_key_pem, err);
        if (r == 0)
            r = apiserver_services_init(a, o->service_cidr, err);
        if (r == 0 && o->store)
            r = apiserver_registry_bootstrap(a, err);
        if (r == 0 && o->store)
            r = apiserver_services_bootstrap(a, err);
        if (r == 0 && o->store)
            r = apiserver_priority_bootstrap(a, err);
        if (r == 0 && o->store)
            r = apiserver_crd_start(a, err); /* serve the established CRDs */
        if (r == 0 && o->store)
            r = apiserver_namespace_init(a, err);
        if (r == 0 && o->store)
            r = apiserver_quota_start(a, err); /* ResourceQuota status upkeep */
        if (r == 0)
            r = front_start(a, err); /* last: nothing after it can fail */
        apiserver_pki_free(&pki);
    }
    if (r < 0) {
        a->stopping = true;
        apiserver_namespace_stop(a);
        apiserver_quota_stop(a);
        apiserver__inproc_stop(a);
        if (a->pending_closes)
            uv_close((uv_handle_t *)&a->listener, listener_closed);
        else
            release(a);
        return r;
    }
    util_log_info("apiserver: serving HTTPS on %s:%d (TLS on %s)", o->bind_address, a->port,
                  o->tls_threads ? "threads of its own" : "the loop");
    *ret = a;
    return 0;
}

int apiserver_port(const apiserver_t *a)
{
    return a->port;
}

int apiserver_node_kubeconfig(const apiserver_t *a, const char *node_name, const char *path,
                              util_error_t *err)
{
    char url[96];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", a->port);
    return apiserver_pki_node_kubeconfig(a->opts.data_dir, node_name, url, path, err);
}

int apiserver_kubelet_serving_cert(const apiserver_t *a, const char *node_name, const char *node_ip,
                                   char *ret_base, size_t base_len, util_error_t *err)
{
    return apiserver_pki_kubelet_serving(a->opts.data_dir, node_name, node_ip, ret_base, base_len,
                                         err);
}

void apiserver_stop(apiserver_t *a)
{
    if (!a || a->stopping)
        return;
    a->stopping = true;
    apiserver_namespace_stop(a);
    apiserver_quota_stop(a);
    apiserver_list_cache_stop(a);
    apiserver_crd_stop(a);
    apiserver_front_stop(a->front); /* joins its threads: no more hand-overs */
    a->front = NULL;
    apiserver__inproc_stop(a);
    while (a->conns)
        apiserver__conn_close(a->conns);
    uv_close((uv_handle_t *)&a->listener, listener_closed);
}
