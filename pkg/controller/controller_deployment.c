/* controller_deployment: upstream's DeploymentController, in outline: the ReplicaSet whose
 * template equals the Deployment's (with the pod-template-hash label) is the new one, named
 * <deployment>-<hash> and carrying the next revision; RollingUpdate grows it up to replicas +
 * maxSurge in total and shrinks the old ones while replicas - maxUnavailable stay available;
 * Recreate scales the old ones to zero first; old ReplicaSets beyond revisionHistoryLimit go;
 * status and the Available/Progressing conditions use upstream's reasons and messages. */
#include "controller/controller_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "labels/labels.h"

#define COMPONENT    "deployment-controller"
#define HASH_LABEL   "pod-template-hash"
#define REVISION     "deployment.kubernetes.io/revision"
#define DESIRED      "deployment.kubernetes.io/desired-replicas"
#define MAX_REPLICAS "deployment.kubernetes.io/max-replicas"
#define MAX_RS       512 /* ReplicaSets of one Deployment looked at */

static char *expect_key(const char *key)
{
    return util_strdup_printf("deployment:%s", key);
}

void ctrl_deploy_on_rs(controller_manager_t *m, const cJSON *old, const cJSON *rs, bool deleted)
{
    const cJSON *ref = controller_owner_ref(rs);
    const char *kind = ctrl_str(ref, "kind"), *name = ctrl_str(ref, "name");
    const char *ns = ctrl_str(ctrl_get(rs, "metadata"), "namespace");
    if (!ref || !kind || strcmp(kind, "Deployment") || !name || !ns)
        return;
    char *key = util_strdup_printf("%s/%s", ns, name);
    if (!old && !deleted) {
        char *ek = expect_key(key);
        controller_expect_creation_observed(m->expect, ek);
        free(ek);
    }
    controller_queue_add(m->dq, key, ctrl_now(m));
    free(key);
}

/* ---- facts ----------------------------------------------------------------------------------- */

typedef struct rs_list {
    const char *ns, *uid;
    const cJSON *v[MAX_RS];
    size_t n;
} rs_list_t;

static void collect_rs(void *ud, const cJSON *rs)
{
    rs_list_t *l = ud;
    const char *ns = ctrl_str(ctrl_get(rs, "metadata"), "namespace");
    const char *uid = ctrl_str(controller_owner_ref(rs), "uid");
    if (ns && uid && !strcmp(ns, l->ns) && !strcmp(uid, l->uid) && l->n < MAX_RS)
        l->v[l->n++] = rs;
}

static int64_t spec_replicas(const cJSON *rs)
{
    return ctrl_int(ctrl_get(rs, "spec"), "replicas", 1);
}

static int64_t status_int(const cJSON *o, const char *k)
{
    return ctrl_int(ctrl_get(o, "status"), k, 0);
}

static int64_t revision(const cJSON *rs)
{
    const char *r = ctrl_str(ctrl_get(ctrl_get(rs, "metadata"), "annotations"), REVISION);
    return r ? strtoll(r, NULL, 10) : 0;
}

static int cmp_created(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    int64_t tx = controller_parse_time(ctrl_str(ctrl_get(x, "metadata"), "creationTimestamp"));
    int64_t ty = controller_parse_time(ctrl_str(ctrl_get(y, "metadata"), "creationTimestamp"));
    if (tx != ty)
        return tx < ty ? -1 : 1;
    return strcmp(ctrl_str(ctrl_get(x, "metadata"), "name"),
                  ctrl_str(ctrl_get(y, "metadata"), "name"));
}

static int cmp_revision(const void *a, const void *b)
{
    int64_t x = revision(*(const cJSON *const *)a), y = revision(*(const cJSON *const *)b);
    return x < y ? -1 : x > y;
}

