/* kubelet_static_spec: the pure parts of static pods (upstream's pkg/kubelet/config/file.go and
 * common.go applyDefaults, pod/mirror_client.go): which files are manifests, a manifest to the
 * pod the kubelet runs (name, namespace, UID hash, annotations, tolerations), and its mirror
 * pod. Unit-tested in tests/unit/test_kubelet_static.c. */
#include "kubelet/kubelet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mbedtls/sha256.h"

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(jget(o, k));
}

/* upstream globs "[^.]*" (every file not hidden); kubeling also wants a manifest's extension,
 * so editors' backups (x.yaml~, x.yaml.bak) are not run. */
bool kubelet_static_file_wanted(const char *name)
{
    if (!name || !*name || name[0] == '.')
        return false;
    return util_str_has_suffix(name, ".yaml") || util_str_has_suffix(name, ".yml") ||
           util_str_has_suffix(name, ".json");
}

/* A DNS-1123 subdomain (metadata.name of a pod): lower-case alphanumerics, '-' and '.',
 * starting and ending alphanumeric, at most 253 bytes. */
static bool dns_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && ((c != '-' && c != '.') || i == 0 || i == n - 1))
            return false;
    }
    return true;
}

static bool dns_label(const char *s)
{
    return dns_subdomain(s) && strlen(s) <= 63 && !strchr(s, '.');
}

/* Containers: a non-empty list, each with a unique name and an image. */
static int check_containers(const cJSON *spec, util_error_t *err)
{
    const cJSON *ctrs = jget(spec, "containers");
    if (!cJSON_IsArray(ctrs) || cJSON_GetArraySize(ctrs) == 0)
        return util_error_make(err, EINVAL, "invalid pod: spec.containers: Required value");
    util_strv_t seen = {0};
    int r = 0;
    for (int pass = 0; pass < 2 && r == 0; pass++) {
        const char *field = pass ? "containers" : "initContainers";
        const cJSON *c;
        cJSON_ArrayForEach(c, jget(spec, field))
        {
            const char *name = jstr(c, "name"), *image = jstr(c, "image");
            if (!name || !dns_label(name))
                r = util_error_make(err, EINVAL, "invalid pod: spec.%s: invalid name \"%s\"", field,
                                    name ? name : "");
            else if (!image || !*image)
                r = util_error_make(err, EINVAL, "invalid pod: spec.%s{%s}.image: Required value",
                                    field, name);
            for (size_t i = 0; r == 0 && i < seen.n; i++)
                if (!strcmp(seen.v[i], name))
                    r = util_error_make(
                        err, EINVAL, "invalid pod: spec.%s: Duplicate value: \"%s\"", field, name);
            if (r < 0)
                break;
            util_strv_push(&seen, name);
        }
    }
    util_strv_clear(&seen);
    return r;
}

/* The manifest as a Pod: kind Pod of apiVersion v1, a valid name, an object spec. */
static int check_pod(const cJSON *pod, util_error_t *err)
{
    const char *kind = jstr(pod, "kind"), *version = jstr(pod, "apiVersion");
    if (!kind)
        return util_error_make(err, EINVAL, "Object 'Kind' is missing");
    if (strcmp(kind, "Pod") || !version || strcmp(version, "v1"))
        return util_error_make(err, EINVAL, "not a v1 Pod (apiVersion \"%s\", kind \"%s\")",
                               version ? version : "", kind);
    const cJSON *meta = jget(pod, "metadata");
    const char *name = jstr(meta, "name"), *ns = jstr(meta, "namespace");
    if (!cJSON_IsObject(meta) || !name || !*name)
        return util_error_make(err, EINVAL, "invalid pod: metadata.name: Required value");
    if (!dns_subdomain(name))
        return util_error_make(err, EINVAL, "invalid pod: metadata.name: Invalid value: \"%s\"",
                               name);
    if (jget(meta, "namespace") && !cJSON_IsNull(jget(meta, "namespace")) &&
        (!ns || (*ns && !dns_label(ns))))
        return util_error_make(err, EINVAL, "invalid pod: metadata.namespace: Invalid value");
    const cJSON *spec = jget(pod, "spec");
    if (!cJSON_IsObject(spec))
        return util_error_make(err, EINVAL, "invalid pod: spec: Required value");
    return check_containers(spec, err);
}

/* upstream's applyDefaults UID: a hash of the node, the file and the pod as written, so the
 * same file on the same node is the same pod across restarts, and any edit is a new pod. */
static void pod_uid(const cJSON *pod, const char *path, const char *node, char out[33])
{
    char *text = cJSON_PrintUnformatted(pod);
    mbedtls_sha256_context ctx;
    unsigned char sum[32];
    mbedtls_sha256_init(&ctx);
    mbedtls_sha256_starts(&ctx, 0);
    mbedtls_sha256_update(&ctx, (const unsigned char *)"host:", 5);
    mbedtls_sha256_update(&ctx, (const unsigned char *)node, strlen(node));
    mbedtls_sha256_update(&ctx, (const unsigned char *)"file:", 5);
    mbedtls_sha256_update(&ctx, (const unsigned char *)path, strlen(path));
    mbedtls_sha256_update(&ctx, (const unsigned char *)text, text ? strlen(text) : 0);
    mbedtls_sha256_finish(&ctx, sum);
    mbedtls_sha256_free(&ctx);
    cJSON_free(text);
    for (int i = 0; i < 16; i++) /* 32 hex digits, the length of upstream's md5 */
        snprintf(out + 2 * i, 3, "%02x", sum[i]);
}

