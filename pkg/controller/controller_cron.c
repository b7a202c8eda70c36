/* controller_cron: the standard cron schedules CronJobs use (robfig/cron's ParseStandard, as
 * upstream: five fields, ranges, steps, lists, month and weekday names, the @yearly .. @hourly
 * descriptors) and the next start time after a given instant in a time zone. */
#include "controller/controller.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct field_bounds {
    int min, max;
    const char *const *names; /* names[i] is value min + i ... (NULL: numbers only) */
} field_bounds_t;

static const char *const MONTHS[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                     "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const DAYS[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const field_bounds_t BOUNDS[5] = {
    {0, 59, NULL}, {0, 23, NULL}, {1, 31, NULL}, {1, 12, MONTHS}, {0, 6, DAYS},
};

static int fail(char *errbuf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *errbuf, size_t n, const char *fmt, ...)
{
    if (errbuf && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A number or (case-insensitive) name within b. */
static int parse_value(const char *s, size_t len, const field_bounds_t *b, int *ret, char *errbuf,
                       size_t n)
{
    char tok[16];
    if (len == 0 || len >= sizeof(tok))
        return fail(errbuf, n, "failed to parse int from %.*s", (int)len, s);
    memcpy(tok, s, len);
    tok[len] = '\0';
    for (int i = 0; b->names && b->names[i]; i++)
        if (!strcasecmp(tok, b->names[i])) {
            *ret = b->min + i;
            return 0;
        }
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (tok[i] < '0' || tok[i] > '9')
            return fail(errbuf, n, "failed to parse int from %s", tok);
        v = v * 10 + (tok[i] - '0');
        if (v > 1000)
            break;
    }
    *ret = (int)v;
    return 0;
}

/* One comma-separated part: "*", "?", "a", "a-b", each with an optional "/step". */
static int parse_range(const char *s, size_t len, const field_bounds_t *b, uint64_t *bits,
                       bool *star, char *errbuf, size_t n)
{
    const char *slash = memchr(s, '/', len);
    size_t rlen = slash ? (size_t)(slash - s) : len;
    int start, end, step = 1;
    bool is_star = rlen == 1 && (s[0] == '*' || s[0] == '?');
    if (is_star) {
        start = b->min;
        end = b->max;
    } else {
        const char *dash = memchr(s, '-', rlen);
        if (parse_value(s, dash ? (size_t)(dash - s) : rlen, b, &start, errbuf, n) < 0)
            return -1;
        end = start;
        if (dash && parse_value(dash + 1, rlen - (size_t)(dash + 1 - s), b, &end, errbuf, n) < 0)
            return -1;
        if (slash && !dash)
            end = b->max; /* "N/step" means "N-max/step" */
    }
    if (slash) {
        if (parse_value(slash + 1, len - rlen - 1, &(field_bounds_t){0, 0, NULL}, &step, errbuf,
                        n) < 0)
            return -1;
        if (step == 0)
            return fail(errbuf, n, "step of range should be a positive number: %.*s", (int)len, s);
    }
    if (start < b->min)
        return fail(errbuf, n, "beginning of range (%d) below minimum (%d): %.*s", start, b->min,
                    (int)len, s);
    if (end > b->max)
        return fail(errbuf, n, "end of range (%d) above maximum (%d): %.*s", end, b->max, (int)len,
                    s);
    if (start > end)
        return fail(errbuf, n, "beginning of range (%d) beyond end of range (%d): %.*s", start, end,
                    (int)len, s);
    for (int v = start; v <= end; v += step)
        *bits |= 1ull << v;
    if (is_star && step == 1)
        *star = true;
    return 0;
}

static int parse_field(const char *s, size_t len, const field_bounds_t *b, uint64_t *bits,
                       bool *star, char *errbuf, size_t n)
{
    *bits = 0;
    *star = false;
    while (len > 0) {
        const char *comma = memchr(s, ',', len);
        size_t plen = comma ? (size_t)(comma - s) : len;
        if (parse_range(s, plen, b, bits, star, errbuf, n) < 0)
            return -1;
        if (!comma)
            break;
        len -= plen + 1;
        s = comma + 1;
        if (len == 0)
            return fail(errbuf, n, "failed to parse int from %.*s", (int)len, s);
    }
    return 0;
}

static const struct {
    const char *name, *spec;
} DESCRIPTORS[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

int controller_cron_parse(const char *spec, controller_cron_t *ret, char *errbuf, size_t n)
{
    if (!spec || !*spec)
        return fail(errbuf, n, "empty spec string");
    if (strlen(spec) > 1024)
        return fail(errbuf, n, "spec too long");
    const char *s = spec;
    while (*s == ' ' || *s == '\t')
        s++;
    /* robfig accepts a CRON_TZ= or TZ= prefix; validation rejects it in favour of timeZone */
    if (!strncmp(s, "TZ=", 3) || !strncmp(s, "CRON_TZ=", 8)) {
        s += strcspn(s, " \t");
        while (*s == ' ' || *s == '\t')
            s++;
    }
    if (*s == '@') {
        for (size_t i = 0; i < UTIL_ARRAY_SIZE(DESCRIPTORS); i++)
            if (!strcmp(s, DESCRIPTORS[i].name))
                return controller_cron_parse(DESCRIPTORS[i].spec, ret, errbuf, n);
        return fail(errbuf, n, "unrecognized descriptor: %.64s", s);
    }
    const char *f[6];
    size_t fl[6], nf = 0;
    while (*s) {
        size_t l = strcspn(s, " \t");
        if (nf < 6) {
            f[nf] = s;
            fl[nf] = l;
        }
        nf++;
        s += l;
        while (*s == ' ' || *s == '\t')
            s++;
    }
    if (nf != 5)
        return fail(errbuf, n, "expected exactly 5 fields, found %zu: [%.200s]", nf, spec);
    controller_cron_t c = {0};
    bool star[5];
    for (int i = 0; i < 5; i++)
        if (parse_field(f[i], fl[i], &BOUNDS[i], &c.bits[i], &star[i], errbuf, n) < 0)
            return -1;
    c.dom_star = star[2];
    c.dow_star = star[4];
    *ret = c;
    return 0;
}

/* robfig's dayMatches: both day fields restricted means either may match. */
static bool day_matches(const controller_cron_t *c, const struct tm *tm)
{
    bool dom = c->bits[2] & (1ull << tm->tm_mday), dow = c->bits[4] & (1ull << tm->tm_wday);
    if (c->dom_star || c->dow_star)
        return dom && dow;
    return dom || dow;
}

static void local_fields(const controller_tz_t *tz, int64_t t, struct tm *tm)
{
    time_t lt = (time_t)(t + controller_tz_offset(tz, t));
    gmtime_r(&lt, tm);
}

/* Walks absolute time like robfig's Schedule.Next: whole local days while the day does not
 * match, then hours, then minutes. A wall-clock time skipped by a DST jump does not run that day;
 * one repeated by a DST fall-back runs twice, as upstream. */
int64_t controller_cron_next(const controller_cron_t *c, const controller_tz_t *tz, int64_t after)
{
    int64_t t = after - (after % 60 + 60) % 60 + 60, limit = after + 5ll * 366 * 86400;
    struct tm tm;
    while (t <= limit) {
        local_fields(tz, t, &tm);
        if (!(c->bits[3] & (1ull << (tm.tm_mon + 1))) || !day_matches(c, &tm)) {
            t += (int64_t)(24 - tm.tm_hour) * 3600 - tm.tm_min * 60; /* next local midnight */
            local_fields(tz, t, &tm);
            if (tm.tm_hour > 12) /* a repeated hour: midnight is still ahead */
                t += (int64_t)(24 - tm.tm_hour) * 3600;
            continue;
        }
        if (!(c->bits[1] & (1ull << tm.tm_hour))) {
            t += 3600 - tm.tm_min * 60;
            continue;
        }
        if (!(c->bits[0] & (1ull << tm.tm_min))) {
            t += 60;
            continue;
        }
        return t;
    }
    return -1;
}
