/* labels_selector: label selector lexer, parser, matcher and printer (upstream labels.Parse). */
#include "labels_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct labels_requirement {
    char *key;
    labels_op_t op;
    char **values; /* sorted, no duplicates */
    size_t nvalues;
    size_t order; /* position in the text: makes the sort by key stable */
} labels_requirement_t;

struct labels_selector {
    labels_requirement_t *reqs;
    size_t n;
};

/* ---- lexer ----------------------------------------------------------------------------------- */

/* Upstream's tokens. "in" and "notin" are keywords only where an operator is expected. */
typedef enum {
    TOK_EOS,
    TOK_CLOSE_PAR,
    TOK_COMMA,
    TOK_NOT,
    TOK_DOUBLE_EQUALS,
    TOK_EQUALS,
    TOK_GT,
    TOK_ID,
    TOK_IN,
    TOK_LT,
    TOK_NOT_EQUALS,
    TOK_NOT_IN,
    TOK_OPEN_PAR,
} tok_t;

typedef struct item {
    tok_t tok;
    const char *lit; /* into the selector text; not NUL-terminated */
    int len;
} item_t;

typedef struct parser {
    item_t *items;
    size_t nitems, cap;
    size_t pos;
} parser_t;

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_special(char c)
{
    return c && strchr("=!(),><", c) != NULL;
}

/* A run of special characters lexes as its longest token: "!=" and "==" are the only
 * two-character ones, every single special character is a token. */
static tok_t lex_special(const char *s, int *ret_len)
{
    *ret_len = 2;
    if (s[0] == '!' && s[1] == '=')
        return TOK_NOT_EQUALS;
    if (s[0] == '=' && s[1] == '=')
        return TOK_DOUBLE_EQUALS;
    *ret_len = 1;
    switch (s[0]) {
    case '=':
        return TOK_EQUALS;
    case '!':
        return TOK_NOT;
    case '(':
        return TOK_OPEN_PAR;
    case ')':
        return TOK_CLOSE_PAR;
    case ',':
        return TOK_COMMA;
    case '>':
        return TOK_GT;
    default:
        return TOK_LT;
    }
}

static tok_t lex_word(const char *s, int *ret_len)
{
    int n = 0;
    while (s[n] && !is_special(s[n]) && !is_space(s[n]))
        n++;
    *ret_len = n;
    if (n == 2 && memcmp(s, "in", 2) == 0)
        return TOK_IN;
    if (n == 5 && memcmp(s, "notin", 5) == 0)
        return TOK_NOT_IN;
    return TOK_ID;
}

static void push_item(parser_t *p, tok_t tok, const char *lit, int len)
{
    if (p->nitems == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 16;
        p->items = util_xrealloc(p->items, p->cap * sizeof(*p->items));
    }
    p->items[p->nitems++] = (item_t){tok, lit, len};
}

/* Scans the whole text up front (the parser looks one token ahead). */
static void scan(parser_t *p, const char *s)
{
    for (;;) {
        while (is_space(*s))
            s++;
        if (!*s) {
            push_item(p, TOK_EOS, s, 0);
            return;
        }
        int len;
        tok_t tok = is_special(*s) ? lex_special(s, &len) : lex_word(s, &len);
        push_item(p, tok, s, len);
        s += len;
    }
}

/* ---- parser ---------------------------------------------------------------------------------- */

/* Where values are expected, "in" and "notin" are plain identifiers ("x in (in,notin)"). */
static item_t lookahead(const parser_t *p, bool values)
{
    item_t it = p->items[p->pos];
    if (values && (it.tok == TOK_IN || it.tok == TOK_NOT_IN))
        it.tok = TOK_ID;
    return it;
}

static item_t consume(parser_t *p, bool values)
{
    item_t it = lookahead(p, values);
    if (it.tok != TOK_EOS) /* EOS is sticky: never step past the end */
        p->pos++;
    return it;
}

