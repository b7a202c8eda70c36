/* images_registries: k3s's registries.yaml: mirrors tried before a registry (with optional
 * repository rewrites) and per-host credentials and TLS settings. The document arrives as
 * cJSON (the YAML is decoded by the caller); every value is checked here. */
#include "images_internal.h"

#include "client/client.h"

#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>

#define MAX_MIRRORS   256
#define MAX_ENDPOINTS 64
#define MAX_REWRITES  64
#define MAX_CONFIGS   256
#define MAX_STR       4096

typedef struct rewrite {
    char *pattern, *replace;
    regex_t re;
} rewrite_t;

typedef struct mirror {
    char *name;
    util_strv_t endpoints; /* "scheme://host[:port]/root" without a trailing '/' */
    rewrite_t *rw;
    size_t nrw;
} mirror_t;

typedef struct rconfig {
    char *host;
    char *username, *password;
    char *ca_file, *cert_file, *key_file;
    bool insecure;
} rconfig_t;

struct images_registries {
    mirror_t *mirrors;
    size_t nmirrors;
    rconfig_t *configs;
    size_t nconfigs;
};

/* ---- parsing --------------------------------------------------------------------------- */

static int get_str(const cJSON *o, const char *key, const char *where, char **ret,
                   util_error_t *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= MAX_STR)
        return util_error_make(err, EINVAL, "%s.%s: not a string", where, key);
    if (*v->valuestring)
        *ret = util_xstrdup(v->valuestring);
    return 0;
}

static int get_bool(const cJSON *o, const char *key, const char *where, bool *ret,
                    util_error_t *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsBool(v)) {
        *ret = cJSON_IsTrue(v);
        return 0;
    }
    if (cJSON_IsString(v) &&
        (!strcmp(v->valuestring, "true") || !strcmp(v->valuestring, "false"))) {
        *ret = !strcmp(v->valuestring, "true");
        return 0;
    }
    return util_error_make(err, EINVAL, "%s.%s: not true or false", where, key);
}

/* "https://host:port[/root]", "http://...", or a bare "host:port" (https). The API root
 * gets /v2 unless it already ends so. */
static int endpoint_norm(const char *in, const char *where, char **ret, util_error_t *err)
{
    const char *rest = in;
    const char *scheme = "https";
    if (util_str_has_prefix(in, "https://"))
        rest = in + 8;
    else if (util_str_has_prefix(in, "http://"))
        rest = in + 7, scheme = "http";
    else if (strstr(in, "://"))
        return util_error_make(err, EINVAL, "%s: endpoint `%.200s`: only http and https", where,
                               in);
    size_t hl = strcspn(rest, "/?#");
    if (hl == 0)
        return util_error_make(err, EINVAL, "%s: endpoint `%.200s` has no host", where, in);
    for (size_t i = 0; i < hl; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]_",
                    rest[i]))
            return util_error_make(err, EINVAL, "%s: endpoint `%.200s`: bad host", where, in);
    const char *path = rest + hl;
    if (strpbrk(path, "?# \t"))
        return util_error_make(err, EINVAL, "%s: endpoint `%.200s`: bad path", where, in);
    size_t pl = strlen(path);
    while (pl > 0 && path[pl - 1] == '/')
        pl--;
    bool v2 = pl >= 3 && !strncmp(path + pl - 3, "/v2", 3);
    *ret = util_strdup_printf("%s://%.*s%.*s%s", scheme, (int)hl, rest, (int)pl, path,
                              v2 ? "" : "/v2");
    return 0;
}

static void rewrite_free(rewrite_t *r)
{
    free(r->pattern);
    free(r->replace);
    regfree(&r->re);
}

