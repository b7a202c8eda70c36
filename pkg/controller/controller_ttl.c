/* controller_ttl: upstream's TTL-after-finished controller: a finished Job (Complete or Failed)
 * with spec.ttlSecondsAfterFinished is deleted that many seconds after it finished, with
 * background propagation (its pods go through the garbage collector). */
#include "controller/controller_job.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TTL_MAX_WAIT_MS (24 * 3600 * 1000) /* look again at least daily */

/* When the job finished: completionTime, else the finishing condition's transition. */
static int64_t finish_time(const cJSON *job)
{
    int64_t t = controller_parse_time(ctrl_str(ctrl_get(job, "status"), "completionTime"));
    if (t >= 0)
        return t;
    static const char *const types[] = {"Complete", "Failed"};
    for (int i = 0; i < 2; i++) {
        const cJSON *c = ctrl_condition(job, types[i]);
        const char *s = ctrl_str(c, "status");
        if (s && !strcmp(s, "True"))
            return controller_parse_time(ctrl_str(c, "lastTransitionTime"));
    }
    return -1;
}

static void deleted(controller_manager_t *m, void *ud, client_result_t *res)
{
    char *key = ud;
    if (res->error || (res->status >= 300 && res->status != 404 && res->status != 409)) {
        util_log_warn("ttl-after-finished: deleting job %s: %d %s", key, res->status,
                      res->st.message ? res->st.message : "");
        controller_queue_add_rate_limited(m->jobq, key, ctrl_now(m));
    } else {
        util_log_v(1, "ttl-after-finished: deleted job %s", key);
    }
    free(key);
}

static void delete_job(controller_manager_t *m, const cJSON *job)
{
    const cJSON *meta = ctrl_get(job, "metadata");
    util_buf_t path = {0};
    if (client_path(&path, &CONTROLLER_RES_JOBS, ctrl_str(meta, "namespace"),
                    ctrl_str(meta, "name"), NULL) < 0) {
        util_buf_free(&path);
        return;
    }
    /* the UID precondition keeps a re-created Job of the same name alive, as upstream */
    cJSON *opts = cJSON_CreateObject();
    cJSON_AddStringToObject(opts, "kind", "DeleteOptions");
    cJSON_AddStringToObject(opts, "apiVersion", "v1");
    cJSON_AddStringToObject(opts, "propagationPolicy", "Background");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(opts, "preconditions"), "uid",
                            ctrl_str(meta, "uid") ? ctrl_str(meta, "uid") : "");
    char *body = cJSON_PrintUnformatted(opts);
    cJSON_Delete(opts);
    ctrl_pending_t *p = ctrl_pending_new(m, deleted, ctrl_key(job), free);
    ctrl_pending_sent(p, client_request(m->client, "DELETE", path.data, "application/json", body,
                                        strlen(body), ctrl_pending_cb, p));
    free(body);
    util_buf_free(&path);
}

int ctrl_job_ttl(controller_manager_t *m, const cJSON *job)
{
    const cJSON *ttl = ctrl_get(ctrl_get(job, "spec"), "ttlSecondsAfterFinished");
    if (!cJSON_IsNumber(ttl) || ttl->valuedouble < 0 || ctrl_deleting(job))
        return 0;
    int64_t fin = finish_time(job);
    if (fin < 0)
        return 0;
    int64_t expire = fin + (int64_t)ttl->valuedouble, now = time(NULL);
    if (now >= expire) {
        delete_job(m, job);
        return 0;
    }
    int64_t ms = (expire - now) * 1000;
    return (int)(ms > TTL_MAX_WAIT_MS ? TTL_MAX_WAIT_MS : ms);
}