static int found_error(util_error_t *err, item_t it, const char *expected)
{
    return util_error_make(err, EINVAL, "found '%.*s', expected: %s", it.len, it.lit, expected);
}

/* A growable vector of owned strings (util_strv_t grows one slot at a time; a 64 KiB
 * "x in (a,a,...)" has 32k values). */
typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec_t;

static void strv_push_n(strvec_t *v, const char *s, int len)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 4;
        v->v = util_xrealloc(v->v, v->cap * sizeof(char *));
    }
    v->v[v->n++] = util_strdup_printf("%.*s", len, s);
}

static void strv_push(strvec_t *v, const char *s)
{
    strv_push_n(v, s, (int)strlen(s));
}

static void strv_clear(strvec_t *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    *v = (strvec_t){0};
}

/* "(a,b,c)": values may be empty ("(,a)", "(a,)", "()" all hold ""). */
static int parse_value_set(parser_t *p, strvec_t *values, util_error_t *err)
{
    item_t it = consume(p, true);
    if (it.tok != TOK_OPEN_PAR)
        return util_error_make(err, EINVAL, "found '%.*s' expected: '('", it.len, it.lit);
    it = lookahead(p, true);
    if (it.tok == TOK_CLOSE_PAR) {
        consume(p, true);
        strv_push(values, "");
        return 0;
    }
    if (it.tok != TOK_ID && it.tok != TOK_COMMA)
        return found_error(err, it, "',', ')' or identifier");
    for (;;) {
        it = consume(p, true);
        if (it.tok == TOK_ID) {
            strv_push_n(values, it.lit, it.len);
            item_t next = lookahead(p, true);
            if (next.tok == TOK_CLOSE_PAR)
                break;
            if (next.tok != TOK_COMMA)
                return found_error(err, next, "',' or ')'");
        } else if (it.tok == TOK_COMMA) {
            tok_t next = lookahead(p, true).tok;
            /* a comma with nothing before or after it adds the empty value */
            if (values->n == 0 || next == TOK_CLOSE_PAR || next == TOK_COMMA)
                strv_push(values, "");
            if (next == TOK_CLOSE_PAR)
                break;
        } else {
            return found_error(err, it, "',', or identifier");
        }
    }
    consume(p, true); /* the ')' seen by lookahead */
    return 0;
}

/* The value after "=", "==", "!=", ">", "<"; nothing before ',' or the end is "". */
static int parse_exact_value(parser_t *p, strvec_t *values, util_error_t *err)
{
    item_t it = lookahead(p, true);
    if (it.tok == TOK_EOS || it.tok == TOK_COMMA) {
        strv_push(values, "");
        return 0;
    }
    it = consume(p, true);
    if (it.tok != TOK_ID)
        return found_error(err, it, "identifier");
    strv_push_n(values, it.lit, it.len);
    return 0;
}

static int parse_operator(parser_t *p, labels_op_t *ret, util_error_t *err)
{
    item_t it = consume(p, false);
    switch (it.tok) {
    case TOK_IN:
        *ret = LABELS_OP_IN;
        return 0;
    case TOK_NOT_IN:
        *ret = LABELS_OP_NOT_IN;
        return 0;
    case TOK_EQUALS:
        *ret = LABELS_OP_EQUALS;
        return 0;
    case TOK_DOUBLE_EQUALS:
        *ret = LABELS_OP_DOUBLE_EQUALS;
        return 0;
    case TOK_NOT_EQUALS:
        *ret = LABELS_OP_NOT_EQUALS;
        return 0;
    case TOK_GT:
        *ret = LABELS_OP_GREATER_THAN;
        return 0;
    case TOK_LT:
        *ret = LABELS_OP_LESS_THAN;
        return 0;
    default:
        return found_error(err, it, "in, notin, =, ==, !=, gt, lt");
    }
}

