/* apiserver_apply: server-side apply and managedFields (internal to pkg/apiserver). */
#ifndef KUBELING_APISERVER_APPLY_H
#define KUBELING_APISERVER_APPLY_H

#include <cjson/cJSON.h>

#include "apiserver_registry.h"

/* Who writes, and how the written kind's fields are tracked. */
typedef struct apiserver_manager {
    const char *kind;        /* "Deployment": selects the list merge keys */
    const char *name;        /* the field manager ("kubectl", "kubectl-create", ...) */
    const char *api_version; /* "apps/v1" */
    const char *subresource; /* "" or "status", "scale" */
    const char *now;         /* RFC 3339 time of the entry */
    bool force;              /* apply: take over conflicting fields */
    bool strip_status;       /* the kind's status belongs to its status subresource */
} apiserver_manager_t;

/* apiserver_managed.c: FieldsV1 sets (sigs.k8s.io/structured-merge-diff) */

/* The FieldsV1 set of the fields obj sets (upstream's ToFieldSet after stripMeta: apiVersion,
 * kind and the server-owned metadata are left out). A new object. */
cJSON *apiserver_fields_of(const cJSON *obj, const char *kind, bool strip_status);

/* Server-side apply of `applied` onto `live` (NULL: the object does not exist yet). Returns 0
 * and *ret_obj, the merged object whose metadata.managedFields records the apply; or -EBUSY
 * and *ret_causes, upstream's FieldManagerConflict causes (a JSON array) when fields another
 * manager owns would change and m->force is false; or -EINVAL with *err. */
int apiserver_apply_merge(const cJSON *live, const cJSON *applied, const apiserver_manager_t *m,
                          cJSON **ret_obj, cJSON **ret_causes, util_error_t *err);

/* upstream's message for conflict causes ("Apply failed with 1 conflict: conflict with ..."). */
char *apiserver_apply_conflict_message(const cJSON *causes);

/* Records a non-apply write (cur NULL: a create) in obj's metadata.managedFields: the manager's
 * Update entry gains the fields that changed, other managers lose them, and fields gone from
 * obj leave every entry. obj without managedFields inherits cur's. */
void apiserver_managed_update(cJSON *obj, const cJSON *cur, const apiserver_manager_t *m);

/* apiserver_apply.c: the request side */

/* PATCH with Content-Type application/apply-patch+yaml. */
void apiserver_apply_handle(apiserver_conn_t *c, const apiserver_target_t *t);
/* Called by the registry for every create (cur NULL) and update it stores: records the write
 * for the request's field manager (the fieldManager parameter, else the User-Agent's product).
 * Apply requests carry their own managedFields and are left alone. */
void apiserver_managed_track(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj,
                             const cJSON *cur);

#endif
