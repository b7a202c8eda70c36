/* test_kubelet_probe: the pure parts of probes, hooks and termination: parsing with upstream's
 * defaults, the probe worker's threshold arithmetic, killContainer's grace periods, the ready
 * and started flags in the pod status; and the shared event builder and recorder's spam
 * filter (pkg/client/client_event.c). */
#include "unit.h"
#include "client/client.h"
#include "kubelet/kubelet.h"
#include "kubelet/kubelet_pods_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static cJSON *parse(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    return j;
}

static const char *CTR = "{\"name\":\"c\",\"ports\":[{\"name\":\"http\",\"containerPort\":8080}]}";

static void probe_defaults_and_ports(void **state)
{
    (void)state;
    cJSON *c = parse(CTR);
    cJSON *p = parse("{\"httpGet\":{\"port\":\"http\",\"path\":\"healthz\","
                     "\"httpHeaders\":[{\"name\":\"X-A\",\"value\":\"b\"}]}}");
    kubelet_probe_spec_t s;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(kubelet_probe_parse(p, c, &s, &err), 0);
    assert_int_equal(s.handler.kind, KUBELET_HANDLER_HTTP);
    assert_int_equal(s.handler.port, 8080);
    assert_string_equal(s.handler.path, "/healthz");
    assert_string_equal(s.handler.host, "");
    assert_int_equal(s.handler.headers.n, 1);
    assert_string_equal(s.handler.headers.v[0], "X-A: b");
    assert_int_equal(s.timeout, 1);
    assert_int_equal(s.period, 10);
    assert_int_equal(s.success_threshold, 1);
    assert_int_equal(s.failure_threshold, 3);
    assert_int_equal(s.initial_delay, 0);
    assert_true(s.termination_grace == -1);
    kubelet_handler_free(&s.handler);
    cJSON_Delete(p);

    p = parse("{\"tcpSocket\":{\"port\":\"9090\"},\"periodSeconds\":2,\"timeoutSeconds\":3,"
              "\"failureThreshold\":5,\"successThreshold\":2,\"initialDelaySeconds\":7,"
              "\"terminationGracePeriodSeconds\":4}");
    assert_int_equal(kubelet_probe_parse(p, c, &s, &err), 0);
    assert_int_equal(s.handler.kind, KUBELET_HANDLER_TCP);
    assert_int_equal(s.handler.port, 9090); /* a number as a string, as upstream's extractPort */
    assert_int_equal(s.period, 2);
    assert_int_equal(s.timeout, 3);
    assert_int_equal(s.failure_threshold, 5);
    assert_int_equal(s.success_threshold, 2);
    assert_int_equal(s.initial_delay, 7);
    assert_true(s.termination_grace == 4);
    kubelet_handler_free(&s.handler);
    cJSON_Delete(p);

    p = parse("{\"exec\":{\"command\":[\"cat\",\"/tmp/x\"]},\"periodSeconds\":0}");
    assert_int_equal(kubelet_probe_parse(p, c, &s, &err), 0);
    assert_int_equal(s.handler.kind, KUBELET_HANDLER_EXEC);
    assert_int_equal(s.handler.command.n, 2);
    assert_int_equal(s.period, 10); /* out of range: the default */
    kubelet_handler_free(&s.handler);
    cJSON_Delete(p);
    cJSON_Delete(c);
}

