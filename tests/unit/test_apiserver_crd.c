/* test_apiserver_crd: custom resources: structural-schema validation with upstream's messages,
 * pruning, defaults, the CRD's own validation and status, the dynamic registry (lookups,
 * discovery groups, OpenAPI definitions) and printer columns. */
#include "unit.h"
#include "apiserver/apiserver_crd.h"
#include "apiserver/apiserver_discovery.h"
#include "apiserver/apiserver_openapi.h"

#include <string.h>

static cJSON *J(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    return j;
}

/* Collects "field: problem" lines. */
static void collect(void *ud, const char *reason, const char *field, const char *problem)
{
    (void)reason;
    char *line = util_strdup_printf("%s: %s", field, problem);
    util_strv_push(ud, line);
    free(line);
}

static bool has(const util_strv_t *v, const char *want)
{
    for (size_t i = 0; i < v->n; i++)
        if (!strcmp(v->v[i], want))
            return true;
    for (size_t i = 0; i < v->n; i++)
        print_message("  got: %s\n", v->v[i]);
    return false;
}

static const char SCHEMA[] =
    "{\"type\":\"object\",\"properties\":{\"spec\":{\"type\":\"object\",\"required\":[\"name\"],"
    "\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":5,"
    "\"pattern\":\"^[a-z]+\\\\d*$\"},\"replicas\":{\"type\":\"integer\",\"minimum\":1,"
    "\"maximum\":3,\"default\":1},\"ratio\":{\"type\":\"number\",\"exclusiveMaximum\":true,"
    "\"maximum\":1},\"mode\":{\"type\":\"string\",\"enum\":[\"a\",\"b\"]},\"on\":{\"type\":"
    "\"boolean\"},\"tags\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":2,\"items\":{"
    "\"type\":\"string\"}},\"opt\":{\"type\":\"string\",\"nullable\":true},\"port\":{"
    "\"x-kubernetes-int-or-string\":true},\"free\":{\"type\":\"object\","
    "\"x-kubernetes-preserve-unknown-fields\":true},\"labels\":{\"type\":\"object\","
    "\"additionalProperties\":{\"type\":\"string\"}},\"inner\":{\"type\":\"object\","
    "\"properties\":{\"deep\":{\"type\":\"string\",\"default\":\"d\"}}},\"pod\":{\"type\":"
    "\"object\",\"x-kubernetes-embedded-resource\":true,\"properties\":{\"x\":{\"type\":"
    "\"string\"}}}}}}}";

static void validate(const char *obj_text, util_strv_t *out)
{
    cJSON *schema = J(SCHEMA), *obj = J(obj_text);
    apiserver_crd_schema_validate(schema, obj, collect, out);
    cJSON_Delete(schema);
    cJSON_Delete(obj);
}

static void test_valid_object_has_no_problems(void **state)
{
    (void)state;
    util_strv_t p = {0};
    validate("{\"apiVersion\":\"x/v1\",\"kind\":\"K\",\"metadata\":{\"name\":1},\"spec\":{"
             "\"name\":\"ab1\",\"replicas\":2,\"ratio\":0.5,\"mode\":\"a\",\"on\":true,\"tags\":"
             "[\"t\"],\"opt\":null,\"port\":\"http\",\"free\":{\"any\":[1,{}]},\"labels\":{"
             "\"k\":\"v\"}}}",
             &p);
    assert_int_equal(p.n, 0);
    util_strv_clear(&p);
}

static void test_type_errors_use_upstream_words(void **state)
{
    (void)state;
    util_strv_t p = {0};
    validate("{\"spec\":{\"name\":\"ab\",\"replicas\":\"string\",\"on\":1,\"tags\":\"x\","
             "\"labels\":{\"k\":2},\"port\":1.5,\"ratio\":null}}",
             &p);
    assert_true(has(&p, "spec.replicas: Invalid value: \"string\": spec.replicas in body must be "
                        "of type integer: \"string\""));
    assert_true(has(&p, "spec.on: Invalid value: \"integer\": spec.on in body must be of type "
                        "boolean: \"integer\""));
    assert_true(has(&p, "spec.tags: Invalid value: \"string\": spec.tags in body must be of type "
                        "array: \"string\""));
    assert_true(has(&p, "spec.labels.k: Invalid value: \"integer\": spec.labels.k in body must "
                        "be of type string: \"integer\""));
    assert_true(has(&p, "spec.port: Invalid value: \"number\": spec.port in body must be of type "
                        "integer,string: \"number\""));
    assert_true(has(&p, "spec.ratio: Invalid value: \"null\": spec.ratio in body must be of type "
                        "number: \"null\""));
    util_strv_clear(&p);
}

