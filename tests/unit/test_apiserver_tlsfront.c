/* test_apiserver_tlsfront: the TLS front's shuttle, driven over socketpairs: a TLS client
 * (mbedTLS, in the test) on one end of the "network" socketpair, the front thread in the
 * middle, the test again on the plaintext end it hands over (as the apiserver's loop would).
 * Data both ways, the identity of the client certificate, backpressure both ways, half-close
 * and close both ways, the handshake timeout and the connection cap. */
#include "unit.h"
#include "apiserver/apiserver_pki.h"
#include "apiserver/apiserver_tlsfront.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <psa/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

typedef struct fixture {
    char *dir;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config srv, cli, cli_anon;
    mbedtls_x509_crt serving, ca, admin;
    mbedtls_pk_context serving_key, admin_key;
    apiserver_front_t *front;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int handed_fd; /* the last hand-over, -1 when taken */
    char *user;
    util_strv_t groups;
    char peer[64];
    int handoffs;
} fixture_t;

static void on_handoff(void *ud, int fd, const char *user, const util_strv_t *groups,
                       const char *peer)
{
    fixture_t *f = ud;
    pthread_mutex_lock(&f->mu);
    if (f->handed_fd >= 0)
        close(f->handed_fd);
    f->handed_fd = fd;
    free(f->user);
    f->user = user ? strdup(user) : NULL;
    util_strv_clear(&f->groups);
    for (size_t i = 0; i < groups->n; i++)
        util_strv_push(&f->groups, groups->v[i]);
    snprintf(f->peer, sizeof(f->peer), "%s", peer);
    f->handoffs++;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->mu);
}

static char *read_text(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/server/tls/%s", dir, name);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    util_buf_t b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        util_buf_append(&b, chunk, n);
    fclose(fp);
    util_buf_append(&b, "", 1); /* PEM parsing wants the NUL counted */
    return util_buf_steal(&b);
}

static void parse_pem_crt(mbedtls_x509_crt *crt, const char *pem)
{
    assert_int_equal(mbedtls_x509_crt_parse(crt, (const unsigned char *)pem, strlen(pem) + 1), 0);
}

