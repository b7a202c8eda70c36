/* apiserver_convert: version conversion for resources that share storage with another version
 * (after kubernetes/pkg/apis/events/v1/conversion.go and pkg/apis/autoscaling/v1/conversion.go):
 * the store holds core/v1 Events and autoscaling/v2 HorizontalPodAutoscalers; the
 * events.k8s.io/v1 and autoscaling/v1 endpoints convert on the way in and out. */
#include "apiserver_convert.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_crd.h"
#include "apiserver_object.h"
#include "util/util.h"

/* ---- which resources convert -------------------------------------------------------------- */

typedef struct conv_pair {
    const char *group, *version, *plural; /* the served version */
    const char *sgroup, *sversion;        /* the storage version */
    void (*to_storage)(cJSON *obj);       /* served -> storage */
    void (*to_served)(cJSON *obj);        /* storage -> served */
    const char *served_av, *storage_av;   /* apiVersion strings */
} conv_pair_t;

static const conv_pair_t pairs[] = {
    {"events.k8s.io", "v1", "events", "", "v1", apiserver_conv_event_to_core,
     apiserver_conv_event_to_events_v1, "events.k8s.io/v1", "v1"},
    {"autoscaling", "v1", "horizontalpodautoscalers", "autoscaling", "v2", apiserver_conv_hpa_to_v2,
     apiserver_conv_hpa_to_v1, "autoscaling/v1", "autoscaling/v2"},
};

static const conv_pair_t *pair_of(const apiserver_resource_t *r)
{
    if (!r || apiserver_crd_of(r))
        return NULL;
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(pairs); i++)
        if (!strcmp(r->group, pairs[i].group) && !strcmp(r->version, pairs[i].version) &&
            !strcmp(r->plural, pairs[i].plural))
            return &pairs[i];
    return NULL;
}

const apiserver_resource_t *apiserver_conv_storage(const apiserver_resource_t *r)
{
    const conv_pair_t *p = pair_of(r);
    if (!p)
        return r;
    const apiserver_resource_t *s = apiserver_resource_find(p->sgroup, p->sversion, p->plural);
    return s ? s : r;
}

bool apiserver_conv_needed(const apiserver_resource_t *r)
{
    return pair_of(r) != NULL;
}

bool apiserver_conv_rewrites(const apiserver_resource_t *r)
{
    return pair_of(r) != NULL || apiserver_crd_rewrites(r);
}

static const char *api_version(const cJSON *obj)
{
    const cJSON *av = cJSON_GetObjectItemCaseSensitive(obj, "apiVersion");
    return cJSON_IsString(av) ? av->valuestring : "";
}

void apiserver_conv_out(const apiserver_resource_t *r, cJSON *obj)
{
    if (!cJSON_IsObject(obj))
        return;
    const conv_pair_t *p = pair_of(r);
    if (!p) {
        apiserver_crd_set_api_version(r, obj);
        return;
    }
    if (!strcmp(api_version(obj), p->storage_av))
        p->to_served(obj);
}

void apiserver_conv_in(const apiserver_resource_t *r, cJSON *obj)
{
    const conv_pair_t *p = pair_of(r);
    if (p && cJSON_IsObject(obj) && !strcmp(api_version(obj), p->served_av))
        p->to_storage(obj);
}

store_kv_t *apiserver_conv_kv(const apiserver_resource_t *r, store_kv_t *kv)
{
    if (!kv || !pair_of(r))
        return kv;
    cJSON *obj = cJSON_ParseWithLength(kv->value, kv->value_len);
    if (!obj)
        return kv; /* the caller reports what it cannot parse */
    apiserver_conv_out(r, obj);
    char *text = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    size_t tlen = strlen(text);
    store_kv_t *out = util_xmalloc(sizeof(*out) + kv->key_len + 1 + tlen + 1);
    *out = *kv;
    char *key = (char *)(out + 1), *value = key + kv->key_len + 1;
    memcpy(key, kv->key, kv->key_len);
    key[kv->key_len] = '\0';
    memcpy(value, text, tlen + 1);
    out->key = key;
    out->value = value;
    out->value_len = tlen;
    cJSON_free(text);
    free(kv);
    return out;
}

