/* test_controller_jobs: the Job and CronJob controllers' arithmetic: cron parsing and next start
 * times (UTC and IANA zones across DST), missed schedules, the pod failure back-off,
 * completedIndexes intervals and podFailurePolicy matching. */
#include "unit.h"
#include "controller/controller.h"

#include <errno.h>
#include <string.h>

static cJSON *json(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    if (!j)
        fail_msg("bad JSON: %s", text);
    return j;
}

static int64_t at(const char *rfc3339)
{
    int64_t t = controller_parse_time(rfc3339);
    if (t < 0)
        fail_msg("bad time %s", rfc3339);
    return t;
}

static void assert_next(const char *spec, const controller_tz_t *tz, const char *after,
                        const char *want)
{
    controller_cron_t c;
    char err[256];
    if (controller_cron_parse(spec, &c, err, sizeof(err)) < 0)
        fail_msg("%s: %s", spec, err);
    char got[32];
    controller_format_time(controller_cron_next(&c, tz, at(after)), got);
    if (strcmp(got, want))
        fail_msg("%s after %s: %s, want %s", spec, after, got, want);
}

static void assert_parse_error(const char *spec, const char *want)
{
    controller_cron_t c;
    char err[256] = "";
    assert_int_equal(controller_cron_parse(spec, &c, err, sizeof(err)), -1);
    if (!strstr(err, want))
        fail_msg("%s: error %s, want %s", spec, err, want);
}

static void cron_parses_fields_names_and_descriptors(void **state)
{
    (void)state;
    controller_cron_t c, d;
    char err[256];
    assert_int_equal(controller_cron_parse("*/15 9-17 * jan,Mar mon-FRI", &c, err, sizeof(err)), 0);
    assert_true(c.bits[0] == (1ull << 0 | 1ull << 15 | 1ull << 30 | 1ull << 45));
    assert_true(c.bits[1] == 0x3fe00ull); /* 9..17 */
    assert_true(c.bits[3] == (1ull << 1 | 1ull << 3));
    assert_true(c.bits[4] == 0x3eull); /* 1..5 */
    assert_true(c.dom_star);
    assert_false(c.dow_star);
    assert_int_equal(controller_cron_parse("5/20 1,3,5-6 ? * ?", &c, err, sizeof(err)), 0);
    assert_true(c.bits[0] == (1ull << 5 | 1ull << 25 | 1ull << 45));
    assert_true(c.bits[1] == (1ull << 1 | 1ull << 3 | 1ull << 5 | 1ull << 6));
    assert_true(c.dom_star && c.dow_star);
    /* a step over "*" is no longer a star (robfig): both day fields restricted means OR */
    assert_int_equal(controller_cron_parse("0 0 */2 * 1", &c, err, sizeof(err)), 0);
    assert_false(c.dom_star);
    static const char *const desc[][2] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };
    for (size_t i = 0; i < sizeof(desc) / sizeof(desc[0]); i++) {
        assert_int_equal(controller_cron_parse(desc[i][0], &c, err, sizeof(err)), 0);
        assert_int_equal(controller_cron_parse(desc[i][1], &d, err, sizeof(err)), 0);
        assert_memory_equal(&c, &d, sizeof(c));
    }
    /* robfig accepts the prefix (validation rejects it separately) */
    assert_int_equal(controller_cron_parse("CRON_TZ=UTC * * * * *", &c, err, sizeof(err)), 0);
}

