/* apiserver_resource_metrics: metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics, the built-in
 * metrics-server. Nothing is scraped in the background: a request reads the nodes (and pods)
 * from the store, asks each kubelet involved for its /stats/summary (kubelet-client
 * certificate, kubelet certificate verified against the cluster CA), and answers with what came
 * back: cpu from usageNanoCores (the kubelet's own rate over its two samples), memory from
 * workingSetBytes, as metrics-server does. Nodes and pods whose kubelet did not answer are left
 * out of lists (metrics-server leaves out what it has no samples for); a named object without
 * metrics is NotFound. */
#include "apiserver_registry.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver_object.h"
#include "client/client.h"
#include "labels/labels.h"

#define FETCH_TIMEOUT_MS 10000
#define MAX_NODES        5000
#define WINDOW           "100ms" /* the kubelet's sampling window (kubelet_stats.c) */

typedef struct mreq mreq_t;

typedef struct mfetch {
    mreq_t *m;
    client_t *cl;
    char node[254];
    cJSON *summary; /* NULL when the kubelet did not answer */
} mfetch_t;

struct mreq {
    apiserver_conn_t *c;
    bool pods, gone;
    char name[254];
    cJSON *nodes;   /* the Node objects asked about (array) */
    cJSON *podlist; /* PodMetrics: the pods asked about (array) */
    mfetch_t *f;
    size_t nf, pending;
    uv_timer_t timer;
};

/* ---- quantities as metrics-server prints them ------------------------------------------------ */

/* Nanocores as a canonical DecimalSI quantity: "0", "250m", "1234567n". */
static void cpu_quantity(unsigned long long nanos, char *out, size_t n)
{
    static const char *const suffix[] = {"n", "u", "m", ""};
    size_t s = 0;
    while (nanos && s < 3 && nanos % 1000 == 0) {
        nanos /= 1000;
        s++;
    }
    snprintf(out, n, "%llu%s", nanos, nanos ? suffix[s] : "");
}

/* Bytes as a canonical BinarySI quantity: "0", "1536Ki", "12345". */
static void mem_quantity(unsigned long long bytes, char *out, size_t n)
{
    static const char *const suffix[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    size_t s = 0;
    while (bytes && s < 6 && bytes % 1024 == 0) {
        bytes /= 1024;
        s++;
    }
    snprintf(out, n, "%llu%s", bytes, bytes ? suffix[s] : "");
}

static bool usage_of(const cJSON *stats, cJSON *usage)
{
    const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(stats, "cpu"), "usageNanoCores");
    const cJSON *mem = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(stats, "memory"), "workingSetBytes");
    if (!cJSON_IsNumber(cpu) || !cJSON_IsNumber(mem) || cpu->valuedouble < 0 ||
        mem->valuedouble < 0)
        return false;
    char q[48];
    cpu_quantity((unsigned long long)cpu->valuedouble, q, sizeof(q));
    cJSON_AddStringToObject(usage, "cpu", q);
    mem_quantity((unsigned long long)mem->valuedouble, q, sizeof(q));
    cJSON_AddStringToObject(usage, "memory", q);
    return true;
}

/* ---- the answer ------------------------------------------------------------------------------ */

static cJSON *metrics_object(const char *kind, const cJSON *of, const cJSON *stats_time)
{
    char now[21];
    apiserver_obj_now(now);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", kind);
    cJSON_AddStringToObject(o, "apiVersion", "metrics.k8s.io/v1beta1");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(of, "metadata");
    cJSON *m = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(m, "name", apiserver_obj_string(meta, "name"));
    if (apiserver_obj_string(meta, "namespace"))
        cJSON_AddStringToObject(m, "namespace", apiserver_obj_string(meta, "namespace"));
    cJSON_AddStringToObject(m, "creationTimestamp", now);
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(meta, "labels");
    if (cJSON_IsObject(labels))
        cJSON_AddItemToObject(m, "labels", cJSON_Duplicate(labels, true));
    cJSON_AddStringToObject(o, "timestamp",
                            cJSON_IsString(stats_time) ? stats_time->valuestring : now);
    cJSON_AddStringToObject(o, "window", WINDOW);
    return o;
}

