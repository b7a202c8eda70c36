/* podnet_nl: our own rtnetlink message builder and reply parser, and the NETLINK_ROUTE socket
 * (the kernel's replies are still bounds-checked: lengths are never trusted). */
#include "podnet_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_link.h>

/* ==== building ============================================================================ */

static void *reserve(podnet_nlmsg_t *m, size_t n)
{
    size_t aligned = NLMSG_ALIGN(n);
    if (m->overflow || aligned > sizeof(m->buf) - m->len) {
        m->overflow = true;
        return NULL;
    }
    void *p = m->buf + m->len;
    memset(p, 0, aligned);
    m->len += aligned;
    podnet_nl_hdr(m)->nlmsg_len = (uint32_t)m->len;
    return p;
}

struct nlmsghdr *podnet_nl_hdr(podnet_nlmsg_t *m)
{
    return (struct nlmsghdr *)(void *)m->buf;
}

void podnet_nl_init(podnet_nlmsg_t *m, uint16_t type, uint16_t flags, const void *hdr,
                    size_t hdrlen)
{
    memset(m, 0, sizeof(*m));
    struct nlmsghdr *h = podnet_nl_hdr(m);
    m->len = NLMSG_HDRLEN;
    h->nlmsg_len = (uint32_t)m->len;
    h->nlmsg_type = type;
    h->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
    podnet_nl_append(m, hdr, hdrlen);
}

void podnet_nl_append(podnet_nlmsg_t *m, const void *data, size_t len)
{
    void *p = reserve(m, len);
    if (p && len)
        memcpy(p, data, len);
}

void podnet_nl_put(podnet_nlmsg_t *m, uint16_t type, const void *data, size_t len)
{
    if (len > UINT16_MAX - RTA_LENGTH(0)) {
        m->overflow = true;
        return;
    }
    struct rtattr *a = reserve(m, RTA_LENGTH(len));
    if (!a)
        return;
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len)
        memcpy(RTA_DATA(a), data, len);
}

void podnet_nl_put_u32(podnet_nlmsg_t *m, uint16_t type, uint32_t v)
{
    podnet_nl_put(m, type, &v, sizeof(v));
}

void podnet_nl_put_str(podnet_nlmsg_t *m, uint16_t type, const char *s)
{
    podnet_nl_put(m, type, s, strlen(s) + 1);
}

void podnet_nl_nest_begin(podnet_nlmsg_t *m, uint16_t type)
{
    if (m->depth >= PODNET_NL_NEST_MAX) {
        m->overflow = true;
        return;
    }
    size_t off = m->len;
    podnet_nl_put(m, type, NULL, 0);
    m->nest[m->depth++] = off;
}

void podnet_nl_nest_end(podnet_nlmsg_t *m)
{
    if (m->depth <= 0) {
        m->overflow = true;
        return;
    }
    size_t off = m->nest[--m->depth];
    if (m->overflow || m->len - off > UINT16_MAX) {
        m->overflow = true;
        return;
    }
    struct rtattr *a = (struct rtattr *)(void *)(m->buf + off);
    a->rta_len = (unsigned short)(m->len - off);
}

/* ==== parsing ============================================================================= */

int podnet_nl_parse_attrs(const void *data, size_t len, const struct rtattr **tb, int max)
{
    memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
    const uint8_t *p = data;
    while (len >= sizeof(struct rtattr)) {
        const struct rtattr *a = (const struct rtattr *)(const void *)p;
        if (a->rta_len < sizeof(struct rtattr) || a->rta_len > len)
            return -EBADMSG;
        unsigned type = a->rta_type & NLA_TYPE_MASK; /* without NLA_F_NESTED, _NET_BYTEORDER */
        if (type <= (unsigned)max)
            tb[type] = a;
        size_t step = RTA_ALIGN(a->rta_len);
        if (step >= len)
            return 0;
        p += step;
        len -= step;
    }
    return len == 0 ? 0 : -EBADMSG;
}

const char *podnet_nl_attr_str(const struct rtattr *a)
{
    if (!a)
        return NULL;
    size_t n = RTA_PAYLOAD(a);
    const char *s = RTA_DATA(a);
    return n > 0 && memchr(s, '\0', n) ? s : NULL;
}

int podnet_nl_attr_u32(const struct rtattr *a, uint32_t *v)
{
    if (!a || RTA_PAYLOAD(a) < sizeof(uint32_t))
        return -EBADMSG;
    memcpy(v, RTA_DATA(a), sizeof(*v));
    return 0;
}

static int copy_name(char *dst, size_t n, const struct rtattr *a)
{
    const char *s = podnet_nl_attr_str(a);
    if (!s)
        return a ? -EBADMSG : 0;
    return util_strlcpy(dst, s, n) < 0 ? -EBADMSG : 0;
}

int podnet_nl_parse_link(const struct nlmsghdr *h, size_t len, podnet_link_t *ret)
{
    if (len < NLMSG_LENGTH(sizeof(struct ifinfomsg)) || h->nlmsg_len > len ||
        h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)) || h->nlmsg_type != RTM_NEWLINK)
        return -EBADMSG;
    const struct ifinfomsg *ifi = NLMSG_DATA(h);
    const struct rtattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1];
    size_t alen = h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi));
    if (podnet_nl_parse_attrs(IFLA_RTA(ifi), alen, tb, IFLA_MAX) < 0)
        return -EBADMSG;
    podnet_link_t l = {.ifindex = ifi->ifi_index, .flags = ifi->ifi_flags};
    uint32_t v;
    if (!tb[IFLA_IFNAME] || copy_name(l.name, sizeof(l.name), tb[IFLA_IFNAME]) < 0)
        return -EBADMSG;
    if (tb[IFLA_MASTER] && podnet_nl_attr_u32(tb[IFLA_MASTER], &v) == 0)
        l.master = (int)v;
    if (tb[IFLA_MTU] && podnet_nl_attr_u32(tb[IFLA_MTU], &v) == 0)
        l.mtu = v;
    if (tb[IFLA_IFALIAS] && copy_name(l.alias, sizeof(l.alias), tb[IFLA_IFALIAS]) < 0)
        l.alias[0] = '\0'; /* not one of ours */
    if (tb[IFLA_LINKINFO]) {
        if (podnet_nl_parse_attrs(RTA_DATA(tb[IFLA_LINKINFO]), RTA_PAYLOAD(tb[IFLA_LINKINFO]), li,
                                  IFLA_INFO_MAX) < 0 ||
            copy_name(l.kind, sizeof(l.kind), li[IFLA_INFO_KIND]) < 0)
            return -EBADMSG;
    }
    *ret = l;
    return 0;
}

