/* controller_endpoints_calc: what the Endpoints and EndpointSlice controllers compute from a
 * Service and its pods, as upstream's endpoints controller and endpointslice reconciler do:
 * which pods count, the pod port each service port targets (named targetPorts per pod), ready
 * and not-ready addresses grouped by port set, slice endpoints with ready/serving/terminating
 * conditions, the last-change trigger time. Pure functions, tested in tests/unit. */
#include "controller/controller.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(jget(o, k));
}

static bool jtrue(const cJSON *o, const char *k)
{
    return cJSON_IsTrue(jget(o, k));
}

static bool deleting(const cJSON *obj)
{
    const cJSON *d = jget(jget(obj, "metadata"), "deletionTimestamp");
    return d && !cJSON_IsNull(d);
}

bool controller_selector_map_matches(const cJSON *selector, const cJSON *obj)
{
    if (!cJSON_IsObject(selector) || !selector->child)
        return false; /* a Service without selector selects nothing */
    const cJSON *labels = jget(jget(obj, "metadata"), "labels");
    const cJSON *kv;
    cJSON_ArrayForEach(kv, selector)
    {
        const char *want = cJSON_GetStringValue(kv), *have = jstr(labels, kv->string);
        if (!want || !have || strcmp(want, have))
            return false;
    }
    return true;
}

bool controller_service_headless(const cJSON *svc)
{
    const char *ip = jstr(jget(svc, "spec"), "clusterIP");
    return ip && !strcmp(ip, "None");
}

const char *controller_pod_ip(const cJSON *pod)
{
    const char *ip = jstr(jget(pod, "status"), "podIP");
    return ip && *ip ? ip : NULL;
}

/* upstream ShouldPodBeInEndpoints: an IP, not terminal, not terminating unless asked. */
bool controller_pod_in_endpoints(const cJSON *pod, bool include_terminating)
{
    if (!controller_pod_ip(pod))
        return false;
    if (!include_terminating && deleting(pod))
        return false;
    const char *phase = jstr(jget(pod, "status"), "phase");
    return !phase || (strcmp(phase, "Failed") && strcmp(phase, "Succeeded"));
}

static int find_named_port(const cJSON *containers, const char *name, const char *proto)
{
    const cJSON *c, *p;
    cJSON_ArrayForEach(c, containers)
    {
        cJSON_ArrayForEach(p, jget(c, "ports"))
        {
            const char *n = jstr(p, "name"), *pr = jstr(p, "protocol");
            if (!n || strcmp(n, name) || strcmp(pr ? pr : "TCP", proto))
                continue;
            double v = cJSON_GetNumberValue(jget(p, "containerPort"));
            if (v >= 1 && v <= 65535)
                return (int)v;
        }
    }
    return -1;
}

int controller_find_port(const cJSON *pod, const cJSON *svc_port)
{
    const cJSON *tp = jget(svc_port, "targetPort");
    if (!tp)
        tp = jget(svc_port, "port");
    if (cJSON_IsNumber(tp))
        return tp->valuedouble >= 1 && tp->valuedouble <= 65535 ? (int)tp->valuedouble : -1;
    const char *name = cJSON_GetStringValue(tp);
    if (!name || !*name)
        return -1;
    const char *proto = jstr(svc_port, "protocol");
    if (!proto)
        proto = "TCP";
    const cJSON *spec = jget(pod, "spec");
    int port = find_named_port(jget(spec, "containers"), name, proto);
    if (port > 0)
        return port;
    /* sidecars (init containers that keep running) are searched too, as upstream */
    const cJSON *c;
    cJSON_ArrayForEach(c, jget(spec, "initContainers"))
    {
        const char *rp = jstr(c, "restartPolicy");
        if (!rp || strcmp(rp, "Always"))
            continue;
        cJSON *one = cJSON_CreateArrayReference(c);
        port = find_named_port(one, name, proto);
        cJSON_Delete(one);
        if (port > 0)
            return port;
    }
    return -1;
}

/* The ports of svc that resolve on pod: [{name, port, protocol, appProtocol}] sorted by name and
 * port; an empty array for a port-less (headless) service; NULL when the service has ports and
 * none resolves (the pod is left out). */
