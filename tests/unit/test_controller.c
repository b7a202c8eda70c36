/* test_controller: the controller machinery: work queue (dedup, processing, back-off with an
 * explicit clock), expectations, the ranking of pods for deletion, rollout arithmetic, the
 * pod-template-hash and ReplicaSet status counts. */
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

static void queue_dedups_and_tracks_processing(void **state)
{
    (void)state;
    controller_queue_t *q = controller_queue_new();
    controller_queue_add(q, "ns/a", 100);
    controller_queue_add(q, "ns/a", 100);
    controller_queue_add(q, "ns/b", 100);
    assert_int_equal(controller_queue_len(q), 2);
    assert_int_equal(controller_queue_next(q, 100), 0);
    char *k = controller_queue_pop(q, 100);
    assert_string_equal(k, "ns/a");
    /* added again while processing: not handed out twice, but once more after done */
    controller_queue_add(q, "ns/a", 101);
    char *k2 = controller_queue_pop(q, 101);
    assert_string_equal(k2, "ns/b");
    assert_null(controller_queue_pop(q, 101));
    controller_queue_done(q, "ns/a", 102);
    char *k3 = controller_queue_pop(q, 102);
    assert_string_equal(k3, "ns/a");
    controller_queue_done(q, "ns/a", 103);
    controller_queue_done(q, "ns/b", 103);
    assert_int_equal(controller_queue_next(q, 103), -1);
    free(k);
    free(k2);
    free(k3);
    /* add_after keeps the earliest due time */
    controller_queue_add_after(q, "ns/c", 1000, 0);
    controller_queue_add_after(q, "ns/c", 50, 0);
    controller_queue_add_after(q, "ns/c", 5000, 0);
    assert_int_equal(controller_queue_next(q, 0), 50);
    assert_null(controller_queue_pop(q, 49));
    k = controller_queue_pop(q, 50);
    assert_string_equal(k, "ns/c");
    controller_queue_done(q, k, 50);
    free(k);
    controller_queue_free(q);
}

static void queue_backs_off_exponentially(void **state)
{
    (void)state;
    controller_queue_t *q = controller_queue_new();
    uint64_t now = 0, want = 5;
    for (int i = 0; i < 30; i++) {
        controller_queue_add_rate_limited(q, "k", now);
        assert_int_equal(controller_queue_next(q, now), (int64_t)want);
        char *k = controller_queue_pop(q, now + want);
        assert_non_null(k);
        controller_queue_done(q, k, now + want);
        free(k);
        now += want;
        want = want * 2 > 1000000 ? 1000000 : want * 2;
    }
    assert_int_equal(controller_queue_failures(q, "k"), 30);
    controller_queue_forget(q, "k");
    assert_int_equal(controller_queue_failures(q, "k"), 0);
    controller_queue_add_rate_limited(q, "k", now);
    assert_int_equal(controller_queue_next(q, now), 5);
    controller_queue_free(q);
}

static void expectations_block_until_observed(void **state)
{
    (void)state;
    controller_expect_t *e = controller_expect_new();
    assert_true(controller_expect_satisfied(e, "ns/rs", 0));
    controller_expect_creations(e, "ns/rs", 2, 0);
    assert_false(controller_expect_satisfied(e, "ns/rs", 1));
    controller_expect_creation_observed(e, "ns/rs");
    assert_false(controller_expect_satisfied(e, "ns/rs", 1));
    controller_expect_creation_observed(e, "ns/rs");
    assert_true(controller_expect_satisfied(e, "ns/rs", 1));
    const char *uids[] = {"u1", "u2"};
    controller_expect_deletions(e, "ns/rs", uids, 2, 10);
    assert_false(controller_expect_satisfied(e, "ns/rs", 11));
    controller_expect_deletion_observed(e, "ns/rs", "u1");
    controller_expect_deletion_observed(e, "ns/rs", "u1"); /* a second event: no double count */
    controller_expect_deletion_observed(e, "ns/rs", "other");
    assert_false(controller_expect_satisfied(e, "ns/rs", 11));
    /* expired after 5 minutes */
    assert_true(controller_expect_satisfied(e, "ns/rs", 10 + CONTROLLER_EXPECT_TTL_MS));
    controller_expect_deletion_observed(e, "ns/rs", "u2");
    assert_true(controller_expect_satisfied(e, "ns/rs", 11));
    controller_expect_creations(e, "ns/x", 1, 0);
    controller_expect_delete(e, "ns/x");
    assert_true(controller_expect_satisfied(e, "ns/x", 0));
    controller_expect_free(e);
}