/* The hash of an RS's template without its pod-template-hash label. */
static void rs_template_hash(const cJSON *rs, int64_t collisions, char out[16])
{
    cJSON *t = cJSON_Duplicate(ctrl_get(ctrl_get(rs, "spec"), "template"), true);
    cJSON *labels =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "metadata"), "labels");
    cJSON_DeleteItemFromObjectCaseSensitive(labels, HASH_LABEL);
    if (labels && !labels->child)
        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "metadata"),
                                                "labels");
    controller_template_hash(t, collisions, out);
    cJSON_Delete(t);
}

/* The template as the deployment holds it, hashed the same way (labels emptied alike). */
static void deploy_template_hash(const cJSON *d, int64_t collisions, char out[16])
{
    cJSON *t = cJSON_Duplicate(ctrl_get(ctrl_get(d, "spec"), "template"), true);
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(t, "metadata");
    cJSON *labels = cJSON_GetObjectItemCaseSensitive(meta, "labels");
    if (labels && !labels->child)
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "labels");
    controller_template_hash(t, collisions, out);
    cJSON_Delete(t);
}

/* ---- writes ---------------------------------------------------------------------------------- */

static void scale_rs(controller_manager_t *m, const cJSON *d, const cJSON *rs, int64_t to,
                     int64_t replicas, int64_t surge)
{
    int64_t from = spec_replicas(rs);
    const cJSON *meta = ctrl_get(rs, "metadata");
    cJSON *patch = cJSON_CreateObject();
    cJSON *ann = cJSON_AddObjectToObject(cJSON_AddObjectToObject(patch, "metadata"), "annotations");
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)replicas);
    cJSON_AddStringToObject(ann, DESIRED, buf);
    snprintf(buf, sizeof(buf), "%lld", (long long)(replicas + surge));
    cJSON_AddStringToObject(ann, MAX_REPLICAS, buf);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(patch, "spec"), "replicas", (double)to);
    ctrl_patch(m, &CONTROLLER_RES_RS, ctrl_str(meta, "namespace"), ctrl_str(meta, "name"), NULL,
               patch);
    cJSON_Delete(patch);
    if (to != from)
        ctrl_event(m, d, "Deployment", "apps/v1", "Normal", "ScalingReplicaSet", COMPONENT,
                   "Scaled %s replica set %s to %lld from %lld", to > from ? "up" : "down",
                   ctrl_str(meta, "name"), (long long)to, (long long)from);
}

typedef struct create_ctx {
    char *key, *name;
    cJSON *d;
    int64_t replicas;
} create_ctx_t;

static void create_free(void *p)
{
    create_ctx_t *c = p;
    free(c->key);
    free(c->name);
    cJSON_Delete(c->d);
    free(c);
}

static void create_done(controller_manager_t *m, void *ud, client_result_t *res)
{
    create_ctx_t *c = ud;
    char *ek = expect_key(c->key);
    if (res->error || res->status < 200 || res->status >= 300) {
        controller_expect_creation_observed(m->expect, ek);
        if (res->status == 409) { /* a name taken by another template: count a collision */
            cJSON *patch = cJSON_CreateObject();
            cJSON_AddNumberToObject(cJSON_AddObjectToObject(patch, "status"), "collisionCount",
                                    (double)(status_int(c->d, "collisionCount") + 1));
            const cJSON *meta = ctrl_get(c->d, "metadata");
            ctrl_patch(m, &CONTROLLER_RES_DEPLOY, ctrl_str(meta, "namespace"),
                       ctrl_str(meta, "name"), "status", patch);
            cJSON_Delete(patch);
        }
        util_log_warn("deployment %s: creating replica set %s: %d %s", c->key, c->name, res->status,
                      res->st.message ? res->st.message : "");
        controller_queue_add_rate_limited(m->dq, c->key, ctrl_now(m));
    } else {
        ctrl_event(m, c->d, "Deployment", "apps/v1", "Normal", "ScalingReplicaSet", COMPONENT,
                   "Scaled up replica set %s to %lld", c->name, (long long)c->replicas);
    }
    free(ek);
    create_free(c);
}

