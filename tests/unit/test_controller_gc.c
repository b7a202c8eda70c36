/* test_controller_gc: the garbage collector's graph (owners, virtual owners, dependents,
 * deletion transitions, reference changes, virtual deletes, absent owners), its decisions, and
 * pod GC's arithmetic. */
#include "unit.h"
#include "controller/controller_gc.h"

#include <string.h>

typedef struct seen {
    util_strv_t calls; /* "d:UID" / "o:UID" in order */
} seen_t;

static void on_delete(void *ud, const char *uid)
{
    char *s = util_strdup_printf("d:%s", uid);
    util_strv_push(&((seen_t *)ud)->calls, s);
    free(s);
}

static void on_orphan(void *ud, const char *uid)
{
    char *s = util_strdup_printf("o:%s", uid);
    util_strv_push(&((seen_t *)ud)->calls, s);
    free(s);
}

static bool called(const seen_t *s, const char *what)
{
    for (size_t i = 0; i < s->calls.n; i++)
        if (!strcmp(s->calls.v[i], what))
            return true;
    return false;
}

static cJSON *json(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    if (!j)
        fail_msg("bad JSON: %s", text);
    return j;
}

static void on_invalid_ns(void *ud, const controller_gc_node_t *dep, const controller_gc_ref_t *ref)
{
    char *s = util_strdup_printf("ns:%s->%s", dep->uid, ref->uid);
    util_strv_push(&((seen_t *)ud)->calls, s);
    free(s);
}

static const controller_gc_hooks_t hooks = {on_delete, on_orphan, on_invalid_ns};

#define RS(extra)                                                                        \
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"metadata\":{\"name\":\"rs\"," \
    "\"namespace\":\"ns\",\"uid\":\"rs1\"" extra "}}"
#define POD(uid, refs)                                                            \
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"" uid "\"," \
    "\"namespace\":\"ns\",\"uid\":\"" uid "\",\"ownerReferences\":[" refs "]}}"
#define REF_RS(block)                                                                      \
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"rs\",\"uid\":\"rs1\"," \
    "\"controller\":true,\"blockOwnerDeletion\":" block "}"

static void observe(controller_gc_graph_t *g, const char *old, const char *obj)
{
    cJSON *o = old ? json(old) : NULL, *n = json(obj);
    controller_gc_observe(g, o, n);
    cJSON_Delete(o);
    cJSON_Delete(n);
}

static void forget(controller_gc_graph_t *g, const char *obj)
{
    cJSON *n = json(obj);
    controller_gc_forget(g, n);
    cJSON_Delete(n);
}

static void unseen_owner_is_virtual_until_observed(void **state)
{
    (void)state;
    seen_t s = {0};
    controller_gc_graph_t *g = controller_gc_graph_new(&hooks, &s);
    observe(g, NULL, POD("p1", REF_RS("true")));
    controller_gc_node_t *rs = controller_gc_node(g, "rs1");
    assert_non_null(rs);
    assert_true(rs->virt);
    assert_string_equal(rs->kind, "ReplicaSet");
    assert_string_equal(rs->ns, "ns");
    assert_int_equal(rs->ndeps, 1);
    assert_true(called(&s, "d:rs1")); /* the collector verifies it with a GET */
    util_strv_clear(&s.calls);
    observe(g, NULL, RS(""));
    assert_false(rs->virt);
    assert_int_equal(s.calls.n, 0); /* same coordinates: nothing suspect */
    assert_int_equal(controller_gc_count(g), 2);
    /* the owner goes: its dependent is looked at and the owner is known absent */
    forget(g, RS(""));
    assert_true(called(&s, "d:p1"));
    assert_null(controller_gc_node(g, "rs1"));
    assert_true(controller_gc_absent_has(g, "rs1", "ns"));
    assert_false(controller_gc_absent_has(g, "rs1", "other"));
    forget(g, POD("p1", REF_RS("true")));
    assert_int_equal(controller_gc_count(g), 0);
    controller_gc_graph_free(g);
    util_strv_clear(&s.calls);
}

