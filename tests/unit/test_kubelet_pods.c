/* test_kubelet_pods: the pure parts of running pods: quantities, QoS class, command/args vs
 * the image's Entrypoint/Cmd, the environment, the crash-loop back-off, phase and status. */
#include "unit.h"
#include "kubelet/kubelet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static cJSON *parse(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    return j;
}

static void quantities(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(kubelet_parse_cpu_milli("100m", &v), 0);
    assert_true(v == 100);
    assert_int_equal(kubelet_parse_cpu_milli("0.5", &v), 0);
    assert_true(v == 500);
    assert_int_equal(kubelet_parse_cpu_milli("2", &v), 0);
    assert_true(v == 2000);
    assert_int_equal(kubelet_parse_cpu_milli("1n", &v), 0); /* rounded up, as upstream */
    assert_true(v == 1);
    assert_int_equal(kubelet_parse_cpu_milli("-1", &v), -EINVAL);
    assert_int_equal(kubelet_parse_cpu_milli(NULL, &v), -EINVAL);
    assert_int_equal(kubelet_parse_bytes("64Mi", &v), 0);
    assert_true(v == 64 * 1024 * 1024);
    assert_int_equal(kubelet_parse_bytes("1G", &v), 0);
    assert_true(v == 1000000000);
    assert_int_equal(kubelet_parse_bytes("1e3", &v), 0);
    assert_true(v == 1000);
    assert_int_equal(kubelet_parse_bytes("129M", &v), 0);
    assert_true(v == 129000000);
    assert_int_equal(kubelet_parse_bytes("12 Mi", &v), -EINVAL);
    assert_int_equal(kubelet_parse_bytes("Mi", &v), -EINVAL);
    assert_int_equal(kubelet_parse_bytes("99999999999Ei", &v), -EINVAL);
}

static void qos_classes(void **state)
{
    (void)state;
    cJSON *s = parse("{\"containers\":[{\"name\":\"a\"}]}");
    assert_string_equal(kubelet_qos_class(s), "BestEffort");
    cJSON_Delete(s);
    s = parse("{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\","
              "\"memory\":\"1Gi\"},\"requests\":{\"cpu\":\"1000m\",\"memory\":\"1Gi\"}}}]}");
    assert_string_equal(kubelet_qos_class(s), "Guaranteed");
    cJSON_Delete(s);
    s = parse("{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\","
              "\"memory\":\"1Gi\"}}},{\"name\":\"b\"}]}");
    assert_string_equal(kubelet_qos_class(s), "Burstable");
    cJSON_Delete(s);
    s = parse("{\"containers\":[{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"1\"}}}]}");
    assert_string_equal(kubelet_qos_class(s), "Burstable");
    cJSON_Delete(s);
}

static void argv_of(const char *container, const images_config_t *img, const char *want)
{
    cJSON *c = parse(container);
    util_strv_t v = {0};
    util_strv_t env = {0};
    util_strv_push(&env, "X=ex");
    int r = kubelet_container_argv(c, img, &env, &v);
    util_strv_clear(&env);
    util_buf_t b = {0};
    for (size_t i = 0; i < v.n; i++)
        util_buf_printf(&b, "%s%s", i ? "|" : "", v.v[i]);
    if (want)
        assert_string_equal(b.len ? b.data : "", want);
    else
        assert_int_equal(r, -EINVAL);
    util_buf_free(&b);
    util_strv_clear(&v);
    cJSON_Delete(c);
}

static void command_and_args_vs_image(void **state)
{
    (void)state;
    images_config_t img = {0};
    util_strv_push(&img.entrypoint, "/kltest");
    util_strv_push(&img.cmd, "pause");
    argv_of("{}", &img, "/kltest|pause");
    argv_of("{\"args\":[\"echo\",\"hi\"]}", &img, "/kltest|echo|hi");
    argv_of("{\"command\":[\"sh\"]}", &img, "sh");
    argv_of("{\"command\":[\"sh\"],\"args\":[\"-c\",\"x\"]}", &img, "sh|-c|x");
    argv_of("{\"command\":[\"$(X)\"],\"args\":[\"$(Y)\",\"$$(X)\",\"a$(X\"]}", &img,
            "ex|$(Y)|$(X)|a$(X");
    images_config_t bare = {0};
    argv_of("{}", &bare, NULL);
    util_strv_push(&bare.cmd, "sh");
    argv_of("{\"command\":[]}", &bare, "sh");
    util_strv_clear(&img.entrypoint);
    util_strv_clear(&img.cmd);
    util_strv_clear(&bare.cmd);
}

