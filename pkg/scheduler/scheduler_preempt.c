/* scheduler_preempt: upstream's DefaultPreemption PostFilter. When no node fits a pod, find the
 * node where deleting the fewest and least important lower-priority pods makes it fit, with
 * PodDisruptionBudgets respected where possible; and nominated pods, which count on the node
 * they were nominated to while pods of no higher priority are filtered. The what-if runs on the
 * live snapshot: pods are taken off a node and put back before returning. */
#include "scheduler/scheduler_internal.h"
#include "labels/labels.h"

#include <stdlib.h>
#include <string.h>

#define REASON_NO_VICTIMS  "No preemption victims found for incoming pod"
#define REASON_NOT_HELPFUL "Preemption is not helpful for scheduling"
#define NOT_ELIGIBLE_NEVER "not eligible due to preemptionPolicy=Never."
#define NOT_ELIGIBLE_WAIT  "not eligible due to a terminating pod on the nominated node."

/* ---- taking pods off a node and back -------------------------------------------------------- */

static void node_take(sched_node_t *n, const sched_pod_t *p)
{
    for (size_t i = 0; i < n->npods; i++) {
        if (n->pods[i] == p) {
            memmove(&n->pods[i], &n->pods[i + 1], (n->npods - i - 1) * sizeof(*n->pods));
            n->npods--;
            sched_node_resum(n);
            return;
        }
    }
}

/* ---- nominated pods ------------------------------------------------------------------------- */

size_t sched_nominated_add(scheduler_snapshot_t *s, const cJSON *pod, sched_pod_t ***ret)
{
    *ret = NULL;
    if (!s->nnominated)
        return 0;
    const char *ns = sched_str(pod, "metadata.namespace"), *name = sched_str(pod, "metadata.name");
    int32_t prio = scheduler_pod_priority(s, pod);
    sched_pod_t **added = util_xcalloc(s->nnominated, sizeof(*added));
    size_t k = 0;
    for (size_t i = 0; i < s->nnominated; i++) {
        sched_pod_t *p = s->nominated[i];
        if (strcmp(p->ns, ns ? ns : "default") == 0 && name && strcmp(p->name, name) == 0)
            continue;
        if (scheduler_pod_priority(s, p->obj) < prio)
            continue;
        sched_node_t *n = sched_find_node(s, p->node);
        if (!n)
            continue;
        sched_node_attach(n, p);
        added[k++] = p;
    }
    *ret = added;
    return k;
}

void sched_nominated_remove(scheduler_snapshot_t *s, sched_pod_t **added, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sched_node_t *node = sched_find_node(s, added[i]->node);
        if (node)
            node_take(node, added[i]);
    }
    free(added);
}

/* ---- victims -------------------------------------------------------------------------------- */

static const char *start_time(const cJSON *pod)
{
    const char *t = sched_str(pod, "status.startTime");
    return t ? t : "\x7f"; /* not started: now, later than any recorded time */
}

typedef struct victim {
    sched_pod_t *p;
    int32_t prio;
    bool violating;
} victim_t;

/* upstream's MoreImportantPod: higher priority, then started earlier. */
static int more_important_first(const void *a, const void *b)
{
    const victim_t *x = a, *y = b;
    if (x->prio != y->prio)
        return x->prio > y->prio ? -1 : 1;
    return strcmp(start_time(x->p->obj), start_time(y->p->obj));
}

/* filterPodsWithPDBViolation: in importance order, each matching budget's disruptionsAllowed is
 * spent; a pod that takes one below zero violates it. */
