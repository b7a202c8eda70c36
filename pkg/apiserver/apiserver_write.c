/* apiserver_write: create, update, patch and delete: lifecycle rules (generation, status on
 * create, finalizers, graceful pod deletion, dry run) and writes answered from the store's
 * commit callback. */
#include "apiserver_registry.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/base64.h>

#include "apiserver_apply.h"
#include "apiserver_convert.h"
#include "apiserver_batch.h"
#include "apiserver_crd.h"
#include "apiserver_defaults.h"
#include "apiserver_gc_policy.h"
#include "apiserver_metrics.h"
#include "apiserver_namespace.h"
#include "apiserver_object.h"
#include "apiserver_priority.h"
#include "apiserver_tolerations.h"
#include "apiserver_quota.h"
#include "apiserver_patch.h"
#include "apiserver_proto.h"
#include "apiserver_rules.h"
#include "apiserver_services.h"
#include "apiserver_table.h"
#include "apiserver_validate.h"

#define MAX_NAME     253
#define DELETE_BATCH 100u

/* ---- lifecycle rules ---------------------------------------------------------------------- */

void apiserver_reg_take_dry_run(apiserver_conn_t *c, const cJSON *opts)
{
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(opts, "dryRun"))
    {
        if (cJSON_IsString(d) && !strcmp(d->valuestring, "All"))
            c->req.dry_run = true;
    }
}

bool apiserver_reg_dry_run(apiserver_conn_t *c)
{
    char v[16];
    return c->req.dry_run ||
           (apiserver_query_get(c->req.query, "dryRun", v, sizeof(v)) && !strcmp(v, "All"));
}

#define CREATED_STATUS                                                                            \
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Success\",\"code\":" \
    "201}"

static void respond_created_status(apiserver_conn_t *c)
{
    apiserver__respond(c, 201, "application/json", CREATED_STATUS, strlen(CREATED_STATUS), NULL);
}

/* Resources whose metadata.generation counts spec changes (upstream's strategies). */
static bool tracks_generation(const apiserver_resource_t *r)
{
    if (apiserver_crd_of(r))
        return true;
    static const char *const plurals[] = {"deployments",
                                          "replicasets",
                                          "statefulsets",
                                          "daemonsets",
                                          "jobs",
                                          "cronjobs",
                                          "replicationcontrollers",
                                          "horizontalpodautoscalers",
                                          "poddisruptionbudgets",
                                          "networkpolicies",
                                          "ingresses",
                                          "customresourcedefinitions",
                                          NULL};
    for (size_t i = 0; plurals[i]; i++)
        if (!strcmp(r->plural, plurals[i]))
            return true;
    return false;
}

static void set_int(cJSON *obj, const char *name, double v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
    cJSON_AddNumberToObject(obj, name, v);
}

/* A pod's QoS class from its containers' requests and limits (upstream's GetPodQOS, simplified
 * to "has any" / "limits equal requests for cpu and memory in every container"). */
static const char *pod_qos(const cJSON *pod)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
    const cJSON *ctrs = cJSON_GetObjectItemCaseSensitive(spec, "containers");
    bool any = false, guaranteed = cJSON_GetArraySize(ctrs) > 0;
    const cJSON *ct;
    cJSON_ArrayForEach(ct, ctrs)
    {
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(ct, "resources");
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(res, "requests");
        const cJSON *lim = cJSON_GetObjectItemCaseSensitive(res, "limits");
        static const char *const names[] = {"cpu", "memory"};
        for (int i = 0; i < 2; i++) {
            const char *r = apiserver_obj_string(req, names[i]);
            const char *l = apiserver_obj_string(lim, names[i]);
            if (r || l)
                any = true;
            if (!l || (r && strcmp(r, l)))
                guaranteed = false;
        }
    }
    return !any ? "BestEffort" : guaranteed ? "Guaranteed" : "Burstable";
}

/* upstream's DaemonSet strategy: the template generation, kept in apps/v1 as the annotation
 * deprecated.daemonset.template.generation, starts at 1 and grows when spec.template changes
 * (the DaemonSet controller labels its pods with it: pod-template-generation). */
#define DS_TEMPLATE_GENERATION "deprecated.daemonset.template.generation"

static void daemonset_template_generation(const apiserver_target_t *t, cJSON *obj, const cJSON *cur)
{
    if (!apiserver_reg_is(t->res, "daemonsets") || t->sub[0])
        return;
    long long gen = 1;
    if (cur) {
        const cJSON *ca = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cur, "metadata"), "annotations");
        const char *old =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ca, DS_TEMPLATE_GENERATION));
        gen = old ? strtoll(old, NULL, 10) : 0;
        if (gen < 1 || gen > 1000000000000LL)
            gen = 1;
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(obj, "spec"), "template");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cur, "spec"), "template");
        if (!cJSON_Compare(a, b, true))
            gen++;
    }
    cJSON *meta = apiserver_obj_metadata(obj);
    cJSON *ann = cJSON_GetObjectItemCaseSensitive(meta, "annotations");
    if (!cJSON_IsObject(ann)) {
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "annotations");
        ann = cJSON_AddObjectToObject(meta, "annotations");
    }
    char buf[24];
    snprintf(buf, sizeof(buf), "%lld", gen);
    cJSON_DeleteItemFromObjectCaseSensitive(ann, DS_TEMPLATE_GENERATION);
    cJSON_AddStringToObject(ann, DS_TEMPLATE_GENERATION, buf);
}

