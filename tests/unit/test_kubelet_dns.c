/* test_kubelet_dns: a pod's resolv.conf for every dnsPolicy (ClusterFirst, ClusterFirst with
 * hostNetwork, ClusterFirstWithHostNet, Default, None, unknown), no cluster DNS
 * (MissingClusterDNS), --resolv-conf "", dnsConfig merging (duplicates, options by name), the
 * limits (3 nameservers, 32 search paths, 2048 characters, 253-character paths) with
 * upstream's DNSConfigForming messages, the host file's parsing and k3s's choice of it, the
 * cluster DNS address from the service CIDR, and /etc/hosts with hostAliases and subdomain. */
#include "unit.h"
#include "kubelet/kubelet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HOST_RESOLV                                                                      \
    "# generated\nnameserver 192.168.1.1\nnameserver 192.168.1.2\nsearch corp.example. " \
    "lab.example\noptions timeout:2 rotate\n"

typedef struct evs {
    int n;
    char reason[8][64];
    char msg[8][4096];
    bool node[8];
} evs_t;

static void on_ev(void *ud, bool node, const char *reason, const char *message)
{
    evs_t *e = ud;
    assert_true(e->n < 8);
    snprintf(e->reason[e->n], sizeof(e->reason[0]), "%s", reason);
    snprintf(e->msg[e->n], sizeof(e->msg[0]), "%s", message);
    e->node[e->n] = node;
    e->n++;
}

static void conf(kubelet_dns_conf_t *c, const char *dns, const char *domain, const char *resolv)
{
    util_error_t err = NULL;
    assert_int_equal(kubelet_dns_conf_init(c, dns, domain, resolv, &err), 0);
}

/* The resolv.conf of pod JSON with the host file HOST_RESOLV (or host_text). */
static char *resolv_for(const kubelet_dns_conf_t *c, const char *host_text, const char *pod_json,
                        evs_t *ev)
{
    cJSON *pod = cJSON_Parse(pod_json);
    assert_non_null(pod);
    kubelet_dns_t host, out;
    assert_int_equal(kubelet_dns_parse_resolv(host_text ? host_text : HOST_RESOLV, false, &host),
                     0);
    kubelet_dns_for_pod(c, &host, pod, &out, on_ev, ev);
    char *text = kubelet_dns_render(&out);
    kubelet_dns_free(&host);
    kubelet_dns_free(&out);
    cJSON_Delete(pod);
    return text;
}

#define POD(spec) \
    "{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\",\"uid\":\"u-1\"},\"spec\":{" spec "}}"

static void expect_resolv(const kubelet_dns_conf_t *c, const char *pod, const char *want,
                          int want_events)
{
    evs_t ev = {0};
    char *got = resolv_for(c, NULL, pod, &ev);
    assert_string_equal(got, want);
    assert_int_equal(ev.n, want_events);
    free(got);
}

static void test_cluster_first(void **state)
{
    (void)state;
    kubelet_dns_conf_t c;
    conf(&c, NULL, NULL, "/nonexistent");
    const char *want = "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example "
                       "lab.example\nnameserver 10.43.0.10\noptions ndots:5\n";
    expect_resolv(&c, POD("\"dnsPolicy\":\"ClusterFirst\""), want, 0);
    expect_resolv(&c, POD(""), want, 0); /* unset: the API's default */
    /* with hostNetwork it is Default */
    expect_resolv(&c, POD("\"dnsPolicy\":\"ClusterFirst\",\"hostNetwork\":true"),
                  "search corp.example lab.example\nnameserver 192.168.1.1\nnameserver "
                  "192.168.1.2\noptions timeout:2 rotate\n",
                  0);
    /* ClusterFirstWithHostNet keeps the cluster's */
    expect_resolv(&c, POD("\"dnsPolicy\":\"ClusterFirstWithHostNet\",\"hostNetwork\":true"), want,
                  0);
    expect_resolv(&c, POD("\"dnsPolicy\":\"ClusterFirstWithHostNet\""), want, 0);
    kubelet_dns_conf_free(&c);
    /* several cluster nameservers, another domain (trailing dot dropped) */
    conf(&c, "10.0.0.10, 10.0.0.11", "corp.example.", "/nonexistent");
    expect_resolv(&c, POD(""),
                  "search shop.svc.corp.example svc.corp.example corp.example lab.example\n"
                  "nameserver 10.0.0.10\nnameserver 10.0.0.11\noptions ndots:5\n",
                  0);
    kubelet_dns_conf_free(&c);
    /* no cluster domain: the host's search paths only */
    conf(&c, NULL, "", "/nonexistent");
    expect_resolv(&c, POD(""),
                  "search corp.example lab.example\nnameserver 10.43.0.10\noptions ndots:5\n", 0);
    kubelet_dns_conf_free(&c);
}

