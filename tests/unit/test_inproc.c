/* test_inproc: the in-process transport between pkg/client and the apiserver (a socketpair per
 * connection, plain HTTP/1.1, pre-authenticated identity): verbs, watch streams, keep-alive,
 * connection close in both directions, connects from another thread, and that network clients
 * gain nothing from it (plain HTTP on the TLS port is refused, TLS without credentials is 401). */
#include "unit.h"
#include "apiserver/apiserver.h"
#include "apiserver/apiserver_internal.h"
#include "client/client.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct live {
    uv_loop_t loop;
    store_t *store;
    apiserver_t *api;
    char *dir;
    apiserver_inproc_t *id;
    client_config_t cfg; /* no CA, no certificate, no token: only the transport hook */
    client_t *cl;
} live_t;

static const char *const scheduler_groups[] = {"system:masters"};

static int live_setup(void **state)
{
    live_t *l = calloc(1, sizeof(*l));
    l->dir = unit_tmpdir();
    uv_loop_init(&l->loop);
    char path[512];
    snprintf(path, sizeof(path), "%s/state.db", l->dir);
    store_options_t so;
    store_options_default(&so);
    so.path = path;
    so.loop = &l->loop;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(store_open(&so, &l->store, &err), 0);
    apiserver_opts_t ao;
    apiserver_opts_default(&ao);
    ao.loop = &l->loop;
    ao.store = l->store;
    ao.data_dir = l->dir;
    ao.port = 0;
    ao.bind_address = "127.0.0.1";
    assert_int_equal(apiserver_start(&ao, &l->api, &err), 0);
    l->id = apiserver_inproc_identity(l->api, "system:admin", scheduler_groups, 1);
    assert_non_null(l->id);
    l->cfg.host = "127.0.0.1";
    l->cfg.port = apiserver_port(l->api);
    l->cfg.connect = apiserver_inproc_connect;
    l->cfg.connect_ud = l->id;
    client_opts_t co;
    client_opts_default(&co);
    co.loop = &l->loop;
    co.config = &l->cfg;
    co.user_agent = "test-inproc/1.0";
    assert_int_equal(client_new(&co, &l->cl, &err), 0);
    *state = l;
    return 0;
}

static int live_teardown(void **state)
{
    live_t *l = *state;
    client_close(l->cl);
    apiserver_stop(l->api);
    store_close(l->store);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&l->loop), 0);
    unit_rm_rf(l->dir);
    free(l->dir);
    free(l);
    return 0;
}

static void on_guard(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until *done >= want (or 10 s: a failure). A tick wakes the loop for counters
 * another thread sets. */
static void run_until(live_t *l, const atomic_int *done, int want)
{
    bool expired = false;
    uv_timer_t guard, tick;
    uv_timer_init(&l->loop, &guard);
    uv_timer_init(&l->loop, &tick);
    guard.data = &expired;
    uv_timer_start(&guard, on_guard, 10000, 0);
    uv_timer_start(&tick, on_tick, 10, 10);
    while (atomic_load(done) < want && !expired)
        uv_run(&l->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&l->loop, UV_RUN_NOWAIT);
    if (atomic_load(done) < want)
        fail_msg("timed out: %d of %d", atomic_load(done), want);
}

typedef struct answer {
    atomic_int n;
    int status, error;
    char reason[64];
    cJSON *body;
} answer_t;

static void on_answer(void *ud, client_result_t *res)
{
    answer_t *a = ud;
    a->status = res->status;
    a->error = res->error;
    snprintf(a->reason, sizeof(a->reason), "%s", res->st.reason ? res->st.reason : "");
    cJSON_Delete(a->body);
    a->body = res->body;
    res->body = NULL;
    atomic_fetch_add(&a->n, 1);
}

static const client_resource_t configmaps = {"", "v1", "configmaps", true};

static cJSON *configmap(const char *name, const char *value)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "v1");
    cJSON_AddStringToObject(o, "kind", "ConfigMap");
    cJSON *m = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(m, "name", name);
    cJSON_AddStringToObject(m, "namespace", "default");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "data"), "k", value);
    return o;
}

static void create_configmap(live_t *l, answer_t *a, const char *name, const char *value)
{
    cJSON *cm = configmap(name, value);
    int want = atomic_load(&a->n) + 1;
    assert_non_null(client_create(l->cl, &configmaps, NULL, cm, on_answer, a));
    cJSON_Delete(cm);
    run_until(l, &a->n, want);
}

