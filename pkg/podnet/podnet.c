/* podnet: the node's bridge and the per-pod attach/detach/reconcile steps, built from the
 * netlink, IPAM and nftables pieces. Every step converges: run again after a crash, it
 * finishes what was started. */
#include "podnet_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/nsfs.h>

struct podnet {
    char bridge[16];
    char state[PATH_MAX];     /* <data>/agent/podnet */
    char hostports[PATH_MAX]; /* <state>/hostports: one file per pod with hostPorts */
    podnet_cidr_t cluster, pod;
    uint32_t gateway;
    uint32_t mtu;
    podnet_ipam_t ipam;
    void (*test_hook)(const char *stage);
};

static void hook(const podnet_t *pn, const char *stage)
{
    if (pn->test_hook)
        pn->test_hook(stage);
}

/* Pod uids name files and link aliases: accept what Kubernetes generates (UUIDs) and other
 * plain names, nothing with '/' or a leading dot. */
static int check_uid(const char *uid, util_error_t *err)
{
    size_t n = uid ? strlen(uid) : 0;
    if (n == 0 || n >= PODNET_UID_MAX || uid[0] == '.')
        return util_error_make(err, EINVAL, "invalid pod uid");
    for (size_t i = 0; i < n; i++) {
        char c = uid[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return util_error_make(err, EINVAL, "invalid pod uid `%.40s`", uid);
    }
    return 0;
}

/* ---- sysctls ------------------------------------------------------------------------------ */

/* Writes value to a /proc/sys file unless it already holds it (the calling thread's netns). */
static int sysctl_set(const char *path, const char *value, util_error_t *err)
{
    char cur[32] = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, cur, sizeof(cur) - 1);
        cur[n > 0 ? n : 0] = '\0';
        close(fd);
        cur[strcspn(cur, "\n")] = '\0';
        if (strcmp(cur, value) == 0)
            return 0;
    }
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return util_error_make(err, errno, "open `%s`", path);
    ssize_t w = write(fd, value, strlen(value));
    int e = errno;
    close(fd);
    return w < 0 ? util_error_make(err, e, "write `%s`", path) : 0;
}

/* Forwarding on (what the CNI bridge plugin's isGateway does), and route_localnet on the
 * bridge so hostPorts answer on 127.0.0.1 from the node as portmap does. */
static int sysctls(const podnet_t *pn, util_error_t *err)
{
    char path[128];
    if (sysctl_set("/proc/sys/net/ipv4/ip_forward", "1", err) < 0)
        return util_error_code(*err);
    static const char *const keys[] = {"forwarding", "route_localnet"};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(keys); i++) {
        snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/%s", pn->bridge, keys[i]);
        if (sysctl_set(path, "1", err) < 0)
            return util_error_code(*err);
    }
    return 0;
}

/* ---- the bridge --------------------------------------------------------------------------- */

static int bridge_ensure(podnet_t *pn, podnet_nl_t *nl, int *ret_ifindex, util_error_t *err)
{
    podnet_link_t br;
    int r = podnet_link_get(nl, pn->bridge, &br);
    if (r == -ENODEV) {
        r = podnet_bridge_add(nl, pn->bridge, pn->mtu);
        if (r < 0 && r != -EEXIST)
            return util_error_make(err, -r, "create bridge %s", pn->bridge);
        r = podnet_link_get(nl, pn->bridge, &br);
    }
    if (r < 0)
        return util_error_make(err, -r, "look up bridge %s", pn->bridge);
    if (strcmp(br.kind, "bridge") != 0)
        return util_error_make(err, EEXIST, "link %s exists and is not a bridge (kind `%s`)",
                               pn->bridge, br.kind);
    r = podnet_addr_ensure(nl, br.ifindex, pn->gateway, pn->pod.prefix);
    if (r < 0)
        return util_error_make(err, -r, "address on bridge %s", pn->bridge);
    if (!(br.flags & IFF_UP) && (r = podnet_link_set_up(nl, br.ifindex)) < 0)
        return util_error_make(err, -r, "set bridge %s up", pn->bridge);
    *ret_ifindex = br.ifindex;
    return 0;
}

/* ---- hostPorts: state files and the ruleset ----------------------------------------------- */

/* Loads every pod's hostPorts; malformed files are skipped (reconcile removes them when their
 * pod is gone). */
