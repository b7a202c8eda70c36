/* apiserver_registry: resource requests: URL routing to a resource, and get, list, create,
 * update, patch, delete and deletecollection of objects kept as JSON in the store. */
#include "apiserver_registry.h"
#include "apiserver_proto.h"
#include "apiserver_validate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/base64.h>

#include "apiserver_defaults.h"
#include "apiserver_rules.h"
#include "apiserver_services.h"
#include "apiserver_apply.h"
#include "apiserver_metrics.h"
#include "apiserver_object.h"
#include "apiserver_patch.h"
#include "apiserver_table.h"

#define MAX_SEGMENTS   8
#define MAX_NAME       253
#define MAX_LIST_LIMIT 100000
#define PATCH_RETRIES  5
#define DELETE_BATCH   100u

/* ---- keys ---------------------------------------------------------------------------------- */

void apiserver_registry_prefix(const apiserver_resource_t *r, const char *ns, char *out, size_t n)
{
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

static bool query_true(const char *query, const char *name)
{
    char v[16];
    return apiserver_query_get(query, name, v, sizeof(v)) &&
           (!strcmp(v, "true") || !strcmp(v, "1"));
}

/* ---- routing ------------------------------------------------------------------------------- */

static bool is_namespaced_plural(const char *group, const char *version, const char *plural)
{
    const apiserver_resource_t *r = apiserver_resource_find(group, version, plural);
    return r && r->namespaced;
}

static bool has_verb(const apiserver_resource_t *r, const char *verb)
{
    for (size_t i = 0; r->verbs[i]; i++)
        if (!strcmp(r->verbs[i], verb))
            return true;
    return false;
}

static bool has_subresource(const apiserver_resource_t *r, const char *sub)
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
    if (sub && !has_subresource(t->res, sub))
        return -1;
    if (util_strlcpy(t->ns, ns, sizeof(t->ns)) < 0 ||
        util_strlcpy(t->name, name, sizeof(t->name)) < 0)
        return -1;
    if (sub)
        util_strlcpy(t->sub, sub, sizeof(t->sub));
    return 1;
}

/* ---- object codec -------------------------------------------------------------------------- */

/* Parses a stored value and stamps its resourceVersion. */
static cJSON *decode_stored(const char *value, size_t len, int64_t rev)
{
    cJSON *obj = cJSON_ParseWithLength(value, len);
    if (obj)
        apiserver_obj_set_rv(obj, rev);
    return obj;
}

void apiserver_reg_respond_object(apiserver_conn_t *c, int status, cJSON *obj)
{
    char *text = cJSON_PrintUnformatted(obj);
    apiserver__respond(c, status, "application/json", text, strlen(text), NULL);
    cJSON_free(text);
}

static void respond_kv(apiserver_conn_t *c, const apiserver_target_t *t, const store_kv_t *kv)
{
    if (!apiserver_table_wanted(apiserver__header(&c->req, "accept"), NULL) || t->sub[0]) {
        util_buf_t b = {0};
        if (apiserver_obj_splice_rv(kv->value, kv->value_len, kv->mod_rev, &b)) {
            apiserver__respond(c, 200, "application/json", b.data, b.len, NULL);
            util_buf_free(&b);
            return;
        }
    }
    cJSON *obj = decode_stored(kv->value, kv->value_len, kv->mod_rev);
    if (!obj) {
        apiserver__respond_status(c, 500, "InternalError", "stored object is not valid JSON");
        return;
    }
    const char *table_version = NULL;
    if (!t->sub[0] &&
        apiserver_table_wanted(apiserver__header(&c->req, "accept"), &table_version)) {
        char include[16] = "", rv[24];
        apiserver_query_get(c->req.query, "includeObject", include, sizeof(include));
        snprintf(rv, sizeof(rv), "%" PRId64, kv->mod_rev);
        util_buf_t b = {0};
        apiserver_table_render(&b, table_version, t->res->group, t->res->plural, &obj, 1,
                               include[0] ? include : NULL, rv, NULL);
        char ct[96];
        snprintf(ct, sizeof(ct), "application/json;as=Table;v=%s;g=meta.k8s.io", table_version);
        apiserver__respond(c, 200, ct, b.data, b.len, NULL);
        util_buf_free(&b);
    } else {
        apiserver_reg_respond_object(c, 200, obj);
    }
    cJSON_Delete(obj);
}

static const char *api_version_of(const apiserver_resource_t *r, char *buf, size_t n)
{
    if (r->group[0])
        snprintf(buf, n, "%s/%s", r->group, r->version);
    else
        snprintf(buf, n, "%s", r->version);
    return buf;
}

/* Checks kind/apiVersion and metadata of a request body; answers and returns NULL when bad. */
static cJSON *parse_body(apiserver_conn_t *c, const apiserver_target_t *t)
{
    apiserver_request_t *rq = &c->req;
    const char *ct = apiserver__header(rq, "content-type");
    bool proto =
        ct && !strncmp(ct, APISERVER_PROTO_CONTENT_TYPE, strlen(APISERVER_PROTO_CONTENT_TYPE));
    if (ct && !proto && strncmp(ct, "application/json", 16) != 0) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "the body of the request was in an unknown format - accepted "
                 "media types include: application/json (got %.100s)",
                 ct);
        apiserver__respond_status(c, 415, "UnsupportedMediaType", msg);
        return NULL;
    }
    char perr[256];
    cJSON *obj = proto ? apiserver_proto_decode(rq->body.data, rq->body.len, perr, sizeof(perr))
                       : cJSON_ParseWithLength(rq->body.data ? rq->body.data : "", rq->body.len);
    if (proto && !obj) {
        apiserver_status_bad_request(c, perr);
        return NULL;
    }
    if (!obj || !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        apiserver_status_bad_request(c, "the request body is not a JSON object");
        return NULL;
    }
    char av[128];
    api_version_of(t->res, av, sizeof(av));
    const char *kind = apiserver_obj_string(obj, "kind");
    const char *apiv = apiserver_obj_string(obj, "apiVersion");
    /* Like upstream's decoder, a body without kind/apiVersion takes the endpoint's. */
    if (!kind) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "kind");
        kind = cJSON_AddStringToObject(obj, "kind", t->res->kind)->valuestring;
    }
    if (!apiv) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "apiVersion");
        apiv = cJSON_AddStringToObject(obj, "apiVersion", av)->valuestring;
    }
    if (strcmp(kind, t->res->kind) || strcmp(apiv, av)) {
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "the API version in the data (%s) does not match the expected "
                 "API version (%s) or the kind (%s) is not %s",
                 apiv, av, kind, t->res->kind);
        cJSON_Delete(obj);
        apiserver_status_bad_request(c, msg);
        return NULL;
    }
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    if (meta && !cJSON_IsObject(meta)) {
        cJSON_Delete(obj);
        apiserver_status_bad_request(c, "metadata must be an object");
        return NULL;
    }
    if (apiserver__validate_request(c, t->res, obj, true) < 0) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

