/* apiserver_pki: creates, reuses and renews the cluster CA, serving and admin certificates. */
#include "apiserver/apiserver_pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#define PKI_FILE_MAX      (1024 * 1024)
#define PKI_KEY_MAX       (64 * 1024)
#define PKI_DAY           (24L * 3600)
#define PKI_CA_DAYS       3650
#define PKI_LEAF_DAYS     365
#define PKI_RENEW_SECONDS (90 * PKI_DAY)
#define PKI_BACKDATE      3600 /* tolerate clocks of other nodes that run a little behind */
#define PKI_SERIAL_LEN    16
#define PKI_SERVICE_IP    "10.43.0.1" /* first address of the default service CIDR */
#define PKI_DEFAULT_URL   "https://127.0.0.1:6443"

/* ------------------------------------------------------------------------------------------ */
/* Small helpers: RNG, mbedTLS errors, secrets. */

typedef struct pki_rng {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
} pki_rng_t;

static int pki_mbed_error(util_error_t *err, int errnum, int ret, const char *what)
{
    char buf[128];
    mbedtls_strerror(ret, buf, sizeof(buf));
    return util_error_make(err, errnum, "%s: %s (-0x%04x)", what, buf, (unsigned)-ret);
}

static int pki_rng_init(pki_rng_t *rng, util_error_t *err)
{
    static const char pers[] = "kubeling-pki";
    /* mbedTLS 3.6 routes hashing and key handling through PSA even for the legacy API. */
    psa_status_t st = psa_crypto_init();
    if (st != PSA_SUCCESS)
        return util_error_make(err, EIO, "psa_crypto_init failed (%d)", (int)st);
    int ret = mbedtls_ctr_drbg_seed(&rng->drbg, mbedtls_entropy_func, &rng->entropy,
                                    (const unsigned char *)pers, sizeof(pers) - 1);
    if (ret != 0)
        return pki_mbed_error(err, EIO, ret, "seeding the random generator");
    return 0;
}

static void pki_rng_free(pki_rng_t *rng)
{
    mbedtls_ctr_drbg_free(&rng->drbg);
    mbedtls_entropy_free(&rng->entropy);
}

/* Frees a NUL-terminated secret after wiping it. */
static void pki_free_secret(char *s)
{
    if (!s)
        return;
    mbedtls_platform_zeroize(s, strlen(s));
    free(s);
}

/* ------------------------------------------------------------------------------------------ */
/* A certificate and its key: PEM text (owned) and the parsed forms. */

typedef struct pki_pair {
    char *crt_pem;
    char *key_pem;
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
} pki_pair_t;

static void pki_pair_init(pki_pair_t *p)
{
    memset(p, 0, sizeof(*p));
    mbedtls_x509_crt_init(&p->crt);
    mbedtls_pk_init(&p->key);
}

static void pki_pair_free(pki_pair_t *p)
{
    free(p->crt_pem);
    pki_free_secret(p->key_pem);
    mbedtls_x509_crt_free(&p->crt);
    mbedtls_pk_free(&p->key);
    pki_pair_init(p);
}

/* Parses the PEM text of p; the key must belong to the certificate. */
static int pki_pair_parse(pki_pair_t *p, const char *name, pki_rng_t *rng, util_error_t *err)
{
    char what[PATH_MAX + 32];
    int ret =
        mbedtls_x509_crt_parse(&p->crt, (const unsigned char *)p->crt_pem, strlen(p->crt_pem) + 1);
    if (ret != 0) {
        snprintf(what, sizeof(what), "parsing `%s.crt`", name);
        return pki_mbed_error(err, EINVAL, ret, what);
    }
    ret = mbedtls_pk_parse_key(&p->key, (const unsigned char *)p->key_pem, strlen(p->key_pem) + 1,
                               NULL, 0, mbedtls_ctr_drbg_random, &rng->drbg);
    if (ret != 0) {
        snprintf(what, sizeof(what), "parsing `%s.key`", name);
        return pki_mbed_error(err, EINVAL, ret, what);
    }
    ret = mbedtls_pk_check_pair(&p->crt.pk, &p->key, mbedtls_ctr_drbg_random, &rng->drbg);
    if (ret != 0) {
        snprintf(what, sizeof(what), "`%s.key` does not match `%s.crt`", name, name);
        return pki_mbed_error(err, EINVAL, ret, what);
    }
    return 0;
}

/* Reads a private key into one exactly sized buffer (util_read_file grows its buffer with
 * realloc, which would leave copies of the key in freed memory). */
