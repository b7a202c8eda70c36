/* test_apiserver: the apiserver PKI (CA, serving and admin certificates, admin.kubeconfig), the
 * API discovery documents, server-side Table output, JSON, merge and strategic merge patches,
 * and server-side apply's field ownership. */
#include "unit.h"
#include "apiserver/apiserver_apply.h"
#include "apiserver/apiserver_discovery.h"
#include "apiserver/apiserver_object.h"
#include "apiserver/apiserver_patch.h"
#include "apiserver/apiserver_pki.h"
#include "apiserver/apiserver_resources.h"
#include "apiserver/apiserver_table.h"

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

/* A kubelet's credential: system:node:<name> in system:nodes, a client certificate from the
 * cluster CA, reused on the next call, written into a 0600 kubeconfig; odd names refused. */
static void test_node_credential_kubeconfig(void **state)
{
    fixture_t *f = *state;
    ensure_ok(f);
    char path[1024];
    snprintf(path, sizeof(path), "%s/kubelet.kubeconfig", f->dir);
    cleanup_error util_error_t err = NULL;
    assert_int_equal(
        apiserver_pki_node_kubeconfig(f->dir, "edge-1", "https://127.0.0.1:6443", path, &err), 0);
    mbedtls_x509_crt ca, node;
    parse_crt(&ca, f->pki.ca_cert_pem);
    parse_crt_file(&node, tls_path(f, "node-edge-1.crt"));
    char subject[256];
    crt_subject(&node, subject, sizeof(subject));
    assert_non_null(strstr(subject, "CN=system:node:edge-1"));
    assert_non_null(strstr(subject, "O=system:nodes"));
    uint32_t flags = 0;
    assert_int_equal(mbedtls_x509_crt_verify(&node, &ca, NULL, NULL, &flags, NULL, NULL), 0);
    assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(
                         &node, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
                     0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *first = slurp(tls_path(f, "node-edge-1.crt"));
    assert_int_equal(
        apiserver_pki_node_kubeconfig(f->dir, "edge-1", "https://127.0.0.1:6443", path, &err), 0);
    char *second = slurp(tls_path(f, "node-edge-1.crt"));
    assert_string_equal(first, second);
    free(first);
    free(second);
    char *kc = slurp(path);
    assert_non_null(strstr(kc, "user: node-edge-1\n"));
    assert_non_null(strstr(kc, "server: https://127.0.0.1:6443\n"));
    free(kc);
    const char *bad[] = {"", "Upper", "a,O=system:masters", "a/b", "a b"};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(bad); i++)
        assert_int_equal(apiserver_pki_node_kubeconfig(f->dir, bad[i], "https://h", path, &err),
                         -EINVAL);
    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_free(&node);
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
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(md, "name");
        const char *name = cJSON_IsString(nm) ? nm->valuestring : NULL;
        /* autoscaling is served at v2 (preferred, first) and v1 */
        assert_int_equal(cJSON_GetArraySize(versions),
                         name && !strcmp(name, "autoscaling") ? 2 : 1);
        assert_string_equal(jstr(cJSON_GetArrayItem(versions, 0), "freshness"), "Current");
        if (name && !strcmp(name, "autoscaling"))
            assert_string_equal(jstr(cJSON_GetArrayItem(versions, 0), "version"), "v2");
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

/* The built-in groups by name (a group served at several versions, as autoscaling, once), the
 * core group excluded: what discovery lists. */
static size_t distinct_groups(const char **names, size_t cap)
{
    size_t n = 0;
    for (size_t i = 1; i < apiserver_ngroups; i++)
        if (strcmp(apiserver_groups[i].name, apiserver_groups[i - 1].name) && n < cap)
            names[n++] = apiserver_groups[i].name;
    return n;
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
    const char *names[64];
    assert_int_equal(cJSON_GetArraySize(groups), distinct_groups(names, 64));
    const cJSON *as = find_by(groups, "name", "autoscaling"); /* two versions, v2 preferred */
    assert_int_equal(cJSON_GetArraySize(jarr(as, "versions")), 2);
    assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(as, "preferredVersion"), "version"),
                        "v2");
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
    const char *names[64];
    assert_int_equal(cJSON_GetArraySize(items), distinct_groups(names, 64));
    const cJSON *coord = NULL; /* groups come in the table's order */
    for (int i = 0; i < cJSON_GetArraySize(items); i++) {
        const cJSON *g = cJSON_GetArrayItem(items, i);
        const char *name = jstr(cJSON_GetObjectItemCaseSensitive(g, "metadata"), "name");
        assert_string_equal(name, names[i]);
        if (!strcmp(name, "coordination.k8s.io"))
            coord = g;
    }
    assert_non_null(coord);
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
    const char *const order[] = {
        "namespaces",      "namespaces/status",     "configmaps", "secrets",
        "serviceaccounts", "serviceaccounts/token", "events",     NULL};
    int expected = 0; /* every core resource and each of its subresources */
    for (size_t i = 0; i < apiserver_nresources; i++) {
        if (apiserver_resources[i].group[0])
            continue;
        expected++;
        for (int k = 0; apiserver_resources[i].subresources[k]; k++)
            expected++;
    }
    assert_int_equal(cJSON_GetArraySize(res), expected);
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

    const cJSON *tok = find_by(res, "name", "serviceaccounts/token");
    assert_string_equal(jstr(tok, "group"), "authentication.k8s.io");
    assert_string_equal(jstr(tok, "kind"), "TokenRequest");
    assert_strings(jarr(tok, "verbs"), (const char *const[]){"create", NULL});

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
    assert_int_equal(apiserver_discovery_resource_list(&b, "nosuch.example.com", "v1"), -ENOENT);
    assert_int_equal(apiserver_discovery_resource_list(&b, "coordination.k8s.io", "v1beta1"),
                     -ENOENT);
    assert_int_equal(apiserver_discovery_group(&b, "nosuch.example.com"), -ENOENT);
    assert_int_equal(apiserver_discovery_group(&b, ""), -ENOENT);
    assert_int_equal(b.len, 0);
    util_buf_free(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* Server-side Table output. */

#define TABLE_NOW 1704067200 /* 2024-01-01T00:00:00Z */
#define KUBECTL_ACCEPT                                          \
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/" \
    "json;as=Table;v=v1beta1;g=meta.k8s.io,"                    \
    "application/json"

static int64_t fixed_clock(void)
{
    return TABLE_NOW;
}

/* Renders one object (JSON text) and parses the Table back. */
static cJSON *table_of(const char *group, const char *plural, const char *json, const char *inc)
{
    apiserver_table_clock = fixed_clock;
    cJSON *obj = cJSON_Parse(json);
    assert_non_null(obj);
    util_buf_t b = {0};
    cJSON *objs[1] = {obj};
    apiserver_table_render(&b, "v1", group, plural, objs, 1, inc, "42", NULL);
    cJSON *t = cJSON_Parse(b.data);
    assert_non_null(t);
    util_buf_free(&b);
    cJSON_Delete(obj);
    return t;
}

static const cJSON *table_cell(const cJSON *t, int row, int col)
{
    const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "rows"), row);
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "cells"), col);
    assert_non_null(c);
    return c;
}

static const char *table_cell_str(const cJSON *t, int col)
{
    const char *s = cJSON_GetStringValue(table_cell(t, 0, col));
    assert_non_null(s);
    return s;
}

static void assert_columns(const cJSON *t, const char *const *names, const int *prio, size_t n)
{
    const cJSON *cols = cJSON_GetObjectItem(t, "columnDefinitions");
    assert_int_equal(cJSON_GetArraySize(cols), (int)n);
    for (size_t i = 0; i < n; i++) {
        const cJSON *c = cJSON_GetArrayItem(cols, (int)i);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(c, "name")), names[i]);
        assert_int_equal(cJSON_GetObjectItem(c, "priority")->valueint, prio[i]);
        assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItem(c, "type")));
        assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItem(c, "format")));
        assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItem(c, "description")));
    }
}