/* strconv.ParseInt(s, 10, 64): optional sign, decimal digits, in range. */
static bool parse_int64(const char *s, int64_t *ret)
{
    bool neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    if (!*s)
        return false;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *ret = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and deduplicates values in place (upstream keeps them in a sets.String). */
static void sort_unique(strvec_t *v)
{
    if (v->n < 2)
        return;
    qsort(v->v, v->n, sizeof(char *), cmp_str);
    size_t out = 1;
    for (size_t i = 1; i < v->n; i++) {
        if (strcmp(v->v[i], v->v[out - 1]) == 0)
            free(v->v[i]);
        else
            v->v[out++] = v->v[i];
    }
    v->n = out;
}

/* One field error of NewRequirement's aggregate; identical messages are reported once. */
static void add_field_error(strvec_t *errs, const char *path, const char *bad, const char *detail)
{
    util_buf_t b = {0};
    util_buf_printf(&b, "%s: Invalid value: ", path);
    labels__quote(&b, bad);
    util_buf_printf(&b, ": %s", detail);
    for (size_t i = 0; i < errs->n; i++)
        if (strcmp(errs->v[i], b.data) == 0) {
            util_buf_free(&b);
            return;
        }
    strv_push(errs, b.data);
    util_buf_free(&b);
}

/* NewRequirement's value checks (the key is checked while parsing). Messages as upstream's
 * aggregate: one error alone, several as "[e1, e2]". */
static int check_values(const char *key, labels_op_t op, const strvec_t *values, util_error_t *err)
{
    strvec_t errs = {0};
    for (size_t i = 0; i < values->n; i++) {
        int64_t ignored;
        if ((op == LABELS_OP_GREATER_THAN || op == LABELS_OP_LESS_THAN) &&
            !parse_int64(values->v[i], &ignored)) {
            cleanup_free char *path = util_strdup_printf("values[%zu]", i);
            add_field_error(&errs, path, values->v[i],
                            "for 'Gt', 'Lt' operators, the value must be an integer");
        }
    }
    for (size_t i = 0; i < values->n; i++) {
        cleanup_free char *why = labels_value_problems(values->v[i]);
        if (why) {
            cleanup_free char *path = util_strdup_printf("values[%zu][%s]", i, key);
            add_field_error(&errs, path, values->v[i], why);
        }
    }
    int r = 0;
    if (errs.n == 1) {
        r = util_error_make(err, EINVAL, "%s", errs.v[0]);
    } else if (errs.n > 1) {
        util_buf_t b = {0};
        for (size_t i = 0; i < errs.n; i++)
            util_buf_printf(&b, "%s%s", i ? ", " : "[", errs.v[i]);
        r = util_error_make(err, EINVAL, "%s]", b.data);
        util_buf_free(&b);
    }
    strv_clear(&errs);
    return r;
}

/* [!] KEY, with the operator inferred as exists/does-not-exist when ',' or the end follows. */
static int parse_key(parser_t *p, labels_requirement_t *req, bool *ret_unary, util_error_t *err)
{
    item_t it = consume(p, true);
    bool negated = it.tok == TOK_NOT;
    if (negated)
        it = consume(p, true);
    if (it.tok != TOK_ID)
        return found_error(err, it, "identifier");
    req->key = util_strdup_printf("%.*s", it.len, it.lit);
    cleanup_free char *why = labels_key_problems(req->key);
    if (why) {
        util_buf_t b = {0};
        labels__quote(&b, req->key);
        int r = util_error_make(err, EINVAL, "<nil>: Invalid value: %s: %s", b.data, why);
        util_buf_free(&b);
        return r;
    }
    tok_t next = lookahead(p, true).tok;
    /* upstream: "!key" is unary even when an operator follows ("!x=a" fails afterwards) */
    *ret_unary = negated || next == TOK_EOS || next == TOK_COMMA;
    req->op = negated ? LABELS_OP_DOES_NOT_EXIST : LABELS_OP_EXISTS;
    return 0;
}

static int parse_requirement(parser_t *p, labels_requirement_t *req, util_error_t *err)
{
    bool unary = false;
    int r = parse_key(p, req, &unary, err);
    if (r < 0 || unary)
        return r;
    r = parse_operator(p, &req->op, err);
    if (r < 0)
        return r;
    strvec_t values = {0};
    if (req->op == LABELS_OP_IN || req->op == LABELS_OP_NOT_IN)
        r = parse_value_set(p, &values, err);
    else
        r = parse_exact_value(p, &values, err);
    if (r >= 0) {
        sort_unique(&values);
        r = check_values(req->key, req->op, &values, err);
    }
    if (r < 0) {
        strv_clear(&values);
        return r;
    }
    req->values = values.v;
    req->nvalues = values.n;
    return 0;
}

static labels_requirement_t *add_requirement(labels_selector_t *s, size_t *cap)
{
    if (s->n == *cap) {
        *cap = *cap ? 2 * *cap : 4;
        s->reqs = util_xrealloc(s->reqs, *cap * sizeof(*s->reqs));
    }
    labels_requirement_t *req = &s->reqs[s->n];
    *req = (labels_requirement_t){.order = s->n};
    s->n++;
    return req;
}

/* selector ::= requirement ("," requirement)* | "" */
static int parse_selector(parser_t *p, labels_selector_t *s, util_error_t *err)
{
    size_t cap = 0;
    for (;;) {
        item_t it = lookahead(p, true);
        if (it.tok == TOK_EOS)
            return 0;
        if (it.tok != TOK_ID && it.tok != TOK_NOT)
            return found_error(err, it, "!, identifier, or 'end of string'");
        if (s->n == LABELS_MAX_REQUIREMENTS)
            return util_error_make(err, EINVAL, "label selector has more than %d requirements",
                                   LABELS_MAX_REQUIREMENTS);
        int r = parse_requirement(p, add_requirement(s, &cap), err);
        if (r < 0)
            return util_error_wrap(err, "unable to parse requirement");
        it = consume(p, true);
        if (it.tok == TOK_EOS)
            return 0;
        if (it.tok != TOK_COMMA)
            return found_error(err, it, "',' or 'end of string'");
        it = lookahead(p, true);
        if (it.tok != TOK_ID && it.tok != TOK_NOT)
            return found_error(err, it, "identifier after ','");
    }
}

static int cmp_requirement(const void *a, const void *b)
{
    const labels_requirement_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

int labels_selector_parse(const char *text, labels_selector_t **ret, util_error_t *err)
{
    if (!text)
        text = "";
    size_t len = strnlen(text, LABELS_MAX_SELECTOR_LEN + 1);
    if (len > LABELS_MAX_SELECTOR_LEN)
        return util_error_make(err, EINVAL, "label selector is longer than %d bytes",
                               LABELS_MAX_SELECTOR_LEN);
    parser_t p = {0};
    scan(&p, text);
    labels_selector_t *s = util_xcalloc(1, sizeof(*s));
    int r = parse_selector(&p, s, err);
    free(p.items);
    if (r < 0) {
        labels_selector_free(s);
        return r;
    }
    if (s->n > 1) /* sorted by key, as upstream, for a deterministic String() */
        qsort(s->reqs, s->n, sizeof(*s->reqs), cmp_requirement);
    *ret = s;
    return 0;
}

labels_selector_t *labels_selector_free(labels_selector_t *s)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < s->n; i++) {
        free(s->reqs[i].key);
        for (size_t j = 0; j < s->reqs[i].nvalues; j++)
            free(s->reqs[i].values[j]);
        free(s->reqs[i].values);
    }
    free(s->reqs);
    free(s);
    return NULL;
}

