/* test_kubelet: host fact parsers (fixtures of /proc/meminfo, os-release, /proc/net/route), Go
 * architecture names, quantities, pod CIDR choice, conditions and the Node object; downward API
 * field paths (kubelet_fieldpath.c); fsGroup groups and volume ownership (kubelet_fsgroup.c). */
#include "unit.h"
#include "kubelet/kubelet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIXTURES "tests/unit/fixtures/kubelet/"

static char *fixture(const char *name)
{
    char *data = NULL;
    cleanup_error util_error_t err = NULL;
    char path[256];
    snprintf(path, sizeof(path), FIXTURES "%s", name);
    if (util_read_file(path, 1 << 20, &data, NULL, &err) < 0)
        fail_msg("fixture %s: %s", path, err->msg);
    return data;
}

static void meminfo_total_and_available_in_bytes(void **state)
{
    (void)state;
    char *text = fixture("meminfo");
    uint64_t total = 0, avail = 0;
    assert_int_equal(kubelet_parse_meminfo(text, &total, &avail), 0);
    assert_true(total == 8028084ull * 1024);
    assert_true(avail == 6291456ull * 1024);
    free(text);
    text = fixture("meminfo-old-kernel"); /* no MemAvailable: MemFree */
    assert_int_equal(kubelet_parse_meminfo(text, &total, &avail), 0);
    assert_true(total == 1048576ull * 1024 && avail == 51200ull * 1024);
    free(text);
    assert_int_equal(kubelet_parse_meminfo("MemFree: 1 kB\n", &total, &avail), -EINVAL);
    assert_int_equal(kubelet_parse_meminfo("MemTotal: lots kB\n", &total, &avail), -EINVAL);
    assert_int_equal(kubelet_parse_meminfo("MemTotal: 99999999999999999999 kB\n", &total, NULL),
                     -EINVAL);
}

static void os_release_pretty_name(void **state)
{
    (void)state;
    char *text = fixture("os-release-debian");
    char *name = kubelet_parse_os_release(text);
    assert_string_equal(name, "Debian GNU/Linux 12 (bookworm)");
    free(name);
    free(text);
    text = fixture("os-release-escaped");
    name = kubelet_parse_os_release(text);
    assert_string_equal(name, "Edge \"box\" \\n 1.0"); /* single quotes keep backslashes */
    free(name);
    free(text);
    name = kubelet_parse_os_release("PRETTY_NAME=\"a \\\"b\\\"\"\n");
    assert_string_equal(name, "a \"b\"");
    free(name);
    name = kubelet_parse_os_release("NAME=x\nPRETTY_NAME=\n");
    assert_string_equal(name, "Linux");
    free(name);
    name = kubelet_parse_os_release(NULL);
    assert_string_equal(name, "Linux");
    free(name);
}

static void default_route_interface_lowest_metric_up_only(void **state)
{
    (void)state;
    char *text = fixture("route");
    char ifname[32];
    assert_int_equal(kubelet_default_route_iface(text, ifname, sizeof(ifname)), 0);
    assert_string_equal(ifname, "eth0");
    free(text);
    assert_int_equal(kubelet_default_route_iface("Iface\tDestination\n", ifname, sizeof(ifname)),
                     -ENOENT);
}

static void go_arch_names(void **state)
{
    (void)state;
    assert_string_equal(kubelet_go_arch("x86_64"), "amd64");
    assert_string_equal(kubelet_go_arch("aarch64"), "arm64");
    assert_string_equal(kubelet_go_arch("armv7l"), "arm");
    assert_string_equal(kubelet_go_arch("armv6l"), "arm");
    assert_string_equal(kubelet_go_arch("armv8l"), "arm"); /* 32-bit userland on arm64 */
    assert_string_equal(kubelet_go_arch("i686"), "386");
    assert_string_equal(kubelet_go_arch("riscv64"), "riscv64");
    assert_string_equal(kubelet_go_arch("s390x"), "s390x");
    assert_string_equal(kubelet_go_arch("loongarch64"), "loong64");
#if defined(__x86_64__)
    assert_string_equal(kubelet_go_arch(NULL), "amd64");
#elif defined(__aarch64__)
    assert_string_equal(kubelet_go_arch(NULL), "arm64");
#endif
}

