/* apiserver_limitrange: upstream's LimitRanger admission (plugin/pkg/admission/limitranger):
 * Container defaults (default -> limits, defaultRequest -> requests) applied to new pods, then
 * min, max and maxLimitRequestRatio enforced per Container, per Pod and per
 * PersistentVolumeClaim, refused with upstream's messages; and the LimitRangeItem defaults of
 * core/v1 (SetDefaults_LimitRangeItem). */
#include "apiserver_quota.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_crd.h"
#include "apiserver_list_cache.h"
#include "apiserver_object.h"
#include "apiserver_registry.h"

#define MAX_RANGES 16

static cJSON *child(const cJSON *obj, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(obj, name);
}

static cJSON *ensure_object(cJSON *obj, const char *name)
{
    cJSON *o = child(obj, name);
    if (!cJSON_IsObject(o)) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
        o = cJSON_AddObjectToObject(obj, name);
    }
    return o;
}

/* Copies every entry of from missing in (the object at) to[name]. */
static void fill_missing(cJSON *item, const char *name, const cJSON *from)
{
    if (!cJSON_IsObject(from) || !from->child)
        return;
    cJSON *to = ensure_object(item, name);
    const cJSON *e;
    cJSON_ArrayForEach(e, from)
    {
        if (e->string && !child(to, e->string))
            cJSON_AddItemToObject(to, e->string, cJSON_Duplicate(e, true));
    }
}

void apiserver_limitrange_defaults(cJSON *lr)
{
    cJSON *item;
    cJSON_ArrayForEach(item, child(child(lr, "spec"), "limits"))
    {
        const char *type = apiserver_obj_string(item, "type");
        if (!cJSON_IsObject(item) || !type || strcmp(type, "Container"))
            continue;
        fill_missing(item, "default", child(item, "max"));
        fill_missing(item, "defaultRequest", child(item, "default"));
        fill_missing(item, "defaultRequest", child(item, "min"));
    }
}

/* ---- reading the namespace's ranges ------------------------------------------------------- */

static size_t read_ranges(apiserver_t *a, const char *ns, cJSON **out)
{
    const apiserver_resource_t *r = apiserver_resource_find("", "v1", "limitranges");
    char prefix[512], end[512];
    apiserver_registry_prefix(r, ns, prefix, sizeof(prefix));
    size_t elen = store_prefix_end(prefix, strlen(prefix), end);
    store_list_t l = {0};
    size_t n = 0;
    if (apiserver_list_cache_known_empty(a, prefix))
        return 0;
    if (store_range(a->opts.store, prefix, strlen(prefix), end, elen, 0, MAX_RANGES, &l, NULL) <
        0) {
        store_list_free(&l);
        return 0;
    }
    for (size_t i = 0; i < l.n; i++)
        if ((out[n] = cJSON_ParseWithLength(l.kvs[i]->value, l.kvs[i]->value_len)))
            n++;
    if (l.n == 0)
        apiserver_list_cache_put_empty(a, prefix, l.rev);
    store_list_free(&l);
    return n;
}

/* ---- defaults ----------------------------------------------------------------------------- */

