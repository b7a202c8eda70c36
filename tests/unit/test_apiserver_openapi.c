/* test_apiserver_openapi: the OpenAPI v3 index and documents, the v2 protobuf document and
 * server-side field validation, all generated from the resource table and k8s_schema. */
#include "unit.h"
#include "apiserver/apiserver_openapi.h"
#include "apiserver/apiserver_validate.h"

#include <errno.h>

#include <mbedtls/sha512.h>

static apiserver_openapi_t *oa;

static int setup_oa(void **state)
{
    (void)state;
    oa = apiserver_openapi_new();
    return oa ? 0 : -1;
}

static int teardown_oa(void **state)
{
    (void)state;
    oa = apiserver_openapi_free(oa);
    return 0;
}

static cJSON *parse_doc(const apiserver_openapi_doc_t *d)
{
    assert_non_null(d);
    cJSON *j = cJSON_ParseWithLength(d->body, d->len);
    assert_non_null(j);
    return j;
}

static const cJSON *at(const cJSON *o, const char *a, const char *b, const char *c)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    if (c)
        v = cJSON_GetObjectItemCaseSensitive(v, c);
    assert_non_null(v);
    return v;
}

static void test_v3_index_lists_every_group_version_with_its_hash(void **state)
{
    (void)state;
    cJSON *index = parse_doc(apiserver_openapi_v3_index(oa));
    for (size_t g = 0; g < apiserver_ngroups; g++) {
        char path[256], url[512], hex[129];
        const apiserver_group_t *gv = &apiserver_groups[g];
        if (gv->name[0])
            snprintf(path, sizeof(path), "apis/%s/%s", gv->name, gv->version);
        else
            snprintf(path, sizeof(path), "api/%s", gv->version);
        const apiserver_openapi_doc_t *d = apiserver_openapi_v3_doc(oa, path);
        assert_non_null(d);
        unsigned char sum[64];
        mbedtls_sha512((const unsigned char *)d->body, d->len, sum, 0);
        for (size_t i = 0; i < 64; i++)
            snprintf(hex + 2 * i, 3, "%02X", sum[i]);
        assert_string_equal(hex, d->hash);
        snprintf(url, sizeof(url), "/openapi/v3/%s?hash=%s", path, hex);
        assert_string_equal(at(index, "paths", path, "serverRelativeURL")->valuestring, url);
        cJSON *doc = parse_doc(d);
        assert_string_equal(at(doc, "openapi", NULL, NULL)->valuestring, "3.0.0");
        cJSON_Delete(doc);
    }
    assert_int_equal(cJSON_GetArraySize(at(index, "paths", NULL, NULL)), (int)apiserver_ngroups);
    assert_null(apiserver_openapi_v3_doc(oa, "apis/nope/v1"));
    cJSON_Delete(index);
}

/* Every $ref of a document names one of its components. */
static void check_refs(const cJSON *v, const cJSON *schemas)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        if (e->string && !strcmp(e->string, "$ref")) {
            const char *prefix = "#/components/schemas/";
            assert_memory_equal(e->valuestring, prefix, strlen(prefix));
            assert_non_null(
                cJSON_GetObjectItemCaseSensitive(schemas, e->valuestring + strlen(prefix)));
        }
        check_refs(e, schemas);
    }
}