static void environment(void **state)
{
    (void)state;
    images_config_t img = {0};
    util_strv_push(&img.env, "PATH=/bin");
    util_strv_push(&img.env, "A=image");
    cJSON *c = parse("{\"env\":[{\"name\":\"A\",\"value\":\"pod\"},{\"name\":\"B\"},"
                     "{\"name\":\"N\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":"
                     "\"metadata.name\"}}},{\"name\":\"IP\",\"valueFrom\":{\"fieldRef\":"
                     "{\"fieldPath\":\"status.podIP\"}}}]}");
    kubelet_env_ctx_t ctx = {.pod_name = "p1", .pod_namespace = "default", .pod_ip = "10.42.0.5"};
    util_strv_t env = {0};
    util_error_t err = NULL;
    assert_int_equal(kubelet_container_env(c, &img, &ctx, &env, &err), 0);
    assert_int_equal(env.n, 5);
    assert_string_equal(env.v[0], "PATH=/bin");
    assert_string_equal(env.v[1], "A=pod");
    assert_string_equal(env.v[2], "B=");
    assert_string_equal(env.v[3], "N=p1");
    assert_string_equal(env.v[4], "IP=10.42.0.5");
    util_strv_clear(&env);
    cJSON_Delete(c);
    c = parse("{\"env\":[{\"name\":\"S\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"s\","
              "\"key\":\"k\"}}}]}");
    assert_int_equal(kubelet_container_env(c, NULL, &ctx, &env, &err), -ENOENT);
    assert_string_equal(err->msg, "secret \"s\" not found");
    util_error_free(&err);
    util_strv_clear(&env);
    cJSON_Delete(c);
    util_strv_clear(&img.env);
}

static void expansion(void **state)
{
    (void)state;
    util_strv_t env = {0};
    util_strv_push(&env, "A=1");
    util_strv_push(&env, "A=2");
    util_strv_push(&env, "B=");
    const char *cases[][2] = {{"$(A)", "2"},     {"x$(B)y", "xy"},    {"$(C)", "$(C)"},
                              {"$$(A)", "$(A)"}, {"$$$(A)", "$2"},    {"$", "$"},
                              {"$(A", "$(A"},    {"a$b$(A)", "a$b2"}, {"", ""}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *x = kubelet_expand(cases[i][0], &env);
        assert_string_equal(x, cases[i][1]);
        free(x);
    }
    util_strv_clear(&env);
    /* env values see the variables defined before them */
    cJSON *c = parse("{\"env\":[{\"name\":\"A\",\"value\":\"a\"},{\"name\":\"B\","
                     "\"value\":\"$(A)-$(Z)\"}]}");
    kubelet_env_ctx_t ctx = {0};
    util_error_t err = NULL;
    assert_int_equal(kubelet_container_env(c, NULL, &ctx, &env, &err), 0);
    assert_string_equal(env.v[1], "B=a-$(Z)");
    util_strv_clear(&env);
    cJSON_Delete(c);
}

static void crash_backoff(void **state)
{
    (void)state;
    assert_true(kubelet_crash_backoff_ms(0) == 0);
    assert_true(kubelet_crash_backoff_ms(1) == 10000);
    assert_true(kubelet_crash_backoff_ms(2) == 20000);
    assert_true(kubelet_crash_backoff_ms(5) == 160000);
    assert_true(kubelet_crash_backoff_ms(6) == 300000);
    assert_true(kubelet_crash_backoff_ms(1000) == 300000);
}

static const char *phase_of(const char *policy, kubelet_ctr_status_t *c, size_t n)
{
    kubelet_pod_view_t v = {.ctrs = c, .n = n, .restart_policy = policy, .now = "x"};
    return kubelet_pod_phase(&v);
}

