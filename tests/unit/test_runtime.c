/* test_runtime: the runtime's pure parts: cgroup values, capabilities, cgroup layout
 * detection, config and state files, CRI log lines and rotation, paths inside a root. */
#include "unit.h"
#include "runtime/runtime_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- cgroup values (upstream: pkg/kubelet/cm/helpers_linux.go, libcontainer) ------------------
 */

static void test_cpu_shares_follow_upstream(void **state)
{
    (void)state;
    assert_int_equal(runtime_cpu_shares(0), 2); /* BestEffort */
    assert_int_equal(runtime_cpu_shares(1), 2);
    assert_int_equal(runtime_cpu_shares(100), 102);
    assert_int_equal(runtime_cpu_shares(250), 256);
    assert_int_equal(runtime_cpu_shares(1000), 1024);
    assert_int_equal(runtime_cpu_shares(1000000), 262144); /* clamped to MaxShares */
}

static void test_cpu_weight_maps_shares_linearly(void **state)
{
    (void)state;
    assert_int_equal(runtime_cpu_weight(0), 0);
    assert_int_equal(runtime_cpu_weight(2), 1);
    assert_int_equal(runtime_cpu_weight(1024), 39);
    assert_int_equal(runtime_cpu_weight(262144), 10000);
}

static void test_cpu_quota_has_a_floor_and_zero_means_unlimited(void **state)
{
    (void)state;
    assert_int_equal(runtime_cpu_quota(0, 100000), 0);
    assert_int_equal(runtime_cpu_quota(1, 100000), 1000); /* MinQuotaPeriod */
    assert_int_equal(runtime_cpu_quota(500, 100000), 50000);
    assert_int_equal(runtime_cpu_quota(1500, 100000), 150000);
}

static void test_pod_cgroup_follows_qos_layout(void **state)
{
    (void)state;
    char b[256];
    assert_int_equal(runtime__pod_cgroup("kubeling", RUNTIME_QOS_GUARANTEED, "u1", b, sizeof(b)),
                     0);
    assert_string_equal(b, "kubeling/kubepods/podu1");
    runtime__pod_cgroup("kubeling", RUNTIME_QOS_BURSTABLE, "u1", b, sizeof(b));
    assert_string_equal(b, "kubeling/kubepods/burstable/podu1");
    runtime__pod_cgroup("kubeling", RUNTIME_QOS_BESTEFFORT, "u1", b, sizeof(b));
    assert_string_equal(b, "kubeling/kubepods/besteffort/podu1");
}

/* ---- capabilities ------------------------------------------------------------------------------
 */

static void test_default_caps_are_dockers_set(void **state)
{
    (void)state;
    uint64_t caps;
    assert_int_equal(runtime__caps_compute(NULL, NULL, false, 40, &caps, NULL), 0);
    assert_int_equal(caps, 0xa80425fbULL); /* what `docker run` shows as CapEff */
}

static void test_caps_add_drop_and_all(void **state)
{
    (void)state;
    uint64_t caps;
    const char *add[] = {"NET_ADMIN", "cap_sys_time", NULL};
    const char *drop[] = {"CAP_CHOWN", "kill", NULL};
    assert_int_equal(runtime__caps_compute(add, drop, false, 40, &caps, NULL), 0);
    assert_true(caps & (1ULL << 12)); /* NET_ADMIN */
    assert_true(caps & (1ULL << 25)); /* SYS_TIME */
    assert_false(caps & (1ULL << 0)); /* CHOWN */
    assert_false(caps & (1ULL << 5)); /* KILL */
    const char *all[] = {"ALL", NULL}, *bind[] = {"NET_BIND_SERVICE", NULL};
    assert_int_equal(runtime__caps_compute(bind, all, false, 40, &caps, NULL), 0);
    assert_int_equal(caps, 1ULL << 10); /* drop ALL, add one back */
    assert_int_equal(runtime__caps_compute(all, NULL, false, 40, &caps, NULL), 0);
    assert_int_equal(caps, (1ULL << 41) - 1);
    assert_int_equal(runtime__caps_compute(NULL, all, true, 40, &caps, NULL), 0);
    assert_int_equal(caps, (1ULL << 41) - 1); /* privileged wins */
}

