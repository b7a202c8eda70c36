/* controller_statefulset: upstream's StatefulSet controller (stateful_set_control.go): pods
 * `<set>-<ordinal>` for the ordinals [start, start + replicas), created in order and each only
 * once the previous is Running and Ready (OrderedReady) or all at once (Parallel), removed from
 * the highest ordinal down; claims from volumeClaimTemplates; rolling updates from the highest
 * ordinal down to the partition; revisions in ControllerRevisions; status. */
#include "controller/controller_sets.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_REPLICAS 100000 /* a sync looks at most at this many ordinals */

typedef struct sts_sync {
    controller_manager_t *m;
    const char *key, *ns, *name, *uid;
    const cJSON *set, *spec;
    const cJSON *cur_rev, *upd_rev;
    cJSON *cur_tmpl, *upd_tmpl;
    int64_t replicas, start, partition, min_ready, now;
    bool monotonic, rolling;
    const cJSON **slots;     /* by ordinal - start */
    const cJSON **condemned; /* ordinals outside the range, highest first */
    int64_t *condemned_ord;
    size_t ncondemned;
} sts_sync_t;

static const char *pod_name(const cJSON *pod)
{
    return ctrl_str(ctrl_get(pod, "metadata"), "name");
}

static const char *pod_revision(const cJSON *pod)
{
    return ctrl_str(ctrl_get(ctrl_get(pod, "metadata"), "labels"), CONTROLLER_REVISION_HASH_LABEL);
}

static const char *rev_name(const cJSON *rev)
{
    return ctrl_str(ctrl_get(rev, "metadata"), "name");
}

static bool phase_is(const cJSON *pod, const char *phase)
{
    const char *p = ctrl_str(ctrl_get(pod, "status"), "phase");
    return p && !strcmp(p, phase);
}

static sets_write_opts_t opts(const sts_sync_t *s)
{
    return (sets_write_opts_t){.kind = SETS_STS, .key = s->key, .parent = s->set};
}

/* ---- claims ---------------------------------------------------------------------------------- */

static bool has_ref(const cJSON *obj, const char *uid)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, ctrl_get(ctrl_get(obj, "metadata"), "ownerReferences"))
    {
        const char *u = ctrl_str(r, "uid");
        if (u && uid && !strcmp(u, uid))
            return true;
    }
    return false;
}

static cJSON *plain_ref(const char *api_version, const char *kind, const char *name,
                        const char *uid)
{
    cJSON *ref = cJSON_CreateObject();
    cJSON_AddStringToObject(ref, "apiVersion", api_version);
    cJSON_AddStringToObject(ref, "kind", kind);
    cJSON_AddStringToObject(ref, "name", name);
    cJSON_AddStringToObject(ref, "uid", uid);
    return ref;
}

static bool policy_delete(const cJSON *spec, const char *field)
{
    const char *v = ctrl_str(ctrl_get(spec, "persistentVolumeClaimRetentionPolicy"), field);
    return v && !strcmp(v, "Delete");
}

/* upstream updateClaimOwnerRefs: whenDeleted Delete gives the claim a reference to the set (the
 * garbage collector deletes it with the set); whenScaled Delete gives the claims of a condemned
 * ordinal a reference to its pod (they go with the pod). Retain drops them again. */
static void claim_refs(sts_sync_t *s, const cJSON *claim, const cJSON *pod, bool condemned)
{
    bool want_pod = condemned && pod && policy_delete(s->spec, "whenScaled");
    bool want_set = policy_delete(s->spec, "whenDeleted") && !want_pod;
    const char *pod_uid = pod ? ctrl_str(ctrl_get(pod, "metadata"), "uid") : NULL;
    bool have_set = has_ref(claim, s->uid), have_pod = pod_uid && has_ref(claim, pod_uid);
    if (want_set == have_set && (!pod || want_pod == have_pod))
        return;
    cJSON *patch = cJSON_CreateObject();
    cJSON *pm = cJSON_AddObjectToObject(patch, "metadata");
    cJSON *refs = cJSON_AddArrayToObject(pm, "ownerReferences");
    const cJSON *r;
    cJSON_ArrayForEach(r, ctrl_get(ctrl_get(claim, "metadata"), "ownerReferences"))
    {
        const char *u = ctrl_str(r, "uid");
        if (u && (!strcmp(u, s->uid) || (pod_uid && !strcmp(u, pod_uid))))
            continue;
        cJSON_AddItemToArray(refs, cJSON_Duplicate(r, true));
    }
    if (want_set)
        cJSON_AddItemToArray(refs, plain_ref("apps/v1", "StatefulSet", s->name, s->uid));
    if (want_pod)
        cJSON_AddItemToArray(refs, plain_ref("v1", "Pod", pod_name(pod), pod_uid));
    if (cJSON_GetArraySize(refs) == 0)
        cJSON_ReplaceItemInObjectCaseSensitive(pm, "ownerReferences", cJSON_CreateNull());
    sets_write_opts_t o = opts(s);
    sets_patch(s->m, &o, &CONTROLLER_RES_PVC, s->ns, ctrl_str(ctrl_get(claim, "metadata"), "name"),
               NULL, patch);
    cJSON_Delete(patch);
}

