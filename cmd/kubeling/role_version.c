/* role_version: prints kubeling's version, build facts and every linked library's version. */
#include "roles.h"

#include <string.h>

#include <cjson/cJSON.h>
#include <llhttp.h>
#include <mbedtls/version.h>
#include <sqlite3.h>
#include <uv.h>
#include <zlib.h>

#include "buildinfo.h" /* generated: KUBELING_VERSION, _GIT_COMMIT, _BUILD_DATE */

#if defined(__GLIBC__)
#include <gnu/libc-version.h>
#endif

#if defined(__x86_64__)
#define TARGET_ARCH "x86_64"
#elif defined(__aarch64__)
#define TARGET_ARCH "aarch64"
#elif defined(__arm__)
#define TARGET_ARCH "armv7"
#else
#define TARGET_ARCH "unknown"
#endif

static char *opt_output;
static const char *const output_formats[] = {"text", "json", NULL};

static const util_flag_t version_flags[] = {
    {"output", 'o', UTIL_FLAG_CHOICE, &opt_output, "FORMAT", "output format: text or json", 0, 0,
     output_formats},
    {0},
};

/* mimalloc is linked into the static release build only (docs/third_party.md): a weak reference
 * is NULL in the other builds, where glibc's malloc serves. */
int mi_version(void) __attribute__((weak));

typedef struct {
    const char *name;
    const char *version;
} lib_version_t;

static const char *libc_description(char *buf, size_t len)
{
#if defined(__GLIBC__)
    snprintf(buf, len, "glibc %s", gnu_get_libc_version());
#else
    snprintf(buf, len, "musl"); /* musl deliberately exposes no version macro or call */
#endif
    return buf;
}

/* Versions come from the libraries themselves at run time, so they prove what is linked. */
static size_t collect(lib_version_t *libs, char *mbed, char *llh, char *mi, size_t n)
{
    mbedtls_version_get_string(mbed);
    snprintf(llh, n, "%d.%d.%d", LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH);
    size_t i = 0;
    libs[i++] = (lib_version_t){"sqlite", sqlite3_libversion()};
    libs[i++] = (lib_version_t){"mbedtls", mbed};
    libs[i++] = (lib_version_t){"libuv", uv_version_string()};
    libs[i++] = (lib_version_t){"cjson", cJSON_Version()};
    libs[i++] = (lib_version_t){"llhttp", llh};
    libs[i++] = (lib_version_t){"zlib", zlibVersion()};
    if (mi_version) { /* 209 is 2.0.9 */
        int v = mi_version();
        snprintf(mi, n, "%d.%d.%d", v / 100, v / 10 % 10, v % 10);
        libs[i++] = (lib_version_t){"mimalloc", mi};
    }
    return i;
}

static int run_version(const kubeling_globals_t *g, const util_strv_t *args)
{
    (void)g;
    (void)args;
    char mbed[32], llh[32], mi[32], libc[64];
    lib_version_t libs[8];
    size_t n = collect(libs, mbed, llh, mi, sizeof(llh));
    /* llhttp is header-versioned; reference a symbol so the version reported is linked. */
    llhttp_settings_t settings;
    llhttp_settings_init(&settings);
    libc_description(libc, sizeof(libc));
    if (opt_output && !strcmp(opt_output, "json")) {
        util_buf_t b = {0};
        util_buf_printf(&b,
                        "{\"version\":\"%s\",\"gitCommit\":\"%s\",\"buildDate\":\"%s\","
                        "\"arch\":\"%s\",\"libc\":\"%s\",\"libraries\":{",
                        KUBELING_VERSION, KUBELING_GIT_COMMIT, KUBELING_BUILD_DATE, TARGET_ARCH,
                        libc);
        for (size_t i = 0; i < n; i++)
            util_buf_printf(&b, "%s\"%s\":\"%s\"", i ? "," : "", libs[i].name, libs[i].version);
        util_buf_puts(&b, "}}\n");
        fputs(b.data, stdout);
        util_buf_free(&b);
        return KUBELING_EXIT_OK;
    }
    printf("kubeling version v%s\n", KUBELING_VERSION);
    printf("  git commit:  %s\n  build date:  %s\n  target arch: %s (%s)\n", KUBELING_GIT_COMMIT,
           KUBELING_BUILD_DATE, TARGET_ARCH, libc);
    printf("  libraries:\n");
    for (size_t i = 0; i < n; i++)
        printf("    %-8s %s\n", libs[i].name, libs[i].version);
    return KUBELING_EXIT_OK;
}

const kubeling_role_t role_version = {
    "version",   "print version, build facts and linked library versions",
    NULL,        version_flags,
    run_version, false,
    NULL,
};
