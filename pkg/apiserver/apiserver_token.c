/* apiserver_token: service account tokens (ES256 JWTs), TokenRequest and bearer authentication.
 * Semantics follow upstream's pkg/registry/core/serviceaccount/storage/token.go and
 * pkg/serviceaccount (claims, validation and error messages). */
#include "apiserver_token.h"

#include <errno.h>
#include <mbedtls/base64.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/psa_util.h>
#include <mbedtls/sha256.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver_object.h"
#include "apiserver_proto.h"
#include "apiserver_registry.h"

#define TOKEN_DEFAULT_SECONDS 3600
#define TOKEN_MIN_SECONDS     600
#define TOKEN_MAX_SECONDS     4294967296.0 /* 2^32, upstream's bound */
#define TOKEN_MAX_AUDIENCES   32
#define TOKEN_LEEWAY_SECONDS  60 /* clock skew allowed on exp and nbf, as upstream */

#define TOKEN_CACHE_SIZE 128 /* tokens whose signature was verified (ECDSA costs ~2 ms) */

typedef struct token_cache_entry {
    unsigned char digest[32]; /* sha256 of the token text */
    cJSON *claims;            /* NULL: empty slot */
} token_cache_entry_t;

struct apiserver_tokens {
    mbedtls_pk_context key;
    char kid[48];
    token_cache_entry_t cache[TOKEN_CACHE_SIZE];
    unsigned next; /* replaced next (round robin) */
};

/* ---- base64url ------------------------------------------------------------------------------ */

static void b64url_put(util_buf_t *b, const unsigned char *data, size_t len)
{
    size_t n = 0;
    mbedtls_base64_encode(NULL, 0, &n, data, len);
    char *tmp = util_xmalloc(n + 1);
    if (mbedtls_base64_encode((unsigned char *)tmp, n + 1, &n, data, len) != 0)
        n = 0;
    for (size_t i = 0; i < n; i++) {
        if (tmp[i] == '=')
            break;
        util_buf_append(b, tmp[i] == '+' ? "-" : tmp[i] == '/' ? "_" : &tmp[i], 1);
    }
    free(tmp);
}