static void bad_handlers_are_refused(void **state)
{
    (void)state;
    cJSON *c = parse(CTR);
    static const char *const bad[] = {
        "{\"exec\":{\"command\":[]}}",
        "{\"httpGet\":{\"port\":\"nope\"}}",
        "{\"httpGet\":{\"port\":70000}}",
        "{\"tcpSocket\":{}}",
        "{\"httpGet\":{\"port\":80,\"httpHeaders\":[{\"name\":\"A\",\"value\":\"x\\r\\nB: y\"}]}}",
        "{}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON *p = parse(bad[i]);
        kubelet_handler_t h;
        util_error_t err = NULL;
        assert_int_equal(kubelet_handler_parse(p, c, &h, &err), -EINVAL);
        assert_non_null(err);
        util_error_free(&err);
        cJSON_Delete(p);
    }
    /* grpc probes and https are known but not run */
    cJSON *p = parse("{\"grpc\":{\"port\":1}}");
    kubelet_handler_t h;
    assert_int_equal(kubelet_handler_parse(p, c, &h, NULL), 0);
    assert_int_equal(h.kind, KUBELET_HANDLER_UNSUPPORTED);
    cJSON_Delete(p);
    p = parse("{\"httpGet\":{\"port\":443,\"scheme\":\"HTTPS\"}}");
    assert_int_equal(kubelet_handler_parse(p, c, &h, NULL), 0);
    assert_int_equal(h.kind, KUBELET_HANDLER_UNSUPPORTED);
    cJSON_Delete(p);
    p = parse("{\"sleep\":{\"seconds\":5}}");
    assert_int_equal(kubelet_handler_parse(p, c, &h, NULL), 0);
    assert_int_equal(h.kind, KUBELET_HANDLER_SLEEP);
    assert_int_equal(h.sleep_seconds, 5);
    cJSON_Delete(p);
    cJSON_Delete(c);
}

static void initial_results(void **state)
{
    (void)state;
    assert_int_equal(kubelet_probe_initial(KUBELET_READINESS).result, KUBELET_PROBE_FAILURE);
    assert_int_equal(kubelet_probe_initial(KUBELET_LIVENESS).result, KUBELET_PROBE_SUCCESS);
    assert_int_equal(kubelet_probe_initial(KUBELET_STARTUP).result, KUBELET_PROBE_UNKNOWN);
    assert_string_equal(kubelet_probe_type_name(KUBELET_LIVENESS), "Liveness");
    assert_string_equal(kubelet_probe_type_name(KUBELET_READINESS), "Readiness");
    assert_string_equal(kubelet_probe_type_name(KUBELET_STARTUP), "Startup");
}

static void failure_threshold_counts_runs(void **state)
{
    (void)state;
    kubelet_probe_spec_t s = {.success_threshold = 1, .failure_threshold = 3};
    kubelet_probe_state_t st = kubelet_probe_initial(KUBELET_LIVENESS);
    assert_false(kubelet_probe_observe(&st, &s, KUBELET_PROBE_FAILURE));
    assert_false(kubelet_probe_observe(&st, &s, KUBELET_PROBE_FAILURE));
    assert_int_equal(st.result, KUBELET_PROBE_SUCCESS); /* below the threshold: unchanged */
    /* a prober error is thrown away: it neither counts nor breaks the run */
    assert_false(kubelet_probe_observe(&st, &s, KUBELET_PROBE_UNKNOWN));
    assert_true(kubelet_probe_observe(&st, &s, KUBELET_PROBE_FAILURE));
    assert_int_equal(st.result, KUBELET_PROBE_FAILURE);
    /* a success in between starts the count again */
    st = kubelet_probe_initial(KUBELET_LIVENESS);
    assert_false(kubelet_probe_observe(&st, &s, KUBELET_PROBE_FAILURE));
    assert_false(kubelet_probe_observe(&st, &s, KUBELET_PROBE_FAILURE));
    assert_true(kubelet_probe_observe(&st, &s, KUBELET_PROBE_SUCCESS));
    assert_false(kubelet_probe_observe(&st, &s, KUBELET_PROBE_FAILURE));
    assert_false(kubelet_probe_observe(&st, &s, KUBELET_PROBE_FAILURE));
    assert_int_equal(st.result, KUBELET_PROBE_SUCCESS);
    /* every further failure past the threshold sets the result again */
    assert_true(kubelet_probe_observe(&st, &s, KUBELET_PROBE_FAILURE));
    assert_true(kubelet_probe_observe(&st, &s, KUBELET_PROBE_FAILURE));
}

