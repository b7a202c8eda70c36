/* images_ref: image references parsed and normalised like upstream's
 * github.com/distribution/reference (ParseNormalizedNamed, then the kubelet's default tag). */
#include "images_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NAME_TOTAL_MAX 255 /* upstream's NameTotalLengthMax */
#define TAG_MAX        128

static bool is_alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)* */
static bool path_component_ok(const char *s, size_t len)
{
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (i < len && is_alnum_lower(s[i]))
            i++;
        if (i == start)
            return false;
        if (i == len)
            return true;
        if (s[i] == '.' || (s[i] == '_' && (i + 1 >= len || s[i + 1] != '_')))
            i++;
        else if (s[i] == '_')
            i += 2;
        else if (s[i] == '-')
            while (i < len && s[i] == '-')
                i++;
        else
            return false;
    }
}

/* domain: labels of [A-Za-z0-9-] (not starting or ending with '-') joined by '.', then an
 * optional :port. */
static bool domain_ok(const char *s)
{
    const char *colon = strchr(s, ':');
    size_t hostlen = colon ? (size_t)(colon - s) : strlen(s);
    if (colon) {
        if (!colon[1])
            return false;
        for (const char *p = colon + 1; *p; p++)
            if (!isdigit((unsigned char)*p))
                return false;
    }
    size_t label = 0;
    for (size_t i = 0; i <= hostlen; i++) {
        char c = i < hostlen ? s[i] : '.';
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if (isalnum((unsigned char)c) || (c == '-' && label > 0)) {
            label++;
        } else {
            return false;
        }
    }
    return true;
}

static bool tag_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > TAG_MAX || !(isalnum((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return false;
    return true;
}

static bool all_hex64(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

void images_ref_free(images_ref_t *ref)
{
    free(ref->domain);
    free(ref->path);
    free(ref->tag);
    free(ref->digest);
    *ref = (images_ref_t){0};
}

/* upstream splitDockerDomain: the first component is a registry when it has '.' or ':', is
 * "localhost", or has upper case letters; otherwise the name is on Docker Hub. */
static void split_domain(const char *name, char **domain, char **path)
{
    const char *slash = strchr(name, '/');
    bool registry = false;
    if (slash) {
        size_t n = (size_t)(slash - name);
        registry = memchr(name, '.', n) || memchr(name, ':', n) ||
                   (n == 9 && !memcmp(name, "localhost", 9));
        for (size_t i = 0; i < n && !registry; i++)
            registry = isupper((unsigned char)name[i]);
    }
    if (!registry) {
        *domain = util_xstrdup("docker.io");
        *path = strchr(name, '/') ? util_xstrdup(name) : util_strdup_printf("library/%s", name);
        return;
    }
    *domain = strndup(name, (size_t)(slash - name));
    if (!strcmp(*domain, "index.docker.io")) {
        free(*domain);
        *domain = util_xstrdup("docker.io");
    }
    bool hub = !strcmp(*domain, "docker.io") && !strchr(slash + 1, '/');
    *path = hub ? util_strdup_printf("library/%s", slash + 1) : util_xstrdup(slash + 1);
}

static int validate_path(const char *path, util_error_t *err)
{
    for (const char *p = path;;) {
        const char *slash = strchrnul(p, '/');
        if (!path_component_ok(p, (size_t)(slash - p))) {
            for (const char *q = path; *q; q++)
                if (isupper((unsigned char)*q))
                    return util_error_make(err, EINVAL, "repository name must be lowercase");
            return util_error_make(err, EINVAL, "invalid reference format");
        }
        if (!*slash)
            return 0;
        p = slash + 1;
    }
}

int images_ref_parse(const char *text, images_ref_t *ret, util_error_t *err)
{
    if (!*text)
        return util_error_make(err, EINVAL, "invalid reference format: empty");
    if (strlen(text) > NAME_TOTAL_MAX + TAG_MAX + IMAGES_DIGEST_LEN + 2)
        return util_error_make(err, EINVAL, "invalid reference format: too long");
    if (all_hex64(text))
        return util_error_make(err, EINVAL,
                               "invalid repository name (%s), cannot specify 64-byte "
                               "hexadecimal strings",
                               text);
    images_ref_t r = {0};
    cleanup_free char *name = util_xstrdup(text);
    char *at = strchr(name, '@');
    if (at) {
        *at = '\0';
        if (!images_digest_valid(at + 1))
            return util_error_make(err, EINVAL, "invalid reference format: bad digest");
        r.digest = util_xstrdup(at + 1);
    }
    char *colon = strrchr(name, ':');
    if (colon && !strchr(colon, '/')) {
        *colon = '\0';
        if (!tag_ok(colon + 1)) {
            images_ref_free(&r);
            return util_error_make(err, EINVAL, "invalid reference format: bad tag");
        }
        r.tag = util_xstrdup(colon + 1);
    }
    split_domain(name, &r.domain, &r.path);
    int rc = domain_ok(r.domain) ? validate_path(r.path, err)
                                 : util_error_make(err, EINVAL, "invalid reference format");
    if (rc == 0 && strlen(r.domain) + 1 + strlen(r.path) > NAME_TOTAL_MAX)
        rc = util_error_make(err, EINVAL, "repository name must not be more than %d characters",
                             NAME_TOTAL_MAX);
    if (rc < 0) {
        images_ref_free(&r);
        return rc;
    }
    if (!r.tag && !r.digest)
        r.tag = util_xstrdup("latest");
    *ret = r;
    return 0;
}

char *images_ref_repository(const images_ref_t *ref)
{
    return util_strdup_printf("%s/%s", ref->domain, ref->path);
}

char *images_ref_string(const images_ref_t *ref)
{
    return util_strdup_printf("%s/%s%s%s%s%s", ref->domain, ref->path, ref->tag ? ":" : "",
                              ref->tag ? ref->tag : "", ref->digest ? "@" : "",
                              ref->digest ? ref->digest : "");
}