static int hostports_load(const podnet_t *pn, podnet_hostport_t **ret, size_t *ret_n,
                          util_error_t *err)
{
    DIR *d = opendir(pn->hostports);
    if (!d)
        return util_error_make(err, errno, "open `%s`", pn->hostports);
    cleanup_dir DIR *dir = d;
    podnet_hostport_t *all = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        char path[PATH_MAX];
        cleanup_free char *text = NULL;
        cleanup_free podnet_hostport_t *v = NULL;
        cleanup_error util_error_t e = NULL;
        size_t k;
        if (check_uid(de->d_name, &e) < 0 || strstr(de->d_name, ".tmp.") ||
            util_path_join(path, sizeof(path), pn->hostports, de->d_name) < 0 ||
            util_read_file(path, 64 * 1024, &text, NULL, &e) < 0 ||
            podnet_hostports_parse(de->d_name, text, &v, &k, &e) < 0 || n + k > 65536)
            continue;
        all = util_xrealloc(all, (n + k + 1) * sizeof(*all));
        memcpy(all + n, v, k * sizeof(*v));
        n += k;
    }
    *ret = all;
    *ret_n = n;
    return 0;
}

/* Serializes hostPort state changes and table rewrites of concurrent pods (threads or
 * processes), so a stale view is never applied last. Returns the lock fd. */
static int nft_lock(const podnet_t *pn, util_error_t *err)
{
    char lockpath[PATH_MAX];
    if (util_path_join(lockpath, sizeof(lockpath), pn->state, "nft.lock") < 0)
        return util_error_make(err, ENAMETOOLONG, "state path too long");
    int fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return util_error_make(err, errno, "open `%s`", lockpath);
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return util_error_make(err, e, "lock `%s`", lockpath);
        }
    }
    return fd;
}

/* Rewrites the whole table from the state files (nft lock held). */
static int ruleset_apply_locked(const podnet_t *pn, util_error_t *err)
{
    cleanup_free podnet_hostport_t *hp = NULL;
    size_t n = 0;
    if (hostports_load(pn, &hp, &n, err) < 0)
        return util_error_code(*err);
    return podnet_nfnl_apply(&pn->pod, &pn->cluster, hp, n, err);
}

static int ruleset_apply(const podnet_t *pn, util_error_t *err)
{
    cleanup_close int lock = nft_lock(pn, err);
    return lock < 0 ? lock : ruleset_apply_locked(pn, err);
}

/* A hostPort another pod already maps (same protocol and port, overlapping host address):
 * the scheduler keeps these apart, but a second DNAT rule would silently never match. */
static int hostports_conflict(const podnet_t *pn, const podnet_pod_t *pod, util_error_t *err)
{
    cleanup_free podnet_hostport_t *hp = NULL;
    size_t n = 0;
    if (hostports_load(pn, &hp, &n, err) < 0)
        return util_error_code(*err);
    for (size_t i = 0; i < pod->nports; i++) {
        const podnet_port_t *p = &pod->ports[i];
        for (size_t k = 0; k < n; k++) {
            const podnet_port_t *q = &hp[k].port;
            if (strcmp(hp[k].uid, pod->uid) == 0 || p->protocol != q->protocol ||
                p->host_port != q->host_port ||
                (p->host_ip && q->host_ip && p->host_ip != q->host_ip))
                continue;
            return util_error_make(err, EADDRINUSE, "hostPort %u/%s is already mapped to pod %s",
                                   p->host_port, p->protocol == IPPROTO_UDP ? "udp" : "tcp",
                                   hp[k].uid);
        }
    }
    return 0;
}

/* The pod's own rules replaced in place (the usual, cheap path); the whole table rewritten from
 * the state files when that fails (table missing or changed underneath). nft lock held. */
static int pod_rules_apply(const podnet_t *pn, const char *uid, const podnet_hostport_t *hp,
                           size_t n, util_error_t *err)
{
    if (podnet_nfnl_apply_pod(uid, &pn->pod, hp, n, err) == 0)
        return 0;
    util_error_free(err);
    return ruleset_apply_locked(pn, err);
}

static int hostports_path(const podnet_t *pn, const char *uid, char *path, size_t len,
                          util_error_t *err)
{
    if (util_path_join(path, len, pn->hostports, uid) < 0)
        return util_error_make(err, ENAMETOOLONG, "state path too long");
    return 0;
}

