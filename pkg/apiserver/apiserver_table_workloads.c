/* apiserver_table_workloads: Table columns and cells of the workload kinds (deployments,
 * replicasets, statefulsets, daemonsets, jobs, cronjobs), after upstream's printers. */
#include "apiserver_table.h"
#include "apiserver_table_printers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Workloads: apps and batch. */

static const apiserver_table_column_t deployment_cols[] = {
    COL_NAME,
    {"Ready", "string", "", "Number of the pod with ready state", 0},
    {"Up-to-date", "string", "",
     "Total number of non-terminated pods targeted by this deployment "
     "that have the desired template spec.",
     0},
    {"Available", "string", "",
     "Total number of available pods (ready for at least "
     "minReadySeconds) targeted by this deployment.",
     0},
    COL_AGE,
    COL_CONTAINERS,
    COL_IMAGES,
    COL_SELECTOR("Label selector for pods."),
};

static void deployment_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_ratio(cells, apiserver_table__int_at(obj, "status.readyReplicas", 0),
                               apiserver_table__int_at(obj, "spec.replicas", 1));
    apiserver_table__add_int(cells, apiserver_table__int_at(obj, "status.updatedReplicas", 0));
    apiserver_table__add_int(cells, apiserver_table__int_at(obj, "status.availableReplicas", 0));
    apiserver_table__add_age(cells, obj, now);
    apiserver_table__add_containers(cells, apiserver_table__get(obj, "spec.template.spec"));
    apiserver_table__add_selector(cells, apiserver_table__get(obj, "spec.selector"));
}

static const apiserver_table_column_t replicaset_cols[] = {
    COL_NAME,
    {"Desired", "integer", "", "Replicas is the number of desired replicas.", 0},
    {"Current", "integer", "", "Replicas is the most recently observed number of replicas.", 0},
    {"Ready", "integer", "", "The number of ready replicas for this replica set.", 0},
    COL_AGE,
    COL_CONTAINERS,
    COL_IMAGES,
    COL_SELECTOR("Selector is a label query over pods that should match the replica count."),
};

static void replicaset_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_int(cells, apiserver_table__int_at(obj, "spec.replicas", 1));
    apiserver_table__add_int(cells, apiserver_table__int_at(obj, "status.replicas", 0));
    apiserver_table__add_int(cells, apiserver_table__int_at(obj, "status.readyReplicas", 0));
    apiserver_table__add_age(cells, obj, now);
    apiserver_table__add_containers(cells, apiserver_table__get(obj, "spec.template.spec"));
    apiserver_table__add_selector(cells, apiserver_table__get(obj, "spec.selector"));
}

static const apiserver_table_column_t statefulset_cols[] = {
    COL_NAME,   {"Ready", "string", "", "Number of the pod with ready state", 0},
    COL_AGE,    COL_CONTAINERS,
    COL_IMAGES,
};

static void statefulset_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_ratio(cells, apiserver_table__int_at(obj, "status.readyReplicas", 0),
                               apiserver_table__int_at(obj, "spec.replicas", 1));
    apiserver_table__add_age(cells, obj, now);
    apiserver_table__add_containers(cells, apiserver_table__get(obj, "spec.template.spec"));
}

static const apiserver_table_column_t daemonset_cols[] = {
    COL_NAME,
    {"Desired", "integer", "",
     "The total number of nodes that should be running the daemon "
     "pod.",
     0},
    {"Current", "integer", "",
     "The number of nodes that are running at least 1 daemon pod and "
     "are supposed to run the daemon pod.",
     0},
    {"Ready", "integer", "",
     "The number of nodes that should be running the daemon pod and have "
     "one or more of the daemon pod running and ready.",
     0},
    {"Up-to-date", "integer", "",
     "The total number of nodes that are running updated daemon "
     "pod",
     0},
    {"Available", "integer", "",
     "The number of nodes that should be running the daemon pod and "
     "have one or more of the daemon pod running and available.",
     0},
    {"Node Selector", "string", "",
     "NodeSelector is a selector which must be true for the pod "
     "to fit on a node.",
     0},
    COL_AGE,
    COL_CONTAINERS,
    COL_IMAGES,
    COL_SELECTOR("A label query over pods that are managed by the daemon set."),
};

