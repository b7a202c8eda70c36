/* apiserver_codec: stored objects in and out: decoding with the resourceVersion, request
 * bodies (JSON or protobuf) checked against the endpoint, and the fields the server owns. */
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

/* ---- object codec -------------------------------------------------------------------------- */

/* Parses a stored value and stamps its resourceVersion. */
cJSON *apiserver_reg_decode_stored(const char *value, size_t len, int64_t rev)
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

void apiserver_reg_respond_kv(apiserver_conn_t *c, const apiserver_target_t *t,
                              const store_kv_t *kv)
{
    bool rewrite = apiserver_conv_rewrites(t->res);
    if (!rewrite &&
        (!apiserver_table_wanted(apiserver__header(&c->req, "accept"), NULL) || t->sub[0])) {
        util_buf_t b = {0};
        if (apiserver_obj_splice_rv(kv->value, kv->value_len, kv->mod_rev, &b)) {
            apiserver__respond(c, 200, "application/json", b.data, b.len, NULL);
            util_buf_free(&b);
            return;
        }
    }
    cJSON *obj = apiserver_reg_decode_stored(kv->value, kv->value_len, kv->mod_rev);
    if (!obj) {
        apiserver__respond_status(c, 500, "InternalError", "stored object is not valid JSON");
        return;
    }
    if (rewrite)
        apiserver_conv_out(t->res, obj);
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

const char *apiserver_reg_api_version_of(const apiserver_resource_t *r, char *buf, size_t n)
{
    if (r->group[0])
        snprintf(buf, n, "%s/%s", r->group, r->version);
    else
        snprintf(buf, n, "%s", r->version);
    return buf;
}

/* Checks kind/apiVersion and metadata of a request body; answers and returns NULL when bad. */
cJSON *apiserver_reg_parse_body(apiserver_conn_t *c, const apiserver_target_t *t)
{
    apiserver_request_t *rq = &c->req;
    const char *ct = apiserver__header(rq, "content-type");
    bool proto =
        ct && !strncmp(ct, APISERVER_PROTO_CONTENT_TYPE, strlen(APISERVER_PROTO_CONTENT_TYPE));
    if (ct && ((proto && apiserver_crd_of(t->res)) || /* custom resources are JSON only */
               (!proto && strncmp(ct, "application/json", 16) != 0))) {
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
    apiserver_reg_api_version_of(t->res, av, sizeof(av));
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
int apiserver_reg_normalize(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj,
                            const char *name)
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
    if (apiserver_reg_is(t->res, "secrets")) {
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
    if (apiserver_reg_is(t->res, "namespaces")) {
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
    if (apiserver_crd_of(t->res))
        apiserver_crd_normalize(t->res, obj);
    else
        apiserver_defaults_apply(t->res, obj);
    if (apiserver_reg_is(t->res, "customresourcedefinitions"))
        apiserver_crd_prepare(obj);
    return 0;
}