/* ---- JSON helpers ---------------------------------------------------------------------------- */

static cJSON *child(const cJSON *obj, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(obj, name);
}

/* Moves obj[from] to obj[to] (keeping its value); nothing when absent. */
static void rename_field(cJSON *obj, const char *from, const char *to)
{
    cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(obj, from);
    if (!v)
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(obj, to);
    cJSON_AddItemToObject(obj, to, v);
}

static void set_item(cJSON *obj, const char *name, cJSON *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
    cJSON_AddItemToObject(obj, name, v);
}

static void set_string(cJSON *obj, const char *name, const char *s)
{
    set_item(obj, name, cJSON_CreateString(s));
}

/* The object at a dotted path ("target.averageValue"), or NULL. */
static const cJSON *at_path(const cJSON *obj, const char *path)
{
    const cJSON *cur = obj;
    while (cur && *path) {
        char seg[64];
        size_t len = strcspn(path, ".");
        snprintf(seg, sizeof(seg), "%.*s", (int)len, path);
        cur = child(cur, seg);
        path += len + (path[len] == '.');
    }
    return cur;
}

/* Sets a copy of v at a dotted path, creating the objects on the way. */
static void put_path(cJSON *obj, const char *path, const cJSON *v)
{
    if (!v || cJSON_IsNull(v))
        return;
    char buf[128];
    util_strlcpy(buf, path, sizeof(buf));
    char *dot = strchr(buf, '.');
    if (!dot) {
        set_item(obj, buf, cJSON_Duplicate(v, true));
        return;
    }
    *dot = '\0';
    cJSON *sub = child(obj, buf);
    if (!cJSON_IsObject(sub))
        sub = cJSON_AddObjectToObject(obj, buf);
    put_path(sub, dot + 1, v);
}

static const char *string_of(const cJSON *obj, const char *name)
{
    const cJSON *v = child(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- Events -------------------------------------------------------------------------------- */

/* core/v1 name <-> events.k8s.io/v1 name; the rest (eventTime, series, action, reason, type,
 * related, reportingInstance) is the same in both. */
static const char *const event_fields[][2] = {
    {"involvedObject", "regarding"},
    {"message", "note"},
    {"source", "deprecatedSource"},
    {"firstTimestamp", "deprecatedFirstTimestamp"},
    {"lastTimestamp", "deprecatedLastTimestamp"},
    {"count", "deprecatedCount"},
    {"reportingComponent", "reportingController"},
};

void apiserver_conv_event_to_core(cJSON *obj)
{
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(event_fields); i++)
        rename_field(obj, event_fields[i][1], event_fields[i][0]);
    set_string(obj, "apiVersion", "v1");
    apiserver_obj_canonical_order(obj);
}

void apiserver_conv_event_to_events_v1(cJSON *obj)
{
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(event_fields); i++)
        rename_field(obj, event_fields[i][0], event_fields[i][1]);
    set_string(obj, "apiVersion", "events.k8s.io/v1");
    apiserver_obj_canonical_order(obj);
}

/* ---- HorizontalPodAutoscalers: metric sources ------------------------------------------------ */

#define ANN_METRICS    "autoscaling.alpha.kubernetes.io/metrics"
#define ANN_CURRENT    "autoscaling.alpha.kubernetes.io/current-metrics"
#define ANN_CONDITIONS "autoscaling.alpha.kubernetes.io/conditions"
#define ANN_BEHAVIOR   "autoscaling.alpha.kubernetes.io/behavior"

/* One metric type: its member name, and the v1 field <- v2 path pairs of its spec and status. */
typedef struct metric_map {
    const char *type, *member;
    const char *spec[5][2];
    const char *status[5][2];
} metric_map_t;

