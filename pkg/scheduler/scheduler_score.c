/* scheduler_score: the default profile's Score plugins, normalized to 0..100 like upstream. */
#include "scheduler/scheduler_internal.h"
#include "labels/labels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCORE 100

int scheduler_score_weight(scheduler_score_plugin_t p)
{
    switch (p) {
    case SCHEDULER_SCORE_TAINT_TOLERATION:
        return 3;
    case SCHEDULER_SCORE_NODE_AFFINITY:
    case SCHEDULER_SCORE_INTER_POD_AFFINITY:
    case SCHEDULER_SCORE_TOPOLOGY_SPREAD:
        return 2;
    default:
        return 1;
    }
}

/* upstream helper.DefaultNormalizeScore */
static void normalize_default(int64_t *scores, size_t n, bool reverse)
{
    int64_t max = 0;
    for (size_t i = 0; i < n; i++)
        if (scores[i] > max)
            max = scores[i];
    for (size_t i = 0; i < n; i++) {
        if (max == 0) {
            scores[i] = reverse ? MAX_SCORE : 0;
            continue;
        }
        scores[i] = MAX_SCORE * scores[i] / max;
        if (reverse)
            scores[i] = MAX_SCORE - scores[i];
    }
}

/* ---- NodeResourcesFit (LeastAllocated) and BalancedAllocation ------------------------------- */

static int64_t least_allocated(int64_t requested, int64_t capacity)
{
    if (capacity <= 0 || requested > capacity)
        return 0;
    return (capacity - requested) * MAX_SCORE / capacity;
}

static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t score_resources(const sched_node_t *n, const scheduler_resources_t *pod,
                               bool balanced)
{
    /* LeastAllocated counts upstream's non-zero requests; BalancedAllocation the real ones
     * (its useRequested); pod is the matching kind. */
    const scheduler_resources_t *used = balanced ? &n->requested : &n->nonzero_requested;
    int64_t cpu = add_sat(used->milli_cpu, pod->milli_cpu);
    int64_t mem = add_sat(used->memory, pod->memory);
    if (!balanced)
        return (least_allocated(cpu, n->alloc.milli_cpu) + least_allocated(mem, n->alloc.memory)) /
               2;
    /* Balanced: 1 - standard deviation of the requested fractions (cpu, memory). */
    double f[2];
    size_t k = 0;
    if (n->alloc.milli_cpu > 0)
        f[k++] = fmin(1.0, (double)cpu / (double)n->alloc.milli_cpu);
    if (n->alloc.memory > 0)
        f[k++] = fmin(1.0, (double)mem / (double)n->alloc.memory);
    double std = k == 2 ? fabs(f[0] - f[1]) / 2 : 0;
    return (int64_t)((1 - std) * MAX_SCORE);
}

/* ---- ImageLocality -------------------------------------------------------------------------- */

/* Canonical image name for comparison: ":latest" when there is no tag or digest, and the
 * docker.io/library/ prefix dropped (kubelets report either spelling). */
static void image_norm(const char *in, char *out, size_t len)
{
    if (util_str_has_prefix(in, "docker.io/library/"))
        in += strlen("docker.io/library/");
    else if (util_str_has_prefix(in, "docker.io/"))
        in += strlen("docker.io/");
    const char *slash = strrchr(in, '/');
    const char *last = slash ? slash + 1 : in;
    bool tagged = strchr(last, ':') || strchr(in, '@');
    snprintf(out, len, "%s%s", in, tagged ? "" : ":latest");
}

