/* kubelet_host: facts about the machine the Node reports (cpu, memory, storage, addresses,
 * kernel, OS image, ids), read from /proc, /sys, /etc and the kernel. */
#include "kubelet/kubelet.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#define SMALL_FILE_MAX (256u << 10)

#if defined(__x86_64__)
#define BUILD_MACHINE "x86_64"
#elif defined(__aarch64__)
#define BUILD_MACHINE "aarch64"
#elif defined(__arm__)
#define BUILD_MACHINE "armv7l"
#elif defined(__i386__)
#define BUILD_MACHINE "i686"
#elif defined(__riscv) && __riscv_xlen == 64
#define BUILD_MACHINE "riscv64"
#else
#define BUILD_MACHINE NULL
#endif

const char *kubelet_go_arch(const char *machine)
{
    static const struct {
        const char *machine, *go;
    } map[] = {
        {"x86_64", "amd64"},    {"amd64", "amd64"},        {"aarch64", "arm64"},
        {"arm64", "arm64"},     {"aarch64_be", "arm64be"}, {"i386", "386"},
        {"i486", "386"},        {"i586", "386"},           {"i686", "386"},
        {"riscv64", "riscv64"}, {"ppc64le", "ppc64le"},    {"ppc64", "ppc64"},
        {"s390x", "s390x"},     {"mips64", "mips64"},      {"loongarch64", "loong64"},
    };
    struct utsname u;
    if (!machine)
        machine = BUILD_MACHINE;
    if (!machine && uname(&u) == 0)
        machine = u.machine;
    if (!machine)
        return "unknown";
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(map); i++)
        if (!strcmp(machine, map[i].machine))
            return map[i].go;
    if (!strncmp(machine, "arm", 3)) /* armv6l, armv7l, armv8l (32-bit on arm64), armhf */
        return "arm";
    return machine;
}

/* ---- parsers of /proc and /etc texts -------------------------------------------------------- */

static bool meminfo_field(const char *text, const char *name, uint64_t *ret)
{
    size_t n = strlen(name);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, name, n) != 0 || line[n] != ':')
            continue;
        char *end;
        errno = 0;
        unsigned long long kb = strtoull(line + n + 1, &end, 10);
        if (errno || end == line + n + 1 || kb > UINT64_MAX / 1024)
            return false;
        while (*end == ' ')
            end++;
        *ret = (uint64_t)kb * (strncmp(end, "kB", 2) == 0 ? 1024 : 1);
        return true;
    }
    return false;
}

int kubelet_parse_meminfo(const char *text, uint64_t *ret_total, uint64_t *ret_available)
{
    uint64_t total = 0, avail = 0, free_ = 0;
    if (!text || !meminfo_field(text, "MemTotal", &total))
        return -EINVAL;
    if (!meminfo_field(text, "MemAvailable", &avail)) /* kernels before 3.14 */
        avail = meminfo_field(text, "MemFree", &free_) ? free_ : 0;
    *ret_total = total;
    if (ret_available)
        *ret_available = avail;
    return 0;
}

/* The value of a KEY=value os-release line: shell-like quoting, backslash escapes. */
static char *os_release_value(const char *v, size_t len)
{
    util_buf_t b = {0};
    char quote = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = v[i];
        if (!quote && (ch == '"' || ch == '\'')) {
            quote = ch;
        } else if (quote && ch == quote) {
            quote = 0;
        } else if (ch == '\\' && quote != '\'' && i + 1 < len) {
            util_buf_append(&b, &v[++i], 1);
        } else {
            util_buf_append(&b, &ch, 1);
        }
    }
    return util_buf_steal(&b);
}

char *kubelet_parse_os_release(const char *text)
{
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len > 12 && !strncmp(line, "PRETTY_NAME=", 12)) {
            char *v = os_release_value(line + 12, len - 12);
            if (v && *v)
                return v;
            free(v);
        }
        line = nl ? nl + 1 : NULL;
    }
    return util_xstrdup("Linux");
}