static void test_bounds_lengths_enum_pattern_required(void **state)
{
    (void)state;
    util_strv_t p = {0};
    validate("{\"spec\":{\"replicas\":0,\"ratio\":1,\"mode\":\"c\",\"tags\":[]}}", &p);
    assert_true(has(&p, "spec.name: Required value"));
    assert_true(has(&p, "spec.replicas: Invalid value: 0: spec.replicas in body should be greater "
                        "than or equal to 1"));
    assert_true(has(&p, "spec.ratio: Invalid value: 1: spec.ratio in body should be less than 1"));
    assert_true(has(&p, "spec.mode: Unsupported value: \"c\": supported values: \"a\", \"b\""));
    assert_true(has(&p, "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 "
                        "items"));
    util_strv_clear(&p);
    validate("{\"spec\":{\"name\":\"toolongname\",\"replicas\":4,\"tags\":[\"a\",\"b\",\"c\"]}}",
             &p);
    assert_true(has(&p, "spec.name: Too long: may not be more than 5 bytes"));
    assert_true(has(&p, "spec.replicas: Invalid value: 4: spec.replicas in body should be less "
                        "than or equal to 3"));
    assert_true(has(&p, "spec.tags: Too many: 3: must have at most 2 items"));
    util_strv_clear(&p);
    validate("{\"spec\":{\"name\":\"A\"}}", &p);
    assert_true(has(&p, "spec.name: Invalid value: \"A\": spec.name in body should be at least 2 "
                        "chars long"));
    assert_true(has(&p, "spec.name: Invalid value: \"A\": spec.name in body should match "
                        "'^[a-z]+\\d*$'"));
    util_strv_clear(&p);
}

static void test_pruning_drops_undeclared_fields(void **state)
{
    (void)state;
    cJSON *schema = J(SCHEMA);
    cJSON *obj = J("{\"apiVersion\":\"x/v1\",\"kind\":\"K\",\"metadata\":{\"name\":\"n\"},"
                   "\"top\":1,\"spec\":{\"name\":\"ab\",\"foo\":{\"bar\":1},\"free\":{\"kept\":"
                   "{\"deep\":1}},\"labels\":{\"any\":\"v\"},\"inner\":{\"gone\":1},\"pod\":{"
                   "\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{},\"y\":1}}}");
    util_strv_t unknown = {0};
    apiserver_crd_schema_unknown(schema, obj, &unknown);
    assert_int_equal(unknown.n, 4);
    assert_string_equal(unknown.v[0], "unknown field \"top\"");
    assert_string_equal(unknown.v[1], "unknown field \"spec.foo\"");
    assert_string_equal(unknown.v[2], "unknown field \"spec.inner.gone\"");
    assert_string_equal(unknown.v[3], "unknown field \"spec.pod.y\"");
    assert_non_null(cJSON_GetObjectItem(obj, "top")); /* unknown only reports */
    apiserver_crd_schema_prune(schema, obj, NULL);
    char *text = cJSON_PrintUnformatted(obj);
    assert_string_equal(text, "{\"apiVersion\":\"x/v1\",\"kind\":\"K\",\"metadata\":{\"name\":"
                              "\"n\"},\"spec\":{\"name\":\"ab\",\"free\":{\"kept\":{\"deep\":1}},"
                              "\"labels\":{\"any\":\"v\"},\"inner\":{},\"pod\":{\"apiVersion\":"
                              "\"v1\",\"kind\":\"Pod\",\"metadata\":{}}}}");
    free(text);
    util_strv_clear(&unknown);
    cJSON_Delete(obj);
    cJSON_Delete(schema);
}

static void test_defaults_fill_absent_fields(void **state)
{
    (void)state;
    cJSON *schema = J(SCHEMA);
    /* nulls of non-nullable fields go before defaulting; nullable ones stay */
    cJSON *obj = J("{\"spec\":{\"name\":\"ab\",\"inner\":{},\"replicas\":null,\"opt\":null}}");
    apiserver_crd_schema_prune(schema, obj, NULL);
    apiserver_crd_schema_default(schema, obj);
    char *text = cJSON_PrintUnformatted(obj);
    assert_string_equal(text, "{\"spec\":{\"name\":\"ab\",\"inner\":{\"deep\":\"d\"},"
                              "\"opt\":null,\"replicas\":1}}");
    free(text);
    cJSON_Delete(obj);
    cJSON_Delete(schema);
}

