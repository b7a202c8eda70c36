/* apiserver_openapi_schema: definition names and JSON schemas of the k8s_schema model types,
 * shared by the OpenAPI v3 and v2 generators. */
#include "apiserver_openapi.h"

#include "apiserver_crd.h"
#include "apiserver_openapi_desc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- names ----------------------------------------------------------------------------------
 * k8s_schema carries the python client's class names ("V1PodSpec", "CoreV1EventSeries"), not
 * the spec's definition names. The rule: a top-level kind is named from its group/version/kind
 * as upstream does (io.k8s.api.<group's first label>.<version>.<Kind>); apimachinery's meta
 * types keep their upstream names; any other type takes the package of the first top-level
 * kind (in k8s_schema's group/version/kind order) that reaches it, the version from its class
 * name and the class name without that prefix. A name already taken falls back to
 * io.k8s.kubeling.<ClassName>, so every name is unique and stable for a given k8s_schema. */

#define META_PACKAGE "io.k8s.apimachinery.pkg.apis.meta.v1"

static const char *const meta_types[] = {
    "V1APIGroup",
    "V1APIGroupList",
    "V1APIResource",
    "V1APIResourceList",
    "V1APIVersions",
    "V1Condition",
    "V1DeleteOptions",
    "V1GroupVersionForDiscovery",
    "V1LabelSelector",
    "V1LabelSelectorRequirement",
    "V1ListMeta",
    "V1ManagedFieldsEntry",
    "V1ObjectMeta",
    "V1OwnerReference",
    "V1Preconditions",
    "V1ServerAddressByClientCIDR",
    "V1Status",
    "V1StatusCause",
    "V1StatusDetails",
    "V1WatchEvent",
    "V1FieldSelectorRequirement",
};

static char **names;

/* The package of a group/version: io.k8s.api.core.v1, io.k8s.api.apps.v1, ... */
static void package_of(const char *group, const char *version, char *out, size_t n)
{
    if (!group[0]) {
        snprintf(out, n, "io.k8s.api.core.%s", version);
    } else if (!strcmp(group, "apiextensions.k8s.io")) {
        snprintf(out, n, "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.%s", version);
    } else if (!strcmp(group, "apiregistration.k8s.io")) {
        snprintf(out, n, "io.k8s.kube-aggregator.pkg.apis.apiregistration.%s", version);
    } else if (!strcmp(group, "internal.apiserver.k8s.io")) {
        snprintf(out, n, "io.k8s.api.apiserverinternal.%s", version);
    } else {
        size_t label = strcspn(group, ".");
        snprintf(out, n, "io.k8s.api.%.*s.%s", (int)label, group, version);
    }
}

/* Splits a class name "CoreV1beta1Foo" into version "v1beta1" and rest "Foo"; false if it
 * has no version prefix. */
static bool split_class(const char *cls, char *version, size_t n, const char **rest)
{
    for (const char *p = cls; *p; p++) {
        if (*p != 'V' || !isdigit((unsigned char)p[1]))
            continue;
        const char *q = p + 1;
        while (isdigit((unsigned char)*q))
            q++;
        if (!strncmp(q, "alpha", 5) || !strncmp(q, "beta", 4)) {
            q += q[0] == 'a' ? 5 : 4;
            while (isdigit((unsigned char)*q))
                q++;
        }
        if (!isupper((unsigned char)*q))
            continue;
        snprintf(version, n, "v%.*s", (int)(q - p - 1), p + 1);
        *rest = q;
        return true;
    }
    return false;
}

static bool is_meta(const char *cls)
{
    for (size_t i = 0; i < sizeof(meta_types) / sizeof(meta_types[0]); i++)
        if (!strcmp(cls, meta_types[i]))
            return true;
    return false;
}

static bool name_taken(unsigned upto, const char *name)
{
    for (unsigned i = 0; i < upto; i++)
        if (names[i] && !strcmp(names[i], name))
            return true;
    return false;
}

/* Names of the top-level kinds, and the owner group of every type they reach. */
static void assign_owners(const char **owner)
{
    unsigned nt = k8s_schema_ntypes();
    unsigned char *seen = calloc(nt, 1);
    for (unsigned g = 0; g < k8s_schema_ngvks(); g++) {
        const k8s_gvk_t *gvk = k8s_schema_gvk_at(g);
        if (!names[gvk->type]) {
            char pkg[160], full[320];
            package_of(gvk->group, gvk->version, pkg, sizeof(pkg));
            snprintf(full, sizeof(full), "%s.%s", pkg, gvk->kind);
            names[gvk->type] = strdup(full);
        }
        memset(seen, 0, nt);
        apiserver_openapi__reach(gvk->type, seen);
        for (unsigned i = 0; i < nt; i++)
            if (seen[i] && !owner[i])
                owner[i] = gvk->group;
    }
    free(seen);
}

static void compute_names(void)
{
    unsigned nt = k8s_schema_ntypes();
    names = calloc(nt, sizeof(*names));
    const char **owner = calloc(nt, sizeof(*owner));
    assign_owners(owner);
    for (unsigned i = 0; i < nt; i++) {
        if (names[i])
            continue;
        const char *cls = k8s_schema_type((int)i)->name, *rest = NULL;
        char version[32], pkg[160], full[320];
        if (is_meta(cls) && split_class(cls, version, sizeof(version), &rest))
            snprintf(full, sizeof(full), META_PACKAGE ".%s", rest);
        else if (owner[i] && split_class(cls, version, sizeof(version), &rest)) {
            package_of(owner[i], version, pkg, sizeof(pkg));
            snprintf(full, sizeof(full), "%s.%s", pkg, rest);
        } else
            snprintf(full, sizeof(full), "io.k8s.kubeling.%s", cls);
        if (name_taken(nt, full))
            snprintf(full, sizeof(full), "io.k8s.kubeling.%s", cls);
        names[i] = strdup(full);
    }
    free(owner);
}

const char *apiserver_openapi__name(int ref)
{
    if (!names)
        compute_names();
    return ref >= 0 && (unsigned)ref < k8s_schema_ntypes() ? names[ref] : NULL;
}

/* ---- reachability ------------------------------------------------------------------------- */

void apiserver_openapi__reach(int ref, unsigned char *seen)
{
    if (ref < 0 || seen[ref])
        return;
    seen[ref] = 1;
    const k8s_kind_t *t = k8s_schema_type(ref);
    for (unsigned i = 0; t && i < t->nfields; i++)
        if (t->fields[i].type == K8S_T_OBJECT)
            apiserver_openapi__reach(t->fields[i].ref, seen);
}

int apiserver_openapi__resource_type(const apiserver_resource_t *r, bool list)
{
    char kind[128];
    snprintf(kind, sizeof(kind), "%s%s", r->kind, list ? "List" : "");
    const k8s_kind_t *t = k8s_schema_find(r->group, r->version, kind);
    return t ? k8s_schema_type_index(t) : -1;
}

void apiserver_openapi__reach_gv(const char *group, const char *version, unsigned char *seen)
{
    for (size_t i = 0; i < apiserver_resource_count(); i++) {
        const apiserver_resource_t *r = apiserver_resource_at(i);
        if (strcmp(r->group, group) || strcmp(r->version, version))
            continue;
        if (apiserver_crd_of(r)) {
            apiserver_openapi__reach_crd_meta(seen); /* a custom resource */
            continue;
        }
        apiserver_openapi__reach(apiserver_openapi__resource_type(r, false), seen);
        apiserver_openapi__reach(apiserver_openapi__resource_type(r, true), seen);
    }
    const k8s_kind_t *t = k8s_schema_type_by_name("V1Status");
    if (t)
        apiserver_openapi__reach(k8s_schema_type_index(t), seen);
    t = k8s_schema_type_by_name("V1DeleteOptions");
    if (t)
        apiserver_openapi__reach(k8s_schema_type_index(t), seen);
}

void apiserver_openapi__gv_camel(const char *group, const char *version, char *out, size_t n)
{
    char g[64];
    size_t label = group[0] ? strcspn(group, ".") : 4;
    snprintf(g, sizeof(g), "%.*s", (int)label, group[0] ? group : "core");
    g[0] = (char)toupper((unsigned char)g[0]);
    snprintf(out, n, "%s%c%s", g, toupper((unsigned char)version[0]), version + 1);
}

/* ---- schemas ------------------------------------------------------------------------------ */

static cJSON *ref_schema(int ref, const char *ref_prefix)
{
    cJSON *s = cJSON_CreateObject();
    char buf[400];
    snprintf(buf, sizeof(buf), "%s%s", ref_prefix, apiserver_openapi__name(ref));
    cJSON_AddStringToObject(s, "$ref", buf);
    return s;
}

/* The schema of one value of a field (an element when list, a value when map). */
static cJSON *value_schema(const k8s_field_t *f, const char *ref_prefix)
{
    cJSON *s;
    switch (f->type) {
    case K8S_T_OBJECT:
        return ref_schema(f->ref, ref_prefix);
    case K8S_T_ANY:
        return cJSON_CreateObject(); /* anything: IntOrString, RawExtension, free-form */
    default:
        break;
    }
    s = cJSON_CreateObject();
    static const char *const type_names[] = {
        [K8S_T_STRING] = "string", [K8S_T_INT] = "integer", [K8S_T_BOOL] = "boolean",
        [K8S_T_NUMBER] = "number", [K8S_T_TIME] = "string",
    };
    cJSON_AddStringToObject(s, "type", type_names[f->type]);
    if (f->type == K8S_T_TIME)
        cJSON_AddStringToObject(s, "format", "date-time");
    else if (f->type == K8S_T_NUMBER)
        cJSON_AddStringToObject(s, "format", "double");
    else if (f->type == K8S_T_INT)
        cJSON_AddStringToObject(s, "format", "int64");
    return s;
}

static cJSON *field_schema(const k8s_kind_t *t, const k8s_field_t *f, const char *ref_prefix,
                           bool v3)
{
    cJSON *v = value_schema(f, ref_prefix), *s = v;
    if (f->list) {
        s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "type", "array");
        cJSON_AddItemToObject(s, "items", v);
    }
    if (f->map) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "type", "object");
        cJSON_AddItemToObject(m, "additionalProperties", s);
        s = m;
    }
    const char *desc = k8s_schema_field_description(f);
    if (!desc) /* object-typed fields: the client's models have no text for them */
        desc = apiserver_openapi__description(t->name, f->json);
    if (!desc)
        return s;
    if (v3 && cJSON_GetObjectItemCaseSensitive(s, "$ref")) {
        /* OpenAPI 3.0 ignores siblings of $ref: wrap it as upstream does. */
        cJSON *w = cJSON_CreateObject(), *all = cJSON_AddArrayToObject(w, "allOf");
        cJSON_AddItemToArray(all, s);
        s = w;
    }
    cJSON_AddStringToObject(s, "description", desc);
    return s;
}

