/* controller_daemonset: upstream's DaemonSet controller (daemon_controller.go, update.go): one
 * pod per eligible node, pinned by node affinity so the default scheduler binds it; pods go
 * from nodes that no longer fit; RollingUpdate within maxUnavailable / maxSurge; revisions in
 * ControllerRevisions; status. */
#include "controller/controller_sets.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_NODE_PODS 8 /* daemon pods looked at per node */

typedef struct ds_node {
    const cJSON *node; /* NULL: the node is gone */
    const char *name;
    controller_ds_fit_t fit;
    const cJSON *pods[MAX_NODE_PODS]; /* active, oldest first */
    size_t n;
    const cJSON *newp, *oldp; /* oldest of the current revision and of others */
    bool terminating;         /* a daemon pod is still terminating here */
} ds_node_t;

typedef struct ds_sync {
    controller_manager_t *m;
    const char *key, *ns, *name, *uid, *hash;
    const cJSON *ds, *spec;
    cJSON *pod_spec; /* the template's spec with the default tolerations */
    int64_t min_ready, now;
    ds_node_t *nodes;
    size_t nnodes, cap;
    bool wrote;
    int64_t requeue_ms; /* a failed pod waits out its back-off */
} ds_sync_t;

static const char *pod_name(const cJSON *pod)
{
    return ctrl_str(ctrl_get(pod, "metadata"), "name");
}

static sets_write_opts_t opts(const ds_sync_t *s)
{
    return (sets_write_opts_t){.kind = SETS_DS, .key = s->key, .parent = s->ds};
}

static bool available(const ds_sync_t *s, const cJSON *pod)
{
    return controller_pod_ready(pod) && controller_pod_available(pod, s->min_ready, s->now);
}

/* ---- nodes and their pods -------------------------------------------------------------------- */

static ds_node_t *node_slot(ds_sync_t *s, const char *name)
{
    for (size_t i = 0; i < s->nnodes; i++)
        if (!strcmp(s->nodes[i].name, name))
            return &s->nodes[i];
    if (s->nnodes == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->nodes = util_xrealloc(s->nodes, s->cap * sizeof(*s->nodes));
    }
    ds_node_t *n = &s->nodes[s->nnodes++];
    *n = (ds_node_t){.name = name};
    return n;
}

static void add_node(void *ud, const cJSON *node)
{
    ds_sync_t *s = ud;
    const char *name = ctrl_str(ctrl_get(node, "metadata"), "name");
    if (!name)
        return;
    ds_node_t *n = node_slot(s, name);
    n->node = node;
    controller_ds_node_fit(node, s->pod_spec, &n->fit);
}

static int64_t created_at(const cJSON *pod)
{
    return controller_parse_time(ctrl_str(ctrl_get(pod, "metadata"), "creationTimestamp"));
}

static void add_pod(ds_sync_t *s, const cJSON *pod)
{
    const char *target = controller_ds_target_node(pod);
    if (!target) /* not ours to place: upstream deletes daemon pods without a node */
        return;
    ds_node_t *n = node_slot(s, target);
    if (sets_deleting(pod)) {
        n->terminating = true;
        return;
    }
    if (n->n == MAX_NODE_PODS)
        return;
    size_t j = n->n++;
    for (; j > 0 && created_at(n->pods[j - 1]) > created_at(pod); j--)
        n->pods[j] = n->pods[j - 1];
    n->pods[j] = pod;
}

static void split_revisions(ds_sync_t *s, ds_node_t *n)
{
    for (size_t i = 0; i < n->n; i++) {
        const char *h = ctrl_str(ctrl_get(ctrl_get(n->pods[i], "metadata"), "labels"),
                                 CONTROLLER_REVISION_HASH_LABEL);
        bool current = h && !strcmp(h, s->hash);
        if (current && !n->newp)
            n->newp = n->pods[i];
        else if (!current && !n->oldp)
            n->oldp = n->pods[i];
    }
}

/* ---- writes ---------------------------------------------------------------------------------- */