/* Patterns whose expansion would take the regex compiler gigabytes are refused at the schema
 * check, as RE2 (upstream) refuses them: nested repetition operators, counts over 1000, and
 * nested counted repetitions; everyday patterns still pass. */
static void test_schema_check_bounds_pattern_expansion(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "a++",
        "a*+",
        "(ab){2}*",
        "a{1001}",
        "a{2,1001}",
        "(a{1000}){1000}",
        "((a{100}){100}){100}",
        "^(\\\\d+|\\\\*i(/\\\\d+)?(\\\\smet+++++++++rics+(\\\\d+|\\\\*)(/\\\\d+)?){4}$"};
    static const char *const accepted[] = {"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
                                           "^\\\\d{3}-\\\\d{4}$",
                                           "[a-z]{1,63}\\\\.[a-z]{1,63}",
                                           "^(a|b)*c+d?$",
                                           "[]a]{2}",
                                           "[[:alpha:]]{5,}",
                                           "a{1000}"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
        util_strv_t p = {0};
        char buf[512];
        snprintf(buf, sizeof(buf), "{\"type\":\"string\",\"pattern\":\"%s\"}", refused[i]);
        cJSON *s = J(buf);
        apiserver_crd_schema_check(s, "x", collect, &p);
        if (p.n != 1)
            fail_msg("pattern %s: %zu problems", refused[i], p.n);
        assert_non_null(strstr(p.v[0], "x.pattern: Invalid value"));
        cJSON_Delete(s);
        util_strv_clear(&p);
    }
    for (size_t i = 0; i < sizeof(accepted) / sizeof(*accepted); i++) {
        util_strv_t p = {0};
        char buf[512];
        snprintf(buf, sizeof(buf), "{\"type\":\"string\",\"pattern\":\"%s\"}", accepted[i]);
        cJSON *s = J(buf);
        apiserver_crd_schema_check(s, "x", collect, &p);
        if (p.n != 0)
            fail_msg("pattern %s: %s", accepted[i], p.v[0]);
        cJSON_Delete(s);
        util_strv_clear(&p);
    }
}

static void test_schema_check_refuses_bad_and_huge_schemas(void **state)
{
    (void)state;
    util_strv_t p = {0};
    cJSON *s = J("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"strin\"},\"b\":{\"type\":"
                 "\"array\"},\"c\":{\"type\":\"string\",\"pattern\":\"(a)\\\\1\"},\"d\":{}}}");
    apiserver_crd_schema_check(s, "x", collect, &p);
    assert_int_equal(p.n, 4);
    assert_true(has(&p, "x.properties[d].type: Required value: must not be empty for specified "
                        "object fields"));
    assert_true(has(&p, "x.properties[b].items: Required value: must be specified"));
    assert_true(has(&p, "x.properties[a].type: Unsupported value: \"strin\": supported values: "
                        "\"array\", \"boolean\", \"integer\", \"number\", \"object\", "
                        "\"string\""));
    cJSON_Delete(s);
    util_strv_clear(&p);
    /* 200 nested objects: refused, no deep recursion */
    util_buf_t b = {0};
    for (int i = 0; i < 200; i++)
        util_buf_puts(&b, "{\"type\":\"object\",\"properties\":{\"a\":");
    util_buf_puts(&b, "{\"type\":\"string\"}");
    for (int i = 0; i < 200; i++)
        util_buf_puts(&b, "}}");
    s = J(b.data);
    apiserver_crd_schema_check(s, "x", collect, &p);
    assert_int_equal(p.n, 1);
    assert_non_null(strstr(p.v[0], "too deep or too large"));
    cJSON *obj = J("{\"a\":{\"a\":{\"a\":1}}}");
    util_strv_t q = {0};
    apiserver_crd_schema_validate(s, obj, collect, &q); /* bounded, no crash */
    apiserver_crd_schema_default(s, obj);
    apiserver_crd_schema_prune(s, obj, NULL);
    util_strv_clear(&q);
    cJSON_Delete(obj);
    cJSON_Delete(s);
    util_buf_free(&b);
    util_strv_clear(&p);
}

