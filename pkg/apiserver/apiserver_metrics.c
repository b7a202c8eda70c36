/* apiserver_metrics: request counters and latency histograms by verb/resource/code, store
 * latencies and state, served at /metrics in the Prometheus text format. */
#include "apiserver_metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 512

static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

typedef struct histogram {
    uint64_t counts[NBUCKETS]; /* per bucket (not cumulative) */
    uint64_t count;
    double sum;
} histogram_t;

typedef struct series {
    const char *verb; /* static strings */
    const apiserver_resource_t *res;
    const char *sub;
    int code;
    uint64_t count;
} counter_t;

typedef struct hseries {
    const char *verb;
    const apiserver_resource_t *res;
    const char *sub;
    histogram_t h;
} hseries_t;

struct apiserver_metrics {
    counter_t counters[MAX_SERIES];
    size_t ncounters;
    hseries_t hist[MAX_SERIES];
    size_t nhist;
    histogram_t store_txn;
    uint64_t dropped; /* observations beyond MAX_SERIES distinct series */
};

apiserver_metrics_t *apiserver_metrics_new(void)
{
    return util_xcalloc(1, sizeof(apiserver_metrics_t));
}

void apiserver_metrics_free(apiserver_metrics_t *m)
{
    free(m);
}

static void observe(histogram_t *h, double secs)
{
    size_t i = 0;
    while (i < NBUCKETS && secs > buckets[i])
        i++;
    if (i < NBUCKETS)
        h->counts[i]++;
    h->count++;
    h->sum += secs;
}

static bool same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

void apiserver_metrics_request(apiserver_metrics_t *m, const char *verb,
                               const apiserver_resource_t *res, const char *sub, int code,
                               double secs)
{
    if (!m || !verb)
        return;
    if (sub && !sub[0])
        sub = NULL;
    counter_t *c = NULL;
    for (size_t i = 0; i < m->ncounters && !c; i++) {
        counter_t *e = &m->counters[i];
        if (e->code == code && e->res == res && same(e->verb, verb) && same(e->sub, sub))
            c = e;
    }
    if (!c && m->ncounters < MAX_SERIES) {
        c = &m->counters[m->ncounters++];
        *c = (counter_t){.verb = verb, .res = res, .sub = sub, .code = code};
    }
    hseries_t *h = NULL;
    for (size_t i = 0; i < m->nhist && !h; i++) {
        hseries_t *e = &m->hist[i];
        if (e->res == res && same(e->verb, verb) && same(e->sub, sub))
            h = e;
    }
    if (!h && m->nhist < MAX_SERIES) {
        h = &m->hist[m->nhist++];
        *h = (hseries_t){.verb = verb, .res = res, .sub = sub};
    }
    if (!c || !h) {
        m->dropped++;
        return;
    }
    c->count++;
    observe(&h->h, secs);
}

void apiserver_metrics_store_txn(apiserver_metrics_t *m, double secs)
{
    if (m)
        observe(&m->store_txn, secs);
}

static void labels(util_buf_t *b, const char *verb, const apiserver_resource_t *r, const char *sub)
{
    util_buf_printf(b,
                    "verb=\"%s\",group=\"%s\",version=\"%s\",resource=\"%s\",subresource=\"%s\","
                    "scope=\"%s\",component=\"apiserver\"",
                    verb, r ? r->group : "", r ? r->version : "", r ? r->plural : "",
                    sub ? sub : "",
                    !r              ? ""
                    : r->namespaced ? "namespace"
                                    : "cluster");
}

static void histogram_lines(util_buf_t *b, const char *name, const char *lbl, const histogram_t *h)
{
    uint64_t cum = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        cum += h->counts[i];
        util_buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, lbl, lbl[0] ? "," : "",
                        buckets[i], cum);
    }
    util_buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, lbl, lbl[0] ? "," : "",
                    h->count);
    util_buf_printf(b, "%s_sum{%s} %.6f\n%s_count{%s} %" PRIu64 "\n", name, lbl, h->sum, name, lbl,
                    h->count);
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    long kib = 0;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            kib = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kib * 1024;
}

