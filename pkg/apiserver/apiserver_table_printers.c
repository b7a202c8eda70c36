/* apiserver_table_printers: Table columns and cells per resource, after upstream's printers. */
#include "apiserver_table.h"
#include "apiserver_table_printers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *apiserver_table__str_at(const cJSON *obj, const char *path)
{
    return cJSON_GetStringValue(apiserver_table__get(obj, path));
}

int64_t apiserver_table__int_at(const cJSON *obj, const char *path, int64_t def)
{
    const cJSON *v = apiserver_table__get(obj, path);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : def;
}

bool apiserver_table__true_at(const cJSON *obj, const char *path)
{
    return cJSON_IsTrue(apiserver_table__get(obj, path));
}

int64_t apiserver_table__count_at(const cJSON *obj, const char *path)
{
    const cJSON *v = apiserver_table__get(obj, path);
    return (cJSON_IsObject(v) || cJSON_IsArray(v)) ? cJSON_GetArraySize(v) : 0;
}

void apiserver_table__add_str(cJSON *cells, const char *s)
{
    cJSON_AddItemToArray(cells, cJSON_CreateString(s ? s : ""));
}

void apiserver_table__add_str_or(cJSON *cells, const char *s, const char *dflt)
{
    apiserver_table__add_str(cells, s && *s ? s : dflt);
}

void apiserver_table__add_int(cJSON *cells, int64_t v)
{
    cJSON_AddItemToArray(cells, cJSON_CreateNumber((double)v));
}

/* translateTimestampSince: "<unknown>" for a zero (absent) time. */
void apiserver_table__since(char *buf, size_t n, const char *ts, int64_t now)
{
    int64_t t;
    if (!ts || !apiserver_table__parse_time(ts, &t))
        snprintf(buf, n, "<unknown>");
    else
        apiserver_table_human_duration(buf, n, now - t);
}

void apiserver_table__add_since(cJSON *cells, const char *ts, int64_t now)
{
    char buf[32];
    apiserver_table__since(buf, sizeof(buf), ts, now);
    apiserver_table__add_str(cells, buf);
}

void apiserver_table__add_age(cJSON *cells, const cJSON *obj, int64_t now)
{
    apiserver_table__add_since(cells, apiserver_table__str_at(obj, "metadata.creationTimestamp"),
                               now);
}

void apiserver_table__add_name(cJSON *cells, const cJSON *obj)
{
    apiserver_table__add_str(cells, apiserver_table__str_at(obj, "metadata.name"));
}

void apiserver_table__add_buf(cJSON *cells, util_buf_t *b)
{
    apiserver_table__add_str(cells, b->data ? b->data : "");
    util_buf_free(b);
}

void apiserver_table__add_ratio(cJSON *cells, int64_t a, int64_t b)
{
    char buf[48];
    snprintf(buf, sizeof(buf), "%lld/%lld", (long long)a, (long long)b);
    apiserver_table__add_str(cells, buf);
}

void apiserver_table__sep(util_buf_t *b, const char *s)
{
    if (b->len)
        util_buf_puts(b, s);
}

/* layoutContainerCells: container names, then images, each joined with ','. */
void apiserver_table__add_containers(cJSON *cells, const cJSON *pod_spec)
{
    const cJSON *containers = cJSON_GetObjectItemCaseSensitive(pod_spec, "containers");
    util_buf_t names = {0}, images = {0};
    const cJSON *c;
    cJSON_ArrayForEach(c, containers)
    {
        apiserver_table__sep(&names, ",");
        util_buf_puts(&names,
                      apiserver_table__str_at(c, "name") ? apiserver_table__str_at(c, "name") : "");
        apiserver_table__sep(&images, ",");
        util_buf_puts(&images, apiserver_table__str_at(c, "image")
                                   ? apiserver_table__str_at(c, "image")
                                   : "");
    }
    apiserver_table__add_buf(cells, &names);
    apiserver_table__add_buf(cells, &images);
}

