/* apiserver_discovery: /api, /apis and group/version discovery documents, legacy (meta/v1
 * APIVersions, APIGroupList, APIGroup, APIResourceList) and aggregated (apidiscovery.k8s.io
 * v2 and v2beta1 APIGroupDiscoveryList), with kube-apiserver's Accept negotiation. */
#include "apiserver_discovery.h"
#include "apiserver_accept.h"
#include "apiserver_resources.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/sha256.h>

#define CT_V2      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
#define CT_V2BETA1 "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

/* ------------------------------------------------------------------------------------------ */
/* Accept negotiation. Mirrors k8s.io/apiserver endpoints/handlers/negotiation
 * NegotiateMediaTypeOptions with aggregated.DiscoveryEndpointRestrictions over goautoneg's
 * ParseAccept: clauses are sorted by goautoneg's (non-strict) order, the first clause whose
 * media range matches a type the discovery codecs serve and whose parameters are allowed wins;
 * it asks for aggregated discovery when its g/v/as name APIGroupDiscoveryList. q=0 is not
 * "refused" there, only sorted last, and so it is here. */

#define MAX_CLAUSES 32

/* The media types the discovery codec factory serves, in its order; JSON and protobuf have
 * stream framers, YAML does not. */
static const struct {
    const char *type, *subtype;
    bool streams;
} served_media[] = {
    {"application", "json", true},
    {"application", "yaml", false},
    {"application", "vnd.kubernetes.protobuf", true},
};

static bool clause_matches(const apiserver_accept_clause_t *c, size_t media)
{
    bool type_eq = apiserver_span_eq(c->type, served_media[media].type);
    return (type_eq && apiserver_span_eq(c->subtype, served_media[media].subtype)) ||
           (type_eq && apiserver_span_eq(c->subtype, "*")) ||
           (apiserver_span_eq(c->type, "*") && apiserver_span_eq(c->subtype, "*"));
}

/* acceptMediaTypeOptions: 1 and *ret set when the clause is acceptable for that media type. */
static bool clause_accept(const apiserver_accept_clause_t *c, size_t media,
                          apiserver_discovery_format_t *ret)
{
    if (c->stream.n && (!served_media[media].streams || !apiserver_span_eq(c->stream, "watch")))
        return false;
    if (c->sv.n) /* AllowsServerVersion is false for discovery */
        return false;
    if (!c->has_convert) {
        *ret = APISERVER_DISCOVERY_LEGACY;
        return true;
    }
    if (!apiserver_span_eq(c->g, "apidiscovery.k8s.io") ||
        !apiserver_span_eq(c->as, "APIGroupDiscoveryList"))
        return false;
    if (apiserver_span_eq(c->v, "v2"))
        *ret = APISERVER_DISCOVERY_V2;
    else if (apiserver_span_eq(c->v, "v2beta1"))
        *ret = APISERVER_DISCOVERY_V2BETA1;
    else
        return false;
    return true;
}

apiserver_discovery_format_t apiserver_discovery_negotiate(const char *accept)
{
    if (!accept || !*accept)
        return APISERVER_DISCOVERY_LEGACY;
    apiserver_accept_clause_t clauses[MAX_CLAUSES];
    size_t n = apiserver_accept_parse(accept, clauses, MAX_CLAUSES);
    for (size_t i = 0; i < n; i++) {
        for (size_t m = 0; m < UTIL_ARRAY_SIZE(served_media); m++) {
            apiserver_discovery_format_t f;
            if (clause_matches(&clauses[i], m) && clause_accept(&clauses[i], m, &f))
                return f;
        }
    }
    return APISERVER_DISCOVERY_LEGACY; /* nothing acceptable: the default media type */
}

const char *apiserver_discovery_content_type(apiserver_discovery_format_t f)
{
    switch (f) {
    case APISERVER_DISCOVERY_V2:
        return CT_V2;
    case APISERVER_DISCOVERY_V2BETA1:
        return CT_V2BETA1;
    case APISERVER_DISCOVERY_LEGACY:
    default:
        return "application/json";
    }
}

/* ------------------------------------------------------------------------------------------ */
/* JSON helpers and table look-ups. */

static void json_str(util_buf_t *b, const char *s)
{
    util_buf_json_string(b, s, strlen(s));
}

static void json_strv(util_buf_t *b, const char *const *v)
{
    util_buf_puts(b, "[");
    for (size_t i = 0; v[i]; i++) {
        if (i)
            util_buf_puts(b, ",");
        json_str(b, v[i]);
    }
    util_buf_puts(b, "]");
}

/* "group/version", or "version" for the core group, as a JSON string. */
static void json_group_version(util_buf_t *b, const char *group, const char *version)
{
    util_buf_t gv = {0};
    if (*group)
        util_buf_printf(&gv, "%s/%s", group, version);
    else
        util_buf_puts(&gv, version);
    util_buf_json_string(b, gv.data, gv.len);
    util_buf_free(&gv);
}

