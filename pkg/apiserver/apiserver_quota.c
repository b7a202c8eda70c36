/* apiserver_quota: upstream's ResourceQuota admission and the quota controller's status upkeep.
 *
 * Admission (plugin/pkg/admission/resourcequota): an object being created is checked against
 * every quota of its namespace that selects it; its usage must fit hard - used, where used is
 * status.used plus what admitted writes still in flight have charged (a ledger, so that
 * concurrent creates never get past the limit together: the loop thread admits one at a time).
 * Once the object is committed its charge is written into the quota's status (compare-and-swap,
 * retried), as upstream charges status.used on admit; a write that fails releases it.
 *
 * Status (pkg/controller/resourcequota): a store watch over every key notes the namespaces
 * whose objects changed; their quotas get status.hard = spec.hard and status.used recomputed
 * from the objects themselves (so deletes, and writes by any path, are reflected). Quotas with
 * charges in flight are left to the next change. */
#include "apiserver_quota.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_convert.h"
#include "apiserver_crd.h"
#include "apiserver_list_cache.h"
#include "apiserver_object.h"
#include "apiserver_registry.h"

#define MAX_QUOTAS 16 /* per namespace, checked per write */
#define KEY_MAX    600

typedef struct ledger_entry {
    char key[KEY_MAX];
    apiserver_quota_list_t pending;
    unsigned refs;
} ledger_entry_t;

struct apiserver_quota {
    ledger_entry_t *ledger;
    size_t nledger, cap;
    store_watcher_t *watcher;
    util_strv_t dirty; /* namespaces to recompute */
};

struct apiserver_quota_charge {
    size_t n;
    struct {
        char key[KEY_MAX];
        apiserver_quota_list_t delta;
    } q[MAX_QUOTAS];
};

static struct apiserver_quota *state(apiserver_t *a)
{
    if (!a->quota)
        a->quota = util_xcalloc(1, sizeof(*a->quota));
    return a->quota;
}

static ledger_entry_t *ledger_find(struct apiserver_quota *q, const char *key, bool create)
{
    for (size_t i = 0; i < q->nledger; i++)
        if (!strcmp(q->ledger[i].key, key))
            return &q->ledger[i];
    if (!create)
        return NULL;
    if (q->nledger == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 8;
        q->ledger = util_xrealloc(q->ledger, q->cap * sizeof(*q->ledger));
    }
    ledger_entry_t *e = &q->ledger[q->nledger++];
    memset(e, 0, sizeof(*e));
    util_strlcpy(e->key, key, sizeof(e->key));
    return e;
}

static void ledger_release(struct apiserver_quota *q, const char *key,
                           const apiserver_quota_list_t *delta)
{
    ledger_entry_t *e = ledger_find(q, key, false);
    if (!e)
        return;
    for (size_t i = 0; i < delta->n; i++)
        apiserver_quota_list_add(&e->pending, delta->e[i].name, -delta->e[i].milli);
    if (--e->refs == 0)
        *e = q->ledger[--q->nledger];
}

/* ---- reading quotas ------------------------------------------------------------------------- */

static const apiserver_resource_t *quota_resource(void)
{
    return apiserver_resource_find("", "v1", "resourcequotas");
}

/* The quotas of ns (at most MAX_QUOTAS, owned kvs); 0 when there are none. */
static size_t read_quotas(apiserver_t *a, const char *ns, store_list_t *l)
{
    char prefix[512], end[512];
    apiserver_registry_prefix(quota_resource(), ns, prefix, sizeof(prefix));
    size_t elen = store_prefix_end(prefix, strlen(prefix), end);
    memset(l, 0, sizeof(*l));
    if (apiserver_list_cache_known_empty(a, prefix))
        return 0;
    if (store_range(a->opts.store, prefix, strlen(prefix), end, elen, 0, MAX_QUOTAS, l, NULL) < 0)
        return 0;
    if (l->n == 0)
        apiserver_list_cache_put_empty(a, prefix, l->rev);
    return l->n;
}

static const cJSON *get(const cJSON *obj, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(obj, name);
}

