/* apiserver_apply: server-side apply requests (PATCH application/apply-patch+yaml) and the
 * field manager of every other write (https://kubernetes.io/docs/reference/using-api/
 * server-side-apply/). The ownership rules live in apiserver_managed.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_apply.h"
#include "apiserver_convert.h"
#include "apiserver_object.h"
#include "apiserver_validate.h"

/* upstream's validation.FieldManagerMaxLength */
#define FIELD_MANAGER_MAX 128

static bool is_apply_request(const apiserver_conn_t *c)
{
    const char *ct = apiserver__header(&c->req, "content-type");
    return ct && !strcmp(c->req.method, "PATCH") && !strncmp(ct, "application/apply-patch", 23);
}

/* The fieldManager parameter, else the User-Agent's product (upstream's prefixFromUserAgent:
 * what precedes the first '/', printable characters only, at most 128 of them). */
static void manager_of(const apiserver_conn_t *c, char out[FIELD_MANAGER_MAX + 1])
{
    if (apiserver_query_get(c->req.query, "fieldManager", out, FIELD_MANAGER_MAX + 1) && out[0])
        return;
    const char *ua = apiserver__header(&c->req, "user-agent");
    size_t j = 0;
    for (const char *p = ua ? ua : ""; *p && *p != '/' && j < FIELD_MANAGER_MAX; p++)
        if ((unsigned char)*p >= 0x20 && (unsigned char)*p != 0x7f)
            out[j++] = *p;
    out[j] = '\0';
}

static bool has_status_subresource(const apiserver_resource_t *r)
{
    for (size_t i = 0; r->subresources[i]; i++)
        if (!strcmp(r->subresources[i], "status"))
            return true;
    return false;
}

typedef struct manager_buf {
    char name[FIELD_MANAGER_MAX + 1];
    char api_version[128];
    char now[21];
} manager_buf_t;

static void manager_init(apiserver_manager_t *m, manager_buf_t *b, const apiserver_target_t *t)
{
    const apiserver_resource_t *r = t->res;
    if (r->group[0])
        snprintf(b->api_version, sizeof(b->api_version), "%s/%s", r->group, r->version);
    else
        snprintf(b->api_version, sizeof(b->api_version), "%s", r->version);
    apiserver_obj_now(b->now);
    *m = (apiserver_manager_t){
        .kind = r->kind,
        .name = b->name,
        .api_version = b->api_version,
        .subresource = t->sub,
        .now = b->now,
        .strip_status = has_status_subresource(r) && !t->sub[0],
    };
}

void apiserver_managed_track(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj,
                             const cJSON *cur)
{
    if (is_apply_request(c))
        return;
    cJSON *meta = apiserver_obj_metadata(obj);
    if (!cur) /* a create starts the history */
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "managedFields");
    apiserver_manager_t m;
    manager_buf_t b;
    manager_init(&m, &b, t);
    manager_of(c, b.name);
    if (b.name[0]) {
        apiserver_managed_update(obj, cur, &m);
        return;
    }
    /* Unnamed writers (the in-process controllers) are not tracked but keep the history. */
    const cJSON *cmeta = cJSON_GetObjectItemCaseSensitive(cur, "metadata");
    const cJSON *cmf = cJSON_GetObjectItemCaseSensitive(cmeta, "managedFields");
    if (cmf && !cJSON_GetObjectItemCaseSensitive(meta, "managedFields"))
        cJSON_AddItemToObject(meta, "managedFields", cJSON_Duplicate(cmf, true));
}

/* ---- the apply request ------------------------------------------------------------------------
 */

/* The apply configuration: a JSON object (kubectl sends JSON; YAML that is not JSON is not
 * read) of the endpoint's kind, named as on the URL. Answers and returns NULL when bad. */
static cJSON *parse_applied(apiserver_conn_t *c, const apiserver_target_t *t,
                            const apiserver_manager_t *m)
{
    const util_buf_t *body = &c->req.body;
    cJSON *obj = cJSON_ParseWithLength(body->data ? body->data : "", body->len);
    if (!obj || !cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        apiserver_status_bad_request(c, "error decoding YAML: this server reads apply "
                                        "configurations in JSON only (the JSON subset of YAML)");
        return NULL;
    }
    const char *kind = apiserver_obj_string(obj, "kind");
    const char *apiv = apiserver_obj_string(obj, "apiVersion");
    if (!kind || !apiv || strcmp(kind, t->res->kind) || strcmp(apiv, m->api_version)) {
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "the API version in the data (%s) does not match the expected API version (%s) "
                 "or the kind (%s) is not %s",
                 apiv ? apiv : "", m->api_version, kind ? kind : "", t->res->kind);
        cJSON_Delete(obj);
        apiserver_status_bad_request(c, msg);
        return NULL;
    }
    cJSON *meta = apiserver_obj_metadata(obj);
    const char *name = apiserver_obj_string(meta, "name");
    if (!meta || (name && strcmp(name, t->name))) {
        cJSON_Delete(obj);
        apiserver_status_bad_request(c, "the name of the object does not match the name on the "
                                        "URL");
        return NULL;
    }
    if (!name)
        cJSON_AddStringToObject(meta, "name", t->name);
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "managedFields");
    if (apiserver__validate_request(c, t->res, obj, false) < 0) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

