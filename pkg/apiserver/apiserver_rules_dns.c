/* apiserver_rules_dns: upstream's validateDNSPolicy, validatePodDNSConfig and
 * ValidateHostAliases (pkg/apis/core/validation), with their messages: dnsPolicy one of four,
 * None needing dnsConfig with a nameserver, at most 3 nameservers (IP addresses), at most 32
 * search paths of at most 2048 characters with spaces, each a DNS-1123 subdomain (a trailing
 * dot allowed), option names not empty; host aliases with an IP and subdomain host names. */
#include "apiserver_rules_dns.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_object.h"

#define MAX_NAMESERVERS  3
#define MAX_SEARCHES     32
#define MAX_SEARCH_CHARS 2048
#define IP_MSG           "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static void invalid(apiserver_crd_err_fn fn, void *ud, const char *field, const char *value_json,
                    const char *detail)
{
    char *problem = util_strdup_printf("Invalid value: %s: %s", value_json, detail);
    fn(ud, "FieldValueInvalid", field, problem);
    free(problem);
}

static void invalid_str(apiserver_crd_err_fn fn, void *ud, const char *field, const char *value,
                        const char *detail)
{
    util_buf_t q = {0};
    util_buf_json_string(&q, value, strlen(value));
    invalid(fn, ud, field, q.data, detail);
    util_buf_free(&q);
}

static void invalid_list(apiserver_crd_err_fn fn, void *ud, const char *field, const cJSON *list,
                         const char *detail)
{
    char *json = cJSON_PrintUnformatted(list); /* Go: json.Marshal of the []string */
    invalid(fn, ud, field, json ? json : "[]", detail);
    cJSON_free(json);
}

static bool valid_ip(const char *s)
{
    unsigned char a[16];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static void subdomain(apiserver_crd_err_fn fn, void *ud, const char *field, const char *value,
                      bool trailing_dot)
{
    char buf[512];
    size_t n = strlen(value);
    if (n >= sizeof(buf)) {
        invalid_str(fn, ud, field, value, "must be no more than 253 characters");
        return;
    }
    memcpy(buf, value, n + 1);
    if (trailing_dot && n && buf[n - 1] == '.')
        buf[n - 1] = 0; /* it is fine to have a trailing dot */
    const char *problem = apiserver_obj_name_problem(buf, APISERVER_NAME_SUBDOMAIN);
    if (problem)
        invalid_str(fn, ud, field, buf, problem);
}

static void dns_config(const cJSON *dc, const char *policy, const char *prefix,
                       apiserver_crd_err_fn fn, void *ud)
{
    char field[200];
    snprintf(field, sizeof(field), "%s.dnsConfig", prefix);
    const cJSON *ns = get(dc, "nameservers");
    if (policy && !strcmp(policy, "None")) {
        if (!cJSON_IsObject(dc)) {
            fn(ud, "FieldValueRequired", field,
               "Required value: must provide `dnsConfig` when `dnsPolicy` is None");
            return;
        }
        if (cJSON_GetArraySize(ns) == 0) {
            snprintf(field, sizeof(field), "%s.dnsConfig.nameservers", prefix);
            fn(ud, "FieldValueRequired", field,
               "Required value: must provide at least one DNS nameserver when `dnsPolicy` is "
               "None");
            return;
        }
    }
    if (!cJSON_IsObject(dc))
        return;
    snprintf(field, sizeof(field), "%s.dnsConfig.nameservers", prefix);
    if (cJSON_GetArraySize(ns) > MAX_NAMESERVERS)
        invalid_list(fn, ud, field, ns, "must not have more than 3 nameservers");
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, ns)
    {
        snprintf(field, sizeof(field), "%s.dnsConfig.nameservers[%d]", prefix, i++);
        const char *s = cJSON_IsString(e) ? e->valuestring : "";
        if (!valid_ip(s))
            invalid_str(fn, ud, field, s, IP_MSG);
    }
    const cJSON *searches = get(dc, "searches");
    snprintf(field, sizeof(field), "%s.dnsConfig.searches", prefix);
    if (cJSON_GetArraySize(searches) > MAX_SEARCHES)
        invalid_list(fn, ud, field, searches, "must not have more than 32 search paths");
    size_t chars = 0;
    i = 0;
    cJSON_ArrayForEach(e, searches)
    {
        chars += (i++ ? 1 : 0) + (cJSON_IsString(e) ? strlen(e->valuestring) : 0);
    }
    if (chars > MAX_SEARCH_CHARS)
        invalid_list(fn, ud, field, searches,
                     "must not have more than 2048 characters (including spaces) in the search "
                     "list");
    i = 0;
    cJSON_ArrayForEach(e, searches)
    {
        snprintf(field, sizeof(field), "%s.dnsConfig.searches[%d]", prefix, i++);
        subdomain(fn, ud, field, cJSON_IsString(e) ? e->valuestring : "", true);
    }
    i = 0;
    cJSON_ArrayForEach(e, get(dc, "options"))
    {
        const cJSON *name = get(e, "name");
        snprintf(field, sizeof(field), "%s.dnsConfig.options[%d]", prefix, i++);
        if (!cJSON_IsString(name) || !*name->valuestring)
            fn(ud, "FieldValueRequired", field, "Required value: must not be empty");
    }
}

void apiserver_dns_validate(const cJSON *spec, const char *prefix, apiserver_crd_err_fn fn,
                            void *ud)
{
    if (!cJSON_IsObject(spec))
        return;
    char field[200];
    const cJSON *p = get(spec, "dnsPolicy");
    const char *policy = cJSON_IsString(p) ? p->valuestring : NULL;
    if (policy && *policy && strcmp(policy, "ClusterFirstWithHostNet") &&
        strcmp(policy, "ClusterFirst") && strcmp(policy, "Default") && strcmp(policy, "None")) {
        snprintf(field, sizeof(field), "%s.dnsPolicy", prefix);
        util_buf_t b = {0};
        util_buf_puts(&b, "Unsupported value: ");
        util_buf_json_string(&b, policy, strlen(policy));
        util_buf_puts(&b, ": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", "
                          "\"Default\", \"None\"");
        fn(ud, "FieldValueNotSupported", field, b.data);
        util_buf_free(&b);
    }
    dns_config(get(spec, "dnsConfig"), policy, prefix, fn, ud);
    int i = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, get(spec, "hostAliases"))
    {
        const cJSON *ip = get(a, "ip");
        snprintf(field, sizeof(field), "%s.hostAliases[%d].ip", prefix, i);
        const char *s = cJSON_IsString(ip) ? ip->valuestring : "";
        if (!valid_ip(s))
            invalid_str(fn, ud, field, s, IP_MSG);
        int j = 0;
        const cJSON *h;
        cJSON_ArrayForEach(h, get(a, "hostnames"))
        {
            snprintf(field, sizeof(field), "%s.hostAliases[%d].hostnames[%d]", prefix, i, j++);
            subdomain(fn, ud, field, cJSON_IsString(h) ? h->valuestring : "", false);
        }
        i++;
    }
}
