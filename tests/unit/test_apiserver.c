/* test_apiserver: the apiserver PKI (CA, serving and admin certificates, admin.kubeconfig) and
 * the API discovery documents. */
#include "unit.h"
#include "apiserver/apiserver_discovery.h"
#include "apiserver/apiserver_pki.h"
#include "apiserver/apiserver_resources.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <k8s_schema.h>

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

/* ------------------------------------------------------------------------------------------ */
/* Discovery. */

#define AGG_V2      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
#define AGG_V2BETA1 "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

static void test_discovery_negotiate_kubectl_accept_headers(void **state)
{
    (void)state;
    /* kubectl 1.30..1.33 */
    assert_int_equal(apiserver_discovery_negotiate(AGG_V2 "," AGG_V2BETA1 ",application/json"),
                     APISERVER_DISCOVERY_V2);
    /* kubectl 1.27..1.29 */
    assert_int_equal(apiserver_discovery_negotiate(AGG_V2BETA1 ",application/json"),
                     APISERVER_DISCOVERY_V2BETA1);
    assert_int_equal(apiserver_discovery_negotiate("application/json"), APISERVER_DISCOVERY_LEGACY);
    assert_int_equal(apiserver_discovery_negotiate(NULL), APISERVER_DISCOVERY_LEGACY);
    assert_int_equal(apiserver_discovery_negotiate(""), APISERVER_DISCOVERY_LEGACY);
    assert_int_equal(apiserver_discovery_negotiate("*/*"), APISERVER_DISCOVERY_LEGACY);
    assert_int_equal(
        apiserver_discovery_negotiate("application/json, application/yaml;q=0.9, */*;q=0.8"),
        APISERVER_DISCOVERY_LEGACY);
}

static void test_discovery_negotiate_parameters_any_order_and_whitespace(void **state)
{
    (void)state;
    assert_int_equal(apiserver_discovery_negotiate(
                         "application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io"),
                     APISERVER_DISCOVERY_V2);
    assert_int_equal(
        apiserver_discovery_negotiate(" application/json ; v=v2beta1 ;as=APIGroupDiscoveryList; "
                                      "g = apidiscovery.k8s.io , application/json "),
        APISERVER_DISCOVERY_V2BETA1);
    assert_int_equal(
        apiserver_discovery_negotiate(
            "application/json;\tv=v2;\tg=apidiscovery.k8s.io;\tas=APIGroupDiscoveryList"),
        APISERVER_DISCOVERY_V2);
    /* Wildcard ranges carry the conversion too. */
    assert_int_equal(
        apiserver_discovery_negotiate("*/*;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"),
        APISERVER_DISCOVERY_V2);
    assert_int_equal(apiserver_discovery_negotiate(
                         "application/*;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"),
                     APISERVER_DISCOVERY_V2BETA1);
    /* A repeated parameter: the last one wins. */
    assert_int_equal(apiserver_discovery_negotiate(AGG_V2BETA1 ";v=v2"), APISERVER_DISCOVERY_V2);
}

static void test_discovery_negotiate_honours_q_and_order(void **state)
{
    (void)state;
    /* q=0 on v2 sorts it after everything else. */
    assert_int_equal(apiserver_discovery_negotiate(AGG_V2 ";q=0," AGG_V2BETA1 ",application/json"),
                     APISERVER_DISCOVERY_V2BETA1);
    assert_int_equal(apiserver_discovery_negotiate(AGG_V2 ";q=0,application/json"),
                     APISERVER_DISCOVERY_LEGACY);
    /* Equal q: the listed order decides. */
    assert_int_equal(apiserver_discovery_negotiate("application/json," AGG_V2),
                     APISERVER_DISCOVERY_LEGACY);
    assert_int_equal(apiserver_discovery_negotiate(AGG_V2BETA1 "," AGG_V2),
                     APISERVER_DISCOVERY_V2BETA1);
    /* Higher q wins over the order. */
    assert_int_equal(apiserver_discovery_negotiate("application/json;q=0.5," AGG_V2 ";q=0.9"),
                     APISERVER_DISCOVERY_V2);
    assert_int_equal(
        apiserver_discovery_negotiate(AGG_V2 ";q=0.4," AGG_V2BETA1 ";q=0.6,application/json;q=0.5"),
        APISERVER_DISCOVERY_V2BETA1);
    /* Like kube-apiserver, q=0 is only "last", not "refused". */
    assert_int_equal(apiserver_discovery_negotiate(AGG_V2 ";q=0"), APISERVER_DISCOVERY_V2);
}