static void test_unknown_capability_is_refused(void **state)
{
    (void)state;
    uint64_t caps = 7;
    util_error_t err = NULL;
    const char *add[] = {"NET_FLY", NULL};
    assert_int_equal(runtime__caps_compute(add, NULL, false, 40, &caps, &err), -EINVAL);
    assert_non_null(strstr(err->msg, "NET_FLY"));
    assert_int_equal(caps, 7);
    util_error_free(&err);
}

/* ---- cgroup layout -----------------------------------------------------------------------------
 */

static const char hybrid_mountinfo[] =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

static void test_hybrid_layout_takes_v1_controllers_and_joins_unified(void **state)
{
    (void)state;
    runtime__cgroups_t cg;
    assert_int_equal(runtime__cgroups_parse(hybrid_mountinfo, "hugetlb", &cg), 0);
    assert_int_equal(cg.mode, RUNTIME_CGROUP_HYBRID);
    assert_int_equal(cg.n, 5);
    assert_string_equal(cg.h[0].mountpoint, "/sys/fs/cgroup/cpu");
    assert_string_equal(cg.h[2].controllers, "memory");
    assert_true(cg.h[4].unified);
    assert_string_equal(cg.h[4].controllers, ""); /* hugetlb only: nothing we set there */
}

static void test_v2_layout_and_comounted_v1(void **state)
{
    (void)state;
    runtime__cgroups_t cg;
    const char *v2 = "30 23 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
    assert_int_equal(runtime__cgroups_parse(v2, "cpuset,cpu,io,memory,hugetlb,pids", &cg), 0);
    assert_int_equal(cg.mode, RUNTIME_CGROUP_V2);
    assert_int_equal(cg.n, 1);
    assert_string_equal(cg.h[0].controllers, "cpu,memory,pids");
    const char *v1 = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
                     "33 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,cpuacct\n"
                     "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
    assert_int_equal(runtime__cgroups_parse(v1, "", &cg), 0);
    assert_int_equal(cg.mode, RUNTIME_CGROUP_V1);
    assert_int_equal(cg.n, 2); /* the second cpu,cpuacct mount is the same hierarchy */
    assert_string_equal(cg.h[0].controllers, "cpu,cpuacct");
    assert_int_equal(runtime__cgroups_parse("1 2 0:1 / / rw - ext4 /dev/sda rw\n", "", &cg),
                     -ENOENT);
}

/* ---- config and state files --------------------------------------------------------------------
 */

