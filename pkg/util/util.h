/* util: logging, errors, cleanup attributes, strings, paths, files, flags and config. */
#ifndef KUBELING_UTIL_H
#define KUBELING_UTIL_H

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* ------------------------------------------------------------------------------------------ */
/* Errors (crun style): a function that can fail takes `util_error_t *err` last, returns a
 * negative errno, and fills *err with {errno, message}. Only the top level prints it. */

typedef struct util_error_s {
    int status; /* positive errno, or 0 when the error has no errno meaning */
    char *msg;
} util_error_s, *util_error_t;

/* Records an error; returns -errnum, or -EINVAL when errnum is 0. An existing error in *err
 * is replaced. Never fails: on allocation failure the message is a static string. */
int util_error_make(util_error_t *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the message of an existing error with context ("loading x: <old>"). */
int util_error_wrap(util_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The message with ": strerror(status)" appended when status is set; NULL-safe. */
const char *util_error_text(util_error_t err, char *buf, size_t len);
/* Returns the negative errno the failed call returned (for chaining). */
int util_error_code(util_error_t err);
void util_error_free(util_error_t *err);

/* ------------------------------------------------------------------------------------------ */
/* Cleanup attributes (systemd/crun style ownership). Hand ownership over with
 * `*ret = p; p = NULL;`. */

void util_freep(void *p);
void util_closep(int *fd);
void util_fclosep(FILE **f);
void util_closedirp(DIR **d);
void util_error_freep(util_error_t *err);

#define cleanup_free  __attribute__((cleanup(util_freep)))
#define cleanup_close __attribute__((cleanup(util_closep)))
#define cleanup_file  __attribute__((cleanup(util_fclosep)))
#define cleanup_dir   __attribute__((cleanup(util_closedirp)))
#define cleanup_error __attribute__((cleanup(util_error_freep)))

#define UTIL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------------------------ */
/* Logging: klog-like text lines or JSON lines, one write(2) per line, thread-safe. */

typedef enum { UTIL_LOG_TEXT = 0, UTIL_LOG_JSON = 1 } util_log_format_t;

void util_log_setup(int verbosity, util_log_format_t format, int fd);
int util_log_verbosity(void);
/* severity: 'I', 'W', 'E'; v is the verbosity level of info lines. */
void util_log_write(char severity, int v, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void util_log_vwrite(char severity, int v, const char *file, int line, const char *fmt, va_list ap);
/* Formats one line into buf (no I/O); exposed for tests. Returns the length. */
size_t util_log_format_line(char *buf, size_t len, util_log_format_t format, char severity, int v,
                            const struct timespec *ts, long tid, const char *file, int line,
                            const char *msg);

#define util_log_info(...)  util_log_write('I', 0, __FILE__, __LINE__, __VA_ARGS__)
#define util_log_warn(...)  util_log_write('W', 0, __FILE__, __LINE__, __VA_ARGS__)
#define util_log_error(...) util_log_write('E', 0, __FILE__, __LINE__, __VA_ARGS__)
#define util_log_v(n, ...)                                             \
    do {                                                               \
        if (util_log_verbosity() >= (n))                               \
            util_log_write('I', (n), __FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

/* ------------------------------------------------------------------------------------------ */
/* Strings. */

/* Copies src into dst (size n), always NUL-terminated; returns -ENAMETOOLONG if truncated. */
int util_strlcpy(char *dst, const char *src, size_t n);
/* snprintf that reports truncation as -ENAMETOOLONG instead of silently cutting. */
int util_snprintf(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* asprintf that aborts on OOM (allocation failure of small strings is not recoverable here). */
char *util_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *util_xstrdup(const char *s);
void *util_xmalloc(size_t n);
void *util_xcalloc(size_t nmemb, size_t size);
void *util_xrealloc(void *p, size_t n);
bool util_str_has_prefix(const char *s, const char *prefix);
bool util_str_has_suffix(const char *s, const char *suffix);
/* Parses a whole decimal integer in [min,max]; -EINVAL or -ERANGE otherwise. */
int util_parse_long(const char *s, long min, long max, long *ret);
/* Parses true/false (also 1/0, yes/no, case-insensitive). */
int util_parse_bool(const char *s, bool *ret);

/* Growable byte buffer, always NUL-terminated. */
typedef struct util_buf {
    char *data;
    size_t len;
    size_t cap;
} util_buf_t;

void util_buf_reserve(util_buf_t *b, size_t extra);
void util_buf_append(util_buf_t *b, const void *data, size_t len);
void util_buf_puts(util_buf_t *b, const char *s);
void util_buf_printf(util_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (quotes included, control characters escaped). */
void util_buf_json_string(util_buf_t *b, const char *s, size_t len);
void util_buf_reset(util_buf_t *b);
void util_buf_free(util_buf_t *b);
/* Transfers the data out (caller frees); the buffer is left empty. */
char *util_buf_steal(util_buf_t *b);

/* A NULL-terminated, growable vector of owned strings. */
typedef struct util_strv {
    char **v;
    size_t n;
} util_strv_t;

void util_strv_push(util_strv_t *sv, const char *s);
void util_strv_clear(util_strv_t *sv);

/* ------------------------------------------------------------------------------------------ */
/* Paths and files. */

/* Joins a and b with exactly one '/'; -ENAMETOOLONG if it does not fit. */
int util_path_join(char *dst, size_t n, const char *a, const char *b);
/* Lexically cleans a path: collapses '//', removes '.', resolves '..' without going above
 * the root ('/..' is '/'). Relative paths stay relative; a leading '..' of a relative path is
 * kept. */
int util_path_clean(char *dst, size_t n, const char *path);
/* True if rel (relative, already cleaned) stays inside its base: no leading "..". */
bool util_path_is_beneath(const char *rel);
/* mkdir -p with mode for every created component. */
int util_mkdir_p(const char *path, mode_t mode, util_error_t *err);
/* Reads a whole file of at most max bytes (NUL-terminated); -EFBIG if larger. */
int util_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len,
                   util_error_t *err);
/* Writes a file atomically and durably: temp file with mode, fsync, rename, fsync dir. */
int util_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           util_error_t *err);
/* Opens path relative to dirfd without leaving the directory tree rooted at dirfd
 * (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS). */
int util_openat_beneath(int dirfd, const char *path, int flags, mode_t mode, util_error_t *err);

/* ------------------------------------------------------------------------------------------ */
/* Flags: one table per role plus the global table. Long names without dashes. */

typedef enum {
    UTIL_FLAG_BOOL,    /* target: bool*            --x, --x=true|false          */
    UTIL_FLAG_INT,     /* target: long*            --x N, --x=N (min..max)      */
    UTIL_FLAG_STRING,  /* target: char** (owned)   --x S                        */
    UTIL_FLAG_STRINGS, /* target: util_strv_t*     repeatable; YAML lists       */
    UTIL_FLAG_CHOICE,  /* target: char** (owned), value must be one of choices  */
} util_flag_type_t;

typedef struct util_flag {
    const char *name; /* "data-dir"; NULL terminates a table */
    char short_name;  /* 'v' or 0 */
    util_flag_type_t type;
    void *target;
    const char *arg_name; /* "DIR", shown in help */
    const char *help;
    long min, max;              /* UTIL_FLAG_INT bounds */
    const char *const *choices; /* UTIL_FLAG_CHOICE, NULL-terminated */
} util_flag_t;

/* Flag state across sources so that command-line flags win over the config file. */
typedef struct util_flagset {
    const util_flag_t *tables[4];
    size_t ntables;
    unsigned char set_by_cli[4][64];
    util_strv_t args; /* positional arguments */
} util_flagset_t;

void util_flagset_init(util_flagset_t *fs, const util_flag_t *global, const util_flag_t *role);
/* Adds one more table (up to 4 in all; more are ignored). */
void util_flagset_add(util_flagset_t *fs, const util_flag_t *table);
void util_flagset_free(util_flagset_t *fs);
/* Parses argv[0..argc): flags of any table and positionals (after "--" everything is
 * positional). When stop_at_positional is set, stops at the first positional and returns its
 * index through ret_next. Errors ("unknown flag --x") are usage errors (-EINVAL). */
int util_flagset_parse(util_flagset_t *fs, int argc, char **argv, bool stop_at_positional,
                       int *ret_next, util_error_t *err);
/* Applies one key (a flag name) with its values from a config file; ignored when the flag
 * was set on the command line. */
int util_flagset_apply_config(util_flagset_t *fs, const char *key, const util_strv_t *values,
                              bool is_list, util_error_t *err);
/* Prints "  --name ARG   help" lines for a table. */
void util_flags_print_help(FILE *out, const util_flag_t *table);
/* Releases strings owned by flag targets of a table (STRING, CHOICE, STRINGS). */
void util_flags_free_targets(const util_flag_t *table);

/* ------------------------------------------------------------------------------------------ */
/* Config file: flat k3s-style YAML (`key: value`, `key: [a, b]`, `key:` + `- item` lists,
 * comments, quoted scalars). Every key must name a flag. Bounded: 1 MiB, 4096 keys. */

typedef int (*util_config_cb)(void *userdata, const char *key, const util_strv_t *values,
                              bool is_list, int line, util_error_t *err);

int util_config_parse(const char *text, size_t len, util_config_cb cb, void *userdata,
                      util_error_t *err);
/* Loads path into the flag set; "file:line: problem" errors. */
int util_config_load(util_flagset_t *fs, const char *path, util_error_t *err);

/* ------------------------------------------------------------------------------------------ */
/* A libuv loop on a thread of its own (util_loop_thread.c), for in-process components that
 * would otherwise share one loop and so one core. start runs ON the new thread, before its loop
 * runs (a component must create its uv handles on its own loop's thread); util_loop_thread_start
 * returns its result once it has run (so start may read the caller's stack). stop runs on the
 * thread too, when util_loop_thread_stop asks: it closes the component's handles; the loop then
 * drains (close callbacks, pending work) and the thread ends. */

struct uv_loop_s;
typedef struct util_loop_thread util_loop_thread_t;
typedef int (*util_loop_thread_start_fn)(struct uv_loop_s *loop, void *ud, util_error_t *err);
typedef void (*util_loop_thread_stop_fn)(void *ud);

/* name: the thread's name (/proc/PID/task/TID/comm, 15 characters kept). On a start failure the
 * loop has drained and the thread is joined before this returns its error. */
int util_loop_thread_start(const char *name, util_loop_thread_start_fn start,
                           util_loop_thread_stop_fn stop, void *ud, util_loop_thread_t **ret,
                           util_error_t *err);
/* Runs stop on the thread, waits until its loop has drained, joins it and frees t. NULL: no-op.
 * Blocks the caller for as long as the component takes to close. */
void util_loop_thread_stop(util_loop_thread_t *t);

#endif
