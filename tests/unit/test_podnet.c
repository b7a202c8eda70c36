/* test_podnet: the pure parts of the pod network: rtnetlink and nf_tables encoding and hostile
 * replies, CIDR math, veth names, the IPAM on a temp dir, hostPort state. */
#include "unit.h"
#include "podnet/podnet_internal.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/veth.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>
#include <net/if.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- netlink building ------------------------------------------------------------------ */

static void test_nl_build_nested(void **state)
{
    (void)state;
    podnet_nlmsg_t m;
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = 7};
    podnet_nl_init(&m, RTM_NEWLINK, NLM_F_CREATE, &ifi, sizeof(ifi));
    podnet_nl_put_str(&m, IFLA_IFNAME, "br0");
    podnet_nl_nest_begin(&m, IFLA_LINKINFO);
    podnet_nl_put_str(&m, IFLA_INFO_KIND, "bridge");
    podnet_nl_nest_end(&m);
    assert_false(m.overflow);
    struct nlmsghdr *h = podnet_nl_hdr(&m);
    assert_int_equal(h->nlmsg_len, m.len);
    assert_int_equal(h->nlmsg_type, RTM_NEWLINK);
    assert_int_equal(h->nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE);
    /* header 16 + ifinfomsg 16 + IFNAME (4+4) + LINKINFO (4 + KIND (4+7 -> 12)) */
    assert_int_equal(m.len, 16 + 16 + 8 + 4 + 12);
    const struct rtattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1];
    assert_int_equal(podnet_nl_parse_attrs(IFLA_RTA(NLMSG_DATA(h)), m.len - 32, tb, IFLA_MAX), 0);
    assert_string_equal(podnet_nl_attr_str(tb[IFLA_IFNAME]), "br0");
    assert_int_equal(tb[IFLA_LINKINFO]->rta_len, 16);
    assert_int_equal(podnet_nl_parse_attrs(RTA_DATA(tb[IFLA_LINKINFO]),
                                           RTA_PAYLOAD(tb[IFLA_LINKINFO]), li, IFLA_INFO_MAX),
                     0);
    assert_string_equal(podnet_nl_attr_str(li[IFLA_INFO_KIND]), "bridge");
}

static void test_nl_build_overflow_is_sticky(void **state)
{
    (void)state;
    podnet_nlmsg_t m;
    podnet_nl_init(&m, RTM_NEWLINK, 0, NULL, 0);
    char big[PODNET_NL_MSG_MAX];
    memset(big, 'x', sizeof(big));
    podnet_nl_put(&m, IFLA_IFALIAS, big, sizeof(big));
    assert_true(m.overflow);
    size_t len = m.len;
    podnet_nl_put_u32(&m, IFLA_MTU, 1500); /* nothing more is written */
    assert_int_equal(m.len, len);
    /* an unbalanced nest is refused by the request path as well */
    podnet_nl_init(&m, RTM_NEWLINK, 0, NULL, 0);
    podnet_nl_nest_end(&m);
    assert_true(m.overflow);
    podnet_nl_init(&m, RTM_NEWLINK, 0, NULL, 0);
    for (int i = 0; i <= PODNET_NL_NEST_MAX; i++)
        podnet_nl_nest_begin(&m, IFLA_LINKINFO);
    assert_true(m.overflow);
    podnet_nl_t nl = {.fd = -1};
    assert_int_equal(podnet_nl_request(&nl, &m, NULL, NULL), -EMSGSIZE);
}

/* The veth pair request: host end attributes, then the peer (its own ifinfomsg followed by
 * its attributes) nested three deep, as the kernel's veth_newlink reads it. */