/* Creates the missing claims of ordinal; fixes the owner references of the present ones.
 * Returns the number of claims asked for. */
static int ensure_claims(sts_sync_t *s, int64_t ordinal, const cJSON *pod, bool condemned)
{
    int created = 0;
    const cJSON *ct;
    cJSON_ArrayForEach(ct, ctrl_get(s->spec, "volumeClaimTemplates"))
    {
        const char *cn = ctrl_str(ctrl_get(ct, "metadata"), "name");
        if (!cn)
            continue;
        char *name = controller_sts_claim_name(cn, s->name, ordinal);
        const cJSON *claim = client_informer_get(s->m->sets->inf[SETS_INF_PVC], s->ns, name);
        if (claim) {
            claim_refs(s, claim, pod, condemned);
        } else if (!condemned) {
            cJSON *pvc = controller_sts_claim(s->set, ct, ordinal);
            if (policy_delete(s->spec, "whenDeleted"))
                cJSON_AddItemToArray(
                    cJSON_AddArrayToObject(cJSON_GetObjectItemCaseSensitive(pvc, "metadata"),
                                           "ownerReferences"),
                    plain_ref("apps/v1", "StatefulSet", s->name, s->uid));
            char ok[512], fail[512];
            snprintf(ok, sizeof(ok), "create Claim %s Pod %s-%lld in StatefulSet %s success", name,
                     s->name, (long long)ordinal, s->name);
            snprintf(fail, sizeof(fail), "create Claim %s for Pod %s-%lld in StatefulSet %s failed",
                     name, s->name, (long long)ordinal, s->name);
            sets_write_opts_t o = opts(s);
            o.conflict_ok = true;
            o.ok_reason = "SuccessfulCreate";
            o.ok_msg = ok;
            o.fail_reason = "FailedCreate";
            o.fail_msg = fail;
            sets_create(s->m, &o, &CONTROLLER_RES_PVC, s->ns, pvc);
            cJSON_Delete(pvc);
            created++;
        }
        free(name);
    }
    return created;
}

/* ---- pods ------------------------------------------------------------------------------------ */

static void create_pod(sts_sync_t *s, int64_t ordinal)
{
    /* upstream newVersionedStatefulSetPod: below the partition the current revision (without
     * rollingUpdate: below start + status.currentReplicas) */
    const cJSON *ru = ctrl_get(ctrl_get(s->spec, "updateStrategy"), "rollingUpdate");
    int64_t below = cJSON_IsObject(ru) ? s->partition
                                       : ctrl_int(ctrl_get(s->set, "status"), "currentReplicas", 0);
    bool current = s->rolling && ordinal < s->start + below;
    const cJSON *rev = current ? s->cur_rev : s->upd_rev;
    cJSON *pod =
        controller_sts_pod(s->set, current ? s->cur_tmpl : s->upd_tmpl, rev_name(rev), ordinal);
    char ok[512], fail[512];
    snprintf(ok, sizeof(ok), "create Pod %s in StatefulSet %s successful", pod_name(pod), s->name);
    snprintf(fail, sizeof(fail), "create Pod %s in StatefulSet %s failed", pod_name(pod), s->name);
    sets_write_opts_t o = opts(s);
    o.expect = SETS_EXPECT_CREATE;
    o.ok_reason = "SuccessfulCreate";
    o.ok_msg = ok;
    o.fail_reason = "FailedCreate";
    o.fail_msg = fail;
    sets_create(s->m, &o, &CLIENT_RES_PODS, s->ns, pod);
    cJSON_Delete(pod);
}

