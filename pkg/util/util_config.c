/* util_config: the flat k3s-style YAML config file whose keys map 1:1 to flags. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_BYTES (1u << 20)
#define CONFIG_MAX_KEYS  4096

/* Parser state for one document. Only the subset k3s documents is accepted: top-level
 * `key: scalar`, `key: [a, b]` and `key:` followed by `- item` lines. Anything richer is
 * refused with the line number rather than guessed at. */
typedef struct config_parser {
    util_config_cb cb;
    void *userdata;
    int line;
    size_t nkeys;
    util_strv_t seen; /* keys already defined (duplicates are an error) */
    char *list_key;   /* key awaiting "- item" lines */
    int list_line;
    util_strv_t items; /* items of list_key */
} config_parser_t;

static int perr(config_parser_t *p, util_error_t *err, const char *fmt, const char *arg)
{
    char msg[256];
    snprintf(msg, sizeof(msg), fmt, arg);
    return util_error_make(err, 0, "line %d: %s", p->line, msg);
}

/* Strips a comment (a '#' at the start or after whitespace, outside quotes) and trailing
 * whitespace, in place. */
static void strip_comment(char *s)
{
    char quote = 0;
    for (char *c = s; *c; c++) {
        if (quote) {
            if (*c == '\\' && quote == '"' && c[1])
                c++;
            else if (*c == quote)
                quote = 0;
        } else if (*c == '"' || *c == '\'') {
            quote = *c;
        } else if (*c == '#' && (c == s || isspace((unsigned char)c[-1]))) {
            *c = '\0';
            break;
        }
    }
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
}

/* Decodes one scalar (plain, 'single' or "double" quoted) starting at *pp, stopping at end
 * or, inside a flow list, at ',' or ']'. Advances *pp. */
static int parse_scalar(config_parser_t *p, const char **pp, bool in_flow, util_buf_t *out,
                        util_error_t *err)
{
    const char *s = *pp;
    util_buf_reset(out);
    util_buf_reserve(out, 0);
    if (*s == '"' || *s == '\'') {
        char q = *s++;
        for (;; s++) {
            if (!*s)
                return perr(p, err, "unterminated %s-quoted string",
                            q == '"' ? "double" : "single");
            if (*s == q && q == '\'' && s[1] == '\'') {
                util_buf_append(out, "'", 1);
                s++;
            } else if (*s == q) {
                s++;
                break;
            } else if (*s == '\\' && q == '"') {
                char c = *++s;
                const char *map = c == 'n'    ? "\n"
                                  : c == 't'  ? "\t"
                                  : c == '"'  ? "\""
                                  : c == '\\' ? "\\"
                                              : NULL;
                if (!map)
                    return perr(p, err, "unsupported escape \\%.1s in string", s);
                util_buf_append(out, map, 1);
            } else {
                util_buf_append(out, s, 1);
            }
        }
        while (*s == ' ')
            s++;
        if (*s && !(in_flow && (*s == ',' || *s == ']')))
            return perr(p, err, "unexpected text after quoted string: %s", s);
    } else {
        const char *start = s;
        while (*s && !(in_flow && (*s == ',' || *s == ']' || *s == '[')))
            s++;
        const char *end = s;
        while (end > start && isspace((unsigned char)end[-1]))
            end--;
        if (end > start && (*start == '{' || *start == '|' || *start == '>' || *start == '&' ||
                            *start == '*' || *start == '!'))
            return perr(p, err,
                        "unsupported YAML construct \"%.1s\" (only flat keys with "
                        "scalars and lists are allowed)",
                        start);
        util_buf_append(out, start, (size_t)(end - start));
    }
    *pp = s;
    return 0;
}

static int emit(config_parser_t *p, const char *key, util_strv_t *values, bool is_list, int line,
                util_error_t *err)
{
    for (size_t i = 0; i < p->seen.n; i++)
        if (!strcmp(p->seen.v[i], key))
            return util_error_make(err, 0, "line %d: duplicate key \"%s\"", line, key);
    if (++p->nkeys > CONFIG_MAX_KEYS)
        return util_error_make(err, 0, "line %d: more than %d keys", line, CONFIG_MAX_KEYS);
    util_strv_push(&p->seen, key);
    int r = p->cb(p->userdata, key, values, is_list, line, err);
    if (r < 0)
        util_error_wrap(err, "line %d", line);
    return r;
}

static int flush_list(config_parser_t *p, util_error_t *err)
{
    if (!p->list_key)
        return 0;
    int r;
    if (p->items.n == 0)
        r = util_error_make(err, 0, "line %d: key \"%s\" has no value", p->list_line, p->list_key);
    else
        r = emit(p, p->list_key, &p->items, true, p->list_line, err);
    free(p->list_key);
    p->list_key = NULL;
    util_strv_clear(&p->items);
    return r;
}