/* Records the pod's mappings (or their absence) and re-applies the table when they changed. */
static int hostports_update(const podnet_t *pn, const podnet_pod_t *pod, uint32_t ip,
                            util_error_t *err)
{
    char path[PATH_MAX];
    if (hostports_path(pn, pod->uid, path, sizeof(path), err) < 0)
        return util_error_code(*err);
    bool had = access(path, F_OK) == 0;
    if (pod->nports == 0 && !had)
        return 0;
    cleanup_close int lock = nft_lock(pn, err);
    if (lock < 0 || hostports_conflict(pn, pod, err) < 0)
        return util_error_code(*err);
    podnet_hostport_t hp[PODNET_MAX_PORTS];
    for (size_t i = 0; i < pod->nports; i++) {
        hp[i] = (podnet_hostport_t){.pod_ip = ip, .port = pod->ports[i]};
        util_strlcpy(hp[i].uid, pod->uid, sizeof(hp[i].uid)); /* checked: fits */
    }
    util_buf_t text = {0};
    podnet_hostports_format(hp, pod->nports, &text);
    int r = 0;
    if (pod->nports) /* the state first: a crash before the rules is repaired by a rerun */
        r = util_write_file_atomic(path, text.data, text.len, 0600, err);
    util_buf_free(&text);
    if (r == 0)
        r = pod_rules_apply(pn, pod->uid, hp, pod->nports, err);
    if (r == 0 && pod->nports == 0 && unlink(path) < 0 && errno != ENOENT)
        r = util_error_make(err, errno, "remove `%s`", path);
    return r;
}

/* ---- open / close ------------------------------------------------------------------------- */

static int config_apply(podnet_t *pn, const podnet_config_t *cfg, util_error_t *err)
{
    if (!cfg->data_dir)
        return util_error_make(err, EINVAL, "podnet: no data dir");
    const char *bridge = cfg->bridge ? cfg->bridge : PODNET_DEFAULT_BRIDGE;
    if (!bridge[0] || util_strlcpy(pn->bridge, bridge, sizeof(pn->bridge)) < 0 ||
        strchr(bridge, '/') || bridge[0] == '.')
        return util_error_make(err, EINVAL, "invalid bridge name `%.40s`", bridge);
    if (util_snprintf(pn->state, sizeof(pn->state), "%s/agent/podnet", cfg->data_dir) < 0 ||
        util_snprintf(pn->hostports, sizeof(pn->hostports), "%s/hostports", pn->state) < 0)
        return util_error_make(err, ENAMETOOLONG, "podnet: path too long");
    const char *cluster = cfg->cluster_cidr ? cfg->cluster_cidr : PODNET_DEFAULT_CLUSTER_CIDR;
    if (podnet_cidr_parse(cluster, &pn->cluster, err) < 0)
        return util_error_wrap(err, "--cluster-cidr");
    if (cfg->pod_cidr) {
        if (podnet_cidr_parse(cfg->pod_cidr, &pn->pod, err) < 0)
            return util_error_wrap(err, "pod CIDR");
    } else if (podnet_cidr_subnet(&pn->cluster, 24, 0, &pn->pod, err) < 0) {
        return util_error_wrap(err, "--cluster-cidr");
    }
    if (pn->pod.prefix < pn->cluster.prefix || !podnet_cidr_contains(&pn->cluster, pn->pod.addr))
        return util_error_make(err, EINVAL, "the pod CIDR is outside the cluster CIDR");
    if (cfg->mtu < 0 || cfg->mtu > 65535 || (cfg->mtu && cfg->mtu < 576))
        return util_error_make(err, EINVAL, "invalid MTU %d", cfg->mtu);
    pn->mtu = cfg->mtu ? (uint32_t)cfg->mtu : PODNET_DEFAULT_MTU;
    pn->gateway = pn->pod.addr + 1;
    pn->test_hook = cfg->test_hook;
    return 0;
}

int podnet_open(const podnet_config_t *cfg, podnet_t **ret, util_error_t *err)
{
    podnet_t *pn = util_xcalloc(1, sizeof(*pn));
    char ipam[PATH_MAX];
    podnet_nl_t nl = {.fd = -1};
    int ifindex;
    int r = config_apply(pn, cfg, err);
    if (r == 0 && util_snprintf(ipam, sizeof(ipam), "%s/ipam", pn->state) < 0)
        r = util_error_make(err, ENAMETOOLONG, "podnet: path too long");
    if (r == 0)
        r = podnet_ipam_init(&pn->ipam, ipam, &pn->pod, err);
    if (r == 0)
        r = util_mkdir_p(pn->hostports, 0700, err);
    if (r == 0)
        r = podnet_nl_open(&nl, NULL, err);
    if (r == 0)
        r = bridge_ensure(pn, &nl, &ifindex, err);
    if (r == 0)
        r = sysctls(pn, err);
    if (r == 0)
        r = ruleset_apply(pn, err);
    podnet_nl_close(&nl);
    if (r < 0) {
        free(pn);
        return r;
    }
    *ret = pn;
    return 0;
}