static const cJSON *summary_of(const mreq_t *m, const char *node)
{
    for (size_t i = 0; node && i < m->nf; i++)
        if (!strcmp(m->f[i].node, node))
            return m->f[i].summary;
    return NULL;
}

static cJSON *node_metrics(const mreq_t *m, const cJSON *node)
{
    const char *name =
        apiserver_obj_string(cJSON_GetObjectItemCaseSensitive(node, "metadata"), "name");
    const cJSON *sn = cJSON_GetObjectItemCaseSensitive(summary_of(m, name), "node");
    if (!sn)
        return NULL;
    const cJSON *t =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(sn, "cpu"), "time");
    cJSON *o = metrics_object("NodeMetrics", node, t);
    if (!usage_of(sn, cJSON_AddObjectToObject(o, "usage"))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *pod_metrics(const mreq_t *m, const cJSON *pod)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
    const char *uid = apiserver_obj_string(meta, "uid");
    const char *node =
        apiserver_obj_string(cJSON_GetObjectItemCaseSensitive(pod, "spec"), "nodeName");
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(summary_of(m, node), "pods"))
    {
        const char *puid =
            apiserver_obj_string(cJSON_GetObjectItemCaseSensitive(p, "podRef"), "uid");
        if (!uid || !puid || strcmp(uid, puid))
            continue;
        const cJSON *t = NULL, *c;
        cJSON *o = metrics_object("PodMetrics", pod, NULL);
        cJSON *containers = cJSON_AddArrayToObject(o, "containers");
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(p, "containers"))
        {
            const char *cname = apiserver_obj_string(c, "name");
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", cname ? cname : "");
            if (!cname || !usage_of(c, cJSON_AddObjectToObject(e, "usage"))) {
                cJSON_Delete(e);
                continue;
            }
            cJSON_AddItemToArray(containers, e);
            t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "cpu"),
                                                 "time");
        }
        if (cJSON_IsString(t))
            cJSON_ReplaceItemInObject(o, "timestamp", cJSON_CreateString(t->valuestring));
        return o;
    }
    return NULL;
}

static void answer(mreq_t *m)
{
    apiserver_conn_t *c = m->c;
    const char *kind = m->pods ? "PodMetrics" : "NodeMetrics";
    cJSON *items = cJSON_CreateArray();
    const cJSON *o, *asked = m->pods ? m->podlist : m->nodes;
    cJSON_ArrayForEach(o, asked)
    {
        cJSON *x = m->pods ? pod_metrics(m, o) : node_metrics(m, o);
        if (x)
            cJSON_AddItemToArray(items, x);
    }
    if (m->name[0]) {
        cJSON *one = cJSON_DetachItemFromArray(items, 0);
        if (one) {
            apiserver_reg_respond_object(c, 200, one);
        } else {
            char msg[400];
            snprintf(msg, sizeof(msg), "%s.metrics.k8s.io \"%s\" not found",
                     m->pods ? "podmetrics" : "nodemetrics", m->name);
            apiserver__respond_status(c, 404, "NotFound", msg);
        }
        cJSON_Delete(one);
        cJSON_Delete(items);
        return;
    }
    cJSON *list = cJSON_CreateObject();
    char lk[32];
    snprintf(lk, sizeof(lk), "%sList", kind);
    cJSON_AddStringToObject(list, "kind", lk);
    cJSON_AddStringToObject(list, "apiVersion", "metrics.k8s.io/v1beta1");
    cJSON_AddObjectToObject(list, "metadata");
    cJSON_AddItemToObject(list, "items", items);
    apiserver_reg_respond_object(c, 200, list);
    cJSON_Delete(list);
}

/* ---- lifetime -------------------------------------------------------------------------------- */

static void mreq_free(uv_handle_t *h)
{
    mreq_t *m = h->data;
    for (size_t i = 0; i < m->nf; i++)
        cJSON_Delete(m->f[i].summary);
    free(m->f);
    cJSON_Delete(m->nodes);
    cJSON_Delete(m->podlist);
    free(m);
}

static void on_conn_closed(apiserver_conn_t *c, void *data)
{
    (void)c;
    ((mreq_t *)data)->gone = true;
}

