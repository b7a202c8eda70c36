/* controller_gc_house: the housekeeping controllers that share the garbage collector's
 * informers: the ServiceAccounts controller (a "default" ServiceAccount in every namespace), the
 * root-CA publisher (the "kube-root-ca.crt" ConfigMap in every namespace) and pod GC
 * (terminated pods over --terminated-pod-gc-threshold, pods of nodes that are gone,
 * terminating pods never scheduled or on out-of-service nodes). */
#include "controller/controller_gc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROOT_CA_NAME "kube-root-ca.crt"
/* upstream's rootcacertpublisher description annotation */
#define ROOT_CA_DESCRIPTION                                                                   \
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal " \
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is " \
    "guaranteed across distributions of Kubernetes clusters."
#define PODGC_DELAY_MS      1000 /* pod GC passes are at most this often */
/* upstream podgc's quarantineTime: a node missing from the cache this long is checked with a
 * GET before its pods go (the cache may lag a node that registers late) */
#define PODGC_QUARANTINE_MS 40000

static const client_informer_t *inf_of(const struct ctrl_gc *gc, const char *group,
                                       const char *plural)
{
    const ctrl_gc_res_t *r = ctrl_gc_resource(gc, group, plural);
    return r ? r->inf : NULL;
}

static void add_key(struct ctrl_gc *gc, const char *prefix, const char *ns, uint64_t delay)
{
    char *k = ns ? util_strdup_printf("%s/%s", prefix, ns) : util_xstrdup(prefix);
    controller_queue_add_after(gc->q, k, delay, ctrl_now(gc->m));
    free(k);
}

static bool is(const ctrl_gc_res_t *r, const char *group, const char *plural)
{
    return !strcmp(r->group, group) && !strcmp(r->plural, plural);
}

static bool pod_terminal(const cJSON *pod)
{
    const char *phase = ctrl_str(ctrl_get(pod, "status"), "phase");
    return phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"));
}

static void every_namespace(void *ud, const cJSON *ns)
{
    const char *name = ctrl_str(ctrl_get(ns, "metadata"), "name");
    if (name) {
        add_key(ud, "sa", name, 0);
        add_key(ud, "ca", name, 0);
    }
}

/* Which keys an informer event touches. obj NULL: the informer (re)listed. */
void ctrl_gc_house_event(struct ctrl_gc *gc, const ctrl_gc_res_t *r, const cJSON *old,
                         const cJSON *obj, bool deleted)
{
    (void)old;
    const cJSON *meta = ctrl_get(obj, "metadata");
    const char *ns = ctrl_str(meta, "namespace"), *name = ctrl_str(meta, "name");
    if (is(r, "", "namespaces")) {
        if (!obj)
            client_informer_foreach(r->inf, every_namespace, gc);
        else if (!deleted)
            every_namespace(gc, obj);
    } else if (is(r, "", "serviceaccounts")) {
        if (obj && deleted && ns && name && !strcmp(name, "default"))
            add_key(gc, "sa", ns, 0);
    } else if (is(r, "", "configmaps")) {
        if (obj && ns && name && !strcmp(name, ROOT_CA_NAME))
            add_key(gc, "ca", ns, 0);
    } else if (is(r, "", "nodes")) {
        if (!obj || deleted || cJSON_GetArraySize(ctrl_get(ctrl_get(obj, "spec"), "taints")))
            add_key(gc, "pgc", NULL, PODGC_DELAY_MS);
    } else if (is(r, "", "pods")) {
        const cJSON *spec = ctrl_get(obj, "spec");
        const char *node = ctrl_str(spec, "nodeName");
        bool terminating = ctrl_get(meta, "deletionTimestamp") != NULL;
        if (!obj || (!deleted && (pod_terminal(obj) || (terminating && (!node || !node[0])) ||
                                  (node && node[0] &&
                                   !client_informer_get(inf_of(gc, "", "nodes"), NULL, node)))))
            add_key(gc, "pgc", NULL, PODGC_DELAY_MS);
    }
}

/* ---- answers -------------------------------------------------------------------------------- */

static void logged(struct ctrl_gc *gc, void *ud, client_result_t *res)
{
    char *key = ud; /* "what|queue key" */
    char *bar = strchr(key, '|');
    *bar = '\0';
    bool ok = !res->error && ((res->status >= 200 && res->status < 300) || res->status == 404 ||
                              res->status == 409);
    if (!ok)
        util_log_v(1, "controller-manager: %s: %d %s", key, res->status,
                   res->st.message ? res->st.message : "");
    /* 409 on a create: it exists; on an update: our copy was old, look again */
    ctrl_gc_finish(gc, bar + 1, ok && !(res->status == 409 && !strncmp(key, "update", 6)) ? 0 : -1);
    free(key);
}

