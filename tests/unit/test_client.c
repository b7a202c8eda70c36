/* test_client: kubeconfig parsing (also hostile input), URLs and paths, watch line splitting,
 * Status decoding, back-off, and the client against a real apiserver on loopback (verbs,
 * errors, queueing, watch, informer, close with requests in flight). */
#include "unit.h"
#include "apiserver/apiserver.h"
#include "apiserver/apiserver_pki.h"
#include "client/client.h"
#include "store/store.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* ---- kubeconfig ------------------------------------------------------------------------------ */

/* base64 of "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n" and friends: the
 * parser only decodes; the TLS layer parses PEM. */
#define CA_B64   "Q0EgUEVN" /* "CA PEM" */
#define CERT_B64 "Q0VSVA==" /* "CERT" */
#define KEY_B64  "S0VZ"     /* "KEY" */

static const char admin_kubeconfig[] =
    "apiVersion: v1\nkind: Config\nclusters:\n- name: kubeling\n  cluster:\n"
    "    server: https://127.0.0.1:6443\n    certificate-authority-data: " CA_B64 "\n"
    "users:\n- name: admin\n  user:\n    client-certificate-data: " CERT_B64 "\n"
    "    client-key-data: " KEY_B64 "\ncontexts:\n- name: kubeling\n  context:\n"
    "    cluster: kubeling\n    user: admin\ncurrent-context: kubeling\npreferences: {}\n";

static int parse(const char *text, client_config_t *c, util_error_t *err)
{
    return client_config_parse(text, strlen(text), "/nonexistent", c, err);
}

static void kubeconfig_admin_format(void **state)
{
    (void)state;
    client_config_t c;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(parse(admin_kubeconfig, &c, &err), 0);
    assert_string_equal(c.server, "https://127.0.0.1:6443");
    assert_string_equal(c.host, "127.0.0.1");
    assert_int_equal(c.port, 6443);
    assert_string_equal(c.ca_pem, "CA PEM");
    assert_string_equal(c.cert_pem, "CERT");
    assert_string_equal(c.key_pem, "KEY");
    assert_null(c.token);
    assert_false(c.insecure);
    client_config_free(&c);
}

/* kubectl writes keys sorted (cluster before name), quotes some scalars, adds comments. */
static void kubeconfig_kubectl_style_and_current_context(void **state)
{
    (void)state;
    const char *text = "# written by kubectl\napiVersion: v1\nclusters:\n"
                       "- cluster:\n    insecure-skip-tls-verify: true\n"
                       "    server: \"https://[::1]\"   # v6\n  name: other\n"
                       "- cluster:\n    certificate-authority-data: " CA_B64 "\n"
                       "    server: https://api.example.test:7443/\n  name: prod\n"
                       "contexts:\n- context:\n    cluster: other\n    user: u\n  name: a\n"
                       "- context:\n    cluster: prod\n    user: 'bob'\n  name: b\n"
                       "current-context: b\nusers:\n- name: bob\n  user:\n"
                       "    token: 's3cr''et'\n- name: u\n  user: {}\n";
    client_config_t c;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(parse(text, &c, &err), 0);
    assert_string_equal(c.host, "api.example.test");
    assert_int_equal(c.port, 7443);
    assert_string_equal(c.token, "s3cr'et");
    assert_null(c.cert_pem);
    client_config_free(&c);
    /* the other context: IPv6, default port, insecure without a CA */
    char *other = strdup(text);
    memcpy(strstr(other, "current-context: b"), "current-context: a", 18);
    assert_int_equal(parse(other, &c, &err), 0);
    assert_string_equal(c.host, "::1");
    assert_int_equal(c.port, 443);
    assert_true(c.insecure);
    assert_null(c.ca_pem);
    client_config_free(&c);
    free(other);
}

static void kubeconfig_json_and_single_context(void **state)
{
    (void)state;
    const char *text =
        "{\"clusters\":[{\"name\":\"k\",\"cluster\":{\"server\":\"https://h:1\","
        "\"certificate-authority-data\":\"" CA_B64 "\"}}],\"contexts\":[{\"name\":\"only\","
        "\"context\":{\"cluster\":\"k\"}}]}";
    client_config_t c;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(parse(text, &c, &err), 0);
    assert_string_equal(c.host, "h");
    assert_int_equal(c.port, 1);
    client_config_free(&c);
}