static void delete_pod(sts_sync_t *s, const cJSON *pod)
{
    char ok[512], fail[512];
    snprintf(ok, sizeof(ok), "delete Pod %s in StatefulSet %s successful", pod_name(pod), s->name);
    snprintf(fail, sizeof(fail), "delete Pod %s in StatefulSet %s failed", pod_name(pod), s->name);
    sets_write_opts_t o = opts(s);
    o.expect = SETS_EXPECT_DELETE;
    o.uid = ctrl_str(ctrl_get(pod, "metadata"), "uid");
    o.ok_reason = "SuccessfulDelete";
    o.ok_msg = ok;
    o.fail_reason = "FailedDelete";
    o.fail_msg = fail;
    sets_delete(s->m, &o, &CLIENT_RES_PODS, s->ns, pod_name(pod));
}

/* upstream identityMatches / updateIdentity: the identity labels of a pod (a user may have
 * changed them) are put back; hostname and subdomain are immutable. */
static void repair_identity(sts_sync_t *s, const cJSON *pod, int64_t ordinal)
{
    const cJSON *labels = ctrl_get(ctrl_get(pod, "metadata"), "labels");
    const char *name = pod_name(pod), *pn = ctrl_str(labels, CONTROLLER_STS_POD_NAME_LABEL);
    const char *pi = ctrl_str(labels, CONTROLLER_STS_POD_INDEX_LABEL);
    char idx[24];
    snprintf(idx, sizeof(idx), "%lld", (long long)ordinal);
    if (pn && !strcmp(pn, name) && pi && !strcmp(pi, idx))
        return;
    cJSON *patch = cJSON_CreateObject();
    cJSON *l = cJSON_AddObjectToObject(cJSON_AddObjectToObject(patch, "metadata"), "labels");
    cJSON_AddStringToObject(l, CONTROLLER_STS_POD_NAME_LABEL, name);
    cJSON_AddStringToObject(l, CONTROLLER_STS_POD_INDEX_LABEL, idx);
    sets_write_opts_t o = opts(s);
    o.parent = NULL;
    sets_patch(s->m, &o, &CLIENT_RES_PODS, s->ns, name, NULL, patch);
    cJSON_Delete(patch);
}

static bool healthy(const sts_sync_t *s, const cJSON *pod)
{
    return sets_pod_running_ready(pod) &&
           (s->min_ready == 0 || controller_pod_available(pod, s->min_ready, s->now));
}

/* The ordinals in range, in order: replaces failed pods, creates missing ones (with their
 * claims). Returns false when OrderedReady must wait (for a create, a termination or
 * readiness). */
static bool sync_range(sts_sync_t *s)
{
    bool proceed = true;
    for (int64_t i = 0; i < s->replicas; i++) {
        const cJSON *pod = s->slots[i];
        int64_t ordinal = s->start + i;
        if (pod && (phase_is(pod, "Failed") || phase_is(pod, "Succeeded"))) {
            if (!sets_deleting(pod))
                delete_pod(s, pod); /* recreated once the deletion is observed */
            proceed = false;
            if (s->monotonic)
                return false;
            continue;
        }
        if (!pod) {
            ensure_claims(s, ordinal, NULL, false);
            create_pod(s, ordinal);
            proceed = false;
            if (s->monotonic)
                return false;
            continue;
        }
        ensure_claims(s, ordinal, pod, false);
        if (!sets_deleting(pod))
            repair_identity(s, pod, ordinal);
        if (s->monotonic && (sets_deleting(pod) || !healthy(s, pod)))
            return false;
    }
    return proceed || !s->monotonic;
}

/* Ordinals beyond the range go, highest first; OrderedReady one at a time. */
static bool sync_condemned(sts_sync_t *s)
{
    for (size_t i = 0; i < s->ncondemned; i++) {
        const cJSON *pod = s->condemned[i];
        ensure_claims(s, s->condemned_ord[i], pod, true);
        if (sets_deleting(pod)) {
            if (s->monotonic)
                return false;
            continue;
        }
        if (s->monotonic && !healthy(s, pod) && i > 0)
            return false;
        delete_pod(s, pod);
        if (s->monotonic)
            return false;
    }
    return s->ncondemned == 0;
}

/* RollingUpdate: from the highest ordinal down to the partition, one pod at a time, each
 * replaced once the one above is healthy again. */
