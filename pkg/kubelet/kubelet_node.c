/* kubelet_node: the Node object: labels, capacity, addresses, nodeInfo, conditions, pod CIDR. */
#include "kubelet/kubelet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MEMORY_EVICTION_BYTES (100ull << 20) /* upstream's memory.available<100Mi */
#define NODEFS_EVICTION_PCT   10             /* upstream's nodefs.available<10% */

void kubelet_quantity_binary(uint64_t bytes, char *out, size_t n)
{
    static const char *const suffixes[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    int k = -1;
    uint64_t v = bytes;
    while (v && v % 1024 == 0 && k + 1 < (int)UTIL_ARRAY_SIZE(suffixes)) {
        v /= 1024;
        k++;
    }
    snprintf(out, n, "%llu%s", (unsigned long long)v, k >= 0 ? suffixes[k] : "");
}

/* ---- labels --------------------------------------------------------------------------------- */

/* What upstream's kubelet and k3s set: hostname, os and arch (also the beta keys), the
 * instance type k3s reports as "k3s", and on servers the control-plane and master roles. */
cJSON *kubelet_node_labels(const kubelet_node_params_t *p)
{
    const char *arch = kubelet_go_arch(NULL);
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "beta.kubernetes.io/arch", arch);
    cJSON_AddStringToObject(l, "beta.kubernetes.io/instance-type", "kubeling");
    cJSON_AddStringToObject(l, "beta.kubernetes.io/os", "linux");
    cJSON_AddStringToObject(l, "kubernetes.io/arch", arch);
    cJSON_AddStringToObject(l, "kubernetes.io/hostname", p->name);
    cJSON_AddStringToObject(l, "kubernetes.io/os", "linux");
    cJSON_AddStringToObject(l, "node.kubernetes.io/instance-type", "kubeling");
    if (p->control_plane) {
        cJSON_AddStringToObject(l, "node-role.kubernetes.io/control-plane", "true");
        cJSON_AddStringToObject(l, "node-role.kubernetes.io/master", "true");
    }
    for (size_t i = 0; i < p->nlabels; i++) {
        const char *eq = strchr(p->labels[i], '=');
        if (!eq)
            continue;
        char *key = util_strdup_printf("%.*s", (int)(eq - p->labels[i]), p->labels[i]);
        cJSON_DeleteItemFromObjectCaseSensitive(l, key);
        cJSON_AddStringToObject(l, key, eq + 1);
        free(key);
    }
    return l;
}

/* ---- status --------------------------------------------------------------------------------- */

static void add_resources(cJSON *status, const char *field, const kubelet_host_t *h, int max_pods)
{
    char buf[32];
    cJSON *r = cJSON_AddObjectToObject(status, field);
    snprintf(buf, sizeof(buf), "%ld", h->cpus > 0 ? h->cpus : 1);
    cJSON_AddStringToObject(r, "cpu", buf);
    kubelet_quantity_binary(h->storage_bytes, buf, sizeof(buf));
    cJSON_AddStringToObject(r, "ephemeral-storage", buf);
    kubelet_quantity_binary(h->memory_bytes, buf, sizeof(buf));
    cJSON_AddStringToObject(r, "memory", buf);
    snprintf(buf, sizeof(buf), "%d", max_pods > 0 ? max_pods : KUBELET_MAX_PODS);
    cJSON_AddStringToObject(r, "pods", buf);
}

static void add_address(cJSON *arr, const char *type, const char *address)
{
    if (!address || !*address)
        return;
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "type", type);
    cJSON_AddStringToObject(a, "address", address);
    cJSON_AddItemToArray(arr, a);
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