static void mark_pdb_violations(const scheduler_snapshot_t *s, victim_t *v, size_t n)
{
    size_t npdb = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, s->objects)
    {
        const char *kind = sched_str(o, "kind");
        npdb += kind && strcmp(kind, "PodDisruptionBudget") == 0;
    }
    if (!npdb)
        return;
    int64_t *allowed = util_xcalloc(npdb, sizeof(*allowed));
    const cJSON **pdbs = util_xcalloc(npdb, sizeof(*pdbs));
    size_t k = 0;
    cJSON_ArrayForEach(o, s->objects)
    {
        const char *kind = sched_str(o, "kind");
        if (!kind || strcmp(kind, "PodDisruptionBudget") != 0)
            continue;
        const cJSON *a = sched_get(o, "status.disruptionsAllowed");
        allowed[k] = cJSON_IsNumber(a) ? (int64_t)a->valuedouble : 0;
        pdbs[k++] = o;
    }
    for (size_t i = 0; i < n; i++) {
        const cJSON *labels = sched_get(v[i].p->obj, "metadata.labels");
        if (cJSON_GetArraySize(labels) == 0)
            continue;
        for (size_t j = 0; j < npdb; j++) {
            const char *pns = sched_str(pdbs[j], "metadata.namespace");
            if (!pns || strcmp(pns, v[i].p->ns) != 0)
                continue;
            const cJSON *sel = sched_get(pdbs[j], "spec.selector");
            labels_selector_t *ls = NULL;
            util_error_t err = NULL;
            if (!cJSON_IsObject(sel) || labels_selector_from_json(sel, &ls, &err) < 0) {
                util_error_free(&err);
                continue;
            }
            bool match = !labels_selector_empty(ls) && labels_selector_matches(ls, labels);
            labels_selector_free(ls);
            if (!match)
                continue;
            const cJSON *disrupted = sched_get(pdbs[j], "status.disruptedPods");
            if (cJSON_IsObject(disrupted) &&
                cJSON_GetObjectItemCaseSensitive(disrupted, v[i].p->name))
                continue;
            if (--allowed[j] < 0)
                v[i].violating = true;
        }
    }
    free(allowed);
    free(pdbs);
}

static bool fits(const scheduler_snapshot_t *s, const cJSON *pod, const sched_node_t *n,
                 sched_status_t *st)
{
    sched_cycle_t *cy = sched_cycle_new(s, pod);
    sched_status_t local = {0};
    sched_status_t *use = st ? st : &local;
    sched_filter(s, cy, pod, n, use);
    sched_cycle_free(cy);
    bool ok = use->code == SCHED_OK;
    sched_status_clear(&local);
    return ok;
}

typedef struct candidate {
    sched_node_t *node;
    victim_t *victims; /* the pods to delete, most important first */
    size_t nvictims;
    int64_t violations;
} candidate_t;

/* SelectVictimsOnNode: true with the victims in c, or false with the node's verdict in st. */
static bool select_victims(scheduler_snapshot_t *s, const cJSON *pod, int32_t prio, sched_node_t *n,
                           candidate_t *c, sched_status_t *st)
{
    victim_t *v = util_xcalloc(n->npods ? n->npods : 1, sizeof(*v));
    size_t nv = 0;
    for (size_t i = 0; i < n->npods; i++) {
        int32_t p = scheduler_pod_priority(s, n->pods[i]->obj);
        if (p < prio)
            v[nv++] = (victim_t){n->pods[i], p, false};
    }
    if (nv == 0) {
        free(v);
        sched_status_add(st, SCHED_UNRESOLVABLE, REASON_NO_VICTIMS);
        return false;
    }
    for (size_t i = 0; i < nv; i++)
        node_take(n, v[i].p);
    if (!fits(s, pod, n, st)) {
        for (size_t i = 0; i < nv; i++)
            sched_node_attach(n, v[i].p);
        free(v);
        return false;
    }
    qsort(v, nv, sizeof(*v), more_important_first);
    mark_pdb_violations(s, v, nv);
    /* Reprieve as many as possible: budget-violating pods first, then the others, each group
     * from the most important down. */
    c->victims = util_xcalloc(nv, sizeof(*c->victims));
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < nv; i++) {
            if (v[i].violating != (pass == 0))
                continue;
            sched_node_attach(n, v[i].p);
            if (!fits(s, pod, n, NULL)) {
                node_take(n, v[i].p);
                c->victims[c->nvictims++] = v[i];
                c->violations += v[i].violating;
            }
        }
    }
    /* put the node back as it was */
    for (size_t i = 0; i < c->nvictims; i++)
        sched_node_attach(n, c->victims[i].p);
    qsort(c->victims, c->nvictims, sizeof(*c->victims), more_important_first);
    c->node = n;
    free(v);
    return true;
}

/* pickOneNodeForPreemption: fewest budget violations, lowest highest victim priority, lowest
 * priority sum, fewest victims, latest start among the most important victims, first. */
static int64_t criterion(const candidate_t *c, int which)
{
    int64_t sum = 0;
    switch (which) {
    case 0:
        return -c->violations;
    case 1:
        return c->nvictims ? -(int64_t)c->victims[0].prio : 0;
    case 2:
        for (size_t i = 0; i < c->nvictims; i++)
            sum += (int64_t)c->victims[i].prio + (int64_t)INT32_MAX + 1;
        return -sum;
    case 3:
        return -(int64_t)c->nvictims;
    default:
        return 0;
    }
}