/* ---- service accounts (upstream serviceaccounts_controller.go) ------------------------------ */

static bool namespace_active(const cJSON *ns)
{
    const char *phase = ctrl_str(ctrl_get(ns, "status"), "phase");
    return ns && !ctrl_get(ctrl_get(ns, "metadata"), "deletionTimestamp") &&
           (!phase || !strcmp(phase, "Active"));
}

static void sync_service_account(struct ctrl_gc *gc, const char *key, const char *ns)
{
    static const client_resource_t sa = {"", "v1", "serviceaccounts", true};
    const cJSON *nso = client_informer_get(inf_of(gc, "", "namespaces"), NULL, ns);
    if (!namespace_active(nso) ||
        client_informer_get(inf_of(gc, "", "serviceaccounts"), ns, "default")) {
        ctrl_gc_finish(gc, key, 0);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", "v1");
    cJSON_AddStringToObject(o, "kind", "ServiceAccount");
    cJSON *m = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(m, "name", "default");
    cJSON_AddStringToObject(m, "namespace", ns);
    util_log_v(1, "serviceaccount-controller: creating %s/default", ns);
    ctrl_gc_create(gc, &sa, ns, o, logged, util_strdup_printf("create serviceaccount|%s", key),
                   free);
    cJSON_Delete(o);
}

/* ---- root CA (upstream rootcacertpublisher) ------------------------------------------------- */

static bool root_ca_current(const cJSON *cm, const char *pem)
{
    const cJSON *data = ctrl_get(cm, "data");
    const char *have = ctrl_str(data, "ca.crt");
    const char *desc =
        ctrl_str(ctrl_get(ctrl_get(cm, "metadata"), "annotations"), "kubernetes.io/description");
    return have && !strcmp(have, pem) && cJSON_GetArraySize(data) == 1 && desc &&
           !strcmp(desc, ROOT_CA_DESCRIPTION);
}

static void sync_root_ca(struct ctrl_gc *gc, const char *key, const char *ns)
{
    static const client_resource_t cms = {"", "v1", "configmaps", true};
    const cJSON *nso = client_informer_get(inf_of(gc, "", "namespaces"), NULL, ns);
    const cJSON *cm = client_informer_get(inf_of(gc, "", "configmaps"), ns, ROOT_CA_NAME);
    if (!gc->ca_pem || !namespace_active(nso) || (cm && root_ca_current(cm, gc->ca_pem))) {
        ctrl_gc_finish(gc, key, 0);
        return;
    }
    cJSON *o = cm ? cJSON_Duplicate(cm, true) : cJSON_CreateObject();
    if (!cm) {
        cJSON_AddStringToObject(o, "apiVersion", "v1");
        cJSON_AddStringToObject(o, "kind", "ConfigMap");
        cJSON *m = cJSON_AddObjectToObject(o, "metadata");
        cJSON_AddStringToObject(m, "name", ROOT_CA_NAME);
        cJSON_AddStringToObject(m, "namespace", ns);
    }
    cJSON *meta = ctrl_get(o, "metadata") ? (cJSON *)ctrl_get(o, "metadata") : NULL;
    cJSON *ann = (cJSON *)ctrl_get(meta, "annotations");
    if (!cJSON_IsObject(ann)) {
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "annotations");
        ann = cJSON_AddObjectToObject(meta, "annotations");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(ann, "kubernetes.io/description");
    cJSON_AddStringToObject(ann, "kubernetes.io/description", ROOT_CA_DESCRIPTION);
    cJSON_DeleteItemFromObjectCaseSensitive(o, "data");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "binaryData");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "data"), "ca.crt", gc->ca_pem);
    util_log_v(1, "root-ca-cert-publisher: %s %s/%s", cm ? "updating" : "creating", ns,
               ROOT_CA_NAME);
    if (cm)
        ctrl_gc_update(gc, &cms, o, logged, util_strdup_printf("update configmap|%s", key), free);
    else
        ctrl_gc_create(gc, &cms, ns, o, logged, util_strdup_printf("create configmap|%s", key),
                       free);
    cJSON_Delete(o);
}

/* ---- pod GC (upstream podgc/gc_controller.go) ----------------------------------------------- */

size_t controller_podgc_excess(size_t terminated, long threshold)
{
    if (threshold <= 0 || terminated <= (size_t)threshold)
        return 0;
    return terminated - (size_t)threshold;
}

int controller_podgc_older(const void *a, const void *b)
{
    const cJSON *pa = *(const cJSON *const *)a, *pb = *(const cJSON *const *)b;
    const cJSON *ma = ctrl_get(pa, "metadata"), *mb = ctrl_get(pb, "metadata");
    int64_t ta = controller_parse_time(ctrl_str(ma, "creationTimestamp"));
    int64_t tb = controller_parse_time(ctrl_str(mb, "creationTimestamp"));
    if (ta != tb)
        return ta < tb ? -1 : 1;
    const char *na = ctrl_str(ma, "name"), *nb = ctrl_str(mb, "name");
    return strcmp(na ? na : "", nb ? nb : "");
}

