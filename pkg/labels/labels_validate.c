/* labels_validate: label key and value validation with upstream's messages. */
#include "labels_internal.h"

#include <string.h>

/* Upstream's regexes and messages (k8s.io/apimachinery pkg/api/validate/content/kube.go and
 * dns.go); they are echoed in error messages, so they are kept verbatim. */
#define KEY_FMT "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
#define KEY_MSG                                                                                 \
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " \
    "alphanumeric character"
#define KEY_EXAMPLES " (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '"
#define VALUE_FMT    "(" KEY_FMT ")?"
#define VALUE_MSG                                                                               \
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or " \
    "'.', and must start and end with an alphanumeric character"
#define VALUE_EXAMPLES \
    " (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '"
#define DNS_LABEL_FMT     "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
#define DNS_SUBDOMAIN_FMT DNS_LABEL_FMT "(\\." DNS_LABEL_FMT ")*"
#define DNS_SUBDOMAIN_MSG                                                                        \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or " \
    "'.', and must start and end with an alphanumeric character"

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Matches KEY_FMT over s[0..n) (the regex, not the length limit). */
static bool match_name(const char *s, size_t n)
{
    if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

/* Matches DNS_SUBDOMAIN_FMT over s[0..n): dot-separated lowercase RFC 1123 labels. */
static bool match_dns_subdomain(const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            if (!is_lower_alnum(s[i]) && s[i] != '-')
                return false;
            continue;
        }
        if (i == start || !is_lower_alnum(s[start]) || !is_lower_alnum(s[i - 1]))
            return false;
        start = i + 1;
    }
    return true;
}

static void add_problem(util_buf_t *b, const char *msg)
{
    if (b->len)
        util_buf_puts(b, "; ");
    util_buf_puts(b, msg);
}

/* IsLabelKey: appends each problem of key to b (nothing when valid). */
static void key_problems(const char *key, util_buf_t *b)
{
    const char *slash = strchr(key, '/');
    const char *name = key;
    if (slash && strchr(slash + 1, '/')) {
        add_problem(b, "a valid label key " KEY_MSG KEY_EXAMPLES KEY_FMT
                       "') with an optional DNS subdomain prefix and '/' (e.g. "
                       "'example.com/MyName')");
        return;
    }
    if (slash) {
        size_t plen = (size_t)(slash - key);
        name = slash + 1;
        if (plen == 0)
            add_problem(b, "prefix part must be non-empty");
        if (plen > LABELS_KEY_PREFIX_MAX_LEN)
            add_problem(b, "prefix part must be no more than 253 bytes");
        if (plen > 0 && !match_dns_subdomain(key, plen))
            add_problem(b, "prefix part " DNS_SUBDOMAIN_MSG
                           " (e.g. 'example.com', regex used for validation is '" DNS_SUBDOMAIN_FMT
                           "')");
    }
    size_t nlen = strlen(name);
    if (nlen == 0)
        add_problem(b, "name part must be non-empty");
    else if (nlen > LABELS_KEY_NAME_MAX_LEN)
        add_problem(b, "name part must be no more than 63 bytes");
    if (!match_name(name, nlen))
        add_problem(b, "name part " KEY_MSG KEY_EXAMPLES KEY_FMT "')");
}

static void value_problems(const char *value, util_buf_t *b)
{
    size_t n = strlen(value);
    if (n > LABELS_VALUE_MAX_LEN)
        add_problem(b, "must be no more than 63 bytes");
    if (n > 0 && !match_name(value, n))
        add_problem(b, VALUE_MSG VALUE_EXAMPLES VALUE_FMT "')");
}

char *labels_key_problems(const char *key)
{
    util_buf_t b = {0};
    key_problems(key ? key : "", &b);
    return b.len ? util_buf_steal(&b) : (util_buf_free(&b), NULL);
}

char *labels_value_problems(const char *value)
{
    util_buf_t b = {0};
    value_problems(value ? value : "", &b);
    return b.len ? util_buf_steal(&b) : (util_buf_free(&b), NULL);
}

bool labels_valid_key(const char *key)
{
    if (!key)
        return false;
    const char *slash = strchr(key, '/');
    const char *name = key;
    if (slash) {
        size_t plen = (size_t)(slash - key);
        if (plen == 0 || plen > LABELS_KEY_PREFIX_MAX_LEN || !match_dns_subdomain(key, plen))
            return false;
        name = slash + 1;
    }
    size_t nlen = strlen(name);
    return nlen <= LABELS_KEY_NAME_MAX_LEN && match_name(name, nlen);
}

bool labels_valid_value(const char *value)
{
    if (!value)
        return false;
    size_t n = strlen(value);
    return n == 0 || (n <= LABELS_VALUE_MAX_LEN && match_name(value, n));
}

/* Length of the valid UTF-8 sequence at s (2..4), or 0 when the bytes are not one. */
static size_t utf8_seq_len(const unsigned char *s)
{
    size_t n;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

void labels__quote(util_buf_t *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    util_buf_puts(b, "\"");
    while (*p) {
        size_t n;
        if (*p == '"' || *p == '\\') {
            util_buf_printf(b, "\\%c", *p);
        } else if (*p >= 0x20 && *p < 0x7f) {
            util_buf_append(b, p, 1);
        } else if (*p >= 0x07 && *p <= 0x0d) {
            util_buf_printf(b, "\\%c", "abtnvfr"[*p - 0x07]);
        } else if (*p >= 0x80 && (n = utf8_seq_len(p)) > 0) {
            util_buf_append(b, p, n);
            p += n;
            continue;
        } else {
            util_buf_printf(b, "\\x%02x", *p);
        }
        p++;
    }
    util_buf_puts(b, "\"");
}
