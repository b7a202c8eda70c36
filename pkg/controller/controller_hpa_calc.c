/* controller_hpa_calc: the arithmetic of upstream's horizontal pod autoscaler
 * (pkg/controller/podautoscaler: replica_calculator.go and the behavior parts of
 * horizontal.go): replicas from resource metrics with the tolerance and the treatment of
 * missing and unready pods, then stabilization windows and scaling policies. Pure functions
 * over explicit times (seconds), unit-tested in tests/unit/test_controller_hpa.c. */
#include "controller/controller.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CPU_INIT_PERIOD_S     300 /* --horizontal-pod-autoscaler-cpu-initialization-period */
#define INITIAL_READINESS_S   30  /* --horizontal-pod-autoscaler-initial-readiness-delay */
#define DEFAULT_DOWN_WINDOW_S 300

/* ---- which pods count (upstream groupPods) --------------------------------------------------- */

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(jget(o, k));
}

controller_hpa_group_t controller_hpa_group_pod(const cJSON *pod, bool cpu, bool has_metric,
                                                int64_t metric_time_s, int64_t window_s,
                                                int64_t now_s)
{
    const cJSON *meta = jget(pod, "metadata"), *status = jget(pod, "status");
    const char *phase = jstr(status, "phase");
    if (jget(meta, "deletionTimestamp") || (phase && !strcmp(phase, "Failed")))
        return CONTROLLER_HPA_IGNORED;
    if (phase && !strcmp(phase, "Pending"))
        return CONTROLLER_HPA_UNREADY;
    if (!has_metric)
        return CONTROLLER_HPA_MISSING;
    if (!cpu)
        return CONTROLLER_HPA_READY;
    const cJSON *ready = NULL, *c;
    cJSON_ArrayForEach(c, jget(status, "conditions"))
    {
        const char *t = jstr(c, "type");
        if (t && !strcmp(t, "Ready"))
            ready = c;
    }
    int64_t start = controller_parse_time(jstr(status, "startTime"));
    if (!ready || start < 0)
        return CONTROLLER_HPA_UNREADY;
    const char *rs = jstr(ready, "status");
    bool is_false = rs && !strcmp(rs, "False");
    int64_t transition = controller_parse_time(jstr(ready, "lastTransitionTime"));
    if (transition < 0)
        transition = start;
    bool unready;
    if (start + CPU_INIT_PERIOD_S > now_s) /* still initializing: a sample from before it was
                                             ready for a whole window does not count */
        unready = is_false || metric_time_s < transition + window_s;
    else /* unready and never ready since its start */
        unready = is_false && start + INITIAL_READINESS_S > transition;
    return unready ? CONTROLLER_HPA_UNREADY : CONTROLLER_HPA_READY;
}

/* ---- replicas from one metric (upstream GetResourceReplicas / calcPlainMetricReplicas) --------
 */

typedef struct ratio {
    double r;
    int64_t utilization, average;
} ratio_t;

/* Over the pods counted (use[i]) with their values (val[i]). */
static int usage_ratio(const controller_hpa_pod_t *p, size_t n, const bool *use, const int64_t *val,
                       int64_t target_util, int64_t target_avg, ratio_t *ret)
{
    long double total = 0, requests = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!use[i])
            continue;
        total += val[i];
        requests += p[i].request;
        k++;
    }
    if (!k)
        return -ENOENT;
    if (target_util > 0) {
        if (requests <= 0)
            return -ENOENT;
        ret->utilization = (int64_t)(total * 100 / requests);
        ret->average = (int64_t)(total / k);
        ret->r = (double)ret->utilization / (double)target_util;
    } else {
        ret->average = (int64_t)(total / k);
        ret->utilization = 0;
        ret->r = (double)ret->average / (double)target_avg;
    }
    return 0;
}