/* Size of image on node n, or 0. */
static int64_t node_image_size(const sched_node_t *n, const char *want)
{
    const cJSON *img, *name;
    char buf[512];
    cJSON_ArrayForEach(img, sched_get(n->obj, "status.images"))
    {
        cJSON_ArrayForEach(name, cJSON_GetObjectItemCaseSensitive(img, "names"))
        {
            if (!cJSON_IsString(name))
                continue;
            image_norm(name->valuestring, buf, sizeof(buf));
            if (strcmp(buf, want) == 0) {
                const cJSON *sz = cJSON_GetObjectItemCaseSensitive(img, "sizeBytes");
                return cJSON_IsNumber(sz) && sz->valuedouble > 0 ? (int64_t)sz->valuedouble : 0;
            }
        }
    }
    return 0;
}

static void score_images(const scheduler_snapshot_t *s, const cJSON *pod,
                         sched_node_t *const *nodes, size_t n, int64_t *ret)
{
    const double min_threshold = 23.0 * 1024 * 1024, max_per_container = 1000.0 * 1024 * 1024;
    double *sum = util_xcalloc(n + 1, sizeof(*sum));
    int64_t ncontainers = 0;
    const cJSON *c;
    char want[512];
    /* Init containers count too (upstream since 1.28), also in the maximum. */
    static const char *const lists[] = {"spec.initContainers", "spec.containers"};
    for (size_t l = 0; l < 2; l++) {
        cJSON_ArrayForEach(c, sched_get(pod, lists[l]))
        {
            ncontainers++;
            const char *image = sched_str(c, "image");
            if (!image)
                continue;
            image_norm(image, want, sizeof(want));
            /* Scaled by the share of nodes having it, so one node is not a magnet. */
            size_t have = 0;
            for (size_t i = 0; i < s->nnodes; i++)
                have += node_image_size(s->nodes[i], want) > 0;
            for (size_t i = 0; have && i < n; i++)
                sum[i] +=
                    (double)node_image_size(nodes[i], want) * (double)have / (double)s->nnodes;
        }
    }
    double max_threshold = max_per_container * (double)ncontainers;
    for (size_t i = 0; i < n; i++) {
        double v = sum[i] < min_threshold ? min_threshold : sum[i];
        v = v > max_threshold ? max_threshold : v;
        ret[i] = max_threshold > min_threshold
                     ? (int64_t)(MAX_SCORE * (v - min_threshold) / (max_threshold - min_threshold))
                     : 0;
    }
    free(sum);
}

/* ---- NodeAffinity (preferred) and TaintToleration (PreferNoSchedule) ------------------------ */

static int64_t score_node_affinity(const cJSON *pod, const sched_node_t *n)
{
    int64_t sum = 0;
    const cJSON *t;
    cJSON_ArrayForEach(
        t, sched_get(pod,
                     "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution"))
    {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(t, "weight");
        if (cJSON_IsNumber(w) && w->valuedouble > 0 && w->valuedouble <= 100 &&
            sched_node_selector_term_matches(cJSON_GetObjectItemCaseSensitive(t, "preference"), n))
            sum += (int64_t)w->valuedouble;
    }
    return sum;
}

static int64_t score_taints(const cJSON *pod, const sched_node_t *n)
{
    /* Only tolerations for PreferNoSchedule (or every effect) count. */
    cJSON *tols = cJSON_CreateArray();
    const cJSON *t;
    cJSON_ArrayForEach(t, sched_get(pod, "spec.tolerations"))
    {
        const char *e = sched_str(t, "effect");
        if (!e || !*e || strcmp(e, "PreferNoSchedule") == 0)
            cJSON_AddItemReferenceToArray(tols, (cJSON *)t);
    }
    int64_t count = 0;
    cJSON_ArrayForEach(t, n->taints)
    {
        const char *e = sched_str(t, "effect");
        if (e && strcmp(e, "PreferNoSchedule") == 0 && !sched_tolerates(tols, t))
            count++;
    }
    cJSON_Delete(tols);
    return count;
}

/* ---- InterPodAffinity (preferred terms, and existing pods' terms) --------------------------- */

#define PREFERRED "preferredDuringSchedulingIgnoredDuringExecution"

