/* runtime_internal.h: shared between the runtime's files (and its unit tests); not public. */
#ifndef KUBELING_RUNTIME_INTERNAL_H
#define KUBELING_RUNTIME_INTERNAL_H

#include "runtime/runtime.h"

#include <cjson/cJSON.h>
#include <time.h>

/* ---- cgroup layout -------------------------------------------------------------------------- */

#define RUNTIME_CG_MAX 16

typedef struct runtime__hierarchy {
    char mountpoint[256];
    char controllers[128]; /* "cpu,cpuacct" for v1 mounts, "" for the unified one */
    bool unified;
} runtime__hierarchy_t;

typedef struct runtime__cgroups {
    runtime_cgroup_mode_t mode;
    runtime__hierarchy_t h[RUNTIME_CG_MAX];
    size_t n;
} runtime__cgroups_t;

struct runtime {
    char *state_dir;
    char *cgroup_root;
    char *shim_exe;
    runtime__cgroups_t cg;
};

/* Parses /proc/self/mountinfo text into the hierarchies we use (cpu, cpuacct, memory, pids in
 * v1; the unified one when it is the only hierarchy or holds those controllers). */
int runtime__cgroups_parse(const char *mountinfo, const char *unified_controllers,
                           runtime__cgroups_t *ret);
int runtime__cgroups_detect(runtime__cgroups_t *ret, util_error_t *err);
/* Creates rel (e.g. "kubeling/kubepods/burstable/pod1") in every hierarchy and applies res. */
int runtime__cgroup_create(const runtime__cgroups_t *cg, const char *rel,
                           const runtime_resources_t *res, util_error_t *err);
int runtime__cgroup_enter(const runtime__cgroups_t *cg, const char *rel, pid_t pid,
                          util_error_t *err);
/* SIGKILLs every process left, then removes rel (and its children) everywhere. */
int runtime__cgroup_destroy(const runtime__cgroups_t *cg, const char *rel, util_error_t *err);
bool runtime__cgroup_oom_killed(const runtime__cgroups_t *cg, const char *rel);
int runtime__cgroup_stats(const runtime__cgroups_t *cg, const char *rel, runtime_stats_t *ret,
                          util_error_t *err);
/* The cgroup of a pod: <root>/kubepods[/burstable|/besteffort]/pod<id>. */
int runtime__pod_cgroup(const char *root, runtime_qos_t qos, const char *pod, char *buf,
                        size_t len);

/* ---- capabilities --------------------------------------------------------------------------- */

int runtime__cap_from_name(const char *name); /* -EINVAL when unknown; "ALL" is not a name */
uint64_t runtime__caps_default(void);         /* Docker's default set */
int runtime__caps_compute(const char *const *add, const char *const *drop, bool privileged,
                          int last_cap, uint64_t *ret, util_error_t *err);

/* ---- the container config handed to the shim (config.json) ---------------------------------- */

typedef struct runtime__mount {
    char *source, *destination;
    bool readonly;
} runtime__mount_t;

typedef struct runtime__config {
    char *id, *sandbox_id;
    util_strv_t lowerdirs;
    char *upperdir, *workdir, *rootfs;
    util_strv_t args, env;
    char *cwd;
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    size_t ngroups;
    uint64_t caps;
    bool privileged, no_new_privs, readonly_rootfs;
    bool stdin_open, stdin_once, tty; /* the pod spec's stdin, stdinOnce, tty */
    bool merge_image_groups;          /* primary and /etc/group groups before `groups` */
    runtime__mount_t *mounts;
    size_t nmounts;
    runtime_resources_t resources;
    char *log_path;
    int64_t log_max_size;
    int log_max_files;
    /* from the sandbox: namespace files to join (NULL = the host's), PID namespace */
    char *netns, *ipcns, *utsns;
    bool host_pid;
    char *cgroup; /* container cgroup, relative to each hierarchy */
    /* the runtime's cgroup layout ("cgroupLayout"; NULL: the shim detects it) */
    runtime__cgroups_t *cgroups;
} runtime__config_t;

char *runtime__config_to_json(const runtime__config_t *c);
void runtime__cgroups_to_json(cJSON *o, const runtime__cgroups_t *cg);
/* 1: read into *ret, 0: absent, -EINVAL: malformed */
int runtime__cgroups_from_json(const cJSON *o, runtime__cgroups_t *ret);
int runtime__config_from_json(const char *text, runtime__config_t *ret, util_error_t *err);
void runtime__config_free(runtime__config_t *c);
bool runtime__id_valid(const char *id);

/* ---- state file ----------------------------------------------------------------------------- */

char *runtime__state_to_json(const runtime_container_state_t *s);
int runtime__state_from_json(const char *text, runtime_container_state_t *ret, util_error_t *err);
int runtime__state_write(const char *dir, const runtime_container_state_t *s, util_error_t *err);
int runtime__state_read(const char *dir, runtime_container_state_t *ret, util_error_t *err);
const char *runtime__status_name(runtime_status_t s);
int64_t runtime__now_ns(void);

