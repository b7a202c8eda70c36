/* apiserver_namespace: namespace lifecycle. A deleted namespace turns Terminating (new content
 * is refused with upstream's 403), its content is deleted in asynchronous batches through the
 * same rules as API deletes (objects with finalizers and pods bound to a node are only marked),
 * and once nothing is left the "kubernetes" finalizer is removed and the namespace goes.
 * Upstream does the content deletion in the controller-manager's namespace controller; until
 * kubeling's controllers exist (issue 6) the apiserver runs it, driven by the loop and only
 * while a namespace is terminating (no work at idle). Terminating namespaces found at start are
 * resumed. */
#include "apiserver_namespace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_list_cache.h"
#include "apiserver_object.h"
#include "apiserver_registry.h"

#define NS_BATCH        128u  /* objects looked at per step */
#define NS_RETRY_MIN_MS 250u  /* a pass that left marked objects is retried after this, */
#define NS_RETRY_MAX_MS 8000u /* doubling up to this */
#define NS_MAX_NAME     63

typedef struct ns_job {
    struct ns_job *next;
    char name[NS_MAX_NAME + 1];
} ns_job_t;

struct apiserver_nsfin {
    apiserver_t *a;
    uv_timer_t timer;
    ns_job_t *head, *tail; /* the job at head is the one being worked on */
    bool in_txn;
    /* the pass over the head job's content */
    size_t res_index; /* resource being scanned */
    char after[1024]; /* last key seen in it ("" to start) */
    size_t remaining; /* objects left in place (marked) in this pass */
    size_t written;   /* objects deleted or marked in this pass */
    unsigned backoff_ms;
};

static const apiserver_resource_t *ns_resource(void)
{
    return apiserver_resource_find("", "v1", "namespaces");
}

static cJSON *read_namespace(apiserver_t *a, const char *name, int64_t *rev)
{
    char key[512];
    apiserver_registry_key(ns_resource(), "", name, key, sizeof(key));
    store_kv_t *kv = NULL;
    if (store_get(a->opts.store, key, strlen(key), 0, &kv, NULL, NULL) < 0)
        return NULL;
    cJSON *obj = cJSON_ParseWithLength(kv->value, kv->value_len);
    *rev = kv->mod_rev;
    free(kv);
    return obj;
}

/* The namespace as a get reads it: from the objects the list cache keeps when it holds it (the
 * namespace of every create, read once per change instead of once per create). */
static cJSON *read_namespace_kept(apiserver_t *a, const char *name)
{
    char key[512];
    apiserver_registry_key(ns_resource(), "", name, key, sizeof(key));
    size_t key_len = strlen(key);
    const store_kv_t *kept = apiserver_list_cache_object(a, key, key_len);
    if (kept)
        return cJSON_ParseWithLength(kept->value, kept->value_len);
    store_kv_t *kv = NULL;
    if (store_get(a->opts.store, key, key_len, 0, &kv, NULL, NULL) < 0)
        return NULL;
    cJSON *obj = cJSON_ParseWithLength(kv->value, kv->value_len);
    apiserver_list_cache_keep_object(a, kv);
    return obj;
}

int apiserver_namespace_state(apiserver_t *a, const char *ns)
{
    cJSON *obj = read_namespace_kept(a, ns);
    if (!obj)
        return -ENOENT;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const char *phase =
        apiserver_obj_string(cJSON_GetObjectItemCaseSensitive(obj, "status"), "phase");
    bool terminating = cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp") ||
                       (phase && !strcmp(phase, "Terminating"));
    cJSON_Delete(obj);
    return terminating ? 1 : 0;
}

void apiserver_namespace_forbid(apiserver_conn_t *c, const apiserver_resource_t *r,
                                const char *name, const char *ns)
{
    char qualified[128], msg[1024];
    apiserver_obj_qualified(r, qualified, sizeof(qualified));
    snprintf(msg, sizeof(msg),
             "%s \"%s\" is forbidden: unable to create new content in namespace %s because it "
             "is being terminated",
             qualified, name, ns);
    util_buf_t d = {0};
    util_buf_puts(&d, "{\"name\":");
    util_buf_json_string(&d, name, strlen(name));
    if (r->group[0])
        util_buf_printf(&d, ",\"group\":\"%s\"", r->group);
    util_buf_printf(&d,
                    ",\"kind\":\"%s\",\"causes\":[{\"reason\":\"NamespaceTerminating\","
                    "\"message\":",
                    r->plural);
    char cause[128];
    snprintf(cause, sizeof(cause), "namespace %s is being terminated", ns);
    util_buf_json_string(&d, cause, strlen(cause));
    util_buf_puts(&d, ",\"field\":\"metadata.namespace\"}]}");
    apiserver__respond_status_ex(c, 403, "Forbidden", msg, d.data, NULL);
    util_buf_free(&d);
}

/* ---- the finalizer's steps ------------------------------------------------------------------ */

static void step(uv_timer_t *t);

