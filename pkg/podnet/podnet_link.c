/* podnet_link: rtnetlink requests for links (bridge, veth), IPv4 addresses and routes. */
#include "podnet_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include <linux/if_link.h>
#include <linux/veth.h>

/* ---- links -------------------------------------------------------------------------------- */

static int link_cb(const struct nlmsghdr *h, size_t len, void *userdata)
{
    return podnet_nl_parse_link(h, len, userdata);
}

int podnet_link_get(podnet_nl_t *nl, const char *name, podnet_link_t *ret)
{
    if (strlen(name) >= IFNAMSIZ)
        return -ENAMETOOLONG;
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    podnet_nlmsg_t m;
    podnet_nl_init(&m, RTM_GETLINK, 0, &ifi, sizeof(ifi));
    podnet_nl_put_str(&m, IFLA_IFNAME, name);
    podnet_link_t l = {0};
    int r = podnet_nl_request(nl, &m, link_cb, &l);
    if (r < 0)
        return r;
    if (l.ifindex <= 0)
        return -EBADMSG;
    *ret = l;
    return 0;
}

typedef struct link_vec {
    podnet_link_t *v;
    size_t n;
} link_vec_t;

static int link_list_cb(const struct nlmsghdr *h, size_t len, void *userdata)
{
    link_vec_t *lv = userdata;
    podnet_link_t l;
    if (podnet_nl_parse_link(h, len, &l) < 0)
        return 0; /* skip what we cannot read; a dump must be drained */
    if (lv->n >= 65536)
        return 0;
    lv->v = util_xrealloc(lv->v, (lv->n + 1) * sizeof(*lv->v));
    lv->v[lv->n++] = l;
    return 0;
}

int podnet_link_list(podnet_nl_t *nl, podnet_link_t **ret, size_t *ret_n)
{
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    podnet_nlmsg_t m;
    podnet_nl_init(&m, RTM_GETLINK, NLM_F_DUMP, &ifi, sizeof(ifi));
    link_vec_t lv = {0};
    int r = podnet_nl_request(nl, &m, link_list_cb, &lv);
    if (r < 0) {
        free(lv.v);
        return r;
    }
    *ret = lv.v;
    *ret_n = lv.n;
    return 0;
}

