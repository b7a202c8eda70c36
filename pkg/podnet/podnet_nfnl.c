/* podnet_nfnl: the `ip kubeling` table (masquerade, hostPorts) written straight to nf_tables
 * over NETLINK_NETFILTER, as one atomic batch; our own encoder, no libnftnl or nft binary. */
#include "podnet_internal.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#define REG_1 1 /* NFT_REG_1: the 16-byte registers nft itself uses for these rules */
#define REG_2 2

/* ---- message and expression building ------------------------------------------------------ */

static void nf_init(podnet_nlmsg_t *m, uint16_t type, uint16_t flags, uint8_t family,
                    uint16_t res_id)
{
    struct nfgenmsg g = {.nfgen_family = family, .version = NFNETLINK_V0, .res_id = htons(res_id)};
    podnet_nl_init(m, type, flags, &g, sizeof(g));
}

static void nft_init(podnet_nlmsg_t *m, int msg, uint16_t flags)
{
    nf_init(m, (uint16_t)((NFNL_SUBSYS_NFTABLES << 8) | msg), flags, NFPROTO_IPV4, 0);
}

static void put_be32(podnet_nlmsg_t *m, uint16_t type, uint32_t v)
{
    podnet_nl_put_u32(m, type, htonl(v));
}

static void nest(podnet_nlmsg_t *m, uint16_t type)
{
    podnet_nl_nest_begin(m, (uint16_t)(type | NLA_F_NESTED));
}

static void expr_begin(podnet_nlmsg_t *m, const char *name)
{
    nest(m, NFTA_LIST_ELEM);
    podnet_nl_put_str(m, NFTA_EXPR_NAME, name);
    nest(m, NFTA_EXPR_DATA);
}

static void expr_end(podnet_nlmsg_t *m)
{
    podnet_nl_nest_end(m);
    podnet_nl_nest_end(m);
}

static void put_data(podnet_nlmsg_t *m, uint16_t type, const void *data, size_t len)
{
    nest(m, type);
    podnet_nl_put(m, NFTA_DATA_VALUE, data, len);
    podnet_nl_nest_end(m);
}

/* reg1 <- len bytes at offset of the network (base 1) or transport (base 2) header */
static void e_payload(podnet_nlmsg_t *m, uint32_t base, uint32_t offset, uint32_t len)
{
    expr_begin(m, "payload");
    put_be32(m, NFTA_PAYLOAD_DREG, REG_1);
    put_be32(m, NFTA_PAYLOAD_BASE, base);
    put_be32(m, NFTA_PAYLOAD_OFFSET, offset);
    put_be32(m, NFTA_PAYLOAD_LEN, len);
    expr_end(m);
}

static void e_cmp(podnet_nlmsg_t *m, uint32_t op, const void *data, size_t len)
{
    expr_begin(m, "cmp");
    put_be32(m, NFTA_CMP_SREG, REG_1);
    put_be32(m, NFTA_CMP_OP, op);
    put_data(m, NFTA_CMP_DATA, data, len);
    expr_end(m);
}

static void e_bitwise(podnet_nlmsg_t *m, const void *mask, size_t len)
{
    static const uint8_t zero[16];
    expr_begin(m, "bitwise");
    put_be32(m, NFTA_BITWISE_SREG, REG_1);
    put_be32(m, NFTA_BITWISE_DREG, REG_1);
    put_be32(m, NFTA_BITWISE_LEN, (uint32_t)len);
    put_data(m, NFTA_BITWISE_MASK, mask, len);
    put_data(m, NFTA_BITWISE_XOR, zero, len);
    expr_end(m);
}

/* ip saddr|daddr (== or !=) a.b.c.d/n: load, mask, compare */
static void e_ip_cidr(podnet_nlmsg_t *m, uint32_t offset, const podnet_cidr_t *c, uint32_t op)
{
    uint32_t mask = htonl(c->prefix ? 0xffffffffu << (32 - c->prefix) : 0), net = htonl(c->addr);
    e_payload(m, NFT_PAYLOAD_NETWORK_HEADER, offset, 4);
    if (c->prefix < 32)
        e_bitwise(m, &mask, 4);
    e_cmp(m, op, &net, 4);
}

