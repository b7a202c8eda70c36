/* labels_fields: field selector parser and matcher (upstream fields.ParseSelector). */
#include "labels_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct labels_field_term {
    char *field;
    char *value; /* unescaped */
    bool negated;
} labels_field_term_t;

struct labels_fields {
    labels_field_term_t *terms;
    size_t n;
};

/* ---- parsing --------------------------------------------------------------------------------- */

/* splitTerms: cuts text at commas not escaped by a backslash. Returns malloc'd copies. */
static char **split_terms(const char *text, size_t *ret_n)
{
    size_t n = 1;
    for (const char *p = text; *p; p++) {
        if (*p == '\\' && p[1])
            p++;
        else if (*p == ',')
            n++;
    }
    char **terms = util_xcalloc(n, sizeof(char *));
    size_t i = 0;
    const char *start = text, *p = text;
    for (; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
        } else if (*p == ',') {
            terms[i++] = util_strdup_printf("%.*s", (int)(p - start), start);
            start = p + 1;
        }
    }
    terms[i++] = util_xstrdup(start);
    *ret_n = i;
    return terms;
}

/* Bytes of the character at s: 0 at the end, else its UTF-8 length (1 for stray bytes). */
static int escaped_char_len(const char *s)
{
    unsigned char c = (unsigned char)s[0];
    int want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1, len = c ? 1 : 0;
    while (len && len < want && ((unsigned char)s[len] & 0xc0) == 0x80)
        len++;
    return len;
}

/* UnescapeValue: "\\", "\," and "\=" are the only escapes; a bare ',' or '=' is an error. */
static int unescape_value(const char *s, char **ret, util_error_t *err)
{
    util_buf_t b = {0};
    util_buf_puts(&b, "");
    for (; *s; s++) {
        if (*s == '\\') {
            if (!s[1] || !strchr("\\,=", s[1])) {
                /* upstream prints the backslash and the whole (UTF-8) character after it */
                int len = escaped_char_len(s + 1);
                util_buf_free(&b);
                return util_error_make(err, EINVAL,
                                       "invalid field selector: invalid escape sequence: \\%.*s",
                                       len, s + 1);
            }
            s++;
        } else if (*s == ',' || *s == '=') {
            util_buf_free(&b);
            /* upstream formats the rune with %v: its code point in decimal */
            return util_error_make(err, EINVAL,
                                   "invalid field selector: unescaped character in value: %d", *s);
        }
        util_buf_append(&b, s, 1);
    }
    *ret = util_buf_steal(&b);
    return 0;
}

/* splitTerm: the first "!=", "==" or "=" (tried in that order at each position). */
static bool split_term(const char *term, size_t *ret_lhs, size_t *ret_op)
{
    for (size_t i = 0; term[i]; i++) {
        if ((term[i] == '!' || term[i] == '=') && term[i + 1] == '=') {
            *ret_lhs = i;
            *ret_op = 2;
            return true;
        }
        if (term[i] == '=') {
            *ret_lhs = i;
            *ret_op = 1;
            return true;
        }
    }
    return false;
}