static void cron_rejects_bad_schedules(void **state)
{
    (void)state;
    assert_parse_error("61 * * * *", "end of range (61) above maximum (59)");
    assert_parse_error("* * * *", "expected exactly 5 fields, found 4");
    assert_parse_error("* * * * * *", "expected exactly 5 fields, found 6");
    assert_parse_error("0 0 * * 7", "end of range (7) above maximum (6)");
    assert_parse_error("0 0 0 * *", "beginning of range (0) below minimum (1)");
    assert_parse_error("5-1 * * * *", "beginning of range (5) beyond end of range (1)");
    assert_parse_error("*/0 * * * *", "step of range should be a positive number");
    assert_parse_error("a * * * *", "failed to parse int from a");
    assert_parse_error("1, * * * *", "failed to parse int from");
    assert_parse_error("@every 1h", "unrecognized descriptor");
    assert_parse_error("", "empty spec string");
    char huge[2000];
    memset(huge, '1', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    assert_parse_error(huge, "spec too long");
}

static void cron_next_in_utc(void **state)
{
    (void)state;
    assert_next("* * * * *", NULL, "2026-11-28T12:34:56Z", "2026-11-28T12:35:00Z");
    assert_next("* * * * *", NULL, "2026-11-28T12:35:00Z", "2026-11-28T12:36:00Z");
    assert_next("@hourly", NULL, "2026-11-28T23:10:00Z", "2026-11-29T00:00:00Z");
    assert_next("@yearly", NULL, "2026-11-28T12:00:00Z", "2027-01-01T00:00:00Z");
    assert_next("0 0 29 2 *", NULL, "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z");
    assert_next("*/20 9-17 * * MON-FRI", NULL, "2026-11-27T17:45:00Z", "2026-11-30T09:00:00Z");
    /* day of month and weekday both restricted: either matches (the 13th or a Friday) */
    assert_next("0 0 13 * 5", NULL, "2026-11-28T00:00:00Z", "2026-12-04T00:00:00Z");
    assert_next("0 0 13 * 5", NULL, "2026-12-11T00:00:00Z", "2026-12-13T00:00:00Z");
    /* with one a star, both must */
    assert_next("0 0 * 12 5", NULL, "2026-11-28T00:00:00Z", "2026-12-04T00:00:00Z");
    assert_next("0 12 31 * *", NULL, "2026-11-01T00:00:00Z", "2026-12-31T12:00:00Z");
    controller_cron_t c;
    char err[64];
    assert_int_equal(controller_cron_parse("0 0 30 2 *", &c, err, sizeof(err)), 0);
    assert_int_equal(controller_cron_next(&c, NULL, at("2026-01-01T00:00:00Z")), -1);
}

static controller_tz_t *zone(const char *name)
{
    controller_tz_t *tz = NULL;
    util_error_t err = NULL;
    if (controller_tz_load(name, &tz, &err) < 0) {
        char buf[256];
        fail_msg("%s: %s", name, util_error_text(err, buf, sizeof(buf)));
    }
    return tz;
}

static void cron_next_across_dst(void **state)
{
    (void)state;
    controller_tz_t *berlin = zone("Europe/Berlin"), *ny = zone("America/New_York");
    assert_int_equal(controller_tz_offset(berlin, at("2026-01-15T12:00:00Z")), 3600);
    assert_int_equal(controller_tz_offset(berlin, at("2026-07-15T12:00:00Z")), 7200);
    /* past the transition table: the footer's rule */
    assert_int_equal(controller_tz_offset(berlin, at("2090-07-15T12:00:00Z")), 7200);
    assert_int_equal(controller_tz_offset(berlin, at("2090-12-15T12:00:00Z")), 3600);
    assert_int_equal(controller_tz_offset(ny, at("2026-03-08T06:59:59Z")), -5 * 3600);
    assert_int_equal(controller_tz_offset(ny, at("2026-03-08T07:00:00Z")), -4 * 3600);
    /* 09:00 local every day, in winter and in summer time */
    assert_next("0 9 * * *", berlin, "2026-03-27T12:00:00Z", "2026-03-28T08:00:00Z");
    assert_next("0 9 * * *", berlin, "2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z");
    assert_next("0 9 * * *", ny, "2026-03-07T15:00:00Z", "2026-03-08T13:00:00Z");
    /* 02:30 does not exist on 2026-03-29 in Berlin: skipped that day, as robfig */
    assert_next("30 2 * * *", berlin, "2026-03-28T12:00:00Z", "2026-03-30T00:30:00Z");
    /* 02:30 happens twice on 2026-10-25: both run, as robfig */
    assert_next("30 2 * * *", berlin, "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z");
    assert_next("30 2 * * *", berlin, "2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z");
    assert_next("30 2 * * *", berlin, "2026-10-25T01:30:00Z", "2026-10-26T01:30:00Z");
    /* midnight in the zone, month boundaries */
    assert_next("@monthly", berlin, "2026-11-28T12:00:00Z", "2026-11-30T23:00:00Z");
    assert_next("@hourly", ny, "2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z");
    controller_tz_free(berlin);
    controller_tz_free(ny);
}

static void time_zones_load_safely(void **state)
{
    (void)state;
    controller_tz_t *tz = (controller_tz_t *)1;
    util_error_t err = NULL;
    assert_int_equal(controller_tz_load("UTC", &tz, &err), 0);
    assert_null(tz); /* UTC */
    static const char *const bad[] = {"Mars/Olympus", "../../etc/passwd", "/etc/localtime",
                                      "Europe/Berlin\n", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_true(controller_tz_load(bad[i], &tz, &err) < 0);
        char buf[256];
        assert_non_null(strstr(util_error_text(err, buf, sizeof(buf)), "unknown time zone"));
        util_error_free(&err);
    }
    /* malformed images: never a crash */
    static const unsigned char junk[] = "TZif2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\xff\xff\xff\xff";
    assert_int_equal(controller_tz_parse(junk, sizeof(junk), &tz), -EINVAL);
    assert_int_equal(controller_tz_parse((const unsigned char *)"TZ", 2, &tz), -EINVAL);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(
        util_read_file("/usr/share/zoneinfo/Europe/Berlin", 1 << 20, &data, &len, NULL), 0);
    for (size_t cut = 0; cut < len; cut += 7) { /* every truncation parses or fails cleanly */
        controller_tz_t *t = NULL;
        if (controller_tz_parse((unsigned char *)data, cut, &t) == 0)
            controller_tz_free(t);
    }
    free(data);
}

static void missed_schedules_like_upstream(void **state)
{
    (void)state;
    controller_cron_t c;
    char err[64];
    int64_t missed;
    assert_int_equal(controller_cron_parse("@hourly", &c, err, sizeof(err)), 0);
    int64_t t = controller_cron_most_recent(&c, NULL, at("2026-11-28T09:10:00Z"),
                                            at("2026-11-28T12:20:00Z"), &missed);
    assert_int_equal(t, at("2026-11-28T12:00:00Z"));
    assert_int_equal(missed, 3);
    t = controller_cron_most_recent(&c, NULL, at("2026-11-28T12:00:00Z"),
                                    at("2026-11-28T12:59:00Z"), &missed);
    assert_int_equal(t, -1);
    assert_int_equal(missed, 0);
    assert_int_equal(controller_cron_parse("* * * * *", &c, err, sizeof(err)), 0);
    t = controller_cron_most_recent(&c, NULL, at("2026-11-27T12:00:30Z"),
                                    at("2026-11-28T12:00:30Z"), &missed);
    assert_int_equal(t, at("2026-11-28T12:00:00Z"));
    assert_int_equal(missed, 1440);
}

static void backoff_doubles_from_10s_to_6min(void **state)
{
    (void)state;
    assert_int_equal(controller_job_backoff(0, 1000, 1000), 0);
    assert_int_equal(controller_job_backoff(1, 1000, 1000), 10);
    assert_int_equal(controller_job_backoff(2, 1000, 1000), 20);
    assert_int_equal(controller_job_backoff(3, 1000, 1000), 40);
    assert_int_equal(controller_job_backoff(6, 1000, 1000), 320);
    assert_int_equal(controller_job_backoff(7, 1000, 1000), 360);
    assert_int_equal(controller_job_backoff(4000000000u, 1000, 1000), 360);
    assert_int_equal(controller_job_backoff(2, 1000, 1015), 5); /* time already waited */
    assert_int_equal(controller_job_backoff(2, 1000, 1020), 0);
    assert_int_equal(controller_job_backoff(2, 1000, 5000), 0);
}

static void completed_indexes_round_trip(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"1,3-5,7", "1,3-5,7"}, {"0-2", "0-2"}, {"", ""},        {"0,1", "0,1"},
        {"2,9", "2"},           {"x", ""},      {"0-99", "0-9"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t bits[2] = {0};
        controller_job_indexes_parse(cases[i][0], bits, i == 4 ? 5 : 10);
        char *s = controller_job_indexes_format(bits, i == 4 ? 5 : 10);
        assert_string_equal(s, cases[i][1]);
        free(s);
    }
    uint8_t bits[2] = {0x0f, 0}; /* 0..3 */
    char *s = controller_job_indexes_format(bits, 16);
    assert_string_equal(s, "0-3");
    free(s);
}

