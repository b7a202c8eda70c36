/* images_auth: registry credentials from image pull secrets (.dockerconfigjson and .dockercfg
 * payloads), matched against an image repository as upstream's credentialprovider keyring
 * does (pkg/credentialprovider/keyring.go): host labels as globs, exact port, path prefix, most
 * specific entry first, and Docker Hub's "index.docker.io" entries for docker.io images. */
#include "images_internal.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>

#define AUTH_MAX_ENTRIES 1024
#define AUTH_KEY_MAX     1024

struct images_keyring_entry {
    char *key; /* "host[:port][/path]" */
    images_cred_t cred;
};

/* ---- schemeless URLs ----------------------------------------------------------------------- */

typedef struct surl {
    char host[AUTH_KEY_MAX]; /* without the port */
    char port[16];
    const char *path; /* points into the input: "" or "/..." */
} surl_t;

/* Go's url.Parse("https://" + s) reduced to what matching uses, then net.SplitHostPort. */
static bool surl_parse(const char *s, surl_t *u)
{
    size_t hl = strcspn(s, "/?#");
    if (hl >= sizeof(u->host))
        return false;
    char hp[AUTH_KEY_MAX];
    memcpy(hp, s, hl);
    hp[hl] = '\0';
    u->path = s[hl] == '/' ? s + hl : "";
    u->port[0] = '\0';
    const char *colon = strrchr(hp, ':');
    if (hp[0] == '[') { /* "[v6]:port" */
        const char *close = strchr(hp, ']');
        if (close && close[1] == ':' && strlen(close + 2) < sizeof(u->port)) {
            util_snprintf(u->host, sizeof(u->host), "%.*s", (int)(close - hp - 1), hp + 1);
            util_snprintf(u->port, sizeof(u->port), "%s", close + 2);
            return true;
        }
    } else if (colon && colon == strchr(hp, ':') && strlen(colon + 1) < sizeof(u->port)) {
        util_snprintf(u->host, sizeof(u->host), "%.*s", (int)(colon - hp), hp);
        util_snprintf(u->port, sizeof(u->port), "%s", colon + 1);
        return true;
    }
    util_snprintf(u->host, sizeof(u->host), "%s", hp); /* SplitHostPort failed: all host */
    return true;
}

bool images_url_glob_match(const char *glob, const char *target)
{
    surl_t g, t;
    if (!surl_parse(glob, &g) || !surl_parse(target, &t))
        return false;
    if (strcmp(g.port, t.port) || strncmp(t.path, g.path, strlen(g.path)))
        return false;
    char *gs = g.host, *ts = t.host;
    for (;;) { /* label by label: the same count, each a glob */
        char *gd = strchr(gs, '.'), *td = strchr(ts, '.');
        if (!gd != !td)
            return false;
        if (gd)
            *gd = '\0';
        if (td)
            *td = '\0';
        if (fnmatch(gs, ts, 0) != 0)
            return false;
        if (!gd)
            return true;
        gs = gd + 1;
        ts = td + 1;
    }
}

/* ---- parsing -------------------------------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The key an entry is indexed by: the scheme and a leading /v1/ or /v2/ dropped. */
static char *entry_key(const char *loc)
{
    if (!strncmp(loc, "https://", 8))
        loc += 8;
    else if (!strncmp(loc, "http://", 7))
        loc += 7;
    size_t hl = strcspn(loc, "/?#");
    const char *path = loc[hl] == '/' ? loc + hl : "";
    size_t pl = strcspn(path, "?#");
    if (!strncmp(path, "/v2/", 4) || !strncmp(path, "/v1/", 4)) {
        path += 3;
        pl -= 3;
    }
    if (pl == 0 || (pl == 1 && path[0] == '/'))
        pl = 0;
    return util_strdup_printf("%.*s%.*s", (int)hl, loc, (int)pl, path);
}

/* "auth": base64 of "user:password" (upstream's decodeDockerConfigFieldAuth). */
static int decode_auth(const char *loc, const char *auth, char **user, char **pass,
                       util_error_t *err)
{
    size_t n = 0, len = strlen(auth);
    cleanup_free unsigned char *buf = util_xmalloc(len + 1);
    if (mbedtls_base64_decode(buf, len + 1, &n, (const unsigned char *)auth, len) != 0)
        return util_error_make(err, EINVAL, "%s: auth: illegal base64 data", loc);
    buf[n] = '\0';
    char *colon = memchr(buf, ':', n);
    if (!colon || memchr(buf, '\0', n))
        return util_error_make(err, EINVAL,
                               "%s: unable to parse auth field, must be formatted as "
                               "base64(username:password)",
                               loc);
    *colon = '\0';
    *user = util_xstrdup((char *)buf);
    *pass = util_xstrdup(colon + 1);
    return 0;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct images_keyring_entry *x = a, *y = b;
    return -strcmp(x->key, y->key); /* reverse: "host/a/b" before "host/a" before "host" */
}

