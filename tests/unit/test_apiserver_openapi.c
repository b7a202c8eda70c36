/* test_apiserver_openapi: the OpenAPI v3 index and documents, the v2 protobuf document and
 * server-side field validation, all generated from the resource table and k8s_schema. */
#include "unit.h"
#include "apiserver/apiserver_openapi.h"
#include "apiserver/apiserver_proto.h"
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

/* ===== protobuf request bodies (apiserver_proto) ===== */

typedef struct {
    uint8_t d[4096];
    size_t n;
} enc_t;

static void enc_varint(enc_t *b, uint64_t v)
{
    do {
        assert_true(b->n < sizeof(b->d));
        b->d[b->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static void enc_bytes(enc_t *b, unsigned no, const void *p, size_t n)
{
    enc_varint(b, (uint64_t)no << 3 | 2);
    enc_varint(b, n);
    assert_true(b->n + n <= sizeof(b->d));
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void enc_str(enc_t *b, unsigned no, const char *s)
{
    enc_bytes(b, no, s, strlen(s));
}

static void enc_int(enc_t *b, unsigned no, uint64_t v)
{
    enc_varint(b, (uint64_t)no << 3);
    enc_varint(b, v);
}

static void enc_msg(enc_t *b, unsigned no, const enc_t *sub)
{
    enc_bytes(b, no, sub->d, sub->n);
}

static void enc_entry(enc_t *b, unsigned no, const char *k, const char *v)
{
    enc_t e = {0};
    enc_str(&e, 1, k);
    enc_str(&e, 2, v);
    enc_msg(b, no, &e);
}

/* "k8s\0" + runtime.Unknown{typeMeta{apiVersion, kind}, raw} */
static void enc_envelope(enc_t *out, const char *api_version, const char *kind, const enc_t *raw)
{
    enc_t tm = {0};
    enc_str(&tm, 1, api_version);
    enc_str(&tm, 2, kind);
    memcpy(out->d, "k8s\0", 4);
    out->n = 4;
    enc_msg(out, 1, &tm);
    enc_msg(out, 2, raw);
    enc_str(out, 3, "");
    enc_str(out, 4, "application/vnd.kubernetes.protobuf");
}

static cJSON *enc_decode_ok(const enc_t *b)
{
    char err[256] = "";
    cJSON *obj = apiserver_proto_decode(b->d, b->n, err, sizeof(err));
    if (!obj)
        fail_msg("decode failed: %s", err);
    return obj;
}

static const char *jstr(const cJSON *obj, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    const cJSON *cur = obj;
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur;
         tok = strtok_r(NULL, ".", &save))
        cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, atoi(tok))
                                 : cJSON_GetObjectItemCaseSensitive(cur, tok);
    static char out[256];
    if (!cur)
        return NULL;
    if (cJSON_IsString(cur))
        return cur->valuestring;
    char *txt = cJSON_PrintUnformatted(cur);
    snprintf(out, sizeof(out), "%s", txt);
    cJSON_free(txt);
    return out;
}

static void test_proto_configmap_data_map_and_omitted_zero_fields(void **state)
{
    (void)state;
    enc_t meta = {0}, cm = {0}, empty = {0}, body;
    enc_str(&meta, 1, "x");
    enc_str(&meta, 2, "");     /* generateName "" is omitempty */
    enc_msg(&meta, 8, &empty); /* the zero creationTimestamp */
    enc_int(&meta, 99, 7);     /* unknown field: skipped */
    enc_msg(&cm, 1, &meta);
    enc_entry(&cm, 2, "a", "b");
    enc_entry(&cm, 2, "c", "d");
    enc_envelope(&body, "v1", "ConfigMap", &cm);
    cJSON *obj = enc_decode_ok(&body);
    assert_string_equal(jstr(obj, "apiVersion"), "v1");
    assert_string_equal(jstr(obj, "kind"), "ConfigMap");
    assert_string_equal(jstr(obj, "metadata.name"), "x");
    assert_null(jstr(obj, "metadata.generateName"));
    assert_null(jstr(obj, "metadata.creationTimestamp"));
    assert_string_equal(jstr(obj, "data.a"), "b");
    assert_string_equal(jstr(obj, "data.c"), "d");
    cJSON_Delete(obj);
}

static void test_proto_secret_bytes_map_is_base64(void **state)
{
    (void)state;
    enc_t meta = {0}, sec = {0}, body;
    enc_str(&meta, 1, "s");
    enc_msg(&sec, 1, &meta);
    enc_entry(&sec, 2, "p", "q");
    enc_str(&sec, 3, "Opaque");
    enc_envelope(&body, "v1", "Secret", &sec);
    cJSON *obj = enc_decode_ok(&body);
    assert_string_equal(jstr(obj, "data.p"), "cQ==");
    assert_string_equal(jstr(obj, "type"), "Opaque");
    cJSON_Delete(obj);
}

static void build_deployment(enc_t *body)
{
    enc_t meta = {0}, ts = {0}, spec = {0}, sel = {0}, tmpl = {0}, tmeta = {0}, pod = {0};
    enc_t ctr = {0}, port = {0}, res = {0}, q = {0}, qe = {0}, strat = {0}, ru = {0};
    enc_t surge = {0}, unavail = {0}, vol = {0}, vsrc = {0}, empty = {0}, dep = {0};
    enc_int(&ts, 1, 1700000000); /* 2023-11-14T22:13:20Z */
    enc_str(&meta, 1, "d");
    enc_msg(&meta, 8, &ts);
    enc_int(&spec, 1, 2);
    enc_entry(&sel, 1, "app", "d");
    enc_msg(&spec, 2, &sel);
    enc_entry(&tmeta, 11, "app", "d");
    enc_msg(&tmpl, 1, &tmeta);
    enc_int(&port, 3, 8080);
    enc_str(&port, 4, "TCP");
    enc_int(&port, 2, 0); /* hostPort 0: omitempty */
    enc_str(&q, 1, "500m");
    enc_str(&qe, 1, "cpu");
    enc_msg(&qe, 2, &q);
    enc_msg(&res, 1, &qe);
    enc_str(&ctr, 1, "busybox");
    enc_str(&ctr, 2, "busybox");
    enc_msg(&ctr, 6, &port);
    enc_msg(&ctr, 8, &res);
    enc_str(&vol, 1, "scratch");
    enc_msg(&vsrc, 2, &empty);
    enc_msg(&vol, 2, &vsrc); /* VolumeSource is ",inline" in JSON */
    enc_msg(&pod, 1, &vol);
    enc_msg(&pod, 2, &ctr);
    enc_int(&pod, 4, 0); /* terminationGracePeriodSeconds is a pointer: 0 stays */
    enc_msg(&tmpl, 2, &pod);
    enc_msg(&spec, 3, &tmpl);
    enc_int(&surge, 1, 1);
    enc_str(&surge, 3, "25%");
    enc_int(&unavail, 2, 1);
    enc_msg(&ru, 2, &surge);
    enc_msg(&ru, 1, &unavail);
    enc_str(&strat, 1, "RollingUpdate");
    enc_msg(&strat, 2, &ru);
    enc_msg(&spec, 4, &strat);
    enc_msg(&dep, 1, &meta);
    enc_msg(&dep, 2, &spec);
    enc_msg(&dep, 3, &empty);
    enc_envelope(body, "apps/v1", "Deployment", &dep);
}

static void test_proto_deployment_nested_quantity_intorstring_time(void **state)
{
    (void)state;
    enc_t body;
    build_deployment(&body);
    cJSON *obj = enc_decode_ok(&body);
    assert_string_equal(jstr(obj, "kind"), "Deployment");
    assert_string_equal(jstr(obj, "metadata.creationTimestamp"), "2023-11-14T22:13:20Z");
    assert_string_equal(jstr(obj, "spec.replicas"), "2");
    assert_string_equal(jstr(obj, "spec.selector.matchLabels.app"), "d");
    assert_string_equal(jstr(obj, "spec.template.metadata.labels.app"), "d");
    assert_string_equal(jstr(obj, "spec.template.spec.containers.0.image"), "busybox");
    assert_string_equal(jstr(obj, "spec.template.spec.containers.0.ports"),
                        "[{\"containerPort\":8080,\"protocol\":\"TCP\"}]");
    assert_string_equal(jstr(obj, "spec.template.spec.containers.0.resources.limits.cpu"), "500m");
    assert_string_equal(jstr(obj, "spec.template.spec.volumes.0"),
                        "{\"name\":\"scratch\",\"emptyDir\":{}}");
    assert_string_equal(jstr(obj, "spec.template.spec.terminationGracePeriodSeconds"), "0");
    assert_string_equal(jstr(obj, "spec.strategy.rollingUpdate.maxSurge"), "25%");
    assert_string_equal(jstr(obj, "spec.strategy.rollingUpdate.maxUnavailable"), "1");
    assert_string_equal(jstr(obj, "status"), "{}");
    cJSON_Delete(obj);
}

static void test_proto_rejects_bad_envelopes(void **state)
{
    (void)state;
    char err[256];
    enc_t raw = {0}, body;
    assert_null(apiserver_proto_decode("", 0, err, sizeof(err)));
    assert_null(apiserver_proto_decode("{\"kind\":1}", 10, err, sizeof(err)));
    enc_envelope(&body, "v1", "NoSuchKind", &raw);
    assert_null(apiserver_proto_decode(body.d, body.n, err, sizeof(err)));
    assert_non_null(strstr(err, "NoSuchKind"));
    enc_str(&raw, 1, "not a message");
    enc_envelope(&body, "v1", "ConfigMap", &raw);
    assert_null(apiserver_proto_decode(body.d, body.n, err, sizeof(err)));
    enc_envelope(&body, "v1", "ConfigMap", &raw);
    body.d[body.n++] = 0x0a; /* a trailing key without its value */
    assert_null(apiserver_proto_decode(body.d, body.n, err, sizeof(err)));
}

static void test_proto_truncated_and_mutated_input_never_crashes(void **state)
{
    (void)state;
    enc_t body, m;
    char err[256];
    build_deployment(&body);
    for (size_t n = 0; n < body.n; n++) { /* every prefix: error or a valid object */
        cJSON *obj = apiserver_proto_decode(body.d, n, err, sizeof(err));
        cJSON_Delete(obj);
    }
    srand(42);
    for (int i = 0; i < 20000; i++) {
        m = body;
        for (int k = 0, nk = 1 + rand() % 4; k < nk; k++)
            m.d[4 + (size_t)rand() % (m.n - 4)] = (uint8_t)rand();
        cJSON *obj = apiserver_proto_decode(m.d, m.n, err, sizeof(err));
        if (obj)
            assert_true(cJSON_IsObject(obj));
        cJSON_Delete(obj);
    }
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
        cmocka_unit_test(test_proto_configmap_data_map_and_omitted_zero_fields),
        cmocka_unit_test(test_proto_secret_bytes_map_is_base64),
        cmocka_unit_test(test_proto_deployment_nested_quantity_intorstring_time),
        cmocka_unit_test(test_proto_rejects_bad_envelopes),
        cmocka_unit_test(test_proto_truncated_and_mutated_input_never_crashes),
    };
    return cmocka_run_group_tests(tests, setup_oa, teardown_oa);
}
