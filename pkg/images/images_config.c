/* images_config: the parts of an OCI/Docker image config the kubelet needs, and its diffIDs. */
#include "images_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define MAX_LAYERS 256 /* upstream registries refuse more than 127; 256 leaves room */

static const char *string_of(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? util_xstrdup(s) : NULL;
}

static int strings_of(const cJSON *obj, const char *key, util_strv_t *ret, util_error_t *err)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!arr || cJSON_IsNull(arr))
        return 0;
    if (!cJSON_IsArray(arr))
        return util_error_make(err, EINVAL, "image config: %s is not a list", key);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it))
            return util_error_make(err, EINVAL, "image config: %s has a non-string item", key);
        util_strv_push(ret, it->valuestring);
    }
    return 0;
}

void images_config_clear(images_config_t *c)
{
    util_strv_clear(&c->entrypoint);
    util_strv_clear(&c->cmd);
    util_strv_clear(&c->env);
    util_strv_clear(&c->exposed_ports);
    free(c->working_dir);
    free(c->user);
    free(c->os);
    free(c->architecture);
    free(c->variant);
    *c = (images_config_t){0};
}

static int parse_runtime(const cJSON *cfg, images_config_t *c, util_error_t *err)
{
    if (!cfg || cJSON_IsNull(cfg))
        return 0;
    if (!cJSON_IsObject(cfg))
        return util_error_make(err, EINVAL, "image config: config is not an object");
    int r = strings_of(cfg, "Entrypoint", &c->entrypoint, err);
    if (r == 0)
        r = strings_of(cfg, "Cmd", &c->cmd, err);
    if (r == 0)
        r = strings_of(cfg, "Env", &c->env, err);
    if (r < 0)
        return r;
    c->working_dir = dup_or_null(string_of(cfg, "WorkingDir"));
    c->user = dup_or_null(string_of(cfg, "User"));
    const cJSON *ports = cJSON_GetObjectItemCaseSensitive(cfg, "ExposedPorts");
    const cJSON *it;
    if (cJSON_IsObject(ports))
        cJSON_ArrayForEach(it, ports) util_strv_push(&c->exposed_ports, it->string);
    return 0;
}

int images_config_parse(const char *json, size_t len, images_config_t *ret,
                        util_strv_t *ret_diff_ids, util_error_t *err)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return util_error_make(err, EINVAL, "image config is not a JSON object");
    }
    images_config_t c = {0};
    util_strv_t ids = {0};
    int r = parse_runtime(cJSON_GetObjectItemCaseSensitive(root, "config"), &c, err);
    c.os = dup_or_null(string_of(root, "os"));
    c.architecture = dup_or_null(string_of(root, "architecture"));
    c.variant = dup_or_null(string_of(root, "variant"));
    const cJSON *rootfs = cJSON_GetObjectItemCaseSensitive(root, "rootfs");
    if (r == 0)
        r = strings_of(rootfs, "diff_ids", &ids, err);
    if (r == 0 && ids.n > MAX_LAYERS)
        r = util_error_make(err, E2BIG, "image has more than %d layers", MAX_LAYERS);
    for (size_t i = 0; r == 0 && i < ids.n; i++)
        if (!images_digest_valid(ids.v[i]))
            r = util_error_make(err, EINVAL, "image config: bad diff_id `%.80s`", ids.v[i]);
    cJSON_Delete(root);
    if (r < 0) {
        images_config_clear(&c);
        util_strv_clear(&ids);
        return r;
    }
    *ret = c;
    if (ret_diff_ids)
        *ret_diff_ids = ids;
    else
        util_strv_clear(&ids);
    return 0;
}