static int parse_mirror(const cJSON *m, mirror_t *out, util_error_t *err)
{
    char where[300];
    util_snprintf(where, sizeof(where), "mirrors.%s", m->string);
    if (!cJSON_IsObject(m) && !cJSON_IsNull(m))
        return util_error_make(err, EINVAL, "%s: not a mapping", where);
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(m, "endpoint"), *e;
    if (eps && !cJSON_IsArray(eps) && !cJSON_IsNull(eps))
        return util_error_make(err, EINVAL, "%s.endpoint: not a list", where);
    if (cJSON_GetArraySize(eps) > MAX_ENDPOINTS)
        return util_error_make(err, E2BIG, "%s.endpoint: more than %d", where, MAX_ENDPOINTS);
    cJSON_ArrayForEach(e, eps)
    {
        char *norm = NULL;
        if (!cJSON_IsString(e) || strlen(e->valuestring) >= MAX_STR)
            return util_error_make(err, EINVAL, "%s.endpoint: not a string", where);
        if (endpoint_norm(e->valuestring, where, &norm, err) < 0)
            return -EINVAL;
        util_strv_push(&out->endpoints, norm);
        free(norm);
    }
    const cJSON *rws = cJSON_GetObjectItemCaseSensitive(m, "rewrite"), *rw;
    if (rws && !cJSON_IsObject(rws) && !cJSON_IsNull(rws))
        return util_error_make(err, EINVAL, "%s.rewrite: not a mapping", where);
    size_t n = (size_t)cJSON_GetArraySize(rws);
    if (n > MAX_REWRITES)
        return util_error_make(err, E2BIG, "%s.rewrite: more than %d", where, MAX_REWRITES);
    out->rw = n ? util_xcalloc(n, sizeof(*out->rw)) : NULL;
    cJSON_ArrayForEach(rw, rws)
    {
        if (!cJSON_IsString(rw) || strlen(rw->string) >= MAX_STR ||
            strlen(rw->valuestring) >= MAX_STR)
            return util_error_make(err, EINVAL, "%s.rewrite: not a string", where);
        rewrite_t *r = &out->rw[out->nrw];
        int rc = regcomp(&r->re, rw->string, REG_EXTENDED);
        if (rc != 0) {
            char msg[128];
            regerror(rc, &r->re, msg, sizeof(msg));
            return util_error_make(err, EINVAL, "%s.rewrite `%.200s`: %s", where, rw->string, msg);
        }
        r->pattern = util_xstrdup(rw->string);
        r->replace = util_xstrdup(rw->valuestring);
        out->nrw++;
    }
    return 0;
}

static int parse_config(const cJSON *c, rconfig_t *out, util_error_t *err)
{
    char where[300];
    util_snprintf(where, sizeof(where), "configs.%s", c->string);
    if (!cJSON_IsObject(c) && !cJSON_IsNull(c))
        return util_error_make(err, EINVAL, "%s: not a mapping", where);
    const cJSON *auth = cJSON_GetObjectItemCaseSensitive(c, "auth");
    const cJSON *tls = cJSON_GetObjectItemCaseSensitive(c, "tls");
    if ((auth && !cJSON_IsObject(auth) && !cJSON_IsNull(auth)) ||
        (tls && !cJSON_IsObject(tls) && !cJSON_IsNull(tls)))
        return util_error_make(err, EINVAL, "%s: auth and tls must be mappings", where);
    char *b64 = NULL, *identity = NULL;
    int r = get_str(auth, "username", where, &out->username, err);
    if (r == 0)
        r = get_str(auth, "password", where, &out->password, err);
    if (r == 0)
        r = get_str(auth, "auth", where, &b64, err);
    if (r == 0)
        r = get_str(auth, "identitytoken", where, &identity, err);
    if (r == 0 && identity)
        r = util_error_make(err, ENOTSUP,
                            "%s.auth.identitytoken: not supported (use username "
                            "and password)",
                            where);
    if (r == 0 && b64) { /* base64 "user:password" wins, as in containerd */
        size_t n = 0, len = strlen(b64);
        cleanup_free unsigned char *buf = util_xmalloc(len + 1);
        if (mbedtls_base64_decode(buf, len + 1, &n, (const unsigned char *)b64, len) != 0 ||
            !memchr(buf, ':', n) || memchr(buf, '\0', n)) {
            r = util_error_make(err, EINVAL, "%s.auth.auth: not base64 of user:password", where);
        } else {
            buf[n] = '\0';
            char *colon = strchr((char *)buf, ':');
            *colon = '\0';
            free(out->username);
            free(out->password);
            out->username = util_xstrdup((char *)buf);
            out->password = util_xstrdup(colon + 1);
        }
    }
    free(b64);
    free(identity);
    if (r == 0)
        r = get_str(tls, "ca_file", where, &out->ca_file, err);
    if (r == 0)
        r = get_str(tls, "cert_file", where, &out->cert_file, err);
    if (r == 0)
        r = get_str(tls, "key_file", where, &out->key_file, err);
    if (r == 0)
        r = get_bool(tls, "insecure_skip_verify", where, &out->insecure, err);
    if (r == 0 && !out->cert_file != !out->key_file)
        r = util_error_make(err, EINVAL, "%s.tls: cert_file and key_file go together", where);
    return r;
}