static void phases(void **state)
{
    (void)state;
    kubelet_ctr_status_t c[2] = {{.name = "a"}, {.name = "b"}};
    assert_string_equal(phase_of(NULL, c, 1), "Pending");
    c[0].state = KUBELET_CS_RUNNING;
    assert_string_equal(phase_of(NULL, c, 1), "Running");
    c[0].state = KUBELET_CS_TERMINATED;
    assert_string_equal(phase_of("Never", c, 1), "Succeeded");
    assert_string_equal(phase_of("Always", c, 1), "Running");
    c[0].term.exit_code = 1;
    assert_string_equal(phase_of("Never", c, 1), "Failed");
    assert_string_equal(phase_of("OnFailure", c, 1), "Running");
    /* crash loop: waiting with a last termination counts as stopped, not waiting */
    c[0].state = KUBELET_CS_WAITING;
    c[0].has_last = true;
    assert_string_equal(phase_of("Always", c, 1), "Running");
    /* an init container not done keeps the pod Pending; failed with Never: Failed */
    c[0] = (kubelet_ctr_status_t){.name = "i", .init = true, .state = KUBELET_CS_RUNNING};
    c[1] = (kubelet_ctr_status_t){.name = "b"};
    assert_string_equal(phase_of("Always", c, 2), "Pending");
    c[0].state = KUBELET_CS_TERMINATED;
    c[0].term.exit_code = 2;
    assert_string_equal(phase_of("Never", c, 2), "Failed");
    c[0].term.exit_code = 0;
    c[1].state = KUBELET_CS_RUNNING;
    assert_string_equal(phase_of("Never", c, 2), "Running");
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

static void status_object(void **state)
{
    (void)state;
    kubelet_ctr_status_t c[2] = {
        {.name = "a",
         .image = "busybox",
         .image_id = "sha256:1",
         .container_id = "kubeling://x",
         .state = KUBELET_CS_RUNNING,
         .started_ns = 1700000000000000000ll,
         .restart_count = 2,
         .has_last = true,
         .last = {.exit_code = 137, .signal = 9, .reason = "OOMKilled"}},
        {.name = "b", .image = "nope", .reason = "ImagePullBackOff", .message = "not found"},
    };
    cJSON *prev = parse("[{\"type\":\"PodScheduled\",\"status\":\"True\","
                        "\"lastTransitionTime\":\"2020-01-01T00:00:00Z\"}]");
    kubelet_pod_view_t v = {.ctrs = c,
                            .n = 2,
                            .pod_ip = "10.42.0.7",
                            .host_ip = "192.0.2.1",
                            .start_time = "2023-11-14T22:13:20Z",
                            .qos_class = "BestEffort",
                            .now = "2023-11-14T22:13:21Z",
                            .prev_conditions = prev};
    cJSON *st = kubelet_pod_status(&v);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(st, "phase")), "Pending");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(st, "podIP")), "10.42.0.7");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(st, "hostIP")), "192.0.2.1");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(st, "qosClass")), "BestEffort");
    const cJSON *ready = cond(st, "Ready");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ready, "status")), "False");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ready, "message")),
                        "containers with unready status: [b]");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cond(st, "PodScheduled"), "lastTransitionTime")),
        "2020-01-01T00:00:00Z");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cond(st, "Initialized"), "status")), "True");
    const cJSON *cs = cJSON_GetObjectItem(st, "containerStatuses");
    assert_int_equal(cJSON_GetArraySize(cs), 2);
    const cJSON *a = cJSON_GetArrayItem(cs, 0), *b = cJSON_GetArrayItem(cs, 1);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(a, "ready")));
    assert_int_equal(cJSON_GetObjectItem(a, "restartCount")->valueint, 2);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(a, "state"), "running"), "startedAt")),
        "2023-11-14T22:13:20Z");
    const cJSON *last = cJSON_GetObjectItem(cJSON_GetObjectItem(a, "lastState"), "terminated");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(last, "reason")), "OOMKilled");
    assert_int_equal(cJSON_GetObjectItem(last, "exitCode")->valueint, 137);
    const cJSON *w = cJSON_GetObjectItem(cJSON_GetObjectItem(b, "state"), "waiting");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(w, "reason")), "ImagePullBackOff");
    assert_null(cJSON_GetObjectItem(b, "containerID"));
    cJSON_Delete(st);
    /* Succeeded: Ready False with PodCompleted */
    c[0].state = KUBELET_CS_TERMINATED;
    c[0].term = (kubelet_term_t){.exit_code = 0};
    v.n = 1;
    v.restart_policy = "Never";
    st = kubelet_pod_status(&v);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(st, "phase")), "Succeeded");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cond(st, "Ready"), "reason")),
                        "PodCompleted");
    const cJSON *t = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(st, "containerStatuses"), 0),
                            "state"),
        "terminated");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(t, "reason")), "Completed");
    cJSON_Delete(st);
    cJSON_Delete(prev);
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quantities),
        cmocka_unit_test(qos_classes),
        cmocka_unit_test(command_and_args_vs_image),
        cmocka_unit_test(environment),
        cmocka_unit_test(expansion),
        cmocka_unit_test(crash_backoff),
        cmocka_unit_test(phases),
        cmocka_unit_test(status_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