static void binary_quantities_are_canonical(void **state)
{
    (void)state;
    char q[32];
    kubelet_quantity_binary(8028084ull * 1024, q, sizeof(q));
    assert_string_equal(q, "8028084Ki");
    kubelet_quantity_binary(2ull << 30, q, sizeof(q));
    assert_string_equal(q, "2Gi");
    kubelet_quantity_binary(1536ull << 20, q, sizeof(q));
    assert_string_equal(q, "1536Mi");
    kubelet_quantity_binary(1000, q, sizeof(q));
    assert_string_equal(q, "1000");
    kubelet_quantity_binary(0, q, sizeof(q));
    assert_string_equal(q, "0");
}

static cJSON *node_with_cidr(const char *name, const char *cidr)
{
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(cJSON_AddObjectToObject(n, "metadata"), "name", name);
    if (cidr)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(n, "spec"), "podCIDR", cidr);
    return n;
}

static void pod_cidr_lowest_free_slash24(void **state)
{
    (void)state;
    char out[48];
    assert_int_equal(kubelet_pick_pod_cidr("10.42.0.0/16", NULL, "a", out, sizeof(out)), 0);
    assert_string_equal(out, "10.42.0.0/24");
    cJSON *items = cJSON_CreateArray();
    cJSON_AddItemToArray(items, node_with_cidr("a", "10.42.0.0/24"));
    cJSON_AddItemToArray(items, node_with_cidr("b", "10.42.2.0/24"));
    cJSON_AddItemToArray(items, node_with_cidr("c", NULL));
    assert_int_equal(kubelet_pick_pod_cidr("10.42.0.0/16", items, "c", out, sizeof(out)), 0);
    assert_string_equal(out, "10.42.1.0/24");
    /* our own earlier CIDR does not count as taken */
    assert_int_equal(kubelet_pick_pod_cidr("10.42.0.0/16", items, "a", out, sizeof(out)), 0);
    assert_string_equal(out, "10.42.0.0/24");
    /* a /23 has two /24s, both taken */
    assert_int_equal(kubelet_pick_pod_cidr("10.42.2.0/23", items, "c", out, sizeof(out)), 0);
    assert_string_equal(out, "10.42.3.0/24");
    cJSON_AddItemToArray(items, node_with_cidr("d", "10.42.3.0/24"));
    assert_int_equal(kubelet_pick_pod_cidr("10.42.2.0/23", items, "c", out, sizeof(out)), -ENOSPC);
    cJSON_Delete(items);
    assert_int_equal(kubelet_pick_pod_cidr("10.42.0.0/25", NULL, "a", out, sizeof(out)), -EINVAL);
    assert_int_equal(kubelet_pick_pod_cidr("10.42.0.0", NULL, "a", out, sizeof(out)), -EINVAL);
    assert_int_equal(kubelet_pick_pod_cidr("fd00::/48", NULL, "a", out, sizeof(out)), -EINVAL);
    /* host bits of the cluster CIDR are ignored, as upstream's ParseCIDR does */
    assert_int_equal(kubelet_pick_pod_cidr("10.42.7.9/16", NULL, "a", out, sizeof(out)), 0);
    assert_string_equal(out, "10.42.0.0/24");
}

/* --node-cidr-mask-size: a /22 per node (1,022 pod addresses) from a /16. */
/* A saved pod CIDR is used only inside the cluster range, IPv4 /16../30, host bits zero. */
static void pod_cidr_usable(void **state)
{
    (void)state;
    assert_true(kubelet_pod_cidr_usable("10.42.0.0/16", "10.42.3.0/24"));
    assert_true(kubelet_pod_cidr_usable("10.42.0.0/16", "10.42.0.0/16"));
    assert_true(kubelet_pod_cidr_usable("10.0.0.0/8", "10.200.4.0/22"));
    assert_false(kubelet_pod_cidr_usable("10.42.0.0/16", "10.43.0.0/24")); /* outside */
    assert_false(kubelet_pod_cidr_usable("10.42.0.0/16", "10.42.0.0/8"));  /* wider */
    assert_false(kubelet_pod_cidr_usable("10.42.0.0/16", "10.42.0.4/31"));
    assert_false(kubelet_pod_cidr_usable("10.42.0.0/16", "10.42.0.1/24")); /* host bits */
    assert_false(kubelet_pod_cidr_usable("10.42.0.0/16", "10.42.0.0"));
    assert_false(kubelet_pod_cidr_usable("10.42.0.0/16", "garbage"));
    assert_false(kubelet_pod_cidr_usable("10.42.0.0/16", ""));
    assert_false(kubelet_pod_cidr_usable("10.42.0.0/16", "fd00::/64"));
    assert_false(kubelet_pod_cidr_usable("10.42.0.0/16", NULL));
    assert_false(kubelet_pod_cidr_usable(NULL, "10.42.0.0/24"));
}

