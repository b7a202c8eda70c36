/* images_gc: deletes layers and blobs no image record references, and leftovers of
 * interrupted imports (tmp/). Runs under the store lock, after every removal. */
#include "images_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool strv_has(const util_strv_t *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (!strcmp(sv->v[i], s))
            return true;
    return false;
}

/* Hex digests (without "sha256:") of every layer and blob the index references. */
static void collect_live(cJSON *idx, util_strv_t *layers, util_strv_t *blobs)
{
    const cJSON *rec, *it;
    cJSON_ArrayForEach(rec, cJSON_GetObjectItemCaseSensitive(idx, "images"))
    {
        static const char *const blob_keys[] = {"id", "manifestDigest", "indexDigest"};
        for (size_t i = 0; i < UTIL_ARRAY_SIZE(blob_keys); i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, blob_keys[i]);
            if (cJSON_IsString(v) && images_digest_valid(v->valuestring))
                util_strv_push(blobs, v->valuestring + 7);
        }
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(rec, "layers"))
        {
            if (cJSON_IsString(it) && images_digest_valid(it->valuestring))
                util_strv_push(layers, it->valuestring + 7);
        }
    }
}

/* Removes every entry of root/sub whose name is not in keep (NULL: remove all). */
static int sweep(const char *root, const char *sub, const util_strv_t *keep, util_error_t *err)
{
    char path[PATH_MAX];
    if (util_path_join(path, sizeof(path), root, sub) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long");
    cleanup_close int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : util_error_make(err, errno, "open `%s`", path);
    cleanup_dir DIR *d = fdopendir(dup(dfd));
    if (!d)
        return util_error_make(err, errno, "read `%s`", path);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (keep && strv_has(keep, de->d_name))
            continue;
        int r = images_remove_tree(dfd, de->d_name, err);
        if (r < 0)
            return util_error_wrap(err, "garbage-collect `%s/%s`", path, de->d_name);
    }
    return 0;
}

int images__gc_locked(images_store_t *s, util_error_t *err)
{
    cJSON *idx = NULL;
    int r = images__index_load(s, &idx, err);
    if (r < 0)
        return r;
    util_strv_t layers = {0}, blobs = {0};
    collect_live(idx, &layers, &blobs);
    cJSON_Delete(idx);
    r = sweep(s->root, "tmp", NULL, err);
    if (r == 0)
        r = sweep(s->root, "layers", &layers, err);
    if (r == 0)
        r = sweep(s->root, "blobs/sha256", &blobs, err);
    util_strv_clear(&layers);
    util_strv_clear(&blobs);
    return r;
}

int images__sweep_tmp(images_store_t *s, util_error_t *err)
{
    return sweep(s->root, "tmp", NULL, err);
}

int images_gc(images_store_t *s, util_error_t *err)
{
    int r = images__lock(s, err);
    if (r < 0)
        return r;
    r = images__gc_locked(s, err);
    images__unlock(s);
    return r;
}