int images_keyring_add(images_keyring_t *kr, const char *json, size_t len, bool dockercfg,
                       util_error_t *err)
{
    cJSON *doc = cJSON_ParseWithLength(json ? json : "", len);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return util_error_make(err, EINVAL, "%s is not a JSON object",
                               dockercfg ? ".dockercfg" : ".dockerconfigjson");
    }
    const cJSON *auths = dockercfg ? doc : cJSON_GetObjectItemCaseSensitive(doc, "auths");
    if (auths && !cJSON_IsObject(auths)) {
        cJSON_Delete(doc);
        return util_error_make(err, EINVAL, ".dockerconfigjson: auths is not an object");
    }
    size_t n0 = kr->n, count = (size_t)cJSON_GetArraySize(auths);
    int r = 0;
    if (kr->n + count > AUTH_MAX_ENTRIES)
        r = util_error_make(err, E2BIG, "more than %d registry credentials", AUTH_MAX_ENTRIES);
    else if (count)
        kr->v = util_xrealloc(kr->v, (kr->n + count) * sizeof(*kr->v));
    const cJSON *e;
    const cJSON *list1 = r == 0 ? auths : NULL;
    cJSON_ArrayForEach(e, list1)
    {
        const char *loc = e->string, *auth = jstr(e, "auth");
        if (!cJSON_IsObject(e) || !loc || strlen(loc) >= AUTH_KEY_MAX) {
            r = util_error_make(err, EINVAL, "registry credentials: a bad entry");
            break;
        }
        char *user = NULL, *pass = NULL;
        if (auth && *auth) {
            if ((r = decode_auth(loc, auth, &user, &pass, err)) < 0)
                break;
        } else {
            user = util_xstrdup(jstr(e, "username") ? jstr(e, "username") : "");
            pass = util_xstrdup(jstr(e, "password") ? jstr(e, "password") : "");
        }
        kr->v[kr->n++] = (struct images_keyring_entry){entry_key(loc), {user, pass}};
    }
    cJSON_Delete(doc);
    if (r < 0) { /* nothing of a bad payload stays */
        while (kr->n > n0) {
            struct images_keyring_entry *x = &kr->v[--kr->n];
            free(x->key);
            free(x->cred.username);
            free(x->cred.password);
        }
        return r;
    }
    /* stable: equal keys keep the order they were added in */
    for (size_t i = 1; i < kr->n; i++)
        for (size_t j = i; j > 0 && entry_cmp(&kr->v[j - 1], &kr->v[j]) > 0; j--) {
            struct images_keyring_entry t = kr->v[j];
            kr->v[j] = kr->v[j - 1];
            kr->v[j - 1] = t;
        }
    return 0;
}

/* upstream's isDefaultRegistryMatch: would this repository be pulled from Docker Hub? */
static bool default_registry(const char *repo)
{
    const char *slash = strchr(repo, '/');
    if (!*repo || repo[0] == '/')
        return false;
    if (!slash)
        return true;
    size_t l = (size_t)(slash - repo);
    if ((l == 9 && !strncmp(repo, "docker.io", 9)) ||
        (l == 15 && !strncmp(repo, "index.docker.io", 15)))
        return true;
    return !memchr(repo, '.', l) && !memchr(repo, ':', l);
}

void images_keyring_lookup(const images_keyring_t *kr, const char *repository,
                           const images_cred_t ***ret, size_t *ret_n)
{
    *ret = NULL;
    *ret_n = 0;
    if (!kr->n)
        return;
    const images_cred_t **out = util_xcalloc(kr->n, sizeof(*out));
    size_t n = 0;
    for (size_t i = 0; i < kr->n; i++)
        if (images_url_glob_match(kr->v[i].key, repository))
            out[n++] = &kr->v[i].cred;
    if (n == 0 && default_registry(repository))
        for (size_t i = 0; i < kr->n; i++)
            if (!strcmp(kr->v[i].key, "index.docker.io"))
                out[n++] = &kr->v[i].cred;
    if (n == 0) {
        free(out);
        return;
    }
    *ret = out;
    *ret_n = n;
}

void images_keyring_clear(images_keyring_t *kr)
{
    for (size_t i = 0; i < kr->n; i++) {
        free(kr->v[i].key);
        free(kr->v[i].cred.username);
        free(kr->v[i].cred.password);
    }
    free(kr->v);
    *kr = (images_keyring_t){0};
}