/* Server-set fields of a new object: generation, and a fresh status for resources whose status
 * is written only through the status subresource. Namespaces and Nodes keep theirs (upstream's
 * node strategy does not reset status on create: the kubelet registers with its status). */
static void prepare_create(const apiserver_target_t *t, cJSON *obj)
{
    cJSON *meta = apiserver_obj_metadata(obj);
    if (tracks_generation(t->res))
        set_int(meta, "generation", 1);
    daemonset_template_generation(t, obj, NULL);
    bool has_status = false;
    for (size_t i = 0; t->res->subresources[i]; i++)
        has_status |= !strcmp(t->res->subresources[i], "status");
    if (!has_status || apiserver_reg_is(t->res, "namespaces") || apiserver_reg_is(t->res, "nodes"))
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
    if (apiserver_crd_of(t->res))
        return; /* a custom resource starts without status */
    cJSON *status = cJSON_AddObjectToObject(obj, "status");
    if (apiserver_reg_is(t->res, "customresourcedefinitions"))
        apiserver_crd_prepare(obj);
    if (apiserver_reg_is(t->res, "jobs"))
        apiserver_batch_job_prepare(obj);
    if (apiserver_reg_is(t->res, "pods")) {
        cJSON_AddStringToObject(status, "phase", "Pending");
        cJSON_AddStringToObject(status, "qosClass", pod_qos(obj));
    }
}

/* A custom resource's generation follows every change but metadata (and status, when status is
 * a subresource), as upstream's customresource strategy. */
static bool custom_resource_changed(const apiserver_resource_t *r, const cJSON *obj,
                                    const cJSON *cur)
{
    bool status_sub = apiserver_reg_has_subresource(r, "status");
    for (const cJSON *m = obj->child; m; m = m->next) {
        if (!m->string || !strcmp(m->string, "metadata") ||
            (status_sub && !strcmp(m->string, "status")))
            continue;
        if (!cJSON_Compare(m, cJSON_GetObjectItemCaseSensitive(cur, m->string), true))
            return true;
    }
    for (const cJSON *m = cur->child; m; m = m->next)
        if (m->string && strcmp(m->string, "metadata") &&
            !(status_sub && !strcmp(m->string, "status")) &&
            !cJSON_GetObjectItemCaseSensitive(obj, m->string))
            return true;
    return false;
}

/* generation follows spec changes; an object being deleted whose finalizers are all gone is
 * removed. Returns true when the update is the removal. */
static bool prepare_update(const apiserver_target_t *t, cJSON *obj, const cJSON *cur)
{
    cJSON *meta = apiserver_obj_metadata(obj);
    const cJSON *cmeta = cJSON_GetObjectItemCaseSensitive(cur, "metadata");
    if (tracks_generation(t->res)) {
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(cmeta, "generation");
        double gen = cJSON_IsNumber(g) ? g->valuedouble : 1;
        bool changed = apiserver_crd_of(t->res)
                           ? custom_resource_changed(t->res, obj, cur)
                           : !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(obj, "spec"),
                                            cJSON_GetObjectItemCaseSensitive(cur, "spec"), true);
        set_int(meta, "generation", changed && !t->sub[0] ? gen + 1 : gen);
    }
    daemonset_template_generation(t, obj, cur);
    const cJSON *deleting = cJSON_GetObjectItemCaseSensitive(cmeta, "deletionTimestamp");
    const cJSON *fin = cJSON_GetObjectItemCaseSensitive(meta, "finalizers");
    /* upstream shouldDeleteDuringUpdate: not while a graceful deletion (a pod's) runs */
    const cJSON *grace = cJSON_GetObjectItemCaseSensitive(cmeta, "deletionGracePeriodSeconds");
    return deleting && cJSON_GetArraySize(fin) == 0 &&
           !(cJSON_IsNumber(grace) && grace->valuedouble > 0);
}

/* ---- async writes --------------------------------------------------------------------------- */

/* W_REMOVE: an update that removed the last finalizer of an object being deleted: the object
 * goes, and the answer is the object as last written. */
typedef enum { W_CREATE, W_UPDATE, W_DELETE, W_REMOVE, W_SCALE, W_BIND } write_kind_t;

#define PATCH_CONFLICT_RETRIES 16

typedef struct write_ctx {
    apiserver_conn_t *c;
    apiserver_target_t t;
    write_kind_t kind;
    char name[MAX_NAME + 1];
    char uid[64];
    cJSON *obj; /* what was written (create/update), without resourceVersion */
    char *text; /* its stored text when that is also the answer (no conversion), or NULL */
    size_t text_len;
    uint64_t start_ns;
    apiserver_services_claim_t claim;      /* service IP/ports reserved until the write is done */
    struct apiserver_quota_charge *charge; /* quota usage admitted with a create */
} write_ctx_t;

