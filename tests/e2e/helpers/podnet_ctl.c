/* podnet_ctl: drives pkg/podnet for the e2e test and the benchmark (the kubelet calls the same
 * functions later).
 *
 *   podnet_ctl [options] open                      bridge, sysctls, table; prints the pod CIDR
 *   podnet_ctl [options] setup UID NETNS [PORT...] prints "IP GATEWAY/PREFIX VETH"
 *                                                  PORT: tcp|udp:HOSTPORT:CONTAINERPORT[:HOSTIP]
 *   podnet_ctl [options] teardown UID
 *   podnet_ctl [options] reconcile [LIVE_UID...]   prints "freed N"
 *
 * Options: --data-dir DIR (required), --bridge NAME, --cluster-cidr CIDR, --pod-cidr CIDR,
 * --mtu N, --crash-at STAGE (SIGKILLs itself at a setup stage: "allocated" or "linked").
 */
#include "podnet/podnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *crash_at;

static void crash_hook(const char *stage)
{
    if (crash_at && strcmp(stage, crash_at) == 0) {
        fprintf(stderr, "podnet_ctl: crashing at %s\n", stage);
        kill(getpid(), SIGKILL);
    }
}

static int parse_port(const char *s, podnet_port_t *p)
{
    char proto[8];
    unsigned hp, cp;
    char host[32] = "";
    int n = sscanf(s, "%7[a-z]:%u:%u:%31s", proto, &hp, &cp, host);
    if (n < 3 || hp == 0 || hp > 65535 || cp == 0 || cp > 65535)
        return -EINVAL;
    p->protocol = strcmp(proto, "udp") == 0 ? IPPROTO_UDP : IPPROTO_TCP;
    p->host_port = (uint16_t)hp;
    p->container_port = (uint16_t)cp;
    p->host_ip = 0;
    struct in_addr in;
    if (n == 4) {
        if (inet_pton(AF_INET, host, &in) != 1)
            return -EINVAL;
        p->host_ip = ntohl(in.s_addr);
    }
    return 0;
}

static int run(podnet_t *pn, int argc, char **argv, util_error_t *err)
{
    const char *cmd = argv[0];
    if (strcmp(cmd, "open") == 0) {
        char cidr[24];
        podnet_cidr_t c = podnet_pod_cidr(pn);
        podnet_cidr_format(&c, cidr, sizeof(cidr));
        printf("%s\n", cidr);
        return 0;
    }
    if (strcmp(cmd, "setup") == 0 && argc >= 3) {
        podnet_port_t ports[PODNET_MAX_PORTS];
        size_t n = 0;
        for (int i = 3; i < argc; i++)
            if (n >= PODNET_MAX_PORTS || parse_port(argv[i], &ports[n++]) < 0)
                return util_error_make(err, EINVAL, "bad port `%s`", argv[i]);
        podnet_pod_t pod = {.ns = "default",
                            .name = argv[1],
                            .uid = argv[1],
                            .netns_path = argv[2],
                            .ports = ports,
                            .nports = n};
        podnet_result_t res;
        if (podnet_setup(pn, &pod, &res, err) < 0)
            return -1;
        printf("%s %s/%d %s\n", res.ip, res.gateway, res.prefix, res.host_veth);
        return 0;
    }
    if (strcmp(cmd, "teardown") == 0 && argc == 2)
        return podnet_teardown(pn, argv[1], err);
    if (strcmp(cmd, "reconcile") == 0) {
        size_t freed = 0;
        if (podnet_reconcile(pn, (const char *const *)argv + 1, (size_t)argc - 1, &freed, err) < 0)
            return -1;
        printf("freed %zu\n", freed);
        return 0;
    }
    return util_error_make(err, EINVAL,
                           "usage: podnet_ctl [options] open|setup|teardown|reconcile");
}

int main(int argc, char **argv)
{
    podnet_config_t cfg = {.test_hook = crash_hook};
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        const char *k = argv[i] + 2, *v = argv[i + 1];
        if (strcmp(k, "data-dir") == 0)
            cfg.data_dir = v;
        else if (strcmp(k, "bridge") == 0)
            cfg.bridge = v;
        else if (strcmp(k, "cluster-cidr") == 0)
            cfg.cluster_cidr = v;
        else if (strcmp(k, "pod-cidr") == 0)
            cfg.pod_cidr = v;
        else if (strcmp(k, "mtu") == 0)
            cfg.mtu = atoi(v);
        else if (strcmp(k, "crash-at") == 0)
            crash_at = v;
        else
            break;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: podnet_ctl --data-dir DIR open|setup|teardown|reconcile ...\n");
        return 2;
    }
    cleanup_error util_error_t err = NULL;
    podnet_t *pn = NULL;
    char buf[1024];
    if (podnet_open(&cfg, &pn, &err) < 0 || run(pn, argc - i, argv + i, &err) < 0) {
        fprintf(stderr, "podnet_ctl: %s\n", util_error_text(err, buf, sizeof(buf)));
        podnet_close(pn);
        return 1;
    }
    podnet_close(pn);
    return 0;
}
