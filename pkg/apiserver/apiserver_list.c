/* apiserver_list: get, list (selectors, limit/continue, resourceVersion), deletecollection,
 * answered as objects, lists or Tables. */
#include "apiserver_registry.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/base64.h>

#include "apiserver_apply.h"
#include "apiserver_convert.h"
#include "apiserver_crd.h"
#include "apiserver_defaults.h"
#include "apiserver_gc_policy.h"
#include "apiserver_list_cache.h"
#include "apiserver_metrics.h"
#include "apiserver_namespace.h"
#include "apiserver_object.h"
#include "apiserver_patch.h"
#include "apiserver_proto.h"
#include "apiserver_rules.h"
#include "apiserver_services.h"
#include "apiserver_table.h"
#include "apiserver_validate.h"

#define MAX_LIST_LIMIT 100000

void apiserver_reg_handle_get(apiserver_conn_t *c, const apiserver_target_t *t)
{
    char key[1024];
    apiserver_registry_key(t->res, t->ns, t->name, key, sizeof(key));
    size_t key_len = strlen(key);
    apiserver_t *srv = c->srv;
    const store_kv_t *kept = apiserver_list_cache_object(srv, key, key_len);
    if (kept) {
        apiserver_reg_respond_kv(c, t, kept);
        return;
    }
    store_kv_t *kv = NULL;
    cleanup_error util_error_t err = NULL;
    int r = store_get(srv->opts.store, key, key_len, 0, &kv, NULL, &err);
    if (r == -ENOENT)
        apiserver_status_not_found(c, t->res, t->name);
    else if (r < 0)
        apiserver_status_store_error(c, r, err ? err->msg : NULL);
    else
        apiserver_reg_respond_kv(c, t, kv);
    if (kv)
        apiserver_list_cache_keep_object(srv, kv);
}

/* Creates obj (taken): names, defaults and server-set metadata, then the write. Shared by POST
 * and by server-side apply to a missing object. */

/* ---- list ------------------------------------------------------------------------------------ */

/* Continue tokens: base64 of "<rev>\n<next key>". */
static void encode_continue(util_buf_t *b, int64_t rev, const char *key, size_t key_len)
{
    util_buf_t raw = {0};
    util_buf_printf(&raw, "%" PRId64 "\n", rev);
    util_buf_append(&raw, key, key_len);
    util_buf_append(&raw, "", 1); /* the next key is the last one plus a NUL */
    size_t olen = 0, cap = 4 * ((raw.len + 2) / 3) + 1;
    unsigned char *out = util_xmalloc(cap);
    mbedtls_base64_encode(out, cap, &olen, (const unsigned char *)raw.data, raw.len);
    util_buf_append(b, out, olen);
    free(out);
    util_buf_free(&raw);
}

static int decode_continue(const char *token, const char *prefix, int64_t *rev, char *key,
                           size_t key_cap, size_t *key_len)
{
    unsigned char raw[1200];
    size_t olen = 0;
    if (mbedtls_base64_decode(raw, sizeof(raw), &olen, (const unsigned char *)token,
                              strlen(token)) != 0)
        return -1;
    unsigned char *nl = memchr(raw, '\n', olen);
    if (!nl)
        return -1;
    *nl = '\0';
    bool ok;
    *rev = apiserver_parse_rv((const char *)raw, &ok);
    size_t klen = olen - (size_t)(nl + 1 - raw);
    if (!ok || klen > key_cap || klen < strlen(prefix) ||
        memcmp(nl + 1, prefix, strlen(prefix)) != 0)
        return -1;
    memcpy(key, nl + 1, klen);
    *key_len = klen;
    return 0;
}

/* A growable array of owned objects. */
typedef struct objects {
    cJSON **v;
    size_t n, cap;
    bool raw_mode; /* items are stored text with resourceVersion spliced in, in raw */
    util_buf_t raw;
    size_t nraw;
} objects_t;

static void objects_push(objects_t *o, cJSON *obj)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 16;
        o->v = util_xrealloc(o->v, o->cap * sizeof(*o->v));
    }
    o->v[o->n++] = obj;
}

static void objects_free(objects_t *o)
{
    for (size_t i = 0; i < o->n; i++)
        cJSON_Delete(o->v[i]);
    free(o->v);
    util_buf_free(&o->raw);
    *o = (objects_t){0};
}

/* Raw mode: appends one stored object to the JSON array text without parsing it when it is in
 * the canonical order (parsed and printed otherwise). */