static cJSON *pod(const char *node, const char *phase, bool ready, const char *ready_at,
                  int restarts, const char *created)
{
    char buf[1024];
    snprintf(buf, sizeof(buf),
             "{\"metadata\":{\"creationTimestamp\":\"%s\"},\"spec\":{\"nodeName\":\"%s\"},"
             "\"status\":{\"phase\":\"%s\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\","
             "\"lastTransitionTime\":\"%s\"}],\"containerStatuses\":[{\"restartCount\":%d}]}}",
             created, node, phase, ready ? "True" : "False", ready_at, restarts);
    return json(buf);
}

static void pods_ranked_like_active_pods(void **state)
{
    (void)state;
    const char *t0 = "2026-01-01T00:00:00Z", *t1 = "2026-01-01T00:01:00Z";
    cJSON *unassigned = pod("", "Pending", false, t0, 0, t0);
    cJSON *pending = pod("n", "Pending", false, t0, 0, t0);
    cJSON *unknown = pod("n", "Unknown", false, t0, 0, t0);
    cJSON *running = pod("n", "Running", false, t0, 0, t0);
    cJSON *ready_new = pod("n", "Running", true, t1, 0, t0);
    cJSON *ready_old = pod("n", "Running", true, t0, 0, t0);
    cJSON *restarted = pod("n", "Running", true, t0, 3, t0);
    cJSON *newer = pod("n", "Running", true, t0, 0, t1);
    assert_true(controller_pod_compare(unassigned, pending) < 0);
    assert_true(controller_pod_compare(pending, unknown) < 0);
    assert_true(controller_pod_compare(unknown, running) < 0);
    assert_true(controller_pod_compare(running, ready_new) < 0);
    assert_true(controller_pod_compare(ready_new, ready_old) < 0);
    assert_true(controller_pod_compare(restarted, ready_old) < 0);
    assert_true(controller_pod_compare(newer, ready_old) < 0);
    assert_true(controller_pod_compare(ready_old, unassigned) > 0);
    assert_int_equal(controller_pod_compare(ready_old, ready_old), 0);
    assert_true(controller_pod_ready(ready_old));
    assert_false(controller_pod_ready(running));
    int64_t t = controller_parse_time(t0);
    assert_true(controller_pod_available(ready_old, 30, t + 30));
    assert_false(controller_pod_available(ready_old, 30, t + 29));
    assert_true(controller_pod_available(ready_old, 0, t));
    cJSON *all[] = {unassigned, pending, unknown, running, ready_new, ready_old, restarted, newer};
    cJSON *terminating = json("{\"metadata\":{\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"},"
                              "\"status\":{\"phase\":\"Running\"}}");
    assert_false(controller_pod_active(terminating));
    cJSON_Delete(terminating);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        cJSON_Delete(all[i]);
}

static void status_counts(void **state)
{
    (void)state;
    const char *t0 = "2026-01-01T00:00:00Z";
    cJSON *a = pod("n", "Running", true, t0, 0, t0);
    cJSON *b = pod("n", "Running", false, t0, 0, t0);
    cJSON *c = pod("n", "Failed", false, t0, 0, t0);
    cJSON_AddItemToObject(cJSON_GetObjectItem(a, "metadata"), "labels", json("{\"app\":\"x\"}"));
    cJSON *labels = json("{\"app\":\"x\"}");
    const cJSON *pods[] = {a, b, c};
    controller_rs_counts_t n;
    int64_t t = controller_parse_time(t0);
    controller_rs_counts(pods, 3, labels, 10, t + 5, &n);
    assert_int_equal(n.replicas, 2);
    assert_int_equal(n.fully_labeled, 1);
    assert_int_equal(n.ready, 1);
    assert_int_equal(n.available, 0);
    controller_rs_counts(pods, 3, labels, 10, t + 10, &n);
    assert_int_equal(n.available, 1);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
    cJSON_Delete(labels);
}

static void fenceposts_round_like_upstream(void **state)
{
    (void)state;
    int64_t s, u;
    assert_int_equal(controller_fenceposts(NULL, NULL, 10, &s, &u, NULL), 0);
    assert_int_equal(s, 3); /* 2.5 up */
    assert_int_equal(u, 2); /* 2.5 down */
    assert_int_equal(controller_fenceposts(NULL, NULL, 1, &s, &u, NULL), 0);
    assert_int_equal(s, 1);
    assert_int_equal(u, 0);
    cJSON *zero = cJSON_CreateNumber(0), *pct = cJSON_CreateString("0%");
    assert_int_equal(controller_fenceposts(zero, pct, 5, &s, &u, NULL), 0);
    assert_int_equal(s, 0);
    assert_int_equal(u, 1); /* both zero: unavailable becomes 1 */
    cJSON *bad = cJSON_CreateString("x%");
    util_error_t err = NULL;
    assert_true(controller_fenceposts(bad, NULL, 5, &s, &u, &err) < 0);
    util_error_free(&err);
    cJSON *three = cJSON_CreateNumber(3), *half = cJSON_CreateString("50%");
    assert_int_equal(controller_fenceposts(three, half, 3, &s, &u, NULL), 0);
    assert_int_equal(s, 3);
    assert_int_equal(u, 1);
    cJSON_Delete(zero);
    cJSON_Delete(pct);
    cJSON_Delete(bad);
    cJSON_Delete(three);
    cJSON_Delete(half);
    /* the new RS grows to replicas + surge in total */
    assert_int_equal(controller_new_rs_replicas(10, 3, 10, 0), 3);
    assert_int_equal(controller_new_rs_replicas(10, 3, 13, 3), 3);
    assert_int_equal(controller_new_rs_replicas(10, 3, 11, 8), 10);
    /* old ones shrink as far as availability allows */
    assert_int_equal(controller_max_scaled_down(10, 2, 13, 3, 0), 2);
    assert_int_equal(controller_max_scaled_down(10, 2, 13, 3, 3), 5);
    assert_int_equal(controller_max_scaled_down(10, 2, 10, 3, 0), -1);
}

