/* controller_pods: facts about pods the workload controllers share (readiness, availability,
 * upstream's ActivePods ranking for deletion) and ReplicaSet status counts. */
#include "controller/controller.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(jget(o, k));
}

int64_t controller_parse_time(const char *s)
{
    if (!s)
        return -1;
    struct tm tm = {0};
    char z = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &z) != 7 ||
        z != 'Z')
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? -1 : (int64_t)t;
}

void controller_format_time(int64_t t, char buf[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const cJSON *ready_condition(const cJSON *pod)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, jget(jget(pod, "status"), "conditions"))
    {
        const char *t = jstr(c, "type");
        if (t && !strcmp(t, "Ready"))
            return c;
    }
    return NULL;
}

bool controller_pod_ready(const cJSON *pod)
{
    const char *s = jstr(ready_condition(pod), "status");
    return s && !strcmp(s, "True");
}

int64_t controller_pod_ready_time(const cJSON *pod)
{
    return controller_parse_time(jstr(ready_condition(pod), "lastTransitionTime"));
}

bool controller_pod_available(const cJSON *pod, int64_t min_ready_s, int64_t now_s)
{
    if (!controller_pod_ready(pod))
        return false;
    if (min_ready_s <= 0)
        return true;
    int64_t t = controller_pod_ready_time(pod);
    return t >= 0 && t + min_ready_s <= now_s;
}

bool controller_pod_active(const cJSON *pod)
{
    const char *phase = jstr(jget(pod, "status"), "phase");
    if (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")))
        return false;
    return !jget(jget(pod, "metadata"), "deletionTimestamp") ||
           cJSON_IsNull(jget(jget(pod, "metadata"), "deletionTimestamp"));
}

static int phase_rank(const cJSON *pod)
{
    const char *p = jstr(jget(pod, "status"), "phase");
    if (!p || !strcmp(p, "Pending"))
        return 0;
    if (!strcmp(p, "Unknown"))
        return 1;
    if (!strcmp(p, "Running"))
        return 2;
    return 0;
}

static int64_t restarts(const cJSON *pod)
{
    int64_t n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, jget(jget(pod, "status"), "containerStatuses"))
    {
        const cJSON *r = jget(c, "restartCount");
        if (cJSON_IsNumber(r))
            n += (int64_t)r->valuedouble;
    }
    return n;
}

int controller_pod_compare(const cJSON *a, const cJSON *b)
{
    const char *na = jstr(jget(a, "spec"), "nodeName"), *nb = jstr(jget(b, "spec"), "nodeName");
    bool aa = na && *na, ab = nb && *nb;
    if (aa != ab)
        return aa ? 1 : -1; /* unassigned first */
    int pa = phase_rank(a), pb = phase_rank(b);
    if (pa != pb)
        return pa < pb ? -1 : 1;
    bool ra = controller_pod_ready(a), rb = controller_pod_ready(b);
    if (ra != rb)
        return ra ? 1 : -1;
    if (ra && rb) { /* ready for less time first */
        int64_t ta = controller_parse_time(jstr(ready_condition(a), "lastTransitionTime"));
        int64_t tb = controller_parse_time(jstr(ready_condition(b), "lastTransitionTime"));
        if (ta != tb)
            return ta > tb ? -1 : 1;
    }
    int64_t ca = restarts(a), cb = restarts(b);
    if (ca != cb)
        return ca > cb ? -1 : 1;
    int64_t ta = controller_parse_time(jstr(jget(a, "metadata"), "creationTimestamp"));
    int64_t tb = controller_parse_time(jstr(jget(b, "metadata"), "creationTimestamp"));
    if (ta != tb)
        return ta > tb ? -1 : 1; /* newer first */
    return 0;
}

const cJSON *controller_owner_ref(const cJSON *obj)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, jget(jget(obj, "metadata"), "ownerReferences"))
    {
        if (cJSON_IsTrue(jget(r, "controller")))
            return r;
    }
    return NULL;
}

bool controller_labels_cover(const cJSON *have, const cJSON *want)
{
    const cJSON *l;
    cJSON_ArrayForEach(l, want)
    {
        const char *v = jstr(have, l->string);
        if (!v || !cJSON_IsString(l) || strcmp(v, l->valuestring))
            return false;
    }
    return true;
}

void controller_rs_counts(const cJSON *const *pods, size_t n, const cJSON *template_labels,
                          int64_t min_ready_s, int64_t now_s, controller_rs_counts_t *ret)
{
    *ret = (controller_rs_counts_t){0};
    for (size_t i = 0; i < n; i++) {
        if (!controller_pod_active(pods[i]))
            continue;
        ret->replicas++;
        if (controller_labels_cover(jget(jget(pods[i], "metadata"), "labels"), template_labels))
            ret->fully_labeled++;
        if (controller_pod_ready(pods[i]))
            ret->ready++;
        if (controller_pod_available(pods[i], min_ready_s, now_s))
            ret->available++;
    }
}
