/* util_flags: command-line flag tables shared by main, every role and the config file. */
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FLAGS_PER_TABLE 64

void util_flagset_init(util_flagset_t *fs, const util_flag_t *global, const util_flag_t *role)
{
    *fs = (util_flagset_t){0};
    if (global)
        fs->tables[fs->ntables++] = global;
    if (role)
        fs->tables[fs->ntables++] = role;
}

void util_flagset_add(util_flagset_t *fs, const util_flag_t *table)
{
    if (table && fs->ntables < sizeof(fs->tables) / sizeof(fs->tables[0]))
        fs->tables[fs->ntables++] = table;
}

void util_flagset_free(util_flagset_t *fs)
{
    util_strv_clear(&fs->args);
}

/* Finds a flag by long name (len bytes of name) or, when len is 0, by short name. */
static const util_flag_t *flag_find(util_flagset_t *fs, const char *name, size_t len,
                                    char short_name, size_t *ret_table, size_t *ret_index)
{
    for (size_t t = 0; t < fs->ntables; t++) {
        for (size_t i = 0; fs->tables[t][i].name && i < MAX_FLAGS_PER_TABLE; i++) {
            const util_flag_t *f = &fs->tables[t][i];
            bool hit = len ? strlen(f->name) == len && !memcmp(f->name, name, len)
                           : (short_name && f->short_name == short_name);
            if (hit) {
                *ret_table = t;
                *ret_index = i;
                return f;
            }
        }
    }
    return NULL;
}

static int flag_set(const util_flag_t *f, const char *value, const char *source, util_error_t *err)
{
    switch (f->type) {
    case UTIL_FLAG_BOOL: {
        bool b;
        if (util_parse_bool(value, &b) < 0)
            return util_error_make(err, 0, "%sinvalid value \"%s\" for --%s: want true or false",
                                   source, value, f->name);
        *(bool *)f->target = b;
        return 0;
    }
    case UTIL_FLAG_INT: {
        long v;
        int r = util_parse_long(value, f->min, f->max, &v);
        if (r < 0)
            return util_error_make(err, 0,
                                   "%sinvalid value \"%s\" for --%s: want an integer in [%ld, %ld]",
                                   source, value, f->name, f->min, f->max);
        *(long *)f->target = v;
        return 0;
    }
    case UTIL_FLAG_CHOICE: {
        bool ok = false;
        for (const char *const *c = f->choices; c && *c && !ok; c++)
            ok = !strcmp(*c, value);
        if (!ok) {
            util_buf_t b = {0};
            for (const char *const *c = f->choices; c && *c; c++)
                util_buf_printf(&b, "%s%s", c == f->choices ? "" : ", ", *c);
            util_error_make(err, 0, "%sinvalid value \"%s\" for --%s: want one of %s", source,
                            value, f->name, b.data ? b.data : "");
            util_buf_free(&b);
            return -EINVAL;
        }
    }
        /* fallthrough */
    case UTIL_FLAG_STRING: {
        char **s = f->target;
        free(*s);
        *s = util_xstrdup(value);
        return 0;
    }
    case UTIL_FLAG_STRINGS:
        util_strv_push(f->target, value);
        return 0;
    }
    return util_error_make(err, 0, "bad flag table entry for --%s", f->name);
}

static void mark_cli(util_flagset_t *fs, size_t t, size_t i, const util_flag_t *f)
{
    /* A repeatable flag given on the command line replaces the config file's list, so the
     * first command-line occurrence starts from empty. */
    if (f->type == UTIL_FLAG_STRINGS && !fs->set_by_cli[t][i])
        util_strv_clear(f->target);
    fs->set_by_cli[t][i] = 1;
}

/* Handles one "--name[=value]" or "-x[value]" argument; may consume argv[*idx + 1]. */
static int parse_one(util_flagset_t *fs, int argc, char **argv, int *idx, util_error_t *err)
{
    const char *arg = argv[*idx];
    bool is_long = arg[1] == '-';
    const char *name = arg + (is_long ? 2 : 1);
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const char *value = eq ? eq + 1 : NULL;
    size_t t, i;
    const util_flag_t *f = NULL;
    if (is_long || len > 1 || eq)
        f = flag_find(fs, name, len, 0, &t, &i);
    if (!f && !is_long) { /* -v3 or -v 3 */
        f = flag_find(fs, NULL, 0, name[0], &t, &i);
        if (f && !eq && name[1])
            value = name + 1;
        else if (f && eq && len != 1)
            f = NULL;
    }
    if (!f)
        return util_error_make(err, 0, "unknown flag: %.*s", (int)(len + (size_t)(name - arg)),
                               arg);
    mark_cli(fs, t, i, f);
    if (f->type == UTIL_FLAG_BOOL && !value)
        return flag_set(f, "true", "", err);
    if (!value) {
        if (*idx + 1 >= argc)
            return util_error_make(err, 0, "flag needs an argument: --%s", f->name);
        value = argv[++*idx];
    }
    return flag_set(f, value, "", err);
}

int util_flagset_parse(util_flagset_t *fs, int argc, char **argv, bool stop_at_positional,
                       int *ret_next, util_error_t *err)
{
    int i = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            for (i++; i < argc && !stop_at_positional; i++)
                util_strv_push(&fs->args, argv[i]);
            break;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (stop_at_positional)
                break;
            util_strv_push(&fs->args, a);
            continue;
        }
        int r = parse_one(fs, argc, argv, &i, err);
        if (r < 0)
            return r;
    }
    if (ret_next)
        *ret_next = i;
    return 0;
}

int util_flagset_apply_config(util_flagset_t *fs, const char *key, const util_strv_t *values,
                              bool is_list, util_error_t *err)
{
    size_t t, i;
    const util_flag_t *f = flag_find(fs, key, strlen(key), 0, &t, &i);
    if (!f)
        return util_error_make(err, 0, "unknown key \"%s\" (not a flag of this command)", key);
    if (is_list && f->type != UTIL_FLAG_STRINGS)
        return util_error_make(err, 0, "key \"%s\" takes a single value, not a list", key);
    if (fs->set_by_cli[t][i])
        return 0; /* command-line flags win */
    if (f->type == UTIL_FLAG_STRINGS)
        util_strv_clear(f->target);
    for (size_t k = 0; k < values->n; k++) {
        char source[160];
        snprintf(source, sizeof(source), "key \"%s\": ", key);
        int r = flag_set(f, values->v[k], source, err);
        if (r < 0)
            return r;
    }
    return 0;
}

void util_flags_print_help(FILE *out, const util_flag_t *table)
{
    for (const util_flag_t *f = table; f && f->name; f++) {
        char left[64];
        const char *arg = f->type == UTIL_FLAG_BOOL ? "" : (f->arg_name ? f->arg_name : "VALUE");
        if (f->short_name)
            snprintf(left, sizeof(left), "-%c, --%s%s%s", f->short_name, f->name, *arg ? " " : "",
                     arg);
        else
            snprintf(left, sizeof(left), "    --%s%s%s", f->name, *arg ? " " : "", arg);
        fprintf(out, "  %-30s %s\n", left, f->help ? f->help : "");
    }
}

void util_flags_free_targets(const util_flag_t *table)
{
    for (const util_flag_t *f = table; f && f->name; f++) {
        if (f->type == UTIL_FLAG_STRING || f->type == UTIL_FLAG_CHOICE) {
            char **s = f->target;
            free(*s);
            *s = NULL;
        } else if (f->type == UTIL_FLAG_STRINGS) {
            util_strv_clear(f->target);
        }
    }
}