static const metric_map_t metric_maps[] = {
    {"Resource",
     "resource",
     {{"name", "name"},
      {"targetAverageUtilization", "target.averageUtilization"},
      {"targetAverageValue", "target.averageValue"}},
     {{"name", "name"},
      {"currentAverageUtilization", "current.averageUtilization"},
      {"currentAverageValue", "current.averageValue"}}},
    {"ContainerResource",
     "containerResource",
     {{"name", "name"},
      {"container", "container"},
      {"targetAverageUtilization", "target.averageUtilization"},
      {"targetAverageValue", "target.averageValue"}},
     {{"name", "name"},
      {"container", "container"},
      {"currentAverageUtilization", "current.averageUtilization"},
      {"currentAverageValue", "current.averageValue"}}},
    {"Pods",
     "pods",
     {{"metricName", "metric.name"},
      {"selector", "metric.selector"},
      {"targetAverageValue", "target.averageValue"}},
     {{"metricName", "metric.name"},
      {"selector", "metric.selector"},
      {"currentAverageValue", "current.averageValue"}}},
    {"Object",
     "object",
     {{"target", "describedObject"},
      {"metricName", "metric.name"},
      {"selector", "metric.selector"},
      {"targetValue", "target.value"},
      {"averageValue", "target.averageValue"}},
     {{"target", "describedObject"},
      {"metricName", "metric.name"},
      {"selector", "metric.selector"},
      {"currentValue", "current.value"},
      {"averageValue", "current.averageValue"}}},
    {"External",
     "external",
     {{"metricName", "metric.name"},
      {"metricSelector", "metric.selector"},
      {"targetValue", "target.value"},
      {"targetAverageValue", "target.averageValue"}},
     {{"metricName", "metric.name"},
      {"metricSelector", "metric.selector"},
      {"currentValue", "current.value"},
      {"currentAverageValue", "current.averageValue"}}},
};

static const metric_map_t *metric_map_of(const cJSON *metric)
{
    const char *type = string_of(metric, "type");
    for (size_t i = 0; type && i < UTIL_ARRAY_SIZE(metric_maps); i++)
        if (!strcmp(type, metric_maps[i].type))
            return &metric_maps[i];
    return NULL;
}

/* A v2 MetricSpec (status: MetricStatus) in v1's form (a copy). */
static cJSON *metric_to_v1(const cJSON *m, bool status)
{
    const metric_map_t *mm = metric_map_of(m);
    if (!mm)
        return cJSON_Duplicate(m, true);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "type", mm->type);
    const cJSON *src = child(m, mm->member);
    cJSON *dst = cJSON_AddObjectToObject(out, mm->member);
    for (size_t i = 0; i < 5; i++) {
        const char *const *f = status ? mm->status[i] : mm->spec[i];
        if (f[0])
            put_path(dst, f[0], at_path(src, f[1]));
    }
    return out;
}

/* The v2 target.type upstream infers from which v1 fields are set. */
static const char *target_type(const metric_map_t *mm, const cJSON *v1)
{
    if (!strcmp(mm->member, "resource") || !strcmp(mm->member, "containerResource"))
        return child(v1, "targetAverageUtilization") ? "Utilization" : "AverageValue";
    if (!strcmp(mm->member, "object"))
        return child(v1, "averageValue") ? "AverageValue" : "Value";
    if (!strcmp(mm->member, "external"))
        return child(v1, "targetValue") ? "Value" : "AverageValue";
    return "AverageValue";
}

/* A v1 MetricSpec (status: MetricStatus) in v2's form (a copy). */
static cJSON *metric_to_v2(const cJSON *m, bool status)
{
    const metric_map_t *mm = metric_map_of(m);
    if (!mm)
        return cJSON_Duplicate(m, true);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "type", mm->type);
    const cJSON *src = child(m, mm->member);
    cJSON *dst = cJSON_AddObjectToObject(out, mm->member);
    for (size_t i = 0; i < 5; i++) {
        const char *const *f = status ? mm->status[i] : mm->spec[i];
        if (f[0])
            put_path(dst, f[1], child(src, f[0]));
    }
    if (!status) {
        cJSON *target = child(dst, "target");
        if (!cJSON_IsObject(target))
            target = cJSON_AddObjectToObject(dst, "target");
        set_string(target, "type", target_type(mm, src));
    }
    return out;
}