/* ---- CRI log files -------------------------------------------------------------------------- */

#define RUNTIME_LOG_LINE_MAX 16384 /* containerd's default max line size; longer lines split P */

typedef struct runtime__log {
    int fd;
    char *path;
    int64_t size, max_size;
    int max_files;
    char buf[2][RUNTIME_LOG_LINE_MAX]; /* partial line per stream (0 stdout, 1 stderr) */
    size_t len[2];
} runtime__log_t;

/* "<RFC3339Nano UTC> stdout|stderr F|P " prefix; returns its length. */
size_t runtime__log_prefix(char *buf, size_t len, const struct timespec *ts, int stream,
                           bool partial);
int runtime__log_open(runtime__log_t *log, const char *path, int64_t max_size, int max_files,
                      util_error_t *err);
/* Feeds bytes read from a stream; complete lines are written, long ones split as P. */
void runtime__log_feed(runtime__log_t *log, int stream, const char *data, size_t len,
                       const struct timespec *ts);
/* A pending partial line as a P record at once (a terminal's prompt is seen before its
 * newline comes). */
void runtime__log_flush_partial(runtime__log_t *log, int stream, const struct timespec *ts);
/* At EOF of a stream: writes a pending partial line as a full one (containerd does). */
void runtime__log_flush(runtime__log_t *log, int stream, const struct timespec *ts);
void runtime__log_close(runtime__log_t *log);

/* ---- paths inside a container root ---------------------------------------------------------- */

typedef enum { RUNTIME_MKPATH_DIR, RUNTIME_MKPATH_FILE } runtime__mkpath_kind_t;
/* Opens (O_PATH) path inside the tree rooted at rootfd, symlinks resolved as if rootfd were
 * "/", creating missing directories (and the last component as kind). */
int runtime__mkpath_in_root(int rootfd, const char *path, runtime__mkpath_kind_t kind, int *ret_fd,
                            util_error_t *err);

/* ---- the container's first process (runs in the shim's clone child) ------------------------ */

typedef struct runtime__child_fds {
    int sync_read;    /* parent -> child: 'c' cgroup joined, 's' start */
    int report_write; /* child -> parent: "ready" byte or an error message; CLOEXEC */
    int stdin_fd, stdout_fd, stderr_fd;
    int console_sock; /* tty: the pty master goes to the shim over it (stdio fds unused) */
} runtime__child_fds_t;

/* Sets the container up (root, mounts, pivot_root, user, capabilities), waits for start and
 * execs. Never returns; errors are written to report_write. */
void runtime__child_main(const runtime__config_t *c, const char *rootfs_mnt,
                         const runtime__child_fds_t *fds) __attribute__((noreturn));
/* The supplementary groups with merge_image_groups, from the container's /etc/passwd and
 * /etc/group (call inside its root): the primary group, the image's, then c->groups. */
size_t runtime__merged_groups(const runtime__config_t *c, gid_t *out);
/* Applies user, groups, capabilities, no_new_privs (shared with exec); inside the root. */
int runtime__apply_identity(const runtime__config_t *c, char *msg, size_t len);
/* execve with args[0] looked up in PATH from env. */
int runtime__execvpe(char *const *args, char *const *env);

/* ---- shim protocol -------------------------------------------------------------------------- */

/* Requests are one line ("state", "start", "kill 15", "wait"); replies one line: "ok",
 * "ok <state json>" or "error <message>". The socket is <container dir>/sock. */
int runtime__shim_request(const char *dir, const char *req, char **ret_reply, util_error_t *err);
int runtime__shim_connect(const char *dir, util_error_t *err);
char *runtime__container_dir(const runtime_t *rt, const char *id);
char *runtime__sandbox_dir(const runtime_t *rt, const char *id);

/* ---- a sandbox's container markers (runtime_sandbox_members.c) ------------------------------ */

int runtime__sandbox_members_init(const runtime_t *rt, const char *sandbox);
void runtime__sandbox_member_add(const runtime_t *rt, const char *sandbox, const char *id);
void runtime__sandbox_member_remove(const runtime_t *rt, const char *sandbox, const char *id);
/* 1: a listed container of the sandbox exists, 0: none, -errno: no markers (scan them all) */
int runtime__sandbox_members_in_use(const runtime_t *rt, const char *sandbox);
void runtime__sandbox_members_clear(const runtime_t *rt, const char *sandbox);

/* ---- stdio (runtime_stdio.c) ---------------------------------------------------------------- */

/* One byte with fd attached (SCM_RIGHTS); the receiver's copy is O_CLOEXEC. */
int runtime__send_fd(int sock, int fd, char byte);
int runtime__recv_fd(int sock, int *ret_fd, char *ret_byte);
/* In a process about to exec: a pty of the devpts instance at /dev/ptmx, its master sent over
 * sock, the slave made the controlling terminal (after setsid) and stdio. -1 with errno. */
int runtime__pty_setup(int sock);

/* In a child about to execve: every signal disposition back to default (including those libc
 * reserves) and nothing blocked (runtime_child.c). */
void runtime__reset_signals(void);

#endif