static cJSON *pod_ports(const cJSON *svc, const cJSON *pod)
{
    const cJSON *ports = jget(jget(svc, "spec"), "ports");
    cJSON *out = cJSON_CreateArray();
    if (cJSON_GetArraySize(ports) == 0)
        return out;
    const cJSON *sp;
    cJSON_ArrayForEach(sp, ports)
    {
        int port = controller_find_port(pod, sp);
        if (port < 0)
            continue;
        cJSON *ep = cJSON_CreateObject();
        const char *name = jstr(sp, "name"), *proto = jstr(sp, "protocol");
        const char *app = jstr(sp, "appProtocol");
        cJSON_AddStringToObject(ep, "name", name ? name : "");
        cJSON_AddNumberToObject(ep, "port", port);
        cJSON_AddStringToObject(ep, "protocol", proto ? proto : "TCP");
        if (app)
            cJSON_AddStringToObject(ep, "appProtocol", app);
        /* insertion sort by (name, port) */
        int idx = 0;
        const cJSON *at;
        cJSON_ArrayForEach(at, out)
        {
            int c = strcmp(jstr(at, "name"), name ? name : "");
            if (c > 0 || (c == 0 && cJSON_GetNumberValue(jget(at, "port")) > port))
                break;
            idx++;
        }
        cJSON_InsertItemInArray(out, idx, ep);
    }
    if (!out->child) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

/* IPv4 addresses in numeric order (others after them, by text), then by pod UID. */
static int addr_cmp(const cJSON *a, const cJSON *b, const char *ipfield)
{
    const cJSON *ia = jget(a, ipfield), *ib = jget(b, ipfield);
    if (cJSON_IsArray(ia)) { /* slice endpoints: addresses[0] */
        ia = cJSON_GetArrayItem(ia, 0);
        ib = cJSON_GetArrayItem(ib, 0);
    }
    const char *sa = cJSON_GetStringValue(ia), *sb = cJSON_GetStringValue(ib);
    struct in_addr na, nb;
    bool va = sa && inet_pton(AF_INET, sa, &na) == 1, vb = sb && inet_pton(AF_INET, sb, &nb) == 1;
    int c = 0;
    if (va && vb)
        c = ntohl(na.s_addr) < ntohl(nb.s_addr) ? -1 : ntohl(na.s_addr) > ntohl(nb.s_addr);
    else if (va != vb)
        c = va ? -1 : 1;
    else
        c = strcmp(sa ? sa : "", sb ? sb : "");
    if (c)
        return c;
    const char *ua = jstr(jget(a, "targetRef"), "uid"), *ub = jstr(jget(b, "targetRef"), "uid");
    return strcmp(ua ? ua : "", ub ? ub : "");
}

static void insert_sorted(cJSON *arr, cJSON *item, const char *ipfield)
{
    int idx = 0;
    const cJSON *at;
    cJSON_ArrayForEach(at, arr)
    {
        if (addr_cmp(at, item, ipfield) > 0)
            break;
        idx++;
    }
    cJSON_InsertItemInArray(arr, idx, item);
}

static cJSON *target_ref(const cJSON *pod)
{
    const cJSON *meta = jget(pod, "metadata");
    cJSON *ref = cJSON_CreateObject();
    cJSON_AddStringToObject(ref, "kind", "Pod");
    const char *ns = jstr(meta, "namespace"), *name = jstr(meta, "name"), *uid = jstr(meta, "uid");
    if (ns)
        cJSON_AddStringToObject(ref, "namespace", ns);
    if (name)
        cJSON_AddStringToObject(ref, "name", name);
    if (uid)
        cJSON_AddStringToObject(ref, "uid", uid);
    return ref;
}

/* The pod's hostname when it asks for one under this service (spec.subdomain = service name). */
static const char *pod_hostname(const cJSON *svc, const cJSON *pod)
{
    const cJSON *spec = jget(pod, "spec");
    const char *h = jstr(spec, "hostname"), *sub = jstr(spec, "subdomain");
    const char *svcname = jstr(jget(svc, "metadata"), "name");
    const char *sns = jstr(jget(svc, "metadata"), "namespace");
    const char *pns = jstr(jget(pod, "metadata"), "namespace");
    if (!h || !*h || !sub || !svcname || strcmp(sub, svcname) || !sns || !pns || strcmp(sns, pns))
        return NULL;
    return h;
}

/* The group (subset or slice) of pods with this port set in groups, created when absent. */
static cJSON *group_for(cJSON *groups, cJSON *ports)
{
    char *key = cJSON_PrintUnformatted(ports);
    cJSON *g;
    cJSON_ArrayForEach(g, groups)
    {
        if (!strcmp(jstr(g, "key"), key)) {
            free(key);
            cJSON_Delete(ports);
            return g;
        }
    }
    g = cJSON_CreateObject();
    cJSON_AddStringToObject(g, "key", key);
    cJSON_AddItemToObject(g, "ports", ports);
    free(key);
    /* groups in key order, so the result does not depend on pod order */
    int idx = 0;
    const cJSON *at;
    cJSON_ArrayForEach(at, groups)
    {
        if (strcmp(jstr(at, "key"), jstr(g, "key")) > 0)
            break;
        idx++;
    }
    cJSON_InsertItemInArray(groups, idx, g);
    return g;
}

static cJSON *array_in(cJSON *o, const char *k)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(o, k);
    return a ? a : cJSON_AddArrayToObject(o, k);
}