int controller_hpa_replicas(const controller_hpa_pod_t *pods, size_t n, int64_t current,
                            int64_t target_util, int64_t target_avg, double tolerance,
                            controller_hpa_result_t *ret, util_error_t *err)
{
    memset(ret, 0, sizeof(*ret));
    if (target_util <= 0 && target_avg <= 0)
        return util_error_make(err, EINVAL, "invalid metric target");
    bool *use = util_xcalloc(n ? n : 1, sizeof(*use));
    int64_t *val = util_xcalloc(n ? n : 1, sizeof(*val));
    size_t ready = 0, unready = 0, missing = 0, with_metrics = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (pods[i].group == CONTROLLER_HPA_READY) {
            if (target_util > 0 && !pods[i].has_request) {
                rc = util_error_make(
                    err, EINVAL, "missing request for %s in container %s of Pod %s",
                    pods[i].resource ? pods[i].resource : "cpu",
                    pods[i].container ? pods[i].container : "", pods[i].name ? pods[i].name : "");
                goto out;
            }
            use[i] = true;
            val[i] = pods[i].usage;
            ready++;
        }
        unready += pods[i].group == CONTROLLER_HPA_UNREADY;
        missing += pods[i].group == CONTROLLER_HPA_MISSING;
    }
    ratio_t r;
    if (usage_ratio(pods, n, use, val, target_util, target_avg, &r) < 0) {
        rc = util_error_make(err, ENOENT,
                             target_util > 0 && ready
                                 ? "no metrics returned matched known pods"
                                 : "did not receive metrics for targeted pods (pods might be "
                                   "unready)");
        goto out;
    }
    ret->utilization = r.utilization;
    ret->average = r.average;
    bool up_with_unready = unready > 0 && r.r > 1.0;
    if (!up_with_unready && missing == 0) {
        ret->replicas = fabs(1.0 - r.r) <= tolerance ? current : (int64_t)ceil(r.r * (double)ready);
        goto out;
    }
    /* missing pods: on a scale-down they use 100% of their request (or the target), on a
     * scale-up nothing; unready pods use nothing on a scale-up */
    for (size_t i = 0; i < n; i++) {
        if (pods[i].group == CONTROLLER_HPA_MISSING && r.r != 1.0) {
            if (target_util > 0 && !pods[i].has_request)
                continue;
            use[i] = true;
            if (r.r < 1.0)
                val[i] = target_util > 0
                             ? pods[i].request * (target_util > 100 ? target_util : 100) / 100
                             : target_avg;
            else
                val[i] = 0;
        }
        if (pods[i].group == CONTROLLER_HPA_UNREADY && up_with_unready &&
            (target_util <= 0 || pods[i].has_request)) {
            use[i] = true;
            val[i] = 0;
        }
    }
    ratio_t nr;
    usage_ratio(pods, n, use, val, target_util, target_avg, &nr);
    for (size_t i = 0; i < n; i++)
        with_metrics += use[i];
    if (fabs(1.0 - nr.r) <= tolerance || (r.r < 1.0 && nr.r > 1.0) || (r.r > 1.0 && nr.r < 1.0)) {
        ret->replicas = current;
        goto out;
    }
    int64_t next = (int64_t)ceil(nr.r * (double)with_metrics);
    if ((nr.r < 1.0 && next > current) || (nr.r > 1.0 && next < current))
        next = current;
    ret->replicas = next;
out:
    free(use);
    free(val);
    return rc;
}

/* ---- behavior (upstream normalizeDesiredReplicasWithBehaviors) --------------------------------
 */

typedef struct rules {
    int64_t window;
    bool disabled, min_change;
    const cJSON *policies; /* NULL: the defaults */
} rules_t;

static void rules_of(const cJSON *behavior, bool up, rules_t *r)
{
    const cJSON *b = jget(behavior, up ? "scaleUp" : "scaleDown");
    const cJSON *w = jget(b, "stabilizationWindowSeconds");
    r->window = cJSON_IsNumber(w) ? (int64_t)w->valuedouble : up ? 0 : DEFAULT_DOWN_WINDOW_S;
    const char *sel = jstr(b, "selectPolicy");
    r->disabled = sel && !strcmp(sel, "Disabled");
    r->min_change = sel && !strcmp(sel, "Min");
    const cJSON *p = jget(b, "policies");
    r->policies = cJSON_GetArraySize(p) > 0 ? p : NULL;
}

static int64_t changed_within(const controller_hpa_event_t *ev, size_t n, int64_t period,
                              int64_t now)
{
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        if (ev[i].at_s > now - period)
            sum += ev[i].change;
    return sum;
}

typedef struct policy {
    bool percent;
    int64_t value, period;
} policy_t;

static size_t policies_of(const rules_t *r, bool up, policy_t *out, size_t cap)
{
    if (!r->policies) { /* upstream's defaults */
        out[0] = (policy_t){true, 100, 15};
        if (!up)
            return 1;
        out[1] = (policy_t){false, 4, 15};
        return 2;
    }
    size_t n = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, r->policies)
    {
        if (n == cap)
            break;
        const char *type = jstr(p, "type");
        const cJSON *v = jget(p, "value"), *per = jget(p, "periodSeconds");
        if (!type || !cJSON_IsNumber(v) || !cJSON_IsNumber(per))
            continue;
        out[n++] = (policy_t){!strcmp(type, "Percent"), (int64_t)v->valuedouble,
                              (int64_t)per->valuedouble};
    }
    return n;
}

/* calculateScaleUpLimitWithScalingRules / calculateScaleDownLimitWithBehaviors */
static int64_t rate_limit(const rules_t *r, bool up, int64_t current,
                          const controller_hpa_history_t *h, int64_t now)
{
    if (r->disabled)
        return current;
    policy_t pol[16];
    size_t np = policies_of(r, up, pol, 16);
    bool pick_max = up != r->min_change; /* up: Max picks the largest; down: the smallest */
    int64_t result = pick_max ? INT64_MIN : INT64_MAX;
    for (size_t i = 0; i < np; i++) {
        int64_t start = current - changed_within(h->up, h->nup, pol[i].period, now) +
                        changed_within(h->down, h->ndown, pol[i].period, now);
        int64_t proposed;
        if (up)
            proposed = pol[i].percent
                           ? (int64_t)ceil((double)start * (1.0 + (double)pol[i].value / 100.0))
                           : start + pol[i].value;
        else
            proposed = pol[i].percent
                           ? (int64_t)((double)start * (1.0 - (double)pol[i].value / 100.0))
                           : start - pol[i].value;
        result = pick_max ? (proposed > result ? proposed : result)
                          : (proposed < result ? proposed : result);
    }
    return np ? result : current;
}

