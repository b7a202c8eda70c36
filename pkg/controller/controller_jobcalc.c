/* controller_jobcalc: the Job controller's arithmetic without I/O: the pod failure back-off,
 * completedIndexes intervals, and podFailurePolicy rule matching. */
#include "controller/controller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(jget(o, k));
}

int64_t controller_job_backoff(unsigned failures, int64_t last_failure_s, int64_t now_s)
{
    if (failures == 0)
        return 0;
    int64_t delay = CONTROLLER_JOB_BACKOFF_BASE_S;
    for (unsigned i = 1; i < failures && delay < CONTROLLER_JOB_BACKOFF_MAX_S; i++)
        delay *= 2;
    if (delay > CONTROLLER_JOB_BACKOFF_MAX_S)
        delay = CONTROLLER_JOB_BACKOFF_MAX_S;
    int64_t left = last_failure_s + delay - now_s;
    return left > 0 ? left : 0;
}

/* ---- completedIndexes -------------------------------------------------------------------------
 */

static const char *parse_index(const char *s, int64_t *ret)
{
    if (*s < '0' || *s > '9')
        return NULL;
    int64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s++ - '0');
        if (v > 100000000)
            return NULL;
    }
    *ret = v;
    return s;
}

void controller_job_indexes_parse(const char *s, uint8_t *bits, int64_t n)
{
    while (s && *s) {
        int64_t a, b;
        const char *p = parse_index(s, &a);
        if (!p)
            break;
        b = a;
        if (*p == '-' && !(p = parse_index(p + 1, &b)))
            break;
        for (int64_t i = a; i <= b && i < n; i++)
            bits[i / 8] |= (uint8_t)(1u << (i % 8));
        if (*p != ',')
            break;
        s = p + 1;
    }
}

static bool bit(const uint8_t *bits, int64_t i)
{
    return bits[i / 8] & (1u << (i % 8));
}

char *controller_job_indexes_format(const uint8_t *bits, int64_t n)
{
    util_buf_t b = {0};
    util_buf_puts(&b, "");
    for (int64_t i = 0; i < n; i++) {
        if (!bit(bits, i))
            continue;
        int64_t j = i;
        while (j + 1 < n && bit(bits, j + 1))
            j++;
        util_buf_printf(&b, "%s%lld", b.len ? "," : "", (long long)i);
        if (j > i)
            util_buf_printf(&b, "%s%lld", j == i + 1 ? "," : "-", (long long)j);
        i = j;
    }
    return util_buf_steal(&b);
}

/* ---- podFailurePolicy -------------------------------------------------------------------------
 */

static controller_pfp_action_t action_of(const char *a)
{
    if (!a)
        return CONTROLLER_PFP_NONE;
    if (!strcmp(a, "FailJob"))
        return CONTROLLER_PFP_FAIL_JOB;
    if (!strcmp(a, "Ignore"))
        return CONTROLLER_PFP_IGNORE;
    if (!strcmp(a, "Count"))
        return CONTROLLER_PFP_COUNT;
    if (!strcmp(a, "FailIndex"))
        return CONTROLLER_PFP_FAIL_INDEX;
    return CONTROLLER_PFP_NONE;
}

static bool exit_code_matches(const cJSON *req, int64_t code)
{
    const char *op = jstr(req, "operator");
    bool in = false;
    const cJSON *v;
    cJSON_ArrayForEach(v, jget(req, "values"))
    {
        if (cJSON_IsNumber(v) && (int64_t)v->valuedouble == code)
            in = true;
    }
    if (op && !strcmp(op, "In"))
        return in;
    if (op && !strcmp(op, "NotIn"))
        return !in;
    return false;
}

/* The first terminated container (init containers first) with a non-zero exit code matching
 * req (upstream skips exit code 0 for both operators). */
static const cJSON *matching_container(const cJSON *req, const cJSON *pod, int64_t *code)
{
    static const char *const lists[] = {"initContainerStatuses", "containerStatuses"};
    const char *want = jstr(req, "containerName");
    for (int l = 0; l < 2; l++) {
        const cJSON *cs;
        cJSON_ArrayForEach(cs, jget(jget(pod, "status"), lists[l]))
        {
            const cJSON *term = jget(jget(cs, "state"), "terminated");
            const cJSON *ec = jget(term, "exitCode");
            const char *name = jstr(cs, "name");
            if (!cJSON_IsNumber(ec) || (want && (!name || strcmp(want, name))))
                continue;
            *code = (int64_t)ec->valuedouble;
            if (*code != 0 && exit_code_matches(req, *code))
                return cs;
        }
    }
    return NULL;
}

static const char *matching_condition(const cJSON *rule, const cJSON *pod)
{
    const cJSON *want;
    cJSON_ArrayForEach(want, jget(rule, "onPodConditions"))
    {
        const char *type = jstr(want, "type"), *status = jstr(want, "status");
        const cJSON *c;
        cJSON_ArrayForEach(c, jget(jget(pod, "status"), "conditions"))
        {
            const char *ct = jstr(c, "type"), *cst = jstr(c, "status");
            if (type && ct && !strcmp(type, ct) && cst && !strcmp(cst, status ? status : "True"))
                return type;
        }
    }
    return NULL;
}

controller_pfp_action_t controller_job_pfp_match(const cJSON *policy, const cJSON *pod, char *msg,
                                                 size_t msg_len)
{
    const cJSON *meta = jget(pod, "metadata"), *rule;
    const char *ns = jstr(meta, "namespace"), *name = jstr(meta, "name");
    int index = 0;
    cJSON_ArrayForEach(rule, jget(policy, "rules"))
    {
        const char *action = jstr(rule, "action");
        const cJSON *req = jget(rule, "onExitCodes");
        if (cJSON_IsObject(req)) {
            int64_t code = 0;
            const cJSON *cs = matching_container(req, pod, &code);
            if (cs) {
                snprintf(msg, msg_len,
                         "Container %s for pod %s/%s failed with exit code %lld matching %s rule "
                         "at index %d",
                         jstr(cs, "name") ? jstr(cs, "name") : "", ns ? ns : "", name ? name : "",
                         (long long)code, action ? action : "", index);
                return action_of(action);
            }
        } else {
            const char *type = matching_condition(rule, pod);
            if (type) {
                snprintf(msg, msg_len, "Pod %s/%s has condition %s matching %s rule at index %d",
                         ns ? ns : "", name ? name : "", type, action ? action : "", index);
                return action_of(action);
            }
        }
        index++;
    }
    return CONTROLLER_PFP_NONE;
}
