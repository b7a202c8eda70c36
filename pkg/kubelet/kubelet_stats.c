/* kubelet_stats: GET /stats/summary in upstream's stats/v1alpha1 Summary shape
 * (k8s.io/kubelet/pkg/apis/stats/v1alpha1): the node from /proc and the data dir's filesystem,
 * pods and containers from their cgroups (through the runtime), their rootfs and logs from
 * the disk. CPU rates (usageNanoCores) come from two samples 100 ms apart, since nothing
 * samples in the background (cAdvisor's housekeeping would). */
#include "kubelet_server_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define SAMPLE_GAP_NS (100 * 1000 * 1000)
#define MAX_PODS      128
#define MAX_PER_POD   64
#define DU_MAX_FILES  100000

typedef struct cstat {
    char name[RUNTIME_ID_MAX + 1];
    char id[RUNTIME_ID_MAX + 1];
    bool running;
    pid_t pid;
    int64_t started_ns;
    runtime_stats_t a, b; /* two samples */
} cstat_t;

typedef struct pstat {
    char uid[200], ns[128], name[256];
    cstat_t c[MAX_PER_POD];
    size_t n;
} pstat_t;

static int64_t now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the node ------------------------------------------------------------------------------ */

static uint64_t node_cpu_ns(void)
{
    cleanup_free char *text = NULL;
    cleanup_error util_error_t err = NULL;
    unsigned long long v[8] = {0};
    if (util_read_file("/proc/stat", 1 << 20, &text, NULL, &err) < 0 ||
        sscanf(text, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
               &v[4], &v[5], &v[6], &v[7]) < 4)
        return 0;
    long hz = sysconf(_SC_CLK_TCK);
    uint64_t busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; /* all but idle and iowait */
    return busy * (1000000000ull / (uint64_t)(hz > 0 ? hz : 100));
}

static uint64_t key_value(const char *text, const char *key, uint64_t scale)
{
    const char *p = text;
    size_t kl = strlen(key);
    while (p && *p) {
        if (!strncmp(p, key, kl) && (p[kl] == ':' || p[kl] == ' '))
            return strtoull(p + kl + 1, NULL, 10) * scale;
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return 0;
}

static void put_time(util_buf_t *b, int64_t ns)
{
    char t[40];
    kubelet_time_ns(ns, t, sizeof(t));
    util_buf_printf(b, "\"time\":\"%s\"", t);
}

static void put_cpu(util_buf_t *b, int64_t t, uint64_t a, uint64_t bb, int64_t gap_ns)
{
    uint64_t rate = bb > a && gap_ns > 0 ? (uint64_t)((double)(bb - a) * 1e9 / (double)gap_ns) : 0;
    util_buf_puts(b, "\"cpu\":{");
    put_time(b, t);
    util_buf_printf(b, ",\"usageNanoCores\":%llu,\"usageCoreNanoSeconds\":%llu}",
                    (unsigned long long)rate, (unsigned long long)bb);
}

static void put_fs(util_buf_t *b, const char *key, const char *path, int64_t t, int64_t used)
{
    struct statvfs v;
    if (statvfs(path, &v) < 0)
        return;
    uint64_t cap = (uint64_t)v.f_blocks * v.f_frsize, avail = (uint64_t)v.f_bavail * v.f_frsize;
    uint64_t fused = ((uint64_t)v.f_blocks - v.f_bfree) * v.f_frsize;
    util_buf_printf(b, "\"%s\":{", key);
    put_time(b, t);
    util_buf_printf(b,
                    ",\"availableBytes\":%llu,\"capacityBytes\":%llu,\"usedBytes\":%llu,"
                    "\"inodesFree\":%llu,\"inodes\":%llu,\"inodesUsed\":%llu}",
                    (unsigned long long)avail, (unsigned long long)cap,
                    (unsigned long long)(used >= 0 ? (uint64_t)used : fused),
                    (unsigned long long)v.f_ffree, (unsigned long long)v.f_files,
                    (unsigned long long)(v.f_files - v.f_ffree));
}

/* Interfaces of /proc/<pid>/net/dev (pid 0: ours); the first non-loopback one is "the" one. */
static void put_network(util_buf_t *b, pid_t pid, int64_t t)
{
    char path[64];
    if (pid > 0)
        util_snprintf(path, sizeof(path), "/proc/%d/net/dev", (int)pid);
    else
        util_snprintf(path, sizeof(path), "/proc/self/net/dev");
    cleanup_free char *text = NULL;
    cleanup_error util_error_t err = NULL;
    if (util_read_file(path, 1 << 20, &text, NULL, &err) < 0)
        return;
    util_buf_t ifs = {0};
    char first[64] = "";
    unsigned long long f[4] = {0}, first_f[4] = {0};
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[64];
        unsigned long long v[16];
        if (sscanf(line, " %63[^:]: %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", name,
                   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9],
                   &v[10]) != 12 ||
            !strcmp(name, "lo"))
            continue;
        f[0] = v[0], f[1] = v[2], f[2] = v[8], f[3] = v[10];
        if (!first[0]) {
            util_snprintf(first, sizeof(first), "%s", name);
            memcpy(first_f, f, sizeof(f));
        }
        util_buf_printf(&ifs,
                        "%s{\"name\":\"%s\",\"rxBytes\":%llu,\"rxErrors\":%llu,\"txBytes\":%llu,"
                        "\"txErrors\":%llu}",
                        ifs.len ? "," : "", name, f[0], f[1], f[2], f[3]);
    }
    if (first[0]) {
        util_buf_puts(b, ",\"network\":{");
        put_time(b, t);
        util_buf_printf(b,
                        ",\"name\":\"%s\",\"rxBytes\":%llu,\"rxErrors\":%llu,\"txBytes\":%llu,"
                        "\"txErrors\":%llu,\"interfaces\":[%s]}",
                        first, first_f[0], first_f[1], first_f[2], first_f[3], ifs.data);
    }
    util_buf_free(&ifs);
}

