/* runtime_child: the container's first process, from clone() to execve(): namespaces, root
 * filesystem, /proc, /dev, /sys, volumes, masked paths, pivot_root, identity, exec.
 *
 * It runs in the shim's clone child (single-threaded, new mount and PID namespaces). Errors
 * are reported as "E<message>" on the report pipe; "R" means ready to exec. */
#include "runtime_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* runc's (and containerd's) defaults for unprivileged containers. */
static const char *const masked_paths[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
};
static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

typedef struct child_ctx {
    const runtime__config_t *c;
    const runtime__child_fds_t *fds;
    int rootfd;
    char msg[512];
} child_ctx_t;

static int failf(child_ctx_t *x, int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(child_ctx_t *x, int e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
    va_end(ap);
    if (e && n >= 0 && (size_t)n < sizeof(x->msg))
        snprintf(x->msg + n, sizeof(x->msg) - (size_t)n, ": %s", strerror(e));
    return -1;
}

static void __attribute__((noreturn)) die(child_ctx_t *x)
{
    char buf[520];
    int n = snprintf(buf, sizeof(buf), "E%s", x->msg);
    if (write(x->fds->report_write, buf, (size_t)n) < 0)
        _exit(126);
    _exit(126);
}

void runtime__reset_signals(void)
{
    /* Every disposition back to SIG_DFL: ignored ones would survive execve. Through the raw
     * syscall, since libc refuses to touch the real-time signals it reserves (32, 33, 34),
     * which a parent may have left ignored. A zeroed kernel sigaction is SIG_DFL, no flags,
     * an empty mask on every architecture. */
    unsigned char dfl[64] = {0};
    for (int s = 1; s < 65; s++)
        if (s != SIGKILL && s != SIGSTOP)
            syscall(SYS_rt_sigaction, s, dfl, NULL, (size_t)8);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static int join_namespaces(child_ctx_t *x)
{
    const char *paths[3] = {x->c->netns, x->c->ipcns, x->c->utsns};
    const int types[3] = {CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS};
    for (int i = 0; i < 3; i++) {
        if (!paths[i])
            continue;
        int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, types[i]) < 0)
            return failf(x, errno, "join namespace %s", paths[i]);
        close(fd);
    }
    return 0;
}

/* overlayfs options: lowerdir=top:...:bottom,upperdir=,workdir=. The kernel takes one page of
 * options and splits on ',' and ':', so such characters are refused. */
static int mount_root(child_ctx_t *x, const char *mnt)
{
    const runtime__config_t *c = x->c;
    if (c->rootfs) {
        if (mount(c->rootfs, mnt, NULL, MS_BIND | MS_REC, NULL) < 0)
            return failf(x, errno, "bind rootfs %s", c->rootfs);
        return 0;
    }
    util_buf_t b = {0};
    util_buf_puts(&b, "lowerdir=");
    for (size_t i = 0; i < c->lowerdirs.n; i++)
        util_buf_printf(&b, "%s%s", i ? ":" : "", c->lowerdirs.v[i]);
    if (c->upperdir && c->workdir)
        util_buf_printf(&b, ",upperdir=%s,workdir=%s", c->upperdir, c->workdir);
    int r = 0;
    if (b.len >= 4096)
        r = failf(x, E2BIG, "overlay options for %zu layers", c->lowerdirs.n);
    else if (mount("overlay", mnt, "overlay", 0, b.data) < 0)
        r = failf(x, errno, "mount overlay root");
    util_buf_free(&b);
    return r;
}

static int mount_at(child_ctx_t *x, const char *dest, const char *src, const char *fstype,
                    unsigned long flags, const char *data)
{
    int fd;
    util_error_t err = NULL;
    if (runtime__mkpath_in_root(x->rootfd, dest, RUNTIME_MKPATH_DIR, &fd, &err) < 0) {
        failf(x, 0, "%s", err->msg);
        util_error_free(&err);
        return -1;
    }
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    int r = mount(src, p, fstype, flags, data);
    int e = errno;
    close(fd);
    return r < 0 ? failf(x, e, "mount %s on %s", fstype ? fstype : src, dest) : 0;
}

