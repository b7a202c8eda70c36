/* controller_job_pods: the Job controller's writes to pods: creating them from the template
 * (Indexed: the completion index annotation, label, hostname and JOB_COMPLETION_INDEX), deleting
 * them with expectations and events, and releasing the job-tracking finalizer. */
#include "controller/controller_job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "job-controller"

/* ---- writes ------------------------------------------------------------------------------ */

typedef struct job_write {
    char *key, *uid, *name;
    cJSON *job;
} job_write_t;

static void write_free(void *p)
{
    job_write_t *w = p;
    free(w->key);
    free(w->uid);
    free(w->name);
    cJSON_Delete(w->job);
    free(w);
}

static job_write_t *write_new(const char *key, const cJSON *job, const char *uid, const char *name)
{
    job_write_t *w = util_xcalloc(1, sizeof(*w));
    w->key = util_xstrdup(key);
    w->uid = uid ? util_xstrdup(uid) : NULL;
    w->name = name ? util_xstrdup(name) : NULL;
    w->job = cJSON_Duplicate(job, true);
    return w;
}

static bool ok(const client_result_t *res)
{
    return !res->error && res->status >= 200 && res->status < 300;
}

static void create_done(controller_manager_t *m, void *ud, client_result_t *res)
{
    job_write_t *w = ud;
    if (!ok(res)) {
        controller_expect_creation_observed(m->job_expect, w->key);
        util_log_warn("job %s: creating a pod: %d %s", w->key, res->status,
                      res->st.message ? res->st.message : "");
        ctrl_event(m, w->job, "Job", "batch/v1", "Warning", "FailedCreate", COMPONENT,
                   "Error creating: %s", res->st.message ? res->st.message : "request failed");
        controller_queue_add_rate_limited(m->jobq, w->key, ctrl_now(m));
    } else {
        const char *name = ctrl_str(ctrl_get(res->body, "metadata"), "name");
        ctrl_event(m, w->job, "Job", "batch/v1", "Normal", "SuccessfulCreate", COMPONENT,
                   "Created pod: %s", name ? name : "?");
    }
    write_free(w);
}

static void delete_done(controller_manager_t *m, void *ud, client_result_t *res)
{
    job_write_t *w = ud;
    if (ok(res)) {
        ctrl_event(m, w->job, "Job", "batch/v1", "Normal", "SuccessfulDelete", COMPONENT,
                   "Deleted pod: %s", w->name);
    } else {
        controller_expect_deletion_observed(m->job_expect, w->key, w->uid);
        if (res->status != 404) {
            ctrl_event(m, w->job, "Job", "batch/v1", "Warning", "FailedDelete", COMPONENT,
                       "Error deleting: %s", res->st.message ? res->st.message : "failed");
            controller_queue_add_rate_limited(m->jobq, w->key, ctrl_now(m));
        }
    }
    write_free(w);
}

/* Drops our finalizer from a pod (the whole list is written: a merge patch replaces arrays;
 * the pod's resourceVersion makes it a compare-and-swap). */
void ctrl_job_release_pod(controller_manager_t *m, const cJSON *pod)
{
    const cJSON *meta = ctrl_get(pod, "metadata"), *f;
    cJSON *patch = cJSON_CreateObject();
    cJSON *pm = cJSON_AddObjectToObject(patch, "metadata");
    cJSON *list = cJSON_AddArrayToObject(pm, "finalizers");
    cJSON_ArrayForEach(f, ctrl_get(meta, "finalizers"))
    {
        if (!cJSON_IsString(f) || strcmp(f->valuestring, CTRL_JOB_TRACKING_FINALIZER))
            cJSON_AddItemToArray(list, cJSON_Duplicate(f, false));
    }
    if (!list->child) /* none left: the field goes */
        cJSON_ReplaceItemInObjectCaseSensitive(pm, "finalizers", cJSON_CreateNull());
    if (ctrl_str(meta, "resourceVersion"))
        cJSON_AddStringToObject(pm, "resourceVersion", ctrl_str(meta, "resourceVersion"));
    ctrl_patch(m, &CLIENT_RES_PODS, ctrl_str(meta, "namespace"), ctrl_str(meta, "name"), NULL,
               patch);
    cJSON_Delete(patch);
}

static void delete_pod(controller_manager_t *m, const char *key, const cJSON *job, const cJSON *pod)
{
    const cJSON *pm = ctrl_get(pod, "metadata");
    job_write_t *w = write_new(key, job, ctrl_str(pm, "uid"), ctrl_str(pm, "name"));
    ctrl_pending_t *p = ctrl_pending_new(m, delete_done, w, write_free);
    ctrl_pending_sent(p, client_delete(m->client, &CLIENT_RES_PODS, ctrl_str(pm, "namespace"),
                                       w->name ? w->name : "", ctrl_pending_cb, p));
}

/* Deletes pods (recording the expected deletions first). */
void ctrl_job_delete_pods(controller_manager_t *m, const char *key, const cJSON *job,
                          const cJSON *const *pods, size_t n)
{
    if (n == 0)
        return;
    const char **uids = util_xcalloc(n, sizeof(*uids));
    for (size_t i = 0; i < n; i++)
        uids[i] = ctrl_str(ctrl_get(pods[i], "metadata"), "uid");
    controller_expect_deletions(m->job_expect, key, uids, n, ctrl_now(m));
    free(uids);
    for (size_t i = 0; i < n; i++)
        delete_pod(m, key, job, pods[i]);
}

