/* runtime_state: the durable state file a shim keeps per container (state.json). */
#include "runtime_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = {"created", "running", "exited", "unknown"};

const char *runtime__status_name(runtime_status_t s)
{
    return (unsigned)s < UTIL_ARRAY_SIZE(status_names) ? status_names[s] : "unknown";
}

int64_t runtime__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Timestamps are strings: a double loses nanoseconds. */
static void add_ns(cJSON *o, const char *k, int64_t v)
{
    char b[32];
    snprintf(b, sizeof(b), "%lld", (long long)v);
    cJSON_AddStringToObject(o, k, b);
}

char *runtime__state_to_json(const runtime_container_state_t *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", s->id);
    cJSON_AddStringToObject(o, "sandboxId", s->sandbox_id);
    cJSON_AddStringToObject(o, "status", runtime__status_name(s->status));
    cJSON_AddNumberToObject(o, "pid", s->pid);
    cJSON_AddNumberToObject(o, "shimPid", s->shim_pid);
    cJSON_AddNumberToObject(o, "exitCode", s->exit_code);
    cJSON_AddNumberToObject(o, "signal", s->signal);
    cJSON_AddBoolToObject(o, "oomKilled", s->oom_killed);
    add_ns(o, "createdAt", s->created_ns);
    add_ns(o, "startedAt", s->started_ns);
    add_ns(o, "finishedAt", s->finished_ns);
    cJSON_AddStringToObject(o, "cgroup", s->cgroup);
    cJSON_AddStringToObject(o, "message", s->message);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static int copy_str(const cJSON *o, const char *k, char *dst, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v)
        return (dst[0] = 0, 0);
    if (!cJSON_IsString(v))
        return -EINVAL;
    return util_strlcpy(dst, v->valuestring, n);
}

static int get_int(const cJSON *o, const char *k, long min, long max, long *ret)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v)
        return (*ret = 0, 0);
    if (!cJSON_IsNumber(v) || v->valuedouble < (double)min || v->valuedouble > (double)max)
        return -EINVAL;
    *ret = (long)v->valuedouble;
    return 0;
}

static int get_ns(const cJSON *o, const char *k, int64_t *ret)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    long long x = 0;
    if (v) {
        char *end;
        if (!cJSON_IsString(v))
            return -EINVAL;
        errno = 0;
        x = strtoll(v->valuestring, &end, 10);
        if (errno || *end || end == v->valuestring || x < 0)
            return -EINVAL;
    }
    *ret = x;
    return 0;
}

static int parse_status(const cJSON *o, runtime_status_t *ret)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "status");
    for (size_t i = 0; cJSON_IsString(v) && i < UTIL_ARRAY_SIZE(status_names); i++)
        if (!strcmp(v->valuestring, status_names[i]))
            return (*ret = (runtime_status_t)i, 0);
    return -EINVAL;
}

int runtime__state_from_json(const char *text, runtime_container_state_t *ret, util_error_t *err)
{
    runtime_container_state_t s = {0};
    cJSON *o = cJSON_Parse(text);
    long pid = 0, shim = 0, code = 0, sig = 0;
    int r = -EINVAL;
    if (cJSON_IsObject(o) && copy_str(o, "id", s.id, sizeof(s.id)) == 0 &&
        copy_str(o, "sandboxId", s.sandbox_id, sizeof(s.sandbox_id)) == 0 &&
        parse_status(o, &s.status) == 0 && get_int(o, "pid", 0, 1 << 30, &pid) == 0 &&
        get_int(o, "shimPid", 0, 1 << 30, &shim) == 0 &&
        get_int(o, "exitCode", -1, 255, &code) == 0 && get_int(o, "signal", 0, 128, &sig) == 0 &&
        get_ns(o, "createdAt", &s.created_ns) == 0 && get_ns(o, "startedAt", &s.started_ns) == 0 &&
        get_ns(o, "finishedAt", &s.finished_ns) == 0 &&
        copy_str(o, "cgroup", s.cgroup, sizeof(s.cgroup)) == 0 &&
        copy_str(o, "message", s.message, sizeof(s.message)) >= -ENAMETOOLONG)
        r = 0;
    if (r == 0) {
        s.pid = (pid_t)pid;
        s.shim_pid = (pid_t)shim;
        s.exit_code = (int)code;
        s.signal = (int)sig;
        s.oom_killed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "oomKilled"));
        *ret = s;
    }
    cJSON_Delete(o);
    return r < 0 ? util_error_make(err, EINVAL, "malformed container state") : 0;
}

int runtime__state_write(const char *dir, const runtime_container_state_t *s, util_error_t *err)
{
    char path[4096];
    if (util_path_join(path, sizeof(path), dir, "state.json") < 0)
        return util_error_make(err, ENAMETOOLONG, "state path too long");
    char *text = runtime__state_to_json(s);
    int r = util_write_file_atomic(path, text, strlen(text), 0600, err);
    free(text);
    return r;
}

int runtime__state_read(const char *dir, runtime_container_state_t *ret, util_error_t *err)
{
    char path[4096];
    cleanup_free char *text = NULL;
    if (util_path_join(path, sizeof(path), dir, "state.json") < 0)
        return util_error_make(err, ENAMETOOLONG, "state path too long");
    int r = util_read_file(path, 64 * 1024, &text, NULL, err);
    if (r < 0)
        return r;
    return runtime__state_from_json(text, ret, err);
}