int apiserver_table__cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and joins owned strings with ',' (freeing them), or dflt when there are none. */
void apiserver_table__add_sorted(cJSON *cells, char **v, size_t n, const char *dflt)
{
    qsort(v, n, sizeof(*v), apiserver_table__cmp_str);
    util_buf_t b = {0};
    for (size_t i = 0; i < n; i++) {
        apiserver_table__sep(&b, ",");
        util_buf_puts(&b, v[i]);
        free(v[i]);
    }
    free(v);
    if (!n)
        util_buf_puts(&b, dflt);
    apiserver_table__add_buf(cells, &b);
}

/* labels.FormatLabels: "k=v" sorted by key, "<none>" if empty. */
void apiserver_table__add_labels(cJSON *cells, const cJSON *map)
{
    size_t n = 0, cap = (size_t)cJSON_GetArraySize(map) + 1;
    char **v = util_xcalloc(cap, sizeof(*v));
    const cJSON *l;
    cJSON_ArrayForEach(l, map)
    {
        if (cJSON_IsString(l))
            v[n++] = util_strdup_printf("%s=%s", l->string, l->valuestring);
    }
    apiserver_table__add_sorted(cells, v, n, "<none>");
}

char *apiserver_table__join_values(const cJSON *values)
{
    size_t n = 0, cap = (size_t)cJSON_GetArraySize(values) + 1;
    const char **v = util_xcalloc(cap, sizeof(*v));
    const cJSON *x;
    cJSON_ArrayForEach(x, values)
    {
        if (cJSON_IsString(x))
            v[n++] = x->valuestring;
    }
    qsort(v, n, sizeof(*v), apiserver_table__cmp_str);
    util_buf_t b = {0};
    for (size_t i = 0; i < n; i++) {
        apiserver_table__sep(&b, ",");
        util_buf_puts(&b, v[i]);
    }
    free(v);
    return b.data ? util_buf_steal(&b) : util_xstrdup("");
}

char *apiserver_table__requirement(const cJSON *expr)
{
    const char *key = apiserver_table__str_at(expr, "key"),
               *op = apiserver_table__str_at(expr, "operator");
    key = key ? key : "";
    if (op && !strcmp(op, "Exists"))
        return util_xstrdup(key);
    if (op && !strcmp(op, "DoesNotExist"))
        return util_strdup_printf("!%s", key);
    char *vals = apiserver_table__join_values(cJSON_GetObjectItemCaseSensitive(expr, "values"));
    char *r =
        util_strdup_printf("%s %s (%s)", key, op && !strcmp(op, "NotIn") ? "notin" : "in", vals);
    free(vals);
    return r;
}

/* metav1.LabelSelectorAsSelector(sel).String(): requirements sorted by key. The "key" prefix
 * sorts the same as the key does, since every requirement starts with it ('!' aside). */
void apiserver_table__add_selector(cJSON *cells, const cJSON *sel)
{
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(sel, "matchLabels");
    const cJSON *exprs = cJSON_GetObjectItemCaseSensitive(sel, "matchExpressions");
    size_t n = 0, cap = (size_t)(cJSON_GetArraySize(labels) + cJSON_GetArraySize(exprs)) + 1;
    char **v = util_xcalloc(cap, sizeof(*v));
    const cJSON *x;
    cJSON_ArrayForEach(x, labels)
    {
        if (cJSON_IsString(x))
            v[n++] = util_strdup_printf("%s=%s", x->string, x->valuestring);
    }
    cJSON_ArrayForEach(x, exprs) v[n++] = apiserver_table__requirement(x);
    apiserver_table__add_sorted(cells, v, n, "");
}

/* ------------------------------------------------------------------------------------------ */
/* Core: namespaces, configmaps, secrets, serviceaccounts, leases, generic. */

static const apiserver_table_column_t generic_cols[] = {
    COL_NAME,
    {"Age", "date", "", DESC_AGE, 0},
};

static void generic_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_age(cells, obj, now);
}

static const apiserver_table_column_t namespace_cols[] = {
    COL_NAME,
    {"Status", "string", "", "The status of the namespace", 0},
    COL_AGE,
};

static void namespace_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_str(cells, apiserver_table__str_at(obj, "status.phase"));
    apiserver_table__add_age(cells, obj, now);
}