/* Adds sign*weight to every candidate whose topologyKey value equals that of node m. */
static void add_domain(sched_node_t *const *nodes, size_t n, const cJSON *term,
                       const sched_node_t *m, int64_t w, int64_t *scores)
{
    const char *key = sched_str(term, "topologyKey");
    const char *mv = sched_label(m->labels, key);
    if (!mv)
        return;
    for (size_t i = 0; i < n; i++) {
        const char *v = sched_label(nodes[i]->labels, key);
        if (v && strcmp(v, mv) == 0)
            scores[i] += w;
    }
}

static int64_t term_weight(const cJSON *wt)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(wt, "weight");
    return cJSON_IsNumber(w) ? (int64_t)w->valuedouble : 0;
}

static void score_existing_pod(const cJSON *pod, const sched_node_t *m, const sched_pod_t *e,
                               sched_node_t *const *nodes, size_t n, int64_t *scores)
{
    const char *ns = sched_str(pod, "metadata.namespace");
    const cJSON *wt, *t;
    static const struct {
        const char *path;
        int sign;
    } incoming[] = {{"spec.affinity.podAffinity." PREFERRED, 1},
                    {"spec.affinity.podAntiAffinity." PREFERRED, -1}};
    for (size_t k = 0; k < 2; k++) {
        cJSON_ArrayForEach(wt, sched_get(pod, incoming[k].path))
        {
            t = cJSON_GetObjectItemCaseSensitive(wt, "podAffinityTerm");
            if (sched_term_matches_pod(t, ns, e))
                add_domain(nodes, n, t, m, incoming[k].sign * term_weight(wt), scores);
        }
        cJSON_ArrayForEach(wt, sched_get(e->obj, incoming[k].path))
        {
            t = cJSON_GetObjectItemCaseSensitive(wt, "podAffinityTerm");
            if (sched_term_matches_obj(t, e->ns, pod))
                add_domain(nodes, n, t, m, incoming[k].sign * term_weight(wt), scores);
        }
    }
    /* Existing pods' required affinity counts with hardPodAffinityWeight 1. */
    cJSON_ArrayForEach(t, sched_get(e->obj, "spec.affinity.podAffinity."
                                            "requiredDuringSchedulingIgnoredDuringExecution"))
    {
        if (sched_term_matches_obj(t, e->ns, pod))
            add_domain(nodes, n, t, m, 1, scores);
    }
}

static void score_inter_pod(const scheduler_snapshot_t *s, const cJSON *pod,
                            sched_node_t *const *nodes, size_t n, int64_t *scores)
{
    /* Only pairs where one side has affinity terms score (upstream keeps a list of the pods
     * with affinity per node for the same reason): nothing else is looked at. */
    bool pod_affinity = sched_get(pod, "spec.affinity") != NULL;
    for (size_t i = 0; i < s->nnodes; i++) {
        const sched_node_t *m = s->nodes[i];
        for (size_t j = 0; (pod_affinity || m->naffinity) && j < m->npods; j++) {
            const sched_pod_t *e = m->pods[j];
            if (!pod_affinity && !e->has_affinity)
                continue;
            score_existing_pod(pod, m, e, nodes, n, scores);
        }
    }
    int64_t min = INT64_MAX, max = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        min = scores[i] < min ? scores[i] : min;
        max = scores[i] > max ? scores[i] : max;
    }
    for (size_t i = 0; i < n; i++)
        scores[i] = max > min ? MAX_SCORE * (scores[i] - min) / (max - min) : 0;
}

/* ---- PodTopologySpread (ScheduleAnyway, and the system default constraints) ----------------- */

/* Which pods count toward spreading a pod without its own constraints: upstream's
 * DefaultSelector (Services selecting the pod, its ReplicaSet/StatefulSet/RC). We match the
 * Services' selectors and the controller owner's uid instead of the controller's selector. */