static const char CRD[] =
    "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
    "\"metadata\":{\"name\":\"widgets.example.com\"},\"spec\":{\"group\":\"example.com\","
    "\"scope\":\"Cluster\",\"names\":{\"plural\":\"widgets\",\"kind\":\"Widget\",\"shortNames\":"
    "[\"wd\"],\"categories\":[\"all\"]},\"versions\":[{\"name\":\"v1beta1\",\"served\":true,"
    "\"storage\":false,\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\"}}},{\"name\":\"v1\","
    "\"served\":true,\"storage\":true,\"subresources\":{\"status\":{},\"scale\":{"
    "\"specReplicasPath\":\".spec.size\",\"statusReplicasPath\":\".status.size\"}},"
    "\"additionalPrinterColumns\":[{\"name\":\"Size\",\"type\":\"integer\",\"jsonPath\":"
    "\".spec.size\"},{\"name\":\"First\",\"type\":\"string\",\"jsonPath\":\".spec.list[0]\","
    "\"priority\":1}],\"schema\":{\"openAPIV3Schema\":{\"type\":\"object\",\"properties\":{"
    "\"spec\":{\"type\":\"object\",\"properties\":{\"size\":{\"type\":\"integer\"},\"list\":{"
    "\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}}}}}]}}";

static void test_crd_validation_and_status(void **state)
{
    (void)state;
    util_strv_t p = {0};
    cJSON *crd = J(CRD);
    apiserver_crd_validate(crd, collect, &p);
    assert_int_equal(p.n, 0);
    apiserver_crd_prepare(crd);
    const cJSON *names = cJSON_GetObjectItem(cJSON_GetObjectItem(crd, "spec"), "names");
    assert_string_equal(cJSON_GetObjectItem(names, "singular")->valuestring, "widget");
    assert_string_equal(cJSON_GetObjectItem(names, "listKind")->valuestring, "WidgetList");
    const cJSON *st = cJSON_GetObjectItem(crd, "status");
    const cJSON *conds = cJSON_GetObjectItem(st, "conditions");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(conds, 1), "type")->valuestring,
                        "Established");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(conds, 1), "status")->valuestring,
                        "True");
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItem(st, "storedVersions"), 0)->valuestring, "v1");
    /* deletion: the cleanup finalizer (once) and the Terminating condition */
    cJSON_AddStringToObject(cJSON_GetObjectItem(crd, "metadata"), "deletionTimestamp",
                            "2026-01-01T00:00:00Z");
    apiserver_crd_mark_deleting(crd);
    apiserver_crd_mark_deleting(crd);
    apiserver_crd_prepare(crd);
    const cJSON *fin = cJSON_GetObjectItem(cJSON_GetObjectItem(crd, "metadata"), "finalizers");
    assert_int_equal(cJSON_GetArraySize(fin), 1);
    assert_string_equal(cJSON_GetArrayItem(fin, 0)->valuestring,
                        "customresourcecleanup.apiextensions.k8s.io");
    conds = cJSON_GetObjectItem(cJSON_GetObjectItem(crd, "status"), "conditions");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(conds, 2), "type")->valuestring,
                        "Terminating");
    cJSON_Delete(crd);
    crd = J("{\"metadata\":{\"name\":\"x.example.com\"},\"spec\":{\"group\":\"nodot\",\"scope\":"
            "\"Everywhere\",\"names\":{\"plural\":\"Bad\",\"listKind\":\"1List\"},\"versions\":[{"
            "\"name\":\"v1\","
            "\"storage\":false}]}}");
    apiserver_crd_validate(crd, collect, &p);
    assert_true(has(&p, "spec.group: Invalid value: \"nodot\": should be a domain with at least "
                        "one dot"));
    assert_true(has(&p, "spec.names.kind: Required value"));
    assert_true(has(&p, "spec.names.listKind: Invalid value: \"1List\": a DNS-1035 label must "
                        "consist of lower case alphanumeric characters or '-', start with an "
                        "alphabetic character, and end with an alphanumeric character (e.g. "
                        "'my-name',  or 'abc-123', regex used for validation is "
                        "'[a-z]([-a-z0-9]*[a-z0-9])?')"));
    assert_true(has(&p, "spec.scope: Unsupported value: \"Everywhere\": supported values: "
                        "\"Cluster\", \"Namespaced\""));
    assert_true(has(&p, "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are "
                        "required"));
    assert_true(has(&p, "metadata.name: Invalid value: \"x.example.com\": must be "
                        "spec.names.plural+\".\"+spec.group"));
    cJSON_Delete(crd);
    util_strv_clear(&p);
}

