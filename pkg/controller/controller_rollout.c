/* controller_rollout: Deployment arithmetic (upstream pkg/controller/deployment/util): maxSurge
 * and maxUnavailable from IntOrString, how far the new ReplicaSet may grow and the old ones
 * shrink, and the pod-template-hash. */
#include "controller/controller.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int controller_scaled_value(const cJSON *v, int64_t total, bool round_up, const char *def,
                            int64_t *ret, util_error_t *err)
{
    const char *s = def;
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble < 0 || v->valuedouble > 1e12)
            return util_error_make(err, EINVAL, "invalid value %g", v->valuedouble);
        *ret = (int64_t)v->valuedouble;
        return 0;
    }
    if (cJSON_IsString(v))
        s = v->valuestring;
    else if (v && !cJSON_IsNull(v))
        return util_error_make(err, EINVAL, "invalid type for IntOrString");
    size_t len = strlen(s);
    char *end = NULL;
    errno = 0;
    long long p = strtoll(s, &end, 10);
    if (len < 2 || s[len - 1] != '%' || end != s + len - 1 || errno || p < 0 || p > 1000000)
        return util_error_make(err, EINVAL, "invalid value for IntOrString: invalid value \"%s\"",
                               s);
    int64_t num = p * total;
    *ret = round_up ? (num + 99) / 100 : num / 100;
    return 0;
}

int controller_fenceposts(const cJSON *max_surge, const cJSON *max_unavailable, int64_t replicas,
                          int64_t *surge, int64_t *unavailable, util_error_t *err)
{
    int rc = controller_scaled_value(max_surge, replicas, true, "25%", surge, err);
    if (rc == 0)
        rc = controller_scaled_value(max_unavailable, replicas, false, "25%", unavailable, err);
    if (rc < 0)
        return rc;
    if (*surge == 0 && *unavailable == 0)
        *unavailable = 1;
    return 0;
}

/* Canonical JSON: object keys sorted, so equal templates hash equally. */
void controller_canonical_json(util_buf_t *b, const cJSON *v)
{
    if (cJSON_IsObject(v)) {
        size_t n = (size_t)cJSON_GetArraySize(v), k = 0;
        const cJSON **items = util_xcalloc(n ? n : 1, sizeof(*items));
        for (const cJSON *c = v->child; c && k < n; c = c->next)
            items[k++] = c;
        for (size_t i = 1; i < k; i++) /* insertion sort: objects are small */
            for (size_t j = i; j > 0 && strcmp(items[j - 1]->string, items[j]->string) > 0; j--) {
                const cJSON *t = items[j];
                items[j] = items[j - 1];
                items[j - 1] = t;
            }
        util_buf_append(b, "{", 1);
        for (size_t i = 0; i < k; i++) {
            if (i)
                util_buf_append(b, ",", 1);
            cJSON *key = cJSON_CreateString(items[i]->string);
            char *ks = cJSON_PrintUnformatted(key);
            util_buf_append(b, ks, strlen(ks));
            cJSON_free(ks);
            cJSON_Delete(key);
            util_buf_append(b, ":", 1);
            controller_canonical_json(b, items[i]);
        }
        util_buf_append(b, "}", 1);
        free(items);
    } else if (cJSON_IsArray(v)) {
        util_buf_append(b, "[", 1);
        const cJSON *c;
        bool first = true;
        cJSON_ArrayForEach(c, v)
        {
            if (!first)
                util_buf_append(b, ",", 1);
            first = false;
            controller_canonical_json(b, c);
        }
        util_buf_append(b, "]", 1);
    } else {
        char *s = cJSON_PrintUnformatted(v);
        if (s) {
            util_buf_append(b, s, strlen(s));
            cJSON_free(s);
        }
    }
}

void controller_template_hash(const cJSON *tmpl, int64_t collision_count, char out[16])
{
    util_buf_t b = {0};
    controller_canonical_json(&b, tmpl);
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < b.len; i++)
        h = (h ^ (unsigned char)b.data[i]) * 16777619u;
    util_buf_free(&b);
    if (collision_count > 0) { /* upstream writes 8 bytes: the uint32 count, little-endian */
        uint32_t c = (uint32_t)collision_count;
        for (int i = 0; i < 8; i++)
            h = (h ^ (i < 4 ? (c >> (8 * i)) & 0xff : 0)) * 16777619u;
    }
    /* rand.SafeEncodeString(fmt.Sprint(sum)): each byte mapped into a vowel-free alphabet */
    static const char alnum[] = "bcdf"
                                "ghjklmnpqrstvwxz2456789";
    char dec[16];
    int n = snprintf(dec, sizeof(dec), "%u", h);
    for (int i = 0; i < n; i++)
        out[i] = alnum[(unsigned char)dec[i] % (sizeof(alnum) - 1)];
    out[n] = 0;
}

int64_t controller_new_rs_replicas(int64_t replicas, int64_t surge, int64_t total,
                                   int64_t new_rs_replicas)
{
    int64_t max_total = replicas + surge;
    if (total >= max_total)
        return new_rs_replicas;
    int64_t up = max_total - total;
    if (up > replicas - new_rs_replicas)
        up = replicas - new_rs_replicas;
    if (up < 0)
        up = 0;
    return new_rs_replicas + up;
}

int64_t controller_max_scaled_down(int64_t replicas, int64_t unavailable, int64_t all_pods,
                                   int64_t new_rs_replicas, int64_t new_rs_available)
{
    int64_t min_available = replicas - unavailable;
    int64_t new_unavailable = new_rs_replicas - new_rs_available;
    return all_pods - min_available - new_unavailable;
}
