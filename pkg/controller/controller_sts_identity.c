/* controller_sts_identity: a StatefulSet pod's stable identity (upstream stateful_set_utils.go):
 * the name `<set>-<ordinal>`, hostname and subdomain, the identity labels, and the claims
 * `<claim>-<set>-<ordinal>` from volumeClaimTemplates wired into the pod. */
#include "controller/controller.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *str(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(get(o, k));
}

bool controller_sts_ordinal(const char *set, const char *pod, int64_t *ret)
{
    if (!set || !pod)
        return false;
    size_t sl = strlen(set);
    if (strncmp(pod, set, sl) || pod[sl] != '-')
        return false;
    const char *d = pod + sl + 1;
    size_t n = strlen(d);
    if (n == 0 || n > 10)
        return false;
    for (size_t i = 0; i < n; i++)
        if (d[i] < '0' || d[i] > '9')
            return false;
    /* upstream's regexp `(.*)-([0-9]+)$` takes the last dash: "web-1" is not a pod of "web-"
     * and "web-01" parses as 1 but is not the name web's ordinal 1 gets */
    char *end = NULL;
    errno = 0;
    long long v = strtoll(d, &end, 10);
    if (errno || v < 0 || v > 2147483647)
        return false;
    char canon[16];
    snprintf(canon, sizeof(canon), "%lld", v);
    if (strcmp(canon, d))
        return false;
    *ret = v;
    return true;
}

char *controller_sts_claim_name(const char *claim, const char *set, int64_t ordinal)
{
    return util_strdup_printf("%s-%s-%lld", claim, set, (long long)ordinal);
}

static void set_label(cJSON *labels, const char *k, const char *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(labels, k);
    cJSON_AddStringToObject(labels, k, v);
}

/* upstream updateStorage: each claim template becomes a volume of the same name, replacing a
 * template volume of that name. */
static void wire_claims(cJSON *spec, const cJSON *set, int64_t ordinal)
{
    const char *setname = str(get(set, "metadata"), "name");
    const cJSON *cts = get(get(set, "spec"), "volumeClaimTemplates");
    if (!cJSON_IsArray(cts) || cJSON_GetArraySize(cts) == 0)
        return;
    cJSON *vols = cJSON_GetObjectItemCaseSensitive(spec, "volumes");
    if (!cJSON_IsArray(vols)) {
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "volumes");
        vols = cJSON_AddArrayToObject(spec, "volumes");
    }
    const cJSON *ct;
    cJSON_ArrayForEach(ct, cts)
    {
        const char *cn = str(get(ct, "metadata"), "name");
        if (!cn)
            continue;
        for (int i = cJSON_GetArraySize(vols) - 1; i >= 0; i--) {
            const char *vn = str(cJSON_GetArrayItem(vols, i), "name");
            if (vn && !strcmp(vn, cn))
                cJSON_DeleteItemFromArray(vols, i);
        }
        char *claim = controller_sts_claim_name(cn, setname, ordinal);
        cJSON *v = cJSON_CreateObject();
        cJSON_AddStringToObject(v, "name", cn);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(v, "persistentVolumeClaim"), "claimName",
                                claim);
        cJSON_AddItemToArray(vols, v);
        free(claim);
    }
}

