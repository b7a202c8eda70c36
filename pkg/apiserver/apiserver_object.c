/* apiserver_object: names, UIDs, timestamps, metadata access and Status answers. */
#include "apiserver_object.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define SUBDOMAIN_MSG                                                                         \
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' " \
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "     \
    "regex used for validation is "                                                           \
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
#define LABEL_MSG                                                                            \
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', " \
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', " \
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"

static bool alnum_lower(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static bool valid_label(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !alnum_lower(s[0]) || !alnum_lower(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!alnum_lower(s[i]) && s[i] != '-')
            return false;
    return true;
}

#define DNS1035_MSG                                                                              \
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an " \
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "         \
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"

static const char *subdomain_problem(const char *name, size_t n)
{
    if (n > 253)
        return "must be no more than 253 characters";
    const char *p = name;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len == 0 || !alnum_lower(p[0]) || !alnum_lower(p[len - 1]))
            return SUBDOMAIN_MSG;
        for (size_t i = 0; i < len; i++)
            if (!alnum_lower(p[i]) && p[i] != '-')
                return SUBDOMAIN_MSG;
        if (!dot)
            return NULL;
        p = dot + 1;
    }
}

const char *apiserver_obj_name_problem(const char *name, apiserver_name_rule_t rule)
{
    size_t n = strlen(name);
    switch (rule) {
    case APISERVER_NAME_LABEL:
        if (n > 63)
            return "must be no more than 63 characters";
        return valid_label(name, n) ? NULL : LABEL_MSG;
    case APISERVER_NAME_DNS1035:
        if (n > 63)
            return "must be no more than 63 characters";
        return valid_label(name, n) && name[0] >= 'a' && name[0] <= 'z' ? NULL : DNS1035_MSG;
    case APISERVER_NAME_PATH_SEGMENT:
        if (!strcmp(name, ".") || !strcmp(name, ".."))
            return !strcmp(name, ".") ? "may not be '.'" : "may not be '..'";
        if (strchr(name, '/'))
            return "may not contain '/'";
        if (strchr(name, '%'))
            return "may not contain '%'";
        return n > 253 ? "must be no more than 253 characters" : NULL;
    case APISERVER_NAME_SUBDOMAIN:
    default:
        return subdomain_problem(name, n);
    }
}