/* Another Node holding the saved CIDR makes a self-assigning kubelet pick again. */
static void pod_cidr_taken(void **state)
{
    (void)state;
    cJSON *items = cJSON_CreateArray();
    cJSON_AddItemToArray(items, node_with_cidr("a", "10.42.0.0/24"));
    cJSON_AddItemToArray(items, node_with_cidr("b", "10.42.1.0/24"));
    assert_true(kubelet_pod_cidr_taken(items, "c", "10.42.0.0/24"));
    assert_false(kubelet_pod_cidr_taken(items, "a", "10.42.0.0/24")); /* our own Node */
    assert_false(kubelet_pod_cidr_taken(items, "c", "10.42.2.0/24"));
    assert_false(kubelet_pod_cidr_taken(NULL, "c", "10.42.0.0/24"));
    assert_false(kubelet_pod_cidr_taken(items, "c", NULL));
    cJSON_Delete(items);
}

static void pod_cidr_mask_size(void **state)
{
    (void)state;
    char out[48];
    assert_int_equal(kubelet_pick_pod_cidr_mask("10.42.0.0/16", 22, NULL, "a", out, sizeof(out)),
                     0);
    assert_string_equal(out, "10.42.0.0/22");
    cJSON *items = cJSON_CreateArray();
    cJSON_AddItemToArray(items, node_with_cidr("a", "10.42.0.0/22"));
    cJSON_AddItemToArray(items, node_with_cidr("b", "10.42.4.0/22"));
    assert_int_equal(kubelet_pick_pod_cidr_mask("10.42.0.0/16", 22, items, "c", out, sizeof(out)),
                     0);
    assert_string_equal(out, "10.42.8.0/22");
    /* the cluster range is the whole node range, then it is taken */
    assert_int_equal(kubelet_pick_pod_cidr_mask("10.42.0.0/22", 22, items, "c", out, sizeof(out)),
                     -ENOSPC);
    cJSON_Delete(items);
    assert_int_equal(kubelet_pick_pod_cidr_mask("10.42.0.0/16", 16, NULL, "a", out, sizeof(out)),
                     0);
    assert_string_equal(out, "10.42.0.0/16");
    assert_int_equal(kubelet_pick_pod_cidr_mask("10.42.128.0/30", 30, NULL, "a", out, sizeof(out)),
                     0);
    assert_string_equal(out, "10.42.128.0/30");
    /* a node range wider than the cluster's, or outside 16..30 */
    assert_int_equal(kubelet_pick_pod_cidr_mask("10.42.0.0/24", 22, NULL, "a", out, sizeof(out)),
                     -EINVAL);
    assert_int_equal(kubelet_pick_pod_cidr_mask("10.0.0.0/8", 15, NULL, "a", out, sizeof(out)),
                     -EINVAL);
    assert_int_equal(kubelet_pick_pod_cidr_mask("10.42.0.0/16", 31, NULL, "a", out, sizeof(out)),
                     -EINVAL);
}

static const cJSON *cond(const cJSON *arr, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, arr)
    {
        if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(c, "type")), type))
            return c;
    }
    fail_msg("no %s condition", type);
    return NULL;
}