static void kubeconfig_file_references_resolve_against_its_dir(void **state)
{
    (void)state;
    char *dir = unit_tmpdir(), path[512];
    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    FILE *f = fopen(path, "w");
    fputs("FILE CA", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/token", dir);
    f = fopen(path, "w");
    fputs("tok\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/kubeconfig", dir);
    f = fopen(path, "w");
    fputs("clusters:\n- name: c\n  cluster:\n    server: https://h\n"
          "    certificate-authority: ca.crt\ncontexts:\n- name: x\n  context:\n"
          "    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    tokenFile: token\n"
          "current-context: x\n",
          f);
    fclose(f);
    client_config_t c;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(client_config_load(path, &c, &err), 0);
    assert_string_equal(c.ca_pem, "FILE CA");
    assert_string_equal(c.token, "tok");
    client_config_free(&c);
    unit_rm_rf(dir);
    free(dir);
}

/* Each bad file is one clear error, nothing leaks, nothing crashes. */
static void kubeconfig_bad_input_is_refused(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"clusters:\n\t- name: x\n", "tab in indentation"},
        {"a: 'unterminated\n", "unterminated"},
        {"a: b\n  c: d\n", "unexpected indentation"},
        {"a: 1\na: 2\n", "duplicate key"},
        {"a: |\n  text\n", "unsupported YAML"},
        {"a: &anchor x\n", "unsupported YAML"},
        {"just words\n", "not a mapping"},
        {"{\"clusters\": [", "invalid JSON"},
        {"current-context: x\n", "context `x` not found"},
        {"contexts:\n- name: x\n  context:\n    cluster: nope\ncurrent-context: x\n",
         "cluster of context"},
        {"clusters:\n- name: c\n  cluster:\n    server: http://h\ncontexts:\n- name: x\n"
         "  context:\n    cluster: c\ncurrent-context: x\n",
         "not https"},
        {"clusters:\n- name: c\n  cluster:\n    server: https://h:99999\ncontexts:\n- name: x\n"
         "  context:\n    cluster: c\ncurrent-context: x\n",
         "bad port"},
        {"clusters:\n- name: c\n  cluster:\n    server: https://h\ncontexts:\n- name: x\n"
         "  context:\n    cluster: c\ncurrent-context: x\n",
         "no certificate authority"},
        {"clusters:\n- name: c\n  cluster:\n    server: https://h\n"
         "    certificate-authority-data: '!!!'\ncontexts:\n- name: x\n"
         "  context:\n    cluster: c\ncurrent-context: x\n",
         "not valid base64"},
        {"clusters:\n- name: c\n  cluster:\n    server: https://h\n"
         "    certificate-authority-data: " CA_B64 "\ncontexts:\n- name: x\n"
         "  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n"
         "    client-certificate-data: " CERT_B64 "\ncurrent-context: x\n",
         "needs its key"},
        {"clusters:\n- name: c\n  cluster:\n    server: https://h\n"
         "    certificate-authority: relative.crt\ncontexts:\n- name: x\n"
         "  context:\n    cluster: c\ncurrent-context: x\n",
         "relative.crt"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(cases); i++) {
        client_config_t c = {0};
        cleanup_error util_error_t err = NULL;
        assert_int_equal(parse(cases[i].text, &c, &err) < 0, 1);
        if (!strstr(err->msg, cases[i].want))
            fail_msg("case %zu: `%s` lacks `%s`", i, err->msg, cases[i].want);
        assert_null(c.server);
    }
}

static void kubeconfig_bounds_depth_size_and_nul(void **state)
{
    (void)state;
    util_buf_t b = {0};
    for (int i = 0; i < 40; i++) /* 40 nested mappings */
        util_buf_printf(&b, "%*sk%d:\n", i * 2, "", i);
    cJSON *root = NULL;
    cleanup_error util_error_t err = NULL;
    assert_true(client_yaml_parse(b.data, b.len, &root, &err) < 0);
    assert_non_null(strstr(err->msg, "nested deeper"));
    util_buf_reset(&b);
    for (int i = 0; i < 40; i++) /* "- - - - ..." */
        util_buf_puts(&b, "- ");
    util_buf_puts(&b, "x\n");
    assert_true(client_yaml_parse(b.data, b.len, &root, &err) < 0);
    util_buf_free(&b);
    /* empty quoted scalars (found by fuzz_client: the buffer had no terminator) */
    assert_int_equal(client_yaml_parse("a: \"\"\nb: ''\n", 12, &root, &err), 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(root, "a")), "");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(root, "b")), "");
    cJSON_Delete(root);
    assert_true(client_yaml_parse("a: b\0c", 6, &root, &err) < 0);
    assert_non_null(strstr(err->msg, "NUL"));
    char *big = calloc(1, CLIENT_KUBECONFIG_MAX + 2);
    memset(big, 'a', CLIENT_KUBECONFIG_MAX + 1);
    assert_int_equal(client_yaml_parse(big, CLIENT_KUBECONFIG_MAX + 1, &root, &err), -EFBIG);
    free(big);
}

