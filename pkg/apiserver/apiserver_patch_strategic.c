/* apiserver_patch_strategic: strategic merge patch (k8s.io/apimachinery strategicpatch) on cJSON.
 */
#include "apiserver_patch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define DIRECTIVE        "$patch"
#define RETAIN_KEYS      "$retainKeys"
#define SET_ORDER_PREFIX "$setElementOrder/"
#define DELETE_PRIM_PREF "$deleteFromPrimitiveList/"
#define MAX_NESTING      1000

/* ---- which lists merge, and by which key ----------------------------------------------------- */
/* From the patchStrategy/patchMergeKey struct tags of k8s.io/api (core/v1, apps/v1, batch/v1)
 * and k8s.io/apimachinery meta/v1. Lists not found here (tolerations, readinessGates,
 * containerStatuses, Endpoints subsets, Node taints, ...) are replaced. A key of "" marks a
 * list of primitives with patchStrategy merge. retainKeys needs no table: the $retainKeys
 * directive is honoured wherever it appears, as upstream does when applying. */

typedef struct sm_rule {
    const char *path;
    const char *key;
} sm_rule_t;

static const sm_rule_t podspec_rules[] = {
    {"containers", "name"},
    {"initContainers", "name"},
    {"ephemeralContainers", "name"},
    {"volumes", "name"},
    {"imagePullSecrets", "name"},
    {"hostAliases", "ip"},
    {"topologySpreadConstraints", "topologyKey"},
    {"schedulingGates", "name"},
    {"resourceClaims", "name"},
};
static const char *const container_lists[] = {"containers", "initContainers",
                                              "ephemeralContainers"};
static const sm_rule_t container_rules[] = {
    {"ports", "containerPort"},
    {"env", "name"},
    {"volumeMounts", "mountPath"},
    {"volumeDevices", "devicePath"},
};
static const sm_rule_t podstatus_rules[] = {
    {"conditions", "type"},
    {"podIPs", "ip"},
    {"hostIPs", "ip"},
    {"resourceClaimStatuses", "name"},
};
static const char *const container_status_lists[] = {"containerStatuses", "initContainerStatuses",
                                                     "ephemeralContainerStatuses"};
static const sm_rule_t container_status_rules[] = {
    {"volumeMounts", "mountPath"},
    {"allocatedResourcesStatus", "name"},
};

/* Where each kind keeps its PodSpec, as {kind, path}. */
static const sm_rule_t podspec_at[] = {
    {"Pod", "spec"},
    {"PodTemplate", "template.spec"},
    {"ReplicationController", "spec.template.spec"},
    {"Deployment", "spec.template.spec"},
    {"ReplicaSet", "spec.template.spec"},
    {"StatefulSet", "spec.template.spec"},
    {"DaemonSet", "spec.template.spec"},
    {"Job", "spec.template.spec"},
    {"CronJob", "spec.jobTemplate.spec.template.spec"},
};

typedef struct sm_kind_rule {
    const char *kind;
    const char *path;
    const char *key;
} sm_kind_rule_t;

static const sm_kind_rule_t kind_rules[] = {
    {"Service", "spec.ports", "port"},
    {"Service", "status.conditions", "type"},
    {"Node", "spec.podCIDRs", ""},
    {"Node", "status.conditions", "type"},
    {"Node", "status.addresses", "type"},
    {"Namespace", "status.conditions", "type"},
    {"ServiceAccount", "secrets", "name"},
    {"PersistentVolumeClaim", "status.conditions", "type"},
    {"ReplicationController", "status.conditions", "type"},
    {"Deployment", "status.conditions", "type"},
    {"ReplicaSet", "status.conditions", "type"},
    {"StatefulSet", "status.conditions", "type"},
    {"DaemonSet", "status.conditions", "type"},
    {"Job", "status.conditions", "type"},
};

static const char *rule_find(const sm_rule_t *rules, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rules[i].path, path))
            return rules[i].key;
    return NULL;
}

/* If path is "<name>.<rest>" with name one of names, returns rest. */
static const char *strip_one_of(const char *path, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (!strncmp(path, names[i], l) && path[l] == '.')
            return path + l + 1;
    }
    return NULL;
}

