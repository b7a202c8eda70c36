/* podnet_nft: the `ip kubeling` nftables table (masquerade, hostPorts) generated as an nft
 * script and applied atomically by the nft binary; hostPort state files. */
#include "podnet_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *proto_name(int protocol)
{
    return protocol == IPPROTO_UDP ? "udp" : "tcp";
}

/* ---- hostPort state ----------------------------------------------------------------------- */

int podnet_hostports_format(const podnet_hostport_t *hp, size_t n, util_buf_t *out)
{
    for (size_t i = 0; i < n; i++) {
        char pod[16], host[16];
        podnet_ip_format(hp[i].pod_ip, pod, sizeof(pod));
        podnet_ip_format(hp[i].port.host_ip, host, sizeof(host));
        util_buf_printf(out, "%s %u %s %u %s\n", proto_name(hp[i].port.protocol),
                        hp[i].port.host_port, pod, hp[i].port.container_port, host);
    }
    return 0;
}

static int parse_ip(const char *s, uint32_t *ret)
{
    struct in_addr in;
    if (inet_pton(AF_INET, s, &in) != 1)
        return -EINVAL;
    *ret = ntohl(in.s_addr);
    return 0;
}

static int parse_line(char *line, podnet_hostport_t *hp)
{
    char *save = NULL, *f[6];
    int n = 0;
    for (char *t = strtok_r(line, " ", &save); t && n < 6; t = strtok_r(NULL, " ", &save))
        f[n++] = t;
    long hport, cport;
    if (n != 5 || util_parse_long(f[1], 1, 65535, &hport) < 0 ||
        util_parse_long(f[3], 1, 65535, &cport) < 0 || parse_ip(f[2], &hp->pod_ip) < 0 ||
        parse_ip(f[4], &hp->port.host_ip) < 0)
        return -EINVAL;
    if (strcmp(f[0], "tcp") == 0)
        hp->port.protocol = IPPROTO_TCP;
    else if (strcmp(f[0], "udp") == 0)
        hp->port.protocol = IPPROTO_UDP;
    else
        return -EINVAL;
    hp->port.host_port = (uint16_t)hport;
    hp->port.container_port = (uint16_t)cport;
    return 0;
}

int podnet_hostports_parse(const char *uid, const char *text, podnet_hostport_t **ret,
                           size_t *ret_n, util_error_t *err)
{
    cleanup_free char *copy = util_xstrdup(text);
    cleanup_free podnet_hostport_t *v = NULL;
    size_t n = 0;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (n >= PODNET_MAX_PORTS)
            return util_error_make(err, E2BIG, "more than %d hostPorts", PODNET_MAX_PORTS);
        v = util_xrealloc(v, (n + 1) * sizeof(*v));
        memset(&v[n], 0, sizeof(v[n]));
        if (util_strlcpy(v[n].uid, uid, sizeof(v[n].uid)) < 0 || parse_line(line, &v[n]) < 0)
            return util_error_make(err, EINVAL, "malformed hostPort line %zu", n + 1);
        n++;
    }
    *ret = v;
    v = NULL;
    *ret_n = n;
    return 0;
}

/* ---- the ruleset -------------------------------------------------------------------------- */

/* Mirrors what the CNI bridge (ipMasq) and portmap plugins install, in our own table:
 *  - masquerade pod traffic that leaves the cluster range;
 *  - DNAT node-local destinations (fib daddr type local) on hostPorts, for traffic arriving
 *    from outside (prerouting) and from the node itself (output);
 *  - masquerade DNATed hostPort traffic coming from a pod (hairpin: the reply must come back
 *    through the node, not straight across the bridge) or from the node's loopback (which
 *    only routes with route_localnet on the bridge). */
