/* test_controller_hpa: the horizontal pod autoscaler's arithmetic against upstream's rules:
 * utilization and average-value replicas with the tolerance, missing and unready pods, which
 * pods count, stabilization windows and scaling policies. */
#include "unit.h"
#include "controller/controller.h"

#include <string.h>

static controller_hpa_pod_t ready(const char *name, int64_t usage, int64_t request)
{
    return (controller_hpa_pod_t){.name = name,
                                  .resource = "cpu",
                                  .container = "c",
                                  .group = CONTROLLER_HPA_READY,
                                  .usage = usage,
                                  .has_request = true,
                                  .request = request};
}

static int64_t replicas(const controller_hpa_pod_t *p, size_t n, int64_t current, int64_t util,
                        int64_t avg, controller_hpa_result_t *r)
{
    util_error_t err = NULL;
    int rc = controller_hpa_replicas(p, n, current, util, avg, CONTROLLER_HPA_TOLERANCE, r, &err);
    if (rc < 0) {
        char b[256];
        fail_msg("replicas: %s", util_error_text(err, b, sizeof(b)));
    }
    return r->replicas;
}

static void test_utilization(void **state)
{
    (void)state;
    controller_hpa_result_t r;
    controller_hpa_pod_t p[] = {ready("a", 900, 1000), ready("b", 900, 1000),
                                ready("c", 900, 1000)};
    assert_int_equal(replicas(p, 3, 3, 50, 0, &r), 6); /* 90% of 50%: ceil(1.8 * 3) */
    assert_int_equal(r.utilization, 90);
    assert_int_equal(r.average, 900);
    for (int i = 0; i < 3; i++)
        p[i].usage = 520; /* 52%: within the 10% tolerance */
    assert_int_equal(replicas(p, 3, 3, 50, 0, &r), 3);
    for (int i = 0; i < 3; i++)
        p[i].usage = 100; /* 10%: ceil(0.2 * 3) */
    assert_int_equal(replicas(p, 3, 3, 50, 0, &r), 1);
    /* a pod without a request for the resource */
    p[1].has_request = false;
    util_error_t err = NULL;
    assert_true(controller_hpa_replicas(p, 3, 3, 50, 0, 0.1, &r, &err) < 0);
    assert_string_equal(err->msg, "missing request for cpu in container c of Pod b");
    util_error_free(&err);
}

static void test_missing_and_unready(void **state)
{
    (void)state;
    controller_hpa_result_t r;
    /* scale-down with a pod without metrics: it counts as using all of its request */
    controller_hpa_pod_t p[] = {ready("a", 100, 1000), ready("b", 100, 1000), ready("c", 0, 1000),
                                ready("d", 0, 1000)};
    p[2].group = CONTROLLER_HPA_MISSING;
    p[3].group = CONTROLLER_HPA_MISSING;
    /* without the missing pods: 10% -> ceil(0.2 * 2) = 1; with them at 100%: 55% -> 1.1, the
     * direction flips: no change */
    assert_int_equal(replicas(p, 4, 4, 50, 0, &r), 4);
    assert_int_equal(r.utilization, 10); /* reported from the samples only */
    /* one missing: (100 + 100 + 1000) / 3000 = 40% -> 0.8 -> ceil(0.8 * 3) = 3 */
    assert_int_equal(replicas(p, 3, 4, 50, 0, &r), 3);
    /* scale-up with an unready pod: it counts as using nothing */
    controller_hpa_pod_t q[] = {ready("a", 1000, 1000), ready("b", 1000, 1000),
                                ready("c", 0, 1000)};
    q[2].group = CONTROLLER_HPA_UNREADY;
    /* 100% of 50% -> 2.0; with c at 0: 66% -> 1.33 -> ceil(1.33 * 3) = 4 */
    assert_int_equal(replicas(q, 3, 3, 50, 0, &r), 4);
    /* a direction change after counting them means no change */
    controller_hpa_pod_t s[] = {ready("a", 560, 1000), ready("b", 0, 1000)};
    s[1].group = CONTROLLER_HPA_MISSING; /* 56% -> 1.12 up; b at 0: 28% -> down: keep 2 */
    assert_int_equal(replicas(s, 2, 2, 50, 0, &r), 2);
    /* ignored pods do not count at all; no samples at all is an error */
    controller_hpa_pod_t t[] = {ready("a", 900, 1000)};
    t[0].group = CONTROLLER_HPA_IGNORED;
    util_error_t err = NULL;
    assert_true(controller_hpa_replicas(t, 1, 1, 50, 0, 0.1, &r, &err) < 0);
    assert_string_equal(err->msg,
                        "did not receive metrics for targeted pods (pods might be unready)");
    util_error_free(&err);
}

