/* role_node: the kubelet's flags, one table shared by `server` (its own node) and `agent`, and
 * the kubelet options they give. */
#include "roles.h"

#include <errno.h>

role_node_opts_t role_node = {
    .node_cidr_mask_size = KUBELET_NODE_CIDR_MASK,
    .max_pods = KUBELET_MAX_PODS,
    .kubelet_port = KUBELET_PORT,
    .log_max_files = KUBELET_LOG_MAX_FILES,
};

const util_flag_t role_node_flags[] = {
    {"node-name", 0, UTIL_FLAG_STRING, &role_node.node_name, "NAME",
     "name of this machine's node (default: the host name, lower-cased)", 0, 0, NULL},
    {"node-ip", 0, UTIL_FLAG_STRING, &role_node.node_ip, "IP",
     "InternalIP of the node (default: the address of the default-route interface)", 0, 0, NULL},
    {"node-label", 0, UTIL_FLAG_STRINGS, &role_node.node_labels, "KEY=VALUE",
     "extra label of the node (repeatable)", 0, 0, NULL},
    {"private-registry", 0, UTIL_FLAG_STRING, &role_node.private_registry, "FILE",
     "registries.yaml: mirrors, credentials and TLS per registry (default "
     "/etc/kubeling/registries.yaml)",
     0, 0, NULL},
    {"cluster-cidr", 0, UTIL_FLAG_STRING, &role_node.cluster_cidr, "CIDR",
     "IPv4 range for pod IPs, split into per-node ranges (default 10.42.0.0/16)", 0, 0, NULL},
    {"node-cidr-mask-size", 0, UTIL_FLAG_INT, &role_node.node_cidr_mask_size, "BITS",
     "prefix length of each node's pod range within --cluster-cidr (default 24)", 16, 30, NULL},
    {"max-pods", 0, UTIL_FLAG_INT, &role_node.max_pods, "N",
     "pods this node's kubelet can run: the node's pods capacity (default 110)", 1,
     KUBELET_MAX_PODS_LIMIT, NULL},
    {"kubelet-port", 0, UTIL_FLAG_INT, &role_node.kubelet_port, "PORT",
     "HTTPS port of the kubelet API (default 10250; 0: any free port)", 0, 65535, NULL},
    {"container-log-max-size", 0, UTIL_FLAG_STRING, &role_node.log_max_size, "SIZE",
     "size at which a container log is rotated (default 10Mi)", 0, 0, NULL},
    {"container-log-max-files", 0, UTIL_FLAG_INT, &role_node.log_max_files, "N",
     "container log files kept, the current one included (default 5)", 2, 100, NULL},
    {"pod-manifest-path", 0, UTIL_FLAG_STRING, &role_node.pod_manifest_path, "DIR",
     "static pod manifests (default <data-dir>/agent/pod-manifests)", 0, 0, NULL},
    {"cluster-dns", 0, UTIL_FLAG_STRING, &role_node.cluster_dns, "IP[,IP]",
     "nameservers of ClusterFirst pods (default 10.43.0.10; a server's: the 10th address of "
     "--service-cidr)",
     0, 0, NULL},
    {"cluster-domain", 0, UTIL_FLAG_STRING, &role_node.cluster_domain, "DOMAIN",
     "cluster domain of pods' DNS search paths (default cluster.local)", 0, 0, NULL},
    {"resolv-conf", 0, UTIL_FLAG_STRING, &role_node.resolv_conf, "FILE",
     "host resolver file of dnsPolicy Default pods (default: /etc/resolv.conf, or "
     "/run/systemd/resolve/resolv.conf when the first names only loopback nameservers)",
     0, 0, NULL},
    {0},
};

int role_node_kubelet_opts(kubelet_opts_t *o, util_error_t *err)
{
    int64_t log_size = 0;
    if (role_node.log_max_size && kubelet_parse_bytes(role_node.log_max_size, &log_size) < 0)
        return util_error_make(err, EINVAL, "--container-log-max-size: bad quantity `%s`",
                               role_node.log_max_size);
    o->node_name = role_node.node_name;
    o->node_ip = role_node.node_ip;
    o->labels = (const char *const *)role_node.node_labels.v;
    o->nlabels = role_node.node_labels.n;
    o->private_registry = role_node.private_registry;
    o->cluster_cidr = role_node.cluster_cidr;
    o->node_cidr_mask_size = (int)role_node.node_cidr_mask_size;
    o->max_pods = (int)role_node.max_pods;
    o->port = role_node.kubelet_port ? (int)role_node.kubelet_port : KUBELET_PORT_ANY;
    o->log_max_size = log_size;
    o->log_max_files = (int)role_node.log_max_files;
    o->pod_manifest_path = role_node.pod_manifest_path;
    o->cluster_dns = role_node.cluster_dns;
    o->cluster_domain = role_node.cluster_domain;
    o->resolv_conf = role_node.resolv_conf;
    return 0;
}
