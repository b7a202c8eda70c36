/* test_apiserver_batch: the batch/v1 registry rules: the generated Job selector and labels
 * (manualSelector honoured) and CronJob/Job validation messages. */
#include "unit.h"
#include "apiserver/apiserver_batch.h"

#include <string.h>

static cJSON *json(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    if (!j)
        fail_msg("bad JSON: %s", text);
    return j;
}

static void collect(void *ud, const char *reason, const char *field, const char *problem)
{
    util_buf_t *b = ud;
    util_buf_printf(b, "%s|%s|%s\n", reason, field, problem);
}

static void job_selector_is_generated(void **state)
{
    (void)state;
    cJSON *job = json("{\"metadata\":{\"name\":\"pi\",\"uid\":\"u-1\"},\"spec\":{\"template\":"
                      "{\"metadata\":{\"labels\":{\"app\":\"x\"}}}}}");
    apiserver_batch_job_prepare(job);
    cJSON *want = json("{\"metadata\":{\"name\":\"pi\",\"uid\":\"u-1\"},\"spec\":{\"template\":"
                       "{\"metadata\":{\"labels\":{\"app\":\"x\",\"batch.kubernetes.io/"
                       "controller-uid\":\"u-1\",\"batch.kubernetes.io/job-name\":\"pi\","
                       "\"controller-uid\":\"u-1\",\"job-name\":\"pi\"}}},\"selector\":"
                       "{\"matchLabels\":{\"batch.kubernetes.io/controller-uid\":\"u-1\"}}}}");
    assert_true(cJSON_Compare(job, want, true));
    cJSON_Delete(job);
    cJSON_Delete(want);
    /* manualSelector: left alone */
    const char *manual = "{\"metadata\":{\"name\":\"pi\",\"uid\":\"u-1\"},\"spec\":{"
                         "\"manualSelector\":true,\"selector\":{\"matchLabels\":{\"a\":\"b\"}}}}";
    job = json(manual);
    want = json(manual);
    apiserver_batch_job_prepare(job);
    assert_true(cJSON_Compare(job, want, true));
    cJSON_Delete(job);
    cJSON_Delete(want);
}

static char *check_cronjob(const char *text)
{
    cJSON *cj = json(text);
    util_buf_t b = {0};
    util_buf_puts(&b, "");
    apiserver_batch_cronjob_validate(cj, collect, &b);
    cJSON_Delete(cj);
    return util_buf_steal(&b);
}

static void cronjob_rules(void **state)
{
    (void)state;
    char *out = check_cronjob("{\"metadata\":{\"name\":\"ok\"},\"spec\":{\"schedule\":\"@hourly\","
                              "\"timeZone\":\"Europe/Berlin\",\"concurrencyPolicy\":\"Forbid\","
                              "\"jobTemplate\":{\"spec\":{}}}}");
    assert_string_equal(out, "");
    free(out);
    out = check_cronjob("{\"metadata\":{\"name\":\"x\"},\"spec\":{\"schedule\":\"TZ=UTC 0 * * "
                        "* *\",\"timeZone\":\"Local\",\"concurrencyPolicy\":\"Sometimes\"}}");
    assert_non_null(strstr(out, "FieldValueInvalid|spec.schedule|Invalid value: \"TZ=UTC 0 * * * "
                                "*\": cannot use TZ or CRON_TZ in schedule, use timeZone field "
                                "instead\n"));
    assert_non_null(strstr(out, "spec.timeZone|Invalid value: \"Local\": timeZone must be an "
                                "explicit time zone"));
    assert_non_null(strstr(out, "FieldValueNotSupported|spec.concurrencyPolicy|Unsupported "
                                "value: \"Sometimes\""));
    free(out);
    out = check_cronjob("{\"metadata\":{\"name\":\"x\"},\"spec\":{\"schedule\":\"0 0 * * 7\","
                        "\"timeZone\":\"../../etc/passwd\",\"startingDeadlineSeconds\":-1,"
                        "\"jobTemplate\":{\"spec\":{\"completionMode\":\"Indexed\"}}}}");
    assert_non_null(strstr(out, "spec.schedule|Invalid value: \"0 0 * * 7\": end of range (7) "
                                "above maximum (6)"));
    assert_non_null(strstr(out, "spec.timeZone|Invalid value: \"../../etc/passwd\": unknown time "
                                "zone ../../etc/passwd"));
    assert_non_null(strstr(out, "spec.startingDeadlineSeconds|"));
    assert_non_null(strstr(out, "FieldValueRequired|spec.jobTemplate.spec.completions|Required "
                                "value: when completion mode is Indexed"));
    free(out);
    out = check_cronjob("{\"metadata\":{\"name\":\"a-name-that-is-much-longer-than-fifty-two-"
                        "characters-x\"},\"spec\":{\"schedule\":\"@daily\",\"timeZone\":\"\"}}");
    assert_non_null(strstr(out, "metadata.name|"));
    assert_non_null(strstr(out, "must be no more than 52 characters"));
    assert_non_null(strstr(out, "timeZone must be nil or non-empty string"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(job_selector_is_generated),
        cmocka_unit_test(cronjob_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
