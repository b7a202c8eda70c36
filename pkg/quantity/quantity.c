/* quantity: parsing of resource.Quantity text and exact conversion to scaled integers. */
#include "quantity/quantity.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef quantity_u128_t u128;

/* ---- the few 128-bit operations we need ----------------------------------------------------- */

static bool u_zero(u128 v)
{
    return v.hi == 0 && v.lo == 0;
}

static int u_cmp(u128 a, u128 b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    return a.lo < b.lo ? -1 : a.lo > b.lo;
}

static u128 u_add(u128 a, u128 b)
{
    u128 r = {a.hi + b.hi, a.lo + b.lo};
    if (r.lo < a.lo)
        r.hi++;
    return r;
}

static u128 u_small(uint64_t v)
{
    return (u128){0, v};
}

static u128 u_shl1(u128 v)
{
    return (u128){(v.hi << 1) | (v.lo >> 63), v.lo << 1};
}

/* v * 10 = v * 8 + v * 2 (callers keep v below 2^124). */
static u128 u_mul10(u128 v)
{
    u128 two = u_shl1(v);
    return u_add(u_shl1(u_shl1(two)), two);
}

/* v / 10 by 32-bit limbs; *rem gets v % 10. */
static u128 u_div10(u128 v, unsigned *rem)
{
    uint32_t limbs[4] = {(uint32_t)(v.hi >> 32), (uint32_t)v.hi, (uint32_t)(v.lo >> 32),
                         (uint32_t)v.lo};
    uint64_t r = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t cur = (r << 32) | limbs[i];
        limbs[i] = (uint32_t)(cur / 10);
        r = cur % 10;
    }
    *rem = (unsigned)r;
    return (u128){((uint64_t)limbs[0] << 32) | limbs[1], ((uint64_t)limbs[2] << 32) | limbs[3]};
}

/* Digits kept exactly; anything beyond becomes the "inexact" flag (10^36 < 2^120). */
#define MAX_SIG_DIGITS 36

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads the number part: digits, optional fraction. Returns the number of characters used or
 * -EINVAL when there is no digit at all. */
static int parse_number(const char *s, quantity_t *q)
{
    int i = 0, ndigits = 0, nsig = 0;
    bool in_fraction = false;
    for (;; i++) {
        if (s[i] == '.' && !in_fraction) {
            in_fraction = true;
            continue;
        }
        if (!is_digit(s[i]))
            break;
        ndigits++;
        int d = s[i] - '0';
        if (nsig == 0 && d == 0) { /* leading zeros are not significant */
            if (in_fraction)
                q->exp10--;
            continue;
        }
        if (nsig < MAX_SIG_DIGITS) {
            q->digits = u_add(u_mul10(q->digits), u_small((uint64_t)d));
            nsig++;
            if (in_fraction)
                q->exp10--;
        } else {
            if (d != 0)
                q->inexact = true;
            if (!in_fraction)
                q->exp10++;
        }
    }
    return ndigits ? i : -EINVAL;
}

/* The suffix after the number: SI, binary SI or a decimal exponent. */
static int parse_suffix(const char *s, quantity_t *q)
{
    static const struct {
        const char *name;
        int exp10, exp2;
    } suffixes[] = {
        {"", 0, 0},    {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50},
        {"Ei", 0, 60}, {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},
        {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},
    };
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (strcmp(s, suffixes[i].name) == 0) {
            q->exp10 += suffixes[i].exp10;
            q->exp2 = suffixes[i].exp2;
            return 0;
        }
    }
    if (s[0] != 'e' && s[0] != 'E')
        return -EINVAL;
    const char *p = s + 1;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (!is_digit(*p))
        return -EINVAL;
    long long e = 0;
    for (; is_digit(*p); p++) {
        e = e * 10 + (*p - '0');
        if (e > INT32_MAX) /* upstream parses the exponent as an int32 */
            return -EINVAL;
    }
    if (*p)
        return -EINVAL;
    if (e > 100000) /* far beyond any int64 either way: keep the arithmetic small */
        e = 100000;
    q->exp10 += (int)(neg ? -e : e);
    return 0;
}

int quantity_parse(const char *text, quantity_t *ret)
{
    if (!text || !*text || strlen(text) > QUANTITY_MAX_LEN)
        return -EINVAL;
    quantity_t q = {0};
    const char *s = text;
    if (*s == '+' || *s == '-')
        q.negative = *s++ == '-';
    int n = parse_number(s, &q);
    if (n < 0)
        return n;
    int r = parse_suffix(s + n, &q);
    if (r < 0)
        return r;
    if (u_zero(q.digits) && !q.inexact)
        q.negative = false;
    *ret = q;
    return 0;
}

/* The magnitude |q| * 10^scale rounded up (round_up) or down, as a u128 no larger than
 * 2^63; *saturated when it would be larger. */
static u128 magnitude(const quantity_t *q, int scale, bool round_up, bool *saturated)
{
    const u128 limit = {0, (uint64_t)INT64_MAX + 1};
    u128 v = q->digits;
    bool rem = q->inexact;
    long e10 = (long)q->exp10 + scale;
    unsigned r;
    *saturated = false;
    if (u_zero(v))
        return u_small(rem && round_up ? 1 : 0);
    /* Apply the binary exponent first while v is still small relative to 2^128. */
    for (int i = 0; i < q->exp2; i++) {
        while (v.hi >> 60) { /* make room by consuming a negative decimal exponent */
            if (e10 >= 0) {
                *saturated = true;
                return limit;
            }
            v = u_div10(v, &r);
            rem |= r != 0;
            e10++;
        }
        v = u_shl1(v);
    }
    for (; e10 > 0; e10--) {
        if (u_cmp(v, limit) > 0) {
            *saturated = true;
            return limit;
        }
        v = u_mul10(v); /* v <= 2^63 here, so v * 10 < 2^67 */
    }
    for (; e10 < 0 && !u_zero(v); e10++) {
        v = u_div10(v, &r);
        rem |= r != 0;
    }
    if (e10 < 0) /* v reached 0 */
        rem = true;
    if (rem && round_up)
        v = u_add(v, u_small(1));
    if (u_cmp(v, limit) > 0) {
        *saturated = true;
        return limit;
    }
    return v;
}

int64_t quantity_scaled(const quantity_t *q, int scale)
{
    bool sat;
    /* Upstream rounds toward +infinity: up in magnitude for positive, down for negative. */
    u128 m = magnitude(q, scale, !q->negative, &sat);
    if (q->negative) {
        if (sat || m.hi || m.lo > (uint64_t)INT64_MAX)
            return INT64_MIN;
        return -(int64_t)m.lo;
    }
    if (sat || m.hi || m.lo > (uint64_t)INT64_MAX)
        return INT64_MAX;
    return (int64_t)m.lo;
}

int64_t quantity_parse_value(const char *text, int scale, int64_t def)
{
    quantity_t q;
    if (quantity_parse(text, &q) < 0)
        return def;
    return quantity_scaled(&q, scale);
}