static void put_node(kconn_t *c, util_buf_t *b, int64_t t, uint64_t cpu_a, uint64_t cpu_b,
                     int64_t gap)
{
    cleanup_free char *mem = NULL, *vm = NULL, *stat = NULL, *load = NULL, *pidmax = NULL;
    cleanup_error util_error_t e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL, e5 = NULL;
    util_read_file("/proc/meminfo", 1 << 20, &mem, NULL, &e1);
    util_read_file("/proc/vmstat", 1 << 20, &vm, NULL, &e2);
    util_read_file("/proc/stat", 1 << 20, &stat, NULL, &e3);
    util_read_file("/proc/loadavg", 4096, &load, NULL, &e4);
    util_read_file("/proc/sys/kernel/pid_max", 4096, &pidmax, NULL, &e5);
    uint64_t total = mem ? key_value(mem, "MemTotal", 1024) : 0;
    uint64_t free_ = mem ? key_value(mem, "MemFree", 1024) : 0;
    uint64_t usage = total > free_ ? total - free_ : 0;
    uint64_t inactive = mem ? key_value(mem, "Inactive(file)", 1024) : 0;
    char boot[40];
    kubelet_time_ns((int64_t)(stat ? key_value(stat, "btime", 1) : 0) * 1000000000, boot,
                    sizeof(boot));
    util_buf_puts(b, "\"node\":{\"nodeName\":");
    util_buf_json_string(b, c->s->node_name, strlen(c->s->node_name));
    util_buf_printf(b, ",\"startTime\":\"%s\",", boot);
    put_cpu(b, t, cpu_a, cpu_b, gap);
    util_buf_puts(b, ",\"memory\":{");
    put_time(b, t);
    util_buf_printf(b,
                    ",\"availableBytes\":%llu,\"usageBytes\":%llu,\"workingSetBytes\":%llu,"
                    "\"rssBytes\":%llu,\"pageFaults\":%llu,\"majorPageFaults\":%llu}",
                    (unsigned long long)(mem ? key_value(mem, "MemAvailable", 1024) : 0),
                    (unsigned long long)usage,
                    (unsigned long long)(usage > inactive ? usage - inactive : 0),
                    (unsigned long long)(mem ? key_value(mem, "AnonPages", 1024) : 0),
                    (unsigned long long)(vm ? key_value(vm, "pgfault", 1) : 0),
                    (unsigned long long)(vm ? key_value(vm, "pgmajfault", 1) : 0));
    put_network(b, 0, t);
    util_buf_puts(b, ",");
    put_fs(b, "fs", c->s->storage_dir, t, -1);
    util_buf_puts(b, ",\"runtime\":{");
    put_fs(b, "imageFs", c->s->storage_dir, t, -1);
    util_buf_puts(b, "},\"rlimit\":{");
    put_time(b, t);
    const char *slash = load ? strchr(load, '/') : NULL;
    util_buf_printf(b, ",\"maxpid\":%lld,\"curproc\":%lld}}", pidmax ? atoll(pidmax) : 0,
                    slash ? atoll(slash + 1) : 0);
}

