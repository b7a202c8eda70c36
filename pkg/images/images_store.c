/* images_store: the on-disk store (layout in docs/images.md): lock, index, blobs, layers,
 * listing, lookup, removal and garbage collection. */
#include "images_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define INDEX_MAX (64 << 20)

void images_limits_default(images_limits_t *limits)
{
    *limits = (images_limits_t){
        .max_layer_bytes = 8ULL << 30,
        .max_entries = 1 << 20,
        .max_archive_bytes = 32ULL << 30,
        .allow_devices = geteuid() == 0,
    };
}

const char *images_platform_arch(void)
{
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__arm__)
    return "arm";
#else
    return "unknown";
#endif
}

const char *images_platform_variant(void)
{
#if defined(__arm__)
    return "v7";
#else
    return NULL;
#endif
}

static int mkdir_sub(const char *root, const char *sub, util_error_t *err)
{
    char path[PATH_MAX];
    if (util_path_join(path, sizeof(path), root, sub) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long");
    return util_mkdir_p(path, 0700, err);
}

int images_store_open(const char *data_dir, const images_limits_t *limits,
                      images_store_t **ret_store, util_error_t *err)
{
    images_store_t *s = util_xcalloc(1, sizeof(*s));
    s->root = util_strdup_printf("%s/agent/images-store", data_dir);
    s->lockfd = -1;
    if (limits)
        s->limits = *limits;
    else
        images_limits_default(&s->limits);
    int r = 0;
    static const char *const subs[] = {"", "blobs/sha256", "layers", "tmp"};
    for (size_t i = 0; r == 0 && i < UTIL_ARRAY_SIZE(subs); i++)
        r = mkdir_sub(s->root, subs[i], err);
    if (r == 0) {
        char path[PATH_MAX];
        r = util_path_join(path, sizeof(path), s->root, "lock");
        s->lockfd = r < 0 ? -1 : open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (s->lockfd < 0)
            r = util_error_make(err, r < 0 ? ENAMETOOLONG : errno, "open `%s`", path);
    }
    if (r < 0) {
        images_store_close(s);
        return util_error_wrap(err, "image store in `%s`", data_dir);
    }
    *ret_store = s;
    return 0;
}

images_store_t *images_store_close(images_store_t *s)
{
    if (!s)
        return NULL;
    if (s->lockfd >= 0)
        close(s->lockfd);
    free(s->root);
    free(s);
    return NULL;
}

const char *images_store_root(const images_store_t *s)
{
    return s->root;
}

int images__lock(images_store_t *s, util_error_t *err)
{
    while (flock(s->lockfd, LOCK_EX) < 0)
        if (errno != EINTR)
            return util_error_make(err, errno, "lock the image store");
    return 0;
}

void images__unlock(images_store_t *s)
{
    flock(s->lockfd, LOCK_UN);
}

int images__tmpdir(images_store_t *s, char *buf, size_t len, util_error_t *err)
{
    if (util_snprintf(buf, len, "%s/tmp/work-XXXXXX", s->root) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long");
    if (!mkdtemp(buf))
        return util_error_make(err, errno, "create a work directory in `%s/tmp`", s->root);
    return 0;
}

static char *index_path(images_store_t *s)
{
    return util_strdup_printf("%s/index.json", s->root);
}

int images__index_load(images_store_t *s, cJSON **ret, util_error_t *err)
{
    cleanup_free char *path = index_path(s);
    cleanup_free char *data = NULL;
    size_t len = 0;
    cleanup_error util_error_t rerr = NULL;
    cJSON *idx = NULL;
    if (util_read_file(path, INDEX_MAX, &data, &len, &rerr) < 0) {
        if (rerr->status != ENOENT)
            return util_error_make(err, rerr->status, "%s", rerr->msg);
        idx = cJSON_CreateObject();
        cJSON_AddNumberToObject(idx, "version", 1);
    } else {
        idx = cJSON_ParseWithLength(data, len);
        if (!cJSON_IsObject(idx)) {
            cJSON_Delete(idx);
            return util_error_make(err, EINVAL, "`%s` is corrupt", path);
        }
    }
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(idx, "images")))
        cJSON_AddItemToObject(idx, "images", cJSON_CreateArray());
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(idx, "imported")))
        cJSON_AddItemToObject(idx, "imported", cJSON_CreateArray());
    *ret = idx;
    return 0;
}