static void pod_failure_policy_rules(void **state)
{
    (void)state;
    cJSON *policy = json(
        "{\"rules\":[{\"action\":\"Ignore\",\"onPodConditions\":[{\"type\":\"DisruptionTarget\"}]},"
        "{\"action\":\"FailJob\",\"onExitCodes\":{\"containerName\":\"main\",\"operator\":\"In\","
        "\"values\":[42]}},"
        "{\"action\":\"Count\",\"onExitCodes\":{\"operator\":\"NotIn\",\"values\":[1,2]}}]}");
    char msg[512];
    cJSON *pod = json("{\"metadata\":{\"namespace\":\"ns\",\"name\":\"p\"},\"status\":{"
                      "\"containerStatuses\":[{\"name\":\"side\",\"state\":{\"terminated\":"
                      "{\"exitCode\":42}}},{\"name\":\"main\",\"state\":{\"terminated\":"
                      "{\"exitCode\":42}}}]}}");
    assert_int_equal(controller_job_pfp_match(policy, pod, msg, sizeof(msg)),
                     CONTROLLER_PFP_FAIL_JOB);
    assert_string_equal(msg, "Container main for pod ns/p failed with exit code 42 matching "
                             "FailJob rule at index 1");
    cJSON_Delete(pod);
    pod = json("{\"metadata\":{\"namespace\":\"ns\",\"name\":\"p\"},\"status\":{\"conditions\":"
               "[{\"type\":\"DisruptionTarget\",\"status\":\"True\"}]}}");
    assert_int_equal(controller_job_pfp_match(policy, pod, msg, sizeof(msg)),
                     CONTROLLER_PFP_IGNORE);
    assert_string_equal(msg, "Pod ns/p has condition DisruptionTarget matching Ignore rule at "
                             "index 0");
    cJSON_Delete(pod);
    /* NotIn: 1 and 2 are not matched, 3 is; exit code 0 never is */
    static const struct {
        int code;
        controller_pfp_action_t want;
    } codes[] = {{1, CONTROLLER_PFP_NONE},
                 {2, CONTROLLER_PFP_NONE},
                 {3, CONTROLLER_PFP_COUNT},
                 {0, CONTROLLER_PFP_NONE}};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"status\":{\"containerStatuses\":[{\"name\":\"x\",\"state\":{\"terminated\":"
                 "{\"exitCode\":%d}}}]}}",
                 codes[i].code);
        pod = json(text);
        assert_int_equal(controller_job_pfp_match(policy, pod, msg, sizeof(msg)), codes[i].want);
        cJSON_Delete(pod);
    }
    assert_int_equal(controller_job_pfp_match(NULL, pod = json("{}"), msg, sizeof(msg)),
                     CONTROLLER_PFP_NONE);
    cJSON_Delete(pod);
    cJSON_Delete(policy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cron_parses_fields_names_and_descriptors),
        cmocka_unit_test(cron_rejects_bad_schedules),
        cmocka_unit_test(cron_next_in_utc),
        cmocka_unit_test(cron_next_across_dst),
        cmocka_unit_test(time_zones_load_safely),
        cmocka_unit_test(missed_schedules_like_upstream),
        cmocka_unit_test(backoff_doubles_from_10s_to_6min),
        cmocka_unit_test(completed_indexes_round_trip),
        cmocka_unit_test(pod_failure_policy_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
