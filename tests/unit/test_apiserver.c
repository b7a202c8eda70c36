/* test_apiserver: the apiserver PKI (CA, serving and admin certificates, admin.kubeconfig). */
#include "unit.h"
#include "apiserver/apiserver_pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/psa_util.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#define EXTRA_DNS "api.example.test"
#define EXTRA_IP  "192.0.2.10"

typedef struct fixture {
    char *dir;
    const char *sans[3];
    apiserver_pki_opts_t opts;
    apiserver_pki_t pki;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    f->dir = unit_tmpdir();
    f->sans[0] = EXTRA_DNS;
    f->sans[1] = EXTRA_IP;
    f->opts.data_dir = f->dir;
    f->opts.tls_sans = f->sans;
    f->opts.n_tls_sans = 2;
    f->opts.kubeconfig_server = "https://127.0.0.1:6443";
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    apiserver_pki_free(&f->pki);
    unit_rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static int ensure(fixture_t *f, util_error_t *err)
{
    apiserver_pki_free(&f->pki);
    return apiserver_pki_ensure(&f->opts, &f->pki, err);
}

static void ensure_ok(fixture_t *f)
{
    cleanup_error util_error_t err = NULL;
    if (ensure(f, &err) < 0)
        fail_msg("apiserver_pki_ensure: %s", err->msg);
    assert_non_null(f->pki.ca_cert_pem);
    assert_non_null(f->pki.serving_cert_pem);
    assert_non_null(f->pki.serving_key_pem);
}

static const char *tls_path(fixture_t *f, const char *name)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/server/tls/%s", f->dir, name);
    return path;
}

static char *slurp(const char *path)
{
    cleanup_error util_error_t err = NULL;
    char *data = NULL;
    if (util_read_file(path, 1 << 20, &data, NULL, &err) < 0)
        fail_msg("%s", err->msg);
    return data;
}

static void spit(const char *path, const char *data)
{
    cleanup_error util_error_t err = NULL;
    if (util_write_file_atomic(path, data, strlen(data), 0644, &err) < 0)
        fail_msg("%s", err->msg);
}

static mode_t file_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static void parse_crt(mbedtls_x509_crt *crt, const char *pem)
{
    mbedtls_x509_crt_init(crt);
    assert_int_equal(mbedtls_x509_crt_parse(crt, (const unsigned char *)pem, strlen(pem) + 1), 0);
}

static void parse_crt_file(mbedtls_x509_crt *crt, const char *path)
{
    char *pem = slurp(path);
    parse_crt(crt, pem);
    free(pem);
}

static bool crt_has_san(const mbedtls_x509_crt *crt, int type, const void *data, size_t len)
{
    for (const mbedtls_x509_sequence *c = &crt->subject_alt_names; c && c->buf.p; c = c->next)
        if ((c->buf.tag & MBEDTLS_ASN1_TAG_VALUE_MASK) == type && c->buf.len == len &&
            memcmp(c->buf.p, data, len) == 0)
            return true;
    return false;
}

static bool crt_has_ip(const mbedtls_x509_crt *crt, const char *ip)
{
    unsigned char b[4];
    assert_int_equal(inet_pton(AF_INET, ip, b), 1);
    return crt_has_san(crt, MBEDTLS_X509_SAN_IP_ADDRESS, b, 4);
}

static bool crt_has_dns(const mbedtls_x509_crt *crt, const char *dns)
{
    return crt_has_san(crt, MBEDTLS_X509_SAN_DNS_NAME, dns, strlen(dns));
}

static void crt_subject(const mbedtls_x509_crt *crt, char *buf, size_t len)
{
    assert_true(mbedtls_x509_dn_gets(buf, len, &crt->subject) > 0);
}

/* ------------------------------------------------------------------------------------------ */

