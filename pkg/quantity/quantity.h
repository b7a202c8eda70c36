/* quantity: Kubernetes resource quantities ("100m", "1.5Gi", "2e3") as integers. */
#ifndef KUBELING_QUANTITY_H
#define KUBELING_QUANTITY_H

#include <stdbool.h>
#include <stdint.h>

/* Grammar and rounding follow k8s.io/apimachinery/pkg/api/resource (ParseQuantity, Value,
 * MilliValue):
 *
 *   quantity := [+-] digits [ '.' digits ] suffix     (or '.' digits)
 *   suffix   := "" | Ki Mi Gi Ti Pi Ei | n u m k M G T P E | (e|E) [+-] digits
 *
 * A quantity is held exactly as sign * digits * 10^exp10 * 2^exp2 and converted to an integer
 * at a scale, rounding up like upstream (so "1n" CPU is 1 millicore). Results that do not fit
 * an int64 saturate at INT64_MAX / INT64_MIN. Input is untrusted: bounded length, never a
 * crash, garbage is -EINVAL. */

#define QUANTITY_MAX_LEN 128 /* upstream has no limit; nothing sensible is longer */

/* 128-bit unsigned integer in two halves (armv7 has no __int128). */
typedef struct quantity_u128 {
    uint64_t hi, lo;
} quantity_u128_t;

typedef struct quantity {
    bool negative;
    quantity_u128_t digits; /* significant digits; further digits only mark inexact */
    bool inexact;           /* digits were dropped (a tiny non-zero remainder exists) */
    int exp10;              /* decimal exponent applied to digits */
    int exp2;               /* binary exponent (Ki = 10, Mi = 20, ...) */
} quantity_t;

/* Parses text; -EINVAL for anything upstream would reject (and for longer than
 * QUANTITY_MAX_LEN). */
int quantity_parse(const char *text, quantity_t *ret);
/* The value in units of 10^-scale, rounded toward +infinity like upstream, saturating.
 * scale 0: Value(); scale 3: MilliValue(). */
int64_t quantity_scaled(const quantity_t *q, int scale);
static inline int64_t quantity_value(const quantity_t *q)
{
    return quantity_scaled(q, 0);
}
static inline int64_t quantity_milli(const quantity_t *q)
{
    return quantity_scaled(q, 3);
}
/* Convenience for JSON values: a string quantity or a JSON number. On any error returns
 * def. */
int64_t quantity_parse_value(const char *text, int scale, int64_t def);

#endif