static void success_threshold_for_readiness(void **state)
{
    (void)state;
    kubelet_probe_spec_t s = {.success_threshold = 2, .failure_threshold = 1};
    kubelet_probe_state_t st = kubelet_probe_initial(KUBELET_READINESS);
    assert_false(kubelet_probe_observe(&st, &s, KUBELET_PROBE_SUCCESS));
    assert_int_equal(st.result, KUBELET_PROBE_FAILURE);
    assert_true(kubelet_probe_observe(&st, &s, KUBELET_PROBE_SUCCESS));
    assert_int_equal(st.result, KUBELET_PROBE_SUCCESS);
    assert_true(kubelet_probe_observe(&st, &s, KUBELET_PROBE_FAILURE)); /* threshold 1 */
    assert_int_equal(st.result, KUBELET_PROBE_FAILURE);
    assert_false(kubelet_probe_observe(&st, &s, KUBELET_PROBE_SUCCESS));
    assert_int_equal(st.result, KUBELET_PROBE_FAILURE);
}

static void grace_periods(void **state)
{
    (void)state;
    cJSON *pod = parse("{\"metadata\":{},\"spec\":{}}");
    assert_true(kubelet_kill_grace(pod, NULL) == KUBELET_MIN_GRACE_SECONDS);
    cJSON_Delete(pod);
    pod = parse("{\"metadata\":{},\"spec\":{\"terminationGracePeriodSeconds\":30}}");
    assert_true(kubelet_kill_grace(pod, NULL) == 30);
    kubelet_probe_spec_t probe = {.termination_grace = -1};
    assert_true(kubelet_kill_grace(pod, &probe) == 30);
    probe.termination_grace = 5; /* a liveness/startup kill uses the probe's own */
    assert_true(kubelet_kill_grace(pod, &probe) == 5);
    cJSON_Delete(pod);
    pod = parse("{\"metadata\":{\"deletionGracePeriodSeconds\":7},"
                "\"spec\":{\"terminationGracePeriodSeconds\":30}}");
    assert_true(kubelet_kill_grace(pod, NULL) == 7); /* the deletion's wins */
    cJSON_Delete(pod);
    pod = parse("{\"metadata\":{\"deletionGracePeriodSeconds\":-3},\"spec\":{}}");
    assert_true(kubelet_kill_grace(pod, NULL) == 0);
    cJSON_Delete(pod);

    /* the preStop hook's whole seconds come off; at least 2 s stay for SIGTERM */
    assert_true(kubelet_grace_after_prestop(6, 3050) == 3);
    assert_true(kubelet_grace_after_prestop(6, 3999) == 3); /* truncated, as upstream */
    assert_true(kubelet_grace_after_prestop(3, 3000) == 2);
    assert_true(kubelet_grace_after_prestop(3, 20000) == 2);
    assert_true(kubelet_grace_after_prestop(30, 0) == 30);
    assert_true(kubelet_grace_after_prestop(1, 0) == 2);
    assert_true(kubelet_grace_after_prestop(0, 0) == 2);
}

static const cJSON *cond(const cJSON *st, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(st, "conditions"))
    {
        if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(c, "type")), type))
            return c;
    }
    fail_msg("no condition %s", type);
    return NULL;
}

static void readiness_and_startup_reach_status(void **state)
{
    (void)state;
    kubelet_ctr_status_t cs = {.name = "c", .state = KUBELET_CS_RUNNING, .not_ready = true};
    kubelet_pod_view_t v = {.ctrs = &cs, .n = 1, .now = "2026-01-01T00:00:00Z"};
    cJSON *st = kubelet_pod_status(&v);
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(st, "containerStatuses"), 0);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(c0, "ready")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(c0, "started")));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cond(st, "Ready"), "status")),
                        "False");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cond(st, "ContainersReady"), "message")),
        "containers with unready status: [c]");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(st, "phase")), "Running");
    cJSON_Delete(st);
    cs.not_ready = false;
    cs.not_started = true;
    st = kubelet_pod_status(&v);
    c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(st, "containerStatuses"), 0);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(c0, "ready")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(c0, "started")));
    cJSON_Delete(st);
    cs.not_started = false;
    st = kubelet_pod_status(&v);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cond(st, "Ready"), "status")),
                        "True");
    cJSON_Delete(st);
}

