/* runtime_container: the caller's side of containers: config, starting the shim, talking to
 * it over its socket, and falling back to the state file once it has gone. */
#include "runtime_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- config ------------------------------------------------------------------------------ */

static int last_cap(void)
{
    cleanup_free char *t = NULL;
    util_error_t e = NULL;
    long v = 40;
    if (util_read_file("/proc/sys/kernel/cap_last_cap", 64, &t, NULL, &e) == 0) {
        char *nl = strchr(t, '\n');
        if (nl)
            *nl = 0;
        if (util_parse_long(t, 1, 63, &v) < 0)
            v = 40;
    }
    util_error_free(&e);
    return (int)v;
}

/* Reads sandbox.json: which namespaces to join and the pod cgroup. */
static int sandbox_info(runtime_t *rt, const char *id, runtime__config_t *c, util_error_t *err)
{
    cleanup_free char *dir = runtime__sandbox_dir(rt, id), *text = NULL;
    char path[1300];
    snprintf(path, sizeof(path), "%s/sandbox.json", dir);
    int r = util_read_file(path, 64 * 1024, &text, NULL, err);
    if (r < 0)
        return util_error_wrap(err, "pod sandbox %s", id);
    cJSON *o = cJSON_Parse(text);
    const cJSON *cg = cJSON_GetObjectItemCaseSensitive(o, "cgroup");
    if (!cJSON_IsString(cg)) {
        cJSON_Delete(o);
        return util_error_make(err, EINVAL, "pod sandbox %s: malformed sandbox.json", id);
    }
    c->cgroup = util_strdup_printf("%s/%s", cg->valuestring, c->id);
    c->host_pid = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "hostPid"));
    cJSON_Delete(o);
    static const char *const ns[] = {"net", "ipc", "uts"};
    char **dst[] = {&c->netns, &c->ipcns, &c->utsns};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, ns[i]);
        if (access(path, F_OK) == 0)
            *dst[i] = util_xstrdup(path);
    }
    return 0;
}

static void push_all(util_strv_t *sv, const char *const *v)
{
    for (size_t i = 0; v && v[i]; i++)
        util_strv_push(sv, v[i]);
}

static bool overlay_safe(const char *p)
{
    return p && p[0] == '/' && !strpbrk(p, ",:\n");
}

static int build_config(runtime_t *rt, const runtime_container_spec_t *s, runtime__config_t *c,
                        util_error_t *err)
{
    if (!runtime__id_valid(s->id) || !runtime__id_valid(s->sandbox_id))
        return util_error_make(err, EINVAL, "invalid container or sandbox id");
    if (!s->args || !s->args[0] || !s->args[0][0])
        return util_error_make(err, EINVAL, "container %s: no command", s->id);
    if (!s->rootfs == !s->nlowerdirs)
        return util_error_make(err, EINVAL, "container %s: give rootfs or lowerdirs", s->id);
    for (size_t i = 0; i < s->nlowerdirs; i++)
        if (!overlay_safe(s->lowerdirs[i]))
            return util_error_make(err, EINVAL, "layer path `%s` unusable for overlayfs",
                                   s->lowerdirs[i]);
    if (s->nlowerdirs &&
        (!!s->upperdir != !!s->workdir ||
         (s->upperdir && (!overlay_safe(s->upperdir) || !overlay_safe(s->workdir)))))
        return util_error_make(err, EINVAL, "container %s: bad upperdir/workdir", s->id);
    if (s->ngroups > RUNTIME_GROUPS_MAX - 32) /* room for the image's */
        return util_error_make(err, E2BIG, "container %s: too many groups", s->id);
    for (size_t i = 0; i < s->nmounts; i++)
        if (!s->mounts[i].source || s->mounts[i].source[0] != '/' || !s->mounts[i].destination ||
            s->mounts[i].destination[0] != '/')
            return util_error_make(err, EINVAL, "container %s: mounts need absolute paths", s->id);
    *c = (runtime__config_t){0};
    c->id = util_xstrdup(s->id);
    c->sandbox_id = util_xstrdup(s->sandbox_id);
    int r =
        runtime__caps_compute(s->cap_add, s->cap_drop, s->privileged, last_cap(), &c->caps, err);
    if (r == 0)
        r = sandbox_info(rt, s->sandbox_id, c, err);
    if (r < 0) {
        runtime__config_free(c);
        return r;
    }
    for (size_t i = 0; i < s->nlowerdirs; i++)
        util_strv_push(&c->lowerdirs, s->lowerdirs[i]);
    c->upperdir = s->upperdir ? util_xstrdup(s->upperdir) : NULL;
    c->workdir = s->workdir ? util_xstrdup(s->workdir) : NULL;
    c->rootfs = s->rootfs ? util_xstrdup(s->rootfs) : NULL;
    push_all(&c->args, s->args);
    push_all(&c->env, s->env);
    c->cwd = util_xstrdup(s->cwd ? s->cwd : "/");
    c->uid = s->uid;
    c->gid = s->gid;
    if (s->ngroups) {
        c->groups = util_xcalloc(s->ngroups, sizeof(gid_t));
        memcpy(c->groups, s->groups, s->ngroups * sizeof(gid_t));
        c->ngroups = s->ngroups;
    }
    c->privileged = s->privileged;
    c->no_new_privs = s->no_new_privs;
    c->readonly_rootfs = s->readonly_rootfs;
    c->stdin_open = s->stdin_open;
    c->stdin_once = s->stdin_once;
    c->tty = s->tty;
    c->merge_image_groups = s->merge_image_groups;
    c->mounts = s->nmounts ? util_xcalloc(s->nmounts, sizeof(*c->mounts)) : NULL;
    for (size_t i = 0; i < s->nmounts; i++, c->nmounts++) {
        c->mounts[i].source = util_xstrdup(s->mounts[i].source);
        c->mounts[i].destination = util_xstrdup(s->mounts[i].destination);
        c->mounts[i].readonly = s->mounts[i].readonly;
    }
    c->resources = s->resources;
    c->log_path = s->log_path ? util_xstrdup(s->log_path) : NULL;
    c->log_max_size = s->log_max_size;
    c->log_max_files = s->log_max_files;
    c->cgroups = util_xmalloc(sizeof(*c->cgroups));
    *c->cgroups = rt->cg;
    return 0;
}