/* Mutations of a valid file (flipped bytes, truncations): any result but a crash or a leak. */
static void kubeconfig_mutations_never_crash(void **state)
{
    (void)state;
    size_t len = strlen(admin_kubeconfig);
    char *text = malloc(len + 1);
    srand(42);
    for (int round = 0; round < 3000; round++) {
        memcpy(text, admin_kubeconfig, len + 1);
        size_t n = len - (size_t)(rand() % 40);
        for (int k = 0; k < 1 + round % 4; k++)
            text[rand() % n] = "-: \n'\"#{}[]|\t\\x"[rand() % 16];
        client_config_t c = {0};
        cleanup_error util_error_t err = NULL;
        if (client_config_parse(text, n, NULL, &c, &err) == 0)
            client_config_free(&c);
    }
    free(text);
}

static void url_forms(void **state)
{
    (void)state;
    char host[64];
    int port;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(client_parse_url("https://[fe80::1]:8443", host, sizeof(host), &port, &err),
                     0);
    assert_string_equal(host, "fe80::1");
    assert_int_equal(port, 8443);
    assert_int_equal(client_parse_url("https://node-1", host, sizeof(host), &port, &err), 0);
    assert_int_equal(port, 443);
    assert_true(client_parse_url("https://h/prefix", host, sizeof(host), &port, &err) < 0);
    assert_true(client_parse_url("https://user@h", host, sizeof(host), &port, &err) < 0);
    assert_true(client_parse_url("https://h:", host, sizeof(host), &port, &err) < 0);
    assert_true(client_parse_url("https://[::1", host, sizeof(host), &port, &err) < 0);
    assert_true(client_parse_url("https://", host, sizeof(host), &port, &err) < 0);
}

/* ---- paths, Status, lines, back-off ---------------------------------------------------------- */

static void paths_core_group_namespaced_and_escaped(void **state)
{
    (void)state;
    util_buf_t b = {0};
    assert_int_equal(client_path(&b, &CLIENT_RES_NODES, NULL, "n1", "status"), 0);
    assert_string_equal(b.data, "/api/v1/nodes/n1/status");
    util_buf_reset(&b);
    assert_int_equal(client_path(&b, &CLIENT_RES_LEASES, "kube-node-lease", "n1", NULL), 0);
    assert_string_equal(b.data,
                        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1");
    util_buf_reset(&b);
    assert_int_equal(client_path(&b, &CLIENT_RES_PODS, NULL, NULL, NULL), 0);
    assert_string_equal(b.data, "/api/v1/pods");
    util_buf_reset(&b);
    assert_int_equal(client_path(&b, &CLIENT_RES_PODS, "a b", "x/y?z", NULL), 0);
    assert_string_equal(b.data, "/api/v1/namespaces/a%20b/pods/x%2Fy%3Fz");
    client_query_add(&b, "fieldSelector", "metadata.name=n,x!=y&z");
    client_query_add(&b, "skip", "");
    client_query_add(&b, "watch", "1");
    assert_string_equal(b.data, "/api/v1/namespaces/a%20b/pods/x%2Fy%3Fz"
                                "?fieldSelector=metadata.name%3Dn%2Cx%21%3Dy%26z&watch=1");
    util_buf_reset(&b);
    assert_int_equal(client_path(&b, &CLIENT_RES_PODS, NULL, "p", NULL), -EINVAL);
    assert_int_equal(client_path(&b, &CLIENT_RES_NODES, NULL, "..", NULL), -EINVAL);
    assert_int_equal(client_path(&b, &CLIENT_RES_NODES, NULL, "", NULL), -EINVAL);
    assert_int_equal(client_path(&b, &CLIENT_RES_NODES, NULL, NULL, "status"), -EINVAL);
    util_buf_free(&b);
}

static void status_decoding(void **state)
{
    (void)state;
    client_status_t s;
    const char *body = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                       "\"message\":\"nodes \\\"x\\\" not found\",\"reason\":\"NotFound\","
                       "\"code\":404}";
    client_status_decode(body, strlen(body), 404, &s);
    assert_int_equal(s.code, 404);
    assert_string_equal(s.reason, "NotFound");
    assert_string_equal(s.message, "nodes \"x\" not found");
    client_status_free(&s);
    /* a Status without reason: upstream's reason for its code */
    body = "{\"kind\":\"Status\",\"code\":409,\"message\":\"m\"}";
    client_status_decode(body, strlen(body), 500, &s);
    assert_int_equal(s.code, 409);
    assert_string_equal(s.reason, "Conflict");
    client_status_free(&s);
    /* not a Status: the HTTP code's reason, the text (bounded, control bytes masked) */
    client_status_decode("oops\x01", 5, 503, &s);
    assert_string_equal(s.reason, "ServiceUnavailable");
    assert_string_equal(s.message, "oops?");
    client_status_free(&s);
    client_status_decode(NULL, 0, 422, &s);
    assert_string_equal(s.reason, "Invalid");
    assert_string_equal(s.message, "the server answered 422");
    client_status_free(&s);
    char *huge = malloc(100000);
    memset(huge, 'x', 100000);
    client_status_decode(huge, 100000, 500, &s);
    assert_string_equal(s.reason, "InternalError");
    assert_true(strlen(s.message) <= 4096);
    client_status_free(&s);
    free(huge);
    assert_string_equal(client_reason_for_code(410), "Gone");
    assert_string_equal(client_reason_for_code(418), "Unknown");
}

typedef struct lines {
    char got[16][64];
    int n;
} lines_t;

static void collect_line(void *ud, const char *line, size_t len)
{
    lines_t *l = ud;
    snprintf(l->got[l->n++], 64, "%.*s", (int)len, line);
}

static void watch_lines_split_across_chunks(void **state)
{
    (void)state;
    const char *stream = "{\"type\":\"ADDED\"}\n\n{\"type\":\"MOD\r\nIFIED\"}\n{\"tail";
    /* every way of cutting the stream into two chunks gives the same lines */
    for (size_t cut = 0; cut <= strlen(stream); cut++) {
        lines_t l = {0};
        util_buf_t pending = {0};
        assert_int_equal(client_split_lines(&pending, stream, cut, 1024, collect_line, &l), 0);
        assert_int_equal(client_split_lines(&pending, stream + cut, strlen(stream) - cut, 1024,
                                            collect_line, &l),
                         0);
        assert_int_equal(l.n, 3);
        assert_string_equal(l.got[0], "{\"type\":\"ADDED\"}");
        assert_string_equal(l.got[1], "{\"type\":\"MOD");
        assert_string_equal(l.got[2], "IFIED\"}");
        assert_string_equal(pending.data, "{\"tail");
        util_buf_free(&pending);
    }
    /* one byte at a time */
    lines_t l = {0};
    util_buf_t pending = {0};
    for (const char *p = stream; *p; p++)
        assert_int_equal(client_split_lines(&pending, p, 1, 1024, collect_line, &l), 0);
    assert_int_equal(l.n, 3);
    util_buf_free(&pending);
}

static void watch_line_longer_than_limit_is_refused(void **state)
{
    (void)state;
    lines_t l = {0};
    util_buf_t pending = {0};
    assert_int_equal(client_split_lines(&pending, "0123456789", 10, 16, collect_line, &l), 0);
    assert_int_equal(client_split_lines(&pending, "0123456789", 10, 16, collect_line, &l),
                     -EMSGSIZE);
    assert_int_equal(pending.len, 0);
    assert_int_equal(client_split_lines(&pending, "ok\n", 3, 16, collect_line, &l), 0);
    assert_int_equal(l.n, 1);
    util_buf_free(&pending);
}

static void backoff_doubles_to_its_cap_with_bounded_jitter(void **state)
{
    (void)state;
    client_backoff_t b;
    client_backoff_init(&b, 200, 7000);
    uint64_t want[] = {200, 400, 800, 1600, 3200, 6400, 7000, 7000};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(want); i++) {
        uint64_t d = client_backoff_next(&b);
        assert_true(d >= want[i] && d <= want[i] + want[i] / 5);
    }
    client_backoff_reset(&b);
    assert_true(client_backoff_next(&b) < 241);
}

