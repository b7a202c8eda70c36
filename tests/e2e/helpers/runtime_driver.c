/* runtime_driver: drives pkg/runtime from the command line for tests/e2e/test_runtime.sh, the
 * way the kubelet will (each invocation is a short-lived "kubelet"; containers outlive it).
 *
 *   runtime_driver STATE CGROUP_ROOT KUBELING CMD [ARGS]
 *   CMD: sandbox-create ID [opts] | sandbox-remove ID | netns ID | create|run ID SANDBOX
 *        [opts] -- ARGS | start ID | kill ID SIG | wait ID | state ID | delete ID | list |
 *        watch ID | stats ID | exec ID -- ARGS | exec-tty ID INPUT -- ARGS | cleanup */
#include "runtime/runtime.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int die(util_error_t err)
{
    char b[1024];
    fprintf(stderr, "runtime_driver: %s\n", util_error_text(err, b, sizeof(b)));
    util_error_free(&err);
    return 1;
}

static long num(const char *s)
{
    return strtol(s, NULL, 0);
}

static int sandbox_create(runtime_t *rt, int argc, char **argv)
{
    runtime_sandbox_spec_t s = {.id = argv[0], .hostname = argv[0], .qos = RUNTIME_QOS_BURSTABLE};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--hostname"))
            s.hostname = v, i++;
        else if (!strcmp(a, "--host-network"))
            s.host_network = true;
        else if (!strcmp(a, "--host-pid"))
            s.host_pid = true;
        else if (!strcmp(a, "--host-ipc"))
            s.host_ipc = true;
        else if (!strcmp(a, "--qos"))
            s.qos = !strcmp(v, "guaranteed")   ? RUNTIME_QOS_GUARANTEED
                    : !strcmp(v, "besteffort") ? RUNTIME_QOS_BESTEFFORT
                                               : RUNTIME_QOS_BURSTABLE,
            i++;
        else if (!strcmp(a, "--memory-limit"))
            s.resources.memory_limit = num(v), i++;
        else if (!strcmp(a, "--cpu-limit"))
            s.resources.cpu_limit_milli = num(v), i++;
        else if (!strcmp(a, "--cpu-request"))
            s.resources.cpu_request_milli = num(v), i++;
    }
    util_error_t err = NULL;
    return runtime_sandbox_create(rt, &s, &err) < 0 ? die(err) : 0;
}

#define MAXV 32

typedef struct opts {
    runtime_container_spec_t s;
    const char *lower[MAXV], *env[MAXV], *add[MAXV], *drop[MAXV], *args[MAXV];
    size_t nlower, nenv, nadd, ndrop, nargs;
    runtime_mount_t mounts[MAXV];
    gid_t groups[MAXV];
} opts_t;

static int parse_mount(opts_t *o, char *v)
{
    runtime_mount_t *m = &o->mounts[o->s.nmounts];
    char *c1 = strchr(v, ':');
    if (!c1 || o->s.nmounts >= MAXV)
        return -1;
    *c1 = 0;
    char *c2 = strchr(c1 + 1, ':');
    if (c2)
        *c2 = 0;
    *m = (runtime_mount_t){v, c1 + 1, c2 && !strcmp(c2 + 1, "ro")};
    o->s.nmounts++;
    return 0;
}