static int pki_read_secret(const char *path, char **ret, util_error_t *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return util_error_make(err, errno, "open `%s`", path);
    if (!S_ISREG(st.st_mode) || st.st_size > PKI_KEY_MAX)
        return util_error_make(err, EFBIG, "`%s` is not a key file of at most %d bytes", path,
                               PKI_KEY_MAX);
    size_t size = (size_t)st.st_size, len = 0;
    char *buf = util_xmalloc(size + 1);
    while (len < size) {
        ssize_t n = read(fd, buf + len, size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            mbedtls_platform_zeroize(buf, size + 1);
            free(buf);
            return util_error_make(err, e, "read `%s`", path);
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    *ret = buf;
    return 0;
}

/* Reads <base>.crt and <base>.key; -ENOENT (with err set) when either is missing. */
static int pki_pair_load(pki_pair_t *p, const char *base, pki_rng_t *rng, util_error_t *err)
{
    char path[PATH_MAX];
    if (util_snprintf(path, sizeof(path), "%s.crt", base) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long: %s.crt", base);
    int r = util_read_file(path, PKI_FILE_MAX, &p->crt_pem, NULL, err);
    if (r < 0)
        return r;
    if (util_snprintf(path, sizeof(path), "%s.key", base) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long: %s.key", base);
    r = pki_read_secret(path, &p->key_pem, err);
    if (r < 0)
        return r;
    return pki_pair_parse(p, base, rng, err);
}

/* Writes the key first: a crash in between leaves a certificate that no longer matches its
 * key, which the next start treats as missing (leaves) or notices (CA, see pki_ca_ensure). */
static int pki_pair_store(const pki_pair_t *p, const char *base, util_error_t *err)
{
    char path[PATH_MAX];
    if (util_snprintf(path, sizeof(path), "%s.key", base) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long: %s.key", base);
    int r = util_write_file_atomic(path, p->key_pem, strlen(p->key_pem), 0600, err);
    if (r < 0)
        return r;
    if (util_snprintf(path, sizeof(path), "%s.crt", base) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long: %s.crt", base);
    return util_write_file_atomic(path, p->crt_pem, strlen(p->crt_pem), 0644, err);
}

/* ------------------------------------------------------------------------------------------ */
/* Subject alternative names. */

typedef struct pki_san {
    int type; /* MBEDTLS_X509_SAN_DNS_NAME or MBEDTLS_X509_SAN_IP_ADDRESS */
    unsigned char ip[16];
    size_t ip_len;
    char *dns;
} pki_san_t;

typedef struct pki_sans {
    pki_san_t *v;
    size_t n;
} pki_sans_t;

static void pki_sans_free(pki_sans_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].dns);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static bool pki_san_equal(const pki_san_t *a, int type, const unsigned char *data, size_t len)
{
    if (a->type != type)
        return false;
    if (type == MBEDTLS_X509_SAN_IP_ADDRESS)
        return a->ip_len == len && memcmp(a->ip, data, len) == 0;
    return strlen(a->dns) == len && strncasecmp(a->dns, (const char *)data, len) == 0;
}

static void pki_sans_add(pki_sans_t *s, int type, const void *data, size_t len)
{
    for (size_t i = 0; i < s->n; i++)
        if (pki_san_equal(&s->v[i], type, data, len))
            return;
    s->v = util_xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
    pki_san_t *san = &s->v[s->n++];
    memset(san, 0, sizeof(*san));
    san->type = type;
    if (type == MBEDTLS_X509_SAN_IP_ADDRESS) {
        memcpy(san->ip, data, len);
        san->ip_len = len;
    } else {
        san->dns = util_xcalloc(1, len + 1);
        memcpy(san->dns, data, len);
    }
}

/* An IPv4 or IPv6 literal becomes an IP SAN, anything else a DNS SAN. */
static void pki_sans_add_text(pki_sans_t *s, const char *text)
{
    unsigned char ip[16];
    if (inet_pton(AF_INET, text, ip) == 1)
        pki_sans_add(s, MBEDTLS_X509_SAN_IP_ADDRESS, ip, 4);
    else if (inet_pton(AF_INET6, text, ip) == 1)
        pki_sans_add(s, MBEDTLS_X509_SAN_IP_ADDRESS, ip, 16);
    else if (*text)
        pki_sans_add(s, MBEDTLS_X509_SAN_DNS_NAME, text, strlen(text));
}

static int pki_sans_add_interfaces(pki_sans_t *s, util_error_t *err)
{
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) < 0)
        return util_error_make(err, errno, "listing network interfaces");
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(void *)i->ifa_addr;
        const unsigned char *b = (const unsigned char *)&sin->sin_addr;
        if (b[0] != 127)
            pki_sans_add(s, MBEDTLS_X509_SAN_IP_ADDRESS, b, 4);
    }
    freeifaddrs(ifa);
    return 0;
}

/* The names clients use to reach the apiserver: in-cluster Service names, local addresses,
 * the host's name and addresses, and what the operator asked for with --tls-san. */
static int pki_sans_build(const apiserver_pki_opts_t *o, pki_sans_t *s, util_error_t *err)
{
    static const char *const fixed[] = {
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "127.0.0.1",
        PKI_SERVICE_IP,
    };
    char host[HOST_NAME_MAX + 1] = "";
    if (gethostname(host, sizeof(host)) == 0) {
        host[sizeof(host) - 1] = '\0';
        pki_sans_add_text(s, host);
    }
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(fixed); i++)
        pki_sans_add_text(s, fixed[i]);
    int r = pki_sans_add_interfaces(s, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < o->n_tls_sans; i++)
        if (o->tls_sans[i])
            pki_sans_add_text(s, o->tls_sans[i]);
    return 0;
}

static bool pki_crt_has_san(const mbedtls_x509_crt *crt, const pki_san_t *want)
{
    for (const mbedtls_x509_sequence *cur = &crt->subject_alt_names; cur; cur = cur->next) {
        if (!cur->buf.p)
            continue;
        int type = cur->buf.tag & MBEDTLS_ASN1_TAG_VALUE_MASK;
        if (pki_san_equal(want, type, cur->buf.p, cur->buf.len))
            return true;
    }
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Issuing certificates. */

typedef enum { PKI_CA, PKI_SERVING, PKI_CLIENT } pki_profile_t;

/* Returns 0 or an mbedTLS error code, like the other builders below. */
static int pki_gen_key(mbedtls_pk_context *pk, pki_rng_t *rng)
{
    int ret = mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (ret == 0)
        ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk),
                                  mbedtls_ctr_drbg_random, &rng->drbg);
    return ret;
}