/* ---- against a real apiserver on loopback ---------------------------------------------------- */

typedef struct live {
    uv_loop_t loop;
    store_t *store;
    apiserver_t *api;
    char *dir;
    client_config_t cfg;
    client_t *cl;
} live_t;

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
    so.progress_interval_ms = 100; /* bookmarks come quickly */
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
    snprintf(path, sizeof(path), "%s/server/admin.kubeconfig", l->dir);
    assert_int_equal(client_config_load(path, &l->cfg, &err), 0);
    client_opts_t co;
    client_opts_default(&co);
    co.loop = &l->loop;
    co.config = &l->cfg;
    co.user_agent = "test-client/1.0";
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
    client_config_free(&l->cfg);
    unit_rm_rf(l->dir);
    free(l->dir);
    free(l);
    return 0;
}

static void on_guard(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Runs the loop until *done (or 10 s: a failure). */
static void run_until(live_t *l, const int *done, int want)
{
    bool expired = false;
    uv_timer_t guard;
    uv_timer_init(&l->loop, &guard);
    guard.data = &expired;
    uv_timer_start(&guard, on_guard, 10000, 0);
    while (*done < want && !expired)
        uv_run(&l->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&l->loop, UV_RUN_NOWAIT);
    if (expired)
        fail_msg("timed out: %d of %d answers", *done, want);
}

typedef struct answer {
    int n;
    int status, error;
    char reason[64], message[256];
    cJSON *body;
} answer_t;

static void on_answer(void *ud, client_result_t *res)
{
    answer_t *a = ud;
    a->n++;
    a->status = res->status;
    a->error = res->error;
    snprintf(a->reason, sizeof(a->reason), "%s", res->st.reason ? res->st.reason : "");
    snprintf(a->message, sizeof(a->message), "%s", res->st.message ? res->st.message : "");
    cJSON_Delete(a->body);
    a->body = res->body;
    res->body = NULL;
}

static const client_resource_t configmaps = {"", "v1", "configmaps", true};

static cJSON *configmap(const char *name, const char *value, const char *label)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "v1");
    cJSON_AddStringToObject(o, "kind", "ConfigMap");
    cJSON *m = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(m, "name", name);
    cJSON_AddStringToObject(m, "namespace", "default");
    if (label)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(m, "labels"), "app", label);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "data"), "k", value);
    return o;
}

