/* kubelet_podcidr: the node's pod CIDR comes from the Node: written by the controller manager's
 * node IPAM controller (or picked at registration when the server runs none). The pod machinery
 * (and with it the pod network on that subnet) starts only once the Node has one: until then
 * the node is registered and heartbeating, and the pods bound to it wait, as upstream's kubelet
 * keeps the network not ready until spec.podCIDR appears. */
#include "kubelet_internal.h"

#include <stdlib.h>
#include <string.h>

static const char *node_pod_cidr(const cJSON *node)
{
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(node, "spec");
    const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "podCIDR"));
    if (c && *c)
        return c;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(spec, "podCIDRs");
    c = cJSON_IsArray(list) ? cJSON_GetStringValue(cJSON_GetArrayItem(list, 0)) : NULL;
    return c && *c ? c : NULL;
}

void kubelet__pod_cidr_seen(kubelet_t *k, const cJSON *node)
{
    const char *cidr = node_pod_cidr(node);
    if (cidr && !k->pod_cidr) {
        k->pod_cidr = util_xstrdup(cidr);
        util_log_info("kubelet: node %s: pod CIDR %s", k->name, cidr);
    } else if (cidr && strcmp(cidr, k->pod_cidr)) {
        /* spec.podCIDR is immutable once set; a Node deleted and created again may carry another:
         * the pod network keeps the subnet it was set up with until the kubelet restarts */
        util_log_warn("kubelet: node %s: pod CIDR is now %s; pods keep using %s until a restart",
                      k->name, cidr, k->pod_cidr);
    }
    if (k->reg != KUBELET_REG_DONE || k->pods)
        return;
    if (k->pod_cidr)
        kubelet__pods_start(k);
    else if (!k->announced_wait) {
        k->announced_wait = true;
        util_log_info("kubelet: node %s: waiting for the controller manager to assign its pod "
                      "CIDR; pods start then",
                      k->name);
    }
}