static int parse_term(labels_fields_t *f, const char *selector, const char *term, util_error_t *err)
{
    size_t lhs, oplen;
    if (!split_term(term, &lhs, &oplen))
        return util_error_make(err, EINVAL, "invalid selector: '%s'; can't understand '%s'",
                               selector, term);
    char *value = NULL;
    int r = unescape_value(term + lhs + oplen, &value, err);
    if (r < 0)
        return r;
    if (lhs == 0 && !*value) { /* upstream's identity Transform turns ""="" into Everything */
        free(value);
        return 0;
    }
    if (f->n == LABELS_MAX_REQUIREMENTS) {
        free(value);
        return util_error_make(err, EINVAL, "field selector has more than %d requirements",
                               LABELS_MAX_REQUIREMENTS);
    }
    f->terms[f->n++] = (labels_field_term_t){
        .field = util_strdup_printf("%.*s", (int)lhs, term),
        .value = value,
        .negated = term[lhs] == '!',
    };
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int labels_fields_parse(const char *text, labels_fields_t **ret, util_error_t *err)
{
    if (!text)
        text = "";
    size_t len = strnlen(text, LABELS_MAX_SELECTOR_LEN + 1);
    if (len > LABELS_MAX_SELECTOR_LEN)
        return util_error_make(err, EINVAL, "field selector is longer than %d bytes",
                               LABELS_MAX_SELECTOR_LEN);
    labels_fields_t *f = util_xcalloc(1, sizeof(*f));
    if (!*text) {
        *ret = f;
        return 0;
    }
    size_t n;
    char **terms = split_terms(text, &n);
    qsort(terms, n, sizeof(char *), cmp_str); /* upstream sorts the terms' text */
    f->terms = util_xcalloc(n, sizeof(*f->terms));
    int r = 0;
    for (size_t i = 0; i < n && r >= 0; i++)
        if (*terms[i])
            r = parse_term(f, text, terms[i], err);
    for (size_t i = 0; i < n; i++)
        free(terms[i]);
    free(terms);
    if (r < 0) {
        labels_fields_free(f);
        return r;
    }
    *ret = f;
    return 0;
}

labels_fields_t *labels_fields_free(labels_fields_t *f)
{
    if (!f)
        return NULL;
    for (size_t i = 0; i < f->n; i++) {
        free(f->terms[i].field);
        free(f->terms[i].value);
    }
    free(f->terms);
    free(f);
    return NULL;
}

/* ---- matching and introspection -------------------------------------------------------------- */

bool labels_fields_matches(const labels_fields_t *f, const cJSON *obj, labels_field_getter get,
                           void *ud)
{
    for (size_t i = 0; f && i < f->n; i++) {
        const char *have = get ? get(obj, f->terms[i].field, ud) : NULL;
        bool equal = strcmp(have ? have : "", f->terms[i].value) == 0;
        if (equal == f->terms[i].negated)
            return false;
    }
    return true;
}

bool labels_fields_empty(const labels_fields_t *f)
{
    return !f || f->n == 0;
}

size_t labels_fields_count(const labels_fields_t *f)
{
    return f ? f->n : 0;
}

const char *labels_fields_field(const labels_fields_t *f, size_t i)
{
    return f && i < f->n ? f->terms[i].field : NULL;
}

const char *labels_fields_value(const labels_fields_t *f, size_t i)
{
    return f && i < f->n ? f->terms[i].value : NULL;
}

bool labels_fields_negated(const labels_fields_t *f, size_t i)
{
    return f && i < f->n && f->terms[i].negated;
}

const char *labels_fields_exact(const labels_fields_t *f, const char *field)
{
    for (size_t i = 0; f && field && i < f->n; i++)
        if (!f->terms[i].negated && strcmp(f->terms[i].field, field) == 0)
            return f->terms[i].value;
    return NULL;
}

int labels_fields_check_supported(const labels_fields_t *f, const char *const *supported,
                                  util_error_t *err)
{
    for (size_t i = 0; f && i < f->n; i++) {
        bool ok = false;
        for (size_t j = 0; supported && supported[j] && !ok; j++)
            ok = strcmp(supported[j], f->terms[i].field) == 0;
        if (!ok)
            return util_error_make(err, EINVAL, "field label not supported: %s", f->terms[i].field);
    }
    return 0;
}

/* EscapeValue: the inverse of unescape_value. */
static void escape_value(util_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == ',' || *s == '=')
            util_buf_puts(b, "\\");
        util_buf_append(b, s, 1);
    }
}

char *labels_fields_string(const labels_fields_t *f)
{
    util_buf_t b = {0};
    util_buf_puts(&b, "");
    for (size_t i = 0; f && i < f->n; i++) {
        util_buf_printf(&b, "%s%s%s", i ? "," : "", f->terms[i].field,
                        f->terms[i].negated ? "!=" : "=");
        escape_value(&b, f->terms[i].value);
    }
    return util_buf_steal(&b);
}
