/* kubelet_admit: the kubelet's pod admission for the node's pod count (upstream's
 * lifecycle.PredicateAdmitHandler, its "pods" resource): a pod bound to this node is admitted
 * once, before its sandbox is made, if fewer than --max-pods admitted pods are still active;
 * otherwise it is rejected as upstream's rejectPod does: phase Failed, reason OutOfpods and the
 * message "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: N,
 * capacity: N", plus a Warning event of that reason. A rejected pod never runs. Pods whose
 * containers already exist (adopted after a restart) are admitted as they are. */
#include "kubelet/kubelet_pods_internal.h"

#include <stdio.h>
#include <string.h>

static bool terminal(const kpod_t *p)
{
    const char *phase = jstr(jget(p->obj, "status"), "phase");
    return phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"));
}

bool kubelet__pod_admit(kpod_t *p)
{
    if (p->admitted)
        return true;
    if (p->reject_reason)
        return false;
    bool existing = p->sandbox;
    for (size_t i = 0; i < p->n && !existing; i++)
        existing = p->ctrs[i].id[0] != 0;
    int max = p->ps->k->max_pods > 0 ? p->ps->k->max_pods : KUBELET_MAX_PODS;
    int used = 0;
    for (const kpod_t *q = p->ps->pods; q; q = q->next)
        if (q != p && q->admitted && !q->gone && !terminal(q))
            used++;
    if (existing || used < max) {
        p->admitted = true;
        return true;
    }
    p->reject_reason = util_xstrdup("OutOfpods");
    char msg[160];
    snprintf(msg, sizeof(msg),
             "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: %d, "
             "capacity: %d",
             used, max);
    p->reject_message = util_xstrdup(msg);
    util_log_info("kubelet: pod %s/%s rejected: %s", p->ns, p->name, msg);
    kubelet__pod_event(p, "Warning", p->reject_reason, "%s", msg);
    kubelet__pod_post_status(p);
    return false;
}

/* A rejected pod's status: upstream's rejectPod sets phase, reason and message only. */
void kubelet__pod_admit_status(const kpod_t *p, cJSON *status)
{
    if (!p->reject_reason)
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(status, "phase");
    /* nothing was created: no container states (kubectl then shows the reason) */
    cJSON_DeleteItemFromObjectCaseSensitive(status, "containerStatuses");
    cJSON_DeleteItemFromObjectCaseSensitive(status, "initContainerStatuses");
    cJSON_AddStringToObject(status, "phase", "Failed");
    cJSON_AddStringToObject(status, "reason", p->reject_reason);
    cJSON_AddStringToObject(status, "message", p->reject_message);
}
