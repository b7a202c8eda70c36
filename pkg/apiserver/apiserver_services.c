/* apiserver_services: cluster IPs from the service CIDR and node ports from 30000-32767, with
 * upstream's conflict errors; the `kubernetes` service and its endpoints. Allocation scans the
 * stored services (the truth, also across restarts and deletes) plus the reservations of
 * creates still in flight, so nothing is ever allocated twice and a delete frees at once. */
#include "apiserver_services.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_object.h"
#include "apiserver_registry.h"

#define NODEPORT_MIN 30000
#define NODEPORT_MAX 32767
#define MAX_PENDING  256

struct apiserver_services {
    uint32_t net, mask; /* host order */
    uint32_t pending_ips[MAX_PENDING];
    size_t npending_ips;
    int pending_ports[MAX_PENDING];
    size_t npending_ports;
};

int apiserver_services_init(apiserver_t *a, const char *cidr, util_error_t *err)
{
    char buf[64];
    if (util_strlcpy(buf, cidr ? cidr : "10.43.0.0/16", sizeof(buf)) < 0)
        return util_error_make(err, EINVAL, "service CIDR too long");
    char *slash = strchr(buf, '/');
    long bits = 0;
    struct in_addr in;
    if (!slash || (*slash = '\0', inet_pton(AF_INET, buf, &in) != 1) ||
        util_parse_long(slash + 1, 8, 28, &bits) < 0)
        return util_error_make(err, EINVAL,
                               "service CIDR \"%s\" is not an IPv4 prefix of /8 to /28", cidr);
    apiserver_services_t *s = util_xcalloc(1, sizeof(*s));
    s->mask = bits ? ~0u << (32 - bits) : 0;
    s->net = ntohl(in.s_addr) & s->mask;
    a->services = s;
    return 0;
}

void apiserver_services_free(apiserver_t *a)
{
    free(a->services);
    a->services = NULL;
}

static uint32_t first_ip(const apiserver_services_t *s)
{
    return s->net + 1; /* 10.43.0.1: the kubernetes service */
}

static bool parse_ip(const char *text, uint32_t *ret)
{
    struct in_addr in;
    if (!text || inet_pton(AF_INET, text, &in) != 1)
        return false;
    *ret = ntohl(in.s_addr);
    return true;
}

static void format_ip(uint32_t ip, char out[16])
{
    struct in_addr in = {.s_addr = htonl(ip)};
    inet_ntop(AF_INET, &in, out, 16);
}

/* Every cluster IP and node port of the stored services into the two bitmaps. */
static int scan(apiserver_t *a, unsigned char *ips, unsigned char *ports, uint32_t size,
                const char *skip_ns, const char *skip_name)
{
    apiserver_services_t *s = a->services;
    const apiserver_resource_t *r = apiserver_resource_find("", "v1", "services");
    char prefix[128], end[128];
    apiserver_registry_prefix(r, "", prefix, sizeof(prefix));
    size_t elen = store_prefix_end(prefix, strlen(prefix), end);
    store_list_t l = {0};
    int rc = store_range(a->opts.store, prefix, strlen(prefix), end, elen, 0, 0, &l, NULL);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < l.n; i++) {
        cJSON *svc = cJSON_ParseWithLength(l.kvs[i]->value, l.kvs[i]->value_len);
        cJSON *meta = cJSON_GetObjectItemCaseSensitive(svc, "metadata");
        const char *ns = apiserver_obj_string(meta, "namespace");
        const char *name = apiserver_obj_string(meta, "name");
        bool skip = skip_name && ns && name && !strcmp(ns, skip_ns) && !strcmp(name, skip_name);
        const cJSON *spec = cJSON_GetObjectItemCaseSensitive(svc, "spec");
        uint32_t ip;
        if (!skip && parse_ip(apiserver_obj_string(spec, "clusterIP"), &ip) &&
            (ip & s->mask) == s->net && ip - s->net < size)
            ips[(ip - s->net) / 8] |= (unsigned char)(1u << ((ip - s->net) % 8));
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(spec, "ports"))
        {
            const cJSON *np = cJSON_GetObjectItemCaseSensitive(p, "nodePort");
            if (!skip && cJSON_IsNumber(np) && np->valueint >= NODEPORT_MIN &&
                np->valueint <= NODEPORT_MAX)
                ports[(np->valueint - NODEPORT_MIN) / 8] |=
                    (unsigned char)(1u << ((np->valueint - NODEPORT_MIN) % 8));
        }
        cJSON_Delete(svc);
    }
    store_list_free(&l);
    for (size_t i = 0; i < s->npending_ips; i++)
        if (s->pending_ips[i] - s->net < size)
            ips[(s->pending_ips[i] - s->net) / 8] |=
                (unsigned char)(1u << ((s->pending_ips[i] - s->net) % 8));
    for (size_t i = 0; i < s->npending_ports; i++)
        ports[(s->pending_ports[i] - NODEPORT_MIN) / 8] |=
            (unsigned char)(1u << ((s->pending_ports[i] - NODEPORT_MIN) % 8));
    return 0;
}

