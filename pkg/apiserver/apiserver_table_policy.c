/* apiserver_table_policy: Table printers of HorizontalPodAutoscalers (both served versions),
 * ResourceQuotas and LimitRanges (after kubernetes/pkg/printers/internalversion/printers.go). */
#include "apiserver_table_printers.h"

#include <stdlib.h>
#include <string.h>

#include "apiserver_convert.h"

/* ------------------------------------------------------------------------------------------ */
/* HorizontalPodAutoscalers. */

static const apiserver_table_column_t hpa_cols[] = {
    COL_NAME,
    {"Reference", "string", "",
     "scaleTargetRef points to the target resource to scale, and is used to the pods for which "
     "metrics should be collected, as well as to actually change the replica count.",
     0},
    {"Targets", "string", "",
     "metrics contains the specifications for which to use to calculate the desired replica "
     "count (the maximum replica count across all metrics will be used).",
     0},
    {"MinPods", "string", "",
     "minReplicas is the lower limit for the number of replicas to which the autoscaler can "
     "scale down.",
     0},
    {"MaxPods", "string", "",
     "maxReplicas is the upper limit for the number of replicas to which the autoscaler can "
     "scale up.",
     0},
    {"Replicas", "string", "",
     "currentReplicas is current number of replicas of pods managed by this autoscaler, as last "
     "seen by the autoscaler.",
     0},
    COL_AGE,
};

static const char *str_or(const cJSON *obj, const char *path, const char *dflt)
{
    const char *s = apiserver_table__str_at(obj, path);
    return s ? s : dflt;
}

/* "current/target" of one metric, as upstream's formatHPAMetrics. */
static void hpa_metric(util_buf_t *b, const cJSON *spec, const cJSON *status)
{
    const char *type = str_or(spec, "type", "");
    const char *member = !strcmp(type, "Resource")            ? "resource"
                         : !strcmp(type, "ContainerResource") ? "containerResource"
                         : !strcmp(type, "Pods")              ? "pods"
                         : !strcmp(type, "Object")            ? "object"
                         : !strcmp(type, "External")          ? "external"
                                                              : NULL;
    if (!member) {
        util_buf_puts(b, "<unknown type>");
        return;
    }
    const cJSON *s = apiserver_table__get(spec, member);
    const cJSON *st = apiserver_table__get(status, member);
    const char *avg = apiserver_table__str_at(s, "target.averageValue");
    if (!strcmp(member, "resource") || !strcmp(member, "containerResource")) {
        const char *name = str_or(s, "name", "");
        if (avg) {
            util_buf_printf(b, "%s: %s/%s", name, str_or(st, "current.averageValue", "<unknown>"),
                            avg);
            return;
        }
        const cJSON *cu = apiserver_table__get(st, "current.averageUtilization");
        const cJSON *tu = apiserver_table__get(s, "target.averageUtilization");
        char cur[24] = "<unknown>", tgt[24] = "<auto>";
        if (cJSON_IsNumber(cu))
            snprintf(cur, sizeof(cur), "%d%%", cu->valueint);
        if (cJSON_IsNumber(tu))
            snprintf(tgt, sizeof(tgt), "%d%%", tu->valueint);
        util_buf_printf(b, "%s: %s/%s", name, cur, tgt);
    } else if (!strcmp(member, "pods")) {
        util_buf_printf(b, "%s/%s", str_or(st, "current.averageValue", "<unknown>"),
                        avg ? avg : "");
    } else if (avg) { /* object, external by average */
        util_buf_printf(b, "%s/%s (avg)", str_or(st, "current.averageValue", "<unknown>"), avg);
    } else {
        util_buf_printf(b, "%s/%s", str_or(st, "current.value", "<unknown>"),
                        str_or(s, "target.value", ""));
    }
}

static void hpa_targets(cJSON *cells, const cJSON *obj)
{
    const cJSON *specs = apiserver_table__get(obj, "spec.metrics");
    const cJSON *statuses = apiserver_table__get(obj, "status.currentMetrics");
    int n = cJSON_GetArraySize(specs);
    if (n == 0) {
        apiserver_table__add_str(cells, "<none>");
        return;
    }
    util_buf_t b = {0};
    for (int i = 0; i < n && i < 2; i++) {
        if (i)
            util_buf_puts(&b, ", ");
        hpa_metric(&b, cJSON_GetArrayItem(specs, i),
                   i < cJSON_GetArraySize(statuses) ? cJSON_GetArrayItem(statuses, i) : NULL);
    }
    if (n > 2)
        util_buf_printf(&b, " + %d more...", n - 2);
    apiserver_table__add_buf(cells, &b);
}

