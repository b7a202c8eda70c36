/* apiserver_batch: the batch/v1 registry rules upstream keeps in its job and cronjob strategies:
 * the generated Job selector and labels, and CronJob schedule/timeZone validation. */
#ifndef KUBELING_APISERVER_BATCH_H
#define KUBELING_APISERVER_BATCH_H

#include <cjson/cJSON.h>

#include "apiserver_crd.h" /* apiserver_crd_err_fn */

/* On create, unless spec.manualSelector is true: the template gets the labels
 * batch.kubernetes.io/controller-uid, controller-uid, batch.kubernetes.io/job-name and job-name,
 * and the selector matches batch.kubernetes.io/controller-uid (upstream generateSelector). */
void apiserver_batch_job_prepare(cJSON *job);
/* Job (prefix "spec") or a CronJob's jobTemplate (prefix "spec.jobTemplate.spec") rules beyond
 * the common ones: completionMode, Indexed needing completions. */
void apiserver_batch_job_validate(const cJSON *spec, const char *prefix, apiserver_crd_err_fn fn,
                                  void *ud);
/* CronJob rules: schedule (robfig's standard syntax, no TZ/CRON_TZ), timeZone, concurrencyPolicy,
 * name length. */
void apiserver_batch_cronjob_validate(const cJSON *cj, apiserver_crd_err_fn fn, void *ud);

#endif