cJSON *controller_sts_pod(const cJSON *set, const cJSON *tmpl, const char *revision,
                          int64_t ordinal)
{
    const cJSON *sm = get(set, "metadata");
    const char *setname = str(sm, "name"), *uid = str(sm, "uid");
    char idx[24];
    /* not truncated: a name too long is the apiserver's to refuse, never another pod's name */
    char *name = util_strdup_printf("%s-%lld", setname ? setname : "", (long long)ordinal);
    snprintf(idx, sizeof(idx), "%lld", (long long)ordinal);
    cJSON *pod = cJSON_CreateObject();
    cJSON_AddStringToObject(pod, "apiVersion", "v1");
    cJSON_AddStringToObject(pod, "kind", "Pod");
    cJSON *pm = cJSON_AddObjectToObject(pod, "metadata");
    cJSON_AddStringToObject(pm, "name", name);
    if (str(sm, "namespace"))
        cJSON_AddStringToObject(pm, "namespace", str(sm, "namespace"));
    const cJSON *tm = get(tmpl, "metadata");
    cJSON *labels = cJSON_IsObject(get(tm, "labels")) ? cJSON_Duplicate(get(tm, "labels"), true)
                                                      : cJSON_CreateObject();
    set_label(labels, CONTROLLER_STS_POD_NAME_LABEL, name);
    set_label(labels, CONTROLLER_STS_POD_INDEX_LABEL, idx);
    if (revision)
        set_label(labels, CONTROLLER_REVISION_HASH_LABEL, revision);
    cJSON_AddItemToObject(pm, "labels", labels);
    if (cJSON_IsObject(get(tm, "annotations")))
        cJSON_AddItemToObject(pm, "annotations", cJSON_Duplicate(get(tm, "annotations"), true));
    if (cJSON_IsArray(get(tm, "finalizers")))
        cJSON_AddItemToObject(pm, "finalizers", cJSON_Duplicate(get(tm, "finalizers"), true));
    cJSON *ref = cJSON_CreateObject();
    cJSON_AddStringToObject(ref, "apiVersion", "apps/v1");
    cJSON_AddStringToObject(ref, "kind", "StatefulSet");
    cJSON_AddStringToObject(ref, "name", setname ? setname : "");
    cJSON_AddStringToObject(ref, "uid", uid ? uid : "");
    cJSON_AddBoolToObject(ref, "controller", true);
    cJSON_AddBoolToObject(ref, "blockOwnerDeletion", true);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(pm, "ownerReferences"), ref);
    cJSON *spec = cJSON_IsObject(get(tmpl, "spec")) ? cJSON_Duplicate(get(tmpl, "spec"), true)
                                                    : cJSON_CreateObject();
    /* upstream initIdentity: the pod is reachable as <name>.<serviceName> */
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "hostname");
    cJSON_AddStringToObject(spec, "hostname", name);
    const char *svc = str(get(set, "spec"), "serviceName");
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "subdomain");
    if (svc && *svc)
        cJSON_AddStringToObject(spec, "subdomain", svc);
    wire_claims(spec, set, ordinal);
    cJSON_AddItemToObject(pod, "spec", spec);
    free(name);
    return pod;
}

cJSON *controller_sts_claim(const cJSON *set, const cJSON *ct, int64_t ordinal)
{
    const cJSON *sm = get(set, "metadata");
    const char *cn = str(get(ct, "metadata"), "name");
    char *name = controller_sts_claim_name(cn ? cn : "", str(sm, "name"), ordinal);
    cJSON *pvc = cJSON_CreateObject();
    cJSON_AddStringToObject(pvc, "apiVersion", "v1");
    cJSON_AddStringToObject(pvc, "kind", "PersistentVolumeClaim");
    cJSON *m = cJSON_AddObjectToObject(pvc, "metadata");
    cJSON_AddStringToObject(m, "name", name);
    free(name);
    if (str(sm, "namespace"))
        cJSON_AddStringToObject(m, "namespace", str(sm, "namespace"));
    const cJSON *cm = get(ct, "metadata");
    cJSON *labels = cJSON_IsObject(get(cm, "labels")) ? cJSON_Duplicate(get(cm, "labels"), true)
                                                      : cJSON_CreateObject();
    const cJSON *ml = get(get(get(set, "spec"), "selector"), "matchLabels"), *l;
    cJSON_ArrayForEach(l, ml)
    {
        if (cJSON_IsString(l))
            set_label(labels, l->string, l->valuestring);
    }
    cJSON_AddItemToObject(m, "labels", labels);
    if (cJSON_IsObject(get(cm, "annotations")))
        cJSON_AddItemToObject(m, "annotations", cJSON_Duplicate(get(cm, "annotations"), true));
    cJSON *spec = cJSON_IsObject(get(ct, "spec")) ? cJSON_Duplicate(get(ct, "spec"), true)
                                                  : cJSON_CreateObject();
    cJSON_AddItemToObject(pvc, "spec", spec);
    return pvc;
}