static void test_nl_veth_request_layout(void **state)
{
    (void)state;
    podnet_nlmsg_t m;
    podnet_veth_request(&m, "vethdeadbeef", 3, 1450, "eth0", 17);
    assert_false(m.overflow);
    struct nlmsghdr *h = podnet_nl_hdr(&m);
    assert_int_equal(h->nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
    const struct ifinfomsg *ifi = NLMSG_DATA(h);
    assert_int_equal(ifi->ifi_flags & IFF_UP, IFF_UP);
    const struct rtattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1], *vd[VETH_INFO_MAX + 1],
        *pt[IFLA_MAX + 1];
    assert_int_equal(podnet_nl_parse_attrs(IFLA_RTA(ifi), h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)),
                                           tb, IFLA_MAX),
                     0);
    uint32_t v;
    assert_string_equal(podnet_nl_attr_str(tb[IFLA_IFNAME]), "vethdeadbeef");
    assert_int_equal(podnet_nl_attr_u32(tb[IFLA_MASTER], &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(podnet_nl_parse_attrs(RTA_DATA(tb[IFLA_LINKINFO]),
                                           RTA_PAYLOAD(tb[IFLA_LINKINFO]), li, IFLA_INFO_MAX),
                     0);
    assert_string_equal(podnet_nl_attr_str(li[IFLA_INFO_KIND]), "veth");
    assert_int_equal(podnet_nl_parse_attrs(RTA_DATA(li[IFLA_INFO_DATA]),
                                           RTA_PAYLOAD(li[IFLA_INFO_DATA]), vd, VETH_INFO_MAX),
                     0);
    const struct rtattr *peer = vd[VETH_INFO_PEER];
    assert_non_null(peer);
    assert_true(RTA_PAYLOAD(peer) > sizeof(struct ifinfomsg));
    const uint8_t *pd = RTA_DATA(peer);
    assert_int_equal(podnet_nl_parse_attrs(pd + sizeof(struct ifinfomsg),
                                           RTA_PAYLOAD(peer) - sizeof(struct ifinfomsg), pt,
                                           IFLA_MAX),
                     0);
    assert_string_equal(podnet_nl_attr_str(pt[IFLA_IFNAME]), "eth0");
    assert_int_equal(podnet_nl_attr_u32(pt[IFLA_NET_NS_FD], &v), 0);
    assert_int_equal(v, 17);
    assert_int_equal(podnet_nl_attr_u32(pt[IFLA_MTU], &v), 0);
    assert_int_equal(v, 1450);
}

/* ---- netlink parsing: replies built by hand, then broken ------------------------------- */

/* An RTM_NEWLINK "reply" as the kernel would send it. */
static size_t make_link_reply(uint8_t *buf, size_t cap, uint32_t seq)
{
    podnet_nlmsg_t m;
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = 42, .ifi_flags = IFF_UP};
    podnet_nl_init(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
    podnet_nl_put_str(&m, IFLA_IFNAME, "veth0123abcd");
    podnet_nl_put_u32(&m, IFLA_MTU, 1450);
    podnet_nl_put_u32(&m, IFLA_MASTER, 3);
    podnet_nl_put_str(&m, IFLA_IFALIAS, "kubeling:uid-1");
    podnet_nl_nest_begin(&m, IFLA_LINKINFO);
    podnet_nl_put_str(&m, IFLA_INFO_KIND, "veth");
    podnet_nl_nest_end(&m);
    podnet_nl_hdr(&m)->nlmsg_seq = seq;
    assert_true(m.len <= cap);
    memcpy(buf, m.buf, m.len);
    return m.len;
}

static void test_nl_parse_link(void **state)
{
    (void)state;
    _Alignas(4) uint8_t buf[512];
    size_t len = make_link_reply(buf, sizeof(buf), 1);
    podnet_link_t l;
    assert_int_equal(podnet_nl_parse_link((struct nlmsghdr *)(void *)buf, len, &l), 0);
    assert_int_equal(l.ifindex, 42);
    assert_string_equal(l.name, "veth0123abcd");
    assert_string_equal(l.kind, "veth");
    assert_string_equal(l.alias, "kubeling:uid-1");
    assert_int_equal(l.mtu, 1450);
    assert_int_equal(l.master, 3);
    assert_true(l.flags & IFF_UP);
}

static void test_nl_parse_link_hostile(void **state)
{
    (void)state;
    _Alignas(4) uint8_t buf[512];
    size_t len = make_link_reply(buf, sizeof(buf), 1);
    struct nlmsghdr *h = (struct nlmsghdr *)(void *)buf;
    podnet_link_t l;
    /* every truncation is refused or parsed within bounds, never read past */
    for (size_t cut = 0; cut < len; cut++) {
        _Alignas(4) uint8_t copy[512];
        memcpy(copy, buf, cut);
        int r = podnet_nl_parse_link((struct nlmsghdr *)(void *)copy, cut, &l);
        assert_int_equal(r, -EBADMSG);
    }
    /* an unterminated name */
    struct rtattr *name = IFLA_RTA(NLMSG_DATA(h));
    assert_int_equal(name->rta_type, IFLA_IFNAME);
    memset(RTA_DATA(name), 'A', RTA_PAYLOAD(name));
    assert_int_equal(podnet_nl_parse_link(h, len, &l), -EBADMSG);
    /* an attribute claiming more than the message holds */
    len = make_link_reply(buf, sizeof(buf), 1);
    name->rta_len = 400;
    assert_int_equal(podnet_nl_parse_link(h, len, &l), -EBADMSG);
    name->rta_len = 2;
    assert_int_equal(podnet_nl_parse_link(h, len, &l), -EBADMSG);
    /* the wrong message type */
    len = make_link_reply(buf, sizeof(buf), 1);
    h->nlmsg_type = RTM_NEWADDR;
    assert_int_equal(podnet_nl_parse_link(h, len, &l), -EBADMSG);
}

static void test_nl_parse_attrs_bounds(void **state)
{
    (void)state;
    const struct rtattr *tb[4];
    _Alignas(4) uint8_t b[16] = {0};
    struct rtattr *a = (struct rtattr *)(void *)b;
    a->rta_len = 8, a->rta_type = 1;
    assert_int_equal(podnet_nl_parse_attrs(b, 8, tb, 3), 0);
    assert_non_null(tb[1]);
    assert_int_equal(podnet_nl_parse_attrs(b, 10, tb, 3), -EBADMSG); /* trailing bytes */
    a->rta_type = 200; /* above max: skipped, not stored */
    assert_int_equal(podnet_nl_parse_attrs(b, 8, tb, 3), 0);
    assert_null(tb[1]);
    uint32_t v;
    assert_int_equal(podnet_nl_attr_u32(NULL, &v), -EBADMSG);
    a->rta_len = 6; /* a u32 attribute too short to hold one */
    assert_int_equal(podnet_nl_attr_u32(a, &v), -EBADMSG);
}

static size_t put_error(uint8_t *buf, uint32_t seq, int error)
{
    struct nlmsghdr *h = (struct nlmsghdr *)(void *)buf;
    memset(buf, 0, NLMSG_LENGTH(sizeof(struct nlmsgerr)));
    h->nlmsg_len = NLMSG_LENGTH(sizeof(struct nlmsgerr));
    h->nlmsg_type = NLMSG_ERROR;
    h->nlmsg_seq = seq;
    ((struct nlmsgerr *)NLMSG_DATA(h))->error = error;
    return h->nlmsg_len;
}

static int count_cb(const struct nlmsghdr *h, size_t len, void *userdata)
{
    (void)h, (void)len;
    (*(int *)userdata)++;
    return 0;
}

static void test_nl_walk_replies(void **state)
{
    (void)state;
    _Alignas(4) uint8_t buf[1024];
    int n = 0;
    size_t len = put_error(buf, 9, 0);
    assert_int_equal(podnet_nl_walk(buf, len, 9, count_cb, &n), 0); /* ack */
    len = put_error(buf, 9, -EEXIST);
    assert_int_equal(podnet_nl_walk(buf, len, 9, count_cb, &n), -EEXIST);
    assert_int_equal(podnet_nl_walk(buf, len, 8, count_cb, &n), -EBADMSG); /* wrong seq */
    len = put_error(buf, 9, 5);                                            /* positive errno */
    assert_int_equal(podnet_nl_walk(buf, len, 9, count_cb, &n), -EBADMSG);
    len = put_error(buf, 9, -100000);
    assert_int_equal(podnet_nl_walk(buf, len, 9, count_cb, &n), -EBADMSG);
    /* a truncated error message */
    len = put_error(buf, 9, -EEXIST);
    ((struct nlmsghdr *)(void *)buf)->nlmsg_len = NLMSG_HDRLEN + 2;
    assert_int_equal(podnet_nl_walk(buf, NLMSG_HDRLEN + 2, 9, count_cb, &n), -EBADMSG);
    /* a dump: two links, then more to come; then DONE */
    size_t a = make_link_reply(buf, sizeof(buf), 9);
    size_t b = make_link_reply(buf + a, sizeof(buf) - a, 9);
    n = 0;
    assert_int_equal(podnet_nl_walk(buf, a + b, 9, count_cb, &n), 1);
    assert_int_equal(n, 2);
    struct nlmsghdr *done = (struct nlmsghdr *)(void *)(buf + a + b);
    *done = (struct nlmsghdr){.nlmsg_len = NLMSG_HDRLEN, .nlmsg_type = NLMSG_DONE, .nlmsg_seq = 9};
    n = 0;
    assert_int_equal(podnet_nl_walk(buf, a + b + NLMSG_HDRLEN, 9, count_cb, &n), 0);
    assert_int_equal(n, 2);
    /* every truncation of the dump is refused without reading past the end */
    for (size_t cut = 1; cut < a + b; cut++) {
        if (cut == a)
            continue; /* a whole message: valid */
        n = 0;
        assert_int_equal(podnet_nl_walk(buf, cut, 9, count_cb, &n), -EBADMSG);
    }
    /* a header whose length is shorter than a header */
    ((struct nlmsghdr *)(void *)buf)->nlmsg_len = 4;
    assert_int_equal(podnet_nl_walk(buf, a, 9, count_cb, &n), -EBADMSG);
}

/* ---- CIDR math and names ----------------------------------------------------------------- */

static void test_cidr_parse_and_format(void **state)
{
    (void)state;
    podnet_cidr_t c;
    util_error_t err = NULL;
    char buf[24];
    assert_int_equal(podnet_cidr_parse("10.42.0.0/16", &c, &err), 0);
    assert_int_equal(c.addr, 0x0a2a0000);
    assert_int_equal(c.prefix, 16);
    podnet_cidr_format(&c, buf, sizeof(buf));
    assert_string_equal(buf, "10.42.0.0/16");
    static const char *const bad[] = {"10.42.0.1/16",
                                      "10.42.0.0/33",
                                      "10.42.0.0",
                                      "10.42.0/16",
                                      "x/8",
                                      "10.42.0.0/-1",
                                      "10.42.0.0/16x",
                                      "",
                                      "1111111111111111111111111111111111111111/8"};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(bad); i++) {
        assert_int_equal(podnet_cidr_parse(bad[i], &c, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "invalid CIDR"));
        util_error_free(&err);
    }
    assert_int_equal(podnet_cidr_parse(NULL, &c, &err), -EINVAL);
    util_error_free(&err);
    assert_int_equal(podnet_cidr_parse("0.0.0.0/0", &c, &err), 0);
    assert_true(podnet_cidr_contains(&c, 0xffffffff));
}

