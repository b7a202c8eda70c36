/* scheduler_schedule: one scheduling cycle (filter, score, select) and upstream's FitError. */
#include "scheduler/scheduler_internal.h"

#include <stdlib.h>
#include <string.h>

struct scheduler_algo {
    uint64_t rng; /* xorshift64* state for tie-breaking */
};

scheduler_algo_t *scheduler_algo_new(uint64_t seed)
{
    scheduler_algo_t *a = util_xcalloc(1, sizeof(*a));
    a->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
    return a;
}

scheduler_algo_t *scheduler_algo_free(scheduler_algo_t *a)
{
    free(a);
    return NULL;
}

static uint64_t rng_next(scheduler_algo_t *a)
{
    a->rng ^= a->rng >> 12;
    a->rng ^= a->rng << 25;
    a->rng ^= a->rng >> 27;
    return a->rng * 0x2545F4914F6CDD1DULL;
}

void scheduler_result_free(scheduler_result_t *r)
{
    free(r->node);
    free(r->message);
    free(r->nominated_node);
    cJSON_Delete(r->victims);
    memset(r, 0, sizeof(*r));
}

/* ---- FitError (pkg/scheduler/framework/types.go) -------------------------------------------- */

typedef struct histogram {
    char **text; /* "<count> <reason>" once counted */
    char **reason;
    size_t *count;
    size_t n;
} histogram_t;

static void hist_add(histogram_t *h, const char *reason, size_t k)
{
    for (size_t i = 0; i < h->n; i++) {
        if (strcmp(h->reason[i], reason) == 0) {
            h->count[i] += k;
            return;
        }
    }
    h->reason = util_xrealloc(h->reason, (h->n + 1) * sizeof(*h->reason));
    h->count = util_xrealloc(h->count, (h->n + 1) * sizeof(*h->count));
    h->reason[h->n] = util_xstrdup(reason);
    h->count[h->n++] = k;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends upstream's sortReasonsHistogram: "N reason" strings sorted bytewise, ", "-joined. */
static void hist_render(histogram_t *h, util_buf_t *b)
{
    h->text = util_xcalloc(h->n + 1, sizeof(*h->text));
    for (size_t i = 0; i < h->n; i++)
        h->text[i] = util_strdup_printf("%zu %s", h->count[i], h->reason[i]);
    qsort(h->text, h->n, sizeof(*h->text), cmp_str);
    for (size_t i = 0; i < h->n; i++)
        util_buf_printf(b, "%s%s", i ? ", " : "", h->text[i]);
    for (size_t i = 0; i < h->n; i++) {
        free(h->text[i]);
        free(h->reason[i]);
    }
    free(h->text);
    free(h->reason);
    free(h->count);
    memset(h, 0, sizeof(*h));
}

static void hist_add_one(void *h, const char *reason)
{
    hist_add(h, reason, 1);
}

static void hist_drop(histogram_t *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->reason[i]);
    free(h->reason);
    free(h->count);
    memset(h, 0, sizeof(*h));
}

/* The message: "0/N nodes are available: <filter reasons>." then, unless preemption nominated
 * a node, " preemption: " and either why the pod may not preempt or "0/N nodes are available:
 * <per-node preemption verdicts>." prefilter: a PreFilter failure (applies to every node), or
 * NULL. */
static char *fit_error(size_t nnodes, const sched_status_t *statuses,
                       const sched_status_t *prefilter, histogram_t *pre, bool nominated,
                       const char *not_eligible)
{
    util_buf_t b = {0};
    histogram_t h = {0};
    util_buf_printf(&b, "0/%zu nodes are available:", nnodes);
    if (prefilter) {
        util_buf_printf(&b, " %s.", prefilter->reasons[0]);
    } else if (statuses) {
        for (size_t i = 0; i < nnodes; i++)
            for (size_t j = 0; j < statuses[i].nreasons; j++)
                hist_add(&h, statuses[i].reasons[j], 1);
        if (h.n) {
            util_buf_puts(&b, " ");
            hist_render(&h, &b);
            util_buf_puts(&b, ".");
        }
    }
    if (not_eligible) {
        util_buf_printf(&b, " preemption: %s", not_eligible);
    } else if (!nominated) {
        util_buf_printf(&b, " preemption: 0/%zu nodes are available: ", nnodes);
        hist_render(pre, &b);
        util_buf_puts(&b, ".");
    }
    hist_drop(pre);
    return util_buf_steal(&b);
}

