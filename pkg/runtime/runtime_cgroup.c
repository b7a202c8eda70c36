/* runtime_cgroup: cgroup v1, v2 and hybrid layouts; pod and container cgroups, limits, OOM
 * detection and stats.
 *
 * Hybrid (systemd's "hybrid" mode, and this project's CI machine) mounts the v1 controllers
 * under /sys/fs/cgroup/<ctrl> and a unified hierarchy at /sys/fs/cgroup/unified that may hold
 * a few controllers (hugetlb only, here). crun refuses such a layout; we take each controller
 * from wherever it is mounted and also join the unified hierarchy so that processes are
 * tracked there too. */
#include "runtime_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const wanted[] = {"cpu", "cpuacct", "memory", "pids"};

static bool has_controller(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && !strncmp(p, name, n))
            return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

/* Keeps the controllers of a v1 mount's super options we care about ("rw,cpu,cpuacct"). */
static void v1_controllers(const char *opts, char *out, size_t len)
{
    out[0] = 0;
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(wanted); i++) {
        if (!has_controller(opts, wanted[i]))
            continue;
        size_t n = strlen(out);
        snprintf(out + n, len - n, "%s%s", n ? "," : "", wanted[i]);
    }
}

static bool already_have(const runtime__cgroups_t *cg, const char *ctrls)
{
    for (size_t i = 0; i < cg->n; i++)
        if (!cg->h[i].unified && !strcmp(cg->h[i].controllers, ctrls))
            return true;
    return false;
}

/* One mountinfo line: "id parent maj:min root mountpoint opts [tags] - fstype src superopts". */
static void parse_line(char *line, runtime__cgroups_t *cg, char *unified, size_t ulen)
{
    char *f[6] = {0}, *save = NULL, *tok = strtok_r(line, " ", &save);
    for (int i = 0; tok && i < 5; i++, tok = strtok_r(NULL, " ", &save))
        f[i] = tok;
    while (tok && strcmp(tok, "-"))
        tok = strtok_r(NULL, " ", &save);
    char *fstype = strtok_r(NULL, " ", &save), *src = strtok_r(NULL, " ", &save);
    char *super = strtok_r(NULL, " \n", &save);
    if (!f[4] || !fstype || !src || !super)
        return;
    if (!strcmp(fstype, "cgroup2")) {
        util_strlcpy(unified, f[4], ulen);
        return;
    }
    char ctrls[128];
    if (strcmp(fstype, "cgroup") || cg->n >= RUNTIME_CG_MAX)
        return;
    v1_controllers(super, ctrls, sizeof(ctrls));
    if (!ctrls[0] || already_have(cg, ctrls))
        return;
    runtime__hierarchy_t *h = &cg->h[cg->n++];
    util_strlcpy(h->mountpoint, f[4], sizeof(h->mountpoint));
    util_strlcpy(h->controllers, ctrls, sizeof(h->controllers));
    h->unified = false;
}

int runtime__cgroups_parse(const char *mountinfo, const char *unified_controllers,
                           runtime__cgroups_t *ret)
{
    runtime__cgroups_t cg = {0};
    char unified[256] = "";
    char *copy = util_xstrdup(mountinfo), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        parse_line(line, &cg, unified, sizeof(unified));
    free(copy);
    if (unified[0] && cg.n < RUNTIME_CG_MAX) {
        runtime__hierarchy_t *h = &cg.h[cg.n++];
        util_strlcpy(h->mountpoint, unified, sizeof(h->mountpoint));
        /* the unified hierarchy's controllers: those v1 does not already provide */
        h->controllers[0] = 0;
        for (size_t i = 0; i < UTIL_ARRAY_SIZE(wanted); i++) {
            bool in_v1 = false;
            for (size_t j = 0; j + 1 < cg.n; j++)
                in_v1 |= has_controller(cg.h[j].controllers, wanted[i]);
            if (!in_v1 && strcmp(wanted[i], "cpuacct") &&
                has_controller(unified_controllers, wanted[i])) {
                size_t n = strlen(h->controllers);
                snprintf(h->controllers + n, sizeof(h->controllers) - n, "%s%s", n ? "," : "",
                         wanted[i]);
            }
        }
        h->unified = true;
    }
    if (cg.n == 0)
        return -ENOENT;
    cg.mode =
        !unified[0] ? RUNTIME_CGROUP_V1 : (cg.n == 1 ? RUNTIME_CGROUP_V2 : RUNTIME_CGROUP_HYBRID);
    *ret = cg;
    return 0;
}

