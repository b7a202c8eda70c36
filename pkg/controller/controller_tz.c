/* controller_tz: IANA time zones for CronJob's spec.timeZone, read from the system zoneinfo
 * (TZif v2+ files: 64-bit transitions, then the POSIX TZ footer for times past the last one), so
 * the process-wide TZ of libc is never touched. */
#include "controller/controller.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_FILE_MAX  (256u * 1024)
#define TZ_MAX_TRANS 4096u
#define TZ_MAX_TYPES 256u

typedef struct tz_rule_date {
    char kind; /* 'J' (1..365, no Feb 29), 'n' (0..365), 'M' (month.week.day) */
    int a, b, c;
    int32_t secs; /* transition time of day, local */
} tz_rule_date_t;

struct controller_tz {
    int64_t *trans;
    uint8_t *idx;
    int32_t *type_off;
    uint8_t *type_dst;
    uint32_t ntrans, ntypes;
    /* the footer */
    bool has_footer, has_dst;
    int32_t std_off, dst_off; /* seconds east of UTC */
    tz_rule_date_t start, end;
};

void controller_tz_free(controller_tz_t *tz)
{
    if (!tz)
        return;
    free(tz->trans);
    free(tz->idx);
    free(tz->type_off);
    free(tz->type_dst);
    free(tz);
}

/* ---- the POSIX TZ footer ------------------------------------------------------------------- */

static const char *tz_name(const char *s)
{
    if (*s == '<') {
        const char *e = strchr(s, '>');
        return e ? e + 1 : NULL;
    }
    const char *p = s;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] to seconds; NULL on a malformed value. */
static const char *tz_hms(const char *s, int32_t *ret)
{
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    int32_t v = 0;
    for (int part = 0; part < 3; part++) {
        if (part && *s != ':')
            break;
        if (part)
            s++;
        if (*s < '0' || *s > '9')
            return NULL;
        int n = 0;
        for (int d = 0; d < 3 && *s >= '0' && *s <= '9'; d++)
            n = n * 10 + (*s++ - '0');
        v += n * (part == 0 ? 3600 : part == 1 ? 60 : 1);
    }
    *ret = sign * v;
    return s;
}

static const char *tz_num(const char *s, int *ret)
{
    if (*s < '0' || *s > '9')
        return NULL;
    int n = 0;
    for (int d = 0; d < 3 && *s >= '0' && *s <= '9'; d++)
        n = n * 10 + (*s++ - '0');
    *ret = n;
    return s;
}

static const char *tz_date(const char *s, tz_rule_date_t *d)
{
    d->secs = 7200;
    if (*s == 'M') {
        d->kind = 'M';
        if (!(s = tz_num(s + 1, &d->a)) || *s++ != '.' || !(s = tz_num(s, &d->b)) || *s++ != '.' ||
            !(s = tz_num(s, &d->c)))
            return NULL;
        if (d->a < 1 || d->a > 12 || d->b < 1 || d->b > 5 || d->c > 6)
            return NULL;
    } else {
        d->kind = *s == 'J' ? 'J' : 'n';
        if (*s == 'J')
            s++;
        if (!(s = tz_num(s, &d->a)) || d->a > 365)
            return NULL;
    }
    if (*s == '/')
        s = tz_hms(s + 1, &d->secs);
    return s;
}

static int tz_footer(controller_tz_t *tz, const char *s)
{
    int32_t off;
    if (!(s = tz_name(s)) || !(s = tz_hms(s, &off)))
        return -1;
    tz->std_off = -off; /* POSIX offsets are west of UTC */
    tz->has_footer = true;
    if (!*s)
        return 0;
    if (!(s = tz_name(s)))
        return -1;
    tz->dst_off = tz->std_off + 3600;
    if (*s && *s != ',') {
        if (!(s = tz_hms(s, &off)))
            return -1;
        tz->dst_off = -off;
    }
    if (*s != ',' || !(s = tz_date(s + 1, &tz->start)) || *s != ',' ||
        !(s = tz_date(s + 1, &tz->end)) || *s)
        return -1;
    tz->has_dst = true;
    return 0;
}

