/* test_apiserver_convert: version conversion between storage and served versions (events,
 * HorizontalPodAutoscalers) round-trips, events.k8s.io/v1 validation, and ResourceQuota /
 * LimitRange arithmetic (usage, scopes, constraints, quantity formatting). */
#include "unit.h"
#include "apiserver/apiserver_convert.h"
#include "apiserver/apiserver_quota.h"

#include <cjson/cJSON.h>
#include <string.h>

static cJSON *parse(const char *text)
{
    cJSON *o = cJSON_Parse(text);
    assert_non_null(o);
    return o;
}

static void assert_json_equal(const cJSON *a, const cJSON *b)
{
    if (!cJSON_Compare(a, b, true)) {
        char *ta = cJSON_PrintUnformatted(a), *tb = cJSON_PrintUnformatted(b);
        print_error("%s\n!=\n%s\n", ta, tb);
        cJSON_free(ta);
        cJSON_free(tb);
        fail();
    }
}

/* ---- events ---------------------------------------------------------------------------------- */

static const char core_event[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":\"e\",\"namespace\":\"ns\"},"
    "\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\",\"namespace\":\"ns\"},\"reason\":\"R\","
    "\"message\":\"m\",\"source\":{\"component\":\"kubelet\",\"host\":\"n1\"},"
    "\"firstTimestamp\":\"2026-01-01T00:00:00Z\",\"lastTimestamp\":\"2026-01-01T00:00:01Z\","
    "\"count\":3,\"type\":\"Normal\",\"eventTime\":null,\"series\":{\"count\":2,"
    "\"lastObservedTime\":\"2026-01-01T00:00:01.000000Z\"},\"action\":\"A\",\"related\":{\"kind\":"
    "\"Node\",\"name\":\"n1\"},\"reportingComponent\":\"kubelet\",\"reportingInstance\":\"n1\"}";

static void test_event_core_to_v1_maps_every_field(void **state)
{
    (void)state;
    cJSON *ev = parse(core_event);
    apiserver_conv_event_to_events_v1(ev);
    assert_string_equal(cJSON_GetObjectItem(ev, "apiVersion")->valuestring, "events.k8s.io/v1");
    assert_string_equal(cJSON_GetObjectItem(ev, "note")->valuestring, "m");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "regarding"), "name")->valuestring, "p");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "deprecatedSource"), "host")->valuestring,
        "n1");
    assert_int_equal(cJSON_GetObjectItem(ev, "deprecatedCount")->valueint, 3);
    assert_string_equal(cJSON_GetObjectItem(ev, "deprecatedFirstTimestamp")->valuestring,
                        "2026-01-01T00:00:00Z");
    assert_string_equal(cJSON_GetObjectItem(ev, "reportingController")->valuestring, "kubelet");
    assert_non_null(cJSON_GetObjectItem(ev, "related"));
    assert_null(cJSON_GetObjectItem(ev, "message"));
    assert_null(cJSON_GetObjectItem(ev, "involvedObject"));
    assert_null(cJSON_GetObjectItem(ev, "reportingComponent"));
    cJSON_Delete(ev);
}

static void test_event_round_trips_both_ways(void **state)
{
    (void)state;
    cJSON *orig = parse(core_event), *ev = cJSON_Duplicate(orig, true);
    apiserver_conv_event_to_events_v1(ev);
    cJSON *v1 = cJSON_Duplicate(ev, true);
    apiserver_conv_event_to_core(ev);
    assert_json_equal(orig, ev);
    apiserver_conv_event_to_events_v1(ev);
    assert_json_equal(v1, ev);
    cJSON_Delete(orig);
    cJSON_Delete(ev);
    cJSON_Delete(v1);
}

typedef struct collected {
    char text[2048];
    int n;
} collected_t;

static void collect(void *ud, const char *reason, const char *field, const char *problem)
{
    collected_t *c = ud;
    (void)reason;
    size_t used = strlen(c->text);
    snprintf(c->text + used, sizeof(c->text) - used, "%s: %s\n", field, problem);
    c->n++;
}