static void write_ctx_free(write_ctx_t *w)
{
    cJSON_Delete(w->obj);
    cJSON_free(w->text);
    free(w);
}

/* Answers a create or update with the text just stored, its resourceVersion spliced in (as a
 * get reads it back), instead of printing the object a second time. */
static void respond_stored(apiserver_conn_t *c, int status, write_ctx_t *w, int64_t rev)
{
    util_buf_t b = {0};
    if (apiserver_obj_splice_rv(w->text, w->text_len, rev, &b)) {
        apiserver__respond(c, status, "application/json", b.data, b.len, NULL);
    } else {
        apiserver_obj_set_rv(w->obj, rev);
        apiserver_reg_respond_object(c, status, w->obj);
    }
    util_buf_free(&b);
}

static void write_done(store_t *s, store_txn_result_t *res, void *ud)
{
    (void)s;
    write_ctx_t *w = ud;
    apiserver_conn_t *c = w->c;
    apiserver_services_release(c->srv, &w->claim);
    apiserver_quota_charge_done(c->srv, w->charge, res->status == 0);
    w->charge = NULL;
    apiserver_metrics_store_txn(c->srv->metrics, (double)(uv_hrtime() - w->start_ns) / 1e9);
    if (!c->closing && res->status == STORE_ECONFLICT && c->req.method &&
        !strcmp(c->req.method, "DELETE") && !w->t.sub[0] &&
        c->req.conflict_retries < PATCH_CONFLICT_RETRIES) {
        /* A delete (or the mark of one) raced another writer (a controller's status write):
         * as upstream's storage, read again and check the preconditions again. */
        c->req.conflict_retries++;
        util_log_v(1, "apiserver: DELETE %s lost a write race; trying again", w->name);
        apiserver_target_t t = w->t;
        write_ctx_free(w);
        apiserver_reg_handle_delete(c, &t);
        apiserver__conn_unref(c);
        return;
    }
    if (!c->closing && res->status == STORE_ECONFLICT && w->kind == W_BIND &&
        c->req.conflict_retries < PATCH_CONFLICT_RETRIES) {
        /* The pod changed between our read and our write (a status write): as upstream's
         * GuaranteedUpdate, read it again; a 409 then only means it is bound already. */
        c->req.conflict_retries++;
        util_log_v(1, "apiserver: binding %s lost a write race; trying again", w->name);
        apiserver_target_t t = w->t;
        write_ctx_free(w);
        apiserver_subresource_handle(c, &t);
        apiserver__conn_unref(c);
        return;
    }
    if (!c->closing && res->status == STORE_ECONFLICT && c->req.method &&
        !strcmp(c->req.method, "PATCH") && c->req.conflict_retries < PATCH_CONFLICT_RETRIES) {
        /* Another write came between our read and our write. A patch carries no
         * resourceVersion of its own, so (as upstream's GuaranteedUpdate) it is applied again to
         * the new object; a resourceVersion inside the patch is checked again there. */
        c->req.conflict_retries++;
        util_log_v(1, "apiserver: PATCH %s lost a write race; applying it again", w->name);
        apiserver_target_t t = w->t;
        write_ctx_free(w);
        if (t.sub[0] && strcmp(t.sub, "status")) /* scale: its own handler applies it again */
            apiserver_subresource_handle(c, &t);
        else
            apiserver_reg_handle_patch(c, &t);
        apiserver__conn_unref(c);
        return;
    }
    if (!c->closing) {
        if (res->status == 0) {
            if (w->kind == W_BIND || c->req.answer_created) {
                respond_created_status(c);
            } else if (w->kind == W_DELETE) {
                apiserver_status_success(c, w->t.res, w->name, w->uid[0] ? w->uid : NULL);
            } else if (w->kind == W_REMOVE) {
                apiserver_reg_respond_object(c, 200, w->obj);
            } else if (w->kind == W_SCALE) { /* an update through the scale subresource */
                apiserver_obj_set_rv(w->obj, res->ops[0].rev);
                cJSON *scale = apiserver_scale_of(w->t.res, w->obj);
                apiserver_reg_respond_object(c, 200, scale);
                cJSON_Delete(scale);
            } else if (w->text) { /* the stored text with its resourceVersion: no second print */
                respond_stored(c, w->kind == W_CREATE ? 201 : 200, w, res->ops[0].rev);
            } else {
                apiserver_obj_set_rv(w->obj, res->ops[0].rev);
                apiserver_reg_respond_object(c, w->kind == W_CREATE ? 201 : 200, w->obj);
            }
            if (w->kind == W_UPDATE && apiserver_reg_is(w->t.res, "namespaces") &&
                cJSON_GetObjectItemCaseSensitive(apiserver_obj_metadata(w->obj),
                                                 "deletionTimestamp"))
                apiserver_namespace_finalize(c->srv, w->name);
        } else if (res->status == -EEXIST) {
            apiserver_status_already_exists(c, w->t.res, w->name);
        } else if (res->status == -ENOENT) {
            apiserver_status_not_found(c, w->t.res, w->name);
        } else if (res->status == STORE_ECONFLICT) {
            apiserver_status_conflict(c, w->t.res, w->name);
        } else {
            apiserver_status_store_error(c, res->status, res->message);
        }
    }
    write_ctx_free(w);
    apiserver__conn_unref(c);
}