static const char *str(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static void conditions_upstream_order_reasons_and_transitions(void **state)
{
    (void)state;
    kubelet_pressure_t ok = {0};
    cJSON *c1 = kubelet_node_conditions(&ok, "T1", "H1", NULL);
    const char *order[] = {"MemoryPressure", "DiskPressure", "PIDPressure", "Ready"};
    for (int i = 0; i < 4; i++)
        assert_string_equal(str(cJSON_GetArrayItem(c1, i), "type"), order[i]);
    assert_string_equal(str(cond(c1, "Ready"), "status"), "True");
    assert_string_equal(str(cond(c1, "Ready"), "reason"), "KubeletReady");
    assert_string_equal(str(cond(c1, "Ready"), "message"), "kubelet is posting ready status");
    assert_string_equal(str(cond(c1, "MemoryPressure"), "status"), "False");
    assert_string_equal(str(cond(c1, "MemoryPressure"), "reason"), "KubeletHasSufficientMemory");
    assert_string_equal(str(cond(c1, "DiskPressure"), "reason"), "KubeletHasNoDiskPressure");
    assert_string_equal(str(cond(c1, "PIDPressure"), "reason"), "KubeletHasSufficientPID");
    assert_string_equal(str(cond(c1, "PIDPressure"), "lastHeartbeatTime"), "H1");
    /* later: memory pressure flips (new transition time), the rest keep theirs */
    kubelet_pressure_t mem = {.memory = true};
    cJSON *c2 = kubelet_node_conditions(&mem, "T2", NULL, c1);
    assert_string_equal(str(cond(c2, "MemoryPressure"), "status"), "True");
    assert_string_equal(str(cond(c2, "MemoryPressure"), "reason"), "KubeletHasInsufficientMemory");
    assert_string_equal(str(cond(c2, "MemoryPressure"), "message"),
                        "kubelet has insufficient memory available");
    assert_string_equal(str(cond(c2, "MemoryPressure"), "lastTransitionTime"), "T2");
    assert_string_equal(str(cond(c2, "Ready"), "lastTransitionTime"), "T1");
    assert_null(cJSON_GetObjectItem(cond(c2, "Ready"), "lastHeartbeatTime"));
    cJSON_Delete(c1);
    cJSON_Delete(c2);
}

static void pressure_from_upstream_eviction_thresholds(void **state)
{
    (void)state;
    kubelet_host_t h = {.memory_bytes = 8ull << 30,
                        .memory_available = 99ull << 20,
                        .storage_bytes = 1000,
                        .storage_available = 101};
    kubelet_pressure_t p = kubelet_host_pressure(&h);
    assert_true(p.memory);
    assert_false(p.disk);
    h.memory_available = 101ull << 20;
    h.storage_available = 99;
    p = kubelet_host_pressure(&h);
    assert_false(p.memory);
    assert_true(p.disk);
    assert_false(p.pid);
}

static kubelet_host_t fixture_host(void)
{
    kubelet_host_t h = {0};
    char *mem = fixture("meminfo");
    kubelet_parse_meminfo(mem, &h.memory_bytes, &h.memory_available);
    free(mem);
    char *osr = fixture("os-release-debian");
    h.os_image = kubelet_parse_os_release(osr);
    free(osr);
    h.hostname = strdup("edge-1");
    h.cpus = 4;
    h.storage_bytes = 32ull << 30;
    h.storage_available = 16ull << 30;
    h.internal_ip = strdup("10.0.0.5");
    h.kernel_version = strdup("6.1.0-18-arm64");
    h.architecture = kubelet_go_arch("aarch64");
    h.machine_id = strdup("0123456789abcdef0123456789abcdef");
    h.boot_id = strdup("b0a");
    return h;
}

static void node_object_from_fixture_host(void **state)
{
    (void)state;
    kubelet_host_t h = fixture_host();
    const char *extra[] = {"zone=lab", "kubernetes.io/os=override"};
    kubelet_node_params_t p = {.name = "edge-1",
                               .pod_cidr = "10.42.1.0/24",
                               .control_plane = true,
                               .labels = extra,
                               .nlabels = 2,
                               .kube_version = "v1.31.0+kubeling",
                               .runtime_version = "0.1.0"};
    kubelet_pressure_t ok = {0};
    cJSON *node = kubelet_node_object(&h, &p, kubelet_node_conditions(&ok, "T", "T", NULL));
    char *text = cJSON_PrintUnformatted(node);
    const cJSON *st = cJSON_GetObjectItem(node, "status");
    const cJSON *cap = cJSON_GetObjectItem(st, "capacity");
    assert_string_equal(str(cap, "cpu"), "4");
    assert_string_equal(str(cap, "memory"), "8028084Ki");
    assert_string_equal(str(cap, "pods"), "110");
    assert_string_equal(str(cap, "ephemeral-storage"), "32Gi");
    assert_string_equal(str(cJSON_GetObjectItem(st, "allocatable"), "memory"), "8028084Ki");
    const cJSON *info = cJSON_GetObjectItem(st, "nodeInfo");
    assert_string_equal(str(info, "osImage"), "Debian GNU/Linux 12 (bookworm)");
    assert_string_equal(str(info, "architecture"), "arm64");
    assert_string_equal(str(info, "operatingSystem"), "linux");
    assert_string_equal(str(info, "containerRuntimeVersion"), "kubeling://0.1.0");
    assert_string_equal(str(info, "kubeletVersion"), "v1.31.0+kubeling");
    assert_string_equal(str(info, "kernelVersion"), "6.1.0-18-arm64");
    assert_non_null(strstr(text,
                           "\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.0.0.5\"},"
                           "{\"type\":\"Hostname\",\"address\":\"edge-1\"}]"));
    assert_non_null(strstr(text, "\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":10250}}"));
    assert_non_null(strstr(text, "\"podCIDR\":\"10.42.1.0/24\",\"podCIDRs\":[\"10.42.1.0/24\"]"));
    const cJSON *labels = cJSON_GetObjectItem(cJSON_GetObjectItem(node, "metadata"), "labels");
    assert_string_equal(str(labels, "kubernetes.io/hostname"), "edge-1");
    assert_string_equal(str(labels, "node-role.kubernetes.io/control-plane"), "true");
    assert_string_equal(str(labels, "zone"), "lab");
    assert_string_equal(str(labels, "kubernetes.io/os"), "override"); /* --node-label wins */
    /* --max-pods sets capacity and allocatable pods */
    p.max_pods = 1100;
    cJSON *st2 = kubelet_node_status(&h, &p);
    assert_string_equal(str(cJSON_GetObjectItem(st2, "capacity"), "pods"), "1100");
    assert_string_equal(str(cJSON_GetObjectItem(st2, "allocatable"), "pods"), "1100");
    cJSON_Delete(st2);
    assert_string_equal(str(labels, "beta.kubernetes.io/os"), "linux");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(st, "conditions")), 4);
    free(text);
    cJSON_Delete(node);
    /* an agent: no role labels, no pod CIDR yet */
    p.control_plane = false;
    p.pod_cidr = NULL;
    p.nlabels = 0;
    node = kubelet_node_object(&h, &p, NULL);
    labels = cJSON_GetObjectItem(cJSON_GetObjectItem(node, "metadata"), "labels");
    assert_null(cJSON_GetObjectItem(labels, "node-role.kubernetes.io/control-plane"));
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(node, "spec"), "podCIDR"));
    cJSON_Delete(node);
    kubelet_host_free(&h);
}