podnet_t *podnet_close(podnet_t *pn)
{
    free(pn);
    return NULL;
}

podnet_cidr_t podnet_pod_cidr(const podnet_t *pn)
{
    return pn->pod;
}

/* ---- setup -------------------------------------------------------------------------------- */

/* Makes the veth pair exist with the peer in this pod's netns. An existing host veth is kept
 * when the pod's netns has its eth0 (a repeated setup); anything else left half-way by a crash
 * is removed and made again. A host veth owned by another pod is a name collision. */
static int veth_ensure(podnet_t *pn, podnet_nl_t *host, podnet_nl_t *pod, const char *veth,
                       const char *alias, int netns_fd, util_error_t *err)
{
    podnet_link_t l, eth0, br;
    int r = podnet_link_get(host, pn->bridge, &br);
    if (r < 0)
        return util_error_make(err, -r, "look up bridge %s", pn->bridge);
    bool have_host = podnet_link_get(host, veth, &l) == 0;
    bool have_eth0 = podnet_link_get(pod, "eth0", &eth0) == 0;
    if (have_host && l.alias[0] && strcmp(l.alias, alias) != 0)
        return util_error_make(err, EEXIST, "%s belongs to another pod (%s)", veth, l.alias);
    if (have_host && have_eth0 && strcmp(eth0.kind, "veth") == 0 && l.master == br.ifindex) {
        if ((r = podnet_bridge_port_set(host, l.ifindex, alias)) < 0)
            return util_error_make(err, -r, "bridge port settings of %s", veth);
        if ((r = podnet_link_set_up(host, l.ifindex)) < 0)
            return util_error_make(err, -r, "set %s up", veth);
        return 0;
    }
    if (have_eth0 && strcmp(eth0.kind, "veth") != 0) /* not a leftover of ours: leave it be */
        return util_error_make(err, EEXIST, "the pod's netns has an eth0 of kind `%s`", eth0.kind);
    if (have_host && (r = podnet_link_del(host, veth)) < 0 && r != -ENODEV)
        return util_error_make(err, -r, "remove stale %s", veth);
    if (have_eth0 && (r = podnet_link_del(pod, "eth0")) < 0 && r != -ENODEV)
        return util_error_make(err, -r, "remove stale eth0 of the pod");
    r = podnet_veth_add(host, veth, alias, br.ifindex, pn->mtu, "eth0", netns_fd);
    if (r < 0)
        return util_error_make(err, -r, "create veth %s", veth);
    return 0;
}

/* Inside the pod: lo up, eth0 with its address, up, default route via the bridge. */
static int pod_side(podnet_t *pn, podnet_nl_t *pod, uint32_t ip, util_error_t *err)
{
    podnet_link_t lo, eth0;
    int r = podnet_link_get(pod, "lo", &lo);
    if (r == 0)
        r = podnet_link_set_up(pod, lo.ifindex);
    if (r < 0)
        return util_error_make(err, -r, "set lo up in the pod");
    if ((r = podnet_link_get(pod, "eth0", &eth0)) < 0)
        return util_error_make(err, -r, "look up eth0 in the pod");
    if ((r = podnet_addr_ensure(pod, eth0.ifindex, ip, pn->pod.prefix)) < 0)
        return util_error_make(err, -r, "address on eth0");
    if ((r = podnet_link_set_up(pod, eth0.ifindex)) < 0)
        return util_error_make(err, -r, "set eth0 up");
    if ((r = podnet_route_default(pod, eth0.ifindex, pn->gateway)) < 0)
        return util_error_make(err, -r, "default route in the pod");
    return 0;
}

static int check_pod(const podnet_pod_t *pod, util_error_t *err)
{
    if (check_uid(pod->uid, err) < 0)
        return util_error_code(*err);
    if (!pod->netns_path || !pod->netns_path[0] || strlen(pod->netns_path) >= PATH_MAX ||
        strchr(pod->netns_path, '\n'))
        return util_error_make(err, EINVAL, "invalid netns path");
    if (pod->nports > PODNET_MAX_PORTS)
        return util_error_make(err, E2BIG, "more than %d hostPorts", PODNET_MAX_PORTS);
    for (size_t i = 0; i < pod->nports; i++) {
        const podnet_port_t *p = &pod->ports[i];
        if (!p->host_port || !p->container_port ||
            (p->protocol != IPPROTO_TCP && p->protocol != IPPROTO_UDP))
            return util_error_make(err, EINVAL, "invalid hostPort mapping %zu", i);
    }
    return 0;
}