typedef struct spread_group {
    cJSON *service_labels; /* merged selectors of Services selecting the pod */
    const char *owner_uid; /* controller ownerReference of a ReplicaSet/StatefulSet/RC */
} spread_group_t;

static const char *controller_uid(const cJSON *pod)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, sched_get(pod, "metadata.ownerReferences"))
    {
        const char *kind = sched_str(o, "kind");
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "controller")) || !kind)
            continue;
        if (strcmp(kind, "ReplicaSet") == 0 || strcmp(kind, "StatefulSet") == 0 ||
            strcmp(kind, "ReplicationController") == 0)
            return sched_str(o, "uid");
    }
    return NULL;
}

static bool labels_subset(const cJSON *want, const cJSON *labels)
{
    const cJSON *kv;
    cJSON_ArrayForEach(kv, want)
    {
        const char *v = sched_label(labels, kv->string);
        if (!cJSON_IsString(kv) || !v || strcmp(v, kv->valuestring) != 0)
            return false;
    }
    return true;
}

static bool group_init(const scheduler_snapshot_t *s, const cJSON *pod, spread_group_t *g)
{
    const char *ns = sched_str(pod, "metadata.namespace");
    const cJSON *labels = sched_get(pod, "metadata.labels"), *o;
    g->service_labels = NULL;
    g->owner_uid = controller_uid(pod);
    cJSON_ArrayForEach(o, s->objects)
    {
        const char *kind = sched_str(o, "kind"), *ons = sched_str(o, "metadata.namespace");
        const cJSON *sel = sched_get(o, "spec.selector");
        if (!kind || strcmp(kind, "Service") != 0 || !ons || strcmp(ons, ns ? ns : "default") ||
            !cJSON_IsObject(sel) || !sel->child || !labels_subset(sel, labels))
            continue;
        if (!g->service_labels)
            g->service_labels = cJSON_CreateObject();
        const cJSON *kv;
        cJSON_ArrayForEach(kv, sel)
        {
            if (cJSON_IsString(kv) &&
                !cJSON_GetObjectItemCaseSensitive(g->service_labels, kv->string))
                cJSON_AddStringToObject(g->service_labels, kv->string, kv->valuestring);
        }
    }
    return g->service_labels || g->owner_uid;
}

static bool group_matches(const spread_group_t *g, const char *ns, const sched_pod_t *p)
{
    if (strcmp(p->ns, ns) != 0 || sched_get(p->obj, "metadata.deletionTimestamp"))
        return false;
    if (g->service_labels &&
        !labels_subset(g->service_labels, sched_get(p->obj, "metadata.labels")))
        return false;
    if (g->owner_uid) {
        const char *uid = controller_uid(p->obj);
        if (!uid || strcmp(uid, g->owner_uid) != 0)
            return false;
    }
    return true;
}

typedef struct spread_constraint {
    const char *key;
    long max_skew;
    labels_selector_t *sel;      /* user constraints */
    const spread_group_t *group; /* system defaults */
} spread_constraint_t;

static size_t pods_matching_on(const sched_node_t *m, const spread_constraint_t *c, const char *ns)
{
    size_t k = 0;
    for (size_t j = 0; j < m->npods; j++) {
        const sched_pod_t *p = m->pods[j];
        if (c->group ? group_matches(c->group, ns, p)
                     : strcmp(p->ns, ns) == 0 && !sched_get(p->obj, "metadata.deletionTimestamp") &&
                           labels_selector_matches_object(c->sel, p->obj))
            k++;
    }
    return k;
}

/* Domains (values of one topology key) with the matching pods they hold. */
typedef struct domains {
    const char **value;
    size_t *count;
    bool *seen; /* among the candidates */
    size_t n;
} domains_t;

static size_t domain_index(domains_t *d, const char *v)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->value[i], v) == 0)
            return i;
    d->value[d->n] = v;
    d->count[d->n] = 0;
    d->seen[d->n] = false;
    return d->n++;
}