static bool objects_push_raw(objects_t *o, const store_kv_t *kv)
{
    if (o->nraw++)
        util_buf_puts(&o->raw, ",");
    if (apiserver_obj_splice_rv(kv->value, kv->value_len, kv->mod_rev, &o->raw))
        return true;
    cJSON *obj = apiserver_reg_decode_stored(kv->value, kv->value_len, kv->mod_rev);
    if (!obj) {
        o->raw.len--; /* drop the comma */
        o->raw.data[o->raw.len] = '\0';
        o->nraw--;
        return false;
    }
    char *text = cJSON_PrintUnformatted(obj);
    util_buf_puts(&o->raw, text);
    cJSON_free(text);
    cJSON_Delete(obj);
    return true;
}

/* A <Kind>List, or a meta.k8s.io Table when the client asked for one (table_version set). */
static void respond_collection(apiserver_conn_t *c, const apiserver_target_t *t,
                               const objects_t *items, int64_t rev, const char *cont,
                               const char *table_version, const char *include)
{
    char rv[24];
    snprintf(rv, sizeof(rv), "%" PRId64, rev);
    util_buf_t b = {0};
    if (table_version) {
        apiserver_table_render(&b, table_version, t->res->group, t->res->plural, items->v, items->n,
                               include[0] ? include : NULL, rv, cont);
        char ct[96];
        snprintf(ct, sizeof(ct), "application/json;as=Table;v=%s;g=meta.k8s.io", table_version);
        apiserver__respond(c, 200, ct, b.data, b.len, NULL);
        util_buf_free(&b);
        return;
    }
    char av[128];
    apiserver_reg_api_version_of(t->res, av, sizeof(av));
    util_buf_printf(&b,
                    "{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"metadata\":{"
                    "\"resourceVersion\":\"%s\"",
                    t->res->kind, av, rv);
    if (cont)
        util_buf_printf(&b, ",\"continue\":\"%s\"", cont);
    util_buf_puts(&b, "},\"items\":[");
    if (items->raw_mode && items->raw.len)
        util_buf_append(&b, items->raw.data, items->raw.len);
    for (size_t i = 0; i < items->n; i++) {
        char *text = cJSON_PrintUnformatted(items->v[i]);
        if (i)
            util_buf_puts(&b, ",");
        util_buf_puts(&b, text);
        cJSON_free(text);
    }
    util_buf_puts(&b, "]}");
    apiserver__respond(c, 200, "application/json", b.data, b.len, NULL);
    util_buf_free(&b);
}

/* A whole unfiltered list from the cache: the items' text (compressed once, when the client
 * takes gzip and the body is over upstream's threshold) between a fresh head and tail. */
static void respond_cached(apiserver_conn_t *c, const apiserver_target_t *t,
                           apiserver_list_entry_t *e, int64_t rev)
{
    char av[128];
    apiserver_reg_api_version_of(t->res, av, sizeof(av));
    util_buf_t head = {0};
    util_buf_printf(&head,
                    "{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"metadata\":{"
                    "\"resourceVersion\":\"%" PRId64 "\"},\"items\":[",
                    t->res->kind, av, rev);
    static const char tail[] = "]}";
    const apiserver_gzip_part_t *gz = NULL;
    if (head.len + e->items.len + 2 > APISERVER_GZIP_MIN_BYTES && apiserver__gzip_wanted(c))
        gz = apiserver_list_cache_gzip(c->srv, e);
    if (gz) {
        util_buf_t z = {0};
        apiserver_gzip_member(&z, head.data, head.len, gz, tail, 2);
        apiserver_part_t p = {z.data, z.len};
        apiserver__respond_parts(c, 200, "application/json", &p, 1, NULL, true);
        util_buf_free(&z);
    } else {
        apiserver_part_t p[3] = {{head.data, head.len}, {e->items.data, e->items.len}, {tail, 2}};
        apiserver__respond_parts(c, 200, "application/json", p, 3, NULL, false);
    }
    util_buf_free(&head);
}

