/* images_import: docker-archive (docker save) and OCI image layout tarballs into the store.
 * Every blob is verified against its digest, every layer against its diffID; records reach
 * the index only after all their layers are complete. */
#include "images_archive.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JSON_MAX      (16 << 20)
#define MAX_INDEX_DEP 3

#define MT_OCI_INDEX     "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST   "application/vnd.docker.distribution.manifest.list.v2+json"
#define ANNOT_CONTAINERD "io.containerd.image.name"
#define ANNOT_REF_NAME   "org.opencontainers.image.ref.name"

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- layers -------------------------------------------------------------------------------- */

static int unpack_verify(images_import_t *im, const images_member_t *m, int dirfd,
                         const char *diff_id, const char *blob_digest, util_error_t *err)
{
    images_stream_t st;
    int r = images_stream_open(&st, m->fd >= 0 ? m->fd : im->a.fd, m->offset, m->size, NULL,
                               im->s->limits.max_layer_bytes, err);
    if (!im->gunzipped) {
        st.progress = im->progress, st.progress_ud = im->ud;
        st.progress_name = im->path, st.progress_total = im->a.file_size;
    }
    if (r == 0)
        r = images_unpack_layer(&st, dirfd, &im->s->limits, NULL, err);
    char raw[IMAGES_DIGEST_LEN + 1] = "", out[IMAGES_DIGEST_LEN + 1] = "";
    if (r == 0)
        r = images_stream_finish(&st, raw, out, err);
    images_stream_close(&st);
    if (r == 0 && blob_digest && strcmp(raw, blob_digest))
        r = util_error_make(err, EINVAL, "blob digest mismatch: has %s, want %s", raw, blob_digest);
    if (r == 0 && strcmp(out, diff_id))
        r = util_error_make(err, EINVAL, "diffID mismatch: has %s, want %s", out, diff_id);
    return r;
}

/* Unpacks a layer once: into the work dir, then renamed to layers/<hex> when complete. */
static int import_layer(images_import_t *im, const images_member_t *m, const char *diff_id,
                        const char *blob_digest, util_error_t *err)
{
    char final[PATH_MAX], dir[PATH_MAX];
    int r = images_layer_path(im->s, diff_id, final, sizeof(final), err);
    if (r < 0)
        return r;
    if (access(final, F_OK) == 0)
        return 0; /* content-addressed: already complete */
    if (util_snprintf(dir, sizeof(dir), "%s/layer-%s", im->work, diff_id + 7) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long");
    if (mkdir(dir, 0755) < 0)
        return util_error_make(err, errno, "mkdir `%s`", dir);
    cleanup_close int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return util_error_make(err, errno, "open `%s`", dir);
    r = unpack_verify(im, m, dirfd, diff_id, blob_digest, err);
    if (r == 0 && rename(dir, final) < 0)
        r = util_error_make(err, errno, "rename `%s`", dir);
    if (r < 0) {
        images_remove_tree(AT_FDCWD, dir, NULL); /* the partial layer goes */
        return util_error_wrap(err, "layer %.19s", diff_id);
    }
    return 0;
}

/* ---- records ------------------------------------------------------------------------------- */

static void add_name(images_import_t *im, cJSON *names, const char *text)
{
    images_ref_t ref;
    if (images_ref_parse(text, &ref, NULL) < 0)
        return; /* a bad tag in an archive does not make its image unusable */
    cleanup_free char *n = images_ref_string(&ref);
    images_ref_free(&ref);
    cJSON_AddItemToArray(names, cJSON_CreateString(n));
    if (im->names)
        util_strv_push(im->names, n);
}

/* Verifies the config, unpacks the layers, stores the config and makes the record. */
int images__import_image(images_import_t *im, const char *config, size_t config_len,
                         const char *config_digest, const images_member_t *const *layers,
                         const char *const *layer_digests, size_t nlayers,
                         const char *manifest_digest, cJSON *names, util_error_t *err)
{
    char id[IMAGES_DIGEST_LEN + 1];
    images_sha256_digest(config, config_len, id);
    if (config_digest && strcmp(id, config_digest))
        return util_error_make(err, EINVAL, "config digest mismatch: has %s, want %s", id,
                               config_digest);
    images_config_t cfg = {0};
    util_strv_t diff_ids = {0};
    int r = images_config_parse(config, config_len, &cfg, &diff_ids, err);
    if (r == 0 && diff_ids.n != nlayers)
        r = util_error_make(err, EINVAL, "image has %zu layers but its config %zu diffIDs", nlayers,
                            diff_ids.n);
    uint64_t size = config_len;
    for (size_t i = 0; r == 0 && i < nlayers; i++) {
        r = import_layer(im, layers[i], diff_ids.v[i], layer_digests ? layer_digests[i] : NULL,
                         err);
        size += layers[i]->size;
    }
    if (r == 0)
        r = images__blob_put(im->s, id, config, config_len, err);
    if (r == 0) {
        cJSON *rec = cJSON_CreateObject();
        cJSON_AddStringToObject(rec, "id", id);
        if (manifest_digest)
            cJSON_AddStringToObject(rec, "manifestDigest", manifest_digest);
        cJSON_AddItemToObject(rec, "names", names);
        names = NULL;
        cJSON *ls = cJSON_AddArrayToObject(rec, "layers");
        for (size_t i = 0; i < diff_ids.n; i++)
            cJSON_AddItemToArray(ls, cJSON_CreateString(diff_ids.v[i]));
        cJSON_AddNumberToObject(rec, "size", (double)size);
        cJSON_AddItemToArray(im->records, rec);
    }
    cJSON_Delete(names);
    images_config_clear(&cfg);
    util_strv_clear(&diff_ids);
    return r;
}

/* ---- docker-archive ------------------------------------------------------------------------- */

static int docker_one(images_import_t *im, const cJSON *item, util_error_t *err)
{
    const char *config_name = jstr(item, "Config");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(item, "Layers");
    if (!config_name || !cJSON_IsArray(layers) || cJSON_GetArraySize(layers) > 256)
        return util_error_make(err, EINVAL, "manifest.json: entry without Config or Layers");
    cleanup_free char *config = NULL;
    size_t config_len = 0;
    int r = images_archive_read(&im->a, config_name, JSON_MAX, &config, &config_len, err);
    if (r < 0)
        return r;
    size_t n = 0;
    const images_member_t *members[256];
    const cJSON *it;
    cJSON_ArrayForEach(it, layers)
    {
        members[n] = cJSON_IsString(it) ? images_archive_find(&im->a, it->valuestring) : NULL;
        if (!members[n])
            return util_error_make(err, ENOENT, "manifest.json names a missing layer");
        n++;
    }
    cJSON *names = cJSON_CreateArray();
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(item, "RepoTags"))
    {
        if (cJSON_IsString(it))
            add_name(im, names, it->valuestring);
    }
    return images__import_image(im, config, config_len, NULL, members, NULL, n, NULL, names, err);
}

