/* kubelet_server_internal: the kubelet API's connection type and helpers, shared by
 * kubelet_server.c (TLS, HTTP, routing, lookups), kubelet_serve_logs.c, kubelet_serve_exec.c
 * (exec, attach, port-forward) and kubelet_stats.c. Not part of the interface.
 *
 * Each connection has a thread of its own that blocks in poll(2) (the apiserver opens one TLS
 * connection per request, and exec/port-forward sessions are long-lived streams). Threads touch
 * no kubelet state on the loop: they read the runtime's state directory and the log files, and
 * run processes through their own runtime handle. */
#ifndef KUBELING_KUBELET_SERVER_INTERNAL_H
#define KUBELING_KUBELET_SERVER_INTERNAL_H

#include "kubelet_internal.h"

#include <poll.h>
#include <pthread.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "runtime/runtime.h"
#include "stream/stream.h"

typedef struct kserver {
    char *node_name, *storage_dir, *logs_dir;
    runtime_t *rt;
    char *cert_pem, *key_pem, *ca_pem; /* every connection parses its own TLS contexts */
    int listen_fd, stop_fd;            /* stop_fd: an eventfd, readable once stopping */
    int port;
    int64_t log_max_size;
    int log_max_files;
    pthread_t listener;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int conns;
} kserver_t;

typedef struct kconn {
    kserver_t *s;
    int fd;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca, chain;
    mbedtls_pk_context key;
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    util_buf_t in; /* plaintext read past the request head */
    char method[16];
    char *target; /* as sent: path and query */
    char *path;   /* decoded path */
    util_strv_t hname, hvalue;
    bool gone; /* the peer went away or the server stops */
} kconn_t;

/* ---- transport (kubelet_server.c) ---- */
/* Sends everything (blocking with poll); < 0 once the peer is gone or the server stops. */
int kserver_send(kconn_t *c, const void *data, size_t len);
int kserver_send_buf(kconn_t *c, util_buf_t *b);
/* What TLS has now: > 0 bytes, 0 when nothing is available, < 0 at the end. */
int kserver_recv_some(kconn_t *c, void *buf, size_t len);
/* poll(2) on the connection (POLLIN), the stop fd and extra fds; -1 when stopping. */
int kserver_poll(kconn_t *c, struct pollfd *extra, size_t nextra, int timeout_ms);
/* A whole answer with Connection: close. */
void kserver_respond(kconn_t *c, int code, const char *content_type, const char *body);
/* An upstream-style Status JSON answer. */
void kserver_status(kconn_t *c, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void kserver_finish(kconn_t *c);

/* ---- request (kubelet_server.c) ---- */
const char *kserver_header(const kconn_t *c, const char *name);
void kserver_query_all(const kconn_t *c, const char *name, util_strv_t *out);
/* The first value of a query parameter (caller frees) or NULL. */
char *kserver_query(const kconn_t *c, const char *name);
bool kserver_query_true(const kconn_t *c, const char *name);
stream_request_t kserver_stream_request(const kconn_t *c);

/* ---- lookups (kubelet_server.c) ---- */
/* The UID of the pod ns/name that runs here (its log directory; the one whose sandbox
 * exists, else the newest); -ENOENT. */
int kserver_pod_uid(kserver_t *s, const char *ns, const char *name, char *uid, size_t n);
/* The runtime container of a pod's container: the newest attempt (back = 0) or the one before
 * it (back = 1, `previous`); -ENOENT. */
int kserver_container_id(kserver_t *s, const char *uid, const char *name, int back, char *id,
                         size_t n, int *ret_attempt);

/* ---- handlers ---- */
void kubelet__serve_logs(kconn_t *c, const char *ns, const char *pod, const char *ctr);
void kubelet__serve_exec(kconn_t *c, const char *ns, const char *pod, const char *ctr, bool attach);
void kubelet__serve_portforward(kconn_t *c, const char *ns, const char *pod);
void kubelet__serve_stats(kconn_t *c);

#endif