static void test_table_wanted_for_kubectl_accept_only(void **state)
{
    (void)state;
    const char *v = NULL;
    assert_true(apiserver_table_wanted(KUBECTL_ACCEPT, &v));
    assert_string_equal(v, "v1");
    assert_true(apiserver_table_wanted(
        "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", &v));
    assert_string_equal(v, "v1beta1");
    assert_true(apiserver_table_wanted("application/json ; g=meta.k8s.io ; v=v1 ; as=Table", &v));
    assert_string_equal(v, "v1");
    assert_false(apiserver_table_wanted("application/json", &v));
    assert_false(apiserver_table_wanted(NULL, &v));
    assert_false(apiserver_table_wanted("", &v));
    assert_false(apiserver_table_wanted("*/*", &v));
    /* A higher q for plain JSON wins; an unknown Table version is skipped. */
    assert_false(apiserver_table_wanted(
        "application/json;as=Table;v=v1;g=meta.k8s.io;q=0.5,application/json", &v));
    assert_true(apiserver_table_wanted(
        "application/json;q=0.5,application/json;as=Table;v=v1;g=meta.k8s.io", &v));
    assert_false(apiserver_table_wanted(
        "application/json;as=Table;v=v2;g=meta.k8s.io,application/json", &v));
    assert_false(apiserver_table_wanted(
        "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json", &v));
    assert_true(apiserver_table_include_object_valid(NULL));
    assert_true(apiserver_table_include_object_valid("Object"));
    assert_false(apiserver_table_include_object_valid("All"));
}

static void assert_human(int64_t secs, const char *want)
{
    char buf[32];
    apiserver_table_human_duration(buf, sizeof(buf), secs);
    assert_string_equal(buf, want);
}

static void test_table_human_duration_matches_upstream(void **state)
{
    (void)state;
    assert_human(-5, "<invalid>");
    assert_human(-1, "0s");
    assert_human(0, "0s");
    assert_human(59, "59s");
    assert_human(119, "119s");
    assert_human(120, "2m");
    assert_human(192, "3m12s");
    assert_human(61 * 60, "61m");
    assert_human(3 * 3600, "3h");
    assert_human(3 * 3600 + 5 * 60, "3h5m");
    assert_human(47 * 3600, "47h");
    assert_human(2 * 86400, "2d");
    assert_human(2 * 86400 + 4 * 3600, "2d4h");
    assert_human(400LL * 86400, "400d");
    assert_human(3LL * 365 * 86400 + 12 * 86400, "3y12d");
    assert_human(10LL * 365 * 86400, "10y");
}

static void test_table_configmap_columns_cells_and_metadata(void **state)
{
    (void)state;
    cJSON *t =
        table_of("", "configmaps",
                 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm\","
                 "\"namespace\":\"default\",\"resourceVersion\":\"7\","
                 "\"creationTimestamp\":\"2023-12-31T23:59:55Z\"},"
                 "\"data\":{\"a\":\"1\",\"b\":\"2\"},\"binaryData\":{\"c\":\"AA==\"}}",
                 NULL);
    static const char *const names[] = {"Name", "Data", "Age"};
    static const int prio[] = {0, 0, 0};
    assert_columns(t, names, prio, 3);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(t, "kind")), "Table");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(t, "apiVersion")),
                        "meta.k8s.io/v1");
    const cJSON *meta = cJSON_GetObjectItem(t, "metadata");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(meta, "resourceVersion")), "42");
    assert_null(cJSON_GetObjectItem(meta, "continue"));
    const cJSON *name_col = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "columnDefinitions"), 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(name_col, "format")), "name");
    assert_string_equal(table_cell_str(t, 0), "cm");
    assert_true(cJSON_IsNumber(table_cell(t, 0, 1)));
    assert_int_equal(table_cell(t, 0, 1)->valueint, 3);
    assert_string_equal(table_cell_str(t, 2), "5s");
    /* Default includeObject=Metadata: a PartialObjectMetadata with the whole metadata. */
    const cJSON *o =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "rows"), 0), "object");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "kind")),
                        "PartialObjectMetadata");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "apiVersion")),
                        "meta.k8s.io/v1");
    const cJSON *om = cJSON_GetObjectItem(o, "metadata");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(om, "namespace")), "default");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(om, "resourceVersion")), "7");
    assert_null(cJSON_GetObjectItem(o, "data"));
    cJSON_Delete(t);
}

#define CM_JSON                                                                    \
    "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm\"," \
    "\"resourceVersion\":\"7\",\"creationTimestamp\":\"2023-12-31T00:00:00Z\"},"   \
    "\"data\":{\"a\":\"1\"}}"

static void test_table_include_object_none_metadata_object(void **state)
{
    (void)state;
    cJSON *t = table_of("", "configmaps", CM_JSON, "None");
    const cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "rows"), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(row, "object")));
    assert_string_equal(table_cell_str(t, 2), "24h");
    cJSON_Delete(t);

    t = table_of("", "configmaps", CM_JSON, "Object");
    row = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "rows"), 0);
    const cJSON *o = cJSON_GetObjectItem(row, "object");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "kind")), "ConfigMap");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "data"), "a")), "1");
    cJSON_Delete(t);

    t = table_of("", "configmaps", CM_JSON, "Metadata");
    row = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "rows"), 0);
    o = cJSON_GetObjectItem(row, "object");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "kind")),
                        "PartialObjectMetadata");
    cJSON_Delete(t);
}

static void test_table_empty_list_and_continue(void **state)
{
    (void)state;
    apiserver_table_clock = fixed_clock;
    util_buf_t b = {0};
    apiserver_table_render(&b, "v1beta1", "apps", "deployments", NULL, 0, NULL, "9", "tok");
    cJSON *t = cJSON_Parse(b.data);
    assert_non_null(t);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(t, "apiVersion")),
                        "meta.k8s.io/v1beta1");
    const cJSON *meta = cJSON_GetObjectItem(t, "metadata");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(meta, "continue")), "tok");
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(t, "rows")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(t, "rows")), 0);
    cJSON_Delete(t);
    util_buf_free(&b);
}

static void test_table_watch_event_headers_only_first(void **state)
{
    (void)state;
    apiserver_table_clock = fixed_clock;
    cJSON *obj = cJSON_Parse(CM_JSON);
    util_buf_t b = {0};
    apiserver_table_render_event(&b, "v1", "", "configmaps", obj, NULL, true);
    cJSON *t = cJSON_Parse(b.data);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(t, "columnDefinitions")), 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(t, "rows")), 1);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "metadata"),
                                                                 "resourceVersion")),
                        "7");
    cJSON_Delete(t);
    util_buf_reset(&b);
    apiserver_table_render_event(&b, "v1", "", "configmaps", obj, NULL, false);
    t = cJSON_Parse(b.data);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(t, "columnDefinitions")));
    assert_string_equal(table_cell_str(t, 0), "cm");
    cJSON_Delete(t);
    util_buf_free(&b);
    cJSON_Delete(obj);
}

static const char *pod_status_of(const char *spec_status_json, char *buf, size_t n)
{
    char *json =
        util_strdup_printf("{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"p\","
                           "\"creationTimestamp\":\"2023-12-31T23:00:00Z\"%s}",
                           spec_status_json);
    cJSON *t = table_of("", "pods", json, NULL);
    snprintf(buf, n, "%s|%s|%s", table_cell_str(t, 1), table_cell_str(t, 2), table_cell_str(t, 3));
    free(json);
    cJSON_Delete(t);
    return buf;
}

#define TWO_CONTAINERS ",\"spec\":{\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]}"
#define INIT_SPEC                                                          \
    ",\"spec\":{\"initContainers\":[{\"name\":\"i1\"},{\"name\":\"i2\"}]," \
    "\"containers\":[{\"name\":\"a\"}]}"

