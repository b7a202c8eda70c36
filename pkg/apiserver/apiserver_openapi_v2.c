/* apiserver_openapi_v2: the swagger 2.0 document kubectl 1.27 reads for apply, create and
 * explain: built as JSON from the v3 documents, and encoded as gnostic's
 * openapi_v2.Document protobuf (github.com/google/gnostic-models openapiv2/OpenAPIv2.proto),
 * the only form kubectl accepts. */
#include "apiserver_openapi.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver.h"

#define V2_REF "#/definitions/"
#define V3_REF "#/components/schemas/"

/* ---- swagger 2.0 as JSON -------------------------------------------------------------------- */

static cJSON *v2_param(const cJSON *p3)
{
    cJSON *p = cJSON_Duplicate(p3, true);
    cJSON *s = cJSON_DetachItemFromObjectCaseSensitive(p, "schema");
    cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "type");
    if (cJSON_IsString(t))
        cJSON_AddStringToObject(p, "type", t->valuestring);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "uniqueItems")))
        cJSON_AddBoolToObject(p, "uniqueItems", true);
    cJSON_Delete(s);
    return p;
}

static cJSON *v2_params(const cJSON *params3)
{
    cJSON *out = cJSON_CreateArray();
    const cJSON *p;
    cJSON_ArrayForEach(p, params3) cJSON_AddItemToArray(out, v2_param(p));
    return out;
}

/* The v3 "content" map's first schema, with its $ref pointed at the v2 definitions. */
static cJSON *v2_content_schema(const cJSON *content)
{
    const cJSON *first = content ? content->child : NULL;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(first, "schema");
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(s, "$ref");
    cJSON *out = cJSON_CreateObject();
    if (cJSON_IsString(ref) && !strncmp(ref->valuestring, V3_REF, strlen(V3_REF))) {
        char buf[400];
        snprintf(buf, sizeof(buf), V2_REF "%s", ref->valuestring + strlen(V3_REF));
        cJSON_AddStringToObject(out, "$ref", buf);
    } else {
        cJSON_AddStringToObject(out, "type", "object");
    }
    return out;
}

static cJSON *v2_operation(const cJSON *op3)
{
    cJSON *op = cJSON_CreateObject();
    cJSON_AddItemToObject(op, "operationId",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(op3, "operationId"), 1));
    cJSON *produces = cJSON_AddArrayToObject(op, "produces");
    cJSON_AddItemToArray(produces, cJSON_CreateString("application/json"));
    cJSON *params = v2_params(cJSON_GetObjectItemCaseSensitive(op3, "parameters"));
    const cJSON *rb = cJSON_GetObjectItemCaseSensitive(op3, "requestBody");
    if (rb) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(rb, "content");
        cJSON *consumes = cJSON_AddArrayToObject(op, "consumes");
        const cJSON *ct;
        cJSON_ArrayForEach(ct, content)
            cJSON_AddItemToArray(consumes, cJSON_CreateString(ct->string));
        cJSON *body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "name", "body");
        cJSON_AddStringToObject(body, "in", "body");
        cJSON_AddBoolToObject(body, "required", true);
        cJSON_AddItemToObject(body, "schema", v2_content_schema(content));
        cJSON_AddItemToArray(params, body);
    }
    cJSON_AddItemToObject(op, "parameters", params);
    const cJSON *ok3 =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(op3, "responses"), "200");
    cJSON *ok = cJSON_AddObjectToObject(cJSON_AddObjectToObject(op, "responses"), "200");
    cJSON_AddStringToObject(ok, "description", "OK");
    cJSON_AddItemToObject(ok, "schema",
                          v2_content_schema(cJSON_GetObjectItemCaseSensitive(ok3, "content")));
    const cJSON *m;
    cJSON_ArrayForEach(m, op3)
    {
        if (!strncmp(m->string, "x-", 2))
            cJSON_AddItemToObject(op, m->string, cJSON_Duplicate(m, true));
    }
    return op;
}

static const char *const methods[] = {"get", "put", "post", "delete", "patch"};

static void v2_add_paths(cJSON *paths, const cJSON *paths3)
{
    const cJSON *item3;
    cJSON_ArrayForEach(item3, paths3)
    {
        cJSON *item = cJSON_CreateObject();
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
            const cJSON *op3 = cJSON_GetObjectItemCaseSensitive(item3, methods[i]);
            if (op3)
                cJSON_AddItemToObject(item, methods[i], v2_operation(op3));
        }
        cJSON_AddItemToObject(item, "parameters",
                              v2_params(cJSON_GetObjectItemCaseSensitive(item3, "parameters")));
        cJSON_AddItemToObject(paths, item3->string, item);
    }
}

