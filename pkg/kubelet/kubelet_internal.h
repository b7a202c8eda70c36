/* kubelet_internal: the kubelet's state, shared by its files (not part of the interface). */
#ifndef KUBELING_KUBELET_INTERNAL_H
#define KUBELING_KUBELET_INTERNAL_H

#include "kubelet/kubelet.h"

typedef enum {
    KUBELET_REG_NONE,    /* not registered (yet, or the Node was deleted) */
    KUBELET_REG_LISTING, /* reading the nodes: does ours exist, which pod CIDRs are taken */
    KUBELET_REG_WRITING, /* creating the Node, or adopting the one that exists */
    KUBELET_REG_DONE,
} kubelet_reg_t;

struct kubelet {
    uv_loop_t *loop;
    char *name, *storage_dir, *cluster_cidr, *kube_version, *runtime_version;
    bool control_plane;
    bool self_pod_cidr; /* picks its pod CIDR (else waits for the node IPAM controller's) */
    int max_pods, node_cidr_mask; /* --max-pods, --node-cidr-mask-size */
    util_strv_t labels;
    uint64_t lease_interval_ms, status_interval_ms;
    kubelet_host_t host;
    client_t *client;
    client_informer_t *node_informer; /* our Node only (metadata.name field selector) */
    uv_timer_t tick;                  /* heartbeat: lease, then status when due or changed */
    uv_timer_t reg_timer;             /* registration retries */
    int handles;
    bool stopping, announced, announced_wait;
    kubelet_reg_t reg;
    client_backoff_t reg_backoff, lease_backoff;
    client_req_t *reg_req, *lease_req, *status_req;
    char *pod_cidr, *node_uid; /* pod_cidr: the pod network's; set once, never changed */
    char *saved_pod_cidr;      /* as in <data-dir>/agent/pod-cidr (kubelet_podcidr.c) */
    bool pod_cidr_known;       /* pod_cidr (or a newer one) seen on the Node in this run */
    cJSON *conditions;         /* as last posted: keeps lastTransitionTime */
    cJSON *lease;              /* the Lease as last read or written */
    char *fingerprint;         /* the status last posted, without heartbeat times */
    char *pending_fingerprint;
    uint64_t last_status_ms;
    struct kubelet_pods *pods; /* kubelet_pods.c: NULL until registered */
    char *runtime_dir, *cgroup_root;
    struct kserver *server; /* the kubelet API (kubelet_server.c), NULL when not served */
    int api_port;           /* its port, advertised in the Node's daemonEndpoints */
    int64_t log_max_size;
    int log_max_files;
    images_registries_t *registries; /* registries.yaml, NULL when there is none */
    char *manifest_dir;     /* static pods: --pod-manifest-path, <data-dir>/agent/pod-manifests */
    kubelet_dns_conf_t dns; /* pod resolv.conf (kubelet_dns.c); read-only after start */
};

/* kubelet.c */
void kubelet__now(char *out, size_t n, bool micro);
void kubelet__registered(kubelet_t *k, const cJSON *node);
void kubelet__status_sync(kubelet_t *k, bool force);
void kubelet__lease_done(kubelet_t *k, bool ok);
/* Drops one of k->handles (a closed handle or a finished thread-pool job); frees k at zero. */
void kubelet__handle_release(kubelet_t *k);

/* kubelet_register.c: (re)registers the Node; safe to call at any time. */
void kubelet__register(kubelet_t *k);

/* kubelet_podcidr.c: the pod CIDR saved by an earlier run (at start), and the one of our Node
 * (registration's answer or the informer); pods on the pod network wait while none is known. */
void kubelet__pod_cidr_load(kubelet_t *k);
void kubelet__pod_cidr_take(kubelet_t *k, const char *cidr);
void kubelet__pod_cidr_seen(kubelet_t *k, const cJSON *node);

/* kubelet_lease.c: creates or renews the Lease, then calls kubelet__lease_done. */
void kubelet__lease_sync(kubelet_t *k);

/* kubelet_pods.c: starts the pod machinery once the Node (and its pod CIDR) is known; stops
 * it (running containers stay: their shims outlive us). */
void kubelet__pods_start(kubelet_t *k);
void kubelet__pods_stop(kubelet_t *k);
/* kubelet_pods_offline.c: the pod CIDR became known: pods waiting for the pod network go on;
 * the Node is registered: mirror pods can be made (they name it as their owner). */
void kubelet__pods_network_ready(kubelet_t *k);
void kubelet__pods_registered(kubelet_t *k);

/* kubelet_server.c: the kubelet API on its own threads; stop joins them. */
int kubelet__server_start(kubelet_t *k, const kubelet_opts_t *o, util_error_t *err);
void kubelet__server_stop(kubelet_t *k);

#endif
