/* kubelet_dns: each pod's /etc/resolv.conf and /etc/hosts, as upstream's kubelet builds them
 * (pkg/kubelet/network/dns GetPodDNS, kubelet_pods.go ensureHostsFile) and containerd writes
 * them: the host's resolver file parsed, the pod's dnsPolicy (ClusterFirst,
 * ClusterFirstWithHostNet, Default, None) applied, spec.dnsConfig merged, the resolver's limits
 * enforced with upstream's DNSConfigForming warnings. Pure: no I/O but the host file chosen at
 * start (kubelet_dns_conf_init). See docs/kubelet.md#pod-dns. */
#include "kubelet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLUSTER_DNS  16
#define MAX_RESOLV_BYTES (1024 * 1024) /* upstream reads at most 10 MB */
#define SUBDOMAIN_MAX    253           /* DNS1123SubdomainMaxLength */

void kubelet_dns_free(kubelet_dns_t *d)
{
    util_strv_clear(&d->servers);
    util_strv_clear(&d->searches);
    util_strv_clear(&d->options);
}

void kubelet_dns_conf_free(kubelet_dns_conf_t *c)
{
    util_strv_clear(&c->cluster_dns);
    free(c->cluster_domain);
    free(c->resolv_conf);
    memset(c, 0, sizeof(*c));
}

static bool strv_has(const util_strv_t *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (!strcmp(sv->v[i], s))
            return true;
    return false;
}

static void push_unique(util_strv_t *sv, const char *s)
{
    if (!strv_has(sv, s))
        util_strv_push(sv, s);
}

static void strv_copy(util_strv_t *dst, const util_strv_t *src)
{
    for (size_t i = 0; i < src->n; i++)
        util_strv_push(dst, src->v[i]);
}

/* -- addresses -- */

typedef enum { IP_BAD, IP_GLOBAL, IP_OTHER } ip_kind_t;

/* IP_GLOBAL: Go's IP.IsGlobalUnicast (not loopback, link-local, multicast, unspecified or
 * broadcast); what k3s asks of a host nameserver a pod can reach. */
static ip_kind_t ip_kind(const char *s)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, s, a) == 1) {
        if (a[0] == 127 || a[0] == 0 || a[0] >= 224 || (a[0] == 169 && a[1] == 254))
            return IP_OTHER;
        return IP_GLOBAL;
    }
    if (inet_pton(AF_INET6, s, a) == 1) {
        static const unsigned char zero[16];
        if (a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80))
            return IP_OTHER;
        if (!memcmp(a, zero, 15) && (a[15] == 0 || a[15] == 1))
            return IP_OTHER;
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(a, v4mapped, 12)) {
            char v4[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, a + 12, v4, sizeof(v4));
            return ip_kind(v4);
        }
        return IP_GLOBAL;
    }
    return IP_BAD;
}

bool kubelet_dns_valid_ip(const char *s)
{
    return s && ip_kind(s) != IP_BAD;
}

int kubelet_dns_service_ip(const char *cidr, unsigned index, char *out, size_t n)
{
    char buf[64];
    if (!cidr || util_strlcpy(buf, cidr, sizeof(buf)) < 0)
        return -EINVAL;
    char *slash = strchr(buf, '/');
    if (!slash)
        return -EINVAL;
    *slash = 0;
    long len;
    struct in_addr a;
    if (util_parse_long(slash + 1, 0, 32, &len) < 0 || inet_pton(AF_INET, buf, &a) != 1)
        return -EINVAL;
    uint32_t mask = len ? 0xffffffffu << (32 - len) : 0;
    uint64_t size = (uint64_t)1 << (32 - len);
    if ((uint64_t)index >= size)
        return -ERANGE;
    uint32_t ip = (ntohl(a.s_addr) & mask) + index;
    struct in_addr r = {.s_addr = htonl(ip)};
    return inet_ntop(AF_INET, &r, out, (socklen_t)n) ? 0 : -ENAMETOOLONG;
}

/* -- the host's resolver file -- */

