/* test_images_current: imagePullPolicy Always's decision: is the image a name holds the one
 * the registry's manifest digest names (then nothing is fetched), and the kubelet's policy
 * defaulting and shouldPullImage. */
#include "unit.h"
#include "images/images_internal.h"
#include "kubelet/kubelet.h"

#include <errno.h>

#define D1   "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2   "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define C1   "sha256:c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1"
#define C2   "sha256:c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2"
#define NAME "127.0.0.1:5000/test/app:v1"

static const char INDEX[] =
    "{\"version\":1,\"images\":["
    /* pulled from the manifest D1 */
    "{\"id\":\"" C1 "\",\"manifestDigest\":\"" D1 "\",\"names\":[\"" NAME "\","
    "\"127.0.0.1:5000/test/app@" D1 "\"],\"layers\":[],\"size\":1},"
    /* imported from a docker-archive: no manifest digest */
    "{\"id\":\"" C2 "\",\"names\":[\"docker.io/library/busybox:latest\"],\"layers\":[],\"size\":1}"
    "]}";

static cJSON *parse(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    return j;
}

static void test_same_digest_is_current(void **state)
{
    (void)state;
    cJSON *idx = parse(INDEX);
    const char *id = images__current_id(idx, NAME, D1);
    assert_non_null(id);
    assert_string_equal(id, C1);
    /* a digest reference held by the record */
    id = images__current_id(idx, "127.0.0.1:5000/test/app@" D1, D1);
    assert_non_null(id);
    assert_string_equal(id, C1);
    cJSON_Delete(idx);
}

static void test_other_digest_or_name_is_not(void **state)
{
    (void)state;
    cJSON *idx = parse(INDEX);
    /* the tag moved to another manifest: pull */
    assert_null(images__current_id(idx, NAME, D2));
    /* a name the store does not hold, even when another name came from that manifest */
    assert_null(images__current_id(idx, "127.0.0.1:5000/test/app:v2", D1));
    /* an import has no manifest digest: the registry's image is pulled */
    assert_null(images__current_id(idx, "docker.io/library/busybox:latest", D1));
    /* garbage digests never match */
    assert_null(images__current_id(idx, NAME, "sha256:1111"));
    assert_null(images__current_id(idx, NAME, NULL));
    assert_null(images__current_id(idx, NULL, D1));
    cJSON_Delete(idx);
}

static void test_malformed_records_are_not_current(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{}",
        "{\"images\":{}}",
        "{\"images\":[1,\"x\",null]}",
        "{\"images\":[{\"names\":\"" NAME "\",\"manifestDigest\":\"" D1 "\",\"id\":\"" C1 "\"}]}",
        "{\"images\":[{\"names\":[\"" NAME "\"],\"manifestDigest\":1,\"id\":\"" C1 "\"}]}",
        "{\"images\":[{\"names\":[\"" NAME "\"],\"manifestDigest\":\"" D1 "\"}]}",
        "{\"images\":[{\"names\":[\"" NAME "\"],\"manifestDigest\":\"" D1 "\",\"id\":\"x\"}]}",
        /* the first record holding the name decides (a name points at one image) */
        "{\"images\":[{\"names\":[\"" NAME "\"],\"manifestDigest\":\"" D2 "\",\"id\":\"" C2 "\"},"
        "{\"names\":[\"" NAME "\"],\"manifestDigest\":\"" D1 "\",\"id\":\"" C1 "\"}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cJSON *idx = parse(bad[i]);
        assert_null(images__current_id(idx, NAME, D1));
        cJSON_Delete(idx);
    }
}

/* Over a store: the index on disk decides; a corrupt index is an error, not "current". */
static void test_store_check(void **state)
{
    (void)state;
    char *dir = unit_tmpdir();
    images_store_t *s = NULL;
    util_error_t err = NULL;
    assert_int_equal(images_store_open(dir, NULL, &s, &err), 0);
    char *id = NULL;
    assert_int_equal(images__current_check(s, NAME, D1, &id, &err), 0); /* empty store */
    assert_null(id);
    char path[1024];
    snprintf(path, sizeof(path), "%s/index.json", images_store_root(s));
    assert_int_equal(util_write_file_atomic(path, INDEX, strlen(INDEX), 0600, &err), 0);
    assert_int_equal(images__current_check(s, NAME, D1, &id, &err), 1);
    assert_non_null(id);
    assert_string_equal(id, C1);
    free(id);
    id = NULL;
    assert_int_equal(images__current_check(s, NAME, D2, &id, &err), 0);
    assert_null(id);
    assert_int_equal(util_write_file_atomic(path, "[", 1, 0600, &err), 0);
    assert_int_equal(images__current_check(s, NAME, D1, &id, &err), -EINVAL);
    assert_null(id);
    util_error_free(&err);
    images_store_close(s);
    unit_rm_rf(dir);
    free(dir);
}

static void test_kubelet_pull_policy(void **state)
{
    (void)state;
    /* upstream's SetDefaults_Container */
    assert_string_equal(kubelet_image_pull_policy("busybox", NULL), "Always");
    assert_string_equal(kubelet_image_pull_policy("busybox:latest", ""), "Always");
    assert_string_equal(kubelet_image_pull_policy("localhost:5000/a/b", NULL), "Always");
    assert_string_equal(kubelet_image_pull_policy("localhost:5000/a/b:v1", NULL), "IfNotPresent");
    assert_string_equal(kubelet_image_pull_policy("busybox:1.36", NULL), "IfNotPresent");
    assert_string_equal(kubelet_image_pull_policy("busybox@" D1, NULL), "IfNotPresent");
    assert_string_equal(kubelet_image_pull_policy("busybox:latest@" D1, NULL), "Always");
    assert_string_equal(kubelet_image_pull_policy("Not/Valid::", NULL), "IfNotPresent");
    assert_string_equal(kubelet_image_pull_policy(NULL, NULL), "IfNotPresent");
    /* a policy given is kept */
    assert_string_equal(kubelet_image_pull_policy("busybox", "IfNotPresent"), "IfNotPresent");
    assert_string_equal(kubelet_image_pull_policy("busybox:v1", "Always"), "Always");
    assert_string_equal(kubelet_image_pull_policy("busybox", "Never"), "Never");
    /* upstream's shouldPullImage */
    assert_true(kubelet_image_should_pull("Always", true));
    assert_true(kubelet_image_should_pull("Always", false));
    assert_false(kubelet_image_should_pull("IfNotPresent", true));
    assert_true(kubelet_image_should_pull("IfNotPresent", false));
    assert_false(kubelet_image_should_pull("Never", true));
    assert_false(kubelet_image_should_pull("Never", false));
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_digest_is_current),
        cmocka_unit_test(test_other_digest_or_name_is_not),
        cmocka_unit_test(test_malformed_records_are_not_current),
        cmocka_unit_test(test_store_check),
        cmocka_unit_test(test_kubelet_pull_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
