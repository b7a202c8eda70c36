/* api_bench: load generator for the apiserver over HTTPS (mbedTLS client, HTTP/1.1 keep-alive).
 *
 *   api_bench create|get|list|list-gzip KUBECONFIG [CLIENTS [N]]
 *   api_bench watch KUBECONFIG [WATCHERS [N [SERVER-PID]]]
 *
 * create/get/list: CLIENTS processes, one keep-alive connection each, issue N requests in all
 * (create: POST a ~1 KiB pod with a unique name; get: GET one of 100 pods created beforehand;
 * list: GET the pods of a namespace holding 100 pods; list-gzip: the same with
 * `Accept-Encoding: gzip`, as kubectl and client-go send it, each gzip body inflated and checked).
 * A request's latency runs from its send to the whole response received; the gzip check comes
 * after (it is the client's work, and it would count the client's inflate as server latency).
 * watch: WATCHERS watch streams on a fresh
 * namespace, served by one epoll loop, then N sequential pod creates; the delivery latency is
 * measured from each create's response to each watcher's ADDED event. One result line each. */
#include "../bench.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>
#include <zlib.h>

#define PRELOAD_PODS      100 /* pods behind get and list */
#define MAX_CONNECTING    64  /* watch handshakes in flight at once */
#define WATCH_DRAIN_NS    (30ull * 1000000000ull)
#define MAX_RESPONSE_BODY (64u << 20)

/* ---- time and statistics ------------------------------------------------------------------ */

static void die(const char *what, int rc)
{
    char buf[160] = "";
    if (rc < 0)
        mbedtls_strerror(rc, buf, sizeof(buf));
    fprintf(stderr, "api_bench: %s%s%s\n", what, buf[0] ? ": " : "", buf);
    exit(1);
}

/* ---- kubeconfig and the TLS client configuration ------------------------------------------ */

/* mbedTLS is built without MBEDTLS_THREADING_C and TLS 1.3 keeps its keys in PSA's global slot
 * table, so every TLS call of every thread is made under this lock (never while waiting). */
static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct bench_tls {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca, crt;
    mbedtls_pk_context key;
    mbedtls_ssl_config conf;
    char host[64];
    uint16_t port;
} bench_tls_t;

/* The suites kubectl (Go) and curl (OpenSSL) offer first on CPUs with AES instructions;
 * mbedTLS's own default puts ChaCha20 first, and the server follows the client's order. */
static const int client_suites[] = {
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

/* Returns the base64-decoded value of `field:` in the kubeconfig text, NUL-terminated. */
static unsigned char *kubeconfig_field(const char *text, const char *field, size_t *ret_len)
{
    char key[96];
    snprintf(key, sizeof(key), "%s: ", field);
    const char *v = strstr(text, key);
    if (!v)
        die(field, 0);
    v += strlen(key);
    size_t n = strcspn(v, "\r\n"), out = 0;
    unsigned char *buf = calloc(1, n + 1);
    if (!buf || mbedtls_base64_decode(buf, n, &out, (const unsigned char *)v, n) != 0)
        die("decoding the kubeconfig", 0);
    buf[out] = '\0';
    *ret_len = out + 1; /* PEM parsers want the terminating NUL counted */
    return buf;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die(path, 0);
    char *text = calloc(1, 1 << 20);
    size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (n == 0)
        die(path, 0);
    return text;
}

static void server_address(const char *text, bench_tls_t *t)
{
    const char *s = strstr(text, "server: https://");
    unsigned port = 0;
    if (!s || sscanf(s + 16, "%63[^:/]:%u", t->host, &port) != 2 || port == 0 || port > 65535)
        die("kubeconfig: server is not https://HOST:PORT", 0);
    t->port = (uint16_t)port;
}

static void tls_init(bench_tls_t *t, const char *kubeconfig)
{
    char *text = read_file(kubeconfig);
    server_address(text, t);
    size_t ca_len, crt_len, key_len;
    unsigned char *ca = kubeconfig_field(text, "certificate-authority-data", &ca_len);
    unsigned char *crt = kubeconfig_field(text, "client-certificate-data", &crt_len);
    unsigned char *key = kubeconfig_field(text, "client-key-data", &key_len);
    free(text);
    if (psa_crypto_init() != PSA_SUCCESS)
        die("psa_crypto_init", 0);
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    mbedtls_x509_crt_init(&t->ca);
    mbedtls_x509_crt_init(&t->crt);
    mbedtls_pk_init(&t->key);
    mbedtls_ssl_config_init(&t->conf);
    int rc;
    if ((rc = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy, NULL, 0)) ||
        (rc = mbedtls_x509_crt_parse(&t->ca, ca, ca_len)) ||
        (rc = mbedtls_x509_crt_parse(&t->crt, crt, crt_len)) ||
        (rc = mbedtls_pk_parse_key(&t->key, key, key_len, NULL, 0, mbedtls_ctr_drbg_random,
                                   &t->drbg)))
        die("loading the kubeconfig credentials", rc);
    free(ca);
    free(crt);
    free(key);
    if ((rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT,
                                          MBEDTLS_SSL_TRANSPORT_STREAM,
                                          MBEDTLS_SSL_PRESET_DEFAULT)) ||
        (rc = mbedtls_ssl_conf_own_cert(&t->conf, &t->crt, &t->key)))
        die("TLS configuration", rc);
    mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ciphersuites(&t->conf, client_suites);
    mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
}

