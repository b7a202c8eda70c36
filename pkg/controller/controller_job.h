/* controller_job: what the Job, TTL-after-finished and CronJob controllers share inside the
 * controller manager (not a public interface). */
#ifndef KUBELING_CONTROLLER_JOB_H
#define KUBELING_CONTROLLER_JOB_H

#include "controller/controller_internal.h"

#define CTRL_JOB_TRACKING_FINALIZER "batch.kubernetes.io/job-tracking"
#define CTRL_JOB_INDEX_KEY          "batch.kubernetes.io/job-completion-index"

extern const client_resource_t CONTROLLER_RES_JOBS;
extern const client_resource_t CONTROLLER_RES_CRONJOBS;

bool ctrl_deleting(const cJSON *obj);
/* The status condition of that type, or NULL. */
const cJSON *ctrl_condition(const cJSON *obj, const char *type);
/* Complete or Failed is True. */
bool ctrl_job_finished(const cJSON *job);
/* controller_job_pods.c: removes the job-tracking finalizer from a pod; */
void ctrl_job_release_pod(controller_manager_t *m, const cJSON *pod);
/* creates n pods (indexes: their completion indexes, NULL when not Indexed), expecting them; */
void ctrl_job_create_pods(controller_manager_t *m, const char *key, const cJSON *job,
                          const int64_t *indexes, int n);
/* deletes pods, expecting their deletion. Events come from job-controller. */
void ctrl_job_delete_pods(controller_manager_t *m, const char *key, const cJSON *job,
                          const cJSON *const *pods, size_t n);

/* TTL-after-finished (controller_ttl.c): deletes a finished Job whose ttlSecondsAfterFinished
 * has passed; returns the ms until it will have (0: nothing to wait for). */
int ctrl_job_ttl(controller_manager_t *m, const cJSON *job);

#endif
