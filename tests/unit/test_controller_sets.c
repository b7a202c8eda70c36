/* test_controller_sets: what the StatefulSet and DaemonSet controllers decide without an API:
 * ordinals and pod identity, claims from volumeClaimTemplates, ControllerRevision data, hash,
 * order and pruning, and DaemonSet node eligibility (selectors, affinity, taints, tolerations). */
#include "unit.h"
#include "controller/controller.h"

#include <string.h>

static cJSON *json(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    if (!j)
        fail_msg("bad JSON: %s", text);
    return j;
}

static const char *at(const cJSON *o, const char *path)
{
    /* dotted path of object keys; a numeric segment indexes an array */
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    const cJSON *cur = o;
    for (char *save = NULL, *seg = strtok_r(buf, ".", &save); seg && cur;
         seg = strtok_r(NULL, ".", &save))
        cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, atoi(seg))
                                 : cJSON_GetObjectItemCaseSensitive(cur, seg);
    return cJSON_GetStringValue(cur);
}

/* ---- StatefulSet identity -------------------------------------------------------------------- */

static void ordinals_parse_like_upstream(void **state)
{
    (void)state;
    int64_t o = -1;
    assert_true(controller_sts_ordinal("web", "web-0", &o));
    assert_int_equal(o, 0);
    assert_true(controller_sts_ordinal("web", "web-12", &o));
    assert_int_equal(o, 12);
    assert_true(controller_sts_ordinal("my-web", "my-web-3", &o));
    assert_int_equal(o, 3);
    assert_false(controller_sts_ordinal("web", "web-", &o));
    assert_false(controller_sts_ordinal("web", "web-01", &o)); /* not a name web gives ordinal 1 */
    assert_false(controller_sts_ordinal("web", "web-x", &o));
    assert_false(controller_sts_ordinal("web", "web-1-2", &o));
    assert_false(controller_sts_ordinal("web", "webs-1", &o));
    assert_false(controller_sts_ordinal("web", "web1", &o));
    assert_false(controller_sts_ordinal("web", "web--1", &o));
    assert_false(controller_sts_ordinal("web", "web-99999999999", &o)); /* beyond int32 */
    assert_false(controller_sts_ordinal("web-1", "web-1", &o));
    assert_false(controller_sts_ordinal(NULL, "web-1", &o));
    char *c = controller_sts_claim_name("www", "web", 7);
    assert_string_equal(c, "www-web-7");
    free(c);
}

static const char *STS = "{\"metadata\":{\"name\":\"web\",\"namespace\":\"ns\",\"uid\":\"u1\","
                         "\"annotations\":{\"a\":\"b\"}},"
                         "\"spec\":{\"serviceName\":\"nginx\","
                         "\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
                         "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
                         "\"spec\":{\"hostname\":\"ignored\",\"containers\":[{\"name\":\"c\"}],"
                         "\"volumes\":[{\"name\":\"www\",\"emptyDir\":{}},"
                         "{\"name\":\"cfg\",\"emptyDir\":{}}]}},"
                         "\"volumeClaimTemplates\":[{\"metadata\":{\"name\":\"www\","
                         "\"labels\":{\"tier\":\"db\"}},\"spec\":{\"accessModes\":"
                         "[\"ReadWriteOnce\"]}}]}}";

