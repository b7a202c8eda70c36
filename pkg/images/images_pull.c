/* images_pull: images from OCI registries (distribution API v2): manifests and indexes
 * (this machine's platform), blobs verified by digest, bearer-token and basic auth. The
 * layers then go through the same verification and unpacking as imports. */
#include "images_archive.h"
#include "images_http.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/base64.h>

#define MANIFEST_MAX (4 << 20)
#define CONFIG_MAX   (16 << 20)
#define MAX_REDIRECT 5

#define ACCEPT_MANIFESTS                                          \
    "Accept: application/vnd.oci.image.index.v1+json, "           \
    "application/vnd.docker.distribution.manifest.list.v2+json, " \
    "application/vnd.oci.image.manifest.v1+json, "                \
    "application/vnd.docker.distribution.manifest.v2+json"

typedef struct pull {
    images_import_t im;
    const images_pull_opts_t *o;
    images_ref_t ref;
    const images_endpoint_t *ep; /* the mirror or registry being tried */
    const char *username, *password;
    char *base;      /* "https://host/v2/<path>" */
    char *auth;      /* "Authorization: ..." once known */
    bool up_to_date; /* the local image came from the manifest the registry names */
} pull_t;

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void url_encode(util_buf_t *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~", c))
            util_buf_append(b, s, 1);
        else
            util_buf_printf(b, "%%%02X", c);
    }
}

/* ---- errors ------------------------------------------------------------------------------ */

/* The registry's own words: {"errors":[{"code":"MANIFEST_UNKNOWN","message":"..."}]}. */
static int registry_error(const images_http_resp_t *resp, const char *what, util_error_t *err)
{
    int e = resp->status == 404                          ? ENOENT
            : resp->status == 401 || resp->status == 403 ? EACCES
                                                         : EIO;
    cJSON *doc = cJSON_ParseWithLength(resp->body.data ? resp->body.data : "", resp->body.len);
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "errors"), 0);
    int r;
    if (jstr(first, "message"))
        r = util_error_make(err, e, "%s: %s (%s, HTTP %d)", what, jstr(first, "message"),
                            jstr(first, "code") ? jstr(first, "code") : "?", resp->status);
    else
        r = util_error_make(err, e, "%s: HTTP %d", what, resp->status);
    cJSON_Delete(doc);
    return r;
}

/* ---- auth -------------------------------------------------------------------------------- */

/* TLS settings of the endpoint (registries.yaml), else the caller's CA file. */
static void tls_opts(const pull_t *p, images_http_req_t *req)
{
    req->ca_file = p->ep->ca_file ? p->ep->ca_file : p->o->ca_file;
    req->cert_file = p->ep->cert_file;
    req->key_file = p->ep->key_file;
    req->insecure = p->ep->insecure_skip_verify;
}

static char *basic_header(const pull_t *p)
{
    if (!p->username)
        return NULL;
    cleanup_free char *cred =
        util_strdup_printf("%s:%s", p->username, p->password ? p->password : "");
    size_t n = 0;
    mbedtls_base64_encode(NULL, 0, &n, (const unsigned char *)cred, strlen(cred));
    cleanup_free unsigned char *b64 = util_xmalloc(n + 1);
    mbedtls_base64_encode(b64, n + 1, &n, (const unsigned char *)cred, strlen(cred));
    b64[n] = '\0';
    return util_strdup_printf("Authorization: Basic %s", b64);
}

/* Bearer: GET realm?service=..&scope=.. (with basic credentials when we have them). */
static int bearer_token(pull_t *p, const char *challenge, util_error_t *err)
{
    cleanup_free char *realm = images_http_challenge_param(challenge, "realm");
    cleanup_free char *service = images_http_challenge_param(challenge, "service");
    cleanup_free char *scope = images_http_challenge_param(challenge, "scope");
    if (!realm)
        return util_error_make(err, EPROTO, "bearer challenge without a realm");
    util_buf_t url = {0};
    util_buf_puts(&url, realm);
    util_buf_puts(&url, strchr(realm, '?') ? "&" : "?");
    if (service) {
        util_buf_puts(&url, "service=");
        url_encode(&url, service);
        util_buf_puts(&url, "&");
    }
    util_buf_puts(&url, "scope=");
    cleanup_free char *def = util_strdup_printf("repository:%s:pull", p->ep->path);
    url_encode(&url, scope ? scope : def);
    cleanup_free char *basic = basic_header(p);
    const char *headers[] = {basic, NULL};
    images_http_req_t req = {
        .url = url.data, .headers = headers, .body_fd = -1, .max_body = 1 << 20};
    tls_opts(p, &req);
    images_http_resp_t resp;
    int r = images_http_get(&req, &resp, err);
    util_buf_free(&url);
    if (r < 0)
        return util_error_wrap(err, "token");
    if (resp.status != 200) {
        r = registry_error(&resp, "token", err);
        images_http_resp_free(&resp);
        return r;
    }
    cJSON *doc = cJSON_ParseWithLength(resp.body.data, resp.body.len);
    const char *tok = jstr(doc, "token") ? jstr(doc, "token") : jstr(doc, "access_token");
    if (tok) {
        free(p->auth);
        p->auth = util_strdup_printf("Authorization: Bearer %s", tok);
    } else {
        r = util_error_make(err, EPROTO, "token response without a token");
    }
    cJSON_Delete(doc);
    images_http_resp_free(&resp);
    return r;
}