/* Fields the server owns or derives, applied to every object it stores. */
static int normalize(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj, const char *name)
{
    cJSON *meta = apiserver_obj_metadata(obj);
    if (t->res->namespaced) {
        const char *ns = apiserver_obj_string(meta, "namespace");
        if (ns && strcmp(ns, t->ns)) {
            apiserver_status_bad_request(c, "the namespace of the provided object does not match "
                                            "the namespace sent on the request");
            return -1;
        }
        if (!ns)
            cJSON_AddStringToObject(meta, "namespace", t->ns);
    } else {
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "namespace");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "resourceVersion");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "selfLink");
    /* labels and annotations: string maps */
    static const char *const maps[] = {"labels", "annotations"};
    for (size_t i = 0; i < 2; i++) {
        cJSON *m = cJSON_GetObjectItemCaseSensitive(meta, maps[i]);
        if (!m || cJSON_IsNull(m))
            continue;
        bool ok = cJSON_IsObject(m);
        for (cJSON *e = ok ? m->child : NULL; e && ok; e = e->next)
            ok = cJSON_IsString(e);
        if (!ok) {
            char msg[128];
            snprintf(msg, sizeof(msg), "metadata.%s must be a map of strings", maps[i]);
            apiserver_status_bad_request(c, msg);
            return -1;
        }
    }
    if (!strcmp(t->res->plural, "secrets")) {
        cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data");
        cJSON *sd = cJSON_GetObjectItemCaseSensitive(obj, "stringData");
        if (cJSON_IsObject(sd)) {
            if (!cJSON_IsObject(data)) {
                cJSON_DeleteItemFromObjectCaseSensitive(obj, "data");
                data = cJSON_AddObjectToObject(obj, "data");
            }
            for (cJSON *e = sd->child; e; e = e->next) {
                if (!cJSON_IsString(e) || !e->string)
                    continue;
                size_t len = strlen(e->valuestring), olen = 0;
                size_t cap = 4 * ((len + 2) / 3) + 1;
                unsigned char *b64 = util_xmalloc(cap);
                mbedtls_base64_encode(b64, cap, &olen, (const unsigned char *)e->valuestring, len);
                cJSON_DeleteItemFromObjectCaseSensitive(data, e->string);
                cJSON_AddStringToObject(data, e->string, (const char *)b64);
                free(b64);
            }
        }
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "stringData");
        for (cJSON *e = cJSON_IsObject(data) ? data->child : NULL; e; e = e->next) {
            size_t olen = 0;
            if (!cJSON_IsString(e) ||
                mbedtls_base64_decode(NULL, 0, &olen, (const unsigned char *)e->valuestring,
                                      strlen(e->valuestring)) ==
                    MBEDTLS_ERR_BASE64_INVALID_CHARACTER) {
                apiserver_status_bad_request(c, "Secret in version \"v1\" cannot be handled as a "
                                                "Secret: illegal base64 data in .data");
                return -1;
            }
        }
        if (!apiserver_obj_string(obj, "type"))
            cJSON_AddStringToObject(obj, "type", "Opaque");
    }
    if (!strcmp(t->res->plural, "namespaces")) {
        cJSON *labels = cJSON_GetObjectItemCaseSensitive(meta, "labels");
        if (!cJSON_IsObject(labels)) {
            cJSON_DeleteItemFromObjectCaseSensitive(meta, "labels");
            labels = cJSON_AddObjectToObject(meta, "labels");
        }
        cJSON_DeleteItemFromObjectCaseSensitive(labels, "kubernetes.io/metadata.name");
        cJSON_AddStringToObject(labels, "kubernetes.io/metadata.name", name);
        cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
        if (!cJSON_IsObject(spec)) {
            cJSON_DeleteItemFromObjectCaseSensitive(obj, "spec");
            spec = cJSON_AddObjectToObject(obj, "spec");
        }
        if (!cJSON_GetObjectItemCaseSensitive(spec, "finalizers")) {
            cJSON *f = cJSON_AddArrayToObject(spec, "finalizers");
            cJSON_AddItemToArray(f, cJSON_CreateString("kubernetes"));
        }
        cJSON *status = cJSON_GetObjectItemCaseSensitive(obj, "status");
        if (!cJSON_IsObject(status)) {
            cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
            status = cJSON_AddObjectToObject(obj, "status");
        }
        cJSON_DeleteItemFromObjectCaseSensitive(status, "phase");
        cJSON_AddStringToObject(status, "phase", "Active");
    }
    apiserver_defaults_apply(t->res, obj);
    return 0;
}

/* ---- lifecycle rules ---------------------------------------------------------------------- */

static bool dry_run(apiserver_conn_t *c)
{
    char v[16];
    return apiserver_query_get(c->req.query, "dryRun", v, sizeof(v)) && !strcmp(v, "All");
}

/* Resources whose metadata.generation counts spec changes (upstream's strategies). */
static bool tracks_generation(const apiserver_resource_t *r)
{
    static const char *const plurals[] = {"deployments",
                                          "replicasets",
                                          "statefulsets",
                                          "daemonsets",
                                          "jobs",
                                          "cronjobs",
                                          "replicationcontrollers",
                                          "horizontalpodautoscalers",
                                          "poddisruptionbudgets",
                                          "networkpolicies",
                                          "ingresses",
                                          "customresourcedefinitions",
                                          NULL};
    for (size_t i = 0; plurals[i]; i++)
        if (!strcmp(r->plural, plurals[i]))
            return true;
    return false;
}

static void set_int(cJSON *obj, const char *name, double v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
    cJSON_AddNumberToObject(obj, name, v);
}

/* A pod's QoS class from its containers' requests and limits (upstream's GetPodQOS, simplified
 * to "has any" / "limits equal requests for cpu and memory in every container"). */
static const char *pod_qos(const cJSON *pod)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
    const cJSON *ctrs = cJSON_GetObjectItemCaseSensitive(spec, "containers");
    bool any = false, guaranteed = cJSON_GetArraySize(ctrs) > 0;
    const cJSON *ct;
    cJSON_ArrayForEach(ct, ctrs)
    {
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(ct, "resources");
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(res, "requests");
        const cJSON *lim = cJSON_GetObjectItemCaseSensitive(res, "limits");
        static const char *const names[] = {"cpu", "memory"};
        for (int i = 0; i < 2; i++) {
            const char *r = apiserver_obj_string(req, names[i]);
            const char *l = apiserver_obj_string(lim, names[i]);
            if (r || l)
                any = true;
            if (!l || (r && strcmp(r, l)))
                guaranteed = false;
        }
    }
    return !any ? "BestEffort" : guaranteed ? "Guaranteed" : "Burstable";
}

/* Server-set fields of a new object: generation, and a fresh status for resources whose status
 * is written only through the status subresource. */