static void space_list(char *s)
{
    for (; *s; s++)
        if (*s == ' ' || *s == '\n')
            *s = ',';
}

int runtime__cgroups_detect(runtime__cgroups_t *ret, util_error_t *err)
{
    cleanup_free char *mi = NULL, *uc = NULL;
    int r = util_read_file("/proc/self/mountinfo", 4 << 20, &mi, NULL, err);
    if (r < 0)
        return r;
    runtime__cgroups_t tmp;
    if (runtime__cgroups_parse(mi, "", &tmp) < 0)
        return util_error_make(err, ENOENT, "no cgroup hierarchy is mounted");
    for (size_t i = 0; i < tmp.n; i++) {
        if (!tmp.h[i].unified)
            continue;
        char path[300];
        snprintf(path, sizeof(path), "%s/cgroup.controllers", tmp.h[i].mountpoint);
        util_error_t e2 = NULL;
        if (util_read_file(path, 4096, &uc, NULL, &e2) < 0)
            util_error_free(&e2);
        else
            space_list(uc);
    }
    runtime__cgroups_parse(mi, uc ? uc : "", ret);
    return 0;
}

/* ---- files ---------------------------------------------------------------------------------- */

static int cg_write(const char *dir, const char *file, const char *value)
{
    char path[1024];
    if (util_snprintf(path, sizeof(path), "%s/%s", dir, file) < 0)
        return -ENAMETOOLONG;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t w = write(fd, value, strlen(value));
    int r = w < 0 ? -errno : 0;
    close(fd);
    return r;
}

static int cg_write_u64(const char *dir, const char *file, int64_t v)
{
    char b[32];
    snprintf(b, sizeof(b), "%lld", (long long)v);
    return cg_write(dir, file, b);
}

/* Reads "key value" from a flat keyed file (memory.stat, cpu.stat, memory.events). */
static int cg_read_key(const char *dir, const char *file, const char *key, uint64_t *ret)
{
    char path[1024], line[256];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    size_t klen = strlen(key);
    int r = -ENOENT;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, key, klen) && line[klen] == ' ') {
            *ret = strtoull(line + klen + 1, NULL, 10);
            r = 0;
            break;
        }
    fclose(f);
    return r;
}

static int cg_read_u64(const char *dir, const char *file, uint64_t *ret)
{
    char path[1024], buf[64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = 0;
    *ret = strtoull(buf, NULL, 10);
    return 0;
}

static int cg_dir(const runtime__hierarchy_t *h, const char *rel, char *buf, size_t len)
{
    return util_snprintf(buf, len, "%s/%s", h->mountpoint, rel);
}

/* ---- create and limits ---------------------------------------------------------------------- */

static int apply_v1(const runtime__hierarchy_t *h, const char *dir, const runtime_resources_t *r)
{
    int rc = 0;
    if (has_controller(h->controllers, "cpu")) {
        rc = cg_write_u64(dir, "cpu.shares", (int64_t)runtime_cpu_shares(r->cpu_request_milli));
        int64_t quota = runtime_cpu_quota(r->cpu_limit_milli, RUNTIME_CPU_PERIOD_US);
        if (!rc && quota > 0) {
            rc = cg_write_u64(dir, "cpu.cfs_period_us", RUNTIME_CPU_PERIOD_US);
            rc = rc ? rc : cg_write_u64(dir, "cpu.cfs_quota_us", quota);
        }
    }
    if (!rc && has_controller(h->controllers, "memory") && r->memory_limit > 0)
        rc = cg_write_u64(dir, "memory.limit_in_bytes", r->memory_limit);
    if (!rc && has_controller(h->controllers, "pids") && r->pids_limit > 0)
        rc = cg_write_u64(dir, "pids.max", r->pids_limit);
    return rc;
}

static int apply_v2(const runtime__hierarchy_t *h, const char *dir, const runtime_resources_t *r)
{
    int rc = 0;
    char b[64];
    if (has_controller(h->controllers, "cpu")) {
        uint64_t w = runtime_cpu_weight(runtime_cpu_shares(r->cpu_request_milli));
        rc = cg_write_u64(dir, "cpu.weight", (int64_t)w);
        int64_t quota = runtime_cpu_quota(r->cpu_limit_milli, RUNTIME_CPU_PERIOD_US);
        if (!rc && quota > 0) {
            snprintf(b, sizeof(b), "%lld %d", (long long)quota, RUNTIME_CPU_PERIOD_US);
            rc = cg_write(dir, "cpu.max", b);
        }
    }
    if (!rc && has_controller(h->controllers, "memory") && r->memory_limit > 0) {
        rc = cg_write_u64(dir, "memory.max", r->memory_limit);
        if (!rc) /* no swap for containers, like the kubelet's default */
            cg_write(dir, "memory.swap.max", "0");
    }
    if (!rc && has_controller(h->controllers, "pids") && r->pids_limit > 0)
        rc = cg_write_u64(dir, "pids.max", r->pids_limit);
    return rc;
}

/* v2: a controller is usable in a cgroup only when every ancestor enables it for its
 * children (cgroup.subtree_control). */
static void v2_enable_subtree(const runtime__hierarchy_t *h, const char *dir)
{
    char list[160] = "";
    for (const char *p = h->controllers; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p), l = strlen(list);
        snprintf(list + l, sizeof(list) - l, "%s+%.*s", l ? " " : "", (int)n, p);
        p = comma ? comma + 1 : p + n;
    }
    if (list[0])
        cg_write(dir, "cgroup.subtree_control", list);
}