void apiserver_reg_handle_list(apiserver_conn_t *c, const apiserver_target_t *t,
                               const apiserver_filter_t *f)
{
    const char *q = c->req.query;
    char limit_s[24] = "", cont[1700] = "", rv_s[24] = "";
    apiserver_query_get(q, "limit", limit_s, sizeof(limit_s));
    apiserver_query_get(q, "continue", cont, sizeof(cont));
    apiserver_query_get(q, "resourceVersion", rv_s, sizeof(rv_s));
    long limit = 0;
    if (limit_s[0] && (util_parse_long(limit_s, 0, MAX_LIST_LIMIT, &limit) < 0)) {
        apiserver_status_bad_request(c, "limit must be a non-negative integer");
        return;
    }
    char prefix[512], end[512], start[1100];
    apiserver_registry_prefix(t->res, t->ns, prefix, sizeof(prefix));
    size_t plen = strlen(prefix), elen = store_prefix_end(prefix, plen, end), slen = plen;
    memcpy(start, prefix, plen);
    int64_t at = 0, min_rev = 0;
    store_t *s = c->srv->opts.store;
    if (cont[0]) {
        if (decode_continue(cont, prefix, &at, start, sizeof(start), &slen) < 0) {
            apiserver_status_bad_request(c, "continue key is not valid");
            return;
        }
        if (at <= store_compact_rev(s)) {
            apiserver__respond_status(
                c, 410, "Expired",
                "The provided continue parameter is too old to display a consistent list result. "
                "You can start a new list without the continue parameter.");
            return;
        }
    } else if (rv_s[0] && strcmp(rv_s, "0")) {
        bool ok;
        int64_t want = apiserver_parse_rv(rv_s, &ok);
        min_rev = want;
        if (!ok) {
            apiserver_status_bad_request(c, "resourceVersion must be an integer");
            return;
        }
        if (want > store_current_rev(s)) {
            apiserver__respond_status(c, 504, "Timeout", "Too large resource version");
            return;
        }
        char match[24] = "";
        apiserver_query_get(q, "resourceVersionMatch", match, sizeof(match));
        if (!strcmp(match, "Exact")) { /* the list as it was at that revision */
            if (want <= store_compact_rev(s)) {
                char msg[128];
                snprintf(msg, sizeof(msg), "too old resource version: %" PRId64 " (%" PRId64 ")",
                         want, store_compact_rev(s));
                apiserver__respond_status(c, 410, "Expired", msg);
                return;
            }
            at = want;
        } else if (match[0] && strcmp(match, "NotOlderThan")) {
            apiserver_status_bad_request(c, "resourceVersionMatch must be Exact or NotOlderThan");
            return;
        }
    } else if (rv_s[0] == '\0') {
        char match[24] = "";
        if (apiserver_query_get(q, "resourceVersionMatch", match, sizeof(match)) && match[0]) {
            apiserver_status_bad_request(c, "resourceVersionMatch is forbidden unless "
                                            "resourceVersion is provided");
            return;
        }
    }
    const char *table_version = NULL;
    char include[16] = "";
    apiserver_query_get(q, "includeObject", include, sizeof(include));
    bool table = apiserver_table_wanted(apiserver__header(&c->req, "accept"), &table_version);
    if (table && !apiserver_table_include_object_valid(include)) {
        apiserver_status_bad_request(c, "includeObject must be None, Metadata or Object");
        return;
    }
    bool rewrite = apiserver_conv_rewrites(t->res);
    objects_t items = {.raw_mode = !table && apiserver_filter_empty(f) && !rewrite};
    /* a whole list at the newest revision (not an exact older one, not a later page) */
    bool cacheable = items.raw_mode && !cont[0] && at == 0;
    if (cacheable) {
        int64_t rev = 0;
        apiserver_list_entry_t *e = apiserver_list_cache_get(c->srv, prefix, min_rev, &rev);
        if (e && (!limit || e->count <= (size_t)limit)) {
            respond_cached(c, t, e, rev);
            return;
        }
    }
    size_t count = 0;
    bool more = false;
    int64_t served = at;
    const char *next_key = NULL;
    size_t next_len = 0;
    char last_key[1100];
    /* Pages through the store until the limit of matching objects is reached. */
    for (;;) {
        store_list_t l = {0};
        cleanup_error util_error_t err = NULL;
        size_t want = limit ? (size_t)limit - count + 1 : 0;
        if (want && want < 64)
            want = 64;
        int r = store_range(s, start, slen, end, elen, served, want, &l, &err);
        if (r < 0) {
            objects_free(&items);
            if (r == STORE_ECOMPACTED)
                apiserver__respond_status(c, 410, "Expired", "the list's revision was compacted");
            else
                apiserver_status_store_error(c, r, err ? err->msg : NULL);
            return;
        }
        served = l.rev;
        size_t k = 0;
        for (; k < l.n; k++) {
            if (limit && count == (size_t)limit) {
                more = true;
                break;
            }
            if (items.raw_mode) { /* no selector, no Table: no need to parse */
                if (objects_push_raw(&items, l.kvs[k])) {
                    count++;
                    memcpy(last_key, l.kvs[k]->key, l.kvs[k]->key_len);
                    next_len = l.kvs[k]->key_len;
                    next_key = last_key;
                }
                continue;
            }
            cJSON *obj = apiserver_reg_decode_stored(l.kvs[k]->value, l.kvs[k]->value_len,
                                                     l.kvs[k]->mod_rev);
            if (!obj)
                continue;
            /* selectors see the stored form (upstream's GetAttrs work on the internal object:
             * events.k8s.io/v1 Events are selected by the core field names) */
            if (apiserver_filter_matches(f, obj)) {
                if (rewrite)
                    apiserver_conv_out(t->res, obj);
                count++;
                objects_push(&items, obj);
                memcpy(last_key, l.kvs[k]->key, l.kvs[k]->key_len);
                next_len = l.kvs[k]->key_len;
                next_key = last_key;
            } else {
                cJSON_Delete(obj);
            }
        }
        bool page_more = l.more;
        if (!more && page_more && l.n) { /* continue after the last key read */
            const store_kv_t *lk = l.kvs[l.n - 1];
            memcpy(start, lk->key, lk->key_len);
            start[lk->key_len] = '\0';
            slen = lk->key_len + 1;
        }
        store_list_free(&l);
        if (more || !page_more)
            break;
    }
    util_buf_t token = {0};
    if (more && next_key)
        encode_continue(&token, served, next_key, next_len);
    respond_collection(c, t, &items, served, token.len ? token.data : NULL, table_version, include);
    util_buf_free(&token);
    if (cacheable && !more) /* the whole collection as of served */
        apiserver_list_cache_put(c->srv, prefix, &items.raw, items.nraw, served);
    objects_free(&items);
}

