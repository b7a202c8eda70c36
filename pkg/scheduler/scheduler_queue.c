/* scheduler_queue: upstream's PriorityQueue (activeQ, backoffQ, unschedulable pods) with an
 * explicit clock. */
#include "scheduler/scheduler_internal.h"

#include <stdlib.h>
#include <string.h>

/* Linear scans over one array keep this small (pop, flush, moves); lookups by name, which every
 * watch event does, go through a hash index. Tens of thousands of pending pods would want a
 * heap too (docs/scheduler.md). */

typedef enum { Q_ACTIVE, Q_BACKOFF, Q_UNSCHEDULABLE, Q_IN_FLIGHT } qstate_t;

typedef struct qentry {
    char *ns, *name;
    cJSON *pod;
    int32_t priority;
    qstate_t state;
    int64_t timestamp;     /* when it last entered the queue: order within a priority */
    uint64_t seq;          /* insertion order, the last tie-breaker */
    int attempts;          /* scheduling attempts so far */
    int64_t backoff_until; /* end of the back-off after the last failure */
    int64_t parked_at;     /* when it became unschedulable */
    uint64_t cycle;        /* scheduling cycle of the attempt in flight */
    bool deleted;          /* deleted while in flight: freed by done() */
    cJSON *update;         /* newer copy that arrived while in flight (the driver holds pod) */
} qentry_t;

struct scheduler_queue {
    qentry_t **e;
    size_t n, cap;
    qentry_t **index;             /* open addressing by ns/name: the entries find() may return */
    size_t index_cap, index_used; /* used: live entries and tombstones */
    uint64_t seq;
    uint64_t scheduling_cycle;
    uint64_t move_request_cycle;
};

scheduler_queue_t *scheduler_queue_new(void)
{
    return util_xcalloc(1, sizeof(scheduler_queue_t));
}

static void entry_free(qentry_t *e)
{
    free(e->ns);
    free(e->name);
    cJSON_Delete(e->pod);
    cJSON_Delete(e->update);
    free(e);
}

scheduler_queue_t *scheduler_queue_free(scheduler_queue_t *q)
{
    if (!q)
        return NULL;
    for (size_t i = 0; i < q->n; i++)
        entry_free(q->e[i]);
    free(q->e);
    free(q->index);
    free(q);
    return NULL;
}

static qentry_t index_tomb;
#define TOMB (&index_tomb)

static qentry_t **index_slot(const scheduler_queue_t *q, const char *ns, const char *name)
{
    if (!q->index_cap)
        return NULL;
    size_t mask = q->index_cap - 1;
    for (size_t i = sched_key_hash(ns, name) & mask;; i = (i + 1) & mask) {
        qentry_t *e = q->index[i];
        if (!e)
            return NULL;
        if (e != TOMB && strcmp(e->name, name) == 0 && strcmp(e->ns, ns) == 0)
            return &q->index[i];
    }
}

static void index_put(qentry_t **slots, size_t cap, qentry_t *e)
{
    size_t mask = cap - 1, i = sched_key_hash(e->ns, e->name) & mask;
    while (slots[i] && slots[i] != TOMB)
        i = (i + 1) & mask;
    slots[i] = e;
}

/* Indexes e (not indexed yet); at most half full, tombstones included. */
static void index_add(scheduler_queue_t *q, qentry_t *e)
{
    if ((q->index_used + 1) * 2 > q->index_cap) {
        size_t live = 0, cap = 64;
        for (size_t i = 0; i < q->index_cap; i++)
            live += q->index[i] && q->index[i] != TOMB;
        while ((live + 1) * 4 > cap)
            cap *= 2;
        qentry_t **slots = util_xcalloc(cap, sizeof(*slots));
        for (size_t i = 0; i < q->index_cap; i++)
            if (q->index[i] && q->index[i] != TOMB)
                index_put(slots, cap, q->index[i]);
        free(q->index);
        q->index = slots;
        q->index_cap = cap;
        q->index_used = live;
    }
    size_t mask = q->index_cap - 1, i = sched_key_hash(e->ns, e->name) & mask;
    while (q->index[i] && q->index[i] != TOMB)
        i = (i + 1) & mask;
    if (!q->index[i])
        q->index_used++;
    q->index[i] = e;
}