static const cJSON *hard_of(const cJSON *quota)
{
    const cJSON *h = get(get(quota, "status"), "hard");
    return cJSON_IsObject(h) ? h : get(get(quota, "spec"), "hard");
}

static bool binary_hint(const cJSON *hard, const char *name)
{
    const char *s = apiserver_obj_string(hard, name);
    return s && strchr(s, 'i');
}

/* ---- usage computed from the objects -------------------------------------------------------- */

/* Sums the usage of every object of r in ns that the quota selects. */
static void sum_resource(apiserver_t *a, const apiserver_resource_t *r, const char *ns,
                         const cJSON *quota, apiserver_quota_list_t *out)
{
    char prefix[512], end[512];
    apiserver_registry_prefix(r, ns, prefix, sizeof(prefix));
    size_t elen = store_prefix_end(prefix, strlen(prefix), end);
    store_list_t l = {0};
    if (store_range(a->opts.store, prefix, strlen(prefix), end, elen, 0, 0, &l, NULL) < 0)
        return;
    for (size_t i = 0; i < l.n; i++) {
        cJSON *obj = cJSON_ParseWithLength(l.kvs[i]->value, l.kvs[i]->value_len);
        if (obj && apiserver_quota_matches(quota, r, obj))
            apiserver_quota_usage(r, obj, out);
        cJSON_Delete(obj);
    }
    store_list_free(&l);
}

/* status.used of quota: every hard name, from the objects of ns. */
static cJSON *compute_used(apiserver_t *a, const char *ns, const cJSON *quota)
{
    const cJSON *hard = get(get(quota, "spec"), "hard");
    const apiserver_resource_t *done[APISERVER_QUOTA_MAX_NAMES];
    size_t ndone = 0;
    apiserver_quota_list_t usage = {0};
    const cJSON *h;
    cJSON_ArrayForEach(h, hard)
    {
        char group[128], plural[128];
        if (!h->string ||
            !apiserver_quota_resource_of(h->string, group, sizeof(group), plural, sizeof(plural)))
            continue;
        const apiserver_resource_t *r = NULL;
        for (size_t i = 0; i < apiserver_resource_count() && !r; i++) {
            const apiserver_resource_t *c = apiserver_resource_at(i);
            if (!strcmp(c->group, group) && !strcmp(c->plural, plural) && c->namespaced)
                r = apiserver_conv_storage(c);
        }
        bool seen = false;
        for (size_t i = 0; i < ndone; i++)
            seen |= done[i] == r;
        if (!r || seen || ndone == APISERVER_QUOTA_MAX_NAMES)
            continue;
        done[ndone++] = r;
        sum_resource(a, r, ns, quota, &usage);
    }
    cJSON *used = cJSON_CreateObject();
    cJSON_ArrayForEach(h, hard)
    {
        if (!h->string)
            continue;
        char text[64];
        apiserver_quota_format(apiserver_quota_list_get(&usage, h->string, NULL),
                               binary_hint(hard, h->string), text, sizeof(text));
        cJSON_AddStringToObject(used, h->string, text);
    }
    return used;
}