static const apiserver_table_column_t configmap_cols[] = {
    COL_NAME,
    {"Data", "string", "", "Data contains the configuration data.", 0},
    COL_AGE,
};

static void configmap_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_int(cells, apiserver_table__count_at(obj, "data") +
                                        apiserver_table__count_at(obj, "binaryData"));
    apiserver_table__add_age(cells, obj, now);
}

static const apiserver_table_column_t secret_cols[] = {
    COL_NAME,
    {"Type", "string", "", "Used to facilitate programmatic handling of secret data.", 0},
    {"Data", "string", "", "Data contains the secret data.", 0},
    COL_AGE,
};

static void secret_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_str(cells, apiserver_table__str_at(obj, "type"));
    apiserver_table__add_int(cells, apiserver_table__count_at(obj, "data"));
    apiserver_table__add_age(cells, obj, now);
}

static const apiserver_table_column_t serviceaccount_cols[] = {
    COL_NAME,
    {"Secrets", "string", "", "Secrets is a list of the secrets in the same namespace.", 0},
    COL_AGE,
};

static void serviceaccount_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_int(cells, apiserver_table__count_at(obj, "secrets"));
    apiserver_table__add_age(cells, obj, now);
}

static const apiserver_table_column_t endpoints_cols[] = {
    COL_NAME,
    {"Endpoints", "string", "", "Endpoints is the list of endpoints in the object.", 0},
    COL_AGE,
};

/* Upstream's formatEndpoints: "ip:port" pairs, at most three, then " + N more...". */
static void endpoints_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    apiserver_table__add_name(cells, obj);
    util_buf_t b = {0};
    int shown = 0, total = 0;
    const cJSON *subset;
    cJSON_ArrayForEach(subset, cJSON_GetObjectItemCaseSensitive(obj, "subsets"))
    {
        const cJSON *ports = cJSON_GetObjectItemCaseSensitive(subset, "ports");
        const cJSON *addr;
        cJSON_ArrayForEach(addr, cJSON_GetObjectItemCaseSensitive(subset, "addresses"))
        {
            const char *ip = apiserver_table__str_at(addr, "ip");
            int nports = cJSON_GetArraySize(ports);
            for (int i = 0; i < (nports ? nports : 1); i++) {
                total++;
                if (shown == 3)
                    continue;
                const cJSON *p = cJSON_GetArrayItem(ports, i);
                apiserver_table__sep(&b, ",");
                if (p)
                    util_buf_printf(&b, "%s:%lld", ip ? ip : "",
                                    (long long)apiserver_table__int_at(p, "port", 0));
                else
                    util_buf_puts(&b, ip ? ip : "");
                shown++;
            }
        }
    }
    if (total > shown)
        util_buf_printf(&b, " + %d more...", total - shown);
    if (!b.len)
        util_buf_puts(&b, "<none>");
    apiserver_table__add_buf(cells, &b);
    apiserver_table__add_age(cells, obj, now);
}

static const apiserver_table_column_t lease_cols[] = {
    COL_NAME,
    {"Holder", "string", "",
     "holderIdentity contains the identity of the holder of a current "
     "lease.",
     0},
    COL_AGE,
};

static void lease_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_str(cells, apiserver_table__str_at(obj, "spec.holderIdentity"));
    apiserver_table__add_age(cells, obj, now);
}

/* ------------------------------------------------------------------------------------------ */
/* Pods: printPod's READY, STATUS and RESTARTS. */

static const apiserver_table_column_t pod_cols[] = {
    COL_NAME,
    {"Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.", 0},
    {"Status", "string", "", "The aggregate status of the containers in this pod.", 0},
    {"Restarts", "string", "",
     "The number of times the containers in this pod have been "
     "restarted and when the last container in this pod has "
     "restarted.",
     0},
    COL_AGE,
    {"IP", "string", "",
     "podIP address allocated to the pod. Routable at least within the "
     "cluster. Empty if not yet allocated.",
     1},
    {"Node", "string", "", "NodeName indicates in which node this pod is scheduled.", 1},
    {"Nominated Node", "string", "",
     "nominatedNodeName is set only when this pod preempts "
     "other pods on the node.",
     1},
    {"Readiness Gates", "string", "",
     "If specified, all readiness gates will be evaluated for "
     "pod readiness.",
     1},
};