static int parse_flow_list(config_parser_t *p, const char *s, util_strv_t *out, util_error_t *err)
{
    util_buf_t item = {0};
    int r = 0;
    s++; /* '[' */
    while (*s == ' ')
        s++;
    if (*s == ']' && !s[1])
        goto done;
    for (;;) {
        while (*s == ' ')
            s++;
        if ((r = parse_scalar(p, &s, true, &item, err)) < 0)
            goto done;
        util_strv_push(out, item.data);
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s == ']' && !s[1])
            break;
        r = perr(p, err, "malformed flow list near \"%s\"", *s ? s : "end of line");
        goto done;
    }
done:
    util_buf_free(&item);
    return r;
}

static int parse_key_line(config_parser_t *p, char *s, util_error_t *err)
{
    char *colon = strstr(s, ": ");
    if (!colon && util_str_has_suffix(s, ":"))
        colon = s + strlen(s) - 1;
    if (!colon)
        return perr(p, err, "expected \"key: value\", got \"%s\"", s);
    *colon = '\0';
    const char *key = s;
    for (const char *c = key; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.')
            return perr(p, err, "invalid key \"%s\"", key);
    if (!*key)
        return perr(p, err, "empty key%s", "");
    const char *v = colon + 1;
    while (*v == ' ')
        v++;
    if (!*v) { /* a block list follows */
        p->list_key = util_xstrdup(key);
        p->list_line = p->line;
        return 0;
    }
    util_strv_t values = {0};
    int r;
    if (*v == '[') {
        r = parse_flow_list(p, v, &values, err);
        if (r == 0)
            r = emit(p, key, &values, true, p->line, err);
    } else {
        util_buf_t b = {0};
        r = parse_scalar(p, &v, false, &b, err);
        if (r == 0) {
            util_strv_push(&values, b.data);
            r = emit(p, key, &values, false, p->line, err);
        }
        util_buf_free(&b);
    }
    util_strv_clear(&values);
    return r;
}

static int parse_line(config_parser_t *p, char *s, util_error_t *err)
{
    if (strchr(s, '\t') && strspn(s, " \t") > strspn(s, " "))
        return perr(p, err, "tab used for indentation%s", "");
    strip_comment(s);
    size_t indent = strspn(s, " ");
    char *body = s + indent;
    if (!*body)
        return 0;
    if (p->line == 1 && !strcmp(body, "---"))
        return 0;
    if (body[0] == '-' && (body[1] == ' ' || body[1] == '\0')) {
        if (!p->list_key)
            return perr(p, err, "list item without a key%s", "");
        const char *v = body + 1;
        while (*v == ' ')
            v++;
        util_buf_t b = {0};
        int r = parse_scalar(p, &v, false, &b, err);
        if (r == 0)
            util_strv_push(&p->items, b.data);
        util_buf_free(&b);
        return r;
    }
    if (indent > 0)
        return perr(p, err, "nested mappings are not supported (\"%s\")", body);
    int r = flush_list(p, err);
    if (r < 0)
        return r;
    return parse_key_line(p, body, err);
}

int util_config_parse(const char *text, size_t len, util_config_cb cb, void *userdata,
                      util_error_t *err)
{
    if (len > CONFIG_MAX_BYTES)
        return util_error_make(err, EFBIG, "config larger than %u bytes", CONFIG_MAX_BYTES);
    if (memchr(text, '\0', len))
        return util_error_make(err, 0, "config contains a NUL byte");
    config_parser_t p = {.cb = cb, .userdata = userdata};
    int r = 0;
    const char *s = text, *end = text + len;
    while (s < end && r == 0) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t l = nl ? (size_t)(nl - s) : (size_t)(end - s);
        char *line = strndup(s, l);
        if (!line)
            return util_error_make(err, ENOMEM, "reading config");
        if (l > 0 && line[l - 1] == '\r')
            line[l - 1] = '\0';
        p.line++;
        r = parse_line(&p, line, err);
        free(line);
        s += l + (nl ? 1 : 0);
    }
    if (r == 0)
        r = flush_list(&p, err);
    free(p.list_key);
    util_strv_clear(&p.items);
    util_strv_clear(&p.seen);
    return r;
}

static int apply_to_flagset(void *userdata, const char *key, const util_strv_t *values,
                            bool is_list, int line, util_error_t *err)
{
    (void)line;
    return util_flagset_apply_config(userdata, key, values, is_list, err);
}

int util_config_load(util_flagset_t *fs, const char *path, util_error_t *err)
{
    cleanup_free char *text = NULL;
    size_t len = 0;
    int r = util_read_file(path, CONFIG_MAX_BYTES, &text, &len, err);
    if (r < 0)
        return r;
    r = util_config_parse(text, len, apply_to_flagset, fs, err);
    if (r < 0)
        util_error_wrap(err, "config %s", path);
    return r;
}