static const char *strip_prefix(const char *path, const char *prefix)
{
    size_t l = strlen(prefix);
    return !strncmp(path, prefix, l) && path[l] == '.' ? path + l + 1 : NULL;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && !strcmp(s + ls - lx, suffix) && (ls == lx || s[ls - lx - 1] == '.');
}

static const char *podspec_lookup(const char *rel)
{
    const char *key = rule_find(podspec_rules, UTIL_ARRAY_SIZE(podspec_rules), rel);
    const char *sub = strip_one_of(rel, container_lists, UTIL_ARRAY_SIZE(container_lists));
    if (!key && sub)
        key = rule_find(container_rules, UTIL_ARRAY_SIZE(container_rules), sub);
    return key;
}

/* The merge key of the list at path (dotted object keys from the root) for kind: a key, ""
 * for a merging list of primitives, or NULL when the list is replaced. */
static const char *list_merge_key(const char *kind, const char *path)
{
    if (has_suffix(path, "metadata.finalizers"))
        return "";
    if (has_suffix(path, "metadata.ownerReferences"))
        return "uid";
    if (!kind)
        return NULL;
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(kind_rules); i++)
        if (!strcmp(kind_rules[i].kind, kind) && !strcmp(kind_rules[i].path, path))
            return kind_rules[i].key;
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(podspec_at); i++) {
        const char *rel = strip_prefix(path, podspec_at[i].key);
        if (!strcmp(podspec_at[i].path, kind) && rel)
            return podspec_lookup(rel);
    }
    const char *st = !strcmp(kind, "Pod") ? strip_prefix(path, "status") : NULL;
    if (!st)
        return NULL;
    const char *key = rule_find(podstatus_rules, UTIL_ARRAY_SIZE(podstatus_rules), st);
    const char *sub =
        strip_one_of(st, container_status_lists, UTIL_ARRAY_SIZE(container_status_lists));
    if (!key && sub)
        key = rule_find(container_status_rules, UTIL_ARRAY_SIZE(container_status_rules), sub);
    return key;
}

const char *apiserver_strategic_list_key(const char *kind, const char *path)
{
    return list_merge_key(kind, path);
}

/* ---- context and small helpers --------------------------------------------------------------- */

typedef struct sm {
    const char *kind;
    char path[2048];
    size_t len;
    bool truncated;
    int depth;
    util_error_t *err;
} sm_t;

/* Appends ".key" to the path; returns the length to restore. */
static size_t path_push(sm_t *s, const char *key)
{
    size_t old = s->len, kl = strlen(key);
    if (s->len + kl + 2 > sizeof(s->path)) {
        s->truncated = true;
        return old;
    }
    if (s->len)
        s->path[s->len++] = '.';
    memcpy(s->path + s->len, key, kl + 1);
    s->len += kl;
    return old;
}

static void path_pop(sm_t *s, size_t old)
{
    s->len = old;
    s->path[old] = '\0';
}

static const char *current_key(sm_t *s, const char *key)
{
    size_t old = path_push(s, key);
    const char *mk = s->truncated ? NULL : list_merge_key(s->kind, s->path);
    path_pop(s, old);
    return mk;
}

