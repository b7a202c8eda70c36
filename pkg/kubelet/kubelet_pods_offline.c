/* kubelet_pods_offline: the pod machinery while the apiserver does not answer. Upstream's kubelet
 * runs its static pods before any API exists (a control-plane node boots etcd and the apiserver
 * from them), so ours starts them as soon as the runtime is open, without waiting for its Node to
 * register or its pods to be listed; the pod network comes up on the pod CIDR of the last run
 * (kubelet_podcidr.c). What needs the API waits for it: mirror pods (they name the Node as their
 * owner), the status posts, and pods bound by the scheduler. See docs/kubelet.md#static-pods. */
#include "kubelet_pods_internal.h"

/* The runtime is open (W_INIT done). Before the first pod list only the static pods run: their
 * containers of an earlier run are adopted from the runtime's list (kubelet_pods.c adopts on
 * the first sync); orphans are removed later, once the list says which pods are gone. */
void kubelet__pods_static_early(kpods_t *ps)
{
    if (ps->started || !ps->ready)
        return;
    bool any = false;
    for (kpod_t *p = ps->pods, *next; p; p = next) {
        next = p->next;
        if (!p->is_static)
            continue;
        if (!any)
            util_log_info("kubelet: starting the static pods of node %s before the API answers",
                          ps->k->name);
        any = true;
        kubelet__pod_sync(p);
    }
}

bool kubelet__pod_network_wait(kpod_t *p)
{
    kpods_t *ps = p->ps;
    if (ps->k->pod_cidr || cJSON_IsTrue(jget(jget(p->obj, "spec"), "hostNetwork")))
        return false;
    if (!p->net_wait)
        util_log_info("kubelet: pod %s/%s waits for the node's pod CIDR (the pod network is not "
                      "ready)",
                      p->ns, p->name);
    p->net_wait = true;
    return true;
}

void kubelet__pods_network_ready(kubelet_t *k)
{
    kpods_t *ps = k->pods;
    if (!ps || ps->failed)
        return;
    kubelet__pods_reconcile(ps);
    for (kpod_t *p = ps->pods, *next; p; p = next) {
        next = p->next;
        if (!p->net_wait)
            continue;
        p->net_wait = false;
        kubelet__pod_sync(p);
    }
}

void kubelet__pods_registered(kubelet_t *k)
{
    if (k->pods)
        kubelet__static_synced(k->pods);
}