static void test_cidr_node_subnets(void **state)
{
    (void)state;
    podnet_cidr_t cluster, pod;
    util_error_t err = NULL;
    char buf[24];
    assert_int_equal(podnet_cidr_parse(PODNET_DEFAULT_CLUSTER_CIDR, &cluster, &err), 0);
    assert_int_equal(podnet_cidr_subnet(&cluster, 24, 0, &pod, &err), 0);
    podnet_cidr_format(&pod, buf, sizeof(buf));
    assert_string_equal(buf, "10.42.0.0/24"); /* the first node */
    assert_int_equal(podnet_cidr_subnet(&cluster, 24, 255, &pod, &err), 0);
    podnet_cidr_format(&pod, buf, sizeof(buf));
    assert_string_equal(buf, "10.42.255.0/24");
    assert_true(podnet_cidr_contains(&cluster, pod.addr + 7));
    assert_false(podnet_cidr_contains(&pod, 0x0a2b0001));
    assert_int_equal(podnet_cidr_subnet(&cluster, 24, 256, &pod, &err), -ERANGE);
    util_error_free(&err);
    assert_int_equal(podnet_cidr_subnet(&cluster, 8, 0, &pod, &err), -ERANGE);
    util_error_free(&err);
}

static void test_veth_name_is_stable_and_short(void **state)
{
    (void)state;
    char a[16], b[16], c[16];
    podnet_veth_name("3f1c2d4e-0000-4000-8000-000000000001", a, sizeof(a));
    podnet_veth_name("3f1c2d4e-0000-4000-8000-000000000001", b, sizeof(b));
    podnet_veth_name("3f1c2d4e-0000-4000-8000-000000000002", c, sizeof(c));
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 12); /* < IFNAMSIZ */
    assert_true(util_str_has_prefix(a, "veth"));
    assert_int_equal(strspn(a + 4, "0123456789abcdef"), 8);
    /* one character apart still differ in most digits (the name is a hash, not a prefix) */
    int same = 0;
    for (int i = 4; i < 12; i++)
        same += a[i] == c[i];
    assert_true(same < 6);
}

/* ---- IPAM --------------------------------------------------------------------------------- */

typedef struct ipam_fixture {
    char *dir;
    podnet_ipam_t ip;
} ipam_fixture_t;

static int ipam_setup(void **state)
{
    ipam_fixture_t *f = calloc(1, sizeof(*f));
    f->dir = unit_tmpdir();
    podnet_cidr_t range = {.addr = 0x0a2a0000, .prefix = 29}; /* .2 - .6 allocatable */
    util_error_t err = NULL;
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/ipam", f->dir);
    assert_int_equal(podnet_ipam_init(&f->ip, dir, &range, &err), 0);
    *state = f;
    return 0;
}