static void test_first_call_creates_files_with_modes(void **state)
{
    fixture_t *f = *state;
    ensure_ok(f);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/server", f->dir);
    assert_int_equal(file_mode(path), 0700);
    assert_int_equal(file_mode(tls_path(f, "")), 0700);
    static const char *const keys[] = {"ca.key", "serving.key", "admin.key"};
    static const char *const crts[] = {"ca.crt", "serving.crt", "admin.crt"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(file_mode(tls_path(f, keys[i])), 0600);
        assert_int_equal(file_mode(tls_path(f, crts[i])), 0644);
    }
    snprintf(path, sizeof(path), "%s/server/admin.kubeconfig", f->dir);
    assert_int_equal(file_mode(path), 0600);

    /* What is returned is what is on disk; the serving chain is leaf then CA. */
    char *ca = slurp(tls_path(f, "ca.crt"));
    char *serving = slurp(tls_path(f, "serving.crt"));
    char *key = slurp(tls_path(f, "serving.key"));
    assert_string_equal(f->pki.ca_cert_pem, ca);
    assert_string_equal(f->pki.serving_key_pem, key);
    assert_true(util_str_has_prefix(f->pki.serving_cert_pem, serving));
    assert_string_equal(f->pki.serving_cert_pem + strlen(serving), ca);
    assert_non_null(strstr(key, "-----BEGIN EC PRIVATE KEY-----"));
    free(ca);
    free(serving);
    free(key);
}

static void test_ca_is_a_ca_and_serving_cert_verifies(void **state)
{
    fixture_t *f = *state;
    ensure_ok(f);
    mbedtls_x509_crt ca, chain;
    parse_crt(&ca, f->pki.ca_cert_pem);
    parse_crt(&chain, f->pki.serving_cert_pem);
    assert_non_null(chain.next); /* the CA follows the leaf */

    assert_true(mbedtls_x509_crt_get_ca_istrue(&ca));
    assert_int_equal(mbedtls_x509_crt_check_key_usage(&ca, MBEDTLS_X509_KU_KEY_CERT_SIGN |
                                                               MBEDTLS_X509_KU_CRL_SIGN),
                     0);
    assert_true(mbedtls_pk_can_do(&ca.pk, MBEDTLS_PK_ECKEY));
    assert_int_equal(mbedtls_pk_get_bitlen(&ca.pk), 256);
    char subject[256];
    crt_subject(&ca, subject, sizeof(subject));
    assert_true(util_str_has_prefix(subject, "CN=kubeling-ca@"));
    assert_int_equal(ca.serial.len, 16);
    assert_true((ca.serial.p[0] & 0x80) == 0);
    assert_true(ca.valid_to.year - ca.valid_from.year >= 9);

    uint32_t flags = 0;
    assert_int_equal(
        mbedtls_x509_crt_verify(&chain, &ca, NULL, "kubernetes.default.svc", &flags, NULL, NULL),
        0);
    assert_false(mbedtls_x509_crt_get_ca_istrue(&chain));
    crt_subject(&chain, subject, sizeof(subject));
    assert_string_equal(subject, "CN=kube-apiserver");
    assert_int_equal(
        mbedtls_x509_crt_check_extended_key_usage(&chain, MBEDTLS_OID_SERVER_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)),
        0);
    assert_true(crt_has_ip(&chain, "127.0.0.1"));
    assert_true(crt_has_ip(&chain, "10.43.0.1"));
    assert_true(crt_has_ip(&chain, EXTRA_IP));
    assert_true(crt_has_dns(&chain, "localhost"));
    assert_true(crt_has_dns(&chain, "kubernetes.default.svc"));
    assert_true(crt_has_dns(&chain, "kubernetes.default.svc.cluster.local"));
    assert_true(crt_has_dns(&chain, EXTRA_DNS));
    char host[256] = "";
    assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
    assert_true(crt_has_dns(&chain, host));

    /* The returned key belongs to the serving certificate. */
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    assert_int_equal(psa_crypto_init(), PSA_SUCCESS);
    assert_int_equal(mbedtls_pk_parse_key(&key, (const unsigned char *)f->pki.serving_key_pem,
                                          strlen(f->pki.serving_key_pem) + 1, NULL, 0,
                                          mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE),
                     0);
    assert_int_equal(
        mbedtls_pk_check_pair(&chain.pk, &key, mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE),
        0);
    mbedtls_pk_free(&key);
    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_free(&chain);
}