/* ---- connections -------------------------------------------------------------------------- */

typedef struct conn {
    mbedtls_net_context net;
    mbedtls_ssl_context ssl;
    char *in; /* plaintext received and not yet consumed */
    size_t in_len, in_cap;
    uint64_t answered_ns; /* when http_do had the whole response (before any gzip check) */
} conn_t;

/* TCP connect (blocking, loopback is immediate), then a non-blocking socket set up for TLS. */
static void conn_open(conn_t *c, bench_tls_t *t)
{
    *c = (conn_t){0};
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(t->port)};
    if (inet_pton(AF_INET, t->host, &sa.sin_addr) != 1)
        die("server host is not an IPv4 address", 0);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("connect", 0);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->net.fd = fd;
    mbedtls_net_set_nonblock(&c->net);
    mbedtls_ssl_init(&c->ssl);
    pthread_mutex_lock(&tls_lock);
    int rc = mbedtls_ssl_setup(&c->ssl, &t->conf);
    if (rc == 0)
        rc = mbedtls_ssl_set_hostname(&c->ssl, t->host);
    pthread_mutex_unlock(&tls_lock);
    if (rc)
        die("TLS setup", rc);
    mbedtls_ssl_set_bio(&c->ssl, &c->net, mbedtls_net_send, mbedtls_net_recv, NULL);
}

static void conn_close(conn_t *c)
{
    pthread_mutex_lock(&tls_lock);
    mbedtls_ssl_free(&c->ssl);
    pthread_mutex_unlock(&tls_lock);
    mbedtls_net_free(&c->net);
    free(c->in);
    c->in = NULL;
}

static bool tls_again(int rc)
{
    return rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE ||
           rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET;
}