static void create_rs(controller_manager_t *m, const char *key, const cJSON *d, const char *hash,
                      int64_t replicas, int64_t rev, int64_t desired, int64_t surge)
{
    const cJSON *meta = ctrl_get(d, "metadata"), *spec = ctrl_get(d, "spec");
    const char *ns = ctrl_str(meta, "namespace");
    char name[320], buf[32];
    snprintf(name, sizeof(name), "%.253s-%s", ctrl_str(meta, "name"), hash);
    cJSON *rs = cJSON_CreateObject();
    cJSON_AddStringToObject(rs, "apiVersion", "apps/v1");
    cJSON_AddStringToObject(rs, "kind", "ReplicaSet");
    cJSON *rm = cJSON_AddObjectToObject(rs, "metadata");
    cJSON_AddStringToObject(rm, "name", name);
    cJSON_AddStringToObject(rm, "namespace", ns);
    cJSON *tmpl = cJSON_Duplicate(ctrl_get(spec, "template"), true);
    cJSON *tm = cJSON_GetObjectItemCaseSensitive(tmpl, "metadata");
    if (!tm)
        tm = cJSON_AddObjectToObject(tmpl, "metadata");
    cJSON *tl = cJSON_GetObjectItemCaseSensitive(tm, "labels");
    if (!cJSON_IsObject(tl)) {
        cJSON_DeleteItemFromObjectCaseSensitive(tm, "labels");
        tl = cJSON_AddObjectToObject(tm, "labels");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(tl, HASH_LABEL);
    cJSON_AddStringToObject(tl, HASH_LABEL, hash);
    cJSON_AddItemToObject(rm, "labels", cJSON_Duplicate(tl, true));
    cJSON *ann = cJSON_AddObjectToObject(rm, "annotations");
    snprintf(buf, sizeof(buf), "%lld", (long long)desired);
    cJSON_AddStringToObject(ann, DESIRED, buf);
    snprintf(buf, sizeof(buf), "%lld", (long long)(desired + surge));
    cJSON_AddStringToObject(ann, MAX_REPLICAS, buf);
    snprintf(buf, sizeof(buf), "%lld", (long long)rev);
    cJSON_AddStringToObject(ann, REVISION, buf);
    cJSON *ref = cJSON_CreateObject();
    cJSON_AddStringToObject(ref, "apiVersion", "apps/v1");
    cJSON_AddStringToObject(ref, "kind", "Deployment");
    cJSON_AddStringToObject(ref, "name", ctrl_str(meta, "name"));
    cJSON_AddStringToObject(ref, "uid", ctrl_str(meta, "uid"));
    cJSON_AddBoolToObject(ref, "controller", true);
    cJSON_AddBoolToObject(ref, "blockOwnerDeletion", true);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(rm, "ownerReferences"), ref);
    cJSON *rspec = cJSON_AddObjectToObject(rs, "spec");
    cJSON_AddNumberToObject(rspec, "replicas", (double)replicas);
    cJSON_AddNumberToObject(rspec, "minReadySeconds", (double)ctrl_int(spec, "minReadySeconds", 0));
    cJSON *sel = cJSON_Duplicate(ctrl_get(spec, "selector"), true);
    cJSON *ml = cJSON_GetObjectItemCaseSensitive(sel, "matchLabels");
    if (!cJSON_IsObject(ml)) {
        cJSON_DeleteItemFromObjectCaseSensitive(sel, "matchLabels");
        ml = cJSON_AddObjectToObject(sel, "matchLabels");
    }
    cJSON_AddStringToObject(ml, HASH_LABEL, hash);
    cJSON_AddItemToObject(rspec, "selector", sel);
    cJSON_AddItemToObject(rspec, "template", tmpl);
    char *ek = expect_key(key);
    controller_expect_creations(m->expect, ek, 1, ctrl_now(m));
    free(ek);
    create_ctx_t *c = util_xcalloc(1, sizeof(*c));
    *c = (create_ctx_t){util_xstrdup(key), util_xstrdup(name), cJSON_Duplicate(d, true), replicas};
    ctrl_pending_t *p = ctrl_pending_new(m, create_done, c, create_free);
    ctrl_pending_sent(p, client_create(m->client, &CONTROLLER_RES_RS, ns, rs, ctrl_pending_cb, p));
    cJSON_Delete(rs);
}

