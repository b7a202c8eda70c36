/* client_util: request paths and queries, Status decoding, watch line splitting, back-off. */
#include "client/client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_MESSAGE_MAX 4096

/* ---- paths ---------------------------------------------------------------------------------- */

static bool unreserved(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

static void escape(util_buf_t *b, const char *s, bool keep_colon)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p) || (keep_colon && *p == ':'))
            util_buf_append(b, p, 1);
        else
            util_buf_printf(b, "%%%02X", *p);
    }
}

/* "." and ".." would be resolved away by any proxy on the way. */
static bool bad_segment(const char *s)
{
    return !s || !*s || !strcmp(s, ".") || !strcmp(s, "..");
}

int client_path(util_buf_t *b, const client_resource_t *r, const char *ns, const char *name,
                const char *sub)
{
    if (!r || (name && bad_segment(name)) || (sub && bad_segment(sub)) || (sub && !name) ||
        (ns && *ns && bad_segment(ns)))
        return -EINVAL;
    if (r->namespaced && name && !(ns && *ns))
        return -EINVAL;
    if (r->group[0])
        util_buf_printf(b, "/apis/%s/%s", r->group, r->version);
    else
        util_buf_printf(b, "/api/%s", r->version);
    if (r->namespaced && ns && *ns) {
        util_buf_puts(b, "/namespaces/");
        escape(b, ns, false);
    }
    util_buf_printf(b, "/%s", r->plural);
    if (name) {
        util_buf_puts(b, "/");
        escape(b, name, true);
    }
    if (sub)
        util_buf_printf(b, "/%s", sub);
    return 0;
}

void client_query_add(util_buf_t *b, const char *key, const char *value)
{
    if (!value || !*value)
        return;
    util_buf_puts(b, b->data && strchr(b->data, '?') ? "&" : "?");
    escape(b, key, false);
    util_buf_puts(b, "=");
    escape(b, value, false);
}

/* ---- Status --------------------------------------------------------------------------------- */

const char *client_reason_for_code(int code)
{
    switch (code) {
    case 400:
        return "BadRequest";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "NotFound";
    case 405:
        return "MethodNotAllowed";
    case 406:
        return "NotAcceptable";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 413:
        return "RequestEntityTooLarge";
    case 415:
        return "UnsupportedMediaType";
    case 422:
        return "Invalid";
    case 429:
        return "TooManyRequests";
    case 503:
        return "ServiceUnavailable";
    case 504:
        return "Timeout";
    default:
        return code >= 500 ? "InternalError" : "Unknown";
    }
}

/* A printable copy of at most STATUS_MESSAGE_MAX bytes. */
static char *bounded_text(const char *s, size_t len)
{
    if (len > STATUS_MESSAGE_MAX)
        len = STATUS_MESSAGE_MAX;
    char *out = util_xmalloc(len + 1);
    for (size_t i = 0; i < len; i++)
        out[i] = (unsigned char)s[i] < ' ' && s[i] != '\n' ? '?' : s[i];
    out[len] = '\0';
    return out;
}

void client_status_decode(const char *body, size_t len, int http_status, client_status_t *ret)
{
    *ret = (client_status_t){.code = http_status};
    cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "kind"));
    if (kind && !strcmp(kind, "Status")) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "code");
        const char *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "reason"));
        const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "message"));
        if (cJSON_IsNumber(code) && code->valuedouble >= 100 && code->valuedouble < 600)
            ret->code = (int)code->valuedouble;
        ret->reason = util_xstrdup(reason && *reason ? reason : client_reason_for_code(ret->code));
        ret->message = msg ? bounded_text(msg, strlen(msg)) : util_xstrdup("");
    } else {
        ret->reason = util_xstrdup(client_reason_for_code(http_status));
        ret->message = body && len ? bounded_text(body, len)
                                   : util_strdup_printf("the server answered %d", http_status);
    }
    cJSON_Delete(j);
}

void client_status_free(client_status_t *s)
{
    if (!s)
        return;
    free(s->reason);
    free(s->message);
    *s = (client_status_t){0};
}

/* ---- watch lines ---------------------------------------------------------------------------- */

int client_split_lines(util_buf_t *pending, const char *data, size_t len, size_t max,
                       void (*on_line)(void *ud, const char *line, size_t len), void *ud)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (pending->len + take > max) {
            util_buf_reset(pending);
            return -EMSGSIZE;
        }
        if (!nl) {
            util_buf_append(pending, data, take);
            return 0;
        }
        const char *line = data;
        size_t n = take;
        if (pending->len) {
            util_buf_append(pending, data, take);
            line = pending->data;
            n = pending->len;
        }
        if (n && line[n - 1] == '\r')
            n--;
        if (n)
            on_line(ud, line, n);
        util_buf_reset(pending);
        data += take + 1;
        len -= take + 1;
    }
    return 0;
}

/* ---- back-off ------------------------------------------------------------------------------- */

void client_backoff_init(client_backoff_t *b, uint64_t min_ms, uint64_t max_ms)
{
    b->min_ms = min_ms ? min_ms : 200;
    b->max_ms = max_ms > b->min_ms ? max_ms : b->min_ms;
    b->cur_ms = 0;
}

void client_backoff_reset(client_backoff_t *b)
{
    b->cur_ms = 0;
}

/* xorshift64 per thread: rand() is not thread-safe in musl and clients run on several loops. */
static uint64_t jitter_random(void)
{
    static _Thread_local uint64_t x;
    if (!x)
        x = (uint64_t)(uintptr_t)&x ^ 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

uint64_t client_backoff_next(client_backoff_t *b)
{
    b->cur_ms = b->cur_ms ? b->cur_ms * 2 : b->min_ms;
    if (b->cur_ms > b->max_ms)
        b->cur_ms = b->max_ms;
    uint64_t jitter = b->cur_ms / 5 ? jitter_random() % (b->cur_ms / 5 + 1) : 0;
    return b->cur_ms + jitter;
}
