/* controller_history: apps/v1 ControllerRevisions as StatefulSets and DaemonSets keep them
 * (upstream pkg/controller/history): the revision data, its hash, new revisions, their order and
 * which old ones revisionHistoryLimit lets go. */
#include "controller/controller.h"

#include <stdlib.h>
#include <string.h>

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

cJSON *controller_revision_data(const cJSON *set)
{
    const cJSON *tmpl = get(get(set, "spec"), "template");
    cJSON *t = cJSON_IsObject(tmpl) ? cJSON_Duplicate(tmpl, true) : cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(t, "$patch");
    cJSON_AddStringToObject(t, "$patch", "replace");
    cJSON *data = cJSON_CreateObject();
    cJSON_AddItemToObject(cJSON_AddObjectToObject(data, "spec"), "template", t);
    return data;
}

void controller_revision_hash(const cJSON *data, int64_t collision_count, char out[16])
{
    /* the same FNV-32a and encoding as the pod-template-hash, over the data */
    controller_template_hash(data, collision_count, out);
}

static char *canonical_string(const cJSON *v)
{
    util_buf_t b = {0};
    controller_canonical_json(&b, v);
    util_buf_append(&b, "", 1);
    return b.data;
}

bool controller_revision_data_equal(const cJSON *a, const cJSON *b)
{
    if (!a || !b)
        return false;
    char *x = canonical_string(a), *y = canonical_string(b);
    bool eq = !strcmp(x, y);
    free(x);
    free(y);
    return eq;
}

cJSON *controller_revision_new(const cJSON *parent, const char *kind, const char *api_version,
                               const char *hash, const cJSON *data, int64_t revision)
{
    const cJSON *pm = get(parent, "metadata");
    const char *name = cJSON_GetStringValue(get(pm, "name"));
    const char *uid = cJSON_GetStringValue(get(pm, "uid"));
    cJSON *cr = cJSON_CreateObject();
    cJSON_AddStringToObject(cr, "apiVersion", "apps/v1");
    cJSON_AddStringToObject(cr, "kind", "ControllerRevision");
    cJSON *m = cJSON_AddObjectToObject(cr, "metadata");
    char *full = util_strdup_printf("%s-%s", name ? name : "", hash);
    cJSON_AddStringToObject(m, "name", full);
    free(full);
    const char *ns = cJSON_GetStringValue(get(pm, "namespace"));
    if (ns)
        cJSON_AddStringToObject(m, "namespace", ns);
    const cJSON *tl = get(get(get(get(parent, "spec"), "template"), "metadata"), "labels");
    cJSON *labels = cJSON_IsObject(tl) ? cJSON_Duplicate(tl, true) : cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(labels, CONTROLLER_REVISION_HASH_LABEL);
    cJSON_AddStringToObject(labels, CONTROLLER_REVISION_HASH_LABEL, hash);
    cJSON_AddItemToObject(m, "labels", labels);
    if (cJSON_IsObject(get(pm, "annotations")))
        cJSON_AddItemToObject(m, "annotations", cJSON_Duplicate(get(pm, "annotations"), true));
    cJSON *ref = cJSON_CreateObject();
    cJSON_AddStringToObject(ref, "apiVersion", api_version);
    cJSON_AddStringToObject(ref, "kind", kind);
    cJSON_AddStringToObject(ref, "name", name ? name : "");
    cJSON_AddStringToObject(ref, "uid", uid ? uid : "");
    cJSON_AddBoolToObject(ref, "controller", true);
    cJSON_AddBoolToObject(ref, "blockOwnerDeletion", true);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(m, "ownerReferences"), ref);
    cJSON_AddItemToObject(cr, "data", cJSON_Duplicate(data, true));
    cJSON_AddNumberToObject(cr, "revision", (double)revision);
    return cr;
}

int64_t controller_revision_number(const cJSON *rev)
{
    const cJSON *v = get(rev, "revision");
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static int cmp_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

static int cmp_revisions(const void *pa, const void *pb)
{
    const cJSON *a = *(const cJSON *const *)pa, *b = *(const cJSON *const *)pb;
    int64_t ra = controller_revision_number(a), rb = controller_revision_number(b);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    const cJSON *ma = get(a, "metadata"), *mb = get(b, "metadata");
    /* RFC 3339 in UTC orders as text */
    int c = cmp_str(cJSON_GetStringValue(get(ma, "creationTimestamp")),
                    cJSON_GetStringValue(get(mb, "creationTimestamp")));
    return c ? c
             : cmp_str(cJSON_GetStringValue(get(ma, "name")),
                       cJSON_GetStringValue(get(mb, "name")));
}

void controller_revisions_sort(const cJSON **revs, size_t n)
{
    if (n > 1)
        qsort(revs, n, sizeof(*revs), cmp_revisions);
}

int64_t controller_revisions_next(const cJSON *const *revs, size_t n)
{
    int64_t max = 0;
    for (size_t i = 0; i < n; i++)
        if (controller_revision_number(revs[i]) > max)
            max = controller_revision_number(revs[i]);
    return max + 1;
}

static bool is_live(const cJSON *rev, const char *const *live, size_t nlive)
{
    const char *name = cJSON_GetStringValue(get(get(rev, "metadata"), "name"));
    for (size_t i = 0; name && i < nlive; i++)
        if (live[i] && !strcmp(live[i], name))
            return true;
    return false;
}

size_t controller_revisions_prune(const cJSON *const *revs, size_t n, const char *const *live,
                                  size_t nlive, int64_t limit, size_t *ret_idx)
{
    size_t dead = 0, out = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_live(revs[i], live, nlive))
            dead++;
    if (limit < 0)
        limit = 0;
    if ((int64_t)dead <= limit)
        return 0;
    size_t excess = dead - (size_t)limit;
    for (size_t i = 0; i < n && out < excess; i++)
        if (!is_live(revs[i], live, nlive))
            ret_idx[out++] = i;
    return out;
}

cJSON *controller_revision_template(const cJSON *rev)
{
    const cJSON *t = get(get(get(rev, "data"), "spec"), "template");
    if (!cJSON_IsObject(t))
        return NULL;
    cJSON *dup = cJSON_Duplicate(t, true);
    cJSON_DeleteItemFromObjectCaseSensitive(dup, "$patch");
    return dup;
}
