/* apiserver_gc_policy: DeleteOptions' propagationPolicy and orphanDependents, turned into the
 * garbage collector's finalizers ("orphan", "foregroundDeletion") on the object being deleted,
 * as upstream's deletionFinalizersForGarbageCollection (k8s.io/apiserver registry/generic/
 * registry/store.go) with each resource's DefaultGarbageCollectionPolicy. */
#include "apiserver_gc_policy.h"

#include <stdlib.h>
#include <string.h>

#include "apiserver_object.h"

#define FIN_ORPHAN     "orphan"
#define FIN_FOREGROUND "foregroundDeletion"

/* Jobs of batch/v1 orphan their pods unless told otherwise; upstream warns about it
 * (pkg/registry/batch/job/storage). */
#define JOB_WARNING                                                                     \
    "child pods are preserved by default when jobs are deleted; set propagationPolicy=" \
    "Background to remove them or set propagationPolicy=Orphan to suppress this warning"

static void invalid(apiserver_conn_t *c, const char *problem, const char *value)
{
    char msg[512], details[768];
    snprintf(msg, sizeof(msg), "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: %s",
             problem);
    util_buf_t cause = {0};
    util_buf_json_string(&cause, problem, strlen(problem));
    snprintf(details, sizeof(details),
             "{\"group\":\"meta.k8s.io\",\"kind\":\"DeleteOptions\",\"causes\":[{\"reason\":"
             "\"%s\",\"message\":%s,\"field\":\"propagationPolicy\"}]}",
             value ? "FieldValueNotSupported" : "FieldValueInvalid",
             cause.data ? cause.data : "\"\"");
    util_buf_free(&cause);
    apiserver__respond_status_ex(c, 422, "Invalid", msg, details, NULL);
}

int apiserver_gc_policy_parse(apiserver_conn_t *c, const cJSON *opts, apiserver_gc_policy_t *ret)
{
    char q[64] = "";
    const char *policy =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(opts, "propagationPolicy"));
    if (!policy && apiserver_query_get(c->req.query, "propagationPolicy", q, sizeof(q)))
        policy = q;
    const cJSON *od = cJSON_GetObjectItemCaseSensitive(opts, "orphanDependents");
    char oq[16] = "";
    bool has_od = cJSON_IsBool(od), orphan = cJSON_IsTrue(od);
    if (!has_od && apiserver_query_get(c->req.query, "orphanDependents", oq, sizeof(oq))) {
        has_od = true;
        orphan = !strcmp(oq, "true") || !strcmp(oq, "1");
    }
    if (policy && has_od) {
        char problem[256];
        snprintf(problem, sizeof(problem),
                 "Invalid value: \"%.32s\": orphanDependents and deletionPropagation cannot be "
                 "both set",
                 policy);
        invalid(c, problem, NULL);
        return -1;
    }
    *ret = APISERVER_GC_UNSET;
    if (has_od)
        *ret = orphan ? APISERVER_GC_ORPHAN : APISERVER_GC_BACKGROUND;
    else if (!policy)
        return 0;
    else if (!strcmp(policy, "Orphan"))
        *ret = APISERVER_GC_ORPHAN;
    else if (!strcmp(policy, "Background"))
        *ret = APISERVER_GC_BACKGROUND;
    else if (!strcmp(policy, "Foreground"))
        *ret = APISERVER_GC_FOREGROUND;
    else {
        char problem[256];
        snprintf(problem, sizeof(problem),
                 "Unsupported value: \"%.32s\": supported values: \"Foreground\", "
                 "\"Background\", \"Orphan\", \"nil\"",
                 policy);
        invalid(c, problem, policy);
        return -1;
    }
    return 0;
}

/* upstream's DefaultGarbageCollectionPolicy: v1 ReplicationControllers and batch/v1 Jobs orphan
 * for backwards compatibility; everything else deletes its dependents (in the background). */
static bool default_orphans(const apiserver_resource_t *r)
{
    return apiserver_reg_is(r, "replicationcontrollers") ||
           (!strcmp(r->group, "batch") && !strcmp(r->plural, "jobs"));
}

void apiserver_gc_policy_warn(apiserver_conn_t *c, const apiserver_resource_t *r,
                              apiserver_gc_policy_t p)
{
    if (p != APISERVER_GC_UNSET || strcmp(r->group, "batch") || strcmp(r->plural, "jobs") ||
        c->req.conflict_retries) /* said once per request */
        return;
    util_buf_printf(&c->req.resp_headers, "Warning: 299 - \"%s\"\r\n", JOB_WARNING);
}

static bool has_finalizer(const cJSON *fin, const char *name)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, fin)
    {
        if (cJSON_IsString(f) && !strcmp(f->valuestring, name))
            return true;
    }
    return false;
}

/* shouldOrphanDependents / shouldDeleteDependents: the request, then the object's own
 * finalizers (the first GC finalizer wins), then the resource's default. */
static void decide(const apiserver_resource_t *r, const cJSON *fin, apiserver_gc_policy_t p,
                   bool *orphan, bool *foreground)
{
    *orphan = *foreground = false;
    if (p != APISERVER_GC_UNSET) {
        *orphan = p == APISERVER_GC_ORPHAN;
        *foreground = p == APISERVER_GC_FOREGROUND;
        return;
    }
    const cJSON *f;
    cJSON_ArrayForEach(f, fin)
    {
        if (cJSON_IsString(f) && !strcmp(f->valuestring, FIN_ORPHAN)) {
            *orphan = true;
            return;
        }
        if (cJSON_IsString(f) && !strcmp(f->valuestring, FIN_FOREGROUND)) {
            *foreground = true;
            return;
        }
    }
    *orphan = default_orphans(r);
}

bool apiserver_gc_finalizers(const apiserver_resource_t *r, cJSON *obj, apiserver_gc_policy_t p)
{
    cJSON *meta = apiserver_obj_metadata(obj);
    if (!meta)
        return false;
    /* a graceful deletion under way (a pod bound to a node) takes no new finalizers */
    const cJSON *dgp = cJSON_GetObjectItemCaseSensitive(meta, "deletionGracePeriodSeconds");
    if (cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp") && cJSON_IsNumber(dgp) &&
        dgp->valuedouble > 0)
        return false;
    const cJSON *fin = cJSON_GetObjectItemCaseSensitive(meta, "finalizers");
    bool orphan, foreground;
    decide(r, fin, p, &orphan, &foreground);
    if (has_finalizer(fin, FIN_ORPHAN) == orphan &&
        has_finalizer(fin, FIN_FOREGROUND) == foreground)
        return false;
    cJSON *next = cJSON_CreateArray();
    const cJSON *f;
    cJSON_ArrayForEach(f, fin)
    {
        if (cJSON_IsString(f) &&
            (!strcmp(f->valuestring, FIN_ORPHAN) || !strcmp(f->valuestring, FIN_FOREGROUND)))
            continue;
        cJSON_AddItemToArray(next, cJSON_Duplicate(f, true));
    }
    if (orphan)
        cJSON_AddItemToArray(next, cJSON_CreateString(FIN_ORPHAN));
    if (foreground)
        cJSON_AddItemToArray(next, cJSON_CreateString(FIN_FOREGROUND));
    if (cJSON_GetArraySize(next) == 0) {
        cJSON_Delete(next);
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "finalizers");
    } else if (fin) {
        cJSON_ReplaceItemInObjectCaseSensitive(meta, "finalizers", next);
    } else {
        cJSON_AddItemToObject(meta, "finalizers", next);
    }
    return true;
}