static void pod_has_stable_identity(void **state)
{
    (void)state;
    cJSON *set = json(STS);
    const cJSON *tmpl = cJSON_GetObjectItem(cJSON_GetObjectItem(set, "spec"), "template");
    cJSON *pod = controller_sts_pod(set, tmpl, "web-abc", 2);
    assert_string_equal(at(pod, "metadata.name"), "web-2");
    assert_string_equal(at(pod, "metadata.namespace"), "ns");
    assert_string_equal(at(pod, "metadata.labels.app"), "web");
    const cJSON *labels = cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "labels");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(labels, CONTROLLER_STS_POD_NAME_LABEL)), "web-2");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(labels, CONTROLLER_STS_POD_INDEX_LABEL)), "2");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(labels, CONTROLLER_REVISION_HASH_LABEL)),
        "web-abc");
    assert_string_equal(at(pod, "spec.hostname"), "web-2");
    assert_string_equal(at(pod, "spec.subdomain"), "nginx");
    assert_string_equal(at(pod, "metadata.ownerReferences.0.kind"), "StatefulSet");
    assert_string_equal(at(pod, "metadata.ownerReferences.0.uid"), "u1");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(
        cJSON_GetArrayItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "ownerReferences"), 0),
        "controller")));
    /* the claim replaces the template volume of its name; others stay */
    const cJSON *vols = cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "spec"), "volumes");
    assert_int_equal(cJSON_GetArraySize(vols), 2);
    assert_string_equal(at(pod, "spec.volumes.0.name"), "cfg");
    assert_string_equal(at(pod, "spec.volumes.1.name"), "www");
    assert_string_equal(at(pod, "spec.volumes.1.persistentVolumeClaim.claimName"), "www-web-2");
    /* the template is not changed */
    assert_string_equal(at(tmpl, "spec.hostname"), "ignored");
    cJSON_Delete(pod);

    cJSON *pvc = controller_sts_claim(
        set,
        cJSON_GetArrayItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(set, "spec"), "volumeClaimTemplates"), 0),
        2);
    assert_string_equal(at(pvc, "metadata.name"), "www-web-2");
    assert_string_equal(at(pvc, "metadata.namespace"), "ns");
    assert_string_equal(at(pvc, "metadata.labels.app"), "web");
    assert_string_equal(at(pvc, "metadata.labels.tier"), "db");
    assert_string_equal(at(pvc, "spec.accessModes.0"), "ReadWriteOnce");
    cJSON_Delete(pvc);

    /* no serviceName: no subdomain; no claims: the volumes are the template's */
    cJSON *plain = json("{\"metadata\":{\"name\":\"p\",\"uid\":\"u\"},\"spec\":{\"template\":"
                        "{\"spec\":{\"subdomain\":\"x\"}}}}");
    pod = controller_sts_pod(
        plain, cJSON_GetObjectItem(cJSON_GetObjectItem(plain, "spec"), "template"), NULL, 0);
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "spec"), "subdomain"));
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "spec"), "volumes"));
    assert_string_equal(at(pod, "metadata.name"), "p-0");
    cJSON_Delete(pod);
    cJSON_Delete(plain);
    cJSON_Delete(set);
}

/* ---- revisions ------------------------------------------------------------------------------- */

static void revision_data_and_hash(void **state)
{
    (void)state;
    cJSON *set = json(STS);
    cJSON *data = controller_revision_data(set);
    assert_string_equal(at(data, "spec.template.$patch"), "replace");
    assert_string_equal(at(data, "spec.template.metadata.labels.app"), "web");
    assert_null(cJSON_GetObjectItem(data, "metadata"));
    /* the same template in another key order: equal data, equal hash */
    cJSON *other = json("{\"spec\":{\"template\":{\"spec\":{\"volumes\":[{\"emptyDir\":{},"
                        "\"name\":\"www\"},{\"name\":\"cfg\",\"emptyDir\":{}}],"
                        "\"containers\":[{\"name\":\"c\"}],\"hostname\":\"ignored\"},"
                        "\"metadata\":{\"labels\":{\"app\":\"web\"}}}}}");
    cJSON *odata = controller_revision_data(other);
    assert_true(controller_revision_data_equal(data, odata));
    char h1[16], h2[16], h3[16];
    controller_revision_hash(data, 0, h1);
    controller_revision_hash(odata, 0, h2);
    assert_string_equal(h1, h2);
    controller_revision_hash(data, 1, h3);
    assert_string_not_equal(h1, h3); /* the collision count changes it */
    for (const char *c = h1; *c; c++)
        assert_non_null(strchr("bcdfghjklmnpqrstvwxz2456789", *c));
    cJSON_ReplaceItemInObject(
        cJSON_GetArrayItem(
            cJSON_GetObjectItem(
                cJSON_GetObjectItem(
                    cJSON_GetObjectItem(cJSON_GetObjectItem(odata, "spec"), "template"), "spec"),
                "containers"),
            0),
        "name", cJSON_CreateString("d"));
    assert_false(controller_revision_data_equal(data, odata));
    assert_false(controller_revision_data_equal(data, NULL));

    cJSON *cr = controller_revision_new(set, "StatefulSet", "apps/v1", h1, data, 4);
    char name[32];
    snprintf(name, sizeof(name), "web-%s", h1);
    assert_string_equal(at(cr, "metadata.name"), name);
    assert_string_equal(at(cr, "metadata.namespace"), "ns");
    assert_string_equal(at(cr, "kind"), "ControllerRevision");
    assert_string_equal(at(cr, "metadata.labels.app"), "web");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
                            cJSON_GetObjectItem(cJSON_GetObjectItem(cr, "metadata"), "labels"),
                            CONTROLLER_REVISION_HASH_LABEL)),
                        h1);
    assert_string_equal(at(cr, "metadata.annotations.a"), "b");
    assert_string_equal(at(cr, "metadata.ownerReferences.0.kind"), "StatefulSet");
    assert_int_equal(controller_revision_number(cr), 4);
    assert_true(controller_revision_data_equal(cJSON_GetObjectItem(cr, "data"), data));
    cJSON *tmpl = controller_revision_template(cr);
    assert_null(cJSON_GetObjectItem(tmpl, "$patch"));
    assert_string_equal(at(tmpl, "spec.containers.0.name"), "c");
    cJSON_Delete(tmpl);
    assert_null(controller_revision_template(set)); /* no data */
    cJSON_Delete(cr);
    cJSON_Delete(data);
    cJSON_Delete(odata);
    cJSON_Delete(other);
    cJSON_Delete(set);
}

