/* apiserver_tlsfront: TLS termination of the apiserver's network connections on threads of
 * their own (internal to pkg/apiserver). Each front thread runs a libuv loop that accepts
 * connections, does the TLS handshake with the client-certificate check, and then shuttles
 * bytes between the TCP connection (ciphertext) and one end of a socketpair (plaintext) whose
 * other end is handed to the apiserver's loop as a plain HTTP/1.1 connection with the
 * identity the certificate gave (see apiserver_inproc.c). Either direction stops reading
 * while the other side's write is pending; EOF and close travel both ways. */
#ifndef KUBELING_APISERVER_TLSFRONT_H
#define KUBELING_APISERVER_TLSFRONT_H

#include "util/util.h"

#include <mbedtls/ssl.h>
#include <stdint.h>

typedef struct apiserver_front apiserver_front_t;

/* Called on a front thread once a handshake is done: fd is the apiserver's end of the
 * plaintext socketpair (the callee takes it), user NULL for a client without a valid
 * certificate (anonymous), groups its O= values plus system:authenticated, peer the client's
 * address. */
typedef void (*apiserver_front_handoff_fn)(void *ud, int fd, const char *user,
                                           const util_strv_t *groups, const char *peer);

typedef struct apiserver_front_opts {
    const mbedtls_ssl_config *tls; /* shared by the threads: must outlive the front */
    unsigned threads;              /* 1 or more */
    unsigned max_connections;      /* open at once (handshaking or shuttling); beyond: closed */
    uint64_t handshake_timeout_ms; /* a client must finish its handshake within */
    uint64_t stall_timeout_ms;     /* a client that takes nothing of what is written to it */
    int listen_fd;                 /* a bound socket the threads listen on, or -1 */
    apiserver_front_handoff_fn handoff;
    void *ud;
} apiserver_front_opts_t;

/* Starts the threads (listening on a duplicate of listen_fd each, when given). */
int apiserver_front_start(const apiserver_front_opts_t *o, apiserver_front_t **ret,
                          util_error_t *err);
/* Hands an accepted, connected stream socket to a front thread (takes fd); any thread. */
int apiserver_front_adopt(apiserver_front_t *f, int fd);
/* Connections open on the front (handshaking or shuttling). */
unsigned apiserver_front_conns(const apiserver_front_t *f);
/* Closes the listeners and every connection, joins the threads, frees f. */
void apiserver_front_stop(apiserver_front_t *f);

/* The identity of a verified client certificate: CN -> *user (NULL when the certificate is
 * missing or was not verified), O -> groups, plus system:authenticated. */
void apiserver__tls_identity(const mbedtls_ssl_context *ssl, char **user, util_strv_t *groups);

#endif