/* ---- HorizontalPodAutoscalers: the objects ------------------------------------------------- */

static cJSON *ensure_object(cJSON *obj, const char *name)
{
    cJSON *o = child(obj, name);
    if (!cJSON_IsObject(o)) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
        o = cJSON_AddObjectToObject(obj, name);
    }
    return o;
}

static void annotate_json(cJSON *obj, const char *key, const cJSON *v)
{
    cJSON *meta = apiserver_obj_metadata(obj);
    if (!meta)
        return;
    char *text = cJSON_PrintUnformatted(v);
    cJSON *ann = ensure_object(meta, "annotations");
    set_string(ann, key, text);
    cJSON_free(text);
}

/* Takes an annotation's JSON value out of the object (NULL when absent or not JSON). */
static cJSON *take_annotation(cJSON *obj, const char *key)
{
    cJSON *meta = apiserver_obj_metadata(obj);
    cJSON *ann = child(meta, "annotations");
    const char *text = string_of(ann, key);
    cJSON *v = text ? cJSON_Parse(text) : NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(ann, key);
    if (ann && !ann->child)
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "annotations");
    return v;
}

static bool is_cpu_resource(const cJSON *m)
{
    const char *type = string_of(m, "type");
    const char *name = string_of(child(m, "resource"), "name");
    return type && !strcmp(type, "Resource") && name && !strcmp(name, "cpu");
}

static void hpa_spec_to_v1(cJSON *obj, cJSON *spec)
{
    cJSON *metrics = cJSON_DetachItemFromObjectCaseSensitive(spec, "metrics");
    cJSON *other = cJSON_CreateArray();
    bool cpu_seen = false;
    const cJSON *m;
    cJSON_ArrayForEach(m, metrics)
    {
        const cJSON *util = at_path(m, "resource.target.averageUtilization");
        if (is_cpu_resource(m) && !cpu_seen) {
            cpu_seen = true; /* the first cpu metric decides targetCPUUtilizationPercentage */
            if (cJSON_IsNumber(util))
                set_item(spec, "targetCPUUtilizationPercentage", cJSON_Duplicate(util, true));
        }
        if (is_cpu_resource(m) && cJSON_IsNumber(util))
            continue;
        cJSON_AddItemToArray(other, metric_to_v1(m, false));
    }
    if (cJSON_GetArraySize(other) > 0)
        annotate_json(obj, ANN_METRICS, other);
    cJSON_Delete(other);
    cJSON_Delete(metrics);
    cJSON *behavior = cJSON_DetachItemFromObjectCaseSensitive(spec, "behavior");
    if (cJSON_IsObject(behavior))
        annotate_json(obj, ANN_BEHAVIOR, behavior);
    cJSON_Delete(behavior);
}

static void hpa_status_to_v1(cJSON *obj, cJSON *status)
{
    cJSON *current = cJSON_DetachItemFromObjectCaseSensitive(status, "currentMetrics");
    cJSON *conds = cJSON_DetachItemFromObjectCaseSensitive(status, "conditions");
    const cJSON *m;
    if (cJSON_GetArraySize(current) > 0) {
        cJSON *v1 = cJSON_CreateArray();
        cJSON_ArrayForEach(m, current)
        {
            const cJSON *util = at_path(m, "resource.current.averageUtilization");
            if (is_cpu_resource(m) && cJSON_IsNumber(util))
                set_item(status, "currentCPUUtilizationPercentage", cJSON_Duplicate(util, true));
            cJSON_AddItemToArray(v1, metric_to_v1(m, true));
        }
        annotate_json(obj, ANN_CURRENT, v1);
        cJSON_Delete(v1);
    }
    if (cJSON_GetArraySize(conds) > 0)
        annotate_json(obj, ANN_CONDITIONS, conds);
    cJSON_Delete(current);
    cJSON_Delete(conds);
}