/* deletecollection: every matching object goes through the rules of a single delete (marked
 * when finalizers or a node hold it), each in its own asynchronous write, all in flight at
 * once (the store commits them in a few group commits); the answer lists the objects as
 * deleted or marked, once every write is done. */
typedef struct delcol {
    apiserver_conn_t *c;
    const apiserver_resource_t *res;
    util_buf_t items;
    size_t count, pending;
    int error;
    int64_t rev;
} delcol_t;

typedef struct delcol_item {
    delcol_t *d;
    cJSON *obj; /* as written (or as it was, for a delete) */
    bool mark;
} delcol_item_t;

static void delcol_add(delcol_t *d, cJSON *obj)
{
    if (apiserver_conv_rewrites(d->res)) /* served in the endpoint's version */
        apiserver_conv_out(d->res, obj);
    char *text = cJSON_PrintUnformatted(obj);
    if (d->count++)
        util_buf_puts(&d->items, ",");
    util_buf_puts(&d->items, text);
    cJSON_free(text);
}

static void delcol_finish(delcol_t *d)
{
    apiserver_conn_t *c = d->c;
    if (!c->closing) {
        if (d->error < 0) {
            apiserver_status_store_error(c, d->error, NULL);
        } else {
            char av[128];
            apiserver_reg_api_version_of(d->res, av, sizeof(av));
            util_buf_t b = {0};
            util_buf_printf(&b,
                            "{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"metadata\":{"
                            "\"resourceVersion\":\"%" PRId64 "\"},\"items\":[",
                            d->res->kind, av, d->rev);
            if (d->items.len)
                util_buf_append(&b, d->items.data, d->items.len);
            util_buf_puts(&b, "]}");
            apiserver__respond(c, 200, "application/json", b.data, b.len, NULL);
            util_buf_free(&b);
        }
    }
    util_buf_free(&d->items);
    free(d);
}