/* Waits (outside the lock) for what mbedTLS asked for. */
static void conn_wait(conn_t *c, int rc)
{
    struct pollfd p = {.fd = c->net.fd,
                       .events = rc == MBEDTLS_ERR_SSL_WANT_WRITE ? POLLOUT : POLLIN};
    if (rc != MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
        poll(&p, 1, -1);
}

static int conn_handshake_step(conn_t *c)
{
    pthread_mutex_lock(&tls_lock);
    int rc = mbedtls_ssl_handshake(&c->ssl);
    pthread_mutex_unlock(&tls_lock);
    return rc;
}

static void conn_handshake(conn_t *c)
{
    int rc;
    while ((rc = conn_handshake_step(c)) != 0) {
        if (!tls_again(rc))
            die("TLS handshake", rc);
        conn_wait(c, rc);
    }
}

static void conn_write_all(conn_t *c, const char *buf, size_t len)
{
    while (len > 0) {
        pthread_mutex_lock(&tls_lock);
        int rc = mbedtls_ssl_write(&c->ssl, (const unsigned char *)buf, len);
        pthread_mutex_unlock(&tls_lock);
        if (rc > 0) {
            buf += rc;
            len -= (size_t)rc;
        } else if (tls_again(rc)) {
            conn_wait(c, rc);
        } else {
            die("TLS write", rc);
        }
    }
}

/* Appends whatever plaintext is ready; returns bytes read, 0 when mbedTLS needs the socket
 * (*ret_wait says for what), or < 0 on close or error. */
static int conn_read_some(conn_t *c, int *ret_wait)
{
    if (c->in_cap - c->in_len < 16384) {
        c->in_cap = c->in_cap ? c->in_cap * 2 : 32768;
        c->in = realloc(c->in, c->in_cap);
        if (!c->in)
            die("out of memory", 0);
    }
    pthread_mutex_lock(&tls_lock);
    int rc = mbedtls_ssl_read(&c->ssl, (unsigned char *)c->in + c->in_len, c->in_cap - c->in_len);
    pthread_mutex_unlock(&tls_lock);
    if (rc > 0) {
        c->in_len += (size_t)rc;
        return rc;
    }
    if (tls_again(rc)) {
        *ret_wait = rc;
        return 0;
    }
    return rc == 0 ? -1 : rc;
}

static void conn_consume(conn_t *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* ---- HTTP/1.1 ----------------------------------------------------------------------------- */

static bool want_gzip; /* list-gzip: GETs send Accept-Encoding: gzip */

static int request_format(char *out, size_t n, const char *method, const char *path,
                          const char *body, const char *host)
{
    if (!body)
        return snprintf(out, n,
                        "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: api_bench\r\n"
                        "Accept: application/json\r\n%s\r\n",
                        method, path, host, want_gzip ? "Accept-Encoding: gzip\r\n" : "");
    return snprintf(out, n,
                    "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: api_bench\r\n"
                    "Accept: application/json\r\nContent-Type: application/json\r\n"
                    "Content-Length: %zu\r\n\r\n%s",
                    method, path, host, strlen(body), body);
}

/* Length of a complete response head in c->in (0 if incomplete); the status and the body
 * length (Content-Length, or -1 for a chunked stream) are returned. */
static size_t response_head(const conn_t *c, int *ret_status, long *ret_length, bool *ret_gzip)
{
    const char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - c->in) + 4;
    *ret_status = atoi(c->in + 9);
    *ret_length = -1;
    *ret_gzip = false;
    for (const char *p = c->in; p && p < end;) {
        if (!strncasecmp(p, "content-length:", 15))
            *ret_length = atol(p + 15);
        if (!strncasecmp(p, "content-encoding: gzip", 22))
            *ret_gzip = true;
        p = memchr(p, '\n', (size_t)(end - p));
        p = p ? p + 1 : NULL;
    }
    return head;
}

/* Inflates a gzip body as a client would (and dies if it is not one complete member). */
static void gunzip_check(const char *data, size_t len)
{
    static _Thread_local unsigned char out[65536];
    z_stream z = {0};
    if (inflateInit2(&z, 16 + 15) != Z_OK)
        die("inflateInit2", 0);
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)len;
    int rc;
    do {
        z.next_out = out;
        z.avail_out = sizeof(out);
        rc = inflate(&z, Z_NO_FLUSH);
    } while (rc == Z_OK);
    inflateEnd(&z);
    if (rc != Z_STREAM_END || z.avail_in != 0)
        die("response body is not a complete gzip member", rc);
}

/* One request on a keep-alive connection; returns the status and drops the response body. */
static int http_do(conn_t *c, const char *req, size_t req_len)
{
    conn_write_all(c, req, req_len);
    int status = 0, wait = 0;
    long length = -1;
    size_t head;
    bool gzip = false;
    while ((head = response_head(c, &status, &length, &gzip)) == 0 ||
           c->in_len < head + (size_t)(length > 0 ? length : 0)) {
        if (head && (length < 0 || length > (long)MAX_RESPONSE_BODY))
            die("response without a usable Content-Length", 0);
        int rc = conn_read_some(c, &wait);
        if (rc < 0)
            die("connection lost", rc);
        if (rc == 0)
            conn_wait(c, wait);
    }
    if (length < 0 || length > (long)MAX_RESPONSE_BODY)
        die("response without a usable Content-Length", 0);
    c->answered_ns = now_ns(); /* the latency ends here: inflating is the client's own work */
    if (gzip)
        gunzip_check(c->in + head, (size_t)length);
    conn_consume(c, head + (size_t)length);
    return status;
}

/* ---- workload objects --------------------------------------------------------------------- */

static char run_id[24];