static void prepare_create(const apiserver_target_t *t, cJSON *obj)
{
    cJSON *meta = apiserver_obj_metadata(obj);
    if (tracks_generation(t->res))
        set_int(meta, "generation", 1);
    bool has_status = false;
    for (size_t i = 0; t->res->subresources[i]; i++)
        has_status |= !strcmp(t->res->subresources[i], "status");
    if (!has_status || !strcmp(t->res->plural, "namespaces"))
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
    cJSON *status = cJSON_AddObjectToObject(obj, "status");
    if (!strcmp(t->res->plural, "pods")) {
        cJSON_AddStringToObject(status, "phase", "Pending");
        cJSON_AddStringToObject(status, "qosClass", pod_qos(obj));
    }
}

/* generation follows spec changes; an object being deleted whose finalizers are all gone is
 * removed. Returns true when the update is the removal. */
static bool prepare_update(const apiserver_target_t *t, cJSON *obj, const cJSON *cur)
{
    cJSON *meta = apiserver_obj_metadata(obj);
    const cJSON *cmeta = cJSON_GetObjectItemCaseSensitive(cur, "metadata");
    if (tracks_generation(t->res)) {
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(cmeta, "generation");
        double gen = cJSON_IsNumber(g) ? g->valuedouble : 1;
        bool changed = !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(obj, "spec"),
                                      cJSON_GetObjectItemCaseSensitive(cur, "spec"), true);
        set_int(meta, "generation", changed && !t->sub[0] ? gen + 1 : gen);
    }
    const cJSON *deleting = cJSON_GetObjectItemCaseSensitive(cmeta, "deletionTimestamp");
    const cJSON *fin = cJSON_GetObjectItemCaseSensitive(meta, "finalizers");
    return deleting && cJSON_GetArraySize(fin) == 0;
}

/* ---- async writes --------------------------------------------------------------------------- */

/* W_REMOVE: an update that removed the last finalizer of an object being deleted: the object
 * goes, and the answer is the object as last written. */
typedef enum { W_CREATE, W_UPDATE, W_DELETE, W_REMOVE, W_SCALE, W_BIND } write_kind_t;

typedef struct write_ctx {
    apiserver_conn_t *c;
    apiserver_target_t t;
    write_kind_t kind;
    char name[MAX_NAME + 1];
    char uid[64];
    cJSON *obj; /* what was written (create/update), without resourceVersion */
    uint64_t start_ns;
    apiserver_services_claim_t claim; /* service IP/ports reserved until the write is done */
} write_ctx_t;

static void write_done(store_t *s, store_txn_result_t *res, void *ud)
{
    (void)s;
    write_ctx_t *w = ud;
    apiserver_conn_t *c = w->c;
    apiserver_services_release(c->srv, &w->claim);
    apiserver_metrics_store_txn(c->srv->metrics, (double)(uv_hrtime() - w->start_ns) / 1e9);
    if (!c->closing) {
        if (res->status == 0) {
            if (w->kind == W_DELETE) {
                apiserver_status_success(c, w->t.res, w->name, w->uid[0] ? w->uid : NULL);
            } else if (w->kind == W_REMOVE) {
                apiserver_reg_respond_object(c, 200, w->obj);
            } else if (w->kind == W_BIND) {
                apiserver__respond(c, 201, "application/json",
                                   "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                                   "\"status\":\"Success\",\"code\":201}",
                                   strlen("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":"
                                          "{},\"status\":\"Success\",\"code\":201}"),
                                   NULL);
            } else if (w->kind == W_SCALE) { /* an update through the scale subresource */
                apiserver_obj_set_rv(w->obj, res->ops[0].rev);
                cJSON *scale = apiserver_scale_of(w->t.res, w->obj);
                apiserver_reg_respond_object(c, 200, scale);
                cJSON_Delete(scale);
            } else {
                apiserver_obj_set_rv(w->obj, res->ops[0].rev);
                apiserver_reg_respond_object(c, w->kind == W_CREATE ? 201 : 200, w->obj);
            }
        } else if (res->status == -EEXIST) {
            apiserver_status_already_exists(c, w->t.res, w->name);
        } else if (res->status == -ENOENT) {
            apiserver_status_not_found(c, w->t.res, w->name);
        } else if (res->status == STORE_ECONFLICT) {
            apiserver_status_conflict(c, w->t.res, w->name);
        } else {
            apiserver_status_store_error(c, res->status, res->message);
        }
    }
    cJSON_Delete(w->obj);
    free(w);
    apiserver__conn_unref(c);
}

static void submit_write_claim(apiserver_conn_t *c, const apiserver_target_t *t, write_kind_t kind,
                               const char *name, cJSON *obj, int64_t expected_rev, const char *uid,
                               const apiserver_services_claim_t *claim);

static void submit_write(apiserver_conn_t *c, const apiserver_target_t *t, write_kind_t kind,
                         const char *name, cJSON *obj, int64_t expected_rev, const char *uid)
{
    submit_write_claim(c, t, kind, name, obj, expected_rev, uid, NULL);
}

static void submit_write_claim(apiserver_conn_t *c, const apiserver_target_t *t, write_kind_t kind,
                               const char *name, cJSON *obj, int64_t expected_rev, const char *uid,
                               const apiserver_services_claim_t *claim)
{
    char key[1024];
    apiserver_registry_key(t->res, t->ns, name, key, sizeof(key));
    write_ctx_t *w = util_xcalloc(1, sizeof(*w));
    w->c = c;
    w->t = *t;
    w->kind = kind;
    w->obj = obj;
    w->start_ns = uv_hrtime();
    if (claim)
        w->claim = *claim;
    util_strlcpy(w->name, name, sizeof(w->name));
    if (uid)
        util_strlcpy(w->uid, uid, sizeof(w->uid));
    if (dry_run(c)) { /* everything but the write */
        apiserver_services_release(c->srv, &w->claim);
        if (kind == W_DELETE) {
            apiserver_status_success(c, t->res, name, uid);
        } else if (kind == W_SCALE) {
            cJSON *scale = apiserver_scale_of(t->res, obj);
            apiserver_reg_respond_object(c, 200, scale);
            cJSON_Delete(scale);
        } else {
            apiserver_reg_respond_object(c, kind == W_CREATE ? 201 : 200, obj);
        }
        cJSON_Delete(obj);
        free(w);
        return;
    }
    if (obj)
        apiserver_obj_canonical_order(obj);
    char *text = obj && kind != W_REMOVE ? cJSON_PrintUnformatted(obj) : NULL;
    store_op_t op = {
        .type = kind == W_CREATE                                        ? STORE_OP_CREATE
                : kind == W_UPDATE || kind == W_SCALE || kind == W_BIND ? STORE_OP_UPDATE
                                                                        : STORE_OP_DELETE,
        .key = key,
        .key_len = strlen(key),
        .value = text,
        .value_len = text ? strlen(text) : 0,
        .expected_rev = expected_rev,
    };
    cleanup_error util_error_t err = NULL;
    apiserver__conn_ref(c);
    int r = store_txn(c->srv->opts.store, &op, 1, write_done, w, &err);
    cJSON_free(text);
    if (r < 0) {
        apiserver_services_release(c->srv, &w->claim);
        apiserver_status_store_error(c, r, err ? err->msg : NULL);
        cJSON_Delete(w->obj);
        free(w);
        apiserver__conn_unref(c);
    }
}