static bool bit(const unsigned char *map, uint32_t i)
{
    return map[i / 8] & (1u << (i % 8));
}

static void answer_invalid(apiserver_conn_t *c, const char *name, const char *field,
                           const char *value, const char *detail)
{
    apiserver_status_invalid(c, apiserver_resource_find("", "v1", "services"), name, field, value,
                             detail);
}

int apiserver_services_allocate(apiserver_conn_t *c, cJSON *svc, const cJSON *old,
                                apiserver_services_claim_t *claim)
{
    apiserver_t *a = c->srv;
    apiserver_services_t *s = a->services;
    *claim = (apiserver_services_claim_t){0};
    if (!s || !a->opts.store)
        return 0;
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(svc, "spec");
    const char *type = apiserver_obj_string(spec, "type");
    const char *name =
        apiserver_obj_string(cJSON_GetObjectItemCaseSensitive(svc, "metadata"), "name");
    if (!cJSON_IsObject(spec) || !type || !name || !strcmp(type, "ExternalName"))
        return 0;
    const cJSON *ospec = cJSON_GetObjectItemCaseSensitive(old, "spec");
    const char *old_ip = apiserver_obj_string(ospec, "clusterIP");
    const char *want = apiserver_obj_string(spec, "clusterIP");
    if (old_ip) { /* immutable once set */
        if (want && want[0] && strcmp(want, old_ip)) {
            answer_invalid(c, name, "spec.clusterIPs[0]", want, "may not change once set");
            return -EINVAL;
        }
        want = old_ip;
    }
    uint32_t size = ~s->mask + 1u;
    unsigned char *ips = util_xcalloc(1, size / 8 + 1);
    unsigned char ports[(NODEPORT_MAX - NODEPORT_MIN) / 8 + 1] = {0};
    const char *ns =
        apiserver_obj_string(cJSON_GetObjectItemCaseSensitive(svc, "metadata"), "namespace");
    int rc = scan(a, ips, ports, size, ns ? ns : "", old ? name : NULL);
    if (rc < 0) {
        free(ips);
        return rc;
    }
    char ipbuf[16];
    if (want && !strcmp(want, "None")) {
        /* headless: no cluster IP */
    } else if (want && want[0] && !old_ip) {
        uint32_t ip;
        if (!parse_ip(want, &ip) || (ip & s->mask) != s->net || ip == s->net ||
            ip == s->net + size - 1) {
            char detail[160];
            snprintf(detail, sizeof(detail),
                     "failed to allocate IP %s: the provided IP (%s) is not in the valid range",
                     want, want);
            answer_invalid(c, name, "spec.clusterIPs", want, detail);
            free(ips);
            return -EINVAL;
        }
        if (bit(ips, ip - s->net)) {
            char detail[128];
            snprintf(detail, sizeof(detail),
                     "failed to allocate IP %s: provided IP is already allocated", want);
            answer_invalid(c, name, "spec.clusterIPs", want, detail);
            free(ips);
            return -EEXIST;
        }
        claim->ip = ip;
    } else if (!want || !want[0]) {
        /* upstream allocates from the upper part first; sequential from .10 keeps it simple */
        for (uint32_t i = 10; i + 1 < size && !claim->ip; i++)
            if (!bit(ips, i) && s->net + i != first_ip(s))
                claim->ip = s->net + i;
        if (!claim->ip) {
            answer_invalid(c, name, "spec.clusterIPs", "", "range is full");
            free(ips);
            return -ENOSPC;
        }
    }
    free(ips);
    if (claim->ip) {
        format_ip(claim->ip, ipbuf);
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "clusterIP");
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "clusterIPs");
        cJSON_AddStringToObject(spec, "clusterIP", ipbuf);
        cJSON_AddItemToObject(spec, "clusterIPs",
                              cJSON_CreateStringArray((const char *[]){ipbuf}, 1));
    } else if (want && !strcmp(want, "None")) {
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "clusterIPs");
        cJSON_AddItemToObject(spec, "clusterIPs",
                              cJSON_CreateStringArray((const char *[]){"None"}, 1));
    }
    bool node_ports = !strcmp(type, "NodePort") || !strcmp(type, "LoadBalancer");
    cJSON *p;
    int index = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(spec, "ports"))
    {
        cJSON *np = cJSON_GetObjectItemCaseSensitive(p, "nodePort");
        if (!node_ports) {
            cJSON_DeleteItemFromObjectCaseSensitive(p, "nodePort");
            index++;
            continue;
        }
        int port = cJSON_IsNumber(np) ? np->valueint : 0;
        if (port) {
            bool kept = false; /* the same node port this service already had */
            const cJSON *op;
            cJSON_ArrayForEach(op, cJSON_GetObjectItemCaseSensitive(ospec, "ports"))
            {
                const cJSON *onp = cJSON_GetObjectItemCaseSensitive(op, "nodePort");
                kept |= cJSON_IsNumber(onp) && onp->valueint == port;
            }
            char field[48], value[16];
            snprintf(field, sizeof(field), "spec.ports[%d].nodePort", index);
            snprintf(value, sizeof(value), "%d", port);
            if (port < NODEPORT_MIN || port > NODEPORT_MAX) {
                answer_invalid(c, name, field, value,
                               "provided port is not in the valid range. The range of valid "
                               "ports is 30000-32767");
                apiserver_services_release(a, claim);
                return -EINVAL;
            }
            if (!kept && bit(ports, (uint32_t)(port - NODEPORT_MIN))) {
                answer_invalid(c, name, field, value, "provided port is already allocated");
                apiserver_services_release(a, claim);
                return -EEXIST;
            }
        } else {
            for (int cand = NODEPORT_MIN; cand <= NODEPORT_MAX && !port; cand++)
                if (!bit(ports, (uint32_t)(cand - NODEPORT_MIN)))
                    port = cand;
            if (!port) {
                answer_invalid(c, name, "spec.ports", "", "node port range is full");
                apiserver_services_release(a, claim);
                return -ENOSPC;
            }
            cJSON_DeleteItemFromObjectCaseSensitive(p, "nodePort");
            cJSON_AddNumberToObject(p, "nodePort", port);
        }
        ports[(port - NODEPORT_MIN) / 8] |= (unsigned char)(1u << ((port - NODEPORT_MIN) % 8));
        if (claim->nports < APISERVER_SERVICES_MAX_PORTS)
            claim->ports[claim->nports++] = port;
        index++;
    }
    /* reserve until the write is done */
    if (claim->ip && s->npending_ips < MAX_PENDING)
        s->pending_ips[s->npending_ips++] = claim->ip;
    for (size_t i = 0; i < claim->nports && s->npending_ports < MAX_PENDING; i++)
        s->pending_ports[s->npending_ports++] = claim->ports[i];
    return 0;
}