static void test_discovery_negotiate_skips_unacceptable_clauses(void **state)
{
    (void)state;
    /* Media types the server does not encode are skipped. */
    assert_int_equal(apiserver_discovery_negotiate("text/html," AGG_V2), APISERVER_DISCOVERY_V2);
    /* Other conversions (Table), unknown versions, sv= and a foreign stream are refused. */
    assert_int_equal(
        apiserver_discovery_negotiate("application/json;as=Table;v=v1;g=meta.k8s.io," AGG_V2),
        APISERVER_DISCOVERY_V2);
    assert_int_equal(apiserver_discovery_negotiate(
                         "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList"),
                     APISERVER_DISCOVERY_LEGACY);
    assert_int_equal(apiserver_discovery_negotiate("application/json;g=apidiscovery.k8s.io;v=v2"),
                     APISERVER_DISCOVERY_LEGACY);
    assert_int_equal(apiserver_discovery_negotiate(AGG_V2 ";sv=v1," AGG_V2BETA1),
                     APISERVER_DISCOVERY_V2BETA1);
    assert_int_equal(apiserver_discovery_negotiate(AGG_V2 ";stream=foo,application/json"),
                     APISERVER_DISCOVERY_LEGACY);
    /* A plain protobuf clause ahead of the aggregated one asks for the legacy document. */
    assert_int_equal(apiserver_discovery_negotiate("application/vnd.kubernetes.protobuf," AGG_V2),
                     APISERVER_DISCOVERY_LEGACY);
    assert_int_equal(apiserver_discovery_negotiate("garbage,;;,," AGG_V2), APISERVER_DISCOVERY_V2);
}

static void test_discovery_content_types(void **state)
{
    (void)state;
    assert_string_equal(apiserver_discovery_content_type(APISERVER_DISCOVERY_LEGACY),
                        "application/json");
    assert_string_equal(apiserver_discovery_content_type(APISERVER_DISCOVERY_V2), AGG_V2);
    assert_string_equal(apiserver_discovery_content_type(APISERVER_DISCOVERY_V2BETA1), AGG_V2BETA1);
}

/* Parses the whole buffer as one JSON document (fails the test otherwise). */
static cJSON *parse_doc(const util_buf_t *b)
{
    assert_non_null(b->data);
    assert_int_equal(strlen(b->data), b->len);
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithOpts(b->data, &end, 1);
    if (!doc)
        fail_msg("invalid JSON near: %.60s", end ? end : "?");
    return doc;
}

static const char *jstr(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(v))
        fail_msg("%s is not a string", key);
    return v->valuestring;
}

static const cJSON *jarr(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsArray(v))
        fail_msg("%s is not an array", key);
    return v;
}

static bool jhas(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key) != NULL;
}

/* The element of an array whose string field key equals value, or NULL. */
static const cJSON *find_by(const cJSON *arr, const char *key, const char *value)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
        if (cJSON_IsString(v) && !strcmp(v->valuestring, value))
            return e;
    }
    return NULL;
}