int kubelet_dns_parse_resolv(const char *text, bool drop_unreachable, kubelet_dns_t *out)
{
    memset(out, 0, sizeof(*out));
    int rc = 0;
    const char *p = text ? text : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char *line = util_xmalloc(len + 1);
        memcpy(line, p, len);
        line[len] = 0;
        p += len + (nl ? 1 : 0);
        char *save = NULL, *key = strtok_r(line, " \t\r\f\v", &save);
        if (!key || key[0] == '#') {
            free(line);
            continue;
        }
        if (!strcmp(key, "nameserver")) { /* accumulate */
            char *ip = strtok_r(NULL, " \t\r\f\v", &save);
            if (!ip)
                rc = -EINVAL; /* upstream: "nameserver list is empty " */
            else if (!drop_unreachable || ip_kind(ip) == IP_GLOBAL)
                util_strv_push(&out->servers, ip);
        } else if (!strcmp(key, "search")) { /* the last line wins */
            util_strv_clear(&out->searches);
            for (char *s; (s = strtok_r(NULL, " \t\r\f\v", &save));) {
                size_t sl = strlen(s);
                if (sl > 1 && s[sl - 1] == '.')
                    s[sl - 1] = 0; /* the same domain with and without the dot counts once */
                util_strv_push(&out->searches, s);
            }
        } else if (!strcmp(key, "options")) { /* the last line wins */
            util_strv_clear(&out->options);
            for (char *s; (s = strtok_r(NULL, " \t\r\f\v", &save));)
                util_strv_push(&out->options, s);
        }
        free(line);
    }
    return rc;
}

bool kubelet_dns_resolv_usable(const char *text)
{
    kubelet_dns_t all;
    kubelet_dns_parse_resolv(text, false, &all);
    bool ok = all.servers.n > 0;
    for (size_t i = 0; i < all.servers.n; i++)
        if (ip_kind(all.servers.v[i]) != IP_GLOBAL)
            ok = false;
    kubelet_dns_free(&all);
    return ok;
}

int kubelet_dns_conf_init(kubelet_dns_conf_t *c, const char *cluster_dns, const char *domain,
                          const char *resolv_conf, util_error_t *err)
{
    memset(c, 0, sizeof(*c));
    const char *list = cluster_dns ? cluster_dns : KUBELET_CLUSTER_DNS;
    char *copy = util_xstrdup(list), *save = NULL;
    for (char *s = strtok_r(copy, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        while (*s == ' ' || *s == '\t')
            s++;
        size_t l = strlen(s);
        while (l && (s[l - 1] == ' ' || s[l - 1] == '\t'))
            s[--l] = 0;
        if (!*s)
            continue;
        if (!kubelet_dns_valid_ip(s) || c->cluster_dns.n >= MAX_CLUSTER_DNS) {
            int r = util_error_make(err, EINVAL, "--cluster-dns: `%s` is not an IP address", s);
            if (c->cluster_dns.n >= MAX_CLUSTER_DNS)
                r = util_error_make(err, EINVAL, "--cluster-dns: more than %d addresses",
                                    MAX_CLUSTER_DNS);
            free(copy);
            kubelet_dns_conf_free(c);
            return r;
        }
        util_strv_push(&c->cluster_dns, s);
    }
    free(copy);
    c->cluster_domain = util_xstrdup(domain ? domain : KUBELET_CLUSTER_DOMAIN);
    size_t dl = strlen(c->cluster_domain);
    if (dl > 1 && c->cluster_domain[dl - 1] == '.')
        c->cluster_domain[dl - 1] = 0;
    if (resolv_conf) {
        c->resolv_conf = util_xstrdup(resolv_conf);
        return 0;
    }
    /* k3s: the first of these whose nameservers are all global unicast addresses (a stub
     * resolver on 127.0.0.53 is unreachable from a pod's network namespace) */
    static const char *const candidates[] = {"/etc/resolv.conf",
                                             "/run/systemd/resolve/resolv.conf"};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(candidates); i++) {
        char *text = NULL;
        if (util_read_file(candidates[i], MAX_RESOLV_BYTES, &text, NULL, NULL) < 0)
            continue;
        bool ok = kubelet_dns_resolv_usable(text);
        free(text);
        if (ok) {
            c->resolv_conf = util_xstrdup(candidates[i]);
            return 0;
        }
    }
    /* neither: /etc/resolv.conf without its unreachable nameservers (k3s writes one naming
     * 8.8.8.8 instead; we add no public resolver) */
    c->resolv_conf = util_xstrdup(candidates[0]);
    c->resolv_auto = true;
    return 0;
}

/* -- a pod's resolver configuration -- */