static void test_events_v1_create_rules(void **state)
{
    (void)state;
    const apiserver_resource_t *r = apiserver_resource_find("events.k8s.io", "v1", "events");
    assert_non_null(r);
    assert_true(apiserver_conv_needed(r));
    assert_string_equal(apiserver_conv_storage(r)->group, "");
    cJSON *bad = parse("{\"apiVersion\":\"events.k8s.io/v1\",\"kind\":\"Event\",\"metadata\":{"
                       "\"name\":\"b\",\"namespace\":\"ns\"},\"type\":\"Bogus\","
                       "\"deprecatedCount\":2}");
    collected_t c = {0};
    apiserver_conv_validate(r, bad, NULL, collect, &c);
    assert_non_null(strstr(c.text, "eventTime: Required value\n"));
    assert_non_null(strstr(c.text, "type: Invalid value: \"\": has invalid value: Bogus\n"));
    assert_non_null(strstr(c.text, "count: Invalid value: \"\": needs to be unset\n"));
    assert_int_equal(c.n, 3);
    cJSON_Delete(bad);
    cJSON *good = parse(
        "{\"apiVersion\":\"events.k8s.io/v1\",\"kind\":\"Event\",\"metadata\":{\"name\":\"g\","
        "\"namespace\":\"ns\"},\"eventTime\":\"2026-01-01T00:00:00.000000Z\",\"type\":\"Normal\","
        "\"reportingController\":\"a.b/c\",\"reportingInstance\":\"i\",\"action\":\"A\","
        "\"reason\":\"R\",\"regarding\":{\"kind\":\"Pod\",\"name\":\"p\",\"namespace\":\"ns\"}}");
    memset(&c, 0, sizeof(c));
    apiserver_conv_validate(r, good, NULL, collect, &c);
    assert_int_equal(c.n, 0);
    cJSON *changed = cJSON_Duplicate(good, true);
    cJSON_ReplaceItemInObject(changed, "reason", cJSON_CreateString("Other"));
    apiserver_conv_validate(r, changed, good, collect, &c);
    assert_string_equal(c.text, "reason: Invalid value: field is immutable\n");
    cJSON_Delete(changed);
    cJSON_Delete(good);
    /* the core endpoint has no such rules */
    memset(&c, 0, sizeof(c));
    cJSON *core = parse(core_event);
    apiserver_conv_validate(apiserver_resource_find("", "v1", "events"), core, NULL, collect, &c);
    assert_int_equal(c.n, 0);
    cJSON_Delete(core);
}

/* ---- HorizontalPodAutoscalers ------------------------------------------------------------------
 */

static const char hpa_v2[] =
    "{\"apiVersion\":\"autoscaling/v2\",\"kind\":\"HorizontalPodAutoscaler\",\"metadata\":{"
    "\"name\":\"h\"},\"spec\":{\"scaleTargetRef\":{\"kind\":\"Deployment\",\"name\":\"d\"},"
    "\"minReplicas\":1,\"maxReplicas\":4,\"metrics\":["
    "{\"type\":\"Resource\",\"resource\":{\"name\":\"memory\",\"target\":{\"type\":"
    "\"AverageValue\",\"averageValue\":\"100Mi\"}}},"
    "{\"type\":\"Pods\",\"pods\":{\"metric\":{\"name\":\"qps\"},\"target\":{\"type\":"
    "\"AverageValue\",\"averageValue\":\"10\"}}},"
    "{\"type\":\"Object\",\"object\":{\"describedObject\":{\"kind\":\"Service\",\"name\":\"s\"},"
    "\"metric\":{\"name\":\"rps\"},\"target\":{\"type\":\"Value\",\"value\":\"5\"}}},"
    "{\"type\":\"External\",\"external\":{\"metric\":{\"name\":\"queue\"},\"target\":{\"type\":"
    "\"AverageValue\",\"averageValue\":\"30\"}}},"
    "{\"type\":\"Resource\",\"resource\":{\"name\":\"cpu\",\"target\":{\"type\":\"Utilization\","
    "\"averageUtilization\":60}}}],"
    "\"behavior\":{\"scaleDown\":{\"stabilizationWindowSeconds\":60}}},"
    "\"status\":{\"currentReplicas\":2,\"desiredReplicas\":3,\"currentMetrics\":["
    "{\"type\":\"Resource\",\"resource\":{\"name\":\"cpu\",\"current\":{\"averageUtilization\":"
    "40,\"averageValue\":\"200m\"}}}],\"conditions\":[{\"type\":\"AbleToScale\",\"status\":"
    "\"True\"}]}}";