static void test_admin_cert_is_system_masters_client(void **state)
{
    fixture_t *f = *state;
    ensure_ok(f);
    mbedtls_x509_crt ca, admin;
    parse_crt(&ca, f->pki.ca_cert_pem);
    parse_crt_file(&admin, tls_path(f, "admin.crt"));
    char subject[256];
    crt_subject(&admin, subject, sizeof(subject));
    assert_non_null(strstr(subject, "CN=system:admin"));
    assert_non_null(strstr(subject, "O=system:masters"));
    assert_int_equal(
        mbedtls_x509_crt_check_extended_key_usage(&admin, MBEDTLS_OID_CLIENT_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
        0);
    assert_int_not_equal(
        mbedtls_x509_crt_check_extended_key_usage(&admin, MBEDTLS_OID_SERVER_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)),
        0);
    uint32_t flags = 0;
    assert_int_equal(mbedtls_x509_crt_verify(&admin, &ca, NULL, NULL, &flags, NULL, NULL), 0);
    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_free(&admin);
}

static const char *const all_files[] = {"ca.crt",      "ca.key",    "serving.crt",
                                        "serving.key", "admin.crt", "admin.key"};

static void snapshot(fixture_t *f, char *out[6])
{
    for (size_t i = 0; i < 6; i++)
        out[i] = slurp(tls_path(f, all_files[i]));
}

static void snapshot_free(char *s[6])
{
    for (size_t i = 0; i < 6; i++)
        free(s[i]);
}

static void test_second_call_reuses_everything(void **state)
{
    fixture_t *f = *state;
    ensure_ok(f);
    char *before[6], *after[6];
    snapshot(f, before);
    ensure_ok(f);
    snapshot(f, after);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(before[i], after[i]);
    snapshot_free(before);
    snapshot_free(after);
}

static void test_new_san_renews_serving_only(void **state)
{
    fixture_t *f = *state;
    ensure_ok(f);
    char *before[6], *after[6];
    snapshot(f, before);
    f->sans[2] = "new.example.test";
    f->opts.n_tls_sans = 3;
    ensure_ok(f);
    snapshot(f, after);
    assert_string_equal(before[0], after[0]); /* CA kept */
    assert_string_equal(before[1], after[1]);
    assert_string_not_equal(before[2], after[2]); /* serving renewed, new key */
    assert_string_not_equal(before[3], after[3]);
    assert_string_equal(before[4], after[4]); /* admin kept */
    assert_string_equal(before[5], after[5]);
    mbedtls_x509_crt crt;
    parse_crt(&crt, after[2]);
    assert_true(crt_has_dns(&crt, "new.example.test"));
    assert_true(crt_has_dns(&crt, EXTRA_DNS));
    mbedtls_x509_crt_free(&crt);
    snapshot_free(before);
    snapshot_free(after);
}

static void test_corrupt_ca_is_an_error_and_kept(void **state)
{
    fixture_t *f = *state;
    ensure_ok(f);
    static const char garbage[] = "-----BEGIN CERTIFICATE-----\nnot a certificate\n"
                                  "-----END CERTIFICATE-----\n";
    spit(tls_path(f, "ca.crt"), garbage);
    cleanup_error util_error_t err = NULL;
    assert_true(ensure(f, &err) < 0);
    assert_non_null(err);
    assert_non_null(strstr(err->msg, "ca.crt"));
    assert_null(f->pki.ca_cert_pem);
    char *now = slurp(tls_path(f, "ca.crt"));
    assert_string_equal(now, garbage);
    free(now);
}

static void test_ca_without_key_is_an_error(void **state)
{
    fixture_t *f = *state;
    ensure_ok(f);
    char *ca = slurp(tls_path(f, "ca.crt"));
    assert_int_equal(unlink(tls_path(f, "ca.key")), 0);
    cleanup_error util_error_t err = NULL;
    assert_int_equal(ensure(f, &err), -ENOENT);
    assert_non_null(strstr(err->msg, "ca.key"));
    char *now = slurp(tls_path(f, "ca.crt"));
    assert_string_equal(now, ca);
    assert_int_equal(access(tls_path(f, "ca.key"), F_OK), -1);
    free(ca);
    free(now);
}