typedef struct pod_state {
    char reason[128];
    int64_t restarts, ready, total;
    int64_t last_restart; /* 0: none */
    bool has_last_restart;
} pod_state_t;

bool apiserver_table__condition_true(const cJSON *conditions, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, conditions)
    {
        const char *t = apiserver_table__str_at(c, "type"),
                   *s = apiserver_table__str_at(c, "status");
        if (t && s && !strcmp(t, type) && !strcmp(s, "True"))
            return true;
    }
    return false;
}

static bool restartable_init(const cJSON *pod, const char *name)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, apiserver_table__get(pod, "spec.initContainers"))
    {
        const char *n = apiserver_table__str_at(c, "name"),
                   *policy = apiserver_table__str_at(c, "restartPolicy");
        if (n && name && !strcmp(n, name))
            return policy && !strcmp(policy, "Always");
    }
    return false;
}

static void note_restart(const cJSON *status, int64_t *last, bool *has)
{
    int64_t t;
    if (apiserver_table__parse_time(
            apiserver_table__str_at(status, "lastState.terminated.finishedAt"), &t) &&
        (!*has || t > *last)) {
        *last = t;
        *has = true;
    }
}

/* The reason for a terminated state: its reason, else "Signal:n" or "ExitCode:n". */
static void terminated_reason(char *buf, size_t n, const cJSON *term, const char *prefix)
{
    const char *reason = apiserver_table__str_at(term, "reason");
    int64_t sig = apiserver_table__int_at(term, "signal", 0);
    if (reason && *reason)
        snprintf(buf, n, "%s%s", prefix, reason);
    else if (sig)
        snprintf(buf, n, "%sSignal:%lld", prefix, (long long)sig);
    else
        snprintf(buf, n, "%sExitCode:%lld", prefix,
                 (long long)apiserver_table__int_at(term, "exitCode", 0));
}

/* Walks the init container statuses; true while the pod is still initializing. */
static bool pod_init_state(pod_state_t *st, const cJSON *pod, int64_t *rs_restarts,
                           int64_t *rs_last, bool *rs_has)
{
    const cJSON *statuses = apiserver_table__get(pod, "status.initContainerStatuses");
    int total = cJSON_GetArraySize(apiserver_table__get(pod, "spec.initContainers"));
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, statuses)
    {
        bool restartable = restartable_init(pod, apiserver_table__str_at(c, "name"));
        st->restarts += apiserver_table__int_at(c, "restartCount", 0);
        note_restart(c, &st->last_restart, &st->has_last_restart);
        if (restartable) {
            *rs_restarts += apiserver_table__int_at(c, "restartCount", 0);
            note_restart(c, rs_last, rs_has);
        }
        const cJSON *term = apiserver_table__get(c, "state.terminated");
        const char *waiting = apiserver_table__str_at(c, "state.waiting.reason");
        if (cJSON_IsObject(term) && apiserver_table__int_at(term, "exitCode", 0) == 0) {
            i++;
            continue;
        }
        if (restartable && apiserver_table__true_at(c, "started")) {
            st->ready += apiserver_table__true_at(c, "ready");
            i++;
            continue;
        }
        if (cJSON_IsObject(term))
            terminated_reason(st->reason, sizeof(st->reason), term, "Init:");
        else if (waiting && *waiting && strcmp(waiting, "PodInitializing"))
            snprintf(st->reason, sizeof(st->reason), "Init:%s", waiting);
        else
            snprintf(st->reason, sizeof(st->reason), "Init:%d/%d", i, total);
        return true;
    }
    return false;
}