static int ipam_teardown(void **state)
{
    ipam_fixture_t *f = *state;
    unit_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static uint32_t alloc_ok(podnet_ipam_t *ip, const char *uid)
{
    uint32_t a = 0;
    util_error_t err = NULL;
    if (podnet_ipam_allocate(ip, uid, "/run/netns/x", &a, &err) < 0)
        fail_msg("allocate %s: %s", uid, err->msg);
    return a;
}

static void test_ipam_allocates_each_address_once(void **state)
{
    ipam_fixture_t *f = *state;
    util_error_t err = NULL;
    char uid[16];
    for (int i = 0; i < 5; i++) {
        snprintf(uid, sizeof(uid), "pod-%d", i);
        assert_int_equal(alloc_ok(&f->ip, uid), 0x0a2a0002 + (uint32_t)i);
    }
    /* the same pod asking again gets its own address back */
    assert_int_equal(alloc_ok(&f->ip, "pod-3"), 0x0a2a0005);
    uint32_t a;
    assert_int_equal(podnet_ipam_allocate(&f->ip, "pod-9", "/run/netns/x", &a, &err), -ENOSPC);
    assert_string_equal(err->msg,
                        "no free address in 10.42.0.0/29: every pod address is allocated");
    util_error_free(&err);
    /* the owner file names the pod and its netns */
    char path[700], *data = NULL;
    snprintf(path, sizeof(path), "%s/10.42.0.4", f->ip.dir);
    assert_int_equal(util_read_file(path, 1024, &data, NULL, &err), 0);
    assert_string_equal(data, "pod-2\n/run/netns/x\n");
    free(data);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_ipam_round_robin_from_last(void **state)
{
    ipam_fixture_t *f = *state;
    util_error_t err = NULL;
    assert_int_equal(alloc_ok(&f->ip, "a"), 0x0a2a0002);
    assert_int_equal(alloc_ok(&f->ip, "b"), 0x0a2a0003);
    assert_int_equal(podnet_ipam_release(&f->ip, "a", &err), 0);
    /* the freed .2 is not reused at once: allocation continues after the last one */
    assert_int_equal(alloc_ok(&f->ip, "c"), 0x0a2a0004);
    assert_int_equal(alloc_ok(&f->ip, "d"), 0x0a2a0005);
    assert_int_equal(alloc_ok(&f->ip, "e"), 0x0a2a0006);
    /* wraps past broadcast, network and gateway to the freed address */
    assert_int_equal(alloc_ok(&f->ip, "f"), 0x0a2a0002);
    /* a new allocator over the same directory (a restart) sees the same state */
    podnet_ipam_t again;
    assert_int_equal(podnet_ipam_init(&again, f->ip.dir, &f->ip.range, &err), 0);
    uint32_t a;
    assert_int_equal(podnet_ipam_lookup(&again, "d", &a, &err), 0);
    assert_int_equal(a, 0x0a2a0005);
    assert_int_equal(podnet_ipam_lookup(&again, "a", &a, &err), -ENOENT);
    assert_int_equal(podnet_ipam_release(&again, "f", &err), 0);
    assert_int_equal(podnet_ipam_release(&again, "f", &err), 0); /* twice is fine */
    assert_int_equal(alloc_ok(&again, "g"), 0x0a2a0002);
}

static void write_raw(const char *dir, const char *name, const char *content)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
}

static void test_ipam_reconcile_frees_leaks(void **state)
{
    ipam_fixture_t *f = *state;
    util_error_t err = NULL;
    alloc_ok(&f->ip, "live-1");
    alloc_ok(&f->ip, "dead-1");
    alloc_ok(&f->ip, "live-2");
    write_raw(f->ip.dir, "10.42.0.5", "garbage without newline");
    write_raw(f->ip.dir, "10.42.0.6.alloc.123", "dead-2\n/x\n"); /* a crash mid-claim */
    const char *live[] = {"live-1", "live-2"};
    size_t freed = 0;
    assert_int_equal(podnet_ipam_reconcile(&f->ip, live, 2, &freed, &err), 0);
    assert_int_equal(freed, 2);
    uint32_t a;
    assert_int_equal(podnet_ipam_lookup(&f->ip, "live-1", &a, &err), 0);
    assert_int_equal(podnet_ipam_lookup(&f->ip, "dead-1", &a, &err), -ENOENT);
    char path[700];
    snprintf(path, sizeof(path), "%s/10.42.0.6.alloc.123", f->ip.dir);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/10.42.0.5", f->ip.dir);
    assert_int_equal(access(path, F_OK), -1);
    /* nothing live: everything goes */
    assert_int_equal(podnet_ipam_reconcile(&f->ip, NULL, 0, &freed, &err), 0);
    assert_int_equal(freed, 2);
}

/* The by-uid index: lookups and releases read one entry; a lost entry (a crash after the
 * claim) is rebuilt at init; a stale one is not believed; a uid with two addresses (an older
 * version's leftover) turns the index off and release frees both. */
static void test_ipam_uid_index(void **state)
{
    ipam_fixture_t *f = *state;
    util_error_t err = NULL;
    char path[800], target[32];
    uint32_t a;
    assert_true(f->ip.indexed);
    assert_int_equal(alloc_ok(&f->ip, "pod-a"), 0x0a2a0002);
    assert_int_equal(alloc_ok(&f->ip, "pod-b"), 0x0a2a0003);
    snprintf(path, sizeof(path), "%s/by-uid/pod-b", f->ip.dir);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    assert_true(n > 0);
    target[n] = 0;
    assert_string_equal(target, "10.42.0.3");
    /* lost entry: init rebuilds it from the address files */
    assert_int_equal(unlink(path), 0);
    podnet_cidr_t range = f->ip.range;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", f->ip.dir);
    assert_int_equal(podnet_ipam_init(&f->ip, dir, &range, &err), 0);
    assert_true(f->ip.indexed);
    assert_int_equal(podnet_ipam_lookup(&f->ip, "pod-b", &a, &err), 0);
    assert_int_equal(a, 0x0a2a0003);
    assert_int_equal(alloc_ok(&f->ip, "pod-b"), 0x0a2a0003);
    /* stale entry: pod-c's points at pod-a's address */
    snprintf(path, sizeof(path), "%s/by-uid/pod-c", f->ip.dir);
    assert_int_equal(symlink("10.42.0.2", path), 0);
    assert_int_equal(podnet_ipam_lookup(&f->ip, "pod-c", &a, &err), -ENOENT);
    assert_int_equal(podnet_ipam_release(&f->ip, "pod-c", &err), 0);
    assert_int_equal(podnet_ipam_lookup(&f->ip, "pod-a", &a, &err), 0);
    /* release through the index */
    assert_int_equal(podnet_ipam_release(&f->ip, "pod-a", &err), 0);
    assert_int_equal(podnet_ipam_lookup(&f->ip, "pod-a", &a, &err), -ENOENT);
    snprintf(path, sizeof(path), "%s/10.42.0.2", f->ip.dir);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/by-uid/pod-a", f->ip.dir);
    assert_int_equal(access(path, F_OK), -1);
    /* two addresses of pod-b: no index, release frees both */
    snprintf(path, sizeof(path), "%s/10.42.0.6", f->ip.dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("pod-b\n/run/netns/x\n", fp);
    fclose(fp);
    assert_int_equal(podnet_ipam_init(&f->ip, dir, &range, &err), 0);
    assert_false(f->ip.indexed);
    assert_int_equal(podnet_ipam_release(&f->ip, "pod-b", &err), 0);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/10.42.0.3", f->ip.dir);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(podnet_ipam_lookup(&f->ip, "pod-b", &a, &err), -ENOENT);
}

static void test_ipam_refuses_bad_input(void **state)
{
    ipam_fixture_t *f = *state;
    util_error_t err = NULL;
    uint32_t a;
    assert_int_equal(podnet_ipam_allocate(&f->ip, "two\nlines", "/x", &a, &err), -EINVAL);
    util_error_free(&err);
    assert_int_equal(podnet_ipam_allocate(&f->ip, "", "/x", &a, &err), -EINVAL);
    util_error_free(&err);
    assert_int_equal(podnet_ipam_allocate(&f->ip, "ok", "", &a, &err), -EINVAL);
    util_error_free(&err);
    podnet_ipam_t ip;
    podnet_cidr_t tiny = {.addr = 0x0a2a0000, .prefix = 31};
    assert_int_equal(podnet_ipam_init(&ip, f->ip.dir, &tiny, &err), -EINVAL);
    util_error_free(&err);
}

/* ---- hostPorts and the ruleset ------------------------------------------------------------ */

static void test_hostports_round_trip(void **state)
{
    (void)state;
    podnet_hostport_t in[2] = {
        {.pod_ip = 0x0a2a0005, .port = {8080, 80, IPPROTO_TCP, 0}},
        {.pod_ip = 0x0a2a0005, .port = {5353, 53, IPPROTO_UDP, 0xc0a84d01}},
    };
    util_buf_t b = {0};
    podnet_hostports_format(in, 2, &b);
    assert_string_equal(b.data,
                        "tcp 8080 10.42.0.5 80 0.0.0.0\nudp 5353 10.42.0.5 53 192.168.77.1\n");
    podnet_hostport_t *out = NULL;
    size_t n = 0;
    util_error_t err = NULL;
    assert_int_equal(podnet_hostports_parse("u1", b.data, &out, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(out[1].uid, "u1");
    assert_int_equal(out[1].port.protocol, IPPROTO_UDP);
    assert_int_equal(out[1].port.host_ip, 0xc0a84d01);
    assert_int_equal(out[0].port.host_port, 8080);
    free(out);
    util_buf_free(&b);
}

static void test_hostports_parse_hostile(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "sctp 1 10.0.0.1 1 0.0.0.0\n",    "tcp 0 10.0.0.1 1 0.0.0.0\n",
        "tcp 70000 10.0.0.1 1 0.0.0.0\n", "tcp 1 10.0.0.1 1\n",
        "tcp 1 10.0.0.999 1 0.0.0.0\n",   "tcp 1 10.0.0.1 1 0.0.0.0 extra\n",
        "tcp -1 10.0.0.1 1 0.0.0.0\n"};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(bad); i++) {
        podnet_hostport_t *out = NULL;
        size_t n = 0;
        util_error_t err = NULL;
        assert_int_equal(podnet_hostports_parse("u", bad[i], &out, &n, &err), -EINVAL);
        assert_null(out);
        util_error_free(&err);
    }
    util_buf_t many = {0};
    for (int i = 0; i <= PODNET_MAX_PORTS; i++)
        util_buf_puts(&many, "tcp 1 10.0.0.1 1 0.0.0.0\n");
    podnet_hostport_t *out = NULL;
    size_t n = 0;
    util_error_t err = NULL;
    assert_int_equal(podnet_hostports_parse("u", many.data, &out, &n, &err), -E2BIG);
    util_error_free(&err);
    util_buf_free(&many);
}

/* Decodes one NEWRULE message of a batch: its chain, its expression names joined by ',', and
 * the raw attributes of the expression at index want (or NULL). */
typedef struct rule_view {
    char chain[32];
    char names[256];
    const struct rtattr *data[16]; /* of expression `want` (every NFTA_<expr>_MAX is below) */
    const struct rtattr *udata;
} rule_view_t;

static void view_rule(const struct nlmsghdr *h, int want, rule_view_t *v)
{
    memset(v, 0, sizeof(*v));
    const struct rtattr *tb[NFTA_RULE_MAX + 1], *ex[NFTA_EXPR_MAX + 1];
    size_t hl = NLMSG_LENGTH(sizeof(struct nfgenmsg));
    assert_int_equal(h->nlmsg_type, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE);
    assert_int_equal(
        podnet_nl_parse_attrs((const uint8_t *)h + hl, h->nlmsg_len - hl, tb, NFTA_RULE_MAX), 0);
    snprintf(v->chain, sizeof(v->chain), "%s", podnet_nl_attr_str(tb[NFTA_RULE_CHAIN]));
    assert_string_equal(podnet_nl_attr_str(tb[NFTA_RULE_TABLE]), "kubeling");
    v->udata = tb[NFTA_RULE_USERDATA];
    const struct rtattr *list = tb[NFTA_RULE_EXPRESSIONS];
    assert_non_null(list);
    assert_true(list->rta_type & NLA_F_NESTED);
    size_t len = RTA_PAYLOAD(list);
    int i = 0;
    for (const struct rtattr *e = RTA_DATA(list); RTA_OK(e, len); e = RTA_NEXT(e, len), i++) {
        assert_int_equal(e->rta_type & ~NLA_F_NESTED, NFTA_LIST_ELEM);
        assert_int_equal(podnet_nl_parse_attrs(RTA_DATA(e), RTA_PAYLOAD(e), ex, NFTA_EXPR_MAX), 0);
        if (v->names[0])
            strcat(v->names, ",");
        strcat(v->names, podnet_nl_attr_str(ex[NFTA_EXPR_NAME]));
        if (i == want && ex[NFTA_EXPR_DATA])
            assert_int_equal(podnet_nl_parse_attrs(RTA_DATA(ex[NFTA_EXPR_DATA]),
                                                   RTA_PAYLOAD(ex[NFTA_EXPR_DATA]), v->data, 15),
                             0);
    }
}

static const struct nlmsghdr *nth_msg(const util_buf_t *b, int n)
{
    const uint8_t *p = (const uint8_t *)b->data;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        off += NLMSG_ALIGN(((const struct nlmsghdr *)(const void *)(p + off))->nlmsg_len);
        assert_true(off < b->len);
    }
    return (const struct nlmsghdr *)(const void *)(p + off);
}

/* The value inside a nested NFTA_DATA_VALUE (cmp data, immediate data). */
static const uint8_t *data_value(const struct rtattr *nested, size_t *len)
{
    const struct rtattr *dv[NFTA_DATA_MAX + 1];
    assert_non_null(nested);
    assert_int_equal(
        podnet_nl_parse_attrs(RTA_DATA(nested), RTA_PAYLOAD(nested), dv, NFTA_DATA_MAX), 0);
    assert_non_null(dv[NFTA_DATA_VALUE]);
    *len = RTA_PAYLOAD(dv[NFTA_DATA_VALUE]);
    return RTA_DATA(dv[NFTA_DATA_VALUE]);
}

static void test_nfnl_batch_layout(void **state)
{
    (void)state;
    podnet_cidr_t pod = {0x0a2a0000, 24}, cluster = {0x0a2a0000, 16};
    podnet_hostport_t hp[2] = {
        {.uid = "uid-a", .pod_ip = 0x0a2a0005, .port = {8080, 80, IPPROTO_TCP, 0}},
        {.uid = "uid-b", .pod_ip = 0x0a2a0006, .port = {5353, 53, IPPROTO_UDP, 0xc0a84d01}},
    };
    util_buf_t b = {0};
    uint32_t first, last;
    assert_int_equal(podnet_nfnl_batch(true, &pod, &cluster, hp, 2, &b, &first, &last), 0);
    /* begin, table x3, chain x4, rules: 2 jumps + 2 DNAT + 4 hostPort masquerades + 1, end */
    const int total = 1 + 3 + 4 + 9 + 1;
    static const int types[] = {NFT_MSG_NEWTABLE, NFT_MSG_DELTABLE, NFT_MSG_NEWTABLE,
                                NFT_MSG_NEWCHAIN, NFT_MSG_NEWCHAIN, NFT_MSG_NEWCHAIN,
                                NFT_MSG_NEWCHAIN};
    const struct nlmsghdr *h = nth_msg(&b, 0);
    assert_int_equal(h->nlmsg_type, NFNL_MSG_BATCH_BEGIN);
    const struct nfgenmsg *g = NLMSG_DATA(h);
    assert_int_equal(ntohs(g->res_id), NFNL_SUBSYS_NFTABLES);
    for (int i = 1; i < total - 1; i++) {
        h = nth_msg(&b, i);
        assert_int_equal(h->nlmsg_seq, (uint32_t)i + 1); /* consecutive */
        assert_true(h->nlmsg_flags & NLM_F_ACK);
        assert_int_equal(((const struct nfgenmsg *)NLMSG_DATA(h))->nfgen_family, NFPROTO_IPV4);
        if (i <= 7)
            assert_int_equal(h->nlmsg_type, (NFNL_SUBSYS_NFTABLES << 8) | types[i - 1]);
    }
    assert_int_equal(first, 2);
    assert_int_equal(last, (uint32_t)total - 1);
    h = nth_msg(&b, total - 1);
    assert_int_equal(h->nlmsg_type, NFNL_MSG_BATCH_END);
    assert_int_equal(h->nlmsg_len + NLMSG_ALIGN(0) + ((const uint8_t *)h - (uint8_t *)b.data),
                     b.len);

    /* the prerouting base chain: nat hook at dstnat priority, policy accept */
    const struct rtattr *tb[NFTA_CHAIN_MAX + 1], *hk[NFTA_HOOK_MAX + 1];
    h = nth_msg(&b, 5);
    size_t hl = NLMSG_LENGTH(sizeof(struct nfgenmsg));
    assert_int_equal(
        podnet_nl_parse_attrs((const uint8_t *)h + hl, h->nlmsg_len - hl, tb, NFTA_CHAIN_MAX), 0);
    assert_string_equal(podnet_nl_attr_str(tb[NFTA_CHAIN_NAME]), "prerouting");
    assert_string_equal(podnet_nl_attr_str(tb[NFTA_CHAIN_TYPE]), "nat");
    assert_int_equal(podnet_nl_parse_attrs(RTA_DATA(tb[NFTA_CHAIN_HOOK]),
                                           RTA_PAYLOAD(tb[NFTA_CHAIN_HOOK]), hk, NFTA_HOOK_MAX),
                     0);
    uint32_t v;
    assert_int_equal(podnet_nl_attr_u32(hk[NFTA_HOOK_HOOKNUM], &v), 0);
    assert_int_equal(ntohl(v), NF_INET_PRE_ROUTING);
    assert_int_equal(podnet_nl_attr_u32(hk[NFTA_HOOK_PRIORITY], &v), 0);
    assert_int_equal((int32_t)ntohl(v), -100);
    assert_int_equal(podnet_nl_attr_u32(tb[NFTA_CHAIN_POLICY], &v), 0);
    assert_int_equal(ntohl(v), NF_ACCEPT);

    /* the rules, in order */
    rule_view_t r;
    view_rule(nth_msg(&b, 8), -1, &r);
    assert_string_equal(r.chain, "prerouting");
    assert_string_equal(r.names, "fib,cmp,immediate");
    view_rule(nth_msg(&b, 9), -1, &r);
    assert_string_equal(r.chain, "output");
    view_rule(nth_msg(&b, 10), 4, &r); /* tcp dport 8080 dnat to 10.42.0.5:80 */
    assert_string_equal(r.chain, "hostports");
    assert_string_equal(r.names, "meta,cmp,payload,cmp,immediate,immediate,nat");
    size_t n;
    const uint8_t *val = data_value(r.data[NFTA_IMMEDIATE_DATA], &n);
    assert_int_equal(n, 4);
    assert_memory_equal(val, "\x0a\x2a\x00\x05", 4);
    assert_non_null(r.udata);
    assert_memory_equal(RTA_DATA(r.udata), "\x00\x06uid-a", 8);
    view_rule(nth_msg(&b, 10), 3, &r); /* the port compared, in network order */
    val = data_value(r.data[NFTA_CMP_DATA], &n);
    assert_int_equal(n, 2);
    assert_memory_equal(val, "\x1f\x90", 2);
    view_rule(nth_msg(&b, 11), 1, &r); /* ip daddr 192.168.77.1 udp dport 5353 */
    assert_string_equal(r.names, "payload,cmp,meta,cmp,payload,cmp,immediate,immediate,nat");
    val = data_value(r.data[NFTA_CMP_DATA], &n);
    assert_memory_equal(val, "\xc0\xa8\x4d\x01", 4);
    view_rule(nth_msg(&b, 12), 3, &r); /* hairpin/loopback masquerade of uid-a's mapping */
    assert_string_equal(r.chain, "postrouting");
    assert_string_equal(r.names,
                        "ct,bitwise,cmp,payload,bitwise,cmp,payload,cmp,meta,cmp,payload,cmp,masq");
    view_rule(nth_msg(&b, 16), 4, &r); /* ip saddr 10.42.0.0/24 ip daddr != 10.42.0.0/16 */
    assert_string_equal(r.names, "payload,bitwise,cmp,payload,bitwise,cmp,masq");
    val = data_value(r.data[NFTA_BITWISE_MASK], &n);
    assert_memory_equal(val, "\xff\xff\x00\x00", 4);
    view_rule(nth_msg(&b, 16), 5, &r);
    assert_int_equal(podnet_nl_attr_u32(r.data[NFTA_CMP_OP], &v), 0);
    assert_int_equal(ntohl(v), NFT_CMP_NEQ);
    util_buf_free(&b);
}

/* The usual batch keeps table and chains (their hooks stay registered) and flushes the rules of
 * each chain before writing them again. */
static void test_nfnl_refill_batch(void **state)
{
    (void)state;
    podnet_cidr_t pod = {0x0a2a0000, 24}, cluster = {0x0a2a0000, 16};
    util_buf_t b = {0};
    uint32_t first, last;
    assert_int_equal(podnet_nfnl_batch(false, &pod, &cluster, NULL, 0, &b, &first, &last), 0);
    static const int types[] = {NFT_MSG_NEWTABLE, NFT_MSG_NEWCHAIN, NFT_MSG_NEWCHAIN,
                                NFT_MSG_NEWCHAIN, NFT_MSG_NEWCHAIN, NFT_MSG_DELRULE,
                                NFT_MSG_DELRULE,  NFT_MSG_DELRULE,  NFT_MSG_DELRULE,
                                NFT_MSG_NEWRULE,  NFT_MSG_NEWRULE,  NFT_MSG_NEWRULE};
    static const char *const flushed[] = {"hostports", "prerouting", "output", "postrouting"};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(types); i++) {
        const struct nlmsghdr *h = nth_msg(&b, (int)i + 1);
        assert_int_equal(h->nlmsg_type, (NFNL_SUBSYS_NFTABLES << 8) | types[i]);
        if (types[i] != NFT_MSG_DELRULE)
            continue;
        const struct rtattr *tb[NFTA_RULE_MAX + 1];
        size_t hl = NLMSG_LENGTH(sizeof(struct nfgenmsg));
        assert_int_equal(
            podnet_nl_parse_attrs((const uint8_t *)h + hl, h->nlmsg_len - hl, tb, NFTA_RULE_MAX),
            0);
        assert_string_equal(podnet_nl_attr_str(tb[NFTA_RULE_CHAIN]), flushed[i - 5]);
        assert_null(tb[NFTA_RULE_HANDLE]); /* no handle: every rule of the chain */
    }
    assert_int_equal(nth_msg(&b, (int)UTIL_ARRAY_SIZE(types) + 1)->nlmsg_type, NFNL_MSG_BATCH_END);
    assert_int_equal(last - first + 1, UTIL_ARRAY_SIZE(types));
    util_buf_free(&b);
}

