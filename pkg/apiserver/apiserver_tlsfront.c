/* apiserver_tlsfront: the TLS front threads (see apiserver_tlsfront.h).
 *
 * Per connection: net (the client's TCP connection, or any stream socket given to
 * apiserver_front_adopt), plain (our end of the socketpair towards the apiserver), one timer.
 * Bounded buffering: net is read only while plain has nothing queued, plain only while net
 * has nothing queued, so at most one read's worth (a TLS record, or PLAIN_CHUNK of
 * plaintext and its records) waits in user space per direction. */
#include "apiserver_tlsfront.h"

#include <errno.h>
#include <fcntl.h>
#include <mbedtls/oid.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define NET_CHUNK   16384 /* ciphertext read at once */
#define PLAIN_CHUNK 65536 /* plaintext read at once from the apiserver */
#define MAX_IN      (NET_CHUNK * 4)

typedef struct front_thread front_thread_t;

typedef struct fconn {
    front_thread_t *t;
    struct fconn *prev, *next;
    union {
        uv_stream_t s;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } net;
    uv_pipe_t plain;
    uv_timer_t timer;
    mbedtls_ssl_context ssl;
    util_buf_t in; /* ciphertext received, not yet taken by mbedTLS */
    size_t in_off;
    util_buf_t out; /* ciphertext made by mbedTLS, not yet given to libuv */
    int handles;
    bool closing, handshake_done, handed;
    bool net_reading, plain_reading;
    bool net_eof;   /* the client sent EOF or close_notify */
    bool plain_eof; /* the apiserver closed its end */
    bool plain_shut;
    bool discard;  /* the apiserver takes no more: what the client sends is dropped */
    bool net_shut; /* our FIN is sent: closed at the client's EOF (lingering close) */
    uv_shutdown_t net_shut_req, plain_shut_req;
    char peer[64];
} fconn_t;

typedef struct pending_fd {
    int fd;
} pending_fd_t;

struct front_thread {
    apiserver_front_t *f;
    uv_loop_t loop;
    uv_thread_t tid;
    uv_async_t async;
    uv_tcp_t listener;
    bool loop_ok, listening, started;
    fconn_t *conns;
    int *pending; /* adopted fds (under f->mu) */
    size_t npending, cap;
    char scratch[PLAIN_CHUNK]; /* plaintext read from the apiserver, consumed at once */
};

struct apiserver_front {
    apiserver_front_opts_t o;
    uv_mutex_t mu;
    bool stopping; /* under mu */
    atomic_uint nconns;
    atomic_uint next_adopt;
    unsigned nthreads;
    front_thread_t *threads;
};

typedef struct fwrite_req {
    uv_write_t req;
    char *owned;
    char data[];
} fwrite_req_t;

static void drive(fconn_t *c);
static void update_reads(fconn_t *c);

/* ---- identity ----------------------------------------------------------------------------- */

void apiserver__tls_identity(const mbedtls_ssl_context *ssl, char **user, util_strv_t *groups)
{
    *user = NULL;
    const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(ssl);
    if (!peer || mbedtls_ssl_get_verify_result(ssl) != 0)
        return;
    for (const mbedtls_x509_name *n = &peer->subject; n; n = n->next) {
        if (!n->oid.p || n->val.len == 0 || n->val.len > 1024)
            continue;
        char *v = util_xmalloc(n->val.len + 1);
        memcpy(v, n->val.p, n->val.len);
        v[n->val.len] = '\0';
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0 && !*user)
            *user = v;
        else if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_ORGANIZATION, &n->oid) == 0) {
            util_strv_push(groups, v);
            free(v);
        } else
            free(v);
    }
    if (*user)
        util_strv_push(groups, "system:authenticated");
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void conn_free(fconn_t *c)
{
    mbedtls_ssl_free(&c->ssl);
    util_buf_free(&c->in);
    util_buf_free(&c->out);
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    fconn_t *c = h->data;
    if (--c->handles == 0)
        conn_free(c);
}

static void conn_close(fconn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    front_thread_t *t = c->t;
    if (c->prev)
        c->prev->next = c->next;
    else
        t->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    atomic_fetch_sub(&t->f->nconns, 1);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->net.s, on_handle_closed);
    if (c->handed)
        uv_close((uv_handle_t *)&c->plain, on_handle_closed);
}

static void on_timeout(uv_timer_t *tm)
{
    fconn_t *c = tm->data;
    util_log_v(2, "apiserver: %s: timed out (%s)", c->peer,
               !c->handshake_done ? "handshake"
               : c->plain_eof     ? "closing"
                                  : "client not reading");
    conn_close(c);
}

