/* apiserver_object: object metadata helpers and Kubernetes Status errors (internal). */
#ifndef KUBELING_APISERVER_OBJECT_H
#define KUBELING_APISERVER_OBJECT_H

#include <cjson/cJSON.h>

#include "apiserver_internal.h"
#include "apiserver_resources.h"

/* The upstream messages for names under a resource's rule: NULL if valid, else the reason. */
const char *apiserver_obj_name_problem(const char *name, apiserver_name_rule_t rule);
/* A random (version 4) UUID, 36 characters plus NUL. */
void apiserver_obj_uuid(char out[37]);
/* Now as RFC 3339 in UTC with second precision ("2026-11-28T07:40:00Z"). */
void apiserver_obj_now(char out[21]);

/* Returns obj.metadata, creating it when absent (and NULL if metadata is not an object). */
cJSON *apiserver_obj_metadata(cJSON *obj);
const char *apiserver_obj_string(const cJSON *obj, const char *name);
/* Sets obj.metadata.resourceVersion to rev (as a string). */
void apiserver_obj_set_rv(cJSON *obj, int64_t rev);

/* Stored objects keep apiVersion, kind and metadata first (see apiserver_obj_splice_rv). */
void apiserver_obj_canonical_order(cJSON *obj);
/* Appends the stored text with metadata.resourceVersion = rev spliced in, without parsing;
 * false (nothing appended) when the text is not in the canonical order. */
bool apiserver_obj_splice_rv(const char *json, size_t len, int64_t rev, util_buf_t *out);

/* "configmaps" for the core group, "leases.coordination.k8s.io" otherwise. */
void apiserver_obj_qualified(const apiserver_resource_t *r, char *out, size_t n);

/* Status answers with upstream's reasons, messages and details. */
void apiserver_status_not_found(apiserver_conn_t *c, const apiserver_resource_t *r,
                                const char *name);
void apiserver_status_already_exists(apiserver_conn_t *c, const apiserver_resource_t *r,
                                     const char *name);
void apiserver_status_conflict(apiserver_conn_t *c, const apiserver_resource_t *r,
                               const char *name);
/* 422 Invalid with one cause: field (e.g. "metadata.name"), bad value, and the detail. */
void apiserver_status_invalid(apiserver_conn_t *c, const apiserver_resource_t *r, const char *name,
                              const char *field, const char *value, const char *detail);
void apiserver_status_bad_request(apiserver_conn_t *c, const char *message);
void apiserver_status_store_error(apiserver_conn_t *c, int status, const char *message);
void apiserver_status_success(apiserver_conn_t *c, const apiserver_resource_t *r, const char *name,
                              const char *uid);

#endif