static void test_table_pod_status_strings(void **state)
{
    (void)state;
    char b[256];
    assert_string_equal(
        pod_status_of("}" TWO_CONTAINERS ",\"status\":{\"phase\":\"Pending\"}", b, sizeof(b)),
        "0/2|Pending|0");
    assert_string_equal(
        pod_status_of(
            "}" TWO_CONTAINERS ",\"status\":{\"phase\":\"Running\",\"containerStatuses\":["
            "{\"name\":\"a\",\"ready\":true,\"restartCount\":0,\"state\":{\"running\":{}}},"
            "{\"name\":\"b\",\"ready\":true,\"restartCount\":0,\"state\":{\"running\":{}}}]}",
            b, sizeof(b)),
        "2/2|Running|0");
    assert_string_equal(
        pod_status_of("}" TWO_CONTAINERS
                      ",\"status\":{\"phase\":\"Pending\",\"containerStatuses\":["
                      "{\"name\":\"a\",\"ready\":false,\"state\":{\"waiting\":{\"reason\":"
                      "\"ContainerCreating\"}}}]}",
                      b, sizeof(b)),
        "0/2|ContainerCreating|0");
    assert_string_equal(
        pod_status_of("}" TWO_CONTAINERS
                      ",\"status\":{\"phase\":\"Running\",\"containerStatuses\":["
                      "{\"name\":\"a\",\"ready\":false,\"restartCount\":5,\"lastState\":{"
                      "\"terminated\":{\"exitCode\":1,\"finishedAt\":\"2023-12-31T23:55:00Z\"}},"
                      "\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}}}]}",
                      b, sizeof(b)),
        "0/2|CrashLoopBackOff|5 (5m ago)");
    assert_string_equal(
        pod_status_of("}" TWO_CONTAINERS ",\"status\":{\"phase\":\"Failed\",\"containerStatuses\":["
                      "{\"name\":\"a\",\"state\":{\"terminated\":{\"exitCode\":3}}}]}",
                      b, sizeof(b)),
        "0/2|ExitCode:3|0");
    assert_string_equal(
        pod_status_of("}" TWO_CONTAINERS
                      ",\"status\":{\"phase\":\"Succeeded\",\"containerStatuses\":["
                      "{\"name\":\"a\",\"state\":{\"terminated\":{\"exitCode\":0,\"reason\":"
                      "\"Completed\"}}}]}",
                      b, sizeof(b)),
        "0/2|Completed|0");
    assert_string_equal(
        pod_status_of(",\"deletionTimestamp\":\"2024-01-01T00:00:00Z\"}" TWO_CONTAINERS
                      ",\"status\":{\"phase\":\"Running\"}",
                      b, sizeof(b)),
        "0/2|Terminating|0");
    assert_string_equal(
        pod_status_of(",\"deletionTimestamp\":\"2024-01-01T00:00:00Z\"}" TWO_CONTAINERS
                      ",\"status\":{\"phase\":\"Succeeded\"}",
                      b, sizeof(b)),
        "0/2|Succeeded|0");
    assert_string_equal(pod_status_of("}" TWO_CONTAINERS ",\"status\":{\"phase\":\"Failed\","
                                      "\"reason\":\"Evicted\"}",
                                      b, sizeof(b)),
                        "0/2|Evicted|0");
    assert_string_equal(
        pod_status_of("}" INIT_SPEC ",\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":["
                      "{\"name\":\"i1\",\"state\":{\"terminated\":{\"exitCode\":0}}},"
                      "{\"name\":\"i2\",\"state\":{\"running\":{}}}]}",
                      b, sizeof(b)),
        "0/1|Init:1/2|0");
    assert_string_equal(
        pod_status_of("}" INIT_SPEC ",\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":["
                      "{\"name\":\"i1\",\"restartCount\":2,\"state\":{\"terminated\":{\"exitCode\":"
                      "1,\"reason\":\"Error\"}}}]}",
                      b, sizeof(b)),
        "0/1|Init:Error|2");
    assert_string_equal(
        pod_status_of(
            "}" INIT_SPEC ",\"status\":{\"phase\":\"Pending\",\"initContainerStatuses\":["
            "{\"name\":\"i1\",\"state\":{\"waiting\":{\"reason\":\"ImagePullBackOff\"}}}]}",
            b, sizeof(b)),
        "0/1|Init:ImagePullBackOff|0");
    assert_string_equal(pod_status_of("}" TWO_CONTAINERS
                                      ",\"status\":{\"phase\":\"Pending\",\"conditions\":["
                                      "{\"type\":\"PodScheduled\",\"status\":\"False\",\"reason\":"
                                      "\"SchedulingGated\"}]}",
                                      b, sizeof(b)),
                        "0/2|SchedulingGated|0");
}

static void test_table_pod_columns_and_wide_cells(void **state)
{
    (void)state;
    cJSON *t = table_of("", "pods",
                        "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"creationTimestamp\":"
                        "\"2023-12-31T21:00:00+00:00\"},\"spec\":{\"nodeName\":\"n1\","
                        "\"containers\":[{\"name\":\"a\"}],\"readinessGates\":[{\"conditionType\":"
                        "\"x\"}]},\"status\":{\"phase\":\"Succeeded\",\"podIPs\":[{\"ip\":"
                        "\"10.42.0.5\"}],\"conditions\":[{\"type\":\"x\",\"status\":\"True\"}]}}",
                        NULL);
    static const char *const names[] = {"Name", "Ready", "Status",         "Restarts",       "Age",
                                        "IP",   "Node",  "Nominated Node", "Readiness Gates"};
    static const int prio[] = {0, 0, 0, 0, 0, 1, 1, 1, 1};
    assert_columns(t, names, prio, 9);
    assert_string_equal(table_cell_str(t, 4), "3h");
    assert_string_equal(table_cell_str(t, 5), "10.42.0.5");
    assert_string_equal(table_cell_str(t, 6), "n1");
    assert_string_equal(table_cell_str(t, 7), "<none>");
    assert_string_equal(table_cell_str(t, 8), "1/1");
    const cJSON *row = cJSON_GetArrayItem(cJSON_GetObjectItem(t, "rows"), 0);
    const cJSON *cond = cJSON_GetArrayItem(cJSON_GetObjectItem(row, "conditions"), 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cond, "type")), "Completed");
    cJSON_Delete(t);
}

static void test_table_deployment_columns_and_cells(void **state)
{
    (void)state;
    cJSON *t = table_of(
        "apps", "deployments",
        "{\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\",\"creationTimestamp\":"
        "\"2023-12-29T20:00:00Z\"},\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{"
        "\"app\":\"web\",\"tier\":\"fe\"},\"matchExpressions\":[{\"key\":\"env\",\"operator\":"
        "\"In\",\"values\":[\"prod\",\"dev\"]}]},\"template\":{\"spec\":{\"containers\":["
        "{\"name\":\"nginx\",\"image\":\"nginx:1\"},{\"name\":\"side\",\"image\":\"busybox\"}]}}},"
        "\"status\":{\"readyReplicas\":2,\"updatedReplicas\":3,\"availableReplicas\":2}}",
        NULL);
    static const char *const names[] = {"Name", "Ready",      "Up-to-date", "Available",
                                        "Age",  "Containers", "Images",     "Selector"};
    static const int prio[] = {0, 0, 0, 0, 0, 1, 1, 1};
    assert_columns(t, names, prio, 8);
    assert_string_equal(table_cell_str(t, 1), "2/3");
    assert_int_equal(table_cell(t, 0, 2)->valueint, 3);
    assert_int_equal(table_cell(t, 0, 3)->valueint, 2);
    assert_string_equal(table_cell_str(t, 4), "2d4h");
    assert_string_equal(table_cell_str(t, 5), "nginx,side");
    assert_string_equal(table_cell_str(t, 6), "nginx:1,busybox");
    assert_string_equal(table_cell_str(t, 7), "app=web,env in (dev,prod),tier=fe");
    cJSON_Delete(t);
}

