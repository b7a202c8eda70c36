/* controller_cidrset: the node IPAM allocator's arithmetic (upstream's nodeipam cidrset): the
 * cluster CIDR cut into node subnets of one mask, a bitmap of which are taken. Allocation takes
 * the lowest free subnet (upstream rotates a cursor; ours reuses a released subnet first, so
 * the first node always gets the first subnet and a deleted node's subnet returns). */
#include "controller/controller.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BITS_LOG2 16 /* upstream: node mask - cluster mask <= 16 */

struct controller_cidr_set {
    uint32_t base;      /* the cluster CIDR's network address (host order) */
    int cluster_prefix; /* its prefix length */
    int node_mask;      /* prefix length of a node's subnet */
    uint32_t count;     /* subnets: 2^(node_mask - cluster_prefix) */
    uint32_t used;      /* how many are taken */
    uint64_t *bits;     /* bit i: subnet i taken */
};

/* "a.b.c.d/p" into network address (masked, host order) and prefix; -EINVAL when malformed. */
static int parse_cidr(const char *s, uint32_t *ret_addr, int *ret_prefix)
{
    char ip[INET_ADDRSTRLEN];
    const char *slash = s ? strchr(s, '/') : NULL;
    long prefix;
    struct in_addr a;
    if (!slash || slash == s || (size_t)(slash - s) >= sizeof(ip))
        return -EINVAL;
    snprintf(ip, sizeof(ip), "%.*s", (int)(slash - s), s);
    if (inet_pton(AF_INET, ip, &a) != 1 || util_parse_long(slash + 1, 0, 32, &prefix) < 0)
        return -EINVAL;
    uint32_t mask = prefix ? (uint32_t)(0xffffffffull << (32 - prefix)) : 0;
    *ret_addr = ntohl(a.s_addr) & mask;
    *ret_prefix = (int)prefix;
    return 0;
}

int controller_cidr_set_new(const char *cluster_cidr, int node_mask, controller_cidr_set_t **ret,
                            util_error_t *err)
{
    uint32_t base;
    int prefix;
    if (parse_cidr(cluster_cidr, &base, &prefix) < 0)
        return util_error_make(err, EINVAL, "cluster CIDR `%s` is not an IPv4 CIDR",
                               cluster_cidr ? cluster_cidr : "");
    if (node_mask < prefix || node_mask > 30)
        return util_error_make(err, EINVAL,
                               "node CIDR mask size %d must be between the cluster CIDR's "
                               "prefix length %d and 30",
                               node_mask, prefix);
    if (node_mask - prefix > MAX_BITS_LOG2)
        return util_error_make(err, EINVAL,
                               "node CIDR mask size %d cuts cluster CIDR %s into more than 2^%d "
                               "subnets",
                               node_mask, cluster_cidr, MAX_BITS_LOG2);
    controller_cidr_set_t *s = util_xcalloc(1, sizeof(*s));
    s->base = base;
    s->cluster_prefix = prefix;
    s->node_mask = node_mask;
    s->count = 1u << (node_mask - prefix);
    s->bits = util_xcalloc((s->count + 63) / 64, sizeof(uint64_t));
    *ret = s;
    return 0;
}

void controller_cidr_set_free(controller_cidr_set_t *s)
{
    if (!s)
        return;
    free(s->bits);
    free(s);
}

static bool bit_get(const controller_cidr_set_t *s, uint32_t i)
{
    return s->bits[i / 64] >> (i % 64) & 1;
}

static void bit_put(controller_cidr_set_t *s, uint32_t i, bool on)
{
    if (bit_get(s, i) == on)
        return;
    s->bits[i / 64] ^= 1ull << (i % 64);
    s->used += on ? 1 : (uint32_t)-1;
}

/* The subnet indexes [*lo, *hi] that cidr overlaps (a larger CIDR covers several, a smaller one
 * lies inside one); -EINVAL malformed, -ERANGE outside the cluster CIDR. */
static int cidr_span(const controller_cidr_set_t *s, const char *cidr, uint32_t *lo, uint32_t *hi)
{
    uint32_t addr;
    int prefix;
    if (parse_cidr(cidr, &addr, &prefix) < 0)
        return -EINVAL;
    uint64_t first = addr, last = addr + ((1ull << (32 - prefix)) - 1);
    uint64_t cfirst = s->base, clast = s->base + ((1ull << (32 - s->cluster_prefix)) - 1);
    if (last < cfirst || first > clast)
        return -ERANGE;
    if (first < cfirst)
        first = cfirst;
    if (last > clast)
        last = clast;
    int shift = 32 - s->node_mask;
    *lo = (uint32_t)((first - cfirst) >> shift);
    *hi = (uint32_t)((last - cfirst) >> shift);
    return 0;
}

static int mark(controller_cidr_set_t *s, const char *cidr, bool on)
{
    uint32_t lo, hi;
    int r = cidr_span(s, cidr, &lo, &hi);
    if (r < 0)
        return r;
    for (uint32_t i = lo; i <= hi; i++)
        bit_put(s, i, on);
    return 0;
}

int controller_cidr_set_occupy(controller_cidr_set_t *s, const char *cidr)
{
    return mark(s, cidr, true);
}

int controller_cidr_set_release(controller_cidr_set_t *s, const char *cidr)
{
    return mark(s, cidr, false);
}

static void format_subnet(const controller_cidr_set_t *s, uint32_t i, char *out, size_t n)
{
    struct in_addr a = {.s_addr = htonl(s->base + (uint32_t)((uint64_t)i << (32 - s->node_mask)))};
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, ip, sizeof(ip));
    snprintf(out, n, "%s/%d", ip, s->node_mask);
}

int controller_cidr_set_allocate(controller_cidr_set_t *s, char *out, size_t n)
{
    if (n < CONTROLLER_CIDR_LEN)
        return -ENOBUFS;
    for (uint32_t w = 0; w < (s->count + 63) / 64; w++) {
        if (s->bits[w] == ~0ull)
            continue;
        for (uint32_t i = w * 64; i < s->count && i < (w + 1) * 64; i++) {
            if (bit_get(s, i))
                continue;
            bit_put(s, i, true);
            format_subnet(s, i, out, n);
            return 0;
        }
    }
    return -ENOSPC;
}

uint32_t controller_cidr_set_free_count(const controller_cidr_set_t *s)
{
    return s->count - s->used;
}
