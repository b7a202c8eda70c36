/* apiserver: the Kubernetes REST API over HTTPS (mbedTLS, HTTP/1.1 with llhttp, libuv). */
#ifndef KUBELING_APISERVER_H
#define KUBELING_APISERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "store/store.h"
#include "util/util.h"

/* The Kubernetes version kubeling serves (what `kubectl version` shows as the server's). */
#define APISERVER_KUBE_MAJOR       "1"
#define APISERVER_KUBE_MINOR       "31"
#define APISERVER_KUBE_GIT_VERSION "v1.31.0+kubeling"

typedef struct apiserver apiserver_t;

typedef struct apiserver_opts {
    uv_loop_t *loop;
    store_t *store;
    const char *data_dir;        /* certificates and admin.kubeconfig go to <data_dir>/server */
    const char *bind_address;    /* IPv4 or IPv6 literal; default 0.0.0.0 */
    int port;                    /* default 6443; 0 picks a free port (tests) */
    const char *const *tls_sans; /* extra serving certificate SANs */
    size_t n_tls_sans;
    unsigned max_inflight;         /* requests handled at once; beyond: 429 + Retry-After */
    size_t max_body_bytes;         /* 413 beyond (default 3 MiB) */
    size_t max_header_bytes;       /* 431 beyond (default 1 MiB: request line + headers) */
    unsigned max_connections;      /* accepted at once (4096; the server lowers it to its open-files
                                      limit - 1024); beyond, new ones are closed */
    uint64_t handshake_timeout_ms; /* TLS handshake must finish within (default 10 s) */
    uint64_t header_timeout_ms;    /* a request's headers must arrive within (default 10 s) */
    uint64_t body_timeout_ms;      /* its body within (default 60 s) */
    uint64_t idle_timeout_ms;      /* keep-alive connection with no request (default 90 s) */
    unsigned tls_threads;          /* TLS of network clients on this many threads of their own, the
                                      plaintext handed to the loop (apiserver_tlsfront.c); 0: all on
                                      the loop (default 1) */
    const char *service_cidr;      /* cluster IPs (default 10.43.0.0/16) */
    const char *write_kubeconfig;  /* a copy of admin.kubeconfig (k3s: --write-kubeconfig) */
    unsigned write_kubeconfig_mode; /* its mode (default 0600) */
    const char *build_commit;       /* shown by /version */
    const char *build_date;
} apiserver_opts_t;

void apiserver_opts_default(apiserver_opts_t *o);

/* Ensures the PKI (see apiserver_pki.h), binds, listens. Returns once listening. */
int apiserver_start(const apiserver_opts_t *o, apiserver_t **ret, util_error_t *err);
/* The port actually bound (useful with port 0). */
int apiserver_port(const apiserver_t *a);
/* Writes a kubeconfig at path for the kubelet of node_name on this machine: a client
 * certificate system:node:<name> (group system:nodes) from the cluster CA, and this server's
 * loopback URL. */
int apiserver_node_kubeconfig(const apiserver_t *a, const char *node_name, const char *path,
                              util_error_t *err);
/* The serving certificate of this machine's kubelet API (see apiserver_pki_kubelet_serving):
 * *ret_base + ".crt"/".key"; the client CA is <data-dir>/server/tls/ca.crt. */
int apiserver_kubelet_serving_cert(const apiserver_t *a, const char *node_name, const char *node_ip,
                                   char *ret_base, size_t base_len, util_error_t *err);
/* ---- the in-process transport (apiserver_inproc.c) ----
 * The server's own components reach the apiserver without TLS: each connection is one end of
 * a socketpair adopted by the apiserver as plain HTTP/1.1, authenticated as the identity it was
 * made for; the other end goes to pkg/client (client_config_t.connect = apiserver_inproc_connect,
 * connect_ud = the identity). Nothing is bound: network clients still need TLS. */
typedef struct apiserver_inproc apiserver_inproc_t;
/* An identity for in-process clients: user and groups (at most 16; system:authenticated is
 * added), as a client certificate's CN and O would give. Owned by the apiserver (released with
 * it); call on the loop's thread. NULL for an empty user or too many groups. */
apiserver_inproc_t *apiserver_inproc_identity(apiserver_t *a, const char *user,
                                              const char *const *groups, size_t ngroups);
/* Fits client_config_t.connect (identity: an apiserver_inproc_t): a new connection for
 * identity; *ret_fd is the client's end (close-on-exec, blocking). Thread-safe: the server's end
 * is adopted on the apiserver's loop. -ECONNREFUSED once the apiserver is stopped. The identity
 * must not be used after the apiserver is released: stop its clients first. */
int apiserver_inproc_connect(void *identity, int *ret_fd);

/* Closes the listener and every connection; memory is released once the loop has run the
 * close callbacks (run the loop until it returns). */
void apiserver_stop(apiserver_t *a);

#endif