int images_registries_parse(const cJSON *doc, images_registries_t **ret, util_error_t *err)
{
    *ret = NULL;
    if (doc && !cJSON_IsObject(doc) && !cJSON_IsNull(doc) &&
        !(cJSON_IsString(doc) && !*doc->valuestring))
        return util_error_make(err, EINVAL, "registries: not a mapping");
    images_registries_t *rg = util_xcalloc(1, sizeof(*rg));
    const cJSON *mirrors = cJSON_GetObjectItemCaseSensitive(doc, "mirrors");
    const cJSON *configs = cJSON_GetObjectItemCaseSensitive(doc, "configs"), *e;
    int r = 0;
    const cJSON *k;
    const cJSON *top = cJSON_IsObject(doc) ? doc : NULL;
    cJSON_ArrayForEach(k, top)
    {
        if (strcmp(k->string, "mirrors") && strcmp(k->string, "configs"))
            r = util_error_make(err, EINVAL, "registries: unknown key `%.100s`", k->string);
    }
    if (r == 0 && ((mirrors && !cJSON_IsObject(mirrors) && !cJSON_IsNull(mirrors)) ||
                   (configs && !cJSON_IsObject(configs) && !cJSON_IsNull(configs))))
        r = util_error_make(err, EINVAL, "registries: mirrors and configs must be mappings");
    if (r == 0 &&
        (cJSON_GetArraySize(mirrors) > MAX_MIRRORS || cJSON_GetArraySize(configs) > MAX_CONFIGS))
        r = util_error_make(err, E2BIG, "registries: too many mirrors or configs");
    if (r == 0 && cJSON_GetArraySize(mirrors) > 0)
        rg->mirrors = util_xcalloc((size_t)cJSON_GetArraySize(mirrors), sizeof(mirror_t));
    const cJSON *list1 = r == 0 ? mirrors : NULL;
    cJSON_ArrayForEach(e, list1)
    {
        mirror_t *m = &rg->mirrors[rg->nmirrors++];
        m->name = util_xstrdup(e->string);
        if ((r = parse_mirror(e, m, err)) < 0)
            break;
    }
    if (r == 0 && cJSON_GetArraySize(configs) > 0)
        rg->configs = util_xcalloc((size_t)cJSON_GetArraySize(configs), sizeof(rconfig_t));
    const cJSON *list2 = r == 0 ? configs : NULL;
    cJSON_ArrayForEach(e, list2)
    {
        rconfig_t *c = &rg->configs[rg->nconfigs++];
        c->host = util_xstrdup(e->string);
        if ((r = parse_config(e, c, err)) < 0)
            break;
    }
    if (r < 0) {
        images_registries_free(rg);
        return util_error_wrap(err, "registries.yaml");
    }
    *ret = rg;
    return 0;
}

int images_registries_load(const char *path, bool missing_ok, images_registries_t **ret,
                           util_error_t *err)
{
    *ret = NULL;
    cleanup_free char *text = NULL;
    size_t len = 0;
    int r = util_read_file(path, 1 << 20, &text, &len, err);
    if (r == -ENOENT && missing_ok) {
        util_error_free(err);
        return 0;
    }
    if (r < 0)
        return r;
    cJSON *doc = NULL;
    r = client_yaml_parse(text, len, &doc, err);
    if (r == 0)
        r = images_registries_parse(doc, ret, err);
    cJSON_Delete(doc);
    return r < 0 ? util_error_wrap(err, "%s", path) : 0;
}

void images_registries_free(images_registries_t *rg)
{
    if (!rg)
        return;
    for (size_t i = 0; i < rg->nmirrors; i++) {
        mirror_t *m = &rg->mirrors[i];
        free(m->name);
        util_strv_clear(&m->endpoints);
        for (size_t j = 0; j < m->nrw; j++)
            rewrite_free(&m->rw[j]);
        free(m->rw);
    }
    for (size_t i = 0; i < rg->nconfigs; i++) {
        rconfig_t *c = &rg->configs[i];
        free(c->host);
        free(c->username);
        free(c->password);
        free(c->ca_file);
        free(c->cert_file);
        free(c->key_file);
    }
    free(rg->mirrors);
    free(rg->configs);
    free(rg);
}

/* ---- endpoints --------------------------------------------------------------------------- */