static void test_table_service_node_event_and_generic(void **state)
{
    (void)state;
    cJSON *t = table_of("", "services",
                        "{\"metadata\":{\"name\":\"s\",\"creationTimestamp\":"
                        "\"2024-01-01T00:00:30Z\"},\"spec\":{\"type\":\"NodePort\",\"clusterIPs\":"
                        "[\"10.43.0.10\"],\"ports\":[{\"port\":80,\"nodePort\":30080,\"protocol\":"
                        "\"TCP\"},{\"port\":53,\"protocol\":\"UDP\"}],\"selector\":{\"b\":\"2\","
                        "\"a\":\"1\"}}}",
                        NULL);
    assert_string_equal(table_cell_str(t, 1), "NodePort");
    assert_string_equal(table_cell_str(t, 2), "10.43.0.10");
    assert_string_equal(table_cell_str(t, 3), "<none>");
    assert_string_equal(table_cell_str(t, 4), "80:30080/TCP,53/UDP");
    assert_string_equal(table_cell_str(t, 5), "<invalid>"); /* created 30s in the future */
    assert_string_equal(table_cell_str(t, 6), "a=1,b=2");
    cJSON_Delete(t);

    t = table_of("", "nodes",
                 "{\"metadata\":{\"name\":\"n1\",\"labels\":{\"node-role.kubernetes.io/"
                 "control-plane\":\"true\",\"node-role.kubernetes.io/master\":\"true\"}},"
                 "\"spec\":{\"unschedulable\":true},\"status\":{\"conditions\":[{\"type\":"
                 "\"Ready\",\"status\":\"True\"}],\"addresses\":[{\"type\":\"InternalIP\","
                 "\"address\":\"192.168.1.2\"}],\"nodeInfo\":{\"kubeletVersion\":\"v1.30.0\"}}}",
                 NULL);
    assert_string_equal(table_cell_str(t, 1), "Ready,SchedulingDisabled");
    assert_string_equal(table_cell_str(t, 2), "control-plane,master");
    assert_string_equal(table_cell_str(t, 3), "<unknown>");
    assert_string_equal(table_cell_str(t, 4), "v1.30.0");
    assert_string_equal(table_cell_str(t, 5), "192.168.1.2");
    assert_string_equal(table_cell_str(t, 6), "<none>");
    assert_string_equal(table_cell_str(t, 7), "<unknown>");
    cJSON_Delete(t);

    t = table_of("", "events",
                 "{\"metadata\":{\"name\":\"e1\"},\"involvedObject\":{\"kind\":\"Pod\",\"name\":"
                 "\"p\"},\"reason\":\"Pulled\",\"type\":\"Normal\",\"message\":\" done \\n\","
                 "\"source\":{\"component\":\"kubelet\",\"host\":\"n1\"},\"firstTimestamp\":"
                 "\"2023-12-31T23:50:00Z\",\"lastTimestamp\":\"2023-12-31T23:59:00Z\",\"count\":"
                 "4}",
                 NULL);
    assert_string_equal(table_cell_str(t, 0), "60s");
    assert_string_equal(table_cell_str(t, 3), "pod/p");
    assert_string_equal(table_cell_str(t, 5), "kubelet, n1");
    assert_string_equal(table_cell_str(t, 6), "done");
    assert_string_equal(table_cell_str(t, 7), "10m");
    assert_int_equal(table_cell(t, 0, 8)->valueint, 4);
    assert_string_equal(table_cell_str(t, 9), "e1");
    cJSON_Delete(t);

    t = table_of("example.com", "widgets",
                 "{\"metadata\":{\"name\":\"w\",\"creationTimestamp\":\"2023-12-31T23:58:00Z\"}}",
                 NULL);
    static const char *const names[] = {"Name", "Age"};
    static const int prio[] = {0, 0};
    assert_columns(t, names, prio, 2);
    assert_string_equal(table_cell_str(t, 1), "2m");
    cJSON_Delete(t);
}

/* ---- patches ------------------------------------------------------------------------------- */

/* Parses test JSON written with single quotes. */
static cJSON *tj(const char *s)
{
    char *d = strdup(s);
    assert_non_null(d);
    for (char *c = d; *c; c++)
        if (*c == '\'')
            *c = '"';
    cJSON *j = cJSON_Parse(d);
    if (!j)
        fail_msg("bad test JSON: %s", d);
    free(d);
    return j;
}

static void expect_json(cJSON *got, const char *want)
{
    cJSON *w = tj(want);
    if (!cJSON_Compare(got, w, true)) {
        char *g = got ? cJSON_PrintUnformatted(got) : NULL, *e = cJSON_PrintUnformatted(w);
        print_error("got  %s\nwant %s\n", g ? g : "NULL", e);
        free(g);
        free(e);
        cJSON_Delete(w);
        cJSON_Delete(got);
        fail();
    }
    cJSON_Delete(w);
    cJSON_Delete(got);
}

static void expect_error(cJSON *got, util_error_t *err, const char *substr)
{
    if (got || !*err || !strstr((*err)->msg, substr)) {
        char *g = got ? cJSON_PrintUnformatted(got) : NULL;
        print_error("got %s, error %s; want error with \"%s\"\n", g ? g : "NULL",
                    *err ? (*err)->msg : "none", substr);
        free(g);
        cJSON_Delete(got);
        fail();
    }
    util_error_free(err);
}

static void jp_case(const char *doc, const char *ops, const char *want, const char *error)
{
    cJSON *d = tj(doc), *o = tj(ops);
    util_error_t err = NULL;
    cJSON *got = apiserver_json_patch(d, o, &err);
    if (error)
        expect_error(got, &err, error);
    else
        expect_json(got, want);
    cJSON_Delete(d);
    cJSON_Delete(o);
    util_error_free(&err);
}

static void test_json_patch_rfc6902_appendix_a(void **state)
{
    (void)state;
    jp_case("{'foo':'bar'}", "[{'op':'add','path':'/baz','value':'qux'}]",
            "{'baz':'qux','foo':'bar'}", NULL);
    jp_case("{'foo':['bar','baz']}", "[{'op':'add','path':'/foo/1','value':'qux'}]",
            "{'foo':['bar','qux','baz']}", NULL);
    jp_case("{'baz':'qux','foo':'bar'}", "[{'op':'remove','path':'/baz'}]", "{'foo':'bar'}", NULL);
    jp_case("{'foo':['bar','qux','baz']}", "[{'op':'remove','path':'/foo/1'}]",
            "{'foo':['bar','baz']}", NULL);
    jp_case("{'baz':'qux','foo':'bar'}", "[{'op':'replace','path':'/baz','value':'boo'}]",
            "{'baz':'boo','foo':'bar'}", NULL);
    jp_case("{'foo':{'bar':'baz','waldo':'fred'},'qux':{'corge':'grault'}}",
            "[{'op':'move','from':'/foo/waldo','path':'/qux/thud'}]",
            "{'foo':{'bar':'baz'},'qux':{'corge':'grault','thud':'fred'}}", NULL);
    jp_case("{'foo':['all','grass','cows','eat']}",
            "[{'op':'move','from':'/foo/1','path':'/foo/3'}]",
            "{'foo':['all','cows','eat','grass']}", NULL);
    jp_case("{'baz':'qux','foo':['a',2,'c']}",
            "[{'op':'test','path':'/baz','value':'qux'},{'op':'test','path':'/foo/1','value':2}]",
            "{'baz':'qux','foo':['a',2,'c']}", NULL);
    jp_case("{'baz':'qux'}", "[{'op':'test','path':'/baz','value':'bar'}]", NULL,
            "test operation failed");
    jp_case("{'foo':'bar'}", "[{'op':'add','path':'/child','value':{'grandchild':{}}}]",
            "{'foo':'bar','child':{'grandchild':{}}}", NULL);
    jp_case("{'foo':'bar'}", "[{'op':'add','path':'/baz','value':'qux','xyz':123}]",
            "{'foo':'bar','baz':'qux'}", NULL);
    jp_case("{'foo':'bar'}", "[{'op':'add','path':'/baz/bat','value':'qux'}]", NULL,
            "doc is missing path: \"/baz/bat\": missing value");
    jp_case("{'/':9,'~1':10}", "[{'op':'test','path':'/~01','value':10}]", "{'/':9,'~1':10}", NULL);
    jp_case("{'/':9,'~1':10}", "[{'op':'test','path':'/~01','value':'10'}]", NULL,
            "test operation failed");
    jp_case("{'foo':['bar']}", "[{'op':'add','path':'/foo/-','value':['abc','def']}]",
            "{'foo':['bar',['abc','def']]}", NULL);
}

