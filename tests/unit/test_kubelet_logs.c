/* test_kubelet_logs: the kubelet API's reading of CRI log files (kubelet_logs.c): record
 * parsing, RFC 3339 times, tailLines/sinceTime/limitBytes/timestamps/stream over rotated files,
 * following across a rotation, and hostile file content. */
#include "unit.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kubelet/kubelet.h"

#define T0 "2026-11-28T10:00:0"

static char *dir;

static void put(const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    dir = unit_tmpdir();
    /* oldest first: 0.log.2, 0.log.1, then 0.log; one record per second from T0+0 */
    put("0.log.2", T0 "0Z stdout F one\n" T0 "1.5Z stderr F two\n");
    put("0.log.1", T0 "2.000000001Z stdout P thr\n" T0 "3Z stdout F ee\n");
    put("0.log", T0 "4+00:00 stdout F four\n" T0 "5.25Z stdout F\n" T0 "6Z stderr F six\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unit_rm_rf(dir);
    free(dir);
    return 0;
}

/* Everything a reader with these options gives, as one string. */
static char *read_all(kubelet_log_opts_t o)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/0.log", dir);
    kubelet_log_reader_t *r = NULL;
    util_error_t err = NULL;
    assert_int_equal(kubelet_log_reader_open(path, 5, &o, &r, &err), 0);
    util_buf_t out = {0};
    util_buf_append(&out, "", 0); /* terminated even when nothing is read */
    int got;
    while ((got = kubelet_log_reader_next(r, &out, 7)) == 1)
        ;
    assert_true(got == 0 || got == 2);
    kubelet_log_reader_free(r);
    return util_buf_steal(&out);
}

static kubelet_log_opts_t all(void)
{
    return (kubelet_log_opts_t){.tail_lines = -1, .limit_bytes = -1};
}

