/* test_controller_podcache: the controller manager's pod cache transform: what it keeps of a
 * full pod, that every controller's reading of a pod gives the same answer on the trimmed copy
 * as on the full one, and the shared strings (freed, duplicated and compared like heap ones). */
#include "unit.h"
#include "controller/controller.h"

#include <string.h>

/* A bound, running pod as the apiserver stores it (defaults, managedFields, statuses). */
static const char FULL[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-1\",\"generateName\":"
    "\"web-\",\"namespace\":\"default\",\"uid\":\"u-1\",\"resourceVersion\":\"42\","
    "\"creationTimestamp\":\"2026-11-28T10:00:00Z\",\"labels\":{\"app\":\"web\","
    "\"pod-template-hash\":\"abc\"},\"annotations\":{\"kubectl.kubernetes.io/"
    "last-applied-configuration\":\"{}\",\"batch.kubernetes.io/job-completion-index\":\"3\","
    "\"note\":\"x\"},\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
    "\"name\":\"web\",\"uid\":\"rs-1\",\"controller\":true,\"blockOwnerDeletion\":true}],"
    "\"finalizers\":[\"batch.kubernetes.io/job-tracking\"],\"managedFields\":[{\"manager\":"
    "\"kubectl\",\"fieldsV1\":{\"f:spec\":{}}}]},\"spec\":{\"nodeName\":\"n1\","
    "\"restartPolicy\":\"Always\",\"dnsPolicy\":\"ClusterFirst\",\"schedulerName\":"
    "\"default-scheduler\",\"serviceAccountName\":\"default\",\"hostname\":\"web-1\","
    "\"subdomain\":\"web\",\"volumes\":[{\"name\":\"v\",\"emptyDir\":{}}],\"affinity\":{"
    "\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":"
    "[{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"n1\"]}]}]}},"
    "\"podAntiAffinity\":{}},\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\","
    "\"operator\":\"Exists\",\"effect\":\"NoExecute\",\"tolerationSeconds\":300}],"
    "\"initContainers\":[{\"name\":\"side\",\"image\":\"i\",\"restartPolicy\":\"Always\","
    "\"ports\":[{\"name\":\"side\",\"containerPort\":9000,\"protocol\":\"TCP\"}]},{\"name\":"
    "\"init\",\"image\":\"i\",\"command\":[\"true\"]}],\"containers\":[{\"name\":\"app\",\"image\":"
    "\"registry/app:1\",\"command\":[\"/app\"],\"args\":[\"-v\"],\"env\":[{\"name\":\"A\","
    "\"value\":\"b\"}],\"ports\":[{\"name\":\"http\",\"containerPort\":8080,\"protocol\":\"TCP\"}],"
    "\"resources\":{\"requests\":{\"cpu\":\"100m\"},\"limits\":{\"cpu\":\"1\"}},"
    "\"readinessProbe\":{\"httpGet\":{\"path\":\"/\",\"port\":8080}},\"volumeMounts\":[{\"name\":"
    "\"v\",\"mountPath\":\"/v\"}],\"terminationMessagePath\":\"/dev/termination-log\"}]},"
    "\"status\":{\"phase\":\"Running\",\"qosClass\":\"Burstable\",\"hostIP\":\"10.0.0.1\","
    "\"podIP\":\"10.42.0.5\",\"podIPs\":[{\"ip\":\"10.42.0.5\"}],\"startTime\":"
    "\"2026-11-28T10:00:01Z\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
    "\"lastProbeTime\":null,\"lastTransitionTime\":\"2026-11-28T10:00:05Z\"},{\"type\":"
    "\"DisruptionTarget\",\"status\":\"True\",\"reason\":\"EvictionByEvictionAPI\"}],"
    "\"initContainerStatuses\":[{\"name\":\"init\",\"image\":\"i\",\"imageID\":\"sha\","
    "\"ready\":false,\"restartCount\":0,\"state\":{\"terminated\":{\"exitCode\":0,\"reason\":"
    "\"Completed\",\"startedAt\":\"2026-11-28T10:00:01Z\",\"finishedAt\":"
    "\"2026-11-28T10:00:02Z\",\"containerID\":\"c\"}}}],\"containerStatuses\":[{\"name\":\"app\","
    "\"image\":\"registry/app:1\",\"imageID\":\"sha\",\"containerID\":\"c2\",\"ready\":true,"
    "\"started\":true,\"restartCount\":2,\"lastState\":{\"terminated\":{\"exitCode\":3}},"
    "\"state\":{\"terminated\":{\"exitCode\":42,\"reason\":\"Error\",\"startedAt\":"
    "\"2026-11-28T10:00:03Z\",\"finishedAt\":\"2026-11-28T10:00:09Z\"}}}]}}";

static const char TRIMMED[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-1\",\"generateName\":"
    "\"web-\",\"namespace\":\"default\",\"uid\":\"u-1\",\"resourceVersion\":\"42\","
    "\"creationTimestamp\":\"2026-11-28T10:00:00Z\",\"labels\":{\"app\":\"web\","
    "\"pod-template-hash\":\"abc\"},\"annotations\":{"
    "\"batch.kubernetes.io/job-completion-index\":\"3\"},\"ownerReferences\":[{\"apiVersion\":"
    "\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"web\",\"uid\":\"rs-1\",\"controller\":true,"
    "\"blockOwnerDeletion\":true}],\"finalizers\":[\"batch.kubernetes.io/job-tracking\"]},"
    "\"spec\":{\"nodeName\":\"n1\",\"hostname\":\"web-1\",\"subdomain\":\"web\",\"affinity\":{"
    "\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{\"nodeSelectorTerms\":"
    "[{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"n1\"]}]}]}}},"
    "\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\","
    "\"effect\":\"NoExecute\",\"tolerationSeconds\":300}],\"initContainers\":[{\"name\":\"side\","
    "\"restartPolicy\":\"Always\",\"ports\":[{\"name\":\"side\",\"containerPort\":9000,"
    "\"protocol\":\"TCP\"}]},{\"name\":\"init\"}],\"containers\":[{\"name\":\"app\",\"ports\":[{"
    "\"name\":\"http\",\"containerPort\":8080,\"protocol\":\"TCP\"}],\"resources\":{\"requests\":{"
    "\"cpu\":\"100m\"}}}]},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.42.0.5\","
    "\"startTime\":\"2026-11-28T10:00:01Z\",\"conditions\":[{\"type\":\"Ready\",\"status\":"
    "\"True\",\"lastProbeTime\":null,\"lastTransitionTime\":\"2026-11-28T10:00:05Z\"},{\"type\":"
    "\"DisruptionTarget\",\"status\":\"True\",\"reason\":\"EvictionByEvictionAPI\"}],"
    "\"initContainerStatuses\":[{\"name\":\"init\",\"restartCount\":0,\"state\":{\"terminated\":{"
    "\"exitCode\":0,\"finishedAt\":\"2026-11-28T10:00:02Z\"}}}],\"containerStatuses\":[{\"name\":"
    "\"app\",\"restartCount\":2,\"state\":{\"terminated\":{\"exitCode\":42,\"finishedAt\":"
    "\"2026-11-28T10:00:09Z\"}}}]}}";

static cJSON *parse(const char *s)
{
    cJSON *o = cJSON_Parse(s);
    assert_non_null(o);
    return o;
}

static cJSON *trimmed(const char *s)
{
    cJSON *o = parse(s);
    controller_pod_cache_trim(NULL, o);
    return o;
}

static void test_keeps_what_is_read(void **state)
{
    (void)state;
    cJSON *got = trimmed(FULL), *want = parse(TRIMMED);
    if (!cJSON_Compare(got, want, true)) {
        char *text = cJSON_Print(got);
        fail_msg("trimmed pod differs:\n%s", text);
    }
    cJSON_Delete(got);
    cJSON_Delete(want);
}

/* Every reader of cached pods in the controllers, on the full and on the trimmed pod. */
static void test_same_answers(void **state)
{
    (void)state;
    cJSON *full = parse(FULL), *trim = trimmed(FULL);
    cJSON *svc_ports = parse("[{\"port\":80,\"targetPort\":\"http\"},{\"port\":90,\"targetPort\":"
                             "\"side\"},{\"port\":70,\"targetPort\":7000}]");
    cJSON *taints = parse("[{\"key\":\"node.kubernetes.io/not-ready\",\"effect\":\"NoExecute\"}]");
    cJSON *pfp = parse("{\"rules\":[{\"action\":\"FailJob\",\"onExitCodes\":{\"containerName\":"
                       "\"app\",\"operator\":\"In\",\"values\":[42]}}]}");
    cJSON *pfp_cond = parse("{\"rules\":[{\"action\":\"Ignore\",\"onPodConditions\":[{\"type\":"
                            "\"DisruptionTarget\"}]}]}");
    const int64_t now = 1795860000; /* 2026-11-28T10:00:00Z */
    assert_true(controller_pod_ready(trim));
    assert_int_equal(controller_pod_ready(full), controller_pod_ready(trim));
    assert_int_equal(controller_pod_active(full), controller_pod_active(trim));
    for (int64_t s = 0; s < 30; s += 7)
        assert_int_equal(controller_pod_available(full, s, now + 10),
                         controller_pod_available(trim, s, now + 10));
    assert_int_equal(controller_pod_compare(full, trim), 0);
    assert_string_equal(controller_pod_ip(trim), controller_pod_ip(full));
    assert_int_equal(controller_pod_in_endpoints(full, false),
                     controller_pod_in_endpoints(trim, false));
    const cJSON *sp;
    cJSON_ArrayForEach(sp, svc_ports)
    {
        assert_int_equal(controller_find_port(full, sp), controller_find_port(trim, sp));
    }
    assert_int_equal(controller_find_port(trim, cJSON_GetArrayItem(svc_ports, 1)), 9000);
    assert_int_equal(controller_eviction_delay(full, taints), 300);
    assert_int_equal(controller_eviction_delay(trim, taints), 300);
    assert_string_equal(controller_ds_target_node(trim), "n1");
    char m1[256], m2[256];
    assert_int_equal(controller_job_pfp_match(pfp, full, m1, sizeof(m1)),
                     controller_job_pfp_match(pfp, trim, m2, sizeof(m2)));
    assert_string_equal(m1, m2);
    assert_int_equal(controller_job_pfp_match(pfp, trim, m2, sizeof(m2)), CONTROLLER_PFP_FAIL_JOB);
    assert_int_equal(controller_job_pfp_match(pfp_cond, full, m1, sizeof(m1)),
                     controller_job_pfp_match(pfp_cond, trim, m2, sizeof(m2)));
    for (int cpu = 0; cpu < 2; cpu++)
        assert_int_equal(controller_hpa_group_pod(full, cpu, true, now + 100, 30, now + 400),
                         controller_hpa_group_pod(trim, cpu, true, now + 100, 30, now + 400));
    cJSON_Delete(full);
    cJSON_Delete(trim);
    cJSON_Delete(svc_ports);
    cJSON_Delete(taints);
    cJSON_Delete(pfp);
    cJSON_Delete(pfp_cond);
}

/* A pending pod's tolerations go (only pods on a node are evicted by taints); they are kept
 * once the update that binds it comes. */
static void test_pending_pod(void **state)
{
    (void)state;
    static const char pending[] =
        "{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\",\"resourceVersion\":\"1\"},"
        "\"spec\":{\"tolerations\":[{\"operator\":\"Exists\"}],\"containers\":[{\"name\":\"c\","
        "\"image\":\"i\"}]},\"status\":{\"phase\":\"Pending\",\"qosClass\":\"BestEffort\"}}";
    cJSON *p = trimmed(pending);
    cJSON *want = parse("{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\","
                        "\"resourceVersion\":\"1\"},\"spec\":{\"containers\":[{\"name\":\"c\"}]},"
                        "\"status\":{\"phase\":\"Pending\"}}");
    assert_true(cJSON_Compare(p, want, true));
    cJSON_Delete(p);
    cJSON_Delete(want);
    controller_pod_cache_trim(NULL, NULL); /* not an object: nothing */
    cJSON *arr = cJSON_CreateArray();
    controller_pod_cache_trim(NULL, arr);
    assert_int_equal(cJSON_GetArraySize(arr), 0);
    cJSON_Delete(arr);
}

static void test_shared_strings(void **state)
{
    (void)state;
    assert_true(controller_interned_sorted());
    assert_non_null(controller_interned("metadata"));
    assert_ptr_equal(controller_interned("metadata"), controller_interned("metadata"));
    assert_null(controller_interned("metadatax"));
    assert_null(controller_interned(""));
    cJSON *p = trimmed(FULL);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(p, "metadata");
    assert_true(meta->type & cJSON_StringIsConst);
    assert_ptr_equal(meta->string, controller_interned("metadata"));
    const cJSON *phase =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "status"), "phase");
    assert_true(cJSON_IsString(phase));
    assert_ptr_equal(phase->valuestring, controller_interned("Running"));
    /* a copy owns its strings; printing, comparing and freeing both work as with heap strings */
    cJSON *copy = cJSON_Duplicate(p, true);
    assert_true(cJSON_Compare(p, copy, true));
    cJSON *item = cJSON_GetObjectItemCaseSensitive(copy, "status");
    assert_true(cJSON_SetValuestring(cJSON_GetObjectItemCaseSensitive(item, "phase"), "Failed") !=
                NULL);
    assert_string_equal(phase->valuestring, "Running");
    char *a = cJSON_PrintUnformatted(p);
    cJSON *back = parse(a);
    assert_true(cJSON_Compare(back, p, true));
    cJSON_free(a);
    cJSON_Delete(back);
    cJSON_Delete(copy);
    cJSON_Delete(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keeps_what_is_read),
        cmocka_unit_test(test_same_answers),
        cmocka_unit_test(test_pending_pod),
        cmocka_unit_test(test_shared_strings),
    };
    unit_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