cJSON *apiserver_openapi__v2_json(void)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "swagger", "2.0");
    cJSON *info = cJSON_AddObjectToObject(doc, "info");
    cJSON_AddStringToObject(info, "title", "Kubernetes");
    cJSON_AddStringToObject(info, "version", APISERVER_KUBE_GIT_VERSION);
    cJSON *paths = cJSON_AddObjectToObject(doc, "paths");
    unsigned nt = k8s_schema_ntypes();
    unsigned char *seen = calloc(nt, 1);
    for (size_t g = 0; g < apiserver_group_count(); g++) {
        const apiserver_group_t *gv = apiserver_group_at(g);
        cJSON *v3 = apiserver_openapi__v3_document(gv->name, gv->version);
        v2_add_paths(paths, cJSON_GetObjectItemCaseSensitive(v3, "paths"));
        cJSON_Delete(v3);
        apiserver_openapi__reach_gv(gv->name, gv->version, seen);
    }
    cJSON *defs = cJSON_AddObjectToObject(doc, "definitions");
    for (unsigned i = 0; i < nt; i++)
        if (seen[i])
            cJSON_AddItemToObject(defs, apiserver_openapi__name((int)i),
                                  apiserver_openapi__type_schema((int)i, V2_REF, false));
    for (size_t g = 0; g < apiserver_group_count(); g++)
        apiserver_openapi__add_crd_schemas(defs, apiserver_group_at(g)->name,
                                           apiserver_group_at(g)->version, V2_REF, false);
    free(seen);
    return doc;
}

/* ---- protobuf encoding --------------------------------------------------------------------- */

enum { WT_VARINT = 0, WT_LEN = 2 };

static void pb_varint(util_buf_t *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    util_buf_append(b, tmp, n);
}

static void pb_bytes(util_buf_t *b, unsigned field, const void *data, size_t len)
{
    pb_varint(b, (uint64_t)field << 3 | WT_LEN);
    pb_varint(b, len);
    util_buf_append(b, data, len);
}

static void pb_str(util_buf_t *b, unsigned field, const char *s)
{
    if (s && *s)
        pb_bytes(b, field, s, strlen(s));
}

static void pb_bool(util_buf_t *b, unsigned field, bool v)
{
    if (!v)
        return;
    pb_varint(b, (uint64_t)field << 3 | WT_VARINT);
    pb_varint(b, 1);
}

/* Appends sub as a length-delimited field and frees it. */
static void pb_msg(util_buf_t *b, unsigned field, util_buf_t *sub)
{
    pb_bytes(b, field, sub->data ? sub->data : "", sub->len);
    util_buf_free(sub);
}

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A vendor extension's value as YAML: a string, a map of strings, or a list of those maps. */
static void yaml_of(util_buf_t *y, const cJSON *v)
{
    if (cJSON_IsBool(v)) { /* x-kubernetes-preserve-unknown-fields, x-kubernetes-int-or-string */
        util_buf_puts(y, cJSON_IsTrue(v) ? "true\n" : "false\n");
        return;
    }
    if (cJSON_IsString(v)) {
        util_buf_json_string(y, v->valuestring, strlen(v->valuestring));
        util_buf_puts(y, "\n");
        return;
    }
    const cJSON *e, *m;
    if (cJSON_IsObject(v)) {
        cJSON_ArrayForEach(m, v)
        {
            util_buf_printf(y, "%s: ", m->string);
            yaml_of(y, m);
        }
        return;
    }
    cJSON_ArrayForEach(e, v)
    {
        bool first = true;
        cJSON_ArrayForEach(m, e)
        {
            util_buf_printf(y, "%s%s: ", first ? "- " : "  ", m->string);
            util_buf_json_string(y, m->valuestring ? m->valuestring : "",
                                 m->valuestring ? strlen(m->valuestring) : 0);
            util_buf_puts(y, "\n");
            first = false;
        }
    }
}

/* Every x- member of o as a repeated NamedAny field. */
static void pb_extensions(util_buf_t *b, unsigned field, const cJSON *o)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, o)
    {
        if (strncmp(m->string, "x-", 2))
            continue;
        util_buf_t yaml = {0}, any = {0}, named = {0};
        yaml_of(&yaml, m);
        pb_str(&any, 2, yaml.data);
        util_buf_free(&yaml);
        pb_str(&named, 1, m->string);
        pb_msg(&named, 2, &any);
        pb_msg(b, field, &named);
    }
}

static void pb_schema(util_buf_t *b, const cJSON *s);

static void pb_named_schemas(util_buf_t *b, unsigned field, const cJSON *map)
{
    util_buf_t list = {0};
    const cJSON *m;
    cJSON_ArrayForEach(m, map)
    {
        util_buf_t named = {0}, value = {0};
        pb_str(&named, 1, m->string);
        pb_schema(&value, m);
        pb_msg(&named, 2, &value);
        pb_msg(&list, 1, &named);
    }
    pb_msg(b, field, &list); /* present even when empty: an object with no properties */
}

/* gnostic Schema: _ref 1, format 2, description 4, required 19, additional_properties 21,
 * type 22, items 23, properties 25, vendor_extension 31. */
