/* apiserver_accept: goautoneg-style parsing of an HTTP Accept header into sorted media-range
 * clauses (internal to pkg/apiserver; shared by discovery and Table negotiation). */
#ifndef KUBELING_APISERVER_ACCEPT_H
#define KUBELING_APISERVER_ACCEPT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct apiserver_span {
    const char *p;
    size_t n;
} apiserver_span_t;

typedef struct apiserver_accept_clause {
    apiserver_span_t type, subtype;
    float q;
    bool has_convert; /* any of g, v, as present (even empty) */
    apiserver_span_t g, v, as, stream, sv;
} apiserver_accept_clause_t;

/* True if the span is exactly the literal. */
bool apiserver_span_eq(apiserver_span_t s, const char *lit);

/* Parses up to max comma-separated clauses of accept (skipping those goautoneg skips) into out
 * and sorts them the way goautoneg does (q first, then specificity; Go's insertion sort).
 * Returns the number of clauses. */
size_t apiserver_accept_parse(const char *accept, apiserver_accept_clause_t *out, size_t max);

#endif
