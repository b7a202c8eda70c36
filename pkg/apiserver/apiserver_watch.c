/* apiserver_watch: label/field selector filters and watch streams (newline-delimited JSON
 * events over a chunked response), fed by store watchers without polling. */
#include "apiserver_registry.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_convert.h"
#include "apiserver_crd.h"
#include "apiserver_object.h"
#include "apiserver_table.h"

#define MAX_SELECTOR LABELS_MAX_SELECTOR_LEN

/* ---- filters -------------------------------------------------------------------------------- */

/* Fields every resource supports, plus the few upstream adds per resource. */
static const char *const common_fields[] = {"metadata.name", "metadata.namespace", NULL};
static const char *const event_fields[] = {"metadata.name",
                                           "metadata.namespace",
                                           "involvedObject.kind",
                                           "involvedObject.namespace",
                                           "involvedObject.name",
                                           "involvedObject.uid",
                                           "involvedObject.apiVersion",
                                           "involvedObject.resourceVersion",
                                           "involvedObject.fieldPath",
                                           "reason",
                                           "reportingComponent",
                                           "source",
                                           "type",
                                           NULL};
static const char *const secret_fields[] = {"metadata.name", "metadata.namespace", "type", NULL};
static const char *const namespace_fields[] = {"metadata.name", "status.phase", NULL};
/* pkg/registry/core/pod/strategy.go PodToSelectableFields (kubectl describe node, kubelets) */
static const char *const pod_fields[] = {"metadata.name",
                                         "metadata.namespace",
                                         "spec.nodeName",
                                         "spec.restartPolicy",
                                         "spec.schedulerName",
                                         "spec.serviceAccountName",
                                         "spec.hostNetwork",
                                         "status.phase",
                                         "status.podIP",
                                         "status.nominatedNodeName",
                                         NULL};
static const char *const node_fields[] = {"metadata.name", "spec.unschedulable", NULL};

static const char *const *supported_fields(const apiserver_resource_t *r)
{
    if (apiserver_reg_is(r, "events"))
        return event_fields;
    if (apiserver_reg_is(r, "secrets"))
        return secret_fields;
    if (apiserver_reg_is(r, "namespaces"))
        return namespace_fields;
    if (!strcmp(r->plural, "pods") && !r->group[0])
        return pod_fields;
    if (!strcmp(r->plural, "nodes") && !r->group[0])
        return node_fields;
    return common_fields;
}