/* Walks the app container statuses from the last one, as upstream does. */
static void pod_app_state(pod_state_t *st, const cJSON *pod)
{
    const cJSON *statuses = apiserver_table__get(pod, "status.containerStatuses");
    bool has_running = false;
    for (int i = cJSON_GetArraySize(statuses) - 1; i >= 0; i--) {
        const cJSON *c = cJSON_GetArrayItem(statuses, i);
        st->restarts += apiserver_table__int_at(c, "restartCount", 0);
        note_restart(c, &st->last_restart, &st->has_last_restart);
        const char *waiting = apiserver_table__str_at(c, "state.waiting.reason");
        const cJSON *term = apiserver_table__get(c, "state.terminated");
        if (waiting && *waiting) {
            snprintf(st->reason, sizeof(st->reason), "%s", waiting);
        } else if (cJSON_IsObject(term)) {
            terminated_reason(st->reason, sizeof(st->reason), term, "");
        } else if (apiserver_table__true_at(c, "ready") &&
                   cJSON_IsObject(apiserver_table__get(c, "state.running"))) {
            has_running = true;
            st->ready++;
        }
    }
    if (!strcmp(st->reason, "Completed") && has_running)
        snprintf(
            st->reason, sizeof(st->reason), "%s",
            apiserver_table__condition_true(apiserver_table__get(pod, "status.conditions"), "Ready")
                ? "Running"
                : "NotReady");
}

static void pod_compute(pod_state_t *st, const cJSON *pod)
{
    const char *phase = apiserver_table__str_at(pod, "status.phase"),
               *reason = apiserver_table__str_at(pod, "status.reason");
    const cJSON *conditions = apiserver_table__get(pod, "status.conditions");
    memset(st, 0, sizeof(*st));
    snprintf(st->reason, sizeof(st->reason), "%s", reason && *reason ? reason : phase ? phase : "");
    const cJSON *c;
    cJSON_ArrayForEach(c, conditions)
    {
        const char *t = apiserver_table__str_at(c, "type"),
                   *r = apiserver_table__str_at(c, "reason");
        if (t && r && !strcmp(t, "PodScheduled") && !strcmp(r, "SchedulingGated"))
            snprintf(st->reason, sizeof(st->reason), "SchedulingGated");
    }
    st->total = apiserver_table__count_at(pod, "spec.containers");
    cJSON_ArrayForEach(c, apiserver_table__get(pod, "spec.initContainers"))
    {
        const char *policy = apiserver_table__str_at(c, "restartPolicy");
        st->total += policy && !strcmp(policy, "Always");
    }
    int64_t rs_restarts = 0, rs_last = 0;
    bool rs_has = false;
    bool initializing = pod_init_state(st, pod, &rs_restarts, &rs_last, &rs_has);
    if (!initializing || apiserver_table__condition_true(conditions, "Initialized")) {
        st->restarts = rs_restarts;
        st->last_restart = rs_last;
        st->has_last_restart = rs_has;
        pod_app_state(st, pod);
    }
    bool deleting = apiserver_table__get(pod, "metadata.deletionTimestamp") &&
                    !cJSON_IsNull(apiserver_table__get(pod, "metadata.deletionTimestamp"));
    bool terminal = phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"));
    if (deleting && reason && !strcmp(reason, "NodeLost"))
        snprintf(st->reason, sizeof(st->reason), "Unknown");
    else if (deleting && !terminal)
        snprintf(st->reason, sizeof(st->reason), "Terminating");
}

/* Row conditions upstream attaches to finished pods (metav1.RowCompleted). */
static void pod_row_conditions(cJSON *row, const char *phase)
{
    bool ok = phase && !strcmp(phase, "Succeeded");
    if (!ok && !(phase && !strcmp(phase, "Failed")))
        return;
    cJSON *conds = cJSON_AddArrayToObject(row, "conditions");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "type", "Completed");
    cJSON_AddStringToObject(c, "status", "True");
    cJSON_AddStringToObject(c, "reason", phase);
    cJSON_AddStringToObject(c, "message",
                            ok ? "The pod has completed successfully." : "The pod failed.");
    cJSON_AddItemToArray(conds, c);
}

