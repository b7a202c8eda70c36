/* apiserver_routes: request dispatch: health and version endpoints, authentication gate,
 * Kubernetes Status errors. Resource handlers plug in here. */
#include "apiserver_internal.h"

#include <string.h>
#include <strings.h>

#include "apiserver_discovery.h"
#include "apiserver_metrics.h"
#include "apiserver_registry.h"
#include "apiserver_token.h"

#if defined(__x86_64__)
#define PLATFORM "linux/amd64"
#elif defined(__aarch64__)
#define PLATFORM "linux/arm64"
#elif defined(__arm__)
#define PLATFORM "linux/arm"
#else
#define PLATFORM "linux/unknown"
#endif

void apiserver__respond_status_ex(apiserver_conn_t *c, int code, const char *reason,
                                  const char *message, const char *details_json,
                                  const char *extra_headers)
{
    util_buf_t b = {0};
    util_buf_puts(&b, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                      "\"status\":\"Failure\",\"message\":");
    util_buf_json_string(&b, message, strlen(message));
    util_buf_printf(&b, ",\"reason\":\"%s\",\"details\":%s,\"code\":%d}", reason,
                    details_json ? details_json : "{}", code);
    apiserver__respond(c, code, "application/json", b.data, b.len, extra_headers);
    util_buf_free(&b);
}

void apiserver__respond_status(apiserver_conn_t *c, int code, const char *reason,
                               const char *message)
{
    apiserver__respond_status_ex(c, code, reason, message, NULL, NULL);
}

static bool query_has(const char *query, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = query; p && *p;) {
        if (!strncmp(p, name, n) && (p[n] == '\0' || p[n] == '&' || p[n] == '='))
            return true;
        p = strchr(p, '&');
        if (p)
            p++;
    }
    return false;
}

/* /healthz, /livez, /readyz: "ok", or with ?verbose one line per check. */
static void health(apiserver_conn_t *c, const char *which)
{
    apiserver_t *a = c->srv;
    bool store_ok = a->opts.store == NULL || store_current_rev(a->opts.store) >= 0;
    if (!query_has(c->req.query, "verbose")) {
        if (store_ok)
            apiserver__respond(c, 200, "text/plain; charset=utf-8", "ok", 2, NULL);
        else
            apiserver__respond(c, 500, "text/plain; charset=utf-8", "store failed", 12, NULL);
        return;
    }
    util_buf_t b = {0};
    util_buf_printf(&b, "[+]ping ok\n[%c]store %s\n%s check %s\n", store_ok ? '+' : '-',
                    store_ok ? "ok" : "failed", which, store_ok ? "passed" : "failed");
    apiserver__respond(c, store_ok ? 200 : 500, "text/plain; charset=utf-8", b.data, b.len, NULL);
    util_buf_free(&b);
}

static void version(apiserver_conn_t *c)
{
    const apiserver_opts_t *o = &c->srv->opts;
    util_buf_t b = {0};
    util_buf_printf(&b, "{\"major\":\"%s\",\"minor\":\"%s\",\"gitVersion\":\"%s\",\"gitCommit\":",
                    APISERVER_KUBE_MAJOR, APISERVER_KUBE_MINOR, APISERVER_KUBE_GIT_VERSION);
    const char *commit = o->build_commit ? o->build_commit : "unknown";
    const char *date = o->build_date ? o->build_date : "unknown";
    util_buf_json_string(&b, commit, strlen(commit));
    util_buf_puts(&b, ",\"gitTreeState\":\"clean\",\"buildDate\":");
    util_buf_json_string(&b, date, strlen(date));
    util_buf_puts(
        &b, ",\"goVersion\":\"none (kubeling is C)\",\"compiler\":\"gcc\",\"platform\":\"" PLATFORM
            "\"}");
    apiserver__respond(c, 200, "application/json", b.data, b.len, NULL);
    util_buf_free(&b);
}

static const char *r_path(apiserver_conn_t *c)
{
    return c->req.path;
}

/* The address this connection reached, for APIVersions.serverAddressByClientCIDRs. */
static void local_address(apiserver_conn_t *c, char *out, size_t n)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[64] = "127.0.0.1";
    int port = c->srv->port;
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
            snprintf(out, n, "[%s]:%d", ip, port);
            return;
        }
        uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
    }
    snprintf(out, n, "%s:%d", ip, port);
}