static void submit_write_claim(apiserver_conn_t *c, const apiserver_target_t *t, write_kind_t kind,
                               const char *name, cJSON *obj, int64_t expected_rev, const char *uid,
                               const apiserver_services_claim_t *claim);

static void submit_write(apiserver_conn_t *c, const apiserver_target_t *t, write_kind_t kind,
                         const char *name, cJSON *obj, int64_t expected_rev, const char *uid)
{
    submit_write_claim(c, t, kind, name, obj, expected_rev, uid, NULL);
}

static void submit_write_claim(apiserver_conn_t *c, const apiserver_target_t *t, write_kind_t kind,
                               const char *name, cJSON *obj, int64_t expected_rev, const char *uid,
                               const apiserver_services_claim_t *claim)
{
    char key[1024];
    apiserver_registry_key(t->res, t->ns, name, key, sizeof(key));
    if (obj && kind != W_REMOVE && apiserver_conv_needed(t->res)) {
        apiserver_conv_in(t->res, obj); /* answered as it reads back from storage */
        apiserver_conv_out(t->res, obj);
    }
    write_ctx_t *w = util_xcalloc(1, sizeof(*w));
    w->c = c;
    w->t = *t;
    w->kind = kind;
    w->obj = obj;
    w->start_ns = uv_hrtime();
    if (claim)
        w->claim = *claim;
    util_strlcpy(w->name, name, sizeof(w->name));
    if (uid)
        util_strlcpy(w->uid, uid, sizeof(w->uid));
    w->charge = apiserver_quota_take_charge(c);
    if (apiserver_reg_dry_run(c)) { /* everything but the write */
        apiserver_services_release(c->srv, &w->claim);
        apiserver_quota_charge_done(c->srv, w->charge, false);
        if (c->req.answer_created) {
            respond_created_status(c);
        } else if (kind == W_DELETE) {
            apiserver_status_success(c, t->res, name, uid);
        } else if (kind == W_SCALE) {
            cJSON *scale = apiserver_scale_of(t->res, obj);
            apiserver_reg_respond_object(c, 200, scale);
            cJSON_Delete(scale);
        } else {
            apiserver_reg_respond_object(c, kind == W_CREATE ? 201 : 200, obj);
        }
        cJSON_Delete(obj);
        free(w);
        return;
    }
    if (obj)
        apiserver_obj_canonical_order(obj);
    cJSON *stored = obj && kind != W_REMOVE && apiserver_conv_needed(t->res)
                        ? cJSON_Duplicate(obj, true)
                        : NULL;
    bool converted = stored != NULL;
    apiserver_conv_in(t->res, stored); /* the store holds the storage version */
    char *text = obj && kind != W_REMOVE ? cJSON_PrintUnformatted(stored ? stored : obj) : NULL;
    cJSON_Delete(stored);
    store_op_t op = {
        .type = kind == W_CREATE                                        ? STORE_OP_CREATE
                : kind == W_UPDATE || kind == W_SCALE || kind == W_BIND ? STORE_OP_UPDATE
                                                                        : STORE_OP_DELETE,
        .key = key,
        .key_len = strlen(key),
        .value = text,
        .value_len = text ? strlen(text) : 0,
        .expected_rev = expected_rev,
    };
    if (text && !converted && (kind == W_CREATE || kind == W_UPDATE)) {
        w->text = text; /* also the answer, once stored (write_done); the store copies it */
        w->text_len = op.value_len;
        text = NULL;
    }
    cleanup_error util_error_t err = NULL;
    apiserver__conn_ref(c);
    int r = store_txn(c->srv->opts.store, &op, 1, write_done, w, &err);
    cJSON_free(text);
    if (r < 0) {
        apiserver_services_release(c->srv, &w->claim);
        apiserver_quota_charge_done(c->srv, w->charge, false);
        apiserver_status_store_error(c, r, err ? err->msg : NULL);
        write_ctx_free(w);
        apiserver__conn_unref(c);
    }
}

void apiserver_reg_write_scale(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj,
                               int64_t expected_rev)
{
    submit_write(c, t, W_SCALE, t->name, obj, expected_rev, NULL);
}

void apiserver_reg_write_binding(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *pod,
                                 int64_t expected_rev)
{
    submit_write(c, t, W_BIND, t->name, pod, expected_rev, NULL);
}

void apiserver_reg_delete(apiserver_conn_t *c, const apiserver_target_t *t, int64_t expected_rev,
                          const char *uid)
{
    submit_write(c, t, W_DELETE, t->name, NULL, expected_rev, uid);
}

/* ---- handlers ------------------------------------------------------------------------------ */