void apiserver_services_release(apiserver_t *a, const apiserver_services_claim_t *claim)
{
    apiserver_services_t *s = a->services;
    if (!s)
        return;
    for (size_t i = 0; i < s->npending_ips; i++)
        if (s->pending_ips[i] == claim->ip) {
            s->pending_ips[i] = s->pending_ips[--s->npending_ips];
            break;
        }
    for (size_t k = 0; k < claim->nports; k++)
        for (size_t i = 0; i < s->npending_ports; i++)
            if (s->pending_ports[i] == claim->ports[k]) {
                s->pending_ports[i] = s->pending_ports[--s->npending_ports];
                break;
            }
}

/* The address clients reach the apiserver at: the bind address, else the first non-loopback
 * IPv4 address of the host, else loopback. */
static void advertise_address(const apiserver_t *a, char out[16])
{
    const char *bind = a->opts.bind_address;
    struct in_addr in;
    if (bind && strcmp(bind, "0.0.0.0") && inet_pton(AF_INET, bind, &in) == 1) {
        snprintf(out, 16, "%s", bind);
        return;
    }
    snprintf(out, 16, "127.0.0.1");
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) < 0)
        return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out, 16);
        break;
    }
    freeifaddrs(ifs);
}

static int put(apiserver_t *a, const apiserver_resource_t *r, const char *name, const char *value,
               bool create_only, util_error_t *err)
{
    char key[256];
    apiserver_registry_key(r, "default", name, key, sizeof(key));
    store_op_t op = {.type = create_only ? STORE_OP_CREATE : STORE_OP_PUT,
                     .key = key,
                     .key_len = strlen(key),
                     .value = value,
                     .value_len = strlen(value)};
    store_txn_result_t res;
    int rc = store_txn_sync(a->opts.store, &op, 1, &res, err);
    store_txn_result_free(&res);
    if (rc == -EEXIST && create_only) {
        util_error_free(err);
        return 0;
    }
    return rc;
}