/* Runs off the fetch callbacks: answer, close the kubelet clients, go. */
static void finish(uv_timer_t *t)
{
    mreq_t *m = t->data;
    if (!m->gone) {
        m->c->on_close = NULL;
        answer(m);
    }
    for (size_t i = 0; i < m->nf; i++)
        if (m->f[i].cl)
            client_close(m->f[i].cl);
    apiserver__conn_unref(m->c);
    uv_close((uv_handle_t *)&m->timer, mreq_free);
}

static void fetched(void *ud, client_result_t *res)
{
    mfetch_t *f = ud;
    if (res->status == 200 && cJSON_IsObject(res->body)) {
        f->summary = res->body;
        res->body = NULL;
    } else {
        util_log_v(1, "apiserver: metrics: /stats/summary of node %s: %d %s", f->node, res->status,
                   res->st.message ? res->st.message : "");
    }
    if (--f->m->pending == 0)
        uv_timer_start(&f->m->timer, finish, 0, 0);
}

/* The node's kubelet (InternalIP, else ExternalIP; daemonEndpoints port, else 10250). */
static bool kubelet_of(const cJSON *node, char *url, size_t n)
{
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(node, "status");
    static const char *const prefer[] = {"InternalIP", "ExternalIP"};
    const char *ip = NULL;
    for (size_t p = 0; p < 2 && !ip; p++) {
        const cJSON *a;
        cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(status, "addresses"))
        {
            const char *type = apiserver_obj_string(a, "type");
            if (!ip && type && !strcmp(type, prefer[p]))
                ip = apiserver_obj_string(a, "address");
        }
    }
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(status, "daemonEndpoints"), "kubeletEndpoint"),
        "Port");
    int port = cJSON_IsNumber(ep) && ep->valuedouble >= 1 && ep->valuedouble <= 65535
                   ? (int)ep->valuedouble
                   : 10250;
    if (!ip || strlen(ip) > 64)
        return false;
    snprintf(url, n, strchr(ip, ':') ? "https://[%s]:%d" : "https://%s:%d", ip, port);
    return true;
}

static void start_fetch(mreq_t *m, mfetch_t *f, const cJSON *node)
{
    apiserver_t *a = m->c->srv;
    char url[128];
    f->m = m;
    if (!kubelet_of(node, url, sizeof(url)))
        return;
    client_config_t cfg = {.server = url,
                           .ca_pem = a->kubelet_ca_pem,
                           .cert_pem = a->kubelet_cert_pem,
                           .key_pem = a->kubelet_key_pem};
    char host[80];
    if (client_parse_url(url, host, sizeof(host), &cfg.port, NULL) < 0)
        return;
    cfg.host = host;
    client_opts_t co;
    client_opts_default(&co);
    co.loop = a->opts.loop;
    co.config = &cfg;
    co.user_agent = "kubeling-metrics";
    co.max_conns = 1;
    co.request_timeout_ms = FETCH_TIMEOUT_MS;
    co.max_response_bytes = 16u << 20;
    if (client_new(&co, &f->cl, NULL) < 0) {
        f->cl = NULL;
        return;
    }
    if (client_request(f->cl, "GET", "/stats/summary", NULL, NULL, 0, fetched, f))
        m->pending++;
}

/* ---- reading what was asked about ------------------------------------------------------------ */

static cJSON *read_all(apiserver_conn_t *c, const char *plural, const char *ns)
{
    const apiserver_resource_t *r = apiserver_resource_find("", "v1", plural);
    char prefix[600], end[600];
    apiserver_registry_prefix(r, ns, prefix, sizeof(prefix));
    size_t len = strlen(prefix);
    memcpy(end, prefix, len);
    end[len - 1]++; /* the prefix ends in '/': the range stops before '0' */
    end[len] = '\0';
    store_list_t l = {0};
    cJSON *out = cJSON_CreateArray();
    if (store_range(c->srv->opts.store, prefix, len, end, len, 0, 0, &l, NULL) < 0)
        return out;
    for (size_t i = 0; i < l.n; i++) {
        cJSON *o = cJSON_ParseWithLength(l.kvs[i]->value, l.kvs[i]->value_len);
        if (o)
            cJSON_AddItemToArray(out, o);
    }
    store_list_free(&l);
    return out;
}