/* Sets status.hard (= spec.hard) and status.used of a quota object. */
static void set_status(cJSON *quota, cJSON *used)
{
    cJSON *status = cJSON_GetObjectItemCaseSensitive(quota, "status");
    if (!cJSON_IsObject(status)) {
        cJSON_DeleteItemFromObjectCaseSensitive(quota, "status");
        status = cJSON_AddObjectToObject(quota, "status");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(status, "hard");
    cJSON_DeleteItemFromObjectCaseSensitive(status, "used");
    const cJSON *hard = get(get(quota, "spec"), "hard");
    cJSON_AddItemToObject(status, "hard",
                          hard ? cJSON_Duplicate(hard, true) : cJSON_CreateObject());
    cJSON_AddItemToObject(status, "used", used);
}

/* ---- admission ------------------------------------------------------------------------------- */

static void forbidden(apiserver_conn_t *c, const apiserver_resource_t *r, const char *name,
                      const char *why)
{
    char qualified[128];
    apiserver_obj_qualified(r, qualified, sizeof(qualified));
    char *msg = util_strdup_printf("%s \"%s\" is forbidden: %s", qualified, name, why);
    apiserver__respond_status(c, 403, "Forbidden", msg);
    free(msg);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* upstream's "exceeded quota: q, requested: a=1,b=2, used: ..., limited: ..." (sorted names). */
static char *exceeded_message(const char *quota, const char **names, size_t n,
                              const apiserver_quota_list_t *delta,
                              const apiserver_quota_list_t *used, const cJSON *hard)
{
    qsort(names, n, sizeof(*names), cmp_name);
    util_buf_t b = {0};
    util_buf_printf(&b, "exceeded quota: %s", quota);
    static const char *const parts[] = {"requested", "used", "limited"};
    for (int p = 0; p < 3; p++) {
        util_buf_printf(&b, ", %s: ", parts[p]);
        for (size_t i = 0; i < n; i++) {
            char text[64];
            if (p == 2) {
                apiserver_quota_list_t hl = {0};
                apiserver_quota_list_parse(hard, &hl);
                apiserver_quota_format(apiserver_quota_list_get(&hl, names[i], NULL),
                                       binary_hint(hard, names[i]), text, sizeof(text));
            } else {
                apiserver_quota_format(
                    apiserver_quota_list_get(p == 0 ? delta : used, names[i], NULL),
                    binary_hint(hard, names[i]), text, sizeof(text));
            }
            util_buf_printf(&b, "%s%s=%s", i ? "," : "", names[i], text);
        }
    }
    return util_buf_steal(&b);
}

/* One quota against the object's usage: < 0 (answered) when it does not fit, else the delta to
 * charge (possibly empty). */
static int check_one(apiserver_conn_t *c, const apiserver_target_t *t, const cJSON *obj,
                     const char *name, const cJSON *quota, const char *key,
                     const apiserver_quota_list_t *usage, apiserver_quota_list_t *delta)
{
    const cJSON *hard = hard_of(quota);
    const char *qname = apiserver_obj_string(get(quota, "metadata"), "name");
    apiserver_quota_list_t hl = {0}, used = {0};
    apiserver_quota_list_parse(hard, &hl);
    if (obj && apiserver_reg_is(t->res, "pods")) {
        char *why = apiserver_quota_pod_constraints(obj, &hl);
        if (why) {
            char *msg = util_strdup_printf("failed quota: %s: %s", qname ? qname : "", why);
            forbidden(c, t->res, name, msg);
            free(msg);
            free(why);
            return -1;
        }
    }
    apiserver_quota_list_parse(get(get(quota, "status"), "used"), &used);
    ledger_entry_t *pending = ledger_find(state(c->srv), key, false);
    const char *exceeded[APISERVER_QUOTA_MAX_NAMES];
    size_t nex = 0;
    for (size_t i = 0; i < hl.n; i++) {
        bool found;
        int64_t want = apiserver_quota_list_get(usage, hl.e[i].name, &found);
        if (!found)
            continue;
        apiserver_quota_list_add(delta, hl.e[i].name, want);
        if (pending)
            apiserver_quota_list_add(
                &used, hl.e[i].name,
                apiserver_quota_list_get(&pending->pending, hl.e[i].name, NULL));
        int64_t now = apiserver_quota_list_get(&used, hl.e[i].name, NULL);
        if (now + want > hl.e[i].milli)
            exceeded[nex++] = hl.e[i].name;
    }
    if (nex == 0)
        return 0;
    char *why = exceeded_message(qname ? qname : "", exceeded, nex, delta, &used, hard);
    forbidden(c, t->res, name, why);
    free(why);
    return -1;
}

/* A new ResourceQuota starts with its status computed (upstream's controller does it at once;
 * admission would otherwise refuse with "status unknown"). */
static void prepare_quota(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj)
{
    set_status(obj, compute_used(c->srv, t->ns, obj));
}

/* Checks usage (what obj adds) against the namespace's quotas that select obj and charges it;
 * constraints: also the pod "must specify" rule (creates). */
static int admit_usage(apiserver_conn_t *c, const apiserver_target_t *t, const cJSON *obj,
                       const apiserver_quota_list_t *usage, bool constraints)
{
    store_list_t l;
    if (read_quotas(c->srv, t->ns, &l) == 0) {
        store_list_free(&l);
        return 0;
    }
    const apiserver_resource_t *r = apiserver_conv_storage(t->res);
    const char *name = apiserver_obj_string(get(obj, "metadata"), "name");
    struct apiserver_quota_charge *ch = util_xcalloc(1, sizeof(*ch));
    int rc = 0;
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        cJSON *quota = cJSON_ParseWithLength(l.kvs[i]->value, l.kvs[i]->value_len);
        char key[KEY_MAX];
        snprintf(key, sizeof(key), "%.*s", (int)l.kvs[i]->key_len, l.kvs[i]->key);
        apiserver_quota_list_t delta = {0};
        if (quota && apiserver_quota_matches(quota, r, obj))
            rc = check_one(c, t, constraints ? obj : NULL, name ? name : "", quota, key, usage,
                           &delta);
        if (rc == 0 && delta.n) {
            util_strlcpy(ch->q[ch->n].key, key, KEY_MAX);
            ch->q[ch->n++].delta = delta;
        }
        cJSON_Delete(quota);
    }
    store_list_free(&l);
    if (rc < 0 || ch->n == 0 || apiserver_reg_dry_run(c)) {
        free(ch);
        return rc;
    }
    struct apiserver_quota *q = state(c->srv);
    for (size_t i = 0; i < ch->n; i++) {
        ledger_entry_t *e = ledger_find(q, ch->q[i].key, true);
        e->refs++;
        for (size_t k = 0; k < ch->q[i].delta.n; k++)
            apiserver_quota_list_add(&e->pending, ch->q[i].delta.e[k].name,
                                     ch->q[i].delta.e[k].milli);
    }
    free(c->req.quota_charge);
    c->req.quota_charge = ch;
    return 0;
}

int apiserver_quota_admit(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj)
{
    if (!t->res->namespaced || apiserver_crd_of(t->res) || t->sub[0])
        return 0;
    if (apiserver_reg_is(t->res, "resourcequotas"))
        prepare_quota(c, t, obj);
    apiserver_quota_list_t usage = {0};
    apiserver_quota_usage(apiserver_conv_storage(t->res), obj, &usage);
    return admit_usage(c, t, obj, &usage, true);
}

int apiserver_quota_admit_update(apiserver_conn_t *c, const apiserver_target_t *t, const cJSON *obj,
                                 const cJSON *cur)
{
    if (!t->res->namespaced || apiserver_crd_of(t->res) || t->sub[0] || !cur)
        return 0;
    const apiserver_resource_t *r = apiserver_conv_storage(t->res);
    apiserver_quota_list_t now = {0}, before = {0}, grow = {0};
    apiserver_quota_usage(r, obj, &now);
    apiserver_quota_usage(r, cur, &before);
    for (size_t i = 0; i < now.n; i++) { /* only growth is charged, as upstream */
        int64_t d = now.e[i].milli - apiserver_quota_list_get(&before, now.e[i].name, NULL);
        if (d > 0)
            apiserver_quota_list_add(&grow, now.e[i].name, d);
    }
    return grow.n ? admit_usage(c, t, obj, &grow, false) : 0;
}

struct apiserver_quota_charge *apiserver_quota_take_charge(apiserver_conn_t *c)
{
    struct apiserver_quota_charge *ch = c->req.quota_charge;
    c->req.quota_charge = NULL;
    return ch;
}

/* ---- writing charges into status ----------------------------------------------------------------
 */

typedef struct charge_write {
    apiserver_t *a;
    char key[KEY_MAX];
    apiserver_quota_list_t delta;
    unsigned tries;
} charge_write_t;

static void charge_write_next(charge_write_t *cw);

static void charge_written(store_t *s, store_txn_result_t *res, void *ud)
{
    (void)s;
    charge_write_t *cw = ud;
    apiserver_t *a = cw->a;
    if (res->status == STORE_ECONFLICT && cw->tries < 16 && !a->stopping) {
        charge_write_next(cw); /* someone else wrote the quota: charge the new version */
    } else {
        ledger_release(state(a), cw->key, &cw->delta);
        free(cw);
    }
    apiserver__unref(a); /* the server is released after its last store callback */
}

/* Reads the quota, adds the delta to status.used, writes it back if unchanged meanwhile. */
static void charge_write_next(charge_write_t *cw)
{
    cw->tries++;
    store_kv_t *kv = NULL;
    cJSON *quota = NULL;
    if (store_get(cw->a->opts.store, cw->key, strlen(cw->key), 0, &kv, NULL, NULL) == 0)
        quota = cJSON_ParseWithLength(kv->value, kv->value_len);
    if (!quota) { /* the quota is gone */
        free(kv);
        ledger_release(state(cw->a), cw->key, &cw->delta);
        free(cw);
        return;
    }
    const cJSON *hard = hard_of(quota);
    apiserver_quota_list_t used = {0};
    apiserver_quota_list_parse(get(get(quota, "status"), "used"), &used);
    cJSON *out = cJSON_CreateObject();
    const cJSON *h;
    cJSON_ArrayForEach(h, hard)
    {
        if (!h->string)
            continue;
        char text[64];
        int64_t v = apiserver_quota_list_get(&used, h->string, NULL) +
                    apiserver_quota_list_get(&cw->delta, h->string, NULL);
        apiserver_quota_format(v, binary_hint(hard, h->string), text, sizeof(text));
        cJSON_AddStringToObject(out, h->string, text);
    }
    cJSON *status = cJSON_GetObjectItemCaseSensitive(quota, "status");
    if (cJSON_IsObject(status)) {
        cJSON_DeleteItemFromObjectCaseSensitive(status, "used");
        cJSON_AddItemToObject(status, "used", out);
    } else {
        set_status(quota, out);
    }
    char *text = cJSON_PrintUnformatted(quota);
    store_op_t op = {.type = STORE_OP_UPDATE,
                     .key = cw->key,
                     .key_len = strlen(cw->key),
                     .value = text,
                     .value_len = strlen(text),
                     .expected_rev = kv->mod_rev};
    cw->a->pending_closes++;
    int r = store_txn(cw->a->opts.store, &op, 1, charge_written, cw, NULL);
    cJSON_free(text);
    cJSON_Delete(quota);
    free(kv);
    if (r < 0) {
        cw->a->pending_closes--;
        ledger_release(state(cw->a), cw->key, &cw->delta);
        free(cw);
    }
}

void apiserver_quota_charge_done(apiserver_t *a, struct apiserver_quota_charge *ch, bool written)
{
    if (!ch)
        return;
    for (size_t i = 0; i < ch->n; i++) {
        if (!written || a->stopping) {
            ledger_release(state(a), ch->q[i].key, &ch->q[i].delta);
            continue;
        }
        charge_write_t *cw = util_xcalloc(1, sizeof(*cw));
        cw->a = a;
        util_strlcpy(cw->key, ch->q[i].key, sizeof(cw->key));
        cw->delta = ch->q[i].delta;
        charge_write_next(cw);
    }
    free(ch);
}

/* ---- status upkeep ------------------------------------------------------------------------------
 */

static void status_written(store_t *s, store_txn_result_t *res, void *ud)
{
    (void)s;
    (void)res; /* a conflict means a newer write: its own event recomputes */
    apiserver__unref(ud);
}

/* Recomputes the quotas of ns that have no charge in flight; writes those that changed. */
static void recompute_namespace(apiserver_t *a, const char *ns)
{
    store_list_t l;
    size_t n = read_quotas(a, ns, &l);
    for (size_t i = 0; i < n; i++) {
        char key[KEY_MAX];
        snprintf(key, sizeof(key), "%.*s", (int)l.kvs[i]->key_len, l.kvs[i]->key);
        if (ledger_find(state(a), key, false)) {
            util_log_v(2, "quota: %s has charges in flight", key);
            continue;
        }
        cJSON *quota = cJSON_ParseWithLength(l.kvs[i]->value, l.kvs[i]->value_len);
        if (!quota)
            continue;
        cJSON *before = cJSON_Duplicate(get(quota, "status"), true);
        set_status(quota, compute_used(a, ns, quota));
        util_log_v(2, "quota: recomputed %s", key);
        if (!cJSON_Compare(before, get(quota, "status"), true)) {
            char *text = cJSON_PrintUnformatted(quota);
            store_op_t op = {.type = STORE_OP_UPDATE,
                             .key = key,
                             .key_len = strlen(key),
                             .value = text,
                             .value_len = strlen(text),
                             .expected_rev = l.kvs[i]->mod_rev};
            a->pending_closes++;
            if (store_txn(a->opts.store, &op, 1, status_written, a, NULL) < 0)
                a->pending_closes--;
            cJSON_free(text);
        }
        cJSON_Delete(before);
        cJSON_Delete(quota);
    }
    store_list_free(&l);
}

/* The namespace of a key /registry/<group>/<plural>/<ns>/<name> of a namespaced resource. */
static bool namespace_of_key(const char *key, size_t len, char *ns, size_t n)
{
    char buf[KEY_MAX];
    if (len >= sizeof(buf) || len < 10 || strncmp(key, "/registry/", 10))
        return false;
    memcpy(buf, key, len);
    buf[len] = '\0';
    char *save = NULL, *group = strtok_r(buf + 10, "/", &save);
    char *plural = strtok_r(NULL, "/", &save);
    char *space = strtok_r(NULL, "/", &save);
    char *name = strtok_r(NULL, "/", &save);
    if (!group || !plural || !space || !name)
        return false;
    if (!strcmp(group, "coordination.k8s.io") || !strcmp(plural, "events"))
        return false; /* leases and events change all the time and no quota counts them here */
    util_strlcpy(ns, space, n);
    return true;
}

static void on_store_event(store_watcher_t *w, void *ud)
{
    apiserver_t *a = ud;
    struct apiserver_quota *q = state(a);
    for (;;) {
        const store_event_t *ev = NULL;
        int r = store_watch_next(w, &ev, NULL);
        if (r == 0)
            break;
        if (r < 0) { /* cut off: start again from now; the next change recomputes */
            store_watch_cancel(w);
            q->watcher = NULL;
            if (r != -ECANCELED && !a->stopping)
                apiserver_quota_start(a, NULL);
            break;
        }
        char ns[256];
        if (ev->type != STORE_EVENT_PROGRESS &&
            namespace_of_key(ev->kv.key, ev->kv.key_len, ns, sizeof(ns))) {
            bool seen = false;
            for (size_t i = 0; i < q->dirty.n; i++)
                seen |= !strcmp(q->dirty.v[i], ns);
            if (!seen)
                util_strv_push(&q->dirty, ns);
        }
        store_event_unref(ev);
    }
    /* everything available is taken: one recomputation per namespace for the batch */
    for (size_t i = 0; i < q->dirty.n && !a->stopping; i++)
        recompute_namespace(a, q->dirty.v[i]);
    util_strv_clear(&q->dirty);
}

int apiserver_quota_start(apiserver_t *a, util_error_t *err)
{
    struct apiserver_quota *q = state(a);
    static const char start[] = "/registry/", end[] = "/registry0";
    store_watch_opts_t o = {
        .start = start, .start_len = strlen(start), .end = end, .end_len = strlen(end)};
    int r = store_watch(a->opts.store, &o, on_store_event, a, &q->watcher, err);
    if (r < 0) {
        q->watcher = NULL;
        return r;
    }
    on_store_event(q->watcher, a); /* edge-triggered: take what is already there */
    return 0;
}

void apiserver_quota_stop(apiserver_t *a)
{
    struct apiserver_quota *q = a->quota;
    if (!q)
        return;
    if (q->watcher)
        store_watch_cancel(q->watcher);
    q->watcher = NULL;
}

void apiserver_quota_free(apiserver_t *a)
{
    struct apiserver_quota *q = a->quota;
    if (!q)
        return;
    util_strv_clear(&q->dirty);
    free(q->ledger);
    free(q);
    a->quota = NULL;
}
