/* apiserver_openapi: the OpenAPI v3 and v2 documents of the served resources, generated from
 * the resource table and k8s_schema (internal to pkg/apiserver). */
#ifndef KUBELING_APISERVER_OPENAPI_H
#define KUBELING_APISERVER_OPENAPI_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <k8s_schema.h>

#include "apiserver_resources.h"
#include "util/util.h"

typedef struct apiserver_openapi apiserver_openapi_t;

/* A rendered document and the hash clients quote in ?hash= (upper-case hex SHA-512). */
typedef struct apiserver_openapi_doc {
    char *path; /* "api/v1", "apis/apps/v1"; NULL for the v2 document */
    char *body;
    size_t len;
    char hash[129];
} apiserver_openapi_doc_t;

/* Renders every document (once per server and set of served CRDs). */
apiserver_openapi_t *apiserver_openapi_new(void);
apiserver_openapi_t *apiserver_openapi_free(apiserver_openapi_t *o);

/* The v3 index ({"paths":{"api/v1":{"serverRelativeURL":...}}}). */
const apiserver_openapi_doc_t *apiserver_openapi_v3_index(const apiserver_openapi_t *o);
/* The v3 document of "api/v1" or "apis/<group>/<version>", or NULL. */
const apiserver_openapi_doc_t *apiserver_openapi_v3_doc(const apiserver_openapi_t *o,
                                                        const char *path);
/* The v2 document as gnostic openapi_v2.Document protobuf, and as JSON. */
const apiserver_openapi_doc_t *apiserver_openapi_v2_proto(const apiserver_openapi_t *o);
const apiserver_openapi_doc_t *apiserver_openapi_v2_json(const apiserver_openapi_t *o);

/* ---- shared by the generators (apiserver_openapi_schema.c) ---- */

/* The definition name of every model type, e.g. "io.k8s.api.core.v1.ConfigMap" (index: the
 * type's ref). Computed once, never freed. */
const char *apiserver_openapi__name(int ref);
/* Marks in seen[] (k8s_schema_ntypes() bytes) every type reachable from ref. */
void apiserver_openapi__reach(int ref, unsigned char *seen);
/* Marks the types a group/version's documents need: its resources, their Lists, Status and
 * DeleteOptions. */
void apiserver_openapi__reach_gv(const char *group, const char *version, unsigned char *seen);
/* The JSON schema of a model type; refs are ref_prefix + name ("#/components/schemas/"). */
cJSON *apiserver_openapi__type_schema(int ref, const char *ref_prefix, bool v3);
/* The model type of a served resource (its List when list is true), or -1. */
int apiserver_openapi__resource_type(const apiserver_resource_t *r, bool list);
/* "CoreV1", "AppsV1", "CoordinationV1": operationId infix of a group/version. */
void apiserver_openapi__gv_camel(const char *group, const char *version, char *out, size_t n);

/* apiserver_openapi_crd.c: custom resources' definitions (their List when list is true). */
void apiserver_openapi__crd_name(const apiserver_resource_t *r, bool list, char *out, size_t n);
cJSON *apiserver_openapi__crd_schema(const apiserver_resource_t *r, bool list,
                                     const char *ref_prefix, bool v3);
/* Marks ObjectMeta and ListMeta (what custom resource definitions refer to). */
void apiserver_openapi__reach_crd_meta(unsigned char *seen);
/* Adds the definitions of the custom resources of group/version to defs. */
void apiserver_openapi__add_crd_schemas(cJSON *defs, const char *group, const char *version,
                                        const char *ref_prefix, bool v3);

/* apiserver_openapi_v3.c: the v3 document of one group/version. */
cJSON *apiserver_openapi__v3_document(const char *group, const char *version);
/* apiserver_openapi_v2.c: the v2 document (every served group/version). */
void apiserver_openapi__v2_proto(util_buf_t *out);
cJSON *apiserver_openapi__v2_json(void);

#endif
