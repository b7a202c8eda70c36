/* controller_nodeipam: upstream's node IPAM controller with the RangeAllocator
 * (--allocate-node-cidrs): every Node without spec.podCIDR gets the lowest free subnet of
 * --cluster-cidr (/--node-cidr-mask-size, default 24) by a PATCH of spec.podCIDR and
 * spec.podCIDRs; a deleted Node's subnet is free again. Nothing is stored but the Nodes: the
 * allocation map is rebuilt from the Node informer each time this process starts leading (every
 * existing podCIDR is occupied while the informer lists, before any node is served), so a restart
 * never hands out a subnet twice. A full range records upstream's CIDRNotAvailable event on the
 * Node, which waits until a subnet is released. */
#include "controller/controller_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "cidrAllocator" /* upstream's event source */

struct ctrl_ipam {
    client_informer_t *inf;
    bool synced;
    controller_queue_t *q;      /* node names */
    controller_cidr_set_t *set; /* rebuilt from the informer */
    cJSON *owned;               /* node name -> the subnet counted as its */
    cJSON *inflight;            /* node name -> the subnet being written to it */
    cJSON *starved;             /* node name -> true: got no subnet, the event was recorded */
};

static const client_resource_t RES_NODES = {"", "v1", "nodes", false};

/* The node's IPv4 pod CIDR: spec.podCIDR, else the first of spec.podCIDRs. */
static const char *node_pod_cidr(const cJSON *node)
{
    const cJSON *spec = ctrl_get(node, "spec");
    const char *c = ctrl_str(spec, "podCIDR");
    if (c && *c)
        return c;
    const cJSON *list = ctrl_get(spec, "podCIDRs");
    const cJSON *first = cJSON_IsArray(list) ? cJSON_GetArrayItem(list, 0) : NULL;
    c = cJSON_GetStringValue(first);
    return c && *c ? c : NULL;
}

static void set_str(cJSON *map, const char *key, const char *value)
{
    cJSON_DeleteItemFromObjectCaseSensitive(map, key);
    if (value)
        cJSON_AddStringToObject(map, key, value);
}

static void enqueue_name(controller_manager_t *m, const char *name)
{
    controller_queue_add(m->ipam->q, name, ctrl_now(m));
}

/* A subnet was freed: the nodes that found the range full try again. */
static void release(controller_manager_t *m, const char *cidr)
{
    struct ctrl_ipam *ip = m->ipam;
    controller_cidr_set_release(ip->set, cidr);
    const cJSON *s;
    cJSON_ArrayForEach(s, ip->starved) enqueue_name(m, s->string);
}

/* Another node than name counts cidr as its (two Nodes given one subnet by hand, or by kubelets
 * picking their own): the subnet stays taken while one of them does. */
static bool shared(const struct ctrl_ipam *ip, const char *name, const char *cidr)
{
    const cJSON *maps[] = {ip->owned, ip->inflight};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *e;
        cJSON_ArrayForEach(e, maps[i])
        {
            if (strcmp(e->string, name) && e->valuestring && !strcmp(e->valuestring, cidr))
                return true;
        }
    }
    return false;
}

/* The node carries cidr: count it as taken (upstream occupyCIDRs). A subnet outside the range
 * (a node registered against another cluster CIDR) is left alone. */
static void occupy(controller_manager_t *m, const char *name, const char *cidr)
{
    struct ctrl_ipam *ip = m->ipam;
    const char *had = ctrl_str(ip->owned, name);
    if (had && !strcmp(had, cidr))
        return;
    if (had && !shared(ip, name, had))
        release(m, had);
    int r = controller_cidr_set_occupy(ip->set, cidr);
    if (r < 0) {
        util_log_v(1, "node-ipam: node %s: pod CIDR %s %s", name, cidr,
                   r == -ERANGE ? "is outside the cluster CIDR" : "does not parse");
        set_str(ip->owned, name, NULL);
        return;
    }
    set_str(ip->owned, name, cidr);
    cJSON_DeleteItemFromObjectCaseSensitive(ip->starved, name);
}

/* ---- the write ------------------------------------------------------------------------------- */