static void test_json_patch_more(void **state)
{
    (void)state;
    jp_case("{'a':{'b':1}}", "[{'op':'copy','from':'/a','path':'/c'}]", "{'a':{'b':1},'c':{'b':1}}",
            NULL);
    jp_case("{'a':1}", "[{'op':'replace','path':'','value':[1]}]", "[1]", NULL);
    jp_case("{'a':[1,2,3]}", "[{'op':'remove','path':'/a/-1'}]", "{'a':[1,2]}", NULL);
    jp_case("{'a':[1,2,3]}", "[{'op':'add','path':'/a/3','value':4}]", "{'a':[1,2,3,4]}", NULL);
    jp_case("{'a':[1,2,3]}", "[{'op':'add','path':'/a/4','value':4}]", NULL, "missing path");
    jp_case("{'a':[1,2,3]}", "[{'op':'remove','path':'/a/01'}]", NULL, "missing path");
    jp_case("{'a':1}", "[{'op':'remove','path':'/b'}]", NULL, "doc is missing path: \"/b\"");
    jp_case("{'a':1}", "[{'op':'replace','path':'/b','value':2}]", NULL, "missing path");
    jp_case("{'a':{'b':1}}", "[{'op':'move','from':'/a','path':'/a/c'}]", NULL, "child");
    jp_case("{'a':1}", "[{'op':'frob','path':'/a'}]", NULL, "Unexpected kind: frob");
    jp_case("{'a':1}", "[{'path':'/a'}]", NULL, "missing op");
    jp_case("{'a':1}", "[{'op':'add','path':'/a'}]", NULL, "missing value");
    jp_case("{'a':1}", "[{'op':'add','path':'a','value':1}]", NULL, "invalid JSON pointer");
    jp_case("{'a':1}", "[{'op':'test','path':'/a~2','value':1}]", NULL, "invalid JSON pointer");
    jp_case("{'a':1}", "{'op':'add'}", NULL, "array");
    /* a failed operation leaves no partial result behind */
    jp_case("{'a':1}", "[{'op':'add','path':'/b','value':2},{'op':'test','path':'/a','value':2}]",
            NULL, "test operation failed");

    cJSON *doc = tj("{}"), *ops = cJSON_CreateArray();
    for (int i = 0; i < APISERVER_JSON_PATCH_MAX_OPS + 1; i++)
        cJSON_AddItemToArray(ops, tj("{'op':'test','path':'','value':{}}"));
    util_error_t err = NULL;
    expect_error(apiserver_json_patch(doc, ops, &err), &err, "maximum operations");
    cJSON_DeleteItemFromArray(ops, 0);
    expect_json(apiserver_json_patch(doc, ops, &err), "{}");
    cJSON_Delete(ops);

    /* doubling the document by copies is bounded */
    ops = cJSON_CreateArray();
    cJSON_AddItemToArray(ops, tj("{'op':'add','path':'/a','value':[1,2,3,4,5,6,7,8]}"));
    for (int i = 0; i < 40; i++)
        cJSON_AddItemToArray(ops, tj("{'op':'copy','from':'/a','path':'/a/0'}"));
    expect_error(apiserver_json_patch(doc, ops, &err), &err, "copy");
    cJSON_Delete(ops);

    char deep[4096] = "";
    for (int i = 0; i < APISERVER_PATCH_MAX_DEPTH + 1; i++)
        strcat(deep, "/x");
    ops = cJSON_CreateArray();
    cJSON *op = tj("{'op':'add','value':1}");
    cJSON_AddStringToObject(op, "path", deep);
    cJSON_AddItemToArray(ops, op);
    expect_error(apiserver_json_patch(doc, ops, &err), &err, "too deep");
    cJSON_Delete(ops);
    cJSON_Delete(doc);
}

static void mp_case(const char *doc, const char *patch, const char *want)
{
    cJSON *d = tj(doc), *p = tj(patch);
    expect_json(apiserver_merge_patch(d, p), want);
    cJSON_Delete(d);
    cJSON_Delete(p);
}

static void test_merge_patch_rfc7386_appendix_a(void **state)
{
    (void)state;
    mp_case("{'a':'b'}", "{'a':'c'}", "{'a':'c'}");
    mp_case("{'a':'b'}", "{'b':'c'}", "{'a':'b','b':'c'}");
    mp_case("{'a':'b'}", "{'a':null}", "{}");
    mp_case("{'a':'b','b':'c'}", "{'a':null}", "{'b':'c'}");
    mp_case("{'a':['b']}", "{'a':'c'}", "{'a':'c'}");
    mp_case("{'a':'c'}", "{'a':['b']}", "{'a':['b']}");
    mp_case("{'a':{'b':'c'}}", "{'a':{'b':'d','c':null}}", "{'a':{'b':'d'}}");
    mp_case("{'a':[{'b':'c'}]}", "{'a':[1]}", "{'a':[1]}");
    mp_case("['a','b']", "['c','d']", "['c','d']");
    mp_case("{'a':'b'}", "['c']", "['c']");
    mp_case("{'a':'foo'}", "null", "null");
    mp_case("{'a':'foo'}", "'bar'", "'bar'");
    mp_case("{'e':null}", "{'a':1}", "{'e':null,'a':1}");
    mp_case("[1,2]", "{'a':'b','c':null}", "{'a':'b'}");
    mp_case("{}", "{'a':{'bb':{'ccc':null}}}", "{'a':{'bb':{}}}");
}

static void sp_case(const char *kind, const char *doc, const char *patch, const char *want,
                    const char *error)
{
    cJSON *d = tj(doc), *p = tj(patch);
    util_error_t err = NULL;
    cJSON *got = apiserver_strategic_patch(d, p, kind, &err);
    if (error)
        expect_error(got, &err, error);
    else
        expect_json(got, want);
    cJSON_Delete(d);
    cJSON_Delete(p);
    util_error_free(&err);
}

