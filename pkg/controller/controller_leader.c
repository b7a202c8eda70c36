/* controller_leader: the leader-election decisions (client-go's tryAcquireOrRenew): may we take
 * the Lease, and the Lease we write. The requests are made by controller_run.c. */
#include "controller/controller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *lease_str(const cJSON *lease, const char *k)
{
    return cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(lease, "spec"), k));
}

bool controller_lease_may_take(controller_lease_obs_t *o, const cJSON *lease, const char *id,
                               uint64_t now_ms)
{
    if (!lease)
        return true;
    const char *holder = lease_str(lease, "holderIdentity");
    const char *renew = lease_str(lease, "renewTime");
    char *record = util_strdup_printf("%s|%s", holder ? holder : "", renew ? renew : "");
    if (!o->record || strcmp(o->record, record)) { /* changed: the holder is alive now */
        free(o->record);
        o->record = record;
        o->at_ms = now_ms;
    } else {
        free(record);
    }
    if (!holder || !*holder || !strcmp(holder, id))
        return true;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(lease, "spec"), "leaseDurationSeconds");
    uint64_t dur = cJSON_IsNumber(d) && d->valuedouble > 0 && d->valuedouble < 86400
                       ? (uint64_t)d->valuedouble
                       : CONTROLLER_LEASE_DURATION_S;
    return now_ms >= o->at_ms + dur * 1000;
}

cJSON *controller_lease_claim(const cJSON *lease, const char *id, int64_t now_s)
{
    cJSON *l = lease ? cJSON_Duplicate(lease, true) : NULL;
    if (!l) {
        l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "apiVersion", "coordination.k8s.io/v1");
        cJSON_AddStringToObject(l, "kind", "Lease");
        cJSON *m = cJSON_AddObjectToObject(l, "metadata");
        cJSON_AddStringToObject(m, "name", "kube-controller-manager");
        cJSON_AddStringToObject(m, "namespace", "kube-system");
    }
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(l, "spec");
    if (!cJSON_IsObject(spec)) {
        cJSON_DeleteItemFromObjectCaseSensitive(l, "spec");
        spec = cJSON_AddObjectToObject(l, "spec");
    }
    const char *holder = lease_str(l, "holderIdentity");
    bool same = holder && !strcmp(holder, id);
    char t[32], micro[40];
    controller_format_time(now_s, t);
    snprintf(micro, sizeof(micro), "%.19s.000000Z", t);
    if (!same) {
        const cJSON *tr = cJSON_GetObjectItemCaseSensitive(spec, "leaseTransitions");
        int64_t n = cJSON_IsNumber(tr) ? (int64_t)tr->valuedouble : 0;
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "leaseTransitions");
        cJSON_AddNumberToObject(spec, "leaseTransitions",
                                (double)(lease && holder && *holder ? n + 1 : n));
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "acquireTime");
        cJSON_AddStringToObject(spec, "acquireTime", micro);
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "holderIdentity");
        cJSON_AddStringToObject(spec, "holderIdentity", id);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "renewTime");
    cJSON_AddStringToObject(spec, "renewTime", micro);
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "leaseDurationSeconds");
    cJSON_AddNumberToObject(spec, "leaseDurationSeconds", CONTROLLER_LEASE_DURATION_S);
    return l;
}

void controller_lease_obs_free(controller_lease_obs_t *o)
{
    free(o->record);
    o->record = NULL;
}
