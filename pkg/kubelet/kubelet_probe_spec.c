/* kubelet_probe_spec: the pure parts of probes, lifecycle hooks and termination: parsing
 * handlers and probes with upstream's defaults, the probe worker's threshold arithmetic
 * (pkg/kubelet/prober/worker.go) and the grace periods of killContainer
 * (pkg/kubelet/kuberuntime/kuberuntime_container.go). Unit-tested in
 * tests/unit/test_kubelet_probe.c. */
#include "kubelet/kubelet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(jget(o, k));
}

/* An IntOrString port: a number, a name of one of the container's ports, or a number as a
 * string (upstream's extractPort). */
static int resolve_port(const cJSON *port, const cJSON *container, int *ret, util_error_t *err)
{
    long v = -1;
    if (cJSON_IsNumber(port)) {
        v = (long)port->valuedouble;
    } else if (cJSON_IsString(port)) {
        const cJSON *p;
        cJSON_ArrayForEach(p, jget(container, "ports"))
        {
            const char *name = jstr(p, "name");
            const cJSON *cp = jget(p, "containerPort");
            if (name && !strcmp(name, port->valuestring) && cJSON_IsNumber(cp))
                v = (long)cp->valuedouble;
        }
        if (v < 0 && util_parse_long(port->valuestring, 0, 65535, &v) < 0)
            return util_error_make(err, EINVAL, "port %s not found", port->valuestring);
    } else {
        return util_error_make(err, EINVAL, "no port");
    }
    if (v < 1 || v > 65535)
        return util_error_make(err, EINVAL, "invalid port number: %ld", v);
    *ret = (int)v;
    return 0;
}

static int parse_http(const cJSON *g, const cJSON *container, kubelet_handler_t *h,
                      util_error_t *err)
{
    const char *scheme = jstr(g, "scheme"), *path = jstr(g, "path"), *host = jstr(g, "host");
    if (scheme && strcmp(scheme, "HTTP")) {
        h->kind = KUBELET_HANDLER_UNSUPPORTED;
        util_snprintf(h->what, sizeof(h->what), "httpGet with scheme %.32s", scheme);
        return 0;
    }
    h->kind = KUBELET_HANDLER_HTTP;
    if (resolve_port(jget(g, "port"), container, &h->port, err) < 0)
        return -EINVAL;
    if (host && strlen(host) >= sizeof(h->host))
        return util_error_make(err, EINVAL, "host too long");
    util_snprintf(h->host, sizeof(h->host), "%s", host ? host : "");
    if (path && strlen(path) >= sizeof(h->path) - 1)
        return util_error_make(err, EINVAL, "path too long");
    util_snprintf(h->path, sizeof(h->path), "%s%s", path && *path == '/' ? "" : "/",
                  path ? path : "");
    const cJSON *hd;
    cJSON_ArrayForEach(hd, jget(g, "httpHeaders"))
    {
        const char *n = jstr(hd, "name"), *v = jstr(hd, "value");
        if (!n || !*n || strpbrk(n, ":\r\n") || (v && strpbrk(v, "\r\n")))
            return util_error_make(err, EINVAL, "invalid httpHeaders entry");
        char *line = util_strdup_printf("%s: %s", n, v ? v : "");
        util_strv_push(&h->headers, line);
        free(line);
    }
    return 0;
}

int kubelet_handler_parse(const cJSON *o, const cJSON *container, kubelet_handler_t *ret,
                          util_error_t *err)
{
    kubelet_handler_t h = {0};
    const cJSON *x;
    int r = 0;
    if ((x = jget(o, "exec"))) {
        h.kind = KUBELET_HANDLER_EXEC;
        const cJSON *e;
        cJSON_ArrayForEach(e, jget(x, "command"))
        {
            if (cJSON_IsString(e))
                util_strv_push(&h.command, e->valuestring);
        }
        if (!h.command.n)
            r = util_error_make(err, EINVAL, "exec: no command");
    } else if ((x = jget(o, "httpGet"))) {
        r = parse_http(x, container, &h, err);
    } else if ((x = jget(o, "tcpSocket"))) {
        h.kind = KUBELET_HANDLER_TCP;
        const char *host = jstr(x, "host");
        if (host && strlen(host) >= sizeof(h.host))
            r = util_error_make(err, EINVAL, "host too long");
        else
            util_snprintf(h.host, sizeof(h.host), "%s", host ? host : "");
        if (r == 0)
            r = resolve_port(jget(x, "port"), container, &h.port, err);
    } else if ((x = jget(o, "sleep"))) {
        const cJSON *s = jget(x, "seconds");
        h.kind = KUBELET_HANDLER_SLEEP;
        h.sleep_seconds = cJSON_IsNumber(s) && s->valuedouble > 0 ? (int)s->valuedouble : 0;
    } else if (jget(o, "grpc")) {
        h.kind = KUBELET_HANDLER_UNSUPPORTED;
        util_snprintf(h.what, sizeof(h.what), "grpc");
    } else {
        r = util_error_make(err, EINVAL, "no handler (exec, httpGet, tcpSocket) given");
    }
    if (r < 0) {
        kubelet_handler_free(&h);
        return -EINVAL;
    }
    *ret = h;
    return 0;
}