static void pki_time_string(char out[16], time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y%m%d%H%M%S", &tm);
}

/* Random, positive (top bit clear) and minimally encoded (first byte non-zero). */
static int pki_set_serial(mbedtls_x509write_cert *w, pki_rng_t *rng)
{
    unsigned char serial[PKI_SERIAL_LEN];
    int ret = mbedtls_ctr_drbg_random(&rng->drbg, serial, sizeof(serial));
    if (ret != 0)
        return ret;
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
    return mbedtls_x509write_crt_set_serial_raw(w, serial, sizeof(serial));
}

static int pki_set_validity(mbedtls_x509write_cert *w, pki_profile_t profile)
{
    char from[16], to[16];
    time_t now = time(NULL);
    long days = profile == PKI_CA ? PKI_CA_DAYS : PKI_LEAF_DAYS;
    pki_time_string(from, now - PKI_BACKDATE);
    pki_time_string(to, now + days * PKI_DAY);
    return mbedtls_x509write_crt_set_validity(w, from, to);
}

static int pki_set_usage(mbedtls_x509write_cert *w, pki_profile_t profile)
{
    if (profile == PKI_CA) {
        int ret = mbedtls_x509write_crt_set_basic_constraints(w, 1, -1);
        if (ret == 0)
            ret = mbedtls_x509write_crt_set_key_usage(w, MBEDTLS_X509_KU_KEY_CERT_SIGN |
                                                             MBEDTLS_X509_KU_CRL_SIGN |
                                                             MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
        return ret;
    }
    mbedtls_asn1_sequence eku = {.buf = {.tag = MBEDTLS_ASN1_OID}};
    if (profile == PKI_SERVING) {
        eku.buf.p = (unsigned char *)MBEDTLS_OID_SERVER_AUTH;
        eku.buf.len = MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH);
    } else {
        eku.buf.p = (unsigned char *)MBEDTLS_OID_CLIENT_AUTH;
        eku.buf.len = MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH);
    }
    unsigned int ku = MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_ENCIPHERMENT;
    int ret = mbedtls_x509write_crt_set_basic_constraints(w, 0, -1);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_key_usage(w, ku);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_ext_key_usage(w, &eku);
    return ret;
}