/* upstream's mergeContainerResources: notes "cpu, memory request for container c" etc. */
static void default_container(cJSON *ctr, const cJSON *limits, const cJSON *requests,
                              const char *prefix, util_buf_t *note)
{
    cJSON *res = ensure_object(ctr, "resources");
    static const char *const what[2] = {"limits", "requests"};
    const cJSON *defs[2] = {limits, requests};
    for (int w = 1; w >= 0; w--) { /* upstream lists requests first */
        util_strv_t set = {0};
        const cJSON *e;
        cJSON_ArrayForEach(e, defs[w])
        {
            cJSON *have = ensure_object(res, what[w]);
            if (!e->string || child(have, e->string))
                continue;
            cJSON_AddItemToObject(have, e->string, cJSON_Duplicate(e, true));
            util_strv_push(&set, e->string);
        }
        if (cJSON_IsObject(child(res, what[w])) && !child(res, what[w])->child)
            cJSON_DeleteItemFromObjectCaseSensitive(res, what[w]);
        for (size_t i = 0; i + 1 < set.n; i++) /* sorted (few entries) */
            for (size_t k = i + 1; k < set.n; k++)
                if (strcmp(set.v[i], set.v[k]) > 0) {
                    char *tmp = set.v[i];
                    set.v[i] = set.v[k];
                    set.v[k] = tmp;
                }
        if (set.n) {
            util_buf_printf(note, "%s", note->len ? "; " : "");
            for (size_t i = 0; i < set.n; i++)
                util_buf_printf(note, "%s%s", i ? ", " : "", set.v[i]);
            util_buf_printf(note, " %s for %s %s", w ? "request" : "limit", prefix,
                            apiserver_obj_string(ctr, "name") ? apiserver_obj_string(ctr, "name")
                                                              : "");
        }
        util_strv_clear(&set);
    }
}

static void apply_defaults(cJSON *pod, cJSON *const *ranges, size_t n)
{
    cJSON *limits = cJSON_CreateObject(), *requests = cJSON_CreateObject();
    for (size_t r = 0; r < n; r++) {
        const cJSON *item;
        cJSON_ArrayForEach(item, child(child(ranges[r], "spec"), "limits"))
        {
            const char *type = apiserver_obj_string(item, "type");
            if (!type || strcmp(type, "Container"))
                continue;
            const cJSON *e;
            cJSON_ArrayForEach(e, child(item, "defaultRequest"))
            {
                cJSON_DeleteItemFromObjectCaseSensitive(requests, e->string);
                cJSON_AddItemToObject(requests, e->string, cJSON_Duplicate(e, true));
            }
            cJSON_ArrayForEach(e, child(item, "default"))
            {
                cJSON_DeleteItemFromObjectCaseSensitive(limits, e->string);
                cJSON_AddItemToObject(limits, e->string, cJSON_Duplicate(e, true));
            }
        }
    }
    util_buf_t note = {0};
    if (limits->child || requests->child) {
        cJSON *ctr;
        cJSON_ArrayForEach(ctr, child(child(pod, "spec"), "containers"))
        {
            default_container(ctr, limits, requests, "container", &note);
        }
        cJSON_ArrayForEach(ctr, child(child(pod, "spec"), "initContainers"))
        {
            default_container(ctr, limits, requests, "init container", &note);
        }
    }
    if (note.len) { /* upstream's annotation of what it set */
        cJSON *ann = ensure_object(apiserver_obj_metadata(pod), "annotations");
        char *v = util_strdup_printf("LimitRanger plugin set: %s", note.data);
        cJSON_DeleteItemFromObjectCaseSensitive(ann, "kubernetes.io/limit-ranger");
        cJSON_AddStringToObject(ann, "kubernetes.io/limit-ranger", v);
        free(v);
    }
    util_buf_free(&note);
    cJSON_Delete(limits);
    cJSON_Delete(requests);
}

/* ---- constraints -------------------------------------------------------------------------- */

typedef struct errs {
    util_strv_t v;
} errs_t;