static int authenticate(pull_t *p, const char *challenge, util_error_t *err)
{
    if (!strncasecmp(challenge, "Bearer ", 7))
        return bearer_token(p, challenge, err);
    if (!strncasecmp(challenge, "Basic ", 6) && p->username) {
        free(p->auth);
        p->auth = basic_header(p);
        return 0;
    }
    return util_error_make(err, EACCES, "registry wants credentials (%.60s)", challenge);
}

/* ---- requests ------------------------------------------------------------------------------ */

/* GET base+suffix: authenticates once on a 401, follows redirects (dropping credentials
 * when the host changes, as blob storage redirects go elsewhere). */
static int registry_get(pull_t *p, const char *suffix, const char *accept, int body_fd,
                        uint64_t max, images_http_resp_t *resp, util_error_t *err)
{
    cleanup_free char *url = util_strdup_printf("%s%s", p->base, suffix);
    bool authed = false, same_host = true;
    for (int hop = 0; hop <= MAX_REDIRECT;) {
        const char *headers[] = {accept, same_host ? p->auth : NULL, NULL};
        if (!accept)
            headers[0] = headers[1], headers[1] = NULL;
        images_http_req_t req = {
            .url = url, .headers = headers, .body_fd = body_fd, .max_body = max};
        tls_opts(p, &req);
        int r = images_http_get(&req, resp, err);
        if (r < 0)
            return r;
        /* A Basic challenge without credentials: the registry's own 401 is the answer. */
        bool basic_only = resp->www_authenticate &&
                          !strncasecmp(resp->www_authenticate, "Basic ", 6) && !p->username;
        if (resp->status == 401 && !authed && resp->www_authenticate && same_host && !basic_only) {
            authed = true;
            r = authenticate(p, resp->www_authenticate, err);
            images_http_resp_free(resp);
            if (r < 0)
                return r;
            continue;
        }
        if (resp->status / 100 == 3 && resp->location) {
            size_t olen = (size_t)(strstr(p->base, "/v2/") - p->base); /* scheme://host[:port] */
            char *next = resp->location[0] == '/'
                             ? util_strdup_printf("%.*s%s", (int)olen, p->base, resp->location)
                             : util_xstrdup(resp->location);
            free(url);
            url = next;
            /* Credentials go only to the registry itself, never to a host that merely starts
             * with its name. */
            same_host = same_host && !strncmp(url, p->base, olen) &&
                        (url[olen] == '/' || url[olen] == '?' || url[olen] == '\0');
            images_http_resp_free(resp);
            hop++;
            continue;
        }
        if (resp->status / 100 != 2) {
            r = registry_error(resp, suffix + 1, err);
            images_http_resp_free(resp);
            return r;
        }
        return 0;
    }
    return util_error_make(err, ELOOP, "too many redirects for %s", suffix);
}

/* A manifest or index by tag or digest, checked against the digest when one is known. */
static int get_manifest(pull_t *p, const char *reference, const char *want_digest, char **ret,
                        size_t *ret_len, char ret_digest[IMAGES_DIGEST_LEN + 1], util_error_t *err)
{
    cleanup_free char *suffix = util_strdup_printf("/manifests/%s", reference);
    images_http_resp_t resp;
    int r = registry_get(p, suffix, ACCEPT_MANIFESTS, -1, MANIFEST_MAX, &resp, err);
    if (r < 0)
        return r;
    images_sha256_digest(resp.body.data ? resp.body.data : "", resp.body.len, ret_digest);
    if (want_digest && strcmp(ret_digest, want_digest)) {
        images_http_resp_free(&resp);
        return util_error_make(err, EINVAL, "manifest digest mismatch: has %s, want %s", ret_digest,
                               want_digest);
    }
    *ret_len = resp.body.len;
    *ret = util_buf_steal(&resp.body);
    images_http_resp_free(&resp);
    return 0;
}

