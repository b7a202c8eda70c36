/* client_yaml: the YAML subset kubeconfigs use, parsed into a cJSON tree (untrusted input). */
#include "client/client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define YAML_MAX_LINES 100000
#define YAML_MAX_DEPTH 32

typedef struct yaml_line {
    int indent;
    char *text; /* points into the parser's copy; comment and trailing blanks removed */
    int lineno;
} yaml_line_t;

typedef struct yaml {
    yaml_line_t *lines;
    size_t n, i;
    util_error_t *err;
    int depth;
    unsigned flags; /* CLIENT_YAML_* */
} yaml_t;

/* Cuts a comment: '#' at the start or after a blank, outside quotes. */
static void strip_comment(char *s)
{
    char quote = 0;
    for (char *p = s; *p; p++) {
        if (quote) {
            if (*p == '\\' && quote == '"' && p[1])
                p++;
            else if (*p == quote)
                quote = 0;
        } else if (*p == '"' || *p == '\'') {
            quote = *p;
        } else if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

/* Splits the copy into non-empty lines with their indentation (spaces only; tabs refused). */
static int split_lines(yaml_t *y, char *copy)
{
    int lineno = 0;
    for (char *line = copy; line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        int indent = 0;
        while (line[indent] == ' ')
            indent++;
        if (line[indent] == '\t')
            return util_error_make(y->err, EINVAL, "line %d: tab in indentation", lineno);
        strip_comment(line + indent);
        bool marker = !strcmp(line + indent, "---") || util_str_has_prefix(line + indent, "--- ");
        if (marker && y->n > 0 && (y->flags & CLIENT_YAML_FIRST_DOC))
            break; /* the second document starts: only the first is read */
        if (line[indent] && !marker && strcmp(line + indent, "...") != 0) {
            if (y->n >= YAML_MAX_LINES)
                return util_error_make(y->err, E2BIG, "more than %d lines", YAML_MAX_LINES);
            y->lines = util_xrealloc(y->lines, (y->n + 1) * sizeof(*y->lines));
            y->lines[y->n++] = (yaml_line_t){indent, line + indent, lineno};
        }
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

/* YAML 1.2's core schema for a plain scalar: null, booleans, decimal integers and floats;
 * anything else (and every quoted scalar) is a string, as sigs.k8s.io/yaml decodes it. */
static cJSON *typed_plain(const char *s)
{
    if (!strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
        return cJSON_CreateNull();
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return cJSON_CreateTrue();
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return cJSON_CreateFalse();
    const char *p = s + (*s == '-' || *s == '+');
    bool digits = false, dot = false, exp = false;
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits = true;
        else if (*p == '.' && !dot && !exp)
            dot = true;
        else if ((*p == 'e' || *p == 'E') && digits && !exp &&
                 (p[1] == '-' || p[1] == '+' || (p[1] >= '0' && p[1] <= '9')))
            exp = true, p += p[1] == '-' || p[1] == '+';
        else
            return cJSON_CreateString(s);
    }
    if (!digits)
        return cJSON_CreateString(s);
    return cJSON_CreateNumber(strtod(s, NULL));
}

/* A scalar: plain, 'single' ('' escapes a quote) or "double" (\" \\ \n \t escapes). */
static int scalar(yaml_t *y, const char *s, int lineno, cJSON **ret)
{
    size_t n = strlen(s);
    if (n && (s[0] == '|' || s[0] == '>' || s[0] == '&' || s[0] == '*' || s[0] == '!'))
        return util_error_make(y->err, EINVAL, "line %d: unsupported YAML construct", lineno);
    if (!strcmp(s, "{}") || !strcmp(s, "[]")) {
        *ret = s[0] == '{' ? cJSON_CreateObject() : cJSON_CreateArray();
        return 0;
    }
    if (s[0] == '{' || s[0] == '[') { /* JSON-compatible flow collections */
        cJSON *j = cJSON_ParseWithLength(s, n);
        if (!j)
            return util_error_make(y->err, EINVAL, "line %d: unsupported flow collection", lineno);
        *ret = j;
        return 0;
    }
    if (s[0] != '"' && s[0] != '\'') {
        *ret = (y->flags & CLIENT_YAML_TYPED) ? typed_plain(s) : cJSON_CreateString(s);
        return 0;
    }
    char q = s[0];
    util_buf_t b = {0};
    util_buf_reserve(&b, n);
    size_t i = 1;
    for (; i < n; i++) {
        char ch = s[i];
        if (ch == q && !(q == '\'' && i + 1 < n && s[i + 1] == '\''))
            break;
        if (q == '"' && ch == '\\' && i + 1 < n) {
            char e = s[++i];
            ch = e == 'n' ? '\n' : e == 't' ? '\t' : e == '0' ? '\0' : e;
            if (ch == '\0') {
                util_buf_free(&b);
                return util_error_make(y->err, EINVAL, "line %d: NUL in a string", lineno);
            }
        } else if (q == '\'' && ch == '\'' && i + 1 < n && s[i + 1] == '\'') {
            i++;
        }
        util_buf_append(&b, &ch, 1);
    }
    if (i >= n || i + 1 != n) {
        util_buf_free(&b);
        return util_error_make(y->err, EINVAL, "line %d: unterminated or trailing quote", lineno);
    }
    *ret = cJSON_CreateString(b.len ? b.data : ""); /* reserve alone leaves no NUL */
    util_buf_free(&b);
    return 0;
}

/* Where a mapping key ends: the ':' followed by a blank or the end, outside quotes. */
static char *key_end(char *s)
{
    char quote = 0;
    for (char *p = s; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (p == s && (*p == '"' || *p == '\'')) {
            quote = *p;
        } else if (*p == ':' && (p[1] == '\0' || p[1] == ' ')) {
            return p;
        }
    }
    return NULL;
}

static int node(yaml_t *y, int indent, cJSON **ret);

static bool is_item(const char *text)
{
    return text[0] == '-' && (text[1] == '\0' || text[1] == ' ');
}

static int sequence(yaml_t *y, int indent, cJSON **ret)
{
    cJSON *arr = cJSON_CreateArray();
    while (y->i < y->n && y->lines[y->i].indent == indent && is_item(y->lines[y->i].text)) {
        yaml_line_t *l = &y->lines[y->i];
        int off = 1;
        while (l->text[off] == ' ')
            off++;
        cJSON *item = NULL;
        int r;
        if (!l->text[off]) { /* "-" alone: the item is the block below */
            y->i++;
            r = y->i < y->n && y->lines[y->i].indent > indent
                    ? node(y, y->lines[y->i].indent, &item)
                    : 0;
        } else { /* "- x": the item starts on this line, as if indented to x */
            l->indent += off;
            l->text += off;
            r = node(y, l->indent, &item);
        }
        if (r < 0) {
            cJSON_Delete(arr);
            return r;
        }
        cJSON_AddItemToArray(arr, item ? item : cJSON_CreateNull());
    }
    *ret = arr;
    return 0;
}

static int mapping_value(yaml_t *y, int indent, const char *value, int lineno, cJSON **ret)
{
    if (*value)
        return scalar(y, value, lineno, ret);
    /* "key:" then a block more indented, or a sequence at the same indentation */
    if (y->i < y->n && (y->lines[y->i].indent > indent ||
                        (y->lines[y->i].indent == indent && is_item(y->lines[y->i].text))))
        return node(y, y->lines[y->i].indent, ret);
    *ret = cJSON_CreateNull();
    return 0;
}

static int mapping(yaml_t *y, int indent, cJSON **ret)
{
    cJSON *obj = cJSON_CreateObject();
    while (y->i < y->n && y->lines[y->i].indent == indent && !is_item(y->lines[y->i].text)) {
        yaml_line_t *l = &y->lines[y->i++];
        char *colon = key_end(l->text);
        if (!colon) {
            cJSON_Delete(obj);
            return util_error_make(y->err, EINVAL, "line %d: expected `key: value`", l->lineno);
        }
        *colon = '\0';
        char *value = colon + 1;
        while (*value == ' ')
            value++;
        cJSON *key = NULL, *val = NULL;
        int r = scalar(y, l->text, l->lineno, &key);
        if (r == 0 && !cJSON_IsString(key))
            r = util_error_make(y->err, EINVAL, "line %d: keys must be scalars", l->lineno);
        if (r == 0 && cJSON_GetObjectItemCaseSensitive(obj, key->valuestring))
            r = util_error_make(y->err, EINVAL, "line %d: duplicate key `%s`", l->lineno,
                                key->valuestring);
        if (r == 0)
            r = mapping_value(y, indent, value, l->lineno, &val);
        if (r < 0) {
            cJSON_Delete(key);
            cJSON_Delete(obj);
            return r;
        }
        cJSON_AddItemToObject(obj, key->valuestring, val);
        cJSON_Delete(key);
    }
    *ret = obj;
    return 0;
}

/* The node starting at the current line, which has the given indentation. */
static int node(yaml_t *y, int indent, cJSON **ret)
{
    if (++y->depth > YAML_MAX_DEPTH)
        return util_error_make(y->err, EINVAL, "line %d: nested deeper than %d levels",
                               y->lines[y->i].lineno, YAML_MAX_DEPTH);
    yaml_line_t *l = &y->lines[y->i];
    int r;
    if (is_item(l->text)) {
        r = sequence(y, indent, ret);
    } else if (key_end(l->text)) {
        r = mapping(y, indent, ret);
    } else {
        y->i++;
        r = scalar(y, l->text, l->lineno, ret);
    }
    y->depth--;
    return r;
}

int client_yaml_parse(const char *text, size_t len, cJSON **ret, util_error_t *err)
{
    return client_yaml_parse_opts(text, len, 0, ret, err);
}

int client_yaml_parse_opts(const char *text, size_t len, unsigned flags, cJSON **ret,
                           util_error_t *err)
{
    if (len > CLIENT_KUBECONFIG_MAX)
        return util_error_make(err, EFBIG, "larger than %u bytes", CLIENT_KUBECONFIG_MAX);
    if (memchr(text, '\0', len))
        return util_error_make(err, EINVAL, "NUL byte in the text");
    size_t skip = 0;
    while (skip < len &&
           (text[skip] == ' ' || text[skip] == '\n' || text[skip] == '\r' || text[skip] == '\t'))
        skip++;
    if (skip < len && text[skip] == '{') {
        cJSON *j = cJSON_ParseWithLength(text, len);
        if (!j || !cJSON_IsObject(j)) {
            cJSON_Delete(j);
            return util_error_make(err, EINVAL, "invalid JSON");
        }
        *ret = j;
        return 0;
    }
    char *copy = util_xmalloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    yaml_t y = {.err = err, .flags = flags};
    cJSON *root = NULL;
    int r = split_lines(&y, copy);
    if (r == 0 && y.n == 0)
        root = cJSON_CreateObject();
    else if (r == 0) {
        r = node(&y, y.lines[0].indent, &root);
        if (r == 0 && y.i < y.n)
            r = util_error_make(err, EINVAL, "line %d: unexpected indentation",
                                y.lines[y.i].lineno);
    }
    free(y.lines);
    free(copy);
    if (r < 0) {
        cJSON_Delete(root);
        return r;
    }
    *ret = root;
    return 0;
}