static void test_corrupt_or_foreign_leaf_is_reissued(void **state)
{
    fixture_t *f = *state;
    ensure_ok(f);
    char *ca = slurp(tls_path(f, "ca.crt"));
    spit(tls_path(f, "serving.crt"), "garbage\n");
    /* An admin pair from another cluster: valid, but not signed by this CA. */
    fixture_t *other = NULL;
    assert_int_equal(setup((void **)&other), 0);
    ensure_ok(other);
    char *foreign_crt = slurp(tls_path(other, "admin.crt"));
    char *foreign_key = slurp(tls_path(other, "admin.key"));
    spit(tls_path(f, "admin.crt"), foreign_crt);
    spit(tls_path(f, "admin.key"), foreign_key);
    assert_int_equal(teardown((void **)&other), 0);

    ensure_ok(f);
    char *serving = slurp(tls_path(f, "serving.crt"));
    char *admin = slurp(tls_path(f, "admin.crt"));
    char *now_ca = slurp(tls_path(f, "ca.crt"));
    assert_non_null(strstr(serving, "BEGIN CERTIFICATE"));
    assert_string_not_equal(admin, foreign_crt);
    assert_string_equal(now_ca, ca);
    mbedtls_x509_crt cacrt, crt;
    parse_crt(&cacrt, ca);
    parse_crt(&crt, admin);
    uint32_t flags = 0;
    assert_int_equal(mbedtls_x509_crt_verify(&crt, &cacrt, NULL, NULL, &flags, NULL, NULL), 0);
    mbedtls_x509_crt_free(&cacrt);
    mbedtls_x509_crt_free(&crt);
    free(ca);
    free(serving);
    free(admin);
    free(now_ca);
    free(foreign_crt);
    free(foreign_key);
}

/* Issues an admin-like client certificate valid for `days`, signed by the fixture's CA, and
 * installs it as admin.crt/admin.key. */
static void install_admin_valid_for(fixture_t *f, int days)
{
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    assert_int_equal(psa_crypto_init(), PSA_SUCCESS);
    assert_int_equal(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0), 0);
    char *ca_key_pem = slurp(tls_path(f, "ca.key"));
    mbedtls_pk_context ca_key, key;
    mbedtls_pk_init(&ca_key);
    mbedtls_pk_init(&key);
    assert_int_equal(mbedtls_pk_parse_key(&ca_key, (const unsigned char *)ca_key_pem,
                                          strlen(ca_key_pem) + 1, NULL, 0, mbedtls_ctr_drbg_random,
                                          &drbg),
                     0);
    assert_int_equal(mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
    assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key),
                                         mbedtls_ctr_drbg_random, &drbg),
                     0);
    mbedtls_x509_crt ca;
    parse_crt(&ca, f->pki.ca_cert_pem);
    char issuer[256];
    crt_subject(&ca, issuer, sizeof(issuer));

    mbedtls_x509write_cert w;
    mbedtls_x509write_crt_init(&w);
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, &key);
    mbedtls_x509write_crt_set_issuer_key(&w, &ca_key);
    assert_int_equal(mbedtls_x509write_crt_set_subject_name(&w, "O=system:masters,CN=system:admin"),
                     0);
    assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&w, issuer), 0);
    unsigned char serial[] = {0x42, 1, 2, 3};
    assert_int_equal(mbedtls_x509write_crt_set_serial_raw(&w, serial, sizeof(serial)), 0);
    char from[16], to[16];
    time_t now = time(NULL), end = now + (time_t)days * 86400;
    struct tm tm;
    strftime(from, sizeof(from), "%Y%m%d%H%M%S", gmtime_r(&now, &tm));
    strftime(to, sizeof(to), "%Y%m%d%H%M%S", gmtime_r(&end, &tm));
    assert_int_equal(mbedtls_x509write_crt_set_validity(&w, from, to), 0);
    unsigned char crt_pem[4096], key_pem[4096];
    assert_int_equal(
        mbedtls_x509write_crt_pem(&w, crt_pem, sizeof(crt_pem), mbedtls_ctr_drbg_random, &drbg), 0);
    assert_int_equal(mbedtls_pk_write_key_pem(&key, key_pem, sizeof(key_pem)), 0);
    spit(tls_path(f, "admin.key"), (const char *)key_pem);
    spit(tls_path(f, "admin.crt"), (const char *)crt_pem);

    mbedtls_x509write_crt_free(&w);
    mbedtls_x509_crt_free(&ca);
    mbedtls_pk_free(&key);
    mbedtls_pk_free(&ca_key);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    free(ca_key_pem);
}

