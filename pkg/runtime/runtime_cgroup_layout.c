/* runtime_cgroup_layout: the cgroup layout the runtime detected, handed to each shim in its
 * config.json ("cgroupLayout"), so that a shim does not read /proc/self/mountinfo: that file
 * holds every pod's namespace bind mounts (three per pod), so reading and parsing it per
 * container cost O(pods) per pod. */
#include "runtime_internal.h"

#include <errno.h>
#include <string.h>

void runtime__cgroups_to_json(cJSON *o, const runtime__cgroups_t *cg)
{
    cJSON *l = cJSON_AddObjectToObject(o, "cgroupLayout");
    cJSON_AddNumberToObject(l, "mode", cg->mode);
    cJSON *a = cJSON_AddArrayToObject(l, "hierarchies");
    for (size_t i = 0; i < cg->n; i++) {
        cJSON *h = cJSON_CreateObject();
        cJSON_AddStringToObject(h, "mountpoint", cg->h[i].mountpoint);
        cJSON_AddStringToObject(h, "controllers", cg->h[i].controllers);
        cJSON_AddBoolToObject(h, "unified", cg->h[i].unified);
        cJSON_AddItemToArray(a, h);
    }
}

static bool copy_field(const cJSON *h, const char *k, char *dst, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(h, k);
    return cJSON_IsString(v) && util_strlcpy(dst, v->valuestring, len) == 0;
}

int runtime__cgroups_from_json(const cJSON *o, runtime__cgroups_t *ret)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "cgroupLayout");
    if (!l)
        return 0;
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(l, "mode");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(l, "hierarchies");
    if (!cJSON_IsNumber(mode) || !cJSON_IsArray(a))
        return -EINVAL;
    runtime__cgroups_t cg = {0};
    if (mode->valuedouble != RUNTIME_CGROUP_V1 && mode->valuedouble != RUNTIME_CGROUP_V2 &&
        mode->valuedouble != RUNTIME_CGROUP_HYBRID)
        return -EINVAL;
    cg.mode = (runtime_cgroup_mode_t)mode->valueint;
    const cJSON *h;
    cJSON_ArrayForEach(h, a)
    {
        if (cg.n >= RUNTIME_CG_MAX)
            return -EINVAL;
        runtime__hierarchy_t *d = &cg.h[cg.n++];
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(h, "unified");
        if (!copy_field(h, "mountpoint", d->mountpoint, sizeof(d->mountpoint)) ||
            d->mountpoint[0] != '/' ||
            !copy_field(h, "controllers", d->controllers, sizeof(d->controllers)) ||
            !cJSON_IsBool(u))
            return -EINVAL;
        d->unified = cJSON_IsTrue(u);
    }
    if (cg.n == 0)
        return -EINVAL;
    *ret = cg;
    return 1;
}