/* A rule as a dump returns it: chain, handle (big endian), userdata TLVs. */
static size_t make_rule_reply(uint8_t *buf, const void *udata, size_t ulen)
{
    podnet_nlmsg_t m;
    struct nfgenmsg g = {.nfgen_family = NFPROTO_IPV4, .version = NFNETLINK_V0};
    podnet_nl_init(&m, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE, 0, &g, sizeof(g));
    podnet_nl_put_str(&m, NFTA_RULE_TABLE, "kubeling");
    podnet_nl_put_str(&m, NFTA_RULE_CHAIN, "hostports");
    uint64_t be = htobe64(41);
    podnet_nl_put(&m, NFTA_RULE_HANDLE, &be, sizeof(be));
    if (udata)
        podnet_nl_put(&m, NFTA_RULE_USERDATA, udata, ulen);
    memcpy(buf, m.buf, m.len);
    return m.len;
}

static void test_nfnl_parse_rule_hostile(void **state)
{
    (void)state;
    _Alignas(4) uint8_t buf[512];
    podnet_nft_rule_t r;
    size_t len = make_rule_reply(buf, "\x00\x06uid-a", 8);
    const struct nlmsghdr *h = (const struct nlmsghdr *)(void *)buf;
    assert_int_equal(podnet_nfnl_parse_rule(h, len, &r), 0);
    assert_string_equal(r.chain, "hostports");
    assert_int_equal(r.handle, 41);
    assert_string_equal(r.uid, "uid-a");
    /* another TLV first, then the comment */
    len = make_rule_reply(buf,
                          "\x07\x01x\x00\x03"
                          "ab",
                          8);
    assert_int_equal(podnet_nfnl_parse_rule(h, len, &r), 0);
    assert_string_equal(r.uid, "ab");
    /* comments that are not: length past the end, unterminated, none at all */
    static const struct {
        const char *u;
        size_t n;
    } bad[] = {{"\x00\x40uid", 5},
               {"\x00\x03"
                "abc",
                5},
               {"\x00", 1}};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(bad); i++) {
        len = make_rule_reply(buf, bad[i].u, bad[i].n);
        assert_int_equal(podnet_nfnl_parse_rule(h, len, &r), 0);
        assert_string_equal(r.uid, "");
    }
    len = make_rule_reply(buf, NULL, 0);
    assert_int_equal(podnet_nfnl_parse_rule(h, len, &r), 0);
    assert_string_equal(r.uid, "");
    /* truncations, a short handle, the wrong type */
    len = make_rule_reply(buf, "\x00\x06uid-a", 8);
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(podnet_nfnl_parse_rule(h, cut, &r), -EBADMSG);
    struct nlmsghdr *w = (struct nlmsghdr *)(void *)buf;
    w->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWCHAIN;
    assert_int_equal(podnet_nfnl_parse_rule(h, len, &r), -EBADMSG);
}

