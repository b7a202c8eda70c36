/* controller_queue: client-go's rate-limited work queue (per-key dedup, a key in processing is
 * not handed out twice, exponential per-key back-off 5 ms .. 1000 s). A flat array: controllers
 * here hold tens to thousands of keys, and a pop is a scan. */
#include "controller/controller.h"

#include <stdlib.h>
#include <string.h>

typedef struct item {
    char *key;
    uint64_t due;       /* when queued */
    unsigned failures;  /* for the back-off */
    bool queued;        /* waits for due */
    bool processing;    /* handed out, not done */
    bool again;         /* added while processing: queue at done */
    uint64_t again_due; /* and when */
} item_t;

struct controller_queue {
    item_t *v;
    size_t n, cap;
};

controller_queue_t *controller_queue_new(void)
{
    return util_xcalloc(1, sizeof(controller_queue_t));
}

void controller_queue_free(controller_queue_t *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n; i++)
        free(q->v[i].key);
    free(q->v);
    free(q);
}

static item_t *find(const controller_queue_t *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (!strcmp(q->v[i].key, key))
            return &q->v[i];
    return NULL;
}

static item_t *get(controller_queue_t *q, const char *key)
{
    item_t *it = find(q, key);
    if (it)
        return it;
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 16;
        q->v = util_xrealloc(q->v, q->cap * sizeof(*q->v));
    }
    it = &q->v[q->n++];
    *it = (item_t){.key = util_xstrdup(key)};
    return it;
}

/* An item neither queued, processing nor failing is forgotten. */
static void prune(controller_queue_t *q, item_t *it)
{
    if (it->queued || it->processing || it->failures)
        return;
    free(it->key);
    *it = q->v[--q->n];
}

void controller_queue_add_after(controller_queue_t *q, const char *key, uint64_t delay_ms,
                                uint64_t now)
{
    item_t *it = get(q, key);
    uint64_t due = now + delay_ms;
    if (it->processing) {
        if (!it->again || due < it->again_due)
            it->again_due = due;
        it->again = true;
        return;
    }
    if (!it->queued || due < it->due)
        it->due = due;
    it->queued = true;
}

void controller_queue_add(controller_queue_t *q, const char *key, uint64_t now)
{
    controller_queue_add_after(q, key, 0, now);
}

void controller_queue_add_rate_limited(controller_queue_t *q, const char *key, uint64_t now)
{
    item_t *it = get(q, key);
    uint64_t d = CONTROLLER_BACKOFF_BASE_MS;
    for (unsigned i = 0; i < it->failures && d < CONTROLLER_BACKOFF_MAX_MS; i++)
        d *= 2;
    if (d > CONTROLLER_BACKOFF_MAX_MS)
        d = CONTROLLER_BACKOFF_MAX_MS;
    if (it->failures < 64)
        it->failures++;
    controller_queue_add_after(q, key, d, now);
}

void controller_queue_forget(controller_queue_t *q, const char *key)
{
    item_t *it = find(q, key);
    if (it) {
        it->failures = 0;
        prune(q, it);
    }
}

unsigned controller_queue_failures(const controller_queue_t *q, const char *key)
{
    const item_t *it = find(q, key);
    return it ? it->failures : 0;
}

char *controller_queue_pop(controller_queue_t *q, uint64_t now)
{
    item_t *best = NULL;
    for (size_t i = 0; i < q->n; i++) {
        item_t *it = &q->v[i];
        if (it->queued && it->due <= now && (!best || it->due < best->due))
            best = it;
    }
    if (!best)
        return NULL;
    best->queued = false;
    best->processing = true;
    return util_xstrdup(best->key);
}

void controller_queue_done(controller_queue_t *q, const char *key, uint64_t now)
{
    item_t *it = find(q, key);
    if (!it || !it->processing)
        return;
    it->processing = false;
    if (it->again) {
        it->again = false;
        uint64_t due = it->again_due > now ? it->again_due : now;
        if (!it->queued || due < it->due)
            it->due = due;
        it->queued = true;
    }
    prune(q, it);
}

int64_t controller_queue_next(const controller_queue_t *q, uint64_t now)
{
    int64_t best = -1;
    for (size_t i = 0; i < q->n; i++) {
        const item_t *it = &q->v[i];
        if (!it->queued)
            continue;
        int64_t d = it->due <= now ? 0 : (int64_t)(it->due - now);
        if (best < 0 || d < best)
            best = d;
    }
    return best;
}

size_t controller_queue_len(const controller_queue_t *q)
{
    size_t n = 0;
    for (size_t i = 0; i < q->n; i++)
        n += q->v[i].queued;
    return n;
}