int kubelet_default_route_iface(const char *text, char *ifname, size_t n)
{
    unsigned long best_metric = ULONG_MAX;
    int found = -ENOENT;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        char iface[IF_NAMESIZE + 1];
        unsigned long dest, gw, flags, metric, mask;
        int refcnt, use;
        /* Iface Destination Gateway Flags RefCnt Use Metric Mask ... (hex, host order) */
        if (sscanf(line, "%16s %lx %lx %lx %d %d %lu %lx", iface, &dest, &gw, &flags, &refcnt, &use,
                   &metric, &mask) == 8 &&
            dest == 0 && mask == 0 && (flags & 1) && metric < best_metric) {
            if (util_strlcpy(ifname, iface, n) == 0) {
                best_metric = metric;
                found = 0;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return found;
}

/* ---- reading the host ----------------------------------------------------------------------- */

static char *read_small(const char *path)
{
    char *data = NULL;
    cleanup_error util_error_t err = NULL;
    if (util_read_file(path, SMALL_FILE_MAX, &data, NULL, &err) < 0)
        return NULL;
    return data;
}

/* The first line of a file, trimmed; NULL when missing or empty. */
static char *read_line(const char *path)
{
    char *s = read_small(path);
    if (!s)
        return NULL;
    s[strcspn(s, "\r\n")] = '\0';
    if (!*s) {
        free(s);
        return NULL;
    }
    return s;
}

static char *iface_ipv4(const char *want)
{
    struct ifaddrs *ifa = NULL;
    char *found = NULL;
    if (getifaddrs(&ifa) < 0)
        return NULL;
    for (struct ifaddrs *i = ifa; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK) ||
            !(i->ifa_flags & IFF_UP) || (want && strcmp(i->ifa_name, want)))
            continue;
        char ip[INET_ADDRSTRLEN];
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(void *)i->ifa_addr;
        if (inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip)))
            found = util_xstrdup(ip);
    }
    freeifaddrs(ifa);
    return found;
}

/* The address of the default-route interface, else of any interface, else loopback. */
static char *internal_ip(void)
{
    char *routes = read_small("/proc/net/route");
    char ifname[IF_NAMESIZE + 1];
    char *ip = NULL;
    if (routes && kubelet_default_route_iface(routes, ifname, sizeof(ifname)) == 0)
        ip = iface_ipv4(ifname);
    free(routes);
    if (!ip)
        ip = iface_ipv4(NULL);
    return ip ? ip : util_xstrdup("127.0.0.1");
}

static long cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

void kubelet_host_refresh(kubelet_host_t *h, const char *storage_dir)
{
    char *mem = read_small("/proc/meminfo");
    if (mem)
        kubelet_parse_meminfo(mem, &h->memory_bytes, &h->memory_available);
    free(mem);
    struct statvfs vfs;
    if (storage_dir && statvfs(storage_dir, &vfs) == 0) {
        h->storage_bytes = (uint64_t)vfs.f_blocks * vfs.f_frsize;
        h->storage_available = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    }
}

void kubelet_resolve_node_name(const char *flag, char *out, size_t n)
{
    if (flag && *flag) {
        snprintf(out, n, "%s", flag);
        return;
    }
    char host[HOST_NAME_MAX + 1] = "";
    if (gethostname(host, sizeof(host)) < 0 || !host[0])
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    for (char *p = host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    snprintf(out, n, "%s", host);
}

void kubelet_host_read(kubelet_host_t *h, const char *storage_dir, const char *node_ip)
{
    *h = (kubelet_host_t){0};
    char host[HOST_NAME_MAX + 1];
    kubelet_resolve_node_name(NULL, host, sizeof(host));
    h->hostname = util_xstrdup(host);
    h->cpus = cpu_count();
    kubelet_host_refresh(h, storage_dir);
    h->internal_ip = node_ip && *node_ip ? util_xstrdup(node_ip) : internal_ip();
    struct utsname u;
    if (uname(&u) == 0)
        h->kernel_version = util_xstrdup(u.release);
    char *osr = read_small("/etc/os-release");
    if (!osr)
        osr = read_small("/usr/lib/os-release");
    h->os_image = kubelet_parse_os_release(osr);
    free(osr);
    h->architecture = kubelet_go_arch(NULL);
    h->machine_id = read_line("/etc/machine-id");
    if (!h->machine_id)
        h->machine_id = read_line("/var/lib/dbus/machine-id");
    h->system_uuid = read_line("/sys/class/dmi/id/product_uuid");
    h->boot_id = read_line("/proc/sys/kernel/random/boot_id");
}

void kubelet_host_free(kubelet_host_t *h)
{
    if (!h)
        return;
    free(h->hostname);
    free(h->internal_ip);
    free(h->kernel_version);
    free(h->os_image);
    free(h->machine_id);
    free(h->system_uuid);
    free(h->boot_id);
    *h = (kubelet_host_t){0};
}
