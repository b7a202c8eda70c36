/* client_event: core/v1 Events. One builder every component shares, and a recorder that
 * correlates repeats into a count like upstream's EventCorrelator
 * (k8s.io/client-go/tools/record/events_cache.go): the same event again patches count and
 * lastTimestamp, and a per-object token bucket (burst 25, refill one per 5 minutes) stops a
 * loop from flooding the store. */
#include "client/client.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVENT_MESSAGE_MAX 1024 /* upstream truncates event messages to 1 KiB */
#define RECORDER_ENTRIES  1024 /* correlated events remembered (upstream's LRU: 4096) */
#define SPAM_BURST        25.0
#define SPAM_REFILL_S     300.0
#define RECORDER_HASH     2048 /* hash slots of the two tables (RECORDER_ENTRIES each at most) */

static const client_resource_t EVENTS = {"", "v1", "events", true};

static void now_rfc3339(char *out, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void add_opt(cJSON *o, const char *k, const char *v)
{
    if (v && *v)
        cJSON_AddStringToObject(o, k, v);
}

cJSON *client_event_build(const client_event_spec_t *e)
{
    char ts[40], name[320], msg[EVENT_MESSAGE_MAX + 1];
    const char *ns = e->namespace_             ? e->namespace_
                     : e->obj.ns && *e->obj.ns ? e->obj.ns
                                               : "default";
    now_rfc3339(ts, sizeof(ts));
    if (e->name) {
        util_snprintf(name, sizeof(name), "%s", e->name);
    } else {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        util_snprintf(name, sizeof(name), "%.250s.%llx", e->obj.name ? e->obj.name : "event",
                      (unsigned long long)now.tv_sec * 1000000000ull +
                          (unsigned long long)now.tv_nsec);
    }
    util_snprintf(msg, sizeof(msg), "%s", e->message ? e->message : "");
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "kind", "Event");
    cJSON_AddStringToObject(ev, "apiVersion", "v1");
    cJSON *meta = cJSON_AddObjectToObject(ev, "metadata");
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "namespace", ns);
    cJSON *io = cJSON_AddObjectToObject(ev, "involvedObject");
    add_opt(io, "kind", e->obj.kind);
    add_opt(io, "namespace", e->obj.ns);
    add_opt(io, "name", e->obj.name);
    add_opt(io, "uid", e->obj.uid);
    add_opt(io, "apiVersion", e->obj.api_version);
    add_opt(io, "resourceVersion", e->obj.resource_version);
    add_opt(io, "fieldPath", e->obj.field_path);
    cJSON_AddStringToObject(ev, "reason", e->reason ? e->reason : "");
    cJSON_AddStringToObject(ev, "message", msg);
    cJSON *src = cJSON_AddObjectToObject(ev, "source");
    add_opt(src, "component", e->component);
    add_opt(src, "host", e->host);
    cJSON_AddStringToObject(ev, "firstTimestamp", e->first_timestamp ? e->first_timestamp : ts);
    cJSON_AddStringToObject(ev, "lastTimestamp", e->last_timestamp ? e->last_timestamp : ts);
    cJSON_AddNumberToObject(ev, "count", e->count > 0 ? e->count : 1);
    cJSON_AddStringToObject(ev, "type", e->type ? e->type : "Normal");
    cJSON_AddNullToObject(ev, "eventTime");
    add_opt(ev, "action", e->action);
    const char *rc = e->reporting_component ? e->reporting_component : e->component;
    const char *ri = e->reporting_instance ? e->reporting_instance : e->host;
    cJSON_AddStringToObject(ev, "reportingComponent", rc ? rc : "");
    cJSON_AddStringToObject(ev, "reportingInstance", ri ? ri : "");
    return ev;
}

/* ---- the recorder --------------------------------------------------------------------------- */

typedef struct rec_entry {
    struct rec_entry *next, *prev; /* the list, newest first */
    struct rec_entry *hnext;       /* in its hash slot */
    client_recorder_t *r;
    char *key, *ns, *name; /* the event's key, where it is written */
    cJSON *ev;             /* the event as first built: written again when it expired */
    int count;
    bool created, dirty;
    client_req_t *req;
} rec_entry_t;

typedef struct rec_bucket {
    struct rec_bucket *next, *prev; /* the list, newest first */
    struct rec_bucket *hnext;       /* in its hash slot */
    char *key;
    double tokens;
    uint64_t last_ms;
} rec_bucket_t;