static void pb_schema(util_buf_t *b, const cJSON *s)
{
    pb_str(b, 1, jstr(s, "$ref"));
    pb_str(b, 2, jstr(s, "format"));
    pb_str(b, 4, jstr(s, "description"));
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(s, "required"))
        pb_str(b, 19, e->valuestring);
    const cJSON *ap = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties");
    if (ap) {
        util_buf_t item = {0}, sub = {0};
        pb_schema(&sub, ap);
        pb_msg(&item, 1, &sub);
        pb_msg(b, 21, &item);
    }
    if (jstr(s, "type")) {
        util_buf_t t = {0};
        pb_str(&t, 1, jstr(s, "type"));
        pb_msg(b, 22, &t);
    }
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
    if (items) {
        util_buf_t item = {0}, sub = {0};
        pb_schema(&sub, items);
        pb_msg(&item, 1, &sub);
        pb_msg(b, 23, &item);
    }
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    if (props)
        pb_named_schemas(b, 25, props);
    pb_extensions(b, 31, s);
}

/* ParametersItem{parameter 1: Parameter{body 1 | non_body 2: {query 3 | path 4}}}. */
static void pb_parameter(util_buf_t *b, unsigned field, const cJSON *p)
{
    const char *in = jstr(p, "in");
    util_buf_t sub = {0}, param = {0}, item = {0};
    bool required = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "required"));
    if (in && !strcmp(in, "body")) {
        pb_str(&sub, 2, jstr(p, "name"));
        pb_str(&sub, 3, in);
        pb_bool(&sub, 4, required);
        util_buf_t schema = {0};
        pb_schema(&schema, cJSON_GetObjectItemCaseSensitive(p, "schema"));
        pb_msg(&sub, 5, &schema);
        pb_msg(&param, 1, &sub);
    } else {
        bool path = in && !strcmp(in, "path");
        bool unique = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "uniqueItems"));
        util_buf_t nonbody = {0};
        pb_bool(&sub, 1, required);
        pb_str(&sub, 2, in);
        pb_str(&sub, 3, jstr(p, "description"));
        pb_str(&sub, 4, jstr(p, "name"));
        pb_str(&sub, path ? 5 : 6, jstr(p, "type"));
        pb_bool(&sub, path ? 19 : 20, unique);
        pb_msg(&nonbody, path ? 4 : 3, &sub);
        pb_msg(&param, 2, &nonbody);
    }
    pb_msg(&item, 1, &param);
    pb_msg(b, field, &item);
}

static void pb_parameters(util_buf_t *b, unsigned field, const cJSON *params)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, params) pb_parameter(b, field, p);
}

/* Operation: operation_id 5, produces 6, consumes 7, parameters 8, responses 9,
 * vendor_extension 13. */
static void pb_operation(util_buf_t *b, const cJSON *op)
{
    const cJSON *e;
    pb_str(b, 5, jstr(op, "operationId"));
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(op, "produces"))
        pb_str(b, 6, e->valuestring);
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(op, "consumes"))
        pb_str(b, 7, e->valuestring);
    pb_parameters(b, 8, cJSON_GetObjectItemCaseSensitive(op, "parameters"));
    util_buf_t responses = {0}, named = {0}, value = {0}, response = {0};
    pb_str(&response, 1, "OK");
    pb_msg(&value, 1, &response);
    pb_str(&named, 1, "200");
    pb_msg(&named, 2, &value);
    pb_msg(&responses, 1, &named);
    pb_msg(b, 9, &responses);
    pb_extensions(b, 13, op);
}

void apiserver_openapi__v2_proto(util_buf_t *out)
{
    static const unsigned method_fields[] = {2, 3, 4, 5, 8}; /* get put post delete patch */
    cJSON *doc = apiserver_openapi__v2_json();
    util_buf_t info = {0}, paths = {0};
    pb_str(out, 1, "2.0");
    pb_str(&info, 1, "Kubernetes");
    pb_str(&info, 2, APISERVER_KUBE_GIT_VERSION);
    pb_msg(out, 2, &info);
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(doc, "paths"))
    {
        util_buf_t named = {0}, pi = {0};
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
            const cJSON *op = cJSON_GetObjectItemCaseSensitive(item, methods[i]);
            if (!op)
                continue;
            util_buf_t o = {0};
            pb_operation(&o, op);
            pb_msg(&pi, method_fields[i], &o);
        }
        pb_parameters(&pi, 9, cJSON_GetObjectItemCaseSensitive(item, "parameters"));
        pb_str(&named, 1, item->string);
        pb_msg(&named, 2, &pi);
        pb_msg(&paths, 2, &named);
    }
    pb_msg(out, 8, &paths);
    pb_named_schemas(out, 9, cJSON_GetObjectItemCaseSensitive(doc, "definitions"));
    cJSON_Delete(doc);
}
