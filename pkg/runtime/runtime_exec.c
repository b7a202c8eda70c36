/* runtime_exec: a new process inside a running container (kubectl exec, exec probes): the
 * container's cgroup and namespaces, then its user and capabilities. */
#include "runtime_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static const char *const exec_ns[] = {"ipc", "uts", "net", "pid", "mnt"};
static const int exec_ns_type[] = {CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWPID,
                                   CLONE_NEWNS};

typedef struct exec_ctx {
    runtime__config_t c;
    int nsfd[5];
    int cgfd[RUNTIME_CG_MAX];
    int pipes[3][2];
    bool tty;
    int sock[2]; /* tty: the pty master travels from the container to the caller */
} exec_ctx_t;

static void ctx_close(exec_ctx_t *x)
{
    for (int i = 0; i < 5; i++)
        if (x->nsfd[i] >= 0)
            close(x->nsfd[i]);
    for (int i = 0; i < RUNTIME_CG_MAX; i++)
        if (x->cgfd[i] >= 0)
            close(x->cgfd[i]);
    runtime__config_free(&x->c);
}

/* Everything that can fail for a reason worth reporting happens here, before the fork. */
static int prepare(runtime_t *rt, const char *id, exec_ctx_t *x, util_error_t *err)
{
    cleanup_free char *dir = runtime__container_dir(rt, id), *text = NULL;
    char path[1300];
    runtime_container_state_t st;
    int r = runtime_container_state(rt, id, &st, err);
    if (r < 0)
        return r;
    if (st.status != RUNTIME_STATUS_RUNNING)
        return util_error_make(err, ESRCH, "container %s is not running", id);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    r = util_read_file(path, 1 << 20, &text, NULL, err);
    if (r < 0 || (r = runtime__config_from_json(text, &x->c, err)) < 0)
        return r;
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)st.pid, exec_ns[i]);
        x->nsfd[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (x->nsfd[i] < 0)
            return util_error_make(err, errno, "open %s", path);
    }
    for (size_t i = 0; i < rt->cg.n; i++) {
        snprintf(path, sizeof(path), "%s/%s/cgroup.procs", rt->cg.h[i].mountpoint, st.cgroup);
        x->cgfd[i] = open(path, O_WRONLY | O_CLOEXEC);
        if (x->cgfd[i] < 0)
            return util_error_make(err, errno, "open %s", path);
    }
    if (x->tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x->sock) < 0)
        return util_error_make(err, errno, "socketpair");
    for (int i = 0; !x->tty && i < 3; i++)
        if (pipe2(x->pipes[i], O_CLOEXEC) < 0)
            return util_error_make(err, errno, "pipe");
    return 0;
}

