/* test_images_auth: image pull secret credentials matched like upstream's credentialprovider
 * keyring, and registries.yaml (mirrors, rewrites, per-host auth and TLS) into the endpoints a
 * pull tries. */
#include "unit.h"
#include "client/client.h"
#include "images/images.h"

#include <errno.h>

static void test_url_glob_match(void **state)
{
    (void)state;
    /* upstream's TestURLsMatch cases */
    assert_true(images_url_glob_match("*.kubernetes.io", "prefix.kubernetes.io"));
    assert_false(images_url_glob_match("*.kubernetes.io", "kubernetes.io"));
    assert_false(images_url_glob_match("*.kubernetes.io", "prefix.k8s.io"));
    assert_true(images_url_glob_match("prefix.*.io", "prefix.kubernetes.io"));
    assert_true(images_url_glob_match("*-good.kubernetes.io", "prefix-good.kubernetes.io"));
    assert_false(images_url_glob_match("*-good.kubernetes.io", "prefix-bad.kubernetes.io"));
    assert_true(images_url_glob_match("*.*.io", "a.b.io"));
    assert_false(images_url_glob_match("*.*.io", "a.b.c.io"));
    assert_true(images_url_glob_match("*.kubernetes.io:1111", "prefix.kubernetes.io:1111"));
    assert_false(images_url_glob_match("*.kubernetes.io:1111", "prefix.kubernetes.io:2222"));
    assert_false(images_url_glob_match("*.kubernetes.io:1111", "prefix.kubernetes.io"));
    assert_false(images_url_glob_match("*.kubernetes.io", "prefix.kubernetes.io:1111"));
    assert_true(images_url_glob_match("kubernetes.io/foo", "kubernetes.io/foo/bar"));
    assert_false(images_url_glob_match("kubernetes.io/foo", "kubernetes.io/bar"));
    assert_true(images_url_glob_match("kubernetes.io", "kubernetes.io/foo/bar"));
    assert_true(images_url_glob_match("127.0.0.1:5000", "127.0.0.1:5000/a/b"));
    assert_false(images_url_glob_match("127.0.0.1", "127.0.0.1:5000/a/b"));
    assert_false(images_url_glob_match("[", "a")); /* a bad glob matches nothing */
}

static const char *user_of(const images_cred_t **v, size_t i)
{
    return v[i]->username;
}

static void test_keyring_dockerconfigjson(void **state)
{
    (void)state;
    images_keyring_t kr = {0};
    util_error_t err = NULL;
    /* dXNlcjE6cGFzczE= is user1:pass1; dTI6cDI6eA== is u2:p2:x (the password keeps its ':') */
    const char *json = "{\"auths\":{"
                       "\"https://index.docker.io/v1/\":{\"auth\":\"dXNlcjE6cGFzczE=\"},"
                       "\"reg.example.com:5000\":{\"username\":\"host\",\"password\":\"hp\"},"
                       "\"https://reg.example.com:5000/v2/team\":{\"auth\":\"dTI6cDI6eA==\","
                       "\"username\":\"ignored\"},"
                       "\"*.corp.example\":{\"username\":\"wild\",\"password\":\"w\"}}}";
    assert_int_equal(images_keyring_add(&kr, json, strlen(json), false, &err), 0);
    assert_int_equal(kr.n, 4);

    const images_cred_t **v;
    size_t n;
    images_keyring_lookup(&kr, "docker.io/library/busybox", &v, &n);
    assert_int_equal(n, 1);
    assert_string_equal(user_of(v, 0), "user1");
    assert_string_equal(v[0]->password, "pass1");
    free(v);

    images_keyring_lookup(&kr, "reg.example.com:5000/team/app", &v, &n);
    assert_int_equal(n, 2); /* the more specific path first */
    assert_string_equal(user_of(v, 0), "u2");
    assert_string_equal(v[0]->password, "p2:x");
    assert_string_equal(user_of(v, 1), "host");
    free(v);

    images_keyring_lookup(&kr, "reg.example.com:5000/other", &v, &n);
    assert_int_equal(n, 1);
    assert_string_equal(user_of(v, 0), "host");
    free(v);

    images_keyring_lookup(&kr, "reg.example.com/other", &v, &n); /* no port: no match */
    assert_int_equal(n, 0);
    assert_null(v);

    images_keyring_lookup(&kr, "a.corp.example/x", &v, &n);
    assert_int_equal(n, 1);
    assert_string_equal(user_of(v, 0), "wild");
    free(v);
    images_keyring_lookup(&kr, "a.b.corp.example/x", &v, &n);
    assert_int_equal(n, 0);

    /* a legacy .dockercfg adds to the same keyring */
    const char *cfg = "{\"quay.io\":{\"username\":\"q\",\"password\":\"qp\",\"email\":\"x@y\"}}";
    assert_int_equal(images_keyring_add(&kr, cfg, strlen(cfg), true, &err), 0);
    images_keyring_lookup(&kr, "quay.io/org/app", &v, &n);
    assert_int_equal(n, 1);
    assert_string_equal(user_of(v, 0), "q");
    free(v);
    images_keyring_clear(&kr);

    /* without an index.docker.io entry, docker.io images get nothing */
    const char *other = "{\"auths\":{\"ghcr.io\":{\"auth\":\"dXNlcjE6cGFzczE=\"}}}";
    assert_int_equal(images_keyring_add(&kr, other, strlen(other), false, &err), 0);
    images_keyring_lookup(&kr, "docker.io/library/busybox", &v, &n);
    assert_int_equal(n, 0);
    images_keyring_clear(&kr);
}

