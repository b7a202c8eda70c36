/* test_kubelet_volumes: the AtomicWriter (..data swaps, modes, stale files, unchanged payloads,
 * invalid paths), subPath opening beneath a volume (links inside followed, escapes refused,
 * missing directories made), the downward API formats, env from configMaps and secrets, and
 * termination messages (file, FallbackToLogsOnError tail). */
#include "unit.h"
#include "kubelet/kubelet_volumes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static cJSON *parse(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    return j;
}

static char *slurp(const char *dir, const char *rel)
{
    char path[1024], *data = NULL;
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    if (util_read_file(path, 1 << 20, &data, NULL, NULL) < 0)
        return NULL;
    return data;
}

static int mode_at(const char *dir, const char *rel)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static void link_of(const char *dir, const char *rel, char *buf, size_t n)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    ssize_t l = readlink(path, buf, n - 1);
    buf[l > 0 ? l : 0] = 0;
}

static void atomic_writer(void **state)
{
    (void)state;
    char *dir = unit_tmpdir();
    kubelet_payload_t p = {0};
    kubelet_payload_add(&p, "a", "one", 3, 0644);
    kubelet_payload_add(&p, "sub/b", "two", 3, 0400);
    kubelet_payload_add(&p, "a", "uno", 3, 0640); /* replaces */
    assert_int_equal(p.n, 2);
    bool changed = false;
    util_error_t err = NULL;
    assert_int_equal(kubelet_atomic_write(dir, &p, &changed, &err), 0);
    assert_true(changed);
    char l1[256], l2[256], buf[256];
    link_of(dir, "..data", l1, sizeof(l1));
    assert_int_equal(strncmp(l1, "..", 2), 0);
    assert_null(strchr(l1, '/'));
    link_of(dir, "a", buf, sizeof(buf));
    assert_string_equal(buf, "..data/a");
    link_of(dir, "sub", buf, sizeof(buf));
    assert_string_equal(buf, "..data/sub");
    char *d = slurp(dir, "sub/b");
    assert_string_equal(d, "two");
    free(d);
    assert_int_equal(mode_at(dir, "a"), 0640);
    assert_int_equal(mode_at(dir, "sub/b"), 0400);
    assert_int_equal(mode_at(dir, l1), 0755);

    /* the same payload: nothing written */
    assert_int_equal(kubelet_atomic_write(dir, &p, &changed, &err), 0);
    assert_false(changed);
    link_of(dir, "..data", l2, sizeof(l2));
    assert_string_equal(l1, l2);

    /* a mode change alone is a change */
    p.v[0].mode = 0600;
    assert_int_equal(kubelet_atomic_write(dir, &p, &changed, &err), 0);
    assert_true(changed);
    assert_int_equal(mode_at(dir, "a"), 0600);

    /* new content, a file dropped: the stale link and the old directory go */
    kubelet_payload_t q = {0};
    kubelet_payload_add(&q, "a", "changed", 7, 0644);
    link_of(dir, "..data", l1, sizeof(l1));
    assert_int_equal(kubelet_atomic_write(dir, &q, &changed, &err), 0);
    assert_true(changed);
    link_of(dir, "..data", l2, sizeof(l2));
    assert_string_not_equal(l1, l2);
    d = slurp(dir, "a");
    assert_string_equal(d, "changed");
    free(d);
    struct stat st;
    char path[1024];
    snprintf(path, sizeof(path), "%s/sub", dir);
    assert_int_equal(lstat(path, &st), -1);
    snprintf(path, sizeof(path), "%s/%s", dir, l1);
    assert_int_equal(lstat(path, &st), -1);

    /* a file removed below a kept directory is a change too */
    kubelet_payload_t r = {0};
    kubelet_payload_add(&r, "a", "changed", 7, 0644);
    kubelet_payload_add(&r, "d/x", "x", 1, 0644);
    kubelet_payload_add(&r, "d/y", "y", 1, 0644);
    assert_int_equal(kubelet_atomic_write(dir, &r, &changed, &err), 0);
    kubelet_payload_free(&r);
    kubelet_payload_add(&r, "a", "changed", 7, 0644);
    kubelet_payload_add(&r, "d/x", "x", 1, 0644);
    assert_int_equal(kubelet_atomic_write(dir, &r, &changed, &err), 0);
    assert_true(changed);
    snprintf(path, sizeof(path), "%s/d/y", dir);
    assert_int_equal(lstat(path, &st), -1);

    /* an empty payload empties the volume */
    kubelet_payload_t empty = {0};
    assert_int_equal(kubelet_atomic_write(dir, &empty, &changed, &err), 0);
    assert_true(changed);
    snprintf(path, sizeof(path), "%s/a", dir);
    assert_int_equal(lstat(path, &st), -1);

    kubelet_payload_free(&p);
    kubelet_payload_free(&q);
    kubelet_payload_free(&r);
    unit_rm_rf(dir);
    free(dir);
}