void apiserver_conv_hpa_to_v1(cJSON *obj)
{
    cJSON *spec = child(obj, "spec");
    if (cJSON_IsObject(spec))
        hpa_spec_to_v1(obj, spec);
    cJSON *status = ensure_object(obj, "status");
    hpa_status_to_v1(obj, status);
    /* v1's replica counts are not optional: 0 until the controller has looked */
    static const char *const counts[] = {"currentReplicas", "desiredReplicas"};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(counts); i++)
        if (!cJSON_IsNumber(child(status, counts[i])))
            set_item(status, counts[i], cJSON_CreateNumber(0));
    set_string(obj, "apiVersion", "autoscaling/v1");
    apiserver_obj_canonical_order(obj);
}

static cJSON *cpu_utilization_metric(double percent, bool status)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "type", "Resource");
    cJSON *res = cJSON_AddObjectToObject(m, "resource");
    cJSON_AddStringToObject(res, "name", "cpu");
    cJSON *t = cJSON_AddObjectToObject(res, status ? "current" : "target");
    cJSON_AddNumberToObject(t, "averageUtilization", percent);
    if (!status)
        cJSON_AddStringToObject(t, "type", "Utilization");
    return m;
}

static void hpa_spec_to_v2(cJSON *obj, cJSON *spec)
{
    cJSON *metrics = cJSON_CreateArray();
    cJSON *other = take_annotation(obj, ANN_METRICS);
    const cJSON *m;
    if (!cJSON_IsArray(other)) {
        cJSON_Delete(other);
        other = NULL;
    }
    cJSON_ArrayForEach(m, other)
    {
        cJSON_AddItemToArray(metrics, metric_to_v2(m, false));
    }
    cJSON_Delete(other);
    cJSON *cpu = cJSON_DetachItemFromObjectCaseSensitive(spec, "targetCPUUtilizationPercentage");
    if (cJSON_IsNumber(cpu))
        cJSON_AddItemToArray(metrics, cpu_utilization_metric(cpu->valuedouble, false));
    cJSON_Delete(cpu);
    /* autoscaling/v1's implicit default, made explicit as upstream's conversion does */
    if (cJSON_GetArraySize(metrics) == 0)
        cJSON_AddItemToArray(metrics, cpu_utilization_metric(80, false));
    set_item(spec, "metrics", metrics);
    cJSON *behavior = take_annotation(obj, ANN_BEHAVIOR);
    if (cJSON_IsObject(behavior))
        set_item(spec, "behavior", behavior);
    else
        cJSON_Delete(behavior);
}

static void hpa_status_to_v2(cJSON *obj, cJSON *status)
{
    cJSON *current = take_annotation(obj, ANN_CURRENT);
    cJSON *cpu = cJSON_DetachItemFromObjectCaseSensitive(status, "currentCPUUtilizationPercentage");
    if (cJSON_IsArray(current)) { /* it has more than the cpu figure */
        cJSON *v2 = cJSON_CreateArray();
        const cJSON *m;
        cJSON_ArrayForEach(m, current)
        {
            cJSON_AddItemToArray(v2, metric_to_v2(m, true));
        }
        set_item(status, "currentMetrics", v2);
    } else if (cJSON_IsNumber(cpu)) {
        cJSON *v2 = cJSON_CreateArray();
        cJSON_AddItemToArray(v2, cpu_utilization_metric(cpu->valuedouble, true));
        set_item(status, "currentMetrics", v2);
    }
    cJSON_Delete(current);
    cJSON_Delete(cpu);
    cJSON *conds = take_annotation(obj, ANN_CONDITIONS);
    if (cJSON_IsArray(conds))
        set_item(status, "conditions", conds);
    else
        cJSON_Delete(conds);
}

static void drop_status_annotations(cJSON *obj)
{
    cJSON_Delete(take_annotation(obj, ANN_CURRENT));
    cJSON_Delete(take_annotation(obj, ANN_CONDITIONS));
}

void apiserver_conv_hpa_to_v2(cJSON *obj)
{
    cJSON *spec = ensure_object(obj, "spec");
    hpa_spec_to_v2(obj, spec);
    cJSON *status = child(obj, "status");
    if (cJSON_IsObject(status))
        hpa_status_to_v2(obj, status);
    else /* annotations that only ever mean status are dropped with it */
        drop_status_annotations(obj);
    set_string(obj, "apiVersion", "autoscaling/v2");
    apiserver_obj_canonical_order(obj);
}