static void assert_strings(const cJSON *arr, const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    assert_int_equal(cJSON_GetArraySize(arr), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(cJSON_GetArrayItem(arr, (int)i)->valuestring, want[i]);
}

static size_t resources_in_group(const char *group)
{
    size_t n = 0;
    for (size_t i = 0; i < apiserver_nresources; i++)
        n += !strcmp(apiserver_resources[i].group, group);
    return n;
}

static const char *const rw_verbs[] = {
    "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch", NULL};
static const char *const status_verbs[] = {"get", "patch", "update", NULL};

static void test_discovery_api_legacy_is_api_versions(void **state)
{
    (void)state;
    util_buf_t b = {0};
    apiserver_discovery_api(&b, APISERVER_DISCOVERY_LEGACY, "10.0.0.1:6443");
    cJSON *doc = parse_doc(&b);
    assert_string_equal(jstr(doc, "kind"), "APIVersions");
    assert_strings(jarr(doc, "versions"), (const char *const[]){"v1", NULL});
    const cJSON *addrs = jarr(doc, "serverAddressByClientCIDRs");
    assert_int_equal(cJSON_GetArraySize(addrs), 1);
    assert_string_equal(jstr(cJSON_GetArrayItem(addrs, 0), "clientCIDR"), "0.0.0.0/0");
    assert_string_equal(jstr(cJSON_GetArrayItem(addrs, 0), "serverAddress"), "10.0.0.1:6443");
    cJSON_Delete(doc);
    util_buf_free(&b);
}

/* Checks the shape every aggregated document shares and returns its items. */
static const cJSON *check_aggregated(const cJSON *doc, apiserver_discovery_format_t f)
{
    assert_string_equal(jstr(doc, "kind"), "APIGroupDiscoveryList");
    assert_string_equal(jstr(doc, "apiVersion"), f == APISERVER_DISCOVERY_V2
                                                     ? "apidiscovery.k8s.io/v2"
                                                     : "apidiscovery.k8s.io/v2beta1");
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "metadata")));
    const cJSON *items = jarr(doc, "items");
    const cJSON *item;
    cJSON_ArrayForEach(item, items)
    {
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(item, "metadata");
        assert_true(cJSON_IsObject(md));
        assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(md, "creationTimestamp")));
        const cJSON *versions = jarr(item, "versions");
        assert_int_equal(cJSON_GetArraySize(versions), 1);
        assert_string_equal(jstr(cJSON_GetArrayItem(versions, 0), "freshness"), "Current");
    }
    return items;
}

static void test_discovery_api_aggregated_has_core_group_only(void **state)
{
    (void)state;
    apiserver_discovery_format_t formats[] = {APISERVER_DISCOVERY_V2, APISERVER_DISCOVERY_V2BETA1};
    for (size_t k = 0; k < 2; k++) {
        util_buf_t b = {0};
        apiserver_discovery_api(&b, formats[k], "10.0.0.1:6443");
        cJSON *doc = parse_doc(&b);
        const cJSON *items = check_aggregated(doc, formats[k]);
        assert_int_equal(cJSON_GetArraySize(items), 1);
        const cJSON *core = cJSON_GetArrayItem(items, 0);
        /* ObjectMeta.name is omitempty: the core group has no name (decodes as ""). */
        assert_false(jhas(cJSON_GetObjectItemCaseSensitive(core, "metadata"), "name"));
        const cJSON *v1 = cJSON_GetArrayItem(jarr(core, "versions"), 0);
        assert_string_equal(jstr(v1, "version"), "v1");
        const cJSON *res = jarr(v1, "resources");
        assert_int_equal(cJSON_GetArraySize(res), resources_in_group(""));
        /* Table order. */
        assert_string_equal(jstr(cJSON_GetArrayItem(res, 0), "resource"), "namespaces");
        assert_string_equal(jstr(cJSON_GetArrayItem(res, 1), "resource"), "configmaps");
        assert_null(find_by(res, "resource", "leases"));

        const cJSON *cm = find_by(res, "resource", "configmaps");
        assert_non_null(cm);
        const cJSON *rk = cJSON_GetObjectItemCaseSensitive(cm, "responseKind");
        assert_string_equal(jstr(rk, "group"), "");
        assert_string_equal(jstr(rk, "version"), "v1");
        assert_string_equal(jstr(rk, "kind"), "ConfigMap");
        assert_string_equal(jstr(cm, "scope"), "Namespaced");
        assert_string_equal(jstr(cm, "singularResource"), "configmap");
        assert_strings(jarr(cm, "verbs"), rw_verbs);
        assert_strings(jarr(cm, "shortNames"), (const char *const[]){"cm", NULL});
        assert_false(jhas(cm, "categories"));
        assert_false(jhas(cm, "subresources"));

        const cJSON *ns = find_by(res, "resource", "namespaces");
        assert_non_null(ns);
        assert_string_equal(jstr(ns, "scope"), "Cluster");
        assert_strings(jarr(ns, "shortNames"), (const char *const[]){"ns", NULL});
        const cJSON *subs = jarr(ns, "subresources");
        assert_int_equal(cJSON_GetArraySize(subs), 1);
        const cJSON *st = cJSON_GetArrayItem(subs, 0);
        assert_string_equal(jstr(st, "subresource"), "status");
        assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(st, "responseKind"), "kind"),
                            "Namespace");
        assert_strings(jarr(st, "verbs"), status_verbs);

        assert_false(jhas(find_by(res, "resource", "secrets"), "shortNames"));
        cJSON_Delete(doc);
        util_buf_free(&b);
    }
}