static void e_ip_daddr(podnet_nlmsg_t *m, uint32_t addr)
{
    podnet_cidr_t host = {.addr = addr, .prefix = 32};
    e_ip_cidr(m, 16, &host, NFT_CMP_EQ);
}

/* meta l4proto == proto, th dport == port */
static void e_dport(podnet_nlmsg_t *m, int protocol, uint16_t port)
{
    uint8_t proto = (uint8_t)protocol;
    uint16_t be = htons(port);
    expr_begin(m, "meta");
    put_be32(m, NFTA_META_DREG, REG_1);
    put_be32(m, NFTA_META_KEY, NFT_META_L4PROTO);
    expr_end(m);
    e_cmp(m, NFT_CMP_EQ, &proto, 1);
    e_payload(m, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
    e_cmp(m, NFT_CMP_EQ, &be, 2);
}

static void e_fib_daddr_local(podnet_nlmsg_t *m)
{
    uint32_t local = RTN_LOCAL; /* the register holds the address type in host order */
    expr_begin(m, "fib");
    put_be32(m, NFTA_FIB_DREG, REG_1);
    put_be32(m, NFTA_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
    put_be32(m, NFTA_FIB_FLAGS, NFTA_FIB_F_DADDR);
    expr_end(m);
    e_cmp(m, NFT_CMP_EQ, &local, 4);
}

static void e_jump(podnet_nlmsg_t *m, const char *chain)
{
    expr_begin(m, "immediate");
    put_be32(m, NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
    nest(m, NFTA_IMMEDIATE_DATA);
    nest(m, NFTA_DATA_VERDICT);
    put_be32(m, NFTA_VERDICT_CODE, (uint32_t)NFT_JUMP);
    podnet_nl_put_str(m, NFTA_VERDICT_CHAIN, chain);
    podnet_nl_nest_end(m);
    podnet_nl_nest_end(m);
    expr_end(m);
}

static void e_immediate(podnet_nlmsg_t *m, uint32_t reg, const void *data, size_t len)
{
    expr_begin(m, "immediate");
    put_be32(m, NFTA_IMMEDIATE_DREG, reg);
    put_data(m, NFTA_IMMEDIATE_DATA, data, len);
    expr_end(m);
}

static void e_dnat(podnet_nlmsg_t *m, uint32_t addr, uint16_t port)
{
    uint32_t a = htonl(addr);
    uint16_t p = htons(port);
    e_immediate(m, REG_1, &a, 4);
    e_immediate(m, REG_2, &p, 2);
    expr_begin(m, "nat");
    put_be32(m, NFTA_NAT_TYPE, NFT_NAT_DNAT);
    put_be32(m, NFTA_NAT_FAMILY, NFPROTO_IPV4);
    put_be32(m, NFTA_NAT_REG_ADDR_MIN, REG_1);
    put_be32(m, NFTA_NAT_REG_PROTO_MIN, REG_2);
    put_be32(m, NFTA_NAT_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
    expr_end(m);
}

static void e_ct_dnat(podnet_nlmsg_t *m)
{
    uint32_t mask = IPS_DST_NAT, zero = 0;
    expr_begin(m, "ct");
    put_be32(m, NFTA_CT_DREG, REG_1);
    put_be32(m, NFTA_CT_KEY, NFT_CT_STATUS);
    expr_end(m);
    e_bitwise(m, &mask, 4);
    e_cmp(m, NFT_CMP_NEQ, &zero, 4);
}

static void e_masq(podnet_nlmsg_t *m)
{
    nest(m, NFTA_LIST_ELEM);
    podnet_nl_put_str(m, NFTA_EXPR_NAME, "masq");
    podnet_nl_nest_end(m);
}

/* ---- the batch ---------------------------------------------------------------------------- */

typedef struct batch {
    util_buf_t buf;
    uint32_t seq0, seq;
    bool overflow;
} batch_t;

static void batch_add(batch_t *b, podnet_nlmsg_t *m)
{
    if (m->overflow || m->depth != 0) {
        b->overflow = true;
        return;
    }
    podnet_nl_hdr(m)->nlmsg_seq = ++b->seq;
    util_buf_append(&b->buf, m->buf, m->len);
}

static void add_table(batch_t *b, int msg)
{
    podnet_nlmsg_t m;
    nft_init(&m, msg, msg == NFT_MSG_NEWTABLE ? NLM_F_CREATE | NLM_F_ACK : NLM_F_ACK);
    podnet_nl_put_str(&m, NFTA_TABLE_NAME, PODNET_NFT_TABLE);
    batch_add(b, &m);
}

/* hooknum < 0: a regular chain (jump target). */
static void add_chain(batch_t *b, const char *name, int hooknum, int priority)
{
    podnet_nlmsg_t m;
    nft_init(&m, NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_ACK);
    podnet_nl_put_str(&m, NFTA_CHAIN_TABLE, PODNET_NFT_TABLE);
    podnet_nl_put_str(&m, NFTA_CHAIN_NAME, name);
    if (hooknum >= 0) {
        nest(&m, NFTA_CHAIN_HOOK);
        put_be32(&m, NFTA_HOOK_HOOKNUM, (uint32_t)hooknum);
        put_be32(&m, NFTA_HOOK_PRIORITY, (uint32_t)priority);
        podnet_nl_nest_end(&m);
        put_be32(&m, NFTA_CHAIN_POLICY, NF_ACCEPT);
        podnet_nl_put_str(&m, NFTA_CHAIN_TYPE, "nat");
    }
    batch_add(b, &m);
}

/* Starts a rule in chain; the caller adds expressions, then rule_end. */
static void rule_begin(podnet_nlmsg_t *m, const char *chain)
{
    nft_init(m, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK);
    podnet_nl_put_str(m, NFTA_RULE_TABLE, PODNET_NFT_TABLE);
    podnet_nl_put_str(m, NFTA_RULE_CHAIN, chain);
    nest(m, NFTA_RULE_EXPRESSIONS);
}

/* comment: nft's userdata TLV (type 0 = comment, length, NUL-terminated text), or NULL. */
static void rule_end(batch_t *b, podnet_nlmsg_t *m, const char *comment)
{
    podnet_nl_nest_end(m);
    if (comment) {
        uint8_t ud[2 + 128];
        size_t n = strnlen(comment, 126) + 1;
        ud[0] = 0;
        ud[1] = (uint8_t)n;
        memcpy(ud + 2, comment, n - 1);
        ud[2 + n - 1] = '\0';
        podnet_nl_put(m, NFTA_RULE_USERDATA, ud, 2 + n);
    }
    batch_add(b, m);
}

static void add_hostport_rules(batch_t *b, const podnet_cidr_t *pod, const podnet_hostport_t *hp,
                               size_t n)
{
    static const podnet_cidr_t loopback = {.addr = 0x7f000000, .prefix = 8};
    podnet_nlmsg_t m;
    for (size_t i = 0; i < n; i++) {
        rule_begin(&m, "hostports");
        if (hp[i].port.host_ip)
            e_ip_daddr(&m, hp[i].port.host_ip);
        e_dport(&m, hp[i].port.protocol, hp[i].port.host_port);
        e_dnat(&m, hp[i].pod_ip, hp[i].port.container_port);
        rule_end(b, &m, hp[i].uid);
    }
    /* hairpin and node-loopback sources of DNATed hostPort traffic are masqueraded */
    for (size_t i = 0; i < n; i++) {
        for (int src = 0; src < 2; src++) {
            rule_begin(&m, "postrouting");
            e_ct_dnat(&m);
            e_ip_cidr(&m, 12, src ? pod : &loopback, NFT_CMP_EQ);
            e_ip_daddr(&m, hp[i].pod_ip);
            e_dport(&m, hp[i].port.protocol, hp[i].port.container_port);
            e_masq(&m);
            rule_end(b, &m, hp[i].uid); /* the owner, so per-pod updates find them */
        }
    }
}

static void flush_chain(batch_t *b, const char *chain)
{
    podnet_nlmsg_t m;
    nft_init(&m, NFT_MSG_DELRULE, NLM_F_ACK);
    podnet_nl_put_str(&m, NFTA_RULE_TABLE, PODNET_NFT_TABLE);
    podnet_nl_put_str(&m, NFTA_RULE_CHAIN, chain);
    batch_add(b, &m);
}

static const char *const base_chains[] = {"prerouting", "output", "postrouting"};

/* One transaction. Replace: the table is created (so the delete cannot fail), deleted and
 * defined again. Refill (the common case): table and chains are created if missing and their
 * rules flushed and written again; the base chains' hooks stay registered, which spares the
 * kernel an RCU grace period per change (unregistering a hook waits for one). */
static void build_batch(batch_t *b, bool replace, const podnet_cidr_t *pod,
                        const podnet_cidr_t *cluster, const podnet_hostport_t *hp, size_t n)
{
    podnet_nlmsg_t m;
    nf_init(&m, NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
    batch_add(b, &m);
    b->seq0 = b->seq;
    add_table(b, NFT_MSG_NEWTABLE);
    if (replace) {
        add_table(b, NFT_MSG_DELTABLE);
        add_table(b, NFT_MSG_NEWTABLE);
    }
    add_chain(b, "hostports", -1, 0);
    add_chain(b, "prerouting", NF_INET_PRE_ROUTING, -100);
    add_chain(b, "output", NF_INET_LOCAL_OUT, -100);
    add_chain(b, "postrouting", NF_INET_POST_ROUTING, 100);
    if (!replace) {
        flush_chain(b, "hostports");
        for (size_t i = 0; i < UTIL_ARRAY_SIZE(base_chains); i++)
            flush_chain(b, base_chains[i]);
    }
    for (size_t i = 0; i < 2; i++) { /* prerouting, output */
        rule_begin(&m, base_chains[i]);
        e_fib_daddr_local(&m);
        e_jump(&m, "hostports");
        rule_end(b, &m, NULL);
    }
    add_hostport_rules(b, pod, hp, n);
    rule_begin(&m, "postrouting");
    e_ip_cidr(&m, 12, pod, NFT_CMP_EQ);
    e_ip_cidr(&m, 16, cluster, NFT_CMP_NEQ);
    e_masq(&m);
    rule_end(b, &m, NULL);
    nf_init(&m, NFNL_MSG_BATCH_END, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
    batch_add(b, &m);
}

int podnet_nfnl_batch(bool replace, const podnet_cidr_t *pod, const podnet_cidr_t *cluster,
                      const podnet_hostport_t *hp, size_t n, util_buf_t *out, uint32_t *ret_first,
                      uint32_t *ret_last)
{
    batch_t b = {.seq = 0};
    build_batch(&b, replace, pod, cluster, hp, n);
    if (b.overflow) {
        util_buf_free(&b.buf);
        return -EMSGSIZE;
    }
    *out = b.buf;
    *ret_first = b.seq0 + 1;
    *ret_last = b.seq - 1; /* the end marker is not acknowledged */
    return 0;
}

/* ---- sending ------------------------------------------------------------------------------ */

/* The first error wins: the kernel then aborts the whole batch, so nothing changed. */
int podnet_nfnl_read_acks(int fd, uint32_t first, uint32_t last)
{
    uint8_t *buf = util_xmalloc(PODNET_NL_RECV_SIZE);
    uint32_t acked = 0, want = last - first + 1;
    int r = 0;
    while (r == 0 && acked < want) {
        ssize_t n = recv(fd, buf, PODNET_NL_RECV_SIZE, MSG_TRUNC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || n > PODNET_NL_RECV_SIZE) {
            r = n < 0 ? -errno : n == 0 ? -EPIPE : -EMSGSIZE;
            break;
        }
        size_t len = (size_t)n;
        for (const uint8_t *p = buf; r == 0 && len >= NLMSG_HDRLEN;) {
            const struct nlmsghdr *h = (const struct nlmsghdr *)(const void *)p;
            if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > len) {
                r = -EBADMSG;
                break;
            }
            if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_seq >= first && h->nlmsg_seq <= last) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)) || e->error > 0 || e->error < -4095)
                    r = -EBADMSG;
                else if (e->error < 0)
                    r = e->error;
                else
                    acked++;
            }
            size_t step = NLMSG_ALIGN(h->nlmsg_len);
            if (step >= len)
                break;
            p += step;
            len -= step;
        }
    }
    free(buf);
    return r;
}