static void create_pod(ds_sync_t *s, const char *node)
{
    const cJSON *tmpl = ctrl_get(s->spec, "template"), *tm = ctrl_get(tmpl, "metadata");
    cJSON *pod = cJSON_CreateObject();
    cJSON_AddStringToObject(pod, "apiVersion", "v1");
    cJSON_AddStringToObject(pod, "kind", "Pod");
    cJSON *pm = cJSON_AddObjectToObject(pod, "metadata");
    char gen[300], tg[32];
    snprintf(gen, sizeof(gen), "%.250s-", s->name);
    cJSON_AddStringToObject(pm, "generateName", gen);
    cJSON *labels = cJSON_IsObject(ctrl_get(tm, "labels"))
                        ? cJSON_Duplicate(ctrl_get(tm, "labels"), true)
                        : cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(labels, CONTROLLER_REVISION_HASH_LABEL);
    cJSON_AddStringToObject(labels, CONTROLLER_REVISION_HASH_LABEL, s->hash);
    /* upstream: the template generation the apiserver keeps in an annotation */
    const char *tgen = ctrl_str(ctrl_get(ctrl_get(s->ds, "metadata"), "annotations"),
                                "deprecated.daemonset.template.generation");
    snprintf(tg, sizeof(tg), "%.20s", tgen ? tgen : "1");
    cJSON_DeleteItemFromObjectCaseSensitive(labels, "pod-template-generation");
    cJSON_AddStringToObject(labels, "pod-template-generation", tg);
    cJSON_AddItemToObject(pm, "labels", labels);
    if (cJSON_IsObject(ctrl_get(tm, "annotations")))
        cJSON_AddItemToObject(pm, "annotations",
                              cJSON_Duplicate(ctrl_get(tm, "annotations"), true));
    cJSON *ref = cJSON_CreateObject();
    cJSON_AddStringToObject(ref, "apiVersion", "apps/v1");
    cJSON_AddStringToObject(ref, "kind", "DaemonSet");
    cJSON_AddStringToObject(ref, "name", s->name);
    cJSON_AddStringToObject(ref, "uid", s->uid);
    cJSON_AddBoolToObject(ref, "controller", true);
    cJSON_AddBoolToObject(ref, "blockOwnerDeletion", true);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(pm, "ownerReferences"), ref);
    cJSON *spec = cJSON_Duplicate(s->pod_spec, true);
    controller_ds_pin(spec, node);
    cJSON_AddItemToObject(pod, "spec", spec);
    sets_write_opts_t o = opts(s);
    o.expect = SETS_EXPECT_CREATE;
    o.ok_reason = "SuccessfulCreate";
    o.ok_msg = "Created pod: "; /* the name comes with the answer */
    o.ok_append_name = true;
    o.fail_reason = "FailedCreate";
    o.fail_msg = "Error creating";
    sets_create(s->m, &o, &CLIENT_RES_PODS, s->ns, pod);
    cJSON_Delete(pod);
    s->wrote = true;
}

static void delete_pod(ds_sync_t *s, const cJSON *pod)
{
    char ok[400];
    snprintf(ok, sizeof(ok), "Deleted pod: %s", pod_name(pod));
    sets_write_opts_t o = opts(s);
    o.expect = SETS_EXPECT_DELETE;
    o.uid = ctrl_str(ctrl_get(pod, "metadata"), "uid");
    o.ok_reason = "SuccessfulDelete";
    o.ok_msg = ok;
    o.fail_reason = "FailedDelete";
    o.fail_msg = "Error deleting";
    sets_delete(s->m, &o, &CLIENT_RES_PODS, s->ns, pod_name(pod));
    s->wrote = true;
}

/* upstream: a failed daemon pod is deleted (and so replaced) at most once per back-off step of
 * its node, so a kubelet that keeps rejecting it is not fought in a hot loop. */
