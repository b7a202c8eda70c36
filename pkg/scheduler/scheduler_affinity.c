/* scheduler_affinity: node affinity, inter-pod affinity and topology spread filters. */
#include "scheduler/scheduler_internal.h"
#include "labels/labels.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- node selectors (k8s.io/component-helpers/scheduling/corev1/nodeaffinity) ------------- */

static bool values_contain(const cJSON *values, const char *v)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, values)
    {
        if (cJSON_IsString(x) && v && strcmp(x->valuestring, v) == 0)
            return true;
    }
    return false;
}

static bool parse_i64(const char *s, long long *ret)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *ret = v;
    return true;
}

/* One NodeSelectorRequirement against a value (NULL: the label is absent). */
static bool requirement_matches(const cJSON *req, const char *value, bool fields)
{
    const char *op = sched_str(req, "operator");
    const cJSON *values = cJSON_GetObjectItemCaseSensitive(req, "values");
    if (!op)
        return false;
    if (strcmp(op, "In") == 0)
        return value && values_contain(values, value);
    if (strcmp(op, "NotIn") == 0)
        return !value || !values_contain(values, value);
    if (fields) /* matchFields supports In and NotIn only */
        return false;
    if (strcmp(op, "Exists") == 0)
        return value != NULL;
    if (strcmp(op, "DoesNotExist") == 0)
        return value == NULL;
    if (strcmp(op, "Gt") == 0 || strcmp(op, "Lt") == 0) {
        long long have, want;
        const cJSON *first = cJSON_GetArrayItem(values, 0);
        if (cJSON_GetArraySize(values) != 1 || !cJSON_IsString(first) || !parse_i64(value, &have) ||
            !parse_i64(first->valuestring, &want))
            return false;
        return op[0] == 'G' ? have > want : have < want;
    }
    return false;
}

bool sched_node_selector_term_matches(const cJSON *term, const sched_node_t *n)
{
    const cJSON *exprs = cJSON_GetObjectItemCaseSensitive(term, "matchExpressions");
    const cJSON *fields = cJSON_GetObjectItemCaseSensitive(term, "matchFields");
    if (cJSON_GetArraySize(exprs) == 0 && cJSON_GetArraySize(fields) == 0)
        return false; /* an empty term matches no objects */
    const cJSON *r;
    cJSON_ArrayForEach(r, exprs)
    {
        if (!requirement_matches(r, sched_label(n->labels, sched_str(r, "key")), false))
            return false;
    }
    cJSON_ArrayForEach(r, fields)
    {
        const char *key = sched_str(r, "key");
        if (!key || strcmp(key, "metadata.name") != 0 || !requirement_matches(r, n->name, true))
            return false;
    }
    return true;
}

bool sched_node_matches_pod_affinity(const cJSON *pod, const sched_node_t *n)
{
    const cJSON *kv;
    cJSON_ArrayForEach(kv, sched_get(pod, "spec.nodeSelector"))
    {
        const char *have = sched_label(n->labels, kv->string);
        if (!cJSON_IsString(kv) || !have || strcmp(have, kv->valuestring) != 0)
            return false;
    }
    const cJSON *req =
        sched_get(pod, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution");
    if (!req)
        return true;
    const cJSON *term;
    cJSON_ArrayForEach(term, cJSON_GetObjectItemCaseSensitive(req, "nodeSelectorTerms"))
    {
        if (sched_node_selector_term_matches(term, n))
            return true;
    }
    return false;
}

/* ---- pod affinity terms --------------------------------------------------------------------- */

/* Namespaces of a PodAffinityTerm: the listed ones, all when namespaceSelector is {}, else the
 * owner's. (A non-empty namespaceSelector needs Namespace labels we do not track: only the
 * listed namespaces then count.) */
static bool term_namespace_matches(const cJSON *term, const char *term_ns, const char *ns)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(term, "namespaces");
    const cJSON *nsel = cJSON_GetObjectItemCaseSensitive(term, "namespaceSelector");
    if (values_contain(list, ns))
        return true;
    if (cJSON_IsObject(nsel))
        return nsel->child == NULL;
    return cJSON_GetArraySize(list) == 0 && strcmp(term_ns ? term_ns : "default", ns) == 0;
}

bool sched_term_matches_obj(const cJSON *term, const char *term_ns, const cJSON *pod)
{
    const char *ns = sched_str(pod, "metadata.namespace");
    if (!term_namespace_matches(term, term_ns, ns ? ns : "default"))
        return false;
    const cJSON *sel = cJSON_GetObjectItemCaseSensitive(term, "labelSelector");
    if (!cJSON_IsObject(sel))
        return false; /* a null selector matches nothing */
    labels_selector_t *ls = NULL;
    util_error_t err = NULL;
    if (labels_selector_from_json(sel, &ls, &err) < 0) {
        util_error_free(&err);
        return false;
    }
    bool m = ls && labels_selector_matches_object(ls, pod);
    labels_selector_free(ls);
    return m;
}