static void respond_conflicts(apiserver_conn_t *c, cJSON *causes)
{
    char *msg = apiserver_apply_conflict_message(causes);
    cJSON *details = cJSON_CreateObject();
    cJSON_AddItemToObject(details, "causes", causes);
    char *json = cJSON_PrintUnformatted(details);
    apiserver__respond_status_ex(c, 409, "Conflict", msg, json, NULL);
    cJSON_free(json);
    cJSON_Delete(details);
    free(msg);
}

/* Merges, answering conflicts (409) and patches that do not apply (422); NULL then. */
static cJSON *merge_or_respond(apiserver_conn_t *c, const cJSON *live, const cJSON *applied,
                               const apiserver_manager_t *m)
{
    cJSON *obj = NULL, *causes = NULL;
    cleanup_error util_error_t err = NULL;
    int r = apiserver_apply_merge(live, applied, m, &obj, &causes, &err);
    if (r == -EBUSY)
        respond_conflicts(c, causes);
    else if (r < 0)
        apiserver__respond_status(c, 422, "Invalid",
                                  err && err->msg ? err->msg : "the apply does not merge");
    return r < 0 ? NULL : obj;
}

static void apply_to_stored(apiserver_conn_t *c, const apiserver_target_t *t,
                            const apiserver_manager_t *m, const cJSON *applied,
                            const store_kv_t *kv)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(applied, "metadata");
    bool rv_ok = false;
    int64_t rv = apiserver_parse_rv(apiserver_obj_string(meta, "resourceVersion"), &rv_ok);
    if (rv_ok && rv != kv->mod_rev) { /* the configuration carried a precondition */
        apiserver_status_conflict(c, t->res, t->name);
        return;
    }
    cJSON *live = cJSON_ParseWithLength(kv->value, kv->value_len);
    if (!live) {
        apiserver__respond_status(c, 500, "InternalError", "stored object is not valid JSON");
        return;
    }
    cJSON *obj = merge_or_respond(c, live, applied, m);
    cJSON_Delete(live);
    if (obj)
        apiserver_reg_finish_update(c, t, obj, kv, kv->mod_rev);
}

void apiserver_apply_handle(apiserver_conn_t *c, const apiserver_target_t *t)
{
    apiserver_manager_t m;
    manager_buf_t b;
    manager_init(&m, &b, t);
    if (!apiserver_query_get(c->req.query, "fieldManager", b.name, sizeof(b.name)) || !b.name[0]) {
        apiserver_status_bad_request(c, "PATCH with an apply patch type requires the "
                                        "fieldManager parameter");
        return;
    }
    char force[8] = "";
    m.force =
        apiserver_query_get(c->req.query, "force", force, sizeof(force)) && !strcmp(force, "true");
    cJSON *applied = parse_applied(c, t, &m);
    if (!applied)
        return;
    char key[1024];
    apiserver_registry_key(t->res, t->ns, t->name, key, sizeof(key));
    store_kv_t *kv = NULL;
    cleanup_error util_error_t err = NULL;
    int r = store_get(c->srv->opts.store, key, strlen(key), 0, &kv, NULL, &err);
    if (r == 0)
        kv = apiserver_conv_kv(t->res, kv); /* in the request's version */
    if (r == -ENOENT && !t->sub[0]) {       /* apply creates what is missing */
        cJSON *obj = merge_or_respond(c, NULL, applied, &m);
        if (obj)
            apiserver_reg_create(c, t, obj);
    } else if (r == -ENOENT) {
        apiserver_status_not_found(c, t->res, t->name);
    } else if (r < 0) {
        apiserver_status_store_error(c, r, err ? err->msg : NULL);
    } else {
        apply_to_stored(c, t, &m, applied, kv);
    }
    free(kv);
    cJSON_Delete(applied);
}