/* A ~1.2 KiB pod, shaped like a Deployment's pod (labels, probes, resources, a volume). */
static int pod_json(char *out, size_t n, const char *name)
{
    return snprintf(
        out, n,
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"labels\":{"
        "\"app\":\"bench\",\"tier\":\"backend\",\"release\":\"stable\",\"pod-template-hash\":"
        "\"5d8f9c7b6d\"},\"annotations\":{\"kubeling.io/bench\":\"api\",\"prometheus.io/scrape\":"
        "\"true\",\"prometheus.io/port\":\"9090\"}},\"spec\":{\"restartPolicy\":\"Always\","
        "\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":\"ClusterFirst\","
        "\"serviceAccountName\":\"default\",\"nodeSelector\":{\"kubernetes.io/os\":\"linux\"},"
        "\"containers\":[{\"name\":\"app\",\"image\":\"registry.example.com/bench/app:1.27.3\","
        "\"imagePullPolicy\":\"IfNotPresent\",\"command\":[\"/bin/app\"],\"args\":["
        "\"--listen=:8080\",\"--metrics=:9090\",\"--log-level=info\"],\"ports\":[{\"name\":"
        "\"http\",\"containerPort\":8080,\"protocol\":\"TCP\"},{\"name\":\"metrics\","
        "\"containerPort\":9090,\"protocol\":\"TCP\"}],\"env\":[{\"name\":\"APP_MODE\",\"value\":"
        "\"production\"},{\"name\":\"APP_REGION\",\"value\":\"eu-central-1\"}],\"resources\":{"
        "\"requests\":{\"cpu\":\"100m\",\"memory\":\"128Mi\"},\"limits\":{\"cpu\":\"500m\","
        "\"memory\":\"256Mi\"}},\"readinessProbe\":{\"httpGet\":{\"path\":\"/healthz\",\"port\":"
        "8080},\"periodSeconds\":10},\"volumeMounts\":[{\"name\":\"config\",\"mountPath\":"
        "\"/etc/app\",\"readOnly\":true}]}],\"volumes\":[{\"name\":\"config\",\"configMap\":{"
        "\"name\":\"app-config\"}}]}}",
        name);
}

static void pod_name(char *out, size_t n, const char *kind, size_t i)
{
    snprintf(out, n, "%s-%s-%zu", kind, run_id, i);
}

/* Formats the create request for pod `kind`-RUN-i in namespace ns. */
static size_t create_request(char *out, size_t n, const char *host, const char *ns,
                             const char *kind, size_t i)
{
    char name[96], body[2048], path[256];
    pod_name(name, sizeof(name), kind, i);
    pod_json(body, sizeof(body), name);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods", ns);
    return (size_t)request_format(out, n, "POST", path, body, host);
}

static void create_namespace(conn_t *c, const char *host, const char *ns)
{
    char body[256], req[1024];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"%s\"}}", ns);
    size_t len = (size_t)request_format(req, sizeof(req), "POST", "/api/v1/namespaces", body, host);
    int status = http_do(c, req, len);
    if (status != 201 && status != 409)
        die("creating the benchmark namespace", 0);
}

static void preload_pods(conn_t *c, const char *host, const char *ns, const char *kind, size_t n)
{
    char req[4096];
    for (size_t i = 0; i < n; i++) {
        size_t len = create_request(req, sizeof(req), host, ns, kind, i);
        if (http_do(c, req, len) != 201)
            die("preloading pods", 0);
    }
}

/* ---- create, get, list: one thread and one connection per client -------------------------- */

typedef struct client {
    bench_tls_t *tls;
    const char *op, *ns;
    size_t index, stride, n; /* requests index, index + stride, ... < n */
    uint64_t *lat;           /* shared, one slot per request */
    size_t errors;
    pthread_barrier_t *start;
} client_t;

static size_t client_request(const client_t *cl, size_t i, char *req, size_t n)
{
    char path[256];
    if (!strcmp(cl->op, "create"))
        return create_request(req, n, cl->tls->host, cl->ns, "c", i);
    if (!strcmp(cl->op, "get"))
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/g-%s-%zu", cl->ns, run_id,
                 i % PRELOAD_PODS);
    else
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods", cl->ns);
    return (size_t)request_format(req, n, "GET", path, NULL, cl->tls->host);
}

static void *client_main(void *arg)
{
    client_t *cl = arg;
    conn_t c;
    conn_open(&c, cl->tls);
    conn_handshake(&c);
    pthread_barrier_wait(cl->start);
    int want = !strcmp(cl->op, "create") ? 201 : 200;
    char req[4096];
    for (size_t i = cl->index; i < cl->n; i += cl->stride) {
        size_t len = client_request(cl, i, req, sizeof(req));
        uint64_t t0 = now_ns();
        int status = http_do(&c, req, len);
        cl->lat[i] = c.answered_ns - t0;
        cl->errors += status != want;
    }
    conn_close(&c);
    return NULL;
}