static void patched(controller_manager_t *m, void *ud, client_result_t *res)
{
    char *name = ud;
    struct ctrl_ipam *ip = m->ipam;
    const char *cidr = ip ? ctrl_str(ip->inflight, name) : NULL;
    if (!cidr) { /* deleted meanwhile (its subnet is free already), or no longer leading */
        free(name);
        return;
    }
    if (!res->error && res->status >= 200 && res->status < 300) {
        util_log_info("node-ipam: node %s: pod CIDR %s", name, cidr);
        set_str(ip->owned, name, cidr);
        controller_queue_forget(ip->q, name);
    } else {
        util_log_warn("node-ipam: node %s: writing pod CIDR %s: %d %s", name, cidr, res->status,
                      res->st.message ? res->st.message : "");
        release(m, cidr);
        if (res->status != 404)
            controller_queue_add_rate_limited(ip->q, name, ctrl_now(m));
    }
    cJSON_DeleteItemFromObjectCaseSensitive(ip->inflight, name);
    free(name);
}

static void write_cidr(controller_manager_t *m, const char *name, const char *cidr)
{
    struct ctrl_ipam *ip = m->ipam;
    set_str(ip->inflight, name, cidr);
    cJSON *patch = cJSON_CreateObject();
    cJSON *spec = cJSON_AddObjectToObject(patch, "spec");
    cJSON_AddStringToObject(spec, "podCIDR", cidr);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(spec, "podCIDRs"), cJSON_CreateString(cidr));
    ctrl_pending_t *p = ctrl_pending_new(m, patched, util_xstrdup(name), free);
    ctrl_pending_sent(p, client_patch(m->client, &RES_NODES, NULL, name, NULL, CLIENT_PATCH_MERGE,
                                      patch, ctrl_pending_cb, p));
    cJSON_Delete(patch);
}