void apiserver_reg_create(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj)
{
    cJSON *meta = apiserver_obj_metadata(obj);
    const char *name = apiserver_obj_string(meta, "name");
    const char *gen = apiserver_obj_string(meta, "generateName");
    char generated[MAX_NAME + 1];
    if ((!name || !name[0]) && gen && gen[0]) {
        static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789"; /* upstream's */
        char uid[37];
        apiserver_obj_uuid(uid);
        size_t glen = strlen(gen) > 58 ? 58 : strlen(gen);
        memcpy(generated, gen, glen);
        for (size_t i = 0; i < 5; i++)
            generated[glen + i] = alphabet[(unsigned char)uid[i * 3] % (sizeof(alphabet) - 1)];
        generated[glen + 5] = '\0';
        cJSON_DeleteItemFromObjectCaseSensitive(meta, "name");
        cJSON_AddStringToObject(meta, "name", generated);
        name = apiserver_obj_string(meta, "name");
    }
    if (!name || !name[0]) {
        cJSON_Delete(obj);
        apiserver_status_invalid(c, t->res, "", "metadata.name", "",
                                 "name or generateName is required");
        return;
    }
    const char *why = apiserver_obj_name_problem(name, t->res->name_rule);
    if (why) {
        char copy[MAX_NAME + 64];
        util_strlcpy(copy, name, sizeof(copy));
        cJSON_Delete(obj);
        apiserver_status_invalid(c, t->res, copy, "metadata.name", copy, why);
        return;
    }
    const apiserver_crd_res_t *crd = apiserver_crd_of(t->res);
    if (crd && crd->terminating) {
        cJSON_Delete(obj);
        apiserver__respond_status(c, 405, "MethodNotAllowed",
                                  "create not allowed while custom resource definition is "
                                  "terminating");
        return;
    }
    int ns_state = t->res->namespaced ? apiserver_namespace_state(c->srv, t->ns) : 0;
    if (ns_state < 0) {
        cJSON_Delete(obj);
        apiserver_status_not_found(c, apiserver_resource_find("", "v1", "namespaces"), t->ns);
        return;
    }
    if (ns_state > 0) {
        char copy[MAX_NAME + 1];
        util_strlcpy(copy, name, sizeof(copy));
        cJSON_Delete(obj);
        apiserver_namespace_forbid(c, t->res, copy, t->ns);
        return;
    }
    if (apiserver_reg_normalize(c, t, obj, name) < 0) {
        cJSON_Delete(obj);
        return;
    }
    char uid[37], now[21];
    apiserver_obj_uuid(uid);
    apiserver_obj_now(now);
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "uid");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "creationTimestamp");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "deletionTimestamp");
    cJSON_AddStringToObject(meta, "uid", uid);
    cJSON_AddStringToObject(meta, "creationTimestamp", now);
    if (apiserver_priority_admit(c, t, obj, name) < 0 ||
        apiserver_limitrange_admit(c, t, obj) < 0) {
        cJSON_Delete(obj); /* answered */
        return;
    }
    apiserver_tolerations_admit(t, obj);
    prepare_create(t, obj);
    apiserver_managed_track(c, t, obj, NULL);
    if (apiserver_rules_check(c, t->res, obj, NULL, name) < 0) {
        cJSON_Delete(obj); /* answered */
        return;
    }
    if (apiserver_quota_admit(c, t, obj) < 0) {
        cJSON_Delete(obj); /* answered */
        return;
    }
    apiserver_services_claim_t claim = {0};
    if (apiserver_reg_is(t->res, "services") &&
        apiserver_services_allocate(c, obj, NULL, &claim) < 0) {
        apiserver_quota_charge_done(c->srv, apiserver_quota_take_charge(c), false);
        cJSON_Delete(obj); /* answered */
        return;
    }
    char copy[MAX_NAME + 1];
    util_strlcpy(copy, name, sizeof(copy));
    submit_write_claim(c, t, W_CREATE, copy, obj, 0, NULL, &claim);
}

void apiserver_reg_handle_create(apiserver_conn_t *c, const apiserver_target_t *t)
{
    cJSON *obj = apiserver_reg_parse_body(c, t);
    if (obj)
        apiserver_reg_create(c, t, obj);
}

/* Carries the server-owned metadata of the current object into a replacement. */
static void keep_server_fields(cJSON *obj, const cJSON *cur)
{
    cJSON *meta = apiserver_obj_metadata(obj);
    const cJSON *cmeta = cJSON_GetObjectItemCaseSensitive(cur, "metadata");
    static const char *const owned[] = {
        "uid",          "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
        "generateName", "generation"};
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cmeta, owned[i]);
        cJSON_DeleteItemFromObjectCaseSensitive(meta, owned[i]);
        if (v)
            cJSON_AddItemToObject(meta, owned[i], cJSON_Duplicate(v, true));
    }
}

/* Reads the current object for an update; answers and returns NULL when absent or broken. */
store_kv_t *apiserver_reg_read_current(apiserver_conn_t *c, const apiserver_target_t *t)
{
    char key[1024];
    apiserver_registry_key(t->res, t->ns, t->name, key, sizeof(key));
    store_kv_t *kv = NULL;
    cleanup_error util_error_t err = NULL;
    int r = store_get(c->srv->opts.store, key, strlen(key), 0, &kv, NULL, &err);
    if (r == -ENOENT)
        apiserver_status_not_found(c, t->res, t->name);
    else if (r < 0)
        apiserver_status_store_error(c, r, err ? err->msg : NULL);
    return r == 0 ? apiserver_conv_kv(t->res, kv) : NULL; /* in the request's version */
}

