/* test_util: errors, logging lines, strings, paths, files, flags and the config parser. */
#include "unit.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- errors ---------------------------------------------------------------------------------- */

static void error_make_returns_negative_errno_and_keeps_message(void **state)
{
    (void)state;
    util_error_t err = NULL;
    assert_int_equal(util_error_make(&err, ENOENT, "open `%s`", "/x"), -ENOENT);
    assert_int_equal(err->status, ENOENT);
    assert_string_equal(err->msg, "open `/x`");
    char buf[128];
    assert_string_equal(util_error_text(err, buf, sizeof(buf)),
                        "open `/x`: No such file or directory");
    assert_int_equal(util_error_code(err), -ENOENT);
    util_error_free(&err);
    assert_null(err);
}

static void error_without_errno_is_einval_and_has_no_suffix(void **state)
{
    (void)state;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(util_error_make(&err, 0, "bad key"), -EINVAL);
    char buf[64];
    assert_string_equal(util_error_text(err, buf, sizeof(buf)), "bad key");
}

static void error_wrap_prefixes_context_and_keeps_code(void **state)
{
    (void)state;
    cleanup_error util_error_t err = NULL;
    util_error_make(&err, EACCES, "open `a`");
    assert_int_equal(util_error_wrap(&err, "loading %s", "config"), -EACCES);
    assert_string_equal(err->msg, "loading config: open `a`");
    /* replacing an error frees the previous one (ASan would report the leak) */
    util_error_make(&err, EIO, "second");
    assert_string_equal(err->msg, "second");
}

/* ---- logging --------------------------------------------------------------------------------- */

static void log_text_line_matches_klog_header(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    struct timespec ts = {.tv_sec = 1732449600 + 3723, .tv_nsec = 456789000}; /* 2024-11-24 */
    char buf[256];
    size_t n = util_log_format_line(buf, sizeof(buf), UTIL_LOG_TEXT, 'I', 0, &ts, 4242,
                                    "pkg/store/store_sql.c", 88, "hello");
    assert_string_equal(buf, "I1124 13:02:03.456789    4242 store_sql.c:88] hello\n");
    assert_int_equal(n, strlen(buf));
}

static void log_json_line_escapes_message(void **state)
{
    (void)state;
    struct timespec ts = {.tv_sec = 100, .tv_nsec = 5000};
    char buf[256];
    util_log_format_line(buf, sizeof(buf), UTIL_LOG_JSON, 'E', 2, &ts, 1, "a/b.c", 7,
                         "say \"hi\"\n\x01");
    assert_string_equal(buf, "{\"ts\":100.000005,\"caller\":\"b.c:7\",\"level\":\"error\","
                             "\"msg\":\"say \\\"hi\\\"\\n\\u0001\",\"v\":2}\n");
}