static int parse_container(opts_t *o, int argc, char **argv)
{
    o->s.id = argv[0];
    o->s.sandbox_id = argv[1];
    int i = 2;
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        const char *a = argv[i];
        char *v = i + 1 < argc ? argv[i + 1] : "";
        bool takes = true;
        if (!strcmp(a, "--rootfs"))
            o->s.rootfs = v;
        else if (!strcmp(a, "--lower") && o->nlower < MAXV)
            o->lower[o->nlower++] = v;
        else if (!strcmp(a, "--upper"))
            o->s.upperdir = v;
        else if (!strcmp(a, "--work"))
            o->s.workdir = v;
        else if (!strcmp(a, "--log"))
            o->s.log_path = v;
        else if (!strcmp(a, "--log-max-size"))
            o->s.log_max_size = num(v);
        else if (!strcmp(a, "--log-max-files"))
            o->s.log_max_files = (int)num(v);
        else if (!strcmp(a, "--env") && o->nenv < MAXV - 1)
            o->env[o->nenv++] = v;
        else if (!strcmp(a, "--cwd"))
            o->s.cwd = v;
        else if (!strcmp(a, "--uid"))
            o->s.uid = (uid_t)num(v);
        else if (!strcmp(a, "--gid"))
            o->s.gid = (gid_t)num(v);
        else if (!strcmp(a, "--group") && o->s.ngroups < MAXV)
            o->groups[o->s.ngroups++] = (gid_t)num(v);
        else if (!strcmp(a, "--cap-add") && o->nadd < MAXV - 1)
            o->add[o->nadd++] = v;
        else if (!strcmp(a, "--cap-drop") && o->ndrop < MAXV - 1)
            o->drop[o->ndrop++] = v;
        else if (!strcmp(a, "--mount")) {
            if (parse_mount(o, v) < 0)
                return -1;
        } else if (!strcmp(a, "--memory-limit"))
            o->s.resources.memory_limit = num(v);
        else if (!strcmp(a, "--cpu-request"))
            o->s.resources.cpu_request_milli = num(v);
        else if (!strcmp(a, "--cpu-limit"))
            o->s.resources.cpu_limit_milli = num(v);
        else if (!strcmp(a, "--pids-limit"))
            o->s.resources.pids_limit = num(v);
        else {
            takes = false;
            if (!strcmp(a, "--privileged"))
                o->s.privileged = true;
            else if (!strcmp(a, "--no-new-privs"))
                o->s.no_new_privs = true;
            else if (!strcmp(a, "--readonly-rootfs"))
                o->s.readonly_rootfs = true;
            else
                return fprintf(stderr, "unknown option %s\n", a), -1;
        }
        i += takes;
    }
    for (i++; i < argc && o->nargs < MAXV - 1; i++)
        o->args[o->nargs++] = argv[i];
    if (!o->nenv)
        o->env[o->nenv++] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
    o->s.lowerdirs = o->lower;
    o->s.nlowerdirs = o->nlower;
    o->s.args = o->args;
    o->s.env = o->env;
    o->s.cap_add = o->add;
    o->s.cap_drop = o->drop;
    o->s.mounts = o->mounts;
    o->s.groups = o->groups;
    return 0;
}

static void print_state(const runtime_container_state_t *st)
{
    static const char *const names[] = {"created", "running", "exited", "unknown"};
    printf("status=%s exit_code=%d signal=%d oom_killed=%d pid=%d shim_pid=%d started=%d\n",
           names[st->status], st->exit_code, st->signal, st->oom_killed, (int)st->pid,
           (int)st->shim_pid, st->started_ns > 0);
}