typedef enum { DNS_CLUSTER, DNS_HOST, DNS_NONE } dns_type_t;

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = jget(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void strv_join(util_buf_t *b, const util_strv_t *sv, const char *sep)
{
    for (size_t i = 0; i < sv->n; i++)
        util_buf_printf(b, "%s%s", i ? sep : "", sv->v[i]);
}

static void warn(kubelet_dns_event_fn ev, void *ud, const char *what, const util_strv_t *line)
{
    util_buf_t b = {0};
    util_buf_printf(
        &b, "%s limits were exceeded, some %s have been omitted, the applied %s line is: ", what,
        !strcmp(what, "Search Line") ? "search paths" : "nameservers",
        !strcmp(what, "Search Line") ? "search" : "nameserver");
    strv_join(&b, line, " ");
    if (ev)
        ev(ud, false, "DNSConfigForming", b.data);
    util_buf_free(&b);
}

/* upstream formDNSSearchFitsLimits: at most 32 paths, none over 253 characters, the line at
 * most 2048 characters (the last paths dropped) */
static void fit_searches(util_strv_t *s, kubelet_dns_event_fn ev, void *ud)
{
    bool exceeded = false;
    util_strv_t kept = {0};
    for (size_t i = 0; i < s->n; i++) {
        if (i >= KUBELET_DNS_MAX_SEARCHES || strlen(s->v[i]) > SUBDOMAIN_MAX) {
            exceeded = true;
            continue;
        }
        util_strv_push(&kept, s->v[i]);
    }
    size_t total = 0;
    for (size_t i = 0; i < kept.n; i++)
        total += strlen(kept.v[i]) + (i ? 1 : 0);
    while (kept.n && total > KUBELET_DNS_MAX_SEARCH_CHARS) {
        size_t last = strlen(kept.v[kept.n - 1]);
        total -= last + (kept.n > 1 ? 1 : 0);
        free(kept.v[--kept.n]);
        kept.v[kept.n] = NULL;
        exceeded = true;
    }
    util_strv_clear(s);
    *s = kept;
    if (exceeded)
        warn(ev, ud, "Search Line", s);
}

static void fit_servers(util_strv_t *s, kubelet_dns_event_fn ev, void *ud)
{
    if (s->n <= KUBELET_DNS_MAX_NAMESERVERS)
        return;
    while (s->n > KUBELET_DNS_MAX_NAMESERVERS) {
        free(s->v[--s->n]);
        s->v[s->n] = NULL;
    }
    warn(ev, ud, "Nameserver", s);
}

/* upstream mergeDNSOptions: by name, dnsConfig's value winning; upstream's order is a Go map's
 * (random), ours is first appearance */
static void merge_options(util_strv_t *opts, const cJSON *list)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, list)
    {
        const char *name = jstr(o, "name"), *value = jstr(o, "value");
        if (!name || !*name)
            continue;
        char *item =
            value && *value ? util_strdup_printf("%s:%s", name, value) : util_xstrdup(name);
        size_t nl = strlen(name);
        bool replaced = false;
        for (size_t i = 0; i < opts->n && !replaced; i++) {
            const char *colon = strchr(opts->v[i], ':');
            size_t il = colon ? (size_t)(colon - opts->v[i]) : strlen(opts->v[i]);
            if (il == nl && !strncmp(opts->v[i], name, nl)) {
                free(opts->v[i]);
                opts->v[i] = item;
                replaced = true;
            }
        }
        if (!replaced) {
            util_strv_push(opts, item);
            free(item);
        }
    }
    /* duplicates by name already in the host's options: the last one wins, as in a map */
    for (size_t i = 0; i < opts->n; i++) {
        const char *ci = strchr(opts->v[i], ':');
        size_t li = ci ? (size_t)(ci - opts->v[i]) : strlen(opts->v[i]);
        for (size_t j = i + 1; j < opts->n; j++) {
            const char *cj = strchr(opts->v[j], ':');
            size_t lj = cj ? (size_t)(cj - opts->v[j]) : strlen(opts->v[j]);
            if (li == lj && !strncmp(opts->v[i], opts->v[j], li)) {
                free(opts->v[i]);
                opts->v[i] = opts->v[j];
                memmove(&opts->v[j], &opts->v[j + 1], (opts->n - j) * sizeof(char *));
                opts->n--;
                j--;
            }
        }
    }
}

