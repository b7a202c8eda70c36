/* apiserver_subresources: scale (autoscaling/v1 Scale), pods/binding, pods/eviction, and the
 * kubelet-served pod subresources (log, exec, attach, portforward: apiserver_proxy.c). */
#include "apiserver_registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_apply.h"
#include "apiserver_crd.h"
#include "apiserver_object.h"
#include "apiserver_patch.h"
#include "apiserver_proto.h"
#include "apiserver_token.h"

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

/* ---- pods/binding -----------------------------------------------------------------------------
 */

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

/* ---- pods/eviction (upstream's pkg/registry/core/pod/storage/eviction.go) ----------------- */

#define MAX_DISRUPTED_PODS 2000
#define EVICTION_REFUSED   "Cannot evict pod as it would violate the pod's disruption budget."

typedef struct eviction {
    apiserver_conn_t *c;
    apiserver_target_t t;
    cJSON *delete_options; /* from the Eviction body, or NULL */
} eviction_t;

static void eviction_free(eviction_t *e)
{
    cJSON_Delete(e->delete_options);
    free(e);
}

/* 429 with a DisruptionBudget cause (and Retry-After when retry > 0). */
static void eviction_too_many(apiserver_conn_t *c, const char *cause, int retry)
{
    util_buf_t d = {0};
    util_buf_puts(&d, "{\"causes\":[{\"reason\":\"DisruptionBudget\",\"message\":");
    util_buf_json_string(&d, cause, strlen(cause));
    util_buf_puts(&d, "}]");
    if (retry > 0)
        util_buf_printf(&d, ",\"retryAfterSeconds\":%d", retry);
    util_buf_puts(&d, "}");
    char hdr[64];
    snprintf(hdr, sizeof(hdr), "Retry-After: %d\r\n", retry);
    apiserver__respond_status_ex(c, 429, "TooManyRequests", EVICTION_REFUSED, d.data,
                                 retry > 0 ? hdr : NULL);
    util_buf_free(&d);
}

static void eviction_forbidden(apiserver_conn_t *c, const char *pdb, const char *why)
{
    char msg[600];
    snprintf(msg, sizeof(msg), "poddisruptionbudgets.policy \"%s\" is forbidden: %s", pdb, why);
    apiserver__respond_status(c, 403, "Forbidden", msg);
}

static double num_at(const cJSON *o, const char *name)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(n) ? n->valuedouble : 0;
}

static bool pod_ready(const cJSON *pod)
{
    const cJSON *conds = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(pod, "status"), "conditions");
    const cJSON *cond;
    cJSON_ArrayForEach(cond, conds)
    {
        const char *type = apiserver_obj_string(cond, "type");
        const char *st = apiserver_obj_string(cond, "status");
        if (type && !strcmp(type, "Ready"))
            return st && !strcmp(st, "True");
    }
    return false;
}

/* Terminal, pending or already deleting pods are evicted without consulting budgets. */
static bool can_ignore_pdb(const cJSON *pod)
{
    const char *phase =
        apiserver_obj_string(cJSON_GetObjectItemCaseSensitive(pod, "status"), "phase");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
    return !phase || !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed") ||
           !strcmp(phase, "Pending") ||
           cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp") != NULL;
}

/* The budgets of the pod's namespace whose selector matches it (up to 2 are kept: more than one
 * is an error anyway). Returns how many matched, or -1 (answered) on a store error. */
static int matching_pdbs(apiserver_conn_t *c, const apiserver_target_t *t, const cJSON *pod,
                         store_kv_t **found)
{
    const apiserver_resource_t *r = apiserver_resource_find("policy", "v1", "poddisruptionbudgets");
    char prefix[512], end[512];
    apiserver_registry_prefix(r, t->ns, prefix, sizeof(prefix));
    size_t elen = store_prefix_end(prefix, strlen(prefix), end);
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "labels");
    store_list_t l = {0};
    cleanup_error util_error_t err = NULL;
    if (store_range(c->srv->opts.store, prefix, strlen(prefix), end, elen, 0, 0, &l, &err) < 0) {
        apiserver_status_store_error(c, -EIO, err ? err->msg : NULL);
        return -1;
    }
    int n = 0;
    for (size_t i = 0; i < l.n; i++) {
        cJSON *pdb = cJSON_ParseWithLength(l.kvs[i]->value, l.kvs[i]->value_len);
        const cJSON *sel = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(pdb, "spec"), "selector");
        labels_selector_t *ls = NULL;
        cleanup_error util_error_t serr = NULL;
        /* a null selector matches nothing, {} everything (policy/v1) */
        bool match = labels_selector_from_json(sel, &ls, &serr) == 0 && ls &&
                     labels_selector_matches(ls, labels);
        labels_selector_free(ls);
        cJSON_Delete(pdb);
        if (match && n < 2) {
            found[n] = l.kvs[i];
            l.kvs[i] = NULL;
        }
        n += match;
    }
    store_list_free(&l);
    return n;
}