/* The earliest start time among the victims of the highest priority. */
static const char *earliest_top_start(const candidate_t *c)
{
    const char *best = NULL;
    for (size_t i = 0; i < c->nvictims && c->victims[i].prio == c->victims[0].prio; i++) {
        const char *t = start_time(c->victims[i].p->obj);
        if (!best || strcmp(t, best) < 0)
            best = t;
    }
    return best ? best : "";
}

static size_t pick_candidate(const candidate_t *c, size_t n)
{
    bool *alive = util_xcalloc(n, sizeof(*alive));
    for (size_t i = 0; i < n; i++)
        alive[i] = true;
    size_t left = n;
    for (int which = 0; which < 4 && left > 1; which++) {
        int64_t best = INT64_MIN;
        for (size_t i = 0; i < n; i++)
            if (alive[i] && criterion(&c[i], which) > best)
                best = criterion(&c[i], which);
        left = 0;
        for (size_t i = 0; i < n; i++) {
            alive[i] = alive[i] && criterion(&c[i], which) == best;
            left += alive[i];
        }
    }
    size_t pick = n;
    for (size_t i = 0; i < n; i++) {
        if (!alive[i])
            continue;
        if (pick == n || strcmp(earliest_top_start(&c[i]), earliest_top_start(&c[pick])) > 0)
            pick = i;
    }
    free(alive);
    return pick;
}

/* ---- the PostFilter ------------------------------------------------------------------------- */

/* PodEligibleToPreemptOthers: NULL when eligible, else upstream's reason. */
static const char *not_eligible(const scheduler_snapshot_t *s, const cJSON *pod, int32_t prio,
                                const sched_status_t *st)
{
    const char *policy = sched_str(pod, "spec.preemptionPolicy");
    if (policy && strcmp(policy, "Never") == 0)
        return NOT_ELIGIBLE_NEVER;
    const char *nom = sched_str(pod, "status.nominatedNodeName");
    const sched_node_t *n = nom && *nom ? sched_find_node(s, nom) : NULL;
    if (!n)
        return NULL;
    for (size_t i = 0; i < s->nnodes; i++)
        if (s->nodes[i] == n && st[i].code == SCHED_UNRESOLVABLE)
            return NULL; /* the nominated node cannot work any more: preempt elsewhere */
    for (size_t i = 0; i < n->npods; i++) {
        const cJSON *p = n->pods[i]->obj;
        if (!sched_get(p, "metadata.deletionTimestamp") || scheduler_pod_priority(s, p) >= prio)
            continue;
        const cJSON *c;
        cJSON_ArrayForEach(c, sched_get(p, "status.conditions"))
        {
            const char *type = sched_str(c, "type"), *status = sched_str(c, "status");
            const char *reason = sched_str(c, "reason");
            if (type && strcmp(type, "DisruptionTarget") == 0 && status &&
                strcmp(status, "True") == 0 && reason &&
                strcmp(reason, "PreemptionByScheduler") == 0)
                return NOT_ELIGIBLE_WAIT;
        }
    }
    return NULL;
}

void sched_preempt(scheduler_snapshot_t *s, const cJSON *pod, const sched_status_t *st,
                   sched_hist_fn add, void *hist, scheduler_result_t *ret, const char **ret_msg)
{
    int32_t prio = scheduler_pod_priority(s, pod);
    *ret_msg = not_eligible(s, pod, prio, st);
    if (*ret_msg)
        return;
    candidate_t *c = util_xcalloc(s->nnodes, sizeof(*c));
    size_t nc = 0;
    for (size_t i = 0; i < s->nnodes; i++) {
        if (st[i].code == SCHED_UNRESOLVABLE) {
            add(hist, REASON_NOT_HELPFUL);
            continue;
        }
        sched_status_t vst = {0};
        if (select_victims(s, pod, prio, s->nodes[i], &c[nc], &vst)) {
            nc++;
        } else {
            for (size_t j = 0; j < vst.nreasons; j++)
                add(hist, vst.reasons[j]);
        }
        sched_status_clear(&vst);
    }
    if (nc) {
        const candidate_t *best = &c[pick_candidate(c, nc)];
        ret->nominated_node = util_xstrdup(best->node->name);
        ret->victims = cJSON_CreateArray();
        for (size_t i = 0; i < best->nvictims; i++)
            cJSON_AddItemToArray(ret->victims, cJSON_Duplicate(best->victims[i].p->obj, true));
    }
    for (size_t i = 0; i < nc; i++)
        free(c[i].victims);
    free(c);
}