/* ---- events.k8s.io/v1 validation (upstream's ValidateEventCreate / ValidateEventUpdate) ---- */

typedef struct verr {
    apiserver_conv_err_fn fn;
    void *ud;
} verr_t;

static void required(const verr_t *v, const char *field)
{
    v->fn(v->ud, "FieldValueRequired", field, "Required value");
}

static void invalid(const verr_t *v, const char *field, const char *value, const char *detail)
{
    char *problem = util_strdup_printf("Invalid value: \"%s\": %s", value, detail);
    v->fn(v->ud, "FieldValueInvalid", field, problem);
    free(problem);
}

static bool set(const cJSON *obj, const char *name)
{
    const cJSON *f = child(obj, name);
    if (!f || cJSON_IsNull(f))
        return false;
    if (cJSON_IsString(f))
        return f->valuestring[0] != '\0';
    if (cJSON_IsNumber(f))
        return f->valuedouble != 0;
    if (cJSON_IsObject(f))
        return f->child != NULL;
    return true;
}

static size_t length_of(const cJSON *obj, const char *name)
{
    const char *s = string_of(obj, name);
    return s ? strlen(s) : 0;
}

/* A qualified name ([prefix/]name, name: 63 alphanumerics, '-', '_', '.'; alphanumeric ends). */
static const char *qualified_name_problem(const char *s)
{
    const char *slash = strchr(s, '/');
    const char *name = slash ? slash + 1 : s;
    size_t n = strlen(name);
    if (slash && (slash == s || slash - s > 253))
        return "prefix part must be a non-empty DNS-1123 subdomain";
    if (n == 0 || n > 63)
        return n ? "name part must be no more than 63 characters" : "name part must be non-empty";
    bool ok = isalnum((unsigned char)name[0]) && isalnum((unsigned char)name[n - 1]);
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)name[i]) || strchr("-_.", name[i]);
    return ok ? NULL
              : "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
                "or '123-abc', regex used for validation is "
                "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
}

static void too_long(const verr_t *v, const cJSON *ev, const char *field, size_t limit)
{
    if (length_of(ev, field) > limit) {
        char detail[64];
        snprintf(detail, sizeof(detail), "can have at most %zu characters", limit);
        invalid(v, field, "", detail);
    }
}

/* legacyValidateEvent for an event with eventTime (every events.k8s.io/v1 event has one). */
static void legacy_rules(const verr_t *v, const cJSON *ev)
{
    const char *ns = string_of(child(ev, "metadata"), "namespace");
    const char *ions = string_of(child(ev, "involvedObject"), "namespace");
    if ((!ions || !ions[0]) && ns && strcmp(ns, "default") && strcmp(ns, "kube-system"))
        invalid(v, "involvedObject.namespace", "", "does not match event.namespace");
    const char *rc = string_of(ev, "reportingComponent");
    if (!rc || !rc[0]) {
        required(v, "reportingController");
        invalid(v, "reportingController", "", qualified_name_problem(""));
    } else if (qualified_name_problem(rc)) {
        invalid(v, "reportingController", rc, qualified_name_problem(rc));
    }
    if (!set(ev, "reportingInstance"))
        required(v, "reportingInstance");
    too_long(v, ev, "reportingInstance", 128);
    if (!set(ev, "action"))
        required(v, "action");
    too_long(v, ev, "action", 128);
    if (!set(ev, "reason"))
        required(v, "reason");
    too_long(v, ev, "reason", 128);
    too_long(v, ev, "message", 1024);
}

static void series_rules(const verr_t *v, const cJSON *ev)
{
    const cJSON *series = child(ev, "series");
    if (!cJSON_IsObject(series))
        return;
    const cJSON *count = child(series, "count");
    if (!cJSON_IsNumber(count) || count->valuedouble < 2)
        invalid(v, "series.count", "", "should be at least 2");
    if (!set(series, "lastObservedTime"))
        required(v, "series.lastObservedTime");
}