static void test_default_and_none(void **state)
{
    (void)state;
    kubelet_dns_conf_t c;
    conf(&c, NULL, NULL, "/nonexistent");
    expect_resolv(&c, POD("\"dnsPolicy\":\"Default\""),
                  "search corp.example lab.example\nnameserver 192.168.1.1\nnameserver "
                  "192.168.1.2\noptions timeout:2 rotate\n",
                  0);
    /* None: only dnsConfig */
    expect_resolv(&c,
                  POD("\"dnsPolicy\":\"None\",\"dnsConfig\":{\"nameservers\":[\"1.2.3.4\"],"
                      "\"searches\":[\"ns1.svc.cluster-domain.example\",\"my.dns.search.suffix\"],"
                      "\"options\":[{\"name\":\"ndots\",\"value\":\"2\"},{\"name\":\"edns0\"}]}"),
                  "search ns1.svc.cluster-domain.example my.dns.search.suffix\nnameserver "
                  "1.2.3.4\noptions ndots:2 edns0\n",
                  0);
    expect_resolv(&c, POD("\"dnsPolicy\":\"None\""), "", 0); /* the API refuses it */
    kubelet_dns_conf_free(&c);
}

static void test_unknown_policy(void **state)
{
    (void)state;
    kubelet_dns_conf_t c;
    conf(&c, NULL, NULL, "/nonexistent");
    cJSON *pod = cJSON_Parse(POD("\"dnsPolicy\":\"Sometimes\""));
    kubelet_dns_t out;
    assert_int_equal(kubelet_dns_for_pod(&c, NULL, pod, &out, NULL, NULL), -EINVAL);
    char *text = kubelet_dns_render(&out); /* ClusterFirst, as upstream */
    assert_string_equal(text, "search shop.svc.cluster.local svc.cluster.local cluster.local\n"
                              "nameserver 10.43.0.10\noptions ndots:5\n");
    free(text);
    kubelet_dns_free(&out);
    cJSON_Delete(pod);
    kubelet_dns_conf_free(&c);
}

static void test_missing_cluster_dns(void **state)
{
    (void)state;
    kubelet_dns_conf_t c;
    conf(&c, "", NULL, "/nonexistent");
    assert_int_equal(c.cluster_dns.n, 0);
    evs_t ev = {0};
    char *got = resolv_for(&c, NULL, POD("\"dnsPolicy\":\"ClusterFirst\""), &ev);
    assert_string_equal(got, "search corp.example lab.example\nnameserver 192.168.1.1\nnameserver "
                             "192.168.1.2\noptions timeout:2 rotate\n");
    free(got);
    assert_int_equal(ev.n, 2);
    const char *msg = "kubelet does not have ClusterDNS IP configured and cannot create Pod using "
                      "\"ClusterFirst\" policy. Falling back to \"Default\" policy.";
    assert_true(ev.node[0]);
    assert_string_equal(ev.reason[0], "MissingClusterDNS");
    assert_string_equal(ev.msg[0], msg);
    assert_false(ev.node[1]);
    assert_string_equal(ev.reason[1], "MissingClusterDNS");
    char want[512];
    snprintf(want, sizeof(want), "pod: \"web_shop(u-1)\". %s", msg);
    assert_string_equal(ev.msg[1], want);
    /* Default and None do not need it */
    expect_resolv(&c, POD("\"dnsPolicy\":\"Default\""),
                  "search corp.example lab.example\nnameserver 192.168.1.1\nnameserver "
                  "192.168.1.2\noptions timeout:2 rotate\n",
                  0);
    kubelet_dns_conf_free(&c);
}

static void test_no_resolv_conf(void **state)
{
    (void)state;
    kubelet_dns_conf_t c;
    conf(&c, NULL, NULL, ""); /* --resolv-conf "": upstream's localhost and search "." */
    cJSON *pod = cJSON_Parse(POD("\"dnsPolicy\":\"Default\""));
    kubelet_dns_t out;
    assert_int_equal(kubelet_dns_for_pod(&c, NULL, pod, &out, NULL, NULL), 0);
    char *text = kubelet_dns_render(&out);
    assert_string_equal(text, "search .\nnameserver 127.0.0.1\n");
    free(text);
    kubelet_dns_free(&out);
    cJSON_Delete(pod);
    kubelet_dns_conf_free(&c);
}