static void set_annotation(controller_manager_t *m, const client_resource_t *r, const cJSON *obj,
                           const char *k, int64_t v)
{
    const cJSON *meta = ctrl_get(obj, "metadata");
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    const char *cur = ctrl_str(ctrl_get(meta, "annotations"), k);
    if (cur && !strcmp(cur, buf))
        return;
    cJSON *patch = cJSON_CreateObject();
    cJSON_AddStringToObject(
        cJSON_AddObjectToObject(cJSON_AddObjectToObject(patch, "metadata"), "annotations"), k, buf);
    ctrl_patch(m, r, ctrl_str(meta, "namespace"), ctrl_str(meta, "name"), NULL, patch);
    cJSON_Delete(patch);
}

/* ---- status ---------------------------------------------------------------------------------- */

static const cJSON *find_condition(const cJSON *status, const char *type)
{
    const cJSON *c, *found = NULL;
    cJSON_ArrayForEach(c, ctrl_get(status, "conditions"))
    {
        const char *t = ctrl_str(c, "type");
        if (t && !strcmp(t, type))
            found = c;
    }
    return found;
}

/* touch: lastUpdateTime is now even when nothing else changed (progress was made). */
static void add_condition(cJSON *conds, const cJSON *old_status, const char *type,
                          const char *status, const char *reason, const char *message,
                          const char *now, bool touch)
{
    const cJSON *old = NULL, *c;
    cJSON_ArrayForEach(c, ctrl_get(old_status, "conditions"))
    {
        const char *t = ctrl_str(c, "type");
        if (t && !strcmp(t, type))
            old = c;
    }
    const char *os = ctrl_str(old, "status"), *orr = ctrl_str(old, "reason"),
               *om = ctrl_str(old, "message");
    bool same_status = os && !strcmp(os, status);
    bool same = same_status && orr && !strcmp(orr, reason) && om && !strcmp(om, message);
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(n, "type", type);
    cJSON_AddStringToObject(n, "status", status);
    const char *lu =
        same && !touch && ctrl_str(old, "lastUpdateTime") ? ctrl_str(old, "lastUpdateTime") : now;
    const char *lt = same_status && ctrl_str(old, "lastTransitionTime")
                         ? ctrl_str(old, "lastTransitionTime")
                         : now;
    cJSON_AddStringToObject(n, "lastUpdateTime", lu);
    cJSON_AddStringToObject(n, "lastTransitionTime", lt);
    cJSON_AddStringToObject(n, "reason", reason);
    cJSON_AddStringToObject(n, "message", message);
    cJSON_AddItemToArray(conds, n);
}