void apiserver_reg_write_scale(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj,
                               int64_t expected_rev)
{
    submit_write(c, t, W_SCALE, t->name, obj, expected_rev, NULL);
}

void apiserver_reg_write_binding(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *pod,
                                 int64_t expected_rev)
{
    submit_write(c, t, W_BIND, t->name, pod, expected_rev, NULL);
}

void apiserver_reg_delete(apiserver_conn_t *c, const apiserver_target_t *t, int64_t expected_rev,
                          const char *uid)
{
    submit_write(c, t, W_DELETE, t->name, NULL, expected_rev, uid);
}

/* ---- handlers ------------------------------------------------------------------------------ */

static bool namespace_exists(apiserver_t *a, const char *ns)
{
    const apiserver_resource_t *nsres = apiserver_resource_find("", "v1", "namespaces");
    char key[512];
    apiserver_registry_key(nsres, "", ns, key, sizeof(key));
    store_kv_t *kv = NULL;
    int r = store_get(a->opts.store, key, strlen(key), 0, &kv, NULL, NULL);
    free(kv);
    return r == 0;
}

static void handle_get(apiserver_conn_t *c, const apiserver_target_t *t)
{
    char key[1024];
    apiserver_registry_key(t->res, t->ns, t->name, key, sizeof(key));
    store_kv_t *kv = NULL;
    cleanup_error util_error_t err = NULL;
    int r = store_get(c->srv->opts.store, key, strlen(key), 0, &kv, NULL, &err);
    if (r == -ENOENT)
        apiserver_status_not_found(c, t->res, t->name);
    else if (r < 0)
        apiserver_status_store_error(c, r, err ? err->msg : NULL);
    else
        respond_kv(c, t, kv);
    free(kv);
}

/* Creates obj (taken): names, defaults and server-set metadata, then the write. Shared by POST
 * and by server-side apply to a missing object. */
void apiserver_reg_create(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj)
{
    cJSON *meta = apiserver_obj_metadata(obj);
    const char *name = apiserver_obj_string(meta, "name");
    const char *gen = apiserver_obj_string(meta, "generateName");
    char generated[MAX_NAME + 1];
    if ((!name || !name[0]) && gen && gen[0]) {
        static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789"; /* upstream's */
        char uid[37];
        apiserver_obj_uuid(uid);
        size_t glen = strlen(gen) > 58 ? 58 : strlen(gen);
        memcpy(generated, gen, glen);
        for (size_t i = 0; i < 5; i++)
            generated[glen + i] = alphabet[(unsigned char)uid[i * 3] % (sizeof(alphabet) - 1)];
        generated[glen + 5] = '\0';
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "name");
        cJSON_AddStringToObject(meta, "name", generated);
        name = apiserver_obj_string(meta, "name");
    }
    if (!name || !name[0]) {
        cJSON_Delete(obj);
        apiserver_status_invalid(c, t->res, "", "metadata.name", "",
                                 "name or generateName is required");
        return;
    }
    const char *why = apiserver_obj_name_problem(name, t->res->name_rule);
    if (why) {
        char copy[MAX_NAME + 64];
        util_strlcpy(copy, name, sizeof(copy));
        cJSON_Delete(obj);
        apiserver_status_invalid(c, t->res, copy, "metadata.name", copy, why);
        return;
    }
    if (t->res->namespaced && !namespace_exists(c->srv, t->ns)) {
        cJSON_Delete(obj);
        apiserver_status_not_found(c, apiserver_resource_find("", "v1", "namespaces"), t->ns);
        return;
    }
    if (normalize(c, t, obj, name) < 0) {
        cJSON_Delete(obj);
        return;
    }
    char uid[37], now[21];
    apiserver_obj_uuid(uid);
    apiserver_obj_now(now);
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "uid");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "creationTimestamp");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "deletionTimestamp");
    cJSON_AddStringToObject(meta, "uid", uid);
    cJSON_AddStringToObject(meta, "creationTimestamp", now);
    prepare_create(t, obj);
    apiserver_managed_track(c, t, obj, NULL);
    if (apiserver_rules_check(c, t->res, obj, NULL, name) < 0) {
        cJSON_Delete(obj); /* answered */
        return;
    }
    apiserver_services_claim_t claim = {0};
    if (!strcmp(t->res->plural, "services") &&
        apiserver_services_allocate(c, obj, NULL, &claim) < 0) {
        cJSON_Delete(obj); /* answered */
        return;
    }
    char copy[MAX_NAME + 1];
    util_strlcpy(copy, name, sizeof(copy));
    submit_write_claim(c, t, W_CREATE, copy, obj, 0, NULL, &claim);
}

static void handle_create(apiserver_conn_t *c, const apiserver_target_t *t)
{
    cJSON *obj = parse_body(c, t);
    if (obj)
        apiserver_reg_create(c, t, obj);
}

/* Carries the server-owned metadata of the current object into a replacement. */
static void keep_server_fields(cJSON *obj, const cJSON *cur)
{
    cJSON *meta = apiserver_obj_metadata(obj);
    const cJSON *cmeta = cJSON_GetObjectItemCaseSensitive(cur, "metadata");
    static const char *const owned[] = {
        "uid",          "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
        "generateName", "generation"};
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cmeta, owned[i]);
        cJSON_DeleteItemFromObjectCaseSensitive(meta, owned[i]);
        if (v)
            cJSON_AddItemToObject(meta, owned[i], cJSON_Duplicate(v, true));
    }
}

/* Reads the current object for an update; answers and returns NULL when absent or broken. */
store_kv_t *apiserver_reg_read_current(apiserver_conn_t *c, const apiserver_target_t *t)
{
    char key[1024];
    apiserver_registry_key(t->res, t->ns, t->name, key, sizeof(key));
    store_kv_t *kv = NULL;
    cleanup_error util_error_t err = NULL;
    int r = store_get(c->srv->opts.store, key, strlen(key), 0, &kv, NULL, &err);
    if (r == -ENOENT)
        apiserver_status_not_found(c, t->res, t->name);
    else if (r < 0)
        apiserver_status_store_error(c, r, err ? err->msg : NULL);
    return r == 0 ? kv : NULL;
}

/* The status subresource changes only .status; the main resource keeps the stored .status
 * for resources that have a status subresource. */