/* ---- pods ----------------------------------------------------------------------------------- */

/* Bytes under dir (not following links, bounded). */
static uint64_t du(int dirfd_, int *budget)
{
    uint64_t total = 0;
    DIR *d = fdopendir(dirfd_);
    if (!d) {
        close(dirfd_);
        return 0;
    }
    struct dirent *e;
    while ((e = readdir(d)) && (*budget)-- > 0) {
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        total += (uint64_t)st.st_blocks * 512;
        if (S_ISDIR(st.st_mode)) {
            int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0)
                total += du(fd, budget);
        }
    }
    closedir(d);
    return total;
}

static uint64_t du_path(const char *path)
{
    int budget = DU_MAX_FILES;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd < 0 ? 0 : du(fd, &budget);
}

/* The pods that have a sandbox here, named by their log directories (<ns>_<name>_<uid>). */
static size_t find_pods(kserver_t *s, pstat_t *pods, size_t max)
{
    util_strv_t uids = {0}, ids = {0};
    cleanup_error util_error_t err = NULL, err2 = NULL;
    size_t n = 0;
    runtime_sandbox_list(s->rt, &uids, &err);
    runtime_container_list(s->rt, &ids, &err2);
    cleanup_dir DIR *d = opendir(s->logs_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) && n < max) {
        char *u1 = strchr(e->d_name, '_'), *u2 = u1 ? strchr(u1 + 1, '_') : NULL;
        bool live = false;
        for (size_t i = 0; u2 && i < uids.n && !live; i++)
            live = !strcmp(uids.v[i], u2 + 1);
        if (!live || (size_t)(u1 - e->d_name) >= sizeof(pods[n].ns) ||
            (size_t)(u2 - u1 - 1) >= sizeof(pods[n].name) || strlen(u2 + 1) >= sizeof(pods[n].uid))
            continue;
        pstat_t *p = &pods[n++];
        memset(p, 0, sizeof(*p));
        util_snprintf(p->ns, sizeof(p->ns), "%.*s", (int)(u1 - e->d_name), e->d_name);
        util_snprintf(p->name, sizeof(p->name), "%.*s", (int)(u2 - u1 - 1), u1 + 1);
        util_snprintf(p->uid, sizeof(p->uid), "%s", u2 + 1);
        for (size_t i = 0; i < ids.n; i++) { /* <uid>_<container>_<attempt>: the newest */
            size_t ul = strlen(p->uid);
            const char *rest = ids.v[i] + ul + 1, *us = strrchr(ids.v[i], '_');
            if (strncmp(ids.v[i], p->uid, ul) || ids.v[i][ul] != '_' || !us || us <= rest)
                continue;
            size_t j = 0;
            while (j < p->n && (strlen(p->c[j].name) != (size_t)(us - rest) ||
                                strncmp(p->c[j].name, rest, (size_t)(us - rest))))
                j++;
            if (j == p->n && p->n == MAX_PER_POD)
                continue;
            if (j == p->n) {
                p->n++;
                util_snprintf(p->c[j].name, sizeof(p->c[j].name), "%.*s", (int)(us - rest), rest);
            } else if (atol(us + 1) < atol(strrchr(p->c[j].id, '_') + 1)) {
                continue;
            }
            util_snprintf(p->c[j].id, sizeof(p->c[j].id), "%s", ids.v[i]);
        }
    }
    util_strv_clear(&uids);
    util_strv_clear(&ids);
    return n;
}

static void sample(kserver_t *s, pstat_t *pods, size_t n, bool second)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < pods[i].n; j++) {
            cstat_t *c = &pods[i].c[j];
            cleanup_error util_error_t err = NULL;
            if (!second) {
                runtime_container_state_t st;
                c->running = runtime_container_state(s->rt, c->id, &st, &err) == 0 &&
                             st.status == RUNTIME_STATUS_RUNNING;
                c->pid = st.pid;
                c->started_ns = st.started_ns;
            }
            if (c->running)
                runtime_container_stats(s->rt, c->id, second ? &c->b : &c->a, &err);
        }
}

static void put_memory(util_buf_t *b, int64_t t, const runtime_stats_t *m)
{
    util_buf_puts(b, ",\"memory\":{");
    put_time(b, t);
    util_buf_printf(b,
                    ",\"usageBytes\":%llu,\"workingSetBytes\":%llu,\"rssBytes\":%llu,"
                    "\"pageFaults\":%llu,\"majorPageFaults\":%llu}",
                    (unsigned long long)m->memory_usage, (unsigned long long)m->memory_working_set,
                    (unsigned long long)m->memory_rss, (unsigned long long)m->page_faults,
                    (unsigned long long)m->major_page_faults);
}