static void delcol_done(store_t *s, store_txn_result_t *res, void *ud)
{
    (void)s;
    delcol_item_t *it = ud;
    delcol_t *d = it->d;
    apiserver_conn_t *c = d->c;
    if (res->status == 0) {
        if (it->mark) {
            apiserver_obj_set_rv(it->obj, res->ops[0].rev);
            const cJSON *meta = cJSON_GetObjectItemCaseSensitive(it->obj, "metadata");
            const char *name = apiserver_obj_string(meta, "name");
            if (!strcmp(d->res->plural, "namespaces") && !d->res->group[0] && name)
                apiserver_namespace_finalize(c->srv, name);
        }
        delcol_add(d, it->obj);
        if (res->rev > d->rev)
            d->rev = res->rev;
    } else if (res->status != -ENOENT && res->status != STORE_ECONFLICT && d->error == 0) {
        d->error = res->status; /* gone or changed meanwhile: not ours to delete any more */
    }
    cJSON_Delete(it->obj);
    free(it);
    if (--d->pending == 0)
        delcol_finish(d);
    apiserver__conn_unref(c);
}

void apiserver_reg_handle_delete_collection(apiserver_conn_t *c, const apiserver_target_t *t,
                                            const apiserver_filter_t *f)
{
    char prefix[512], end[512];
    apiserver_registry_prefix(t->res, t->ns, prefix, sizeof(prefix));
    size_t elen = store_prefix_end(prefix, strlen(prefix), end);
    store_list_t l = {0};
    cleanup_error util_error_t err = NULL;
    int r = store_range(c->srv->opts.store, prefix, strlen(prefix), end, elen, 0, 0, &l, &err);
    if (r < 0) {
        apiserver_status_store_error(c, r, err ? err->msg : NULL);
        return;
    }
    cJSON *opts = c->req.body.len ? cJSON_ParseWithLength(c->req.body.data, c->req.body.len) : NULL;
    int64_t grace = apiserver_reg_grace_period(c, opts);
    apiserver_reg_take_dry_run(c, opts);
    apiserver_gc_policy_t policy;
    int pr = apiserver_gc_policy_parse(c, opts, &policy);
    cJSON_Delete(opts);
    if (pr < 0) {
        store_list_free(&l);
        return; /* answered */
    }
    apiserver_gc_policy_warn(c, t->res, policy);
    bool dry = apiserver_reg_dry_run(c);
    delcol_t *d = util_xcalloc(1, sizeof(*d));
    d->c = c;
    d->res = t->res;
    d->rev = l.rev;
    d->pending = 1; /* this function's own reference, dropped at the end */
    for (size_t k = 0; k < l.n; k++) {
        cJSON *obj =
            apiserver_reg_decode_stored(l.kvs[k]->value, l.kvs[k]->value_len, l.kvs[k]->mod_rev);
        if (!obj || !apiserver_filter_matches(f, obj)) {
            cJSON_Delete(obj);
            continue;
        }
        bool gc_changed = apiserver_gc_finalizers(t->res, obj, policy);
        apiserver_delete_plan_t plan = apiserver_reg_plan_delete(t->res, obj, grace);
        if (plan == APISERVER_DELETE_KEEP && gc_changed)
            plan = APISERVER_DELETE_MARK;
        if (plan == APISERVER_DELETE_KEEP || dry) {
            delcol_add(d, obj);
            cJSON_Delete(obj);
            continue;
        }
        char *text = NULL;
        store_op_t op = {.type = STORE_OP_DELETE,
                         .key = l.kvs[k]->key,
                         .key_len = l.kvs[k]->key_len,
                         .expected_rev = l.kvs[k]->mod_rev};
        if (plan == APISERVER_DELETE_MARK) {
            cJSON *stored = cJSON_Duplicate(obj, true);
            cJSON_DeleteItemFromObjectCaseSensitive(apiserver_obj_metadata(stored),
                                                    "resourceVersion");
            apiserver_obj_canonical_order(stored);
            text = cJSON_PrintUnformatted(stored);
            cJSON_Delete(stored);
            op.type = STORE_OP_UPDATE;
            op.value = text;
            op.value_len = strlen(text);
        }
        delcol_item_t *it = util_xcalloc(1, sizeof(*it));
        it->d = d;
        it->obj = obj;
        it->mark = plan == APISERVER_DELETE_MARK;
        d->pending++;
        apiserver__conn_ref(c);
        cleanup_error util_error_t terr = NULL;
        if (store_txn(c->srv->opts.store, &op, 1, delcol_done, it, &terr) < 0) {
            d->pending--;
            apiserver__conn_unref(c);
            if (d->error == 0)
                d->error = -EIO;
            cJSON_Delete(obj);
            free(it);
        }
        cJSON_free(text);
    }
    store_list_free(&l);
    if (--d->pending == 0)
        delcol_finish(d);
}