static void sync_status(controller_manager_t *m, const cJSON *d, const rs_list_t *all,
                        const cJSON *new_rs, int64_t unavailable_allowed, int64_t *requeue_ms)
{
    const cJSON *spec = ctrl_get(d, "spec"), *old = ctrl_get(d, "status");
    int64_t want = ctrl_int(spec, "replicas", 1), total = 0, actual = 0, ready = 0, avail = 0;
    for (size_t i = 0; i < all->n; i++) {
        total += spec_replicas(all->v[i]);
        actual += status_int(all->v[i], "replicas");
        ready += status_int(all->v[i], "readyReplicas");
        avail += status_int(all->v[i], "availableReplicas");
    }
    int64_t updated = new_rs ? status_int(new_rs, "replicas") : 0;
    int64_t unavailable = total - avail < 0 ? 0 : total - avail;
    int64_t gen = ctrl_int(ctrl_get(d, "metadata"), "generation", 0);
    char now[32], msg[512];
    controller_format_time(time(NULL), now);
    cJSON *st = cJSON_CreateObject();
    cJSON_AddNumberToObject(st, "observedGeneration", (double)gen);
    cJSON_AddNumberToObject(st, "replicas", (double)actual);
    cJSON_AddNumberToObject(st, "updatedReplicas", (double)updated);
    cJSON_AddNumberToObject(st, "readyReplicas", (double)ready);
    cJSON_AddNumberToObject(st, "availableReplicas", (double)avail);
    cJSON_AddNumberToObject(st, "unavailableReplicas", (double)unavailable);
    if (ctrl_get(old, "collisionCount"))
        cJSON_AddNumberToObject(st, "collisionCount", (double)status_int(d, "collisionCount"));
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    if (avail >= want - unavailable_allowed)
        add_condition(conds, old, "Available", "True", "MinimumReplicasAvailable",
                      "Deployment has minimum availability.", now, false);
    else
        add_condition(conds, old, "Available", "False", "MinimumReplicasUnavailable",
                      "Deployment does not have minimum availability.", now, false);
    const char *rs_name = new_rs ? ctrl_str(ctrl_get(new_rs, "metadata"), "name") : "";
    const cJSON *prog = find_condition(old, "Progressing");
    const char *preason = ctrl_str(prog, "reason");
    int64_t deadline = ctrl_int(spec, "progressDeadlineSeconds", 600);
    bool has_deadline = deadline > 0 && deadline < 2147483647;
    bool complete = updated == want && actual == want && avail == want;
    /* upstream DeploymentProgressing: more updated, fewer old, more ready or available */
    bool progressing =
        updated > status_int(d, "updatedReplicas") ||
        actual - updated < status_int(d, "replicas") - status_int(d, "updatedReplicas") ||
        ready > status_int(d, "readyReplicas") || avail > status_int(d, "availableReplicas");
    const char *kind = new_rs ? "ReplicaSet" : "Deployment";
    const char *who = new_rs ? rs_name : ctrl_str(ctrl_get(d, "metadata"), "name");
    if (cJSON_IsTrue(ctrl_get(spec, "paused"))) {
        add_condition(conds, old, "Progressing", "Unknown", "DeploymentPaused",
                      "Deployment is paused", now, false);
    } else if (prog && preason && !strcmp(preason, "NewReplicaSetAvailable") && actual == updated &&
               has_deadline) {
        cJSON_AddItemToArray(conds, cJSON_Duplicate(prog, true)); /* complete stays complete */
    } else if (complete) {
        snprintf(msg, sizeof(msg), "%s \"%s\" has successfully progressed.", kind, who);
        add_condition(conds, old, "Progressing", "True", "NewReplicaSetAvailable", msg, now, false);
    } else if (progressing || !prog || !has_deadline) {
        snprintf(msg, sizeof(msg), "%s \"%s\" is progressing.", kind, who);
        add_condition(conds, old, "Progressing", "True", "ReplicaSetUpdated", msg, now,
                      progressing);
    } else {
        int64_t from = controller_parse_time(ctrl_str(prog, "lastUpdateTime"));
        bool exceeded = (preason && !strcmp(preason, "ProgressDeadlineExceeded")) ||
                        (from >= 0 && from + deadline < (int64_t)time(NULL));
        if (exceeded) {
            snprintf(msg, sizeof(msg), "%s \"%s\" has timed out progressing.", kind, who);
            add_condition(conds, old, "Progressing", "False", "ProgressDeadlineExceeded", msg, now,
                          false);
        } else {
            cJSON_AddItemToArray(conds, cJSON_Duplicate(prog, true));
            if (from >= 0) /* look again when the deadline passes */
                *requeue_ms = (from + deadline + 1 - (int64_t)time(NULL)) * 1000;
        }
    }
    /* compare without a changed timestamp making every sync a write */
    cJSON *cmp = cJSON_Duplicate(old, true);
    if (!cmp || !cJSON_Compare(cmp, st, true)) {
        cJSON *patch = cJSON_CreateObject();
        cJSON_AddItemToObject(patch, "status", st);
        st = NULL;
        const cJSON *meta = ctrl_get(d, "metadata");
        ctrl_patch(m, &CONTROLLER_RES_DEPLOY, ctrl_str(meta, "namespace"), ctrl_str(meta, "name"),
                   "status", patch);
        cJSON_Delete(patch);
    }
    cJSON_Delete(cmp);
    cJSON_Delete(st);
}

