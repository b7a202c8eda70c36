/* store_compact: when to compact: a retention window by revision count and by age.
 *
 * Compaction is decided here, on the loop, and carried out by the writer in small batches
 * between write batches. The timer runs only while there is history beyond the minimum
 * retention, so an idle store stops waking up once its history has aged out. */
#include "store_internal.h"

#include <string.h>

static void on_compact_timer(uv_timer_t *t);

/* Samples say "revision rev was committed at or before ms"; they are at least a second apart,
 * and thinned (every other one dropped) when the table is full, so it spans any window. */
static void add_sample(store_t *s, int64_t rev, uint64_t ms)
{
    size_t cap = UTIL_ARRAY_SIZE(s->samples);
    if (s->nsamples >= 2 && ms - s->samples[s->nsamples - 2].ms < 1000) {
        s->samples[s->nsamples - 1].rev = rev;
        s->samples[s->nsamples - 1].ms = ms;
        return;
    }
    if (s->nsamples == cap) {
        size_t j = 0;
        for (size_t i = 0; i < cap; i += 2)
            s->samples[j++] = s->samples[i];
        s->nsamples = j;
    }
    s->samples[s->nsamples].rev = rev;
    s->samples[s->nsamples].ms = ms;
    s->nsamples++;
}

/* The timer runs every compact_interval_ms while there is history to drop, and at once when
 * the history passes twice retain_revs_max, so a burst of writes cannot pile up a whole
 * interval's worth of history. */
static void arm(store_t *s)
{
    if (s->closing || !s->opts.compact_interval_ms)
        return;
    int64_t history = s->delivered_rev - s->compact_rev;
    if (history <= s->opts.retain_revs_min)
        return;
    bool overdue = s->opts.retain_revs_max > 0 && history > 2 * s->opts.retain_revs_max;
    if (uv_is_active((uv_handle_t *)&s->compact_timer)) {
        if (!overdue || uv_timer_get_due_in(&s->compact_timer) == 0)
            return;
        uv_timer_stop(&s->compact_timer);
    }
    uv_timer_start(&s->compact_timer, on_compact_timer, overdue ? 0 : s->opts.compact_interval_ms,
                   0);
}

void store__compact_init(store_t *s)
{
    /* Everything already stored was committed before now: that is all we know of its age. */
    add_sample(s, s->delivered_rev, store__now_ms());
    arm(s);
}

void store__compact_note_commit(store_t *s)
{
    add_sample(s, s->delivered_rev, store__now_ms());
    arm(s);
}

/* The newest revision known to be older than the age limit. */
static int64_t rev_older_than(store_t *s, uint64_t cutoff_ms)
{
    int64_t rev = 0;
    for (size_t i = 0; i < s->nsamples && s->samples[i].ms <= cutoff_ms; i++)
        rev = s->samples[i].rev;
    return rev;
}

static void on_compact_timer(uv_timer_t *t)
{
    store_t *s = t->data;
    uint64_t now = store__now_ms();
    int64_t cur = s->delivered_rev;
    int64_t target =
        rev_older_than(s, now > s->opts.retain_age_ms ? now - s->opts.retain_age_ms : 0);
    if (s->opts.retain_revs_max > 0 && cur - s->opts.retain_revs_max > target)
        target = cur - s->opts.retain_revs_max;
    if (target > cur - s->opts.retain_revs_min)
        target = cur - s->opts.retain_revs_min;
    if (target > s->compact_rev)
        store_compact(s, target, NULL);
    size_t keep = 0; /* samples at or below the compaction revision are no longer needed */
    while (keep + 1 < s->nsamples && s->samples[keep + 1].rev <= s->compact_rev)
        keep++;
    memmove(s->samples, s->samples + keep, (s->nsamples - keep) * sizeof(s->samples[0]));
    s->nsamples -= keep;
    arm(s);
}

void store__compact_close(store_t *s)
{
    uv_timer_stop(&s->compact_timer);
    uv_close((uv_handle_t *)&s->compact_timer, store__handle_closed);
}