/* Sends an encoded batch (consumed) and waits for its acknowledgements. */
static int send_raw(util_buf_t batch, uint32_t first, uint32_t last, util_error_t *err)
{
    cleanup_close int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) {
        util_buf_free(&batch);
        return util_error_make(err, errno, "nftables: netlink socket");
    }
    /* Acknowledgements carry only the header (NETLINK_CAP_ACK), or a large batch (one message
     * per rule) would overflow the receive buffer with copies of itself: ENOBUFS. */
    int size = (int)batch.len + 65536, one = 1, rcv = 1 << 20;
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    ssize_t sent;
    do
        sent = sendto(fd, batch.data, batch.len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
    while (sent < 0 && errno == EINTR);
    int e = errno;
    size_t len = batch.len;
    util_buf_free(&batch);
    if (sent != (ssize_t)len)
        return util_error_make(err, sent < 0 ? e : EIO, "nftables: send the ruleset");
    int r = podnet_nfnl_read_acks(fd, first, last);
    if (r < 0)
        return util_error_make(err, -r, "nftables: the kernel refused table ip %s",
                               PODNET_NFT_TABLE);
    return 0;
}

static int send_batch(bool replace, const podnet_cidr_t *pod, const podnet_cidr_t *cluster,
                      const podnet_hostport_t *hp, size_t n, util_error_t *err)
{
    util_buf_t batch = {0};
    uint32_t first, last;
    if (podnet_nfnl_batch(replace, pod, cluster, hp, n, &batch, &first, &last) < 0)
        return util_error_make(err, EMSGSIZE, "nftables: rule too large");
    return send_raw(batch, first, last, err);
}