/* Keeps the first `budget` addresses (ready ones first), as upstream caps an Endpoints object. */
static void truncate_subsets(cJSON *subsets, int budget)
{
    static const char *const kinds[] = {"addresses", "notReadyAddresses"};
    for (size_t k = 0; k < 2; k++) {
        cJSON *s;
        cJSON_ArrayForEach(s, subsets)
        {
            cJSON *a = cJSON_GetObjectItemCaseSensitive(s, kinds[k]);
            int n = cJSON_GetArraySize(a);
            int keep = n < budget ? n : budget;
            for (int i = n - 1; i >= keep; i--)
                cJSON_DeleteItemFromArray(a, i);
            budget -= keep;
            if (a && !a->child)
                cJSON_DeleteItemFromObjectCaseSensitive(s, kinds[k]);
        }
    }
    for (int i = cJSON_GetArraySize(subsets) - 1; i >= 0; i--) {
        cJSON *s = cJSON_GetArrayItem(subsets, i);
        if (!jget(s, "addresses") && !jget(s, "notReadyAddresses"))
            cJSON_DeleteItemFromArray(subsets, i);
    }
}

cJSON *controller_endpoints_subsets(const cJSON *svc, const cJSON *const *pods, size_t n,
                                    bool *truncated)
{
    bool publish = jtrue(jget(svc, "spec"), "publishNotReadyAddresses");
    cJSON *groups = cJSON_CreateArray();
    int total = 0;
    for (size_t i = 0; i < n; i++) {
        const cJSON *pod = pods[i];
        if (!controller_pod_in_endpoints(pod, publish))
            continue;
        cJSON *ports = pod_ports(svc, pod);
        if (!ports)
            continue;
        cJSON *addr = cJSON_CreateObject();
        cJSON_AddStringToObject(addr, "ip", controller_pod_ip(pod));
        const char *host = pod_hostname(svc, pod);
        if (host)
            cJSON_AddStringToObject(addr, "hostname", host);
        const char *node = jstr(jget(pod, "spec"), "nodeName");
        if (node && *node)
            cJSON_AddStringToObject(addr, "nodeName", node);
        cJSON_AddItemToObject(addr, "targetRef", target_ref(pod));
        cJSON *g = group_for(groups, ports);
        bool ready = publish || controller_pod_ready(pod);
        insert_sorted(array_in(g, ready ? "addresses" : "notReadyAddresses"), addr, "ip");
        total++;
    }
    cJSON *subsets = cJSON_CreateArray();
    cJSON *g;
    while ((g = cJSON_DetachItemFromArray(groups, 0))) {
        cJSON_DeleteItemFromObjectCaseSensitive(g, "key");
        cJSON *ports = cJSON_DetachItemFromObjectCaseSensitive(g, "ports");
        if (cJSON_GetArraySize(ports) > 0)
            cJSON_AddItemToObject(g, "ports", ports);
        else
            cJSON_Delete(ports);
        cJSON_AddItemToArray(subsets, g);
    }
    cJSON_Delete(groups);
    *truncated = total > CONTROLLER_EP_MAX_ADDRESSES;
    if (*truncated)
        truncate_subsets(subsets, CONTROLLER_EP_MAX_ADDRESSES);
    return subsets;
}

