/* controller_expect: upstream's UIDTrackingControllerExpectations. A sync that creates N pods
 * records N expected creations, one that deletes records the pods' UIDs; the controller does not
 * act on the key again until the informer has shown all of them (or the record is 5 min old). */
#include "controller/controller.h"

#include <stdlib.h>
#include <string.h>

typedef struct record {
    char *key;
    int adds;
    util_strv_t dels; /* UIDs whose deletion is awaited */
    uint64_t at;
} record_t;

struct controller_expect {
    record_t *v;
    size_t n, cap;
};

controller_expect_t *controller_expect_new(void)
{
    return util_xcalloc(1, sizeof(controller_expect_t));
}

static void record_free(record_t *r)
{
    free(r->key);
    util_strv_clear(&r->dels);
}

void controller_expect_free(controller_expect_t *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++)
        record_free(&e->v[i]);
    free(e->v);
    free(e);
}

static record_t *find(const controller_expect_t *e, const char *key)
{
    for (size_t i = 0; i < e->n; i++)
        if (!strcmp(e->v[i].key, key))
            return &e->v[i];
    return NULL;
}

static record_t *get(controller_expect_t *e, const char *key)
{
    record_t *r = find(e, key);
    if (r)
        return r;
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        e->v = util_xrealloc(e->v, e->cap * sizeof(*e->v));
    }
    r = &e->v[e->n++];
    *r = (record_t){.key = util_xstrdup(key)};
    return r;
}

void controller_expect_creations(controller_expect_t *e, const char *key, int adds, uint64_t now)
{
    record_t *r = get(e, key);
    r->adds = adds;
    r->at = now;
}

void controller_expect_raise(controller_expect_t *e, const char *key, int adds, const char *del_uid,
                             uint64_t now)
{
    record_t *r = get(e, key);
    r->adds += adds;
    if (del_uid)
        util_strv_push(&r->dels, del_uid);
    r->at = now;
}

void controller_expect_deletions(controller_expect_t *e, const char *key, const char *const *uids,
                                 size_t n, uint64_t now)
{
    record_t *r = get(e, key);
    util_strv_clear(&r->dels);
    for (size_t i = 0; i < n; i++)
        util_strv_push(&r->dels, uids[i]);
    r->at = now;
}

void controller_expect_creation_observed(controller_expect_t *e, const char *key)
{
    record_t *r = find(e, key);
    if (r && r->adds > 0)
        r->adds--;
}

void controller_expect_deletion_observed(controller_expect_t *e, const char *key, const char *uid)
{
    record_t *r = find(e, key);
    if (!r || !uid)
        return;
    for (size_t i = 0; i < r->dels.n; i++) {
        if (!strcmp(r->dels.v[i], uid)) {
            free(r->dels.v[i]);
            r->dels.v[i] = r->dels.v[--r->dels.n];
            r->dels.v[r->dels.n] = NULL;
            return;
        }
    }
}

bool controller_expect_satisfied(const controller_expect_t *e, const char *key, uint64_t now)
{
    const record_t *r = find(e, key);
    if (!r)
        return true;
    if (r->adds <= 0 && r->dels.n == 0)
        return true;
    return now >= r->at + CONTROLLER_EXPECT_TTL_MS;
}

void controller_expect_delete(controller_expect_t *e, const char *key)
{
    record_t *r = find(e, key);
    if (!r)
        return;
    record_free(r);
    *r = e->v[--e->n];
}