static void test_config_round_trips(void **state)
{
    (void)state;
    runtime__config_t c = {0}, d;
    c.id = "c1";
    c.sandbox_id = "pod1";
    util_strv_push(&c.lowerdirs, "/layers/b");
    util_strv_push(&c.lowerdirs, "/layers/a");
    c.upperdir = "/u";
    c.workdir = "/w";
    util_strv_push(&c.args, "sh");
    util_strv_push(&c.args, "-c");
    util_strv_push(&c.env, "A=\"b\"\n");
    c.uid = 1000;
    c.gid = 2000;
    gid_t groups[] = {5, 6};
    c.groups = groups;
    c.ngroups = 2;
    c.caps = 0xa80425fbULL | (1ULL << 40);
    c.no_new_privs = true;
    c.stdin_open = c.stdin_once = c.tty = true;
    runtime__mount_t m = {"/src", "/etc/hosts", true};
    c.mounts = &m;
    c.nmounts = 1;
    c.resources = (runtime_resources_t){250, 500, 64 << 20, 100};
    c.log_path = "/log";
    c.log_max_size = 1 << 20;
    c.log_max_files = 3;
    c.netns = "/run/ns/net";
    c.cgroup = "kubeling/kubepods/podpod1/c1";
    char *json = runtime__config_to_json(&c);
    assert_int_equal(runtime__config_from_json(json, &d, NULL), 0);
    free(json);
    assert_string_equal(d.id, "c1");
    assert_int_equal(d.lowerdirs.n, 2);
    assert_string_equal(d.lowerdirs.v[0], "/layers/b");
    assert_string_equal(d.env.v[0], "A=\"b\"\n");
    assert_int_equal(d.uid, 1000);
    assert_int_equal(d.ngroups, 2);
    assert_int_equal(d.groups[1], 6);
    assert_int_equal(d.caps, c.caps);
    assert_true(d.no_new_privs);
    assert_true(d.stdin_open && d.stdin_once && d.tty);
    assert_int_equal(d.nmounts, 1);
    assert_string_equal(d.mounts[0].destination, "/etc/hosts");
    assert_true(d.mounts[0].readonly);
    assert_int_equal(d.resources.memory_limit, 64 << 20);
    assert_int_equal(d.log_max_files, 3);
    assert_string_equal(d.netns, "/run/ns/net");
    assert_null(d.ipcns);
    assert_null(d.cgroups); /* none given: the shim detects the layout itself */
    runtime__config_free(&d);
    util_strv_clear(&c.lowerdirs);
    util_strv_clear(&c.args);
    util_strv_clear(&c.env);
}

static void test_config_carries_the_cgroup_layout(void **state)
{
    (void)state;
    runtime__cgroups_t cg;
    assert_int_equal(runtime__cgroups_parse(hybrid_mountinfo, "hugetlb", &cg), 0);
    runtime__config_t c = {0}, d;
    c.id = "c1";
    c.rootfs = "/r";
    util_strv_push(&c.args, "sh");
    c.cgroup = "kubeling/c1";
    c.cgroups = &cg;
    char *json = runtime__config_to_json(&c);
    assert_int_equal(runtime__config_from_json(json, &d, NULL), 0);
    free(json);
    assert_non_null(d.cgroups);
    assert_int_equal(d.cgroups->mode, RUNTIME_CGROUP_HYBRID);
    assert_int_equal(d.cgroups->n, cg.n);
    for (size_t i = 0; i < cg.n; i++) {
        assert_string_equal(d.cgroups->h[i].mountpoint, cg.h[i].mountpoint);
        assert_string_equal(d.cgroups->h[i].controllers, cg.h[i].controllers);
        assert_int_equal(d.cgroups->h[i].unified, cg.h[i].unified);
    }
    runtime__config_free(&d);
    util_strv_clear(&c.args);
    /* malformed layouts are refused, not half used */
    static const char *const bad[] = {
        "\"cgroupLayout\":{\"mode\":9,\"hierarchies\":[{\"mountpoint\":\"/"
        "a\",\"controllers\":\"\",\"unified\":true}]}",
        "\"cgroupLayout\":{\"mode\":2,\"hierarchies\":[]}",
        "\"cgroupLayout\":{\"mode\":2,\"hierarchies\":[{\"mountpoint\":\"rel\",\"controllers\":"
        "\"\",\"unified\":true}]}",
        "\"cgroupLayout\":{\"mode\":2,\"hierarchies\":[{\"mountpoint\":\"/"
        "a\",\"controllers\":1,\"unified\":true}]}",
        "\"cgroupLayout\":[]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "{\"id\":\"c1\",\"rootfs\":\"/r\",\"args\":[\"sh\"],\"cgroup\":\"x\",%s}", bad[i]);
        util_error_t err = NULL;
        assert_int_equal(runtime__config_from_json(text, &d, &err), -EINVAL);
        util_error_free(&err);
    }
    /* a mount point longer than the field */
    char text[1024], longpath[400];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = 0;
    snprintf(
        text, sizeof(text),
        "{\"id\":\"c1\",\"rootfs\":\"/r\",\"args\":[\"sh\"],\"cgroup\":\"x\",\"cgroupLayout\":{"
        "\"mode\":2,\"hierarchies\":[{\"mountpoint\":\"%s\",\"controllers\":\"\",\"unified\":true}]"
        "}}",
        longpath);
    util_error_t err = NULL;
    assert_int_equal(runtime__config_from_json(text, &d, &err), -EINVAL);
    util_error_free(&err);
}