static void template_hash_is_stable(void **state)
{
    (void)state;
    cJSON *a = json("{\"metadata\":{\"labels\":{\"app\":\"web\",\"z\":\"1\"}},"
                    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}");
    cJSON *b = json("{\"spec\":{\"containers\":[{\"image\":\"busybox\",\"name\":\"c\"}]},"
                    "\"metadata\":{\"labels\":{\"z\":\"1\",\"app\":\"web\"}}}");
    cJSON *c = json("{\"metadata\":{\"labels\":{\"app\":\"web\",\"z\":\"1\"}},"
                    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx\"}]}}");
    char ha[16], hb[16], hc[16], h1[16];
    controller_template_hash(a, 0, ha);
    controller_template_hash(b, 0, hb);
    controller_template_hash(c, 0, hc);
    controller_template_hash(a, 1, h1);
    assert_string_equal(ha, hb);
    assert_string_not_equal(ha, hc);
    assert_string_not_equal(ha, h1);
    assert_true(strlen(ha) >= 1 && strlen(ha) <= 10);
    assert_int_equal(strspn(ha, "bcdfghjklmnpqrstvwxz2456789"), strlen(ha));
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
}

static void lease_taken_only_when_expired(void **state)
{
    (void)state;
    controller_lease_obs_t o = {0};
    assert_true(controller_lease_may_take(&o, NULL, "me", 0)); /* no lease: create it */
    cJSON *mine = controller_lease_claim(NULL, "me", 1000);
    const cJSON *spec = cJSON_GetObjectItem(mine, "spec");
    assert_string_equal(cJSON_GetObjectItem(spec, "holderIdentity")->valuestring, "me");
    assert_string_equal(cJSON_GetObjectItem(spec, "renewTime")->valuestring,
                        "1970-01-01T00:16:40.000000Z");
    assert_int_equal(cJSON_GetObjectItem(spec, "leaseTransitions")->valueint, 0);
    assert_int_equal(cJSON_GetObjectItem(spec, "leaseDurationSeconds")->valueint, 15);
    assert_true(controller_lease_may_take(&o, mine, "me", 10)); /* ours: renew */
    /* someone else holds it: wait until the record has not changed for 15 s of our clock */
    cJSON *theirs = controller_lease_claim(mine, "other", 2000);
    spec = cJSON_GetObjectItem(theirs, "spec");
    assert_int_equal(cJSON_GetObjectItem(spec, "leaseTransitions")->valueint, 1);
    assert_false(controller_lease_may_take(&o, theirs, "me", 100000));
    assert_false(controller_lease_may_take(&o, theirs, "me", 114999));
    cJSON *renewed = controller_lease_claim(theirs, "other", 2010);
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(renewed, "spec"), "leaseTransitions")->valueint, 1);
    assert_false(controller_lease_may_take(&o, renewed, "me", 115000)); /* renewed: restart */
    assert_false(controller_lease_may_take(&o, renewed, "me", 129999));
    assert_true(controller_lease_may_take(&o, renewed, "me", 130000));
    cJSON *taken = controller_lease_claim(renewed, "me", 3000);
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(taken, "spec"), "leaseTransitions")->valueint, 2);
    controller_lease_obs_free(&o);
    cJSON_Delete(mine);
    cJSON_Delete(theirs);
    cJSON_Delete(renewed);
    cJSON_Delete(taken);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(queue_dedups_and_tracks_processing),
        cmocka_unit_test(queue_backs_off_exponentially),
        cmocka_unit_test(expectations_block_until_observed),
        cmocka_unit_test(pods_ranked_like_active_pods),
        cmocka_unit_test(status_counts),
        cmocka_unit_test(fenceposts_round_like_upstream),
        cmocka_unit_test(template_hash_is_stable),
        cmocka_unit_test(lease_taken_only_when_expired),
    };
    unit_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
