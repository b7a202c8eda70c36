/* podnet: the pod network of one node (bridge, veth pairs, host-local IPAM, masquerade and
 * hostPorts); replaces the CNI bridge + host-local + portmap plugins. See docs/podnet.md. */
#ifndef KUBELING_PODNET_H
#define KUBELING_PODNET_H

#include "util/util.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PODNET_DEFAULT_BRIDGE       "kubeling0"
#define PODNET_DEFAULT_CLUSTER_CIDR "10.42.0.0/16"
#define PODNET_DEFAULT_MTU          1500
#define PODNET_NFT_TABLE            "kubeling" /* family ip */
#define PODNET_MAX_PORTS            64         /* hostPort mappings per pod */
#define PODNET_UID_MAX              128        /* pod uids are 36-char UUIDs; bounded anyway */

/* ---- CIDR math (pure) --------------------------------------------------------------------- */

typedef struct podnet_cidr {
    uint32_t addr; /* network address, host byte order */
    int prefix;    /* 0..32 */
} podnet_cidr_t;

/* Parses "a.b.c.d/n"; host bits must be zero. -EINVAL with a message otherwise. */
int podnet_cidr_parse(const char *text, podnet_cidr_t *ret, util_error_t *err);
/* "a.b.c.d/n" into buf (at least 19 bytes). */
void podnet_cidr_format(const podnet_cidr_t *c, char *buf, size_t len);
/* "a.b.c.d" of a host-order address into buf (at least 16 bytes). */
void podnet_ip_format(uint32_t addr, char *buf, size_t len);
bool podnet_cidr_contains(const podnet_cidr_t *c, uint32_t addr);
/* The index-th subnet of length prefix inside cluster (the node's pod CIDR: index 0 is the
 * first node). -ERANGE when it does not fit. */
int podnet_cidr_subnet(const podnet_cidr_t *cluster, int prefix, uint32_t index, podnet_cidr_t *ret,
                       util_error_t *err);

/* The host-side veth name of a pod: "veth" + 8 hex chars of a hash of the uid (fits IFNAMSIZ,
 * stable across restarts, so teardown needs nothing but the uid). buf: at least 16 bytes. */
void podnet_veth_name(const char *pod_uid, char *buf, size_t len);

/* ---- the node's pod network --------------------------------------------------------------- */

typedef struct podnet_config {
    const char *data_dir;     /* kubeling data dir; state goes to <data_dir>/agent/podnet */
    const char *bridge;       /* NULL: PODNET_DEFAULT_BRIDGE */
    const char *cluster_cidr; /* NULL: PODNET_DEFAULT_CLUSTER_CIDR */
    const char *pod_cidr;     /* this node's range; NULL: the first /24 of cluster_cidr */
    int mtu;                  /* 0: PODNET_DEFAULT_MTU */
    /* Test hook, NULL in the product: called at named points of podnet_setup ("allocated",
     * "linked") so crash tests can kill the process half-way. */
    void (*test_hook)(const char *stage);
} podnet_config_t;

typedef struct podnet_port {
    uint16_t host_port;
    uint16_t container_port;
    int protocol;     /* IPPROTO_TCP or IPPROTO_UDP */
    uint32_t host_ip; /* host byte order; 0 = any local address */
} podnet_port_t;

typedef struct podnet_pod {
    const char *ns, *name, *uid; /* identity; the uid owns the address */
    const char *netns_path;      /* the pod's network namespace file (bind mount) */
    const podnet_port_t *ports;  /* hostPort mappings, may be NULL */
    size_t nports;
} podnet_pod_t;

typedef struct podnet_result {
    char ip[16];      /* the pod IP, dotted quad */
    char gateway[16]; /* the bridge address */
    int prefix;       /* of the node's pod CIDR */
    char host_veth[16];
} podnet_result_t;

typedef struct podnet podnet_t;

/* Makes the node's pod network ready: the bridge with the gateway address, up, forwarding on,
 * our nftables table with the masquerade rule, the state directory. Idempotent: an existing
 * bridge is reused. Blocking (netlink, fsync): call it off the event loop. */
int podnet_open(const podnet_config_t *cfg, podnet_t **ret, util_error_t *err);
/* Releases the handle; the network stays as it is (pods keep running). NULL-safe. */
podnet_t *podnet_close(podnet_t *pn);

/* Attaches a pod: allocates (or finds its existing) address, makes the veth pair with eth0 in
 * the pod's netns, routes, hostPorts. Converges after a crash half-way. On failure the pod may
 * hold part of it (its address, a veth): call setup again or podnet_teardown. Blocking. */
int podnet_setup(podnet_t *pn, const podnet_pod_t *pod, podnet_result_t *ret, util_error_t *err);
/* Detaches a pod: removes its veth, hostPort rules and address. A pod that is not attached
 * (or half-attached) is fine. */
int podnet_teardown(podnet_t *pn, const char *pod_uid, util_error_t *err);
/* Frees everything owned by pods not in live_uids (addresses, veths on our bridge, hostPort
 * rules): what crashes between allocation and teardown leaked. ret_freed may be NULL. */
int podnet_reconcile(podnet_t *pn, const char *const *live_uids, size_t n, size_t *ret_freed,
                     util_error_t *err);

/* The pod CIDR and gateway in use (host byte order). */
podnet_cidr_t podnet_pod_cidr(const podnet_t *pn);

#endif