static void test_config_without_root_or_args_is_refused(void **state)
{
    (void)state;
    runtime__config_t d;
    util_error_t err = NULL;
    assert_int_equal(runtime__config_from_json("{\"id\":\"x\",\"args\":[\"a\"]}", &d, &err),
                     -EINVAL);
    util_error_free(&err);
    assert_int_equal(runtime__config_from_json("[1]", &d, &err), -EINVAL);
    util_error_free(&err);
    assert_int_equal(runtime__config_from_json("{\"args\":[1]}", &d, &err), -EINVAL);
    util_error_free(&err);
}

static void test_state_round_trips_through_the_file(void **state)
{
    (void)state;
    char *dir = unit_tmpdir();
    runtime_container_state_t s = {0}, t;
    strcpy(s.id, "c1");
    strcpy(s.sandbox_id, "pod1");
    s.status = RUNTIME_STATUS_EXITED;
    s.pid = 4242;
    s.shim_pid = 4241;
    s.exit_code = 137;
    s.signal = 9;
    s.oom_killed = true;
    s.created_ns = 1700000000123456789LL;
    s.started_ns = 1700000001123456789LL;
    s.finished_ns = 1700000002123456789LL;
    strcpy(s.cgroup, "kubeling/kubepods/podpod1/c1");
    strcpy(s.message, "exec: no such file");
    assert_int_equal(runtime__state_write(dir, &s, NULL), 0);
    assert_int_equal(runtime__state_read(dir, &t, NULL), 0);
    assert_memory_equal(&s, &t, sizeof(s));
    unit_rm_rf(dir);
    free(dir);
}

static void test_malformed_state_is_refused(void **state)
{
    (void)state;
    runtime_container_state_t t;
    util_error_t err = NULL;
    const char *bad[] = {"",
                         "{",
                         "{\"status\":\"dancing\"}",
                         "{\"status\":\"running\",\"pid\":-5}",
                         "{\"status\":\"exited\",\"exitCode\":999}",
                         "{\"status\":\"exited\",\"startedAt\":\"12x\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(runtime__state_from_json(bad[i], &t, &err), -EINVAL);
        util_error_free(&err);
    }
}

static void test_ids_are_plain_names(void **state)
{
    (void)state;
    assert_true(runtime__id_valid("0123abcd-ef_9.x"));
    assert_false(runtime__id_valid(""));
    assert_false(runtime__id_valid(".."));
    assert_false(runtime__id_valid("a/b"));
    assert_false(runtime__id_valid("a b"));
    char long_id[RUNTIME_ID_MAX + 2];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = 0;
    assert_false(runtime__id_valid(long_id));
}

/* ---- CRI log files -----------------------------------------------------------------------------
 */

static void test_log_prefix_is_rfc3339nano_utc(void **state)
{
    (void)state;
    char b[96];
    struct timespec ts = {1700000000, 123000000};
    runtime__log_prefix(b, sizeof(b), &ts, 0, false);
    assert_string_equal(b, "2023-11-14T22:13:20.123Z stdout F ");
    ts.tv_nsec = 0;
    runtime__log_prefix(b, sizeof(b), &ts, 1, true);
    assert_string_equal(b, "2023-11-14T22:13:20Z stderr P ");
    ts.tv_nsec = 5;
    runtime__log_prefix(b, sizeof(b), &ts, 0, false);
    assert_string_equal(b, "2023-11-14T22:13:20.000000005Z stdout F ");
}

