/* client_config: kubeconfig files (current context, cluster, user) and API server URLs. */
#include "client/client.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/platform_util.h>

#define CLIENT_PEM_MAX (256u << 10) /* a CA bundle, certificate or key */

static void free_secret(char *s)
{
    if (!s)
        return;
    mbedtls_platform_zeroize(s, strlen(s));
    free(s);
}

void client_config_free(client_config_t *c)
{
    if (!c)
        return;
    free(c->server);
    free(c->host);
    free(c->ca_pem);
    free(c->cert_pem);
    free_secret(c->key_pem);
    free_secret(c->token);
    *c = (client_config_t){0};
}

int client_parse_url(const char *url, char *host, size_t host_len, int *ret_port, util_error_t *err)
{
    if (!util_str_has_prefix(url, "https://"))
        return util_error_make(err, EINVAL, "server URL `%.64s` is not https://", url);
    const char *h = url + strlen("https://"), *end;
    size_t hlen;
    if (*h == '[') {
        end = strchr(h, ']');
        if (!end)
            return util_error_make(err, EINVAL, "server URL: unterminated `[`");
        h++;
        hlen = (size_t)(end - h);
        end++;
    } else {
        end = h + strcspn(h, ":/?#");
        hlen = (size_t)(end - h);
    }
    if (hlen == 0 || hlen >= host_len)
        return util_error_make(err, EINVAL, "server URL: bad host");
    for (size_t i = 0; i < hlen; i++)
        if ((unsigned char)h[i] <= ' ' || h[i] == '@' || (unsigned char)h[i] >= 0x7f)
            return util_error_make(err, EINVAL, "server URL: bad host");
    long port = 443;
    if (*end == ':') {
        char digits[8];
        size_t n = strcspn(end + 1, "/?#");
        if (n == 0 || n >= sizeof(digits))
            return util_error_make(err, EINVAL, "server URL: bad port");
        memcpy(digits, end + 1, n);
        digits[n] = '\0';
        if (util_parse_long(digits, 1, 65535, &port) < 0)
            return util_error_make(err, EINVAL, "server URL: bad port `%s`", digits);
        end += 1 + n;
    }
    if (*end && strcmp(end, "/") != 0)
        return util_error_make(err, EINVAL, "server URL: a path prefix is not supported");
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *ret_port = (int)port;
    return 0;
}

/* ---- lookups in the parsed tree --------------------------------------------------------- */

static const char *str_at(const cJSON *obj, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
    return s && *s ? s : NULL;
}

/* The `what` entry of list `key` named name: its inner object (cluster, user, context). */
static const cJSON *named(const cJSON *root, const char *key, const char *what, const char *name)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, key))
    {
        const char *n = str_at(e, "name");
        if (n && !strcmp(n, name)) {
            const cJSON *inner = cJSON_GetObjectItemCaseSensitive(e, what);
            return cJSON_IsObject(inner) ? inner : NULL;
        }
    }
    return NULL;
}

/* base64 *-data fields, decoded and NUL-terminated. */
static int decode_data(const char *b64, const char *field, char **ret, util_error_t *err)
{
    size_t len = strlen(b64), olen = 0;
    if (len > CLIENT_PEM_MAX / 3 * 4 + 4)
        return util_error_make(err, EFBIG, "kubeconfig: `%s` is too large", field);
    unsigned char *out = util_xmalloc(len / 4 * 3 + 4);
    if (mbedtls_base64_decode(out, len / 4 * 3 + 3, &olen, (const unsigned char *)b64, len) != 0) {
        mbedtls_platform_zeroize(out, len / 4 * 3 + 4);
        free(out);
        return util_error_make(err, EINVAL, "kubeconfig: `%s` is not valid base64", field);
    }
    out[olen] = '\0';
    if (memchr(out, '\0', olen)) { /* DER is not accepted: PEM text only */
        mbedtls_platform_zeroize(out, olen);
        free(out);
        return util_error_make(err, EINVAL, "kubeconfig: `%s` is not PEM text", field);
    }
    *ret = (char *)out;
    return 0;
}

static int read_ref(const char *file, const char *base_dir, const char *field, char **ret,
                    util_error_t *err)
{
    char path[PATH_MAX];
    if (file[0] != '/') {
        if (!base_dir)
            return util_error_make(err, EINVAL, "kubeconfig: relative `%s` without a directory",
                                   field);
        if (util_path_join(path, sizeof(path), base_dir, file) < 0)
            return util_error_make(err, ENAMETOOLONG, "kubeconfig: `%s` path too long", field);
    } else if (util_strlcpy(path, file, sizeof(path)) < 0) {
        return util_error_make(err, ENAMETOOLONG, "kubeconfig: `%s` path too long", field);
    }
    int r = util_read_file(path, CLIENT_PEM_MAX, ret, NULL, err);
    if (r < 0)
        return util_error_wrap(err, "kubeconfig `%s`", field);
    return 0;
}

/* data_key (base64) wins over file_key (a path), as in client-go. */
static int data_or_file(const cJSON *obj, const char *data_key, const char *file_key,
                        const char *base_dir, char **ret, util_error_t *err)
{
    const char *data = str_at(obj, data_key), *file = str_at(obj, file_key);
    if (data)
        return decode_data(data, data_key, ret, err);
    if (file)
        return read_ref(file, base_dir, file_key, ret, err);
    return 0;
}