static void foreground_and_orphan_transitions(void **state)
{
    (void)state;
    seen_t s = {0};
    controller_gc_graph_t *g = controller_gc_graph_new(&hooks, &s);
    observe(g, NULL, RS(""));
    observe(g, NULL, POD("p1", REF_RS("true")));
    observe(g, NULL, POD("p2", REF_RS("false")));
    util_strv_clear(&s.calls);
    const char *fg = RS(",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\","
                        "\"finalizers\":[\"foregroundDeletion\"]");
    observe(g, RS(""), fg);
    controller_gc_node_t *rs = controller_gc_node(g, "rs1");
    assert_true(rs->deleting_dependents);
    assert_true(called(&s, "d:p1") && called(&s, "d:p2") && called(&s, "d:rs1"));
    controller_gc_node_t **blocking = NULL;
    assert_int_equal(controller_gc_blocking(rs, &blocking), 1); /* p2 does not block */
    assert_string_equal(blocking[0]->uid, "p1");
    free(blocking);
    /* the same state again is no new transition */
    util_strv_clear(&s.calls);
    observe(g, fg, fg);
    assert_int_equal(s.calls.n, 0);
    /* p1 drops its blocking reference: the waiting owner is looked at */
    observe(g, POD("p1", REF_RS("true")), POD("p1", REF_RS("false")));
    assert_true(called(&s, "d:rs1"));
    assert_int_equal(controller_gc_blocking(rs, &blocking), 0);
    /* a dependent gone while its owner deletes dependents: the owner is looked at */
    util_strv_clear(&s.calls);
    forget(g, POD("p2", REF_RS("false")));
    assert_true(called(&s, "d:rs1"));
    assert_int_equal(rs->ndeps, 1);
    /* orphan finalizer on another owner */
    observe(g, NULL,
            "{\"apiVersion\":\"v1\",\"kind\":\"ReplicationController\",\"metadata\":{"
            "\"name\":\"rc\",\"namespace\":\"ns\",\"uid\":\"rc1\",\"deletionTimestamp\":"
            "\"2026-01-01T00:00:00Z\",\"finalizers\":[\"orphan\"]}}");
    assert_true(called(&s, "o:rc1"));
    controller_gc_graph_free(g);
    util_strv_clear(&s.calls);
}

static void owner_reference_changes(void **state)
{
    (void)state;
    seen_t s = {0};
    controller_gc_graph_t *g = controller_gc_graph_new(&hooks, &s);
    observe(g, NULL, RS(""));
    observe(g, NULL, POD("p1", ""));
    assert_int_equal(controller_gc_node(g, "rs1")->ndeps, 0);
    observe(g, POD("p1", ""), POD("p1", REF_RS("true"))); /* adopted */
    assert_int_equal(controller_gc_node(g, "rs1")->ndeps, 1);
    assert_int_equal(controller_gc_node(g, "p1")->nowners, 1);
    util_strv_clear(&s.calls);
    observe(g, POD("p1", REF_RS("true")), POD("p1", "")); /* released */
    assert_int_equal(controller_gc_node(g, "rs1")->ndeps, 0);
    assert_int_equal(controller_gc_node(g, "p1")->nowners, 0);
    assert_true(called(&s, "d:rs1")); /* it was blocking */
    /* a reference to an owner in another namespace is suspect */
    util_strv_clear(&s.calls);
    observe(
        g, NULL,
        "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\","
        "\"namespace\":\"elsewhere\",\"uid\":\"c1\",\"ownerReferences\":[" REF_RS("false") "]}}");
    assert_true(called(&s, "d:c1"));
    assert_true(called(&s, "ns:c1->rs1")); /* the owner was seen: an event says so */
    controller_gc_graph_free(g);
    util_strv_clear(&s.calls);
}

static void virtual_delete_respects_other_coordinates(void **state)
{
    (void)state;
    seen_t s = {0};
    controller_gc_graph_t *g = controller_gc_graph_new(&hooks, &s);
    observe(g, NULL, POD("p1", REF_RS("true")));
    /* a second dependent names the same uid as a Deployment */
    observe(g, NULL,
            POD("p2", "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"name\":\"d\","
                      "\"uid\":\"rs1\"}"));
    controller_gc_node_t *v = controller_gc_node(g, "rs1");
    assert_true(v->virt);
    controller_gc_node_t id = {
        .uid = "rs1", .api_version = "apps/v1", .kind = "ReplicaSet", .name = "rs", .ns = "ns"};
    util_strv_clear(&s.calls);
    controller_gc_virtual_delete(g, &id);
    /* kept (p2 disagrees), p1 looked at, the node now tries the other coordinates */
    v = controller_gc_node(g, "rs1");
    assert_non_null(v);
    assert_true(called(&s, "d:p1"));
    assert_true(called(&s, "d:rs1"));
    assert_string_equal(v->kind, "Deployment");
    assert_true(controller_gc_absent_has(g, "rs1", "ns"));
    controller_gc_node_t id2 = {
        .uid = "rs1", .api_version = "apps/v1", .kind = "Deployment", .name = "d", .ns = "ns"};
    util_strv_clear(&s.calls);
    forget(g, POD("p1", REF_RS("true")));
    controller_gc_virtual_delete(g, &id2);
    assert_null(controller_gc_node(g, "rs1"));
    assert_true(called(&s, "d:p2"));
    controller_gc_graph_free(g);
    util_strv_clear(&s.calls);
}