static void apply_subresource_rules(const apiserver_target_t *t, cJSON *obj, const cJSON *cur)
{
    if (!has_subresource(t->res, "status"))
        return;
    if (t->sub[0] && !strcmp(t->sub, "status")) {
        cJSON *status = cJSON_DetachItemFromObjectCaseSensitive(obj, "status");
        cJSON *rebuilt = cJSON_Duplicate(cur, true);
        cJSON_DeleteItemFromObjectCaseSensitive(rebuilt, "status");
        if (status)
            cJSON_AddItemToObject(rebuilt, "status", status);
        /* swap contents: obj becomes rebuilt */
        cJSON *child = obj->child;
        obj->child = rebuilt->child;
        rebuilt->child = child;
        cJSON_Delete(rebuilt);
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(cur, "status");
    if (cs)
        cJSON_AddItemToObject(obj, "status", cJSON_Duplicate(cs, true));
}

void apiserver_reg_finish_update(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj,
                                 const store_kv_t *kv, int64_t expected_rev)
{
    cJSON *cur = cJSON_ParseWithLength(kv->value, kv->value_len);
    if (!cur) {
        cJSON_Delete(obj);
        apiserver__respond_status(c, 500, "InternalError", "stored object is not valid JSON");
        return;
    }
    apply_subresource_rules(t, obj, cur);
    keep_server_fields(obj, cur);
    bool remove = prepare_update(t, obj, cur);
    if (normalize(c, t, obj, t->name) < 0) {
        cJSON_Delete(cur);
        cJSON_Delete(obj);
        return;
    }
    apiserver_managed_track(c, t, obj, cur);
    if (!remove && apiserver_rules_check(c, t->res, obj, t->sub[0] ? NULL : cur, t->name) < 0) {
        cJSON_Delete(cur);
        cJSON_Delete(obj); /* answered */
        return;
    }
    apiserver_services_claim_t claim = {0};
    if (!remove && !strcmp(t->res->plural, "services") &&
        apiserver_services_allocate(c, obj, cur, &claim) < 0) {
        cJSON_Delete(cur);
        cJSON_Delete(obj); /* answered */
        return;
    }
    cJSON_Delete(cur);
    submit_write_claim(c, t, remove ? W_REMOVE : W_UPDATE, t->name, obj, expected_rev, NULL,
                       &claim);
}

int64_t apiserver_parse_rv(const char *s, bool *ok)
{
    char *end = NULL;
    errno = 0;
    long long v = s && *s ? strtoll(s, &end, 10) : 0;
    *ok = s && *s && end && *end == '\0' && errno == 0 && v > 0;
    return v;
}

static void handle_update(apiserver_conn_t *c, const apiserver_target_t *t)
{
    cJSON *obj = parse_body(c, t);
    if (!obj)
        return;
    cJSON *meta = apiserver_obj_metadata(obj);
    const char *name = apiserver_obj_string(meta, "name");
    if (!name || strcmp(name, t->name)) {
        cJSON_Delete(obj);
        apiserver_status_bad_request(c, "the name of the object does not match the name on the "
                                        "URL");
        return;
    }
    const char *rvs = apiserver_obj_string(meta, "resourceVersion");
    bool rv_ok = false;
    int64_t rv = apiserver_parse_rv(rvs, &rv_ok);
    if (rvs && rvs[0] && !rv_ok) {
        cJSON_Delete(obj);
        apiserver_status_bad_request(c, "metadata.resourceVersion: Invalid value: must be a "
                                        "positive integer");
        return;
    }
    store_kv_t *kv = apiserver_reg_read_current(c, t);
    if (!kv) {
        cJSON_Delete(obj);
        return;
    }
    /* With a resourceVersion the client asked for compare-and-swap; without one, the update is
     * unconditional, still applied against the version just read. */
    if (rv_ok && rv != kv->mod_rev) {
        free(kv);
        cJSON_Delete(obj);
        apiserver_status_conflict(c, t->res, t->name);
        return;
    }
    apiserver_reg_finish_update(c, t, obj, kv, kv->mod_rev);
    free(kv);
}

/* ---- patches --------------------------------------------------------------------------------- */

static void handle_patch(apiserver_conn_t *c, const apiserver_target_t *t)
{
    const char *ct = apiserver__header(&c->req, "content-type");
    char type[128] = "";
    if (ct) {
        util_strlcpy(type, ct, sizeof(type));
        char *semi = strchr(type, ';');
        if (semi)
            *semi = '\0';
    }
    enum { MERGE, STRATEGIC, JSON_PATCH } kind;
    if (!strcmp(type, "application/apply-patch+yaml")) {
        apiserver_apply_handle(c, t);
        return;
    }
    if (!strcmp(type, "application/merge-patch+json"))
        kind = MERGE;
    else if (!strcmp(type, "application/strategic-merge-patch+json"))
        kind = STRATEGIC;
    else if (!strcmp(type, "application/json-patch+json"))
        kind = JSON_PATCH;
    else {
        char msg[384];
        snprintf(msg, sizeof(msg),
                 "the body of the request was in an unknown format - accepted media types "
                 "include: application/json-patch+json, application/merge-patch+json, "
                 "application/apply-patch+yaml, application/strategic-merge-patch+json (got %s)",
                 type[0] ? type : "none");
        apiserver__respond_status(c, 415, "UnsupportedMediaType", msg);
        return;
    }
    cJSON *patch = cJSON_ParseWithLength(c->req.body.data ? c->req.body.data : "", c->req.body.len);
    if (!patch || (kind == JSON_PATCH ? !cJSON_IsArray(patch) : !cJSON_IsObject(patch))) {
        cJSON_Delete(patch);
        apiserver_status_bad_request(c, kind == JSON_PATCH ? "a JSON patch must be an array"
                                                           : "the patch is not a JSON object");
        return;
    }
    store_kv_t *kv = apiserver_reg_read_current(c, t);
    if (!kv) {
        cJSON_Delete(patch);
        return;
    }
    cJSON *cur = cJSON_ParseWithLength(kv->value, kv->value_len);
    apiserver_obj_set_rv(cur, kv->mod_rev); /* a patch may test or keep the resourceVersion */
    cleanup_error util_error_t perr = NULL;
    cJSON *obj = kind == MERGE       ? apiserver_merge_patch(cur, patch)
                 : kind == STRATEGIC ? apiserver_strategic_patch(cur, patch, t->res->kind, &perr)
                                     : apiserver_json_patch(cur, patch, &perr);
    cJSON_Delete(cur);
    cJSON_Delete(patch);
    if (!obj) {
        free(kv);
        int code = util_error_code(perr) == -E2BIG ? 413 : 422;
        if (code == 413)
            apiserver__respond_status(c, 413, "RequestEntityTooLarge",
                                      perr && perr->msg ? perr->msg : "patch too large");
        else
            apiserver__respond_status(c, 422, "Invalid",
                                      perr && perr->msg ? perr->msg : "the patch does not apply");
        return;
    }
    if (!cJSON_IsObject(obj)) {
        free(kv);
        cJSON_Delete(obj);
        apiserver_status_bad_request(c, "the patch would replace the object with a non-object");
        return;
    }
    cJSON *meta = apiserver_obj_metadata(obj);
    const char *name = apiserver_obj_string(meta, "name");
    const char *rvs = apiserver_obj_string(meta, "resourceVersion");
    bool rv_ok = false;
    int64_t rv = apiserver_parse_rv(rvs, &rv_ok);
    if (!name || strcmp(name, t->name) || !meta) {
        free(kv);
        cJSON_Delete(obj);
        apiserver_status_bad_request(c, "a patch may not change the object's name");
        return;
    }
    if (apiserver__validate_request(c, t->res, obj, false) < 0) {
        free(kv);
        cJSON_Delete(obj);
        return;
    }
    if (rv_ok && rv != kv->mod_rev) { /* the patch carried a resourceVersion precondition */
        free(kv);
        cJSON_Delete(obj);
        apiserver_status_conflict(c, t->res, t->name);
        return;
    }
    apiserver_reg_finish_update(c, t, obj, kv, kv->mod_rev);
    free(kv);
}

/* ---- delete ------------------------------------------------------------------------------- */

/* Deletes every namespaced object of a namespace (before the namespace itself goes). Runs
 * synchronously in batches: namespaces are few and small on the machines kubeling targets. */
static int purge_namespace(apiserver_t *a, const char *ns, util_error_t *err)
{
    for (size_t i = 0; i < apiserver_nresources; i++) {
        const apiserver_resource_t *r = &apiserver_resources[i];
        if (!r->namespaced)
            continue;
        char prefix[512], end[512];
        apiserver_registry_prefix(r, ns, prefix, sizeof(prefix));
        size_t elen = store_prefix_end(prefix, strlen(prefix), end);
        for (;;) {
            store_list_t l = {0};
            int rc = store_range(a->opts.store, prefix, strlen(prefix), end, elen, 0, DELETE_BATCH,
                                 &l, err);
            if (rc < 0)
                return rc;
            if (l.n == 0) {
                store_list_free(&l);
                break;
            }
            store_op_t ops[DELETE_BATCH];
            for (size_t k = 0; k < l.n; k++)
                ops[k] = (store_op_t){
                    .type = STORE_OP_DELETE, .key = l.kvs[k]->key, .key_len = l.kvs[k]->key_len};
            store_txn_result_t res;
            rc = store_txn_sync(a->opts.store, ops, l.n, &res, err);
            store_txn_result_free(&res);
            store_list_free(&l);
            if (rc < 0 && rc != -ENOENT)
                return rc;
        }
    }
    return 0;
}

/* An RFC 3339 time seconds from now. */
static void time_after(char out[21], int64_t seconds)
{
    time_t when = time(NULL) + (time_t)seconds;
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* gracePeriodSeconds from the query or the DeleteOptions body; -1 when not given. */
static int64_t grace_period(apiserver_conn_t *c, const cJSON *opts)
{
    char v[24];
    long g;
    if (apiserver_query_get(c->req.query, "gracePeriodSeconds", v, sizeof(v)) &&
        util_parse_long(v, 0, 1L << 30, &g) == 0)
        return g;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(opts, "gracePeriodSeconds");
    return cJSON_IsNumber(n) && n->valuedouble >= 0 ? (int64_t)n->valuedouble : -1;
}

static void handle_delete(apiserver_conn_t *c, const apiserver_target_t *t)
{
    store_kv_t *kv = apiserver_reg_read_current(c, t);
    if (!kv)
        return;
    int64_t expected = kv->mod_rev;
    cJSON *cur = cJSON_ParseWithLength(kv->value, kv->value_len);
    free(kv);
    cJSON *meta = apiserver_obj_metadata(cur);
    char uid[64] = "";
    const char *u = apiserver_obj_string(meta, "uid");
    if (u)
        util_strlcpy(uid, u, sizeof(uid));
    cJSON *opts = c->req.body.len ? cJSON_ParseWithLength(c->req.body.data, c->req.body.len) : NULL;
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(opts, "preconditions");
    const char *puid = apiserver_obj_string(pre, "uid");
    const char *prv = apiserver_obj_string(pre, "resourceVersion");
    bool rv_ok = false;
    int64_t rv = apiserver_parse_rv(prv, &rv_ok);
    int64_t grace = grace_period(c, opts);
    cJSON_Delete(opts);
    if ((puid && strcmp(puid, uid)) || (prv && (!rv_ok || rv != expected))) {
        cJSON_Delete(cur);
        apiserver_status_conflict(c, t->res, t->name);
        return;
    }
    if (!meta) {
        cJSON_Delete(cur);
        apiserver__respond_status(c, 500, "InternalError", "stored object has no metadata");
        return;
    }
    /* Finalizers: the object is only marked; it goes when the last finalizer is removed. */
    bool finalizers = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(meta, "finalizers")) > 0;
    bool deleting = cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp") != NULL;
    /* A pod bound to a node is marked with a grace period and left to its kubelet. */
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(cur, "spec");
    bool graceful =
        !strcmp(t->res->plural, "pods") && apiserver_obj_string(spec, "nodeName") && grace != 0;
    if ((finalizers || graceful) && !deleting) {
        if (graceful && grace < 0) {
            const cJSON *tg =
                cJSON_GetObjectItemCaseSensitive(spec, "terminationGracePeriodSeconds");
            grace = cJSON_IsNumber(tg) ? (int64_t)tg->valuedouble : 30;
        }
        if (!graceful)
            grace = 0;
        char when[21];
        time_after(when, grace);
        cJSON_AddStringToObject(meta, "deletionTimestamp", when);
        set_int(meta, "deletionGracePeriodSeconds", (double)grace);
        submit_write(c, t, W_UPDATE, t->name, cur, expected, NULL);
        return;
    }
    if ((finalizers || graceful) && deleting) { /* already marked: nothing changes */
        apiserver_obj_set_rv(cur, expected);
        apiserver_reg_respond_object(c, 200, cur);
        cJSON_Delete(cur);
        return;
    }
    cJSON_Delete(cur);
    if (!strcmp(t->res->plural, "namespaces") && !dry_run(c)) {
        cleanup_error util_error_t err = NULL;
        int r = purge_namespace(c->srv, t->name, &err);
        if (r < 0) {
            apiserver_status_store_error(c, r, err ? err->msg : NULL);
            return;
        }
    }
    submit_write(c, t, W_DELETE, t->name, NULL, expected, uid);
}

/* ---- list ------------------------------------------------------------------------------------ */

/* Continue tokens: base64 of "<rev>\n<next key>". */
static void encode_continue(util_buf_t *b, int64_t rev, const char *key, size_t key_len)
{
    util_buf_t raw = {0};
    util_buf_printf(&raw, "%" PRId64 "\n", rev);
    util_buf_append(&raw, key, key_len);
    util_buf_append(&raw, "", 1); /* the next key is the last one plus a NUL */
    size_t olen = 0, cap = 4 * ((raw.len + 2) / 3) + 1;
    unsigned char *out = util_xmalloc(cap);
    mbedtls_base64_encode(out, cap, &olen, (const unsigned char *)raw.data, raw.len);
    util_buf_append(b, out, olen);
    free(out);
    util_buf_free(&raw);
}

static int decode_continue(const char *token, const char *prefix, int64_t *rev, char *key,
                           size_t key_cap, size_t *key_len)
{
    unsigned char raw[1200];
    size_t olen = 0;
    if (mbedtls_base64_decode(raw, sizeof(raw), &olen, (const unsigned char *)token,
                              strlen(token)) != 0)
        return -1;
    unsigned char *nl = memchr(raw, '\n', olen);
    if (!nl)
        return -1;
    *nl = '\0';
    bool ok;
    *rev = apiserver_parse_rv((const char *)raw, &ok);
    size_t klen = olen - (size_t)(nl + 1 - raw);
    if (!ok || klen > key_cap || klen < strlen(prefix) ||
        memcmp(nl + 1, prefix, strlen(prefix)) != 0)
        return -1;
    memcpy(key, nl + 1, klen);
    *key_len = klen;
    return 0;
}

/* A growable array of owned objects. */
typedef struct objects {
    cJSON **v;
    size_t n, cap;
    bool raw_mode; /* items are stored text with resourceVersion spliced in, in raw */
    util_buf_t raw;
    size_t nraw;
} objects_t;

static void objects_push(objects_t *o, cJSON *obj)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 16;
        o->v = util_xrealloc(o->v, o->cap * sizeof(*o->v));
    }
    o->v[o->n++] = obj;
}