static cJSON *object_at(cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsObject(v))
        return v;
    cJSON_DeleteItemFromObjectCaseSensitive(o, k);
    return cJSON_AddObjectToObject(o, k);
}

static void set_str(cJSON *o, const char *k, const char *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(o, k);
    cJSON_AddStringToObject(o, k, v);
}

/* upstream's AddOrUpdateTolerationInPod with {operator: Exists, effect: NoExecute}: static
 * pods are not evicted for node problems. */
static void tolerate_no_execute(cJSON *spec)
{
    cJSON *tols = cJSON_GetObjectItemCaseSensitive(spec, "tolerations");
    if (!cJSON_IsArray(tols)) {
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "tolerations");
        tols = cJSON_AddArrayToObject(spec, "tolerations");
    }
    const cJSON *t;
    cJSON_ArrayForEach(t, tols)
    {
        const char *op = jstr(t, "operator"), *eff = jstr(t, "effect"), *key = jstr(t, "key");
        if (op && !strcmp(op, "Exists") && eff && !strcmp(eff, "NoExecute") && (!key || !*key) &&
            !jget(t, "tolerationSeconds"))
            return;
    }
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(n, "operator", "Exists");
    cJSON_AddStringToObject(n, "effect", "NoExecute");
    cJSON_AddItemToArray(tols, n);
}

int kubelet_static_pod_parse(const char *text, size_t len, const char *path, const char *node,
                             const char *seen, cJSON **ret, util_error_t *err)
{
    if (len > KUBELET_STATIC_MAX_BYTES)
        return util_error_make(err, EFBIG, "larger than %u bytes", KUBELET_STATIC_MAX_BYTES);
    cJSON *pod = NULL;
    int r = client_yaml_parse_opts(text, len, CLIENT_YAML_TYPED | CLIENT_YAML_FIRST_DOC, &pod, err);
    if (r < 0)
        return r;
    if (!cJSON_IsObject(pod))
        r = util_error_make(err, EINVAL, "not an object");
    if (r == 0)
        r = check_pod(pod, err);
    char name[320];
    if (r == 0 && (util_snprintf(name, sizeof(name), "%s-%s", jstr(jget(pod, "metadata"), "name"),
                                 node) < 0 ||
                   !dns_subdomain(name)))
        r = util_error_make(err, EINVAL,
                            "invalid pod: the name with the node's, \"%s\", is not "
                            "a valid pod name",
                            name);
    if (r < 0) {
        cJSON_Delete(pod);
        return r;
    }
    cJSON *meta = object_at(pod, "metadata");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "uid"); /* always the hash, see docs */
    cJSON_DeleteItemFromObjectCaseSensitive(pod, "status");
    char uid[33];
    pod_uid(pod, path, node, uid);
    set_str(meta, "name", name);
    const char *ns = jstr(meta, "namespace");
    if (!ns || !*ns)
        set_str(meta, "namespace", "default");
    set_str(meta, "uid", uid);
    cJSON *ann = object_at(meta, "annotations");
    set_str(ann, KUBELET_ANN_CONFIG_HASH, uid);
    set_str(ann, KUBELET_ANN_CONFIG_SOURCE, "file");
    set_str(ann, KUBELET_ANN_CONFIG_SEEN, seen);
    cJSON *spec = object_at(pod, "spec");
    set_str(spec, "nodeName", node);
    tolerate_no_execute(spec);
    *ret = pod;
    return 0;
}

const char *kubelet_static_hash(const cJSON *pod)
{
    return jstr(jget(jget(pod, "metadata"), "annotations"), KUBELET_ANN_CONFIG_HASH);
}

const char *kubelet_mirror_hash(const cJSON *pod)
{
    return jstr(jget(jget(pod, "metadata"), "annotations"), KUBELET_ANN_CONFIG_MIRROR);
}

/* upstream's CreateMirrorPod: the static pod with config.mirror set to its hash and the Node
 * as its controlling owner (MirrorPodNodeRestriction); the API gives it its own UID. */
cJSON *kubelet_static_mirror(const cJSON *pod, const char *node, const char *node_uid)
{
    cJSON *m = cJSON_Duplicate(pod, true);
    cJSON *meta = object_at(m, "metadata");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "uid");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "resourceVersion");
    cJSON_DeleteItemFromObjectCaseSensitive(m, "status");
    const char *hash = kubelet_static_hash(pod);
    set_str(object_at(meta, "annotations"), KUBELET_ANN_CONFIG_MIRROR, hash ? hash : "");
    cJSON_DeleteItemFromObjectCaseSensitive(meta, "ownerReferences");
    if (node_uid && *node_uid) {
        cJSON *owner = cJSON_CreateObject();
        cJSON_AddStringToObject(owner, "apiVersion", "v1");
        cJSON_AddStringToObject(owner, "kind", "Node");
        cJSON_AddStringToObject(owner, "name", node);
        cJSON_AddStringToObject(owner, "uid", node_uid);
        cJSON_AddTrueToObject(owner, "controller");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(meta, "ownerReferences"), owner);
    }
    return m;
}