static int import_docker(images_import_t *im, util_error_t *err)
{
    cleanup_free char *text = NULL;
    size_t len = 0;
    int r = images_archive_read(&im->a, "manifest.json", JSON_MAX, &text, &len, err);
    if (r < 0)
        return r;
    cJSON *manifest = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsArray(manifest) || cJSON_GetArraySize(manifest) == 0)
        r = util_error_make(err, EINVAL, "manifest.json is not a list of images");
    const cJSON *item, *list = r == 0 ? manifest : NULL;
    cJSON_ArrayForEach(item, list)
    {
        r = docker_one(im, item, err);
        if (r < 0)
            break;
    }
    cJSON_Delete(manifest);
    return r;
}

/* ---- OCI image layout ------------------------------------------------------------------------ */

/* Reads the blob a descriptor names and checks its digest and size. */
static int read_blob(images_import_t *im, const cJSON *desc, char **ret, size_t *ret_len,
                     const images_member_t **ret_member, util_error_t *err)
{
    const char *digest = jstr(desc, "digest");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(desc, "size");
    if (!images_digest_valid(digest) || !cJSON_IsNumber(size))
        return util_error_make(err, EINVAL, "descriptor without a sha256 digest and size");
    char name[128];
    snprintf(name, sizeof(name), "blobs/sha256/%s", digest + 7);
    const images_member_t *m = images_archive_find(&im->a, name);
    if (!m)
        return util_error_make(err, ENOENT, "archive has no blob %.19s", digest);
    if ((double)m->size != size->valuedouble)
        return util_error_make(err, EINVAL, "blob %.19s has %llu bytes, descriptor says %.0f",
                               digest, (unsigned long long)m->size, size->valuedouble);
    if (ret_member) {
        *ret_member = m;
        return 0;
    }
    int r = images_archive_read(&im->a, name, JSON_MAX, ret, ret_len, err);
    if (r < 0)
        return r;
    char have[IMAGES_DIGEST_LEN + 1];
    images_sha256_digest(*ret, *ret_len, have);
    if (strcmp(have, digest)) {
        free(*ret);
        *ret = NULL;
        return util_error_make(err, EINVAL, "blob digest mismatch: has %s, want %s", have, digest);
    }
    return 0;
}