cJSON *controller_slice_groups(const cJSON *svc, const cJSON *const *pods, size_t n,
                               const cJSON *zones)
{
    bool publish = jtrue(jget(svc, "spec"), "publishNotReadyAddresses");
    cJSON *groups = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        const cJSON *pod = pods[i];
        const char *ip = controller_pod_ip(pod);
        /* terminating pods stay, with their conditions; IPv4 slices only (kubeling is IPv4) */
        if (!controller_pod_in_endpoints(pod, true) || strchr(ip, ':'))
            continue;
        cJSON *ports = pod_ports(svc, pod);
        if (!ports)
            continue;
        bool terminating = deleting(pod);
        bool serving = publish || controller_pod_ready(pod);
        bool ready = publish || (serving && !terminating);
        cJSON *ep = cJSON_CreateObject();
        cJSON_AddItemToArray(cJSON_AddArrayToObject(ep, "addresses"), cJSON_CreateString(ip));
        cJSON *cond = cJSON_AddObjectToObject(ep, "conditions");
        cJSON_AddBoolToObject(cond, "ready", ready);
        cJSON_AddBoolToObject(cond, "serving", serving);
        cJSON_AddBoolToObject(cond, "terminating", terminating);
        const char *host = pod_hostname(svc, pod);
        if (host)
            cJSON_AddStringToObject(ep, "hostname", host);
        const char *node = jstr(jget(pod, "spec"), "nodeName");
        if (node && *node)
            cJSON_AddStringToObject(ep, "nodeName", node);
        cJSON_AddItemToObject(ep, "targetRef", target_ref(pod));
        const char *zone = node ? jstr(zones, node) : NULL;
        if (zone && *zone)
            cJSON_AddStringToObject(ep, "zone", zone);
        cJSON *g = group_for(groups, ports);
        insert_sorted(array_in(g, "endpoints"), ep, "addresses");
    }
    return groups;
}

/* A pod's change time as upstream's trigger time tracker takes it: the Ready condition's
 * lastTransitionTime, else its creation. */
static int64_t pod_trigger_time(const cJSON *pod)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, jget(jget(pod, "status"), "conditions"))
    {
        const char *t = jstr(c, "type");
        if (t && !strcmp(t, "Ready")) {
            int64_t v = controller_parse_time(jstr(c, "lastTransitionTime"));
            if (v >= 0)
                return v;
        }
    }
    return controller_parse_time(jstr(jget(pod, "metadata"), "creationTimestamp"));
}

int64_t controller_endpoints_trigger_time(const cJSON *svc, const cJSON *const *pods, size_t n,
                                          int64_t prev)
{
    /* upstream: the earliest change not yet reflected in the object; without memory of what was
     * seen, changes newer than the previous annotation are the ones not reflected */
    int64_t best = -1;
    int64_t t = controller_parse_time(jstr(jget(svc, "metadata"), "creationTimestamp"));
    if (t > prev)
        best = t;
    for (size_t i = 0; i < n; i++) {
        t = pod_trigger_time(pods[i]);
        if (t > prev && (best < 0 || t < best))
            best = t;
    }
    return best >= 0 ? best : prev;
}

/* ---- slice reconciliation -------------------------------------------------------------------- */

/* A port set's identity, whatever defaults the stored slice carries. */
static char *ports_key(const cJSON *ports)
{
    util_buf_t b = {0};
    util_buf_puts(&b, "[");
    const cJSON *p;
    cJSON_ArrayForEach(p, ports)
    {
        const char *name = jstr(p, "name"), *proto = jstr(p, "protocol");
        const char *app = jstr(p, "appProtocol");
        util_buf_printf(&b, "%s/%d/%s/%s;", name ? name : "",
                        (int)cJSON_GetNumberValue(jget(p, "port")), proto ? proto : "TCP",
                        app ? app : "");
    }
    util_buf_puts(&b, "]");
    return util_buf_steal(&b);
}

