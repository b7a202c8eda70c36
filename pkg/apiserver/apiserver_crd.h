/* apiserver_crd: CustomResourceDefinitions and the custom resources they define (internal to
 * pkg/apiserver): the dynamic part of the resource registry, CRD validation and status, and
 * the structural-schema rules applied to custom resources (pruning, defaults, validation). */
#ifndef KUBELING_APISERVER_CRD_H
#define KUBELING_APISERVER_CRD_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "apiserver_internal.h"
#include "apiserver_resources.h"

/* Bounds on untrusted schemas (deeper or larger schemas are refused at CRD creation). */
#define APISERVER_CRD_MAX_DEPTH   48
#define APISERVER_CRD_MAX_NODES   20000
#define APISERVER_CRD_MAX_COLUMNS 32

/* One served version of a CRD: the resource the registry hands out, with owned strings. The
 * memory lives until the process releases the registry (targets of open watches and pending
 * writes keep pointing at it), so a deleted CRD's entry is only marked inactive. */
typedef struct apiserver_crd_res {
    apiserver_resource_t res; /* first: &res is what lookups return */
    char *strings[16];        /* owned: group, version, kind, plural, singular, names */
    size_t nstrings;
    char *crd_name;
    cJSON *schema;  /* openAPIV3Schema (owned), NULL when none */
    cJSON *columns; /* additionalPrinterColumns (owned), NULL when none */
    char *spec_replicas_path, *status_replicas_path, *label_selector_path; /* scale */
    bool active;
    bool terminating;                   /* the CRD is being deleted: no creates */
    struct apiserver_crd_res *next_all; /* every entry ever made */
} apiserver_crd_res_t;

/* The CRD entry behind r, or NULL for a built-in resource. */
const apiserver_crd_res_t *apiserver_crd_of(const apiserver_resource_t *r);

/* Served custom resources, in registration order (0..count-1). */
size_t apiserver_crd_count(void);
const apiserver_resource_t *apiserver_crd_at(size_t i);
const apiserver_resource_t *apiserver_crd_find(const char *group, const char *version,
                                               const char *plural);
/* Served (group, version) pairs of custom resources; same groups adjacent, preferred version
 * first. */
size_t apiserver_crd_group_count(void);
const apiserver_group_t *apiserver_crd_group_at(size_t i);
/* A counter bumped on every change of the served set (renders cached from it go stale). */
unsigned apiserver_crd_generation(void);

/* Adds, replaces or removes the served versions of one stored CRD (value NULL: deleted). */
void apiserver_crd_sync(const char *name, const char *value, size_t len);
/* Loads every stored CRD and watches for changes (server start); stops the watch. */
int apiserver_crd_start(apiserver_t *a, util_error_t *err);
void apiserver_crd_stop(apiserver_t *a);
/* ---- deletion (apiserver_crd_cleanup.c) ---- */

/* Upstream's finalizer: a deleted CRD stays (Terminating) until its objects are gone. */
#define APISERVER_CRD_FINALIZER "customresourcecleanup.apiextensions.k8s.io"

/* Marks a CRD being deleted (deletionTimestamp already set by the caller): adds the cleanup
 * finalizer and the Terminating condition. */
void apiserver_crd_mark_deleting(cJSON *crd);
/* Deletes the objects of the CRD stored as value (in batches, in the background); then, when
 * finalize, removes the cleanup finalizer from the CRD (which deletes it when it was the
 * last). One cleanup per CRD name at a time. */
void apiserver_crd_cleanup_start(store_t *s, const char *name, const char *value, size_t len,
                                 bool finalize);

/* Upstream's naming controller: CRDs of group whose names were refused are checked again
 * (after a CRD of the group went) and stored with NamesAccepted/Established True when free. */
void apiserver_crd_recheck_names(store_t *s, const char *group);

/* Frees every entry (server release; nothing may point at them any more). */
void apiserver_crd_reset(void);

/* A validation problem: reason (FieldValueInvalid, ...), field path, upstream's problem. */
typedef void (*apiserver_crd_err_fn)(void *ud, const char *reason, const char *field,
                                     const char *problem);

/* Sets a CustomResourceDefinition's defaults (singular, listKind, conversion) and its status
 * (acceptedNames, NamesAccepted, Established, storedVersions) as upstream's controllers do. */
void apiserver_crd_prepare(cJSON *crd);
/* Checks a CRD (names, versions, scope, schemas, printer columns, scale paths). */
void apiserver_crd_validate(const cJSON *crd, apiserver_crd_err_fn fn, void *ud);
/* Checks a custom resource against its version's schema. */
void apiserver_crd_validate_object(const apiserver_resource_t *r, const cJSON *obj,
                                   apiserver_crd_err_fn fn, void *ud);

/* ---- structural schemas (apiserver_crd_schema.c; pure functions) ---- */

/* Problems of a schema itself (types, depth, size, patterns); prefix names its field path. */
void apiserver_crd_schema_check(const cJSON *schema, const char *prefix, apiserver_crd_err_fn fn,
                                void *ud);
/* Drops fields the schema does not declare (unless x-kubernetes-preserve-unknown-fields),
 * recording each as upstream's `unknown field "spec.foo"` when unknown is not NULL, and null
 * values of non-nullable fields. The root's apiVersion, kind and metadata are kept. */
void apiserver_crd_schema_prune(const cJSON *schema, cJSON *obj, util_strv_t *unknown);
/* The same without changing obj: only the unknown fields are recorded. */
void apiserver_crd_schema_unknown(const cJSON *schema, const cJSON *obj, util_strv_t *unknown);
/* Applies `default:` values of absent properties. */
void apiserver_crd_schema_default(const cJSON *schema, cJSON *obj);
/* Validates obj against the schema (types, required, enum, bounds, lengths, pattern, items,
 * nullable), reporting with upstream's messages. The root's metadata is not checked. */
void apiserver_crd_schema_validate(const cJSON *schema, const cJSON *obj, apiserver_crd_err_fn fn,
                                   void *ud);

/* ---- custom resource behaviour (apiserver_crd.c) ---- */

/* True for a custom resource whose CRD serves more than one version: objects are stored as
 * written and their apiVersion is rewritten on the way out (conversion strategy None). */
bool apiserver_crd_rewrites(const apiserver_resource_t *r);
/* Sets obj.apiVersion to r's group/version. */
void apiserver_crd_set_api_version(const apiserver_resource_t *r, cJSON *obj);
/* Server-side rules of a custom resource: pruning (answering Strict fieldValidation is the
 * caller's), defaults. */
void apiserver_crd_normalize(const apiserver_resource_t *r, cJSON *obj);
/* The value at a simple JSON path (".spec.replicas", ".status.conditions[0].type"). */
const cJSON *apiserver_crd_json_path(const cJSON *obj, const char *path);
/* Sets an integer at a simple path (".spec.replicas"), creating objects on the way. */
int apiserver_crd_json_path_set_int(cJSON *obj, const char *path, double v);

/* ---- Tables (apiserver_crd_table.c) ---- */

/* The served custom resource of group/plural (any version), or NULL. */
const apiserver_resource_t *apiserver_crd_find_group_plural(const char *group, const char *plural);
/* The Table column definitions of a custom resource, and one object's cells. */
cJSON *apiserver_crd_table_columns(const apiserver_resource_t *r);
void apiserver_crd_table_cells(const apiserver_resource_t *r, cJSON *cells, const cJSON *obj,
                               int64_t now);

#endif