/* The status subresource changes only .status; the main resource keeps the stored .status
 * for resources that have a status subresource. */
static void apply_subresource_rules(const apiserver_target_t *t, cJSON *obj, const cJSON *cur)
{
    if (!apiserver_reg_has_subresource(t->res, "status"))
        return;
    if (t->sub[0] && !strcmp(t->sub, "status")) {
        cJSON *status = cJSON_DetachItemFromObjectCaseSensitive(obj, "status");
        cJSON *rebuilt = cJSON_Duplicate(cur, true);
        cJSON_DeleteItemFromObjectCaseSensitive(rebuilt, "status");
        if (status)
            cJSON_AddItemToObject(rebuilt, "status", status);
        /* swap contents: obj becomes rebuilt */
        cJSON *child = obj->child;
        obj->child = rebuilt->child;
        rebuilt->child = child;
        cJSON_Delete(rebuilt);
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(cur, "status");
    if (cs)
        cJSON_AddItemToObject(obj, "status", cJSON_Duplicate(cs, true));
    apiserver_conv_keep_status(t->res, obj, cur); /* autoscaling/v1's status annotations */
}

void apiserver_reg_finish_update(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj,
                                 const store_kv_t *kv, int64_t expected_rev)
{
    cJSON *cur = cJSON_ParseWithLength(kv->value, kv->value_len);
    if (!cur) {
        cJSON_Delete(obj);
        apiserver__respond_status(c, 500, "InternalError", "stored object is not valid JSON");
        return;
    }
    apply_subresource_rules(t, obj, cur);
    keep_server_fields(obj, cur);
    apiserver_crd_normalize(t->res, obj); /* defaults first: they are no change of generation */
    bool remove = prepare_update(t, obj, cur);
    if (apiserver_reg_normalize(c, t, obj, t->name) < 0) {
        cJSON_Delete(cur);
        cJSON_Delete(obj);
        return;
    }
    apiserver_managed_track(c, t, obj, cur);
    if (!remove && apiserver_rules_check(c, t->res, obj, t->sub[0] ? NULL : cur, t->name) < 0) {
        cJSON_Delete(cur);
        cJSON_Delete(obj); /* answered */
        return;
    }
    if (!remove && apiserver_quota_admit_update(c, t, obj, cur) < 0) {
        cJSON_Delete(cur);
        cJSON_Delete(obj); /* answered */
        return;
    }
    apiserver_services_claim_t claim = {0};
    if (!remove && apiserver_reg_is(t->res, "services") &&
        apiserver_services_allocate(c, obj, cur, &claim) < 0) {
        apiserver_quota_charge_done(c->srv, apiserver_quota_take_charge(c), false);
        cJSON_Delete(cur);
        cJSON_Delete(obj); /* answered */
        return;
    }
    cJSON_Delete(cur);
    submit_write_claim(c, t, remove ? W_REMOVE : W_UPDATE, t->name, obj, expected_rev, NULL,
                       &claim);
}

int64_t apiserver_parse_rv(const char *s, bool *ok)
{
    char *end = NULL;
    errno = 0;
    long long v = s && *s ? strtoll(s, &end, 10) : 0;
    *ok = s && *s && end && *end == '\0' && errno == 0 && v > 0;
    return v;
}

void apiserver_reg_handle_update(apiserver_conn_t *c, const apiserver_target_t *t)
{
    cJSON *obj = apiserver_reg_parse_body(c, t);
    if (!obj)
        return;
    cJSON *meta = apiserver_obj_metadata(obj);
    const char *name = apiserver_obj_string(meta, "name");
    if (!name || strcmp(name, t->name)) {
        cJSON_Delete(obj);
        apiserver_status_bad_request(c, "the name of the object does not match the name on the "
                                        "URL");
        return;
    }
    const char *rvs = apiserver_obj_string(meta, "resourceVersion");
    bool rv_ok = false;
    int64_t rv = apiserver_parse_rv(rvs, &rv_ok);
    if (rvs && rvs[0] && !rv_ok) {
        cJSON_Delete(obj);
        apiserver_status_bad_request(c, "metadata.resourceVersion: Invalid value: must be a "
                                        "positive integer");
        return;
    }
    store_kv_t *kv = apiserver_reg_read_current(c, t);
    if (!kv) {
        cJSON_Delete(obj);
        return;
    }
    /* With a resourceVersion the client asked for compare-and-swap; without one, the update is
     * unconditional, still applied against the version just read. */
    if (rv_ok && rv != kv->mod_rev) {
        free(kv);
        cJSON_Delete(obj);
        apiserver_status_conflict(c, t->res, t->name);
        return;
    }
    apiserver_reg_finish_update(c, t, obj, kv, kv->mod_rev);
    free(kv);
}

/* ---- patches --------------------------------------------------------------------------------- */

void apiserver_reg_handle_patch(apiserver_conn_t *c, const apiserver_target_t *t)
{
    const char *ct = apiserver__header(&c->req, "content-type");
    char type[128] = "";
    if (ct) {
        util_strlcpy(type, ct, sizeof(type));
        char *semi = strchr(type, ';');
        if (semi)
            *semi = '\0';
    }
    enum { MERGE, STRATEGIC, JSON_PATCH } kind;
    if (!strcmp(type, "application/apply-patch+yaml")) {
        apiserver_apply_handle(c, t);
        return;
    }
    if (!strcmp(type, "application/merge-patch+json"))
        kind = MERGE;
    else if (!strcmp(type, "application/strategic-merge-patch+json") && !apiserver_crd_of(t->res))
        kind = STRATEGIC; /* custom resources have no patch strategies: 415 as upstream */
    else if (!strcmp(type, "application/json-patch+json"))
        kind = JSON_PATCH;
    else {
        char msg[384];
        snprintf(msg, sizeof(msg),
                 "the body of the request was in an unknown format - accepted media types "
                 "include: application/json-patch+json, application/merge-patch+json, "
                 "application/apply-patch+yaml%s",
                 apiserver_crd_of(t->res) ? "" : ", application/strategic-merge-patch+json");
        if (!apiserver_crd_of(t->res)) {
            size_t used = strlen(msg);
            snprintf(msg + used, sizeof(msg) - used, " (got %s)", type[0] ? type : "none");
        }
        apiserver__respond_status(c, 415, "UnsupportedMediaType", msg);
        return;
    }
    cJSON *patch = cJSON_ParseWithLength(c->req.body.data ? c->req.body.data : "", c->req.body.len);
    if (!patch || (kind == JSON_PATCH ? !cJSON_IsArray(patch) : !cJSON_IsObject(patch))) {
        cJSON_Delete(patch);
        apiserver_status_bad_request(c, kind == JSON_PATCH ? "a JSON patch must be an array"
                                                           : "the patch is not a JSON object");
        return;
    }
    store_kv_t *kv = apiserver_reg_read_current(c, t);
    if (!kv) {
        cJSON_Delete(patch);
        return;
    }
    cJSON *cur = cJSON_ParseWithLength(kv->value, kv->value_len);
    apiserver_obj_set_rv(cur, kv->mod_rev); /* a patch may test or keep the resourceVersion */
    cleanup_error util_error_t perr = NULL;
    cJSON *obj = kind == MERGE       ? apiserver_merge_patch(cur, patch)
                 : kind == STRATEGIC ? apiserver_strategic_patch(cur, patch, t->res->kind, &perr)
                                     : apiserver_json_patch(cur, patch, &perr);
    cJSON_Delete(cur);
    cJSON_Delete(patch);
    if (!obj) {
        free(kv);
        int code = util_error_code(perr) == -E2BIG ? 413 : 422;
        if (code == 413)
            apiserver__respond_status(c, 413, "RequestEntityTooLarge",
                                      perr && perr->msg ? perr->msg : "patch too large");
        else
            apiserver__respond_status(c, 422, "Invalid",
                                      perr && perr->msg ? perr->msg : "the patch does not apply");
        return;
    }
    if (!cJSON_IsObject(obj)) {
        free(kv);
        cJSON_Delete(obj);
        apiserver_status_bad_request(c, "the patch would replace the object with a non-object");
        return;
    }
    cJSON *meta = apiserver_obj_metadata(obj);
    const char *name = apiserver_obj_string(meta, "name");
    const char *rvs = apiserver_obj_string(meta, "resourceVersion");
    bool rv_ok = false;
    int64_t rv = apiserver_parse_rv(rvs, &rv_ok);
    if (!name || strcmp(name, t->name) || !meta) {
        free(kv);
        cJSON_Delete(obj);
        apiserver_status_bad_request(c, "a patch may not change the object's name");
        return;
    }
    if (apiserver__validate_request(c, t->res, obj, false) < 0) {
        free(kv);
        cJSON_Delete(obj);
        return;
    }
    if (rv_ok && rv != kv->mod_rev) { /* the patch carried a resourceVersion precondition */
        free(kv);
        cJSON_Delete(obj);
        apiserver_status_conflict(c, t->res, t->name);
        return;
    }
    apiserver_reg_finish_update(c, t, obj, kv, kv->mod_rev);
    free(kv);
}

/* ---- delete ------------------------------------------------------------------------------- */

/* An RFC 3339 time seconds from now. */
static void time_after(char out[21], int64_t seconds)
{
    time_t when = time(NULL) + (time_t)seconds;
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

apiserver_delete_plan_t apiserver_reg_plan_delete(const apiserver_resource_t *r, cJSON *obj,
                                                  int64_t grace)
{
    cJSON *meta = apiserver_obj_metadata(obj);
    if (!meta)
        return APISERVER_DELETE_KEEP;
    bool deleting = cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp") != NULL;
    bool crd = apiserver_reg_is(r, "customresourcedefinitions");
    if (crd && !deleting) /* a CRD is only marked: its objects go first (apiserver_crd_cleanup.c) */
        apiserver_crd_mark_deleting(obj);
    /* Finalizers: the object is only marked; it goes when the last finalizer is removed. A
     * namespace's spec.finalizers ("kubernetes") hold it while its content is deleted. */
    bool finalizers = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(meta, "finalizers")) > 0;
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    bool ns = apiserver_reg_is(r, "namespaces");
    if (ns)
        finalizers |= cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(spec, "finalizers")) > 0;
    /* A pod bound to a node is marked with a grace period and left to its kubelet. */
    const char *node = apiserver_obj_string(spec, "nodeName");
    bool graceful = apiserver_reg_is(r, "pods") && node && node[0] && grace != 0;
    if (!finalizers && !graceful) /* also a marked pod deleted again with grace 0 (--force) */
        return APISERVER_DELETE_NOW;
    if (deleting)
        return APISERVER_DELETE_KEEP;
    if (graceful && grace < 0) {
        const cJSON *tg = cJSON_GetObjectItemCaseSensitive(spec, "terminationGracePeriodSeconds");
        grace = cJSON_IsNumber(tg) ? (int64_t)tg->valuedouble : 30;
    }
    if (!graceful)
        grace = 0;
    char when[21];
    time_after(when, grace);
    cJSON_AddStringToObject(meta, "deletionTimestamp", when);
    set_int(meta, "deletionGracePeriodSeconds", (double)grace);
    if (ns) {
        cJSON *status = cJSON_GetObjectItemCaseSensitive(obj, "status");
        if (!cJSON_IsObject(status)) {
            cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
            status = cJSON_AddObjectToObject(obj, "status");
        }
        cJSON_DeleteItemFromObjectCaseSensitive(status, "phase");
        cJSON_AddStringToObject(status, "phase", "Terminating");
    }
    if (crd)
        apiserver_crd_prepare(obj); /* the Terminating condition */
    return APISERVER_DELETE_MARK;
}