/* ---- matching -------------------------------------------------------------------------------- */

static bool has_value(const labels_requirement_t *r, const char *v)
{
    return v && bsearch(&v, r->values, r->nvalues, sizeof(char *), cmp_str) != NULL;
}

static bool requirement_matches(const labels_requirement_t *r, const cJSON *labels)
{
    const cJSON *item =
        cJSON_IsObject(labels) ? cJSON_GetObjectItemCaseSensitive(labels, r->key) : NULL;
    const char *v = cJSON_IsString(item) ? item->valuestring : NULL;
    int64_t have, want;
    switch (r->op) {
    case LABELS_OP_IN:
    case LABELS_OP_EQUALS:
    case LABELS_OP_DOUBLE_EQUALS:
        return item && has_value(r, v);
    case LABELS_OP_NOT_IN:
    case LABELS_OP_NOT_EQUALS:
        return !item || !has_value(r, v);
    case LABELS_OP_EXISTS:
        return item != NULL;
    case LABELS_OP_DOES_NOT_EXIST:
        return item == NULL;
    case LABELS_OP_GREATER_THAN:
    case LABELS_OP_LESS_THAN:
        if (!v || r->nvalues != 1 || !parse_int64(v, &have) || !parse_int64(r->values[0], &want))
            return false;
        return r->op == LABELS_OP_GREATER_THAN ? have > want : have < want;
    }
    return false;
}