/* A pod's change: its old rules deleted by chain and handle, its new rules appended with its
 * uid as comment, nothing else touched. */
static void test_nfnl_pod_batch(void **state)
{
    (void)state;
    podnet_cidr_t pod = {0x0a2a0000, 24};
    podnet_nft_rule_t old[2] = {{"hostports", 41, "uid-a"}, {"postrouting", 57, "uid-a"}};
    podnet_hostport_t hp = {.uid = "uid-a", .pod_ip = 0x0a2a0005, .port = {8080, 80, 6, 0}};
    util_buf_t b = {0};
    uint32_t first, last;
    assert_int_equal(podnet_nfnl_pod_batch(old, 2, &pod, &hp, 1, &b, &first, &last), 0);
    assert_int_equal(last - first + 1, 2 + 3); /* 2 deletes, DNAT + 2 masquerades */
    for (int i = 0; i < 2; i++) {
        const struct nlmsghdr *h = nth_msg(&b, i + 1);
        assert_int_equal(h->nlmsg_type, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELRULE);
        const struct rtattr *tb[NFTA_RULE_MAX + 1];
        size_t hl = NLMSG_LENGTH(sizeof(struct nfgenmsg));
        assert_int_equal(
            podnet_nl_parse_attrs((const uint8_t *)h + hl, h->nlmsg_len - hl, tb, NFTA_RULE_MAX),
            0);
        assert_string_equal(podnet_nl_attr_str(tb[NFTA_RULE_CHAIN]), old[i].chain);
        uint64_t be;
        assert_int_equal(RTA_PAYLOAD(tb[NFTA_RULE_HANDLE]), 8);
        memcpy(&be, RTA_DATA(tb[NFTA_RULE_HANDLE]), 8);
        assert_int_equal(be64toh(be), old[i].handle);
    }
    rule_view_t r;
    for (int i = 3; i <= 5; i++) {
        view_rule(nth_msg(&b, i), -1, &r);
        assert_non_null(r.udata);
        assert_memory_equal(RTA_DATA(r.udata), "\x00\x06uid-a", 8);
    }
    assert_string_equal(r.chain, "postrouting");
    util_buf_free(&b);
    /* nothing old and nothing new is an empty transaction */
    assert_int_equal(podnet_nfnl_pod_batch(NULL, 0, &pod, NULL, 0, &b, &first, &last), 0);
    assert_int_equal(last + 1, first);
    util_buf_free(&b);
}

