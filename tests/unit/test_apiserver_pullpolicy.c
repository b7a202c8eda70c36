/* test_apiserver_pullpolicy: the apiserver defaults imagePullPolicy as upstream's
 * SetDefaults_Container (Always for the tag "latest", given or implied, else IfNotPresent), for
 * containers and init containers, and keeps a policy that is set. */
#include "unit.h"
#include "apiserver/apiserver_defaults.h"

#include <cjson/cJSON.h>

#define DIGEST "sha256:1111111111111111111111111111111111111111111111111111111111111111"

static const char *policy_of(const char *image, const char *set)
{
    static char out[32];
    cJSON *pod = cJSON_CreateObject();
    cJSON *spec = cJSON_AddObjectToObject(pod, "spec");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "name", "c");
    cJSON_AddStringToObject(c, "image", image);
    if (set)
        cJSON_AddStringToObject(c, "imagePullPolicy", set);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(spec, "initContainers"), cJSON_Duplicate(c, 1));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(spec, "containers"), c);
    const apiserver_resource_t *r = apiserver_resource_find("", "v1", "pods");
    assert_non_null(r);
    apiserver_defaults_apply(r, pod);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "imagePullPolicy");
    const cJSON *ip = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(spec, "initContainers"), 0),
        "imagePullPolicy");
    assert_true(cJSON_IsString(p) && cJSON_IsString(ip));
    assert_string_equal(p->valuestring, ip->valuestring);
    snprintf(out, sizeof(out), "%s", p->valuestring);
    cJSON_Delete(pod);
    return out;
}

static void test_defaults(void **state)
{
    (void)state;
    assert_string_equal(policy_of("busybox", NULL), "Always");
    assert_string_equal(policy_of("busybox:latest", NULL), "Always");
    assert_string_equal(policy_of("127.0.0.1:5000/test/app", NULL), "Always");
    assert_string_equal(policy_of("127.0.0.1:5000/test/app:latest", NULL), "Always");
    assert_string_equal(policy_of("127.0.0.1:5000/test/app:v1", NULL), "IfNotPresent");
    assert_string_equal(policy_of("busybox:1.36", NULL), "IfNotPresent");
    assert_string_equal(policy_of("busybox:latest2", NULL), "IfNotPresent");
    assert_string_equal(policy_of("busybox@" DIGEST, NULL), "IfNotPresent");
    assert_string_equal(policy_of("busybox:latest@" DIGEST, NULL), "Always");
    assert_string_equal(policy_of("busybox:v1@" DIGEST, NULL), "IfNotPresent");
    assert_string_equal(policy_of("localhost:5000/app@" DIGEST, NULL), "IfNotPresent");
    /* set: kept */
    assert_string_equal(policy_of("busybox", "IfNotPresent"), "IfNotPresent");
    assert_string_equal(policy_of("busybox:v1", "Always"), "Always");
    assert_string_equal(policy_of("busybox", "Never"), "Never");
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