/* The watchdog runs while the handshake is not done, while ciphertext waits to be written
 * (a client that stops reading would otherwise hold its slot for ever) and while the close
 * is lingering. */
static void update_timer(fconn_t *c)
{
    if (c->closing)
        return;
    const apiserver_front_opts_t *o = &c->t->f->o;
    if (!c->handshake_done) {
        if (!uv_is_active((uv_handle_t *)&c->timer))
            uv_timer_start(&c->timer, on_timeout, o->handshake_timeout_ms, 0);
    } else if (uv_stream_get_write_queue_size(&c->net.s) > 0) {
        uv_timer_start(&c->timer, on_timeout, o->stall_timeout_ms, 0); /* progress re-arms */
    } else if (c->plain_eof) { /* waiting for the client's EOF after ours */
        if (!uv_is_active((uv_handle_t *)&c->timer))
            uv_timer_start(&c->timer, on_timeout, o->handshake_timeout_ms, 0);
    } else {
        uv_timer_stop(&c->timer);
    }
}

/* ---- the network side --------------------------------------------------------------------- */

static void on_net_written(uv_write_t *w, int status)
{
    fconn_t *c = w->data;
    free(((fwrite_req_t *)w)->owned);
    free(w);
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    update_timer(c);
    update_reads(c);
}

/* Gives the ciphertext mbedTLS made to libuv in one write. */
static void flush_net(fconn_t *c)
{
    if (c->closing || c->out.len == 0)
        return;
    size_t len = c->out.len;
    char *data = util_buf_steal(&c->out);
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    int n = uv_try_write(&c->net.s, &b, 1);
    if (n == (int)len) {
        free(data);
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        free(data);
        conn_close(c);
        return;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    fwrite_req_t *w = util_xmalloc(sizeof(*w));
    w->owned = data;
    w->req.data = c;
    b = uv_buf_init(data + done, (unsigned)(len - done));
    if (uv_write(&w->req, &c->net.s, &b, 1, on_net_written) < 0) {
        free(data);
        free(w);
        conn_close(c);
        return;
    }
    update_timer(c);
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    fconn_t *c = ctx;
    if (c->closing)
        return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    util_buf_append(&c->out, buf, len);
    return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    fconn_t *c = ctx;
    size_t avail = c->in.len - c->in_off;
    if (avail == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    size_t n = avail < len ? avail : len;
    memcpy(buf, c->in.data + c->in_off, n);
    c->in_off += n;
    if (c->in_off == c->in.len)
        c->in.len = c->in_off = 0;
    return (int)n;
}

static void on_net_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    fconn_t *c = h->data;
    (void)suggested;
    util_buf_reserve(&c->in, NET_CHUNK);
    buf->base = c->in.data + c->in.len;
    buf->len = NET_CHUNK;
}

static void plain_shutdown_done(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status; /* the apiserver closes its end on EOF; its close ends the connection */
}

/* The client is done sending: once what it sent is with the apiserver, say so. */
static void maybe_shut_plain(fconn_t *c)
{
    if (c->closing || !c->net_eof || c->plain_shut || c->discard)
        return;
    if (!c->handed) { /* EOF during the handshake */
        conn_close(c);
        return;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->plain) > 0)
        return;
    c->plain_shut = true;
    c->plain_shut_req.data = c;
    if (uv_shutdown(&c->plain_shut_req, (uv_stream_t *)&c->plain, plain_shutdown_done) < 0)
        conn_close(c);
}

static void on_net_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    fconn_t *c = s->data;
    (void)buf;
    if (n == 0 || c->closing)
        return;
    if (n == UV_EOF) {
        c->net_eof = true;
        if (c->net_shut) {
            conn_close(c);
            return;
        }
        update_reads(c);
        maybe_shut_plain(c);
        return;
    }
    if (n < 0) {
        conn_close(c);
        return;
    }
    if (c->discard) {
        c->in.len = c->in_off = 0;
        return;
    }
    c->in.len += (size_t)n;
    if (c->in.len - c->in_off > MAX_IN) { /* cannot happen: reading stops while blocked */
        conn_close(c);
        return;
    }
    drive(c);
}

/* ---- the plaintext side ------------------------------------------------------------------- */

/* The apiserver's end no longer takes data (it answered and closed, e.g. 431 or 413 while the
 * client was still sending): drop what the client sends, keep reading the answer. */
static void plain_dead(fconn_t *c)
{
    c->discard = true;
    c->in.len = c->in_off = 0;
    update_reads(c);
}