static int pki_set_sans(mbedtls_x509write_cert *w, const pki_sans_t *sans)
{
    if (!sans || sans->n == 0)
        return 0;
    mbedtls_x509_san_list *list = util_xcalloc(sans->n, sizeof(*list));
    for (size_t i = 0; i < sans->n; i++) {
        const pki_san_t *s = &sans->v[i];
        list[i].node.type = s->type;
        mbedtls_x509_buf *b = &list[i].node.san.unstructured_name;
        b->p = s->type == MBEDTLS_X509_SAN_IP_ADDRESS ? (unsigned char *)s->ip
                                                      : (unsigned char *)s->dns;
        b->len = s->type == MBEDTLS_X509_SAN_IP_ADDRESS ? s->ip_len : strlen(s->dns);
        list[i].next = i + 1 < sans->n ? &list[i + 1] : NULL;
    }
    int ret = mbedtls_x509write_crt_set_subject_alternative_name(w, list);
    free(list);
    return ret;
}

/* Writes the certificate as PEM into a heap string, growing the buffer as needed. */
static int pki_write_pem(mbedtls_x509write_cert *w, pki_rng_t *rng, char **ret_pem)
{
    for (size_t cap = 4096; cap <= PKI_FILE_MAX; cap *= 2) {
        unsigned char *buf = util_xmalloc(cap);
        int ret = mbedtls_x509write_crt_pem(w, buf, cap, mbedtls_ctr_drbg_random, &rng->drbg);
        if (ret == 0) {
            *ret_pem = (char *)buf;
            return 0;
        }
        free(buf);
        if (ret != MBEDTLS_ERR_ASN1_BUF_TOO_SMALL && ret != MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL)
            return ret;
    }
    return MBEDTLS_ERR_ASN1_BUF_TOO_SMALL;
}

static int pki_key_pem(mbedtls_pk_context *pk, char **ret_pem)
{
    unsigned char buf[4096];
    int ret = mbedtls_pk_write_key_pem(pk, buf, sizeof(buf));
    if (ret == 0)
        *ret_pem = util_xstrdup((const char *)buf);
    mbedtls_platform_zeroize(buf, sizeof(buf));
    return ret;
}

/* Builds a new key and certificate for subject; issuer NULL means self-signed. */
static int pki_issue(pki_pair_t *out, const char *subject, const pki_pair_t *issuer,
                     pki_profile_t profile, const pki_sans_t *sans, pki_rng_t *rng)
{
    int ret = pki_gen_key(&out->key, rng);
    if (ret != 0)
        return ret;
    mbedtls_pk_context *issuer_key = issuer ? (mbedtls_pk_context *)&issuer->key : &out->key;
    char issuer_name[512];
    if (issuer) {
        ret = mbedtls_x509_dn_gets(issuer_name, sizeof(issuer_name), &issuer->crt.subject);
        if (ret < 0)
            return ret;
    }
    mbedtls_x509write_cert w;
    mbedtls_x509write_crt_init(&w);
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, &out->key);
    mbedtls_x509write_crt_set_issuer_key(&w, issuer_key);
    ret = mbedtls_x509write_crt_set_subject_name(&w, subject);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_issuer_name(&w, issuer ? issuer_name : subject);
    if (ret == 0)
        ret = pki_set_serial(&w, rng);
    if (ret == 0)
        ret = pki_set_validity(&w, profile);
    if (ret == 0)
        ret = pki_set_usage(&w, profile);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_subject_key_identifier(&w);
    if (ret == 0)
        ret = mbedtls_x509write_crt_set_authority_key_identifier(&w);
    if (ret == 0)
        ret = pki_set_sans(&w, sans);
    if (ret == 0)
        ret = pki_write_pem(&w, rng, &out->crt_pem);
    if (ret == 0)
        ret = pki_key_pem(&out->key, &out->key_pem);
    mbedtls_x509write_crt_free(&w);
    if (ret == 0)
        ret = mbedtls_x509_crt_parse(&out->crt, (const unsigned char *)out->crt_pem,
                                     strlen(out->crt_pem) + 1);
    return ret;
}