/* The first (preferred) version of a group; its other versions follow it in the list. */
static const apiserver_group_t *group_find(const char *name)
{
    for (size_t i = 0; i < apiserver_group_count(); i++)
        if (!strcmp(apiserver_group_at(i)->name, name))
            return apiserver_group_at(i);
    return NULL;
}

static const apiserver_group_t *group_version_find(const char *name, const char *version)
{
    for (size_t i = 0; i < apiserver_group_count(); i++) {
        const apiserver_group_t *g = apiserver_group_at(i);
        if (!strcmp(g->name, name) && !strcmp(g->version, version))
            return g;
    }
    return NULL;
}

/* True for the first entry of each group name (the preferred version). */
static bool group_first(size_t i)
{
    const apiserver_group_t *g = apiserver_group_at(i);
    return i == 0 || strcmp(apiserver_group_at(i - 1)->name, g->name) != 0;
}

static bool resource_in(const apiserver_resource_t *r, const apiserver_group_t *g)
{
    return !strcmp(r->group, g->name) && !strcmp(r->version, g->version);
}

/* What the table does not say about a subresource: its verbs and, when it is not the parent
 * kind, the kind it returns (as upstream reports them: pods/status, deployments/scale...). */
typedef struct subresource_info {
    const char *name;
    const char *group, *version, *kind; /* NULL: the parent's */
    const char *verbs[4];
} subresource_info_t;

static const subresource_info_t subresource_infos[] = {
    {"status", NULL, NULL, NULL, {"get", "patch", "update", NULL}},
    {"scale", "autoscaling", "v1", "Scale", {"get", "patch", "update", NULL}},
    {"finalize", NULL, NULL, NULL, {"update", NULL}},
    {"binding", "", "v1", "Binding", {"create", NULL}},
    {"eviction", "policy", "v1", "Eviction", {"create", NULL}},
    {"token", "authentication.k8s.io", "v1", "TokenRequest", {"create", NULL}},
    {"log", "", "v1", "Pod", {"get", NULL}},
    {"exec", "", "v1", "PodExecOptions", {"create", "get", NULL}},
    {"attach", "", "v1", "PodAttachOptions", {"create", "get", NULL}},
    {"portforward", "", "v1", "PodPortForwardOptions", {"create", "get", NULL}},
};

static const subresource_info_t *subresource_info(const char *name)
{
    static const subresource_info_t fallback = {NULL, NULL, NULL, NULL, {"get", NULL}};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(subresource_infos); i++)
        if (!strcmp(subresource_infos[i].name, name))
            return &subresource_infos[i];
    return &fallback;
}

/* ------------------------------------------------------------------------------------------ */
/* Legacy documents (k8s.io/apimachinery/pkg/apis/meta/v1 types.go). */

/* Upstream's storageVersionHash: base64 of the first 8 bytes of sha256("group/version/kind")
 * (apiserver/pkg/endpoints/discovery/storageversionhash.go). Only an opaque change detector. */
static void storage_version_hash(util_buf_t *b, const apiserver_resource_t *r)
{
    util_buf_t in = {0};
    unsigned char sum[32], enc[16];
    size_t olen = 0;
    util_buf_printf(&in, "%s/%s/%s", r->group, r->version, r->kind);
    mbedtls_sha256((const unsigned char *)in.data, in.len, sum, 0);
    util_buf_free(&in);
    if (mbedtls_base64_encode(enc, sizeof(enc), &olen, sum, 8) != 0)
        olen = 0;
    util_buf_json_string(b, (const char *)enc, olen);
}

static void legacy_subresource(util_buf_t *b, const apiserver_resource_t *r, const char *sub)
{
    const subresource_info_t *si = subresource_info(sub);
    util_buf_puts(b, ",{\"name\":");
    util_buf_t name = {0};
    util_buf_printf(&name, "%s/%s", r->plural, sub);
    util_buf_json_string(b, name.data, name.len);
    util_buf_free(&name);
    util_buf_printf(b, ",\"singularName\":\"\",\"namespaced\":%s",
                    r->namespaced ? "true" : "false");
    if (si->group) {
        util_buf_puts(b, ",\"group\":");
        json_str(b, si->group);
        util_buf_puts(b, ",\"version\":");
        json_str(b, si->version);
    }
    util_buf_puts(b, ",\"kind\":");
    json_str(b, si->kind ? si->kind : r->kind);
    util_buf_puts(b, ",\"verbs\":");
    json_strv(b, si->verbs);
    util_buf_puts(b, "}");
}