static void test_dns_config_merge(void **state)
{
    (void)state;
    kubelet_dns_conf_t c;
    conf(&c, NULL, NULL, "/nonexistent");
    /* ClusterFirst + dnsConfig: appended without duplicates, options by name */
    expect_resolv(&c,
                  POD("\"dnsConfig\":{\"nameservers\":[\"10.43.0.10\",\"9.9.9.9\"],"
                      "\"searches\":[\"cluster.local\",\"extra.example\"],"
                      "\"options\":[{\"name\":\"ndots\",\"value\":\"1\"},{\"name\":\"edns0\"},"
                      "{\"name\":\"attempts\",\"value\":\"3\"}]}"),
                  "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example "
                  "lab.example extra.example\nnameserver 10.43.0.10\nnameserver 9.9.9.9\n"
                  "options ndots:1 edns0 attempts:3\n",
                  0);
    /* Default + dnsConfig: the host's options overridden by name, a valueless one too */
    expect_resolv(&c,
                  POD("\"dnsPolicy\":\"Default\",\"dnsConfig\":{\"options\":[{\"name\":"
                      "\"timeout\",\"value\":\"5\"},{\"name\":\"rotate\",\"value\":\"\"}]}"),
                  "search corp.example lab.example\nnameserver 192.168.1.1\nnameserver "
                  "192.168.1.2\noptions timeout:5 rotate\n",
                  0);
    kubelet_dns_conf_free(&c);
}

static void test_limits(void **state)
{
    (void)state;
    kubelet_dns_conf_t c;
    conf(&c, NULL, NULL, "/nonexistent");
    evs_t ev = {0};
    /* Default with 2 host nameservers + 2 more: the 4th is dropped */
    char *got = resolv_for(&c, NULL,
                           POD("\"dnsPolicy\":\"Default\",\"dnsConfig\":{\"nameservers\":"
                               "[\"1.1.1.1\",\"8.8.8.8\"]}"),
                           &ev);
    assert_string_equal(got, "search corp.example lab.example\nnameserver 192.168.1.1\nnameserver "
                             "192.168.1.2\nnameserver 1.1.1.1\noptions timeout:2 rotate\n");
    free(got);
    assert_int_equal(ev.n, 1);
    assert_false(ev.node[0]);
    assert_string_equal(ev.reason[0], "DNSConfigForming");
    assert_string_equal(ev.msg[0], "Nameserver limits were exceeded, some nameservers have been "
                                   "omitted, the applied nameserver line is: 192.168.1.1 "
                                   "192.168.1.2 1.1.1.1");
    /* 3 cluster + 2 host + 30 pod search paths: 32 kept */
    util_buf_t spec = {0};
    util_buf_puts(&spec, "{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},\"spec\":{"
                         "\"dnsConfig\":{\"searches\":[");
    for (int i = 0; i < 30; i++)
        util_buf_printf(&spec, "%s\"d%d.example\"", i ? "," : "", i);
    util_buf_puts(&spec, "]}}}");
    memset(&ev, 0, sizeof(ev));
    got = resolv_for(&c, NULL, spec.data, &ev);
    const char *search_line = got + strlen("search ");
    size_t words = 1;
    for (const char *p = search_line; *p && *p != '\n'; p++)
        words += *p == ' ';
    assert_int_equal(words, 32);
    assert_non_null(strstr(got, " d26.example\n"));
    assert_null(strstr(got, "d27.example"));
    assert_int_equal(ev.n, 1);
    assert_string_equal(ev.reason[0], "DNSConfigForming");
    assert_true(util_str_has_prefix(ev.msg[0],
                                    "Search Line limits were exceeded, some search "
                                    "paths have been omitted, the applied search line "
                                    "is: shop.svc.cluster.local svc.cluster.local "
                                    "cluster.local corp.example lab.example d0.example"));
    free(got);
    /* 2048 characters: 9 paths of 250 (2258 with spaces) keep 8 (2007) ... and one of 254 goes */
    util_buf_reset(&spec);
    util_buf_puts(&spec, "{\"metadata\":{\"name\":\"w\",\"namespace\":\"n\"},\"spec\":{"
                         "\"dnsPolicy\":\"None\",\"dnsConfig\":{\"nameservers\":[\"1.2.3.4\"],"
                         "\"searches\":[");
    char path[300];
    for (int i = 0; i < 10; i++) {
        int len = i == 3 ? 254 : 250;
        memset(path, 'a' + i, (size_t)len);
        path[len] = 0;
        util_buf_printf(&spec, "%s\"%s\"", i ? "," : "", path);
    }
    util_buf_puts(&spec, "]}}}");
    memset(&ev, 0, sizeof(ev));
    got = resolv_for(&c, NULL, spec.data, &ev);
    char *nl = strchr(got, '\n');
    assert_non_null(nl);
    size_t line = (size_t)(nl - got) - strlen("search ");
    assert_int_equal(line, 8 * 250 + 7);
    assert_null(strstr(got, "dddd")); /* the 254-character one */
    assert_non_null(strstr(got, "iiii"));
    assert_null(strstr(got, "jjjj"));
    assert_int_equal(ev.n, 1);
    free(got);
    util_buf_free(&spec);
    kubelet_dns_conf_free(&c);
}