static void push_strings(util_strv_t *sv, const cJSON *list)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, list)
    {
        if (cJSON_IsString(e) && *e->valuestring)
            push_unique(sv, e->valuestring);
    }
}

int kubelet_dns_for_pod(const kubelet_dns_conf_t *c, const kubelet_dns_t *host, const cJSON *pod,
                        kubelet_dns_t *out, kubelet_dns_event_fn ev, void *ud)
{
    memset(out, 0, sizeof(*out));
    const cJSON *spec = jget(pod, "spec"), *meta = jget(pod, "metadata");
    const char *policy = jstr(spec, "dnsPolicy");
    bool host_net = cJSON_IsTrue(jget(spec, "hostNetwork"));
    dns_type_t t = DNS_CLUSTER;
    int rc = 0;
    if (!policy || !strcmp(policy, "ClusterFirst"))
        t = host_net ? DNS_HOST : DNS_CLUSTER; /* policy unset: the API's default */
    else if (!strcmp(policy, "ClusterFirstWithHostNet"))
        t = DNS_CLUSTER;
    else if (!strcmp(policy, "Default"))
        t = DNS_HOST;
    else if (!strcmp(policy, "None"))
        t = DNS_NONE;
    else
        rc = -EINVAL; /* the API refuses it; upstream falls back to ClusterFirst */
    if (t != DNS_NONE && host) {
        strv_copy(&out->servers, &host->servers);
        strv_copy(&out->searches, &host->searches);
        strv_copy(&out->options, &host->options);
    }
    if (t == DNS_CLUSTER && c->cluster_dns.n) {
        util_strv_clear(&out->servers);
        strv_copy(&out->servers, &c->cluster_dns);
        if (c->cluster_domain && *c->cluster_domain) {
            const char *ns = jstr(meta, "namespace");
            util_strv_t s = {0};
            char *a = util_strdup_printf("%s.svc.%s", ns ? ns : "default", c->cluster_domain);
            char *b = util_strdup_printf("svc.%s", c->cluster_domain);
            push_unique(&s, a);
            push_unique(&s, b);
            push_unique(&s, c->cluster_domain);
            free(a);
            free(b);
            for (size_t i = 0; i < out->searches.n; i++)
                push_unique(&s, out->searches.v[i]);
            util_strv_clear(&out->searches);
            out->searches = s;
        }
        util_strv_clear(&out->options);
        util_strv_push(&out->options, "ndots:5");
    } else if (t != DNS_NONE) {
        if (t == DNS_CLUSTER && ev) { /* no cluster DNS: upstream warns and uses Default */
            const char *msg = "kubelet does not have ClusterDNS IP configured and cannot create "
                              "Pod using \"ClusterFirst\" policy. Falling back to \"Default\" "
                              "policy.";
            const char *name = jstr(meta, "name"), *ns = jstr(meta, "namespace"),
                       *uid = jstr(meta, "uid");
            char *pm = util_strdup_printf("pod: \"%s_%s(%s)\". %s", name ? name : "", ns ? ns : "",
                                          uid ? uid : "", msg);
            ev(ud, true, "MissingClusterDNS", msg);
            ev(ud, false, "MissingClusterDNS", pm);
            free(pm);
        }
        if (!c->resolv_conf || !*c->resolv_conf) { /* --resolv-conf "": lookups disabled */
            util_strv_push(&out->servers, "127.0.0.1");
            util_strv_clear(&out->searches);
            util_strv_push(&out->searches, ".");
        }
    }
    const cJSON *dc = jget(spec, "dnsConfig");
    if (cJSON_IsObject(dc)) {
        push_strings(&out->servers, jget(dc, "nameservers"));
        for (size_t i = 0; i < out->servers.n; i++) /* dedupe the base too, as upstream */
            for (size_t j = i + 1; j < out->servers.n; j++)
                if (!strcmp(out->servers.v[i], out->servers.v[j])) {
                    free(out->servers.v[j]);
                    memmove(&out->servers.v[j], &out->servers.v[j + 1],
                            (out->servers.n - j) * sizeof(char *));
                    out->servers.n--;
                    j--;
                }
        push_strings(&out->searches, jget(dc, "searches"));
        merge_options(&out->options, jget(dc, "options"));
    }
    fit_servers(&out->servers, ev, ud);
    fit_searches(&out->searches, ev, ud);
    return rc;
}

