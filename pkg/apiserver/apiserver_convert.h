/* apiserver_convert: resources served at a version other than the one they are stored at
 * (internal to pkg/apiserver): events.k8s.io/v1 Events stored as core/v1 Events, autoscaling/v1
 * HorizontalPodAutoscalers stored as autoscaling/v2, as upstream's storage versions. Objects
 * are converted at the store boundary: what the handlers see is the request's version. */
#ifndef KUBELING_APISERVER_CONVERT_H
#define KUBELING_APISERVER_CONVERT_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "apiserver_resources.h"
#include "store/store.h"

/* The resource whose version the store holds for r (r itself for most). */
const apiserver_resource_t *apiserver_conv_storage(const apiserver_resource_t *r);
/* True when r is served from another version's storage. */
bool apiserver_conv_needed(const apiserver_resource_t *r);
/* True when stored objects must be rewritten on the way out to r's endpoint (a converted
 * resource, or a custom resource served at several versions). */
bool apiserver_conv_rewrites(const apiserver_resource_t *r);
/* A stored object (any served version of r's storage) as r's version, in place. */
void apiserver_conv_out(const apiserver_resource_t *r, cJSON *obj);
/* An object of r's version as the storage version, in place. */
void apiserver_conv_in(const apiserver_resource_t *r, cJSON *obj);
/* The stored object kv as r's version: kv itself when nothing changes, else a new kv (one
 * allocation, as store_get's) and kv is freed. */
store_kv_t *apiserver_conv_kv(const apiserver_resource_t *r, store_kv_t *kv);

/* An update of r's main resource keeps the stored status: for autoscaling/v1 that includes the
 * status annotations (cur: the stored object in r's version). */
void apiserver_conv_keep_status(const apiserver_resource_t *r, cJSON *obj, const cJSON *cur);

/* Upstream's rules for events written through events.k8s.io/v1 (obj: that version; old: the
 * current object in that version on update, else NULL); err is called once per problem. */
typedef void (*apiserver_conv_err_fn)(void *ud, const char *reason, const char *field,
                                      const char *problem);
void apiserver_conv_validate(const apiserver_resource_t *r, const cJSON *obj, const cJSON *old,
                             apiserver_conv_err_fn err, void *ud);

/* The converters (in place; the object's apiVersion is set). */
void apiserver_conv_event_to_core(cJSON *obj);
void apiserver_conv_event_to_events_v1(cJSON *obj);
void apiserver_conv_hpa_to_v2(cJSON *obj);
void apiserver_conv_hpa_to_v1(cJSON *obj);

#endif