static void objects_free(objects_t *o)
{
    for (size_t i = 0; i < o->n; i++)
        cJSON_Delete(o->v[i]);
    free(o->v);
    util_buf_free(&o->raw);
    *o = (objects_t){0};
}

/* Raw mode: appends one stored object to the JSON array text without parsing it when it is in
 * the canonical order (parsed and printed otherwise). */
static bool objects_push_raw(objects_t *o, const store_kv_t *kv)
{
    if (o->nraw++)
        util_buf_puts(&o->raw, ",");
    if (apiserver_obj_splice_rv(kv->value, kv->value_len, kv->mod_rev, &o->raw))
        return true;
    cJSON *obj = decode_stored(kv->value, kv->value_len, kv->mod_rev);
    if (!obj) {
        o->raw.len--; /* drop the comma */
        o->raw.data[o->raw.len] = '\0';
        o->nraw--;
        return false;
    }
    char *text = cJSON_PrintUnformatted(obj);
    util_buf_puts(&o->raw, text);
    cJSON_free(text);
    cJSON_Delete(obj);
    return true;
}

/* A <Kind>List, or a meta.k8s.io Table when the client asked for one (table_version set). */
static void respond_collection(apiserver_conn_t *c, const apiserver_target_t *t,
                               const objects_t *items, int64_t rev, const char *cont,
                               const char *table_version, const char *include)
{
    char rv[24];
    snprintf(rv, sizeof(rv), "%" PRId64, rev);
    util_buf_t b = {0};
    if (table_version) {
        apiserver_table_render(&b, table_version, t->res->group, t->res->plural, items->v, items->n,
                               include[0] ? include : NULL, rv, cont);
        char ct[96];
        snprintf(ct, sizeof(ct), "application/json;as=Table;v=%s;g=meta.k8s.io", table_version);
        apiserver__respond(c, 200, ct, b.data, b.len, NULL);
        util_buf_free(&b);
        return;
    }
    char av[128];
    api_version_of(t->res, av, sizeof(av));
    util_buf_printf(&b,
                    "{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"metadata\":{"
                    "\"resourceVersion\":\"%s\"",
                    t->res->kind, av, rv);
    if (cont)
        util_buf_printf(&b, ",\"continue\":\"%s\"", cont);
    util_buf_puts(&b, "},\"items\":[");
    if (items->raw_mode && items->raw.len)
        util_buf_append(&b, items->raw.data, items->raw.len);
    for (size_t i = 0; i < items->n; i++) {
        char *text = cJSON_PrintUnformatted(items->v[i]);
        if (i)
            util_buf_puts(&b, ",");
        util_buf_puts(&b, text);
        cJSON_free(text);
    }
    util_buf_puts(&b, "]}");
    apiserver__respond(c, 200, "application/json", b.data, b.len, NULL);
    util_buf_free(&b);
}