void kubelet_handler_free(kubelet_handler_t *h)
{
    util_strv_clear(&h->command);
    util_strv_clear(&h->headers);
    h->kind = KUBELET_HANDLER_NONE;
}

static int num_or(const cJSON *o, const char *k, int def, int min)
{
    const cJSON *v = jget(o, k);
    if (!cJSON_IsNumber(v) || v->valuedouble < min)
        return def;
    return v->valuedouble > 1e6 ? 1000000 : (int)v->valuedouble;
}

int kubelet_probe_parse(const cJSON *probe, const cJSON *container, kubelet_probe_spec_t *ret,
                        util_error_t *err)
{
    kubelet_probe_spec_t s = {0};
    if (kubelet_handler_parse(probe, container, &s.handler, err) < 0)
        return -EINVAL;
    s.initial_delay = num_or(probe, "initialDelaySeconds", 0, 0);
    s.timeout = num_or(probe, "timeoutSeconds", 1, 1);
    s.period = num_or(probe, "periodSeconds", 10, 1);
    s.success_threshold = num_or(probe, "successThreshold", 1, 1);
    s.failure_threshold = num_or(probe, "failureThreshold", 3, 1);
    const cJSON *g = jget(probe, "terminationGracePeriodSeconds");
    s.termination_grace = cJSON_IsNumber(g) && g->valuedouble >= 0 ? (int64_t)g->valuedouble : -1;
    *ret = s;
    return 0;
}

kubelet_probe_state_t kubelet_probe_initial(kubelet_probe_type_t t)
{
    kubelet_probe_result_t r = t == KUBELET_READINESS  ? KUBELET_PROBE_FAILURE
                               : t == KUBELET_LIVENESS ? KUBELET_PROBE_SUCCESS
                                                       : KUBELET_PROBE_UNKNOWN;
    return (kubelet_probe_state_t){.last = KUBELET_PROBE_UNKNOWN, .result = r, .run = 0};
}

bool kubelet_probe_observe(kubelet_probe_state_t *s, const kubelet_probe_spec_t *spec,
                           kubelet_probe_result_t r)
{
    if (r == KUBELET_PROBE_UNKNOWN)
        return false;
    if (s->last == r) {
        s->run++;
    } else {
        s->last = r;
        s->run = 1;
    }
    if ((r == KUBELET_PROBE_FAILURE && s->run < spec->failure_threshold) ||
        (r == KUBELET_PROBE_SUCCESS && s->run < spec->success_threshold))
        return false;
    s->result = r;
    return true;
}

const char *kubelet_probe_type_name(kubelet_probe_type_t t)
{
    return t == KUBELET_LIVENESS ? "Liveness" : t == KUBELET_READINESS ? "Readiness" : "Startup";
}

int64_t kubelet_kill_grace(const cJSON *pod, const kubelet_probe_spec_t *probe)
{
    int64_t g = KUBELET_MIN_GRACE_SECONDS;
    const cJSON *d = jget(jget(pod, "metadata"), "deletionGracePeriodSeconds");
    const cJSON *t = jget(jget(pod, "spec"), "terminationGracePeriodSeconds");
    if (cJSON_IsNumber(d))
        g = (int64_t)d->valuedouble;
    else if (cJSON_IsNumber(t))
        g = (int64_t)t->valuedouble;
    if (probe && probe->termination_grace >= 0)
        g = probe->termination_grace;
    return g < 0 ? 0 : g;
}

int64_t kubelet_grace_after_prestop(int64_t grace, uint64_t prestop_ms)
{
    int64_t left = grace - (int64_t)(prestop_ms / 1000);
    return left < KUBELET_MIN_GRACE_SECONDS ? KUBELET_MIN_GRACE_SECONDS : left;
}
