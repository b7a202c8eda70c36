/* test_kubelet_static: static pod manifests (file names, YAML/JSON parsing with typed scalars
 * and the first document only, naming, namespace, UID hashing, annotations, tolerations, bad
 * manifests) and the mirror pod built from one. */
#include "unit.h"
#include "kubelet/kubelet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SEEN "2026-11-28T15:00:00.000000000Z"

static const char *POD_YAML = "apiVersion: v1\n"
                              "kind: Pod\n"
                              "metadata:\n"
                              "  name: web\n"
                              "  labels:\n"
                              "    app: web\n"
                              "spec:\n"
                              "  hostNetwork: true\n"
                              "  terminationGracePeriodSeconds: 5\n"
                              "  containers:\n"
                              "  - name: c\n"
                              "    image: busybox\n"
                              "    command: [\"sleep\", \"3600\"]\n"
                              "    env:\n"
                              "    - name: PORT\n"
                              "      value: \"8080\"\n"
                              "    ports:\n"
                              "    - containerPort: 8080\n";

static cJSON *parse_ok(const char *text, const char *path, const char *node)
{
    cJSON *pod = NULL;
    util_error_t err = NULL;
    int r = kubelet_static_pod_parse(text, strlen(text), path, node, SEEN, &pod, &err);
    if (r < 0)
        fail_msg("parse: %s", err->msg);
    return pod;
}

static char *parse_err(const char *text)
{
    cJSON *pod = NULL;
    util_error_t err = NULL;
    int r = kubelet_static_pod_parse(text, strlen(text), "/m/x.yaml", "n1", SEEN, &pod, &err);
    assert_true(r < 0);
    assert_null(pod);
    char *msg = util_xstrdup(err->msg);
    util_error_free(&err);
    return msg;
}

static const char *path_str(const cJSON *o, const char *a, const char *b, const char *c)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    if (c)
        v = cJSON_GetObjectItemCaseSensitive(v, c);
    return cJSON_GetStringValue(v);
}

static void manifest_file_names(void **state)
{
    (void)state;
    assert_true(kubelet_static_file_wanted("a.yaml"));
    assert_true(kubelet_static_file_wanted("a.yml"));
    assert_true(kubelet_static_file_wanted("a.json"));
    assert_false(kubelet_static_file_wanted(".a.yaml"));
    assert_false(kubelet_static_file_wanted(".a.yaml.swp"));
    assert_false(kubelet_static_file_wanted("a.yaml~"));
    assert_false(kubelet_static_file_wanted("a.txt"));
    assert_false(kubelet_static_file_wanted(""));
}

static void pod_name_namespace_node_and_annotations(void **state)
{
    (void)state;
    cJSON *pod = parse_ok(POD_YAML, "/m/web.yaml", "node-1");
    assert_string_equal(path_str(pod, "metadata", "name", NULL), "web-node-1");
    assert_string_equal(path_str(pod, "metadata", "namespace", NULL), "default");
    assert_string_equal(path_str(pod, "spec", "nodeName", NULL), "node-1");
    const char *uid = path_str(pod, "metadata", "uid", NULL);
    assert_non_null(uid);
    assert_int_equal(strlen(uid), 32);
    const cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "annotations");
    assert_string_equal(path_str(ann, KUBELET_ANN_CONFIG_HASH, NULL, NULL), uid);
    assert_string_equal(path_str(ann, KUBELET_ANN_CONFIG_SOURCE, NULL, NULL), "file");
    assert_string_equal(path_str(ann, KUBELET_ANN_CONFIG_SEEN, NULL, NULL), SEEN);
    assert_string_equal(kubelet_static_hash(pod), uid);
    assert_null(kubelet_mirror_hash(pod));
    /* one toleration of every NoExecute taint */
    const cJSON *tols = cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "spec"), "tolerations");
    assert_int_equal(cJSON_GetArraySize(tols), 1);
    assert_string_equal(path_str(cJSON_GetArrayItem(tols, 0), "operator", NULL, NULL), "Exists");
    assert_string_equal(path_str(cJSON_GetArrayItem(tols, 0), "effect", NULL, NULL), "NoExecute");
    cJSON_Delete(pod);
}

