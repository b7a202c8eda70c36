/* images_current: is the local image of a reference already the one the registry names?
 * Upstream's imagePullPolicy Always asks the registry on every container start; containerd
 * resolves the tag to a manifest digest and, when the image it holds under that name came from
 * the same manifest, fetches nothing else. A manifest digest determines the config (and so the
 * image ID) for a platform, so a match can never pick a wrong image; a record that came from
 * another manifest of the same config (another tag's index, a single-platform manifest) is
 * only pulled again, which reuses its layers. */
#include "images_internal.h"

#include <string.h>

static bool holds_name(const cJSON *rec, const char *name)
{
    const cJSON *n;
    cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(rec, "names"))
    {
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
            return true;
    }
    return false;
}

const char *images__current_id(const cJSON *index, const char *name, const char *digest)
{
    if (!name || !images_digest_valid(digest))
        return NULL;
    const cJSON *rec;
    cJSON_ArrayForEach(rec, cJSON_GetObjectItemCaseSensitive(index, "images"))
    {
        if (!holds_name(rec, name))
            continue;
        /* a name points at one image: this record decides */
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(rec, "manifestDigest");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "id");
        if (!cJSON_IsString(md) || strcmp(md->valuestring, digest) || !cJSON_IsString(id) ||
            !images_digest_valid(id->valuestring))
            return NULL;
        return id->valuestring;
    }
    return NULL;
}

int images__current_check(images_store_t *s, const char *name, const char *digest, char **ret_id,
                          util_error_t *err)
{
    cJSON *idx = NULL;
    int r = images__index_load(s, &idx, err);
    if (r < 0)
        return r;
    const char *id = images__current_id(idx, name, digest);
    if (id && ret_id)
        *ret_id = util_xstrdup(id);
    cJSON_Delete(idx);
    return id ? 1 : 0;
}
