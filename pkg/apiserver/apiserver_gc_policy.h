/* apiserver_gc_policy: DeleteOptions' propagationPolicy / orphanDependents as the garbage
 * collector's finalizers (internal to pkg/apiserver). See docs/controllers.md#garbage-collector. */
#ifndef KUBELING_APISERVER_GC_POLICY_H
#define KUBELING_APISERVER_GC_POLICY_H

#include <cjson/cJSON.h>

#include "apiserver_registry.h"

typedef enum {
    APISERVER_GC_UNSET, /* the request says nothing: the object's finalizers, then the default */
    APISERVER_GC_ORPHAN,
    APISERVER_GC_BACKGROUND,
    APISERVER_GC_FOREGROUND,
} apiserver_gc_policy_t;

/* The policy of a delete request (DeleteOptions body or query). Both orphanDependents and
 * propagationPolicy, or an unknown policy, answer 422 Invalid (upstream's words) and return -1. */
int apiserver_gc_policy_parse(apiserver_conn_t *c, const cJSON *opts, apiserver_gc_policy_t *ret);
/* Sets obj's "orphan" / "foregroundDeletion" finalizers for a delete with policy p (upstream's
 * deletionFinalizersForGarbageCollection); true when they changed. */
bool apiserver_gc_finalizers(const apiserver_resource_t *r, cJSON *obj, apiserver_gc_policy_t p);
/* upstream's warning for a batch/v1 Job deleted without a policy (its pods are orphaned). */
void apiserver_gc_policy_warn(apiserver_conn_t *c, const apiserver_resource_t *r,
                              apiserver_gc_policy_t p);

#endif
