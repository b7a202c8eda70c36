/* apiserver_registry: resource requests (internal to pkg/apiserver). */
#ifndef KUBELING_APISERVER_REGISTRY_H
#define KUBELING_APISERVER_REGISTRY_H

#include <cjson/cJSON.h>

#include "apiserver_internal.h"
#include "apiserver_resources.h"
#include "labels/labels.h"

/* What a resource URL names. */
typedef struct apiserver_target {
    const apiserver_resource_t *res;
    char ns[254];   /* "" for cluster-scoped resources and all-namespace lists */
    char name[254]; /* "" for the collection */
    char sub[32];   /* subresource, or "" */
} apiserver_target_t;

/* 1 and *t filled for a resource path, 0 for a path that is not one (discovery, health, ...),
 * -1 for a resource path naming nothing served (404). */
int apiserver_registry_parse(const char *path, apiserver_target_t *t);
void apiserver_registry_handle(apiserver_conn_t *c, const apiserver_target_t *t);
/* Creates key with value unless it exists (start-up objects; blocks until durable). */
int apiserver_registry_create_missing(apiserver_t *a, const char *key, const char *value,
                                      util_error_t *err);
/* Creates the system namespaces (default, kube-system, kube-public, kube-node-lease). */
int apiserver_registry_bootstrap(apiserver_t *a, util_error_t *err);

void apiserver_registry_prefix(const apiserver_resource_t *r, const char *ns, char *out, size_t n);
void apiserver_registry_key(const apiserver_resource_t *r, const char *ns, const char *name,
                            char *out, size_t n);
/* A resourceVersion: a positive 64-bit integer (*ok false otherwise). */
int64_t apiserver_parse_rv(const char *s, bool *ok);
/* Finds a query parameter and decodes its value (form encoding). */
bool apiserver_query_get(const char *query, const char *name, char *out, size_t n);

typedef struct apiserver_filter apiserver_filter_t;

/* ---- shared by the registry's files (registry, codec, write, list) ---- */

/* apiserver_registry.c */
bool apiserver_reg_query_true(const char *query, const char *name);
bool apiserver_reg_has_verb(const apiserver_resource_t *r, const char *verb);
bool apiserver_reg_has_subresource(const apiserver_resource_t *r, const char *sub);
/* True when r is the built-in resource of that plural (custom resources may reuse plurals such
 * as "services" in their own groups; the built-ins' special rules are not theirs). */
bool apiserver_reg_is(const apiserver_resource_t *r, const char *plural);

/* apiserver_codec.c */
/* Parses a stored value and stamps its resourceVersion. */
cJSON *apiserver_reg_decode_stored(const char *value, size_t len, int64_t rev);
/* Answers a stored object (as a Table when asked). */
void apiserver_reg_respond_kv(apiserver_conn_t *c, const apiserver_target_t *t,
                              const store_kv_t *kv);
const char *apiserver_reg_api_version_of(const apiserver_resource_t *r, char *buf, size_t n);
/* The request body as an object of the endpoint's kind; answers and returns NULL when bad. */
cJSON *apiserver_reg_parse_body(apiserver_conn_t *c, const apiserver_target_t *t);
/* Server-owned fields and defaults; answers and returns < 0 when the object is unusable. */
int apiserver_reg_normalize(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj,
                            const char *name);

/* apiserver_write.c */
void apiserver_reg_handle_create(apiserver_conn_t *c, const apiserver_target_t *t);
void apiserver_reg_handle_update(apiserver_conn_t *c, const apiserver_target_t *t);
void apiserver_reg_handle_patch(apiserver_conn_t *c, const apiserver_target_t *t);
void apiserver_reg_handle_delete(apiserver_conn_t *c, const apiserver_target_t *t);
/* GET on metrics.k8s.io/v1beta1 nodes and pods (apiserver_resource_metrics.c). */
void apiserver__metrics_api_handle(apiserver_conn_t *c, const apiserver_target_t *t);