static void typed_scalars_like_kubectl(void **state)
{
    (void)state;
    cJSON *pod = parse_ok(POD_YAML, "/m/web.yaml", "n1");
    const cJSON *spec = cJSON_GetObjectItem(pod, "spec");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(spec, "hostNetwork")));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(spec, "terminationGracePeriodSeconds")));
    assert_int_equal(cJSON_GetObjectItem(spec, "terminationGracePeriodSeconds")->valueint, 5);
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "containers"), 0);
    /* a quoted value stays a string, a flow sequence is an array of strings */
    const cJSON *env = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "env"), 0);
    assert_string_equal(path_str(env, "value", NULL, NULL), "8080");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "command"), 1)), "3600");
    const cJSON *port = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "ports"), 0);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(port, "containerPort")));
    cJSON_Delete(pod);
    /* the core schema's other plain scalars */
    cJSON *o = NULL;
    util_error_t err = NULL;
    const char *y = "a: ~\nb: False\nc: -1.5e3\nd: 1.2.3\ne: 0x10\nf: 'true'\ng: 12abc\n";
    assert_int_equal(client_yaml_parse_opts(y, strlen(y), CLIENT_YAML_TYPED, &o, &err), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "a")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "b")));
    assert_true(cJSON_GetObjectItem(o, "c")->valuedouble == -1500.0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "d")), "1.2.3");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "e")), "0x10");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "f")), "true");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "g")), "12abc");
    cJSON_Delete(o);
    /* without the flag everything stays a string (kubeconfigs) */
    assert_int_equal(client_yaml_parse("a: 5\n", 5, &o, &err), 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "a")), "5");
    cJSON_Delete(o);
}

static void uid_is_a_hash_of_node_path_and_content(void **state)
{
    (void)state;
    cJSON *a = parse_ok(POD_YAML, "/m/web.yaml", "n1");
    cJSON *b = parse_ok(POD_YAML, "/m/web.yaml", "n1");
    cJSON *other_node = parse_ok(POD_YAML, "/m/web.yaml", "n2");
    cJSON *other_path = parse_ok(POD_YAML, "/m/web2.yaml", "n1");
    char *edited_text = util_strdup_printf("%s    - containerPort: 9090\n", POD_YAML);
    cJSON *edited = parse_ok(edited_text, "/m/web.yaml", "n1");
    const char *u = kubelet_static_hash(a);
    assert_string_equal(u, kubelet_static_hash(b)); /* deterministic: a restart keeps it */
    assert_string_not_equal(u, kubelet_static_hash(other_node));
    assert_string_not_equal(u, kubelet_static_hash(other_path));
    assert_string_not_equal(u, kubelet_static_hash(edited));
    /* the seen time is not part of the hash */
    cJSON *later = NULL;
    util_error_t err = NULL;
    assert_int_equal(kubelet_static_pod_parse(POD_YAML, strlen(POD_YAML), "/m/web.yaml", "n1",
                                              "2030-01-01T00:00:00Z", &later, &err),
                     0);
    assert_string_equal(u, kubelet_static_hash(later));
    /* a uid written in the file does not pin the pod */
    char *with_uid = util_strdup_printf("%s", POD_YAML);
    char *at = strstr(with_uid, "  name: web\n");
    char *pinned_text =
        util_strdup_printf("%.*s  uid: fixed\n%s", (int)(at - with_uid), with_uid, at);
    cJSON *pinned = parse_ok(pinned_text, "/m/web.yaml", "n1");
    assert_string_not_equal(path_str(pinned, "metadata", "uid", NULL), "fixed");
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(other_node);
    cJSON_Delete(other_path);
    cJSON_Delete(edited);
    cJSON_Delete(later);
    cJSON_Delete(pinned);
    free(edited_text);
    free(with_uid);
    free(pinned_text);
}

static void json_and_namespace_and_existing_toleration(void **state)
{
    (void)state;
    const char *j = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"j\","
                    "\"namespace\":\"kube-system\"},\"spec\":{\"tolerations\":[{\"operator\":"
                    "\"Exists\",\"effect\":\"NoExecute\"}],\"containers\":[{\"name\":\"c\","
                    "\"image\":\"busybox\"}]}}";
    cJSON *pod = parse_ok(j, "/m/j.json", "n1");
    assert_string_equal(path_str(pod, "metadata", "name", NULL), "j-n1");
    assert_string_equal(path_str(pod, "metadata", "namespace", NULL), "kube-system");
    const cJSON *tols = cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "spec"), "tolerations");
    assert_int_equal(cJSON_GetArraySize(tols), 1);
    cJSON_Delete(pod);
}