/* A refill fails when our table is not what we left (a chain changed by hand, an older
 * layout): then it is replaced whole. */
int podnet_nfnl_apply(const podnet_cidr_t *pod, const podnet_cidr_t *cluster,
                      const podnet_hostport_t *hp, size_t n, util_error_t *err)
{
    if (send_batch(false, pod, cluster, hp, n, err) == 0)
        return 0;
    util_error_free(err);
    return send_batch(true, pod, cluster, hp, n, err);
}

/* ---- per-pod updates ---------------------------------------------------------------------- */

/* The comment inside nft's userdata: TLVs of {u8 type, u8 length, value}, type 0 a
 * NUL-terminated comment. Anything malformed reads as "no comment". */
static void udata_comment(const struct rtattr *a, char *out, size_t len)
{
    out[0] = '\0';
    if (!a)
        return;
    const uint8_t *p = RTA_DATA(a);
    size_t left = RTA_PAYLOAD(a);
    while (left >= 2) {
        size_t n = p[1];
        if (n > left - 2)
            return;
        if (p[0] == 0 && n > 0 && memchr(p + 2, '\0', n) && strlen((const char *)p + 2) < len) {
            strcpy(out, (const char *)p + 2);
            return;
        }
        p += 2 + n;
        left -= 2 + n;
    }
}