static void event_builder_fields(void **state)
{
    (void)state;
    client_event_spec_t s = {
        .obj = {.kind = "Pod",
                .api_version = "v1",
                .ns = "ns1",
                .name = "web",
                .uid = "u-1",
                .resource_version = "42",
                .field_path = "spec.containers{c}"},
        .type = "Warning",
        .reason = "Unhealthy",
        .message = "Liveness probe failed: x",
        .component = "kubelet",
        .host = "node1",
        .count = 3,
        .first_timestamp = "2026-01-01T00:00:00Z",
    };
    cJSON *e = client_event_build(&s);
    char *text = cJSON_PrintUnformatted(e);
    static const char *const want[] = {
        "\"kind\":\"Event\"",
        "\"apiVersion\":\"v1\"",
        "\"namespace\":\"ns1\"",
        "\"fieldPath\":\"spec.containers{c}\"",
        "\"uid\":\"u-1\"",
        "\"resourceVersion\":\"42\"",
        "\"reason\":\"Unhealthy\"",
        "\"source\":{\"component\":\"kubelet\",\"host\":\"node1\"}",
        "\"firstTimestamp\":\"2026-01-01T00:00:00Z\"",
        "\"count\":3",
        "\"type\":\"Warning\"",
        "\"reportingComponent\":\"kubelet\"",
        "\"reportingInstance\":\"node1\"",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(text, want[i]))
            fail_msg("%s lacks %s", text, want[i]);
    const char *name =
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "metadata"), "name"));
    assert_true(!strncmp(name, "web.", 4) && strlen(name) > 10); /* <name>.<hex nanoseconds> */
    cJSON_free(text);
    cJSON_Delete(e);
    /* messages are cut at 1 KiB */
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    s.message = big;
    e = client_event_build(&s);
    assert_int_equal(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(e, "message"))), 1024);
    cJSON_Delete(e);
}

/* 25 events about one object go out, the rest are dropped (upstream's spam filter); another
 * object has a bucket of its own. Nothing listens: the writes fail, which is fine here. */