bool images__platform_matches(const cJSON *desc)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(desc, "platform");
    if (!p)
        return true;
    const char *os = jstr(p, "os"), *arch = jstr(p, "architecture"), *var = jstr(p, "variant");
    const char *want_var = images_platform_variant();
    return os && !strcmp(os, "linux") && arch && !strcmp(arch, images_platform_arch()) &&
           (!want_var || !var || !strcmp(var, want_var));
}

static int oci_descriptor(images_import_t *im, const cJSON *desc, const char *top_digest,
                          const char *name, int depth, util_error_t *err);

/* An index: the manifest for this machine's platform. */
static int oci_index(images_import_t *im, const cJSON *index, const char *top_digest,
                     const char *name, int depth, util_error_t *err)
{
    const cJSON *m;
    util_buf_t seen = {0};
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(index, "manifests"))
    {
        if (images__platform_matches(m)) {
            util_buf_free(&seen);
            return oci_descriptor(im, m, top_digest, name, depth + 1, err);
        }
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(m, "platform");
        util_buf_printf(&seen, " %s/%s", jstr(p, "os") ? jstr(p, "os") : "?",
                        jstr(p, "architecture") ? jstr(p, "architecture") : "?");
    }
    int r = util_error_make(err, ENOENT, "no manifest for linux/%s in the index (has:%s)",
                            images_platform_arch(), seen.data ? seen.data : " nothing");
    util_buf_free(&seen);
    return r;
}

static int oci_manifest(images_import_t *im, const cJSON *manifest, const char *top_digest,
                        const char *name, util_error_t *err)
{
    cleanup_free char *config = NULL;
    size_t config_len = 0;
    const cJSON *cdesc = cJSON_GetObjectItemCaseSensitive(manifest, "config");
    int r = read_blob(im, cdesc, &config, &config_len, NULL, err);
    if (r < 0)
        return util_error_wrap(err, "config");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(manifest, "layers");
    if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) > 256)
        return util_error_make(err, EINVAL, "manifest without a layer list");
    const images_member_t *members[256];
    const char *digests[256];
    size_t n = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, layers)
    {
        r = read_blob(im, l, NULL, NULL, &members[n], err);
        if (r < 0)
            return util_error_wrap(err, "layer %zu", n);
        digests[n++] = jstr(l, "digest");
    }
    cJSON *names = cJSON_CreateArray();
    if (name)
        add_name(im, names, name);
    return images__import_image(im, config, config_len, jstr(cdesc, "digest"), members, digests, n,
                                top_digest, names, err);
}

static int oci_descriptor(images_import_t *im, const cJSON *desc, const char *top_digest,
                          const char *name, int depth, util_error_t *err)
{
    if (depth > MAX_INDEX_DEP)
        return util_error_make(err, ELOOP, "indexes nested too deep");
    cleanup_free char *text = NULL;
    size_t len = 0;
    int r = read_blob(im, desc, &text, &len, NULL, err);
    if (r < 0)
        return r;
    cJSON *doc = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return util_error_make(err, EINVAL, "manifest %.19s is not a JSON object",
                               jstr(desc, "digest"));
    }
    if (!top_digest) {
        top_digest = jstr(desc, "digest");
        r = images__blob_put(im->s, top_digest, text, len, err);
    }
    const char *mt = jstr(doc, "mediaType");
    if (r < 0)
        ;
    else if ((mt && (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST))) ||
             cJSON_GetObjectItemCaseSensitive(doc, "manifests"))
        r = oci_index(im, doc, top_digest, name, depth, err);
    else
        r = oci_manifest(im, doc, top_digest, name, err);
    cJSON_Delete(doc);
    return r;
}

/* The name a top-level descriptor gives its image: containerd's full name, else a ref.name
 * that is a reference rather than a bare tag. */
static const char *oci_name(const cJSON *desc)
{
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(desc, "annotations");
    const char *n = jstr(ann, ANNOT_CONTAINERD);
    if (n)
        return n;
    n = jstr(ann, ANNOT_REF_NAME);
    return n && strpbrk(n, "/:@") ? n : NULL;
}