static void daemonset_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_int(cells,
                             apiserver_table__int_at(obj, "status.desiredNumberScheduled", 0));
    apiserver_table__add_int(cells,
                             apiserver_table__int_at(obj, "status.currentNumberScheduled", 0));
    apiserver_table__add_int(cells, apiserver_table__int_at(obj, "status.numberReady", 0));
    apiserver_table__add_int(cells,
                             apiserver_table__int_at(obj, "status.updatedNumberScheduled", 0));
    apiserver_table__add_int(cells, apiserver_table__int_at(obj, "status.numberAvailable", 0));
    apiserver_table__add_labels(cells,
                                apiserver_table__get(obj, "spec.template.spec.nodeSelector"));
    apiserver_table__add_age(cells, obj, now);
    apiserver_table__add_containers(cells, apiserver_table__get(obj, "spec.template.spec"));
    apiserver_table__add_selector(cells, apiserver_table__get(obj, "spec.selector"));
}

static const apiserver_table_column_t job_cols[] = {
    COL_NAME,
    {"Status", "string", "", "Status of the job.", 0},
    {"Completions", "string", "", "The completion status of the job as NNN/MMM", 0},
    {"Duration", "string", "", "Time required to complete the job.", 0},
    COL_AGE,
    COL_CONTAINERS,
    COL_IMAGES,
    COL_SELECTOR("A label query over pods that should match the pod count."),
};

static const char *job_status(const cJSON *job)
{
    const cJSON *conds = apiserver_table__get(job, "status.conditions");
    const cJSON *del = apiserver_table__get(job, "metadata.deletionTimestamp");
    if (apiserver_table__condition_true(conds, "Complete"))
        return "Complete";
    if (apiserver_table__condition_true(conds, "Failed"))
        return "Failed";
    if (del && !cJSON_IsNull(del))
        return "Terminating";
    if (apiserver_table__condition_true(conds, "Suspended"))
        return "Suspended";
    if (apiserver_table__condition_true(conds, "FailureTarget"))
        return "FailureTarget";
    if (apiserver_table__condition_true(conds, "SuccessCriteriaMet"))
        return "SuccessCriteriaMet";
    return "Running";
}

static void job_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    char buf[64];
    long long succeeded = (long long)apiserver_table__int_at(obj, "status.succeeded", 0);
    int64_t completions = apiserver_table__int_at(obj, "spec.completions", -1);
    int64_t parallelism = apiserver_table__int_at(obj, "spec.parallelism", -1);
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_str(cells, job_status(obj));
    if (completions >= 0)
        snprintf(buf, sizeof(buf), "%lld/%lld", succeeded, (long long)completions);
    else if (parallelism > 1)
        snprintf(buf, sizeof(buf), "%lld/1 of %lld", succeeded, (long long)parallelism);
    else
        snprintf(buf, sizeof(buf), "%lld/1", succeeded);
    apiserver_table__add_str(cells, buf);
    int64_t start, end;
    if (!apiserver_table__parse_time(apiserver_table__str_at(obj, "status.startTime"), &start))
        buf[0] = '\0';
    else if (apiserver_table__parse_time(apiserver_table__str_at(obj, "status.completionTime"),
                                         &end))
        apiserver_table_human_duration(buf, sizeof(buf), end - start);
    else
        apiserver_table_human_duration(buf, sizeof(buf), now - start);
    apiserver_table__add_str(cells, buf);
    apiserver_table__add_age(cells, obj, now);
    apiserver_table__add_containers(cells, apiserver_table__get(obj, "spec.template.spec"));
    apiserver_table__add_selector(cells, apiserver_table__get(obj, "spec.selector"));
}