cJSON *kubelet_node_status(const kubelet_host_t *h, const kubelet_node_params_t *p)
{
    cJSON *st = cJSON_CreateObject();
    add_resources(st, "capacity", h, p->max_pods);
    add_resources(st, "allocatable", h,
                  p->max_pods); /* nothing reserved yet (no --kube-reserved) */
    cJSON *addrs = cJSON_AddArrayToObject(st, "addresses");
    add_address(addrs, "InternalIP", h->internal_ip);
    add_address(addrs, "Hostname", p->name);
    cJSON *ep =
        cJSON_AddObjectToObject(cJSON_AddObjectToObject(st, "daemonEndpoints"), "kubeletEndpoint");
    cJSON_AddNumberToObject(ep, "Port", p->kubelet_port > 0 ? p->kubelet_port : KUBELET_PORT);
    cJSON *info = cJSON_AddObjectToObject(st, "nodeInfo");
    cJSON_AddStringToObject(info, "machineID", or_empty(h->machine_id));
    cJSON_AddStringToObject(info, "systemUUID", or_empty(h->system_uuid));
    cJSON_AddStringToObject(info, "bootID", or_empty(h->boot_id));
    cJSON_AddStringToObject(info, "kernelVersion", or_empty(h->kernel_version));
    cJSON_AddStringToObject(info, "osImage", h->os_image ? h->os_image : "Linux");
    char *rt = util_strdup_printf("kubeling://%s", or_empty(p->runtime_version));
    cJSON_AddStringToObject(info, "containerRuntimeVersion", rt);
    free(rt);
    cJSON_AddStringToObject(info, "kubeletVersion", or_empty(p->kube_version));
    cJSON_AddStringToObject(info, "kubeProxyVersion", or_empty(p->kube_version));
    cJSON_AddStringToObject(info, "operatingSystem", "linux");
    cJSON_AddStringToObject(info, "architecture", h->architecture ? h->architecture : "");
    return st;
}

/* ---- conditions ----------------------------------------------------------------------------- */

typedef struct condition_text {
    const char *type;
    const char *reason_ok, *message_ok; /* the healthy state */
    const char *reason_bad, *message_bad;
} condition_text_t;

/* pkg/kubelet/nodestatus/setters.go */
static const condition_text_t conditions[] = {
    {"MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available",
     "KubeletHasInsufficientMemory", "kubelet has insufficient memory available"},
    {"DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure",
     "KubeletHasDiskPressure", "kubelet has disk pressure"},
    {"PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available",
     "KubeletHasInsufficientPID", "kubelet has insufficient PID available"},
    {"Ready", "KubeletReady", "kubelet is posting ready status", "KubeletNotReady",
     "kubelet is not ready"},
};

static const cJSON *find_condition(const cJSON *list, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, list)
    {
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "type"));
        if (t && !strcmp(t, type))
            return c;
    }
    return NULL;
}

cJSON *kubelet_node_conditions(const kubelet_pressure_t *p, const char *now, const char *heartbeat,
                               const cJSON *previous)
{
    bool bad[] = {p->memory, p->disk, p->pid, false};
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(conditions); i++) {
        const condition_text_t *t = &conditions[i];
        bool is_ready = i == 3;
        /* pressure conditions are healthy when False, Ready when True */
        const char *status = is_ready || bad[i] ? "True" : "False";
        const cJSON *prev = find_condition(previous, t->type);
        const char *prev_status =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(prev, "status"));
        const char *prev_time =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(prev, "lastTransitionTime"));
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "type", t->type);
        cJSON_AddStringToObject(c, "status", status);
        if (heartbeat)
            cJSON_AddStringToObject(c, "lastHeartbeatTime", heartbeat);
        cJSON_AddStringToObject(c, "lastTransitionTime",
                                prev_status && prev_time && !strcmp(prev_status, status) ? prev_time
                                                                                         : now);
        cJSON_AddStringToObject(c, "reason", bad[i] ? t->reason_bad : t->reason_ok);
        cJSON_AddStringToObject(c, "message", bad[i] ? t->message_bad : t->message_ok);
        cJSON_AddItemToArray(arr, c);
    }
    return arr;
}