/* Decodes unpadded base64url; NULL when malformed. */
static unsigned char *b64url_decode(const char *s, size_t len, size_t *out_len)
{
    if (len > APISERVER_TOKEN_MAX || len % 4 == 1)
        return NULL;
    size_t padded = (len + 3) / 4 * 4;
    unsigned char *tmp = util_xmalloc(padded + 1);
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '+' || ch == '/' || ch == '=') { /* only the URL alphabet, no padding */
            free(tmp);
            return NULL;
        }
        tmp[i] = (unsigned char)(ch == '-' ? '+' : ch == '_' ? '/' : ch);
    }
    for (size_t i = len; i < padded; i++)
        tmp[i] = '=';
    unsigned char *out = util_xmalloc(padded / 4 * 3 + 1);
    size_t n = 0;
    int r = mbedtls_base64_decode(out, padded / 4 * 3 + 1, &n, tmp, padded);
    free(tmp);
    if (r != 0) {
        free(out);
        return NULL;
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

/* ---- JWT ------------------------------------------------------------------------------------ */

int apiserver_jwt_kid(mbedtls_pk_context *key, char out[48])
{
    unsigned char der[256], sum[32];
    int n = mbedtls_pk_write_pubkey_der(key, der, sizeof(der));
    if (n <= 0)
        return -1;
    mbedtls_sha256(der + sizeof(der) - n, (size_t)n, sum, 0);
    util_buf_t b = {0};
    b64url_put(&b, sum, sizeof(sum));
    util_strlcpy(out, b.data ? b.data : "", 48);
    util_buf_free(&b);
    return 0;
}

char *apiserver_jwt_sign(mbedtls_pk_context *key, mbedtls_ctr_drbg_context *drbg, const char *kid,
                         const cJSON *claims)
{
    char *payload = cJSON_PrintUnformatted(claims);
    if (!payload)
        return NULL;
    util_buf_t b = {0}, header = {0};
    util_buf_puts(&header, "{\"alg\":\"ES256\",\"kid\":");
    util_buf_json_string(&header, kid, strlen(kid));
    util_buf_puts(&header, "}");
    b64url_put(&b, (const unsigned char *)header.data, header.len);
    util_buf_puts(&b, ".");
    b64url_put(&b, (const unsigned char *)payload, strlen(payload));
    util_buf_free(&header);
    free(payload);

    unsigned char sum[32], der[MBEDTLS_ECDSA_MAX_LEN], raw[64];
    size_t der_len = 0, raw_len = 0;
    mbedtls_sha256((const unsigned char *)b.data, b.len, sum, 0);
    if (mbedtls_pk_sign(key, MBEDTLS_MD_SHA256, sum, sizeof(sum), der, sizeof(der), &der_len,
                        mbedtls_ctr_drbg_random, drbg) != 0 ||
        mbedtls_ecdsa_der_to_raw(256, der, der_len, raw, sizeof(raw), &raw_len) != 0 ||
        raw_len != sizeof(raw)) {
        util_buf_free(&b);
        return NULL;
    }
    util_buf_puts(&b, ".");
    b64url_put(&b, raw, raw_len);
    return b.data; /* NUL-terminated by util_buf */
}

cJSON *apiserver_jwt_verify(mbedtls_pk_context *key, const char *token, size_t len)
{
    if (!token || len == 0 || len > APISERVER_TOKEN_MAX || memchr(token, '\0', len))
        return NULL;
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return NULL;
    size_t hlen = 0, plen = 0, slen = 0;
    unsigned char *h = b64url_decode(token, (size_t)(dot1 - token), &hlen);
    cJSON *header = h ? cJSON_ParseWithLength((const char *)h, hlen) : NULL;
    free(h);
    const char *alg = apiserver_obj_string(header, "alg");
    bool es256 = alg && !strcmp(alg, "ES256");
    cJSON_Delete(header);
    if (!es256)
        return NULL;
    unsigned char *sig = b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), &slen);
    unsigned char sum[32], der[MBEDTLS_ECDSA_MAX_LEN];
    size_t der_len = 0;
    mbedtls_sha256((const unsigned char *)token, (size_t)(dot2 - token), sum, 0);
    bool ok = sig && slen == 64 &&
              mbedtls_ecdsa_raw_to_der(256, sig, slen, der, sizeof(der), &der_len) == 0 &&
              mbedtls_pk_verify(key, MBEDTLS_MD_SHA256, sum, sizeof(sum), der, der_len) == 0;
    free(sig);
    if (!ok)
        return NULL;
    unsigned char *p = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &plen);
    cJSON *claims = p ? cJSON_ParseWithLength((const char *)p, plen) : NULL;
    free(p);
    if (!cJSON_IsObject(claims)) {
        cJSON_Delete(claims);
        return NULL;
    }
    return claims;
}

/* ---- server lifetime ------------------------------------------------------------------------ */

int apiserver_tokens_init(apiserver_t *a, const char *key_pem, util_error_t *err)
{
    struct apiserver_tokens *t = util_xcalloc(1, sizeof(*t));
    mbedtls_pk_init(&t->key);
    int ret = mbedtls_pk_parse_key(&t->key, (const unsigned char *)key_pem, strlen(key_pem) + 1,
                                   NULL, 0, mbedtls_ctr_drbg_random, &a->drbg);
    if (ret == 0 && apiserver_jwt_kid(&t->key, t->kid) < 0)
        ret = -1;
    if (ret != 0) {
        mbedtls_pk_free(&t->key);
        free(t);
        return util_error_make(err, EINVAL, "service account key: mbedTLS error -0x%04x", -ret);
    }
    a->tokens = t;
    return 0;
}

void apiserver_tokens_free(apiserver_t *a)
{
    if (!a->tokens)
        return;
    for (size_t i = 0; i < TOKEN_CACHE_SIZE; i++)
        cJSON_Delete(a->tokens->cache[i].claims);
    mbedtls_pk_free(&a->tokens->key);
    free(a->tokens);
    a->tokens = NULL;
}

/* ---- authentication ------------------------------------------------------------------------- */

