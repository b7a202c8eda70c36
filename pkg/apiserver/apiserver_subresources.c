/* apiserver_subresources: scale (autoscaling/v1 Scale), pods/binding, pods/eviction, and the
 * kubelet-served pod subresources (log, exec, attach, portforward), which answer 503 until
 * the kubelet lands. */
#include "apiserver_registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_apply.h"
#include "apiserver_crd.h"
#include "apiserver_object.h"
#include "apiserver_patch.h"

/* ---- scale ---------------------------------------------------------------------------------- */

/* spec.selector as a label selector string ("a=b,c in (d)"), as Scale.status.selector. */
static void selector_string(const cJSON *sel, util_buf_t *b)
{
    const cJSON *ml = cJSON_GetObjectItemCaseSensitive(sel, "matchLabels");
    const cJSON *e;
    bool first = true;
    if (!ml && cJSON_IsObject(sel) && !cJSON_GetObjectItemCaseSensitive(sel, "matchExpressions"))
        ml = sel; /* replicationcontrollers: a plain map */
    cJSON_ArrayForEach(e, ml)
    {
        if (!cJSON_IsString(e))
            continue;
        util_buf_printf(b, "%s%s=%s", first ? "" : ",", e->string, e->valuestring);
        first = false;
    }
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(sel, "matchExpressions"))
    {
        const char *key = apiserver_obj_string(e, "key");
        const char *op = apiserver_obj_string(e, "operator");
        if (!key || !op)
            continue;
        util_buf_printf(b, "%s", first ? "" : ",");
        first = false;
        if (!strcmp(op, "Exists")) {
            util_buf_puts(b, key);
        } else if (!strcmp(op, "DoesNotExist")) {
            util_buf_printf(b, "!%s", key);
        } else {
            util_buf_printf(b, "%s %s (", key, !strcmp(op, "In") ? "in" : "notin");
            const cJSON *v;
            bool vf = true;
            cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(e, "values"))
            {
                if (cJSON_IsString(v)) {
                    util_buf_printf(b, "%s%s", vf ? "" : ",", v->valuestring);
                    vf = false;
                }
            }
            util_buf_puts(b, ")");
        }
    }
}

cJSON *apiserver_scale_of(const apiserver_resource_t *r, const cJSON *obj)
{
    (void)r;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(obj, "status");
    cJSON *scale = cJSON_CreateObject();
    cJSON_AddStringToObject(scale, "kind", "Scale");
    cJSON_AddStringToObject(scale, "apiVersion", "autoscaling/v1");
    cJSON *m = cJSON_AddObjectToObject(scale, "metadata");
    static const char *const copied[] = {"name", "namespace", "uid", "resourceVersion",
                                         "creationTimestamp"};
    for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, copied[i]);
        if (v)
            cJSON_AddItemToObject(m, copied[i], cJSON_Duplicate(v, true));
    }
    const apiserver_crd_res_t *crd = apiserver_crd_of(r);
    if (crd) { /* the CRD's scale paths; the selector is a string already */
        const cJSON *rep = apiserver_crd_json_path(obj, crd->spec_replicas_path);
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(scale, "spec"), "replicas",
                                cJSON_IsNumber(rep) ? rep->valuedouble : 0);
        cJSON *st = cJSON_AddObjectToObject(scale, "status");
        const cJSON *srep = apiserver_crd_json_path(obj, crd->status_replicas_path);
        cJSON_AddNumberToObject(st, "replicas", cJSON_IsNumber(srep) ? srep->valuedouble : 0);
        const cJSON *sel = apiserver_crd_json_path(obj, crd->label_selector_path);
        if (cJSON_IsString(sel))
            cJSON_AddStringToObject(st, "selector", sel->valuestring);
        return scale;
    }
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(spec, "replicas");
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(scale, "spec"), "replicas",
                            cJSON_IsNumber(rep) ? rep->valuedouble : 1);
    cJSON *st = cJSON_AddObjectToObject(scale, "status");
    const cJSON *srep = cJSON_GetObjectItemCaseSensitive(status, "replicas");
    cJSON_AddNumberToObject(st, "replicas", cJSON_IsNumber(srep) ? srep->valuedouble : 0);
    util_buf_t sel = {0};
    selector_string(cJSON_GetObjectItemCaseSensitive(spec, "selector"), &sel);
    if (sel.len)
        cJSON_AddStringToObject(st, "selector", sel.data);
    util_buf_free(&sel);
    return scale;
}