static void test_strategic_merge_lists_by_key(void **state)
{
    (void)state;
    /* containers by name: change a field, keep the rest */
    sp_case("Pod", "{'spec':{'containers':[{'name':'a','image':'x'},{'name':'b','image':'y'}]}}",
            "{'spec':{'containers':[{'name':'a','image':'z'}]}}",
            "{'spec':{'containers':[{'name':'a','image':'z'},{'name':'b','image':'y'}]}}", NULL);
    /* env by name, ports by containerPort, volumeMounts by mountPath, nested in containers */
    sp_case("Pod",
            "{'spec':{'containers':[{'name':'a','env':[{'name':'A','value':'1'},{'name':'B',"
            "'value':'2'}],'ports':[{'containerPort':80,'name':'http'}],"
            "'volumeMounts':[{'mountPath':'/d','name':'v'}]}]}}",
            "{'spec':{'containers':[{'name':'a','env':[{'name':'B','value':'3'},{'name':'A',"
            "'$patch':'delete'}],'ports':[{'containerPort':80,'protocol':'TCP'}],"
            "'volumeMounts':[{'mountPath':'/d','readOnly':true}]}]}}",
            "{'spec':{'containers':[{'name':'a','env':[{'name':'B','value':'3'}],"
            "'ports':[{'containerPort':80,'name':'http','protocol':'TCP'}],"
            "'volumeMounts':[{'mountPath':'/d','name':'v','readOnly':true}]}]}}",
            NULL);
    /* a new item goes in front of server-only items, as upstream's mergeSortedSlice does */
    sp_case("Pod", "{'spec':{'containers':[{'name':'a'}]}}",
            "{'spec':{'containers':[{'name':'b'}]}}",
            "{'spec':{'containers':[{'name':'b'},{'name':'a'}]}}", NULL);
    /* upstream "merge lists of maps": $setElementOrder places new and server items */
    sp_case("Pod",
            "{'spec':{'containers':[{'name':'1','other':'a'},{'name':'2','value':2,'other':'b'}]}}",
            "{'spec':{'$setElementOrder/containers':[{'name':'4'},{'name':'1'},{'name':'2'},"
            "{'name':'3'}],'containers':[{'name':'4','value':4},{'name':'3','value':3}]}}",
            "{'spec':{'containers':[{'name':'4','value':4},{'name':'1','other':'a'},"
            "{'name':'2','value':2,'other':'b'},{'name':'3','value':3}]}}",
            NULL);
    /* upstream "set elements order in a list with server-only items" */
    sp_case("Pod",
            "{'spec':{'containers':[{'name':'1','other':'a'},{'name':'3','value':3},"
            "{'name':'4','value':4},{'name':'2','value':2},{'name':'9'}]}}",
            "{'spec':{'$setElementOrder/containers':[{'name':'4'},{'name':'2'},{'name':'3'},"
            "{'name':'1'}]}}",
            "{'spec':{'containers':[{'name':'4','value':4},{'name':'2','value':2},"
            "{'name':'3','value':3},{'name':'1','other':'a'},{'name':'9'}]}}",
            NULL);
    /* $patch: replace inside a list */
    sp_case("Pod", "{'spec':{'volumes':[{'name':'a'},{'name':'b'}]}}",
            "{'spec':{'volumes':[{'$patch':'replace'},{'name':'c','emptyDir':{}}]}}",
            "{'spec':{'volumes':[{'name':'c','emptyDir':{}}]}}", NULL);
    /* delete a missing item is a no-op */
    sp_case("Pod", "{'spec':{'volumes':[{'name':'a'}]}}",
            "{'spec':{'volumes':[{'name':'z','$patch':'delete'}]}}",
            "{'spec':{'volumes':[{'name':'a'}]}}", NULL);
    /* lists without a merge strategy are replaced: tolerations, readinessGates */
    sp_case("Pod",
            "{'spec':{'tolerations':[{'key':'a'}],'readinessGates':[{'conditionType':'x'}]}}",
            "{'spec':{'tolerations':[{'key':'b'}],'readinessGates':[]}}",
            "{'spec':{'tolerations':[{'key':'b'}],'readinessGates':[]}}", NULL);
    /* pod templates in workloads; the CronJob's is two levels down */
    sp_case("Deployment",
            "{'spec':{'template':{'spec':{'containers':[{'name':'a','image':'x'}]}}}}",
            "{'spec':{'template':{'spec':{'containers':[{'name':'a','image':'y'}]}}}}",
            "{'spec':{'template':{'spec':{'containers':[{'name':'a','image':'y'}]}}}}", NULL);
    sp_case("CronJob",
            "{'spec':{'jobTemplate':{'spec':{'template':{'spec':{'containers':[{'name':'a',"
            "'image':'x'},{'name':'b'}]}}}}}}",
            "{'spec':{'jobTemplate':{'spec':{'template':{'spec':{'containers':[{'name':'a',"
            "'image':'y'}]}}}}}}",
            "{'spec':{'jobTemplate':{'spec':{'template':{'spec':{'containers':[{'name':'a',"
            "'image':'y'},{'name':'b'}]}}}}}}",
            NULL);
    /* ...but a ConfigMap (no table) replaces its lists */
    sp_case("ConfigMap", "{'spec':{'containers':[{'name':'a','image':'x'},{'name':'b'}]}}",
            "{'spec':{'containers':[{'name':'a','image':'y'}]}}",
            "{'spec':{'containers':[{'name':'a','image':'y'}]}}", NULL);
    sp_case("Service", "{'spec':{'ports':[{'port':80,'name':'http'},{'port':443}]}}",
            "{'spec':{'ports':[{'port':80,'targetPort':8080}]}}",
            "{'spec':{'ports':[{'port':80,'name':'http','targetPort':8080},{'port':443}]}}", NULL);
    sp_case("Node",
            "{'status':{'addresses':[{'type':'InternalIP','address':'10.0.0.1'},"
            "{'type':'Hostname','address':'n'}],'conditions':[{'type':'Ready','status':'False'}]}}",
            "{'status':{'addresses':[{'type':'InternalIP','address':'10.0.0.2'}],"
            "'conditions':[{'type':'Ready','status':'True'}]}}",
            "{'status':{'addresses':[{'type':'InternalIP','address':'10.0.0.2'},"
            "{'type':'Hostname','address':'n'}],'conditions':[{'type':'Ready','status':'True'}]}}",
            NULL);
    sp_case("Pod", "{'metadata':{'ownerReferences':[{'uid':'1','name':'a'}]}}",
            "{'metadata':{'ownerReferences':[{'uid':'1','controller':true}]}}",
            "{'metadata':{'ownerReferences':[{'uid':'1','name':'a','controller':true}]}}", NULL);
    sp_case(
        "Deployment", "{'status':{'conditions':[{'type':'A','status':'True'},{'type':'B'}]}}",
        "{'status':{'conditions':[{'type':'B','status':'False'}]}}",
        "{'status':{'conditions':[{'type':'A','status':'True'},{'type':'B','status':'False'}]}}",
        NULL);
}

static void test_strategic_primitive_lists(void **state)
{
    (void)state;
    /* upstream "merge lists of scalars" (finalizers merge) */
    sp_case("Pod", "{'metadata':{'finalizers':['1','2','4']}}",
            "{'metadata':{'$setElementOrder/finalizers':['1','2','3'],'finalizers':['3']}}",
            "{'metadata':{'finalizers':['1','2','3','4']}}", NULL);
    sp_case("Pod", "{'metadata':{'finalizers':['a','b']}}", "{'metadata':{'finalizers':['b','c']}}",
            "{'metadata':{'finalizers':['a','b','c']}}", NULL);
    /* upstream "delete items in lists of scalars" */
    sp_case("Pod", "{'metadata':{'finalizers':['1','2','3','4']}}",
            "{'metadata':{'$setElementOrder/finalizers':['1','2'],"
            "'$deleteFromPrimitiveList/finalizers':['3']}}",
            "{'metadata':{'finalizers':['1','2','4']}}", NULL);
    /* "delete all duplicate items", and deleting what is not there adds nothing */
    sp_case("Pod", "{'metadata':{'finalizers':['a','b','a']}}",
            "{'metadata':{'$deleteFromPrimitiveList/finalizers':['a','z']}}",
            "{'metadata':{'finalizers':['b']}}", NULL);
    sp_case("Pod", "{'metadata':{}}", "{'metadata':{'$deleteFromPrimitiveList/finalizers':['a']}}",
            "{'metadata':{}}", NULL);
    /* $deleteFromPrimitiveList also works on lists without merge strategy */
    sp_case("Pod", "{'spec':{'args':['a','b']}}",
            "{'spec':{'$deleteFromPrimitiveList/args':['a']}}", "{'spec':{'args':['b']}}", NULL);
    /* primitive lists without strategy are replaced */
    sp_case("Pod", "{'spec':{'containers':[{'name':'a','args':['1','2']}]}}",
            "{'spec':{'containers':[{'name':'a','args':['3']}]}}",
            "{'spec':{'containers':[{'name':'a','args':['3']}]}}", NULL);
}

static void test_strategic_maps_and_directives(void **state)
{
    (void)state;
    sp_case("ConfigMap", "{'data':{'a':'1','b':'2'},'x':1}", "{'data':{'a':null,'c':'3'},'x':null}",
            "{'data':{'b':'2','c':'3'}}", NULL);
    sp_case("Pod", "{'spec':{'nodeSelector':{'a':'1'}}}",
            "{'spec':{'nodeSelector':{'$patch':'replace','b':'2'}}}",
            "{'spec':{'nodeSelector':{'b':'2'}}}", NULL);
    sp_case("Pod", "{'spec':{'nodeSelector':{'a':'1'}}}",
            "{'spec':{'nodeSelector':{'$patch':'delete'}}}", "{'spec':{'nodeSelector':{}}}", NULL);
    /* new content loses nulls and marked maps */
    sp_case("Pod", "{}", "{'spec':{'a':null,'b':{'$patch':'delete'},'c':1}}", "{'spec':{'c':1}}",
            NULL);
    /* upstream "retainKeys map should clear defaulted field" (Deployment strategy) */
    sp_case("Deployment",
            "{'spec':{'strategy':{'type':'RollingUpdate','rollingUpdate':{'maxSurge':1}}}}",
            "{'spec':{'strategy':{'$retainKeys':['type'],'type':'Recreate'}}}",
            "{'spec':{'strategy':{'type':'Recreate'}}}", NULL);
    /* retainKeys in a merging list of maps (volumes) */
    sp_case("Pod", "{'spec':{'volumes':[{'name':'v','hostPath':{'path':'/a'}}]}}",
            "{'spec':{'volumes':[{'name':'v','$retainKeys':['name','emptyDir'],'emptyDir':{}}]}}",
            "{'spec':{'volumes':[{'name':'v','emptyDir':{}}]}}", NULL);
    sp_case("Deployment", "{'spec':{'strategy':{}}}",
            "{'spec':{'strategy':{'$retainKeys':['type'],'rollingUpdate':{}}}}", NULL,
            "invalid patch format of retainKeys");
    sp_case("Pod", "{}", "{'spec':{'$frob':1}}", NULL, "unknown patch directive: $frob");
    sp_case("Pod", "{'spec':{}}", "{'spec':{'$patch':'frob'}}", NULL, "unknown patch type: frob");
    sp_case("Pod", "{'spec':{'containers':[{'name':'a'}]}}",
            "{'spec':{'containers':[{'$patch':'merge'}]}}", NULL, "merging lists cannot");
    sp_case("Pod", "{'spec':{'containers':[{'name':'a'}]}}",
            "{'spec':{'containers':[{'image':'x'}]}}", NULL, "merge key: name");
    sp_case("Pod", "{'spec':{'containers':[{'name':'a'}]}}",
            "{'spec':{'containers':[{'$patch':'delete'}]}}", NULL, "merge key: name");
    sp_case("Pod", "{'spec':{'containers':[{'name':'a'}]}}", "{'spec':{'containers':['x']}}", NULL,
            "not identical");
    sp_case("Pod", "{'spec':{'containers':[{'name':'1'}]}}",
            "{'spec':{'$setElementOrder/containers':[{'name':'1'}],'containers':[{'name':'2'}]}}",
            NULL, "doesn't match");
    sp_case("Pod", "{}", "[]", NULL, "JSON object");
    /* the top-level $patch: delete empties the object */
    sp_case("Pod", "{'a':1}", "{'$patch':'delete'}", "{}", NULL);
}