int images__index_save(images_store_t *s, cJSON *index, util_error_t *err)
{
    /* Layers were unpacked without fsync per file: one syncfs makes them all durable before
     * the index that makes them visible. */
    cleanup_close int fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || syncfs(fd) < 0)
        return util_error_make(err, errno, "sync `%s`", s->root);
    cleanup_free char *text = cJSON_PrintUnformatted(index);
    cleanup_free char *path = index_path(s);
    return util_write_file_atomic(path, text, strlen(text), 0600, err);
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Removes name from every image's names (a reference points at one image). */
static void index_drop_name(cJSON *index, const char *name)
{
    cJSON *img;
    cJSON_ArrayForEach(img, cJSON_GetObjectItemCaseSensitive(index, "images"))
    {
        cJSON *names = cJSON_GetObjectItemCaseSensitive(img, "names");
        for (int i = cJSON_GetArraySize(names) - 1; i >= 0; i--) {
            const cJSON *n = cJSON_GetArrayItem(names, i);
            if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
                cJSON_DeleteItemFromArray(names, i);
        }
    }
}

static cJSON *index_find_id(cJSON *index, const char *id)
{
    cJSON *img;
    cJSON_ArrayForEach(img, cJSON_GetObjectItemCaseSensitive(index, "images"))
    {
        const char *v = jstr(img, "id");
        if (v && !strcmp(v, id))
            return img;
    }
    return NULL;
}

void images__index_add(cJSON *index, cJSON *image)
{
    cJSON *names = cJSON_GetObjectItemCaseSensitive(image, "names");
    const cJSON *n;
    cJSON_ArrayForEach(n, names) index_drop_name(index, n->valuestring);
    cJSON *old = index_find_id(index, jstr(image, "id"));
    if (!old) {
        cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(index, "images"), image);
        return;
    }
    cJSON *old_names = cJSON_GetObjectItemCaseSensitive(old, "names");
    cJSON_ArrayForEach(n, names)
        cJSON_AddItemToArray(old_names, cJSON_CreateString(n->valuestring));
    if (!jstr(old, "manifestDigest") && jstr(image, "manifestDigest"))
        cJSON_AddStringToObject(old, "manifestDigest", jstr(image, "manifestDigest"));
    cJSON_Delete(image);
}

int images__blob_put(images_store_t *s, const char *digest, const void *data, size_t len,
                     util_error_t *err)
{
    char path[PATH_MAX];
    if (util_snprintf(path, sizeof(path), "%s/blobs/sha256/%s", s->root, digest + 7) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long");
    if (access(path, F_OK) == 0)
        return 0;
    return util_write_file_atomic(path, data, len, 0600, err);
}

int images_layer_path(const images_store_t *s, const char *diff_id, char *buf, size_t len,
                      util_error_t *err)
{
    if (!images_digest_valid(diff_id))
        return util_error_make(err, EINVAL, "bad layer digest `%.80s`", diff_id);
    if (util_snprintf(buf, len, "%s/layers/%s", s->root, diff_id + 7) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long");
    return 0;
}

/* ---- reading images out of the index -------------------------------------------------------- */

void images_image_free(images_image_t *img)
{
    if (!img)
        return;
    free(img->id);
    free(img->manifest_digest);
    util_strv_clear(&img->names);
    util_strv_clear(&img->layers);
    images_config_clear(&img->config);
    free(img);
}

void images_image_list_free(images_image_t **imgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        images_image_free(imgs[i]);
    free(imgs);
}

static void push_strings(util_strv_t *sv, const cJSON *arr)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it))
            util_strv_push(sv, it->valuestring);
    }
}

static int image_from_record(images_store_t *s, const cJSON *rec, images_image_t **ret,
                             util_error_t *err)
{
    const char *id = jstr(rec, "id");
    if (!images_digest_valid(id))
        return util_error_make(err, EINVAL, "index: image record without a valid id");
    images_image_t *img = util_xcalloc(1, sizeof(*img));
    img->id = util_xstrdup(id);
    const char *md = jstr(rec, "manifestDigest");
    img->manifest_digest = md ? util_xstrdup(md) : NULL;
    push_strings(&img->names, cJSON_GetObjectItemCaseSensitive(rec, "names"));
    push_strings(&img->layers, cJSON_GetObjectItemCaseSensitive(rec, "layers"));
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(rec, "size");
    img->size = cJSON_IsNumber(size) && size->valuedouble > 0 ? (uint64_t)size->valuedouble : 0;
    char path[PATH_MAX];
    cleanup_free char *data = NULL;
    size_t len = 0;
    int r = util_snprintf(path, sizeof(path), "%s/blobs/sha256/%s", s->root, id + 7);
    if (r == 0)
        r = util_read_file(path, 16 << 20, &data, &len, err);
    if (r == 0)
        r = images_config_parse(data, len, &img->config, NULL, err);
    if (r < 0) {
        images_image_free(img);
        return util_error_wrap(err, "image %.19s", id);
    }
    *ret = img;
    return 0;
}