static int make_dev_nodes(child_ctx_t *x)
{
    static const struct {
        const char *name;
        unsigned maj, min;
    } nodes[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
                 {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
    static const char *const links[][2] = {
        {"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
        {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"},         {"core", "/proc/kcore"},
    };
    int dev = openat(x->rootfd, "dev", O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dev < 0)
        return failf(x, errno, "open /dev");
    int r = 0;
    for (size_t i = 0; !r && i < UTIL_ARRAY_SIZE(nodes); i++)
        if (mknodat(dev, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)) < 0 ||
            fchmodat(dev, nodes[i].name, 0666, 0) < 0) /* the umask applied to mknod */
            r = failf(x, errno, "mknod /dev/%s", nodes[i].name);
    for (size_t i = 0; !r && i < UTIL_ARRAY_SIZE(links); i++)
        if (symlinkat(links[i][1], dev, links[i][0]) < 0)
            r = failf(x, errno, "symlink /dev/%s", links[i][0]);
    const char *dirs[] = {"pts", "shm", "mqueue"};
    for (size_t i = 0; !r && i < UTIL_ARRAY_SIZE(dirs); i++)
        if (mkdirat(dev, dirs[i], 0755) < 0)
            r = failf(x, errno, "mkdir /dev/%s", dirs[i]);
    close(dev);
    return r;
}

static int mount_specials(child_ctx_t *x)
{
    const unsigned long nsx = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (mount_at(x, "/proc", "proc", "proc", nsx, NULL) < 0 ||
        mount_at(x, "/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") <
            0 ||
        make_dev_nodes(x) < 0 ||
        mount_at(x, "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
                 "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0 ||
        mount_at(x, "/dev/shm", "shm", "tmpfs", nsx, "mode=1777,size=65536k") < 0 ||
        mount_at(x, "/dev/mqueue", "mqueue", "mqueue", nsx, NULL) < 0)
        return -1;
    return mount_at(x, "/sys", "sysfs", "sysfs", nsx | (x->c->privileged ? 0 : MS_RDONLY), NULL);
}

/* Re-resolving the destination after the bind gives the new mount's root, which is what a
 * read-only remount must name. */
static int bind_volume(child_ctx_t *x, const runtime__mount_t *m)
{
    struct stat st;
    if (stat(m->source, &st) < 0)
        return failf(x, errno, "volume source %s", m->source);
    runtime__mkpath_kind_t kind = S_ISDIR(st.st_mode) ? RUNTIME_MKPATH_DIR : RUNTIME_MKPATH_FILE;
    util_error_t err = NULL;
    char p[64];
    for (int pass = 0; pass < (m->readonly ? 2 : 1); pass++) {
        int fd;
        if (runtime__mkpath_in_root(x->rootfd, m->destination, kind, &fd, &err) < 0) {
            failf(x, 0, "%s", err->msg);
            util_error_free(&err);
            return -1;
        }
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        int r = pass == 0 ? mount(m->source, p, NULL, MS_BIND | MS_REC, NULL)
                          : mount(NULL, p, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
        int e = errno;
        close(fd);
        if (r < 0)
            return failf(x, e, "bind %s on %s", m->source, m->destination);
    }
    return 0;
}

static int enter_root(child_ctx_t *x, const char *mnt)
{
    if (chdir(mnt) < 0)
        return failf(x, errno, "chdir %s", mnt);
    if (syscall(SYS_pivot_root, ".", ".") == 0) {
        if (umount2(".", MNT_DETACH) < 0) /* the old root, stacked under the new one */
            return failf(x, errno, "detach the old root");
    } else if (errno == EINVAL) { /* an initramfs root cannot be pivoted: move and chroot */
        if (mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0)
            return failf(x, errno, "move into the root");
    } else {
        return failf(x, errno, "pivot_root");
    }
    return chdir("/") < 0 ? failf(x, errno, "chdir /") : 0;
}

static int mask_paths(child_ctx_t *x)
{
    struct stat st;
    for (size_t i = 0; !x->c->privileged && i < UTIL_ARRAY_SIZE(masked_paths); i++) {
        const char *p = masked_paths[i];
        if (stat(p, &st) < 0)
            continue;
        int r = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY, NULL)
                                    : mount("/dev/null", p, NULL, MS_BIND, NULL);
        if (r < 0)
            return failf(x, errno, "mask %s", p);
    }
    for (size_t i = 0; !x->c->privileged && i < UTIL_ARRAY_SIZE(readonly_paths); i++) {
        const char *p = readonly_paths[i];
        if (stat(p, &st) < 0)
            continue;
        if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0 ||
            mount(NULL, p, NULL,
                  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            return failf(x, errno, "read-only %s", p);
    }
    if (x->c->readonly_rootfs && mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
        return failf(x, errno, "read-only root");
    return 0;
}

static int read_last_cap(void)
{
    char buf[16] = {0};
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    long v = n > 0 ? strtol(buf, NULL, 10) : 40;
    return v > 0 && v < 64 ? (int)v : 40;
}

int runtime__apply_identity(const runtime__config_t *c, char *msg, size_t len)
{
    gid_t merged[RUNTIME_GROUPS_MAX];
    size_t ngroups = c->merge_image_groups ? runtime__merged_groups(c, merged) : c->ngroups;
    const gid_t *groups = c->merge_image_groups ? merged : c->groups;
    int last = read_last_cap();
    for (int cap = 0; cap <= last; cap++)
        if (!(c->caps & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 &&
            errno != EINVAL)
            return snprintf(msg, len, "drop capability %d: %s", cap, strerror(errno)), -1;
    if (c->uid != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return snprintf(msg, len, "keepcaps: %s", strerror(errno)), -1;
    if (setgroups(ngroups, groups) < 0 || setresgid(c->gid, c->gid, c->gid) < 0 ||
        setresuid(c->uid, c->uid, c->uid) < 0)
        return snprintf(msg, len, "set user %u:%u: %s", (unsigned)c->uid, (unsigned)c->gid,
                        strerror(errno)),
               -1;
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{0}};
    for (int i = 0; i < 2; i++) {
        data[i].effective = data[i].permitted = (uint32_t)(c->caps >> (32 * i));
        data[i].inheritable = 0;
    }
    if (syscall(SYS_capset, &hdr, data) < 0)
        return snprintf(msg, len, "capset: %s", strerror(errno)), -1;
    if (c->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return snprintf(msg, len, "no_new_privs: %s", strerror(errno)), -1;
    return 0;
}

int runtime__execvpe(char *const *args, char *const *env)
{
    const char *file = args[0], *path = NULL;
    if (strchr(file, '/'))
        return execve(file, args, env), -errno;
    for (size_t i = 0; env && env[i]; i++)
        if (!strncmp(env[i], "PATH=", 5))
            path = env[i] + 5;
    if (!path)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    int e = ENOENT;
    for (const char *p = path; p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        char full[4096];
        if (snprintf(full, sizeof(full), "%.*s/%s", (int)n, n ? p : ".", file) <
            (int)sizeof(full)) {
            execve(full, args, env);
            if (errno != ENOENT && errno != ENOTDIR)
                e = errno;
        }
        p = colon ? colon + 1 : NULL;
    }
    return -e;
}

static int set_rlimits(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max < 1048576 ? rl.rlim_max : 1048576;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return 0;
}

static size_t add_gid(gid_t *v, size_t n, gid_t g)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == g)
            return n;
    if (n < RUNTIME_GROUPS_MAX)
        v[n++] = g;
    return n;
}

/* The first 32 KiB of a file of the container (no stdio, no malloc: exec's process was forked
 * from a threaded caller), NUL-terminated; "" when absent. */
#define ETC_MAX 32768
static void read_etc(const char *path, char *buf)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = 0, r;
    while (fd >= 0 && n < ETC_MAX - 1 && (r = read(fd, buf + n, (size_t)(ETC_MAX - 1 - n))) > 0)
        n += r;
    if (fd >= 0)
        close(fd);
    buf[n] = 0;
}

/* Field i (0-based) of a colon-separated line as [start, end). */
static bool field(const char *line, const char *eol, int i, const char **s, const char **e)
{
    const char *p = line;
    for (; i > 0; i--) {
        p = memchr(p, ':', (size_t)(eol - p));
        if (!p)
            return false;
        p++;
    }
    *s = p;
    const char *c = memchr(p, ':', (size_t)(eol - p));
    *e = c ? c : eol;
    return true;
}

static bool field_num(const char *s, const char *e, long *ret)
{
    long v = 0;
    if (s == e || e - s > 10)
        return false;
    for (const char *p = s; p < e; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    *ret = v;
    return true;
}

/* The name of uid in the container's /etc/passwd. */
static bool user_name(uid_t uid, char *buf, char *name, size_t len)
{
    read_etc("/etc/passwd", buf);
    for (const char *line = buf; *line;) {
        const char *eol = strchr(line, '\n'), *s, *e, *ns, *ne;
        if (!eol)
            eol = line + strlen(line);
        long v;
        if (field(line, eol, 2, &s, &e) && field_num(s, e, &v) && (uid_t)v == uid &&
            field(line, eol, 0, &ns, &ne) && ne > ns && (size_t)(ne - ns) < len) {
            memcpy(name, ns, (size_t)(ne - ns));
            name[ne - ns] = 0;
            return true;
        }
        line = *eol ? eol + 1 : eol;
    }
    return false;
}

/* containerd's WithAdditionalGIDs and ensureAdditionalGids (supplementalGroupsPolicy Merge):
 * the primary group, the groups the image's /etc/group lists the user in (by name, its own
 * group left out), then the caller's. */
size_t runtime__merged_groups(const runtime__config_t *c, gid_t *out)
{
    size_t n = add_gid(out, 0, c->gid);
    char buf[ETC_MAX], name[256];
    if (user_name(c->uid, buf, name, sizeof(name))) {
        read_etc("/etc/group", buf);
        size_t nl = strlen(name);
        for (const char *line = buf; *line;) {
            const char *eol = strchr(line, '\n'), *s, *e, *gs, *ge, *ms, *me;
            if (!eol)
                eol = line + strlen(line);
            long g;
            bool own = field(line, eol, 0, &s, &e) && (size_t)(e - s) == nl && !memcmp(s, name, nl);
            if (!own && field(line, eol, 2, &gs, &ge) && field_num(gs, ge, &g) &&
                field(line, eol, 3, &ms, &me))
                for (const char *m = ms; m < me;) {
                    const char *comma = memchr(m, ',', (size_t)(me - m));
                    const char *mend = comma ? comma : me;
                    if ((size_t)(mend - m) == nl && !memcmp(m, name, nl))
                        n = add_gid(out, n, (gid_t)g);
                    m = mend + 1;
                }
            line = *eol ? eol + 1 : eol;
        }
    }
    for (size_t i = 0; i < c->ngroups; i++)
        n = add_gid(out, n, c->groups[i]);
    return n;
}

static int setup(child_ctx_t *x, const char *mnt)
{
    const runtime__config_t *c = x->c;
    if (join_namespaces(x) < 0)
        return -1;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return failf(x, errno, "make mounts private");
    if (mount_root(x, mnt) < 0)
        return -1;
    x->rootfd = open(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (x->rootfd < 0)
        return failf(x, errno, "open root");
    if (mount_specials(x) < 0)
        return -1;
    for (size_t i = 0; i < c->nmounts; i++)
        if (bind_volume(x, &c->mounts[i]) < 0)
            return -1;
    if (enter_root(x, mnt) < 0 || mask_paths(x) < 0)
        return -1;
    set_rlimits();
    if (c->tty) {
        if (runtime__pty_setup(x->fds->console_sock) < 0)
            return failf(x, errno, "terminal");
    } else if (dup2(x->fds->stdin_fd, 0) < 0 || dup2(x->fds->stdout_fd, 1) < 0 ||
               dup2(x->fds->stderr_fd, 2) < 0) {
        return failf(x, errno, "stdio");
    }
    if (runtime__apply_identity(c, x->msg, sizeof(x->msg)) < 0)
        return -1;
    const char *cwd = c->cwd && c->cwd[0] ? c->cwd : "/";
    if (chdir(cwd) < 0)
        return failf(x, errno, "chdir to working dir %s", cwd);
    return 0;
}

void runtime__child_main(const runtime__config_t *c, const char *rootfs_mnt,
                         const runtime__child_fds_t *fds)
{
    child_ctx_t x = {.c = c, .fds = fds, .rootfd = -1};
    char b = 0;
    runtime__reset_signals();
    if (read(fds->sync_read, &b, 1) != 1 || b != 'c')
        _exit(125); /* the shim is gone */
    if (setup(&x, rootfs_mnt) < 0)
        die(&x);
    if (write(fds->report_write, "R", 1) != 1 || read(fds->sync_read, &b, 1) != 1 || b != 's')
        _exit(125);
    int e = -runtime__execvpe(c->args.v, c->env.v);
    failf(&x, e, "exec %s", c->args.v[0]);
    die(&x);
}