static void test_hpa_v2_to_v1_uses_upstream_annotations(void **state)
{
    (void)state;
    cJSON *h = parse(hpa_v2);
    apiserver_conv_hpa_to_v1(h);
    cJSON *spec = cJSON_GetObjectItem(h, "spec"), *status = cJSON_GetObjectItem(h, "status");
    assert_string_equal(cJSON_GetObjectItem(h, "apiVersion")->valuestring, "autoscaling/v1");
    assert_int_equal(cJSON_GetObjectItem(spec, "targetCPUUtilizationPercentage")->valueint, 60);
    assert_null(cJSON_GetObjectItem(spec, "metrics"));
    assert_null(cJSON_GetObjectItem(spec, "behavior"));
    assert_int_equal(cJSON_GetObjectItem(status, "currentCPUUtilizationPercentage")->valueint, 40);
    cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(h, "metadata"), "annotations");
    const char *m =
        cJSON_GetObjectItem(ann, "autoscaling.alpha.kubernetes.io/metrics")->valuestring;
    assert_string_equal(
        m, "[{\"type\":\"Resource\",\"resource\":{\"name\":\"memory\",\"targetAverageValue\":"
           "\"100Mi\"}},{\"type\":\"Pods\",\"pods\":{\"metricName\":\"qps\",\"targetAverageValue\":"
           "\"10\"}},{\"type\":\"Object\",\"object\":{\"target\":{\"kind\":\"Service\",\"name\":"
           "\"s\"},\"metricName\":\"rps\",\"targetValue\":\"5\"}},{\"type\":\"External\","
           "\"external\":{\"metricName\":\"queue\",\"targetAverageValue\":\"30\"}}]");
    assert_non_null(cJSON_GetObjectItem(ann, "autoscaling.alpha.kubernetes.io/current-metrics"));
    assert_non_null(cJSON_GetObjectItem(ann, "autoscaling.alpha.kubernetes.io/conditions"));
    assert_non_null(cJSON_GetObjectItem(ann, "autoscaling.alpha.kubernetes.io/behavior"));
    cJSON_Delete(h);
}

static void test_hpa_round_trips_through_v1(void **state)
{
    (void)state;
    cJSON *h = parse(hpa_v2);
    apiserver_conv_hpa_to_v1(h);
    cJSON *v1 = cJSON_Duplicate(h, true);
    apiserver_conv_hpa_to_v2(h);
    /* upstream puts the annotated metrics first, then the cpu one: the same order as here */
    cJSON *orig = parse(hpa_v2);
    assert_json_equal(cJSON_GetObjectItem(orig, "spec"), cJSON_GetObjectItem(h, "spec"));
    cJSON *st = cJSON_GetObjectItem(h, "status");
    assert_json_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(orig, "status"), "conditions"),
                      cJSON_GetObjectItem(st, "conditions"));
    assert_json_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(orig, "status"), "currentMetrics"),
                      cJSON_GetObjectItem(st, "currentMetrics"));
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "metadata"), "annotations"));
    apiserver_conv_hpa_to_v1(h);
    assert_json_equal(v1, h);
    cJSON_Delete(orig);
    cJSON_Delete(v1);
    cJSON_Delete(h);
}

static void test_hpa_v1_defaults_and_target_types(void **state)
{
    (void)state;
    cJSON *h = parse("{\"apiVersion\":\"autoscaling/v1\",\"kind\":\"HorizontalPodAutoscaler\","
                     "\"metadata\":{\"name\":\"h\"},\"spec\":{\"maxReplicas\":3}}");
    apiserver_conv_hpa_to_v2(h);
    cJSON *want = parse("[{\"type\":\"Resource\",\"resource\":{\"name\":\"cpu\",\"target\":{"
                        "\"averageUtilization\":80,\"type\":\"Utilization\"}}}]");
    assert_json_equal(want, cJSON_GetObjectItem(cJSON_GetObjectItem(h, "spec"), "metrics"));
    cJSON_Delete(want);
    cJSON_Delete(h);
    /* annotation metrics: v2 target.type inferred as upstream */
    h = parse(
        "{\"apiVersion\":\"autoscaling/v1\",\"kind\":\"HorizontalPodAutoscaler\","
        "\"metadata\":{\"name\":\"h\",\"annotations\":{\"autoscaling.alpha.kubernetes.io/"
        "metrics\":\"[{\\\"type\\\":\\\"External\\\",\\\"external\\\":{\\\"metricName\\\":"
        "\\\"q\\\",\\\"targetValue\\\":\\\"3\\\"}},{\\\"type\\\":\\\"Object\\\",\\\"object\\\":"
        "{\\\"metricName\\\":\\\"o\\\",\\\"averageValue\\\":\\\"2\\\"}}]\"}},\"spec\":{"
        "\"maxReplicas\":3,\"targetCPUUtilizationPercentage\":10}}");
    apiserver_conv_hpa_to_v2(h);
    cJSON *metrics = cJSON_GetObjectItem(cJSON_GetObjectItem(h, "spec"), "metrics");
    assert_int_equal(cJSON_GetArraySize(metrics), 3);
    assert_string_equal(
        cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(metrics, 0), "external"),
                                "target"),
            "type")
            ->valuestring,
        "Value");
    assert_string_equal(
        cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(metrics, 1), "object"),
                                "target"),
            "type")
            ->valuestring,
        "AverageValue");
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "metadata"), "annotations"));
    cJSON_Delete(h);
    /* malformed annotations are dropped, never a crash */
    h = parse("{\"apiVersion\":\"autoscaling/v1\",\"metadata\":{\"annotations\":{"
              "\"autoscaling.alpha.kubernetes.io/metrics\":\"{not json\"}},\"spec\":7}");
    apiserver_conv_hpa_to_v2(h);
    apiserver_conv_hpa_to_v1(h);
    cJSON_Delete(h);
}

