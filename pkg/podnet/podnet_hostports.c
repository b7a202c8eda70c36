/* podnet_hostports: the hostPort state of a pod, one "tcp 8080 10.42.0.5 80 0.0.0.0" line per
 * mapping in <state>/hostports/<uid>; parsed as untrusted input. */
#include "podnet_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

static const char *proto_name(int protocol)
{
    return protocol == IPPROTO_UDP ? "udp" : "tcp";
}

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