static void on_plain_written(uv_write_t *w, int status)
{
    fconn_t *c = w->data;
    free(w);
    if (c->closing)
        return;
    if (status < 0) {
        plain_dead(c);
        return;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->plain) == 0) {
        maybe_shut_plain(c);
        drive(c); /* records mbedTLS already holds, then reading the client again */
    }
}

/* Plaintext towards the apiserver: written now if the socket takes it, else queued (a copy)
 * and the client is not read until it is written. */
static void plain_send(fconn_t *c, const unsigned char *data, size_t len)
{
    if (c->discard)
        return;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_stream_get_write_queue_size((uv_stream_t *)&c->plain) > 0
                ? UV_EAGAIN
                : uv_try_write((uv_stream_t *)&c->plain, &b, 1);
    if (n == (int)len)
        return;
    if (n < 0 && n != UV_EAGAIN) {
        plain_dead(c);
        return;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    fwrite_req_t *w = util_xmalloc(sizeof(*w) + len - done);
    w->owned = NULL;
    memcpy(w->data, data + done, len - done);
    w->req.data = c;
    b = uv_buf_init(w->data, (unsigned)(len - done));
    if (uv_write(&w->req, (uv_stream_t *)&c->plain, &b, 1, on_plain_written) < 0) {
        free(w);
        plain_dead(c);
    }
}

static void on_plain_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    fconn_t *c = h->data;
    (void)suggested;
    buf->base = c->t->scratch;
    buf->len = sizeof(c->t->scratch);
}

/* Everything the apiserver sent is written: closed now if the client is done too, else at its
 * EOF (what it still sends is dropped), bounded by the timer. Closing at once would answer
 * its unread bytes with a reset, which may destroy the answer before the client reads it. */
static void net_shutdown_done(uv_shutdown_t *req, int status)
{
    fconn_t *c = req->data;
    if (c->closing)
        return;
    c->net_shut = true;
    if (status < 0 || c->net_eof)
        conn_close(c);
    else
        update_timer(c);
}

static void on_plain_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    fconn_t *c = s->data;
    if (n == 0 || c->closing)
        return;
    /* ECONNRESET: it closed with bytes of ours unread (an early 413 or 431); what it wrote
     * before was read first, so this ends the answer as EOF does */
    if (n == UV_EOF || n == UV_ECONNRESET) { /* the apiserver is done: close_notify, FIN */
        c->plain_eof = true;
        plain_dead(c);
        mbedtls_ssl_close_notify(&c->ssl);
        flush_net(c);
        if (c->closing)
            return;
        update_timer(c); /* lingering is bounded */
        c->net_shut_req.data = c;
        if (uv_shutdown(&c->net_shut_req, &c->net.s, net_shutdown_done) < 0)
            conn_close(c);
        return;
    }
    if (n < 0) {
        conn_close(c);
        return;
    }
    const unsigned char *p = (const unsigned char *)buf->base;
    size_t len = (size_t)n;
    while (len > 0 && !c->closing) {
        int rc = mbedtls_ssl_write(&c->ssl, p, len);
        if (rc < 0) {
            conn_close(c);
            return;
        }
        p += rc;
        len -= (size_t)rc;
    }
    flush_net(c);
    update_reads(c);
}

/* ---- the engine --------------------------------------------------------------------------- */

static void update_reads(fconn_t *c)
{
    if (c->closing)
        return;
    bool plain_blocked = c->handed && uv_stream_get_write_queue_size((uv_stream_t *)&c->plain) > 0;
    bool net_want = !c->net_eof && (c->discard || !plain_blocked);
    if (net_want != c->net_reading) {
        c->net_reading = net_want;
        if (net_want)
            uv_read_start(&c->net.s, on_net_alloc, on_net_read);
        else
            uv_read_stop(&c->net.s);
    }
    bool plain_want = c->handed && !c->plain_eof && uv_stream_get_write_queue_size(&c->net.s) == 0;
    if (plain_want != c->plain_reading) {
        c->plain_reading = plain_want;
        if (plain_want)
            uv_read_start((uv_stream_t *)&c->plain, on_plain_alloc, on_plain_read);
        else
            uv_read_stop((uv_stream_t *)&c->plain);
    }
}

/* After the handshake: the socketpair, the apiserver's end handed over with the identity. */
static int hand_off(fconn_t *c)
{
    apiserver_front_t *f = c->t->f;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        util_log_v(1, "apiserver: %s: socketpair: %s", c->peer, strerror(errno));
        return -1;
    }
    uv_pipe_init(&c->t->loop, &c->plain, 0);
    c->plain.data = c;
    c->handles++;
    c->handed = true;
    if (uv_pipe_open(&c->plain, sv[0]) < 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    char *user = NULL;
    util_strv_t groups = {0};
    apiserver__tls_identity(&c->ssl, &user, &groups);
    f->o.handoff(f->o.ud, sv[1], user, &groups, c->peer);
    free(user);
    util_strv_clear(&groups);
    return 0;
}

