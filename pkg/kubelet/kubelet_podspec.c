/* kubelet_podspec: the pure parts of running pods: quantities, QoS class, a container's argv
 * and environment, the crash-loop back-off, and the pod status built from container states
 * (phase and conditions by upstream's rules in pkg/kubelet/kubelet_pods.go). */
#include "kubelet/kubelet.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubelet_volumes.h"
#include "mbedtls/base64.h"
#include "quantity/quantity.h"

#define BACKOFF_INITIAL_MS (10 * 1000)
#define BACKOFF_MAX_MS     (300 * 1000)

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(jget(o, k));
}

/* ---- quantities ---------------------------------------------------------------------------- */

/* Upstream's parsing and rounding (pkg/quantity); negative and saturated values are refused. */
static int parse_scaled(const char *q, int scale, int64_t *ret)
{
    quantity_t v;
    if (!q || quantity_parse(q, &v) < 0 || v.negative)
        return -EINVAL;
    int64_t x = quantity_scaled(&v, scale);
    if (x == INT64_MAX)
        return -EINVAL;
    *ret = x;
    return 0;
}

int kubelet_parse_cpu_milli(const char *q, int64_t *ret)
{
    return parse_scaled(q, 3, ret);
}

int kubelet_parse_bytes(const char *q, int64_t *ret)
{
    return parse_scaled(q, 0, ret);
}

/* ---- QoS ----------------------------------------------------------------------------------- */

static bool has_res(const cJSON *res, const char *which, const char *name)
{
    const char *v = jstr(jget(res, which), name);
    return v && *v && strcmp(v, "0");
}

const char *kubelet_qos_class(const cJSON *spec)
{
    static const char *const kinds[] = {"initContainers", "containers"};
    bool any = false, guaranteed = true;
    for (size_t k = 0; k < 2; k++) {
        const cJSON *c;
        cJSON_ArrayForEach(c, jget(spec, kinds[k]))
        {
            const cJSON *res = jget(c, "resources");
            for (int r = 0; r < 2; r++) {
                const char *name = r ? "memory" : "cpu";
                bool req = has_res(res, "requests", name), lim = has_res(res, "limits", name);
                if (req || lim)
                    any = true;
                if (!lim) {
                    guaranteed = false;
                } else if (req) {
                    const char *a = jstr(jget(res, "requests"), name);
                    const char *b = jstr(jget(res, "limits"), name);
                    int64_t x = 0, y = 1;
                    if (r) {
                        kubelet_parse_bytes(a, &x);
                        kubelet_parse_bytes(b, &y);
                    } else {
                        kubelet_parse_cpu_milli(a, &x);
                        kubelet_parse_cpu_milli(b, &y);
                    }
                    if (x != y)
                        guaranteed = false;
                }
            }
        }
    }
    if (!any)
        return "BestEffort";
    return guaranteed ? "Guaranteed" : "Burstable";
}

/* ---- argv and env -------------------------------------------------------------------------- */

static const char *env_lookup(const util_strv_t *env, const char *name, size_t nl)
{
    const char *found = NULL;
    for (size_t i = 0; env && i < env->n; i++)
        if (!strncmp(env->v[i], name, nl) && env->v[i][nl] == '=')
            found = env->v[i] + nl + 1;
    return found;
}

char *kubelet_expand(const char *in, const util_strv_t *env)
{
    util_buf_t b = {0};
    util_buf_puts(&b, "");
    for (const char *p = in; *p;) {
        if (p[0] == '$' && p[1] == '$') {
            util_buf_puts(&b, "$");
            p += 2;
            continue;
        }
        const char *close = p[0] == '$' && p[1] == '(' ? strchr(p + 2, ')') : NULL;
        if (close) {
            const char *v = env_lookup(env, p + 2, (size_t)(close - p - 2));
            if (v)
                util_buf_puts(&b, v);
            else
                util_buf_append(&b, p, (size_t)(close - p + 1));
            p = close + 1;
            continue;
        }
        util_buf_append(&b, p, 1);
        p++;
    }
    return util_buf_steal(&b);
}

static void push_strings(util_strv_t *out, const cJSON *arr, const util_strv_t *env)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (!cJSON_IsString(e))
            continue;
        char *x = kubelet_expand(e->valuestring, env);
        util_strv_push(out, x);
        free(x);
    }
}