static void multi_document_takes_the_first(void **state)
{
    (void)state;
    char *text = util_strdup_printf("---\n%s---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: "
                                    "second\nspec:\n  containers: []\n",
                                    POD_YAML);
    cJSON *pod = parse_ok(text, "/m/web.yaml", "n1");
    assert_string_equal(path_str(pod, "metadata", "name", NULL), "web-n1");
    cJSON_Delete(pod);
    free(text);
}

static void bad_manifests_are_refused_with_a_message(void **state)
{
    (void)state;
    char *m;
    m = parse_err("kind: Pod\nmetadata: {name: x}\n");
    free(m);
    m = parse_err("apiVersion: v1\nmetadata:\n  name: x\nspec:\n  containers: []\n");
    assert_string_equal(m, "Object 'Kind' is missing");
    free(m);
    m = parse_err("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n");
    assert_non_null(strstr(m, "not a v1 Pod"));
    free(m);
    m = parse_err("apiVersion: v1\nkind: Pod\nmetadata:\n  name: Bad_Name\nspec:\n  containers:\n"
                  "  - name: c\n    image: i\n");
    assert_non_null(strstr(m, "metadata.name"));
    free(m);
    m = parse_err("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers: []\n");
    assert_non_null(strstr(m, "spec.containers: Required value"));
    free(m);
    m = parse_err("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n"
                  "  - name: c\n");
    assert_non_null(strstr(m, "image: Required value"));
    free(m);
    m = parse_err("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n"
                  "  - name: c\n    image: i\n  - name: c\n    image: i\n");
    assert_non_null(strstr(m, "Duplicate value"));
    free(m);
    m = parse_err("apiVersion: v1\nkind: Pod\n  metadata: x\n"); /* bad indentation */
    free(m);
    m = parse_err("- a\n- b\n");
    assert_string_equal(m, "not an object");
    free(m);
    m = parse_err("{\"kind\": ");
    free(m);
    /* too large, before any parsing */
    size_t n = KUBELET_STATIC_MAX_BYTES + 1;
    char *big = util_xmalloc(n + 1);
    memset(big, '#', n);
    big[n] = 0;
    cJSON *pod = NULL;
    util_error_t err = NULL;
    assert_int_equal(kubelet_static_pod_parse(big, n, "/m/b.yaml", "n1", SEEN, &pod, &err), -EFBIG);
    util_error_free(&err);
    free(big);
    /* a name that is too long once the node's is added */
    char longname[260];
    memset(longname, 'a', 251);
    longname[251] = 0;
    char *t = util_strdup_printf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n"
                                 "  containers:\n  - name: c\n    image: i\n",
                                 longname);
    m = parse_err(t);
    assert_non_null(strstr(m, "not a valid pod name"));
    free(m);
    free(t);
}

static void mirror_pod_has_the_hash_and_the_node_as_owner(void **state)
{
    (void)state;
    cJSON *pod = parse_ok(POD_YAML, "/m/web.yaml", "n1");
    cJSON *m = kubelet_static_mirror(pod, "n1", "node-uid-1");
    assert_string_equal(kubelet_mirror_hash(m), kubelet_static_hash(pod));
    assert_string_equal(kubelet_static_hash(m), kubelet_static_hash(pod));
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "metadata"), "uid"));
    const cJSON *owners =
        cJSON_GetObjectItem(cJSON_GetObjectItem(m, "metadata"), "ownerReferences");
    assert_int_equal(cJSON_GetArraySize(owners), 1);
    const cJSON *o = cJSON_GetArrayItem(owners, 0);
    assert_string_equal(path_str(o, "kind", NULL, NULL), "Node");
    assert_string_equal(path_str(o, "apiVersion", NULL, NULL), "v1");
    assert_string_equal(path_str(o, "name", NULL, NULL), "n1");
    assert_string_equal(path_str(o, "uid", NULL, NULL), "node-uid-1");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "controller")));
    assert_string_equal(path_str(m, "metadata", "name", NULL), "web-n1");
    cJSON_Delete(m);
    cJSON_Delete(pod);
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(manifest_file_names),
        cmocka_unit_test(pod_name_namespace_node_and_annotations),
        cmocka_unit_test(typed_scalars_like_kubectl),
        cmocka_unit_test(uid_is_a_hash_of_node_path_and_content),
        cmocka_unit_test(json_and_namespace_and_existing_toleration),
        cmocka_unit_test(multi_document_takes_the_first),
        cmocka_unit_test(bad_manifests_are_refused_with_a_message),
        cmocka_unit_test(mirror_pod_has_the_hash_and_the_node_as_owner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