static void test_keyring_refuses_bad_payloads(void **state)
{
    (void)state;
    images_keyring_t kr = {0};
    util_error_t err = NULL;
    char buf[256];
    const char *good = "{\"auths\":{\"a.io\":{\"username\":\"u\",\"password\":\"p\"}}}";
    assert_int_equal(images_keyring_add(&kr, good, strlen(good), false, &err), 0);
    static const char *const bad[] = {
        "not json",
        "[1,2]",
        "{\"auths\":[]}",
        "{\"auths\":{\"b.io\":{\"username\":\"u\"},\"c.io\":{\"auth\":\"!!!notbase64\"}}}",
        "{\"auths\":{\"b.io\":{\"auth\":\"bm9jb2xvbg==\"}}}", /* "nocolon" */
        "{\"auths\":{\"b.io\":\"string\"}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_true(images_keyring_add(&kr, bad[i], strlen(bad[i]), false, &err) < 0);
        if (i == 4) {
            util_error_text(err, buf, sizeof(buf));
            assert_non_null(strstr(buf, "must be formatted as base64(username:password)"));
        }
        util_error_free(&err);
        assert_int_equal(kr.n, 1); /* nothing of a bad payload is kept */
    }
    /* no auths at all is an empty keyring, as upstream */
    assert_int_equal(images_keyring_add(&kr, "{}", 2, false, &err), 0);
    assert_int_equal(kr.n, 1);
    images_keyring_clear(&kr);
}

static images_registries_t *load(const char *yaml, util_error_t *err)
{
    cJSON *doc = NULL;
    images_registries_t *rg = NULL;
    if (client_yaml_parse(yaml, strlen(yaml), &doc, err) == 0)
        images_registries_parse(doc, &rg, err);
    cJSON_Delete(doc);
    return rg;
}

static void test_registries_endpoints(void **state)
{
    (void)state;
    util_error_t err = NULL;
    const char *yaml = "mirrors:\n"
                       "  docker.io:\n"
                       "    endpoint:\n"
                       "      - \"https://mirror.local:5000\"\n"
                       "      - http://plain.local:5001/prefix/\n"
                       "    rewrite:\n"
                       "      \"^library/(.*)\": \"hub/$1\"\n"
                       "  \"*\":\n"
                       "    endpoint:\n"
                       "      - cache.local\n"
                       "configs:\n"
                       "  \"mirror.local:5000\":\n"
                       "    auth:\n"
                       "      username: mu\n"
                       "      password: mp\n"
                       "    tls:\n"
                       "      ca_file: /etc/ca.pem\n"
                       "      cert_file: /etc/c.pem\n"
                       "      key_file: /etc/k.pem\n"
                       "  registry-1.docker.io:\n"
                       "    auth:\n"
                       "      auth: dXNlcjE6cGFzczE=\n"
                       "  \"*\":\n"
                       "    tls:\n"
                       "      insecure_skip_verify: true\n";
    images_registries_t *rg = load(yaml, &err);
    assert_null(err);
    assert_non_null(rg);

    images_ref_t ref;
    assert_int_equal(images_ref_parse("busybox", &ref, &err), 0);
    images_endpoint_t *v;
    size_t n;
    assert_int_equal(images_registries_endpoints(rg, &ref, false, &v, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0].base, "https://mirror.local:5000/v2");
    assert_string_equal(v[0].host, "mirror.local:5000");
    assert_string_equal(v[0].path, "hub/busybox");
    assert_true(v[0].is_mirror);
    assert_string_equal(v[0].username, "mu");
    assert_string_equal(v[0].password, "mp");
    assert_string_equal(v[0].ca_file, "/etc/ca.pem");
    assert_string_equal(v[0].cert_file, "/etc/c.pem");
    assert_false(v[0].insecure_skip_verify);
    assert_string_equal(v[1].base, "http://plain.local:5001/prefix/v2");
    assert_string_equal(v[1].path, "hub/busybox");
    assert_true(v[1].insecure_skip_verify); /* the "*" config */
    assert_null(v[1].username);
    assert_string_equal(v[2].base, "https://registry-1.docker.io/v2");
    assert_string_equal(v[2].path, "library/busybox"); /* no rewrite for the registry */
    assert_false(v[2].is_mirror);
    assert_string_equal(v[2].username, "user1");
    assert_string_equal(v[2].password, "pass1");
    images_endpoints_free(v, n);
    images_ref_free(&ref);

    /* another registry: the "*" mirror, then itself */
    assert_int_equal(images_ref_parse("quay.io/org/app:v1", &ref, &err), 0);
    assert_int_equal(images_registries_endpoints(rg, &ref, true, &v, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].base, "https://cache.local/v2");
    assert_string_equal(v[0].path, "org/app");
    assert_string_equal(v[1].base, "http://quay.io/v2");
    images_endpoints_free(v, n);
    images_ref_free(&ref);
    images_registries_free(rg);

    /* no registries.yaml: the registry alone */
    assert_int_equal(images_ref_parse("127.0.0.1:5000/a/b", &ref, &err), 0);
    assert_int_equal(images_registries_endpoints(NULL, &ref, false, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].base, "https://127.0.0.1:5000/v2");
    assert_string_equal(v[0].host, "127.0.0.1:5000");
    assert_null(v[0].ca_file);
    images_endpoints_free(v, n);
    images_ref_free(&ref);

    /* a rewrite that makes a bad repository name is an error, not a request */
    rg = load("mirrors:\n  docker.io:\n    endpoint:\n      - https://m\n    rewrite:\n"
              "      \"(.*)\": \"UPPER/$1\"\n",
              &err);
    assert_non_null(rg);
    assert_int_equal(images_ref_parse("busybox", &ref, &err), 0);
    assert_int_equal(images_registries_endpoints(rg, &ref, false, &v, &n, &err), -EINVAL);
    util_error_free(&err);
    images_ref_free(&ref);
    images_registries_free(rg);
}