static void test_discovery_apis_legacy_lists_non_core_groups(void **state)
{
    (void)state;
    util_buf_t b = {0};
    apiserver_discovery_apis(&b, APISERVER_DISCOVERY_LEGACY);
    cJSON *doc = parse_doc(&b);
    assert_string_equal(jstr(doc, "kind"), "APIGroupList");
    assert_string_equal(jstr(doc, "apiVersion"), "v1");
    const cJSON *groups = jarr(doc, "groups");
    assert_int_equal(cJSON_GetArraySize(groups), apiserver_ngroups - 1);
    assert_null(find_by(groups, "name", ""));
    const cJSON *coord = find_by(groups, "name", "coordination.k8s.io");
    assert_non_null(coord);
    assert_false(jhas(coord, "kind"));
    const cJSON *versions = jarr(coord, "versions");
    assert_int_equal(cJSON_GetArraySize(versions), 1);
    assert_string_equal(jstr(cJSON_GetArrayItem(versions, 0), "groupVersion"),
                        "coordination.k8s.io/v1");
    assert_string_equal(jstr(cJSON_GetArrayItem(versions, 0), "version"), "v1");
    const cJSON *pref = cJSON_GetObjectItemCaseSensitive(coord, "preferredVersion");
    assert_string_equal(jstr(pref, "groupVersion"), "coordination.k8s.io/v1");
    assert_string_equal(jstr(pref, "version"), "v1");
    cJSON_Delete(doc);
    util_buf_free(&b);
}

static void test_discovery_apis_aggregated_has_leases(void **state)
{
    (void)state;
    util_buf_t b = {0};
    apiserver_discovery_apis(&b, APISERVER_DISCOVERY_V2);
    cJSON *doc = parse_doc(&b);
    const cJSON *items = check_aggregated(doc, APISERVER_DISCOVERY_V2);
    assert_int_equal(cJSON_GetArraySize(items), apiserver_ngroups - 1);
    const cJSON *coord = cJSON_GetArrayItem(items, 0);
    assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(coord, "metadata"), "name"),
                        "coordination.k8s.io");
    const cJSON *v1 = cJSON_GetArrayItem(jarr(coord, "versions"), 0);
    assert_string_equal(jstr(v1, "version"), "v1");
    const cJSON *res = jarr(v1, "resources");
    assert_null(find_by(res, "resource", "configmaps"));
    const cJSON *leases = find_by(res, "resource", "leases");
    assert_non_null(leases);
    const cJSON *rk = cJSON_GetObjectItemCaseSensitive(leases, "responseKind");
    assert_string_equal(jstr(rk, "group"), "coordination.k8s.io");
    assert_string_equal(jstr(rk, "version"), "v1");
    assert_string_equal(jstr(rk, "kind"), "Lease");
    assert_string_equal(jstr(leases, "scope"), "Namespaced");
    assert_string_equal(jstr(leases, "singularResource"), "lease");
    assert_strings(jarr(leases, "verbs"), rw_verbs);
    assert_false(jhas(leases, "shortNames"));
    cJSON_Delete(doc);
    util_buf_free(&b);
}