static bool nonempty_array(const cJSON *a)
{
    return cJSON_IsArray(a) && cJSON_GetArraySize(a) > 0;
}

int kubelet_container_argv(const cJSON *container, const images_config_t *img,
                           const util_strv_t *env, util_strv_t *ret)
{
    const cJSON *command = jget(container, "command"), *args = jget(container, "args");
    if (nonempty_array(command)) {
        push_strings(ret, command, env);
        push_strings(ret, args, env);
    } else {
        if (img)
            for (size_t i = 0; i < img->entrypoint.n; i++)
                util_strv_push(ret, img->entrypoint.v[i]);
        if (nonempty_array(args))
            push_strings(ret, args, env);
        else if (img)
            for (size_t i = 0; i < img->cmd.n; i++)
                util_strv_push(ret, img->cmd.v[i]);
    }
    return ret->n ? 0 : -EINVAL;
}

/* Sets NAME=value, replacing an earlier NAME. */
static void env_set(util_strv_t *env, const char *name, const char *value)
{
    size_t nl = strlen(name);
    char *kv = util_strdup_printf("%s=%s", name, value ? value : "");
    for (size_t i = 0; i < env->n; i++) {
        if (!strncmp(env->v[i], name, nl) && env->v[i][nl] == '=') {
            free(env->v[i]);
            env->v[i] = kv;
            return;
        }
    }
    util_strv_push(env, kv);
    free(kv);
}