/* An endpoint's identity: its address and pod. */
static bool same_endpoint(const cJSON *a, const cJSON *b)
{
    return addr_cmp(a, b, "addresses") == 0;
}

static bool slice_has(const cJSON *slice, const cJSON *ep)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, jget(slice, "endpoints"))
    {
        if (same_endpoint(e, ep))
            return true;
    }
    return false;
}

static cJSON *plan_item(cJSON *plan, const char *op, const char *name, const cJSON *ports)
{
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "op", op);
    if (name)
        cJSON_AddStringToObject(it, "name", name);
    cJSON_AddItemToObject(it, "ports", cJSON_Duplicate(ports, true));
    cJSON_AddArrayToObject(it, "endpoints");
    cJSON_AddItemToArray(plan, it);
    return it;
}

/* Fills the group's endpoints into its existing slices (an endpoint stays in the slice that has
 * it; new ones go where there is room, then into new slices of up to CONTROLLER_SLICE_MAX). */
static void plan_group(cJSON *plan, const cJSON *group, const cJSON *const *slices, bool *used,
                       size_t n)
{
    const cJSON *ports = jget(group, "ports");
    char *key = ports_key(ports);
    cJSON *mine = cJSON_CreateArray(); /* plan items of the existing slices with these ports */
    for (size_t i = 0; i < n; i++) {
        char *k = ports_key(jget(slices[i], "ports"));
        if (!used[i] && !strcmp(k, key)) {
            used[i] = true;
            cJSON *it = plan_item(plan, "update", jstr(jget(slices[i], "metadata"), "name"), ports);
            cJSON_AddItemReferenceToArray(mine, it);
            cJSON_AddNumberToObject(it, "index", (double)i);
        }
        free(k);
    }
    free(key);
    const cJSON *ep;
    cJSON *rest = cJSON_CreateArray();
    cJSON_ArrayForEach(ep, jget(group, "endpoints"))
    {
        cJSON *home = NULL, *it;
        cJSON_ArrayForEach(it, mine)
        {
            if (slice_has(slices[(size_t)cJSON_GetNumberValue(jget(it, "index"))], ep)) {
                home = it;
                break;
            }
        }
        if (home)
            cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(home, "endpoints"),
                                 cJSON_Duplicate(ep, true));
        else
            cJSON_AddItemToArray(rest, cJSON_Duplicate(ep, true));
    }
    cJSON_ArrayForEach(ep, rest)
    {
        cJSON *home = NULL, *it;
        cJSON_ArrayForEach(it, mine)
        {
            if (cJSON_GetArraySize(jget(it, "endpoints")) < CONTROLLER_SLICE_MAX_ENDPOINTS) {
                home = it;
                break;
            }
        }
        if (!home) {
            home = plan_item(plan, "create", NULL, ports);
            cJSON_AddItemReferenceToArray(mine, home);
        }
        cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(home, "endpoints"),
                             cJSON_Duplicate(ep, true));
    }
    cJSON_Delete(rest);
    cJSON_Delete(mine);
}

static void set_empty_ports(cJSON *it)
{
    cJSON_DeleteItemFromObjectCaseSensitive(it, "ports");
    cJSON_AddArrayToObject(it, "ports");
}