static void arm(struct apiserver_nsfin *f, uint64_t ms)
{
    if (!f->a->stopping && f->head && !f->in_txn)
        uv_timer_start(&f->timer, step, ms, 0);
}

static void pass_reset(struct apiserver_nsfin *f)
{
    f->res_index = 0;
    f->after[0] = '\0';
    f->remaining = 0;
    f->written = 0;
}

static void job_done(struct apiserver_nsfin *f)
{
    ns_job_t *j = f->head;
    f->head = j->next;
    if (!f->head)
        f->tail = NULL;
    free(j);
    pass_reset(f);
    f->backoff_ms = NS_RETRY_MIN_MS;
    arm(f, 0);
}

static void txn_done(store_t *s, store_txn_result_t *res, void *ud)
{
    (void)s;
    struct apiserver_nsfin *f = ud;
    apiserver_t *a = f->a;
    f->in_txn = false;
    if (res->status < 0 && !a->stopping) {
        /* something changed under us (a conflict) or the store failed: redo the pass */
        util_log_v(2, "apiserver: namespace %s: batch failed (%d), retrying",
                   f->head ? f->head->name : "?", res->status);
        pass_reset(f);
        arm(f, f->backoff_ms);
    } else {
        arm(f, 0);
    }
    apiserver__unref(a);
}

static int submit(struct apiserver_nsfin *f, store_op_t *ops, size_t n)
{
    cleanup_error util_error_t err = NULL;
    f->in_txn = true;
    f->a->pending_closes++;
    int r = store_txn(f->a->opts.store, ops, n, txn_done, f, &err);
    if (r < 0) {
        f->in_txn = false;
        f->a->pending_closes--;
        util_log_error("apiserver: namespace %s: %s", f->head->name,
                       err ? err->msg : "store error");
    }
    return r;
}

/* The op for one object of the namespace, by the rules of an API delete; false when the object
 * stays as it is (already marked). The value is owned by *text. */
static bool object_op(const apiserver_resource_t *r, const store_kv_t *kv, store_op_t *op,
                      char **text)
{
    cJSON *obj = cJSON_ParseWithLength(kv->value, kv->value_len);
    *text = NULL;
    *op = (store_op_t){.key = kv->key, .key_len = kv->key_len, .expected_rev = kv->mod_rev};
    apiserver_delete_plan_t plan = obj ? apiserver_reg_plan_delete(r, obj, -1)
                                       : APISERVER_DELETE_NOW; /* unreadable: it goes */
    if (plan == APISERVER_DELETE_MARK) {
        apiserver_obj_canonical_order(obj);
        *text = cJSON_PrintUnformatted(obj);
        op->type = STORE_OP_UPDATE;
        op->value = *text;
        op->value_len = strlen(*text);
    } else {
        op->type = STORE_OP_DELETE;
    }
    cJSON_Delete(obj);
    return plan != APISERVER_DELETE_KEEP;
}

/* Nothing is left: the "kubernetes" finalizer goes, and with no other finalizer the namespace. */
static void finish(struct apiserver_nsfin *f, cJSON *ns, int64_t rev)
{
    cJSON *meta = apiserver_obj_metadata(ns);
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(ns, "spec");
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "finalizers");
    char key[512];
    apiserver_registry_key(ns_resource(), "", f->head->name, key, sizeof(key));
    store_op_t op = {.key = key, .key_len = strlen(key), .expected_rev = rev};
    char *text = NULL;
    if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(meta, "finalizers")) > 0) {
        apiserver_obj_canonical_order(ns);
        text = cJSON_PrintUnformatted(ns);
        op.type = STORE_OP_UPDATE;
        op.value = text;
        op.value_len = strlen(text);
    } else {
        op.type = STORE_OP_DELETE;
    }
    util_log_info("apiserver: namespace %s: content deleted, %s", f->head->name,
                  op.type == STORE_OP_DELETE ? "removing it" : "waiting for its finalizers");
    if (submit(f, &op, 1) < 0)
        arm(f, f->backoff_ms);
    cJSON_free(text);
}

static bool has_kubernetes_finalizer(const cJSON *ns)
{
    const cJSON *fin = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(ns, "spec"), "finalizers");
    const cJSON *e;
    cJSON_ArrayForEach(e, fin)
    {
        if (cJSON_IsString(e) && !strcmp(e->valuestring, "kubernetes"))
            return true;
    }
    return false;
}