/* An error without errno text in the message (it is shown to users as is); returns -code. */
static int env_error(util_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int env_error(util_error_t *err, int code, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    util_error_make(err, 0, "%s", msg ? msg : "environment error");
    free(msg);
    return -code;
}

static char *decode_b64(const char *in)
{
    size_t n = strlen(in), out = 0;
    unsigned char *buf = util_xmalloc(n + 1);
    if (mbedtls_base64_decode(buf, n + 1, &out, (const unsigned char *)in, n) != 0) {
        free(buf);
        return NULL;
    }
    buf[out] = 0;
    return (char *)buf;
}

/* The value of key in a ConfigMap's data or a Secret's (decoded) data; NULL when absent. */
static char *object_value(const cJSON *obj, bool secret, const char *key)
{
    const char *v = jstr(jget(obj, "data"), key);
    if (!v)
        return NULL;
    return secret ? decode_b64(v) : util_xstrdup(v);
}

static int env_from(const cJSON *container, const kubelet_env_ctx_t *ctx, util_strv_t *ret,
                    util_strv_t *defined, util_error_t *err)
{
    const cJSON *ef;
    cJSON_ArrayForEach(ef, jget(container, "envFrom"))
    {
        bool secret = jget(ef, "secretRef") != NULL;
        const cJSON *ref = jget(ef, secret ? "secretRef" : "configMapRef");
        const char *name = jstr(ref, "name"), *prefix = jstr(ef, "prefix");
        if (!ref || !name)
            continue;
        const cJSON *obj = jget(secret ? ctx->secrets : ctx->configmaps, name);
        if (!obj) {
            if (cJSON_IsTrue(jget(ref, "optional")))
                continue;
            return env_error(err, ENOENT, "%s \"%s\" not found", secret ? "secret" : "configmap",
                             name);
        }
        util_buf_t invalid = {0};
        const cJSON *kv;
        cJSON_ArrayForEach(kv, jget(obj, "data"))
        {
            if (!cJSON_IsString(kv))
                continue;
            char *key = util_strdup_printf("%s%s", prefix ? prefix : "", kv->string);
            char *v = secret ? decode_b64(kv->valuestring) : util_xstrdup(kv->valuestring);
            if (!kubelet_env_name_valid(key) || !v) {
                util_buf_printf(&invalid, "%s%s", invalid.len ? ", " : "", key);
            } else {
                env_set(ret, key, v);
                env_set(defined, key, v);
            }
            free(key);
            free(v);
        }
        if (invalid.len) /* upstream's InvalidEnvironmentVariableNames event */
            util_log_warn("kubelet: pod %s/%s: keys [%s] from the EnvFrom %s %s/%s were skipped "
                          "since they are considered invalid environment variable names.",
                          ctx->pod_namespace, ctx->pod_name, invalid.data,
                          secret ? "secret" : "configMap", ctx->pod_namespace, name);
        util_buf_free(&invalid);
    }
    return 0;
}

/* One valueFrom: *ret owned, or NULL (skipped: optional and absent). */
static int value_from(const cJSON *container, const cJSON *from, const kubelet_env_ctx_t *ctx,
                      const char *name, char **ret, util_error_t *err)
{
    *ret = NULL;
    const cJSON *fr = jget(from, "fieldRef"), *rr = jget(from, "resourceFieldRef");
    const cJSON *cm = jget(from, "configMapKeyRef"), *sk = jget(from, "secretKeyRef");
    if (fr) {
        kubelet_field_src_t src = {.pod = ctx->pod,
                                   .name = ctx->pod_name,
                                   .ns = ctx->pod_namespace,
                                   .uid = ctx->pod_uid,
                                   .node_name = ctx->node_name,
                                   .service_account = ctx->service_account,
                                   .pod_ip = ctx->pod_ip,
                                   .host_ip = ctx->host_ip};
        return kubelet_field_value(&src, jstr(fr, "apiVersion"), jstr(fr, "fieldPath"), ret, err);
    }
    if (rr) {
        *ret = kubelet_resource_field(container, jstr(rr, "resource"), jstr(rr, "divisor"),
                                      ctx->node_cpu_milli, ctx->node_memory, ctx->node_storage);
        if (*ret)
            return 0;
        return env_error(err, ENOTSUP, "env %s: unsupported resource %s", name,
                         jstr(rr, "resource") ? jstr(rr, "resource") : "(none)");
    }
    if (cm || sk) {
        bool secret = sk != NULL;
        const cJSON *ref = secret ? sk : cm;
        const char *oname = jstr(ref, "name"), *key = jstr(ref, "key");
        bool optional = cJSON_IsTrue(jget(ref, "optional"));
        const cJSON *obj = oname ? jget(secret ? ctx->secrets : ctx->configmaps, oname) : NULL;
        if (!obj) {
            if (optional)
                return 0;
            return env_error(err, ENOENT, "%s \"%s\" not found", secret ? "secret" : "configmap",
                             oname ? oname : "");
        }
        *ret = key ? object_value(obj, secret, key) : NULL;
        if (*ret || optional)
            return 0;
        return env_error(err, ENOENT, "couldn't find key %s in %s %s/%s", key ? key : "",
                         secret ? "Secret" : "ConfigMap", ctx->pod_namespace, oname);
    }
    return env_error(err, ENOTSUP, "env %s: unsupported valueFrom", name);
}

int kubelet_container_env(const cJSON *container, const images_config_t *img,
                          const kubelet_env_ctx_t *ctx, util_strv_t *ret, util_error_t *err)
{
    if (img)
        for (size_t i = 0; i < img->env.n; i++) {
            const char *eq = strchr(img->env.v[i], '=');
            if (!eq)
                continue;
            char *name = util_strdup_printf("%.*s", (int)(eq - img->env.v[i]), img->env.v[i]);
            env_set(ret, name, eq + 1);
            free(name);
        }
    const cJSON *e;
    util_strv_t defined = {0}; /* the container's own variables so far: $(VAR) sources */
    if (env_from(container, ctx, ret, &defined, err) < 0) {
        util_strv_clear(&defined);
        return -ENOENT;
    }
    cJSON_ArrayForEach(e, jget(container, "env"))
    {
        const char *name = jstr(e, "name");
        if (!name || !*name || strchr(name, '='))
            continue;
        const cJSON *from = jget(e, "valueFrom");
        if (!from) {
            char *v = kubelet_expand(jstr(e, "value") ? jstr(e, "value") : "", &defined);
            env_set(ret, name, v);
            env_set(&defined, name, v);
            free(v);
            continue;
        }
        char *v = NULL;
        int r = value_from(container, from, ctx, name, &v, err);
        if (r < 0) {
            util_strv_clear(&defined);
            return r;
        }
        if (!v)
            continue;
        env_set(ret, name, v);
        env_set(&defined, name, v);
        free(v);
    }
    util_strv_clear(&defined);
    return 0;
}

uint64_t kubelet_crash_backoff_ms(int restarts)
{
    if (restarts <= 0)
        return 0;
    uint64_t ms = BACKOFF_INITIAL_MS;
    for (int i = 1; i < restarts && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms;
}

/* ---- status -------------------------------------------------------------------------------- */

void kubelet_time_ns(int64_t ns, char *out, size_t n)
{
    time_t s = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static bool policy_is(const kubelet_pod_view_t *v, const char *p)
{
    const char *rp = v->restart_policy && *v->restart_policy ? v->restart_policy : "Always";
    return !strcmp(rp, p);
}

const char *kubelet_pod_phase(const kubelet_pod_view_t *v)
{
    size_t running = 0, waiting = 0, stopped = 0, succeeded = 0, apps = 0;
    for (size_t i = 0; i < v->n; i++) {
        const kubelet_ctr_status_t *c = &v->ctrs[i];
        if (c->init) {
            if (c->state == KUBELET_CS_TERMINATED && c->term.exit_code == 0)
                continue;
            if (c->state == KUBELET_CS_TERMINATED && policy_is(v, "Never"))
                return "Failed";
            return "Pending"; /* initialisation is not done */
        }
        apps++;
        switch (c->state) {
        case KUBELET_CS_RUNNING:
            running++;
            break;
        case KUBELET_CS_TERMINATED:
            stopped++;
            if (c->term.exit_code == 0)
                succeeded++;
            break;
        case KUBELET_CS_WAITING:
            if (c->has_last)
                stopped++;
            else
                waiting++;
            break;
        }
    }
    if (apps == 0 || waiting > 0)
        return "Pending";
    if (running > 0)
        return "Running";
    if (policy_is(v, "Always"))
        return "Running";
    if (stopped == succeeded)
        return "Succeeded";
    return policy_is(v, "Never") ? "Failed" : "Running";
}

static cJSON *condition(const kubelet_pod_view_t *v, const char *type, bool ok, const char *reason,
                        const char *message)
{
    const char *status = ok ? "True" : "False", *when = v->now;
    const cJSON *p;
    cJSON_ArrayForEach(p, v->prev_conditions)
    {
        const char *t = jstr(p, "type"), *s = jstr(p, "status"),
                   *lt = jstr(p, "lastTransitionTime");
        if (t && s && lt && !strcmp(t, type) && !strcmp(s, status))
            when = lt;
    }
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "type", type);
    cJSON_AddStringToObject(c, "status", status);
    cJSON_AddNullToObject(c, "lastProbeTime");
    cJSON_AddStringToObject(c, "lastTransitionTime", when);
    if (!ok && reason) {
        cJSON_AddStringToObject(c, "reason", reason);
        if (message)
            cJSON_AddStringToObject(c, "message", message);
    }
    return c;
}

static cJSON *term_json(const kubelet_term_t *t)
{
    char ts[40];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "exitCode", t->exit_code);
    if (t->signal)
        cJSON_AddNumberToObject(o, "signal", t->signal);
    cJSON_AddStringToObject(o, "reason",
                            t->reason ? t->reason : (t->exit_code ? "Error" : "Completed"));
    if (t->message && *t->message)
        cJSON_AddStringToObject(o, "message", t->message);
    if (t->started_ns) {
        kubelet_time_ns(t->started_ns, ts, sizeof(ts));
        cJSON_AddStringToObject(o, "startedAt", ts);
    } else {
        cJSON_AddNullToObject(o, "startedAt");
    }
    if (t->finished_ns) {
        kubelet_time_ns(t->finished_ns, ts, sizeof(ts));
        cJSON_AddStringToObject(o, "finishedAt", ts);
    } else {
        cJSON_AddNullToObject(o, "finishedAt");
    }
    if (t->container_id)
        cJSON_AddStringToObject(o, "containerID", t->container_id);
    return o;
}

static cJSON *ctr_status(const kubelet_ctr_status_t *c)
{
    cJSON *o = cJSON_CreateObject(), *state = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", c->name);
    if (c->state == KUBELET_CS_RUNNING) {
        cJSON *r = cJSON_AddObjectToObject(state, "running");
        char ts[40];
        kubelet_time_ns(c->started_ns, ts, sizeof(ts));
        cJSON_AddStringToObject(r, "startedAt", ts);
    } else if (c->state == KUBELET_CS_TERMINATED) {
        cJSON_AddItemToObject(state, "terminated", term_json(&c->term));
    } else {
        cJSON *w = cJSON_AddObjectToObject(state, "waiting");
        cJSON_AddStringToObject(w, "reason", c->reason ? c->reason : "ContainerCreating");
        if (c->message && *c->message)
            cJSON_AddStringToObject(w, "message", c->message);
    }
    cJSON_AddItemToObject(o, "state", state);
    cJSON *last = cJSON_AddObjectToObject(o, "lastState");
    if (c->has_last)
        cJSON_AddItemToObject(last, "terminated", term_json(&c->last));
    bool ready = c->state == KUBELET_CS_RUNNING && !c->not_ready && !c->not_started;
    cJSON_AddBoolToObject(o, "ready", ready);
    cJSON_AddNumberToObject(o, "restartCount", c->restart_count);
    cJSON_AddStringToObject(o, "image", c->image ? c->image : "");
    cJSON_AddStringToObject(o, "imageID", c->image_id ? c->image_id : "");
    if (c->container_id)
        cJSON_AddStringToObject(o, "containerID", c->container_id);
    cJSON_AddBoolToObject(o, "started", c->state == KUBELET_CS_RUNNING && !c->not_started);
    return o;
}

static cJSON *ips(const char *ip)
{
    cJSON *a = cJSON_CreateArray(), *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ip", ip);
    cJSON_AddItemToArray(a, o);
    return a;
}

cJSON *kubelet_pod_status(const kubelet_pod_view_t *v)
{
    const char *phase = kubelet_pod_phase(v);
    util_buf_t uninit = {0}, unready = {0};
    for (size_t i = 0; i < v->n; i++) {
        const kubelet_ctr_status_t *c = &v->ctrs[i];
        util_buf_t *b = c->init ? &uninit : &unready;
        bool ok = c->init ? c->state == KUBELET_CS_TERMINATED && c->term.exit_code == 0
                          : c->state == KUBELET_CS_RUNNING && !c->not_ready && !c->not_started;
        if (!ok)
            util_buf_printf(b, "%s%s", b->len ? " " : "", c->name);
    }
    cJSON *st = cJSON_CreateObject();
    cJSON_AddStringToObject(st, "phase", phase);
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    bool done = !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed");
    char *m1 = util_strdup_printf("containers with incomplete status: [%s]",
                                  uninit.len ? uninit.data : "");
    char *m2 =
        util_strdup_printf("containers with unready status: [%s]", unready.len ? unready.data : "");
    bool initialized = uninit.len == 0, ready = unready.len == 0 && !done;
    cJSON_AddItemToArray(conds, condition(v, "Initialized", initialized,
                                          done ? "PodCompleted" : "ContainersNotInitialized", m1));
    cJSON_AddItemToArray(
        conds, condition(v, "Ready", ready, done ? "PodCompleted" : "ContainersNotReady", m2));
    cJSON_AddItemToArray(conds, condition(v, "ContainersReady", ready,
                                          done ? "PodCompleted" : "ContainersNotReady", m2));
    cJSON_AddItemToArray(conds, condition(v, "PodScheduled", true, NULL, NULL));
    free(m1);
    free(m2);
    util_buf_free(&uninit);
    util_buf_free(&unready);
    if (v->host_ip && *v->host_ip) {
        cJSON_AddStringToObject(st, "hostIP", v->host_ip);
        cJSON_AddItemToObject(st, "hostIPs", ips(v->host_ip));
    }
    if (v->pod_ip && *v->pod_ip) {
        cJSON_AddStringToObject(st, "podIP", v->pod_ip);
        cJSON_AddItemToObject(st, "podIPs", ips(v->pod_ip));
    }
    if (v->start_time)
        cJSON_AddStringToObject(st, "startTime", v->start_time);
    if (v->qos_class)
        cJSON_AddStringToObject(st, "qosClass", v->qos_class);
    cJSON *init = NULL, *apps = cJSON_AddArrayToObject(st, "containerStatuses");
    for (size_t i = 0; i < v->n; i++) {
        if (v->ctrs[i].init && !init)
            init = cJSON_AddArrayToObject(st, "initContainerStatuses");
        cJSON_AddItemToArray(v->ctrs[i].init ? init : apps, ctr_status(&v->ctrs[i]));
    }
    return st;
}