static void parse_pem_key(fixture_t *f, mbedtls_pk_context *pk, const char *pem)
{
    assert_int_equal(mbedtls_pk_parse_key(pk, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0,
                                          mbedtls_ctr_drbg_random, &f->drbg),
                     0);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_int_equal(psa_crypto_init(), PSA_SUCCESS);
    f->dir = unit_tmpdir();
    f->handed_fd = -1;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cond, NULL);
    apiserver_pki_opts_t po = {.data_dir = f->dir, .kubeconfig_server = "https://127.0.0.1:1"};
    apiserver_pki_t pki = {0};
    cleanup_error util_error_t err = NULL;
    if (apiserver_pki_ensure(&po, &pki, &err) < 0)
        fail_msg("pki: %s", err->msg);
    mbedtls_entropy_init(&f->entropy);
    mbedtls_ctr_drbg_init(&f->drbg);
    assert_int_equal(mbedtls_ctr_drbg_seed(&f->drbg, mbedtls_entropy_func, &f->entropy, NULL, 0),
                     0);
    mbedtls_x509_crt_init(&f->serving);
    mbedtls_x509_crt_init(&f->ca);
    mbedtls_x509_crt_init(&f->admin);
    mbedtls_pk_init(&f->serving_key);
    mbedtls_pk_init(&f->admin_key);
    parse_pem_crt(&f->serving, pki.serving_cert_pem);
    parse_pem_crt(&f->ca, pki.ca_cert_pem);
    parse_pem_key(f, &f->serving_key, pki.serving_key_pem);
    char *admin_crt = read_text(f->dir, "admin.crt"), *admin_key = read_text(f->dir, "admin.key");
    parse_pem_crt(&f->admin, admin_crt);
    parse_pem_key(f, &f->admin_key, admin_key);
    free(admin_crt);
    free(admin_key);
    apiserver_pki_free(&pki);

    mbedtls_ssl_config_init(&f->srv); /* as apiserver.c configures it */
    assert_int_equal(mbedtls_ssl_config_defaults(&f->srv, MBEDTLS_SSL_IS_SERVER,
                                                 MBEDTLS_SSL_TRANSPORT_STREAM,
                                                 MBEDTLS_SSL_PRESET_DEFAULT),
                     0);
    mbedtls_ssl_conf_rng(&f->srv, mbedtls_ctr_drbg_random, &f->drbg);
    mbedtls_ssl_conf_authmode(&f->srv, MBEDTLS_SSL_VERIFY_OPTIONAL);
    mbedtls_ssl_conf_ca_chain(&f->srv, &f->ca, NULL);
    assert_int_equal(mbedtls_ssl_conf_own_cert(&f->srv, &f->serving, &f->serving_key), 0);
    mbedtls_ssl_config *clis[] = {&f->cli, &f->cli_anon};
    for (int i = 0; i < 2; i++) {
        mbedtls_ssl_config_init(clis[i]);
        assert_int_equal(mbedtls_ssl_config_defaults(clis[i], MBEDTLS_SSL_IS_CLIENT,
                                                     MBEDTLS_SSL_TRANSPORT_STREAM,
                                                     MBEDTLS_SSL_PRESET_DEFAULT),
                         0);
        mbedtls_ssl_conf_rng(clis[i], mbedtls_ctr_drbg_random, &f->drbg);
        mbedtls_ssl_conf_authmode(clis[i], MBEDTLS_SSL_VERIFY_REQUIRED);
        mbedtls_ssl_conf_ca_chain(clis[i], &f->ca, NULL);
    }
    assert_int_equal(mbedtls_ssl_conf_own_cert(&f->cli, &f->admin, &f->admin_key), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    apiserver_front_stop(f->front);
    if (f->handed_fd >= 0)
        close(f->handed_fd);
    free(f->user);
    util_strv_clear(&f->groups);
    mbedtls_ssl_config_free(&f->srv);
    mbedtls_ssl_config_free(&f->cli);
    mbedtls_ssl_config_free(&f->cli_anon);
    mbedtls_x509_crt_free(&f->serving);
    mbedtls_x509_crt_free(&f->ca);
    mbedtls_x509_crt_free(&f->admin);
    mbedtls_pk_free(&f->serving_key);
    mbedtls_pk_free(&f->admin_key);
    mbedtls_ctr_drbg_free(&f->drbg);
    mbedtls_entropy_free(&f->entropy);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cond);
    unit_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void front_start(fixture_t *f, unsigned threads, unsigned max_conns, uint64_t hs_ms)
{
    apiserver_front_opts_t o = {.tls = &f->srv,
                                .threads = threads,
                                .max_connections = max_conns,
                                .handshake_timeout_ms = hs_ms,
                                .stall_timeout_ms = 30000,
                                .listen_fd = -1,
                                .handoff = on_handoff,
                                .ud = f};
    cleanup_error util_error_t err = NULL;
    if (apiserver_front_start(&o, &f->front, &err) < 0)
        fail_msg("front: %s", err->msg);
}

/* ---- the test's TLS client over a raw socket ---------------------------------------------- */

typedef struct client {
    int fd;
    mbedtls_ssl_context ssl;
} client_t;

static int fd_send(void *ctx, const unsigned char *buf, size_t len)
{
    client_t *c = ctx;
    ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
    if (n < 0)
        return errno == EAGAIN ? MBEDTLS_ERR_SSL_WANT_WRITE : MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    return (int)n;
}

static int fd_recv(void *ctx, unsigned char *buf, size_t len)
{
    client_t *c = ctx;
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n < 0)
        return errno == EAGAIN ? MBEDTLS_ERR_SSL_WANT_READ : MBEDTLS_ERR_SSL_INTERNAL_ERROR;
    return (int)n;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A connected client (handshake done, its socket non-blocking) and the plaintext end the
 * front handed over for it. */