typedef struct podgc_scan {
    struct ctrl_gc *gc;
    const client_informer_t *nodes;
    const cJSON **terminated;
    size_t nterm, cap;
    util_strv_t gone_nodes; /* bound to a node not in the cache: verified with a GET */
    size_t deletes;
} podgc_scan_t;

static void force_deleted(struct ctrl_gc *gc, void *ud, client_result_t *res)
{
    (void)gc;
    if (res->error || (res->status >= 300 && res->status != 404))
        util_log_v(1, "pod-garbage-collector: delete %s: %d %s", (char *)ud, res->status,
                   res->st.message ? res->st.message : "");
    free(ud);
}

typedef struct pod_gone {
    char *ns, *name, *uid;
} pod_gone_t;

static void pod_gone_free(void *ud)
{
    pod_gone_t *p = ud;
    free(p->ns);
    free(p->name);
    free(p->uid);
    free(p);
}

static const client_resource_t PODS = {"", "v1", "pods", true};

static void delete_marked(struct ctrl_gc *gc, void *ud, client_result_t *res)
{
    pod_gone_t *p = ud;
    if (res->status != 404) /* a failed status write does not stop the deletion (as upstream) */
        ctrl_gc_delete(gc, &PODS, p->ns, p->name, p->uid, NULL, NULL, 0, force_deleted,
                       util_strdup_printf("%s/%s", p->ns, p->name), free);
    pod_gone_free(p);
}

/* upstream markFailedAndDeletePodWithCondition: a pod not yet terminal is marked Failed (with a
 * DisruptionTarget condition when its node is gone), then deleted with grace period 0. */
static void force_delete(struct ctrl_gc *gc, const cJSON *pod, const char *why, bool node_gone)
{
    const cJSON *meta = ctrl_get(pod, "metadata");
    const char *ns = ctrl_str(meta, "namespace"), *name = ctrl_str(meta, "name");
    if (!ns || !name)
        return;
    util_log_info("pod-garbage-collector: force deleting pod %s/%s (%s)", ns, name, why);
    const char *uid = ctrl_str(meta, "uid");
    if (pod_terminal(pod)) {
        ctrl_gc_delete(gc, &PODS, ns, name, uid, NULL, NULL, 0, force_deleted,
                       util_strdup_printf("%s/%s", ns, name), free);
        return;
    }
    pod_gone_t *p = util_xcalloc(1, sizeof(*p));
    *p = (pod_gone_t){util_xstrdup(ns), util_xstrdup(name), uid ? util_xstrdup(uid) : NULL};
    cJSON *patch = cJSON_CreateObject();
    cJSON *st = cJSON_AddObjectToObject(patch, "status");
    cJSON_AddStringToObject(st, "phase", "Failed");
    if (node_gone) {
        char ts[32];
        controller_format_time(time(NULL), ts);
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "type", "DisruptionTarget");
        cJSON_AddStringToObject(c, "status", "True");
        cJSON_AddStringToObject(c, "reason", "DeletionByPodGC");
        cJSON_AddStringToObject(c, "message", "PodGC: node no longer exists");
        cJSON_AddStringToObject(c, "lastTransitionTime", ts);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(st, "conditions"), c);
    }
    ctrl_gc_patch_status(gc, &PODS, ns, name, patch, delete_marked, p, pod_gone_free);
    cJSON_Delete(patch);
}

static bool out_of_service(const cJSON *node)
{
    bool ready = false, oos = false;
    const cJSON *c;
    cJSON_ArrayForEach(c, ctrl_get(ctrl_get(node, "status"), "conditions"))
    {
        const char *type = ctrl_str(c, "type"), *st = ctrl_str(c, "status");
        if (type && st && !strcmp(type, "Ready"))
            ready = !strcmp(st, "True");
    }
    cJSON_ArrayForEach(c, ctrl_get(ctrl_get(node, "spec"), "taints"))
    {
        const char *k = ctrl_str(c, "key"), *e = ctrl_str(c, "effect");
        if (k && !strcmp(k, "node.kubernetes.io/out-of-service") && e &&
            (!strcmp(e, "NoExecute") || !strcmp(e, "NoSchedule")))
            oos = true;
    }
    return !ready && oos;
}