void apiserver_obj_uuid(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) { /* never expected; stay unique */
        static _Atomic uint64_t counter;                    /* callers on several threads */
        uint64_t c = ++counter, t = (uint64_t)time(NULL) ^ c;
        memcpy(b, &t, sizeof(t));
        memcpy(b + 8, &c, sizeof(c));
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void apiserver_obj_now(char out[21])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

cJSON *apiserver_obj_metadata(cJSON *obj)
{
    cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    if (!m)
        m = cJSON_AddObjectToObject(obj, "metadata");
    return cJSON_IsObject(m) ? m : NULL;
}

const char *apiserver_obj_string(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void apiserver_obj_set_rv(cJSON *obj, int64_t rev)
{
    cJSON *m = apiserver_obj_metadata(obj);
    if (!m)
        return;
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRId64, rev);
    cJSON_DeleteItemFromObjectCaseSensitive(m, "resourceVersion");
    cJSON_AddStringToObject(m, "resourceVersion", buf);
}

void apiserver_obj_qualified(const apiserver_resource_t *r, char *out, size_t n)
{
    if (r->group[0])
        snprintf(out, n, "%s.%s", r->plural, r->group);
    else
        snprintf(out, n, "%s", r->plural);
}

/* details {"name":..,"group":..,"kind":<plural>} (group only for named groups) */
static void details(util_buf_t *b, const apiserver_resource_t *r, const char *name)
{
    util_buf_puts(b, "{\"name\":");
    util_buf_json_string(b, name, strlen(name));
    if (r->group[0])
        util_buf_printf(b, ",\"group\":\"%s\"", r->group);
    util_buf_printf(b, ",\"kind\":\"%s\"}", r->plural);
}

static void named_status(apiserver_conn_t *c, int code, const char *reason,
                         const apiserver_resource_t *r, const char *name, const char *message)
{
    util_buf_t d = {0};
    details(&d, r, name);
    apiserver__respond_status_ex(c, code, reason, message, d.data, NULL);
    util_buf_free(&d);
}

void apiserver_status_not_found(apiserver_conn_t *c, const apiserver_resource_t *r,
                                const char *name)
{
    char q[128], msg[512];
    apiserver_obj_qualified(r, q, sizeof(q));
    snprintf(msg, sizeof(msg), "%s \"%s\" not found", q, name);
    named_status(c, 404, "NotFound", r, name, msg);
}

void apiserver_status_already_exists(apiserver_conn_t *c, const apiserver_resource_t *r,
                                     const char *name)
{
    char q[128], msg[512];
    apiserver_obj_qualified(r, q, sizeof(q));
    snprintf(msg, sizeof(msg), "%s \"%s\" already exists", q, name);
    named_status(c, 409, "AlreadyExists", r, name, msg);
}

void apiserver_status_conflict(apiserver_conn_t *c, const apiserver_resource_t *r, const char *name)
{
    char q[128], msg[640];
    apiserver_obj_qualified(r, q, sizeof(q));
    snprintf(msg, sizeof(msg),
             "Operation cannot be fulfilled on %s \"%s\": the object has been modified; please "
             "apply your changes to the latest version and try again",
             q, name);
    named_status(c, 409, "Conflict", r, name, msg);
}

void apiserver_status_invalid(apiserver_conn_t *c, const apiserver_resource_t *r, const char *name,
                              const char *field, const char *value, const char *detail)
{
    util_buf_t m = {0}, d = {0};
    util_buf_printf(&m, "%s \"%s\" is invalid: %s: Invalid value: ", r->kind, name, field);
    util_buf_json_string(&m, value, strlen(value));
    util_buf_printf(&m, ": %s", detail);
    util_buf_puts(&d, "{\"name\":");
    util_buf_json_string(&d, name, strlen(name));
    if (r->group[0])
        util_buf_printf(&d, ",\"group\":\"%s\"", r->group);
    util_buf_printf(&d,
                    ",\"kind\":\"%s\",\"causes\":[{\"reason\":\"FieldValueInvalid\","
                    "\"message\":",
                    r->kind);
    char *cause = util_strdup_printf("Invalid value: \"%s\": %s", value, detail);
    util_buf_json_string(&d, cause, strlen(cause));
    free(cause);
    util_buf_puts(&d, ",\"field\":");
    util_buf_json_string(&d, field, strlen(field));
    util_buf_puts(&d, "}]}");
    apiserver__respond_status_ex(c, 422, "Invalid", m.data, d.data, NULL);
    util_buf_free(&m);
    util_buf_free(&d);
}

void apiserver_status_bad_request(apiserver_conn_t *c, const char *message)
{
    apiserver__respond_status(c, 400, "BadRequest", message);
}

void apiserver_status_store_error(apiserver_conn_t *c, int status, const char *message)
{
    if (status == -E2BIG)
        apiserver__respond_status(c, 413, "RequestEntityTooLarge",
                                  "Request entity too large: the object is larger than the "
                                  "datastore's 1.5 MiB limit");
    else if (status == -ENOSPC)
        apiserver__respond_status(c, 507, "InternalError", "the datastore is out of disk space");
    else
        apiserver__respond_status(c, 500, "InternalError",
                                  message && message[0] ? message : "datastore error");
}

void apiserver_status_success(apiserver_conn_t *c, const apiserver_resource_t *r, const char *name,
                              const char *uid)
{
    util_buf_t b = {0};
    util_buf_puts(&b, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                      "\"status\":\"Success\",\"details\":{\"name\":");
    util_buf_json_string(&b, name, strlen(name));
    if (r->group[0])
        util_buf_printf(&b, ",\"group\":\"%s\"", r->group);
    util_buf_printf(&b, ",\"kind\":\"%s\"", r->plural);
    if (uid) {
        util_buf_puts(&b, ",\"uid\":");
        util_buf_json_string(&b, uid, strlen(uid));
    }
    util_buf_puts(&b, "}}");
    apiserver__respond(c, 200, "application/json", b.data, b.len, NULL);
    util_buf_free(&b);
}

/* Moves apiVersion, kind and metadata to the front, in that order, so that the stored text
 * has the top-level metadata where apiserver_obj_splice_rv looks for it. */
void apiserver_obj_canonical_order(cJSON *obj)
{
    static const char *const front[] = {"metadata", "kind", "apiVersion"};
    for (size_t i = 0; i < 3; i++) {
        cJSON *item = cJSON_DetachItemFromObjectCaseSensitive(obj, front[i]);
        if (!item)
            continue;
        /* prepend: cJSON keeps a circular prev link on the first child */
        item->next = obj->child;
        item->prev = obj->child ? obj->child->prev : item;
        if (obj->child)
            obj->child->prev = item;
        obj->child = item;
    }
}

/* Skips one JSON string starting at s (at its opening quote); NULL if it holds escapes. */
static const char *skip_plain_string(const char *s, const char *end)
{
    for (const char *p = s + 1; p < end; p++) {
        if (*p == '\\')
            return NULL;
        if (*p == '"')
            return p + 1;
    }
    return NULL;
}

bool apiserver_obj_splice_rv(const char *json, size_t len, int64_t rev, util_buf_t *out)
{
    const char *p = json, *end = json + len;
    if (p >= end || *p != '{')
        return false;
    p++;
    for (;;) {
        static const char meta[] = "\"metadata\":{";
        if ((size_t)(end - p) >= sizeof(meta) - 1 && !memcmp(p, meta, sizeof(meta) - 1)) {
            const char *after = p + sizeof(meta) - 1;
            util_buf_append(out, json, (size_t)(after - json));
            util_buf_printf(out, "\"resourceVersion\":\"%" PRId64 "\"%s", rev,
                            after < end && *after == '}' ? "" : ",");
            util_buf_append(out, after, (size_t)(end - after));
            return true;
        }
        /* only "apiVersion":"...", and "kind":"...", may come before metadata */
        if (*p != '"')
            return false;
        const char *key_end = skip_plain_string(p, end);
        if (!key_end || key_end >= end || *key_end != ':' || key_end[1] != '"')
            return false;
        size_t klen = (size_t)(key_end - p);
        if (!(klen == 12 && !memcmp(p, "\"apiVersion\"", 12)) &&
            !(klen == 6 && !memcmp(p, "\"kind\"", 6)))
            return false;
        const char *v_end = skip_plain_string(key_end + 1, end);
        if (!v_end || v_end >= end || *v_end != ',')
            return false;
        p = v_end + 1;
    }
}