static const rconfig_t *config_for(const images_registries_t *rg, const char *host)
{
    for (size_t i = 0; rg && i < rg->nconfigs; i++)
        if (!strcmp(rg->configs[i].host, host))
            return &rg->configs[i];
    return NULL;
}

static const rconfig_t *config_any(const images_registries_t *rg, const char *a, const char *b)
{
    const rconfig_t *c = config_for(rg, a);
    if (!c && b)
        c = config_for(rg, b);
    return c ? c : config_for(rg, "*");
}

static const mirror_t *mirror_for(const images_registries_t *rg, const char *domain)
{
    const mirror_t *star = NULL;
    for (size_t i = 0; rg && i < rg->nmirrors; i++) {
        if (!strcmp(rg->mirrors[i].name, domain))
            return &rg->mirrors[i];
        if (!strcmp(rg->mirrors[i].name, "*"))
            star = &rg->mirrors[i];
    }
    return star;
}

static bool repo_path_ok(const char *p)
{
    if (!*p || *p == '/' || p[strlen(p) - 1] == '/' || strstr(p, "//") || strlen(p) > 255)
        return false;
    for (; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789._-/", *p))
            return false;
    return true;
}

/* Go's ReplaceAllString for the first match: $1 / ${1} expand to groups. */
static char *apply_rewrite(const rewrite_t *rw, const char *path)
{
    regmatch_t m[10];
    if (regexec(&rw->re, path, 10, m, 0) != 0)
        return NULL;
    util_buf_t b = {0};
    util_buf_append(&b, path, (size_t)m[0].rm_so);
    for (const char *s = rw->replace; *s; s++) {
        int g = -1;
        if (s[0] == '$' && s[1] >= '0' && s[1] <= '9') {
            g = s[1] - '0';
            s++;
        } else if (s[0] == '$' && s[1] == '{' && s[2] >= '0' && s[2] <= '9' && s[3] == '}') {
            g = s[2] - '0';
            s += 3;
        }
        if (g < 0)
            util_buf_append(&b, s, 1);
        else if (m[g].rm_so >= 0)
            util_buf_append(&b, path + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
    }
    util_buf_puts(&b, path + m[0].rm_eo);
    return util_buf_steal(&b);
}

static void fill(images_endpoint_t *e, const rconfig_t *c)
{
    if (!c)
        return;
    e->username = c->username;
    e->password = c->password;
    e->ca_file = c->ca_file;
    e->cert_file = c->cert_file;
    e->key_file = c->key_file;
    e->insecure_skip_verify = c->insecure;
}

int images_registries_endpoints(const images_registries_t *rg, const images_ref_t *ref,
                                bool plain_http, images_endpoint_t **ret, size_t *ret_n,
                                util_error_t *err)
{
    const mirror_t *m = mirror_for(rg, ref->domain);
    size_t n = (m ? m->endpoints.n : 0) + 1, k = 0;
    images_endpoint_t *v = util_xcalloc(n, sizeof(*v));
    for (size_t i = 0; m && i < m->endpoints.n; i++) {
        images_endpoint_t *e = &v[k];
        const char *ep = m->endpoints.v[i];
        const char *auth = strstr(ep, "://") + 3;
        e->base = util_xstrdup(ep);
        e->host = strndup(auth, strcspn(auth, "/"));
        e->is_mirror = true;
        for (size_t j = 0; j < m->nrw && !e->path; j++)
            e->path = apply_rewrite(&m->rw[j], ref->path);
        if (e->path && !repo_path_ok(e->path)) {
            int r = util_error_make(err, EINVAL, "rewrite of `%s` for %s gives `%s`", ref->path,
                                    e->host, e->path);
            images_endpoints_free(v, k + 1);
            return r;
        }
        if (!e->path)
            e->path = util_xstrdup(ref->path);
        fill(e, config_any(rg, e->host, NULL));
        k++;
    }
    /* the registry itself */
    images_endpoint_t *e = &v[k++];
    const char *api = strcmp(ref->domain, "docker.io") ? ref->domain : "registry-1.docker.io";
    e->base = util_strdup_printf("%s://%s/v2", plain_http ? "http" : "https", api);
    e->host = util_xstrdup(ref->domain);
    e->path = util_xstrdup(ref->path);
    fill(e, config_any(rg, ref->domain, strcmp(api, ref->domain) ? api : NULL));
    *ret = v;
    *ret_n = k;
    return 0;
}

void images_endpoints_free(images_endpoint_t *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].base);
        free(v[i].host);
        free(v[i].path);
    }
    free(v);
}