static void evict_pod(eviction_t *e)
{
    e->c->req.answer_created = true;
    apiserver_reg_delete_with_options(e->c, &e->t, e->delete_options);
}

static void pdb_written(store_t *s, store_txn_result_t *res, void *ud)
{
    (void)s;
    eviction_t *e = ud;
    apiserver_conn_t *c = e->c;
    if (!c->closing) {
        if (res->status == 0)
            evict_pod(e);
        else if (res->status == STORE_ECONFLICT) /* the budget moved on: the client retries */
            eviction_too_many(c, "The disruption budget changed while evicting; retry.", 1);
        else
            apiserver_status_store_error(c, res->status, res->message);
    }
    eviction_free(e);
    apiserver__conn_unref(c);
}

/* Checks the budget and, unless dry run, takes one disruption from it (written before the pod
 * is deleted, as upstream does). Returns 1 when the pod may go now, 0 when the budget write is
 * under way (it continues the eviction), -1 when answered. */
static int consume_budget(eviction_t *e, const cJSON *pod, store_kv_t *kv)
{
    apiserver_conn_t *c = e->c;
    cJSON *pdb = cJSON_ParseWithLength(kv->value, kv->value_len);
    cJSON *meta = apiserver_obj_metadata(pdb);
    const char *name = apiserver_obj_string(meta, "name");
    char pdb_name[254];
    util_strlcpy(pdb_name, name ? name : "", sizeof(pdb_name));
    cJSON *status = cJSON_GetObjectItemCaseSensitive(pdb, "status");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pdb, "spec");
    double allowed = num_at(status, "disruptionsAllowed");
    double desired = num_at(status, "desiredHealthy"), current = num_at(status, "currentHealthy");
    const char *policy = apiserver_obj_string(spec, "unhealthyPodEvictionPolicy");
    char msg[600];
    int ret = -1;
    if (num_at(status, "observedGeneration") < num_at(meta, "generation")) {
        snprintf(msg, sizeof(msg),
                 "The disruption budget %s is still being processed by the server.", pdb_name);
        eviction_too_many(c, msg, 10);
    } else if (!pod_ready(pod) && ((policy && !strcmp(policy, "AlwaysAllow")) ||
                                   (current >= desired && desired > 0))) {
        ret = 1; /* an unhealthy pod does not count against the budget */
    } else if (allowed < 0) {
        eviction_forbidden(c, pdb_name, "pdb disruptions allowed is negative");
    } else if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(status, "disruptedPods")) >
               MAX_DISRUPTED_PODS) {
        eviction_forbidden(c, pdb_name,
                           "DisruptedPods map too big - too many evictions not confirmed by PDB "
                           "controller");
    } else if (allowed == 0) {
        snprintf(msg, sizeof(msg),
                 "The disruption budget %s needs %.0f healthy pods and has %.0f "
                 "currently",
                 pdb_name, desired, current);
        eviction_too_many(c, msg, 0);
    } else if (apiserver_reg_dry_run(c)) {
        ret = 1;
    } else {
        cJSON_DeleteItemFromObjectCaseSensitive(status, "disruptionsAllowed");
        cJSON_AddNumberToObject(status, "disruptionsAllowed", allowed - 1);
        cJSON *dp = cJSON_GetObjectItemCaseSensitive(status, "disruptedPods");
        if (!cJSON_IsObject(dp)) {
            cJSON_DeleteItemFromObjectCaseSensitive(status, "disruptedPods");
            dp = cJSON_AddObjectToObject(status, "disruptedPods");
        }
        char now[21];
        apiserver_obj_now(now);
        cJSON_DeleteItemFromObjectCaseSensitive(dp, e->t.name);
        cJSON_AddStringToObject(dp, e->t.name, now);
        apiserver_obj_canonical_order(pdb);
        char *text = cJSON_PrintUnformatted(pdb);
        store_op_t op = {.type = STORE_OP_UPDATE,
                         .key = kv->key,
                         .key_len = kv->key_len,
                         .value = text,
                         .value_len = strlen(text),
                         .expected_rev = kv->mod_rev};
        cleanup_error util_error_t err = NULL;
        apiserver__conn_ref(c);
        int r = store_txn(c->srv->opts.store, &op, 1, pdb_written, e, &err);
        cJSON_free(text);
        if (r < 0) {
            apiserver__conn_unref(c);
            apiserver_status_store_error(c, r, err ? err->msg : NULL);
        } else {
            ret = 0;
        }
    }
    cJSON_Delete(pdb);
    return ret;
}