static void test_registry_serves_established_crd(void **state)
{
    (void)state;
    cJSON *crd = J(CRD);
    apiserver_crd_prepare(crd);
    char *text = cJSON_PrintUnformatted(crd);
    unsigned gen = apiserver_crd_generation();
    apiserver_crd_sync("widgets.example.com", text, strlen(text));
    assert_true(apiserver_crd_generation() != gen);
    const apiserver_resource_t *r = apiserver_resource_find("example.com", "v1", "widgets");
    assert_non_null(r);
    assert_non_null(apiserver_crd_of(r));
    assert_null(apiserver_crd_of(apiserver_resource_find("", "v1", "pods")));
    assert_false(r->namespaced);
    assert_string_equal(r->singular, "widget");
    assert_string_equal(r->short_names[0], "wd");
    assert_string_equal(r->categories[0], "all");
    assert_string_equal(r->subresources[0], "scale");
    assert_string_equal(r->subresources[1], "status");
    assert_non_null(apiserver_resource_find("example.com", "v1beta1", "widgets"));
    assert_int_equal(apiserver_resource_count(), apiserver_nresources + 2);
    /* groups: one entry per version, the GA version first */
    assert_int_equal(apiserver_group_count(), apiserver_ngroups + 2);
    assert_string_equal(apiserver_group_at(apiserver_ngroups)->version, "v1");
    assert_string_equal(apiserver_group_at(apiserver_ngroups + 1)->version, "v1beta1");

    /* discovery: one group, both versions (v1 first), the resource in each */
    util_buf_t d = {0};
    apiserver_discovery_apis(&d, APISERVER_DISCOVERY_V2);
    cJSON *agg = J(d.data);
    const cJSON *last =
        cJSON_GetArrayItem(cJSON_GetObjectItem(agg, "items"),
                           cJSON_GetArraySize(cJSON_GetObjectItem(agg, "items")) - 1);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(last, "metadata"), "name")->valuestring,
        "example.com");
    const cJSON *vers = cJSON_GetObjectItem(last, "versions");
    assert_int_equal(cJSON_GetArraySize(vers), 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(vers, 0), "version")->valuestring,
                        "v1");
    const cJSON *res0 =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(vers, 1), "resources"), 0);
    assert_string_equal(cJSON_GetObjectItem(res0, "resource")->valuestring, "widgets");
    assert_string_equal(cJSON_GetObjectItem(res0, "scope")->valuestring, "Cluster");
    cJSON_Delete(agg);
    util_buf_reset(&d);
    apiserver_discovery_group(&d, "example.com");
    agg = J(d.data);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(agg, "versions")), 2);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(agg, "preferredVersion"), "version")->valuestring,
        "v1");
    cJSON_Delete(agg);
    util_buf_reset(&d);
    assert_int_equal(apiserver_discovery_resource_list(&d, "example.com", "v1beta1"), 0);
    assert_non_null(strstr(d.data, "\"name\":\"widgets\",\"singularName\":\"widget\""));
    assert_int_equal(apiserver_discovery_resource_list(&d, "example.com", "v2"), -ENOENT);
    util_buf_free(&d);

    /* two served versions: apiVersion is rewritten to the endpoint's */
    assert_true(apiserver_crd_rewrites(r));
    assert_false(apiserver_crd_rewrites(apiserver_resource_find("", "v1", "pods")));
    cJSON *o = J("{\"apiVersion\":\"example.com/v1beta1\",\"kind\":\"Widget\"}");
    apiserver_crd_set_api_version(r, o);
    char *ot = cJSON_PrintUnformatted(o);
    assert_string_equal(ot, "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\"}");
    free(ot);
    cJSON_Delete(o);

    /* printer columns */
    cJSON *cols = apiserver_crd_table_columns(r);
    assert_int_equal(cJSON_GetArraySize(cols), 3);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cols, 1), "name")->valuestring,
                        "Size");
    cJSON *obj = J("{\"metadata\":{\"name\":\"w\"},\"spec\":{\"size\":3,\"list\":[\"a\",\"b\"]}}");
    cJSON *cells = cJSON_CreateArray();
    apiserver_crd_table_cells(r, cells, obj, 0);
    char *ct = cJSON_PrintUnformatted(cells);
    assert_string_equal(ct, "[\"w\",3,\"a\"]");
    free(ct);
    cJSON_Delete(cells);
    cJSON_Delete(cols);
    /* scale path */
    assert_int_equal(apiserver_crd_json_path_set_int(obj, ".status.size", 2), 0);
    assert_int_equal(apiserver_crd_json_path(obj, ".status.size")->valueint, 2);
    assert_int_equal(apiserver_crd_json_path_set_int(obj, ".spec.list[0]", 2), -EINVAL);
    assert_null(apiserver_crd_json_path(obj, "spec..x"));
    cJSON_Delete(obj);

    /* OpenAPI: the definition and its GVK */
    char name[128];
    apiserver_openapi__crd_name(r, false, name, sizeof(name));
    assert_string_equal(name, "com.example.v1.Widget");
    cJSON *v3 = apiserver_openapi__v3_document("example.com", "v1");
    const cJSON *def = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(v3, "components"), "schemas"), name);
    assert_non_null(def);
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(def, "properties"), "metadata"));
    assert_non_null(cJSON_GetObjectItem(def, "x-kubernetes-group-version-kind"));
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(v3, "paths"),
                                        "/apis/example.com/v1/widgets/{name}/status"));
    cJSON_Delete(v3);
    apiserver_openapi_t *oa = apiserver_openapi_new();
    assert_non_null(apiserver_openapi_v3_doc(oa, "apis/example.com/v1beta1"));
    apiserver_openapi_free(oa);

    /* a second CRD with the same kind in the group: not accepted */
    cJSON *other = J(CRD);
    cJSON *spec = cJSON_GetObjectItem(other, "spec");
    cJSON *names = cJSON_GetObjectItem(spec, "names");
    cJSON_ReplaceItemInObject(names, "plural", cJSON_CreateString("gadgets"));
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(other, "metadata"), "name",
                              cJSON_CreateString("gadgets.example.com"));
    apiserver_crd_prepare(other);
    const cJSON *c0 = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(other, "status"), "conditions"), 0);
    assert_string_equal(cJSON_GetObjectItem(c0, "status")->valuestring, "False");
    assert_string_equal(cJSON_GetObjectItem(c0, "reason")->valuestring, "KindConflict");
    cJSON_Delete(other);

    /* deletion stops serving; the entry stays valid for holders */
    apiserver_crd_sync("widgets.example.com", NULL, 0);
    assert_null(apiserver_resource_find("example.com", "v1", "widgets"));
    assert_string_equal(r->plural, "widgets");
    assert_int_equal(apiserver_group_count(), apiserver_ngroups);
    /* re-creation reuses the entry */
    apiserver_crd_sync("widgets.example.com", text, strlen(text));
    assert_ptr_equal(apiserver_resource_find("example.com", "v1", "widgets"), r);
    apiserver_crd_reset();
    assert_null(apiserver_resource_find("example.com", "v1", "widgets"));
    free(text);
    cJSON_Delete(crd);
}