/* The real host: whatever it is, the facts are there and sane. */
static void host_read_on_this_machine(void **state)
{
    (void)state;
    kubelet_host_t h;
    kubelet_host_read(&h, "/", NULL);
    assert_non_null(h.hostname);
    assert_true(h.cpus >= 1);
    assert_true(h.memory_bytes > 0 && h.memory_available <= h.memory_bytes);
    assert_true(h.storage_bytes > 0);
    assert_non_null(h.internal_ip);
    assert_non_null(h.kernel_version);
    assert_non_null(h.os_image);
    for (const char *c = h.hostname; *c; c++)
        assert_false(*c >= 'A' && *c <= 'Z');
    kubelet_host_free(&h);
    kubelet_host_read(&h, NULL, "192.0.2.9");
    assert_string_equal(h.internal_ip, "192.0.2.9");
    kubelet_host_free(&h);
}

/* ---- downward API field paths ---------------------------------------------------------------- */

static const char FIELD_POD[] =
    "{\"metadata\":{\"name\":\"idx-1-abcde\",\"namespace\":\"ns\",\"uid\":\"u-1\","
    "\"labels\":{\"app\":\"web\",\"batch.kubernetes.io/job-completion-index\":\"1\"},"
    "\"annotations\":{\"batch.kubernetes.io/job-completion-index\":\"1\",\"Note\":\"x\\\"y\"}},"
    "\"spec\":{\"nodeName\":\"n1\",\"serviceAccountName\":\"sa\",\"restartPolicy\":\"Never\"}}";