static void index_remove(scheduler_queue_t *q, const qentry_t *e)
{
    qentry_t **slot = index_slot(q, e->ns, e->name);
    if (slot && *slot == e)
        *slot = TOMB;
}

/* The live (not deleted) entry of ns/name. */
static qentry_t *find(const scheduler_queue_t *q, const char *ns, const char *name)
{
    qentry_t **slot = index_slot(q, ns, name);
    return slot ? *slot : NULL;
}

static void drop(scheduler_queue_t *q, qentry_t *e)
{
    if (!e->deleted)
        index_remove(q, e);
    for (size_t i = 0; i < q->n; i++) {
        if (q->e[i] == e) {
            q->e[i] = q->e[--q->n];
            entry_free(e);
            return;
        }
    }
}

/* upstream calculateBackoffDuration: 1 s doubling per attempt, at most 10 s. */
static int64_t backoff_ms(int attempts)
{
    int64_t d = SCHEDULER_BACKOFF_INITIAL_MS;
    for (int i = 1; i < attempts; i++) {
        d *= 2;
        if (d >= SCHEDULER_BACKOFF_MAX_MS)
            return SCHEDULER_BACKOFF_MAX_MS;
    }
    return d;
}

/* Back to activeQ, or to backoffQ while its back-off runs. */
static void requeue(qentry_t *e, int64_t now)
{
    e->state = now < e->backoff_until ? Q_BACKOFF : Q_ACTIVE;
}

/* Upstream's isPodUpdated: an update that only touches status, resourceVersion, generation or
 * managedFields (for instance our own PodScheduled=False patch) is no reason to try again. */
static bool pod_updated(const cJSON *old, const cJSON *pod)
{
    cJSON *a = cJSON_Duplicate(old, true), *b = cJSON_Duplicate(pod, true);
    cJSON *objs[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        cJSON_DeleteItemFromObjectCaseSensitive(objs[i], "status");
        cJSON *meta = cJSON_GetObjectItemCaseSensitive(objs[i], "metadata");
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "resourceVersion");
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "generation");
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "managedFields");
    }
    bool changed = !cJSON_Compare(a, b, true);
    cJSON_Delete(a);
    cJSON_Delete(b);
    return changed;
}

void scheduler_queue_add(scheduler_queue_t *q, const cJSON *pod, int32_t priority, int64_t now)
{
    const char *ns = sched_str(pod, "metadata.namespace"), *name = sched_str(pod, "metadata.name");
    if (!name)
        return;
    ns = ns ? ns : "default";
    qentry_t *e = find(q, ns, name);
    if (e && e->state == Q_IN_FLIGHT) {
        if (!pod_updated(e->update ? e->update : e->pod, pod))
            return;
        cJSON_Delete(e->update);
        e->update = cJSON_Duplicate(pod, true);
        e->priority = priority;
        return;
    }
    if (e) {
        bool updated = pod_updated(e->pod, pod);
        cJSON_Delete(e->pod);
        e->pod = cJSON_Duplicate(pod, true);
        e->priority = priority;
        if (e->state == Q_UNSCHEDULABLE && updated)
            requeue(e, now);
        return;
    }
    e = util_xcalloc(1, sizeof(*e));
    e->ns = util_xstrdup(ns);
    e->name = util_xstrdup(name);
    e->pod = cJSON_Duplicate(pod, true);
    e->priority = priority;
    e->state = Q_ACTIVE;
    e->timestamp = now;
    e->seq = q->seq++;
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 32;
        q->e = util_xrealloc(q->e, q->cap * sizeof(*q->e));
    }
    q->e[q->n++] = e;
    index_add(q, e);
}

void scheduler_queue_delete(scheduler_queue_t *q, const char *ns, const char *name)
{
    qentry_t *e = find(q, ns, name);
    if (!e)
        return;
    if (e->state == Q_IN_FLIGHT) {
        index_remove(q, e); /* a new pod of that name gets an entry of its own */
        e->deleted = true;
    } else {
        drop(q, e);
    }
}

/* Periodic flushes of upstream's queue, done lazily: expired back-offs, and pods parked as
 * unschedulable for longer than 5 minutes. */