static void delete_failed(ds_sync_t *s, ds_node_t *n, const cJSON *pod)
{
    char *bkey = util_strdup_printf("%s/%s", s->key, n->name);
    uint64_t now = ctrl_now(s->m), wait = sets_backoff_wait(s->m, bkey, now);
    if (wait > 0) {
        if (s->requeue_ms == 0 || (int64_t)wait < s->requeue_ms)
            s->requeue_ms = (int64_t)wait;
        free(bkey);
        return;
    }
    sets_backoff_next(s->m, bkey, now);
    free(bkey);
    ctrl_event(s->m, s->ds, "DaemonSet", "apps/v1", "Warning", "FailedDaemonPod",
               "daemonset-controller",
               "Found failed daemon pod %s/%s on node %s, will try to kill it", s->ns,
               pod_name(pod), n->name);
    delete_pod(s, pod);
}

/* ---- manage and roll ------------------------------------------------------------------------- */

/* upstream podsShouldBeOnNode: create where a pod should run and none is, delete where none
 * may stay, failed pods and duplicates (the newest revision's or else the oldest stays; during a
 * surge one old and one new). */
static void manage(ds_sync_t *s, bool surge)
{
    for (size_t i = 0; i < s->nnodes; i++) {
        ds_node_t *n = &s->nodes[i];
        if (!n->node || !n->fit.should_continue) {
            /* of a node that is gone only the pods never bound (upstream
             * getUnscheduledPodsWithoutNode); bound ones are the pod GC's */
            for (size_t j = 0; j < n->n; j++) {
                const char *bound = ctrl_str(ctrl_get(n->pods[j], "spec"), "nodeName");
                if (n->node || !bound || !*bound)
                    delete_pod(s, n->pods[j]);
            }
            continue;
        }
        size_t running = 0;
        for (size_t j = 0; j < n->n; j++) {
            const char *phase = ctrl_str(ctrl_get(n->pods[j], "status"), "phase");
            if (phase && !strcmp(phase, "Failed"))
                delete_failed(s, n, n->pods[j]);
            else
                running++;
        }
        if (n->fit.should_run && n->n == 0 && !n->terminating) {
            create_pod(s, n->name);
            continue;
        }
        if (running <= 1)
            continue;
        if (surge && n->newp && n->oldp && n->n == 2)
            continue; /* the rolling update settles it */
        const cJSON *keep = n->newp ? n->newp : n->pods[0];
        for (size_t j = 0; j < n->n; j++)
            if (n->pods[j] != keep)
                delete_pod(s, n->pods[j]);
    }
}

static bool surging(const ds_sync_t *s, int64_t *surge, int64_t *unavailable, int64_t desired)
{
    const cJSON *us = ctrl_get(s->spec, "updateStrategy");
    const cJSON *ru = ctrl_get(us, "rollingUpdate");
    util_error_t err = NULL;
    /* upstream rounds both up against desiredNumberScheduled */
    if (controller_scaled_value(ctrl_get(ru, "maxSurge"), desired, true, "0", surge, &err) < 0 ||
        controller_scaled_value(ctrl_get(ru, "maxUnavailable"), desired, true, "1", unavailable,
                                &err) < 0) {
        util_error_freep(&err);
        *surge = 0;
        *unavailable = 1;
    }
    if (*surge == 0 && *unavailable == 0)
        *unavailable = 1;
    return *surge > 0;
}

/* upstream rollingUpdate with maxSurge 0: replace old pods, unavailable ones freely, available
 * ones while fewer than maxUnavailable nodes are without an available pod. */
static void roll_unavailable(ds_sync_t *s, int64_t max_unavailable)
{
    int64_t unavailable = 0;
    const cJSON **cands = util_xcalloc(s->nnodes + 1, sizeof(*cands));
    size_t nc = 0;
    for (size_t i = 0; i < s->nnodes; i++) {
        ds_node_t *n = &s->nodes[i];
        if (!n->node || !n->fit.should_run)
            continue;
        if (n->newp) {
            if (!available(s, n->newp))
                unavailable++;
        } else if (!n->oldp) {
            unavailable++;
        } else if (!available(s, n->oldp)) {
            delete_pod(s, n->oldp);
        } else if (unavailable < max_unavailable) {
            cands[nc++] = n->oldp;
        }
    }
    int64_t room = max_unavailable - unavailable;
    for (size_t i = 0; room > 0 && i < nc; i++, room--)
        delete_pod(s, cands[i]);
    free(cands);
}

