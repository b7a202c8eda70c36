/* kubelet_fieldpath: the value of a downward API fieldRef (env valueFrom.fieldRef and
 * downwardAPI volume items), like upstream's kubelet podFieldSelectorRuntimeValue over
 * fieldpath.ExtractFieldPathAsString, after podshelper.ConvertDownwardAPIFieldLabel. */
#include "kubelet.h"
#include "kubelet_volumes.h"

#include "labels/labels.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* upstream's SplitMaybeSubscriptedPath: "metadata.labels['k']" -> "metadata.labels", "k".
 * The path part is cut at the first "['" (SplitN), the key is the rest up to the final "']". */
static bool split_subscript(const char *path, char **ret_path, char **ret_key)
{
    size_t l = strlen(path);
    if (l < 2 || strcmp(path + l - 2, "']"))
        return false;
    const char *open = strstr(path, "['");
    if (!open || open == path || open + 2 > path + l - 2)
        return false;
    *ret_path = util_strdup_printf("%.*s", (int)(open - path), path);
    *ret_key = util_strdup_printf("%.*s", (int)(path + l - 2 - (open + 2)), open + 2);
    return true;
}

/* ConvertDownwardAPIFieldLabel: the v1 labels it knows, spec.host as spec.nodeName. */
static int convert_label(const char *version, const char *path, const char **ret, util_error_t *err)
{
    static const char *const known[] = {
        "metadata.annotations", "metadata.labels", "metadata.name",      "metadata.namespace",
        "metadata.uid",         "spec.nodeName",   "spec.restartPolicy", "spec.serviceAccountName",
        "spec.schedulerName",   "status.phase",    "status.hostIP",      "status.hostIPs",
        "status.podIP",         "status.podIPs",
    };
    if (version && *version && strcmp(version, "v1"))
        return util_error_make(err, 0, "unsupported pod version: %s", version);
    char *p = NULL, *k = NULL;
    if (split_subscript(path, &p, &k)) {
        bool ok = !strcmp(p, "metadata.annotations") || !strcmp(p, "metadata.labels");
        free(p);
        free(k);
        *ret = path;
        if (!ok)
            return util_error_make(err, 0, "field label does not support subscript: %s", path);
        return 0;
    }
    if (!strcmp(path, "spec.host")) { /* old v1 clients */
        *ret = "spec.nodeName";
        return 0;
    }
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(known); i++)
        if (!strcmp(path, known[i])) {
            *ret = path;
            return 0;
        }
    return util_error_make(err, 0, "field label not supported: %s", path);
}

/* fieldpath.ExtractFieldPathAsString on the pod's metadata. */
static int extract_metadata(const kubelet_field_src_t *src, const char *path, char **ret,
                            util_error_t *err)
{
    const cJSON *meta = jget(src->pod, "metadata");
    char *p = NULL, *key = NULL;
    if (split_subscript(path, &p, &key)) {
        /* convert_label let only these two through; annotation keys are checked lower-cased,
         * label keys as they are (upstream) */
        bool ann = !strcmp(p, "metadata.annotations");
        char *lower = util_xstrdup(key);
        for (char *c = lower; ann && *c; c++)
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        char *why = labels_key_problems(lower);
        int r = 0;
        if (why) {
            r = util_error_make(err, 0, "invalid key subscript in %s: %s", path, why);
        } else {
            const char *v =
                cJSON_GetStringValue(jget(jget(meta, ann ? "annotations" : "labels"), key));
            *ret = util_xstrdup(v ? v : "");
        }
        free(why);
        free(lower);
        free(p);
        free(key);
        return r;
    }
    if (!strcmp(path, "metadata.annotations") || !strcmp(path, "metadata.labels")) {
        *ret = kubelet_format_map(jget(meta, path + 9));
        return 0;
    }
    static const struct {
        const char *path, *key;
        size_t over; /* the caller's value, when it gives one */
    } simple[] = {
        {"metadata.name", "name", offsetof(kubelet_field_src_t, name)},
        {"metadata.namespace", "namespace", offsetof(kubelet_field_src_t, ns)},
        {"metadata.uid", "uid", offsetof(kubelet_field_src_t, uid)},
    };
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(simple); i++)
        if (!strcmp(path, simple[i].path)) {
            const char *v = *(const char *const *)((const char *)src + simple[i].over);
            if (!v)
                v = cJSON_GetStringValue(jget(meta, simple[i].key));
            *ret = util_xstrdup(v ? v : "");
            return 0;
        }
    return util_error_make(err, 0, "unsupported fieldPath: %s", path), -ENOTSUP;
}

int kubelet_field_value(const kubelet_field_src_t *src, const char *api_version,
                        const char *field_path, char **ret, util_error_t *err)
{
    *ret = NULL;
    const char *path = NULL;
    if (!field_path)
        return util_error_make(err, 0, "unsupported fieldPath: "), -ENOTSUP;
    int r = convert_label(api_version, field_path, &path, err);
    if (r < 0)
        return r;
    const cJSON *spec = jget(src->pod, "spec");
    const char *v = NULL;
    bool runtime = true;
    if (!strcmp(path, "spec.nodeName"))
        v = src->node_name ? src->node_name : cJSON_GetStringValue(jget(spec, "nodeName"));
    else if (!strcmp(path, "spec.serviceAccountName"))
        v = src->service_account ? src->service_account
                                 : cJSON_GetStringValue(jget(spec, "serviceAccountName"));
    else if (!strcmp(path, "status.hostIP") || !strcmp(path, "status.hostIPs"))
        v = src->host_ip; /* one address family here: IPs is the one IP */
    else if (!strcmp(path, "status.podIP") || !strcmp(path, "status.podIPs"))
        v = src->pod_ip;
    else
        runtime = false;
    if (runtime) {
        *ret = util_xstrdup(v ? v : "");
        return 0;
    }
    return extract_metadata(src, path, ret, err);
}