static void payload_paths(void **state)
{
    (void)state;
    util_error_t err = NULL;
    assert_int_equal(kubelet_payload_validate_path("a/b.txt", &err), 0);
    static const char *const bad[] = {"", "/abs", "..x", "a/../b", "..", "a/.."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_true(kubelet_payload_validate_path(bad[i], &err) < 0);
        util_error_free(&err);
    }
    char longseg[300];
    memset(longseg, 'x', 256);
    longseg[256] = 0;
    assert_true(kubelet_payload_validate_path(longseg, &err) < 0);
    util_error_free(&err);
    /* the writer refuses a bad payload before touching anything */
    char *dir = unit_tmpdir();
    kubelet_payload_t p = {0};
    kubelet_payload_add(&p, "../escape", "x", 1, 0644);
    bool changed = true;
    assert_true(kubelet_atomic_write(dir, &p, &changed, &err) < 0);
    assert_false(changed);
    util_error_free(&err);
    char path[1024];
    struct stat st;
    snprintf(path, sizeof(path), "%s/..data", dir);
    assert_int_equal(lstat(path, &st), -1);
    kubelet_payload_free(&p);
    unit_rm_rf(dir);
    free(dir);
}

static void subpaths(void **state)
{
    (void)state;
    char *dir = unit_tmpdir(), path[1024], other[1024];
    snprintf(path, sizeof(path), "%s/vol/real", dir);
    assert_int_equal(util_mkdir_p(path, 0755, NULL), 0);
    snprintf(other, sizeof(other), "%s/outside", dir);
    assert_int_equal(mkdir(other, 0755), 0);
    snprintf(path, sizeof(path), "%s/vol/abs", dir);
    assert_int_equal(symlink("/", path), 0);
    snprintf(path, sizeof(path), "%s/vol/up", dir);
    assert_int_equal(symlink("../outside", path), 0);
    snprintf(path, sizeof(path), "%s/vol/in", dir);
    assert_int_equal(symlink("real", path), 0);
    snprintf(path, sizeof(path), "%s/vol/real/deeper", dir);
    assert_int_equal(symlink("../../outside", path), 0);
    char vol[1024];
    snprintf(vol, sizeof(vol), "%s/vol", dir);
    util_error_t err = NULL;

    int fd = kubelet_subpath_open(vol, "in", false, &err); /* a link that stays inside */
    assert_true(fd >= 0);
    struct stat a, b;
    snprintf(path, sizeof(path), "%s/vol/real", dir);
    assert_int_equal(fstat(fd, &a), 0);
    assert_int_equal(stat(path, &b), 0);
    assert_true(a.st_ino == b.st_ino);
    close(fd);

    static const char *const escapes[] = {"abs", "up", "real/deeper", "in/deeper", "abs/etc"};
    for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
        assert_true(kubelet_subpath_open(vol, escapes[i], true, &err) < 0);
        util_error_free(&err);
    }
    /* nothing was created outside through the links */
    snprintf(path, sizeof(path), "%s/outside/etc", dir);
    struct stat st;
    assert_int_equal(lstat(path, &st), -1);

    assert_true(kubelet_subpath_open(vol, "../x", true, &err) < 0);
    assert_non_null(strstr(err->msg, "must not contain '..'"));
    util_error_free(&err);
    assert_true(kubelet_subpath_open(vol, "/etc", true, &err) < 0);
    assert_string_equal(err->msg, "error SubPath `/etc` must not be an absolute path");
    util_error_free(&err);

    /* missing directories are made with the volume's mode, through links inside */
    assert_int_equal(chmod(vol, 0775), 0);
    fd = kubelet_subpath_open(vol, "in/new/deep", true, &err);
    assert_true(fd >= 0);
    close(fd);
    snprintf(path, sizeof(path), "%s/vol/real/new/deep", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0775);
    assert_true(kubelet_subpath_open(vol, "missing", false, &err) < 0);
    util_error_free(&err);
    unit_rm_rf(dir);
    free(dir);
}