static void cri_records_parse(void **state)
{
    (void)state;
    kubelet_cri_record_t r;
    const char *l = "2026-11-28T10:00:00.5Z stderr P abc def";
    assert_int_equal(kubelet_cri_parse(l, strlen(l), &r), 0);
    assert_true(r.is_stderr);
    assert_true(r.partial);
    assert_int_equal(r.len, 7);
    assert_memory_equal(r.content, "abc def", 7);
    assert_int_equal(r.ts_ns % 1000000000, 500000000);
    l = "2026-11-28T10:00:00Z stdout F";
    assert_int_equal(kubelet_cri_parse(l, strlen(l), &r), 0);
    assert_int_equal(r.len, 0);
    const char *bad[] = {"",
                         "garbage",
                         "2026-11-28T10:00:00Z stdin F x",
                         "2026-11-28T10:00:00Z stdout X x",
                         "2026-13-28T10:00:00Z stdout F x",
                         "2026-11-28T10:00:00Z stdout Fx",
                         "2026-11-28 10:00:00Z stdout F x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(kubelet_cri_parse(bad[i], strlen(bad[i]), &r), -EINVAL);
}

static void rfc3339_times(void **state)
{
    (void)state;
    int64_t a, b;
    assert_int_equal(kubelet_parse_rfc3339("1970-01-01T00:00:01Z", 20, &a), 0);
    assert_int_equal(a, 1000000000);
    assert_int_equal(kubelet_parse_rfc3339("1970-01-01T01:00:01+01:00", 25, &b), 0);
    assert_int_equal(a, b);
    const char *f = "1970-01-01T00:00:00.123456789123Z"; /* digits past 9 are ignored */
    assert_int_equal(kubelet_parse_rfc3339(f, strlen(f), &a), 0);
    assert_int_equal(a, 123456789);
    assert_int_equal(kubelet_parse_rfc3339("1970-01-01T00:00:00.Z", 21, &a), -EINVAL);
    assert_int_equal(kubelet_parse_rfc3339("1970-01-01T00:00:00", 19, &a), -EINVAL);
    assert_int_equal(kubelet_parse_rfc3339("1970-01-01T00:00:00Zjunk", 24, &a), -EINVAL);
}

static void reads_rotated_files_in_order(void **state)
{
    (void)state;
    char *s = read_all(all());
    assert_string_equal(s, "one\ntwo\nthree\nfour\n\nsix\n"); /* P+F joined, empty F kept */
    free(s);
}

static void tail_spans_files(void **state)
{
    (void)state;
    kubelet_log_opts_t o = all();
    o.tail_lines = 4; /* records: ee, four, "", six */
    char *s = read_all(o);
    assert_string_equal(s, "ee\nfour\n\nsix\n");
    free(s);
    o.tail_lines = 5; /* from the partial record on */
    s = read_all(o);
    assert_string_equal(s, "three\nfour\n\nsix\n");
    free(s);
    o.tail_lines = 3; /* exactly the current file */
    s = read_all(o);
    assert_string_equal(s, "four\n\nsix\n");
    free(s);
    o.tail_lines = 0;
    s = read_all(o);
    assert_string_equal(s, "");
    free(s);
    o.tail_lines = 1000;
    s = read_all(o);
    assert_string_equal(s, "one\ntwo\nthree\nfour\n\nsix\n");
    free(s);
}

static void since_limit_stream_timestamps(void **state)
{
    (void)state;
    kubelet_log_opts_t o = all();
    assert_int_equal(kubelet_parse_rfc3339(T0 "3Z", 20, &o.since_ns), 0);
    char *s = read_all(o);
    assert_string_equal(s, "ee\nfour\n\nsix\n");
    free(s);
    o = all();
    o.limit_bytes = 10;
    s = read_all(o);
    assert_string_equal(s, "one\ntwo\nth");
    free(s);
    o = all();
    o.stream = 2;
    s = read_all(o);
    assert_string_equal(s, "two\nsix\n");
    free(s);
    o = all();
    o.timestamps = true;
    o.tail_lines = 2;
    s = read_all(o);
    assert_string_equal(s, "2026-11-28T10:00:05.250000000Z \n2026-11-28T10:00:06.000000000Z six\n");
    free(s);
    o.limit_bytes = 31; /* a limit inside the timestamp of the second record */
    s = read_all(o);
    assert_string_equal(s, "2026-11-28T10:00:05.250000000Z ");
    free(s);
}

static void follows_across_rotation(void **state)
{
    (void)state;
    char path[1024], p1[1100], p2[1100], p3[1100];
    snprintf(path, sizeof(path), "%s/0.log", dir);
    kubelet_log_reader_t *r = NULL;
    util_error_t err = NULL;
    kubelet_log_opts_t o = all();
    o.tail_lines = 1;
    assert_int_equal(kubelet_log_reader_open(path, 5, &o, &r, &err), 0);
    util_buf_t out = {0};
    while (kubelet_log_reader_next(r, &out, 0) == 1)
        ;
    assert_string_equal(out.data, "six\n");
    assert_int_equal(kubelet_log_reader_next(r, &out, 0), 0); /* nothing new */
    /* a follower waits on the watch: quiet until the shim writes, quiet again once drained */
    struct pollfd w = {.fd = kubelet_log_reader_watch_fd(r), .events = POLLIN};
    assert_true(w.fd >= 0);
    assert_int_equal(kubelet_log_reader_watch_fd(r), w.fd); /* made once */
    assert_int_equal(poll(&w, 1, 0), 0);
    /* the shim writes once more, then rotates: 0.log.2 -> .3, .1 -> .2, 0.log -> .1 */
    put("0.log", T0 "7Z stdout F seven\n");
    assert_int_equal(poll(&w, 1, 1000), 1);
    kubelet_log_reader_watch_drain(r);
    assert_int_equal(poll(&w, 1, 0), 0);
    snprintf(p1, sizeof(p1), "%s.1", path);
    snprintf(p2, sizeof(p2), "%s.2", path);
    snprintf(p3, sizeof(p3), "%s.3", path);
    assert_int_equal(rename(p2, p3), 0);
    assert_int_equal(rename(p1, p2), 0);
    assert_int_equal(rename(path, p1), 0);
    assert_int_equal(poll(&w, 1, 1000), 1); /* the rotation wakes the follower too */
    kubelet_log_reader_watch_drain(r);
    put("0.log", T0 "8Z stdout F eight\n");
    assert_int_equal(poll(&w, 1, 1000), 1);
    while (kubelet_log_reader_next(r, &out, 0) == 1)
        ;
    assert_string_equal(out.data, "six\nseven\neight\n");
    kubelet_log_reader_free(r);
    util_buf_free(&out);
    /* put the files back for the other tests */
    assert_int_equal(rename(p1, path), 0);
    assert_int_equal(rename(p2, p1), 0);
    assert_int_equal(rename(p3, p2), 0);
    assert_int_equal(truncate(path, 0), 0);
    put("0.log", T0 "4+00:00 stdout F four\n" T0 "5.25Z stdout F\n" T0 "6Z stderr F six\n");
}

static void hostile_content_is_skipped(void **state)
{
    (void)state;
    char sub[1024];
    snprintf(sub, sizeof(sub), "%s/h", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    char path[1100];
    snprintf(path, sizeof(path), "%s/0.log", sub);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a record\n\n" T0 "0Z stdout F ok\n\x01\x02 binary\n", f);
    for (int i = 0; i < 3 << 20; i++) /* 3 MiB without a newline: dropped, bounded */
        fputc('x', f);
    fputs("\n" T0 "1Z stdout F after\n", f);
    fclose(f);
    kubelet_log_reader_t *r = NULL;
    util_error_t err = NULL;
    kubelet_log_opts_t o = all();
    assert_int_equal(kubelet_log_reader_open(path, 5, &o, &r, &err), 0);
    util_buf_t out = {0};
    while (kubelet_log_reader_next(r, &out, 0) == 1)
        ;
    assert_string_equal(out.data, "ok\nafter\n");
    kubelet_log_reader_free(r);
    util_buf_free(&out);
    snprintf(path, sizeof(path), "%s/missing.log", sub);
    assert_true(kubelet_log_reader_open(path, 5, &o, &r, &err) < 0);
    util_error_free(&err);
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cri_records_parse),
        cmocka_unit_test(rfc3339_times),
        cmocka_unit_test(reads_rotated_files_in_order),
        cmocka_unit_test(tail_spans_files),
        cmocka_unit_test(since_limit_stream_timestamps),
        cmocka_unit_test(follows_across_rotation),
        cmocka_unit_test(hostile_content_is_skipped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
