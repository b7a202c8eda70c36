/* apiserver_table_cluster: Table printers of events and cluster-level kinds: nodes,
 * PriorityClasses and CustomResourceDefinitions (after
 * kubernetes/pkg/printers/internalversion/printers.go). */
#include "apiserver_table_printers.h"

#include "apiserver_convert.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Events. */

static const apiserver_table_column_t event_cols[] = {
    {"Last Seen", "string", "",
     "The time at which the most recent occurrence of this event was "
     "recorded.",
     0},
    {"Type", "string", "",
     "Type of this event (Normal, Warning), new types could be added in "
     "the future",
     0},
    {"Reason", "string", "",
     "This should be a short, machine understandable string that gives "
     "the reason for the transition into the object's current status.",
     0},
    {"Object", "string", "", "The object that this event is about.", 0},
    {"Subobject", "string", "",
     "If referring to a piece of an object instead of an entire "
     "object, this string should contain a valid JSON/Go field access "
     "statement, such as desiredState.manifest.containers[2].",
     1},
    {"Source", "string", "",
     "The component reporting this event. Should be a short machine "
     "understandable string.",
     1},
    {"Message", "string", "", "A human-readable description of the status of this operation.", 0},
    {"First Seen", "string", "",
     "The time at which the event was first recorded. (Time of "
     "server receipt is in TypeMeta.)",
     1},
    {"Count", "string", "", "The number of times this event has occurred.", 1},
    {"Name", "string", "name", DESC_NAME, 1},
};

static const char *first_nonempty(const char *a, const char *b)
{
    return a && *a ? a : b ? b : "";
}

/* The message with leading and trailing white space removed (strings.TrimSpace). */
static void add_trimmed(cJSON *cells, const char *s)
{
    s = s ? s : "";
    while (*s && strchr(" \t\n\r\v\f", *s))
        s++;
    size_t n = strlen(s);
    while (n && strchr(" \t\n\r\v\f", s[n - 1]))
        n--;
    char *t = util_xmalloc(n + 1);
    memcpy(t, s, n);
    t[n] = '\0';
    apiserver_table__add_str(cells, t);
    free(t);
}

static void event_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    char first[32], last[32];
    const char *first_ts = apiserver_table__str_at(obj, "firstTimestamp");
    apiserver_table__since(first, sizeof(first),
                           first_ts ? first_ts : apiserver_table__str_at(obj, "eventTime"), now);
    const char *last_ts = apiserver_table__str_at(obj, "lastTimestamp");
    if (last_ts)
        apiserver_table__since(last, sizeof(last), last_ts, now);
    else
        memcpy(last, first, sizeof(last));
    int64_t count = apiserver_table__int_at(obj, "count", 0);
    if (cJSON_IsObject(apiserver_table__get(obj, "series"))) {
        apiserver_table__since(last, sizeof(last),
                               apiserver_table__str_at(obj, "series.lastObservedTime"), now);
        count = apiserver_table__int_at(obj, "series.count", 0);
    } else if (count == 0) {
        count = 1;
    }
    const char *kind = apiserver_table__str_at(obj, "involvedObject.kind"),
               *name = apiserver_table__str_at(obj, "involvedObject.name");
    char *target = util_strdup_printf("%s%s%s", kind ? kind : "", name && *name ? "/" : "",
                                      name && *name ? name : "");
    for (char *p = target; *p && *p != '/'; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    const char *component = first_nonempty(apiserver_table__str_at(obj, "source.component"),
                                           apiserver_table__str_at(obj, "reportingComponent"));
    const char *host = first_nonempty(apiserver_table__str_at(obj, "source.host"),
                                      apiserver_table__str_at(obj, "reportingInstance"));
    char *source = *host ? util_strdup_printf("%s, %s", component, host) : util_xstrdup(component);

    apiserver_table__add_str(cells, last);
    apiserver_table__add_str(cells, apiserver_table__str_at(obj, "type"));
    apiserver_table__add_str(cells, apiserver_table__str_at(obj, "reason"));
    apiserver_table__add_str(cells, target);
    apiserver_table__add_str(cells, apiserver_table__str_at(obj, "involvedObject.fieldPath"));
    apiserver_table__add_str(cells, source);
    add_trimmed(cells, apiserver_table__str_at(obj, "message"));
    apiserver_table__add_str(cells, first);
    apiserver_table__add_int(cells, count);
    apiserver_table__add_name(cells, obj);
    free(target);
    free(source);
}

