/* runtime_sandbox: a pod's shared namespaces (network, IPC, UTS), held by bind mounts of
 * /proc/<pid>/ns/{net,ipc,uts} onto files in the state dir instead of a pause process, and its
 * cgroup. */
#include "runtime_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const ns_names[] = {"net", "ipc", "uts"};
static const int ns_flags[] = {CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS};

static bool ns_wanted(const runtime_sandbox_spec_t *s, int i)
{
    return i == 1 ? !s->host_ipc : !s->host_network; /* UTS follows hostNetwork upstream */
}

/* A new network namespace has lo down; containers of a pod talk over it. */
static int loopback_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct ifreq ifr = {0};
    memcpy(ifr.ifr_name, "lo", 3);
    int r = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (r == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        r = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    int e = r < 0 ? -errno : 0;
    close(fd);
    return e;
}

/* What the namespace helper shares with its parent (CLONE_VM): its inputs and its report. */
typedef struct {
    const runtime_sandbox_spec_t *s;
    char (*paths)[1200];
    volatile int step, err;
} sandbox_child_t;

/* In a child that shares our memory until it exits (CLONE_VM|CLONE_VFORK, like posix_spawn:
 * no copy of the server's page tables and no copy-on-write faults afterwards; the caller is
 * multi-threaded and its thread waits): only plain syscalls here, all signals blocked. New
 * namespaces, hostname, lo up, then the bind mounts that keep them alive after it exits. */