static void flush(scheduler_queue_t *q, int64_t now)
{
    for (size_t i = 0; i < q->n; i++) {
        qentry_t *e = q->e[i];
        if (e->state == Q_BACKOFF && now >= e->backoff_until)
            e->state = Q_ACTIVE;
        else if (e->state == Q_UNSCHEDULABLE &&
                 now - e->parked_at >= SCHEDULER_UNSCHEDULABLE_MAX_WAIT_MS)
            requeue(e, now);
    }
}

/* upstream's PrioritySort: higher priority first, then earlier timestamp. */
static bool before(const qentry_t *a, const qentry_t *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    if (a->timestamp != b->timestamp)
        return a->timestamp < b->timestamp;
    return a->seq < b->seq;
}

const cJSON *scheduler_queue_pop(scheduler_queue_t *q, int64_t now)
{
    flush(q, now);
    qentry_t *best = NULL;
    for (size_t i = 0; i < q->n; i++)
        if (q->e[i]->state == Q_ACTIVE && (!best || before(q->e[i], best)))
            best = q->e[i];
    if (!best)
        return NULL;
    best->state = Q_IN_FLIGHT;
    best->attempts++;
    best->cycle = ++q->scheduling_cycle;
    return best->pod;
}

void scheduler_queue_done(scheduler_queue_t *q, const cJSON *pod, scheduler_attempt_t outcome,
                          int64_t now)
{
    qentry_t *e = NULL;
    for (size_t i = 0; i < q->n && !e; i++)
        if (q->e[i]->pod == pod && q->e[i]->state == Q_IN_FLIGHT)
            e = q->e[i];
    if (!e)
        return;
    if (e->deleted || outcome == SCHEDULER_ATTEMPT_SCHEDULED || outcome == SCHEDULER_ATTEMPT_GONE) {
        drop(q, e);
        return;
    }
    if (e->update) { /* the pod changed during the attempt: try the new version */
        cJSON_Delete(e->pod);
        e->pod = e->update;
        e->update = NULL;
        e->state = Q_BACKOFF;
        e->timestamp = now;
        e->backoff_until = now + backoff_ms(e->attempts);
        return;
    }
    e->timestamp = now;
    e->backoff_until = now + backoff_ms(e->attempts);
    /* A cluster event during the attempt may already have fixed what failed: retry after the
     * back-off instead of waiting for another event (upstream's moveRequestCycle). */
    if (outcome == SCHEDULER_ATTEMPT_ERROR || q->move_request_cycle >= e->cycle) {
        e->state = Q_BACKOFF;
    } else {
        e->state = Q_UNSCHEDULABLE;
        e->parked_at = now;
    }
}

void scheduler_queue_move_all(scheduler_queue_t *q, scheduler_event_t ev, int64_t now)
{
    (void)ev; /* every event we are told about may help (no per-plugin queueing hints) */
    q->move_request_cycle = q->scheduling_cycle;
    for (size_t i = 0; i < q->n; i++)
        if (q->e[i]->state == Q_UNSCHEDULABLE)
            requeue(q->e[i], now);
}

int64_t scheduler_queue_next_wakeup(const scheduler_queue_t *q, int64_t now)
{
    int64_t best = -1;
    for (size_t i = 0; i < q->n; i++) {
        const qentry_t *e = q->e[i];
        int64_t at;
        if (e->state == Q_ACTIVE)
            at = now;
        else if (e->state == Q_BACKOFF)
            at = e->backoff_until;
        else if (e->state == Q_UNSCHEDULABLE)
            at = e->parked_at + SCHEDULER_UNSCHEDULABLE_MAX_WAIT_MS;
        else
            continue;
        int64_t d = at > now ? at - now : 0;
        if (best < 0 || d < best)
            best = d;
    }
    return best;
}

void scheduler_queue_counts(const scheduler_queue_t *q, size_t *active, size_t *backoff,
                            size_t *unschedulable)
{
    size_t a = 0, b = 0, u = 0;
    for (size_t i = 0; i < q->n; i++) {
        a += q->e[i]->state == Q_ACTIVE;
        b += q->e[i]->state == Q_BACKOFF;
        u += q->e[i]->state == Q_UNSCHEDULABLE;
    }
    if (active)
        *active = a;
    if (backoff)
        *backoff = b;
    if (unschedulable)
        *unschedulable = u;
}