/* Random operation arrays and patches: every call returns a document or an error. */
static cJSON *random_value(unsigned *seed, int depth)
{
    static const char *const keys[] = {"a",
                                       "b",
                                       "name",
                                       "$patch",
                                       "containers",
                                       "finalizers",
                                       "$retainKeys",
                                       "$setElementOrder/containers",
                                       "$deleteFromPrimitiveList/finalizers",
                                       "spec"};
    static const char *const strs[] = {"delete", "replace", "merge", "a", "name", "x"};
    int r = rand_r(seed) % (depth > 3 ? 4 : 7);
    cJSON *v;
    switch (r) {
    case 0:
        return cJSON_CreateNull();
    case 1:
        return cJSON_CreateNumber(rand_r(seed) % 4);
    case 2:
        return cJSON_CreateString(strs[rand_r(seed) % UTIL_ARRAY_SIZE(strs)]);
    case 3:
        return cJSON_CreateBool(rand_r(seed) % 2);
    case 4:
    case 5:
        v = cJSON_CreateObject();
        for (int i = rand_r(seed) % 4; i > 0; i--)
            cJSON_AddItemToObject(v, keys[rand_r(seed) % UTIL_ARRAY_SIZE(keys)],
                                  random_value(seed, depth + 1));
        return v;
    default:
        v = cJSON_CreateArray();
        for (int i = rand_r(seed) % 4; i > 0; i--)
            cJSON_AddItemToArray(v, random_value(seed, depth + 1));
        return v;
    }
}

static void test_patches_random_input_never_crash(void **state)
{
    (void)state;
    static const char *const opnames[] = {"add", "remove", "replace", "move", "copy", "test", "x"};
    static const char *const paths[] = {"",          "/",     "/a",  "/a/0", "/a/-",  "/b/c",
                                        "/a/1/name", "/spec", "/~1", "/~",   "/a/-1", "/a/99"};
    unsigned seed = 12345;
    for (int iter = 0; iter < 3000; iter++) {
        cJSON *doc = random_value(&seed, 0), *ops = cJSON_CreateArray();
        for (int i = rand_r(&seed) % 6; i > 0; i--) {
            cJSON *op = cJSON_CreateObject();
            cJSON_AddStringToObject(op, "op", opnames[rand_r(&seed) % UTIL_ARRAY_SIZE(opnames)]);
            cJSON_AddStringToObject(op, "path", paths[rand_r(&seed) % UTIL_ARRAY_SIZE(paths)]);
            cJSON_AddStringToObject(op, "from", paths[rand_r(&seed) % UTIL_ARRAY_SIZE(paths)]);
            if (rand_r(&seed) % 4)
                cJSON_AddItemToObject(op, "value", random_value(&seed, 1));
            cJSON_AddItemToArray(ops, op);
        }
        util_error_t err = NULL;
        cJSON *out = apiserver_json_patch(doc, ops, &err);
        assert_true((out != NULL) != (err != NULL));
        cJSON_Delete(out);
        util_error_free(&err);

        cJSON *patch = random_value(&seed, 0);
        out = apiserver_strategic_patch(doc, patch, iter % 2 ? "Pod" : "Deployment", &err);
        assert_true((out != NULL) != (err != NULL));
        cJSON_Delete(out);
        util_error_free(&err);
        cJSON_Delete(apiserver_merge_patch(doc, patch));
        cJSON_Delete(patch);
        cJSON_Delete(ops);
        cJSON_Delete(doc);
    }
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

/* ---- stored objects: canonical order and resourceVersion splicing --------------------------- */

static void test_splice_rv_into_canonical_text(void **state)
{
    (void)state;
    cJSON *obj = cJSON_Parse("{\"data\":{\"metadata\":{\"x\":1}},\"metadata\":{\"name\":\"a\"},"
                             "\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\"}");
    apiserver_obj_canonical_order(obj);
    char *text = cJSON_PrintUnformatted(obj);
    assert_string_equal(text, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{"
                              "\"name\":\"a\"},\"data\":{\"metadata\":{\"x\":1}}}");
    util_buf_t b = {0};
    assert_true(apiserver_obj_splice_rv(text, strlen(text), 42, &b));
    cJSON *back = cJSON_Parse(b.data); /* the top-level metadata got it, the nested one not */
    assert_non_null(back);
    cJSON *meta = cJSON_GetObjectItemCaseSensitive(back, "metadata");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion")->valuestring,
                        "42");
    assert_null(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(back, "data"),
                                         "metadata"),
        "resourceVersion"));
    cJSON_Delete(back);
    util_buf_free(&b);
    /* empty metadata: no dangling comma */
    assert_true(apiserver_obj_splice_rv("{\"metadata\":{}}", 15, 7, &b));
    assert_string_equal(b.data, "{\"metadata\":{\"resourceVersion\":\"7\"}}");
    util_buf_free(&b);
    /* not canonical, escapes before metadata, or not JSON: refused, nothing appended */
    static const char *const refused[] = {"{\"data\":{},\"metadata\":{}}",
                                          "{\"kind\":\"a\\\"b\",\"metadata\":{}}",
                                          "[]",
                                          "",
                                          "{",
                                          "{\"kind\":\"x\"",
                                          "{\"apiVersion\":1,\"metadata\":{}}"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        assert_false(apiserver_obj_splice_rv(refused[i], strlen(refused[i]), 1, &b));
        assert_int_equal(b.len, 0);
    }
    cJSON_free(text);
    cJSON_Delete(obj);
}

/* ---- server-side apply and managedFields ------------------------------------------------------
 */

static apiserver_manager_t ssa_manager(const char *name, bool force)
{
    return (apiserver_manager_t){.kind = "Deployment",
                                 .name = name,
                                 .api_version = "apps/v1",
                                 .subresource = "",
                                 .now = "2026-01-02T03:04:05Z",
                                 .force = force,
                                 .strip_status = true};
}

/* The fieldsV1 of obj's entry for manager/operation, detached for expect_json (NULL if none). */
static cJSON *ssa_fields(const cJSON *obj, const char *manager, const char *op)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata"), *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(meta, "managedFields"))
    {
        if (!strcmp(apiserver_obj_string(e, "manager"), manager) &&
            !strcmp(apiserver_obj_string(e, "operation"), op))
            return cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(e, "fieldsV1"), true);
    }
    return NULL;
}

#define SSA_DEPLOY(replicas, image, extra)                                                      \
    "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'d','labels':{'app':'d'}}," \
    "'spec':{'replicas':" replicas ",'selector':{'matchLabels':{'app':'d'}},'template':{"       \
    "'spec':{'containers':[{'name':'main','image':'" image "'}" extra "]}}}}"

static cJSON *ssa_apply(const cJSON *live, const char *applied, const char *manager, bool force,
                        cJSON **ret_causes)
{
    cJSON *a = tj(applied), *obj = NULL, *causes = NULL;
    apiserver_manager_t m = ssa_manager(manager, force);
    util_error_t err = NULL;
    int r = apiserver_apply_merge(live, a, &m, &obj, &causes, &err);
    cJSON_Delete(a);
    util_error_free(&err);
    if (ret_causes)
        *ret_causes = causes;
    else
        assert_int_equal(r, 0);
    return obj;
}