/* Issues and stores a pair; on failure out is left empty. */
static int pki_issue_store(pki_pair_t *out, const char *base, const char *subject,
                           const pki_pair_t *issuer, pki_profile_t profile, const pki_sans_t *sans,
                           pki_rng_t *rng, util_error_t *err)
{
    pki_pair_free(out);
    int ret = pki_issue(out, subject, issuer, profile, sans, rng);
    if (ret != 0) {
        pki_pair_free(out);
        char what[PATH_MAX + 32];
        snprintf(what, sizeof(what), "issuing `%s.crt`", base);
        return pki_mbed_error(err, EIO, ret, what);
    }
    int r = pki_pair_store(out, base, err);
    if (r < 0)
        pki_pair_free(out);
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Reuse decisions. */

static time_t pki_x509_time(const mbedtls_x509_time *t)
{
    struct tm tm = {
        .tm_year = t->year - 1900,
        .tm_mon = t->mon - 1,
        .tm_mday = t->day,
        .tm_hour = t->hour,
        .tm_min = t->min,
        .tm_sec = t->sec,
    };
    return timegm(&tm);
}

/* A leaf is kept when it was issued by the current CA, is valid for longer than the renewal
 * window and names every SAN asked for. */
static bool pki_leaf_fresh(pki_pair_t *leaf, pki_pair_t *ca, const pki_sans_t *sans)
{
    uint32_t flags = 0;
    if (mbedtls_x509_crt_verify(&leaf->crt, &ca->crt, NULL, NULL, &flags, NULL, NULL) != 0)
        return false;
    if (pki_x509_time(&leaf->crt.valid_to) - time(NULL) < PKI_RENEW_SECONDS)
        return false;
    for (size_t i = 0; sans && i < sans->n; i++)
        if (!pki_crt_has_san(&leaf->crt, &sans->v[i]))
            return false;
    return true;
}

/* The CA is the root of every client's trust, so it is created only when ca.crt does not
 * exist; a CA certificate without a usable matching key is an error for the operator. */
static int pki_ca_ensure(const char *tls_dir, pki_pair_t *ca, pki_rng_t *rng, util_error_t *err)
{
    char base[PATH_MAX], crt[PATH_MAX];
    if (util_path_join(base, sizeof(base), tls_dir, "ca") < 0 ||
        util_snprintf(crt, sizeof(crt), "%s.crt", base) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long: %s", tls_dir);
    struct stat st;
    if (stat(crt, &st) == 0 || errno != ENOENT) {
        int r = pki_pair_load(ca, base, rng, err);
        if (r < 0)
            return util_error_wrap(err, "cluster CA (not replaced)");
        if (!mbedtls_x509_crt_get_ca_istrue(&ca->crt))
            return util_error_make(err, EINVAL, "`%s` is not a CA certificate", crt);
        return 0;
    }
    char subject[64];
    snprintf(subject, sizeof(subject), "CN=kubeling-ca@%lld", (long long)time(NULL));
    return pki_issue_store(ca, base, subject, NULL, PKI_CA, NULL, rng, err);
}

/* Loads the leaf at <tls_dir>/<name>.{crt,key} or issues a new one. */
static int pki_leaf_ensure(const char *tls_dir, const char *name, const char *subject,
                           pki_profile_t profile, const pki_sans_t *sans, pki_pair_t *ca,
                           pki_pair_t *leaf, pki_rng_t *rng, util_error_t *err)
{
    char base[PATH_MAX];
    if (util_path_join(base, sizeof(base), tls_dir, name) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long: %s", tls_dir);
    cleanup_error util_error_t load_err = NULL;
    /* Missing, unreadable or mismatched leaves are simply issued again. */
    if (pki_pair_load(leaf, base, rng, &load_err) == 0 && pki_leaf_fresh(leaf, ca, sans))
        return 0;
    return pki_issue_store(leaf, base, subject, ca, profile, sans, rng, err);
}

/* ------------------------------------------------------------------------------------------ */
/* admin.kubeconfig */

static void pki_buf_base64(util_buf_t *b, const char *text)
{
    size_t len = strlen(text), need = 0;
    mbedtls_base64_encode(NULL, 0, &need, (const unsigned char *)text, len);
    util_buf_reserve(b, need);
    size_t olen = 0;
    mbedtls_base64_encode((unsigned char *)b->data + b->len, b->cap - b->len, &olen,
                          (const unsigned char *)text, len);
    b->len += olen;
    b->data[b->len] = '\0';
}

static void pki_buf_wipe(util_buf_t *b)
{
    if (b->data)
        mbedtls_platform_zeroize(b->data, b->cap);
    util_buf_free(b);
}

static int pki_kubeconfig_write(const char *path, mode_t mode, const char *server, const char *user,
                                const pki_pair_t *ca, const pki_pair_t *admin, util_error_t *err)
{
    for (const char *c = server; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == '"' || *c == '\'' || *c == '#' || *c == 0x7f)
            return util_error_make(err, EINVAL, "kubeconfig server URL `%s` is not plain", server);
    /* Sized up front so that the buffer holding the key is never moved by realloc. */
    size_t pems = strlen(ca->crt_pem) + strlen(admin->crt_pem) + strlen(admin->key_pem);
    util_buf_t b = {0};
    util_buf_reserve(&b, strlen(server) + pems / 3 * 4 + 64 + 1024);
    util_buf_printf(&b,
                    "apiVersion: v1\nkind: Config\nclusters:\n- name: kubeling\n  cluster:\n"
                    "    server: %s\n    certificate-authority-data: ",
                    server);
    pki_buf_base64(&b, ca->crt_pem);
    util_buf_printf(&b, "\nusers:\n- name: %s\n  user:\n    client-certificate-data: ", user);
    pki_buf_base64(&b, admin->crt_pem);
    util_buf_puts(&b, "\n    client-key-data: ");
    pki_buf_base64(&b, admin->key_pem);
    util_buf_printf(&b,
                    "\ncontexts:\n- name: kubeling\n  context:\n    cluster: kubeling\n"
                    "    user: %s\ncurrent-context: kubeling\npreferences: {}\n",
                    user);
    int r = util_write_file_atomic(path, b.data, b.len, mode, err);
    pki_buf_wipe(&b);
    return r;
}

/* The k3s convention: a second copy of the admin kubeconfig where users look for it
 * (--write-kubeconfig, --write-kubeconfig-mode), its directory created when missing. */
static int pki_kubeconfig_copy(const apiserver_pki_opts_t *o, const pki_pair_t *ca,
                               const pki_pair_t *admin, util_error_t *err)
{
    char dir[PATH_MAX];
    if (util_snprintf(dir, sizeof(dir), "%s", o->write_kubeconfig) < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long: %s", o->write_kubeconfig);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        int r = util_mkdir_p(dir, 0755, err);
        if (r < 0)
            return r;
    }
    mode_t mode = o->write_kubeconfig_mode ? (mode_t)o->write_kubeconfig_mode : 0600;
    int r = pki_kubeconfig_write(o->write_kubeconfig, mode,
                                 o->kubeconfig_server ? o->kubeconfig_server : PKI_DEFAULT_URL,
                                 "admin", ca, admin, err);
    if (r == 0 && chmod(o->write_kubeconfig, mode) < 0) /* the umask must not narrow it */
        r = util_error_make(err, errno, "chmod `%s`", o->write_kubeconfig);
    return r < 0 ? util_error_wrap(err, "--write-kubeconfig") : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Entry points. */

static int pki_dirs(const char *data_dir, char *server, char *tls, util_error_t *err)
{
    if (util_path_join(server, PATH_MAX, data_dir, "server") < 0 ||
        util_path_join(tls, PATH_MAX, server, "tls") < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long: %s", data_dir);
    int r = util_mkdir_p(tls, 0700, err);
    if (r < 0)
        return r;
    /* They may predate us with a wider mode; keys live below. */
    if (chmod(server, 0700) < 0 || chmod(tls, 0700) < 0)
        return util_error_make(err, errno, "chmod 0700 `%s`", server);
    return 0;
}

/* The service account signing key: a bare key (no certificate), created once and kept; a key
 * that exists but does not parse is an error (replacing it would invalidate every token). */
static int pki_service_key_ensure(const char *tls_dir, pki_rng_t *rng, char **ret_pem,
                                  util_error_t *err)
{
    char path[PATH_MAX];
    if (util_path_join(path, sizeof(path), tls_dir, "service.key") < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long: %s", tls_dir);
    char *pem = NULL;
    int r = pki_read_secret(path, &pem, err);
    if (r == 0) {
        mbedtls_pk_context pk;
        mbedtls_pk_init(&pk);
        int ret = mbedtls_pk_parse_key(&pk, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0,
                                       mbedtls_ctr_drbg_random, &rng->drbg);
        bool ec = ret == 0 && mbedtls_pk_get_type(&pk) == MBEDTLS_PK_ECKEY &&
                  mbedtls_pk_get_bitlen(&pk) == 256;
        mbedtls_pk_free(&pk);
        if (!ec) {
            pki_free_secret(pem);
            return ret ? pki_mbed_error(err, EINVAL, ret, "parsing `service.key`")
                       : util_error_make(err, EINVAL, "`%s` is not an ECDSA P-256 key", path);
        }
        *ret_pem = pem;
        return 0;
    }
    if (r != -ENOENT)
        return r;
    util_error_free(err);
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    int ret = pki_gen_key(&pk, rng);
    if (ret == 0)
        ret = pki_key_pem(&pk, &pem);
    mbedtls_pk_free(&pk);
    if (ret != 0)
        return pki_mbed_error(err, EIO, ret, "generating the service account key");
    r = util_write_file_atomic(path, pem, strlen(pem), 0600, err);
    if (r < 0) {
        pki_free_secret(pem);
        return r;
    }
    *ret_pem = pem;
    return 0;
}

static void pki_fill(apiserver_pki_t *ret, const pki_pair_t *ca, const pki_pair_t *serving)
{
    ret->ca_cert_pem = util_xstrdup(ca->crt_pem);
    ret->serving_cert_pem = util_strdup_printf("%s%s", serving->crt_pem, ca->crt_pem);
    ret->serving_key_pem = util_xstrdup(serving->key_pem);
}

typedef struct pki_state {
    pki_rng_t rng;
    pki_sans_t sans;
    pki_pair_t ca, serving, admin, kubelet_client;
    char *service_key_pem;
} pki_state_t;

static void pki_state_free(pki_state_t *s)
{
    pki_pair_free(&s->ca);
    pki_pair_free(&s->serving);
    pki_pair_free(&s->admin);
    pki_pair_free(&s->kubelet_client);
    pki_free_secret(s->service_key_pem);
    pki_sans_free(&s->sans);
    pki_rng_free(&s->rng);
}

static int pki_ensure_all(const apiserver_pki_opts_t *o, pki_state_t *s, util_error_t *err)
{
    char server[PATH_MAX], tls[PATH_MAX], kubeconfig[PATH_MAX];
    int r = pki_dirs(o->data_dir, server, tls, err);
    if (r < 0)
        return r;
    if (util_path_join(kubeconfig, sizeof(kubeconfig), server, "admin.kubeconfig") < 0)
        return util_error_make(err, ENAMETOOLONG, "path too long: %s", server);
    r = pki_rng_init(&s->rng, err);
    if (r == 0)
        r = pki_sans_build(o, &s->sans, err);
    if (r == 0)
        r = pki_ca_ensure(tls, &s->ca, &s->rng, err);
    if (r == 0)
        r = pki_leaf_ensure(tls, "serving", "CN=kube-apiserver", PKI_SERVING, &s->sans, &s->ca,
                            &s->serving, &s->rng, err);
    if (r == 0)
        r = pki_leaf_ensure(tls, "admin", "O=system:masters,CN=system:admin", PKI_CLIENT, NULL,
                            &s->ca, &s->admin, &s->rng, err);
    /* upstream's --kubelet-client-certificate: how the apiserver authenticates to kubelets */
    if (r == 0)
        r = pki_leaf_ensure(tls, "kubelet-client",
                            "O=system:masters,CN=kube-apiserver-kubelet-client", PKI_CLIENT, NULL,
                            &s->ca, &s->kubelet_client, &s->rng, err);
    if (r == 0)
        r = pki_service_key_ensure(tls, &s->rng, &s->service_key_pem, err);
    if (r == 0)
        r = pki_kubeconfig_write(kubeconfig, 0600,
                                 o->kubeconfig_server ? o->kubeconfig_server : PKI_DEFAULT_URL,
                                 "admin", &s->ca, &s->admin, err);
    if (r == 0 && o->write_kubeconfig && o->write_kubeconfig[0])
        r = pki_kubeconfig_copy(o, &s->ca, &s->admin, err);
    return r;
}

int apiserver_pki_ensure(const apiserver_pki_opts_t *o, apiserver_pki_t *ret, util_error_t *err)
{
    if (!o || !o->data_dir || !ret)
        return util_error_make(err, EINVAL, "apiserver_pki_ensure: missing data dir");
    pki_state_t s;
    memset(&s, 0, sizeof(s));
    mbedtls_entropy_init(&s.rng.entropy);
    mbedtls_ctr_drbg_init(&s.rng.drbg);
    pki_pair_init(&s.ca);
    pki_pair_init(&s.serving);
    pki_pair_init(&s.admin);
    pki_pair_init(&s.kubelet_client);
    int r = pki_ensure_all(o, &s, err);
    if (r == 0) {
        pki_fill(ret, &s.ca, &s.serving);
        ret->kubelet_client_cert_pem = util_xstrdup(s.kubelet_client.crt_pem);
        ret->kubelet_client_key_pem = util_xstrdup(s.kubelet_client.key_pem);
        ret->service_key_pem = s.service_key_pem;
        s.service_key_pem = NULL;
    }
    pki_state_free(&s);
    return r;
}

void apiserver_pki_free(apiserver_pki_t *p)
{
    if (!p)
        return;
    free(p->ca_cert_pem);
    free(p->serving_cert_pem);
    pki_free_secret(p->serving_key_pem);
    pki_free_secret(p->service_key_pem);
    free(p->kubelet_client_cert_pem);
    pki_free_secret(p->kubelet_client_key_pem);
    memset(p, 0, sizeof(*p));
}

/* ------------------------------------------------------------------------------------------ */
/* Node credentials. */

static bool pki_node_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '-' || name[i] == '.'))
            return false;
    return true;
}

int apiserver_pki_node_kubeconfig(const char *data_dir, const char *node_name, const char *server,
                                  const char *path, util_error_t *err)
{
    if (!data_dir || !node_name || !server || !path || !pki_node_name_ok(node_name))
        return util_error_make(err, EINVAL, "node credential: bad node name `%s`",
                               node_name ? node_name : "");
    char srv[PATH_MAX], tls[PATH_MAX], leaf[300], subject[600];
    int r = pki_dirs(data_dir, srv, tls, err);
    if (r < 0)
        return r;
    snprintf(leaf, sizeof(leaf), "node-%s", node_name);
    snprintf(subject, sizeof(subject), "O=system:nodes,CN=system:node:%s", node_name);
    pki_state_t s;
    memset(&s, 0, sizeof(s));
    mbedtls_entropy_init(&s.rng.entropy);
    mbedtls_ctr_drbg_init(&s.rng.drbg);
    pki_pair_init(&s.ca);
    pki_pair_init(&s.serving);
    pki_pair_init(&s.admin);
    r = pki_rng_init(&s.rng, err);
    if (r == 0)
        r = pki_ca_ensure(tls, &s.ca, &s.rng, err);
    if (r == 0)
        r = pki_leaf_ensure(tls, leaf, subject, PKI_CLIENT, NULL, &s.ca, &s.admin, &s.rng, err);
    if (r == 0)
        r = pki_kubeconfig_write(path, 0600, server, leaf, &s.ca, &s.admin, err);
    pki_state_free(&s);
    return r;
}

/* The kubelet's serving certificate (tls/kubelet-serving-<name>.{crt,key}, CN system:node:<name>,
 * as upstream's kubelet serving CSRs): the apiserver dials the node's InternalIP and verifies it
 * against the cluster CA, so the SANs are the node's name, every local address and node_ip. */
int apiserver_pki_kubelet_serving(const char *data_dir, const char *node_name, const char *node_ip,
                                  char *ret_base, size_t base_len, util_error_t *err)
{
    if (!data_dir || !node_name || !pki_node_name_ok(node_name))
        return util_error_make(err, EINVAL, "kubelet serving certificate: bad node name `%s`",
                               node_name ? node_name : "");
    char srv[PATH_MAX], tls[PATH_MAX], leaf[300], subject[600];
    int r = pki_dirs(data_dir, srv, tls, err);
    if (r < 0)
        return r;
    snprintf(leaf, sizeof(leaf), "kubelet-serving-%s", node_name);
    snprintf(subject, sizeof(subject), "O=system:nodes,CN=system:node:%s", node_name);
    pki_sans_t sans = {0};
    pki_sans_add_text(&sans, node_name);
    pki_sans_add_text(&sans, "localhost");
    pki_sans_add_text(&sans, "127.0.0.1");
    if (node_ip && *node_ip)
        pki_sans_add_text(&sans, node_ip);
    pki_state_t s;
    memset(&s, 0, sizeof(s));
    mbedtls_entropy_init(&s.rng.entropy);
    mbedtls_ctr_drbg_init(&s.rng.drbg);
    pki_pair_init(&s.ca);
    pki_pair_init(&s.serving);
    pki_pair_init(&s.admin);
    r = pki_sans_add_interfaces(&sans, err);
    if (r == 0)
        r = pki_rng_init(&s.rng, err);
    if (r == 0)
        r = pki_ca_ensure(tls, &s.ca, &s.rng, err);
    if (r == 0)
        r = pki_leaf_ensure(tls, leaf, subject, PKI_SERVING, &sans, &s.ca, &s.serving, &s.rng, err);
    if (r == 0 && util_path_join(ret_base, base_len, tls, leaf) < 0)
        r = util_error_make(err, ENAMETOOLONG, "path too long: %s", tls);
    pki_sans_free(&sans);
    pki_state_free(&s);
    return r;
}
