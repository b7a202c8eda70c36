/* apiserver_internal: types shared by the apiserver's files (not part of the interface). */
#ifndef KUBELING_APISERVER_INTERNAL_H
#define KUBELING_APISERVER_INTERNAL_H

#include "apiserver.h"

#include <llhttp.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

typedef struct apiserver_conn apiserver_conn_t;
typedef struct apiserver_services apiserver_services_t;
struct apiserver_openapi;

struct apiserver {
    apiserver_opts_t opts;
    uv_tcp_t listener;
    int port;
    bool stopping;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config tls;
    mbedtls_x509_crt serving_chain, client_ca;
    mbedtls_pk_context serving_key;
    struct apiserver_metrics *metrics;
    struct apiserver_watch_cache *watch_cache; /* apiserver_watch.c */
    struct apiserver_services *services;       /* apiserver_services.c */
    apiserver_conn_t *conns;                   /* doubly linked */
    unsigned nconns, inflight;
    int pending_closes;                      /* handles still closing; freed when 0 after stop */
    struct apiserver_openapi *openapi;       /* rendered on first use (apiserver_openapi.c) */
    unsigned openapi_crd_generation;         /* the CRD set it was rendered for */
    struct apiserver_tokens *tokens;         /* service account token key (apiserver_token.c) */
    struct apiserver_nsfin *nsfin;           /* terminating namespaces (apiserver_namespace.c) */
    struct apiserver_quota *quota;           /* quota ledger and status watch (apiserver_quota.c) */
    struct apiserver_list_cache *list_cache; /* rendered lists (apiserver_list_cache.c) */
    struct apiserver_inproc_state *inproc;   /* in-process transport (apiserver_inproc.c) */
    struct apiserver_front *front;           /* TLS front threads (apiserver_tlsfront.c) */
    /* TLS client towards kubelets (apiserver_proxy.c) */
    mbedtls_ssl_config kubelet_tls;
    mbedtls_x509_crt kubelet_ca, kubelet_crt;
    mbedtls_pk_context kubelet_key;
    char *kubelet_ca_pem, *kubelet_cert_pem, *kubelet_key_pem; /* the same, for pkg/client */
};

/* The authenticated user of a connection (from its client certificate). */
typedef struct apiserver_user {
    char *name;         /* NULL: anonymous */
    util_strv_t groups; /* O= values, plus system:authenticated */
} apiserver_user_t;

typedef struct apiserver_header {
    char *name; /* lower case */
    char *value;
} apiserver_header_t;

typedef struct apiserver_request {
    const char *method;
    util_buf_t url; /* path and query as sent */
    char *path;     /* decoded path without the query */
    char *query;    /* raw query without '?', or "" */
    apiserver_header_t *headers;
    size_t nheaders;
    util_buf_t body;
    size_t header_bytes;
    util_buf_t field, value; /* header being parsed */
    bool in_value;
    int early_status;  /* 413 / 431 found while parsing: answer it and close */
    uint64_t start_ns; /* when the request was complete */
    const char *verb;  /* metrics verb (static), set by handlers */
    const struct apiserver_resource *resource; /* NULL: a non-resource path */
    const char *subresource;                   /* static or NULL */
    util_buf_t resp_headers;     /* header lines added to the response (Warning: ...) */
    apiserver_user_t token_user; /* from a bearer token when the connection has no cert */
    bool dry_run;                /* DeleteOptions.dryRun [All] inside a body (evictions) */
    bool answer_created;         /* answer success as a 201 Status (evictions, bindings) */
    unsigned conflict_retries;   /* a PATCH re-applied after losing a write race */
    struct apiserver_quota_charge *quota_charge; /* admitted usage, taken by the write */
} apiserver_request_t;

struct apiserver_conn {
    apiserver_t *srv;
    apiserver_conn_t *prev, *next;
    union { /* a TCP connection, or a socketpair end of the in-process transport */
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    };
    bool inproc; /* plain HTTP, user preset: apiserver_inproc.c (never a network client) */
    bool no_tls; /* no TLS here: inproc, or a network client whose TLS a front thread does */
    uv_timer_t timer;
    char peer[64];
    mbedtls_ssl_context ssl;
    bool handshake_done, closing, close_after_response;
    util_buf_t in; /* ciphertext received, not yet taken by mbedTLS */
    size_t in_off;
    util_buf_t plain; /* plaintext from TLS, not yet parsed */
    size_t plain_off;
    util_buf_t out_batch; /* ciphertext of a response being written, sent as one write */
    bool batching;
    llhttp_t parser;
    llhttp_settings_t settings;
    apiserver_request_t req;
    bool req_ready, in_message;
    apiserver_user_t user;
    int handles;      /* tcp + timer still open */
    int refs;         /* async work (store callbacks, watches) that still points here */
    bool busy;        /* a request is being answered; later requests wait */
    bool counted;     /* the request counts against max_inflight */
    bool dispatching; /* inside apiserver__dispatch */
    bool streaming;   /* a chunked response (watch) is open */
    /* Called once when the connection closes while a handler still holds it (cancel a
     * watch, drop a pending store callback's interest). */
    void (*on_close)(apiserver_conn_t *c, void *data);
    void *on_close_data;
    /* A tunnel (proxied upgrade or kubelet stream): plaintext goes to tunnel_data instead of
     * llhttp, tunnel_drained is called as the write queue empties. */
    bool tunnel, tunnel_paused, tunnel_draining;
    uv_shutdown_t tunnel_shutdown; /* ends a tunnel once queued bytes are written */
    void (*tunnel_data)(void *ud, const char *data, size_t len);
    void (*tunnel_drained)(void *ud);
    void *tunnel_ud;
};