int podnet_nfnl_parse_rule(const struct nlmsghdr *h, size_t len, podnet_nft_rule_t *ret)
{
    size_t hl = NLMSG_LENGTH(sizeof(struct nfgenmsg));
    const struct rtattr *tb[NFTA_RULE_MAX + 1];
    if (len < hl || h->nlmsg_len > len || h->nlmsg_len < hl ||
        h->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE) ||
        podnet_nl_parse_attrs((const uint8_t *)h + hl, h->nlmsg_len - hl, tb, NFTA_RULE_MAX) < 0)
        return -EBADMSG;
    const char *chain = podnet_nl_attr_str(tb[NFTA_RULE_CHAIN]);
    const struct rtattr *handle = tb[NFTA_RULE_HANDLE];
    podnet_nft_rule_t r = {.handle = 0};
    if (!chain || util_strlcpy(r.chain, chain, sizeof(r.chain)) < 0 || !handle ||
        RTA_PAYLOAD(handle) < sizeof(uint64_t))
        return -EBADMSG;
    uint64_t be;
    memcpy(&be, RTA_DATA(handle), sizeof(be));
    r.handle = be64toh(be);
    udata_comment(tb[NFTA_RULE_USERDATA], r.uid, sizeof(r.uid));
    *ret = r;
    return 0;
}