/* /api, /apis, /api/v1, /apis/<group>, /apis/<group>/<version>: true when answered. */
static bool discovery(apiserver_conn_t *c, bool read)
{
    const char *p = c->req.path;
    char group[128] = "", version[64] = "";
    enum { NONE, API, APIS, CORE_LIST, GROUP, GROUP_LIST } kind = NONE;
    if (!strcmp(p, "/api") || !strcmp(p, "/api/"))
        kind = API;
    else if (!strcmp(p, "/apis") || !strcmp(p, "/apis/"))
        kind = APIS;
    else if (!strncmp(p, "/api/", 5) && !strchr(p + 5, '/')) {
        kind = CORE_LIST;
        util_strlcpy(version, p + 5, sizeof(version));
    } else if (!strncmp(p, "/apis/", 6)) {
        const char *g = p + 6, *slash = strchr(g, '/');
        if (!slash) {
            kind = GROUP;
            util_strlcpy(group, g, sizeof(group));
        } else if (!strchr(slash + 1, '/') && slash[1]) {
            kind = GROUP_LIST;
            if ((size_t)(slash - g) < sizeof(group)) {
                memcpy(group, g, (size_t)(slash - g));
                group[slash - g] = '\0';
            }
            util_strlcpy(version, slash + 1, sizeof(version));
        }
    }
    if (kind == NONE)
        return false;
    if (!read) {
        apiserver__respond_status(c, 405, "MethodNotAllowed",
                                  "the server does not allow this method on the requested "
                                  "resource");
        return true;
    }
    util_buf_t b = {0};
    const char *ctype = "application/json";
    int r = 0;
    if (kind == API || kind == APIS) {
        apiserver_discovery_format_t f =
            apiserver_discovery_negotiate(apiserver__header(&c->req, "accept"));
        ctype = apiserver_discovery_content_type(f);
        if (kind == API) {
            char addr[96];
            local_address(c, addr, sizeof(addr));
            apiserver_discovery_api(&b, f, addr);
        } else {
            apiserver_discovery_apis(&b, f);
        }
    } else if (kind == CORE_LIST) {
        r = apiserver_discovery_resource_list(&b, "", version);
    } else if (kind == GROUP) {
        r = apiserver_discovery_group(&b, group);
    } else {
        r = apiserver_discovery_resource_list(&b, group, version);
    }
    if (r < 0)
        apiserver__respond_status(c, 404, "NotFound",
                                  "the server could not find the requested resource");
    else
        apiserver__respond(c, 200, ctype, b.data, b.len, "Vary: Accept\r\n");
    util_buf_free(&b);
    return true;
}

typedef struct public_route {
    const char *path;
    void (*handle)(apiserver_conn_t *c, const char *which);
    const char *which;
} public_route_t;

static void version_route(apiserver_conn_t *c, const char *which)
{
    (void)which;
    version(c);
}

/* Paths anonymous clients may read (upstream's system:public-info-viewer). */
static const public_route_t public_routes[] = {
    {"/healthz", health, "healthz"},
    {"/livez", health, "livez"},
    {"/readyz", health, "readyz"},
    {"/version", version_route, NULL},
};

void apiserver__dispatch(apiserver_conn_t *c)
{
    apiserver_request_t *r = &c->req;
    bool read = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
    for (size_t i = 0; i < sizeof(public_routes) / sizeof(public_routes[0]); i++) {
        const public_route_t *p = &public_routes[i];
        size_t n = strlen(p->path);
        if (strncmp(r->path, p->path, n) || (r->path[n] != '\0' && r->path[n] != '/'))
            continue;
        if (!read) {
            apiserver__respond_status(c, 405, "MethodNotAllowed",
                                      "the server does not allow this method on the requested "
                                      "resource");
            return;
        }
        p->handle(c, p->which);
        return;
    }
    /* Client certificates first (upstream's union authenticator order), then bearer tokens. */
    const char *auth = apiserver__header(r, "authorization");
    if (!c->user.name && (!auth || strncasecmp(auth, "Bearer ", 7) ||
                          apiserver_token_authenticate(c, auth + 7, &r->token_user) < 0)) {
        apiserver__respond_status(c, 401, "Unauthorized", "Unauthorized");
        return;
    }
    if (!strcmp(c->req.path, "/metrics")) {
        if (!read) {
            apiserver__respond_status(c, 405, "MethodNotAllowed",
                                      "the server does not allow this method on the requested "
                                      "resource");
            return;
        }
        util_buf_t b = {0};
        apiserver_metrics_render(c->srv->metrics, c->srv->opts.store, c->srv->inflight,
                                 c->srv->nconns, &b);
        apiserver__respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, NULL);
        util_buf_free(&b);
        return;
    }
    if (discovery(c, read) || apiserver__openapi(c, read))
        return;
    apiserver_target_t t;
    if (apiserver_registry_parse(r_path(c), &t) > 0) {
        apiserver_registry_handle(c, &t);
        return;
    }
    apiserver__respond_status(c, 404, "NotFound",
                              "the server could not find the requested resource");
}