int64_t controller_hpa_normalize(const cJSON *behavior, int64_t min, int64_t max, int64_t current,
                                 int64_t desired, controller_hpa_history_t *h, int64_t now,
                                 controller_hpa_verdict_t *ret)
{
    rules_t up, down;
    rules_of(behavior, true, &up);
    rules_of(behavior, false, &down);
    /* stabilization: the lowest recent recommendation within the scale-up window, the highest
     * within the scale-down window */
    int64_t up_rec = desired, down_rec = desired;
    ssize_t old = -1;
    for (size_t i = 0; i < h->nrecs; i++) {
        const controller_hpa_rec_t *r = &h->recs[i];
        if (r->at_s > now - up.window && r->replicas < up_rec)
            up_rec = r->replicas;
        if (r->at_s > now - down.window && r->replicas > down_rec)
            down_rec = r->replicas;
        if (r->at_s < now - up.window && r->at_s < now - down.window)
            old = (ssize_t)i;
    }
    int64_t stabilized = current;
    if (stabilized < up_rec)
        stabilized = up_rec;
    if (stabilized > down_rec)
        stabilized = down_rec;
    if (old >= 0)
        h->recs[old] = (controller_hpa_rec_t){now, desired};
    else if (h->nrecs < CONTROLLER_HPA_HISTORY)
        h->recs[h->nrecs++] = (controller_hpa_rec_t){now, desired};
    else { /* full: the oldest goes */
        memmove(&h->recs[0], &h->recs[1], (h->nrecs - 1) * sizeof(h->recs[0]));
        h->recs[h->nrecs - 1] = (controller_hpa_rec_t){now, desired};
    }
    if (stabilized != desired) {
        ret->able_reason = desired >= current ? "ScaleUpStabilized" : "ScaleDownStabilized";
        ret->able_message = desired >= current
                                ? "recent recommendations were lower than current one, applying "
                                  "the lowest recent recommendation"
                                : "recent recommendations were higher than current one, applying "
                                  "the highest recent recommendation";
    } else {
        ret->able_reason = "ReadyForNewScale";
        ret->able_message = "recommended size matches current size";
    }
    /* rate limits and bounds */
    int64_t out = stabilized;
    ret->limit_reason = "DesiredWithinRange";
    ret->limit_message = "the desired count is within the acceptable range";
    if (stabilized > current) {
        int64_t limit = rate_limit(&up, true, current, h, now);
        if (limit < current)
            limit = current;
        int64_t allowed = max;
        const char *reason = "TooManyReplicas",
                   *msg = "the desired replica count is more than the maximum replica count";
        if (allowed > limit) {
            allowed = limit;
            reason = "ScaleUpLimit";
            msg = "the desired replica count is increasing faster than the maximum scale rate";
        }
        if (stabilized > allowed) {
            out = allowed;
            ret->limit_reason = reason;
            ret->limit_message = msg;
        }
    } else if (stabilized < current) {
        int64_t limit = rate_limit(&down, false, current, h, now);
        if (limit > current)
            limit = current;
        int64_t allowed = min;
        const char *reason = "TooFewReplicas",
                   *msg = "the desired replica count is less than the minimum replica count";
        if (allowed < limit) {
            allowed = limit;
            reason = "ScaleDownLimit";
            msg = "the desired replica count is decreasing faster than the maximum scale rate";
        }
        if (stabilized < allowed) {
            out = allowed;
            ret->limit_reason = reason;
            ret->limit_message = msg;
        }
    }
    ret->limited = out != stabilized;
    return out;
}

void controller_hpa_record_scale(controller_hpa_history_t *h, const cJSON *behavior, int64_t from,
                                 int64_t to, int64_t now)
{
    if (from == to)
        return;
    bool up = to > from;
    rules_t r;
    rules_of(behavior, up, &r);
    policy_t pol[16];
    size_t np = policies_of(&r, up, pol, 16);
    int64_t longest = 0;
    for (size_t i = 0; i < np; i++)
        if (pol[i].period > longest)
            longest = pol[i].period;
    controller_hpa_event_t *ev = up ? h->up : h->down;
    size_t *n = up ? &h->nup : &h->ndown;
    /* events older than the longest period matter no more: reuse their slot */
    for (size_t i = 0; i < *n; i++) {
        if (ev[i].at_s <= now - longest) {
            ev[i] = (controller_hpa_event_t){now, up ? to - from : from - to};
            return;
        }
    }
    if (*n == CONTROLLER_HPA_HISTORY) {
        memmove(&ev[0], &ev[1], (*n - 1) * sizeof(ev[0]));
        (*n)--;
    }
    ev[(*n)++] = (controller_hpa_event_t){now, up ? to - from : from - to};
}