/* ------------------------------------------------------------------------------------------ */
/* Nodes, PriorityClasses, CRDs. */

static const apiserver_table_column_t node_cols[] = {
    COL_NAME,
    {"Status", "string", "", "The status of the node", 0},
    {"Roles", "string", "", "The roles of the node", 0},
    COL_AGE,
    {"Version", "string", "", "Kubelet Version reported by the node.", 0},
    {"Internal-IP", "string", "", "List of addresses reachable to the node.", 1},
    {"External-IP", "string", "", "List of addresses reachable to the node.", 1},
    {"OS-Image", "string", "",
     "OS Image reported by the node from /etc/os-release (e.g. Debian "
     "GNU/Linux 7 (wheezy)).",
     1},
    {"Kernel-Version", "string", "",
     "Kernel Version reported by the node from 'uname -r' (e.g. "
     "3.16.0-0.bpo.4-amd64).",
     1},
    {"Container-Runtime", "string", "",
     "ContainerRuntime Version reported by the node through "
     "runtime remote API (e.g. containerd://1.4.2).",
     1},
};

/* Ready/NotReady (the only condition upstream shows), Unknown, then SchedulingDisabled. */
static void add_node_status(cJSON *cells, const cJSON *node)
{
    const char *ready = NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, apiserver_table__get(node, "status.conditions"))
    {
        const char *t = apiserver_table__str_at(c, "type");
        if (t && !strcmp(t, "Ready"))
            ready =
                apiserver_table__str_at(c, "status") ? apiserver_table__str_at(c, "status") : "";
    }
    util_buf_t b = {0};
    util_buf_puts(&b, !ready ? "Unknown" : !strcmp(ready, "True") ? "Ready" : "NotReady");
    if (apiserver_table__true_at(node, "spec.unschedulable"))
        util_buf_puts(&b, ",SchedulingDisabled");
    apiserver_table__add_buf(cells, &b);
}

/* findNodeRoles: node-role.kubernetes.io/<role> keys and the kubernetes.io/role value. */
static void add_node_roles(cJSON *cells, const cJSON *node)
{
    const cJSON *labels = apiserver_table__get(node, "metadata.labels");
    size_t n = 0, cap = (size_t)cJSON_GetArraySize(labels) + 1;
    char **v = util_xcalloc(cap, sizeof(*v));
    const cJSON *l;
    cJSON_ArrayForEach(l, labels)
    {
        const char *role = NULL;
        if (util_str_has_prefix(l->string, "node-role.kubernetes.io/"))
            role = l->string + strlen("node-role.kubernetes.io/");
        else if (!strcmp(l->string, "kubernetes.io/role") && cJSON_IsString(l))
            role = l->valuestring;
        bool dup = false;
        for (size_t i = 0; role && i < n; i++)
            dup |= !strcmp(v[i], role);
        if (role && *role && !dup)
            v[n++] = util_xstrdup(role);
    }
    apiserver_table__add_sorted(cells, v, n, "<none>");
}

static void add_node_address(cJSON *cells, const cJSON *node, const char *type)
{
    const cJSON *a;
    cJSON_ArrayForEach(a, apiserver_table__get(node, "status.addresses"))
    {
        const char *t = apiserver_table__str_at(a, "type");
        if (t && !strcmp(t, type)) {
            apiserver_table__add_str(cells, apiserver_table__str_at(a, "address"));
            return;
        }
    }
    apiserver_table__add_str(cells, "<none>");
}

static void node_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    apiserver_table__add_name(cells, obj);
    add_node_status(cells, obj);
    add_node_roles(cells, obj);
    apiserver_table__add_age(cells, obj, now);
    apiserver_table__add_str(cells, apiserver_table__str_at(obj, "status.nodeInfo.kubeletVersion"));
    add_node_address(cells, obj, "InternalIP");
    add_node_address(cells, obj, "ExternalIP");
    apiserver_table__add_str_or(cells, apiserver_table__str_at(obj, "status.nodeInfo.osImage"),
                                "<unknown>");
    apiserver_table__add_str_or(
        cells, apiserver_table__str_at(obj, "status.nodeInfo.kernelVersion"), "<unknown>");
    apiserver_table__add_str_or(
        cells, apiserver_table__str_at(obj, "status.nodeInfo.containerRuntimeVersion"),
        "<unknown>");
}