/* The pod's netns must be a network namespace other than ours: given the node's own (a
 * hostNetwork pod passed by mistake), setup would rename, address and route the node. */
static int check_netns(int fd, const char *path, util_error_t *err)
{
    struct stat pod, self;
    if (fstat(fd, &pod) < 0 || stat("/proc/thread-self/ns/net", &self) < 0)
        return util_error_make(err, errno, "stat netns `%s`", path);
    if (pod.st_dev == self.st_dev && pod.st_ino == self.st_ino)
        return util_error_make(err, EINVAL, "`%s` is the node's own network namespace", path);
    if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET)
        return util_error_make(err, EINVAL, "`%s` is not a network namespace", path);
    return 0;
}

static int setup_links(podnet_t *pn, const podnet_pod_t *pod, int netns_fd, uint32_t ip,
                       const char *veth, util_error_t *err)
{
    podnet_nl_t host = {.fd = -1}, pnl = {.fd = -1};
    char alias[PODNET_UID_MAX + 16];
    snprintf(alias, sizeof(alias), PODNET_ALIAS_PREFIX "%s", pod->uid);
    int r = podnet_nl_open(&host, NULL, err);
    if (r == 0)
        r = podnet_nl_open(&pnl, pod->netns_path, err);
    if (r == 0)
        r = veth_ensure(pn, &host, &pnl, veth, alias, netns_fd, err);
    if (r == 0)
        hook(pn, "linked");
    if (r == 0)
        r = pod_side(pn, &pnl, ip, err);
    podnet_nl_close(&pnl);
    podnet_nl_close(&host);
    return r;
}

int podnet_setup(podnet_t *pn, const podnet_pod_t *pod, podnet_result_t *ret, util_error_t *err)
{
    if (check_pod(pod, err) < 0)
        return util_error_code(*err);
    uint32_t ip;
    char veth[16];
    podnet_veth_name(pod->uid, veth, sizeof(veth));
    cleanup_close int netns_fd = open(pod->netns_path, O_RDONLY | O_CLOEXEC);
    if (netns_fd < 0)
        return util_error_make(err, errno, "open netns `%s`", pod->netns_path);
    if (check_netns(netns_fd, pod->netns_path, err) < 0)
        return util_error_code(*err);
    if (pod->nports && hostports_conflict(pn, pod, err) < 0) /* before any side effect */
        return util_error_wrap(err, "pod %s/%s", pod->ns ? pod->ns : "",
                               pod->name ? pod->name : pod->uid);
    if (podnet_ipam_allocate(&pn->ipam, pod->uid, pod->netns_path, &ip, err) < 0)
        return util_error_code(*err);
    hook(pn, "allocated");
    if (setup_links(pn, pod, netns_fd, ip, veth, err) < 0 || hostports_update(pn, pod, ip, err) < 0)
        return util_error_wrap(err, "pod %s/%s", pod->ns ? pod->ns : "",
                               pod->name ? pod->name : pod->uid);
    podnet_result_t res = {.prefix = pn->pod.prefix};
    podnet_ip_format(ip, res.ip, sizeof(res.ip));
    podnet_ip_format(pn->gateway, res.gateway, sizeof(res.gateway));
    memcpy(res.host_veth, veth, sizeof(res.host_veth));
    *ret = res;
    return 0;
}

/* ---- teardown and reconcile --------------------------------------------------------------- */

/* Order matters: rules go before the address is released, so a new pod given the address
 * never inherits the old pod's hostPorts. */