char *kubelet_dns_render(const kubelet_dns_t *d)
{
    util_buf_t b = {0};
    util_buf_puts(&b, ""); /* an empty configuration is an empty file */
    if (d->searches.n) {
        util_buf_puts(&b, "search ");
        strv_join(&b, &d->searches, " ");
        util_buf_puts(&b, "\n");
    }
    for (size_t i = 0; i < d->servers.n; i++)
        util_buf_printf(&b, "nameserver %s\n", d->servers.v[i]);
    if (d->options.n) {
        util_buf_puts(&b, "options ");
        strv_join(&b, &d->options, " ");
        util_buf_puts(&b, "\n");
    }
    return util_buf_steal(&b);
}

/* -- /etc/hosts -- */

static void host_aliases(util_buf_t *b, const cJSON *aliases)
{
    if (cJSON_GetArraySize(aliases) <= 0)
        return;
    util_buf_puts(b, "\n# Entries added by HostAliases.\n");
    const cJSON *a;
    cJSON_ArrayForEach(a, aliases)
    {
        const char *ip = jstr(a, "ip");
        util_buf_puts(b, ip ? ip : "");
        const cJSON *h;
        util_buf_puts(b, "\t");
        bool first = true;
        cJSON_ArrayForEach(h, jget(a, "hostnames"))
        {
            if (!cJSON_IsString(h))
                continue;
            util_buf_printf(b, "%s%s", first ? "" : "\t", h->valuestring);
            first = false;
        }
        util_buf_puts(b, "\n");
    }
}

char *kubelet_hosts_file(const cJSON *pod, const char *ip, const char *hostname,
                         const char *cluster_domain, const char *node_hosts)
{
    const cJSON *spec = jget(pod, "spec");
    util_buf_t b = {0};
    if (cJSON_IsTrue(jget(spec, "hostNetwork"))) { /* the node's file, plus the aliases */
        util_buf_puts(&b, node_hosts ? node_hosts : "");
    } else {
        util_buf_puts(&b, "# Kubernetes-managed hosts file.\n"
                          "127.0.0.1\tlocalhost\n"
                          "::1\tlocalhost ip6-localhost ip6-loopback\n"
                          "fe00::0\tip6-localnet\n"
                          "fe00::0\tip6-mcastprefix\n"
                          "fe00::1\tip6-allnodes\n"
                          "fe00::2\tip6-allrouters\n");
        const char *sub = jstr(spec, "subdomain");
        const char *ns = jstr(jget(pod, "metadata"), "namespace");
        if (sub && *sub)
            util_buf_printf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", ip, hostname, sub, ns ? ns : "default",
                            cluster_domain ? cluster_domain : "", hostname);
        else
            util_buf_printf(&b, "%s\t%s\n", ip, hostname);
    }
    host_aliases(&b, jget(spec, "hostAliases"));
    return util_buf_steal(&b);
}

/* -- the host file's limits, checked at start -- */

char *kubelet_dns_check_host_limits(const kubelet_dns_conf_t *c, const char *text)
{
    kubelet_dns_t d;
    kubelet_dns_parse_resolv(text, false, &d);
    int max = KUBELET_DNS_MAX_SEARCHES - (c->cluster_domain && *c->cluster_domain ? 3 : 0);
    char *msg = NULL;
    size_t total = 0;
    if ((int)d.searches.n > max)
        msg = util_strdup_printf("Resolv.conf file '%s' contains search line consisting of more "
                                 "than %d domains!",
                                 c->resolv_conf, max);
    for (size_t i = 0; !msg && i < d.searches.n; i++) {
        total += strlen(d.searches.v[i]) + (i ? 1 : 0);
        if (strlen(d.searches.v[i]) > SUBDOMAIN_MAX)
            msg = util_strdup_printf("Resolv.conf file \"%s\" contains a search path which "
                                     "length is more than allowed %d chars!",
                                     c->resolv_conf, SUBDOMAIN_MAX);
    }
    if (!msg && total > KUBELET_DNS_MAX_SEARCH_CHARS)
        msg = util_strdup_printf("Resolv.conf file '%s' contains search line which length is "
                                 "more than allowed %d chars!",
                                 c->resolv_conf, KUBELET_DNS_MAX_SEARCH_CHARS);
    kubelet_dns_free(&d);
    return msg;
}