static char *slurp(const char *path)
{
    char *data = NULL;
    util_error_t err = NULL;
    if (util_read_file(path, 1 << 24, &data, NULL, &err) < 0) {
        util_error_free(&err);
        return strdup("<missing>");
    }
    return data;
}

static void test_log_lines_partial_and_flush(void **state)
{
    (void)state;
    char *dir = unit_tmpdir(), path[600];
    snprintf(path, sizeof(path), "%s/0.log", dir);
    runtime__log_t *log = calloc(1, sizeof(*log));
    struct timespec ts = {1700000000, 0};
    assert_int_equal(runtime__log_open(log, path, 0, 1, NULL), 0);
    runtime__log_feed(log, 0, "hel", 3, &ts);
    runtime__log_feed(log, 1, "oops\n", 5, &ts);
    runtime__log_feed(log, 0, "lo\nwor", 6, &ts);
    runtime__log_flush(log, 0, &ts);           /* EOF without a newline: containerd writes F */
    runtime__log_feed(log, 0, "/ # ", 4, &ts); /* a terminal's prompt: a P record at once */
    runtime__log_flush_partial(log, 0, &ts);
    runtime__log_flush_partial(log, 0, &ts); /* nothing pending: nothing written */
    runtime__log_feed(log, 0, "ls\n", 3, &ts);
    runtime__log_close(log);
    char *text = slurp(path);
    assert_string_equal(text, "2023-11-14T22:13:20Z stderr F oops\n"
                              "2023-11-14T22:13:20Z stdout F hello\n"
                              "2023-11-14T22:13:20Z stdout F wor\n"
                              "2023-11-14T22:13:20Z stdout P / # \n"
                              "2023-11-14T22:13:20Z stdout F ls\n");
    free(text);
    free(log);
    unit_rm_rf(dir);
    free(dir);
}

static void test_long_lines_split_as_partial_records(void **state)
{
    (void)state;
    char *dir = unit_tmpdir(), path[600];
    snprintf(path, sizeof(path), "%s/0.log", dir);
    runtime__log_t *log = calloc(1, sizeof(*log));
    struct timespec ts = {1700000000, 0};
    size_t n = RUNTIME_LOG_LINE_MAX + 10;
    char *line = malloc(n + 1);
    memset(line, 'x', n);
    line[n] = '\n';
    assert_int_equal(runtime__log_open(log, path, 0, 1, NULL), 0);
    runtime__log_feed(log, 0, line, n + 1, &ts);
    runtime__log_close(log);
    char *text = slurp(path);
    const char *p1 = "2023-11-14T22:13:20Z stdout P ";
    assert_int_equal(strncmp(text, p1, strlen(p1)), 0);
    char *second = strchr(text, '\n') + 1;
    assert_int_equal(second - text, (long)(strlen(p1) + RUNTIME_LOG_LINE_MAX + 1));
    assert_string_equal(second, "2023-11-14T22:13:20Z stdout F xxxxxxxxxx\n");
    free(text);
    free(line);
    free(log);
    unit_rm_rf(dir);
    free(dir);
}