bool sched_term_matches_pod(const cJSON *term, const char *term_ns, const sched_pod_t *p)
{
    if (sched_get(p->obj, "metadata.deletionTimestamp"))
        return false;
    return sched_term_matches_obj(term, term_ns, p->obj);
}

/* True if some pod matching term runs on a node whose topologyKey value equals value. */
static bool pods_in_domain(const scheduler_snapshot_t *s, const cJSON *term, const char *term_ns,
                           const char *value, size_t *ret_total)
{
    const char *key = sched_str(term, "topologyKey");
    bool found = false;
    for (size_t i = 0; key && i < s->nnodes; i++) {
        const char *v = sched_label(s->nodes[i]->labels, key);
        if (!v)
            continue;
        for (size_t j = 0; j < s->nodes[i]->npods; j++) {
            if (!sched_term_matches_pod(term, term_ns, s->nodes[i]->pods[j]))
                continue;
            if (ret_total)
                (*ret_total)++;
            if (value && strcmp(v, value) == 0) {
                found = true;
                if (!ret_total)
                    return true;
            }
        }
    }
    return found;
}

#define REQUIRED "requiredDuringSchedulingIgnoredDuringExecution"

static bool satisfies_affinity(const scheduler_snapshot_t *s, const cJSON *pod,
                               const sched_node_t *n)
{
    const cJSON *terms = sched_get(pod, "spec.affinity.podAffinity." REQUIRED);
    const char *ns = sched_str(pod, "metadata.namespace");
    if (cJSON_GetArraySize(terms) == 0)
        return true;
    bool ok = true, self_matches = true;
    size_t total = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, terms)
    {
        const char *value = sched_label(n->labels, sched_str(t, "topologyKey"));
        if (!pods_in_domain(s, t, ns, value, &total) || !value)
            ok = false;
        self_matches &= sched_term_matches_obj(t, ns, pod);
    }
    /* The first pod of a group that selects itself may go anywhere (upstream's special case
     * for when no pod in the cluster matches the terms). */
    return ok || (total == 0 && self_matches);
}

static bool satisfies_anti_affinity(const scheduler_snapshot_t *s, const cJSON *pod,
                                    const sched_node_t *n)
{
    const char *ns = sched_str(pod, "metadata.namespace");
    const cJSON *t;
    cJSON_ArrayForEach(t, sched_get(pod, "spec.affinity.podAntiAffinity." REQUIRED))
    {
        const char *value = sched_label(n->labels, sched_str(t, "topologyKey"));
        if (value && pods_in_domain(s, t, ns, value, NULL))
            return false;
    }
    return true;
}

/* Existing pods whose required anti-affinity selects the incoming pod forbid their domain. */
static bool satisfies_existing_anti_affinity(const scheduler_snapshot_t *s, const cJSON *pod,
                                             const sched_node_t *n)
{
    for (size_t i = 0; i < s->nnodes; i++) {
        const sched_node_t *m = s->nodes[i];
        for (size_t j = 0; m->nanti && j < m->npods; j++) {
            const sched_pod_t *e = m->pods[j];
            if (!e->has_anti)
                continue;
            const cJSON *t, *terms = sched_get(e->obj, "spec.affinity.podAntiAffinity." REQUIRED);
            cJSON_ArrayForEach(t, terms)
            {
                const char *key = sched_str(t, "topologyKey");
                const char *mv = sched_label(m->labels, key), *nv = sched_label(n->labels, key);
                if (mv && nv && strcmp(mv, nv) == 0 && sched_term_matches_obj(t, e->ns, pod))
                    return false;
            }
        }
    }
    return true;
}

void sched_filter_inter_pod(const scheduler_snapshot_t *s, const cJSON *pod, const sched_node_t *n,
                            sched_status_t *st)
{
    if (!satisfies_affinity(s, pod, n))
        sched_status_add(st, SCHED_UNRESOLVABLE, "node(s) didn't match pod affinity rules");
    else if (!satisfies_anti_affinity(s, pod, n))
        sched_status_add(st, SCHED_UNSCHEDULABLE, "node(s) didn't match pod anti-affinity rules");
    else if (!satisfies_existing_anti_affinity(s, pod, n))
        sched_status_add(st, SCHED_UNSCHEDULABLE,
                         "node(s) didn't satisfy existing pods anti-affinity rules");
}