static void test_ssa_field_set_of_applied_config(void **state)
{
    (void)state;
    cJSON *obj = tj("{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'d',"
                    "'namespace':'n','uid':'u','labels':{'a':'b'},'finalizers':['x'],"
                    "'annotations':{}},'spec':{'replicas':2,'selector':{'matchLabels':{'a':'b'}},"
                    "'template':{'spec':{'containers':[{'name':'c','image':'i','args':['1'],"
                    "'ports':[{'containerPort':80}]}]}}},'status':{'replicas':1}}");
    expect_json(apiserver_fields_of(obj, "Deployment", true),
                "{'f:metadata':{'f:labels':{'f:a':{}},'f:finalizers':{'v:\\'x\\'':{}}},"
                "'f:spec':{'f:replicas':{},'f:selector':{},'f:template':{'f:spec':{"
                "'f:containers':{'k:{\\'name\\':\\'c\\'}':{'.':{},'f:name':{},'f:image':{},"
                "'f:args':{},'f:ports':{'k:{\\'containerPort\\':80}':{'.':{},"
                "'f:containerPort':{}}}}}}}}}");
    cJSON_Delete(obj);
}

static void test_ssa_create_then_change_and_remove(void **state)
{
    (void)state;
    cJSON *obj = ssa_apply(NULL, SSA_DEPLOY("2", "a", ",{'name':'side','image':'s'}"), "kubectl",
                           false, NULL);
    const cJSON *mf =
        cJSON_GetObjectItemCaseSensitive(apiserver_obj_metadata(obj), "managedFields");
    assert_int_equal(cJSON_GetArraySize(mf), 1);
    assert_string_equal(apiserver_obj_string(mf->child, "apiVersion"), "apps/v1");
    assert_string_equal(apiserver_obj_string(mf->child, "fieldsType"), "FieldsV1");
    assert_string_equal(apiserver_obj_string(mf->child, "time"), "2026-01-02T03:04:05Z");
    /* A second apply without "side" and the label changes the image and drops what it left. */
    cJSON *next = ssa_apply(obj,
                            "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{"
                            "'name':'d'},'spec':{'replicas':2,'selector':{'matchLabels':{"
                            "'app':'d'}},'template':{'spec':{'containers':[{'name':'main',"
                            "'image':'b'}]}}}}",
                            "kubectl", false, NULL);
    cJSON_DeleteItemFromObjectCaseSensitive(apiserver_obj_metadata(next), "managedFields");
    expect_json(next, "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{'name':'d'},"
                      "'spec':{'replicas':2,'selector':{'matchLabels':{'app':'d'}},'template':{"
                      "'spec':{'containers':[{'name':'main','image':'b'}]}}}}");
    cJSON_Delete(obj);
}

static void test_ssa_conflicts_force_and_shared_fields(void **state)
{
    (void)state;
    cJSON *created = tj(SSA_DEPLOY("1", "a", ""));
    apiserver_manager_t m = ssa_manager("kubectl-create", false);
    apiserver_managed_update(created, NULL, &m);
    expect_json(ssa_fields(created, "kubectl-create", "Update"),
                "{'f:metadata':{'f:labels':{'f:app':{}}},'f:spec':{'f:replicas':{},"
                "'f:selector':{},'f:template':{'f:spec':{'f:containers':{"
                "'k:{\\'name\\':\\'main\\'}':{'.':{},'f:name':{},'f:image':{}}}}}}}");
    /* A different replicas count conflicts, with upstream's message and cause. */
    cJSON *causes = NULL;
    assert_null(ssa_apply(created, SSA_DEPLOY("3", "a", ""), "kubectl", false, &causes));
    char *msg = apiserver_apply_conflict_message(causes);
    assert_string_equal(msg, "Apply failed with 1 conflict: conflict with \"kubectl-create\" "
                             "using apps/v1: .spec.replicas");
    free(msg);
    expect_json(causes, "[{'reason':'FieldManagerConflict','message':'conflict with "
                        "\\'kubectl-create\\' using apps/v1','field':'.spec.replicas'}]");
    /* The same values are shared; force takes the changed field over. */
    cJSON *shared = ssa_apply(created, SSA_DEPLOY("1", "a", ""), "kubectl", false, NULL);
    expect_json(ssa_fields(shared, "kubectl-create", "Update"),
                "{'f:metadata':{'f:labels':{'f:app':{}}},'f:spec':{'f:replicas':{},"
                "'f:selector':{},'f:template':{'f:spec':{'f:containers':{"
                "'k:{\\'name\\':\\'main\\'}':{'.':{},'f:name':{},'f:image':{}}}}}}}");
    cJSON *forced = ssa_apply(created,
                              "{'apiVersion':'apps/v1','kind':'Deployment','metadata':"
                              "{'name':'d'},'spec':{'replicas':3}}",
                              "kubectl", true, NULL);
    expect_json(ssa_fields(forced, "kubectl", "Apply"), "{'f:spec':{'f:replicas':{}}}");
    cJSON *theirs = ssa_fields(forced, "kubectl-create", "Update");
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(theirs, "f:spec");
    assert_null(cJSON_GetObjectItemCaseSensitive(spec, "f:replicas"));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(spec, "f:selector"));
    cJSON_Delete(theirs);
    /* Dropping a co-owned field from the apply keeps it on the object. */
    cJSON *kept = ssa_apply(shared,
                            "{'apiVersion':'apps/v1','kind':'Deployment','metadata':{"
                            "'name':'d'},'spec':{'replicas':1}}",
                            "kubectl", false, NULL);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(kept, "spec"),
                                                     "template"));
    /* An Update by another manager takes the fields it changes from the applier. */
    cJSON *scaled = cJSON_Duplicate(forced, true);
    cJSON *sp = cJSON_GetObjectItemCaseSensitive(scaled, "spec");
    cJSON_ReplaceItemInObjectCaseSensitive(sp, "replicas", cJSON_CreateNumber(5));
    apiserver_manager_t s = ssa_manager("kubectl", false);
    s.subresource = "scale";
    apiserver_managed_update(scaled, forced, &s);
    assert_null(ssa_fields(scaled, "kubectl", "Apply"));
    expect_json(ssa_fields(scaled, "kubectl", "Update"), "{'f:spec':{'f:replicas':{}}}");
    cJSON_Delete(scaled);
    cJSON_Delete(kept);
    cJSON_Delete(forced);
    cJSON_Delete(shared);
    cJSON_Delete(created);
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splice_rv_into_canonical_text),
        cmocka_unit_test_setup_teardown(test_first_call_creates_files_with_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_is_a_ca_and_serving_cert_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_cert_is_system_masters_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_credential_kubeconfig, setup, teardown),
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
        cmocka_unit_test(test_table_wanted_for_kubectl_accept_only),
        cmocka_unit_test(test_table_human_duration_matches_upstream),
        cmocka_unit_test(test_table_configmap_columns_cells_and_metadata),
        cmocka_unit_test(test_table_include_object_none_metadata_object),
        cmocka_unit_test(test_table_empty_list_and_continue),
        cmocka_unit_test(test_table_watch_event_headers_only_first),
        cmocka_unit_test(test_table_pod_status_strings),
        cmocka_unit_test(test_table_pod_columns_and_wide_cells),
        cmocka_unit_test(test_table_deployment_columns_and_cells),
        cmocka_unit_test(test_table_service_node_event_and_generic),
        cmocka_unit_test(test_json_patch_rfc6902_appendix_a),
        cmocka_unit_test(test_json_patch_more),
        cmocka_unit_test(test_merge_patch_rfc7386_appendix_a),
        cmocka_unit_test(test_strategic_merge_lists_by_key),
        cmocka_unit_test(test_strategic_primitive_lists),
        cmocka_unit_test(test_strategic_maps_and_directives),
        cmocka_unit_test(test_ssa_field_set_of_applied_config),
        cmocka_unit_test(test_ssa_create_then_change_and_remove),
        cmocka_unit_test(test_ssa_conflicts_force_and_shared_fields),
        cmocka_unit_test(test_patches_random_input_never_crash),
        cmocka_unit_test(test_schema_pod_containers_need_a_name),
        cmocka_unit_test(test_schema_object_meta_and_special_types),
        cmocka_unit_test(test_schema_kinds_by_group_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