/* One APIResource, then one per subresource. */
/* The verbs, then shortNames and categories when there are any (both document kinds). */
static void verbs_names_categories(util_buf_t *b, const apiserver_resource_t *r)
{
    util_buf_puts(b, ",\"verbs\":");
    json_strv(b, r->verbs);
    if (r->short_names[0]) {
        util_buf_puts(b, ",\"shortNames\":");
        json_strv(b, r->short_names);
    }
    if (r->categories[0]) {
        util_buf_puts(b, ",\"categories\":");
        json_strv(b, r->categories);
    }
}

static void legacy_resource(util_buf_t *b, const apiserver_resource_t *r)
{
    util_buf_puts(b, "{\"name\":");
    json_str(b, r->plural);
    util_buf_puts(b, ",\"singularName\":");
    json_str(b, r->singular);
    util_buf_printf(b, ",\"namespaced\":%s,\"kind\":", r->namespaced ? "true" : "false");
    json_str(b, r->kind);
    verbs_names_categories(b, r);
    util_buf_puts(b, ",\"storageVersionHash\":");
    storage_version_hash(b, r);
    util_buf_puts(b, "}");
    for (size_t i = 0; r->subresources[i]; i++)
        legacy_subresource(b, r, r->subresources[i]);
}

/* GroupVersionForDiscovery. */
static void legacy_group_version(util_buf_t *b, const apiserver_group_t *g)
{
    util_buf_puts(b, "{\"groupVersion\":");
    json_group_version(b, g->name, g->version);
    util_buf_puts(b, ",\"version\":");
    json_str(b, g->version);
    util_buf_puts(b, "}");
}

/* APIGroup; with its TypeMeta when it is the whole document, without inside an APIGroupList. */
static void legacy_group(util_buf_t *b, const apiserver_group_t *g, bool whole)
{
    util_buf_puts(b,
                  whole ? "{\"kind\":\"APIGroup\",\"apiVersion\":\"v1\",\"name\":" : "{\"name\":");
    json_str(b, g->name);
    util_buf_puts(b, ",\"versions\":[");
    bool first = true;
    for (size_t i = 0; i < apiserver_group_count(); i++) {
        const apiserver_group_t *v = apiserver_group_at(i);
        if (strcmp(v->name, g->name))
            continue;
        if (!first)
            util_buf_puts(b, ",");
        first = false;
        legacy_group_version(b, v);
    }
    util_buf_puts(b, "],\"preferredVersion\":");
    legacy_group_version(b, g);
    util_buf_puts(b, "}");
}

static void legacy_api_versions(util_buf_t *b, const char *server_address)
{
    util_buf_puts(b, "{\"kind\":\"APIVersions\",\"versions\":[");
    const apiserver_group_t *core = group_find("");
    if (core)
        json_str(b, core->version);
    util_buf_puts(b, "],\"serverAddressByClientCIDRs\":[");
    if (server_address) {
        util_buf_puts(b, "{\"clientCIDR\":\"0.0.0.0/0\",\"serverAddress\":");
        json_str(b, server_address);
        util_buf_puts(b, "}");
    }
    util_buf_puts(b, "]}");
}

static void legacy_group_list(util_buf_t *b)
{
    util_buf_puts(b, "{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\",\"groups\":[");
    bool first = true;
    for (size_t i = 0; i < apiserver_group_count(); i++) {
        if (!*apiserver_group_at(i)->name || !group_first(i))
            continue;
        if (!first)
            util_buf_puts(b, ",");
        first = false;
        legacy_group(b, apiserver_group_at(i), false);
    }
    util_buf_puts(b, "]}");
}

/* ------------------------------------------------------------------------------------------ */
/* Aggregated documents (k8s.io/api/apidiscovery/v2 and v2beta1 types.go: same JSON). */

static void json_gvk(util_buf_t *b, const char *group, const char *version, const char *kind)
{
    util_buf_puts(b, "{\"group\":");
    json_str(b, group);
    util_buf_puts(b, ",\"version\":");
    json_str(b, version);
    util_buf_puts(b, ",\"kind\":");
    json_str(b, kind);
    util_buf_puts(b, "}");
}

/* APISubresourceDiscovery list (omitted by the caller when empty). */
static void aggregated_subresources(util_buf_t *b, const apiserver_resource_t *r)
{
    util_buf_puts(b, ",\"subresources\":[");
    for (size_t i = 0; r->subresources[i]; i++) {
        const subresource_info_t *si = subresource_info(r->subresources[i]);
        util_buf_puts(b, i ? ",{\"subresource\":" : "{\"subresource\":");
        json_str(b, r->subresources[i]);
        util_buf_puts(b, ",\"responseKind\":");
        if (si->group)
            json_gvk(b, si->group, si->version, si->kind);
        else
            json_gvk(b, r->group, r->version, r->kind);
        util_buf_puts(b, ",\"verbs\":");
        json_strv(b, si->verbs);
        util_buf_puts(b, "}");
    }
    util_buf_puts(b, "]");
}

