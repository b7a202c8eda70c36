/* store_watch: the watch hub: recent events in a ring, watchers as cursors over history.
 *
 * A watcher is a revision cursor, not a queue: committed events enter one shared ring (a
 * bounded window of recent history, each event stored once whatever the number of watchers),
 * and a watcher takes the events after its cursor that match its range. A watcher that falls
 * out of the ring catches up from the database, page by page, so a slow or late watcher costs
 * no memory. Its lag is still bounded: past watcher_max_lag revisions, or below the compaction
 * revision, it is cut off with a reason (the apiserver turns that into 410 Gone). */
#include "store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DISK_PAGE_EVENTS 256

size_t store__event_size(const store_event_t *e)
{
    return sizeof(*e) + e->kv.key_len + e->kv.value_len + (e->has_prev ? e->prev.value_len : 0);
}

static void on_progress_timer(uv_timer_t *t);

void store__hub_init(store_t *s)
{
    store_hub_t *h = &s->hub;
    h->cap = s->opts.history_events < 16 ? 16 : s->opts.history_events;
    h->ring = util_xcalloc(h->cap, sizeof(*h->ring));
}

static store_event_t *ring_at(store_hub_t *h, size_t i)
{
    return h->ring[(h->head + i) % h->cap];
}

static void ring_evict(store_hub_t *h)
{
    store_event_t *e = h->ring[h->head];
    h->bytes -= store__event_size(e);
    store_event_unref(e);
    h->ring[h->head] = NULL;
    h->head = (h->head + 1) % h->cap;
    h->count--;
    h->first_rev++;
}

/* Takes over the references of n events, committed in revision order. */
void store__hub_publish(store_t *s, store_event_t **events, size_t n)
{
    store_hub_t *h = &s->hub;
    for (size_t i = 0; i < n; i++) {
        store_event_t *e = events[i];
        if (h->count == 0)
            h->first_rev = e->rev;
        while (h->count > 0 &&
               (h->count == h->cap || h->bytes + store__event_size(e) > s->opts.history_bytes))
            ring_evict(h);
        if (h->count == 0)
            h->first_rev = e->rev;
        h->ring[(h->head + h->count) % h->cap] = e;
        h->count++;
        h->bytes += store__event_size(e);
        s->delivered_rev = e->rev;
    }
}

static bool watcher_matches(const store_watcher_t *w, const store_kv_t *kv)
{
    if (!w->end) {
        return kv->key_len == w->start_len && !memcmp(kv->key, w->start, w->start_len);
    }
    size_t n = kv->key_len < w->start_len ? kv->key_len : w->start_len;
    int c = memcmp(kv->key, w->start, n);
    if (c < 0 || (c == 0 && kv->key_len < w->start_len))
        return false;
    if (w->end_len == 0)
        return true; /* open-ended range */
    n = kv->key_len < w->end_len ? kv->key_len : w->end_len;
    c = memcmp(kv->key, w->end, n);
    return c < 0 || (c == 0 && kv->key_len < w->end_len);
}

static void watcher_end(store_watcher_t *w, int status, const char *reason)
{
    if (w->ended)
        return;
    w->ended = true;
    w->end_status = status;
    snprintf(w->end_reason, sizeof(w->end_reason), "%s", reason);
    for (size_t i = w->pending_pos; i < w->npending; i++)
        store_event_unref(w->pending[i]);
    free(w->pending);
    w->pending = NULL;
    w->npending = w->pending_pos = 0;
}

/* Ends the watcher if history it still needs is gone or it lags too far. */
static bool watcher_check_lag(store_t *s, store_watcher_t *w)
{
    char why[160];
    if (w->next_rev - 1 < s->compact_rev) {
        snprintf(why, sizeof(why),
                 "required revision %lld has been compacted (compaction revision %lld)",
                 (long long)(w->next_rev - 1), (long long)s->compact_rev);
        watcher_end(w, STORE_ECOMPACTED, why);
        return false;
    }
    if (s->opts.watcher_max_lag > 0 &&
        s->delivered_rev - w->next_rev + 1 > s->opts.watcher_max_lag) {
        snprintf(
            why, sizeof(why), "watcher fell %lld revisions behind (limit %lld): consumer too slow",
            (long long)(s->delivered_rev - w->next_rev + 1), (long long)s->opts.watcher_max_lag);
        watcher_end(w, STORE_ESLOW, why);
        return false;
    }
    return true;
}