static bool starts_with(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

static bool is_directive_key(const char *k)
{
    return !strcmp(k, DIRECTIVE) || !strcmp(k, RETAIN_KEYS) || starts_with(k, SET_ORDER_PREFIX) ||
           starts_with(k, DELETE_PRIM_PREF);
}

static int fail(sm_t *s, const char *fmt, const char *arg)
{
    return util_error_make(s->err, EINVAL, fmt, arg ? arg : "");
}

static int oom(sm_t *s)
{
    return util_error_make(s->err, ENOMEM, "out of memory");
}

/* Replaces old (a member of parent) by value, which takes over old's key in an object. */
static bool replace_member(cJSON *parent, cJSON *old, cJSON *value)
{
    if (cJSON_IsObject(parent))
        return cJSON_ReplaceItemInObjectCaseSensitive(parent, old->string, value);
    return cJSON_ReplaceItemViaPointer(parent, old, value);
}

/* JSON kinds as upstream's reflect types see them: true and false are one type. */
static int value_kind(const cJSON *v)
{
    return cJSON_IsBool(v) ? cJSON_True : (v->type & 0xff);
}

static bool values_equal(const cJSON *a, const cJSON *b)
{
    if (!a || !b)
        return a == b;
    return cJSON_Compare(a, b, true);
}

static const cJSON *member(const cJSON *obj, const char *key)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

/* Strips what a typed decode would drop from new content: null members and directive keys;
 * with drop_marked, maps holding $patch are removed entirely (upstream removeDirectives).
 * Returns false when v itself is to be dropped. */
static bool clean_value(cJSON *v, bool drop_marked)
{
    if (cJSON_IsObject(v) && drop_marked && cJSON_GetObjectItemCaseSensitive(v, DIRECTIVE))
        return false;
    cJSON *c = v->child;
    while (c) {
        cJSON *next = c->next;
        bool drop = cJSON_IsObject(v) && (cJSON_IsNull(c) || is_directive_key(c->string));
        if (drop || !clean_value(c, drop_marked))
            cJSON_Delete(cJSON_DetachItemViaPointer(v, c));
        c = next;
    }
    return true;
}

/* A cleaned copy of new content, or NULL when it is dropped (*ret_oom tells the two apart). */
static cJSON *clean_copy(const cJSON *v, bool drop_marked, bool *ret_oom)
{
    cJSON *d = cJSON_Duplicate(v, true);
    *ret_oom = !d;
    if (d && !clean_value(d, drop_marked)) {
        cJSON_Delete(d);
        d = NULL;
    }
    return d;
}

/* ---- list ordering (upstream normalizeElementOrder) ------------------------------------------ */

typedef struct vec {
    cJSON **v;
    int n;
} vec_t;

static const cJSON *order_value(const cJSON *item, const char *mk)
{
    return *mk ? member(item, mk) : item;
}

static int index_in(const cJSON *list, const cJSON *item, const char *mk)
{
    int i = 0;
    const cJSON *want = order_value(item, mk);
    for (const cJSON *c = list ? list->child : NULL; c; c = c->next, i++)
        if (values_equal(order_value(c, mk), want))
            return i;
    return -1;
}

/* Stable insertion sort of v by position in order (items not found keep their place). */
static void sort_by(vec_t *v, const cJSON *order, const char *mk)
{
    for (int i = 1; i < v->n; i++) {
        cJSON *x = v->v[i];
        int xi = index_in(order, x, mk), j = i;
        while (xi >= 0 && j > 0) {
            int yi = index_in(order, v->v[j - 1], mk);
            if (yi < 0 || yi <= xi)
                break;
            v->v[j] = v->v[j - 1];
            j--;
        }
        v->v[j] = x;
    }
}

/* Builds the final array: patch items sorted by patch_order, server-only items by server
 * order, interleaved as upstream's mergeSortedSlice does. Takes the items of merged. */
static cJSON *ordered(sm_t *s, cJSON *merged, const cJSON *partition_by, const cJSON *patch_order,
                      const cJSON *server_order, const char *mk)
{
    int n = cJSON_GetArraySize(merged);
    vec_t pv = {calloc((size_t)n + 1, sizeof(cJSON *)), 0};
    vec_t sv = {calloc((size_t)n + 1, sizeof(cJSON *)), 0};
    cJSON *out = cJSON_CreateArray();
    if (!pv.v || !sv.v || !out) {
        free(pv.v);
        free(sv.v);
        cJSON_Delete(out);
        cJSON_Delete(merged);
        oom(s);
        return NULL;
    }
    while (merged->child) {
        cJSON *c = cJSON_DetachItemViaPointer(merged, merged->child);
        vec_t *dst = index_in(partition_by, c, mk) >= 0 ? &pv : &sv;
        dst->v[dst->n++] = c;
    }
    cJSON_Delete(merged);
    sort_by(&pv, patch_order, mk);
    sort_by(&sv, server_order, mk);
    int i = 0, j = 0;
    while (i < sv.n || j < pv.n) {
        bool left = j >= pv.n;
        if (i < sv.n && j < pv.n) {
            int li = index_in(server_order, sv.v[i], mk), ri = index_in(server_order, pv.v[j], mk);
            left = li >= 0 && ri >= 0 && li < ri;
        }
        cJSON_AddItemToArray(out, left ? sv.v[i++] : pv.v[j++]);
    }
    free(pv.v);
    free(sv.v);
    return out;
}

/* Every map in list must carry the merge key (upstream validateMergeKeyInLists). */
static int check_merge_keys(sm_t *s, const cJSON *list, const char *mk)
{
    for (const cJSON *c = list ? list->child : NULL; *mk && c; c = c->next)
        if (!cJSON_IsObject(c) || !member(c, mk))
            return fail(s, "map does not contain declared merge key: %s", mk);
    return 0;
}

/* The common element kind of a and b, 0 when both are empty, -1 (error set) when mixed. */
static int element_kind(sm_t *s, const cJSON *a, const cJSON *b)
{
    int kind = 0;
    const cJSON *lists[2] = {a, b};
    for (int l = 0; l < 2; l++) {
        for (const cJSON *c = lists[l] ? lists[l]->child : NULL; c; c = c->next) {
            if (cJSON_IsArray(c))
                return fail(s, "lists of lists are not supported%s", NULL);
            if (kind && value_kind(c) != kind)
                return fail(s, "list element types are not identical%s", NULL);
            kind = value_kind(c);
        }
    }
    return kind;
}

/* ---- lists ----------------------------------------------------------------------------------- */

static cJSON *merge_map(sm_t *s, cJSON *orig, const cJSON *patch);

static cJSON *merge_scalars(sm_t *s, const cJSON *orig, const cJSON *patch, bool del)
{
    cJSON *out = cJSON_CreateArray();
    const cJSON *lists[2] = {orig, patch};
    for (int l = 0; out && l < (del ? 1 : 2); l++) {
        for (const cJSON *c = lists[l]->child; c; c = c->next) {
            if (index_in(del ? patch : out, c, "") >= 0)
                continue; /* deleted, or a duplicate */
            cJSON *d = cJSON_Duplicate(c, true);
            if (!d || !cJSON_AddItemToArray(out, d)) {
                cJSON_Delete(d);
                cJSON_Delete(out);
                out = NULL;
                break;
            }
        }
    }
    if (!out) {
        oom(s);
        return NULL;
    }
    /* Upstream returns deletions as they are, and orders merged scalars like maps. */
    return del ? out : ordered(s, out, patch, patch, orig, "");
}

/* Applies $patch elements (delete by merge key, replace) to work; collects the other patch
 * elements as references in rest. Returns 1 when the list is to be replaced by rest. */
static int special_elements(sm_t *s, cJSON *work, const cJSON *patch, const char *mk, cJSON *rest)
{
    int replace = 0;
    for (const cJSON *e = patch->child; e; e = e->next) {
        const cJSON *d = member(e, DIRECTIVE);
        const char *dv = cJSON_IsString(d) ? d->valuestring : "?";
        if (!d) {
            if (!cJSON_AddItemReferenceToArray(rest, (cJSON *)e))
                return oom(s);
        } else if (!strcmp(dv, "delete")) {
            const cJSON *want = member(e, mk);
            if (!want)
                return fail(s, "map does not contain declared merge key: %s", mk);
            cJSON *w = work->child;
            while (w) {
                cJSON *next = w->next;
                if (values_equal(member(w, mk), want))
                    cJSON_Delete(cJSON_DetachItemViaPointer(work, w));
                w = next;
            }
        } else if (!strcmp(dv, "replace")) {
            replace = 1;
        } else if (!strcmp(dv, "merge")) {
            return fail(s, "merging lists cannot yet be specified in the patch%s", NULL);
        } else {
            return fail(s, "unknown patch type: %s in list", dv);
        }
    }
    return replace;
}

/* Merges each patch element into the work element with the same merge key, or appends it. */
static int merge_elements(sm_t *s, cJSON *work, const cJSON *rest, const char *mk)
{
    for (const cJSON *e = rest->child; e; e = e->next) {
        const cJSON *want = member(e, mk);
        if (!want)
            return fail(s, "map does not contain declared merge key: %s", mk);
        cJSON *w = work->child;
        while (w && !values_equal(member(w, mk), want))
            w = w->next;
        bool nomem = false;
        if (w) {
            cJSON *r = merge_map(s, w, e);
            if (!r)
                return -EINVAL;
            if (r != w)
                cJSON_ReplaceItemViaPointer(work, w, r);
        } else {
            cJSON *c = clean_copy(e, true, &nomem);
            if (nomem)
                return oom(s);
            if (c)
                cJSON_AddItemToArray(work, c);
        }
    }
    return check_merge_keys(s, work, mk);
}

static cJSON *merge_maps(sm_t *s, const cJSON *orig, const cJSON *patch, const char *mk)
{
    cJSON *work = cJSON_Duplicate(orig, true), *rest = cJSON_CreateArray();
    int r = work && rest ? special_elements(s, work, patch, mk, rest) : oom(s);
    if (r == 1) {
        bool nomem = false;
        cJSON_Delete(work);
        work = clean_copy(rest, true, &nomem);
        r = nomem ? oom(s) : check_merge_keys(s, work, mk);
        cJSON_Delete(rest);
        if (r < 0) {
            cJSON_Delete(work);
            return NULL;
        }
        return work;
    }
    if (r == 0)
        r = merge_elements(s, work, rest, mk);
    cJSON *out = r < 0 ? NULL : ordered(s, work, rest, rest, orig, mk);
    if (r < 0)
        cJSON_Delete(work);
    cJSON_Delete(rest);
    return out;
}

/* upstream mergeSlice: mk is the merge key ("" for primitives). */
static cJSON *merge_slice(sm_t *s, const cJSON *orig, const cJSON *patch, const char *mk, bool del)
{
    if (!orig->child && !patch->child)
        return cJSON_CreateArray();
    int kind = element_kind(s, orig, patch);
    if (kind < 0)
        return NULL;
    if (kind != cJSON_Object) {
        if (*mk) {
            fail(s, "map does not contain declared merge key: %s", mk);
            return NULL;
        }
        return merge_scalars(s, orig, patch, del);
    }
    if (!*mk) {
        fail(s, "cannot merge lists without merge key for %s", s->path);
        return NULL;
    }
    return merge_maps(s, orig, patch, mk);
}

/* ---- $setElementOrder ------------------------------------------------------------------------ */

/* The non-deleted patch items must appear in the order of the $setElementOrder list. */
static int check_order(sm_t *s, const cJSON *plist, const cJSON *order, const char *mk)
{
    const cJSON *p = plist ? plist->child : NULL, *o = order->child;
    for (const cJSON *c = p; *mk && c; c = c->next)
        if (!cJSON_IsObject(c))
            return fail(s, "invalid patch format of setElementOrder list%s", NULL);
    while (p && o) {
        if (member(p, DIRECTIVE)) {
            p = p->next;
            continue;
        }
        if (*mk && (!member(p, mk) || !member(o, mk)))
            return fail(s, "map does not contain declared merge key: %s", mk);
        if (values_equal(order_value(p, mk), order_value(o, mk)))
            p = p->next;
        o = o->next;
    }
    while (p && member(p, DIRECTIVE))
        p = p->next;
    if (p)
        return fail(s, "The order in patch list doesn't match %s list", SET_ORDER_PREFIX);
    return 0;
}

static cJSON *order_merged(sm_t *s, const cJSON *olist, const cJSON *plist, const char *mk)
{
    bool nomem = false;
    cJSON *merged;
    if (olist && !plist)
        merged = cJSON_Duplicate(olist, true);
    else if (!olist || !mk)
        merged = clean_copy(plist, false, &nomem);
    else
        return merge_slice(s, olist, plist, mk, false);
    if (!merged)
        oom(s);
    return merged;
}

static int set_element_order(sm_t *s, cJSON *orig, const cJSON *patch, const char *key,
                             const cJSON *order)
{
    const cJSON *olist = member(orig, key), *plist = member(patch, key);
    if (!cJSON_IsArray(order) || (olist && !cJSON_IsArray(olist)) ||
        (plist && !cJSON_IsArray(plist)))
        return fail(s, "invalid patch format of setElementOrder list%s", NULL);
    if (!olist && !plist)
        return 0;
    const char *mk = current_key(s, key);
    int r = check_order(s, plist, order, mk ? mk : "");
    int kind = r < 0 ? r : element_kind(s, olist, plist);
    if (kind < 0)
        return kind;
    size_t old = path_push(s, key);
    cJSON *merged = order_merged(s, olist, plist, mk);
    path_pop(s, old);
    if (!merged)
        return -EINVAL;
    mk = mk ? mk : "";
    if (kind == cJSON_Object && check_merge_keys(s, merged, mk) < 0) {
        cJSON_Delete(merged);
        return -EINVAL;
    }
    cJSON *out = kind ? ordered(s, merged, order, order, olist, mk) : merged;
    if (!out)
        return -ENOMEM;
    cJSON *cur = cJSON_GetObjectItemCaseSensitive(orig, key);
    if (cur ? replace_member(orig, cur, out) : cJSON_AddItemToObject(orig, key, out))
        return 0;
    cJSON_Delete(out);
    return oom(s);
}

/* ---- maps ------------------------------------------------------------------------------------ */

/* $patch in a map: replace it by the rest of the patch, or empty it. */
static cJSON *map_directive(sm_t *s, const cJSON *patch, const cJSON *d)
{
    const char *dv = cJSON_IsString(d) ? d->valuestring : "?";
    cJSON *out = NULL;
    if (!strcmp(dv, "replace")) {
        out = cJSON_Duplicate(patch, true);
        if (out) {
            cJSON_DeleteItemFromObjectCaseSensitive(out, DIRECTIVE);
            clean_value(out, true);
        }
    } else if (!strcmp(dv, "delete")) {
        out = cJSON_CreateObject();
    } else {
        fail(s, "unknown patch type: %s in map", dv);
        return NULL;
    }
    if (!out)
        oom(s);
    return out;
}

static bool in_list(const cJSON *list, const char *key)
{
    for (const cJSON *c = list->child; c; c = c->next)
        if (cJSON_IsString(c) && !strcmp(c->valuestring, key))
            return true;
    return false;
}

/* $retainKeys: every patched field must be listed; fields of orig not listed are cleared. */
static int retain_keys(sm_t *s, cJSON *orig, const cJSON *patch)
{
    const cJSON *rk = member(patch, RETAIN_KEYS);
    if (!rk)
        return 0;
    if (!cJSON_IsArray(rk))
        return fail(s, "invalid patch format of retainKeys%s", NULL);
    for (const cJSON *p = patch->child; p; p = p->next) {
        if (cJSON_IsNull(p) || !strcmp(p->string, RETAIN_KEYS) ||
            starts_with(p->string, SET_ORDER_PREFIX) || starts_with(p->string, DELETE_PRIM_PREF))
            continue;
        if (!in_list(rk, p->string))
            return fail(s, "invalid patch format of retainKeys%s", NULL);
    }
    cJSON *c = orig->child;
    while (c) {
        cJSON *next = c->next;
        if (!in_list(rk, c->string))
            cJSON_Delete(cJSON_DetachItemViaPointer(orig, c));
        c = next;
    }
    return 0;
}

/* Sets orig[key] to v (owned), or removes it when v is NULL. */
static void put(cJSON *orig, const char *key, cJSON *v)
{
    cJSON *cur = cJSON_GetObjectItemCaseSensitive(orig, key);
    if (!v)
        cJSON_Delete(cJSON_DetachItemViaPointer(orig, cur));
    else if (!(cur ? replace_member(orig, cur, v) : cJSON_AddItemToObject(orig, key, v)))
        cJSON_Delete(v);
}

/* Merges one patch member p (named key) into orig; del for $deleteFromPrimitiveList. */
static int merge_member(sm_t *s, cJSON *orig, const char *key, const cJSON *p, bool del)
{
    cJSON *cur = cJSON_GetObjectItemCaseSensitive(orig, key), *r = NULL;
    bool nomem = false;
    if (cJSON_IsNull(p)) {
        put(orig, key, NULL);
        return 0;
    }
    if (!cur || value_kind(cur) != value_kind(p)) {
        if (!del)
            put(orig, key, clean_copy(p, true, &nomem));
        return nomem ? oom(s) : 0;
    }
    if (del && !cJSON_IsArray(cur))
        return 0;
    size_t old = path_push(s, key);
    if (cJSON_IsObject(cur)) {
        r = merge_map(s, cur, p);
    } else if (cJSON_IsArray(cur)) {
        const char *mk = s->truncated ? NULL : list_merge_key(s->kind, s->path);
        if (mk || del)
            r = merge_slice(s, cur, p, mk ? mk : "", del);
        else if (!(r = clean_copy(p, false, &nomem)))
            oom(s);
    } else if (!(r = cJSON_Duplicate(p, true))) {
        oom(s);
    }
    path_pop(s, old);
    if (!r)
        return -EINVAL;
    if (r != cur)
        put(orig, key, r);
    return 0;
}

/* Whether patch holds "$setElementOrder/<key>" (that list is merged while ordering). */
static bool ordered_elsewhere(const cJSON *patch, const char *key)
{
    for (const cJSON *p = patch->child; p; p = p->next)
        if (starts_with(p->string, SET_ORDER_PREFIX) &&
            !strcmp(p->string + strlen(SET_ORDER_PREFIX), key))
            return true;
    return false;
}

static int merge_members(sm_t *s, cJSON *orig, const cJSON *patch)
{
    for (const cJSON *p = patch->child; p; p = p->next) {
        const char *k = p->string;
        int r = 0;
        if (starts_with(k, SET_ORDER_PREFIX))
            r = set_element_order(s, orig, patch, k + strlen(SET_ORDER_PREFIX), p);
        if (r < 0)
            return r;
    }
    for (const cJSON *p = patch->child; p; p = p->next) {
        const char *k = p->string;
        bool del = starts_with(k, DELETE_PRIM_PREF);
        if (!strcmp(k, RETAIN_KEYS) || starts_with(k, SET_ORDER_PREFIX))
            continue;
        if (del)
            k += strlen(DELETE_PRIM_PREF);
        if (!del && ordered_elsewhere(patch, k))
            continue;
        int r = merge_member(s, orig, k, p, del);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Rejects unknown "$" keys anywhere in the patch ($ref and $schema are fields of
 * JSONSchemaProps, not directives). */
static int check_directives(sm_t *s, const cJSON *v, int depth)
{
    if (depth > MAX_NESTING)
        return fail(s, "strategic merge patch nested too deeply%s", NULL);
    for (const cJSON *c = v->child; c; c = c->next) {
        const char *k = cJSON_IsObject(v) ? c->string : NULL;
        if (k && k[0] == '$' && !is_directive_key(k) && strcmp(k, "$ref") && strcmp(k, "$schema"))
            return fail(s, "unknown patch directive: %s", k);
        int r = check_directives(s, c, depth + 1);
        if (r < 0)
            return r;
    }
    return 0;
}

/* upstream mergeMap: returns orig (changed in place) or a new value the caller puts in its
 * place, or NULL with s->err set. orig itself is never freed here. */
static cJSON *merge_map(sm_t *s, cJSON *orig, const cJSON *patch)
{
    const cJSON *d = member(patch, DIRECTIVE);
    if (d)
        return map_directive(s, patch, d);
    if (s->depth >= MAX_NESTING) {
        fail(s, "strategic merge patch nested too deeply%s", NULL);
        return NULL;
    }
    s->depth++;
    int r = retain_keys(s, orig, patch);
    if (r == 0)
        r = merge_members(s, orig, patch);
    s->depth--;
    return r < 0 ? NULL : orig;
}

cJSON *apiserver_strategic_patch(const cJSON *doc, const cJSON *patch, const char *kind,
                                 util_error_t *err)
{
    sm_t s = {.kind = kind, .err = err};
    if (!cJSON_IsObject(patch)) {
        util_error_make(err, EINVAL, "strategic merge patch must be a JSON object");
        return NULL;
    }
    if (check_directives(&s, patch, 0) < 0)
        return NULL;
    cJSON *root = cJSON_IsObject(doc) ? cJSON_Duplicate(doc, true) : cJSON_CreateObject();
    if (!root) {
        oom(&s);
        return NULL;
    }
    cJSON *out = merge_map(&s, root, patch);
    if (out != root)
        cJSON_Delete(root);
    return out;
}