static cJSON *rev(const char *name, int n, const char *created)
{
    char buf[256];
    snprintf(buf, sizeof(buf),
             "{\"metadata\":{\"name\":\"%s\",\"creationTimestamp\":\"%s\"},\"revision\":%d}", name,
             created, n);
    return json(buf);
}

static void history_sorts_and_prunes(void **state)
{
    (void)state;
    cJSON *r[5] = {
        rev("e", 5, "2026-01-01T00:00:05Z"), rev("a", 1, "2026-01-01T00:00:01Z"),
        rev("c", 3, "2026-01-01T00:00:03Z"), rev("b", 3, "2026-01-01T00:00:02Z"),
        rev("d", 4, "2026-01-01T00:00:04Z"),
    };
    const cJSON *revs[5];
    for (int i = 0; i < 5; i++)
        revs[i] = r[i];
    controller_revisions_sort(revs, 5);
    const char *want[] = {"a", "b", "c", "d", "e"}; /* ties by creation time */
    for (int i = 0; i < 5; i++)
        assert_string_equal(at(revs[i], "metadata.name"), want[i]);
    assert_int_equal(controller_revisions_next(revs, 5), 6);
    assert_int_equal(controller_revisions_next(revs, 0), 1);

    size_t idx[5];
    /* live: e (current), b (a pod runs it); dead a, c, d; limit 1 keeps d */
    const char *live[] = {"e", "b", NULL};
    size_t n = controller_revisions_prune(revs, 5, live, 3, 1, idx);
    assert_int_equal(n, 2);
    assert_string_equal(at(revs[idx[0]], "metadata.name"), "a");
    assert_string_equal(at(revs[idx[1]], "metadata.name"), "c");
    assert_int_equal(controller_revisions_prune(revs, 5, live, 3, 3, idx), 0);
    n = controller_revisions_prune(revs, 5, live, 3, 0, idx);
    assert_int_equal(n, 3);
    n = controller_revisions_prune(revs, 5, NULL, 0, -1, idx); /* negative: as 0 */
    assert_int_equal(n, 5);
    for (int i = 0; i < 5; i++)
        cJSON_Delete(r[i]);
}

static void expectations_raise(void **state)
{
    (void)state;
    controller_expect_t *e = controller_expect_new();
    controller_expect_raise(e, "ns/web", 1, NULL, 0);
    controller_expect_raise(e, "ns/web", 1, NULL, 0);
    controller_expect_raise(e, "ns/web", 0, "u1", 0);
    controller_expect_creation_observed(e, "ns/web");
    assert_false(controller_expect_satisfied(e, "ns/web", 1));
    controller_expect_creation_observed(e, "ns/web");
    assert_false(controller_expect_satisfied(e, "ns/web", 1)); /* u1 still expected */
    controller_expect_deletion_observed(e, "ns/web", "u1");
    assert_true(controller_expect_satisfied(e, "ns/web", 1));
    controller_expect_raise(e, "ns/web", 1, NULL, 10);
    assert_false(controller_expect_satisfied(e, "ns/web", 11));
    assert_true(controller_expect_satisfied(e, "ns/web", 10 + CONTROLLER_EXPECT_TTL_MS + 1));
    controller_expect_free(e);
}