static void test_leaf_expiring_within_90_days_is_renewed(void **state)
{
    fixture_t *f = *state;
    ensure_ok(f);

    install_admin_valid_for(f, 200); /* outside the renewal window: kept */
    char *kept = slurp(tls_path(f, "admin.crt"));
    ensure_ok(f);
    char *after = slurp(tls_path(f, "admin.crt"));
    assert_string_equal(after, kept);
    free(after);

    install_admin_valid_for(f, 30); /* inside: renewed for a year */
    char *expiring = slurp(tls_path(f, "admin.crt"));
    ensure_ok(f);
    after = slurp(tls_path(f, "admin.crt"));
    assert_string_not_equal(after, expiring);
    mbedtls_x509_crt crt;
    parse_crt(&crt, after);
    assert_true(crt.valid_to.year - crt.valid_from.year >= 1);
    mbedtls_x509_crt_free(&crt);
    free(kept);
    free(expiring);
    free(after);
}

/* Returns the base64 value of `key: value` in the kubeconfig, decoded. */
static char *kubeconfig_field(const char *kc, const char *key)
{
    const char *p = strstr(kc, key);
    assert_non_null(p);
    p += strlen(key);
    assert_true(util_str_has_prefix(p, ": "));
    p += 2;
    size_t len = strcspn(p, "\n"), olen = 0;
    char *out = calloc(1, len + 1);
    assert_int_equal(
        mbedtls_base64_decode((unsigned char *)out, len, &olen, (const unsigned char *)p, len), 0);
    out[olen] = '\0';
    return out;
}

static void test_kubeconfig_embeds_certs_and_follows_server(void **state)
{
    fixture_t *f = *state;
    ensure_ok(f);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/server/admin.kubeconfig", f->dir);
    char *kc = slurp(path);
    assert_non_null(strstr(kc, "    server: https://127.0.0.1:6443\n"));
    assert_non_null(strstr(kc, "current-context: kubeling\n"));
    assert_non_null(strstr(kc, "- name: kubeling\n  context:\n    cluster: kubeling\n"
                               "    user: admin\n"));
    static const struct {
        const char *field, *file;
    } want[] = {
        {"certificate-authority-data", "ca.crt"},
        {"client-certificate-data", "admin.crt"},
        {"client-key-data", "admin.key"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(want); i++) {
        char *decoded = kubeconfig_field(kc, want[i].field);
        char *file = slurp(tls_path(f, want[i].file));
        assert_string_equal(decoded, file);
        free(decoded);
        free(file);
    }
    free(kc);

    f->opts.kubeconfig_server = "https://10.0.0.5:16443";
    ensure_ok(f);
    kc = slurp(path);
    assert_non_null(strstr(kc, "    server: https://10.0.0.5:16443\n"));
    assert_null(strstr(kc, "127.0.0.1:6443"));
    free(kc);

    f->opts.kubeconfig_server = "https://bad url";
    cleanup_error util_error_t err = NULL;
    assert_int_equal(ensure(f, &err), -EINVAL);
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_call_creates_files_with_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_is_a_ca_and_serving_cert_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_cert_is_system_masters_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_call_reuses_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_san_renews_serving_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_ca_is_an_error_and_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_without_key_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_or_foreign_leaf_is_reissued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leaf_expiring_within_90_days_is_renewed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_embeds_certs_and_follows_server, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
