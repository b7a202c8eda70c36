/* runtime: the built-in container runtime (pod sandboxes, containers, cgroups, shims). */
#ifndef KUBELING_RUNTIME_H
#define KUBELING_RUNTIME_H

#include "util/util.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Every runtime object lives under one state directory (see docs/runtime.md):
 *   <state>/sandboxes/<pod>/{net,ipc,uts,sandbox.json}   namespace files held by bind mounts
 *   <state>/containers/<id>/{config.json,state.json,sock,shim.log,rootfs/}
 * Containers are supervised by `kubeling shim` processes that outlive the caller. */

#define RUNTIME_ID_MAX     128
#define RUNTIME_GROUPS_MAX 96

typedef struct runtime runtime_t;

typedef struct runtime_config {
    const char *state_dir;   /* e.g. /run/kubeling/runtime */
    const char *cgroup_root; /* cgroup name every cgroup we make lives under, e.g. "kubeling" */
    const char *shim_exe; /* the kubeling binary run as `kubeling shim`; default /proc/self/exe */
} runtime_config_t;

int runtime_open(const runtime_config_t *cfg, runtime_t **ret, util_error_t *err);
runtime_t *runtime_close(runtime_t *rt);

/* ---- resources and cgroups ---------------------------------------------------------------- */

typedef enum {
    RUNTIME_QOS_GUARANTEED = 0, /* directly under kubepods */
    RUNTIME_QOS_BURSTABLE,      /* kubepods/burstable */
    RUNTIME_QOS_BESTEFFORT,     /* kubepods/besteffort */
} runtime_qos_t;

/* 0 means "not set" for every field. */
typedef struct runtime_resources {
    int64_t cpu_request_milli;
    int64_t cpu_limit_milli;
    int64_t memory_limit; /* bytes */
    int64_t pids_limit;
} runtime_resources_t;

/* Upstream's conversions (pkg/kubelet/cm/helpers_linux.go and libcontainer). */
#define RUNTIME_CPU_PERIOD_US 100000
uint64_t runtime_cpu_shares(int64_t milli);                   /* v1 cpu.shares, 2..262144 */
uint64_t runtime_cpu_weight(uint64_t shares);                 /* v2 cpu.weight, 1..10000 */
int64_t runtime_cpu_quota(int64_t milli, uint64_t period_us); /* cfs quota, 0 = unlimited */

typedef enum {
    RUNTIME_CGROUP_V1 = 1,
    RUNTIME_CGROUP_V2,
    RUNTIME_CGROUP_HYBRID
} runtime_cgroup_mode_t;
runtime_cgroup_mode_t runtime_cgroup_mode(const runtime_t *rt);

typedef struct runtime_stats {
    uint64_t cpu_usage_ns;       /* cumulative */
    uint64_t memory_usage;       /* bytes */
    uint64_t memory_working_set; /* usage minus inactive file pages, like cAdvisor */
    uint64_t pids;
    uint64_t memory_rss;                     /* anonymous memory (v2 anon, v1 total_rss) */
    uint64_t page_faults, major_page_faults; /* cumulative, from memory.stat */
} runtime_stats_t;

/* ---- pod sandboxes -------------------------------------------------------------------------- */

typedef struct runtime_sandbox_spec {
    const char *id;       /* pod UID: [A-Za-z0-9_.-], at most RUNTIME_ID_MAX */
    const char *hostname; /* set in the pod's UTS namespace (ignored with host_network) */
    bool host_network, host_pid, host_ipc;
    runtime_qos_t qos;
    runtime_resources_t resources; /* pod-level values, already summed by the caller */
} runtime_sandbox_spec_t;

/* Creates the namespaces (network with lo up, IPC, UTS) held by bind mounts, and the pod
 * cgroup. On failure nothing is left behind. */
int runtime_sandbox_create(runtime_t *rt, const runtime_sandbox_spec_t *spec, util_error_t *err);
/* The network namespace file for pod networking; -ENOENT with host_network. */
int runtime_sandbox_netns_path(runtime_t *rt, const char *id, char *buf, size_t len);
/* Unmounts the namespace files, removes the pod cgroup and the directory. Containers of the
 * sandbox must be deleted first (-EBUSY otherwise). Idempotent: a missing sandbox is fine. */
int runtime_sandbox_remove(runtime_t *rt, const char *id, util_error_t *err);
int runtime_sandbox_list(runtime_t *rt, util_strv_t *ret_ids, util_error_t *err);

/* ---- containers ----------------------------------------------------------------------------- */

typedef struct runtime_mount {
    const char *source;      /* host path, bind-mounted */
    const char *destination; /* absolute path inside the container, resolved within its root */
    bool readonly;
} runtime_mount_t;