/* APIResourceDiscovery. */
static void aggregated_resource(util_buf_t *b, const apiserver_resource_t *r)
{
    util_buf_puts(b, "{\"resource\":");
    json_str(b, r->plural);
    util_buf_puts(b, ",\"responseKind\":");
    json_gvk(b, r->group, r->version, r->kind);
    util_buf_printf(
        b, ",\"scope\":\"%s\",\"singularResource\":", r->namespaced ? "Namespaced" : "Cluster");
    json_str(b, r->singular);
    verbs_names_categories(b, r);
    if (r->subresources[0])
        aggregated_subresources(b, r);
    util_buf_puts(b, "}");
}

/* APIGroupDiscovery: ObjectMeta's name is omitempty (the core group has none) and
 * creationTimestamp is serialized as null, exactly as kube-apiserver does. */
static void aggregated_group(util_buf_t *b, const apiserver_group_t *g)
{
    util_buf_puts(b, "{\"metadata\":{");
    if (*g->name) {
        util_buf_puts(b, "\"name\":");
        json_str(b, g->name);
        util_buf_puts(b, ",");
    }
    util_buf_puts(b, "\"creationTimestamp\":null},\"versions\":[");
    bool first_version = true;
    for (size_t v = 0; v < apiserver_group_count(); v++) {
        const apiserver_group_t *gv = apiserver_group_at(v);
        if (strcmp(gv->name, g->name))
            continue;
        util_buf_puts(b, first_version ? "{\"version\":" : ",{\"version\":");
        first_version = false;
        json_str(b, gv->version);
        bool first = true;
        for (size_t i = 0; i < apiserver_resource_count(); i++) {
            if (!resource_in(apiserver_resource_at(i), gv))
                continue;
            util_buf_puts(b, first ? ",\"resources\":[" : ",");
            first = false;
            aggregated_resource(b, apiserver_resource_at(i));
        }
        util_buf_puts(b, first ? ",\"freshness\":\"Current\"}" : "],\"freshness\":\"Current\"}");
    }
    util_buf_puts(b, "]}");
}

/* APIGroupDiscoveryList of the core group (core) or of every other group. */
static void aggregated_list(util_buf_t *b, apiserver_discovery_format_t f, bool core)
{
    util_buf_printf(b,
                    "{\"kind\":\"APIGroupDiscoveryList\",\"apiVersion\":\"apidiscovery.k8s.io/%s\","
                    "\"metadata\":{},\"items\":[",
                    f == APISERVER_DISCOVERY_V2BETA1 ? "v2beta1" : "v2");
    bool first = true;
    for (size_t i = 0; i < apiserver_group_count(); i++) {
        if ((*apiserver_group_at(i)->name == '\0') != core || !group_first(i))
            continue;
        if (!first)
            util_buf_puts(b, ",");
        first = false;
        aggregated_group(b, apiserver_group_at(i));
    }
    util_buf_puts(b, "]}");
}

/* ------------------------------------------------------------------------------------------ */
/* Endpoints. */

void apiserver_discovery_api(util_buf_t *out, apiserver_discovery_format_t f,
                             const char *server_address)
{
    if (f == APISERVER_DISCOVERY_LEGACY)
        legacy_api_versions(out, server_address);
    else
        aggregated_list(out, f, true);
}

void apiserver_discovery_apis(util_buf_t *out, apiserver_discovery_format_t f)
{
    if (f == APISERVER_DISCOVERY_LEGACY)
        legacy_group_list(out);
    else
        aggregated_list(out, f, false);
}

int apiserver_discovery_resource_list(util_buf_t *out, const char *group, const char *version)
{
    const apiserver_group_t *g = version ? group_version_find(group ? group : "", version) : NULL;
    if (!g)
        return -ENOENT;
    util_buf_puts(out, "{\"kind\":\"APIResourceList\",\"apiVersion\":\"v1\",\"groupVersion\":");
    json_group_version(out, g->name, g->version);
    util_buf_puts(out, ",\"resources\":[");
    bool first = true;
    for (size_t i = 0; i < apiserver_resource_count(); i++) {
        if (!resource_in(apiserver_resource_at(i), g))
            continue;
        if (!first)
            util_buf_puts(out, ",");
        first = false;
        legacy_resource(out, apiserver_resource_at(i));
    }
    util_buf_puts(out, "]}");
    return 0;
}

int apiserver_discovery_group(util_buf_t *out, const char *group)
{
    const apiserver_group_t *g = group ? group_find(group) : NULL;
    if (!g || !*g->name)
        return -ENOENT;
    legacy_group(out, g, true);
    return 0;
}