int podnet_nfnl_pod_batch(const podnet_nft_rule_t *old, size_t nold, const podnet_cidr_t *pod,
                          const podnet_hostport_t *hp, size_t n, util_buf_t *out,
                          uint32_t *ret_first, uint32_t *ret_last)
{
    batch_t b = {.seq = 0};
    podnet_nlmsg_t m;
    nf_init(&m, NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
    batch_add(&b, &m);
    b.seq0 = b.seq;
    for (size_t i = 0; i < nold; i++) {
        uint64_t be = htobe64(old[i].handle);
        nft_init(&m, NFT_MSG_DELRULE, NLM_F_ACK);
        podnet_nl_put_str(&m, NFTA_RULE_TABLE, PODNET_NFT_TABLE);
        podnet_nl_put_str(&m, NFTA_RULE_CHAIN, old[i].chain);
        podnet_nl_put(&m, NFTA_RULE_HANDLE, &be, sizeof(be));
        batch_add(&b, &m);
    }
    add_hostport_rules(&b, pod, hp, n);
    nf_init(&m, NFNL_MSG_BATCH_END, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
    batch_add(&b, &m);
    if (b.overflow) {
        util_buf_free(&b.buf);
        return -EMSGSIZE;
    }
    *out = b.buf;
    *ret_first = b.seq0 + 1;
    *ret_last = b.seq - 1;
    return 0;
}

typedef struct rule_list {
    const char *uid;
    podnet_nft_rule_t *v;
    size_t n;
} rule_list_t;

static int rule_list_cb(const struct nlmsghdr *h, size_t len, void *userdata)
{
    rule_list_t *rl = userdata;
    podnet_nft_rule_t r;
    if (podnet_nfnl_parse_rule(h, len, &r) < 0)
        return -EBADMSG; /* a rule we cannot read: let the caller rewrite the table */
    if (strcmp(r.uid, rl->uid) != 0 || rl->n >= 4 * PODNET_MAX_PORTS)
        return 0;
    rl->v = util_xrealloc(rl->v, (rl->n + 1) * sizeof(*rl->v));
    rl->v[rl->n++] = r;
    return 0;
}

int podnet_nfnl_apply_pod(const char *uid, const podnet_cidr_t *pod, const podnet_hostport_t *hp,
                          size_t n, util_error_t *err)
{
    podnet_nl_t nl;
    if (podnet_nl_open_netfilter(&nl, err) < 0)
        return util_error_code(*err);
    podnet_nlmsg_t m;
    nft_init(&m, NFT_MSG_GETRULE, NLM_F_DUMP);
    podnet_nl_put_str(&m, NFTA_RULE_TABLE, PODNET_NFT_TABLE);
    rule_list_t rl = {.uid = uid};
    int r = podnet_nl_request(&nl, &m, rule_list_cb, &rl);
    podnet_nl_close(&nl);
    util_buf_t batch = {0};
    uint32_t first = 0, last = 0;
    if (r == 0 && (rl.n || n))
        r = podnet_nfnl_pod_batch(rl.v, rl.n, pod, hp, n, &batch, &first, &last);
    free(rl.v);
    if (r < 0)
        return util_error_make(err, -r, "nftables: list the rules of table ip %s",
                               PODNET_NFT_TABLE);
    return batch.data ? send_raw(batch, first, last, err) : 0;
}