static void client_connect(fixture_t *f, client_t *c, const mbedtls_ssl_config *conf, int *plain)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    c->fd = sv[0];
    pthread_mutex_lock(&f->mu);
    int before = f->handoffs;
    pthread_mutex_unlock(&f->mu);
    assert_int_equal(apiserver_front_adopt(f->front, sv[1]), 0);
    mbedtls_ssl_init(&c->ssl);
    assert_int_equal(mbedtls_ssl_setup(&c->ssl, conf), 0);
    assert_int_equal(mbedtls_ssl_set_hostname(&c->ssl, "localhost"), 0);
    mbedtls_ssl_set_bio(&c->ssl, c, fd_send, fd_recv, NULL);
    int rc = mbedtls_ssl_handshake(&c->ssl); /* blocking */
    if (rc != 0)
        fail_msg("client handshake: -0x%04x", (unsigned)-rc);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    pthread_mutex_lock(&f->mu);
    while (f->handoffs == before)
        pthread_cond_wait(&f->cond, &f->mu);
    *plain = f->handed_fd;
    f->handed_fd = -1;
    pthread_mutex_unlock(&f->mu);
    fcntl(*plain, F_SETFL, fcntl(*plain, F_GETFL) | O_NONBLOCK);
}

static void client_free(client_t *c)
{
    mbedtls_ssl_free(&c->ssl);
    if (c->fd >= 0)
        close(c->fd);
}

static void wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    assert_true(poll(&p, 1, 10000) > 0);
}

/* Reads exactly len bytes of plaintext from the client's TLS connection. */
static void client_read(client_t *c, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        int rc = mbedtls_ssl_read(&c->ssl, (unsigned char *)buf + got, len - got);
        if (rc > 0) {
            got += (size_t)rc;
            continue;
        }
        if (rc != MBEDTLS_ERR_SSL_WANT_READ)
            fail_msg("client read: -0x%04x after %zu bytes", (unsigned)-rc, got);
        wait_fd(c->fd, POLLIN);
    }
}

/* Writes len bytes through the client's TLS connection; stops (returning what was written)
 * once no progress was made for stall_ms, if stall_ms > 0. */
static size_t client_write(client_t *c, const char *buf, size_t len, int stall_ms)
{
    size_t done = 0;
    while (done < len) {
        size_t n = len - done < 16384 ? len - done : 16384;
        int rc = mbedtls_ssl_write(&c->ssl, (const unsigned char *)buf + done, n);
        if (rc > 0) {
            done += (size_t)rc;
            continue;
        }
        if (rc != MBEDTLS_ERR_SSL_WANT_WRITE)
            fail_msg("client write: -0x%04x", (unsigned)-rc);
        struct pollfd p = {.fd = c->fd, .events = POLLOUT};
        if (poll(&p, 1, stall_ms > 0 ? stall_ms : 10000) == 0) {
            if (stall_ms > 0) {
                /* mbedTLS holds the record it could not send: the caller's next call, with
                 * the same arguments, finishes it */
                return done;
            }
            fail_msg("client write stuck");
        }
    }
    return done;
}

static void plain_read(int fd, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0)
            fail_msg("plain EOF after %zu of %zu bytes", got, len);
        assert_int_equal(errno, EAGAIN);
        wait_fd(fd, POLLIN);
    }
}

/* Writes to the plaintext end until done, or until stall_ms passes without progress. */
static size_t plain_write(int fd, const char *buf, size_t len, int stall_ms)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        assert_int_equal(errno, EAGAIN);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, stall_ms > 0 ? stall_ms : 10000) == 0) {
            if (stall_ms > 0)
                return done;
            fail_msg("plain write stuck");
        }
    }
    return done;
}

static void expect_plain_eof(int fd)
{
    char b[64];
    for (;;) {
        ssize_t n = read(fd, b, sizeof(b));
        if (n == 0)
            return;
        if (n > 0)
            fail_msg("plain: %zd unexpected bytes before EOF", n);
        assert_int_equal(errno, EAGAIN);
        wait_fd(fd, POLLIN);
    }
}