static void sync_update(sts_sync_t *s)
{
    if (!s->rolling)
        return;
    int64_t min = s->partition < 0 ? 0 : s->partition;
    for (int64_t i = s->replicas - 1; i >= min; i--) {
        const cJSON *pod = s->slots[i];
        if (!pod)
            continue;
        const char *rev = pod_revision(pod);
        if ((!rev || strcmp(rev, rev_name(s->upd_rev))) && !sets_deleting(pod)) {
            delete_pod(s, pod);
            return;
        }
        if (!healthy(s, pod))
            return;
    }
}

/* ---- status ---------------------------------------------------------------------------------- */

static void add_num(cJSON *o, const char *k, int64_t v)
{
    cJSON_AddNumberToObject(o, k, (double)v);
}

static void update_status(sts_sync_t *s, const cJSON **pods, size_t n)
{
    int64_t replicas = 0, ready = 0, available = 0, current = 0, updated = 0;
    const char *cur = rev_name(s->cur_rev), *upd = rev_name(s->upd_rev);
    for (size_t i = 0; i < n; i++) {
        const cJSON *p = pods[i];
        replicas++;
        if (sets_pod_running_ready(p)) {
            ready++;
            if (controller_pod_available(p, s->min_ready, s->now))
                available++;
        }
        const char *rev = pod_revision(p);
        if (sets_deleting(p) || !rev)
            continue;
        if (cur && !strcmp(rev, cur))
            current++;
        if (upd && !strcmp(rev, upd))
            updated++;
    }
    /* upstream completeRollingUpdate: every pod updated and ready makes the update current */
    if (s->rolling && updated == replicas && ready == replicas) {
        cur = upd;
        current = updated;
    }
    const cJSON *st = ctrl_get(s->set, "status");
    int64_t gen = ctrl_int(ctrl_get(s->set, "metadata"), "generation", 0);
    const char *ocur = ctrl_str(st, "currentRevision"), *oupd = ctrl_str(st, "updateRevision");
    if (ctrl_int(st, "replicas", -1) == replicas && ctrl_int(st, "readyReplicas", 0) == ready &&
        ctrl_int(st, "availableReplicas", 0) == available &&
        ctrl_int(st, "currentReplicas", 0) == current &&
        ctrl_int(st, "updatedReplicas", 0) == updated &&
        ctrl_int(st, "observedGeneration", -1) == gen && ocur && cur && !strcmp(ocur, cur) &&
        oupd && upd && !strcmp(oupd, upd))
        return;
    cJSON *patch = cJSON_CreateObject();
    cJSON *ps = cJSON_AddObjectToObject(patch, "status");
    add_num(ps, "observedGeneration", gen);
    add_num(ps, "replicas", replicas);
    add_num(ps, "readyReplicas", ready);
    add_num(ps, "currentReplicas", current);
    add_num(ps, "updatedReplicas", updated);
    add_num(ps, "availableReplicas", available);
    cJSON_AddStringToObject(ps, "currentRevision", cur ? cur : "");
    cJSON_AddStringToObject(ps, "updateRevision", upd ? upd : "");
    add_num(ps, "collisionCount", ctrl_int(st, "collisionCount", 0));
    sets_write_opts_t o = opts(s);
    o.parent = NULL;
    sets_patch(s->m, &o, &CONTROLLER_RES_STS, s->ns, s->name, "status", patch);
    cJSON_Delete(patch);
}

/* ---- sync ------------------------------------------------------------------------------------ */

/* Sorts the owned pods into the ordinal slots and the condemned list (highest first). */
static void place_pods(sts_sync_t *s, const cJSON **pods, size_t n)
{
    s->slots = util_xcalloc((size_t)(s->replicas ? s->replicas : 1), sizeof(*s->slots));
    s->condemned = util_xcalloc(n ? n : 1, sizeof(*s->condemned));
    s->condemned_ord = util_xcalloc(n ? n : 1, sizeof(*s->condemned_ord));
    for (size_t i = 0; i < n; i++) {
        int64_t ord;
        if (!controller_sts_ordinal(s->name, pod_name(pods[i]), &ord))
            continue;
        if (ord >= s->start && ord < s->start + s->replicas) {
            s->slots[ord - s->start] = pods[i];
            continue;
        }
        size_t j = s->ncondemned++;
        for (; j > 0 && s->condemned_ord[j - 1] < ord; j--) {
            s->condemned[j] = s->condemned[j - 1];
            s->condemned_ord[j] = s->condemned_ord[j - 1];
        }
        s->condemned[j] = pods[i];
        s->condemned_ord[j] = ord;
    }
}