static void create_rules(const verr_t *v, const cJSON *ev)
{
    if (set(ev, "eventTime"))
        legacy_rules(v, ev);
    series_rules(v, ev);
    if (!set(ev, "eventTime"))
        required(v, "eventTime");
    const char *type = string_of(ev, "type");
    if (!type || (strcmp(type, "Normal") && strcmp(type, "Warning"))) {
        char *detail = util_strdup_printf("has invalid value: %s", type ? type : "");
        invalid(v, "type", "", detail);
        free(detail);
    }
    static const char *const unset[] = {"firstTimestamp", "lastTimestamp", "count"};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(unset); i++)
        if (set(ev, unset[i]))
            invalid(v, unset[i], "", "needs to be unset");
    const cJSON *src = child(ev, "source");
    if (set(src, "component") || set(src, "host"))
        invalid(v, "source", "", "needs to be unset");
}

static void update_rules(const verr_t *v, const cJSON *ev, const cJSON *old)
{
    if (set(ev, "eventTime"))
        legacy_rules(v, ev);
    if (!cJSON_Compare(child(ev, "series"), child(old, "series"), true))
        series_rules(v, ev);
    static const char *const fixed[] = {
        "involvedObject",   "reason",        "message", "source",
        "firstTimestamp",   "lastTimestamp", "count",   "type",
        "eventTime",        "action",        "related", "reportingComponent",
        "reportingInstance"};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(fixed); i++) {
        const cJSON *a = child(ev, fixed[i]), *b = child(old, fixed[i]);
        bool same = (!a || cJSON_IsNull(a)) && (!b || cJSON_IsNull(b));
        if (!same && !(a && b && cJSON_Compare(a, b, true))) {
            const char *name =
                !strcmp(fixed[i], "reportingComponent") ? "reportingController" : fixed[i];
            v->fn(v->ud, "FieldValueInvalid", name, "Invalid value: field is immutable");
        }
    }
}

void apiserver_conv_validate(const apiserver_resource_t *r, const cJSON *obj, const cJSON *old,
                             apiserver_conv_err_fn err, void *ud)
{
    const conv_pair_t *p = pair_of(r);
    if (!p || strcmp(p->group, "events.k8s.io"))
        return;
    verr_t v = {err, ud};
    cJSON *ev = cJSON_Duplicate(obj, true);
    apiserver_conv_in(r, ev); /* upstream validates the internal (core) form */
    cJSON *prev = old ? cJSON_Duplicate(old, true) : NULL;
    if (prev)
        apiserver_conv_in(r, prev);
    if (prev)
        update_rules(&v, ev, prev);
    else
        create_rules(&v, ev);
    cJSON_Delete(ev);
    cJSON_Delete(prev);
}

/* ---- status kept on main-resource updates ------------------------------------------------- */

void apiserver_conv_keep_status(const apiserver_resource_t *r, cJSON *obj, const cJSON *cur)
{
    const conv_pair_t *p = pair_of(r);
    if (!p || strcmp(p->group, "autoscaling"))
        return;
    /* autoscaling/v1 carries part of the status in annotations: an update of the main resource
     * keeps the stored ones, as upstream resets the whole status after conversion */
    static const char *const keys[] = {ANN_CURRENT, ANN_CONDITIONS};
    cJSON *meta = apiserver_obj_metadata(obj);
    const cJSON *cann = child(child(cur, "metadata"), "annotations");
    for (size_t i = 0; meta && i < UTIL_ARRAY_SIZE(keys); i++) {
        cJSON *ann = child(meta, "annotations");
        cJSON_DeleteItemFromObjectCaseSensitive(ann, keys[i]);
        const cJSON *v = child(cann, keys[i]);
        if (cJSON_IsString(v))
            set_string(ensure_object(meta, "annotations"), keys[i], v->valuestring);
        ann = child(meta, "annotations");
        if (cJSON_IsObject(ann) && !ann->child)
            cJSON_DeleteItemFromObjectCaseSensitive(meta, "annotations");
    }
}