/* The new spec.replicas from a Scale body (PUT) or a patch applied to the current Scale. */
static int new_replicas(apiserver_conn_t *c, const cJSON *current_scale, double *ret,
                        util_error_t *err)
{
    const char *m = c->req.method;
    cJSON *body = cJSON_ParseWithLength(c->req.body.data ? c->req.body.data : "", c->req.body.len);
    if (!body)
        return util_error_make(err, EINVAL, "the request body is not JSON");
    cJSON *result = NULL;
    if (!strcmp(m, "PUT")) {
        result = body;
        body = NULL;
    } else {
        const char *ct = apiserver__header(&c->req, "content-type");
        if (ct && !strncmp(ct, "application/json-patch+json", 27))
            result = apiserver_json_patch(current_scale, body, err);
        else if (ct && !strncmp(ct, "application/strategic-merge-patch+json", 38))
            result = apiserver_strategic_patch(current_scale, body, "Scale", err);
        else
            result = apiserver_merge_patch(current_scale, body);
    }
    cJSON_Delete(body);
    if (!result)
        return -EINVAL;
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(result, "spec"), "replicas");
    int r = 0;
    if (!cJSON_IsNumber(rep) || rep->valuedouble < 0 || rep->valuedouble > 1e9 ||
        rep->valuedouble != (double)(long long)rep->valuedouble)
        r = util_error_make(err, EINVAL, "spec.replicas: must be a non-negative integer");
    else
        *ret = rep->valuedouble;
    cJSON_Delete(result);
    return r;
}

static void handle_scale(apiserver_conn_t *c, const apiserver_target_t *t)
{
    const char *m = c->req.method;
    bool get = !strcmp(m, "GET");
    if (!get && strcmp(m, "PUT") && strcmp(m, "PATCH")) {
        apiserver__respond_status(c, 405, "MethodNotAllowed",
                                  "the server does not allow this method on the requested "
                                  "resource");
        return;
    }
    store_kv_t *kv = apiserver_reg_read_current(c, t);
    if (!kv)
        return;
    cJSON *obj = cJSON_ParseWithLength(kv->value, kv->value_len);
    int64_t rev = kv->mod_rev;
    free(kv);
    if (!obj) {
        apiserver__respond_status(c, 500, "InternalError", "stored object is not valid JSON");
        return;
    }
    apiserver_obj_set_rv(obj, rev);
    cJSON *scale = apiserver_scale_of(t->res, obj);
    if (get) {
        apiserver_reg_respond_object(c, 200, scale);
        cJSON_Delete(scale);
        cJSON_Delete(obj);
        return;
    }
    double replicas = 0;
    cleanup_error util_error_t err = NULL;
    int r = new_replicas(c, scale, &replicas, &err);
    cJSON_Delete(scale);
    if (r < 0) {
        cJSON_Delete(obj);
        apiserver__respond_status(c, 422, "Invalid", err && err->msg ? err->msg : "bad scale");
        return;
    }
    cJSON *before = cJSON_Duplicate(obj, true);
    const apiserver_crd_res_t *crd = apiserver_crd_of(t->res);
    if (crd) {
        if (apiserver_crd_json_path_set_int(obj, crd->spec_replicas_path, replicas) < 0) {
            cJSON_Delete(before);
            cJSON_Delete(obj);
            apiserver__respond_status(c, 422, "Invalid",
                                      "the CRD's specReplicasPath is not usable");
            return;
        }
    } else {
        cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
        if (!cJSON_IsObject(spec))
            spec = cJSON_AddObjectToObject(obj, "spec");
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "replicas");
        cJSON_AddNumberToObject(spec, "replicas", replicas);
    }
    apiserver_managed_track(c, t, obj, before);
    cJSON_Delete(before);
    cJSON *meta = apiserver_obj_metadata(obj);
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "resourceVersion");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(meta, "generation");
    if (cJSON_IsNumber(g)) { /* a spec change */
        double gen = g->valuedouble + 1;
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "generation");
        cJSON_AddNumberToObject(meta, "generation", gen);
    }
    apiserver_reg_write_scale(c, t, obj, rev);
}