static void downward_formats(void **state)
{
    (void)state;
    cJSON *m = parse("{\"z\":\"last\",\"a\":\"say \\\"hi\\\"\\n\",\"m\":\"tab\\there\",\"u\":"
                     "\"\xc3\xa9t\xc3\xa9\"}");
    char *s = kubelet_format_map(m);
    assert_string_equal(s, "a=\"say \\\"hi\\\"\\n\"\nm=\"tab\\there\"\nu=\"\xc3\xa9t\xc3\xa9\"\n"
                           "z=\"last\"");
    free(s);
    cJSON_Delete(m);
    s = kubelet_format_map(NULL);
    assert_string_equal(s, "");
    free(s);

    cJSON *c = parse("{\"resources\":{\"limits\":{\"cpu\":\"250m\",\"memory\":\"64Mi\"},"
                     "\"requests\":{\"cpu\":\"100m\"}}}");
    static const struct {
        const char *res, *div, *want;
    } rf[] = {
        {"limits.cpu", NULL, "1"}, /* ceil(0.25) */
        {"limits.cpu", "1m", "250"},         {"requests.cpu", "1m", "100"},
        {"limits.memory", NULL, "67108864"}, {"limits.memory", "1Mi", "64"},
        {"requests.memory", NULL, "0"},      {"limits.ephemeral-storage", "1Gi", "10"},
    };
    for (size_t i = 0; i < sizeof(rf) / sizeof(rf[0]); i++) {
        s = kubelet_resource_field(c, rf[i].res, rf[i].div, 4000, 8ll << 30, 10ll << 30);
        assert_non_null(s);
        assert_string_equal(s, rf[i].want);
        free(s);
    }
    cJSON *nolim = parse("{}");
    s = kubelet_resource_field(nolim, "limits.cpu", NULL, 4000, 0, 0); /* node allocatable */
    assert_string_equal(s, "4");
    free(s);
    assert_null(kubelet_resource_field(c, "limits.gpu", NULL, 1, 1, 1));
    assert_null(kubelet_resource_field(c, "limits.cpu", "bogus", 1, 1, 1));
    cJSON_Delete(nolim);
    cJSON_Delete(c);

    assert_true(kubelet_env_name_valid("A_b.c-1"));
    assert_true(kubelet_env_name_valid("_x"));
    assert_false(kubelet_env_name_valid("1x"));
    assert_false(kubelet_env_name_valid("a b"));
    assert_false(kubelet_env_name_valid(""));
}

static const char *env_get(const util_strv_t *env, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < env->n; i++)
        if (!strncmp(env->v[i], name, nl) && env->v[i][nl] == '=')
            return env->v[i] + nl + 1;
    return NULL;
}

static void env_from_objects(void **state)
{
    (void)state;
    cJSON *cms = parse("{\"cfg\":{\"data\":{\"color\":\"blue\",\"1bad\":\"x\",\"ok\":\"y\"}}}");
    cJSON *secs = parse("{\"sec\":{\"data\":{\"user\":\"YWRtaW4=\"}}}");
    kubelet_env_ctx_t ctx = {
        .pod_name = "p", .pod_namespace = "ns", .configmaps = cms, .secrets = secs};
    cJSON *c = parse(
        "{\"envFrom\":[{\"prefix\":\"P_\",\"configMapRef\":{\"name\":\"cfg\"}},"
        "{\"configMapRef\":{\"name\":\"cfg\"}},{\"secretRef\":{\"name\":\"gone\",\"optional\":true}"
        "},"
        "{\"secretRef\":{\"name\":\"sec\"}}],"
        "\"env\":[{\"name\":\"CM\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"cfg\",\"key\":"
        "\"color\"}}},{\"name\":\"S\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"sec\",\"key\":"
        "\"user\"}}},{\"name\":\"OPT\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"none\","
        "\"key\":\"k\",\"optional\":true}}},{\"name\":\"OPTKEY\",\"valueFrom\":{\"secretKeyRef\":"
        "{\"name\":\"sec\",\"key\":\"nokey\",\"optional\":true}}},{\"name\":\"E\",\"value\":"
        "\"$(P_color)-$(user)\"},{\"name\":\"ok\",\"value\":\"override\"}]}");
    util_strv_t env = {0};
    util_error_t err = NULL;
    assert_int_equal(kubelet_container_env(c, NULL, &ctx, &env, &err), 0);
    assert_string_equal(env_get(&env, "P_color"), "blue");
    assert_string_equal(env_get(&env, "P_1bad"), "x"); /* valid with the prefix */
    assert_null(env_get(&env, "1bad"));                /* skipped without */
    assert_string_equal(env_get(&env, "color"), "blue");
    assert_string_equal(env_get(&env, "user"), "admin");
    assert_string_equal(env_get(&env, "CM"), "blue");
    assert_string_equal(env_get(&env, "S"), "admin");
    assert_null(env_get(&env, "OPT"));
    assert_null(env_get(&env, "OPTKEY"));
    assert_string_equal(env_get(&env, "E"), "blue-admin");
    assert_string_equal(env_get(&env, "ok"), "override");
    util_strv_clear(&env);
    cJSON_Delete(c);

    static const struct {
        const char *spec, *msg;
        int rc;
    } bad[] = {
        {"{\"env\":[{\"name\":\"V\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"late\","
         "\"key\":\"k\"}}}]}",
         "configmap \"late\" not found", -ENOENT},
        {"{\"env\":[{\"name\":\"V\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"cfg\","
         "\"key\":\"nokey\"}}}]}",
         "couldn't find key nokey in ConfigMap ns/cfg", -ENOENT},
        {"{\"env\":[{\"name\":\"V\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"sec\","
         "\"key\":\"nokey\"}}}]}",
         "couldn't find key nokey in Secret ns/sec", -ENOENT},
        {"{\"envFrom\":[{\"secretRef\":{\"name\":\"nosec\"}}]}", "secret \"nosec\" not found",
         -ENOENT},
        {"{\"env\":[{\"name\":\"V\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"spec.x\"}}}]}",
         "field label not supported: spec.x", -EINVAL},
        {"{\"env\":[{\"name\":\"V\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":"
         "\"status.phase\"}}}]}",
         "unsupported fieldPath: status.phase", -ENOTSUP},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c = parse(bad[i].spec);
        assert_int_equal(kubelet_container_env(c, NULL, &ctx, &env, &err), bad[i].rc);
        assert_string_equal(err->msg, bad[i].msg);
        util_error_free(&err);
        util_strv_clear(&env);
        cJSON_Delete(c);
    }
    /* resourceFieldRef of the container itself */
    c = parse("{\"resources\":{\"limits\":{\"memory\":\"1Gi\"}},\"env\":[{\"name\":\"M\","
              "\"valueFrom\":{\"resourceFieldRef\":{\"resource\":\"limits.memory\","
              "\"divisor\":\"1Mi\"}}}]}");
    assert_int_equal(kubelet_container_env(c, NULL, &ctx, &env, &err), 0);
    assert_string_equal(env_get(&env, "M"), "1024");
    util_strv_clear(&env);
    cJSON_Delete(c);
    cJSON_Delete(cms);
    cJSON_Delete(secs);
}

