/* apiserver_registry: resource requests: URL routing to a resource, query parameters, the
 * entry point that dispatches verbs to the handlers, and the objects created at start. */
#include "apiserver_registry.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/base64.h>

#include "apiserver_apply.h"
#include "apiserver_convert.h"
#include "apiserver_crd.h"
#include "apiserver_defaults.h"
#include "apiserver_metrics.h"
#include "apiserver_object.h"
#include "apiserver_patch.h"
#include "apiserver_proto.h"
#include "apiserver_rules.h"
#include "apiserver_services.h"
#include "apiserver_table.h"
#include "apiserver_validate.h"

#define MAX_SEGMENTS 8

/* ---- keys ---------------------------------------------------------------------------------- */

void apiserver_registry_prefix(const apiserver_resource_t *r, const char *ns, char *out, size_t n)
{
    r = apiserver_conv_storage(r); /* versions sharing storage share keys */
    snprintf(out, n, "/registry/%s/%s/%s%s", r->group[0] ? r->group : "core", r->plural,
             r->namespaced && ns && ns[0] ? ns : "", r->namespaced && ns && ns[0] ? "/" : "");
}

void apiserver_registry_key(const apiserver_resource_t *r, const char *ns, const char *name,
                            char *out, size_t n)
{
    /* the prefix is written in place (a temporary buffer trips -Wformat-truncation at -O2) */
    apiserver_registry_prefix(r, ns, out, n);
    size_t used = strnlen(out, n);
    if (used < n)
        snprintf(out + used, n - used, "%s", name);
}