/* ---- starting the shim ------------------------------------------------------------------- */

/* The shim is spawned (posix_spawn: a vfork-style clone that shares our memory until the exec,
 * so no copy of the server's page tables and no copy-on-write faults afterwards, which a fork
 * of a server holding a thousand pods costs on every container) in a session of its own; it
 * forks once itself (role_shim.c) and its first process exits, so the shim is nobody's child
 * and survives the kubelet (and the whole server) exiting. The report pipe is the shim's fd 3. */
static int spawn_shim(runtime_t *rt, const char *dir, const char *id, char *reply, size_t len,
                      util_error_t *err)
{
    char logpath[1300];
    int p[2];
    snprintf(logpath, sizeof(logpath), "%s/shim.log", dir);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (devnull < 0 || logfd < 0 || pipe2(p, O_CLOEXEC) < 0) {
        int e = errno;
        if (devnull >= 0)
            close(devnull);
        if (logfd >= 0)
            close(logfd);
        return util_error_make(err, e, "prepare the shim");
    }
    if (p[1] == 3) { /* dup2 onto itself would leave close-on-exec set */
        int fd = fcntl(p[1], F_DUPFD_CLOEXEC, 4);
        if (fd >= 0) {
            close(p[1]);
            p[1] = fd;
        }
    }
    char *argv[] = {rt->shim_exe,  "shim",     "--config", "/dev/null",
                    rt->state_dir, (char *)id, "3",        NULL};
    char *envp[] = {NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, devnull, 0);
    posix_spawn_file_actions_adddup2(&fa, devnull, 1);
    posix_spawn_file_actions_adddup2(&fa, logfd, 2);
    posix_spawn_file_actions_adddup2(&fa, p[1], 3);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID);
    pid_t pid;
    int r = posix_spawn(&pid, rt->shim_exe, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(p[1]);
    close(devnull);
    close(logfd);
    if (r != 0) {
        close(p[0]);
        return util_error_make(err, r, "spawn the shim");
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    size_t got = 0;
    ssize_t n;
    /* one line: the container process holds a copy of the pipe until it execs */
    while (got < len - 1 && !memchr(reply, '\n', got) &&
           ((n = read(p[0], reply + got, len - 1 - got)) > 0 || (n < 0 && errno == EINTR)))
        if (n > 0)
            got += (size_t)n;
    close(p[0]);
    reply[got] = 0;
    return 0;
}

static void remove_dir_files(const char *dir)
{
    static const char *const files[] = {"config.json", "state.json", "sock", "shim.log"};
    char p[1300];
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(files); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        unlink(p);
    }
    snprintf(p, sizeof(p), "%s/rootfs", dir);
    rmdir(p);
    rmdir(dir);
}