/* upstream rollingUpdate with maxSurge: a new pod next to the old one (at most maxSurge nodes
 * at once, unlimited where the old one is unavailable); the old goes once the new is available. */
static void roll_surge(ds_sync_t *s, int64_t max_surge)
{
    int64_t surge = 0;
    const char **cands = util_xcalloc(s->nnodes + 1, sizeof(*cands));
    size_t nc = 0;
    for (size_t i = 0; i < s->nnodes; i++) {
        ds_node_t *n = &s->nodes[i];
        if (!n->node || !n->fit.should_run || !n->oldp)
            continue;
        if (n->newp) {
            if (available(s, n->newp))
                delete_pod(s, n->oldp);
            else
                surge++;
        } else if (!available(s, n->oldp)) {
            create_pod(s, n->name);
        } else {
            cands[nc++] = n->name;
        }
    }
    for (size_t i = 0; surge < max_surge && i < nc; i++, surge++)
        create_pod(s, cands[i]);
    free(cands);
}

/* ---- status ---------------------------------------------------------------------------------- */

static void update_status(ds_sync_t *s)
{
    int64_t desired = 0, current = 0, ready = 0, avail = 0, updated = 0, mis = 0;
    for (size_t i = 0; i < s->nnodes; i++) {
        ds_node_t *n = &s->nodes[i];
        if (!n->node || !n->fit.should_run) {
            if (n->n)
                mis++;
            continue;
        }
        desired++;
        if (!n->n)
            continue;
        current++;
        const cJSON *pod = n->pods[0]; /* the oldest, as upstream */
        if (controller_pod_ready(pod)) {
            ready++;
            if (available(s, pod))
                avail++;
        }
        if (n->newp)
            updated++;
    }
    const cJSON *st = ctrl_get(s->ds, "status");
    int64_t gen = ctrl_int(ctrl_get(s->ds, "metadata"), "generation", 0);
    int64_t v[] = {desired, current, ready, avail, desired - avail, updated, mis, gen};
    static const char *const keys[] = {
        "desiredNumberScheduled", "currentNumberScheduled", "numberReady",
        "numberAvailable",        "numberUnavailable",      "updatedNumberScheduled",
        "numberMisscheduled",     "observedGeneration"};
    bool same = true;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        if (ctrl_int(st, keys[i], -1) != v[i])
            same = false;
    if (same)
        return;
    cJSON *patch = cJSON_CreateObject();
    cJSON *ps = cJSON_AddObjectToObject(patch, "status");
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        cJSON_AddNumberToObject(ps, keys[i], (double)v[i]);
    sets_write_opts_t o = opts(s);
    o.parent = NULL;
    sets_patch(s->m, &o, &CONTROLLER_RES_DS, s->ns, s->name, "status", patch);
    cJSON_Delete(patch);
}

/* ---- sync ------------------------------------------------------------------------------------ */

static void prune(ds_sync_t *s, const cJSON *upd, const cJSON **revs, size_t nrevs,
                  const cJSON **pods, size_t n)
{
    /* live: the update revision and every revision a pod still runs (by its hash label) */
    const char **live = util_xcalloc(nrevs + 1, sizeof(*live));
    size_t nl = 0;
    live[nl++] = ctrl_str(ctrl_get(upd, "metadata"), "name");
    for (size_t r = 0; r < nrevs; r++) {
        const char *h = ctrl_str(ctrl_get(ctrl_get(revs[r], "metadata"), "labels"),
                                 CONTROLLER_REVISION_HASH_LABEL);
        for (size_t i = 0; h && i < n; i++) {
            const char *ph = ctrl_str(ctrl_get(ctrl_get(pods[i], "metadata"), "labels"),
                                      CONTROLLER_REVISION_HASH_LABEL);
            if (ph && !strcmp(ph, h)) {
                live[nl++] = ctrl_str(ctrl_get(revs[r], "metadata"), "name");
                break;
            }
        }
    }
    sets_prune_history(s->m, SETS_DS, s->key, s->ds, revs, nrevs, live, nl);
    free(live);
}