int apiserver_services_bootstrap(apiserver_t *a, util_error_t *err)
{
    if (!a->services)
        return 0;
    char ip[16], adv[16], uid[37], now[21];
    format_ip(first_ip(a->services), ip);
    advertise_address(a, adv);
    apiserver_obj_uuid(uid);
    apiserver_obj_now(now);
    char *svc = util_strdup_printf(
        "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"kubernetes\","
        "\"namespace\":\"default\",\"uid\":\"%s\",\"creationTimestamp\":\"%s\",\"labels\":{"
        "\"component\":\"apiserver\",\"provider\":\"kubernetes\"}},\"spec\":{\"type\":"
        "\"ClusterIP\",\"clusterIP\":\"%s\",\"clusterIPs\":[\"%s\"],\"ports\":[{\"name\":"
        "\"https\",\"port\":443,\"protocol\":\"TCP\",\"targetPort\":%d}],\"sessionAffinity\":"
        "\"None\",\"internalTrafficPolicy\":\"Cluster\",\"ipFamilies\":[\"IPv4\"],"
        "\"ipFamilyPolicy\":\"SingleStack\"},\"status\":{\"loadBalancer\":{}}}",
        uid, now, ip, ip, a->port);
    int rc = put(a, apiserver_resource_find("", "v1", "services"), "kubernetes", svc, true, err);
    free(svc);
    if (rc < 0)
        return rc;
    /* the endpoints follow the apiserver's address and port on every start */
    apiserver_obj_uuid(uid);
    char *ep = util_strdup_printf(
        "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"kubernetes\","
        "\"namespace\":\"default\",\"uid\":\"%s\",\"creationTimestamp\":\"%s\",\"labels\":{"
        "\"endpointslice.kubernetes.io/skip-mirror\":\"true\"}},\"subsets\":[{\"addresses\":[{"
        "\"ip\":\"%s\"}],\"ports\":[{\"name\":\"https\",\"port\":%d,\"protocol\":\"TCP\"}]}]}",
        uid, now, adv, a->port);
    rc = put(a, apiserver_resource_find("", "v1", "endpoints"), "kubernetes", ep, false, err);
    free(ep);
    if (rc < 0)
        return rc;
    /* and its EndpointSlice, as upstream's lease endpoint reconciler writes both */
    apiserver_obj_uuid(uid);
    char *slice = util_strdup_printf(
        "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":{"
        "\"name\":\"kubernetes\",\"namespace\":\"default\",\"uid\":\"%s\","
        "\"creationTimestamp\":\"%s\",\"labels\":{\"kubernetes.io/service-name\":"
        "\"kubernetes\"}},\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"%s\"],"
        "\"conditions\":{\"ready\":true}}],\"ports\":[{\"name\":\"https\",\"port\":%d,"
        "\"protocol\":\"TCP\"}]}",
        uid, now, adv, a->port);
    rc = put(a, apiserver_resource_find("discovery.k8s.io", "v1", "endpointslices"), "kubernetes",
             slice, false, err);
    free(slice);
    return rc;
}
