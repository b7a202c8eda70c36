/* podnet_internal: the seams between podnet's files (netlink, links, IPAM, nftables); exposed
 * to the unit tests, not to other components. */
#ifndef KUBELING_PODNET_INTERNAL_H
#define KUBELING_PODNET_INTERNAL_H

#include "podnet.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

/* ---- netlink messages (podnet_nl.c) ------------------------------------------------------- */

#define PODNET_NL_MSG_MAX   2048 /* our requests are small: a veth pair is ~200 bytes */
#define PODNET_NL_NEST_MAX  8
#define PODNET_NL_RECV_SIZE 32768

/* A request under construction. Writes past the end set overflow instead of failing each call;
 * podnet_nl_request refuses an overflowed message. */
typedef struct podnet_nlmsg {
    _Alignas(4) uint8_t buf[PODNET_NL_MSG_MAX];
    size_t len;
    bool overflow;
    size_t nest[PODNET_NL_NEST_MAX];
    int depth;
} podnet_nlmsg_t;

/* Starts a message: header, then the family header (ifinfomsg, ifaddrmsg, rtmsg) of hdrlen. */
void podnet_nl_init(podnet_nlmsg_t *m, uint16_t type, uint16_t flags, const void *hdr,
                    size_t hdrlen);
void podnet_nl_put(podnet_nlmsg_t *m, uint16_t type, const void *data, size_t len);
void podnet_nl_put_u32(podnet_nlmsg_t *m, uint16_t type, uint32_t v);
void podnet_nl_put_str(podnet_nlmsg_t *m, uint16_t type, const char *s);
/* Nested attributes; a begin without end (or too deep) marks the message overflowed. */
void podnet_nl_nest_begin(podnet_nlmsg_t *m, uint16_t type);
void podnet_nl_nest_end(podnet_nlmsg_t *m);
/* Appends raw bytes (a nested family header, as in VETH_INFO_PEER). */
void podnet_nl_append(podnet_nlmsg_t *m, const void *data, size_t len);
struct nlmsghdr *podnet_nl_hdr(podnet_nlmsg_t *m);

/* Splits attributes in [data, data+len) into tb[0..max] (last one wins, types above max are
 * skipped). -EBADMSG when an attribute's length is short or runs past the end. */
int podnet_nl_parse_attrs(const void *data, size_t len, const struct rtattr **tb, int max);
/* A NUL-terminated string attribute, or NULL when absent or unterminated. */
const char *podnet_nl_attr_str(const struct rtattr *a);
/* A u32 attribute into *v; -EBADMSG when absent or short. */
int podnet_nl_attr_u32(const struct rtattr *a, uint32_t *v);

/* What we need to know of a link from an RTM_NEWLINK message. */
typedef struct podnet_link {
    int ifindex;
    unsigned flags;
    char name[16];
    char kind[16]; /* IFLA_INFO_KIND, "" when none */
    int master;    /* 0 when none */
    uint32_t mtu;
    char alias[PODNET_UID_MAX + 16]; /* IFLA_IFALIAS; our host veths carry "kubeling:<uid>" */
} podnet_link_t;

#define PODNET_ALIAS_PREFIX "kubeling:"

/* Decodes one RTM_NEWLINK message (header included, len = bytes available). */
int podnet_nl_parse_link(const struct nlmsghdr *h, size_t len, podnet_link_t *ret);

/* Walks one received datagram for the request with sequence seq: calls cb for each data
 * message, stops at NLMSG_DONE or an ack. Returns 0 when complete (ack or done), 1 when more
 * datagrams follow (a dump in progress), the negative errno of an NLMSG_ERROR, or -EBADMSG for
 * malformed input (short headers, lengths past the end, a wrong sequence number). */
typedef int (*podnet_nl_cb)(const struct nlmsghdr *h, size_t len, void *userdata);
int podnet_nl_walk(const void *buf, size_t len, uint32_t seq, podnet_nl_cb cb, void *userdata);