struct client_recorder {
    client_t *c;
    char *component, *host;
    /* both kept newest first, found through hash tables (a node's kubelet has one recorder
     * for every pod: without the tables each event compared its key with up to 1024 others) */
    rec_entry_t *entries, *entries_tail, *ehash[RECORDER_HASH];
    size_t nentries;
    rec_bucket_t *buckets, *buckets_tail, *bhash[RECORDER_HASH];
    size_t nbuckets;
    uint64_t written, dropped;
};

client_recorder_t *client_recorder_new(client_t *c, const char *component, const char *host)
{
    client_recorder_t *r = util_xcalloc(1, sizeof(*r));
    r->c = c;
    r->component = util_xstrdup(component ? component : "");
    r->host = util_xstrdup(host ? host : "");
    return r;
}

static size_t slot_of(const char *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 1099511628211ULL;
    return (size_t)(h % RECORDER_HASH);
}

/* Doubly linked lists with head and tail, and hash chains, for both kinds of records. */
#define LIST_UNLINK(head, tail, x)       \
    do {                                 \
        if ((x)->prev)                   \
            (x)->prev->next = (x)->next; \
        else                             \
            (head) = (x)->next;          \
        if ((x)->next)                   \
            (x)->next->prev = (x)->prev; \
        else                             \
            (tail) = (x)->prev;          \
        (x)->next = (x)->prev = NULL;    \
    } while (0)
#define LIST_PUSH(head, tail, x) \
    do {                         \
        (x)->prev = NULL;        \
        (x)->next = (head);      \
        if (head)                \
            (head)->prev = (x);  \
        else                     \
            (tail) = (x);        \
        (head) = (x);            \
    } while (0)
#define HASH_UNLINK(table, type, x)                                                \
    do {                                                                           \
        for (type **pp_ = &(table)[slot_of((x)->key)]; *pp_; pp_ = &(*pp_)->hnext) \
            if (*pp_ == (x)) {                                                     \
                *pp_ = (x)->hnext;                                                 \
                break;                                                             \
            }                                                                      \
    } while (0)

static void entry_free(rec_entry_t *e)
{
    client_req_cancel(e->req);
    free(e->key);
    free(e->ns);
    free(e->name);
    cJSON_Delete(e->ev);
    free(e);
}