static void test_conv_kv_rewrites_stored_objects(void **state)
{
    (void)state;
    const apiserver_resource_t *r = apiserver_resource_find("events.k8s.io", "v1", "events");
    size_t len = strlen(core_event);
    store_kv_t *kv = malloc(sizeof(*kv) + 4 + len + 1);
    char *key = (char *)(kv + 1), *value = key + 4;
    memcpy(key, "/k/e", 4);
    memcpy(value, core_event, len + 1);
    *kv = (store_kv_t){.key = key, .key_len = 4, .value = value, .value_len = len, .mod_rev = 7};
    kv = apiserver_conv_kv(r, kv);
    assert_int_equal(kv->mod_rev, 7);
    assert_memory_equal(kv->key, "/k/e", 4);
    assert_non_null(strstr(kv->value, "\"apiVersion\":\"events.k8s.io/v1\""));
    assert_non_null(strstr(kv->value, "\"note\":\"m\""));
    free(kv);
}

static void test_hpa_v1_update_keeps_status_annotations(void **state)
{
    (void)state;
    const apiserver_resource_t *r =
        apiserver_resource_find("autoscaling", "v1", "horizontalpodautoscalers");
    cJSON *cur = parse(hpa_v2);
    apiserver_conv_hpa_to_v1(cur);
    cJSON *obj = parse("{\"apiVersion\":\"autoscaling/v1\",\"metadata\":{\"name\":\"h\","
                       "\"annotations\":{\"autoscaling.alpha.kubernetes.io/conditions\":\"[]\","
                       "\"team\":\"a\"}},\"spec\":{\"maxReplicas\":4}}");
    apiserver_conv_keep_status(r, obj, cur);
    cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "annotations");
    const cJSON *cann = cJSON_GetObjectItem(cJSON_GetObjectItem(cur, "metadata"), "annotations");
    assert_string_equal(cJSON_GetObjectItem(ann, "team")->valuestring, "a");
    assert_string_equal(
        cJSON_GetObjectItem(ann, "autoscaling.alpha.kubernetes.io/conditions")->valuestring,
        cJSON_GetObjectItem(cann, "autoscaling.alpha.kubernetes.io/conditions")->valuestring);
    assert_non_null(cJSON_GetObjectItem(ann, "autoscaling.alpha.kubernetes.io/current-metrics"));
    /* other resources are left alone */
    cJSON *before = cJSON_Duplicate(obj, true);
    apiserver_conv_keep_status(
        apiserver_resource_find("autoscaling", "v2", "horizontalpodautoscalers"), obj, cur);
    assert_json_equal(before, obj);
    cJSON_Delete(before);
    cJSON_Delete(obj);
    cJSON_Delete(cur);
}

/* ---- quota arithmetic ------------------------------------------------------------------------ */

