/* apiserver_openapi_v3: the OpenAPI v3 document of one served group/version (paths with
 * upstream's operation extensions, components.schemas from k8s_schema). */
#include "apiserver_openapi.h"

#include "apiserver_crd.h"

#include "apiserver.h"

#include <stdlib.h>
#include <string.h>

#define V3_REF "#/components/schemas/"

/* Descriptions of the query parameters, as upstream words them (abridged). */
static const char DRY_RUN_DESC[] =
    "When present, indicates that modifications should not be persisted. An invalid or "
    "unrecognized dryRun directive will result in an error response and no further processing "
    "of the request. Valid values are: - All: all dry run stages will be processed";
static const char FIELD_MANAGER_DESC[] =
    "fieldManager is a name associated with the actor or entity that is making these changes. "
    "The value must be less than or 128 characters long, and only contain printable "
    "characters, as defined by https://golang.org/pkg/unicode/#IsPrint.";
static const char FIELD_VALIDATION_DESC[] =
    "fieldValidation instructs the server on how to handle objects in the request "
    "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This "
    "will ignore any unknown fields that are silently dropped from the object, and will ignore "
    "all but the last duplicate field that the decoder encounters. - Warn: This will send a "
    "warning via the standard warning response header for each unknown field that is dropped "
    "from the object, and for each duplicate field that is encountered. The request will still "
    "succeed if there are no other errors, and will only persist the last of any duplicate "
    "fields. This is the default in v1.23+ - Strict: This will fail the request with a "
    "BadRequest error if any unknown fields would be dropped from the object, or if any "
    "duplicate fields are present. The error returned from the server will contain all "
    "unknown and duplicate fields encountered.";

static void add_param(cJSON *params, const char *name, const char *in, const char *type,
                      const char *desc)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "name", name);
    cJSON_AddStringToObject(p, "in", in);
    if (desc)
        cJSON_AddStringToObject(p, "description", desc);
    if (!strcmp(in, "path"))
        cJSON_AddBoolToObject(p, "required", true);
    cJSON *s = cJSON_AddObjectToObject(p, "schema");
    cJSON_AddStringToObject(s, "type", type);
    cJSON_AddBoolToObject(s, "uniqueItems", true);
    cJSON_AddItemToArray(params, p);
}

/* The definition name of a resource's kind (or List): a model type, or a custom resource's
 * own definition; NULL when there is none. */
static const char *kind_name(const apiserver_resource_t *r, bool list, char *buf, size_t n)
{
    if (apiserver_crd_of(r)) {
        apiserver_openapi__crd_name(r, list, buf, n);
        return buf;
    }
    int ref = apiserver_openapi__resource_type(r, list);
    return ref >= 0 ? apiserver_openapi__name(ref) : NULL;
}

static cJSON *content_of(const char *const *types, const char *ref_name)
{
    cJSON *content = cJSON_CreateObject();
    for (size_t i = 0; types[i]; i++) {
        cJSON *s = cJSON_CreateObject();
        if (ref_name) {
            char buf[400];
            snprintf(buf, sizeof(buf), V3_REF "%s", ref_name);
            cJSON_AddStringToObject(s, "$ref", buf);
        } else {
            cJSON_AddStringToObject(s, "type", "object");
        }
        cJSON *m = cJSON_AddObjectToObject(content, types[i]);
        cJSON_AddItemToObject(m, "schema", s);
    }
    return content;
}

static const char *const json_types[] = {"application/json", "application/yaml", NULL};
static const char *const patch_types[] = {
    "application/json-patch+json", "application/merge-patch+json",
    "application/strategic-merge-patch+json", "application/apply-patch+yaml", NULL};

typedef struct op_spec {
    const char *method; /* "get", "post", ... (path item member) */
    const char *verb;   /* resource verb that must be served */
    const char *action; /* x-kubernetes-action */
    const char *id;     /* operationId verb */
    bool mutating;
    int body;     /* 0 none, 1 the kind, 2 a patch */
    bool list_rs; /* responds with the List */
} op_spec_t;

static const op_spec_t collection_ops[] = {
    {"get", "list", "list", "list", false, 0, true},
    {"post", "create", "post", "create", true, 1, false},
    {"delete", "deletecollection", "deletecollection", "deleteCollection", false, 0, false},
};
static const op_spec_t item_ops[] = {
    {"get", "get", "get", "read", false, 0, false},
    {"put", "update", "put", "replace", true, 1, false},
    {"patch", "patch", "patch", "patch", true, 2, false},
    {"delete", "delete", "delete", "delete", false, 0, false},
};

static bool serves(const apiserver_resource_t *r, const char *verb)
{
    for (size_t i = 0; i < sizeof(r->verbs) / sizeof(r->verbs[0]) && r->verbs[i]; i++)
        if (!strcmp(r->verbs[i], verb))
            return true;
    return false;
}