static const char *data_k(const cJSON *obj)
{
    return cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "data"), "k"));
}

static unsigned count_inproc_conns(const apiserver_t *a)
{
    unsigned n = 0;
    for (const apiserver_conn_t *c = a->conns; c; c = c->next)
        n += c->inproc;
    return n;
}

static bool has_group(const apiserver_user_t *u, const char *g)
{
    for (size_t i = 0; i < u->groups.n; i++)
        if (!strcmp(u->groups.v[i], g))
            return true;
    return false;
}

/* create, get, list, a 404 and a 409 over the transport, by a client with no credentials of its
 * own: the identity is the one the connection was made for. */
static void inproc_verbs_and_identity(void **state)
{
    live_t *l = *state;
    answer_t a = {0};
    create_configmap(l, &a, "one", "1");
    assert_int_equal(a.error, 0);
    assert_int_equal(a.status, 201);
    assert_string_equal(data_k(a.body), "1");
    create_configmap(l, &a, "one", "again");
    assert_int_equal(a.status, 409);
    assert_string_equal(a.reason, "AlreadyExists");
    assert_non_null(client_get(l->cl, &configmaps, "default", "one", on_answer, &a));
    run_until(l, &a.n, 3);
    assert_int_equal(a.status, 200);
    assert_string_equal(data_k(a.body), "1");
    assert_non_null(client_get(l->cl, &configmaps, "default", "nope", on_answer, &a));
    run_until(l, &a.n, 4);
    assert_int_equal(a.status, 404);
    assert_string_equal(a.reason, "NotFound");
    assert_non_null(client_list(l->cl, &configmaps, "default", NULL, on_answer, &a));
    run_until(l, &a.n, 5);
    assert_int_equal(a.status, 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(a.body, "items")), 1);
    /* the server's side: one plain keep-alive connection with the identity */
    assert_int_equal(count_inproc_conns(l->api), 1);
    const apiserver_conn_t *c = l->api->conns;
    while (c && !c->inproc)
        c = c->next;
    assert_non_null(c);
    assert_false(c->handshake_done); /* no TLS on it */
    assert_string_equal(c->user.name, "system:admin");
    assert_true(has_group(&c->user, "system:masters"));
    assert_true(has_group(&c->user, "system:authenticated"));
    assert_int_equal(c->user.groups.n, 2);
    cJSON_Delete(a.body);
}

typedef struct events {
    atomic_int added, modified, ended;
    int end_status, end_error;
    char last[32];
} events_t;

static void on_watch_event(void *ud, const char *type, cJSON **obj)
{
    events_t *e = ud;
    snprintf(e->last, sizeof(e->last), "%s", data_k(*obj) ? data_k(*obj) : "");
    if (!strcmp(type, "ADDED"))
        atomic_fetch_add(&e->added, 1);
    else if (!strcmp(type, "MODIFIED"))
        atomic_fetch_add(&e->modified, 1);
}

static void on_watch_ended(void *ud, client_result_t *res)
{
    events_t *e = ud;
    e->end_status = res->status;
    e->end_error = res->error;
    atomic_fetch_add(&e->ended, 1);
}

/* A chunked watch stream: events arrive as they are committed, on a connection of its own. */
static void inproc_watch_stream(void **state)
{
    live_t *l = *state;
    events_t e = {0};
    client_req_t *w = client_watch(l->cl, "/api/v1/namespaces/default/configmaps?watch=1",
                                   on_watch_event, on_watch_ended, &e);
    assert_non_null(w);
    answer_t a = {0};
    create_configmap(l, &a, "w1", "first");
    run_until(l, &e.added, 1);
    assert_string_equal(e.last, "first");
    cJSON *cm = configmap("w1", "second");
    assert_non_null(client_update(l->cl, &configmaps, NULL, cm, on_answer, &a));
    cJSON_Delete(cm);
    run_until(l, &e.modified, 1);
    assert_string_equal(e.last, "second");
    assert_int_equal(count_inproc_conns(l->api), 2); /* requests and the watch */
    client_req_cancel(w);
    run_until(l, &a.n, 2);
    for (int i = 0; i < 20 && count_inproc_conns(l->api) != 1; i++)
        uv_run(&l->loop, UV_RUN_ONCE);
    assert_int_equal(count_inproc_conns(l->api), 1); /* the server saw the watch's end */
    assert_int_equal(atomic_load(&e.ended), 0);
    cJSON_Delete(a.body);
}

