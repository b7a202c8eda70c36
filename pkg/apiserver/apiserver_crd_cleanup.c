/* apiserver_crd_cleanup: deleting a CustomResourceDefinition as upstream does: the delete marks
 * it (deletionTimestamp, the customresourcecleanup finalizer, a Terminating condition); its
 * objects are then deleted from the store in batches and the finalizer removed, which deletes
 * the CRD. Driven by the CRD watch (apiserver_crd.c), so a restart resumes it. */
#include "apiserver_crd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_object.h"

#define CRD_PREFIX   "/registry/apiextensions.k8s.io/customresourcedefinitions/"
#define BATCH        100u
#define MAX_ATTEMPTS 100000u

typedef struct cleanup {
    store_t *store;
    char name[256];   /* the CRD */
    char prefix[600]; /* its objects */
    bool finalize;
    unsigned rounds;
    struct cleanup *next;
} cleanup_t;

static cleanup_t *running; /* one per CRD name (loop thread only) */

static cJSON *jget(const cJSON *o, const char *name)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
}

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = jget(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void apiserver_crd_mark_deleting(cJSON *crd)
{
    cJSON *meta = jget(crd, "metadata");
    if (!cJSON_IsObject(meta))
        return;
    cJSON *fin = jget(meta, "finalizers");
    if (!cJSON_IsArray(fin)) {
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "finalizers");
        fin = cJSON_AddArrayToObject(meta, "finalizers");
    }
    const cJSON *f;
    cJSON_ArrayForEach(f, fin)
    {
        if (cJSON_IsString(f) && !strcmp(f->valuestring, APISERVER_CRD_FINALIZER))
            return;
    }
    cJSON_AddItemToArray(fin, cJSON_CreateString(APISERVER_CRD_FINALIZER));
}

static void finished(cleanup_t *cl)
{
    for (cleanup_t **p = &running; *p; p = &(*p)->next) {
        if (*p == cl) {
            *p = cl->next;
            break;
        }
    }
    free(cl);
}

static void step(cleanup_t *cl);

static void step_done(store_t *s, store_txn_result_t *res, void *ud)
{
    (void)s;
    cleanup_t *cl = ud;
    if (res->status == -ECANCELED || ++cl->rounds > MAX_ATTEMPTS) {
        finished(cl);
        return;
    }
    step(cl); /* the next batch, the same one again after a conflict, or the finalizer */
}

/* Removes the finalizer from the stored CRD; deletes it when no finalizer is left. */
static void remove_finalizer(cleanup_t *cl)
{
    char key[400];
    snprintf(key, sizeof(key), CRD_PREFIX "%s", cl->name);
    store_kv_t *kv = NULL;
    if (store_get(cl->store, key, strlen(key), 0, &kv, NULL, NULL) < 0) {
        finished(cl); /* already gone */
        return;
    }
    cJSON *crd = cJSON_ParseWithLength(kv->value, kv->value_len);
    cJSON *fin = jget(jget(crd, "metadata"), "finalizers");
    int idx = -1, i = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, fin)
    {
        if (cJSON_IsString(f) && !strcmp(f->valuestring, APISERVER_CRD_FINALIZER))
            idx = i;
        i++;
    }
    if (!crd || idx < 0) {
        cJSON_Delete(crd);
        free(kv);
        finished(cl);
        return;
    }
    cJSON_DeleteItemFromArray(fin, idx);
    bool last = cJSON_GetArraySize(fin) == 0;
    apiserver_obj_canonical_order(crd);
    char *text = last ? NULL : cJSON_PrintUnformatted(crd);
    store_op_t op = {.type = last ? STORE_OP_DELETE : STORE_OP_UPDATE,
                     .key = key,
                     .key_len = strlen(key),
                     .value = text,
                     .value_len = text ? strlen(text) : 0,
                     .expected_rev = kv->mod_rev};
    cl->finalize = false; /* after this write, a conflict retries from the top */
    int r = store_txn(cl->store, &op, 1, step_done, cl, NULL);
    cJSON_free(text);
    cJSON_Delete(crd);
    free(kv);
    if (r < 0)
        finished(cl);
}