static void step(uv_timer_t *t)
{
    struct apiserver_nsfin *f = t->data;
    apiserver_t *a = f->a;
    if (a->stopping || f->in_txn || !f->head)
        return;
    int64_t ns_rev = 0;
    cJSON *ns = read_namespace(a, f->head->name, &ns_rev);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(ns, "metadata");
    if (!ns || !cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp") ||
        !has_kubernetes_finalizer(ns)) {
        /* gone, not being deleted, or our part done (other finalizers finish it) */
        cJSON_Delete(ns);
        job_done(f);
        return;
    }
    store_op_t ops[NS_BATCH];
    char *texts[NS_BATCH];
    size_t nops = 0;
    while (f->res_index < apiserver_resource_count() && nops == 0) { /* CRs too */
        const apiserver_resource_t *r = apiserver_resource_at(f->res_index);
        if (!r->namespaced) {
            f->res_index++;
            continue;
        }
        char prefix[512], end[512], start[1024 + 1];
        apiserver_registry_prefix(r, f->head->name, prefix, sizeof(prefix));
        size_t elen = store_prefix_end(prefix, strlen(prefix), end);
        size_t slen;
        if (f->after[0]) { /* just past the last key seen: the key plus a NUL byte */
            slen = strlen(f->after) + 1;
            memcpy(start, f->after, slen);
        } else {
            slen = strlen(prefix);
            memcpy(start, prefix, slen);
        }
        store_list_t l = {0};
        cleanup_error util_error_t err = NULL;
        if (store_range(a->opts.store, start, slen, end, elen, 0, NS_BATCH, &l, &err) < 0) {
            util_log_error("apiserver: namespace %s: %s", f->head->name,
                           err ? err->msg : "store error");
            cJSON_Delete(ns);
            arm(f, f->backoff_ms);
            return;
        }
        for (size_t i = 0; i < l.n; i++) {
            if (object_op(r, l.kvs[i], &ops[nops], &texts[nops])) /* store_txn copies */
                nops++;
            else
                f->remaining++;
        }
        if (l.n > 0)
            util_strlcpy(f->after, l.kvs[l.n - 1]->key, sizeof(f->after));
        if (!l.more) {
            f->res_index++;
            f->after[0] = '\0';
        }
        if (nops > 0) {
            f->written += nops;
            int rc = submit(f, ops, nops);
            for (size_t i = 0; i < nops; i++)
                cJSON_free(texts[i]);
            store_list_free(&l);
            cJSON_Delete(ns);
            if (rc < 0)
                arm(f, f->backoff_ms);
            return;
        }
        store_list_free(&l);
    }
    /* a pass is over */
    if (f->written > 0) { /* we changed things: look again, at once */
        pass_reset(f);
        cJSON_Delete(ns);
        arm(f, 0);
        return;
    }
    if (f->remaining > 0) { /* marked objects wait for their finalizers or kubelets */
        pass_reset(f);
        cJSON_Delete(ns);
        f->backoff_ms = f->backoff_ms * 2 > NS_RETRY_MAX_MS ? NS_RETRY_MAX_MS : f->backoff_ms * 2;
        arm(f, f->backoff_ms);
        return;
    }
    finish(f, ns, ns_rev);
    cJSON_Delete(ns);
}

/* ---- lifetime ------------------------------------------------------------------------------- */

void apiserver_namespace_finalize(apiserver_t *a, const char *name)
{
    struct apiserver_nsfin *f = a->nsfin;
    if (!f || a->stopping || strlen(name) > NS_MAX_NAME)
        return;
    for (ns_job_t *j = f->head; j; j = j->next)
        if (!strcmp(j->name, name))
            return;
    ns_job_t *j = util_xcalloc(1, sizeof(*j));
    util_strlcpy(j->name, name, sizeof(j->name));
    if (f->tail)
        f->tail->next = j;
    else
        f->head = j;
    f->tail = j;
    util_log_info("apiserver: namespace %s is terminating: deleting its content", name);
    if (f->head == j)
        arm(f, 0);
}

int apiserver_namespace_init(apiserver_t *a, util_error_t *err)
{
    struct apiserver_nsfin *f = util_xcalloc(1, sizeof(*f));
    f->a = a;
    f->backoff_ms = NS_RETRY_MIN_MS;
    uv_timer_init(a->opts.loop, &f->timer);
    f->timer.data = f;
    a->pending_closes++;
    a->nsfin = f;
    /* resume namespaces that were terminating when the server stopped */
    char prefix[512], end[512];
    apiserver_registry_prefix(ns_resource(), "", prefix, sizeof(prefix));
    size_t elen = store_prefix_end(prefix, strlen(prefix), end);
    store_list_t l = {0};
    int r = store_range(a->opts.store, prefix, strlen(prefix), end, elen, 0, 0, &l, err);
    for (size_t i = 0; r == 0 && i < l.n; i++) {
        cJSON *ns = cJSON_ParseWithLength(l.kvs[i]->value, l.kvs[i]->value_len);
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(ns, "metadata");
        const char *name = apiserver_obj_string(meta, "name");
        if (name && cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp"))
            apiserver_namespace_finalize(a, name);
        cJSON_Delete(ns);
    }
    store_list_free(&l);
    return r;
}

static void timer_closed(uv_handle_t *h)
{
    struct apiserver_nsfin *f = h->data;
    apiserver_t *a = f->a;
    while (f->head) {
        ns_job_t *j = f->head;
        f->head = j->next;
        free(j);
    }
    a->nsfin = NULL;
    free(f);
    apiserver__unref(a);
}

void apiserver_namespace_stop(apiserver_t *a)
{
    if (a->nsfin)
        uv_close((uv_handle_t *)&a->nsfin->timer, timer_closed);
}
