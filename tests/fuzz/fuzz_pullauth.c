/* fuzz_pullauth: libFuzzer target for registry credentials and configuration, which come from
 * API objects and files: the input as a .dockerconfigjson and a .dockercfg payload (then
 * looked up), as registries.yaml (YAML decoded, parsed, endpoints computed for a few
 * references), and split at its first NUL into a credential glob and a repository. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "images/images.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void lookups(const images_keyring_t *kr)
{
    static const char *const repos[] = {"docker.io/library/busybox", "127.0.0.1:5000/a/b",
                                        "a.example.com/x", "[::1]:5000/y"};
    for (size_t i = 0; i < sizeof(repos) / sizeof(repos[0]); i++) {
        const images_cred_t **v = NULL;
        size_t n = 0;
        images_keyring_lookup(kr, repos[i], &v, &n);
        for (size_t j = 0; j < n; j++)
            if (!v[j]->username || !v[j]->password)
                abort();
        free(v);
    }
}

static void endpoints(const images_registries_t *rg)
{
    static const char *const refs[] = {"busybox", "quay.io/org/app:v1",
                                       "127.0.0.1:5000/a/b@sha256:"
                                       "0000000000000000000000000"
                                       "000000000000000000000000"
                                       "000000000000000"};
    for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
        images_ref_t ref;
        util_error_t err = NULL;
        if (images_ref_parse(refs[i], &ref, &err) < 0) {
            util_error_free(&err);
            continue;
        }
        images_endpoint_t *v = NULL;
        size_t n = 0;
        if (images_registries_endpoints(rg, &ref, i == 1, &v, &n, &err) == 0) {
            if (n == 0 || v[n - 1].is_mirror)
                abort(); /* the registry itself is always last */
            images_endpoints_free(v, n);
        }
        util_error_free(&err);
        images_ref_free(&ref);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    for (int cfg = 0; cfg < 2; cfg++) {
        images_keyring_t kr = {0};
        util_error_t err = NULL;
        if (images_keyring_add(&kr, text, size, cfg, &err) < 0) {
            if (kr.n != 0)
                abort(); /* a refused payload leaves nothing */
            util_error_free(&err);
        }
        lookups(&kr);
        images_keyring_clear(&kr);
    }

    cJSON *doc = NULL;
    util_error_t err = NULL;
    if (client_yaml_parse(text, size, &doc, &err) == 0) {
        images_registries_t *rg = NULL;
        if (images_registries_parse(doc, &rg, &err) == 0)
            endpoints(rg);
        images_registries_free(rg);
    }
    util_error_free(&err);
    cJSON_Delete(doc);

    const uint8_t *nul = memchr(data, 0, size);
    if (nul && size < 4096) {
        char *glob = strndup(text, (size_t)(nul - data));
        char *target = strndup((const char *)nul + 1, size - (size_t)(nul - data) - 1);
        images_url_glob_match(glob, target);
        free(glob);
        free(target);
    }
    return 0;
}