/* Raw score of upstream's PodTopologySpread Score for each candidate; -1 marks ignored nodes.
 * Pods are counted on every node matching the pod's node affinity; the normalizing weight
 * of a constraint is log(domains among candidates + 2). */
static void spread_raw(const scheduler_snapshot_t *s, const cJSON *pod,
                       const spread_constraint_t *cs, size_t nc, bool require_all,
                       sched_node_t *const *nodes, size_t n, int64_t *scores)
{
    const char *ns = sched_str(pod, "metadata.namespace");
    ns = ns ? ns : "default";
    double *score = util_xcalloc(n + 1, sizeof(*score));
    bool *ignored = util_xcalloc(n + 1, sizeof(*ignored));
    bool *eligible = util_xcalloc(s->nnodes + 1, sizeof(*eligible));
    size_t *idx = util_xcalloc(n + 1, sizeof(*idx));
    domains_t d = {util_xcalloc(s->nnodes + 1, sizeof(char *)),
                   util_xcalloc(s->nnodes + 1, sizeof(size_t)),
                   util_xcalloc(s->nnodes + 1, sizeof(bool)), 0};
    for (size_t m = 0; m < s->nnodes; m++)
        eligible[m] = sched_node_matches_pod_affinity(pod, s->nodes[m]);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; require_all && c < nc; c++)
            ignored[i] |= !sched_label(nodes[i]->labels, cs[c].key);
    for (size_t c = 0; c < nc; c++) {
        d.n = 0;
        for (size_t m = 0; m < s->nnodes; m++) {
            const char *v = sched_label(s->nodes[m]->labels, cs[c].key);
            if (v && eligible[m])
                d.count[domain_index(&d, v)] += pods_matching_on(s->nodes[m], &cs[c], ns);
        }
        size_t size = 0;
        for (size_t i = 0; i < n; i++) {
            const char *v = sched_label(nodes[i]->labels, cs[c].key);
            idx[i] = SIZE_MAX;
            if (ignored[i] || !v)
                continue;
            idx[i] = domain_index(&d, v);
            size += !d.seen[idx[i]];
            d.seen[idx[i]] = true;
        }
        double weight = log((double)size + 2);
        for (size_t i = 0; i < n; i++)
            if (idx[i] != SIZE_MAX)
                score[i] += (double)d.count[idx[i]] * weight + (double)(cs[c].max_skew - 1);
    }
    for (size_t i = 0; i < n; i++)
        scores[i] = ignored[i] ? -1 : (int64_t)llround(score[i]);
    free(d.value);
    free(d.count);
    free(d.seen);
    free(idx);
    free(eligible);
    free(score);
    free(ignored);
}