static void drive(fconn_t *c)
{
    if (c->closing)
        return;
    if (!c->handshake_done) {
        int rc = mbedtls_ssl_handshake(&c->ssl);
        flush_net(c);
        if (c->closing)
            return;
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
            update_reads(c);
            return;
        }
        if (rc != 0) {
            util_log_v(2, "apiserver: %s: TLS handshake failed (-0x%04x)", c->peer, (unsigned)-rc);
            conn_close(c);
            return;
        }
        c->handshake_done = true;
        if (hand_off(c) < 0) {
            conn_close(c);
            return;
        }
        update_timer(c);
    }
    unsigned char buf[NET_CHUNK];
    while (!c->closing && !c->net_eof && !c->discard &&
           uv_stream_get_write_queue_size((uv_stream_t *)&c->plain) == 0) {
        int rc = mbedtls_ssl_read(&c->ssl, buf, sizeof(buf));
        if (rc > 0) {
            plain_send(c, buf, (size_t)rc);
            continue;
        }
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE ||
            rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
            break;
        if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            c->net_eof = true; /* the client is done sending */
            maybe_shut_plain(c);
            break;
        }
        util_log_v(2, "apiserver: %s: TLS read failed (-0x%04x)", c->peer, (unsigned)-rc);
        conn_close(c);
        return;
    }
    flush_net(c);
    update_reads(c);
}

/* A new connection on t: net is initialised by the caller; starts the handshake. */
static fconn_t *conn_new(front_thread_t *t)
{
    fconn_t *c = util_xcalloc(1, sizeof(*c));
    c->t = t;
    atomic_fetch_add(&t->f->nconns, 1);
    c->next = t->conns;
    if (t->conns)
        t->conns->prev = c;
    t->conns = c;
    uv_timer_init(&t->loop, &c->timer);
    c->timer.data = c;
    c->handles = 2; /* timer, net */
    mbedtls_ssl_init(&c->ssl);
    return c;
}