static void errf(errs_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void errf(errs_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    util_strv_push(&e->v, buf);
}

/* The quantity text and its milli value; false when absent or unparsable. */
static bool lookup(const cJSON *list, const char *name, const char **text, int64_t *milli)
{
    const cJSON *v = child(list, name);
    if (!cJSON_IsString(v))
        return false;
    apiserver_quota_list_t l = {0};
    cJSON *one = cJSON_CreateObject();
    cJSON_AddStringToObject(one, name, v->valuestring);
    apiserver_quota_list_parse(one, &l);
    cJSON_Delete(one);
    *text = v->valuestring;
    *milli = apiserver_quota_list_get(&l, name, NULL);
    return l.n == 1;
}

/* Checks one resource k of an item against a request/limit pair (either may be NULL). */
static void check_item_resource(errs_t *e, const char *type, const char *which, const cJSON *enf,
                                const cJSON *req, const cJSON *lim)
{
    if (!cJSON_IsString(enf) || !enf->string)
        return;
    const char *k = enf->string, *et = enf->valuestring, *rt = NULL, *lt = NULL;
    int64_t ev = 0, rv = 0, lv = 0;
    cJSON *one = cJSON_CreateObject();
    cJSON_AddStringToObject(one, k, et);
    lookup(one, k, &et, &ev);
    bool has_req = req && lookup(req, k, &rt, &rv);
    bool has_lim = lim && lookup(lim, k, &lt, &lv);
    if (!strcmp(which, "min")) {
        if (!has_req)
            errf(e, "minimum %s usage per %s is %s.  No request is specified", k, type, et);
        else if (rv < ev)
            errf(e, "minimum %s usage per %s is %s, but request is %s", k, type, et, rt);
        else if (has_lim && lv < ev)
            errf(e, "minimum %s usage per %s is %s, but limit is %s", k, type, et, lt);
    } else if (!strcmp(which, "max")) {
        if (!has_lim)
            errf(e, "maximum %s usage per %s is %s.  No limit is specified", k, type, et);
        else if (lv > ev)
            errf(e, "maximum %s usage per %s is %s, but limit is %s", k, type, et, lt);
        else if (has_req && rv > ev)
            errf(e, "maximum %s usage per %s is %s, but request is %s", k, type, et, rt);
    } else if (!strcmp(which, "maxreq")) { /* claims: max against the request */
        if (!has_req)
            errf(e, "maximum %s usage per %s is %s.  No request is specified", k, type, et);
        else if (rv > ev)
            errf(e, "maximum %s usage per %s is %s, but request is %s", k, type, et, rt);
    } else { /* maxLimitRequestRatio */
        if (!has_req || rv == 0)
            errf(e,
                 "%s max limit to request ratio per %s is %s, but no request is specified or "
                 "request is 0",
                 k, type, et);
        else if (!has_lim || lv == 0)
            errf(e,
                 "%s max limit to request ratio per %s is %s, but no limit is specified or "
                 "limit is 0",
                 k, type, et);
        else if ((double)lv / (double)rv * 1000.0 > (double)ev)
            errf(e, "%s max limit to request ratio per %s is %s, but provided ratio is %f", k, type,
                 et, (double)lv / (double)rv);
    }
    cJSON_Delete(one);
}

static void check_item(errs_t *e, const cJSON *item, const char *type, const cJSON *req,
                       const cJSON *lim, bool claim)
{
    static const char *const kinds[] = {"min", "max", "maxLimitRequestRatio"};
    for (size_t k = 0; k < 3; k++) {
        if (claim && k == 2)
            break;
        const cJSON *enf;
        cJSON_ArrayForEach(enf, child(item, kinds[k]))
        {
            const char *which = k == 0 ? "min" : k == 1 ? (claim ? "maxreq" : "max") : "ratio";
            check_item_resource(e, type, which, enf, req, lim);
        }
    }
}

/* upstream's podRequests/podLimits for Pod items: the containers' sum, at least each init
 * container's. */
static cJSON *pod_total(const cJSON *pod, const char *what)
{
    apiserver_quota_list_t sum = {0}, one;
    const cJSON *c;
    cJSON_ArrayForEach(c, child(child(pod, "spec"), "containers"))
    {
        apiserver_quota_list_parse(child(child(c, "resources"), what), &sum);
    }
    cJSON_ArrayForEach(c, child(child(pod, "spec"), "initContainers"))
    {
        memset(&one, 0, sizeof(one));
        apiserver_quota_list_parse(child(child(c, "resources"), what), &one);
        for (size_t i = 0; i < one.n; i++) {
            bool found;
            int64_t cur = apiserver_quota_list_get(&sum, one.e[i].name, &found);
            if (!found || one.e[i].milli > cur)
                apiserver_quota_list_add(&sum, one.e[i].name, one.e[i].milli - cur);
        }
    }
    cJSON *out = cJSON_CreateObject();
    for (size_t i = 0; i < sum.n; i++) {
        char text[64];
        apiserver_quota_format(sum.e[i].milli, !strcmp(sum.e[i].name, "memory"), text,
                               sizeof(text));
        cJSON_AddStringToObject(out, sum.e[i].name, text);
    }
    return out;
}

static void check_pod(errs_t *e, const cJSON *pod, cJSON *const *ranges, size_t n)
{
    for (size_t r = 0; r < n; r++) {
        const cJSON *item;
        cJSON_ArrayForEach(item, child(child(ranges[r], "spec"), "limits"))
        {
            const char *type = apiserver_obj_string(item, "type");
            if (type && !strcmp(type, "Container")) {
                static const char *const lists[] = {"containers", "initContainers"};
                for (int l = 0; l < 2; l++) {
                    const cJSON *c;
                    cJSON_ArrayForEach(c, child(child(pod, "spec"), lists[l]))
                    {
                        const cJSON *res = child(c, "resources");
                        check_item(e, item, type, child(res, "requests"), child(res, "limits"),
                                   false);
                    }
                }
            } else if (type && !strcmp(type, "Pod")) {
                cJSON *req = pod_total(pod, "requests"), *lim = pod_total(pod, "limits");
                check_item(e, item, type, req, lim, false);
                cJSON_Delete(req);
                cJSON_Delete(lim);
            }
        }
    }
}

static void check_claim(errs_t *e, const cJSON *pvc, cJSON *const *ranges, size_t n)
{
    const cJSON *req = child(child(child(pvc, "spec"), "resources"), "requests");
    for (size_t r = 0; r < n; r++) {
        const cJSON *item;
        cJSON_ArrayForEach(item, child(child(ranges[r], "spec"), "limits"))
        {
            const char *type = apiserver_obj_string(item, "type");
            if (type && !strcmp(type, "PersistentVolumeClaim"))
                check_item(e, item, type, req, NULL, true);
        }
    }
}

int apiserver_limitrange_admit(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *obj)
{
    bool pod = apiserver_reg_is(t->res, "pods"),
         claim = apiserver_reg_is(t->res, "persistentvolumeclaims");
    if (t->sub[0] || (!pod && !claim))
        return 0;
    cJSON *ranges[MAX_RANGES];
    size_t n = read_ranges(c->srv, t->ns, ranges);
    if (n == 0)
        return 0;
    errs_t e = {0};
    if (pod) {
        apply_defaults(obj, ranges, n);
        check_pod(&e, obj, ranges, n);
    } else {
        check_claim(&e, obj, ranges, n);
    }
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(ranges[i]);
    if (e.v.n == 0)
        return 0;
    /* utilerrors.NewAggregate: one error as is, several in brackets */
    util_buf_t why = {0};
    util_buf_puts(&why, e.v.n > 1 ? "[" : "");
    for (size_t i = 0; i < e.v.n; i++)
        util_buf_printf(&why, "%s%s", i ? ", " : "", e.v.v[i]);
    util_buf_puts(&why, e.v.n > 1 ? "]" : "");
    char qualified[128];
    apiserver_obj_qualified(t->res, qualified, sizeof(qualified));
    const char *name = apiserver_obj_string(child(obj, "metadata"), "name");
    char *msg =
        util_strdup_printf("%s \"%s\" is forbidden: %s", qualified, name ? name : "", why.data);
    apiserver__respond_status(c, 403, "Forbidden", msg);
    free(msg);
    util_buf_free(&why);
    util_strv_clear(&e.v);
    return -1;
}