/* ---- PodTopologySpread (DoNotSchedule) ------------------------------------------------------ */

static bool is_hard(const cJSON *c)
{
    const char *w = sched_str(c, "whenUnsatisfiable");
    return w && strcmp(w, "DoNotSchedule") == 0;
}

/* Nodes considered for spreading: they carry every hard constraint's key and, with the
 * default nodeAffinityPolicy Honor, match the pod's node selector and affinity. */
static bool spread_eligible(const cJSON *pod, const cJSON *constraints, const sched_node_t *m)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, constraints)
    {
        if (is_hard(c) && !sched_label(m->labels, sched_str(c, "topologyKey")))
            return false;
    }
    return sched_node_matches_pod_affinity(pod, m);
}

static size_t count_matching(const sched_node_t *m, const labels_selector_t *sel, const char *ns)
{
    size_t k = 0;
    for (size_t j = 0; j < m->npods; j++) {
        const sched_pod_t *p = m->pods[j];
        if (strcmp(p->ns, ns) == 0 && !sched_get(p->obj, "metadata.deletionTimestamp") &&
            labels_selector_matches_object(sel, p->obj))
            k++;
    }
    return k;
}

/* Skew check of one constraint for node n. */
static bool constraint_ok(const scheduler_snapshot_t *s, const cJSON *pod, const cJSON *constraints,
                          const cJSON *c, const sched_node_t *n, const labels_selector_t *sel)
{
    const char *key = sched_str(c, "topologyKey"), *nv = sched_label(n->labels, key);
    const char *ns = sched_str(pod, "metadata.namespace");
    const cJSON *skew = cJSON_GetObjectItemCaseSensitive(c, "maxSkew");
    const cJSON *mind = cJSON_GetObjectItemCaseSensitive(c, "minDomains");
    long max_skew = cJSON_IsNumber(skew) ? (long)skew->valuedouble : 1;
    long min_domains = cJSON_IsNumber(mind) ? (long)mind->valuedouble : 1;
    ns = ns ? ns : "default";
    /* Count per domain (value), over eligible nodes. */
    const char **values = util_xcalloc(s->nnodes + 1, sizeof(*values));
    size_t *counts = util_xcalloc(s->nnodes + 1, sizeof(*counts)), ndom = 0, here = 0;
    for (size_t i = 0; i < s->nnodes; i++) {
        const sched_node_t *m = s->nodes[i];
        if (!spread_eligible(pod, constraints, m))
            continue;
        const char *v = sched_label(m->labels, key);
        size_t d = 0;
        while (d < ndom && strcmp(values[d], v) != 0)
            d++;
        if (d == ndom)
            values[ndom++] = v;
        counts[d] += count_matching(m, sel, ns);
    }
    size_t min = SIZE_MAX;
    for (size_t d = 0; d < ndom; d++) {
        if (counts[d] < min)
            min = counts[d];
        if (strcmp(values[d], nv) == 0)
            here = counts[d];
    }
    if (ndom == 0 || (long)ndom < min_domains)
        min = 0;
    free(values);
    free(counts);
    size_t self = labels_selector_matches_object(sel, pod) ? 1 : 0;
    return (long)(here + self) - (long)min <= max_skew;
}

void sched_filter_topology_spread(const scheduler_snapshot_t *s, const cJSON *pod,
                                  const sched_node_t *n, sched_status_t *st)
{
    const cJSON *c, *constraints = sched_get(pod, "spec.topologySpreadConstraints");
    cJSON_ArrayForEach(c, constraints)
    {
        if (!is_hard(c))
            continue;
        if (!sched_label(n->labels, sched_str(c, "topologyKey"))) {
            sched_status_add(st, SCHED_UNRESOLVABLE,
                             "node(s) didn't match pod topology spread constraints (missing "
                             "required label)");
            return;
        }
    }
    cJSON_ArrayForEach(c, constraints)
    {
        if (!is_hard(c))
            continue;
        labels_selector_t *sel = NULL;
        util_error_t err = NULL;
        const cJSON *ls = cJSON_GetObjectItemCaseSensitive(c, "labelSelector");
        if (labels_selector_from_json(ls, &sel, &err) < 0 || !sel) {
            util_error_free(&err);
            continue; /* a constraint without a selector matches no pods: skew 0 */
        }
        bool ok = constraint_ok(s, pod, constraints, c, n, sel);
        labels_selector_free(sel);
        if (!ok) {
            sched_status_add(st, SCHED_UNSCHEDULABLE,
                             "node(s) didn't match pod topology spread constraints");
            return;
        }
    }
}
