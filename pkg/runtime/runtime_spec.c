/* runtime_spec: pure parts of a container's spec: capabilities, cgroup values, config.json. */
#include "runtime_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- capabilities ------------------------------------------------------------------------- */

static const char *const cap_names[] = {
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
};

/* Docker's (and containerd CRI's) default set: the capabilities a container gets unless it
 * adds or drops some. */
static const char *const default_caps[] = {
    "CHOWN",  "DAC_OVERRIDE", "FSETID",  "FOWNER",           "MKNOD",      "NET_RAW", "SETGID",
    "SETUID", "SETFCAP",      "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",    "AUDIT_WRITE",
};

int runtime__cap_from_name(const char *name)
{
    if (!strncasecmp(name, "CAP_", 4))
        name += 4;
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(cap_names); i++)
        if (!strcasecmp(cap_names[i], name))
            return (int)i;
    return -EINVAL;
}

uint64_t runtime__caps_default(void)
{
    uint64_t set = 0;
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(default_caps); i++)
        set |= 1ULL << runtime__cap_from_name(default_caps[i]);
    return set;
}

static bool is_all(const char *name)
{
    return !strcasecmp(name, "ALL") || !strcasecmp(name, "CAP_ALL");
}

/* Kubernetes semantics (like containerd): start from the default set, add, then drop; "ALL"
 * in add means every capability, in drop means none is kept (adds still apply after it). */
int runtime__caps_compute(const char *const *add, const char *const *drop, bool privileged,
                          int last_cap, uint64_t *ret, util_error_t *err)
{
    uint64_t all = last_cap >= 63 ? ~0ULL : (1ULL << (last_cap + 1)) - 1;
    if (privileged) {
        *ret = all;
        return 0;
    }
    uint64_t set = runtime__caps_default(), added = 0;
    for (size_t i = 0; add && add[i]; i++) {
        if (is_all(add[i])) {
            added = all;
            continue;
        }
        int c = runtime__cap_from_name(add[i]);
        if (c < 0)
            return util_error_make(err, EINVAL, "unknown capability \"%s\"", add[i]);
        added |= 1ULL << c;
    }
    for (size_t i = 0; drop && drop[i]; i++) {
        if (is_all(drop[i])) {
            set = 0;
            continue;
        }
        int c = runtime__cap_from_name(drop[i]);
        if (c < 0)
            return util_error_make(err, EINVAL, "unknown capability \"%s\"", drop[i]);
        set &= ~(1ULL << c);
        added &= ~(1ULL << c);
    }
    *ret = (set | added) & all;
    return 0;
}

/* ---- cgroup values ------------------------------------------------------------------------ */

#define MIN_SHARES   2
#define MAX_SHARES   262144
#define MIN_QUOTA_US 1000

/* MilliCPUToShares: requests of 0 get the minimum, like upstream (a BestEffort container). */
uint64_t runtime_cpu_shares(int64_t milli)
{
    if (milli <= 0)
        return MIN_SHARES;
    uint64_t shares = (uint64_t)milli * 1024 / 1000;
    if (shares < MIN_SHARES)
        return MIN_SHARES;
    return shares > MAX_SHARES ? MAX_SHARES : shares;
}

/* libcontainer's ConvertCPUSharesToCgroupV2Value: [2, 262144] onto [1, 10000] linearly. */
uint64_t runtime_cpu_weight(uint64_t shares)
{
    if (shares == 0)
        return 0;
    if (shares < MIN_SHARES)
        shares = MIN_SHARES;
    if (shares > MAX_SHARES)
        shares = MAX_SHARES;
    return 1 + ((shares - 2) * 9999) / 262142;
}

/* MilliCPUToQuota: 0 (no limit) stays 0; otherwise at least 1 ms per period. */
int64_t runtime_cpu_quota(int64_t milli, uint64_t period_us)
{
    if (milli <= 0)
        return 0;
    int64_t quota = milli * (int64_t)period_us / 1000;
    return quota < MIN_QUOTA_US ? MIN_QUOTA_US : quota;
}

/* ---- ids ---------------------------------------------------------------------------------- */

bool runtime__id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > RUNTIME_ID_MAX || id[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return false;
    }
    return true;
}

/* ---- config.json -------------------------------------------------------------------------- */

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
}

static void add_strv(cJSON *o, const char *k, const util_strv_t *sv)
{
    cJSON *a = cJSON_AddArrayToObject(o, k);
    for (size_t i = 0; i < sv->n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(sv->v[i]));
}