kubelet_pressure_t kubelet_host_pressure(const kubelet_host_t *h)
{
    kubelet_pressure_t p = {0};
    p.memory = h->memory_bytes && h->memory_available < MEMORY_EVICTION_BYTES;
    p.disk = h->storage_bytes &&
             h->storage_available * 100 < h->storage_bytes * (uint64_t)NODEFS_EVICTION_PCT;
    return p;
}

/* ---- the object ----------------------------------------------------------------------------- */

cJSON *kubelet_node_object(const kubelet_host_t *h, const kubelet_node_params_t *p,
                           cJSON *conditions_arr)
{
    cJSON *node = cJSON_CreateObject();
    cJSON_AddStringToObject(node, "apiVersion", "v1");
    cJSON_AddStringToObject(node, "kind", "Node");
    cJSON *meta = cJSON_AddObjectToObject(node, "metadata");
    cJSON_AddStringToObject(meta, "name", p->name);
    cJSON_AddItemToObject(meta, "labels", kubelet_node_labels(p));
    cJSON *ann = cJSON_AddObjectToObject(meta, "annotations");
    cJSON_AddStringToObject(ann, "volumes.kubernetes.io/controller-managed-attach-detach", "true");
    cJSON *spec = cJSON_AddObjectToObject(node, "spec");
    if (p->pod_cidr) {
        cJSON_AddStringToObject(spec, "podCIDR", p->pod_cidr);
        cJSON *cidrs = cJSON_AddArrayToObject(spec, "podCIDRs");
        cJSON_AddItemToArray(cidrs, cJSON_CreateString(p->pod_cidr));
    }
    char *provider = util_strdup_printf("kubeling://%s", p->name);
    cJSON_AddStringToObject(spec, "providerID", provider);
    free(provider);
    cJSON *status = kubelet_node_status(h, p);
    if (conditions_arr)
        cJSON_AddItemToObject(status, "conditions", conditions_arr);
    cJSON_AddItemToObject(node, "status", status);
    return node;
}

/* ---- pod CIDR ------------------------------------------------------------------------------- */

int kubelet_pick_pod_cidr(const char *cluster_cidr, const cJSON *items, const char *self, char *out,
                          size_t n)
{
    return kubelet_pick_pod_cidr_mask(cluster_cidr, KUBELET_NODE_CIDR_MASK, items, self, out, n);
}

int kubelet_pick_pod_cidr_mask(const char *cluster_cidr, int mask, const cJSON *items,
                               const char *self, char *out, size_t n)
{
    char ip[32];
    const char *slash = strchr(cluster_cidr, '/');
    long prefix;
    struct in_addr base;
    if (!slash || (size_t)(slash - cluster_cidr) >= sizeof(ip) || mask < 16 || mask > 30)
        return -EINVAL;
    snprintf(ip, sizeof(ip), "%.*s", (int)(slash - cluster_cidr), cluster_cidr);
    if (inet_pton(AF_INET, ip, &base) != 1 || util_parse_long(slash + 1, 8, mask, &prefix) < 0)
        return -EINVAL;
    uint32_t start = ntohl(base.s_addr) & (uint32_t)(0xffffffffull << (32 - prefix));
    uint32_t count = 1u << (mask - prefix);
    for (uint32_t i = 0; i < count; i++) {
        struct in_addr a = {.s_addr = htonl(start + (i << (32 - mask)))};
        char cand[48];
        inet_ntop(AF_INET, &a, ip, sizeof(ip));
        snprintf(cand, sizeof(cand), "%s/%d", ip, mask);
        bool taken = false;
        const cJSON *node;
        cJSON_ArrayForEach(node, items)
        {
            const cJSON *meta = cJSON_GetObjectItemCaseSensitive(node, "metadata");
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "name"));
            const char *cidr = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(node, "spec"), "podCIDR"));
            if (cidr && !strcmp(cidr, cand) && !(name && self && !strcmp(name, self)))
                taken = true;
        }
        if (!taken)
            return util_snprintf(out, n, "%s", cand);
    }
    return -ENOSPC;
}
