/* client_internal: types shared by the client's files (not part of the interface). */
#ifndef KUBELING_CLIENT_INTERNAL_H
#define KUBELING_CLIENT_INTERNAL_H

#include "client/client.h"

#include <llhttp.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

typedef struct client_conn client_conn_t;

struct client {
    uv_loop_t *loop;
    client_config_t cfg;
    char *user_agent;
    char *host_header; /* host:port as sent in Host */
    unsigned max_conns;
    uint64_t timeout_ms;
    size_t max_response;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config tls;
    mbedtls_x509_crt ca, cert;
    mbedtls_pk_context key;
    client_conn_t *conns; /* doubly linked, every open connection */
    unsigned nreq_conns;  /* connections for plain requests (watches not counted) */
    client_req_t *queue, *queue_tail;
    client_req_t *deferred; /* failed while being submitted; reported from defer_timer */
    uv_timer_t defer_timer;
    bool closing;
    int alive; /* connections not yet released; the client is freed at 0 once closing */
};

struct client_req {
    client_t *cl;
    client_conn_t *conn;
    client_req_t *next; /* in the queue */
    int refs;
    char *method, *path, *content_type, *body;
    size_t body_len;
    bool watch, cancelled, finished, retried;
    bool submitting; /* inside client__submit: failures are deferred to the loop */
    int deferred_error;
    client_cb cb;
    client_event_cb on_event;
    client_watch_end_cb on_end;
    void *ud;
    int status;       /* HTTP status once the headers are in */
    bool got_bytes;   /* some of the answer arrived (no silent retry then) */
    util_buf_t resp;  /* the body of a plain answer, or of a failed watch */
    util_buf_t raw;   /* watch bytes of the current read, not yet split */
    util_buf_t lines; /* an incomplete watch line */
    char detail[256]; /* why the connection failed, when more is known than an errno */
};

struct client_conn {
    client_t *cl;
    client_conn_t *prev, *next;
    union { /* TCP, or the socket of client_config_t.connect */
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    };
    bool inproc; /* over client_config_t.connect: plain HTTP, no TLS */
    uv_timer_t timer;
    uv_connect_t connect;
    uv_getaddrinfo_t gai;
    mbedtls_ssl_context ssl;
    util_buf_t in; /* ciphertext not yet taken by mbedTLS */
    size_t in_off;
    llhttp_t parser;
    llhttp_settings_t settings;
    client_req_t *req; /* the request in flight, or NULL when idle */
    bool for_watch, handshake_done, closing, message_done;
    unsigned served;  /* answers received on this connection */
    char detail[256]; /* a TLS failure, handed to the request */
    int handles;      /* tcp, timer and a pending getaddrinfo */
};

/* client_conn.c */
/* Sends r on an idle connection, a new one, or queues it. */
void client__submit(client_t *c, client_req_t *r);
void client__conn_close(client_conn_t *cn, int error);
void client__req_unref(client_req_t *r);
/* Finishes r (callback unless cancelled) with the given transport error or its answer. */
void client__req_finish(client_req_t *r, int error);
/* Called when a connection is released: the client may be freed. */
void client__release(client_t *c);

#endif