static void wait_conns(fixture_t *f, unsigned want)
{
    uint64_t deadline = now_ms() + 10000;
    while (apiserver_front_conns(f->front) != want && now_ms() < deadline)
        usleep(5000);
    assert_int_equal(apiserver_front_conns(f->front), want);
}

static char *pattern(size_t len, unsigned seed)
{
    char *p = malloc(len);
    for (size_t i = 0; i < len; i++)
        p[i] = (char)((i * 131 + seed) & 0xff);
    return p;
}

/* ---- the tests ---------------------------------------------------------------------------- */

static void data_both_ways_with_identity(void **state)
{
    fixture_t *f = *state;
    front_start(f, 2, 16, 10000);
    client_t c;
    int plain;
    client_connect(f, &c, &f->cli, &plain);
    pthread_mutex_lock(&f->mu);
    assert_string_equal(f->user, "system:admin");
    assert_int_equal(f->groups.n, 2);
    assert_string_equal(f->groups.v[0], "system:masters");
    assert_string_equal(f->groups.v[1], "system:authenticated");
    assert_string_equal(f->peer, "127.0.0.1");
    pthread_mutex_unlock(&f->mu);
    assert_int_equal(apiserver_front_conns(f->front), 1);

    for (int round = 0; round < 3; round++) { /* a request, a large answer, again */
        const size_t req_len = 300000, resp_len = 1u << 20;
        char *req = pattern(req_len, (unsigned)round), *resp = pattern(resp_len, 7u + round);
        char *got = malloc(resp_len);
        /* the request's size exceeds socket buffers: read it while writing */
        size_t sent = 0, recvd = 0;
        while (sent < req_len || recvd < req_len) {
            if (sent < req_len)
                sent += client_write(&c, req + sent, req_len - sent, 20);
            ssize_t n = read(plain, got + recvd, req_len - recvd);
            if (n > 0)
                recvd += (size_t)n;
            else
                assert_true(n < 0 && errno == EAGAIN);
        }
        assert_memory_equal(got, req, req_len);
        sent = recvd = 0;
        while (sent < resp_len || recvd < resp_len) {
            if (sent < resp_len)
                sent += plain_write(plain, resp + sent, resp_len - sent, 20);
            int rc = mbedtls_ssl_read(&c.ssl, (unsigned char *)got + recvd, resp_len - recvd);
            if (rc > 0)
                recvd += (size_t)rc;
            else
                assert_int_equal(rc, MBEDTLS_ERR_SSL_WANT_READ);
        }
        assert_memory_equal(got, resp, resp_len);
        free(req);
        free(resp);
        free(got);
    }
    close(plain);
    client_free(&c);
    wait_conns(f, 0);
}

static void anonymous_without_certificate(void **state)
{
    fixture_t *f = *state;
    front_start(f, 1, 16, 10000);
    client_t c;
    int plain;
    client_connect(f, &c, &f->cli_anon, &plain);
    pthread_mutex_lock(&f->mu);
    assert_null(f->user);
    assert_int_equal(f->groups.n, 0);
    pthread_mutex_unlock(&f->mu);
    close(plain);
    client_free(&c);
    wait_conns(f, 0);
}

/* The apiserver does not read: the client's writes stall after a bounded amount (the front
 * stops reading the network), and all of it arrives once the apiserver reads. */
static void backpressure_client_to_apiserver(void **state)
{
    fixture_t *f = *state;
    front_start(f, 1, 16, 10000);
    client_t c;
    int plain;
    client_connect(f, &c, &f->cli, &plain);
    const size_t total = 64u << 20;
    char *data = pattern(total, 3);
    size_t accepted = client_write(&c, data, total, 300);
    assert_true(accepted > 0);
    assert_true(accepted < (16u << 20)); /* socket buffers and one record, not 64 MiB */
    /* everything accepted arrives, in order, once the apiserver reads */
    char *got = malloc(total);
    size_t sent = accepted, recvd = 0;
    while (recvd < total) {
        if (sent < total)
            sent += client_write(&c, data + sent, total - sent, 5);
        ssize_t n = read(plain, got + recvd, total - recvd);
        if (n > 0)
            recvd += (size_t)n;
        else if (sent == total)
            wait_fd(plain, POLLIN);
    }
    assert_memory_equal(got, data, total);
    free(got);
    free(data);
    close(plain);
    client_free(&c);
    wait_conns(f, 0);
}