/* ---- pods/binding, pods/eviction ------------------------------------------------------------ */

static void handle_binding(apiserver_conn_t *c, const apiserver_target_t *t)
{
    cJSON *body = cJSON_ParseWithLength(c->req.body.data ? c->req.body.data : "", c->req.body.len);
    const cJSON *target = cJSON_GetObjectItemCaseSensitive(body, "target");
    const char *node = apiserver_obj_string(target, "name");
    if (!node || !node[0]) {
        cJSON_Delete(body);
        apiserver__respond_status(c, 400, "BadRequest", "a Binding needs target.name");
        return;
    }
    char node_copy[254];
    util_strlcpy(node_copy, node, sizeof(node_copy));
    cJSON_Delete(body);
    store_kv_t *kv = apiserver_reg_read_current(c, t);
    if (!kv)
        return;
    cJSON *pod = cJSON_ParseWithLength(kv->value, kv->value_len);
    int64_t rev = kv->mod_rev;
    free(kv);
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
    const char *bound = apiserver_obj_string(spec, "nodeName");
    if (!cJSON_IsObject(spec) || (bound && bound[0])) {
        char msg[640];
        snprintf(msg, sizeof(msg),
                 "Operation cannot be fulfilled on pods/binding \"%s\": pod %s is already "
                 "assigned to node \"%s\"",
                 t->name, t->name, bound ? bound : "");
        cJSON_Delete(pod);
        apiserver__respond_status(c, 409, "Conflict", msg);
        return;
    }
    cJSON_AddStringToObject(spec, "nodeName", node_copy);
    /* answered with a Success Status once written */
    apiserver_reg_write_binding(c, t, pod, rev);
}

static void handle_eviction(apiserver_conn_t *c, const apiserver_target_t *t)
{
    store_kv_t *kv = apiserver_reg_read_current(c, t);
    if (!kv)
        return;
    int64_t rev = kv->mod_rev;
    free(kv);
    /* PodDisruptionBudgets are not consulted yet (the disruption controller is later) */
    apiserver_reg_delete(c, t, rev, NULL);
}

void apiserver_subresource_handle(apiserver_conn_t *c, const apiserver_target_t *t)
{
    const char *m = c->req.method;
    if (!strcmp(t->sub, "scale")) {
        handle_scale(c, t);
    } else if (!strcmp(t->sub, "binding") && !strcmp(m, "POST")) {
        handle_binding(c, t);
    } else if (!strcmp(t->sub, "eviction") && !strcmp(m, "POST")) {
        handle_eviction(c, t);
    } else if (!strcmp(t->sub, "log") || !strcmp(t->sub, "exec") || !strcmp(t->sub, "attach") ||
               !strcmp(t->sub, "portforward")) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "pods/%s is served by the pod's kubelet, which kubeling does not run yet", t->sub);
        apiserver__respond_status(c, 503, "ServiceUnavailable", msg);
    } else {
        apiserver__respond_status(c, 405, "MethodNotAllowed",
                                  "the server does not allow this method on the requested "
                                  "resource");
    }
}