/* The Eviction body (JSON or protobuf); answers and returns NULL when unusable. */
static cJSON *eviction_body(apiserver_conn_t *c, const apiserver_target_t *t)
{
    const char *ct = apiserver__header(&c->req, "content-type");
    char perr[256] = "the body of an eviction must be a JSON object";
    cJSON *ev =
        ct && !strncmp(ct, APISERVER_PROTO_CONTENT_TYPE, strlen(APISERVER_PROTO_CONTENT_TYPE))
            ? apiserver_proto_decode(c->req.body.data, c->req.body.len, perr, sizeof(perr))
            : cJSON_ParseWithLength(c->req.body.data ? c->req.body.data : "", c->req.body.len);
    const char *kind = apiserver_obj_string(ev, "kind");
    const char *name =
        apiserver_obj_string(cJSON_GetObjectItemCaseSensitive(ev, "metadata"), "name");
    if (cJSON_IsObject(ev) && kind && strcmp(kind, "Eviction"))
        snprintf(perr, sizeof(perr), "the body must be an Eviction, not a %.64s", kind);
    else if (cJSON_IsObject(ev) && name && name[0] && strcmp(name, t->name))
        snprintf(perr, sizeof(perr), "name in URL does not match name in Eviction object");
    else if (cJSON_IsObject(ev))
        return ev;
    cJSON_Delete(ev);
    apiserver_status_bad_request(c, perr);
    return NULL;
}

static void handle_eviction(apiserver_conn_t *c, const apiserver_target_t *t)
{
    cJSON *ev = eviction_body(c, t);
    if (!ev)
        return;
    eviction_t *e = util_xcalloc(1, sizeof(*e));
    e->c = c;
    e->t = *t;
    util_strlcpy(e->t.sub, "", sizeof(e->t.sub)); /* the delete acts on the pod itself */
    e->delete_options = cJSON_DetachItemFromObjectCaseSensitive(ev, "deleteOptions");
    cJSON_Delete(ev);
    apiserver_reg_take_dry_run(c, e->delete_options);
    store_kv_t *kv = apiserver_reg_read_current(c, &e->t);
    if (!kv) {
        eviction_free(e);
        return;
    }
    cJSON *pod = cJSON_ParseWithLength(kv->value, kv->value_len);
    free(kv);
    int go = 1;
    if (!can_ignore_pdb(pod)) {
        store_kv_t *found[2] = {NULL, NULL};
        int n = matching_pdbs(c, t, pod, found);
        if (n > 1) {
            apiserver__respond_status(c, 500, "InternalError",
                                      "This pod has more than one PodDisruptionBudget, which the "
                                      "eviction subresource does not support.");
            go = -1;
        } else if (n == 1) {
            go = consume_budget(e, pod, found[0]);
        } else if (n < 0) {
            go = -1;
        }
        free(found[0]);
        free(found[1]);
    }
    cJSON_Delete(pod);
    if (go == 1)
        evict_pod(e);
    if (go != 0)
        eviction_free(e);
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
    } else if (!strcmp(t->sub, "token")) {
        apiserver_token_request(c, t);
    } else if (!strcmp(t->sub, "log") || !strcmp(t->sub, "exec") || !strcmp(t->sub, "attach") ||
               !strcmp(t->sub, "portforward")) {
        apiserver__kubelet_proxy(c, t);
    } else {
        apiserver__respond_status(c, 405, "MethodNotAllowed",
                                  "the server does not allow this method on the requested "
                                  "resource");
    }
}
