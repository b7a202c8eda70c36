/* unit.h: common includes for the cmocka unit test binaries (one per module). */
#ifndef KUBELING_UNIT_H
#define KUBELING_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* A private scratch directory under $TMPDIR for tests that touch the filesystem. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* UNIT_FILTER=pattern runs only the matching tests (cmocka's wildcard filter). */
static inline void unit_filter_from_env(void)
{
    const char *f = getenv("UNIT_FILTER");
    if (f && *f)
        cmocka_set_test_filter(f);
}

static inline char *unit_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof(tmpl), "%s/kubeling-unit-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static inline void unit_rm_rf(const char *path)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

#endif