static void handle_list(apiserver_conn_t *c, const apiserver_target_t *t,
                        const apiserver_filter_t *f)
{
    const char *q = c->req.query;
    char limit_s[24] = "", cont[1700] = "", rv_s[24] = "";
    apiserver_query_get(q, "limit", limit_s, sizeof(limit_s));
    apiserver_query_get(q, "continue", cont, sizeof(cont));
    apiserver_query_get(q, "resourceVersion", rv_s, sizeof(rv_s));
    long limit = 0;
    if (limit_s[0] && (util_parse_long(limit_s, 0, MAX_LIST_LIMIT, &limit) < 0)) {
        apiserver_status_bad_request(c, "limit must be a non-negative integer");
        return;
    }
    char prefix[512], end[512], start[1100];
    apiserver_registry_prefix(t->res, t->ns, prefix, sizeof(prefix));
    size_t plen = strlen(prefix), elen = store_prefix_end(prefix, plen, end), slen = plen;
    memcpy(start, prefix, plen);
    int64_t at = 0;
    store_t *s = c->srv->opts.store;
    if (cont[0]) {
        if (decode_continue(cont, prefix, &at, start, sizeof(start), &slen) < 0) {
            apiserver_status_bad_request(c, "continue key is not valid");
            return;
        }
        if (at <= store_compact_rev(s)) {
            apiserver__respond_status(
                c, 410, "Expired",
                "The provided continue parameter is too old to display a consistent list result. "
                "You can start a new list without the continue parameter.");
            return;
        }
    } else if (rv_s[0] && strcmp(rv_s, "0")) {
        bool ok;
        int64_t want = apiserver_parse_rv(rv_s, &ok);
        if (!ok) {
            apiserver_status_bad_request(c, "resourceVersion must be an integer");
            return;
        }
        if (want > store_current_rev(s)) {
            apiserver__respond_status(c, 504, "Timeout", "Too large resource version");
            return;
        }
        char match[24] = "";
        apiserver_query_get(q, "resourceVersionMatch", match, sizeof(match));
        if (!strcmp(match, "Exact")) { /* the list as it was at that revision */
            if (want <= store_compact_rev(s)) {
                char msg[128];
                snprintf(msg, sizeof(msg), "too old resource version: %" PRId64 " (%" PRId64 ")",
                         want, store_compact_rev(s));
                apiserver__respond_status(c, 410, "Expired", msg);
                return;
            }
            at = want;
        } else if (match[0] && strcmp(match, "NotOlderThan")) {
            apiserver_status_bad_request(c, "resourceVersionMatch must be Exact or NotOlderThan");
            return;
        }
    } else if (rv_s[0] == '\0') {
        char match[24] = "";
        if (apiserver_query_get(q, "resourceVersionMatch", match, sizeof(match)) && match[0]) {
            apiserver_status_bad_request(c, "resourceVersionMatch is forbidden unless "
                                            "resourceVersion is provided");
            return;
        }
    }
    const char *table_version = NULL;
    char include[16] = "";
    apiserver_query_get(q, "includeObject", include, sizeof(include));
    bool table = apiserver_table_wanted(apiserver__header(&c->req, "accept"), &table_version);
    if (table && !apiserver_table_include_object_valid(include)) {
        apiserver_status_bad_request(c, "includeObject must be None, Metadata or Object");
        return;
    }
    objects_t items = {.raw_mode = !table && apiserver_filter_empty(f)};
    size_t count = 0;
    bool more = false;
    int64_t served = at;
    const char *next_key = NULL;
    size_t next_len = 0;
    char last_key[1100];
    /* Pages through the store until the limit of matching objects is reached. */
    for (;;) {
        store_list_t l = {0};
        cleanup_error util_error_t err = NULL;
        size_t want = limit ? (size_t)limit - count + 1 : 0;
        if (want && want < 64)
            want = 64;
        int r = store_range(s, start, slen, end, elen, served, want, &l, &err);
        if (r < 0) {
            objects_free(&items);
            if (r == STORE_ECOMPACTED)
                apiserver__respond_status(c, 410, "Expired", "the list's revision was compacted");
            else
                apiserver_status_store_error(c, r, err ? err->msg : NULL);
            return;
        }
        served = l.rev;
        size_t k = 0;
        for (; k < l.n; k++) {
            if (limit && count == (size_t)limit) {
                more = true;
                break;
            }
            if (items.raw_mode) { /* no selector, no Table: no need to parse */
                if (objects_push_raw(&items, l.kvs[k])) {
                    count++;
                    memcpy(last_key, l.kvs[k]->key, l.kvs[k]->key_len);
                    next_len = l.kvs[k]->key_len;
                    next_key = last_key;
                }
                continue;
            }
            cJSON *obj = decode_stored(l.kvs[k]->value, l.kvs[k]->value_len, l.kvs[k]->mod_rev);
            if (!obj)
                continue;
            if (apiserver_filter_matches(f, obj)) {
                count++;
                objects_push(&items, obj);
                memcpy(last_key, l.kvs[k]->key, l.kvs[k]->key_len);
                next_len = l.kvs[k]->key_len;
                next_key = last_key;
            } else {
                cJSON_Delete(obj);
            }
        }
        bool page_more = l.more;
        if (!more && page_more && l.n) { /* continue after the last key read */
            const store_kv_t *lk = l.kvs[l.n - 1];
            memcpy(start, lk->key, lk->key_len);
            start[lk->key_len] = '\0';
            slen = lk->key_len + 1;
        }
        store_list_free(&l);
        if (more || !page_more)
            break;
    }
    util_buf_t token = {0};
    if (more && next_key)
        encode_continue(&token, served, next_key, next_len);
    respond_collection(c, t, &items, served, token.len ? token.data : NULL, table_version, include);
    util_buf_free(&token);
    objects_free(&items);
}