/* ---- the cycle ------------------------------------------------------------------------------ */

static void total_scores(const scheduler_snapshot_t *s, const cJSON *pod, sched_node_t *const *cand,
                         size_t n, int64_t *total)
{
    scheduler_resources_t req;
    scheduler_pod_requests(pod, true, &req);
    int64_t *one = util_xcalloc(n, sizeof(*one));
    memset(total, 0, n * sizeof(*total));
    for (int p = 0; p < SCHEDULER_SCORE_COUNT; p++) {
        sched_score(s, pod, (scheduler_score_plugin_t)p, &req, cand, n, one);
        for (size_t i = 0; i < n; i++)
            total[i] += one[i] * scheduler_score_weight((scheduler_score_plugin_t)p);
    }
    free(one);
}

/* The best score wins; ties are broken uniformly at random (reservoir sampling, as upstream's
 * selectHost). */
static size_t select_host(scheduler_algo_t *a, const int64_t *total, size_t n)
{
    size_t best = 0, ties = 1;
    for (size_t i = 1; i < n; i++) {
        if (total[i] > total[best]) {
            best = i;
            ties = 1;
        } else if (total[i] == total[best]) {
            ties++;
            if (rng_next(a) % ties == 0)
                best = i;
        }
    }
    return best;
}

/* No node fits: preemption, then the message. */
static void unschedulable(scheduler_snapshot_t *s, const cJSON *pod, const sched_status_t *st,
                          scheduler_result_t *ret)
{
    histogram_t pre = {0};
    const char *not_eligible = NULL;
    sched_preempt(s, pod, st, hist_add_one, &pre, ret, &not_eligible);
    ret->message = fit_error(s->nnodes, st, NULL, &pre, ret->nominated_node != NULL, not_eligible);
}

void scheduler_schedule(scheduler_algo_t *a, scheduler_snapshot_t *s, const cJSON *pod,
                        scheduler_result_t *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (s->nnodes == 0) {
        ret->message = util_xstrdup("no nodes available to schedule pods");
        return;
    }
    sched_status_t pre = {0};
    sched_prefilter(s, pod, &pre);
    if (pre.code) {
        histogram_t h = {0};
        const char *policy = sched_str(pod, "spec.preemptionPolicy");
        bool never = policy && strcmp(policy, "Never") == 0;
        if (!never)
            hist_add(&h, "Preemption is not helpful for scheduling", s->nnodes);
        ret->message = fit_error(s->nnodes, NULL, &pre, &h, false,
                                 never ? "not eligible due to preemptionPolicy=Never." : NULL);
        sched_status_clear(&pre);
        return;
    }
    sched_pod_t **nominated;
    size_t nnom = sched_nominated_add(s, pod, &nominated);
    sched_status_t *st = util_xcalloc(s->nnodes, sizeof(*st));
    sched_node_t **cand = util_xcalloc(s->nnodes, sizeof(*cand));
    size_t n = 0;
    sched_cycle_t *cy = sched_cycle_new(s, pod);
    for (size_t i = 0; i < s->nnodes; i++) {
        sched_filter(s, cy, pod, s->nodes[i], &st[i]);
        if (!st[i].code)
            cand[n++] = s->nodes[i];
    }
    sched_cycle_free(cy);
    ret->feasible_nodes = n;
    if (n == 0) {
        unschedulable(s, pod, st, ret);
    } else if (n == 1) { /* upstream skips scoring for a single feasible node */
        ret->scheduled = true;
        ret->node = util_xstrdup(cand[0]->name);
    } else {
        int64_t *total = util_xcalloc(n, sizeof(*total));
        total_scores(s, pod, cand, n, total);
        ret->scheduled = true;
        ret->node = util_xstrdup(cand[select_host(a, total, n)]->name);
        free(total);
    }
    sched_nominated_remove(s, nominated, nnom);
    for (size_t i = 0; i < s->nnodes; i++)
        sched_status_clear(&st[i]);
    free(st);
    free(cand);
}