static const apiserver_table_column_t cronjob_cols[] = {
    COL_NAME,
    {"Schedule", "string", "", "The schedule in Cron format.", 0},
    {"Timezone", "string", "", "The time zone name for the given schedule.", 0},
    {"Suspend", "boolean", "",
     "This flag tells the controller to suspend subsequent "
     "executions.",
     0},
    {"Active", "integer", "", "A list of pointers to currently running jobs.", 0},
    {"Last Schedule", "string", "",
     "Information when was the last time the job was successfully "
     "scheduled.",
     0},
    COL_AGE,
    COL_CONTAINERS,
    COL_IMAGES,
    COL_SELECTOR("A label query over pods that should match the pod count."),
};

static void cronjob_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    const cJSON *suspend = apiserver_table__get(obj, "spec.suspend");
    const char *last = apiserver_table__str_at(obj, "status.lastScheduleTime");
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_str(cells, apiserver_table__str_at(obj, "spec.schedule"));
    apiserver_table__add_str_or(cells, apiserver_table__str_at(obj, "spec.timeZone"), "<none>");
    apiserver_table__add_str(cells, !cJSON_IsBool(suspend)  ? "<unset>"
                                    : cJSON_IsTrue(suspend) ? "True"
                                                            : "False");
    apiserver_table__add_int(cells, apiserver_table__count_at(obj, "status.active"));
    if (last)
        apiserver_table__add_since(cells, last, now);
    else
        apiserver_table__add_str(cells, "<none>");
    apiserver_table__add_age(cells, obj, now);
    apiserver_table__add_containers(
        cells, apiserver_table__get(obj, "spec.jobTemplate.spec.template.spec"));
    apiserver_table__add_selector(cells,
                                  apiserver_table__get(obj, "spec.jobTemplate.spec.selector"));
}

/* upstream printControllerRevision: the controller as "<kind>.<group>/<name>", lower-cased. */
static const apiserver_table_column_t controllerrevision_cols[] = {
    COL_NAME,
    {"Controller", "string", "", "Controller of the object", 0},
    {"Revision", "string", "", "Revision indicates the revision of the state represented by Data.",
     0},
    COL_AGE,
};

static void controllerrevision_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    apiserver_table__add_name(cells, obj);
    const cJSON *ref, *owner = NULL;
    cJSON_ArrayForEach(ref, apiserver_table__get(obj, "metadata.ownerReferences"))
    {
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "controller")))
            owner = ref;
    }
    const char *api = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(owner, "apiVersion"));
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(owner, "kind"));
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(owner, "name"));
    if (!api || !kind || !name) {
        apiserver_table__add_str(cells, "<none>");
    } else {
        const char *slash = strchr(api, '/');
        char buf[512];
        if (slash)
            snprintf(buf, sizeof(buf), "%s.%.*s/%s", kind, (int)(slash - api), api, name);
        else
            snprintf(buf, sizeof(buf), "%s/%s", kind, name);
        for (char *c = buf; *c && *c != '/'; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        apiserver_table__add_str(cells, buf);
    }
    apiserver_table__add_int(cells, apiserver_table__int_at(obj, "revision", 0));
    apiserver_table__add_age(cells, obj, now);
}

#define PRINTER(g, p, name)                                           \
    {                                                                 \
        g, p, name##_cols, UTIL_ARRAY_SIZE(name##_cols), name##_cells \
    }

const apiserver_table_printer_t apiserver_table__workload_printers[] = {
    PRINTER("apps", "deployments", deployment),
    PRINTER("apps", "replicasets", replicaset),
    PRINTER("apps", "statefulsets", statefulset),
    PRINTER("apps", "daemonsets", daemonset),
    PRINTER("apps", "controllerrevisions", controllerrevision),
    PRINTER("batch", "jobs", job),
    PRINTER("batch", "cronjobs", cronjob),
};
const size_t apiserver_table__nworkload_printers =
    UTIL_ARRAY_SIZE(apiserver_table__workload_printers);