static void handle_delete_collection(apiserver_conn_t *c, const apiserver_target_t *t,
                                     const apiserver_filter_t *f)
{
    char prefix[512], end[512];
    apiserver_registry_prefix(t->res, t->ns, prefix, sizeof(prefix));
    size_t elen = store_prefix_end(prefix, strlen(prefix), end);
    store_list_t l = {0};
    cleanup_error util_error_t err = NULL;
    int r = store_range(c->srv->opts.store, prefix, strlen(prefix), end, elen, 0, 0, &l, &err);
    if (r < 0) {
        apiserver_status_store_error(c, r, err ? err->msg : NULL);
        return;
    }
    char av[128];
    api_version_of(t->res, av, sizeof(av));
    util_buf_t items = {0};
    size_t count = 0;
    for (size_t k = 0; k < l.n && r == 0; k++) {
        cJSON *obj = decode_stored(l.kvs[k]->value, l.kvs[k]->value_len, l.kvs[k]->mod_rev);
        if (obj && apiserver_filter_matches(f, obj)) {
            store_op_t op = {.type = STORE_OP_DELETE,
                             .key = l.kvs[k]->key,
                             .key_len = l.kvs[k]->key_len,
                             .expected_rev = l.kvs[k]->mod_rev};
            store_txn_result_t res;
            int d = store_txn_sync(c->srv->opts.store, &op, 1, &res, NULL);
            store_txn_result_free(&res);
            if (d == 0) {
                char *text = cJSON_PrintUnformatted(obj);
                if (count++)
                    util_buf_puts(&items, ",");
                util_buf_puts(&items, text);
                cJSON_free(text);
            } else if (d != -ENOENT && d != STORE_ECONFLICT) {
                r = d;
            }
        }
        cJSON_Delete(obj);
    }
    int64_t rev = l.rev;
    store_list_free(&l);
    if (r < 0) {
        util_buf_free(&items);
        apiserver_status_store_error(c, r, NULL);
        return;
    }
    util_buf_t b = {0};
    util_buf_printf(&b,
                    "{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"metadata\":{"
                    "\"resourceVersion\":\"%" PRId64 "\"},\"items\":[",
                    t->res->kind, av, rev);
    if (items.len)
        util_buf_append(&b, items.data, items.len);
    util_buf_puts(&b, "]}");
    apiserver__respond(c, 200, "application/json", b.data, b.len, NULL);
    util_buf_free(&b);
    util_buf_free(&items);
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
        r->verb = !collection ? "GET" : query_true(r->query, "watch") ? "WATCH" : "LIST";
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
    if (t->sub[0] && strcmp(t->sub, "status")) {
        apiserver_subresource_handle(c, t);
        return;
    }
    const char *m = c->req.method;
    bool collection = !t->name[0];
    const char *q = c->req.query;
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) {
        if (!collection) {
            handle_get(c, t);
            return;
        }
        apiserver_filter_t f;
        if (apiserver_filter_parse(c, t, &f) < 0)
            return;
        if (query_true(q, "watch")) {
            if (!has_verb(t->res, "watch"))
                method_not_allowed(c);
            else
                apiserver_watch_start(c, t, &f); /* takes the filter */
            return;
        }
        handle_list(c, t, &f);
        apiserver_filter_free(&f);
        return;
    }
    if (!strcmp(m, "POST")) {
        if (!collection || !has_verb(t->res, "create"))
            method_not_allowed(c);
        else
            handle_create(c, t);
        return;
    }
    if (!strcmp(m, "PUT")) {
        if (collection || !has_verb(t->res, "update"))
            method_not_allowed(c);
        else
            handle_update(c, t);
        return;
    }
    if (!strcmp(m, "PATCH")) {
        if (collection || !has_verb(t->res, "patch"))
            method_not_allowed(c);
        else
            handle_patch(c, t);
        return;
    }
    if (!strcmp(m, "DELETE")) {
        if (!collection) {
            if (t->sub[0])
                method_not_allowed(c);
            else
                handle_delete(c, t);
            return;
        }
        if (!has_verb(t->res, "deletecollection")) {
            method_not_allowed(c);
            return;
        }
        apiserver_filter_t f;
        if (apiserver_filter_parse(c, t, &f) < 0)
            return;
        handle_delete_collection(c, t, &f);
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
        store_op_t op = {.type = STORE_OP_CREATE,
                         .key = key,
                         .key_len = strlen(key),
                         .value = value,
                         .value_len = strlen(value)};
        store_txn_result_t res;
        int rc = store_txn_sync(a->opts.store, &op, 1, &res, err);
        store_txn_result_free(&res);
        free(value);
        if (rc < 0 && rc != -EEXIST)
            return rc;
        if (err && *err && rc == -EEXIST)
            util_error_free(err);
    }
    return 0;
}