static void preload_for(bench_tls_t *t, const char *op, const char *ns)
{
    if (!strcmp(op, "create"))
        return;
    conn_t c;
    conn_open(&c, t);
    conn_handshake(&c);
    if (strcmp(ns, "default"))
        create_namespace(&c, t->host, ns);
    preload_pods(&c, t->host, ns, !strcmp(op, "get") ? "g" : "l", PRELOAD_PODS);
    conn_close(&c);
}

/* What the client processes share: the start barrier, errors per client (latencies: lat). */
typedef struct shared_run {
    pthread_barrier_t start;
    size_t errors[];
} shared_run_t;

static void *shared_alloc(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap", 0);
    return p;
}

/* Clients are processes, not threads: mbedTLS here is built without MBEDTLS_THREADING_C, so
 * threads must take tls_lock around every TLS call, and 24 threads then decrypt one at a time
 * (the client, not the server, bounded plain-JSON lists). Each process has its own TLS state. */
static int run_clients(bench_tls_t *t, const char *op, size_t clients, size_t n)
{
    char ns[64] = "default";
    if (!strcmp(op, "list")) /* its own namespace, holding exactly PRELOAD_PODS pods */
        snprintf(ns, sizeof(ns), "bench-list-%s", run_id);
    preload_for(t, op, ns);
    size_t shared_len = sizeof(shared_run_t) + clients * sizeof(size_t);
    shared_run_t *sh = shared_alloc(shared_len);
    uint64_t *lat = shared_alloc(n * sizeof(*lat));
    pthread_barrierattr_t attr;
    pthread_barrierattr_init(&attr);
    pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_barrier_init(&sh->start, &attr, (unsigned)clients + 1);
    pthread_barrierattr_destroy(&attr);
    pid_t *pids = calloc(clients, sizeof(*pids));
    fflush(NULL);
    for (size_t k = 0; k < clients; k++) {
        pids[k] = fork();
        if (pids[k] < 0)
            die("fork", 0);
        if (pids[k] == 0) {
            /* its own random stream (client randoms) */
            unsigned char seed[sizeof(pid_t) + sizeof(size_t)];
            pid_t self = getpid();
            memcpy(seed, &self, sizeof(self));
            memcpy(seed + sizeof(self), &k, sizeof(k));
            mbedtls_ctr_drbg_reseed(&t->drbg, seed, sizeof(seed));
            client_t cl = {.tls = t,
                           .op = op,
                           .ns = ns,
                           .index = k,
                           .stride = clients,
                           .n = n,
                           .lat = lat,
                           .start = &sh->start};
            client_main(&cl);
            sh->errors[k] = cl.errors;
            _exit(0);
        }
    }
    pthread_barrier_wait(&sh->start); /* every client has its connection */
    uint64_t t0 = now_ns();
    size_t errors = 0;
    for (size_t k = 0; k < clients; k++) {
        int st = 0;
        if (waitpid(pids[k], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            errors++;
        errors += sh->errors[k];
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    printf("op=%s%s clients=%zu n=%zu secs=%.2f per_s=%.0f p50_ms=%.2f p99_ms=%.2f errors=%zu\n",
           op, want_gzip ? "-gzip" : "", clients, n, secs, (double)n / secs, pct_ms(lat, n, 0.50),
           pct_ms(lat, n, 0.99), errors);
    pthread_barrier_destroy(&sh->start);
    free(pids);
    munmap(lat, n * sizeof(*lat));
    munmap(sh, shared_len);
    return errors ? 1 : 0;
}

/* ---- watch: WATCHERS streams on one epoll loop, creates from a second thread -------------- */

enum { W_HANDSHAKE, W_HEADERS, W_STREAM, W_DEAD };

typedef struct watcher {
    conn_t c;
    int state;
    uint32_t events; /* what the fd is registered for */
    size_t chunk_left;
    bool in_data; /* inside a chunk's data (else at a size line or a data CRLF) */
    char *line;   /* the event being assembled */
    size_t line_len, line_cap;
    uint64_t *seen; /* receive time per created pod, 0 until the ADDED event */
} watcher_t;

typedef struct watch_bench {
    bench_tls_t *tls;
    char ns[64];
    char prefix[64]; /* "\"name\":\"w-RUN-" */
    size_t nwatchers, n, ready, dead, connecting, next_open;
    watcher_t *w;
    uint64_t *created; /* response time per create */
    atomic_bool creates_done;
    int ep;
} watch_bench_t;

static void watcher_arm(watch_bench_t *b, watcher_t *w, int rc)
{
    uint32_t ev = rc == MBEDTLS_ERR_SSL_WANT_WRITE ? EPOLLOUT : EPOLLIN;
    if (ev == w->events)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = w};
    epoll_ctl(b->ep, w->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, w->c.net.fd, &e);
    w->events = ev;
}

static void watcher_fail(watch_bench_t *b, watcher_t *w, const char *why, int rc)
{
    char buf[128] = "";
    if (rc < 0)
        mbedtls_strerror(rc, buf, sizeof(buf));
    fprintf(stderr, "api_bench: watcher %zu: %s %s\n", (size_t)(w - b->w), why, buf);
    if (w->state == W_HANDSHAKE)
        b->connecting--;
    w->state = W_DEAD;
    b->dead++;
    epoll_ctl(b->ep, EPOLL_CTL_DEL, w->c.net.fd, NULL);
}

/* An event line: records the first ADDED of each of our pods. */
static void watcher_line(watch_bench_t *b, watcher_t *w, uint64_t t)
{
    if (w->line_len < 16 || memcmp(w->line, "{\"type\":\"ADDED\"", 15))
        return;
    w->line[w->line_len] = '\0';
    const char *p = strstr(w->line, b->prefix);
    if (!p)
        return;
    size_t i = strtoul(p + strlen(b->prefix), NULL, 10);
    if (i < b->n && w->seen[i] == 0)
        w->seen[i] = t;
}

static void line_append(watcher_t *w, const char *p, size_t n)
{
    if (w->line_len + n + 1 > w->line_cap) {
        w->line_cap = (w->line_len + n + 1) * 2;
        w->line = realloc(w->line, w->line_cap);
        if (!w->line)
            die("out of memory", 0);
    }
    memcpy(w->line + w->line_len, p, n);
    w->line_len += n;
}

/* Decodes the chunked body in w->c.in into newline-delimited events. */
static void watcher_stream(watch_bench_t *b, watcher_t *w, uint64_t t)
{
    conn_t *c = &w->c;
    size_t off = 0;
    while (off < c->in_len) {
        if (w->in_data && w->chunk_left > 0) {
            size_t take = c->in_len - off < w->chunk_left ? c->in_len - off : w->chunk_left;
            const char *p = c->in + off, *end = p + take;
            while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                line_append(w, p, (size_t)((nl ? nl : end) - p));
                p = nl ? nl + 1 : end;
                if (nl) {
                    watcher_line(b, w, t);
                    w->line_len = 0;
                }
            }
            off += take;
            w->chunk_left -= take;
            continue;
        }
        const char *eol = memmem(c->in + off, c->in_len - off, "\r\n", 2);
        if (!eol)
            break;
        if (!w->in_data)
            w->chunk_left = strtoul(c->in + off, NULL, 16);
        w->in_data = !w->in_data; /* size line -> data; data CRLF -> next size line */
        off = (size_t)(eol - c->in) + 2;
        if (w->in_data && w->chunk_left == 0) {
            watcher_fail(b, w, "stream ended", 0);
            break;
        }
    }
    conn_consume(c, off);
}

static void watcher_request(watch_bench_t *b, watcher_t *w)
{
    char path[256], req[1024];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?watch=1", b->ns);
    int len = request_format(req, sizeof(req), "GET", path, NULL, b->tls->host);
    conn_write_all(&w->c, req, (size_t)len); /* small: fits the empty socket buffer */
    w->state = W_HEADERS;
    b->connecting--;
}

static void watcher_headers(watch_bench_t *b, watcher_t *w)
{
    int status = 0;
    long length;
    bool gzip;
    size_t head = response_head(&w->c, &status, &length, &gzip);
    if (head == 0)
        return;
    if (status != 200)
        return watcher_fail(b, w, "watch refused", 0);
    conn_consume(&w->c, head);
    w->state = W_STREAM;
    b->ready++;
}

/* Reads until mbedTLS wants the socket again (records buffered inside it raise no epoll). */
static void watcher_readable(watch_bench_t *b, watcher_t *w)
{
    for (;;) {
        int wait = 0;
        if (w->state == W_HANDSHAKE) {
            int rc = conn_handshake_step(&w->c);
            if (rc == 0) {
                watcher_request(b, w);
                continue;
            }
            if (!tls_again(rc))
                return watcher_fail(b, w, "handshake", rc);
            return watcher_arm(b, w, rc);
        }
        int rc = conn_read_some(&w->c, &wait);
        if (rc < 0)
            return watcher_fail(b, w, "connection lost", rc);
        if (rc == 0)
            return watcher_arm(b, w, wait);
        uint64_t t = now_ns();
        if (w->state == W_HEADERS)
            watcher_headers(b, w);
        if (w->state == W_STREAM)
            watcher_stream(b, w, t);
        if (w->state == W_DEAD)
            return;
    }
}

/* Starts handshakes while fewer than MAX_CONNECTING are in flight. */
static void watchers_open_more(watch_bench_t *b)
{
    while (b->next_open < b->nwatchers && b->connecting < MAX_CONNECTING) {
        watcher_t *w = &b->w[b->next_open++];
        conn_open(&w->c, b->tls);
        w->state = W_HANDSHAKE;
        w->seen = calloc(b->n ? b->n : 1, sizeof(*w->seen));
        b->connecting++;
        watcher_readable(b, w);
    }
}

static void watch_loop_once(watch_bench_t *b, int timeout_ms)
{
    struct epoll_event ev[256];
    int n = epoll_wait(b->ep, ev, 256, timeout_ms);
    for (int k = 0; k < n; k++) {
        watcher_t *w = ev[k].data.ptr;
        if (w->state != W_DEAD)
            watcher_readable(b, w);
    }
}

static bool all_seen(const watch_bench_t *b)
{
    for (size_t k = 0; k < b->nwatchers; k++)
        if (b->w[k].state == W_STREAM)
            for (size_t i = 0; i < b->n; i++)
                if (b->w[k].seen[i] == 0)
                    return false;
    return true;
}

/* The creator: N sequential creates on its own connection. */
static void *creator_main(void *arg)
{
    watch_bench_t *b = arg;
    conn_t c;
    conn_open(&c, b->tls);
    conn_handshake(&c);
    char req[4096];
    for (size_t i = 0; i < b->n; i++) {
        size_t len = create_request(req, sizeof(req), b->tls->host, b->ns, "w", i);
        if (http_do(&c, req, len) != 201)
            die("create during watch", 0);
        b->created[i] = now_ns();
    }
    conn_close(&c);
    atomic_store(&b->creates_done, true);
    return NULL;
}

/* The server's pid from the listening socket's inode in /proc/net/tcp. */
static long pid_by_port(uint16_t port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[512], want[64] = "";
    unsigned lport, st;
    unsigned long inode;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %*s %*s %*s %*s %*s %lu", &lport, &st, &inode) ==
                3 &&
            lport == port && st == 0x0a)
            snprintf(want, sizeof(want), "socket:[%lu]", inode);
    if (f)
        fclose(f);
    DIR *proc = want[0] ? opendir("/proc") : NULL;
    long pid = 0;
    for (struct dirent *d; proc && !pid && (d = readdir(proc));) {
        char dir[300], link[600], target[64];
        snprintf(dir, sizeof(dir), "/proc/%s/fd", d->d_name);
        DIR *fds = d->d_name[0] >= '1' && d->d_name[0] <= '9' ? opendir(dir) : NULL;
        for (struct dirent *e; fds && !pid && (e = readdir(fds));) {
            snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
            ssize_t k = readlink(link, target, sizeof(target) - 1);
            if (k <= 0)
                continue;
            target[k] = '\0';
            if (!strcmp(target, want))
                pid = atol(d->d_name);
        }
        if (fds)
            closedir(fds);
    }
    if (proc)
        closedir(proc);
    return pid;
}