static void decisions_follow_upstream(void **state)
{
    (void)state;
    cJSON *plain = json("{\"metadata\":{}}");
    cJSON *orphan = json("{\"metadata\":{\"finalizers\":[\"orphan\"]}}");
    cJSON *fg = json("{\"metadata\":{\"finalizers\":[\"foregroundDeletion\"]}}");
    controller_gc_node_t dep = {.deleting_dependents = false};
    controller_gc_node_t *deps[1] = {&dep};
    controller_gc_node_t item = {.deps = deps, .ndeps = 1};
    controller_gc_node_t leaf = {0};
    assert_int_equal(controller_gc_decide(1, 0, 0, &leaf, plain), CONTROLLER_GC_KEEP);
    assert_int_equal(controller_gc_decide(1, 1, 0, &leaf, plain), CONTROLLER_GC_REMOVE_REFS);
    assert_int_equal(controller_gc_decide(1, 0, 1, &leaf, plain), CONTROLLER_GC_REMOVE_REFS);
    assert_int_equal(controller_gc_decide(0, 1, 0, &leaf, plain), CONTROLLER_GC_DELETE_BG);
    assert_int_equal(controller_gc_decide(0, 1, 0, &leaf, orphan), CONTROLLER_GC_DELETE_ORPHAN);
    assert_int_equal(controller_gc_decide(0, 1, 0, &leaf, fg), CONTROLLER_GC_DELETE_FG);
    /* an owner waits for us: with dependents of our own we go in the foreground */
    assert_int_equal(controller_gc_decide(0, 0, 1, &item, plain), CONTROLLER_GC_DELETE_FG);
    assert_int_equal(controller_gc_decide(0, 0, 1, &leaf, plain), CONTROLLER_GC_DELETE_BG);
    dep.deleting_dependents = true; /* a possible cycle */
    assert_int_equal(controller_gc_decide(0, 0, 1, &item, plain), CONTROLLER_GC_UNBLOCK_FG);
    cJSON_Delete(plain);
    cJSON_Delete(orphan);
    cJSON_Delete(fg);
}

static void absent_cache_is_bounded(void **state)
{
    (void)state;
    seen_t s = {0};
    controller_gc_graph_t *g = controller_gc_graph_new(&hooks, &s);
    char uid[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(uid, sizeof(uid), "u%d", i);
        controller_gc_absent_add(g, uid, "");
    }
    assert_true(controller_gc_absent_has(g, "u4999", ""));
    assert_false(controller_gc_absent_has(g, "u0", "")); /* forgotten: only costs a GET */
    controller_gc_graph_free(g);
}

static void pod_gc_trims_oldest_over_threshold(void **state)
{
    (void)state;
    assert_int_equal(controller_podgc_excess(10, 12500), 0);
    assert_int_equal(controller_podgc_excess(12501, 12500), 1);
    assert_int_equal(controller_podgc_excess(5, 3), 2);
    assert_int_equal(controller_podgc_excess(5, 0), 0); /* 0: pod GC of terminated pods off */
    cJSON *p[3] = {
        json("{\"metadata\":{\"name\":\"b\",\"creationTimestamp\":\"2026-01-01T00:00:02Z\"}}"),
        json("{\"metadata\":{\"name\":\"c\",\"creationTimestamp\":\"2026-01-01T00:00:01Z\"}}"),
        json("{\"metadata\":{\"name\":\"a\",\"creationTimestamp\":\"2026-01-01T00:00:02Z\"}}")};
    qsort(p, 3, sizeof(p[0]), controller_podgc_older);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(p[0], "metadata"), "name")->valuestring, "c");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(p[1], "metadata"), "name")->valuestring, "a");
    for (int i = 0; i < 3; i++)
        cJSON_Delete(p[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unseen_owner_is_virtual_until_observed),
        cmocka_unit_test(foreground_and_orphan_transitions),
        cmocka_unit_test(owner_reference_changes),
        cmocka_unit_test(virtual_delete_respects_other_coordinates),
        cmocka_unit_test(decisions_follow_upstream),
        cmocka_unit_test(absent_cache_is_bounded),
        cmocka_unit_test(pod_gc_trims_oldest_over_threshold),
    };
    unit_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