static void step(cleanup_t *cl)
{
    char end[600];
    size_t end_len = store_prefix_end(cl->prefix, strlen(cl->prefix), end);
    store_list_t l = {0};
    if (store_range(cl->store, cl->prefix, strlen(cl->prefix), end, end_len, 0, BATCH, &l, NULL) <
        0) {
        store_list_free(&l);
        finished(cl);
        return;
    }
    if (l.n == 0) {
        store_list_free(&l);
        if (cl->finalize)
            remove_finalizer(cl);
        else
            finished(cl);
        return;
    }
    store_op_t ops[BATCH];
    for (size_t i = 0; i < l.n; i++)
        ops[i] = (store_op_t){.type = STORE_OP_DELETE,
                              .key = l.kvs[i]->key,
                              .key_len = l.kvs[i]->key_len,
                              .expected_rev = l.kvs[i]->mod_rev};
    int r = store_txn(cl->store, ops, l.n, step_done, cl, NULL);
    store_list_free(&l);
    if (r < 0)
        finished(cl);
}

void apiserver_crd_cleanup_start(store_t *s, const char *name, const char *value, size_t len,
                                 bool finalize)
{
    for (cleanup_t *cl = running; cl; cl = cl->next)
        if (!strcmp(cl->name, name)) {
            cl->finalize |= finalize;
            return;
        }
    cJSON *crd = cJSON_ParseWithLength(value, len);
    const cJSON *spec = jget(crd, "spec");
    const char *group = jstr(spec, "group");
    const char *plural = jstr(jget(spec, "names"), "plural");
    if (group && plural && group[0] && plural[0] && !strchr(group, '/') && !strchr(plural, '/') &&
        strlen(name) < 256 && strlen(group) + strlen(plural) < 500) {
        cleanup_t *cl = util_xcalloc(1, sizeof(*cl));
        cl->store = s;
        cl->finalize = finalize;
        snprintf(cl->name, sizeof(cl->name), "%s", name);
        snprintf(cl->prefix, sizeof(cl->prefix), "/registry/%s/%s/", group, plural);
        cl->next = running;
        running = cl;
        step(cl);
    }
    cJSON_Delete(crd);
}

/* ---- names freed by a deleted CRD ------------------------------------------------------------ */

static void recheck_done(store_t *s, store_txn_result_t *res, void *ud)
{
    (void)s;
    (void)res; /* a conflict means someone wrote it meanwhile: that write re-checked it */
    (void)ud;
}

static bool names_refused(const cJSON *crd)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, jget(jget(crd, "status"), "conditions"))
    {
        const char *type = jstr(c, "type"), *status = jstr(c, "status");
        if (type && status && !strcmp(type, "NamesAccepted"))
            return strcmp(status, "True") != 0;
    }
    return false;
}

void apiserver_crd_recheck_names(store_t *s, const char *group)
{
    char end[256];
    size_t end_len = store_prefix_end(CRD_PREFIX, strlen(CRD_PREFIX), end);
    store_list_t l = {0};
    if (store_range(s, CRD_PREFIX, strlen(CRD_PREFIX), end, end_len, 0, 0, &l, NULL) < 0) {
        store_list_free(&l);
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        cJSON *crd = cJSON_ParseWithLength(l.kvs[i]->value, l.kvs[i]->value_len);
        const char *g = jstr(jget(crd, "spec"), "group");
        if (!g || strcmp(g, group) || !names_refused(crd)) {
            cJSON_Delete(crd);
            continue;
        }
        apiserver_crd_prepare(crd); /* accepted now, unless another CRD still holds the names */
        if (!names_refused(crd)) {
            apiserver_obj_canonical_order(crd);
            char *text = cJSON_PrintUnformatted(crd);
            store_op_t op = {.type = STORE_OP_UPDATE,
                             .key = l.kvs[i]->key,
                             .key_len = l.kvs[i]->key_len,
                             .value = text,
                             .value_len = strlen(text),
                             .expected_rev = l.kvs[i]->mod_rev};
            (void)store_txn(s, &op, 1, recheck_done, NULL, NULL);
            cJSON_free(text);
        }
        cJSON_Delete(crd);
    }
    store_list_free(&l);
}