static void put_pod(kconn_t *c, util_buf_t *b, const pstat_t *p, int64_t t, int64_t gap)
{
    runtime_stats_t sum_a = {0}, sum_b = {0};
    uint64_t eph = 0;
    pid_t netpid = 0;
    int64_t start = 0;
    util_buf_puts(b, "{\"podRef\":{\"name\":");
    util_buf_json_string(b, p->name, strlen(p->name));
    util_buf_printf(b, ",\"namespace\":\"%s\",\"uid\":\"%s\"},\"containers\":[", p->ns, p->uid);
    bool first = true;
    for (size_t j = 0; j < p->n; j++) {
        const cstat_t *x = &p->c[j];
        if (!x->running)
            continue;
        char st[40], path[PATH_MAX];
        kubelet_time_ns(x->started_ns, st, sizeof(st));
        util_buf_printf(b, "%s{\"name\":\"%s\",\"startTime\":\"%s\",", first ? "" : ",", x->name,
                        st);
        first = false;
        put_cpu(b, t, x->a.cpu_usage_ns, x->b.cpu_usage_ns, gap);
        put_memory(b, t, &x->b);
        util_snprintf(path, sizeof(path), "%s/agent/containers/%s/upper", c->s->storage_dir, x->id);
        uint64_t rootfs = du_path(path);
        util_snprintf(path, sizeof(path), "%s/%s_%s_%s/%s", c->s->logs_dir, p->ns, p->name, p->uid,
                      x->name);
        uint64_t logs = du_path(path);
        util_buf_puts(b, ",");
        put_fs(b, "rootfs", c->s->storage_dir, t, (int64_t)rootfs);
        util_buf_puts(b, ",");
        put_fs(b, "logs", c->s->storage_dir, t, (int64_t)logs);
        util_buf_puts(b, "}");
        eph += rootfs + logs;
        sum_a.cpu_usage_ns += x->a.cpu_usage_ns;
        sum_b.cpu_usage_ns += x->b.cpu_usage_ns;
        sum_b.memory_usage += x->b.memory_usage;
        sum_b.memory_working_set += x->b.memory_working_set;
        sum_b.memory_rss += x->b.memory_rss;
        sum_b.page_faults += x->b.page_faults;
        sum_b.major_page_faults += x->b.major_page_faults;
        sum_b.pids += x->b.pids;
        if (!netpid)
            netpid = x->pid;
        if (!start || x->started_ns < start)
            start = x->started_ns;
    }
    char st[40];
    kubelet_time_ns(start, st, sizeof(st));
    util_buf_printf(b, "],\"startTime\":\"%s\",", st);
    put_cpu(b, t, sum_a.cpu_usage_ns, sum_b.cpu_usage_ns, gap);
    put_memory(b, t, &sum_b);
    if (netpid)
        put_network(b, netpid, t);
    util_buf_puts(b, ",");
    put_fs(b, "ephemeral-storage", c->s->storage_dir, t, (int64_t)eph);
    util_buf_printf(b, ",\"process_stats\":{\"process_count\":%llu}}",
                    (unsigned long long)sum_b.pids);
}

void kubelet__serve_stats(kconn_t *c)
{
    pstat_t *pods = util_xcalloc(MAX_PODS, sizeof(*pods));
    size_t n = find_pods(c->s, pods, MAX_PODS);
    int64_t m0 = now_ns(CLOCK_MONOTONIC);
    uint64_t cpu_a = node_cpu_ns();
    sample(c->s, pods, n, false);
    struct timespec gap = {0, SAMPLE_GAP_NS};
    nanosleep(&gap, NULL);
    int64_t m1 = now_ns(CLOCK_MONOTONIC);
    uint64_t cpu_b = node_cpu_ns();
    sample(c->s, pods, n, true);
    int64_t t = now_ns(CLOCK_REALTIME), dt = m1 - m0;
    util_buf_t b = {0};
    util_buf_puts(&b, "{");
    put_node(c, &b, t, cpu_a, cpu_b, dt);
    util_buf_puts(&b, ",\"pods\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            util_buf_puts(&b, ",");
        put_pod(c, &b, &pods[i], t, dt);
    }
    util_buf_puts(&b, "]}\n");
    kserver_respond(c, 200, "application/json", b.data);
    util_buf_free(&b);
    free(pods);
}