static void add_resources(cJSON *o, const runtime_resources_t *r)
{
    cJSON *j = cJSON_AddObjectToObject(o, "resources");
    cJSON_AddNumberToObject(j, "cpuRequestMilli", (double)r->cpu_request_milli);
    cJSON_AddNumberToObject(j, "cpuLimitMilli", (double)r->cpu_limit_milli);
    cJSON_AddNumberToObject(j, "memoryLimit", (double)r->memory_limit);
    cJSON_AddNumberToObject(j, "pidsLimit", (double)r->pids_limit);
}

char *runtime__config_to_json(const runtime__config_t *c)
{
    cJSON *o = cJSON_CreateObject();
    add_str(o, "id", c->id);
    add_str(o, "sandboxId", c->sandbox_id);
    add_strv(o, "lowerdirs", &c->lowerdirs);
    add_str(o, "upperdir", c->upperdir);
    add_str(o, "workdir", c->workdir);
    add_str(o, "rootfs", c->rootfs);
    add_strv(o, "args", &c->args);
    add_strv(o, "env", &c->env);
    add_str(o, "cwd", c->cwd);
    cJSON_AddNumberToObject(o, "uid", c->uid);
    cJSON_AddNumberToObject(o, "gid", c->gid);
    cJSON *g = cJSON_AddArrayToObject(o, "groups");
    for (size_t i = 0; i < c->ngroups; i++)
        cJSON_AddItemToArray(g, cJSON_CreateNumber(c->groups[i]));
    char caps[32];
    snprintf(caps, sizeof(caps), "%llx", (unsigned long long)c->caps);
    cJSON_AddStringToObject(o, "caps", caps);
    cJSON_AddBoolToObject(o, "privileged", c->privileged);
    cJSON_AddBoolToObject(o, "noNewPrivs", c->no_new_privs);
    cJSON_AddBoolToObject(o, "readonlyRootfs", c->readonly_rootfs);
    cJSON_AddBoolToObject(o, "stdin", c->stdin_open);
    cJSON_AddBoolToObject(o, "stdinOnce", c->stdin_once);
    cJSON_AddBoolToObject(o, "tty", c->tty);
    cJSON_AddBoolToObject(o, "mergeImageGroups", c->merge_image_groups);
    cJSON *m = cJSON_AddArrayToObject(o, "mounts");
    for (size_t i = 0; i < c->nmounts; i++) {
        cJSON *e = cJSON_CreateObject();
        add_str(e, "source", c->mounts[i].source);
        add_str(e, "destination", c->mounts[i].destination);
        cJSON_AddBoolToObject(e, "readonly", c->mounts[i].readonly);
        cJSON_AddItemToArray(m, e);
    }
    add_resources(o, &c->resources);
    add_str(o, "logPath", c->log_path);
    cJSON_AddNumberToObject(o, "logMaxSize", (double)c->log_max_size);
    cJSON_AddNumberToObject(o, "logMaxFiles", c->log_max_files);
    add_str(o, "netns", c->netns);
    add_str(o, "ipcns", c->ipcns);
    add_str(o, "utsns", c->utsns);
    cJSON_AddBoolToObject(o, "hostPid", c->host_pid);
    add_str(o, "cgroup", c->cgroup);
    if (c->cgroups)
        runtime__cgroups_to_json(o, c->cgroups);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static char *get_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? util_xstrdup(v->valuestring) : NULL;
}

static int get_strv(const cJSON *o, const char *k, util_strv_t *sv)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, k), *e;
    if (!a)
        return 0;
    if (!cJSON_IsArray(a))
        return -EINVAL;
    cJSON_ArrayForEach(e, a)
    {
        if (!cJSON_IsString(e))
            return -EINVAL;
        util_strv_push(sv, e->valuestring);
    }
    return 0;
}

static int64_t get_num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static bool get_bool(const cJSON *o, const char *k)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static int get_mounts(const cJSON *o, runtime__config_t *c)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "mounts"), *e;
    int n = cJSON_GetArraySize(a);
    if (n <= 0)
        return 0;
    c->mounts = util_xcalloc((size_t)n, sizeof(*c->mounts));
    cJSON_ArrayForEach(e, a)
    {
        runtime__mount_t *m = &c->mounts[c->nmounts++];
        m->source = get_str(e, "source");
        m->destination = get_str(e, "destination");
        m->readonly = get_bool(e, "readonly");
        if (!m->source || !m->destination)
            return -EINVAL;
    }
    return 0;
}