/* ---- query parameters ---------------------------------------------------------------------- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes one query value (form encoding: '+' is a space). */
static void query_decode(const char *s, size_t len, char *out, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < len && j + 1 < n; i++) {
        if (s[i] == '+') {
            out[j++] = ' ';
        } else if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[j++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
}

bool apiserver_query_get(const char *query, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len >= nl && !strncmp(p, name, nl) && (len == nl || p[nl] == '=')) {
            const char *v = len == nl ? p + nl : p + nl + 1;
            query_decode(v, len == nl ? 0 : len - nl - 1, out, n);
            return true;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

bool apiserver_reg_query_true(const char *query, const char *name)
{
    /* Go's strconv.ParseBool, as upstream's query decoding (Python clients send "True") */
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True", NULL};
    char v[16];
    if (!apiserver_query_get(query, name, v, sizeof(v)))
        return false;
    for (size_t i = 0; yes[i]; i++)
        if (!strcmp(v, yes[i]))
            return true;
    return false;
}

/* ---- routing ------------------------------------------------------------------------------- */

static bool is_namespaced_plural(const char *group, const char *version, const char *plural)
{
    const apiserver_resource_t *r = apiserver_resource_find(group, version, plural);
    return r && r->namespaced;
}

bool apiserver_reg_has_verb(const apiserver_resource_t *r, const char *verb)
{
    for (size_t i = 0; r->verbs[i]; i++)
        if (!strcmp(r->verbs[i], verb))
            return true;
    return false;
}

bool apiserver_reg_is(const apiserver_resource_t *r, const char *plural)
{
    return !apiserver_crd_of(r) && !strcmp(r->plural, plural);
}

bool apiserver_reg_has_subresource(const apiserver_resource_t *r, const char *sub)
{
    for (size_t i = 0; r->subresources[i]; i++)
        if (!strcmp(r->subresources[i], sub))
            return true;
    return false;
}

/* Splits path into segments (at most MAX_SEGMENTS); returns the count or -1. */
static int split_path(char *path, char **seg)
{
    int n = 0;
    for (char *p = path; *p;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        if (n == MAX_SEGMENTS)
            return -1;
        seg[n++] = p;
        char *slash = strchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    return n;
}

int apiserver_registry_parse(const char *path, apiserver_target_t *t)
{
    *t = (apiserver_target_t){0};
    char copy[1024];
    if (util_strlcpy(copy, path, sizeof(copy)) < 0)
        return -1;
    char *seg[MAX_SEGMENTS];
    int n = split_path(copy, seg);
    const char *group, *version;
    int rest;
    if (n >= 2 && !strcmp(seg[0], "api")) {
        group = "";
        version = seg[1];
        rest = 2;
    } else if (n >= 3 && !strcmp(seg[0], "apis")) {
        group = seg[1];
        version = seg[2];
        rest = 3;
    } else {
        return 0; /* not a resource path */
    }
    char **r = seg + rest;
    int m = n - rest;
    if (m <= 0)
        return 0; /* discovery */
    const char *plural = NULL, *ns = "", *name = "", *sub = NULL;
    if (m >= 3 && !strcmp(r[0], "namespaces") && is_namespaced_plural(group, version, r[2])) {
        ns = r[1];
        plural = r[2];
        if (m >= 4)
            name = r[3];
        if (m == 5)
            sub = r[4];
        if (m > 5)
            return -1;
    } else {
        plural = r[0];
        if (m >= 2)
            name = r[1];
        if (m == 3)
            sub = r[2];
        if (m > 3)
            return -1;
    }
    t->res = apiserver_resource_find(group, version, plural);
    if (!t->res)
        return -1;
    if (!t->res->namespaced && ns[0])
        return -1;
    if (t->res->namespaced && !ns[0] && name[0])
        return -1; /* a namespaced object needs its namespace */
    if (sub && !apiserver_reg_has_subresource(t->res, sub))
        return -1;
    if (util_strlcpy(t->ns, ns, sizeof(t->ns)) < 0 ||
        util_strlcpy(t->name, name, sizeof(t->name)) < 0)
        return -1;
    if (sub)
        util_strlcpy(t->sub, sub, sizeof(t->sub));
    return 1;
}

/* ---- entry point ---------------------------------------------------------------------------- */

static void method_not_allowed(apiserver_conn_t *c)
{
    apiserver__respond_status(c, 405, "MethodNotAllowed",
                              "the server does not allow this method on the requested resource");
}

/* Labels the request for the metrics: upstream's verb spelling, the resource, the subresource
 * (static strings from the resource table). */
static void label_request(apiserver_conn_t *c, const apiserver_target_t *t)
{
    apiserver_request_t *r = &c->req;
    const char *m = r->method;
    r->resource = t->res;
    for (size_t i = 0; t->sub[0] && t->res->subresources[i]; i++)
        if (!strcmp(t->res->subresources[i], t->sub))
            r->subresource = t->res->subresources[i];
    bool collection = !t->name[0];
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD"))
        r->verb = !collection                                   ? "GET"
                  : apiserver_reg_query_true(r->query, "watch") ? "WATCH"
                                                                : "LIST";
    else if (!strcmp(m, "DELETE"))
        r->verb = collection ? "DELETECOLLECTION" : "DELETE";
    else if (!strcmp(m, "POST"))
        r->verb = "POST";
    else if (!strcmp(m, "PUT"))
        r->verb = "PUT";
    else if (!strcmp(m, "PATCH"))
        r->verb = "PATCH";
}

void apiserver_registry_handle(apiserver_conn_t *c, const apiserver_target_t *t)
{
    label_request(c, t);
    if (!strcmp(t->res->group, "metrics.k8s.io")) {
        apiserver__metrics_api_handle(c, t);
        return;
    }
    if (t->sub[0] && strcmp(t->sub, "status")) {
        apiserver_subresource_handle(c, t);
        return;
    }
    const char *m = c->req.method;
    bool collection = !t->name[0];
    const char *q = c->req.query;
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) {
        if (!collection) {
            apiserver_reg_handle_get(c, t);
            return;
        }
        apiserver_filter_t f;
        if (apiserver_filter_parse(c, t, &f) < 0)
            return;
        if (apiserver_reg_query_true(q, "watch")) {
            if (!apiserver_reg_has_verb(t->res, "watch"))
                method_not_allowed(c);
            else
                apiserver_watch_start(c, t, &f); /* takes the filter */
            return;
        }
        apiserver_reg_handle_list(c, t, &f);
        apiserver_filter_free(&f);
        return;
    }
    if (!strcmp(m, "POST")) {
        if (!collection || !apiserver_reg_has_verb(t->res, "create"))
            method_not_allowed(c);
        else
            apiserver_reg_handle_create(c, t);
        return;
    }
    if (!strcmp(m, "PUT")) {
        if (collection || !apiserver_reg_has_verb(t->res, "update"))
            method_not_allowed(c);
        else
            apiserver_reg_handle_update(c, t);
        return;
    }
    if (!strcmp(m, "PATCH")) {
        if (collection || !apiserver_reg_has_verb(t->res, "patch"))
            method_not_allowed(c);
        else
            apiserver_reg_handle_patch(c, t);
        return;
    }
    if (!strcmp(m, "DELETE")) {
        if (!collection) {
            if (t->sub[0])
                method_not_allowed(c);
            else
                apiserver_reg_handle_delete(c, t);
            return;
        }
        if (!apiserver_reg_has_verb(t->res, "deletecollection")) {
            method_not_allowed(c);
            return;
        }
        apiserver_filter_t f;
        if (apiserver_filter_parse(c, t, &f) < 0)
            return;
        apiserver_reg_handle_delete_collection(c, t, &f);
        apiserver_filter_free(&f);
        return;
    }
    method_not_allowed(c);
}

/* ---- bootstrap ------------------------------------------------------------------------------ */

int apiserver_registry_bootstrap(apiserver_t *a, util_error_t *err)
{
    static const char *const system_namespaces[] = {"default", "kube-system", "kube-public",
                                                    "kube-node-lease"};
    const apiserver_resource_t *r = apiserver_resource_find("", "v1", "namespaces");
    for (size_t i = 0; i < 4; i++) {
        const char *ns = system_namespaces[i];
        char key[256], uid[37], now[21];
        apiserver_registry_key(r, "", ns, key, sizeof(key));
        apiserver_obj_uuid(uid);
        apiserver_obj_now(now);
        char *value = util_strdup_printf(
            "{\"kind\":\"Namespace\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"%s\","
            "\"uid\":\"%s\",\"creationTimestamp\":\"%s\",\"labels\":{"
            "\"kubernetes.io/metadata.name\":\"%s\"}},\"spec\":{\"finalizers\":[\"kubernetes\"]},"
            "\"status\":{\"phase\":\"Active\"}}",
            ns, uid, now, ns);
        int rc = apiserver_registry_create_missing(a, key, value, err);
        free(value);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int apiserver_registry_create_missing(apiserver_t *a, const char *key, const char *value,
                                      util_error_t *err)
{
    store_op_t op = {.type = STORE_OP_CREATE,
                     .key = key,
                     .key_len = strlen(key),
                     .value = value,
                     .value_len = strlen(value)};
    store_txn_result_t res;
    int rc = store_txn_sync(a->opts.store, &op, 1, &res, err);
    store_txn_result_free(&res);
    if (rc == -EEXIST) {
        util_error_free(err);
        return 0;
    }
    return rc;
}