int podnet_link_set_up(podnet_nl_t *nl, int ifindex)
{
    struct ifinfomsg ifi = {
        .ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
    podnet_nlmsg_t m;
    podnet_nl_init(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
    return podnet_nl_request(nl, &m, NULL, NULL);
}

int podnet_link_del(podnet_nl_t *nl, const char *name)
{
    if (strlen(name) >= IFNAMSIZ)
        return -ENAMETOOLONG;
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    podnet_nlmsg_t m;
    podnet_nl_init(&m, RTM_DELLINK, 0, &ifi, sizeof(ifi));
    podnet_nl_put_str(&m, IFLA_IFNAME, name);
    return podnet_nl_request(nl, &m, NULL, NULL);
}

int podnet_bridge_add(podnet_nl_t *nl, const char *name, uint32_t mtu)
{
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    podnet_nlmsg_t m;
    podnet_nl_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
    podnet_nl_put_str(&m, IFLA_IFNAME, name);
    podnet_nl_put_u32(&m, IFLA_MTU, mtu);
    podnet_nl_nest_begin(&m, IFLA_LINKINFO);
    podnet_nl_put_str(&m, IFLA_INFO_KIND, "bridge");
    podnet_nl_nest_end(&m);
    return podnet_nl_request(nl, &m, NULL, NULL);
}

/* One request makes both ends: the peer is created directly inside the pod's netns under its
 * final name (IFLA_NET_NS_FD in the peer's attributes), so there is no moment where an "eth0"
 * exists in the host namespace or a half-moved pair is left behind by a crash. */
void podnet_veth_request(podnet_nlmsg_t *m, const char *host, int master, uint32_t mtu,
                         const char *peer, int peer_netns_fd)
{
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
    struct ifinfomsg peer_ifi = {.ifi_family = AF_UNSPEC};
    podnet_nl_init(m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
    podnet_nl_put_str(m, IFLA_IFNAME, host);
    podnet_nl_put_u32(m, IFLA_MTU, mtu);
    podnet_nl_put_u32(m, IFLA_MASTER, (uint32_t)master);
    podnet_nl_nest_begin(m, IFLA_LINKINFO);
    podnet_nl_put_str(m, IFLA_INFO_KIND, "veth");
    podnet_nl_nest_begin(m, IFLA_INFO_DATA);
    podnet_nl_nest_begin(m, VETH_INFO_PEER);
    podnet_nl_append(m, &peer_ifi, sizeof(peer_ifi));
    podnet_nl_put_str(m, IFLA_IFNAME, peer);
    podnet_nl_put_u32(m, IFLA_MTU, mtu);
    podnet_nl_put_u32(m, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
    podnet_nl_nest_end(m);
    podnet_nl_nest_end(m);
    podnet_nl_nest_end(m);
}

int podnet_veth_add(podnet_nl_t *nl, const char *host, const char *alias, int master, uint32_t mtu,
                    const char *peer, int peer_netns_fd)
{
    podnet_nlmsg_t m;
    podnet_veth_request(&m, host, master, mtu, peer, peer_netns_fd);
    int r = podnet_nl_request(nl, &m, NULL, NULL);
    if (r < 0)
        return r;
    /* The kernel ignores IFLA_IFALIAS and bridge port options when creating a link: set them on
     * the new link. A crash in between leaves a veth without alias, which setup, teardown and
     * reconcile recognise by name. */
    podnet_link_t l;
    if ((r = podnet_link_get(nl, host, &l)) < 0)
        return r;
    return podnet_bridge_port_set(nl, l.ifindex, alias);
}

/* Hairpin mode (IFLA_BRPORT_MODE) lets a pod reach itself through a hostPort: the DNATed
 * packet is routed back out of the port it came in on, which a bridge otherwise refuses (the
 * CNI bridge plugin's hairpinMode, which k3s turns on). */
int podnet_bridge_port_set(podnet_nl_t *nl, int ifindex, const char *alias)
{
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex};
    podnet_nlmsg_t m;
    uint8_t hairpin = 1;
    podnet_nl_init(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
    podnet_nl_put_str(&m, IFLA_IFALIAS, alias);
    podnet_nl_nest_begin(&m, IFLA_LINKINFO);
    podnet_nl_put_str(&m, IFLA_INFO_SLAVE_KIND, "bridge");
    podnet_nl_nest_begin(&m, IFLA_INFO_SLAVE_DATA);
    podnet_nl_put(&m, IFLA_BRPORT_MODE, &hairpin, sizeof(hairpin));
    podnet_nl_nest_end(&m);
    podnet_nl_nest_end(&m);
    return podnet_nl_request(nl, &m, NULL, NULL);
}

/* ---- addresses ---------------------------------------------------------------------------- */

int podnet_addr_ensure(podnet_nl_t *nl, int ifindex, uint32_t addr, int prefix)
{
    struct ifaddrmsg ifa = {.ifa_family = AF_INET,
                            .ifa_prefixlen = (unsigned char)prefix,
                            .ifa_scope = RT_SCOPE_UNIVERSE,
                            .ifa_index = (unsigned)ifindex};
    podnet_nlmsg_t m;
    podnet_nl_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &ifa, sizeof(ifa));
    uint32_t be = htonl(addr);
    podnet_nl_put_u32(&m, IFA_LOCAL, be);
    podnet_nl_put_u32(&m, IFA_ADDRESS, be);
    if (prefix < 31)
        podnet_nl_put_u32(&m, IFA_BROADCAST, htonl(addr | (0xffffffffu >> prefix)));
    int r = podnet_nl_request(nl, &m, NULL, NULL);
    return r == -EEXIST ? 0 : r;
}

/* ---- routes ------------------------------------------------------------------------------- */

int podnet_route_default(podnet_nl_t *nl, int ifindex, uint32_t gateway)
{
    struct rtmsg rtm = {.rtm_family = AF_INET,
                        .rtm_table = RT_TABLE_MAIN,
                        .rtm_protocol = RTPROT_BOOT,
                        .rtm_scope = RT_SCOPE_UNIVERSE,
                        .rtm_type = RTN_UNICAST};
    podnet_nlmsg_t m;
    podnet_nl_init(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, &rtm, sizeof(rtm));
    podnet_nl_put_u32(&m, RTA_GATEWAY, htonl(gateway));
    podnet_nl_put_u32(&m, RTA_OIF, (uint32_t)ifindex);
    return podnet_nl_request(nl, &m, NULL, NULL);
}
