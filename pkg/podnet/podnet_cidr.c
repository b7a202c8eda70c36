/* podnet_cidr: IPv4 CIDR arithmetic (cluster and node ranges) and veth name derivation. */
#include "podnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static uint32_t mask_of(int prefix)
{
    return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

int podnet_cidr_parse(const char *text, podnet_cidr_t *ret, util_error_t *err)
{
    char buf[32];
    const char *slash = text ? strchr(text, '/') : NULL;
    if (!slash || (size_t)(slash - text) >= sizeof(buf))
        return util_error_make(err, EINVAL, "invalid CIDR `%.40s`: want a.b.c.d/n",
                               text ? text : "");
    memcpy(buf, text, (size_t)(slash - text));
    buf[slash - text] = '\0';
    struct in_addr in;
    long prefix;
    if (inet_pton(AF_INET, buf, &in) != 1 || util_parse_long(slash + 1, 0, 32, &prefix) < 0)
        return util_error_make(err, EINVAL, "invalid CIDR `%.40s`: want a.b.c.d/n", text);
    uint32_t addr = ntohl(in.s_addr);
    if (addr & ~mask_of((int)prefix))
        return util_error_make(err, EINVAL, "invalid CIDR `%.40s`: host bits set", text);
    *ret = (podnet_cidr_t){.addr = addr, .prefix = (int)prefix};
    return 0;
}

void podnet_ip_format(uint32_t addr, char *buf, size_t len)
{
    snprintf(buf, len, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
             addr & 0xff);
}

void podnet_cidr_format(const podnet_cidr_t *c, char *buf, size_t len)
{
    char ip[16];
    podnet_ip_format(c->addr, ip, sizeof(ip));
    snprintf(buf, len, "%s/%d", ip, c->prefix);
}

bool podnet_cidr_contains(const podnet_cidr_t *c, uint32_t addr)
{
    return (addr & mask_of(c->prefix)) == c->addr;
}

int podnet_cidr_subnet(const podnet_cidr_t *cluster, int prefix, uint32_t index, podnet_cidr_t *ret,
                       util_error_t *err)
{
    if (prefix < cluster->prefix || prefix > 30)
        return util_error_make(err, ERANGE, "a /%d per node does not fit a /%d cluster range",
                               prefix, cluster->prefix);
    int bits = prefix - cluster->prefix;
    if (bits < 32 && (uint64_t)index >= (1ull << bits))
        return util_error_make(err, ERANGE, "node range %u is past the end of the cluster range",
                               index);
    uint32_t addr = cluster->addr | (prefix == 32 ? index : index << (32 - prefix));
    *ret = (podnet_cidr_t){.addr = addr, .prefix = prefix};
    return 0;
}

/* FNV-1a, 64 bits, through murmur3's finalizer (so uids differing in one character differ in
 * every shown digit), folded to the 32 bits the name shows. Collisions (about 1 in 10^6 for 110
 * pods) are caught at setup: each host veth carries its owner's uid in its alias. */
void podnet_veth_name(const char *pod_uid, char *buf, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)pod_uid; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    snprintf(buf, len, "veth%08x", (unsigned)((h >> 32) ^ h));
}