static int fill_cluster(const cJSON *cluster, const char *base_dir, client_config_t *c,
                        util_error_t *err)
{
    const char *server = str_at(cluster, "server");
    if (!server)
        return util_error_make(err, EINVAL, "kubeconfig: the cluster has no server");
    char host[256];
    int r = client_parse_url(server, host, sizeof(host), &c->port, err);
    if (r < 0)
        return r;
    c->server = util_xstrdup(server);
    c->host = util_xstrdup(host);
    const char *insecure = str_at(cluster, "insecure-skip-tls-verify");
    c->insecure =
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cluster, "insecure-skip-tls-verify")) ||
        (insecure && !strcmp(insecure, "true"));
    r = data_or_file(cluster, "certificate-authority-data", "certificate-authority", base_dir,
                     &c->ca_pem, err);
    if (r == 0 && !c->ca_pem && !c->insecure)
        r = util_error_make(err, EINVAL, "kubeconfig: the cluster has no certificate authority");
    return r;
}

static int fill_user(const cJSON *user, const char *base_dir, client_config_t *c, util_error_t *err)
{
    int r = data_or_file(user, "client-certificate-data", "client-certificate", base_dir,
                         &c->cert_pem, err);
    if (r == 0)
        r = data_or_file(user, "client-key-data", "client-key", base_dir, &c->key_pem, err);
    if (r == 0 && !c->cert_pem != !c->key_pem)
        r = util_error_make(err, EINVAL, "kubeconfig: a client certificate needs its key");
    const char *token = str_at(user, "token"), *token_file = str_at(user, "tokenFile");
    if (r == 0 && token)
        c->token = util_xstrdup(token);
    else if (r == 0 && token_file)
        r = read_ref(token_file, base_dir, "tokenFile", &c->token, err);
    if (r == 0 && c->token) {
        c->token[strcspn(c->token, "\r\n")] = '\0';
        for (const char *p = c->token; *p; p++)
            if ((unsigned char)*p < ' ' || (unsigned char)*p >= 0x7f)
                return util_error_make(err, EINVAL, "kubeconfig: the token is not printable");
    }
    return r;
}

/* current-context, else the only context; its cluster and user. */
static int fill_from_tree(const cJSON *root, const char *base_dir, client_config_t *c,
                          util_error_t *err)
{
    if (!cJSON_IsObject(root))
        return util_error_make(err, EINVAL, "kubeconfig: not a mapping");
    const char *ctx_name = str_at(root, "current-context");
    const cJSON *contexts = cJSON_GetObjectItemCaseSensitive(root, "contexts");
    if (!ctx_name && cJSON_GetArraySize(contexts) == 1)
        ctx_name = str_at(cJSON_GetArrayItem(contexts, 0), "name");
    if (!ctx_name)
        return util_error_make(err, EINVAL, "kubeconfig: no current-context");
    const cJSON *ctx = named(root, "contexts", "context", ctx_name);
    if (!ctx)
        return util_error_make(err, EINVAL, "kubeconfig: context `%.64s` not found", ctx_name);
    const char *cluster_name = str_at(ctx, "cluster"), *user_name = str_at(ctx, "user");
    const cJSON *cluster = cluster_name ? named(root, "clusters", "cluster", cluster_name) : NULL;
    if (!cluster)
        return util_error_make(err, EINVAL, "kubeconfig: cluster of context `%.64s` not found",
                               ctx_name);
    int r = fill_cluster(cluster, base_dir, c, err);
    if (r == 0 && user_name) {
        const cJSON *user = named(root, "users", "user", user_name);
        if (!user)
            return util_error_make(err, EINVAL, "kubeconfig: user `%.64s` not found", user_name);
        r = fill_user(user, base_dir, c, err);
    }
    return r;
}

int client_config_parse(const char *text, size_t len, const char *base_dir, client_config_t *ret,
                        util_error_t *err)
{
    cJSON *root = NULL;
    int r = client_yaml_parse(text, len, &root, err);
    if (r < 0)
        return util_error_wrap(err, "kubeconfig");
    client_config_t c = {0};
    r = fill_from_tree(root, base_dir, &c, err);
    cJSON_Delete(root);
    if (r < 0) {
        client_config_free(&c);
        return r;
    }
    *ret = c;
    return 0;
}

int client_config_load(const char *path, client_config_t *ret, util_error_t *err)
{
    char *text = NULL;
    size_t len = 0;
    int r = util_read_file(path, CLIENT_KUBECONFIG_MAX, &text, &len, err);
    if (r < 0)
        return r;
    char dir[PATH_MAX];
    if (util_strlcpy(dir, path, sizeof(dir)) < 0) {
        free_secret(text);
        return util_error_make(err, ENAMETOOLONG, "kubeconfig path too long");
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        strcpy(dir, ".");
    r = client_config_parse(text, len, dir, ret, err);
    mbedtls_platform_zeroize(text, len);
    free(text);
    if (r < 0)
        return util_error_wrap(err, "%s", path);
    return 0;
}