bool labels_selector_matches(const labels_selector_t *s, const cJSON *labels)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (!requirement_matches(&s->reqs[i], labels))
            return false;
    return true;
}

bool labels_selector_matches_object(const labels_selector_t *s, const cJSON *obj)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    return labels_selector_matches(s, cJSON_GetObjectItemCaseSensitive(meta, "labels"));
}

bool labels_selector_empty(const labels_selector_t *s)
{
    return !s || s->n == 0;
}

/* ---- introspection and printing -------------------------------------------------------------- */

size_t labels_selector_count(const labels_selector_t *s)
{
    return s ? s->n : 0;
}

const char *labels_selector_key(const labels_selector_t *s, size_t i)
{
    return s && i < s->n ? s->reqs[i].key : NULL;
}

labels_op_t labels_selector_op(const labels_selector_t *s, size_t i)
{
    return s && i < s->n ? s->reqs[i].op : LABELS_OP_EXISTS;
}

size_t labels_selector_nvalues(const labels_selector_t *s, size_t i)
{
    return s && i < s->n ? s->reqs[i].nvalues : 0;
}

const char *labels_selector_value(const labels_selector_t *s, size_t i, size_t j)
{
    return s && i < s->n && j < s->reqs[i].nvalues ? s->reqs[i].values[j] : NULL;
}

static const char *op_text(labels_op_t op)
{
    static const char *const text[] = {
        [LABELS_OP_IN] = " in (",        [LABELS_OP_NOT_IN] = " notin (",
        [LABELS_OP_EQUALS] = "=",        [LABELS_OP_DOUBLE_EQUALS] = "==",
        [LABELS_OP_NOT_EQUALS] = "!=",   [LABELS_OP_EXISTS] = "",
        [LABELS_OP_DOES_NOT_EXIST] = "", [LABELS_OP_GREATER_THAN] = ">",
        [LABELS_OP_LESS_THAN] = "<",
    };
    return text[op];
}

char *labels_selector_string(const labels_selector_t *s)
{
    util_buf_t b = {0};
    util_buf_puts(&b, "");
    for (size_t i = 0; s && i < s->n; i++) {
        const labels_requirement_t *r = &s->reqs[i];
        util_buf_printf(&b, "%s%s%s%s", i ? "," : "", r->op == LABELS_OP_DOES_NOT_EXIST ? "!" : "",
                        r->key, op_text(r->op));
        for (size_t j = 0; j < r->nvalues; j++)
            util_buf_printf(&b, "%s%s", j ? "," : "", r->values[j]);
        if (r->op == LABELS_OP_IN || r->op == LABELS_OP_NOT_IN)
            util_buf_puts(&b, ")");
    }
    return util_buf_steal(&b);
}