/* apiextensions-apiserver serves CRDs with the apiserver's default table convertor: Name and
 * "Created At" (the RFC 3339 timestamp, not an age). */
static const apiserver_table_column_t crd_cols[] = {
    COL_NAME,
    {"Created At", "date", "", DESC_AGE, 0},
};

static void crd_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    (void)now;
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_str(cells, apiserver_table__str_at(obj, "metadata.creationTimestamp"));
}

/* printPriorityClass: NAME, VALUE, GLOBAL-DEFAULT, AGE, PREEMPTIONPOLICY. */
static const apiserver_table_column_t priorityclass_cols[] = {
    COL_NAME,
    {"Value", "integer", "",
     "value represents the integer value of this priority class. This is the actual priority "
     "that pods receive when they have the name of this class in their pod spec.",
     0},
    {"Global-Default", "boolean", "",
     "globalDefault specifies whether this PriorityClass should be considered as the default "
     "priority for pods that do not have any priority class.",
     0},
    COL_AGE,
    {"PreemptionPolicy", "string", "",
     "preemptionPolicy is the Policy for preempting pods with lower priority.", 0},
};

static void priorityclass_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_int(cells, apiserver_table__int_at(obj, "value", 0));
    cJSON_AddItemToArray(cells, cJSON_CreateBool(apiserver_table__true_at(obj, "globalDefault")));
    apiserver_table__add_age(cells, obj, now);
    apiserver_table__add_str_or(cells, apiserver_table__str_at(obj, "preemptionPolicy"), "");
}

static const apiserver_table_column_t endpointslice_cols[] = {
    {"Name", "string", "name", "Name must be unique within a namespace.", 0},
    {"AddressType", "string", "", "The IP protocol for this slice", 0},
    {"Ports", "string", "", "The ports exposed by this slice", 0},
    {"Endpoints", "string", "", "The first three endpoint addresses", 0},
    {"Age", "date", "", "Creation timestamp of the slice", 0},
};

/* upstream printEndpointSlice: ports and the first three addresses, "<unset>" when none. */
static void endpointslice_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_str_or(cells, apiserver_table__str_at(obj, "addressType"), "");
    util_buf_t b = {0};
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(obj, "ports"))
    {
        if (n++ == 3)
            continue;
        apiserver_table__sep(&b, ",");
        const cJSON *port = cJSON_GetObjectItemCaseSensitive(it, "port");
        if (cJSON_IsNumber(port))
            util_buf_printf(&b, "%d", (int)port->valuedouble);
        else
            util_buf_puts(&b, "<unset>");
    }
    if (n > 3)
        util_buf_printf(&b, " + %d more...", n - 3);
    if (!b.len)
        util_buf_puts(&b, "<unset>");
    apiserver_table__add_buf(cells, &b);
    n = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(obj, "endpoints"))
    {
        const cJSON *a;
        cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(it, "addresses"))
        {
            if (n++ >= 3 || !cJSON_IsString(a))
                continue;
            apiserver_table__sep(&b, ",");
            util_buf_puts(&b, a->valuestring);
        }
    }
    if (n > 3)
        util_buf_printf(&b, " + %d more...", n - 3);
    if (!b.len)
        util_buf_puts(&b, "<unset>");
    apiserver_table__add_buf(cells, &b);
    apiserver_table__add_age(cells, obj, now);
}

/* events.k8s.io/v1 Events print as the core Events they are stored as (upstream prints the
 * internal type for both). */
#define eventv1_cols event_cols
static void eventv1_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    cJSON *core = cJSON_Duplicate(obj, true);
    apiserver_conv_event_to_core(core);
    event_cells(cells, row, core, now);
    cJSON_Delete(core);
}

#define PRINTER(g, p, name)                                           \
    {                                                                 \
        g, p, name##_cols, UTIL_ARRAY_SIZE(name##_cols), name##_cells \
    }

const apiserver_table_printer_t apiserver_table__cluster_printers[] = {
    PRINTER("", "events", event),
    PRINTER("events.k8s.io", "events", eventv1),
    PRINTER("", "nodes", node),
    PRINTER("discovery.k8s.io", "endpointslices", endpointslice),
    PRINTER("scheduling.k8s.io", "priorityclasses", priorityclass),
    PRINTER("apiextensions.k8s.io", "customresourcedefinitions", crd),
};
const size_t apiserver_table__ncluster_printers =
    UTIL_ARRAY_SIZE(apiserver_table__cluster_printers);