/* apiserver_list.c */
void apiserver_reg_handle_get(apiserver_conn_t *c, const apiserver_target_t *t);
void apiserver_reg_handle_list(apiserver_conn_t *c, const apiserver_target_t *t,
                               const apiserver_filter_t *f);
void apiserver_reg_handle_delete_collection(apiserver_conn_t *c, const apiserver_target_t *t,
                                            const apiserver_filter_t *f);

/* Shared with subresources and apply. */
store_kv_t *apiserver_reg_read_current(apiserver_conn_t *c, const apiserver_target_t *t);
void apiserver_reg_respond_object(apiserver_conn_t *c, int status, cJSON *obj);
/* Creates obj (taken) as a POST would, past decoding. */
void apiserver_reg_create(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj);
/* Stores obj (taken), a new version of the object read as kv, with the server's rules. */
void apiserver_reg_finish_update(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj,
                                 const store_kv_t *kv, int64_t expected_rev);
/* Writes obj (the parent object with new replicas) and answers with its Scale. */
void apiserver_reg_write_scale(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj,
                               int64_t expected_rev);
/* Writes the pod (now bound) and answers 201 with a Success Status. */
void apiserver_reg_write_binding(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *pod,
                                 int64_t expected_rev);
void apiserver_reg_delete(apiserver_conn_t *c, const apiserver_target_t *t, int64_t expected_rev,
                          const char *uid);
/* What deleting a stored object means (upstream's rules): remove it now, or mark it (deletion
 * timestamp and grace period set in obj: finalizers, a namespace's spec.finalizers, a pod bound
 * to a node unless grace is 0), or keep it as it is (already marked). grace: the request's
 * gracePeriodSeconds, or -1. */
typedef enum {
    APISERVER_DELETE_NOW,
    APISERVER_DELETE_MARK,
    APISERVER_DELETE_KEEP
} apiserver_delete_plan_t;
apiserver_delete_plan_t apiserver_reg_plan_delete(const apiserver_resource_t *r, cJSON *obj,
                                                  int64_t grace);
/* dryRun=All in the query, or in DeleteOptions (taken with apiserver_reg_take_dry_run). */
bool apiserver_reg_dry_run(apiserver_conn_t *c);
void apiserver_reg_take_dry_run(apiserver_conn_t *c, const cJSON *opts);
/* gracePeriodSeconds from the query or DeleteOptions (opts may be NULL); -1 when not given. */
int64_t apiserver_reg_grace_period(apiserver_conn_t *c, const cJSON *opts);
/* DELETE with DeleteOptions (preconditions, gracePeriodSeconds; NULL for none): finalizers and
 * graceful pod deletion mark the object, otherwise it goes. */
void apiserver_reg_delete_with_options(apiserver_conn_t *c, const apiserver_target_t *t,
                                       const cJSON *opts);

/* apiserver_subresources.c: scale, binding, eviction, and the kubelet-served ones. */
void apiserver_subresource_handle(apiserver_conn_t *c, const apiserver_target_t *t);
/* The autoscaling/v1 Scale view of a scalable object (owned by the caller). */
cJSON *apiserver_scale_of(const apiserver_resource_t *r, const cJSON *obj);

/* Label and field selectors of a list or watch request. */
struct apiserver_filter {
    labels_selector_t *labels; /* NULL: everything */
    labels_fields_t *fields;   /* NULL: everything */
    const apiserver_resource_t *res;
};

/* Parses labelSelector and fieldSelector; answers 400 and returns -1 when invalid. */
int apiserver_filter_parse(apiserver_conn_t *c, const apiserver_target_t *t, apiserver_filter_t *f);
bool apiserver_filter_matches(const apiserver_filter_t *f, const cJSON *obj);
bool apiserver_filter_empty(const apiserver_filter_t *f);
void apiserver_filter_free(apiserver_filter_t *f);

/* Releases the watch fan-out cache (at server release). */
void apiserver_watch_cache_free(apiserver_t *a);
/* Starts a watch stream for t; takes ownership of f. */
void apiserver_watch_start(apiserver_conn_t *c, const apiserver_target_t *t, apiserver_filter_t *f);

#endif