/* Reads the next page of history older than the ring. */
static int watcher_fill_from_disk(store_t *s, store_watcher_t *w, util_error_t *err)
{
    int64_t upto = s->hub.count ? s->hub.first_rev - 1 : s->delivered_rev;
    if (upto > s->delivered_rev)
        upto = s->delivered_rev;
    free(w->pending);
    w->pending = NULL;
    w->npending = w->pending_pos = 0;
    int r = s->backend->read_events(s, w->next_rev - 1, upto, DISK_PAGE_EVENTS, &w->pending,
                                    &w->npending, err);
    if (r < 0)
        return r;
    if (w->npending == 0) /* nothing left below the ring (all compacted away) */
        w->next_rev = upto + 1;
    return 0;
}

static store_event_t *progress_event(int64_t rev)
{
    store_kv_t none = {"", 0, "", 0, 0, 0, 0};
    store_event_t *e = store__event_new(STORE_EVENT_PUT, rev, &none, NULL);
    e->type = STORE_EVENT_PROGRESS;
    return e;
}

static int watcher_ended_result(store_watcher_t *w, util_error_t *err)
{
    util_error_make(err, w->end_status == -ECANCELED ? ECANCELED : 0, "%s", w->end_reason);
    return w->end_status;
}

/* Scans the ring from the cursor; returns a matching event (with a new reference) or NULL
 * with the cursor past the last delivered revision. */
static const store_event_t *ring_take(store_t *s, store_watcher_t *w)
{
    store_hub_t *h = &s->hub;
    while (w->next_rev <= s->delivered_rev && w->next_rev >= h->first_rev && h->count) {
        store_event_t *e = ring_at(h, (size_t)(w->next_rev - h->first_rev));
        w->next_rev = e->rev + 1;
        if (watcher_matches(w, &e->kv))
            return store_event_ref(e);
    }
    return NULL;
}

static const store_event_t *pending_take(store_watcher_t *w)
{
    while (w->pending_pos < w->npending) {
        store_event_t *e = w->pending[w->pending_pos++];
        if (e->rev >= w->next_rev && watcher_matches(w, &e->kv)) {
            w->next_rev = e->rev + 1;
            return e; /* the page's reference passes to the caller */
        }
        if (e->rev >= w->next_rev)
            w->next_rev = e->rev + 1;
        store_event_unref(e);
    }
    return NULL;
}

int store_watch_next(store_watcher_t *w, const store_event_t **ret_ev, util_error_t *err)
{
    store_t *s = w->store;
    *ret_ev = NULL;
    if (!s && !w->ended)
        watcher_end(w, -ECANCELED, "datastore closed");
    if (w->ended)
        return watcher_ended_result(w, err);
    for (;;) {
        if ((*ret_ev = pending_take(w)))
            return 1;
        if (w->next_rev > s->delivered_rev) { /* caught up */
            if (w->progress_wanted) {
                w->progress_wanted = false;
                *ret_ev = progress_event(s->delivered_rev);
                return 1;
            }
            w->armed = true;
            return 0;
        }
        if (!watcher_check_lag(s, w))
            return watcher_ended_result(w, err);
        if (s->hub.count && w->next_rev >= s->hub.first_rev) {
            if ((*ret_ev = ring_take(s, w)))
                return 1;
            continue;
        }
        int r = watcher_fill_from_disk(s, w, err);
        if (r < 0) {
            watcher_end(w, r, "reading history failed");
            return r;
        }
    }
}

/* ---- notification ------------------------------------------------------------------------- */

/* Tells an armed watcher whether new events concern it, moving its cursor past the ones that
 * do not so the next scan starts where this one stopped. */
static bool watcher_has_news(store_t *s, store_watcher_t *w)
{
    store_hub_t *h = &s->hub;
    if (w->progress_wanted)
        return true;
    while (w->next_rev <= s->delivered_rev) {
        if (!h->count || w->next_rev < h->first_rev)
            return true; /* needs the disk: let the consumer pull */
        store_event_t *e = ring_at(h, (size_t)(w->next_rev - h->first_rev));
        if (watcher_matches(w, &e->kv))
            return true;
        w->next_rev = e->rev + 1;
    }
    return false;
}

static void notify_each(store_t *s, bool (*wants)(store_t *, store_watcher_t *))
{
    for (store_watcher_t *w = s->hub.watchers; w; w = s->hub.iter_next) {
        s->hub.iter_next = w->next;
        if (wants(s, w)) {
            w->armed = false;
            w->cb(w, w->userdata);
        }
    }
    s->hub.iter_next = NULL;
}

static bool wants_news(store_t *s, store_watcher_t *w)
{
    if (w->ended)
        return false;
    if (!w->armed) /* still draining; only its lag is checked here */
        return !watcher_check_lag(s, w);
    return watcher_has_news(s, w);
}

void store__hub_notify(store_t *s)
{
    notify_each(s, wants_news);
}