/* ---- rollouts -------------------------------------------------------------------------------- */

static void cleanup_history(controller_manager_t *m, const cJSON *d, const cJSON **old, size_t n)
{
    int64_t limit = ctrl_int(ctrl_get(d, "spec"), "revisionHistoryLimit", 10);
    const cJSON *idle[MAX_RS];
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (spec_replicas(old[i]) == 0 && status_int(old[i], "replicas") == 0 &&
            !ctrl_get(ctrl_get(old[i], "metadata"), "deletionTimestamp"))
            idle[k++] = old[i];
    if ((int64_t)k <= limit)
        return;
    qsort(idle, k, sizeof(*idle), cmp_revision);
    for (size_t i = 0; i < k - (size_t)limit; i++) {
        const cJSON *meta = ctrl_get(idle[i], "metadata");
        ctrl_pending_t *p = ctrl_pending_new(m, NULL, NULL, NULL);
        ctrl_pending_sent(p,
                          client_delete(m->client, &CONTROLLER_RES_RS, ctrl_str(meta, "namespace"),
                                        ctrl_str(meta, "name"), ctrl_pending_cb, p));
    }
}

/* Old ReplicaSets shrink: first the pods that are not available, then available ones while
 * replicas - maxUnavailable stay available (upstream reconcileOldReplicaSets). */
static void scale_down_old(controller_manager_t *m, const cJSON *d, const rs_list_t *all,
                           const cJSON *new_rs, const cJSON **old, size_t n, int64_t want,
                           int64_t surge, int64_t unavail)
{
    int64_t all_pods = 0, avail = 0, old_pods = 0;
    for (size_t i = 0; i < all->n; i++) {
        all_pods += spec_replicas(all->v[i]);
        avail += status_int(all->v[i], "availableReplicas");
    }
    for (size_t i = 0; i < n; i++)
        old_pods += spec_replicas(old[i]);
    if (old_pods == 0)
        return;
    int64_t max_down = controller_max_scaled_down(want, unavail, all_pods, spec_replicas(new_rs),
                                                  status_int(new_rs, "availableReplicas"));
    if (max_down <= 0)
        return;
    int64_t target[MAX_RS];
    for (size_t i = 0; i < n; i++)
        target[i] = spec_replicas(old[i]);
    for (size_t i = 0; i < n && max_down > 0; i++) { /* unhealthy first, oldest first */
        int64_t unhealthy = target[i] - status_int(old[i], "availableReplicas");
        if (target[i] == 0 || unhealthy <= 0)
            continue;
        int64_t down = unhealthy < max_down ? unhealthy : max_down;
        target[i] -= down;
        max_down -= down;
    }
    int64_t min_avail = want - unavail;
    int64_t can = avail - min_avail;
    for (size_t i = 0; i < n && can > 0; i++) {
        int64_t down = target[i] < can ? target[i] : can;
        target[i] -= down;
        can -= down;
    }
    for (size_t i = 0; i < n; i++)
        if (target[i] != spec_replicas(old[i]))
            scale_rs(m, d, old[i], target[i], want, surge);
}

/* ---- scaling ------------------------------------------------------------------------------- */

static int64_t annotation_int(const cJSON *rs, const char *k, int64_t def)
{
    const char *v = ctrl_str(ctrl_get(ctrl_get(rs, "metadata"), "annotations"), k);
    char *end = NULL;
    long long n = v ? strtoll(v, &end, 10) : 0;
    return v && *v && end && !*end && n >= 0 ? (int64_t)n : def;
}