static void test_average_value(void **state)
{
    (void)state;
    controller_hpa_result_t r;
    controller_hpa_pod_t p[] = {ready("a", 300, 0), ready("b", 500, 0)};
    p[0].has_request = p[1].has_request = false;        /* not needed for AverageValue */
    assert_int_equal(replicas(p, 2, 2, 0, 200, &r), 4); /* average 400m of 200m */
    assert_int_equal(r.average, 400);
    assert_int_equal(replicas(p, 2, 2, 0, 390, &r), 2); /* 1.03: within tolerance */
}

static cJSON *pod(const char *phase, const char *start, const char *ready, const char *transition,
                  bool deleting)
{
    char buf[1024];
    snprintf(
        buf, sizeof(buf),
        "{\"metadata\":{\"name\":\"p\"%s},\"status\":{\"phase\":\"%s\",\"startTime\":\"%s\","
        "\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\",\"lastTransitionTime\":\"%s\"}]}}",
        deleting ? ",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"" : "", phase, start, ready,
        transition);
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    return j;
}

static void test_group_pods(void **state)
{
    (void)state;
    int64_t now = controller_parse_time("2026-01-01T01:00:00Z");
    struct {
        const char *phase, *start, *ready, *transition;
        bool deleting, cpu, metric;
        int64_t metric_time;
        controller_hpa_group_t want;
    } cases[] = {
        {"Running", "2026-01-01T00:00:00Z", "True", "2026-01-01T00:00:10Z", false, true, true, now,
         CONTROLLER_HPA_READY},
        {"Running", "2026-01-01T00:00:00Z", "True", "2026-01-01T00:00:10Z", true, true, true, now,
         CONTROLLER_HPA_IGNORED},
        {"Failed", "2026-01-01T00:00:00Z", "False", "2026-01-01T00:00:10Z", false, true, true, now,
         CONTROLLER_HPA_IGNORED},
        {"Pending", "2026-01-01T00:00:00Z", "False", "2026-01-01T00:00:10Z", false, false, true,
         now, CONTROLLER_HPA_UNREADY},
        {"Running", "2026-01-01T00:00:00Z", "True", "2026-01-01T00:00:10Z", false, true, false, now,
         CONTROLLER_HPA_MISSING},
        /* started 2 minutes ago, ready 1 minute ago, the sample is newer: counts */
        {"Running", "2026-01-01T00:58:00Z", "True", "2026-01-01T00:59:00Z", false, true, true, now,
         CONTROLLER_HPA_READY},
        /* ... but a sample from before it was ready for a window does not */
        {"Running", "2026-01-01T00:58:00Z", "True", "2026-01-01T00:59:00Z", false, true, true,
         now - 65, CONTROLLER_HPA_UNREADY},
        /* long running, not ready now but was ready after its first 30 s: counts */
        {"Running", "2026-01-01T00:00:00Z", "False", "2026-01-01T00:30:00Z", false, true, true, now,
         CONTROLLER_HPA_READY},
        /* long running and never ready: does not */
        {"Running", "2026-01-01T00:00:00Z", "False", "2026-01-01T00:00:05Z", false, true, true, now,
         CONTROLLER_HPA_UNREADY},
        /* memory does not care about readiness */
        {"Running", "2026-01-01T00:00:00Z", "False", "2026-01-01T00:00:05Z", false, false, true,
         now, CONTROLLER_HPA_READY},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *p = pod(cases[i].phase, cases[i].start, cases[i].ready, cases[i].transition,
                       cases[i].deleting);
        controller_hpa_group_t g = controller_hpa_group_pod(p, cases[i].cpu, cases[i].metric,
                                                            cases[i].metric_time, 1, now);
        if (g != cases[i].want)
            fail_msg("case %zu: group %d, want %d", i, g, cases[i].want);
        cJSON_Delete(p);
    }
}