/* The client does not read: the apiserver's writes stall after a bounded amount. */
static void backpressure_apiserver_to_client(void **state)
{
    fixture_t *f = *state;
    front_start(f, 1, 16, 10000);
    client_t c;
    int plain;
    client_connect(f, &c, &f->cli, &plain);
    const size_t total = 64u << 20;
    char *data = pattern(total, 5);
    size_t accepted = plain_write(plain, data, total, 300);
    assert_true(accepted > 0);
    assert_true(accepted < (16u << 20));
    char *got = malloc(total);
    size_t sent = accepted, recvd = 0;
    while (recvd < total) {
        if (sent < total)
            sent += plain_write(plain, data + sent, total - sent, 5);
        int rc = mbedtls_ssl_read(&c.ssl, (unsigned char *)got + recvd, total - recvd);
        if (rc > 0)
            recvd += (size_t)rc;
        else if (rc != MBEDTLS_ERR_SSL_WANT_READ)
            fail_msg("client read: -0x%04x", (unsigned)-rc);
        else if (sent == total)
            wait_fd(c.fd, POLLIN);
    }
    assert_memory_equal(got, data, total);
    free(got);
    free(data);
    close(plain);
    client_free(&c);
    wait_conns(f, 0);
}

/* The client half-closes after its request: the apiserver reads the request then EOF, and
 * its answer still reaches the client, followed by close_notify and EOF when it closes. */
static void half_close_from_client(void **state)
{
    fixture_t *f = *state;
    front_start(f, 1, 16, 10000);
    client_t c;
    int plain;
    client_connect(f, &c, &f->cli, &plain);
    client_write(&c, "request", 7, 0);
    assert_int_equal(shutdown(c.fd, SHUT_WR), 0);
    char buf[16];
    plain_read(plain, buf, 7);
    assert_memory_equal(buf, "request", 7);
    expect_plain_eof(plain);
    plain_write(plain, "answer", 6, 0);
    client_read(&c, buf, 6);
    assert_memory_equal(buf, "answer", 6);
    close(plain); /* the apiserver is done: close_notify, then EOF */
    int rc;
    while ((rc = mbedtls_ssl_read(&c.ssl, (unsigned char *)buf, sizeof(buf))) ==
           MBEDTLS_ERR_SSL_WANT_READ)
        wait_fd(c.fd, POLLIN);
    assert_int_equal(rc, MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY);
    wait_fd(c.fd, POLLIN);
    assert_int_equal(recv(c.fd, buf, sizeof(buf), 0), 0);
    client_free(&c);
    wait_conns(f, 0);
}

/* The apiserver closes first (after an answer): the client gets the answer, close_notify and
 * EOF; the client's close_notify alone is a half-close seen as EOF by the apiserver. */
static void close_both_ways(void **state)
{
    fixture_t *f = *state;
    front_start(f, 1, 16, 10000);
    client_t c;
    int plain;
    client_connect(f, &c, &f->cli, &plain);
    plain_write(plain, "bye", 3, 0);
    close(plain);
    char buf[16];
    client_read(&c, buf, 3);
    assert_memory_equal(buf, "bye", 3);
    int rc;
    while ((rc = mbedtls_ssl_read(&c.ssl, (unsigned char *)buf, sizeof(buf))) ==
           MBEDTLS_ERR_SSL_WANT_READ)
        wait_fd(c.fd, POLLIN);
    assert_int_equal(rc, MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY);
    client_free(&c);
    wait_conns(f, 0);

    client_t d;
    client_connect(f, &d, &f->cli, &plain);
    while ((rc = mbedtls_ssl_close_notify(&d.ssl)) == MBEDTLS_ERR_SSL_WANT_WRITE)
        wait_fd(d.fd, POLLOUT);
    assert_int_equal(rc, 0);
    expect_plain_eof(plain);
    close(plain);
    client_free(&d); /* the client vanishing without a word: */
    wait_conns(f, 0);
    client_t e;
    client_connect(f, &e, &f->cli, &plain);
    close(e.fd);
    e.fd = -1;
    expect_plain_eof(plain);
    close(plain);
    client_free(&e);
    wait_conns(f, 0);
}