static long rss_kib(long pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

static void watch_report(watch_bench_t *b, double secs, long pid)
{
    uint64_t *lat = calloc(b->nwatchers * b->n + 1, sizeof(*lat));
    size_t nlat = 0, missing = 0, early = 0;
    for (size_t k = 0; k < b->nwatchers; k++) {
        if (b->w[k].state != W_STREAM) {
            missing += b->n;
            continue;
        }
        for (size_t i = 0; i < b->n; i++) {
            uint64_t seen = b->w[k].seen[i];
            if (seen == 0)
                missing++;
            else
                lat[nlat++] = seen > b->created[i] ? seen - b->created[i] : 0;
            /* an event that beat the create's response to the creator counts as 0 */
            early += seen && seen <= b->created[i];
        }
    }
    double p50 = pct_ms(lat, nlat, 0.50), p99 = pct_ms(lat, nlat, 0.99);
    printf("op=watch watchers=%zu n=%zu events=%zu secs=%.2f p50_ms=%.2f p99_ms=%.2f "
           "max_ms=%.2f early=%zu missing=%zu server_rss_kib=%ld\n",
           b->ready, b->n, nlat, secs, p50, p99, nlat ? (double)lat[nlat - 1] / 1e6 : 0.0, early,
           missing, pid > 0 ? rss_kib(pid) : -1);
    free(lat);
}

static int run_watch(bench_tls_t *t, size_t nwatchers, size_t n, long pid)
{
    watch_bench_t b = {.tls = t, .nwatchers = nwatchers, .n = n};
    snprintf(b.ns, sizeof(b.ns), "bench-watch-%s", run_id);
    snprintf(b.prefix, sizeof(b.prefix), "\"name\":\"w-%s-", run_id);
    conn_t setup;
    conn_open(&setup, t);
    conn_handshake(&setup);
    create_namespace(&setup, t->host, b.ns);
    conn_close(&setup);
    b.w = calloc(nwatchers, sizeof(*b.w));
    b.created = calloc(n + 1, sizeof(*b.created));
    b.ep = epoll_create1(EPOLL_CLOEXEC);
    uint64_t t0 = now_ns();
    while (b.ready + b.dead < nwatchers) {
        watchers_open_more(&b);
        watch_loop_once(&b, 100);
    }
    double connect_secs = (double)(now_ns() - t0) / 1e9;
    fprintf(stderr, "api_bench: %zu watch streams open in %.2f s\n", b.ready, connect_secs);
    pthread_t creator;
    t0 = now_ns();
    if (pthread_create(&creator, NULL, creator_main, &b))
        die("pthread_create", 0);
    uint64_t deadline = 0;
    while (!deadline || now_ns() < deadline) {
        watch_loop_once(&b, 50);
        if (!deadline && atomic_load(&b.creates_done))
            deadline = now_ns() + WATCH_DRAIN_NS;
        if (deadline && all_seen(&b))
            break;
    }
    pthread_join(creator, NULL);
    if (pid <= 0)
        pid = pid_by_port(t->port);
    watch_report(&b, (double)(now_ns() - t0) / 1e9, pid);
    for (size_t k = 0; k < nwatchers; k++) {
        if (k < b.next_open)
            conn_close(&b.w[k].c);
        free(b.w[k].seen);
        free(b.w[k].line);
    }
    close(b.ep);
    free(b.w);
    free(b.created);
    return b.dead ? 1 : 0;
}

/* ---- main --------------------------------------------------------------------------------- */

static size_t arg_size(int argc, char **argv, int i, size_t def)
{
    if (argc <= i)
        return def;
    char *end;
    unsigned long long v = strtoull(argv[i], &end, 10);
    if (*end || v == 0)
        die("counts must be positive integers", 0);
    return (size_t)v;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "list-gzip")) {
        want_gzip = true;
        argv[1] = "list";
    }
    if (argc < 3 || (strcmp(argv[1], "create") && strcmp(argv[1], "get") &&
                     strcmp(argv[1], "list") && strcmp(argv[1], "watch"))) {
        fprintf(stderr, "usage: api_bench create|get|list|list-gzip KUBECONFIG [CLIENTS [N]]\n"
                        "       api_bench watch KUBECONFIG [WATCHERS [N [SERVER-PID]]]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    snprintf(run_id, sizeof(run_id), "%lx%lx", (unsigned long)getpid(),
             (unsigned long)time(NULL) & 0xffffff);
    bench_tls_t tls;
    tls_init(&tls, argv[2]);
    if (!strcmp(argv[1], "watch"))
        return run_watch(&tls, arg_size(argc, argv, 3, 1000), arg_size(argc, argv, 4, 200),
                         argc > 5 ? atol(argv[5]) : 0);
    return run_clients(&tls, argv[1], arg_size(argc, argv, 3, 24), arg_size(argc, argv, 4, 10000));
}