static void test_log_rotates_by_size_keeping_max_files(void **state)
{
    (void)state;
    char *dir = unit_tmpdir(), path[600], p1[610], p2[610], p3[610];
    snprintf(path, sizeof(path), "%s/0.log", dir);
    snprintf(p1, sizeof(p1), "%s.1", path);
    snprintf(p2, sizeof(p2), "%s.2", path);
    snprintf(p3, sizeof(p3), "%s.3", path);
    runtime__log_t *log = calloc(1, sizeof(*log));
    struct timespec ts = {1700000000, 0};
    /* each record is 30 + 2 bytes; max 64 bytes: rotation after every second line */
    assert_int_equal(runtime__log_open(log, path, 64, 3, NULL), 0);
    const char *lines = "a\nb\nc\nd\ne\nf\ng\n";
    runtime__log_feed(log, 0, lines, strlen(lines), &ts);
    runtime__log_close(log);
    char *cur = slurp(path), *one = slurp(p1), *two = slurp(p2);
    assert_string_equal(cur, "2023-11-14T22:13:20Z stdout F g\n");
    assert_string_equal(one, "2023-11-14T22:13:20Z stdout F e\n2023-11-14T22:13:20Z stdout F f\n");
    assert_string_equal(two, "2023-11-14T22:13:20Z stdout F c\n2023-11-14T22:13:20Z stdout F d\n");
    assert_int_equal(access(p3, F_OK), -1); /* a and b were rotated away */
    free(cur);
    free(one);
    free(two);
    free(log);
    unit_rm_rf(dir);
    free(dir);
}

/* ---- paths inside a root -----------------------------------------------------------------------
 */

static void test_mount_targets_never_leave_the_root(void **state)
{
    (void)state;
    char *dir = unit_tmpdir(), *outside = unit_tmpdir(), p[700];
    snprintf(p, sizeof(p), "%s/etc", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/abs", dir);
    assert_int_equal(symlink(outside, p), 0); /* absolute link to a real host dir */
    snprintf(p, sizeof(p), "%s/rel", dir);
    assert_int_equal(symlink("../../../../../..", p), 0);
    int root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), fd = -1;
    assert_true(root >= 0);
    assert_int_equal(runtime__mkpath_in_root(root, "/abs/x/hosts", RUNTIME_MKPATH_FILE, &fd, NULL),
                     0);
    close(fd);
    /* the link resolved as if dir were "/": created inside dir, not in the host directory */
    snprintf(p, sizeof(p), "%s%s/x/hosts", dir, outside);
    assert_int_equal(access(p, F_OK), 0);
    snprintf(p, sizeof(p), "%s/x", outside);
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(runtime__mkpath_in_root(root, "/rel/etc/y", RUNTIME_MKPATH_DIR, &fd, NULL), 0);
    close(fd);
    snprintf(p, sizeof(p), "%s/etc/y", dir);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    util_error_t err = NULL;
    assert_true(runtime__mkpath_in_root(root, "relative", RUNTIME_MKPATH_DIR, &fd, &err) < 0);
    util_error_free(&err);
    close(root);
    unit_rm_rf(dir);
    unit_rm_rf(outside);
    free(dir);
    free(outside);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_shares_follow_upstream),
        cmocka_unit_test(test_cpu_weight_maps_shares_linearly),
        cmocka_unit_test(test_cpu_quota_has_a_floor_and_zero_means_unlimited),
        cmocka_unit_test(test_pod_cgroup_follows_qos_layout),
        cmocka_unit_test(test_default_caps_are_dockers_set),
        cmocka_unit_test(test_caps_add_drop_and_all),
        cmocka_unit_test(test_unknown_capability_is_refused),
        cmocka_unit_test(test_hybrid_layout_takes_v1_controllers_and_joins_unified),
        cmocka_unit_test(test_v2_layout_and_comounted_v1),
        cmocka_unit_test(test_config_round_trips),
        cmocka_unit_test(test_config_carries_the_cgroup_layout),
        cmocka_unit_test(test_config_without_root_or_args_is_refused),
        cmocka_unit_test(test_state_round_trips_through_the_file),
        cmocka_unit_test(test_malformed_state_is_refused),
        cmocka_unit_test(test_ids_are_plain_names),
        cmocka_unit_test(test_log_prefix_is_rfc3339nano_utc),
        cmocka_unit_test(test_log_lines_partial_and_flush),
        cmocka_unit_test(test_long_lines_split_as_partial_records),
        cmocka_unit_test(test_log_rotates_by_size_keeping_max_files),
        cmocka_unit_test(test_mount_targets_never_leave_the_root),
    };
    unit_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