/* The apiserver answers and closes while the client is still sending (431, 413): the rest of
 * what the client sends is taken and dropped, and the answer reaches it. */
static void answer_survives_close_while_client_sends(void **state)
{
    fixture_t *f = *state;
    front_start(f, 1, 16, 10000);
    client_t c;
    int plain;
    client_connect(f, &c, &f->cli, &plain);
    const size_t total = 8u << 20;
    char *data = pattern(total, 9);
    size_t sent = client_write(&c, data, total, 200);
    assert_true(sent < total);
    char buf[4096];
    plain_read(plain, buf, sizeof(buf));
    assert_memory_equal(buf, data, sizeof(buf));
    plain_write(plain, "answer", 6, 0);
    close(plain);
    while (sent < total) {
        size_t n = client_write(&c, data + sent, total - sent, 5000);
        if (n == 0)
            fail_msg("the client's writes stalled at %zu of %zu bytes", sent, total);
        sent += n;
    }
    client_read(&c, buf, 6);
    assert_memory_equal(buf, "answer", 6);
    int rc;
    while ((rc = mbedtls_ssl_read(&c.ssl, (unsigned char *)buf, sizeof(buf))) ==
           MBEDTLS_ERR_SSL_WANT_READ)
        wait_fd(c.fd, POLLIN);
    assert_int_equal(rc, MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY);
    free(data);
    client_free(&c);
    wait_conns(f, 0);
}

/* A client that never finishes its handshake loses its slot after the handshake timeout. */
static void handshake_timeout(void **state)
{
    fixture_t *f = *state;
    front_start(f, 1, 16, 200);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    uint64_t t0 = now_ms();
    assert_int_equal(apiserver_front_adopt(f->front, sv[1]), 0);
    assert_int_equal(write(sv[0], "\x16\x03\x01", 3), 3); /* the start of a ClientHello */
    wait_fd(sv[0], POLLIN);
    char b[16];
    assert_int_equal(read(sv[0], b, sizeof(b)), 0);
    assert_true(now_ms() - t0 >= 150);
    wait_conns(f, 0);
    pthread_mutex_lock(&f->mu);
    assert_int_equal(f->handoffs, 0);
    pthread_mutex_unlock(&f->mu);
    close(sv[0]);
}

/* Beyond max_connections, a new connection is closed at once; a slot freed is usable. */
static void connection_cap(void **state)
{
    fixture_t *f = *state;
    front_start(f, 1, 1, 10000);
    client_t c;
    int plain;
    client_connect(f, &c, &f->cli, &plain);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(apiserver_front_adopt(f->front, sv[1]), 0);
    wait_fd(sv[0], POLLIN);
    char b[16];
    assert_int_equal(read(sv[0], b, sizeof(b)), 0);
    close(sv[0]);
    close(plain);
    client_free(&c);
    wait_conns(f, 0);
    client_connect(f, &c, &f->cli, &plain);
    close(plain);
    client_free(&c);
    wait_conns(f, 0);
}

int main(void)
{
    unit_filter_from_env();
    signal(SIGPIPE, SIG_IGN); /* as kubeling does: writes to a closed peer fail with EPIPE */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(data_both_ways_with_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(anonymous_without_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(backpressure_client_to_apiserver, setup, teardown),
        cmocka_unit_test_setup_teardown(backpressure_apiserver_to_client, setup, teardown),
        cmocka_unit_test_setup_teardown(half_close_from_client, setup, teardown),
        cmocka_unit_test_setup_teardown(close_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(answer_survives_close_while_client_sends, setup, teardown),
        cmocka_unit_test_setup_teardown(handshake_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(connection_cap, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