static void test_parse_resolv(void **state)
{
    (void)state;
    kubelet_dns_t d;
    assert_int_equal(kubelet_dns_parse_resolv("nameserver 1.1.1.1\n  # c\nsearch a b\nsearch c. "
                                              "d\noptions x\noptions y:1 z\nnameserver ::1\n"
                                              "domain ignored\nnameserver\t127.0.0.53 # x\n",
                                              false, &d),
                     0);
    assert_int_equal(d.servers.n, 3);
    assert_string_equal(d.servers.v[2], "127.0.0.53");
    assert_int_equal(d.searches.n, 2);
    assert_string_equal(d.searches.v[0], "c");
    assert_string_equal(d.options.v[0], "y:1");
    assert_int_equal(d.options.n, 2);
    kubelet_dns_free(&d);
    /* without what a pod cannot reach */
    assert_int_equal(kubelet_dns_parse_resolv("nameserver 127.0.0.53\nnameserver ::1\nnameserver "
                                              "10.0.0.2\nnameserver fe80::1\nsearch x\n",
                                              true, &d),
                     0);
    assert_int_equal(d.servers.n, 1);
    assert_string_equal(d.servers.v[0], "10.0.0.2");
    kubelet_dns_free(&d);
    assert_int_equal(kubelet_dns_parse_resolv("nameserver\n", false, &d), -EINVAL);
    kubelet_dns_free(&d);
    assert_int_equal(kubelet_dns_parse_resolv(NULL, false, &d), 0);
    assert_int_equal(d.servers.n, 0);
    kubelet_dns_free(&d);
    /* k3s's choice of the host file */
    assert_false(kubelet_dns_resolv_usable("nameserver 127.0.0.53\noptions edns0\n"));
    assert_false(kubelet_dns_resolv_usable("nameserver 10.0.0.2\nnameserver 127.0.0.1\n"));
    assert_false(kubelet_dns_resolv_usable("search x\n"));
    assert_false(kubelet_dns_resolv_usable("nameserver 224.0.0.251\n"));
    assert_true(kubelet_dns_resolv_usable("nameserver 10.0.0.2\nnameserver 2001:db8::53\n"));
}

static void test_conf(void **state)
{
    (void)state;
    kubelet_dns_conf_t c;
    util_error_t err = NULL;
    assert_int_equal(kubelet_dns_conf_init(&c, "10.0.0.1,nope", NULL, NULL, &err), -EINVAL);
    assert_non_null(strstr(err->msg, "`nope` is not an IP address"));
    util_error_free(&err);
    assert_int_equal(kubelet_dns_conf_init(&c, "fd00::a", NULL, NULL, &err), 0);
    assert_string_equal(c.cluster_dns.v[0], "fd00::a");
    assert_string_equal(c.cluster_domain, "cluster.local");
    assert_non_null(c.resolv_conf); /* picked on this machine */
    kubelet_dns_conf_free(&c);
    char ip[64];
    assert_int_equal(kubelet_dns_service_ip("10.43.0.0/16", 10, ip, sizeof(ip)), 0);
    assert_string_equal(ip, "10.43.0.10");
    assert_int_equal(kubelet_dns_service_ip("10.96.5.7/12", 10, ip, sizeof(ip)), 0);
    assert_string_equal(ip, "10.96.0.10");
    assert_int_equal(kubelet_dns_service_ip("10.0.0.0/29", 10, ip, sizeof(ip)), -ERANGE);
    assert_int_equal(kubelet_dns_service_ip("10.0.0.0", 10, ip, sizeof(ip)), -EINVAL);
    assert_int_equal(kubelet_dns_service_ip("fd00::/108", 10, ip, sizeof(ip)), -EINVAL);
    assert_int_equal(kubelet_dns_service_ip("10.0.0.0/33", 10, ip, sizeof(ip)), -EINVAL);
}