static int import_oci(images_import_t *im, util_error_t *err)
{
    cleanup_free char *layout = NULL;
    cleanup_free char *text = NULL;
    size_t len = 0;
    int r = images_archive_read(&im->a, "oci-layout", 4096, &layout, &len, err);
    if (r < 0)
        return r;
    cJSON *l = cJSON_ParseWithLength(layout, len);
    const char *v = jstr(l, "imageLayoutVersion");
    if (!v || strcmp(v, "1.0.0"))
        r = util_error_make(err, EINVAL, "oci-layout: unsupported imageLayoutVersion");
    cJSON_Delete(l);
    if (r == 0)
        r = images_archive_read(&im->a, "index.json", JSON_MAX, &text, &len, err);
    if (r < 0)
        return r;
    cJSON *index = cJSON_ParseWithLength(text, len);
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(index, "manifests");
    if (!cJSON_IsArray(ms) || cJSON_GetArraySize(ms) == 0) {
        r = util_error_make(err, EINVAL, "index.json lists no manifests");
        ms = NULL;
    }
    bool any_platform = false;
    const cJSON *d;
    cJSON_ArrayForEach(d, ms) any_platform |= images__platform_matches(d);
    if (r == 0 && !any_platform)
        r = oci_index(im, index, NULL, NULL, 0, err); /* names the platforms in the error */
    cJSON_ArrayForEach(d, ms)
    {
        if (!images__platform_matches(d))
            continue; /* a per-platform list at the top: other architectures are skipped */
        r = oci_descriptor(im, d, NULL, oci_name(d), 0, err);
        if (r < 0)
            break;
    }
    cJSON_Delete(index);
    return r;
}

/* ---- entry points ---------------------------------------------------------------------------- */

int images__import_commit(images_import_t *im, cJSON *file_record, util_error_t *err)
{
    cJSON *idx = NULL;
    int r = images__index_load(im->s, &idx, err);
    if (r == 0) {
        cleanup_free char *before = cJSON_PrintUnformatted(idx);
        cJSON *rec;
        while ((rec = cJSON_DetachItemFromArray(im->records, 0)))
            images__index_add(idx, rec);
        if (file_record)
            cJSON_AddItemReferenceToArray(cJSON_GetObjectItemCaseSensitive(idx, "imported"),
                                          file_record);
        cleanup_free char *after = cJSON_PrintUnformatted(idx);
        if (strcmp(before, after)) /* a re-import changes nothing and writes nothing */
            r = images__index_save(im->s, idx, err);
    }
    cJSON_Delete(idx);
    return r;
}

int images__import_locked(images_store_t *s, const char *path, cJSON *file_record,
                          images_progress_fn progress, void *ud, util_strv_t *ret_names,
                          util_error_t *err)
{
    images_import_t im = {.s = s, .progress = progress, .ud = ud, .path = path, .names = ret_names};
    im.a.fd = -1;
    im.records = cJSON_CreateArray();
    int r = images__sweep_tmp(s, err);
    if (r == 0)
        r = images__tmpdir(s, im.work, sizeof(im.work), err);
    if (r == 0)
        r = images_archive_open(&im.a, path, im.work, &s->limits, progress, ud, err);
    if (r == 0) {
        char plain[PATH_MAX];
        im.gunzipped = util_snprintf(plain, sizeof(plain), "%s/archive.tar", im.work) == 0 &&
                       access(plain, F_OK) == 0;
        if (images_archive_find(&im.a, "manifest.json"))
            r = import_docker(&im, err);
        else if (images_archive_find(&im.a, "oci-layout"))
            r = import_oci(&im, err);
        else
            r = util_error_make(err, EINVAL,
                                "neither a docker-archive (manifest.json) nor an OCI layout "
                                "(oci-layout, index.json)");
        if (r < 0)
            util_error_wrap(err, "`%s`", path);
    }
    images_archive_close(&im.a);
    if (r == 0)
        r = images__import_commit(&im, file_record, err);
    cJSON_Delete(im.records);
    if (im.work[0])
        images_remove_tree(AT_FDCWD, im.work, NULL);
    return r;
}

int images_import_file(images_store_t *s, const char *path, images_progress_fn progress,
                       void *userdata, util_strv_t *ret_names, util_error_t *err)
{
    int r = images__lock(s, err);
    if (r < 0)
        return r;
    r = images__import_locked(s, path, NULL, progress, userdata, ret_names, err);
    images__unlock(s);
    return r;
}
