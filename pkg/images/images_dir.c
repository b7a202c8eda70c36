/* images_dir: the kubelet's air-gapped import of <data-dir>/agent/images/ at start. A file is
 * imported once: the index records its sha256 (and name, size and mtime, so an unchanged file
 * is skipped without being hashed again). */
#include "images_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_image_file(const char *name)
{
    return name[0] != '.' &&
           (util_str_has_suffix(name, ".tar") || util_str_has_suffix(name, ".tar.gz") ||
            util_str_has_suffix(name, ".tgz"));
}

static int hash_file(const char *path, char ret[IMAGES_DIGEST_LEN + 1], util_error_t *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return util_error_make(err, errno, "open `%s`", path);
    mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    mbedtls_sha256_starts(&ctx, 0);
    uint8_t buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            mbedtls_sha256_update(&ctx, buf, (size_t)n);
    int e = errno;
    unsigned char sum[32];
    mbedtls_sha256_finish(&ctx, sum);
    mbedtls_sha256_free(&ctx);
    if (n < 0)
        return util_error_make(err, e, "read `%s`", path);
    strcpy(ret, "sha256:");
    for (int i = 0; i < 32; i++)
        snprintf(ret + 7 + 2 * i, 3, "%02x", sum[i]);
    return 0;
}

/* 1 when the index already records this file (by stat, else by content). */
static int already_imported(cJSON *idx, const char *name, const struct stat *st, const char *digest)
{
    const cJSON *rec;
    cJSON_ArrayForEach(rec, cJSON_GetObjectItemCaseSensitive(idx, "imported"))
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(rec, "name");
        const cJSON *sz = cJSON_GetObjectItemCaseSensitive(rec, "size");
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(rec, "mtimeNs");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(rec, "sha256");
        if (digest) {
            if (cJSON_IsString(d) && !strcmp(d->valuestring, digest))
                return 1;
            continue;
        }
        double mtime = (double)st->st_mtim.tv_sec * 1e9 + (double)st->st_mtim.tv_nsec;
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name) && cJSON_IsNumber(sz) &&
            sz->valuedouble == (double)st->st_size && cJSON_IsNumber(mt) &&
            mt->valuedouble == mtime)
            return 1;
    }
    return 0;
}

static int import_one(images_store_t *s, const char *dir, const char *name, util_error_t *err)
{
    char path[PATH_MAX], digest[IMAGES_DIGEST_LEN + 1];
    struct stat st;
    if (util_path_join(path, sizeof(path), dir, name) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long");
    if (stat(path, &st) < 0)
        return util_error_make(err, errno, "stat `%s`", path);
    if (!S_ISREG(st.st_mode))
        return 0;
    cJSON *idx = NULL;
    int r = images__index_load(s, &idx, err);
    int seen = r < 0 ? 0 : already_imported(idx, name, &st, NULL);
    if (r == 0 && !seen)
        r = hash_file(path, digest, err);
    if (r == 0 && !seen)
        seen = already_imported(idx, name, &st, digest);
    cJSON_Delete(idx);
    if (r < 0 || seen)
        return r < 0 ? r : 0;
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "name", name);
    cJSON_AddStringToObject(rec, "sha256", digest);
    cJSON_AddNumberToObject(rec, "size", (double)st.st_size);
    cJSON_AddNumberToObject(rec, "mtimeNs",
                            (double)st.st_mtim.tv_sec * 1e9 + (double)st.st_mtim.tv_nsec);
    r = images__import_locked(s, path, rec, NULL, NULL, NULL, err);
    cJSON_Delete(rec);
    return r < 0 ? r : 1;
}

int images_import_dir(images_store_t *s, const char *dir, util_strv_t *ret_failed,
                      util_error_t *err)
{
    struct dirent **list = NULL;
    int n = scandir(dir, &list, NULL, alphasort);
    if (n < 0)
        return errno == ENOENT ? 0 : util_error_make(err, errno, "read `%s`", dir);
    int r = images__lock(s, err), imported = 0;
    for (int i = 0; r == 0 && i < n; i++) {
        if (!is_image_file(list[i]->d_name))
            continue;
        cleanup_error util_error_t ferr = NULL;
        int k = import_one(s, dir, list[i]->d_name, &ferr);
        if (k > 0)
            imported++;
        else if (k < 0 && ret_failed)
            util_strv_push(ret_failed, ferr->msg);
    }
    if (r == 0)
        images__unlock(s);
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
    return r < 0 ? r : imported;
}