int runtime_container_create(runtime_t *rt, const runtime_container_spec_t *spec, util_error_t *err)
{
    runtime__config_t c;
    int r = build_config(rt, spec, &c, err);
    if (r < 0)
        return r;
    cleanup_free char *dir = runtime__container_dir(rt, spec->id);
    runtime__sandbox_member_add(rt, spec->sandbox_id, spec->id);
    if (mkdir(dir, 0700) < 0) {
        int e = errno;
        if (e != EEXIST) /* an existing container of that id keeps its marker */
            runtime__sandbox_member_remove(rt, spec->sandbox_id, spec->id);
        runtime__config_free(&c);
        return util_error_make(err, e, "container %s", spec->id);
    }
    char path[1300], rep[1024];
    snprintf(path, sizeof(path), "%s/config.json", dir);
    char *json = runtime__config_to_json(&c);
    runtime__config_free(&c);
    r = util_write_file_atomic(path, json, strlen(json), 0600, err);
    free(json);
    if (r == 0)
        r = spawn_shim(rt, dir, spec->id, rep, sizeof(rep), err);
    if (r == 0 && strncmp(rep, "ok ", 3) != 0) {
        char *nl = strchr(rep, '\n');
        if (nl)
            *nl = 0;
        r = util_error_make(err, 0, "container %s: %s", spec->id,
                            !strncmp(rep, "error ", 6) ? rep + 6 : "the shim did not start");
    }
    if (r < 0) {
        remove_dir_files(dir);
        runtime__sandbox_member_remove(rt, spec->sandbox_id, spec->id);
    }
    return r;
}

/* ---- talking to the shim ------------------------------------------------------------------- */