static bool wants_compaction_news(store_t *s, store_watcher_t *w)
{
    return !w->ended && w->next_rev - 1 < s->compact_rev && !watcher_check_lag(s, w);
}

void store__hub_compacted(store_t *s)
{
    notify_each(s, wants_compaction_news);
}

static bool wants_progress(store_t *s, store_watcher_t *w)
{
    (void)s;
    if (w->ended || !w->progress_notify)
        return false;
    w->progress_wanted = true;
    return w->armed;
}

static void on_progress_timer(uv_timer_t *t)
{
    notify_each(t->data, wants_progress);
}

/* The progress timer runs only while some watcher asked for periodic progress. */
static void progress_timer_update(store_t *s)
{
    store_hub_t *h = &s->hub;
    uint64_t ms = s->opts.progress_interval_ms;
    if (h->nprogress > 0 && ms && !uv_is_active((uv_handle_t *)&h->progress_timer))
        uv_timer_start(&h->progress_timer, on_progress_timer, ms, ms);
    else if (h->nprogress == 0)
        uv_timer_stop(&h->progress_timer);
}

/* ---- watcher lifecycle -------------------------------------------------------------------- */

int store_watch(store_t *s, const store_watch_opts_t *o, store_watch_cb cb, void *userdata,
                store_watcher_t **ret, util_error_t *err)
{
    if (s->closing)
        return util_error_make(err, ECANCELED, "store: closing");
    if (!o->start || o->start_len > STORE_MAX_KEY || o->end_len > STORE_MAX_KEY ||
        o->after_rev < 0 || !cb)
        return util_error_make(err, EINVAL, "store: bad watch request");
    if (o->after_rev && o->after_rev < s->compact_rev) {
        util_error_make(err, 0,
                        "required revision %lld has been compacted (compaction revision %lld)",
                        (long long)o->after_rev, (long long)s->compact_rev);
        return STORE_ECOMPACTED;
    }
    store_watcher_t *w = util_xcalloc(1, sizeof(*w));
    w->store = s;
    w->start = util_xmalloc(o->start_len + 1);
    memcpy(w->start, o->start, o->start_len);
    w->start_len = o->start_len;
    if (o->end) {
        w->end = util_xmalloc(o->end_len + 1);
        memcpy(w->end, o->end, o->end_len);
        w->end_len = o->end_len;
    }
    w->next_rev = (o->after_rev ? o->after_rev : s->delivered_rev) + 1;
    w->progress_notify = o->progress_notify;
    w->cb = cb;
    w->userdata = userdata;
    w->next = s->hub.watchers; /* at the head: a notify pass in progress will not visit it */
    if (w->next)
        w->next->prev = w;
    s->hub.watchers = w;
    s->hub.nwatchers++;
    if (w->progress_notify) {
        s->hub.nprogress++;
        progress_timer_update(s);
    }
    *ret = w;
    return 0;
}

void store_watch_request_progress(store_watcher_t *w)
{
    if (w->ended || !w->store)
        return;
    w->progress_wanted = true;
    if (w->armed) {
        w->armed = false;
        w->cb(w, w->userdata);
    }
}

static void watcher_unlink(store_watcher_t *w)
{
    store_t *s = w->store;
    if (!s)
        return;
    if (s->hub.iter_next == w)
        s->hub.iter_next = w->next;
    if (w->prev)
        w->prev->next = w->next;
    else
        s->hub.watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    s->hub.nwatchers--;
    if (w->progress_notify) {
        s->hub.nprogress--;
        progress_timer_update(s);
    }
    w->store = NULL;
}

void store_watch_cancel(store_watcher_t *w)
{
    if (!w)
        return;
    watcher_unlink(w);
    watcher_end(w, -ECANCELED, "watch canceled");
    free(w->start);
    free(w->end);
    free(w);
}

/* Ends every watcher (its callback learns -ECANCELED), drops the ring, closes the timer. */
void store__hub_close(store_t *s)
{
    store_hub_t *h = &s->hub;
    for (store_watcher_t *w = h->watchers; w; w = s->hub.iter_next) {
        s->hub.iter_next = w->next;
        bool was_ended = w->ended;
        w->prev = w->next = NULL;
        w->store = NULL;
        watcher_end(w, -ECANCELED, "datastore closed");
        if (!was_ended)
            w->cb(w, w->userdata);
    }
    s->hub.iter_next = NULL;
    h->watchers = NULL;
    h->nwatchers = h->nprogress = 0;
    while (h->count)
        ring_evict(h);
    free(h->ring);
    h->ring = NULL;
    uv_timer_stop(&h->progress_timer);
    uv_close((uv_handle_t *)&h->progress_timer, store__handle_closed);
}