int podnet_nl_walk(const void *buf, size_t len, uint32_t seq, podnet_nl_cb cb, void *userdata)
{
    const uint8_t *p = buf;
    while (len > 0) {
        const struct nlmsghdr *h = (const struct nlmsghdr *)(const void *)p;
        if (len < NLMSG_HDRLEN || h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > len)
            return -EBADMSG;
        if (h->nlmsg_seq != seq)
            return -EBADMSG;
        if (h->nlmsg_type == NLMSG_DONE)
            return 0;
        if (h->nlmsg_type == NLMSG_ERROR) {
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
                return -EBADMSG;
            const struct nlmsgerr *e = NLMSG_DATA(h);
            if (e->error > 0 || e->error < -4095)
                return -EBADMSG;
            return e->error; /* 0 is the ack */
        }
        if (h->nlmsg_type >= NLMSG_MIN_TYPE && cb) {
            int r = cb(h, h->nlmsg_len, userdata);
            if (r < 0)
                return r;
        }
        size_t step = NLMSG_ALIGN(h->nlmsg_len);
        if (step >= len)
            break;
        p += step;
        len -= step;
    }
    return 1;
}

/* ==== the socket ========================================================================== */

/* Opens the socket inside another netns: the calling thread enters it, creates the socket
 * (a netlink socket stays bound to the namespace it was created in) and returns. */
static int socket_in_netns(const char *netns_path, util_error_t *err)
{
    cleanup_close int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0)
        return util_error_make(err, errno, "open /proc/thread-self/ns/net");
    cleanup_close int target = open(netns_path, O_RDONLY | O_CLOEXEC);
    if (target < 0)
        return util_error_make(err, errno, "open netns `%s`", netns_path);
    if (setns(target, CLONE_NEWNET) < 0)
        return util_error_make(err, errno, "enter netns `%s`", netns_path);
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    int saved = errno;
    if (setns(self, CLONE_NEWNET) < 0)
        abort(); /* a thread stuck in a pod's netns would corrupt everything after it */
    if (fd < 0)
        return util_error_make(err, saved, "netlink socket in `%s`", netns_path);
    return fd;
}

static int nl_finish(podnet_nl_t *nl, int fd, util_error_t *err)
{
    int one = 1;
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)); /* header-only acks */
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return util_error_make(err, e, "bind netlink socket");
    }
    nl->fd = fd;
    nl->seq = (uint32_t)getpid() << 8;
    nl->rbuf = util_xmalloc(PODNET_NL_RECV_SIZE);
    return 0;
}

int podnet_nl_open(podnet_nl_t *nl, const char *netns_path, util_error_t *err)
{
    memset(nl, 0, sizeof(*nl));
    nl->fd = -1;
    int fd = netns_path ? socket_in_netns(netns_path, err)
                        : socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return netns_path ? fd : util_error_make(err, errno, "netlink socket");
    return nl_finish(nl, fd, err);
}

int podnet_nl_open_netfilter(podnet_nl_t *nl, util_error_t *err)
{
    memset(nl, 0, sizeof(*nl));
    nl->fd = -1;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0)
        return util_error_make(err, errno, "netfilter netlink socket");
    return nl_finish(nl, fd, err);
}

void podnet_nl_close(podnet_nl_t *nl)
{
    if (nl->fd >= 0)
        close(nl->fd);
    nl->fd = -1;
    free(nl->rbuf);
    nl->rbuf = NULL;
}

int podnet_nl_request(podnet_nl_t *nl, podnet_nlmsg_t *m, podnet_nl_cb cb, void *userdata)
{
    if (m->overflow || m->depth != 0)
        return -EMSGSIZE;
    struct nlmsghdr *h = podnet_nl_hdr(m);
    h->nlmsg_flags |= NLM_F_ACK;
    h->nlmsg_seq = ++nl->seq;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    ssize_t n;
    do
        n = sendto(nl->fd, m->buf, m->len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    for (;;) {
        struct sockaddr_nl from;
        socklen_t fl = sizeof(from);
        n = recvfrom(nl->fd, nl->rbuf, PODNET_NL_RECV_SIZE, MSG_TRUNC, (struct sockaddr *)&from,
                     &fl);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if ((size_t)n > PODNET_NL_RECV_SIZE)
            return -EMSGSIZE; /* truncated datagram: never parse a partial reply */
        if (from.nl_pid != 0)
            continue; /* not from the kernel */
        const struct nlmsghdr *first = (const struct nlmsghdr *)(const void *)nl->rbuf;
        if ((size_t)n >= NLMSG_HDRLEN && first->nlmsg_seq != h->nlmsg_seq)
            continue; /* the rest of an earlier request abandoned half-way */
        int r = podnet_nl_walk(nl->rbuf, (size_t)n, h->nlmsg_seq, cb, userdata);
        if (r <= 0)
            return r;
    }
}