static void test_registries_refused(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *want;
    } bad[] = {
        {"mirror:\n  a: b\n", "unknown key `mirror`"},
        {"mirrors: []\n", "must be mappings"},
        {"mirrors:\n  docker.io:\n    endpoint:\n      - ftp://x\n", "only http and https"},
        {"mirrors:\n  docker.io:\n    endpoint: x\n", "endpoint: not a list"},
        {"mirrors:\n  docker.io:\n    endpoint:\n      - \"https:///v2\"\n", "has no host"},
        {"mirrors:\n  docker.io:\n    rewrite:\n      \"(\": x\n", "rewrite `(`"},
        {"configs:\n  a:\n    tls:\n      cert_file: /c\n", "go together"},
        {"configs:\n  a:\n    tls:\n      insecure_skip_verify: maybe\n", "not true or false"},
        {"configs:\n  a:\n    auth:\n      identitytoken: t\n", "identitytoken: not supported"},
        {"configs:\n  a:\n    auth:\n      auth: bm9jb2xvbg==\n", "not base64 of user:password"},
        {"configs:\n  a:\n    auth:\n      username: []\n", "username: not a string"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        util_error_t err = NULL;
        char buf[512];
        images_registries_t *rg = load(bad[i].yaml, &err);
        assert_null(rg);
        assert_non_null(err);
        util_error_text(err, buf, sizeof(buf));
        if (!strstr(buf, bad[i].want))
            fail_msg("case %zu: `%s` lacks `%s`", i, buf, bad[i].want);
        util_error_free(&err);
    }
    /* an empty document is no mirrors and no configs */
    util_error_t err = NULL;
    images_registries_t *rg = load("# nothing\n", &err);
    assert_null(err);
    assert_non_null(rg);
    images_registries_free(rg);
}

static void test_registries_load_file(void **state)
{
    (void)state;
    char *dir = unit_tmpdir();
    char path[600];
    snprintf(path, sizeof(path), "%s/registries.yaml", dir);
    util_error_t err = NULL;
    images_registries_t *rg = NULL;
    assert_int_equal(images_registries_load(path, true, &rg, &err), 0);
    assert_null(rg);
    assert_int_equal(images_registries_load(path, false, &rg, &err), -ENOENT);
    util_error_free(&err);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("configs:\n  \"127.0.0.1:5000\":\n    tls:\n      ca_file: /x/ca.crt\n", f);
    fclose(f);
    assert_int_equal(images_registries_load(path, false, &rg, &err), 0);
    images_ref_t ref;
    images_endpoint_t *v;
    size_t n;
    assert_int_equal(images_ref_parse("127.0.0.1:5000/a", &ref, &err), 0);
    assert_int_equal(images_registries_endpoints(rg, &ref, false, &v, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].ca_file, "/x/ca.crt");
    images_endpoints_free(v, n);
    images_ref_free(&ref);
    images_registries_free(rg);
    unit_rm_rf(dir);
    free(dir);
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_glob_match),
        cmocka_unit_test(test_keyring_dockerconfigjson),
        cmocka_unit_test(test_keyring_refuses_bad_payloads),
        cmocka_unit_test(test_registries_endpoints),
        cmocka_unit_test(test_registries_refused),
        cmocka_unit_test(test_registries_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