/* ---- calendar arithmetic ------------------------------------------------------------------ */

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The local-time second of year y at which rule date d happens (from the year's start). */
static int64_t rule_time(int64_t y, const tz_rule_date_t *d)
{
    int64_t day; /* days since Jan 1 */
    if (d->kind == 'J') {
        day = d->a - 1;
        if (leap(y) && d->a >= 60)
            day++;
    } else if (d->kind == 'n') {
        day = d->a;
    } else {
        int64_t first = days_from_civil(y, d->a, 1);
        int wday = (int)(((first % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
        int mday = 1 + (d->c - wday + 7) % 7 + (d->b - 1) * 7;
        while (mday > month_days(y, d->a))
            mday -= 7;
        day = first + mday - 1 - days_from_civil(y, 1, 1);
    }
    return day * 86400 + d->secs;
}

static int32_t footer_offset(const controller_tz_t *tz, int64_t t)
{
    if (!tz->has_dst)
        return tz->std_off;
    int64_t days = (t + tz->std_off) / 86400 - ((t + tz->std_off) % 86400 < 0);
    /* the year of the local standard time */
    int64_t y = 1970 + days / 366, best = y;
    for (int64_t c = y - 1; c <= y + 2; c++)
        if (days_from_civil(c, 1, 1) <= days)
            best = c;
    y = best;
    int64_t base = days_from_civil(y, 1, 1) * 86400;
    int64_t start = base + rule_time(y, &tz->start) - tz->std_off;
    int64_t end = base + rule_time(y, &tz->end) - tz->dst_off;
    bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? tz->dst_off : tz->std_off;
}

int32_t controller_tz_offset(const controller_tz_t *tz, int64_t t)
{
    if (!tz)
        return 0;
    if (tz->ntrans == 0 || t < tz->trans[0]) {
        if (tz->ntrans == 0 && tz->has_footer)
            return footer_offset(tz, t);
        for (uint32_t i = 0; i < tz->ntypes; i++) /* before the first: the first standard type */
            if (!tz->type_dst[i])
                return tz->type_off[i];
        return tz->ntypes ? tz->type_off[0] : 0;
    }
    if (t >= tz->trans[tz->ntrans - 1] && tz->has_footer)
        return footer_offset(tz, t);
    uint32_t lo = 0, hi = tz->ntrans; /* the last transition <= t */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->type_off[tz->idx[lo]];
}

/* ---- TZif ---------------------------------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* Parses a TZif v2+ image (the v1 block is skipped); -EINVAL when malformed. */
int controller_tz_parse(const unsigned char *d, size_t n, controller_tz_t **ret)
{
    if (n < 44 || memcmp(d, "TZif", 4) || d[4] < '2')
        return -EINVAL;
    uint32_t c[6];
    for (int i = 0; i < 6; i++)
        c[i] = be32(d + 20 + 4 * i);
    /* isutcnt isstdcnt leapcnt timecnt typecnt charcnt */
    uint64_t v1 = (uint64_t)c[3] * 5 + (uint64_t)c[4] * 6 + c[5] + (uint64_t)c[2] * 8 + c[1] + c[0];
    if (44 + v1 + 44 > n)
        return -EINVAL;
    const unsigned char *h = d + 44 + v1;
    if (memcmp(h, "TZif", 4))
        return -EINVAL;
    for (int i = 0; i < 6; i++)
        c[i] = be32(h + 20 + 4 * i);
    if (c[3] > TZ_MAX_TRANS || c[4] == 0 || c[4] > TZ_MAX_TYPES)
        return -EINVAL;
    uint64_t v2 =
        (uint64_t)c[3] * 9 + (uint64_t)c[4] * 6 + c[5] + (uint64_t)c[2] * 12 + c[1] + c[0];
    const unsigned char *p = h + 44, *end = d + n;
    if ((uint64_t)(end - p) < v2)
        return -EINVAL;
    controller_tz_t *tz = util_xcalloc(1, sizeof(*tz));
    tz->ntrans = c[3];
    tz->ntypes = c[4];
    tz->trans = util_xcalloc(tz->ntrans + 1, sizeof(*tz->trans));
    tz->idx = util_xcalloc(tz->ntrans + 1, 1);
    tz->type_off = util_xcalloc(tz->ntypes, sizeof(*tz->type_off));
    tz->type_dst = util_xcalloc(tz->ntypes, 1);
    for (uint32_t i = 0; i < tz->ntrans; i++)
        tz->trans[i] = be64(p + 8 * i);
    p += 8 * tz->ntrans;
    int rc = 0;
    for (uint32_t i = 0; i < tz->ntrans; i++) {
        tz->idx[i] = p[i];
        if (p[i] >= tz->ntypes || (i && tz->trans[i] <= tz->trans[i - 1]))
            rc = -EINVAL;
    }
    p += tz->ntrans;
    for (uint32_t i = 0; i < tz->ntypes; i++, p += 6) {
        tz->type_off[i] = (int32_t)be32(p);
        tz->type_dst[i] = p[4];
        if (tz->type_off[i] < -26 * 3600 || tz->type_off[i] > 26 * 3600)
            rc = -EINVAL;
    }
    p = h + 44 + v2;
    if (rc == 0 && p < end && *p == '\n') {
        const unsigned char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
        if (nl && nl - p - 1 > 0 && nl - p - 1 < 128) {
            char foot[128];
            memcpy(foot, p + 1, (size_t)(nl - p - 1));
            foot[nl - p - 1] = '\0';
            if (tz_footer(tz, foot) < 0)
                tz->has_footer = false; /* unusual rules: the transition table alone */
        }
    }
    if (rc < 0) {
        controller_tz_free(tz);
        return rc;
    }
    *ret = tz;
    return 0;
}

/* A name as Go's time.LoadLocation accepts from the zoneinfo directory: relative, no "..". */
static bool tz_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 200 || name[0] == '/' || strstr(name, ".."))
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '/' || *p == '_' || *p == '-' || *p == '+' || *p == '.'))
            return false;
    return true;
}

int controller_tz_load(const char *name, controller_tz_t **ret, util_error_t *err)
{
    if (!name || !strcmp(name, "UTC")) {
        *ret = NULL; /* UTC */
        return 0;
    }
    if (!tz_name_ok(name))
        return util_error_make(err, EINVAL, "unknown time zone %s", name);
    const char *dir = getenv("ZONEINFO");
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    char *data = NULL;
    size_t len = 0;
    if (util_read_file(path, TZ_FILE_MAX, &data, &len, NULL) < 0)
        return util_error_make(err, ENOENT, "unknown time zone %s", name);
    int rc = controller_tz_parse((const unsigned char *)data, len, ret);
    free(data);
    if (rc < 0)
        return util_error_make(err, EINVAL, "unknown time zone %s", name);
    return 0;
}