/* ---- a NETLINK_ROUTE socket (podnet_nl.c) -------------------------------------------------- */

typedef struct podnet_nl {
    int fd;
    uint32_t seq;
    uint8_t *rbuf;
} podnet_nl_t;

/* Opens a socket in the calling thread's netns (netns_path NULL) or in the namespace of the
 * file netns_path (the thread switches there and back; nothing else changes). */
int podnet_nl_open(podnet_nl_t *nl, const char *netns_path, util_error_t *err);
/* A NETLINK_NETFILTER socket in the calling thread's netns (for nf_tables dumps). */
int podnet_nl_open_netfilter(podnet_nl_t *nl, util_error_t *err);
void podnet_nl_close(podnet_nl_t *nl);
/* Sends m (with NLM_F_ACK added) and reads the replies; cb may be NULL. Negative errno. */
int podnet_nl_request(podnet_nl_t *nl, podnet_nlmsg_t *m, podnet_nl_cb cb, void *userdata);

/* ---- links, addresses, routes (podnet_link.c) --------------------------------------------- */

/* 0 and *ret filled, -ENODEV when no such link, other negative errno on failure. */
int podnet_link_get(podnet_nl_t *nl, const char *name, podnet_link_t *ret);
int podnet_link_set_up(podnet_nl_t *nl, int ifindex);
int podnet_link_del(podnet_nl_t *nl, const char *name);
/* Our bridge port settings on a host veth: alias "kubeling:<uid>", hairpin mode on. */
int podnet_bridge_port_set(podnet_nl_t *nl, int ifindex, const char *alias);
int podnet_bridge_add(podnet_nl_t *nl, const char *name, uint32_t mtu);
/* The RTM_NEWLINK request making a veth pair (pure; exposed for the unit tests). */
void podnet_veth_request(podnet_nlmsg_t *m, const char *host, int master, uint32_t mtu,
                         const char *peer, int peer_netns_fd);
/* Host side named host in this netns attached to master, up, with alias; peer named peer in
 * the netns fd. */
int podnet_veth_add(podnet_nl_t *nl, const char *host, const char *alias, int master, uint32_t mtu,
                    const char *peer, int peer_netns_fd);
/* Adds (or keeps) addr/prefix on ifindex. */
int podnet_addr_ensure(podnet_nl_t *nl, int ifindex, uint32_t addr, int prefix);
int podnet_route_default(podnet_nl_t *nl, int ifindex, uint32_t gateway);
/* Lists all links; caller frees *ret. */
int podnet_link_list(podnet_nl_t *nl, podnet_link_t **ret, size_t *ret_n);

/* ---- IPAM (podnet_ipam.c) ----------------------------------------------------------------- */

/* Host-local allocation in dir: one file per address ("10.42.0.7") holding "uid\nnetns\n",
 * created whole (written to a temp file, fsynced, linked into place), and "last_reserved_ip".
 * A lock file serializes processes. The gateway, network and broadcast addresses are never
 * handed out. */
typedef struct podnet_ipam {
    char dir[4096];
    podnet_cidr_t range;
    uint32_t gateway;
    /* by-uid/<uid> -> "10.42.0.7" symlinks name the address each pod owns, so setup and
     * teardown read one file instead of every address file. Rebuilt from the address files at
     * init (and after a reconcile), written after each claim (no fsync: a crash before it is
     * repaired by the next init). false: an entry could not be written, or a uid owns two
     * addresses (left by an older version): every lookup scans, as before. */
    bool indexed;
} podnet_ipam_t;

int podnet_ipam_init(podnet_ipam_t *ip, const char *dir, const podnet_cidr_t *range,
                     util_error_t *err);
/* The address owned by uid, an existing one when it has one; round robin from the last
 * allocated otherwise. -ENOSPC "no free address in 10.42.0.0/24" when exhausted. */
