/* apiserver_openapi_crd: the OpenAPI definitions of custom resources: the CRD version's
 * openAPIV3Schema with apiVersion, kind and metadata added, and its List, named as upstream
 * names them (reversed group, version, kind: "com.example.stable.v1.CronTab"). */
#include "apiserver_openapi.h"

#include <stdlib.h>
#include <string.h>

#include "apiserver_crd.h"

void apiserver_openapi__crd_name(const apiserver_resource_t *r, bool list, char *out, size_t n)
{
    util_buf_t b = {0};
    const char *g = r->group, *end = g + strlen(g);
    while (end > g) { /* labels of the group, last first */
        const char *dot = end;
        while (dot > g && dot[-1] != '.')
            dot--;
        util_buf_printf(&b, "%s%.*s", b.len ? "." : "", (int)(end - dot), dot);
        end = dot > g ? dot - 1 : g;
    }
    snprintf(out, n, "%s.%s.%s%s", b.data ? b.data : "", r->version, r->kind, list ? "List" : "");
    util_buf_free(&b);
}

static cJSON *ref_to(const char *ref_prefix, const char *type_name, bool v3, const char *desc)
{
    const k8s_kind_t *t = k8s_schema_type_by_name(type_name);
    cJSON *s = cJSON_CreateObject();
    char buf[400];
    snprintf(buf, sizeof(buf), "%s%s", ref_prefix,
             t ? apiserver_openapi__name(k8s_schema_type_index(t)) : type_name);
    if (v3) { /* OpenAPI 3.0 ignores siblings of $ref: wrapped as upstream does */
        cJSON *one = cJSON_CreateObject();
        cJSON_AddStringToObject(one, "$ref", buf);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(s, "allOf"), one);
    } else {
        cJSON_AddStringToObject(s, "$ref", buf);
    }
    cJSON_AddStringToObject(s, "description", desc);
    return s;
}

static void add_type_meta(cJSON *props)
{
    cJSON *av = cJSON_CreateObject();
    cJSON_AddStringToObject(av, "description",
                            "APIVersion defines the versioned schema of this representation of an "
                            "object.");
    cJSON_AddStringToObject(av, "type", "string");
    cJSON *k = cJSON_CreateObject();
    cJSON_AddStringToObject(k, "description",
                            "Kind is a string value representing the REST resource this object "
                            "represents.");
    cJSON_AddStringToObject(k, "type", "string");
    cJSON_DeleteItemFromObjectCaseSensitive(props, "apiVersion");
    cJSON_DeleteItemFromObjectCaseSensitive(props, "kind");
    cJSON_AddItemToObject(props, "apiVersion", av);
    cJSON_AddItemToObject(props, "kind", k);
}

static void add_gvk(cJSON *s, const apiserver_resource_t *r, bool list)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "group", r->group);
    char kind[300];
    snprintf(kind, sizeof(kind), "%s%s", r->kind, list ? "List" : "");
    cJSON_AddStringToObject(e, "kind", kind);
    cJSON_AddStringToObject(e, "version", r->version);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(s, "x-kubernetes-group-version-kind"), e);
}

cJSON *apiserver_openapi__crd_schema(const apiserver_resource_t *r, bool list,
                                     const char *ref_prefix, bool v3)
{
    const apiserver_crd_res_t *e = apiserver_crd_of(r);
    cJSON *s;
    if (list) {
        s = cJSON_CreateObject();
        char desc[320], item[400], name[300];
        snprintf(desc, sizeof(desc), "%sList is a list of %s", r->kind, r->kind);
        cJSON_AddStringToObject(s, "description", desc);
        cJSON_AddStringToObject(s, "type", "object");
        cJSON *req = cJSON_AddArrayToObject(s, "required");
        cJSON_AddItemToArray(req, cJSON_CreateString("items"));
        cJSON *props = cJSON_AddObjectToObject(s, "properties");
        add_type_meta(props);
        apiserver_openapi__crd_name(r, false, name, sizeof(name));
        snprintf(item, sizeof(item), "%s%s", ref_prefix, name);
        cJSON *items = cJSON_AddObjectToObject(props, "items");
        cJSON_AddStringToObject(items, "description", desc);
        cJSON_AddStringToObject(items, "type", "array");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(items, "items"), "$ref", item);
        cJSON_AddItemToObject(props, "metadata",
                              ref_to(ref_prefix, "V1ListMeta", v3,
                                     "Standard list metadata. More info: "
                                     "https://git.k8s.io/community/contributors/devel/"
                                     "sig-architecture/api-conventions.md#types-kinds"));
    } else {
        s = e && e->schema ? cJSON_Duplicate(e->schema, true) : cJSON_CreateObject();
        if (!cJSON_GetObjectItemCaseSensitive(s, "type"))
            cJSON_AddStringToObject(s, "type", "object");
        cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
        if (!cJSON_IsObject(props)) {
            cJSON_DeleteItemFromObjectCaseSensitive(s, "properties");
            props = cJSON_AddObjectToObject(s, "properties");
        }
        add_type_meta(props);
        cJSON_DeleteItemFromObjectCaseSensitive(props, "metadata");
        cJSON_AddItemToObject(props, "metadata",
                              ref_to(ref_prefix, "V1ObjectMeta", v3,
                                     "Standard object's metadata. More info: "
                                     "https://git.k8s.io/community/contributors/devel/"
                                     "sig-architecture/api-conventions.md#metadata"));
    }
    add_gvk(s, r, list);
    return s;
}

void apiserver_openapi__reach_crd_meta(unsigned char *seen)
{
    static const char *const types[] = {"V1ObjectMeta", "V1ListMeta", NULL};
    for (size_t i = 0; types[i]; i++) {
        const k8s_kind_t *t = k8s_schema_type_by_name(types[i]);
        if (t)
            apiserver_openapi__reach(k8s_schema_type_index(t), seen);
    }
}

void apiserver_openapi__add_crd_schemas(cJSON *defs, const char *group, const char *version,
                                        const char *ref_prefix, bool v3)
{
    for (size_t i = 0; i < apiserver_crd_count(); i++) {
        const apiserver_resource_t *r = apiserver_crd_at(i);
        if (strcmp(r->group, group) || strcmp(r->version, version))
            continue;
        for (int list = 0; list < 2; list++) {
            char name[300];
            apiserver_openapi__crd_name(r, list, name, sizeof(name));
            cJSON_DeleteItemFromObjectCaseSensitive(defs, name);
            cJSON_AddItemToObject(defs, name,
                                  apiserver_openapi__crd_schema(r, list, ref_prefix, v3));
        }
    }
}