/* The grandchild: in the container's PID namespace (setns(PID) applies to children). */
static void __attribute__((noreturn)) exec_final(exec_ctx_t *x, const char *const *args)
{
    char msg[300];
    runtime__reset_signals(); /* the caller ignores SIGPIPE */
    if (x->tty ? runtime__pty_setup(x->sock[1]) < 0
               : (dup2(x->pipes[0][0], 0) < 0 || dup2(x->pipes[1][1], 1) < 0 ||
                  dup2(x->pipes[2][1], 2) < 0))
        _exit(126);
    if (runtime__apply_identity(&x->c, msg, sizeof(msg)) < 0) {
        dprintf(2, "exec: %s\n", msg);
        _exit(126);
    }
    /* Dies with the joining child: a caller that kills it (a probe or hook past its timeout)
     * leaves nothing behind in the container. Set after the identity change, which clears it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (chdir(x->c.cwd && x->c.cwd[0] ? x->c.cwd : "/") < 0 && chdir("/") < 0)
        _exit(126);
    int e = -runtime__execvpe((char *const *)args, x->c.env.v);
    dprintf(2, "exec %s: %s\n", args[0], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
}

/* The child: joins cgroup and namespaces, forks the real process and passes on its status. */
static void __attribute__((noreturn)) exec_child(exec_ctx_t *x, const char *const *args)
{
    /* the caller's ends: held here, the process would never see EOF on its stdin */
    int callers[4] = {x->pipes[0][1], x->pipes[1][0], x->pipes[2][0], x->sock[0]};
    for (int i = 0; i < 4; i++)
        if (callers[i] >= 0)
            close(callers[i]);
    x->pipes[0][1] = x->pipes[1][0] = x->pipes[2][0] = x->sock[0] = -1;
    for (int i = 0; i < RUNTIME_CG_MAX; i++)
        if (x->cgfd[i] >= 0 && write(x->cgfd[i], "0", 1) != 1)
            _exit(126);
    for (int i = 0; i < 5; i++)
        if (setns(x->nsfd[i], exec_ns_type[i]) < 0)
            _exit(126);
    pid_t pid = fork();
    if (pid < 0)
        _exit(126);
    if (pid == 0)
        exec_final(x, args);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            _exit(126);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* Prepares, forks the joining child, and leaves the caller's ends in x. */
static int exec_start(runtime_t *rt, const char *id, const char *const *args, exec_ctx_t *x,
                      pid_t *ret_pid, util_error_t *err)
{
    if (!args || !args[0])
        return util_error_make(err, EINVAL, "exec: no command");
    if (!runtime__id_valid(id))
        return util_error_make(err, EINVAL, "invalid container id");
    int r = prepare(rt, id, x, err);
    pid_t pid = r < 0 ? -1 : fork();
    if (pid == 0)
        exec_child(x, args);
    if (r == 0 && pid < 0)
        r = util_error_make(err, errno, "fork");
    int drop[4] = {x->pipes[0][0], x->pipes[1][1], x->pipes[2][1], x->sock[1]};
    for (int i = 0; i < 4; i++)
        if (drop[i] >= 0)
            close(drop[i]);
    *ret_pid = pid;
    return r;
}

int runtime_exec(runtime_t *rt, const char *id, const char *const *args, pid_t *ret_pid,
                 int *ret_stdin, int *ret_stdout, int *ret_stderr, util_error_t *err)
{
    exec_ctx_t x = {.sock = {-1, -1}};
    memset(x.nsfd, -1, sizeof(x.nsfd));
    memset(x.cgfd, -1, sizeof(x.cgfd));
    memset(x.pipes, -1, sizeof(x.pipes));
    pid_t pid;
    int r = exec_start(rt, id, args, &x, &pid, err);
    int keep[3] = {x.pipes[0][1], x.pipes[1][0], x.pipes[2][0]};
    for (int i = 0; r < 0 && i < 3; i++)
        if (keep[i] >= 0)
            close(keep[i]);
    ctx_close(&x);
    if (r < 0)
        return r;
    *ret_pid = pid;
    *ret_stdin = keep[0];
    *ret_stdout = keep[1];
    *ret_stderr = keep[2];
    return 0;
}

int runtime_exec_tty(runtime_t *rt, const char *id, const char *const *args, pid_t *ret_pid,
                     int *ret_master, util_error_t *err)
{
    exec_ctx_t x = {.tty = true, .sock = {-1, -1}};
    memset(x.nsfd, -1, sizeof(x.nsfd));
    memset(x.cgfd, -1, sizeof(x.cgfd));
    memset(x.pipes, -1, sizeof(x.pipes));
    pid_t pid;
    int master = -1;
    int r = exec_start(rt, id, args, &x, &pid, err);
    if (r == 0 && runtime__recv_fd(x.sock[0], &master, NULL) < 0) {
        r = util_error_make(err, EIO, "exec in %s: no terminal from the container", id);
        waitpid(pid, NULL, 0);
    }
    if (x.sock[0] >= 0)
        close(x.sock[0]);
    ctx_close(&x);
    if (r < 0)
        return r;
    *ret_pid = pid;
    *ret_master = master;
    return 0;
}