int podnet_teardown(podnet_t *pn, const char *uid, util_error_t *err)
{
    if (check_uid(uid, err) < 0)
        return util_error_code(*err);
    char veth[16], path[PATH_MAX];
    podnet_veth_name(uid, veth, sizeof(veth));
    podnet_nl_t nl;
    if (podnet_nl_open(&nl, NULL, err) < 0)
        return util_error_code(*err);
    podnet_link_t l;
    int r = podnet_link_get(&nl, veth, &l);
    char alias[PODNET_UID_MAX + 16];
    snprintf(alias, sizeof(alias), PODNET_ALIAS_PREFIX "%s", uid);
    if (r == 0 && (!l.alias[0] || strcmp(l.alias, alias) == 0))
        r = podnet_link_del(&nl, veth);
    podnet_nl_close(&nl);
    if (r < 0 && r != -ENODEV)
        return util_error_make(err, -r, "remove %s", veth);
    if (hostports_path(pn, uid, path, sizeof(path), err) < 0)
        return util_error_code(*err);
    if (access(path, F_OK) == 0) {
        cleanup_close int lock = nft_lock(pn, err);
        if (lock < 0)
            return lock;
        if (pod_rules_apply(pn, uid, NULL, 0, err) < 0) /* rules first, then their record */
            return util_error_code(*err);
        if (unlink(path) < 0 && errno != ENOENT)
            return util_error_make(err, errno, "remove `%s`", path);
    }
    return podnet_ipam_release(&pn->ipam, uid, err);
}

static bool live_has(const char *const *live, size_t n, const char *uid)
{
    for (size_t i = 0; i < n; i++)
        if (live[i] && strcmp(live[i], uid) == 0)
            return true;
    return false;
}

/* Whether a veth on our bridge belongs to a pod that is gone: by its alias, or, for one whose
 * alias was never set (a crash right after creation), by its name. */
static bool link_is_leaked(const podnet_link_t *l, const char *const *live, size_t n)
{
    if (util_str_has_prefix(l->alias, PODNET_ALIAS_PREFIX))
        return !live_has(live, n, l->alias + strlen(PODNET_ALIAS_PREFIX));
    if (l->alias[0] || !util_str_has_prefix(l->name, "veth") || strlen(l->name) != 12)
        return false; /* not one of ours */
    for (size_t i = 0; i < n; i++) {
        char name[16];
        if (!live[i])
            continue;
        podnet_veth_name(live[i], name, sizeof(name));
        if (strcmp(name, l->name) == 0)
            return false;
    }
    return true;
}

/* Our veths on our bridge whose owner is gone (a crash after linking, before teardown). */
static int reconcile_links(podnet_t *pn, const char *const *live, size_t n, size_t *freed,
                           util_error_t *err)
{
    podnet_nl_t nl;
    if (podnet_nl_open(&nl, NULL, err) < 0)
        return util_error_code(*err);
    podnet_link_t br, *links = NULL;
    size_t nlinks = 0;
    int r = podnet_link_get(&nl, pn->bridge, &br);
    if (r == 0)
        r = podnet_link_list(&nl, &links, &nlinks);
    for (size_t i = 0; r == 0 && i < nlinks; i++) {
        const podnet_link_t *l = &links[i];
        if (l->master != br.ifindex || strcmp(l->kind, "veth") != 0 || !link_is_leaked(l, live, n))
            continue;
        r = podnet_link_del(&nl, l->name);
        if (r == -ENODEV)
            r = 0;
        else if (r == 0)
            (*freed)++;
    }
    free(links);
    podnet_nl_close(&nl);
    return r < 0 ? util_error_make(err, -r, "reconcile links on %s", pn->bridge) : 0;
}

static int reconcile_hostports(podnet_t *pn, const char *const *live, size_t n, size_t *freed,
                               util_error_t *err)
{
    cleanup_close int lock = nft_lock(pn, err);
    if (lock < 0)
        return lock;
    DIR *d = opendir(pn->hostports);
    if (!d)
        return util_error_make(err, errno, "open `%s`", pn->hostports);
    cleanup_dir DIR *dir = d;
    struct dirent *de;
    size_t removed = 0;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.' || live_has(live, n, de->d_name))
            continue;
        if (unlinkat(dirfd(dir), de->d_name, 0) == 0)
            removed++;
    }
    *freed += removed;
    return removed ? ruleset_apply_locked(pn, err) : 0;
}

int podnet_reconcile(podnet_t *pn, const char *const *live_uids, size_t n, size_t *ret_freed,
                     util_error_t *err)
{
    size_t freed = 0, ips = 0;
    if (reconcile_links(pn, live_uids, n, &freed, err) < 0 ||
        reconcile_hostports(pn, live_uids, n, &freed, err) < 0 ||
        podnet_ipam_reconcile(&pn->ipam, live_uids, n, &ips, err) < 0)
        return util_error_code(*err);
    if (ret_freed)
        *ret_freed = freed + ips;
    return 0;
}