static void scan_pod(void *ud, const cJSON *pod)
{
    podgc_scan_t *s = ud;
    const cJSON *meta = ctrl_get(pod, "metadata");
    const char *node = ctrl_str(ctrl_get(pod, "spec"), "nodeName");
    bool terminating = ctrl_get(meta, "deletionTimestamp") != NULL;
    if (pod_terminal(pod)) {
        if (s->nterm == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 64;
            s->terminated = util_xrealloc(s->terminated, s->cap * sizeof(*s->terminated));
        }
        s->terminated[s->nterm++] = pod;
    }
    if (!node || !node[0]) {
        if (terminating) /* upstream gcUnscheduledTerminating */
            force_delete(s->gc, pod, "terminating and never scheduled", false);
        return;
    }
    const cJSON *n = client_informer_get(s->nodes, NULL, node);
    if (!n) {
        for (size_t i = 0; i < s->gone_nodes.n; i++)
            if (!strcmp(s->gone_nodes.v[i], node))
                return;
        util_strv_push(&s->gone_nodes, node);
    } else if (terminating && out_of_service(n)) { /* upstream gcTerminating */
        force_delete(s->gc, pod, "terminating on an out-of-service node", false);
    }
}

typedef struct node_check {
    char *node;
} node_check_t;

static void delete_pods_of(void *ud, const cJSON *pod)
{
    node_check_t *c = ((void **)ud)[0];
    struct ctrl_gc *gc = ((void **)ud)[1];
    const char *node = ctrl_str(ctrl_get(pod, "spec"), "nodeName");
    if (node && !strcmp(node, c->node))
        force_delete(gc, pod, "its node no longer exists", true);
}

static void node_checked(struct ctrl_gc *gc, void *ud, client_result_t *res)
{
    node_check_t *c = ud;
    if (res->status == 404) { /* upstream gcOrphaned: verified absent, the pods go */
        void *args[2] = {c, gc};
        client_informer_foreach(inf_of(gc, "", "pods"), delete_pods_of, args);
    }
    free(c->node);
    free(c);
}

static void node_check_free(void *ud)
{
    node_check_t *c = ud;
    free(c->node);
    free(c);
}

static void pod_gc(struct ctrl_gc *gc, const char *key)
{
    static const client_resource_t nodes = {"", "v1", "nodes", false};
    podgc_scan_t s = {.gc = gc, .nodes = inf_of(gc, "", "nodes")};
    const client_informer_t *pods = inf_of(gc, "", "pods");
    if (!pods || !s.nodes) {
        ctrl_gc_finish(gc, key, 0);
        return;
    }
    client_informer_foreach(pods, scan_pod, &s);
    size_t excess = controller_podgc_excess(s.nterm, gc->pod_gc_threshold);
    if (excess) {
        qsort(s.terminated, s.nterm, sizeof(*s.terminated), controller_podgc_older);
        util_log_info("pod-garbage-collector: %zu terminated pods over the threshold of %ld",
                      excess, gc->pod_gc_threshold);
        for (size_t i = 0; i < excess; i++)
            force_delete(gc, s.terminated[i], "terminated, over the threshold", false);
    }
    uint64_t now = ctrl_now(gc->m);
    util_strv_t still = {0}; /* "node missing-since-ms", for nodes still missing */
    for (size_t i = 0; i < s.gone_nodes.n; i++) {
        const char *node = s.gone_nodes.v[i];
        uint64_t since = now;
        for (size_t k = 0; k < gc->missing_nodes.n; k++) {
            const char *e = gc->missing_nodes.v[k], *sp = strrchr(e, ' ');
            if (sp && (size_t)(sp - e) == strlen(node) && !strncmp(e, node, (size_t)(sp - e)))
                since = strtoull(sp + 1, NULL, 10);
        }
        char *e = util_strdup_printf("%s %llu", node, (unsigned long long)since);
        util_strv_push(&still, e);
        free(e);
        if (now < since + PODGC_QUARANTINE_MS) {
            controller_queue_add_after(gc->q, key, since + PODGC_QUARANTINE_MS - now, now);
            continue;
        }
        node_check_t *c = util_xcalloc(1, sizeof(*c));
        c->node = util_xstrdup(node);
        ctrl_gc_get(gc, &nodes, NULL, c->node, node_checked, c, node_check_free);
    }
    util_strv_clear(&gc->missing_nodes);
    gc->missing_nodes = still;
    free(s.terminated);
    util_strv_clear(&s.gone_nodes);
    ctrl_gc_finish(gc, key, 0);
}

bool ctrl_gc_house_run(struct ctrl_gc *gc, const char *key)
{
    if (!strncmp(key, "sa/", 3))
        sync_service_account(gc, key, key + 3);
    else if (!strncmp(key, "ca/", 3))
        sync_root_ca(gc, key, key + 3);
    else if (!strcmp(key, "pgc"))
        pod_gc(gc, key);
    else
        return false;
    return true;
}