/* Creates configmap (name, value, label) through l's client and waits for the answer. */
static void create_configmap(live_t *l, answer_t *a, const char *name, const char *value,
                             const char *label)
{
    cJSON *cm = configmap(name, value, label);
    int want = a->n + 1;
    client_create(l->cl, &configmaps, NULL, cm, on_answer, a);
    cJSON_Delete(cm);
    run_until(l, &a->n, want);
}

static const char *data_k(const cJSON *obj)
{
    return cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "data"), "k"));
}

static void live_verbs_and_status_errors(void **state)
{
    live_t *l = *state;
    answer_t a = {0};
    cJSON *cm = configmap("c1", "v1", NULL);
    assert_non_null(client_create(l->cl, &configmaps, NULL, cm, on_answer, &a));
    run_until(l, &a.n, 1);
    assert_int_equal(a.status, 201);
    assert_string_equal(data_k(a.body), "v1");
    assert_non_null(client_get(l->cl, &configmaps, "default", "c1", on_answer, &a));
    run_until(l, &a.n, 2);
    assert_int_equal(a.status, 200);
    /* an update with a stale resourceVersion is a Conflict */
    cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(cm, "metadata"), "resourceVersion",
                            "1");
    assert_non_null(client_update(l->cl, &configmaps, NULL, cm, on_answer, &a));
    run_until(l, &a.n, 3);
    assert_int_equal(a.status, 409);
    assert_string_equal(a.reason, "Conflict");
    cJSON_Delete(cm);
    cJSON *patch = cJSON_Parse("{\"data\":{\"k\":\"v2\"}}");
    assert_non_null(client_patch(l->cl, &configmaps, "default", "c1", NULL, CLIENT_PATCH_MERGE,
                                 patch, on_answer, &a));
    run_until(l, &a.n, 4);
    assert_int_equal(a.status, 200);
    assert_string_equal(data_k(a.body), "v2");
    cJSON_Delete(patch);
    patch = cJSON_Parse("{\"metadata\":{\"labels\":{\"s\":\"1\"}}}");
    assert_non_null(client_patch(l->cl, &configmaps, "default", "c1", NULL, CLIENT_PATCH_STRATEGIC,
                                 patch, on_answer, &a));
    run_until(l, &a.n, 5);
    assert_int_equal(a.status, 200);
    cJSON_Delete(patch);
    patch = cJSON_Parse("[{\"op\":\"replace\",\"path\":\"/data/k\",\"value\":\"j\"}]");
    assert_non_null(client_patch(l->cl, &configmaps, "default", "c1", NULL, CLIENT_PATCH_JSON,
                                 patch, on_answer, &a));
    run_until(l, &a.n, 6);
    assert_int_equal(a.status, 200);
    assert_string_equal(data_k(a.body), "j");
    cJSON_Delete(patch);
    cm = configmap("c1", "v3", NULL);
    assert_non_null(client_patch(l->cl, &configmaps, "default", "c1", NULL, CLIENT_PATCH_APPLY, cm,
                                 on_answer, &a));
    run_until(l, &a.n, 7);
    assert_int_equal(a.status, 200);
    assert_string_equal(data_k(a.body), "v3");
    cJSON_Delete(cm);
    assert_non_null(client_delete(l->cl, &configmaps, "default", "c1", on_answer, &a));
    run_until(l, &a.n, 8);
    assert_int_equal(a.status, 200);
    assert_non_null(client_get(l->cl, &configmaps, "default", "c1", on_answer, &a));
    run_until(l, &a.n, 9);
    assert_int_equal(a.status, 404);
    assert_string_equal(a.reason, "NotFound");
    assert_string_equal(a.message, "configmaps \"c1\" not found");
    cJSON_Delete(a.body);
}

typedef struct events {
    int added, bookmarks, ended;
    char bookmark_rv[32];
} events_t;

static void on_watch_event(void *ud, const char *type, cJSON **obj)
{
    events_t *e = ud;
    if (!strcmp(type, "ADDED"))
        e->added++;
    if (!strcmp(type, "BOOKMARK")) {
        e->bookmarks++;
        const char *rv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(*obj, "metadata"), "resourceVersion"));
        snprintf(e->bookmark_rv, sizeof(e->bookmark_rv), "%s", rv ? rv : "");
    }
}

static void on_watch_ended(void *ud, client_result_t *res)
{
    events_t *e = ud;
    (void)res;
    e->ended++;
}

/* A raw watch stream: events as they happen, bookmarks when asked for, cancel ends it
 * without a callback. */
