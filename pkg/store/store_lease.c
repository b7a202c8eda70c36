/* store_lease: lease expiry on the loop: one timer set to the nearest expiry, never polling. */
#include "store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void schedule(store_t *s);

static store_lease_t *lease_find(store_t *s, int64_t id)
{
    for (size_t i = 0; i < s->nleases; i++)
        if (s->leases[i].id == id)
            return &s->leases[i];
    return NULL;
}

static void lease_remove(store_t *s, int64_t id)
{
    store_lease_t *l = lease_find(s, id);
    if (l)
        *l = s->leases[--s->nleases];
}

static void lease_upsert(store_t *s, int64_t id, int64_t ttl, int64_t expiry)
{
    store_lease_t *l = lease_find(s, id);
    if (!l) {
        if (s->nleases == s->cap_leases)
            s->leases =
                util_xrealloc(s->leases, (s->cap_leases = s->cap_leases ? s->cap_leases * 2 : 16) *
                                             sizeof(*s->leases));
        l = &s->leases[s->nleases++];
        l->revoking = false;
    }
    l->id = id;
    l->ttl_s = ttl;
    l->expiry_ms = expiry;
}

int store__leases_init(store_t *s, const store_lease_t *leases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lease_upsert(s, leases[i].id, leases[i].ttl_s, leases[i].expiry_ms);
    schedule(s);
    return 0;
}

void store__leases_apply(store_t *s, const store_lease_change_t *changes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (changes[i].expiry_ms == 0)
            lease_remove(s, changes[i].id);
        else
            lease_upsert(s, changes[i].id, changes[i].ttl_s, changes[i].expiry_ms);
    }
    schedule(s);
}

static void on_revoked(store_t *s, store_txn_result_t *res, void *userdata)
{
    int64_t id = (int64_t)(intptr_t)userdata;
    if (res->status == -ENOENT) {
        lease_remove(s, id); /* already gone */
    } else if (res->status < 0) {
        store_lease_t *l = lease_find(s, id);
        if (l) { /* try again in a second (disk full, I/O error) */
            l->revoking = false;
            l->expiry_ms = (int64_t)store__now_ms() + 1000;
        }
    }
    if (!s->closing)
        schedule(s);
}

static void on_lease_timer(uv_timer_t *t)
{
    store_t *s = t->data;
    int64_t now = (int64_t)store__now_ms();
    for (size_t i = 0; i < s->nleases; i++) {
        store_lease_t *l = &s->leases[i];
        if (l->revoking || l->expiry_ms > now)
            continue;
        store_op_t op = {.type = STORE_OP_LEASE_REVOKE, .lease = l->id};
        if (store_txn(s, &op, 1, on_revoked, (void *)(intptr_t)l->id, NULL) == 0)
            l->revoking = true;
    }
    schedule(s);
}

static void schedule(store_t *s)
{
    if (s->closing)
        return;
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < s->nleases; i++)
        if (!s->leases[i].revoking && s->leases[i].expiry_ms < next)
            next = s->leases[i].expiry_ms;
    if (next == INT64_MAX) {
        uv_timer_stop(&s->lease_timer);
        return;
    }
    int64_t delay = next - (int64_t)store__now_ms();
    uv_timer_start(&s->lease_timer, on_lease_timer, delay > 0 ? (uint64_t)delay : 0, 0);
}

void store__leases_close(store_t *s)
{
    uv_timer_stop(&s->lease_timer);
    uv_close((uv_handle_t *)&s->lease_timer, store__handle_closed);
}