static void conn_start(fconn_t *c)
{
    apiserver_front_t *f = c->t->f;
    c->net.s.data = c;
    if (atomic_load(&f->nconns) > f->o.max_connections) {
        util_log_v(2, "apiserver: %s: too many connections", c->peer);
        conn_close(c);
        return;
    }
    if (mbedtls_ssl_setup(&c->ssl, f->o.tls) != 0) {
        conn_close(c);
        return;
    }
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
    update_timer(c);
    update_reads(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
    front_thread_t *t = listener->data;
    if (status < 0)
        return;
    fconn_t *c = conn_new(t);
    uv_tcp_init(&t->loop, &c->net.tcp);
    c->net.s.data = c;
    if (uv_accept(listener, &c->net.s) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->net.tcp, 1);
    struct sockaddr_storage peer;
    int len = sizeof(peer);
    snprintf(c->peer, sizeof(c->peer), "?");
    if (uv_tcp_getpeername(&c->net.tcp, (struct sockaddr *)&peer, &len) == 0) {
        if (peer.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&peer, c->peer, sizeof(c->peer));
        else
            uv_ip4_name((struct sockaddr_in *)&peer, c->peer, sizeof(c->peer));
    }
    conn_start(c);
}

static void adopt_fd(front_thread_t *t, int fd)
{
    fconn_t *c = conn_new(t);
    uv_pipe_init(&t->loop, &c->net.pipe, 0);
    c->net.s.data = c;
    snprintf(c->peer, sizeof(c->peer), "127.0.0.1");
    if (uv_pipe_open(&c->net.pipe, fd) < 0) {
        close(fd);
        conn_close(c);
        return;
    }
    conn_start(c);
}

/* ---- threads ------------------------------------------------------------------------------ */

static void on_async(uv_async_t *h)
{
    front_thread_t *t = h->data;
    apiserver_front_t *f = t->f;
    uv_mutex_lock(&f->mu);
    bool stopping = f->stopping;
    int *list = t->pending;
    size_t n = t->npending;
    t->pending = NULL;
    t->npending = t->cap = 0;
    uv_mutex_unlock(&f->mu);
    for (size_t i = 0; i < n; i++) {
        if (stopping)
            close(list[i]);
        else
            adopt_fd(t, list[i]);
    }
    free(list);
    if (!stopping)
        return;
    if (t->listening) {
        t->listening = false;
        uv_close((uv_handle_t *)&t->listener, NULL);
    }
    while (t->conns)
        conn_close(t->conns);
    uv_close((uv_handle_t *)&t->async, NULL);
}

static void thread_main(void *arg)
{
    front_thread_t *t = arg;
    prctl(PR_SET_NAME, "apiserver-tls"); /* its name in /proc/PID/task/N/stat */
    uv_run(&t->loop, UV_RUN_DEFAULT);
}

static int thread_init(front_thread_t *t, apiserver_front_t *f, util_error_t *err)
{
    t->f = f;
    int rc = uv_loop_init(&t->loop);
    if (rc < 0)
        return util_error_make(err, -rc, "apiserver: TLS front loop");
    t->loop_ok = true;
    uv_async_init(&t->loop, &t->async, on_async);
    t->async.data = t;
    if (f->o.listen_fd < 0)
        return 0;
    int fd = fcntl(f->o.listen_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return util_error_make(err, errno, "apiserver: TLS front: dup");
    uv_tcp_init(&t->loop, &t->listener);
    t->listener.data = t;
    t->listening = true;
    if ((rc = uv_tcp_open(&t->listener, fd)) < 0) {
        close(fd);
        return util_error_make(err, -rc, "apiserver: TLS front: listener");
    }
    if ((rc = uv_listen((uv_stream_t *)&t->listener, 511, on_connection)) < 0)
        return util_error_make(err, -rc, "apiserver: TLS front: listen");
    return 0;
}

/* Closes what thread_init made on a thread that never ran. */
static void thread_discard(front_thread_t *t)
{
    if (!t->loop_ok)
        return;
    if (t->listening)
        uv_close((uv_handle_t *)&t->listener, NULL);
    uv_close((uv_handle_t *)&t->async, NULL);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    uv_loop_close(&t->loop);
}

int apiserver_front_start(const apiserver_front_opts_t *o, apiserver_front_t **ret,
                          util_error_t *err)
{
    if (!o->tls || !o->handoff || o->threads == 0 || o->threads > 64)
        return util_error_make(err, EINVAL, "apiserver: TLS front: bad options");
    apiserver_front_t *f = util_xcalloc(1, sizeof(*f));
    f->o = *o;
    uv_mutex_init(&f->mu);
    f->threads = util_xcalloc(o->threads, sizeof(*f->threads));
    int r = 0;
    for (unsigned i = 0; i < o->threads && r == 0; i++) {
        r = thread_init(&f->threads[i], f, err);
        f->nthreads = i + 1;
    }
    for (unsigned i = 0; i < f->nthreads && r == 0; i++) {
        int rc = uv_thread_create(&f->threads[i].tid, thread_main, &f->threads[i]);
        if (rc < 0)
            r = util_error_make(err, -rc, "apiserver: TLS front: thread");
        else
            f->threads[i].started = true;
    }
    if (r < 0) {
        apiserver_front_stop(f);
        return r;
    }
    *ret = f;
    return 0;
}

int apiserver_front_adopt(apiserver_front_t *f, int fd)
{
    front_thread_t *t = &f->threads[atomic_fetch_add(&f->next_adopt, 1) % f->nthreads];
    uv_mutex_lock(&f->mu);
    if (f->stopping) {
        uv_mutex_unlock(&f->mu);
        close(fd);
        return -ECONNREFUSED;
    }
    if (t->npending == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        t->pending = util_xrealloc(t->pending, t->cap * sizeof(*t->pending));
    }
    t->pending[t->npending++] = fd;
    uv_async_send(&t->async);
    uv_mutex_unlock(&f->mu);
    return 0;
}

unsigned apiserver_front_conns(const apiserver_front_t *f)
{
    return atomic_load(&((apiserver_front_t *)f)->nconns);
}

void apiserver_front_stop(apiserver_front_t *f)
{
    if (!f)
        return;
    uv_mutex_lock(&f->mu);
    f->stopping = true;
    for (unsigned i = 0; i < f->nthreads; i++)
        if (f->threads[i].started)
            uv_async_send(&f->threads[i].async);
    uv_mutex_unlock(&f->mu);
    for (unsigned i = 0; i < f->nthreads; i++) {
        front_thread_t *t = &f->threads[i];
        if (t->started) {
            uv_thread_join(&t->tid);
            uv_loop_close(&t->loop);
        } else {
            thread_discard(t);
        }
        for (size_t k = 0; k < t->npending; k++)
            close(t->pending[k]);
        free(t->pending);
    }
    free(f->threads);
    uv_mutex_destroy(&f->mu);
    free(f);
}