static void get_resources(const cJSON *o, runtime_resources_t *r)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, "resources");
    r->cpu_request_milli = get_num(j, "cpuRequestMilli");
    r->cpu_limit_milli = get_num(j, "cpuLimitMilli");
    r->memory_limit = get_num(j, "memoryLimit");
    r->pids_limit = get_num(j, "pidsLimit");
}

static int get_groups(const cJSON *o, runtime__config_t *c)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "groups"), *e;
    int n = cJSON_GetArraySize(a);
    if (n <= 0)
        return 0;
    if (n > 64)
        return -E2BIG;
    c->groups = util_xcalloc((size_t)n, sizeof(gid_t));
    cJSON_ArrayForEach(e, a) c->groups[c->ngroups++] = (gid_t)e->valuedouble;
    return 0;
}

int runtime__config_from_json(const char *text, runtime__config_t *ret, util_error_t *err)
{
    runtime__config_t c = {0};
    cJSON *o = cJSON_Parse(text);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return util_error_make(err, EINVAL, "container config is not a JSON object");
    }
    c.id = get_str(o, "id");
    c.sandbox_id = get_str(o, "sandboxId");
    c.upperdir = get_str(o, "upperdir");
    c.workdir = get_str(o, "workdir");
    c.rootfs = get_str(o, "rootfs");
    c.cwd = get_str(o, "cwd");
    c.uid = (uid_t)get_num(o, "uid");
    c.gid = (gid_t)get_num(o, "gid");
    char *caps = get_str(o, "caps");
    c.caps = caps ? strtoull(caps, NULL, 16) : 0;
    free(caps);
    c.privileged = get_bool(o, "privileged");
    c.no_new_privs = get_bool(o, "noNewPrivs");
    c.readonly_rootfs = get_bool(o, "readonlyRootfs");
    c.stdin_open = get_bool(o, "stdin");
    c.stdin_once = get_bool(o, "stdinOnce");
    c.tty = get_bool(o, "tty");
    c.merge_image_groups = get_bool(o, "mergeImageGroups");
    get_resources(o, &c.resources);
    c.log_path = get_str(o, "logPath");
    c.log_max_size = get_num(o, "logMaxSize");
    c.log_max_files = (int)get_num(o, "logMaxFiles");
    c.netns = get_str(o, "netns");
    c.ipcns = get_str(o, "ipcns");
    c.utsns = get_str(o, "utsns");
    c.host_pid = get_bool(o, "hostPid");
    c.cgroup = get_str(o, "cgroup");
    int r = 0;
    runtime__cgroups_t cg;
    int have_cg = runtime__cgroups_from_json(o, &cg);
    if (have_cg > 0) {
        c.cgroups = util_xmalloc(sizeof(cg));
        *c.cgroups = cg;
    }
    if (have_cg < 0)
        r = util_error_make(err, EINVAL, "container config: malformed cgroupLayout");
    else if (get_strv(o, "lowerdirs", &c.lowerdirs) < 0 || get_strv(o, "args", &c.args) < 0 ||
             get_strv(o, "env", &c.env) < 0 || get_mounts(o, &c) < 0 || get_groups(o, &c) < 0)
        r = util_error_make(err, EINVAL, "container config: malformed lists");
    else if (!c.id || !c.args.n || !c.cgroup || (!c.rootfs && !c.lowerdirs.n))
        r = util_error_make(err, EINVAL, "container config: id, args, cgroup or root missing");
    cJSON_Delete(o);
    if (r < 0) {
        runtime__config_free(&c);
        return r;
    }
    *ret = c;
    return 0;
}

void runtime__config_free(runtime__config_t *c)
{
    free(c->id);
    free(c->sandbox_id);
    util_strv_clear(&c->lowerdirs);
    free(c->upperdir);
    free(c->workdir);
    free(c->rootfs);
    util_strv_clear(&c->args);
    util_strv_clear(&c->env);
    free(c->cwd);
    free(c->groups);
    for (size_t i = 0; i < c->nmounts; i++) {
        free(c->mounts[i].source);
        free(c->mounts[i].destination);
    }
    free(c->mounts);
    free(c->log_path);
    free(c->netns);
    free(c->ipcns);
    free(c->utsns);
    free(c->cgroup);
    free(c->cgroups);
    *c = (runtime__config_t){0};
}