cJSON *controller_slice_plan(const cJSON *groups, const cJSON *const *slices, size_t n)
{
    cJSON *plan = cJSON_CreateArray();
    bool *used = util_xcalloc(n ? n : 1, sizeof(bool));
    const cJSON *g;
    cJSON_ArrayForEach(g, groups) plan_group(plan, g, slices, used, n);
    for (size_t i = 0; i < n; i++) {
        if (!used[i]) {
            cJSON *it = plan_item(plan, "delete", jstr(jget(slices[i], "metadata"), "name"), NULL);
            cJSON_AddNumberToObject(it, "index", (double)i);
        }
    }
    free(used);
    /* emptied slices go, but a service without endpoints keeps one placeholder slice (no
     * ports, no endpoints) as upstream does */
    cJSON *it;
    bool any = false;
    cJSON_ArrayForEach(it, plan)
    {
        if (strcmp(jstr(it, "op"), "delete") && cJSON_GetArraySize(jget(it, "endpoints")) > 0)
            any = true;
    }
    bool placeholder = false;
    cJSON_ArrayForEach(it, plan)
    {
        if (!strcmp(jstr(it, "op"), "delete") || cJSON_GetArraySize(jget(it, "endpoints")) > 0)
            continue;
        if (!any && !placeholder && !strcmp(jstr(it, "op"), "update")) {
            placeholder = true;
            set_empty_ports(it);
            continue;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(it, "op", cJSON_CreateString("delete"));
    }
    if (!any && !placeholder) {
        /* reuse a slice planned for deletion as the placeholder, else create one */
        cJSON_ArrayForEach(it, plan)
        {
            if (!strcmp(jstr(it, "op"), "delete") && jget(it, "index")) {
                cJSON_ReplaceItemInObjectCaseSensitive(it, "op", cJSON_CreateString("update"));
                set_empty_ports(it);
                placeholder = true;
                break;
            }
        }
        if (!placeholder)
            plan_item(plan, "create", NULL, NULL);
    }
    /* drop the planned deletions of slices never stored (new ones emptied above) */
    for (int i = cJSON_GetArraySize(plan) - 1; i >= 0; i--) {
        it = cJSON_GetArrayItem(plan, i);
        if (!strcmp(jstr(it, "op"), "delete") && !jget(it, "name"))
            cJSON_DeleteItemFromArray(plan, i);
    }
    return plan;
}

/* ---- mirroring ------------------------------------------------------------------------------- */

static void mirror_address(cJSON *group, const cJSON *addr, bool ready)
{
    const char *ip = jstr(addr, "ip");
    struct in_addr a;
    if (!ip || inet_pton(AF_INET, ip, &a) != 1)
        return; /* IPv4 slices only; upstream also skips what does not parse */
    cJSON *ep = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(ep, "addresses"), cJSON_CreateString(ip));
    cJSON_AddBoolToObject(cJSON_AddObjectToObject(ep, "conditions"), "ready", ready);
    const char *host = jstr(addr, "hostname"), *node = jstr(addr, "nodeName");
    if (host && *host)
        cJSON_AddStringToObject(ep, "hostname", host);
    if (node && *node)
        cJSON_AddStringToObject(ep, "nodeName", node);
    const cJSON *ref = jget(addr, "targetRef");
    if (cJSON_IsObject(ref))
        cJSON_AddItemToObject(ep, "targetRef", cJSON_Duplicate(ref, true));
    insert_sorted(array_in(group, "endpoints"), ep, "addresses");
}

cJSON *controller_mirror_groups(const cJSON *endpoints)
{
    cJSON *groups = cJSON_CreateArray();
    const cJSON *subset;
    cJSON_ArrayForEach(subset, jget(endpoints, "subsets"))
    {
        cJSON *ports = cJSON_CreateArray();
        const cJSON *p;
        cJSON_ArrayForEach(p, jget(subset, "ports"))
        {
            cJSON *ep = cJSON_CreateObject();
            const char *name = jstr(p, "name"), *proto = jstr(p, "protocol");
            const char *app = jstr(p, "appProtocol");
            cJSON_AddStringToObject(ep, "name", name ? name : "");
            cJSON_AddNumberToObject(ep, "port", cJSON_GetNumberValue(jget(p, "port")));
            cJSON_AddStringToObject(ep, "protocol", proto ? proto : "TCP");
            if (app)
                cJSON_AddStringToObject(ep, "appProtocol", app);
            cJSON_AddItemToArray(ports, ep);
        }
        cJSON *g = group_for(groups, ports);
        /* at most CONTROLLER_EP_MAX_ADDRESSES per subset are mirrored, ready ones first */
        int budget = CONTROLLER_EP_MAX_ADDRESSES - cJSON_GetArraySize(jget(g, "endpoints"));
        const cJSON *a;
        cJSON_ArrayForEach(a, jget(subset, "addresses"))
        {
            if (budget-- > 0)
                mirror_address(g, a, true);
        }
        cJSON_ArrayForEach(a, jget(subset, "notReadyAddresses"))
        {
            if (budget-- > 0)
                mirror_address(g, a, false);
        }
        if (!jget(g, "endpoints"))
            cJSON_AddArrayToObject(g, "endpoints");
    }
    return groups;
}