static void recorder_spam_filter(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    client_config_t cfg = {
        .server = "https://127.0.0.1:1", .host = "127.0.0.1", .port = 1, .insecure = true};
    client_opts_t co;
    client_opts_default(&co);
    co.loop = &loop;
    co.config = &cfg;
    client_t *cl = NULL;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(client_new(&co, &cl, &err), 0);
    client_recorder_t *r = client_recorder_new(cl, "kubelet", "node1");
    client_event_ref_t a = {.kind = "Pod", .api_version = "v1", .ns = "d", .name = "a"};
    client_event_ref_t b = {.kind = "Pod", .api_version = "v1", .ns = "d", .name = "b"};
    for (int i = 0; i < 40; i++)
        client_recorder_eventf(r, &a, "Warning", "Unhealthy", "failure %d", i);
    for (int i = 0; i < 3; i++)
        client_recorder_eventf(r, &b, "Normal", "Started", "Started container c");
    uint64_t written, dropped;
    client_recorder_counts(r, &written, &dropped);
    assert_true(dropped == 15);
    client_recorder_free(r);
    client_close(cl);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- the runner against a local server (kubelet_probe_run.c) ------------------------------- */

typedef struct http_srv {
    int lfd, port;
    const char *answer; /* NULL: accept and say nothing */
    char request[2048];
} http_srv_t;

static void *serve_one(void *arg)
{
    http_srv_t *h = arg;
    int fd = accept(h->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    size_t len = 0;
    while (len < sizeof(h->request) - 1 && !strstr(h->request, "\r\n\r\n")) {
        ssize_t r = read(fd, h->request + len, sizeof(h->request) - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        h->request[len] = 0;
    }
    if (h->answer) {
        ssize_t w = write(fd, h->answer, strlen(h->answer));
        (void)w;
    } else {
        sleep(2); /* past the probe's timeout */
    }
    close(fd);
    return NULL;
}

static void srv_listen(http_srv_t *h)
{
    h->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(h->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(h->lfd, 4), 0);
    assert_int_equal(getsockname(h->lfd, (struct sockaddr *)&a, &al), 0);
    h->port = ntohs(a.sin_port);
}

static void http_probe_run(http_srv_t *h, krun_result_t *res)
{
    kubelet_handler_t hd = {.kind = KUBELET_HANDLER_HTTP, .port = h->port};
    util_snprintf(hd.path, sizeof(hd.path), "/healthz");
    util_strv_push(&hd.headers, "X-Probe: yes");
    pthread_t t;
    pthread_create(&t, NULL, serve_one, h);
    kubelet__handler_run(NULL, NULL, &hd, "127.0.0.1", 1000, KUBELET_PROBE_AGENT, res);
    pthread_join(t, NULL);
    kubelet_handler_free(&hd);
}

static void http_and_tcp_runs(void **state)
{
    (void)state;
    http_srv_t h = {.answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"};
    srv_listen(&h);
    krun_result_t res;
    http_probe_run(&h, &res);
    assert_int_equal(res.result, KUBELET_PROBE_SUCCESS);
    assert_string_equal(res.output, "ok");
    assert_non_null(strstr(h.request, "GET /healthz HTTP/1.1\r\n"));
    assert_non_null(strstr(h.request, "User-Agent: kube-probe/1.31\r\n"));
    assert_non_null(strstr(h.request, "X-Probe: yes\r\n"));
    char host[64];
    util_snprintf(host, sizeof(host), "Host: 127.0.0.1:%d\r\n", h.port);
    assert_non_null(strstr(h.request, host));

    h.answer = "HTTP/1.1 404 Not Found\r\n\r\n";
    http_probe_run(&h, &res);
    assert_int_equal(res.result, KUBELET_PROBE_FAILURE);
    assert_string_equal(res.output, "HTTP probe failed with statuscode: 404");

    h.answer = NULL; /* no answer within the 1 s timeout */
    http_probe_run(&h, &res);
    assert_int_equal(res.result, KUBELET_PROBE_FAILURE);
    assert_non_null(strstr(res.output, "context deadline exceeded"));

    kubelet_handler_t tcp = {.kind = KUBELET_HANDLER_TCP, .port = h.port};
    kubelet__handler_run(NULL, NULL, &tcp, "127.0.0.1", 1000, KUBELET_PROBE_AGENT, &res);
    assert_int_equal(res.result, KUBELET_PROBE_SUCCESS); /* the listen backlog accepts it */
    close(h.lfd);
    kubelet__handler_run(NULL, NULL, &tcp, "127.0.0.1", 1000, KUBELET_PROBE_AGENT, &res);
    assert_int_equal(res.result, KUBELET_PROBE_FAILURE);
    char want[128];
    util_snprintf(want, sizeof(want), "dial tcp 127.0.0.1:%d: connect: connection refused", h.port);
    assert_string_equal(res.output, want);
    kubelet_handler_t hd = {.kind = KUBELET_HANDLER_HTTP, .port = h.port};
    util_snprintf(hd.path, sizeof(hd.path), "/");
    kubelet__handler_run(NULL, NULL, &hd, "127.0.0.1", 1000, KUBELET_PROBE_AGENT, &res);
    util_snprintf(want, sizeof(want),
                  "Get \"http://127.0.0.1:%d/\": dial tcp 127.0.0.1:%d: connect: connection "
                  "refused",
                  h.port, h.port);
    assert_string_equal(res.output, want);
    /* no address: an error, thrown away by the caller */
    kubelet__handler_run(NULL, NULL, &tcp, "", 1000, KUBELET_PROBE_AGENT, &res);
    assert_int_equal(res.result, KUBELET_PROBE_UNKNOWN);
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(probe_defaults_and_ports),
        cmocka_unit_test(bad_handlers_are_refused),
        cmocka_unit_test(initial_results),
        cmocka_unit_test(failure_threshold_counts_runs),
        cmocka_unit_test(success_threshold_for_readiness),
        cmocka_unit_test(grace_periods),
        cmocka_unit_test(readiness_and_startup_reach_status),
        cmocka_unit_test(event_builder_fields),
        cmocka_unit_test(recorder_spam_filter),
        cmocka_unit_test(http_and_tcp_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