static void test_v3_configmap_schema_and_patch_operation(void **state)
{
    (void)state;
    cJSON *doc = parse_doc(apiserver_openapi_v3_doc(oa, "api/v1"));
    const cJSON *schemas = at(doc, "components", "schemas", NULL);
    const cJSON *cm = at(schemas, "io.k8s.api.core.v1.ConfigMap", NULL, NULL);
    const cJSON *data = at(cm, "properties", "data", NULL);
    assert_string_equal(at(data, "type", NULL, NULL)->valuestring, "object");
    assert_string_equal(at(data, "additionalProperties", "type", NULL)->valuestring, "string");
    assert_non_null(strstr(at(data, "description", NULL, NULL)->valuestring, "configuration data"));
    const cJSON *gvk = cJSON_GetArrayItem(at(cm, "x-kubernetes-group-version-kind", 0, 0), 0);
    assert_string_equal(at(gvk, "group", NULL, NULL)->valuestring, "");
    assert_string_equal(at(gvk, "version", NULL, NULL)->valuestring, "v1");
    assert_string_equal(at(gvk, "kind", NULL, NULL)->valuestring, "ConfigMap");
    /* metadata refers to apimachinery's ObjectMeta, wrapped so its description survives */
    const cJSON *meta = at(cm, "properties", "metadata", NULL);
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(meta, "$ref");
    if (!ref)
        ref = at(cJSON_GetArrayItem(at(meta, "allOf", NULL, NULL), 0), "$ref", NULL, NULL);
    assert_string_equal(ref->valuestring,
                        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    check_refs(doc, schemas);

    const cJSON *patch = at(at(doc, "paths", NULL, NULL),
                            "/api/v1/namespaces/{namespace}/configmaps/{name}", "patch", NULL);
    assert_string_equal(at(patch, "x-kubernetes-action", NULL, NULL)->valuestring, "patch");
    assert_string_equal(at(patch, "x-kubernetes-group-version-kind", "kind", NULL)->valuestring,
                        "ConfigMap");
    bool fv = false, fm = false, dr = false;
    const cJSON *p;
    cJSON_ArrayForEach(p, at(patch, "parameters", NULL, NULL))
    {
        const char *n = at(p, "name", NULL, NULL)->valuestring;
        fv |= !strcmp(n, "fieldValidation");
        fm |= !strcmp(n, "fieldManager");
        dr |= !strcmp(n, "dryRun");
    }
    assert_true(fv && fm && dr);
    cJSON_Delete(doc);
}

/* ---- a minimal protobuf reader ---- */

typedef struct pb {
    const unsigned char *p, *end;
} pb_t;

static uint64_t pb_varint(pb_t *r)
{
    uint64_t v = 0;
    for (int shift = 0; r->p < r->end; shift += 7) {
        unsigned char b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    fail_msg("truncated varint");
    return 0;
}

/* The next field: its number, and for length-delimited fields its bytes; false at the end. */
static bool pb_next(pb_t *r, unsigned *field, pb_t *sub)
{
    if (r->p >= r->end)
        return false;
    uint64_t tag = pb_varint(r);
    *field = (unsigned)(tag >> 3);
    if ((tag & 7) == 0) {
        sub->p = sub->end = NULL;
        pb_varint(r);
        return true;
    }
    assert_int_equal(tag & 7, 2);
    uint64_t len = pb_varint(r);
    assert_true(len <= (uint64_t)(r->end - r->p));
    sub->p = r->p;
    sub->end = r->p + len;
    r->p += len;
    return true;
}

static bool pb_is(const pb_t *s, const char *str)
{
    return (size_t)(s->end - s->p) == strlen(str) && !memcmp(s->p, str, strlen(str));
}

/* Of a repeated Named* field `field` in m, the value (field 2) of the entry named `name`. */
static bool pb_named(pb_t m, unsigned field, const char *name, pb_t *value)
{
    unsigned f, nf;
    pb_t sub, x;
    while (pb_next(&m, &f, &sub)) {
        if (f != field)
            continue;
        bool match = false;
        pb_t entry = sub;
        while (pb_next(&entry, &nf, &x)) {
            if (nf == 1)
                match = pb_is(&x, name);
            else if (nf == 2 && match) {
                *value = x;
                return true;
            }
        }
    }
    return false;
}

static bool pb_field(pb_t m, unsigned field, pb_t *value)
{
    unsigned f;
    pb_t sub;
    while (pb_next(&m, &f, &sub))
        if (f == field) {
            *value = sub;
            return true;
        }
    return false;
}

static void test_v2_protobuf_has_definitions_and_patch_parameters(void **state)
{
    (void)state;
    const apiserver_openapi_doc_t *d = apiserver_openapi_v2_proto(oa);
    pb_t doc = {(const unsigned char *)d->body, (const unsigned char *)d->body + d->len}, v, x;
    assert_true(pb_field(doc, 1, &v) && pb_is(&v, "2.0"));
    /* definitions (9) -> NamedSchema ConfigMap -> vendor_extension (31) gvk -> Any.yaml (2) */
    pb_t defs, cm, props, data, any;
    assert_true(pb_field(doc, 9, &defs));
    assert_true(pb_named(defs, 1, "io.k8s.api.core.v1.ConfigMap", &cm));
    assert_true(pb_named(cm, 31, "x-kubernetes-group-version-kind", &any));
    assert_true(pb_field(any, 2, &x));
    assert_true(pb_is(&x, "- group: \"\"\n  kind: \"ConfigMap\"\n  version: \"v1\"\n"));
    /* properties (25) data: type (22) object, additional_properties (21) of strings */
    assert_true(pb_field(cm, 25, &props));
    assert_true(pb_named(props, 1, "data", &data));
    assert_true(pb_field(data, 22, &v) && pb_field(v, 1, &x) && pb_is(&x, "object"));
    assert_true(pb_field(data, 21, &v) && pb_field(v, 1, &v) && pb_field(v, 22, &v));
    assert_true(pb_field(v, 1, &x) && pb_is(&x, "string"));
    /* paths (8) -> the ConfigMap item -> patch (8) -> parameters (8) has fieldValidation */
    pb_t paths, item, patch;
    assert_true(pb_field(doc, 8, &paths));
    assert_true(pb_named(paths, 2, "/api/v1/namespaces/{namespace}/configmaps/{name}", &item));
    assert_true(pb_field(item, 8, &patch));
    assert_true(pb_named(patch, 13, "x-kubernetes-group-version-kind", &any));
    bool found = false;
    unsigned f;
    pb_t p = patch, sub;
    while (pb_next(&p, &f, &sub)) {
        pb_t q;
        if (f == 8 && pb_field(sub, 1, &q) && pb_field(q, 2, &q) && pb_field(q, 3, &q) &&
            pb_field(q, 4, &x))
            found |= pb_is(&x, "fieldValidation");
    }
    assert_true(found);
}

static void test_v2_json_matches_proto_definitions(void **state)
{
    (void)state;
    cJSON *doc = parse_doc(apiserver_openapi_v2_json(oa));
    assert_string_equal(at(doc, "swagger", NULL, NULL)->valuestring, "2.0");
    const cJSON *lease = at(doc, "definitions", "io.k8s.api.coordination.v1.Lease", NULL);
    assert_string_equal(at(lease, "properties", "spec", NULL)->child->valuestring,
                        "#/definitions/io.k8s.api.coordination.v1.LeaseSpec");
    cJSON_Delete(doc);
}

/* ---- field validation ---- */

static void problems_of(const char *json, util_strv_t *out)
{
    cJSON *obj = cJSON_Parse(json);
    assert_non_null(obj);
    apiserver_validate_fields(k8s_schema_find("apps", "v1", "Deployment"), obj, out);
    cJSON_Delete(obj);
}

static void test_validate_finds_unknown_nested_and_duplicate_fields(void **state)
{
    (void)state;
    util_strv_t p = {0};
    problems_of("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"extra\":1,"
                "\"metadata\":{\"name\":\"d\",\"labels\":{\"any\":\"x\"},\"nam\":\"y\"},"
                "\"spec\":{\"replicas\":1,\"replicas\":2,"
                "\"selector\":{\"matchLabels\":{\"a\":\"b\"}},"
                "\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"i\"},"
                "{\"name\":\"b\",\"imag\":\"i\",\"env\":[{\"name\":\"E\",\"valu\":\"1\"}],"
                "\"resources\":{\"limits\":{\"cpu\":\"1\"}}}]}}}}",
                &p);
    assert_int_equal(p.n, 5);
    assert_string_equal(p.v[0], "unknown field \"extra\"");
    assert_string_equal(p.v[1], "unknown field \"metadata.nam\"");
    assert_string_equal(p.v[2], "duplicate field \"spec.replicas\"");
    assert_string_equal(p.v[3], "unknown field \"spec.template.spec.containers[1].imag\"");
    assert_string_equal(p.v[4], "unknown field \"spec.template.spec.containers[1].env[0].valu\"");
    util_strv_clear(&p);
}

static void test_validate_accepts_known_fields(void **state)
{
    (void)state;
    util_strv_t p = {0};
    problems_of("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\","
                "\"annotations\":{\"x\":\"y\"},\"creationTimestamp\":null},\"spec\":{"
                "\"strategy\":{\"rollingUpdate\":{\"maxSurge\":\"25%\"}},\"template\":{"
                "\"metadata\":{\"labels\":{\"a\":\"b\"}},\"spec\":{\"containers\":[{\"name\":"
                "\"c\",\"ports\":[{\"containerPort\":80}]}]}}},\"status\":{}}",
                &p);
    assert_int_equal(p.n, 0);
    cJSON *cm = cJSON_Parse("{\"data\":{\"any-key\":\"v\"},\"binaryData\":{},\"immutable\":true}");
    apiserver_validate_fields(k8s_schema_find("", "v1", "ConfigMap"), cm, &p);
    assert_int_equal(p.n, 0);
    cJSON_Delete(cm);
}

static void test_field_validation_directive(void **state)
{
    (void)state;
    apiserver_field_validation_t fv;
    assert_int_equal(apiserver_field_validation_parse("", &fv), 0);
    assert_int_equal(fv, APISERVER_FV_WARN);
    assert_int_equal(apiserver_field_validation_parse("a=b&fieldValidation=Strict", &fv), 0);
    assert_int_equal(fv, APISERVER_FV_STRICT);
    assert_int_equal(apiserver_field_validation_parse("fieldValidation=Ignore", &fv), 0);
    assert_int_equal(fv, APISERVER_FV_IGNORE);
    assert_int_equal(apiserver_field_validation_parse("fieldValidation=strict", &fv), -EINVAL);
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v3_index_lists_every_group_version_with_its_hash),
        cmocka_unit_test(test_v3_configmap_schema_and_patch_operation),
        cmocka_unit_test(test_v2_protobuf_has_definitions_and_patch_parameters),
        cmocka_unit_test(test_v2_json_matches_proto_definitions),
        cmocka_unit_test(test_validate_finds_unknown_nested_and_duplicate_fields),
        cmocka_unit_test(test_validate_accepts_known_fields),
        cmocka_unit_test(test_field_validation_directive),
    };
    return cmocka_run_group_tests(tests, setup_oa, teardown_oa);
}