/* apiserver_conn.c */
void apiserver__on_connection(uv_stream_t *listener, int status);
void apiserver__conn_close(apiserver_conn_t *c);
/* Sends a complete response; the connection then reads the next request (or closes). */
void apiserver__respond(apiserver_conn_t *c, int status, const char *content_type, const char *body,
                        size_t len, const char *extra_headers);
const char *apiserver__header(const apiserver_request_t *r, const char *name);
/* The same for a body in parts (sent without joining them); gzipped: the parts are a gzip
 * member (Content-Encoding: gzip). */
typedef struct apiserver_part {
    const char *data;
    size_t len;
} apiserver_part_t;
void apiserver__respond_parts(apiserver_conn_t *c, int status, const char *content_type,
                              const apiserver_part_t *parts, size_t n, const char *extra_headers,
                              bool gzipped);
/* The client accepts a gzip response (Accept-Encoding). */
bool apiserver__gzip_wanted(const apiserver_conn_t *c);
/* Async handlers hold a reference across callbacks; after unref, c may be gone. A closing
 * connection (c->closing) must not be answered. */
void apiserver__conn_ref(apiserver_conn_t *c);
void apiserver__conn_unref(apiserver_conn_t *c);
/* Chunked streaming responses (watch). */
void apiserver__stream_begin(apiserver_conn_t *c, int status, const char *content_type);
void apiserver__stream_write(apiserver_conn_t *c, const char *data, size_t len);
void apiserver__stream_end(apiserver_conn_t *c);

/* Hands the connection over to a byte tunnel: no more HTTP parsing, no timers, no inflight
 * slot; plaintext already received after the request is delivered at once. status is what
 * the metrics count for the request. */
void apiserver__conn_tunnel(apiserver_conn_t *c, int status,
                            void (*on_data)(void *ud, const char *data, size_t len),
                            void (*on_drained)(void *ud), void *ud);
void apiserver__conn_tunnel_write(apiserver_conn_t *c, const char *data, size_t len);
/* Bytes queued towards the client, not yet written to the socket. */
size_t apiserver__conn_pending(apiserver_conn_t *c);
/* Stops (or resumes) reading from the client: backpressure for a slow tunnel peer. */
void apiserver__conn_read_pause(apiserver_conn_t *c, bool pause);
/* Ends a tunnel: close_notify, then the connection closes. */
void apiserver__conn_tunnel_end(apiserver_conn_t *c);

/* Adopts fd (one end of a socketpair) as a plain HTTP/1.1 connection authenticated as user
 * with groups (copied; user NULL: anonymous) from peer; inproc: one of the server's own
 * components, else a network client from the TLS front. Closes fd on failure.
 * apiserver_inproc.c only. */
void apiserver__conn_adopt(apiserver_t *a, int fd, const char *user, const util_strv_t *groups,
                           const char *peer, bool inproc);
/* apiserver_inproc.c: the transport's state, made on the loop's thread (before the TLS
 * front starts); then, from any thread, a network client's plaintext end (fd, taken) with the
 * identity of its certificate (user NULL: anonymous) and its address. */
int apiserver__inproc_init(apiserver_t *a);
void apiserver__inproc_hand(apiserver_t *a, int fd, const char *user, const util_strv_t *groups,
                            const char *peer);

/* apiserver_inproc.c: refuses new connects and drops those not yet adopted (apiserver_stop);
 * releases the identities (when the apiserver is released). */
void apiserver__inproc_stop(apiserver_t *a);
void apiserver__inproc_free(apiserver_t *a);

/* apiserver_proxy.c: pods/exec, attach, portforward and log, proxied to the pod's kubelet. */
struct apiserver_target;
void apiserver__kubelet_proxy(apiserver_conn_t *c, const struct apiserver_target *t);
int apiserver__kubelet_tls_setup(apiserver_t *a, const char *ca_pem, const char *cert_pem,
                                 const char *key_pem, util_error_t *err);

/* apiserver.c: the server is released once stopped and every handle has closed. */
void apiserver__unref(apiserver_t *a);

/* apiserver_openapi.c: /openapi/v2 and /openapi/v3...; true when answered. */
bool apiserver__openapi(apiserver_conn_t *c, bool read);

/* apiserver_routes.c */
void apiserver__dispatch(apiserver_conn_t *c);
/* A Kubernetes Status object as the response (code, reason, message). */
void apiserver__respond_status(apiserver_conn_t *c, int code, const char *reason,
                               const char *message);
/* The same with a details object (JSON text or NULL) and extra header lines. */
void apiserver__respond_status_ex(apiserver_conn_t *c, int code, const char *reason,
                                  const char *message, const char *details_json,
                                  const char *extra_headers);

#endif