static void log_long_line_is_truncated_but_terminated(void **state)
{
    (void)state;
    struct timespec ts = {0};
    char msg[600], buf[128];
    memset(msg, 'x', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    size_t n = util_log_format_line(buf, sizeof(buf), UTIL_LOG_TEXT, 'W', 0, &ts, 1, "f.c", 1, msg);
    assert_int_equal(n, sizeof(buf) - 1);
    assert_int_equal(buf[n - 1], '\n');
}

static void log_write_respects_fd_and_verbosity(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    util_log_setup(1, UTIL_LOG_TEXT, fds[1]);
    util_log_v(2, "hidden");
    util_log_v(1, "shown %d", 1);
    util_log_setup(0, UTIL_LOG_TEXT, 2);
    close(fds[1]);
    char buf[512] = {0};
    ssize_t r = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    assert_true(r > 0);
    assert_null(strstr(buf, "hidden"));
    assert_non_null(strstr(buf, "] shown 1\n"));
    assert_int_equal(buf[0], 'I');
}

/* ---- strings --------------------------------------------------------------------------------- */

static void strlcpy_and_snprintf_report_truncation(void **state)
{
    (void)state;
    char b[4];
    assert_int_equal(util_strlcpy(b, "abc", sizeof(b)), 0);
    assert_string_equal(b, "abc");
    assert_int_equal(util_strlcpy(b, "abcd", sizeof(b)), -ENAMETOOLONG);
    assert_string_equal(b, "abc");
    assert_int_equal(util_snprintf(b, sizeof(b), "%d", 12345), -ENAMETOOLONG);
    assert_int_equal(util_snprintf(b, sizeof(b), "%d", 123), 0);
}

static void parse_long_and_bool_reject_garbage(void **state)
{
    (void)state;
    long v = 0;
    assert_int_equal(util_parse_long("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(util_parse_long("-3", -5, 5, &v), 0);
    assert_int_equal(v, -3);
    assert_int_equal(util_parse_long("101", 0, 100, &v), -ERANGE);
    assert_int_equal(util_parse_long("4x", 0, 100, &v), -EINVAL);
    assert_int_equal(util_parse_long("", 0, 100, &v), -EINVAL);
    assert_int_equal(util_parse_long(" 4", 0, 100, &v), -EINVAL);
    assert_int_equal(util_parse_long("99999999999999999999999", 0, 100, &v), -ERANGE);
    bool b = false;
    assert_int_equal(util_parse_bool("TRUE", &b), 0);
    assert_true(b);
    assert_int_equal(util_parse_bool("no", &b), 0);
    assert_false(b);
    assert_int_equal(util_parse_bool("maybe", &b), -EINVAL);
}

static void buf_grows_and_escapes_json(void **state)
{
    (void)state;
    util_buf_t b = {0};
    for (int i = 0; i < 1000; i++)
        util_buf_printf(&b, "%d,", i);
    assert_true(util_str_has_prefix(b.data, "0,1,2,"));
    assert_true(util_str_has_suffix(b.data, "998,999,"));
    util_buf_reset(&b);
    util_buf_json_string(&b, "a\\b\t\"\x1f", 6);
    assert_string_equal(b.data, "\"a\\\\b\\t\\\"\\u001f\"");
    char *s = util_buf_steal(&b);
    assert_null(b.data);
    free(s);
    util_strv_t sv = {0};
    util_strv_push(&sv, "x");
    util_strv_push(&sv, "y");
    assert_int_equal(sv.n, 2);
    assert_null(sv.v[2]);
    util_strv_clear(&sv);
}

/* ---- paths and files ------------------------------------------------------------------------- */

static void path_clean_matches_lexical_rules(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"", "."},
        {"/", "/"},
        {"//a//b/", "/a/b"},
        {"/a/./b/.", "/a/b"},
        {"/a/b/../c", "/a/c"},
        {"/../..", "/"},
        {"/a/../../b", "/b"},
        {"a/../..", ".."},
        {"../a/..", ".."},
        {"a/b/../../../c", "../c"},
        {"./a", "a"},
        {"a/..", "."},
        {"../../x", "../../x"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(cases); i++) {
        char out[64];
        assert_int_equal(util_path_clean(out, sizeof(out), cases[i][0]), 0);
        if (strcmp(out, cases[i][1]))
            fail_msg("clean(\"%s\") = \"%s\", want \"%s\"", cases[i][0], out, cases[i][1]);
    }
    char tiny[4];
    assert_int_equal(util_path_clean(tiny, sizeof(tiny), "/abcdef"), -ENAMETOOLONG);
}

static void path_join_and_beneath(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(util_path_join(out, sizeof(out), "/a/", "/b"), 0);
    assert_string_equal(out, "/a/b");
    assert_int_equal(util_path_join(out, sizeof(out), "/", "b"), 0);
    assert_string_equal(out, "/b");
    assert_int_equal(util_path_join(out, 4, "/abc", "def"), -ENAMETOOLONG);
    assert_true(util_path_is_beneath("a/b"));
    assert_true(util_path_is_beneath("..a"));
    assert_false(util_path_is_beneath(".."));
    assert_false(util_path_is_beneath("../a"));
    assert_false(util_path_is_beneath("/etc"));
}

static void files_are_written_atomically_with_mode_and_read_bounded(void **state)
{
    (void)state;
    char *dir = unit_tmpdir();
    char path[700], sub[600];
    snprintf(sub, sizeof(sub), "%s/x/y/z", dir);
    cleanup_error util_error_t err = NULL;
    assert_int_equal(util_mkdir_p(sub, 0700, &err), 0);
    assert_int_equal(util_mkdir_p(sub, 0700, &err), 0); /* idempotent */
    snprintf(path, sizeof(path), "%s/secret.key", sub);
    mode_t old = umask(0);
    assert_int_equal(util_write_file_atomic(path, "key-data", 8, 0600, &err), 0);
    umask(old);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(util_read_file(path, 100, &data, &len, &err), 0);
    assert_int_equal(len, 8);
    assert_string_equal(data, "key-data");
    free(data);
    assert_int_equal(util_read_file(path, 4, &data, &len, &err), -EFBIG);
    assert_int_equal(util_read_file("/nonexistent/file", 4, &data, &len, &err), -ENOENT);
    /* mkdir_p over a regular file is an error, not success */
    assert_int_equal(util_mkdir_p(path, 0700, &err), -ENOTDIR);
    unit_rm_rf(dir);
    free(dir);
}

static void openat_beneath_keeps_symlinks_inside_root(void **state)
{
    (void)state;
    char *dir = unit_tmpdir();
    char p[600];
    snprintf(p, sizeof(p), "%s/escape", dir);
    assert_int_equal(symlink("/etc/hostname", p), 0); /* absolute link: resolved in root */
    snprintf(p, sizeof(p), "%s/up", dir);
    assert_int_equal(symlink("../../../../../../etc/hostname", p), 0);
    snprintf(p, sizeof(p), "%s/etc", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/etc/hostname", dir);
    cleanup_error util_error_t err = NULL;
    assert_int_equal(util_write_file_atomic(p, "inside", 6, 0644, &err), 0);
    int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(root >= 0);
    const char *names[] = {"escape", "up", "../../etc/hostname"};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(names); i++) {
        int fd = util_openat_beneath(root, names[i], O_RDONLY, 0, &err);
        assert_true(fd >= 0);
        char buf[16] = {0};
        assert_int_equal(read(fd, buf, sizeof(buf) - 1), 6);
        assert_string_equal(buf, "inside"); /* never the host's /etc/hostname */
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        close(fd);
    }
    close(root);
    unit_rm_rf(dir);
    free(dir);
}

/* ---- flags ----------------------------------------------------------------------------------- */

static struct {
    char *dir;
    long v;
    bool flag;
    char *fmt;
    util_strv_t sans;
} opt;

static const char *const fmts[] = {"text", "json", NULL};
static const util_flag_t gtable[] = {
    {"data-dir", 'd', UTIL_FLAG_STRING, &opt.dir, "DIR", "state", 0, 0, NULL},
    {"v", 'v', UTIL_FLAG_INT, &opt.v, "N", "verbosity", 0, 10, NULL},
    {"log-format", 0, UTIL_FLAG_CHOICE, &opt.fmt, "F", "format", 0, 0, fmts},
    {0},
};
static const util_flag_t rtable[] = {
    {"disable-agent", 0, UTIL_FLAG_BOOL, &opt.flag, NULL, "no agent", 0, 0, NULL},
    {"tls-san", 0, UTIL_FLAG_STRINGS, &opt.sans, "SAN", "extra SAN", 0, 0, NULL},
    {0},
};

static int flags_reset(void **state)
{
    (void)state;
    util_flags_free_targets(gtable);
    util_flags_free_targets(rtable);
    opt.v = 0;
    opt.flag = false;
    return 0;
}

static int parse_args(util_flagset_t *fs, util_error_t *err, int argc, char **argv)
{
    util_flagset_init(fs, gtable, rtable);
    return util_flagset_parse(fs, argc, argv, false, NULL, err);
}

static void flags_accept_long_short_and_equals_forms(void **state)
{
    (void)state;
    char *argv[] = {"--data-dir=/a", "-v",        "3",  "--disable-agent",
                    "pos",           "--tls-san", "x",  "--tls-san=y",
                    "--log-format",  "json",      "--", "--not-a-flag"};
    util_flagset_t fs;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(parse_args(&fs, &err, UTIL_ARRAY_SIZE(argv), argv), 0);
    assert_string_equal(opt.dir, "/a");
    assert_int_equal(opt.v, 3);
    assert_true(opt.flag);
    assert_string_equal(opt.fmt, "json");
    assert_int_equal(opt.sans.n, 2);
    assert_string_equal(opt.sans.v[1], "y");
    assert_int_equal(fs.args.n, 2);
    assert_string_equal(fs.args.v[0], "pos");
    assert_string_equal(fs.args.v[1], "--not-a-flag");
    util_flagset_free(&fs);
    char *argv2[] = {"-v5", "--v=6", "-d", "/b", "--disable-agent=false"};
    assert_int_equal(parse_args(&fs, &err, UTIL_ARRAY_SIZE(argv2), argv2), 0);
    assert_int_equal(opt.v, 6);
    assert_string_equal(opt.dir, "/b");
    assert_false(opt.flag);
    util_flagset_free(&fs);
}

static void flags_reject_unknown_bad_values_and_missing_arguments(void **state)
{
    (void)state;
    static const struct {
        const char *arg, *arg2, *want;
    } cases[] = {
        {"--nope", NULL, "unknown flag: --nope"},
        {"--nope=1", NULL, "unknown flag: --nope"},
        {"-x", NULL, "unknown flag: -x"},
        {"-v", "11", "invalid value \"11\" for --v: want an integer in [0, 10]"},
        {"-v", "abc", "invalid value \"abc\" for --v: want an integer in [0, 10]"},
        {"--log-format", "xml", "invalid value \"xml\" for --log-format: want one of text, json"},
        {"--disable-agent=maybe", NULL,
         "invalid value \"maybe\" for --disable-agent: want true or false"},
        {"--data-dir", NULL, "flag needs an argument: --data-dir"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(cases); i++) {
        char *argv[] = {(char *)cases[i].arg, (char *)cases[i].arg2};
        util_flagset_t fs;
        cleanup_error util_error_t err = NULL;
        assert_int_equal(parse_args(&fs, &err, cases[i].arg2 ? 2 : 1, argv), -EINVAL);
        assert_string_equal(err->msg, cases[i].want);
        util_flagset_free(&fs);
    }
}

static void flags_stop_at_first_positional_when_asked(void **state)
{
    (void)state;
    char *argv[] = {"-v", "2", "server", "--disable-agent"};
    util_flagset_t fs;
    util_flagset_init(&fs, gtable, NULL);
    int next = -1;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(util_flagset_parse(&fs, 4, argv, true, &next, &err), 0);
    assert_int_equal(next, 2);
    assert_int_equal(opt.v, 2);
    assert_int_equal(fs.args.n, 0);
    util_flagset_free(&fs);
}

/* ---- config ---------------------------------------------------------------------------------- */

static int load_text(util_flagset_t *fs, const char *text, util_error_t *err)
{
    char *dir = unit_tmpdir();
    char path[600];
    snprintf(path, sizeof(path), "%s/config.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    int r = util_config_load(fs, path, err);
    if (r < 0) { /* strip the temp path so messages can be compared */
        const char *colon = strstr((*err)->msg, ": ");
        char *rest = util_xstrdup(colon ? colon + 2 : (*err)->msg);
        free((*err)->msg);
        (*err)->msg = rest;
    }
    unit_rm_rf(dir);
    free(dir);
    return r;
}

static void config_sets_scalars_lists_and_quotes(void **state)
{
    (void)state;
    util_flagset_t fs;
    util_flagset_init(&fs, gtable, rtable);
    cleanup_error util_error_t err = NULL;
    const char *text = "---\n# kubeling config\n"
                       "data-dir: \"/var/lib/k l\"  # trailing comment\n"
                       "v: 4\n"
                       "disable-agent: true\n"
                       "log-format: 'json'\n"
                       "tls-san:\n  - a.example\n  - \"b#c\"\n";
    assert_int_equal(load_text(&fs, text, &err), 0);
    assert_string_equal(opt.dir, "/var/lib/k l");
    assert_int_equal(opt.v, 4);
    assert_true(opt.flag);
    assert_string_equal(opt.fmt, "json");
    assert_int_equal(opt.sans.n, 2);
    assert_string_equal(opt.sans.v[1], "b#c");
    util_flagset_free(&fs);
    flags_reset(NULL);
    util_flagset_init(&fs, gtable, rtable);
    assert_int_equal(load_text(&fs, "tls-san: [x, \"y\", 'z''s']\r\n", &err), 0);
    assert_int_equal(opt.sans.n, 3);
    assert_string_equal(opt.sans.v[2], "z's");
    util_flagset_free(&fs);
}

static void command_line_flags_win_over_config(void **state)
{
    (void)state;
    char *argv[] = {"--data-dir", "/cli", "--tls-san", "cli-san"};
    util_flagset_t fs;
    cleanup_error util_error_t err = NULL;
    assert_int_equal(parse_args(&fs, &err, 4, argv), 0);
    assert_int_equal(load_text(&fs, "data-dir: /file\nv: 7\ntls-san: [f1, f2]\n", &err), 0);
    assert_string_equal(opt.dir, "/cli");
    assert_int_equal(opt.v, 7); /* not given on the command line: the file's value */
    assert_int_equal(opt.sans.n, 1);
    assert_string_equal(opt.sans.v[0], "cli-san");
    util_flagset_free(&fs);
}

static void malformed_config_names_line_and_problem(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"data-dir /x\n", "line 1: expected \"key: value\", got \"data-dir /x\""},
        {"v: 3\nbogus: 1\n", "line 2: unknown key \"bogus\" (not a flag of this command)"},
        {"v: 3\nv: 4\n", "line 2: duplicate key \"v\""},
        {"v: high\n",
         "line 1: key \"v\": invalid value \"high\" for --v: want an integer in [0, 10]"},
        {"data-dir: \"/x\n", "line 1: unterminated double-quoted string"},
        {"data-dir:\n  sub: 1\n", "line 2: nested mappings are not supported (\"sub: 1\")"},
        {"\tv: 1\n", "line 1: tab used for indentation"},
        {"- a\n", "line 1: list item without a key"},
        {"tls-san:\n", "line 1: key \"tls-san\" has no value"},
        {"v: [1, 2]\n", "line 1: key \"v\" takes a single value, not a list"},
        {"tls-san: [a, b\n", "line 1: malformed flow list near \"end of line\""},
        {"data-dir: {a: b}\n", "line 1: unsupported YAML construct \"{\" (only flat keys with "
                               "scalars and lists are allowed)"},
        {"data-dir: |\n", "line 1: unsupported YAML construct \"|\" (only flat keys with scalars "
                          "and lists are allowed)"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(cases); i++) {
        util_flagset_t fs;
        util_flagset_init(&fs, gtable, rtable);
        cleanup_error util_error_t err = NULL;
        assert_int_equal(load_text(&fs, cases[i].text, &err), -EINVAL);
        if (strcmp(err->msg, cases[i].want))
            fail_msg("config %zu: got \"%s\", want \"%s\"", i, err->msg, cases[i].want);
        util_flagset_free(&fs);
        flags_reset(NULL);
    }
}

static void config_rejects_oversized_and_binary_input(void **state)
{
    (void)state;
    cleanup_error util_error_t err = NULL;
    size_t big = (1u << 20) + 1;
    char *text = calloc(1, big + 1);
    memset(text, '#', big);
    assert_int_equal(util_config_parse(text, big, NULL, NULL, &err), -EFBIG);
    assert_int_equal(util_config_parse("v: 1\0x", 6, NULL, NULL, &err), -EINVAL);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_make_returns_negative_errno_and_keeps_message),
        cmocka_unit_test(error_without_errno_is_einval_and_has_no_suffix),
        cmocka_unit_test(error_wrap_prefixes_context_and_keeps_code),
        cmocka_unit_test(log_text_line_matches_klog_header),
        cmocka_unit_test(log_json_line_escapes_message),
        cmocka_unit_test(log_long_line_is_truncated_but_terminated),
        cmocka_unit_test(log_write_respects_fd_and_verbosity),
        cmocka_unit_test(strlcpy_and_snprintf_report_truncation),
        cmocka_unit_test(parse_long_and_bool_reject_garbage),
        cmocka_unit_test(buf_grows_and_escapes_json),
        cmocka_unit_test(path_clean_matches_lexical_rules),
        cmocka_unit_test(path_join_and_beneath),
        cmocka_unit_test(files_are_written_atomically_with_mode_and_read_bounded),
        cmocka_unit_test(openat_beneath_keeps_symlinks_inside_root),
        cmocka_unit_test_teardown(flags_accept_long_short_and_equals_forms, flags_reset),
        cmocka_unit_test_teardown(flags_reject_unknown_bad_values_and_missing_arguments,
                                  flags_reset),
        cmocka_unit_test_teardown(flags_stop_at_first_positional_when_asked, flags_reset),
        cmocka_unit_test_teardown(config_sets_scalars_lists_and_quotes, flags_reset),
        cmocka_unit_test_teardown(command_line_flags_win_over_config, flags_reset),
        cmocka_unit_test_teardown(malformed_config_names_line_and_problem, flags_reset),
        cmocka_unit_test(config_rejects_oversized_and_binary_input),
    };
    unit_filter_from_env();
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
