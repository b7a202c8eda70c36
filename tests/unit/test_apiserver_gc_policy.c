/* test_apiserver_gc_policy: DeleteOptions' propagation policy as the garbage collector's
 * finalizers (upstream deletionFinalizersForGarbageCollection with the per-resource defaults). */
#include "unit.h"
#include "apiserver/apiserver_gc_policy.h"
#include "apiserver/apiserver_resources.h"

#include <string.h>

static const apiserver_resource_t *res(const char *group, const char *plural)
{
    for (size_t i = 0; i < apiserver_nresources; i++)
        if (!strcmp(apiserver_resources[i].group, group) &&
            !strcmp(apiserver_resources[i].plural, plural))
            return &apiserver_resources[i];
    fail_msg("no resource %s/%s", group, plural);
    return NULL;
}

/* The finalizers of obj after a delete with policy p, as one comma-joined string. */
static char *after(const apiserver_resource_t *r, const char *obj, apiserver_gc_policy_t p,
                   bool *changed)
{
    cJSON *o = cJSON_Parse(obj);
    assert_non_null(o);
    *changed = apiserver_gc_finalizers(r, o, p);
    char out[256] = "";
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "finalizers"))
    {
        if (out[0])
            strcat(out, ",");
        strcat(out, f->valuestring);
    }
    cJSON_Delete(o);
    return strdup(out);
}

#define PLAIN "{\"metadata\":{\"name\":\"x\"}}"

static void check(const apiserver_resource_t *r, const char *obj, apiserver_gc_policy_t p,
                  const char *want, bool want_changed)
{
    bool changed = false;
    char *got = after(r, obj, p, &changed);
    assert_string_equal(got, want);
    assert_int_equal(changed, want_changed);
    free(got);
}

static void policies_set_finalizers(void **state)
{
    (void)state;
    const apiserver_resource_t *rs = res("apps", "replicasets");
    check(rs, PLAIN, APISERVER_GC_UNSET, "", false); /* apps/v1: background by default */
    check(rs, PLAIN, APISERVER_GC_BACKGROUND, "", false);
    check(rs, PLAIN, APISERVER_GC_FOREGROUND, "foregroundDeletion", true);
    check(rs, PLAIN, APISERVER_GC_ORPHAN, "orphan", true);
    /* other finalizers are kept; the GC ones switch */
    const char *held = "{\"metadata\":{\"finalizers\":[\"example.com/x\",\"foregroundDeletion\"]}}";
    check(rs, held, APISERVER_GC_ORPHAN, "example.com/x,orphan", true);
    check(rs, held, APISERVER_GC_BACKGROUND, "example.com/x", true);
    /* no policy: the object's own GC finalizer stands */
    check(rs, held, APISERVER_GC_UNSET, "example.com/x,foregroundDeletion", false);
}

static void legacy_kinds_orphan_by_default(void **state)
{
    (void)state;
    check(res("", "replicationcontrollers"), PLAIN, APISERVER_GC_UNSET, "orphan", true);
    check(res("batch", "jobs"), PLAIN, APISERVER_GC_UNSET, "orphan", true);
    check(res("batch", "jobs"), PLAIN, APISERVER_GC_BACKGROUND, "", false);
    check(res("", "configmaps"), PLAIN, APISERVER_GC_UNSET, "", false);
}

static void graceful_deletion_takes_no_new_finalizers(void **state)
{
    (void)state;
    const char *terminating = "{\"metadata\":{\"deletionTimestamp\":\"2026-01-01T00:00:00Z\","
                              "\"deletionGracePeriodSeconds\":30}}";
    check(res("", "pods"), terminating, APISERVER_GC_FOREGROUND, "", false);
    const char *marked =
        "{\"metadata\":{\"deletionTimestamp\":\"2026-01-01T00:00:00Z\","
        "\"deletionGracePeriodSeconds\":0,\"finalizers\":[\"foregroundDeletion\"]}}";
    check(res("apps", "replicasets"), marked, APISERVER_GC_ORPHAN, "orphan", true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(policies_set_finalizers),
        cmocka_unit_test(legacy_kinds_orphan_by_default),
        cmocka_unit_test(graceful_deletion_takes_no_new_finalizers),
    };
    unit_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