static void score_spread(const scheduler_snapshot_t *s, const cJSON *pod,
                         sched_node_t *const *nodes, size_t n, int64_t *scores)
{
    const cJSON *c, *user = sched_get(pod, "spec.topologySpreadConstraints");
    spread_constraint_t cs[16];
    size_t nc = 0;
    spread_group_t g = {0};
    if (cJSON_GetArraySize(user) > 0) {
        cJSON_ArrayForEach(c, user)
        {
            const char *w = sched_str(c, "whenUnsatisfiable"), *key = sched_str(c, "topologyKey");
            const cJSON *skew = cJSON_GetObjectItemCaseSensitive(c, "maxSkew");
            labels_selector_t *sel = NULL;
            util_error_t err = NULL;
            if (nc == UTIL_ARRAY_SIZE(cs) || !w || strcmp(w, "ScheduleAnyway") != 0 || !key ||
                labels_selector_from_json(cJSON_GetObjectItemCaseSensitive(c, "labelSelector"),
                                          &sel, &err) < 0 ||
                !sel) {
                util_error_free(&err);
                continue;
            }
            cs[nc++] = (spread_constraint_t){
                key, cJSON_IsNumber(skew) ? (long)skew->valuedouble : 1, sel, NULL};
        }
    } else if (group_init(s, pod, &g)) {
        /* upstream's systemDefaultConstraints */
        cs[nc++] = (spread_constraint_t){"kubernetes.io/hostname", 3, NULL, &g};
        cs[nc++] = (spread_constraint_t){"topology.kubernetes.io/zone", 5, NULL, &g};
    }
    memset(scores, 0, n * sizeof(*scores));
    if (nc > 0) {
        spread_raw(s, pod, cs, nc, cJSON_GetArraySize(user) > 0, nodes, n, scores);
        int64_t min = INT64_MAX, max = 0;
        for (size_t i = 0; i < n; i++) {
            if (scores[i] < 0)
                continue;
            min = scores[i] < min ? scores[i] : min;
            max = scores[i] > max ? scores[i] : max;
        }
        for (size_t i = 0; i < n; i++) {
            if (scores[i] < 0)
                scores[i] = 0;
            else
                scores[i] = max == 0 ? MAX_SCORE : MAX_SCORE * (max + min - scores[i]) / max;
        }
    }
    for (size_t i = 0; i < nc; i++)
        labels_selector_free(cs[i].sel);
    cJSON_Delete(g.service_labels);
}

/* ---- entry ---------------------------------------------------------------------------------- */

void scheduler_score_nodes(const scheduler_snapshot_t *s, const cJSON *pod,
                           scheduler_score_plugin_t p, const char *const *names, size_t n,
                           int64_t *ret)
{
    scheduler_resources_t req;
    scheduler_pod_requests(pod, true, &req);
    memset(ret, 0, n * sizeof(*ret));
    sched_node_t **nodes = util_xcalloc(n + 1, sizeof(*nodes));
    for (size_t i = 0; i < n; i++) {
        nodes[i] = sched_find_node(s, names[i]);
        if (!nodes[i]) {
            free(nodes);
            return; /* unknown node: all zero */
        }
    }
    sched_score(s, pod, p, &req, nodes, n, ret);
    free(nodes);
}

void sched_score(const scheduler_snapshot_t *s, const cJSON *pod, scheduler_score_plugin_t p,
                 const scheduler_resources_t *req, sched_node_t *const *nodes, size_t n,
                 int64_t *ret)
{
    memset(ret, 0, n * sizeof(*ret));
    scheduler_resources_t real = {0};
    if (p == SCHEDULER_SCORE_BALANCED_ALLOCATION)
        scheduler_pod_requests(pod, false, &real);
    switch (p) {
    case SCHEDULER_SCORE_INTER_POD_AFFINITY:
        score_inter_pod(s, pod, nodes, n, ret);
        return;
    case SCHEDULER_SCORE_TOPOLOGY_SPREAD:
        score_spread(s, pod, nodes, n, ret);
        return;
    case SCHEDULER_SCORE_IMAGE_LOCALITY:
        score_images(s, pod, nodes, n, ret);
        return;
    default:
        break;
    }
    for (size_t i = 0; i < n; i++) {
        const sched_node_t *node = nodes[i];
        switch (p) {
        case SCHEDULER_SCORE_LEAST_ALLOCATED:
            ret[i] = score_resources(node, req, false);
            break;
        case SCHEDULER_SCORE_BALANCED_ALLOCATION:
            ret[i] = score_resources(node, &real, true);
            break;
        case SCHEDULER_SCORE_NODE_AFFINITY:
            ret[i] = score_node_affinity(pod, node);
            break;
        case SCHEDULER_SCORE_TAINT_TOLERATION:
            ret[i] = score_taints(pod, node);
            break;
        default:
            break;
        }
    }
    if (p == SCHEDULER_SCORE_NODE_AFFINITY)
        normalize_default(ret, n, false);
    else if (p == SCHEDULER_SCORE_TAINT_TOLERATION)
        normalize_default(ret, n, true);
}