static void write_text(const char *path, const char *text)
{
    assert_int_equal(util_write_file_atomic(path, text, strlen(text), 0644, NULL), 0);
}

static void termination_messages(void **state)
{
    (void)state;
    char *dir = unit_tmpdir(), tl[1024], log[1024], buf[4200];
    snprintf(tl, sizeof(tl), "%s/termlog", dir);
    snprintf(log, sizeof(log), "%s/0.log", dir);
    util_buf_t b = {0};
    for (int i = 1; i <= 100; i++)
        util_buf_printf(&b, "2026-01-01T00:00:00.000000000Z stdout F line%d\n", i);
    util_buf_puts(&b, "2026-01-01T00:00:00.000000000Z stderr P part-\n");
    util_buf_puts(&b, "2026-01-01T00:00:00.000000000Z stderr F joined\n");
    write_text(log, b.data);
    util_buf_free(&b);
    /* no file, fallback on failure: lines 22..100 and the joined one (80 lines) */
    kubelet__termination_message(tl, log, true, 1, 4096, buf, sizeof(buf));
    assert_int_equal(strncmp(buf, "line22\n", 7), 0);
    assert_non_null(strstr(buf, "line100\npart-joined\n"));
    /* no fallback on success or without the policy */
    kubelet__termination_message(tl, log, true, 0, 4096, buf, sizeof(buf));
    assert_string_equal(buf, "");
    kubelet__termination_message(tl, log, false, 1, 4096, buf, sizeof(buf));
    assert_string_equal(buf, "");
    /* the file wins, cut at the limit */
    write_text(tl, "goodbye world");
    kubelet__termination_message(tl, log, true, 1, 7, buf, sizeof(buf));
    assert_string_equal(buf, "goodbye");
    /* at most 2048 bytes of the log */
    b = (util_buf_t){0};
    for (int i = 0; i < 80; i++)
        util_buf_printf(&b, "2026-01-01T00:00:00Z stdout F %0100d\n", i);
    write_text(log, b.data);
    util_buf_free(&b);
    unlink(tl);
    kubelet__termination_message(tl, log, true, 2, 4096, buf, sizeof(buf));
    assert_int_equal(strlen(buf), 2048);
    unit_rm_rf(dir);
    free(dir);
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(atomic_writer),    cmocka_unit_test(payload_paths),
        cmocka_unit_test(subpaths),         cmocka_unit_test(downward_formats),
        cmocka_unit_test(env_from_objects), cmocka_unit_test(termination_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
