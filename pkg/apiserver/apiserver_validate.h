/* apiserver_validate: server-side field validation (the fieldValidation query parameter):
 * unknown and duplicate fields of a request body against the kind's k8s_schema type
 * (internal to pkg/apiserver). */
#ifndef KUBELING_APISERVER_VALIDATE_H
#define KUBELING_APISERVER_VALIDATE_H

#include <cjson/cJSON.h>
#include <k8s_schema.h>

#include "apiserver_internal.h"
#include "apiserver_resources.h"

typedef enum apiserver_field_validation {
    APISERVER_FV_IGNORE,
    APISERVER_FV_WARN, /* upstream's default since 1.23 (ServerSideFieldValidation) */
    APISERVER_FV_STRICT,
} apiserver_field_validation_t;

/* The directive of a query (Warn when absent); -EINVAL for an unknown value. */
int apiserver_field_validation_parse(const char *query, apiserver_field_validation_t *ret);

/* Appends upstream's message for every unknown field (`unknown field "spec.foo"`) and every
 * duplicate field (`duplicate field "replicas"`) of obj, a value of type t, in document
 * order. Members of free-form values (K8S_T_ANY) are not checked. */
void apiserver_validate_fields(const k8s_kind_t *t, const cJSON *obj, util_strv_t *problems);

/* Applies the request's fieldValidation to obj, an object of resource r: Strict answers 400
 * BadRequest and returns -1; Warn adds a Warning header per problem to the response; Ignore,
 * and kinds without a schema, pass. `decoding` words the error as upstream's decoder does
 * for create and update (`ConfigMap in version "v1" cannot be handled as a ConfigMap: ...`). */
int apiserver__validate_request(apiserver_conn_t *c, const apiserver_resource_t *r,
                                const cJSON *obj, bool decoding);

#endif