/* upstream isScalingEvent: an active ReplicaSet was sized for another replica count. */
static bool scaling_event(const rs_list_t *all, int64_t want)
{
    for (size_t i = 0; i < all->n; i++)
        if (spec_replicas(all->v[i]) > 0 && annotation_int(all->v[i], DESIRED, want) != want)
            return true;
    return false;
}

static _Thread_local int64_t
    sort_sign; /* qsort has no context: 1 newer first (scaling up), -1 older first */

static int cmp_size(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    if (spec_replicas(x) != spec_replicas(y))
        return spec_replicas(x) > spec_replicas(y) ? -1 : 1;
    return sort_sign * -cmp_created(a, b);
}

/* upstream DeploymentController.scale: one active ReplicaSet takes all replicas; otherwise the
 * difference to replicas + maxSurge is spread over the active ones in proportion to their size
 * (against the max-replicas they were sized for), the rounding leftover to the largest. */
static void scale_proportionally(controller_manager_t *m, const cJSON *d, const rs_list_t *all,
                                 const cJSON *new_rs, int64_t want, int64_t surge)
{
    const cJSON *active[MAX_RS];
    size_t n = 0;
    int64_t total = 0;
    for (size_t i = 0; i < all->n; i++)
        if (spec_replicas(all->v[i]) > 0) {
            active[n++] = all->v[i];
            total += spec_replicas(all->v[i]);
        }
    if (n <= 1) {
        const cJSON *rs = n ? active[0] : new_rs;
        if (rs)
            scale_rs(m, d, rs, want, want, surge);
        return;
    }
    int64_t allowed = want + surge, to_add = allowed - total, added = 0;
    int64_t target[MAX_RS];
    sort_sign = to_add > 0 ? 1 : -1;
    qsort(active, n, sizeof(*active), cmp_size);
    for (size_t i = 0; i < n; i++) {
        int64_t cur = spec_replicas(active[i]), share = 0;
        if (to_add != 0 && added != to_add) {
            int64_t frac;
            if (want == 0) {
                frac = -cur;
            } else {
                int64_t annotated =
                    annotation_int(active[i], MAX_REPLICAS, status_int(d, "replicas"));
                frac = annotated > 0 ? (cur * allowed * 2 + annotated) / (2 * annotated) - cur : 0;
            }
            int64_t left = to_add - added;
            share = to_add > 0 ? (frac < left ? frac : left) : (frac > left ? frac : left);
        }
        target[i] = cur + share;
        added += share;
    }
    if (to_add != added) /* the leftover goes to the first (largest) */
        target[0] += to_add - added;
    for (size_t i = 0; i < n; i++)
        scale_rs(m, d, active[i], target[i] < 0 ? 0 : target[i], want, surge);
}