static void test_stabilization(void **state)
{
    (void)state;
    controller_hpa_history_t h;
    memset(&h, 0, sizeof(h));
    controller_hpa_verdict_t v;
    /* t=0: 10 recommended at 10 */
    assert_int_equal(controller_hpa_normalize(NULL, 1, 20, 10, 10, &h, 0, &v), 10);
    assert_string_equal(v.able_reason, "ReadyForNewScale");
    /* t=60: the load drops: the 300 s scale-down window keeps 10 */
    assert_int_equal(controller_hpa_normalize(NULL, 1, 20, 10, 2, &h, 60, &v), 10);
    assert_string_equal(v.able_reason, "ScaleDownStabilized");
    assert_string_equal(v.limit_reason, "DesiredWithinRange");
    assert_false(v.limited);
    /* t=400: the 10 is out of the window, the 2 of t=60 too: down to 2 at once (100%/15 s) */
    assert_int_equal(controller_hpa_normalize(NULL, 1, 20, 10, 2, &h, 400, &v), 2);
    assert_string_equal(v.able_reason, "ReadyForNewScale");
    /* a zero window scales down at once; min bounds it */
    cJSON *b = cJSON_Parse("{\"scaleDown\":{\"stabilizationWindowSeconds\":0}}");
    memset(&h, 0, sizeof(h));
    assert_int_equal(controller_hpa_normalize(b, 3, 20, 10, 1, &h, 0, &v), 3);
    assert_string_equal(v.limit_reason, "TooFewReplicas");
    assert_true(v.limited);
    cJSON_Delete(b);
}

static void test_rate_limits(void **state)
{
    (void)state;
    controller_hpa_history_t h;
    memset(&h, 0, sizeof(h));
    controller_hpa_verdict_t v;
    /* default scale-up: max(100%, 4 pods) per 15 s: 2 -> 6 */
    assert_int_equal(controller_hpa_normalize(NULL, 1, 30, 2, 20, &h, 0, &v), 6);
    assert_string_equal(v.limit_reason, "ScaleUpLimit");
    assert_string_equal(v.limit_message,
                        "the desired replica count is increasing faster than the maximum scale "
                        "rate");
    controller_hpa_record_scale(&h, NULL, 2, 6, 0);
    /* 5 s later the period started at 2: still at most 6 */
    assert_int_equal(controller_hpa_normalize(NULL, 1, 30, 6, 20, &h, 5, &v), 6);
    /* 16 s later a new period: 12 */
    assert_int_equal(controller_hpa_normalize(NULL, 1, 30, 6, 20, &h, 16, &v), 12);
    /* max bounds it */
    assert_int_equal(controller_hpa_normalize(NULL, 1, 8, 6, 20, &h, 40, &v), 8);
    assert_string_equal(v.limit_reason, "TooManyReplicas");
    /* a Pods policy of 1 per minute with selectPolicy Min, and Disabled */
    cJSON *b = cJSON_Parse("{\"scaleUp\":{\"selectPolicy\":\"Min\",\"policies\":["
                           "{\"type\":\"Pods\",\"value\":1,\"periodSeconds\":60},"
                           "{\"type\":\"Percent\",\"value\":50,\"periodSeconds\":60}]},"
                           "\"scaleDown\":{\"selectPolicy\":\"Disabled\"}}");
    memset(&h, 0, sizeof(h));
    assert_int_equal(controller_hpa_normalize(b, 1, 30, 4, 20, &h, 0, &v), 5);
    assert_int_equal(controller_hpa_normalize(b, 1, 30, 4, 1, &h, 1000, &v), 4);
    assert_string_equal(v.limit_reason, "ScaleDownLimit");
    /* scale-down by percent: 10 -> at most 50% down per 15 s */
    cJSON *d = cJSON_Parse("{\"scaleDown\":{\"stabilizationWindowSeconds\":0,\"policies\":["
                           "{\"type\":\"Percent\",\"value\":50,\"periodSeconds\":15}]}}");
    memset(&h, 0, sizeof(h));
    assert_int_equal(controller_hpa_normalize(d, 1, 30, 10, 1, &h, 0, &v), 5);
    cJSON_Delete(b);
    cJSON_Delete(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utilization),   cmocka_unit_test(test_missing_and_unready),
        cmocka_unit_test(test_average_value), cmocka_unit_test(test_group_pods),
        cmocka_unit_test(test_stabilization), cmocka_unit_test(test_rate_limits),
    };
    unit_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