static int get_config(pull_t *p, const cJSON *desc, char **ret, size_t *ret_len, util_error_t *err)
{
    const char *digest = jstr(desc, "digest");
    if (!images_digest_valid(digest))
        return util_error_make(err, EINVAL, "manifest: config without a sha256 digest");
    cleanup_free char *suffix = util_strdup_printf("/blobs/%s", digest);
    images_http_resp_t resp;
    int r = registry_get(p, suffix, NULL, -1, CONFIG_MAX, &resp, err);
    if (r < 0)
        return r;
    *ret_len = resp.body.len;
    *ret = util_buf_steal(&resp.body);
    images_http_resp_free(&resp);
    if (!*ret)
        *ret = util_xstrdup("");
    return 0;
}

/* Downloads a layer blob into the work dir (unless the layer is already unpacked). */
static int get_layer(pull_t *p, const cJSON *desc, const char *diff_id, size_t i,
                     images_member_t *m, util_error_t *err)
{
    const char *digest = jstr(desc, "digest");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(desc, "size");
    if (!images_digest_valid(digest) || !cJSON_IsNumber(size) || size->valuedouble < 0)
        return util_error_make(err, EINVAL, "layer %zu: descriptor without digest and size", i);
    *m = (images_member_t){.fd = -1, .size = (uint64_t)size->valuedouble};
    char path[PATH_MAX];
    if (images_layer_path(p->im.s, diff_id, path, sizeof(path), err) == 0 &&
        access(path, F_OK) == 0)
        return 0;
    if (util_snprintf(path, sizeof(path), "%s/blob-%zu", p->im.work, i) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long");
    m->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (m->fd < 0)
        return util_error_make(err, errno, "create `%s`", path);
    cleanup_free char *suffix = util_strdup_printf("/blobs/%s", digest);
    images_http_resp_t resp;
    int r = registry_get(p, suffix, NULL, m->fd, p->im.s->limits.max_layer_bytes, &resp, err);
    if (r < 0)
        return r;
    uint64_t got = resp.body_len;
    images_http_resp_free(&resp);
    if (got != m->size)
        return util_error_make(err, EINVAL, "layer %zu: %llu bytes, descriptor says %llu", i,
                               (unsigned long long)got, (unsigned long long)m->size);
    return 0;
}

/* ---- the pull ------------------------------------------------------------------------------ */

static int pull_manifest(pull_t *p, const cJSON *manifest, const char *top_digest,
                         util_error_t *err)
{
    cleanup_free char *config = NULL;
    size_t config_len = 0;
    const cJSON *cdesc = cJSON_GetObjectItemCaseSensitive(manifest, "config");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(manifest, "layers");
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) > 256)
        return util_error_make(err, EINVAL, "manifest without a layer list");
    int r = get_config(p, cdesc, &config, &config_len, err);
    images_config_t cfg = {0};
    util_strv_t diff_ids = {0};
    if (r == 0)
        r = images_config_parse(config, config_len, &cfg, &diff_ids, err);
    images_config_clear(&cfg);
    size_t n = (size_t)cJSON_GetArraySize(layers);
    if (r == 0 && diff_ids.n != n)
        r = util_error_make(err, EINVAL, "manifest has %zu layers, config %zu diffIDs", n,
                            diff_ids.n);
    images_member_t members[256];
    const images_member_t *mp[256];
    const char *digests[256];
    size_t got = 0;
    for (; r == 0 && got < n; got++) {
        const cJSON *l = cJSON_GetArrayItem(layers, (int)got);
        members[got] = (images_member_t){.fd = -1};
        r = get_layer(p, l, diff_ids.v[got], got, &members[got], err);
        mp[got] = &members[got];
        digests[got] = jstr(l, "digest");
    }
    if (r == 0) {
        cJSON *names = cJSON_CreateArray();
        cleanup_free char *name = images_ref_string(&p->ref);
        cJSON_AddItemToArray(names, cJSON_CreateString(name));
        r = images__import_image(&p->im, config, config_len, jstr(cdesc, "digest"), mp, digests, n,
                                 top_digest, names, err);
    }
    for (size_t i = 0; i < got; i++)
        if (members[i].fd >= 0)
            close(members[i].fd);
    util_strv_clear(&diff_ids);
    return r;
}

