/* kubelet_pull: image pulls with credentials, as upstream's kuberuntime image manager: the
 * pod's imagePullSecrets (and those of its ServiceAccount, which upstream's ServiceAccount
 * admission copies into the pod and our apiserver does not) of type
 * kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg make a keyring; the credentials
 * matching the image's repository are tried in turn (most specific first), and an image none
 * match is pulled anonymously. registries.yaml (mirrors, per-host credentials and TLS) is read
 * once at start (kubelet.c). Runs on the thread pool, from the job's snapshot of the secrets. */
#include "kubelet_pods_internal.h"

#include <errno.h>

#include "mbedtls/base64.h"

#define PULL_SECRET_MAX (1 << 20)

/* The names of the pull secrets: the pod's, then its ServiceAccount's. */
static void secret_names(const work_t *w, util_strv_t *out)
{
    const cJSON *spec = jget(w->obj, "spec"), *e;
    cJSON_ArrayForEach(e, jget(spec, "imagePullSecrets"))
    {
        const char *n = jstr(e, "name");
        if (n && *n)
            util_strv_push(out, n);
    }
    const char *sa = jstr(spec, "serviceAccountName");
    const cJSON *sao = jget(jget(w->refs, "serviceaccounts"), sa && *sa ? sa : "default");
    cJSON_ArrayForEach(e, jget(sao, "imagePullSecrets"))
    {
        const char *n = jstr(e, "name");
        bool dup = false;
        for (size_t i = 0; n && i < out->n && !dup; i++)
            dup = !strcmp(out->v[i], n);
        if (n && *n && !dup)
            util_strv_push(out, n);
    }
}

/* Adds one secret's payload to the keyring; secrets of other types are skipped as upstream. */
static int add_secret(images_keyring_t *kr, const cJSON *secret, util_error_t *err)
{
    const char *type = jstr(secret, "type");
    bool cfg = type && !strcmp(type, "kubernetes.io/dockercfg");
    if (!type || (!cfg && strcmp(type, "kubernetes.io/dockerconfigjson")))
        return 0;
    const char *b64 = jstr(jget(secret, "data"), cfg ? ".dockercfg" : ".dockerconfigjson");
    if (!b64 || !*b64)
        return 0;
    size_t len = strlen(b64), n = 0;
    if (len > PULL_SECRET_MAX)
        return util_error_make(err, E2BIG, "pull secret larger than 1 MiB");
    cleanup_free unsigned char *buf = util_xmalloc(len + 1);
    if (mbedtls_base64_decode(buf, len + 1, &n, (const unsigned char *)b64, len) != 0)
        return util_error_make(err, EINVAL, "pull secret is not base64");
    return images_keyring_add(kr, (const char *)buf, n, cfg, err);
}

const char *kubelet_image_pull_policy(const char *image, const char *policy)
{
    if (policy && *policy)
        return policy;
    images_ref_t ref;
    util_error_t err = NULL;
    if (!image || images_ref_parse(image, &ref, &err) < 0) {
        util_error_free(&err);
        return "IfNotPresent";
    }
    bool latest = ref.tag && !strcmp(ref.tag, "latest");
    images_ref_free(&ref);
    return latest ? "Always" : "IfNotPresent";
}

bool kubelet_image_should_pull(const char *policy, bool present)
{
    if (!strcmp(policy, "Never"))
        return false;
    return !strcmp(policy, "Always") || !present;
}

int kubelet__pull(work_t *w, const char *ref, util_error_t *err)
{
    kpods_t *ps = w->ps;
    bool up_to_date = false;
    images_pull_opts_t po = {.registries = ps->k->registries, .ret_up_to_date = &up_to_date};
    images_keyring_t kr = {0};
    util_strv_t names = {0}, missing = {0};
    secret_names(w, &names);
    int r = 0;
    for (size_t i = 0; r == 0 && i < names.n; i++) {
        const cJSON *s = jget(jget(w->refs, "secrets"), names.v[i]);
        if (!s)
            util_strv_push(&missing, names.v[i]);
        else
            r = add_secret(&kr, s, err);
    }
    if (missing.n) {
        char list[512] = "";
        for (size_t i = 0; i < missing.n; i++)
            util_snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                          missing.v[i]);
        util_log_info("kubelet: pod %s/%s: unable to retrieve pull secret(s) %s, the image pull "
                      "may not succeed",
                      w->ns, w->name, list);
        kubelet__work_event(w, "Warning", "FailedToRetrieveImagePullSecret",
                            "Unable to retrieve some image pull secrets (%s); attempting to pull "
                            "the image may not succeed.",
                            list);
    }
    const images_cred_t **creds = NULL;
    size_t ncreds = 0;
    if (r == 0) {
        images_ref_t parsed;
        r = images_ref_parse(ref, &parsed, err);
        if (r == 0) {
            cleanup_free char *repo = images_ref_repository(&parsed);
            images_keyring_lookup(&kr, repo, &creds, &ncreds);
            images_ref_free(&parsed);
        }
    }
    if (r == 0 && ncreds == 0)
        r = images_pull(ps->images, ref, &po, NULL, NULL, NULL, err);
    /* upstream tries each matching credential; the errors of all are aggregated */
    util_buf_t errs = {0};
    int last = 0;
    for (size_t i = 0; r == 0 && i < ncreds; i++) {
        po.username = creds[i]->username;
        po.password = creds[i]->password;
        util_error_t e = NULL;
        last = images_pull(ps->images, ref, &po, NULL, NULL, NULL, &e);
        if (last == 0)
            break;
        if (ncreds == 1) { /* the error as it is */
            *err = e;
            r = last;
            break;
        }
        char msg[512];
        util_error_text(e, msg, sizeof(msg));
        util_buf_printf(&errs, "%s%s", errs.len ? ", " : "", msg);
        util_error_free(&e);
    }
    if (r == 0 && ncreds > 1 && last < 0)
        r = util_error_make(err, -last, "[%s]", errs.data);
    if (r == 0 && up_to_date)
        util_log_info("kubelet: pod %s/%s: image %s is up to date at the registry", w->ns, w->name,
                      ref);
    util_buf_free(&errs);
    free(creds);
    images_keyring_clear(&kr);
    util_strv_clear(&names);
    util_strv_clear(&missing);
    return r;
}