int runtime__shim_connect(const char *dir, util_error_t *err)
{
    int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return util_error_make(err, errno, "open %s", dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/sock", dirfd);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int r = fd < 0 ? -errno : 0;
    while (r == 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        if (errno != EINTR)
            r = -errno;
    close(dirfd);
    if (r < 0) {
        if (fd >= 0)
            close(fd);
        return util_error_make(err, -r, "connect to the shim of %s", dir);
    }
    return fd;
}

static int read_reply(int fd, char **ret, util_error_t *err)
{
    util_buf_t b = {0};
    for (;;) {
        util_buf_reserve(&b, 1024);
        ssize_t n = read(fd, b.data + b.len, b.cap - b.len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || b.len + (size_t)n > 64 * 1024) {
            util_buf_free(&b);
            return util_error_make(err, n < 0 ? errno : ECONNRESET, "shim reply");
        }
        b.len += (size_t)n;
        b.data[b.len] = 0;
        char *nl = strchr(b.data, '\n');
        if (nl) {
            *nl = 0;
            *ret = util_buf_steal(&b);
            return 0;
        }
    }
}

int runtime__shim_request(const char *dir, const char *req, char **ret_reply, util_error_t *err)
{
    int fd = runtime__shim_connect(dir, err);
    if (fd < 0)
        return fd;
    size_t n = strlen(req);
    int r = 0;
    if (write(fd, req, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
        r = util_error_make(err, errno, "send to the shim");
    if (r == 0)
        r = read_reply(fd, ret_reply, err);
    close(fd);
    return r;
}

/* "ok ..." -> 0 (with the rest), "error msg" -> -EIO with msg. */
static int check_reply(const char *id, const char *rep, const char **ret_rest, util_error_t *err)
{
    if (!strncmp(rep, "ok", 2) && (rep[2] == 0 || rep[2] == ' ')) {
        if (ret_rest)
            *ret_rest = rep[2] ? rep + 3 : "";
        return 0;
    }
    return util_error_make(err, 0, "container %s: %s", id,
                           !strncmp(rep, "error ", 6) ? rep + 6 : "bad reply from the shim");
}

static int simple_request(runtime_t *rt, const char *id, const char *req, util_error_t *err)
{
    if (!runtime__id_valid(id))
        return util_error_make(err, EINVAL, "invalid container id");
    cleanup_free char *dir = runtime__container_dir(rt, id), *rep = NULL;
    int r = runtime__shim_request(dir, req, &rep, err);
    return r < 0 ? r : check_reply(id, rep, NULL, err);
}

int runtime_container_start(runtime_t *rt, const char *id, util_error_t *err)
{
    return simple_request(rt, id, "start", err);
}

int runtime_container_kill(runtime_t *rt, const char *id, int sig, util_error_t *err)
{
    char req[32];
    if (sig < 1 || sig > 64)
        return util_error_make(err, EINVAL, "bad signal %d", sig);
    snprintf(req, sizeof(req), "kill %d", sig);
    return simple_request(rt, id, req, err);
}

/* Without its shim, a container that was not recorded as exited is unknown: the shim was
 * killed (not by us) and nobody reaped it. */
static int state_from_file(const char *dir, runtime_container_state_t *ret, util_error_t *err)
{
    int r = runtime__state_read(dir, ret, err);
    if (r < 0)
        return r;
    if (ret->status != RUNTIME_STATUS_EXITED &&
        (ret->shim_pid <= 0 || kill(ret->shim_pid, 0) < 0)) {
        ret->status = RUNTIME_STATUS_UNKNOWN;
        ret->exit_code = 255;
    }
    return 0;
}

static int state_request(runtime_t *rt, const char *id, const char *req,
                         runtime_container_state_t *ret, util_error_t *err)
{
    if (!runtime__id_valid(id))
        return util_error_make(err, EINVAL, "invalid container id");
    cleanup_free char *dir = runtime__container_dir(rt, id), *rep = NULL;
    util_error_t e = NULL;
    const char *json;
    int r = runtime__shim_request(dir, req, &rep, &e);
    util_error_free(&e);
    if (r < 0) /* the shim has finished (or died): the state file has the last word */
        return state_from_file(dir, ret, err);
    r = check_reply(id, rep, &json, err);
    return r < 0 ? r : runtime__state_from_json(json, ret, err);
}

int runtime_container_state(runtime_t *rt, const char *id, runtime_container_state_t *ret,
                            util_error_t *err)
{
    return state_request(rt, id, "state", ret, err);
}

int runtime_container_wait(runtime_t *rt, const char *id, runtime_container_state_t *ret,
                           util_error_t *err)
{
    return state_request(rt, id, "wait", ret, err);
}

int runtime_container_watch(runtime_t *rt, const char *id, int *ret_fd, util_error_t *err)
{
    if (!runtime__id_valid(id))
        return util_error_make(err, EINVAL, "invalid container id");
    cleanup_free char *dir = runtime__container_dir(rt, id);
    int fd = runtime__shim_connect(dir, err);
    if (fd < 0)
        return fd;
    if (write(fd, "wait\n", 5) != 5) {
        close(fd);
        return util_error_make(err, errno, "send to the shim");
    }
    *ret_fd = fd;
    return 0;
}

int runtime_container_watch_read(runtime_t *rt, const char *id, int fd,
                                 runtime_container_state_t *ret, util_error_t *err)
{
    cleanup_free char *rep = NULL, *dir = runtime__container_dir(rt, id);
    const char *json;
    util_error_t e = NULL;
    int r = read_reply(fd, &rep, &e);
    util_error_free(&e);
    if (r < 0)
        return state_from_file(dir, ret, err);
    r = check_reply(id, rep, &json, err);
    return r < 0 ? r : runtime__state_from_json(json, ret, err);
}

int runtime_container_delete(runtime_t *rt, const char *id, util_error_t *err)
{
    if (!runtime__id_valid(id))
        return util_error_make(err, EINVAL, "invalid container id");
    cleanup_free char *dir = runtime__container_dir(rt, id);
    runtime_container_state_t st = {0};
    util_error_t e = NULL;
    if (access(dir, F_OK) < 0)
        return 0;
    /* Stop the process and let the shim finish (it exits once the log is complete). */
    cleanup_free char *rep = NULL, *rep2 = NULL;
    if (runtime__shim_request(dir, "kill 9", &rep, &e) == 0)
        runtime__shim_request(dir, "wait", &rep2, &e);
    util_error_free(&e);
    int r = 0;
    if (runtime__state_read(dir, &st, &e) == 0 && st.cgroup[0])
        r = runtime__cgroup_destroy(&rt->cg, st.cgroup, err);
    util_error_free(&e);
    remove_dir_files(dir);
    if (st.sandbox_id[0] && access(dir, F_OK) < 0)
        runtime__sandbox_member_remove(rt, st.sandbox_id, id);
    if (r == 0 && access(dir, F_OK) == 0)
        r = util_error_make(err, ENOTEMPTY, "container %s: state dir not removed", id);
    return r;
}

int runtime_container_list(runtime_t *rt, util_strv_t *ret_ids, util_error_t *err)
{
    cleanup_free char *dir = util_strdup_printf("%s/containers", rt->state_dir);
    cleanup_dir DIR *d = opendir(dir);
    if (!d)
        return util_error_make(err, errno, "open %s", dir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (runtime__id_valid(e->d_name))
            util_strv_push(ret_ids, e->d_name);
    return 0;
}

int runtime_container_stats(runtime_t *rt, const char *id, runtime_stats_t *ret, util_error_t *err)
{
    runtime_container_state_t st;
    if (!runtime__id_valid(id))
        return util_error_make(err, EINVAL, "invalid container id");
    cleanup_free char *dir = runtime__container_dir(rt, id);
    int r = runtime__state_read(dir, &st, err);
    return r < 0 ? r : runtime__cgroup_stats(&rt->cg, st.cgroup, ret, err);
}