static cJSON *gvk_extension(int ref)
{
    cJSON *list = NULL;
    for (unsigned g = 0; g < k8s_schema_ngvks(); g++) {
        const k8s_gvk_t *gvk = k8s_schema_gvk_at(g);
        if (gvk->type != ref)
            continue;
        if (!list)
            list = cJSON_CreateArray();
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "group", gvk->group);
        cJSON_AddStringToObject(e, "kind", gvk->kind);
        cJSON_AddStringToObject(e, "version", gvk->version);
        cJSON_AddItemToArray(list, e);
    }
    return list;
}

cJSON *apiserver_openapi__type_schema(int ref, const char *ref_prefix, bool v3)
{
    const k8s_kind_t *t = k8s_schema_type(ref);
    cJSON *s = cJSON_CreateObject();
    const char *desc = apiserver_openapi__description(t->name, NULL);
    if (desc) /* what `kubectl explain <kind>` prints first */
        cJSON_AddStringToObject(s, "description", desc);
    cJSON_AddStringToObject(s, "type", "object");
    cJSON *props = cJSON_AddObjectToObject(s, "properties"), *req = NULL;
    for (unsigned i = 0; i < t->nfields; i++) {
        const k8s_field_t *f = &t->fields[i];
        cJSON_AddItemToObject(props, f->json, field_schema(t, f, ref_prefix, v3));
        if (f->required) {
            if (!req)
                req = cJSON_AddArrayToObject(s, "required");
            cJSON_AddItemToArray(req, cJSON_CreateString(f->json));
        }
    }
    cJSON *gvk = gvk_extension(ref);
    if (gvk)
        cJSON_AddItemToObject(s, "x-kubernetes-group-version-kind", gvk);
    return s;
}