/* The stored object at (resource, ns, name), parsed; NULL when absent or unreadable. */
static cJSON *read_object(apiserver_conn_t *c, const char *plural, const char *ns, const char *name)
{
    const apiserver_resource_t *r = apiserver_resource_find("", "v1", plural);
    if (!r || !ns || !name || !name[0])
        return NULL;
    char key[1024];
    apiserver_registry_key(r, ns, name, key, sizeof(key));
    store_kv_t *kv = NULL;
    cleanup_error util_error_t err = NULL;
    if (store_get(c->srv->opts.store, key, strlen(key), 0, &kv, NULL, &err) < 0)
        return NULL;
    cJSON *obj = cJSON_ParseWithLength(kv->value, kv->value_len);
    free(kv);
    return obj;
}

/* The object exists, is not being deleted, and has the uid the token names. */
static bool object_current(apiserver_conn_t *c, const char *plural, const char *ns,
                           const cJSON *ref)
{
    const char *name = apiserver_obj_string(ref, "name"), *uid = apiserver_obj_string(ref, "uid");
    cJSON *obj = read_object(c, plural, ns, name);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const char *have = apiserver_obj_string(meta, "uid");
    bool ok = obj && uid && have && !strcmp(uid, have) &&
              !cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp");
    cJSON_Delete(obj);
    return ok;
}

static bool audience_accepted(const cJSON *aud)
{
    if (cJSON_IsString(aud))
        return !strcmp(aud->valuestring, APISERVER_TOKEN_AUDIENCE);
    const cJSON *a;
    cJSON_ArrayForEach(a, aud)
    {
        if (cJSON_IsString(a) && !strcmp(a->valuestring, APISERVER_TOKEN_AUDIENCE))
            return true;
    }
    return false;
}

/* The claims of a token whose signature checks out (a copy), from the cache when it was
 * verified before; times, audiences and objects are checked on every use. */
static cJSON *verified_claims(struct apiserver_tokens *t, const char *token, size_t len)
{
    unsigned char digest[32];
    mbedtls_sha256((const unsigned char *)token, len, digest, 0);
    for (size_t i = 0; i < TOKEN_CACHE_SIZE; i++)
        if (t->cache[i].claims && !memcmp(t->cache[i].digest, digest, sizeof(digest)))
            return cJSON_Duplicate(t->cache[i].claims, true);
    cJSON *claims = apiserver_jwt_verify(&t->key, token, len);
    if (!claims)
        return NULL;
    token_cache_entry_t *e = &t->cache[t->next++ % TOKEN_CACHE_SIZE];
    cJSON_Delete(e->claims);
    memcpy(e->digest, digest, sizeof(digest));
    e->claims = cJSON_Duplicate(claims, true);
    return claims;
}

int apiserver_token_authenticate(apiserver_conn_t *c, const char *token, apiserver_user_t *user)
{
    if (!c->srv->tokens || !c->srv->opts.store)
        return -1;
    while (*token == ' ')
        token++;
    cJSON *claims = verified_claims(c->srv->tokens, token, strnlen(token, 1 << 16));
    if (!claims)
        return -1;
    double now = (double)time(NULL);
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
    const cJSON *nbf = cJSON_GetObjectItemCaseSensitive(claims, "nbf");
    const char *iss = apiserver_obj_string(claims, "iss");
    const cJSON *k8s = cJSON_GetObjectItemCaseSensitive(claims, "kubernetes.io");
    const char *ns = apiserver_obj_string(k8s, "namespace");
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(k8s, "serviceaccount");
    const cJSON *pod = cJSON_GetObjectItemCaseSensitive(k8s, "pod");
    const cJSON *secret = cJSON_GetObjectItemCaseSensitive(k8s, "secret");
    const char *sa_name = apiserver_obj_string(sa, "name");
    bool ok = cJSON_IsNumber(exp) && exp->valuedouble + TOKEN_LEEWAY_SECONDS > now &&
              (!nbf || (cJSON_IsNumber(nbf) && nbf->valuedouble - TOKEN_LEEWAY_SECONDS <= now)) &&
              iss && !strcmp(iss, APISERVER_TOKEN_ISSUER) &&
              audience_accepted(cJSON_GetObjectItemCaseSensitive(claims, "aud")) && ns && sa_name &&
              object_current(c, "serviceaccounts", ns, sa) &&
              (!pod || object_current(c, "pods", ns, pod)) &&
              (!secret || object_current(c, "secrets", ns, secret));
    if (ok) {
        user->name = util_strdup_printf("system:serviceaccount:%s:%s", ns, sa_name);
        util_strv_push(&user->groups, "system:serviceaccounts");
        char group[320];
        snprintf(group, sizeof(group), "system:serviceaccounts:%s", ns);
        util_strv_push(&user->groups, group);
        util_strv_push(&user->groups, "system:authenticated");
    }
    cJSON_Delete(claims);
    return ok ? 0 : -1;
}