static void test_host_limits(void **state)
{
    (void)state;
    kubelet_dns_conf_t c;
    conf(&c, NULL, NULL, "/etc/test-resolv.conf");
    util_buf_t b = {0};
    util_buf_puts(&b, "nameserver 10.0.0.2\nsearch");
    for (int i = 0; i < 29; i++)
        util_buf_printf(&b, " d%d.example", i);
    util_buf_puts(&b, "\n");
    assert_null(kubelet_dns_check_host_limits(&c, b.data)); /* 29 + the cluster's 3 */
    util_buf_reset(&b);
    util_buf_puts(&b, "search");
    for (int i = 0; i < 30; i++)
        util_buf_printf(&b, " d%d.example", i);
    char *msg = kubelet_dns_check_host_limits(&c, b.data);
    assert_string_equal(msg, "Resolv.conf file '/etc/test-resolv.conf' contains search line "
                             "consisting of more than 29 domains!");
    free(msg);
    kubelet_dns_conf_free(&c);
    conf(&c, NULL, "", "/etc/test-resolv.conf"); /* no cluster domain: 32 */
    assert_null(kubelet_dns_check_host_limits(&c, b.data));
    util_buf_reset(&b);
    util_buf_puts(&b, "search a.example ");
    for (int i = 0; i < 254; i++)
        util_buf_puts(&b, "x");
    msg = kubelet_dns_check_host_limits(&c, b.data);
    assert_string_equal(msg, "Resolv.conf file \"/etc/test-resolv.conf\" contains a search path "
                             "which length is more than allowed 253 chars!");
    free(msg);
    util_buf_reset(&b);
    util_buf_puts(&b, "search");
    for (int i = 0; i < 9; i++) {
        util_buf_puts(&b, " ");
        for (int j = 0; j < 250; j++)
            util_buf_puts(&b, "y");
    }
    msg = kubelet_dns_check_host_limits(&c, b.data);
    assert_string_equal(msg, "Resolv.conf file '/etc/test-resolv.conf' contains search line "
                             "which length is more than allowed 2048 chars!");
    free(msg);
    assert_null(kubelet_dns_check_host_limits(&c, NULL));
    util_buf_free(&b);
    kubelet_dns_conf_free(&c);
}

static void test_hosts(void **state)
{
    (void)state;
    const char *head = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost "
                       "ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\t"
                       "ip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n";
    cJSON *pod = cJSON_Parse(POD("\"hostAliases\":[{\"ip\":\"127.0.0.1\",\"hostnames\":[\"foo."
                                 "local\",\"bar.local\"]},{\"ip\":\"10.1.2.3\",\"hostnames\":["
                                 "\"foo.remote\"]}]"));
    char *h = kubelet_hosts_file(pod, "10.42.0.5", "web", "cluster.local", NULL);
    char want[1024];
    snprintf(want, sizeof(want),
             "%s10.42.0.5\tweb\n\n# Entries added by HostAliases.\n127.0.0.1\tfoo.local\t"
             "bar.local\n10.1.2.3\tfoo.remote\n",
             head);
    assert_string_equal(h, want);
    free(h);
    cJSON_Delete(pod);
    /* subdomain: the FQDN first */
    pod = cJSON_Parse(POD("\"hostname\":\"db-0\",\"subdomain\":\"db\""));
    h = kubelet_hosts_file(pod, "10.42.0.6", "db-0", "cluster.local", NULL);
    snprintf(want, sizeof(want), "%s10.42.0.6\tdb-0.db.shop.svc.cluster.local\tdb-0\n", head);
    assert_string_equal(h, want);
    free(h);
    cJSON_Delete(pod);
    /* hostNetwork: the node's file, plus the aliases */
    pod = cJSON_Parse(POD("\"hostNetwork\":true,\"hostAliases\":[{\"ip\":\"1.2.3.4\","
                          "\"hostnames\":[\"x\"]}]"));
    h = kubelet_hosts_file(pod, "192.168.1.9", "node1", "cluster.local", "127.0.0.1 localhost\n");
    assert_string_equal(h, "127.0.0.1 localhost\n\n# Entries added by HostAliases.\n1.2.3.4\tx\n");
    free(h);
    cJSON_Delete(pod);
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_first),  cmocka_unit_test(test_default_and_none),
        cmocka_unit_test(test_unknown_policy), cmocka_unit_test(test_missing_cluster_dns),
        cmocka_unit_test(test_no_resolv_conf), cmocka_unit_test(test_dns_config_merge),
        cmocka_unit_test(test_limits),         cmocka_unit_test(test_parse_resolv),
        cmocka_unit_test(test_conf),           cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_host_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
