/* store: the public store interface: validation, write completion on the loop, lifecycle. */
#include "store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void store_options_default(store_options_t *o)
{
    *o = (store_options_t){
        .cache_kib = 8192,
        .retain_revs_min = 1000,
        .retain_revs_max = 50000,
        .retain_age_ms = 5 * 60 * 1000,
        .compact_interval_ms = 60 * 1000,
        .compact_batch_rows = 1000,
        .history_events = 4096,
        .history_bytes = 16u << 20,
        .watcher_max_lag = 50000,
        .progress_interval_ms = 60 * 1000,
        .max_batch_ops = 1024,
        .verify = true,
    };
}

uint64_t store__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t store__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- objects ------------------------------------------------------------------------------ */

/* One allocation: the struct, then the key and the value, each NUL-terminated so callers may
 * treat JSON values as C strings. */
store_kv_t *store__kv_new(const void *key, size_t key_len, const void *value, size_t value_len,
                          int64_t create_rev, int64_t mod_rev, int64_t lease)
{
    store_kv_t *kv = util_xmalloc(sizeof(*kv) + key_len + value_len + 2);
    char *k = (char *)(kv + 1), *v = k + key_len + 1;
    if (key_len)
        memcpy(k, key, key_len);
    k[key_len] = '\0';
    if (value_len)
        memcpy(v, value, value_len);
    v[value_len] = '\0';
    *kv = (store_kv_t){k, key_len, v, value_len, create_rev, mod_rev, lease};
    return kv;
}

store_event_t *store__event_new(store_event_type_t type, int64_t rev, const store_kv_t *kv,
                                const store_kv_t *prev)
{
    size_t vlen = type == STORE_EVENT_PUT ? kv->value_len : 0;
    size_t plen = prev ? prev->value_len : 0;
    store_event_t *e = util_xmalloc(sizeof(*e) + kv->key_len + vlen + plen + 3);
    char *k = (char *)(e + 1), *v = k + kv->key_len + 1, *pv = v + vlen + 1;
    memcpy(k, kv->key, kv->key_len);
    k[kv->key_len] = '\0';
    if (vlen)
        memcpy(v, kv->value, vlen);
    v[vlen] = '\0';
    if (plen)
        memcpy(pv, prev->value, plen);
    pv[plen] = '\0';
    *e = (store_event_t){.type = type, .rev = rev, .refs = 1};
    e->kv = (store_kv_t){k,
                         kv->key_len,
                         v,
                         vlen,
                         type == STORE_EVENT_PUT ? kv->create_rev : 0,
                         rev,
                         type == STORE_EVENT_PUT ? kv->lease : 0};
    if (prev) {
        e->has_prev = true;
        e->prev =
            (store_kv_t){k, kv->key_len, pv, plen, prev->create_rev, prev->mod_rev, prev->lease};
    }
    return e;
}

const store_event_t *store_event_ref(const store_event_t *e)
{
    ((store_event_t *)e)->refs++;
    return e;
}

void store_event_unref(const store_event_t *e)
{
    if (e && --((store_event_t *)e)->refs == 0)
        free((void *)e);
}

void store_list_free(store_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->kvs[i]);
    free(l->kvs);
    *l = (store_list_t){0};
}

void store_txn_result_free(store_txn_result_t *res)
{
    for (size_t i = 0; i < res->n; i++)
        free(res->ops[i].prev);
    free(res->ops);
    free(res->current);
    *res = (store_txn_result_t){0};
}

void store__req_free(store_req_t *req)
{
    if (!req)
        return;
    for (size_t i = 0; i < req->nevents; i++)
        store_event_unref(req->events[i]);
    free(req->events);
    free(req->lease_changes);
    store_txn_result_free(&req->res);
    free(req->ops);
    free(req);
}

/* ---- completion: writer thread -> loop thread --------------------------------------------- */

void store__complete(store_t *s, store_req_t *head, store_req_t *tail)
{
    pthread_mutex_lock(&s->done_mu);
    if (s->done_tail)
        s->done_tail->next = head;
    else
        s->done_head = head;
    s->done_tail = tail;
    pthread_mutex_unlock(&s->done_mu);
    uv_async_send(&s->done_async);
}