/* ---- TokenRequest --------------------------------------------------------------------------- */

static void token_invalid(apiserver_conn_t *c, const char *field, const char *value,
                          const char *detail)
{
    util_buf_t m = {0}, d = {0};
    util_buf_printf(&m,
                    "TokenRequest.authentication.k8s.io \"\" is invalid: %s: Invalid value: %s: "
                    "%s",
                    field, value, detail);
    util_buf_puts(&d, "{\"group\":\"authentication.k8s.io\",\"kind\":\"TokenRequest\",\"causes\":"
                      "[{\"reason\":\"FieldValueInvalid\",\"message\":");
    char *cause = util_strdup_printf("Invalid value: %s: %s", value, detail);
    util_buf_json_string(&d, cause, strlen(cause));
    free(cause);
    util_buf_puts(&d, ",\"field\":");
    util_buf_json_string(&d, field, strlen(field));
    util_buf_puts(&d, "}]}");
    apiserver__respond_status_ex(c, 422, "Invalid", m.data, d.data, NULL);
    util_buf_free(&m);
    util_buf_free(&d);
}

static void rfc3339(time_t t, char out[21])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Checks spec.boundObjectRef against the store; fills its uid. Answers and returns -1 when
 * the reference cannot be honoured. claims_k8s gets the pod/secret claim. */
static int bind_object(apiserver_conn_t *c, const apiserver_target_t *t, cJSON *ref,
                       cJSON *claims_k8s)
{
    const char *kind = apiserver_obj_string(ref, "kind");
    const char *api = apiserver_obj_string(ref, "apiVersion");
    const char *name = apiserver_obj_string(ref, "name");
    bool core = !api || !strcmp(api, "v1");
    const char *plural = !core                     ? NULL
                         : !kind                   ? NULL
                         : !strcmp(kind, "Pod")    ? "pods"
                         : !strcmp(kind, "Secret") ? "secrets"
                                                   : NULL;
    if (!plural) {
        char msg[300];
        snprintf(msg, sizeof(msg), "cannot bind token to object of type %s%s%s", api ? api : "",
                 api ? ", Kind=" : "Kind=", kind ? kind : "");
        apiserver_status_bad_request(c, msg);
        return -1;
    }
    const apiserver_resource_t *r = apiserver_resource_find("", "v1", plural);
    cJSON *obj = read_object(c, plural, t->ns, name);
    if (!obj) {
        apiserver_status_not_found(c, r, name ? name : "");
        return -1;
    }
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const char *uid = apiserver_obj_string(meta, "uid");
    if (!strcmp(plural, "pods")) {
        const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
        const char *sa = apiserver_obj_string(spec, "serviceAccountName");
        if (strcmp(sa && sa[0] ? sa : "default", t->name)) {
            char msg[400];
            snprintf(msg, sizeof(msg),
                     "cannot bind token for serviceaccount \"%s\" to pod running with different "
                     "serviceaccount name.",
                     t->name);
            cJSON_Delete(obj);
            apiserver_status_bad_request(c, msg);
            return -1;
        }
    }
    const char *want = apiserver_obj_string(ref, "uid");
    if (want && want[0] && (!uid || strcmp(want, uid))) {
        char msg[600];
        snprintf(msg, sizeof(msg),
                 "Operation cannot be fulfilled on %s \"%s\": the UID in the bound object "
                 "reference (%s) does not match the UID in record. The object might have been "
                 "deleted and then recreated",
                 kind, name, want);
        cJSON_Delete(obj);
        apiserver__respond_status(c, 409, "Conflict", msg);
        return -1;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(ref, "uid");
    cJSON_AddStringToObject(ref, "uid", uid ? uid : "");
    cJSON *claim = cJSON_AddObjectToObject(claims_k8s, !strcmp(plural, "pods") ? "pod" : "secret");
    cJSON_AddStringToObject(claim, "name", name);
    cJSON_AddStringToObject(claim, "uid", uid ? uid : "");
    cJSON_Delete(obj);
    return 0;
}

/* spec.audiences: strings only, at most TOKEN_MAX_AUDIENCES; empty means the API's own. */
static cJSON *audiences_of(const cJSON *spec)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(spec, "audiences");
    cJSON *out = cJSON_CreateArray();
    const cJSON *a;
    int n = 0;
    cJSON_ArrayForEach(a, in)
    {
        if (!cJSON_IsString(a) || ++n > TOKEN_MAX_AUDIENCES) {
            cJSON_Delete(out);
            return NULL;
        }
        cJSON_AddItemToArray(out, cJSON_CreateString(a->valuestring));
    }
    if (n == 0)
        cJSON_AddItemToArray(out, cJSON_CreateString(APISERVER_TOKEN_AUDIENCE));
    return out;
}

