/* apiserver_batch: batch/v1 Job and CronJob registry rules (upstream pkg/registry/batch and
 * pkg/apis/batch/validation): the generated Job selector, schedule and time-zone checks. */
#include "apiserver_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controller/controller.h"

static cJSON *object(cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsObject(v))
        return v;
    cJSON_DeleteItemFromObjectCaseSensitive(o, k);
    return cJSON_AddObjectToObject(o, k);
}

static void set_if_absent(cJSON *o, const char *k, const char *v)
{
    if (!cJSON_GetObjectItemCaseSensitive(o, k))
        cJSON_AddStringToObject(o, k, v);
}

void apiserver_batch_job_prepare(cJSON *job)
{
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(job, "metadata");
    const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "uid"));
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "name"));
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(job, "spec");
    if (!uid || !name || !cJSON_IsObject(spec) ||
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "manualSelector")))
        return;
    cJSON *labels = object(object(object(spec, "template"), "metadata"), "labels");
    set_if_absent(labels, "batch.kubernetes.io/controller-uid", uid);
    set_if_absent(labels, "batch.kubernetes.io/job-name", name);
    set_if_absent(labels, "controller-uid", uid);
    set_if_absent(labels, "job-name", name);
    cJSON *ml = object(object(spec, "selector"), "matchLabels");
    set_if_absent(ml, "batch.kubernetes.io/controller-uid", uid);
}

static void invalid(apiserver_crd_err_fn fn, void *ud, const char *field, const char *value,
                    const char *detail)
{
    char problem[1024];
    snprintf(problem, sizeof(problem), "Invalid value: \"%.300s\": %s", value, detail);
    fn(ud, "FieldValueInvalid", field, problem);
}

void apiserver_batch_job_validate(const cJSON *spec, const char *prefix, apiserver_crd_err_fn fn,
                                  void *ud)
{
    char field[128];
    const char *mode =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "completionMode"));
    if (mode && strcmp(mode, "NonIndexed") && strcmp(mode, "Indexed")) {
        char problem[512];
        snprintf(problem, sizeof(problem),
                 "Unsupported value: \"%.200s\": supported values: \"NonIndexed\", \"Indexed\"",
                 mode);
        snprintf(field, sizeof(field), "%s.completionMode", prefix);
        fn(ud, "FieldValueNotSupported", field, problem);
    }
    if (mode && !strcmp(mode, "Indexed") &&
        !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(spec, "completions"))) {
        snprintf(field, sizeof(field), "%s.completions", prefix);
        fn(ud, "FieldValueRequired", field, "Required value: when completion mode is Indexed");
    }
    const cJSON *ttl = cJSON_GetObjectItemCaseSensitive(spec, "ttlSecondsAfterFinished");
    if (cJSON_IsNumber(ttl) && ttl->valuedouble < 0) {
        snprintf(field, sizeof(field), "%s.ttlSecondsAfterFinished", prefix);
        fn(ud, "FieldValueInvalid", field, "Invalid value: must be greater than or equal to 0");
    }
    const cJSON *ads = cJSON_GetObjectItemCaseSensitive(spec, "activeDeadlineSeconds");
    if (cJSON_IsNumber(ads) && ads->valuedouble <= 0) {
        snprintf(field, sizeof(field), "%s.activeDeadlineSeconds", prefix);
        fn(ud, "FieldValueInvalid", field, "Invalid value: must be greater than 0");
    }
}

/* upstream validateTimeZone */
static void time_zone(const char *tz, apiserver_crd_err_fn fn, void *ud)
{
    const char *f = "spec.timeZone";
    if (!*tz) {
        invalid(fn, ud, f, tz, "timeZone must be nil or non-empty string");
        return;
    }
    if (!strcasecmp(tz, "Local")) {
        invalid(fn, ud, f, tz,
                "timeZone must be an explicit time zone as defined in "
                "https://www.iana.org/time-zones");
        return;
    }
    controller_tz_t *loc = NULL;
    util_error_t err = NULL;
    if (controller_tz_load(tz, &loc, &err) < 0) {
        char buf[256];
        invalid(fn, ud, f, tz, util_error_text(err, buf, sizeof(buf)));
        util_error_free(&err);
    }
    controller_tz_free(loc);
}

void apiserver_batch_cronjob_validate(const cJSON *cj, apiserver_crd_err_fn fn, void *ud)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(cj, "metadata");
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "name"));
    if (name && strlen(name) > 52) /* the Job name adds "-" and 8+ digits */
        invalid(fn, ud, "metadata.name", name, "must be no more than 52 characters");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(cj, "spec");
    const char *sched = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "schedule"));
    if (sched) {
        controller_cron_t c;
        char err[256];
        if (controller_cron_parse(sched, &c, err, sizeof(err)) < 0)
            invalid(fn, ud, "spec.schedule", sched, err);
        if (strstr(sched, "TZ"))
            invalid(fn, ud, "spec.schedule", sched,
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead");
    }
    const cJSON *tz = cJSON_GetObjectItemCaseSensitive(spec, "timeZone");
    if (cJSON_IsString(tz))
        time_zone(tz->valuestring, fn, ud);
    const char *policy =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "concurrencyPolicy"));
    if (policy && strcmp(policy, "Allow") && strcmp(policy, "Forbid") &&
        strcmp(policy, "Replace")) {
        char problem[512];
        snprintf(problem, sizeof(problem),
                 "Unsupported value: \"%.200s\": supported values: \"Allow\", \"Forbid\", "
                 "\"Replace\"",
                 policy);
        fn(ud, "FieldValueNotSupported", "spec.concurrencyPolicy", problem);
    }
    static const char *const nonneg[] = {"startingDeadlineSeconds", "successfulJobsHistoryLimit",
                                         "failedJobsHistoryLimit"};
    for (size_t i = 0; i < sizeof(nonneg) / sizeof(nonneg[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, nonneg[i]);
        if (cJSON_IsNumber(v) && v->valuedouble < 0) {
            char field[96];
            snprintf(field, sizeof(field), "spec.%s", nonneg[i]);
            fn(ud, "FieldValueInvalid", field, "Invalid value: must be greater than or equal to 0");
        }
    }
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(spec, "jobTemplate"), "spec");
    apiserver_batch_job_validate(js, "spec.jobTemplate.spec", fn, ud);
}
