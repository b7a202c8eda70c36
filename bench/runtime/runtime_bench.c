/* runtime_bench: container create+start+wait+delete of a busybox `/bin/true`, kubeling's
 * runtime side by side with `runc run` of the same rootfs (interleaved, one run), and the
 * resident set of an idle shim.
 *
 *   runtime_bench STATE CGROUP_ROOT KUBELING ROOTFS BUNDLE N
 * BUNDLE is a runc bundle whose rootfs is ROOTFS and whose process is /bin/true. */
#include "../bench.h"
#include "runtime/runtime.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void check(int r, util_error_t err, const char *what)
{
    if (r >= 0)
        return;
    char b[1024];
    fprintf(stderr, "runtime_bench: %s: %s\n", what, util_error_text(err, b, sizeof(b)));
    exit(1);
}

/* One container in an existing sandbox: what the kubelet does per container. */
static uint64_t run_container(runtime_t *rt, const char *sandbox, const char *rootfs, int i,
                              const char *const *args)
{
    char id[64];
    snprintf(id, sizeof(id), "bench-%d", i);
    const char *env[] = {"PATH=/bin", NULL};
    runtime_container_spec_t s = {
        .id = id, .sandbox_id = sandbox, .rootfs = rootfs, .args = args, .env = env};
    util_error_t err = NULL;
    runtime_container_state_t st;
    uint64_t t0 = now_ns();
    check(runtime_container_create(rt, &s, &err), err, "create");
    check(runtime_container_start(rt, id, &err), err, "start");
    check(runtime_container_wait(rt, id, &st, &err), err, "wait");
    check(runtime_container_delete(rt, id, &err), err, "delete");
    uint64_t t = now_ns() - t0;
    if (st.exit_code != 0) {
        fprintf(stderr, "runtime_bench: container exited %d\n", st.exit_code);
        exit(1);
    }
    return t;
}

/* A whole pod: sandbox (net, ipc, uts namespaces, pod cgroup) + container + teardown; the
 * namespaces runc's default spec creates per container. */
static uint64_t run_pod(runtime_t *rt, const char *rootfs, int i)
{
    char pod[64];
    snprintf(pod, sizeof(pod), "benchpod-%d", i);
    runtime_sandbox_spec_t sb = {.id = pod, .hostname = "bench", .qos = RUNTIME_QOS_BESTEFFORT};
    const char *args[] = {"/bin/true", NULL};
    util_error_t err = NULL;
    uint64_t t0 = now_ns();
    check(runtime_sandbox_create(rt, &sb, &err), err, "sandbox");
    run_container(rt, pod, rootfs, i, args);
    check(runtime_sandbox_remove(rt, pod, &err), err, "sandbox remove");
    return now_ns() - t0;
}

static uint64_t run_runc(const char *bundle, const char *root, int i)
{
    char id[64];
    snprintf(id, sizeof(id), "runc-bench-%d", i);
    uint64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);
        dup2(fd, 0);
        dup2(fd, 1);
        execlp("runc", "runc", "--root", root, "run", "--bundle", bundle, id, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    uint64_t t = now_ns() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "runtime_bench: runc run failed (%d)\n", status);
        exit(1);
    }
    return t;
}

static long shim_rss_kib(runtime_t *rt, const char *rootfs)
{
    runtime_sandbox_spec_t sb = {.id = "benchrss", .qos = RUNTIME_QOS_BESTEFFORT};
    const char *args[] = {"/bin/sleep", "1000", NULL}, *env[] = {NULL};
    runtime_container_spec_t s = {
        .id = "bench-rss", .sandbox_id = "benchrss", .rootfs = rootfs, .args = args, .env = env};
    util_error_t err = NULL;
    runtime_container_state_t st;
    check(runtime_sandbox_create(rt, &sb, &err), err, "sandbox");
    check(runtime_container_create(rt, &s, &err), err, "create");
    check(runtime_container_start(rt, "bench-rss", &err), err, "start");
    usleep(200000);
    check(runtime_container_state(rt, "bench-rss", &st, &err), err, "state");
    usleep(100000); /* the shim trims its pages right after replying */
    char path[64], line[256];
    long rss = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)st.shim_pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &rss) == 1)
            break;
    if (f)
        fclose(f);
    check(runtime_container_delete(rt, "bench-rss", &err), err, "delete");
    check(runtime_sandbox_remove(rt, "benchrss", &err), err, "sandbox remove");
    return rss;
}

static void report(const char *name, uint64_t *v, int n)
{
    uint64_t sum = 0;
    for (int i = 0; i < n; i++)
        sum += v[i];
    double mean = (double)sum / n / 1e6;
    double p50 = pct_ms(v, (size_t)n, 0.50), p99 = pct_ms(v, (size_t)n, 0.99);
    printf("%-28s n=%d p50_ms=%.2f p99_ms=%.2f mean_ms=%.2f\n", name, n, p50, p99, mean);
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: runtime_bench STATE CGROUP_ROOT KUBELING ROOTFS BUNDLE N\n");
        return 2;
    }
    const char *rootfs = argv[4], *bundle = argv[5];
    int n = atoi(argv[6]);
    if (n < 1 || n > 100000)
        return 2;
    runtime_config_t cfg = {.state_dir = argv[1], .cgroup_root = argv[2], .shim_exe = argv[3]};
    runtime_t *rt = NULL;
    util_error_t err = NULL;
    check(runtime_open(&cfg, &rt, &err), err, "open");
    char runc_root[1200];
    snprintf(runc_root, sizeof(runc_root), "%s/runc", argv[1]);
    uint64_t *kc = calloc((size_t)n, 8), *kp = calloc((size_t)n, 8), *rc = calloc((size_t)n, 8);
    runtime_sandbox_spec_t sb = {.id = "benchpod", .hostname = "b", .qos = RUNTIME_QOS_BESTEFFORT};
    check(runtime_sandbox_create(rt, &sb, &err), err, "sandbox");
    const char *args[] = {"/bin/true", NULL};
    for (int i = 0; i < 3; i++) { /* warm the page cache for every path */
        run_container(rt, "benchpod", rootfs, i, args);
        run_pod(rt, rootfs, i);
        run_runc(bundle, runc_root, i);
    }
    for (int i = 0; i < n; i++) { /* interleaved so that both see the same machine */
        rc[i] = run_runc(bundle, runc_root, i + 10);
        kc[i] = run_container(rt, "benchpod", rootfs, i + 10, args);
        kp[i] = run_pod(rt, rootfs, i + 10);
    }
    check(runtime_sandbox_remove(rt, "benchpod", &err), err, "sandbox remove");
    report("runc run", rc, n);
    report("kubeling container", kc, n);
    report("kubeling pod+container", kp, n);
    printf("kubeling idle shim VmRSS_kib=%ld (shim binary %s)\n", shim_rss_kib(rt, rootfs),
           argv[3]);
    free(kc);
    free(kp);
    free(rc);
    runtime_close(rt);
    return 0;
}