static void sync_free(sts_sync_t *s)
{
    cJSON_Delete(s->cur_tmpl);
    cJSON_Delete(s->upd_tmpl);
    free(s->slots);
    free(s->condemned);
    free(s->condemned_ord);
}

static void prune(sts_sync_t *s, const cJSON **revs, size_t nrevs, const cJSON **pods, size_t n)
{
    const char **live = util_xcalloc(n + 2, sizeof(*live));
    size_t nl = 0;
    live[nl++] = rev_name(s->cur_rev);
    live[nl++] = rev_name(s->upd_rev);
    for (size_t i = 0; i < n; i++)
        live[nl++] = pod_revision(pods[i]);
    sets_prune_history(s->m, SETS_STS, s->key, s->set, revs, nrevs, live, nl);
    free(live);
}

int ctrl_sts_sync(controller_manager_t *m, const char *key)
{
    const char *slash = strchr(key, '/');
    if (!slash || !m->sets)
        return 0;
    char ns[256];
    snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
    const cJSON *set = client_informer_get(m->sets->inf[SETS_INF_STS], ns, slash + 1);
    if (!set) {
        controller_expect_delete(m->sets->expect[SETS_STS], key);
        controller_queue_forget(m->sets->q[SETS_STS], key);
        return 0;
    }
    const cJSON *spec = ctrl_get(set, "spec"), *us = ctrl_get(spec, "updateStrategy");
    const char *ut = ctrl_str(us, "type"), *pmp = ctrl_str(spec, "podManagementPolicy");
    sts_sync_t s = {
        .m = m,
        .key = key,
        .ns = ns,
        .name = slash + 1,
        .uid = ctrl_str(ctrl_get(set, "metadata"), "uid"),
        .set = set,
        .spec = spec,
        .replicas = ctrl_int(spec, "replicas", 1),
        .start = ctrl_int(ctrl_get(spec, "ordinals"), "start", 0),
        .min_ready = ctrl_int(spec, "minReadySeconds", 0),
        .now = time(NULL),
        .monotonic = !pmp || strcmp(pmp, "Parallel"),
        .rolling = !ut || !strcmp(ut, "RollingUpdate"),
    };
    s.partition = ctrl_int(ctrl_get(us, "rollingUpdate"), "partition", 0);
    if (!s.uid || s.replicas < 0 || s.replicas > MAX_REPLICAS || s.start < 0)
        return 0; /* validation keeps these out */
    size_t nrevs = 0, npods = 0;
    const cJSON **revs = sets_owned(m, SETS_STS, set, SETS_INF_CR, &nrevs);
    controller_revisions_sort(revs, nrevs);
    s.upd_rev = sets_update_revision(m, SETS_STS, key, set, revs, nrevs);
    if (!s.upd_rev) { /* a new revision is on its way: its informer event brings us back */
        free(revs);
        return 0;
    }
    const char *cur_name = ctrl_str(ctrl_get(set, "status"), "currentRevision");
    s.cur_rev = s.upd_rev;
    for (size_t i = 0; cur_name && i < nrevs; i++)
        if (!strcmp(rev_name(revs[i]), cur_name))
            s.cur_rev = revs[i];
    s.cur_tmpl = controller_revision_template(s.cur_rev);
    s.upd_tmpl = controller_revision_template(s.upd_rev);
    const cJSON **pods = sets_owned(m, SETS_STS, set, -1, &npods);
    place_pods(&s, pods, npods);
    if (controller_expect_satisfied(m->sets->expect[SETS_STS], key, ctrl_now(m)) &&
        !sets_deleting(set) && s.cur_tmpl && s.upd_tmpl) {
        if (sync_range(&s) && sync_condemned(&s))
            sync_update(&s);
    }
    update_status(&s, pods, npods);
    prune(&s, revs, nrevs, pods, npods);
    int64_t requeue = 0;
    for (size_t i = 0; s.min_ready > 0 && i < npods; i++)
        if (sets_pod_running_ready(pods[i]) &&
            !controller_pod_available(pods[i], s.min_ready, s.now))
            requeue = s.min_ready * 1000;
    sync_free(&s);
    free(pods);
    free(revs);
    return (int)requeue;
}