static cJSON *operation(const apiserver_resource_t *r, const op_spec_t *o, const char *sub)
{
    cJSON *op = cJSON_CreateObject();
    char id[256], gv[64];
    apiserver_openapi__gv_camel(r->group, r->version, gv, sizeof(gv));
    snprintf(id, sizeof(id), "%s%s%s%s%s", o->id, gv, r->namespaced ? "Namespaced" : "", r->kind,
             sub ? "Status" : "");
    cJSON_AddStringToObject(op, "operationId", id);
    cJSON *params = cJSON_AddArrayToObject(op, "parameters");
    if (o->mutating) {
        add_param(params, "dryRun", "query", "string", DRY_RUN_DESC);
        add_param(params, "fieldManager", "query", "string", FIELD_MANAGER_DESC);
        add_param(params, "fieldValidation", "query", "string", FIELD_VALIDATION_DESC);
    }
    if (o->body == 2)
        add_param(params, "force", "query", "boolean", NULL);
    if (o->list_rs) {
        static const char *const list_params[] = {"continue", "fieldSelector", "labelSelector",
                                                  "resourceVersion", NULL};
        for (size_t i = 0; list_params[i]; i++)
            add_param(params, list_params[i], "query", "string", NULL);
        add_param(params, "limit", "query", "integer", NULL);
        add_param(params, "timeoutSeconds", "query", "integer", NULL);
        add_param(params, "watch", "query", "boolean", NULL);
    }
    char kind_buf[300], list_buf[300];
    const char *kind_ref = kind_name(r, false, kind_buf, sizeof(kind_buf));
    if (o->body) {
        cJSON *rb = cJSON_AddObjectToObject(op, "requestBody");
        cJSON_AddItemToObject(
            rb, "content",
            content_of(o->body == 2 ? patch_types : json_types, o->body == 2 ? NULL : kind_ref));
        cJSON_AddBoolToObject(rb, "required", true);
    }
    const char *rs = o->list_rs ? kind_name(r, true, list_buf, sizeof(list_buf)) : kind_ref;
    if (!strcmp(o->method, "delete")) {
        const k8s_kind_t *st = k8s_schema_type_by_name("V1Status");
        rs = st ? apiserver_openapi__name(k8s_schema_type_index(st)) : NULL;
    }
    cJSON *resp = cJSON_AddObjectToObject(cJSON_AddObjectToObject(op, "responses"), "200");
    cJSON_AddStringToObject(resp, "description", "OK");
    cJSON_AddItemToObject(resp, "content", content_of(json_types, rs));
    cJSON_AddStringToObject(op, "x-kubernetes-action", o->action);
    cJSON *gvk = cJSON_AddObjectToObject(op, "x-kubernetes-group-version-kind");
    cJSON_AddStringToObject(gvk, "group", r->group);
    cJSON_AddStringToObject(gvk, "kind", r->kind);
    cJSON_AddStringToObject(gvk, "version", r->version);
    return op;
}

static void add_path(cJSON *paths, const char *path, const apiserver_resource_t *r,
                     const op_spec_t *ops, size_t nops, bool named, const char *sub)
{
    cJSON *item = cJSON_CreateObject();
    for (size_t i = 0; i < nops; i++) {
        if (sub && !strcmp(ops[i].method, "delete"))
            continue;
        if (serves(r, sub ? (strcmp(ops[i].verb, "get") ? "update" : "get") : ops[i].verb))
            cJSON_AddItemToObject(item, ops[i].method, operation(r, &ops[i], sub));
    }
    cJSON *params = cJSON_AddArrayToObject(item, "parameters");
    if (named)
        add_param(params, "name", "path", "string", "name of the resource");
    if (r->namespaced)
        add_param(params, "namespace", "path", "string",
                  "object name and auth scope, such as for teams and projects");
    add_param(params, "pretty", "query", "string", NULL);
    cJSON_AddItemToObject(paths, path, item);
}

static void resource_paths(cJSON *paths, const apiserver_resource_t *r)
{
    char base[256], path[384];
    if (r->group[0])
        snprintf(base, sizeof(base), "/apis/%s/%s", r->group, r->version);
    else
        snprintf(base, sizeof(base), "/api/%s", r->version);
    const char *ns = r->namespaced ? "/namespaces/{namespace}" : "";
    snprintf(path, sizeof(path), "%s%s/%s", base, ns, r->plural);
    add_path(paths, path, r, collection_ops, 3, false, NULL);
    snprintf(path, sizeof(path), "%s%s/%s/{name}", base, ns, r->plural);
    add_path(paths, path, r, item_ops, 4, true, NULL);
    for (size_t i = 0; i < sizeof(r->subresources) / sizeof(r->subresources[0]); i++) {
        if (!r->subresources[i] || strcmp(r->subresources[i], "status"))
            continue;
        snprintf(path, sizeof(path), "%s%s/%s/{name}/status", base, ns, r->plural);
        add_path(paths, path, r, item_ops, 4, true, "status");
    }
}

cJSON *apiserver_openapi__v3_document(const char *group, const char *version)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "openapi", "3.0.0");
    cJSON *info = cJSON_AddObjectToObject(doc, "info");
    cJSON_AddStringToObject(info, "title", "Kubernetes");
    cJSON_AddStringToObject(info, "version", APISERVER_KUBE_GIT_VERSION);
    cJSON *paths = cJSON_AddObjectToObject(doc, "paths");
    for (size_t i = 0; i < apiserver_resource_count(); i++) {
        const apiserver_resource_t *r = apiserver_resource_at(i);
        if (!strcmp(r->group, group) && !strcmp(r->version, version))
            resource_paths(paths, r);
    }
    unsigned nt = k8s_schema_ntypes();
    unsigned char *seen = calloc(nt, 1);
    apiserver_openapi__reach_gv(group, version, seen);
    cJSON *schemas = cJSON_AddObjectToObject(cJSON_AddObjectToObject(doc, "components"), "schemas");
    for (unsigned i = 0; i < nt; i++)
        if (seen[i])
            cJSON_AddItemToObject(schemas, apiserver_openapi__name((int)i),
                                  apiserver_openapi__type_schema((int)i, V3_REF, true));
    apiserver_openapi__add_crd_schemas(schemas, group, version, V3_REF, true);
    free(seen);
    return doc;
}