/* ---- the pods of a job ------------------------------------------------------------------------
 */

static void add_env_index(cJSON *containers)
{
    cJSON *c;
    cJSON_ArrayForEach(c, containers)
    {
        cJSON *env = cJSON_GetObjectItemCaseSensitive(c, "env");
        if (!cJSON_IsArray(env)) {
            cJSON_DeleteItemFromObjectCaseSensitive(c, "env");
            env = cJSON_AddArrayToObject(c, "env");
        }
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", "JOB_COMPLETION_INDEX");
        cJSON *fr = cJSON_AddObjectToObject(cJSON_AddObjectToObject(e, "valueFrom"), "fieldRef");
        cJSON_AddStringToObject(fr, "apiVersion", "v1");
        cJSON_AddStringToObject(fr, "fieldPath", "metadata.annotations['" CTRL_JOB_INDEX_KEY "']");
        cJSON_AddItemToArray(env, e);
    }
}

/* The pod to create from the job's template; index >= 0 for Indexed jobs. */
static cJSON *pod_for(const cJSON *job, int64_t index)
{
    const cJSON *meta = ctrl_get(job, "metadata");
    const cJSON *tmpl = ctrl_get(ctrl_get(job, "spec"), "template");
    const char *name = ctrl_str(meta, "name");
    cJSON *pod = cJSON_CreateObject();
    cJSON_AddStringToObject(pod, "apiVersion", "v1");
    cJSON_AddStringToObject(pod, "kind", "Pod");
    cJSON *pm = cJSON_AddObjectToObject(pod, "metadata");
    char gen[300];
    if (index >= 0)
        snprintf(gen, sizeof(gen), "%.200s-%lld-", name, (long long)index);
    else
        snprintf(gen, sizeof(gen), "%.250s-", name);
    cJSON_AddStringToObject(pm, "generateName", gen);
    const cJSON *tm = ctrl_get(tmpl, "metadata");
    cJSON *labels = cJSON_IsObject(ctrl_get(tm, "labels"))
                        ? cJSON_Duplicate(ctrl_get(tm, "labels"), true)
                        : cJSON_CreateObject();
    cJSON_AddItemToObject(pm, "labels", labels);
    cJSON *ann = cJSON_IsObject(ctrl_get(tm, "annotations"))
                     ? cJSON_Duplicate(ctrl_get(tm, "annotations"), true)
                     : cJSON_CreateObject();
    cJSON_AddItemToObject(pm, "annotations", ann);
    cJSON *fin = cJSON_AddArrayToObject(pm, "finalizers");
    cJSON_AddItemToArray(fin, cJSON_CreateString(CTRL_JOB_TRACKING_FINALIZER));
    cJSON *ref = cJSON_CreateObject();
    cJSON_AddStringToObject(ref, "apiVersion", "batch/v1");
    cJSON_AddStringToObject(ref, "kind", "Job");
    cJSON_AddStringToObject(ref, "name", name);
    cJSON_AddStringToObject(ref, "uid", ctrl_str(meta, "uid"));
    cJSON_AddBoolToObject(ref, "controller", true);
    cJSON_AddBoolToObject(ref, "blockOwnerDeletion", true);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(pm, "ownerReferences"), ref);
    cJSON *spec = cJSON_Duplicate(ctrl_get(tmpl, "spec"), true);
    if (!spec)
        spec = cJSON_CreateObject();
    cJSON_AddItemToObject(pod, "spec", spec);
    if (index >= 0) {
        char idx[24];
        snprintf(idx, sizeof(idx), "%lld", (long long)index);
        cJSON_DeleteItemFromObjectCaseSensitive(ann, CTRL_JOB_INDEX_KEY);
        cJSON_AddStringToObject(ann, CTRL_JOB_INDEX_KEY, idx);
        cJSON_DeleteItemFromObjectCaseSensitive(labels, CTRL_JOB_INDEX_KEY);
        cJSON_AddStringToObject(labels, CTRL_JOB_INDEX_KEY, idx);
        if (!ctrl_str(spec, "hostname")) {
            char host[300];
            snprintf(host, sizeof(host), "%.200s-%lld", name, (long long)index);
            cJSON_AddStringToObject(spec, "hostname", host);
        }
        add_env_index(cJSON_GetObjectItemCaseSensitive(spec, "containers"));
        add_env_index(cJSON_GetObjectItemCaseSensitive(spec, "initContainers"));
    }
    if (!ann->child)
        cJSON_DeleteItemFromObjectCaseSensitive(pm, "annotations");
    return pod;
}

void ctrl_job_create_pods(controller_manager_t *m, const char *key, const cJSON *job,
                          const int64_t *indexes, int n)
{
    if (n <= 0)
        return;
    controller_expect_creations(m->job_expect, key, n, ctrl_now(m));
    const char *ns = ctrl_str(ctrl_get(job, "metadata"), "namespace");
    for (int i = 0; i < n; i++) {
        cJSON *pod = pod_for(job, indexes ? indexes[i] : -1);
        job_write_t *w = write_new(key, job, NULL, NULL);
        ctrl_pending_t *p = ctrl_pending_new(m, create_done, w, write_free);
        ctrl_pending_sent(p,
                          client_create(m->client, &CLIENT_RES_PODS, ns, pod, ctrl_pending_cb, p));
        cJSON_Delete(pod);
    }
}