static void live_watch_stream_events_and_bookmarks(void **state)
{
    live_t *l = *state;
    events_t e = {0};
    client_req_t *w = client_watch(l->cl,
                                   "/api/v1/namespaces/default/configmaps?watch=1&"
                                   "resourceVersion=1&allowWatchBookmarks=true",
                                   on_watch_event, on_watch_ended, &e);
    assert_non_null(w);
    answer_t a = {0};
    cJSON *cm = configmap("w1", "x", NULL);
    client_create(l->cl, &configmaps, NULL, cm, on_answer, &a);
    cJSON_Delete(cm);
    run_until(l, &e.added, 1);
    run_until(l, &e.bookmarks, 1);
    assert_true(atoi(e.bookmark_rv) >= 2);
    client_req_cancel(w);
    uv_run(&l->loop, UV_RUN_NOWAIT);
    assert_int_equal(e.ended, 0);
    cJSON_Delete(a.body);
}

static void on_counted(void *ud, client_result_t *res)
{
    int *n = ud;
    if (res->status == 200)
        (*n)++;
    else
        *n += 1000;
}

static void live_requests_beyond_the_pool_queue(void **state)
{
    live_t *l = *state;
    int n = 0;
    for (int i = 0; i < 25; i++)
        assert_non_null(
            client_list(l->cl, &CLIENT_RES_NAMESPACES, NULL, "limit=1", on_counted, &n));
    run_until(l, &n, 25);
    assert_int_equal(n, 25);
}

typedef struct seen {
    int adds, updates, deletes, synced, events;
    char last[64];
} seen_t;

static void inf_add(void *ud, const cJSON *obj)
{
    seen_t *s = ud;
    s->adds++;
    s->events++;
    snprintf(s->last, sizeof(s->last), "%s", data_k(obj));
}

static void inf_update(void *ud, const cJSON *old, const cJSON *obj)
{
    seen_t *s = ud;
    s->updates++;
    s->events++;
    snprintf(s->last, sizeof(s->last), "%s->%s", data_k(old), data_k(obj));
}

static void inf_delete(void *ud, const cJSON *obj)
{
    seen_t *s = ud;
    (void)obj;
    s->deletes++;
    s->events++;
}

static void inf_synced(void *ud)
{
    seen_t *s = ud;
    s->synced++;
    s->events++;
}

static void live_informer_add_update_delete(void **state)
{
    live_t *l = *state;
    answer_t a = {0};
    create_configmap(l, &a, "before", "b", "x");
    seen_t s = {0};
    client_informer_t *inf = NULL;
    client_informer_opts_t io = {
        .resource = &configmaps, .ns = "default", .label_selector = "app=x"};
    client_informer_handlers_t h = {.on_add = inf_add,
                                    .on_update = inf_update,
                                    .on_delete = inf_delete,
                                    .on_synced = inf_synced};
    cleanup_error util_error_t err = NULL;
    assert_int_equal(client_informer_start(l->cl, &io, &h, &s, &inf, &err), 0);
    run_until(l, &s.synced, 1);
    assert_int_equal(s.adds, 1);
    assert_true(client_informer_synced(inf));
    const cJSON *got = client_informer_get(inf, "default", "before");
    assert_non_null(got);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(got, "kind")),
                        "ConfigMap");
    cJSON *cm = configmap("c2", "one", "x");
    client_create(l->cl, &configmaps, NULL, cm, on_answer, &a);
    cJSON_Delete(cm);
    cm = configmap("other", "o", "y"); /* not selected */
    client_create(l->cl, &configmaps, NULL, cm, on_answer, &a);
    cJSON_Delete(cm);
    run_until(l, &s.adds, 2);
    cJSON *patch = cJSON_Parse("{\"data\":{\"k\":\"two\"}}");
    client_patch(l->cl, &configmaps, "default", "c2", NULL, CLIENT_PATCH_MERGE, patch, on_answer,
                 &a);
    cJSON_Delete(patch);
    run_until(l, &s.updates, 1);
    assert_string_equal(s.last, "one->two");
    client_delete(l->cl, &configmaps, "default", "before", on_answer, &a);
    run_until(l, &s.deletes, 1);
    assert_int_equal(client_informer_count(inf), 1);
    assert_null(client_informer_get(inf, "default", "before"));
    assert_null(client_informer_get(inf, "default", "other"));
    assert_int_equal(s.adds, 2);
    client_informer_stop(inf);
    cJSON_Delete(a.body);
}

/* The transform runs before an object is cached, on the list and on watch events: the
 * API's objects carry managedFields, the cached ones do not. */
