/* test_apiserver_token: ES256 JSON Web Tokens for service accounts: signing, verification,
 * key ids, and refusal of every malformed or tampered form. */
#include "unit.h"
#include "apiserver/apiserver_token.h"

#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <string.h>

static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static mbedtls_pk_context key, other;

static void gen(mbedtls_pk_context *k)
{
    mbedtls_pk_init(k);
    assert_int_equal(mbedtls_pk_setup(k, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
    assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*k),
                                         mbedtls_ctr_drbg_random, &drbg),
                     0);
}

static int setup(void **state)
{
    (void)state;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0) != 0)
        return -1;
    gen(&key);
    gen(&other);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mbedtls_pk_free(&key);
    mbedtls_pk_free(&other);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    return 0;
}

static char *sign_claims(const char *json)
{
    cJSON *claims = cJSON_Parse(json);
    assert_non_null(claims);
    char *tok = apiserver_jwt_sign(&key, &drbg, "kid-1", claims);
    cJSON_Delete(claims);
    assert_non_null(tok);
    return tok;
}

static void test_sign_then_verify_round_trips_claims(void **state)
{
    (void)state;
    char *tok = sign_claims("{\"sub\":\"system:serviceaccount:default:robot\",\"exp\":99}");
    /* three base64url parts, no padding, no characters outside the URL alphabet */
    assert_null(strpbrk(tok, "+/= "));
    size_t dots = 0;
    for (const char *p = tok; *p; p++)
        dots += *p == '.';
    assert_int_equal(dots, 2);
    cJSON *c = apiserver_jwt_verify(&key, tok, strlen(tok));
    assert_non_null(c);
    assert_string_equal(cJSON_GetObjectItem(c, "sub")->valuestring,
                        "system:serviceaccount:default:robot");
    assert_int_equal(cJSON_GetObjectItem(c, "exp")->valueint, 99);
    cJSON_Delete(c);
    /* another key does not verify it */
    assert_null(apiserver_jwt_verify(&other, tok, strlen(tok)));
    free(tok);
}

static void test_every_single_byte_change_is_refused(void **state)
{
    (void)state;
    char *tok = sign_claims("{\"sub\":\"a\"}");
    size_t n = strlen(tok);
    for (size_t i = 0; i < n; i++) {
        char saved = tok[i];
        tok[i] = saved == 'A' ? 'B' : 'A';
        cJSON *c = apiserver_jwt_verify(&key, tok, n);
        /* base64 has a few "don't care" low bits in the last character of a part */
        bool last_of_part = i + 1 == n || tok[i + 1] == '.';
        if (!last_of_part)
            assert_null(c);
        cJSON_Delete(c);
        tok[i] = saved;
    }
    free(tok);
}

static void test_malformed_tokens_are_refused(void **state)
{
    (void)state;
    char *tok = sign_claims("{\"sub\":\"a\"}");
    const char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    char buf[4096];
    /* alg none with the valid payload and no signature */
    snprintf(buf, sizeof(buf), "eyJhbGciOiJub25lIn0.%.*s.", (int)(dot2 - dot1 - 1), dot1 + 1);
    assert_null(apiserver_jwt_verify(&key, buf, strlen(buf)));
    /* HS256 header over the same payload and signature */
    snprintf(buf, sizeof(buf), "eyJhbGciOiJIUzI1NiJ9%s", dot1);
    assert_null(apiserver_jwt_verify(&key, buf, strlen(buf)));
    /* four parts, two parts, empty, padding, standard alphabet, NUL inside */
    snprintf(buf, sizeof(buf), "%s.x", tok);
    assert_null(apiserver_jwt_verify(&key, buf, strlen(buf)));
    assert_null(apiserver_jwt_verify(&key, tok, (size_t)(dot2 - tok)));
    assert_null(apiserver_jwt_verify(&key, "", 0));
    assert_null(apiserver_jwt_verify(&key, "..", 2));
    snprintf(buf, sizeof(buf), "%s=", tok);
    assert_null(apiserver_jwt_verify(&key, buf, strlen(buf)));
    snprintf(buf, sizeof(buf), "%s", tok);
    buf[5] = '+';
    assert_null(apiserver_jwt_verify(&key, buf, strlen(buf)));
    buf[5] = '\0';
    assert_null(apiserver_jwt_verify(&key, buf, strlen(tok)));
    /* a signature that is valid DER-wise but of the wrong raw length */
    snprintf(buf, sizeof(buf), "%.*sAAAA", (int)(dot2 - tok + 1), tok);
    assert_null(apiserver_jwt_verify(&key, buf, strlen(buf)));
    /* over the size limit */
    char *big = malloc(APISERVER_TOKEN_MAX + 2);
    memset(big, 'A', APISERVER_TOKEN_MAX + 1);
    big[APISERVER_TOKEN_MAX + 1] = '\0';
    assert_null(apiserver_jwt_verify(&key, big, APISERVER_TOKEN_MAX + 1));
    free(big);
    free(tok);
}

static void test_payload_must_be_an_object(void **state)
{
    (void)state;
    cJSON *arr = cJSON_CreateArray();
    char *tok = apiserver_jwt_sign(&key, &drbg, "k", arr);
    cJSON_Delete(arr);
    assert_non_null(tok);
    assert_null(apiserver_jwt_verify(&key, tok, strlen(tok)));
    free(tok);
}

static void test_kid_is_stable_per_key_and_differs_between_keys(void **state)
{
    (void)state;
    char a[48], b[48], c[48];
    assert_int_equal(apiserver_jwt_kid(&key, a), 0);
    assert_int_equal(apiserver_jwt_kid(&key, b), 0);
    assert_int_equal(apiserver_jwt_kid(&other, c), 0);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 43); /* 32 bytes, unpadded base64url */
    assert_null(strpbrk(a, "+/="));
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_then_verify_round_trips_claims),
        cmocka_unit_test(test_every_single_byte_change_is_refused),
        cmocka_unit_test(test_malformed_tokens_are_refused),
        cmocka_unit_test(test_payload_must_be_an_object),
        cmocka_unit_test(test_kid_is_stable_per_key_and_differs_between_keys),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