int ctrl_deploy_sync(controller_manager_t *m, const char *key)
{
    const char *slash = strchr(key, '/');
    if (!slash)
        return 0;
    char ns[256];
    snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
    const cJSON *d = client_informer_get(m->inf[CTRL_INF_DEPLOY], ns, slash + 1);
    char *ek = expect_key(key);
    if (!d) {
        controller_expect_delete(m->expect, ek);
        free(ek);
        return 0;
    }
    const cJSON *meta = ctrl_get(d, "metadata"), *spec = ctrl_get(d, "spec");
    static _Thread_local rs_list_t all; /* 4 KiB: not on the stack; syncs do not nest */
    all = (rs_list_t){.ns = ns, .uid = ctrl_str(meta, "uid")};
    if (!all.uid || ctrl_get(meta, "deletionTimestamp")) {
        free(ek);
        return 0;
    }
    client_informer_foreach(m->inf[CTRL_INF_RS], collect_rs, &all);
    qsort(all.v, all.n, sizeof(*all.v), cmp_created);
    int64_t want = ctrl_int(spec, "replicas", 1), collisions = status_int(d, "collisionCount");
    const cJSON *strategy = ctrl_get(spec, "strategy");
    const char *stype = ctrl_str(strategy, "type");
    bool recreate = stype && !strcmp(stype, "Recreate");
    int64_t surge = 0, unavail = 0;
    if (!recreate) {
        const cJSON *ru = ctrl_get(strategy, "rollingUpdate");
        util_error_t err = NULL;
        if (controller_fenceposts(ctrl_get(ru, "maxSurge"), ctrl_get(ru, "maxUnavailable"), want,
                                  &surge, &unavail, &err) < 0) {
            util_log_warn("deployment %s: %s", key, err ? err->msg : "bad rollingUpdate");
            util_error_free(&err);
            free(ek);
            return 0;
        }
    }
    char hash[16], h[16];
    deploy_template_hash(d, collisions, hash);
    const cJSON *new_rs = NULL, *old[MAX_RS];
    size_t nold = 0;
    int64_t max_old_rev = 0;
    for (size_t i = 0; i < all.n; i++) {
        rs_template_hash(all.v[i], collisions, h);
        if (!new_rs && !strcmp(h, hash)) {
            new_rs = all.v[i];
        } else {
            old[nold++] = all.v[i];
            if (revision(all.v[i]) > max_old_rev)
                max_old_rev = revision(all.v[i]);
        }
    }
    bool paused = cJSON_IsTrue(ctrl_get(spec, "paused"));
    bool satisfied = controller_expect_satisfied(m->expect, ek, ctrl_now(m));
    free(ek);
    if (!paused && satisfied && !recreate && scaling_event(&all, want)) {
        scale_proportionally(m, d, &all, new_rs, want, surge);
    } else if (!paused && satisfied) {
        if (new_rs && revision(new_rs) <= max_old_rev)
            set_annotation(m, &CONTROLLER_RES_RS, new_rs, REVISION, max_old_rev + 1);
        if (new_rs)
            set_annotation(m, &CONTROLLER_RES_DEPLOY, d, REVISION,
                           revision(new_rs) > max_old_rev ? revision(new_rs) : max_old_rev + 1);
        if (recreate) {
            bool scaled = false, running = false;
            for (size_t i = 0; i < nold; i++) {
                if (spec_replicas(old[i]) > 0) {
                    scale_rs(m, d, old[i], 0, want, 0);
                    scaled = true;
                }
                if (status_int(old[i], "replicas") > 0)
                    running = true;
            }
            if (!scaled && !running) {
                if (!new_rs)
                    create_rs(m, key, d, hash, want, max_old_rev + 1, want, 0);
                else if (spec_replicas(new_rs) != want)
                    scale_rs(m, d, new_rs, want, want, 0);
            }
        } else {
            int64_t total = 0;
            for (size_t i = 0; i < all.n; i++)
                total += spec_replicas(all.v[i]);
            if (!new_rs) {
                create_rs(m, key, d, hash, controller_new_rs_replicas(want, surge, total, 0),
                          max_old_rev + 1, want, surge);
            } else {
                int64_t cur = spec_replicas(new_rs);
                int64_t to =
                    cur > want ? want : controller_new_rs_replicas(want, surge, total, cur);
                if (to != cur)
                    scale_rs(m, d, new_rs, to, want, surge);
                else
                    scale_down_old(m, d, &all, new_rs, old, nold, want, surge, unavail);
            }
        }
        cleanup_history(m, d, old, nold);
    } else if (paused && satisfied && scaling_event(&all, want)) {
        scale_proportionally(m, d, &all, new_rs, want, surge); /* scaling works while paused */
    }
    int64_t requeue = 0;
    sync_status(m, d, &all, new_rs, unavail, &requeue);
    return requeue > 0 ? (int)(requeue < 3600000 ? requeue : 3600000) : 0;
}
