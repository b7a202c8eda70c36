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

#define REQUIRED "requiredDuringSchedulingIgnoredDuringExecution"

/* ---- per-cycle state (upstream's PreFilter state): computed once per pod, used per node ---- */

typedef struct sched_pair {
    int term;
    const char *key, *value; /* value points into a node's labels */
    size_t count;
} sched_pair_t;

typedef struct pairs {
    sched_pair_t *v;
    size_t n, cap;
} pairs_t;

static void pairs_add(pairs_t *p, int term, const char *key, const char *value, size_t k)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->v[i].term == term && strcmp(p->v[i].key, key) == 0 &&
            strcmp(p->v[i].value, value) == 0) {
            p->v[i].count += k;
            return;
        }
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 8;
        p->v = util_xrealloc(p->v, p->cap * sizeof(*p->v));
    }
    p->v[p->n++] = (sched_pair_t){term, key, value, k};
}

static const sched_pair_t *pairs_find(const pairs_t *p, int term, const char *key,
                                      const char *value)
{
    for (size_t i = 0; value && i < p->n; i++)
        if (p->v[i].term == term && strcmp(p->v[i].key, key) == 0 &&
            strcmp(p->v[i].value, value) == 0)
            return &p->v[i];
    return NULL;
}

typedef struct spread_state {
    const char *key;
    long max_skew;
    size_t min;
    size_t self;
    pairs_t dom; /* term 0, key, value -> matching pods */
} spread_state_t;

struct sched_cycle {
    pairs_t blocked;  /* existing pods' required anti-affinity: (key, value) forbidden */
    pairs_t affinity; /* incoming required affinity: (term, key, value) -> matching pods */
    pairs_t anti;     /* incoming required anti-affinity: (term, key, value) -> matching pods */
    int naffinity;    /* number of required affinity terms */
    size_t aff_total; /* matching pods of any affinity term */
    bool aff_self;    /* the pod matches all its own affinity terms */
    spread_state_t *spread;
    size_t nspread;
};

static labels_selector_t *term_selector(const cJSON *term)
{
    const cJSON *sel = cJSON_GetObjectItemCaseSensitive(term, "labelSelector");
    labels_selector_t *ls = NULL;
    util_error_t err = NULL;
    if (!cJSON_IsObject(sel) || labels_selector_from_json(sel, &ls, &err) < 0) {
        util_error_free(&err);
        return NULL; /* a null or invalid selector matches nothing */
    }
    return ls;
}

static bool term_matches(const cJSON *term, const labels_selector_t *sel, const char *term_ns,
                         const cJSON *pod)
{
    const char *ns = sched_str(pod, "metadata.namespace");
    return sel && term_namespace_matches(term, term_ns, ns ? ns : "default") &&
           labels_selector_matches_object(sel, pod);
}

/* Counts, per (term, topology value), the pods matching each of the pod's terms. */
static void count_terms(const scheduler_snapshot_t *s, const cJSON *terms, const char *ns,
                        pairs_t *out, size_t *total, bool *self, const cJSON *pod)
{
    int i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, terms)
    {
        const char *key = sched_str(t, "topologyKey");
        labels_selector_t *sel = term_selector(t);
        for (size_t m = 0; key && sel && m < s->nnodes; m++) {
            const char *v = sched_label(s->nodes[m]->labels, key);
            for (size_t j = 0; v && j < s->nodes[m]->npods; j++) {
                const sched_pod_t *p = s->nodes[m]->pods[j];
                if (!sched_get(p->obj, "metadata.deletionTimestamp") &&
                    term_matches(t, sel, ns, p->obj)) {
                    pairs_add(out, i, key, v, 1);
                    if (total)
                        (*total)++;
                }
            }
        }
        if (self)
            *self &= term_matches(t, sel, ns, pod);
        labels_selector_free(sel);
        i++;
    }
}

/* Domains where an existing pod's required anti-affinity selects the incoming pod. */
static void count_blocked(const scheduler_snapshot_t *s, const cJSON *pod, pairs_t *out)
{
    for (size_t i = 0; i < s->nnodes; i++) {
        const sched_node_t *m = s->nodes[i];
        for (size_t j = 0; m->nanti && j < m->npods; j++) {
            const sched_pod_t *e = m->pods[j];
            int k = 0;
            const cJSON *t;
            cJSON_ArrayForEach(t, e->anti_terms)
            {
                const char *key = sched_str(t, "topologyKey");
                const char *v = key ? sched_label(m->labels, key) : NULL;
                if (v && (size_t)k < e->nanti_sel && term_matches(t, e->anti_sel[k], e->ns, pod))
                    pairs_add(out, 0, key, v, 1);
                k++;
            }
        }
    }
}

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

/* One hard constraint: pods per domain over eligible nodes, the global minimum, self-match. */
static void spread_init(const scheduler_snapshot_t *s, const cJSON *pod, const cJSON *constraints,
                        const cJSON *c, spread_state_t *st)
{
    const char *ns = sched_str(pod, "metadata.namespace");
    const cJSON *skew = cJSON_GetObjectItemCaseSensitive(c, "maxSkew");
    const cJSON *mind = cJSON_GetObjectItemCaseSensitive(c, "minDomains");
    long min_domains = cJSON_IsNumber(mind) ? (long)mind->valuedouble : 1;
    labels_selector_t *sel = term_selector(c);
    ns = ns ? ns : "default";
    st->key = sched_str(c, "topologyKey");
    st->max_skew = cJSON_IsNumber(skew) ? (long)skew->valuedouble : 1;
    for (size_t i = 0; sel && st->key && i < s->nnodes; i++) {
        const sched_node_t *m = s->nodes[i];
        if (spread_eligible(pod, constraints, m))
            pairs_add(&st->dom, 0, st->key, sched_label(m->labels, st->key),
                      count_matching(m, sel, ns));
    }
    st->min = SIZE_MAX;
    for (size_t d = 0; d < st->dom.n; d++)
        if (st->dom.v[d].count < st->min)
            st->min = st->dom.v[d].count;
    if (st->dom.n == 0 || (long)st->dom.n < min_domains)
        st->min = 0;
    st->self = sel && labels_selector_matches_object(sel, pod) ? 1 : 0;
    labels_selector_free(sel);
}