/* 0 done (a failed write queues its own retry). */
static int node_sync(controller_manager_t *m, const char *name)
{
    struct ctrl_ipam *ip = m->ipam;
    const cJSON *node = client_informer_get(ip->inf, NULL, name);
    if (!node || ctrl_get(ip->inflight, name))
        return 0;
    const char *have = node_pod_cidr(node);
    if (have) {
        occupy(m, name, have);
        return 0;
    }
    /* written already, the watch has not shown it yet: the same subnet again (idempotent) */
    const char *mine = ctrl_str(ip->owned, name);
    if (mine) {
        char *cidr = util_xstrdup(mine);
        set_str(ip->owned, name, NULL);
        write_cidr(m, name, cidr);
        free(cidr);
        return 0;
    }
    char cidr[CONTROLLER_CIDR_LEN];
    if (controller_cidr_set_allocate(ip->set, cidr, sizeof(cidr)) < 0) {
        if (!ctrl_get(ip->starved, name)) {
            cJSON_AddTrueToObject(ip->starved, name);
            util_log_warn("node-ipam: node %s: no pod CIDR left in %s", name, m->ipam_cidr);
            ctrl_event(m, node, "Node", "v1", "Normal", "CIDRNotAvailable", COMPONENT,
                       "Node %s status is now: CIDRNotAvailable", name);
        }
        return 0;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(ip->starved, name);
    write_cidr(m, name, cidr);
    return 0;
}

/* ---- informer -------------------------------------------------------------------------------- */

static void seen(controller_manager_t *m, const cJSON *node)
{
    if (!m->ipam)
        return;
    const char *name = ctrl_str(ctrl_get(node, "metadata"), "name");
    if (!name)
        return;
    const char *cidr = node_pod_cidr(node);
    if (cidr) /* at once, so that the listing occupies every subnet before any node is served */
        occupy(m, name, cidr);
    else
        enqueue_name(m, name);
    ctrl_kick(m);
}

static void on_add(void *ud, const cJSON *obj)
{
    seen(ud, obj);
}

static void on_update(void *ud, const cJSON *old, const cJSON *obj)
{
    (void)old;
    seen(ud, obj);
}

/* upstream ReleaseCIDR on deletion; a write still in flight is forgotten (its answer finds no
 * record and leaves the subnet free). */
static void on_delete(void *ud, const cJSON *obj)
{
    controller_manager_t *m = ud;
    struct ctrl_ipam *ip = m->ipam;
    const char *name = ctrl_str(ctrl_get(obj, "metadata"), "name");
    if (!ip || !name)
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(ip->starved, name);
    const char *cidr = ctrl_str(ip->owned, name);
    if (!cidr)
        cidr = ctrl_str(ip->inflight, name);
    if (cidr) {
        char *c = util_xstrdup(cidr);
        set_str(ip->owned, name, NULL);
        set_str(ip->inflight, name, NULL);
        if (!shared(ip, name, c)) {
            util_log_info("node-ipam: node %s deleted: pod CIDR %s released", name, c);
            release(m, c);
        }
        free(c);
    }
    ctrl_kick(m);
}

static void on_synced(void *ud)
{
    controller_manager_t *m = ud;
    if (m->ipam)
        m->ipam->synced = true;
    ctrl_kick(m);
}

/* ---- lifetime -------------------------------------------------------------------------------- */

int controller_manager_set_node_ipam(controller_manager_t *m, bool allocate,
                                     const char *cluster_cidr, int node_mask, util_error_t *err)
{
    const char *cidr = cluster_cidr && *cluster_cidr ? cluster_cidr : "10.42.0.0/16";
    int mask = node_mask > 0 ? node_mask : CONTROLLER_NODE_CIDR_MASK;
    controller_cidr_set_t *check = NULL;
    if (allocate && controller_cidr_set_new(cidr, mask, &check, err) < 0)
        return util_error_wrap(err, "--cluster-cidr/--node-cidr-mask-size");
    controller_cidr_set_free(check);
    m->ipam_off = !allocate;
    free(m->ipam_cidr);
    m->ipam_cidr = util_xstrdup(cidr);
    m->ipam_mask = mask;
    return 0;
}

int ctrl_ipam_start(controller_manager_t *m, util_error_t *err)
{
    if (m->ipam_off)
        return 0;
    struct ctrl_ipam *ip = util_xcalloc(1, sizeof(*ip));
    if (controller_cidr_set_new(m->ipam_cidr ? m->ipam_cidr : "10.42.0.0/16",
                                m->ipam_mask ? m->ipam_mask : CONTROLLER_NODE_CIDR_MASK, &ip->set,
                                err) < 0) {
        free(ip);
        return -1;
    }
    if (!m->ipam_cidr)
        m->ipam_cidr = util_xstrdup("10.42.0.0/16");
    ip->q = controller_queue_new();
    ip->owned = cJSON_CreateObject();
    ip->inflight = cJSON_CreateObject();
    ip->starved = cJSON_CreateObject();
    m->ipam = ip;
    static const client_informer_handlers_t h = {
        .on_add = on_add, .on_update = on_update, .on_delete = on_delete, .on_synced = on_synced};
    client_informer_opts_t io = {.resource = &CLIENT_RES_NODES,
                                 .transform = client_strip_managed_fields};
    return client_informer_start(m->client, &io, &h, m, &ip->inf, err);
}

void ctrl_ipam_stop(controller_manager_t *m)
{
    struct ctrl_ipam *ip = m->ipam;
    if (!ip)
        return;
    if (ip->inf)
        client_informer_stop(ip->inf);
    controller_queue_free(ip->q);
    controller_cidr_set_free(ip->set);
    cJSON_Delete(ip->owned);
    cJSON_Delete(ip->inflight);
    cJSON_Delete(ip->starved);
    free(ip);
    m->ipam = NULL;
}

void ctrl_ipam_free(controller_manager_t *m)
{
    ctrl_ipam_stop(m);
    free(m->ipam_cidr);
    m->ipam_cidr = NULL;
}

int64_t ctrl_ipam_next(controller_manager_t *m, uint64_t now)
{
    if (!m->ipam || !m->ipam->synced)
        return -1;
    return controller_queue_next(m->ipam->q, now);
}

bool ctrl_ipam_run_one(controller_manager_t *m, uint64_t now)
{
    struct ctrl_ipam *ip = m->ipam;
    if (!ip || !ip->synced)
        return false;
    char *name = controller_queue_pop(ip->q, now);
    if (!name)
        return false;
    node_sync(m, name);
    controller_queue_done(ip->q, name, ctrl_now(m));
    free(name);
    return true;
}