static void test_quantity_format(void **state)
{
    (void)state;
    char b[64];
    struct {
        int64_t milli;
        bool binary;
        const char *want;
    } cases[] = {
        {0, false, "0"},
        {100, false, "100m"},
        {1500, false, "1500m"},
        {2000, false, "2"},
        {1000000, false, "1k"},
        {1073741824000LL, true, "1Gi"},
        {268435456000LL, true, "256Mi"},
        {1536000, true, "1536"},
        {5000000000LL, false, "5M"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        apiserver_quota_format(cases[i].milli, cases[i].binary, b, sizeof(b));
        assert_string_equal(b, cases[i].want);
    }
    apiserver_quota_list_t l = {0};
    cJSON *res = parse("{\"cpu\":\"250m\",\"memory\":\"1Gi\",\"bad\":\"x\",\"n\":2}");
    apiserver_quota_list_parse(res, &l);
    cJSON_Delete(res);
    assert_int_equal(l.n, 3);
    assert_int_equal(apiserver_quota_list_get(&l, "cpu", NULL), 250);
    assert_int_equal(apiserver_quota_list_get(&l, "memory", NULL), 1073741824000LL);
    apiserver_quota_list_add(&l, "cpu", 750);
    assert_int_equal(apiserver_quota_list_get(&l, "cpu", NULL), 1000);
    apiserver_quota_list_add(&l, "cpu", INT64_MAX); /* saturates */
    assert_int_equal(apiserver_quota_list_get(&l, "cpu", NULL), INT64_MAX);
}

static void test_pod_usage(void **state)
{
    (void)state;
    const apiserver_resource_t *pods = apiserver_resource_find("", "v1", "pods");
    cJSON *pod = parse(
        "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":["
        "{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"},"
        "\"limits\":{\"cpu\":\"200m\"}}},"
        "{\"name\":\"b\",\"resources\":{\"requests\":{\"cpu\":\"300m\"}}}],"
        "\"initContainers\":[{\"name\":\"i\",\"resources\":{\"requests\":{\"cpu\":\"1\"}}}]}}");
    apiserver_quota_list_t u = {0};
    apiserver_quota_usage(pods, pod, &u);
    assert_int_equal(apiserver_quota_list_get(&u, "pods", NULL), 1000);
    assert_int_equal(apiserver_quota_list_get(&u, "count/pods", NULL), 1000);
    assert_int_equal(apiserver_quota_list_get(&u, "requests.cpu", NULL), 1000); /* init max */
    assert_int_equal(apiserver_quota_list_get(&u, "cpu", NULL), 1000);
    assert_int_equal(apiserver_quota_list_get(&u, "limits.cpu", NULL), 200);
    assert_int_equal(apiserver_quota_list_get(&u, "requests.memory", NULL), 64LL * 1048576000);
    bool found = true;
    apiserver_quota_list_get(&u, "limits.memory", &found);
    assert_false(found);
    /* must specify: sorted resources, sorted containers */
    apiserver_quota_list_t hard = {0};
    apiserver_quota_list_add(&hard, "limits.memory", 1);
    apiserver_quota_list_add(&hard, "requests.cpu", 1);
    apiserver_quota_list_add(&hard, "limits.cpu", 1);
    char *why = apiserver_quota_pod_constraints(pod, &hard);
    assert_string_equal(why, "must specify limits.cpu for: b,i; limits.memory for: a,b,i");
    free(why);
    /* a finished pod counts only as an object */
    cJSON_AddItemToObject(pod, "status", parse("{\"phase\":\"Succeeded\"}"));
    memset(&u, 0, sizeof(u));
    apiserver_quota_usage(pods, pod, &u);
    assert_int_equal(u.n, 1);
    assert_string_equal(u.e[0].name, "count/pods");
    cJSON_Delete(pod);
}

static void test_other_usage_and_resource_names(void **state)
{
    (void)state;
    apiserver_quota_list_t u = {0};
    cJSON *svc =
        parse("{\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":1},{\"port\":2}]}}");
    apiserver_quota_usage(apiserver_resource_find("", "v1", "services"), svc, &u);
    assert_int_equal(apiserver_quota_list_get(&u, "services", NULL), 1000);
    assert_int_equal(apiserver_quota_list_get(&u, "services.loadbalancers", NULL), 1000);
    assert_int_equal(apiserver_quota_list_get(&u, "services.nodeports", NULL), 2000);
    cJSON_Delete(svc);
    memset(&u, 0, sizeof(u));
    cJSON *pvc = parse("{\"spec\":{\"storageClassName\":\"fast\",\"resources\":{\"requests\":{"
                       "\"storage\":\"1Gi\"}}}}");
    apiserver_quota_usage(apiserver_resource_find("", "v1", "persistentvolumeclaims"), pvc, &u);
    assert_int_equal(apiserver_quota_list_get(&u, "requests.storage", NULL), 1073741824000LL);
    assert_int_equal(apiserver_quota_list_get(
                         &u, "fast.storageclass.storage.k8s.io/persistentvolumeclaims", NULL),
                     1000);
    cJSON_Delete(pvc);
    memset(&u, 0, sizeof(u));
    cJSON *d = parse("{}");
    apiserver_quota_usage(apiserver_resource_find("apps", "v1", "deployments"), d, &u);
    assert_int_equal(u.n, 1);
    assert_string_equal(u.e[0].name, "count/deployments.apps");
    cJSON_Delete(d);
    char g[64], p[64];
    assert_true(apiserver_quota_resource_of("count/deployments.apps", g, sizeof(g), p, sizeof(p)));
    assert_string_equal(g, "apps");
    assert_string_equal(p, "deployments");
    assert_true(apiserver_quota_resource_of("limits.memory", g, sizeof(g), p, sizeof(p)));
    assert_string_equal(p, "pods");
    assert_true(apiserver_quota_resource_of("services.nodeports", g, sizeof(g), p, sizeof(p)));
    assert_string_equal(p, "services");
    assert_false(apiserver_quota_resource_of("count/", g, sizeof(g), p, sizeof(p)));
    assert_false(apiserver_quota_resource_of("nvidia.com/gpu", g, sizeof(g), p, sizeof(p)));
}

static void test_scopes(void **state)
{
    (void)state;
    const apiserver_resource_t *pods = apiserver_resource_find("", "v1", "pods");
    cJSON *be = parse("{\"spec\":{\"scopes\":[\"BestEffort\",\"NotTerminating\"]}}");
    cJSON *pc = parse("{\"spec\":{\"scopeSelector\":{\"matchExpressions\":[{\"scopeName\":"
                      "\"PriorityClass\",\"operator\":\"In\",\"values\":[\"high\"]}]}}}");
    cJSON *plain = parse("{\"spec\":{\"containers\":[{\"name\":\"c\"}]}}");
    cJSON *high = parse("{\"spec\":{\"priorityClassName\":\"high\",\"activeDeadlineSeconds\":5,"
                        "\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":{\"cpu\":"
                        "\"1\"}}}]}}");
    assert_true(apiserver_quota_matches(be, pods, plain));
    assert_false(apiserver_quota_matches(be, pods, high));
    assert_false(apiserver_quota_matches(pc, pods, plain));
    assert_true(apiserver_quota_matches(pc, pods, high));
    /* scoped quotas select pods only */
    assert_false(
        apiserver_quota_matches(be, apiserver_resource_find("", "v1", "configmaps"), plain));
    cJSON *none = parse("{\"spec\":{}}");
    assert_true(
        apiserver_quota_matches(none, apiserver_resource_find("", "v1", "configmaps"), plain));
    cJSON_Delete(none);
    cJSON_Delete(be);
    cJSON_Delete(pc);
    cJSON_Delete(plain);
    cJSON_Delete(high);
}

static void test_limitrange_defaults(void **state)
{
    (void)state;
    cJSON *lr =
        parse("{\"spec\":{\"limits\":[{\"type\":\"Container\",\"max\":{\"cpu\":\"1\"},"
              "\"min\":{\"memory\":\"8Mi\"}},{\"type\":\"Pod\",\"max\":{\"cpu\":\"2\"}}]}}");
    apiserver_limitrange_defaults(lr);
    cJSON *want = parse("{\"spec\":{\"limits\":[{\"type\":\"Container\",\"max\":{\"cpu\":\"1\"},"
                        "\"min\":{\"memory\":\"8Mi\"},\"default\":{\"cpu\":\"1\"},"
                        "\"defaultRequest\":{\"cpu\":\"1\",\"memory\":\"8Mi\"}},{\"type\":\"Pod\","
                        "\"max\":{\"cpu\":\"2\"}}]}}");
    assert_json_equal(want, lr);
    cJSON_Delete(want);
    cJSON_Delete(lr);
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_core_to_v1_maps_every_field),
        cmocka_unit_test(test_event_round_trips_both_ways),
        cmocka_unit_test(test_events_v1_create_rules),
        cmocka_unit_test(test_hpa_v2_to_v1_uses_upstream_annotations),
        cmocka_unit_test(test_hpa_round_trips_through_v1),
        cmocka_unit_test(test_hpa_v1_defaults_and_target_types),
        cmocka_unit_test(test_conv_kv_rewrites_stored_objects),
        cmocka_unit_test(test_hpa_v1_update_keeps_status_annotations),
        cmocka_unit_test(test_quantity_format),
        cmocka_unit_test(test_pod_usage),
        cmocka_unit_test(test_other_usage_and_resource_names),
        cmocka_unit_test(test_scopes),
        cmocka_unit_test(test_limitrange_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