int images_list(images_store_t *s, images_image_t ***ret_images, size_t *ret_n, util_error_t *err)
{
    cJSON *idx = NULL;
    int r = images__index_load(s, &idx, err);
    if (r < 0)
        return r;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(idx, "images");
    size_t n = 0, cap = (size_t)cJSON_GetArraySize(arr);
    images_image_t **imgs = util_xcalloc(cap + 1, sizeof(*imgs));
    const cJSON *rec;
    cJSON_ArrayForEach(rec, arr)
    {
        r = image_from_record(s, rec, &imgs[n], err);
        if (r < 0)
            break;
        n++;
    }
    cJSON_Delete(idx);
    if (r < 0) {
        images_image_list_free(imgs, n);
        return r;
    }
    *ret_images = imgs;
    *ret_n = n;
    return 0;
}

/* An ID, "sha256:"-prefixed or not, full or an unambiguous prefix of >= 4 hex digits. */
static bool looks_like_id(const char *ref, const char **ret_hex)
{
    const char *hex = util_str_has_prefix(ref, "sha256:") ? ref + 7 : ref;
    size_t n = strspn(hex, "0123456789abcdef");
    *ret_hex = hex;
    return n >= 4 && n <= 64 && !hex[n];
}

/* Finds the record ref names; sets *by_id when it named the image by ID. */
static int index_lookup(cJSON *idx, const char *ref, cJSON **ret, char **ret_name, bool *by_id,
                        util_error_t *err)
{
    const char *hex;
    cJSON *rec, *found = NULL;
    if (looks_like_id(ref, &hex)) {
        int matches = 0;
        cJSON_ArrayForEach(rec, cJSON_GetObjectItemCaseSensitive(idx, "images"))
        {
            const char *id = jstr(rec, "id");
            if (id && !strncmp(id + 7, hex, strlen(hex)))
                found = rec, matches++;
        }
        if (matches > 1)
            return util_error_make(err, EINVAL, "image ID prefix `%s` is ambiguous", ref);
        if (found) {
            *ret = found, *by_id = true;
            return 0;
        }
    }
    images_ref_t r;
    int rc = images_ref_parse(ref, &r, err);
    if (rc < 0)
        return rc;
    cleanup_free char *name = images_ref_string(&r);
    cJSON_ArrayForEach(rec, cJSON_GetObjectItemCaseSensitive(idx, "images"))
    {
        const cJSON *n;
        cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(rec, "names"))
        {
            if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
                found = rec;
        }
        const char *md = jstr(rec, "manifestDigest");
        if (!found && r.digest && !r.tag && md && !strcmp(md, r.digest))
            found = rec;
        if (found)
            break;
    }
    images_ref_free(&r);
    if (!found)
        return util_error_make(err, ENOENT, "image \"%s\" not found", ref);
    *ret = found, *by_id = false;
    if (ret_name) {
        *ret_name = name;
        name = NULL;
    }
    return 0;
}

int images_get(images_store_t *s, const char *ref, images_image_t **ret_image, util_error_t *err)
{
    cJSON *idx = NULL, *rec = NULL;
    bool by_id;
    int r = images__index_load(s, &idx, err);
    if (r == 0)
        r = index_lookup(idx, ref, &rec, NULL, &by_id, err);
    if (r == 0)
        r = image_from_record(s, rec, ret_image, err);
    cJSON_Delete(idx);
    return r;
}

static int remove_locked(images_store_t *s, const char *ref, util_error_t *err)
{
    cJSON *idx = NULL, *rec = NULL;
    cleanup_free char *name = NULL;
    bool by_id = false;
    int r = images__index_load(s, &idx, err);
    if (r == 0)
        r = index_lookup(idx, ref, &rec, &name, &by_id, err);
    if (r == 0) {
        if (name)
            index_drop_name(idx, name);
        cJSON *names = cJSON_GetObjectItemCaseSensitive(rec, "names");
        if (by_id || cJSON_GetArraySize(names) == 0)
            cJSON_DetachItemViaPointer(cJSON_GetObjectItemCaseSensitive(idx, "images"), rec),
                cJSON_Delete(rec);
        r = images__index_save(s, idx, err);
    }
    cJSON_Delete(idx);
    return r;
}

int images_remove(images_store_t *s, const char *ref, util_error_t *err)
{
    int r = images__lock(s, err);
    if (r < 0)
        return r;
    r = remove_locked(s, ref, err);
    if (r == 0)
        r = images__gc_locked(s, err);
    images__unlock(s);
    return r;
}