static void check_field(const kubelet_field_src_t *src, const char *version, const char *path,
                        const char *want)
{
    char *v = NULL;
    cleanup_error util_error_t err = NULL;
    int r = kubelet_field_value(src, version, path, &v, &err);
    if (r < 0)
        fail_msg("%s: %s", path, err->msg);
    assert_non_null(v);
    if (strcmp(v, want))
        fail_msg("%s: '%s', want '%s'", path, v, want);
    free(v);
}

static void field_paths_of_upstream(void **state)
{
    (void)state;
    cJSON *pod = cJSON_Parse(FIELD_POD);
    kubelet_field_src_t src = {.pod = pod, .pod_ip = "10.42.0.7", .host_ip = "192.0.2.1"};
    static const struct {
        const char *path, *want;
    } cases[] = {
        {"metadata.name", "idx-1-abcde"},
        {"metadata.namespace", "ns"},
        {"metadata.uid", "u-1"},
        {"metadata.labels", "app=\"web\"\nbatch.kubernetes.io/job-completion-index=\"1\""},
        {"metadata.annotations", "Note=\"x\\\"y\"\nbatch.kubernetes.io/job-completion-index=\"1\""},
        {"metadata.annotations['batch.kubernetes.io/job-completion-index']", "1"},
        {"metadata.labels['app']", "web"},
        {"metadata.labels['absent']", ""},
        {"metadata.annotations['Note']", "x\"y"}, /* annotation keys checked lower-cased */
        {"spec.nodeName", "n1"},
        {"spec.host", "n1"}, /* old v1 clients' name for it */
        {"spec.serviceAccountName", "sa"},
        {"status.podIP", "10.42.0.7"},
        {"status.podIPs", "10.42.0.7"},
        {"status.hostIP", "192.0.2.1"},
        {"status.hostIPs", "192.0.2.1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_field(&src, "v1", cases[i].path, cases[i].want);
    check_field(&src, NULL, "metadata.name", "idx-1-abcde"); /* apiVersion left out */
    /* the caller's values win over the pod's */
    kubelet_field_src_t over = {.pod = pod, .name = "p2", .node_name = "n2"};
    check_field(&over, "v1", "metadata.name", "p2");
    check_field(&over, "v1", "spec.nodeName", "n2");
    check_field(&over, "v1", "status.podIP", "");
    /* no pod at all: names from the caller, maps empty */
    kubelet_field_src_t bare = {.name = "p3", .ns = "d"};
    check_field(&bare, "v1", "metadata.namespace", "d");
    check_field(&bare, "v1", "metadata.labels", "");
    check_field(&bare, "v1", "metadata.annotations['a']", "");
    cJSON_Delete(pod);
}

static void field_paths_refused_like_upstream(void **state)
{
    (void)state;
    cJSON *pod = cJSON_Parse(FIELD_POD);
    kubelet_field_src_t src = {.pod = pod};
    static const struct {
        const char *version, *path, *msg;
        int rc;
    } bad[] = {
        {"v2", "metadata.name", "unsupported pod version: v2", -EINVAL},
        {"v1", "spec.containers", "field label not supported: spec.containers", -EINVAL},
        {"v1", "spec.nodeName['x']", "field label does not support subscript: spec.nodeName['x']",
         -EINVAL},
        {"v1", "status.phase", "unsupported fieldPath: status.phase", -ENOTSUP},
        {"v1", "spec.restartPolicy", "unsupported fieldPath: spec.restartPolicy", -ENOTSUP},
        {"v1", "metadata.labels['a b']",
         "invalid key subscript in metadata.labels['a b']: name part must consist of "
         "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
         "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
         "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
         -EINVAL},
        {"v1", "metadata.labels['']", NULL, -EINVAL},
        {"v1", NULL, "unsupported fieldPath: ", -ENOTSUP},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *v = NULL;
        cleanup_error util_error_t err = NULL;
        assert_int_equal(kubelet_field_value(&src, bad[i].version, bad[i].path, &v, &err),
                         bad[i].rc);
        assert_null(v);
        if (bad[i].msg)
            assert_string_equal(err->msg, bad[i].msg);
    }
    cJSON_Delete(pod);
}

/* ---- fsGroup ------------------------------------------------------------------------------- */

static void pod_groups_fsgroup_first_deduplicated(void **state)
{
    (void)state;
    cJSON *spec = cJSON_Parse("{\"securityContext\":{\"fsGroup\":2000,"
                              "\"supplementalGroups\":[3000,2000,-1,1.5,4000]}}");
    gid_t g[8], fs = 0;
    assert_true(kubelet_pod_fs_group(spec, &fs));
    assert_int_equal(fs, 2000);
    assert_int_equal(kubelet_pod_groups(spec, g, 8), 3);
    assert_int_equal(g[0], 2000);
    assert_int_equal(g[1], 3000);
    assert_int_equal(g[2], 4000);
    assert_int_equal(kubelet_pod_groups(spec, g, 2), 2); /* bounded */
    cJSON_Delete(spec);
    spec = cJSON_Parse("{\"securityContext\":{\"fsGroup\":\"2000\"}}");
    assert_false(kubelet_pod_fs_group(spec, &fs));
    assert_int_equal(kubelet_pod_groups(spec, g, 8), 0);
    cJSON_Delete(spec);
}

static mode_t mode_at(const char *dir, const char *rel)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    assert_int_equal(lstat(p, &st), 0);
    return st.st_mode & 07777;
}

static void volume_ownership_like_set_volume_ownership(void **state)
{
    (void)state;
    char dir[] = "/tmp/kubeling-fsgroup-XXXXXX", p[512];
    assert_non_null(mkdtemp(dir));
    gid_t gid = getgid(); /* a group we may give files to without privileges */
    chmod(dir, 0755);
    snprintf(p, sizeof(p), "%s/sub", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/sub/f", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
    chmod(p, 0400);
    snprintf(p, sizeof(p), "%s/link", dir);
    assert_int_equal(symlink("/etc/passwd", p), 0); /* never followed */
    struct stat before;
    assert_int_equal(stat("/etc/passwd", &before), 0);
    cleanup_error util_error_t err = NULL;
    assert_int_equal(kubelet_volume_ownership(dir, gid, true, false, &err), 0);
    assert_int_equal(mode_at(dir, "."), 02755);
    assert_int_equal(mode_at(dir, "sub"), 02750);
    assert_int_equal(mode_at(dir, "sub/f"), 0440);
    struct stat after;
    assert_int_equal(stat("/etc/passwd", &after), 0);
    assert_int_equal(after.st_mode, before.st_mode);
    /* read-write: group rw; OnRootMismatch skips once the root matches */
    assert_int_equal(kubelet_volume_ownership(dir, gid, false, false, &err), 0);
    assert_int_equal(mode_at(dir, "sub/f"), 0660);
    snprintf(p, sizeof(p), "%s/sub/f", dir); /* a change a walk would undo */
    chmod(p, 0400);
    assert_int_equal(kubelet_volume_ownership(dir, gid, false, true, &err), 0);
    assert_int_equal(mode_at(dir, "sub/f"), 0400);
    assert_int_equal(kubelet_volume_ownership(dir, gid, false, false, &err), 0);
    assert_int_equal(mode_at(dir, "sub/f"), 0660);
    assert_int_equal(kubelet_volume_ownership("/nonexistent-kubeling", gid, false, false, &err),
                     -ENOENT);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    unit_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(meminfo_total_and_available_in_bytes),
        cmocka_unit_test(os_release_pretty_name),
        cmocka_unit_test(default_route_interface_lowest_metric_up_only),
        cmocka_unit_test(go_arch_names),
        cmocka_unit_test(binary_quantities_are_canonical),
        cmocka_unit_test(pod_cidr_lowest_free_slash24),
        cmocka_unit_test(pod_cidr_mask_size),
        cmocka_unit_test(pod_cidr_usable),
        cmocka_unit_test(pod_cidr_taken),
        cmocka_unit_test(conditions_upstream_order_reasons_and_transitions),
        cmocka_unit_test(pressure_from_upstream_eviction_thresholds),
        cmocka_unit_test(node_object_from_fixture_host),
        cmocka_unit_test(host_read_on_this_machine),
        cmocka_unit_test(field_paths_of_upstream),
        cmocka_unit_test(field_paths_refused_like_upstream),
        cmocka_unit_test(pod_groups_fsgroup_first_deduplicated),
        cmocka_unit_test(volume_ownership_like_set_volume_ownership),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