static void add_readiness_gates(cJSON *cells, const cJSON *pod)
{
    const cJSON *gates = apiserver_table__get(pod, "spec.readinessGates");
    const cJSON *conditions = apiserver_table__get(pod, "status.conditions");
    if (!cJSON_GetArraySize(gates)) {
        apiserver_table__add_str(cells, "<none>");
        return;
    }
    int64_t ok = 0;
    const cJSON *g, *c;
    cJSON_ArrayForEach(g, gates)
    {
        const char *want = apiserver_table__str_at(g, "conditionType");
        cJSON_ArrayForEach(c, conditions)
        {
            const char *t = apiserver_table__str_at(c, "type"),
                       *s = apiserver_table__str_at(c, "status");
            if (want && t && !strcmp(t, want)) {
                ok += s && !strcmp(s, "True");
                break;
            }
        }
    }
    apiserver_table__add_ratio(cells, ok, cJSON_GetArraySize(gates));
}

static void pod_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    pod_state_t st;
    pod_compute(&st, obj);
    pod_row_conditions(row, apiserver_table__str_at(obj, "status.phase"));
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_ratio(cells, st.ready, st.total);
    apiserver_table__add_str(cells, st.reason);
    char restarts[64];
    if (st.restarts && st.has_last_restart) {
        char ago[32];
        apiserver_table_human_duration(ago, sizeof(ago), now - st.last_restart);
        snprintf(restarts, sizeof(restarts), "%lld (%s ago)", (long long)st.restarts, ago);
    } else {
        snprintf(restarts, sizeof(restarts), "%lld", (long long)st.restarts);
    }
    apiserver_table__add_str(cells, restarts);
    apiserver_table__add_age(cells, obj, now);
    const char *ip = apiserver_table__str_at(
        cJSON_GetArrayItem(apiserver_table__get(obj, "status.podIPs"), 0), "ip");
    apiserver_table__add_str_or(cells, ip, "<none>");
    apiserver_table__add_str_or(cells, apiserver_table__str_at(obj, "spec.nodeName"), "<none>");
    apiserver_table__add_str_or(cells, apiserver_table__str_at(obj, "status.nominatedNodeName"),
                                "<none>");
    add_readiness_gates(cells, obj);
}

/* ------------------------------------------------------------------------------------------ */
/* Services. */

static const apiserver_table_column_t service_cols[] = {
    COL_NAME,
    {"Type", "string", "", "type determines how the Service is exposed.", 0},
    {"Cluster-IP", "string", "",
     "clusterIP is the IP address of the service and is usually "
     "assigned randomly.",
     0},
    {"External-IP", "string", "",
     "externalIPs is a list of IP addresses for which nodes in the "
     "cluster will also accept traffic for this service.",
     0},
    {"Port(s)", "string", "", "The list of ports that are exposed by this service.", 0},
    COL_AGE,
    COL_SELECTOR("Route service traffic to pods with label keys and values matching this "
                 "selector."),
};

/* getServiceExternalIP with wide output (no truncation of load-balancer addresses). */
static void add_service_external_ip(cJSON *cells, const cJSON *svc)
{
    const char *type = apiserver_table__str_at(svc, "spec.type");
    type = type ? type : "ClusterIP";
    util_buf_t b = {0};
    const cJSON *x;
    if (!strcmp(type, "ExternalName")) {
        apiserver_table__add_str(cells, apiserver_table__str_at(svc, "spec.externalName"));
        return;
    }
    if (strcmp(type, "ClusterIP") && strcmp(type, "NodePort") && strcmp(type, "LoadBalancer")) {
        apiserver_table__add_str(cells, "<unknown>");
        return;
    }
    if (!strcmp(type, "LoadBalancer")) {
        cJSON_ArrayForEach(x, apiserver_table__get(svc, "status.loadBalancer.ingress"))
        {
            const char *a = apiserver_table__str_at(x, "ip");
            a = a && *a ? a : apiserver_table__str_at(x, "hostname");
            if (a && *a) {
                apiserver_table__sep(&b, ",");
                util_buf_puts(&b, a);
            }
        }
    }
    cJSON_ArrayForEach(x, apiserver_table__get(svc, "spec.externalIPs"))
    {
        apiserver_table__sep(&b, ",");
        util_buf_puts(&b, cJSON_GetStringValue(x) ? cJSON_GetStringValue(x) : "");
    }
    if (!b.len)
        util_buf_puts(&b, !strcmp(type, "LoadBalancer") ? "<pending>" : "<none>");
    apiserver_table__add_buf(cells, &b);
}