static void test_discovery_core_resource_list(void **state)
{
    (void)state;
    util_buf_t b = {0};
    assert_int_equal(apiserver_discovery_resource_list(&b, "", "v1"), 0);
    cJSON *doc = parse_doc(&b);
    assert_string_equal(jstr(doc, "kind"), "APIResourceList");
    assert_string_equal(jstr(doc, "apiVersion"), "v1");
    assert_string_equal(jstr(doc, "groupVersion"), "v1");
    const cJSON *res = jarr(doc, "resources");
    const char *const order[] = {"namespaces", "namespaces/status", "configmaps",
                                 "secrets",    "serviceaccounts",   "events",
                                 NULL};
    assert_int_equal(cJSON_GetArraySize(res), 6);
    for (int i = 0; order[i]; i++)
        assert_string_equal(jstr(cJSON_GetArrayItem(res, i), "name"), order[i]);

    const cJSON *cm = find_by(res, "name", "configmaps");
    assert_string_equal(jstr(cm, "singularName"), "configmap");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cm, "namespaced")));
    assert_string_equal(jstr(cm, "kind"), "ConfigMap");
    assert_strings(jarr(cm, "verbs"), rw_verbs);
    assert_strings(jarr(cm, "shortNames"), (const char *const[]){"cm", NULL});
    assert_false(jhas(cm, "categories"));
    /* Upstream's hash of "/v1/ConfigMap", as a real kube-apiserver reports it. */
    assert_string_equal(jstr(cm, "storageVersionHash"), "qFsyl6wFWjQ=");

    const cJSON *ns = find_by(res, "name", "namespaces");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ns, "namespaced")));
    const cJSON *st = find_by(res, "name", "namespaces/status");
    assert_string_equal(jstr(st, "singularName"), "");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(st, "namespaced")));
    assert_string_equal(jstr(st, "kind"), "Namespace");
    assert_strings(jarr(st, "verbs"), status_verbs);
    assert_false(jhas(st, "storageVersionHash"));
    assert_false(jhas(st, "shortNames"));

    assert_false(jhas(find_by(res, "name", "secrets"), "shortNames"));
    cJSON_Delete(doc);
    util_buf_free(&b);
}

static void test_discovery_group_resource_list(void **state)
{
    (void)state;
    util_buf_t b = {0};
    assert_int_equal(apiserver_discovery_resource_list(&b, "coordination.k8s.io", "v1"), 0);
    cJSON *doc = parse_doc(&b);
    assert_string_equal(jstr(doc, "kind"), "APIResourceList");
    assert_string_equal(jstr(doc, "groupVersion"), "coordination.k8s.io/v1");
    const cJSON *res = jarr(doc, "resources");
    assert_int_equal(cJSON_GetArraySize(res), resources_in_group("coordination.k8s.io"));
    const cJSON *leases = find_by(res, "name", "leases");
    assert_non_null(leases);
    assert_string_equal(jstr(leases, "singularName"), "lease");
    assert_string_equal(jstr(leases, "kind"), "Lease");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(leases, "namespaced")));
    assert_string_equal(jstr(leases, "storageVersionHash"), "gqkMMb/YqFM=");
    assert_null(find_by(res, "name", "configmaps"));
    cJSON_Delete(doc);
    util_buf_free(&b);
}

static void test_discovery_group_document(void **state)
{
    (void)state;
    util_buf_t b = {0};
    assert_int_equal(apiserver_discovery_group(&b, "coordination.k8s.io"), 0);
    cJSON *doc = parse_doc(&b);
    assert_string_equal(jstr(doc, "kind"), "APIGroup");
    assert_string_equal(jstr(doc, "apiVersion"), "v1");
    assert_string_equal(jstr(doc, "name"), "coordination.k8s.io");
    assert_string_equal(jstr(cJSON_GetArrayItem(jarr(doc, "versions"), 0), "groupVersion"),
                        "coordination.k8s.io/v1");
    assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(doc, "preferredVersion"), "version"),
                        "v1");
    cJSON_Delete(doc);
    util_buf_free(&b);
}

static void test_discovery_unknown_group_or_version_is_enoent(void **state)
{
    (void)state;
    util_buf_t b = {0};
    assert_int_equal(apiserver_discovery_resource_list(&b, "", "v2"), -ENOENT);
    assert_int_equal(apiserver_discovery_resource_list(&b, "apps", "v1"), -ENOENT);
    assert_int_equal(apiserver_discovery_resource_list(&b, "coordination.k8s.io", "v1beta1"),
                     -ENOENT);
    assert_int_equal(apiserver_discovery_group(&b, "apps"), -ENOENT);
    assert_int_equal(apiserver_discovery_group(&b, ""), -ENOENT);
    assert_int_equal(b.len, 0);
    util_buf_free(&b);
}

