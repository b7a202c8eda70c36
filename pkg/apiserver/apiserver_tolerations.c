/* apiserver_tolerations: upstream's DefaultTolerationSeconds admission plugin. Pods that say
 * nothing about nodes going not-ready or unreachable tolerate it for 300 s, so the node
 * lifecycle controller evicts them 5 minutes after their node's NoExecute taint. */
#include "apiserver_tolerations.h"

#include <string.h>

#include "apiserver_registry.h"

static bool tolerates(const cJSON *tols, const char *key)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, tols)
    {
        const char *k = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "key"));
        const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "effect"));
        if ((!k || !*k || !strcmp(k, key)) && (!e || !*e || !strcmp(e, "NoExecute")))
            return true;
    }
    return false;
}

static void add(cJSON *tols, const char *key)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "key", key);
    cJSON_AddStringToObject(t, "operator", "Exists");
    cJSON_AddStringToObject(t, "effect", "NoExecute");
    cJSON_AddNumberToObject(t, "tolerationSeconds", APISERVER_DEFAULT_TOLERATION_SECONDS);
    cJSON_AddItemToArray(tols, t);
}

void apiserver_tolerations_admit(const apiserver_target_t *t, cJSON *obj)
{
    if (!apiserver_reg_is(t->res, "pods"))
        return;
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    if (!cJSON_IsObject(spec))
        return; /* validation answers */
    cJSON *tols = cJSON_GetObjectItemCaseSensitive(spec, "tolerations");
    if (tols && !cJSON_IsArray(tols))
        return;
    bool nr = tolerates(tols, "node.kubernetes.io/not-ready");
    bool un = tolerates(tols, "node.kubernetes.io/unreachable");
    if (nr && un)
        return;
    if (!tols)
        tols = cJSON_AddArrayToObject(spec, "tolerations");
    if (!nr)
        add(tols, "node.kubernetes.io/not-ready");
    if (!un)
        add(tols, "node.kubernetes.io/unreachable");
}