typedef struct runtime_container_spec {
    const char *id;         /* [A-Za-z0-9_.-], at most RUNTIME_ID_MAX */
    const char *sandbox_id; /* the pod sandbox to join */
    /* Root: overlayfs of lowerdirs (top first) + upperdir/workdir, or a plain directory. */
    const char *const *lowerdirs;
    size_t nlowerdirs;
    const char *upperdir, *workdir;
    const char *rootfs;
    /* Process. args[0] without '/' is looked up in the container's PATH. */
    const char *const *args; /* NULL-terminated */
    const char *const *env;  /* NULL-terminated "K=V" */
    const char *cwd;         /* default "/" */
    uid_t uid;
    gid_t gid;
    const gid_t *groups; /* at most RUNTIME_GROUPS_MAX - 32 */
    size_t ngroups;
    /* like containerd (supplementalGroupsPolicy Merge): the primary group and the groups the
     * image's /etc/group lists the user in (by its /etc/passwd name) come first; at most
     * RUNTIME_GROUPS_MAX in all */
    bool merge_image_groups;
    /* Security: capabilities are the Docker default set plus cap_add minus cap_drop (names
     * with or without CAP_, "ALL" allowed); privileged gives all and no masked paths. */
    const char *const *cap_add;  /* NULL-terminated or NULL */
    const char *const *cap_drop; /* NULL-terminated or NULL */
    bool privileged;
    bool no_new_privs;
    bool readonly_rootfs;
    /* stdin: the shim holds a pipe to the process's stdin for attach (else /dev/null);
     * stdin_once: closed when the first attach that wrote to it ends; tty: a pty of the
     * container's devpts is its controlling terminal and stdio, its output is logged as stdout */
    bool stdin_open, stdin_once, tty;
    const runtime_mount_t *mounts;
    size_t nmounts;
    runtime_resources_t resources;
    /* Log in the CRI format; rotated when larger than log_max_size (0 = never), keeping
     * log_max_files files in all (the current one included). */
    const char *log_path;
    int64_t log_max_size;
    int log_max_files;
} runtime_container_spec_t;

typedef enum {
    RUNTIME_STATUS_CREATED = 0,
    RUNTIME_STATUS_RUNNING,
    RUNTIME_STATUS_EXITED,
    RUNTIME_STATUS_UNKNOWN, /* the shim is gone without recording an exit */
} runtime_status_t;

typedef struct runtime_container_state {
    char id[RUNTIME_ID_MAX + 1];
    char sandbox_id[RUNTIME_ID_MAX + 1];
    runtime_status_t status;
    pid_t pid;      /* container init, in the host PID namespace */
    pid_t shim_pid; /* the supervising shim */
    int exit_code;  /* 128+signal when killed by a signal, like upstream */
    int signal;     /* the terminating signal, 0 if it exited */
    bool oom_killed;
    int64_t created_ns, started_ns, finished_ns; /* CLOCK_REALTIME, 0 when not yet */
    char cgroup[512];                            /* relative to each hierarchy's mount */
    char message[256];                           /* why it failed to start, if it did */
} runtime_container_state_t;

/* Starts the shim, which creates the container process (stopped before exec). */
int runtime_container_create(runtime_t *rt, const runtime_container_spec_t *spec,
                             util_error_t *err);
/* Lets the created process exec; a failed exec (missing binary) is an error here. */
int runtime_container_start(runtime_t *rt, const char *id, util_error_t *err);
int runtime_container_kill(runtime_t *rt, const char *id, int sig, util_error_t *err);
/* The state from the shim, or from the state file when the shim has exited. */
int runtime_container_state(runtime_t *rt, const char *id, runtime_container_state_t *ret,
                            util_error_t *err);
/* Blocks until the container has exited and its log is complete. */
int runtime_container_wait(runtime_t *rt, const char *id, runtime_container_state_t *ret,
                           util_error_t *err);
/* For event loops: a socket that becomes readable when the container exits (no polling);
 * then runtime_container_watch_read. The caller closes the fd. Fails (-ECONNREFUSED or
 * -ENOENT) when the shim has already finished: runtime_container_state then has the exit. */
int runtime_container_watch(runtime_t *rt, const char *id, int *ret_fd, util_error_t *err);
int runtime_container_watch_read(runtime_t *rt, const char *id, int fd,
                                 runtime_container_state_t *ret, util_error_t *err);
/* Kills what is left (SIGKILL), removes the cgroup and the state. Idempotent. */
int runtime_container_delete(runtime_t *rt, const char *id, util_error_t *err);
/* Containers in the state dir, created by this or an earlier process (re-adoption). */
int runtime_container_list(runtime_t *rt, util_strv_t *ret_ids, util_error_t *err);
int runtime_container_stats(runtime_t *rt, const char *id, runtime_stats_t *ret, util_error_t *err);

/* Runs a process inside a running container (its namespaces, cgroup, user, capabilities).
 * Stdio: *ret_stdin (write end), *ret_stdout, *ret_stderr (read ends), all O_CLOEXEC; the
 * caller reaps *ret_pid. */
int runtime_exec(runtime_t *rt, const char *id, const char *const *args, pid_t *ret_pid,
                 int *ret_stdin, int *ret_stdout, int *ret_stderr, util_error_t *err);

/* The same with a terminal: a pty of the container's devpts is the process's controlling
 * terminal and stdio; *ret_master (O_CLOEXEC) is its master side. Resize with TIOCSWINSZ. */
int runtime_exec_tty(runtime_t *rt, const char *id, const char *const *args, pid_t *ret_pid,
                     int *ret_master, util_error_t *err);

/* attach: the container's stdin from its shim: the pipe's write end, or with a tty the pty
 * master (also for resizing with TIOCSWINSZ, even without stdin), O_CLOEXEC. *ret_tty and
 * *ret_once say what the container has. -ENOTTY when it has neither stdin nor a terminal.
 * Closing the fd does not close the container's stdin: runtime_container_close_stdin does
 * (stdinOnce; with a terminal it sends EOF, ^D). */
int runtime_container_stdin(runtime_t *rt, const char *id, int *ret_fd, bool *ret_tty,
                            bool *ret_once, util_error_t *err);
int runtime_container_close_stdin(runtime_t *rt, const char *id, util_error_t *err);

/* Kills every container and shim, unmounts every namespace file, removes every cgroup under
 * the cgroup root and the state directory's content (`kubeling killall`). */
int runtime_cleanup_all(const runtime_config_t *cfg, util_error_t *err);

/* The shim role's body: `kubeling shim STATE_DIR ID REPORT_FD`. Returns an exit code. */
int runtime_shim_main(const char *state_dir, const char *id, int report_fd);

#endif