void podnet_nft_ruleset(const podnet_cidr_t *pod_cidr, const podnet_cidr_t *cluster_cidr,
                        const podnet_hostport_t *hp, size_t n, util_buf_t *out)
{
    char pod[24], cluster[24];
    podnet_cidr_format(pod_cidr, pod, sizeof(pod));
    podnet_cidr_format(cluster_cidr, cluster, sizeof(cluster));
    util_buf_puts(out, "table ip " PODNET_NFT_TABLE " {\n}\ndelete table ip " PODNET_NFT_TABLE
                       "\ntable ip " PODNET_NFT_TABLE " {\n");
    util_buf_puts(out, "\tchain hostports {\n");
    for (size_t i = 0; i < n; i++) {
        char ip[16], host[16];
        podnet_ip_format(hp[i].pod_ip, ip, sizeof(ip));
        podnet_ip_format(hp[i].port.host_ip, host, sizeof(host));
        util_buf_puts(out, "\t\t");
        if (hp[i].port.host_ip)
            util_buf_printf(out, "ip daddr %s ", host);
        util_buf_printf(out, "%s dport %u dnat to %s:%u comment \"%.64s\"\n",
                        proto_name(hp[i].port.protocol), hp[i].port.host_port, ip,
                        hp[i].port.container_port, hp[i].uid);
    }
    util_buf_puts(out, "\t}\n");
    util_buf_puts(out, "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; "
                       "policy accept;\n\t\tfib daddr type local jump hostports\n\t}\n");
    util_buf_puts(out, "\tchain output {\n\t\ttype nat hook output priority -100; "
                       "policy accept;\n\t\tfib daddr type local jump hostports\n\t}\n");
    util_buf_puts(out, "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; "
                       "policy accept;\n");
    for (size_t i = 0; i < n; i++) {
        char ip[16];
        podnet_ip_format(hp[i].pod_ip, ip, sizeof(ip));
        util_buf_printf(out,
                        "\t\tct status dnat ip saddr { 127.0.0.0/8, %s } ip daddr %s %s dport %u "
                        "masquerade\n",
                        pod, ip, proto_name(hp[i].port.protocol), hp[i].port.container_port);
    }
    util_buf_printf(out, "\t\tip saddr %s ip daddr != %s masquerade\n", pod, cluster);
    util_buf_puts(out, "\t}\n}\n");
}

/* ---- running nft -------------------------------------------------------------------------- */

/* Reads fd to its end, keeping the first len-1 bytes (NUL-terminated) and dropping the rest. */
static void read_bounded(int fd, char *buf, size_t len)
{
    size_t got = 0;
    char sink[512];
    for (;;) {
        bool full = got >= len - 1;
        ssize_t n = full ? read(fd, sink, sizeof(sink)) : read(fd, buf + got, len - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (!full)
            got += (size_t)n;
    }
    buf[got] = '\0';
}

/* The script goes through a memfd (no temp file, no pipe to keep fed); stderr through a pipe,
 * bounded, becomes the error message. */
int podnet_nft_apply(const char *nft, const char *script, size_t len, util_error_t *err)
{
    cleanup_close int in = memfd_create("kubeling-nft", MFD_CLOEXEC);
    if (in < 0)
        return util_error_make(err, errno, "memfd_create");
    if (write(in, script, len) != (ssize_t)len || lseek(in, 0, SEEK_SET) != 0)
        return util_error_make(err, errno ? errno : EIO, "write nft script");
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return util_error_make(err, errno, "pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    char *argv[] = {(char *)nft, "-f", "-", NULL};
    pid_t pid;
    int r = posix_spawnp(&pid, nft, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (r != 0) {
        close(pipefd[0]);
        return util_error_make(err, r, "run `%s`", nft);
    }
    char msg[1024];
    read_bounded(pipefd[0], msg, sizeof(msg));
    close(pipefd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return util_error_make(err, errno, "wait for nft");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        msg[strcspn(msg, "\n")] = '\0';
        return util_error_make(err, EIO, "nft failed: %s", msg[0] ? msg : "(no message)");
    }
    return 0;
}