static int pull_locked(pull_t *p, util_error_t *err)
{
    cleanup_free char *text = NULL;
    size_t len = 0;
    char top[IMAGES_DIGEST_LEN + 1], child[IMAGES_DIGEST_LEN + 1];
    const char *reference = p->ref.digest ? p->ref.digest : p->ref.tag;
    int r = get_manifest(p, reference, p->ref.digest, &text, &len, top, err);
    if (r < 0)
        return r;
    /* imagePullPolicy Always: the image this name holds came from this manifest already */
    cleanup_free char *name = images_ref_string(&p->ref);
    r = images__current_check(p->im.s, name, top, NULL, err);
    if (r != 0) {
        p->up_to_date = r > 0;
        return r < 0 ? r : 0;
    }
    cJSON *doc = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(doc))
        r = util_error_make(err, EINVAL, "manifest is not a JSON object");
    if (r == 0)
        r = images__blob_put(p->im.s, top, text, len, err);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "manifests");
    if (r == 0 && cJSON_IsArray(list)) {
        const cJSON *m, *pick = NULL;
        cJSON_ArrayForEach(m, list)
        {
            if (!pick && cJSON_GetObjectItemCaseSensitive(m, "platform") &&
                images__platform_matches(m))
                pick = m;
        }
        cleanup_free char *sub = NULL;
        if (!pick || !images_digest_valid(jstr(pick, "digest")))
            r = util_error_make(err, ENOENT, "no manifest for linux/%s in the index",
                                images_platform_arch());
        if (r == 0)
            r = get_manifest(p, jstr(pick, "digest"), jstr(pick, "digest"), &sub, &len, child, err);
        cJSON_Delete(doc);
        doc = r == 0 ? cJSON_ParseWithLength(sub, len) : NULL;
        if (r == 0 && !cJSON_IsObject(doc))
            r = util_error_make(err, EINVAL, "manifest is not a JSON object");
    }
    if (r == 0)
        r = pull_manifest(p, doc, top, err);
    cJSON_Delete(doc);
    if (r == 0)
        r = images__import_commit(&p->im, NULL, err);
    return r;
}

/* Tries one endpoint: a fresh work dir and record list, so a failed mirror leaves nothing
 * behind for the next. */
static int pull_endpoint(pull_t *p, const images_endpoint_t *ep, util_error_t *err)
{
    p->ep = ep;
    /* registries.yaml credentials for this host win over the pull secret's */
    p->username = ep->username ? ep->username : p->o->username;
    p->password = ep->username ? ep->password : p->o->password;
    free(p->base);
    free(p->auth);
    p->auth = NULL;
    p->base = util_strdup_printf("%s/%s", ep->base, ep->path);
    cJSON_Delete(p->im.records);
    p->im.records = cJSON_CreateArray();
    int r = images__tmpdir(p->im.s, p->im.work, sizeof(p->im.work), err);
    if (r == 0)
        r = pull_locked(p, err);
    if (p->im.work[0])
        images_remove_tree(AT_FDCWD, p->im.work, NULL);
    p->im.work[0] = '\0';
    return r;
}

int images_pull(images_store_t *s, const char *ref, const images_pull_opts_t *opts,
                images_progress_fn progress, void *userdata, char **ret_id, util_error_t *err)
{
    static const images_pull_opts_t none = {0};
    pull_t p = {.o = opts ? opts : &none};
    p.im = (images_import_t){.s = s, .progress = progress, .ud = userdata, .path = ref};
    p.im.a.fd = -1;
    int r = images_ref_parse(ref, &p.ref, err);
    if (r < 0)
        return r;
    images_endpoint_t *eps = NULL;
    size_t neps = 0;
    r = images_registries_endpoints(p.o->registries, &p.ref, p.o->plain_http, &eps, &neps, err);
    bool locked = false;
    if (r == 0) {
        r = images__lock(s, err);
        locked = r == 0;
    }
    if (r == 0)
        r = images__sweep_tmp(s, err);
    util_buf_t mirror_errs = {0};
    for (size_t i = 0; r == 0 && i < neps; i++) {
        r = pull_endpoint(&p, &eps[i], err);
        if (r < 0 && i + 1 < neps) { /* the next mirror, or the registry itself */
            const char *msg = *err && (*err)->msg ? (*err)->msg : "failed";
            util_log_info("images: pull %s from mirror %s: %s", ref, eps[i].host, msg);
            util_buf_printf(&mirror_errs, "%s%s: %s", mirror_errs.len ? "; " : "", eps[i].host,
                            msg);
            util_error_free(err);
            r = 0;
            continue;
        }
        break;
    }
    if (r < 0 && mirror_errs.len) { /* the registry's error, and what the mirrors said */
        cleanup_free char *msg = util_xstrdup(*err && (*err)->msg ? (*err)->msg : "failed");
        r = util_error_make(err, -r, "%s (mirrors: %s)", msg, mirror_errs.data);
    }
    util_buf_free(&mirror_errs);
    if (locked)
        images__unlock(s);
    if (p.o->ret_up_to_date)
        *p.o->ret_up_to_date = r == 0 && p.up_to_date;
    if (r == 0 && ret_id) {
        images_image_t *img = NULL;
        cleanup_free char *name = images_ref_string(&p.ref);
        r = images_get(s, name, &img, err);
        if (r == 0) {
            *ret_id = img->id;
            img->id = NULL;
        }
        images_image_free(img);
    }
    if (r < 0)
        util_error_wrap(err, "pull %s", ref);
    images_endpoints_free(eps, neps);
    cJSON_Delete(p.im.records);
    images_ref_free(&p.ref);
    free(p.base);
    free(p.auth);
    return r;
}