static void hpa_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    cJSON *v2 = NULL;
    const char *av = apiserver_table__str_at(obj, "apiVersion");
    if (av && !strcmp(av, "autoscaling/v1")) { /* printed from the stored (v2) form */
        v2 = cJSON_Duplicate(obj, true);
        apiserver_conv_hpa_to_v2(v2);
        obj = v2;
    }
    apiserver_table__add_name(cells, obj);
    char *ref = util_strdup_printf("%s/%s", str_or(obj, "spec.scaleTargetRef.kind", ""),
                                   str_or(obj, "spec.scaleTargetRef.name", ""));
    apiserver_table__add_str(cells, ref);
    free(ref);
    hpa_targets(cells, obj);
    const cJSON *min = apiserver_table__get(obj, "spec.minReplicas");
    char minbuf[24] = "<unset>";
    if (cJSON_IsNumber(min))
        snprintf(minbuf, sizeof(minbuf), "%d", min->valueint);
    apiserver_table__add_str(cells, minbuf);
    apiserver_table__add_int(cells, apiserver_table__int_at(obj, "spec.maxReplicas", 0));
    apiserver_table__add_int(cells, apiserver_table__int_at(obj, "status.currentReplicas", 0));
    apiserver_table__add_age(cells, obj, now);
    cJSON_Delete(v2);
}

/* ------------------------------------------------------------------------------------------ */
/* ResourceQuotas and LimitRanges. */

static const apiserver_table_column_t resourcequota_cols[] = {
    COL_NAME,
    COL_AGE,
    {"Request", "string", "",
     "Request represents a minimum amount of cpu/memory that a container "
     "may consume.",
     0},
    {"Limit", "string", "",
     "Limits control the maximum amount of cpu/memory that a container may "
     "use independent of contention on the node.",
     0},
};

/* "resource: used/hard" pairs sorted by resource name; limits.* go to the Limit column. */
static void resourcequota_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_age(cells, obj, now);
    const cJSON *hard = apiserver_table__get(obj, "status.hard");
    const cJSON *used = apiserver_table__get(obj, "status.used");
    size_t n = (size_t)cJSON_GetArraySize(hard), k = 0;
    char **names = util_xcalloc(n + 1, sizeof(*names));
    const cJSON *e;
    cJSON_ArrayForEach(e, hard)
    {
        if (e->string && k < n)
            names[k++] = e->string;
    }
    qsort(names, k, sizeof(*names), apiserver_table__cmp_str);
    util_buf_t req = {0}, lim = {0};
    for (size_t i = 0; i < k; i++) {
        util_buf_t *b = !strncmp(names[i], "limits.", 7) ? &lim : &req;
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(used, names[i]);
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(hard, names[i]);
        util_buf_printf(b, "%s%s: %s/%s", b->len ? ", " : "", names[i],
                        cJSON_IsString(u) ? u->valuestring : "0",
                        cJSON_IsString(h) ? h->valuestring : "0");
    }
    free(names);
    apiserver_table__add_buf(cells, &req);
    apiserver_table__add_buf(cells, &lim);
}

static const apiserver_table_column_t limitrange_cols[] = {
    COL_NAME,
    {"Created At", "date", "", DESC_AGE, 0},
};

static void limitrange_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    (void)now;
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_str_or(cells, apiserver_table__str_at(obj, "metadata.creationTimestamp"),
                                "");
}

#define PRINTER(g, p, name)                                           \
    {                                                                 \
        g, p, name##_cols, UTIL_ARRAY_SIZE(name##_cols), name##_cells \
    }

const apiserver_table_printer_t apiserver_table__policy_printers[] = {
    PRINTER("autoscaling", "horizontalpodautoscalers", hpa),
    PRINTER("", "resourcequotas", resourcequota),
    PRINTER("", "limitranges", limitrange),
};
const size_t apiserver_table__npolicy_printers = UTIL_ARRAY_SIZE(apiserver_table__policy_printers);