static int create_one(const runtime__hierarchy_t *h, const char *rel,
                      const runtime_resources_t *res, util_error_t *err)
{
    char dir[1024], sub[1024];
    if (cg_dir(h, "", dir, sizeof(dir)) < 0)
        return util_error_make(err, ENAMETOOLONG, "cgroup path too long");
    const char *p = rel;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (h->unified)
            v2_enable_subtree(h, dir);
        if (util_snprintf(sub, sizeof(sub), "%s/%.*s", dir, (int)n, p) < 0)
            return util_error_make(err, ENAMETOOLONG, "cgroup path too long");
        if (mkdir(sub, 0755) < 0 && errno != EEXIST)
            return util_error_make(err, errno, "mkdir %s", sub);
        if (n == 10 && !strncmp(p, "besteffort", n) && has_controller(h->controllers, "cpu"))
            cg_write_u64(sub, h->unified ? "cpu.weight" : "cpu.shares", h->unified ? 1 : 2);
        memcpy(dir, sub, sizeof(dir));
        p = slash ? slash + 1 : p + n;
    }
    int r = h->unified ? apply_v2(h, dir, res) : apply_v1(h, dir, res);
    if (r < 0)
        return util_error_make(err, -r, "set limits in %s", dir);
    return 0;
}

int runtime__cgroup_create(const runtime__cgroups_t *cg, const char *rel,
                           const runtime_resources_t *res, util_error_t *err)
{
    for (size_t i = 0; i < cg->n; i++) {
        int r = create_one(&cg->h[i], rel, res, err);
        if (r < 0) {
            util_error_t e2 = NULL;
            runtime__cgroup_destroy(cg, rel, &e2);
            util_error_free(&e2);
            return r;
        }
    }
    return 0;
}

int runtime__cgroup_enter(const runtime__cgroups_t *cg, const char *rel, pid_t pid,
                          util_error_t *err)
{
    char dir[1024];
    for (size_t i = 0; i < cg->n; i++) {
        if (cg_dir(&cg->h[i], rel, dir, sizeof(dir)) < 0)
            return util_error_make(err, ENAMETOOLONG, "cgroup path too long");
        int r = cg_write_u64(dir, "cgroup.procs", pid);
        if (r < 0)
            return util_error_make(err, -r, "join %s", dir);
    }
    return 0;
}

/* ---- destroy -------------------------------------------------------------------------------- */

static int kill_procs(const char *dir)
{
    char path[1100], line[32];
    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        long pid = strtol(line, NULL, 10);
        if (pid > 1 && kill((pid_t)pid, SIGKILL) == 0)
            n++;
    }
    fclose(f);
    return n;
}

/* Depth first: children, then this cgroup. Processes take a moment to leave after SIGKILL,
 * so rmdir is retried with a short back-off for up to about 2 s. */