/* gracePeriodSeconds from the query or the DeleteOptions body; -1 when not given. */
int64_t apiserver_reg_grace_period(apiserver_conn_t *c, const cJSON *opts)
{
    char v[24];
    long g;
    if (apiserver_query_get(c->req.query, "gracePeriodSeconds", v, sizeof(v)) &&
        util_parse_long(v, 0, 1L << 30, &g) == 0)
        return g;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(opts, "gracePeriodSeconds");
    return cJSON_IsNumber(n) && n->valuedouble >= 0 ? (int64_t)n->valuedouble : -1;
}

void apiserver_reg_handle_delete(apiserver_conn_t *c, const apiserver_target_t *t)
{
    cJSON *opts = c->req.body.len ? cJSON_ParseWithLength(c->req.body.data, c->req.body.len) : NULL;
    apiserver_reg_take_dry_run(c, opts);
    apiserver_reg_delete_with_options(c, t, opts);
    cJSON_Delete(opts);
}

void apiserver_reg_delete_with_options(apiserver_conn_t *c, const apiserver_target_t *t,
                                       const cJSON *opts)
{
    apiserver_gc_policy_t policy;
    if (apiserver_gc_policy_parse(c, opts, &policy) < 0)
        return; /* answered */
    store_kv_t *kv = apiserver_reg_read_current(c, t);
    if (!kv)
        return;
    int64_t expected = kv->mod_rev;
    cJSON *cur = cJSON_ParseWithLength(kv->value, kv->value_len);
    free(kv);
    cJSON *meta = apiserver_obj_metadata(cur);
    char uid[64] = "";
    const char *u = apiserver_obj_string(meta, "uid");
    if (u)
        util_strlcpy(uid, u, sizeof(uid));
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(opts, "preconditions");
    const char *puid = apiserver_obj_string(pre, "uid");
    const char *prv = apiserver_obj_string(pre, "resourceVersion");
    bool rv_ok = false;
    int64_t rv = apiserver_parse_rv(prv, &rv_ok);
    int64_t grace = apiserver_reg_grace_period(c, opts);
    if ((puid && strcmp(puid, uid)) || (prv && (!rv_ok || rv != expected))) {
        cJSON_Delete(cur);
        apiserver_status_conflict(c, t->res, t->name);
        return;
    }
    if (!meta) {
        cJSON_Delete(cur);
        apiserver__respond_status(c, 500, "InternalError", "stored object has no metadata");
        return;
    }
    bool gc_changed = apiserver_gc_finalizers(t->res, cur, policy);
    apiserver_gc_policy_warn(c, t->res, policy);
    apiserver_delete_plan_t plan = apiserver_reg_plan_delete(t->res, cur, grace);
    if (plan == APISERVER_DELETE_KEEP && gc_changed) /* a new policy for an object being deleted */
        plan = APISERVER_DELETE_MARK;
    if (plan == APISERVER_DELETE_MARK) {
        submit_write(c, t, W_UPDATE, t->name, cur, expected, NULL);
        return;
    }
    if (plan == APISERVER_DELETE_KEEP && c->req.answer_created) {
        cJSON_Delete(cur);
        respond_created_status(c);
        return;
    }
    if (plan == APISERVER_DELETE_KEEP) { /* already marked: nothing changes */
        apiserver_obj_set_rv(cur, expected);
        apiserver_reg_respond_object(c, 200, cur);
        cJSON_Delete(cur);
        return;
    }
    cJSON_Delete(cur);
    submit_write(c, t, W_DELETE, t->name, NULL, expected, uid);
}