/* The server goes away: an open watch ends with a transport error, new requests are refused
 * (nothing is queued for a stopped server), and the client is released cleanly. */
static void inproc_server_stop_closes_connections(void **state)
{
    live_t *l = *state;
    events_t e = {0};
    assert_non_null(client_watch(l->cl, "/api/v1/namespaces/default/configmaps?watch=1",
                                 on_watch_event, on_watch_ended, &e));
    answer_t a = {0};
    create_configmap(l, &a, "s1", "x");
    run_until(l, &e.added, 1);
    apiserver_stop(l->api);
    l->api = NULL;
    /* stopped, not yet released (the loop has not run the close callbacks): refused; the
     * identity may not be used once the apiserver is released (clients are stopped first) */
    int fd = -1;
    assert_int_equal(apiserver_inproc_connect(l->id, &fd), -ECONNREFUSED);
    assert_int_equal(fd, -1);
    client_req_t *get = client_get(l->cl, &configmaps, "default", "s1", on_answer, &a);
    assert_non_null(get);
    run_until(l, &e.ended, 1);
    assert_int_equal(e.end_status, 0);
    assert_int_not_equal(e.end_error, 0);
    run_until(l, &a.n, 2);
    assert_int_equal(a.status, 0);
    assert_int_equal(a.error, -ECONNREFUSED);
    cJSON_Delete(a.body);
}

/* The client closes: the server's ends close too. */
static void inproc_client_close_closes_server_side(void **state)
{
    live_t *l = *state;
    events_t e = {0};
    assert_non_null(client_watch(l->cl, "/api/v1/namespaces/default/configmaps?watch=1",
                                 on_watch_event, on_watch_ended, &e));
    answer_t a = {0};
    create_configmap(l, &a, "c1", "x");
    run_until(l, &e.added, 1);
    assert_int_equal(count_inproc_conns(l->api), 2);
    client_close(l->cl);
    l->cl = NULL;
    for (int i = 0; i < 50 && count_inproc_conns(l->api) > 0; i++)
        uv_run(&l->loop, UV_RUN_ONCE);
    assert_int_equal(count_inproc_conns(l->api), 0);
    assert_int_equal(l->api->nconns, 0);
    cJSON_Delete(a.body);
}

/* ---- raw exchanges from another thread ------------------------------------------------------ */

typedef struct raw {
    int fd;   /* from apiserver_inproc_connect in the thread when -1 and id is set */
    int port; /* else a TCP connection to 127.0.0.1:port */
    apiserver_inproc_t *id;
    const char *request;
    int connect_rc;
    char resp[8192];
    size_t len;
    atomic_int done;
} raw_t;

static void raw_thread(void *arg)
{
    raw_t *r = arg;
    if (r->id) {
        r->connect_rc = apiserver_inproc_connect(r->id, &r->fd);
    } else {
        r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->port)};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        r->connect_rc = connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
    }
    if (r->connect_rc == 0) {
        struct timeval tv = {.tv_sec = 5};
        setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (write(r->fd, r->request, strlen(r->request)) == (ssize_t)strlen(r->request)) {
            ssize_t n;
            while (r->len < sizeof(r->resp) - 1 &&
                   (n = read(r->fd, r->resp + r->len, sizeof(r->resp) - 1 - r->len)) > 0)
                r->len += (size_t)n;
        }
    }
    r->resp[r->len] = '\0';
    if (r->fd >= 0)
        close(r->fd);
    atomic_store(&r->done, 1);
}

static void raw_exchange(live_t *l, raw_t *r)
{
    uv_thread_t t;
    assert_int_equal(uv_thread_create(&t, raw_thread, r), 0);
    run_until(l, &r->done, 1);
    uv_thread_join(&t);
}

/* A connection made on another thread is handed to the loop (uv_async) and served. */
static void inproc_connect_from_another_thread(void **state)
{
    live_t *l = *state;
    raw_t r = {.fd = -1,
               .id = l->id,
               .request = "GET /api/v1/namespaces/default HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n"};
    raw_exchange(l, &r);
    assert_int_equal(r.connect_rc, 0);
    if (strncmp(r.resp, "HTTP/1.1 200 OK\r\n", 17))
        fail_msg("answer: %.200s", r.resp);
    assert_non_null(strstr(r.resp, "\"name\":\"default\""));
}