static int destroy_dir(const char *dir, int depth)
{
    if (depth > 16)
        return -ELOOP;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (e->d_type != DT_DIR || e->d_name[0] == '.')
            continue;
        char sub[1100];
        if (util_snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name) == 0) {
            int r = destroy_dir(sub, depth + 1);
            rc = rc ? rc : r;
        }
    }
    closedir(d);
    for (int i = 0; i < 200; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return rc;
        if (errno != EBUSY)
            return -errno;
        if (cg_write(dir, "cgroup.kill", "1") < 0)
            kill_procs(dir);
        struct timespec ts = {0, (i < 10 ? 1 : 10) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return -EBUSY;
}

int runtime__cgroup_destroy(const runtime__cgroups_t *cg, const char *rel, util_error_t *err)
{
    char dir[1024];
    int rc = 0;
    for (size_t i = 0; i < cg->n; i++) {
        if (cg_dir(&cg->h[i], rel, dir, sizeof(dir)) < 0)
            continue;
        int r = destroy_dir(dir, 0);
        if (r < 0 && !rc)
            rc = util_error_make(err, -r, "remove cgroup %s", dir);
    }
    return rc;
}

/* ---- OOM and stats -------------------------------------------------------------------------- */

static const runtime__hierarchy_t *find(const runtime__cgroups_t *cg, const char *ctrl)
{
    for (size_t i = 0; i < cg->n; i++)
        if (has_controller(cg->h[i].controllers, ctrl))
            return &cg->h[i];
    return NULL;
}

/* The kernel counts OOM kills per memory cgroup: memory.events on v2 and, since 4.13,
 * memory.oom_control on v1. Reading the counter when the container has exited needs no
 * event loop. */
bool runtime__cgroup_oom_killed(const runtime__cgroups_t *cg, const char *rel)
{
    const runtime__hierarchy_t *h = find(cg, "memory");
    char dir[1024];
    uint64_t n = 0;
    if (!h || cg_dir(h, rel, dir, sizeof(dir)) < 0)
        return false;
    if (h->unified)
        return cg_read_key(dir, "memory.events", "oom_kill", &n) == 0 && n > 0;
    if (cg_read_key(dir, "memory.oom_control", "oom_kill", &n) == 0)
        return n > 0;
    return cg_read_u64(dir, "memory.failcnt", &n) == 0 && n > 0; /* old kernels: heuristic */
}

int runtime__cgroup_stats(const runtime__cgroups_t *cg, const char *rel, runtime_stats_t *ret,
                          util_error_t *err)
{
    runtime_stats_t s = {0};
    char dir[1024];
    const runtime__hierarchy_t *h;
    uint64_t v = 0, inactive = 0;
    if ((h = find(cg, "cpuacct")) && !h->unified && cg_dir(h, rel, dir, sizeof(dir)) == 0)
        cg_read_u64(dir, "cpuacct.usage", &s.cpu_usage_ns);
    else if ((h = find(cg, "cpu")) && h->unified && cg_dir(h, rel, dir, sizeof(dir)) == 0 &&
             cg_read_key(dir, "cpu.stat", "usage_usec", &v) == 0)
        s.cpu_usage_ns = v * 1000;
    if ((h = find(cg, "memory")) && cg_dir(h, rel, dir, sizeof(dir)) == 0) {
        if (cg_read_u64(dir, h->unified ? "memory.current" : "memory.usage_in_bytes",
                        &s.memory_usage) < 0)
            return util_error_make(err, ENOENT, "no memory cgroup %s", dir);
        cg_read_key(dir, "memory.stat", h->unified ? "inactive_file" : "total_inactive_file",
                    &inactive);
        s.memory_working_set = s.memory_usage > inactive ? s.memory_usage - inactive : 0;
        cg_read_key(dir, "memory.stat", h->unified ? "anon" : "total_rss", &s.memory_rss);
        cg_read_key(dir, "memory.stat", h->unified ? "pgfault" : "total_pgfault", &s.page_faults);
        cg_read_key(dir, "memory.stat", h->unified ? "pgmajfault" : "total_pgmajfault",
                    &s.major_page_faults);
    }
    if ((h = find(cg, "pids")) && cg_dir(h, rel, dir, sizeof(dir)) == 0)
        cg_read_u64(dir, "pids.current", &s.pids);
    *ret = s;
    return 0;
}

int runtime__pod_cgroup(const char *root, runtime_qos_t qos, const char *pod, char *buf, size_t len)
{
    static const char *const qos_dir[] = {"", "/burstable", "/besteffort"};
    if ((unsigned)qos >= UTIL_ARRAY_SIZE(qos_dir))
        return -EINVAL;
    return util_snprintf(buf, len, "%s/kubepods%s/pod%s", root, qos_dir[qos], pod);
}
