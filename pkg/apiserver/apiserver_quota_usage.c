/* apiserver_quota_usage: what objects count against ResourceQuotas, after upstream's quota
 * evaluators (pkg/quota/v1/evaluator/core: pods, services, persistentvolumeclaims, and the
 * generic object counts), scope matching, and quantity arithmetic in milli-units. */
#include "apiserver_quota.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_crd.h"
#include "apiserver_object.h"
#include "quantity/quantity.h"
#include "util/util.h"

/* ---- lists ---------------------------------------------------------------------------------- */

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

void apiserver_quota_list_add(apiserver_quota_list_t *l, const char *name, int64_t milli)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->e[i].name, name)) {
            l->e[i].milli = sat_add(l->e[i].milli, milli);
            return;
        }
    if (l->n == APISERVER_QUOTA_MAX_NAMES || strlen(name) >= sizeof(l->e[0].name))
        return;
    util_strlcpy(l->e[l->n].name, name, sizeof(l->e[0].name));
    l->e[l->n++].milli = milli;
}

int64_t apiserver_quota_list_get(const apiserver_quota_list_t *l, const char *name, bool *found)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->e[i].name, name)) {
            if (found)
                *found = true;
            return l->e[i].milli;
        }
    if (found)
        *found = false;
    return 0;
}

static bool milli_of(const cJSON *v, int64_t *out)
{
    quantity_t q;
    if (cJSON_IsNumber(v)) {
        *out = (int64_t)(v->valuedouble * 1000);
        return true;
    }
    if (!cJSON_IsString(v) || quantity_parse(v->valuestring, &q) < 0)
        return false;
    *out = quantity_milli(&q);
    return true;
}

void apiserver_quota_list_parse(const cJSON *resources, apiserver_quota_list_t *out)
{
    const cJSON *e;
    if (!cJSON_IsObject(resources))
        return;
    cJSON_ArrayForEach(e, resources)
    {
        int64_t m;
        if (e->string && milli_of(e, &m))
            apiserver_quota_list_add(out, e->string, m);
    }
}

void apiserver_quota_format(int64_t milli, bool binary, char *out, size_t n)
{
    if (milli % 1000 != 0) {
        snprintf(out, n, "%" PRId64 "m", milli);
        return;
    }
    int64_t v = milli / 1000;
    static const char *const bin[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    static const char *const dec[] = {"k", "M", "G", "T", "P", "E"};
    int best = -1;
    int64_t unit = 1, best_unit = 1;
    for (int i = 0; v != 0 && i < 6; i++) {
        unit *= binary ? 1024 : 1000;
        if (v % unit != 0)
            break;
        best = i;
        best_unit = unit;
    }
    if (best < 0)
        snprintf(out, n, "%" PRId64, v);
    else
        snprintf(out, n, "%" PRId64 "%s", v / best_unit, binary ? bin[best] : dec[best]);
}

/* ---- pods ----------------------------------------------------------------------------------- */

static const cJSON *get(const cJSON *obj, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(obj, name);
}

static const char *const compute[] = {"cpu", "memory", "ephemeral-storage"};

/* upstream's PodRequests/PodLimits: the containers' sum, at least the largest init container,
 * plus the pod overhead; what = "requests" or "limits". */
static void pod_resources(const cJSON *spec, const char *what, apiserver_quota_list_t *out)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, get(spec, "containers"))
    {
        apiserver_quota_list_parse(get(get(c, "resources"), what), out);
    }
    cJSON_ArrayForEach(c, get(spec, "initContainers"))
    {
        apiserver_quota_list_t init = {0};
        apiserver_quota_list_parse(get(get(c, "resources"), what), &init);
        for (size_t i = 0; i < init.n; i++) {
            bool found;
            int64_t cur = apiserver_quota_list_get(out, init.e[i].name, &found);
            if (!found || init.e[i].milli > cur)
                apiserver_quota_list_add(out, init.e[i].name, init.e[i].milli - cur);
        }
    }
    apiserver_quota_list_parse(get(spec, "overhead"), out);
}

/* upstream's podComputeUsageHelper: cpu and requests.cpu from requests, limits.cpu, ... */
static void compute_usage(const apiserver_quota_list_t *req, const apiserver_quota_list_t *lim,
                          apiserver_quota_list_t *out)
{
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(compute); i++) {
        bool found;
        char name[64];
        int64_t v = apiserver_quota_list_get(req, compute[i], &found);
        if (found) {
            apiserver_quota_list_add(out, compute[i], v);
            snprintf(name, sizeof(name), "requests.%s", compute[i]);
            apiserver_quota_list_add(out, name, v);
        }
        v = apiserver_quota_list_get(lim, compute[i], &found);
        if (found) {
            snprintf(name, sizeof(name), "limits.%s", compute[i]);
            apiserver_quota_list_add(out, name, v);
        }
    }
}