sched_cycle_t *sched_cycle_new(const scheduler_snapshot_t *s, const cJSON *pod)
{
    sched_cycle_t *cy = util_xcalloc(1, sizeof(*cy));
    const char *ns = sched_str(pod, "metadata.namespace");
    const cJSON *aff = sched_get(pod, "spec.affinity.podAffinity." REQUIRED);
    cy->naffinity = cJSON_GetArraySize(aff);
    cy->aff_self = true;
    count_terms(s, aff, ns, &cy->affinity, &cy->aff_total, &cy->aff_self, pod);
    count_terms(s, sched_get(pod, "spec.affinity.podAntiAffinity." REQUIRED), ns, &cy->anti, NULL,
                NULL, pod);
    count_blocked(s, pod, &cy->blocked);
    const cJSON *c, *constraints = sched_get(pod, "spec.topologySpreadConstraints");
    size_t nc = (size_t)cJSON_GetArraySize(constraints);
    cy->spread = util_xcalloc(nc + 1, sizeof(*cy->spread));
    cJSON_ArrayForEach(c, constraints)
    {
        if (is_hard(c))
            spread_init(s, pod, constraints, c, &cy->spread[cy->nspread++]);
    }
    return cy;
}

sched_cycle_t *sched_cycle_free(sched_cycle_t *cy)
{
    if (!cy)
        return NULL;
    free(cy->blocked.v);
    free(cy->affinity.v);
    free(cy->anti.v);
    for (size_t i = 0; i < cy->nspread; i++)
        free(cy->spread[i].dom.v);
    free(cy->spread);
    free(cy);
    return NULL;
}

static bool satisfies_affinity(const sched_cycle_t *cy, const cJSON *pod, const sched_node_t *n)
{
    if (cy->naffinity == 0)
        return true;
    bool ok = true;
    int i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, sched_get(pod, "spec.affinity.podAffinity." REQUIRED))
    {
        const char *key = sched_str(t, "topologyKey");
        const char *value = key ? sched_label(n->labels, key) : NULL;
        if (!value || !pairs_find(&cy->affinity, i, key, value))
            ok = false;
        i++;
    }
    /* The first pod of a group that selects itself may go anywhere (upstream's special case
     * for when no pod in the cluster matches the terms). */
    return ok || (cy->aff_total == 0 && cy->aff_self);
}

static bool satisfies_anti_affinity(const sched_cycle_t *cy, const cJSON *pod,
                                    const sched_node_t *n)
{
    int i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, sched_get(pod, "spec.affinity.podAntiAffinity." REQUIRED))
    {
        const char *key = sched_str(t, "topologyKey");
        if (key && pairs_find(&cy->anti, i, key, sched_label(n->labels, key)))
            return false;
        i++;
    }
    return true;
}

static bool satisfies_existing_anti_affinity(const sched_cycle_t *cy, const sched_node_t *n)
{
    for (size_t i = 0; i < cy->blocked.n; i++) {
        const char *v = sched_label(n->labels, cy->blocked.v[i].key);
        if (v && strcmp(v, cy->blocked.v[i].value) == 0)
            return false;
    }
    return true;
}

void sched_filter_inter_pod(const sched_cycle_t *cy, const cJSON *pod, const sched_node_t *n,
                            sched_status_t *st)
{
    if (!satisfies_affinity(cy, pod, n))
        sched_status_add(st, SCHED_UNRESOLVABLE, "node(s) didn't match pod affinity rules");
    else if (!satisfies_anti_affinity(cy, pod, n))
        sched_status_add(st, SCHED_UNSCHEDULABLE, "node(s) didn't match pod anti-affinity rules");
    else if (!satisfies_existing_anti_affinity(cy, n))
        sched_status_add(st, SCHED_UNSCHEDULABLE,
                         "node(s) didn't satisfy existing pods anti-affinity rules");
}

/* ---- PodTopologySpread (DoNotSchedule) ------------------------------------------------------ */

void sched_filter_topology_spread(const sched_cycle_t *cy, const sched_node_t *n,
                                  sched_status_t *st)
{
    for (size_t i = 0; i < cy->nspread; i++) {
        if (!cy->spread[i].key || !sched_label(n->labels, cy->spread[i].key)) {
            sched_status_add(st, SCHED_UNRESOLVABLE,
                             "node(s) didn't match pod topology spread constraints (missing "
                             "required label)");
            return;
        }
    }
    for (size_t i = 0; i < cy->nspread; i++) {
        const spread_state_t *sp = &cy->spread[i];
        const sched_pair_t *d = pairs_find(&sp->dom, 0, sp->key, sched_label(n->labels, sp->key));
        size_t here = d ? d->count : 0;
        if ((long)(here + sp->self) - (long)sp->min > sp->max_skew) {
            sched_status_add(st, SCHED_UNSCHEDULABLE,
                             "node(s) didn't match pod topology spread constraints");
            return;
        }
    }
}