void client_recorder_free(client_recorder_t *r)
{
    if (!r)
        return;
    for (rec_entry_t *e = r->entries, *next; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    for (rec_bucket_t *b = r->buckets, *next; b; b = next) {
        next = b->next;
        free(b->key);
        free(b);
    }
    free(r->component);
    free(r->host);
    free(r);
}

void client_recorder_counts(const client_recorder_t *r, uint64_t *ret_written,
                            uint64_t *ret_dropped)
{
    *ret_written = r->written;
    *ret_dropped = r->dropped;
}

/* upstream's EventSourceObjectSpamFilter: a token bucket per source and object. */
static bool spam_allow(client_recorder_t *r, const char *key)
{
    uint64_t now = uv_hrtime() / 1000000;
    size_t h = slot_of(key);
    rec_bucket_t *b = r->bhash[h];
    while (b && strcmp(b->key, key))
        b = b->hnext;
    if (!b) {
        if (r->nbuckets >= RECORDER_ENTRIES) { /* forget the oldest (the list's tail) */
            rec_bucket_t *old = r->buckets_tail;
            LIST_UNLINK(r->buckets, r->buckets_tail, old);
            HASH_UNLINK(r->bhash, rec_bucket_t, old);
            free(old->key);
            free(old);
            r->nbuckets--;
        }
        b = util_xcalloc(1, sizeof(*b));
        b->key = util_xstrdup(key);
        b->tokens = SPAM_BURST;
        b->last_ms = now;
        LIST_PUSH(r->buckets, r->buckets_tail, b);
        b->hnext = r->bhash[h];
        r->bhash[h] = b;
        r->nbuckets++;
    }
    b->tokens += (double)(now - b->last_ms) / 1000.0 / SPAM_REFILL_S;
    if (b->tokens > SPAM_BURST)
        b->tokens = SPAM_BURST;
    b->last_ms = now;
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

static void entry_send(rec_entry_t *e);

static void on_written(void *ud, client_result_t *res)
{
    rec_entry_t *e = ud;
    e->req = NULL;
    if (res->status == 200 || res->status == 201) {
        e->created = true;
        e->r->written++;
    } else if (res->status == 404 && e->created) {
        e->created = false; /* expired (events live an hour): write it anew */
        e->dirty = true;
    } else {
        util_log_v(1, "events: writing %s/%s: %s", e->ns, e->name,
                   res->st.message ? res->st.message : "?");
    }
    if (e->dirty) {
        e->dirty = false;
        entry_send(e);
    }
}

static void entry_send(rec_entry_t *e)
{
    client_recorder_t *r = e->r;
    if (e->req) {
        e->dirty = true;
        return;
    }
    char ts[40];
    now_rfc3339(ts, sizeof(ts));
    if (!e->created) {
        cJSON_ReplaceItemInObjectCaseSensitive(e->ev, "count", cJSON_CreateNumber(e->count));
        cJSON_ReplaceItemInObjectCaseSensitive(e->ev, "lastTimestamp", cJSON_CreateString(ts));
        e->req = client_create(r->c, &EVENTS, e->ns, e->ev, on_written, e);
        return;
    }
    cJSON *patch = cJSON_CreateObject();
    cJSON_AddNumberToObject(patch, "count", e->count);
    cJSON_AddStringToObject(patch, "lastTimestamp", ts);
    e->req =
        client_patch(r->c, &EVENTS, e->ns, e->name, NULL, CLIENT_PATCH_MERGE, patch, on_written, e);
    cJSON_Delete(patch);
}

static rec_entry_t *entry_find(client_recorder_t *r, const char *key)
{
    rec_entry_t *e = r->ehash[slot_of(key)];
    while (e && strcmp(e->key, key))
        e = e->hnext;
    if (e) { /* move to the front: the list is kept newest first */
        LIST_UNLINK(r->entries, r->entries_tail, e);
        LIST_PUSH(r->entries, r->entries_tail, e);
    }
    return e;
}

static void entries_trim(client_recorder_t *r)
{
    if (r->nentries < RECORDER_ENTRIES)
        return;
    rec_entry_t *old = r->entries_tail;
    LIST_UNLINK(r->entries, r->entries_tail, old);
    HASH_UNLINK(r->ehash, rec_entry_t, old);
    entry_free(old);
    r->nentries--;
}

void client_recorder_eventf(client_recorder_t *r, const client_event_ref_t *obj, const char *type,
                            const char *reason, const char *fmt, ...)
{
    if (!r || !obj || !obj->name)
        return;
    char msg[EVENT_MESSAGE_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    util_buf_t key = {0}, okey = {0};
    util_buf_printf(&okey, "%s\x1f%s\x1f%s\x1f%s\x1f%s", r->component, obj->kind ? obj->kind : "",
                    obj->ns ? obj->ns : "", obj->name, obj->uid ? obj->uid : "");
    util_buf_printf(&key, "%s\x1f%s\x1f%s\x1f%s\x1f%s", okey.data,
                    obj->field_path ? obj->field_path : "", type ? type : "", reason ? reason : "",
                    msg);
    if (!spam_allow(r, okey.data)) {
        r->dropped++;
        util_log_v(1, "events: dropped %s %s/%s: %s (too many for this object)", reason,
                   obj->ns ? obj->ns : "", obj->name, msg);
        goto out;
    }
    rec_entry_t *e = entry_find(r, key.data);
    if (!e) {
        entries_trim(r);
        e = util_xcalloc(1, sizeof(*e));
        e->r = r;
        e->key = util_xstrdup(key.data);
        e->ns = util_xstrdup(obj->ns && *obj->ns ? obj->ns : "default");
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        e->name = util_strdup_printf("%.230s.%llx", obj->name,
                                     (unsigned long long)now.tv_sec * 1000000000ull +
                                         (unsigned long long)now.tv_nsec);
        client_event_spec_t s = {.obj = *obj,
                                 .type = type,
                                 .reason = reason,
                                 .message = msg,
                                 .component = r->component,
                                 .host = r->host,
                                 .name = e->name,
                                 .namespace_ = e->ns};
        e->ev = client_event_build(&s);
        LIST_PUSH(r->entries, r->entries_tail, e);
        size_t h = slot_of(e->key);
        e->hnext = r->ehash[h];
        r->ehash[h] = e;
        r->nentries++;
    }
    e->count++;
    entry_send(e); /* or folded into the next write when one is in flight */
out:
    util_buf_free(&key);
    util_buf_free(&okey);
}