int podnet_ipam_allocate(podnet_ipam_t *ip, const char *uid, const char *netns, uint32_t *ret,
                         util_error_t *err);
/* The address owned by uid: 0 and *ret, or -ENOENT. */
int podnet_ipam_lookup(podnet_ipam_t *ip, const char *uid, uint32_t *ret, util_error_t *err);
/* Releases the address(es) of uid; none is fine. */
int podnet_ipam_release(podnet_ipam_t *ip, const char *uid, util_error_t *err);
/* Releases every address whose owner is not in live (unreadable files included). */
int podnet_ipam_reconcile(podnet_ipam_t *ip, const char *const *live, size_t n, size_t *ret_freed,
                          util_error_t *err);

/* ---- hostPort state (podnet_hostports.c) ------------------------------------------------- */

/* One pod's hostPorts as stored in <state>/hostports/<uid>: "tcp 8080 10.42.0.5 80 0.0.0.0"
 * lines. */
typedef struct podnet_hostport {
    char uid[PODNET_UID_MAX];
    uint32_t pod_ip;
    podnet_port_t port;
} podnet_hostport_t;

int podnet_hostports_format(const podnet_hostport_t *hp, size_t n, util_buf_t *out);
int podnet_hostports_parse(const char *uid, const char *text, podnet_hostport_t **ret,
                           size_t *ret_n, util_error_t *err);

/* ---- the nftables table over netlink (podnet_nfnl.c) -------------------------------------- */

/* The whole `table ip kubeling` as one nf_tables batch (one transaction), encoded into *out
 * with the sequence numbers of the first and last message the kernel acknowledges. replace:
 * the table is deleted and defined again; else its chains are created if missing and their
 * rules flushed and written again. Pure (the tests decode it). */
int podnet_nfnl_batch(bool replace, const podnet_cidr_t *pod_cidr,
                      const podnet_cidr_t *cluster_cidr, const podnet_hostport_t *hp, size_t n,
                      util_buf_t *out, uint32_t *ret_first, uint32_t *ret_last);
/* Reads acknowledgements from fd until messages first..last are all acked: 0, the first
 * error the kernel reported, or -EBADMSG for malformed replies. */
int podnet_nfnl_read_acks(int fd, uint32_t first, uint32_t last);
/* A rule of our table as a dump shows it: where it is, its handle, the pod uid in its comment
 * ("" when none). */
typedef struct podnet_nft_rule {
    char chain[32];
    uint64_t handle;
    char uid[PODNET_UID_MAX];
} podnet_nft_rule_t;

/* Decodes one NEWRULE message of a dump (bounds-checked: the userdata TLVs too). */
int podnet_nfnl_parse_rule(const struct nlmsghdr *h, size_t len, podnet_nft_rule_t *ret);
/* One pod's change as a batch: delete its old rules by handle, append its new ones. */
int podnet_nfnl_pod_batch(const podnet_nft_rule_t *old, size_t nold, const podnet_cidr_t *pod_cidr,
                          const podnet_hostport_t *hp, size_t n, util_buf_t *out,
                          uint32_t *ret_first, uint32_t *ret_last);
/* Replaces the rules of pod uid with hp[0..n) (n = 0: removes them), leaving every other rule
 * in place: the cost does not grow with the node's other mappings. Fails (and the caller
 * refills the whole table) when the table is not there or changed underneath. */
int podnet_nfnl_apply_pod(const char *uid, const podnet_cidr_t *pod_cidr,
                          const podnet_hostport_t *hp, size_t n, util_error_t *err);
/* Sends a refill batch over NETLINK_NETFILTER in the calling thread's netns, and a replace
 * batch when the kernel refuses the refill. */
int podnet_nfnl_apply(const podnet_cidr_t *pod_cidr, const podnet_cidr_t *cluster_cidr,
                      const podnet_hostport_t *hp, size_t n, util_error_t *err);

#endif