/* upstream's QuotaV1Pod: pods in a terminal phase, or past their deletion grace, use nothing. */
static bool pod_counts(const cJSON *pod)
{
    const char *phase = apiserver_obj_string(get(pod, "status"), "phase");
    if (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")))
        return false;
    const char *del = apiserver_obj_string(get(pod, "metadata"), "deletionTimestamp");
    const cJSON *grace = get(get(pod, "metadata"), "deletionGracePeriodSeconds");
    if (del && cJSON_IsNumber(grace)) {
        char now[21];
        apiserver_obj_now(now);
        if (strcmp(now, del) > 0) /* RFC 3339 UTC strings order as times */
            return false;
    }
    return true;
}

static void pod_usage(const cJSON *pod, apiserver_quota_list_t *out)
{
    if (!pod_counts(pod))
        return;
    apiserver_quota_list_add(out, "pods", 1000);
    apiserver_quota_list_t req = {0}, lim = {0};
    pod_resources(get(pod, "spec"), "requests", &req);
    pod_resources(get(pod, "spec"), "limits", &lim);
    compute_usage(&req, &lim, out);
}

/* ---- other evaluators ------------------------------------------------------------------------ */

static void service_usage(const cJSON *svc, apiserver_quota_list_t *out)
{
    const cJSON *spec = get(svc, "spec");
    const char *type = apiserver_obj_string(spec, "type");
    int ports = cJSON_GetArraySize(get(spec, "ports"));
    if (type && !strcmp(type, "LoadBalancer")) {
        apiserver_quota_list_add(out, "services.loadbalancers", 1000);
        const cJSON *alloc = get(spec, "allocateLoadBalancerNodePorts");
        if (!cJSON_IsFalse(alloc))
            apiserver_quota_list_add(out, "services.nodeports", (int64_t)ports * 1000);
    } else if (type && !strcmp(type, "NodePort")) {
        apiserver_quota_list_add(out, "services.nodeports", (int64_t)ports * 1000);
    }
}

static void claim_usage(const cJSON *pvc, apiserver_quota_list_t *out)
{
    const cJSON *spec = get(pvc, "spec");
    int64_t storage = 0;
    bool has = milli_of(get(get(get(spec, "resources"), "requests"), "storage"), &storage);
    if (has)
        apiserver_quota_list_add(out, "requests.storage", storage);
    const char *class = apiserver_obj_string(spec, "storageClassName");
    if (class && class[0]) {
        char name[128];
        snprintf(name, sizeof(name), "%s.storageclass.storage.k8s.io/persistentvolumeclaims",
                 class);
        apiserver_quota_list_add(out, name, 1000);
        if (has) {
            snprintf(name, sizeof(name), "%s.storageclass.storage.k8s.io/requests.storage", class);
            apiserver_quota_list_add(out, name, storage);
        }
    }
}

/* The core resources quota counted before count/<resource> existed. */
static const char *const legacy_counts[] = {
    "services",      "configmaps", "secrets", "persistentvolumeclaims", "replicationcontrollers",
    "resourcequotas"};

static bool is_core(const apiserver_resource_t *r, const char *plural)
{
    return !r->group[0] && !apiserver_crd_of(r) && !strcmp(r->plural, plural);
}

void apiserver_quota_usage(const apiserver_resource_t *r, const cJSON *obj,
                           apiserver_quota_list_t *out)
{
    char name[160];
    if (r->group[0])
        snprintf(name, sizeof(name), "count/%s.%s", r->plural, r->group);
    else
        snprintf(name, sizeof(name), "count/%s", r->plural);
    apiserver_quota_list_add(out, name, 1000); /* every object in storage */
    if (is_core(r, "pods"))
        pod_usage(obj, out);
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(legacy_counts); i++)
        if (is_core(r, legacy_counts[i]))
            apiserver_quota_list_add(out, legacy_counts[i], 1000);
    if (is_core(r, "services"))
        service_usage(obj, out);
    if (is_core(r, "persistentvolumeclaims"))
        claim_usage(obj, out);
}

bool apiserver_quota_resource_of(const char *hard, char *group, size_t gn, char *plural, size_t pn)
{
    group[0] = plural[0] = '\0';
    if (!strncmp(hard, "count/", 6)) {
        const char *res = hard + 6, *dot = strchr(res, '.');
        snprintf(plural, pn, "%.*s", dot ? (int)(dot - res) : (int)strlen(res), res);
        snprintf(group, gn, "%s", dot ? dot + 1 : "");
        return plural[0] != '\0';
    }
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(legacy_counts); i++)
        if (!strcmp(hard, legacy_counts[i])) {
            snprintf(plural, pn, "%s", hard);
            return true;
        }
    if (!strncmp(hard, "services.", 9)) {
        snprintf(plural, pn, "services");
        return true;
    }
    if (!strcmp(hard, "requests.storage") || strstr(hard, ".storageclass.storage.k8s.io/")) {
        snprintf(plural, pn, "persistentvolumeclaims");
        return true;
    }
    const char *base = strchr(hard, '.') ? strchr(hard, '.') + 1 : hard;
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(compute); i++)
        if (!strcmp(base, compute[i]) || !strcmp(hard, "pods")) {
            snprintf(plural, pn, "pods");
            return true;
        }
    return false;
}