int ctrl_ds_sync(controller_manager_t *m, const char *key)
{
    const char *slash = strchr(key, '/');
    if (!slash || !m->sets)
        return 0;
    char ns[256];
    snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
    const cJSON *ds = client_informer_get(m->sets->inf[SETS_INF_DS], ns, slash + 1);
    if (!ds) {
        controller_expect_delete(m->sets->expect[SETS_DS], key);
        controller_queue_forget(m->sets->q[SETS_DS], key);
        return 0;
    }
    const cJSON *spec = ctrl_get(ds, "spec");
    ds_sync_t s = {.m = m,
                   .key = key,
                   .ns = ns,
                   .name = slash + 1,
                   .uid = ctrl_str(ctrl_get(ds, "metadata"), "uid"),
                   .ds = ds,
                   .spec = spec,
                   .min_ready = ctrl_int(spec, "minReadySeconds", 0),
                   .now = time(NULL)};
    if (!s.uid)
        return 0;
    size_t nrevs = 0, npods = 0;
    const cJSON **revs = sets_owned(m, SETS_DS, ds, SETS_INF_CR, &nrevs);
    controller_revisions_sort(revs, nrevs);
    const cJSON *upd = sets_update_revision(m, SETS_DS, key, ds, revs, nrevs);
    s.hash =
        ctrl_str(ctrl_get(ctrl_get(upd, "metadata"), "labels"), CONTROLLER_REVISION_HASH_LABEL);
    if (!upd || !s.hash) {
        free(revs);
        return 0;
    }
    const cJSON *ts = ctrl_get(ctrl_get(spec, "template"), "spec");
    s.pod_spec = cJSON_IsObject(ts) ? cJSON_Duplicate(ts, true) : cJSON_CreateObject();
    controller_ds_add_tolerations(s.pod_spec);
    client_informer_foreach(m->sets->inf[SETS_INF_NODES], add_node, &s);
    const cJSON **pods = sets_owned(m, SETS_DS, ds, -1, &npods);
    for (size_t i = 0; i < npods; i++)
        add_pod(&s, pods[i]);
    for (size_t i = 0; i < s.nnodes; i++)
        split_revisions(&s, &s.nodes[i]);
    int64_t desired = 0, max_surge = 0, max_unavailable = 1;
    for (size_t i = 0; i < s.nnodes; i++)
        if (s.nodes[i].node && s.nodes[i].fit.should_run)
            desired++;
    const char *ut = ctrl_str(ctrl_get(spec, "updateStrategy"), "type");
    bool rolling = !ut || !strcmp(ut, "RollingUpdate");
    bool surge = rolling && surging(&s, &max_surge, &max_unavailable, desired);
    if (controller_expect_satisfied(m->sets->expect[SETS_DS], key, ctrl_now(m)) &&
        !sets_deleting(ds)) {
        manage(&s, surge);
        if (!s.wrote && rolling) {
            if (surge)
                roll_surge(&s, max_surge);
            else
                roll_unavailable(&s, max_unavailable);
        }
    }
    update_status(&s);
    prune(&s, upd, revs, nrevs, pods, npods);
    int64_t requeue = s.requeue_ms;
    for (size_t i = 0; s.min_ready > 0 && i < npods; i++)
        if (controller_pod_ready(pods[i]) && !available(&s, pods[i]) &&
            (requeue == 0 || s.min_ready * 1000 < requeue))
            requeue = s.min_ready * 1000;
    free(s.nodes);
    cJSON_Delete(s.pod_spec);
    free(pods);
    free(revs);
    return (int)requeue;
}