static int sandbox_child(void *arg)
{
    sandbox_child_t *c = arg;
    const runtime_sandbox_spec_t *s = c->s;
    int flags = 0, step = 0, e = 0;
    for (int i = 0; i < 3; i++)
        if (ns_wanted(s, i))
            flags |= ns_flags[i];
    if (unshare(flags) < 0)
        e = errno, step = 1;
    else if (!s->host_network && s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
        e = errno, step = 2;
    else if (!s->host_network && (e = -loopback_up()) != 0)
        step = 3;
    static const char *const src[] = {"/proc/self/ns/net", "/proc/self/ns/ipc",
                                      "/proc/self/ns/uts"};
    for (int i = 0; !e && i < 3; i++) {
        if (ns_wanted(s, i) && mount(src[i], c->paths[i], NULL, MS_BIND, NULL) < 0)
            e = errno, step = 4 + i;
    }
    c->step = step;
    c->err = e;
    _exit(e ? 1 : 0);
}

static int make_namespaces(const runtime_sandbox_spec_t *s, const char *dir, util_error_t *err)
{
    static const char *const steps[] = {
        "", "unshare", "sethostname", "lo up", "hold net ns", "hold ipc ns", "hold uts ns"};
    char paths[3][1200];
    for (int i = 0; i < 3; i++) {
        snprintf(paths[i], sizeof(paths[i]), "%s/%s", dir, ns_names[i]);
        if (!ns_wanted(s, i))
            continue;
        int fd = open(paths[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
        if (fd < 0)
            return util_error_make(err, errno, "create %s", paths[i]);
        close(fd);
    }
    enum { STACK = 64 << 10 };
    char *stack = malloc(STACK);
    if (!stack)
        return util_error_make(err, ENOMEM, "pod sandbox: helper stack");
    sandbox_child_t c = {.s = s, .paths = paths};
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = clone(sandbox_child, stack + STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
    int clone_errno = errno, status = 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    free(stack);
    if (pid < 0)
        return util_error_make(err, clone_errno, "clone");
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (c.step > 0 && c.step < (int)UTIL_ARRAY_SIZE(steps))
        return util_error_make(err, c.err, "pod sandbox: %s", steps[c.step]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return util_error_make(err, EIO, "pod sandbox: namespace helper failed");
    return 0;
}

static int write_info(const runtime_t *rt, const runtime_sandbox_spec_t *s, const char *dir,
                      util_error_t *err)
{
    char cg[1024], path[1300];
    if (runtime__pod_cgroup(rt->cgroup_root, s->qos, s->id, cg, sizeof(cg)) < 0)
        return util_error_make(err, EINVAL, "bad pod cgroup");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", s->id);
    cJSON_AddStringToObject(o, "hostname", s->hostname ? s->hostname : "");
    cJSON_AddBoolToObject(o, "hostNetwork", s->host_network);
    cJSON_AddBoolToObject(o, "hostPid", s->host_pid);
    cJSON_AddBoolToObject(o, "hostIpc", s->host_ipc);
    cJSON_AddStringToObject(o, "cgroup", cg);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    snprintf(path, sizeof(path), "%s/sandbox.json", dir);
    int r = util_write_file_atomic(path, text, strlen(text), 0600, err);
    free(text);
    return r;
}

int runtime_sandbox_create(runtime_t *rt, const runtime_sandbox_spec_t *spec, util_error_t *err)
{
    if (!runtime__id_valid(spec->id))
        return util_error_make(err, EINVAL, "invalid pod sandbox id");
    if (spec->hostname && strlen(spec->hostname) > 63)
        return util_error_make(err, EINVAL, "hostname longer than 63 characters");
    cleanup_free char *dir = runtime__sandbox_dir(rt, spec->id);
    if (mkdir(dir, 0700) < 0)
        return util_error_make(err, errno, "create sandbox dir %s", dir);
    char cg[1024];
    int r = runtime__sandbox_members_init(rt, spec->id);
    if (r < 0)
        r = util_error_make(err, -r, "create %s/containers", dir);
    if (r == 0)
        r = make_namespaces(spec, dir, err);
    if (r == 0 && runtime__pod_cgroup(rt->cgroup_root, spec->qos, spec->id, cg, sizeof(cg)) < 0)
        r = util_error_make(err, ENAMETOOLONG, "pod cgroup path too long");
    if (r == 0)
        r = runtime__cgroup_create(&rt->cg, cg, &spec->resources, err);
    if (r == 0)
        r = write_info(rt, spec, dir, err);
    if (r < 0) {
        util_error_t e2 = NULL;
        runtime_sandbox_remove(rt, spec->id, &e2);
        util_error_free(&e2);
    }
    return r;
}

int runtime_sandbox_netns_path(runtime_t *rt, const char *id, char *buf, size_t len)
{
    if (!runtime__id_valid(id))
        return -EINVAL;
    if (util_snprintf(buf, len, "%s/sandboxes/%s/net", rt->state_dir, id) < 0)
        return -ENAMETOOLONG;
    return access(buf, F_OK) == 0 ? 0 : -ENOENT;
}

static bool sandbox_in_use(runtime_t *rt, const char *id)
{
    int m = runtime__sandbox_members_in_use(rt, id);
    if (m >= 0)
        return m > 0;
    util_strv_t ids = {0}; /* a sandbox without markers: every container's state */
    util_error_t e = NULL;
    bool used = false;
    if (runtime_container_list(rt, &ids, &e) == 0) {
        for (size_t i = 0; !used && i < ids.n; i++) {
            cleanup_free char *dir = runtime__container_dir(rt, ids.v[i]);
            runtime_container_state_t st;
            util_error_t e2 = NULL;
            if (runtime__state_read(dir, &st, &e2) == 0)
                used = !strcmp(st.sandbox_id, id);
            util_error_free(&e2);
        }
    }
    util_error_free(&e);
    util_strv_clear(&ids);
    return used;
}

/* The pod cgroup is named in sandbox.json; without it every QoS class is tried. */
static void remove_pod_cgroup(runtime_t *rt, const char *id)
{
    char cg[1024];
    util_error_t err = NULL;
    for (int q = RUNTIME_QOS_GUARANTEED; q <= RUNTIME_QOS_BESTEFFORT; q++) {
        if (runtime__pod_cgroup(rt->cgroup_root, (runtime_qos_t)q, id, cg, sizeof(cg)) == 0)
            runtime__cgroup_destroy(&rt->cg, cg, &err);
    }
    util_error_free(&err);
}

int runtime_sandbox_remove(runtime_t *rt, const char *id, util_error_t *err)
{
    if (!runtime__id_valid(id))
        return util_error_make(err, EINVAL, "invalid pod sandbox id");
    if (sandbox_in_use(rt, id))
        return util_error_make(err, EBUSY, "pod sandbox %s still has containers", id);
    cleanup_free char *dir = runtime__sandbox_dir(rt, id);
    char path[1300];
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, ns_names[i]);
        if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
            rc = util_error_make(err, errno, "unmount %s", path);
        if (unlink(path) < 0 && errno != ENOENT && !rc)
            rc = util_error_make(err, errno, "remove %s", path);
    }
    remove_pod_cgroup(rt, id);
    runtime__sandbox_members_clear(rt, id);
    snprintf(path, sizeof(path), "%s/sandbox.json", dir);
    unlink(path);
    if (rmdir(dir) < 0 && errno != ENOENT && !rc)
        rc = util_error_make(err, errno, "remove %s", dir);
    return rc;
}

int runtime_sandbox_list(runtime_t *rt, util_strv_t *ret_ids, util_error_t *err)
{
    cleanup_free char *dir = util_strdup_printf("%s/sandboxes", rt->state_dir);
    cleanup_dir DIR *d = opendir(dir);
    if (!d)
        return util_error_make(err, errno, "open %s", dir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (runtime__id_valid(e->d_name))
            util_strv_push(ret_ids, e->d_name);
    return 0;
}
