/* apiserver_openapi: /openapi/v3 (index and per group/version documents) and /openapi/v2,
 * rendered once per server from the resource table and served from memory. */
#include "apiserver_openapi.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha512.h>

#include "apiserver_crd.h"
#include "apiserver_internal.h"

#define V2_PROTOBUF "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

struct apiserver_openapi {
    apiserver_openapi_doc_t index, v2_proto, v2_json;
    apiserver_openapi_doc_t *docs; /* one per served group/version */
    size_t ndocs;
};

/* Upstream quotes an upper-case hex SHA-512 of the document in the index's URLs. */
static void doc_set(apiserver_openapi_doc_t *d, util_buf_t *body)
{
    unsigned char sum[64];
    d->len = body->len;
    d->body = util_buf_steal(body);
    mbedtls_sha512((const unsigned char *)d->body, d->len, sum, 0);
    for (size_t i = 0; i < sizeof(sum); i++)
        snprintf(d->hash + 2 * i, 3, "%02X", sum[i]);
}

static void doc_set_json(apiserver_openapi_doc_t *d, cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    util_buf_t b = {0};
    util_buf_puts(&b, text);
    free(text);
    cJSON_Delete(json);
    doc_set(d, &b);
}

static void gv_path(const char *group, const char *version, char *out, size_t n)
{
    if (group[0])
        snprintf(out, n, "apis/%s/%s", group, version);
    else
        snprintf(out, n, "api/%s", version);
}

apiserver_openapi_t *apiserver_openapi_new(void)
{
    apiserver_openapi_t *o = calloc(1, sizeof(*o));
    o->docs = calloc(apiserver_group_count(), sizeof(*o->docs));
    cJSON *index = cJSON_CreateObject(), *paths = cJSON_AddObjectToObject(index, "paths");
    for (size_t g = 0; g < apiserver_group_count(); g++) {
        const apiserver_group_t *gv = apiserver_group_at(g);
        apiserver_openapi_doc_t *d = &o->docs[o->ndocs++];
        char path[256], url[512];
        gv_path(gv->name, gv->version, path, sizeof(path));
        d->path = strdup(path);
        doc_set_json(d, apiserver_openapi__v3_document(gv->name, gv->version));
        snprintf(url, sizeof(url), "/openapi/v3/%s?hash=%s", path, d->hash);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(paths, path), "serverRelativeURL", url);
    }
    doc_set_json(&o->index, index);
    util_buf_t proto = {0};
    apiserver_openapi__v2_proto(&proto);
    doc_set(&o->v2_proto, &proto);
    doc_set_json(&o->v2_json, apiserver_openapi__v2_json());
    return o;
}

static void doc_free(apiserver_openapi_doc_t *d)
{
    free(d->path);
    free(d->body);
}

apiserver_openapi_t *apiserver_openapi_free(apiserver_openapi_t *o)
{
    if (!o)
        return NULL;
    for (size_t i = 0; i < o->ndocs; i++)
        doc_free(&o->docs[i]);
    free(o->docs);
    doc_free(&o->index);
    doc_free(&o->v2_proto);
    doc_free(&o->v2_json);
    free(o);
    return NULL;
}

const apiserver_openapi_doc_t *apiserver_openapi_v3_index(const apiserver_openapi_t *o)
{
    return &o->index;
}

const apiserver_openapi_doc_t *apiserver_openapi_v3_doc(const apiserver_openapi_t *o,
                                                        const char *path)
{
    for (size_t i = 0; i < o->ndocs; i++)
        if (!strcmp(o->docs[i].path, path))
            return &o->docs[i];
    return NULL;
}

const apiserver_openapi_doc_t *apiserver_openapi_v2_proto(const apiserver_openapi_t *o)
{
    return &o->v2_proto;
}

const apiserver_openapi_doc_t *apiserver_openapi_v2_json(const apiserver_openapi_t *o)
{
    return &o->v2_json;
}

/* ---- routes ------------------------------------------------------------------------------- */

static void respond_doc(apiserver_conn_t *c, const apiserver_openapi_doc_t *d, const char *ctype)
{
    char headers[192];
    snprintf(headers, sizeof(headers), "Etag: \"%s\"\r\nVary: Accept\r\n", d->hash);
    apiserver__respond(c, 200, ctype, d->body, d->len, headers);
}

/* /openapi/v2 and /openapi/v3[/<path>]: true when answered. Authenticated clients only, as
 * upstream (system:discovery). kubectl asks v2 for protobuf; anything else gets JSON. */
bool apiserver__openapi(apiserver_conn_t *c, bool read)
{
    const char *p = c->req.path;
    if (strcmp(p, "/openapi/v2") && strcmp(p, "/openapi/v3") && strncmp(p, "/openapi/v3/", 12))
        return false;
    if (!read) {
        apiserver__respond_status(c, 405, "MethodNotAllowed",
                                  "the server does not allow this method on the requested "
                                  "resource");
        return true;
    }
    apiserver_t *a = c->srv;
    if (a->openapi && a->openapi_crd_generation != apiserver_crd_generation())
        a->openapi = apiserver_openapi_free(a->openapi); /* the served CRDs changed */
    if (!a->openapi) {
        a->openapi_crd_generation = apiserver_crd_generation();
        a->openapi = apiserver_openapi_new();
    }
    if (!strcmp(p, "/openapi/v2")) {
        const char *accept = apiserver__header(&c->req, "accept");
        if (accept && strstr(accept, "protobuf"))
            respond_doc(c, &a->openapi->v2_proto, V2_PROTOBUF);
        else
            respond_doc(c, &a->openapi->v2_json, "application/json");
        return true;
    }
    if (!strcmp(p, "/openapi/v3")) {
        respond_doc(c, &a->openapi->index, "application/json");
        return true;
    }
    const apiserver_openapi_doc_t *d = apiserver_openapi_v3_doc(a->openapi, p + 12);
    if (!d)
        apiserver__respond_status(c, 404, "NotFound",
                                  "the server could not find the requested resource");
    else
        respond_doc(c, d, "application/json");
    return true;
}