/* Relays the exec'd process's stdout/stderr and returns its exit status. */
static int do_exec(runtime_t *rt, const char *id, char **args)
{
    pid_t pid;
    int in, out, errfd;
    util_error_t err = NULL;
    if (runtime_exec(rt, id, (const char *const *)args, &pid, &in, &out, &errfd, &err) < 0)
        return die(err);
    close(in);
    struct pollfd pf[2] = {{out, POLLIN, 0}, {errfd, POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0 && poll(pf, 2, -1) > 0) {
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !pf[i].revents)
                continue;
            char buf[4096];
            ssize_t n = read(pf[i].fd, buf, sizeof(buf));
            if (n <= 0) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_fds--;
            } else if (write(i ? 2 : 1, buf, (size_t)n) < 0) {
                return 1;
            }
        }
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* exec-tty ID INPUT -- ARGS: INPUT (with \n escapes) is typed into the terminal. */
static int do_exec_tty(runtime_t *rt, const char *id, const char *input, char **args)
{
    pid_t pid;
    int master;
    util_error_t err = NULL;
    if (runtime_exec_tty(rt, id, (const char *const *)args, &pid, &master, &err) < 0)
        return die(err);
    char typed[512];
    size_t n = 0;
    for (const char *p = input; *p && n < sizeof(typed) - 1; p++)
        typed[n++] = (p[0] == '\\' && p[1] == 'n') ? (p++, '\n') : *p;
    if (write(master, typed, n) < 0)
        return 1;
    char buf[4096];
    ssize_t r;
    while ((r = read(master, buf, sizeof(buf))) > 0) /* EIO once the slave side is gone */
        if (write(1, buf, (size_t)r) < 0)
            break;
    close(master);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int container_cmd(runtime_t *rt, const char *cmd, int argc, char **argv)
{
    util_error_t err = NULL;
    runtime_container_state_t st;
    if (!strcmp(cmd, "create") || !strcmp(cmd, "run")) {
        opts_t *o = calloc(1, sizeof(*o));
        int r = parse_container(o, argc, argv);
        if (r == 0 && runtime_container_create(rt, &o->s, &err) < 0)
            r = die(err), err = NULL;
        if (r == 0 && !strcmp(cmd, "run") && runtime_container_start(rt, o->s.id, &err) < 0)
            r = die(err), err = NULL;
        free(o);
        return r < 0 ? 2 : r;
    }
    const char *id = argv[0];
    if (!strcmp(cmd, "start"))
        return runtime_container_start(rt, id, &err) < 0 ? die(err) : 0;
    if (!strcmp(cmd, "kill"))
        return runtime_container_kill(rt, id, argc > 1 ? (int)num(argv[1]) : 15, &err) < 0
                   ? die(err)
                   : 0;
    if (!strcmp(cmd, "delete"))
        return runtime_container_delete(rt, id, &err) < 0 ? die(err) : 0;
    if (!strcmp(cmd, "wait") || !strcmp(cmd, "state")) {
        int r = !strcmp(cmd, "wait") ? runtime_container_wait(rt, id, &st, &err)
                                     : runtime_container_state(rt, id, &st, &err);
        if (r < 0)
            return die(err);
        print_state(&st);
        if (st.message[0])
            printf("message=%s\n", st.message);
        return 0;
    }
    if (!strcmp(cmd, "watch")) { /* the event-loop interface: poll the fd, then read */
        int fd;
        if (runtime_container_watch(rt, id, &fd, &err) < 0)
            return die(err);
        struct pollfd pf = {fd, POLLIN, 0};
        while (poll(&pf, 1, -1) < 0) {
        }
        int r = runtime_container_watch_read(rt, id, fd, &st, &err);
        close(fd);
        if (r < 0)
            return die(err);
        print_state(&st);
        return 0;
    }
    if (!strcmp(cmd, "stats")) {
        runtime_stats_t s;
        if (runtime_container_stats(rt, id, &s, &err) < 0)
            return die(err);
        printf("cpu_ns=%llu memory=%llu working_set=%llu pids=%llu\n",
               (unsigned long long)s.cpu_usage_ns, (unsigned long long)s.memory_usage,
               (unsigned long long)s.memory_working_set, (unsigned long long)s.pids);
        return 0;
    }
    if (!strcmp(cmd, "exec") && argc > 2)
        return do_exec(rt, id, argv + 2);
    if (!strcmp(cmd, "exec-tty") && argc > 3)
        return do_exec_tty(rt, id, argv[1], argv + 3);
    fprintf(stderr, "runtime_driver: unknown command %s\n", cmd);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: runtime_driver STATE CGROUP_ROOT KUBELING CMD [ARGS]\n");
        return 2;
    }
    runtime_config_t cfg = {.state_dir = argv[1], .cgroup_root = argv[2], .shim_exe = argv[3]};
    const char *cmd = argv[4];
    util_error_t err = NULL;
    if (!strcmp(cmd, "cleanup"))
        return runtime_cleanup_all(&cfg, &err) < 0 ? die(err) : 0;
    runtime_t *rt = NULL;
    if (runtime_open(&cfg, &rt, &err) < 0)
        return die(err);
    int n = argc - 5, r;
    char **a = argv + 5;
    char buf[1400];
    util_strv_t ids = {0};
    if (!strcmp(cmd, "list")) {
        r = runtime_container_list(rt, &ids, &err) < 0 ? die(err) : 0;
        for (size_t i = 0; i < ids.n; i++)
            printf("%s\n", ids.v[i]);
        util_strv_clear(&ids);
    } else if (n < 1) {
        r = 2;
    } else if (!strcmp(cmd, "sandbox-create")) {
        r = sandbox_create(rt, n, a);
    } else if (!strcmp(cmd, "sandbox-remove")) {
        r = runtime_sandbox_remove(rt, a[0], &err) < 0 ? die(err) : 0;
    } else if (!strcmp(cmd, "netns")) {
        r = runtime_sandbox_netns_path(rt, a[0], buf, sizeof(buf)) < 0 ? 1 : 0;
        if (r == 0)
            printf("%s\n", buf);
    } else if ((!strcmp(cmd, "create") || !strcmp(cmd, "run")) && n < 2) {
        r = 2;
    } else {
        r = container_cmd(rt, cmd, n, a);
    }
    runtime_close(rt);
    return r;
}
