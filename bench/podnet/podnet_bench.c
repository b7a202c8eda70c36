/* podnet_bench: pod network setup and teardown time per pod, kubeling's podnet beside the CNI
 * bridge + host-local plugins doing the same job. Run it through bench/podnet/run.sh, which
 * puts it in a private network and mount namespace (it makes bridges and bind mounts).
 *
 *   podnet_bench kubeling DIR N [HOSTPORTS]  N pods set up (each with HOSTPORTS mappings, 0
 *                                            default), then torn down
 *   podnet_bench cni DIR N PLUGIN_DIR        the same with PLUGIN_DIR/bridge (isGateway, ipMasq,
 *                                            host-local IPAM), ADD then DEL
 *
 * Pods coexist (all N are attached before the first is detached), as on a busy node. Namespace
 * creation is not timed: pkg/runtime makes those.
 */
#include "../bench.h"
#include "podnet/podnet.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PODS 1000

/* A netns held by a bind mount, as pkg/runtime will make them. */
static int make_netns(const char *path)
{
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (self < 0 || fd < 0)
        return -errno;
    close(fd);
    int r = 0;
    if (unshare(CLONE_NEWNET) < 0 || mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL) < 0)
        r = -errno;
    if (setns(self, CLONE_NEWNET) < 0)
        abort();
    close(self);
    return r;
}

static void report(const char *what, const char *step, uint64_t *v, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)v[i] / 1e6;
    double mean = sum / (double)n;
    printf("%-28s %-9s n=%zu mean %.2f ms  p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", what, step, n,
           mean, pct_ms(v, n, 0.50), pct_ms(v, n, 0.99), pct_ms(v, n, 1.0));
}

static int run_kubeling(const char *dir, int n, int hostports, char netns[][256], uint64_t *up,
                        uint64_t *down)
{
    podnet_config_t cfg = {.data_dir = dir};
    podnet_t *pn = NULL;
    cleanup_error util_error_t err = NULL;
    char buf[512];
    if (podnet_open(&cfg, &pn, &err) < 0) {
        fprintf(stderr, "open: %s\n", util_error_text(err, buf, sizeof(buf)));
        return 1;
    }
    for (int i = 0; i < n; i++) {
        char uid[64];
        snprintf(uid, sizeof(uid), "bench-pod-%04d", i);
        podnet_port_t ports[4];
        for (int k = 0; k < hostports && k < 4; k++)
            ports[k] = (podnet_port_t){(uint16_t)(20000 + i * 4 + k), 80, IPPROTO_TCP, 0};
        podnet_pod_t pod = {.ns = "bench",
                            .name = uid,
                            .uid = uid,
                            .netns_path = netns[i],
                            .ports = ports,
                            .nports = (size_t)(hostports < 4 ? hostports : 4)};
        podnet_result_t res;
        uint64_t t0 = now_ns();
        if (podnet_setup(pn, &pod, &res, &err) < 0) {
            fprintf(stderr, "setup: %s\n", util_error_text(err, buf, sizeof(buf)));
            return 1;
        }
        up[i] = now_ns() - t0;
    }
    for (int i = 0; i < n; i++) {
        char uid[64];
        snprintf(uid, sizeof(uid), "bench-pod-%04d", i);
        uint64_t t0 = now_ns();
        if (podnet_teardown(pn, uid, &err) < 0) {
            fprintf(stderr, "teardown: %s\n", util_error_text(err, buf, sizeof(buf)));
            return 1;
        }
        down[i] = now_ns() - t0;
    }
    podnet_close(pn);
    return 0;
}