/* Feeds podnet_nfnl_read_acks crafted replies through a SEQPACKET socketpair (datagram
 * boundaries kept, and EOF when the writer is gone). */
static int acks_from(const uint8_t *const *dgrams, const size_t *lens, size_t n, uint32_t first,
                     uint32_t last)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(send(sv[1], dgrams[i], lens[i], 0), (ssize_t)lens[i]);
    close(sv[1]); /* a reader waiting for more sees EOF (0 bytes) as an error, not a hang */
    int r = podnet_nfnl_read_acks(sv[0], first, last);
    close(sv[0]);
    return r;
}

static void test_nfnl_acks_hostile(void **state)
{
    (void)state;
    _Alignas(4) uint8_t a[64], b[64], c[64], two[128];
    const uint8_t *d[3] = {a, b, c};
    size_t l[3];
    l[0] = put_error(a, 2, 0);
    l[1] = put_error(b, 3, 0);
    l[2] = put_error(c, 4, 0);
    assert_int_equal(acks_from(d, l, 3, 2, 4), 0);
    l[1] = put_error(b, 3, -EINVAL); /* the kernel refused message 3 */
    assert_int_equal(acks_from(d, l, 3, 2, 4), -EINVAL);
    l[1] = put_error(b, 3, 7); /* a positive errno is not a kernel reply */
    assert_int_equal(acks_from(d, l, 3, 2, 4), -EBADMSG);
    l[1] = put_error(b, 3, 0);
    ((struct nlmsghdr *)(void *)b)->nlmsg_len = 200; /* longer than the datagram */
    assert_int_equal(acks_from(d, l, 3, 2, 4), -EBADMSG);
    l[1] = put_error(b, 99, 0); /* an ack for someone else is ignored; then EOF */
    assert_int_equal(acks_from(d, l, 3, 2, 4), -EPIPE);
    /* two acks in one datagram */
    size_t k = put_error(two, 2, 0);
    k += put_error(two + k, 3, 0);
    const uint8_t *d2[1] = {two};
    size_t l2[1] = {k};
    assert_int_equal(acks_from(d2, l2, 1, 2, 3), 0);
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nl_build_nested),
        cmocka_unit_test(test_nl_build_overflow_is_sticky),
        cmocka_unit_test(test_nl_veth_request_layout),
        cmocka_unit_test(test_nl_parse_link),
        cmocka_unit_test(test_nl_parse_link_hostile),
        cmocka_unit_test(test_nl_parse_attrs_bounds),
        cmocka_unit_test(test_nl_walk_replies),
        cmocka_unit_test(test_cidr_parse_and_format),
        cmocka_unit_test(test_cidr_node_subnets),
        cmocka_unit_test(test_veth_name_is_stable_and_short),
        cmocka_unit_test_setup_teardown(test_ipam_allocates_each_address_once, ipam_setup,
                                        ipam_teardown),
        cmocka_unit_test_setup_teardown(test_ipam_round_robin_from_last, ipam_setup, ipam_teardown),
        cmocka_unit_test_setup_teardown(test_ipam_reconcile_frees_leaks, ipam_setup, ipam_teardown),
        cmocka_unit_test_setup_teardown(test_ipam_refuses_bad_input, ipam_setup, ipam_teardown),
        cmocka_unit_test_setup_teardown(test_ipam_uid_index, ipam_setup, ipam_teardown),
        cmocka_unit_test(test_hostports_round_trip),
        cmocka_unit_test(test_hostports_parse_hostile),
        cmocka_unit_test(test_nfnl_batch_layout),
        cmocka_unit_test(test_nfnl_refill_batch),
        cmocka_unit_test(test_nfnl_acks_hostile),
        cmocka_unit_test(test_nfnl_parse_rule_hostile),
        cmocka_unit_test(test_nfnl_pod_batch),
    };
    return cmocka_run_group_tests_name("podnet", tests, NULL, NULL);
}
