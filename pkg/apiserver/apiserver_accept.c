/* apiserver_accept: Accept header clauses, parsed and ordered as k8s.io/apiserver's
 * negotiation package does over goautoneg's ParseAccept. q=0 is not "refused" there, only
 * sorted last, and so it is here. */
#include "apiserver_accept.h"

#include <stdlib.h>
#include <string.h>

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static apiserver_span_t span_trim(const char *p, size_t n)
{
    while (n && is_ows(*p))
        p++, n--;
    while (n && is_ows(p[n - 1]))
        n--;
    return (apiserver_span_t){p, n};
}

bool apiserver_span_eq(apiserver_span_t s, const char *lit)
{
    return s.n == strlen(lit) && !memcmp(s.p, lit, s.n);
}

/* strconv.ParseFloat(v, 32): a malformed q is 0, like goautoneg. */
static float parse_q(apiserver_span_t v)
{
    char tmp[32];
    if (v.n == 0 || v.n >= sizeof(tmp))
        return 0;
    memcpy(tmp, v.p, v.n);
    tmp[v.n] = '\0';
    char *end;
    float q = strtof(tmp, &end);
    return *end ? 0 : q;
}

static void clause_param(apiserver_accept_clause_t *c, apiserver_span_t param)
{
    const char *eq = memchr(param.p, '=', param.n);
    if (!eq)
        return; /* goautoneg drops parameters without '=' */
    apiserver_span_t key = span_trim(param.p, (size_t)(eq - param.p));
    apiserver_span_t val = span_trim(eq + 1, param.n - (size_t)(eq + 1 - param.p));
    if (apiserver_span_eq(key, "q")) {
        c->q = parse_q(val);
        return;
    }
    apiserver_span_t *slot = apiserver_span_eq(key, "g")        ? &c->g
                             : apiserver_span_eq(key, "v")      ? &c->v
                             : apiserver_span_eq(key, "as")     ? &c->as
                             : apiserver_span_eq(key, "stream") ? &c->stream
                             : apiserver_span_eq(key, "sv")     ? &c->sv
                                                                : NULL;
    if (slot)
        *slot = val; /* a repeated key: the last one wins, as in Go's map */
    if (slot == &c->g || slot == &c->v || slot == &c->as)
        c->has_convert = true;
}

/* Parses one comma-separated part; false when goautoneg skips it (no usable media range). */
static bool clause_parse(apiserver_accept_clause_t *c, apiserver_span_t part)
{
    memset(c, 0, sizeof(*c));
    c->q = 1.0f;
    const char *end = part.p + part.n;
    const char *semi = memchr(part.p, ';', part.n);
    apiserver_span_t range = {part.p, (size_t)((semi ? semi : end) - part.p)};
    const char *slash = memchr(range.p, '/', range.n);
    if (slash) {
        c->type = span_trim(range.p, (size_t)(slash - range.p));
        c->subtype = span_trim(slash + 1, range.n - (size_t)(slash + 1 - range.p));
        if (memchr(c->subtype.p, '/', c->subtype.n))
            return false;
    } else {
        c->type = span_trim(range.p, range.n);
        if (!apiserver_span_eq(c->type, "*"))
            return false;
        c->subtype = (apiserver_span_t){"*", 1};
    }
    for (const char *p = semi; p && p < end;) {
        const char *next = memchr(p + 1, ';', (size_t)(end - p - 1));
        clause_param(c, (apiserver_span_t){p + 1, (size_t)((next ? next : end) - p - 1)});
        p = next;
    }
    return true;
}

/* goautoneg's accept_slice.Less, verbatim (not a strict weak order). */
static bool clause_less(const apiserver_accept_clause_t *a, const apiserver_accept_clause_t *b)
{
    if (a->q > b->q)
        return true;
    if (!apiserver_span_eq(a->type, "*") && apiserver_span_eq(b->type, "*"))
        return true;
    if (!apiserver_span_eq(a->subtype, "*") && apiserver_span_eq(b->subtype, "*"))
        return true;
    return false;
}

/* Go's sort.Sort is an insertion sort for up to 12 elements; with a non-strict Less the
 * algorithm decides the result, so use the same one. */
static void clauses_sort(apiserver_accept_clause_t *c, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && clause_less(&c[j], &c[j - 1]); j--) {
            apiserver_accept_clause_t t = c[j];
            c[j] = c[j - 1];
            c[j - 1] = t;
        }
    }
}

size_t apiserver_accept_parse(const char *accept, apiserver_accept_clause_t *out, size_t max)
{
    size_t n = 0;
    for (const char *p = accept; n < max;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (clause_parse(&out[n], span_trim(p, len)))
            n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    clauses_sort(out, n);
    return n;
}