/* makePortString: "port/proto" or "port:nodePort/proto", comma separated. */
static void add_service_ports(cJSON *cells, const cJSON *svc)
{
    util_buf_t b = {0};
    const cJSON *p;
    cJSON_ArrayForEach(p, apiserver_table__get(svc, "spec.ports"))
    {
        const char *proto = apiserver_table__str_at(p, "protocol");
        proto = proto && *proto ? proto : "TCP";
        apiserver_table__sep(&b, ",");
        int64_t node_port = apiserver_table__int_at(p, "nodePort", 0);
        if (node_port)
            util_buf_printf(&b, "%lld:%lld/%s", (long long)apiserver_table__int_at(p, "port", 0),
                            (long long)node_port, proto);
        else
            util_buf_printf(&b, "%lld/%s", (long long)apiserver_table__int_at(p, "port", 0), proto);
    }
    if (!b.len)
        util_buf_puts(&b, "<none>");
    apiserver_table__add_buf(cells, &b);
}

static void service_cells(cJSON *cells, cJSON *row, const cJSON *obj, int64_t now)
{
    (void)row;
    const char *type = apiserver_table__str_at(obj, "spec.type");
    const cJSON *first = cJSON_GetArrayItem(apiserver_table__get(obj, "spec.clusterIPs"), 0);
    const char *cluster_ip = cJSON_GetStringValue(first)
                                 ? cJSON_GetStringValue(first)
                                 : apiserver_table__str_at(obj, "spec.clusterIP");
    apiserver_table__add_name(cells, obj);
    apiserver_table__add_str(cells, type ? type : "ClusterIP");
    apiserver_table__add_str_or(cells, cluster_ip, "<none>");
    add_service_external_ip(cells, obj);
    add_service_ports(cells, obj);
    apiserver_table__add_age(cells, obj, now);
    apiserver_table__add_labels(cells, apiserver_table__get(obj, "spec.selector"));
}

/* ------------------------------------------------------------------------------------------ */
/* Lookup. */

#define PRINTER(g, p, name)                                           \
    {                                                                 \
        g, p, name##_cols, UTIL_ARRAY_SIZE(name##_cols), name##_cells \
    }

/* clang-format off */
static const apiserver_table_printer_t printers[] = {
    PRINTER("", "namespaces", namespace),
    PRINTER("", "configmaps", configmap),
    PRINTER("", "secrets", secret),
    PRINTER("", "serviceaccounts", serviceaccount),
    PRINTER("", "pods", pod),
    PRINTER("", "services", service),
    PRINTER("coordination.k8s.io", "leases", lease),
    PRINTER("", "endpoints", endpoints),
};
/* clang-format on */

static const apiserver_table_printer_t generic_printer = PRINTER("", "", generic);

const apiserver_table_printer_t *apiserver_table__printer(const char *group, const char *plural)
{
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(printers); i++) {
        if (!strcmp(printers[i].group, group ? group : "") &&
            !strcmp(printers[i].plural, plural ? plural : ""))
            return &printers[i];
    }
    for (size_t i = 0; i < apiserver_table__nworkload_printers; i++) {
        const apiserver_table_printer_t *p = &apiserver_table__workload_printers[i];
        if (!strcmp(p->group, group ? group : "") && !strcmp(p->plural, plural ? plural : ""))
            return p;
    }
    for (size_t i = 0; i < apiserver_table__ncluster_printers; i++) {
        const apiserver_table_printer_t *p = &apiserver_table__cluster_printers[i];
        if (!strcmp(p->group, group ? group : "") && !strcmp(p->plural, plural ? plural : ""))
            return p;
    }
    for (size_t i = 0; i < apiserver_table__npolicy_printers; i++) {
        const apiserver_table_printer_t *p = &apiserver_table__policy_printers[i];
        if (!strcmp(p->group, group ? group : "") && !strcmp(p->plural, plural ? plural : ""))
            return p;
    }
    return &generic_printer;
}
