/* util_str: bounded string helpers, growable buffers and string vectors. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Allocation failure of small control-plane objects is not recoverable: abort loudly rather
 * than thread ENOMEM through every string helper (the same policy as systemd's xmalloc). */
static void *check_alloc(void *p)
{
    if (!p) {
        static const char msg[] = "kubeling: out of memory\n";
        ssize_t w = write(2, msg, sizeof(msg) - 1);
        (void)w;
        abort();
    }
    return p;
}

void *util_xmalloc(size_t n)
{
    return check_alloc(malloc(n ? n : 1));
}

void *util_xcalloc(size_t nmemb, size_t size)
{
    return check_alloc(calloc(nmemb ? nmemb : 1, size ? size : 1));
}

void *util_xrealloc(void *p, size_t n)
{
    return check_alloc(realloc(p, n ? n : 1));
}

char *util_xstrdup(const char *s)
{
    return check_alloc(strdup(s));
}

char *util_strdup_printf(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    return check_alloc(r < 0 ? NULL : s);
}

int util_strlcpy(char *dst, const char *src, size_t n)
{
    if (n == 0)
        return -ENAMETOOLONG;
    size_t l = strlen(src);
    if (l >= n) {
        memcpy(dst, src, n - 1);
        dst[n - 1] = '\0';
        return -ENAMETOOLONG;
    }
    memcpy(dst, src, l + 1);
    return 0;
}

int util_snprintf(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(dst, n, fmt, ap);
    va_end(ap);
    if (r < 0)
        return -EINVAL;
    return (size_t)r >= n ? -ENAMETOOLONG : 0;
}

bool util_str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool util_str_has_suffix(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

int util_parse_long(const char *s, long min, long max, long *ret)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end != '\0')
        return -EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *ret = v;
    return 0;
}

int util_parse_bool(const char *s, bool *ret)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(yes); i++) {
        if (!strcasecmp(s, yes[i])) {
            *ret = true;
            return 0;
        }
        if (!strcasecmp(s, no[i])) {
            *ret = false;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- util_buf ------------------------------------------------------------------------------ */

void util_buf_reserve(util_buf_t *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len)
        check_alloc(NULL);
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = util_xrealloc(b->data, cap);
    b->cap = cap;
}

void util_buf_append(util_buf_t *b, const void *data, size_t len)
{
    util_buf_reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void util_buf_puts(util_buf_t *b, const char *s)
{
    util_buf_append(b, s, strlen(s));
}

void util_buf_printf(util_buf_t *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    util_buf_reserve(b, 64);
    size_t avail = b->cap - b->len;
    int n = vsnprintf(b->data + b->len, avail, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n >= avail) { /* did not fit: grow and format again */
        util_buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    }
    va_end(ap2);
    if (n > 0)
        b->len += (size_t)n;
    b->data[b->len] = '\0';
}

/* JSON string escaping per RFC 8259: quote, backslash and control characters. Bytes >= 0x80
 * are passed through (callers hand us UTF-8). */
void util_buf_json_string(util_buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    util_buf_reserve(b, len + 2);
    util_buf_append(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            util_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            util_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            util_buf_append(b, "\\n", 2);
            break;
        case '\r':
            util_buf_append(b, "\\r", 2);
            break;
        case '\t':
            util_buf_append(b, "\\t", 2);
            break;
        default:
            if (c < 0x20) {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                util_buf_append(b, esc, 6);
            } else {
                util_buf_append(b, &s[i], 1);
            }
        }
    }
    util_buf_append(b, "\"", 1);
}

void util_buf_reset(util_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void util_buf_free(util_buf_t *b)
{
    free(b->data);
    *b = (util_buf_t){0};
}

char *util_buf_steal(util_buf_t *b)
{
    if (!b->data)
        util_buf_reserve(b, 0);
    char *d = b->data;
    *b = (util_buf_t){0};
    return d;
}

/* ---- util_strv ----------------------------------------------------------------------------- */

void util_strv_push(util_strv_t *sv, const char *s)
{
    sv->v = util_xrealloc(sv->v, (sv->n + 2) * sizeof(char *));
    sv->v[sv->n++] = util_xstrdup(s);
    sv->v[sv->n] = NULL;
}

void util_strv_clear(util_strv_t *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    *sv = (util_strv_t){0};
}

/* ---- cleanup helpers ------------------------------------------------------------------------ */

void util_freep(void *p)
{
    free(*(void **)p);
}
