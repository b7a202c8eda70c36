/* test_controller_podindex: the controller manager's pod index (pods by controller UID, orphans
 * by namespace) follows adds, owner changes and deletions, visits exactly the pods a ReplicaSet
 * may own or adopt, and its facts give the same answers as reading the pod. */
#include "unit.h"
#include "controller/controller_internal.h"

#include <stdio.h>
#include <string.h>

static cJSON *pod(const char *ns, const char *name, const char *owner_uid, bool controller,
                  const char *phase, const char *ready, bool deleting)
{
    char buf[2048];
    char refs[256] = "";
    if (owner_uid)
        snprintf(refs, sizeof(refs),
                 ",\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
                 "\"name\":\"rs\",\"uid\":\"%s\",\"controller\":%s}]",
                 owner_uid, controller ? "true" : "false");
    snprintf(buf, sizeof(buf),
             "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\",\"uid\":\"u-%s\","
             "\"labels\":{\"app\":\"web\"}%s%s},\"status\":{\"phase\":\"%s\"%s%s%s}}",
             name, ns, name, refs,
             deleting ? ",\"deletionTimestamp\":\"2026-11-28T10:00:09Z\"" : "", phase,
             ready ? ",\"conditions\":[{\"type\":\"Ready\",\"status\":\"" : "", ready ? ready : "",
             ready ? "\",\"lastTransitionTime\":\"2026-11-28T10:00:05Z\"}]" : "");
    cJSON *o = cJSON_Parse(buf);
    assert_non_null(o);
    return o;
}

typedef struct seen {
    char names[16][64];
    size_t n;
} seen_t;

static void record(void *ud, const ctrl_pod_facts_t *f)
{
    seen_t *s = ud;
    assert_true(s->n < 16);
    snprintf(s->names[s->n++], 64, "%s",
             cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                 cJSON_GetObjectItemCaseSensitive(f->pod, "metadata"), "name")));
}

static bool has(const seen_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->names[i], name))
            return true;
    return false;
}

static seen_t visit(const ctrl_podidx_t *x, const char *ns, const char *uid)
{
    seen_t s = {0};
    ctrl_podidx_foreach(x, NULL, ns, uid, record, &s);
    return s;
}

static void test_groups(void **state)
{
    (void)state;
    ctrl_podidx_t *x = ctrl_podidx_new();
    cJSON *a = pod("default", "a", "rs-1", true, "Running", "True", false);
    cJSON *b = pod("default", "b", "rs-1", true, "Pending", NULL, false);
    cJSON *c = pod("default", "c", "rs-2", true, "Running", "True", false);
    cJSON *o = pod("default", "o", NULL, false, "Running", NULL, false);
    cJSON *n = pod("default", "n", "rs-1", false, "Running", NULL, false); /* not a controller */
    cJSON *other = pod("other", "p", NULL, false, "Running", NULL, false);
    cJSON *all[] = {a, b, c, o, n, other};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        ctrl_podidx_update(x, all[i], false);
    ctrl_podidx_update(x, a, false); /* again: no duplicate */

    seen_t s = visit(x, "default", "rs-1");
    assert_int_equal(s.n, 4); /* a, b and the orphans o and n of default */
    assert_true(has(&s, "a") && has(&s, "b") && has(&s, "o") && has(&s, "n"));
    s = visit(x, "other", "rs-2");
    assert_int_equal(s.n, 2); /* c (a UID is cluster-wide: the caller checks the namespace), p */
    assert_true(has(&s, "c") && has(&s, "p"));

    /* b is adopted by rs-2, o is released to nobody: they move */
    cJSON *b2 = pod("default", "b", "rs-2", true, "Running", "True", false);
    ctrl_podidx_update(x, b2, false);
    s = visit(x, "default", "rs-1");
    assert_int_equal(s.n, 3);
    assert_false(has(&s, "b"));
    s = visit(x, "default", "rs-2");
    assert_true(has(&s, "b") && has(&s, "c"));

    /* deletions: a pod leaves its group; the last one takes the group with it */
    ctrl_podidx_update(x, a, true);
    ctrl_podidx_update(x, o, true);
    ctrl_podidx_update(x, n, true);
    s = visit(x, "default", "rs-1");
    assert_int_equal(s.n, 0);
    ctrl_podidx_update(x, a, true); /* unknown: ignored */
    ctrl_podidx_free(x);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        cJSON_Delete(all[i]);
    cJSON_Delete(b2);
}

static void test_facts(void **state)
{
    (void)state;
    cJSON *pods[] = {pod("default", "a", "rs-1", true, "Running", "True", false),
                     pod("default", "b", "rs-1", true, "Running", "False", false),
                     pod("default", "c", "rs-1", true, "Failed", NULL, false),
                     pod("default", "d", "rs-1", true, "Running", "True", true),
                     pod("default", "e", NULL, false, "Pending", NULL, false)};
    for (size_t i = 0; i < sizeof(pods) / sizeof(pods[0]); i++) {
        ctrl_pod_facts_t f;
        ctrl_pod_facts(pods[i], &f);
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(pods[i], "metadata");
        assert_ptr_equal(f.pod, pods[i]);
        assert_string_equal(f.ns, "default");
        assert_ptr_equal(f.labels, cJSON_GetObjectItemCaseSensitive(meta, "labels"));
        assert_int_equal(f.active, controller_pod_active(pods[i]));
        assert_int_equal(f.ready, controller_pod_ready(pods[i]));
        assert_int_equal(f.ready_time, controller_pod_ready_time(pods[i]));
        assert_int_equal(f.deleting,
                         cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp") != NULL);
        assert_int_equal(f.controlled, controller_owner_ref(pods[i]) != NULL);
        if (f.controlled)
            assert_string_equal(f.controller_uid, "rs-1");
        else
            assert_null(f.controller_uid);
        /* availability as controller_pod_available computes it */
        for (int64_t min = 0; min <= 10; min += 5) {
            int64_t now = controller_parse_time("2026-11-28T10:00:08Z");
            bool avail = f.ready && (min <= 0 || (f.ready_time >= 0 && f.ready_time + min <= now));
            assert_int_equal(avail, controller_pod_available(pods[i], min, now));
        }
        cJSON_Delete(pods[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_facts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