static void live_informer_transform_strips_managed_fields(void **state)
{
    live_t *l = *state;
    answer_t a = {0};
    create_configmap(l, &a, "listed", "b", "t");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(a.body, "metadata"), "managedFields"));
    seen_t s = {0};
    client_informer_t *inf = NULL;
    client_informer_opts_t io = {.resource = &configmaps,
                                 .ns = "default",
                                 .label_selector = "app=t",
                                 .transform = client_strip_managed_fields};
    client_informer_handlers_t h = {.on_add = inf_add,
                                    .on_update = inf_update,
                                    .on_delete = inf_delete,
                                    .on_synced = inf_synced};
    cleanup_error util_error_t err = NULL;
    assert_int_equal(client_informer_start(l->cl, &io, &h, &s, &inf, &err), 0);
    run_until(l, &s.synced, 1);
    cJSON *cm = configmap("watched", "w", "t");
    client_create(l->cl, &configmaps, NULL, cm, on_answer, &a);
    cJSON_Delete(cm);
    run_until(l, &s.adds, 2);
    const char *names[] = {"listed", "watched"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *got = client_informer_get(inf, "default", names[i]);
        assert_non_null(got);
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(got, "metadata");
        assert_non_null(cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion"));
        assert_null(cJSON_GetObjectItemCaseSensitive(meta, "managedFields"));
    }
    client_informer_stop(inf);
    cJSON_Delete(a.body);
}

/* The apiserver goes away; meanwhile one object is deleted, one created and history compacted
 * past the informer's resourceVersion. When the apiserver is back, the watch resumes, gets
 * 410 Expired, re-lists, and the cache (and the callbacks) catch up. */
static void live_informer_relists_after_outage_and_compaction(void **state)
{
    live_t *l = *state;
    answer_t a = {0};
    for (int i = 0; i < 2; i++) {
        cJSON *cm = configmap(i ? "b" : "a", i ? "b" : "a", "x");
        client_create(l->cl, &configmaps, NULL, cm, on_answer, &a);
        cJSON_Delete(cm);
    }
    run_until(l, &a.n, 2);
    seen_t s = {0};
    client_informer_t *inf = NULL;
    client_informer_opts_t io = {
        .resource = &configmaps, .ns = "default", .backoff_min_ms = 50, .backoff_max_ms = 100};
    client_informer_handlers_t h = {.on_add = inf_add,
                                    .on_update = inf_update,
                                    .on_delete = inf_delete,
                                    .on_synced = inf_synced};
    cleanup_error util_error_t err = NULL;
    assert_int_equal(client_informer_start(l->cl, &io, &h, &s, &inf, &err), 0);
    run_until(l, &s.synced, 1);
    assert_int_equal(s.adds, 2);
    int port = apiserver_port(l->api);
    apiserver_stop(l->api);
    l->api = NULL;
    for (int i = 0; i < 20; i++)
        uv_run(&l->loop, UV_RUN_NOWAIT);
    const char *key_b = "/registry/core/configmaps/default/b";
    const char *key_c = "/registry/core/configmaps/default/c";
    const char *value_c = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":"
                          "{\"name\":\"c\",\"namespace\":\"default\",\"uid\":\"u-c\"},"
                          "\"data\":{\"k\":\"c\"}}";
    store_op_t ops[] = {{.type = STORE_OP_DELETE, .key = key_b, .key_len = strlen(key_b)},
                        {.type = STORE_OP_CREATE,
                         .key = key_c,
                         .key_len = strlen(key_c),
                         .value = value_c,
                         .value_len = strlen(value_c)}};
    store_txn_result_t res = {0};
    assert_int_equal(store_txn_sync(l->store, ops, 2, &res, &err), 0);
    int64_t rev = res.rev;
    store_txn_result_free(&res);
    for (int i = 0; i < 1000 && store_current_rev(l->store) < rev; i++) /* delivered on the loop */
        uv_run(&l->loop, UV_RUN_ONCE);
    assert_int_equal(store_compact(l->store, rev, &err), 0);
    apiserver_opts_t ao;
    apiserver_opts_default(&ao);
    ao.loop = &l->loop;
    ao.store = l->store;
    ao.data_dir = l->dir;
    ao.port = port;
    ao.bind_address = "127.0.0.1";
    assert_int_equal(apiserver_start(&ao, &l->api, &err), 0);
    run_until(l, &s.synced, 2);
    assert_int_equal(s.deletes, 1);
    assert_int_equal(s.adds, 3);
    assert_null(client_informer_get(inf, "default", "b"));
    assert_non_null(client_informer_get(inf, "default", "c"));
    assert_int_equal(client_informer_count(inf), 2);
    /* and it watches again */
    cJSON *cm = configmap("d", "d", "x");
    client_create(l->cl, &configmaps, NULL, cm, on_answer, &a);
    cJSON_Delete(cm);
    run_until(l, &s.adds, 4);
    client_informer_stop(inf);
    cJSON_Delete(a.body);
}