/* ---- DaemonSet nodes ------------------------------------------------------------------------- */

static void fit(const char *node, const char *spec, bool run, bool cont)
{
    cJSON *n = json(node), *s = json(spec);
    controller_ds_add_tolerations(s);
    controller_ds_fit_t f;
    controller_ds_node_fit(n, s, &f);
    if (f.should_run != run || f.should_continue != cont)
        fail_msg("node %s spec %s: run %d continue %d, want %d %d", node, spec, f.should_run,
                 f.should_continue, run, cont);
    cJSON_Delete(n);
    cJSON_Delete(s);
}

static void daemon_node_eligibility(void **state)
{
    (void)state;
    const char *plain =
        "{\"metadata\":{\"name\":\"n1\",\"labels\":{\"disk\":\"ssd\",\"n\":\"5\"}}}";
    fit(plain, "{}", true, true);
    fit(plain, "{\"nodeName\":\"n1\"}", true, true);
    fit(plain, "{\"nodeName\":\"n2\"}", false, false);
    fit(plain, "{\"nodeSelector\":{\"disk\":\"ssd\"}}", true, true);
    fit(plain, "{\"nodeSelector\":{\"disk\":\"hdd\"}}", false, false);
    fit(plain, "{\"nodeSelector\":{\"gpu\":\"yes\"}}", false, false);
#define REQ(terms)                                                                          \
    "{\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":{" \
    "\"nodeSelectorTerms\":" terms "}}}}"
    fit(plain,
        REQ("[{\"matchExpressions\":[{\"key\":\"disk\",\"operator\":\"In\",\"values\":[\"ssd\"]}]}"
            "]"),
        true, true);
    fit(plain,
        REQ("[{\"matchExpressions\":[{\"key\":\"disk\",\"operator\":\"NotIn\",\"values\":[\"ssd\"]}"
            "]}]"),
        false, false);
    fit(plain, REQ("[{\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":\"DoesNotExist\"}]}]"),
        true, true);
    fit(plain,
        REQ("[{\"matchExpressions\":[{\"key\":\"n\",\"operator\":\"Gt\",\"values\":[\"4\"]}]}]"),
        true, true);
    fit(plain,
        REQ("[{\"matchExpressions\":[{\"key\":\"n\",\"operator\":\"Lt\",\"values\":[\"4\"]}]}]"),
        false, false);
    /* terms are ORed, requirements within a term ANDed; an empty term matches nothing */
    fit(plain,
        REQ("[{\"matchExpressions\":[{\"key\":\"gpu\",\"operator\":\"Exists\"}]},"
            "{\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"n1\"]}]"
            "}]"),
        true, true);
    fit(plain,
        REQ("[{\"matchExpressions\":[{\"key\":\"disk\",\"operator\":\"Exists\"}],"
            "\"matchFields\":[{\"key\":\"metadata.name\",\"operator\":\"In\",\"values\":[\"n9\"]}]}"
            "]"),
        false, false);
    fit(plain, REQ("[{}]"), false, false);
    fit(plain, REQ("[]"), false, false);

    /* taints: NoSchedule keeps what runs, NoExecute evicts, PreferNoSchedule is ignored */
    const char *nosched = "{\"metadata\":{\"name\":\"t\"},\"spec\":{\"taints\":[{\"key\":"
                          "\"dedicated\",\"value\":\"db\",\"effect\":\"NoSchedule\"}]}}";
    const char *noexec = "{\"metadata\":{\"name\":\"t\"},\"spec\":{\"taints\":[{\"key\":"
                         "\"dedicated\",\"value\":\"db\",\"effect\":\"NoExecute\"}]}}";
    const char *prefer = "{\"metadata\":{\"name\":\"t\"},\"spec\":{\"taints\":[{\"key\":"
                         "\"x\",\"effect\":\"PreferNoSchedule\"}]}}";
    fit(nosched, "{}", false, true);
    fit(noexec, "{}", false, false);
    fit(prefer, "{}", true, true);
    fit(nosched,
        "{\"tolerations\":[{\"key\":\"dedicated\",\"operator\":\"Equal\",\"value\":\"db\","
        "\"effect\":\"NoSchedule\"}]}",
        true, true);
    fit(nosched, "{\"tolerations\":[{\"key\":\"dedicated\",\"value\":\"web\"}]}", false, true);
    fit(noexec, "{\"tolerations\":[{\"key\":\"dedicated\",\"operator\":\"Exists\"}]}", true, true);
    fit(noexec, "{\"tolerations\":[{\"operator\":\"Exists\"}]}", true, true);
    fit(noexec,
        "{\"tolerations\":[{\"key\":\"dedicated\",\"effect\":\"NoSchedule\","
        "\"operator\":\"Exists\"}]}",
        false, false);
    /* the default tolerations: node conditions do not keep daemon pods away */
    fit("{\"metadata\":{\"name\":\"t\"},\"spec\":{\"taints\":["
        "{\"key\":\"node.kubernetes.io/not-ready\",\"effect\":\"NoExecute\"},"
        "{\"key\":\"node.kubernetes.io/unreachable\",\"effect\":\"NoExecute\"},"
        "{\"key\":\"node.kubernetes.io/disk-pressure\",\"effect\":\"NoSchedule\"},"
        "{\"key\":\"node.kubernetes.io/memory-pressure\",\"effect\":\"NoSchedule\"},"
        "{\"key\":\"node.kubernetes.io/pid-pressure\",\"effect\":\"NoSchedule\"},"
        "{\"key\":\"node.kubernetes.io/unschedulable\",\"effect\":\"NoSchedule\"}]}}",
        "{}", true, true);
    const char *netunavail = "{\"metadata\":{\"name\":\"t\"},\"spec\":{\"taints\":[{\"key\":"
                             "\"node.kubernetes.io/network-unavailable\",\"effect\":"
                             "\"NoSchedule\"}]}}";
    fit(netunavail, "{}", false, true);
    fit(netunavail, "{\"hostNetwork\":true}", true, true);
}

static void daemon_tolerations_and_pinning(void **state)
{
    (void)state;
    cJSON *s =
        json("{\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\","
             "\"operator\":\"Exists\",\"effect\":\"NoExecute\"}],"
             "\"affinity\":{\"nodeAffinity\":{\"requiredDuringSchedulingIgnoredDuringExecution\":"
             "{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"a\",\"operator\":"
             "\"Exists\"}]}]}}}}");
    controller_ds_add_tolerations(s);
    controller_ds_add_tolerations(s); /* idempotent */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "tolerations")), 6);
    controller_ds_pin(s, "n7");
    cJSON *pod = cJSON_CreateObject();
    cJSON_AddItemToObject(pod, "spec", s);
    assert_string_equal(controller_ds_target_node(pod), "n7");
    assert_string_equal(at(s,
                           "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
                           "nodeSelectorTerms.0.matchFields.0.key"),
                        "metadata.name");
    const cJSON *req =
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(s, "affinity"), "nodeAffinity"),
                            "requiredDuringSchedulingIgnoredDuringExecution");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(req, "nodeSelectorTerms")),
                     1); /* the template's terms are replaced */
    assert_null(at(s, "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
                      "nodeSelectorTerms.0.matchExpressions.0.key"));
    cJSON_AddStringToObject(s, "nodeName", "n8"); /* bound: the binding wins */
    assert_string_equal(controller_ds_target_node(pod), "n8");
    cJSON_Delete(pod);
    cJSON *none = json("{\"spec\":{}}");
    assert_null(controller_ds_target_node(none));
    cJSON_Delete(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ordinals_parse_like_upstream),
        cmocka_unit_test(pod_has_stable_identity),
        cmocka_unit_test(revision_data_and_hash),
        cmocka_unit_test(history_sorts_and_prunes),
        cmocka_unit_test(expectations_raise),
        cmocka_unit_test(daemon_node_eligibility),
        cmocka_unit_test(daemon_tolerations_and_pinning),
    };
    unit_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