/* ---- k8s_schema (third_party k8s-schema, generated from python3-kubernetes) ---------------- */

static const k8s_field_t *schema_field(const k8s_kind_t *t, const char *json)
{
    assert_non_null(t);
    const k8s_field_t *f = k8s_schema_field(t, json);
    assert_non_null(f);
    assert_string_equal(f->json, json);
    return f;
}

static void test_schema_pod_containers_need_a_name(void **state)
{
    (void)state;
    const k8s_kind_t *pod = k8s_schema_find("", "v1", "Pod");
    assert_non_null(pod);
    assert_string_equal(pod->name, "V1Pod");
    assert_ptr_equal(k8s_schema_find(NULL, "v1", "Pod"), pod);
    const k8s_field_t *spec = schema_field(pod, "spec");
    assert_int_equal(spec->type, K8S_T_OBJECT);
    assert_false(spec->list);
    const k8s_kind_t *pod_spec = k8s_schema_type(spec->ref);
    assert_non_null(pod_spec);
    assert_string_equal(pod_spec->name, "V1PodSpec");
    const k8s_field_t *containers = schema_field(pod_spec, "containers");
    assert_int_equal(containers->type, K8S_T_OBJECT);
    assert_true(containers->list);
    assert_false(containers->map);
    assert_true(containers->required);
    const k8s_kind_t *container = k8s_schema_type(containers->ref);
    assert_non_null(container);
    assert_string_equal(container->name, "V1Container");
    assert_ptr_equal(k8s_schema_type_by_name("V1Container"), container);
    assert_int_equal(k8s_schema_type_index(container), containers->ref);
    const k8s_field_t *name = schema_field(container, "name");
    assert_int_equal(name->type, K8S_T_STRING);
    assert_true(name->required);
    assert_false(schema_field(container, "image")->required);
    assert_int_equal(schema_field(container, "imagePullPolicy")->type, K8S_T_STRING);
    assert_null(k8s_schema_field(container, "image_pull_policy"));
    assert_null(k8s_schema_field(container, "bogus"));
    /* a field's JSON name, not the python attribute's */
    assert_int_equal(schema_field(pod_spec, "terminationGracePeriodSeconds")->type, K8S_T_INT);
    const char *d = k8s_schema_field_description(name);
    assert_non_null(d);
    assert_non_null(strstr(d, "DNS_LABEL"));
    assert_null(strstr(d, "noqa"));
}

static void test_schema_object_meta_and_special_types(void **state)
{
    (void)state;
    const k8s_kind_t *meta = k8s_schema_type_by_name("V1ObjectMeta");
    assert_non_null(meta);
    const k8s_field_t *labels = schema_field(meta, "labels");
    assert_int_equal(labels->type, K8S_T_STRING);
    assert_true(labels->map);
    assert_false(labels->list);
    assert_int_equal(labels->ref, -1);
    assert_int_equal(schema_field(meta, "creationTimestamp")->type, K8S_T_TIME);
    assert_int_equal(schema_field(meta, "generation")->type, K8S_T_INT);
    const k8s_field_t *owners = schema_field(meta, "ownerReferences");
    assert_true(owners->list);
    assert_string_equal(k8s_schema_type(owners->ref)->name, "V1OwnerReference");
    assert_true(schema_field(k8s_schema_type(owners->ref), "uid")->required);
    /* IntOrString is free-form, Quantity a string */
    const k8s_kind_t *port = k8s_schema_type_by_name("V1ServicePort");
    assert_int_equal(schema_field(port, "targetPort")->type, K8S_T_ANY);
    const k8s_kind_t *req = k8s_schema_type_by_name("V1ResourceRequirements");
    const k8s_field_t *limits = schema_field(req, "limits");
    assert_true(limits->map);
    assert_int_equal(limits->type, K8S_T_STRING);
    /* JSONSchemaProps refers to itself; its items (schema or array of schemas) is free-form */
    const k8s_kind_t *props = k8s_schema_type_by_name("V1JSONSchemaProps");
    const k8s_field_t *properties = schema_field(props, "properties");
    assert_true(properties->map);
    assert_ptr_equal(k8s_schema_type(properties->ref), props);
    assert_int_equal(schema_field(props, "items")->type, K8S_T_ANY);
    assert_int_equal(schema_field(props, "x-kubernetes-preserve-unknown-fields")->type, K8S_T_BOOL);
    /* the top-level fields of every kind */
    const k8s_field_t *ver = schema_field(k8s_schema_find("", "v1", "ConfigMap"), "apiVersion");
    assert_int_equal(ver->type, K8S_T_STRING);
    assert_non_null(strstr(k8s_schema_field_description(ver), "APIVersion defines"));
    assert_non_null(strstr(k8s_schema_api_version, "1."));
}