/* Order matters: events enter the hub (so delivered_rev covers them) before the writers'
 * callbacks run, and watchers are woken last, once per drained batch. */
static void drain_completions(store_t *s)
{
    pthread_mutex_lock(&s->done_mu);
    store_req_t *req = s->done_head;
    s->done_head = s->done_tail = NULL;
    pthread_mutex_unlock(&s->done_mu);
    bool published = false;
    while (req) {
        store_req_t *next = req->next;
        if (req->nevents) {
            store__hub_publish(s, req->events, req->nevents);
            req->nevents = 0; /* the hub took the references */
            published = true;
        }
        if (req->nlease_changes)
            store__leases_apply(s, req->lease_changes, req->nlease_changes);
        if (req->kind == STORE_REQ_TXN && req->res.status == 0 && req->res.rev > 0)
            store__compact_note_commit(s);
        if (req->cb)
            req->cb(s, &req->res, req->userdata);
        store__req_free(req);
        req = next;
    }
    if (published)
        store__hub_notify(s);
}

static void on_done_async(uv_async_t *h)
{
    drain_completions(h->data);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

void store__handle_closed(uv_handle_t *h)
{
    store_t *s = h->data;
    if (--s->pending_handles > 0)
        return;
    if (s->backend)
        s->backend->close(s);
    pthread_mutex_destroy(&s->done_mu);
    free(s->leases);
    free(s->path);
    free(s);
}

int store_open(const store_options_t *opts, store_t **ret, util_error_t *err)
{
    if (!opts->path || !opts->loop)
        return util_error_make(err, EINVAL, "store: path and loop are required");
    store_t *s = util_xcalloc(1, sizeof(*s));
    s->opts = *opts;
    s->path = util_xstrdup(opts->path);
    s->opts.path = s->path;
    s->loop = opts->loop;
    s->backend = &store_sqlite_backend;
    pthread_mutex_init(&s->done_mu, NULL);
    /* Four handles; each close callback counts down to the final release. */
    uv_async_init(s->loop, &s->done_async, on_done_async);
    uv_timer_init(s->loop, &s->hub.progress_timer);
    uv_timer_init(s->loop, &s->lease_timer);
    uv_timer_init(s->loop, &s->compact_timer);
    s->done_async.data = s->hub.progress_timer.data = s->lease_timer.data = s->compact_timer.data =
        s;
    s->pending_handles = 4;
    store__hub_init(s);
    int r = s->backend->open(s, err); /* loads revisions and leases, starts the writer */
    if (r == 0)
        store__compact_init(s);
    if (r < 0) {
        s->closing = true;
        store__hub_close(s);
        store__leases_close(s);
        store__compact_close(s);
        uv_close((uv_handle_t *)&s->done_async, store__handle_closed);
        return r;
    }
    *ret = s;
    return 0;
}

void store_close(store_t *s)
{
    if (!s || s->closing)
        return;
    s->closing = true;
    s->backend->stop(s);  /* queued writes complete with -ECANCELED */
    drain_completions(s); /* so every callback runs exactly once */
    store__hub_close(s);
    store__leases_close(s);
    store__compact_close(s);
    uv_close((uv_handle_t *)&s->done_async, store__handle_closed);
}

int64_t store_current_rev(store_t *s)
{
    return s->delivered_rev;
}

int64_t store_compact_rev(store_t *s)
{
    return s->compact_rev;
}

/* ---- reads -------------------------------------------------------------------------------- */

static int check_key(const char *key, size_t len, util_error_t *err)
{
    if (!key || len == 0)
        return util_error_make(err, EINVAL, "store: empty key");
    if (len > STORE_MAX_KEY)
        return util_error_make(err, E2BIG, "store: key of %zu bytes exceeds the limit of %u", len,
                               STORE_MAX_KEY);
    return 0;
}

int store_get(store_t *s, const char *key, size_t key_len, int64_t rev, store_kv_t **ret_kv,
              int64_t *ret_rev, util_error_t *err)
{
    int r = check_key(key, key_len, err);
    if (r < 0)
        return r;
    if (rev < 0)
        return util_error_make(err, EINVAL, "store: negative revision");
    int64_t served;
    *ret_kv = NULL;
    return s->backend->get(s, key, key_len, rev, ret_kv, ret_rev ? ret_rev : &served, err);
}

int store_range(store_t *s, const char *start, size_t start_len, const char *end, size_t end_len,
                int64_t rev, size_t limit, store_list_t *ret, util_error_t *err)
{
    *ret = (store_list_t){0};
    if (start_len > STORE_MAX_KEY || end_len > STORE_MAX_KEY || rev < 0)
        return util_error_make(err, EINVAL, "store: bad range");
    return s->backend->range(s, start ? start : "", start_len, end, end_len, rev, limit, false, ret,
                             NULL, err);
}

int store_count(store_t *s, const char *start, size_t start_len, const char *end, size_t end_len,
                int64_t *ret_count, int64_t *ret_rev, util_error_t *err)
{
    if (start_len > STORE_MAX_KEY || end_len > STORE_MAX_KEY)
        return util_error_make(err, EINVAL, "store: bad range");
    store_list_t l = {0};
    int r = s->backend->range(s, start ? start : "", start_len, end, end_len, 0, 0, true, &l,
                              ret_count, err);
    if (r == 0 && ret_rev)
        *ret_rev = l.rev;
    return r;
}

size_t store_prefix_end(const char *prefix, size_t len, char *out)
{
    /* etcd: increment the last byte that is not 0xff and drop what follows it. */
    while (len > 0 && (unsigned char)prefix[len - 1] == 0xff)
        len--;
    if (len == 0)
        return 0;
    memcpy(out, prefix, len);
    out[len - 1] = (char)((unsigned char)out[len - 1] + 1);
    return len;
}

/* ---- writes ------------------------------------------------------------------------------- */

static int check_op(const store_op_t *op, size_t i, util_error_t *err)
{
    switch (op->type) {
    case STORE_OP_CREATE:
    case STORE_OP_UPDATE:
    case STORE_OP_PUT:
        if (op->value_len > STORE_MAX_VALUE)
            return util_error_make(err, E2BIG,
                                   "store: value of %zu bytes exceeds the limit of %u bytes",
                                   op->value_len, STORE_MAX_VALUE);
        if (op->value_len && !op->value)
            return util_error_make(err, EINVAL, "store: op %zu has no value", i);
        /* fallthrough */
    case STORE_OP_DELETE:
        if (op->lease < 0 || op->expected_rev < 0)
            return util_error_make(err, EINVAL, "store: op %zu: negative lease or revision", i);
        return check_key(op->key, op->key_len, err);
    case STORE_OP_LEASE_GRANT:
        if (op->ttl_s <= 0 || op->ttl_s > 10LL * 365 * 24 * 3600)
            return util_error_make(err, EINVAL, "store: lease ttl %lld out of range",
                                   (long long)op->ttl_s);
        return 0;
    case STORE_OP_LEASE_REVOKE:
    case STORE_OP_LEASE_KEEPALIVE:
        if (op->lease <= 0)
            return util_error_make(err, EINVAL, "store: op %zu needs a lease id", i);
        return 0;
    }
    return util_error_make(err, EINVAL, "store: op %zu has an unknown type", i);
}

static bool is_key_op(const store_op_t *op)
{
    return op->type <= STORE_OP_DELETE;
}

/* Validates the whole transaction before anything is queued: sizes, types, and no key twice
 * (etcd refuses duplicate keys in one txn; the outcome would depend on op order). */
static int check_txn(store_t *s, const store_op_t *ops, size_t n, util_error_t *err)
{
    if (s->closing)
        return util_error_make(err, ECANCELED, "store: closing");
    if (n == 0 || n > STORE_MAX_OPS)
        return util_error_make(err, EINVAL, "store: a transaction has 1 to %u operations",
                               STORE_MAX_OPS);
    for (size_t i = 0; i < n; i++) {
        int r = check_op(&ops[i], i, err);
        if (r < 0)
            return r;
        /* Checks run before writes, so a revoke (which deletes keys) must not share a txn. */
        if (ops[i].type == STORE_OP_LEASE_REVOKE && n > 1)
            return util_error_make(err, EINVAL,
                                   "store: a lease revoke must be alone in its "
                                   "transaction");
        for (size_t j = 0; j < i && is_key_op(&ops[i]); j++)
            if (is_key_op(&ops[j]) && ops[j].key_len == ops[i].key_len &&
                !memcmp(ops[j].key, ops[i].key, ops[i].key_len))
                return util_error_make(err, EINVAL, "store: key \"%.*s\" appears twice",
                                       (int)ops[i].key_len, ops[i].key);
    }
    return 0;
}

static store_req_t *req_new(const store_op_t *ops, size_t n)
{
    size_t bytes = n * sizeof(store_op_t);
    for (size_t i = 0; i < n; i++)
        bytes += (is_key_op(&ops[i]) ? ops[i].key_len + ops[i].value_len : 0) + 2;
    store_req_t *req = util_xcalloc(1, sizeof(*req));
    req->kind = STORE_REQ_TXN;
    req->ops = util_xmalloc(bytes);
    req->nops = n;
    char *p = (char *)(req->ops + n);
    for (size_t i = 0; i < n; i++) {
        req->ops[i] = ops[i];
        if (!is_key_op(&ops[i]))
            continue;
        memcpy(p, ops[i].key, ops[i].key_len);
        req->ops[i].key = p;
        p += ops[i].key_len;
        *p++ = '\0';
        if (ops[i].value_len)
            memcpy(p, ops[i].value, ops[i].value_len);
        req->ops[i].value = p;
        p += ops[i].value_len;
        *p++ = '\0';
    }
    return req;
}

int store_txn(store_t *s, const store_op_t *ops, size_t n, store_txn_cb cb, void *userdata,
              util_error_t *err)
{
    int r = check_txn(s, ops, n, err);
    if (r < 0)
        return r;
    store_req_t *req = req_new(ops, n);
    req->cb = cb;
    req->userdata = userdata;
    s->backend->submit(s, req);
    return 0;
}

int store_txn_sync(store_t *s, const store_op_t *ops, size_t n, store_txn_result_t *res,
                   util_error_t *err)
{
    *res = (store_txn_result_t){0};
    int r = check_txn(s, ops, n, err);
    if (r < 0)
        return r;
    store_req_t *req = req_new(ops, n);
    req->sync = true;
    s->backend->submit(s, req); /* returns once done: the backend waits for sync requests */
    *res = req->res;
    req->res = (store_txn_result_t){0};
    store__req_free(req);
    if (res->status < 0)
        util_error_make(err, res->status > STORE_ECONFLICT ? -res->status : 0, "%s", res->message);
    return res->status;
}

int store_compact(store_t *s, int64_t rev, util_error_t *err)
{
    if (rev <= s->compact_rev) {
        util_error_make(err, 0, "store: revision %lld is already compacted", (long long)rev);
        return STORE_ECOMPACTED;
    }
    if (rev > s->delivered_rev) {
        util_error_make(err, 0, "store: revision %lld is in the future", (long long)rev);
        return STORE_EFUTURE;
    }
    s->compact_rev = rev;
    store__hub_compacted(s); /* lagging watchers learn at once */
    store_req_t *req = util_xcalloc(1, sizeof(*req));
    req->kind = STORE_REQ_COMPACT;
    req->compact_rev = rev;
    s->backend->submit(s, req);
    return 0;
}

int store_snapshot_save(store_t *s, const char *path, util_error_t *err)
{
    return s->backend->snapshot(s, path, err);
}

int store_stats(store_t *s, store_stats_t *ret, util_error_t *err)
{
    *ret = (store_stats_t){0};
    ret->rev = s->delivered_rev;
    ret->compact_rev = s->compact_rev;
    ret->watchers = s->hub.nwatchers;
    ret->history_events = s->hub.count;
    ret->history_bytes = s->hub.bytes;
    return s->backend->stats(s, ret, err);
}