/* ---- scopes -----------------------------------------------------------------------------------
 */

static bool best_effort(const cJSON *pod)
{
    static const char *const lists[] = {"containers", "initContainers"};
    for (size_t l = 0; l < 2; l++) {
        const cJSON *c;
        cJSON_ArrayForEach(c, get(get(pod, "spec"), lists[l]))
        {
            const cJSON *res = get(c, "resources");
            if (cJSON_GetArraySize(get(res, "requests")) || cJSON_GetArraySize(get(res, "limits")))
                return false;
        }
    }
    return true;
}

/* One scope (with a selector operator and values for PriorityClass) against a pod. */
static bool scope_matches(const char *scope, const char *op, const cJSON *values, const cJSON *pod)
{
    const cJSON *spec = get(pod, "spec");
    const cJSON *ads = get(spec, "activeDeadlineSeconds");
    if (!strcmp(scope, "Terminating"))
        return cJSON_IsNumber(ads) && ads->valuedouble >= 0;
    if (!strcmp(scope, "NotTerminating"))
        return !cJSON_IsNumber(ads);
    if (!strcmp(scope, "BestEffort"))
        return best_effort(pod);
    if (!strcmp(scope, "NotBestEffort"))
        return !best_effort(pod);
    if (!strcmp(scope, "PriorityClass")) {
        const char *pc = apiserver_obj_string(spec, "priorityClassName");
        bool has = pc && pc[0];
        if (!op || !strcmp(op, "Exists"))
            return has;
        if (!strcmp(op, "DoesNotExist"))
            return !has;
        bool in = false;
        const cJSON *v;
        cJSON_ArrayForEach(v, values)
        {
            in |= cJSON_IsString(v) && pc && !strcmp(v->valuestring, pc);
        }
        return !strcmp(op, "In") ? in : !in;
    }
    return false; /* CrossNamespacePodAffinity and unknown scopes: not supported */
}

bool apiserver_quota_matches(const cJSON *quota, const apiserver_resource_t *r, const cJSON *obj)
{
    const cJSON *spec = get(quota, "spec");
    const cJSON *scopes = get(spec, "scopes");
    const cJSON *exprs = get(get(spec, "scopeSelector"), "matchExpressions");
    if (cJSON_GetArraySize(scopes) == 0 && cJSON_GetArraySize(exprs) == 0)
        return true;
    if (!is_core(r, "pods"))
        return false; /* scopes select pods only */
    const cJSON *s;
    cJSON_ArrayForEach(s, scopes)
    {
        if (!cJSON_IsString(s) || !scope_matches(s->valuestring, NULL, NULL, obj))
            return false;
    }
    cJSON_ArrayForEach(s, exprs)
    {
        const char *scope = apiserver_obj_string(s, "scopeName");
        if (!scope ||
            !scope_matches(scope, apiserver_obj_string(s, "operator"), get(s, "values"), obj))
            return false;
    }
    return true;
}

/* ---- pod constraints ----------------------------------------------------------------------------
 */

static const char *const validation_set[] = {"cpu",    "limits.cpu",   "limits.memory",
                                             "memory", "requests.cpu", "requests.memory"};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *apiserver_quota_pod_constraints(const cJSON *pod, const apiserver_quota_list_t *hard)
{
    util_buf_t msg = {0};
    /* validation_set is sorted: resources come out in upstream's (sorted) order */
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(validation_set); i++) {
        bool required = false;
        apiserver_quota_list_get(hard, validation_set[i], &required);
        if (!required)
            continue;
        util_strv_t missing = {0};
        static const char *const lists[] = {"containers", "initContainers"};
        for (size_t l = 0; l < 2; l++) {
            const cJSON *c;
            cJSON_ArrayForEach(c, get(get(pod, "spec"), lists[l]))
            {
                apiserver_quota_list_t req = {0}, lim = {0}, have = {0};
                apiserver_quota_list_parse(get(get(c, "resources"), "requests"), &req);
                apiserver_quota_list_parse(get(get(c, "resources"), "limits"), &lim);
                compute_usage(&req, &lim, &have);
                bool found = false;
                apiserver_quota_list_get(&have, validation_set[i], &found);
                const char *name = apiserver_obj_string(c, "name");
                if (!found)
                    util_strv_push(&missing, name ? name : "");
            }
        }
        if (missing.n) {
            qsort(missing.v, missing.n, sizeof(char *), cmp_str);
            util_buf_printf(&msg, "%s%s for: ", msg.len ? "; " : "must specify ",
                            validation_set[i]);
            for (size_t k = 0; k < missing.n; k++)
                util_buf_printf(&msg, "%s%s", k ? "," : "", missing.v[k]);
        }
        util_strv_clear(&missing);
    }
    if (!msg.len)
        return NULL;
    return util_buf_steal(&msg);
}