static void test_sync_survives_garbage(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "null",
        "[]",
        "{\"spec\":1}",
        "{\"status\":{\"conditions\":[{\"type\":\"Established\",\"status\":\"True\"}]},"
        "\"spec\":{\"group\":\"g.x\",\"names\":{\"plural\":\"p\",\"kind\":\"K\",\"shortNames\":"
        "[1,\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"],\"categories\":{}},"
        "\"versions\":[{\"name\":\"v1\",\"served\":true,\"subresources\":{\"scale\":1},"
        "\"schema\":{\"openAPIV3Schema\":[]},\"additionalPrinterColumns\":{}}]}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        apiserver_crd_sync("x", bad[i], strlen(bad[i]));
    const apiserver_resource_t *r = apiserver_resource_find("g.x", "v1", "p");
    assert_non_null(r);
    assert_null(r->short_names[7]);
    cJSON *cols = apiserver_crd_table_columns(r);
    assert_int_equal(cJSON_GetArraySize(cols), 2); /* Name, Age */
    cJSON_Delete(cols);
    apiserver_crd_reset();
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_object_has_no_problems),
        cmocka_unit_test(test_type_errors_use_upstream_words),
        cmocka_unit_test(test_bounds_lengths_enum_pattern_required),
        cmocka_unit_test(test_schema_check_bounds_pattern_expansion),
        cmocka_unit_test(test_pruning_drops_undeclared_fields),
        cmocka_unit_test(test_defaults_fill_absent_fields),
        cmocka_unit_test(test_schema_check_refuses_bad_and_huge_schemas),
        cmocka_unit_test(test_crd_validation_and_status),
        cmocka_unit_test(test_registry_serves_established_crd),
        cmocka_unit_test(test_sync_survives_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