/* No way around TLS for network clients: plain HTTP on the TLS port gets no HTTP answer. */
static void network_plain_http_is_refused(void **state)
{
    live_t *l = *state;
    raw_t r = {.fd = -1,
               .port = apiserver_port(l->api),
               .request = "GET /api/v1/namespaces/default HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\n\r\n"};
    raw_exchange(l, &r);
    assert_int_equal(r.connect_rc, 0);
    assert_null(strstr(r.resp, "HTTP/1.1"));
    assert_null(strstr(r.resp, "default"));
    assert_int_equal(count_inproc_conns(l->api), 0);
}

/* A TLS client without credentials is still anonymous: 401 for resources. */
static void network_tls_without_credentials_is_401(void **state)
{
    live_t *l = *state;
    char path[512];
    snprintf(path, sizeof(path), "%s/server/admin.kubeconfig", l->dir);
    client_config_t cfg = {0};
    cleanup_error util_error_t err = NULL;
    assert_int_equal(client_config_load(path, &cfg, &err), 0);
    free(cfg.cert_pem);
    free(cfg.key_pem);
    cfg.cert_pem = cfg.key_pem = NULL;
    client_opts_t co;
    client_opts_default(&co);
    co.loop = &l->loop;
    co.config = &cfg;
    client_t *cl = NULL;
    assert_int_equal(client_new(&co, &cl, &err), 0);
    answer_t a = {0};
    assert_non_null(client_get(cl, &configmaps, "default", "x", on_answer, &a));
    run_until(l, &a.n, 1);
    assert_int_equal(a.status, 401);
    assert_int_equal(count_inproc_conns(l->api), 0);
    client_close(cl);
    client_config_free(&cfg);
    cJSON_Delete(a.body);
}

static void identity_arguments_are_checked(void **state)
{
    live_t *l = *state;
    assert_null(apiserver_inproc_identity(l->api, NULL, NULL, 0));
    assert_null(apiserver_inproc_identity(l->api, "", NULL, 0));
    const char *many[17] = {0};
    for (int i = 0; i < 17; i++)
        many[i] = "g";
    assert_null(apiserver_inproc_identity(l->api, "u", many, 17));
    assert_int_equal(apiserver_inproc_connect(NULL, NULL), -EINVAL);
    /* system:authenticated is not doubled */
    const char *groups[] = {"system:nodes", "system:authenticated"};
    apiserver_inproc_t *id = apiserver_inproc_identity(l->api, "system:node:n1", groups, 2);
    assert_non_null(id);
    raw_t r = {.fd = -1,
               .id = id,
               .request = "GET /api/v1/namespaces/default HTTP/1.1\r\nHost: x\r\n\r\n"};
    /* the connection stays open (keep-alive): the thread's read times out after the answer */
    uv_thread_t t;
    assert_int_equal(uv_thread_create(&t, raw_thread, &r), 0);
    for (int i = 0; i < 1000 && count_inproc_conns(l->api) == 0; i++)
        uv_run(&l->loop, UV_RUN_ONCE);
    const apiserver_conn_t *c = l->api->conns;
    assert_non_null(c);
    assert_true(c->inproc);
    assert_string_equal(c->user.name, "system:node:n1");
    assert_int_equal(c->user.groups.n, 2);
    assert_true(has_group(&c->user, "system:nodes"));
    run_until(l, &r.done, 1);
    uv_thread_join(&t);
    assert_int_equal(strncmp(r.resp, "HTTP/1.1 200 OK\r\n", 17), 0);
}

int main(void)
{
    unit_filter_from_env();
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(inproc_verbs_and_identity, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(inproc_watch_stream, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(inproc_server_stop_closes_connections, live_setup,
                                        live_teardown),
        cmocka_unit_test_setup_teardown(inproc_client_close_closes_server_side, live_setup,
                                        live_teardown),
        cmocka_unit_test_setup_teardown(inproc_connect_from_another_thread, live_setup,
                                        live_teardown),
        cmocka_unit_test_setup_teardown(network_plain_http_is_refused, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(network_tls_without_credentials_is_401, live_setup,
                                        live_teardown),
        cmocka_unit_test_setup_teardown(identity_arguments_are_checked, live_setup, live_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