/* One CNI plugin call: config on stdin, parameters in the environment (the CNI spec). */
static int cni_call(const char *plugin_dir, const char *cmd, const char *id, const char *netns,
                    const char *config)
{
    char plugin[512], e_cmd[64], e_id[128], e_ns[320], e_path[600];
    snprintf(plugin, sizeof(plugin), "%s/bridge", plugin_dir);
    snprintf(e_cmd, sizeof(e_cmd), "CNI_COMMAND=%s", cmd);
    snprintf(e_id, sizeof(e_id), "CNI_CONTAINERID=%s", id);
    snprintf(e_ns, sizeof(e_ns), "CNI_NETNS=%s", netns);
    snprintf(e_path, sizeof(e_path), "CNI_PATH=%s", plugin_dir);
    char *envp[] = {
        e_cmd, e_id, e_ns, "CNI_IFNAME=eth0", e_path, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    int in = memfd_create("cni-config", MFD_CLOEXEC);
    if (in < 0 || write(in, config, strlen(config)) < 0 || lseek(in, 0, SEEK_SET) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    char *argv[] = {plugin, NULL};
    pid_t pid;
    int r = posix_spawn(&pid, plugin, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(in);
    int status = 0;
    if (r != 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "cni %s %s failed (status %d)\n", cmd, id, status);
        return -1;
    }
    return 0;
}

static int run_cni(const char *dir, int n, const char *plugin_dir, char netns[][256], uint64_t *up,
                   uint64_t *down)
{
    char config[1024];
    snprintf(config, sizeof(config),
             "{\"cniVersion\":\"1.0.0\",\"name\":\"bench\",\"type\":\"bridge\",\"bridge\":"
             "\"cni0\",\"isGateway\":true,\"ipMasq\":true,\"hairpinMode\":true,\"ipam\":{\"type\":"
             "\"host-local\",\"ranges\":[[{\"subnet\":\"10.88.0.0/16\"}]],\"routes\":[{\"dst\":"
             "\"0.0.0.0/0\"}],\"dataDir\":\"%s/cni-ipam\"}}",
             dir);
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof(id), "bench-pod-%04d", i);
        uint64_t t0 = now_ns();
        if (cni_call(plugin_dir, "ADD", id, netns[i], config) < 0)
            return 1;
        up[i] = now_ns() - t0;
    }
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof(id), "bench-pod-%04d", i);
        uint64_t t0 = now_ns();
        if (cni_call(plugin_dir, "DEL", id, netns[i], config) < 0)
            return 1;
        down[i] = now_ns() - t0;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: podnet_bench kubeling DIR N [HOSTPORTS] | cni DIR N PLUGIN_DIR\n");
        return 2;
    }
    const char *mode = argv[1], *dir = argv[2];
    int n = atoi(argv[3]);
    if (n <= 0 || n > MAX_PODS)
        return 2;
    static char netns[MAX_PODS][256];
    static uint64_t up[MAX_PODS], down[MAX_PODS], both[MAX_PODS];
    char nsdir[200];
    if (util_snprintf(nsdir, sizeof(nsdir), "%s/netns-%s", dir, mode) < 0)
        return 2;
    mkdir(dir, 0700);
    mkdir(nsdir, 0700);
    for (int i = 0; i < n; i++) {
        if (util_snprintf(netns[i], sizeof(netns[i]), "%s/pod-%04d", nsdir, i) < 0 ||
            make_netns(netns[i]) < 0) {
            perror("make netns");
            return 1;
        }
    }
    int hostports = argc > 4 && strcmp(mode, "kubeling") == 0 ? atoi(argv[4]) : 0;
    int r = strcmp(mode, "cni") == 0
                ? run_cni(dir, n, argc > 4 ? argv[4] : "/usr/lib/cni", netns, up, down)
                : run_kubeling(dir, n, hostports, netns, up, down);
    for (int i = 0; i < n; i++) {
        umount2(netns[i], MNT_DETACH);
        unlink(netns[i]);
        both[i] = up[i] + down[i];
    }
    if (r != 0)
        return r;
    char what[64];
    if (strcmp(mode, "cni") == 0)
        snprintf(what, sizeof(what), "cni bridge+host-local");
    else
        snprintf(what, sizeof(what), "kubeling podnet, %d hostPort%s", hostports,
                 hostports == 1 ? "" : "s");
    report(what, "setup", up, (size_t)n);
    report(what, "teardown", down, (size_t)n);
    report(what, "both", both, (size_t)n);
    return 0;
}