void apiserver_token_request(apiserver_conn_t *c, const apiserver_target_t *t)
{
    if (strcmp(c->req.method, "POST")) {
        apiserver__respond_status(c, 405, "MethodNotAllowed",
                                  "the server does not allow this method on the requested "
                                  "resource");
        return;
    }
    /* kubectl sends TokenRequests as protobuf */
    const char *ct = apiserver__header(&c->req, "content-type");
    char perr[256] = "the body of a TokenRequest must be a JSON object";
    cJSON *req =
        ct && !strncmp(ct, APISERVER_PROTO_CONTENT_TYPE, strlen(APISERVER_PROTO_CONTENT_TYPE))
            ? apiserver_proto_decode(c->req.body.data, c->req.body.len, perr, sizeof(perr))
            : cJSON_ParseWithLength(c->req.body.data ? c->req.body.data : "", c->req.body.len);
    const char *kind = apiserver_obj_string(req, "kind");
    if (!cJSON_IsObject(req) || (kind && strcmp(kind, "TokenRequest"))) {
        if (kind)
            snprintf(perr, sizeof(perr), "the body must be a TokenRequest, not a %.64s", kind);
        cJSON_Delete(req);
        apiserver_status_bad_request(c, perr);
        return;
    }
    store_kv_t *kv = apiserver_reg_read_current(c, t);
    if (!kv) {
        cJSON_Delete(req);
        return;
    }
    cJSON *sa = cJSON_ParseWithLength(kv->value, kv->value_len);
    free(kv);
    const char *sa_uid =
        apiserver_obj_string(cJSON_GetObjectItemCaseSensitive(sa, "metadata"), "uid");
    char sa_uid_copy[64];
    util_strlcpy(sa_uid_copy, sa_uid ? sa_uid : "", sizeof(sa_uid_copy));
    cJSON_Delete(sa);

    cJSON *spec = cJSON_GetObjectItemCaseSensitive(req, "spec");
    if (!cJSON_IsObject(spec)) {
        cJSON_DeleteItemFromObjectCaseSensitive(req, "spec");
        spec = cJSON_AddObjectToObject(req, "spec");
    }
    const cJSON *es = cJSON_GetObjectItemCaseSensitive(spec, "expirationSeconds");
    double seconds = cJSON_IsNumber(es) ? es->valuedouble : TOKEN_DEFAULT_SECONDS;
    if (es && !cJSON_IsNumber(es) && !cJSON_IsNull(es)) {
        cJSON_Delete(req);
        apiserver_status_bad_request(c, "spec.expirationSeconds must be an integer");
        return;
    }
    char value[32];
    snprintf(value, sizeof(value), "%.0f", seconds);
    if (seconds < TOKEN_MIN_SECONDS || seconds > TOKEN_MAX_SECONDS) {
        cJSON_Delete(req);
        token_invalid(c, "spec.expirationSeconds", value,
                      seconds < TOKEN_MIN_SECONDS
                          ? "may not specify a duration less than 10 minutes"
                          : "may not specify a duration larger than 2^32 seconds");
        return;
    }
    cJSON *aud = audiences_of(spec);
    if (!aud) {
        cJSON_Delete(req);
        apiserver_status_bad_request(c, "spec.audiences must be a list of at most 32 strings");
        return;
    }
    time_t now = time(NULL), exp = now + (time_t)seconds;
    char jti[37];
    apiserver_obj_uuid(jti);
    cJSON *claims = cJSON_CreateObject();
    cJSON_AddItemToObject(claims, "aud", cJSON_Duplicate(aud, true));
    cJSON_AddNumberToObject(claims, "exp", (double)exp);
    cJSON_AddNumberToObject(claims, "iat", (double)now);
    cJSON_AddStringToObject(claims, "iss", APISERVER_TOKEN_ISSUER);
    cJSON_AddStringToObject(claims, "jti", jti);
    cJSON *k8s = cJSON_AddObjectToObject(claims, "kubernetes.io");
    cJSON_AddStringToObject(k8s, "namespace", t->ns);
    cJSON *ref = cJSON_GetObjectItemCaseSensitive(spec, "boundObjectRef");
    if (cJSON_IsObject(ref) && bind_object(c, t, ref, k8s) < 0) {
        cJSON_Delete(aud);
        cJSON_Delete(claims);
        cJSON_Delete(req);
        return;
    }
    cJSON *sa_claim = cJSON_AddObjectToObject(k8s, "serviceaccount");
    cJSON_AddStringToObject(sa_claim, "name", t->name);
    cJSON_AddStringToObject(sa_claim, "uid", sa_uid_copy);
    cJSON_AddNumberToObject(claims, "nbf", (double)now);
    char sub[600];
    snprintf(sub, sizeof(sub), "system:serviceaccount:%s:%s", t->ns, t->name);
    cJSON_AddStringToObject(claims, "sub", sub);
    char *token =
        apiserver_jwt_sign(&c->srv->tokens->key, &c->srv->drbg, c->srv->tokens->kid, claims);
    cJSON_Delete(claims);
    if (!token) {
        cJSON_Delete(aud);
        cJSON_Delete(req);
        apiserver__respond_status(c, 500, "InternalError", "signing the token failed");
        return;
    }

    /* The answer: the request with defaults filled and the status set. */
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "audiences");
    cJSON_AddItemToObject(spec, "audiences", aud);
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "expirationSeconds");
    cJSON_AddNumberToObject(spec, "expirationSeconds", seconds);
    if (!cJSON_IsObject(ref))
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "boundObjectRef");
    cJSON_DeleteItemFromObjectCaseSensitive(req, "kind");
    cJSON_DeleteItemFromObjectCaseSensitive(req, "apiVersion");
    cJSON_DeleteItemFromObjectCaseSensitive(req, "metadata");
    cJSON_DeleteItemFromObjectCaseSensitive(req, "status");
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "kind", "TokenRequest");
    cJSON_AddStringToObject(out, "apiVersion", "authentication.k8s.io/v1");
    cJSON *meta = cJSON_AddObjectToObject(out, "metadata");
    cJSON_AddStringToObject(meta, "name", t->name);
    cJSON_AddStringToObject(meta, "namespace", t->ns);
    char created[21], expires[21];
    apiserver_obj_now(created);
    cJSON_AddStringToObject(meta, "creationTimestamp", created);
    cJSON_AddItemToObject(out, "spec", cJSON_DetachItemFromObjectCaseSensitive(req, "spec"));
    cJSON *status = cJSON_AddObjectToObject(out, "status");
    cJSON_AddStringToObject(status, "token", token);
    rfc3339(exp, expires);
    cJSON_AddStringToObject(status, "expirationTimestamp", expires);
    mbedtls_platform_zeroize(token, strlen(token));
    free(token);
    cJSON_Delete(req);
    apiserver_reg_respond_object(c, 201, out);
    cJSON_Delete(out);
}