void apiserver_metrics_render(apiserver_metrics_t *m, store_t *store, unsigned inflight,
                              unsigned conns, util_buf_t *b)
{
    util_buf_puts(b, "# HELP apiserver_request_total Counter of apiserver requests broken out "
                     "for each verb, group, version, resource, scope, component, and HTTP "
                     "response code.\n# TYPE apiserver_request_total counter\n");
    for (size_t i = 0; i < m->ncounters; i++) {
        const counter_t *c = &m->counters[i];
        util_buf_puts(b, "apiserver_request_total{");
        labels(b, c->verb, c->res, c->sub);
        util_buf_printf(b, ",code=\"%d\"} %" PRIu64 "\n", c->code, c->count);
    }
    util_buf_puts(b, "# HELP apiserver_request_duration_seconds Response latency distribution in "
                     "seconds for each verb, group, version, resource, subresource, scope and "
                     "component.\n# TYPE apiserver_request_duration_seconds histogram\n");
    for (size_t i = 0; i < m->nhist; i++) {
        util_buf_t l = {0};
        labels(&l, m->hist[i].verb, m->hist[i].res, m->hist[i].sub);
        histogram_lines(b, "apiserver_request_duration_seconds", l.data, &m->hist[i].h);
        util_buf_free(&l);
    }
    util_buf_printf(b,
                    "# HELP apiserver_current_inflight_requests Requests being answered.\n"
                    "# TYPE apiserver_current_inflight_requests gauge\n"
                    "apiserver_current_inflight_requests %u\n"
                    "# HELP kubeling_apiserver_connections Open client connections.\n"
                    "# TYPE kubeling_apiserver_connections gauge\n"
                    "kubeling_apiserver_connections %u\n"
                    "# HELP kubeling_apiserver_metrics_dropped_total Observations beyond the "
                    "series limit.\n# TYPE kubeling_apiserver_metrics_dropped_total counter\n"
                    "kubeling_apiserver_metrics_dropped_total %" PRIu64 "\n",
                    inflight, conns, m->dropped);
    util_buf_puts(b, "# HELP kubeling_store_txn_duration_seconds Time from a write's submission "
                     "to its durable commit.\n# TYPE kubeling_store_txn_duration_seconds "
                     "histogram\n");
    histogram_lines(b, "kubeling_store_txn_duration_seconds", "", &m->store_txn);
    store_stats_t st;
    if (store && store_stats(store, &st, NULL) == 0) {
        util_buf_printf(
            b,
            "# TYPE kubeling_store_revision gauge\nkubeling_store_revision %" PRId64 "\n"
            "# TYPE kubeling_store_compact_revision gauge\n"
            "kubeling_store_compact_revision %" PRId64 "\n"
            "# TYPE kubeling_store_keys gauge\nkubeling_store_keys %" PRId64 "\n"
            "# TYPE kubeling_store_commits_total counter\n"
            "kubeling_store_commits_total %" PRIu64 "\n"
            "# TYPE kubeling_store_committed_ops_total counter\n"
            "kubeling_store_committed_ops_total %" PRIu64 "\n"
            "# TYPE kubeling_store_commit_failures_total counter\n"
            "kubeling_store_commit_failures_total %" PRIu64 "\n"
            "# TYPE kubeling_store_watchers gauge\nkubeling_store_watchers %zu\n"
            "# TYPE kubeling_store_db_size_bytes gauge\nkubeling_store_db_size_bytes %" PRId64
            "\n# TYPE kubeling_store_wal_size_bytes gauge\n"
            "kubeling_store_wal_size_bytes %" PRId64 "\n",
            st.rev, st.compact_rev, st.keys, st.batches, st.batched_ops, st.commit_failures,
            st.watchers, st.db_bytes, st.wal_bytes);
    }
    util_buf_printf(b,
                    "# TYPE process_resident_memory_bytes gauge\n"
                    "process_resident_memory_bytes %ld\n",
                    rss_bytes());
}