/* Follows a dotted path to a string ("source" of events is source.component upstream). */
static const char *field_value(const cJSON *obj, const char *field, void *ud)
{
    (void)ud;
    if (!strcmp(field, "source"))
        field = "source.component";
    char path[128];
    if (util_strlcpy(path, field, sizeof(path)) < 0)
        return NULL;
    const cJSON *cur = obj;
    for (char *part = path, *dot; cur && part; part = dot ? dot + 1 : NULL) {
        dot = strchr(part, '.');
        if (dot)
            *dot = '\0';
        cur = cJSON_GetObjectItemCaseSensitive(cur, part);
    }
    if (cJSON_IsBool(cur)) /* spec.hostNetwork, spec.unschedulable: "true" / "false" */
        return cJSON_IsTrue(cur) ? "true" : "false";
    if (!cur && (!strcmp(field, "spec.hostNetwork") || !strcmp(field, "spec.unschedulable")))
        return "false";
    return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

int apiserver_filter_parse(apiserver_conn_t *c, const apiserver_target_t *t, apiserver_filter_t *f)
{
    *f = (apiserver_filter_t){.res = t->res};
    /* One byte more than the selector limit: a longer value is cut to MAX_SELECTOR + 1 bytes,
     * which the parsers refuse as too long instead of reading a truncated selector. */
    char *text = util_xmalloc(MAX_SELECTOR + 2);
    cleanup_error util_error_t err = NULL;
    int r = 0;
    if (apiserver_query_get(c->req.query, "labelSelector", text, MAX_SELECTOR + 2))
        r = labels_selector_parse(text, &f->labels, &err);
    if (r == 0 && apiserver_query_get(c->req.query, "fieldSelector", text, MAX_SELECTOR + 2)) {
        r = labels_fields_parse(text, &f->fields, &err);
        if (r == 0)
            r = labels_fields_check_supported(f->fields, supported_fields(t->res), &err);
    }
    free(text);
    if (r < 0) {
        apiserver_status_bad_request(c, err && err->msg ? err->msg : "invalid selector");
        apiserver_filter_free(f);
        return -1;
    }
    return 0;
}

bool apiserver_filter_matches(const apiserver_filter_t *f, const cJSON *obj)
{
    if (f->labels && !labels_selector_matches_object(f->labels, obj))
        return false;
    if (f->fields && !labels_fields_matches(f->fields, obj, field_value, NULL))
        return false;
    return true;
}

bool apiserver_filter_empty(const apiserver_filter_t *f)
{
    return (!f->labels || labels_selector_empty(f->labels)) &&
           (!f->fields || labels_fields_empty(f->fields));
}

void apiserver_filter_free(apiserver_filter_t *f)
{
    f->labels = labels_selector_free(f->labels);
    f->fields = labels_fields_free(f->fields);
}

/* ---- watch streams -------------------------------------------------------------------------- */

typedef struct watch {
    apiserver_conn_t *c;
    apiserver_target_t t;
    apiserver_filter_t f;
    store_watcher_t *w;
    uv_timer_t timeout;
    bool bookmarks;
    bool ended;
    char api_version[128];
    const char *table_version; /* events carry Tables (kubectl get -w) */
    char include[16];
    bool headers_sent;
    bool gathering; /* events go to pending, written as one chunk by watch_flush */
    util_buf_t pending;
} watch_t;

/* Events pending for one stream leave in one chunk: one TLS record and one write for a burst,
 * instead of one of each per event (the fan-out cost under many watchers). */
#define WATCH_FLUSH_BYTES (256 * 1024)

static void watch_flush(watch_t *wt)
{
    if (wt->pending.len)
        apiserver__stream_write(wt->c, wt->pending.data, wt->pending.len);
    wt->pending.len = 0;
}

static void emit(watch_t *wt, const char *data, size_t len)
{
    if (!wt->gathering) {
        apiserver__stream_write(wt->c, data, len);
        return;
    }
    util_buf_append(&wt->pending, data, len);
    if (wt->pending.len >= WATCH_FLUSH_BYTES)
        watch_flush(wt);
}

static void watch_freed(uv_handle_t *h)
{
    watch_t *wt = h->data;
    apiserver_conn_t *c = wt->c;
    apiserver_filter_free(&wt->f);
    util_buf_free(&wt->pending);
    free(wt);
    apiserver__conn_unref(c);
}

/* Stops the store watcher and the timer; ends the stream unless the connection is gone. */
static void watch_end(watch_t *wt)
{
    if (wt->ended)
        return;
    wt->ended = true;
    if (wt->w)
        store_watch_cancel(wt->w);
    wt->w = NULL;
    apiserver_conn_t *c = wt->c;
    c->on_close = NULL;
    if (!c->closing)
        apiserver__stream_end(c);
    uv_close((uv_handle_t *)&wt->timeout, watch_freed);
}

static void on_conn_close(apiserver_conn_t *c, void *data)
{
    (void)c;
    watch_end(data);
}

static void send_event(watch_t *wt, const char *type, cJSON *obj)
{
    util_buf_t b = {0};
    util_buf_printf(&b, "{\"type\":\"%s\",\"object\":", type);
    apiserver_conv_out(wt->t.res, obj); /* the watched version's */
    if (wt->table_version) {
        apiserver_table_render_event(&b, wt->table_version, wt->t.res->group, wt->t.res->plural,
                                     obj, wt->include[0] ? wt->include : NULL, !wt->headers_sent);
        wt->headers_sent = true;
    } else {
        char *text = cJSON_PrintUnformatted(obj);
        util_buf_puts(&b, text);
        cJSON_free(text);
    }
    util_buf_puts(&b, "}\n");
    emit(wt, b.data, b.len);
    util_buf_free(&b);
}

static void send_expired(watch_t *wt, const char *message)
{
    util_buf_t b = {0};
    util_buf_puts(&b, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
                      "\"metadata\":{},\"status\":\"Failure\",\"message\":");
    util_buf_json_string(&b, message, strlen(message));
    util_buf_puts(&b, ",\"reason\":\"Expired\",\"code\":410}}\n");
    emit(wt, b.data, b.len);
    util_buf_free(&b);
}

static void send_bookmark(watch_t *wt, int64_t rev)
{
    util_buf_t b = {0};
    util_buf_printf(&b,
                    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\",\"apiVersion\":\"%s\","
                    "\"metadata\":{\"resourceVersion\":\"%" PRId64
                    "\",\"creationTimestamp\":null}}}\n",
                    wt->t.res->kind, wt->api_version, rev);
    emit(wt, b.data, b.len);
    util_buf_free(&b);
}

/* ---- fan-out cache: each event is parsed and rendered once, whatever the number of watchers */

#define CACHE_SLOTS 64

typedef struct cached_event {
    const store_event_t *e; /* referenced while cached */
    cJSON *now, *before;    /* parsed on first need */
    bool parsed;
    util_buf_t line[3]; /* rendered "ADDED" (now), "MODIFIED" (now), "DELETED" (last) lines */
} cached_event_t;

struct apiserver_watch_cache {
    cached_event_t slot[CACHE_SLOTS];
};

static void cached_clear(cached_event_t *ce)
{
    if (ce->e)
        store_event_unref(ce->e);
    cJSON_Delete(ce->now);
    cJSON_Delete(ce->before);
    for (int i = 0; i < 3; i++)
        util_buf_free(&ce->line[i]);
    *ce = (cached_event_t){0};
}

void apiserver_watch_cache_free(apiserver_t *a)
{
    if (!a->watch_cache)
        return;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        cached_clear(&a->watch_cache->slot[i]);
    free(a->watch_cache);
    a->watch_cache = NULL;
}

static cached_event_t *cache_get(apiserver_t *a, const store_event_t *e)
{
    if (!a->watch_cache)
        a->watch_cache = util_xcalloc(1, sizeof(*a->watch_cache));
    cached_event_t *ce = &a->watch_cache->slot[(uint64_t)e->rev % CACHE_SLOTS];
    if (ce->e != e) {
        cached_clear(ce);
        ce->e = store_event_ref(e);
    }
    return ce;
}

static void cache_parse(cached_event_t *ce)
{
    if (ce->parsed)
        return;
    const store_event_t *e = ce->e;
    ce->parsed = true;
    if (e->type == STORE_EVENT_PUT)
        ce->now = cJSON_ParseWithLength(e->kv.value, e->kv.value_len);
    if (e->has_prev)
        ce->before = cJSON_ParseWithLength(e->prev.value, e->prev.value_len);
}

/* The event line for type (0 ADDED, 1 MODIFIED, 2 DELETED) with the object's stored text and
 * resourceVersion = the event's revision; rendered once per event. */
static const util_buf_t *cache_line(cached_event_t *ce, int type)
{
    static const char *const names[] = {"ADDED", "MODIFIED", "DELETED"};
    util_buf_t *b = &ce->line[type];
    if (b->len)
        return b;
    const store_event_t *e = ce->e;
    bool use_now = e->type == STORE_EVENT_PUT; /* DELETED of a put: it left the selector */
    const char *text = use_now ? e->kv.value : e->prev.value;
    size_t len = use_now ? e->kv.value_len : e->prev.value_len;
    util_buf_printf(b, "{\"type\":\"%s\",\"object\":", names[type]);
    if (!apiserver_obj_splice_rv(text, len, e->rev, b)) {
        cJSON *obj = cJSON_ParseWithLength(text, len);
        if (obj) {
            apiserver_obj_set_rv(obj, e->rev);
            char *printed = cJSON_PrintUnformatted(obj);
            util_buf_puts(b, printed);
            cJSON_free(printed);
            cJSON_Delete(obj);
        } else {
            util_buf_puts(b, "null");
        }
    }
    util_buf_puts(b, "}\n");
    return b;
}

/* One store event: ADDED, MODIFIED or DELETED as seen through the selectors (an object that
 * stops matching is DELETED for this watcher, one that starts matching is ADDED). */
static void deliver(watch_t *wt, const store_event_t *e)
{
    if (e->type == STORE_EVENT_PROGRESS) {
        if (wt->bookmarks)
            send_bookmark(wt, e->rev);
        return;
    }
    cached_event_t *ce = cache_get(wt->c->srv, e);
    bool has_now = e->type == STORE_EVENT_PUT, has_before = e->has_prev;
    bool now_in = has_now, before_in = has_before;
    bool rewrite = apiserver_conv_rewrites(wt->t.res);
    if (!apiserver_filter_empty(&wt->f) || wt->table_version || rewrite) {
        cache_parse(ce);
        now_in = ce->now && apiserver_filter_matches(&wt->f, ce->now);
        before_in = ce->before && apiserver_filter_matches(&wt->f, ce->before);
        has_now = ce->now != NULL;
        has_before = ce->before != NULL;
    }
    int type = now_in && (!has_before || !before_in) ? 0 : now_in ? 1 : before_in ? 2 : -1;
    if (type < 0)
        return;
    if (!wt->table_version && !rewrite) {
        const util_buf_t *line = cache_line(ce, type);
        emit(wt, line->data, line->len);
        return;
    }
    static const char *const names[] = {"ADDED", "MODIFIED", "DELETED"};
    cJSON *obj = cJSON_Duplicate(type < 2 || ce->now ? ce->now : ce->before, true);
    apiserver_obj_set_rv(obj, e->rev);
    send_event(wt, names[type], obj);
    cJSON_Delete(obj);
}

static void on_store_event(store_watcher_t *w, void *ud)
{
    watch_t *wt = ud;
    (void)w;
    wt->gathering = true;
    for (;;) {
        const store_event_t *e = NULL;
        cleanup_error util_error_t err = NULL;
        int r = store_watch_next(wt->w, &e, &err);
        if (r == 0)
            break;
        if (r < 0) {
            if (r == STORE_ECOMPACTED)
                send_expired(wt, err && err->msg ? err->msg : "too old resource version");
            watch_flush(wt);
            wt->gathering = false;
            watch_end(wt);
            return;
        }
        deliver(wt, e);
        store_event_unref(e);
        if (wt->c->closing || wt->ended)
            break;
    }
    watch_flush(wt);
    wt->gathering = false;
}

static void on_timeout(uv_timer_t *t)
{
    watch_end(t->data);
}

/* For a watch without a resourceVersion (or "0"): the current objects as ADDED events, at the
 * returned revision. */
static int send_initial(watch_t *wt, int64_t *ret_rev)
{
    char prefix[512], end[512];
    apiserver_registry_prefix(wt->t.res, wt->t.ns, prefix, sizeof(prefix));
    size_t elen = store_prefix_end(prefix, strlen(prefix), end);
    store_t *s = wt->c->srv->opts.store;
    int64_t at = 0;
    char start[1100];
    wt->gathering = true; /* one chunk per page */
    size_t slen = strlen(prefix);
    memcpy(start, prefix, slen);
    for (;;) {
        store_list_t l = {0};
        int r = store_range(s, start, slen, end, elen, at, 500, &l, NULL);
        if (r < 0) {
            watch_flush(wt);
            wt->gathering = false;
            return r;
        }
        at = l.rev;
        for (size_t k = 0; k < l.n; k++) {
            cJSON *obj = cJSON_ParseWithLength(l.kvs[k]->value, l.kvs[k]->value_len);
            if (obj && apiserver_filter_matches(&wt->f, obj)) {
                apiserver_obj_set_rv(obj, l.kvs[k]->mod_rev);
                send_event(wt, "ADDED", obj);
            }
            cJSON_Delete(obj);
        }
        bool more = l.more && l.n;
        if (more) {
            memcpy(start, l.kvs[l.n - 1]->key, l.kvs[l.n - 1]->key_len);
            start[l.kvs[l.n - 1]->key_len] = '\0';
            slen = l.kvs[l.n - 1]->key_len + 1;
        }
        store_list_free(&l);
        watch_flush(wt);
        if (!more)
            break;
    }
    wt->gathering = false;
    *ret_rev = at;
    return 0;
}

void apiserver_watch_start(apiserver_conn_t *c, const apiserver_target_t *t, apiserver_filter_t *f)
{
    const char *q = c->req.query;
    char rv_s[24] = "", timeout_s[24] = "", bm[8] = "";
    apiserver_query_get(q, "resourceVersion", rv_s, sizeof(rv_s));
    apiserver_query_get(q, "timeoutSeconds", timeout_s, sizeof(timeout_s));
    apiserver_query_get(q, "allowWatchBookmarks", bm, sizeof(bm));
    int64_t after = 0;
    long timeout = 0;
    bool rv_ok = true;
    if (rv_s[0] && strcmp(rv_s, "0"))
        after = apiserver_parse_rv(rv_s, &rv_ok);
    if (!rv_ok || (timeout_s[0] && util_parse_long(timeout_s, 0, 24 * 3600, &timeout) < 0)) {
        apiserver_filter_free(f);
        apiserver_status_bad_request(c, "resourceVersion and timeoutSeconds must be integers");
        return;
    }
    watch_t *wt = util_xcalloc(1, sizeof(*wt));
    wt->c = c;
    wt->t = *t;
    wt->f = *f;
    *f = (apiserver_filter_t){0};
    wt->bookmarks = !strcmp(bm, "true") || !strcmp(bm, "1");
    if (t->res->group[0])
        snprintf(wt->api_version, sizeof(wt->api_version), "%s/%s", t->res->group, t->res->version);
    else
        snprintf(wt->api_version, sizeof(wt->api_version), "%s", t->res->version);
    if (apiserver_table_wanted(apiserver__header(&c->req, "accept"), &wt->table_version))
        apiserver_query_get(q, "includeObject", wt->include, sizeof(wt->include));
    apiserver__conn_ref(c);
    uv_timer_init(c->srv->opts.loop, &wt->timeout);
    wt->timeout.data = wt;
    c->on_close = on_conn_close;
    c->on_close_data = wt;
    char ct[96] = "application/json";
    if (wt->table_version)
        snprintf(ct, sizeof(ct), "application/json;as=Table;v=%s;g=meta.k8s.io", wt->table_version);
    apiserver__stream_begin(c, 200, ct);
    int64_t from = after;
    if (after == 0 && send_initial(wt, &from) < 0) {
        watch_end(wt);
        return;
    }
    char prefix[512], end[512];
    apiserver_registry_prefix(t->res, t->ns, prefix, sizeof(prefix));
    store_watch_opts_t o = {.start = prefix,
                            .start_len = strlen(prefix),
                            .end = end,
                            .end_len = store_prefix_end(prefix, strlen(prefix), end),
                            .after_rev = from,
                            .progress_notify = wt->bookmarks};
    cleanup_error util_error_t err = NULL;
    int r = store_watch(c->srv->opts.store, &o, on_store_event, wt, &wt->w, &err);
    if (r < 0) {
        wt->w = NULL;
        if (r == STORE_ECOMPACTED) {
            char msg[160];
            snprintf(msg, sizeof(msg), "too old resource version: %" PRId64 " (%" PRId64 ")", after,
                     store_compact_rev(c->srv->opts.store));
            send_expired(wt, msg);
        }
        watch_end(wt);
        return;
    }
    if (timeout > 0)
        uv_timer_start(&wt->timeout, on_timeout, (uint64_t)timeout * 1000, 0);
    on_store_event(wt->w, wt); /* events already past `from` (catch-up) */
}
