/* apiserver_token: service account tokens (internal to pkg/apiserver).
 *
 * Tokens are ES256 JSON Web Tokens signed with <data-dir>/server/tls/service.key, with upstream's
 * bound-token claims (iss, sub, aud, exp, iat, nbf, jti, kubernetes.io{namespace,
 * serviceaccount, pod|secret}). POST serviceaccounts/<name>/token issues one (TokenRequest);
 * a request carrying `Authorization: Bearer <token>` and no client certificate is authenticated
 * as system:serviceaccount:<ns>:<name> while the service account (and the bound object) still
 * exist with the uids the token names. */
#ifndef KUBELING_APISERVER_TOKEN_H
#define KUBELING_APISERVER_TOKEN_H

#include <cjson/cJSON.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/pk.h>
#include <stdint.h>

#include "apiserver_internal.h"

#define APISERVER_TOKEN_ISSUER   "https://kubernetes.default.svc.cluster.local"
#define APISERVER_TOKEN_AUDIENCE "https://kubernetes.default.svc.cluster.local"
#define APISERVER_TOKEN_MAX      8192 /* bytes of a bearer token we look at */

/* Signs claims (a JSON object) as an ES256 JWT with kid; returns the token or NULL. */
char *apiserver_jwt_sign(mbedtls_pk_context *key, mbedtls_ctr_drbg_context *drbg, const char *kid,
                         const cJSON *claims);
/* Checks the token's form, algorithm (ES256 only) and signature; returns its claims (owned)
 * or NULL. Times and audiences are the caller's to check. */
cJSON *apiserver_jwt_verify(mbedtls_pk_context *key, const char *token, size_t len);
/* Upstream's key id: unpadded base64url of sha256 of the public key's DER (PKIX) form. */
int apiserver_jwt_kid(mbedtls_pk_context *key, char out[48]);

/* Server lifetime: parses the signing key. */
int apiserver_tokens_init(apiserver_t *a, const char *key_pem, util_error_t *err);
void apiserver_tokens_free(apiserver_t *a);

/* A bearer token's user (filled) or -1 when the token does not authenticate. */
int apiserver_token_authenticate(apiserver_conn_t *c, const char *token, apiserver_user_t *user);

struct apiserver_target;
/* POST .../serviceaccounts/<name>/token */
void apiserver_token_request(apiserver_conn_t *c, const struct apiserver_target *t);

#endif