static void test_schema_kinds_by_group_version(void **state)
{
    (void)state;
    const k8s_kind_t *deploy = k8s_schema_find("apps", "v1", "Deployment");
    assert_non_null(deploy);
    assert_string_equal(deploy->name, "V1Deployment");
    const k8s_gvk_t *g = k8s_schema_gvk("apps", "v1", "Deployment");
    assert_non_null(g);
    assert_string_equal(g->resource, "deployments");
    assert_true(g->namespaced);
    assert_null(k8s_schema_gvk("apps", "v1", "DeploymentList")->resource);
    const k8s_kind_t *lease = k8s_schema_find("coordination.k8s.io", "v1", "Lease");
    assert_non_null(lease);
    assert_string_equal(lease->name, "V1Lease");
    assert_non_null(
        k8s_schema_field(k8s_schema_type(schema_field(lease, "spec")->ref), "holderIdentity"));
    g = k8s_schema_gvk("", "v1", "Namespace");
    assert_string_equal(g->resource, "namespaces");
    assert_false(g->namespaced);
    /* the core and events.k8s.io Events are different types */
    assert_string_equal(k8s_schema_find("", "v1", "Event")->name, "CoreV1Event");
    assert_string_equal(k8s_schema_find("events.k8s.io", "v1", "Event")->name, "EventsV1Event");
    assert_null(k8s_schema_find("", "v1", "Deployment"));
    assert_null(k8s_schema_find("apps", "v2", "Deployment"));
    assert_null(k8s_schema_find("example.com", "v1", "Widget"));
    assert_null(k8s_schema_find("", "v1", NULL));
    assert_null(k8s_schema_type(-1));
    assert_null(k8s_schema_type((int)k8s_schema_ntypes()));
    assert_null(k8s_schema_type_by_name("V1Bogus"));
    /* the table is sorted, and every entry finds itself */
    for (unsigned i = 0; i < k8s_schema_ngvks(); i++) {
        const k8s_gvk_t *e = k8s_schema_gvk_at(i);
        assert_ptr_equal(k8s_schema_gvk(e->group, e->version, e->kind), e);
    }
    assert_null(k8s_schema_gvk_at(k8s_schema_ngvks()));
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
        cmocka_unit_test(test_discovery_negotiate_kubectl_accept_headers),
        cmocka_unit_test(test_discovery_negotiate_parameters_any_order_and_whitespace),
        cmocka_unit_test(test_discovery_negotiate_honours_q_and_order),
        cmocka_unit_test(test_discovery_negotiate_skips_unacceptable_clauses),
        cmocka_unit_test(test_discovery_content_types),
        cmocka_unit_test(test_discovery_api_legacy_is_api_versions),
        cmocka_unit_test(test_discovery_api_aggregated_has_core_group_only),
        cmocka_unit_test(test_discovery_apis_legacy_lists_non_core_groups),
        cmocka_unit_test(test_discovery_apis_aggregated_has_leases),
        cmocka_unit_test(test_discovery_core_resource_list),
        cmocka_unit_test(test_discovery_group_resource_list),
        cmocka_unit_test(test_discovery_group_document),
        cmocka_unit_test(test_discovery_unknown_group_or_version_is_enoent),
        cmocka_unit_test(test_schema_pod_containers_need_a_name),
        cmocka_unit_test(test_schema_object_meta_and_special_types),
        cmocka_unit_test(test_schema_kinds_by_group_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