static void live_close_with_requests_in_flight(void **state)
{
    live_t *l = *state;
    int n = 0;
    for (int i = 0; i < 10; i++)
        client_list(l->cl, &CLIENT_RES_NAMESPACES, NULL, NULL, on_counted, &n);
    seen_t s = {0};
    client_informer_t *inf = NULL;
    client_informer_opts_t io = {.resource = &CLIENT_RES_NAMESPACES};
    client_informer_handlers_t h = {.on_add = inf_add,
                                    .on_update = inf_update,
                                    .on_delete = inf_delete,
                                    .on_synced = inf_synced};
    cleanup_error util_error_t err = NULL;
    assert_int_equal(client_informer_start(l->cl, &io, &h, &s, &inf, &err), 0);
    uv_run(&l->loop, UV_RUN_NOWAIT);
    client_informer_stop(inf);
    client_close(l->cl);
    l->cl = NULL;
    uv_run(&l->loop, UV_RUN_NOWAIT);
    assert_int_equal(n, 0); /* cancelled requests are never answered */
    assert_int_equal(s.events, 0);
}

static void live_refused_connection_reports_error(void **state)
{
    live_t *l = *state;
    client_config_t cfg = l->cfg;
    cfg.port = 1; /* nothing listens there */
    client_opts_t co;
    client_opts_default(&co);
    co.loop = &l->loop;
    co.config = &cfg;
    client_t *cl = NULL;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(client_new(&co, &cl, &err), 0);
    answer_t a = {0};
    assert_non_null(client_get(cl, &CLIENT_RES_NODES, NULL, "x", on_answer, &a));
    assert_int_equal(a.n, 0); /* never answered before the caller has the handle */
    run_until(l, &a.n, 1);
    assert_int_equal(a.status, 0);
    assert_int_equal(a.error, UV_ECONNREFUSED);
    assert_string_equal(a.reason, "ConnectionError");
    client_close(cl);
}

/* A server whose certificate another CA signed is refused, and the error says why. */
static void live_untrusted_server_is_refused(void **state)
{
    live_t *l = *state;
    char *other = unit_tmpdir();
    apiserver_pki_opts_t po = {.data_dir = other};
    apiserver_pki_t pki = {0};
    cleanup_error util_error_t err = NULL;
    assert_int_equal(apiserver_pki_ensure(&po, &pki, &err), 0);
    client_config_t cfg = l->cfg;
    cfg.ca_pem = pki.ca_cert_pem;
    client_opts_t co;
    client_opts_default(&co);
    co.loop = &l->loop;
    co.config = &cfg;
    client_t *cl = NULL;
    assert_int_equal(client_new(&co, &cl, &err), 0);
    answer_t a = {0};
    assert_non_null(client_get(cl, &CLIENT_RES_NODES, NULL, "x", on_answer, &a));
    run_until(l, &a.n, 1);
    assert_int_equal(a.status, 0);
    assert_int_equal(a.error, -EPROTO);
    if (!strstr(a.message, "server certificate rejected"))
        fail_msg("message: %s", a.message);
    client_close(cl);
    apiserver_pki_free(&pki);
    unit_rm_rf(other);
    free(other);
}

int main(void)
{
    unit_filter_from_env();
    signal(SIGPIPE, SIG_IGN); /* as cmd/kubeling/main.c: peers that go away are EPIPE */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kubeconfig_admin_format),
        cmocka_unit_test(kubeconfig_kubectl_style_and_current_context),
        cmocka_unit_test(kubeconfig_json_and_single_context),
        cmocka_unit_test(kubeconfig_file_references_resolve_against_its_dir),
        cmocka_unit_test(kubeconfig_bad_input_is_refused),
        cmocka_unit_test(kubeconfig_bounds_depth_size_and_nul),
        cmocka_unit_test(kubeconfig_mutations_never_crash),
        cmocka_unit_test(url_forms),
        cmocka_unit_test(paths_core_group_namespaced_and_escaped),
        cmocka_unit_test(status_decoding),
        cmocka_unit_test(watch_lines_split_across_chunks),
        cmocka_unit_test(watch_line_longer_than_limit_is_refused),
        cmocka_unit_test(backoff_doubles_to_its_cap_with_bounded_jitter),
        cmocka_unit_test_setup_teardown(live_verbs_and_status_errors, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_watch_stream_events_and_bookmarks, live_setup,
                                        live_teardown),
        cmocka_unit_test_setup_teardown(live_requests_beyond_the_pool_queue, live_setup,
                                        live_teardown),
        cmocka_unit_test_setup_teardown(live_informer_transform_strips_managed_fields, live_setup,
                                        live_teardown),
        cmocka_unit_test_setup_teardown(live_informer_add_update_delete, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_informer_relists_after_outage_and_compaction,
                                        live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_close_with_requests_in_flight, live_setup,
                                        live_teardown),
        cmocka_unit_test_setup_teardown(live_refused_connection_reports_error, live_setup,
                                        live_teardown),
        cmocka_unit_test_setup_teardown(live_untrusted_server_is_refused, live_setup,
                                        live_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