static bool running_on_node(const cJSON *pod)
{
    const char *node =
        apiserver_obj_string(cJSON_GetObjectItemCaseSensitive(pod, "spec"), "nodeName");
    const char *phase =
        apiserver_obj_string(cJSON_GetObjectItemCaseSensitive(pod, "status"), "phase");
    return node && node[0] && phase && !strcmp(phase, "Running");
}

void apiserver__metrics_api_handle(apiserver_conn_t *c, const apiserver_target_t *t)
{
    const char *m0 = c->req.method;
    if ((strcmp(m0, "GET") && strcmp(m0, "HEAD")) || t->sub[0] ||
        apiserver_reg_query_true(c->req.query, "watch")) {
        apiserver__respond_status(c, 405, "MethodNotAllowed",
                                  "the server does not allow this method on the requested "
                                  "resource");
        return;
    }
    labels_selector_t *sel = NULL;
    char text[4096] = "";
    if (apiserver_query_get(c->req.query, "labelSelector", text, sizeof(text)) && text[0]) {
        util_error_t err = NULL;
        if (labels_selector_parse(text, &sel, &err) < 0) {
            char msg[300], e[200];
            snprintf(msg, sizeof(msg), "unable to parse requirement: %s",
                     util_error_text(err, e, sizeof(e)));
            util_error_free(&err);
            apiserver_status_bad_request(c, msg);
            return;
        }
    }
    mreq_t *m = util_xcalloc(1, sizeof(*m));
    m->c = c;
    m->pods = !strcmp(t->res->plural, "pods");
    util_strlcpy(m->name, t->name, sizeof(m->name));
    cJSON *nodes = read_all(c, "nodes", NULL);
    m->nodes = cJSON_CreateArray();
    cJSON *o;
    if (m->pods) {
        cJSON *pods = read_all(c, "pods", t->ns[0] ? t->ns : NULL);
        m->podlist = cJSON_CreateArray();
        cJSON_ArrayForEach(o, pods)
        {
            const cJSON *meta = apiserver_obj_metadata(o);
            const char *name = apiserver_obj_string(meta, "name");
            if (!running_on_node(o) || (m->name[0] && (!name || strcmp(name, m->name))) ||
                (sel &&
                 !labels_selector_matches(sel, cJSON_GetObjectItemCaseSensitive(meta, "labels"))))
                continue;
            cJSON_AddItemToArray(m->podlist, cJSON_Duplicate(o, true));
        }
        cJSON_Delete(pods);
    }
    cJSON_ArrayForEach(o, nodes)
    {
        const cJSON *meta = apiserver_obj_metadata(o);
        const char *name = apiserver_obj_string(meta, "name");
        bool want = true;
        if (m->pods) {
            want = false;
            const cJSON *p;
            cJSON_ArrayForEach(p, m->podlist)
            {
                const char *pn =
                    apiserver_obj_string(cJSON_GetObjectItemCaseSensitive(p, "spec"), "nodeName");
                want |= pn && name && !strcmp(pn, name);
            }
        } else {
            want = (!m->name[0] || (name && !strcmp(name, m->name))) &&
                   (!sel ||
                    labels_selector_matches(sel, cJSON_GetObjectItemCaseSensitive(meta, "labels")));
        }
        if (want && cJSON_GetArraySize(m->nodes) < MAX_NODES)
            cJSON_AddItemToArray(m->nodes, cJSON_Duplicate(o, true));
    }
    cJSON_Delete(nodes);
    labels_selector_free(sel);
    m->nf = (size_t)cJSON_GetArraySize(m->nodes);
    m->f = util_xcalloc(m->nf ? m->nf : 1, sizeof(*m->f));
    uv_timer_init(c->srv->opts.loop, &m->timer);
    m->timer.data = m;
    apiserver__conn_ref(c);
    c->on_close = on_conn_closed;
    c->on_close_data = m;
    size_t i = 0;
    cJSON_ArrayForEach(o, m->nodes)
    {
        util_strlcpy(m->f[i].node, apiserver_obj_string(apiserver_obj_metadata(o), "name"),
                     sizeof(m->f[i].node));
        start_fetch(m, &m->f[i], o);
        i++;
    }
    if (m->pending == 0)
        uv_timer_start(&m->timer, finish, 0, 0);
}
